//! seccomp beyond plain actions, as runc does it: `SCMP_ACT_NOTIFY` with a seccomp
//! agent on `listenerPath` (runc 1.1's seccomp-notify.bats), the `-ENOSYS` answer
//! for syscalls newer than the profile (runc 1.2), `linux.seccomp.flags` (runc 1.2)
//! and where the filter stands relative to startContainer hooks.

use super::{Case, Ctx, WAIT};
use crate::runtime::CreateOpts;
use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "seccomp/notify_run",
            run: notify_run,
        },
        Case {
            name: "seccomp/notify_exec",
            run: notify_exec,
        },
        Case {
            name: "seccomp/notify_important_syscalls",
            run: notify_important,
        },
        Case {
            name: "seccomp/notify_agent_gone",
            run: notify_agent_gone,
        },
        Case {
            name: "seccomp/notify_refused",
            run: notify_refused,
        },
        Case {
            name: "seccomp/notify_start_container_hook_fds",
            run: notify_hook_fds,
        },
        Case {
            name: "seccomp/enosys_for_unknown_syscalls",
            run: enosys,
        },
        Case {
            name: "seccomp/flags",
            run: flags,
        },
        Case {
            name: "seccomp/start_container_hook_under_filter",
            run: hook_under_filter,
        },
    ]
}

// ---- a tiny seccomp agent ----

/// struct seccomp_notif (linux/seccomp.h).
#[repr(C)]
#[derive(Default)]
struct Notif {
    id: u64,
    pid: u32,
    flags: u32,
    nr: i32,
    arch: u32,
    ip: u64,
    args: [u64; 6],
}

/// struct seccomp_notif_resp.
#[repr(C)]
struct NotifResp {
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
}

const NOTIF_RECV: libc::c_ulong = 0xc050_2100; // _IOWR('!', 0, struct seccomp_notif)
const NOTIF_SEND: libc::c_ulong = 0xc018_2101; // _IOWR('!', 1, struct seccomp_notif_resp)
const FLAG_CONTINUE: u32 = 1; // SECCOMP_USER_NOTIF_FLAG_CONTINUE

/// Listens on a unix socket as a seccomp agent: records the state JSON of every
/// connection and answers notifications: syscalls in `errors` fail with that errno,
/// all others continue. With `drop_fd` it closes each notify fd at once (a dead agent).
struct Agent {
    path: PathBuf,
    states: Arc<Mutex<Vec<Value>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Agent {
    fn start(dir: &Path, errors: HashMap<i64, i32>, drop_fd: bool) -> Result<Agent> {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("agent-{}-{n}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let l = UnixListener::bind(&path).with_context(|| format!("bind {}", path.display()))?;
        l.set_nonblocking(true)?;
        let states = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (states.clone(), stop.clone());
        let t = std::thread::spawn(move || {
            let mut handlers = Vec::new();
            while !sp.load(Ordering::Relaxed) {
                let Ok((conn, _)) = l.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let _ = conn.set_nonblocking(false);
                let Some((state, fd)) = recv_state(conn.as_raw_fd()) else {
                    continue;
                };
                st.lock().unwrap().push(state);
                if drop_fd {
                    drop(fd);
                    continue;
                }
                let (errors, sp) = (errors.clone(), sp.clone());
                handlers.push(std::thread::spawn(move || serve(fd, &errors, &sp)));
            }
            for h in handlers {
                let _ = h.join();
            }
        });
        Ok(Agent {
            path,
            states,
            stop,
            threads: vec![t],
        })
    }

    fn states(&self) -> Vec<Value> {
        self.states.lock().unwrap().clone()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// One message: the container process state JSON with the notify fd in SCM_RIGHTS.
fn recv_state(sock: i32) -> Option<(Value, OwnedFd)> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, UnixAddr};
    let mut buf = vec![0u8; 64 * 1024];
    let mut cmsg = nix::cmsg_space!([i32; 4]);
    let mut iov = [IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<UnixAddr>(sock, &mut iov, Some(&mut cmsg), MsgFlags::empty()).ok()?;
    let n = msg.bytes;
    let mut fd = None;
    for c in msg.cmsgs().ok()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for f in fds {
                // SAFETY: the kernel just installed these fds for us.
                let o = unsafe { OwnedFd::from_raw_fd(f) };
                if fd.is_none() {
                    fd = Some(o);
                }
            }
        }
    }
    let state = serde_json::from_slice(&buf[..n]).unwrap_or(Value::Null);
    Some((state, fd?))
}

fn serve(fd: OwnedFd, errors: &HashMap<i64, i32>, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut p, 1, 50) } <= 0 {
            continue;
        }
        if p.revents & libc::POLLIN == 0 {
            // POLLHUP: every process under the filter is gone.
            return;
        }
        let mut n = Notif::default();
        // SAFETY: n is a zeroed struct seccomp_notif.
        if unsafe { libc::ioctl(fd.as_raw_fd(), NOTIF_RECV, &mut n) } != 0 {
            continue;
        }
        let mut r = NotifResp {
            id: n.id,
            val: 0,
            error: 0,
            flags: FLAG_CONTINUE,
        };
        if let Some(e) = errors.get(&(n.nr as i64)) {
            r.error = -e;
            r.flags = 0;
        }
        // SAFETY: r is a valid struct seccomp_notif_resp.
        unsafe { libc::ioctl(fd.as_raw_fd(), NOTIF_SEND, &mut r) };
    }
}

