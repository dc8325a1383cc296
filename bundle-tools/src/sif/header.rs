//! The 128-byte global header.

use super::types::Arch;
use crate::error::{Error, Result};

pub const HEADER_SIZE: usize = 128;
pub const MAGIC: &[u8; 10] = b"SIF_MAGIC\0";
pub const VERSION: &[u8; 3] = b"01\0";
/// Go's zero `time.Time` as Unix seconds; deterministic images use it for "unset".
pub const ZERO_TIME: i64 = -62_135_596_800;

/// Decoded global header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Launch script bytes up to the first NUL (at most 31 bytes).
    pub launch_script: Vec<u8>,
    pub arch: Arch,
    pub id: [u8; 16],
    pub created: i64,
    pub modified: i64,
    pub descriptors_free: i64,
    pub descriptors_total: i64,
    pub descriptors_offset: i64,
    pub descriptors_size: i64,
    pub data_offset: i64,
    pub data_size: i64,
}

pub(crate) fn le_i64(b: &[u8], off: usize) -> i64 {
    i64::from_le_bytes(b[off..off + 8].try_into().expect("8 bytes"))
}
pub(crate) fn le_i32(b: &[u8], off: usize) -> i32 {
    i32::from_le_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}
pub(crate) fn le_u32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().expect("4 bytes"))
}

/// Bytes up to the first NUL.
pub(crate) fn cstr(b: &[u8]) -> &[u8] {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    &b[..end]
}

impl Header {
    /// Decode and check magic/version only; range checks need the file size and live in
    /// the reader.
    pub fn parse(b: &[u8; HEADER_SIZE]) -> Result<Self> {
        if &b[32..42] != MAGIC {
            return Err(Error::NotSif(format!(
                "bad magic {:?} (want \"SIF_MAGIC\")",
                String::from_utf8_lossy(cstr(&b[32..42]))
            )));
        }
        if &b[42..45] != VERSION {
            return Err(Error::Version(
                String::from_utf8_lossy(cstr(&b[42..45])).into_owned(),
            ));
        }
        Ok(Header {
            launch_script: cstr(&b[0..32]).to_vec(),
            arch: Arch::from_bytes(&b[45..48]),
            id: b[48..64].try_into().expect("16 bytes"),
            created: le_i64(b, 64),
            modified: le_i64(b, 72),
            descriptors_free: le_i64(b, 80),
            descriptors_total: le_i64(b, 88),
            descriptors_offset: le_i64(b, 96),
            descriptors_size: le_i64(b, 104),
            data_offset: le_i64(b, 112),
            data_size: le_i64(b, 120),
        })
    }

    pub fn to_bytes(&self) -> [u8; HEADER_SIZE] {
        let mut b = [0u8; HEADER_SIZE];
        let n = self.launch_script.len().min(31);
        b[..n].copy_from_slice(&self.launch_script[..n]);
        b[32..42].copy_from_slice(MAGIC);
        b[42..45].copy_from_slice(VERSION);
        b[45..48].copy_from_slice(&self.arch.to_bytes());
        b[48..64].copy_from_slice(&self.id);
        for (off, v) in [
            (64, self.created),
            (72, self.modified),
            (80, self.descriptors_free),
            (88, self.descriptors_total),
            (96, self.descriptors_offset),
            (104, self.descriptors_size),
            (112, self.data_offset),
            (120, self.data_size),
        ] {
            b[off..off + 8].copy_from_slice(&v.to_le_bytes());
        }
        b
    }

    /// UUID in canonical text form, or None when all-zero (deterministic images).
    pub fn uuid(&self) -> Option<String> {
        if self.id == [0; 16] {
            return None;
        }
        let h = hex::encode(self.id);
        Some(format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        ))
    }
}

/// Format Unix seconds like Go's `time.Time.String()` in UTC, as siftool prints.
pub fn format_time(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} +0000 UTC",
        y,
        m,
        d,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn times() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(format_time(1627931376), "2021-08-02 19:09:36 +0000 UTC");
        assert_eq!(format_time(ZERO_TIME), "0001-01-01 00:00:00 +0000 UTC");
    }
}
