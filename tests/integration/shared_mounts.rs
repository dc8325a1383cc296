//! Shared image mounts (issue 18): bundles of one image share its read-only layer
//! mounts (root, kernel mode: one loop device and one squashfs mount; a user in FUSE
//! mode: one squashfuse), each with its own overlay; the last umount unmounts the
//! image; a rewritten image gets a new mount; `--no-share` / `SIFRUN_NO_SHARE=1` give
//! each bundle its own. Kills half-way through mount/umount with others still using
//! the image: reliability::faults. Everything a failed test leaves is `umount
//! --force`d by [`Bundles`].

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::sif::{busybox_sif_copy, run_with_stdin, MountScratch};
use crate::common::*;

/// A [`MountScratch`] whose mounts are `--mode kernel` and that runs `echo hi` in them.
struct Bundles(MountScratch);

impl Bundles {
    fn new(tag: &str) -> Self {
        Bundles(MountScratch::new(&format!("shared-{tag}")))
    }

    fn dir(&self) -> &TmpDir {
        &self.0.dir
    }

    fn mount(&mut self, img: &Path, tag: &str, extra: &[&str], env: &[(&str, &str)]) -> PathBuf {
        let mut args = vec!["--mode", "kernel"];
        args.extend_from_slice(extra);
        self.0.mount(img, tag, &args, env)
    }

    fn umount(&self, b: &Path) {
        self.0.umount(b)
    }

    /// Runs `echo hi` in bundle `b`.
    fn runs(&self, b: &Path, what: &str) {
        let o = run_with_stdin(&self.0.state(), b, &unique_id("shr"), "echo hi\n");
        assert_ok(&o, what);
        assert_eq!(stdout(&o), "hi\n", "{what}");
    }
}

/// The shared image key a bundle's state records (None: not shared).
pub(crate) fn shared_key(b: &Path) -> Option<String> {
    let st: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b.join(".sifrun-mount.json")).ok()?).ok()?;
    st["shared"]["key"].as_str().map(String::from)
}

/// root's shared image dir of `key`.
pub(crate) fn image_dir(key: &str) -> PathBuf {
    Path::new("/run/sifrun/.images").join(key)
}

/// squashfs mounts of loop devices backed by `img`.
fn squashfs_mounts_of(img: &Path) -> Vec<String> {
    let devs: Vec<String> = loop_devices_of(img)
        .iter()
        .filter_map(|l| l.split(' ').next().map(String::from))
        .collect();
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter(|l| {
            l.split_once(" - ").is_some_and(|(_, post)| {
                let mut f = post.split(' ');
                f.next() == Some("squashfs")
                    && f.next().is_some_and(|s| devs.iter().any(|d| d == s))
            })
        })
        .map(String::from)
        .collect()
}

#[track_caller]
fn assert_gone(img: &Path, key: &str) {
    let loops = settle(Duration::from_secs(5), || loop_devices_of(img));
    assert!(loops.is_empty(), "loop devices left: {loops:?}");
    assert!(!image_dir(key).exists(), "image dir {key} left");
}

#[test]
fn two_bundles_one_mount_and_last_umount_unmounts() {
    if !require_root() {
        return;
    }
    let mut s = Bundles::new("two");
    let img = busybox_sif_copy(&s.dir().path);
    let b1 = s.mount(&img, "1", &[], &[]);
    let b2 = s.mount(&img, "2", &[], &[]);
    let (k1, k2) = (shared_key(&b1), shared_key(&b2));
    assert!(k1.is_some() && k1 == k2, "one key: {k1:?} {k2:?}");
    let key = k1.unwrap();
    assert_eq!(loop_devices_of(&img).len(), 1, "one loop device");
    assert_eq!(squashfs_mounts_of(&img).len(), 1, "one squashfs mount");
    assert!(
        !is_mounted(&b1.join("layers/0")) && mounts_under(&b1).len() == 1,
        "the bundle has only its overlay: {:?}",
        mounts_under(&b1)
    );
    assert_eq!(
        std::fs::read_dir(image_dir(&key).join("refs"))
            .unwrap()
            .count(),
        2
    );
    s.runs(&b1, "run bundle 1");
    s.runs(&b2, "run bundle 2");
    // umount of one keeps the other working
    s.umount(&b2);
    assert_eq!(loop_devices_of(&img).len(), 1);
    s.runs(&b1, "run bundle 1 after umount of 2");
    // the last one unmounts the image
    s.umount(&b1);
    assert!(squashfs_mounts_of(&img).is_empty());
    assert_gone(&img, &key);
}

