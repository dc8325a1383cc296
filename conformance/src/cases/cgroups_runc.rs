//! Cgroups as runc handles them beyond what the runtime spec says: sub-cgroups a
//! container makes itself (cgroup namespace + writable cgroupfs), the hierarchies an
//! exec'd process joins, device rules written with minimal transitions, what
//! `update` refuses or leaves alone, and `exec --cgroup`. Values are read from the
//! host's cgroupfs and /proc.

use super::{wait_file, Case, Ctx, WAIT};
use anyhow::Result;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "cgroups_runc/delete_force_with_sub_cgroups",
            run: delete_force_with_sub_cgroups,
        },
        Case {
            name: "cgroups_runc/exec_joins_every_hierarchy",
            run: exec_joins_every_hierarchy,
        },
        Case {
            name: "cgroups_runc/update_unified_on_v1_refused",
            run: update_unified_on_v1,
        },
        Case {
            name: "cgroups_runc/devices_minimal_transition",
            run: devices_minimal_transition,
        },
        Case {
            name: "cgroups_runc/update_leaves_devices",
            run: update_leaves_devices,
        },
        Case {
            name: "cgroups_runc/exec_sub_cgroup",
            run: exec_sub_cgroup,
        },
        Case {
            name: "cgroups_runc/pidfd_socket",
            run: pidfd_socket,
        },
        Case {
            name: "cgroups_runc/update_cpu_idle_burst",
            run: update_cpu_idle_burst,
        },
    ]
}

/// Whether the host is cgroup v1 (legacy or hybrid), where these cases apply.
fn v1_host(ctx: &mut Ctx, ctls: &[&str]) -> bool {
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        ctx.rep.skip("cgroup v1", "the host is cgroup v2 only");
        return false;
    }
    if let Some(c) = ctls.iter().find(|c| !ctx.host.v1.contains_key(**c)) {
        ctx.rep
            .skip("cgroup v1", &format!("no cgroup v1 {c} controller here"));
        return false;
    }
    true
}

/// The container's cgroup directory of `cg` in every hierarchy of the host.
fn cg_dirs(ctx: &Ctx, cg: &str) -> Vec<PathBuf> {
    let mut m = ctx.host.all_mounts.clone();
    m.sort();
    m.dedup();
    m.iter()
        .map(|m| m.join(cg.trim_start_matches('/')))
        .collect()
}

