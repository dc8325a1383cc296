//! Loading and validating a SIF image. Every offset and count is checked against the
//! real file size before use, so a hostile file yields an error, never a panic, an
//! out-of-range read or an unbounded allocation.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::descriptor::{Descriptor, DESCRIPTOR_SIZE};
use super::header::{Header, HEADER_SIZE};
use super::types::{DataType, FsType, PartType};
use crate::error::{Error, Result};
use crate::sif::descriptor::Extra;

/// Upper bound on descriptor slots. The format allows 2^32, but no real writer comes
/// close (default 48); bounding it bounds memory and time for hostile headers.
pub const MAX_DESCRIPTORS: i64 = 1 << 16;

/// Positional reads; implemented for files and in-memory buffers (tests, fuzzing).
pub trait ReadAt {
    fn size(&self) -> std::io::Result<u64>;
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()>;
    /// A hint that `len` bytes at `offset` will be read soon (files start reading them
    /// in the background, so a pass that hashes as it reads overlaps disk and CPU).
    fn will_need(&self, _offset: u64, _len: u64) {}
}

impl ReadAt for File {
    fn size(&self) -> std::io::Result<u64> {
        Ok(self.metadata()?.len())
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        FileExt::read_exact_at(self, buf, offset)
    }
    fn will_need(&self, offset: u64, len: u64) {
        use std::os::fd::AsRawFd;
        // SAFETY: advice on an fd we own; a failure only loses the hint.
        unsafe {
            libc::posix_fadvise(
                self.as_raw_fd(),
                offset as libc::off_t,
                len as libc::off_t,
                libc::POSIX_FADV_WILLNEED,
            );
        }
    }
}

impl ReadAt for [u8] {
    fn size(&self) -> std::io::Result<u64> {
        Ok(<[u8]>::len(self) as u64)
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        let start = usize::try_from(offset).map_err(|_| std::io::ErrorKind::UnexpectedEof)?;
        let end = start
            .checked_add(buf.len())
            .filter(|&e| e <= <[u8]>::len(self))
            .ok_or(std::io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(&self[start..end]);
        Ok(())
    }
}

impl ReadAt for Vec<u8> {
    fn size(&self) -> std::io::Result<u64> {
        ReadAt::size(self.as_slice())
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        ReadAt::read_exact_at(self.as_slice(), buf, offset)
    }
}

/// A loaded, validated SIF image.
#[derive(Debug)]
pub struct Sif<R: ReadAt = File> {
    src: R,
    path: PathBuf,
    file_size: u64,
    header: Header,
    descriptors: Vec<Descriptor>,
}

impl Sif<File> {
    /// Open and validate a SIF file.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        // stat first: opening a FIFO would block.
        if !std::fs::metadata(path)
            .map_err(|e| Error::io(path, e))?
            .is_file()
        {
            return Err(Error::NotSif(format!(
                "{} is not a regular file",
                path.display()
            )));
        }
        let f = File::open(path).map_err(|e| Error::io(path, e))?;
        Self::load(f, path)
    }
}

