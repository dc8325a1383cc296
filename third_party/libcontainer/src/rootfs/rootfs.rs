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
        self.mount_to_rootfs_from(linux, spec, rootfs, cgroup_ns, &mut |_| Ok(None), None)
    }

    // sifrun patch 0039
    /// `mount_to_rootfs`, `source_of(i)` giving the opened source of mount `i`, if any,
    /// and the root an `overlay` mounted first (sifrun patch 0052).
    pub fn mount_to_rootfs_from(
        &self,
        linux: &Linux,
        spec: &Spec,
        rootfs: &Path,
        cgroup_ns: bool,
        source_of: &mut dyn FnMut(usize) -> Result<Option<OwnedFd>>,
        overlay: Option<&RootfsOverlay>,
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
        if let Some(overlay) = overlay {
            // The builder checked it already; this function is public.
            overlay.validate(spec)?;
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
        self.prepare_rootfs_from(
            spec,
            rootfs,
            bind_devices,
            cgroup_ns,
            &mut |_| Ok(None),
            None,
        )
    }

    // sifrun patch 0039
    /// `prepare_rootfs`, with mount sources opened by the runtime and a root
    /// overlay (`mount_to_rootfs_from`).
    pub fn prepare_rootfs_from(
        &self,
        spec: &Spec,
        rootfs: &Path,
        bind_devices: bool,
        cgroup_ns: bool,
        source_of: &mut dyn FnMut(usize) -> Result<Option<OwnedFd>>,
        overlay: Option<&RootfsOverlay>,
    ) -> Result<()> {
        tracing::debug!(?rootfs, "prepare rootfs");
        let linux = spec.linux().as_ref().ok_or(MissingSpecError::Linux)?;

        self.mount_to_rootfs_from(linux, spec, rootfs, cgroup_ns, source_of, overlay)?;

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
fn custom(msg: String) -> RootfsError {
    RootfsError::Mount(super::mount::MountError::Custom(msg))
}

// sifrun patch 0052
/// A root filesystem that is an overlay of read-only directories, mounted by the init
/// inside the container's own mount namespace
/// (`InitContainerBuilder::with_rootfs_overlay`): nothing is mounted on the host, a
/// rootless container needs no FUSE overlay daemon, and everything goes with the
/// container. The upper and work directories are on a tmpfs the init mounts on
/// `tmpfs`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RootfsOverlay {
    /// The read-only lower directories (host paths), topmost first.
    pub lowers: Vec<std::path::PathBuf>,
    /// The host directory the tmpfs for `upper/` and `work/` is mounted on.
    pub tmpfs: std::path::PathBuf,
    /// The tmpfs' `size=` (`64m`, `10%`, …); None: the kernel's default.
    pub tmpfs_size: Option<String>,
    /// Mount the tmpfs `nosuid`.
    pub nosuid: bool,
}

impl RootfsOverlay {
    /// Whether it can be mounted for `spec`: absolute paths overlayfs can take in its
    /// options (it has no quoting here), a plain size, and a new mount namespace, the
    /// only place where the mounts reach neither the host nor another container.
    pub fn validate(&self, spec: &Spec) -> Result<()> {
        let bad = |msg: String| custom(format!("rootfs overlay: {msg}"));
        for p in self.lowers.iter().chain([&self.tmpfs]) {
            let s = p.to_string_lossy();
            if !s.starts_with('/') || s.contains([',', ':', '\\', '\n']) {
                return Err(bad(format!(
                    "{s:?} must be an absolute path without ',', ':' or '\\'"
                )));
            }
        }
        if self.lowers.is_empty() {
            return Err(bad("no lower directory".into()));
        }
        if let Some(size) = &self.tmpfs_size {
            let digits = size.trim_end_matches(['k', 'm', 'g', 'K', 'M', 'G', '%']);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(format!("bad tmpfs size {size:?}")));
            }
        }
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
        Ok(())
    }

    /// Mount the tmpfs, make `upper/` and `work/` in it, and mount the overlay on
    /// `rootfs`. Call it in the container's mount namespace once the root's
    /// propagation keeps mounts from reaching the host.
    pub fn mount(&self, syscall: &dyn Syscall, rootfs: &Path) -> Result<()> {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt};
        let mut flags = MsFlags::MS_NODEV;
        if self.nosuid {
            flags |= MsFlags::MS_NOSUID;
        }
        let mut data = String::from("mode=0755");
        if let Some(size) = &self.tmpfs_size {
            data.push_str(&format!(",size={size}"));
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
                .map_err(|err| custom(format!("rootfs overlay: mkdir {}: {err}", d.display())))?;
        }
        // The merged root shows the upper's root: give it the image's owner and mode.
        let top = std::fs::metadata(&self.lowers[0]).map_err(|err| {
            custom(format!(
                "rootfs overlay: {}: {err}",
                self.lowers[0].display()
            ))
        })?;
        std::os::unix::fs::chown(&upper, Some(top.uid()), Some(top.gid()))
            .and_then(|()| std::fs::set_permissions(&upper, top.permissions()))
            .map_err(|err| custom(format!("rootfs overlay: chown {}: {err}", upper.display())))?;
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

    fn overlay() -> RootfsOverlay {
        RootfsOverlay {
            lowers: vec!["/a/l1".into(), "/b/l0".into()],
            tmpfs: "/a/overlay".into(),
            tmpfs_size: Some("64m".into()),
            nosuid: true,
        }
    }

    #[test]
    fn a_plain_overlay_is_valid() {
        // The default spec has a new mount namespace.
        overlay().validate(&Spec::default()).unwrap();
    }

    #[test]
    fn without_a_mount_namespace_of_its_own_it_is_refused() {
        let mut spec = Spec::default();
        let mut linux = spec.linux().clone().unwrap();
        let ns = linux.namespaces().clone().unwrap();
        let others = ns
            .into_iter()
            .filter(|n| n.typ() != oci_spec::runtime::LinuxNamespaceType::Mount)
            .collect();
        linux.set_namespaces(Some(others));
        spec.set_linux(Some(linux));
        assert!(overlay().validate(&spec).is_err());
    }

    #[test]
    fn paths_and_sizes_overlayfs_cannot_take_are_refused() {
        let spec = Spec::default();
        let bad = [
            RootfsOverlay {
                lowers: vec![],
                ..overlay()
            },
            RootfsOverlay {
                lowers: vec!["rel".into()],
                ..overlay()
            },
            RootfsOverlay {
                lowers: vec!["/a,upperdir=/x".into()],
                ..overlay()
            },
            RootfsOverlay {
                tmpfs: "/t:u".into(),
                ..overlay()
            },
            RootfsOverlay {
                tmpfs_size: Some("1x".into()),
                ..overlay()
            },
        ];
        for o in bad {
            assert!(o.validate(&spec).is_err(), "{o:?}");
        }
    }
}
