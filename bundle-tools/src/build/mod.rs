//! `sifrun sif build`: SIF images from OCI images and directories.
//!
//! * OCI sources (`oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`, `docker-archive:FILE[:REF]`)
//!   become an OCI-SIF the way SingularityCE 4 writes one (docs/sif-format.md §8): every
//!   layer is applied in order into a private directory ([`extract`], whiteouts honoured,
//!   nothing written outside it), the result is squashed into **one** squashfs layer
//!   ([`squashfs`], `mksquashfs`), and the SIF holds that layer, the image config blob
//!   byte for byte, a manifest pointing at the squashfs layer and the root index.
//! * `dir:ROOTFS` becomes a native SIF ([`native`]): Def.FILE, `inspect-metadata.json`,
//!   and a squashfs primary system partition with `/.singularity.d` filled in; with
//!   `--oci` an OCI-SIF with a default image config instead.
//!
//! The output is written to a temporary file next to `OUT` and renamed into place only
//! when complete, so a failed build leaves no partial `OUT` behind.

mod common;
pub mod extract;
pub mod native;
pub mod ocisif;
pub mod source;
pub mod squashfs;

use std::path::Path;

pub use common::{human, BuildOptions, BuildReport};
use common::{parent_dir, Progress};
pub use source::SourceSpec;

use crate::error::{Error, Result};

/// Build `out` from `source`.
pub fn build(out: &Path, source: &SourceSpec, opts: &BuildOptions) -> Result<BuildReport> {
    let progress = Progress::new(opts.quiet);
    let out_dir = parent_dir(out);
    if !out_dir.is_dir() {
        return Err(Error::Options(format!(
            "output directory {} does not exist",
            out_dir.display()
        )));
    }
    if out.is_dir() {
        return Err(Error::Options(format!(
            "output {} is a directory",
            out.display()
        )));
    }
    let tmp_parent = opts.tmpdir.clone().unwrap_or_else(|| out_dir.clone());
    let is_dir_source = matches!(source, SourceSpec::Dir(_));
    if !is_dir_source
        && (opts.runscript.is_some() || !opts.env.is_empty() || !opts.labels.is_empty())
    {
        return Err(Error::Options(
            "--runscript, --env and --label apply to dir: sources only".into(),
        ));
    }
    if is_dir_source && opts.oci && opts.runscript.is_some() {
        return Err(Error::Options(
            "--runscript cannot be used with --oci (an OCI-SIF has no runscript)".into(),
        ));
    }
    match source {
        SourceSpec::Dir(rootfs) => {
            if opts.oci {
                ocisif::build_from_dir(out, rootfs, opts, &tmp_parent, progress)
            } else {
                native::build_native(out, rootfs, opts, &tmp_parent, progress)
            }
        }
        _ => ocisif::build_from_image(out, source, &tmp_parent, progress),
    }
}
