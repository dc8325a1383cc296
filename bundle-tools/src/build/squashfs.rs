//! Squashfs creation with squashfs-tools' `mksquashfs`.
//!
//! Chosen over the pure-Rust `backhand` writer (see the measurements in the issue
//! report): backhand 0.18 cannot store xattrs and stores hardlinks as copies, both of
//! which an image build must keep; mksquashfs keeps ownership, modes, xattrs,
//! hardlinks, symlinks and device nodes, and compresses on all cores.

use std::path::Path;
use std::process::{Command, Stdio};

use super::common::Progress;
use crate::error::{Error, Result};

/// `mksquashfs SRC OUT` with gzip (what SingularityCE's OCI-SIF layers and native
/// images use), a zero creation time for reproducibility, xattrs kept and owners as
/// they are in SRC (no `-all-root`). Returns the image size.
pub fn mksquashfs(src: &Path, out: &Path, progress: Progress) -> Result<u64> {
    mksquashfs_with(src, out, None, progress)
}

/// [`mksquashfs`] with pseudo file definitions (`-pf FILE`): entries added to the
/// image without copying `src` to add them.
pub fn mksquashfs_with(
    src: &Path,
    out: &Path,
    pseudo: Option<&Path>,
    progress: Progress,
) -> Result<u64> {
    let total = progress.tree_bytes(src);
    let mut cmd = Command::new("mksquashfs");
    cmd.arg(src).arg(out);
    if let Some(pf) = pseudo {
        cmd.arg("-pf").arg(pf);
    }
    let res = cmd
        .args([
            "-noappend",
            "-comp",
            "gzip",
            "-mkfs-time",
            "0",
            "-xattrs",
            "-no-progress",
            "-quiet",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            // read while it runs: a full pipe would stall it
            let mut err = child.stderr.take();
            let reader = std::thread::spawn(move || {
                let mut buf = Vec::new();
                if let Some(e) = err.as_mut() {
                    let _ = std::io::Read::read_to_end(e, &mut buf);
                }
                buf
            });
            let status = progress.watch(&mut child, "writing squashfs", total)?;
            Ok(std::process::Output {
                status,
                stdout: Vec::new(),
                stderr: reader.join().unwrap_or_default(),
            })
        });
    let o = match res {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::Squashfs(
                "mksquashfs not found (install squashfs-tools)".into(),
            ))
        }
        Err(e) => return Err(Error::Squashfs(e.to_string())),
    };
    if !o.status.success() {
        let msg = String::from_utf8_lossy(&o.stderr);
        let line = msg
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .unwrap_or("failed");
        return Err(Error::Squashfs(format!("{} ({})", line, o.status)));
    }
    std::fs::metadata(out)
        .map(|m| m.len())
        .map_err(|e| Error::io(out, e))
}
