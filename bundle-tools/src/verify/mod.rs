//! `sifrun sif verify`: check the signatures of a SIF image (sif-format.md §9) with
//! given public keys, in pure Rust.
//!
//! * Non-legacy signatures (OpenPGP clearsigned or DSSE, over JSON metadata) cover the
//!   header, and the descriptors and contents of every object of one group.
//! * Legacy `SIFHASH` signatures cover one object, or a group's contents; they are
//!   checked and flagged as legacy (header and descriptors are not protected).
//! * OCI-SIF blobs must hash to their descriptors' digests.
//!
//! Every covered object is read once, streamed ([`digest::hash_objects`]), whatever
//! the number of signatures.

pub mod digest;
pub mod envelope;
pub mod error;
pub mod keys;
pub mod oci;
pub mod report;
pub mod sign;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::sif::{DataType, Descriptor, Extra, Link, ReadAt, Sif, HEADER_SIZE};
use digest::{Digest, Digests, HashAlg, Plan};
use envelope::{Format, KeyOutcome, Opened};
pub use error::VerifyError;
use keys::Key;
pub use report::{Check, Covers, ObjectCheck, Report, SignatureResult, Status};
use report::{KeyInfo, Throughput};

/// Signature objects are a few KiB; bigger ones are refused, not read.
const SIGNATURE_LIMIT: u64 = 1 << 20;

/// Load the keys (all of them first: a bad key file fails before the image is read),
/// then verify the image.
pub fn verify_image(image: &Path, key_files: &[PathBuf]) -> Result<Report, VerifyError> {
    let mut keys = Vec::new();
    for f in key_files {
        keys.extend(keys::load(f)?);
    }
    let sif = Sif::open(image)?;
    verify_sif(&sif, &keys)
}

/// A covered object's digest still to be compared after the pass.
enum Want {
    Object {
        id: u32,
        digest: Digest,
        descriptor: Option<bool>,
    },
    /// Legacy group signature: the group's contents concatenated.
    Group {
        gid: u32,
        digest: Digest,
        ids: Vec<u32>,
    },
}

struct Pending {
    r: SignatureResult,
    outcome: Option<KeyOutcome>,
    failures: Vec<String>,
    wants: Vec<Want>,
}

pub fn verify_sif<R: ReadAt>(sif: &Sif<R>, keys: &[Key]) -> Result<Report, VerifyError> {
    let mut raw_header = [0u8; HEADER_SIZE];
    sif.source()
        .read_exact_at(&mut raw_header, 0)
        .map_err(|e| crate::error::Error::io(sif.path(), e))?;
    let header_input = digest::header_input(&raw_header);

    let mut plan = Plan::default();
    let mut pending = Vec::new();
    for d in sif.of_type(DataType::Signature) {
        pending.push(examine(sif, d, keys, &header_input, &mut plan)?);
    }
    let oci_objects = oci::objects(sif);
    for d in &oci_objects {
        plan.object(d.id, HashAlg::Sha256);
    }

    let digests = digest::hash_objects(sif, &plan)?;

    let mut signatures = Vec::new();
    for p in pending {
        signatures.push(finish(p, &digests));
    }
    let oci = (!oci_objects.is_empty()).then(|| oci::check(sif, &digests));

    let covered: BTreeSet<u32> = signatures
        .iter()
        .filter(|s| s.status == Status::Valid)
        .flat_map(|s| s.objects.iter().copied())
        .collect();
    let unsigned_objects = sif
        .descriptors()
        .iter()
        .filter(|d| d.data_type != DataType::Signature && !covered.contains(&d.id))
        .map(|d| d.id)
        .collect();

    let mut problems = Vec::new();
    if signatures.is_empty() {
        problems.push("no signatures".to_string());
    } else if keys.is_empty() {
        problems.push("no key given (--key FILE)".to_string());
    }
    for s in &signatures {
        if s.status != Status::Valid {
            let why = s.reason.as_deref().unwrap_or("");
            problems.push(format!("signature {}: {}: {why}", s.id, s.status.as_str()));
        }
    }
    if let Some(o) = &oci {
        for b in o.blobs.iter().filter(|b| b.status != Check::Ok) {
            problems.push(format!(
                "oci: object {} does not hash to {}",
                b.id, b.digest
            ));
        }
        problems.extend(o.problems.iter().map(|p| format!("oci: {p}")));
    }
    Ok(Report {
        image: sif.path().to_path_buf(),
        verified: problems.is_empty(),
        keys: keys
            .iter()
            .map(|k| KeyInfo {
                file: k.path.clone(),
                kind: k.kind,
                id: k.id.clone(),
            })
            .collect(),
        signatures,
        oci,
        unsigned_objects,
        problems,
        hashed: Throughput {
            bytes: digests.bytes,
            seconds: digests.elapsed.as_secs_f64(),
        },
    })
}

