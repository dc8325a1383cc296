//! Hostile input to `create`/`run`/`state`/`delete`/`mount`: every case is a clear
//! one-line error with a non-zero exit that leaves nothing behind (no state dir, no
//! cgroup, no process, no mount), or — where runc accepts the input — works without
//! escaping the container's rootfs.

use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::sif::busybox_sif;
use crate::common::*;

/// The state root holds nothing but sifrun's own dot-files (create locks).
#[track_caller]
fn assert_root_empty(rt: &Runtime) {
    let left: Vec<_> = std::fs::read_dir(&rt.root.path)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with(".create-"))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "state root not empty: {left:?}");
}

/// `create` of `bundle` fails cleanly and leaves nothing behind.
#[track_caller]
fn create_fails_cleanly(rt: &Runtime, bundle: &Path, needle: Option<&str>) -> String {
    let id = unique_id("hostile");
    let o = rt.create(&id, bundle);
    let line = assert_one_line_error(&o, needle);
    assert_no_leaks(rt, &id);
    assert_root_empty(rt);
    line
}

#[test]
fn malformed_config_json() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(&["true"]);
    for bad in [
        &b"{"[..],
        b"",
        b"null",
        b"[]",
        b"{\"ociVersion\": 1}",
        b"{\"process\": {\"args\": \"not-a-list\"}}",
        b"\xff\xfe\x00garbage",
        b"{\"ociVersion\":\"1.0.2\",\"root\":{\"path\":\"rootfs\"}}",
    ] {
        std::fs::write(b.dir.join("config.json"), bad).unwrap();
        let line = create_fails_cleanly(&rt, b.path(), None);
        eprintln!("{:?} -> {line}", String::from_utf8_lossy(bad));
    }
    // deeply nested JSON must not blow the stack (serde_json's recursion limit)
    let deep = format!("{{\"x\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
    std::fs::write(b.dir.join("config.json"), deep).unwrap();
    create_fails_cleanly(&rt, b.path(), None);
    // missing config.json
    std::fs::remove_file(b.dir.join("config.json")).unwrap();
    create_fails_cleanly(&rt, b.path(), Some("config.json"));
    // config.json that is a directory or a FIFO (must not hang)
    std::fs::create_dir(b.dir.join("config.json")).unwrap();
    create_fails_cleanly(&rt, b.path(), None);
}

#[test]
fn config_json_fifo_does_not_hang() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(&["true"]);
    std::fs::remove_file(b.dir.join("config.json")).unwrap();
    nix::unistd::mkfifo(
        &b.dir.join("config.json"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    let t = Instant::now();
    create_fails_cleanly(&rt, b.path(), None);
    assert!(t.elapsed() < Duration::from_secs(30));
}

#[test]
fn empty_container_id() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(&["true"]);
    let bp = b.path().to_str().unwrap();
    for args in [
        vec!["create", "--bundle", bp, ""],
        vec!["run", "--bundle", bp, ""],
        vec!["start", ""],
        vec!["state", ""],
        vec!["kill", "", "KILL"],
        vec!["delete", "--force", ""],
        vec!["exec", "", "true"],
    ] {
        let o = rt.run(&args);
        assert_one_line_error(&o, None);
    }
    assert_root_empty(&rt);
}

#[test]
fn huge_config_json_is_refused_quickly() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(&["true"]);
    // 100 MB: a valid prefix, then an annotation value of 100 MB of 'A'.
    let mut cfg = b.config();
    cfg["annotations"] = serde_json::json!({"big": ""});
    let text = serde_json::to_string(&cfg).unwrap();
    let (head, tail) = text.split_at(text.find("\"big\":\"").unwrap() + 7);
    {
        use std::io::Write;
        let f = std::fs::File::create(b.dir.join("config.json")).unwrap();
        let mut w = std::io::BufWriter::new(f);
        w.write_all(head.as_bytes()).unwrap();
        let chunk = vec![b'A'; 1 << 20];
        for _ in 0..100 {
            w.write_all(&chunk).unwrap();
        }
        w.write_all(tail.as_bytes()).unwrap();
    }
    let t = Instant::now();
    let line = create_fails_cleanly(&rt, b.path(), Some("config.json"));
    eprintln!("100 MB config -> {line} in {:?}", t.elapsed());
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "took {:?}",
        t.elapsed()
    );
}

#[test]
fn unknown_fields_are_ignored_like_runc() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(&["sh", "-c", "echo unknown-fields-ok"]);
    b.edit(|c| {
        c["x-vendor-extension"] = serde_json::json!({"a": [1, 2, {"b": null}]});
        c["process"]["x-unknown"] = "yes".into();
        c["linux"]["x-future-field"] = 42.into();
        c["root"]["x-whatever"] = true.into();
    });
    let id = unique_id("unknown");
    rt.track(&id);
    let mut cmd = rt.cmd(["run", "--bundle"]);
    cmd.arg(b.path()).arg(&id);
    let o = output_with_timeout(cmd, Duration::from_secs(60));
    assert_ok(&o, "run with unknown fields");
    assert_eq!(stdout(&o).trim(), "unknown-fields-ok");
    assert_no_leaks(&rt, &id);
}

