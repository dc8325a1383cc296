//! Cgroups (config-linux.md "Control groups"), read from the host's cgroupfs
//! while the container is `created`. Controllers the host lacks are skipped.

use super::{Case, Ctx, WAIT};
use crate::runtime::CreateOpts;
use anyhow::Result;
use serde_json::{json, Value};

pub fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "cgroups/absolute_path",
            run: absolute_path,
        },
        Case {
            name: "cgroups/relative_path",
            run: relative_path,
        },
        Case {
            name: "cgroups/pids",
            run: pids,
        },
        Case {
            name: "cgroups/cpu",
            run: cpu,
        },
        Case {
            name: "cgroups/cpu_realtime",
            run: cpu_realtime,
        },
        Case {
            name: "cgroups/cpu_empty",
            run: cpu_empty,
        },
        Case {
            name: "cgroups/memory",
            run: memory,
        },
        Case {
            name: "cgroups/devices",
            run: devices,
        },
        Case {
            name: "cgroups/blkio",
            run: blkio,
        },
        Case {
            name: "cgroups/hugetlb",
            run: hugetlb,
        },
        Case {
            name: "cgroups/hugetlb_invalid_size",
            run: hugetlb_invalid,
        },
        Case {
            name: "cgroups/network",
            run: network,
        },
        Case {
            name: "cgroups/unified_on_v1_refused",
            run: unified_on_v1,
        },
        Case {
            name: "cgroups/unified_v2",
            run: unified,
        },
        Case {
            name: "cgroups/delete_resources",
            run: delete_resources,
        },
        Case {
            name: "cgroups/delete_only_create_resources",
            run: delete_only_created,
        },
    ]
}

/// Skip unless all `ctls` are v1 controllers on this host.
fn need(ctx: &mut Ctx, ctls: &[&str]) -> bool {
    let missing: Vec<&str> = ctls
        .iter()
        .copied()
        .filter(|c| !ctx.host.v1.contains_key(*c))
        .collect();
    if missing.is_empty() {
        return true;
    }
    ctx.rep.skip(
        "cgroup files",
        &format!("controller(s) {missing:?} not mounted as cgroup v1 on this host"),
    );
    false
}

fn read_cg(ctx: &Ctx, ctl: &str, pid: i64, file: &str) -> Option<String> {
    let d = ctx.host.pid_dir(ctl, pid)?;
    std::fs::read_to_string(d.join(file))
        .ok()
        .map(|s| s.trim().to_string())
}

/// Create with `resources` at a fresh absolute path; returns the pid.
fn create_with(ctx: &mut Ctx, resources: Value) -> Result<Option<i64>> {
    let mut b = ctx.bundle()?;
    let cg = ctx.cgpath();
    b.config["linux"]["cgroupsPath"] = json!(cg);
    let r = &mut b.config["linux"]["resources"];
    for (k, v) in resources.as_object().unwrap() {
        r[k] = v.clone();
    }
    Ok(ctx.create_only(&b)?.map(|(_, pid)| pid))
}

fn file_eq(ctx: &mut Ctx, ctl: &str, pid: i64, file: &str, want: impl ToString) {
    let got = read_cg(ctx, ctl, pid, file);
    ctx.rep
        .eq(&format!("{ctl}: {file}"), Some(want.to_string()), got);
}

fn absolute_path(ctx: &mut Ctx) -> Result<()> {
    if !need(ctx, &["pids", "memory", "devices"]) {
        return Ok(());
    }
    let mut b = ctx.bundle()?;
    let cg = ctx.cgpath();
    b.config["linux"]["cgroupsPath"] = json!(cg);
    let Some((_, pid)) = ctx.create_only(&b)? else {
        return Ok(());
    };
    for ctl in ctx.host.v1.keys().cloned().collect::<Vec<_>>() {
        if [
            "net_cls",
            "net_prio",
            "perf_event",
            "rdma",
            "misc",
            "hugetlb",
        ]
        .contains(&ctl.as_str())
        {
            continue;
        }
        let dir = ctx.host.v1_dir(&ctl, &cg).unwrap();
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        ctx.rep.check(
            &format!("{ctl}: container pid is in <mount>{cg}"),
            procs.lines().any(|l| l.trim() == pid.to_string()),
            format!("{} cgroup.procs: {procs:?}", dir.display()),
        );
    }
    Ok(())
}

