#!/bin/bash
# Conformance step uses the runner's CLI as of conformance/src/main.rs:
#   conformance --runtime PATH --json FILE ; conformance compare REF.json CANDIDATE.json
# (the step is skipped with a notice if the built runner lacks --runtime/--json).
#
# hack/test.sh - the project's whole test run (what .ci/run calls), as root, on a fresh
# Debian bookworm machine or an already set-up one:
#   0. install: the Debian packages the tests need (only the missing ones) and, when the
#      engines step runs, the container engines (conformance/engines/setup-engines.sh
#      install); both idempotent. TEST_SKIP_INSTALL=1 skips this.
#   1. cargo build --release --workspace
#   1b. check-aarch64: cargo check --workspace --target aarch64-unknown-linux-gnu (the
#      code compiles for arm64; rustup adds the target's std if missing)
#   2. vendor: hack/vendor-check.sh (third_party/<crate> is the pristine crates.io package
#      plus third_party/patches/<crate>/*.patch, nothing more, nothing less)
#   2b. layers: hack/check-layers.py (no import circle in src/ or bundle-tools/src, no
#      command module importing another)
#   3. cargo fmt --all --check
#   4. cargo clippy --workspace --all-targets -- -D warnings
#   5. cargo test --release --workspace          (tests need root and run for real)
#   6. conformance suite: runc vs target/x86_64-unknown-linux-gnu/release/sifrun, compared
#   7. engine scenarios (podman, containerd, docker, rootless podman, containerd's CRI,
#      Slurm): runc vs sifrun, compared
#      (conformance/engines/run-engines.sh + compare.sh)
#   8. leak check: no new mounts under /tmp or /run/sifrun, no new loop devices
# Every step runs even if an earlier one failed (except when the build fails); the
# script exits 1 if any step failed. Results go to $TEST_OUT (default target/test-results).
#
# Environment:
#   TEST_SKIP_INSTALL=1       no apt-get, no engine set-up (the machine is ready)
#   TEST_STEPS="build check-aarch64 vendor layers fmt clippy test conformance engines"   steps to run (leak check always)
#   ENGINES_TIMEOUT=1200      seconds for the sifrun run-engines.sh run (killed after that;
#                             the runc run gets 600)
#   ENGINES_KNOWN_FAILURES=conformance/engines/known-failures-sifrun.txt
#   RTEST_TIMEOUT=30          per engine command (passed to run-engines.sh)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# not root: re-run with `sudo -E` (hack/lib/as-root.sh)
. "$ROOT/hack/lib/as-root.sh"
need_root "$ROOT/hack/test.sh" "$@"
export PATH=$HOME/.cargo/bin:/root/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
command -v cargo >/dev/null || { echo "no cargo on PATH ($PATH): install a Rust toolchain (rustup)" >&2; exit 1; }

TEST_STEPS=${TEST_STEPS:-build check-aarch64 vendor layers fmt clippy test conformance engines}
TEST_OUT=${TEST_OUT:-$ROOT/target/test-results}
ENGINES_TIMEOUT=${ENGINES_TIMEOUT:-1200}
ENGINES_KNOWN_FAILURES=${ENGINES_KNOWN_FAILURES:-$ROOT/conformance/engines/known-failures-sifrun.txt}
export RTEST_TIMEOUT=${RTEST_TIMEOUT:-30}
SIFRUN=${SIFRUN:-$ROOT/target/x86_64-unknown-linux-gnu/release/sifrun}
RUNC=/usr/sbin/runc
mkdir -p "$TEST_OUT"

T0=$SECONDS
declare -a RESULTS=()
NPASS=0 NFAIL=0
want_step() { [[ " $TEST_STEPS " == *" $1 "* ]]; }
hms() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# step NAME COMMAND...: run with a header and timing, record the result
step() {
	local name=$1 t rc
	shift
	printf '\n==================== %s  (%s, +%s)\n' "$name" "$(date +%H:%M:%S)" "$(hms $((SECONDS - T0)))"
	t=$SECONDS
	set +e
	"$@"
	rc=$?
	set -e
	if [ $rc = 0 ]; then
		RESULTS+=("PASS  $name  $(hms $((SECONDS - t)))")
		NPASS=$((NPASS + 1))
	else
		RESULTS+=("FAIL  $name  $(hms $((SECONDS - t)))  (exit $rc)")
		NFAIL=$((NFAIL + 1))
	fi
	printf -- '-------------------- %s: %s in %s\n' "$name" "$([ $rc = 0 ] && echo ok || echo "FAILED (exit $rc)")" "$(hms $((SECONDS - t)))"
	return $rc
}
skipped() { RESULTS+=("SKIP  $1  ($2)"); printf '\n==================== %s: SKIPPED (%s)\n' "$1" "$2"; }

