//! Mounts as runc does them beyond the runtime spec: the flags of bind mounts
//! (runc's MS_BIND|MS_REMOUNT: implied rw, atime kept or replaced, flags locked in a
//! user namespace kept), bind sources the container's user cannot reach.

use super::namespaces::add_userns;
use super::{Case, Ctx};
use anyhow::{Context, Result};
use serde_json::json;
use std::os::unix::fs::{chown, PermissionsExt};
use std::path::Path;

pub fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "mounts_parity/bind_flags_like_runc",
            run: |c| bind_flags(c, Userns::No),
        },
        Case {
            name: "mounts_parity/bind_flags_like_runc_userns",
            run: |c| bind_flags(c, Userns::Runc11),
        },
        Case {
            name: "mounts_parity/bind_flags_locked_in_userns_runc12",
            run: |c| bind_flags(c, Userns::Runc12),
        },
        Case {
            name: "mounts_parity/userns_bind_of_unreachable_source",
            run: unreachable_source,
        },
        Case {
            name: "mounts_parity/masked_paths",
            run: masked_paths,
        },
        Case {
            name: "mounts_parity/idmap_userns",
            run: |c| idmap(c, true),
        },
        Case {
            name: "mounts_parity/idmap_no_userns",
            run: |c| idmap(c, false),
        },
        Case {
            name: "mounts_parity/idmap_without_mappings_needs_userns",
            run: idmap_without_mappings,
        },
    ]
}

