//! Process attributes as runc 1.2–1.5 apply them (runtime-spec 1.2/1.3 config.md):
//! the CPU affinity (never the one the runtime was started with; `execCPUAffinity`
//! for exec), time namespace offsets, `process.scheduler`, `process.ioPriority`,
//! `linux.memoryPolicy`, and what `features` says of them. Values are read where the
//! kernel shows them: /proc/PID/status, /proc/PID/stat, timens_offsets, numa_maps,
//! ioprio_get(2).

use super::{Case, Ctx, WAIT};
use crate::bundle::Bundle;
use anyhow::Result;
use serde_json::{json, Value};

pub fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "procattr/affinity_not_inherited",
            run: affinity_not_inherited,
        },
        Case {
            name: "procattr/exec_cpu_affinity",
            run: exec_cpu_affinity,
        },
        Case {
            name: "procattr/time_offsets",
            run: time_offsets,
        },
        Case {
            name: "procattr/scheduler",
            run: scheduler,
        },
        Case {
            name: "procattr/io_priority",
            run: io_priority,
        },
        Case {
            name: "procattr/memory_policy",
            run: memory_policy,
        },
        Case {
            name: "procattr/features",
            run: features,
        },
    ]
}

const CPUS: &str = "grep Cpus_allowed_list /proc/self/status";

/// `Cpus_allowed_list` of a /proc/PID/status text.
fn cpus_of(status: &str) -> Option<String> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(|v| v.trim().to_string())
}

/// The CPUs this process may run on (what a container gets when nothing narrows it).
fn own_cpus() -> Option<String> {
    cpus_of(&std::fs::read_to_string("/proc/self/status").ok()?)
}

/// The first two CPUs this process may run on, if it has two.
fn two_cpus() -> Option<(usize, usize)> {
    // SAFETY: a zeroed cpu_set_t is valid; sched_getaffinity fills it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    if unsafe { libc::sched_getaffinity(0, size, &mut set) } != 0 {
        return None;
    }
    let mut on = (0..libc::CPU_SETSIZE as usize).filter(|&c| unsafe { libc::CPU_ISSET(c, &set) });
    Some((on.next()?, on.next()?))
}

/// Runs `f` with this thread (and so the runtime it starts) pinned to `cpu`.
fn pinned<T>(cpu: usize, f: impl FnOnce() -> T) -> T {
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: plain cpu_set_t values, valid for the calls.
    let mut old: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    unsafe { libc::sched_getaffinity(0, size, &mut old) };
    let mut one: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    unsafe {
        libc::CPU_SET(cpu, &mut one);
        libc::sched_setaffinity(0, size, &one);
    }
    let r = f();
    unsafe { libc::sched_setaffinity(0, size, &old) };
    r
}

/// A started `sleep` container (after `prepare`), with its host pid.
fn sleeper(ctx: &mut Ctx, prepare: impl FnOnce(&mut Bundle)) -> Result<Option<(String, i64)>> {
    let mut b = ctx.bundle()?;
    b.config["process"]["args"] = json!(["sleep", "60"]);
    prepare(&mut b);
    let Some((id, pid)) = ctx.create_only(&b)? else {
        return Ok(None);
    };
    let s = ctx.rt.start(&id);
    if !ctx.rep.check("start succeeds", s.success(), s.diag()) {
        return Ok(None);
    }
    Ok(Some((id, pid)))
}

/// `exec --process FILE ID` with `process` (args as given, cwd /).
fn exec_process(ctx: &mut Ctx, id: &str, process: Value) -> Result<crate::runtime::Out> {
    let file = ctx.rt.scratch.join(format!("{id}-procattr.json"));
    std::fs::write(&file, process.to_string())?;
    let f = file.to_string_lossy().into_owned();
    let o = ctx.rt.run(&["exec", "--process", &f, id]);
    let _ = std::fs::remove_file(&file);
    Ok(o)
}

