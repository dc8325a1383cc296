//! `sifrun sif verify` through the binary, on the signed and unsigned fixtures of
//! `../shared/fixtures/sif` (README.md there says who signed what):
//!
//! * every signed fixture verifies with its key, and fails with another key, with no
//!   key, and after one byte of a covered object is flipped (in a private copy);
//! * unsigned fixtures fail ("no signatures"); OCI-SIF blobs hash to their digests;
//! * a corrupt signature object, an unknown key and a missing key file each give one
//!   line on stderr and the documented exit code (1 = not verified, 2 = cannot
//!   check), and nothing is mounted.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::common::sif::fixtures_dir;
use crate::common::{assert_one_line_error, mounts_containing, stderr, stdout, TmpDir, SIFRUN};

const SING_PGP: &str = "singularity-pgp-public.asc";
const SIF_PGP: &str = "sif-pgp-public.asc";
const ED25519: &str = "sif-ed25519-public.pem";
const RSA: &str = "sif-rsa-public.pem";
const ECDSA: &str = "sif-ecdsa-public.pem";

/// Signed fixtures: file, a key that verifies it, the number of signatures, whether
/// they are legacy ones.
const SIGNED: &[(&str, &str, usize, bool)] = &[
    ("one-group-signed-pgp.sif", SING_PGP, 1, false),
    ("one-group-signed-dsse.sif", ED25519, 1, false),
    ("one-group-signed-dsse.sif", RSA, 1, false),
    ("one-group-signed-legacy.sif", SING_PGP, 1, true),
    ("one-group-signed-legacy-group.sif", SING_PGP, 1, true),
    ("one-group-signed-legacy-all.sif", SING_PGP, 2, true),
    ("sif-repo/one-group-signed-pgp.sif", SIF_PGP, 1, false),
    ("sif-repo/one-group-signed-dsse.sif", ED25519, 1, false),
    ("sif-repo/one-group-signed-dsse.sif", RSA, 1, false),
    ("sif-repo/one-group-signed-legacy.sif", SIF_PGP, 1, true),
    (
        "sif-repo/one-group-signed-legacy-group.sif",
        SIF_PGP,
        1,
        true,
    ),
    ("sif-repo/one-group-signed-legacy-all.sif", SIF_PGP, 2, true),
    ("sif-repo/two-groups-signed-pgp.sif", SIF_PGP, 2, false),
    ("sif-repo/two-groups-signed-dsse.sif", ED25519, 2, false),
    ("sif-repo/two-groups-signed-legacy.sif", SIF_PGP, 1, true),
    (
        "sif-repo/two-groups-signed-legacy-group.sif",
        SIF_PGP,
        1,
        true,
    ),
    (
        "sif-repo/two-groups-signed-legacy-all.sif",
        SIF_PGP,
        2,
        true,
    ),
];

const UNSIGNED: &[&str] = &[
    "empty.sif",
    "empty.oci.sif",
    "one-group.sif",
    "sif-repo/empty.sif",
    "sif-repo/empty-id.sif",
    "sif-repo/empty-launch-script.sif",
    "sif-repo/one-group.sif",
    "sif-repo/two-groups.sif",
    "sif-repo/one-object-crypt-message.sif",
    "sif-repo/one-object-generic-json.sif",
    "sif-repo/one-object-oci-blob.sif",
    "sif-repo/one-object-oci-root-index.sif",
    "sif-repo/one-object-sbom.sif",
    "sif-repo/one-object-time.sif",
    "oci-tools/TestAppendImage_WithReference.sif",
    "oci-tools/TestWrite_DockerManifest.sif",
    "oci-tools/TestWrite_DockerManifestList.sif",
    "oci-tools/TestWrite_ManyLayers.sif",
    "oci-tools/TestWrite_SpareDescriptor.sif",
];

fn key(name: &str) -> PathBuf {
    fixtures_dir().join("keys").join(name)
}

/// A key of another signer, of the kind the fixture is signed with and of another kind.
fn other_keys(good: &str) -> [&'static str; 2] {
    match good {
        SING_PGP => [SIF_PGP, ECDSA],
        SIF_PGP => [SING_PGP, ED25519],
        _ => [ECDSA, SIF_PGP],
    }
}

fn verify(image: &Path, keys: &[&str]) -> Output {
    let mut c = Command::new(SIFRUN);
    c.args(["sif", "verify", "--json"]).arg(image);
    for k in keys {
        c.arg("--key").arg(key(k));
    }
    c.output().unwrap()
}

fn report(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("report is not JSON ({e}): {}; {}", stdout(o), stderr(o)))
}

