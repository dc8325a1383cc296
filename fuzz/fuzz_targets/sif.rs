#![no_main]
//! Fuzzes the SIF parser (bundle_tools::sif) and everything that walks a loaded image.

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::sif(data));
