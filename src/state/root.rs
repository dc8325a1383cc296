//! Where container state lives: `--root`, else `/run/sifrun` for root and
//! `$XDG_RUNTIME_DIR/sifrun` for other users (as runc does with `/run/runc`).

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

pub fn determine(flag: Option<&Path>) -> Result<PathBuf> {
    let root = match flag {
        Some(p) if p.is_absolute() => p.to_path_buf(),
        Some(p) => std::env::current_dir()
            .context("failed to read the current directory")?
            .join(p),
        None => default_root(),
    };
    Ok(root)
}

fn default_root() -> PathBuf {
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/run/sifrun");
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("sifrun"),
        _ => PathBuf::from(format!("/tmp/sifrun-{}", nix::unistd::geteuid())),
    }
}

/// Creates the state root (0700) when a command is about to add a container to it.
pub fn ensure(root: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(root)
        .with_context(|| format!("failed to create state root {}", root.display()))
}
