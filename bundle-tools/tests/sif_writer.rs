//! Writer round-trips, checked by our reader and by Debian's siftool.

mod common;

use bundle_tools::sif::*;

#[test]
fn native_round_trip_and_siftool_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.sif");
    let opts = CreateOptions {
        launch_script: b"#!/usr/bin/env run-singularity\n".to_vec(),
        time: 1_600_000_000,
        ..Default::default()
    };
    let mut w = SifWriter::create(&path, opts).unwrap();
    let def = b"Bootstrap: docker\nFrom: busybox\n";
    assert_eq!(
        w.add_object(ObjectInput::new(DataType::Deffile), &mut &def[..])
            .unwrap(),
        1
    );
    w.add_object(
        ObjectInput::new(DataType::GenericJson).name("inspect-metadata.json"),
        &mut &b"{}"[..],
    )
    .unwrap();
    let part = vec![7u8; 5000];
    let pid = w
        .add_object(
            ObjectInput::new(DataType::Partition)
                .name("rootfs.squashfs")
                .extra(Extra::Partition {
                    fs: FsType::Squashfs,
                    part: PartType::PrimSys,
                    arch: Arch::from_go("amd64").unwrap(),
                }),
            &mut &part[..],
        )
        .unwrap();
    // A second primary partition is refused.
    assert!(w
        .add_object(
            ObjectInput::new(DataType::Partition).extra(Extra::Partition {
                fs: FsType::Squashfs,
                part: PartType::PrimSys,
                arch: Arch::UNKNOWN,
            }),
            &mut &b"x"[..],
        )
        .is_err());
    w.add_object(
        ObjectInput::new(DataType::Signature)
            .group(None)
            .link(Link::Group(1))
            .extra(Extra::Signature {
                hash: HashType::Sha256,
                entity: [0xab; 20],
            }),
        &mut &b"sig"[..],
    )
    .unwrap();
    w.add_object(
        ObjectInput::new(DataType::Sbom).extra(Extra::Sbom {
            format: SbomFormat::SpdxJson,
        }),
        &mut &b"{}"[..],
    )
    .unwrap();
    w.finish().unwrap();

    let sif = Sif::open(&path).unwrap();
    assert_eq!(sif.header().arch.name(), "amd64");
    assert_eq!(sif.descriptors().len(), 5);
    let p = sif.descriptor(pid).unwrap();
    assert_eq!(p.offset % 4096, 0);
    assert_eq!(sif.read_object(p, 1 << 20).unwrap(), part);
    assert_eq!(sif.primary_partition().unwrap().id, pid);
    assert_eq!(sif.descriptor(4).unwrap().link, Link::Group(1));
    assert_eq!(sif.descriptor(4).unwrap().group(), 0);

    let ours = bundle_tools::listing::list_text(&sif);
    if let Some(theirs) = common::siftool(&["list", path.to_str().unwrap()]) {
        assert_eq!(ours, theirs);
        assert_eq!(
            bundle_tools::listing::header_text(sif.header()),
            common::siftool(&["header", path.to_str().unwrap()]).unwrap()
        );
        for d in sif.descriptors() {
            assert_eq!(
                bundle_tools::listing::info_text(d),
                common::siftool(&["info", &d.id.to_string(), path.to_str().unwrap()]).unwrap()
            );
        }
        // siftool can also append to our file.
        let extra = dir.path().join("extra");
        std::fs::write(&extra, b"more").unwrap();
        common::siftool(&[
            "add",
            "--datatype",
            "7",
            path.to_str().unwrap(),
            extra.to_str().unwrap(),
        ])
        .unwrap();
        assert_eq!(Sif::open(&path).unwrap().descriptors().len(), 6);
    }
}

#[test]
fn oci_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("o.sif");
    let mut w = SifWriter::create(&path, CreateOptions::deterministic(4 + 8)).unwrap();
    let (_, ld) = w.add_oci_blob(&mut &b"layer-bytes"[..]).unwrap();
    let cfg = br#"{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":[]}}"#;
    let (_, cd) = w.add_oci_blob(&mut &cfg[..]).unwrap();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","size":{},"digest":"{cd}"}},"layers":[{{"mediaType":"application/vnd.sylabs.image.layer.v1.squashfs","size":11,"digest":"{ld}"}}]}}"#,
        cfg.len()
    );
    let (_, md) = w.add_oci_blob(&mut manifest.as_bytes()).unwrap();
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":{},"digest":"{md}"}}]}}"#,
        manifest.len()
    );
    w.add_oci_root_index(index.as_bytes()).unwrap();
    assert!(w.add_oci_root_index(b"{}").is_err());
    w.finish().unwrap();

    let sif = Sif::open(&path).unwrap();
    assert!(sif.is_oci());
    assert_eq!(sif.header().created, ZERO_TIME);
    assert_eq!(sif.descriptor(1).unwrap().offset, 4096 + 12 * 585);
    let img = bundle_tools::oci_sif::OciImage::resolve(&sif).unwrap();
    assert_eq!(img.layers.len(), 1);
    assert_eq!(img.layers[0].digest, ld);
    if let Some(theirs) = common::siftool(&["list", path.to_str().unwrap()]) {
        let ours = bundle_tools::listing::list_text(&sif)
            .replace("|OCI.RootIndex", "|Unknown")
            .replace("|OCI.Blob", "|Unknown");
        assert_eq!(ours, theirs);
    }
}
