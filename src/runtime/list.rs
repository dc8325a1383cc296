//! `list [-q] [--format table|json]`: the containers in the state root.

use std::fmt::Write as _;
use std::io::Write;

use anyhow::{bail, Result};

use super::ctx::Ctx;
use crate::state::container::{self as state, RuncState};

pub fn list(args: liboci_cli::List, ctx: &Ctx) -> Result<()> {
    let ids = state::list_ids(&ctx.root)?;
    let mut out = String::new();
    if args.quiet {
        for id in &ids {
            let _ = writeln!(out, "{id}");
        }
        std::io::stdout().write_all(out.as_bytes())?;
        return Ok(());
    }
    let states: Vec<RuncState> = ids
        .iter()
        .filter_map(|id| state::load(&ctx.root, id, false).ok())
        .map(|(c, _lock)| {
            let mut s = state::runc_state(&c);
            s.owner = owner_name(c.state.creator.unwrap_or(0));
            s
        })
        .collect();
    match args.format.as_str() {
        "json" => {
            out = serde_json::to_string(&states)?;
            out.push('\n');
        }
        "table" => {
            let rows: Vec<[String; 6]> = states
                .iter()
                .map(|s| {
                    [
                        s.id.clone(),
                        s.pid.to_string(),
                        s.status.to_string(),
                        s.bundle.display().to_string(),
                        s.created.clone(),
                        s.owner.clone(),
                    ]
                })
                .collect();
            let header = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(String::from);
            let mut widths = [0usize; 6];
            for row in std::iter::once(&header).chain(&rows) {
                for (w, cell) in widths.iter_mut().zip(row) {
                    *w = (*w).max(cell.len());
                }
            }
            for row in std::iter::once(&header).chain(&rows) {
                for (i, cell) in row.iter().enumerate() {
                    if i + 1 == row.len() {
                        let _ = writeln!(out, "{cell}");
                    } else {
                        let _ = write!(out, "{cell:<w$}   ", w = widths[i]);
                    }
                }
            }
        }
        other => bail!("invalid format {other:?}: expected 'table' or 'json'"),
    }
    std::io::stdout().write_all(out.as_bytes())?;
    Ok(())
}

/// The user name for a uid from /etc/passwd, or `#UID` as runc prints it. Read
/// directly: the static binary cannot load NSS modules (libnss_systemd crashes it).
fn owner_name(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                let mut f = l.split(':');
                let (name, _, id) = (f.next()?, f.next()?, f.next()?);
                (id.parse() == Ok(uid)).then(|| name.to_string())
            })
        })
        .unwrap_or_else(|| format!("#{uid}"))
}
