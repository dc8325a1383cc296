//! Help texts for the flags whose definitions come from liboci-cli (a crates.io
//! dependency, not vendored): its texts are youki's, so sifrun's replace them here,
//! in runc's words where sifrun does what runc does (docs/runc-flags.md).

use clap::Command;

/// (command path, argument id, help). The path is "" for the global flags.
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

/// The derived command line with sifrun's texts.
pub fn apply(mut cmd: Command) -> Command {
    for (path, id, text) in texts() {
        cmd = at(cmd, path, &|c| c.mut_arg(id, |a| a.help(text)));
    }
    for &(path, id, short) in SHORTS {
        cmd = at(cmd, path, &|c| c.mut_arg(id, |a| a.short(short)));
    }
    cmd
}

/// Applies `f` to the subcommand at `path` (names separated by spaces).
fn at(cmd: Command, path: &str, f: &dyn Fn(Command) -> Command) -> Command {
    match path.split_once(' ') {
        _ if path.is_empty() => f(cmd),
        Some((first, rest)) => cmd.mut_subcommand(first, |c| at(c, rest, f)),
        None => cmd.mut_subcommand(path, f),
    }
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
        all_help(crate::cli::command(), &mut text);
        for bad in ["youki", "rather then", "rool", "path ,"] {
            assert!(!text.contains(bad), "help text contains {bad:?}");
        }
        crate::cli::command().debug_assert();
    }

    #[test]
    fn every_override_names_an_argument() {
        let cmd = crate::cli::command();
        for (path, id, _) in texts() {
            let mut c = &cmd;
            for name in path.split_whitespace() {
                c = c.find_subcommand(name).unwrap();
            }
            assert!(c.get_arguments().any(|a| a.get_id() == id), "{path} {id}");
        }
    }
}
