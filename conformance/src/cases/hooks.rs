//! Hooks (config.md "POSIX-platform Hooks", runtime.md lifecycle): order,
//! state on stdin, namespaces, failure semantics, timeout, args and env.

use super::{Case, Ctx, WAIT};
use crate::bundle::Bundle;
use crate::runtime::CreateOpts;
use anyhow::Result;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "hooks/order",
            run: order,
        },
        Case {
            name: "hooks/stdin",
            run: stdin,
        },
        Case {
            name: "hooks/namespaces",
            run: namespaces,
        },
        Case {
            name: "hooks/prestart",
            run: prestart,
        },
        Case {
            name: "hooks/poststart",
            run: poststart,
        },
        Case {
            name: "hooks/poststop",
            run: poststop,
        },
        Case {
            name: "hooks/prestart_fail",
            run: |c| create_hook_fail(c, "prestart"),
        },
        Case {
            name: "hooks/createRuntime_fail",
            run: |c| create_hook_fail(c, "createRuntime"),
        },
        Case {
            name: "hooks/createContainer_fail",
            run: |c| create_hook_fail(c, "createContainer"),
        },
        Case {
            name: "hooks/startContainer_fail",
            run: start_container_fail,
        },
        Case {
            name: "hooks/poststart_fail",
            run: poststart_fail,
        },
        Case {
            name: "hooks/poststop_fail",
            run: poststop_fail,
        },
        Case {
            name: "hooks/timeout",
            run: timeout,
        },
        Case {
            name: "hooks/args_env",
            run: args_env,
        },
        Case {
            name: "hooks/createContainer_cwd",
            run: create_container_cwd,
        },
        Case {
            name: "hooks/startContainer_env",
            run: start_container_env,
        },
    ]
}

const RUNC_POSTSTART: &str =
    "runc-compat: runc < PR #5186 runs poststart at the end of create (status created)";

/// Hook appending `line` to the rootfs file `file` (host path).
fn log_hook(b: &Bundle, file: &str, line: &str) -> Value {
    let path = b.host(file).to_string_lossy().into_owned();
    b.hook(&format!("echo '{line}' >> {path}"))
}

/// startContainer hooks resolve and run inside the container.
pub(crate) fn in_container_hook(script: &str) -> Value {
    json!({"path": "/bin/sh", "args": ["sh", "-c", script]})
}

fn lines(s: Option<String>) -> Vec<String> {
    s.unwrap_or_default().lines().map(str::to_string).collect()
}