fn sh_process(script: &str) -> Value {
    json!({"args": ["/bin/sh", "-c", script], "cwd": "/",
           "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]})
}

/// runc 1.2+ resets the affinity of the container's processes after they join the
/// cgroup: started under `taskset -c N`, they still get every CPU of the cgroup's
/// cpuset (all the host's without one), for run and for exec.
fn affinity_not_inherited(ctx: &mut Ctx) -> Result<()> {
    let (Some((first, second)), Some(all)) = (two_cpus(), own_cpus()) else {
        ctx.rep.skip("affinity", "fewer than two CPUs here");
        return Ok(());
    };
    let mut b = ctx.bundle()?;
    b.shell(CPUS);
    let out = pinned(first, || ctx.output_of(&b))?;
    ctx.rep.eq(
        &format!("run under an affinity of cpu {first}: the process may use every CPU"),
        Some(all.clone()),
        cpus_of(&out),
    );

    if ctx.host.v1.contains_key("cpuset") {
        for cpus in [format!("{first}-{second}"), second.to_string()] {
            ctx.subcase(&format!("cpuset {cpus}"));
            let mut b = ctx.bundle()?;
            b.shell(CPUS);
            b.config["linux"]["cgroupsPath"] = json!(ctx.cgpath());
            b.config["linux"]["resources"]["cpu"] = json!({"cpus": cpus, "mems": "0"});
            let out = pinned(first, || ctx.output_of(&b))?;
            ctx.rep.eq(
                &format!("run under an affinity of cpu {first}, cpuset {cpus}: the cpuset's CPUs"),
                Some(cpus.clone()),
                cpus_of(&out),
            );
        }
    } else {
        ctx.rep
            .skip("cpuset", "no cgroup v1 cpuset controller here");
    }
    ctx.subcase("exec");

    let Some((id, _)) = sleeper(ctx, |_| {})? else {
        return Ok(());
    };
    let o = pinned(first, || ctx.rt.run(&["exec", &id, "sh", "-c", CPUS]));
    ctx.rep.check("exec succeeds", o.success(), o.diag());
    ctx.rep.eq(
        &format!("exec under an affinity of cpu {first}: the process may use every CPU"),
        Some(all),
        cpus_of(&o.stdout),
    );
    Ok(())
}

/// runtime-spec 1.3 `process.execCPUAffinity` (runc 1.3+): for exec only; `final` is
/// the affinity the process runs with, `initial` alone stays, an empty value is unset.
fn exec_cpu_affinity(ctx: &mut Ctx) -> Result<()> {
    let (Some((first, second)), Some(all)) = (two_cpus(), own_cpus()) else {
        ctx.rep.skip("affinity", "fewer than two CPUs here");
        return Ok(());
    };
    let (f, s) = (first.to_string(), second.to_string());
    let Some((id, pid)) = sleeper(ctx, |b| {
        b.config["process"]["execCPUAffinity"] = json!({"initial": f, "final": s});
    })?
    else {
        return Ok(());
    };
    let init = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    ctx.rep.eq(
        "config.json execCPUAffinity does not apply to the init process",
        Some(all.clone()),
        cpus_of(&init),
    );
    let o = ctx.rt.run(&["exec", &id, "sh", "-c", CPUS]);
    ctx.rep.eq(
        "exec without --process takes execCPUAffinity from config.json: final",
        Some(s.clone()),
        cpus_of(&o.stdout),
    );
    let cases = [
        (
            json!({"initial": f, "final": s}),
            s.clone(),
            "initial and final: final",
        ),
        (json!({"final": f}), f.clone(), "only final: final"),
        (
            json!({"initial": s}),
            s.clone(),
            "only initial: initial stays",
        ),
        (
            json!({"initial": "", "final": ""}),
            all.clone(),
            "empty values: every CPU",
        ),
    ];
    for (aff, want, what) in cases {
        let mut p = sh_process(CPUS);
        p["execCPUAffinity"] = aff;
        let o = exec_process(ctx, &id, p)?;
        ctx.rep.eq(
            &format!("exec --process, execCPUAffinity {what}"),
            Some(want),
            cpus_of(&o.stdout),
        );
    }
    Ok(())
}

/// `timens_offsets` lines as (clock, secs, nanosecs).
fn offsets_of(text: &str) -> Vec<(String, i64, i64)> {
    let mut v: Vec<(String, i64, i64)> = text
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((
                w.next()?.to_string(),
                w.next()?.parse().ok()?,
                w.next()?.parse().ok()?,
            ))
        })
        .collect();
    v.sort();
    v
}

