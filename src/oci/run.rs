//! `oci run -b BUNDLE ID`: the runtime's `run` in the foreground (as singularity's
//! `oci run`: no monitor; signals are forwarded; the exit code is the container's).
//!
//! `oci run --image IMAGE ID [-- ARGS...]`: mount IMAGE into a temporary bundle in
//! `<root>/.oci/ID/bundle`, run it (ARGS replace the image's command line), then delete
//! the container and umount — also after Ctrl-C or SIGTERM. The run itself is a child
//! `sifrun run`, so that this process stays free to catch signals and clean up: a
//! container's pid 1 ignores SIGINT/SIGTERM it has no handler for, so after a grace
//! period (or a second signal) the container is killed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bundle_tools::mount::MountMode;
use clap::Args;
use nix::sys::signal::{SigSet, Signal};
use nix::unistd::isatty;

use super::create;
use super::dir::OciDir;
use crate::image;
use crate::runtime::ctx::{exit_byte, Ctx};
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
    /// SIF or OCI-SIF image to run through a temporary bundle
    #[arg(long)]
    pub image: Option<PathBuf>,
    #[command(flatten)]
    pub common: create::Common,
    /// Container identifier
    pub container_id: String,
    /// With --image: the command line to run instead of the image's
    #[arg(last = true)]
    pub args: Vec<String>,
}

pub fn run(args: Run, ctx: &Ctx) -> Result<u8> {
    match (&args.bundle, &args.image) {
        (Some(bundle), _) => {
            if !args.args.is_empty() {
                bail!("a command line after -- needs --image (edit config.json of a bundle)");
            }
            crate::runtime::run::run(
                liboci_cli::Run {
                    bundle: bundle.clone(),
                    console_socket: None,
                    pid_file: args.common.pid_file.clone(),
                    no_subreaper: false,
                    no_pivot: false,
                    no_new_keyring: false,
                    preserve_fds: 0,
                    keep: false,
                    container_id: args.container_id.clone(),
                    detach: false,
                },
                ctx,
            )
        }
        (None, Some(image)) => run_image(image, &args, ctx),
        (None, None) => unreachable!("clap requires --bundle or --image"),
    }
}

fn run_image(image: &Path, args: &Run, ctx: &Ctx) -> Result<u8> {
    let id = &args.container_id;
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
    let dir = create::claim_dir(ctx, id)?;
    let bundle = dir.path(OciDir::BUNDLE);
    let result = image::mount(image::Mount {
        mode: MountMode::Auto,
        image: image.to_path_buf(),
        bundle: bundle.clone(),
    })
    .and_then(|()| {
        set_process(&bundle, &args.args)?;
        run_child(&bundle, args, ctx, &signals)
    });
    let cleanup = clean_up(ctx, id, &dir, &bundle);
    let code = result?;
    cleanup?;
    Ok(code)
}

/// ARGS replace the command line; a terminal only when we have one (a pty would turn
/// `\n` into `\r\n` in piped output).
fn set_process(bundle: &Path, args: &[String]) -> Result<()> {
    let path = bundle.join("config.json");
    let mut config: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?,
    )
    .with_context(|| format!("invalid {}", path.display()))?;
    let process = config
        .get_mut("process")
        .and_then(|p| p.as_object_mut())
        .context("config.json has no process")?;
    if !args.is_empty() {
        process.insert("args".into(), serde_json::json!(args));
    }
    let tty = isatty(0).unwrap_or(false) && isatty(1).unwrap_or(false);
    process.insert("terminal".into(), serde_json::json!(tty));
    std::fs::write(&path, serde_json::to_vec_pretty(&config)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

fn run_child(bundle: &Path, args: &Run, ctx: &Ctx, signals: &SigSet) -> Result<u8> {
    let mut cmd = Command::new("/proc/self/exe");
    cmd.arg("--root").arg(&ctx.root);
    if ctx.systemd_cgroup {
        cmd.arg("--systemd-cgroup");
    }
    cmd.args(["run", "-b"]).arg(bundle);
    if let Some(p) = &args.common.pid_file {
        cmd.arg("--pid-file").arg(p);
    }
    cmd.arg(&args.container_id);
    // std resets the signal mask in the child.
    let mut child = cmd.spawn().context("cannot start `sifrun run`")?;
    let mut kill_at: Option<Instant> = None;
    let mut killed = false;
    loop {
        if let Some(status) = child.try_wait()? {
            use std::os::unix::process::ExitStatusExt;
            let code = status
                .code()
                .or(status.signal().map(|s| 128 + s))
                .unwrap_or(1);
            return Ok(exit_byte(code));
        }
        if kill_at.is_some_and(|t| Instant::now() >= t) {
            if killed {
                // The run itself is stuck: the clean-up after it still happens.
                let _ = child.kill();
            } else {
                kill_container(ctx, &args.container_id);
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
                    let _ = unix::kill(child.id() as i32, sig);
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
        image::umount(
            image::Umount {
                force: true,
                bundle: bundle.to_path_buf(),
            },
            &ctx.root,
        )
    } else {
        // A mount that failed has rolled itself back; an empty dir may remain.
        let _ = std::fs::remove_dir(bundle);
        Ok(())
    };
    deleted?;
    unmounted?;
    dir.remove()
}
