//! Undoing a mount: the recorded steps in reverse (unmount, detach loop devices,
//! remove what was created), and the `--force` sweep of whatever else is still
//! mounted under the bundle or serving it.

use std::fs;
use std::path::Path;
use std::time::Duration;

use nix::errno::Errno;
use nix::mount::MntFlags;

use super::mode::{is_root, merr, retry};
use super::state::{MountRecord, MountState, SharedRef, STATE_FILE, TMP_STATE_FILE};
use super::{fuse, loopdev, mountinfo::mounts_under};
use crate::error::{Error, Result};

/// Drops a bundle's ref on a shared image mount (`shared::release`, passed in by the
/// caller so this module stays below the one that uses it).
pub(super) type Release<'a> = &'a dyn Fn(&SharedRef, &Path, bool) -> Result<()>;

/// Undo `st` in reverse order. `force` lazily detaches busy mounts; `remove_bundle`
/// also removes the bundle dir if mount created it; `release` drops its shared ref.
pub(super) fn teardown(
    st: &mut MountState,
    force: bool,
    remove_bundle: bool,
    release: Release<'_>,
) -> Result<()> {
    while let Some(m) = st.mounts.last().cloned() {
        unmount_one(&m, force)?;
        st.mounts.pop();
    }
    if force {
        sweep(&st.bundle)?;
    }
    // After the overlay over them is gone, before the state that names the ref.
    if let Some(sh) = st.shared.clone() {
        release(&sh, &st.bundle, force)?;
        st.shared = None;
    }
    while let Some(l) = st.loop_devices.pop() {
        loopdev::detach_if_ours(l.number, &st.image, l.offset)?;
    }
    // The overlay dir holds the container's writes (upper) and overlayfs' work dir;
    // both are ours to delete. Everything else we created should be empty by now.
    let overlay = st.bundle.join("overlay");
    let rootfs = st.bundle.join("rootfs");
    while let Some(p) = st.created.pop() {
        let r = if p == overlay {
            fs::remove_dir_all(&p)
        } else if p == rootfs && st.mode == super::mode::MountMode::Extract {
            super::extract::remove_tree(&p)
        } else if p.starts_with(&overlay) {
            continue;
        } else if p.is_dir() {
            fs::remove_dir(&p)
        } else {
            fs::remove_file(&p)
        };
        match r {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                st.created.push(p.clone());
                return Err(Error::io(p, e));
            }
        }
    }
    // The state goes last: killed before this point, `umount --force` redoes it all.
    let _ = fs::remove_file(st.bundle.join(TMP_STATE_FILE));
    let _ = fs::remove_file(st.bundle.join(STATE_FILE));
    if remove_bundle && st.bundle_created {
        // Files left by others (e.g. a runtime's logs) keep the bundle; that is fine.
        let _ = fs::remove_dir(&st.bundle);
    }
    Ok(())
}

fn unmount_one(m: &MountRecord, force: bool) -> Result<()> {
    if m.fuse && !is_root() {
        return fuse::fusermount_unmount(&m.target, force);
    }
    // A FUSE layer stays busy until the fuse-overlayfs daemon above it has exited,
    // which happens asynchronously after its own unmount: retry EBUSY for a while.
    // The daemon is usually gone within a millisecond or two: poll from 200 µs,
    // backing off to 5 ms, for 2 s in all.
    let r = retry(
        Duration::from_micros(200),
        Duration::from_millis(5),
        Duration::from_secs(2),
        || nix::mount::umount2(&m.target, MntFlags::empty()),
        |r| m.fuse && *r == Err(Errno::EBUSY),
    );
    match r {
        Ok(()) => Ok(()),
        // Not mounted (any more) or gone: nothing to undo.
        Err(Errno::EINVAL) | Err(Errno::ENOENT) => Ok(()),
        Err(Errno::EBUSY) if force => nix::mount::umount2(&m.target, MntFlags::MNT_DETACH)
            .map_err(|e| merr(format!("umount -l {}: {e}", m.target.display()))),
        Err(e) => Err(merr(format!("umount {}: {e}", m.target.display()))),
    }
}

/// What `umount --force` does besides undoing the recorded steps: unmounts whatever
/// is still mounted under the bundle (newest first; busy ones lazily), then kills the
/// FUSE daemons still serving it (e.g. one a killed `mount` had started and that
/// mounted after we looked), then unmounts again what they left.
pub(super) fn sweep(bundle: &Path) -> Result<()> {
    let unmount_all = || -> Result<()> {
        for (target, fstype) in mounts_under(bundle).into_iter().rev() {
            let fuse = fstype.starts_with("fuse");
            unmount_one(
                &MountRecord {
                    target,
                    fstype,
                    fuse,
                },
                true,
            )?;
        }
        Ok(())
    };
    unmount_all()?;
    fuse::kill_helpers_under(bundle);
    unmount_all()?;
    match mounts_under(bundle).first() {
        Some((m, _)) => Err(merr(format!("{} is still mounted", m.display()))),
        None => Ok(()),
    }
}
