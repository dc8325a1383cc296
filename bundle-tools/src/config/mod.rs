//! Config generation: a bundle's OCI runtime `config.json` from the image's metadata.
//!
//! * [`spec`]: image config (OCI-SIF) or labels + environment (native SIF) → OCI
//!   runtime spec; pure functions of the metadata, unit-tested and fuzzed.
//! * [`envscript`]: evaluating a native SIF's `/.singularity.d/env/*.sh` scripts.
//! * [`options`]: what the caller asks for on top of the image (Singularity's OCI-mode
//!   options); applied last, by [`oci_bundle_spec`] and [`native_bundle_spec`].

pub mod envscript;
pub mod options;
pub mod spec;

use std::path::Path;

use oci_spec::image::Config as ImageConfig;
use oci_spec::runtime::Spec;

pub use options::{Applied, Host, ImageInfo, Options, Target};
pub use spec::{
    labels_to_annotations, resolve_user, spec_for_native, spec_from_image_config, DEFAULT_PATH,
    NATIVE_ARGS, STOP_SIGNAL_ANNOTATION,
};

use crate::error::Result;

/// Spec for a bundle of an OCI-SIF whose root filesystem is mounted at `t.rootfs`
/// (its `/etc/passwd` and `/etc/group` resolve the image's `User`), with `opts` applied.
pub fn oci_bundle_spec(
    image_config: Option<&ImageConfig>,
    name: &str,
    t: &Target,
    opts: &Options,
    host: &Host,
) -> Result<(Spec, Applied)> {
    let rootfs = t.rootfs;
    let mut spec = spec_from_image_config(
        image_config,
        read_small(rootfs, "etc/passwd").as_deref(),
        read_small(rootfs, "etc/group").as_deref(),
    )?;
    let c = image_config.cloned().unwrap_or_default();
    let img = ImageInfo {
        native: false,
        name,
        entrypoint: c.entrypoint().clone().unwrap_or_default(),
        cmd: c.cmd().clone().unwrap_or_default(),
        env: c.env().clone().unwrap_or_default(),
        user: c.user().clone(),
        working_dir: c.working_dir().clone(),
    };
    let applied = opts.apply(&mut spec, &img, t, host)?;
    Ok((spec, applied))
}

/// Spec for a bundle of a native SIF whose root filesystem is mounted at `t.rootfs`
/// (environment from its env scripts, annotations from its `labels.json`).
pub fn native_bundle_spec(
    name: &str,
    t: &Target,
    opts: &Options,
    host: &Host,
) -> Result<(Spec, Applied)> {
    let rootfs = t.rootfs;
    let env = envscript::image_env(rootfs, &[]);
    let mut spec = spec_for_native(
        env,
        read_small(rootfs, ".singularity.d/labels.json").as_deref(),
    )?;
    // Its environment is in the spec (bundle profile) or comes from its env scripts
    // at run time (OCI mode): ImageInfo has none of it.
    let img = ImageInfo {
        native: true,
        name,
        entrypoint: vec![],
        cmd: vec![],
        env: vec![],
        user: None,
        working_dir: None,
    };
    let applied = opts.apply(&mut spec, &img, t, host)?;
    Ok((spec, applied))
}

/// Read a small text file from the mounted rootfs (None if absent or not UTF-8; cut at 1 MiB).
fn read_small(rootfs: &Path, rel: &str) -> Option<String> {
    envscript::read_capped(&rootfs.join(rel), 1 << 20).ok()
}
