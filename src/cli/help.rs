//! Help texts for the flags whose definitions come from liboci-cli (a crates.io
//! dependency, not vendored): its texts are youki's, so sifrun's replace them here,
//! in runc's words where sifrun does what runc does (docs/runc-flags.md).

use clap::Command;

/// (command, argument id, help). The command is "" for the global flags.
const TEXTS: &[(&str, &str, &str)] = &[
    (
        "",
        "log",
        "Set the log file to write sifrun's logs to [default: /dev/stderr]",
    ),
    ("", "debug", "Enable debug logging"),
    (
        "",
        "log_format",
        "Set the log format: 'text' or 'json' [default: text]",
    ),
    (
        "",
        "root",
        "Root directory for storage of container state (should be on tmpfs) \
         [default: /run/sifrun; $XDG_RUNTIME_DIR/sifrun for other users]",
    ),
    (
        "",
        "systemd_cgroup",
        "Enable systemd cgroup support: cgroupsPath is then of the form \"slice:prefix:name\", \
         e.g. \"system.slice:sifrun:434234\"",
    ),
    (
        "run",
        "no_subreaper",
        "Do not make sifrun a subreaper for reparented processes",
    ),
    ("run", "keep", "Do not delete the container after it exits"),
    ("run", "detach", "Detach from the container's process"),
    ("exec", "console_socket", CONSOLE_SOCKET),
    ("exec", "cwd", "Current working directory in the container"),
    (
        "exec",
        "env",
        "Set an environment variable, NAME=VALUE (repeatable)",
    ),
    ("exec", "tty", "Allocate a pseudo-TTY"),
    ("exec", "user", "UID (format: <uid>[:<gid>])"),
    ("exec", "additional_gids", "An additional gid (repeatable)"),
    ("exec", "process", "Path to the process.json"),
    ("exec", "detach", "Detach from the container's process"),
    ("exec", "pid_file", PID_FILE),
    (
        "exec",
        "process_label",
        "Set the asm process label for the process (SELinux)",
    ),
    (
        "exec",
        "apparmor",
        "Set the apparmor profile for the process",
    ),
    (
        "exec",
        "no_new_privs",
        "Set the no new privileges value for the process",
    ),
    (
        "exec",
        "cap",
        "Add a capability to the bounding set for the process (repeatable)",
    ),
    ("exec", "preserve_fds", PRESERVE_FDS),
    ("exec", "ignore_paused", "Allow exec in a paused container"),
    (
        "exec",
        "cgroup",
        "Run the process in an (existing) sub-cgroup; format: [<controller>:]<cgroup>",
    ),
    ("exec", "container_id", ID),
    ("exec", "command", "The command to run and its arguments"),
    ("start", "container_id", ID),
    ("state", "container_id", ID),
    ("pause", "container_id", ID),
    ("resume", "container_id", ID),
    ("delete", "container_id", ID),
    (
        "delete",
        "force",
        "Forcibly delete the container if it is still running (uses SIGKILL)",
    ),
    ("list", "format", "Select one of: table or json"),
    ("list", "quiet", "Display only container IDs"),
    ("ps", "format", "Select one of: table or json"),
    ("ps", "container_id", ID),
    ("ps", "ps_options", "Options for ps(1) [default: -ef]"),
    (
        "spec",
        "bundle",
        "Path to the root of the bundle directory [default: .]",
    ),
    (
        "spec",
        "rootless",
        "Generate a configuration for a rootless container",
    ),
    (
        "checkpoint",
        "image_path",
        "Path for saving criu image files",
    ),
    (
        "checkpoint",
        "work_path",
        "Path for saving work files and logs",
    ),
    (
        "checkpoint",
        "leave_running",
        "Leave the process running after checkpointing",
    ),
    (
        "checkpoint",
        "tcp_established",
        "Allow open tcp connections",
    ),
    (
        "checkpoint",
        "link_remap",
        "Allow criu to link unlinked files back when possible",
    ),
    ("checkpoint", "ext_unix_sk", "Allow external unix sockets"),
    ("checkpoint", "shell_job", "Allow shell jobs"),
    ("checkpoint", "file_locks", "Handle file locks, for safety"),
    ("checkpoint", "manage_cgroups_mode", "Cgroups mode for criu"),
    ("checkpoint", "container_id", ID),
];

/// Flags `create` and `run` share (liboci-cli defines them twice).
const CREATE_RUN: &[(&str, &str)] = &[
    ("bundle", BUNDLE),
    ("console_socket", CONSOLE_SOCKET),
    ("pid_file", PID_FILE),
    ("no_pivot", NO_PIVOT),
    ("no_new_keyring", NO_NEW_KEYRING),
    ("preserve_fds", PRESERVE_FDS),
    ("container_id", ID),
];

/// [`TEXTS`] and [`CREATE_RUN`] for both commands.
fn texts() -> impl Iterator<Item = (&'static str, &'static str, &'static str)> {
    let shared = ["create", "run"]
        .into_iter()
        .flat_map(|c| CREATE_RUN.iter().map(move |&(id, text)| (c, id, text)));
    TEXTS.iter().copied().chain(shared)
}

const ID: &str = "The container's id";
const BUNDLE: &str =
    "Path to the root of the bundle directory (config.json and the root filesystem)";
