//! The `sifrun oci …` commands (singularity's `oci` interface):
//!
//! * `oci run --image`: one step from SIF to exit code, leaving no mounts, loop devices
//!   or state, also on SIGTERM;
//! * the monitor with pipes (no terminal): stdout/stderr, stdin, exit code in state and
//!   log, kill/exec/pause/resume/delete over the same container;
//! * the hand-driven lifecycle in a real terminal (tmux): create a busybox shell with a
//!   terminal, start, attach, type, detach with Ctrl-P Ctrl-Q, re-attach, exit, delete,
//!   umount.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::oci::{can_run, Scratch};
use crate::common::sif::busybox_sif_copy;
use crate::common::{loop_devices_of, SIFRUN};

fn assert_nothing_left(s: &Scratch, image: &Path, id: &str) {
    assert_eq!(s.mounts(), Vec::<std::path::PathBuf>::new(), "mounts left");
    assert_eq!(
        loop_devices_of(image),
        Vec::<String>::new(),
        "loop devices left"
    );
    assert!(!s.root.join(id).exists(), "container state left");
    assert!(!s.root.join(".oci").join(id).exists(), "oci state left");
    assert!(!s.run(&["oci", "state", id]).status.success());
}

#[test]
fn run_image_prints_and_exits_with_the_container_code() {
    if !can_run("oci run --image") {
        return;
    }
    let mut s = Scratch::new("runimg");
    let image = busybox_sif_copy(&s.dir.path);
    let img = image.to_str().unwrap();
    let id = s.id("t1");

    let out = s.run(&["oci", "run", "--image", img, &id, "--", "echo", "hello"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello\n");
    assert_nothing_left(&s, &image, &id);

    let out = s.run(&[
        "oci", "run", "--image", img, &id, "--", "sh", "-c", "exit 7",
    ]);
    assert_eq!(
        out.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_nothing_left(&s, &image, &id);
}

/// SIGTERM to `oci run`: the container's pid 1 ignores it (no handler), so it is
/// killed after the grace period, and everything is still cleaned up.
#[test]
fn run_image_cleans_up_on_sigterm() {
    if !can_run("oci run --image SIGTERM") {
        return;
    }
    let mut s = Scratch::new("runterm");
    let image = busybox_sif_copy(&s.dir.path);
    let id = s.id("term");
    let mut child = Command::new(SIFRUN)
        .arg("--root")
        .arg(&s.root)
        .args(["oci", "run", "--image"])
        .arg(&image)
        .args([id.as_str(), "--", "sh", "-c", "echo up; exec sleep 100"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(s.dir.join("oci-run.err")).unwrap())
        .spawn()
        .unwrap();
    // Running once its output arrives.
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 3];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    assert_eq!(&first, b"up\n");
    let started = Instant::now();
    // SAFETY: plain kill(2) of our child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert!(started.elapsed() < Duration::from_secs(20));
    let err = std::fs::read_to_string(s.dir.join("oci-run.err")).unwrap_or_default();
    assert_eq!(
        status.code(),
        Some(137),
        "killed after the grace period; stderr: {err}"
    );
    assert_nothing_left(&s, &image, &id);
}

/// No terminal: the monitor holds pipes. Output before attach is replayed, stdin
/// reaches the process, stdout and stderr stay apart, the exit code is kept.
#[test]
fn create_attach_with_pipes_and_the_other_commands() {
    if !can_run("oci create (pipes)") {
        return;
    }
    let mut s = Scratch::new("pipes");
    let id = s.id("pipes");
    s.mount(|p| {
        p["terminal"] = false.into();
        p["args"] = serde_json::json!([
            "sh",
            "-c",
            "echo out; echo err >&2; read line; echo got $line; exit 3"
        ]);
    });
    let bundle = s.bundle();
    let pid_file = s.dir.join("pid");
    s.ok(&[
        "oci",
        "create",
        "-b",
        bundle.to_str().unwrap(),
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ]);
    let state = s.state(&id);
    assert_eq!(state["status"], "created");
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap().trim(),
        state["pid"].to_string()
    );
    // exec works in a created container too, as with runc; its init still waits.
    assert_eq!(
        s.ok(&["oci", "exec", &id, "echo", "in-created"]),
        "in-created\n"
    );
    assert_eq!(s.state(&id)["status"], "created");
    s.ok(&["oci", "start", &id]);
    assert_eq!(
        s.ok(&["oci", "exec", &id, "echo", "from-exec"]),
        "from-exec\n"
    );
    s.ok(&["oci", "pause", &id]);
    assert_eq!(s.state(&id)["status"], "paused");
    s.ok(&["oci", "resume", &id]);
    assert_eq!(s.state(&id)["status"], "running");

    let mut attach = Command::new(SIFRUN)
        .arg("--root")
        .arg(&s.root)
        .args(["oci", "attach", &id])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    attach.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    let out = attach.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "attach: {} / {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\ngot hello\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");

    let state = s.state(&id);
    assert_eq!(state["status"], "stopped");
    assert_eq!(state["annotations"]["sifrun.oci.exit-code"], "3");
    let log = s.ok(&["oci", "logs", "--raw", &id]);
    let lines: Vec<&str> = log.lines().collect();
    for want in [" stdout F out", " stderr F err", " stdout F got hello"] {
        assert!(
            lines.iter().any(|l| l.ends_with(want)),
            "{want:?} not in:\n{log}"
        );
    }
    assert!(
        lines.last().unwrap().ends_with("exited with status 3"),
        "{log}"
    );
    let attach_late = s.run(&["oci", "attach", &id]);
    assert!(!attach_late.status.success());
    assert!(String::from_utf8_lossy(&attach_late.stderr).contains("exited with status 3"));

    s.ok(&["oci", "delete", &id]);
    s.ok(&["oci", "umount", bundle.to_str().unwrap()]);
    assert_eq!(s.mounts(), Vec::<std::path::PathBuf>::new());
    assert!(!s.root.join(".oci").exists());
}

/// `oci kill` flags as singularity's: positional SIG wins over -s, -f is SIGKILL.
#[test]
fn kill_flags_and_delete_force() {
    if !can_run("oci kill") {
        return;
    }
    let mut s = Scratch::new("kill");
    let id = s.id("kill");
    s.mount(|p| {
        p["terminal"] = false.into();
        p["args"] = serde_json::json!([
            "sh",
            "-c",
            "trap 'exit 42' USR1; while :; do sleep 0.1; done"
        ]);
    });
    let bundle = s.bundle();
    s.ok(&["oci", "create", "-b", bundle.to_str().unwrap(), &id]);
    // A second create of the id fails and leaves the first one's monitor alone.
    let again = s.run(&["oci", "create", "-b", bundle.to_str().unwrap(), &id]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert!(s.root.join(".oci").join(&id).join("attach").exists());
    s.ok(&["oci", "start", &id]);
    // Give the shell time to install its trap.
    std::thread::sleep(Duration::from_millis(500));
    s.ok(&["oci", "kill", "-s", "KILL", &id, "USR1"]);
    wait_exit_code(&s, &id, "42");
    s.ok(&["oci", "delete", &id]);

    s.ok(&["oci", "create", "-b", bundle.to_str().unwrap(), &id]);
    s.ok(&["oci", "start", &id]);
    s.ok(&["oci", "kill", "-f", &id]);
    wait_exit_code(&s, &id, "137");
    s.ok(&["oci", "delete", &id]);

    // delete --force of a running container.
    s.ok(&["oci", "create", "-b", bundle.to_str().unwrap(), &id]);
    s.ok(&["oci", "start", &id]);
    s.ok(&["oci", "delete", "--force", &id]);
    assert!(!s.root.join(".oci").exists());
    s.ok(&["oci", "umount", bundle.to_str().unwrap()]);
}

fn wait_exit_code(s: &Scratch, id: &str, code: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let state = s.state(id);
        if state["annotations"]["sifrun.oci.exit-code"] == code {
            assert_eq!(state["status"], "stopped");
            return;
        }
        assert!(Instant::now() < deadline, "no exit code {code}: {state}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

// ---------------------------------------------------------------------------------
// oci attach in a terminal (tmux)

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "tmux {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn pane(session: &str) -> String {
    tmux(&["capture-pane", "-p", "-J", "-S", "-200", "-t", session])
}

/// Waits until the pane satisfies `pred`; fails with the pane's text after 15 s.
fn wait_pane(session: &str, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = pane(session);
        if pred(&text) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; pane:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn has_line(text: &str, line: &str) -> bool {
    text.lines().any(|l| l.trim_end() == line)
}

fn count(text: &str, needle: &str) -> usize {
    text.matches(needle).count()
}

#[test]
fn attach_detach_reattach_exit_in_tmux() {
    if !can_run("tmux lifecycle") {
        return;
    }
    if !crate::common::have("tmux") {
        eprintln!("skipped: no tmux");
        return;
    }
    let mut s = Scratch::new("tmux");
    let id = s.id("tty");
    let session = crate::common::unique_id("sifrun-oci");
    s.sessions.push(session.clone());

    // A shell with a terminal that says something before anyone attaches.
    s.mount(|p| {
        p["terminal"] = true.into();
        p["args"] = serde_json::json!(["sh", "-c", "echo before-attach; exec sh"]);
    });
    let bundle = s.bundle();
    s.ok(&["oci", "create", "-b", bundle.to_str().unwrap(), &id]);
    assert_eq!(s.state(&id)["status"], "created");
    s.ok(&["oci", "start", &id]);

    tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "160",
        "-y",
        "40",
        "env -i PATH=/usr/bin:/bin TERM=xterm PS1='host$ ' bash --norc --noprofile",
    ]);
    wait_pane(&session, "the host shell", |t| t.contains("host$"));
    let attach = format!(
        "{} --root {} oci attach {id}; echo ATTACH-RC=$?",
        SIFRUN,
        s.root.display()
    );
    tmux(&["send-keys", "-t", &session, &attach, "Enter"]);
    // Output from before the attach is replayed.
    wait_pane(&session, "replayed output", |t| {
        has_line(t, "before-attach")
    });
    tmux(&["send-keys", "-t", &session, "echo hi", "Enter"]);
    wait_pane(&session, "hi", |t| has_line(t, "hi"));

    tmux(&["send-keys", "-t", &session, "C-p", "C-q"]);
    wait_pane(&session, "detach", |t| t.contains("ATTACH-RC=0"));
    assert_eq!(s.state(&id)["status"], "running");

    tmux(&["send-keys", "-t", &session, &attach, "Enter"]);
    // Attached when our input reaches the container's shell.
    tmux(&["send-keys", "-t", &session, "echo again", "Enter"]);
    wait_pane(&session, "second attach", |t| has_line(t, "again"));
    tmux(&["send-keys", "-t", &session, "exit", "Enter"]);
    wait_pane(&session, "exit", |t| count(t, "ATTACH-RC=0") == 2);

    let state = s.state(&id);
    assert_eq!(state["status"], "stopped");
    assert_eq!(state["annotations"]["sifrun.oci.exit-code"], "0");
    let log = s.ok(&["oci", "logs", "--raw", &id]);
    assert!(
        log.lines().any(|l| l.contains(" stdout F hi")),
        "log:\n{log}"
    );
    assert!(
        log.lines().last().unwrap().contains("exited with status 0"),
        "log:\n{log}"
    );

    s.ok(&["oci", "delete", &id]);
    assert!(!s.run(&["oci", "state", &id]).status.success());
    s.ok(&["oci", "umount", bundle.to_str().unwrap()]);
    assert!(!bundle.exists());
    assert_eq!(s.mounts(), Vec::<std::path::PathBuf>::new());
    assert!(!s.root.join(".oci").exists());
    assert!(!s.root.join(&id).exists());
}
