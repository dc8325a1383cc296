//! The command layer: each command is one call of the engine ([`sifrun`]), which
//! returns the exit code. Arguments are defined in `cli.rs`.

use anyhow::Result;
use sifrun::runtime::{self as rt, ctx::Ctx};
use sifrun::{image, state};

use crate::cli::{Cli, Command};

pub mod docs;
pub mod oci;

pub fn dispatch(command: Command, cli: &Cli) -> Result<u8> {
    // Installation aids: no state root needed.
    let command = match command {
        Command::Completion(a) => return docs::completion(a),
        Command::Man(a) => return docs::man(a),
        c => c,
    };
    let ctx = Ctx {
        root: state::root::determine(cli.global.root.as_deref())?,
        systemd_cgroup: cli.global.systemd_cgroup,
        criu: cli.criu.clone(),
        rootless: rt::ctx::parse_rootless(cli.rootless.as_deref())?,
    };
    let done = |r: Result<()>| r.map(|()| 0);
    match command {
        Command::Create(a) => done(rt::create::create(a.args, a.pidfd_socket.as_deref(), &ctx)),
        Command::Start(a) => done(rt::start::start(a, &ctx)),
        Command::State(a) => done(rt::state::state(a, &ctx)),
        Command::Kill(a) => done(rt::kill::kill(a, &ctx)),
        Command::Delete(a) => done(rt::delete::delete(a, &ctx)),
        Command::Run(a) => rt::run::run(a.args, a.pidfd_socket.as_deref(), None, &ctx),
        Command::Exec(a) => rt::exec::exec(a.args, a.pidfd_socket.as_deref(), &ctx),
        Command::List(a) => done(rt::list::list(a, &ctx)),
        Command::Ps(a) => done(rt::ps::ps(a, &ctx)),
        Command::Pause(a) => done(rt::pause::pause(a, &ctx)),
        Command::Resume(a) => done(rt::resume::resume(a, &ctx)),
        Command::Events(a) => done(rt::events::events(a, &ctx)),
        Command::Update(a) => done(rt::update::update(a, &ctx)),
        Command::Spec(a) => done(rt::spec::spec(a)),
        Command::Features(_) => done(rt::features::features()),
        Command::Checkpoint(a) => done(rt::checkpoint::checkpoint(a, &ctx)),
        Command::Restore(a) => rt::restore::restore(a, &ctx),
        Command::Mount(a) => done(image::mount(a)),
        Command::Umount(a) => done(image::umount(a, &ctx.root)),
        Command::Sif(a) => done(image::sif::sif(a)),
        Command::Oci(a) => oci::dispatch(a, &ctx),
        Command::Completion(_) | Command::Man(_) => unreachable!("handled above"),
    }
}
