//! `build`: a synthetic multi-layer OCI image (whiteouts, opaque dir, hardlinks,
//! symlink, device node, FIFO, xattr, setuid, ownership; gzip, plain and zstd layers)
//! becomes an OCI-SIF whose single squashfs layer holds exactly the expected tree; and
//! hostile or broken images fail with a clear error and leave no output behind.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use bundle_tools::build::{self, BuildOptions, SourceSpec};
use bundle_tools::oci_sif::{OciImage, SQUASHFS_LAYER};
use bundle_tools::sif::Sif;
use bundle_tools::Error;
use sha2::{Digest, Sha256};

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn have(tool: &str) -> bool {
    Command::new(tool).arg("-version").output().is_ok()
}

// ---- tar writing (raw headers so that hostile names survive) -------------------

enum Kind<'a> {
    Dir,
    File(&'a [u8]),
    Symlink(&'a str),
    Hardlink(&'a str),
    Char(u32, u32),
    Fifo,
}

struct Ent<'a> {
    path: &'a str,
    kind: Kind<'a>,
    mode: u32,
    uid: u64,
    gid: u64,
    xattrs: Vec<(&'a str, &'a [u8])>,
}

fn ent<'a>(path: &'a str, kind: Kind<'a>, mode: u32) -> Ent<'a> {
    Ent {
        path,
        kind,
        mode,
        uid: 0,
        gid: 0,
        xattrs: vec![],
    }
}

fn set_bytes(slot: &mut [u8], v: &[u8]) {
    assert!(v.len() <= slot.len(), "name too long for the test helper");
    slot.fill(0);
    slot[..v.len()].copy_from_slice(v);
}

fn pax_record(k: &str, v: &[u8]) -> Vec<u8> {
    let body_len = 1 + k.len() + 1 + v.len() + 1; // ' ' k '=' v '\n'
    let mut n = body_len + 1;
    while n.to_string().len() + body_len != n {
        n = n.to_string().len() + body_len;
    }
    let mut r = format!("{n} {k}=").into_bytes();
    r.extend_from_slice(v);
    r.push(b'\n');
    r
}

fn tar_layer(entries: &[Ent]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        if !e.xattrs.is_empty() {
            let data: Vec<u8> = e
                .xattrs
                .iter()
                .flat_map(|(k, v)| pax_record(&format!("SCHILY.xattr.{k}"), v))
                .collect();
            let mut h = tar::Header::new_ustar();
            set_bytes(&mut h.as_old_mut().name, b"PaxHeader");
            h.set_entry_type(tar::EntryType::XHeader);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append(&h, &data[..]).unwrap();
        }
        let mut h = tar::Header::new_ustar();
        set_bytes(&mut h.as_old_mut().name, e.path.as_bytes());
        h.set_mode(e.mode);
        h.set_uid(e.uid);
        h.set_gid(e.gid);
        h.set_mtime(1_700_000_000);
        let mut data: &[u8] = &[];
        match &e.kind {
            Kind::Dir => h.set_entry_type(tar::EntryType::Directory),
            Kind::File(d) => {
                h.set_entry_type(tar::EntryType::Regular);
                data = d;
            }
            Kind::Symlink(t) => {
                h.set_entry_type(tar::EntryType::Symlink);
                set_bytes(&mut h.as_old_mut().linkname, t.as_bytes());
            }
            Kind::Hardlink(t) => {
                h.set_entry_type(tar::EntryType::Link);
                set_bytes(&mut h.as_old_mut().linkname, t.as_bytes());
            }
            Kind::Char(ma, mi) => {
                h.set_entry_type(tar::EntryType::Char);
                h.set_device_major(*ma).unwrap();
                h.set_device_minor(*mi).unwrap();
            }
            Kind::Fifo => h.set_entry_type(tar::EntryType::Fifo),
        }
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

fn gzip(b: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn digest(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

/// An OCI layout with one image tagged "t". `layers`: (tar bytes, compression).
struct Layout {
    dir: PathBuf,
    config: Vec<u8>,
    layer_digests: Vec<String>,
    manifest_path: PathBuf,
}

fn put_blob(dir: &Path, b: &[u8]) -> String {
    let d = digest(b);
    let p = dir.join("blobs/sha256").join(&d[7..]);
    fs::write(p, b).unwrap();
    d
}

fn oci_layout(dir: &Path, layers: &[(Vec<u8>, &str)]) -> Layout {
    oci_layout_with(dir, layers, None)
}

fn oci_layout_with(dir: &Path, layers: &[(Vec<u8>, &str)], media_override: Option<&str>) -> Layout {
    fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    let mut layer_digests = Vec::new();
    for (tar, comp) in layers {
        diff_ids.push(digest(tar));
        let (blob, mt) = match *comp {
            "gzip" => (gzip(tar), "application/vnd.oci.image.layer.v1.tar+gzip"),
            "zstd" => (
                zstd::encode_all(&tar[..], 3).unwrap(),
                "application/vnd.oci.image.layer.v1.tar+zstd",
            ),
            _ => (tar.clone(), "application/vnd.oci.image.layer.v1.tar"),
        };
        let d = put_blob(dir, &blob);
        layer_digests.push(d.clone());
        descs.push(serde_json::json!({
            "mediaType": media_override.unwrap_or(mt), "digest": d, "size": blob.len()
        }));
    }
    // Deliberately odd formatting: the config must be copied byte for byte.
    let config = format!(
        "{{\n  \"architecture\": \"amd64\", \"os\": \"linux\",\n  \"config\": {{\"Env\": [\"PATH=/bin\", \"X=1\"], \"Cmd\": [\"sh\"], \"WorkingDir\": \"/etc\"}},\n  \"rootfs\": {{\"type\": \"layers\", \"diff_ids\": {}}}\n}}\n",
        serde_json::to_string(&diff_ids).unwrap()
    )
    .into_bytes();
    let cd = put_blob(dir, &config);
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
        "layers": descs,
    }))
    .unwrap();
    let md = put_blob(dir, &manifest);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": md, "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": "t"}
        }]
    });
    fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    Layout {
        dir: dir.to_path_buf(),
        config,
        layer_digests,
        manifest_path: dir.join("blobs/sha256").join(&md[7..]),
    }
}

