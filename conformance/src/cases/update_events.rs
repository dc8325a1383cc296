//! `update` and `events` as runc 1.1 has them (not runtime-spec operations, but
//! every engine's CLI contract): sizes with suffixes, `-1` for unlimited, every flag,
//! `-r FILE|-`, the cpu period/quota write order, runc's event JSON, Go durations for
//! `--interval`, and `oom` events. Values are read back from the host's cgroupfs.

use super::{Case, Ctx, WAIT};
use anyhow::Result;
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "update_events/update_memory_sizes",
            run: update_memory_sizes,
        },
        Case {
            name: "update_events/update_pids",
            run: update_pids,
        },
        Case {
            name: "update_events/update_cpu",
            run: update_cpu,
        },
        Case {
            name: "update_events/update_cpu_in_limited_parent",
            run: update_cpu_in_limited_parent,
        },
        Case {
            name: "update_events/update_cpu_rt",
            run: update_cpu_rt,
        },
        Case {
            name: "update_events/update_resources_file",
            run: update_resources_file,
        },
        Case {
            name: "update_events/update_flags",
            run: update_flags,
        },
        Case {
            name: "update_events/events_stats_shape",
            run: events_stats_shape,
        },
        Case {
            name: "update_events/events_interval",
            run: events_interval,
        },
        Case {
            name: "update_events/events_oom",
            run: events_oom,
        },
    ]
}

/// What the kernel shows for "no limit" in memory.*limit_in_bytes (page-aligned i64::MAX).
fn unlimited(v: &Option<String>) -> bool {
    v.as_deref()
        .and_then(|s| s.parse::<u64>().ok())
        .is_some_and(|n| n >= 1 << 62)
}

/// A started `sleep` container at a fresh absolute cgroup path (`cg` if given) with
/// `resources`; returns (id, cgroupsPath).
fn running(
    ctx: &mut Ctx,
    cg: Option<String>,
    resources: Value,
    script: &str,
) -> Result<Option<(String, String)>> {
    let ctls = ["memory", "cpu", "pids", "cpuset"];
    if let Some(c) = ctls.iter().find(|c| !ctx.host.v1.contains_key(**c)) {
        ctx.rep
            .skip("cgroup files", &format!("no cgroup v1 {c} controller here"));
        return Ok(None);
    }
    let mut b = ctx.bundle()?;
    let cg = cg.unwrap_or_else(|| ctx.cgpath());
    b.config["linux"]["cgroupsPath"] = json!(cg);
    for (k, v) in resources.as_object().unwrap() {
        b.config["linux"]["resources"][k] = v.clone();
    }
    b.shell(script);
    let Some((id, _)) = ctx.create_only(&b)? else {
        return Ok(None);
    };
    let s = ctx.rt.start(&id);
    if !ctx.rep.check("start succeeds", s.success(), s.diag()) {
        return Ok(None);
    }
    Ok(Some((id, cg)))
}

fn cgfile(ctx: &Ctx, cg: &str, file: &str) -> Option<String> {
    let ctl = file.split('.').next()?;
    let d = ctx.host.v1_dir(ctl, cg)?;
    std::fs::read_to_string(d.join(file))
        .ok()
        .map(|s| s.trim().to_string())
}

/// `update ARGS ID` must succeed (or fail), then each (file, value) must read back.
fn upd(ctx: &mut Ctx, id: &str, cg: &str, args: &str, ok: bool, want: &[(&str, &str)]) {
    let args: Vec<&str> = args.split_whitespace().collect();
    let mut a = vec!["update"];
    a.extend_from_slice(&args);
    a.push(id);
    let o = ctx.rt.run(&a);
    let what = if ok { "succeeds" } else { "fails" };
    ctx.rep.check(
        &format!("update {} {what}", args.join(" ")),
        o.success() == ok,
        o.diag(),
    );
    for (file, v) in want {
        let got = cgfile(ctx, cg, file);
        ctx.rep.eq(
            &format!("after update {}: {file}", args.join(" ")),
            Some(v.to_string()),
            got,
        );
    }
}

