// sifrun patch 0030
//! runc's `events` data: the stats in runc's JSON shape (runc's `types.Stats`: key
//! names and Go's `omitempty` rules), and OOM notifications of a container's memory
//! cgroup (cgroup v1 `memory.oom_control` eventfd, cgroup v2 `memory.events`).

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use libcgroups::common::CgroupSetup;
use libcgroups::stats::{BlkioDeviceStat, MemoryData, Stats};
use serde::Serialize;

fn zero(v: &u64) -> bool {
    *v == 0
}

#[derive(Serialize)]
pub(super) struct RuncStats {
    cpu: Cpu,
    cpuset: CpuSet,
    memory: Memory,
    pids: Pids,
    blkio: Blkio,
    hugetlb: BTreeMap<String, Hugetlb>,
    intel_rdt: BTreeMap<String, ()>,
    network_interfaces: Option<Vec<()>>,
}

#[derive(Serialize)]
struct Cpu {
    usage: CpuUsage,
    throttling: Throttling,
}

#[derive(Serialize)]
struct CpuUsage {
    #[serde(skip_serializing_if = "zero")]
    total: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    percpu: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    percpu_kernel: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    percpu_user: Vec<u64>,
    kernel: u64,
    user: u64,
}

#[derive(Serialize)]
struct Throttling {
    #[serde(skip_serializing_if = "zero")]
    periods: u64,
    #[serde(rename = "throttledPeriods", skip_serializing_if = "zero")]
    throttled_periods: u64,
    #[serde(rename = "throttledTime", skip_serializing_if = "zero")]
    throttled_time: u64,
}

#[derive(Serialize, Default)]
struct CpuSet {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    cpus: Vec<u16>,
    cpu_exclusive: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    mems: Vec<u16>,
    mem_hardwall: u64,
    mem_exclusive: u64,
    memory_migrate: u64,
    memory_spread_page: u64,
    memory_spread_slab: u64,
    memory_pressure: u64,
    sched_load_balance: u64,
    sched_relax_domain_level: i64,
}

#[derive(Serialize)]
struct Memory {
    #[serde(skip_serializing_if = "zero")]
    cache: u64,
    usage: MemoryEntry,
    swap: MemoryEntry,
    kernel: MemoryEntry,
    #[serde(rename = "kernelTCP")]
    kernel_tcp: MemoryEntry,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    raw: BTreeMap<String, u64>,
}

#[derive(Serialize)]
struct MemoryEntry {
    limit: u64,
    #[serde(skip_serializing_if = "zero")]
    usage: u64,
    #[serde(skip_serializing_if = "zero")]
    max: u64,
    failcnt: u64,
}

#[derive(Serialize)]
struct Pids {
    #[serde(skip_serializing_if = "zero")]
    current: u64,
    #[serde(skip_serializing_if = "zero")]
    limit: u64,
}

#[derive(Serialize)]
struct Blkio {
    #[serde(
        rename = "ioServiceBytesRecursive",
        skip_serializing_if = "Vec::is_empty"
    )]
    service_bytes: Vec<BlkioEntry>,
    #[serde(rename = "ioServicedRecursive", skip_serializing_if = "Vec::is_empty")]
    serviced: Vec<BlkioEntry>,
    #[serde(rename = "ioQueueRecursive", skip_serializing_if = "Vec::is_empty")]
    queued: Vec<BlkioEntry>,
    #[serde(
        rename = "ioServiceTimeRecursive",
        skip_serializing_if = "Vec::is_empty"
    )]
    service_time: Vec<BlkioEntry>,
    #[serde(rename = "ioWaitTimeRecursive", skip_serializing_if = "Vec::is_empty")]
    wait_time: Vec<BlkioEntry>,
    #[serde(rename = "ioMergedRecursive", skip_serializing_if = "Vec::is_empty")]
    merged: Vec<BlkioEntry>,
    #[serde(rename = "ioTimeRecursive", skip_serializing_if = "Vec::is_empty")]
    time: Vec<BlkioEntry>,
    #[serde(rename = "sectorsRecursive", skip_serializing_if = "Vec::is_empty")]
    sectors: Vec<BlkioEntry>,
}

#[derive(Serialize)]
struct BlkioEntry {
    #[serde(skip_serializing_if = "zero")]
    major: u64,
    #[serde(skip_serializing_if = "zero")]
    minor: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    op: String,
    #[serde(skip_serializing_if = "zero")]
    value: u64,
}

