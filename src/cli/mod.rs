//! The command line: runc's global flags and commands (from liboci-cli where its
//! definitions match runc), plus sifrun's own SIF commands.

use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use sifrun::image::{self, sif};
use sifrun::runtime::{create, events, exec, kill, restore, run, update};

pub mod argv;
pub mod docs;
pub mod help;
pub mod oci;

/// sifrun's command line, not built: clap adds a command's arguments, with sifrun's help
/// texts ([`help`]), when it builds that command, which a parse does only for the
/// commands argv names.
pub fn command() -> clap::Command {
    help::apply(Cli::command(), DEFERRED)
}

/// The whole command tree, built (completions, tests).
pub fn full_command() -> clap::Command {
    let mut cmd = command();
    cmd.build();
    cmd
}

/// Parses argv: runc's spellings rewritten ([`argv`]), sifrun's help texts ([`help`]).
pub fn parse() -> Result<Cli, clap::Error> {
    let mut cmd = command();
    let args = argv::normalize(&mut cmd, std::env::args_os().collect());
    let matches = cmd.try_get_matches_from_mut(args)?;
    Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut cmd))
}

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

    /// Ignore cgroup permission errors ('true', 'false', or 'auto') [default: auto]
    #[arg(long, value_name = "VALUE", num_args = 0..=1, default_missing_value = "true")]
    pub rootless: Option<String>,

    /// Path to the criu binary used for checkpoint and restore [default: criu]
    #[arg(long, value_name = "PATH")]
    pub criu: Option<PathBuf>,

    /// Print the version
    #[arg(short = 'v', long)]
    pub version: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

// `defer`: only the commands argv names get their arguments built. Building all of them
// (clap's default) ran ~400 KB of clap code and filled ~300 KB of heap on every call,
// `state` included. [`DEFERRED`] replaces the derive's deferred parts.
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
    Checkpoint(sifrun::runtime::checkpoint::Checkpoint),
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

/// Each command's deferred part ([`help::texted`]: its arguments and sifrun's texts,
/// the about texts of the variant's doc comment kept).
const DEFERRED: &[(&str, help::Deferred)] = &[
    ("create", help::texted(Command::Create)),
    ("start", help::texted(Command::Start)),
    ("state", help::texted(Command::State)),
    ("kill", help::texted(Command::Kill)),
    ("delete", help::texted(Command::Delete)),
    ("run", help::texted(Command::Run)),
    ("exec", help::texted(Command::Exec)),
    ("list", help::texted(Command::List)),
    ("ps", help::texted(Command::Ps)),
    ("pause", help::texted(Command::Pause)),
    ("resume", help::texted(Command::Resume)),
    ("events", help::texted(Command::Events)),
    ("update", help::texted(Command::Update)),
    ("spec", help::texted(Command::Spec)),
    ("features", help::texted(Command::Features)),
    ("checkpoint", help::texted(Command::Checkpoint)),
    ("restore", help::texted(Command::Restore)),
    ("mount", help::texted(Command::Mount)),
    ("umount", help::texted(Command::Umount)),
    ("sif", help::texted(Command::Sif)),
    ("oci", oci::deferred),
    ("completion", help::texted(Command::Completion)),
    ("__man", help::texted(Command::Man)),
];

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

pub fn version_text() -> String {
    format!(
        "sifrun version {}\ncommit: {}\nspec: {}\nlibcontainer: 0.7.0\n",
        env!("CARGO_PKG_VERSION"),
        env!("SIFRUN_COMMIT"),
        sifrun::state::container::OCI_VERSION,
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// path -> the command's arguments (id, long, short), recursively. Sorted: the
    /// texts' `mut_arg` moves an argument to the end (the help output's order is
    /// checked by the help tests).
    fn args(cmd: &clap::Command, path: String, out: &mut BTreeMap<String, Vec<String>>) {
        let mut list: Vec<_> = cmd
            .get_arguments()
            .map(|a| format!("{} {:?} {:?}", a.get_id(), a.get_long(), a.get_short()))
            .collect();
        list.sort();
        out.insert(path.clone(), list);
        for sub in cmd.get_subcommands() {
            args(sub, format!("{path} {}", sub.get_name()), out);
        }
    }

    /// sifrun's deferred parts ([`DEFERRED`], oci's) add the arguments of the variant's
    /// own type: the built tree is the derive's, but for runc's two short flags.
    #[test]
    fn deferred_parts_add_the_variants_arguments() {
        let mut derived = Cli::command();
        derived.build(); // with the derive's deferred parts
        let mut want = BTreeMap::new();
        args(&derived, String::new(), &mut want);
        for (path, id, short) in [(" exec", "cap", 'c'), (" list", "format", 'f')] {
            for a in want.get_mut(path).unwrap() {
                if a.starts_with(&format!("{id} ")) {
                    *a = a.replace(" None", &format!(" Some({short:?})"));
                }
            }
        }
        let mut got = BTreeMap::new();
        args(&full_command(), String::new(), &mut got);
        assert_eq!(got, want);
    }

    /// Built, every command keeps the about texts of its variant's doc comment (as the
    /// unbuilt tree lists them), not those of its arguments struct.
    #[test]
    fn deferred_parts_keep_the_variants_about() {
        let built = full_command();
        let mut oci = command().find_subcommand("oci").unwrap().clone();
        let _ = oci.render_usage(); // oci's commands, not built
        for (parent, unbuilt) in [
            (&built, &command()),
            (built.find_subcommand("oci").unwrap(), &oci),
        ] {
            for sub in unbuilt.get_subcommands() {
                let b = parent.find_subcommand(sub.get_name()).unwrap();
                assert_eq!(b.get_about(), sub.get_about(), "{}", sub.get_name());
                assert_eq!(
                    b.get_long_about(),
                    sub.get_long_about(),
                    "{}",
                    sub.get_name()
                );
            }
        }
    }
}
