//! What SIF signatures hash (sif-format.md §9.1) and the single streamed pass that
//! hashes every covered object once, whatever the number of signatures and algorithms.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, Instant};

use sha2::digest::DynDigest;

use crate::sif::{Descriptor, HashType, ReadAt, Sif, DESCRIPTOR_SIZE, HEADER_SIZE};

/// Digest algorithms the signed metadata may name (the reference library's list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HashAlg {
    Sha224,
    Sha256,
    Sha384,
    Sha512,
    Sha512_224,
    Sha512_256,
}

impl HashAlg {
    const ALL: [HashAlg; 6] = [
        HashAlg::Sha224,
        HashAlg::Sha256,
        HashAlg::Sha384,
        HashAlg::Sha512,
        HashAlg::Sha512_224,
        HashAlg::Sha512_256,
    ];

    /// The name used in `alg:hex` digests.
    pub fn name(self) -> &'static str {
        match self {
            HashAlg::Sha224 => "sha224",
            HashAlg::Sha256 => "sha256",
            HashAlg::Sha384 => "sha384",
            HashAlg::Sha512 => "sha512",
            HashAlg::Sha512_224 => "sha512_224",
            HashAlg::Sha512_256 => "sha512_256",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == s)
    }

    /// The signature descriptor's hash type (BLAKE2 types are not supported).
    pub fn from_sif(h: HashType) -> Option<Self> {
        match h {
            HashType::Sha256 => Some(HashAlg::Sha256),
            HashType::Sha384 => Some(HashAlg::Sha384),
            HashType::Sha512 => Some(HashAlg::Sha512),
            _ => None,
        }
    }

    pub fn hasher(self) -> Box<dyn DynDigest> {
        match self {
            HashAlg::Sha224 => Box::new(sha2::Sha224::default()),
            HashAlg::Sha256 => Box::new(sha2::Sha256::default()),
            HashAlg::Sha384 => Box::new(sha2::Sha384::default()),
            HashAlg::Sha512 => Box::new(sha2::Sha512::default()),
            HashAlg::Sha512_224 => Box::new(sha2::Sha512_224::default()),
            HashAlg::Sha512_256 => Box::new(sha2::Sha512_256::default()),
        }
    }

    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        let mut h = self.hasher();
        h.update(data);
        h.finalize().into_vec()
    }
}

impl fmt::Display for HashAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An `alg:hex` digest from signed metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    pub alg: HashAlg,
    pub value: Vec<u8>,
}

impl Digest {
    pub fn parse(s: &str) -> Result<Self, String> {
        let (name, hexv) = s
            .split_once(':')
            .ok_or_else(|| format!("malformed digest {s:?}"))?;
        let alg = HashAlg::from_name(name)
            .ok_or_else(|| format!("unsupported digest algorithm {name:?}"))?;
        let value = hex::decode(hexv).map_err(|_| format!("malformed digest {s:?}"))?;
        if value.len() != alg.hasher().output_size() {
            return Err(format!("malformed digest {s:?}: wrong length for {alg}"));
        }
        Ok(Digest { alg, value })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.alg, hex::encode(&self.value))
    }
}

/// The 61 header bytes a signature covers: launch script, magic, version, UUID
/// (arch, times and counters change when objects are added, so they are left out).
pub fn header_input(raw: &[u8; HEADER_SIZE]) -> Vec<u8> {
    [&raw[0..45], &raw[48..64]].concat()
}

/// The 557 descriptor bytes a signature covers, with the object's ID replaced by its
/// ID relative to its group: offsets, padding, mtime, absolute ID and group are left
/// out so that objects can move.
pub fn descriptor_input(raw: &[u8; DESCRIPTOR_SIZE], relative_id: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity(557);
    v.extend_from_slice(&raw[0..5]); // data type, used
    v.extend_from_slice(&relative_id.to_le_bytes());
    v.extend_from_slice(&raw[13..17]); // link
    v.extend_from_slice(&raw[25..33]); // size
    v.extend_from_slice(&raw[41..49]); // created
    v.extend_from_slice(&raw[57..DESCRIPTOR_SIZE]); // uid, gid, name, extra
    v
}

