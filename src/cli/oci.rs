//! `sifrun oci ...` arguments: the lifecycle of `singularity oci`.

use clap::{Args, Subcommand};

use super::help;
use sifrun::image;
use sifrun::oci::{attach, create, delete, exec, kill, logs, monitor, run, update};

#[derive(Args, Debug)]
#[command(after_help = "\
`sifrun oci mount IMAGE BUNDLE` makes a bundle; `sifrun oci create -b BUNDLE ID` creates the \
container with its stdio held by a small monitor process, which keeps the output in \
<root>/.oci/ID/container.log (kubernetes log format) and serves `sifrun oci attach ID` \
(detach with Ctrl-P Ctrl-Q). `start`, `state`, `kill`, `exec`, `pause`, `resume`, `update` \
and `delete` work on those containers; `state` shows the exit code once the process is gone \
(annotation `sifrun.oci.exit-code`). `sifrun oci run --image IMAGE.sif ID [-- ARGS...]` \
mounts, runs in the foreground and cleans up in one step.")]
pub struct Oci {
    #[command(subcommand)]
    pub command: OciCommand,
}

/// `oci`'s deferred part: its commands, each deferred in turn (as the top-level ones, see
/// cli/mod.rs), the about texts of the variants' doc comments kept.
pub fn deferred(cmd: clap::Command) -> clap::Command {
    help::keep_about(cmd, |c| help::install(Oci::augment_args(c), DEFERRED))
}

const DEFERRED: &[(&str, help::Deferred)] = &[
    ("mount", help::plain(OciCommand::Mount)),
    ("umount", help::plain(OciCommand::Umount)),
    ("create", help::plain(OciCommand::Create)),
    ("start", help::plain(OciCommand::Start)),
    ("state", help::plain(OciCommand::State)),
    ("attach", help::plain(OciCommand::Attach)),
    ("logs", help::plain(OciCommand::Logs)),
    ("kill", help::plain(OciCommand::Kill)),
    ("delete", help::plain(OciCommand::Delete)),
    ("exec", help::plain(OciCommand::Exec)),
    ("run", help::plain(OciCommand::Run)),
    ("pause", help::plain(OciCommand::Pause)),
    ("resume", help::plain(OciCommand::Resume)),
    ("update", help::plain(OciCommand::Update)),
    ("monitor", help::plain(OciCommand::Monitor)),
];

#[derive(Subcommand, Debug)]
#[command(defer = true)]
pub enum OciCommand {
    /// Turn a SIF or OCI-SIF image into a bundle (same as `sifrun mount`)
    Mount(image::Mount),
    /// Undo `oci mount` (same as `sifrun umount`)
    Umount(image::Umount),
    /// Create a container whose stdio is held by a monitor (log + attach socket)
    Create(create::Create),
    /// Start a created container's process
    Start(liboci_cli::Start),
    /// Print the container's state JSON (with its exit code once it has exited)
    State(liboci_cli::State),
    /// Connect the terminal to the container's stdio; Ctrl-P Ctrl-Q detaches
    Attach(attach::Attach),
    /// Print the output the container's process wrote so far
    Logs(logs::Logs),
    /// Send a signal to the container's process (default SIGTERM)
    Kill(kill::Kill),
    /// Delete a container and its monitor's files
    Delete(delete::Delete),
    /// Run a command in a running container
    Exec(exec::Exec),
    /// Create, start and wait for a container in the foreground, then delete it
    Run(run::Run),
    /// Suspend the container's processes
    Pause(liboci_cli::Pause),
    /// Resume a paused container
    Resume(liboci_cli::Resume),
    /// Change the container's resource limits (LinuxResources JSON)
    Update(update::Update),
    /// The monitor process behind `oci create` (internal)
    #[command(hide = true)]
    Monitor(monitor::MonitorArgs),
}

impl OciCommand {
    /// Whether the command's processes enter a container (so need the sealed binary).
    pub fn enters_container(&self) -> bool {
        matches!(
            self,
            OciCommand::Create(_)
                | OciCommand::Run(_)
                | OciCommand::Exec(_)
                | OciCommand::Monitor(_)
        )
    }
}
