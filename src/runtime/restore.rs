//! `restore ID`: runc's flags are accepted, but libcontainer 0.7 has no criu
//! restore, so this says so clearly and fails without touching anything.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;

use super::ctx::Ctx;
use crate::state::container as state;

#[derive(Args, Debug)]
pub struct Restore {
    /// Path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Path to criu image files for restoring
    #[arg(long, value_name = "PATH", default_value = "checkpoint")]
    pub image_path: PathBuf,
    /// Path for saving work files and logs
    #[arg(long, value_name = "PATH")]
    pub work_path: Option<PathBuf>,
    /// Allow open tcp connections
    #[arg(long)]
    pub tcp_established: bool,
    /// Allow external unix sockets
    #[arg(long)]
    pub ext_unix_sk: bool,
    /// Allow shell jobs
    #[arg(long)]
    pub shell_job: bool,
    /// Handle file locks, for safety
    #[arg(long)]
    pub file_locks: bool,
    /// Cgroups mode: 'soft' (default), 'full' and 'strict'
    #[arg(long, value_name = "MODE")]
    pub manage_cgroups_mode: Option<String>,
    /// Path to the root of the bundle directory
    #[arg(short, long, value_name = "PATH", default_value = ".")]
    pub bundle: PathBuf,
    /// Detach from the container's process
    #[arg(short, long)]
    pub detach: bool,
    /// Specify the file to write the process id to
    #[arg(long, value_name = "PATH")]
    pub pid_file: Option<PathBuf>,
    /// Do not make sifrun a subreaper for reparented processes
    #[arg(long)]
    pub no_subreaper: bool,
    /// Do not use pivot_root to jail the process inside rootfs
    #[arg(long)]
    pub no_pivot: bool,
    /// Create a namespace, but don't restore its properties
    #[arg(long, value_name = "NS")]
    pub empty_ns: Option<String>,
    /// Enable auto deduplication of memory images
    #[arg(long)]
    pub auto_dedup: bool,
    /// Use userfaultfd to lazily restore memory pages
    #[arg(long)]
    pub lazy_pages: bool,
    /// An LSM profile to be used during restore, TYPE:NAME
    #[arg(long, value_name = "TYPE:NAME")]
    pub lsm_profile: Option<String>,
    /// An LSM mount context to be used during restore
    #[arg(long, value_name = "CONTEXT")]
    pub lsm_mount_context: Option<String>,
    /// Container identifier
    #[arg(value_parser = clap::builder::NonEmptyStringValueParser::new(), required = true)]
    pub container_id: String,
}

pub fn restore(args: Restore, ctx: &Ctx) -> Result<u8> {
    state::validate_id(&args.container_id)?;
    if state::path(&ctx.root, &args.container_id)?.exists() {
        bail!("container with id {:?} already exists", args.container_id);
    }
    bail!(
        "restore is not supported: libcontainer 0.7 implements checkpoint but not restore (image path {})",
        args.image_path.display()
    )
}
