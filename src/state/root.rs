//! Where container state lives: `--root`, else `/run/sifrun` for root and
//! `$XDG_RUNTIME_DIR/sifrun` for other users (as runc does with `/run/runc`). Root of
//! a user namespace (rootless podman's) counts as another user unless `USER=root`,
//! as in runc's `shouldHonorXDGRuntimeDir`.
//!
//! A user other than root refuses a state root that another uid owns: a root in a
//! shared directory (Slurm's `--root=/tmp/sifrun-slurm-%u`) could have been made
//! beforehand by someone else, who could then plant state (pids, paths) for this
//! user's `kill` and `delete` to act on. Root may be handed anyone's root on purpose.

use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

pub fn determine(flag: Option<&Path>) -> Result<PathBuf> {
    let root = match flag {
        Some(p) if p.is_absolute() => p.to_path_buf(),
        Some(p) => std::env::current_dir()
            .context("failed to read the current directory")?
            .join(p),
        None => default_root(),
    };
    check_owner(&root)?;
    Ok(root)
}

/// For users other than root: an existing state root must be their own.
fn check_owner(root: &Path) -> Result<()> {
    let me = nix::unistd::geteuid();
    if me.is_root() {
        return Ok(());
    }
    match std::fs::metadata(root) {
        Ok(m) if m.uid() != me.as_raw() => bail!(
            "state root {} belongs to uid {}, not to you (uid {}): refusing to use it",
            root.display(),
            m.uid(),
            me
        ),
        _ => Ok(()),
    }
}

fn default_root() -> PathBuf {
    let xdg = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty());
    if nix::unistd::geteuid().is_root() {
        return match xdg {
            Some(dir) if honor_xdg_as_root() => PathBuf::from(dir).join("sifrun"),
            _ => PathBuf::from("/run/sifrun"),
        };
    }
    match xdg {
        Some(dir) => PathBuf::from(dir).join("sifrun"),
        None => PathBuf::from(format!("/tmp/sifrun-{}", nix::unistd::geteuid())),
    }
}

/// uid 0 of a user namespace other than the initial one, not claiming to be root.
fn honor_xdg_as_root() -> bool {
    in_user_namespace(&std::fs::read_to_string("/proc/self/uid_map").unwrap_or_default())
        && std::env::var("USER").map_or(true, |u| u != "root")
}

/// Whether a uid_map's text is anything but the initial namespace's identity map.
fn in_user_namespace(uid_map: &str) -> bool {
    let f: Vec<&str> = uid_map.split_whitespace().collect();
    !(f.is_empty() || f == ["0", "0", "4294967295"])
}

/// Creates the state root (0700) when a command is about to add a container to it.
pub fn ensure(root: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(root)
        .with_context(|| format!("failed to create state root {}", root.display()))?;
    // someone else may have made it between `determine` and here
    check_owner(root)
}

#[cfg(test)]
mod tests {
    #[test]
    fn user_namespace_detection() {
        assert!(!super::in_user_namespace(
            "         0          0 4294967295\n"
        ));
        assert!(super::in_user_namespace(
            "         0       1000          1\n"
        ));
        assert!(super::in_user_namespace("0 1000 1\n1 100000 65536\n"));
    }
}
