//! Rootless: as an unprivileged user (`sifrun-test`, created here if missing, with
//! subordinate ids in /etc/subuid and /etc/subgid), a busybox container from a
//! `sifrun spec --rootless` config goes through create/start/state/kill/delete. The
//! helpers here (the test user, running sifrun as it) serve `unprivileged` too.
//!
//! The tests need root to create the user; they run sifrun as that user.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crate::common::*;

const USER: &str = "sifrun-test";

/// (uid, gid) of the test user, creating it (and its subordinate id ranges) if needed.
pub(crate) fn test_user() -> (u32, u32) {
    static ONCE: std::sync::OnceLock<(u32, u32)> = std::sync::OnceLock::new();
    *ONCE.get_or_init(|| {
        if passwd_ids(USER).is_none() {
            let o = Command::new("useradd")
                .args([
                    "--system",
                    "--user-group",
                    "--no-create-home",
                    "--shell",
                    "/bin/sh",
                ])
                .arg(USER)
                .output()
                .expect("run useradd");
            // a parallel test may have created it in the meantime
            if !o.status.success() && passwd_ids(USER).is_none() {
                panic!("useradd {USER}: {}", stderr(&o));
            }
        }
        for f in ["/etc/subuid", "/etc/subgid"] {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            if !text.lines().any(|l| l.starts_with(&format!("{USER}:"))) {
                use std::io::Write;
                let mut w = std::fs::OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(f)
                    .unwrap();
                writeln!(w, "{USER}:1100000:65536").unwrap();
            }
        }
        passwd_ids(USER).expect("the test user is in /etc/passwd")
    })
}

/// (uid, gid) of `user` in /etc/passwd. Not getpwnam: this static binary cannot load
/// NSS modules (libnss_systemd, listed in nsswitch.conf once systemd is installed,
/// crashes it).
fn passwd_ids(user: &str) -> Option<(u32, u32)> {
    let text = std::fs::read_to_string("/etc/passwd").ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 3 && f[0] == user).then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?)))?
    })
}

pub(crate) fn chown_r(p: &Path, uid: u32, gid: u32) {
    let o = Command::new("chown")
        .arg("-R")
        .arg(format!("{uid}:{gid}"))
        .arg(p)
        .output()
        .unwrap();
    assert_ok(&o, "chown -R");
}

/// sifrun ARGS as the test user, with a clean environment of its own.
pub(crate) fn as_user(uid: u32, gid: u32, home: &Path, args: &[&str]) -> Output {
    as_user_with(uid, gid, home, args, &[], None)
}

/// [`as_user`] with extra environment variables and (optionally) text on stdin.
pub(crate) fn as_user_with(
    uid: u32,
    gid: u32,
    home: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    stdin: Option<&str>,
) -> Output {
    let mut c = user_command(SIFRUN, uid, gid, home);
    if let Some(text) = stdin {
        let f = home.join(format!(".stdin-{}", unique_id("in")));
        std::fs::write(&f, text).unwrap();
        c.stdin(std::fs::File::open(&f).unwrap());
        let _ = std::fs::remove_file(&f);
    } else {
        c.stdin(std::process::Stdio::null());
    }
    c.args(args).envs(env.iter().copied());
    output_with_timeout(c, Duration::from_secs(60))
}

/// `program` to run as the test user in `home`, with a clean environment of its own
/// (PATH, HOME, and `home/run` as XDG_RUNTIME_DIR).
pub(crate) fn user_command(
    program: impl AsRef<std::ffi::OsStr>,
    uid: u32,
    gid: u32,
    home: &Path,
) -> Command {
    let mut c = Command::new(program);
    c.env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
        .env("HOME", home)
        .env("XDG_RUNTIME_DIR", home.join("run"))
        .current_dir(home)
        .uid(uid)
        .gid(gid); // std drops root's supplementary groups when it changes the uid
    c
}

/// Whether unprivileged users can use FUSE. /dev/fuse is 0666 on a normal Debian
/// system (udev); without udev (minimal VMs, containers) devtmpfs leaves it 0600,
/// and it is made 0666 here, idempotently, as udev would. Prints why not otherwise.
pub(crate) fn fuse_usable_by_users() -> bool {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let dev = Path::new("/dev/fuse");
    let Ok(meta) = std::fs::metadata(dev) else {
        eprintln!("skipped: no /dev/fuse on this machine");
        return false;
    };
    if !meta.file_type().is_char_device() {
        eprintln!("skipped: /dev/fuse is not a character device");
        return false;
    }
    if ![
        "/usr/bin/fusermount3",
        "/bin/fusermount3",
        "/usr/bin/fusermount",
    ]
    .iter()
    .any(|p| Path::new(p).exists())
    {
        eprintln!("skipped: no fusermount3 (package fuse3)");
        return false;
    }
    if meta.permissions().mode() & 0o006 != 0o006 {
        eprintln!(
            "/dev/fuse is {:o}: making it 0666 as udev does",
            meta.permissions().mode() & 0o777
        );
        if let Err(e) = std::fs::set_permissions(dev, std::fs::Permissions::from_mode(0o666)) {
            eprintln!("skipped: cannot chmod /dev/fuse: {e}");
            return false;
        }
    }
    true
}

