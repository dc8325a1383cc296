//! Lifecycle, state, kill and delete (runtime.md), checked from outside.

use super::{Case, Ctx, WAIT};
use crate::runtime::CreateOpts;
use anyhow::Result;
use serde_json::{json, Value};
use std::time::Duration;

pub fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "lifecycle/create",
            run: create,
        },
        Case {
            name: "lifecycle/start",
            run: start,
        },
        Case {
            name: "lifecycle/state",
            run: state,
        },
        Case {
            name: "lifecycle/pidfile",
            run: pidfile,
        },
        Case {
            name: "lifecycle/config_updates_without_affect",
            run: config_updates,
        },
        Case {
            name: "lifecycle/misc_props",
            run: misc_props,
        },
        Case {
            name: "lifecycle/default",
            run: default,
        },
        Case {
            name: "lifecycle/hostname",
            run: hostname,
        },
        Case {
            name: "lifecycle/id_reuse",
            run: id_reuse,
        },
        Case {
            name: "lifecycle/killed_externally",
            run: killed_externally,
        },
        Case {
            name: "lifecycle/kill_null_signal_and_stopped",
            run: kill_null_and_stopped,
        },
        Case {
            name: "lifecycle/pid_file_dir_missing",
            run: pid_file_dir_missing,
        },
        Case {
            name: "lifecycle/no_process",
            run: no_process,
        },
        Case {
            name: "lifecycle/features",
            run: features,
        },
        Case {
            name: "lifecycle/unknown_subcommand",
            run: unknown_subcommand,
        },
        Case {
            name: "kill/kill",
            run: kill,
        },
        Case {
            name: "kill/no_effect",
            run: kill_no_effect,
        },
        Case {
            name: "kill/signals",
            run: killsig,
        },
        Case {
            name: "delete/delete",
            run: delete,
        },
    ]
}

/// Validate a state JSON document (runtime.md "State").
pub fn check_state(ctx: &mut Ctx, what: &str, v: &Value, id: &str, bundle: &str, status: &str) {
    let r = &mut ctx.rep;
    let keys_ok = ["ociVersion", "id", "status", "bundle"]
        .iter()
        .all(|k| v.get(k).map(|x| x.is_string()).unwrap_or(false));
    r.check(
        &format!("{what}: state has ociVersion, id, status, bundle"),
        keys_ok,
        v.to_string(),
    );
    r.eq(&format!("{what}: state.id"), Some(id), v["id"].as_str());
    r.eq(
        &format!("{what}: state.status"),
        Some(status),
        v["status"].as_str(),
    );
    r.eq(
        &format!("{what}: state.bundle is the absolute bundle path"),
        Some(bundle),
        v["bundle"].as_str(),
    );
    if status == "created" || status == "running" {
        let pid = v["pid"].as_i64().unwrap_or(0);
        r.check(
            &format!("{what}: state.pid > 0 and alive"),
            pid > 0 && std::path::Path::new(&format!("/proc/{pid}")).exists(),
            v.to_string(),
        );
    }
    if ["creating", "created", "running", "stopped"].contains(&status) {
        let d: Result<oci_spec::runtime::State, _> = serde_json::from_value(v.clone());
        r.check(
            &format!("{what}: state decodes against the state schema"),
            d.is_ok(),
            format!("{d:?}"),
        );
    }
}

fn sleeper(ctx: &mut Ctx, secs: u32) -> Result<crate::bundle::Bundle> {
    let mut b = ctx.bundle()?;
    b.config["process"]["args"] = json!(["sleep", secs.to_string()]);
    b.write()?;
    Ok(b)
}