/// The host directory `dir` is untouched: same entries, not a mount point.
#[track_caller]
fn assert_host_dir_untouched(dir: &Path) {
    let entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        entries,
        vec!["canary".to_string()],
        "host dir {} was written",
        dir.display()
    );
    assert_eq!(std::fs::read_to_string(dir.join("canary")).unwrap(), "host");
    let m = mounts_under(dir);
    assert!(m.is_empty(), "something was mounted on the host: {m:?}");
}

/// Runs a container whose config mounts a tmpfs at `dest` (a path that goes through
/// `link` in the rootfs, if any) and writes through it. Either the run works with the
/// mount confined to the rootfs, or it fails with a one-line error; the host directory
/// stays untouched and nothing stays mounted either way.
fn mount_must_not_escape(link_target: Option<&str>, dest: &str) {
    let rt = Runtime::new();
    let host = TmpDir::new("sifrun-hostdir");
    std::fs::write(host.join("canary"), "host").unwrap();
    let b = Bundle::new(&["sh", "-c", &format!("echo pwned > {dest}/pwned; ls {dest}")]);
    if let Some(t) = link_target {
        let t = t.replace("HOST", &host.path.to_string_lossy());
        symlink(&t, b.rootfs().join("mnt/evil")).unwrap();
    }
    b.edit(|c| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"destination": dest, "type": "tmpfs", "source": "tmpfs"}));
    });
    let id = unique_id("escape");
    rt.track(&id);
    let mut cmd = rt.cmd(["run", "--bundle"]);
    cmd.arg(b.path()).arg(&id);
    let o = output_with_timeout(cmd, Duration::from_secs(60));
    eprintln!(
        "dest {dest} via {link_target:?}: {:?} out={:?} err={:?}",
        o.status,
        stdout(&o),
        stderr(&o)
    );
    if !o.status.success() {
        assert_one_line_error(&o, None);
    }
    assert_host_dir_untouched(&host.path);
    assert_no_leaks(&rt, &id);
    assert!(
        mounts_under(b.path()).is_empty(),
        "mounts left in the bundle: {:?}",
        mounts_under(b.path())
    );
}

#[test]
fn mount_destination_symlink_to_host_absolute() {
    if require_root() {
        mount_must_not_escape(Some("HOST"), "/mnt/evil");
    }
}

#[test]
fn mount_destination_symlink_to_host_relative() {
    if require_root() {
        // ../../../../../../../../HOST from rootfs/mnt climbs past / and lands in HOST
        // if resolved on the host.
        mount_must_not_escape(Some("../../../../../../../../../../HOST"), "/mnt/evil");
    }
}

#[test]
fn mount_destination_symlink_dotdot() {
    if require_root() {
        mount_must_not_escape(Some("../../../../../../../../../.."), "/mnt/evil");
    }
}

#[test]
fn mount_destination_with_dotdot() {
    if !require_root() {
        return;
    }
    // No symlink: "/../../../../tmp/<hostdir>" must stay inside the rootfs.
    let rt = Runtime::new();
    let host = TmpDir::new("sifrun-hostdir");
    std::fs::write(host.join("canary"), "host").unwrap();
    let dest = format!("/../../../../../..{}", host.path.display());
    let b = Bundle::new(&["sh", "-c", &format!("echo pwned > {dest}/pwned")]);
    b.edit(|c| {
        c["mounts"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({"destination": dest, "type": "tmpfs", "source": "tmpfs"}));
    });
    let id = unique_id("dotdot");
    rt.track(&id);
    let mut cmd = rt.cmd(["run", "--bundle"]);
    cmd.arg(b.path()).arg(&id);
    let o = output_with_timeout(cmd, Duration::from_secs(60));
    eprintln!("{:?} {}", o.status, stderr(&o));
    if !o.status.success() {
        assert_one_line_error(&o, None);
    }
    assert_host_dir_untouched(&host.path);
    assert_no_leaks(&rt, &id);
}

#[test]
fn hostile_container_ids() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(&["true"]);
    // 100 KiB: the longest single argument execve takes is 128 KiB (MAX_ARG_STRLEN),
    // so a 1 MB id cannot even reach the binary; see also the unit test of validate_id.
    let long = "a".repeat(100 * 1024);
    let outside = TmpDir::new("sifrun-outside");
    let escape = format!("../../../../../../..{}/x", outside.path.display());
    for id in [".", "..", "a/b", "/", &escape, "a\nb", "x y", long.as_str()] {
        for args in [
            vec!["create", "--bundle", b.path().to_str().unwrap(), id],
            vec!["run", "--bundle", b.path().to_str().unwrap(), id],
            vec!["start", id],
            vec!["state", id],
            vec!["kill", id, "KILL"],
            vec!["delete", id],
            vec!["delete", "--force", id],
            vec!["exec", id, "true"],
        ] {
            let o = rt.run(&args);
            let shown: String = format!("{args:?}").chars().take(120).collect();
            if o.status.success() && args == ["delete", "--force", id] && !id.is_empty() {
                // runc: `delete --force` of a missing container succeeds; ok as long as
                // nothing outside the state root was touched (checked below).
                continue;
            }
            let line = assert_one_line_error(&o, None);
            eprintln!("{shown} -> {}", line.chars().take(200).collect::<String>());
        }
    }
    assert_root_empty(&rt);
    assert!(outside.path.is_dir());
    assert!(std::fs::read_dir(&outside.path).unwrap().next().is_none());
    assert!(cgroup_dirs("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa").is_empty());
}

