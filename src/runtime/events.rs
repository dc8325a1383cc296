//! `events [--stats] [--interval N] ID`: resource statistics as JSON (libcontainer).

use anyhow::{Context, Result};

use super::ctx::Ctx;
use crate::state::container as state;

pub fn events(args: liboci_cli::Events, ctx: &Ctx) -> Result<()> {
    let (mut container, lock) = state::load(&ctx.root, &args.container_id, false)?;
    // `events` runs for long: do not block other commands on this container.
    drop(lock);
    container
        .events(args.interval, args.stats)
        .with_context(|| format!("failed to get events of container {:?}", args.container_id))
}
