use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
// sifrun patch 0001
use std::sync::OnceLock;

use pathrs::flags::OpenFlags;
use pathrs::procfs::{ProcfsBase, ProcfsHandle};
use procfs::ProcError;
use procfs::process::MountInfo;

use super::ControllerType;
use super::controller_type::CONTROLLERS;

#[derive(thiserror::Error, Debug)]
pub enum V1MountPointError {
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
    #[error("failed to get mountinfo: {0}")]
    MountInfo(ProcError),
    #[error("could not find mountpoint for {subsystem}")]
    NotFound { subsystem: ControllerType },
    #[error(transparent)]
    Pathrs(#[from] pathrs::error::Error),
}

/// The mount points of every `cgroup` (v1) filesystem, read from mountinfo once per
/// process (sifrun patch 0001): the manager looks up each subsystem separately, and a
/// create or delete used to read and parse mountinfo a dozen times. Mount points of the
/// host's cgroup hierarchies do not change during one runtime invocation; a failed read
/// is not cached.
fn cgroup_mount_points() -> Result<&'static [PathBuf], V1MountPointError> {
    // sifrun patch 0006
    cgroup_mounts().map(|m| m.v1.as_slice())
}

// sifrun patch 0006
/// The cgroup filesystems of the host, from one read of mountinfo.
#[derive(Default)]
struct CgroupMounts {
    /// Every `cgroup` (v1) mount point.
    v1: Vec<PathBuf>,
    /// The `name=systemd` v1 hierarchy.
    systemd: Option<PathBuf>,
    /// A `cgroup2` mount next to v1 ones (hybrid: /sys/fs/cgroup/unified).
    unified: Option<PathBuf>,
}

// sifrun patch 0006
fn cgroup_mounts() -> Result<&'static CgroupMounts, V1MountPointError> {
    static CACHE: OnceLock<CgroupMounts> = OnceLock::new();
    if let Some(mounts) = CACHE.get() {
        return Ok(mounts);
    }
    let reader = BufReader::new(ProcfsHandle::new()?.open(
        ProcfsBase::ProcSelf,
        "mountinfo",
        OpenFlags::O_RDONLY | OpenFlags::O_CLOEXEC,
    )?);
    let mut mounts = CgroupMounts::default();
    for line in reader.lines() {
        let line = line.map_err(V1MountPointError::Io)?;
        let m = MountInfo::from_line(&line).map_err(V1MountPointError::MountInfo)?;
        match m.fs_type.as_str() {
            "cgroup" => {
                if mounts.systemd.is_none()
                    && m.super_options.get("name") == Some(&Some("systemd".to_string()))
                {
                    mounts.systemd = Some(m.mount_point.clone());
                }
                mounts.v1.push(m.mount_point);
            }
            "cgroup2" if mounts.unified.is_none() => mounts.unified = Some(m.mount_point),
            _ => {}
        }
    }
    Ok(CACHE.get_or_init(|| mounts))
}

// sifrun patch 0006
/// The hierarchies without resource controllers that a container's processes
/// join too: `name=systemd` and, on a hybrid host, the cgroup2 one. Each as the
/// key it has in /proc/PID/cgroup ("name=systemd", "" for cgroup2) and its
/// mount point.
pub fn joined_hierarchies() -> Result<Vec<(&'static str, PathBuf)>, V1MountPointError> {
    let mounts = cgroup_mounts()?;
    let mut joined = Vec::new();
    if let Some(p) = &mounts.systemd {
        joined.push(("name=systemd", p.clone()));
    }
    if let Some(p) = &mounts.unified {
        joined.push(("", p.clone()));
    }
    Ok(joined)
}

/// List all cgroup v1 subsystem mount points on the system. This can include unsupported
/// subsystems, comounted controllers and named hierarchies.
pub fn list_subsystem_mount_points() -> Result<Vec<PathBuf>, V1MountPointError> {
    cgroup_mount_points().map(<[PathBuf]>::to_vec)
}

/// List the mount points of all currently supported cgroup subsystems.
pub fn list_supported_mount_points() -> Result<HashMap<ControllerType, PathBuf>, V1MountPointError>
{
    let mut mount_paths = HashMap::with_capacity(CONTROLLERS.len());

    for controller in CONTROLLERS {
        if let Ok(mount_point) = get_subsystem_mount_point(controller) {
            mount_paths.insert(controller.to_owned(), mount_point);
        }
    }

    Ok(mount_paths)
}

pub fn get_subsystem_mount_point(subsystem: &ControllerType) -> Result<PathBuf, V1MountPointError> {
    let subsystem_name = subsystem.to_string();
    // sifrun patch 0001
    cgroup_mount_points()?
        .iter()
        .find(|mount_point| {
            // Some systems mount net_prio and net_cls in the same directory
            // other systems mount them in their own directories. This
            // should handle both cases.
            match subsystem_name.as_str() {
                "net_cls" => ["net_cls,net_prio", "net_prio,net_cls", "net_cls"]
                    .iter()
                    .any(|s| mount_point.ends_with(s)),
                "net_prio" => ["net_cls,net_prio", "net_prio,net_cls", "net_prio"]
                    .iter()
                    .any(|s| mount_point.ends_with(s)),
                "cpu" => ["cpu,cpuacct", "cpu"]
                    .iter()
                    .any(|s| mount_point.ends_with(s)),
                "cpuacct" => ["cpu,cpuacct", "cpuacct"]
                    .iter()
                    .any(|s| mount_point.ends_with(s)),
                _ => mount_point.ends_with(&subsystem_name),
            }
        })
        .cloned()
        .ok_or(V1MountPointError::NotFound {
            subsystem: *subsystem,
        })
}