fn update_memory_sizes(ctx: &mut Ctx) -> Result<()> {
    let Some((id, cg)) = running(ctx, None, json!({}), "sleep 1000")? else {
        return Ok(());
    };
    let lim = "memory.limit_in_bytes";
    let sw = "memory.memsw.limit_in_bytes";
    upd(ctx, &id, &cg, "--memory 50M", true, &[(lim, "52428800")]);
    upd(ctx, &id, &cg, "--memory 1G", true, &[(lim, "1073741824")]);
    upd(ctx, &id, &cg, "--memory 50m", true, &[(lim, "52428800")]);
    upd(
        ctx,
        &id,
        &cg,
        "--memory 100MiB",
        true,
        &[(lim, "104857600")],
    );
    upd(ctx, &id, &cg, "--memory 100MB", true, &[(lim, "104857600")]);
    upd(ctx, &id, &cg, "--memory=80000k", true, &[(lim, "81920000")]);
    let have_swap = cgfile(ctx, &cg, sw).is_some();
    if have_swap {
        upd(
            ctx,
            &id,
            &cg,
            "--memory 50M --memory-swap 100M",
            true,
            &[(lim, "52428800"), (sw, "104857600")],
        );
        upd(
            ctx,
            &id,
            &cg,
            "--memory-swap -1",
            true,
            &[(lim, "52428800")],
        );
        let v = cgfile(ctx, &cg, sw);
        ctx.rep.check(
            "--memory-swap -1: swap unlimited",
            unlimited(&v),
            format!("{v:?}"),
        );
    }
    upd(ctx, &id, &cg, "--memory -1", true, &[]);
    let v = cgfile(ctx, &cg, lim);
    ctx.rep.check(
        "--memory -1: memory unlimited",
        unlimited(&v),
        format!("{v:?}"),
    );
    if have_swap {
        let v = cgfile(ctx, &cg, sw);
        ctx.rep.check(
            "--memory -1: swap unlimited too",
            unlimited(&v),
            format!("{v:?}"),
        );
    }
    let soft = "memory.soft_limit_in_bytes";
    upd(
        ctx,
        &id,
        &cg,
        "--memory-reservation 20M",
        true,
        &[(soft, "20971520")],
    );
    upd(ctx, &id, &cg, "--memory-reservation -1", true, &[]);
    let v = cgfile(ctx, &cg, soft);
    ctx.rep.check(
        "--memory-reservation -1: unlimited",
        unlimited(&v),
        format!("{v:?}"),
    );
    upd(ctx, &id, &cg, "--memory 64M", true, &[(lim, "67108864")]);
    for bad in ["abc", "1X", "-2", "1.2.3"] {
        upd(
            ctx,
            &id,
            &cg,
            &format!("--memory {bad}"),
            false,
            &[(lim, "67108864")],
        );
    }
    // Obsolete in runc 1.1: accepted, ignored with a warning.
    upd(
        ctx,
        &id,
        &cg,
        "--kernel-memory 10M",
        true,
        &[(lim, "67108864")],
    );
    upd(ctx, &id, &cg, "--kernel-memory-tcp 10M", true, &[]);
    Ok(())
}

fn update_pids(ctx: &mut Ctx) -> Result<()> {
    let Some((id, cg)) = running(ctx, None, json!({"pids": {"limit": 100}}), "sleep 1000")? else {
        return Ok(());
    };
    let p = "pids.max";
    upd(ctx, &id, &cg, "--pids-limit 10", true, &[(p, "10")]);
    upd(ctx, &id, &cg, "--pids-limit -1", true, &[(p, "max")]);
    upd(ctx, &id, &cg, "--pids-limit 20", true, &[(p, "20")]);
    // runc 1.4 (runtime-spec 1.3): a given 0 is applied, as 1 (systemd cannot set
    // TasksMax=0); runc 1.1 left the limit as it was.
    upd(ctx, &id, &cg, "--pids-limit 0", true, &[(p, "1")]);
    upd(ctx, &id, &cg, "--pids-limit 20", true, &[(p, "20")]);
    upd(ctx, &id, &cg, "--pids-limit x", false, &[(p, "20")]);
    // no --pids-limit: the limit stays
    upd(ctx, &id, &cg, "--memory 50M", true, &[(p, "20")]);
    Ok(())
}

