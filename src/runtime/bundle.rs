//! Checks on a bundle before libcontainer touches anything: its config.json (size,
//! type, unknown capabilities) and its rootfs (no symlinks).

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use libcontainer::rootfs::RootfsOverlay;
use oci_spec::runtime::Spec;

use crate::state::container as state;

/// config.json files larger than this are refused before parsing.
const MAX_CONFIG_BYTES: u64 = 64 << 20;

/// What `create`/`run` learned about the bundle.
pub struct Prepared {
    pub rootfs: PathBuf,
    pub spec: Spec,
    /// An overlay the container's init mounts on `rootfs` (`oci run --image`); never
    /// from config.json.
    pub overlay: Option<RootfsOverlay>,
}

impl Prepared {
    /// `process.terminal`.
    pub fn terminal(&self) -> bool {
        let process = self.spec.process().as_ref();
        process.and_then(|p| p.terminal()).unwrap_or(false)
    }
}

/// Validates the id and the bundle with one clear error per problem: missing bundle,
/// missing or malformed config.json, missing rootfs, or a rootfs reached through a
/// symlink (refused like runc does, so the rootfs cannot be swapped under us).
pub fn prepare(id: &str, bundle: &Path) -> Result<Prepared> {
    state::validate_id(id)?;
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
    drop_pids_without_limit(&mut value);
    if let Some(process) = value.get_mut("process") {
        libcontainer::utils::process_json_compat(process);
    }
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
    let Some(linux) = spec.linux() else {
        bail!("config.json has no \"linux\" section");
    };
    // runc's check: cgroup v2 files cannot be written on a v1 (or hybrid) host
    let unified = linux
        .resources()
        .as_ref()
        .and_then(|r| r.unified().as_ref());
    if unified.is_some_and(|u| !u.is_empty())
        && !Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
    {
        bail!("invalid configuration: cannot use linux.resources.unified on cgroup v1");
    }
    Ok(Prepared {
        rootfs: real,
        spec,
        overlay: None,
    })
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

/// Removes a `linux.resources.pids` that has no `limit`: runtime-spec 1.3 makes the
/// limit optional (absent = not set), while oci-spec reads it as 0, which now means
/// a limit of 1 task.
fn drop_pids_without_limit(config: &mut serde_json::Value) {
    if let Some(r) = config
        .pointer_mut("/linux/resources")
        .and_then(|r| r.as_object_mut())
    {
        if r.get("pids").is_some_and(|p| p.get("limit").is_none()) {
            r.remove("pids");
        }
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
