//! Shared by the `oci_*` tests: the sifrun binary, a private state root and bundle
//! per test, and a Drop guard that removes whatever a failed test left behind.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub fn sifrun() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sifrun"))
}

pub fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/sif/busybox_amd64.sif")
}

/// Root (the runtime), and the fixture present: else the test is skipped.
pub fn can_run(what: &str) -> bool {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped {what}: needs root");
        return false;
    }
    if !fixture().exists() {
        eprintln!("skipped {what}: no {}", fixture().display());
        return false;
    }
    true
}

/// A scratch dir with the state root inside; ids are unique per process and tag.
pub struct Scratch {
    pub dir: PathBuf,
    pub root: PathBuf,
    /// Container ids to delete on drop.
    pub ids: Vec<String>,
    /// tmux sessions to kill on drop.
    pub sessions: Vec<String>,
}

impl Scratch {
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("sifrun-oci-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let root = dir.join("state");
        Scratch {
            dir,
            root,
            ids: Vec::new(),
            sessions: Vec::new(),
        }
    }

    pub fn bundle(&self) -> PathBuf {
        self.dir.join("bundle")
    }

    pub fn id(&mut self, name: &str) -> String {
        let id = format!("oci-{name}-{}", std::process::id());
        self.ids.push(id.clone());
        id
    }

    /// `sifrun --root ROOT ARGS...` with stdin from /dev/null.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(sifrun())
            .arg("--root")
            .arg(&self.root)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Like `run`, and fails the test with sifrun's stderr when it fails.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "sifrun {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `oci mount` of the fixture, then config.json's process changed by `edit`.
    pub fn mount(&self, edit: impl FnOnce(&mut serde_json::Value)) {
        let bundle = self.bundle();
        self.ok(&[
            "oci",
            "mount",
            fixture().to_str().unwrap(),
            bundle.to_str().unwrap(),
        ]);
        let path = bundle.join("config.json");
        let mut config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        edit(&mut config["process"]);
        std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    }

    pub fn state(&self, id: &str) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["oci", "state", id])).unwrap()
    }

    /// Mount points under the scratch dir (there must be none after umount).
    pub fn mounts(&self) -> Vec<String> {
        let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let dir = self.dir.to_string_lossy().into_owned();
        mi.lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|t| t.starts_with(&dir))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for s in &self.sessions {
            let _ = Command::new("tmux")
                .args(["kill-session", "-t", s])
                .output();
        }
        for id in &self.ids {
            let _ = self.run(&["oci", "delete", "--force", id]);
        }
        let bundle = self.bundle();
        if bundle.exists() {
            let _ = self.run(&["oci", "umount", "--force", bundle.to_str().unwrap()]);
        }
        // Only when nothing is mounted any more: never walk into a live mount.
        if self.mounts().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