// ---- notify cases ----

const META: &str = "conformance-listener-metadata";

fn notify_profile(agent: &Path, names: &[&str]) -> Value {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": agent,
        "listenerMetadata": META,
        "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_X86_64"],
        "syscalls": [{"names": names, "action": "SCMP_ACT_NOTIFY"}]
    })
}

fn mkdir_errors() -> HashMap<i64, i32> {
    // aarch64 (like every newer architecture) has mkdirat(2) only
    #[cfg(target_arch = "x86_64")]
    let nrs = [libc::SYS_mkdir, libc::SYS_mkdirat];
    #[cfg(not(target_arch = "x86_64"))]
    let nrs = [libc::SYS_mkdirat];
    nrs.into_iter().map(|nr| (nr, libc::ENOMEDIUM)).collect()
}

const MKDIR_PROBE: &str =
    "mkdir /tmp/notify-probe; echo rc=$?; test -e /tmp/notify-probe && echo exists; true";

/// Checks on the state the agent got (runtime-spec ContainerProcessState).
fn check_state(
    ctx: &mut Ctx,
    what: &str,
    s: &Value,
    id: &str,
    status: &str,
    init_pid: Option<i64>,
) {
    ctx.rep
        .eq(&format!("{what}: fds"), &json!(["seccompFd"]), &s["fds"]);
    ctx.rep
        .eq(&format!("{what}: metadata"), &json!(META), &s["metadata"]);
    ctx.rep.check(
        &format!("{what}: ociVersion"),
        s["ociVersion"].is_string(),
        s.to_string(),
    );
    ctx.rep.check(
        &format!("{what}: pid"),
        s["pid"].as_i64().unwrap_or(0) > 0,
        s.to_string(),
    );
    ctx.rep
        .eq(&format!("{what}: state.id"), &json!(id), &s["state"]["id"]);
    ctx.rep.eq(
        &format!("{what}: state.status"),
        &json!(status),
        &s["state"]["status"],
    );
    ctx.rep.check(
        &format!("{what}: state.bundle"),
        s["state"]["bundle"]
            .as_str()
            .is_some_and(|b| b.starts_with('/')),
        s.to_string(),
    );
    if let Some(p) = init_pid {
        ctx.rep.eq(
            &format!("{what}: state.pid is the container's init"),
            &json!(p),
            &s["state"]["pid"],
        );
    }
}

