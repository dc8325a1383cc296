//! runc parity odds and ends: `run`'s delete racing a `kill --all`, printing
//! commands on a closed stdout, the wording of an exec that cannot start, per-device
//! blkio weights (BFQ on a loop device), `--criu PATH`, and a process whose stdout
//! and stderr are /dev/null.

use super::{Case, Ctx, WAIT};
use anyhow::{Context, Result};
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "lifecycle/run_delete_races_kill_all",
            run: run_delete_races_kill_all,
        },
        Case {
            name: "cli/closed_stdout",
            run: closed_stdout,
        },
        Case {
            name: "exec/start_failure_one_line",
            run: start_failure_one_line,
        },
        Case {
            name: "cgroups/blkio_weight_device",
            run: blkio_weight_device,
        },
        Case {
            name: "checkpoint/criu_path_is_used",
            run: criu_path_is_used,
        },
        Case {
            name: "process/stdio_dev_null",
            run: stdio_dev_null,
        },
    ]
}

fn sleeper(ctx: &mut Ctx) -> Result<Option<String>> {
    let mut b = ctx.bundle()?;
    b.config["process"]["args"] = json!(["sleep", "30"]);
    Ok(ctx.started(&b)?.map(|(id, _)| id))
}

/// `<runtime> --root ROOT ARGS...`, stdin /dev/null, stdout and stderr as given.
fn spawn_rt(
    ctx: &Ctx,
    args: &[&str],
    stdout: impl Into<Stdio>,
    stderr: impl Into<Stdio>,
) -> Result<std::process::Child> {
    Command::new(&ctx.rt.bin)
        .arg("--root")
        .arg(&ctx.rt.root)
        .args(args)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .with_context(|| format!("spawn {}", args.first().unwrap_or(&"")))
}

/// Kills `child` if it outlives `timeout`; its exit status otherwise.
fn wait_child(
    child: &mut std::process::Child,
    timeout: Duration,
) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return Some(st);
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A foreground `run` deletes its container once the process dies. A `kill --all`
/// from elsewhere (what `oci run`'s clean-up and engines send) may still be writing
/// the container's state at that moment: `run` must neither fail ("directory not
/// empty") nor leave the state behind. A race, so several rounds.
fn run_delete_races_kill_all(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    b.config["process"]["args"] = json!(["sleep", "30"]);
    b.write()?;
    let mut failures = Vec::new();
    for round in 0..30 {
        let id = ctx.id();
        let err = ctx.tmp.join(format!("run-race-{round}.err"));
        let dir = b.dir.to_string_lossy().into_owned();
        let mut child = spawn_rt(
            ctx,
            &["run", "--bundle", &dir, &id],
            Stdio::null(),
            std::fs::File::create(&err)?,
        )?;
        let (running, seen) = ctx.rt.wait_status(&id, "running", WAIT);
        if !running {
            let _ = child.kill();
            let _ = child.wait();
            failures.push(format!("round {round}: never running ({seen:?})"));
            continue;
        }
        let k = ctx.rt.run(&["kill", "--all", &id, "KILL"]);
        let st = wait_child(&mut child, Duration::from_secs(20));
        let text = std::fs::read_to_string(&err).unwrap_or_default();
        let state = ctx.rt.state(&id);
        if st.and_then(|s| s.code()) != Some(137) || !text.trim().is_empty() || state.success() {
            failures.push(format!(
                "round {round}: run {st:?} stderr {:?}; kill {:?} {:?}; state after: {:?}",
                text.trim(),
                k.code,
                k.stderr.trim(),
                state.code
            ));
        }
    }
    ctx.rep.check(
        "every run exits 137, says nothing and leaves no state",
        failures.is_empty(),
        failures.join("\n"),
    );
    Ok(())
}

/// `runtime CMD | head -c1`: a command that prints to a stdout nobody reads dies of
/// SIGPIPE (Go's behaviour on fd 1) or exits 0; it never panics or complains.
fn closed_stdout(ctx: &mut Ctx) -> Result<()> {
    let Some(id) = sleeper(ctx)? else {
        return Ok(());
    };
    let commands: [&[&str]; 6] = [
        &["features"],
        &["list"],
        &["state", &id],
        &["ps", &id],
        &["events", "--stats", &id],
        &["--version"],
    ];
    for args in commands {
        // A stream socket whose peer is gone: every write fails with EPIPE (SIGPIPE).
        let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
        drop(ours);
        let err = ctx.tmp.join("closed-stdout.err");
        let mut child = spawn_rt(
            ctx,
            args,
            std::os::fd::OwnedFd::from(theirs),
            std::fs::File::create(&err)?,
        )?;
        let st = wait_child(&mut child, Duration::from_secs(20));
        let text = std::fs::read_to_string(&err).unwrap_or_default();
        let what = args.join(" ");
        let ok = st.is_some_and(|s| s.code() == Some(0) || s.signal() == Some(libc::SIGPIPE));
        ctx.rep.check(
            &format!("{what}: SIGPIPE or exit 0"),
            ok,
            format!("{st:?}; stderr: {text}"),
        );
        ctx.rep.check(
            &format!("{what}: nothing on stderr"),
            text.trim().is_empty(),
            text,
        );
    }
    Ok(())
}