fn order(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    b.config["process"]["args"] = json!(["true"]);
    for (k, l) in [
        ("prestart", "prestart1"),
        ("prestart", "prestart2"),
        ("createRuntime", "createRuntime1"),
        ("createRuntime", "createRuntime2"),
        ("createContainer", "createContainer1"),
        ("createContainer", "createContainer2"),
        ("poststart", "poststart1"),
        ("poststart", "poststart2"),
        ("poststop", "poststop1"),
        ("poststop", "poststop2"),
    ] {
        let h = log_hook(&b, "/hooklog", l);
        b.add_hook(k, h);
    }
    b.add_hook(
        "startContainer",
        in_container_hook("echo startContainer1 >> /hooklog"),
    );
    b.add_hook(
        "startContainer",
        in_container_hook("echo startContainer2 >> /hooklog"),
    );
    b.write()?;
    let id = ctx.id();
    let c = ctx.rt.create(&id, &b.dir, &CreateOpts::default());
    ctx.rep.check("create succeeds", c.success(), c.diag());
    let after_create = lines(b.read_rootfs("/hooklog"));
    let create_hooks = [
        "prestart1",
        "prestart2",
        "createRuntime1",
        "createRuntime2",
        "createContainer1",
        "createContainer2",
    ];
    ctx.rep.eq(
        "create runs prestart, createRuntime, createContainer in listed order",
        create_hooks
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>(),
        after_create.iter().take(6).cloned().collect::<Vec<_>>(),
    );
    ctx.rep.check(
        "create does not run startContainer hooks",
        !after_create.iter().any(|l| l.starts_with("startContainer")),
        format!("{after_create:?}"),
    );
    ctx.rep.todo(
        "create does not run poststart hooks",
        !after_create.iter().any(|l| l.starts_with("poststart")),
        RUNC_POSTSTART,
        format!("{after_create:?}"),
    );
    let s = ctx.rt.start(&id);
    ctx.rep.check("start succeeds", s.success(), s.diag());
    let (ok, seen) = ctx.rt.wait_status(&id, "stopped", WAIT);
    ctx.rep.check("container stops", ok, format!("{seen:?}"));
    let before_delete = lines(b.read_rootfs("/hooklog"));
    ctx.rep.check(
        "poststop hooks do not run before delete",
        !before_delete.iter().any(|l| l.starts_with("poststop")),
        format!("{before_delete:?}"),
    );
    let pos = |l: &[String], s: &str| l.iter().position(|x| x == s);
    ctx.rep.check(
        "startContainer hooks run in listed order",
        pos(&before_delete, "startContainer1").is_some()
            && pos(&before_delete, "startContainer1") < pos(&before_delete, "startContainer2"),
        format!("{before_delete:?}"),
    );
    ctx.rep.check(
        "poststart hooks run in listed order",
        pos(&before_delete, "poststart1").is_some()
            && pos(&before_delete, "poststart1") < pos(&before_delete, "poststart2"),
        format!("{before_delete:?}"),
    );
    ctx.rep.todo(
        "startContainer hooks run before poststart hooks",
        pos(&before_delete, "startContainer2").is_some()
            && pos(&before_delete, "startContainer2") < pos(&before_delete, "poststart1"),
        RUNC_POSTSTART,
        format!("{before_delete:?}"),
    );
    let d = ctx.rt.delete(&id);
    ctx.rep.check("delete succeeds", d.success(), d.diag());
    let all = lines(b.read_rootfs("/hooklog"));
    ctx.rep.eq(
        "delete runs poststop hooks last, in listed order",
        vec!["poststop1".to_string(), "poststop2".to_string()],
        all.iter().rev().take(2).rev().cloned().collect::<Vec<_>>(),
    );
    ctx.rep.eq("every hook ran exactly once", 12, all.len());
    Ok(())
}

fn stdin(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    b.config["process"]["args"] = json!(["true"]);
    b.config["annotations"] = json!({"org.opencontainers.runtime-tools": "hook stdin test"});
    for k in [
        "prestart",
        "createRuntime",
        "createContainer",
        "poststart",
        "poststop",
    ] {
        let path = b
            .host(&format!("/state-{k}.json"))
            .to_string_lossy()
            .into_owned();
        let mut h = b.hook(&format!("cat > {path}"));
        h["timeout"] = json!(5);
        b.add_hook(k, h);
    }
    b.add_hook(
        "startContainer",
        in_container_hook("cat > /state-startContainer.json"),
    );
    b.write()?;
    let bd = b.dir.to_string_lossy().into_owned();
    let id = ctx.id();
    let c = ctx.rt.create(&id, &b.dir, &CreateOpts::default());
    ctx.rep.check("create succeeds", c.success(), c.diag());
    let pid = ctx.rt.state_json(&id).ok().and_then(|v| v["pid"].as_i64());
    let s = ctx.rt.start(&id);
    ctx.rep.check("start succeeds", s.success(), s.diag());
    ctx.rt.wait_status(&id, "stopped", WAIT);
    let d = ctx.rt.delete(&id);
    ctx.rep.check("delete succeeds", d.success(), d.diag());
    for (k, statuses, check_pid) in [
        ("prestart", &["creating", "created"][..], true),
        ("createRuntime", &["creating", "created"][..], true),
        ("createContainer", &["creating", "created"][..], false),
        ("startContainer", &["created"][..], false),
        ("poststart", &["running"][..], true),
        ("poststop", &["stopped"][..], false),
    ] {
        let raw = b.read_rootfs(&format!("/state-{k}.json"));
        let v: Option<Value> = raw.as_deref().and_then(|s| serde_json::from_str(s).ok());
        if !ctx.rep.check(
            &format!("{k}: stdin is state JSON"),
            v.is_some(),
            format!("{raw:?}"),
        ) {
            continue;
        }
        let v = v.unwrap();
        ctx.rep.eq(
            &format!("{k}: state.id"),
            Some(id.as_str()),
            v["id"].as_str(),
        );
        ctx.rep.eq(
            &format!("{k}: state.bundle"),
            Some(bd.as_str()),
            v["bundle"].as_str(),
        );
        ctx.rep.eq(
            &format!("{k}: state.annotations"),
            &b.config["annotations"],
            &v["annotations"],
        );
        let st = v["status"].as_str().unwrap_or("");
        let name = format!("{k}: state.status is one of {statuses:?}");
        if k == "poststart" {
            ctx.rep.todo(
                &name,
                statuses.contains(&st),
                RUNC_POSTSTART,
                format!("got {st:?}"),
            );
        } else {
            ctx.rep
                .check(&name, statuses.contains(&st), format!("got {st:?}"));
        }
        if check_pid {
            ctx.rep.eq(
                &format!("{k}: state.pid is the container's host pid"),
                pid,
                v["pid"].as_i64(),
            );
        }
    }
    Ok(())
}

