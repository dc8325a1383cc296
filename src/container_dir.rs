//! A container's state directory (`<root>/<id>`): id validation, locking, loading
//! libcontainer's state, and the state JSON in runc's shape.

use std::fs::File;
use std::os::fd::AsRawFd;
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
    let op = if exclusive {
        libc::LOCK_EX
    } else {
        libc::LOCK_SH
    };
    // SAFETY: flock on an fd we own.
    if unsafe { libc::flock(file.as_raw_fd(), op) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(DirLock { _file: file })
}

/// Loads an existing container, holding its lock for as long as the guard lives.
pub fn load(root: &Path, id: &str, exclusive: bool) -> Result<(Container, DirLock)> {
    let dir = path(root, id)?;
    let guard = match lock(&dir, exclusive) {
        Ok(g) => g,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(not_found(id)),
        Err(e) => return Err(e).with_context(|| format!("failed to lock {}", dir.display())),
    };
    // A `delete` that held the lock before us may have removed the directory.
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
        oci_version: oci_spec::runtime::VERSION.to_string(),
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

/// The cgroup manager of a loaded container (ps, events, update).
pub fn cgroup_manager(container: &Container) -> Result<libcgroups::common::AnyCgroupManager> {
    let config = container
        .spec()
        .with_context(|| format!("failed to read the config of {:?}", container.id()))?;
    open_cgroup_manager(config.cgroup_path, container.systemd(), container.id())
}

/// The cgroup of container `id` (state dir `dir`) for `delete --force`, which must not
/// depend on a readable `state.json`: the path comes from libcontainer's
/// `youki_config.json` (written before any process of the container exists), else it
/// is what create would have used for a config.json without `cgroupsPath`.
fn cgroup_manager_of(
    dir: &Path,
    id: &str,
    systemd: bool,
) -> Result<libcgroups::common::AnyCgroupManager> {
    let cgroup_path = match libcontainer::config::YoukiConfig::load(dir) {
        Ok(c) => c.cgroup_path,
        Err(_) => libcontainer::utils::get_cgroup_path(
            &crate::bundle::default_cgroups_path(id, systemd),
            id,
        ),
    };
    open_cgroup_manager(cgroup_path, systemd, id)
}

fn open_cgroup_manager(
    cgroup_path: PathBuf,
    systemd: bool,
    id: &str,
) -> Result<libcgroups::common::AnyCgroupManager> {
    libcgroups::common::create_cgroup_manager(libcgroups::common::CgroupConfig {
        cgroup_path,
        systemd_cgroup: systemd,
        container_name: id.to_string(),
    })
    .with_context(|| format!("failed to open the cgroup of {id:?}"))
}

/// SIGKILLs every process in the cgroup of container `id`, whatever its state says
/// (a create killed mid-way leaves an init that no state records), with the cgroup
/// frozen meanwhile so nothing forks past us; waits until the cgroup is empty.
pub fn kill_cgroup_processes(dir: &Path, id: &str, systemd: bool) -> Result<()> {
    use libcgroups::common::{CgroupManager, FreezerState};
    let cg = cgroup_manager_of(dir, id, systemd)?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        // An error here means there is no cgroup (any more): nothing to kill.
        let pids = cg.get_all_pids().unwrap_or_default();
        if pids.is_empty() {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            bail!("processes of container {id:?} survive SIGKILL: {pids:?}");
        }
        let _ = cg.freeze(FreezerState::Frozen);
        for pid in pids {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        }
        let _ = cg.freeze(FreezerState::Thawed);
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// The last resort of `delete --force` when libcontainer cannot delete (unreadable,
/// empty or missing `state.json`): kill what is in the cgroup, remove the cgroup and
/// the state directory.
pub fn remove_leftovers(dir: &Path, id: &str, systemd: bool) -> Result<()> {
    use libcgroups::common::CgroupManager;
    kill_cgroup_processes(dir, id, systemd)?;
    cgroup_manager_of(dir, id, systemd)?
        .remove()
        .with_context(|| format!("failed to remove the cgroup of {id:?}"))?;
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("failed to remove {}", dir.display()))
        }
        _ => Ok(()),
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
