//! The rootfs overlay mounted by the container's own init instead of on the host
//! (libcontainer's `org.sifrun.rootfs.overlay.*` annotations), for a bundle that
//! only sifrun runs (`oci run --image`). Its upper and work directories live on a
//! tmpfs in the container's mount namespace, as SingularityCE's OCI mode keeps them
//! on a tmpfs of the session size.
//!
//! Without root this replaces the per-container fuse-overlayfs daemon (and its
//! fusermount calls) with the kernel's overlayfs in the container's user namespace,
//! which needs Linux 6.6 (user.* xattrs on tmpfs for `userxattr`); the container's
//! reads then go straight to the (shared) image mount's page cache. As root it saves
//! the host mount and its umount. Everything goes with the container's mount
//! namespace: the bundle holds nothing to undo.

use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

use super::mode::is_root;
use crate::config::Options;

/// The annotations libcontainer reads (its `ROOTFS_OVERLAY_*`).
pub const LOWERDIR: &str = "org.sifrun.rootfs.overlay.lowerdir";
pub const TMPFS: &str = "org.sifrun.rootfs.overlay.tmpfs";
pub const TMPFS_OPTIONS: &str = "org.sifrun.rootfs.overlay.tmpfs-options";

/// Whether the kernel can mount the overlay where the container's init runs: as
/// root always (the host path mounts overlayfs too); otherwise in a user namespace,
/// on a tmpfs upper that takes user.* xattrs (Linux 6.6).
pub(super) fn kernel_can() -> bool {
    let has_overlay = std::fs::read_to_string("/proc/filesystems").is_ok_and(|t| {
        t.lines()
            .any(|l| l.split_whitespace().last() == Some("overlay"))
    });
    is_root() || (has_overlay && release_at_least(6, 6))
}

fn release_at_least(major: u32, minor: u32) -> bool {
    let Ok(rel) = std::fs::read_to_string("/proc/sys/kernel/osrelease") else {
        return false;
    };
    let mut nums = rel
        .split(|c: char| !c.is_ascii_digit())
        .map(|n| n.parse::<u32>().unwrap_or(0));
    let (ma, mi) = (nums.next().unwrap_or(0), nums.next().unwrap_or(0));
    (ma, mi) >= (major, minor)
}

/// A path libcontainer can pass in overlayfs' options (no quoting there).
fn plain(p: &Path) -> Option<&str> {
    p.to_str()
        .filter(|s| s.starts_with('/') && !s.contains([',', ':', '\\', '\n']))
}

/// The annotations for an overlay of `lowers` (bottom first) with its tmpfs at
/// `tmpfs`, or None when a path cannot be passed (the caller mounts on the host).
pub(super) fn annotations(
    lowers: &[PathBuf],
    tmpfs: &Path,
    opts: &Options,
) -> Option<Vec<(String, String)>> {
    let lowerdir: Option<Vec<&str>> = lowers.iter().rev().map(|p| plain(p)).collect();
    let mut tmpfs_opts = vec![];
    if opts.session_mb > 0 {
        tmpfs_opts.push(format!("size={}m", opts.session_mb));
    }
    if !opts.allow_setuid {
        tmpfs_opts.push("nosuid".into());
    }
    Some(vec![
        (LOWERDIR.into(), lowerdir?.join(":")),
        (TMPFS.into(), plain(tmpfs)?.into()),
        (TMPFS_OPTIONS.into(), tmpfs_opts.join(",")),
    ])
}

/// Put `ann` in the spec's annotations.
pub(super) fn annotate(spec: &mut Spec, ann: Vec<(String, String)>) {
    let mut all = spec.annotations().clone().unwrap_or_default();
    all.extend(ann);
    spec.set_annotations(Some(all));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowers_topmost_first_and_session_size() {
        let opts = Options {
            session_mb: 64,
            ..Options::default()
        };
        let a = annotations(
            &[PathBuf::from("/s/l0"), PathBuf::from("/s/l1")],
            Path::new("/b/overlay"),
            &opts,
        )
        .unwrap();
        assert_eq!(a[0], (LOWERDIR.into(), "/s/l1:/s/l0".into()));
        assert_eq!(a[1], (TMPFS.into(), "/b/overlay".into()));
        assert_eq!(a[2], (TMPFS_OPTIONS.into(), "size=64m,nosuid".into()));
    }

    #[test]
    fn a_path_overlayfs_cannot_take_is_refused() {
        let opts = Options::default();
        for bad in ["/a:b", "/a,b", "rel"] {
            assert!(annotations(&[PathBuf::from(bad)], Path::new("/t"), &opts).is_none());
            assert!(annotations(&[PathBuf::from("/l")], Path::new(bad), &opts).is_none());
        }
    }
}
