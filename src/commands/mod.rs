//! One file per command. Each stays thin over libcontainer and returns the exit code.

use std::path::PathBuf;

use anyhow::Result;

use crate::cli::{Cli, Command};

pub mod checkpoint;
pub mod create;
pub mod delete;
pub mod events;
pub mod exec;
pub mod features;
pub mod kill;
pub mod list;
pub mod mount;
pub mod oci;
pub mod pause;
pub mod ps;
pub mod restore;
pub mod resume;
pub mod run;
pub mod sif;
pub mod spec;
pub mod start;
pub mod state;
pub mod umount;
pub mod update;

/// What every command may need besides its own arguments.
pub struct Ctx {
    pub root: PathBuf,
    pub systemd_cgroup: bool,
    pub criu: Option<PathBuf>,
    /// `--rootless`: runc's rootless cgroup handling forced on or off; `None` is
    /// auto (not root, or root in a user namespace).
    pub rootless: Option<bool>,
}

/// runc's `--rootless` values: `auto` (or empty), else a Go boolean.
pub fn parse_rootless(value: Option<&str>) -> Result<Option<bool>> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) if v.eq_ignore_ascii_case("auto") => Ok(None),
        Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(Some(true)),
        Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(Some(false)),
        Some(v) => anyhow::bail!("invalid --rootless value {v:?}: use true, false or auto"),
    }
}

pub fn dispatch(command: Command, cli: &Cli) -> Result<u8> {
    let ctx = Ctx {
        root: crate::rootdir::determine(cli.global.root.as_deref())?,
        systemd_cgroup: cli.global.systemd_cgroup,
        criu: cli.criu.clone(),
        rootless: parse_rootless(cli.rootless.as_deref())?,
    };
    let code = match command {
        Command::Create(a) => create::run(a, &ctx).map(|()| 0)?,
        Command::Start(a) => start::run(a, &ctx).map(|()| 0)?,
        Command::State(a) => state::run(a, &ctx).map(|()| 0)?,
        Command::Kill(a) => kill::run(a, &ctx).map(|()| 0)?,
        Command::Delete(a) => delete::run(a, &ctx).map(|()| 0)?,
        Command::Run(a) => run::run(a, &ctx)?,
        Command::Exec(a) => exec::run(a, &ctx)?,
        Command::List(a) => list::run(a, &ctx).map(|()| 0)?,
        Command::Ps(a) => ps::run(a, &ctx).map(|()| 0)?,
        Command::Pause(a) => pause::run(a, &ctx).map(|()| 0)?,
        Command::Resume(a) => resume::run(a, &ctx).map(|()| 0)?,
        Command::Events(a) => events::run(a, &ctx).map(|()| 0)?,
        Command::Update(a) => update::run(a, &ctx).map(|()| 0)?,
        Command::Spec(a) => spec::run(a).map(|()| 0)?,
        Command::Features(_) => features::run().map(|()| 0)?,
        Command::Checkpoint(a) => checkpoint::run(a, &ctx).map(|()| 0)?,
        Command::Restore(a) => restore::run(a, &ctx)?,
        Command::Mount(a) => mount::run(a, &ctx.root).map(|()| 0)?,
        Command::Umount(a) => umount::run(a, &ctx.root).map(|()| 0)?,
        Command::Sif(a) => sif::run(a, &ctx.root).map(|()| 0)?,
        Command::Oci(a) => oci::dispatch(a, &ctx)?,
    };
    Ok(code)
}

/// Exit codes are a byte; runc reports what the shell would.
pub fn exit_byte(code: i32) -> u8 {
    (code & 0xff) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rootless_values_are_runcs() {
        assert_eq!(parse_rootless(None).unwrap(), None);
        assert_eq!(parse_rootless(Some("auto")).unwrap(), None);
        assert_eq!(parse_rootless(Some("true")).unwrap(), Some(true));
        assert_eq!(parse_rootless(Some("1")).unwrap(), Some(true));
        assert_eq!(parse_rootless(Some("false")).unwrap(), Some(false));
        assert!(parse_rootless(Some("yes")).is_err());
    }
}
