//! `oci run -b BUNDLE ID`: the runtime's `run` in the foreground (as singularity's
//! `oci run`: no monitor; signals are forwarded; the exit code is the container's).
//!
//! `oci run --image IMAGE ID [-- ARGS...]`: mount IMAGE into a temporary bundle in
//! `<root>/.oci/ID/bundle`, run it (ARGS replace the image's command line), then delete
//! the container and umount — also after Ctrl-C or SIGTERM. The run itself is a forked
//! child doing `sifrun run`'s work, so that this process stays free to catch signals
//! and clean up: a
//! container's pid 1 ignores SIGINT/SIGTERM it has no handler for, so after a grace
//! period (or a second signal) the container is killed.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bundle_tools::config::options::{Action, Profile};
use bundle_tools::mount::MountMode;
use clap::Args;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::isatty;
use nix::unistd::Pid;

use super::create;
use super::dir::OciDir;
use crate::image::{self, RunOptions, TrustArgs};
use crate::runtime::ctx::{exit_byte, one_line, Ctx, ExitWith};
use crate::runtime::unix;

/// How long the container gets to exit after a forwarded SIGINT/SIGTERM.
const GRACE: Duration = Duration::from_secs(5);

#[derive(Args, Debug)]
pub struct Run {
    /// Bundle directory (with config.json and the rootfs)
    #[arg(
        short,
        long,
        required_unless_present = "image",
        conflicts_with = "image"
    )]
    pub bundle: Option<PathBuf>,
    /// SIF or OCI-SIF image to run through a temporary bundle; also oci:DIR[:TAG],
    /// oci-archive:FILE[:TAG] or docker-archive:FILE[:REF], converted once into an
    /// OCI-SIF in the cache
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    /// With --image: run ARGS instead of the image's command (singularity exec)
    #[arg(long, requires = "image", conflicts_with = "shell")]
    pub exec: bool,
    /// With --image: start a shell (singularity shell)
    #[arg(long, requires = "image")]
    pub shell: bool,
    /// With --image: how to mount it (auto, kernel, fuse, extract)
    #[arg(long, default_value = "auto", value_parser = parse_mode, requires = "image")]
    pub mode: MountMode,
    /// With --image: do not share the image's mount with other runs of it
    #[arg(long, requires = "image")]
    pub no_share: bool,
    #[command(flatten)]
    pub common: create::Common,
    #[command(flatten)]
    pub opts: RunOptions,
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Container identifier (with --image: optional, a unique one is made up)
    pub container_id: Option<String>,
    /// With --image: arguments for the image's command (with --exec: the command)
    #[arg(last = true)]
    pub args: Vec<String>,
}

fn parse_mode(s: &str) -> Result<MountMode, String> {
    s.parse()
}

pub fn run(args: Run, ctx: &Ctx) -> Result<u8> {
    match (&args.bundle, &args.image) {
        (Some(bundle), _) => {
            if !args.args.is_empty() {
                bail!("a command line after -- needs --image (edit config.json of a bundle)");
            }
            if args.opts != RunOptions::default()
                || args.trust != TrustArgs::default()
                || args.exec
                || args.shell
            {
                bail!("OCI-mode options need --image (a bundle's config.json is already made: give them to sifrun mount)");
            }
            let Some(id) = args.container_id.clone() else {
                bail!("oci run -b BUNDLE needs a container id");
            };
            crate::runtime::run::run(
                foreground(bundle, id, args.common.pid_file.clone()),
                None,
                None,
                ctx,
            )
        }
        (None, Some(image)) => run_image(image, &args, ctx),
        (None, None) => unreachable!("clap requires --bundle or --image"),
    }
}

/// runc's `run` of `bundle` as `id` in the foreground, deleted when it exits.
fn foreground(bundle: &Path, id: String, pid_file: Option<PathBuf>) -> liboci_cli::Run {
    liboci_cli::Run {
        bundle: bundle.to_path_buf(),
        console_socket: None,
        pid_file,
        no_subreaper: false,
        no_pivot: false,
        no_new_keyring: false,
        preserve_fds: 0,
        keep: false,
        container_id: id,
        detach: false,
    }
}