/// runc run: the agent gets the fd and the state; the container's mkdir fails with
/// the agent's errno (ENOMEDIUM), for both places the filter is loaded (noNewPrivileges).
fn notify_run(ctx: &mut Ctx) -> Result<()> {
    for nnp in [false, true] {
        ctx.subcase(&format!("noNewPrivileges={nnp}"));
        let agent = Agent::start(&ctx.tmp, mkdir_errors(), false)?;
        let mut b = ctx.bundle()?;
        b.shell(MKDIR_PROBE);
        b.config["process"]["noNewPrivileges"] = json!(nnp);
        b.config["linux"]["seccomp"] = notify_profile(&agent.path, &["mkdir", "mkdirat"]);
        let Some((id, pid)) = ctx.started(&b)? else {
            continue;
        };
        let pid = Some(pid);
        ctx.rt.wait_status(&id, "stopped", WAIT);
        let out = std::fs::read_to_string(b.dir.join("create.out")).unwrap_or_default();
        let err = std::fs::read_to_string(b.dir.join("create.err")).unwrap_or_default();
        ctx.rep.check(
            "mkdir fails with the agent's errno",
            out.contains("rc=1") && err.contains("No medium found") && !out.contains("exists"),
            format!("stdout: {out}\nstderr: {err}"),
        );
        let states = agent.states();
        ctx.rep.eq("the agent got one connection", 1, states.len());
        if let Some(st) = states.first() {
            check_state(ctx, "state", st, &id, "creating", pid);
            ctx.rep
                .eq("pid is the container's init", &json!(pid), &st["pid"]);
        }
        ctx.rt.delete(&id);
    }
    Ok(())
}

/// runc exec: the exec'd process gets its own filter and its own agent connection,
/// with status running and state.pid the container's init.
fn notify_exec(ctx: &mut Ctx) -> Result<()> {
    for nnp in [false, true] {
        ctx.subcase(&format!("noNewPrivileges={nnp}"));
        let agent = Agent::start(&ctx.tmp, mkdir_errors(), false)?;
        let mut b = ctx.bundle()?;
        b.config["process"]["args"] = json!(["sleep", "30"]);
        b.config["process"]["noNewPrivileges"] = json!(nnp);
        b.config["linux"]["seccomp"] = notify_profile(&agent.path, &["mkdir", "mkdirat"]);
        let Some((id, pid)) = ctx.started(&b)? else {
            continue;
        };
        let pid = Some(pid);
        let o = ctx.rt.run(&["exec", &id, "sh", "-c", MKDIR_PROBE]);
        ctx.rep.check(
            "exec: mkdir fails with the agent's errno",
            o.stdout.contains("rc=1")
                && o.stderr.contains("No medium found")
                && !o.stdout.contains("exists"),
            o.diag(),
        );
        let states = agent.states();
        ctx.rep.eq(
            "the agent got two connections (init, exec)",
            2,
            states.len(),
        );
        if let Some(st) = states.get(1) {
            check_state(ctx, "exec state", st, &id, "running", pid);
            ctx.rep.check(
                "exec: pid is not the init's",
                st["pid"].as_i64() != pid,
                st.to_string(),
            );
        }
        ctx.rt.kill(&id, "KILL");
        ctx.rt.wait_status(&id, "stopped", WAIT);
        ctx.rt.delete(&id);
    }
    Ok(())
}