echo "hack/test.sh: $(git -C "$ROOT" log -1 --format='%h %s' 2>/dev/null || echo 'no git') on $(uname -r), $(nproc) cpus"
echo "steps: $([ "${TEST_SKIP_INSTALL:-0}" = 1 ] || echo "install ")$TEST_STEPS leaks; results in $TEST_OUT"

# ---- install (before the leak baseline: engine set-up is not under test) -------------
# Debian packages the tests and scripts call (see `grep -rhoE 'Command::new\("[a-z0-9_-]+"'
# tests bundle-tools/tests conformance/src` and the hack/ and conformance/engines/ scripts).
TEST_PKGS=(runc crun squashfs-tools squashfuse fuse-overlayfs fuse3 busybox-static libseccomp-dev libc6-dev
	pkg-config umoci skopeo conmon tmux jq siftool python3 time iproute2 procps util-linux protobuf-compiler
	mount kmod passwd uidmap coreutils tar git criu)
s_install() {
	local missing=() p
	export DEBIAN_FRONTEND=noninteractive
	for p in "${TEST_PKGS[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "installing: ${missing[*]}"
		apt-get -o DPkg::Lock::Timeout=300 update -qq || return
		apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" || return
	else
		echo "all ${#TEST_PKGS[@]} packages already installed"
	fi
	cargo --version
	rustc --version
	if want_step engines; then
		echo "--- container engines (conformance/engines/setup-engines.sh install)"
		conformance/engines/setup-engines.sh install
	fi
}
if [ "${TEST_SKIP_INSTALL:-0}" = 1 ]; then
	skipped install "TEST_SKIP_INSTALL=1"
else
	step install s_install || true
fi

# ---- leak check baseline ----------------------------------------------------------
leak_mounts() { awk '$2 ~ "^/tmp/" || $2 ~ "^/run/sifrun(/|$)" {print $2}' /proc/self/mountinfo /proc/mounts 2>/dev/null | sort -u; }
leak_loops() { losetup -a 2>/dev/null | sort; }
leak_mounts >"$TEST_OUT/mounts.before"
leak_loops >"$TEST_OUT/loops.before"

# ---- steps -------------------------------------------------------------------------
s_build() { cargo build --release --workspace; }
s_check_aarch64() {
	local t=aarch64-unknown-linux-gnu
	rustup target list --installed 2>/dev/null | grep -qx "$t" || rustup target add "$t" || return
	# zstd-sys's build script compiles C; a check links nothing, so without a cross gcc
	# the host's will do
	local cc=()
	command -v aarch64-linux-gnu-gcc >/dev/null || cc=(CC_aarch64_unknown_linux_gnu=gcc AR_aarch64_unknown_linux_gnu=ar)
	env "${cc[@]}" cargo check --workspace --target "$t"
}
s_vendor() { "$ROOT/hack/vendor-check.sh"; }
s_layers() { python3 "$ROOT/hack/check-layers.py"; }
s_fmt() { cargo fmt --all --check; }
s_clippy() { cargo clippy --workspace --all-targets -- -D warnings; }
s_test() { cargo test --release --workspace; }

conformance_bin() { echo "$ROOT/target/x86_64-unknown-linux-gnu/release/conformance"; }
run_conformance() {
	local cb rc=0
	cb=$(conformance_bin)
	[ -x "$cb" ] || { echo "no $cb (build step failed?)"; return 1; }
	echo "--- conformance with runc ($RUNC)"
	"$cb" --runtime "$RUNC" --json "$TEST_OUT/conformance-runc.json" >"$TEST_OUT/conformance-runc.tap" 2>&1 || true
	# runc's own failures are the baseline (what it lacks, e.g. runc 1.1's missing
	# ioPriority), not sifrun's: labelled so, so that no reader counts them as ours
	grep -E '^(not ok|# (pass|fail|skip|tests))' "$TEST_OUT/conformance-runc.tap" | tail -n 40 | sed 's/^/    baseline runc: /' || true
	tail -n 3 "$TEST_OUT/conformance-runc.tap"
	echo "--- conformance with sifrun ($SIFRUN)"
	"$cb" --runtime "$SIFRUN" --json "$TEST_OUT/conformance-sifrun.json" >"$TEST_OUT/conformance-sifrun.tap" 2>&1 || true
	grep -E '^not ok' "$TEST_OUT/conformance-sifrun.tap" | head -n 60 || true
	tail -n 3 "$TEST_OUT/conformance-sifrun.tap"
	echo "--- compare (an assertion passing with runc must pass with sifrun)"
	[ -s "$TEST_OUT/conformance-runc.json" ] && [ -s "$TEST_OUT/conformance-sifrun.json" ] ||
		{ echo "missing JSON results (see $TEST_OUT/conformance-*.tap)"; return 1; }
	"$cb" compare "$TEST_OUT/conformance-runc.json" "$TEST_OUT/conformance-sifrun.json" || rc=$?
	return $rc
}
s_conformance() { run_conformance; }