fn read(p: impl AsRef<Path>) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// Whether process `pid` is gone (or a zombie) within `t`.
fn gone(pid: i64, t: Duration) -> bool {
    let start = Instant::now();
    loop {
        let stat = read(format!("/proc/{pid}/stat"));
        let state = stat
            .rsplit(')')
            .next()
            .and_then(|s| s.split_whitespace().next());
        if stat.is_empty() || state == Some("Z") {
            return true;
        }
        if start.elapsed() > t {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A started `sleep 1000` container in a cgroupsPath of its own (with `resources`),
/// on a v1 host with the controllers `ctls`: (id, init pid, cgroups path), or None
/// when the case is skipped or the start failed (already reported).
fn cg_sleeper(
    ctx: &mut Ctx,
    ctls: &[&str],
    resources: Option<serde_json::Value>,
) -> Result<Option<(String, i64, String)>> {
    if !v1_host(ctx, ctls) {
        return Ok(None);
    }
    let mut b = ctx.bundle()?;
    let cg = ctx.cgpath();
    b.config["linux"]["cgroupsPath"] = json!(cg);
    for (k, v) in resources.iter().flat_map(|r| r.as_object()).flatten() {
        b.config["linux"]["resources"][k] = v.clone();
    }
    b.shell("sleep 1000");
    b.write()?;
    Ok(ctx.started(&b)?.map(|(id, pid)| (id, pid, cg)))
}

/// runc 1.1: the container (cgroup namespace, cgroupfs mounted read-write) makes
/// `sub` in each controller and moves itself and a child there; `delete --force`
/// kills them, removes the sub-cgroups, the cgroup and the state.
fn delete_force_with_sub_cgroups(ctx: &mut Ctx) -> Result<()> {
    if !v1_host(ctx, &["pids", "memory", "freezer", "devices"]) {
        return Ok(());
    }
    let mut b = ctx.bundle()?;
    let cg = ctx.cgpath();
    b.config["linux"]["cgroupsPath"] = json!(cg);
    b.add_ns("cgroup", None);
    b.config["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
        "options": ["nosuid", "noexec", "nodev", "relatime", "rw"]
    }));
    // cpuset needs cpus/mems set first; the named and cgroup2 ones hold no limits
    b.shell(
        "for d in /sys/fs/cgroup/*/; do case $d in *cpuset*|*unified*|*systemd*) continue;; esac; \
         mkdir -p ${d}sub && echo $$ > ${d}sub/cgroup.procs || echo FAIL $d; done; \
         sleep 1000 & echo moved; wait",
    );
    b.write()?;
    let Some((id, pid)) = ctx.started(&b)? else {
        return Ok(());
    };
    let out = b.dir.join("create.out");
    let t0 = Instant::now();
    while !read(&out).contains("moved") && t0.elapsed() < WAIT {
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = read(&out);
    ctx.rep.check(
        "the container moves itself into sub-cgroups",
        text.contains("moved") && !text.contains("FAIL"),
        format!("container output: {text}"),
    );
    let sub = ctx.host.v1_dir("pids", &cg).unwrap().join("sub");
    let procs = read(sub.join("cgroup.procs"));
    ctx.rep.check(
        "the init and its child are in the sub-cgroup",
        procs.lines().count() >= 2 && procs.lines().any(|l| l == pid.to_string()),
        format!("{}: {procs:?}", sub.display()),
    );
    let d = ctx.rt.delete_force(&id);
    ctx.rep
        .check("delete --force succeeds", d.success(), d.diag());
    let st = ctx.rt.state(&id);
    ctx.rep
        .check("after delete --force, state fails", st.failed(), st.diag());
    let left: Vec<PathBuf> = cg_dirs(ctx, &cg)
        .into_iter()
        .filter(|d| d.exists())
        .collect();
    ctx.rep.check(
        "no cgroup of the container is left (sub-cgroups included)",
        left.is_empty(),
        format!("left: {left:?}"),
    );
    let pids: Vec<i64> = procs.lines().filter_map(|l| l.parse().ok()).collect();
    let alive: Vec<i64> = pids
        .iter()
        .copied()
        .filter(|p| !gone(*p, Duration::from_secs(2)))
        .collect();
    ctx.rep.check(
        "the processes in the sub-cgroups are killed",
        alive.is_empty(),
        format!("alive: {alive:?}"),
    );
    Ok(())
}

/// runc 1.1 on a v1/hybrid host: the init is in the container's cgroup in every
/// hierarchy (name=systemd and the cgroup2 one at /sys/fs/cgroup/unified too), and
/// an exec'd process joins all of them: its /proc/PID/cgroup equals the init's.
fn exec_joins_every_hierarchy(ctx: &mut Ctx) -> Result<()> {
    let Some((id, pid, cg)) = cg_sleeper(ctx, &["pids"], None)? else {
        return Ok(());
    };
    let init = read(format!("/proc/{pid}/cgroup"));
    let outside: Vec<&str> = init.lines().filter(|l| !l.ends_with(&cg)).collect();
    ctx.rep.check(
        "the init is in the container's cgroup in every hierarchy",
        !init.is_empty() && outside.is_empty(),
        format!("/proc/{pid}/cgroup:\n{init}"),
    );
    let pid_file = ctx.rt.scratch.join(format!("{id}-exec.pid"));
    let pf = pid_file.to_string_lossy().into_owned();
    let o = ctx
        .rt
        .run(&["exec", "-d", "--pid-file", &pf, &id, "sleep", "1000"]);
    ctx.rep.check("exec -d succeeds", o.success(), o.diag());
    wait_file(&pid_file, WAIT);
    let epid = read(&pid_file).trim().to_string();
    let exec = read(format!("/proc/{epid}/cgroup"));
    ctx.rep.eq(
        "the exec'd process's /proc/PID/cgroup is the init's",
        init.clone(),
        exec,
    );
    let _ = std::fs::remove_file(&pid_file);
    Ok(())
}

/// runc's v1 manager refuses `linux.resources.unified` in `update -r` (an empty
/// map too) and changes nothing.
fn update_unified_on_v1(ctx: &mut Ctx) -> Result<()> {
    let Some((id, _, cg)) = cg_sleeper(ctx, &["pids"], Some(json!({"pids": {"limit": 100}})))?
    else {
        return Ok(());
    };
    let max = ctx.host.v1_dir("pids", &cg).unwrap().join("pids.max");
    for (what, res) in [
        (
            "pids.max",
            json!({"unified": {"pids.max": "10"}, "pids": {"limit": 50}}),
        ),
        ("empty", json!({"unified": {}})),
    ] {
        let file = ctx.rt.scratch.join(format!("{id}-unified.json"));
        std::fs::write(&file, res.to_string())?;
        let o = ctx.rt.run(&["update", "-r", &file.to_string_lossy(), &id]);
        ctx.rep.check(
            &format!("update -r with unified ({what}) fails"),
            o.failed(),
            o.diag(),
        );
        ctx.rep.check(
            &format!("update -r with unified ({what}): the error names unified and v1"),
            o.stderr.contains("unified") && o.stderr.contains("v1"),
            o.diag(),
        );
        ctx.rep.eq(
            &format!("update -r with unified ({what}): pids.max unchanged"),
            "100",
            read(&max).trim(),
        );
        let _ = std::fs::remove_file(&file);
    }
    Ok(())
}

/// runc's devices emulator (runc 1.1): creating a container in an existing
/// devices cgroup that is already deny-by-default and has a sub-cgroup works
/// (the kernel refuses "a" rules in a cgroup with children, so only the
/// difference may be written): the list becomes exactly the config's rules.
fn devices_minimal_transition(ctx: &mut Ctx) -> Result<()> {
    if !v1_host(ctx, &["devices"]) {
        return Ok(());
    }
    let cg = ctx.cgpath();
    let dir = ctx.host.v1_dir("devices", &cg).unwrap();
    let prep = std::fs::create_dir(&dir)
        .and_then(|()| std::fs::write(dir.join("devices.deny"), "a"))
        .and_then(|()| std::fs::write(dir.join("devices.allow"), "c 1:3 rwm"))
        .and_then(|()| std::fs::write(dir.join("devices.allow"), "c 4:5 r"))
        .and_then(|()| std::fs::create_dir(dir.join("child")));
    if let Err(e) = prep {
        ctx.rep.skip(
            "devices cgroup",
            &format!("cannot prepare {}: {e}", dir.display()),
        );
        return Ok(());
    }
    let mut b = ctx.bundle()?;
    b.config["linux"]["cgroupsPath"] = json!(cg);
    b.config["linux"]["resources"]["devices"] = json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"}
    ]);
    b.shell("sleep 1000");
    b.write()?;
    let Some((id, _)) = ctx.started(&b)? else {
        return Ok(());
    };
    let list = read(dir.join("devices.list"));
    let lines: Vec<&str> = list.lines().collect();
    ctx.rep.check(
        "devices.list: deny by default, /dev/null allowed",
        !lines.contains(&"a *:* rwm") && lines.contains(&"c 1:3 rwm"),
        format!("devices.list:\n{list}"),
    );
    ctx.rep.check(
        "devices.list: the rule the config does not have is removed",
        !list.contains("c 4:5"),
        format!("devices.list:\n{list}"),
    );
    ctx.rep.check(
        "the sub-cgroup is still there",
        dir.join("child").is_dir(),
        dir.display().to_string(),
    );
    let o = ctx.rt.run(&[
        "exec",
        &id,
        "sh",
        "-c",
        "echo x > /dev/null && echo null-ok",
    ]);
    ctx.rep
        .eq("/dev/null can be written", "null-ok", o.stdout.trim());
    Ok(())
}

