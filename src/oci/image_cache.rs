//! Image sources for `oci run --image`, as SingularityCE takes them: a SIF or OCI-SIF
//! path as it is; `oci:`, `oci-archive:` and `docker-archive:` sources converted once
//! (by the builder behind `sif build`) into an OCI-SIF in the caller's cache, found
//! there again while the source is unchanged.
//!
//! Cache: `$SINGULARITY_CACHEDIR/oci-sif`, else `$XDG_CACHE_HOME/sifrun/oci-sif`, else
//! `$HOME/.cache/sifrun/oci-sif`; one file per source, named by the sha256 of the
//! source string and the source file's (or index.json's) device, inode, size and mtime.

use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use bundle_tools::build::{self, BuildOptions, SourceSpec};
use sha2::{Digest, Sha256};

const TRANSPORTS: [&str; 3] = ["oci:", "oci-archive:", "docker-archive:"];

/// The SIF to mount for `image`.
pub fn resolve(image: &str) -> Result<PathBuf> {
    if !TRANSPORTS.iter().any(|t| image.starts_with(t)) {
        return Ok(PathBuf::from(image));
    }
    let spec = SourceSpec::parse(image)?;
    let stamp_path = match &spec {
        SourceSpec::OciDir { dir, .. } => dir.join("index.json"),
        SourceSpec::OciArchive { file, .. } | SourceSpec::DockerArchive { file, .. } => {
            file.clone()
        }
        _ => anyhow::bail!("{image}: not an image source oci run can convert"),
    };
    let m = std::fs::metadata(&stamp_path)
        .with_context(|| format!("image source {}", stamp_path.display()))?;
    let mut h = Sha256::new();
    h.update(image.as_bytes());
    h.update(
        format!(
            "\0{}:{}:{}:{}",
            m.dev(),
            m.ino(),
            m.size(),
            m.mtime_nsec() + m.mtime() * 1_000_000_000
        )
        .as_bytes(),
    );
    let dir = cache_dir()?;
    let out = dir.join(format!("{}.sif", hex::encode(h.finalize())));
    if out.exists() {
        eprintln!("sifrun: using cached OCI-SIF image {}", out.display());
        return Ok(out);
    }
    // build() writes a temp file next to `out` and renames it: a concurrent run
    // never sees half a file.
    let opts = BuildOptions {
        quiet: true,
        tmpdir: Some(dir.clone()),
        ..BuildOptions::default()
    };
    eprintln!("sifrun: converting {image} to OCI-SIF {}", out.display());
    build::build(&out, &spec, &opts).with_context(|| format!("convert {image} to OCI-SIF"))?;
    Ok(out)
}

fn cache_dir() -> Result<PathBuf> {
    let base = if let Some(d) = std::env::var_os("SINGULARITY_CACHEDIR").filter(|d| !d.is_empty()) {
        PathBuf::from(d)
    } else if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        PathBuf::from(d).join("sifrun")
    } else {
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .context("no HOME for the image cache (set SINGULARITY_CACHEDIR)")?;
        Path::new(&home).join(".cache/sifrun")
    };
    let dir = base.join("oci-sif");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("cannot create the image cache {}", dir.display()))?;
    Ok(dir)
}
