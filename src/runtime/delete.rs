//! `delete [--force] ID`: remove a stopped (or, with --force, any) container.
//! Like runc, `delete --force` of a container that does not exist succeeds: the
//! containerd shim calls it to clean up after containers that are already gone.
//!
//! `delete --force` also cleans up after a `create`/`start`/`delete` that was killed
//! half-way: it kills every process in the container's cgroup first (a killed create
//! leaves an init that no state records) and waits until no process of a killed create
//! is left (see [`CreateClaim::wait_gone`]), and when libcontainer cannot load or delete
//! the container (state.json missing or unreadable) it removes the cgroup and the
//! state directory itself.

use anyhow::{Context, Result};
use libcontainer::container::{Container, State};

use super::ctx::Ctx;
use crate::state::claim::CreateClaim;
use crate::state::container as state;

pub fn delete(args: liboci_cli::Delete, ctx: &Ctx) -> Result<()> {
    let id = &args.container_id;
    if args.force {
        return force(ctx, id);
    }
    let (mut container, _lock) = state::load(&ctx.root, id, true)?;
    container
        .delete(false)
        .with_context(|| format!("failed to delete container {id:?}"))
}

fn force(ctx: &Ctx, id: &str) -> Result<()> {
    let dir = state::path(&ctx.root, id)?;
    let Some(_lock) = state::lock_existing(&dir, true)? else {
        return Ok(());
    };
    let systemd = State::load(&dir)
        .map(|s| s.use_systemd)
        .unwrap_or(ctx.systemd_cgroup);
    // Also waits for the processes of a create killed mid-way, which may not be in
    // the cgroup yet.
    CreateClaim::wait_gone(&ctx.root, id, || {
        crate::state::cgroup::kill_cgroup_processes(&dir, id, systemd)
    })?;
    if dir.join("state.json").exists() {
        match Container::load(dir.clone()).map_err(anyhow::Error::new) {
            Ok(mut container) => match container.delete(true) {
                Ok(()) => return Ok(()),
                Err(e) => tracing::warn!(id, error = %e, "delete failed, removing what is left"),
            },
            Err(e) => tracing::warn!(id, error = %e, "unreadable state, removing what is left"),
        }
    }
    crate::state::cgroup::remove_leftovers(&dir, id, systemd)
        .with_context(|| format!("failed to delete container {id:?}"))
}