fn namespaces(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    b.shell("sleep 2");
    let script = |b: &Bundle, k: &str| {
        let out = b.host(&format!("/ns-{k}")).to_string_lossy().into_owned();
        format!("readlink /proc/self/ns/mnt > {out}; readlink /proc/self/ns/uts >> {out}")
    };
    for k in ["prestart", "createRuntime", "createContainer", "poststart"] {
        let h = b.hook(&script(&b, k));
        b.add_hook(k, h);
    }
    b.add_hook(
        "startContainer",
        in_container_hook("readlink /proc/self/ns/mnt > /ns-startContainer; readlink /proc/self/ns/uts >> /ns-startContainer"),
    );
    b.write()?;
    let id = ctx.id();
    let c = ctx.rt.create(&id, &b.dir, &CreateOpts::default());
    ctx.rep.check("create succeeds", c.success(), c.diag());
    let pid = ctx
        .rt
        .state_json(&id)
        .ok()
        .and_then(|v| v["pid"].as_i64())
        .unwrap_or(0);
    let container = vec![
        crate::host::ns_link(&pid.to_string(), "mnt"),
        crate::host::ns_link(&pid.to_string(), "uts"),
    ];
    let host = vec![
        crate::host::ns_link("self", "mnt"),
        crate::host::ns_link("self", "uts"),
    ];
    let s = ctx.rt.start(&id);
    ctx.rep.check("start succeeds", s.success(), s.diag());
    super::wait_file(&b.host("/ns-startContainer"), Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(50));
    for (k, want, label) in [
        ("prestart", &host, "runtime"),
        ("createRuntime", &host, "runtime"),
        ("createContainer", &container, "container"),
        ("startContainer", &container, "container"),
        ("poststart", &host, "runtime"),
    ] {
        let got = lines(b.read_rootfs(&format!("/ns-{k}")));
        ctx.rep.eq(
            &format!("{k} runs in the {label} mount and uts namespaces"),
            want.clone(),
            got,
        );
    }
    Ok(())
}