fn is_mounted(p: &Path) -> bool {
    mounts_under(p).iter().any(|m| m == p)
}

#[test]
fn rewritten_image_gets_a_new_mount() {
    if !require_root() {
        return;
    }
    let mut s = Bundles::new("rewrite");
    let img = busybox_sif_copy(&s.dir().path);
    let b1 = s.mount(&img, "1", &[], &[]);
    // Same path, new content (same bytes here, so the old mount stays sane; mtime
    // and ctime change all the same).
    std::thread::sleep(Duration::from_millis(20));
    let bytes = std::fs::read(&img).unwrap();
    std::fs::write(&img, &bytes).unwrap();
    let b2 = s.mount(&img, "2", &[], &[]);
    let (k1, k2) = (shared_key(&b1).unwrap(), shared_key(&b2).unwrap());
    assert_ne!(k1, k2, "a new key for the rewritten image");
    assert_eq!(
        loop_devices_of(&img).len(),
        2,
        "a new mount, not the stale one"
    );
    s.runs(&b2, "run over the new mount");
    s.umount(&b1);
    assert!(!image_dir(&k1).exists());
    assert_eq!(loop_devices_of(&img).len(), 1);
    s.umount(&b2);
    assert_gone(&img, &k2);
}

#[test]
fn no_share_mounts_separately() {
    if !require_root() {
        return;
    }
    let mut s = Bundles::new("noshare");
    let img = busybox_sif_copy(&s.dir().path);
    let b1 = s.mount(&img, "1", &["--no-share"], &[]);
    let b2 = s.mount(&img, "2", &[], &[("SIFRUN_NO_SHARE", "1")]);
    assert_eq!(shared_key(&b1), None);
    assert_eq!(shared_key(&b2), None);
    assert!(is_mounted(&b1.join("layers/0")) && is_mounted(&b2.join("layers/0")));
    assert_eq!(loop_devices_of(&img).len(), 2, "a loop device each");
    s.runs(&b1, "run unshared bundle");
    s.umount(&b1);
    s.umount(&b2);
    let loops = settle(Duration::from_secs(5), || loop_devices_of(&img));
    assert!(loops.is_empty(), "{loops:?}");
}

/// A ref whose bundle is gone (what a crash between steps of someone else could
/// leave) does not keep the image mounted.
#[test]
fn stale_ref_is_dropped() {
    if !require_root() {
        return;
    }
    let mut s = Bundles::new("stale");
    let img = busybox_sif_copy(&s.dir().path);
    let b1 = s.mount(&img, "1", &[], &[]);
    let key = shared_key(&b1).unwrap();
    let refs = image_dir(&key).join("refs");
    let gone = s.dir().join("bundle-gone");
    let name = {
        use sha2::Digest;
        hex::encode(&sha2::Sha256::digest(gone.as_os_str().as_encoded_bytes())[..16])
    };
    std::fs::write(refs.join(name), gone.as_os_str().as_encoded_bytes()).unwrap();
    s.umount(&b1);
    assert_gone(&img, &key);
}

