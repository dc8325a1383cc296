//! Regression tests for known container-runtime CVEs and the isolation they broke:
//!
//! * CVE-2019-5736: a container process cannot overwrite the host's sifrun binary
//!   through /proc/PID/exe (processes sifrun spawns run from a read-only overlayfs or
//!   a sealed memfd).
//! * CVE-2024-21626: no host file descriptor and no host cwd reach the container
//!   process (create/start, run, exec; also with fds the caller leaked).
//! * CVE-2019-16884 / CVE-2019-19921 / CVE-2023-27561: nothing gets mounted over
//!   /proc through symlinks in the rootfs, and a rootfs whose /proc is a symlink does
//!   not make sifrun mount procfs on the host.
//! * CVE-2025-52565 / CVE-2025-52881 / CVE-2026-41579: the /dev/console mount, a
//!   sysctl write and the /dev links are not redirected by symlinks or mounts the
//!   container controls.
//! * Masked paths are masked, read-only paths and /sys are read-only.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::Duration;

use crate::common::*;

fn host_binary() -> Vec<u8> {
    std::fs::read(SIFRUN).expect("read the sifrun binary")
}

fn write_script(rootfs: &Path, name: &str, text: &str) {
    let p = rootfs.join(name);
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn pid_of(rt: &Runtime, id: &str) -> i32 {
    let s = rt.state(id).expect("state");
    s["pid"].as_i64().expect("pid") as i32
}

const SEALS: i32 = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

/// `/proc/PID/exe` cannot be written to: it is either the binary seen through a
/// read-only overlayfs without an upper layer (even a clone of that mount made writable
/// cannot write), or a memfd with all write seals.
#[track_caller]
fn assert_exe_sealed(pid: i32) {
    let exe = format!("/proc/{pid}/exe");
    let link = std::fs::read_link(&exe).unwrap();
    let f = std::fs::File::open(&exe).unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&f);
    // SAFETY: fstatfs on an fd we own.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::fstatfs(fd, &mut st) }, 0);
    if st.f_type as i64 == 0x794c_7630 {
        let err = std::fs::OpenOptions::new()
            .write(true)
            .open(&exe)
            .expect_err("opened the overlay exe for writing");
        assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{exe}: {err}");
        assert_clone_not_writable(&exe);
        return;
    }
    assert!(
        link.to_string_lossy().starts_with("/memfd:"),
        "{exe} -> {} is neither on overlayfs nor a memfd",
        link.display()
    );
    // SAFETY: fcntl on an fd we own.
    let seals = unsafe { libc::fcntl(fd, libc::F_GET_SEALS) };
    assert!(
        seals >= 0 && seals & SEALS == SEALS,
        "{exe}: seals {seals:#x}"
    );
    // Opening for writing may succeed on a memfd, but no byte can change.
    if let Ok(mut w) = std::fs::OpenOptions::new().write(true).open(&exe) {
        use std::io::Write;
        assert!(w.write_all(b"PWNED").is_err(), "wrote to {exe}");
    }
    assert!(
        std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&exe)
            .is_err(),
        "truncated {exe}"
    );
}

/// The attack a read-only bind mount would not stop: clone the exe's mount with
/// open_tree(OPEN_TREE_CLONE), clear MOUNT_ATTR_RDONLY on the clone, open for writing.
#[track_caller]
fn assert_clone_not_writable(exe: &str) {
    #[repr(C)]
    struct MountAttr {
        set: u64,
        clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let path = std::ffi::CString::new(exe).unwrap();
    // SAFETY: open_tree(2) with a NUL-terminated path.
    let tree = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            path.as_ptr(),
            1 | libc::O_CLOEXEC, // OPEN_TREE_CLONE
        )
    };
    if tree < 0 {
        return; // the mount cannot even be cloned
    }
    let attr = MountAttr {
        set: 0,
        clr: 1, // MOUNT_ATTR_RDONLY
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: mount_setattr(2) on the fd open_tree returned, with a valid struct.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree,
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc == 0 {
        let w = std::fs::OpenOptions::new()
            .write(true)
            .open(format!("/proc/self/fd/{tree}"));
        assert!(
            w.is_err(),
            "{exe}: a writable clone of its mount opened it for writing"
        );
    }
    // SAFETY: closing the fd open_tree returned.
    unsafe { libc::close(tree as i32) };
}

