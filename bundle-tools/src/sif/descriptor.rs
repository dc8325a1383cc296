//! The 585-byte descriptor slot and its type-specific `extra` metadata.

use super::header::{cstr, le_i32, le_i64, le_u32};
use super::types::*;

pub const DESCRIPTOR_SIZE: usize = 585;
const EXTRA_OFF: usize = 201;
pub const EXTRA_SIZE: usize = 384;
/// Set on every stored group ID; also marks a link as naming a group.
pub const GROUP_MASK: u32 = 0xF000_0000;

/// What a descriptor links to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    None,
    Object(u32),
    Group(u32),
}

impl Link {
    pub fn from_raw(v: u32) -> Self {
        if v == 0 {
            Link::None
        } else if v & GROUP_MASK == GROUP_MASK {
            Link::Group(v & !GROUP_MASK)
        } else {
            Link::Object(v)
        }
    }
    pub fn raw(self) -> u32 {
        match self {
            Link::None => 0,
            Link::Object(id) => id,
            Link::Group(g) => GROUP_MASK | g,
        }
    }
}

/// Decoded `extra` field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extra {
    None,
    Partition {
        fs: FsType,
        part: PartType,
        arch: Arch,
    },
    Signature {
        hash: HashType,
        /// OpenPGP v4 fingerprint (first 20 bytes of the entity); all-zero if none.
        entity: [u8; 20],
    },
    CryptoMessage {
        format: FormatType,
        message: MessageType,
    },
    Sbom {
        format: SbomFormat,
    },
    /// OCI root index / blob: `sha256:<hex>` as stored.
    Digest(String),
}

/// One used descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    /// Table slot (0-based) it was read from.
    pub slot: usize,
    pub data_type: DataType,
    pub id: u32,
    /// Raw stored group value (with mask).
    pub group_raw: u32,
    pub link: Link,
    pub offset: i64,
    pub size: i64,
    pub size_with_padding: i64,
    pub created: i64,
    pub modified: i64,
    pub uid: i64,
    pub gid: i64,
    pub name: String,
    pub extra: Extra,
    /// The raw 384 bytes, for round-trips and signatures.
    pub extra_raw: Vec<u8>,
}

impl Descriptor {
    /// Logical group (0 = none).
    pub fn group(&self) -> u32 {
        self.group_raw & !GROUP_MASK
    }

    /// `[offset, offset+size)` as unsigned, assuming the reader validated it.
    pub fn range(&self) -> (u64, u64) {
        (self.offset as u64, (self.offset + self.size) as u64)
    }

    /// Decode one slot. Returns None for an unused slot.
    pub fn parse(slot: usize, b: &[u8; DESCRIPTOR_SIZE]) -> Option<Self> {
        if b[4] == 0 {
            return None;
        }
        let data_type = DataType::from_raw(le_i32(b, 0));
        let extra_raw = &b[EXTRA_OFF..EXTRA_OFF + EXTRA_SIZE];
        let extra = match data_type {
            DataType::Partition => Extra::Partition {
                fs: FsType::from_raw(le_i32(extra_raw, 0)),
                part: PartType::from_raw(le_i32(extra_raw, 4)),
                arch: Arch::from_bytes(&extra_raw[8..11]),
            },
            DataType::Signature => Extra::Signature {
                hash: HashType::from_raw(le_i32(extra_raw, 0)),
                entity: extra_raw[4..24].try_into().expect("20 bytes"),
            },
            DataType::CryptoMessage => Extra::CryptoMessage {
                format: FormatType::from_raw(le_i32(extra_raw, 0)),
                message: MessageType::from_raw(le_i32(extra_raw, 4)),
            },
            DataType::Sbom => Extra::Sbom {
                format: SbomFormat::from_raw(le_i32(extra_raw, 0)),
            },
            DataType::OciRootIndex | DataType::OciBlob => {
                Extra::Digest(String::from_utf8_lossy(cstr(extra_raw)).into_owned())
            }
            _ => Extra::None,
        };
        Some(Descriptor {
            slot,
            data_type,
            id: le_u32(b, 5),
            group_raw: le_u32(b, 9),
            link: Link::from_raw(le_u32(b, 13)),
            offset: le_i64(b, 17),
            size: le_i64(b, 25),
            size_with_padding: le_i64(b, 33),
            created: le_i64(b, 41),
            modified: le_i64(b, 49),
            uid: le_i64(b, 57),
            gid: le_i64(b, 65),
            name: String::from_utf8_lossy(cstr(&b[73..201])).into_owned(),
            extra,
            extra_raw: extra_raw.to_vec(),
        })
    }

