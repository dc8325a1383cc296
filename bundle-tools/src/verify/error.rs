//! Why `sif verify` could not run at all. A signature that does not verify is not an
//! error but a result (see [`super::report`]); these are the inputs it cannot use.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The image could not be opened or read.
    #[error(transparent)]
    Sif(#[from] crate::error::Error),
    #[error("key file {}: {err}", path.display())]
    KeyIo { path: PathBuf, err: std::io::Error },
    #[error("key file {}: {msg}", path.display())]
    Key { path: PathBuf, msg: String },
}

impl VerifyError {
    pub(crate) fn key(path: &std::path::Path, msg: impl std::fmt::Display) -> Self {
        VerifyError::Key {
            path: path.to_path_buf(),
            msg: msg.to_string(),
        }
    }
}

/// An rpgp error as one short line (some of its parse errors carry the input bytes).
pub fn short(e: &pgp::errors::Error) -> String {
    let s = e.to_string();
    let s = s.split(" Error(").next().unwrap_or_default();
    let s: String = s.chars().take(160).collect();
    s.replace('\n', " ")
}