/// What a bind in a user namespace (all the source's flags locked) gives.
enum InUserns {
    /// As runc 1.1.5 (a read-only source makes the bind read-only).
    U11(&'static str),
    /// runc 1.1.5 fails (EPERM); runc 1.2 keeps the locked flags.
    U12(&'static str),
    /// Both fail: the config asks for another atime setting than the locked one.
    Fails,
}
use InUserns::{Fails, U11, U12};

#[derive(Clone, Copy, PartialEq)]
enum Userns {
    No,
    Runc11,
    Runc12,
}

/// (source tmpfs flags, bind options, mount options in mountinfo without a user
/// namespace (runc 1.1.5), in one). The sources stand in for FUSE and other mounts
/// that carry such flags.
#[rustfmt::skip]
const BINDS: &[(&str, &[&str], &str, InUserns)] = &[
    ("ro", &["bind"], "ro,relatime", U11("ro,relatime")),
    ("ro", &["rbind"], "ro,relatime", U11("ro,relatime")),
    ("ro", &["bind", "rw"], "ro,relatime", U11("ro,relatime")),
    ("ro", &["bind", "ro"], "ro,relatime", U11("ro,relatime")),
    ("ro", &["bind", "nosuid"], "rw,nosuid,relatime", U11("ro,nosuid,relatime")),
    ("ro", &["bind", "relatime"], "rw,relatime", U11("ro,relatime")),
    ("ro", &["bind", "noatime"], "rw,noatime", Fails),
    ("ro", &["bind", "strictatime"], "rw", Fails),
    ("ro", &["bind", "dev"], "ro,relatime", U11("ro,relatime")),
    ("ro", &["bind", "suid", "exec"], "ro,relatime", U11("ro,relatime")),
    ("ro", &["bind", "nodev"], "rw,nodev,relatime", U11("ro,nodev,relatime")),
    ("nodev", &["bind"], "rw,nodev,relatime", U11("rw,nodev,relatime")),
    ("nodev", &["rbind"], "rw,nodev,relatime", U11("rw,nodev,relatime")),
    ("nodev", &["bind", "rw"], "rw,nodev,relatime", U11("rw,nodev,relatime")),
    ("nodev", &["bind", "ro"], "ro,relatime", U12("ro,nodev,relatime")),
    ("nodev", &["bind", "nosuid"], "rw,nosuid,relatime", U12("rw,nosuid,nodev,relatime")),
    ("nodev", &["bind", "relatime"], "rw,relatime", U12("rw,nodev,relatime")),
    ("nodev", &["bind", "noatime"], "rw,noatime", Fails),
    ("nodev", &["bind", "strictatime"], "rw", Fails),
    ("nodev", &["bind", "dev"], "rw,nodev,relatime", U11("rw,nodev,relatime")),
    ("nodev", &["bind", "suid", "exec"], "rw,nodev,relatime", U11("rw,nodev,relatime")),
    ("nodev", &["bind", "nodev"], "rw,nodev,relatime", U11("rw,nodev,relatime")),
    ("noatime", &["bind"], "rw,noatime", U11("rw,noatime")),
    ("noatime", &["rbind"], "rw,noatime", U11("rw,noatime")),
    ("noatime", &["bind", "rw"], "rw,noatime", U11("rw,noatime")),
    ("noatime", &["bind", "ro"], "ro,noatime", U11("ro,noatime")),
    ("noatime", &["bind", "nosuid"], "rw,nosuid,noatime", U11("rw,nosuid,noatime")),
    ("noatime", &["bind", "relatime"], "rw,relatime", Fails),
    ("noatime", &["bind", "noatime"], "rw,noatime", U11("rw,noatime")),
    ("noatime", &["bind", "strictatime"], "rw", Fails),
    ("noatime", &["bind", "dev"], "rw,noatime", U11("rw,noatime")),
    ("noatime", &["bind", "suid", "exec"], "rw,noatime", U11("rw,noatime")),
    ("noatime", &["bind", "nodev"], "rw,nodev,noatime", U11("rw,nodev,noatime")),
    ("ro_nodev_nosuid_noexec", &["bind"], "ro,nosuid,nodev,noexec,relatime", U11("ro,nosuid,nodev,noexec,relatime")),
    ("ro_nodev_nosuid_noexec", &["rbind"], "ro,nosuid,nodev,noexec,relatime", U11("ro,nosuid,nodev,noexec,relatime")),
    ("ro_nodev_nosuid_noexec", &["bind", "rw"], "ro,nosuid,nodev,noexec,relatime", U11("ro,nosuid,nodev,noexec,relatime")),
    ("ro_nodev_nosuid_noexec", &["bind", "ro"], "ro,relatime", U12("ro,nosuid,nodev,noexec,relatime")),
    ("ro_nodev_nosuid_noexec", &["bind", "nosuid"], "rw,nosuid,relatime", U12("ro,nosuid,nodev,noexec,relatime")),
    ("ro_nodev_nosuid_noexec", &["bind", "relatime"], "rw,relatime", U12("ro,nosuid,nodev,noexec,relatime")),
    ("ro_nodev_nosuid_noexec", &["bind", "noatime"], "rw,noatime", Fails),
    ("ro_nodev_nosuid_noexec", &["bind", "strictatime"], "rw", Fails),
    ("ro_nodev_nosuid_noexec", &["bind", "dev"], "ro,nosuid,nodev,noexec,relatime", U11("ro,nosuid,nodev,noexec,relatime")),
    ("ro_nodev_nosuid_noexec", &["bind", "suid", "exec"], "ro,nosuid,nodev,noexec,relatime", U11("ro,nosuid,nodev,noexec,relatime")),
    ("ro_nodev_nosuid_noexec", &["bind", "nodev"], "rw,nodev,relatime", U12("ro,nosuid,nodev,noexec,relatime")),
    ("strictatime", &["bind"], "rw", U11("rw")),
    ("strictatime", &["rbind"], "rw", U11("rw")),
    ("strictatime", &["bind", "rw"], "rw", U11("rw")),
    ("strictatime", &["bind", "ro"], "ro", U11("ro")),
    ("strictatime", &["bind", "nosuid"], "rw,nosuid", U11("rw,nosuid")),
    ("strictatime", &["bind", "relatime"], "rw,relatime", Fails),
    ("strictatime", &["bind", "noatime"], "rw,noatime", Fails),
    ("strictatime", &["bind", "strictatime"], "rw", U11("rw")),
    ("strictatime", &["bind", "dev"], "rw", U11("rw")),
    ("strictatime", &["bind", "suid", "exec"], "rw", U11("rw")),
    ("strictatime", &["bind", "nodev"], "rw,nodev", U11("rw,nodev")),
    ("nodiratime", &["bind"], "rw,nodiratime,relatime", U11("rw,nodiratime,relatime")),
    ("nodiratime", &["rbind"], "rw,nodiratime,relatime", U11("rw,nodiratime,relatime")),
    ("nodiratime", &["bind", "rw"], "rw,nodiratime,relatime", U11("rw,nodiratime,relatime")),
    ("nodiratime", &["bind", "ro"], "ro,nodiratime,relatime", U11("ro,nodiratime,relatime")),
    ("nodiratime", &["bind", "nosuid"], "rw,nosuid,nodiratime,relatime", U11("rw,nosuid,nodiratime,relatime")),
    ("nodiratime", &["bind", "relatime"], "rw,relatime", Fails),
    ("nodiratime", &["bind", "noatime"], "rw,noatime", Fails),
    ("nodiratime", &["bind", "strictatime"], "rw", Fails),
    ("nodiratime", &["bind", "dev"], "rw,nodiratime,relatime", U11("rw,nodiratime,relatime")),
    ("nodiratime", &["bind", "suid", "exec"], "rw,nodiratime,relatime", U11("rw,nodiratime,relatime")),
    ("nodiratime", &["bind", "nodev"], "rw,nodev,nodiratime,relatime", U11("rw,nodev,nodiratime,relatime")),
];

fn bind_flags(ctx: &mut Ctx, userns: Userns) -> Result<()> {
    let mut b = ctx.bundle()?;
    let mut sources: Vec<&str> = BINDS.iter().map(|r| r.0).collect();
    sources.dedup();
    for s in &sources {
        let dir = b.dir.join(format!("src-{s}"));
        std::fs::create_dir_all(&dir)?;
        mount_tmpfs(&dir, &s.replace('_', ","))?;
    }
    let mut want = Vec::new();
    for (i, (s, opts, host, in_userns)) in BINDS.iter().enumerate() {
        let expect = match (userns, in_userns) {
            (Userns::No, _) => *host,
            (Userns::Runc11, U11(e)) | (Userns::Runc12, U12(e)) => *e,
            _ => continue,
        };
        let dest = format!("/mnt/b{i}");
        // Made beforehand: root of a user namespace cannot write the rootfs.
        std::fs::create_dir_all(b.host(&dest))?;
        let src = b.dir.join(format!("src-{s}"));
        b.config["mounts"].as_array_mut().unwrap().push(json!({
            "destination": dest, "type": "bind",
            "source": src.to_string_lossy(), "options": opts,
        }));
        want.push((dest, format!("{s} {opts:?}"), expect));
    }
    if userns != Userns::No {
        add_userns(&mut b, 1000, 1000);
    }
    b.config["process"]["args"] = json!(["cat", "/proc/self/mountinfo"]);
    let out = ctx.output_of(&b)?;
    for (dest, what, expect) in want {
        let got = out
            .lines()
            .map(|l| l.split(' ').collect::<Vec<_>>())
            .find(|f| f.len() > 5 && f[4] == dest)
            .map(|f| f[5].to_string())
            .unwrap_or_else(|| "(not mounted)".into());
        ctx.rep.eq(&format!("bind of {what}"), expect, got.as_str());
    }
    Ok(())
}

/// A tmpfs at `dir` with the per-mount flags `flags` (a bind remount sets them on
/// the mount itself, as a FUSE mount would carry them).
fn mount_tmpfs(dir: &Path, flags: &str) -> Result<()> {
    let d = dir.to_string_lossy();
    let run = |args: &[&str]| -> Result<()> {
        let o = std::process::Command::new("mount").args(args).output()?;
        anyhow::ensure!(
            o.status.success(),
            "mount {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        Ok(())
    };
    run(&["-t", "tmpfs", "-o", "size=64k", "tmpfs", &d]).context("tmpfs source")?;
    run(&["-o", &format!("remount,bind,{flags}"), &d]).context("source flags")
}

/// runc 1.1 opens bind sources as host root, before the init, mapped to an
/// unprivileged host user, could not reach them: a file and a directory inside a
/// 0700 directory of host root are mounted and readable.
fn unreachable_source(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    let private = b.dir.join("private");
    std::fs::create_dir_all(private.join("sub"))?;
    std::fs::write(private.join("file"), "secret\n")?;
    std::fs::write(private.join("sub/inner"), "inner\n")?;
    for (p, mode) in [
        (private.clone(), 0o700),
        (private.join("sub"), 0o755),
        (private.join("file"), 0o644),
        (private.join("sub/inner"), 0o644),
    ] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode))?;
    }
    // Destinations made beforehand: root of the user namespace cannot write the rootfs.
    std::fs::create_dir_all(b.host("/mnt/sub"))?;
    std::fs::write(b.host("/mnt/file"), "")?;
    let m = b.config["mounts"].as_array_mut().unwrap();
    m.push(json!({"destination": "/mnt/file", "type": "bind",
        "source": private.join("file").to_string_lossy(), "options": ["bind"]}));
    m.push(json!({"destination": "/mnt/sub", "type": "bind",
        "source": private.join("sub").to_string_lossy(), "options": ["rbind", "ro"]}));
    add_userns(&mut b, 1000, 1000);
    b.shell("cat /mnt/file /mnt/sub/inner; grep -c ' /mnt/sub ro,' /proc/self/mountinfo");
    let out = ctx.output_of(&b)?;
    ctx.rep.eq(
        "the file, the directory's file and the read-only bind are there",
        "secret\ninner\n1",
        out.trim(),
    );
    Ok(())
}