#[derive(Serialize)]
struct Hugetlb {
    #[serde(skip_serializing_if = "zero")]
    usage: u64,
    #[serde(skip_serializing_if = "zero")]
    max: u64,
    failcnt: u64,
}

impl RuncStats {
    /// `cgroup_path` is the container's cgroup (for cpuset, which libcgroups does not read).
    pub(super) fn new(s: Stats, cgroup_path: Option<&Path>) -> Self {
        let mem = |d: MemoryData| MemoryEntry {
            limit: d.limit,
            usage: d.usage,
            max: d.max_usage,
            failcnt: d.fail_count,
        };
        let blk = |v: Vec<BlkioDeviceStat>| {
            v.into_iter()
                .map(|e| BlkioEntry {
                    major: e.major,
                    minor: e.minor,
                    op: e.op_type.unwrap_or_default(),
                    value: e.value,
                })
                .collect()
        };
        let u = s.cpu.usage;
        let t = s.cpu.throttling;
        RuncStats {
            cpu: Cpu {
                usage: CpuUsage {
                    total: u.usage_total,
                    percpu: u.per_core_usage_total,
                    percpu_kernel: u.per_core_usage_kernel,
                    percpu_user: u.per_core_usage_user,
                    kernel: u.usage_kernel,
                    user: u.usage_user,
                },
                throttling: Throttling {
                    periods: t.periods,
                    throttled_periods: t.throttled_periods,
                    throttled_time: t.throttled_time,
                },
            },
            cpuset: cgroup_path.map(cpuset).unwrap_or_default(),
            memory: Memory {
                cache: s.memory.cache,
                usage: mem(s.memory.memory),
                swap: mem(s.memory.memswap),
                kernel: mem(s.memory.kernel),
                kernel_tcp: mem(s.memory.kernel_tcp),
                raw: s.memory.stats.into_iter().collect(),
            },
            pids: Pids {
                current: s.pids.current,
                limit: s.pids.limit,
            },
            blkio: Blkio {
                service_bytes: blk(s.blkio.service_bytes),
                serviced: blk(s.blkio.serviced),
                queued: blk(s.blkio.queued),
                service_time: blk(s.blkio.service_time),
                wait_time: blk(s.blkio.wait_time),
                merged: blk(s.blkio.merged),
                time: blk(s.blkio.time),
                sectors: blk(s.blkio.sectors),
            },
            hugetlb: s
                .hugetlb
                .into_iter()
                .map(|(k, h)| {
                    (
                        k,
                        Hugetlb {
                            usage: h.usage,
                            max: h.max_usage,
                            failcnt: h.fail_count,
                        },
                    )
                })
                .collect(),
            intel_rdt: BTreeMap::new(),
            network_interfaces: None,
        }
    }
}

/// The container's directory in a v1 hierarchy, if the host has one for `ctl`.
fn v1_dir(ctl: &libcgroups::v1::ControllerType, cgroup_path: &Path) -> Option<PathBuf> {
    if matches!(
        libcgroups::common::get_cgroup_setup().ok()?,
        CgroupSetup::Unified
    ) {
        return None;
    }
    let mount = libcgroups::v1::util::get_subsystem_mount_point(ctl).ok()?;
    Some(mount.join(cgroup_path.strip_prefix("/").unwrap_or(cgroup_path)))
}

/// runc's cgroup v1 cpuset stats (zeroes elsewhere, as runc on cgroup v2).
fn cpuset(cgroup_path: &Path) -> CpuSet {
    let Some(dir) = v1_dir(&libcgroups::v1::ControllerType::CpuSet, cgroup_path) else {
        return CpuSet::default();
    };
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
    let num = |f: &str| read(f).trim().parse().unwrap_or(0);
    CpuSet {
        cpus: parse_list(&read("cpuset.cpus")),
        cpu_exclusive: num("cpuset.cpu_exclusive"),
        mems: parse_list(&read("cpuset.mems")),
        mem_hardwall: num("cpuset.mem_hardwall"),
        mem_exclusive: num("cpuset.mem_exclusive"),
        memory_migrate: num("cpuset.memory_migrate"),
        memory_spread_page: num("cpuset.memory_spread_page"),
        memory_spread_slab: num("cpuset.memory_spread_slab"),
        memory_pressure: num("cpuset.memory_pressure"),
        sched_load_balance: num("cpuset.sched_load_balance"),
        sched_relax_domain_level: read("cpuset.sched_relax_domain_level")
            .trim()
            .parse()
            .unwrap_or(0),
    }
}