fn update_cpu(ctx: &mut Ctx) -> Result<()> {
    let Some((id, cg)) = running(ctx, None, json!({}), "sleep 1000")? else {
        return Ok(());
    };
    let (per, quo) = ("cpu.cfs_period_us", "cpu.cfs_quota_us");
    upd(
        ctx,
        &id,
        &cg,
        "--cpu-share 512",
        true,
        &[("cpu.shares", "512")],
    );
    upd(
        ctx,
        &id,
        &cg,
        "--cpu-quota 50000",
        true,
        &[(per, "100000"), (quo, "50000")],
    );
    upd(
        ctx,
        &id,
        &cg,
        "--cpu-period 10000",
        true,
        &[(per, "10000"), (quo, "50000")],
    );
    upd(
        ctx,
        &id,
        &cg,
        "--cpu-period 200000 --cpu-quota 400000",
        true,
        &[(per, "200000"), (quo, "400000")],
    );
    upd(
        ctx,
        &id,
        &cg,
        "--cpu-quota -1",
        true,
        &[(per, "200000"), (quo, "-1")],
    );
    upd(ctx, &id, &cg, "--cpu-period 0", true, &[(per, "200000")]);
    upd(
        ctx,
        &id,
        &cg,
        "--cpuset-cpus 0",
        true,
        &[("cpuset.cpus", "0")],
    );
    upd(
        ctx,
        &id,
        &cg,
        "--cpuset-mems 0",
        true,
        &[("cpuset.mems", "0")],
    );
    upd(ctx, &id, &cg, "--cpu-period abc", false, &[(per, "200000")]);
    upd(ctx, &id, &cg, "--cpu-quota 1.5", false, &[(quo, "-1")]);
    upd(
        ctx,
        &id,
        &cg,
        "--cpu-share -5",
        false,
        &[("cpu.shares", "512")],
    );
    Ok(())
}

/// Inside a parent with its own CFS limit (a pod's cgroup), the kernel checks each
/// write against the parent: the period must be written before or after the quota
/// depending on the direction of the change (runc: period first, retried after the
/// quota on EINVAL).
fn update_cpu_in_limited_parent(ctx: &mut Ctx) -> Result<()> {
    let Some(cpu) = ctx.host.v1.get("cpu").cloned() else {
        ctx.rep
            .skip("parent limit", "no cgroup v1 cpu controller here");
        return Ok(());
    };
    let parent = ctx.cgpath();
    let pdir = cpu.join(parent.trim_start_matches('/'));
    std::fs::create_dir_all(&pdir)?;
    std::fs::write(pdir.join("cpu.cfs_period_us"), "100000")?;
    std::fs::write(pdir.join("cpu.cfs_quota_us"), "100000")?;
    let child = format!("{parent}/c");
    let res = json!({"cpu": {"quota": 50000, "period": 100000}});
    let Some((id, cg)) = running(ctx, Some(child), res, "sleep 1000")? else {
        return Ok(());
    };
    // (arguments, succeeds, period, quota afterwards)
    let steps = [
        // Period first would make 50000/10000 = 5 CPUs > the parent's 1.
        ("--cpu-period 10000 --cpu-quota 5000", true, "10000", "5000"),
        // Quota first would make 80000/10000 = 8 CPUs.
        (
            "--cpu-period 100000 --cpu-quota 80000",
            true,
            "100000",
            "80000",
        ),
        // Above the parent's limit: refused, nothing changes.
        ("--cpu-quota 200000", false, "100000", "80000"),
    ];
    pair_steps(
        ctx,
        &id,
        &cg,
        ("cpu.cfs_period_us", "cpu.cfs_quota_us"),
        &steps,
    );
    Ok(())
}

/// One `update` per step, then the period file and the other file of the pair read back.
fn pair_steps(
    ctx: &mut Ctx,
    id: &str,
    cg: &str,
    (per, other): (&str, &str),
    steps: &[(&str, bool, &str, &str)],
) {
    for (args, ok, p, o) in steps {
        upd(ctx, id, cg, args, *ok, &[(per, p), (other, o)]);
    }
}

fn update_cpu_rt(ctx: &mut Ctx) -> Result<()> {
    let root_rt = ctx
        .host
        .v1
        .get("cpu")
        .map(|m| m.join("cpu.rt_runtime_us"))
        .filter(|p| p.exists());
    if root_rt.is_none() {
        ctx.rep.skip(
            "realtime",
            "no cpu.rt_runtime_us (CONFIG_RT_GROUP_SCHED) here",
        );
        return Ok(());
    }
    let Some((id, cg)) = running(ctx, None, json!({}), "sleep 1000")? else {
        return Ok(());
    };
    let steps = [
        (
            "--cpu-rt-period 10000 --cpu-rt-runtime 2000",
            true,
            "10000",
            "2000",
        ),
        // Runtime first would put 20000 above the current 10000 period.
        (
            "--cpu-rt-period 1000000 --cpu-rt-runtime 20000",
            true,
            "1000000",
            "20000",
        ),
        ("--cpu-rt-runtime 5000", true, "1000000", "5000"),
        ("--cpu-rt-period 900000", true, "900000", "5000"),
    ];
    pair_steps(
        ctx,
        &id,
        &cg,
        ("cpu.rt_period_us", "cpu.rt_runtime_us"),
        &steps,
    );
    Ok(())
}

