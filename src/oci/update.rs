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
        liboci_cli::Update {
            resources: args.from_file,
            blkio_weight: None,
            cpu_period: None,
            cpu_quota: None,
            cpu_rt_period: None,
            cpu_rt_runtime: None,
            cpu_share: None,
            cpuset_cpus: None,
            cpuset_mems: None,
            memory: None,
            memory_reservation: None,
            memory_swap: None,
            pids_limit: None,
            l3_cache_schema: None,
            mem_bw_schema: None,
            container_id: args.container_id,
        },
        ctx,
    )
}