fn create(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    b.config["process"]["args"] = json!(["ls"]);
    b.write()?;
    let bd = b.dir.to_string_lossy().into_owned();
    let o = ctx.rt.run(&["create", "--bundle", &bd]);
    ctx.rep
        .check("create without an ID fails", o.failed(), o.diag());
    let id = ctx.id();
    let o = ctx.rt.create(&id, &b.dir, &CreateOpts::default());
    ctx.rep
        .check("create with a new ID succeeds", o.success(), o.diag());
    let st = ctx.rt.state_json(&id);
    ctx.rep.check(
        "state returns the created ID",
        st.as_ref().map(|v| v["id"] == id.as_str()).unwrap_or(false),
        format!("{st:?}"),
    );
    let pid1 = st.as_ref().ok().and_then(|v| v["pid"].as_i64());
    // Second create with the same ID in another bundle.
    let b2 = ctx.bundle()?;
    b2.write()?;
    let o = ctx.rt.create(&id, &b2.dir, &CreateOpts::default());
    ctx.rep
        .check("create with a duplicate ID fails", o.failed(), o.diag());
    let st = ctx.rt.state_json(&id);
    ctx.rep.check(
        "duplicate create leaves the existing container untouched",
        st.as_ref()
            .map(|v| {
                v["status"] == "created" && v["pid"].as_i64() == pid1 && v["bundle"] == bd.as_str()
            })
            .unwrap_or(false),
        format!("{st:?}"),
    );
    Ok(())
}

fn start(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    b.shell("echo 'process called' >> /output");
    b.write()?;
    let o = ctx.rt.run(&["start"]);
    ctx.rep
        .check("start without an ID fails", o.failed(), o.diag());
    let o = ctx.rt.start("conformance-no-such-container");
    ctx.rep
        .check("start of an unknown ID fails", o.failed(), o.diag());
    let id = ctx.id();
    let o = ctx.rt.create(&id, &b.dir, &CreateOpts::default());
    ctx.rep.check("create succeeds", o.success(), o.diag());
    ctx.rep.check(
        "process.args not run by create",
        b.read_rootfs("/output").is_none(),
        "/output exists after create",
    );
    let o = ctx.rt.start(&id);
    ctx.rep.check("start succeeds", o.success(), o.diag());
    let (ok, seen) = ctx.rt.wait_status(&id, "stopped", WAIT);
    ctx.rep
        .check("container reaches stopped", ok, format!("{seen:?}"));
    let out = b.read_rootfs("/output");
    ctx.rep.eq(
        "process ran exactly once",
        Some("process called\n".to_string()),
        out.clone(),
    );
    let o = ctx.rt.start(&id);
    ctx.rep
        .check("start of a stopped container fails", o.failed(), o.diag());
    std::thread::sleep(Duration::from_millis(100));
    ctx.rep.eq(
        "second start does not rerun the process",
        out,
        b.read_rootfs("/output"),
    );
    let d = ctx.rt.delete(&id);
    ctx.rep.check("delete succeeds", d.success(), d.diag());

    // A running container cannot be started again.
    let b = sleeper(ctx, 30)?;
    let id = ctx.id();
    ctx.rt.create(&id, &b.dir, &CreateOpts::default());
    ctx.rt.start(&id);
    let o = ctx.rt.start(&id);
    ctx.rep
        .check("start of a running container fails", o.failed(), o.diag());
    ctx.rep.eq(
        "running container unaffected by second start",
        Some("running".to_string()),
        ctx.rt.status(&id),
    );
    Ok(())
}