/// Notify on the syscalls the runtime and the process need: the agent continues them.
fn notify_important(ctx: &mut Ctx) -> Result<()> {
    for nnp in [false, true] {
        ctx.subcase(&format!("noNewPrivileges={nnp}"));
        let agent = Agent::start(&ctx.tmp, HashMap::new(), false)?;
        let mut b = ctx.bundle()?;
        b.config["process"]["args"] = json!(["/bin/true"]);
        b.config["process"]["noNewPrivileges"] = json!(nnp);
        b.config["linux"]["seccomp"] =
            notify_profile(&agent.path, &["execve", "openat", "open", "read", "close"]);
        b.write()?;
        let id = ctx.id();
        let c = ctx.rt.create(&id, &b.dir, &CreateOpts::default());
        if !ctx.rep.check("create succeeds", c.success(), c.diag()) {
            continue;
        }
        let s = ctx.rt.start(&id);
        ctx.rep.check("start succeeds", s.success(), s.diag());
        let (ok, seen) = ctx.rt.wait_status(&id, "stopped", WAIT);
        ctx.rep.check("container stops", ok, format!("{seen:?}"));
        let st = ctx.rt.state_json(&id).unwrap_or_default();
        ctx.rep.check(
            "no error from the runtime",
            st["status"] == "stopped",
            st.to_string(),
        );
        ctx.rt.delete(&id);
    }
    Ok(())
}

/// A dead agent must not hang the container: with the notify fd closed everywhere
/// (no runtime process keeps a copy), the syscall fails with ENOSYS.
fn notify_agent_gone(ctx: &mut Ctx) -> Result<()> {
    let agent = Agent::start(&ctx.tmp, HashMap::new(), true)?;
    let mut b = ctx.bundle()?;
    b.shell(MKDIR_PROBE);
    b.config["linux"]["seccomp"] = notify_profile(&agent.path, &["mkdir", "mkdirat"]);
    let out = ctx.output_of(&b)?;
    let err = std::fs::read_to_string(b.dir.join("create.err")).unwrap_or_default();
    ctx.rep.check(
        "mkdir fails with ENOSYS once the agent closed the fd",
        out.contains("rc=1") && err.contains("Function not implemented"),
        format!("stdout: {out}\nstderr: {err}"),
    );
    Ok(())
}

/// Refusals: no listenerPath, a listenerPath nobody listens on, an abstract socket
/// name, and SCMP_ACT_NOTIFY on write (it would deadlock the fd hand-over).
fn notify_refused(ctx: &mut Ctx) -> Result<()> {
    let agent = Agent::start(&ctx.tmp, HashMap::new(), false)?;
    let runs: [(&str, Value, &str); 5] = [
        ("no listenerPath", json!(null), ""),
        ("empty listenerPath", json!(""), ""),
        (
            "nobody listening",
            json!(ctx.tmp.join("no-agent-here.sock")),
            "",
        ),
        ("abstract listenerPath", json!("@conformance-agent"), ""),
        (
            "write",
            json!(agent.path),
            "SCMP_ACT_NOTIFY cannot be used for the write syscall",
        ),
    ];
    for (what, path, msg) in runs {
        ctx.subcase(what);
        let mut b = ctx.bundle()?;
        b.config["process"]["args"] = json!(["/bin/true"]);
        let names: &[&str] = if what == "write" {
            &["write"]
        } else {
            &["mkdir"]
        };
        let mut p = notify_profile(&agent.path, names);
        if path.is_null() {
            p.as_object_mut().unwrap().remove("listenerPath");
        } else {
            p["listenerPath"] = path;
        }
        b.config["linux"]["seccomp"] = p;
        let c = ctx.expect_create_fails(&b, &format!("{what}: create fails"))?;
        if !msg.is_empty() {
            ctx.rep.check(
                &format!("{what}: the error says why"),
                c.stderr.contains(msg),
                c.diag(),
            );
        }
    }
    ctx.rep.eq(
        "the agent got no connection for refused profiles",
        0,
        agent.states().len(),
    );
    Ok(())
}