impl<R: ReadAt> Sif<R> {
    /// Validate a SIF held by any [`ReadAt`] source; `path` is only used in messages.
    pub fn load(src: R, path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let file_size = src.size().map_err(|e| Error::io(&path, e))?;
        if file_size < HEADER_SIZE as u64 {
            if file_size < 42 {
                return Err(Error::NotSif(format!(
                    "file is {file_size} bytes, shorter than a SIF header"
                )));
            }
            return Err(Error::Truncated(format!(
                "file is {file_size} bytes, header needs {HEADER_SIZE}"
            )));
        }
        let mut hb = [0u8; HEADER_SIZE];
        src.read_exact_at(&mut hb, 0)
            .map_err(|e| Error::io(&path, e))?;
        let header = Header::parse(&hb)?;
        check_header(&header, file_size)?;

        let total = header.descriptors_total as usize;
        let mut table = vec![0u8; total * DESCRIPTOR_SIZE];
        src.read_exact_at(&mut table, header.descriptors_offset as u64)
            .map_err(|e| Error::io(&path, e))?;
        let mut descriptors = Vec::new();
        for (slot, chunk) in table.chunks_exact(DESCRIPTOR_SIZE).enumerate() {
            let raw: &[u8; DESCRIPTOR_SIZE] = chunk.try_into().expect("chunk size");
            if let Some(d) = Descriptor::parse(slot, raw) {
                check_descriptor(&d, &header, file_size)?;
                descriptors.push(d);
            }
        }
        check_descriptor_set(&header, &descriptors)?;
        Ok(Sif {
            src,
            path,
            file_size,
            header,
            descriptors,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    /// The source, to write to it (the signer appends to the file it read).
    pub fn into_source(self) -> R {
        self.src
    }
    pub fn file_size(&self) -> u64 {
        self.file_size
    }
    pub fn header(&self) -> &Header {
        &self.header
    }
    /// Used descriptors in table order.
    pub fn descriptors(&self) -> &[Descriptor] {
        &self.descriptors
    }
    pub fn source(&self) -> &R {
        &self.src
    }

    pub fn descriptor(&self, id: u32) -> Result<&Descriptor> {
        self.descriptors
            .iter()
            .find(|d| d.id == id)
            .ok_or(Error::NoSuchObject(id))
    }

    /// Objects of one data type, in table order.
    pub fn of_type(&self, t: DataType) -> impl Iterator<Item = &Descriptor> {
        self.descriptors.iter().filter(move |d| d.data_type == t)
    }

    /// Objects of a logical group (0 = no group).
    pub fn group(&self, gid: u32) -> impl Iterator<Item = &Descriptor> {
        self.descriptors.iter().filter(move |d| d.group() == gid)
    }

    /// Objects linked to this one (by object link) or to its group.
    pub fn linked_to(&self, d: &Descriptor) -> Vec<&Descriptor> {
        use super::descriptor::Link;
        self.descriptors
            .iter()
            .filter(|o| match o.link {
                Link::Object(id) => id == d.id,
                Link::Group(g) => g != 0 && g == d.group(),
                Link::None => false,
            })
            .collect()
    }

    /// The primary system partition, if any.
    pub fn primary_partition(&self) -> Option<&Descriptor> {
        self.descriptors.iter().find(|d| {
            matches!(
                d.extra,
                Extra::Partition {
                    part: PartType::PrimSys,
                    ..
                }
            )
        })
    }

    /// True if the image is an OCI-SIF (holds an OCI.RootIndex).
    pub fn is_oci(&self) -> bool {
        self.of_type(DataType::OciRootIndex).next().is_some()
    }

    /// Find an OCI object (blob or root index) by digest.
    pub fn find_digest(&self, digest: &str) -> Option<&Descriptor> {
        self.descriptors.iter().find(|d| d.digest() == Some(digest))
    }

    /// Read a whole object, refusing objects bigger than `limit` (callers use this for
    /// small JSON metadata, never for layers).
    pub fn read_object(&self, d: &Descriptor, limit: u64) -> Result<Vec<u8>> {
        let size = d.size as u64;
        if size > limit {
            return Err(Error::Object {
                id: d.id,
                msg: format!("is {size} bytes, more than the {limit}-byte limit for metadata"),
            });
        }
        let mut buf = vec![0u8; size as usize];
        self.src
            .read_exact_at(&mut buf, d.offset as u64)
            .map_err(|e| Error::io(&self.path, e))?;
        Ok(buf)
    }

    /// Read `buf.len()` bytes at `off` inside an object (bounds-checked).
    pub fn read_object_at(&self, d: &Descriptor, off: u64, buf: &mut [u8]) -> Result<()> {
        let end = off.checked_add(buf.len() as u64);
        if end.is_none_or(|e| e > d.size as u64) {
            return Err(Error::Object {
                id: d.id,
                msg: format!("read of {} bytes at {off} is past its end", buf.len()),
            });
        }
        self.src
            .read_exact_at(buf, d.offset as u64 + off)
            .map_err(|e| Error::io(&self.path, e))
    }

    /// Detect the real filesystem of a partition from its magic (squashfs / ext*).
    pub fn sniff_fs(&self, d: &Descriptor) -> Option<FsType> {
        let mut b = [0u8; 4];
        if self.read_object_at(d, 0, &mut b).is_ok() && &b == b"hsqs" {
            return Some(FsType::Squashfs);
        }
        let mut m = [0u8; 2];
        if self.read_object_at(d, 1024 + 56, &mut m).is_ok() && m == [0x53, 0xEF] {
            return Some(FsType::Ext3);
        }
        None
    }
}

fn hdr_err(msg: String) -> Error {
    Error::Header(msg)
}

fn check_header(h: &Header, file_size: u64) -> Result<()> {
    let fs = file_size as i128;
    if h.descriptors_total < 0 || h.descriptors_total > MAX_DESCRIPTORS {
        return Err(hdr_err(format!(
            "descriptor count {} out of range (0..={MAX_DESCRIPTORS})",
            h.descriptors_total
        )));
    }
    if h.descriptors_free < 0 || h.descriptors_free > h.descriptors_total {
        return Err(hdr_err(format!(
            "free descriptor count {} out of range (0..={})",
            h.descriptors_free, h.descriptors_total
        )));
    }
    let want = h.descriptors_total * DESCRIPTOR_SIZE as i64;
    if h.descriptors_size != want {
        return Err(hdr_err(format!(
            "descriptor table size {} != {} slots x {DESCRIPTOR_SIZE}",
            h.descriptors_size, h.descriptors_total
        )));
    }
    if h.descriptors_offset < HEADER_SIZE as i64 {
        return Err(hdr_err(format!(
            "descriptor table offset {} overlaps the header",
            h.descriptors_offset
        )));
    }
    let table_end = h.descriptors_offset as i128 + h.descriptors_size as i128;
    if table_end > fs {
        return Err(Error::Truncated(format!(
            "descriptor table ends at {table_end}, file is {file_size} bytes"
        )));
    }
    if (h.data_offset as i128) < table_end {
        return Err(hdr_err(format!(
            "data offset {} is inside the descriptor table (ends at {table_end})",
            h.data_offset
        )));
    }
    // An empty image written by an old writer may end before its (empty) data section.
    if h.data_size < 0 || (h.data_size > 0 && h.data_offset as i128 + h.data_size as i128 > fs) {
        return Err(Error::Truncated(format!(
            "data section {}+{} ends past the end of the file ({file_size} bytes)",
            h.data_offset, h.data_size
        )));
    }
    Ok(())
}

fn check_descriptor(d: &Descriptor, h: &Header, file_size: u64) -> Result<()> {
    let err = |msg: String| Error::Descriptor {
        slot: d.slot as u64,
        msg,
    };
    if d.id == 0 {
        return Err(err("object ID 0".into()));
    }
    if d.offset < 0 || d.size < 0 {
        return Err(err(format!(
            "negative offset/size ({}/{})",
            d.offset, d.size
        )));
    }
    if d.offset < h.data_offset {
        return Err(err(format!(
            "object {} at {} lies before the data section ({})",
            d.id, d.offset, h.data_offset
        )));
    }
    let end = d.offset as i128 + d.size as i128;
    if end > file_size as i128 {
        return Err(Error::Truncated(format!(
            "object {} ({}+{}) ends past the end of the file ({file_size} bytes)",
            d.id, d.offset, d.size
        )));
    }
    Ok(())
}

fn check_descriptor_set(h: &Header, ds: &[Descriptor]) -> Result<()> {
    let used = ds.len() as i64;
    if used != h.descriptors_total - h.descriptors_free {
        return Err(hdr_err(format!(
            "{} descriptors in use but header says {} ({} total - {} free)",
            used,
            h.descriptors_total - h.descriptors_free,
            h.descriptors_total,
            h.descriptors_free
        )));
    }
    let mut ids: Vec<u32> = ds.iter().map(|d| d.id).collect();
    ids.sort_unstable();
    if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
        return Err(hdr_err(format!("duplicate object ID {}", w[0])));
    }
    let mut by_off: Vec<&Descriptor> = ds.iter().filter(|d| d.size > 0).collect();
    by_off.sort_by_key(|d| d.offset);
    for w in by_off.windows(2) {
        if w[0].offset + w[0].size > w[1].offset {
            return Err(Error::Object {
                id: w[1].id,
                msg: format!(
                    "({}+{}) overlaps object {} ({}+{})",
                    w[1].offset, w[1].size, w[0].id, w[0].offset, w[0].size
                ),
            });
        }
    }
    let prim = ds
        .iter()
        .filter(|d| {
            matches!(
                d.extra,
                Extra::Partition {
                    part: PartType::PrimSys,
                    ..
                }
            )
        })
        .count();
    if prim > 1 {
        return Err(hdr_err(format!(
            "{prim} primary system partitions (at most 1)"
        )));
    }
    Ok(())
}
