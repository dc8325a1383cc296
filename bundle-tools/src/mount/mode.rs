//! The mount mode, and the small helpers every layer shares.

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// How to mount the read-only layers and the overlay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountMode {
    /// Loop devices + kernel squashfs/overlayfs (root).
    Kernel,
    /// squashfuse + fuse-overlayfs (no root needed).
    Fuse,
    /// unsquashfs into the bundle's rootfs (no root, no FUSE; costs a copy).
    Extract,
    /// Kernel when root and it works; else FUSE when it can serve the container's
    /// ids, else extract.
    Auto,
}

impl std::str::FromStr for MountMode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "kernel" => Ok(Self::Kernel),
            "fuse" => Ok(Self::Fuse),
            "extract" => Ok(Self::Extract),
            "auto" => Ok(Self::Auto),
            o => Err(format!(
                "unknown mount mode {o:?} (kernel, fuse, extract, auto)"
            )),
        }
    }
}

pub(super) fn merr(m: impl Into<String>) -> Error {
    Error::Mount(m.into())
}

pub(super) fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}
