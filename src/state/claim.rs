//! The claim that makes concurrent `create`s of one id safe and a failed `create`
//! leave nothing behind: `<root>/.create-<id>.lock`, flocked while the create runs.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::container::Sidecar;

fn lock_path(root: &Path, id: &str) -> PathBuf {
    root.join(format!(".create-{id}.lock"))
}

/// Whether `path` still names the open `file`.
pub(crate) fn is_linked(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// An exclusive, non-blocking flock on `<root>/.create-<id>.lock` held while a
/// container is being created. The kernel drops it when the holder dies, so a create
/// killed half-way never blocks the id for good.
pub struct CreateClaim {
    lock_path: PathBuf,
    dir: PathBuf,
    _file: File,
}

impl CreateClaim {
    pub fn take(root: &Path, id: &str) -> Result<Self> {
        super::root::ensure(root)?;
        let dir = super::container::path(root, id)?;
        let lock_path = lock_path(root, id);
        let file = loop {
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .mode(0o600)
                .custom_flags(libc::O_CLOEXEC)
                .open(&lock_path)
                .with_context(|| format!("failed to open {}", lock_path.display()))?;
            // flock(2) LOCK_EX | LOCK_NB.
            if file.try_lock().is_err() {
                bail!("container with id {id:?} already exists (being created)");
            }
            // The holder we waited for may have removed the file (finish, delete
            // --force): a lock on an unlinked file claims nothing, open it again.
            if is_linked(&file, &lock_path) {
                break file;
            }
        };
        if dir.exists() {
            if dir.join("state.json").exists() {
                let _ = std::fs::remove_file(&lock_path);
                bail!("container with id {id:?} already exists");
            }
            // Leftover of a create that was killed before it saved any state.
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("failed to remove stale {}", dir.display()))?;
        }
        Ok(Self {
            lock_path,
            dir,
            _file: file,
        })
    }

    /// For `delete --force` after a killed `create`/`run`: the container's
    /// intermediate and init processes inherit the claim's lock, so once it can be
    /// taken no process of that create is left (one that was still in a syscall, e.g.
    /// making the cgroup, when it was killed has finished dying). Calls `kill` (which
    /// kills the container's processes) before every try and once more at the end;
    /// removes the stale lock file. Gives up after 10 s (a create still running).
    pub fn wait_gone(root: &Path, id: &str, mut kill: impl FnMut() -> Result<()>) -> Result<()> {
        let lock_path = lock_path(root, id);
        let file = match OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(&lock_path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return kill(),
            Err(e) => {
                return Err(e).with_context(|| format!("failed to open {}", lock_path.display()))
            }
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            kill()?;
            // flock(2) LOCK_EX | LOCK_NB.
            if file.try_lock().is_ok() {
                break;
            }
            if std::time::Instant::now() > deadline {
                bail!("container {id:?} is still being created");
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        if is_linked(&file, &lock_path) {
            let _ = std::fs::remove_file(&lock_path);
        }
        kill()
    }

    /// Records what runc's state shows on success; on failure removes whatever the
    /// failed create left in the state root.
    pub fn finish<T>(
        self,
        result: std::result::Result<T, libcontainer::error::LibcontainerError>,
        rootfs: &Path,
    ) -> Result<T> {
        let out = match result {
            Ok(v) => super::container::save_sidecar(
                &self.dir,
                &Sidecar {
                    rootfs: rootfs.to_path_buf(),
                },
            )
            .map(|()| v),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&self.dir);
                Err(anyhow::Error::new(e).context("failed to create container"))
            }
        };
        let _ = std::fs::remove_file(&self.lock_path);
        out
    }
}
