//! The mount mode, and the small helpers every layer shares.

use std::time::Duration;

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

/// Calls `attempt` until `again` is false for its result, sleeping `first` between
/// tries and doubling that up to `max`, for `total` in all; the last result. For a
/// mount that stays busy until a FUSE daemon above it has exited.
pub(super) fn retry<R>(
    first: Duration,
    max: Duration,
    total: Duration,
    mut attempt: impl FnMut() -> R,
    mut again: impl FnMut(&R) -> bool,
) -> R {
    let deadline = std::time::Instant::now() + total;
    let mut pause = first;
    let mut r = attempt();
    while again(&r) && std::time::Instant::now() < deadline {
        std::thread::sleep(pause);
        pause = (pause * 2).min(max);
        r = attempt();
    }
    r
}

pub(super) fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}
