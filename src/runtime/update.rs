//! `update [--resources FILE|-] [--memory N ...] ID`: change a container's cgroup
//! limits, with runc 1.1's flags and value syntax. `-r -` reads the LinuxResources
//! JSON from stdin (docker, containerd); with `-r` every other flag is ignored, as in
//! runc. A value of 0 (or an absent one) leaves the limit as it is; `-1` means
//! unlimited (memory, memory-swap, memory-reservation, cpu-quota, pids-limit).
//! runc 1.2's `--cpu-burst` and `--cpu-idle` (`cpu.burst`, `cpu.idle` in the JSON)
//! are set whenever given, 0 included. So is the pids limit (runc 1.4): an explicit
//! 0 sets `pids.max` to 1 (systemd cannot set TasksMax=0), `-1` means unlimited.

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use libcgroups::common::{CgroupManager, ControllerOpt};
use oci_spec::runtime::{
    LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResources,
    LinuxResourcesBuilder,
};
use serde::Deserialize;

use super::ctx::Ctx;
use crate::state::container as state;

/// runc 1.1's `update` flags. Values are strings, parsed as runc parses them (sizes
/// with suffixes, `-1`), so that negative numbers are values, not flags.
#[derive(Args, Debug, Default)]
pub struct Update {
    /// Path to a file with the resources to update, or '-' for stdin (all other options are then ignored)
    #[arg(short, long, value_name = "FILE")]
    pub resources: Option<PathBuf>,
    /// Per cgroup weight, range 10 to 1000
    #[arg(long, value_name = "VALUE", allow_hyphen_values = true)]
    pub blkio_weight: Option<String>,
    /// CPU CFS period to be used for hardcapping (in usecs); 0 to use system default
    #[arg(long, value_name = "VALUE", allow_hyphen_values = true)]
    pub cpu_period: Option<String>,
    /// CPU CFS hardcap limit (in usecs); allowed cpu time in a given period
    #[arg(long, value_name = "VALUE", allow_hyphen_values = true)]
    pub cpu_quota: Option<String>,
    /// CPU CFS hardcap burst limit (in usecs); allowed accumulated cpu time additionally for burst in a given period
    #[arg(long, value_name = "VALUE", allow_hyphen_values = true)]
    pub cpu_burst: Option<String>,
    /// Set cgroup SCHED_IDLE or not, 0: default behavior, 1: SCHED_IDLE
    #[arg(long, value_name = "VALUE", allow_hyphen_values = true)]
    pub cpu_idle: Option<String>,
    /// CPU shares (relative weight vs. other containers)
    #[arg(long, value_name = "VALUE", allow_hyphen_values = true)]
    pub cpu_share: Option<String>,
    /// CPU realtime period to be used for hardcapping (in usecs); 0 to use system default
    #[arg(long, value_name = "VALUE", allow_hyphen_values = true)]
    pub cpu_rt_period: Option<String>,
    /// CPU realtime hardcap limit (in usecs); allowed cpu time in a given period
    #[arg(long, value_name = "VALUE", allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<String>,
    /// CPU(s) to use
    #[arg(long, value_name = "VALUE")]
    pub cpuset_cpus: Option<String>,
    /// Memory node(s) to use
    #[arg(long, value_name = "VALUE")]
    pub cpuset_mems: Option<String>,
    /// (obsoleted; do not use)
    #[arg(long, value_name = "VALUE", allow_hyphen_values = true, hide = true)]
    pub kernel_memory: Option<String>,
    /// (obsoleted; do not use)
    #[arg(long, value_name = "VALUE", allow_hyphen_values = true, hide = true)]
    pub kernel_memory_tcp: Option<String>,
    /// Memory limit (in bytes, or with a suffix: 50M, 1G)
    #[arg(long, value_name = "VALUE", allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory reservation or soft_limit (in bytes)
    #[arg(long, value_name = "VALUE", allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Total memory usage (memory + swap); set '-1' to enable unlimited swap
    #[arg(long, value_name = "VALUE", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Maximum number of pids allowed in the container
    #[arg(long, value_name = "VALUE", allow_hyphen_values = true)]
    pub pids_limit: Option<String>,
    /// The string of Intel RDT/CAT L3 cache schema
    #[arg(long, value_name = "VALUE")]
    pub l3_cache_schema: Option<String>,
    /// The string of Intel RDT/MBA memory bandwidth schema
    #[arg(long, value_name = "VALUE")]
    pub mem_bw_schema: Option<String>,
    /// Container identifier
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new(), required = true)]
    pub container_id: String,
}

