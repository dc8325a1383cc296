//! `state ID`: the container's state JSON, in runc's shape.

use std::io::Write;

use anyhow::Result;

use super::ctx::Ctx;
use crate::state::container as state;

pub fn state(args: liboci_cli::State, ctx: &Ctx) -> Result<()> {
    let (container, _lock) = state::load(&ctx.root, &args.container_id, false)?;
    let state = state::runc_state(&container);
    let mut out = serde_json::to_vec_pretty(&state)?;
    out.push(b'\n');
    std::io::stdout().write_all(&out)?;
    Ok(())
}
