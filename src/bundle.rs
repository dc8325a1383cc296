//! Checks on a bundle before libcontainer touches anything, and the claim that makes
//! concurrent `create`s of one id safe and failed `create`s leave nothing behind.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use oci_spec::runtime::Spec;

use crate::container_dir::{self, Sidecar};

/// config.json files larger than this are refused before parsing.
const MAX_CONFIG_BYTES: u64 = 64 << 20;

/// What `create`/`run` learned about the bundle.
pub struct Prepared {
    pub rootfs: PathBuf,
    pub spec: Spec,
}

/// Validates the id and the bundle with one clear error per problem: missing bundle,
/// missing or malformed config.json, missing rootfs, or a rootfs reached through a
/// symlink (refused like runc does, so the rootfs cannot be swapped under us).
pub fn prepare(id: &str, bundle: &Path) -> Result<Prepared> {
    container_dir::validate_id(id)?;
    let bundle = std::fs::canonicalize(bundle)
        .with_context(|| format!("bundle {} is not accessible", bundle.display()))?;
    let config_path = bundle.join("config.json");
    // O_NONBLOCK so a FIFO (or device) planted as config.json cannot hang us; only
    // regular files are read.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&config_path)
        .with_context(|| format!("cannot open {}", config_path.display()))?;
    if !file.metadata()?.is_file() {
        bail!("{} is not a regular file", config_path.display());
    }
    let len = file.metadata()?.len();
    if len > MAX_CONFIG_BYTES {
        bail!(
            "{} is {len} bytes, more than the {MAX_CONFIG_BYTES} allowed",
            config_path.display()
        );
    }
    let mut value: serde_json::Value = serde_json::from_reader(std::io::BufReader::new(file))
        .with_context(|| format!("invalid {}", config_path.display()))?;
    drop_unknown_capabilities(&mut value);
    let spec: Spec = serde_json::from_value(value)
        .with_context(|| format!("invalid {}", config_path.display()))?;
    let root_path = spec
        .root()
        .as_ref()
        .map(|r| r.path().clone())
        .context("config.json has no root.path")?;
    let rootfs = bundle.join(root_path);
    let real = std::fs::canonicalize(&rootfs)
        .with_context(|| format!("rootfs {} does not exist", rootfs.display()))?;
    if normalize(&rootfs) != real {
        bail!(
            "rootfs {} is a symlink or goes through one; give its real path",
            rootfs.display()
        );
    }
    if !real.is_dir() {
        bail!("rootfs {} is not a directory", real.display());
    }
    if spec.linux().is_none() {
        bail!("config.json has no \"linux\" section");
    }
    Ok(Prepared { rootfs: real, spec })
}

/// runc's cgroup for a config without `linux.cgroupsPath` (cgroupfs driver):
/// `/<id>` in each hierarchy, instead of libcontainer's `:youki:<id>`. With
/// `--systemd-cgroup` libcontainer's own default is kept (`None`).
pub fn default_cgroups_path(id: &str, systemd: bool) -> Option<PathBuf> {
    (!systemd).then(|| PathBuf::from(format!("/{id}")))
}

/// `spec` with [`default_cgroups_path`] filled in where it has no `cgroupsPath`.
pub fn with_default_cgroups_path(mut spec: Spec, id: &str, systemd: bool) -> Spec {
    if let Some(linux) = spec.linux_mut() {
        if linux.cgroups_path().is_none() {
            linux.set_cgroups_path(default_cgroups_path(id, systemd));
        }
    }
    spec
}

/// Removes capability names oci-spec does not know from `process.capabilities`,
/// with a warning: runtime-spec 1.1+ says unknown capabilities must not be an error
/// (they may be newer than this runtime), while oci-spec refuses them when parsing.
fn drop_unknown_capabilities(config: &mut serde_json::Value) {
    let Some(sets) = config
        .pointer_mut("/process/capabilities")
        .and_then(|c| c.as_object_mut())
    else {
        return;
    };
    for (set, names) in sets.iter_mut() {
        let Some(names) = names.as_array_mut() else {
            continue;
        };
        names.retain(|name| {
            // Non-strings are kept so that parsing still rejects them.
            let known = !name.is_string()
                || serde_json::from_value::<oci_spec::runtime::Capability>(name.clone()).is_ok();
            if !known {
                tracing::warn!(capability = %name, set = %set, "unknown capability ignored");
            }
            known
        });
    }
}

/// Lexical clean-up of `.` and `..` (no filesystem access).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

fn lock_path(root: &Path, id: &str) -> PathBuf {
    root.join(format!(".create-{id}.lock"))
}

/// Whether `path` still names the open `file`.
fn is_linked(file: &File, path: &Path) -> bool {
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
        crate::rootdir::ensure(root)?;
        let dir = container_dir::path(root, id)?;
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
            // SAFETY: flock on an fd we own.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
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
            // SAFETY: flock on an fd we own.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
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
        prepared: &Prepared,
    ) -> Result<T> {
        let out = match result {
            Ok(v) => container_dir::save_sidecar(
                &self.dir,
                &Sidecar {
                    rootfs: prepared.rootfs.clone(),
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