fn statuses(v: &Value) -> Vec<String> {
    v["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn signed_fixtures_verify_with_their_key_only() {
    for &(file, good, n, legacy) in SIGNED {
        let img = fixtures_dir().join(file);
        let o = verify(&img, &[good]);
        let v = report(&o);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{file} with {good}: {}",
            stderr(&o)
        );
        assert_eq!(v["verified"], true, "{file}");
        let sigs = v["signatures"].as_array().unwrap();
        assert_eq!(sigs.len(), n, "{file}");
        for s in sigs {
            assert_eq!(s["status"], "valid", "{file}: {s}");
            assert_eq!(s["legacy"], legacy, "{file}: {s}");
            assert!(!s["objects"].as_array().unwrap().is_empty(), "{file}: {s}");
            assert!(s["key"].is_string(), "{file}: {s}");
            assert!(
                s["checks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|c| c["object"] == "ok" && c["descriptor"] != "mismatch"),
                "{file}: {s}"
            );
            if !legacy {
                assert_eq!(s["header"], "ok", "{file}: {s}");
            }
        }
        // Another signer's key, and no key at all: not verified, exit 1.
        for other in other_keys(good) {
            let o = verify(&img, &[other]);
            assert_eq!(o.status.code(), Some(1), "{file} with {other}");
            let v = report(&o);
            assert_eq!(v["verified"], false);
            assert!(
                statuses(&v).iter().all(|s| s == "unknown-key"),
                "{file} with {other}: {v}"
            );
            assert_one_line_error(&o, Some("unknown-key"));
        }
        let o = verify(&img, &[]);
        assert_eq!(o.status.code(), Some(1), "{file} without a key");
        assert_one_line_error(&o, Some("no key given"));
        // The right key among others still verifies.
        let [a, b] = other_keys(good);
        let o = verify(&img, &[a, good, b]);
        assert_eq!(o.status.code(), Some(0), "{file}: {}", stderr(&o));
    }
}

/// Offset of object `id` in `img` (from `sif list --json`).
fn object_offset(img: &Path, id: u64) -> u64 {
    let o = Command::new(SIFRUN)
        .args(["sif", "list", "--json"])
        .arg(img)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == id)
        .unwrap()["offset"]
        .as_u64()
        .unwrap()
}

fn flip(img: &Path, at: u64) {
    let mut b = std::fs::read(img).unwrap();
    b[at as usize] ^= 0x01;
    std::fs::write(img, b).unwrap();
}

#[test]
fn a_flipped_byte_in_a_covered_object_fails() {
    let tmp = TmpDir::new("sif-verify-flip");
    for (i, &(file, good, _, _)) in SIGNED.iter().enumerate() {
        let src = fixtures_dir().join(file);
        let v = report(&verify(&src, &[good]));
        let sig = &v["signatures"][0];
        let id = sig["objects"][0].as_u64().unwrap();
        let img = tmp.join(format!("{i}.sif"));
        std::fs::copy(&src, &img).unwrap();
        flip(&img, object_offset(&img, id));
        let o = verify(&img, &[good]);
        assert_eq!(o.status.code(), Some(1), "{file} flipped in {id}");
        let v = report(&o);
        let s = &v["signatures"][0];
        assert_eq!(s["status"], "invalid", "{file}: {s}");
        assert!(
            s["reason"].as_str().unwrap().contains("match"),
            "{file}: {s}"
        );
        assert!(
            s["checks"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["id"] == id && c["object"] == "mismatch"),
            "{file}: {s}"
        );
        assert_one_line_error(&o, Some("invalid"));
    }
    assert!(mounts_containing(tmp.path.to_str().unwrap()).is_empty());
}

#[test]
fn unsigned_fixtures_fail_and_oci_blobs_are_checked() {
    for file in UNSIGNED {
        let img = fixtures_dir().join(file);
        let o = verify(&img, &[SIF_PGP]);
        assert_eq!(o.status.code(), Some(1), "{file}: {}", stderr(&o));
        let v = report(&o);
        assert_eq!(v["verified"], false);
        assert!(v["signatures"].as_array().unwrap().is_empty(), "{file}");
        assert_one_line_error(&o, Some("no signatures"));
        if file.starts_with("oci-tools/") || *file == "empty.oci.sif" {
            let oci = &v["oci"];
            let blobs = oci["blobs"].as_array().unwrap();
            assert!(!blobs.is_empty(), "{file}");
            assert!(blobs.iter().all(|b| b["status"] == "ok"), "{file}: {oci}");
            assert!(
                oci["problems"].as_array().unwrap().is_empty(),
                "{file}: {oci}"
            );
        }
    }
    // The root index of this one names manifests that are not in the file.
    let v = report(&verify(
        &fixtures_dir().join("sif-repo/one-object-oci-root-index.sif"),
        &[],
    ));
    assert_eq!(v["oci"]["problems"].as_array().unwrap().len(), 2, "{v}");
}