/// A cpuset list (`0-3,7`).
fn parse_list(s: &str) -> Vec<u16> {
    let mut v = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>()) {
                    v.extend(a..=b);
                }
            }
            None => v.extend(part.parse::<u16>().ok()),
        }
    }
    v
}

/// Notifications of OOM kills in a container's memory cgroup.
pub(super) enum OomWatch {
    /// cgroup v1: an eventfd registered for `memory.oom_control` in `cgroup.event_control`
    /// (the path, to tell an OOM kill from the removal of the cgroup, which fires too).
    V1(OwnedFd, PathBuf),
    /// cgroup v2: `memory.events`, with the `oom_kill` count seen last.
    V2(PathBuf, std::cell::Cell<u64>),
}

impl OomWatch {
    pub(super) fn new(cgroup_path: &Path) -> Option<Self> {
        match libcgroups::common::get_cgroup_setup().ok()? {
            CgroupSetup::Unified => {
                let p = Path::new(libcgroups::common::DEFAULT_CGROUP_ROOT)
                    .join(cgroup_path.strip_prefix("/").unwrap_or(cgroup_path))
                    .join("memory.events");
                let n = oom_kills(&p)?;
                Some(OomWatch::V2(p, std::cell::Cell::new(n)))
            }
            _ => {
                let dir = v1_dir(&libcgroups::v1::ControllerType::Memory, cgroup_path)?;
                let oom_control = File::open(dir.join("memory.oom_control")).ok()?;
                // SAFETY: eventfd returns a new fd or -1.
                let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
                if efd < 0 {
                    return None;
                }
                // SAFETY: efd is a new fd that nothing else owns.
                let efd = unsafe { OwnedFd::from_raw_fd(efd) };
                let control = dir.join("cgroup.event_control");
                let mut ctl = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&control)
                    .ok()?;
                // One write: the kernel parses "<eventfd> <memory.oom_control fd>" whole.
                let line = format!("{} {}", efd.as_raw_fd(), oom_control.as_raw_fd());
                ctl.write_all(line.as_bytes()).ok()?;
                Some(OomWatch::V1(efd, control))
            }
        }
    }

    /// Waits up to `timeout` for an OOM kill; true if there was one.
    pub(super) fn wait(&self, timeout: Duration) -> bool {
        match self {
            OomWatch::V1(efd, control) => {
                let mut pfd = libc::pollfd {
                    fd: efd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
                // SAFETY: one valid pollfd.
                if unsafe { libc::poll(&mut pfd, 1, ms) } <= 0 {
                    return false;
                }
                let mut buf = [0u8; 8];
                // SAFETY: reads at most 8 bytes into buf from an fd we own.
                let n = unsafe { libc::read(efd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                // As runc: the eventfd also fires when the cgroup goes away.
                n == 8 && control.exists()
            }
            OomWatch::V2(p, seen) => {
                std::thread::sleep(timeout);
                match oom_kills(p) {
                    Some(n) if n > seen.get() => {
                        seen.set(n);
                        true
                    }
                    _ => false,
                }
            }
        }
    }
}

fn oom_kills(p: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(p).ok()?;
    let map: HashMap<&str, u64> = text
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter_map(|(k, v)| Some((k, v.trim().parse().ok()?)))
        .collect();
    map.get("oom_kill").copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpuset_lists() {
        assert_eq!(parse_list("0-2,5\n"), vec![0, 1, 2, 5]);
        assert!(parse_list("\n").is_empty());
    }

    #[test]
    fn runc_key_names() {
        let j = serde_json::to_value(RuncStats::new(Stats::default(), None)).unwrap();
        for k in [
            "cpu",
            "cpuset",
            "memory",
            "pids",
            "blkio",
            "hugetlb",
            "intel_rdt",
        ] {
            assert!(j.get(k).is_some(), "{k}");
        }
        assert!(j["network_interfaces"].is_null());
        assert_eq!(j["cpu"]["throttling"], serde_json::json!({}));
        assert_eq!(
            j["memory"]["usage"],
            serde_json::json!({"limit": 0, "failcnt": 0})
        );
        assert!(j["memory"].get("kernelTCP").is_some());
    }
}
