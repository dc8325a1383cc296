//! Process (config.md "Process"): args, env, cwd, user, umask, capabilities,
//! rlimits, oomScoreAdj, noNewPrivileges, terminal.

use super::{Case, Ctx, WAIT};
use crate::checker::{CHECKER_PATH, DONE_MARKER};
use crate::runtime::{ConsoleSocket, CreateOpts};
use anyhow::Result;
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

pub fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "process/process",
            run: process,
        },
        Case {
            name: "process/user",
            run: user,
        },
        Case {
            name: "process/capabilities",
            run: capabilities,
        },
        Case {
            name: "process/capabilities_sets",
            run: capabilities_sets,
        },
        Case {
            name: "process/capabilities_unknown",
            run: capabilities_unknown,
        },
        Case {
            name: "process/capabilities_ambient_not_inheritable",
            run: capabilities_ambient_not_inheritable,
        },
        Case {
            name: "process/rlimits",
            run: rlimits,
        },
        Case {
            name: "process/rlimits_fail",
            run: rlimits_fail,
        },
        Case {
            name: "process/oom_score_adj",
            run: oom_score_adj,
        },
        Case {
            name: "process/no_new_privileges",
            run: nnp,
        },
        Case {
            name: "process/terminal",
            run: terminal,
        },
        Case {
            name: "process/stdio",
            run: stdio,
        },
        Case {
            name: "process/args_not_found",
            run: args_not_found,
        },
        Case {
            name: "process/env_replaces_runtime_env",
            run: env_clean,
        },
        Case {
            name: "process/home_and_duplicate_env",
            run: home_env,
        },
        Case {
            name: "process/exec_bit_of_owner_only",
            run: exec_bit,
        },
    ]
}

/// runc: HOME missing or empty comes from the process user's passwd entry in the
/// container ("/" for a user without one); of duplicated variables the last wins.
fn home_env(ctx: &mut Ctx) -> Result<()> {
    for (what, uid, env, want) in [
        ("no HOME, root", 0, vec!["PATH=/bin"], "/root|"),
        (
            "empty HOME, uid 10",
            10,
            vec!["PATH=/bin", "HOME="],
            "/tmp|",
        ),
        (
            "no HOME, uid without passwd entry",
            4321,
            vec!["PATH=/bin"],
            "/|",
        ),
        (
            "HOME twice, the last empty",
            0,
            vec!["PATH=/bin", "HOME=/first", "HOME="],
            "/root|",
        ),
        (
            "a variable twice",
            0,
            vec!["PATH=/bin", "HOME=/h", "DUP=first", "DUP=last"],
            "/h|last",
        ),
    ] {
        ctx.subcase(what);
        let mut b = ctx.bundle()?;
        b.shell("echo \"$HOME|$DUP\"; env | grep -c ^DUP=");
        b.config["process"]["user"] = json!({"uid": uid, "gid": uid});
        b.config["process"]["env"] = json!(env);
        let out = ctx.output_of(&b)?;
        let mut lines = out.lines();
        ctx.rep.eq("HOME|DUP", Some(want), lines.next());
        let dups = if want.ends_with('|') { "0" } else { "1" };
        ctx.rep.eq("DUP appears once", Some(dups), lines.next());
    }
    Ok(())
}

fn process(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    let t = b.host("/test");
    std::fs::create_dir_all(&t)?;
    std::fs::set_permissions(&t, std::fs::Permissions::from_mode(0o700))?;
    b.config["process"]["cwd"] = json!("/test");
    let env = b.config["process"]["env"].as_array_mut().unwrap();
    env.push(json!("testa=valuea"));
    env.push(json!("testb=123"));
    env.push(json!("testc=with=equals"));
    b.config["process"]["args"] = json!([CHECKER_PATH, "--exp", "arg with spaces", "--exp", ""]);
    ctx.run_checker(&b)?;
    Ok(())
}

fn user(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    b.config["process"]["user"] =
        json!({"uid": 10, "gid": 10, "additionalGids": [5, 65534], "umask": 2});
    ctx.run_checker(&b)?;
    Ok(())
}

fn capabilities(ctx: &mut Ctx) -> Result<()> {
    // Every capability the host bounding set has (runtimes cannot grant more).
    let caps: Vec<&str> = crate::checker::caps_names()
        .iter()
        .enumerate()
        .filter(|(i, _)| ctx.host.has_cap(*i))
        .map(|(_, n)| *n)
        .collect();
    let mut b = ctx.bundle()?;
    b.config["process"]["capabilities"] = json!({
        "bounding": caps, "effective": caps, "inheritable": caps, "permitted": caps, "ambient": caps
    });
    ctx.run_checker(&b)?;
    Ok(())
}

