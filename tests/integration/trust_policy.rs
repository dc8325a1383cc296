//! Image trust at mount time, through the binary: `sif sign` (DSSE, Ed25519) makes
//! signed busybox images; `mount`, `oci mount` and `oci run --image` with `--verify` /
//! `--key`, and under a site policy file (`$SIFRUN_CONFIG`, same format as
//! /etc/sifrun/sifrun.toml) with `mandatory` or `kernel_requires_verified`.
//!
//! A refused image leaves nothing: no bundle directory, no loop device on the image,
//! no mount under the test's directory. Keys are made with `openssl genpkey`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::common::sif::{force_umount, run_with_stdin};
use crate::common::{
    assert_ok, assert_one_line_error, have, loop_devices_of, make_rootfs, mounts_under,
    output_with_timeout, require_root, stderr, stdout, unique_id, TmpDir, SIFRUN,
};

/// A test directory with key pairs, busybox images, a keyring and a site file.
struct Trust {
    dir: TmpDir,
    /// Bundles to `umount --force` on drop.
    bundles: std::cell::RefCell<Vec<PathBuf>>,
}

impl Trust {
    fn new(tag: &str) -> Option<Self> {
        if !require_root() {
            return None;
        }
        if !have("openssl") {
            eprintln!("skipped: no openssl to make keys");
            return None;
        }
        Some(Trust {
            dir: TmpDir::new(&format!("sifrun-trust-{tag}")),
            bundles: Default::default(),
        })
    }

