//! `exec ID CMD...` / `exec --process FILE ID`: run another process in a running
//! container. Without `--process`, the process is the container's own (user, rlimits,
//! capabilities, terminal from `-t`) with the command line's changes, as runc does.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{Capability, Process};
use serde::Deserialize;

use super::builder::{self, Tenant};
use super::ctx::{exit_byte, Ctx, ExitWith};
use super::foreground::Foreground;
use crate::state::container as state;

/// Any failure exits 255, as runc's exec does (the process's own codes are 0-255 too,
/// but engines read 255 with an error message as "exec failed").
pub fn exec(args: liboci_cli::Exec, pidfd_socket: Option<&Path>, ctx: &Ctx) -> Result<u8> {
    exec_process(args, pidfd_socket, ctx).map_err(|error| ExitWith { code: 255, error }.into())
}

/// runc's `exec` flags, with runc 1.2's `--pidfd-socket`.
#[derive(clap::Args, Debug)]
pub struct Exec {
    #[command(flatten)]
    pub args: liboci_cli::Exec,
    /// Path to an AF_UNIX socket which will receive a file descriptor referencing the exec process
    #[arg(long, value_name = "PATH")]
    pub pidfd_socket: Option<PathBuf>,
}

fn exec_process(args: liboci_cli::Exec, pidfd_socket: Option<&Path>, ctx: &Ctx) -> Result<u8> {
    builder::check_pid_file(args.pid_file.as_ref())?;
    let dir = state::path(&ctx.root, &args.container_id)?;
    // Held while this exec writes into the state directory (its process.json,
    // libcontainer's sockets), so that a `delete` waits rather than finding the
    // directory not empty; shared, as execs and `state` do not conflict.
    let lock = state::lock_existing(&dir, false)?;
    if lock.is_none() || !dir.join("state.json").exists() {
        return Err(state::not_found(&args.container_id));
    }
    let (generated, terminal) = match &args.process {
        Some(p) => GeneratedProcess::completed(&dir, p)?,
        None => (Some(GeneratedProcess::write(&dir, &args)?), args.tty),
    };
    let process_path: PathBuf = match (&generated, &args.process) {
        (Some(g), _) => g.path.clone(),
        (None, Some(p)) => p.clone(),
        (None, None) => unreachable!(),
    };

    let pidfd = super::pidfd::PidfdSocket::connect(pidfd_socket)?;
    let fg = Foreground::new(
        &ctx.root,
        terminal,
        args.detach,
        args.console_socket.as_ref(),
    )?;
    let launch = fg.launch(
        &args.container_id,
        args.pid_file.as_ref(),
        args.preserve_fds,
    );
    let tenant = Tenant {
        process: &process_path,
        ignore_paused: args.ignore_paused,
        sub_cgroup: args.cgroup.clone(),
        process_label: args.process_label.clone(),
    };
    let pid = builder::tenant(ctx, &launch, tenant)
        .with_context(|| format!("failed to exec in container {:?}", args.container_id))?;
    drop(generated);
    drop(lock);
    if let Some(socket) = pidfd {
        if let Err(e) = socket.send(pid.as_raw(), "setns") {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            return Err(e);
        }
    }
    // Blocked only now: the new process was forked with our normal mask. If it
    // already exited, `wait` reaps it before waiting for SIGCHLD.
    let code = fg.started()?.wait(pid)?;
    Ok(code.map_or(0, exit_byte))
}

/// A process.json derived from the container's config and the command line, removed
/// when dropped.
struct GeneratedProcess {
    path: PathBuf,
}

impl GeneratedProcess {
    /// `--process FILE` as runc reads it: `user` may be left out (uid 0, gid 0). A
    /// copy with it is written when it is missing (`None` when FILE is complete);
    /// with whether the process has a terminal.
    fn completed(dir: &Path, file: &Path) -> Result<(Option<Self>, bool)> {
        let invalid = || format!("invalid process file {}", file.display());
        let bytes = std::fs::read(file)
            .with_context(|| format!("cannot read process file {}", file.display()))?;
        let mut v: serde_json::Value = serde_json::from_slice(&bytes).with_context(invalid)?;
        libcontainer::utils::process_json_compat(&mut v);
        let Some(obj) = v.as_object_mut() else {
            bail!("{}: not a JSON object", invalid());
        };
        let no_user = !obj.contains_key("user");
        if no_user {
            obj.insert("user".into(), serde_json::json!({"uid": 0, "gid": 0}));
        }
        let terminal = Process::deserialize(&v)
            .with_context(invalid)?
            .terminal()
            .unwrap_or(false);
        let copy = no_user.then(|| Self::save(dir, &v)).transpose()?;
        Ok((copy, terminal))
    }

