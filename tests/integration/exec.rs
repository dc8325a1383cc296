//! `sifrun exec`: exit codes, `--cwd`, `--env`, `--user`, `--cap`, `--process FILE`,
//! `--detach` with `--pid-file` (and `ps` showing the exec'd process), errors, and the
//! exec'd processes going with `delete --force`. (Host fds and cwd not reaching an
//! exec'd process: security::cves.)

use std::path::Path;
use std::time::Duration;

use crate::common::*;

#[test]
fn exec_options_and_exit_codes() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let (id, b) = rt.run_sleeper("exec");

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
