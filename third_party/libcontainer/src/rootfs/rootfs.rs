use std::collections::HashSet;
// sifrun patch 0039
use std::os::fd::OwnedFd;
// sifrun patch 0011
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nix::mount::MsFlags;
use oci_spec::runtime::{Linux, Spec};

use super::device::Device;
use super::mount::{Mount, MountOptions};
// sifrun patch 0034
use super::symlink::{Symlink, dev_dir};
use super::utils::default_devices;
use super::{Result, RootfsError};
use crate::error::MissingSpecError;
use crate::syscall::Syscall;
use crate::syscall::syscall::create_syscall;

/// Holds information about rootfs
pub struct RootFS {
    syscall: Box<dyn Syscall>,
}

impl Default for RootFS {
    fn default() -> Self {
        Self::new()
    }
}

impl RootFS {
    pub fn new() -> RootFS {
        RootFS {
            syscall: create_syscall(),
        }
    }

    pub fn mount_to_rootfs(
        &self,
        linux: &Linux,
        spec: &Spec,
        rootfs: &Path,
        cgroup_ns: bool,
    ) -> Result<()> {
        self.mount_to_rootfs_from(linux, spec, rootfs, cgroup_ns, &mut |_| Ok(None))
    }

    // sifrun patch 0039
    /// `mount_to_rootfs`, `source_of(i)` giving the opened source of mount `i`, if any.
    pub fn mount_to_rootfs_from(
        &self,
        linux: &Linux,
        spec: &Spec,
        rootfs: &Path,
        cgroup_ns: bool,
        source_of: &mut dyn FnMut(usize) -> Result<Option<OwnedFd>>,
    ) -> Result<()> {
        let mut flags = MsFlags::MS_REC;
        match linux.rootfs_propagation().as_deref() {
            Some("shared") => flags |= MsFlags::MS_SHARED,
            Some("private") => flags |= MsFlags::MS_PRIVATE,
            Some("slave" | "unbindable") | None => flags |= MsFlags::MS_SLAVE,
            Some(unknown) => {
                return Err(RootfsError::UnknownRootfsPropagation(unknown.to_string()));
            }
        }

        self.syscall
            .mount(None, Path::new("/"), None, flags, None)
            .map_err(|err| {
                tracing::error!(
                    ?err,
                    ?flags,
                    "failed to change the mount propagation type of the root"
                );

                err
            })?;

        let mounter = Mount::new();

        mounter.make_parent_mount_private(rootfs)?;

        // sifrun patch 0052
        if let Some(overlay) = RootfsOverlay::from_spec(spec)? {
            overlay.mount(self.syscall.as_ref(), rootfs)?;
        }

        tracing::debug!("mount root fs {:?}", rootfs);
        self.syscall
            .mount(
                Some(rootfs),
                rootfs,
                None,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None,
            )
            .map_err(|err| {
                tracing::error!(?rootfs, ?err, "failed to bind mount rootfs");
                err
            })?;

        let global_options = MountOptions {
            root: rootfs,
            label: linux.mount_label().as_deref(),
            cgroup_ns,
        };

        if let Some(mounts) = spec.mounts() {
            // sifrun patch 0039
            for (i, mount) in mounts.iter().enumerate() {
                mounter.setup_mount_from(mount, &global_options, source_of(i)?)?;
            }
        }
        Ok(())
    }

    pub fn prepare_rootfs(
        &self,
        spec: &Spec,
        rootfs: &Path,
        bind_devices: bool,
        cgroup_ns: bool,
    ) -> Result<()> {
        self.prepare_rootfs_from(spec, rootfs, bind_devices, cgroup_ns, &mut |_| Ok(None))
    }

