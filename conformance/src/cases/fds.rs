//! No host fd reaches the container (the CVE-2024-21626 class): a created init, a
//! process started by `exec` and every hook hold stdio, the fds asked for with
//! `--preserve-fds`, and at most the runtime's own synchronisation fds (sockets, pipes,
//! anonymous inodes, an exec fifo) — never a directory, a procfs or a cgroup file.
//! The runtime is started with a canary: a host directory open without O_CLOEXEC,
//! past the preserved range, as a careless caller would leak it.

use super::{Case, Ctx};
use crate::runtime::{ConsoleSocket, CreateOpts};
use anyhow::Result;
use serde_json::json;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;

pub fn cases() -> Vec<Case> {
    vec![Case {
        name: "security/inherited_fds",
        run: inherited_fds,
    }]
}

/// The fd number the canary is leaked as.
const CANARY: i32 = 40;
const HOOKS: [&str; 5] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
];

fn inherited_fds(ctx: &mut Ctx) -> Result<()> {
    let canary: OwnedFd = std::fs::File::open(&ctx.tmp)?.into();
    let preserved: Vec<OwnedFd> = vec![
        std::fs::File::open("/dev/null")?.into(),
        std::fs::File::create(ctx.tmp.join("preserved-fd"))?.into(),
    ];
    for sub in ["default", "terminal", "userns", "preserve_fds", "hooks"] {
        ctx.subcase(sub);
        let mut b = ctx.bundle()?;
        b.config["process"]["args"] = json!(["sleep", "60"]);
        let mut fds = vec![(canary.as_raw_fd(), CANARY)];
        let mut preserve = 0;
        let mut console = None;
        match sub {
            "terminal" => {
                b.config["process"]["terminal"] = json!(true);
                console = Some(ConsoleSocket::listen(b.dir.join("console.sock"))?);
            }
            "userns" => super::namespaces::add_userns(&mut b, 65536, 65536),
            "preserve_fds" => {
                preserve = preserved.len() as u32;
                for (i, fd) in preserved.iter().enumerate() {
                    fds.push((fd.as_raw_fd(), 3 + i as i32));
                }
            }
            "hooks" => {
                for kind in HOOKS {
                    let script = format!("ls -l {FD} > /fds-{kind}; ls -lL {FD} >> /fds-{kind}");
                    let hook = if kind == "startContainer" {
                        super::hooks::in_container_hook(&script)
                    } else {
                        let out = b.host(&format!("/fds-{kind}")).display().to_string();
                        b.hook(&format!("ls -l {FD} > {out}; ls -lL {FD} >> {out}"))
                    };
                    b.add_hook(kind, hook);
                }
            }
            _ => {}
        }
        b.write()?;
        let id = ctx.id();
        let opts = CreateOpts {
            console_socket: console.as_ref().map(|c| c.path.as_path()),
            preserve_fds: preserve,
            fds: &fds,
            ..Default::default()
        };
        let c = ctx.rt.create(&id, &b.dir, &opts);
        if !ctx.rep.check("create succeeds", c.success(), c.diag()) {
            continue;
        }
        let pid = ctx.rt.state_json(&id)?["pid"].as_i64().unwrap_or(0);
        let bad = foreign_fds(pid, 3 + preserve as i32);
        ctx.rep.check(
            "the created init holds only stdio, preserved and sync fds",
            bad.is_empty(),
            format!("{bad:?}"),
        );
        if preserve > 0 {
            ctx.rep.eq(
                "the preserved fds reach the created init",
                &fd_targets(pid)[3..5],
                &[
                    (3, "/dev/null".to_string()),
                    (4, ctx.tmp.join("preserved-fd").display().to_string()),
                ],
            );
        }
        let s = ctx.rt.start(&id);
        if !ctx.rep.check("start succeeds", s.success(), s.diag()) {
            continue;
        }
        if sub == "hooks" {
            for kind in HOOKS {
                let ls = b.read_rootfs(&format!("/fds-{kind}"));
                let bad = ls.as_deref().map(foreign_in_ls);
                ctx.rep.eq(
                    &format!("a {kind} hook holds only stdio and sync fds"),
                    &Some(vec![]),
                    &bad,
                );
            }
        }
        if sub == "default" || sub == "preserve_fds" {
            exec_fds(ctx, &id, &b.dir, &fds, preserve)?;
        }
        ctx.rt.kill(&id, "KILL");
    }
    Ok(())
}

