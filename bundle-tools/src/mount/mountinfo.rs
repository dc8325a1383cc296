//! Reading `/proc/self/mountinfo`: what is mounted at or below a directory.

use std::fs;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

/// Mounts (target, fstype) at or below `dir`, in /proc/self/mountinfo order (a mount
/// stacked on or nested in another comes after it).
pub(super) fn mounts_under(dir: &Path) -> Vec<(PathBuf, String)> {
    let Ok(mi) = fs::read_to_string("/proc/self/mountinfo") else {
        return vec![];
    };
    mi.lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let target = unescape_mountinfo(pre.split(' ').nth(4)?);
            let fstype = post.split(' ').next()?.to_string();
            target.starts_with(dir).then_some((target, fstype))
        })
        .collect()
}

/// Whether `p` is a mount point according to /proc/self/mountinfo.
pub fn is_mountpoint(p: &Path) -> bool {
    mounts_under(p).iter().any(|(target, _)| target == p)
}

/// A mountinfo path field with its `\ooo` escapes undone, as the raw bytes it names.
fn unescape_mountinfo(s: &str) -> PathBuf {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}