struct Scratch(PathBuf);
impl Scratch {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "sifrun-build-test-{tag}-{}-{}",
            std::process::id(),
            fastrand::u32(..)
        ));
        fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
}
impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn quiet() -> BuildOptions {
    BuildOptions {
        quiet: true,
        ..Default::default()
    }
}

fn oci_src(l: &Layout) -> SourceSpec {
    SourceSpec::OciDir {
        dir: l.dir.clone(),
        tag: Some("t".into()),
    }
}

/// Nothing but the listed entries in `dir` (no temp output or scratch dirs).
fn assert_clean(out_dir: &Path, expected: &[&str]) {
    let mut names: Vec<String> = fs::read_dir(out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut exp: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    exp.sort();
    assert_eq!(names, exp, "leftovers in {}", out_dir.display());
}

fn list_tree(root: &Path) -> Vec<String> {
    fn walk(root: &Path, rel: &Path, out: &mut Vec<String>) {
        let mut es: Vec<_> = fs::read_dir(root.join(rel))
            .unwrap()
            .map(|e| e.unwrap())
            .collect();
        es.sort_by_key(|e| e.file_name());
        for e in es {
            let r = rel.join(e.file_name());
            out.push(r.to_string_lossy().into_owned());
            if e.file_type().unwrap().is_dir() {
                walk(root, &r, out);
            }
        }
    }
    let mut v = Vec::new();
    walk(root, Path::new(""), &mut v);
    v
}

fn getxattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let pc = std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
    let nc = std::ffi::CString::new(name).unwrap();
    let mut buf = vec![0u8; 256];
    let n =
        unsafe { libc::lgetxattr(pc.as_ptr(), nc.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (n >= 0).then(|| buf[..n as usize].to_vec())
}

#[test]
fn multi_layer_whiteouts_and_metadata() {
    if !is_root() || !have("mksquashfs") || !have("unsquashfs") {
        eprintln!("skipped: needs root (device nodes, ownership) and squashfs-tools");
        return;
    }
    let s = Scratch::new("ml");
    let mut data_f = ent("data/f", Kind::File(b"payload"), 0o640);
    data_f.uid = 1000;
    data_f.gid = 1000;
    data_f.xattrs = vec![("user.test", b"hello")];
    let mut home = ent("home/u", Kind::Dir, 0o750);
    home.uid = 1000;
    home.gid = 2000;
    let l1 = tar_layer(&[
        ent("./", Kind::Dir, 0o755),
        ent("bin/", Kind::Dir, 0o755),
        ent("bin/tool", Kind::File(b"#!/bin/sh\necho tool\n"), 0o755),
        ent("bin/tool-link", Kind::Hardlink("bin/tool"), 0o755),
        ent("bin/suid", Kind::File(b"x"), 0o4755),
        ent("data/", Kind::Dir, 0o755),
        data_f,
        ent("dev/", Kind::Dir, 0o755),
        ent("dev/mydev", Kind::Char(1, 3), 0o666),
        ent("etc/", Kind::Dir, 0o755),
        ent("etc/keep", Kind::File(b"v1"), 0o644),
        ent("etc/gone", Kind::File(b"bye"), 0o644),
        ent("etc/link", Kind::Symlink("keep"), 0o777),
        ent("home/", Kind::Dir, 0o755),
        home,
        ent("opq/", Kind::Dir, 0o755),
        ent("opq/old1", Kind::File(b"old"), 0o644),
        ent("opq/sub/", Kind::Dir, 0o755),
        ent("opq/sub/old2", Kind::File(b"old"), 0o644),
        ent("rmdir/", Kind::Dir, 0o755),
        ent("rmdir/x", Kind::File(b"x"), 0o644),
    ]);
    // Layer 2 (uncompressed): the opaque marker comes *after* a new entry in the same
    // dir, which must survive it.
    let l2 = tar_layer(&[
        ent("etc/", Kind::Dir, 0o755),
        ent("etc/.wh.gone", Kind::File(b""), 0o644),
        ent("etc/keep", Kind::File(b"v2"), 0o600),
        ent("opq/", Kind::Dir, 0o755),
        ent("opq/new", Kind::File(b"new"), 0o644),
        ent("opq/.wh..wh..opq", Kind::File(b""), 0o644),
        ent(".wh.rmdir", Kind::File(b""), 0o644),
        ent("run/", Kind::Dir, 0o755),
        ent("run/fifo", Kind::Fifo, 0o600),
    ]);
    // Layer 3 (zstd): a hardlink to a file of layer 1; a symlink replaced by a dir.
    let l3 = tar_layer(&[
        ent("data/f-link", Kind::Hardlink("data/f"), 0o640),
        ent("etc/link/", Kind::Dir, 0o700),
        ent("etc/link/inside", Kind::File(b"in"), 0o644),
    ]);
    let layout = oci_layout(&s.0.join("img"), &[(l1, "gzip"), (l2, "tar"), (l3, "zstd")]);
    let out_dir = s.0.join("out");
    fs::create_dir(&out_dir).unwrap();
    let out = out_dir.join("x.oci.sif");
    let rep = build::build(&out, &oci_src(&layout), &quiet()).unwrap();
    assert!(rep.oci);
    assert_eq!(rep.layers_applied, 3);
    assert_clean(&out_dir, &["x.oci.sif"]);

    // OCI-SIF structure.
    let sif = Sif::open(&out).unwrap();
    assert_eq!(sif.descriptors().len(), 4);
    assert_eq!(sif.header().descriptors_total, 12);
    let img = OciImage::resolve(&sif).unwrap();
    assert_eq!(img.layers.len(), 1);
    assert_eq!(img.layers[0].media_type, SQUASHFS_LAYER);
    let cfg_d = sif
        .find_digest(&digest(&layout.config))
        .expect("config blob");
    assert_eq!(
        sif.read_object(cfg_d, 1 << 20).unwrap(),
        layout.config,
        "config byte for byte"
    );
    let cfg = img.config.unwrap();
    assert_eq!(cfg.working_dir().as_deref(), Some("/etc"));
    let _ = layout.layer_digests;

    // The squashfs layer's tree.
    let tree = s.0.join("tree");
    let st = Command::new("unsquashfs")
        .args(["-q", "-n", "-o"])
        .arg(img.layers[0].offset.to_string())
        .arg("-d")
        .arg(&tree)
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    assert_eq!(
        list_tree(&tree),
        [
            "bin",
            "bin/suid",
            "bin/tool",
            "bin/tool-link",
            "data",
            "data/f",
            "data/f-link",
            "dev",
            "dev/mydev",
            "etc",
            "etc/keep",
            "etc/link",
            "etc/link/inside",
            "home",
            "home/u",
            "opq",
            "opq/new",
            "run",
            "run/fifo",
        ]
    );
    let md = |p: &str| fs::symlink_metadata(tree.join(p)).unwrap();
    assert_eq!(fs::read(tree.join("etc/keep")).unwrap(), b"v2");
    assert_eq!(md("etc/keep").mode() & 0o7777, 0o600);
    assert_eq!(md("bin/suid").mode() & 0o7777, 0o4755);
    assert_eq!(
        md("bin/tool").ino(),
        md("bin/tool-link").ino(),
        "hardlink kept"
    );
    assert_eq!(md("bin/tool").nlink(), 2);
    assert_eq!(
        md("data/f").ino(),
        md("data/f-link").ino(),
        "cross-layer hardlink kept"
    );
    assert_eq!((md("data/f").uid(), md("data/f").gid()), (1000, 1000));
    assert_eq!(md("data/f").mode() & 0o7777, 0o640);
    assert_eq!(
        getxattr(&tree.join("data/f"), "user.test").as_deref(),
        Some(&b"hello"[..])
    );
    assert_eq!((md("home/u").uid(), md("home/u").gid()), (1000, 2000));
    assert_eq!(md("home/u").mode() & 0o7777, 0o750);
    assert!(md("dev/mydev").file_type().is_char_device());
    assert_eq!(md("dev/mydev").rdev(), libc::makedev(1, 3));
    assert!(md("run/fifo").file_type().is_fifo());
    assert!(md("etc/link").is_dir());
    assert_eq!(md("bin/tool").mtime(), 1_700_000_000);
}

#[test]
fn symlinks_are_kept_as_symlinks() {
    if !have("mksquashfs") || !have("unsquashfs") {
        eprintln!("skipped: needs squashfs-tools");
        return;
    }
    let s = Scratch::new("sl");
    let l1 = tar_layer(&[
        ent("etc/", Kind::Dir, 0o755),
        ent("etc/abs", Kind::Symlink("/etc/passwd"), 0o777),
        ent("etc/up", Kind::Symlink("../../../../x"), 0o777),
    ]);
    let layout = oci_layout(&s.0.join("img"), &[(l1, "gzip")]);
    let out = s.0.join("y.sif");
    build::build(&out, &oci_src(&layout), &quiet()).unwrap();
    let sif = Sif::open(&out).unwrap();
    let img = OciImage::resolve(&sif).unwrap();
    let tree = s.0.join("tree");
    let st = Command::new("unsquashfs")
        .args(["-q", "-n", "-o"])
        .arg(img.layers[0].offset.to_string())
        .arg("-d")
        .arg(&tree)
        .arg(&out)
        .output()
        .unwrap();
    assert!(st.status.success());
    assert_eq!(
        fs::read_link(tree.join("etc/abs")).unwrap(),
        Path::new("/etc/passwd")
    );
    assert_eq!(
        fs::read_link(tree.join("etc/up")).unwrap(),
        Path::new("../../../../x")
    );
}

/// Build must fail with the wanted error, leave no output and write nothing outside.
fn expect_fail(tag: &str, layers: Vec<(Vec<u8>, &str)>, check: impl Fn(&Error) -> bool) {
    let s = Scratch::new(tag);
    let layout = oci_layout(&s.0.join("img"), &layers);
    let out_dir = s.0.join("out");
    fs::create_dir(&out_dir).unwrap();
    let err = build::build(&out_dir.join("o.sif"), &oci_src(&layout), &quiet()).unwrap_err();
    assert!(check(&err), "{tag}: unexpected error: {err}");
    assert!(!err.to_string().contains('\n'), "one-line error: {err}");
    assert_clean(&out_dir, &[]);
    // Nothing escaped into the scratch dir (the temp root lives in out/).
    assert_clean(&s.0, &["img", "out"]);
}

fn is_unsafe(e: &Error) -> bool {
    matches!(e, Error::Unsafe { .. })
}

#[test]
fn hostile_dotdot_entry() {
    expect_fail(
        "dotdot",
        vec![(
            tar_layer(&[ent("../../escaped", Kind::File(b"x"), 0o644)]),
            "gzip",
        )],
        is_unsafe,
    );
    expect_fail(
        "dotdot2",
        vec![(
            tar_layer(&[ent("a/../../escaped", Kind::File(b"x"), 0o644)]),
            "tar",
        )],
        is_unsafe,
    );
}

#[test]
fn hostile_absolute_path() {
    expect_fail(
        "abs",
        vec![(
            tar_layer(&[ent("/escaped", Kind::File(b"x"), 0o644)]),
            "tar",
        )],
        is_unsafe,
    );
}

#[test]
fn hostile_symlink_then_write_through_it() {
    let outside = Scratch::new("outside");
    let target = outside.0.to_string_lossy().into_owned();
    // absolute symlink in layer 1, write through it in layer 2
    let l1 = tar_layer(&[ent("evil", Kind::Symlink(&target), 0o777)]);
    let l2 = tar_layer(&[ent("evil/pwned", Kind::File(b"x"), 0o644)]);
    expect_fail("abs-symlink", vec![(l1, "gzip"), (l2, "gzip")], is_unsafe);
    // relative escaping symlink, same layer
    let l = tar_layer(&[
        ent("d/", Kind::Dir, 0o755),
        ent("d/up", Kind::Symlink("../../../../../../.."), 0o777),
        ent("d/up/tmp/pwned2", Kind::File(b"x"), 0o644),
    ]);
    expect_fail("rel-symlink", vec![(l, "tar")], is_unsafe);
    // whiteout through a symlink must not delete outside either
    fs::write(outside.0.join("victim"), b"keep").unwrap();
    let l1 = tar_layer(&[ent("evil", Kind::Symlink(&target), 0o777)]);
    let l2 = tar_layer(&[ent("evil/.wh.victim", Kind::File(b""), 0o644)]);
    expect_fail("wh-symlink", vec![(l1, "tar"), (l2, "tar")], |e| {
        is_unsafe(e) || matches!(e, Error::Layer { .. })
    });
    assert!(outside.0.join("victim").exists());
    assert!(!outside.0.join("pwned").exists());
}

#[test]
fn hostile_hardlink_escape() {
    let l = tar_layer(&[ent(
        "passwd",
        Kind::Hardlink("../../../../etc/passwd"),
        0o644,
    )]);
    expect_fail("hardlink", vec![(l, "tar")], is_unsafe);
    let l = tar_layer(&[ent("passwd", Kind::Hardlink("/etc/passwd"), 0o644)]);
    expect_fail("hardlink-abs", vec![(l, "tar")], is_unsafe);
}

#[test]
fn broken_images() {
    let good = || tar_layer(&[ent("f", Kind::File(b"x"), 0o644)]);
    // digest mismatch: corrupt the layer blob
    let s = Scratch::new("broken");
    let layout = oci_layout(&s.0.join("img1"), &[(good(), "gzip")]);
    let p = layout
        .dir
        .join("blobs/sha256")
        .join(&layout.layer_digests[0][7..]);
    let mut b = fs::read(&p).unwrap();
    let n = b.len();
    b[n - 9] ^= 0xff;
    fs::write(&p, b).unwrap();
    let out = s.0.join("o1.sif");
    let e = build::build(&out, &oci_src(&layout), &quiet()).unwrap_err();
    assert!(matches!(e, Error::Digest { .. }), "{e}");
    assert!(!out.exists());
    // missing blob
    let layout = oci_layout(&s.0.join("img2"), &[(good(), "gzip")]);
    fs::remove_file(
        layout
            .dir
            .join("blobs/sha256")
            .join(&layout.layer_digests[0][7..]),
    )
    .unwrap();
    let e = build::build(&out, &oci_src(&layout), &quiet()).unwrap_err();
    assert!(matches!(e, Error::MissingBlob { .. }), "{e}");
    assert!(e.to_string().contains("missing blob"), "{e}");
    // manifest tampered with (its digest no longer matches the index)
    let layout = oci_layout(&s.0.join("img3"), &[(good(), "gzip")]);
    let mut m = fs::read(&layout.manifest_path).unwrap();
    m.push(b' ');
    fs::write(&layout.manifest_path, m).unwrap();
    let e = build::build(&out, &oci_src(&layout), &quiet()).unwrap_err();
    assert!(matches!(e, Error::Digest { .. }), "{e}");
    // unsupported layer media type
    let layout = oci_layout_with(
        &s.0.join("img4"),
        &[(good(), "gzip")],
        Some("application/vnd.example.layer.v1.foo"),
    );
    let e = build::build(&out, &oci_src(&layout), &quiet()).unwrap_err();
    assert!(matches!(e, Error::MediaType { .. }), "{e}");
    // unreadable archive
    fs::write(s.0.join("junk.tar"), b"this is not a tar archive at all").unwrap();
    let e = build::build(
        &out,
        &SourceSpec::OciArchive {
            file: s.0.join("junk.tar"),
            tag: None,
        },
        &quiet(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("unreadable archive"), "{e}");
    let e = build::build(
        &out,
        &SourceSpec::DockerArchive {
            file: s.0.join("nonexistent.tar"),
            reference: None,
        },
        &quiet(),
    )
    .unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e}");
    // unknown tag
    let layout = oci_layout(&s.0.join("img5"), &[(good(), "gzip")]);
    let e = build::build(
        &out,
        &SourceSpec::OciDir {
            dir: layout.dir.clone(),
            tag: Some("nope".into()),
        },
        &quiet(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("no image tagged"), "{e}");
    assert!(!out.exists());
    let leftovers: Vec<_> = fs::read_dir(&s.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
