//! The `sifrun sif …` commands through the binary:
//!
//! * `sif list`, `sif info`, `sif header` of the busybox fixture, text and JSON;
//! * `sif build` end to end: the busybox image from hack/make-busybox-image.sh as
//!   oci-archive, docker-archive and oci layout → OCI-SIF → `sifrun mount` + `sifrun
//!   run` shows the image's user, working dir and env; a native SIF from a directory is
//!   readable by Debian's siftool and unsquashfs and runs its runscript with its env; a
//!   hostile layer fails cleanly. Mounts are undone by a Drop guard
//!   ([`MountScratch`], `sifrun umount --force`).

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use crate::common::sif::{busybox_sif, fixtures_dir, MountScratch};
use crate::common::{assert_ok, have, is_root, make_rootfs, SIFRUN};

/// `sifrun sif ARGS…`, run to completion.
fn sif(args: &[&str]) -> Output {
    Command::new(SIFRUN).arg("sif").args(args).output().unwrap()
}

/// `sifrun sif build ARGS…`.
fn sif_build(args: &[&str]) -> Output {
    sif(&[&["build"], args].concat())
}

#[test]
fn sif_list_header_info() {
    let img = busybox_sif();
    let img = img.to_str().unwrap();
    let o = sif(&["list", img]);
    assert!(o.status.success());
    let s = String::from_utf8(o.stdout).unwrap();
    assert!(
        s.contains(
            "4    |1       |NONE    |45056-790528              |FS (Squashfs/*System/amd64)"
        ),
        "{s}"
    );
    let o = sif(&["info", img, "5"]);
    assert!(String::from_utf8(o.stdout)
        .unwrap()
        .contains("1137E72E6816BFC06D9CAA0D15F3F4F4F14B03B2"));
    let o = sif(&["header", "--json", img]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["data_offset"], 32768);
    let o = sif(&["list", "--json", img]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 5);
    // errors: one line, non-zero
    let o = sif(&["list", fixtures_dir().join("README.md").to_str().unwrap()]);
    assert!(!o.status.success());
    let e = String::from_utf8(o.stderr).unwrap();
    assert!(
        e.contains("not a SIF") && e.trim().lines().count() == 1,
        "{e}"
    );
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn busybox_user_image_from_all_oci_sources() {
    if !is_root() || !have("umoci") || !have("skopeo") || !have("mksquashfs") {
        eprintln!("skipped: needs root, umoci, skopeo and squashfs-tools");
        return;
    }
    let mut s = MountScratch::new("sif-build-bb");
    let img = s.dir.join("img");
    let o = Command::new("bash")
        .arg(repo().join("hack/make-busybox-image.sh"))
        .arg(&img)
        .output()
        .unwrap();
    assert_ok(&o, "make-busybox-image.sh");
    let sources = [
        (
            "oa",
            format!("oci-archive:{}", img.join("busybox-user-oci.tar").display()),
        ),
        (
            "da",
            format!(
                "docker-archive:{}",
                img.join("busybox-user-docker.tar").display()
            ),
        ),
        ("ol", format!("oci:{}:user", img.join("oci").display())),
    ];
    for (tag, src) in &sources {
        let out = s.dir.join(format!("{tag}.oci.sif"));
        let o = sif_build(&["-q", out.to_str().unwrap(), src]);
        assert_ok(&o, &format!("sif build {src}"));
        assert!(
            o.stderr.is_empty(),
            "-q prints nothing: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let got = s.mount_run(
            &out,
            None,
            &format!("sifbuild-{tag}"),
            "id -u; id -g; pwd; echo $RTEST_ENV; cat /srv/marker\n",
        );
        assert_eq!(
            got, "1000\n1000\n/home/tester\nfrom-image\nhello from image\n",
            "{src}"
        );
    }
    // Without -q, stderr not a terminal: still no progress (tests/integration/progress.rs
    // has it on a terminal); the "latest" tag runs as root in /srv.
    let out = s.dir.join("latest.oci.sif");
    let o = sif_build(&[
        out.to_str().unwrap(),
        &format!("oci:{}:latest", img.join("oci").display()),
    ]);
    assert_ok(&o, "sif build latest");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err, "", "progress without a terminal");
    let got = s.mount_run(&out, None, "sifbuild-latest", "id -u; pwd\n");
    assert_eq!(got, "0\n/srv\n");
}

