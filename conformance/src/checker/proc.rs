//! Process-level checks: args, env, cwd, user, umask, capabilities, rlimits,
//! no_new_privs, oom_score_adj, hostname, fds, seccomp, LSM labels, terminal,
//! ID mappings, cgroup namespace, sysctl.

use super::{errno, has_ns, str_list, Exp, Out};
use serde_json::Value;
use std::collections::BTreeSet;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::fs::MetadataExt;

/// Capability names indexed by number (linux/capability.h).
pub const CAPS: &[&str] = &bundle_tools::config::options::caps::ALL_CAPS;

fn status_field(name: &str) -> Option<String> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(|v| v.trim().to_string())
}

fn cap_last_cap() -> usize {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

pub fn run(cfg: &Value, _exp: &Exp, out: &mut Out) {
    let p = &cfg["process"];
    check_args_env_cwd(p, out);
    check_user(p, out);
    check_caps(p, out);
    check_rlimits(p, out);
    check_misc(cfg, out);
    check_fds(p, out);
    check_terminal(p, out);
    check_idmaps(cfg, out);
    check_cgroupns(cfg, out);
    check_sysctl(cfg, out);
    check_lsm(cfg, out);
    check_seccomp(cfg, out);
}

fn check_args_env_cwd(p: &Value, out: &mut Out) {
    let cmdline = std::fs::read("/proc/self/cmdline").unwrap_or_default();
    let body = cmdline.strip_suffix(&[0]).unwrap_or(&cmdline);
    let actual: Vec<String> = body
        .split(|b| *b == 0)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    out.eq(
        "process.args equal /proc/self/cmdline",
        str_list(p.get("args")),
        actual,
    );

    let env = str_list(p.get("env"));
    for e in &env {
        // Split on the first '=' only: values may contain '='.
        let (k, v) = e.split_once('=').unwrap_or((e, ""));
        let got = std::env::var_os(k).map(|s| s.to_string_lossy().into_owned());
        out.eq(&format!("env {k}"), Some(v.to_string()), got);
    }

    if let Some(cwd) = p["cwd"].as_str() {
        // readlink instead of getcwd(2): a seccomp case denies getcwd.
        let got = std::fs::read_link("/proc/self/cwd")
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let want = cwd.trim_end_matches('/');
        let want = if want.is_empty() { "/" } else { want };
        out.eq("process.cwd", want.to_string(), got);
    }
}

fn check_user(p: &Value, out: &mut Out) {
    let u = &p["user"];
    let uid = u["uid"].as_u64().unwrap_or(0) as u32;
    let gid = u["gid"].as_u64().unwrap_or(0) as u32;
    out.eq("process.user.uid", uid, unsafe { libc::getuid() });
    out.eq("process.user.gid", gid, unsafe { libc::getgid() });
    let mut groups = vec![0 as libc::gid_t; 256];
    let n = unsafe { libc::getgroups(256, groups.as_mut_ptr()) };
    groups.truncate(n.max(0) as usize);
    if let Some(add) = u["additionalGids"].as_array() {
        for g in add.iter().filter_map(Value::as_u64) {
            out.check(
                &format!("process.user.additionalGids contains {g}"),
                groups.contains(&(g as u32)),
                format!("getgroups: {groups:?}"),
            );
        }
    }
    if let Some(um) = u["umask"].as_u64() {
        let got = status_field("Umask").unwrap_or_default();
        out.eq("process.user.umask", format!("{um:04o}"), got);
    }
}

fn cap_names_to_mask(v: Option<&Value>, last: usize) -> u64 {
    let mut m = 0u64;
    for n in str_list(v) {
        if let Some(i) = CAPS.iter().position(|c| *c == n) {
            if i <= last {
                m |= 1 << i;
            }
        }
    }
    m
}

fn mask_names(m: u64) -> Vec<&'static str> {
    (0..CAPS.len())
        .filter(|i| m & (1 << i) != 0)
        .map(|i| CAPS[i])
        .collect()
}

