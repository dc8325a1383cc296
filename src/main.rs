//! sifrun: a runc-compatible OCI runtime on youki's libcontainer, which also turns
//! Singularity SIF and OCI-SIF images into OCI bundles.

mod cli;
mod commands;
mod logging;

use std::process::ExitCode;

use sifrun::runtime::{cgroup_warmup, sealed_exe, unix};

fn main() -> ExitCode {
    // Rust ignores SIGPIPE at start-up, so `sifrun list | head -1` would panic in
    // println!. runc (Go) dies of SIGPIPE on a closed stdout, and its container
    // processes start with the default disposition (exec keeps SIG_IGN): the default,
    // for every command. The monitor, which writes to pipes of its own, ignores it.
    unix::sigpipe(true);
    // Only commands whose child processes enter a container need a sealed copy of
    // the binary (CVE-2019-5736); `state`, `kill`, `delete` stay on the fast path.
    // Sealing before parsing keeps the process that only re-execs small.
    let sealed = cli::argv_may_enter_container();
    if sealed {
        if let Err(code) = seal() {
            return code;
        }
    }

    let mut cli = match cli::parse() {
        Ok(cli) => cli,
        Err(err) => {
            // clap prints help/version on stdout and usage errors on stderr; runc exits 1
            // on bad flags, which engines and scripts treat as "failed". Usage errors
            // are one line (callers log stderr line by line; "" as an id, for one).
            if !err.use_stderr() {
                let _ = err.print();
                return ExitCode::SUCCESS;
            }
            let text = err.render().to_string();
            let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            eprintln!("sifrun: {}", line.trim_start_matches("error: "));
            return ExitCode::from(1);
        }
    };

    if cli.version {
        print!("{}", cli::version_text());
        return ExitCode::SUCCESS;
    }

    let Some(command) = cli.command.take() else {
        let _ = cli::command().print_help();
        return ExitCode::from(1);
    };

    if command.enters_container() {
        // The command's name is in argv, so this is sealed already; kept in case the
        // CLI ever gains an alias the argv scan does not know.
        if !sealed {
            if let Err(code) = seal() {
                return code;
            }
        }
        cgroup_warmup::start();
    }

    let log = match logging::init(&cli.global) {
        Ok(log) => log,
        Err(err) => {
            eprintln!("sifrun: {err:#}");
            return ExitCode::from(1);
        }
    };

    match commands::dispatch(command, &cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            log.fatal(&err);
            ExitCode::from(sifrun::runtime::ctx::ExitWith::code_of(&err))
        }
    }
}

/// Re-execs from a sealed copy of the binary unless already running from one.
fn seal() -> Result<(), ExitCode> {
    sealed_exe::ensure_sealed().map_err(|err| {
        eprintln!("sifrun: {err:#}");
        ExitCode::from(1)
    })
}
