//! `hack/install.sh` (into a private prefix, with the built binary), the man pages and
//! completion scripts it installs (`sifrun __man`, `sifrun completion`), `--uninstall`,
//! and bash completion typed in a real terminal (tmux).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn sh(script: &str) -> std::process::Output {
    Command::new("bash").arg("-c").arg(script).output().unwrap()
}

fn install(prefix: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(repo().join("hack/install.sh"))
        .arg("--no-build")
        .arg("--prefix")
        .arg(prefix)
        .args(extra)
        .env("SIFRUN", SIFRUN)
        .output()
        .unwrap()
}

fn missing(tool: &str) -> bool {
    let gone = !have(tool);
    if gone {
        eprintln!("skipped: no {tool}");
    }
    gone
}

/// Every file (not directory) below `dir`.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() && !p.is_symlink() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn install_man_completions_then_uninstall() {
    if missing("man") {
        return;
    }
    let t = TmpDir::new("install");
    let prefix = t.join("prefix");
    let o = install(&prefix, &[]);
    assert_ok(&o, "hack/install.sh --no-build --prefix");
    assert!(prefix.join("bin/sifrun").is_file());

    // man pages resolve under the prefix, for runc's commands and sifrun's own
    let man = prefix.join("share/man");
    for page in [
        "sifrun",
        "sifrun-create",
        "sifrun-oci-run",
        "sifrun-sif-verify",
    ] {
        let o = Command::new("man")
            .arg("-M")
            .arg(&man)
            .args(["-w", page])
            .output()
            .unwrap();
        assert_ok(&o, &format!("man -w {page}"));
        assert!(
            stdout(&o).contains(&format!("man8/{page}.8")),
            "man -w {page}: {}",
            stdout(&o)
        );
    }
    // the rendered page has runc's sections and the real option text from clap
    let o = sh(&format!(
        "MANWIDTH=200 man -M '{}' sifrun-create 2>&1",
        man.display()
    ));
    let text = stdout(&o);
    for want in [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "OPTIONS",
        "sifrun create [OPTIONS] <CONTAINER_ID>",
        "--pid-file",
        "Pass N additional file descriptors to the container",
        "runc-create(8)",
    ] {
        assert!(
            text.contains(want),
            "{want:?} not in sifrun-create(8):\n{text}"
        );
    }

    // completions: files in place; bash's registers a completion for sifrun
    let bash = prefix.join("share/bash-completion/completions/sifrun");
    for f in [
        &bash,
        &prefix.join("share/zsh/site-functions/_sifrun"),
        &prefix.join("share/fish/vendor_completions.d/sifrun.fish"),
    ] {
        assert!(f.is_file(), "{} missing", f.display());
    }
    let o = sh(&format!(
        "source '{}' && complete -p sifrun",
        bash.display()
    ));
    assert_ok(&o, "complete -p sifrun");
    assert!(stdout(&o).contains("-F _sifrun sifrun"), "{}", stdout(&o));

    // examples carry this installation's path; the site config went to PREFIX/etc
    let ex = prefix.join("share/doc/sifrun/examples");
    let podman = std::fs::read_to_string(ex.join("podman-containers.conf")).unwrap();
    assert!(podman.contains(&format!("sifrun = [\"{}/bin/sifrun\"]", prefix.display())));
    assert!(prefix.join("etc/sifrun/sifrun.toml").is_file());

    // idempotent: a second install lists the same files
    let manifest = prefix.join("share/sifrun/install-manifest");
    let before = std::fs::read_to_string(&manifest).unwrap();
    assert_ok(&install(&prefix, &[]), "second install");
    assert_eq!(std::fs::read_to_string(&manifest).unwrap(), before);

    // uninstall removes everything it put there, the directories too
    assert_ok(&install(&prefix, &["--uninstall"]), "--uninstall");
    let left = files_under(&t.path);
    assert!(left.is_empty(), "left after --uninstall: {left:?}");
    assert!(!prefix.exists(), "the prefix it created is left");
}