/// A tree to idmap: `top/foo` (100:211), and a bind of another directory at
/// `top/sub` holding `bar` (101:222), a submount only `ridmap` maps.
fn idmap_tree(b: &crate::bundle::Bundle) -> Result<String> {
    let (top, sub) = (b.dir.join("idmap-top"), b.dir.join("idmap-sub"));
    std::fs::create_dir_all(top.join("sub"))?;
    std::fs::create_dir_all(&sub)?;
    std::fs::write(top.join("foo"), "foo\n")?;
    std::fs::write(sub.join("bar"), "bar\n")?;
    chown(top.join("foo"), Some(100), Some(211))?;
    chown(sub.join("bar"), Some(101), Some(222))?;
    let o = std::process::Command::new("mount")
        .arg("--bind")
        .arg(&sub)
        .arg(top.join("sub"))
        .output()?;
    anyhow::ensure!(o.status.success(), "bind of the submount failed");
    Ok(top.to_string_lossy().into_owned())
}

fn ids(uid: &[(u32, u32, u32)], gid: &[(u32, u32, u32)]) -> serde_json::Value {
    let m = |v: &[(u32, u32, u32)]| {
        v.iter()
            .map(|(c, h, n)| json!({"containerID": c, "hostID": h, "size": n}))
            .collect::<Vec<_>>()
    };
    json!({"uidMappings": m(uid), "gidMappings": m(gid)})
}

