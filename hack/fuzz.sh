#!/bin/bash
# hack/fuzz.sh [MINUTES] [TARGET...] - run the cargo-fuzz targets in fuzz/ for MINUTES
# each (default 10). Targets: sif (bundle_tools::sif parser and what walks a loaded
# image), image_config (bundle_tools::config::spec_from_image_config and friends).
#
# The corpus lives in fuzz/corpus/<target> (not committed), seeded from
# fuzz/regressions/<target> and the SIF fixtures in ../shared/fixtures/sif. Every
# crash libFuzzer finds (fuzz/artifacts/<target>/crash-*, oom-*, timeout-*) is copied
# to fuzz/regressions/<target>/, which tests/integration/security/fuzz_regressions.rs
# replays in CI (`cargo test --release --test integration security::fuzz_regressions::`):
# commit it together with the fix.
#
# Toolchain: cargo-fuzz needs nightly. With `rustup toolchain list` showing a nightly,
# `cargo +nightly fuzz` is used; otherwise stable with RUSTC_BOOTSTRAP=1 (which lets
# stable take the -Z sanitizer flags cargo-fuzz passes). cargo-fuzz itself is
# installed with `cargo install cargo-fuzz` if missing.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT/fuzz"
export PATH=$HOME/.cargo/bin:/root/.cargo/bin:$PATH
MINUTES=${1:-10}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(sif image_config)

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
	FUZZ=(cargo +nightly fuzz)
else
	echo "no nightly toolchain: using stable with RUSTC_BOOTSTRAP=1" >&2
	export RUSTC_BOOTSTRAP=1
	FUZZ=(cargo fuzz)
fi
# fuzz/ is its own workspace with its own target dir
unset CARGO_TARGET_DIR

rc=0
for t in "${TARGETS[@]}"; do
	mkdir -p "corpus/$t" "artifacts/$t" "regressions/$t"
	cp -n regressions/"$t"/* "corpus/$t/" 2>/dev/null || true
	if [ "$t" = sif ]; then
		for f in ../../shared/fixtures/sif/*.sif ../../shared/fixtures/sif/sif-repo/*.sif; do
			[ -f "$f" ] && [ "$(stat -c %s "$f")" -lt 2000000 ] && cp -n "$f" "corpus/$t/" || true
		done
	fi
	before=$(ls "artifacts/$t" | wc -l)
	echo "==== $t: $MINUTES min, corpus $(ls "corpus/$t" | wc -l) inputs"
	set +e
	"${FUZZ[@]}" run "$t" "corpus/$t" -- -max_total_time=$((MINUTES * 60)) -rss_limit_mb=4096 \
		-max_len=1048576 -timeout=20 -print_final_stats=1 2>&1 | tee "artifacts/$t.log" |
		grep -E '^#[0-9]+.*(DONE|pulse)|stat::|SUMMARY|ERROR|crash-|==[0-9]+==' | tail -n 30
	r=${PIPESTATUS[0]}
	set -e
	after=$(ls "artifacts/$t" | wc -l)
	for a in "artifacts/$t"/*; do
		[ -f "$a" ] || continue
		cp -n "$a" "regressions/$t/" && echo "kept $a as regressions/$t/$(basename "$a")"
	done
	runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "artifacts/$t.log" | grep -Eo '[0-9]+$' || echo '?')
	echo "==== $t: exit $r, $runs inputs executed, $((after - before)) new crash artifacts"
	[ "$r" = 0 ] || rc=1
done
exit $rc
