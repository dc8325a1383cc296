//! `sifrun oci ...`: the lifecycle of `singularity oci` for people driving SIF images
//! by hand. The top-level commands stay runc's (for engines); these wrap them and add
//! what a person needs: a monitor that keeps the container's stdio (`create`), `attach`,
//! `logs`, the exit status after the process is gone, and `run --image` in one step.
//!
//! Per container, `<root>/.oci/<id>/` holds the monitor's files (see [`OciDir`]).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use super::{mount, umount, Ctx};

mod attach;
mod create;
mod delete;
mod exec;
mod kill;
mod logs;
mod run;
mod state;
mod update;

#[derive(Args, Debug)]
#[command(after_help = "\
`sifrun oci mount IMAGE BUNDLE` makes a bundle; `sifrun oci create -b BUNDLE ID` creates the \
container with its stdio held by a small monitor process, which keeps the output in \
<root>/.oci/ID/container.log (kubernetes log format) and serves `sifrun oci attach ID` \
(detach with Ctrl-P Ctrl-Q). `start`, `state`, `kill`, `exec`, `pause`, `resume`, `update` \
and `delete` work on those containers; `state` shows the exit code once the process is gone \
(annotation `sifrun.oci.exit-code`). `sifrun oci run --image IMAGE.sif ID [-- ARGS...]` \
mounts, runs in the foreground and cleans up in one step.")]
pub struct Oci {
    #[command(subcommand)]
    pub command: OciCommand,
}

#[derive(Subcommand, Debug)]
pub enum OciCommand {
    /// Turn a SIF or OCI-SIF image into a bundle (same as `sifrun mount`)
    Mount(mount::Mount),
    /// Undo `oci mount` (same as `sifrun umount`)
    Umount(umount::Umount),
    /// Create a container whose stdio is held by a monitor (log + attach socket)
    Create(create::Create),
    /// Start a created container's process
    Start(liboci_cli::Start),
    /// Print the container's state JSON (with its exit code once it has exited)
    State(liboci_cli::State),
    /// Connect the terminal to the container's stdio; Ctrl-P Ctrl-Q detaches
    Attach(attach::Attach),
    /// Print the output the container's process wrote so far
    Logs(logs::Logs),
    /// Send a signal to the container's process (default SIGTERM)
    Kill(kill::Kill),
    /// Delete a container and its monitor's files
    Delete(delete::Delete),
    /// Run a command in a running container
    Exec(exec::Exec),
    /// Create, start and wait for a container in the foreground, then delete it
    Run(run::Run),
    /// Suspend the container's processes
    Pause(liboci_cli::Pause),
    /// Resume a paused container
    Resume(liboci_cli::Resume),
    /// Change the container's resource limits (LinuxResources JSON)
    Update(update::Update),
    /// The monitor process behind `oci create` (internal)
    #[command(hide = true)]
    Monitor(crate::monitor::MonitorArgs),
}

impl OciCommand {
    /// Whether the command's processes enter a container (so need the sealed binary).
    pub fn enters_container(&self) -> bool {
        matches!(
            self,
            OciCommand::Create(_)
                | OciCommand::Run(_)
                | OciCommand::Exec(_)
                | OciCommand::Monitor(_)
        )
    }
}

pub fn dispatch(oci: Oci, ctx: &Ctx) -> Result<u8> {
    let code = match oci.command {
        OciCommand::Mount(a) => mount::run(a, &ctx.root).map(|()| 0)?,
        OciCommand::Umount(a) => umount::run(a, &ctx.root).map(|()| 0)?,
        OciCommand::Create(a) => create::run(a, ctx).map(|()| 0)?,
        OciCommand::Start(a) => super::start::run(a, ctx).map(|()| 0)?,
        OciCommand::State(a) => state::run(a, ctx).map(|()| 0)?,
        OciCommand::Attach(a) => attach::run(a, ctx)?,
        OciCommand::Logs(a) => logs::run(a, ctx).map(|()| 0)?,
        OciCommand::Kill(a) => kill::run(a, ctx).map(|()| 0)?,
        OciCommand::Delete(a) => delete::run(a, ctx).map(|()| 0)?,
        OciCommand::Exec(a) => exec::run(a, ctx)?,
        OciCommand::Run(a) => run::run(a, ctx)?,
        OciCommand::Pause(a) => super::pause::run(a, ctx).map(|()| 0)?,
        OciCommand::Resume(a) => super::resume::run(a, ctx).map(|()| 0)?,
        OciCommand::Update(a) => update::run(a, ctx).map(|()| 0)?,
        OciCommand::Monitor(a) => crate::monitor::run(a, ctx)?,
    };
    Ok(code)
}

/// `<root>/.oci/<id>/`: what the monitor keeps for one container. Outside `<root>/<id>`
/// so libcontainer's delete never races with the monitor's last writes, and a dot-dir
/// so `list` and the bundle-in-use check skip it.
pub struct OciDir {
    pub dir: PathBuf,
}

impl OciDir {
    pub const ATTACH: &'static str = "attach";
    pub const CONSOLE: &'static str = "console.sock";
    pub const LOG: &'static str = "container.log";
    pub const EXIT: &'static str = "exit";
    pub const MONITOR_PID: &'static str = "monitor.pid";
    pub const RUNTIME_LOG: &'static str = "runtime.log";
    /// The temporary bundle of `oci run --image`.
    pub const BUNDLE: &'static str = "bundle";

    pub fn new(root: &Path, id: &str) -> Result<Self> {
        crate::container_dir::validate_id(id)?;
        Ok(Self {
            dir: root.join(".oci").join(id),
        })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The container's exit code, once the monitor saw the process exit.
    pub fn exit_code(&self) -> Option<i32> {
        std::fs::read_to_string(self.path(Self::EXIT))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    pub fn monitor_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.path(Self::MONITOR_PID))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    /// Removes the files the monitor and `oci run` put here, then the dir (and
    /// `.oci` when it is empty). Only known names: a still-mounted bundle of a
    /// concurrent `oci run --image` must never be walked into.
    pub fn remove(&self) -> Result<()> {
        for name in [
            Self::ATTACH,
            Self::CONSOLE,
            Self::LOG,
            Self::EXIT,
            Self::MONITOR_PID,
            Self::RUNTIME_LOG,
        ] {
            match std::fs::remove_file(self.path(name)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(e).with_context(|| format!("failed to remove {name}"));
                }
            }
        }
        match std::fs::remove_dir(&self.dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| format!("failed to remove {}", self.dir.display()))
            }
        }
        if let Some(parent) = self.dir.parent() {
            let _ = std::fs::remove_dir(parent);
        }
        Ok(())
    }
}
