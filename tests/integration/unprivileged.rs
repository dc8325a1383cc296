//! Unprivileged users (issue 14): as the test user (subordinate ids in /etc/subuid),
//! `sifrun mount` bundles run unedited and `sifrun oci run --image` takes
//! SingularityCE's OCI-mode options; each option is checked from inside the container.
//!
//! Set-up done here, as a site would: `user_allow_other` in /etc/fuse.conf (so FUSE
//! mounts serve the container's subordinate ids) and /dev/fuse 0666 (see
//! `fuse_usable_by_users`); both are said on stderr when changed.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::sif::busybox_sif_copy;
use crate::common::*;
use crate::rootless::{as_user, as_user_with, chown_r, fuse_usable_by_users, test_user, user_home};

/// Adds `user_allow_other` to /etc/fuse.conf if missing (what a site running
/// subordinate-id containers over FUSE must do).
fn fuse_allows_other() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let t = std::fs::read_to_string("/etc/fuse.conf").unwrap_or_default();
        if !t.lines().any(|l| l.trim() == "user_allow_other") {
            eprintln!("adding user_allow_other to /etc/fuse.conf (FUSE for subordinate ids)");
            let mut t = t;
            if !t.is_empty() && !t.ends_with('\n') {
                t.push('\n');
            }
            t.push_str("user_allow_other\n");
            std::fs::write("/etc/fuse.conf", t).unwrap();
        }
    });
}

struct User {
    uid: u32,
    gid: u32,
    home: TmpDir,
}

impl User {
    fn new() -> Option<User> {
        if !require_root() || !fuse_usable_by_users() || !have("newuidmap") {
            eprintln!("skipped: needs root, FUSE and newuidmap (package uidmap)");
            return None;
        }
        fuse_allows_other();
        let (uid, gid) = test_user();
        let home = user_home(uid, gid);
        Some(User { uid, gid, home })
    }
    fn h(&self) -> &Path {
        &self.home.path
    }
    fn run(&self, args: &[&str]) -> Output {
        as_user(self.uid, self.gid, self.h(), args)
    }
    fn run_with(&self, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
        as_user_with(self.uid, self.gid, self.h(), args, env, stdin)
    }
    /// `oci run --image IMG ARGS...` with this user's state root.
    fn oci(&self, img: &str, args: &[&str]) -> Output {
        self.oci_with(img, args, &[], None)
    }
    fn oci_with(
        &self,
        img: &str,
        args: &[&str],
        env: &[(&str, &str)],
        stdin: Option<&str>,
    ) -> Output {
        let root = self.root();
        let mut all = vec!["--root", &root, "oci", "run", "--image", img];
        all.extend_from_slice(args);
        self.run_with(&all, env, stdin)
    }
    /// `oci run --image IMG OPTS --exec -- sh -c SCRIPT`.
    fn sh(&self, img: &str, opts: &[&str], script: &str) -> Output {
        let mut all = opts.to_vec();
        all.extend(["--exec", "--", "sh", "-c", script]);
        self.oci(img, &all)
    }
    fn root(&self) -> String {
        self.h().join("state").display().to_string()
    }
    /// Nothing of sifrun's left: no mounts under the home, no oci dirs, no FUSE daemons.
    fn assert_clean(&self) {
        let m = settle(std::time::Duration::from_secs(5), || mounts_under(self.h()));
        assert!(m.is_empty(), "mounts left: {m:?}");
        let oci = self.h().join("state/.oci");
        let left: Vec<_> = std::fs::read_dir(&oci)
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "oci dirs left: {left:?}");
        let d = self.h().display().to_string();
        let p = settle(std::time::Duration::from_secs(5), || processes_with(&d));
        assert!(p.is_empty(), "processes left: {p:?}");
    }
}

impl Drop for User {
    fn drop(&mut self) {
        // Whatever a failed test left: containers, then bundles.
        let root = self.root();
        let _ = Command::new(SIFRUN)
            .args(["--root", &root, "list", "-q"])
            .output()
            .map(|o| {
                for id in String::from_utf8_lossy(&o.stdout).lines() {
                    let _ = Command::new(SIFRUN)
                        .args(["--root", &root, "delete", "--force", id])
                        .output();
                }
            });
        for e in std::fs::read_dir(self.h()).into_iter().flatten().flatten() {
            if e.path().join(".sifrun-mount.json").exists() {
                let b = e.path().display().to_string();
                let _ = self.run(&["umount", "--force", &b]);
            }
        }
        let _ = Command::new("umount")
            .arg("-R")
            .arg("-l")
            .arg(self.h())
            .output();
    }
}

