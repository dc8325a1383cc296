//! A container's life: `create`, `start`, `state`, `kill`, `delete` (runc's
//! create.bats, start.bats, state.bats, kill.bats, delete.bats): the state JSON, what
//! is refused in which state, signals by name and number, `kill --all`,
//! `create --console-socket` (the pty master goes to the socket), `create`/`run` into a
//! frozen cgroup, and one-line errors that leave nothing behind (bad ids, duplicate
//! ids, missing or broken bundles, a failing hook, bad flags).

use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::Duration;

use crate::common::*;

#[test]
fn create_start_state_kill_delete_lifecycle() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let id = unique_id("life");
    let b = Bundle::new(&[
        "sh",
        "-c",
        "trap 'exit 9' TERM; echo started; while :; do sleep 0.05; done",
    ]);
    let pid_file = b.dir.join("pid");
    rt.track(&id);
    let out_file = b.dir.join("stdout");
    let mut c = rt.cmd(["create", "--pid-file"]);
    c.arg(&pid_file).arg("--bundle").arg(b.path()).arg(&id);
    c.stdout(std::fs::File::create(&out_file).unwrap());
    // The container's stdout is this file, so wait on the status, not on output.
    assert!(c.status().unwrap().success(), "create");

    let st = rt.state(&id).expect("state after create");
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], id.as_str());
    let pid = st["pid"].as_i64().unwrap();
    assert!(pid > 0);
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap().trim(),
        pid.to_string()
    );
    assert_eq!(st["bundle"], b.path().to_str().unwrap());
    assert_eq!(st["rootfs"], b.rootfs().to_str().unwrap());
    assert!(st["ociVersion"].as_str().unwrap().starts_with("1."));
    assert!(st["created"].as_str().unwrap().contains('T'));
    assert!(st.get("owner").is_some());
    // The user process must not run before start.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), "");

    assert_ok(&rt.run(["start", &id]), "start");
    assert!(rt.wait_status(&id, "running", Duration::from_secs(5)));
    // start twice is an error: the container is no longer "created".
    assert!(!rt.run(["start", &id]).status.success());
    // Deleting a running container needs --force.
    let o = rt.run(["delete", &id]);
    assert!(!o.status.success());
    assert_eq!(rt.status(&id).as_deref(), Some("running"));

    assert_ok(&rt.run(["kill", &id, "TERM"]), "kill TERM");
    assert!(rt.wait_status(&id, "stopped", Duration::from_secs(5)));
    let st = rt.state(&id).unwrap();
    assert_eq!(st["pid"], 0);
    assert!(std::fs::read_to_string(&out_file)
        .unwrap()
        .contains("started"));
    // Killing a stopped container fails like runc.
    assert!(!rt.run(["kill", &id, "KILL"]).status.success());

    assert_ok(&rt.run(["delete", &id]), "delete");
    assert!(!rt.state_dir(&id).exists());
    let o = rt.run(["state", &id]);
    assert_one_line_error(&o, Some("does not exist"));
}

#[test]
fn kill_accepts_names_numbers_and_default_term() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    for sig in ["KILL", "SIGKILL", "9", "USR1", ""] {
        let id = unique_id("kill");
        // PID 1 of a pid namespace ignores signals it has no handler for: trap them.
        let b = Bundle::new(&[
            "sh",
            "-c",
            "trap 'exit 1' USR1 TERM; while :; do sleep 0.05; done",
        ]);
        assert_ok(&rt.run_detached(&id, b.path()), "run -d");
        let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
        let status_file = format!("/proc/{pid}/status");
        let o = if sig.is_empty() {
            rt.run(["kill", &id])
        } else {
            rt.run(["kill", &id, sig])
        };
        assert_ok(&o, "kill");
        assert!(
            rt.wait_status(&id, "stopped", Duration::from_secs(5)),
            "{sig}"
        );
        assert!(!Path::new(&status_file).exists() || rt.status(&id).as_deref() == Some("stopped"));
        assert_ok(&rt.run(["delete", &id]), "delete");
    }
    let o = rt.run(["kill", "nope-such-id", "KILL"]);
    assert_one_line_error(&o, Some("does not exist"));
    let (id, _b) = rt.run_sleeper("killbad");
    assert_one_line_error(&rt.run(["kill", &id, "NOSUCHSIG"]), Some("signal"));
    assert_eq!(rt.status(&id).as_deref(), Some("running"));
    // --all signals every process in the cgroup.
    assert_ok(&rt.run(["exec", "-d", &id, "sleep", "1000"]), "exec -d");
    assert_ok(&rt.run(["kill", "--all", &id, "KILL"]), "kill --all");
    assert!(rt.wait_status(&id, "stopped", Duration::from_secs(5)));
    assert_ok(&rt.run(["delete", &id]), "delete");
}

