//! `restore ID`: restore a container from a criu checkpoint (libcontainer's
//! support), then wait for its process unless `--detach`.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use nix::unistd::Pid;

use super::builder::check_pid_file;
use super::bundle;
use super::ctx::{exit_byte, Ctx};
use super::foreground::Foreground;
use crate::state::cgroup::with_default_cgroups_path;
use crate::state::claim::CreateClaim;
use crate::state::container as state;

#[derive(Args, Debug)]
pub struct Restore {
    /// Path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Path to criu image files for restoring
    #[arg(long, value_name = "PATH", default_value = "checkpoint")]
    pub image_path: PathBuf,
    /// Path for saving work files and logs
    #[arg(long, value_name = "PATH")]
    pub work_path: Option<PathBuf>,
    /// Allow open tcp connections
    #[arg(long)]
    pub tcp_established: bool,
    /// Allow external unix sockets
    #[arg(long)]
    pub ext_unix_sk: bool,
    /// Allow shell jobs
    #[arg(long)]
    pub shell_job: bool,
    /// Handle file locks, for safety
    #[arg(long)]
    pub file_locks: bool,
    /// Cgroups mode: 'soft' (default), 'full' and 'strict'
    #[arg(long, value_name = "MODE")]
    pub manage_cgroups_mode: Option<String>,
    /// Path to the root of the bundle directory
    #[arg(short, long, value_name = "PATH", default_value = ".")]
    pub bundle: PathBuf,
    /// Detach from the container's process
    #[arg(short, long)]
    pub detach: bool,
    /// Specify the file to write the process id to
    #[arg(long, value_name = "PATH")]
    pub pid_file: Option<PathBuf>,
    /// Do not make sifrun a subreaper for reparented processes
    #[arg(long)]
    pub no_subreaper: bool,
    /// Do not use pivot_root to jail the process inside rootfs
    #[arg(long)]
    pub no_pivot: bool,
    /// Create a namespace, but don't restore its properties
    #[arg(long, value_name = "NS")]
    pub empty_ns: Option<String>,
    /// Enable auto deduplication of memory images
    #[arg(long)]
    pub auto_dedup: bool,
    /// Use userfaultfd to lazily restore memory pages
    #[arg(long)]
    pub lazy_pages: bool,
    /// An LSM profile to be used during restore, TYPE:NAME
    #[arg(long, value_name = "TYPE:NAME")]
    pub lsm_profile: Option<String>,
    /// An LSM mount context to be used during restore
    #[arg(long, value_name = "CONTEXT")]
    pub lsm_mount_context: Option<String>,
    /// Container identifier
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new(), required = true)]
    pub container_id: String,
}

impl Restore {
    /// The first given flag libcontainer's criu restore has no option for.
    fn unsupported(&self) -> Option<&'static str> {
        let set = [
            (self.empty_ns.is_some(), "--empty-ns"),
            (self.auto_dedup, "--auto-dedup"),
            (self.lazy_pages, "--lazy-pages"),
            (self.lsm_profile.is_some(), "--lsm-profile"),
            (self.lsm_mount_context.is_some(), "--lsm-mount-context"),
        ];
        set.into_iter().find(|(on, _)| *on).map(|(_, name)| name)
    }
}

fn cg_mode(mode: Option<&str>) -> Result<rust_criu::CgMode> {
    Ok(match mode {
        None | Some("soft") => rust_criu::CgMode::SOFT,
        Some("full") => rust_criu::CgMode::FULL,
        Some("strict") => rust_criu::CgMode::STRICT,
        Some("ignore") => rust_criu::CgMode::IGNORE,
        Some(other) => bail!("invalid manage cgroups mode {other:?}"),
    })
}

pub fn restore(args: Restore, ctx: &Ctx) -> Result<u8> {
    if let Some(flag) = args.unsupported() {
        bail!("restore {flag} is not supported: libcontainer's criu restore has no such option");
    }
    let mode = cg_mode(args.manage_cgroups_mode.as_deref())?;
    let id = &args.container_id;
    let prepared = bundle::prepare(id, &args.bundle)?;
    check_pid_file(args.pid_file.as_ref())?;
    let criu = super::checkpoint::criu_binary(ctx, "restore")?;
    if !args.image_path.is_dir() {
        bail!(
            "no checkpoint to restore at {}: not a directory",
            args.image_path.display()
        );
    }
    let opts = libcontainer::container::RestoreOptions {
        image_path: std::path::absolute(&args.image_path)?,
        work_path: args.work_path.clone(),
        ext_unix_sk: args.ext_unix_sk,
        file_locks: args.file_locks,
        shell_job: args.shell_job,
        tcp_established: args.tcp_established,
        manage_cgroups_mode: mode,
        console_socket: args.console_socket.clone(),
        criu_path: Some(criu),
    };
    // The restored tree comes back as our sibling (criu's rst_sibling); as a
    // subreaper we get it as a child once criu exits, so we can wait for it.
    if !args.no_subreaper {
        nix::sys::prctl::set_child_subreaper(true).context("failed to become a subreaper")?;
    }
    let foreground = Foreground::new(&ctx.root, false, args.detach, None)?;
    let claim = CreateClaim::take(&ctx.root, id)?;
    let spec = with_default_cgroups_path(prepared.spec, id, ctx.systemd_cgroup);
    let dir = ctx.root.join(id);
    let built = std::fs::create_dir(&dir)
        .map_err(libcontainer::error::LibcontainerError::OtherIO)
        .and_then(|()| {
            let mut c = libcontainer::container::Container::new(
                id,
                libcontainer::container::ContainerStatus::Creating,
                None,
                &args.bundle,
                &dir,
            )?;
            c.set_systemd(ctx.systemd_cgroup);
            c.restore(&spec, &opts)?;
            Ok(c)
        });
    let container = claim
        .finish(built, &prepared.rootfs)
        .map_err(|e| e.context(format!("failed to restore container {id:?}")))?;
    let pid = container.pid().context("restored container has no pid")?;
    if let Some(file) = &args.pid_file {
        std::fs::write(file, pid.as_raw().to_string())
            .with_context(|| format!("failed to write pid file {}", file.display()))?;
    }
    let started = foreground.started()?;
    let Some(code) = started.wait(Pid::from_raw(pid.as_raw()))? else {
        return Ok(0);
    };
    // Like runc: a container restored in the foreground is removed when its
    // process exits.
    let Some(_lock) = state::lock_existing(&container.root, true)? else {
        return Ok(exit_byte(code));
    };
    let mut container = container;
    container
        .delete(true)
        .with_context(|| format!("failed to delete container {id:?}"))?;
    Ok(exit_byte(code))
}
