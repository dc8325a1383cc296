//! OCI-SIF integrity: every OCI object's content must hash to the digest in its
//! descriptor (checked in the streamed pass), and every digest the root index and the
//! manifests name (nested indexes, manifests, configs, layers) must be an object of
//! the named size.

use serde_json::Value;

use super::digest::{Digests, HashAlg};
use super::report::{BlobCheck, Check, OciReport};
use crate::sif::{DataType, Descriptor, ReadAt, Sif};

/// Index / manifest JSON bigger than this is not parsed (real ones are a few KiB).
const JSON_LIMIT: u64 = 16 << 20;
/// Nested indexes deeper than this are not followed (a cycle needs a hash collision,
/// but a hostile file should not cost unbounded work either).
const MAX_DEPTH: usize = 8;

/// The OCI objects of the image (root index and blobs).
pub fn objects<R: ReadAt>(sif: &Sif<R>) -> Vec<&Descriptor> {
    sif.descriptors()
        .iter()
        .filter(|d| matches!(d.data_type, DataType::OciRootIndex | DataType::OciBlob))
        .collect()
}

pub fn check<R: ReadAt>(sif: &Sif<R>, digests: &Digests) -> OciReport {
    let mut rep = OciReport::default();
    for d in objects(sif) {
        let want = d.digest().unwrap_or("").to_string();
        let got = digests
            .objects
            .get(&(d.id, HashAlg::Sha256))
            .map(|v| format!("sha256:{}", hex::encode(v)));
        rep.blobs.push(BlobCheck {
            id: d.id,
            status: Check::of(got.as_deref() == Some(want.as_str())),
            digest: want,
        });
    }
    for root in sif.of_type(DataType::OciRootIndex) {
        walk(sif, root, 0, &mut rep.problems);
    }
    rep
}

/// Check the references of one index or manifest object.
fn walk<R: ReadAt>(sif: &Sif<R>, d: &Descriptor, depth: usize, problems: &mut Vec<String>) {
    if depth > MAX_DEPTH {
        problems.push(format!("object {}: indexes nested too deep", d.id));
        return;
    }
    let v: Value = match sif
        .read_object(d, JSON_LIMIT)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
    {
        Some(v) => v,
        None => {
            problems.push(format!("object {}: not a JSON index or manifest", d.id));
            return;
        }
    };
    let mut refs: Vec<(&Value, bool)> = Vec::new();
    if let Some(ms) = v.get("manifests").and_then(Value::as_array) {
        refs.extend(ms.iter().map(|m| (m, true)));
    }
    if let Some(c) = v.get("config") {
        refs.push((c, false));
    }
    if let Some(ls) = v.get("layers").and_then(Value::as_array) {
        refs.extend(ls.iter().map(|l| (l, false)));
    }
    for (r, follow) in refs {
        let digest = r.get("digest").and_then(Value::as_str).unwrap_or("");
        let Some(target) = sif.find_digest(digest) else {
            // Index entries may name images stored elsewhere only if nothing here
            // claims them; the reference writer stores every blob it references.
            problems.push(format!("object {}: {digest:?} is not in the image", d.id));
            continue;
        };
        if let Some(size) = r.get("size").and_then(Value::as_i64) {
            if size != target.size {
                problems.push(format!(
                    "object {}: {digest} has size {} but is named with size {size}",
                    d.id, target.size
                ));
            }
        }
        if follow {
            walk(sif, target, depth + 1, problems);
        }
    }
}
