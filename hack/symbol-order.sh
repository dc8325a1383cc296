#!/bin/bash
# hack/symbol-order.sh [OUT] - regenerate hack/symbol-order.txt, the function order that
# build.rs hands to lld (--symbol-ordering-file), as root.
#
# The kernel maps a binary's text in 64 KiB fault-around blocks. With the linker's own
# order, the few thousand functions a runtime command runs are spread over the whole
# 11 MB `.text`, so `state` mapped 4.4 MB of text and `exec` more; packed together they
# share blocks (peak RSS and page faults go down; nothing else changes).
#
# What it does: builds sifrun with a link map (SIFRUN_LINK_MAP), runs the runtime
# commands on a busybox bundle (create, start, state, kill, delete, run, exec, list,
# --version, and a failing command) under callgrind for the exact set of functions
# each process runs before libcontainer's clone (valgrind cannot follow namespaced
# clones), and under `perf record` (sampling, children included) for the container
# processes; maps the addresses to the linker's input sections and writes their symbols,
# the functions of the lightest commands first (state, kill, delete, start, then create,
# run, exec, then the container processes'). Names that later builds no longer have are
# ignored by the linker, so a stale file only costs locality, never correctness.
# Needs: valgrind, linux-perf, runc (for `runc spec`), busybox-static.
set -euo pipefail
HACK=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HACK/.." && pwd)
OUT=${1:-$HACK/symbol-order.txt}
PERF_RUNS=${ORDER_PERF_RUNS:-60}
. "$HACK/lib/busybox-rootfs.sh"
[ "$(id -u)" = 0 ] || { echo "must run as root" >&2; exit 1; }
for c in valgrind perf runc python3; do command -v $c >/dev/null || { echo "missing $c" >&2; exit 1; }; done

