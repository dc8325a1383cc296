//! `oci create -b BUNDLE ID`: start the monitor (`sifrun oci monitor`, in its own
//! session, stdio on /dev/null) and wait until it reports that the container is
//! created (`ok PID`) or why it is not (`error MESSAGE`) on a pipe.

use std::io::BufRead;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use clap::Args;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::dir::OciDir;
use crate::runtime::ctx::Ctx;

/// The fd number the monitor finds its end of the sync pipe on.
const SYNC_FD: i32 = 3;

#[derive(Args, Debug)]
pub struct Create {
    /// Bundle directory (with config.json and the rootfs)
    #[arg(short, long)]
    pub bundle: PathBuf,
    #[command(flatten)]
    pub common: Common,
    /// Container identifier
    pub container_id: String,
}

/// Flags `oci create` and `oci run` share with `singularity oci`.
#[derive(Args, Debug)]
pub struct Common {
    /// Accepted for `singularity oci` compatibility; the log is <root>/.oci/ID/container.log
    #[arg(short = 'l', long)]
    pub log_path: Option<PathBuf>,
    /// Accepted for `singularity oci` compatibility; the log is always kubernetes format
    #[arg(long)]
    pub log_format: Option<String>,
    /// Write the container's init pid to this file
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
}

pub fn create(args: Create, ctx: &Ctx) -> Result<()> {
    let id = &args.container_id;
    let bundle = std::fs::canonicalize(&args.bundle)
        .with_context(|| format!("bundle {} is not accessible", args.bundle.display()))?;
    let dir = claim_dir(ctx, id)?;
    match spawn_monitor(&args, ctx, &bundle) {
        Ok(pid) => {
            if let Some(p) = &args.common.pid_file {
                std::fs::write(p, pid.to_string())
                    .with_context(|| format!("cannot write {}", p.display()))?;
            }
            Ok(())
        }
        Err(e) => {
            let _ = dir.remove();
            Err(e)
        }
    }
}

/// Makes `<root>/.oci/<id>`; a leftover of a container that no longer exists is
/// cleared first.
pub(super) fn claim_dir(ctx: &Ctx, id: &str) -> Result<OciDir> {
    let dir = OciDir::new(&ctx.root, id)?;
    if crate::state::container::path(&ctx.root, id)?
        .join("state.json")
        .exists()
    {
        bail!("container with id {id:?} already exists");
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir.dir.parent().expect("has a parent"))
        .with_context(|| format!("cannot create {}", dir.dir.display()))?;
    match std::fs::DirBuilder::new().mode(0o700).create(&dir.dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            if dir.monitor_pid().is_some_and(alive) || dir.path(OciDir::BUNDLE).exists() {
                bail!("container with id {id:?} already exists (being created or run)");
            }
            dir.remove()?;
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(&dir.dir)
                .with_context(|| format!("cannot create {}", dir.dir.display()))?;
        }
        Err(e) => {
            return Err(e).with_context(|| format!("cannot create {}", dir.dir.display()));
        }
    }
    Ok(dir)
}

fn alive(pid: i32) -> bool {
    // Signal 0 only checks for existence.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}

fn spawn_monitor(args: &Create, ctx: &Ctx, bundle: &std::path::Path) -> Result<i32> {
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe2")?;
    let runtime_log = OciDir::new(&ctx.root, &args.container_id)?.path(OciDir::RUNTIME_LOG);
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg("--root").arg(&ctx.root);
    if ctx.systemd_cgroup {
        cmd.arg("--systemd-cgroup");
    }
    cmd.arg("--log")
        .arg(&runtime_log)
        .args(["--log-format", "json", "oci", "monitor", "--bundle"])
        .arg(bundle)
        .arg("--sync-fd")
        .arg(SYNC_FD.to_string())
        .arg(&args.container_id)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let wfd = write.as_raw_fd();
    // SAFETY: CommandExt::pre_exec is unsafe because the closure runs in the forked
    // child between fork and exec; this one only makes async-signal-safe syscalls
    // (setsid, fcntl, dup2) with integer arguments, allocates nothing (last_os_error
    // does not) and touches no lock or state of the parent.
    unsafe {
        cmd.pre_exec(move || {
            // Its own session: the monitor outlives us and our terminal's signals.
            libc::setsid();
            if wfd == SYNC_FD {
                libc::fcntl(wfd, libc::F_SETFD, 0);
            } else if libc::dup2(wfd, SYNC_FD) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().context("cannot start the monitor")?;
    drop(write);
    // One line, not up to EOF: the container's init, forked from the monitor, holds
    // a copy of the write end until it execs at `start` — so a monitor that died
    // half-way is noticed by its exit, not by EOF.
    let mut fds = [PollFd::new(read.as_fd(), PollFlags::POLLIN)];
    while poll(&mut fds, 200u8) == Ok(0) {
        if child.try_wait()?.is_some() && poll(&mut fds, PollTimeout::ZERO) == Ok(0) {
            break;
        }
    }
    // Unknown flags (None) are not nothing either.
    let ready = fds[0].revents().is_none_or(|r| !r.is_empty());
    let mut reply = String::new();
    if ready {
        std::io::BufReader::new(std::fs::File::from(read))
            .read_line(&mut reply)
            .context("cannot read from the monitor")?;
    }
    let reply = reply.trim_end();
    if let Some(pid) = reply.strip_prefix("ok ") {
        // Not waited for: it is reparented to init (or a subreaper) when we exit.
        drop(child);
        return pid.parse().context("bad pid from the monitor");
    }
    let _ = child.wait();
    match reply.strip_prefix("error ") {
        Some(msg) => bail!("{msg}"),
        None => bail!(
            "the monitor exited without creating the container (see {})",
            runtime_log.display()
        ),
    }
}