/// A home for the test user: a temp dir it owns.
pub(crate) fn user_home(uid: u32, gid: u32) -> TmpDir {
    let t = TmpDir::new("sifrun-rootless");
    std::fs::create_dir(t.join("run")).unwrap();
    chown_r(&t.path, uid, gid);
    t
}

#[test]
fn rootless_busybox_lifecycle() {
    if !require_root() {
        return;
    }
    let (uid, gid) = test_user();
    let home = user_home(uid, gid);
    let h = &home.path;
    let root = h.join("state");
    let bundle = h.join("bundle");
    std::fs::create_dir(&bundle).unwrap();
    make_rootfs(&bundle.join("rootfs"));
    chown_r(h, uid, gid);
    let (r, b) = (root.to_str().unwrap(), bundle.to_str().unwrap());
    let o = as_user(uid, gid, h, &["spec", "--rootless", "--bundle", b]);
    assert_ok(&o, "spec --rootless");
    let cfg_path = bundle.join("config.json");
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cfg_path).unwrap()).unwrap();
    assert_eq!(cfg["linux"]["uidMappings"][0]["hostID"], uid);
    let tag = unique_id("rootless");
    cfg["process"]["terminal"] = false.into();
    cfg["process"]["args"] = serde_json::json!(["sh", "-c", format!("sleep 100000; : {tag}")]);
    std::fs::write(&cfg_path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();

    let id = tag.clone();
    // Clean up as root whatever happens below.
    struct Cleanup<'a>(&'a str, &'a str);
    impl Drop for Cleanup<'_> {
        fn drop(&mut self) {
            let _ = Command::new(SIFRUN)
                .args(["--root", self.0, "delete", "--force", self.1])
                .output();
        }
    }
    let _cleanup = Cleanup(r, &id);

    let o = as_user(uid, gid, h, &["--root", r, "create", "--bundle", b, &id]);
    assert_ok(&o, "rootless create");
    let o = as_user(uid, gid, h, &["--root", r, "start", &id]);
    assert_ok(&o, "rootless start");
    let o = as_user(uid, gid, h, &["--root", r, "state", &id]);
    assert_ok(&o, "rootless state");
    let st: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(st["status"], "running", "{st}");
    let pid = st["pid"].as_i64().unwrap();
    // the container process runs as the unprivileged user on the host
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uid_line.split_whitespace().nth(1) == Some(&uid.to_string()),
        "container runs as {uid_line}"
    );
    let o = as_user(uid, gid, h, &["--root", r, "exec", &id, "id", "-u"]);
    assert_ok(&o, "rootless exec");
    assert_eq!(stdout(&o).trim(), "0", "root in the user namespace");
    let o = as_user(uid, gid, h, &["--root", r, "kill", &id, "KILL"]);
    assert_ok(&o, "rootless kill");
    let _ = settle(Duration::from_secs(10), || {
        let o = as_user(uid, gid, h, &["--root", r, "state", &id]);
        if stdout(&o).contains("\"stopped\"") {
            vec![]
        } else {
            vec![()]
        }
    });
    let o = as_user(uid, gid, h, &["--root", r, "delete", &id]);
    assert_ok(&o, "rootless delete");
    assert!(!root.join(&id).exists(), "state dir left");
    let procs = settle(Duration::from_secs(5), || processes_with(&tag));
    assert!(procs.is_empty(), "{procs:?}");
    let cgs = settle(Duration::from_secs(5), || cgroup_dirs(&tag));
    assert!(cgs.is_empty(), "{cgs:?}");
}

/// A state root that someone else made (a shared /tmp path, as in the Slurm oci.conf)
/// is refused by a user, with one line, before anything reads it or adds to it.
#[test]
fn rootless_refuses_a_state_root_owned_by_someone_else() {
    if !require_root() {
        return;
    }
    let (uid, gid) = test_user();
    let home = user_home(uid, gid);
    let h = &home.path;
    // made by root, writable by all: what another user could have prepared
    let planted = TmpDir::new("sifrun-planted-root");
    std::fs::set_permissions(
        &planted.path,
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let r = planted.path.to_str().unwrap();
    let id = unique_id("planted");
    for args in [
        vec!["--root", r, "list"],
        vec!["--root", r, "state", &id],
        vec!["--root", r, "delete", "--force", &id],
        vec!["--root", r, "run", "--bundle", "/nonexistent", &id],
    ] {
        let o = as_user(uid, gid, h, &args);
        assert!(!o.status.success(), "{args:?} accepted a planted root");
        let err = stderr(&o);
        assert!(
            err.contains("belongs to uid 0, not to you") && err.trim().lines().count() == 1,
            "{args:?}: {err}"
        );
    }
    assert_eq!(std::fs::read_dir(&planted.path).unwrap().count(), 0);
    // the user's own root still works
    let own = h.join("state");
    let o = as_user(uid, gid, h, &["--root", own.to_str().unwrap(), "list"]);
    assert_ok(&o, "list in the user's own root");
}
