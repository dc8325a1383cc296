//! `exec` as runc 1.1 does it, beyond what the runtime spec says: which container
//! states take an exec, and how failures end (exit 255, one error line).

use super::{Case, Ctx, WAIT};
use crate::runtime::{ConsoleSocket, CreateOpts, Out};
use anyhow::Result;
use serde_json::json;
use std::time::Duration;

pub fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "exec/created_container",
            run: created,
        },
        Case {
            name: "exec/refused_states",
            run: refused_states,
        },
        Case {
            name: "exec/failures_exit_255",
            run: failures,
        },
        Case {
            name: "exec/process_file_without_user_and_env",
            run: minimal_process,
        },
        Case {
            name: "exec/user_and_cap_flags",
            run: user_and_cap,
        },
        Case {
            name: "exec/tty_size_and_owner",
            run: tty_size_and_owner,
        },
    ]
}

fn running_sleeper(ctx: &mut Ctx) -> Result<String> {
    let id = created_sleeper(ctx)?;
    let s = ctx.rt.start(&id);
    ctx.rep.check("start succeeds", s.success(), s.diag());
    Ok(id)
}

/// runc reads a process.json without `user` as uid 0/gid 0 and without `env` as an
/// empty environment (HOME then from the container's passwd).
fn minimal_process(ctx: &mut Ctx) -> Result<()> {
    let id = running_sleeper(ctx)?;
    let file = ctx.rt.scratch.join(format!("{id}-process.json"));
    std::fs::write(
        &file,
        json!({"args": ["/bin/sh", "-c", "echo \"$(id -u):$(id -g) HOME=$HOME\""], "cwd": "/"})
            .to_string(),
    )?;
    let f = file.to_string_lossy().into_owned();
    let o = ctx.rt.run(&["exec", "--process", &f, &id]);
    ctx.rep.check(
        "exec --process of a minimal process.json succeeds",
        o.success(),
        o.diag(),
    );
    ctx.rep
        .eq("uid, gid and HOME", "0:0 HOME=/root", o.stdout.trim());
    let _ = std::fs::remove_file(&file);
    Ok(())
}

/// `exec --user UID:GID`, and `--cap`: the capability lands in the bounding, effective
/// and permitted sets; the inheritable set is left as it is, so it is not ambient.
fn user_and_cap(ctx: &mut Ctx) -> Result<()> {
    let id = running_sleeper(ctx)?;
    let o = ctx
        .rt
        .run(&["exec", "--user", "10:10", &id, "sh", "-c", "id -u; id -g"]);
    ctx.rep.eq("exec --user 10:10", "10\n10", o.stdout.trim());
    let o = ctx.rt.run(&[
        "exec",
        "--cap",
        "CAP_SYS_ADMIN",
        &id,
        "cat",
        "/proc/self/status",
    ]);
    let mask = |key: &str| {
        o.stdout
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
    };
    let sys_admin = 1u64 << 21;
    for set in ["CapBnd:", "CapEff:", "CapPrm:"] {
        ctx.rep.check(
            &format!("exec --cap CAP_SYS_ADMIN: in {set}"),
            mask(set).is_some_and(|m| m & sys_admin != 0),
            o.diag(),
        );
    }
    // not inheritable, so not ambient either (the kernel keeps ambient within it)
    for set in ["CapInh:", "CapAmb:"] {
        ctx.rep.check(
            &format!("exec --cap CAP_SYS_ADMIN: not in {set}"),
            mask(set).is_some_and(|m| m & sys_admin == 0),
            o.diag(),
        );
    }
    Ok(())
}

/// A sleeping container, created (not started).
fn created_sleeper(ctx: &mut Ctx) -> Result<String> {
    let mut b = ctx.bundle()?;
    b.config["process"]["args"] = json!(["sleep", "30"]);
    b.write()?;
    let id = ctx.id();
    let c = ctx.rt.create(&id, &b.dir, &CreateOpts::default());
    ctx.rep.check("create succeeds", c.success(), c.diag());
    Ok(id)
}

/// runc exits 255 on any exec failure, with one error line on stderr.
fn refused(ctx: &mut Ctx, what: &str, o: &Out) {
    ctx.rep
        .eq(&format!("{what}: exit code 255"), Some(255), o.code);
    let lines = o.stderr.lines().filter(|l| !l.trim().is_empty()).count();
    ctx.rep.eq(&format!("{what}: one error line"), 1, lines);
}