/// The demo images of hack/make-busybox-image.sh as OCI-SIFs in `dir`: `user`
/// (USER 1000:1000, WorkingDir /home/tester) and `latest` (root, /srv).
fn demo_images(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    if !have("umoci") || !have("skopeo") || !have("mksquashfs") {
        eprintln!("skipped: needs umoci, skopeo and squashfs-tools");
        return None;
    }
    let img = dir.join("img");
    let o = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("hack/make-busybox-image.sh"))
        .arg(&img)
        .output()
        .unwrap();
    assert_ok(&o, "make-busybox-image.sh");
    let mut out = vec![];
    for tag in ["user", "latest"] {
        let sif = dir.join(format!("{tag}.oci.sif"));
        let tar = if tag == "user" {
            "busybox-user-oci.tar"
        } else {
            "busybox-oci.tar"
        };
        let o = Command::new(SIFRUN)
            .args(["sif", "build", "-q"])
            .arg(&sif)
            .arg(format!("oci-archive:{}", img.join(tar).display()))
            .output()
            .unwrap();
        assert_ok(&o, "sif build");
        out.push(sif);
    }
    Some((out[0].clone(), out[1].clone()))
}

/// The test user, the demo images in its home and an empty `data` dir there.
fn with_images() -> Option<(User, PathBuf, PathBuf, PathBuf)> {
    let u = User::new()?;
    let (user_img, latest) = demo_images(u.h())?;
    let data = u.h().join("data");
    std::fs::create_dir(&data).unwrap();
    Some((u, user_img, latest, data))
}

fn mode_of(bundle: &Path) -> String {
    let st: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle.join(".sifrun-mount.json")).unwrap()).unwrap();
    st["mode"].as_str().unwrap_or("").to_string()
}

#[test]
fn user_mounts_and_runs_native_and_oci_sifs_unedited() {
    let Some(u) = User::new() else { return };
    let native = busybox_sif_copy(u.h());
    let Some((user_img, _)) = demo_images(u.h()) else {
        return;
    };
    chown_r(u.h(), u.uid, u.gid);
    let root = u.root();
    let script = "id -u; id -g; pwd; grep -c . /proc/self/uid_map; touch /tmp/w && echo wrote\n";

    // Native SIF (Singularity's busybox, with xattrs: auto picks extract mode).
    let b = u.h().join("native");
    let o = u.run(&["mount", native.to_str().unwrap(), b.to_str().unwrap()]);
    assert_ok(&o, "mount native SIF");
    assert_eq!(mode_of(&b), "extract");
    let id = unique_id("unpriv-n");
    let o = u.run_with(
        &["--root", &root, "run", "-b", b.to_str().unwrap(), &id],
        &[],
        Some(script),
    );
    assert_ok(&o, "run the native bundle unedited");
    assert_eq!(
        stdout(&o),
        format!("{}\n{}\n/\n3\nwrote\n", u.uid, u.gid),
        "caller's own ids, subordinate ids mapped around them"
    );
    let o = u.run(&["umount", b.to_str().unwrap()]);
    assert_ok(&o, "umount native");
    assert!(
        !b.exists(),
        "bundle removed (also what the container wrote)"
    );

    // OCI-SIF with USER 1000 and WorkingDir, over FUSE.
    for mode in ["auto", "extract"] {
        let b = u.h().join(format!("oci-{mode}"));
        let o = u.run(&[
            "mount",
            "--mode",
            mode,
            user_img.to_str().unwrap(),
            b.to_str().unwrap(),
        ]);
        assert_ok(&o, "mount OCI-SIF");
        assert_eq!(mode_of(&b), if mode == "auto" { "fuse" } else { "extract" });
        let id = unique_id("unpriv-o");
        let o = u.run_with(
            &["--root", &root, "run", "-b", b.to_str().unwrap(), &id],
            &[],
            // A directory of uid 1000 (a subordinate id outside): umount must still
            // remove it.
            Some("id -u; id -g; pwd; echo $RTEST_ENV; mkdir /tmp/d1000 && touch /tmp/d1000/f\n"),
        );
        assert_ok(&o, "run the OCI-SIF bundle unedited");
        assert_eq!(
            stdout(&o),
            "1000\n1000\n/home/tester\nfrom-image\n",
            "{mode}"
        );
        let o = u.run(&["umount", b.to_str().unwrap()]);
        assert_ok(&o, "umount OCI-SIF");
        assert!(!b.exists());
    }
    u.assert_clean();
}

