//! runc's flag syntax (urfave/cli over Go's `flag` package), run on runc 1.1 and sifrun
//! side by side: `-root` for `--root`, `--flag=value`, booleans given `=true`/`=false`,
//! Go durations for `events --interval`, repeated flags (the last wins); and every
//! help text in sifrun's words (docs/runc-flags.md).

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::common::*;

const RUNC: &str = "/usr/sbin/runc";

/// One runtime with its own state root.
struct Rt {
    bin: &'static str,
    root: TmpDir,
}

impl Rt {
    fn both() -> Vec<Rt> {
        [RUNC, SIFRUN]
            .into_iter()
            .map(|bin| Rt {
                bin,
                root: TmpDir::new("cli-flags-root"),
            })
            .collect()
    }

    /// `BIN ARGS…`, where "ROOT" in an argument is replaced by the state root.
    fn run(&self, args: &[&str]) -> Output {
        let root = self.root.path.to_str().unwrap();
        let mut c = Command::new(self.bin);
        c.args(args.iter().map(|a| a.replace("ROOT", root)));
        c.stdin(Stdio::null());
        output_with_timeout(c, Duration::from_secs(60))
    }

    fn name(&self) -> &str {
        Path::new(self.bin).file_name().unwrap().to_str().unwrap()
    }
}

impl Drop for Rt {
    fn drop(&mut self) {
        if let Ok(rd) = std::fs::read_dir(&self.root.path) {
            for e in rd.flatten() {
                let id = e.file_name().to_string_lossy().into_owned();
                let _ = self.run(&["--root", "ROOT", "delete", "--force", &id]);
            }
        }
    }
}

fn runc_present() -> bool {
    if !Path::new(RUNC).exists() {
        eprintln!("skipped: no {RUNC}");
        return false;
    }
    true
}

#[test]
fn global_flags_in_runc_spellings() {
    if !require_root() || !runc_present() {
        return;
    }
    for rt in Rt::both() {
        let n = rt.name().to_string();
        for args in [
            &["-root", "ROOT", "list"][..],
            &["--root=ROOT", "list"],
            &["-root=ROOT", "-debug", "list"],
            &["--debug=true", "--root", "ROOT", "list"],
            &[
                "--debug=false",
                "--root",
                "ROOT",
                "list",
                "-format",
                "table",
            ],
            // repeated: the last one wins
            &["--root", "/nonexistent/cli-flags", "--root", "ROOT", "list"],
            &["--root", "ROOT", "list", "-q=false"],
        ] {
            let o = rt.run(args);
            assert_ok(&o, &format!("{n} {args:?}"));
            assert!(
                stdout(&o).starts_with("ID "),
                "{n} {args:?}: {}",
                stdout(&o)
            );
        }
        for args in [
            &["--root", "ROOT", "list", "-q=true"][..],
            &["--root", "ROOT", "list", "--quiet=1"],
        ] {
            let o = rt.run(args);
            assert_ok(&o, &format!("{n} {args:?}"));
            assert_eq!(stdout(&o), "", "{n} {args:?}");
        }
        // Go's ParseBool takes 1/t/true/..., not "yes"
        let o = rt.run(&["--root", "ROOT", "list", "--quiet=yes"]);
        assert_eq!(o.status.code(), Some(1), "{n}: {}", stderr(&o));
    }
}

#[test]
fn lifecycle_flags_in_runc_spellings() {
    if !require_root() || !runc_present() {
        return;
    }
    for rt in Rt::both() {
        let n = rt.name().to_string();
        let id = unique_id("cli-flags");
        let b = Bundle::sleeper(&id);
        let bundle = b.path().to_str().unwrap();
        let o = rt.run(&[
            "-root",
            "ROOT",
            "run",
            "-bundle",
            bundle,
            "--detach=true",
            &id,
        ]);
        assert_ok(&o, &format!("{n} run --detach=true"));
        let o = rt.run(&["--root", "ROOT", "state", &id]);
        assert_ok(&o, &format!("{n} state"));
        assert!(stdout(&o).contains("\"running\""), "{n}: {}", stdout(&o));

        // events: Go durations; a bare number is not one
        for interval in ["1s", "500ms", "1m30s", "1.5h"] {
            let o = rt.run(&[
                "--root",
                "ROOT",
                "events",
                "--interval",
                interval,
                "--stats",
                &id,
            ]);
            assert_ok(&o, &format!("{n} events --interval {interval}"));
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
                panic!("{n} events --interval {interval}: {e}: {}", stdout(&o))
            });
            assert_eq!(v["type"], "stats", "{n}");
        }
        let o = rt.run(&[
            "--root",
            "ROOT",
            "events",
            "-interval=2s",
            "-stats=true",
            &id,
        ]);
        assert_ok(&o, &format!("{n} events -interval=2s -stats=true"));
        let o = rt.run(&[
            "--root",
            "ROOT",
            "events",
            "--interval",
            "1",
            "--stats",
            &id,
        ]);
        assert_eq!(
            o.status.code(),
            Some(1),
            "{n} events --interval 1: {}",
            stderr(&o)
        );

        // exec: a repeated flag (runc refuses -e and --env mixed), single-dash long
        // flags, a false boolean
        let o = rt.run(&[
            "--root",
            "ROOT",
            "exec",
            "-env",
            "A=1",
            "--env",
            "B=2",
            "--tty=false",
            "-cwd",
            "/tmp",
            &id,
            "sh",
            "-c",
            "echo $A$B; pwd",
        ]);
        assert_ok(&o, &format!("{n} exec"));
        assert_eq!(stdout(&o), "12\n/tmp\n", "{n}");

        let o = rt.run(&["--root", "ROOT", "delete", "-force=true", &id]);
        assert_ok(&o, &format!("{n} delete -force=true"));
        let o = rt.run(&["--root", "ROOT", "state", &id]);
        assert!(!o.status.success(), "{n}: {id} still there");
    }
}

/// Every `--help` of every command, nested ones too.
fn help_texts(prefix: &[String], out: &mut Vec<(String, String)>) {
    let o = Command::new(SIFRUN)
        .args(prefix)
        .arg("--help")
        .output()
        .unwrap();
    assert!(o.status.success(), "{prefix:?} --help");
    let text = stdout(&o);
    let subs: Vec<String> = text
        .split("\nCommands:\n")
        .nth(1)
        .map(|s| {
            s.lines()
                .take_while(|l| l.starts_with("  "))
                .filter_map(|l| l.split_whitespace().next())
                .filter(|c| *c != "help")
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    out.push((prefix.join(" "), text));
    for s in subs {
        let mut p = prefix.to_vec();
        p.push(s);
        help_texts(&p, out);
    }
}

#[test]
fn help_texts_are_sifruns() {
    let mut all = Vec::new();
    help_texts(&[], &mut all);
    assert!(all.len() > 30, "only {} help texts", all.len());
    for (cmd, text) in &all {
        for bad in ["youki", "rather then", "pivot rool", "path ,"] {
            assert!(
                !text.contains(bad),
                "`sifrun {cmd} --help` says {bad:?}:\n{text}"
            );
        }
    }
    // runc's short flags
    let exec = &all.iter().find(|(c, _)| c == "exec").unwrap().1;
    assert!(exec.contains("-c, --cap"), "{exec}");
    let list = &all.iter().find(|(c, _)| c == "list").unwrap().1;
    assert!(list.contains("-f, --format"), "{list}");
}
