//! SIF and OCI-SIF images as bundles: `mount` (read-only layers + writable overlay +
//! config.json, by bundle-tools) and `umount`, which asks the runtime's state root
//! whether a container still uses the bundle.

use std::path::PathBuf;

use anyhow::Context;
use bundle_tools::mount::{self as bundle, MountMode};

pub mod sif;

#[derive(clap::Args, Debug)]
pub struct Mount {
    /// kernel (loop + squashfs + overlayfs, root), fuse (squashfuse + fuse-overlayfs)
    /// or auto (kernel when root and it works, else fuse)
    #[arg(long, default_value = "auto", value_parser = parse_mode)]
    pub mode: MountMode,
    /// SIF or OCI-SIF image
    pub image: PathBuf,
    /// Bundle directory to create (must not exist or be empty)
    pub bundle: PathBuf,
}

fn parse_mode(s: &str) -> Result<MountMode, String> {
    s.parse()
}

pub fn mount(args: Mount) -> anyhow::Result<()> {
    bundle::mount(&args.image, &args.bundle, args.mode).with_context(|| {
        format!(
            "mount {} on {}",
            args.image.display(),
            args.bundle.display()
        )
    })?;
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct Umount {
    /// Unmount even if a container created from the bundle still exists (busy mounts
    /// are detached lazily)
    #[arg(long, short)]
    pub force: bool,
    /// Bundle directory made by `sifrun mount`
    pub bundle: PathBuf,
}

/// `root` is the runtime state dir (`--root`), scanned for containers using the bundle.
pub fn umount(args: Umount, root: &std::path::Path) -> anyhow::Result<()> {
    let in_use = crate::state::bundle_users::user_of(root);
    bundle::umount(&args.bundle, &in_use, args.force)
        .with_context(|| format!("umount {}", args.bundle.display()))
}