#[test]
fn concurrent_oci_runs_share_one_mount() {
    if !crate::common::oci::can_run("oci run --image") {
        return;
    }
    let s = Bundles::new("ocirun");
    let img = busybox_sif_copy(&s.dir().path);
    let state = s.0.state();
    let run = |script: &str| {
        let mut c = Command::new(SIFRUN);
        c.arg("--root")
            .arg(&state)
            .args(["oci", "run", "--mode", "kernel", "--image"])
            .arg(&img)
            .args(["--exec", "--", "sh", "-c", script]);
        c
    };
    let first = run("sleep 3; echo first")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let up = settle(Duration::from_secs(20), || {
        if loop_devices_of(&img).is_empty() {
            vec![()]
        } else {
            vec![]
        }
    });
    assert!(up.is_empty(), "first run mounted nothing");
    let o = output_with_timeout(run("echo second"), Duration::from_secs(60));
    let during = loop_devices_of(&img).len();
    let o1 = first.wait_with_output().unwrap();
    assert_ok(&o, "second oci run");
    assert_eq!(stdout(&o), "second\n");
    assert!(o1.status.success(), "first oci run: {:?}", o1.status);
    assert_eq!(String::from_utf8_lossy(&o1.stdout), "first\n");
    assert_eq!(during, 1, "both runs on one loop device");
    let loops = settle(Duration::from_secs(5), || loop_devices_of(&img));
    assert!(loops.is_empty(), "loop devices left: {loops:?}");
    assert!(mounts_under(&s.dir().path).is_empty());
}

/// The test user (uid, gid), a home of its own and a copy of the busybox SIF in it,
/// all the user's; None (test skipped) without FUSE or newuidmap.
fn user_with_image() -> Option<(u32, u32, TmpDir, PathBuf)> {
    use crate::rootless::{chown_r, fuse_usable_by_users, test_user, user_home};
    if !require_root() || !fuse_usable_by_users() || !have("newuidmap") {
        eprintln!("skipped: needs root, FUSE and newuidmap");
        return None;
    }
    let (uid, gid) = test_user();
    let home = user_home(uid, gid);
    let img = busybox_sif_copy(&home.path);
    chown_r(&home.path, uid, gid);
    Some((uid, gid, home, img))
}

/// `mount --mode fuse --fakeroot IMG B` of each bundle, run by `sifrun` (as the
/// user); they share one image mount: its key. --fakeroot: the container's ids are
/// the caller's (no allow_other needed).
fn fuse_mounts_share(
    sifrun: &dyn Fn(&[&str]) -> std::process::Output,
    img: &Path,
    bundles: &[PathBuf],
) -> String {
    for b in bundles {
        let img = img.to_str().unwrap();
        let o = sifrun(&[
            "mount",
            "--mode",
            "fuse",
            "--fakeroot",
            img,
            b.to_str().unwrap(),
        ]);
        assert_ok(&o, "user mount --mode fuse");
    }
    let key = shared_key(&bundles[0]).expect("shared");
    assert_eq!(shared_key(&bundles[1]).as_deref(), Some(key.as_str()));
    key
}