/// `update -r FILE` / `-r -`: the JSON wins, every other flag is ignored (runc).
fn update_resources_file(ctx: &mut Ctx) -> Result<()> {
    let Some((id, cg)) = running(ctx, None, json!({"pids": {"limit": 100}}), "sleep 1000")? else {
        return Ok(());
    };
    let f = ctx.tmp.join(format!("resources-{id}.json"));
    std::fs::write(
        &f,
        r#"{"memory":{"limit":41943040},"cpu":{"period":50000,"quota":25000,"shares":256},"pids":{"limit":33}}"#,
    )?;
    let fs = f.to_string_lossy().into_owned();
    upd(
        ctx,
        &id,
        &cg,
        &format!("-r {fs} --pids-limit 7"),
        true,
        &[
            ("memory.limit_in_bytes", "41943040"),
            ("cpu.cfs_period_us", "50000"),
            ("cpu.cfs_quota_us", "25000"),
            ("cpu.shares", "256"),
            ("pids.max", "33"),
        ],
    );
    let _ = std::fs::remove_file(&f);
    // `-r -`: stdin.
    let input = r#"{"memory":{"limit":31457280},"pids":{"limit":-1}}"#;
    let (ok, diag) = run_stdin(ctx, &["update", "-r", "-", &id], input);
    ctx.rep.check("update -r - (stdin) succeeds", ok, diag);
    for (file, v) in [("memory.limit_in_bytes", "31457280"), ("pids.max", "max")] {
        let got = cgfile(ctx, &cg, file);
        ctx.rep.eq(
            &format!("after update -r -: {file}"),
            Some(v.to_string()),
            got,
        );
    }
    let (ok, diag) = run_stdin(ctx, &["update", "-r", "-", &id], "junk");
    ctx.rep
        .check("update -r - with invalid JSON fails", !ok, diag);
    let missing = ctx.tmp.join("no-such-resources.json");
    upd(
        ctx,
        &id,
        &cg,
        &format!("-r {}", missing.display()),
        false,
        &[],
    );
    Ok(())
}

fn run_stdin(ctx: &Ctx, args: &[&str], input: &str) -> (bool, String) {
    let child = Command::new(&ctx.rt.bin)
        .arg("--root")
        .arg(&ctx.rt.root)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return (false, format!("spawn: {e}")),
    };
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(input.as_bytes());
    }
    match child.wait_with_output() {
        Ok(o) => (
            o.status.success(),
            format!(
                "{args:?} exit {:?}\nstdout: {}\nstderr: {}",
                o.status.code(),
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
        ),
        Err(e) => (false, format!("wait: {e}")),
    }
}

/// Every runc 1.1 `update` flag is documented in `update --help`; Intel RDT flags fail
/// on a host without RDT.
fn update_flags(ctx: &mut Ctx) -> Result<()> {
    let h = ctx.rt.run(&["update", "--help"]);
    let text = format!("{}{}", h.stdout, h.stderr);
    for flag in [
        "--resources",
        "-r",
        "--blkio-weight",
        "--cpu-period",
        "--cpu-quota",
        "--cpu-share",
        "--cpu-rt-period",
        "--cpu-rt-runtime",
        "--cpuset-cpus",
        "--cpuset-mems",
        "--memory",
        "--memory-reservation",
        "--memory-swap",
        "--pids-limit",
        "--l3-cache-schema",
        "--mem-bw-schema",
    ] {
        let listed = text
            .split(|c: char| c.is_whitespace() || c == ',')
            .any(|w| w == flag);
        ctx.rep
            .check(&format!("update --help lists {flag}"), listed, &text);
    }
    if std::path::Path::new("/sys/fs/resctrl/info").exists() {
        ctx.rep.skip("intel rdt", "this host has resctrl");
        return Ok(());
    }
    let Some((id, cg)) = running(ctx, None, json!({}), "sleep 1000")? else {
        return Ok(());
    };
    upd(ctx, &id, &cg, "--l3-cache-schema L3:0=f", false, &[]);
    upd(ctx, &id, &cg, "--mem-bw-schema MB:0=50", false, &[]);
    Ok(())
}

