//! Progress output of long work, on a terminal only: `sif build` in tmux (a
//! pseudo-terminal) shows its steps and progress bars in the pane; the same build with
//! stderr not a terminal writes nothing to stderr.

use std::fs;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;

/// A tmux session killed on drop.
struct Session(String);

impl Drop for Session {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .output();
    }
}

fn build_src(dir: &TmpDir) -> String {
    let root = dir.join("rootfs");
    make_rootfs(&root);
    // big enough to be copied and squashed for a moment
    let data: Vec<u8> = (0..8 << 20)
        .map(|i: u32| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    fs::write(root.join("srv-data"), data).unwrap();
    format!("dir:{}", root.display())
}

#[test]
fn sif_build_progress_on_a_terminal_only() {
    if !is_root() || !have("mksquashfs") || !have("tmux") {
        eprintln!("skipped: needs root, squashfs-tools and tmux");
        return;
    }
    let dir = TmpDir::new("progress");
    let src = build_src(&dir);

    // not a terminal: silent
    let quiet_out = dir.join("pipe.sif");
    let o = Command::new(SIFRUN)
        .args(["sif", "build", quiet_out.to_str().unwrap(), &src])
        .output()
        .unwrap();
    assert_ok(&o, "sif build, stderr a pipe");
    assert_eq!(stderr(&o), "", "progress without a terminal");
    assert!(quiet_out.is_file());

    // a terminal: steps and bars
    let out = dir.join("tty.sif");
    let script = format!(
        "{SIFRUN} sif build {} {src}; echo BUILD-EXIT-$?; sleep 60",
        out.display()
    );
    let (_s, pane) = in_tmux("progress", &script);
    assert!(pane.contains("BUILD-EXIT-0"), "{pane}");
    // (no "copying": a source without /.singularity.d is squashed in place)
    for want in [
        "creating squashfs partition",
        "writing squashfs: 100%",
        "wrote ",
    ] {
        assert!(pane.contains(want), "pane lacks {want:?}:\n{pane}");
    }
    assert!(out.is_file());

    // --quiet on a terminal: nothing but the exit line
    let out = dir.join("q.sif");
    let script = format!(
        "{SIFRUN} sif build -q {} {src}; echo BUILD-EXIT-$?; sleep 60",
        out.display()
    );
    let (_s, pane) = in_tmux("progress-q", &script);
    assert_eq!(pane.trim(), "BUILD-EXIT-0", "{pane}");
}

/// Runs `script` in a new tmux session and returns the pane once it printed
/// `BUILD-EXIT-`.
fn in_tmux(tag: &str, script: &str) -> (Session, String) {
    let session = Session(unique_id(tag));
    let o = Command::new("tmux")
        .args([
            "new-session",
            "-d",
            "-x",
            "200",
            "-y",
            "50",
            "-s",
            &session.0,
            script,
        ])
        .output()
        .unwrap();
    assert_ok(&o, "tmux new-session");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let o = Command::new("tmux")
            .args(["capture-pane", "-p", "-J", "-S", "-100", "-t", &session.0])
            .output()
            .unwrap();
        let text = stdout(&o);
        if text.contains("BUILD-EXIT-") {
            return (session, text);
        }
        assert!(
            Instant::now() < deadline,
            "{script}: did not finish; pane:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn slow_fuse_mount_says_what_it_waits_for_on_a_terminal() {
    use std::os::unix::fs::PermissionsExt;
    if !is_root() || !have("squashfuse") || !have("fuse-overlayfs") || !have("tmux") {
        eprintln!("skipped: needs root, squashfuse, fuse-overlayfs and tmux");
        return;
    }
    let dir = TmpDir::new("progress-mount");
    // a squashfuse that takes 1.5 s to start serving
    let shim = dir.join("bin");
    fs::create_dir(&shim).unwrap();
    let real = String::from_utf8(
        Command::new("sh")
            .args(["-c", "command -v squashfuse"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    fs::write(
        shim.join("squashfuse"),
        format!("#!/bin/sh\nsleep 1.5\nexec {} \"$@\"\n", real.trim()),
    )
    .unwrap();
    fs::set_permissions(shim.join("squashfuse"), fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        shim.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let image = crate::common::sif::busybox_sif();
    let mount = |bundle: &std::path::Path| {
        format!(
            "PATH={path} {SIFRUN} mount --mode fuse {} {}",
            image.display(),
            bundle.display()
        )
    };
    let umount = |bundle: &std::path::Path| {
        let o = Command::new(SIFRUN)
            .args(["umount", "--force"])
            .arg(bundle)
            .output()
            .unwrap();
        assert_ok(&o, "umount");
    };

    // not a terminal: nothing about waiting
    let bundle = dir.join("b-pipe");
    let o = Command::new("sh")
        .args(["-c", &mount(&bundle)])
        .output()
        .unwrap();
    assert_ok(&o, "mount, stderr a pipe");
    umount(&bundle);
    assert!(!stderr(&o).contains("waiting for"), "{}", stderr(&o));

    let bundle = dir.join("b-tty");
    let (_s, pane) = in_tmux(
        "progress-mount",
        &format!("{}; echo BUILD-EXIT-$?; sleep 60", mount(&bundle)),
    );
    umount(&bundle);
    assert!(pane.contains("BUILD-EXIT-0"), "{pane}");
    assert!(
        pane.contains("sifrun: waiting for squashfuse to serve "),
        "{pane}"
    );
}
