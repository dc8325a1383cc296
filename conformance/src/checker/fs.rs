//! Filesystem-level checks: root, mounts, default links and devices,
//! linux.devices, masked and readonly paths, rootfs propagation, device cgroup.

use super::{errno, str_list, Exp, Out};
use serde_json::Value;
use std::ffi::CString;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};

pub struct MountInfo {
    pub root: String,
    pub point: String,
    pub opts: Vec<String>,
    pub fstype: String,
    pub source: String,
}

fn unescape(s: &str) -> String {
    // mountinfo escapes space, tab, newline and backslash as \ooo.
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            if let Ok(v) =
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 4]).unwrap_or("x"), 8)
            {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn mountinfo() -> Vec<MountInfo> {
    let s = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    s.lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let f: Vec<&str> = pre.split(' ').collect();
            let g: Vec<&str> = post.split(' ').collect();
            if f.len() < 6 || g.len() < 2 {
                return None;
            }
            Some(MountInfo {
                root: unescape(f[3]),
                point: unescape(f[4]),
                opts: f[5].split(',').map(str::to_string).collect(),
                fstype: g[0].to_string(),
                source: unescape(g[1]),
            })
        })
        .collect()
}

fn clean(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            x => parts.push(x),
        }
    }
    format!("/{}", parts.join("/"))
}

fn basename(p: &str) -> &str {
    p.trim_end_matches('/').rsplit('/').next().unwrap_or("")
}

pub fn run(cfg: &Value, exp: &Exp, out: &mut Out) {
    check_root(cfg, out);
    check_mounts(cfg, out);
    check_default_links(out);
    check_default_devices(cfg, out);
    check_devices(cfg, out);
    check_masked(cfg, out);
    check_readonly(cfg, out);
    check_device_cgroup(exp, out);
    if let Some(p) = &exp.propagation {
        check_propagation(p, out);
    }
}

fn check_root(cfg: &Value, out: &mut Out) {
    let ro = cfg["root"]["readonly"].as_bool().unwrap_or(false);
    let path = "/.conformance-write-test";
    let r = std::fs::write(path, b"x");
    let _ = std::fs::remove_file(path);
    if ro {
        let e = r.as_ref().err().and_then(|e| e.raw_os_error());
        out.check(
            "root.readonly: creating a file in / fails with EROFS",
            e == Some(libc::EROFS),
            format!("result: {r:?}"),
        );
    } else if matches!(
        r.as_ref().err().and_then(|e| e.raw_os_error()),
        Some(libc::EACCES)
    ) && (unsafe { libc::geteuid() } != 0 || super::has_ns(cfg, "user"))
    {
        out.skip(
            "root writable when root.readonly is false",
            "/ is not writable for this (unprivileged or user-namespaced) user",
        );
    } else {
        out.check(
            "root writable when root.readonly is false",
            r.is_ok(),
            format!("result: {r:?}"),
        );
    }
    let mi = mountinfo();
    if let Some(root) = mi.iter().rev().find(|m| m.point == "/") {
        out.eq(
            "root mount flag ro iff root.readonly",
            ro,
            root.opts.iter().any(|o| o == "ro"),
        );
    }
}

fn check_mounts(cfg: &Value, out: &mut Out) {
    let mi = mountinfo();
    let mut last: isize = -1;
    for m in cfg["mounts"].as_array().cloned().unwrap_or_default() {
        let dest = clean(m["destination"].as_str().unwrap_or(""));
        let typ = m["type"].as_str().unwrap_or("");
        let src = m["source"].as_str().unwrap_or("");
        let opts = str_list(m.get("options"));
        let is_bind = typ == "bind" || opts.iter().any(|o| o == "bind" || o == "rbind");
        let matches = |x: &MountInfo| {
            if x.point != dest {
                return false;
            }
            if is_bind {
                basename(src) == basename(&x.root)
            } else {
                (typ.is_empty() || x.fstype == typ) && x.source == src
            }
        };
        let name = format!("mount {dest} ({typ})");
        let found = mi
            .iter()
            .enumerate()
            .skip((last + 1) as usize)
            .find(|(_, x)| matches(x));
        match found {
            Some((i, x)) => {
                last = i as isize;
                // Per-mount flags that must be visible in mountinfo.
                let mut bad = Vec::new();
                for f in ["ro", "nosuid", "nodev", "noexec"] {
                    let want = opts.iter().any(|o| o == f);
                    let have = x.opts.iter().any(|o| o == f);
                    if want && !have {
                        bad.push(format!("{f} missing"));
                    }
                }
                if opts.iter().any(|o| o == "rw") && x.opts.iter().any(|o| o == "ro") {
                    bad.push("rw requested but mounted ro".into());
                }
                out.check(
                    &name,
                    bad.is_empty(),
                    format!("options {:?}: {bad:?}", x.opts),
                );
            }
            None => {
                let earlier = mi.iter().any(matches);
                out.check(
                    &name,
                    false,
                    if earlier {
                        "found, but not in config order".to_string()
                    } else {
                        "not found in /proc/self/mountinfo".to_string()
                    },
                );
            }
        }
    }
}