/// A container id no other run uses: `sifrun-` and 16 random hex digits.
fn unique_id() -> Result<String> {
    let mut b = [0u8; 8];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .context("cannot read /dev/urandom")?;
    Ok(format!(
        "sifrun-{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    ))
}

fn run_image(image: &str, args: &Run, ctx: &Ctx) -> Result<u8> {
    let action = if args.shell {
        Action::Shell
    } else if args.exec {
        if args.args.is_empty() {
            bail!("--exec needs a command after --");
        }
        Action::Exec(args.args.clone())
    } else {
        Action::Run(args.args.clone())
    };
    let mut opts = args.opts.to_options(Profile::OciMode, action)?;
    // A bad site file or key option fails before anything is made.
    let policy = args.trust.policy()?;
    opts.terminal = Some(isatty(0).unwrap_or(false) && isatty(1).unwrap_or(false));
    // The bundle is this run's alone.
    opts.overlay_in_container = image::overlay_in_container();
    // The container starts at once: its program is read while it is set up.
    opts.prefetch = true;
    let image = super::image_cache::resolve(image)?;
    let id = match &args.container_id {
        Some(id) => id.clone(),
        None => unique_id()?,
    };
    // Blocked before anything is made, so a Ctrl-C from here on leads to clean-up.
    let mut signals = SigSet::empty();
    for s in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGCHLD,
    ] {
        signals.add(s);
    }
    signals.thread_block()?;
    sweep_dead_runs(ctx);
    let dir = create::claim_dir(ctx, &id)?;
    let held = match dir.hold_run() {
        Ok(f) => f,
        Err(e) => {
            let _ = dir.remove();
            return Err(e);
        }
    };
    let bundle = dir.path(OciDir::BUNDLE);
    let result = image::mount_with(&image, &bundle, args.mode, &opts, &policy, !args.no_share)
        .and_then(|(overlay, prefetch)| {
            let code = run_child(&bundle, &id, overlay.map(init_overlay), args, ctx, &signals);
            // Its files are closed before the image is unmounted.
            drop(prefetch);
            code
        });
    let cleanup = clean_up(ctx, &id, &dir, &bundle);
    drop(held);
    let code = result?;
    cleanup?;
    Ok(code)
}

/// The overlay the mount left to the container's init, as libcontainer takes it.
fn init_overlay(o: bundle_tools::mount::RootOverlay) -> libcontainer::rootfs::RootfsOverlay {
    libcontainer::rootfs::RootfsOverlay {
        lowers: o.lowers,
        tmpfs: o.tmpfs,
        tmpfs_size: o.tmpfs_size,
        nosuid: o.nosuid,
    }
}

fn run_child(
    bundle: &Path,
    id: &str,
    overlay: Option<libcontainer::rootfs::RootfsOverlay>,
    args: &Run,
    ctx: &Ctx,
    signals: &SigSet,
) -> Result<u8> {
    // Non-blocking: read once the child is gone, even if a process it forked that
    // never exec'd still holds the write end.
    let (rd, wr) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)?;
    // A fork, not an exec of `sifrun run`: this process is already sealed, parsed and
    // set up, and a second start of the binary was a tenth of an `oci run`. Only
    // this thread survives the fork (nothing else runs here by now but the
    // short-lived cgroup warm-up, which takes no lock, and the prefetch, which only
    // reads files and whose allocations glibc's fork keeps consistent), and the
    // child ends in _exit.
    // SAFETY: see above; the child only runs the `run` below and exits.
    let pid = match unsafe { nix::unistd::fork() }.context("cannot fork the run")? {
        nix::unistd::ForkResult::Child => {
            drop(rd);
            // The container's processes inherit this mask: they start unblocked.
            let _ = signals.thread_unblock();
            let run = foreground(bundle, id.to_string(), args.common.pid_file.clone());
            let code = match crate::runtime::run::run(run, None, overlay, ctx) {
                Ok(code) => code,
                Err(e) => {
                    // The parent reports it, after the clean-up.
                    let _ = std::fs::File::from(wr).write_all(one_line(&e).as_bytes());
                    ExitWith::code_of(&e)
                }
            };
            let _ = std::io::stdout().flush();
            // SAFETY: ends the forked child without running the parent's destructors.
            unsafe { libc::_exit(code.into()) }
        }
        nix::unistd::ForkResult::Parent { child } => child,
    };
    drop(wr);
    let code = wait_child(pid, ctx, id, signals)?;
    let mut err = vec![];
    let _ = std::fs::File::from(rd).read_to_end(&mut err);
    if err.is_empty() {
        Ok(code)
    } else {
        Err(ExitWith {
            code,
            error: anyhow::anyhow!(String::from_utf8_lossy(&err).into_owned()),
        }
        .into())
    }
}

