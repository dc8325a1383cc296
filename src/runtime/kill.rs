//! `kill ID [SIGNAL]`: signal the container's init (or, with `--all`, every process
//! in its cgroup). Signals by name (`KILL`, `SIGKILL`), number (`9`) or `RTMIN+N`;
//! the default is SIGTERM, as in runc.

use anyhow::{bail, Context, Result};
use clap::Args;
use libcontainer::container::ContainerStatus;
use nix::sys::signal::Signal;

use super::ctx::Ctx;
use crate::state::container as state;

#[derive(Args, Debug)]
pub struct Kill {
    /// Container identifier
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new(), required = true)]
    pub container_id: String,
    /// Signal to send (name like KILL or SIGKILL, or a number)
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
    /// Send the signal to all processes in the container
    #[arg(short, long)]
    pub all: bool,
}

/// Parses a signal the way runc does: names with or without `SIG`, numbers, and
/// real-time signals (`RTMIN+3`, `SIGRTMAX-1`, `40`).
pub fn parse_signal(s: &str) -> Result<i32> {
    let upper = s.trim().to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let (rtmin, rtmax) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    let num = if let Ok(n) = name.parse::<i32>() {
        n
    } else if let Some(rest) = name.strip_prefix("RTMIN") {
        rtmin + rt_offset(rest, s)?
    } else if let Some(rest) = name.strip_prefix("RTMAX") {
        rtmax + rt_offset(rest, s)?
    } else {
        Signal::iterator()
            .find(|sig| sig.as_str().strip_prefix("SIG") == Some(name))
            .map(|sig| sig as i32)
            .or(match name {
                "IOT" => Some(libc::SIGIOT),
                "POLL" => Some(libc::SIGPOLL),
                _ => None,
            })
            .with_context(|| format!("unknown signal {s:?}"))?
    };
    // 0 is the null signal: runc sends it, so `kill ID 0` asks whether the init lives
    if !(0..=rtmax).contains(&num) {
        bail!("unknown signal {s:?}");
    }
    Ok(num)
}

fn rt_offset(rest: &str, orig: &str) -> Result<i32> {
    if rest.is_empty() {
        return Ok(0);
    }
    rest.parse::<i32>()
        .ok()
        .filter(|_| rest.starts_with('+') || rest.starts_with('-'))
        .with_context(|| format!("unknown signal {orig:?}"))
}

pub fn kill(args: Kill, ctx: &Ctx) -> Result<()> {
    let signo = parse_signal(&args.signal)?;
    let (mut container, _lock) = state::load(&ctx.root, &args.container_id, true)?;
    let before = container.status();
    if !args.all && !container.can_kill() {
        // containerd matches runc's exact text to treat the kill as "already exited".
        bail!("container not running");
    }
    match Signal::try_from(signo) {
        Ok(sig) => {
            container
                .kill(sig, args.all)
                .with_context(|| format!("failed to kill container {:?}", args.container_id))?;
            // libcontainer records "stopped" after any signal; a created or paused
            // container that survives e.g. SIGUSR1 keeps its status.
            if matches!(before, ContainerStatus::Created | ContainerStatus::Paused)
                && alive(&container)
            {
                container.set_status(before).save()?;
            }
        }
        Err(_) => {
            // Real-time signals are outside nix's Signal enum: send them directly.
            let pid = container.pid().context("container has no init process")?;
            super::unix::kill(pid.as_raw(), signo)
                .with_context(|| format!("failed to signal process {pid}"))?;
        }
    }
    Ok(())
}

fn alive(container: &libcontainer::container::Container) -> bool {
    container
        .pid()
        .map(|p| nix::sys::signal::kill(p, None).is_ok())
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::parse_signal;

    #[test]
    fn signals_parse_like_runc() {
        for (s, n) in [
            ("KILL", 9),
            ("SIGKILL", 9),
            ("9", 9),
            ("term", 15),
            ("SIGUSR1", 10),
            ("HUP", 1),
            ("RTMIN", libc::SIGRTMIN()),
            ("RTMIN+3", libc::SIGRTMIN() + 3),
            ("SIGRTMAX-1", libc::SIGRTMAX() - 1),
            ("40", 40),
        ] {
            assert_eq!(parse_signal(s).unwrap(), n, "{s}");
        }
        assert_eq!(parse_signal("0").unwrap(), 0);
        for bad in ["", "65", "NOPE", "SIG", "RTMIN3", "-9"] {
            assert!(parse_signal(bad).is_err(), "{bad} accepted");
        }
    }
}
