#!/bin/bash
# hack/fault-inject.sh [ITERATIONS] - the long run of tests/integration/reliability/faults.rs
# (the test binary `integration`, module `reliability::faults`):
# SIGKILL to sifrun at random points of create, start, delete, mount and umount
# (kernel and fuse; alone, and while another bundle shares the image mount:
# sigkill_during_shared_*), ITERATIONS times each (default 200; CI runs 20). After every
# kill, `delete --force` / `umount --force` must leave no state dir, cgroup, process,
# mount or loop device (beyond what the other bundle holds, whose ref must be the only
# one left), and the same id / bundle path must work again.
#
# Runs the tests marked #[ignore] for known bugs too (--include-ignored).
# Needs root. Env: CARGO_TARGET_DIR (as for cargo), SIFRUN_TEST_SEED (replay a run:
# each test prints the seed it used), FILTER (test name filter, default all of
# reliability::faults::, e.g. FILTER=reliability::faults::sigkill_during_mount).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export PATH=$HOME/.cargo/bin:/root/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
[ "$(id -u)" = 0 ] || { echo "hack/fault-inject.sh must run as root" >&2; exit 2; }
N=${1:-200}
export SIFRUN_FAULT_ITERATIONS=$N
echo "fault injection: $N iterations per operation"
# one test at a time: each calibrates its kill delays on an idle machine
cargo test --release --test integration -- --include-ignored --test-threads=1 --nocapture ${FILTER:-reliability::faults::} 2>&1 |
	grep -E 'iterations|seed|^test |panicked|not recovered|left|test result' || true
exit "${PIPESTATUS[0]}"