/// A busybox root fs directory ([`make_rootfs`]) with a marker file in /srv.
fn busybox_root(dir: &Path) {
    make_rootfs(dir);
    fs::create_dir_all(dir.join("srv")).unwrap();
    fs::write(dir.join("srv/marker"), "dir marker\n").unwrap();
}

#[test]
fn native_sif_from_dir() {
    if !is_root() || !have("mksquashfs") || !Path::new("/bin/busybox").exists() {
        eprintln!("skipped: needs root, squashfs-tools and busybox-static");
        return;
    }
    let mut s = MountScratch::new("sif-build-native");
    let root = s.dir.join("rootfs");
    busybox_root(&root);
    let rs = s.dir.join("runscript");
    fs::write(
        &rs,
        "echo \"runscript: GREETING=$GREETING args=$*\"\ncat /srv/marker\n",
    )
    .unwrap();
    let out = s.dir.join("n.sif");
    let o = sif_build(&[
        "-q",
        "--runscript",
        rs.to_str().unwrap(),
        "--env",
        "GREETING=hello world",
        "--label",
        "org.example.test=yes",
        out.to_str().unwrap(),
        &format!("dir:{}", root.display()),
    ]);
    assert_ok(&o, "sif build dir:");
    assert!(
        !root.join(".singularity.d").exists(),
        "source left untouched"
    );

    if have("siftool") {
        let o = Command::new("siftool")
            .arg("list")
            .arg(&out)
            .output()
            .unwrap();
        assert_ok(&o, "siftool list");
        let l = String::from_utf8_lossy(&o.stdout);
        assert!(l.contains("Def.FILE") && l.contains("JSON.Generic"), "{l}");
        assert!(l.contains("FS (Squashfs/*System/"), "{l}");
        for id in ["1", "2", "3"] {
            let o = Command::new("siftool")
                .args(["info", id])
                .arg(&out)
                .output()
                .unwrap();
            assert_ok(&o, "siftool info");
        }
    } else {
        eprintln!("siftool not installed: siftool checks skipped");
    }
    // unsquashfs reads the partition at its offset.
    let o = sif(&["info", "--json", out.to_str().unwrap(), "3"]);
    assert_ok(&o, "sif info");
    let d: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let off = d["offset"].as_i64().unwrap();
    assert_eq!(off % 4096, 0);
    let o = Command::new("unsquashfs")
        .args(["-o", &off.to_string(), "-l"])
        .arg(&out)
        .output()
        .unwrap();
    assert_ok(&o, "unsquashfs -l");
    let l = String::from_utf8_lossy(&o.stdout);
    for p in [
        "/.singularity.d/runscript",
        "/.singularity.d/env/90-environment.sh",
        "/.singularity.d/labels.json",
        "/.singularity.d/actions/run",
        "/bin/busybox",
        "/srv/marker",
    ] {
        assert!(
            l.contains(&format!("squashfs-root{p}\n")),
            "{p} missing:\n{l}"
        );
    }
    let got = s.mount_run(&out, None, "sifbuild-native", "");
    assert_eq!(got, "runscript: GREETING=hello world args=\ndir marker\n");

    // --oci: an OCI-SIF with a default config instead.
    let out = s.dir.join("d.oci.sif");
    let o = sif_build(&[
        "-q",
        "--oci",
        "--env",
        "A=1",
        out.to_str().unwrap(),
        &format!("dir:{}", root.display()),
    ]);
    assert_ok(&o, "sif build --oci dir:");
    let got = s.mount_run(
        &out,
        None,
        "sifbuild-dir-oci",
        "echo A=$A; id -u; cat /srv/marker\n",
    );
    assert_eq!(got, "A=1\n0\ndir marker\n");
}

