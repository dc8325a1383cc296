//! Resource limits: SingularityCE's cgroup flags (`--cpus`, `--memory`, `--pids-limit`,
//! `--blkio-weight` …) and `--apply-cgroups FILE.toml`, turned into the spec's
//! `linux.resources` the way `cmd/internal/cli/cgroups.go` does (oci-mode.md §4.7).
//!
//! Whether cgroups can be managed at all, and the `cgroupsPath`, are the caller's
//! business; this module only computes the resources.

use std::path::Path;

use oci_spec::runtime::{
    LinuxBlockIo, LinuxBlockIoBuilder, LinuxCpu, LinuxCpuBuilder, LinuxMemory, LinuxMemoryBuilder,
    LinuxPidsBuilder, LinuxResources, LinuxWeightDevice, LinuxWeightDeviceBuilder,
};

use crate::error::{Error, Result};

/// CFS period used with `--cpus`: the kernel default of 100 ms, in µs.
const CPU_PERIOD: u64 = 100_000;

/// The limit flags and `--apply-cgroups`, as given on the command line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    /// `--cpus`: decimal number of CPUs, 0.01 … host CPU count.
    pub cpus: Option<String>,
    /// `--cpu-shares` (used only if > 0, as Singularity does).
    pub cpu_shares: Option<i64>,
    /// `--cpuset-cpus`.
    pub cpuset_cpus: Option<String>,
    /// `--cpuset-mems`.
    pub cpuset_mems: Option<String>,
    /// `--memory` (docker size: `512m`, `1g` …).
    pub memory: Option<String>,
    /// `--memory-reservation`.
    pub memory_reservation: Option<String>,
    /// `--memory-swap` (`-1` = unlimited).
    pub memory_swap: Option<String>,
    /// `--oom-kill-disable`.
    pub oom_kill_disable: bool,
    /// `--pids-limit` (0 = unset, -1 = unlimited).
    pub pids_limit: Option<i64>,
    /// `--blkio-weight` (10 … 1000, 0 = unset).
    pub blkio_weight: Option<u16>,
    /// `--blkio-weight-device DEV:WEIGHT`, repeatable.
    pub blkio_weight_device: Vec<String>,
    /// `--apply-cgroups FILE.toml`.
    pub apply_cgroups: Option<std::path::PathBuf>,
}

fn given(s: &Option<String>) -> bool {
    s.as_deref().is_some_and(|s| !s.is_empty())
}

impl Limits {
    /// True if a limit flag is set. A flag at its default value (empty string, 0
    /// shares, pids-limit 0, weight 0) counts as not given, as in Singularity, whose
    /// flags cannot tell "absent" from "default".
    fn has_flags(&self) -> bool {
        given(&self.cpus)
            || self.cpu_shares.is_some_and(|s| s > 0)
            || given(&self.cpuset_cpus)
            || given(&self.cpuset_mems)
            || given(&self.memory)
            || given(&self.memory_reservation)
            || given(&self.memory_swap)
            || self.oom_kill_disable
            || self.pids_limit.is_some_and(|p| p != 0)
            || self.blkio_weight.is_some_and(|w| w > 0)
            || !self.blkio_weight_device.is_empty()
    }

    /// No limit flag and no --apply-cgroups.
    pub fn is_empty(&self) -> bool {
        !self.has_flags() && self.apply_cgroups.is_none()
    }

    /// `linux.resources` for these limits: built from the flags, or read from the
    /// `--apply-cgroups` TOML file (never both), or empty (`{}`) when neither is given.
    /// `host_cpus` bounds `--cpus`.
    pub fn resources(&self, host_cpus: usize) -> Result<LinuxResources> {
        // Flags are checked first, so a bad flag value is reported even when the
        // TOML file would conflict anyway (Singularity's order).
        let flags = self.flag_resources(host_cpus)?;
        match (flags, &self.apply_cgroups) {
            (Some(_), Some(_)) => Err(Error::Options(
                "cannot apply a cgroups TOML file while using limit flags".into(),
            )),
            (Some(r), None) => Ok(r),
            (None, Some(path)) => load_toml(path),
            (None, None) => Ok(LinuxResources::default()),
        }
    }

