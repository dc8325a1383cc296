//! Every runc command of sifrun, driven through the built binary against real
//! busybox bundles: the behaviour engines rely on, and the error paths.

mod common;

use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::*;

fn cgroup_v1_file(controller: &str, cg: &str, file: &str) -> Option<String> {
    std::fs::read_to_string(
        Path::new("/sys/fs/cgroup")
            .join(controller)
            .join(cg)
            .join(file),
    )
    .ok()
    .map(|s| s.trim().to_string())
}

/// The cgroup (v1 `memory` hierarchy) of a host pid, from /proc/PID/cgroup.
fn memory_cgroup_of(pid: i64) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    text.lines()
        .find_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
            ctrls
                .split(',')
                .any(|c| c == "memory")
                .then(|| path.to_string())
        })
        .expect("memory cgroup")
}

#[test]
fn version_and_help() {
    let o = std::process::Command::new(SIFRUN)
        .arg("--version")
        .output()
        .unwrap();
    assert_ok(&o, "--version");
    let text = stdout(&o);
    assert!(text.starts_with("sifrun version "), "{text}");
    assert!(
        text.contains("\ncommit: ") && text.contains("\nspec: 1."),
        "{text}"
    );
    let o = std::process::Command::new(SIFRUN)
        .arg("-v")
        .output()
        .unwrap();
    assert_eq!(stdout(&o), text);
    let o = std::process::Command::new(SIFRUN)
        .arg("--help")
        .output()
        .unwrap();
    for cmd in [
        "create",
        "start",
        "state",
        "kill",
        "delete",
        "run",
        "exec",
        "list",
        "ps",
        "pause",
        "resume",
        "events",
        "update",
        "spec",
        "features",
        "checkpoint",
        "restore",
        "mount",
    ] {
        assert!(stdout(&o).contains(cmd), "--help lacks {cmd}");
    }
}

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
    let id = unique_id("killbad");
    let b = Bundle::sleeper(&id);
    assert_ok(&rt.run_detached(&id, b.path()), "run -d");
    assert_one_line_error(&rt.run(["kill", &id, "NOSUCHSIG"]), Some("signal"));
    assert_eq!(rt.status(&id).as_deref(), Some("running"));
    // --all signals every process in the cgroup.
    assert_ok(&rt.run(["exec", "-d", &id, "sleep", "1000"]), "exec -d");
    assert_ok(&rt.run(["kill", "--all", &id, "KILL"]), "kill --all");
    assert!(rt.wait_status(&id, "stopped", Duration::from_secs(5)));
    assert_ok(&rt.run(["delete", &id]), "delete");
}

#[test]
fn run_propagates_exit_codes_and_signals() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    // A child killed by a signal: the shell reports 128+N, which run must pass on.
    for (script, want) in [
        ("exit 0", 0),
        ("exit 42", 42),
        ("sh -c 'kill -KILL $$'; exit $?", 137),
    ] {
        let id = unique_id("run");
        rt.track(&id);
        let b = Bundle::new(&["sh", "-c", script]);
        let mut c = rt.cmd(["run", "--bundle"]);
        c.arg(b.path()).arg(&id);
        let o = output_with_timeout(c, Duration::from_secs(30));
        assert_eq!(o.status.code(), Some(want), "{script}: {}", stderr(&o));
        // run deletes the container afterwards.
        assert!(!rt.state_dir(&id).exists(), "{script}");
    }
    // stdio passes through, stdout and stderr kept apart.
    let id = unique_id("runio");
    rt.track(&id);
    let b = Bundle::new(&["sh", "-c", "read x; echo out:$x; echo err:$x >&2"]);
    let mut c = rt.cmd(["run", "--bundle"]);
    c.arg(b.path())
        .arg(&id)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"piped\n").unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), "out:piped\n");
    assert_eq!(stderr(&o), "err:piped\n");
}

