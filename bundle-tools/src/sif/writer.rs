//! Creating SIF files, the way sylabs/sif's `CreateContainer` + `AddObject` lay them out:
//! header at 0, descriptor table at 4096, data right after the table, each object
//! placed at the next multiple of its alignment.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use sha2::{Digest as _, Sha256};

use super::descriptor::{encode_extra, Descriptor, Extra, Link, DESCRIPTOR_SIZE, GROUP_MASK};
use super::header::{Header, ZERO_TIME};
use super::types::{Arch, DataType, PartType};
use crate::error::{Error, Result};

const TABLE_OFFSET: u64 = 4096;

/// Options for a new image.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    /// Launch script, e.g. `#!/usr/bin/env run-singularity\n` (< 32 bytes).
    pub launch_script: Vec<u8>,
    pub id: [u8; 16],
    /// Creation time (Unix seconds) used for the header and every object.
    pub time: i64,
    /// Descriptor slots; fixed at creation because data starts right after the table.
    pub descriptor_capacity: usize,
}

impl Default for CreateOptions {
    /// Like `siftool new`: random UUID, current time, 48 slots.
    fn default() -> Self {
        let mut id = [0u8; 16];
        if let Ok(mut f) = File::open("/dev/urandom") {
            let _ = f.read_exact(&mut id);
        }
        id[6] = (id[6] & 0x0f) | 0x40; // RFC 4122 version 4
        id[8] = (id[8] & 0x3f) | 0x80;
        let time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        CreateOptions {
            launch_script: Vec::new(),
            id,
            time,
            descriptor_capacity: 48,
        }
    }
}

impl CreateOptions {
    /// Deterministic header like the OCI-SIF reference writer: zero UUID, zero time.
    pub fn deterministic(descriptor_capacity: usize) -> Self {
        CreateOptions {
            launch_script: Vec::new(),
            id: [0; 16],
            time: ZERO_TIME,
            descriptor_capacity,
        }
    }
}

/// Metadata of one object to add.
#[derive(Debug, Clone)]
pub struct ObjectInput {
    pub data_type: DataType,
    pub name: String,
    /// Logical group; `None` = no group. SingularityCE puts everything in group 1.
    pub group: Option<u32>,
    pub link: Link,
    /// Alignment of the object's offset; 0 = default (4096 for partitions, else 1).
    pub alignment: u64,
    /// Type metadata; for OCI types leave `Extra::None` to have the digest computed.
    pub extra: Extra,
}

impl ObjectInput {
    pub fn new(data_type: DataType) -> Self {
        ObjectInput {
            data_type,
            name: String::new(),
            group: Some(1),
            link: Link::None,
            alignment: 0,
            extra: Extra::None,
        }
    }
    pub fn name(mut self, n: impl Into<String>) -> Self {
        self.name = n.into();
        self
    }
    pub fn group(mut self, g: Option<u32>) -> Self {
        self.group = g;
        self
    }
    pub fn link(mut self, l: Link) -> Self {
        self.link = l;
        self
    }
    pub fn alignment(mut self, a: u64) -> Self {
        self.alignment = a;
        self
    }
    pub fn extra(mut self, e: Extra) -> Self {
        self.extra = e;
        self
    }
}

/// Streaming SIF writer. Objects are written as they are added; the header and the
/// descriptor table are written by [`SifWriter::finish`].
pub struct SifWriter<W: Write + Seek = File> {
    out: W,
    header: Header,
    slots: Vec<Option<Descriptor>>,
    time: i64,
    data_end: u64,
}

impl SifWriter<File> {
    /// Create (truncate) a file.
    pub fn create(path: impl AsRef<Path>, opts: CreateOptions) -> Result<Self> {
        let path = path.as_ref();
        let f = File::create(path).map_err(|e| Error::io(path, e))?;
        Self::new(f, opts)
    }
}

fn werr(e: std::io::Error) -> Error {
    Error::Writer(e.to_string())
}

impl<W: Write + Seek> SifWriter<W> {
    pub fn new(out: W, opts: CreateOptions) -> Result<Self> {
        if opts.launch_script.len() >= 32 || opts.launch_script.contains(&0) {
            return Err(Error::Writer(
                "launch script must be shorter than 32 bytes and contain no NUL".into(),
            ));
        }
        if opts.descriptor_capacity == 0
            || opts.descriptor_capacity as i64 > super::reader::MAX_DESCRIPTORS
        {
            return Err(Error::Writer(format!(
                "descriptor capacity {} out of range",
                opts.descriptor_capacity
            )));
        }
        let dsize = (opts.descriptor_capacity * DESCRIPTOR_SIZE) as u64;
        let data_offset = TABLE_OFFSET + dsize;
        let header = Header {
            launch_script: opts.launch_script,
            arch: Arch::UNKNOWN,
            id: opts.id,
            created: opts.time,
            modified: opts.time,
            descriptors_free: opts.descriptor_capacity as i64,
            descriptors_total: opts.descriptor_capacity as i64,
            descriptors_offset: TABLE_OFFSET as i64,
            descriptors_size: dsize as i64,
            data_offset: data_offset as i64,
            data_size: 0,
        };
        Ok(SifWriter {
            out,
            header,
            slots: vec![None; opts.descriptor_capacity],
            time: opts.time,
            data_end: data_offset,
        })
    }

