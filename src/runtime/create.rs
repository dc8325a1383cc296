//! `create ID`: set up a container from a bundle; its process waits for `start`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use libcontainer::container::Container;

use super::builder::{self, Launch};
use super::bundle::{self, Prepared};
use super::ctx::Ctx;
use super::pidfd::PidfdSocket;
use crate::state::cgroup::with_default_cgroups_path;
use crate::state::claim::CreateClaim;

/// runc's `create` flags, with runc 1.2's `--pidfd-socket`.
#[derive(clap::Args, Debug)]
pub struct Create {
    #[command(flatten)]
    pub args: liboci_cli::Create,
    /// Path to an AF_UNIX socket which will receive a file descriptor referencing the init process
    #[arg(long, value_name = "PATH")]
    pub pidfd_socket: Option<PathBuf>,
}

pub fn create(args: liboci_cli::Create, pidfd_socket: Option<&Path>, ctx: &Ctx) -> Result<()> {
    let prepared = bundle::prepare(&args.container_id, &args.bundle)?;
    let pidfd = PidfdSocket::connect(pidfd_socket)?;
    let launch = Launch {
        id: &args.container_id,
        pid_file: args.pid_file.as_ref(),
        console_socket: args.console_socket.as_ref(),
        preserve_fds: args.preserve_fds,
        detach: true,
    };
    let mut container = from_bundle(ctx, &launch, &args.bundle, prepared, args.no_pivot)?;
    send_pidfd(&mut container, pidfd)
}

/// `--pidfd-socket`: the init's pidfd; a container whose pidfd cannot be sent is
/// removed again (runc's init fails before it is created).
pub(crate) fn send_pidfd(container: &mut Container, pidfd: Option<PidfdSocket>) -> Result<()> {
    let Some(socket) = pidfd else {
        return Ok(());
    };
    let sent = container
        .pid()
        .context("container has no init pid")
        .and_then(|pid| socket.send(pid.as_raw(), "standard"));
    if sent.is_err() {
        let _ = container.delete(true);
    }
    sent
}

/// Claims the id, builds the container and records it; a failure leaves nothing.
pub(crate) fn from_bundle(
    ctx: &Ctx,
    launch: &Launch,
    bundle: &Path,
    prepared: Prepared,
    no_pivot: bool,
) -> Result<Container> {
    builder::check_pid_file(launch.pid_file)?;
    let claim = CreateClaim::take(&ctx.root, launch.id)?;
    let spec = with_default_cgroups_path(prepared.spec, launch.id, ctx.systemd_cgroup);
    let built = builder::init(ctx, launch, bundle, spec, prepared.overlay, no_pivot);
    claim.finish(built, &prepared.rootfs)
}