/// runc's `update` never changes device rules (runc sets SkipDevices): `update -r`
/// with `devices` that would allow everything succeeds, devices.list stays as it
/// was, and a device the config does not allow still cannot be opened.
fn update_leaves_devices(ctx: &mut Ctx) -> Result<()> {
    if !v1_host(ctx, &["devices", "pids"]) {
        return Ok(());
    }
    let loop0 = Path::new("/sys/block/loop0").exists();
    let mut b = ctx.bundle()?;
    let cg = ctx.cgpath();
    b.config["linux"]["cgroupsPath"] = json!(cg);
    b.shell("sleep 1000");
    b.write()?;
    let Some((id, _)) = ctx.started(&b)? else {
        return Ok(());
    };
    let dir = ctx.host.v1_dir("devices", &cg).unwrap();
    let before = read(dir.join("devices.list"));
    // loop0 (b 7:0) opens without any capability when nothing is attached
    let probe = "mknod /tmp/l0 b 7 0 2>/dev/null; head -c 1 /tmp/l0 >/dev/null 2>&1 && echo open || echo denied";
    if loop0 {
        let o = ctx.rt.run(&["exec", &id, "sh", "-c", probe]);
        ctx.rep.eq(
            "before update: b 7:0 cannot be opened",
            "denied",
            o.stdout.trim(),
        );
    }
    let file = ctx.rt.scratch.join(format!("{id}-devices.json"));
    let res: Value = json!({"devices": [{"allow": true, "access": "rwm"}], "pids": {"limit": 77}});
    std::fs::write(&file, res.to_string())?;
    let o = ctx.rt.run(&["update", "-r", &file.to_string_lossy(), &id]);
    ctx.rep
        .check("update -r with devices succeeds", o.success(), o.diag());
    let _ = std::fs::remove_file(&file);
    ctx.rep.eq(
        "update -r with devices: the rest is applied (pids.max)",
        "77",
        read(ctx.host.v1_dir("pids", &cg).unwrap().join("pids.max")).trim(),
    );
    ctx.rep.eq(
        "update -r with devices: devices.list unchanged",
        before,
        read(dir.join("devices.list")),
    );
    if loop0 {
        let o = ctx.rt.run(&["exec", &id, "sh", "-c", probe]);
        ctx.rep.eq(
            "after update: b 7:0 still cannot be opened",
            "denied",
            o.stdout.trim(),
        );
    } else {
        ctx.rep.skip("device open", "no /dev/loop0 on this host");
    }
    Ok(())
}