/// An exec whose process cannot start (no such binary, no such cwd): exit 255 and
/// one line that names what is missing, without runc-foreign stutter.
fn start_failure_one_line(ctx: &mut Ctx) -> Result<()> {
    let Some(id) = sleeper(ctx)? else {
        return Ok(());
    };
    for (what, args, needle) in [
        (
            "missing binary",
            vec!["exec", id.as_str(), "/conformance-no-such-binary"],
            "/conformance-no-such-binary",
        ),
        (
            "missing cwd",
            vec![
                "exec",
                "--cwd",
                "/conformance-no-such-dir",
                id.as_str(),
                "true",
            ],
            "/conformance-no-such-dir",
        ),
    ] {
        let o = ctx.rt.run(&args);
        ctx.rep.eq(&format!("{what}: exit 255"), Some(255), o.code);
        let lines: Vec<&str> = o.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        ctx.rep.eq(&format!("{what}: one line"), 1, lines.len());
        ctx.rep.check(
            &format!("{what}: the line names {needle}"),
            o.stderr.contains(needle),
            o.diag(),
        );
        let words: Vec<String> = o
            .stderr
            .split_whitespace()
            .map(|w| {
                w.trim_matches(|c: char| !c.is_alphanumeric())
                    .to_lowercase()
            })
            .filter(|w| w.chars().all(char::is_alphabetic) && !w.is_empty())
            .collect();
        let doubled = words.windows(2).find(|p| p[0] == p[1]);
        ctx.rep.check(
            &format!("{what}: no doubled word"),
            doubled.is_none(),
            format!("{doubled:?} in {}", o.stderr.trim()),
        );
    }
    Ok(())
}

/// A loop device of our own, switched to BFQ; detached, with its scheduler as it
/// was, when dropped.
struct BfqLoop {
    dev: String,
    sched: PathBuf,
    was: String,
}

