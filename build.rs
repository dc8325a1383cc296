//! Records the git commit for `sifrun --version`, as runc prints it, and links the
//! binary with packed relative relocations (DT_RELR, glibc >= 2.36): a PIE Rust binary
//! otherwise carries ~16k RELA entries that the loader walks on every invocation.
//!
//! It also hands the linker `hack/symbol-order.txt` (see hack/symbol-order.sh): the
//! functions the runtime commands run, placed together at the start of `.text`. The
//! kernel maps a binary's text in 64 KiB fault-around blocks, so functions scattered
//! over 11 MB of text made `state` map 4.4 MB of it; packed, they share blocks.
use std::process::Command;

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=SIFRUN_COMMIT={commit}");
    if relr_supported() {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
    symbol_order();
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
}

/// glibc 2.36+ loads DT_RELR; older ones (and linkers without the option) must not get it.
fn relr_supported() -> bool {
    let glibc = Command::new("ldd")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let Some(ver) = glibc
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().last())
    else {
        return false;
    };
    let mut parts = ver.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (2, 36)
}

/// lld's `--symbol-ordering-file` (rustc links x86_64 Linux with its bundled lld; GNU ld
/// has no such option). SIFRUN_SYMBOL_ORDER=0 leaves the order to the linker;
/// SIFRUN_LINK_MAP=FILE writes lld's link map there (hack/symbol-order.sh reads it).
fn symbol_order() {
    println!("cargo:rerun-if-env-changed=SIFRUN_SYMBOL_ORDER");
    println!("cargo:rerun-if-env-changed=SIFRUN_LINK_MAP");
    println!("cargo:rerun-if-changed=hack/symbol-order.txt");
    let target = std::env::var("TARGET").unwrap_or_default();
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    // Another linker chosen by flags: it may not know lld's options.
    if target != "x86_64-unknown-linux-gnu"
        || flags.contains("linker-features")
        || flags.contains("fuse-ld")
        || flags.contains("linker=")
    {
        return;
    }
    if let Some(map) = std::env::var_os("SIFRUN_LINK_MAP") {
        println!(
            "cargo:rustc-link-arg-bins=-Wl,-Map={}",
            map.to_string_lossy()
        );
    }
    let order = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("hack/symbol-order.txt");
    if std::env::var("SIFRUN_SYMBOL_ORDER").is_ok_and(|v| v == "0") || !order.exists() {
        return;
    }
    println!(
        "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={},--no-warn-symbol-ordering",
        order.display()
    );
}
