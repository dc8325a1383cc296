//! `create ID`: set up a container from a bundle; its process waits for `start`.

use anyhow::Result;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;

use super::Ctx;
use crate::bundle::{self, CreateClaim};

pub fn run(args: liboci_cli::Create, ctx: &Ctx) -> Result<()> {
    let prepared = bundle::prepare(&args.container_id, &args.bundle)?;
    let claim = CreateClaim::take(&ctx.root, &args.container_id)?;
    let spec = bundle::with_default_cgroups_path(
        prepared.spec.clone(),
        &args.container_id,
        ctx.systemd_cgroup,
    );
    let result = ContainerBuilder::new(args.container_id.clone(), SyscallType::default())
        .with_executor(libcontainer::workload::default::DefaultExecutor {})
        .with_pid_file(args.pid_file.as_ref())?
        .with_console_socket(args.console_socket.as_ref())
        .with_root_path(ctx.root.clone())?
        .with_preserved_fds(args.preserve_fds)
        .with_rootless_cgroups(ctx.rootless)
        .as_init(&args.bundle)
        .with_spec(spec)
        .with_systemd(ctx.systemd_cgroup)
        .with_detach(true)
        .with_no_pivot(args.no_pivot)
        .build();
    claim.finish(result, &prepared)?;
    Ok(())
}