/// Waits for the run in `pid`, forwarding a first SIGINT/SIGTERM/SIGHUP/SIGQUIT to it
/// and killing the container after [`GRACE`] (or a second signal); its exit code.
fn wait_child(pid: Pid, ctx: &Ctx, id: &str, signals: &SigSet) -> Result<u8> {
    let mut kill_at: Option<Instant> = None;
    let mut killed = false;
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)).context("waitpid")? {
            WaitStatus::Exited(_, code) => return Ok(exit_byte(code)),
            WaitStatus::Signaled(_, sig, _) => return Ok(exit_byte(128 + sig as i32)),
            _ => {}
        }
        if kill_at.is_some_and(|t| Instant::now() >= t) {
            if killed {
                // The run itself is stuck: the clean-up after it still happens.
                let _ = unix::kill(pid.as_raw(), libc::SIGKILL);
            } else {
                kill_container(ctx, id);
                killed = true;
                kill_at = Some(Instant::now() + GRACE);
            }
        }
        match unix::sigtimedwait(signals, Duration::from_millis(200)) {
            Some(sig) if sig != libc::SIGCHLD => {
                if kill_at.is_some() {
                    // A second Ctrl-C: no more waiting.
                    kill_at = Some(Instant::now());
                } else {
                    let _ = unix::kill(pid.as_raw(), sig);
                    kill_at = Some(Instant::now() + GRACE);
                }
            }
            _ => {}
        }
    }
}

fn kill_container(ctx: &Ctx, id: &str) {
    let _ = crate::runtime::kill::kill(
        crate::runtime::kill::Kill {
            container_id: id.to_string(),
            signal: "SIGKILL".into(),
            all: true,
        },
        ctx,
    );
}

/// Cleans up after the `oci run --image` runs in this state root that were SIGKILLed
/// (a scheduler's cancel, the OOM killer): their container, bundle and share of the
/// image mount would otherwise stay until `oci delete` / `umount --force` by hand. A
/// run counts as dead once neither it nor its forked run holds its lock.
fn sweep_dead_runs(ctx: &Ctx) {
    let Ok(rd) = std::fs::read_dir(ctx.root.join(".oci")) else {
        return;
    };
    for e in rd.flatten() {
        let Some(id) = e.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let Ok(dir) = OciDir::new(&ctx.root, &id) else {
            continue;
        };
        let Some(_lock) = dir.dead_run() else {
            continue;
        };
        tracing::debug!("cleaning up after the killed run {id:?}");
        if let Err(e) = clean_up(ctx, &id, &dir, &dir.path(OciDir::BUNDLE)) {
            tracing::warn!("cleaning up after the killed run {id:?}: {e:#}");
        }
    }
}

/// Whatever happened: no container, no mounts or loop devices, no state dir.
fn clean_up(ctx: &Ctx, id: &str, dir: &OciDir, bundle: &Path) -> Result<()> {
    let deleted = crate::runtime::delete::delete(
        liboci_cli::Delete {
            container_id: id.to_string(),
            force: true,
        },
        ctx,
    );
    let unmounted = if bundle.join(bundle_tools::mount::STATE_FILE).exists() {
        // The container is gone and the mount record complete: undoing the recorded
        // steps is enough. The force sweep (scanning every process for FUSE daemons)
        // is only for when that fails.
        match bundle_tools::mount::umount(bundle, &|_| None, false) {
            Ok(()) => Ok(()),
            Err(_) => image::umount(
                image::Umount {
                    force: true,
                    bundle: bundle.to_path_buf(),
                },
                &ctx.root,
            ),
        }
    } else {
        // A mount that failed has rolled itself back; an empty dir may remain.
        let _ = std::fs::remove_dir(bundle);
        Ok(())
    };
    deleted?;
    unmounted?;
    dir.remove()
}
