//! The global side of the CLI: `--version`/`-v`, `--help` listing every command, and
//! `--log FILE` with `--log-format json|text` (what containerd's shim reads).

use crate::common::*;

#[test]
fn version_and_help() {
    let o = std::process::Command::new(SIFRUN)
        .arg("--version")
        .output()
        .unwrap();
    assert_ok(&o, "--version");
    let text = stdout(&o);
    assert!(text.starts_with("sifrun version "), "{text}");
    assert!(
        text.contains("\ncommit: ") && text.contains("\nspec: 1."),
        "{text}"
    );
    let o = std::process::Command::new(SIFRUN)
        .arg("-v")
        .output()
        .unwrap();
    assert_eq!(stdout(&o), text);
    let o = std::process::Command::new(SIFRUN)
        .arg("--help")
        .output()
        .unwrap();
    for cmd in [
        "create",
        "start",
        "state",
        "kill",
        "delete",
        "run",
        "exec",
        "list",
        "ps",
        "pause",
        "resume",
        "events",
        "update",
        "spec",
        "features",
        "checkpoint",
        "restore",
        "mount",
    ] {
        assert!(stdout(&o).contains(cmd), "--help lacks {cmd}");
    }
}

/// The commands' arguments are built only for the command in use (clap's `defer`);
/// `CMD --help` still starts with the command's own description, as in `--help`.
#[test]
fn subcommand_help_keeps_command_description() {
    for (args, first) in [
        (
            &["create", "--help"][..],
            "Create a container (the process waits for `start`)",
        ),
        (
            &["state", "--help"][..],
            "Print the state of a container as JSON",
        ),
        (
            &["help", "exec"][..],
            "Run a new process inside a running container",
        ),
        (
            &["oci", "state", "--help"][..],
            "Print the container's state JSON",
        ),
    ] {
        let o = std::process::Command::new(SIFRUN)
            .args(args)
            .output()
            .unwrap();
        assert_ok(&o, &args.join(" "));
        let text = stdout(&o);
        assert!(text.starts_with(first), "{args:?}: {text}");
        assert!(text.contains("Usage: "), "{args:?}: {text}");
    }
}

#[test]
fn log_file_json_and_text_formats() {
    let rt = Runtime::new();
    let log = rt.root.join("log.json");
    let o = rt.run([
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "state",
        "missing-one",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o).lines().count(), 1);
    let text = std::fs::read_to_string(&log).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "error");
    assert!(last["msg"].as_str().unwrap().contains("does not exist"));
    assert!(last["time"].as_str().is_some());
    let log = rt.root.join("log.txt");
    let o = rt.run([
        "--log",
        log.to_str().unwrap(),
        "kill",
        "missing-one",
        "KILL",
    ]);
    assert!(!o.status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.starts_with("time=\"") && text.contains("level=error msg="),
        "{text}"
    );
}
