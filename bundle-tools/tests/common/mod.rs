#![allow(dead_code)]
//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `/work/shared/fixtures/sif`, i.e. `../shared/fixtures/sif` from the repo root.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/sif")
}

/// Every `*.sif` fixture (recursively).
pub fn all_fixtures() -> Vec<PathBuf> {
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "sif") {
                out.push(p);
            }
        }
    }
    let mut v = Vec::new();
    walk(&fixtures(), &mut v);
    v.sort();
    assert!(v.len() > 20, "fixtures missing at {}", fixtures().display());
    v
}

pub fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Output of `siftool ARGS`, or None if siftool is not installed.
pub fn siftool(args: &[&str]) -> Option<String> {
    if !have("siftool") {
        eprintln!("siftool not installed; skipping comparison");
        return None;
    }
    let o = Command::new("siftool").args(args).output().unwrap();
    assert!(
        o.status.success(),
        "siftool {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    Some(String::from_utf8(o.stdout).unwrap())
}

/// Build make-fixtures.sh output once, cached under /tmp keyed by the script's hash.
pub fn generated_fixtures() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(build_generated_fixtures).clone()
}

/// Mount tests check global state (mountinfo, loop devices of a shared image), so they
/// run one at a time.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

fn build_generated_fixtures() -> PathBuf {
    use sha2::Digest;
    let script = fixtures().join("make-fixtures.sh");
    let hash = hex::encode(sha2::Sha256::digest(std::fs::read(&script).unwrap()));
    let dir = PathBuf::from(format!("/tmp/sifrun-fixtures-{}", &hash[..16]));
    let done = dir.join(".complete");
    if done.exists() {
        return dir;
    }
    // Several test binaries may race; build into a private dir and rename.
    let tmp = PathBuf::from(format!("{}.{}", dir.display(), std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let o = Command::new("bash")
        .arg(&script)
        .arg(&tmp)
        .output()
        .expect("run make-fixtures.sh");
    assert!(
        o.status.success(),
        "make-fixtures.sh failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::write(tmp.join(".complete"), b"").unwrap();
    if std::fs::rename(&tmp, &dir).is_err() {
        // Another process won the race.
        let _ = std::fs::remove_dir_all(&tmp);
    }
    assert!(done.exists());
    dir
}