/// The container's pid 1 (sifrun's own init until `start`) runs from an unwritable
/// binary: the read-only overlayfs by default, the sealed memfd with SIFRUN_SEAL=memfd.
#[test]
fn cve_2019_5736_container_init_runs_from_an_unwritable_binary() {
    if !require_root() {
        return;
    }
    let before = host_binary();
    let rt = Runtime::new();
    for (mode, fs) in [(None, "overlay"), (Some("memfd"), "memfd")] {
        let b = Bundle::sleeper("cve5736a");
        let id = unique_id("cve5736a");
        rt.track(&id);
        let mut c = rt.cmd(["create", "--bundle"]);
        c.arg(b.path()).arg(&id);
        match mode {
            Some(m) => c.env("SIFRUN_SEAL", m),
            // The default pass must not inherit a SIFRUN_SEAL from the test's caller.
            None => c.env_remove("SIFRUN_SEAL"),
        };
        assert_ok(&output_with_timeout(c, Duration::from_secs(30)), "create");
        let pid = pid_of(&rt, &id);
        let link = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
        let on_memfd = link.to_string_lossy().starts_with("/memfd:");
        assert_eq!(on_memfd, fs == "memfd", "{fs}: exe -> {}", link.display());
        assert_exe_sealed(pid);
        assert_ok(&rt.run(["start", &id]), "start");
        assert_ok(&rt.delete_force(&id), "delete");
    }
    assert!(host_binary() == before, "the host sifrun binary changed");
}

/// The classic attack: the container's binary is `#!/proc/self/exe`, so `exec` of it
/// re-runs the runtime's own executable inside the container; a process in the
/// container then tries to write through /proc/PID/exe of every process it sees.
#[test]
fn cve_2019_5736_exec_cannot_overwrite_the_host_binary() {
    if !require_root() {
        return;
    }
    let before = host_binary();
    let rt = Runtime::new();
    let b = Bundle::sleeper("cve5736b");
    b.edit(|c| c["root"]["readonly"] = false.into());
    write_script(&b.rootfs(), "evil", "#!/proc/self/exe\n");
    // The attacker: for ~8 s, try to write to the exe of every process that is not
    // busybox; log what it saw and whether any write got through.
    write_script(
        &b.rootfs(),
        "attack.sh",
        r#"#!/bin/sh
end=$(( $(date +%s) + 8 ))
while [ $(date +%s) -lt $end ]; do
  for p in /proc/[0-9]*; do
    l=$(readlink $p/exe 2>/dev/null) || continue
    case $l in /bin/busybox|"") continue;; esac
    echo "seen ${p#/proc/} $l" >> /seen
    if (printf PWNED >> $p/exe) 2>/dev/null; then echo "WROTE $p $l" >> /seen; fi
    if (printf PWNED > $p/exe) 2>/dev/null; then echo "WROTE-TRUNC $p $l" >> /seen; fi
  done
done
echo done >> /seen
"#,
    );
    let id = unique_id("cve5736b");
    assert_ok(&rt.create(&id, b.path()), "create");
    // While created, pid 1 in the container is sifrun's init: attack it from inside.
    let o = rt.run(["exec", &id, "sh", "-c", "readlink /proc/1/exe; printf PWNED >> /proc/1/exe && echo WROTE; printf PWNED > /proc/1/exe && echo TRUNCATED; true"]);
    eprintln!(
        "exec into created: {:?} {} {}",
        o.status,
        stdout(&o),
        stderr(&o)
    );
    if o.status.success() {
        assert!(!stdout(&o).contains("WROTE"), "{}", stdout(&o));
        assert!(!stdout(&o).contains("TRUNCATED"), "{}", stdout(&o));
    }
    assert_ok(&rt.run(["start", &id]), "start");
    assert_ok(&rt.run(["exec", "-d", &id, "/attack.sh"]), "exec attacker");
    let mut runs = 0;
    let t = std::time::Instant::now();
    while t.elapsed() < Duration::from_secs(7) {
        let o = rt.run(["exec", &id, "/evil"]);
        assert!(o.status.code().is_some(), "exec of /evil: {:?}", o.status);
        runs += 1;
    }
    // wait for the attacker to finish
    let seen_path = b.rootfs().join("seen");
    let _ = settle(Duration::from_secs(10), || {
        let s = std::fs::read_to_string(&seen_path).unwrap_or_default();
        if s.contains("done") {
            vec![]
        } else {
            vec![()]
        }
    });
    let seen = std::fs::read_to_string(&seen_path).unwrap_or_default();
    // A static sifrun really runs as /evil's interpreter, so the attacker does see
    // runtime processes: their exe must be the sealed copy, a memfd or the binary
    // at the root of the detached read-only overlay ("/sifrun"), never the host path.
    let host_path = std::fs::canonicalize(SIFRUN).unwrap();
    let is_sealed = |l: &&str| l.contains("memfd:") || l.ends_with(" /sifrun");
    let sealed = seen.lines().filter(is_sealed).count();
    eprintln!("{runs} execs of #!/proc/self/exe; attacker saw {sealed} sealed sifrun processes");
    assert!(!seen.contains("WROTE"), "a write got through:\n{seen}");
    assert!(
        seen.lines()
            .filter(|l| l.starts_with("seen"))
            .all(|l| is_sealed(&l)),
        "a non-sealed runtime binary ({}) was visible in the container:\n{seen}",
        host_path.display()
    );
    assert_ok(&rt.delete_force(&id), "delete");
    assert!(host_binary() == before, "the host sifrun binary changed");
    assert_no_leaks(&rt, &id);
}