/// What runc's `update` collects before it applies it: 0 (or "") means unchanged.
#[derive(Debug, Default, PartialEq)]
struct Request {
    memory: i64,
    memory_reservation: i64,
    memory_swap: i64,
    kernel_memory: i64,
    kernel_memory_tcp: i64,
    cpu_shares: u64,
    cpu_quota: i64,
    cpu_period: u64,
    cpu_rt_runtime: i64,
    cpu_rt_period: u64,
    // runc 1.2: set when given, 0 included
    cpu_burst: Option<u64>,
    cpu_idle: Option<i64>,
    cpus: String,
    mems: String,
    blkio_weight: u16,
    // runc 1.4: set when given, 0 included (0 is written as 1 by libcgroups)
    pids_limit: Option<i64>,
    unified: Option<HashMap<String, String>>,
}

pub fn update(args: Update, ctx: &Ctx) -> Result<()> {
    let (container, _lock) = state::load(&ctx.root, &args.container_id, true)?;
    let req = match &args.resources {
        Some(p) => from_json(&read_resources(p)?)?,
        None => from_flags(&args)?,
    };
    if req.kernel_memory != 0 || req.kernel_memory_tcp != 0 {
        tracing::warn!("Kernel memory settings are ignored and will be removed");
    }
    if args
        .l3_cache_schema
        .as_deref()
        .is_some_and(|s| !s.is_empty())
    {
        rdt_unsupported("CAT: l3 cache schema", "L3")?;
    }
    if args.mem_bw_schema.as_deref().is_some_and(|s| !s.is_empty()) {
        rdt_unsupported("MBA: memory bandwidth schema", "MB")?;
    }
    // runc's v1 manager refuses any `unified` map, an empty one too, before it
    // writes anything.
    if req.unified.is_some() && !std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
    {
        bail!("invalid configuration: cannot use unified on cgroup v1");
    }
    let resources = req.resources()?;
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

fn read_resources(p: &std::path::Path) -> Result<String> {
    let mut buf = String::new();
    if p.as_os_str() == "-" {
        std::io::stdin()
            .read_to_string(&mut buf)
            .context("cannot read the resources from stdin")?;
    } else {
        buf = std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
    }
    Ok(buf)
}

/// Intel RDT: refused unless the host's resctrl has the feature, as in runc. sifrun
/// does not manage RDT groups, so an enabled host gets an error too, naming that.
fn rdt_unsupported(what: &str, info: &str) -> Result<()> {
    if std::path::Path::new("/sys/fs/resctrl/info")
        .join(info)
        .exists()
    {
        bail!("Intel RDT/{what}: updating it is not supported");
    }
    bail!("Intel RDT/{what} is not enabled")
}

/// `-r FILE`: the fields of a LinuxResources JSON that runc's update applies.
fn from_json(text: &str) -> Result<Request> {
    let raw: serde_json::Value = serde_json::from_str(text).context("invalid resources JSON")?;
    let r = LinuxResources::deserialize(&raw).context("invalid resources JSON")?;
    let mut q = Request::default();
    if let Some(m) = r.memory() {
        q.memory = m.limit().unwrap_or(0);
        q.memory_reservation = m.reservation().unwrap_or(0);
        q.memory_swap = m.swap().unwrap_or(0);
        q.kernel_memory = m.kernel().unwrap_or(0);
        q.kernel_memory_tcp = m.kernel_tcp().unwrap_or(0);
    }
    if let Some(c) = r.cpu() {
        q.cpu_shares = c.shares().unwrap_or(0);
        q.cpu_quota = c.quota().unwrap_or(0);
        q.cpu_period = c.period().unwrap_or(0);
        q.cpu_rt_runtime = c.realtime_runtime().unwrap_or(0);
        q.cpu_rt_period = c.realtime_period().unwrap_or(0);
        q.cpu_burst = c.burst();
        q.cpu_idle = c.idle();
        q.cpus = c.cpus().clone().unwrap_or_default();
        q.mems = c.mems().clone().unwrap_or_default();
    }
    if let Some(b) = r.block_io() {
        q.blkio_weight = b.weight().unwrap_or(0);
    }
    // oci-spec reads an absent limit as 0; runtime-spec 1.3 makes it optional,
    // and only a limit that is there is applied.
    if let Some(p) = r.pids().filter(|_| raw.pointer("/pids/limit").is_some()) {
        q.pids_limit = Some(p.limit());
    }
    q.unified = r.unified().clone();
    Ok(q)
}

fn from_flags(a: &Update) -> Result<Request> {
    fn given(v: &Option<String>) -> Option<&str> {
        v.as_deref().filter(|s| !s.is_empty())
    }
    fn uint(name: &str, v: &Option<String>) -> Result<u64> {
        given(v).map_or(Ok(0), |s| {
            s.parse()
                .with_context(|| format!("invalid value for {name}: {s:?}"))
        })
    }
    fn int(name: &str, v: &Option<String>) -> Result<i64> {
        given(v).map_or(Ok(0), |s| {
            s.parse()
                .with_context(|| format!("invalid value for {name}: {s:?}"))
        })
    }
    fn size(name: &str, v: &Option<String>) -> Result<i64> {
        given(v).map_or(Ok(0), |s| {
            if s == "-1" {
                return Ok(-1);
            }
            ram_in_bytes(s).with_context(|| format!("invalid value for {name}"))
        })
    }
    Ok(Request {
        memory: size("memory", &a.memory)?,
        memory_reservation: size("memory-reservation", &a.memory_reservation)?,
        memory_swap: size("memory-swap", &a.memory_swap)?,
        kernel_memory: size("kernel-memory", &a.kernel_memory)?,
        kernel_memory_tcp: size("kernel-memory-tcp", &a.kernel_memory_tcp)?,
        cpu_shares: uint("cpu-share", &a.cpu_share)?,
        cpu_quota: int("cpu-quota", &a.cpu_quota)?,
        cpu_period: uint("cpu-period", &a.cpu_period)?,
        cpu_rt_runtime: int("cpu-rt-runtime", &a.cpu_rt_runtime)?,
        cpu_rt_period: uint("cpu-rt-period", &a.cpu_rt_period)?,
        cpu_burst: given(&a.cpu_burst)
            .map(|_| uint("cpu-burst", &a.cpu_burst))
            .transpose()?,
        cpu_idle: given(&a.cpu_idle)
            .map(|_| int("cpu-idle", &a.cpu_idle))
            .transpose()?,
        cpus: given(&a.cpuset_cpus).unwrap_or_default().to_string(),
        mems: given(&a.cpuset_mems).unwrap_or_default().to_string(),
        // runc reads it as an int and keeps the low 16 bits.
        blkio_weight: int("blkio-weight", &a.blkio_weight)? as u16,
        pids_limit: given(&a.pids_limit)
            .map(|_| int("pids-limit", &a.pids_limit))
            .transpose()?,
        unified: None,
    })
}

/// docker/go-units `RAMInBytes` (what runc uses): `^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$`,
/// binary multiples, the product truncated to an integer.
pub fn ram_in_bytes(s: &str) -> Result<i64> {
    let invalid = || anyhow::anyhow!("invalid size: '{s}'");
    let b = s.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > start
    };
    if !digits(&mut i) {
        return Err(invalid());
    }
    while i < b.len() && b[i] == b'.' {
        i += 1;
        if !digits(&mut i) {
            return Err(invalid());
        }
    }
    let num: f64 = s[..i].parse().map_err(|_| invalid())?;
    if i < b.len() && b[i] == b' ' {
        i += 1;
    }
    let mut mul = 1f64;
    if let Some(p) = b
        .get(i)
        .and_then(|c| b"kmgtp".iter().position(|u| *u == c.to_ascii_lowercase()))
    {
        mul = 1024f64.powi(p as i32 + 1);
        i += 1;
    }
    for opt in [b'i', b'b'] {
        if b.get(i).map(u8::to_ascii_lowercase) == Some(opt) {
            i += 1;
        }
    }
    if i != b.len() {
        return Err(invalid());
    }
    Ok((num * mul) as i64)
}