/// runc 1.2 `exec --cgroup PATH` runs the process in an existing sub-cgroup of the
/// container's, in every hierarchy; `--cgroup CTRL[,CTRL]:PATH` in those
/// controllers only; a sub-cgroup that does not exist is an error (exit 255) and
/// is not created.
fn exec_sub_cgroup(ctx: &mut Ctx) -> Result<()> {
    let Some((id, _, cg)) = cg_sleeper(ctx, &["pids", "memory"], None)? else {
        return Ok(());
    };
    for dir in cg_dirs(ctx, &cg) {
        let sub = dir.join("sub");
        let made = std::fs::create_dir(&sub);
        // cpuset: a child needs cpus and mems before it takes processes
        for f in ["cpuset.cpus", "cpuset.mems"] {
            if dir.join(f).exists() {
                let _ = std::fs::write(sub.join(f), read(dir.join(f)).trim());
            }
        }
        if let Err(e) = made {
            ctx.rep
                .skip("sub-cgroup", &format!("cannot make {}: {e}", sub.display()));
            return Ok(());
        }
    }
    let o = ctx
        .rt
        .run(&["exec", "--cgroup", "sub", &id, "cat", "/proc/self/cgroup"]);
    ctx.rep
        .check("exec --cgroup sub succeeds", o.success(), o.diag());
    let want = format!("{cg}/sub");
    let outside: Vec<&str> = o.stdout.lines().filter(|l| !l.ends_with(&want)).collect();
    ctx.rep.check(
        "exec --cgroup sub: in the sub-cgroup in every hierarchy",
        !o.stdout.is_empty() && outside.is_empty(),
        o.diag(),
    );
    let o = ctx.rt.run(&[
        "exec",
        "--cgroup",
        "pids:sub",
        &id,
        "cat",
        "/proc/self/cgroup",
    ]);
    ctx.rep
        .check("exec --cgroup pids:sub succeeds", o.success(), o.diag());
    let line = |ctl: &str| {
        o.stdout
            .lines()
            .find(|l| {
                l.split(':')
                    .nth(1)
                    .is_some_and(|c| c.split(',').any(|c| c == ctl))
            })
            .map(|l| l.rsplit(':').next().unwrap_or("").to_string())
    };
    ctx.rep.eq(
        "exec --cgroup pids:sub: pids in the sub-cgroup",
        Some(want.clone()),
        line("pids"),
    );
    ctx.rep.eq(
        "exec --cgroup pids:sub: memory in the container's cgroup",
        Some(cg.clone()),
        line("memory"),
    );
    let o = ctx.rt.run(&["exec", "--cgroup", "nosuch", &id, "true"]);
    ctx.rep.eq(
        "exec --cgroup of a missing sub-cgroup: exit 255",
        Some(255),
        o.code,
    );
    let made: Vec<PathBuf> = cg_dirs(ctx, &cg)
        .into_iter()
        .map(|d| d.join("nosuch"))
        .filter(|d| d.exists())
        .collect();
    ctx.rep.check(
        "exec --cgroup of a missing sub-cgroup: not created",
        made.is_empty(),
        format!("made: {made:?}"),
    );
    let o = ctx.rt.run(&["exec", "--cgroup", "../escape", &id, "true"]);
    ctx.rep
        .eq("exec --cgroup ../escape: exit 255", Some(255), o.code);
    Ok(())
}

