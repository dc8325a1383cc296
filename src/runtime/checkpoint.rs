//! `checkpoint ID`: dump a running container with criu (libcontainer's support).

use anyhow::{bail, Context, Result};

use super::ctx::Ctx;
use crate::state::container as state;

/// liboci-cli's flags plus runc's that libcontainer's criu support has no option for:
/// accepted so the error names what is missing, not a parse failure.
#[derive(clap::Args, Debug)]
pub struct Checkpoint {
    #[command(flatten)]
    pub args: liboci_cli::Checkpoint,
    /// Path for previous criu image files in pre-dump (not supported)
    #[arg(long, value_name = "PATH")]
    pub parent_path: Option<String>,
    /// Use userfaultfd to lazily restore memory pages (not supported)
    #[arg(long)]
    pub lazy_pages: bool,
    /// criu writes \0 to this FD once lazy-pages is ready (not supported)
    #[arg(long, value_name = "FD", allow_hyphen_values = true)]
    pub status_fd: Option<String>,
    /// ADDRESS:PORT of the page server (not supported)
    #[arg(long, value_name = "ADDRESS:PORT")]
    pub page_server: Option<String>,
    /// Dump the container's memory only, leave it running (not supported)
    #[arg(long)]
    pub pre_dump: bool,
    /// Create a namespace, but don't restore its properties (not supported)
    #[arg(long, value_name = "NS")]
    pub empty_ns: Option<String>,
    /// Enable auto deduplication of memory images (not supported)
    #[arg(long)]
    pub auto_dedup: bool,
}

impl Checkpoint {
    /// The first runc flag given that sifrun cannot honour.
    fn unsupported(&self) -> Option<&'static str> {
        let set = [
            (self.parent_path.is_some(), "--parent-path"),
            (self.lazy_pages, "--lazy-pages"),
            (
                self.status_fd.as_deref().is_some_and(|f| f != "-1"),
                "--status-fd",
            ),
            (self.page_server.is_some(), "--page-server"),
            (self.pre_dump, "--pre-dump"),
            (self.empty_ns.is_some(), "--empty-ns"),
            (self.auto_dedup, "--auto-dedup"),
        ];
        set.into_iter().find(|(on, _)| *on).map(|(_, name)| name)
    }
}

/// The criu to run (`--criu`, else `criu` on PATH), or why `what` cannot be done.
pub(super) fn criu_binary(ctx: &Ctx, what: &str) -> Result<std::path::PathBuf> {
    let criu = ctx.criu.clone().unwrap_or_else(|| "criu".into());
    if which(&criu).is_none() {
        bail!(
            "cannot {what}: criu binary {} not found: install criu or pass --criu PATH",
            criu.display()
        );
    }
    Ok(criu)
}

pub fn checkpoint(cp: Checkpoint, ctx: &Ctx) -> Result<()> {
    if let Some(flag) = cp.unsupported() {
        bail!("checkpoint {flag} is not supported: libcontainer 0.7's criu support has no such option");
    }
    let args = cp.args;
    let (mut container, _lock) = state::load(&ctx.root, &args.container_id, true)?;
    let criu = criu_binary(ctx, "checkpoint")?;
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
        criu_path: Some(criu),
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
