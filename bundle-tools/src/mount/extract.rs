//! Extract mode (no root, no FUSE): the image's one squashfs layer unpacked into the
//! bundle's rootfs with `unsquashfs`, which the container then writes to directly.
//!
//! Chosen for an unprivileged caller when FUSE cannot serve the container: squashfuse
//! 0.1 misreports `security.*` xattrs (fuse-overlayfs' copy-up then fails), and a
//! container whose root is a subordinate id needs `user_allow_other`. Every file
//! belongs to the caller, as on SingularityCE's FUSE mounts. Files the container
//! made as other (subordinate) ids are removed from inside a user namespace with the
//! same mapping.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

use super::mode::{is_root, merr};
use super::plan::Layer;
use crate::config::options::idmap::IdMap;
use crate::config::options::Host;
use crate::error::Result;
use crate::sif::FsType;

/// Unpack `layers` (exactly one squashfs) of `image` into `rootfs`.
pub(super) fn extract(image: &Path, layers: &[Layer], rootfs: &Path) -> Result<()> {
    let [l] = layers else {
        return Err(merr(format!(
            "extract mode unpacks single-layer images only; this one has {} layers (use --mode fuse)",
            layers.len()
        )));
    };
    if l.fs != FsType::Squashfs {
        return Err(merr("extract mode needs a squashfs layer"));
    }
    let out = Command::new("unsquashfs")
        .args(["-no-xattrs", "-f", "-q", "-no-progress", "-o"])
        .arg(l.offset.to_string())
        .arg("-d")
        .arg(rootfs)
        .arg(image)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| {
            merr(format!(
                "cannot run unsquashfs (package squashfs-tools): {e}"
            ))
        })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(merr(format!(
            "unsquashfs failed ({}): {}",
            out.status,
            err.trim().lines().last().unwrap_or("")
        )));
    }
    Ok(())
}

/// Remove an extracted tree (read-only directories included). What the container
/// created as other ids is removed as root of a user namespace that maps the caller
/// and its subordinate ids.
pub(super) fn remove_tree(p: &Path) -> std::io::Result<()> {
    crate::build::extract::remove_tree(p);
    if !p.exists() {
        return Ok(());
    }
    let e = std::io::Error::new(
        std::io::ErrorKind::PermissionDenied,
        "files of other owners are left",
    );
    if is_root() {
        return Err(e);
    }
    let Ok(host) = Host::current(false) else {
        return Err(e);
    };
    let IdMap::Sub { uid, gid, .. } = host.idmap else {
        return Err(e);
    };
    let st = Command::new("unshare")
        .arg("--map-root-user")
        .arg(format!("--map-users={},1,{}", uid.start, uid.count))
        .arg(format!("--map-groups={},1,{}", gid.start, gid.count))
        .args(["rm", "-rf", "--one-file-system", "--"])
        .arg(OsStr::new(p))
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    match st {
        Ok(s) if s.success() && !p.exists() => Ok(()),
        _ => Err(e),
    }
}