#[test]
fn fakeroot_is_root_inside_and_writes_belong_to_the_caller() {
    let Some((u, _, latest, data)) = with_images() else {
        return;
    };
    chown_r(u.h(), u.uid, u.gid);
    let bind = format!("{}:/data", data.display());
    let o = u.oci(
        latest.to_str().unwrap(),
        &[
            "--fakeroot",
            "-B",
            &bind,
            "--exec",
            "--",
            "sh",
            "-c",
            "id -u; head -1 /proc/self/uid_map; echo x > /data/f; echo $HOME",
        ],
    );
    assert_ok(&o, "oci run --fakeroot");
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0");
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        ["0", &u.uid.to_string(), "1"]
    );
    assert_eq!(lines[2], "/root");
    let m = std::fs::metadata(data.join("f")).unwrap();
    assert_eq!((m.uid(), m.gid()), (u.uid, u.gid), "written as the caller");
    u.assert_clean();
}

#[test]
fn oci_mode_options_seen_from_inside() {
    let Some((u, _, latest, data)) = with_images() else {
        return;
    };
    std::fs::write(data.join("in"), "bound\n").unwrap();
    let ro = u.h().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::write(
        u.h().join("envfile"),
        "FROM_FILE=yes\nexport OTHER=\"a b\"\n",
    )
    .unwrap();
    chown_r(u.h(), u.uid, u.gid);
    let img = latest.to_str().unwrap();
    let bind = format!("{}:/data,{}:/ro:ro", data.display(), ro.display());
    let mnt = format!("type=bind,source={},destination=/m2", data.display());
    let envfile = u.h().join("envfile").display().to_string();
    let script = r#"
        echo "env=$A,$B,$FROM_FILE,$OTHER,$SINGULARITY_NAME"
        echo "home=$HOME"; echo "pwd=$(pwd)"; echo "host=$(hostname)"
        cat /etc/resolv.conf
        cat /data/in; cat /m2/in
        touch /ro/x 2>/dev/null || echo ro-refused
        grep -q ' /scratch ' /proc/self/mountinfo && echo scratch-tmpfs
        grep -c : /proc/net/dev
        grep NoNewPrivs /proc/self/status
        grep CapEff /proc/self/status
        echo "secret=${HOST_SECRET:-unset},term=$TERM"
    "#;
    let o = u.oci_with(
        img,
        &[
            "-B",
            &bind,
            "--mount",
            &mnt,
            "--env",
            "A=1",
            "--env-file",
            &envfile,
            "--cwd",
            "/tmp",
            "--home",
            "/myhome",
            "--hostname",
            "h1",
            "--dns",
            "10.1.2.3",
            "-S",
            "/scratch",
            "--net",
            "--network",
            "none",
            "--no-privs",
            "--exec",
            "--",
            "sh",
            "-c",
            script,
        ],
        &[
            ("SINGULARITYENV_B", "2"),
            ("HOST_SECRET", "s"),
            ("TERM", "xterm"),
        ],
        None,
    );
    assert_ok(&o, "oci run with options");
    let out = stdout(&o);
    for want in [
        format!("env=1,2,yes,a b,{img}"),
        "home=/myhome".into(),
        "pwd=/tmp".into(),
        "host=h1".into(),
        "nameserver 10.1.2.3".into(),
        "bound\nbound".into(),
        "ro-refused".into(),
        "scratch-tmpfs".into(),
        // loopback only: the header lines and lo
        "\n1\n".into(),
        "NoNewPrivs:\t1".into(),
        "CapEff:\t0000000000000000".into(),
        "secret=unset,term=xterm".into(),
    ] {
        assert!(out.contains(&want), "{want:?} in:\n{out}");
    }
    assert_eq!(
        out.matches("nameserver").count(),
        1,
        "--dns replaces resolv.conf: {out}"
    );

    // --no-compat: read-only root, host cwd bound and used, host env passed (the
    // test user's passwd home does not exist: no home).
    let o = u.oci_with(
        img,
        &[
            "--no-compat",
            "--no-home",
            "--exec",
            "--",
            "sh",
            "-c",
            "touch /x 2>/dev/null || echo ro-root; pwd; echo ${HOST_SECRET:-unset}",
        ],
        &[("HOST_SECRET", "s")],
        None,
    );
    assert_ok(&o, "oci run --no-compat");
    assert_eq!(stdout(&o), format!("ro-root\n{}\ns\n", u.h().display()));
    // --writable-tmpfs makes it writable again.
    let o = u.sh(
        img,
        &["--no-compat", "--no-home", "--writable-tmpfs"],
        "touch /x && echo rw-root",
    );
    assert_ok(&o, "oci run --no-compat --writable-tmpfs");
    assert_eq!(stdout(&o), "rw-root\n");
    // --add-caps for a non-root process: in effective and ambient.
    let o = u.oci(
        img,
        &[
            "--add-caps",
            "net_raw",
            "--exec",
            "--",
            "grep",
            "CapAmb",
            "/proc/self/status",
        ],
    );
    assert_ok(&o, "oci run --add-caps");
    assert_eq!(stdout(&o).trim(), "CapAmb:\t0000000000002000");
    // --overlay: a squashfs image (read-only) under a writable directory.
    let sq_src = u.h().join("sqsrc");
    std::fs::create_dir(&sq_src).unwrap();
    std::fs::write(sq_src.join("sqfile"), "from-squashfs\n").unwrap();
    let sq = u.h().join("layer.sqfs");
    let o = Command::new("mksquashfs")
        .arg(&sq_src)
        .arg(&sq)
        .args(["-quiet", "-no-xattrs", "-all-root"])
        .output()
        .unwrap();
    assert_ok(&o, "mksquashfs");
    let ovl = u.h().join("ovl");
    std::fs::create_dir(&ovl).unwrap();
    chown_r(u.h(), u.uid, u.gid);
    let (ovl_s, sq_s) = (ovl.display().to_string(), sq.display().to_string());
    let o = u.sh(
        img,
        &["--overlay", &ovl_s, "--overlay", &sq_s],
        "cat /sqfile; echo kept > /written",
    );
    assert_ok(&o, "oci run --overlay");
    assert_eq!(stdout(&o), "from-squashfs\n");
    assert_eq!(
        std::fs::read_to_string(ovl.join("upper/written")).unwrap(),
        "kept\n",
        "the writable overlay took the write"
    );
    // The same directory read-only: its upper/ is a lower now.
    let ro_ovl = format!("{ovl_s}:ro");
    let o = u.oci(
        img,
        &["--overlay", &ro_ovl, "--exec", "--", "cat", "/written"],
    );
    assert_ok(&o, "oci run --overlay DIR:ro");
    assert_eq!(stdout(&o), "kept\n");
    // The exit code is the container's.
    let o = u.oci(img, &["--exec", "--", "sh", "-c", "exit 7"]);
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    u.assert_clean();
}

