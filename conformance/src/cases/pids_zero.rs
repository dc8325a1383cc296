//! `linux.resources.pids.limit` of 0 at create, as runc 1.4+ (runtime-spec 1.3) has
//! it: `pids.max` is 1 (systemd cannot set TasksMax=0, so every cgroup driver maps
//! 0 to 1), and the container still runs its one process. runc 1.1 left the limit
//! unset for 0. A `pids` object without a limit sets nothing.

use super::{Case, Ctx, WAIT};
use anyhow::Result;
use serde_json::{json, Value};

pub fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "pids_zero/create",
            run: create_zero,
        },
        Case {
            name: "pids_zero/absent_limit",
            run: absent_limit,
        },
    ]
}

/// Creates a container in a fresh cgroup with `pids` as its pids resource, checks
/// `pids.max` before start, then runs it and returns what it printed.
fn run_with(ctx: &mut Ctx, pids: Value, want_max: &str) -> Result<Option<String>> {
    if !ctx.host.v1.contains_key("pids") {
        ctx.rep
            .skip("pids.max", "no cgroup v1 pids controller here");
        return Ok(None);
    }
    let mut b = ctx.bundle()?;
    let cg = ctx.cgpath();
    b.config["linux"]["cgroupsPath"] = json!(cg);
    b.config["linux"]["resources"]["pids"] = pids;
    // The shell's builtins need no new task; running `true` needs a fork (a failed
    // fork ends busybox's shell).
    b.shell("echo one; /bin/true; echo forked");
    let Some((id, _)) = ctx.create_only(&b)? else {
        return Ok(None);
    };
    let max = ctx
        .host
        .v1_dir("pids", &cg)
        .and_then(|d| std::fs::read_to_string(d.join("pids.max")).ok())
        .map(|s| s.trim().to_string());
    ctx.rep
        .eq("pids.max after create", Some(want_max.to_string()), max);
    let s = ctx.rt.start(&id);
    if !ctx.rep.check("start succeeds", s.success(), s.diag()) {
        return Ok(None);
    }
    let (ok, seen) = ctx.rt.wait_status(&id, "stopped", WAIT);
    ctx.rep
        .check("container stops", ok, format!("statuses seen: {seen:?}"));
    Ok(Some(
        std::fs::read_to_string(b.dir.join("create.out")).unwrap_or_default(),
    ))
}

fn create_zero(ctx: &mut Ctx) -> Result<()> {
    let Some(out) = run_with(ctx, json!({"limit": 0}), "1")? else {
        return Ok(());
    };
    ctx.rep.check(
        "the container's one process runs",
        out.lines().next() == Some("one"),
        format!("output: {out:?}"),
    );
    ctx.rep.check(
        "a second task cannot be forked",
        !out.contains("forked"),
        format!("output: {out:?}"),
    );
    Ok(())
}

fn absent_limit(ctx: &mut Ctx) -> Result<()> {
    let Some(out) = run_with(ctx, json!({}), "max")? else {
        return Ok(());
    };
    ctx.rep.check(
        "the container forks freely",
        out.lines().collect::<Vec<_>>() == ["one", "forked"],
        format!("output: {out:?}"),
    );
    Ok(())
}