/// runc 1.2+: a mount's uidMappings/gidMappings make an idmapped bind (on-disk
/// containerID shows as hostID), of the top mount only unless `ridmap`; `idmap` /
/// `ridmap` without mappings take the container's user namespace mappings.
fn idmap(ctx: &mut Ctx, userns: bool) -> Result<()> {
    let mut b = ctx.bundle()?;
    let top = idmap_tree(&b)?;
    // In the user namespace (0 -> 1000, 1000 ids) host id 1000+N shows as N.
    let base = if userns { 1000 } else { 0 };
    let one = ids(&[(100, base + 500, 3)], &[(210, base + 600, 20)]);
    let several = ids(
        &[(100, base + 700, 1), (101, base + 800, 1)],
        &[(211, base + 900, 1), (222, base + 950, 1)],
    );
    let none = json!({});
    let mut cases: Vec<(&str, Vec<&str>, &serde_json::Value, &str)> = vec![
        ("a", vec!["rbind"], &one, "500 601|unmapped"),
        ("b", vec!["rbind", "ridmap"], &one, "500 601|501 612"),
        ("f", vec!["rbind", "ridmap"], &several, "700 900|800 950"),
    ];
    if userns {
        cases.push(("c", vec!["rbind", "idmap"], &none, "100 211|65534 65534"));
        cases.push(("d", vec!["rbind", "ridmap"], &none, "100 211|101 222"));
        cases.push(("e", vec!["rbind"], &none, "65534 65534|65534 65534"));
    } else {
        cases.push(("e", vec!["rbind"], &none, "100 211|101 222"));
    }
    let mut script = String::new();
    for (name, opts, maps, _) in &cases {
        let dest = format!("/mnt/{name}");
        std::fs::create_dir_all(b.host(&dest))?;
        let mut m = json!({"destination": dest, "type": "bind", "source": top, "options": opts});
        for (k, v) in maps.as_object().into_iter().flatten() {
            m[k] = v.clone();
        }
        b.config["mounts"].as_array_mut().unwrap().push(m);
        script += &format!("stat -c '{name} %u %g' {dest}/foo {dest}/sub/bar; ");
    }
    if userns {
        add_userns(&mut b, 1000, 1000);
    }
    b.shell(&script);
    let out = ctx.output_of(&b)?;
    for (name, opts, maps, want) in &cases {
        let (want_top, want_sub) = want.split_once('|').unwrap();
        // Not idmapped below the top: the submount shows the ids as they are on
        // disk, which the user namespace does not map.
        let want_sub = if want_sub == "unmapped" {
            if userns {
                "65534 65534"
            } else {
                "101 222"
            }
        } else {
            want_sub
        };
        let got: Vec<&str> = out
            .lines()
            .filter_map(|l| l.strip_prefix(&format!("{name} ")))
            .collect();
        ctx.rep.eq(
            &format!("owners through {opts:?} {}", maps),
            vec![want_top, want_sub],
            got,
        );
    }
    Ok(())
}

