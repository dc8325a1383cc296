//! Hostile and broken files: every case must be an error naming the problem, never a
//! panic, an out-of-bounds read or a huge allocation.

mod common;

use bundle_tools::sif::{Sif, DESCRIPTOR_SIZE, HEADER_SIZE};
use bundle_tools::Error;

fn load(b: Vec<u8>) -> Result<Sif<Vec<u8>>, Error> {
    Sif::load(b, "mem")
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(common::fixtures().join(name)).unwrap()
}

fn put_i64(b: &mut [u8], off: usize, v: i64) {
    b[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn truncated_everywhere_in_header_and_table() {
    for name in [
        "busybox_amd64.sif",
        "sif-repo/one-group.sif",
        "oci-tools/TestWrite_DockerManifest.sif",
    ] {
        let full = fixture(name);
        let table_end = 4096 + 48 * DESCRIPTOR_SIZE;
        let mut cuts: Vec<usize> = (0..HEADER_SIZE + 1).collect();
        cuts.extend((HEADER_SIZE..table_end.min(full.len())).step_by(97));
        // every descriptor field boundary of the first slots
        for slot in 0..5 {
            for f in [0, 4, 5, 9, 13, 17, 25, 33, 41, 73, 201, 585] {
                cuts.push(4096 + slot * DESCRIPTOR_SIZE + f);
            }
        }
        for cut in cuts {
            if cut >= full.len() {
                continue;
            }
            let r = load(full[..cut].to_vec());
            let e = r.expect_err(&format!("{name} cut at {cut} must fail"));
            let msg = e.to_string();
            assert!(
                msg.contains("truncated")
                    || msg.contains("not a SIF")
                    || msg.contains("past the end"),
                "{name} cut {cut}: {msg}"
            );
        }
    }
}

#[test]
fn object_cut_off_is_reported() {
    let full = fixture("busybox_amd64.sif");
    let e = load(full[..full.len() - 1].to_vec())
        .unwrap_err()
        .to_string();
    assert!(e.contains("truncated") && e.contains("past the end"), "{e}");
}

#[test]
fn bogus_magic_and_version() {
    let mut b = fixture("sif-repo/empty.sif");
    b[32] = b'X';
    assert!(matches!(load(b).unwrap_err(), Error::NotSif(_)));
    let mut b = fixture("sif-repo/empty.sif");
    b[43] = b'2';
    assert!(matches!(load(b).unwrap_err(), Error::Version(_)));
    assert!(matches!(
        load(b"hello".to_vec()).unwrap_err(),
        Error::NotSif(_)
    ));
    assert!(matches!(load(Vec::new()).unwrap_err(), Error::NotSif(_)));
}

#[test]
fn absurd_counts() {
    let base = fixture("sif-repo/empty.sif");
    for (off, v, want) in [
        (88, 1i64 << 40, "descriptor count"),
        (88, -1, "descriptor count"),
        (80, 49, "free descriptor"),
        (80, -3, "free descriptor"),
        (104, 12, "table size"),
        (96, 0, "overlaps the header"),
        (96, i64::MAX - 10, "truncated"),
        (112, 100, "inside the descriptor table"),
        (120, 1 << 50, "past the end"),
    ] {
        let mut b = base.clone();
        put_i64(&mut b, off, v);
        let e = load(b).unwrap_err().to_string();
        assert!(e.contains(want), "field {off}={v}: {e}");
    }
    // huge table claimed, consistent fields, file too small: no allocation, an error
    let mut b = base.clone();
    put_i64(&mut b, 88, 60000);
    put_i64(&mut b, 80, 60000);
    put_i64(&mut b, 104, 60000 * DESCRIPTOR_SIZE as i64);
    assert!(load(b).unwrap_err().to_string().contains("truncated"));
}

fn desc(slot: usize) -> usize {
    4096 + slot * DESCRIPTOR_SIZE
}

#[test]
fn bad_descriptors() {
    let base = fixture("busybox_amd64.sif");
    // offset past EOF
    let mut b = base.clone();
    put_i64(&mut b, desc(0) + 17, 10_000_000);
    assert!(load(b).unwrap_err().to_string().contains("past the end"));
    // size overflowing
    let mut b = base.clone();
    put_i64(&mut b, desc(0) + 25, i64::MAX);
    assert!(load(b).unwrap_err().to_string().contains("past the end"));
    // negative size
    let mut b = base.clone();
    put_i64(&mut b, desc(1) + 25, -5);
    assert!(load(b).unwrap_err().to_string().contains("negative"));
    // object inside the header/table
    let mut b = base.clone();
    put_i64(&mut b, desc(1) + 17, 100);
    assert!(load(b)
        .unwrap_err()
        .to_string()
        .contains("before the data section"));
    // overlapping objects: object 2 moved into the partition
    let mut b = base.clone();
    put_i64(&mut b, desc(1) + 17, 50000);
    let e = load(b).unwrap_err().to_string();
    assert!(e.contains("overlaps"), "{e}");
    // duplicate IDs
    let mut b = base.clone();
    b[desc(1) + 5..desc(1) + 9].copy_from_slice(&1u32.to_le_bytes());
    assert!(load(b)
        .unwrap_err()
        .to_string()
        .contains("duplicate object ID 1"));
    // ID 0
    let mut b = base.clone();
    b[desc(1) + 5..desc(1) + 9].copy_from_slice(&0u32.to_le_bytes());
    assert!(load(b).unwrap_err().to_string().contains("ID 0"));
    // used count disagrees with header
    let mut b = base.clone();
    b[desc(10) + 4] = 1;
    b[desc(10) + 5] = 99;
    put_i64(&mut b, desc(10) + 17, 32768);
    assert!(load(b).is_err());
    // second primary partition
    let mut b = base.clone();
    b[desc(0)..desc(0) + 4].copy_from_slice(&0x4004i32.to_le_bytes());
    b[desc(0) + 201 + 4..desc(0) + 201 + 8].copy_from_slice(&2i32.to_le_bytes());
    assert!(load(b).unwrap_err().to_string().contains("primary"));
}

#[test]
fn read_object_limit() {
    let sif = load(fixture("busybox_amd64.sif")).unwrap();
    let p = sif.primary_partition().unwrap();
    assert!(sif.read_object(p, 4096).is_err());
    let mut buf = [0u8; 8];
    assert!(sif.read_object_at(p, p.size as u64 - 4, &mut buf).is_err());
}

/// Mutation fuzzing: random byte flips in the header/table region (where they matter)
/// and anywhere in small files. Must never panic.
#[test]
fn fuzz_byte_flips() {
    let mut rng = fastrand::Rng::with_seed(0x5150);
    let files: Vec<Vec<u8>> = [
        "busybox_amd64.sif",
        "sif-repo/two-groups-signed-pgp.sif",
        "oci-tools/TestWrite_DockerManifest.sif",
        "empty.oci.sif",
        "sif-repo/one-object-sbom.sif",
    ]
    .iter()
    .map(|n| fixture(n))
    .collect();
    let mut ok = 0;
    for i in 0..6000 {
        let mut b = files[i % files.len()].clone();
        let region = if rng.bool() {
            128
        } else {
            (4096 + 8 * DESCRIPTOR_SIZE).min(b.len())
        };
        for _ in 0..rng.usize(1..8) {
            let pos = rng.usize(0..region);
            b[pos] = match rng.u8(0..4) {
                0 => 0,
                1 => 0xff,
                _ => rng.u8(..),
            };
        }
        if rng.u8(0..10) == 0 {
            let cut = rng.usize(0..b.len());
            b.truncate(cut);
        }
        if let Ok(sif) = load(b) {
            ok += 1;
            // exercise the accessors on whatever survived validation
            let _ = bundle_tools::listing::list_text(&sif);
            let _ = bundle_tools::listing::header_text(sif.header());
            for d in sif.descriptors() {
                let _ = bundle_tools::listing::info_text(d);
                let _ = sif.read_object(d, 1 << 16);
                let _ = sif.sniff_fs(d);
            }
            let _ = bundle_tools::oci_sif::OciImage::resolve(&sif);
        }
    }
    assert!(ok > 0);
}