    fn flag_resources(&self, host_cpus: usize) -> Result<Option<LinuxResources>> {
        let mut res = LinuxResources::default();
        let mut any = false;
        if let Some(b) = self.block_io()? {
            res.set_block_io(Some(b));
            any = true;
        }
        if let Some(c) = self.cpu(host_cpus)? {
            res.set_cpu(Some(c));
            any = true;
        }
        if let Some(m) = self.mem()? {
            res.set_memory(Some(m));
            any = true;
        }
        match self.pids_limit {
            Some(p) if p < -1 => {
                return Err(Error::Options(format!("invalid pids-limit: {p}")));
            }
            Some(p) if p != 0 => {
                res.set_pids(Some(
                    LinuxPidsBuilder::default()
                        .limit(p)
                        .build()
                        .map_err(spec_err)?,
                ));
                any = true;
            }
            _ => {}
        }
        Ok(any.then_some(res))
    }

    fn block_io(&self) -> Result<Option<LinuxBlockIo>> {
        let mut b = LinuxBlockIoBuilder::default();
        let mut any = false;
        if let Some(w) = self.blkio_weight.filter(|w| *w > 0) {
            if !(10..=1000).contains(&w) {
                return Err(Error::Options(
                    "blkio-weight must be in range 10-1000".into(),
                ));
            }
            b = b.weight(w);
            any = true;
        }
        if !self.blkio_weight_device.is_empty() {
            let devs = self
                .blkio_weight_device
                .iter()
                .map(|s| weight_device(s))
                .collect::<Result<Vec<_>>>()?;
            b = b.weight_device(devs);
            any = true;
        }
        if !any {
            return Ok(None);
        }
        Ok(Some(b.build().map_err(spec_err)?))
    }

    fn cpu(&self, host_cpus: usize) -> Result<Option<LinuxCpu>> {
        let mut c = LinuxCpuBuilder::default();
        let mut any = false;
        // Negative or zero shares are ignored, not refused (Singularity: `if CPUShares > 0`).
        if let Some(s) = self.cpu_shares.filter(|s| *s > 0) {
            c = c.shares(s as u64);
            any = true;
        }
        if let Some(s) = self.cpuset_cpus.as_deref().filter(|s| !s.is_empty()) {
            c = c.cpus(s);
            any = true;
        }
        if let Some(s) = self.cpuset_mems.as_deref().filter(|s| !s.is_empty()) {
            c = c.mems(s);
            any = true;
        }
        if let Some(s) = self.cpus.as_deref().filter(|s| !s.is_empty()) {
            c = c.period(CPU_PERIOD).quota(cpus_quota(s, host_cpus)?);
            any = true;
        }
        if !any {
            return Ok(None);
        }
        Ok(Some(c.build().map_err(spec_err)?))
    }

    fn mem(&self) -> Result<Option<LinuxMemory>> {
        let mut m = LinuxMemoryBuilder::default();
        let mut any = false;
        let size = |what: &str, s: &str| {
            parse_size(s).map_err(|e| Error::Options(format!("invalid {what} value: {e}")))
        };
        if let Some(s) = self.memory.as_deref().filter(|s| !s.is_empty()) {
            m = m.limit(size("memory", s)?);
            any = true;
        }
        if let Some(s) = self.memory_reservation.as_deref().filter(|s| !s.is_empty()) {
            m = m.reservation(size("memory-reservation", s)?);
            any = true;
        }
        match self.memory_swap.as_deref() {
            // -1 is "unlimited swap"; no other negative size is accepted.
            Some("-1") => {
                m = m.swap(-1);
                any = true;
            }
            Some(s) if !s.is_empty() => {
                m = m.swap(size("memory-swap", s)?);
                any = true;
            }
            _ => {}
        }
        if self.oom_kill_disable {
            m = m.disable_oom_killer(true);
            any = true;
        }
        if !any {
            return Ok(None);
        }
        Ok(Some(m.build().map_err(spec_err)?))
    }
}

