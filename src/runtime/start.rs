//! `start ID`: let a created container's process run its program.

use anyhow::{Context, Result};

use super::ctx::Ctx;
use crate::state::container as state;

pub fn start(args: liboci_cli::Start, ctx: &Ctx) -> Result<()> {
    let (mut container, _lock) = state::load(&ctx.root, &args.container_id, true)?;
    container
        .start()
        .with_context(|| format!("failed to start container {:?}", args.container_id))
}