#[test]
fn home_workdir_namespaces_and_env_options() {
    let Some((u, _, latest, data)) = with_images() else {
        return;
    };
    let work = u.h().join("work");
    std::fs::create_dir(&work).unwrap();
    let lib = u.h().join("libfake.so.1");
    std::fs::write(&lib, "not really a library\n").unwrap();
    chown_r(u.h(), u.uid, u.gid);
    let img = latest.to_str().unwrap();
    let (w, d) = (work.display().to_string(), data.display().to_string());
    let home = format!("{d}:/myhome");
    let script = r#"
        echo x > /tmp/t && echo x > /scratch/s && echo tmp-written
        echo "home=$HOME $(ls -d /myhome)"; touch /myhome/h
        echo "pid1=$(cat /proc/1/comm)"; echo "host=$(hostname)"
        echo "term=${TERM:-unset}"; ls /.singularity.d/libs
        grep -c " /var/tmp " /proc/self/mountinfo; true
    "#;
    let o = u.oci_with(
        img,
        &[
            "--home",
            &home,
            "-W",
            &w,
            "-S",
            "/scratch",
            "--uts",
            "--no-pid",
            "--cleanenv",
            "--no-mount",
            "tmp",
            "--exec",
            "--",
            "sh",
            "-c",
            script,
        ],
        &[
            ("TERM", "xterm"),
            ("SINGULARITY_CONTAINLIBS", lib.to_str().unwrap()),
        ],
        None,
    );
    assert_ok(&o, "oci run --home -W -S --uts --no-pid --no-mount tmp");
    let out = stdout(&o);
    let uname = String::from_utf8(Command::new("hostname").output().unwrap().stdout).unwrap();
    for want in [
        "tmp-written".to_string(),
        "home=/myhome /myhome".into(),
        // --no-pid: the host's pid 1, not the container's shell
        format!(
            "pid1={}",
            std::fs::read_to_string("/proc/1/comm").unwrap().trim()
        ),
        // --uts alone keeps the host's name
        format!("host={}", uname.trim()),
        "term=xterm".into(),
        "libfake.so.1".into(),
        // --no-mount tmp: no /var/tmp mount
        "\n0\n".into(),
    ] {
        assert!(out.contains(&want), "{want:?} in:\n{out}");
    }
    assert!(data.join("h").exists(), "--home SRC:DST binds SRC");
    assert!(
        work.join("scratch/scratch/s").exists(),
        "-W holds the scratch dir"
    );
    assert!(
        !work.join("tmp/t").exists(),
        "--no-mount tmp: /tmp is the image's"
    );
    // -W without --no-mount tmp: /tmp is W/tmp; --drop-caps for root.
    let o = u.sh(
        img,
        &["-W", &w, "--fakeroot", "--drop-caps", "chown"],
        "echo y > /tmp/t2; grep CapEff /proc/self/status",
    );
    assert_ok(&o, "oci run -W --drop-caps");
    assert!(work.join("tmp/t2").exists(), "-W: /tmp from W/tmp");
    let eff = u64::from_str_radix(stdout(&o).trim().rsplit('\t').next().unwrap(), 16).unwrap();
    assert_eq!(eff & 1, 0, "CAP_CHOWN dropped");
    assert_ne!(eff & (1 << 5), 0, "CAP_KILL kept");
    u.assert_clean();
}

