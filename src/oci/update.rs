//! `oci update [-f FILE|-] ID`: new cgroup limits from a LinuxResources JSON file
//! (`-` reads stdin, which singularity documents but does not wire up).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::runtime::ctx::Ctx;

#[derive(Args, Debug)]
pub struct Update {
    /// LinuxResources JSON file, or - for stdin
    #[arg(short, long)]
    pub from_file: Option<PathBuf>,
    /// Container identifier
    pub container_id: String,
}

pub fn update(args: Update, ctx: &Ctx) -> Result<()> {
    crate::runtime::update::update(
        crate::runtime::update::Update {
            resources: args.from_file,
            container_id: args.container_id,
            ..Default::default()
        },
        ctx,
    )
}
