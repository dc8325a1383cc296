//! Reader tests over every fixture, compared with Debian's siftool where installed.

mod common;

use bundle_tools::listing;
use bundle_tools::sif::{DataType, Extra, FsType, PartType, Sif};

/// siftool 2.8.3 predates the OCI types and prints them as "Unknown".
fn as_siftool_2_8(s: &str) -> String {
    s.replace("|OCI.RootIndex", "|Unknown")
        .replace("|OCI.Blob", "|Unknown")
}

#[test]
fn every_fixture_parses_and_lists_like_siftool() {
    for f in common::all_fixtures() {
        let sif = Sif::open(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let ours = listing::list_text(&sif);
        if let Some(theirs) = common::siftool(&["list", f.to_str().unwrap()]) {
            assert_eq!(as_siftool_2_8(&ours), theirs, "list of {}", f.display());
        }
    }
}

#[test]
fn header_and_info_match_siftool() {
    for f in common::all_fixtures() {
        let sif = Sif::open(&f).unwrap();
        let Some(theirs) = common::siftool(&["header", f.to_str().unwrap()]) else {
            return;
        };
        assert_eq!(
            listing::header_text(sif.header()),
            theirs,
            "header of {}",
            f.display()
        );
        for d in sif.descriptors() {
            if matches!(d.data_type, DataType::OciBlob | DataType::OciRootIndex) {
                continue; // 2.8.3 prints these as Unknown without digest
            }
            let theirs =
                common::siftool(&["info", &d.id.to_string(), f.to_str().unwrap()]).unwrap();
            assert_eq!(
                listing::info_text(d),
                theirs,
                "info {} of {}",
                d.id,
                f.display()
            );
        }
    }
}

#[test]
fn busybox_details() {
    let sif = Sif::open(common::fixtures().join("busybox_amd64.sif")).unwrap();
    assert!(!sif.is_oci());
    let p = sif.primary_partition().unwrap();
    assert_eq!(p.id, 4);
    assert_eq!((p.offset, p.size), (45056, 745472));
    assert_eq!(
        p.extra,
        Extra::Partition {
            fs: FsType::Squashfs,
            part: PartType::PrimSys,
            arch: bundle_tools::sif::Arch(*b"02")
        }
    );
    assert_eq!(sif.sniff_fs(p), Some(FsType::Squashfs));
    let cfg = sif
        .descriptors()
        .iter()
        .find(|d| d.name == "oci-config.json")
        .unwrap();
    let b = sif.read_object(cfg, 1 << 20).unwrap();
    assert!(String::from_utf8(b).unwrap().contains("\"Cmd\":[\"sh\"]"));
    let sig = sif.descriptor(5).unwrap();
    assert_eq!(sig.group(), 0);
    assert_eq!(sif.linked_to(sif.descriptor(1).unwrap()).len(), 1);
    assert_eq!(sif.group(1).count(), 4);
}

#[test]
fn oci_digests_match_content() {
    use sha2::Digest;
    for f in common::all_fixtures() {
        let sif = Sif::open(&f).unwrap();
        for d in sif.descriptors() {
            if let Some(dg) = d.digest() {
                let b = sif.read_object(d, 1 << 24).unwrap();
                assert_eq!(
                    dg,
                    format!("sha256:{}", hex::encode(sha2::Sha256::digest(&b)))
                );
            }
        }
    }
}

#[test]
fn two_groups_ext3_sniffed() {
    let sif = Sif::open(common::fixtures().join("sif-repo/two-groups.sif")).unwrap();
    let d = sif.descriptor(3).unwrap();
    assert_eq!(d.group(), 2);
    assert_eq!(sif.sniff_fs(d), Some(FsType::Ext3));
}