    /// `NAME.key` (private) and `NAME.pem` (public) Ed25519 keys.
    fn keypair(&self, name: &str) -> (PathBuf, PathBuf) {
        let (k, p) = (
            self.dir.join(format!("{name}.key")),
            self.dir.join(format!("{name}.pem")),
        );
        let gen = Command::new("openssl")
            .args(["genpkey", "-algorithm", "ed25519", "-out"])
            .arg(&k)
            .output()
            .unwrap();
        assert_ok(&gen, "openssl genpkey");
        let pubk = Command::new("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(&k)
            .arg("-out")
            .arg(&p)
            .output()
            .unwrap();
        assert_ok(&pubk, "openssl pkey -pubout");
        (k, p)
    }

    /// A fresh busybox SIF (`sif build` of a busybox rootfs), signed with `key` if given.
    fn image(&self, name: &str, key: Option<&Path>) -> PathBuf {
        let root = self.dir.join(format!("{name}-rootfs"));
        if !root.exists() {
            make_rootfs(&root);
        }
        let img = self.dir.join(format!("{name}.sif"));
        let o = sifrun(
            &["sif", "build", "--quiet"],
            &[&img, &prefixed("dir:", &root)],
        );
        assert_ok(&o, "sif build");
        if let Some(k) = key {
            let o = sifrun(&["sif", "sign", "--key"], &[k, &img]);
            assert_ok(&o, "sif sign");
        }
        img
    }

    /// A site file trusting the keys in `ring` (copied into a keyring dir).
    fn site(&self, name: &str, ring: &[&Path], settings: &str) -> PathBuf {
        let kr = self.dir.join(format!("{name}-keyring"));
        std::fs::create_dir_all(&kr).unwrap();
        for k in ring {
            std::fs::copy(k, kr.join(k.file_name().unwrap())).unwrap();
        }
        std::fs::write(kr.join("README"), "not a key\n").unwrap();
        let f = self.dir.join(format!("{name}.toml"));
        std::fs::write(
            &f,
            format!("[verify]\nkeyring = \"{}\"\n{settings}\n", kr.display()),
        )
        .unwrap();
        f
    }

    fn bundle(&self, tag: &str) -> PathBuf {
        let b = self.dir.join(format!("bundle-{tag}"));
        self.bundles.borrow_mut().push(b.clone());
        b
    }

    fn state(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// `sifrun [oci] mount ARGS IMAGE BUNDLE` with `SIFRUN_CONFIG=site` (or none).
    fn mount(&self, oci: bool, site: Option<&Path>, args: &[&str], img: &Path, b: &Path) -> Output {
        let mut c = Command::new(SIFRUN);
        c.env(
            "SIFRUN_CONFIG",
            site.unwrap_or(Path::new("/nonexistent/sifrun.toml")),
        );
        if oci {
            c.arg("oci");
        }
        c.arg("mount").args(args).arg(img).arg(b);
        output_with_timeout(c, Duration::from_secs(60))
    }

    /// Mounted, runs `echo trusted`, unmounted.
    #[track_caller]
    fn runs(&self, b: &Path, o: &Output) {
        assert_ok(o, "mount");
        let out = run_with_stdin(&self.state(), b, &unique_id("trust"), "echo trusted\n");
        assert_ok(&out, "run");
        assert_eq!(stdout(&out).trim(), "trusted");
        let u = Command::new(SIFRUN)
            .arg("--root")
            .arg(self.state())
            .arg("umount")
            .arg(b)
            .output()
            .unwrap();
        assert_ok(&u, "umount");
    }

    /// Refused with one line naming `needle`, and nothing made.
    #[track_caller]
    fn refused(&self, o: &Output, needle: &str, img: &Path, b: &Path) {
        assert_one_line_error(o, Some(needle));
        assert!(!b.exists(), "a refused mount left {}", b.display());
        assert_eq!(loop_devices_of(img), Vec::<String>::new());
        assert_eq!(mounts_under(&self.dir.path), Vec::<PathBuf>::new());
    }
}

impl Drop for Trust {
    fn drop(&mut self) {
        force_umount(&self.state(), &self.bundles.borrow());
    }
}

fn prefixed(p: &str, path: &Path) -> PathBuf {
    PathBuf::from(format!("{p}{}", path.display()))
}

fn sifrun(args: &[&str], paths: &[&Path]) -> Output {
    let mut c = Command::new(SIFRUN);
    c.args(args).args(paths);
    output_with_timeout(c, Duration::from_secs(120))
}

fn verify_json(img: &Path, key: &Path) -> (Option<i32>, serde_json::Value) {
    let o = sifrun(&["sif", "verify", "--json", "--key"], &[key, img]);
    let v = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("verify --json: {e}: {}", stderr(&o)));
    (o.status.code(), v)
}

/// Flip one byte in the middle of the image's primary partition (object 1 of a
/// `sif build` image is its squashfs).
fn tamper(img: &Path) {
    let l = sifrun(&["sif", "list", "--json"], &[img]);
    let v: serde_json::Value = serde_json::from_slice(&l.stdout).unwrap();
    let fs = v
        .as_array()
        .and_then(|a| a.iter().find(|d| d["data_type"].as_str() == Some("FS")))
        .unwrap_or_else(|| panic!("no FS object in {v}"));
    let (off, size) = (fs["offset"].as_u64().unwrap(), fs["size"].as_u64().unwrap());
    let mut b = std::fs::read(img).unwrap();
    b[(off + size / 2) as usize] ^= 0x01;
    std::fs::write(img, b).unwrap();
}

#[test]
fn sign_then_verify_and_tamper() {
    let Some(t) = Trust::new("sign") else { return };
    let (k, p) = t.keypair("alice");
    let (_, other) = t.keypair("bob");
    let img = t.image("signed", Some(&k));
    let (code, v) = verify_json(&img, &p);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["signatures"][0]["format"], "dsse");
    assert_eq!(v["signatures"][0]["status"], "valid");
    assert_eq!(v["unsigned_objects"], serde_json::json!([]));
    let (code, v) = verify_json(&img, &other);
    assert_eq!(code, Some(1));
    assert_eq!(v["signatures"][0]["status"], "unknown-key");
    tamper(&img);
    let (code, v) = verify_json(&img, &p);
    assert_eq!(code, Some(1));
    assert_eq!(v["signatures"][0]["status"], "invalid", "{v}");
    // A private key that is not Ed25519 PKCS#8: one line, exit non-zero, image unchanged.
    let before = std::fs::read(&img).unwrap();
    let o = sifrun(&["sif", "sign", "--key"], &[&p, &img]);
    assert_one_line_error(&o, Some("Ed25519 private key"));
    assert_eq!(std::fs::read(&img).unwrap(), before);
}

#[test]
fn mount_verify_with_key() {
    let Some(t) = Trust::new("key") else { return };
    let (k, p) = t.keypair("alice");
    let (_, other) = t.keypair("bob");
    let signed = t.image("signed", Some(&k));
    let unsigned = t.image("unsigned", None);
    for oci in [false, true] {
        let b = t.bundle(&format!("ok-{oci}"));
        let o = t.mount(
            oci,
            None,
            &["--mode", "kernel", "--key", p.to_str().unwrap()],
            &signed,
            &b,
        );
        t.runs(&b, &o);
    }
    let b = t.bundle("refused");
    let o = t.mount(
        false,
        None,
        &["--key", other.to_str().unwrap()],
        &signed,
        &b,
    );
    t.refused(&o, "no signature from a trusted key", &signed, &b);
    let o = t.mount(true, None, &["--key", p.to_str().unwrap()], &unsigned, &b);
    t.refused(&o, "no signatures", &unsigned, &b);
    let o = t.mount(false, None, &["--key", "/nonexistent.pem"], &signed, &b);
    t.refused(&o, "/nonexistent.pem", &signed, &b);
    let o = t.mount(false, None, &["--verify"], &signed, &b);
    t.refused(&o, "--verify needs --key", &signed, &b);
    tamper(&signed);
    let o = t.mount(false, None, &["--key", p.to_str().unwrap()], &signed, &b);
    t.refused(&o, "invalid", &signed, &b);
}