/// Lists the fds and cwd of the shell running it.
/// (`ls -l` runs as a child: while it runs the shell holds no fd of its own, unlike a
/// `$(…)` substitution, whose pipe would show up as fd 3.)
const FD_PROBE: &str = r#"ls -l /proc/$$/fd/; echo "cwd $(readlink /proc/$$/cwd)"; ls /proc/$$/cwd/ | tr '\n' ' '; echo"#;

/// Leaks fds to the spawned sifrun as a careless caller would: a host directory at
/// fd 7, /sys/fs/cgroup at fd 8 and the host's / at fd 9, none CLOEXEC; and runs it
/// with `cwd` as its working directory.
fn leaky(mut c: std::process::Command, hostdir: &Path) -> std::process::Command {
    let paths: Vec<std::ffi::CString> =
        [hostdir.as_os_str(), "/sys/fs/cgroup".as_ref(), "/".as_ref()]
            .iter()
            .map(|p| std::ffi::CString::new(p.as_encoded_bytes()).unwrap())
            .collect();
    c.current_dir(hostdir);
    // SAFETY: only async-signal-safe calls (open, dup2, close) between fork and exec.
    unsafe {
        c.pre_exec(move || {
            for (i, p) in paths.iter().enumerate() {
                let fd = libc::open(p.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY);
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let want = 7 + i as i32;
                if fd != want {
                    libc::dup2(fd, want);
                    libc::close(fd);
                }
            }
            Ok(())
        });
    }
    c
}

/// The probe's output shows only fds 0-2 (plus the one `ls`/glob may hold on
/// /proc/$$/fd itself), a cwd of "/", and none of the host dir's files.
#[track_caller]
fn assert_no_host_leak(out: &str, what: &str) {
    assert!(out.contains("cwd /\n"), "{what}: cwd is not /: {out}");
    assert!(
        !out.contains("host-canary"),
        "{what}: host cwd reachable: {out}"
    );
    let mut seen = 0;
    for l in out.lines().filter(|l| l.contains(" -> ")) {
        let (left, target) = l.split_once(" -> ").unwrap();
        let n: i32 = left
            .split_whitespace()
            .last()
            .and_then(|n| n.parse().ok())
            .unwrap_or(-1);
        seen += 1;
        assert!(
            (0..=2).contains(&n),
            "{what}: fd {n} -> {target:?} reached the container: {out}"
        );
    }
    assert!(seen >= 3, "{what}: probe listed no fds: {out}");
}

#[test]
fn cve_2024_21626_no_host_fd_or_cwd_with_run() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let host = TmpDir::new("sifrun-leakdir");
    std::fs::write(host.join("host-canary"), "x").unwrap();
    let b = Bundle::new(&["sh", "-c", FD_PROBE]);
    let id = unique_id("cve21626run");
    rt.track(&id);
    let mut c = rt.cmd(["run", "--bundle"]);
    c.arg(b.path()).arg(&id);
    let o = output_with_timeout(leaky(c, &host.path), Duration::from_secs(60));
    assert_ok(&o, "run");
    eprintln!("{}", stdout(&o));
    assert_no_host_leak(&stdout(&o), "run");
    assert_no_leaks(&rt, &id);
}