/// The keys of a JSON object.
fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

fn key_list(v: &Value) -> String {
    keys(v).join(",")
}

fn events_stats_shape(ctx: &mut Ctx) -> Result<()> {
    let res = json!({"memory": {"limit": 104857600}, "pids": {"limit": 50}});
    let Some((id, _)) = running(ctx, None, res, "sleep 1000")? else {
        return Ok(());
    };
    let o = ctx.rt.run(&["events", "--stats", &id]);
    if !ctx
        .rep
        .check("events --stats succeeds", o.success(), o.diag())
    {
        return Ok(());
    }
    let lines: Vec<&str> = o.stdout.lines().collect();
    ctx.rep.eq("events --stats prints one line", 1, lines.len());
    let ev: Value = serde_json::from_str(lines.first().unwrap_or(&"")).unwrap_or(Value::Null);
    ctx.rep.eq("type", Some("stats"), ev["type"].as_str());
    ctx.rep.eq("id", Some(id.as_str()), ev["id"].as_str());
    ctx.rep
        .eq("top-level keys", "data,id,type".to_string(), key_list(&ev));
    let d = &ev["data"];
    ctx.rep.eq(
        "data keys",
        "blkio,cpu,cpuset,hugetlb,intel_rdt,memory,network_interfaces,pids".to_string(),
        key_list(d),
    );
    ctx.rep.eq(
        "cpu keys",
        "throttling,usage".to_string(),
        key_list(&d["cpu"]),
    );
    let usage = keys(&d["cpu"]["usage"]);
    for k in ["kernel", "user", "total", "percpu"] {
        ctx.rep.check(
            &format!("cpu.usage has {k}"),
            usage.iter().any(|u| u == k),
            format!("{usage:?}"),
        );
    }
    let allowed = [
        "kernel",
        "user",
        "total",
        "percpu",
        "percpu_kernel",
        "percpu_user",
    ];
    ctx.rep.check(
        "cpu.usage has only runc's keys",
        usage.iter().all(|u| allowed.contains(&u.as_str())),
        format!("{usage:?}"),
    );
    let throttling = keys(&d["cpu"]["throttling"]);
    ctx.rep.check(
        "cpu.throttling has only runc's keys",
        throttling
            .iter()
            .all(|u| ["periods", "throttledPeriods", "throttledTime"].contains(&u.as_str())),
        format!("{throttling:?}"),
    );
    let mem = keys(&d["memory"]);
    for k in ["usage", "swap", "kernel", "kernelTCP", "raw"] {
        ctx.rep.check(
            &format!("memory has {k}"),
            mem.iter().any(|u| u == k),
            format!("{mem:?}"),
        );
    }
    ctx.rep.check(
        "memory has only runc's keys",
        mem.iter().all(|u| {
            ["cache", "usage", "swap", "kernel", "kernelTCP", "raw"].contains(&u.as_str())
        }),
        format!("{mem:?}"),
    );
    ctx.rep.eq(
        "memory.usage.limit",
        Some(104857600),
        d["memory"]["usage"]["limit"].as_u64(),
    );
    ctx.rep.check(
        "memory.usage has usage, limit, failcnt",
        ["usage", "limit", "failcnt"]
            .iter()
            .all(|k| d["memory"]["usage"].get(*k).is_some()),
        d["memory"]["usage"].to_string(),
    );
    ctx.rep.check(
        "memory.raw has memory.stat's rss and cache",
        d["memory"]["raw"].get("rss").is_some() && d["memory"]["raw"].get("cache").is_some(),
        d["memory"]["raw"].to_string(),
    );
    ctx.rep
        .eq("pids.current", Some(1), d["pids"]["current"].as_u64());
    ctx.rep
        .eq("pids.limit", Some(50), d["pids"]["limit"].as_u64());
    ctx.rep.check(
        "blkio is an object of runc's *Recursive lists",
        d["blkio"].is_object() && keys(&d["blkio"]).iter().all(|k| k.ends_with("Recursive")),
        d["blkio"].to_string(),
    );
    ctx.rep.check(
        "hugetlb is an object",
        d["hugetlb"].is_object(),
        d["hugetlb"].to_string(),
    );
    ctx.rep.check(
        "cpuset has runc's keys",
        ["cpu_exclusive", "mem_hardwall", "sched_load_balance"]
            .iter()
            .all(|k| d["cpuset"].get(*k).is_some()),
        d["cpuset"].to_string(),
    );
    ctx.rep.check(
        "one compact line (no pretty printing)",
        !o.stdout.trim_end().contains('\n') && !o.stdout.contains(": "),
        &o.stdout,
    );
    Ok(())
}