fn relative_path(ctx: &mut Ctx) -> Result<()> {
    if !need(ctx, &["pids", "memory", "cpu", "devices"]) {
        return Ok(());
    }
    let mut b = ctx.bundle()?;
    let rel = format!(
        "conformance{}/container",
        ctx.cgpath().trim_start_matches("/conformance")
    );
    b.config["linux"]["cgroupsPath"] = json!(rel);
    b.config["linux"]["resources"]["pids"] = json!({"limit": 1000});
    b.config["linux"]["resources"]["memory"] = json!({"limit": 50593792});
    b.config["linux"]["resources"]["cpu"] =
        json!({"shares": 1024, "quota": 50000, "period": 100000});
    b.config["linux"]["resources"]["devices"]
        .as_array_mut()
        .unwrap()
        .push(json!({"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rwm"}));
    let Some((_, pid)) = ctx.create_only(&b)? else {
        return Ok(());
    };
    let cgfile = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    for ctl in ["pids", "memory", "cpu", "devices"] {
        let line = cgfile.lines().find(|l| {
            l.split(':')
                .nth(1)
                .map(|c| c.split(',').any(|x| x == ctl))
                .unwrap_or(false)
        });
        let path = line
            .and_then(|l| l.splitn(3, ':').nth(2))
            .unwrap_or("")
            .to_string();
        ctx.rep.check(
            &format!("{ctl}: /proc/<pid>/cgroup path contains the relative cgroupsPath"),
            path.ends_with(&rel),
            format!("{line:?}"),
        );
        // Remember the real location for cleanup.
        if let Some(first) = path.strip_suffix("/container") {
            ctx.own_cgroup(first.to_string());
        }
    }
    file_eq(ctx, "pids", pid, "pids.max", 1000);
    file_eq(ctx, "memory", pid, "memory.limit_in_bytes", 50593792);
    file_eq(ctx, "cpu", pid, "cpu.shares", 1024);
    file_eq(ctx, "cpu", pid, "cpu.cfs_quota_us", 50000);
    let dl = read_cg(ctx, "devices", pid, "devices.list").unwrap_or_default();
    ctx.rep.check(
        "devices: relative path devices.list has c 10:229 rwm",
        dl.lines().any(|l| l == "c 10:229 rwm"),
        dl,
    );
    Ok(())
}

fn pids(ctx: &mut Ctx) -> Result<()> {
    if !need(ctx, &["pids"]) {
        return Ok(());
    }
    let Some(pid) = create_with(ctx, json!({"pids": {"limit": 1000}}))? else {
        return Ok(());
    };
    file_eq(ctx, "pids", pid, "pids.max", 1000);
    ctx.subcase("unlimited");
    let Some(pid) = create_with(ctx, json!({"pids": {"limit": -1}}))? else {
        return Ok(());
    };
    file_eq(ctx, "pids", pid, "pids.max", "max");
    Ok(())
}

fn cpu(ctx: &mut Ctx) -> Result<()> {
    if !need(ctx, &["cpu", "cpuset"]) {
        return Ok(());
    }
    let n = ctx.host.ncpus;
    let all = if n > 1 {
        format!("0-{}", n - 1)
    } else {
        "0".to_string()
    };
    for (i, (shares, period, quota, cpus)) in [
        (1024u64, 100000u64, 50000i64, "0".to_string()),
        (2048, 500000, 200000, all.clone()),
        (1024, 500000, 200000, all.clone()),
        (2048, 100000, 50000, "0".to_string()),
    ]
    .into_iter()
    .enumerate()
    {
        ctx.subcase(&format!("combo{i}"));
        let Some(pid) = create_with(
            ctx,
            json!({"cpu": {"shares": shares, "period": period, "quota": quota, "cpus": cpus, "mems": "0"}}),
        )?
        else {
            continue;
        };
        file_eq(ctx, "cpu", pid, "cpu.shares", shares);
        file_eq(ctx, "cpu", pid, "cpu.cfs_period_us", period);
        file_eq(ctx, "cpu", pid, "cpu.cfs_quota_us", quota);
        file_eq(ctx, "cpuset", pid, "cpuset.cpus", &cpus);
        file_eq(ctx, "cpuset", pid, "cpuset.mems", "0");
    }
    Ok(())
}