fn spec_err(e: oci_spec::OciSpecError) -> Error {
    Error::Options(format!("resources: {e}"))
}

/// `--cpus X` as a CFS quota for [`CPU_PERIOD`]: `floor(X × 100000)`, X in 0.01 … host CPUs.
/// Exact decimal arithmetic, as Singularity's (shopspring/decimal): X is truncated at
/// 1e-9 CPU first, then the quota is an integer division.
fn cpus_quota(s: &str, host_cpus: usize) -> Result<i64> {
    let range = || Error::Options(format!("cpus value must be in range 0.01 - {host_cpus}"));
    let (neg, nano, rest_nonzero) =
        parse_nano(s).ok_or_else(|| Error::Options(format!("invalid cpus value: {s:?}")))?;
    let max = host_cpus as u128 * 1_000_000_000;
    // nano = trunc(X·1e9): X < 0.01 ⇔ nano < 1e7 (an integer bound survives truncation);
    // X > max ⇔ nano > max, or nano == max with digits left over.
    if (neg && (nano > 0 || rest_nonzero))
        || nano < 10_000_000
        || nano > max
        || (nano == max && rest_nonzero)
    {
        return Err(range());
    }
    // nano ≤ host_cpus·1e9, so the quota fits easily.
    Ok((nano * CPU_PERIOD as u128 / 1_000_000_000) as i64)
}

/// A decimal `[+-]digits[.digits][(e|E)[+-]digits]` as (negative, trunc(|X|·1e9),
/// whether nonzero digits were truncated). None if malformed or too large to matter
/// (then it is out of any range; reported as malformed only if it is not a number).
fn parse_nano(s: &str) -> Option<(bool, u128, bool)> {
    let (mant, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i32>().ok()?),
        None => (s, 0),
    };
    let (neg, mant) = match mant.as_bytes().first() {
        Some(b'-') => (true, &mant[1..]),
        Some(b'+') => (false, &mant[1..]),
        _ => (false, mant),
    };
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    // digits × 10^(point - len(digits)): `point` is where the decimal point falls.
    let digits = format!("{int}{frac}");
    let lead = digits.bytes().take_while(|b| *b == b'0').count();
    let digits = &digits[lead..];
    if digits.is_empty() {
        return Some((neg, 0, false));
    }
    let point = int.len() as i64 - lead as i64 + exp as i64;
    // More than 20 integer digits: beyond any CPU count; cap to keep u128 safe.
    if point > 20 {
        return Some((neg, u128::MAX / 2, true));
    }
    // nano = the digits up to point+9, as an integer.
    let keep = point + 9;
    if keep <= 0 {
        return Some((neg, 0, true));
    }
    let keep = keep as usize;
    let (head, tail) = if keep >= digits.len() {
        (digits.to_string() + &"0".repeat(keep - digits.len()), "")
    } else {
        (digits[..keep].to_string(), &digits[keep..])
    };
    let nano = head.parse::<u128>().ok()?;
    Some((neg, nano, tail.bytes().any(|b| b != b'0')))
}

/// Docker-style size ("512m", "1g", "100", "1.5g", "2KiB", "1 m") in bytes, as
/// docker/go-units `RAMInBytes`: a decimal number, an optional space, then an optional
/// suffix `b`, or `k` `m` `g` `t` `p` (powers of 1024) alone or followed by `b` or
/// `ib`, case-insensitive. Fractions are truncated to whole bytes; negatives refused.
pub fn parse_size(s: &str) -> Result<i64> {
    let bad = || Error::Options(format!("invalid size {s:?}"));
    // The number ends at the last digit, '.' or space (go-units' rule).
    let sep = s
        .rfind(|c: char| c.is_ascii_digit() || c == '.' || c == ' ')
        .ok_or_else(bad)?;
    let (num, sfx) = if s.as_bytes()[sep] == b' ' {
        (&s[..sep], &s[sep + 1..])
    } else {
        (&s[..=sep], &s[sep + 1..])
    };
    let size: f64 = num.parse().map_err(|_| bad())?;
    if !size.is_finite() || size < 0.0 {
        return Err(bad());
    }
    let sfx = sfx.to_ascii_lowercase();
    let mul: u64 = match sfx.as_str() {
        "" | "b" => 1,
        _ => {
            let shift = match sfx.as_bytes()[0] {
                b'k' => 10,
                b'm' => 20,
                b'g' => 30,
                b't' => 40,
                b'p' => 50,
                _ => {
                    return Err(Error::Options(format!(
                        "invalid suffix {sfx:?} in size {s:?}"
                    )))
                }
            };
            if !matches!(&sfx[1..], "" | "b" | "ib") {
                return Err(Error::Options(format!(
                    "invalid suffix {sfx:?} in size {s:?}"
                )));
            }
            1 << shift
        }
    };
    let bytes = size * mul as f64;
    if bytes >= i64::MAX as f64 {
        return Err(Error::Options(format!("size {s:?} is too large")));
    }
    Ok(bytes as i64)
}