impl Request {
    /// The LinuxResources for libcgroups: a 0 value is left out (unchanged).
    fn resources(&self) -> Result<LinuxResources> {
        let nz = |v: i64| (v != 0).then_some(v);
        let nzu = |v: u64| (v != 0).then_some(v);
        let ns = |v: &str| (!v.is_empty()).then(|| v.to_string());
        let mut memory = LinuxMemoryBuilder::default();
        if let Some(v) = nz(self.memory) {
            memory = memory.limit(v);
        }
        if let Some(v) = nz(self.memory_reservation) {
            memory = memory.reservation(v);
        }
        if let Some(v) = nz(self.memory_swap) {
            memory = memory.swap(v);
        }
        let mut cpu = LinuxCpuBuilder::default();
        if let Some(v) = nzu(self.cpu_shares) {
            cpu = cpu.shares(v);
        }
        if let Some(v) = nz(self.cpu_quota) {
            cpu = cpu.quota(v);
        }
        if let Some(v) = nzu(self.cpu_period) {
            cpu = cpu.period(v);
        }
        if let Some(v) = nz(self.cpu_rt_runtime) {
            cpu = cpu.realtime_runtime(v);
        }
        if let Some(v) = nzu(self.cpu_rt_period) {
            cpu = cpu.realtime_period(v);
        }
        if let Some(v) = self.cpu_burst {
            cpu = cpu.burst(v);
        }
        if let Some(v) = self.cpu_idle {
            cpu = cpu.idle(v);
        }
        if let Some(v) = ns(&self.cpus) {
            cpu = cpu.cpus(v);
        }
        if let Some(v) = ns(&self.mems) {
            cpu = cpu.mems(v);
        }
        let mut r = LinuxResourcesBuilder::default()
            .memory(memory.build()?)
            .cpu(cpu.build()?);
        if self.blkio_weight != 0 {
            r = r.block_io(
                LinuxBlockIoBuilder::default()
                    .weight(self.blkio_weight)
                    .build()?,
            );
        }
        if let Some(v) = self.pids_limit {
            r = r.pids(LinuxPidsBuilder::default().limit(v).build()?);
        }
        if let Some(u) = &self.unified {
            r = r.unified(u.clone());
        }
        Ok(r.build()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_go_units() {
        for (s, want) in [
            ("100", 100),
            ("50M", 50 << 20),
            ("50m", 50 << 20),
            ("1G", 1 << 30),
            ("1.5k", 1536),
            ("100MB", 100 << 20),
            ("100MiB", 100 << 20),
            ("2 g", 2 << 30),
            ("1t", 1 << 40),
            ("7b", 7),
        ] {
            assert_eq!(ram_in_bytes(s).unwrap(), want, "{s}");
        }
        for s in ["abc", "1X", "-2", "", "1.", ".5", "1.2.3", "1MBB", "1  M"] {
            assert!(ram_in_bytes(s).is_err(), "{s}");
        }
    }

    #[test]
    fn json_keeps_only_what_runc_applies() {
        let q = from_json(
            r#"{"memory":{"limit":1048576},"cpu":{"quota":5000,"period":10000},
                "pids":{"limit":-1},"blockIO":{"weight":300},"devices":[]}"#,
        )
        .unwrap();
        assert_eq!(q.memory, 1 << 20);
        assert_eq!((q.cpu_quota, q.cpu_period), (5000, 10000));
        assert_eq!((q.pids_limit, q.blkio_weight), (Some(-1), 300));
        let r = q.resources().unwrap();
        assert!(r.devices().is_none());
        assert_eq!(r.memory().as_ref().unwrap().swap(), None);
    }

    #[test]
    fn zero_flags_change_nothing() {
        let a = Update {
            memory: Some("0".into()),
            cpu_quota: Some("-1".into()),
            ..Default::default()
        };
        let r = from_flags(&a).unwrap().resources().unwrap();
        assert!(r.pids().is_none());
        assert_eq!(r.memory().as_ref().unwrap().limit(), None);
        assert_eq!(r.cpu().as_ref().unwrap().quota(), Some(-1));
    }

    #[test]
    fn pids_limit_applies_when_given() {
        let limit = |a: &Update| *from_flags(a).unwrap().resources().unwrap().pids();
        let zero = Update {
            pids_limit: Some("0".into()),
            ..Default::default()
        };
        assert_eq!(limit(&zero).map(|p| p.limit()), Some(0));
        assert!(limit(&Update::default()).is_none());
        let json = |t: &str| from_json(t).unwrap().pids_limit;
        assert_eq!(json(r#"{"pids":{"limit":0}}"#), Some(0));
        assert_eq!(json(r#"{"pids":{}}"#), None);
        assert_eq!(json(r#"{}"#), None);
    }
}