/// A user in FUSE mode: one squashfuse for two bundles of one image, in the user's
/// own `$XDG_RUNTIME_DIR/sifrun/.images`; each bundle its own fuse-overlayfs.
#[test]
fn user_fuse_one_squashfuse() {
    use crate::rootless::{as_user, as_user_with};
    let Some((uid, gid, home, img)) = user_with_image() else {
        return;
    };
    let h = &home.path;
    let root = h.join("state").display().to_string();
    let bundles: Vec<PathBuf> = (1..=2).map(|i| h.join(format!("b{i}"))).collect();
    struct Guard<'a>(&'a Path, u32, u32, Vec<PathBuf>);
    impl Drop for Guard<'_> {
        fn drop(&mut self) {
            for b in &self.3 {
                if b.exists() {
                    let _ = crate::rootless::as_user(
                        self.1,
                        self.2,
                        self.0,
                        &["umount", "--force", b.to_str().unwrap()],
                    );
                }
            }
            let _ = Command::new("umount")
                .arg("-R")
                .arg("-l")
                .arg(self.0)
                .output();
        }
    }
    let _g = Guard(h, uid, gid, bundles.clone());
    // squashfuse reads the image through the checked open file (/proc/PID/fd/N), so
    // it is found by what it serves: a layer dir in the user's images dir.
    let images = h.join("run/sifrun/.images").display().to_string();
    let squashfuses = || -> Vec<(i32, String)> {
        processes_with(&images)
            .into_iter()
            .filter(|(_, c)| c.starts_with("squashfuse"))
            .collect()
    };
    let key = fuse_mounts_share(&|a| as_user(uid, gid, h, a), &img, &bundles);
    assert!(h
        .join("run/sifrun/.images")
        .join(&key)
        .join("refs")
        .is_dir());
    assert_eq!(
        squashfuses().len(),
        1,
        "one squashfuse: {:?}",
        squashfuses()
    );
    let overlays = processes_with(&h.display().to_string())
        .into_iter()
        .filter(|(_, c)| c.starts_with("fuse-overlayfs"))
        .count();
    assert_eq!(overlays, 2, "a fuse-overlayfs each");
    for b in &bundles {
        let o = as_user_with(
            uid,
            gid,
            h,
            &[
                "--root",
                &root,
                "run",
                "-b",
                b.to_str().unwrap(),
                &unique_id("shu"),
            ],
            &[],
            Some("echo hi\n"),
        );
        assert_ok(&o, "user run of a shared bundle");
        assert_eq!(stdout(&o), "hi\n");
    }
    let o = as_user(uid, gid, h, &["umount", bundles[0].to_str().unwrap()]);
    assert_ok(&o, "umount 1");
    assert_eq!(squashfuses().len(), 1, "still serving bundle 2");
    let o = as_user(uid, gid, h, &["umount", bundles[1].to_str().unwrap()]);
    assert_ok(&o, "umount 2");
    let left = settle(Duration::from_secs(5), squashfuses);
    assert!(left.is_empty(), "squashfuse left: {left:?}");
    assert!(!h.join("run/sifrun/.images").join(&key).exists());
    let m = settle(Duration::from_secs(5), || mounts_under(h));
    assert!(m.is_empty(), "mounts left: {m:?}");
}