#[test]
fn uninstall_keeps_an_edited_site_config_and_what_was_there() {
    let t = TmpDir::new("install-keep");
    let prefix = t.join("prefix");
    std::fs::create_dir_all(prefix.join("share/man/man8")).unwrap();
    std::fs::write(prefix.join("share/man/man8/other.8"), "x").unwrap();
    assert_ok(&install(&prefix, &[]), "install");
    let conf = prefix.join("etc/sifrun/sifrun.toml");
    std::fs::write(&conf, "[verify]\nmandatory = true\n").unwrap();
    // an existing site config is not overwritten by another install
    assert_ok(&install(&prefix, &[]), "reinstall");
    assert_eq!(
        std::fs::read_to_string(&conf).unwrap(),
        "[verify]\nmandatory = true\n"
    );
    let o = install(&prefix, &["--uninstall"]);
    assert_ok(&o, "--uninstall");
    assert!(stdout(&o).contains("kept"), "{}", stdout(&o));
    let mut left = files_under(&t.path);
    left.sort();
    assert_eq!(left, vec![conf, prefix.join("share/man/man8/other.8")]);
}

// ---------------------------------------------------------------------------------
// bash completion in a terminal

/// A tmux server of its own (private socket), killed when dropped, also on failure.
struct Tmux {
    socket: String,
    session: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> String {
        let mut tmux = Command::new("tmux");
        let out = tmux.args(["-L", &self.socket]).args(args).output().unwrap();
        assert_ok(&out, &format!("tmux {args:?}"));
        stdout(&out)
    }
    fn pane(&self) -> String {
        self.cmd(&["capture-pane", "-p", "-J", "-t", &self.session])
    }
    /// Waits until the pane's last non-empty line is `want`; fails with the pane.
    fn wait_line(&self, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = self.pane();
            let last = text
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            if last.trim_end() == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {want:?}; pane:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        for args in [&["kill-session", "-t", &self.session][..], &["kill-server"]] {
            let _ = Command::new("tmux")
                .args(["-L", &self.socket])
                .args(args)
                .output();
        }
    }
}

#[test]
fn bash_completes_commands_and_flags_in_tmux() {
    if missing("tmux") {
        return;
    }
    let o = Command::new(SIFRUN)
        .args(["completion", "bash"])
        .output()
        .unwrap();
    assert_ok(&o, "sifrun completion bash");
    let t = TmpDir::new("complete");
    let script = t.join("sifrun.bash");
    std::fs::write(&script, &o.stdout).unwrap();

    let id = unique_id("cmpl");
    let tm = Tmux {
        socket: id.clone(),
        session: id,
    };
    let home = t.path.display().to_string();
    tm.cmd(&[
        "new-session",
        "-d",
        "-s",
        &tm.session,
        "-x",
        "200",
        "-y",
        "20",
        "env",
        "-i",
        &format!("HOME={home}"),
        "HISTFILE=/dev/null",
        "TERM=xterm",
        "PS1=$ ",
        "bash",
        "--norc",
        "--noprofile",
    ]);
    tm.cmd(&[
        "send-keys",
        "-t",
        &tm.session,
        &format!("source {} && clear", script.display()),
        "Enter",
    ]);
    tm.wait_line("$");

    tm.cmd(&["send-keys", "-t", &tm.session, "sifrun cre", "Tab"]);
    tm.wait_line("$ sifrun create");
    tm.cmd(&["send-keys", "-t", &tm.session, "C-u"]);
    tm.wait_line("$");

    tm.cmd(&["send-keys", "-t", &tm.session, "sifrun run --bu", "Tab"]);
    tm.wait_line("$ sifrun run --bundle");
    tm.cmd(&["send-keys", "-t", &tm.session, "C-u"]);

    // a nested command: sifrun oci ru<TAB> -> run
    tm.cmd(&["send-keys", "-t", &tm.session, "sifrun oci ru", "Tab"]);
    tm.wait_line("$ sifrun oci run");
    tm.cmd(&["send-keys", "-t", &tm.session, "C-u"]);
}
