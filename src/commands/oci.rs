//! `sifrun oci ...`: the `singularity oci` lifecycle; each subcommand is one call of
//! [`sifrun::oci`] (or of [`sifrun::runtime`] where it is runc's own).

use anyhow::Result;
use sifrun::image;
use sifrun::oci::{attach, create, delete, exec, kill, logs, monitor, run, state, update};
use sifrun::runtime::{self, ctx::Ctx};

use crate::cli::oci::{Oci, OciCommand};

pub fn dispatch(oci: Oci, ctx: &Ctx) -> Result<u8> {
    let done = |r: Result<()>| r.map(|()| 0);
    match oci.command {
        OciCommand::Mount(a) => done(image::mount(a)),
        OciCommand::Umount(a) => done(image::umount(a, &ctx.root)),
        OciCommand::Create(a) => done(create::create(a, ctx)),
        OciCommand::Start(a) => done(runtime::start::start(a, ctx)),
        OciCommand::State(a) => done(state::state(a, ctx)),
        OciCommand::Attach(a) => attach::attach(a, ctx),
        OciCommand::Logs(a) => done(logs::logs(a, ctx)),
        OciCommand::Kill(a) => done(kill::kill(a, ctx)),
        OciCommand::Delete(a) => done(delete::delete(a, ctx)),
        OciCommand::Exec(a) => exec::exec(a, ctx),
        OciCommand::Run(a) => run::run(a, ctx),
        OciCommand::Pause(a) => done(runtime::pause::pause(a, ctx)),
        OciCommand::Resume(a) => done(runtime::resume::resume(a, ctx)),
        OciCommand::Update(a) => done(update::update(a, ctx)),
        OciCommand::Monitor(a) => monitor::run(a, ctx),
    }
}