impl BfqLoop {
    fn new(backing: &Path) -> Result<std::result::Result<BfqLoop, String>> {
        std::fs::write(backing, vec![0u8; 1 << 20])?;
        let o = Command::new("losetup")
            .args(["-f", "--show"])
            .arg(backing)
            .output();
        let dev = match o {
            Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
            Ok(o) => {
                return Ok(Err(format!(
                    "losetup failed: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                )))
            }
            Err(e) => return Ok(Err(format!("losetup: {e}"))),
        };
        let name = dev.trim_start_matches("/dev/").to_string();
        let sched = PathBuf::from(format!("/sys/block/{name}/queue/scheduler"));
        let list = std::fs::read_to_string(&sched).unwrap_or_default();
        let was = list
            .split_whitespace()
            .find(|s| s.starts_with('['))
            .map(|s| s.trim_matches(|c| c == '[' || c == ']').to_string())
            .unwrap_or_else(|| "none".into());
        let l = BfqLoop { dev, sched, was };
        if !list
            .split_whitespace()
            .any(|s| s.trim_matches(|c| c == '[' || c == ']') == "bfq")
        {
            return Ok(Err(format!(
                "the kernel offers no bfq scheduler ({})",
                list.trim()
            )));
        }
        if let Err(e) = std::fs::write(&l.sched, "bfq") {
            return Ok(Err(format!("cannot switch {} to bfq: {e}", l.dev)));
        }
        Ok(Ok(l))
    }

    /// (major, minor)
    fn numbers(&self) -> Option<(u64, u64)> {
        let name = self.dev.trim_start_matches("/dev/");
        let mm = std::fs::read_to_string(format!("/sys/block/{name}/dev")).ok()?;
        let (a, b) = mm.trim().split_once(':')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    }
}

impl Drop for BfqLoop {
    fn drop(&mut self) {
        let _ = std::fs::write(&self.sched, &self.was);
        let _ = Command::new("losetup").args(["-d", &self.dev]).status();
    }
}

/// `blockIO.weightDevice`: runc writes `MAJ:MIN WEIGHT` to blkio.weight_device (CFQ)
/// or blkio.bfq.weight_device (BFQ). Shown on a loop device switched to BFQ for the
/// case. runc 1.1's `update -r` takes only the cgroup's weight from blockIO, so the
/// device weight stays as created.
fn blkio_weight_device(ctx: &mut Ctx) -> Result<()> {
    let Some(root) = ctx.host.v1.get("blkio").cloned() else {
        ctx.rep
            .skip("blkio weight_device", "no blkio cgroup v1 hierarchy");
        return Ok(());
    };
    let lo = match BfqLoop::new(&ctx.tmp.join("bfq-loop.img"))? {
        Ok(l) => l,
        Err(why) => {
            ctx.rep
                .skip("blkio weight_device", &format!("no BFQ loop device: {why}"));
            return Ok(());
        }
    };
    let Some((maj, min)) = lo.numbers() else {
        ctx.rep.skip(
            "blkio weight_device",
            "cannot read the loop device's numbers",
        );
        return Ok(());
    };
    let mut b = ctx.bundle()?;
    b.config["process"]["args"] = json!(["sleep", "30"]);
    b.config["linux"]["cgroupsPath"] = json!(ctx.cgpath());
    b.config["linux"]["resources"]["blockIO"] =
        json!({"weightDevice": [{"major": maj, "minor": min, "weight": 300}]});
    let Some((id, pid)) = ctx.create_only(&b)? else {
        return Ok(());
    };
    let dir = ctx.host.pid_dir("blkio", pid).unwrap_or(root);
    // CFQ's file when the kernel has it, else BFQ's (runc's choice).
    let file = if dir.join("blkio.weight").exists() {
        "blkio.weight_device"
    } else {
        "blkio.bfq.weight_device"
    };
    let read = |_: &Ctx| std::fs::read_to_string(dir.join(file)).unwrap_or_default();
    let want = format!("{maj}:{min} 300");
    let got = read(ctx);
    ctx.rep.check(
        &format!("create: {file} has {maj}:{min} 300"),
        got.lines().any(|l| l.trim() == want),
        got,
    );
    let r = ctx.tmp.join("weight-device.json");
    std::fs::write(
        &r,
        json!({"blockIO": {"weightDevice": [{"major": maj, "minor": min, "weight": 500}]}})
            .to_string(),
    )?;
    let u = ctx.rt.run(&["update", "-r", &r.to_string_lossy(), &id]);
    ctx.rep.check("update -r succeeds", u.success(), u.diag());
    let got = read(ctx);
    ctx.rep.check(
        &format!("update -r leaves {file} at {maj}:{min} 300 (runc 1.1)"),
        got.lines().any(|l| l.trim() == want),
        got,
    );
    // The container (and its cgroup) goes before the loop device.
    ctx.rt.delete_force(&id);
    drop(lo);
    Ok(())
}

/// `--criu PATH` picks the criu binary: a fake one that logs its arguments and fails
/// is what runs, the checkpoint fails, and the container keeps running.
fn criu_path_is_used(ctx: &mut Ctx) -> Result<()> {
    let Some(id) = sleeper(ctx)? else {
        return Ok(());
    };
    let log = ctx.tmp.join("fake-criu.log");
    let fake = ctx.tmp.join("fake-criu");
    std::fs::write(
        &fake,
        format!("#!/bin/sh\necho \"$@\" >> {}\nexit 3\n", log.display()),
    )?;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755))?;
    let images = ctx.tmp.join("criu-images");
    let o = ctx.rt.run(&[
        "--criu",
        &fake.to_string_lossy(),
        "checkpoint",
        "--image-path",
        &images.to_string_lossy(),
        &id,
    ]);
    ctx.rep.check("checkpoint fails", o.failed(), o.diag());
    let argv = std::fs::read_to_string(&log).unwrap_or_default();
    ctx.rep.check(
        "the given criu ran (criu swrk)",
        argv.lines().any(|l| l.starts_with("swrk")),
        format!("fake criu log: {argv:?}; {}", o.diag()),
    );
    ctx.rep.eq(
        "the container still runs",
        Some("running".to_string()),
        ctx.rt.status(&id),
    );
    Ok(())
}

/// `run ... >/dev/null 2>&1` and the same for `exec`: the runtime points stdio that
/// is the host's /dev/null at the container's own, and the process can still write
/// to it (a read-only reopen made every write fail with EBADF).
fn stdio_dev_null(ctx: &mut Ctx) -> Result<()> {
    let script = "echo out && echo err >&2";
    let spawn = |ctx: &Ctx, args: &[&str]| -> Result<Option<std::process::ExitStatus>> {
        let mut child = spawn_rt(ctx, args, Stdio::null(), Stdio::null())?;
        Ok(wait_child(&mut child, WAIT))
    };
    let mut b = ctx.bundle()?;
    b.config["process"]["args"] = json!(["sh", "-c", script]);
    b.write()?;
    let id = ctx.id();
    let dir = b.dir.to_string_lossy().into_owned();
    let st = spawn(ctx, &["run", "--bundle", &dir, &id])?;
    ctx.rep.check(
        "run: writes to a /dev/null stdout and stderr succeed (exit 0)",
        st.is_some_and(|s| s.code() == Some(0)),
        format!("{st:?}"),
    );
    let Some(id) = sleeper(ctx)? else {
        return Ok(());
    };
    let st = spawn(ctx, &["exec", &id, "sh", "-c", script])?;
    ctx.rep.check(
        "exec: writes to a /dev/null stdout and stderr succeed (exit 0)",
        st.is_some_and(|s| s.code() == Some(0)),
        format!("{st:?}"),
    );
    Ok(())
}