ENG=$ROOT/conformance/engines
s_engines() {
	[ -x "$SIFRUN" ] || { echo "no $SIFRUN (build step failed?)"; return 1; }
	local rc=0 t
	t=$SECONDS
	echo "--- engine scenarios with runc ($RUNC): the baseline on this machine"
	timeout -k 60 600 "$ENG/run-engines.sh" "$RUNC" >"$TEST_OUT/engines-runc.txt" 2>"$TEST_OUT/engines-runc.err" || true
	grep -E '^(FAIL|SKIP)|passed, ' "$TEST_OUT/engines-runc.txt" || true
	echo "    (runc run took $(hms $((SECONDS - t))))"
	if ! "$ENG/compare.sh" "$ENG/baseline-runc.txt" "$TEST_OUT/engines-runc.txt" >"$TEST_OUT/engines-runc-vs-recorded.txt"; then
		echo "warning: runc on this machine differs from conformance/engines/baseline-runc.txt:"
		sed 's/^/    /' "$TEST_OUT/engines-runc-vs-recorded.txt"
	fi
	t=$SECONDS
	echo "--- engine scenarios with sifrun ($SIFRUN)"
	timeout -k 60 "$ENGINES_TIMEOUT" "$ENG/run-engines.sh" "$SIFRUN" 2>"$TEST_OUT/engines-sifrun.err" | tee "$TEST_OUT/engines-sifrun.txt" || true
	echo "    (sifrun run took $(hms $((SECONDS - t))))"
	echo "--- compare (a scenario passing with runc must pass with sifrun)"
	local known=()
	[ -f "$ENGINES_KNOWN_FAILURES" ] && known=(--known-failures "$ENGINES_KNOWN_FAILURES")
	"$ENG/compare.sh" "${known[@]}" "$TEST_OUT/engines-runc.txt" "$TEST_OUT/engines-sifrun.txt" || rc=1
	return $rc
}

s_leaks() {
	local rc=0 new
	# give lazily-torn-down FUSE mounts a moment
	sleep 1
	new=$(comm -13 "$TEST_OUT/mounts.before" <(leak_mounts))
	if [ -n "$new" ]; then echo "LEAKED mounts:"; sed 's/^/    /' <<<"$new"; rc=1; fi
	new=$(comm -13 "$TEST_OUT/loops.before" <(leak_loops))
	if [ -n "$new" ]; then echo "LEAKED loop devices:"; sed 's/^/    /' <<<"$new"; rc=1; fi
	if [ -s "$TEST_OUT/mounts.before" ] || [ -s "$TEST_OUT/loops.before" ]; then
		echo "note: present before the run (not counted):"
		cat "$TEST_OUT/mounts.before" "$TEST_OUT/loops.before" | sed 's/^/    /'
	fi
	[ $rc = 0 ] && echo "no leaked mounts under /tmp or /run/sifrun, no leaked loop devices"
	return $rc
}


if want_step build; then
	step build s_build || { echo "build failed: skipping the other steps"; want_step() { false; }; }
fi
want_step check-aarch64 && { step check-aarch64 s_check_aarch64 || true; }
want_step vendor && { step vendor s_vendor || true; }
want_step layers && { step layers s_layers || true; }
want_step fmt && { step fmt s_fmt || true; }
want_step clippy && { step clippy s_clippy || true; }
want_step test && { step test s_test || true; }
if want_step conformance; then
	cb=$(conformance_bin)
	if [ -x "$cb" ] && "$cb" --help 2>&1 | grep -q -- '--json' && "$cb" --help 2>&1 | grep -q -- '--runtime'; then
		step conformance s_conformance || true
	else
		skipped conformance "TODO: $cb has no --runtime/--json yet"
	fi
fi
want_step engines && { step engines s_engines || true; }
step leaks s_leaks || true

printf '\n==================== summary (total %s)\n' "$(hms $((SECONDS - T0)))"
printf '%s\n' "${RESULTS[@]}"
echo "steps: $NPASS passed, $NFAIL failed"
[ "$NFAIL" = 0 ]
