//! `exec` as runc 1.1 does it, beyond what the runtime spec says: which container
//! states take an exec, and how failures end (exit 255, one error line).

use super::{Case, Ctx, WAIT};
use crate::runtime::{CreateOpts, Out};
use anyhow::Result;
use serde_json::json;

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
    ]
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