/// The startContainer hook gets no extra fd (the notify fd is closed before it).
fn notify_hook_fds(ctx: &mut Ctx) -> Result<()> {
    let agent = Agent::start(&ctx.tmp, HashMap::new(), false)?;
    let mut b = ctx.bundle()?;
    b.config["process"]["args"] = json!(["/bin/true"]);
    b.config["linux"]["seccomp"] = notify_profile(&agent.path, &["mkdir"]);
    b.add_hook(
        "startContainer",
        json!({"path": "/bin/sh", "args": ["sh", "-c", "ls /proc/self/fd > /tmp/hook-fds"]}),
    );
    let _ = ctx.output_of(&b)?;
    let fds = b.read_rootfs("/tmp/hook-fds").unwrap_or_default();
    // 0, 1, 2 and the directory ls reads
    ctx.rep
        .eq("the startContainer hook has 4 fds", 4, fds.lines().count());
    Ok(())
}

// ---- -ENOSYS for syscalls unknown to the profile (runc 1.2) ----

/// Syscalls a static busybox/checker and the runtime's last steps need.
const BASICS: &[&str] = &[
    "access",
    "arch_prctl",
    "brk",
    "capget",
    "capset",
    "chdir",
    "close",
    "connect",
    "dup",
    "dup2",
    "dup3",
    "execve",
    "exit",
    "exit_group",
    "faccessat",
    "fchdir",
    "fchown",
    "fcntl",
    "fstat",
    "fstatfs",
    "futex",
    "getcwd",
    "getdents64",
    "getegid",
    "geteuid",
    "getgid",
    "getgroups",
    "getpgrp",
    "getpid",
    "getppid",
    "getrandom",
    "getrlimit",
    "getsid",
    "gettid",
    "getuid",
    "ioctl",
    "kill",
    "lseek",
    "lstat",
    "madvise",
    "mmap",
    "mprotect",
    "munmap",
    "nanosleep",
    "newfstatat",
    "open",
    "openat",
    "pipe",
    "pipe2",
    "poll",
    "ppoll",
    "prctl",
    "pread64",
    "prlimit64",
    "read",
    "readlink",
    "readlinkat",
    "readv",
    "recvfrom",
    "recvmsg",
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "rt_sigtimedwait",
    "rt_sigsuspend",
    "rseq",
    "sched_getaffinity",
    "sched_yield",
    "select",
    "sendmsg",
    "sendto",
    "set_robust_list",
    "set_tid_address",
    "setgid",
    "setgroups",
    "setresgid",
    "setresuid",
    "setsid",
    "setuid",
    "sigaltstack",
    "socket",
    "stat",
    "statfs",
    "statx",
    "tgkill",
    "umask",
    "uname",
    "wait4",
    "write",
    "writev",
    "clone",
    "fork",
    "vfork",
    "close_range",
    "epoll_create1",
    "epoll_ctl",
    "epoll_wait",
    "epoll_pwait",
    "socketpair",
    "accept4",
    "bind",
    "listen",
    "getsockopt",
    "setsockopt",
    "shutdown",
];

/// Highest syscall number in BASICS on x86_64 (close_range).
const BASICS_MAX: i64 = 436;