#[test]
fn bad_options_fail_in_one_line_and_leave_nothing() {
    let Some(u) = User::new() else { return };
    let img = busybox_sif_copy(u.h());
    chown_r(u.h(), u.uid, u.gid);
    let (i, root) = (img.to_str().unwrap().to_string(), u.root());
    let base = ["--root", &root, "oci", "run", "--image", &i];
    for (extra, needle) in [
        (vec!["-B", "/no/such/dir:/x"], "cannot stat bind source"),
        (vec!["--dns", "1.2.3.4,nope"], "not a valid IP address"),
        (vec!["--net"], "Network (except none)"),
        (
            vec!["--device", "vendor.com/x=y", "--cdi-dirs", "/nonexistent"],
            "unresolvable CDI devices",
        ),
        (
            vec!["--device", "bogus"],
            "does not represent a valid CDI device",
        ),
        (vec!["--pids-limit", "-5"], "pids-limit"),
        (
            vec!["--nv", "--cdi-dirs", "/nonexistent"],
            "no CDI spec defines nvidia.com/gpu=all",
        ),
        (vec!["--no-mount", "dev"], "requires /dev"),
    ] {
        let mut args: Vec<&str> = base.to_vec();
        args.extend(extra.iter().copied());
        args.extend(["--exec", "--", "true"]);
        let o = u.run(&args);
        assert_one_line_error(&o, Some(needle));
    }
    // Options with a ready bundle: refused (they belong to mount).
    let o = u.run(&[
        "--root",
        &root,
        "oci",
        "run",
        "-b",
        "/nonexistent",
        "--fakeroot",
        "x1",
    ]);
    assert_one_line_error(&o, Some("OCI-mode options need --image"));
    // No newuidmap on PATH: said before anything is made.
    let o = u.run_with(
        &[
            "--root", &root, "oci", "run", "--image", &i, "--exec", "--", "true",
        ],
        &[("PATH", "/nonexistent")],
        None,
    );
    assert_one_line_error(&o, Some("newuidmap was not found in PATH"));
    u.assert_clean();
    let left: Vec<_> = std::fs::read_dir(u.h())
        .unwrap()
        .flatten()
        .filter(|e| e.path().join(".sifrun-mount.json").exists())
        .collect();
    assert!(left.is_empty());
}

