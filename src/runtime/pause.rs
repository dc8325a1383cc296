//! `pause ID`: freeze every process of the container.

use anyhow::{Context, Result};

use super::ctx::Ctx;
use crate::state::container as state;

pub fn pause(args: liboci_cli::Pause, ctx: &Ctx) -> Result<()> {
    let (mut container, _lock) = state::load(&ctx.root, &args.container_id, true)?;
    container
        .pause()
        .with_context(|| format!("failed to pause container {:?}", args.container_id))
}
