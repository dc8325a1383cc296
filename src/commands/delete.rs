//! `delete [--force] ID`: remove a stopped (or, with --force, any) container.
//! Like runc, `delete --force` of a container that does not exist succeeds: the
//! containerd shim calls it to clean up after containers that are already gone.

use anyhow::{Context, Result};

use super::Ctx;
use crate::container_dir;

pub fn run(args: liboci_cli::Delete, ctx: &Ctx) -> Result<()> {
    let id = &args.container_id;
    let dir = container_dir::path(&ctx.root, id)?;
    let loaded = container_dir::load(&ctx.root, id, true);
    let (mut container, _lock) = match loaded {
        Ok(c) => c,
        Err(_) if args.force && !dir.join("state.json").exists() => {
            // A create killed half-way leaves a directory without state: clean it.
            let _ = std::fs::remove_dir_all(&dir);
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    container
        .delete(args.force)
        .with_context(|| format!("failed to delete container {id:?}"))?;
    Ok(())
}