#[test]
fn run_forwards_signals_to_the_container() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let id = unique_id("fwd");
    rt.track(&id);
    let b = Bundle::new(&[
        "sh",
        "-c",
        "trap 'echo got-usr1; exit 7' USR1; echo ready; while :; do sleep 0.05; done",
    ]);
    let mut c = rt.cmd(["run", "--bundle"]);
    c.arg(b.path()).arg(&id).stdout(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut buf = [0u8; 6];
    std::io::Read::read_exact(&mut out, &mut buf).unwrap();
    assert_eq!(&buf, b"ready\n");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGUSR1,
    )
    .unwrap();
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert_eq!(rest, "got-usr1\n");
    assert_eq!(status.code(), Some(7));
}

#[test]
fn exec_options_and_exit_codes() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let id = unique_id("exec");
    let b = Bundle::sleeper(&id);
    assert_ok(&rt.run_detached(&id, b.path()), "run -d");

    let o = rt.run(["exec", &id, "sh", "-c", "exit 4"]);
    assert_eq!(o.status.code(), Some(4));
    let o = rt.run(["exec", &id, "sh", "-c", "kill -KILL $$"]);
    assert_eq!(o.status.code(), Some(137));
    let o = rt.run([
        "exec",
        "--cwd",
        "/tmp",
        "--env",
        "FOO=bar",
        "--user",
        "1000:2000",
        &id,
        "sh",
        "-c",
        "pwd; echo $FOO; id -u; id -g",
    ]);
    assert_ok(&o, "exec with options");
    assert_eq!(stdout(&o), "/tmp\nbar\n1000\n2000\n");
    // --cap adds the capability to the process's sets.
    let eff = |o: &std::process::Output| {
        let s = stdout(o);
        u64::from_str_radix(s.trim().rsplit('\t').next().unwrap(), 16).unwrap()
    };
    let base = rt.run(["exec", &id, "grep", "CapEff", "/proc/self/status"]);
    let more = rt.run([
        "exec",
        "--cap",
        "CAP_SYS_ADMIN",
        &id,
        "grep",
        "CapEff",
        "/proc/self/status",
    ]);
    assert_eq!(eff(&base) & (1 << 21), 0);
    assert_ne!(eff(&more) & (1 << 21), 0);
    // --process FILE, -d and --pid-file, as engines use them.
    let proc_file = b.dir.join("process.json");
    std::fs::write(
        &proc_file,
        serde_json::to_vec(&serde_json::json!({
            "terminal": false, "user": {"uid": 0, "gid": 0}, "cwd": "/",
            "args": ["sh", "-c", "echo from-process-file > /dev/shm/marker; sleep 1000"],
            "env": ["PATH=/bin"]
        }))
        .unwrap(),
    )
    .unwrap();
    let pid_file = b.dir.join("exec.pid");
    let o = rt.run([
        "exec",
        "--process",
        proc_file.to_str().unwrap(),
        "--detach",
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
    ]);
    assert_ok(&o, "exec --process -d");
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    let o = rt.run(["ps", "--format", "json", &id]);
    assert_ok(&o, "ps json");
    let pids: Vec<i32> = serde_json::from_slice(&o.stdout).unwrap();
    assert!(pids.contains(&pid), "{pids:?} lacks {pid}");
    assert!(pids.len() >= 2);
    let o = rt.run(["ps", &id]);
    assert!(stdout(&o).lines().next().unwrap().contains("PID"));
    assert!(stdout(&o).contains("sleep 1000"));
    // The detached process writes the marker asynchronously: poll for it.
    let mut marker = String::new();
    for _ in 0..50 {
        marker = stdout(&rt.run(["exec", &id, "cat", "/dev/shm/marker"]));
        if !marker.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(marker, "from-process-file\n");

    assert_one_line_error(
        &rt.run(["exec", "no-such-ctr", "true"]),
        Some("does not exist"),
    );
    assert!(!rt.run(["exec", &id, "/no/such/binary"]).status.success());
    assert_ok(&rt.run(["delete", "--force", &id]), "delete --force");
    assert!(!rt.state_dir(&id).exists());
    // The exec'd process is gone (or a zombie waiting for its reaper).
    let dead = (0..40).any(|_| {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let gone = state.is_empty()
            || state
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z');
        if !gone {
            std::thread::sleep(Duration::from_millis(50));
        }
        gone
    });
    assert!(dead, "exec'd process {pid} survived delete --force");
}

