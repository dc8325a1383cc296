//! The rootfs overlay mounted by the container's own init instead of on the host
//! (libcontainer's `InitContainerBuilder::with_rootfs_overlay`), for a bundle that
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
//!
//! It is handed to the runtime in memory, never through config.json: a config's
//! author (an engine passing on a pod's annotations) must not choose what the
//! runtime mounts as a container's root.

use std::path::{Path, PathBuf};

use super::mode::is_root;
use crate::config::Options;

/// The overlay for the container's init to mount as its root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootOverlay {
    /// Read-only lower directories (host paths), topmost first.
    pub lowers: Vec<PathBuf>,
    /// The bundle directory the tmpfs for `upper/` and `work/` goes on.
    pub tmpfs: PathBuf,
    /// The tmpfs' size (`64m`), None: the kernel's default.
    pub tmpfs_size: Option<String>,
    /// The tmpfs mounted nosuid (unless `--allow-setuid`).
    pub nosuid: bool,
}

/// Whether the kernel can mount the overlay where the container's init runs: as
/// root always (the host path mounts overlayfs too); otherwise in a user namespace,
/// on a tmpfs upper that takes user.* xattrs (Linux 6.6).
fn kernel_can() -> bool {
    let has_overlay = || {
        std::fs::read_to_string("/proc/filesystems").is_ok_and(|t| {
            t.lines()
                .any(|l| l.split_whitespace().last() == Some("overlay"))
        })
    };
    is_root() || (has_overlay() && release_at_least(6, 6))
}

/// Whether the overlay of a bundle at `bundle` over layers in `images` (the shared
/// images dir; None: the bundle's own `layers/`) can be left to the container's init:
/// the kernel can mount it there, and every path it takes lies under one of those
/// two, whose names overlayfs takes.
pub(super) fn usable(bundle: &Path, images: Option<&Path>) -> bool {
    paths_plain(bundle, images) && kernel_can()
}

/// The lowers are `IMAGES/KEY/layers/N` (KEY hex) or `BUNDLE/layers/N`, the tmpfs
/// `BUNDLE/overlay`: plain when the bundle and the images dir are.
fn paths_plain(bundle: &Path, images: Option<&Path>) -> bool {
    plain(bundle) && images.is_none_or(plain)
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

/// A path overlayfs takes in its options (which have no quoting here).
fn plain(p: &Path) -> bool {
    p.to_str()
        .is_some_and(|s| s.starts_with('/') && !s.contains([',', ':', '\\', '\n']))
}

/// The overlay of `lowers` (bottom first) with its tmpfs at `tmpfs` (paths that
/// [`usable`] vouched for).
pub(super) fn overlay(lowers: &[PathBuf], tmpfs: &Path, opts: &Options) -> RootOverlay {
    RootOverlay {
        lowers: lowers.iter().rev().cloned().collect(),
        tmpfs: tmpfs.to_path_buf(),
        tmpfs_size: (opts.session_mb > 0).then(|| format!("{}m", opts.session_mb)),
        nosuid: !opts.allow_setuid,
    }
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
        let o = overlay(
            &[PathBuf::from("/s/l0"), PathBuf::from("/s/l1")],
            Path::new("/b/overlay"),
            &opts,
        );
        assert_eq!(o.lowers, [PathBuf::from("/s/l1"), PathBuf::from("/s/l0")]);
        assert_eq!(o.tmpfs, Path::new("/b/overlay"));
        assert_eq!(o.tmpfs_size.as_deref(), Some("64m"));
        assert!(o.nosuid);
    }

    #[test]
    fn a_path_overlayfs_cannot_take_is_refused() {
        assert!(paths_plain(Path::new("/b"), Some(Path::new("/i"))));
        assert!(paths_plain(Path::new("/b"), None));
        for bad in ["/a:b", "/a,b", "rel"] {
            assert!(!paths_plain(Path::new(bad), None));
            assert!(!paths_plain(Path::new("/b"), Some(Path::new(bad))));
        }
    }
}