    fn save(dir: &Path, process: &impl serde::Serialize) -> Result<Self> {
        let path = dir.join(format!(".exec-{}.json", std::process::id()));
        std::fs::write(&path, serde_json::to_vec(process)?)
            .with_context(|| format!("failed to write {}", path.display()))?;
        Ok(Self { path })
    }

    fn write(dir: &Path, args: &liboci_cli::Exec) -> Result<Self> {
        if args.command.is_empty() {
            bail!("exec needs a command (or --process FILE)");
        }
        let state = libcontainer::container::State::load(dir)
            .with_context(|| format!("failed to load the state of {:?}", args.container_id))?;
        let config = state.bundle.join("config.json");
        let spec = libcontainer::utils::load_spec(&config)
            .with_context(|| format!("invalid {}", config.display()))?;
        let mut process = spec.process().clone().unwrap_or_default();
        process.set_args(Some(args.command.clone()));
        process.set_terminal(Some(args.tty));
        process.set_console_size(None);
        if let Some(cwd) = &args.cwd {
            if !cwd.is_absolute() {
                bail!("--cwd {} is not an absolute path", cwd.display());
            }
            process.set_cwd(cwd.clone());
        }
        if !args.env.is_empty() {
            let mut env: Vec<String> = process
                .env()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .filter(|e| {
                    let key = e.split('=').next().unwrap_or("");
                    !args.env.iter().any(|(k, _)| k == key)
                })
                .collect();
            env.extend(args.env.iter().map(|(k, v)| format!("{k}={v}")));
            process.set_env(Some(env));
        }
        if let Some((uid, gid)) = args.user {
            let mut user = process.user().clone();
            user.set_uid(uid);
            user.set_gid(gid.unwrap_or(0));
            process.set_user(user);
        }
        if !args.additional_gids.is_empty() {
            let mut user = process.user().clone();
            user.set_additional_gids(Some(args.additional_gids.clone()));
            process.set_user(user);
        }
        if args.no_new_privs {
            process.set_no_new_privileges(Some(true));
        }
        if let Some(profile) = &args.apparmor {
            process.set_apparmor_profile(Some(profile.clone()));
        }
        if !args.cap.is_empty() {
            add_capabilities(&mut process, &args.cap)?;
        }
        Self::save(dir, &process)
    }
}

impl Drop for GeneratedProcess {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// `--cap NAME` adds to the bounding, effective and permitted sets, as runc does.
fn add_capabilities(process: &mut Process, caps: &[String]) -> Result<()> {
    let mut parsed = Vec::new();
    for c in caps {
        let name = c.to_ascii_uppercase();
        let name = if name.starts_with("CAP_") {
            name
        } else {
            format!("CAP_{name}")
        };
        // Capability's serde names are the CAP_-prefixed ones used in config.json.
        let cap: Capability = serde_json::from_value(serde_json::Value::String(name))
            .map_err(|_| anyhow::anyhow!("unknown capability {c:?}"))?;
        parsed.push(cap);
    }
    let mut set = process.capabilities().clone().unwrap_or_default();
    let add = |s: Option<oci_spec::runtime::Capabilities>| {
        let mut s = s.unwrap_or_default();
        s.extend(parsed.iter().copied());
        Some(s)
    };
    set.set_bounding(add(set.bounding().clone()));
    set.set_effective(add(set.effective().clone()));
    set.set_permitted(add(set.permitted().clone()));
    // runc leaves the inheritable set alone, so ambient gets the capability only when
    // the process has an inheritable set (else the kernel would refuse it).
    if set.inheritable().is_some() {
        set.set_ambient(add(set.ambient().clone()));
    }
    process.set_capabilities(Some(set));
    Ok(())
}