fn prestart(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    b.shell("echo 'process called' >> /output");
    let h = log_hook(&b, "/output", "pre-start called");
    b.add_hook("prestart", h);
    b.write()?;
    let id = ctx.id();
    let c = ctx.rt.create(&id, &b.dir, &CreateOpts::default());
    ctx.rep.check("create succeeds", c.success(), c.diag());
    ctx.rep.eq(
        "prestart has run when create returns (runtime.md v1.1+ lifecycle)",
        Some("pre-start called\n".to_string()),
        b.read_rootfs("/output"),
    );
    let s = ctx.rt.start(&id);
    ctx.rep.check("start succeeds", s.success(), s.diag());
    ctx.rt.wait_status(&id, "stopped", WAIT);
    ctx.rep.eq(
        "prestart output precedes the process output",
        Some("pre-start called\nprocess called\n".to_string()),
        b.read_rootfs("/output"),
    );
    Ok(())
}

fn poststart(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    b.shell("echo 'process called' >> /output; sleep 1");
    let h = log_hook(&b, "/poststart", "post-start called");
    b.add_hook("poststart", h);
    b.write()?;
    let id = ctx.id();
    let c = ctx.rt.create(&id, &b.dir, &CreateOpts::default());
    ctx.rep.check("create succeeds", c.success(), c.diag());
    ctx.rep.todo(
        "poststart not run by create",
        b.read_rootfs("/poststart").is_none(),
        RUNC_POSTSTART,
        "",
    );
    let s = ctx.rt.start(&id);
    ctx.rep.check("start succeeds", s.success(), s.diag());
    ctx.rep.eq(
        "poststart has run when start returns",
        Some("post-start called\n".to_string()),
        b.read_rootfs("/poststart"),
    );
    ctx.rt.wait_status(&id, "stopped", WAIT);
    ctx.rep.eq(
        "process ran",
        Some("process called\n".to_string()),
        b.read_rootfs("/output"),
    );
    Ok(())
}

fn poststop(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    b.shell("echo 'process called' >> /output");
    let h = log_hook(&b, "/output", "post-stop called");
    b.add_hook("poststop", h);
    b.write()?;
    let id = ctx.id();
    let c = ctx.rt.create(&id, &b.dir, &CreateOpts::default());
    ctx.rep.check("create succeeds", c.success(), c.diag());
    ctx.rep.check(
        "poststop not run by create",
        b.read_rootfs("/output").is_none(),
        "",
    );
    let s = ctx.rt.start(&id);
    ctx.rep.check("start succeeds", s.success(), s.diag());
    ctx.rt.wait_status(&id, "stopped", WAIT);
    ctx.rep.eq(
        "poststop not run before delete",
        Some("process called\n".to_string()),
        b.read_rootfs("/output"),
    );
    let d = ctx.rt.delete(&id);
    ctx.rep.check("delete succeeds", d.success(), d.diag());
    ctx.rep.eq(
        "poststop ran during delete",
        Some("process called\npost-stop called\n".to_string()),
        b.read_rootfs("/output"),
    );
    Ok(())
}

fn create_hook_fail(ctx: &mut Ctx, kind: &str) -> Result<()> {
    let mut b = ctx.bundle()?;
    b.shell("touch /output");
    let cg = ctx.cgpath();
    b.config["linux"]["cgroupsPath"] = json!(cg);
    b.config["linux"]["resources"]["pids"] = json!({"limit": 1000});
    b.add_hook(kind, json!({"path": b.applet("false"), "args": ["false"]}));
    let poststop = log_hook(&b, "/poststop", "post-stop called");
    b.add_hook("poststop", poststop);
    let (id, _) = ctx.expect_create_or_start_fails(
        &b,
        &format!("failing {kind} hook makes create/start fail"),
    )?;
    std::thread::sleep(Duration::from_millis(100));
    ctx.rep.check(
        "the process never ran",
        b.read_rootfs("/output").is_none(),
        "/output exists",
    );
    let st = ctx.rt.state(&id);
    ctx.rep.check(
        "the container is destroyed (state fails)",
        st.failed(),
        st.diag(),
    );
    let dir = ctx.host.v1_dir("pids", &cg);
    ctx.rep.check(
        "no cgroup left behind",
        dir.as_ref().map(|d| !d.exists()).unwrap_or(true),
        format!("{dir:?} exists"),
    );
    Ok(())
}