/// Receives one fd over a unix socket (SCM_RIGHTS) and writes
/// "<data> <pid of the pidfd> <pidfd_send_signal(0) result>" to a file.
const PIDFD_RECEIVER: &str = r#"
import os, signal, socket, sys
path, out = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
s.listen(1)
s.settimeout(25)
c, _ = s.accept()
msg, fds, _, _ = socket.recv_fds(c, 64, 4)
pid = "none"
for l in open("/proc/self/fdinfo/%d" % fds[0]):
    if l.startswith("Pid:"):
        pid = l.split()[1]
try:
    signal.pidfd_send_signal(fds[0], 0)
    alive = "alive"
except OSError as e:
    alive = "error-%d" % e.errno
open(out + ".tmp", "w").write("%s %s %s\n" % (msg.decode(), pid, alive))
os.rename(out + ".tmp", out)
"#;

/// A receiver listening on a fresh socket; (socket path, output file).
fn pidfd_receiver(ctx: &mut Ctx, name: &str) -> Result<(PathBuf, PathBuf)> {
    let sock = ctx
        .rt
        .scratch
        .join(format!("pidfd-{name}-{}.sock", std::process::id()));
    let out = ctx
        .rt
        .scratch
        .join(format!("pidfd-{name}-{}.out", std::process::id()));
    let _ = std::fs::remove_file(&sock);
    let _ = std::fs::remove_file(&out);
    let child = std::process::Command::new("python3")
        .args(["-c", PIDFD_RECEIVER])
        .arg(&sock)
        .arg(&out)
        .spawn()?;
    ctx.helper(child);
    wait_file(&sock, WAIT);
    Ok((sock, out))
}

