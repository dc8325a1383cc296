//! `sifrun completion SHELL` and the hidden `sifrun __man DIR`: completion scripts and
//! man pages made from the binary's own clap tree, so they cannot drift from its flags.

use std::fs;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use clap_mangen::roff::{bold, roman, Inline, Roff};

use crate::cli::docs::{Completion, Man};

/// runc's Debian package puts its pages in section 8 (runc-create(8), ...); so do we.
const SECTION: &str = "8";

pub fn completion(a: Completion) -> Result<u8> {
    let mut cmd = visible(&crate::cli::full_command());
    let mut script = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "sifrun", &mut script);
    let mut out = std::io::stdout().lock();
    match out.write_all(&script).and_then(|()| out.flush()) {
        // `sifrun completion bash | head` is not an error
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing stdout"),
        _ => Ok(0),
    }
}

/// The tree without hidden subcommands (`__man`, `oci monitor`): clap_complete would
/// offer them, and clap has no way to drop a subcommand, so the tree is rebuilt. From the
/// built tree (a deferred command has its arguments only once built) without what
/// building added: `--help` and the `help` command, which the new tree gets again.
fn visible(cmd: &clap::Command) -> clap::Command {
    let mut out = clap::Command::new(cmd.get_name().to_string())
        .args(
            cmd.get_arguments()
                .filter(|a| a.get_id() != "help")
                .cloned(),
        )
        .subcommands(
            cmd.get_subcommands()
                .filter(|s| !s.is_hide_set() && s.get_name() != "help")
                .map(visible),
        );
    if let Some(about) = cmd.get_about() {
        out = out.about(about.clone());
    }
    out.visible_aliases(
        cmd.get_visible_aliases()
            .map(str::to_string)
            .collect::<Vec<_>>(),
    )
}

pub fn man(a: Man) -> Result<u8> {
    fs::create_dir_all(&a.dir).with_context(|| format!("creating {}", a.dir.display()))?;
    let mut cmd = crate::cli::command().disable_help_subcommand(true);
    // Gives every subcommand its display name ("sifrun-oci-run") and bin name ("sifrun oci run").
    cmd.build();
    write_pages(&cmd, None, &a.dir)?;
    Ok(0)
}

fn write_pages(cmd: &clap::Command, parent: Option<&str>, dir: &Path) -> Result<()> {
    let page = render(cmd, parent)?;
    let name = page_name(cmd);
    let path = dir.join(format!("{name}.{SECTION}"));
    fs::write(&path, page).with_context(|| format!("writing {}", path.display()))?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, Some(&name), dir)?;
    }
    Ok(())
}

fn page_name(cmd: &clap::Command) -> String {
    cmd.get_display_name()
        .unwrap_or_else(|| cmd.get_name())
        .to_string()
}

