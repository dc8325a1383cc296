//! `events [--stats] [--interval DURATION] ID`: runc's event stream (stats every
//! interval, `oom` when the kernel OOM-kills in the container), from libcontainer.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;

use super::ctx::Ctx;
use crate::state::container as state;

#[derive(Args, Debug)]
pub struct Events {
    /// Set the stats collection interval (a duration: 5s, 100ms, 2m)
    #[arg(long, value_name = "VALUE", default_value = "5s", value_parser = parse_go_duration, allow_hyphen_values = true)]
    pub interval: GoDuration,
    /// Display the container's stats then exit
    #[arg(long)]
    pub stats: bool,
    /// Name of the container instance
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new(), required = true)]
    pub container_id: String,
}

/// A Go `time.Duration` in nanoseconds (may be zero or negative, which `events` refuses).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GoDuration(pub i128);

pub fn events(args: Events, ctx: &Ctx) -> Result<()> {
    let (mut container, lock) = state::load(&ctx.root, &args.container_id, false)?;
    // `events` runs for long: do not block other commands on this container.
    drop(lock);
    if args.interval.0 <= 0 {
        bail!("duration interval must be greater than 0");
    }
    let interval = Duration::from_nanos(u64::try_from(args.interval.0).unwrap_or(u64::MAX));
    container
        .events_every(interval, args.stats)
        .with_context(|| format!("failed to get events of container {:?}", args.container_id))
}

/// Go's `time.ParseDuration`: `[-+]` then one or more `<decimal><unit>` (units ns, us,
/// µs, μs, ms, s, m, h); a bare `0` is the only number without a unit.
pub fn parse_go_duration(s: &str) -> Result<GoDuration, String> {
    let err = || format!("invalid duration {s:?}");
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(GoDuration(0));
    }
    if rest.is_empty() {
        return Err(err());
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(num_len);
        if num.is_empty() || num == "." || num.matches('.').count() > 1 {
            return Err(err());
        }
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(err()),
        };
        let (int, frac) = num.split_once('.').unwrap_or((num, ""));
        let int: i128 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| err())?
        };
        let mut part = int.checked_mul(scale).ok_or_else(err)?;
        let mut div = 1i128;
        for d in frac.bytes().take(18) {
            div *= 10;
            part += i128::from(d - b'0') * scale / div;
        }
        total = total.checked_add(part).ok_or_else(err)?;
        if total > i128::from(i64::MAX) {
            return Err(err());
        }
        rest = tail;
    }
    Ok(GoDuration(if neg { -total } else { total }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_like_go() {
        let ms = 1_000_000;
        for (s, want) in [
            ("1s", 1000 * ms),
            ("100ms", 100 * ms),
            ("2m", 120_000 * ms),
            ("1.5s", 1500 * ms),
            ("1h30m", 5_400_000 * ms),
            ("0", 0),
            ("-1s", -1000 * ms),
            ("10us", 10_000),
            (".5s", 500 * ms),
        ] {
            assert_eq!(parse_go_duration(s), Ok(GoDuration(want)), "{s}");
        }
        for s in ["1", "1x", "", "s", "5", "1.2.3s", "-", "1 s"] {
            assert!(parse_go_duration(s).is_err(), "{s}");
        }
    }
}
