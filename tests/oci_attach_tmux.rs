//! The hand-driven `sifrun oci` lifecycle in a real terminal (tmux): mount, create a
//! busybox shell with a terminal, start, attach, type, detach with Ctrl-P Ctrl-Q,
//! re-attach, exit, delete, umount.

mod oci_common;

use std::process::Command;
use std::time::{Duration, Instant};

use oci_common::{can_run, sifrun, Scratch};

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
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("skipped: no tmux");
        return;
    }
    let mut s = Scratch::new("tmux");
    let id = s.id("tty");
    let session = format!("sifrun-oci-{}", std::process::id());
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
        sifrun().display(),
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
    assert_eq!(s.mounts(), Vec::<String>::new());
    assert!(!s.root.join(".oci").exists());
    assert!(!s.root.join(&id).exists());
}
