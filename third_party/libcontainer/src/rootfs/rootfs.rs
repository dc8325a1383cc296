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