/// NAME, SYNOPSIS, DESCRIPTION, OPTIONS (and COMMANDS, NOTES, SEE ALSO), as runc's pages.
fn render(cmd: &clap::Command, parent: Option<&str>) -> Result<String> {
    let name = page_name(cmd);
    let bin = cmd.get_bin_name().unwrap_or_else(|| cmd.get_name());
    let about = cmd.get_about().map(|s| s.to_string()).unwrap_or_default();
    // Written by hand: the roff crate drops the empty date argument.
    let mut page = format!(
        ".TH {name} {SECTION} \"\" \"sifrun {}\" \"sifrun manual\"\n",
        env!("CARGO_PKG_VERSION")
    );
    let mut r = Roff::new();
    r.control("SH", ["NAME"]);
    paragraphs(&mut r, &format!("{name} - {}", first_lower(&about)));

    r.control("SH", ["SYNOPSIS"]);
    let usage = cmd.clone().render_usage().to_string();
    for (i, form) in usage.lines().map(|l| l.trim()).enumerate() {
        let form = form.trim_start_matches("Usage:").trim();
        let rest = form.strip_prefix(bin).unwrap_or(form);
        if i > 0 {
            r.control("br", []);
        }
        r.text([bold(bin), roman(rest.to_string())]);
    }

    r.control("SH", ["DESCRIPTION"]);
    // The long help if there is one, else runc's wording for runc's commands, else `about`.
    let long = cmd.get_long_about().map(|s| s.to_string());
    paragraphs(
        &mut r,
        long.as_deref()
            .or_else(|| description(&name))
            .unwrap_or(&about),
    );

    let mut options = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .section(SECTION)
        .render_options_section(&mut options)?;
    page.push_str(&r.render());
    page.push_str(without_preamble(&String::from_utf8_lossy(&options)));

    let mut r = Roff::new();
    let subs: Vec<_> = cmd.get_subcommands().filter(|s| !s.is_hide_set()).collect();
    if !subs.is_empty() {
        r.control("SH", ["COMMANDS"]);
        for sub in &subs {
            r.control("TP", []);
            r.text([bold(page_name(sub)), roman(format!("({SECTION})"))]);
            paragraphs(
                &mut r,
                &sub.get_about().map(|s| s.to_string()).unwrap_or_default(),
            );
        }
    }
    if let Some(after) = cmd.get_after_long_help().or_else(|| cmd.get_after_help()) {
        r.control("SH", ["NOTES"]);
        paragraphs(&mut r, &after.to_string());
    }
    r.control("SH", ["SEE ALSO"]);
    let mut see: Vec<Vec<Inline>> = Vec::new();
    if let Some(p) = parent {
        see.push(vec![bold(p), roman(format!("({SECTION})"))]);
    }
    for rel in related(&name) {
        see.push(vec![bold(*rel), roman(format!("({SECTION})"))]);
    }
    // The runc-compatible commands have runc's page as a counterpart.
    if parent == Some("sifrun") && description(&name).is_some() {
        see.push(vec![
            bold(name.replacen("sifrun", "runc", 1)),
            roman(format!("({SECTION})")),
        ]);
    }
    if parent.is_none() {
        see.push(vec![bold("runc"), roman(format!("({SECTION})"))]);
    }
    let n = see.len();
    for (i, mut item) in see.into_iter().enumerate() {
        item.push(roman(if i + 1 < n { "," } else { "" }));
        r.text(item);
    }
    page.push_str(without_preamble(&r.render()));
    Ok(page)
}

/// Each rendered piece starts with the same two-line string definition; once is enough.
fn without_preamble(piece: &str) -> &str {
    let mut rest = piece;
    for _ in 0..2 {
        if rest.starts_with(".ie ") || rest.starts_with(".el ") {
            rest = rest.split_once('\n').map_or("", |(_, r)| r);
        }
    }
    rest
}

/// Text with blank-line paragraphs; `code` spans become bold, as in runc's pages.
fn paragraphs(r: &mut Roff, text: &str) {
    for (i, para) in text.split("\n\n").enumerate() {
        if i > 0 {
            r.control("PP", []);
        }
        let joined = para.split_whitespace().collect::<Vec<_>>().join(" ");
        let inlines: Vec<Inline> = joined
            .split('`')
            .enumerate()
            .filter(|(_, s)| !s.is_empty())
            .map(|(j, s)| if j % 2 == 1 { bold(s) } else { roman(s) })
            .collect();
        r.text(inlines);
    }
}

/// "Create a container" -> "create a container" (runc's NAME lines are lower case).
fn first_lower(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        // "OCI ..." stays as it is
        Some(f) if !c.clone().next().is_some_and(|n| n.is_uppercase()) => {
            f.to_lowercase().chain(c).collect()
        }
        _ => s.to_string(),
    }
}

