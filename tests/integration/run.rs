//! `sifrun run` in the foreground: exit codes (also of a process killed by a signal),
//! stdio passed through with stdout and stderr apart, signals forwarded to the
//! container, and what podman and containerd send in config.json for `--read-only`,
//! `--tmpfs` and an image WorkingDir (tmpfs `tmpcopyup`, a cwd to create).
//! (`run -d`: used throughout, e.g. lifecycle, exec; `run` of a mounted SIF:
//! mount_umount, sif.)

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use crate::common::*;

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
    let (_id, _b, mut child) = spawn_piped(&rt, "runio", "read x; echo out:$x; echo err:$x >&2");
    child.stdin.take().unwrap().write_all(b"piped\n").unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), "out:piped\n");
    assert_eq!(stderr(&o), "err:piped\n");
}

/// A foreground `run` of `sh -c SCRIPT` with all three stdio piped.
fn spawn_piped(rt: &Runtime, tag: &str, script: &str) -> (String, Bundle, std::process::Child) {
    let id = unique_id(tag);
    rt.track(&id);
    let b = Bundle::new(&["sh", "-c", script]);
    let mut c = rt.cmd(["run", "--bundle"]);
    c.arg(b.path())
        .arg(&id)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = c.spawn().unwrap();
    (id, b, child)
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

/// `process.terminal` with stdin a terminal and stdout a pipe: the output arrives as
/// the process wrote it ("\n", not "\r\n"), because the runtime clears ONLCR on the
/// container's pty, as runc does.
#[test]
fn run_with_a_terminal_keeps_newlines_when_stdout_is_a_pipe() {
    use std::os::fd::OwnedFd;
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let id = unique_id("runtty");
    rt.track(&id);
    let b = Bundle::new(&[
        "sh",
        "-c",
        "echo line1; echo line2; [ -t 1 ] && echo on-a-tty",
    ]);
    b.edit(|c| c["process"]["terminal"] = true.into());
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let slave: OwnedFd = pty.slave;
    let mut c = rt.cmd(["run", "--bundle"]);
    c.arg(b.path())
        .arg(&id)
        .stdin(Stdio::from(slave))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let o = output_with_timeout(c, Duration::from_secs(30));
    drop(pty.master);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "line1\nline2\non-a-tty\n");
}

/// The container of a foreground `run` ends while another command (a `kill --all`
/// from a clean-up, an `update`) holds its state lock and writes its state, as `kill`
/// does when it records "stopped": `run` waits for it before deleting, so the delete
/// neither fails with "Directory not empty" nor leaves anything behind.
#[test]
fn run_deletes_after_a_concurrent_writer() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let (id, _b, mut child) = spawn_piped(&rt, "runlock", "read x; exit 0");
    assert!(rt.wait_status(&id, "running", Duration::from_secs(20)));
    let dir = rt.state_dir(&id);
    // What `kill` holds while it signals and saves state.json.
    let lock = std::fs::File::open(&dir).unwrap();
    lock.lock().unwrap();
    drop(child.stdin.take());
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        child.try_wait().unwrap().is_none(),
        "run deleted the container while another command held its lock"
    );
    // kill's save: a temporary file renamed over state.json.
    let tmp = dir.join(".state.json.tmp-writer");
    std::fs::copy(dir.join("state.json"), &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("state.json")).unwrap();
    drop(lock);
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stderr(&o), "");
    assert!(!dir.exists(), "state left behind");
}
