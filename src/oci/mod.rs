//! `sifrun oci ...`: the lifecycle of `singularity oci` for people driving SIF images
//! by hand. The top-level commands stay runc's (for engines); these wrap them and add
//! what a person needs: a monitor that keeps the container's stdio (`create`), `attach`,
//! `logs`, the exit status after the process is gone, and `run --image` in one step.
//!
//! Per container, `<root>/.oci/<id>/` holds the monitor's files (see [`OciDir`]).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

pub mod attach;
pub mod create;
pub mod delete;
pub mod exec;
pub mod kill;
pub mod logs;
pub mod monitor;
pub mod protocol;
pub mod run;
pub mod state;
pub mod update;

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
        crate::state::validate_id(id)?;
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