/// A `time` namespace with `linux.timeOffsets` (runc 1.2+): the offsets are the
/// namespace's (also with a user namespace, and for exec, which joins it); offsets
/// without a new time namespace are refused.
fn time_offsets(ctx: &mut Ctx) -> Result<()> {
    if !std::path::Path::new("/proc/self/timens_offsets").exists() {
        ctx.rep
            .skip("time namespace", "no time namespaces in this kernel");
        return Ok(());
    }
    let offsets = json!({"monotonic": {"secs": 86400, "nanosecs": 0},
                         "boottime": {"secs": 172800, "nanosecs": 5}});
    let want = vec![
        ("boottime".to_string(), 172800, 5),
        ("monotonic".to_string(), 86400, 0),
    ];
    let script = "cat /proc/self/timens_offsets; cut -d. -f1 /proc/uptime";
    for userns in [false, true] {
        ctx.subcase(if userns {
            "with user namespace"
        } else {
            "plain"
        });
        let Some((id, _)) = sleeper(ctx, |b| {
            b.add_ns("time", None);
            b.config["linux"]["timeOffsets"] = offsets.clone();
            if userns {
                super::namespaces::add_userns(b, 65536, 65536);
            }
        })?
        else {
            continue;
        };
        let o = ctx.rt.run(&["exec", &id, "sh", "-c", script]);
        ctx.rep.check("exec succeeds", o.success(), o.diag());
        ctx.rep.eq(
            "exec joins the time namespace: its timens_offsets",
            want.clone(),
            offsets_of(&o.stdout),
        );
        let uptime = o
            .stdout
            .lines()
            .last()
            .and_then(|l| l.trim().parse::<i64>().ok());
        ctx.rep.check(
            "/proc/uptime includes the boottime offset",
            uptime.is_some_and(|u| u >= 172800),
            o.diag(),
        );
        let mut b = ctx.bundle()?;
        b.add_ns("time", None);
        b.config["linux"]["timeOffsets"] = offsets.clone();
        if userns {
            super::namespaces::add_userns(&mut b, 65536, 65536);
        }
        b.shell("cat /proc/self/timens_offsets");
        let out = ctx.output_of(&b)?;
        ctx.rep.eq(
            "the init process's timens_offsets",
            want.clone(),
            offsets_of(&out),
        );
        ctx.rt.kill(&id, "KILL");
        ctx.rt.wait_status(&id, "stopped", WAIT);
    }
    ctx.subcase("refused");
    let mut b = ctx.bundle()?;
    b.config["linux"]["timeOffsets"] = offsets.clone();
    ctx.expect_create_fails(&b, "timeOffsets without a time namespace: create fails")?;
    let mut b = ctx.bundle()?;
    b.add_ns("time", Some("/proc/1/ns/time"));
    b.config["linux"]["timeOffsets"] = offsets;
    ctx.expect_create_fails(
        &b,
        "timeOffsets with a time namespace path to join: create fails",
    )?;
    Ok(())
}

/// (rt_priority, policy) and nice of a /proc/PID/stat text (fields 40, 41 and 19).
fn sched_of(stat: &str) -> Option<(i64, i64, i64)> {
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3
    let get = |n: usize| f.get(n - 3).and_then(|v| v.parse::<i64>().ok());
    Some((get(19)?, get(40)?, get(41)?))
}