fn state(ctx: &mut Ctx) -> Result<()> {
    let o = ctx.rt.run(&["state"]);
    ctx.rep
        .check("state without an ID fails", o.failed(), o.diag());
    let o = ctx.rt.state("conformance-no-such-container");
    ctx.rep
        .check("state of an unknown ID fails", o.failed(), o.diag());
    let mut b = ctx.bundle()?;
    b.shell("sleep 1");
    b.config["annotations"] = json!({"org.opencontainers.conformance": "state test", "k2": "v2"});
    b.write()?;
    let bd = b.dir.to_string_lossy().into_owned();
    let id = ctx.id();
    let o = ctx.rt.create(&id, &b.dir, &CreateOpts::default());
    ctx.rep.check("create succeeds", o.success(), o.diag());
    let created = ctx.rt.state_json(&id).unwrap_or(Value::Null);
    check_state(ctx, "created", &created, &id, &bd, "created");
    ctx.rep.eq(
        "created: state.annotations equal the config",
        Some(&b.config["annotations"]),
        created.get("annotations"),
    );
    let o = ctx.rt.start(&id);
    ctx.rep.check("start succeeds", o.success(), o.diag());
    let running = ctx.rt.state_json(&id).unwrap_or(Value::Null);
    check_state(ctx, "running", &running, &id, &bd, "running");
    ctx.rep.eq(
        "running: pid equals the pid seen when created",
        created["pid"].as_i64(),
        running["pid"].as_i64(),
    );
    let (ok, seen) = ctx.rt.wait_status(&id, "stopped", WAIT);
    ctx.rep.check("reaches stopped", ok, format!("{seen:?}"));
    ctx.rep.check(
        "statuses seen after start: running then stopped",
        seen.first()
            .map(|s| s == "running" || s == "stopped")
            .unwrap_or(false)
            && seen.last().map(|s| s == "stopped").unwrap_or(false)
            && !seen.iter().any(|s| s == "created"),
        format!("{seen:?}"),
    );
    let stopped = ctx.rt.state_json(&id).unwrap_or(Value::Null);
    check_state(ctx, "stopped", &stopped, &id, &bd, "stopped");
    let d = ctx.rt.delete(&id);
    ctx.rep.check(
        "delete of the stopped container succeeds",
        d.success(),
        d.diag(),
    );
    let o = ctx.rt.state(&id);
    ctx.rep
        .check("state after delete fails", o.failed(), o.diag());
    // No annotations in the config: absent or empty.
    let b = sleeper(ctx, 1)?;
    let id = ctx.id();
    ctx.rt.create(&id, &b.dir, &CreateOpts::default());
    let v = ctx.rt.state_json(&id).unwrap_or(Value::Null);
    let a = v.get("annotations");
    ctx.rep.check(
        "state.annotations absent or empty when the config has none",
        a.is_none()
            || a == Some(&Value::Null)
            || a.and_then(Value::as_object)
                .map(|m| m.is_empty())
                .unwrap_or(false),
        v.to_string(),
    );
    Ok(())
}

fn pidfile(ctx: &mut Ctx) -> Result<()> {
    let b = sleeper(ctx, 1)?;
    let id = ctx.id();
    let pf = b.dir.join("pidfile");
    let o = ctx.rt.create(
        &id,
        &b.dir,
        &CreateOpts {
            pid_file: Some(&pf),
            ..Default::default()
        },
    );
    ctx.rep
        .check("create --pid-file succeeds", o.success(), o.diag());
    let content = std::fs::read_to_string(&pf).unwrap_or_default();
    ctx.rep.check(
        "pid file holds a decimal PID without trailing newline",
        !content.is_empty() && content.bytes().all(|c| c.is_ascii_digit()),
        format!("{content:?}"),
    );
    let st = ctx.rt.state_json(&id).unwrap_or(Value::Null);
    ctx.rep.eq(
        "pid file equals state.pid",
        st["pid"].as_i64(),
        content.parse::<i64>().ok(),
    );
    let pid = st["pid"].as_i64().unwrap_or(0);
    // The created container's init already runs in its namespaces.
    ctx.rep.check(
        "created container pid is already in its own namespaces",
        crate::host::ns_link(&pid.to_string(), "uts") != crate::host::ns_link("self", "uts"),
        "uts ns equals the host's",
    );
    // Relative pid-file paths are resolved against the caller's cwd.
    Ok(())
}

