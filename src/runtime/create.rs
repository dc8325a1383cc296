//! `create ID`: set up a container from a bundle; its process waits for `start`.

use std::path::Path;

use anyhow::Result;
use libcontainer::container::Container;

use super::builder::{self, Launch};
use super::bundle::{self, Prepared};
use super::ctx::Ctx;
use crate::state::cgroup::with_default_cgroups_path;
use crate::state::claim::CreateClaim;

pub fn create(args: liboci_cli::Create, ctx: &Ctx) -> Result<()> {
    let prepared = bundle::prepare(&args.container_id, &args.bundle)?;
    let launch = Launch {
        id: &args.container_id,
        pid_file: args.pid_file.as_ref(),
        console_socket: args.console_socket.as_ref(),
        preserve_fds: args.preserve_fds,
        detach: true,
    };
    from_bundle(ctx, &launch, &args.bundle, prepared, args.no_pivot).map(drop)
}

/// Claims the id, builds the container and records it; a failure leaves nothing.
pub(crate) fn from_bundle(
    ctx: &Ctx,
    launch: &Launch,
    bundle: &Path,
    prepared: Prepared,
    no_pivot: bool,
) -> Result<Container> {
    builder::check_pid_file(launch.pid_file)?;
    let claim = CreateClaim::take(&ctx.root, launch.id)?;
    let spec = with_default_cgroups_path(prepared.spec, launch.id, ctx.systemd_cgroup);
    let built = builder::init(ctx, launch, bundle, spec, no_pivot);
    claim.finish(built, &prepared.rootfs)
}