#[test]
fn cve_2024_21626_no_host_fd_or_cwd_with_create_start() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let host = TmpDir::new("sifrun-leakdir");
    std::fs::write(host.join("host-canary"), "x").unwrap();
    let b = Bundle::new(&["sh", "-c", &format!("({FD_PROBE}) > /probe.out")]);
    b.edit(|c| c["root"]["readonly"] = false.into());
    let id = unique_id("cve21626cs");
    rt.track(&id);
    let mut c = rt.cmd(["create", "--bundle"]);
    c.arg(b.path()).arg(&id);
    assert_ok(
        &output_with_timeout(leaky(c, &host.path), Duration::from_secs(60)),
        "create",
    );
    let o = output_with_timeout(
        leaky(rt.cmd(["start", &id]), &host.path),
        Duration::from_secs(60),
    );
    assert_ok(&o, "start");
    assert!(rt.wait_status(&id, "stopped", Duration::from_secs(20)));
    let out = std::fs::read_to_string(b.rootfs().join("probe.out")).unwrap();
    eprintln!("{out}");
    assert_no_host_leak(&out, "create/start");
    assert_ok(&rt.delete_force(&id), "delete");
    assert_no_leaks(&rt, &id);
}

#[test]
fn cve_2024_21626_no_host_fd_or_cwd_with_exec() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let host = TmpDir::new("sifrun-leakdir");
    std::fs::write(host.join("host-canary"), "x").unwrap();
    let (id, _b) = rt.run_sleeper("cve21626exec");
    for args in [
        vec!["exec", id.as_str(), "sh", "-c", FD_PROBE],
        vec!["exec", "--cwd", "/", id.as_str(), "sh", "-c", FD_PROBE],
    ] {
        let o = output_with_timeout(leaky(rt.cmd(&args), &host.path), Duration::from_secs(60));
        assert_ok(&o, "exec");
        eprintln!("{}", stdout(&o));
        assert_no_host_leak(&stdout(&o), "exec");
    }
    // --cwd into a leaked fd path must not reach the host either
    for cwd in ["/proc/self/fd/7", "/proc/self/fd/8", "/proc/self/fd/9"] {
        let o = output_with_timeout(
            leaky(
                rt.cmd(["exec", "--cwd", cwd, &id, "sh", "-c", "ls"]),
                &host.path,
            ),
            Duration::from_secs(60),
        );
        assert!(
            !stdout(&o).contains("host-canary") && !stdout(&o).contains("cgroup.procs"),
            "exec --cwd {cwd} reached the host: {}",
            stdout(&o)
        );
    }
    assert_ok(&rt.delete_force(&id), "delete");
    assert_no_leaks(&rt, &id);
}

/// Runs `b` as container `id` and returns (output, whether runc accepts the same
/// bundle, if runc is installed).
fn run_once(rt: &Runtime, b: &Bundle, id: &str) -> std::process::Output {
    rt.track(id);
    let mut c = rt.cmd(["run", "--bundle"]);
    c.arg(b.path()).arg(id);
    output_with_timeout(c, Duration::from_secs(60))
}

/// What runc does with the same bundle (None if runc is not installed).
fn runc_accepts(b: &Bundle) -> Option<bool> {
    if !Path::new("/usr/sbin/runc").exists() {
        return None;
    }
    let root = TmpDir::new("runc-root");
    let id = unique_id("runc");
    let mut c = std::process::Command::new("/usr/sbin/runc");
    c.arg("--root")
        .arg(&root.path)
        .args(["run", "--bundle"])
        .arg(b.path())
        .arg(&id)
        .stdin(std::process::Stdio::null());
    let o = output_with_timeout(c, Duration::from_secs(60));
    let _ = std::process::Command::new("/usr/sbin/runc")
        .arg("--root")
        .arg(&root.path)
        .args(["delete", "--force", &id])
        .output();
    eprintln!("runc: {:?} {}", o.status, stderr(&o).trim());
    Some(o.status.success())
}

/// The container's /proc, as it reports it: procfs with nothing mounted over it.
const PROC_PROBE: &str =
    "stat -f -c 'procfs=%T' /proc; grep -E ' /proc(/[a-z]+)? ' /proc/self/mountinfo; test -r /proc/self/status && echo status-ok";

