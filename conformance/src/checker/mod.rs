//! The in-container checker.
//!
//! It runs as the container process, reads the exact `config.json` the runtime
//! was given (copied into the rootfs by the runner as `/conformance-config.json`)
//! and compares it with what the kernel shows from inside. Every assertion is one
//! TAP-like line (`ok - name`, `not ok - name`, `ok - name # SKIP reason`),
//! followed by `#` diagnostics; the runner numbers and re-emits them.
//!
//! Extra experiments that cannot be derived from the config are requested with
//! `--exp KEY=VALUE` arguments (see [`Exp`]).

mod fs;
mod proc;

use serde_json::Value;
use std::io::Write;

/// Path of the expected config inside the container.
pub const CONFIG_PATH: &str = "/conformance-config.json";
/// Path of the checker binary inside the container.
pub const CHECKER_PATH: &str = "/conformance-checker";
/// Last line printed by a checker that ran to the end.
pub const DONE_MARKER: &str = "# conformance-checker: done";

/// Experiments requested on the command line.
#[derive(Default, Debug)]
pub struct Exp {
    /// Rootfs propagation experiment (`shared`, `slave`, `private`, `unbindable`).
    pub propagation: Option<String>,
    /// Device nodes whose open must be refused by the device cgroup.
    pub open_deny: Vec<String>,
    /// Device nodes whose read-only open must succeed.
    pub open_allow: Vec<String>,
}

/// TAP output of the checker.
pub struct Out {
    lines: Vec<String>,
}

impl Out {
    fn emit(&mut self, line: String) {
        // Print immediately so a crash still leaves the earlier results.
        let mut so = std::io::stdout().lock();
        let _ = writeln!(so, "{line}");
        let _ = so.flush();
        self.lines.push(line);
    }

    /// Record one assertion; `diag` is printed only on failure.
    pub fn check(&mut self, name: &str, cond: bool, diag: impl AsRef<str>) {
        if cond {
            self.emit(format!("ok - {name}"));
        } else {
            self.emit(format!("not ok - {name}"));
            for l in diag.as_ref().lines() {
                self.emit(format!("#   {l}"));
            }
        }
    }

    /// Compare two displayable values.
    pub fn eq<T: PartialEq + std::fmt::Debug>(&mut self, name: &str, expected: T, actual: T) {
        let ok = expected == actual;
        self.check(
            name,
            ok,
            format!("expected: {expected:?}\nactual:   {actual:?}"),
        );
    }

    pub fn skip(&mut self, name: &str, reason: &str) {
        self.emit(format!("ok - {name} # SKIP {reason}"));
    }
}

fn parse_args() -> (String, Exp) {
    let mut cfg = CONFIG_PATH.to_string();
    let mut exp = Exp::default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--config" if i + 1 < args.len() => {
                cfg = args[i + 1].clone();
                i += 1;
            }
            "--exp" if i + 1 < args.len() => {
                let (k, v) = args[i + 1].split_once('=').unwrap_or((&args[i + 1], ""));
                match k {
                    "propagation" => exp.propagation = Some(v.to_string()),
                    "open-deny" => exp.open_deny.push(v.to_string()),
                    "open-allow" => exp.open_allow.push(v.to_string()),
                    _ => {}
                }
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    (cfg, exp)
}

/// Entry point of the checker binary.
pub fn main() -> i32 {
    // `syscalls NR...`: invoke each raw syscall number (all arguments 0) and print
    // `syscall NR errno E`; nothing else (for profiles that deny most syscalls).
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("syscalls") {
        let mut so = std::io::stdout().lock();
        for a in &argv[2..] {
            let nr: libc::c_long = a.parse().unwrap_or(-1);
            // SAFETY: raw syscall with zero arguments; the numbers used are either
            // unknown to the kernel or fail on zero arguments.
            let r = unsafe { libc::syscall(nr, 0, 0, 0, 0, 0, 0) };
            let e = if r < 0 {
                std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
            } else {
                0
            };
            let _ = writeln!(so, "syscall {nr} errno {e}");
        }
        return 0;
    }
    let (cfg_path, exp) = parse_args();
    let mut out = Out { lines: Vec::new() };
    let cfg: Value = match std::fs::read_to_string(&cfg_path)
        .map_err(|e| e.to_string())
        .and_then(|s| serde_json::from_str(&s).map_err(|e| e.to_string()))
    {
        Ok(v) => v,
        Err(e) => {
            out.check("read expected config", false, format!("{cfg_path}: {e}"));
            out.emit(DONE_MARKER.to_string());
            return 1;
        }
    };
    // Filesystem checks first: later process checks (seccomp) may be disruptive.
    fs::run(&cfg, &exp, &mut out);
    proc::run(&cfg, &exp, &mut out);
    out.emit(DONE_MARKER.to_string());
    let failed = out.lines.iter().any(|l| l.starts_with("not ok"));
    i32::from(failed)
}

// ---- small helpers shared by the checker modules ----

pub(crate) fn has_ns(cfg: &Value, t: &str) -> bool {
    cfg.pointer("/linux/namespaces")
        .and_then(Value::as_array)
        .map(|a| a.iter().any(|n| n["type"] == t))
        .unwrap_or(false)
}

pub(crate) fn str_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Capability names indexed by number.
pub fn caps_names() -> &'static [&'static str] {
    proc::CAPS
}

pub(crate) fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}