#[test]
fn rootfs_that_is_a_symlink_is_refused() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let b = Bundle::new(&["true"]);
    let real = TmpDir::new("sifrun-realroot");
    std::fs::rename(b.rootfs(), real.join("rootfs")).unwrap();
    symlink(real.join("rootfs"), b.rootfs()).unwrap();
    create_fails_cleanly(&rt, b.path(), Some("symlink"));
    // a relative symlink, and a path through a symlinked directory
    std::fs::remove_file(b.rootfs()).unwrap();
    symlink("rootfs-real", b.rootfs()).unwrap();
    std::fs::rename(real.join("rootfs"), b.dir.join("rootfs-real")).unwrap();
    create_fails_cleanly(&rt, b.path(), Some("symlink"));
    std::fs::remove_file(b.rootfs()).unwrap();
    std::fs::create_dir(b.dir.join("d")).unwrap();
    std::fs::rename(b.dir.join("rootfs-real"), b.dir.join("d/rootfs")).unwrap();
    symlink("d", b.dir.join("link")).unwrap();
    b.edit(|c| c["root"]["path"] = "link/rootfs".into());
    create_fails_cleanly(&rt, b.path(), Some("symlink"));
    // missing rootfs, and a rootfs that is a file
    b.edit(|c| c["root"]["path"] = "nope".into());
    create_fails_cleanly(&rt, b.path(), None);
    std::fs::write(b.dir.join("file"), "x").unwrap();
    b.edit(|c| c["root"]["path"] = "file".into());
    create_fails_cleanly(&rt, b.path(), None);
}

#[test]
fn missing_or_bogus_bundle() {
    if !require_root() {
        return;
    }
    let rt = Runtime::new();
    let t = TmpDir::new("sifrun-nobundle");
    create_fails_cleanly(&rt, &t.join("does-not-exist"), None);
    std::fs::write(t.join("file"), "x").unwrap();
    create_fails_cleanly(&rt, &t.join("file"), None);
    create_fails_cleanly(&rt, &t.path, Some("config.json"));
}

#[test]
fn mount_of_hostile_sif_files() {
    if !require_root() {
        return;
    }
    let src = busybox_sif();
    let good = std::fs::read(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    let t = TmpDir::new("sifrun-badsif");
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("text", b"hello, I am not a SIF\n".to_vec()),
        ("header-only", good[..128].to_vec()),
        ("truncated-table", good[..4096].to_vec()),
        ("truncated-data", good[..good.len() / 2].to_vec()),
        ("one-short", good[..good.len() - 1].to_vec()),
    ];
    let mut flipped = good.clone();
    // descriptors_total / offset / size in the header set to absurd values
    for b in &mut flipped[88..128] {
        *b = 0xff;
    }
    cases.push(("absurd-header", flipped));
    // the squashfs partition's magic destroyed
    let mut nofs = good.clone();
    for b in &mut nofs[45056..45056 + 64] {
        *b = 0;
    }
    cases.push(("bad-partition", nofs));
    for (name, bytes) in cases {
        let img = t.join(format!("{name}.sif"));
        std::fs::write(&img, &bytes).unwrap();
        for mode in ["kernel", "fuse", "auto"] {
            let bundle = t.join(format!("bundle-{name}-{mode}"));
            let mut c = std::process::Command::new(SIFRUN);
            c.args(["mount", "--mode", mode]).arg(&img).arg(&bundle);
            let o = output_with_timeout(c, Duration::from_secs(60));
            let line = assert_one_line_error(&o, None);
            eprintln!("{name} {mode}: {line}");
            assert!(!bundle.exists(), "{name}/{mode}: bundle dir was created");
            assert!(
                mounts_under(&t.path).is_empty(),
                "{name}/{mode}: mounted {:?}",
                mounts_under(&t.path)
            );
            let loops = settle(Duration::from_secs(5), || loop_devices_of(&img));
            assert!(loops.is_empty(), "{name}/{mode}: loop devices {loops:?}");
        }
    }
    // a directory, a FIFO and a missing file as the image
    nix::unistd::mkfifo(
        &t.join("fifo.sif"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    for img in ["fifo.sif", "missing.sif", "."] {
        let bundle = t.join("bundle-x");
        let mut c = std::process::Command::new(SIFRUN);
        c.args(["mount"]).arg(t.join(img)).arg(&bundle);
        let o = output_with_timeout(c, Duration::from_secs(30));
        assert_one_line_error(&o, None);
        assert!(!bundle.exists());
    }
}