#[test]
fn cve_2019_16884_no_mount_over_proc_through_symlink() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let host = TmpDir::new("sifrun-hostdir");
    std::fs::write(host.join("canary"), "host").unwrap();
    let b = Bundle::new(&["sh", "-c", PROC_PROBE]);
    // /evil -> /proc in the rootfs; a bind mount of a host dir to /evil would land on
    // /proc if the destination were resolved naively (disabling AppArmor/masking).
    symlink("/proc", b.rootfs().join("evil")).unwrap();
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(serde_json::json!({
            "destination": "/evil", "type": "bind", "source": host.path, "options": ["rbind"]
        }));
    });
    let id = unique_id("cve16884");
    let o = run_once(&rt, &b, &id);
    let out = stdout(&o);
    eprintln!("sifrun: {:?} {out} {}", o.status, stderr(&o));
    let runc = runc_accepts(&b);
    if o.status.success() {
        assert!(
            runc != Some(false),
            "runc refuses a bind mount onto /proc through a symlink; sifrun accepted it: {out}"
        );
        assert!(out.contains("procfs=proc"), "/proc is not procfs: {out}");
        assert!(out.contains("status-ok"), "{out}");
        assert!(!out.contains(&*host.path.to_string_lossy()), "{out}");
    } else {
        assert_one_line_error(&o, None);
    }
    assert_eq!(std::fs::read_dir(&host.path).unwrap().count(), 1);
    assert!(mounts_under(&host.path).is_empty());
    assert_no_leaks(&rt, &id);
}

#[test]
fn cve_2019_19921_rootfs_proc_symlink_does_not_mount_on_host() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let host = TmpDir::new("sifrun-hostproc");
    std::fs::write(host.join("canary"), "host").unwrap();
    for target in [
        host.path.to_string_lossy().into_owned(),
        format!("../../../../../../../..{}", host.path.display()),
    ] {
        let b = Bundle::new(&["sh", "-c", PROC_PROBE]);
        std::fs::remove_dir(b.rootfs().join("proc")).unwrap();
        symlink(&target, b.rootfs().join("proc")).unwrap();
        let id = unique_id("cve19921");
        let o = run_once(&rt, &b, &id);
        let out = stdout(&o);
        eprintln!("/proc -> {target}: {:?} {out} {}", o.status, stderr(&o));
        if o.status.success() {
            assert!(
                out.contains("procfs=proc") && out.contains("status-ok"),
                "{out}"
            );
        } else {
            assert_one_line_error(&o, None);
        }
        assert!(
            mounts_under(&host.path).is_empty(),
            "procfs mounted on the host: {:?}",
            mounts_under(&host.path)
        );
        let names: Vec<_> = std::fs::read_dir(&host.path)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("canary")]);
        assert_no_leaks(&rt, &id);
    }
}

#[test]
fn cve_2023_27561_no_foreign_mount_under_proc() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let host = TmpDir::new("sifrun-hostdir");
    std::fs::write(host.join("canary"), "host").unwrap();
    // A bind mount of a host dir onto /proc/sys (through a symlink in /mnt), and a tmpfs
    // straight onto /proc/sys/kernel: runc refuses both (only procfs, or a few files
    // like lxcfs' /proc/cpuinfo, may be mounted under /proc).
    let cases: Vec<(Option<&str>, serde_json::Value)> = vec![
        (
            Some("/proc/sys"),
            serde_json::json!({"destination": "/mnt/evil", "type": "bind", "source": host.path, "options": ["rbind"]}),
        ),
        (
            None,
            serde_json::json!({"destination": "/proc/sys/kernel", "type": "tmpfs", "source": "tmpfs"}),
        ),
    ];
    for (link, mount) in cases {
        let b = Bundle::new(&["sh", "-c", "grep ' /proc/' /proc/self/mountinfo; echo ran"]);
        if let Some(l) = link {
            symlink(l, b.rootfs().join("mnt/evil")).unwrap();
        }
        b.edit(|c| c["mounts"].as_array_mut().unwrap().push(mount.clone()));
        let id = unique_id("cve27561");
        let o = run_once(&rt, &b, &id);
        let runc = runc_accepts(&b);
        eprintln!(
            "{mount}: sifrun {:?} {} {}; runc accepts: {runc:?}",
            o.status,
            stdout(&o),
            stderr(&o)
        );
        if runc == Some(false) {
            assert!(
                !o.status.success(),
                "runc refuses {mount} under /proc, sifrun ran it: {}",
                stdout(&o)
            );
        }
        if !o.status.success() {
            assert_one_line_error(&o, None);
        }
        assert!(mounts_under(&host.path).is_empty());
        assert_no_leaks(&rt, &id);
    }
}

