//! A DSSE-signed SIF made here: group 1 = a def file and a large object, signed by an
//! Ed25519 and an ECDSA P-256 key the way the reference signer does it (metadata
//! JSON, PAE, key ids). `verify::verify_sif` accepts it with either key, rejects it
//! with none and after one byte of the large object changes.
//!
//! It doubles as the benchmark of the streamed hashing pass:
//! `SIF_VERIFY_BENCH_MIB=1024 cargo test --release -p bundle-tools --test verify_signed -- --nocapture`
//! (default 16 MiB) prints the MB/s of the pass.

use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;

use base64::Engine as _;
use bundle_tools::sif::*;
use bundle_tools::verify::digest::{self, HashAlg, Plan};
use bundle_tools::verify::envelope::{pae, METADATA_TYPE};
use bundle_tools::verify::keys::{ssh_fingerprint, Key, Material};
use bundle_tools::verify::{verify_sif, Status};
use p256::ecdsa::signature::hazmat::PrehashSigner;

fn write(path: &Path, mib: u64, signature: Option<&[u8]>) {
    let mut w = SifWriter::create(path, CreateOptions::deterministic(4)).unwrap();
    w.add_object(
        ObjectInput::new(DataType::Deffile),
        &mut &b"Bootstrap: scratch\n"[..],
    )
    .unwrap();
    w.add_object(
        ObjectInput::new(DataType::Generic).name("big"),
        &mut std::io::repeat(0x5a).take(mib << 20),
    )
    .unwrap();
    if let Some(s) = signature {
        w.add_object(
            ObjectInput::new(DataType::Signature)
                .group(None)
                .link(Link::Group(1))
                .extra(Extra::Signature {
                    hash: HashType::Sha256,
                    entity: [0; 20],
                }),
            &mut &s[..],
        )
        .unwrap();
    }
    w.finish().unwrap();
}

/// The signed metadata of group 1, as the reference signer computes it.
fn metadata(path: &Path) -> Vec<u8> {
    let sif = Sif::open(path).unwrap();
    let f = std::fs::File::open(path).unwrap();
    let mut raw = [0u8; HEADER_SIZE];
    FileExt::read_exact_at(&f, &mut raw, 0).unwrap();
    let sha = |b: &[u8]| format!("sha256:{}", hex::encode(HashAlg::Sha256.digest(b)));
    let mut plan = Plan::default();
    for d in sif.group(1) {
        plan.object(d.id, HashAlg::Sha256);
    }
    let digests = digest::hash_objects(&sif, &plan).unwrap();
    let min = sif.group(1).map(|d| d.id).min().unwrap();
    let objects: Vec<serde_json::Value> = sif
        .group(1)
        .map(|d| {
            let mut slot = [0u8; DESCRIPTOR_SIZE];
            FileExt::read_exact_at(
                &f,
                &mut slot,
                sif.header().descriptors_offset as u64 + (d.slot * DESCRIPTOR_SIZE) as u64,
            )
            .unwrap();
            serde_json::json!({
                "relativeId": d.id - min,
                "descriptorDigest": sha(&digest::descriptor_input(&slot, d.id - min)),
                "objectDigest": format!("sha256:{}", hex::encode(&digests.objects[&(d.id, HashAlg::Sha256)])),
            })
        })
        .collect();
    serde_json::json!({
        "version": 1,
        "header": {"digest": sha(&digest::header_input(&raw))},
        "objects": objects,
    })
    .to_string()
    .into_bytes()
}

fn key(material: Material) -> Key {
    Key {
        path: "generated".into(),
        kind: "generated",
        id: ssh_fingerprint(&material).unwrap(),
        material,
    }
}

#[test]
fn dsse_signed_image_made_here() {
    let mib: u64 = std::env::var("SIF_VERIFY_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signed.sif");
    // Unsigned first, to compute the metadata; the signed image has the same objects
    // (and IDs), so the digests still hold: offsets are not covered.
    write(&path, mib, None);
    let payload = metadata(&path);
    let msg = pae(METADATA_TYPE, &payload);
    let ed = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
    let ec = p256::ecdsa::SigningKey::from_bytes(&[11u8; 32].into()).unwrap();
    let ed_key = key(Material::Ed25519(ed.verifying_key()));
    let ec_key = key(Material::P256(*ec.verifying_key()));
    let ec_sig: p256::ecdsa::Signature = ec.sign_prehash(&HashAlg::Sha256.digest(&msg)).unwrap();
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let envelope = serde_json::json!({
        "payloadType": METADATA_TYPE,
        "payload": b64(&payload),
        "signatures": [
            {"keyid": ed_key.id, "sig": b64(&ed25519_dalek::Signer::sign(&ed, &msg).to_bytes())},
            {"keyid": ec_key.id, "sig": b64(&ec_sig.to_der().to_bytes())},
        ],
    })
    .to_string();
    write(&path, mib, Some(envelope.as_bytes()));

    let sif = Sif::open(&path).unwrap();
    for keys in [vec![ed_key], vec![ec_key]] {
        let r = verify_sif(&sif, &keys).unwrap();
        assert!(r.verified, "{:?}", r.problems);
        let s = &r.signatures[0];
        assert_eq!(
            (s.status, s.format, s.legacy),
            (Status::Valid, "dsse", false)
        );
        assert_eq!(s.objects, [1, 2]);
        assert_eq!(s.key.as_deref(), Some(keys[0].id.as_str()));
        assert_eq!(r.hashed.bytes, (mib << 20) + 19);
        eprintln!(
            "hashed {} MiB in {:.3} s: {:.0} MB/s",
            mib,
            r.hashed.seconds,
            r.hashed.bytes as f64 / r.hashed.seconds / 1e6
        );
    }
    let r = verify_sif(&sif, &[]).unwrap();
    assert!(!r.verified);
    assert_eq!(r.signatures[0].status, Status::UnknownKey);

    // One byte of the large object changed.
    let big = sif.descriptor(2).unwrap().clone();
    drop(sif);
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.write_all_at(&[0x00], (big.offset + big.size / 2) as u64)
        .unwrap();
    let sif = Sif::open(&path).unwrap();
    let ed = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
    let r = verify_sif(&sif, &[key(Material::Ed25519(ed.verifying_key()))]).unwrap();
    assert!(!r.verified);
    let s = &r.signatures[0];
    assert_eq!(s.status, Status::Invalid);
    assert!(
        s.reason
            .as_deref()
            .unwrap()
            .contains("object 2 does not match"),
        "{:?}",
        s.reason
    );
}