/// An OCI layout whose single layer holds `../../escaped`.
fn hostile_layout(dir: &Path) {
    let digest = bundle_tools::build::source::sha256_digest;
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    let src = dir.join("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("f"), "x").unwrap();
    let layer = dir.join("layer.tar");
    let o = Command::new("tar")
        .arg("-C")
        .arg(&src)
        .args(["-cPf"])
        .arg(&layer)
        .args(["--transform", "s,^f$,../../escaped,", "f"])
        .output()
        .unwrap();
    assert_ok(&o, "tar");
    let lb = fs::read(&layer).unwrap();
    fs::remove_file(&layer).unwrap();
    fs::remove_dir_all(&src).unwrap();
    let put = |b: &[u8]| {
        let d = digest(b);
        fs::write(blobs.join(&d[7..]), b).unwrap();
        d
    };
    let ld = put(&lb);
    let cfg = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{}},"rootfs":{{"type":"layers","diff_ids":["{ld}"]}}}}"#
    );
    let cd = put(cfg.as_bytes());
    let m = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{cd}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{ld}","size":{}}}]}}"#,
        cfg.len(),
        lb.len()
    );
    let md = put(m.as_bytes());
    fs::write(
        dir.join("index.json"),
        format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{md}","size":{}}}]}}"#,
            m.len()
        ),
    )
    .unwrap();
    fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