#[test]
fn masked_paths_masked_and_sys_read_only() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let probe = r#"
echo "kcore=$(cat /proc/kcore 2>/dev/null | wc -c)"
echo "keys=$(cat /proc/keys 2>/dev/null | wc -c)"
echo "timer_list=$(cat /proc/timer_list 2>/dev/null | wc -c)"
echo "acpi=$(ls -A /proc/acpi 2>/dev/null | wc -l)"
echo "firmware=$(ls -A /sys/firmware 2>/dev/null | wc -l)"
if (echo 1 > /proc/sys/kernel/ns_last_pid) 2>/dev/null; then echo procsys=rw; else echo procsys=ro; fi
if (echo h > /proc/sysrq-trigger) 2>/dev/null; then echo sysrq=rw; else echo sysrq=ro; fi
if (echo 1 > /sys/kernel/uevent_helper) 2>/dev/null; then echo sys=rw; else echo sys=ro; fi
grep -q ' /sys ro,' /proc/self/mountinfo && echo sysmount=ro
echo end
"#;
    let b = Bundle::new(&["sh", "-c", probe]);
    let id = unique_id("masked");
    let o = run_once(&rt, &b, &id);
    assert_ok(&o, "run");
    let out = stdout(&o);
    eprintln!("{out}");
    for want in [
        "kcore=0",
        "keys=0",
        "timer_list=0",
        "acpi=0",
        "firmware=0",
        "procsys=ro",
        "sysrq=ro",
        "sys=ro",
        "sysmount=ro",
        "end",
    ] {
        assert!(
            out.lines().any(|l| l == want),
            "expected {want:?} in the probe output:\n{out}"
        );
    }
    assert_no_leaks(&rt, &id);
}

#[test]
fn cgroup_fs_read_only_for_unprivileged_containers() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let probe = "grep ' /sys/fs/cgroup' /proc/self/mountinfo; \
        if mkdir /sys/fs/cgroup/memory/escape-$$ 2>/dev/null; then echo cgroup=rw; \
        rmdir /sys/fs/cgroup/memory/escape-$$; else echo cgroup=ro; fi";
    let b = Bundle::new(&["sh", "-c", probe]);
    let id = unique_id("cgro");
    let o = run_once(&rt, &b, &id);
    assert_ok(&o, "run");
    let out = stdout(&o);
    assert!(out.lines().any(|l| l == "cgroup=ro"), "{out}");
    assert_no_leaks(&rt, &id);
}

/// CVE-2024-21626's first attack: `process.cwd` = /proc/self/fd/N, N a host directory
/// fd that leaked into the runtime; the process must not start in the host directory.
#[test]
fn cve_2024_21626_cwd_through_leaked_fd() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let host = TmpDir::new("sifrun-leakdir");
    std::fs::write(host.join("host-canary"), "x").unwrap();
    for n in 7..=9 {
        let b = Bundle::new(&[
            "sh",
            "-c",
            "ls; ls ..; ls ../../..; readlink /proc/self/cwd",
        ]);
        b.edit(|c| c["process"]["cwd"] = format!("/proc/self/fd/{n}").into());
        let id = unique_id("cve21626cwd");
        rt.track(&id);
        let mut c = rt.cmd(["run", "--bundle"]);
        c.arg(b.path()).arg(&id);
        let o = output_with_timeout(leaky(c, &host.path), Duration::from_secs(60));
        let out = stdout(&o);
        eprintln!("cwd fd {n}: {:?} {out} {}", o.status, stderr(&o));
        assert!(
            !out.contains("host-canary"),
            "host dir reached via fd {n}: {out}"
        );
        assert!(
            !out.contains("cgroup.procs") && !out.contains("memory"),
            "host cgroupfs reached via fd {n}: {out}"
        );
        if !o.status.success() {
            assert_one_line_error(&o, None);
        }
        assert_no_leaks(&rt, &id);
    }
}

/// CVE-2024-21626 before `start`: the created init (default spec, terminal, user
/// namespace, --preserve-fds, hooks), a process started by `exec` and every hook hold
/// only stdio, the preserved fds and sync fds — no host directory, procfs or cgroup
/// file, and not the directory fd the caller leaked. The checks are the conformance
/// case `security/inherited_fds` (which runc passes too), run here against sifrun.
#[test]
fn cve_2024_21626_created_init_exec_and_hooks_hold_no_host_fd() {
    if !require_root() {
        return;
    }
    let conformance = Path::new(SIFRUN).with_file_name("conformance");
    assert!(
        conformance.exists(),
        "{} is missing: build the workspace first (cargo build --release --workspace)",
        conformance.display()
    );
    let mut c = std::process::Command::new(&conformance);
    c.args(["--filter", "^security/inherited_fds$", "--runtime", SIFRUN]);
    let o = output_with_timeout(c, Duration::from_secs(240));
    let out = stdout(&o);
    let tally = out
        .lines()
        .rev()
        .find(|l| l.ends_with(" failed"))
        .unwrap_or("");
    let passed: usize = tally
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        o.status.success() && passed > 0 && tally.ends_with(", 0 failed"),
        "{out}\n{}",
        stderr(&o)
    );
}