fn check_caps(p: &Value, out: &mut Out) {
    let last = cap_last_cap();
    let caps = &p["capabilities"];
    for (set, field) in [
        ("bounding", "CapBnd"),
        ("effective", "CapEff"),
        ("inheritable", "CapInh"),
        ("permitted", "CapPrm"),
        ("ambient", "CapAmb"),
    ] {
        let want = cap_names_to_mask(caps.get(set), last);
        let got = status_field(field)
            .and_then(|s| u64::from_str_radix(&s, 16).ok())
            .unwrap_or(u64::MAX);
        out.check(
            &format!("capabilities {set}"),
            want == got,
            format!(
                "missing: {:?}\nunexpected: {:?}",
                mask_names(want & !got),
                mask_names(got & !want)
            ),
        );
    }
}

pub fn rlimit_resource(name: &str) -> Option<i32> {
    Some(match name {
        "RLIMIT_AS" => libc::RLIMIT_AS as i32,
        "RLIMIT_CORE" => libc::RLIMIT_CORE as i32,
        "RLIMIT_CPU" => libc::RLIMIT_CPU as i32,
        "RLIMIT_DATA" => libc::RLIMIT_DATA as i32,
        "RLIMIT_FSIZE" => libc::RLIMIT_FSIZE as i32,
        "RLIMIT_LOCKS" => libc::RLIMIT_LOCKS as i32,
        "RLIMIT_MEMLOCK" => libc::RLIMIT_MEMLOCK as i32,
        "RLIMIT_MSGQUEUE" => libc::RLIMIT_MSGQUEUE as i32,
        "RLIMIT_NICE" => libc::RLIMIT_NICE as i32,
        "RLIMIT_NOFILE" => libc::RLIMIT_NOFILE as i32,
        "RLIMIT_NPROC" => libc::RLIMIT_NPROC as i32,
        "RLIMIT_RSS" => libc::RLIMIT_RSS as i32,
        "RLIMIT_RTPRIO" => libc::RLIMIT_RTPRIO as i32,
        "RLIMIT_RTTIME" => libc::RLIMIT_RTTIME as i32,
        "RLIMIT_SIGPENDING" => libc::RLIMIT_SIGPENDING as i32,
        "RLIMIT_STACK" => libc::RLIMIT_STACK as i32,
        _ => return None,
    })
}

fn check_rlimits(p: &Value, out: &mut Out) {
    for rl in p["rlimits"].as_array().cloned().unwrap_or_default() {
        let t = rl["type"].as_str().unwrap_or("?");
        let Some(res) = rlimit_resource(t) else {
            out.check(&format!("rlimit {t}"), false, "unknown rlimit type");
            continue;
        };
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        unsafe { libc::getrlimit(res as _, &mut r) };
        out.eq(
            &format!("rlimit {t} soft/hard"),
            (
                rl["soft"].as_u64().unwrap_or(0),
                rl["hard"].as_u64().unwrap_or(0),
            ),
            (r.rlim_cur, r.rlim_max),
        );
    }
}