#[derive(Deserialize)]
struct Metadata {
    version: u32,
    header: HeaderMetadata,
    objects: Vec<ObjectMetadata>,
}

#[derive(Deserialize)]
struct HeaderMetadata {
    digest: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ObjectMetadata {
    relative_id: u32,
    descriptor_digest: String,
    object_digest: String,
}

/// Open one signature object and work out what it covers and what must be hashed.
fn examine<R: ReadAt>(
    sif: &Sif<R>,
    d: &Descriptor,
    keys: &[Key],
    header_input: &[u8],
    plan: &mut Plan,
) -> Result<Pending, VerifyError> {
    let (hash, entity) = match &d.extra {
        Extra::Signature { hash, entity } => (*hash, *entity),
        _ => unreachable!("signature descriptors decode to Extra::Signature"),
    };
    let covers = match d.link {
        Link::Group(g) => Covers::Group(g),
        Link::Object(o) => Covers::Object(o),
        Link::None => Covers::None,
    };
    let entity_hex = (entity != [0u8; 20]).then(|| keys::fingerprint_hex(&entity));
    // What the link names; the signed metadata refines it once the envelope opens.
    let objects = match d.link {
        Link::Group(g) => sif.group(g).map(|o| o.id).collect(),
        Link::Object(o) => vec![o],
        Link::None => Vec::new(),
    };
    let mut p = Pending {
        r: SignatureResult {
            id: d.id,
            format: "pgp",
            legacy: false,
            covers,
            objects,
            hash: hash.to_string(),
            signers: entity_hex.iter().cloned().collect(),
            key: None,
            status: Status::Invalid,
            reason: None,
            header: None,
            checks: Vec::new(),
        },
        outcome: None,
        failures: Vec::new(),
        wants: Vec::new(),
    };
    let data = match sif.read_object(d, SIGNATURE_LIMIT) {
        Ok(b) => b,
        Err(crate::error::Error::Object { msg, .. }) => {
            p.failures.push(format!("signature object {msg}"));
            return Ok(p);
        }
        Err(e) => return Err(e.into()),
    };
    let opened = match envelope::open(&data, HashAlg::from_sif(hash), keys) {
        Ok(o) => o,
        Err(e) => {
            p.failures.push(e);
            return Ok(p);
        }
    };
    for s in &opened.signers {
        // A key id is the tail of a fingerprint already listed: list it once.
        if !p.r.signers.iter().any(|known| known.ends_with(s.as_str())) {
            p.r.signers.push(s.clone());
        }
    }
    if let KeyOutcome::Verified {
        primary_fingerprint: Some(fp),
        ..
    } = &opened.outcome
    {
        // The descriptor names the signer; the key that verified must be that one.
        if fp.get(..20) != Some(&entity[..]) {
            p.failures.push(format!(
                "descriptor entity {} is not the signing key {}",
                entity_hex.as_deref().unwrap_or("(none)"),
                keys::fingerprint_hex(fp)
            ));
        }
    }
    p.r.format = match opened.format {
        Format::Pgp => "pgp",
        Format::Dsse => "dsse",
    };
    if opened.format == Format::Pgp && opened.payload.starts_with(b"SIFHASH:") {
        p.r.legacy = true;
        legacy(sif, d, hash, &opened, &mut p, plan);
    } else {
        metadata(sif, d, &opened, header_input, &mut p, plan)?;
    }
    p.outcome = Some(opened.outcome);
    Ok(p)
}

/// A legacy `SIFHASH:\n<hex>` signature: one object, or a group's contents.
fn legacy<R: ReadAt>(
    sif: &Sif<R>,
    d: &Descriptor,
    hash: crate::sif::HashType,
    opened: &Opened,
    p: &mut Pending,
    plan: &mut Plan,
) {
    let Some(alg) = HashAlg::from_sif(hash) else {
        p.failures.push(format!("hash type {hash} not supported"));
        return;
    };
    let text = String::from_utf8_lossy(&opened.payload);
    let value = text
        .lines()
        .nth(1)
        .and_then(|l| hex::decode(l.trim()).ok())
        .filter(|v| v.len() == alg.hasher().output_size());
    let Some(value) = value else {
        p.failures.push("malformed SIFHASH value".into());
        return;
    };
    let digest = Digest { alg, value };
    match d.link {
        Link::Object(id) => {
            if sif.descriptor(id).is_err() {
                p.failures
                    .push(format!("linked object {id} does not exist"));
                return;
            }
            p.r.objects = vec![id];
            plan.object(id, alg);
            p.wants.push(Want::Object {
                id,
                digest,
                descriptor: None,
            });
        }
        Link::Group(gid) => {
            let ids: Vec<u32> = sif.group(gid).map(|o| o.id).collect();
            if ids.is_empty() {
                p.failures
                    .push(format!("linked group {gid} has no objects"));
                return;
            }
            p.r.objects = ids.clone();
            p.r.objects.sort_unstable();
            plan.group(gid, alg);
            p.wants.push(Want::Group { gid, digest, ids });
        }
        Link::None => p.failures.push("links no object or group".into()),
    }
}

/// Non-legacy JSON metadata: header digest, and per object of the group its
/// descriptor digest (checked now) and content digest (after the pass).
fn metadata<R: ReadAt>(
    sif: &Sif<R>,
    d: &Descriptor,
    opened: &Opened,
    header_input: &[u8],
    p: &mut Pending,
    plan: &mut Plan,
) -> Result<(), VerifyError> {
    let md: Metadata = match serde_json::from_slice(&opened.payload) {
        Ok(m) => m,
        Err(e) => {
            p.failures
                .push(format!("signed metadata is not valid JSON: {e}"));
            return Ok(());
        }
    };
    if md.version != 1 {
        p.failures.push(format!(
            "signed metadata version {} not supported",
            md.version
        ));
        return Ok(());
    }
    let Link::Group(gid) = d.link else {
        p.failures
            .push("a metadata signature must link an object group".into());
        return Ok(());
    };
    let group: Vec<&Descriptor> = sif.group(gid).collect();
    let Some(min_id) = group.iter().map(|o| o.id).min() else {
        p.failures
            .push(format!("linked group {gid} has no objects"));
        return Ok(());
    };
    match Digest::parse(&md.header.digest) {
        Ok(h) => {
            let ok = h.alg.digest(header_input) == h.value;
            p.r.header = Some(Check::of(ok));
            if !ok {
                p.failures
                    .push("header does not match its signed digest".into());
            }
        }
        Err(e) => p.failures.push(format!("header: {e}")),
    }
    let mut signed = BTreeSet::new();
    for om in &md.objects {
        let Some(id) = min_id.checked_add(om.relative_id) else {
            p.failures
                .push(format!("relative id {} out of range", om.relative_id));
            continue;
        };
        if !signed.insert(id) {
            p.failures.push(format!("object {id} signed twice"));
            continue;
        }
        let Some(o) = group.iter().find(|o| o.id == id) else {
            p.failures
                .push(format!("signed object {id} is not in group {gid}"));
            continue;
        };
        let (desc, obj) = match (
            Digest::parse(&om.descriptor_digest),
            Digest::parse(&om.object_digest),
        ) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => {
                p.failures.push(format!("object {id}: {e}"));
                continue;
            }
        };
        let raw = digest::raw_descriptor(sif, o)?;
        let input = digest::descriptor_input(&raw, om.relative_id);
        let desc_ok = desc.alg.digest(&input) == desc.value;
        if !desc_ok {
            p.failures.push(format!(
                "object {id}: descriptor does not match its signed digest"
            ));
        }
        plan.object(id, obj.alg);
        p.wants.push(Want::Object {
            id,
            digest: obj,
            descriptor: Some(desc_ok),
        });
    }
    for o in &group {
        if !signed.contains(&o.id) {
            p.failures
                .push(format!("object {} of group {gid} is not signed", o.id));
        }
    }
    p.r.objects = signed.into_iter().collect();
    Ok(())
}

