//! `<root>/.oci/<id>/`, the monitor's files for one container.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

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
    /// Locked by a live `oci run --image` (and its forked run) for as long as it
    /// runs: unlocked, the dir is what a SIGKILLed run left.
    pub const RUN_LOCK: &'static str = "run.lock";

    pub fn new(root: &Path, id: &str) -> Result<Self> {
        crate::state::container::validate_id(id)?;
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

    /// Marks the dir as a live run's: [`Self::RUN_LOCK`] appears already locked (made
    /// and locked under another name, then renamed), so a sweeper that can lock it
    /// knows its run is dead. The lock lasts as long as the returned file.
    pub fn hold_run(&self) -> Result<std::fs::File> {
        use std::os::unix::fs::OpenOptionsExt;
        let tmp = self.path(".run.lock.tmp");
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        f.try_lock()
            .with_context(|| format!("cannot lock {}", tmp.display()))?;
        std::fs::rename(&tmp, self.path(Self::RUN_LOCK))
            .with_context(|| format!("cannot rename {}", tmp.display()))?;
        Ok(f)
    }

    /// The lock of a run that is no longer running (SIGKILLed: nothing cleaned up),
    /// taken; None for a live run, a dir of `oci create`, or one being set up.
    pub fn dead_run(&self) -> Option<std::fs::File> {
        use std::os::unix::fs::OpenOptionsExt;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(self.path(Self::RUN_LOCK))
            .ok()?;
        f.try_lock().ok()?;
        // Still the dir's lock, not one another cleaner has just removed?
        crate::state::claim::is_linked(&f, &self.path(Self::RUN_LOCK)).then_some(f)
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
            Self::RUN_LOCK,
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