fn check_default_links(out: &mut Out) {
    for (link, target) in [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ] {
        let got = std::fs::read_link(link)
            .map(|t| t.to_string_lossy().into_owned())
            .unwrap_or_else(|e| format!("<{e}>"));
        out.eq(&format!("default symlink {link}"), target.to_string(), got);
    }
    // /dev/ptmx: a symlink to pts/ptmx or a bind of /dev/pts/ptmx.
    let ok = match std::fs::read_link("/dev/ptmx") {
        Ok(t) => {
            let t = t.to_string_lossy().into_owned();
            t == "pts/ptmx" || t == "/dev/pts/ptmx"
        }
        Err(_) => std::fs::metadata("/dev/ptmx")
            .map(|m| m.file_type().is_char_device() && libc::major(m.rdev()) == 5)
            .unwrap_or(false),
    };
    out.check(
        "/dev/ptmx refers to /dev/pts/ptmx",
        ok,
        "neither link nor 5:2 device",
    );
}

fn check_default_devices(cfg: &Value, out: &mut Out) {
    let _ = cfg;
    for (p, maj, min) in [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
        ("/dev/ptmx", 5, 2),
    ] {
        let got = std::fs::metadata(p)
            .map(|m| {
                (
                    m.file_type().is_char_device(),
                    libc::major(m.rdev()),
                    libc::minor(m.rdev()),
                )
            })
            .map_err(|e| e.to_string());
        out.eq(&format!("default device {p}"), Ok((true, maj, min)), got);
    }
    // A default device must actually work (device cgroup allows it).
    let mut buf = [0u8; 8];
    let zero = std::fs::File::open("/dev/zero").and_then(|mut f| f.read_exact(&mut buf));
    out.check(
        "default device /dev/zero readable",
        zero.is_ok(),
        format!("{zero:?}"),
    );
    let null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"x"));
    out.check(
        "default device /dev/null writable",
        null.is_ok(),
        format!("{null:?}"),
    );
}

fn check_devices(cfg: &Value, out: &mut Out) {
    for d in cfg["linux"]["devices"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        let path = d["path"].as_str().unwrap_or("");
        let typ = d["type"].as_str().unwrap_or("");
        let m = match std::fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) => {
                out.check(
                    &format!("linux.devices {path} exists"),
                    false,
                    e.to_string(),
                );
                continue;
            }
        };
        let ft = m.file_type();
        let got_t = if ft.is_char_device() {
            "c"
        } else if ft.is_block_device() {
            "b"
        } else if ft.is_fifo() {
            "p"
        } else {
            "other"
        };
        let want_t = if typ == "u" { "c" } else { typ };
        out.eq(&format!("linux.devices {path} type"), want_t, got_t);
        if typ != "p" {
            out.eq(
                &format!("linux.devices {path} major:minor"),
                (
                    d["major"].as_u64().unwrap_or(0),
                    d["minor"].as_u64().unwrap_or(0),
                ),
                (libc::major(m.rdev()) as u64, libc::minor(m.rdev()) as u64),
            );
        }
        if let Some(mode) = d["fileMode"].as_u64() {
            out.eq(
                &format!("linux.devices {path} fileMode"),
                format!("{:o}", mode & 0o7777),
                format!("{:o}", m.permissions().mode() & 0o7777),
            );
        }
        if let Some(uid) = d["uid"].as_u64() {
            out.eq(&format!("linux.devices {path} uid"), uid as u32, m.uid());
        }
        if let Some(gid) = d["gid"].as_u64() {
            out.eq(&format!("linux.devices {path} gid"), gid as u32, m.gid());
        }
    }
}