/// 24 `mount --no-share` of one image at once: each gets its own loop device (the
/// racers for one free device retry until they have one), and all go at umount.
#[test]
fn concurrent_unshared_mounts_all_get_a_loop_device() {
    if !require_root() {
        return;
    }
    let mut s = Bundles::new("noshare-many");
    let img = busybox_sif_copy(&s.dir().path);
    let bundles: Vec<PathBuf> = (0..24)
        .map(|i| {
            let b = s.dir().join(format!("bundle-{i}"));
            // Registered for the clean-up of a failed test.
            s.0.bundles.push(b.clone());
            b
        })
        .collect();
    let children: Vec<_> = bundles
        .iter()
        .map(|b| {
            Command::new(SIFRUN)
                .args(["mount", "--mode", "kernel", "--no-share"])
                .arg(&img)
                .arg(b)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let failed: Vec<String> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .filter(|o| !o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
        .collect();
    assert!(
        failed.is_empty(),
        "{} mounts failed: {failed:?}",
        failed.len()
    );
    assert_eq!(loop_devices_of(&img).len(), 24, "a loop device each");
    for b in &bundles {
        s.umount(b);
    }
    let loops = settle(Duration::from_secs(5), || loop_devices_of(&img));
    assert!(loops.is_empty(), "{loops:?}");
}

/// The overlay over a bundle's own upper dir is `volatile` (it is deleted at umount,
/// so unmounting need not sync the disk under it); a writable `--overlay DIR` the
/// user keeps is not.
#[test]
fn own_upper_is_volatile_a_kept_overlay_is_not() {
    if !require_root() {
        return;
    }
    let mut s = Bundles::new("volatile");
    let img = busybox_sif_copy(&s.dir().path);
    let keep = s.dir().join("keep");
    std::fs::create_dir(&keep).unwrap();
    let b1 = s.mount(&img, "own", &[], &[]);
    let arg = format!("{}", keep.display());
    let b2 = s.mount(&img, "kept", &["--overlay", &arg], &[]);
    let opts = |b: &Path| {
        let target = b.join("rootfs");
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .find(|l| l.split(' ').nth(4) == Some(target.to_str().unwrap()))
            .map(String::from)
            .unwrap_or_else(|| panic!("{} not mounted", target.display()))
    };
    // The superblock options, after " - overlay overlay ".
    let volatile = |l: &str| {
        l.split(" - ")
            .nth(1)
            .and_then(|t| t.split(' ').nth(2))
            .is_some_and(|o| {
                o.split(',')
                    .any(|x| x == "volatile" || x == "fsync=volatile")
            })
    };
    let (o1, o2) = (opts(&b1), opts(&b2));
    assert!(o1.contains(" - overlay ") && volatile(&o1), "{o1}");
    assert!(!volatile(&o2), "{o2}");
    s.runs(&b1, "run in the volatile overlay");
    s.umount(&b1);
    s.umount(&b2);
}

/// Issue 18: a root `oci run --image` in kernel mode mounts its rootfs overlay in the
/// container (nothing on the host under the state root while it runs, nothing to
/// undo), on a tmpfs upper of the session size (64 MiB, as SingularityCE's OCI
/// mode): writes beyond it fail with ENOSPC.
#[test]
fn root_oci_run_overlay_is_mounted_inside_the_container() {
    if !crate::common::oci::can_run("oci run --image") {
        return;
    }
    let s = Bundles::new("incont");
    let img = busybox_sif_copy(&s.dir().path);
    let state = s.0.state();
    let data = s.dir().path.join("data");
    std::fs::create_dir(&data).unwrap();
    let script = r#"awk '$5=="/" {for(i=7;i<=NF;i++) if($i=="-") print $(i+1)}' /proc/self/mountinfo
        dd if=/dev/zero of=/big bs=1M count=80 2>&1 | grep -c 'No space left'
        rm -f /big; echo small > /small && cat /small
        touch /data/up; i=0
        while [ ! -e /data/go ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done"#;
    let mut c = Command::new(SIFRUN);
    c.arg("--root")
        .arg(&state)
        .args(["oci", "run", "--mode", "kernel", "-B"])
        .arg(format!("{}:/data", data.display()))
        .arg("--image")
        .arg(&img)
        .args(["--exec", "--", "sh", "-c", script]);
    let (o, on_host) = while_up(c, &data, |_| mounts_under(&state));
    assert_ok(&o, "oci run --image");
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines, ["overlay", "1", "small"], "{out}");
    assert!(on_host.is_empty(), "mounted on the host: {on_host:?}");
    assert!(mounts_under(&s.dir().path).is_empty());
}

/// A user without `$XDG_RUNTIME_DIR` (a batch job, `su`) still shares: the image
/// mounts go to `/tmp/sifrun-UID/.images`, next to that user's default state root.
#[test]
fn user_without_a_runtime_dir_shares_under_tmp() {
    use crate::rootless::as_user_with;
    let Some((uid, gid, home, img)) = user_with_image() else {
        return;
    };
    let h = &home.path;
    let no_xdg = [("XDG_RUNTIME_DIR", "")];
    let images = PathBuf::from(format!("/tmp/sifrun-{uid}/.images"));
    let bundles: Vec<PathBuf> = (1..=2).map(|i| h.join(format!("nx{i}"))).collect();
    let sifrun = |args: &[&str]| as_user_with(uid, gid, h, args, &no_xdg, None);
    let umount = |b: &Path, force: bool| {
        let mut a = vec!["umount"];
        if force {
            a.push("--force");
        }
        a.push(b.to_str().unwrap());
        sifrun(&a)
    };
    struct Guard<'a>(
        &'a [PathBuf],
        &'a dyn Fn(&Path, bool) -> std::process::Output,
    );
    impl Drop for Guard<'_> {
        fn drop(&mut self) {
            for b in self.0.iter().filter(|b| b.exists()) {
                let _ = (self.1)(b, true);
            }
        }
    }
    let _g = Guard(&bundles, &umount);
    let key = fuse_mounts_share(&sifrun, &img, &bundles);
    assert!(images.join(&key).join("refs").is_dir());
    for b in &bundles {
        assert_ok(&umount(b, false), "umount");
    }
    assert!(!images.join(&key).exists(), "the last umount removes it");
    let m = settle(Duration::from_secs(5), || mounts_under(&images));
    assert!(m.is_empty(), "mounts left: {m:?}");
    // The user's own leftovers of this test: empty dirs.
    let _ = std::fs::remove_dir(&images);
    let _ = std::fs::remove_dir(images.parent().unwrap());
}

/// A SIGKILLed `oci run --image` (a scheduler's cancel) leaves its container, bundle
/// and share of the image mount; the next `oci run` in that state root cleans them up
/// and leaves a live run alone.
#[test]
fn a_killed_oci_run_is_cleaned_up_by_the_next() {
    use std::os::unix::process::CommandExt;
    if !crate::common::oci::can_run("oci run --image") {
        return;
    }
    let s = Bundles::new("killed");
    let img = busybox_sif_copy(&s.dir().path);
    let state = s.0.state();
    let run = |id: &str, script: &str| {
        let mut c = Command::new(SIFRUN);
        c.arg("--root")
            .arg(&state)
            .args(["oci", "run", "--mode", "kernel", "--image"])
            .arg(&img)
            .arg(id)
            .args(["--exec", "--", "sh", "-c", script])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0);
        c
    };
    let running = || -> Vec<String> {
        let o = Command::new(SIFRUN)
            .arg("--root")
            .arg(&state)
            .args(["list", "-q"])
            .output()
            .unwrap();
        let mut ids: Vec<String> = stdout(&o).lines().map(String::from).collect();
        ids.sort();
        ids
    };
    let oci_dirs = || -> usize { std::fs::read_dir(state.join(".oci")).map_or(0, |d| d.count()) };
    /// Kills both runs' process groups, then sweeps what they left with one more run.
    struct Guard<'a>(Vec<u32>, &'a dyn Fn(&str, &str) -> Command);
    impl Drop for Guard<'_> {
        fn drop(&mut self) {
            for pg in &self.0 {
                unsafe { libc::kill(-(*pg as i32), libc::SIGKILL) };
            }
            let _ =
                output_with_timeout((self.1)(&unique_id("swp"), "true"), Duration::from_secs(60));
        }
    }
    let (doomed_id, live_id) = (unique_id("kld"), unique_id("liv"));
    let mut doomed = run(&doomed_id, "sleep 600").spawn().unwrap();
    let mut live = run(&live_id, "sleep 600").spawn().unwrap();
    let _guard = Guard(vec![doomed.id(), live.id()], &run);
    let mut both = vec![doomed_id.clone(), live_id.clone()];
    both.sort();
    let up = settle(Duration::from_secs(30), || {
        if running() == both {
            vec![]
        } else {
            vec![()]
        }
    });
    assert!(up.is_empty(), "both runs up: {:?}", running());
    unsafe { libc::kill(-(doomed.id() as i32), libc::SIGKILL) };
    doomed.wait().unwrap();
    // The container's init is in a session of its own: it outlives its run.
    assert_eq!(running(), both, "what the killed run left");
    assert_eq!(oci_dirs(), 2);
    let o = output_with_timeout(run(&unique_id("nxt"), "true"), Duration::from_secs(60));
    assert!(o.status.success(), "next oci run: {:?}", o.status);
    assert_eq!(
        running(),
        std::slice::from_ref(&live_id),
        "the killed run's container is gone"
    );
    assert_eq!(oci_dirs(), 1, "the killed run's dir is gone");
    assert_eq!(
        loop_devices_of(&img).len(),
        1,
        "the live run keeps the image mount"
    );
    // The live run ends cleanly (its sh ignores SIGTERM: killed after the grace).
    unsafe { libc::kill(live.id() as i32, libc::SIGTERM) };
    live.wait().unwrap();
    assert!(running().is_empty(), "{:?}", running());
    assert_eq!(oci_dirs(), 0);
    let loops = settle(Duration::from_secs(5), || loop_devices_of(&img));
    assert!(loops.is_empty(), "loop devices left: {loops:?}");
    assert!(mounts_under(&s.dir().path).is_empty());
}