fn enosys(ctx: &mut Ctx) -> Result<()> {
    for nnp in [false, true] {
        ctx.subcase(&format!("noNewPrivileges={nnp}"));
        let mut b = ctx.bundle()?;
        b.config["process"]["noNewPrivileges"] = json!(nnp);
        // 437 (openat2) and 1000 are above the profile; getpriority and
        // sched_getscheduler are below it and succeed on zero arguments without it.
        let nrs = [
            BASICS_MAX + 1,
            1000,
            libc::SYS_getpriority,
            libc::SYS_sched_getscheduler,
        ];
        let mut args = vec![
            crate::checker::CHECKER_PATH.to_string(),
            "syscalls".to_string(),
        ];
        args.extend(nrs.iter().map(|n| n.to_string()));
        b.config["process"]["args"] = json!(args);
        b.config["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [{"names": BASICS, "action": "SCMP_ACT_ALLOW"}]
        });
        let out = ctx.output_of(&b)?;
        let errno = |nr: i64| {
            out.lines()
                .find_map(|l| l.strip_prefix(&format!("syscall {nr} errno ")))
                .map(|e| e.trim().to_string())
        };
        let enosys = libc::ENOSYS.to_string();
        let eperm = libc::EPERM.to_string();
        ctx.rep.eq(
            "a syscall newer than the profile: ENOSYS",
            Some(enosys.clone()),
            errno(BASICS_MAX + 1),
        );
        ctx.rep.eq(
            "an unknown syscall number: ENOSYS",
            Some(enosys),
            errno(1000),
        );
        ctx.rep.eq(
            "getpriority, older than the profile: the default EPERM",
            Some(eperm.clone()),
            errno(libc::SYS_getpriority),
        );
        ctx.rep.eq(
            "sched_getscheduler, older than the profile: the default EPERM",
            Some(eperm),
            errno(libc::SYS_sched_getscheduler),
        );
    }
    // The default action ERRNO with errnoRet: the stub answers ENOSYS all the same,
    // and an allow-by-default profile gets no stub at all (runc).
    ctx.subcase("defaultAction allow");
    let mut b = ctx.bundle()?;
    b.config["process"]["args"] = json!([crate::checker::CHECKER_PATH, "syscalls", "1000"]);
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["acct"], "action": "SCMP_ACT_ERRNO"}]
    });
    let out = ctx.output_of(&b)?;
    ctx.rep.check(
        "an unknown syscall under an allow profile: ENOSYS from the kernel",
        out.contains(&format!("syscall 1000 errno {}", libc::ENOSYS)),
        out.clone(),
    );
    Ok(())
}

// ---- linux.seccomp.flags (runc 1.2) ----

