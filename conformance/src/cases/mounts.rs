//! Root (readonly, rootfsPropagation), mounts (bind, tmpfs, options, order),
//! devices (linux.devices and the device cgroup, behaviourally).

use super::{Case, Ctx};
use anyhow::Result;
use serde_json::{json, Value};

pub fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "root/readonly",
            run: root_readonly,
        },
        Case {
            name: "root/propagation_shared",
            run: |c| propagation(c, "shared"),
        },
        Case {
            name: "root/propagation_slave",
            run: |c| propagation(c, "slave"),
        },
        Case {
            name: "root/propagation_private",
            run: |c| propagation(c, "private"),
        },
        Case {
            name: "root/propagation_unbindable",
            run: |c| propagation(c, "unbindable"),
        },
        Case {
            name: "mounts/mounts",
            run: mounts,
        },
        Case {
            name: "mounts/tmpfs_mode",
            run: tmpfs_mode,
        },
        Case {
            name: "mounts/dev_read_only",
            run: dev_read_only,
        },
        Case {
            name: "mounts/dest_through_dangling_symlink",
            run: dangling_dest,
        },
        Case {
            name: "mounts/bind_of_an_earlier_mount",
            run: bind_of_earlier,
        },
        Case {
            name: "mounts/options",
            run: mount_options,
        },
        Case {
            name: "mounts/bind_missing_source",
            run: bad_bind,
        },
        Case {
            name: "devices/devices",
            run: devices,
        },
        Case {
            name: "devices/cgroup_deny_allow",
            run: device_cgroup,
        },
    ]
}

fn root_readonly(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    b.config["root"]["readonly"] = json!(true);
    ctx.run_checker(&b)?;
    Ok(())
}

fn propagation(ctx: &mut Ctx, mode: &str) -> Result<()> {
    let mut b = ctx.bundle()?;
    b.config["linux"]["rootfsPropagation"] = json!(mode);
    for set in [
        "bounding",
        "effective",
        "inheritable",
        "permitted",
        "ambient",
    ] {
        b.config["process"]["capabilities"][set]
            .as_array_mut()
            .unwrap()
            .push(json!("CAP_SYS_ADMIN"));
    }
    b.checker_args(&[&format!("propagation={mode}")]);
    if mode == "shared" {
        ctx.rep.expect_todo(
            "behaves as specified",
            "runc-compat: runc 1.1 leaves the container root private after pivot_root",
        );
    }
    if mode == "unbindable" {
        ctx.rep.expect_todo(
            "create succeeds",
            "runc-compat: runc 1.1 cannot bind the rootfs after making / unbindable (EINVAL)",
        );
    }
    ctx.run_checker(&b)?;
    Ok(())
}

fn opts(extra: &str) -> Value {
    json!(["nosuid", "strictatime", "mode=755", "size=1k", extra])
}

fn mounts(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    let m = b.config["mounts"].as_array_mut().unwrap();
    for p in ["shared", "slave", "private"] {
        m.push(json!({"destination": format!("/tmp/test-{p}"), "type": "tmpfs", "source": "tmpfs", "options": opts(p)}));
    }
    for p in ["shared", "slave", "private", "unbindable"] {
        m.push(json!({"destination": format!("/mnt/etc-{p}"), "type": "bind", "source": "/etc", "options": ["bind", p]}));
    }
    for p in ["rshared", "rslave", "rprivate", "runbindable"] {
        m.push(json!({"destination": format!("/mnt/etc-{p}"), "type": "bind", "source": "/etc", "options": ["rbind", p]}));
    }
    ctx.run_checker(&b)?;
    Ok(())
}