/// `exec -d` a process and check its fds as those of the init.
fn exec_fds(
    ctx: &mut Ctx,
    id: &str,
    dir: &std::path::Path,
    fds: &[(i32, i32)],
    preserve: u32,
) -> Result<()> {
    let pid_file = dir.join("exec.pid");
    let pf = pid_file.display().to_string();
    let pfd = format!("--preserve-fds={preserve}");
    let args = ["exec", "-d", "--pid-file", &pf, &pfd, id, "sleep", "60"];
    let (out, err) = (dir.join("exec.out"), dir.join("exec.err"));
    let e = ctx.rt.run_with_fds(&args, &out, &err, fds);
    if !ctx.rep.check("exec -d succeeds", e.success(), e.diag()) {
        return Ok(());
    }
    let pid: i64 = std::fs::read_to_string(&pid_file)?.trim().parse()?;
    let bad = foreign_fds(pid, 3 + preserve as i32);
    ctx.rep.check(
        "a process started by exec holds only stdio, preserved and sync fds",
        bad.is_empty(),
        format!("{bad:?}"),
    );
    Ok(())
}

/// `(fd, readlink target)` of every open fd of `pid`, in order.
fn fd_targets(pid: i64) -> Vec<(i32, String)> {
    let mut v: Vec<(i32, String)> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let n = e.file_name().to_str()?.parse().ok()?;
                    let t = std::fs::read_link(e.path()).ok()?;
                    Some((n, t.display().to_string()))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Fds from `first` up that are not [`sync_or_pty`]: each as "N -> target".
fn foreign_fds(pid: i64, first: i32) -> Vec<String> {
    fd_targets(pid)
        .into_iter()
        .filter(|(n, target)| {
            let fifo = std::fs::metadata(format!("/proc/{pid}/fd/{n}"))
                .is_ok_and(|m| m.file_type().is_fifo());
            *n >= first && !sync_or_pty(target, fifo)
        })
        .map(|(n, t)| format!("{n} -> {t}"))
        .collect()
}

/// What a runtime may leave open past stdio and the preserved fds: a socket, pipe,
/// anonymous inode, fifo or the container's own pty, and never a cgroup file.
fn sync_or_pty(target: &str, fifo: bool) -> bool {
    let anon = ["socket:", "pipe:", "anon_inode:", "/dev/pts/"]
        .iter()
        .any(|p| target.starts_with(p));
    (anon || fifo) && !target.contains("cgroup")
}

/// What a hook lists: `ls -l` (targets) then `ls -lL` (file types) of its fds.
const FD: &str = "/proc/self/fd";

/// The fds from 3 up in a hook's listing that are not [`sync_or_pty`]; not the one
/// `ls` reads the directory with.
fn foreign_in_ls(ls: &str) -> Vec<String> {
    let mut targets = std::collections::BTreeMap::new();
    let mut kinds = std::collections::BTreeMap::new();
    for l in ls.lines() {
        let (left, target) = l.split_once(" -> ").unwrap_or((l, ""));
        let Some(n) = left.rsplit(' ').next().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        if target.is_empty() {
            kinds.insert(n, l.chars().next().unwrap_or('?'));
        } else {
            targets.insert(n, target.to_string());
        }
    }
    targets
        .into_iter()
        .filter(|(n, t)| {
            let own = t.starts_with("/proc/") && t.ends_with("/fd");
            *n > 2 && !own && !sync_or_pty(t, kinds.get(n) == Some(&'p'))
        })
        .map(|(n, t)| format!("{n} -> {t}"))
        .collect()
}
