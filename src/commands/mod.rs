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
}

pub fn dispatch(command: Command, cli: &Cli) -> Result<u8> {
    let ctx = Ctx {
        root: crate::rootdir::determine(cli.global.root.as_deref())?,
        systemd_cgroup: cli.global.systemd_cgroup,
        criu: cli.criu.clone(),
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