/// CVE-2026-41579: an image whose `/dev` is a symlink to a host directory (absolute, or
/// climbing out with `..`) must not make the runtime delete or create anything there
/// (runc removed `ptmx` and made its /dev symlinks through a plain path join). Whatever
/// the runtime does with such an image, the host directory stays as it was.
#[test]
fn cve_2026_41579_rootfs_dev_symlink_does_not_touch_the_host() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let host = TmpDir::new("sifrun-hostdev");
    for target in [
        host.path.to_string_lossy().into_owned(),
        format!("../../../../../../../..{}", host.path.display()),
    ] {
        std::fs::write(host.join("ptmx"), "host file named ptmx").unwrap();
        std::fs::write(host.join("canary"), "host").unwrap();
        let b = Bundle::new(&["sh", "-c", "ls -l /dev/ptmx /dev/fd /dev/stdin; echo ran"]);
        std::fs::remove_dir_all(b.rootfs().join("dev")).ok();
        symlink(&target, b.rootfs().join("dev")).unwrap();
        let id = unique_id("cve41579");
        let o = run_once(&rt, &b, &id);
        eprintln!(
            "/dev -> {target}: {:?} {} {}",
            o.status,
            stdout(&o),
            stderr(&o)
        );
        if !o.status.success() {
            assert_one_line_error(&o, None);
        }
        let mut names: Vec<_> = std::fs::read_dir(&host.path)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["canary", "ptmx"], "the host dir was changed");
        assert_eq!(
            std::fs::read_to_string(host.join("ptmx")).unwrap(),
            "host file named ptmx"
        );
        assert!(
            mounts_under(&host.path).is_empty(),
            "mounted on the host: {:?}",
            mounts_under(&host.path)
        );
        assert_no_leaks(&rt, &id);
    }
}

/// CVE-2025-52565: the pty is bind-mounted onto /dev/console; if the container's
/// /dev/console is a symlink (an image without a /dev tmpfs ships one), the mount must
/// not follow it onto another file of the container (runc's attack used this to put a
/// writable mount where a masked or read-only path was). Either create refuses the
/// image with one line, or the pty lands on /dev/console itself and the symlink's
/// target is not a mount point.
#[test]
fn cve_2025_52565_dev_console_symlink_is_not_followed() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(&[
        "sh",
        "-c",
        "grep -E ' /etc/victim | /dev/console ' /proc/self/mountinfo; echo done",
    ]);
    b.edit(|c| {
        c["process"]["terminal"] = true.into();
        let mounts = c["mounts"].as_array_mut().unwrap();
        mounts.retain(|m| m["destination"] != "/dev");
    });
    let dev = b.rootfs().join("dev");
    std::fs::create_dir_all(dev.join("pts")).unwrap();
    std::fs::write(b.rootfs().join("etc/victim"), "victim").unwrap();
    let _ = std::fs::remove_file(dev.join("console"));
    symlink("/etc/victim", dev.join("console")).unwrap();
    let sock_path = b.dir.join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock_path).unwrap();
    listener.set_nonblocking(true).unwrap();
    let receiver = std::thread::spawn(move || {
        let t0 = std::time::Instant::now();
        let stream = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(_) if t0.elapsed() < Duration::from_secs(20) => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Err(_) => return None,
            }
        };
        stream.set_nonblocking(false).unwrap();
        let mut f = std::fs::File::from(try_recv_fd(std::os::fd::AsRawFd::as_raw_fd(&stream))?);
        let mut out = Vec::new();
        let _ = std::io::Read::read_to_end(&mut f, &mut out);
        Some(String::from_utf8_lossy(&out).into_owned())
    });
    let id = unique_id("cve52565");
    rt.track(&id);
    let mut c = rt.cmd(["run", "--console-socket"]);
    c.arg(&sock_path).arg("--bundle").arg(b.path()).arg(&id);
    let o = output_with_timeout(c, Duration::from_secs(30));
    let out = receiver.join().unwrap().unwrap_or_default();
    eprintln!("{:?} {} | {out}", o.status, stderr(&o));
    if o.status.success() {
        assert!(out.contains("done"), "{out}");
        assert!(
            !out.contains(" /etc/victim "),
            "the pty was mounted on the symlink's target: {out}"
        );
    } else {
        assert_one_line_error(&o, None);
    }
    assert_eq!(
        std::fs::read_to_string(b.rootfs().join("etc/victim")).unwrap(),
        "victim"
    );
    assert_no_leaks(&rt, &id);
}