fn start_container_fail(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    b.shell("touch /output");
    b.add_hook(
        "startContainer",
        json!({"path": "/bin/false", "args": ["false"]}),
    );
    b.write()?;
    let id = ctx.id();
    let c = ctx.rt.create(&id, &b.dir, &CreateOpts::default());
    ctx.rep.check("create succeeds", c.success(), c.diag());
    let s = ctx.rt.start(&id);
    ctx.rep.expect_todo(
        "failing startContainer hook makes start fail",
        "runc-compat: runc 1.1 start returns 0; the hook fails in init after the exec fifo opened",
    );
    ctx.rep.check(
        "failing startContainer hook makes start fail",
        s.failed(),
        s.diag(),
    );
    std::thread::sleep(Duration::from_millis(200));
    ctx.rep.check(
        "the process never ran",
        b.read_rootfs("/output").is_none(),
        "/output exists",
    );
    let st = ctx.rt.status(&id);
    ctx.rep.check(
        "the container is stopped or gone",
        st.is_none() || st.as_deref() == Some("stopped"),
        format!("{st:?}"),
    );
    Ok(())
}

fn poststart_fail(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    b.shell("sleep 1");
    b.add_hook(
        "poststart",
        json!({"path": b.applet("false"), "args": ["false"]}),
    );
    let h = log_hook(&b, "/output", "post-start called");
    b.add_hook("poststart", h);
    b.write()?;
    let id = ctx.id();
    let c = ctx.rt.create(&id, &b.dir, &CreateOpts::default());
    let s = if c.success() {
        Some(ctx.rt.start(&id))
    } else {
        None
    };
    let ok = c.success() && s.as_ref().map(|s| s.success()).unwrap_or(false);
    let diag = format!("{}\n{}", c.diag(), s.map(|s| s.diag()).unwrap_or_default());
    if ctx.spec == "1.3" {
        ctx.rep.check(
            "v1.3: failing poststart hook makes the operation fail",
            !ok,
            diag,
        );
        let st = ctx.rt.status(&id);
        ctx.rep.check(
            "v1.3: the container is stopped",
            st.as_deref() != Some("running"),
            format!("{st:?}"),
        );
    } else {
        let why = "runc-compat: runc treats a poststart failure as fatal (the v1.3.0 semantics)";
        ctx.rep.todo(
            "v1.2: failing poststart hook only warns; create and start succeed",
            ok,
            why,
            diag,
        );
        ctx.rt.wait_status(&id, "stopped", WAIT);
        ctx.rep.todo(
            "v1.2: later poststart hooks still run",
            b.read_rootfs("/output").as_deref() == Some("post-start called\n"),
            why,
            format!("{:?}", b.read_rootfs("/output")),
        );
    }
    Ok(())
}

fn poststop_fail(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    b.config["process"]["args"] = json!(["true"]);
    b.add_hook(
        "poststop",
        json!({"path": b.applet("false"), "args": ["false"]}),
    );
    let h = log_hook(&b, "/output", "post-stop called");
    b.add_hook("poststop", h);
    b.write()?;
    let id = ctx.id();
    ctx.rt.create(&id, &b.dir, &CreateOpts::default());
    ctx.rt.start(&id);
    ctx.rt.wait_status(&id, "stopped", WAIT);
    let d = ctx.rt.delete(&id);
    ctx.rep.check(
        "failing poststop hook: delete still succeeds (warning only)",
        d.success(),
        d.diag(),
    );
    ctx.rep.expect_todo(
        "later poststop hooks still run",
        "runc-compat: runc stops at the first failing poststop hook",
    );
    ctx.rep.eq(
        "later poststop hooks still run",
        Some("post-stop called\n".to_string()),
        b.read_rootfs("/output"),
    );
    let st = ctx.rt.state(&id);
    ctx.rep
        .check("container is gone after delete", st.failed(), st.diag());
    Ok(())
}

