#![no_main]
//! Fuzzes bundle_tools::config::spec_from_image_config (and resolve_user,
//! labels_to_annotations, spec_for_native) with `CONFIG_JSON \0 PASSWD \0 GROUP`.

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::image_config(data));
