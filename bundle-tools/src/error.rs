//! The crate's one error type: reading, writing, building and mounting SIF images
//! all fail with an [`Error`] that renders as a single line naming what is wrong.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while reading, writing, building or mounting SIF images.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // The io error is part of the message, not a `source`, so that anyhow's `{:#}`
    // chain does not print it twice.
    #[error("{}: {err}", path.display())]
    Io { path: PathBuf, err: std::io::Error },
    #[error("not a SIF file: {0}")]
    NotSif(String),
    #[error("unsupported SIF version {0:?} (only \"01\" is supported)")]
    Version(String),
    #[error("truncated SIF file: {0}")]
    Truncated(String),
    #[error("invalid SIF header: {0}")]
    Header(String),
    #[error("invalid SIF descriptor {slot}: {msg}")]
    Descriptor { slot: u64, msg: String },
    #[error("SIF object {id} {msg}")]
    Object { id: u32, msg: String },
    #[error("no object with id {0}")]
    NoSuchObject(u32),
    #[error("OCI-SIF: {0}")]
    OciSif(String),
    #[error("no usable root filesystem: {0}")]
    NoRootfs(String),
    #[error("SIF writer: {0}")]
    Writer(String),
    #[error("bundle {path}: {msg}")]
    Bundle { path: PathBuf, msg: String },
    #[error("mount: {0}")]
    Mount(String),
    #[error("loop device: {0}")]
    Loop(String),
    #[error("config generation: {0}")]
    Config(String),
    /// The image failed the signature policy (the policy's own one-line message).
    #[error("{0}")]
    Trust(String),
    #[error("bundle {path} is in use by container {id} (use --force to unmount anyway)")]
    InUse { path: PathBuf, id: String },

    // `sifrun sif build`.
    #[error("invalid source {0:?}: expected oci:DIR[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:REF] or dir:ROOTFS")]
    SourceSpec(String),
    #[error("{0}")]
    Image(String),
    #[error("missing blob {digest}{}", if .path.is_empty() { String::new() } else { format!(" ({})", .path) })]
    MissingBlob { digest: String, path: String },
    #[error("digest mismatch for {what}: content hashes to {got}, expected {want}")]
    Digest {
        what: String,
        got: String,
        want: String,
    },
    #[error("unsupported media type {media_type} for {what}")]
    MediaType { what: String, media_type: String },
    #[error("layer {layer}: unsafe entry {path:?}: {msg}")]
    Unsafe {
        layer: usize,
        path: String,
        msg: String,
    },
    #[error("layer {layer}: {msg}")]
    Layer { layer: usize, msg: String },
    #[error("mksquashfs: {0}")]
    Squashfs(String),
    #[error("{0}")]
    Options(String),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            err: source,
        }
    }
}