#[test]
fn root_oci_mode_limits_cdi_actions_and_cached_sources() {
    if !require_root() {
        return;
    }
    let t = TmpDir::new("sifrun-ocimode");
    let Some((_, latest)) = demo_images(&t.path) else {
        return;
    };
    let root = t.join("state").display().to_string();
    let img = latest.to_str().unwrap();
    // Limits land in the container's cgroup (seen through a bind of the host's).
    let o = root_sh(&root, img, &["--memory", "64m", "--pids-limit", "42",
            "-B", "/sys/fs/cgroup:/hostcg:ro"], "p=$(grep ':memory:' /proc/self/cgroup | cut -d: -f3); cat /hostcg/memory$p/memory.limit_in_bytes; \
             q=$(grep ':pids:' /proc/self/cgroup | cut -d: -f3); cat /hostcg/pids$q/pids.max");
    assert_ok(&o, "oci run --memory --pids-limit");
    assert_eq!(stdout(&o), format!("{}\n42\n", 64 << 20));
    let toml = t.join("limits.toml");
    std::fs::write(&toml, "[memory]\nlimit = 33554432\n[pids]\nlimit = 17\n").unwrap();
    let o = root_sh(&root, img, &["--apply-cgroups", toml.to_str().unwrap(),
            "-B", "/sys/fs/cgroup:/hostcg:ro"], "p=$(grep ':memory:' /proc/self/cgroup | cut -d: -f3); cat /hostcg/memory$p/memory.limit_in_bytes; \
             q=$(grep ':pids:' /proc/self/cgroup | cut -d: -f3); cat /hostcg/pids$q/pids.max");
    assert_ok(&o, "oci run --apply-cgroups");
    assert_eq!(stdout(&o), format!("{}\n17\n", 32 << 20));
    let o = root_sh(&root, img, &["--cpus", "0.5", "--cpu-shares", "512", "--cpuset-cpus", "0",
            "-B", "/sys/fs/cgroup:/hostcg:ro"], "p=$(grep ':cpu:' /proc/self/cgroup | cut -d: -f3); \
             cat /hostcg/cpu$p/cpu.cfs_quota_us /hostcg/cpu$p/cpu.cfs_period_us /hostcg/cpu$p/cpu.shares; \
             q=$(grep ':cpuset:' /proc/self/cgroup | cut -d: -f3); cat /hostcg/cpuset$q/cpuset.cpus");
    assert_ok(&o, "oci run --cpus --cpu-shares --cpuset-cpus");
    assert_eq!(stdout(&o), "50000\n100000\n512\n0\n");
    // --keep-privs: every capability; -u as root: a user namespace mapping root.
    let o = root_sh(
        &root,
        img,
        &["--keep-privs", "-u"],
        "grep CapBnd /proc/self/status; cat /proc/self/uid_map",
    );
    assert_ok(&o, "oci run --keep-privs -u");
    let out = stdout(&o);
    assert!(
        out.contains("CapBnd:\t000001ffffffffff") || out.contains("CapBnd:\t000000ffffffffff"),
        "{out}"
    );
    assert_eq!(
        out.lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["0", "0", "4294967295"]
    );

    // CDI: a second node for /dev/null, a bound host dir and an env var.
    let cdi = t.join("cdi");
    std::fs::create_dir(&cdi).unwrap();
    let share = t.join("share");
    std::fs::create_dir(&share).unwrap();
    std::fs::write(share.join("f"), "from-cdi\n").unwrap();
    std::fs::write(
        cdi.join("test.json"),
        serde_json::json!({
            "cdiVersion": "0.6.0", "kind": "sifrun.test/dev",
            "devices": [{"name": "null2", "containerEdits": {
                "deviceNodes": [{"path": "/dev/null2", "hostPath": "/dev/null"}],
                "mounts": [{"hostPath": share, "containerPath": "/cdi-share", "options": ["rbind", "ro"]}],
                "env": ["CDI_TEST=yes"]}}]
        })
        .to_string(),
    )
    .unwrap();
    let o = root_sh(
        &root,
        img,
        &[
            "--device",
            "sifrun.test/dev=null2",
            "--cdi-dirs",
            cdi.to_str().unwrap(),
        ],
        "ls -l /dev/null2 | cut -c1; cat /cdi-share/f; echo $CDI_TEST",
    );
    assert_ok(&o, "oci run --device");
    assert_eq!(stdout(&o), "c\nfrom-cdi\nyes\n");
    // --nv is the site's nvidia.com/gpu=all (here a harmless stand-in spec).
    std::fs::write(
        cdi.join("gpu.yaml"),
        "cdiVersion: 0.6.0\nkind: nvidia.com/gpu\ndevices:\n- name: all\n  containerEdits:\n    env: [NVIDIA_STAND_IN=1]\n",
    )
    .unwrap();
    let o = root_sh(
        &root,
        img,
        &["--nv", "--cdi-dirs", cdi.to_str().unwrap()],
        "echo $NVIDIA_STAND_IN",
    );
    assert_ok(&o, "oci run --nv");
    assert_eq!(stdout(&o), "1\n");

    // Actions: --shell reads its commands from stdin; a native SIF's runscript gets ARGS.
    let o = run_stdin(
        &["--root", &root, "oci", "run", "--image", img, "--shell"],
        "echo shell-ok\n",
    );
    assert_ok(&o, "oci run --shell");
    assert_eq!(stdout(&o), "shell-ok\n");
    let native = busybox_sif_copy(&t.path);
    let o = run_stdin(
        &[
            "--root",
            &root,
            "oci",
            "run",
            "--image",
            native.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            "echo runscript-args",
        ],
        "",
    );
    assert_ok(&o, "native run with args");
    assert_eq!(stdout(&o), "runscript-args\n");
    assert!(stderr(&o).contains("Running a non-OCI SIF in OCI mode"));

    // oci-archive: converted once, then taken from the cache.
    let src = format!("oci-archive:{}", t.join("img/busybox-oci.tar").display());
    let cache = t.join("cache");
    for (n, want) in [(0, "converting"), (1, "using cached OCI-SIF image")] {
        let o = Command::new(SIFRUN)
            .env("SINGULARITY_CACHEDIR", &cache)
            .args([
                "--root",
                &root,
                "oci",
                "run",
                "--image",
                &src,
                "--exec",
                "--",
                "cat",
                "/srv/marker",
            ])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert_ok(&o, "oci run oci-archive:");
        assert_eq!(stdout(&o), "hello from image\n");
        assert!(stderr(&o).contains(want), "run {n}: {}", stderr(&o));
    }
    assert!(mounts_under(&t.path).is_empty());
}