fn created(ctx: &mut Ctx) -> Result<()> {
    let id = created_sleeper(ctx)?;
    let o = ctx
        .rt
        .run(&["exec", &id, "sh", "-c", "echo exec-in-created; exit 3"]);
    ctx.rep.eq(
        "exec into a created container: its exit code",
        Some(3),
        o.code,
    );
    ctx.rep.check(
        "exec into a created container: its output",
        o.stdout.contains("exec-in-created"),
        o.diag(),
    );
    ctx.rep.eq(
        "the container is still created afterwards",
        Some("created".to_string()),
        ctx.rt.status(&id),
    );
    let s = ctx.rt.start(&id);
    ctx.rep
        .check("start succeeds afterwards", s.success(), s.diag());
    Ok(())
}

fn refused_states(ctx: &mut Ctx) -> Result<()> {
    let id = created_sleeper(ctx)?;
    ctx.rt.start(&id);
    let p = ctx.rt.run(&["pause", &id]);
    ctx.rep.check("pause succeeds", p.success(), p.diag());
    let o = ctx.rt.run(&["exec", &id, "true"]);
    refused(ctx, "exec into a paused container", &o);
    ctx.rt.run(&["resume", &id]);
    ctx.rt.kill(&id, "KILL");
    ctx.rt.wait_status(&id, "stopped", WAIT);
    let o = ctx.rt.run(&["exec", &id, "true"]);
    refused(ctx, "exec into a stopped container", &o);
    Ok(())
}

fn failures(ctx: &mut Ctx) -> Result<()> {
    let id = created_sleeper(ctx)?;
    ctx.rt.start(&id);
    let o = ctx.rt.run(&["exec", &id, "/conformance-no-such-binary"]);
    refused(ctx, "exec of a binary that does not exist", &o);
    let pid = ctx.rt.scratch.join("no-such-dir/exec.pid");
    let pid = pid.to_string_lossy().into_owned();
    let o = ctx.rt.run(&["exec", "--pid-file", &pid, &id, "true"]);
    refused(
        ctx,
        "exec --pid-file in a directory that does not exist",
        &o,
    );
    let o = ctx
        .rt
        .run(&["exec", "conformance-no-such-container", "true"]);
    refused(ctx, "exec into a container that does not exist", &o);
    let o = ctx.rt.run(&["exec", &id, "true"]);
    ctx.rep
        .check("a good exec still works afterwards", o.success(), o.diag());
    Ok(())
}

/// `exec -t` with a process.json: the pty gets the process's `consoleSize`, and a
/// non-root process user owns its pty (runc chowns the stdio to the user and keeps the
/// group devpts gave it, gid 5 with the default `gid=5` mount option).
fn tty_size_and_owner(ctx: &mut Ctx) -> Result<()> {
    let id = running_sleeper(ctx)?;
    let file = ctx.rt.scratch.join(format!("{id}-tty.json"));
    std::fs::write(
        &file,
        json!({
            "terminal": true,
            "consoleSize": {"height": 23, "width": 77},
            "user": {"uid": 1000, "gid": 100},
            "args": ["/bin/sh", "-c", "stty size; stat -c %u:%g $(tty)"],
            "env": ["PATH=/bin:/sbin:/usr/bin"],
            "cwd": "/"
        })
        .to_string(),
    )?;
    let sock = ctx.rt.scratch.join(format!("{id}-tty.sock"));
    let mut cs = ConsoleSocket::listen(sock.clone())?;
    let (f, s) = (file.to_string_lossy(), sock.to_string_lossy());
    let o = ctx
        .rt
        .run(&["exec", "-d", "-t", "--console-socket", &s, "-p", &f, &id]);
    ctx.rep
        .check("exec -d -t -p succeeds", o.success(), o.diag());
    let out = cs.finish(Duration::from_secs(10));
    let lines: Vec<&str> = out.lines().map(str::trim).collect();
    ctx.rep.eq(
        "stty size inside is consoleSize",
        Some("23 77"),
        lines.first().copied(),
    );
    ctx.rep.eq(
        "the pty belongs to the process user, devpts group",
        Some("1000:5"),
        lines.get(1).copied(),
    );
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_file(&sock);
    Ok(())
}
