//! `update [--resources FILE|-] [--memory N ...] ID`: change a container's cgroup
//! limits. `-` reads the LinuxResources JSON from stdin (docker, containerd).

use std::io::Read;

use anyhow::{Context, Result};
use libcgroups::common::{CgroupManager, ControllerOpt};
use oci_spec::runtime::LinuxResources;
use serde_json::{json, Map, Value};

use super::ctx::Ctx;
use crate::state::container as state;

pub fn update(args: liboci_cli::Update, ctx: &Ctx) -> Result<()> {
    let (container, _lock) = state::load(&ctx.root, &args.container_id, true)?;
    let mut resources = match &args.resources {
        Some(p) if p.as_os_str() == "-" => {
            let mut buf = String::new();
            std::io::stdin().read_to_string(&mut buf)?;
            serde_json::from_str(&buf).context("invalid resources JSON on stdin")?
        }
        Some(p) => {
            let buf = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            serde_json::from_str(&buf)
                .with_context(|| format!("invalid resources JSON in {}", p.display()))?
        }
        None => Value::Object(Map::new()),
    };
    apply_flags(&mut resources, &args);
    let resources: LinuxResources =
        serde_json::from_value(resources).context("invalid resources")?;
    crate::state::cgroup::cgroup_manager(&container)?
        .apply(&ControllerOpt {
            resources: &resources,
            disable_oom_killer: false,
            oom_score_adj: None,
            freezer_state: None,
        })
        .with_context(|| format!("failed to update container {:?}", args.container_id))?;
    Ok(())
}

/// Command-line flags override the JSON, as in runc.
fn apply_flags(res: &mut Value, a: &liboci_cli::Update) {
    fn set(res: &mut Value, section: &str, key: &str, v: Value) {
        if !res[section].is_object() {
            res[section] = json!({});
        }
        res[section][key] = v;
    }
    let flags: [(&str, &str, Option<Value>); 13] = [
        ("blockIO", "weight", a.blkio_weight.map(Value::from)),
        ("cpu", "period", a.cpu_period.map(Value::from)),
        ("cpu", "quota", a.cpu_quota.map(Value::from)),
        ("cpu", "realtimePeriod", a.cpu_rt_period.map(Value::from)),
        ("cpu", "realtimeRuntime", a.cpu_rt_runtime.map(Value::from)),
        ("cpu", "shares", a.cpu_share.map(Value::from)),
        ("cpu", "cpus", a.cpuset_cpus.clone().map(Value::from)),
        ("cpu", "mems", a.cpuset_mems.clone().map(Value::from)),
        ("memory", "limit", a.memory.map(Value::from)),
        (
            "memory",
            "reservation",
            a.memory_reservation.map(Value::from),
        ),
        ("memory", "swap", a.memory_swap.map(Value::from)),
        ("pids", "limit", a.pids_limit.map(Value::from)),
        (
            "intelRdt",
            "l3CacheSchema",
            a.l3_cache_schema.clone().map(Value::from),
        ),
    ];
    for (section, key, value) in flags {
        if let Some(v) = value {
            set(res, section, key, v);
        }
    }
}