#[test]
fn errors_are_one_line_and_leave_nothing() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::sleeper("errs");
    for bad in ["../x", "a/b", "/", ".."] {
        let o = rt.create(bad, b.path());
        assert_one_line_error(&o, Some("invalid container id"));
    }
    let o = rt.run(["create", "--bundle", b.path().to_str().unwrap(), ""]);
    assert!(!o.status.success());

    // Duplicate id.
    let id = unique_id("dup");
    assert_ok(&rt.create(&id, b.path()), "create");
    assert_one_line_error(&rt.create(&id, b.path()), Some("already exists"));
    assert_eq!(rt.status(&id).as_deref(), Some("created"));
    assert_ok(&rt.run(["delete", &id]), "delete created");

    // Missing bundle, missing or malformed config, missing rootfs.
    let missing = TmpDir::new("nobundle");
    let id = unique_id("bad");
    assert_one_line_error(
        &rt.create(&id, &missing.join("nope")),
        Some("not accessible"),
    );
    assert_one_line_error(&rt.create(&id, &missing.path), Some("config.json"));
    std::fs::write(missing.join("config.json"), "{\"ociVersion\": ").unwrap();
    assert_one_line_error(&rt.create(&id, &missing.path), Some("invalid"));
    std::fs::copy(b.dir.join("config.json"), missing.join("config.json")).unwrap();
    assert_one_line_error(&rt.create(&id, &missing.path), Some("rootfs"));
    std::os::unix::fs::symlink(b.rootfs(), missing.join("rootfs")).unwrap();
    assert_one_line_error(&rt.create(&id, &missing.path), Some("symlink"));

    // A config that libcontainer rejects late (a hook that fails) leaves no state.
    let late = Bundle::sleeper("late");
    late.edit(|c| {
        c["hooks"] = serde_json::json!({"createRuntime": [{"path": "/bin/false"}]});
    });
    let id2 = unique_id("late");
    assert_one_line_error(&rt.create(&id2, late.path()), None);
    assert!(!rt.state_dir(&id2).exists());

    // Nothing but the (empty) root is left.
    let left: Vec<_> = std::fs::read_dir(&rt.root.path)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "left in --root: {left:?}");

    // Bad flags and unknown commands exit non-zero.
    assert!(!rt.run(["create", "--no-such-flag", "x"]).status.success());
    assert!(!rt.run(["frobnicate"]).status.success());
    assert!(!rt.run(["--log-format", "xml", "list"]).status.success());
    // delete --force of an unknown container succeeds (containerd's cleanup).
    assert_ok(
        &rt.run(["delete", "--force", "never-existed"]),
        "delete -f unknown",
    );
    assert_one_line_error(&rt.run(["delete", "never-existed"]), Some("does not exist"));
}