/// `--blkio-weight-device DEV:WEIGHT`, DEV being a block or character device node.
fn weight_device(spec: &str) -> Result<LinuxWeightDevice> {
    let (dev, weight) = spec.split_once(':').ok_or_else(|| {
        Error::Options(
            "blkio-weight-device specifications must be in <device>:<weight> format".into(),
        )
    })?;
    let (major, minor) = device_numbers(Path::new(dev))?;
    let weight: u16 = weight
        .parse()
        .map_err(|_| Error::Options(format!("{weight:?} is not a valid device weight")))?;
    if !(10..=1000).contains(&weight) {
        return Err(Error::Options(
            "blkio-weight-device weight must be in range 10-1000".into(),
        ));
    }
    LinuxWeightDeviceBuilder::default()
        .major(major)
        .minor(minor)
        .weight(weight)
        .build()
        .map_err(spec_err)
}

/// Major and minor numbers of a device node. Singularity lstat()s the path and tests
/// the file type with a bit mask that also lets symlinks and FIFOs through (as 0:0);
/// here symlinks are followed (so `/dev/disk/by-id/…` works) and only block and
/// character devices are accepted.
fn device_numbers(dev: &Path) -> Result<(i64, i64)> {
    use nix::sys::stat::{major, minor, stat, SFlag};
    let st = stat(dev).map_err(|e| {
        Error::Options(format!(
            "while examining device {}: {}",
            dev.display(),
            e.desc()
        ))
    })?;
    let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
    if kind != SFlag::S_IFBLK && kind != SFlag::S_IFCHR {
        return Err(Error::Options(format!("{} is not a device", dev.display())));
    }
    Ok((major(st.st_rdev) as i64, minor(st.st_rdev) as i64))
}

