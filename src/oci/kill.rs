//! `oci kill [-s SIG] [-f] ID [SIG]`: singularity's flags over the runtime's `kill`.
//! A positional SIG wins over `-s`; `-f` (SIGKILL) wins over both.

use anyhow::Result;
use clap::Args;

use crate::runtime::ctx::Ctx;

#[derive(Args, Debug)]
pub struct Kill {
    /// Signal to send (name like TERM or SIGTERM, or a number)
    #[arg(short, long, default_value = "SIGTERM")]
    pub signal: String,
    /// Kill the container with SIGKILL
    #[arg(short, long)]
    pub force: bool,
    /// Container identifier
    pub container_id: String,
    /// Signal to send (overrides --signal)
    #[arg(value_name = "SIG")]
    pub positional: Option<String>,
}

pub fn kill(args: Kill, ctx: &Ctx) -> Result<()> {
    let signal = if args.force {
        "SIGKILL".to_string()
    } else {
        args.positional.unwrap_or(args.signal)
    };
    crate::runtime::kill::kill(
        crate::runtime::kill::Kill {
            container_id: args.container_id,
            signal,
            all: false,
        },
        ctx,
    )
}
