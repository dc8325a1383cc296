//! The cgroup of a container: the default path runc gives it, opening its manager, and
//! emptying and removing it when `delete --force` cleans up after a killed create.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use libcontainer::container::Container;
use oci_spec::runtime::Spec;

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
        Err(_) => libcontainer::utils::get_cgroup_path(&default_cgroups_path(id, systemd), id),
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