const CONSOLE_SOCKET: &str = "Path to an AF_UNIX socket which will receive a file descriptor \
                              referencing the master end of the console's pseudoterminal";
const PID_FILE: &str = "Specify the file to write the process id to";
const NO_PIVOT: &str = "Do not use pivot_root to jail the process inside rootfs (for a rootfs \
                        on a ramdisk)";
const NO_NEW_KEYRING: &str = "Do not create a new session keyring for the container: it \
                              inherits the calling process's session keyring";
const PRESERVE_FDS: &str =
    "Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)";

/// Short flags runc has and liboci-cli's definitions lack.
const SHORTS: &[(&str, &str, char)] = &[("exec", "cap", 'c'), ("list", "format", 'f')];

/// A subcommand's deferred part: clap runs it when it builds that subcommand.
pub type Deferred = fn(Command) -> Command;

/// The derived command line with sifrun's texts: the global flags' now, each command's in
/// the deferred part `table` gives it (`defer`: a command's arguments exist only once clap
/// builds it, and a built command's arguments cannot be changed, as clap's index of them
/// would go stale).
pub fn apply(mut cmd: Command, table: &[(&str, Deferred)]) -> Command {
    for (_, id, text) in texts().filter(|t| t.0.is_empty()) {
        cmd = cmd.mut_arg(id, |a| a.help(text));
    }
    cmd = install(cmd, table);
    // The generated docs (sifrun.8's COMMANDS, the completion scripts) list the commands
    // in clap's vector order. Keep the order they have had since the texts were applied
    // with `mut_subcommand`, which moved each command it changed to the end.
    for name in MOVED_LAST {
        cmd = cmd.mut_subcommand(name, |c| c);
    }
    cmd
}

const MOVED_LAST: [&str; 12] = [
    "start",
    "state",
    "pause",
    "resume",
    "delete",
    "ps",
    "spec",
    "checkpoint",
    "create",
    "run",
    "exec",
    "list",
];

/// Gives each subcommand named in `table` its deferred part (in place: the order stays).
pub fn install(mut cmd: Command, table: &[(&str, Deferred)]) -> Command {
    for &(name, deferred) in table {
        let sub = cmd
            .find_subcommand_mut(name)
            .unwrap_or_else(|| panic!("no subcommand {name}"));
        *sub = std::mem::take(sub).defer(deferred);
    }
    cmd
}

/// The deferred part of a top-level command whose arguments are `T`'s (the type comes
/// from the enum variant, `texted(Command::Exec)`): `T`'s arguments with sifrun's texts.
pub const fn texted<T: clap::Args, V>(_variant: fn(T) -> V) -> Deferred {
    texted_part::<T>
}

fn texted_part<T: clap::Args>(cmd: Command) -> Command {
    keep_about(cmd, |c| texts_of(T::augment_args(c)))
}

/// The same without texts (`oci` commands).
pub const fn plain<T: clap::Args, V>(_variant: fn(T) -> V) -> Deferred {
    plain_part::<T>
}

fn plain_part<T: clap::Args>(cmd: Command) -> Command {
    keep_about(cmd, T::augment_args)
}

/// Runs `augment` keeping the about texts from the variant's doc comment: the derive
/// applies them before a deferred part runs, so the arguments struct's own doc comment
/// (liboci-cli's `Start`: "Start a previously created container") would replace them;
/// built whole, clap applies the variant's last.
pub fn keep_about(cmd: Command, augment: impl FnOnce(Command) -> Command) -> Command {
    let (about, long) = (cmd.get_about().cloned(), cmd.get_long_about().cloned());
    let cmd = augment(cmd);
    let Some(about) = about else {
        return cmd;
    };
    let cmd = cmd.about(about);
    match long {
        Some(l) => cmd.long_about(l),
        None => cmd.long_about(None::<&str>),
    }
}

/// The texts and short flags of the top-level command `cmd`.
fn texts_of(mut cmd: Command) -> Command {
    let name = cmd.get_name().to_string();
    for (_, id, text) in texts().filter(|t| t.0 == name) {
        cmd = cmd.mut_arg(id, |a| a.help(text));
    }
    for &(_, id, short) in SHORTS.iter().filter(|t| t.0 == name) {
        cmd = cmd.mut_arg(id, |a| a.short(short));
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every help text of every command, long form.
    fn all_help(mut cmd: Command, out: &mut String) {
        out.push_str(&cmd.render_long_help().to_string());
        for sub in cmd.get_subcommands() {
            all_help(sub.clone(), out);
        }
    }

    #[test]
    fn texts_name_sifrun() {
        let mut text = String::new();
        all_help(crate::cli::full_command(), &mut text);
        for bad in ["youki", "rather then", "rool", "path ,"] {
            assert!(!text.contains(bad), "help text contains {bad:?}");
        }
        crate::cli::command().debug_assert();
    }

    #[test]
    fn every_override_names_an_argument() {
        let cmd = crate::cli::full_command();
        for (path, id, _) in texts() {
            let mut c = &cmd;
            for name in path.split_whitespace() {
                c = c.find_subcommand(name).unwrap();
            }
            assert!(c.get_arguments().any(|a| a.get_id() == id), "{path} {id}");
        }
    }
}
