//! `run ID`: create and start a container; without `--detach`, wait for it, forward
//! signals, hold its terminal if it has one, delete it, and exit with its status.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use libcontainer::rootfs::RootfsOverlay;

use super::bundle;
use super::ctx::{exit_byte, Ctx};
use super::foreground::Foreground;
use crate::state::container as state;

/// runc's `run` flags, with runc 1.2's `--pidfd-socket`.
#[derive(clap::Args, Debug)]
pub struct Run {
    #[command(flatten)]
    pub args: liboci_cli::Run,
    /// Path to an AF_UNIX socket which will receive a file descriptor referencing the init process
    #[arg(long, value_name = "PATH")]
    pub pidfd_socket: Option<PathBuf>,
}

/// `run` of `args.bundle`; `overlay`: the root the container's init mounts (never
/// from config.json).
pub fn run(
    args: liboci_cli::Run,
    pidfd_socket: Option<&Path>,
    overlay: Option<RootfsOverlay>,
    ctx: &Ctx,
) -> Result<u8> {
    let mut prepared = bundle::prepare(&args.container_id, &args.bundle)?;
    prepared.overlay = overlay;
    let pidfd = super::pidfd::PidfdSocket::connect(pidfd_socket)?;
    let fg = Foreground::new(
        &ctx.root,
        prepared.terminal(),
        args.detach,
        args.console_socket.as_ref(),
    )?;
    if !args.detach && !args.no_subreaper {
        // Orphans of the container's init are reparented to us and reaped.
        let _ = nix::sys::prctl::set_child_subreaper(true);
    }
    let launch = fg.launch(
        &args.container_id,
        args.pid_file.as_ref(),
        args.preserve_fds,
    );
    let mut container =
        super::create::from_bundle(ctx, &launch, &args.bundle, prepared, args.no_pivot)?;
    super::create::send_pidfd(&mut container, pidfd)?;
    let started = fg.started()?;
    container
        .start()
        .with_context(|| format!("failed to start container {:?}", args.container_id))?;
    let pid = container.pid().context("container has no init pid")?;
    let Some(code) = started.wait(pid)? else {
        return Ok(0);
    };
    if !args.keep {
        // A `kill`, `exec` or `update` of this container may be under way: it holds
        // the state lock and may still write into the state directory (`kill` records
        // "stopped"), which would make removing it fail with ENOTEMPTY.
        let Some(_lock) = state::lock_existing(&container.root, true)? else {
            // Someone else's `delete` came first.
            return Ok(exit_byte(code));
        };
        container
            .delete(true)
            .with_context(|| format!("failed to delete container {:?}", args.container_id))?;
    }
    Ok(exit_byte(code))
}
