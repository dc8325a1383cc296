//! `sifrun mount [--mode kernel|fuse|auto] IMAGE BUNDLE`: make an OCI bundle from a
//! SIF or OCI-SIF (read-only layers + writable overlay + config.json).

use std::path::PathBuf;

use anyhow::Context;
use bundle_tools::mount::{self as bundle, MountMode};

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

pub fn run(args: Mount, _root: &std::path::Path) -> anyhow::Result<()> {
    bundle::mount(&args.image, &args.bundle, args.mode).with_context(|| {
        format!(
            "mount {} on {}",
            args.image.display(),
            args.bundle.display()
        )
    })?;
    Ok(())
}
