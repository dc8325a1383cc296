//! The one `ContainerBuilder` chain. create, run and exec share everything up to
//! `as_init` / `as_tenant`; only what follows differs.

use std::path::{Path, PathBuf};

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::container::Container;
use libcontainer::error::LibcontainerError;
use libcontainer::rootfs::RootfsOverlay;
use libcontainer::syscall::syscall::SyscallType;
use nix::unistd::Pid;
use oci_spec::runtime::Spec;

use super::ctx::Ctx;

/// What every new container process is started with.
pub struct Launch<'a> {
    pub id: &'a str,
    pub pid_file: Option<&'a PathBuf>,
    /// Where the pty master goes (`--console-socket`, or run/exec's own socket).
    pub console_socket: Option<&'a PathBuf>,
    pub preserve_fds: i32,
    /// Return once the process runs instead of waiting for it in libcontainer.
    pub detach: bool,
}

/// `--pid-file` in a directory that does not exist fails before anything starts, as
/// in runc (libcontainer would only warn once the process runs).
pub fn check_pid_file(pid_file: Option<&PathBuf>) -> anyhow::Result<()> {
    let Some((file, dir)) = pid_file.and_then(|p| Some((p, p.parent()?))) else {
        return Ok(());
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    if !dir.is_dir() {
        anyhow::bail!(
            "cannot write pid file {}: no directory {}",
            file.display(),
            dir.display()
        );
    }
    Ok(())
}

fn base(ctx: &Ctx, l: &Launch) -> Result<ContainerBuilder, LibcontainerError> {
    Ok(
        ContainerBuilder::new(l.id.to_string(), SyscallType::default())
            .with_executor(libcontainer::workload::default::DefaultExecutor {})
            .with_pid_file(l.pid_file)?
            .with_console_socket(l.console_socket)
            .with_root_path(ctx.root.clone())?
            .with_preserved_fds(l.preserve_fds)
            .with_rootless_cgroups(ctx.rootless),
    )
}

/// A new container from `bundle` (its config already checked and completed as `spec`).
pub fn init(
    ctx: &Ctx,
    l: &Launch,
    bundle: &Path,
    spec: Spec,
    overlay: Option<RootfsOverlay>,
    no_pivot: bool,
) -> Result<Container, LibcontainerError> {
    base(ctx, l)?
        .as_init(bundle)
        .with_spec(spec)
        .with_rootfs_overlay(overlay)
        .with_systemd(ctx.systemd_cgroup)
        .with_detach(l.detach)
        .with_no_pivot(no_pivot)
        .build()
}

/// What `exec` adds to a process joining a running container.
pub struct Tenant<'a> {
    pub process: &'a Path,
    pub ignore_paused: bool,
    pub sub_cgroup: Option<String>,
    pub process_label: Option<String>,
}

/// A new process in the running container `l.id`; its host pid.
pub fn tenant(ctx: &Ctx, l: &Launch, t: Tenant) -> Result<Pid, LibcontainerError> {
    base(ctx, l)?
        .as_tenant()
        .with_detach(l.detach)
        .with_process(Some(t.process))
        .with_ignore_paused(t.ignore_paused)
        .with_sub_cgroup(t.sub_cgroup)
        .with_process_label(t.process_label)
        .build()
}
