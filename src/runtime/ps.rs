//! `ps [--format table|json] ID [PS_ARGS...]`: the processes in the container's cgroup.
//! JSON is the array of host pids that docker and containerd read.

use std::process::Command;

use anyhow::{bail, Context, Result};
use libcgroups::common::CgroupManager;

use super::ctx::Ctx;
use crate::state::container as state;

pub fn ps(args: liboci_cli::Ps, ctx: &Ctx) -> Result<()> {
    let (container, _lock) = state::load(&ctx.root, &args.container_id, false)?;
    let pids: Vec<i32> = crate::state::cgroup::cgroup_manager(&container)?
        .get_all_pids()
        .context("failed to list the container's processes")?
        .iter()
        .map(|p| p.as_raw())
        .collect();
    match args.format.as_str() {
        "json" => println!("{}", serde_json::to_string(&pids)?),
        "table" => print_table(&pids, &args.ps_options)?,
        other => bail!("invalid format {other:?}: expected 'table' or 'json'"),
    }
    Ok(())
}

/// Runs ps(1) like runc does and keeps the header plus the container's rows.
fn print_table(pids: &[i32], ps_args: &[String]) -> Result<()> {
    let ps_args = if ps_args.is_empty() {
        vec!["-ef".to_string()]
    } else {
        ps_args.to_vec()
    };
    let out = Command::new("ps")
        .args(&ps_args)
        .output()
        .context("failed to run ps")?;
    if !out.status.success() {
        bail!("ps failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let col = header
        .split_whitespace()
        .position(|c| c == "PID")
        .context("ps output has no PID column")?;
    println!("{header}");
    for line in lines {
        let pid = line
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse().ok());
        if pid.is_some_and(|p: i32| pids.contains(&p)) {
            println!("{line}");
        }
    }
    Ok(())
}