/// CVE-2025-52881: the runtime's writes to procfs (here a sysctl) must reach the real
/// procfs file, not whatever a container-controlled mount put over it. A
/// createContainer hook (it runs in the container's mount namespace, as the racing
/// container did in runc's reproducer) bind-mounts a host file over
/// /proc/sys/kernel/domainname before the runtime applies `kernel.domainname`.
#[test]
fn cve_2025_52881_sysctl_write_is_not_redirected_by_a_mount() {
    if !require_root() {
        return;
    }
    let victim = Victim::new("52881");
    let b = Bundle::new(&["cat", "/proc/sys/kernel/domainname"]);
    let v = victim.path();
    b.edit(|c| {
        c["linux"]["sysctl"] = serde_json::json!({"kernel.domainname": "sifrun-cve"});
        c["hooks"] = create_container_hook(&format!(
            "$BB mount --bind {v} \"$(pwd)/proc/sys/kernel/domainname\""
        ));
    });
    victim.run_and_check(
        &b,
        "the sysctl write went through the container's mount to a host file",
    );
}

/// CVE-2025-31133: masked files are covered with the container's /dev/null; a
/// container that replaced /dev/null (here a createContainer hook, in the container's
/// mount namespace, swaps it for a symlink to a read-only bind of a host file) must not
/// get that file bind-mounted, writable, over the masked path.
#[test]
fn cve_2025_31133_masking_uses_the_real_dev_null() {
    if !require_root() {
        return;
    }
    let victim = Victim::new("31133");
    let b = Bundle::new(&["sh", "-c", "echo pwned > /etc/masked-file; cat /hostvictim"]);
    std::fs::write(b.rootfs().join("etc/masked-file"), "secret\n").unwrap();
    let v = victim.path();
    b.edit(|c| {
        c["mounts"].as_array_mut().unwrap().push(serde_json::json!({
            "destination": "/hostvictim", "type": "bind", "source": v, "options": ["bind", "ro"]
        }));
        c["linux"]["maskedPaths"]
            .as_array_mut()
            .unwrap()
            .push("/etc/masked-file".into());
        c["hooks"] = create_container_hook("$BB rm -f dev/null && $BB ln -s /hostvictim dev/null");
    });
    victim.run_and_check(&b, "the masked path was a writable mount of the host file");
}

/// A host file that the attacks above would write to.
struct Victim {
    host: TmpDir,
    tag: &'static str,
}

impl Victim {
    fn new(tag: &'static str) -> Self {
        let host = TmpDir::new(&format!("sifrun-host{tag}"));
        std::fs::write(host.join("victim"), "host\n").unwrap();
        Victim { host, tag }
    }

    fn path(&self) -> String {
        self.host.join("victim").to_string_lossy().into_owned()
    }

    /// Runs `b`: it may fail (with one line), but the victim is unchanged, nothing is
    /// mounted on the host and nothing leaks.
    fn run_and_check(&self, b: &Bundle, what: &str) {
        let rt = Runtime::new();
        let id = unique_id(&format!("cve{}", self.tag));
        let o = run_once(&rt, b, &id);
        eprintln!("{:?} {} {}", o.status, stdout(&o), stderr(&o));
        if !o.status.success() {
            assert_one_line_error(&o, None);
        }
        assert_eq!(
            std::fs::read_to_string(self.path()).unwrap(),
            "host\n",
            "{what}"
        );
        assert!(mounts_under(&self.host.path).is_empty());
        assert_no_leaks(&rt, &id);
    }
}

/// A createContainer hook: `script` run by the host's busybox sh (as `$BB`) in the
/// container's mount namespace, from the container's root.
fn create_container_hook(script: &str) -> serde_json::Value {
    let bb = busybox().to_string_lossy().into_owned();
    serde_json::json!({"createContainer": [{
        "path": bb,
        "args": ["busybox", "sh", "-c", script],
        "env": [format!("BB={bb}")]
    }]})
}