/// `process.scheduler` (runc 1.2+): sched_setattr(2) before the process runs, for
/// create and exec; runc's checks refuse what the policy cannot take.
fn scheduler(ctx: &mut Ctx) -> Result<()> {
    // (scheduler, (nice, rt_priority, policy), needs realtime cgroup time)
    let good = [
        (
            json!({"policy": "SCHED_BATCH", "nice": 5}),
            (5, 0, 3),
            false,
        ),
        (json!({"policy": "SCHED_IDLE"}), (0, 0, 5), false),
        (
            json!({"policy": "SCHED_OTHER", "nice": -5}),
            (-5, 0, 0),
            false,
        ),
        (
            json!({"policy": "SCHED_RR", "priority": 10}),
            (0, 10, 2),
            true,
        ),
        (
            json!({"policy": "SCHED_FIFO", "priority": 20}),
            (0, 20, 1),
            true,
        ),
    ];
    let rt_ok = ctx.host.v1.contains_key("cpu");
    for (sched, want, rt) in good {
        let name = sched["policy"].as_str().unwrap_or("").to_string();
        ctx.subcase(&name);
        if rt && !rt_ok {
            ctx.rep
                .skip(&name, "no cgroup v1 cpu controller for realtime time");
            continue;
        }
        let mut b = ctx.bundle()?;
        b.config["process"]["scheduler"] = sched.clone();
        if rt {
            // A new cpu cgroup has no realtime time (CONFIG_RT_GROUP_SCHED).
            b.config["linux"]["cgroupsPath"] = json!(ctx.cgpath());
            b.config["linux"]["resources"]["cpu"] =
                json!({"realtimePeriod": 1000000, "realtimeRuntime": 10000});
        }
        b.config["process"]["args"] = json!(["cat", "/proc/self/stat"]);
        let out = ctx.output_of(&b)?;
        ctx.rep.eq(
            &format!("{sched}: (nice, rt_priority, policy)"),
            Some(want),
            sched_of(&out),
        );
    }

    if rt_ok {
        ctx.subcase("SCHED_FLAG_RESET_ON_FORK");
        let mut b = ctx.bundle()?;
        b.config["process"]["scheduler"] =
            json!({"policy": "SCHED_RR", "priority": 10, "flags": ["SCHED_FLAG_RESET_ON_FORK"]});
        b.config["linux"]["cgroupsPath"] = json!(ctx.cgpath());
        b.config["linux"]["resources"]["cpu"] =
            json!({"realtimePeriod": 1000000, "realtimeRuntime": 10000});
        // A child for certain: not the last command (sh would exec it) nor a builtin.
        b.shell("cat /proc/$$/stat; echo; sh -c 'cat /proc/self/stat'; true");
        let out = ctx.output_of(&b)?;
        let mut lines = out.lines().filter(|l| !l.trim().is_empty());
        ctx.rep.eq(
            "SCHED_RR with SCHED_FLAG_RESET_ON_FORK: the process",
            Some((0, 10, 2)),
            lines.next().and_then(sched_of),
        );
        ctx.rep.eq(
            "SCHED_RR with SCHED_FLAG_RESET_ON_FORK: its child is SCHED_OTHER",
            Some((0, 0, 0)),
            lines.next().and_then(sched_of),
        );
    }

    ctx.subcase("refused");
    let bad = [
        (
            json!({"policy": "SCHED_OTHER", "priority": 5}),
            "priority with SCHED_OTHER",
        ),
        (json!({"policy": "SCHED_BATCH", "nice": 30}), "nice 30"),
        (
            json!({"policy": "SCHED_FIFO", "priority": 1, "runtime": 1000}),
            "runtime without SCHED_DEADLINE",
        ),
        (json!({"policy": "SCHED_NO_SUCH"}), "an unknown policy"),
        (json!({"nice": 1}), "no policy"),
    ];
    for (sched, what) in &bad {
        let mut b = ctx.bundle()?;
        b.config["process"]["scheduler"] = sched.clone();
        ctx.expect_create_fails(&b, &format!("scheduler with {what}: create fails"))?;
    }

    ctx.subcase("exec");
    let Some((id, _)) = sleeper(ctx, |_| {})? else {
        return Ok(());
    };
    let mut p = sh_process("");
    p["args"] = json!(["/bin/cat", "/proc/self/stat"]);
    p["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 7});
    let o = exec_process(ctx, &id, p.clone())?;
    ctx.rep.eq(
        "exec --process with SCHED_BATCH nice 7: (nice, rt_priority, policy)",
        Some((7, 0, 3)),
        sched_of(&o.stdout),
    );
    // The spec's flag names, in a process.json too.
    p["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 3,
        "flags": ["SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_DL_OVERRUN"]});
    let o = exec_process(ctx, &id, p.clone())?;
    ctx.rep.eq(
        "exec --process with SCHED_FLAG_RESET_ON_FORK and SCHED_FLAG_DL_OVERRUN: (nice, rt_priority, policy)",
        Some((3, 0, 3)),
        sched_of(&o.stdout),
    );
    for (sched, what) in bad.iter().take(3) {
        p["scheduler"] = sched.clone();
        let o = exec_process(ctx, &id, p.clone())?;
        ctx.rep.check(
            &format!("exec --process, scheduler with {what}: fails"),
            o.failed(),
            o.diag(),
        );
    }
    let status = ctx.rt.status(&id);
    ctx.rep.eq(
        "the container still runs afterwards",
        Some("running".to_string()),
        status,
    );
    Ok(())
}