/// `oci run --image` reads the container's program into the page cache while the
/// container is being set up: a script entry point found on PATH is resident in
/// full while the container runs, though its shell reads only its first lines.
#[test]
fn oci_run_warms_the_entry_point() {
    use std::os::unix::fs::PermissionsExt;
    if !crate::common::oci::can_run("oci run --image") {
        return;
    }
    let s = Bundles::new("warm");
    let tree = s.dir().path.join("tree");
    make_rootfs(&tree);
    let mut script = b"#!/bin/sh\ntouch /data/up; i=0\n\
        while [ ! -e /data/go ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done\nexit 0\n"
        .to_vec();
    // Never read by sh: it comes after `exit`.
    script.resize(8 << 20, b'#');
    let entry = tree.join("bin/entry");
    std::fs::write(&entry, &script).unwrap();
    std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o755)).unwrap();
    let img = s.dir().path.join("entry.sif");
    let o = Command::new(SIFRUN)
        .args(["sif", "build", "-q"])
        .arg(&img)
        .arg(format!("dir:{}", tree.display()))
        .output()
        .unwrap();
    assert_ok(&o, "sif build");
    let data = s.dir().path.join("data");
    std::fs::create_dir(&data).unwrap();
    let mut c = Command::new(SIFRUN);
    c.arg("--root")
        .arg(s.0.state())
        .args(["oci", "run", "--mode", "kernel", "-B"])
        .arg(format!("{}:/data", data.display()))
        .arg("--image")
        .arg(&img)
        .args(["--exec", "--", "entry"]);
    let resident = |f: &Path| -> u64 {
        let o = Command::new("fincore")
            .args(["--bytes", "--noheadings", "--output", "RES"])
            .arg(f)
            .output()
            .unwrap();
        stdout(&o).trim().parse().unwrap_or(0)
    };
    let (o, res) = while_up(c, &data, |up| {
        // The image's shared lower mount: the file as the container reads it.
        let lower = squashfs_mounts_of(&img)
            .first()
            .and_then(|l| l.split(' ').nth(4).map(PathBuf::from));
        let mut res = 0;
        if let (true, Some(lower)) = (up, lower) {
            let f = lower.join("bin/entry");
            settle(Duration::from_secs(10), || {
                res = resident(&f);
                if res >= script.len() as u64 {
                    vec![]
                } else {
                    vec![res]
                }
            });
        }
        res
    });
    assert_ok(&o, "oci run --image");
    assert_eq!(
        res,
        script.len() as u64,
        "bytes of /bin/entry in the page cache"
    );
    let loops = settle(Duration::from_secs(5), || loop_devices_of(&img));
    assert!(loops.is_empty(), "loop devices left: {loops:?}");
    assert!(mounts_under(&s.dir().path).is_empty());
}

/// Runs `c` (an `oci run` whose container touches DATA/up, then waits for DATA/go)
/// in a thread; once the container is up (or the run ended), `probe(up)` looks at
/// the running container from outside; then DATA/go lets it finish. The run's output
/// and what the probe returned.
fn while_up<T>(
    c: Command,
    data: &Path,
    probe: impl FnOnce(bool) -> T,
) -> (std::process::Output, T) {
    std::thread::scope(|sc| {
        let run = sc.spawn(move || output_with_timeout(c, Duration::from_secs(60)));
        settle(Duration::from_secs(30), || {
            if data.join("up").exists() || run.is_finished() {
                vec![]
            } else {
                vec![()]
            }
        });
        let seen = probe(data.join("up").exists());
        std::fs::write(data.join("go"), "").unwrap();
        (run.join().unwrap(), seen)
    })
}
