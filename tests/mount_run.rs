//! End to end: mount a SIF / OCI-SIF fixture as a bundle, `sifrun run` it with the
//! commands on stdin, check the output, unmount. Mounts are undone by a Drop guard.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use bundle_tools::mount::{self, MountMode};

fn sifrun() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_sifrun"))
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/sif")
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Private scratch dir, removed (after a forced umount) on drop.
struct Scratch {
    dir: PathBuf,
    state_root: PathBuf,
}

impl Scratch {
    fn new(tag: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("sifrun-mount-run-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let state_root = dir.join("state");
        Scratch { dir, state_root }
    }
    fn bundle(&self) -> PathBuf {
        self.dir.join("bundle")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let b = self.bundle();
        if b.join(mount::STATE_FILE).exists() {
            let _ = mount::umount(&b, &|_| None, true);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `echo INPUT | sifrun --root STATE run -b BUNDLE ID`, returning (status, stdout).
fn run_with_stdin(s: &Scratch, id: &str, input: &str) -> (bool, String) {
    let mut child = Command::new(sifrun())
        .arg("--root")
        .arg(&s.state_root)
        .args(["run", "-b"])
        .arg(s.bundle())
        .arg(id)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    if !out.status.success() {
        eprintln!("stderr: {}", String::from_utf8_lossy(&out.stderr));
    }
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn mount_run(image: &Path, mode: MountMode, tag: &str, input: &str) -> String {
    let s = Scratch::new(tag);
    mount::mount(image, &s.bundle(), mode).unwrap();
    let (ok, out) = run_with_stdin(
        &s,
        &format!("mount-run-{tag}-{}", std::process::id()),
        input,
    );
    assert!(ok, "sifrun run failed for {}", image.display());
    // Not forced: `sifrun umount` checks the state dir for containers still using it.
    let st = Command::new(sifrun())
        .arg("--root")
        .arg(&s.state_root)
        .arg("umount")
        .arg(s.bundle())
        .status()
        .unwrap();
    assert!(st.success());
    assert!(!s.bundle().exists());
    out
}

#[test]
fn native_sif_runs_hello() {
    if !is_root() {
        eprintln!("skipped: sifrun run needs root");
        return;
    }
    let img = fixtures().join("busybox_amd64.sif");
    for (mode, tag) in [(MountMode::Kernel, "nk"), (MountMode::Fuse, "nf")] {
        let out = mount_run(&img, mode, tag, "echo hello\n");
        assert_eq!(out.trim(), "hello");
    }
}

/// The two-layer OCI-SIF from make-fixtures.sh (built here into a private dir).
#[test]
fn oci_sif_two_layers_runs() {
    if !is_root() {
        eprintln!("skipped: sifrun run needs root");
        return;
    }
    let s = Scratch::new("gen");
    let st = Command::new("bash")
        .arg(fixtures().join("make-fixtures.sh"))
        .arg(&s.dir)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let out = mount_run(
        &s.dir.join("oci-busybox-2layer.sif"),
        MountMode::Kernel,
        "oci2",
        "echo hello; cat /etc/fixture-layer2.txt; test -e /bin/vi || echo vi-gone\n",
    );
    assert_eq!(out, "hello\nadded by layer 2\nvi-gone\n");
}
