//! `oci logs [--raw] ID`: what the container's process wrote, from the monitor's
//! k8s-file log (stdout lines to stdout, stderr lines to stderr), or the log itself.

use std::io::Write;

use anyhow::{Context, Result};
use clap::Args;

use super::dir::OciDir;
use crate::runtime::ctx::Ctx;

#[derive(Args, Debug)]
pub struct Logs {
    /// Print the log file as it is (timestamp, stream, F/P tag, text)
    #[arg(long)]
    pub raw: bool,
    /// Container identifier
    pub container_id: String,
}

pub fn logs(args: Logs, ctx: &Ctx) -> Result<()> {
    let path = OciDir::new(&ctx.root, &args.container_id)?.path(OciDir::LOG);
    let log = std::fs::read(&path)
        .with_context(|| format!("container {:?} has no log", args.container_id))?;
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    if args.raw {
        out.write_all(&log)?;
        return Ok(());
    }
    for line in log.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let mut fields = line.splitn(4, |&b| b == b' ');
        let (_ts, stream, tag) = (fields.next(), fields.next(), fields.next());
        let text = fields.next().unwrap_or_default();
        let sink: &mut dyn Write = if stream == Some(b"stderr") {
            &mut err
        } else {
            &mut out
        };
        sink.write_all(text)?;
        if tag == Some(b"F") {
            sink.write_all(b"\n")?;
        }
    }
    Ok(())
}
