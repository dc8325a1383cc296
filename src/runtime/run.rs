//! `run ID`: create and start a container; without `--detach`, wait for it, forward
//! signals, hold its terminal if it has one, delete it, and exit with its status.

use anyhow::{Context, Result};

use super::builder::Launch;
use super::bundle;
use super::ctx::{exit_byte, Ctx};
use super::foreground::{self, PtyProxy};

pub fn run(args: liboci_cli::Run, ctx: &Ctx) -> Result<u8> {
    let prepared = bundle::prepare(&args.container_id, &args.bundle)?;
    let terminal = prepared
        .spec
        .process()
        .as_ref()
        .and_then(|p| p.terminal())
        .unwrap_or(false);
    let (console_path, master) = foreground::console_for(
        &ctx.root,
        terminal,
        args.detach,
        args.console_socket.as_ref(),
    )?;

    if !args.detach && !args.no_subreaper {
        // Orphans of the container's init are reparented to us and reaped.
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    }

    let launch = Launch {
        id: &args.container_id,
        pid_file: args.pid_file.as_ref(),
        console_socket: console_path.as_ref(),
        preserve_fds: args.preserve_fds,
        detach: args.detach || console_path.is_some(),
    };
    let mut container =
        super::create::from_bundle(ctx, &launch, &args.bundle, prepared, args.no_pivot)?;
    // Blocked only now: the container's init was forked with our normal mask.
    let signals = (!args.detach).then(foreground::block_signals).transpose()?;

    let proxy = match master {
        Some(handle) => {
            let fd = handle
                .join()
                .map_err(|_| anyhow::anyhow!("console thread panicked"))??;
            Some(PtyProxy::start(fd)?)
        }
        None => None,
    };

    container
        .start()
        .with_context(|| format!("failed to start container {:?}", args.container_id))?;
    let Some(signals) = signals else {
        return Ok(0);
    };
    let pid = container.pid().context("container has no init pid")?;
    let code = foreground::wait(pid, &signals);
    if let Some(p) = proxy {
        p.finish();
    }
    if !args.keep {
        container
            .delete(true)
            .with_context(|| format!("failed to delete container {:?}", args.container_id))?;
    }
    Ok(exit_byte(code?))
}