fn capabilities_sets(ctx: &mut Ctx) -> Result<()> {
    // Distinct sets. As a non-root user without file capabilities, after
    // execve permitted = effective = ambient, so keep those equal.
    let mut b = ctx.bundle()?;
    b.config["process"]["user"] = json!({"uid": 10, "gid": 10});
    b.config["process"]["capabilities"] = json!({
        "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SETUID", "CAP_SETGID"],
        "inheritable": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"],
        "permitted": ["CAP_KILL", "CAP_NET_RAW"],
        "effective": ["CAP_KILL", "CAP_NET_RAW"],
        "ambient": ["CAP_KILL", "CAP_NET_RAW"]
    });
    ctx.run_checker(&b)?;
    Ok(())
}

/// Ambient capabilities that are not inheritable cannot be raised (the kernel refuses
/// PR_CAP_AMBIENT_RAISE): runc warns and runs the process with the ones it could raise.
fn capabilities_ambient_not_inheritable(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    b.config["process"]["user"] = json!({"uid": 10, "gid": 10});
    b.config["process"]["capabilities"] = json!({
        "bounding": ["CAP_KILL", "CAP_NET_RAW"],
        "inheritable": ["CAP_KILL"],
        "permitted": ["CAP_KILL", "CAP_NET_RAW"],
        "effective": ["CAP_KILL", "CAP_NET_RAW"],
        "ambient": ["CAP_KILL", "CAP_NET_RAW"]
    });
    b.config["process"]["args"] = json!(["sh", "-c", "grep CapAmb /proc/self/status"]);
    let out = ctx.output_of(&b)?;
    // CAP_KILL is capability 5.
    ctx.rep.eq(
        "only the inheritable ambient capability is raised",
        Some("0000000000000020"),
        out.split_whitespace().nth(1),
    );
    Ok(())
}

fn capabilities_unknown(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    b.config["process"]["capabilities"]["bounding"]
        .as_array_mut()
        .unwrap()
        .push(json!("CAP_CONFORMANCE_TEST"));
    b.config["process"]["args"] = json!(["true"]);
    b.write()?;
    let id = ctx.id();
    let c = ctx.rt.create(&id, &b.dir, &CreateOpts::default());
    ctx.rep.check(
        "unknown capability only warns: create succeeds (config.md v1.1+)",
        c.success(),
        c.diag(),
    );
    Ok(())
}

fn rlimits(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    let g = 1u64 << 30;
    // All within this host's hard limits (root may lack CAP_SYS_RESOURCE).
    b.config["process"]["rlimits"] = json!([
        {"type": "RLIMIT_AS", "soft": g, "hard": 2 * g},
        {"type": "RLIMIT_CORE", "soft": 3 * g, "hard": 4 * g},
        {"type": "RLIMIT_DATA", "soft": 5 * g, "hard": 6 * g},
        {"type": "RLIMIT_FSIZE", "soft": 7 * g, "hard": 8 * g},
        {"type": "RLIMIT_STACK", "soft": 9 * g, "hard": 10 * g},
        {"type": "RLIMIT_CPU", "soft": 60, "hard": 120},
        {"type": "RLIMIT_NOFILE", "soft": 3000, "hard": 4000},
        {"type": "RLIMIT_NPROC", "soft": 500, "hard": 600},
        {"type": "RLIMIT_MEMLOCK", "soft": 4096, "hard": 8192}
    ]);
    ctx.run_checker(&b)?;
    Ok(())
}

fn rlimits_fail(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    b.config["process"]["rlimits"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "RLIMIT_TEST", "soft": 1, "hard": 1}));
    b.config["process"]["args"] = json!(["true"]);
    ctx.expect_create_fails(&b, "unknown rlimit type RLIMIT_TEST is rejected")?;
    Ok(())
}

fn oom_score_adj(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    b.config["process"]["oomScoreAdj"] = json!(500);
    ctx.run_checker(&b)?;
    Ok(())
}

fn nnp(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    b.config["process"]["noNewPrivileges"] = json!(true);
    ctx.run_checker(&b)?;
    Ok(())
}