/// ioprio_get(IOPRIO_WHO_PROCESS, pid) as (class, data).
fn ioprio_of(pid: i64) -> Option<(i64, i64)> {
    // SAFETY: a plain syscall with integer arguments.
    let v = unsafe { libc::syscall(libc::SYS_ioprio_get, 1, pid as libc::c_long) };
    (v >= 0).then_some((v >> 13, v & 0x1fff))
}

/// `process.ioPriority` (runc 1.2+): ioprio_set(2) for the process, create and exec;
/// a priority outside 0-7 and an unknown class are refused.
fn io_priority(ctx: &mut Ctx) -> Result<()> {
    let good = [
        (json!({"class": "IOPRIO_CLASS_BE", "priority": 6}), (2, 6)),
        (json!({"class": "IOPRIO_CLASS_RT", "priority": 3}), (1, 3)),
        (json!({"class": "IOPRIO_CLASS_IDLE", "priority": 0}), (3, 0)),
    ];
    for (prio, want) in &good {
        let Some((id, pid)) = sleeper(ctx, |b| b.config["process"]["ioPriority"] = prio.clone())?
        else {
            continue;
        };
        ctx.rep.eq(
            &format!("{prio}: ioprio_get of the process (class, priority)"),
            Some(*want),
            ioprio_of(pid),
        );
        ctx.rt.kill(&id, "KILL");
    }
    ctx.subcase("refused");
    let bad = [
        (
            json!({"class": "IOPRIO_CLASS_BE", "priority": 8}),
            "priority 8",
        ),
        (
            json!({"class": "IOPRIO_CLASS_BE", "priority": -1}),
            "priority -1",
        ),
        (
            json!({"class": "IOPRIO_CLASS_NO_SUCH", "priority": 1}),
            "an unknown class",
        ),
    ];
    for (prio, what) in &bad {
        let mut b = ctx.bundle()?;
        b.config["process"]["ioPriority"] = prio.clone();
        ctx.expect_create_fails(&b, &format!("ioPriority with {what}: create fails"))?;
    }
    ctx.subcase("exec");
    let Some((id, _)) = sleeper(ctx, |_| {})? else {
        return Ok(());
    };
    let mut p = sh_process("ionice");
    p["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 4});
    let o = exec_process(ctx, &id, p.clone())?;
    ctx.rep.eq(
        "exec --process with IOPRIO_CLASS_BE 4: ionice in the process",
        "best-effort: prio 4",
        o.stdout.trim(),
    );
    for (prio, what) in bad.iter().take(2) {
        p["ioPriority"] = prio.clone();
        let o = exec_process(ctx, &id, p.clone())?;
        ctx.rep.check(
            &format!("exec --process, ioPriority with {what}: fails"),
            o.failed(),
            o.diag(),
        );
    }
    Ok(())
}

/// runtime-spec 1.3 `linux.memoryPolicy` (runc 1.4+): set_mempolicy(2) before the
/// process runs, seen as the policy column of its numa_maps; runc's checks refuse a
/// mode that cannot take the nodes given, unknown modes and flags and bad node lists.
fn memory_policy(ctx: &mut Ctx) -> Result<()> {
    if !std::path::Path::new("/sys/devices/system/node/node0").exists() {
        ctx.rep.skip("memory policy", "no NUMA node 0 here");
        return Ok(());
    }
    let good = [
        (json!({"mode": "MPOL_BIND", "nodes": "0"}), "bind:0"),
        (
            json!({"mode": "MPOL_INTERLEAVE", "nodes": "0"}),
            "interleave:0",
        ),
        (json!({"mode": "MPOL_PREFERRED", "nodes": "0"}), "prefer:0"),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}),
            "bind=static:0",
        ),
        (json!({"mode": "MPOL_LOCAL"}), "local"),
        (json!({"mode": "MPOL_DEFAULT"}), "default"),
    ];
    for (mpol, want) in &good {
        let mut b = ctx.bundle()?;
        b.config["linux"]["memoryPolicy"] = mpol.clone();
        b.config["process"]["args"] = json!(["head", "-n1", "/proc/self/numa_maps"]);
        let out = ctx.output_of(&b)?;
        let policy = out.split_whitespace().nth(1).map(str::to_string);
        ctx.rep.eq(
            &format!("{mpol}: the numa_maps policy"),
            Some(want.to_string()),
            policy,
        );
    }
    ctx.subcase("refused");
    let bad = [
        (
            json!({"mode": "MPOL_NO_SUCH", "nodes": "0"}),
            "an unknown mode",
        ),
        (
            json!({"mode": "MPOL_DEFAULT", "nodes": "0"}),
            "MPOL_DEFAULT and nodes",
        ),
        (json!({"mode": "MPOL_BIND"}), "MPOL_BIND without nodes"),
        (
            json!({"mode": "MPOL_BIND", "nodes": "zero"}),
            "a bad node list",
        ),
        (
            json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_NO_SUCH"]}),
            "an unknown flag",
        ),
    ];
    for (mpol, what) in &bad {
        let mut b = ctx.bundle()?;
        b.config["linux"]["memoryPolicy"] = mpol.clone();
        ctx.expect_create_fails(&b, &format!("memoryPolicy with {what}: create fails"))?;
    }
    Ok(())
}

