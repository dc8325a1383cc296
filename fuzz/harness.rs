#![allow(dead_code)] // each fuzz target uses one of the harnesses
//! The fuzz harnesses, shared by the cargo-fuzz targets (fuzz/fuzz_targets/) and the
//! CI test that replays fuzz/regressions/ (tests/integration/security/fuzz_regressions.rs).
//! Each must never panic, whatever the input; errors are fine.

use bundle_tools::sif::{Descriptor, Sif};

/// SIF parser: load from memory, then walk everything a caller (list/info/mount) does.
pub fn sif(data: &[u8]) {
    let Ok(img) = Sif::load(data.to_vec(), "fuzz.sif") else {
        return;
    };
    let _ = bundle_tools::listing::list_text(&img);
    let _ = bundle_tools::listing::list_json(&img);
    let _ = bundle_tools::listing::header_text(img.header());
    let _ = img.header().uuid();
    let _ = img.primary_partition();
    let _ = img.is_oci();
    let descs: Vec<Descriptor> = img.descriptors().to_vec();
    for d in &descs {
        let _ = bundle_tools::listing::info_text(d);
        let _ = d.type_label();
        let _ = d.digest();
        let _ = d.range();
        let _ = img.linked_to(d);
        let _ = img.descriptor(d.id);
        let _ = img.sniff_fs(d);
        let _ = img.read_object(d, 1 << 20);
        let mut b = [0u8; 16];
        let _ = img.read_object_at(d, (d.size as u64).saturating_sub(8), &mut b);
        let _ = img.read_object_at(d, u64::MAX - 4, &mut b);
        // round trip of the descriptor encoding must not panic either
        let _ = d.to_bytes();
    }
    if let Ok(oci) = bundle_tools::oci_sif::OciImage::resolve(&img) {
        let _ = oci.rootfs_layers();
    }
}

/// OCI image config → runtime spec. The input is `CONFIG_JSON \0 PASSWD \0 GROUP`;
/// the config is also tried as `None`, and the spec is serialized as sifrun does.
pub fn image_config(data: &[u8]) {
    let mut parts = data.splitn(3, |&b| b == 0);
    let cfg = parts.next().unwrap_or_default();
    let passwd = parts.next().map(String::from_utf8_lossy);
    let group = parts.next().map(String::from_utf8_lossy);
    let parsed: Option<oci_spec::image::Config> = serde_json::from_slice(cfg).ok();
    for c in [parsed.as_ref(), None] {
        if let Ok(spec) =
            bundle_tools::config::spec_from_image_config(c, passwd.as_deref(), group.as_deref())
        {
            let _ = serde_json::to_vec_pretty(&spec);
        }
    }
    let text = String::from_utf8_lossy(cfg);
    let _ = bundle_tools::config::labels_to_annotations(&text);
    if let Some(user) = parsed.as_ref().and_then(|c| c.user().clone()) {
        let _ = bundle_tools::config::resolve_user(
            &user,
            passwd.as_deref().unwrap_or(""),
            group.as_deref().unwrap_or(""),
        );
    }
    let _ = bundle_tools::config::resolve_user(
        &text,
        passwd.as_deref().unwrap_or(""),
        group.as_deref().unwrap_or(""),
    );
    let env: Vec<String> = text.lines().map(str::to_string).collect();
    if let Ok(spec) = bundle_tools::config::spec_for_native(env, Some(&text)) {
        let _ = serde_json::to_vec(&spec);
    }
}