fn check_masked(cfg: &Value, out: &mut Out) {
    for p in str_list(cfg.pointer("/linux/maskedPaths")) {
        let name = format!("maskedPaths {p} unreadable");
        let m = match std::fs::metadata(&p) {
            Ok(m) => m,
            Err(_) => {
                out.check(&name, true, "");
                continue;
            }
        };
        if m.is_dir() {
            let n = std::fs::read_dir(&p).map(|d| d.count()).unwrap_or(0);
            out.check(&name, n == 0, format!("directory lists {n} entries"));
        } else if m.is_file() || m.file_type().is_char_device() {
            let r = std::fs::File::open(&p).and_then(|mut f| {
                let mut b = [0u8; 1];
                f.read(&mut b)
            });
            out.check(&name, !matches!(r, Ok(1)), format!("read: {r:?}"));
        } else {
            // Block devices, fifos: masked with /dev/null; opening must not reach the original.
            out.check(&name, false, format!("still a {:?}", m.file_type()));
        }
    }
}

fn check_readonly(cfg: &Value, out: &mut Out) {
    for p in str_list(cfg.pointer("/linux/readonlyPaths")) {
        let name = format!("readonlyPaths {p} not writable");
        let m = match std::fs::metadata(&p) {
            Ok(m) => m,
            Err(e) => {
                out.skip(&name, &format!("path not readable: {e}"));
                continue;
            }
        };
        if m.is_dir() {
            let f = format!("{}/.conformance-ro-test", p.trim_end_matches('/'));
            let r = std::fs::write(&f, b"x");
            let _ = std::fs::remove_file(&f);
            out.check(&name, r.is_err(), "creating a file succeeded");
            let listed = std::fs::read_dir(&p).is_ok();
            out.check(&format!("readonlyPaths {p} readable"), listed, "");
        } else {
            let r = std::fs::OpenOptions::new().write(true).open(&p);
            out.check(&name, r.is_err(), "open for writing succeeded");
            if m.is_file() {
                let rd = std::fs::read(&p);
                out.check(
                    &format!("readonlyPaths {p} readable"),
                    rd.is_ok(),
                    format!("{rd:?}"),
                );
            }
        }
    }
}

fn check_device_cgroup(exp: &Exp, out: &mut Out) {
    for p in &exp.open_deny {
        let r = std::fs::File::open(p);
        let e = r.as_ref().err().and_then(|e| e.raw_os_error());
        out.check(
            &format!("device cgroup denies open({p})"),
            e == Some(libc::EPERM),
            format!("result: {r:?}"),
        );
    }
    for p in &exp.open_allow {
        // Success, or a driver error (ENODEV/ENXIO): anything but EPERM.
        let r = std::fs::File::open(p);
        let e = r.as_ref().err().and_then(|e| e.raw_os_error());
        out.check(
            &format!("device cgroup allows open({p})"),
            e != Some(libc::EPERM),
            format!("result: {r:?}"),
        );
    }
}

fn mount(src: &str, dst: &str, flags: libc::c_ulong) -> i32 {
    let s = CString::new(src).unwrap();
    let d = CString::new(dst).unwrap();
    let t = CString::new("none").unwrap();
    let r = unsafe { libc::mount(s.as_ptr(), d.as_ptr(), t.as_ptr(), flags, std::ptr::null()) };
    if r == 0 {
        0
    } else {
        errno()
    }
}

fn check_propagation(p: &str, out: &mut Out) {
    let name = format!("rootfsPropagation {p} behaves as specified");
    let target = "/conformance-target";
    let _ = std::fs::create_dir_all(target);
    let e = mount("/", target, libc::MS_BIND | libc::MS_REC);
    if p == "unbindable" {
        out.check(
            &name,
            e == libc::EINVAL,
            format!("bind of / returned errno {e}"),
        );
        return;
    }
    if e == libc::EPERM {
        out.skip(&name, "mount(2) not permitted (needs CAP_SYS_ADMIN)");
        return;
    }
    if e != 0 {
        out.check(&name, false, format!("rbind / failed: errno {e}"));
        return;
    }
    let _ = std::fs::create_dir_all("/conformance-mnt");
    let _ = std::fs::create_dir_all("/conformance-src");
    let _ = std::fs::write("/conformance-src/file", b"x");
    let e = mount("/conformance-src", "/conformance-mnt", libc::MS_BIND);
    if e != 0 {
        out.check(&name, false, format!("bind failed: errno {e}"));
        return;
    }
    let visible = std::path::Path::new("/conformance-target/conformance-mnt/file").exists();
    let want = p == "shared";
    out.check(
        &name,
        visible == want,
        format!("new mount visible in the recursive bind of /: {visible}, expected {want}"),
    );
}
