//! `resume ID`: thaw a paused container.

use anyhow::{Context, Result};

use super::ctx::Ctx;
use crate::state::container as state;

pub fn resume(args: liboci_cli::Resume, ctx: &Ctx) -> Result<()> {
    let (mut container, _lock) = state::load(&ctx.root, &args.container_id, true)?;
    container
        .resume()
        .with_context(|| format!("failed to resume container {:?}", args.container_id))
}
