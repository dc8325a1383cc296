//! runc's flag syntax that clap does not take, rewritten before clap parses: runc's
//! urfave/cli (Go's `flag` package) accepts `-root X` for `--root X` and
//! `--detach=true` / `-d=false` for boolean flags. Engines and scripts written for
//! runc may use either. Only flags before a command's first positional argument are
//! rewritten (Go's `flag` stops there too), so `exec ID sh -c ...` is left alone.
//!
//! The flags are looked up in the commands argv names, which are built here one by one
//! (clap adds a deferred command's arguments when it builds it; the parse that follows
//! builds nothing more), so the rest of the tree stays unbuilt.

use std::ffi::OsString;

use clap::{Arg, ArgAction, Command};

/// `args` (argv with the program name first) in clap's spelling.
pub fn normalize(cmd: &mut Command, args: Vec<OsString>) -> Vec<OsString> {
    let mut out = Vec::with_capacity(args.len());
    let mut it = args.into_iter();
    out.extend(it.next());
    let mut cmd = cmd;
    build_self(cmd);
    while let Some(arg) = it.next() {
        let Some(s) = arg.to_str() else {
            out.push(arg);
            break;
        };
        if s == "--" || s == "-" {
            out.push(arg);
            break;
        }
        if !s.starts_with('-') {
            // a positional: a subcommand's name descends, anything else ends the flags
            let Some(sub) = cmd.find_subcommand_mut(s) else {
                out.push(arg);
                break;
            };
            build_self(sub);
            cmd = sub;
            out.push(arg);
            continue;
        }
        let body = s.trim_start_matches('-');
        let dashes = s.len() - body.len();
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        // every spelling of help is clap's `--help` (a value is dropped)
        let found = if name == "help" {
            None
        } else if dashes == 2 || name.chars().count() > 1 {
            find_long(cmd, name).map(|a| (a, format!("--{name}")))
        } else {
            let c = name.chars().next().unwrap_or('-');
            find_short(cmd, c).map(|a| (a, format!("-{c}")))
        };
        let Some((flag, spelled)) = found.filter(|_| dashes <= 2) else {
            if name == "help" {
                out.push("--help".into());
            } else {
                out.push(arg);
            }
            continue;
        };
        if matches!(flag.get_action(), ArgAction::SetTrue) {
            match value.map(go_bool) {
                None => out.push(spelled.into()),
                Some(Some(true)) => out.push(spelled.into()),
                Some(Some(false)) => {}
                // clap reports the unexpected value
                Some(None) => out.push(arg),
            }
            continue;
        }
        match value {
            Some(v) => out.push(format!("{spelled}={v}").into()),
            None => {
                out.push(spelled.into());
                if takes_next(flag) {
                    out.extend(it.next());
                }
            }
        }
    }
    out.extend(it);
    out
}

/// Builds `cmd` itself, not its subcommands (clap has no call for just that; rendering
/// the usage line does it). Its parent must be built already, as clap's parser does it:
/// building passes the parent's global settings down.
fn build_self(cmd: &mut Command) {
    let _ = cmd.render_usage();
}

fn find_long<'a>(cmd: &'a Command, name: &str) -> Option<&'a Arg> {
    cmd.get_arguments().find(|a| {
        a.get_long() == Some(name) || a.get_all_aliases().is_some_and(|al| al.contains(&name))
    })
}

fn find_short(cmd: &Command, c: char) -> Option<&Arg> {
    cmd.get_arguments().find(|a| a.get_short() == Some(c))
}

/// Whether clap takes the next argument as this flag's value.
fn takes_next(flag: &Arg) -> bool {
    match flag.get_num_args() {
        Some(r) => r.min_values() > 0,
        None => flag.get_action().takes_values(),
    }
}

/// Go's strconv.ParseBool.
fn go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(args: &str) -> String {
        let argv = std::iter::once("sifrun")
            .chain(args.split_whitespace())
            .map(OsString::from)
            .collect();
        let out = normalize(&mut crate::cli::command(), argv);
        let out: Vec<_> = out[1..].iter().map(|a| a.to_str().unwrap()).collect();
        out.join(" ")
    }

    #[test]
    fn single_dash_long_flags() {
        assert_eq!(
            norm("-root /r list -format json"),
            "--root /r list --format json"
        );
        assert_eq!(norm("-log=/l -debug state x"), "--log=/l --debug state x");
        assert_eq!(norm("-help"), "--help");
    }

    #[test]
    fn bool_values() {
        assert_eq!(norm("run --detach=true -b . x"), "run --detach -b . x");
        assert_eq!(norm("run --detach=false x"), "run x");
        assert_eq!(norm("list -q=1"), "list -q");
        assert_eq!(norm("list --quiet=yes"), "list --quiet=yes");
    }

    #[test]
    fn values_and_positionals_untouched() {
        // a flag's value and everything after the first positional stay as given
        assert_eq!(
            norm("update --memory-swap -1 x"),
            "update --memory-swap -1 x"
        );
        assert_eq!(norm("exec -t x sh -cwd -e"), "exec -t x sh -cwd -e");
        assert_eq!(norm("exec -e A=1 -ti x"), "exec -e A=1 -ti x");
        assert_eq!(norm("-root -debug list"), "--root -debug list");
        assert_eq!(norm("kill x -9"), "kill x -9");
        assert_eq!(norm("oci kill -root x"), "oci kill -root x");
    }
}