#[test]
fn hostile_layer_fails_cleanly() {
    let s = MountScratch::new("sif-build-hostile");
    let layout = s.dir.join("layout");
    hostile_layout(&layout);
    let archive = s.dir.join("hostile.tar");
    let o = Command::new("tar")
        .arg("-C")
        .arg(&layout)
        .arg("-cf")
        .arg(&archive)
        .arg(".")
        .output()
        .unwrap();
    assert_ok(&o, "tar layout");
    let out_dir = s.dir.join("out");
    fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("h.sif");
    for src in [
        format!("oci:{}", layout.display()),
        format!("oci-archive:{}", archive.display()),
    ] {
        let o = sif_build(&["-q", out.to_str().unwrap(), &src]);
        assert!(!o.status.success(), "{src}: hostile build succeeded");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "one-line error: {err}");
        assert!(err.contains("unsafe entry") && err.contains(".."), "{err}");
        assert_eq!(
            fs::read_dir(&out_dir).unwrap().count(),
            0,
            "no output or temp files left"
        );
        assert!(!s.dir.join("escaped").exists() && !std::env::temp_dir().join("escaped").exists());
    }
    // Bad SOURCE syntax and missing input: one line, non-zero.
    for src in ["docker://busybox", "oci-archive:/nonexistent/x.tar"] {
        let o = sif_build(&[out.to_str().unwrap(), src]);
        assert!(!o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
    assert!(!out.exists());
}

/// `unsquashfs -o OFFSET OPTS… SIF PATHS…` of a native SIF's partition (object 3):
/// its stdout.
fn unsquashfs_partition(sif_path: &Path, opts: &[&str], paths: &[&str]) -> String {
    let o = sif(&["info", "--json", sif_path.to_str().unwrap(), "3"]);
    assert_ok(&o, "sif info");
    let d: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let off = d["offset"].as_i64().unwrap().to_string();
    let o = Command::new("unsquashfs")
        .args(["-o", &off])
        .args(opts)
        .arg(sif_path)
        .args(paths)
        .output()
        .unwrap();
    assert_ok(&o, "unsquashfs");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `ls -l`-like lines of the native SIF's squashfs partition: "MODE OWNER PATH[ -> TARGET]".
fn partition_listing(sif_path: &Path) -> String {
    unsquashfs_partition(sif_path, &["-lls"], &[])
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let i = f.iter().position(|x| x.starts_with("squashfs-root"))?;
            Some(format!("{} {} {}", f[0], f[1], f[i..].join(" ")))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// What `sif build dir:` adds to a tree (straight from the source, as mksquashfs
/// pseudo files, or through a copy when the source has some of it) has the modes,
/// owners and contents it should, and what the source has is kept as it is.
#[test]
fn native_sif_adds_what_the_source_lacks() {
    if !is_root() || !have("mksquashfs") {
        eprintln!("skipped: needs root and squashfs-tools");
        return;
    }
    let t = crate::common::TmpDir::new("sif-build-added");
    let src = t.join("src");
    fs::create_dir_all(src.join("var/lib")).unwrap();
    fs::create_dir_all(src.join("etc")).unwrap();
    fs::write(src.join("etc/hosts"), "127.0.0.1 kept\n").unwrap();
    fs::create_dir_all(src.join("bin")).unwrap();
    fs::write(src.join("bin/tool"), "#!/bin/sh\n").unwrap();
    let build = |name: &str| {
        let (out, from) = (t.join(name), format!("dir:{}", src.display()));
        let opts = ["-q", "--env", "K=v"];
        assert_ok(
            &sif_build(&[&opts[..], &[out.to_str().unwrap(), &from]].concat()),
            "sif build dir:",
        );
        out
    };
    let cat = |sif_path: &Path, p: &str| unsquashfs_partition(sif_path, &["-cat"], &[p]);

    let direct = build("direct.sif");
    assert!(
        !src.join(".singularity.d").exists(),
        "source left untouched"
    );
    let l = partition_listing(&direct);
    for want in [
        "drwxrwxrwt root/root squashfs-root/tmp",
        "drwxrwxrwt root/root squashfs-root/var/tmp",
        "drwx------ root/root squashfs-root/root",
        "dr-xr-xr-x root/root squashfs-root/proc",
        "drwxr-xr-x root/root squashfs-root/var/lib",
        "-rwxr-xr-x root/root squashfs-root/.singularity.d/actions/run",
        "-rw-r--r-- root/root squashfs-root/.singularity.d/labels.json",
        "lrwxrwxrwx root/root squashfs-root/singularity -> .singularity.d/runscript",
        "lrwxrwxrwx root/root squashfs-root/.run -> .singularity.d/actions/run",
        "-rw-r--r-- root/root squashfs-root/etc/resolv.conf",
        "-rw-r--r-- root/root squashfs-root/bin/tool",
    ] {
        assert!(l.lines().any(|x| x == want), "{want:?} missing:\n{l}");
    }
    assert_eq!(cat(&direct, "etc/hosts"), "127.0.0.1 kept\n");
    assert!(
        cat(&direct, ".singularity.d/env/90-environment.sh").ends_with("export K='v'\n"),
        "environment"
    );
    assert!(cat(&direct, ".singularity.d/actions/exec").contains("exec \"$@\""));

    // A source with its own /.singularity.d is merged with (through a copy): its
    // environment is kept and extended, and the tree is the same otherwise.
    fs::create_dir_all(src.join(".singularity.d/env")).unwrap();
    fs::write(
        src.join(".singularity.d/env/90-environment.sh"),
        "#!/bin/sh\nexport FROM_SOURCE=1\n",
    )
    .unwrap();
    let merged = build("merged.sif");
    assert_eq!(
        cat(&merged, ".singularity.d/env/90-environment.sh"),
        "#!/bin/sh\nexport FROM_SOURCE=1\nexport K='v'\n"
    );
    let strip = |l: String| -> Vec<String> {
        let mut v: Vec<String> = l.lines().map(str::to_owned).collect();
        v.sort();
        v
    };
    assert_eq!(strip(partition_listing(&merged)), strip(l));
}