fn check_misc(cfg: &Value, out: &mut Out) {
    let p = &cfg["process"];
    let nnp = p["noNewPrivileges"].as_bool().unwrap_or(false);
    let got = unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) };
    out.eq("process.noNewPrivileges", i32::from(nnp), got);
    out.eq(
        "NoNewPrivs in /proc/self/status",
        Some(if nnp { "1" } else { "0" }.to_string()),
        status_field("NoNewPrivs"),
    );

    if let Some(adj) = p["oomScoreAdj"].as_i64() {
        let got = std::fs::read_to_string("/proc/self/oom_score_adj").unwrap_or_default();
        out.eq(
            "process.oomScoreAdj",
            adj.to_string(),
            got.trim().to_string(),
        );
    }

    if let Some(h) = cfg["hostname"].as_str().filter(|h| !h.is_empty()) {
        let mut buf = [0u8; 256];
        unsafe { libc::gethostname(buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
        let got = String::from_utf8_lossy(&buf[..buf.iter().position(|b| *b == 0).unwrap_or(0)])
            .into_owned();
        out.eq("hostname", h.to_string(), got);
    }
    if let Some(d) = cfg["domainname"].as_str().filter(|h| !h.is_empty()) {
        let got = std::fs::read_to_string("/proc/sys/kernel/domainname").unwrap_or_default();
        out.eq("domainname", d.to_string(), got.trim().to_string());
    }
}

fn check_fds(p: &Value, out: &mut Out) {
    // Runtime-linux: only 0, 1, 2 may be open (plus LISTEN_FDS, not used here).
    let dir = match std::fs::read_dir("/proc/self/fd") {
        Ok(d) => d,
        Err(e) => {
            out.check("only fds 0,1,2 open", false, e.to_string());
            return;
        }
    };
    let mut extra = Vec::new();
    for e in dir.flatten() {
        let n: i32 = e.file_name().to_string_lossy().parse().unwrap_or(-1);
        if n > 2 {
            let target = std::fs::read_link(e.path())
                .map(|t| t.to_string_lossy().into_owned())
                .unwrap_or_default();
            // The directory fd used by read_dir itself.
            if target == "/proc/self/fd" || target.starts_with("/proc/") && target.ends_with("/fd")
            {
                continue;
            }
            extra.push(format!("{n} -> {target}"));
        }
    }
    let _ = p;
    out.check(
        "only fds 0,1,2 open in the container process",
        extra.is_empty(),
        format!("extra fds: {extra:?}"),
    );
}

fn check_terminal(p: &Value, out: &mut Out) {
    let term = p["terminal"].as_bool().unwrap_or(false);
    for fd in 0..3 {
        let tty = unsafe { libc::isatty(fd) } == 1;
        out.eq(&format!("fd {fd} is a tty iff process.terminal"), term, tty);
    }
    if term {
        match std::fs::metadata("/dev/console") {
            Ok(m) => out.check(
                "/dev/console is a char device (the pty)",
                m.file_type().is_char_device() && libc::major(m.rdev()) == 136,
                format!("rdev {}:{}", libc::major(m.rdev()), libc::minor(m.rdev())),
            ),
            Err(e) => out.check("/dev/console exists with terminal", false, e.to_string()),
        }
        if let Some(cs) = p.get("consoleSize").filter(|v| v.is_object()) {
            let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
            unsafe { libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) };
            out.eq(
                "process.consoleSize applied (TIOCGWINSZ rows x cols)",
                (
                    cs["height"].as_u64().unwrap_or(0),
                    cs["width"].as_u64().unwrap_or(0),
                ),
                (ws.ws_row as u64, ws.ws_col as u64),
            );
        }
        let ctty = unsafe { libc::tcgetpgrp(0) };
        out.check(
            "terminal is the controlling tty (tcgetpgrp works)",
            ctty > 0,
            format!("tcgetpgrp: {ctty} errno {}", errno()),
        );
    }
}

fn parse_map(path: &str) -> Vec<(u64, u64, u64)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<u64> = l
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            (f.len() == 3).then(|| (f[0], f[1], f[2]))
        })
        .collect()
}

fn check_idmaps(cfg: &Value, out: &mut Out) {
    if !has_ns(cfg, "user") {
        return;
    }
    for (key, file) in [
        ("uidMappings", "/proc/self/uid_map"),
        ("gidMappings", "/proc/self/gid_map"),
    ] {
        let want: Vec<(u64, u64, u64)> = cfg["linux"][key]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|m| {
                (
                    m["containerID"].as_u64().unwrap_or(0),
                    m["hostID"].as_u64().unwrap_or(0),
                    m["size"].as_u64().unwrap_or(0),
                )
            })
            .collect();
        let got = parse_map(file);
        let a: BTreeSet<_> = want.iter().collect();
        let b: BTreeSet<_> = got.iter().collect();
        out.check(
            &format!("linux.{key} equal {file}"),
            a == b && want.len() == got.len(),
            format!("expected: {want:?}\nactual:   {got:?}"),
        );
    }
}

fn check_cgroupns(cfg: &Value, out: &mut Out) {
    let s = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    if has_ns(cfg, "cgroup") {
        let bad: Vec<&str> = s
            .lines()
            .filter(|l| l.splitn(3, ':').nth(2) != Some("/"))
            .collect();
        out.check(
            "cgroup namespace: /proc/self/cgroup shows / for every hierarchy",
            bad.is_empty() && !s.is_empty(),
            format!("lines not at /: {bad:?}"),
        );
    }
}

fn check_sysctl(cfg: &Value, out: &mut Out) {
    if let Some(m) = cfg["linux"]["sysctl"].as_object() {
        for (k, v) in m {
            let path = format!("/proc/sys/{}", k.replace('.', "/"));
            let got = std::fs::read_to_string(&path).unwrap_or_else(|e| format!("<{e}>"));
            out.eq(
                &format!("sysctl {k}"),
                v.as_str().unwrap_or("").trim().to_string(),
                got.trim().to_string(),
            );
        }
    }
}

