//! The signature policy at mount time ([`crate::verify::policy`]): checked on the
//! open image before anything exists, and the mode it leaves root (kernel mode only
//! for images the site's keyring vouches for, when the site says so).

use std::os::fd::AsRawFd;
use std::path::PathBuf;

use super::fuse;
use super::mode::MountMode;
use super::mode::{is_root, merr};
use crate::config::options::binds::{Overlay, OverlayKind};
use crate::error::{Error, Result};
use crate::policy::{Decision, Policy};
use crate::sif::Sif;

/// Apply `policy` to `sif`; an image that fails a requirement is an error.
pub(super) fn check(
    sif: &Sif,
    policy: &Policy,
    overlays: &[Overlay],
    mode: MountMode,
    notes: &mut Vec<String>,
) -> Result<Decision> {
    let meta = sif
        .source()
        .metadata()
        .map_err(|e| Error::io(sif.path(), e))?;
    let risky = overlays
        .iter()
        .any(|o| o.kind == OverlayKind::Squashfs)
        .then_some("an --overlay squashfs image carries no signature");
    let d = policy
        .check(
            sif,
            &meta,
            is_root() && matches!(mode, MountMode::Kernel | MountMode::Auto),
            risky,
        )
        .map_err(|e| Error::Trust(e.to_string()))?;
    notes.extend(d.notes.iter().cloned());
    Ok(d)
}

/// A path to the file `sif` has open, which this process and its children (squashfuse,
/// unsquashfs, run while it waits) can open: the verified file, even if the image's
/// path is renamed or replaced meanwhile.
pub(super) fn open_file_path(sif: &Sif) -> PathBuf {
    PathBuf::from(format!(
        "/proc/{}/fd/{}",
        std::process::id(),
        sif.source().as_raw_fd()
    ))
}

/// The mode root gets: kernel mode needs the site's consent; `auto` then falls back
/// to FUSE (or extract), an explicit `kernel` is refused.
pub(super) fn kernel_gate(
    mode: MountMode,
    d: &Decision,
    notes: &mut Vec<String>,
) -> Result<MountMode> {
    let Some(why) = &d.kernel_refused else {
        return Ok(mode);
    };
    match mode {
        MountMode::Kernel => Err(merr(format!(
            "kernel mode refused by {why} (use --mode fuse or extract)"
        ))),
        MountMode::Auto => {
            let m = if fuse::dev_fuse_usable() {
                MountMode::Fuse
            } else {
                MountMode::Extract
            };
            notes.push(format!(
                "not mounting with the kernel ({why}): using {} mode",
                if m == MountMode::Fuse {
                    "fuse"
                } else {
                    "extract"
                }
            ));
            Ok(m)
        }
        m => Ok(m),
    }
}