fn mount_options(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    let src = b.dir.join("bindsrc");
    std::fs::create_dir_all(&src)?;
    std::fs::write(src.join("file"), "content")?;
    let src = src.to_string_lossy().into_owned();
    let m = b.config["mounts"].as_array_mut().unwrap();
    m.push(json!({"destination": "/mnt/ro-bind", "type": "bind", "source": src, "options": ["rbind", "ro", "nosuid", "nodev", "noexec"]}));
    m.push(json!({"destination": "/mnt/rw-bind", "type": "bind", "source": src, "options": ["bind", "rw"]}));
    m.push(json!({"destination": "/mnt/tmpfs-ro", "type": "tmpfs", "source": "tmpfs", "options": ["ro", "nosuid", "nodev", "noexec", "size=64k"]}));
    // Mount without options at a nested destination that does not exist yet.
    m.push(json!({"destination": "/a/b/c/tmpfs", "type": "tmpfs", "source": "tmpfs"}));
    b.config["linux"]["readonlyPaths"] = json!(["/mnt/ro-bind"]);
    ctx.run_checker(&b)?;
    Ok(())
}

fn bad_bind(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    b.config["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/mnt/missing", "type": "bind",
        "source": "/conformance-this-source-does-not-exist", "options": ["bind"]
    }));
    b.config["process"]["args"] = json!(["true"]);
    ctx.expect_create_fails(&b, "bind mount of a missing source is an error")?;
    Ok(())
}

fn devices(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    b.config["linux"]["devices"] = json!([
        {"path": "/dev/test1", "type": "c", "major": 10, "minor": 666, "fileMode": 0o660, "uid": 0, "gid": 0},
        {"path": "/dev/test2", "type": "b", "major": 8, "minor": 666, "fileMode": 0o660, "uid": 0, "gid": 0},
        {"path": "/dev/test3", "type": "p", "fileMode": 0o660},
        {"path": "/dev/sub/test4", "type": "u", "major": 1, "minor": 3, "fileMode": 0o640, "uid": 10, "gid": 10}
    ]);
    ctx.run_checker(&b)?;
    Ok(())
}

fn device_cgroup(ctx: &mut Ctx) -> Result<()> {
    // c 10:229 (fuse) is not in the default allow list. Whether or not the
    // driver is loaded, a cgroup denial is EPERM and a driver error is not.
    let (maj, min) = (10, 229);
    if !ctx.host.v1.contains_key("devices") {
        ctx.rep.skip("device cgroup", "no v1 devices controller");
        return Ok(());
    }
    let mut b = ctx.bundle()?;
    b.config["linux"]["devices"] = json!([
        {"path": "/dev/conf-denied", "type": "c", "major": maj, "minor": min, "fileMode": 0o600},
        {"path": "/dev/conf-allowed", "type": "c", "major": 1, "minor": 3, "fileMode": 0o666}
    ]);
    b.checker_args(&["open-deny=/dev/conf-denied", "open-allow=/dev/conf-allowed"]);
    ctx.subcase("deny");
    ctx.run_checker(&b)?;
    // An allow rule for the same device lets the open through the cgroup.
    let mut b = ctx.bundle()?;
    b.config["linux"]["devices"] = json!([
        {"path": "/dev/conf-allowed-char", "type": "c", "major": maj, "minor": min, "fileMode": 0o600}
    ]);
    b.config["linux"]["resources"]["devices"]
        .as_array_mut()
        .unwrap()
        .push(json!({"allow": true, "type": "c", "major": maj, "minor": min, "access": "rwm"}));
    b.checker_args(&["open-allow=/dev/conf-allowed-char"]);
    ctx.subcase("allow");
    ctx.run_checker(&b)?;
    Ok(())
}

/// Runs `script` in a container of `b` and returns its stdout.
fn output_of(ctx: &mut Ctx, b: &mut crate::bundle::Bundle, script: &str) -> Result<String> {
    b.shell(script);
    ctx.output_of(b)
}

/// runc: a tmpfs without `mode=` keeps the mode of the directory it covers, a new one
/// is 1777 (tmpfs' own default), and an explicit `mode=` on a new one is honoured.
fn tmpfs_mode(ctx: &mut Ctx) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut b = ctx.bundle()?;
    let existing = b.host("/tm-existing");
    std::fs::create_dir(&existing)?;
    std::fs::set_permissions(&existing, std::fs::Permissions::from_mode(0o750))?;
    let m = b.config["mounts"].as_array_mut().unwrap();
    for (dest, opts) in [
        ("/tm-existing", json!(["nosuid"])),
        ("/tm-new", json!(["nosuid"])),
        ("/tm-explicit", json!(["nosuid", "mode=0701"])),
    ] {
        m.push(json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": opts}));
    }
    let out = output_of(
        ctx,
        &mut b,
        "stat -c '%n %a' /tm-existing /tm-new /tm-explicit",
    )?;
    for want in ["/tm-existing 750", "/tm-new 1777", "/tm-explicit 701"] {
        ctx.rep.check(
            &format!("tmpfs mode: {want}"),
            out.lines().any(|l| l == want),
            &out,
        );
    }
    Ok(())
}