/// What the pass must compute: digests of single objects, and (legacy group
/// signatures) digests of a group's objects concatenated in table order.
#[derive(Debug, Default)]
pub struct Plan {
    pub objects: BTreeMap<u32, BTreeSet<HashAlg>>,
    pub groups: BTreeMap<u32, BTreeSet<HashAlg>>,
}

impl Plan {
    pub fn object(&mut self, id: u32, alg: HashAlg) {
        self.objects.entry(id).or_default().insert(alg);
    }
    pub fn group(&mut self, gid: u32, alg: HashAlg) {
        self.groups.entry(gid).or_default().insert(alg);
    }
}

/// Results of the pass.
#[derive(Debug, Default)]
pub struct Digests {
    pub objects: BTreeMap<(u32, HashAlg), Vec<u8>>,
    pub groups: BTreeMap<(u32, HashAlg), Vec<u8>>,
    /// Bytes read from the image and the time spent reading and hashing them.
    pub bytes: u64,
    pub elapsed: Duration,
}

const CHUNK: usize = 1 << 20;
/// Read-ahead window (a multiple of CHUNK).
const AHEAD: u64 = 16 << 20;

/// Read every object the plan names once, in table order (the order legacy group
/// digests concatenate in), feeding each chunk to every hasher that wants it.
pub fn hash_objects<R: ReadAt>(sif: &Sif<R>, plan: &Plan) -> crate::error::Result<Digests> {
    let start = Instant::now();
    let mut out = Digests::default();
    let mut groups: BTreeMap<(u32, HashAlg), Box<dyn DynDigest>> = plan
        .groups
        .iter()
        .flat_map(|(&g, algs)| algs.iter().map(move |&a| ((g, a), a.hasher())))
        .collect();
    let mut buf = vec![0u8; CHUNK];
    for d in sif.descriptors() {
        let own = plan.objects.get(&d.id);
        let in_group = d.group() != 0 && plan.groups.contains_key(&d.group());
        if own.is_none() && !in_group {
            continue;
        }
        let mut mine: Vec<(HashAlg, Box<dyn DynDigest>)> = own
            .into_iter()
            .flatten()
            .map(|&a| (a, a.hasher()))
            .collect();
        let size = d.size as u64;
        let mut off = 0u64;
        while off < size {
            let n = (size - off).min(CHUNK as u64) as usize;
            if off.is_multiple_of(AHEAD) {
                // This window and the next are read from disk while hashing goes on.
                sif.source()
                    .will_need(d.offset as u64 + off, (2 * AHEAD).min(size - off));
            }
            sif.read_object_at(d, off, &mut buf[..n])?;
            for (_, h) in &mut mine {
                h.update(&buf[..n]);
            }
            if in_group {
                for ((g, _), h) in groups.iter_mut() {
                    if *g == d.group() {
                        h.update(&buf[..n]);
                    }
                }
            }
            off += n as u64;
        }
        out.bytes += size;
        for (a, h) in mine {
            out.objects.insert((d.id, a), h.finalize().into_vec());
        }
    }
    for (k, h) in groups {
        out.groups.insert(k, h.finalize().into_vec());
    }
    out.elapsed = start.elapsed();
    Ok(out)
}

/// The descriptor's bytes as stored in the table (the digests cover them).
pub fn raw_descriptor<R: ReadAt>(
    sif: &Sif<R>,
    d: &Descriptor,
) -> crate::error::Result<[u8; DESCRIPTOR_SIZE]> {
    let mut raw = [0u8; DESCRIPTOR_SIZE];
    let off = sif.header().descriptors_offset as u64 + (d.slot * DESCRIPTOR_SIZE) as u64;
    sif.source()
        .read_exact_at(&mut raw, off)
        .map_err(|e| crate::error::Error::io(sif.path(), e))?;
    Ok(raw)
}