    // sifrun patch 0039
    /// `prepare_rootfs`, with mount sources opened by the runtime (`mount_to_rootfs_from`).
    pub fn prepare_rootfs_from(
        &self,
        spec: &Spec,
        rootfs: &Path,
        bind_devices: bool,
        cgroup_ns: bool,
        source_of: &mut dyn FnMut(usize) -> Result<Option<OwnedFd>>,
    ) -> Result<()> {
        tracing::debug!(?rootfs, "prepare rootfs");
        let linux = spec.linux().as_ref().ok_or(MissingSpecError::Linux)?;

        self.mount_to_rootfs_from(linux, spec, rootfs, cgroup_ns, source_of)?;

        let symlinker = Symlink::new();
        // sifrun patch 0034: /dev resolved inside the root once, for all its links
        let dev = dev_dir(rootfs)?;
        symlinker.setup_kcore_symlink(&dev)?;
        symlinker.setup_default_symlinks(&dev)?;

        let devicer = Device::new();
        if let Some(added_devices) = linux.devices() {
            let mut path_set = HashSet::new();
            let devices = default_devices();
            added_devices.iter().for_each(|d| {
                path_set.insert(d.path());
            });
            let default = devices.iter().filter(|d| !path_set.contains(d.path()));
            devicer.create_devices(rootfs, added_devices.iter().chain(default), bind_devices)
        } else {
            devicer.create_devices(rootfs, &default_devices(), bind_devices)
        }?;

        // sifrun patch 0034
        symlinker.setup_ptmx(&dev)?;

        // sifrun patch 0011
        // runc creates a missing process.cwd (as root, 0755, before a read-only root is
        // remounted); engines rely on it for an image's WorkingDir that the image lacks.
        if let Some(cwd) = spec.process().as_ref().map(|p| p.cwd()) {
            if cwd.is_absolute() && cwd != Path::new("/") {
                let root = pathrs::Root::open(rootfs).map_err(super::mount::MountError::from)?;
                root.mkdir_all(cwd, &std::fs::Permissions::from_mode(0o755))
                    .map_err(super::mount::MountError::from)?;
            }
        }

        // sifrun patch 0028: /dev is mounted read-write so that its devices and links
        // can be made; a read-only /dev is remounted so now, as runc does.
        self.remount_dev_readonly(spec, rootfs)?;
        Ok(())
    }

    fn remount_dev_readonly(&self, spec: &Spec, rootfs: &Path) -> Result<()> {
        let Some(dev) = spec.mounts().iter().flatten().find(|m| {
            m.destination() == Path::new("/dev") && m.options().iter().flatten().any(|o| o == "ro")
        }) else {
            return Ok(());
        };
        let flags = super::utils::parse_mount(dev)?.flags;
        self.syscall
            .mount(
                None,
                &rootfs.join("dev"),
                None,
                flags | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY,
                None,
            )
            .map_err(|err| {
                tracing::error!(?err, "failed to remount /dev read-only");
                err.into()
            })
    }

    /// Change propagation type of rootfs as specified in spec.
    pub fn adjust_root_mount_propagation(&self, linux: &Linux) -> Result<()> {
        let rootfs_propagation = linux.rootfs_propagation().as_deref();
        let flags = match rootfs_propagation {
            Some("shared") => Some(MsFlags::MS_SHARED),
            Some("unbindable") => Some(MsFlags::MS_UNBINDABLE),
            _ => None,
        };

        if let Some(flags) = flags {
            self.syscall
                .mount(None, Path::new("/"), None, flags, None)
                .map_err(|err| {
                    tracing::error!(
                        ?err,
                        ?flags,
                        "failed to adjust the mount propagation type of the root"
                    );
                    err
                })?;
        }

        Ok(())
    }
}

// sifrun patch 0052
/// Annotation: the root filesystem is an overlay that the init mounts inside the
/// container's own mount namespace, its value the read-only lower directories (host
/// paths, topmost first, `:`-separated). Nothing is mounted on the host, so a rootless
/// container needs no FUSE overlay daemon, and everything vanishes with the container.
pub const ROOTFS_OVERLAY_LOWERDIR: &str = "org.sifrun.rootfs.overlay.lowerdir";
/// Annotation: the host directory on which the init mounts a tmpfs for the overlay's
/// `upper/` and `work/` (needed with [`ROOTFS_OVERLAY_LOWERDIR`]).
pub const ROOTFS_OVERLAY_TMPFS: &str = "org.sifrun.rootfs.overlay.tmpfs";
/// Annotation: extra tmpfs options for [`ROOTFS_OVERLAY_TMPFS`] (only `size=`,
/// `nr_inodes=` and `nosuid` are taken).
pub const ROOTFS_OVERLAY_TMPFS_OPTIONS: &str = "org.sifrun.rootfs.overlay.tmpfs-options";

// sifrun patch 0052
fn custom(msg: String) -> RootfsError {
    RootfsError::Mount(super::mount::MountError::Custom(msg))
}

// sifrun patch 0052
/// A root filesystem overlay asked for by annotations (see [`ROOTFS_OVERLAY_LOWERDIR`]).
#[derive(Debug, PartialEq)]
pub struct RootfsOverlay {
    lowers: Vec<std::path::PathBuf>,
    tmpfs: std::path::PathBuf,
    size: Option<String>,
    nr_inodes: Option<String>,
    nosuid: bool,
}