/// `features` as runc 1.4/1.5 print it for these settings: spec 1.3.0 (also in
/// `spec` and `state`), the time namespace, the memory policy modes and flags.
fn features(ctx: &mut Ctx) -> Result<()> {
    let o = ctx.rt.run(&["features"]);
    if !ctx.rep.check("features succeeds", o.success(), o.diag()) {
        return Ok(());
    }
    let f: Value = serde_json::from_str(&o.stdout).unwrap_or(Value::Null);
    let max = f["ociVersionMax"].as_str().unwrap_or("").to_string();
    ctx.rep
        .eq("ociVersionMin", Some("1.0.0"), f["ociVersionMin"].as_str());
    // runc 1.4+ implements runtime-spec 1.3.0 (memoryPolicy, execCPUAffinity, ...).
    let minor = |v: &str| -> Option<(u32, u32)> {
        let mut n = v.split('.').map(|x| x.parse::<u32>().ok());
        Some((n.next()??, n.next()??))
    };
    ctx.rep.check(
        "ociVersionMax is at least 1.3",
        minor(&max).is_some_and(|v| v >= (1, 3)),
        &max,
    );
    let has = |v: &Value, s: &str| v.as_array().is_some_and(|a| a.iter().any(|x| x == s));
    ctx.rep.check(
        "linux.namespaces has time",
        has(&f["linux"]["namespaces"], "time"),
        o.stdout.clone(),
    );
    for m in [
        "MPOL_BIND",
        "MPOL_DEFAULT",
        "MPOL_INTERLEAVE",
        "MPOL_LOCAL",
        "MPOL_PREFERRED",
        "MPOL_PREFERRED_MANY",
        "MPOL_WEIGHTED_INTERLEAVE",
    ] {
        ctx.rep.check(
            &format!("linux.memoryPolicy.modes has {m}"),
            has(&f["linux"]["memoryPolicy"]["modes"], m),
            "",
        );
    }
    for m in [
        "MPOL_F_NUMA_BALANCING",
        "MPOL_F_RELATIVE_NODES",
        "MPOL_F_STATIC_NODES",
    ] {
        ctx.rep.check(
            &format!("linux.memoryPolicy.flags has {m}"),
            has(&f["linux"]["memoryPolicy"]["flags"], m),
            "",
        );
    }
    ctx.rep.check(
        "potentiallyUnsafeConfigAnnotations is a list",
        f["potentiallyUnsafeConfigAnnotations"].is_array(),
        "",
    );
    // `spec` and `state` say the same version.
    let b = ctx.bundle()?;
    let dir = b.dir.join("spec");
    std::fs::create_dir_all(&dir)?;
    let d = dir.to_string_lossy().into_owned();
    let o = ctx.rt.run(&["spec", "--bundle", &d]);
    ctx.rep.check("spec succeeds", o.success(), o.diag());
    let spec: Value = std::fs::read(dir.join("config.json"))
        .ok()
        .and_then(|s| serde_json::from_slice(&s).ok())
        .unwrap_or(Value::Null);
    ctx.rep.eq(
        "spec's ociVersion is ociVersionMax",
        Some(max.as_str()),
        spec["ociVersion"].as_str(),
    );
    let Some((id, _)) = sleeper(ctx, |_| {})? else {
        return Ok(());
    };
    let st = ctx.rt.state_json(&id).unwrap_or(Value::Null);
    ctx.rep.eq(
        "state's ociVersion is ociVersionMax",
        Some(max.as_str()),
        st["ociVersion"].as_str(),
    );
    Ok(())
}
