//! Namespaces (config-linux.md "Namespaces"): new, inherited, joined by path,
//! path of the wrong type; user namespace ID mappings; cgroup namespace.

use super::{Case, Ctx, WAIT};
use crate::host::ns_link;
use crate::runtime::CreateOpts;
use anyhow::Result;
use serde_json::json;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "namespaces/new_all_types",
            run: new_all,
        },
        Case {
            name: "namespaces/inherit",
            run: inherit,
        },
        Case {
            name: "namespaces/join_by_path",
            run: join_by_path,
        },
        Case {
            name: "namespaces/path_type_mismatch",
            run: path_type_mismatch,
        },
        Case {
            name: "namespaces/user_mappings",
            run: user_mappings,
        },
    ]
}

/// Namespace type in config -> name under /proc/<pid>/ns.
fn proc_name(t: &str) -> &str {
    match t {
        "network" => "net",
        "mount" => "mnt",
        x => x,
    }
}

const ALL: [&str; 7] = ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"];

pub(crate) fn add_userns(b: &mut crate::bundle::Bundle, uid_size: u64, gid_size: u64) {
    b.add_ns("user", None);
    b.config["linux"]["uidMappings"] =
        json!([{"containerID": 0, "hostID": 1000, "size": uid_size}]);
    b.config["linux"]["gidMappings"] =
        json!([{"containerID": 0, "hostID": 1000, "size": gid_size}]);
}

fn new_all(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    for t in ALL {
        b.add_ns(t, None);
    }
    add_userns(&mut b, 1000, 1000);
    b.write()?;
    let id = ctx.id();
    let c = ctx.rt.create(&id, &b.dir, &CreateOpts::default());
    if !ctx.rep.check("create succeeds", c.success(), c.diag()) {
        return Ok(());
    }
    let pid = ctx.rt.state_json(&id)?["pid"]
        .as_i64()
        .unwrap_or(0)
        .to_string();
    for t in ALL {
        let n = proc_name(t);
        let (mine, theirs) = (ns_link("self", n), ns_link(&pid, n));
        ctx.rep.check(
            &format!("{t} namespace without path is new"),
            mine != theirs && theirs.starts_with(n),
            format!("host {mine}, container {theirs}"),
        );
    }
    let s = ctx.rt.start(&id);
    ctx.rep.check("start succeeds", s.success(), s.diag());
    let (ok, seen) = ctx.rt.wait_status(&id, "stopped", WAIT);
    ctx.rep.check("container stops", ok, format!("{seen:?}"));
    let out = std::fs::read_to_string(b.dir.join("create.out")).unwrap_or_default();
    ctx.rep.absorb_checker(&out);
    Ok(())
}

fn inherit(ctx: &mut Ctx) -> Result<()> {
    // Every namespace but mount is left out (a runtime without a mount
    // namespace would mount over the host; the mount ns is covered above).
    let mut b = ctx.bundle()?;
    b.config["linux"]["namespaces"] = json!([{"type": "mount"}]);
    b.config.as_object_mut().unwrap().remove("hostname");
    b.config["process"]["args"] = json!(["sleep", "5"]);
    b.write()?;
    let id = ctx.id();
    let c = ctx.rt.create(&id, &b.dir, &CreateOpts::default());
    if !ctx.rep.check("create succeeds", c.success(), c.diag()) {
        return Ok(());
    }
    let pid = ctx.rt.state_json(&id)?["pid"]
        .as_i64()
        .unwrap_or(0)
        .to_string();
    for t in ALL.iter().filter(|t| **t != "mount") {
        let n = proc_name(t);
        ctx.rep.eq(
            &format!("absent {t} namespace is inherited from the runtime"),
            ns_link("self", n),
            ns_link(&pid, n),
        );
    }
    Ok(())
}

/// Start `unshare --<t> ... sleep` and return the ns path to join.
fn spawn_helper(ctx: &mut Ctx, t: &str) -> Result<Option<String>> {
    let n = proc_name(t);
    let flag = match t {
        "network" => "--net",
        "mount" => "--mount",
        x => return spawn_with(ctx, &format!("--{x}"), n),
    };
    spawn_with(ctx, flag, n)
}

fn spawn_with(ctx: &mut Ctx, flag: &str, n: &str) -> Result<Option<String>> {
    let mut cmd = Command::new("unshare");
    cmd.arg(flag);
    let pidns = n == "pid";
    if pidns {
        cmd.args(["--fork", "--kill-child"]);
    }
    cmd.args(["sleep", "1000"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = cmd.spawn()?;
    let pid = ctx.helper(child).to_string();
    let file = if pidns { "pid_for_children" } else { n };
    let mine = ns_link("self", n);
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        let l = ns_link(&pid, file);
        if l.starts_with(n) && l != mine {
            return Ok(Some(format!("/proc/{pid}/ns/{file}")));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(None)
}

fn join_by_path(ctx: &mut Ctx) -> Result<()> {
    if !ctx.host.unshare {
        ctx.rep.skip("join by path", "unshare(1) not installed");
        return Ok(());
    }
    for t in ["ipc", "mount", "network", "pid", "uts", "cgroup"] {
        let Some(path) = spawn_helper(ctx, t)? else {
            ctx.rep.check(
                &format!("{t}: helper namespace created"),
                false,
                "unshare did not set up",
            );
            continue;
        };
        let want = std::fs::read_link(&path)
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut b = ctx.bundle()?;
        b.add_ns(t, Some(&path));
        b.config["process"]["args"] = json!(["sleep", "5"]);
        b.write()?;
        let id = ctx.id();
        let c = ctx.rt.create(&id, &b.dir, &CreateOpts::default());
        if !ctx.rep.check(
            &format!("{t}: create with namespace path succeeds"),
            c.success(),
            c.diag(),
        ) {
            continue;
        }
        let pid = ctx.rt.state_json(&id)?["pid"]
            .as_i64()
            .unwrap_or(0)
            .to_string();
        ctx.rep.eq(
            &format!("{t}: container joined the namespace at path"),
            want,
            ns_link(&pid, proc_name(t)),
        );
        ctx.rt.cleanup(&id);
    }
    Ok(())
}

fn path_type_mismatch(ctx: &mut Ctx) -> Result<()> {
    let me = std::process::id();
    for (i, t) in ALL.iter().enumerate() {
        let other = proc_name(ALL[(i + 1) % ALL.len()]);
        let mut b = ctx.bundle()?;
        b.add_ns(t, Some(&format!("/proc/{me}/ns/{other}")));
        b.config["process"]["args"] = json!(["true"]);
        let id = ctx.id();
        b.write()?;
        let c = ctx.rt.create(&id, &b.dir, &CreateOpts::default());
        let mut failed = c.failed();
        if !failed {
            failed = ctx.rt.start(&id).failed();
        }
        ctx.rep.check(
            &format!("{t} namespace path pointing at a {other} namespace is rejected"),
            failed,
            c.diag(),
        );
        ctx.rt.cleanup(&id);
    }
    Ok(())
}

fn user_mappings(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    add_userns(&mut b, 2000, 3000);
    ctx.run_checker(&b)?;
    Ok(())
}