/// As root: `oci run --image IMG OPTS --exec -- sh -c SCRIPT`, stdin empty.
fn root_sh(root: &str, img: &str, opts: &[&str], script: &str) -> Output {
    let mut args = vec!["--root", root, "oci", "run", "--image", img];
    args.extend_from_slice(opts);
    args.extend(["--exec", "--", "sh", "-c", script]);
    run_stdin(&args, "")
}

fn run_stdin(args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut c = Command::new(SIFRUN)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    c.wait_with_output().unwrap()
}

#[test]
fn user_ctrl_c_cleans_up() {
    use std::os::unix::process::CommandExt;
    let Some(u) = User::new() else { return };
    let img = busybox_sif_copy(u.h());
    chown_r(u.h(), u.uid, u.gid);
    let root = u.root();
    let mut child = Command::new(SIFRUN)
        .args(["--root", &root, "oci", "run", "--image"])
        .arg(&img)
        .args(["--exec", "--", "sh", "-c", "echo up; exec sleep 100"])
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
        .env("HOME", u.h())
        .env("XDG_RUNTIME_DIR", u.h().join("run"))
        .current_dir(u.h())
        .uid(u.uid)
        .gid(u.gid)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut first = [0u8; 3];
    std::io::Read::read_exact(&mut child.stdout.take().unwrap(), &mut first).unwrap();
    assert_eq!(&first, b"up\n");
    // SAFETY: plain kill(2) of our child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert!(
        matches!(status.code(), Some(130) | Some(137)),
        "exit {status:?}"
    );
    u.assert_clean();
}

/// Root of a user namespace, as sifrun is under rootless podman: the state root is
/// `$XDG_RUNTIME_DIR/sifrun` (as runc's), and `"resources": {}` with no cgroup of
/// its own is not an error.
#[test]
fn root_of_a_user_namespace_uses_xdg_runtime_dir() {
    let Some(u) = User::new() else { return };
    if !have("unshare") {
        return;
    }
    let bundle = u.h().join("bundle");
    make_rootfs(&bundle.join("rootfs"));
    chown_r(u.h(), u.uid, u.gid);
    let b = bundle.to_str().unwrap();
    let o = u.run(&["spec", "--bundle", b]);
    assert_ok(&o, "spec");
    let cfg_path = bundle.join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cfg_path).unwrap()).unwrap();
    cfg["process"]["terminal"] = false.into();
    cfg["process"]["args"] = serde_json::json!(["sh", "-c", "echo in-userns; exit 4"]);
    cfg["linux"]["resources"] = serde_json::json!({});
    std::fs::write(&cfg_path, serde_json::to_vec(&cfg).unwrap()).unwrap();
    let sub = std::fs::read_to_string("/etc/subuid").unwrap();
    let start = sub
        .lines()
        .find_map(|l| l.strip_prefix("sifrun-test:"))
        .and_then(|r| r.split(':').next())
        .unwrap()
        .to_string();
    let id = unique_id("userns-root");
    let o = output_with_timeout(
        {
            let mut cmd = crate::rootless::user_command("unshare", u.uid, u.gid, u.h());
            cmd.arg("--map-root-user")
                .arg(format!("--map-users={start},1,65536"))
                .arg(format!("--map-groups={start},1,65536"))
                .arg(SIFRUN)
                .args(["run", "--bundle", b, &id])
                .stdin(std::process::Stdio::null());
            cmd
        },
        std::time::Duration::from_secs(60),
    );
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert_eq!(stdout(&o), "in-userns\n");
    assert!(
        u.h().join("run/sifrun").is_dir(),
        "state root under XDG_RUNTIME_DIR"
    );
    assert!(!Path::new("/run/sifrun").join(&id).exists());
}

/// The container's `/` as its mountinfo says: "FSTYPE SUPER-OPTIONS".
const ROOT_MOUNT: &str =
    r#"awk '$5=="/" {for(i=7;i<=NF;i++) if($i=="-") print $(i+1), $(i+3)}' /proc/self/mountinfo"#;