impl RootfsOverlay {
    /// The overlay the spec's annotations ask for, if any; a malformed one is an error.
    pub fn from_spec(spec: &Spec) -> Result<Option<RootfsOverlay>> {
        let ann = spec.annotations().as_ref();
        let get = |k: &str| ann.and_then(|a| a.get(k));
        let bad = |msg: String| custom(format!("annotation {ROOTFS_OVERLAY_LOWERDIR}: {msg}"));
        let Some(lowers) = get(ROOTFS_OVERLAY_LOWERDIR) else {
            return Ok(None);
        };
        let tmpfs = get(ROOTFS_OVERLAY_TMPFS)
            .ok_or_else(|| bad(format!("needs {ROOTFS_OVERLAY_TMPFS}")))?;
        // Mounted where the init runs: only a mount namespace of its own keeps
        // them from the host or another container.
        let own_mount_ns = spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().as_ref())
            .is_some_and(|ns| {
                ns.iter().any(|n| {
                    n.typ() == oci_spec::runtime::LinuxNamespaceType::Mount && n.path().is_none()
                })
            });
        if !own_mount_ns {
            return Err(bad("needs a new mount namespace".into()));
        }
        // The paths go into overlayfs' option string, which has no quoting here.
        let plain = |p: &str| {
            if !p.starts_with('/') || p.contains([',', ':', '\\', '\n']) {
                Err(bad(format!(
                    "{p:?} must be an absolute path without ',', ':' or '\\'"
                )))
            } else {
                Ok(std::path::PathBuf::from(p))
            }
        };
        let lowers = lowers.split(':').map(plain).collect::<Result<Vec<_>>>()?;
        let tmpfs = plain(tmpfs)?;
        let mut o = RootfsOverlay {
            lowers,
            tmpfs,
            size: None,
            nr_inodes: None,
            nosuid: false,
        };
        for opt in get(ROOTFS_OVERLAY_TMPFS_OPTIONS)
            .into_iter()
            .flat_map(|s| s.split(','))
            .filter(|s| !s.is_empty())
        {
            let num = |v: &str| {
                let digits = v.trim_end_matches(['k', 'm', 'g', 'K', 'M', 'G', '%']);
                if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                    Ok(Some(v.to_string()))
                } else {
                    Err(bad(format!("bad tmpfs option {opt:?}")))
                }
            };
            match opt.split_once('=') {
                Some(("size", v)) => o.size = num(v)?,
                Some(("nr_inodes", v)) => o.nr_inodes = num(v)?,
                None if opt == "nosuid" => o.nosuid = true,
                _ => return Err(bad(format!("tmpfs option {opt:?} is not taken"))),
            }
        }
        Ok(Some(o))
    }

    /// Mount the tmpfs, make `upper/` and `work/` in it, and mount the overlay on
    /// `rootfs`. Call it in the container's mount namespace once the root's
    /// propagation keeps mounts from reaching the host.
    pub fn mount(&self, syscall: &dyn Syscall, rootfs: &Path) -> Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        let mut flags = MsFlags::MS_NODEV;
        if self.nosuid {
            flags |= MsFlags::MS_NOSUID;
        }
        let mut data = String::from("mode=0755");
        for (k, v) in [("size", &self.size), ("nr_inodes", &self.nr_inodes)] {
            if let Some(v) = v {
                data.push_str(&format!(",{k}={v}"));
            }
        }
        syscall
            .mount(
                Some(Path::new("tmpfs")),
                &self.tmpfs,
                Some("tmpfs"),
                flags,
                Some(&data),
            )
            .inspect_err(
                |err| tracing::error!(?err, tmpfs = ?self.tmpfs, "rootfs overlay tmpfs"),
            )?;
        let (upper, work) = (self.tmpfs.join("upper"), self.tmpfs.join("work"));
        for (d, mode) in [(&upper, 0o755), (&work, 0o700)] {
            std::fs::DirBuilder::new()
                .mode(mode)
                .create(d)
                .map_err(|err| {
                    RootfsError::Mount(super::mount::MountError::Custom(format!(
                        "rootfs overlay: mkdir {}: {err}",
                        d.display()
                    )))
                })?;
        }
        // The merged root shows the upper's root: give it the image's owner and mode.
        let top = std::fs::metadata(&self.lowers[0]).map_err(|err| {
            custom(format!(
                "rootfs overlay: {}: {err}",
                self.lowers[0].display()
            ))
        })?;
        {
            use std::os::unix::fs::MetadataExt;
            std::os::unix::fs::chown(&upper, Some(top.uid()), Some(top.gid()))
                .and_then(|()| std::fs::set_permissions(&upper, top.permissions()))
                .map_err(|err| {
                    custom(format!("rootfs overlay: chown {}: {err}", upper.display()))
                })?;
        }
        let lowers: Vec<_> = self.lowers.iter().map(|p| p.to_string_lossy()).collect();
        let mut data = format!(
            "lowerdir={},upperdir={},workdir={}",
            lowers.join(":"),
            upper.display(),
            work.display()
        );
        // In a user namespace overlayfs keeps its metadata in user.* xattrs.
        if crate::utils::is_in_new_userns().unwrap_or(false) {
            data.push_str(",userxattr");
        }
        // nosuid is the upper's alone: set-user-ID files of the image keep working.
        syscall
            .mount(
                Some(Path::new("overlay")),
                rootfs,
                Some("overlay"),
                MsFlags::MS_NODEV,
                Some(&data),
            )
            .inspect_err(|err| tracing::error!(?err, ?rootfs, data, "rootfs overlay"))?;
        Ok(())
    }
}