#[test]
fn list_pause_resume_update_events() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let id = unique_id("lpr");
    let b = Bundle::sleeper(&id);
    b.edit(|c| {
        c["linux"]["cgroupsPath"] = format!("/sifrun-test/{id}").into();
        c["linux"]["resources"]["memory"] = serde_json::json!({"limit": 67108864});
        c["linux"]["resources"]["pids"] = serde_json::json!({"limit": 77});
    });
    assert_ok(&rt.run_detached(&id, b.path()), "run -d");
    let cg = format!("sifrun-test/{id}");
    let pid = rt.state(&id).unwrap()["pid"].as_i64().unwrap();
    assert_eq!(memory_cgroup_of(pid), format!("/{cg}"));
    assert_eq!(
        cgroup_v1_file("memory", &cg, "memory.limit_in_bytes").as_deref(),
        Some("67108864")
    );
    assert_eq!(
        cgroup_v1_file("pids", &cg, "pids.max").as_deref(),
        Some("77")
    );

    let o = rt.run(["list", "-q"]);
    assert_eq!(stdout(&o), format!("{id}\n"));
    let o = rt.run(["list", "--format", "json"]);
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["status"], "running");
    assert_eq!(list[0]["owner"], "root");
    let o = rt.run(["list"]);
    assert!(stdout(&o).starts_with("ID "));
    assert!(stdout(&o).contains(&id));

    assert_ok(&rt.run(["pause", &id]), "pause");
    assert_eq!(rt.status(&id).as_deref(), Some("paused"));
    assert_eq!(
        cgroup_v1_file("freezer", &cg, "freezer.state").as_deref(),
        Some("FROZEN")
    );
    assert_ok(&rt.run(["resume", &id]), "resume");
    assert_eq!(rt.status(&id).as_deref(), Some("running"));
    assert_eq!(
        cgroup_v1_file("freezer", &cg, "freezer.state").as_deref(),
        Some("THAWED")
    );
    assert!(!rt.run(["resume", &id]).status.success());

    // update: flags and a resources file, and `-` for stdin as containerd sends it.
    assert_ok(
        &rt.run(["update", "--memory", "33554432", &id]),
        "update --memory",
    );
    assert_eq!(
        cgroup_v1_file("memory", &cg, "memory.limit_in_bytes").as_deref(),
        Some("33554432")
    );
    let res = b.dir.join("res.json");
    std::fs::write(&res, r#"{"pids":{"limit":55}}"#).unwrap();
    assert_ok(
        &rt.run(["update", "--resources", res.to_str().unwrap(), &id]),
        "update -r",
    );
    assert_eq!(
        cgroup_v1_file("pids", &cg, "pids.max").as_deref(),
        Some("55")
    );
    let mut c = rt.cmd(["update", "--resources", "-", &id]);
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"pids":{"limit":44}}"#)
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(
        cgroup_v1_file("pids", &cg, "pids.max").as_deref(),
        Some("44")
    );
    std::fs::write(&res, "{not json").unwrap();
    assert_one_line_error(
        &rt.run(["update", "-r", res.to_str().unwrap(), &id]),
        Some("invalid"),
    );

    // events --stats prints one runc event line with the memory usage.
    let o = rt.run(["events", "--stats", &id]);
    assert_ok(&o, "events --stats");
    assert_eq!(stdout(&o).lines().count(), 1, "{}", stdout(&o));
    let ev: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(ev["type"], "stats", "{ev}");
    assert!(ev["data"]["memory"]["memory"]["usage"].is_u64(), "{ev}");

    assert_ok(&rt.run(["delete", "--force", &id]), "delete --force");
    assert!(
        !Path::new("/sys/fs/cgroup/memory").join(&cg).exists(),
        "cgroup left behind"
    );
    assert_eq!(stdout(&rt.run(["list", "-q"])), "");
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