/// `events ARGS` in the background for `dur`; returns (stdout lines, exited early with code).
fn events_for(ctx: &Ctx, args: &[&str], dur: Duration) -> (Vec<String>, Option<i32>, String) {
    let out = ctx.tmp.join(format!("events-{}.out", std::process::id()));
    let err = ctx.tmp.join(format!("events-{}.err", std::process::id()));
    let (Ok(o), Ok(e)) = (std::fs::File::create(&out), std::fs::File::create(&err)) else {
        return (vec![], Some(-1), "cannot create files".into());
    };
    let mut child = match Command::new(&ctx.rt.bin)
        .arg("--root")
        .arg(&ctx.rt.root)
        .args(args)
        .stdin(Stdio::null())
        .stdout(o)
        .stderr(e)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return (vec![], Some(-1), format!("spawn: {e}")),
    };
    let start = Instant::now();
    let mut code = None;
    while start.elapsed() < dur {
        if let Ok(Some(st)) = child.try_wait() {
            code = Some(st.code().unwrap_or(-1));
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if code.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let lines = std::fs::read_to_string(&out)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    let stderr = std::fs::read_to_string(&err).unwrap_or_default();
    let _ = std::fs::remove_file(out);
    let _ = std::fs::remove_file(err);
    (lines, code, stderr)
}

fn events_interval(ctx: &mut Ctx) -> Result<()> {
    let Some((id, _)) = running(ctx, None, json!({}), "sleep 1000")? else {
        return Ok(());
    };
    // A bare number is not a Go duration; 0 and negative ones are refused.
    for bad in ["1", "5", "1x", "0", "-1s"] {
        let o = ctx.rt.run(&["events", "--interval", bad, &id]);
        ctx.rep.check(
            &format!("events --interval {bad} fails"),
            o.failed(),
            o.diag(),
        );
    }
    let (lines, code, err) = events_for(
        ctx,
        &["events", "--interval", "100ms", &id],
        Duration::from_millis(1500),
    );
    ctx.rep.check(
        "events --interval 100ms streams until stopped",
        code.is_none() && lines.len() >= 5,
        format!("exit {code:?}, {} lines, stderr: {err}", lines.len()),
    );
    ctx.rep.check(
        "every line is a stats event of the container",
        lines.iter().all(|l| {
            serde_json::from_str::<Value>(l)
                .is_ok_and(|v| v["type"] == "stats" && v["id"] == id.as_str())
        }),
        lines.first().cloned().unwrap_or_default(),
    );
    for ok in ["2m", "1.5s", "1m30s"] {
        let (_, code, err) = events_for(
            ctx,
            &["events", "--interval", ok, &id],
            Duration::from_millis(400),
        );
        ctx.rep.check(
            &format!("events --interval {ok} is accepted"),
            code.is_none(),
            format!("exit {code:?}, stderr: {err}"),
        );
    }
    Ok(())
}

fn events_oom(ctx: &mut Ctx) -> Result<()> {
    let limit = 16 * 1024 * 1024;
    let mut mem = json!({"limit": limit});
    if ctx
        .host
        .v1
        .get("memory")
        .is_some_and(|m| m.join("memory.memsw.limit_in_bytes").exists())
    {
        mem["swap"] = json!(limit);
    }
    // The allocation starts after `events` has had time to register.
    let script = "sleep 1; tail /dev/zero; sleep 30";
    let Some((id, _)) = running(ctx, None, json!({"memory": mem}), script)? else {
        return Ok(());
    };
    let (lines, code, err) = events_for(ctx, &["events", "--interval", "1s", &id], WAIT);
    let want = json!({"type": "oom", "id": id});
    let oom = lines
        .iter()
        .find(|l| serde_json::from_str::<Value>(l).ok().as_ref() == Some(&want));
    ctx.rep.check(
        "events reports the OOM kill as {\"type\":\"oom\",\"id\":ID}",
        oom.is_some(),
        format!("exit {code:?}, lines: {lines:?}, stderr: {err}"),
    );
    if let Some(l) = oom {
        ctx.rep.eq(
            "the oom event is compact JSON without data",
            format!(r#"{{"type":"oom","id":"{id}"}}"#),
            l.clone(),
        );
    }
    Ok(())
}