fn terminal(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    b.config["process"]["terminal"] = json!(true);
    b.config["process"]["consoleSize"] = json!({"height": 37, "width": 101});
    b.write()?;
    let id = ctx.id();
    let o = ctx.rt.create(&id, &b.dir, &CreateOpts::default());
    ctx.rep.check(
        "terminal=true without --console-socket fails",
        o.failed(),
        o.diag(),
    );
    ctx.rt.cleanup(&id);
    let sock = b.dir.join("console.sock");
    let mut cs = ConsoleSocket::listen(sock.clone())?;
    let id = ctx.id();
    let o = ctx.rt.create(
        &id,
        &b.dir,
        &CreateOpts {
            console_socket: Some(&sock),
            ..Default::default()
        },
    );
    ctx.rep
        .check("create --console-socket succeeds", o.success(), o.diag());
    std::thread::sleep(Duration::from_millis(50));
    ctx.rep.eq(
        "pty master received over the console socket (SCM_RIGHTS)",
        Some(true),
        *cs.got_fd.lock().unwrap(),
    );
    let s = ctx.rt.start(&id);
    ctx.rep.check("start succeeds", s.success(), s.diag());
    let (ok, seen) = ctx.rt.wait_status(&id, "stopped", WAIT);
    ctx.rep.check("container stops", ok, format!("{seen:?}"));
    let out = cs.finish(Duration::from_secs(5));
    ctx.rep.check(
        "checker output arrives on the pty master",
        out.contains(DONE_MARKER),
        format!("{} bytes", out.len()),
    );
    ctx.rep.absorb_checker(&out);
    Ok(())
}

fn stdio(ctx: &mut Ctx) -> Result<()> {
    // terminal=false: the runtime's stdio is passed through untouched.
    let mut b = ctx.bundle()?;
    b.shell("echo to-stdout; echo to-stderr >&2");
    b.write()?;
    let id = ctx.id();
    ctx.rt.create(&id, &b.dir, &CreateOpts::default());
    ctx.rt.start(&id);
    ctx.rt.wait_status(&id, "stopped", WAIT);
    let out = std::fs::read_to_string(b.dir.join("create.out")).unwrap_or_default();
    let err = std::fs::read_to_string(b.dir.join("create.err")).unwrap_or_default();
    ctx.rep.eq(
        "container stdout is create's stdout",
        "to-stdout\n".to_string(),
        out,
    );
    ctx.rep.check(
        "container stderr is create's stderr",
        err.contains("to-stderr"),
        err,
    );
    Ok(())
}

/// The kernel decides who may run a program: a 0700 one runs for its owner, and for
/// another user with CAP_DAC_OVERRIDE (any execute bit is enough then), as with runc.
fn exec_bit(ctx: &mut Ctx) -> Result<()> {
    for (what, uid, caps) in [
        ("owner (uid 10) of a 0700 program", 10, vec![]),
        (
            "uid 10 with CAP_DAC_OVERRIDE, program 0700 of root",
            10,
            vec!["CAP_DAC_OVERRIDE"],
        ),
    ] {
        ctx.subcase(what);
        let mut b = ctx.bundle()?;
        let prog = b.host("/prog");
        std::fs::write(&prog, "#!/bin/sh\necho ran\n")?;
        std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o700))?;
        if caps.is_empty() {
            std::os::unix::fs::chown(&prog, Some(10), Some(10))?;
        }
        b.config["process"]["args"] = json!(["/prog"]);
        b.config["process"]["user"] = json!({"uid": uid, "gid": uid});
        let set = json!(caps);
        for k in [
            "bounding",
            "effective",
            "permitted",
            "inheritable",
            "ambient",
        ] {
            b.config["process"]["capabilities"][k] = set.clone();
        }
        let out = ctx.output_of(&b)?;
        ctx.rep.eq("the program ran", "ran", out.trim());
    }
    Ok(())
}

fn args_not_found(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    b.config["process"]["args"] = json!(["/conformance-no-such-binary"]);
    ctx.expect_create_fails(
        &b,
        "process.args[0] that does not exist makes create or start fail",
    )?;
    Ok(())
}

fn env_clean(ctx: &mut Ctx) -> Result<()> {
    // The container environment is exactly process.env: nothing leaks from
    // the runtime's own environment.
    let mut b = ctx.bundle()?;
    b.shell("env > /env-out");
    b.config["process"]["env"] = json!(["ONLY=this", "PATH=/bin"]);
    b.write()?;
    let id = ctx.id();
    let c = ctx.rt.create(&id, &b.dir, &CreateOpts::default());
    ctx.rep.check("create succeeds", c.success(), c.diag());
    ctx.rt.start(&id);
    ctx.rt.wait_status(&id, "stopped", WAIT);
    let env = b.read_rootfs("/env-out").unwrap_or_default();
    let mut keys: Vec<&str> = env
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .collect();
    // busybox sh itself exports PWD and SHLVL; runc-compatible runtimes add
    // HOME from /etc/passwd when process.env has none.
    keys.retain(|k| !["PWD", "SHLVL", "OLDPWD", "HOME"].contains(k));
    keys.sort();
    ctx.rep.eq(
        "container environment is exactly process.env",
        vec!["ONLY", "PATH"],
        keys,
    );
    Ok(())
}