/// `--apply-cgroups`: a TOML file whose tables (`memory cpu pids blockIO devices
/// hugepageLimits network rdma unified`) and keys carry the runtime-spec JSON names,
/// deserialized straight into `LinuxResources` (which has those serde names). Unknown
/// keys are ignored, as Singularity's TOML struct ignores them.
fn load_toml(path: &Path) -> Result<LinuxResources> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::Options(format!(
            "could not read cgroups file {}: {e}",
            path.display()
        ))
    })?;
    toml::from_str(&text).map_err(|e| {
        // toml's Display is a multi-line snippet; keep one line: position + message.
        let line = e
            .span()
            .map(|sp| {
                format!(
                    " line {}:",
                    text[..sp.start.min(text.len())].matches('\n').count() + 1
                )
            })
            .unwrap_or_default();
        let msg = e.message().trim().replace('\n', " ");
        Error::Options(format!(
            "invalid cgroups file {}:{line} {msg}",
            path.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn res(l: &Limits) -> serde_json::Value {
        serde_json::to_value(l.resources(4).unwrap()).unwrap()
    }

    fn err(l: &Limits) -> String {
        l.resources(4).unwrap_err().to_string()
    }

    #[test]
    fn empty() {
        let l = Limits::default();
        assert!(l.is_empty());
        assert_eq!(res(&l), json!({}));
        // Flags at their defaults count as not given.
        let l = Limits {
            cpus: Some(String::new()),
            cpu_shares: Some(0),
            pids_limit: Some(0),
            blkio_weight: Some(0),
            memory: Some(String::new()),
            ..Default::default()
        };
        assert!(l.is_empty());
        assert_eq!(res(&l), json!({}));
        let l = Limits {
            apply_cgroups: Some("/x.toml".into()),
            ..Default::default()
        };
        assert!(!l.is_empty());
        let l = Limits {
            oom_kill_disable: true,
            ..Default::default()
        };
        assert!(!l.is_empty());
    }

    #[test]
    fn cpus() {
        let q = |s: &str| {
            let l = Limits {
                cpus: Some(s.into()),
                ..Default::default()
            };
            l.resources(4).map(|r| {
                let c = r.cpu().clone().unwrap();
                assert_eq!(c.period(), Some(100_000));
                c.quota().unwrap()
            })
        };
        assert_eq!(q("1.5").unwrap(), 150_000);
        assert_eq!(q("0.01").unwrap(), 1_000);
        assert_eq!(q("4").unwrap(), 400_000);
        assert_eq!(q("4.000").unwrap(), 400_000);
        assert_eq!(q("0.123456789").unwrap(), 12_345);
        assert_eq!(q("0.0100000009").unwrap(), 1_000);
        assert_eq!(q(".5").unwrap(), 50_000);
        assert_eq!(q("1e0").unwrap(), 100_000);
        assert_eq!(q("25e-2").unwrap(), 25_000);
        assert_eq!(q("+2").unwrap(), 200_000);
        for bad in [
            "0.009",
            "0.0099999999999",
            "0",
            "-1",
            "4.0000000001",
            "5",
            "1e30",
        ] {
            assert_eq!(
                q(bad).unwrap_err().to_string(),
                "cpus value must be in range 0.01 - 4",
                "{bad}"
            );
        }
        for bad in ["abc", "1.2.3", ".", "1e", "1,5", " 1", "0x10"] {
            assert!(
                q(bad)
                    .unwrap_err()
                    .to_string()
                    .starts_with("invalid cpus value"),
                "{bad}"
            );
        }
    }

    #[test]
    fn cpu_fields() {
        let l = Limits {
            cpu_shares: Some(512),
            cpuset_cpus: Some("0-1".into()),
            cpuset_mems: Some("0".into()),
            ..Default::default()
        };
        assert_eq!(
            res(&l),
            json!({"cpu": {"shares": 512, "cpus": "0-1", "mems": "0"}})
        );
        // Negative shares are ignored like 0.
        let l = Limits {
            cpu_shares: Some(-3),
            ..Default::default()
        };
        assert!(l.is_empty());
        assert_eq!(res(&l), json!({}));
    }

    #[test]
    fn memory() {
        let l = Limits {
            memory: Some("512m".into()),
            memory_reservation: Some("1.5g".into()),
            memory_swap: Some("-1".into()),
            oom_kill_disable: true,
            ..Default::default()
        };
        assert_eq!(
            res(&l),
            json!({"memory": {"limit": 536_870_912i64, "reservation": 1_610_612_736i64,
                              "swap": -1, "disableOOMKiller": true}})
        );
        let l = Limits {
            memory_swap: Some("2g".into()),
            ..Default::default()
        };
        assert_eq!(res(&l), json!({"memory": {"swap": 2_147_483_648i64}}));
        let l = Limits {
            memory: Some("12x".into()),
            ..Default::default()
        };
        assert_eq!(
            err(&l),
            r#"invalid memory value: invalid suffix "x" in size "12x""#
        );
        let l = Limits {
            memory_reservation: Some("-5m".into()),
            ..Default::default()
        };
        assert_eq!(
            err(&l),
            r#"invalid memory-reservation value: invalid size "-5m""#
        );
        let l = Limits {
            memory_swap: Some("-2".into()),
            ..Default::default()
        };
        assert_eq!(err(&l), r#"invalid memory-swap value: invalid size "-2""#);
    }

    #[test]
    fn sizes() {
        let ok = [
            ("100", 100),
            ("0", 0),
            ("1b", 1),
            ("1B", 1),
            ("1k", 1024),
            ("1kb", 1024),
            ("1KiB", 1024),
            ("2K", 2048),
            ("512m", 512 << 20),
            ("512MB", 512 << 20),
            ("1g", 1 << 30),
            ("1Gb", 1 << 30),
            ("1.5g", 3 << 29),
            ("1 m", 1 << 20),
            ("2t", 2 << 40),
            ("1p", 1 << 50),
            ("1.9", 1),
            ("1e3", 1000),
        ];
        for (s, want) in ok {
            assert_eq!(parse_size(s).unwrap(), want, "{s}");
        }
        for s in [
            "", "m", "-1", "12x", "1mbb", "1bb", "1kib2", " 1m", "1m ", "1  m", "1.2.3m", "9e18g",
        ] {
            let e = parse_size(s).unwrap_err().to_string();
            assert!(e.contains(&format!("{s:?}")), "{s}: {e}");
        }
    }

    #[test]
    fn pids() {
        let p = |n| Limits {
            pids_limit: Some(n),
            ..Default::default()
        };
        assert_eq!(res(&p(100)), json!({"pids": {"limit": 100}}));
        assert_eq!(res(&p(-1)), json!({"pids": {"limit": -1}}));
        assert_eq!(res(&p(0)), json!({}));
        assert_eq!(err(&p(-2)), "invalid pids-limit: -2");
    }

    #[test]
    fn blkio() {
        let w = |n| Limits {
            blkio_weight: Some(n),
            ..Default::default()
        };
        assert_eq!(res(&w(500)), json!({"blockIO": {"weight": 500}}));
        assert_eq!(res(&w(10)), json!({"blockIO": {"weight": 10}}));
        assert_eq!(res(&w(1000)), json!({"blockIO": {"weight": 1000}}));
        assert_eq!(res(&w(0)), json!({}));
        for n in [5, 1001] {
            assert_eq!(err(&w(n)), "blkio-weight must be in range 10-1000");
        }
        let d = |s: &str| Limits {
            blkio_weight_device: vec![s.into()],
            ..Default::default()
        };
        // /dev/null is character device 1:3 on every Linux system.
        assert_eq!(
            res(&d("/dev/null:100")),
            json!({"blockIO": {"weightDevice": [{"major": 1, "minor": 3, "weight": 100}]}})
        );
        let both = Limits {
            blkio_weight: Some(300),
            blkio_weight_device: vec!["/dev/null:20".into(), "/dev/zero:30".into()],
            ..Default::default()
        };
        assert_eq!(
            res(&both),
            json!({"blockIO": {"weight": 300, "weightDevice": [
                {"major": 1, "minor": 3, "weight": 20}, {"major": 1, "minor": 5, "weight": 30}]}})
        );
        assert_eq!(
            err(&d("/dev/null")),
            "blkio-weight-device specifications must be in <device>:<weight> format"
        );
        assert_eq!(
            err(&d("/dev/null:abc")),
            r#""abc" is not a valid device weight"#
        );
        assert_eq!(
            err(&d("/dev/null:5")),
            "blkio-weight-device weight must be in range 10-1000"
        );
        assert_eq!(err(&d("/etc/passwd:100")), "/etc/passwd is not a device");
        assert_eq!(err(&d("/dev:100")), "/dev is not a device");
        assert!(err(&d("/nonexistent-dev:100"))
            .starts_with("while examining device /nonexistent-dev: "));
    }

    const TOML: &str = r#"
[memory]
    limit = 524288000
    reservation = 262144000
    swap = -1
    disableOOMKiller = false
[cpu]
    shares = 512
    quota = 50000
    period = 100000
    cpus = "0-1"
[pids]
    limit = 1024
[[devices]]
    access = "rwm"
    allow = false
[[devices]]
    allow = true
    type = "c"
    major = 1
    minor = 3
    access = "rw"
[blockIO]
    weight = 100
    [[blockIO.weightDevice]]
        major = 8
        minor = 0
        weight = 500
    [[blockIO.throttleReadBpsDevice]]
        major = 8
        minor = 0
        rate = 1048576
[[hugepageLimits]]
    pageSize = "2MB"
    limit = 1073741824
[network]
    classID = 1048577
    [[network.priorities]]
        name = "eth0"
        priority = 5
[rdma.mlx5_1]
    hcaHandles = 3
    hcaObjects = 10000
[unified]
    "memory.high" = "1073741824"
[someOtherTable]
    ignored = true
"#;

    #[test]
    fn toml_file() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("cg.toml");
        std::fs::write(&f, TOML).unwrap();
        let l = Limits {
            apply_cgroups: Some(f.clone()),
            ..Default::default()
        };
        assert_eq!(
            res(&l),
            json!({
                "memory": {"limit": 524288000, "reservation": 262144000, "swap": -1,
                           "disableOOMKiller": false},
                "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0-1"},
                "pids": {"limit": 1024},
                "devices": [{"allow": false, "access": "rwm"},
                            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}],
                "blockIO": {"weight": 100,
                            "weightDevice": [{"major": 8, "minor": 0, "weight": 500}],
                            "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}]},
                "hugepageLimits": [{"pageSize": "2MB", "limit": 1073741824}],
                "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 5}]},
                "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}},
                "unified": {"memory.high": "1073741824"}
            })
        );

        // With a limit flag: refused, whatever the flag.
        for l in [
            Limits {
                memory: Some("1g".into()),
                apply_cgroups: Some(f.clone()),
                ..Default::default()
            },
            Limits {
                pids_limit: Some(-1),
                apply_cgroups: Some(f.clone()),
                ..Default::default()
            },
            Limits {
                oom_kill_disable: true,
                apply_cgroups: Some(f.clone()),
                ..Default::default()
            },
        ] {
            assert_eq!(
                err(&l),
                "cannot apply a cgroups TOML file while using limit flags"
            );
        }
        // A bad flag is reported before the conflict.
        let l = Limits {
            pids_limit: Some(-7),
            apply_cgroups: Some(f.clone()),
            ..Default::default()
        };
        assert_eq!(err(&l), "invalid pids-limit: -7");

        // Errors: one line, naming the file and the line.
        std::fs::write(&f, "[memory]\nlimit = \"lots\"\n").unwrap();
        let e = err(&Limits {
            apply_cgroups: Some(f.clone()),
            ..Default::default()
        });
        assert!(
            e.starts_with(&format!("invalid cgroups file {}: line 2:", f.display())),
            "{e}"
        );
        assert!(!e.contains('\n'), "{e}");
        std::fs::write(&f, "[memory\nlimit = 1\n").unwrap();
        let e = err(&Limits {
            apply_cgroups: Some(f.clone()),
            ..Default::default()
        });
        assert!(
            e.starts_with(&format!("invalid cgroups file {}: line 1:", f.display())),
            "{e}"
        );
        assert!(!e.contains('\n'), "{e}");
        std::fs::write(&f, "[blockIO]\nweight = 70000\n").unwrap();
        let e = err(&Limits {
            apply_cgroups: Some(f.clone()),
            ..Default::default()
        });
        assert!(e.contains("line 2:"), "{e}");
        let missing = dir.path().join("nope.toml");
        let e = err(&Limits {
            apply_cgroups: Some(missing.clone()),
            ..Default::default()
        });
        assert!(e.starts_with(&format!(
            "could not read cgroups file {}: ",
            missing.display()
        )));

        // An empty file is an empty resources object.
        std::fs::write(&f, "").unwrap();
        assert_eq!(
            res(&Limits {
                apply_cgroups: Some(f),
                ..Default::default()
            }),
            json!({})
        );
    }

    #[test]
    fn all_flags() {
        let l = Limits {
            cpus: Some("2".into()),
            cpu_shares: Some(1024),
            memory: Some("1g".into()),
            pids_limit: Some(50),
            blkio_weight: Some(200),
            ..Default::default()
        };
        assert_eq!(
            res(&l),
            json!({"cpu": {"shares": 1024, "quota": 200000, "period": 100000},
                   "memory": {"limit": 1_073_741_824i64}, "pids": {"limit": 50},
                   "blockIO": {"weight": 200}})
        );
    }
}