/// runc 1.2 `--pidfd-socket PATH` (create, run, exec): a pidfd of the container's
/// init ("standard") or of the exec'd process ("setns") arrives over the socket
/// with SCM_RIGHTS and signals that process; a socket that does not exist fails
/// the create, leaving no container.
fn pidfd_socket(ctx: &mut Ctx) -> Result<()> {
    if crate::host::which("python3").is_none() {
        ctx.rep.skip("pidfd receiver", "no python3 on this host");
        return Ok(());
    }
    let mut b = ctx.bundle()?;
    b.shell("sleep 1000");
    b.write()?;
    let id = ctx.id();
    let (sock, out) = pidfd_receiver(ctx, "create")?;
    let bundle = b.dir.to_string_lossy().into_owned();
    let s = sock.to_string_lossy().into_owned();
    let o = ctx
        .rt
        .run(&["create", "--bundle", &bundle, "--pidfd-socket", &s, &id]);
    ctx.rep
        .check("create --pidfd-socket succeeds", o.success(), o.diag());
    wait_file(&out, WAIT);
    let pid = ctx.rt.state_json(&id).ok().and_then(|v| v["pid"].as_i64());
    ctx.rep.eq(
        "create: the pidfd of the init arrives and signals it",
        format!("standard {} alive", pid.unwrap_or(-1)),
        read(&out).trim().to_string(),
    );
    let s2 = ctx.rt.start(&id);
    ctx.rep.check("start succeeds", s2.success(), s2.diag());
    let (sock, out) = pidfd_receiver(ctx, "exec")?;
    let s = sock.to_string_lossy().into_owned();
    let pid_file = ctx.rt.scratch.join(format!("{id}-pidfd-exec.pid"));
    let pf = pid_file.to_string_lossy().into_owned();
    let o = ctx.rt.run(&[
        "exec",
        "-d",
        "--pid-file",
        &pf,
        "--pidfd-socket",
        &s,
        &id,
        "sleep",
        "1000",
    ]);
    ctx.rep
        .check("exec --pidfd-socket succeeds", o.success(), o.diag());
    wait_file(&out, WAIT);
    ctx.rep.eq(
        "exec: the pidfd of the exec'd process arrives and signals it",
        format!("setns {} alive", read(&pid_file).trim()),
        read(&out).trim().to_string(),
    );
    let _ = std::fs::remove_file(&pid_file);
    let id2 = ctx.id();
    let missing = ctx.rt.scratch.join("no-such-pidfd.sock");
    let o = ctx.rt.run(&[
        "create",
        "--bundle",
        &bundle,
        "--pidfd-socket",
        &missing.to_string_lossy(),
        &id2,
    ]);
    ctx.rep.check(
        "create --pidfd-socket with no socket there fails",
        o.failed(),
        o.diag(),
    );
    let st = ctx.rt.state(&id2);
    ctx.rep
        .check("... and leaves no container", st.failed(), st.diag());
    Ok(())
}

/// runc 1.2 `update --cpu-idle N` and `--cpu-burst USECS` (and `cpu.idle`,
/// `cpu.burst` in `-r`): written to cpu.idle and cpu.cfs_burst_us (v1), 0 too.
fn update_cpu_idle_burst(ctx: &mut Ctx) -> Result<()> {
    let Some((id, _, cg)) = cg_sleeper(ctx, &["cpu"], None)? else {
        return Ok(());
    };
    let dir = ctx.host.v1_dir("cpu", &cg).unwrap();
    let file = |f: &str| read(dir.join(f)).trim().to_string();
    let upd = |ctx: &mut Ctx, args: &[&str], f: &str, want: &str| {
        let mut a = vec!["update"];
        a.extend_from_slice(args);
        a.push(&id);
        let o = ctx.rt.run(&a);
        // the -r file's name differs between runs
        let args = if args[0] == "-r" {
            vec!["-r", "FILE"]
        } else {
            args.to_vec()
        };
        ctx.rep.check(
            &format!("update {} succeeds", args.join(" ")),
            o.success(),
            o.diag(),
        );
        ctx.rep.eq(
            &format!("after update {}: {f}", args.join(" ")),
            want,
            file(f).as_str(),
        );
    };
    if dir.join("cpu.idle").exists() {
        upd(ctx, &["--cpu-idle", "1"], "cpu.idle", "1");
        upd(ctx, &["--cpu-idle", "0"], "cpu.idle", "0");
        let res = ctx.rt.scratch.join(format!("{id}-idle.json"));
        std::fs::write(&res, json!({"cpu": {"idle": 1}}).to_string())?;
        upd(ctx, &["-r", &res.to_string_lossy()], "cpu.idle", "1");
        let _ = std::fs::remove_file(&res);
    } else {
        ctx.rep.skip("cpu.idle", "the kernel has no cpu.idle");
    }
    if dir.join("cpu.cfs_burst_us").exists() {
        upd(
            ctx,
            &[
                "--cpu-period",
                "100000",
                "--cpu-quota",
                "50000",
                "--cpu-burst",
                "20000",
            ],
            "cpu.cfs_burst_us",
            "20000",
        );
        upd(ctx, &["--cpu-burst", "0"], "cpu.cfs_burst_us", "0");
    } else {
        ctx.rep
            .skip("cpu burst", "the kernel has no cpu.cfs_burst_us");
    }
    Ok(())
}
