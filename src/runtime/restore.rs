//! `restore ID`: runc's flags are accepted, but libcontainer 0.7 has no criu
//! restore, so this says so clearly and fails without touching anything.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;

use super::ctx::Ctx;
use crate::state::container as state;

#[derive(Args, Debug)]
pub struct Restore {
    /// Path to the criu image files
    #[arg(long, default_value = "checkpoint")]
    pub image_path: PathBuf,
    /// Path to the bundle
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Run the restored container in the background
    #[arg(short, long)]
    pub detach: bool,
    /// File to write the restored process's pid to
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Unix socket receiving the pty master
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
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