fn timeout(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    b.shell("touch /output");
    let mut h = b.hook("sleep 10");
    h["timeout"] = json!(1);
    b.add_hook("createRuntime", h);
    b.write()?;
    let id = ctx.id();
    let t = Instant::now();
    let c = ctx.rt.create(&id, &b.dir, &CreateOpts::default());
    let el = t.elapsed();
    ctx.rep.check(
        "hook exceeding its timeout fails create",
        c.failed(),
        c.diag(),
    );
    ctx.rep.check(
        "hook is killed at its timeout (create returns within 5 s)",
        el < Duration::from_secs(5),
        format!("took {el:?}"),
    );
    Ok(())
}

fn args_env(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    b.config["process"]["args"] = json!(["true"]);
    let out = b.host("/hookargs").to_string_lossy().into_owned();
    // path is busybox itself: it only runs `sh` if args[0] is passed as argv[0].
    b.add_hook(
        "createRuntime",
        json!({
            "path": b.applet("busybox"),
            "args": ["sh", "-c", format!("echo \"$0 $1\" > {out}; echo \"$CONFORMANCE_HOOK\" >> {out}"), "first", "second"],
            "env": ["CONFORMANCE_HOOK=hook-env-value"]
        }),
    );
    b.write()?;
    let id = ctx.id();
    let c = ctx.rt.create(&id, &b.dir, &CreateOpts::default());
    ctx.rep.check("create succeeds", c.success(), c.diag());
    let got = lines(b.read_rootfs("/hookargs"));
    ctx.rep.eq(
        "hook args are the full argv (args[0] is argv[0])",
        Some("first second"),
        got.first().map(String::as_str),
    );
    ctx.rep.eq(
        "hook env is passed",
        Some("hook-env-value"),
        got.get(1).map(String::as_str),
    );
    Ok(())
}

/// runc runs createContainer hooks from the container's root: a relative path in the hook
/// is a path in the container's rootfs.
fn create_container_cwd(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    b.config["process"]["args"] = json!(["true"]);
    let h = b.hook("pwd > ./hook-cwd && mkdir -p ./lib && touch ./lib/hook-made");
    b.add_hook("createContainer", h);
    b.write()?;
    let id = ctx.id();
    let c = ctx.rt.create(&id, &b.dir, &CreateOpts::default());
    ctx.rep.check("create succeeds", c.success(), c.diag());
    ctx.rep.check(
        "a relative path in a createContainer hook is inside the rootfs",
        b.host("/lib/hook-made").exists(),
        format!("{} missing", b.host("/lib/hook-made").display()),
    );
    ctx.rep.check(
        "the hook wrote its working directory into the rootfs",
        b.read_rootfs("/hook-cwd")
            .is_some_and(|s| !s.trim().is_empty()),
        "no /hook-cwd in the rootfs",
    );
    Ok(())
}

/// A startContainer hook without its own env runs with the process's environment: PATH
/// from process.env finds commands by name, and the process's variables are set.
fn start_container_env(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    b.config["process"]["args"] = json!(["true"]);
    b.config["process"]["env"] = json!(["PATH=/bin:/sbin:/usr/bin", "HOOKVAR=from-process-env"]);
    b.add_hook(
        "startContainer",
        in_container_hook(
            "echo \"$HOOKVAR\" > /hookenv; echo found > /hooklookup && cat /hooklookup >> /hookenv",
        ),
    );
    b.write()?;
    let id = ctx.id();
    let c = ctx.rt.create(&id, &b.dir, &CreateOpts::default());
    ctx.rep.check("create succeeds", c.success(), c.diag());
    let s = ctx.rt.start(&id);
    ctx.rep.check("start succeeds", s.success(), s.diag());
    ctx.rt.wait_status(&id, "stopped", WAIT);
    ctx.rep.eq(
        "the hook sees the process env and finds commands through its PATH",
        vec!["from-process-env".to_string(), "found".to_string()],
        lines(b.read_rootfs("/hookenv")),
    );
    Ok(())
}