fn cpu_realtime(ctx: &mut Ctx) -> Result<()> {
    if !need(ctx, &["cpu"]) {
        return Ok(());
    }
    let root = ctx.host.v1["cpu"].clone();
    let rt = std::fs::read_to_string(root.join("cpu.rt_runtime_us")).unwrap_or_default();
    if rt.trim().is_empty() {
        ctx.rep.skip(
            "cpu realtime",
            "kernel has no cpu.rt_runtime_us (no RT group scheduling)",
        );
        return Ok(());
    }
    let Some(pid) = create_with(
        ctx,
        json!({"cpu": {"realtimePeriod": 1000000, "realtimeRuntime": 10000}}),
    )?
    else {
        return Ok(());
    };
    file_eq(ctx, "cpu", pid, "cpu.rt_period_us", 1000000);
    file_eq(ctx, "cpu", pid, "cpu.rt_runtime_us", 10000);
    Ok(())
}

fn cpu_empty(ctx: &mut Ctx) -> Result<()> {
    if !need(ctx, &["cpu", "cpuset"]) {
        return Ok(());
    }
    let root_cpu = ctx.host.v1["cpu"].clone();
    let root_set = ctx.host.v1["cpuset"].clone();
    let rd = |p: std::path::PathBuf| {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    let Some(pid) = create_with(ctx, json!({"cpu": {}}))? else {
        return Ok(());
    };
    for f in ["cpu.shares", "cpu.cfs_period_us", "cpu.cfs_quota_us"] {
        file_eq(ctx, "cpu", pid, f, rd(root_cpu.join(f)));
    }
    for f in ["cpuset.cpus", "cpuset.mems"] {
        file_eq(ctx, "cpuset", pid, f, rd(root_set.join(f)));
    }
    Ok(())
}

fn memory(ctx: &mut Ctx) -> Result<()> {
    if !need(ctx, &["memory"]) {
        return Ok(());
    }
    let root = ctx.host.v1["memory"].clone();
    let has = |f: &str| root.join(f).exists();
    let (memsw, tcp) = (
        has("memory.memsw.limit_in_bytes"),
        has("memory.kmem.tcp.limit_in_bytes"),
    );
    for (i, (limit, swappiness)) in [(50593792u64, 10u64), (151781376, 50)]
        .into_iter()
        .enumerate()
    {
        ctx.subcase(&format!("combo{i}"));
        let mut m = json!({"limit": limit, "reservation": limit, "swappiness": swappiness, "disableOOMKiller": true});
        if memsw {
            m["swap"] = json!(limit);
        }
        if tcp {
            m["kernelTCP"] = json!(limit);
        }
        let Some(pid) = create_with(ctx, json!({ "memory": m }))? else {
            continue;
        };
        file_eq(ctx, "memory", pid, "memory.limit_in_bytes", limit);
        file_eq(ctx, "memory", pid, "memory.soft_limit_in_bytes", limit);
        file_eq(ctx, "memory", pid, "memory.swappiness", swappiness);
        if memsw {
            file_eq(ctx, "memory", pid, "memory.memsw.limit_in_bytes", limit);
        } else {
            ctx.rep.skip(
                "memory: memory.memsw.limit_in_bytes",
                "swap accounting disabled on this host",
            );
        }
        if tcp {
            ctx.rep.expect_todo(
                "kmem.tcp",
                "runc-compat: runc >= 1.1 ignores kernelTCP (NOT RECOMMENDED in v1.2)",
            );
            file_eq(ctx, "memory", pid, "memory.kmem.tcp.limit_in_bytes", limit);
        } else {
            ctx.rep.skip(
                "memory: memory.kmem.tcp.limit_in_bytes",
                "kernel has no kmem.tcp accounting",
            );
        }
        let oom = read_cg(ctx, "memory", pid, "memory.oom_control").unwrap_or_default();
        ctx.rep.check(
            "memory: disableOOMKiller sets oom_kill_disable 1",
            oom.lines().any(|l| l == "oom_kill_disable 1"),
            oom,
        );
    }
    Ok(())
}

fn devices(ctx: &mut Ctx) -> Result<()> {
    if !need(ctx, &["devices"]) {
        return Ok(());
    }
    let mut rules = json!([{"allow": false, "access": "rwm"}]);
    let allow = [
        ("c", 10, 229, "rwm"),
        ("b", 8, 20, "rw"),
        ("b", 10, 200, "r"),
    ];
    for (t, maj, min, acc) in allow {
        rules
            .as_array_mut()
            .unwrap()
            .push(json!({"allow": true, "type": t, "major": maj, "minor": min, "access": acc}));
    }
    let Some(pid) = create_with(ctx, json!({ "devices": rules }))? else {
        return Ok(());
    };
    let list = read_cg(ctx, "devices", pid, "devices.list").unwrap_or_default();
    for (t, maj, min, acc) in allow {
        let want = format!("{t} {maj}:{min} {acc}");
        ctx.rep.check(
            &format!("devices: devices.list has {want}"),
            list.lines().any(|l| l == want),
            list.clone(),
        );
    }
    ctx.rep.check(
        "devices: deny-all first rule: no a *:* rwm entry",
        !list.lines().any(|l| l == "a *:* rwm"),
        list,
    );
    Ok(())
}

fn blkio(ctx: &mut Ctx) -> Result<()> {
    if !need(ctx, &["blkio"]) {
        return Ok(());
    }
    let Some((maj, min)) = ctx.host.block_dev else {
        ctx.rep.skip("blkio", "no real block device on this host");
        return Ok(());
    };
    let root = ctx.host.v1["blkio"].clone();
    let weight_file = ["blkio.weight", "blkio.bfq.weight"]
        .into_iter()
        .find(|f| root.join(f).exists());
    for (i, rate) in [102400u64, 204800].into_iter().enumerate() {
        ctx.subcase(&format!("rate{rate}"));
        let dev = |r: u64| json!([{"major": maj, "minor": min, "rate": r}]);
        let mut b = json!({
            "throttleReadBpsDevice": dev(rate), "throttleWriteBpsDevice": dev(rate),
            "throttleReadIOPSDevice": dev(rate), "throttleWriteIOPSDevice": dev(rate)
        });
        if weight_file.is_some() && i == 0 {
            b["weight"] = json!(500);
        }
        let Some(pid) = create_with(ctx, json!({ "blockIO": b }))? else {
            continue;
        };
        for f in [
            "read_bps_device",
            "write_bps_device",
            "read_iops_device",
            "write_iops_device",
        ] {
            let file = format!("blkio.throttle.{f}");
            file_eq(ctx, "blkio", pid, &file, format!("{maj}:{min} {rate}"));
        }
        match weight_file {
            Some(wf) if i == 0 => {
                let got = read_cg(ctx, "blkio", pid, wf).unwrap_or_default();
                ctx.rep.check(
                    &format!("blkio: {wf} = 500"),
                    got.split_whitespace().last() == Some("500"),
                    got,
                );
            }
            None if i == 0 => ctx.rep.skip(
                "blkio: weight",
                "no blkio.weight / blkio.bfq.weight (no weight-capable I/O scheduler)",
            ),
            _ => {}
        }
    }
    Ok(())
}

fn hugetlb(ctx: &mut Ctx) -> Result<()> {
    if ctx.host.hugepage_sizes.is_empty() {
        ctx.rep.skip("hugetlb", "no huge page sizes on this host");
        return Ok(());
    }
    if !ctx.host.v1.contains_key("hugetlb") {
        let where_ = match &ctx.host.v2 {
            Some((p, c)) if c.iter().any(|x| x == "hugetlb") => format!(
                "bound to the cgroup2 hierarchy at {} (hybrid mode)",
                p.display()
            ),
            _ => "not available".to_string(),
        };
        ctx.rep.skip(
            "hugetlb limits",
            &format!("hugetlb controller is not a v1 hierarchy: {where_}"),
        );
        return Ok(());
    }
    let sizes = ctx.host.hugepage_sizes.clone();
    let limits: Vec<Value> = sizes
        .iter()
        .map(|s| json!({"pageSize": s, "limit": 2u64 << 30}))
        .collect();
    let Some(pid) = create_with(ctx, json!({ "hugepageLimits": limits }))? else {
        return Ok(());
    };
    for s in sizes {
        file_eq(
            ctx,
            "hugetlb",
            pid,
            &format!("hugetlb.{s}.limit_in_bytes"),
            2u64 << 30,
        );
    }
    Ok(())
}

fn hugetlb_invalid(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    b.config["linux"]["cgroupsPath"] = json!(ctx.cgpath());
    b.config["linux"]["resources"]["hugepageLimits"] =
        json!([{"pageSize": "3MB", "limit": 2u64 << 30}]);
    b.config["process"]["args"] = json!(["true"]);
    ctx.expect_create_fails(
        &b,
        "hugepage size 3MB (not supported by the host) is rejected",
    )?;
    Ok(())
}

fn network(ctx: &mut Ctx) -> Result<()> {
    if !need(ctx, &["net_cls", "net_prio"]) {
        return Ok(());
    }
    let Some(pid) = create_with(
        ctx,
        json!({"network": {"classID": 255, "priorities": [{"name": "lo", "priority": 10}]}}),
    )?
    else {
        return Ok(());
    };
    file_eq(ctx, "net_cls", pid, "net_cls.classid", 255);
    let map = read_cg(ctx, "net_prio", pid, "net_prio.ifpriomap").unwrap_or_default();
    ctx.rep.check(
        "net_prio: ifpriomap has lo 10",
        map.lines().any(|l| l == "lo 10"),
        map,
    );
    Ok(())
}

/// runc: `linux.resources.unified` on a host with v1 controllers is a configuration
/// error (nothing could apply it), not silently ignored.
fn unified_on_v1(ctx: &mut Ctx) -> Result<()> {
    if ctx.host.v1.is_empty() {
        ctx.rep
            .skip("unified on cgroup v1", "host has no cgroup v1 controllers");
        return Ok(());
    }
    let mut b = ctx.bundle()?;
    b.config["linux"]["cgroupsPath"] = json!(ctx.cgpath());
    b.config["linux"]["resources"]["unified"] = json!({"memory.max": "50593792"});
    ctx.expect_create_fails(&b, "linux.resources.unified on cgroup v1: create fails")?;
    Ok(())
}

fn unified(ctx: &mut Ctx) -> Result<()> {
    if !ctx.host.v1.is_empty() {
        ctx.rep.skip(
            "cgroup v2 files (cpu.max, memory.max, pids.max)",
            "host uses cgroup v1 controllers (hybrid), not the unified hierarchy",
        );
        return Ok(());
    }
    let Some((mnt, _)) = ctx.host.v2.clone() else {
        ctx.rep.skip("cgroup v2", "no cgroup2 mount");
        return Ok(());
    };
    let mut b = ctx.bundle()?;
    let cg = ctx.cgpath();
    b.config["linux"]["cgroupsPath"] = json!(cg);
    b.config["linux"]["resources"]["pids"] = json!({"limit": 1000});
    b.config["linux"]["resources"]["memory"] = json!({"limit": 50593792});
    b.config["linux"]["resources"]["cpu"] = json!({"quota": 50000, "period": 100000});
    if ctx.create_only(&b)?.is_none() {
        return Ok(());
    }
    let dir = mnt.join(cg.trim_start_matches('/'));
    let rd = |f: &str| {
        std::fs::read_to_string(dir.join(f))
            .ok()
            .map(|s| s.trim().to_string())
    };
    ctx.rep
        .eq("v2: pids.max", Some("1000".to_string()), rd("pids.max"));
    ctx.rep.eq(
        "v2: memory.max",
        Some("50593792".to_string()),
        rd("memory.max"),
    );
    ctx.rep.eq(
        "v2: cpu.max",
        Some("50000 100000".to_string()),
        rd("cpu.max"),
    );
    Ok(())
}

fn delete_resources(ctx: &mut Ctx) -> Result<()> {
    if !need(ctx, &["pids"]) {
        return Ok(());
    }
    let mut b = ctx.bundle()?;
    let cg = ctx.cgpath();
    b.config["linux"]["cgroupsPath"] = json!(cg);
    b.config["linux"]["resources"]["pids"] = json!({"limit": 1000});
    b.config["process"]["args"] = json!(["true"]);
    let Some((id, pid)) = ctx.create_only(&b)? else {
        return Ok(());
    };
    file_eq(ctx, "pids", pid, "pids.max", 1000);
    ctx.rt.start(&id);
    ctx.rt.wait_status(&id, "stopped", WAIT);
    let d = ctx.rt.delete(&id);
    ctx.rep.check("delete succeeds", d.success(), d.diag());
    let left: Vec<String> = ctx
        .host
        .v1
        .keys()
        .filter_map(|c| ctx.host.v1_dir(c, &cg))
        .filter(|d| d.exists())
        .map(|d| d.display().to_string())
        .collect();
    ctx.rep.check(
        "delete removes the cgroups create made",
        left.is_empty(),
        format!("left: {left:?}"),
    );
    Ok(())
}

fn delete_only_created(ctx: &mut Ctx) -> Result<()> {
    if !need(ctx, &["pids"]) {
        return Ok(());
    }
    // A cgroup the harness made, holding a container process moved there.
    let own = ctx.cgpath();
    let own_dir = ctx.host.v1_dir("pids", &own).unwrap();
    std::fs::create_dir_all(&own_dir)?;
    let mut b = ctx.bundle()?;
    let cg = ctx.cgpath();
    b.config["linux"]["cgroupsPath"] = json!(cg);
    b.config["process"]["args"] = json!(["true"]);
    let Some((id, pid)) = ctx.create_only(&b)? else {
        return Ok(());
    };
    std::fs::write(own_dir.join("cgroup.procs"), pid.to_string())?;
    ctx.rt.start(&id);
    ctx.rt.wait_status(&id, "stopped", WAIT);
    let d = ctx.rt.delete(&id);
    ctx.rep.check("delete succeeds", d.success(), d.diag());
    ctx.rep.check(
        "delete leaves a cgroup it did not create",
        own_dir.exists(),
        format!("{} removed", own_dir.display()),
    );

    // cgroupsPath naming a directory that already exists.
    ctx.subcase("pre-existing cgroupsPath");
    let pre = ctx.cgpath();
    let pre_dir = ctx.host.v1_dir("pids", &pre).unwrap();
    std::fs::create_dir_all(&pre_dir)?;
    let mut b = ctx.bundle()?;
    b.config["linux"]["cgroupsPath"] = json!(pre);
    b.config["process"]["args"] = json!(["true"]);
    b.write()?;
    let id = ctx.id();
    let c = ctx.rt.create(&id, &b.dir, &CreateOpts::default());
    ctx.rep.check(
        "create in a pre-existing cgroup succeeds",
        c.success(),
        c.diag(),
    );
    ctx.rt.start(&id);
    ctx.rt.wait_status(&id, "stopped", WAIT);
    let d = ctx.rt.delete(&id);
    ctx.rep.check("delete succeeds", d.success(), d.diag());
    ctx.rep.todo(
        "delete leaves the pre-existing cgroupsPath directory",
        pre_dir.exists(),
        "runc-compat: runc removes every cgroup directory of the container on delete",
        format!("{} removed", pre_dir.display()),
    );
    Ok(())
}
