//! `checkpoint ID`: dump a running container with criu (libcontainer's support).

use anyhow::{bail, Context, Result};

use super::ctx::Ctx;
use crate::state::container as state;

pub fn checkpoint(args: liboci_cli::Checkpoint, ctx: &Ctx) -> Result<()> {
    let (mut container, _lock) = state::load(&ctx.root, &args.container_id, true)?;
    let criu = ctx.criu.clone().unwrap_or_else(|| "criu".into());
    if which(&criu).is_none() {
        bail!(
            "criu binary {} not found: install criu or pass --criu PATH",
            criu.display()
        );
    }
    let opts = libcontainer::container::CheckpointOptions {
        ext_unix_sk: args.ext_unix_sk,
        file_locks: args.file_locks,
        image_path: args.image_path,
        leave_running: args.leave_running,
        shell_job: args.shell_job,
        tcp_established: args.tcp_established,
        work_path: args.work_path,
        manage_cgroups_mode: match args.manage_cgroups_mode.as_str() {
            "ignore" => rust_criu::CgMode::IGNORE,
            "full" => rust_criu::CgMode::FULL,
            "strict" => rust_criu::CgMode::STRICT,
            _ => rust_criu::CgMode::SOFT,
        },
        link_remap: args.link_remap,
    };
    container
        .checkpoint(&opts)
        .with_context(|| format!("failed to checkpoint container {:?}", args.container_id))
}

/// Resolves a program name through $PATH (or checks an explicit path).
pub fn which(prog: &std::path::Path) -> Option<std::path::PathBuf> {
    if prog.components().count() > 1 {
        return prog.is_file().then(|| prog.to_path_buf());
    }
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| std::path::Path::new(d).join(prog))
        .find(|p| p.is_file())
}
