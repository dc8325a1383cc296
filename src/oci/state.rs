//! `oci state ID`: the runtime's state JSON (runc's shape), plus the annotation
//! `sifrun.oci.exit-code` once the monitor has seen the process exit.

use std::io::Write;

use anyhow::Result;

use super::dir::OciDir;
use crate::runtime::ctx::Ctx;
use crate::state::container as state;

/// Annotation carrying the exit code of the container's process.
pub const EXIT_CODE_ANNOTATION: &str = "sifrun.oci.exit-code";

pub fn state(args: liboci_cli::State, ctx: &Ctx) -> Result<()> {
    let (container, _lock) = state::load(&ctx.root, &args.container_id, false)?;
    let mut state = state::runc_state(&container);
    if let Some(code) = OciDir::new(&ctx.root, &args.container_id)?.exit_code() {
        state
            .annotations
            .get_or_insert_with(Default::default)
            .insert(EXIT_CODE_ANNOTATION.to_string(), code.to_string());
    }
    let mut out = serde_json::to_vec_pretty(&state)?;
    out.push(b'\n');
    std::io::stdout().write_all(&out)?;
    Ok(())
}
