//! Fault injection: SIGKILL to sifrun at a random point of `create`, `start`,
//! `delete`, `mount` and `umount` (the last two also while another bundle shares the
//! image's mount: `sigkill_during_shared_*`). After each kill, `delete --force` (or `umount
//! --force`) must leave no state dir, cgroup, process, mount or loop device behind,
//! and the same id (or bundle path) must work again.
//!
//! Iterations per operation: `SIFRUN_FAULT_ITERATIONS` (default 20 here; 200 in
//! hack/fault-inject.sh, which runs `cargo test --release --test integration
//! reliability::faults::`). Replay a run with the seed it prints (`SIFRUN_TEST_SEED`).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::sif::busybox_sif_copy;
use crate::common::*;

fn iterations() -> u64 {
    std::env::var("SIFRUN_FAULT_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20)
}

fn spawn_quiet(mut c: Command) -> Child {
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c.spawn().expect("spawn sifrun")
}

/// Runs `c` to completion and returns how long it took (the calibration of the
/// random kill delay).
fn timed(rt_cmd: Command) -> Duration {
    let t = Instant::now();
    let o = output_with_timeout(rt_cmd, Duration::from_secs(60));
    assert_ok(&o, "calibration run");
    t.elapsed()
}

/// Spawns `c`, SIGKILLs it after `delay` (unless it finished before), reaps it.
/// Returns whether it was killed before finishing.
fn kill_after(c: Command, delay: Duration) -> bool {
    let mut child = spawn_quiet(c);
    let t = Instant::now();
    while t.elapsed() < delay {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let killed = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    killed
}

/// A delay in [0, 1.2 * d).
fn random_delay(rng: &mut Rng, d: Duration) -> Duration {
    let max = (d.as_micros() as u64 * 12 / 10).max(1000);
    Duration::from_micros(rng.below(max))
}

fn create_cmd(rt: &Runtime, b: &Path, id: &str) -> Command {
    let mut c = rt.cmd(["create", "--bundle"]);
    c.arg(b).arg(id);
    c
}

/// After a fault: `delete --force` succeeds and nothing of `id` is left; then a
/// container with the same id runs to completion.
#[track_caller]
fn recover_and_reuse(rt: &Runtime, b: &Bundle, id: &str, what: &str) {
    let o = rt.delete_force(id);
    assert!(
        o.status.success(),
        "{what}: delete --force after the kill failed: {}",
        stderr(&o)
    );
    assert_no_leaks(rt, id);
    let o = rt.create(id, b.path());
    assert_ok(&o, &format!("{what}: create of the same id after recovery"));
    let o = rt.run(["start", id]);
    assert_ok(&o, &format!("{what}: start after recovery"));
    assert_eq!(rt.status(id).as_deref(), Some("running"), "{what}");
    let o = rt.delete_force(id);
    assert_ok(&o, &format!("{what}: final delete --force"));
    assert_no_leaks(rt, id);
}

#[test]
fn sigkill_during_create() {
    if !require_root() {
        return;
    }
    let mut rng = Rng::from_env_or_time();
    let rt = Runtime::new();
    let b = Bundle::sleeper("fault-create");
    let probe = unique_id("fcal");
    rt.track(&probe);
    let d = timed(create_cmd(&rt, b.path(), &probe));
    assert_ok(&rt.delete_force(&probe), "calibration delete");
    let mut killed = 0;
    for i in 0..iterations() {
        let id = unique_id("fcreate");
        rt.track(&id);
        let delay = random_delay(&mut rng, d);
        killed += u64::from(kill_after(create_cmd(&rt, b.path(), &id), delay));
        recover_and_reuse(&rt, &b, &id, &format!("create #{i} killed after {delay:?}"));
    }
    eprintln!(
        "create: {} iterations, {killed} killed mid-way (create takes {d:?})",
        iterations()
    );
}

#[test]
fn sigkill_during_start() {
    if !require_root() {
        return;
    }
    let mut rng = Rng::from_env_or_time();
    let rt = Runtime::new();
    let b = Bundle::sleeper("fault-start");
    let probe = unique_id("fcal");
    assert_ok(&rt.create(&probe, b.path()), "calibration create");
    let d = timed(rt.cmd(["start", &probe]));
    assert_ok(&rt.delete_force(&probe), "calibration delete");
    let mut killed = 0;
    for i in 0..iterations() {
        let id = unique_id("fstart");
        assert_ok(&rt.create(&id, b.path()), "create");
        let delay = random_delay(&mut rng, d);
        killed += u64::from(kill_after(rt.cmd(["start", &id]), delay));
        // state must still be readable and sane
        if let Some(s) = rt.state(&id) {
            let st = s["status"].as_str().unwrap_or("");
            assert!(
                ["created", "running", "stopped"].contains(&st),
                "start #{i}: status {st:?}"
            );
        }
        recover_and_reuse(&rt, &b, &id, &format!("start #{i} killed after {delay:?}"));
    }
    eprintln!(
        "start: {} iterations, {killed} killed mid-way (start takes {d:?})",
        iterations()
    );
}

#[test]
fn sigkill_during_delete() {
    if !require_root() {
        return;
    }
    let mut rng = Rng::from_env_or_time();
    let rt = Runtime::new();
    let b = Bundle::sleeper("fault-delete");
    let probe = unique_id("fcal");
    assert_ok(&rt.create(&probe, b.path()), "calibration create");
    assert_ok(&rt.run(["start", &probe]), "calibration start");
    let d = timed(rt.cmd(["delete", "--force", &probe]));
    let mut killed = 0;
    for i in 0..iterations() {
        let id = unique_id("fdelete");
        assert_ok(&rt.create(&id, b.path()), "create");
        if i % 2 == 0 {
            assert_ok(&rt.run(["start", &id]), "start");
        }
        let delay = random_delay(&mut rng, d);
        killed += u64::from(kill_after(rt.cmd(["delete", "--force", &id]), delay));
        recover_and_reuse(&rt, &b, &id, &format!("delete #{i} killed after {delay:?}"));
    }
    eprintln!(
        "delete: {} iterations, {killed} killed mid-way (delete takes {d:?})",
        iterations()
    );
}

fn mount_cmd(img: &Path, bundle: &Path, mode: &str) -> Command {
    let mut c = Command::new(SIFRUN);
    c.args(["mount", "--mode", mode]).arg(img).arg(bundle);
    c
}

fn umount_cmd(bundle: &Path, force: bool) -> Command {
    let mut c = Command::new(SIFRUN);
    c.arg("umount");
    if force {
        c.arg("--force");
    }
    c.arg(bundle);
    c
}

/// Processes (e.g. FUSE daemons) that still use `dir` in their command line.
fn helpers_of(dir: &Path) -> Vec<(i32, String)> {
    processes_with(&dir.to_string_lossy())
}

/// What is mounted, attached and running for the image and bundles under `t`.
#[derive(Debug, PartialEq)]
struct Held {
    mounts: Vec<std::path::PathBuf>,
    loops: Vec<String>,
    daemons: Vec<i32>,
}

fn held(t: &TmpDir, img: &Path) -> Held {
    let mut daemons: Vec<i32> = helpers_of(&t.path).into_iter().map(|(p, _)| p).collect();
    daemons.sort();
    Held {
        mounts: mounts_under(&t.path),
        loops: loop_devices_of(img),
        daemons,
    }
}

/// After a killed mount/umount: `umount --force` leaves no mount, loop device or FUSE
/// daemon beyond `base` (what a bundle holding the same image keeps: see
/// [`shared_fault_loop`]).
#[track_caller]
fn recover_bundle(
    t: &TmpDir,
    img: &Path,
    bundle: &Path,
    base: &Held,
    what: &str,
) -> Result<(), String> {
    let o = output_with_timeout(umount_cmd(bundle, true), Duration::from_secs(60));
    let t0 = Instant::now();
    let mut now = held(t, img);
    while now != *base && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
        now = held(t, img);
    }
    let mut problems = Vec::new();
    if now.mounts != base.mounts {
        problems.push(format!("mounts: {:?}, want {:?}", now.mounts, base.mounts));
    }
    if now.loops != base.loops {
        problems.push(format!(
            "loop devices: {:?}, want {:?}",
            now.loops, base.loops
        ));
    }
    if now.daemons != base.daemons {
        problems.push(format!(
            "helper processes: {:?}, want {:?}",
            helpers_of(&t.path),
            base.daemons
        ));
    }
    if !o.status.success() && bundle.exists() {
        problems.push(format!(
            "umount --force failed and left {} ({}): {}",
            bundle.display(),
            list_dir(bundle),
            stderr(&o).trim()
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("{what}: {}", problems.join("; ")))
    }
}

fn list_dir(p: &Path) -> String {
    std::fs::read_dir(p)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

/// Force-cleans whatever a failed recovery left so the next iteration starts clean
/// (with a holder: only what is under the bundle).
fn scrub(t: &TmpDir, bundle: &Path, holder: bool) {
    if holder {
        let _ = output_with_timeout(umount_cmd(bundle, true), Duration::from_secs(60));
        let _ = std::fs::remove_dir_all(bundle);
        return;
    }
    for (pid, _) in helpers_of(&t.path) {
        // SAFETY: plain kill(2) of a pid we just found by its command line.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    let mut m = mounts_under(&t.path);
    m.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    for p in m {
        let _ = nix::mount::umount2(&p, nix::mount::MntFlags::MNT_DETACH);
    }
    let _ = std::fs::remove_dir_all(bundle);
}

fn mount_fault_loop(mode: &str, kill_umount: bool) {
    let t = TmpDir::new("sifrun-fault-mount");
    fault_loop(&t, mode, kill_umount, None);
}

/// [`mount_fault_loop`] while another bundle holds the same (shared) image mount:
/// after each kill and `umount --force` that bundle still works, its ref is the only
/// one left, and nothing else of the image is mounted, attached or running. At the
/// end its umount unmounts the image.
fn shared_fault_loop(mode: &str, kill_umount: bool) {
    let t = TmpDir::new("sifrun-fault-shared");
    let img = busybox_sif_copy(&t.path);
    let holder = t.join("holder");
    struct Umount<'a>(&'a Path);
    impl Drop for Umount<'_> {
        fn drop(&mut self) {
            if self.0.exists() {
                let _ = output_with_timeout(umount_cmd(self.0, true), Duration::from_secs(60));
            }
        }
    }
    let _g = Umount(&holder);
    assert_ok(
        &output_with_timeout(mount_cmd(&img, &holder, mode), Duration::from_secs(60)),
        "mount of the holder",
    );
    let key = crate::shared_mounts::shared_key(&holder).expect("the holder's layers are shared");
    fault_loop(&t, mode, kill_umount, Some(&holder));
    let refs = crate::shared_mounts::image_dir(&key).join("refs");
    assert_eq!(
        std::fs::read_dir(&refs).map(|r| r.count()).unwrap_or(0),
        1,
        "the holder's ref"
    );
    assert_ok(
        &output_with_timeout(umount_cmd(&holder, false), Duration::from_secs(60)),
        "umount of the holder",
    );
    let left = settle(Duration::from_secs(5), || {
        let h = held(&t, &img);
        if h.mounts.is_empty() && h.loops.is_empty() && h.daemons.is_empty() {
            vec![]
        } else {
            vec![h]
        }
    });
    assert!(left.is_empty(), "after the last umount: {left:?}");
    assert!(
        !crate::shared_mounts::image_dir(&key).exists(),
        "image dir left"
    );
}

fn fault_loop(t: &TmpDir, mode: &str, kill_umount: bool, holder: Option<&Path>) {
    let mut rng = Rng::from_env_or_time();
    let img = t.join("busybox.sif");
    if !img.exists() {
        busybox_sif_copy(&t.path);
    }
    let base = held(t, &img);
    let refs = holder
        .and_then(crate::shared_mounts::shared_key)
        .map(|k| crate::shared_mounts::image_dir(&k).join("refs"));
    let bundle = t.join("bundle");
    let dm = timed(mount_cmd(&img, &bundle, mode));
    let du = timed(umount_cmd(&bundle, false));
    let mut failures = Vec::new();
    let mut killed = 0;
    let n = iterations();
    for i in 0..n {
        let what = if kill_umount {
            assert_ok(
                &output_with_timeout(mount_cmd(&img, &bundle, mode), Duration::from_secs(60)),
                "mount",
            );
            let delay = random_delay(&mut rng, du);
            killed += u64::from(kill_after(umount_cmd(&bundle, false), delay));
            format!("{mode} umount #{i} killed after {delay:?}")
        } else {
            let delay = random_delay(&mut rng, dm);
            killed += u64::from(kill_after(mount_cmd(&img, &bundle, mode), delay));
            format!("{mode} mount #{i} killed after {delay:?}")
        };
        let mut r = recover_bundle(t, &img, &bundle, &base, &what);
        if let (Ok(()), Some(refs), Some(h)) = (&r, &refs, holder) {
            let n = std::fs::read_dir(refs).map(|r| r.count()).unwrap_or(0);
            if n != 1 || !h.join("rootfs/bin/busybox").is_file() {
                r = Err(format!(
                    "{what}: {n} refs (want the holder's only), or the holder broke"
                ));
            }
        }
        if let Err(e) = r {
            eprintln!("{e}");
            failures.push(e);
            scrub(t, &bundle, holder.is_some());
        }
        // the same bundle path works again
        let o = output_with_timeout(mount_cmd(&img, &bundle, mode), Duration::from_secs(60));
        assert_ok(&o, &format!("{what}: mount after recovery"));
        assert!(bundle.join("rootfs/bin/busybox").is_file(), "{what}");
        let o = output_with_timeout(umount_cmd(&bundle, false), Duration::from_secs(60));
        assert_ok(&o, &format!("{what}: umount after recovery"));
        assert!(!bundle.exists(), "{what}: bundle left after umount");
    }
    eprintln!(
        "{mode} {}{}: {n} iterations, {killed} killed mid-way, {} not recovered",
        if kill_umount { "umount" } else { "mount" },
        if holder.is_some() {
            " (shared with a holder)"
        } else {
            ""
        },
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {n} kills were not recovered by `umount --force`:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn sigkill_during_mount_kernel() {
    if require_root() {
        mount_fault_loop("kernel", false);
    }
}

#[test]
fn sigkill_during_mount_fuse() {
    if require_root() {
        mount_fault_loop("fuse", false);
    }
}

#[test]
fn sigkill_during_umount_kernel() {
    if require_root() {
        mount_fault_loop("kernel", true);
    }
}

#[test]
fn sigkill_during_umount_fuse() {
    if require_root() {
        mount_fault_loop("fuse", true);
    }
}

#[test]
fn sigkill_during_shared_mount_kernel() {
    if require_root() {
        shared_fault_loop("kernel", false);
    }
}

#[test]
fn sigkill_during_shared_mount_fuse() {
    if require_root() {
        shared_fault_loop("fuse", false);
    }
}

#[test]
fn sigkill_during_shared_umount_kernel() {
    if require_root() {
        shared_fault_loop("kernel", true);
    }
}

#[test]
fn sigkill_during_shared_umount_fuse() {
    if require_root() {
        shared_fault_loop("fuse", true);
    }
}
