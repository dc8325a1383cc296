//! A container's state directory (`<root>/<id>`): id validation, locking, loading
//! libcontainer's state, and the state JSON in runc's shape.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use libcontainer::container::{Container, ContainerStatus};
use serde::{Deserialize, Serialize};

/// sifrun's own record next to libcontainer's `state.json`: what runc's state JSON
/// shows but libcontainer does not keep.
const SIDECAR: &str = "sifrun.json";

#[derive(Serialize, Deserialize, Default)]
pub struct Sidecar {
    pub rootfs: PathBuf,
}

/// Rejects ids that could escape the state root or confuse tools: runc's rules.
pub fn validate_id(id: &str) -> Result<()> {
    if id.is_empty() {
        bail!("invalid container id: it is empty");
    }
    if id == "." || id == ".." {
        bail!("invalid container id {id:?}");
    }
    if id.len() > 1024 {
        bail!("invalid container id: longer than 1024 bytes");
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.')))
    {
        bail!("invalid container id {id:?}: character {c:?} is not allowed");
    }
    Ok(())
}

pub fn path(root: &Path, id: &str) -> Result<PathBuf> {
    validate_id(id)?;
    Ok(root.join(id))
}

pub fn not_found(id: &str) -> anyhow::Error {
    anyhow::anyhow!("container {id:?} does not exist")
}

/// An advisory lock on the container's state directory, so that concurrent
/// `kill`/`state`/`delete`/`start` never see each other's half-written state.
pub struct DirLock {
    _file: File,
}

pub fn lock(dir: &Path, exclusive: bool) -> std::io::Result<DirLock> {
    let file = File::open(dir)?;
    // flock(2) LOCK_EX or LOCK_SH; released when the fd (and any inherited copy) is
    // closed, not explicitly.
    if exclusive {
        file.lock()?;
    } else {
        file.lock_shared()?;
    }
    Ok(DirLock { _file: file })
}

/// Locks a state directory that may be removed meanwhile: `None` when it is gone,
/// also when a `delete` that held the lock before us removed it.
pub fn lock_existing(dir: &Path, exclusive: bool) -> Result<Option<DirLock>> {
    match lock(dir, exclusive) {
        Ok(g) if dir.exists() => Ok(Some(g)),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("failed to lock {}", dir.display())),
    }
}

/// Loads an existing container, holding its lock for as long as the guard lives.
pub fn load(root: &Path, id: &str, exclusive: bool) -> Result<(Container, DirLock)> {
    let dir = path(root, id)?;
    let Some(guard) = lock_existing(&dir, exclusive)? else {
        return Err(not_found(id));
    };
    if !dir.join("state.json").exists() {
        return Err(not_found(id));
    }
    let container = Container::load(dir)
        .with_context(|| format!("failed to load the state of container {id:?}"))?;
    Ok((container, guard))
}

pub fn save_sidecar(dir: &Path, sidecar: &Sidecar) -> Result<()> {
    let tmp = dir.join(".sifrun.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(sidecar)?)
        .with_context(|| format!("failed to write {}", tmp.display()))?;
    std::fs::rename(&tmp, dir.join(SIDECAR))
        .with_context(|| format!("failed to write {}", dir.join(SIDECAR).display()))
}

fn load_sidecar(dir: &Path) -> Sidecar {
    std::fs::read(dir.join(SIDECAR))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

pub fn status_name(status: ContainerStatus) -> &'static str {
    match status {
        ContainerStatus::Creating => "creating",
        ContainerStatus::Created => "created",
        ContainerStatus::Running => "running",
        ContainerStatus::Stopped => "stopped",
        ContainerStatus::Paused => "paused",
    }
}

/// The runtime-spec version sifrun implements (runc 1.4 and 1.5 report 1.3.0): the
/// `ociVersion` of `spec` and `state`, `features`' `ociVersionMax`, `--version`'s spec.
/// oci-spec 0.10 parses every 1.3.0 field but still calls itself 1.1.0.
pub const OCI_VERSION: &str = "1.3.0";

/// The state JSON runc prints: the runtime-spec state plus `rootfs`, `created`, `owner`.
#[derive(Serialize)]
pub struct RuncState {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: &'static str,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<std::collections::HashMap<String, String>>,
}

pub fn runc_state(container: &Container) -> RuncState {
    let status = container.status();
    let dir = container.root.as_path();
    let rootfs = load_sidecar(dir).rootfs;
    RuncState {
        oci_version: OCI_VERSION.to_string(),
        id: container.id().to_string(),
        pid: match status {
            ContainerStatus::Stopped => 0,
            _ => container.pid().map(|p| p.as_raw()).unwrap_or(0),
        },
        status: status_name(status),
        bundle: container.bundle().clone(),
        rootfs,
        created: container
            .created()
            .map(|c| c.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
            .unwrap_or_default(),
        owner: String::new(),
        annotations: container.state.annotations.clone(),
    }
}

/// Ids of the containers in the state root, sorted; ignores our own temp files.
pub fn list_ids(root: &Path) -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("failed to read {}", root.display())),
    };
    let mut ids: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|id| !id.starts_with('.') && validate_id(id).is_ok())
        .collect();
    ids.sort();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_escape_or_confuse_are_rejected() {
        for bad in ["", ".", "..", "../x", "a/b", "/", "a b", "x\n", "é"] {
            assert!(validate_id(bad).is_err(), "{bad:?} accepted");
        }
        assert!(validate_id(&"a".repeat(1 << 20)).is_err());
        for good in ["abc", "a.b-c_d+e", "0123456789abcdef", "..a"] {
            validate_id(good).unwrap();
        }
    }
}
