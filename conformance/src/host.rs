//! Probes of the host machine. Skips are decided from these facts only,
//! never from which runtime is under test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Default, Clone)]
pub struct Host {
    /// v1 controller name -> mount point (e.g. "pids" -> /sys/fs/cgroup/pids).
    pub v1: BTreeMap<String, PathBuf>,
    /// cgroup2 mount point and its enabled controllers (hybrid: /sys/fs/cgroup/unified).
    pub v2: Option<(PathBuf, Vec<String>)>,
    /// Every cgroup mount point (v1 incl. named hierarchies like name=systemd, and v2).
    pub all_mounts: Vec<PathBuf>,
    pub hugepage_sizes: Vec<String>,
    /// First real block device "major:minor" (not zram/loop/ram).
    pub block_dev: Option<(u64, u64)>,
    pub apparmor: bool,
    pub selinux: bool,
    /// Capability numbers in the runner's bounding set.
    pub bounding: u64,
    pub ncpus: usize,
    pub unshare: bool,
}

fn read(p: impl AsRef<Path>) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

impl Host {
    pub fn probe() -> Host {
        let mut h = Host::default();
        for l in read("/proc/self/mountinfo").lines() {
            let Some((pre, post)) = l.split_once(" - ") else {
                continue;
            };
            let f: Vec<&str> = pre.split(' ').collect();
            let g: Vec<&str> = post.split(' ').collect();
            if f.len() < 5 || g.len() < 3 {
                continue;
            }
            match g[0] {
                "cgroup" => {
                    h.all_mounts.push(PathBuf::from(f[4]));
                    for o in g[2].split(',') {
                        if !matches!(o, "rw" | "ro") && !o.starts_with("name=") && !o.contains('=')
                        {
                            h.v1.entry(o.to_string())
                                .or_insert_with(|| PathBuf::from(f[4]));
                        }
                    }
                }
                "cgroup2" => {
                    h.all_mounts.push(PathBuf::from(f[4]));
                    let ctl = read(Path::new(f[4]).join("cgroup.controllers"))
                        .split_whitespace()
                        .map(str::to_string)
                        .collect();
                    h.v2 = Some((PathBuf::from(f[4]), ctl));
                }
                _ => {}
            }
        }
        if let Ok(d) = std::fs::read_dir("/sys/kernel/mm/hugepages") {
            for e in d.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if let Some(kb) = n
                    .strip_prefix("hugepages-")
                    .and_then(|s| s.strip_suffix("kB"))
                    .and_then(|s| s.parse::<u64>().ok())
                {
                    h.hugepage_sizes.push(page_size_name(kb));
                }
            }
        }
        h.hugepage_sizes.sort();
        if let Ok(d) = std::fs::read_dir("/sys/block") {
            let mut names: Vec<String> = d
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| {
                    !["zram", "loop", "ram", "nbd", "dm-"]
                        .iter()
                        .any(|p| n.starts_with(p))
                })
                .collect();
            names.sort();
            if let Some(n) = names.first() {
                let dev = read(format!("/sys/block/{n}/dev"));
                if let Some((a, b)) = dev.trim().split_once(':') {
                    h.block_dev = a.parse().ok().zip(b.parse().ok());
                }
            }
        }
        h.apparmor = read("/sys/module/apparmor/parameters/enabled").trim() == "Y";
        h.selinux = Path::new("/sys/fs/selinux/enforce").exists();
        h.bounding = read("/proc/self/status")
            .lines()
            .find_map(|l| l.strip_prefix("CapBnd:"))
            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            .unwrap_or(0);
        h.ncpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        h.unshare = which("unshare").is_some();
        h
    }

    /// Cgroup v1 directory of `controller` for an absolute path.
    pub fn v1_dir(&self, controller: &str, cgpath: &str) -> Option<PathBuf> {
        self.v1
            .get(controller)
            .map(|m| m.join(cgpath.trim_start_matches('/')))
    }

    /// Cgroup v1 directory of `controller` for a running/created container pid,
    /// from `/proc/<pid>/cgroup`.
    pub fn pid_dir(&self, controller: &str, pid: i64) -> Option<PathBuf> {
        let s = read(format!("/proc/{pid}/cgroup"));
        for l in s.lines() {
            let mut it = l.splitn(3, ':');
            let (_, ctl, path) = (it.next()?, it.next()?, it.next()?);
            if ctl.split(',').any(|c| c == controller) {
                return self.v1_dir(controller, path);
            }
        }
        None
    }

    pub fn has_cap(&self, n: usize) -> bool {
        self.bounding & (1 << n) != 0
    }
}

pub fn page_size_name(kb: u64) -> String {
    if kb >= 1024 * 1024 && kb.is_multiple_of(1024 * 1024) {
        format!("{}GB", kb / 1024 / 1024)
    } else if kb >= 1024 && kb.is_multiple_of(1024) {
        format!("{}MB", kb / 1024)
    } else {
        format!("{kb}KB")
    }
}

pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .chain(["/usr/sbin", "/usr/bin", "/sbin", "/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// readlink of /proc/<pid>/ns/<t> (pid "self" allowed).
pub fn ns_link(pid: &str, t: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{t}"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|e| format!("<{e}>"))
}