fn recv_fd(sock: i32) -> std::os::fd::OwnedFd {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    use std::os::fd::FromRawFd;
    let mut buf = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(sock, &mut iov, Some(&mut cmsg), MsgFlags::empty()).unwrap();
    for c in msg.cmsgs().unwrap() {
        if let ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: the kernel installed this fd for us.
            return unsafe { std::os::fd::OwnedFd::from_raw_fd(fds[0]) };
        }
    }
    panic!("no fd received");
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
fn log_file_json_and_text_formats() {
    let rt = Runtime::new();
    let log = rt.root.join("log.json");
    let o = rt.run([
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "state",
        "missing-one",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o).lines().count(), 1);
    let text = std::fs::read_to_string(&log).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "error");
    assert!(last["msg"].as_str().unwrap().contains("does not exist"));
    assert!(last["time"].as_str().is_some());
    let log = rt.root.join("log.txt");
    let o = rt.run([
        "--log",
        log.to_str().unwrap(),
        "kill",
        "missing-one",
        "KILL",
    ]);
    assert!(!o.status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.starts_with("time=\"") && text.contains("level=error msg="),
        "{text}"
    );
}

#[test]
fn spec_and_features() {
    let dir = TmpDir::new("spec");
    let o = std::process::Command::new(SIFRUN)
        .args(["spec", "--bundle"])
        .arg(&dir.path)
        .output()
        .unwrap();
    assert_ok(&o, "spec");
    let c: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(c["process"]["args"], serde_json::json!(["sh"]));
    assert_eq!(c["process"]["terminal"], true);
    assert_eq!(c["root"]["path"], "rootfs");
    assert!(c["linux"]["maskedPaths"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p == "/proc/kcore"));
    // Refuses to overwrite.
    let o = std::process::Command::new(SIFRUN)
        .args(["spec", "--bundle"])
        .arg(&dir.path)
        .output()
        .unwrap();
    assert_one_line_error(&o, Some("exists"));
    let dir2 = TmpDir::new("spec-rl");
    let o = std::process::Command::new(SIFRUN)
        .args(["spec", "--rootless", "--bundle"])
        .arg(&dir2.path)
        .output()
        .unwrap();
    assert_ok(&o, "spec --rootless");
    let c: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir2.join("config.json")).unwrap()).unwrap();
    let ns: Vec<&str> = c["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    assert!(ns.contains(&"user") && !ns.contains(&"network"), "{ns:?}");
    assert!(c["linux"]["uidMappings"][0]["hostID"].is_number());

    let o = std::process::Command::new(SIFRUN)
        .arg("features")
        .output()
        .unwrap();
    assert_ok(&o, "features");
    let f: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(f["ociVersionMax"].as_str().unwrap().starts_with("1."));
    assert!(f["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h == "createRuntime"));
    assert!(f["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n == "user"));
    assert_eq!(f["linux"]["seccomp"]["enabled"], true);
}

#[test]
fn checkpoint_and_restore_fail_clearly_without_support() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let id = unique_id("ckpt");
    let b = Bundle::sleeper(&id);
    assert_ok(&rt.run_detached(&id, b.path()), "run -d");
    let o = rt.run(["--criu", "/nonexistent/criu", "checkpoint", &id]);
    assert_one_line_error(&o, Some("criu"));
    assert_eq!(rt.status(&id).as_deref(), Some("running"));
    let o = rt.run([
        "restore",
        "--bundle",
        b.path().to_str().unwrap(),
        &unique_id("rst"),
    ]);
    assert_one_line_error(&o, Some("restore"));
}

/// What podman sends for `--read-only` / `--tmpfs`: tmpfs mounts with runc's
/// `tmpcopyup` extension over directories that hold files, under a read-only root;
/// and what containerd sends for an image WorkingDir the rootfs lacks: a cwd that must
/// be created.
#[test]
fn tmpcopyup_and_missing_cwd_are_handled_like_runc() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let id = unique_id("copyup");
    rt.track(&id);
    let b = Bundle::new(&[
        "sh",
        "-c",
        "pwd; cat /data/file; readlink /data/link; \
         stat -c '%a %u' /data /data/sub/x; touch /data/new && echo writable; \
         grep -c ' /data .* - tmpfs ' /proc/self/mountinfo",
    ]);
    let data = b.rootfs().join("data");
    std::fs::create_dir_all(data.join("sub")).unwrap();
    std::fs::write(data.join("file"), "from-image\n").unwrap();
    std::fs::write(data.join("sub/x"), "").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", data.join("link")).unwrap();
    std::os::unix::fs::chown(data.join("sub/x"), Some(1234), Some(1234)).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(data.join("sub/x"), std::fs::Permissions::from_mode(0o640)).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o1777)).unwrap();
    b.edit(|c| {
        c["root"]["readonly"] = true.into();
        c["process"]["cwd"] = "/work/dir".into();
        c["mounts"].as_array_mut().unwrap().push(serde_json::json!({
            "destination": "/data", "type": "tmpfs", "source": "tmpfs",
            "options": ["rw", "rprivate", "nosuid", "nodev", "tmpcopyup"]
        }));
    });
    let mut c = rt.cmd(["run", "--bundle"]);
    c.arg(b.path()).arg(&id);
    let o = output_with_timeout(c, Duration::from_secs(30));
    assert_ok(&o, "run with tmpcopyup");
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "/work/dir", "{out}");
    assert_eq!(lines[1], "from-image", "{out}");
    assert_eq!(lines[2], "/etc/passwd", "{out}");
    assert_eq!(lines[3], "1777 0", "{out}");
    assert_eq!(lines[4], "640 1234", "{out}");
    assert_eq!(lines[5], "writable", "{out}");
    assert_eq!(lines[6], "1", "{out}");
    // The copy went to the tmpfs: the image's directory is untouched.
    assert!(!data.join("new").exists());
    // The missing cwd was created in the rootfs, as runc does.
    assert!(b.rootfs().join("work/dir").is_dir());
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

