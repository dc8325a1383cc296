//! `sifrun umount [--force] BUNDLE`: undo `sifrun mount`.

use std::path::PathBuf;

use anyhow::Context;

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
pub fn run(args: Umount, root: &std::path::Path) -> anyhow::Result<()> {
    let in_use = crate::bundle_users::user_of(root);
    bundle_tools::mount::umount(&args.bundle, &in_use, args.force)
        .with_context(|| format!("umount {}", args.bundle.display()))
}