fn status_field(status: &str, key: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

fn flags(ctx: &mut Ctx) -> Result<()> {
    let f = ctx.rt.run(&["features"]);
    let doc: Value = serde_json::from_str(&f.stdout).unwrap_or_default();
    let known = &doc["linux"]["seccomp"]["knownFlags"];
    let supported = &doc["linux"]["seccomp"]["supportedFlags"];
    for flag in [
        "SECCOMP_FILTER_FLAG_TSYNC",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
        "SECCOMP_FILTER_FLAG_LOG",
    ] {
        ctx.rep.check(
            &format!("features: knownFlags has {flag}"),
            known.as_array().is_some_and(|a| a.contains(&json!(flag))),
            known.to_string(),
        );
        ctx.rep.check(
            &format!("features: supportedFlags has {flag}"),
            supported
                .as_array()
                .is_some_and(|a| a.contains(&json!(flag))),
            supported.to_string(),
        );
    }
    let ssb_of = |ctx: &mut Ctx, flags: Option<Value>| -> Result<String> {
        let mut b = ctx.bundle()?;
        b.config["process"]["args"] = json!(["cat", "/proc/self/status"]);
        let mut p = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["acct"], "action": "SCMP_ACT_ERRNO"}]
        });
        if let Some(f) = flags {
            p["flags"] = f;
        }
        b.config["linux"]["seccomp"] = p;
        let out = ctx.output_of(&b)?;
        Ok(status_field(&out, "Speculation_Store_Bypass:"))
    };
    // SSB mitigation follows seccomp unless the kernel says otherwise (spec_store_bypass_disable=seccomp/prctl).
    let host = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let host_ssb = status_field(&host, "Speculation_Store_Bypass:");
    ctx.subcase("no flags");
    let without = ssb_of(ctx, None)?;
    ctx.subcase("SPEC_ALLOW");
    let with = ssb_of(ctx, Some(json!(["SECCOMP_FILTER_FLAG_SPEC_ALLOW"])))?;
    ctx.rep.check(
        "SPEC_ALLOW: the container runs",
        !with.is_empty(),
        "no Speculation_Store_Bypass line",
    );
    if without.contains("force mitigated") {
        ctx.rep.check(
            "SPEC_ALLOW: the filter does not force the SSB mitigation",
            !with.contains("force"),
            format!("without: {without}\nwith: {with}\nhost: {host_ssb}"),
        );
    } else {
        ctx.rep.skip(
            "SPEC_ALLOW: the filter does not force the SSB mitigation",
            &format!("this CPU/kernel does not tie SSB to seccomp (Speculation_Store_Bypass: {without:?})"),
        );
    }
    ctx.subcase("LOG and TSYNC");
    let mut b = ctx.bundle()?;
    b.config["process"]["args"] = json!(["true"]);
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_TSYNC"],
        "syscalls": [{"names": ["acct"], "action": "SCMP_ACT_ERRNO"}]
    });
    let _ = ctx.output_of(&b)?;
    // With a notify rule: TSYNC (which the kernel refuses together with a listener)
    // is ignored, WAIT_KILLABLE_RECV is taken; the agent still answers.
    for flag in [
        "SECCOMP_FILTER_FLAG_TSYNC",
        "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
    ] {
        ctx.subcase(&format!("{flag} with a notify rule"));
        let agent = Agent::start(&ctx.tmp, mkdir_errors(), false)?;
        let mut b = ctx.bundle()?;
        b.shell(MKDIR_PROBE);
        let mut p = notify_profile(&agent.path, &["mkdir", "mkdirat"]);
        p["flags"] = json!([flag]);
        b.config["linux"]["seccomp"] = p;
        let out = ctx.output_of(&b)?;
        let err = std::fs::read_to_string(b.dir.join("create.err")).unwrap_or_default();
        ctx.rep.check(
            "mkdir fails with the agent's errno",
            out.contains("rc=1") && err.contains("No medium found"),
            format!("stdout: {out}\nstderr: {err}"),
        );
    }
    ctx.subcase("WAIT_KILLABLE_RECV without a notify rule");
    let mut b = ctx.bundle()?;
    b.config["process"]["args"] = json!(["true"]);
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
        "syscalls": [{"names": ["acct"], "action": "SCMP_ACT_ERRNO"}]
    });
    ctx.expect_create_fails(&b, "refused (the kernel takes it only with a listener)")?;
    ctx.subcase("unknown flag");
    let mut b = ctx.bundle()?;
    b.config["process"]["args"] = json!(["true"]);
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_CONFORMANCE_UNKNOWN"],
        "syscalls": [{"names": ["acct"], "action": "SCMP_ACT_ERRNO"}]
    });
    ctx.expect_create_fails(&b, "an unknown flag is refused")?;
    Ok(())
}

// ---- the startContainer hook and the filter ----

/// runc loads the filter before it waits for `start`, so a startContainer hook (run in
/// the container after that) is under the filter; a syscall the profile denies fails
/// in the hook too, and the container then fails to start.
fn hook_under_filter(ctx: &mut Ctx) -> Result<()> {
    for nnp in [false, true] {
        ctx.subcase(&format!("noNewPrivileges={nnp}"));
        let mut b = ctx.bundle()?;
        b.config["process"]["args"] = json!(["true"]);
        b.config["process"]["noNewPrivileges"] = json!(nnp);
        b.config["linux"]["seccomp"] = json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOMEDIUM}]
        });
        b.add_hook(
            "startContainer",
            json!({"path": "/bin/sh", "args": ["sh", "-c", "mkdir /tmp/from-hook 2>/tmp/hook-err; echo $? > /tmp/hook-rc"]}),
        );
        let _ = ctx.output_of(&b)?;
        ctx.rep.eq(
            "the startContainer hook ran",
            Some("1".to_string()),
            b.read_rootfs("/tmp/hook-rc").map(|s| s.trim().to_string()),
        );
        ctx.rep.check(
            "its mkdir got the profile's errno",
            b.read_rootfs("/tmp/hook-err")
                .unwrap_or_default()
                .contains("No medium found"),
            b.read_rootfs("/tmp/hook-err").unwrap_or_default(),
        );
    }
    Ok(())
}