/// runc refuses `idmap` without mappings when there is no user namespace to take
/// them from.
fn idmap_without_mappings(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    let src = b.dir.join("idmap-src");
    std::fs::create_dir_all(&src)?;
    b.config["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/mnt/x", "type": "bind",
        "source": src.to_string_lossy(), "options": ["rbind", "idmap"],
    }));
    ctx.expect_create_fails(&b, "create fails")?;
    Ok(())
}

/// linux.maskedPaths with duplicates (masked once, no error) and several
/// directories, which share one read-only tmpfs (runc 1.4+): each is read-only and
/// empty, and all show the same device in mountinfo.
fn masked_paths(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    for d in ["/mnt/d1", "/mnt/d2"] {
        std::fs::create_dir_all(b.host(d))?;
        std::fs::write(b.host(&format!("{d}/hidden")), "hidden\n")?;
    }
    std::fs::write(b.host("/mnt/file"), "hidden\n")?;
    b.config["linux"]["maskedPaths"] = json!([
        "/mnt/d1",
        "/mnt/file",
        "/mnt/d1",
        "/mnt/d2",
        "/mnt/file",
        "/mnt/missing"
    ]);
    b.shell(
        "for p in /mnt/d1 /mnt/d2 /mnt/file; do \
           echo \"$p $(grep -c \" $p \" /proc/self/mountinfo)\"; done; \
         grep -E ' /mnt/d[12] ' /proc/self/mountinfo | cut -d' ' -f3,6 | sort -u | wc -l; \
         ls -A /mnt/d1 /mnt/d2; cat /mnt/file; \
         touch /mnt/d1/x 2>/dev/null || echo read-only",
    );
    let out = ctx.output_of(&b)?;
    let lines: Vec<&str> = out.lines().collect();
    let part = |r: std::ops::Range<usize>| lines.get(r).map(|l| l.join("\n")).unwrap_or_default();
    ctx.rep.eq(
        "listed twice, masked once (one mount each)",
        "/mnt/d1 1\n/mnt/d2 1\n/mnt/file 1".to_string(),
        part(0..3),
    );
    ctx.rep.eq(
        "the masked directories share one tmpfs",
        "1".to_string(),
        part(3..4),
    );
    ctx.rep.eq(
        "masked directories are empty and read-only, the file empty",
        "/mnt/d1:\n\n/mnt/d2:\nread-only".to_string(),
        part(4..lines.len()),
    );
    Ok(())
}
