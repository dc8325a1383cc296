//! SIF and OCI-SIF images as bundles: `mount` (read-only layers + writable overlay +
//! config.json, by bundle-tools) and `umount`, which asks the runtime's state root
//! whether a container still uses the bundle.

use std::path::PathBuf;

use anyhow::Context;
use bundle_tools::mount::{self as bundle, MountMode};
use bundle_tools::policy::Policy;

pub mod options;
pub mod sif;
pub mod trust;

use bundle_tools::config::options::{Action, Options, Profile};
pub use options::RunOptions;
pub use trust::TrustArgs;

#[derive(clap::Args, Debug)]
pub struct Mount {
    /// kernel (loop + squashfs + overlayfs, root), fuse (squashfuse + fuse-overlayfs),
    /// extract (unsquashfs into the bundle) or auto (kernel when root and it works;
    /// else fuse when it can serve the container's ids, else extract)
    #[arg(long, default_value = "auto", value_parser = parse_mode)]
    pub mode: MountMode,
    /// Write the config.json SingularityCE's OCI mode would (as `oci run --image`)
    /// instead of runc's default one
    #[arg(long)]
    pub oci_mode: bool,
    /// Mount the image's layers for this bundle alone, not shared with other bundles
    /// of the same image (also SIFRUN_NO_SHARE=1)
    #[arg(long)]
    pub no_share: bool,
    #[command(flatten)]
    pub run: RunOptions,
    #[command(flatten)]
    pub trust: TrustArgs,
    /// SIF or OCI-SIF image
    pub image: PathBuf,
    /// Bundle directory to create (must not exist or be empty)
    pub bundle: PathBuf,
}

fn parse_mode(s: &str) -> Result<MountMode, String> {
    s.parse()
}

pub fn mount(args: Mount) -> anyhow::Result<()> {
    let profile = if args.oci_mode {
        Profile::OciMode
    } else {
        Profile::Bundle
    };
    let opts = args.run.to_options(profile, Action::Image)?;
    let policy = args.trust.policy()?;
    mount_with(
        &args.image,
        &args.bundle,
        args.mode,
        &opts,
        &policy,
        !args.no_share,
    )
    .map(drop)
}

/// Whether to share image mounts: asked for (no `--no-share`) and not turned off
/// by `SIFRUN_NO_SHARE` (anything but empty or 0).
fn sharing(asked: bool) -> bool {
    asked && !env_set("SIFRUN_NO_SHARE")
}

/// An environment switch: set to anything but empty or 0.
fn env_set(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Whether a bundle sifrun alone runs gets its overlay mounted by the container's
/// init: yes unless `SIFRUN_OVERLAY_ON_HOST` is set (anything but empty or 0).
pub fn overlay_in_container() -> bool {
    !env_set("SIFRUN_OVERLAY_ON_HOST")
}

/// Mount with `opts` under `policy`, telling the user what the options could not do.
/// Returns the root overlay left to the container's init, if
/// `opts.overlay_in_container` got one, and the warm-up `opts.prefetch` started.
pub fn mount_with(
    image: &std::path::Path,
    bundle_dir: &std::path::Path,
    mode: MountMode,
    opts: &Options,
    policy: &Policy,
    share: bool,
) -> anyhow::Result<(Option<bundle::RootOverlay>, Option<bundle::Prefetch>)> {
    let opts = &Options {
        share: sharing(share),
        ..opts.clone()
    };
    let m = bundle::mount_trusted(image, bundle_dir, mode, opts, policy)
        .with_context(|| format!("mount {} on {}", image.display(), bundle_dir.display()))?;
    for n in &m.notes {
        eprintln!("sifrun: {n}");
    }
    Ok((m.overlay, m.prefetch))
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