/// Watchdog: `events` without `--stats` streams one runc-style JSON line per interval
/// and exits 0 once the container is gone; it used to print forever.
#[test]
fn events_streams_and_ends_with_the_container() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let id = unique_id("events");
    let b = Bundle::sleeper(&id);
    assert_ok(&rt.run_detached(&id, b.path()), "run -d");
    let out = b.dir.join("events.out");
    let mut c = rt.cmd(["events", "--interval", "1", &id]);
    c.stdout(std::fs::File::create(&out).unwrap());
    let mut events = c.spawn().unwrap();
    // Two intervals' worth of lines, then the container goes away.
    let t = std::time::Instant::now();
    while std::fs::read_to_string(&out).unwrap().lines().count() < 2 {
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "events printed < 2 lines"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_ok(&rt.delete_force(&id), "delete --force");
    let t = std::time::Instant::now();
    let status = loop {
        if let Some(s) = events.try_wait().unwrap() {
            break s;
        }
        if t.elapsed() > Duration::from_secs(15) {
            let _ = events.kill();
            let _ = events.wait();
            panic!("events did not exit after the container was deleted");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "events exited with {status}");
    for line in std::fs::read_to_string(&out).unwrap().lines() {
        let ev: serde_json::Value = serde_json::from_str(line).expect(line);
        assert_eq!(ev["type"], "stats", "{line}");
        assert_eq!(ev["id"], id.as_str(), "{line}");
        assert!(ev["data"]["memory"].is_object(), "{line}");
    }
    // And on a container that no longer exists: an error, at once.
    let o = rt.run(["events", &id]);
    assert_one_line_error(&o, Some("does not exist"));
}
