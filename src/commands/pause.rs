//! `pause ID`: freeze every process of the container.

use anyhow::{Context, Result};

use super::Ctx;
use crate::container_dir;

pub fn run(args: liboci_cli::Pause, ctx: &Ctx) -> Result<()> {
    let (mut container, _lock) = container_dir::load(&ctx.root, &args.container_id, true)?;
    container
        .pause()
        .with_context(|| format!("failed to pause container {:?}", args.container_id))
}