#[test]
fn console_socket_receives_the_pty_master() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let id = unique_id("tty");
    let b = Bundle::new(&[
        "sh",
        "-c",
        "tty; [ -t 0 ] && [ -t 1 ] && echo both-tty; exit 5",
    ]);
    b.edit(|c| c["process"]["terminal"] = true.into());
    let sock_path = b.dir.join("console.sock");
    let listener = UnixListener::bind(&sock_path).unwrap();
    let receiver = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        recv_fd(stream.as_raw_fd())
    });
    rt.track(&id);
    let mut c = rt.cmd(["create", "--console-socket"]);
    c.arg(&sock_path).arg("--bundle").arg(b.path()).arg(&id);
    assert_ok(
        &output_with_timeout(c, Duration::from_secs(30)),
        "create with console",
    );
    let master = receiver.join().unwrap();
    assert_ok(&rt.run(["start", &id]), "start");
    let mut f = std::fs::File::from(master);
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    // Read until EIO (slave closed).
    while let Ok(n) = std::io::Read::read(&mut f, &mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("/dev/pts/"), "{text}");
    assert!(text.contains("both-tty"), "{text}");
    assert!(rt.wait_status(&id, "stopped", Duration::from_secs(5)));
    assert_ok(&rt.run(["delete", &id]), "delete");

    // terminal: true without a console socket is refused by create, cleanly.
    let id2 = unique_id("tty-nosock");
    let o = rt.create(&id2, b.path());
    assert_one_line_error(&o, None);
    assert!(!rt.state_dir(&id2).exists());
}

/// A v1 freezer cgroup left FROZEN by someone else; thawed and removed on drop.
struct FrozenCgroup(std::path::PathBuf);

impl FrozenCgroup {
    fn new(name: &str) -> Option<Self> {
        let dir = Path::new("/sys/fs/cgroup/freezer").join(name);
        std::fs::create_dir(&dir).ok()?;
        let cg = FrozenCgroup(dir);
        std::fs::write(cg.0.join("freezer.state"), "FROZEN").ok()?;
        Some(cg)
    }
}

impl Drop for FrozenCgroup {
    fn drop(&mut self) {
        let _ = std::fs::write(self.0.join("freezer.state"), "THAWED");
        for _ in 0..50 {
            if std::fs::remove_dir(&self.0).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Watchdog: `run -d` and `create` into a frozen cgroup used to block forever (and
/// with them whoever read their output). They refuse, as runc 1.1 does, and leave no
/// container and the cgroup as it was.
#[test]
fn frozen_cgroup_is_refused_not_hung() {
    if !require_root() {
        return;
    }
    let id = unique_id("frozen");
    let Some(cg) = FrozenCgroup::new(&id) else {
        eprintln!("skipped: no cgroup v1 freezer hierarchy");
        return;
    };
    let rt = Runtime::new();
    let b = Bundle::sleeper(&id);
    b.edit(|c| c["linux"]["cgroupsPath"] = format!("/{id}").into());
    for cmd in ["run", "create"] {
        rt.track(&id);
        let mut c = rt.cmd([cmd]);
        if cmd == "run" {
            c.arg("-d");
        }
        c.arg("--bundle").arg(b.path()).arg(&id);
        let o = output_with_timeout(c, Duration::from_secs(20));
        assert!(
            o.status.code().is_some(),
            "{cmd} into a frozen cgroup hung (killed by the watchdog after 20 s)"
        );
        assert_one_line_error(&o, Some("frozen"));
        assert!(rt.state(&id).is_none(), "{cmd} left container {id} behind");
        assert_eq!(
            std::fs::read_to_string(cg.0.join("freezer.state"))
                .unwrap()
                .trim(),
            "FROZEN"
        );
    }
}

/// A failing hook is named by its kind and its index in the list, as runc 1.2+ says
/// it (`error running prestart hook #1: ...`), on one line.
#[test]
fn failing_hooks_are_named_by_kind_and_index() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    for kind in ["prestart", "createRuntime", "poststart"] {
        let id = unique_id("hookfail");
        rt.track(&id);
        let b = Bundle::new(&["true"]);
        b.edit(|c| {
            c["hooks"] = serde_json::json!({kind: [{"path": "/bin/true"}, {"path": "/bin/false"}]});
        });
        let mut c = rt.cmd(["run", "--bundle"]);
        c.arg(b.path()).arg(&id);
        let o = output_with_timeout(c, Duration::from_secs(30));
        assert!(!o.status.success(), "{kind}: run succeeded");
        assert_one_line_error(&o, Some(&format!("error running {kind} hook #1: ")));
        let _ = rt.delete_force(&id);
    }
}
