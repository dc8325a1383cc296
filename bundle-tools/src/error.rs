//! Error types. One enum for the whole crate so that callers (the CLI) get a single
//! one-line message naming what is wrong.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while reading, writing or mounting SIF images.
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
    #[error("bundle {path} is in use by container {id} (use --force to unmount anyway)")]
    InUse { path: PathBuf, id: String },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            err: source,
        }
    }
}