    /// Add an object, copying `data` into the file. Returns the new object ID.
    pub fn add_object(&mut self, input: ObjectInput, data: &mut dyn Read) -> Result<u32> {
        let slot = self
            .slots
            .iter()
            .position(Option::is_none)
            .ok_or_else(|| Error::Writer("no free descriptor slot".into()))?;
        let is_oci = matches!(input.data_type, DataType::OciBlob | DataType::OciRootIndex);
        if let Extra::Partition { part, .. } = &input.extra {
            if input.data_type != DataType::Partition {
                return Err(Error::Writer(
                    "partition metadata on a non-partition".into(),
                ));
            }
            if *part == PartType::PrimSys && self.primary().is_some() {
                return Err(Error::Writer(
                    "image already has a primary partition".into(),
                ));
            }
        }
        if input.data_type == DataType::OciRootIndex
            && self
                .slots
                .iter()
                .flatten()
                .any(|d| d.data_type == DataType::OciRootIndex)
        {
            return Err(Error::Writer("image already has an OCI root index".into()));
        }
        let align = match input.alignment {
            0 if input.data_type == DataType::Partition => 4096,
            0 => 1,
            a => a,
        };
        let offset = self.data_end.div_ceil(align) * align;
        self.out.seek(SeekFrom::Start(offset)).map_err(werr)?;
        // Copy in chunks; hash only OCI objects (their descriptor carries the digest).
        let mut hasher = is_oci.then(Sha256::new);
        let mut buf = vec![0u8; 1 << 20];
        let mut size: u64 = 0;
        loop {
            let n = match data.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(werr(e)),
            };
            self.out.write_all(&buf[..n]).map_err(werr)?;
            if let Some(h) = hasher.as_mut() {
                h.update(&buf[..n]);
            }
            size += n as u64;
        }
        let extra = match (hasher, input.extra) {
            (Some(h), Extra::None) => {
                Extra::Digest(format!("sha256:{}", hex::encode(h.finalize())))
            }
            (_, e) => e,
        };
        if let Extra::Partition { arch, part, .. } = &extra {
            if *part == PartType::PrimSys {
                self.header.arch = *arch;
            }
        }
        let id = slot as u32 + 1;
        let d = Descriptor {
            slot,
            data_type: input.data_type,
            id,
            group_raw: GROUP_MASK | input.group.unwrap_or(0),
            link: input.link,
            offset: offset as i64,
            size: size as i64,
            size_with_padding: (offset - self.data_end + size) as i64,
            created: self.time,
            modified: self.time,
            uid: 0,
            gid: 0,
            name: input.name,
            extra_raw: encode_extra(&extra),
            extra,
        };
        self.slots[slot] = Some(d);
        self.data_end = offset + size;
        self.header.descriptors_free -= 1;
        self.header.data_size = (self.data_end - self.header.data_offset as u64) as i64;
        Ok(id)
    }

    /// Add an OCI blob (layer, config, manifest); returns (id, digest).
    pub fn add_oci_blob(&mut self, data: &mut dyn Read) -> Result<(u32, String)> {
        let id = self.add_object(ObjectInput::new(DataType::OciBlob), data)?;
        Ok((id, self.digest_of(id)))
    }

    /// Add the OCI root index JSON; returns (id, digest).
    pub fn add_oci_root_index(&mut self, json: &[u8]) -> Result<(u32, String)> {
        let mut r = json;
        let id = self.add_object(ObjectInput::new(DataType::OciRootIndex), &mut r)?;
        Ok((id, self.digest_of(id)))
    }

    fn digest_of(&self, id: u32) -> String {
        self.slots[id as usize - 1]
            .as_ref()
            .and_then(|d| d.digest().map(str::to_owned))
            .unwrap_or_default()
    }

    fn primary(&self) -> Option<&Descriptor> {
        self.slots.iter().flatten().find(|d| {
            matches!(
                d.extra,
                Extra::Partition {
                    part: PartType::PrimSys,
                    ..
                }
            )
        })
    }

    /// Write header and table; returns the underlying writer.
    pub fn finish(mut self) -> Result<W> {
        let mut table = vec![0u8; self.slots.len() * DESCRIPTOR_SIZE];
        for (i, d) in self.slots.iter().enumerate() {
            if let Some(d) = d {
                table[i * DESCRIPTOR_SIZE..(i + 1) * DESCRIPTOR_SIZE]
                    .copy_from_slice(&d.to_bytes());
            }
        }
        self.out.seek(SeekFrom::Start(0)).map_err(werr)?;
        self.out.write_all(&self.header.to_bytes()).map_err(werr)?;
        self.out.seek(SeekFrom::Start(TABLE_OFFSET)).map_err(werr)?;
        self.out.write_all(&table).map_err(werr)?;
        // Make sure the file reaches the data end even if the last object is empty.
        let end = self.out.seek(SeekFrom::End(0)).map_err(werr)?;
        if end < self.data_end {
            self.out
                .seek(SeekFrom::Start(self.data_end - 1))
                .map_err(werr)?;
            self.out.write_all(&[0]).map_err(werr)?;
        }
        self.out.flush().map_err(werr)?;
        Ok(self.out)
    }
}