#[test]
fn site_policy_mandatory() {
    let Some(t) = Trust::new("mandatory") else {
        return;
    };
    let (k, p) = t.keypair("site");
    let (uk, up) = t.keypair("user");
    let site = t.site("site", &[&p], "mandatory = true");
    let signed = t.image("signed", Some(&k));
    let unsigned = t.image("unsigned", None);
    let user_signed = t.image("user-signed", Some(&uk));
    let b = t.bundle("m");
    for oci in [false, true] {
        let o = t.mount(oci, Some(&site), &[], &unsigned, &b);
        t.refused(&o, "mandatory", &unsigned, &b);
        // The user's own key does not satisfy the site.
        let o = t.mount(
            oci,
            Some(&site),
            &["--key", up.to_str().unwrap()],
            &user_signed,
            &b,
        );
        t.refused(&o, "mandatory", &user_signed, &b);
    }
    let o = t.mount(false, Some(&site), &[], &signed, &b);
    t.runs(&b, &o);
    // oci run --image: refused before its bundle or any mount exists.
    for (img, ok) in [(&unsigned, false), (&signed, true)] {
        let id = unique_id("trust-run");
        let mut c = Command::new(SIFRUN);
        c.env("SIFRUN_CONFIG", &site)
            .arg("--root")
            .arg(t.state())
            .args(["oci", "run", "--exec", "--image"])
            .arg(img)
            .args([&id, "--", "/bin/echo", "ran"]);
        let o = output_with_timeout(c, Duration::from_secs(60));
        if ok {
            assert_ok(&o, "oci run --image of a signed image");
            assert_eq!(stdout(&o).trim(), "ran");
        } else {
            assert_one_line_error(&o, Some("mandatory"));
            assert_eq!(loop_devices_of(img), Vec::<String>::new());
        }
        assert!(!t.state().join(".oci").join(&id).exists());
        assert_eq!(mounts_under(&t.dir.path), Vec::<PathBuf>::new());
    }
    // A site file with a typo fails closed.
    let bad = t.dir.join("bad.toml");
    std::fs::write(&bad, "[verify]\nmandatroy = true\n").unwrap();
    let o = t.mount(false, Some(&bad), &[], &signed, &b);
    t.refused(&o, "mandatroy", &signed, &b);
}

#[test]
fn site_policy_kernel_requires_verified() {
    let Some(t) = Trust::new("kernel") else {
        return;
    };
    let (k, p) = t.keypair("site");
    let site = t.site("site", &[&p], "kernel_requires_verified = true");
    let signed = t.image("signed", Some(&k));
    let unsigned = t.image("unsigned", None);
    let b = t.bundle("k");
    let o = t.mount(false, Some(&site), &["--mode", "kernel"], &unsigned, &b);
    t.refused(&o, "kernel mode refused", &unsigned, &b);
    // auto: the unsigned image is served by FUSE instead, never by a loop device.
    let o = t.mount(false, Some(&site), &[], &unsigned, &b);
    assert_ok(&o, "auto mount of an unsigned image");
    assert!(stderr(&o).contains("using fuse mode"), "{}", stderr(&o));
    let st: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b.join(".sifrun-mount.json")).unwrap()).unwrap();
    assert_eq!(st["mode"], "fuse");
    assert_eq!(loop_devices_of(&unsigned), Vec::<String>::new());
    t.runs(&b, &o);
    // The signed image goes to the kernel.
    let o = t.mount(false, Some(&site), &[], &signed, &b);
    assert_ok(&o, "auto mount of a signed image");
    assert_eq!(loop_devices_of(&signed).len(), 1);
    t.runs(&b, &o);
    // ... unless someone but root could rewrite it after the check.
    std::fs::set_permissions(&signed, std::fs::Permissions::from_mode(0o666)).unwrap();
    let o = t.mount(false, Some(&site), &["--mode", "kernel"], &signed, &b);
    t.refused(&o, "writable by someone other than root", &signed, &b);
}
