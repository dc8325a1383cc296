//! `sifrun sif sign`: add a DSSE signature (Ed25519) over every group of a SIF, as
//! `singularity sign --key` does (sif-format.md §9.2–9.3): the signed metadata covers
//! the header and each object's descriptor and contents, so [`super::verify_sif`]
//! and SingularityCE's verify accept it. The image is changed in place: the signature
//! object's data is appended, then its descriptor, then the header (a crash before
//! the header is written leaves the image as it was, plus unused bytes at the end).

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use ed25519_dalek::Signer as _;
use serde::Serialize;

use super::digest::{self, HashAlg, Plan};
use super::envelope::{pae, METADATA_TYPE};
use super::error::VerifyError;
use super::keys::{ssh_fingerprint, Material};
use crate::sif::{
    DataType, Descriptor, Extra, HashType, Link, Sif, DESCRIPTOR_SIZE, GROUP_MASK, HEADER_SIZE,
};

#[derive(Serialize)]
struct Metadata {
    version: u32,
    header: HeaderDigest,
    objects: Vec<ObjectDigests>,
}

#[derive(Serialize)]
struct HeaderDigest {
    digest: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ObjectDigests {
    relative_id: u32,
    descriptor_digest: String,
    object_digest: String,
}

#[derive(Serialize)]
struct Envelope<'a> {
    #[serde(rename = "payloadType")]
    payload_type: &'a str,
    payload: String,
    signatures: Vec<EnvelopeSig>,
}

#[derive(Serialize)]
struct EnvelopeSig {
    keyid: String,
    sig: String,
}

fn sha256(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(HashAlg::Sha256.digest(b)))
}

/// Sign every group of `image` with the Ed25519 private key in `key_file` (PKCS#8
/// PEM, as `openssl genpkey -algorithm ed25519` writes it). Returns the new
/// signature objects' IDs.
pub fn sign_image(image: &Path, key_file: &Path) -> Result<Vec<u32>, VerifyError> {
    let pem = std::fs::read_to_string(key_file).map_err(|err| VerifyError::KeyIo {
        path: key_file.to_path_buf(),
        err,
    })?;
    let key = ed25519_dalek::SigningKey::from_pkcs8_pem(&pem).map_err(|e| {
        VerifyError::key(
            key_file,
            format!("not an Ed25519 private key (PKCS#8 PEM): {e}"),
        )
    })?;
    let keyid = ssh_fingerprint(&Material::Ed25519(key.verifying_key())).unwrap_or_default();
    let io = |e| crate::error::Error::io(image, e);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(image)
        .map_err(io)?;
    let sif = Sif::load(file, image)?;

    let mut groups: BTreeMap<u32, Vec<&Descriptor>> = BTreeMap::new();
    for d in sif.descriptors() {
        if d.data_type == DataType::Signature {
            continue;
        }
        if d.group() == 0 {
            return Err(VerifyError::Sif(crate::error::Error::Object {
                id: d.id,
                msg: "is in no group, so no signature can cover it".into(),
            }));
        }
        groups.entry(d.group()).or_default().push(d);
    }
    if groups.is_empty() {
        return Err(VerifyError::Sif(crate::error::Error::Writer(
            "the image has no objects to sign".into(),
        )));
    }
    let mut plan = Plan::default();
    for d in groups.values().flatten() {
        plan.object(d.id, HashAlg::Sha256);
    }
    let digests = digest::hash_objects(&sif, &plan)?;
    let mut raw_header = [0u8; HEADER_SIZE];
    sif.source().read_exact_at(&mut raw_header, 0).map_err(io)?;
    let header = HeaderDigest {
        digest: sha256(&digest::header_input(&raw_header)),
    };

    let mut envelopes = vec![];
    for (gid, objs) in &groups {
        let min = objs.iter().map(|d| d.id).min().unwrap_or(0);
        let mut objects = vec![];
        for d in objs {
            let raw = digest::raw_descriptor(&sif, d)?;
            let rel = d.id - min;
            objects.push(ObjectDigests {
                relative_id: rel,
                descriptor_digest: sha256(&digest::descriptor_input(&raw, rel)),
                object_digest: format!(
                    "sha256:{}",
                    hex::encode(&digests.objects[&(d.id, HashAlg::Sha256)])
                ),
            });
        }
        objects.sort_by_key(|o| o.relative_id);
        let payload = serde_json::to_vec(&Metadata {
            version: 1,
            header: HeaderDigest {
                digest: header.digest.clone(),
            },
            objects,
        })
        .expect("metadata serializes");
        let sig = key.sign(&pae(METADATA_TYPE, &payload));
        let env = serde_json::to_vec(&Envelope {
            payload_type: METADATA_TYPE,
            payload: STANDARD.encode(&payload),
            signatures: vec![EnvelopeSig {
                keyid: keyid.clone(),
                sig: STANDARD.encode(sig.to_bytes()),
            }],
        })
        .expect("envelope serializes");
        envelopes.push((*gid, env));
    }
    append_signatures(sif, image, envelopes)
}

/// Append one signature object per `(group, envelope)`.
fn append_signatures(
    sif: Sif,
    image: &Path,
    envelopes: Vec<(u32, Vec<u8>)>,
) -> Result<Vec<u32>, VerifyError> {
    let io = |e| crate::error::Error::io(image, e);
    let mut header = sif.header().clone();
    let mut used: Vec<bool> = vec![false; header.descriptors_total as usize];
    for d in sif.descriptors() {
        used[d.slot] = true;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut end = (header.data_offset + header.data_size) as u64;
    let mut file = sif.into_source();
    let mut ids = vec![];
    let mut table = vec![];
    for (gid, env) in envelopes {
        let slot = used.iter().position(|u| !u).ok_or_else(|| {
            VerifyError::Sif(crate::error::Error::Writer(
                "no free descriptor slot for the signature".into(),
            ))
        })?;
        used[slot] = true;
        file.write_all_at(&env, end).map_err(io)?;
        let extra = Extra::Signature {
            hash: HashType::Sha256,
            entity: [0; 20],
        };
        let d = Descriptor {
            slot,
            data_type: DataType::Signature,
            id: slot as u32 + 1,
            group_raw: GROUP_MASK,
            link: Link::Group(gid),
            offset: end as i64,
            size: env.len() as i64,
            size_with_padding: env.len() as i64,
            created: now,
            modified: now,
            uid: 0,
            gid: 0,
            name: String::new(),
            extra_raw: crate::sif::encode_extra(&extra),
            extra,
        };
        end += env.len() as u64;
        ids.push(d.id);
        table.push(d);
        header.descriptors_free -= 1;
    }
    file.sync_data().map_err(io)?;
    for d in &table {
        let off = header.descriptors_offset as u64 + (d.slot * DESCRIPTOR_SIZE) as u64;
        file.write_all_at(&d.to_bytes(), off).map_err(io)?;
    }
    header.data_size = end as i64 - header.data_offset;
    header.modified = now;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    file.write_all(&header.to_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(ids)
}
