//! For the `sifrun oci …` tests: a private scratch dir with the state root and the
//! bundle inside, unique container ids, and a Drop guard that removes whatever a
//! failed test left behind (containers, the bundle's mounts, tmux sessions).

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use super::sif::busybox_sif;
use super::{is_root, mounts_under, unique_id, TmpDir, SIFRUN};

/// Root (the runtime), and the fixture present: else the test is skipped.
pub fn can_run(what: &str) -> bool {
    if !is_root() {
        eprintln!("skipped {what}: needs root");
        return false;
    }
    if !busybox_sif().exists() {
        eprintln!("skipped {what}: no {}", busybox_sif().display());
        return false;
    }
    true
}

/// A scratch dir with the state root inside; ids are unique per test.
pub struct Scratch {
    pub dir: TmpDir,
    pub root: PathBuf,
    /// Container ids to delete on drop.
    pub ids: Vec<String>,
    /// tmux sessions to kill on drop.
    pub sessions: Vec<String>,
}

impl Scratch {
    pub fn new(tag: &str) -> Self {
        let dir = TmpDir::new(&format!("sifrun-oci-{tag}"));
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

    /// A unique container id, deleted on drop.
    pub fn id(&mut self, name: &str) -> String {
        let id = unique_id(&format!("oci-{name}"));
        self.ids.push(id.clone());
        id
    }

    /// `sifrun --root ROOT ARGS...` with stdin from /dev/null.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(SIFRUN)
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
            busybox_sif().to_str().unwrap(),
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
    pub fn mounts(&self) -> Vec<PathBuf> {
        mounts_under(&self.dir.path)
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
        // Then the TmpDir lazily unmounts whatever is still mounted and removes it.
    }
}
