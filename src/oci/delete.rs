//! `oci delete [-f] ID`: the runtime's `delete`, then the monitor's files. The monitor
//! exits by itself once the process is gone; it gets a moment to write its last lines.

use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Args;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::dir::OciDir;
use crate::runtime::ctx::Ctx;

#[derive(Args, Debug)]
pub struct Delete {
    /// Kill the container first if it still runs (SIGKILL)
    #[arg(short, long)]
    pub force: bool,
    /// Container identifier
    pub container_id: String,
}

pub fn delete(args: Delete, ctx: &Ctx) -> Result<()> {
    let dir = OciDir::new(&ctx.root, &args.container_id)?;
    crate::runtime::delete::delete(
        liboci_cli::Delete {
            container_id: args.container_id.clone(),
            force: args.force,
        },
        ctx,
    )?;
    wait_for_monitor(&dir);
    dir.remove()
}

/// The monitor removes `monitor.pid` as its very last step.
fn wait_for_monitor(dir: &OciDir) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while let Some(pid) = dir.monitor_pid() {
        // Signal 0 only checks that the process exists.
        if kill(Pid::from_raw(pid), None).is_err() {
            return;
        }
        if Instant::now() >= deadline {
            // Stuck (e.g. on a client that stopped reading): its container is gone.
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