#[test]
fn a_modified_oci_blob_fails() {
    let tmp = TmpDir::new("sif-verify-oci");
    let img = tmp.join("oci.sif");
    std::fs::copy(
        fixtures_dir().join("oci-tools/TestWrite_DockerManifest.sif"),
        &img,
    )
    .unwrap();
    flip(&img, object_offset(&img, 1) + 10);
    let v = report(&verify(&img, &[]));
    let bad: Vec<&Value> = v["oci"]["blobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["status"] != "ok")
        .collect();
    assert_eq!(bad.len(), 1, "{v}");
    assert_eq!(bad[0]["id"], 1);
    assert!(v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p.as_str().unwrap().contains("object 1 does not hash")));
}

#[test]
fn corrupt_signature_unknown_key_and_missing_key_file() {
    let tmp = TmpDir::new("sif-verify-err");
    // A corrupt signature object: one byte of the OpenPGP armor / DSSE signature
    // (of the envelope's second signature, the RSA one: the Ed25519 one still
    // verifies, and one verifying signature is enough, as for the reference verifier).
    for (file, good, sig_id) in [
        ("one-group-signed-pgp.sif", SING_PGP, 3),
        ("sif-repo/one-group-signed-dsse.sif", RSA, 3),
        ("sif-repo/one-group-signed-legacy.sif", SIF_PGP, 3),
    ] {
        let img = tmp.join("corrupt.sif");
        std::fs::copy(fixtures_dir().join(file), &img).unwrap();
        let size = std::fs::metadata(&img).unwrap().len();
        let off = object_offset(&img, sig_id);
        // Near the end: inside the signature bytes, not the signed text.
        flip(&img, off + (size - off) * 3 / 4);
        let o = verify(&img, &[good]);
        assert_eq!(o.status.code(), Some(1), "{file}");
        let v = report(&o);
        assert_eq!(statuses(&v), ["invalid"], "{file}: {v}");
        assert!(!v["signatures"][0]["objects"].as_array().unwrap().is_empty());
        let line = assert_one_line_error(&o, Some("invalid"));
        assert!(line.len() < 400, "{line}");
        if good == RSA {
            let o = verify(&img, &[ED25519]);
            assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        }
    }

    // Unknown key, text output: a line per signature, then the verdict.
    let img = fixtures_dir().join("sif-repo/two-groups-signed-dsse.sif");
    let o = Command::new(SIFRUN)
        .args(["sif", "verify", "--key"])
        .arg(key(ECDSA))
        .arg(&img)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("signature 4 (dsse): group 1 (objects 1,2): unknown-key"),
        "{out}"
    );
    assert!(
        out.contains("signature 5 (dsse): group 2 (objects 3): unknown-key"),
        "{out}"
    );
    assert!(out.contains("NOT verified"), "{out}");
    assert_one_line_error(&o, Some("not verified"));

    // Missing and unusable key files: exit 2, nothing checked.
    let missing = tmp.join("no-such-key.pem");
    let o = Command::new(SIFRUN)
        .args(["sif", "verify", "--key"])
        .arg(&missing)
        .arg(&img)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(o.stdout.is_empty());
    assert_one_line_error(&o, Some("no-such-key.pem"));
    let o = Command::new(SIFRUN)
        .args(["sif", "verify", "--key"])
        .arg(fixtures_dir().join("README.md"))
        .arg(&img)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_one_line_error(&o, Some("key file"));
    // Not a SIF: exit 2.
    let o = verify(&fixtures_dir().join("README.md"), &[ED25519]);
    assert_eq!(o.status.code(), Some(2));
    assert_one_line_error(&o, Some("not a SIF"));
    assert!(mounts_containing(tmp.path.to_str().unwrap()).is_empty());
    assert!(mounts_containing("sif-verify").is_empty());
}

#[test]
fn busybox_signature_key_is_not_available_but_its_digests_match() {
    // README: the busybox signer's key (1137E72E…) is not in keys/.
    let o = verify(&fixtures_dir().join("busybox_amd64.sif"), &[SING_PGP]);
    assert_eq!(o.status.code(), Some(1));
    let v = report(&o);
    let s = &v["signatures"][0];
    assert_eq!(s["status"], "unknown-key", "{s}");
    // The descriptor's entity; the signature's issuer key id is its tail.
    assert_eq!(
        s["signers"],
        serde_json::json!(["1137E72E6816BFC06D9CAA0D15F3F4F4F14B03B2"])
    );
    assert_eq!(s["objects"], serde_json::json!([1, 2, 3, 4]));
    assert_eq!(s["header"], "ok");
    assert!(s["checks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["object"] == "ok" && c["descriptor"] == "ok"));
}