fn check_lsm(cfg: &Value, out: &mut Out) {
    if let Some(prof) = cfg["process"]["apparmorProfile"].as_str() {
        let got = std::fs::read_to_string("/proc/self/attr/apparmor/current")
            .or_else(|_| std::fs::read_to_string("/proc/self/attr/current"))
            .unwrap_or_default();
        out.check(
            "process.apparmorProfile applied",
            got.trim().starts_with(prof),
            format!("attr/current: {got:?}"),
        );
    }
    if let Some(label) = cfg["process"]["selinuxLabel"].as_str() {
        let got = std::fs::read_to_string("/proc/self/attr/current").unwrap_or_default();
        out.eq(
            "process.selinuxLabel applied",
            label.to_string(),
            got.trim_end_matches(['\0', '\n']).to_string(),
        );
    }
}

fn syscall_nr(name: &str) -> Option<libc::c_long> {
    Some(match name {
        "getcwd" => libc::SYS_getcwd,
        "getpriority" => libc::SYS_getpriority,
        "getsid" => libc::SYS_getsid,
        "getpgid" => libc::SYS_getpgid,
        "personality" => libc::SYS_personality,
        "sethostname" => libc::SYS_sethostname,
        _ => return None,
    })
}

fn invoke(nr: libc::c_long, arg: u64) -> (i64, i32) {
    let mut buf = [0u8; 4096];
    let r = unsafe {
        if nr == libc::SYS_getcwd {
            libc::syscall(nr, buf.as_mut_ptr(), buf.len())
        } else {
            libc::syscall(nr, arg, 0u64, 0u64)
        }
    };
    (r, if r < 0 { errno() } else { 0 })
}

fn check_seccomp(cfg: &Value, out: &mut Out) {
    let sc = &cfg["linux"]["seccomp"];
    let mode = status_field("Seccomp").unwrap_or_default();
    if sc.is_null() {
        out.eq("seccomp mode without linux.seccomp", "0".to_string(), mode);
        return;
    }
    out.eq("seccomp mode is filter", "2".to_string(), mode);
    for rule in sc["syscalls"].as_array().cloned().unwrap_or_default() {
        let action = rule["action"].as_str().unwrap_or("");
        let arg = rule["args"]
            .as_array()
            .and_then(|a| a.first())
            .and_then(|a| a["value"].as_u64());
        for name in str_list(rule.get("names")) {
            let Some(nr) = syscall_nr(&name) else {
                continue;
            };
            match action {
                "SCMP_ACT_ERRNO" => {
                    let want = rule["errnoRet"].as_i64().unwrap_or(libc::EPERM as i64) as i32;
                    let (r, e) = invoke(nr, arg.unwrap_or(0));
                    out.check(
                        &format!("seccomp SCMP_ACT_ERRNO {name} returns errno {want}"),
                        r == -1 && e == want,
                        format!("ret {r} errno {e}"),
                    );
                    if let Some(a) = arg {
                        // A different argument value must not match the rule.
                        let (r2, e2) = invoke(nr, a + 1);
                        out.check(
                            &format!("seccomp {name} with a non-matching arg is allowed"),
                            !(r2 == -1 && e2 == want),
                            format!("ret {r2} errno {e2}"),
                        );
                    }
                }
                "SCMP_ACT_KILL" | "SCMP_ACT_KILL_PROCESS" | "SCMP_ACT_KILL_THREAD" => {
                    let pid = unsafe { libc::fork() };
                    if pid == 0 {
                        invoke(nr, arg.unwrap_or(0));
                        unsafe { libc::_exit(0) };
                    }
                    let mut st = 0;
                    unsafe { libc::waitpid(pid, &mut st, 0) };
                    let sig = if libc::WIFSIGNALED(st) {
                        libc::WTERMSIG(st)
                    } else {
                        0
                    };
                    out.check(
                        &format!("seccomp {action} {name} kills the caller with SIGSYS"),
                        sig == libc::SIGSYS,
                        format!("wait status {st:#x}"),
                    );
                }
                _ => {}
            }
        }
    }
}