/// runc's DESCRIPTION paragraphs for the commands that behave as runc's, in our words.
fn description(page: &str) -> Option<&'static str> {
    Some(match page {
        "sifrun-create" => "The `create` command creates an instance of a container from a bundle. \
The bundle is a directory with a specification file named config.json and a root filesystem. \
The container's process waits until `sifrun start` runs it.",
        "sifrun-start" => "The `start` command executes the process defined in config.json in a \
container previously created by `sifrun create`.",
        "sifrun-state" => "The `state` command outputs current state information for the specified \
container-id in a JSON format (runc's: ociVersion, id, pid, status, bundle, rootfs, created, owner).",
        "sifrun-kill" => "By default, `sifrun kill` sends SIGTERM to the container's initial process \
only. A different signal can be specified either by its name (with or without the SIG prefix), \
or its numeric value. With `--all`, the signal goes to every process of the container.",
        "sifrun-delete" => "The `delete` command deletes any resources held by the container, often \
used with detached containers. A running container is refused unless `--force` is given, which \
kills it first (SIGKILL).",
        "sifrun-run" => "The `run` command creates an instance of a container from a bundle, and \
starts it. You can think of `run` as a shortcut for `create` followed by `start`. In the \
foreground (the default), sifrun waits for the container and exits with its exit code.",
        "sifrun-exec" => "The `exec` command executes a new process inside the container \
container-id: the command and arguments given, or the process described in a process.json file \
with `--process`.",
        "sifrun-list" => "The `list` command lists containers. Note that the global `--root` option \
can be specified to change the default root; see sifrun(8).",
        "sifrun-ps" => "The command `ps` is a wrapper around the stock ps(1) utility, which filters \
its output to only contain processes belonging to the specified container-id. Therefore, the PIDs \
shown are the host PIDs. With `--format json`, it prints the PIDs as a JSON array.",
        "sifrun-pause" => "The `pause` command suspends all processes in the instance of the \
container identified by container-id. Use `sifrun list` to identify instances of containers and \
their current status.",
        "sifrun-resume" => "The `resume` command resumes all processes in the instance of the \
container identified by container-id. Use `sifrun list` to identify instances of containers and \
their current status.",
        "sifrun-events" => "The `events` command displays information about the container. By \
default, it works continuously, displaying stats every 5 seconds, and container events (OOM) as \
they occur. With `--stats`, it prints the statistics once and exits.",
        "sifrun-update" => "The `update` command changes the resource constraints of a running \
container instance. The resources can be set using options, or, if `-r` is used, parsed from \
JSON (the runtime spec's LinuxResources) provided as a file or from stdin (`-r -`).",
        "sifrun-spec" => "The `spec` command creates the new specification file named config.json \
for the bundle. The spec generated is just a starter file (runc's): its args call `sh`, which \
exists in a busybox container but not in every image. `--rootless` writes a spec for a user \
without root.",
        "sifrun-features" => "The `features` command prints the runtime-spec features document \
(JSON): the namespaces, capabilities, mount options, seccomp actions and cgroup controllers \
sifrun knows.",
        "sifrun-checkpoint" => "The `checkpoint` command saves the state of the running container \
instance with the help of the criu(8) tool, to be restored later.",
        "sifrun-restore" => "Restores the container instance from a previously performed \
`sifrun checkpoint`.",
        _ => return None,
    })
}

/// SEE ALSO beyond the parent, as runc's pages cross-reference.
fn related(page: &str) -> &'static [&'static str] {
    match page {
        "sifrun-create" => &["sifrun-spec", "sifrun-start"],
        "sifrun-start" => &["sifrun-create"],
        "sifrun-run" => &["sifrun-create", "sifrun-start"],
        "sifrun-delete" => &["sifrun-kill"],
        "sifrun-pause" => &["sifrun-list", "sifrun-resume"],
        "sifrun-resume" => &["sifrun-list", "sifrun-pause"],
        "sifrun-ps" => &["sifrun-list"],
        "sifrun-spec" => &["sifrun-run"],
        "sifrun-checkpoint" => &["sifrun-restore"],
        "sifrun-restore" => &["sifrun-checkpoint"],
        "sifrun-mount" => &["sifrun-umount", "sifrun-oci-run"],
        "sifrun-umount" => &["sifrun-mount"],
        _ => &[],
    }
}