/// Compare the streamed digests and settle the signature's status.
fn finish(mut p: Pending, digests: &Digests) -> SignatureResult {
    for w in &p.wants {
        match w {
            Want::Object {
                id,
                digest,
                descriptor,
            } => {
                let ok = digests.objects.get(&(*id, digest.alg)) == Some(&digest.value);
                if !ok {
                    p.failures
                        .push(format!("object {id} does not match its signed digest"));
                }
                p.r.checks.push(ObjectCheck {
                    id: *id,
                    descriptor: descriptor.map(Check::of),
                    object: Check::of(ok),
                });
            }
            Want::Group { gid, digest, ids } => {
                let ok = digests.groups.get(&(*gid, digest.alg)) == Some(&digest.value);
                if !ok {
                    p.failures.push(format!(
                        "contents of group {gid} do not match the signed digest"
                    ));
                }
                for id in ids {
                    p.r.checks.push(ObjectCheck {
                        id: *id,
                        descriptor: None,
                        object: Check::of(ok),
                    });
                }
            }
        }
    }
    p.r.checks.sort_by_key(|c| c.id);
    let (status, reason) = match p.outcome {
        Some(KeyOutcome::Bad(why)) => (Status::Invalid, Some(why)),
        _ if !p.failures.is_empty() => (Status::Invalid, None),
        Some(KeyOutcome::Verified { key, .. }) => {
            p.r.key = Some(key);
            (Status::Valid, None)
        }
        Some(KeyOutcome::UnknownKey) | None => (
            Status::UnknownKey,
            Some("no given key made this signature".to_string()),
        ),
    };
    let mut why: Vec<String> = reason.into_iter().collect();
    why.extend(p.failures);
    p.r.status = status;
    p.r.reason = (!why.is_empty()).then(|| why.join("; "));
    p.r
}
