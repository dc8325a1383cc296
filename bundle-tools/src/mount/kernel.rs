//! The kernel layer (root): each read-only layer on a loop device mounted as
//! squashfs (or ext3/ext4), and a kernel overlayfs over them.

use std::path::Path;

use nix::mount::MsFlags;

use super::loopdev::LoopDevice;
use super::mode::merr;
use super::plan::Layer;
use super::state::{LoopRecord, MountState};
use crate::error::Result;
use crate::sif::FsType;

/// Mount layer `l` of `image` read-only at `dir`.
pub(super) fn mount_layer(st: &mut MountState, image: &Path, l: &Layer, dir: &Path) -> Result<()> {
    // Autoclear: a device attached by a mount killed before it is recorded (or
    // mounted) goes away when the kernel closes our fd.
    let dev = LoopDevice::attach(image, l.offset, l.size)?;
    st.loop_devices.push(LoopRecord {
        device: dev.path.clone(),
        number: dev.number,
        offset: l.offset,
        size: l.size,
    });
    let flags = MsFlags::MS_RDONLY | MsFlags::MS_NODEV | MsFlags::MS_NOSUID;
    let fstypes: &[&str] = match l.fs {
        FsType::Ext3 => &["ext3", "ext4"],
        _ => &["squashfs"],
    };
    st.will_mount(dir, fstypes[0], false)?;
    let mut last = None;
    for fstype in fstypes {
        match nix::mount::mount(Some(&dev.path), dir, Some(*fstype), flags, None::<&str>) {
            Ok(()) => {
                if let Some(m) = st.mounts.last_mut() {
                    m.fstype = fstype.to_string();
                }
                // The device goes away with the mount once our fd closes.
                drop(dev);
                return Ok(());
            }
            Err(e) => last = Some(format!("{fstype}: {e}")),
        }
    }
    st.mounts.pop();
    st.loop_devices.pop();
    let _ = dev.detach();
    Err(merr(format!(
        "mount {} at offset {} on {}: {}",
        image.display(),
        l.offset,
        dir.display(),
        last.unwrap_or_default()
    )))
}

/// Mount the kernel overlay at `rootfs` with options `opts`; `ephemeral` (an upper
/// deleted at umount) adds `volatile`: without it, unmounting syncs the upper's
/// filesystem, which on a disk (this is the state root's) waits for the journal,
/// 40 ms to seconds per container. Kernels before 5.10 lack it: retried without.
pub(super) fn mount_overlay(
    st: &mut MountState,
    rootfs: &Path,
    opts: &str,
    ephemeral: bool,
) -> Result<()> {
    st.will_mount(rootfs, "overlay", false)?;
    let mount = |o: &str| {
        nix::mount::mount(
            Some("overlay"),
            rootfs,
            Some("overlay"),
            MsFlags::empty(),
            Some(o),
        )
    };
    let r = if ephemeral {
        match mount(&format!("{opts},volatile")) {
            Err(nix::errno::Errno::EINVAL) => mount(opts),
            r => r,
        }
    } else {
        mount(opts)
    };
    r.map_err(|e| merr(format!("overlay on {}: {e}", rootfs.display())))
}
