//! `conformance --runtime PATH [--filter REGEX] [--json FILE]` runs the suite;
//! `conformance compare REF.json CANDIDATE.json` fails on regressions.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use conformance::bundle::Template;
use conformance::cases::{self, Ctx};
use conformance::host::{which, Host};
use conformance::runtime::Runtime;
use conformance::tap::{compare, Report, Reporter};
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Parser)]
#[command(
    name = "conformance",
    about = "OCI runtime-spec conformance suite",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    /// Runtime binary to test (runc-compatible CLI).
    #[arg(long)]
    runtime: Option<PathBuf>,
    /// Only run cases whose name (area/case) matches this regex.
    #[arg(long)]
    filter: Option<String>,
    /// Write per-case and per-assertion results as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Use this statically linked checker instead of building one.
    #[arg(long, env = "CONFORMANCE_CHECKER")]
    checker: Option<PathBuf>,
    /// Static busybox to put in the rootfs.
    #[arg(long, default_value = "/usr/bin/busybox")]
    busybox: PathBuf,
    /// Target runtime-spec version for version-dependent semantics (1.2 or 1.3).
    #[arg(long, default_value = "1.2")]
    spec: String,
    /// Seconds before a runtime command is killed.
    #[arg(long, default_value_t = 20)]
    timeout: u64,
    /// List case names and exit.
    #[arg(long)]
    list: bool,
    /// Keep the temporary directory (bundles are still removed per case).
    #[arg(long)]
    keep: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Fail when an assertion passes with the reference and fails with the candidate.
    Compare {
        reference: PathBuf,
        candidate: PathBuf,
    },
}

fn main() {
    let cli = Cli::parse();
    let code = match run(cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("conformance: {e:#}");
            println!("Bail out! {e:#}");
            2
        }
    };
    std::process::exit(code);
}

fn run(cli: Cli) -> Result<i32> {
    if let Some(Cmd::Compare {
        reference,
        candidate,
    }) = &cli.cmd
    {
        let load = |p: &Path| -> Result<Report> {
            Ok(serde_json::from_str(
                &std::fs::read_to_string(p).with_context(|| p.display().to_string())?,
            )?)
        };
        let n = compare(&load(reference)?, &load(candidate)?);
        return Ok(i32::from(n > 0));
    }
    let re = match &cli.filter {
        Some(f) => Some(regex::Regex::new(f)?),
        None => None,
    };
    let selected: Vec<cases::Case> = cases::all()
        .into_iter()
        .filter(|c| re.as_ref().map(|r| r.is_match(c.name)).unwrap_or(true))
        .collect();
    if cli.list {
        for c in &selected {
            println!("{}", c.name);
        }
        return Ok(0);
    }
    let Some(runtime) = cli.runtime.clone() else {
        bail!("--runtime PATH is required");
    };
    let runtime = if runtime.components().count() == 1 {
        which(&runtime.to_string_lossy()).unwrap_or(runtime)
    } else {
        std::fs::canonicalize(&runtime).with_context(|| runtime.display().to_string())?
    };
    if unsafe { libc::geteuid() } != 0 {
        bail!("the suite must run as root");
    }
    let bb = std::fs::read(&cli.busybox).with_context(|| {
        format!(
            "{} (install busybox-static or pass --busybox)",
            cli.busybox.display()
        )
    })?;
    if !is_static(&bb) {
        bail!(
            "{} is dynamically linked; the rootfs has no libc (apt-get install busybox-static)",
            cli.busybox.display()
        );
    }
    let checker = match &cli.checker {
        Some(c) => c.clone(),
        None => build_checker()?,
    };
    let base = std::env::temp_dir().join(format!("conformance-{}", std::process::id()));
    std::fs::create_dir_all(&base)?;
    let root = base.join("state");
    let scratch = base.join("scratch");
    std::fs::create_dir_all(&root)?;
    std::fs::create_dir_all(&scratch)?;
    let tmpl = Template::new(&base.join("template"), &cli.busybox, &checker)?;
    let mut rt = Runtime::new(runtime.clone(), root, scratch);
    rt.timeout = std::time::Duration::from_secs(cli.timeout);
    let host = Host::probe();

    println!("TAP version 13");
    println!("# runtime: {}", runtime.display());
    println!(
        "# host: v1 controllers {:?}; cgroup2 {:?}; hugepages {:?}; block device {:?}; apparmor {}; selinux {}; cpus {}",
        host.v1.keys().collect::<Vec<_>>(),
        host.v2.as_ref().map(|(p, c)| (p.display().to_string(), c.clone())),
        host.hugepage_sizes,
        host.block_dev,
        host.apparmor,
        host.selinux,
        host.ncpus
    );
    let mut rep = Reporter::default();
    for case in &selected {
        rep.case = case.name.to_string();
        rep.todo_names.clear();
        println!("# case {}", case.name);
        let before = rep.results.len();
        let mut ctx = Ctx::new(&rt, &mut rep, &host, &tmpl, base.clone(), cli.spec.clone());
        let r = (case.run)(&mut ctx);
        ctx.cleanup();
        if let Err(e) = r {
            rep.check("case ran without harness error", false, format!("{e:#}"));
        }
        if rep.results.len() == before {
            rep.skip("case", "no assertion made");
        }
    }
    let failed = rep.finish();
    if let Some(j) = &cli.json {
        let report = rep.report(&runtime.to_string_lossy());
        std::fs::write(j, serde_json::to_string_pretty(&report)?)?;
    }
    if !cli.keep {
        let _ = std::fs::remove_dir_all(&base);
    }
    Ok(i32::from(failed > 0))
}

/// Build the checker statically (crt-static, explicit --target so build
/// scripts and proc-macros are unaffected) into its own target dir, once;
/// later runs are cargo no-ops.
fn build_checker() -> Result<PathBuf> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let exe = std::env::current_exe()?;
    // <target-dir>/<profile>/conformance -> <target-dir>/checker-static
    let target_dir = exe
        .parent()
        .and_then(Path::parent)
        .map(|p| p.join("checker-static"))
        .unwrap_or_else(|| std::env::temp_dir().join("conformance-checker-static"));
    let triple = format!("{}-unknown-linux-gnu", std::env::consts::ARCH);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!(
        "conformance: building the static checker in {}",
        target_dir.display()
    );
    let st = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--bin",
            "conformance-checker",
            "--target",
            &triple,
        ])
        .arg("--manifest-path")
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", &target_dir)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .stdout(std::process::Stdio::null())
        .status()
        .context("running cargo to build the checker (or pass --checker PATH)")?;
    if !st.success() {
        bail!("building the static checker failed (pass --checker PATH to use a prebuilt one)");
    }
    let bin = target_dir
        .join(&triple)
        .join("release")
        .join("conformance-checker");
    let data = std::fs::read(&bin).with_context(|| bin.display().to_string())?;
    if !is_static(&data) {
        bail!("{} is dynamically linked", bin.display());
    }
    Ok(bin)
}

/// ELF without a PT_INTERP program header.
fn is_static(elf: &[u8]) -> bool {
    if elf.len() < 64 || &elf[..4] != b"\x7fELF" {
        return false;
    }
    let u64at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().unwrap());
    let u16at = |o: usize| u16::from_le_bytes(elf[o..o + 2].try_into().unwrap());
    let phoff = u64at(0x20) as usize;
    let phentsize = u16at(0x36) as usize;
    let phnum = u16at(0x38) as usize;
    (0..phnum).all(|i| {
        let o = phoff + i * phentsize;
        o + 4 > elf.len() || u32::from_le_bytes(elf[o..o + 4].try_into().unwrap()) != 3
    })
}