/// Issue 18: `oci run --image` as a user has the container's init mount the rootfs
/// overlay (the kernel's overlayfs in the container's user namespace, its upper on a
/// tmpfs there): no fuse-overlayfs daemon and nothing under the state root on the
/// host while it runs, and the image's files can still be changed and removed.
/// `SIFRUN_OVERLAY_ON_HOST=1` brings back the overlay mounted on the host.
#[test]
fn user_oci_run_overlay_is_mounted_inside_the_container() {
    let Some((u, _, latest, data)) = with_images() else {
        return;
    };
    chown_r(u.h(), u.uid, u.gid);
    let img = latest.to_str().unwrap();
    let bind = format!("{}:/data", data.display());
    let script = format!(
        "{ROOT_MOUNT}
        touch /bin/busybox && echo touched
        rm /bin/ls && [ ! -e /bin/ls ] && echo removed
        echo new > /new && cat /new
        touch /data/up; i=0
        while [ ! -e /data/go ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done"
    );
    let home = u.h().display().to_string();
    let (o, overlays, on_host) = std::thread::scope(|s| {
        let run = s.spawn(|| u.sh(img, &["-B", &bind], &script));
        settle(std::time::Duration::from_secs(30), || {
            if data.join("up").exists() || run.is_finished() {
                vec![]
            } else {
                vec![()]
            }
        });
        let overlays: Vec<_> = processes_with(&home)
            .into_iter()
            .filter(|(_, c)| c.starts_with("fuse-overlayfs"))
            .collect();
        let on_host = mounts_under(&u.h().join("state"));
        std::fs::write(data.join("go"), "").unwrap();
        (run.join().unwrap(), overlays, on_host)
    });
    assert_ok(&o, "oci run --image as a user");
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("overlay ") && lines[0].contains("userxattr"),
        "the container's / is the kernel's overlay in its user namespace: {out}"
    );
    assert_eq!(lines[1..], ["touched", "removed", "new"], "{out}");
    assert!(overlays.is_empty(), "fuse-overlayfs running: {overlays:?}");
    assert!(on_host.is_empty(), "mounted on the host: {on_host:?}");
    let o = u.sh(
        img,
        &[],
        "[ -e /bin/ls ] && [ ! -e /new ] && echo untouched",
    );
    assert_eq!(stdout(&o), "untouched\n", "{}", stderr(&o));
    let o = u.oci_with(
        img,
        &["--exec", "--", "sh", "-c", ROOT_MOUNT],
        &[("SIFRUN_OVERLAY_ON_HOST", "1")],
        None,
    );
    assert_ok(&o, "oci run with SIFRUN_OVERLAY_ON_HOST=1");
    assert!(
        stdout(&o).starts_with("fuse.fuse-overlayfs "),
        "{}",
        stdout(&o)
    );
    u.assert_clean();
}

/// CVE-2019-5736 for a user (issue 18's cost of it): a binary the caller can write is
/// still run from a sealed copy while it enters a container; an installed one
/// (root's, mode 755) is not copied, since no process of the caller's containers can
/// write it either. Seen from the host in /proc/PID/exe of the running `oci run`.
#[test]
fn user_runs_from_a_sealed_copy_only_a_binary_it_can_write() {
    let Some(u) = User::new() else { return };
    let img = busybox_sif_copy(u.h());
    let own = u.h().join("own-sifrun");
    std::fs::copy(SIFRUN, &own).unwrap();
    chown_r(u.h(), u.uid, u.gid);
    let installed = std::fs::metadata(SIFRUN).unwrap();
    assert_eq!(installed.uid(), 0, "the built binary is root's");
    for (bin, sealed) in [(Path::new(SIFRUN), false), (own.as_path(), true)] {
        let mut c = crate::rootless::user_command(bin, u.uid, u.gid, u.h());
        c.args(["--root", &u.root(), "oci", "run", "--image"])
            .arg(&img)
            .args(["--exec", "--", "sleep", "3"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null());
        let mut child = c.spawn().unwrap();
        let bin_s = bin.display().to_string();
        // Once its container runs, the run has (or has not) re-executed itself.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let container_up = || {
            processes_with("sleep 3")
                .iter()
                .any(|(_, cmd)| cmd.starts_with("sleep 3"))
        };
        while !container_up() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let exes: Vec<String> = processes_with(&bin_s)
            .into_iter()
            .filter(|(_, cmd)| cmd.contains("oci run"))
            .filter_map(|(pid, _)| std::fs::read_link(format!("/proc/{pid}/exe")).ok())
            .map(|p| p.display().to_string())
            .collect();
        let status = child.wait().unwrap();
        assert!(status.success(), "{bin_s}: {status:?}");
        assert!(!exes.is_empty(), "{bin_s}: no oci run process seen");
        for exe in &exes {
            assert_eq!(exe.starts_with("/memfd:"), sealed, "{bin_s} ran from {exe}");
        }
    }
    u.assert_clean();
}