fn config_updates(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    b.config["linux"]["maskedPaths"] = json!(["/proc/kcore"]);
    b.config["linux"]["readonlyPaths"] = json!(["/proc/fs"]);
    b.config["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    b.config["process"]["oomScoreAdj"] = json!(100);
    b.config["linux"]["rootfsPropagation"] = json!("shared");
    b.write()?;
    let id = ctx.id();
    let o = ctx.rt.create(&id, &b.dir, &CreateOpts::default());
    ctx.rep.check("create succeeds", o.success(), o.diag());
    // Overwrite config.json: start must not read it again.
    std::fs::write(b.dir.join("config.json"), r#"{"ociVersion":"1.0.0"}"#)?;
    let o = ctx.rt.start(&id);
    ctx.rep.check(
        "start succeeds after config.json was replaced",
        o.success(),
        o.diag(),
    );
    let (ok, seen) = ctx.rt.wait_status(&id, "stopped", WAIT);
    ctx.rep.check("container stops", ok, format!("{seen:?}"));
    let out = std::fs::read_to_string(b.dir.join("create.out")).unwrap_or_default();
    ctx.rep.absorb_checker(&out);
    let d = ctx.rt.delete(&id);
    ctx.rep.check("delete succeeds", d.success(), d.diag());
    Ok(())
}

fn full_lifecycle(ctx: &mut Ctx, b: &crate::bundle::Bundle) -> Result<(bool, String)> {
    let id = ctx.id();
    let c = ctx.rt.create(&id, &b.dir, &CreateOpts::default());
    if c.failed() {
        return Ok((false, c.diag()));
    }
    let s = ctx.rt.start(&id);
    if s.failed() {
        return Ok((false, s.diag()));
    }
    let (ok, seen) = ctx.rt.wait_status(&id, "stopped", WAIT);
    if !ok {
        return Ok((false, format!("{seen:?}")));
    }
    let d = ctx.rt.delete(&id);
    Ok((d.success(), d.diag()))
}

fn misc_props(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    b.config["process"]["args"] = json!(["true"]);
    b.config["annotations"] = json!({format!("org.conformance.{}", std::process::id()): ""});
    b.write()?;
    let (ok, d) = full_lifecycle(ctx, &b)?;
    ctx.rep
        .check("annotation with an empty value: lifecycle succeeds", ok, d);
    let mut b = ctx.bundle()?;
    b.config["process"]["args"] = json!(["true"]);
    b.config["org.conformance.unknownProperty"] = json!({"x": [1, 2]});
    b.write()?;
    let (ok, d) = full_lifecycle(ctx, &b)?;
    ctx.rep
        .check("unknown top-level property is ignored", ok, d);
    let mut b = ctx.bundle()?;
    b.config["process"]["args"] = json!(["true"]);
    b.config["ociVersion"] = json!("invalid");
    b.write()?;
    let (ok, _) = full_lifecycle(ctx, &b)?;
    ctx.rep.expect_todo(
        "ociVersion \"invalid\"",
        "runc-compat: runc 1.1 does not validate ociVersion",
    );
    ctx.rep.check(
        "ociVersion \"invalid\" (not SemVer) is rejected",
        !ok,
        "lifecycle succeeded",
    );
    Ok(())
}

fn default(ctx: &mut Ctx) -> Result<()> {
    let b = ctx.bundle()?;
    ctx.run_checker(&b)?;
    Ok(())
}

fn hostname(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    b.config["hostname"] = json!("hostname-specific");
    b.config["domainname"] = json!("domain-specific");
    ctx.rep.expect_todo(
        "in: domainname",
        "runc-compat: runc < 1.2 ignores domainname",
    );
    ctx.run_checker(&b)?;
    Ok(())
}

fn id_reuse(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    b.config["process"]["args"] = json!(["true"]);
    b.write()?;
    let id = ctx.id();
    for round in 1..=2 {
        let c = ctx.rt.create(&id, &b.dir, &CreateOpts::default());
        ctx.rep.check(
            &format!("create #{round} with the same ID succeeds"),
            c.success(),
            c.diag(),
        );
        let s = ctx.rt.start(&id);
        ctx.rep
            .check(&format!("start #{round}"), s.success(), s.diag());
        ctx.rt.wait_status(&id, "stopped", WAIT);
        let d = ctx.rt.delete(&id);
        ctx.rep
            .check(&format!("delete #{round}"), d.success(), d.diag());
    }
    Ok(())
}

fn killed_externally(ctx: &mut Ctx) -> Result<()> {
    let b = sleeper(ctx, 30)?;
    let id = ctx.id();
    ctx.rt.create(&id, &b.dir, &CreateOpts::default());
    ctx.rt.start(&id);
    let pid = ctx
        .rt
        .state_json(&id)
        .map(|v| v["pid"].as_i64().unwrap_or(0))
        .unwrap_or(0);
    if pid > 0 {
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
    let (ok, seen) = ctx.rt.wait_status(&id, "stopped", WAIT);
    ctx.rep.check(
        "state reports stopped after the init was killed from outside",
        ok,
        format!("{seen:?}"),
    );
    let d = ctx.rt.delete(&id);
    ctx.rep
        .check("delete succeeds afterwards", d.success(), d.diag());
    Ok(())
}

/// runc: `kill ID 0` (the null signal) succeeds while the init lives; any kill of a
/// stopped container fails with "container not running" (containerd reads that text).
fn kill_null_and_stopped(ctx: &mut Ctx) -> Result<()> {
    let b = sleeper(ctx, 30)?;
    let id = ctx.id();
    ctx.rt.create(&id, &b.dir, &CreateOpts::default());
    ctx.rt.start(&id);
    let k = ctx.rt.kill(&id, "0");
    ctx.rep.check(
        "kill ID 0 of a running container succeeds",
        k.success(),
        k.diag(),
    );
    ctx.rep.eq(
        "the container still runs",
        Some("running".to_string()),
        ctx.rt.status(&id),
    );
    ctx.rt.kill(&id, "KILL");
    let (ok, seen) = ctx.rt.wait_status(&id, "stopped", WAIT);
    ctx.rep
        .check("stopped after SIGKILL", ok, format!("{seen:?}"));
    for sig in ["TERM", "0"] {
        let k = ctx.rt.kill(&id, sig);
        ctx.rep.check(
            &format!("kill {sig} of a stopped container fails with \"container not running\""),
            k.failed() && k.stderr.contains("container not running"),
            k.diag(),
        );
    }
    Ok(())
}

/// runc: create with `--pid-file` in a directory that does not exist fails and leaves
/// no container.
fn pid_file_dir_missing(ctx: &mut Ctx) -> Result<()> {
    let b = sleeper(ctx, 30)?;
    let id = ctx.id();
    let pid = ctx.rt.scratch.join("no-such-dir/init.pid");
    let opts = CreateOpts {
        pid_file: Some(&pid),
        ..Default::default()
    };
    let c = ctx.rt.create(&id, &b.dir, &opts);
    ctx.rep.check("create fails", c.failed(), c.diag());
    let s = ctx.rt.state(&id);
    ctx.rep.check("no container is left", s.failed(), s.diag());
    Ok(())
}

fn no_process(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    b.config.as_object_mut().unwrap().remove("process");
    ctx.expect_create_fails(&b, "config without process: create or start fails")?;
    Ok(())
}

fn features(ctx: &mut Ctx) -> Result<()> {
    let o = ctx.rt.run(&["features"]);
    if o.failed() {
        ctx.rep.skip(
            "features",
            "runtime has no `features` subcommand (optional, features.md)",
        );
        return Ok(());
    }
    let v: Value = serde_json::from_str(&o.stdout).unwrap_or(Value::Null);
    ctx.rep.check(
        "features output is JSON with ociVersionMin/Max",
        v["ociVersionMin"].is_string() && v["ociVersionMax"].is_string(),
        o.stdout.clone(),
    );
    // Both bounds must be accepted as config ociVersion.
    for k in ["ociVersionMin", "ociVersionMax"] {
        if let Some(ver) = v[k].as_str() {
            let mut b = ctx.bundle()?;
            b.config["ociVersion"] = json!(ver);
            b.config["process"]["args"] = json!(["true"]);
            b.write()?;
            let (ok, d) = full_lifecycle(ctx, &b)?;
            ctx.rep.check(
                &format!("config with ociVersion = features.{k} runs"),
                ok,
                d,
            );
        }
    }
    // Every advertised namespace is accepted.
    if let Some(ns) = v["linux"]["namespaces"].as_array() {
        let known = [
            "cgroup", "ipc", "mount", "network", "pid", "user", "uts", "time",
        ];
        let ok = ns
            .iter()
            .all(|n| n.as_str().map(|s| known.contains(&s)).unwrap_or(false));
        ctx.rep.check(
            "features.linux.namespaces are known namespace types",
            ok,
            format!("{ns:?}"),
        );
    }
    if let Some(h) = v["hooks"].as_array() {
        let known = [
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop",
        ];
        let ok = h
            .iter()
            .all(|n| n.as_str().map(|s| known.contains(&s)).unwrap_or(false));
        ctx.rep
            .check("features.hooks are known hook names", ok, format!("{h:?}"));
    }
    Ok(())
}

fn unknown_subcommand(ctx: &mut Ctx) -> Result<()> {
    let o = ctx.rt.run(&["conformance-no-such-subcommand"]);
    ctx.rep
        .check("unknown subcommand exits non-zero", o.failed(), o.diag());
    Ok(())
}

fn kill(ctx: &mut Ctx) -> Result<()> {
    let o = ctx.rt.run(&["kill"]);
    ctx.rep
        .check("kill without an ID fails", o.failed(), o.diag());
    let o = ctx.rt.kill("conformance-no-such-container", "KILL");
    ctx.rep
        .check("kill of an unknown ID fails", o.failed(), o.diag());
    // created
    let b = sleeper(ctx, 30)?;
    let id = ctx.id();
    ctx.rt.create(&id, &b.dir, &CreateOpts::default());
    let o = ctx.rt.kill(&id, "KILL");
    ctx.rep.check(
        "kill KILL of a created container succeeds",
        o.success(),
        o.diag(),
    );
    let (ok, seen) = ctx.rt.wait_status(&id, "stopped", WAIT);
    ctx.rep.check(
        "killed created container becomes stopped",
        ok,
        format!("{seen:?}"),
    );
    let o = ctx.rt.kill(&id, "KILL");
    ctx.rep
        .check("kill of a stopped container fails", o.failed(), o.diag());
    ctx.rt.delete(&id);
    // running
    let id = ctx.id();
    ctx.rt.create(&id, &b.dir, &CreateOpts::default());
    ctx.rt.start(&id);
    let o = ctx.rt.kill(&id, "KILL");
    ctx.rep.check(
        "kill KILL of a running container succeeds",
        o.success(),
        o.diag(),
    );
    let (ok, seen) = ctx.rt.wait_status(&id, "stopped", WAIT);
    ctx.rep.check(
        "killed running container becomes stopped",
        ok,
        format!("{seen:?}"),
    );
    ctx.rt.delete(&id);
    // TERM on a created container (must be supported)
    let id = ctx.id();
    ctx.rt.create(&id, &b.dir, &CreateOpts::default());
    let o = ctx.rt.kill(&id, "TERM");
    ctx.rep.check(
        "kill TERM of a created container succeeds",
        o.success(),
        o.diag(),
    );
    Ok(())
}

fn kill_no_effect(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    b.config["process"]["args"] = json!(["true"]);
    b.write()?;
    let id = ctx.id();
    ctx.rt.create(&id, &b.dir, &CreateOpts::default());
    ctx.rt.start(&id);
    let (ok, _) = ctx.rt.wait_status(&id, "stopped", WAIT);
    ctx.rep.check("container stops", ok, "");
    let before = ctx.rt.state_json(&id).unwrap_or(Value::Null);
    let _ = ctx.rt.kill(&id, "KILL");
    let after = ctx.rt.state_json(&id).unwrap_or(Value::Null);
    for k in ["ociVersion", "id", "status", "pid", "bundle", "annotations"] {
        ctx.rep.eq(
            &format!("kill on a stopped container leaves state.{k} unchanged"),
            before.get(k),
            after.get(k),
        );
    }
    Ok(())
}

fn killsig(ctx: &mut Ctx) -> Result<()> {
    for sig in ["TERM", "USR1", "USR2"] {
        let mut b = ctx.bundle()?;
        b.shell(&format!(
            "trap 'touch /{sig}; exit 0' {sig}; touch /ready; sleep 10 & wait $!"
        ));
        b.write()?;
        let id = ctx.id();
        ctx.rt.create(&id, &b.dir, &CreateOpts::default());
        ctx.rt.start(&id);
        ctx.rt.wait_status(&id, "running", WAIT);
        // The shell has installed its trap once /ready exists.
        super::wait_file(&b.host("/ready"), WAIT);
        let o = ctx.rt.kill(&id, sig);
        ctx.rep
            .check(&format!("kill {sig} succeeds"), o.success(), o.diag());
        let (ok, seen) = ctx.rt.wait_status(&id, "stopped", WAIT);
        ctx.rep
            .check(&format!("{sig}: container stops"), ok, format!("{seen:?}"));
        ctx.rep.check(
            &format!("{sig} delivered to the container process"),
            b.host(&format!("/{sig}")).exists(),
            "marker file missing",
        );
    }
    // Default signal is TERM.
    let mut b = ctx.bundle()?;
    b.shell("trap 'touch /TERM; exit 0' TERM; touch /ready; sleep 10 & wait $!");
    b.write()?;
    let id = ctx.id();
    ctx.rt.create(&id, &b.dir, &CreateOpts::default());
    ctx.rt.start(&id);
    super::wait_file(&b.host("/ready"), WAIT);
    let o = ctx.rt.run(&["kill", &id]);
    ctx.rep
        .check("kill without a signal succeeds", o.success(), o.diag());
    ctx.rt.wait_status(&id, "stopped", WAIT);
    ctx.rep.check(
        "kill without a signal sends TERM",
        b.host("/TERM").exists(),
        "marker file missing",
    );
    Ok(())
}

fn delete(ctx: &mut Ctx) -> Result<()> {
    let o = ctx.rt.run(&["delete"]);
    ctx.rep
        .check("delete without an ID fails", o.failed(), o.diag());
    let o = ctx.rt.delete("conformance-no-such-container");
    ctx.rep
        .check("delete of an unknown ID fails", o.failed(), o.diag());
    let b = sleeper(ctx, 30)?;
    // running
    let id = ctx.id();
    ctx.rt.create(&id, &b.dir, &CreateOpts::default());
    ctx.rt.start(&id);
    let o = ctx.rt.delete(&id);
    ctx.rep
        .check("delete of a running container fails", o.failed(), o.diag());
    ctx.rep.eq(
        "running container still running after a failed delete",
        Some("running".to_string()),
        ctx.rt.status(&id),
    );
    let o = ctx.rt.delete_force(&id);
    ctx.rep.check(
        "delete --force of a running container succeeds",
        o.success(),
        o.diag(),
    );
    let o = ctx.rt.state(&id);
    ctx.rep
        .check("state after delete --force fails", o.failed(), o.diag());
    // created: the spec says delete must fail; runc kills and removes it.
    let id = ctx.id();
    ctx.rt.create(&id, &b.dir, &CreateOpts::default());
    let o = ctx.rt.delete(&id);
    let still = ctx.rt.state(&id).success();
    ctx.rep.todo(
        "delete of a created container fails and leaves it (runtime.md Delete)",
        o.failed() && still,
        "runc-compat: runc kills and removes a created container on delete",
        o.diag(),
    );
    ctx.rep.check(
        "delete of a created container is all-or-nothing",
        o.success() != still,
        format!("delete {:?}, state still works: {still}", o.code),
    );
    Ok(())
}