W=$(mktemp -d /tmp/sifrun-order.XXXXXX)
cleanup() {
	for r in "$W"/roots/*; do
		[ -d "$r" ] || continue
		for id in $("$W/bin/sifrun" --root "$r" list -q 2>/dev/null); do
			"$W/bin/sifrun" --root "$r" delete -f "$id" >/dev/null 2>&1 || true
		done
	done
	mountpoint -q "$W/ovl" && umount "$W/ovl"
	mountpoint -q "$W/roots" && umount "$W/roots"
	rm -rf "$W"
}
trap cleanup EXIT
mkdir -p "$W"/{bin,roots,empty,ovl,cg,perf}

if [ -z "${SIFRUN:-}" ]; then
	(cd "$ROOT" && SIFRUN_LINK_MAP=$W/sifrun.map cargo build --release -p sifrun >&2)
	cp "$ROOT/target/x86_64-unknown-linux-gnu/release/sifrun" "$W/bin/sifrun"
	MAP=$W/sifrun.map
else
	# SIFRUN=BINARY MAP=ITS_LINK_MAP: use a build made with SIFRUN_LINK_MAP
	cp "$SIFRUN" "$W/bin/sifrun"
	: "${MAP:?MAP=link map of $SIFRUN}"
fi
mount -t tmpfs -o size=64m,mode=0700 sifrun-order "$W/roots"
# valgrind cannot run fsopen: give it the binary on a read-only overlay already, so
# the sealing re-exec is not needed
mount -t overlay -o ro,lowerdir="$W/bin:$W/empty" sifrun-order-exe "$W/ovl"
ensure_busybox
make_runc_bundle "$W/true" true
make_runc_bundle "$W/sleep" sleep 1000
S=$W/bin/sifrun V=$W/ovl/sifrun R=$W/roots/r

# cg NAME ARGS...: one callgrind run of the sealed binary; output per process
cg() {
	local name=$1
	shift
	timeout 120 valgrind -q --tool=callgrind --trace-children=yes \
		--callgrind-out-file="$W/cg/$name.%p" "$V" "$@" </dev/null >/dev/null 2>&1 || true
}
"$S" --root "$R" create --bundle "$W/sleep" sl && "$S" --root "$R" start sl
"$S" --root "$R" create --bundle "$W/sleep" sk && "$S" --root "$R" start sk
"$S" --root "$R" create --bundle "$W/true" t1
cg 1-version --version
cg 1-state --root "$R" state sl
cg 1-state --root "$R" state t1
cg 1-fail --root "$R" state nosuch
cg 2-start --root "$R" start t1
sleep 0.2
cg 2-state --root "$R" state t1
cg 2-kill --root "$R" kill sk KILL
cg 2-delete --root "$R" delete t1
"$S" --root "$R" create --bundle "$W/true" t2
cg 2-delete --root "$R" delete -f t2
cg 2-delete --root "$R" delete -f sk
cg 2-list --root "$R" list
cg 3-create --root "$R" create --bundle "$W/true" t3
"$S" --root "$R" delete -f t3 >/dev/null 2>&1 || true
cg 3-run --root "$R" run --bundle "$W/true" t4
"$S" --root "$R" delete -f t4 >/dev/null 2>&1 || true
cg 3-exec --root "$R" exec sl true

# the container processes (intermediate, init, exec'd tenant): sampled
for i in $(seq "$PERF_RUNS"); do
	echo "$S --root $R create --bundle $W/true p$i && $S --root $R start p$i && $S --root $R kill sl 0 && $S --root $R delete -f p$i && $S --root $R run --bundle $W/true q$i && $S --root $R exec sl true"
done >"$W/loop.sh"
perf record -q -F 25000 -o "$W/perf/p.data" -- sh "$W/loop.sh" >/dev/null 2>&1 || true
perf report -i "$W/perf/p.data" --stdio --sort dso,sym 2>/dev/null |
	awk '$2 ~ /sifrun/ && $4 ~ /^0x/ {print $4}' >"$W/perf/addrs"

python3 - "$MAP" "$W/cg" "$W/perf/addrs" "$OUT" <<'PY'
import bisect, glob, os, re, sys

mapf, cgdir, perf_addrs, out = sys.argv[1:]
# lld map: "VMA LMA Size Align Out In Symbol"; input sections of .text are the lines
# "  vma lma size align         obj:(.text.NAME)", each followed by its symbols.
secs = []  # [start, end, name]
in_text = False
line_re = re.compile(r"^\s*([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+\d+ ( *)(\S.*)$")
for line in open(mapf, errors="replace"):
    m = line_re.match(line.rstrip("\n"))
    if not m:
        continue
    vma, size, depth, rest = int(m.group(1), 16), int(m.group(2), 16), len(m.group(3)), m.group(4)
    if depth == 0:  # an output section
        in_text = rest == ".text"
    elif not in_text:
        continue
    elif depth == 8:  # an input section: obj:(.text.NAME) or obj:(.text)
        sm = re.search(r":\((\.text[^)]*)\)$", rest)
        name = None
        if sm:
            for p in (".text.unlikely.", ".text.hot.", ".text.startup.", ".text.exit.", ".text.split.", ".text."):
                if sm.group(1).startswith(p):
                    name = sm.group(1)[len(p):]
                    break
            # a Rust function's own section (.text.<mangled name>); C objects use
            # .text or names like .text.evex: their first symbol names them
            if name and not name.startswith(("_ZN", "_R")):
                name = None
        secs.append([vma, vma + size, name])
    elif secs and secs[-1][2] is None and vma == secs[-1][0]:  # its first symbol
        secs[-1][2] = rest
secs = [s for s in secs if s[2]]
secs.sort()
starts = [s[0] for s in secs]


def lookup(a):
    i = bisect.bisect_right(starts, a) - 1
    if i >= 0 and secs[i][0] <= a < secs[i][1]:
        return secs[i][2]
    return None


rank = {}  # name -> (group, first address seen)


def add(names, group):
    for a, n in names:
        if n and (n not in rank or rank[n][0] > group):
            rank[n] = (group, a)


for f in sorted(glob.glob(f"{cgdir}/*")):
    group = int(os.path.basename(f).split("-")[0])
    names = []
    for line in open(f, errors="replace"):
        m = re.match(r"^c?fn=\(\d+\) 0x([0-9a-f]+)", line)
        if m:
            a = int(m.group(1), 16)
            names.append((a, lookup(a)))
    add(names, group)
add([(int(a, 16), lookup(int(a, 16))) for a in open(perf_addrs).read().split()], 4)
# glibc's string functions are IFUNCs: valgrind's CPU picks other variants than the
# real one, so every variant of a string function that ran goes with it.
variant = re.compile(r"^(__(?:mem|str|stp|wmem|wcs|raw)[a-z]*)_(?:sse|avx|evex|erms)")
for name, (group, a) in list(rank.items()):
    m = variant.match(name)
    if m:
        add([(a, s[2]) for s in secs if s[2].startswith(m.group(1) + "_")], group)

order = sorted(rank, key=lambda n: rank[n])
with open(out, "w") as fh:
    for n in order:
        fh.write(n + "\n")
print(f"{len(order)} symbols ({sum(1 for n in order if rank[n][0] < 4)} from callgrind) -> {out}", file=sys.stderr)
PY