// sifrun patch 0052
#[cfg(test)]
mod overlay_tests {
    use super::*;

    fn spec_with(ann: &[(&str, &str)]) -> Spec {
        // The default spec has a new mount namespace.
        let mut spec = Spec::default();
        spec.set_annotations(Some(
            ann.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ));
        spec
    }

    #[test]
    fn no_annotation_no_overlay() {
        assert_eq!(RootfsOverlay::from_spec(&spec_with(&[])).unwrap(), None);
    }

    #[test]
    fn lowers_tmpfs_and_options() {
        let o = RootfsOverlay::from_spec(&spec_with(&[
            (ROOTFS_OVERLAY_LOWERDIR, "/a/l1:/b/l0"),
            (ROOTFS_OVERLAY_TMPFS, "/a/overlay"),
            (ROOTFS_OVERLAY_TMPFS_OPTIONS, "size=64m,nosuid"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(o.lowers, vec![Path::new("/a/l1"), Path::new("/b/l0")]);
        assert_eq!(o.tmpfs, Path::new("/a/overlay"));
        assert_eq!(o.size.as_deref(), Some("64m"));
        assert!(o.nosuid);
    }

    #[test]
    fn without_a_mount_namespace_of_its_own_it_is_refused() {
        let mut spec = spec_with(&[
            (ROOTFS_OVERLAY_LOWERDIR, "/a"),
            (ROOTFS_OVERLAY_TMPFS, "/t"),
        ]);
        let mut linux = spec.linux().clone().unwrap();
        let ns = linux.namespaces().clone().unwrap();
        let others = ns
            .into_iter()
            .filter(|n| n.typ() != oci_spec::runtime::LinuxNamespaceType::Mount)
            .collect();
        linux.set_namespaces(Some(others));
        spec.set_linux(Some(linux));
        assert!(RootfsOverlay::from_spec(&spec).is_err());
    }

    #[test]
    fn malformed_annotations_are_errors() {
        for ann in [
            vec![(ROOTFS_OVERLAY_LOWERDIR, "/a")],
            vec![
                (ROOTFS_OVERLAY_LOWERDIR, "rel"),
                (ROOTFS_OVERLAY_TMPFS, "/t"),
            ],
            vec![
                (ROOTFS_OVERLAY_LOWERDIR, "/a,upperdir=/x"),
                (ROOTFS_OVERLAY_TMPFS, "/t"),
            ],
            vec![
                (ROOTFS_OVERLAY_LOWERDIR, "/a"),
                (ROOTFS_OVERLAY_TMPFS, "/t"),
                (ROOTFS_OVERLAY_TMPFS_OPTIONS, "mode=4777"),
            ],
            vec![
                (ROOTFS_OVERLAY_LOWERDIR, "/a"),
                (ROOTFS_OVERLAY_TMPFS, "/t"),
                (ROOTFS_OVERLAY_TMPFS_OPTIONS, "size=1x"),
            ],
        ] {
            assert!(
                RootfsOverlay::from_spec(&spec_with(&ann)).is_err(),
                "{ann:?}"
            );
        }
    }
}
