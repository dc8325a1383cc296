//! The command line: runc's global flags and commands (from liboci-cli where its
//! definitions match runc), plus sifrun's own SIF commands.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use sifrun::image::{self, sif};
use sifrun::runtime::{create, events, exec, kill, restore, run, update};

pub mod docs;
pub mod oci;

#[derive(Parser, Debug)]
#[command(
    name = "sifrun",
    about = "A runc-compatible OCI runtime that also runs Singularity SIF and OCI-SIF images",
    long_about = "sifrun creates and runs containers from OCI bundles, with runc's commands, flags, \
exit codes and state JSON, so podman, containerd and Docker can use it as their runtime.\n\n\
It also turns SIF and OCI-SIF images into bundles (`sifrun mount IMAGE BUNDLE`) and drives \
them through the lifecycle of `singularity oci` (`sifrun oci ...`).",
    disable_version_flag = true,
    args_override_self = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: liboci_cli::GlobalOpts,

    /// Ignore cgroup permission errors ('true', 'false', or 'auto')
    #[arg(long, value_name = "VALUE", num_args = 0..=1, default_missing_value = "true")]
    pub rootless: Option<String>,

    /// Path to the criu binary used for checkpoint and restore
    #[arg(long, value_name = "PATH")]
    pub criu: Option<PathBuf>,

    /// Print the version
    #[arg(short = 'v', long)]
    pub version: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

// `defer`: only the subcommand being run gets its arguments built. Building all of
// them (clap's default) ran ~400 KB of clap code and filled ~300 KB of heap on
// every invocation, `state` included.
#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum Command {
    /// Create a container (the process waits for `start`)
    Create(create::Create),
    /// Start the user process of a created container
    Start(liboci_cli::Start),
    /// Print the state of a container as JSON
    State(liboci_cli::State),
    /// Send a signal to the container's init process (default SIGTERM)
    Kill(kill::Kill),
    /// Delete a container and the resources it holds
    Delete(liboci_cli::Delete),
    /// Create and start a container, and wait for it in the foreground
    Run(run::Run),
    /// Run a new process inside a running container
    Exec(exec::Exec),
    /// List the containers in the state root
    List(liboci_cli::List),
    /// List the processes running inside a container
    Ps(liboci_cli::Ps),
    /// Suspend all processes of a container (freezer cgroup)
    Pause(liboci_cli::Pause),
    /// Resume the processes of a paused container
    Resume(liboci_cli::Resume),
    /// Print container events and resource statistics
    Events(events::Events),
    /// Update the resource limits of a container
    Update(update::Update),
    /// Write a default config.json (runc's) into the bundle
    Spec(liboci_cli::Spec),
    /// Print the runtime-spec features document
    Features(liboci_cli::Features),
    /// Checkpoint a running container with criu
    Checkpoint(liboci_cli::Checkpoint),
    /// Restore a container from a criu checkpoint
    Restore(restore::Restore),
    /// Turn a SIF or OCI-SIF image into a ready OCI bundle
    Mount(image::Mount),
    /// Undo `sifrun mount`: unmount, detach loop devices, remove what mount made
    Umount(image::Umount),
    /// Inspect SIF files (list, info, header)
    Sif(sif::Sif),
    /// The `singularity oci` lifecycle: drive SIF images by hand
    Oci(oci::Oci),
    /// Print a shell completion script (bash, zsh, fish, ...)
    Completion(docs::Completion),
    /// Write the man pages, one per command (hack/install.sh)
    #[command(name = "__man", hide = true)]
    Man(docs::Man),
}

impl Command {
    /// Commands whose processes enter a container; only they need the sealed binary.
    pub fn enters_container(&self) -> bool {
        match self {
            Command::Oci(o) => o.command.enters_container(),
            _ => matches!(
                self,
                Command::Create(_) | Command::Run(_) | Command::Exec(_) | Command::Restore(_)
            ),
        }
    }
}

/// Whether the command line may name a command that enters a container, judged from
/// the raw arguments before clap parses them: any argument spelled like one counts
/// (a container named "run" only costs an unneeded seal). Lets `main` re-exec from
/// the sealed binary before the first process touches clap's code and data.
pub fn argv_may_enter_container() -> bool {
    std::env::args_os()
        .skip(1)
        .any(|a| matches!(a.to_str(), Some("create" | "run" | "exec" | "restore")))
}

/// The command tree for help output. With `defer`, a subcommand's arguments are added
/// when it is used, after its variant's doc comment became its about, and the
/// arguments struct's own doc comment replaces that; here every subcommand is built
/// with the variant's text put back, as clap shows it without `defer`.
pub fn help_command() -> clap::Command {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    let _ = cmd.render_usage(); // builds this level only
    restore_abouts(&mut cmd);
    cmd
}

fn restore_abouts(cmd: &mut clap::Command) {
    for sc in cmd.get_subcommands_mut() {
        let (about, long) = (sc.get_about().cloned(), sc.get_long_about().cloned());
        let _ = sc.render_usage(); // runs this subcommand's deferred part only
        let mut fixed = std::mem::take(sc);
        if let Some(a) = about {
            fixed = fixed.about(a);
        }
        fixed = match long {
            Some(l) => fixed.long_about(l),
            None => fixed.long_about(None::<&str>),
        };
        *sc = fixed;
        restore_abouts(sc);
    }
}

pub fn version_text() -> String {
    format!(
        "sifrun version {}\ncommit: {}\nspec: {}\nlibcontainer: 0.7.0\n",
        env!("CARGO_PKG_VERSION"),
        env!("SIFRUN_COMMIT"),
        sifrun::state::container::OCI_VERSION,
    )
}
