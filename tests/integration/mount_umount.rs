//! `sifrun mount` / `sifrun umount` through the binary: a SIF as a bundle (kernel
//! squashfs and FUSE), one-line errors for a missing image or a bundle that was never
//! mounted, and end to end: mount a SIF / OCI-SIF fixture, `sifrun run` it with the
//! commands on stdin, check the output, unmount. Mounts are undone by Drop guards.
//! (Killing mount/umount half-way: reliability::faults; hostile SIF files:
//! security::hostile_input.)

use std::process::{Command, Stdio};

use crate::common::sif::{busybox_sif, fixtures_dir, MountScratch};
use crate::common::{require_root, TmpDir, SIFRUN};

#[test]
fn mount_umount_cli() {
    if !require_root() {
        return;
    }
    let dir = TmpDir::new("sifrun-mount-cli");
    let b = dir.join("bundle");
    let st = Command::new(SIFRUN)
        .args(["mount", "--mode", "kernel"])
        .arg(busybox_sif())
        .arg(&b)
        .status()
        .unwrap();
    assert!(st.success());
    let mounted = b.join("rootfs/bin/busybox").is_file();
    let st2 = Command::new(SIFRUN).arg("umount").arg(&b).status().unwrap();
    if !st2.success() {
        let _ = Command::new(SIFRUN)
            .args(["umount", "--force"])
            .arg(&b)
            .output();
    }
    assert!(mounted && st2.success());
    assert!(!b.exists());
    // never mounted / missing image: one-line errors, non-zero exit
    let o = Command::new(SIFRUN)
        .arg("umount")
        .arg(&dir.path)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let o = Command::new(SIFRUN)
        .arg("mount")
        .arg(dir.join("missing.sif"))
        .arg(&b)
        .output()
        .unwrap();
    assert!(!o.status.success() && !b.exists());
}

#[test]
fn native_sif_runs_hello() {
    if !require_root() {
        return;
    }
    let mut s = MountScratch::new("mount-run-native");
    for mode in ["kernel", "fuse"] {
        let out = s.mount_run(&busybox_sif(), Some(mode), mode, "echo hello\n");
        assert_eq!(out.trim(), "hello");
    }
}

/// The two-layer OCI-SIF from make-fixtures.sh (built here into a private dir).
#[test]
fn oci_sif_two_layers_runs() {
    if !require_root() {
        return;
    }
    let mut s = MountScratch::new("mount-run-oci2");
    let st = Command::new("bash")
        .arg(fixtures_dir().join("make-fixtures.sh"))
        .arg(&s.dir.path)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    let out = s.mount_run(
        &s.dir.join("oci-busybox-2layer.sif"),
        Some("kernel"),
        "oci2",
        "echo hello; cat /etc/fixture-layer2.txt; test -e /bin/vi || echo vi-gone\n",
    );
    assert_eq!(out, "hello\nadded by layer 2\nvi-gone\n");
}
