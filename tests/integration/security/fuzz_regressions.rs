//! Replays the fuzz harnesses (fuzz/harness.rs) in CI: every input under
//! fuzz/regressions/<target>/ (inputs that once crashed, and seeds), the SIF fixtures,
//! and a few thousand deterministic mutations of them. A panic fails the test.

#[path = "../../../fuzz/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};

use crate::common::sif::fixtures_dir;
use crate::common::Rng;

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn regressions(target: &str) -> Vec<PathBuf> {
    let d = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let v = files_in(&d);
    assert!(!v.is_empty(), "no inputs in {}", d.display());
    v
}

/// Runs `f` on `data`, turning a panic into a message naming the input.
fn replay(name: &str, data: &[u8], f: fn(&[u8]), failures: &mut Vec<String>) {
    if std::panic::catch_unwind(|| f(data)).is_err() {
        failures.push(name.to_string());
    }
}

fn mutate(rng: &mut Rng, data: &[u8]) -> Vec<u8> {
    let mut d = data.to_vec();
    if d.is_empty() {
        return d;
    }
    // Bias towards the header and descriptor table, where the parser makes decisions.
    for _ in 0..1 + rng.next_u64() % 4 {
        if d.is_empty() {
            break;
        }
        let hot = d.len().min(128 + 48 * 585);
        let i = (rng.next_u64() as usize)
            % if rng.next_u64().is_multiple_of(4) {
                d.len()
            } else {
                hot
            };
        match rng.next_u64() % 5 {
            0 => d[i] ^= 1 << (rng.next_u64() % 8),
            1 => d[i] = 0xff,
            2 => d[i] = 0,
            3 => {
                let v = [0u64, 1, 0x7fff_ffff_ffff_ffff, u64::MAX, 1 << 32]
                    [(rng.next_u64() % 5) as usize];
                let end = (i + 8).min(d.len());
                let n = end - i;
                d[i..end].copy_from_slice(&v.to_le_bytes()[..n]);
            }
            _ => d.truncate(i.max(1)),
        }
    }
    d
}

fn sif_fixtures() -> Vec<(String, Vec<u8>)> {
    files_in(&fixtures_dir())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "sif"))
        .filter(|p| p.metadata().map(|m| m.len() < 2 << 20).unwrap_or(false))
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect()
}

#[test]
fn sif_regressions_and_mutations() {
    let mut failures = Vec::new();
    let mut n = 0;
    for p in regressions("sif") {
        replay(
            &p.display().to_string(),
            &std::fs::read(&p).unwrap(),
            harness::sif,
            &mut failures,
        );
        n += 1;
    }
    let fixtures = sif_fixtures();
    // Fixed seeds: the mutations are the same on every run.
    let mut rng = Rng::seeded(0x5eed_5eed);
    for (name, data) in &fixtures {
        replay(name, data, harness::sif, &mut failures);
        for cut in [0, 1, 41, 42, 127, 128, 129, 200, 4096, data.len() / 2] {
            if cut < data.len() {
                replay(
                    &format!("{name}[..{cut}]"),
                    &data[..cut],
                    harness::sif,
                    &mut failures,
                );
            }
        }
        for k in 0..300 {
            let m = mutate(&mut rng, data);
            replay(
                &format!("{name} mutation {k}"),
                &m,
                harness::sif,
                &mut failures,
            );
            n += 1;
        }
    }
    eprintln!("{n} SIF inputs replayed ({} fixtures)", fixtures.len());
    assert!(
        failures.is_empty(),
        "harness::sif panicked on: {failures:?}"
    );
}

#[test]
fn image_config_regressions_and_mutations() {
    let mut failures = Vec::new();
    let mut inputs: Vec<(String, Vec<u8>)> = regressions("image_config")
        .into_iter()
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    let seeds = inputs.clone();
    let mut rng = Rng::seeded(0xc0ff_ee11);
    for (name, data) in &seeds {
        for k in 0..200 {
            inputs.push((format!("{name} mutation {k}"), mutate(&mut rng, data)));
        }
    }
    for (name, data) in &inputs {
        replay(name, data, harness::image_config, &mut failures);
    }
    eprintln!("{} image-config inputs replayed", inputs.len());
    assert!(
        failures.is_empty(),
        "harness::image_config panicked on: {failures:?}"
    );
}