/// A /dev mount with `ro` is read-only in the container, with its devices made.
fn dev_read_only(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    for m in b.config["mounts"].as_array_mut().unwrap() {
        if m["destination"] == "/dev" {
            m["options"].as_array_mut().unwrap().push(json!("ro"));
        }
    }
    let out = output_of(
        ctx,
        &mut b,
        "awk '$2 == \"/dev\" {print $4}' /proc/mounts | cut -d, -f1; [ -c /dev/null ] && echo has-null",
    )?;
    ctx.rep.eq(
        "/dev is read-only, /dev/null exists",
        vec!["ro", "has-null"],
        out.lines().collect::<Vec<_>>(),
    );
    Ok(())
}

/// Destinations through dangling symlinks (a component, relative or absolute, or the
/// last one) are resolved inside the rootfs and made there, never on the host.
fn dangling_dest(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    let tag = format!("conformance-dangling-{}", std::process::id());
    let abs = format!("/{tag}-abs");
    let last = format!("/{tag}-last");
    std::os::unix::fs::symlink(&abs, b.host("/dang-abs"))?;
    std::os::unix::fs::symlink("nested/target", b.host("/dang-rel"))?;
    std::os::unix::fs::symlink(&last, b.host("/dang-last"))?;
    let m = b.config["mounts"].as_array_mut().unwrap();
    for dest in ["/dang-abs/x", "/dang-rel/y", "/dang-last"] {
        m.push(json!({"destination": dest, "type": "tmpfs", "source": "tmpfs"}));
    }
    let out = output_of(
        ctx,
        &mut b,
        "awk '$3 == \"tmpfs\" {print $2}' /proc/mounts | grep -E 'dangling|nested' | sort",
    )?;
    let mut want = vec![
        format!("{abs}/x"),
        format!("{last}"),
        "/nested/target/y".to_string(),
    ];
    want.sort();
    ctx.rep.eq(
        "tmpfs mounted where the symlinks point, inside the rootfs",
        want,
        out.lines().map(str::to_string).collect::<Vec<_>>(),
    );
    for p in [&abs, &last, &"/nested".to_string()] {
        ctx.rep.check(
            &format!("nothing made on the host at {p}"),
            !std::path::Path::new(p).exists(),
            "",
        );
        ctx.rep.check(
            &format!("{p} made inside the rootfs"),
            b.host(p).exists(),
            "",
        );
    }
    Ok(())
}

/// Mounts are made in order, and a bind source is resolved when its turn comes: a
/// bind of the rootfs path of an earlier tmpfs shows that tmpfs, not the directory
/// under it.
fn bind_of_earlier(ctx: &mut Ctx) -> Result<()> {
    let mut b = ctx.bundle()?;
    std::fs::create_dir(b.host("/first"))?;
    std::fs::write(b.host("/first/under"), "")?;
    let src = b.host("/first").to_string_lossy().into_owned();
    let m = b.config["mounts"].as_array_mut().unwrap();
    m.push(json!({"destination": "/first", "type": "tmpfs", "source": "tmpfs"}));
    m.push(json!({"destination": "/second", "type": "bind", "source": src, "options": ["rbind"]}));
    let out = output_of(
        ctx,
        &mut b,
        "touch /first/new; ls /second; awk '$2 == \"/second\" {print $3}' /proc/mounts",
    )?;
    ctx.rep.eq(
        "/second is the tmpfs of /first (its new file, not the one under it)",
        vec!["new", "tmpfs"],
        out.lines().collect::<Vec<_>>(),
    );
    Ok(())
}