    pub fn to_bytes(&self) -> [u8; DESCRIPTOR_SIZE] {
        let mut b = [0u8; DESCRIPTOR_SIZE];
        b[0..4].copy_from_slice(&self.data_type.raw().to_le_bytes());
        b[4] = 1;
        b[5..9].copy_from_slice(&self.id.to_le_bytes());
        b[9..13].copy_from_slice(&self.group_raw.to_le_bytes());
        b[13..17].copy_from_slice(&self.link.raw().to_le_bytes());
        for (off, v) in [
            (17, self.offset),
            (25, self.size),
            (33, self.size_with_padding),
            (41, self.created),
            (49, self.modified),
            (57, self.uid),
            (65, self.gid),
        ] {
            b[off..off + 8].copy_from_slice(&v.to_le_bytes());
        }
        let name = self.name.as_bytes();
        let n = name.len().min(128);
        b[73..73 + n].copy_from_slice(&name[..n]);
        let n = self.extra_raw.len().min(EXTRA_SIZE);
        b[EXTRA_OFF..EXTRA_OFF + n].copy_from_slice(&self.extra_raw[..n]);
        b
    }

    /// OCI digest (`sha256:…`) of an OCI.RootIndex / OCI.Blob object.
    pub fn digest(&self) -> Option<&str> {
        match &self.extra {
            Extra::Digest(d) => Some(d),
            _ => None,
        }
    }

    /// The TYPE column of `siftool list`.
    pub fn type_label(&self) -> String {
        match &self.extra {
            Extra::Partition { fs, part, arch } => format!("FS ({fs}/{part}/{arch})"),
            Extra::Signature { hash, .. } => format!("Signature ({hash})"),
            Extra::CryptoMessage { format, message } => {
                format!("Cryptographic Message ({format}/{message})")
            }
            Extra::Sbom { format } => format!("SBOM ({format})"),
            Extra::Digest(_) | Extra::None => self.data_type.to_string(),
        }
    }
}

/// Encode the `extra` field for writing.
pub fn encode_extra(extra: &Extra) -> Vec<u8> {
    let mut e = vec![0u8; EXTRA_SIZE];
    match extra {
        Extra::None => {}
        Extra::Partition { fs, part, arch } => {
            e[0..4].copy_from_slice(&fs.raw().to_le_bytes());
            e[4..8].copy_from_slice(&part.raw().to_le_bytes());
            e[8..11].copy_from_slice(&arch.to_bytes());
        }
        Extra::Signature { hash, entity } => {
            e[0..4].copy_from_slice(&hash.raw().to_le_bytes());
            e[4..24].copy_from_slice(entity);
        }
        Extra::CryptoMessage { format, message } => {
            e[0..4].copy_from_slice(&format.raw().to_le_bytes());
            e[4..8].copy_from_slice(&message.raw().to_le_bytes());
        }
        Extra::Sbom { format } => e[0..4].copy_from_slice(&format.raw().to_le_bytes()),
        Extra::Digest(d) => {
            let n = d.len().min(EXTRA_SIZE);
            e[..n].copy_from_slice(&d.as_bytes()[..n]);
        }
    }
    e
}
