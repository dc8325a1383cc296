#!/bin/bash
# hack/bench.sh [options] - sifrun against crun, runc (and youki) side by side, as root.
#
# Installs what it needs (Debian: hyperfine runc crun busybox-static time squashfuse
# fuse-overlayfs fuse3 squashfs-tools linux-perf strace; youki only with --with-youki,
# by `cargo install youki --features v1,v2,seccomp --root /opt/youki`), builds sifrun
# (`cargo build --release`, default target dir), copies the binary into the work dir (so
# a parallel rebuild cannot swap it mid-run), and measures with hyperfine (warm-up + runs):
#   lifecycle   create + start + delete -f of a busybox container running `true`
#   run         `run` of `true` in the foreground (+ a check that exit code 3 comes back)
#   exec        `exec ID true` into a running container (`sleep 1000`)
#   state-list  `state ID` and `list` with 100 created (not started) containers present
#   rss         peak RSS (/usr/bin/time -v) of create, start, state, kill, delete, run, exec
#   mount       `sifrun mount` + `sifrun umount` of busybox_amd64.sif, --mode kernel and
#               --mode fuse, against the same mounts done by hand in a shell (the floor)
#   concurrent  50 containers created+started at once (xargs -P), then deleted at once:
#               wall times and failures (3 rounds)
#   size        binary size, dynamic libraries, `--version` time
#   onestep     `oci run --image` as root (vs plain `run`) and as rtest-user (vs ch-run),
#               user `mount --mode fuse` + `umount` vs the by-hand floor (issue 18)
#   build       `sif build` of a Debian tree vs mksquashfs, from an OCI archive vs unpack
#               + mksquashfs by hand (issue 18; hack/lib/bench-onestep.sh)
#   many        N = 1, 8, 32, 64 `oci run --image` of one SIF at once (root kernel mode;
#               rtest-user in FUSE mode), shared image mounts vs --no-share, running
#               `true` and `cat` of a 32 MiB file of the image: wall time,
#               failures, image mounts / FUSE daemons alive at the peak, page cache of
#               the image (fincore) and pgpgin after drop_caches (env BENCH_MANY_N)
#   profile     (only with --profile) perf stat (task-clock, page faults, context
#               switches) per command and strace -c -f syscall counts
# Every runtime gets its own --root and the same config.json (`runc spec` with
# process.terminal=false; the spec's namespaces, including network, unchanged).
#
# crun refuses this host's hybrid cgroup layout (v1 controllers + cgroup2 at
# /sys/fs/cgroup/unified), so the script re-executes itself inside `unshare -m` with
# /sys/fs/cgroup/unified unmounted (env "ns": v1 only) and runs every runtime there;
# sifrun, runc (and youki) are also measured outside (env "host": hybrid). Ratios are
# only taken between runtimes of the same env. mount and size run on the host only.
#
# Results: BENCHMARKS.md (or --out FILE) with the machine, versions, one table per
# measure (medians, sifrun's ratio to each peer) and the targets of issue 7; raw
# hyperfine JSON, logs and TSVs stay in the work dir (printed at the end; removed unless
# --keep). Anything in the old BENCHMARKS.md after the line
# `<!-- notes: kept by hack/bench.sh -->` is carried over.
#
# Options:
#   --with-youki        also install (if missing) and measure youki (/opt/youki/bin/youki)
#   --runs N            hyperfine runs per command (env BENCH_RUNS, default 30)
#   --warmup N          hyperfine warm-up runs (env BENCH_WARMUP, default 3)
#   --only "M ..."      measures to run (env BENCH_ONLY; names above; default all but profile)
#   --profile           add the profile measure (env BENCH_PROFILE=1)
#   --no-build          use target/x86_64-unknown-linux-gnu/release/sifrun as it is (env SIFRUN=PATH: that binary)
#   --no-install        do not apt-get / cargo install anything
#   --no-ns             skip the unshare env (no crun)
#   --out FILE          report path (default BENCHMARKS.md at the repo root; "-" = none)
#   --keep              keep the work dir
# Env: BENCH_CONTAINERS=100 (state-list), BENCH_CONCURRENT=50, BENCH_CONC_ROUNDS=3,
#      BENCH_RSS_RUNS=5, BENCH_PROFILE_RUNS=10, BENCH_SIF=/work/shared/fixtures/sif/busybox_amd64.sif
#      (else ../shared/... next to the repo), BENCH_NOTE="text" (added to the report),
#      BENCH_USER=rtest-user, BENCH_TREE_DIR=/var/tmp/sifrun-bench, BENCH_BUILD_RUNS=3 (onestep, build).
set -euo pipefail
SELF=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
HACK=$(dirname "$SELF")
ROOT=$(cd "$HACK/.." && pwd)
export PATH=$HOME/.cargo/bin:/root/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
. "$HACK/lib/busybox-rootfs.sh"
# the user measures' user (RTEST_USER), made by rt_ensure_user as the tests make it
# (with subordinate ids)
RTEST_USER=${BENCH_USER:-rtest-user}
. "$ROOT/conformance/engines/engines-lib.sh"
. "$HACK/lib/bench-onestep.sh"

usage() { sed -n '2,59p' "$SELF" | sed 's/^# \{0,1\}//' >&2; exit 2; }
ALL_MEASURES="lifecycle run exec state-list rss mount concurrent size onestep build many"
WITH_YOUKI=${BENCH_WITH_YOUKI:-0} DO_BUILD=1 DO_INSTALL=1 DO_NS=1 KEEP=0
RUNS=${BENCH_RUNS:-30} WARMUP=${BENCH_WARMUP:-3} ONLY=${BENCH_ONLY:-$ALL_MEASURES}
[ "${BENCH_PROFILE:-0}" = 1 ] && ONLY="$ONLY profile"
OUT=${BENCH_OUT:-$ROOT/BENCHMARKS.md}
INNER=
while [ $# -gt 0 ]; do
	case $1 in
	--with-youki) WITH_YOUKI=1; shift ;;
	--runs) RUNS=$2; shift 2 ;;
	--runs=*) RUNS=${1#*=}; shift ;;
	--warmup) WARMUP=$2; shift 2 ;;
	--warmup=*) WARMUP=${1#*=}; shift ;;
	--only) ONLY=$2; shift 2 ;;
	--only=*) ONLY=${1#*=}; shift ;;
	--profile) ONLY="$ONLY profile"; shift ;;
	--no-build) DO_BUILD=0; shift ;;
	--no-install) DO_INSTALL=0; shift ;;
	--no-ns) DO_NS=0; shift ;;
	--out) OUT=$2; shift 2 ;;
	--out=*) OUT=${1#*=}; shift ;;
	--keep) KEEP=1; shift ;;
	--inner-ns) INNER=ns; shift ;;   # internal: the part that runs inside unshare -m
	-h | --help) usage ;;
	*) echo "unknown argument $1" >&2; usage ;;
	esac
done
NCONT=${BENCH_CONTAINERS:-100}
NPAR=${BENCH_CONCURRENT:-50}
CROUNDS=${BENCH_CONC_ROUNDS:-3}
RSS_RUNS=${BENCH_RSS_RUNS:-5}
PROF_RUNS=${BENCH_PROFILE_RUNS:-10}
want() { [[ " $ONLY " == *" $1 "* ]]; }
log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (it creates real containers and mounts)"

# ---------------------------------------------------------------- runtimes ----------
rt_bin() {
	case $1 in
	sifrun) echo "$WORK/bin/sifrun" ;;
	runc) command -v runc ;;
	crun) command -v crun ;;
	youki) echo /opt/youki/bin/youki ;;
	esac
}
# run_guard RT: a prefix for foreground `run` of runtimes that may hang in it (youki)
run_guard() { [ "$1" != youki ] || echo "timeout -s KILL 20 "; }
# rt_root ENV RT PURPOSE: a state root of its own for each runtime and measure
rt_root() {
	local d=$WORK/roots/$1/$2-$3
	mkdir -p "$d"
	echo "$d"
}
# rt_ids BIN ROOT: container ids in ROOT (the first column of `list`; youki has no -q)
rt_ids() { "$1" --root "$2" list 2>/dev/null | awk 'NR > 1 && NF {print $1}'; }
# force-delete whatever containers are left in every root of ENV
cleanup_roots() {
	local env=$1 d rt bin id
	for d in "$WORK"/roots/"$env"/*; do
		[ -d "$d" ] || continue
		rt=$(basename "$d")
		rt=${rt%%-*}
		bin=$(rt_bin "$rt") || continue
		for id in $(rt_ids "$bin" "$d"); do
			"$bin" --root "$d" delete -f "$id" >/dev/null 2>&1 || true
		done
	done
}
load_mark() { echo "$1	$2	$(cut -d' ' -f1 /proc/loadavg)	$(busy_procs)" >>"$WORK/results/load.tsv"; }
# processes of other work (compilers, linkers, test runners) running right now
busy_procs() { ps -eo stat=,comm= | awk '$1 ~ /^R/ && $2 !~ /^(ps|awk|bench.sh|hyperfine)$/' | wc -l; }

# hf ENV NAME HYPERFINE-ARGS...: side-by-side hyperfine run, JSON into results/ENV/NAME.json
hf() {
	local env=$1 name=$2
	shift 2
	load_mark "$env" "$name"
	log "$env/$name: hyperfine --warmup $WARMUP --runs $RUNS"
	timeout -s KILL 1800 hyperfine --warmup "$WARMUP" --runs "$RUNS" -i --style basic \
		--export-json "$WORK/results/$env/$name.json" "$@" >"$WORK/logs/$env-$name.log" 2>&1 ||
		log "$env/$name: hyperfine failed (see $WORK/logs/$env-$name.log)"
	grep -E '^(Benchmark|  Time|  Range)' "$WORK/logs/$env-$name.log" | sed 's/^/    /' >&2 || true
}

# hf_alternate ENV NAME -n NAME CMD ...: like hf, but one run of each command in turn,
# WARMUP + RUNS rounds (ABAB, not AAABBB), merged into hyperfine's JSON shape. For
# measures whose machine state drifts from run to run: on this ext4 (no journal,
# `discard`), each tree unpacked and removed makes the next one slower (sys time
# 2.7 -> 6.9 s over six builds in a row), so the command measured second paid more.
hf_alternate() {
	local env=$1 name=$2 i j names=() cmds=() dir
	shift 2
	while [ $# -ge 2 ] && [ "$1" = -n ]; do
		names+=("$2") cmds+=("$3")
		shift 3
	done
	load_mark "$env" "$name"
	log "$env/$name: hyperfine, one run of each command in turn, $WARMUP + $RUNS rounds"
	dir=$WORK/results/$env/$name.runs
	mkdir -p "$dir"
	for i in $(seq $((WARMUP + RUNS))); do
		for j in "${!cmds[@]}"; do
			timeout -s KILL 1800 hyperfine --runs 1 -i --style basic -n "${names[$j]}" \
				--export-json "$dir/$i.$j.json" "${cmds[$j]}" >>"$WORK/logs/$env-$name.log" 2>&1 ||
				log "$env/$name: hyperfine failed (see $WORK/logs/$env-$name.log)"
		done
	done
	python3 - "$dir" "$WARMUP" "$WORK/results/$env/$name.json" <<'PY'
import glob, json, os, statistics, sys
d, warm, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
runs = {}
for f in glob.glob(f"{d}/*.json"):
    rnd, j = map(int, os.path.basename(f).split(".")[:2])
    if rnd <= warm:
        continue
    for r in json.load(open(f))["results"]:
        e = runs.setdefault(j, {"command": r["command"], "times": [], "exit_codes": []})
        e["times"] += r.get("times") or [r["mean"]]
        e["exit_codes"] += r.get("exit_codes") or []
res = []
for j in sorted(runs):
    e, t = runs[j], runs[j]["times"]
    res.append(dict(e, mean=statistics.mean(t), median=statistics.median(t), min=min(t), max=max(t),
                    stddev=statistics.stdev(t) if len(t) > 1 else None))
json.dump({"results": res}, open(out, "w"))
for e in res:
    print(f"    Benchmark: {e['command']}: median {e['median']:.3f} s over {len(e['times'])} runs", file=sys.stderr)
PY
}

# ---------------------------------------------------------------- measures ----------
m_lifecycle() {
	local env=$1 rt b r args=()
	shift
	for rt in "$@"; do
		b=$(rt_bin "$rt")
		r=$(rt_root "$env" "$rt" lc)
		args+=(-n "$rt" "$b --root $r create --bundle $BT lc && $b --root $r start lc && $b --root $r delete -f lc")
	done
	hf "$env" lifecycle "${args[@]}"
	cleanup_roots "$env"
}

m_run() {
	local env=$1 rt b r code args=()
	shift
	for rt in "$@"; do
		b=$(rt_bin "$rt")
		r=$(rt_root "$env" "$rt" run)
		# youki 0.7's foreground run blocks signals only after the start, so a container
		# that exits first leaves it in sigwait for good: give it a deadline (costs ~1 ms).
		args+=(-n "$rt" "$(run_guard "$rt")$b --root $r run --bundle $BT rn")
		# exit code propagation: the container exits 3
		set +e
		$(run_guard "$rt") "$b" --root "$r" run --bundle "$BX" rx </dev/null >/dev/null 2>>"$WORK/logs/$env-run-exit.log"
		code=$?
		set -e
		"$b" --root "$r" delete -f rx >/dev/null 2>&1 || true
		echo "$env	$rt	$code" >>"$WORK/results/run-exit.tsv"
	done
	hf "$env" run -N "${args[@]}"
	cleanup_roots "$env"
}

m_exec() {
	local env=$1 rt b r args=()
	shift
	for rt in "$@"; do
		b=$(rt_bin "$rt")
		r=$(rt_root "$env" "$rt" exec)
		"$b" --root "$r" create --bundle "$BS" ex && "$b" --root "$r" start ex ||
			{ log "$env/exec: $rt could not start the sleep container"; continue; }
		args+=(-n "$rt" "$b --root $r exec ex true")
	done
	[ ${#args[@]} = 0 ] || hf "$env" exec -N "${args[@]}"
	cleanup_roots "$env"
}

m_state_list() {
	local env=$1 rt b r n mid sargs=() largs=()
	shift
	mid=$(printf 'c%03d' $(((NCONT + 1) / 2)))
	for rt in "$@"; do
		b=$(rt_bin "$rt")
		r=$(rt_root "$env" "$rt" many)
		log "$env/state-list: $rt creates $NCONT containers"
		seq -f 'c%03g' 1 "$NCONT" | xargs -P 2 -I{} "$b" --root "$r" create --bundle "$BT" {} \
			2>>"$WORK/logs/$env-state-list-create.log" || true
		n=$(rt_ids "$b" "$r" | wc -l)
		echo "$env	$rt	$n" >>"$WORK/results/state-list-count.tsv"
		[ "$n" = "$NCONT" ] || log "$env/state-list: $rt has $n containers, not $NCONT"
		sargs+=(-n "$rt" "$b --root $r state $mid")
		largs+=(-n "$rt" "$b --root $r list")
	done
	hf "$env" state -N "${sargs[@]}"
	hf "$env" list -N "${largs[@]}"
	for rt in "$@"; do
		b=$(rt_bin "$rt")
		r=$(rt_root "$env" "$rt" many)
		rt_ids "$b" "$r" | xargs -r -P 2 -n 1 "$b" --root "$r" delete -f >/dev/null 2>&1 || true
	done
	cleanup_roots "$env"
}

# rss_one ENV RT CMD OUTFILE ARGS...: one /usr/bin/time -v; appends "env rt cmd kB"
rss_one() {
	local env=$1 rt=$2 cmd=$3 tf=$WORK/logs/time.$$
	shift 3
	if /usr/bin/time -v -o "$tf" "$@" </dev/null >/dev/null 2>>"$WORK/logs/$env-rss.log"; then
		echo "$env	$rt	$cmd	$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tf")" >>"$WORK/results/rss.tsv"
	else
		echo "$env	$rt	$cmd	fail" >>"$WORK/results/rss.tsv"
	fi
}

m_rss() {
	local env=$1 rt b r i
	shift
	load_mark "$env" rss
	log "$env/rss: $RSS_RUNS rounds of create/start/state/delete/run/exec/kill/--version"
	for rt in "$@"; do
		b=$(rt_bin "$rt")
		r=$(rt_root "$env" "$rt" rss)
		"$b" --root "$r" create --bundle "$BS" ex && "$b" --root "$r" start ex || log "$env/rss: $rt: no sleep container"
		for i in $(seq "$RSS_RUNS"); do
			rss_one "$env" "$rt" create "$b" --root "$r" create --bundle "$BT" rs
			rss_one "$env" "$rt" start "$b" --root "$r" start rs
			rss_one "$env" "$rt" state "$b" --root "$r" state rs
			rss_one "$env" "$rt" delete "$b" --root "$r" delete -f rs
			rss_one "$env" "$rt" run $(run_guard "$rt") "$b" --root "$r" run --bundle "$BT" rr
			rss_one "$env" "$rt" exec "$b" --root "$r" exec ex true
			# kill: SIGKILL to a sleeper of its own (kill of an exited container fails)
			"$b" --root "$r" create --bundle "$BS" rk && "$b" --root "$r" start rk &&
				rss_one "$env" "$rt" kill "$b" --root "$r" kill rk KILL
			"$b" --root "$r" delete -f rk >/dev/null 2>&1 || true
			rss_one "$env" "$rt" --version "$b" --version
		done
	done
	cleanup_roots "$env"
}

m_concurrent() {
	local env=$1 rt b r i t0 t1 t2 ff fails left
	shift
	load_mark "$env" concurrent
	for rt in "$@"; do
		b=$(rt_bin "$rt")
		r=$(rt_root "$env" "$rt" conc)
		for i in $(seq "$CROUNDS"); do
			ff=$WORK/logs/conc-fail.$env.$rt.$i
			: >"$ff"
			t0=$EPOCHREALTIME
			seq -f 'p%02g' 1 "$NPAR" | xargs -P "$NPAR" -I{} sh -c \
				'"$1" --root "$2" create --bundle "$3" "$4" && "$1" --root "$2" start "$4" || echo "$4 up" >>"$5"' \
				sh "$b" "$r" "$BT" {} "$ff" 2>>"$WORK/logs/$env-concurrent.log" || true
			t1=$EPOCHREALTIME
			seq -f 'p%02g' 1 "$NPAR" | xargs -P "$NPAR" -I{} sh -c \
				'"$1" --root "$2" delete -f "$3" || echo "$3 delete" >>"$4"' \
				sh "$b" "$r" {} "$ff" 2>>"$WORK/logs/$env-concurrent.log" || true
			t2=$EPOCHREALTIME
			fails=$(wc -l <"$ff")
			left=$(rt_ids "$b" "$r" | wc -l)
			[ "$left" = 0 ] || cleanup_roots "$env"
			echo "$env	$rt	$i	$(us "$t0" "$t1")	$(us "$t1" "$t2")	$fails	$left" >>"$WORK/results/concurrent.tsv"
			log "$env/concurrent: $rt round $i: up $(($(us "$t0" "$t1") / 1000)) ms, delete $(($(us "$t1" "$t2") / 1000)) ms, failures $fails, left $left"
		done
	done
}
# us T0 T1: microseconds between two $EPOCHREALTIME values
us() { echo $((${2/./} - ${1/./})); }

m_mount() {
	local env=host b=$WORK/bin/sifrun r off size m=$WORK/mnt
	r=$(rt_root host sifrun mount)
	read -r off size < <("$b" sif list --json "$SIF" | python3 -c '
import json, sys
objs = json.load(sys.stdin)
fs = [o for o in objs if o.get("data_type") == "FS" and o.get("fs_type") == "Squashfs"]
print(fs[0]["offset"], fs[0]["size"])')
	echo "$off $size" >"$WORK/results/mount-partition.txt"
	mkdir -p "$m"
	cat >"$WORK/floor-kernel.sh" <<EOF
#!/bin/sh
# by hand: the mounts sifrun mount --mode kernel makes, then undone
set -e
B=\$1
mkdir -p \$B/layers/0 \$B/rootfs \$B/overlay/upper \$B/overlay/work
L=\$(losetup -r -f --show -o $off --sizelimit $size $SIF)
mount -t squashfs -o ro \$L \$B/layers/0
mount -t overlay overlay -o lowerdir=\$B/layers/0,upperdir=\$B/overlay/upper,workdir=\$B/overlay/work \$B/rootfs
umount \$B/rootfs
umount \$B/layers/0
losetup -d \$L
rm -rf \$B
EOF
	cat >"$WORK/floor-fuse.sh" <<EOF
#!/bin/sh
# by hand: the mounts sifrun mount --mode fuse makes (as root), then undone
set -e
B=\$1
mkdir -p \$B/layers/0 \$B/rootfs \$B/overlay/upper \$B/overlay/work
squashfuse -o ro,offset=$off,allow_other $SIF \$B/layers/0
fuse-overlayfs -o lowerdir=\$B/layers/0,upperdir=\$B/overlay/upper,workdir=\$B/overlay/work,allow_other \$B/rootfs
umount \$B/rootfs
# the lower FUSE mount is busy until the fuse-overlayfs daemon has exited
i=0; until umount \$B/layers/0 2>/dev/null; do i=\$((i+1)); [ \$i -lt 400 ] || exit 1; sleep 0.005; done
rm -rf \$B
EOF
	hf host mount \
		-n "sifrun kernel" "$b --root $r mount --mode kernel $SIF $m/sk && $b --root $r umount $m/sk" \
		-n "floor kernel" "sh $WORK/floor-kernel.sh $m/fk" \
		-n "sifrun fuse" "$b --root $r mount --mode fuse $SIF $m/sf && $b --root $r umount $m/sf" \
		-n "floor fuse" "sh $WORK/floor-fuse.sh $m/ff"
	if grep -q " $m/" /proc/self/mountinfo; then
		log "mount: mounts left under $m:"
		grep " $m/" /proc/self/mountinfo >&2
		echo leftover >"$WORK/results/mount-leftover.txt"
	fi
}

# fuse_for_users: what a site lets its users do with FUSE, and what the tests set up
# too: /dev/fuse 0666 (udev's mode; devtmpfs leaves it 0600 here) and user_allow_other
# in /etc/fuse.conf (FUSE mounts serving a container's subordinate ids)
fuse_for_users() {
	rt_ensure_user || die "cannot create the user $RTEST_USER"
	if [ "$(stat -c %a /dev/fuse 2>/dev/null)" != 666 ]; then
		log "making /dev/fuse 0666 (as udev does)"
		chmod 0666 /dev/fuse
	fi
	if ! grep -qx 'user_allow_other' /etc/fuse.conf 2>/dev/null; then
		log "adding user_allow_other to /etc/fuse.conf"
		echo user_allow_other >>/etc/fuse.conf
	fi
}

# ---------------------------------------------------------------- many at once -----
# user_fuse_daemons: how many FUSE daemons (squashfuse, fuse-overlayfs) the user runs
user_fuse_daemons() {
	local u=$RTEST_USER
	echo $(($(pgrep -c -u "$u" -x squashfuse || true) + $(pgrep -c -u "$u" -x fuse-overlayfs || true)))
}
# many_peak SIF OUT: until OUT.stop exists, the most loop devices backed by SIF and
# FUSE daemons of the user (squashfuse, fuse-overlayfs) seen at once, written to OUT as "loops daemons"
many_peak() {
	local sif=$1 out=$2 l d ml=0 md=0
	while [ ! -e "$out.stop" ]; do
		l=$(cat /sys/block/loop*/loop/backing_file 2>/dev/null | grep -cxF "$sif" || true)
		d=$(user_fuse_daemons)
		[ "$l" -gt "$ml" ] && ml=$l
		[ "$d" -gt "$md" ] && md=$d
		sleep 0.02
	done
	echo "$ml $md" >"$out"
}
# m_many: N concurrent `oci run --image` of one SIF (kernel as root, FUSE as
# rtest-user), shared vs --no-share, for two workloads: `true` and `cat` of a 32 MiB
# file of the image (what an MPI rank loading its program and libraries does);
# results/many.tsv
m_many() {
	local b=$WORK/bin/sifrun d n mode share flag t0 t1 fails pg0 pg1 peak cache wl cmd
	fuse_for_users
	d=$(mktemp -d /tmp/sifrun-bench-many.XXXXXX)
	chmod 755 "$d"
	# an OCI-SIF of the busybox rootfs: its squashfs has no xattrs, which squashfuse
	# 0.1 would make copy-up fail on for a user (busybox_amd64.sif has them)
	make_busybox_root "$d/rootfs" >/dev/null
	# 32 MiB of shared libraries: compressible as programs are (about 3:1 with gzip)
	mkdir -p "$d/rootfs/opt"
	tar -cf - /usr/lib/x86_64-linux-gnu 2>/dev/null | head -c 33554432 >"$d/rootfs/opt/app.bin" || true
	"$b" sif build --oci -q "$d/image.sif" "dir:$d/rootfs" || die "many: sif build"
	chmod 644 "$d/image.sif"
	# the work dir is 0700: rtest-user runs a copy
	cp "$b" "$d/sifrun"
	b=$d/sifrun
	# state roots (and so the bundles' overlay upper dirs) on tmpfs, as for the other
	# measures and as /run is on a usual host
	mkdir -p "$d/t"
	mount -t tmpfs -o mode=755 sifrun-bench-many "$d/t"
	mkdir -p "$d/t/root" "$d/t/user/run"
	if id "$RTEST_USER" >/dev/null 2>&1; then chown -R "$RTEST_USER:" "$d/t/user"; fi
	chmod 700 "$d/t/user/run"
	for wl in true read; do
		cmd=true; [ "$wl" = read ] && cmd="cat /opt/app.bin"
		for mode in kernel fuse-user; do
			if [ "$mode" = fuse-user ] && ! id rtest-user >/dev/null 2>&1; then
				log "many: no rtest-user, skipping FUSE mode"
				continue
			fi
			for n in ${BENCH_MANY_N:-1 8 32 64}; do
				for share in shared unshared; do
					flag=; [ "$share" = unshared ] && flag=--no-share
					# the last cell's FUSE daemons exit after their unmount: not counted here
					for _ in $(seq 500); do [ "$(user_fuse_daemons)" -gt 0 ] || break; sleep 0.02; done
					sync; echo 1 >/proc/sys/vm/drop_caches
					pg0=$(awk '$1 == "pgpgin" {print $2}' /proc/vmstat)
					rm -f "$d/peak" "$d/peak.stop"
					many_peak "$d/image.sif" "$d/peak" &
					t0=$EPOCHREALTIME
					if [ "$mode" = kernel ]; then
						fails=$(seq "$n" | xargs -P "$n" -I{} sh -c "$b --root $d/t/root oci run --mode kernel $flag --image $d/image.sif --exec -- $cmd >/dev/null 2>>$WORK/logs/many.log || echo F" | grep -c F || true)
					else
						fails=$(seq "$n" | xargs -P "$n" -I{} setpriv --reuid=rtest-user --regid=rtest-user --clear-groups \
							env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$d/t/user" XDG_RUNTIME_DIR="$d/t/user/run" \
							sh -c "$b --root $d/t/user/state oci run --mode fuse --fakeroot $flag --image $d/image.sif --exec -- $cmd >/dev/null 2>>$d/t/user/many.log || echo F" | grep -c F || true)
					fi
					t1=$EPOCHREALTIME
					touch "$d/peak.stop"
					wait
					peak=$(cat "$d/peak")
					pg1=$(awk '$1 == "pgpgin" {print $2}' /proc/vmstat)
					cache=$(fincore -bno RES "$d/image.sif" 2>/dev/null || echo 0)
					printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$wl" "$mode" "$n" "$share" "$(( $(us "$t0" "$t1") / 1000 ))" \
						"$fails" "${peak% *}" "${peak#* }" "$((cache / 1024))	$((pg1 - pg0))" >>"$WORK/results/many.tsv"
					log "many: $wl $mode N=$n $share: $(( $(us "$t0" "$t1") / 1000 )) ms, $fails failed, peak loops/daemons $peak"
				done
			done
		done
	done
	cat "$d/t/user/many.log" >>"$WORK/logs/many.log" 2>/dev/null || true
	if grep -F "$d/" /proc/self/mountinfo | grep -qvF " $d/t " || [ -n "$(ls -A /run/sifrun/.images 2>/dev/null)" ]; then
		log "many: mounts left:"; grep -F "$d/" /proc/self/mountinfo >&2 || true
		echo leftover >"$WORK/results/many-leftover.txt"
	fi
	umount "$d/t"
	rm -rf "$d"
}

# many_report RESULTS OUT: the "many at once" section, inserted before the notes mark
many_report() {
	[ -s "$1/many.tsv" ] || return 0
	python3 - "$1/many.tsv" "$2" <<'PY'
import sys
tsv, out = sys.argv[1], sys.argv[2]
rows = {}
for line in open(tsv):
    wl, mode, n, share, ms, fails, loops, daemons, cache_kib, pgpgin = line.rstrip("\n").split("\t")
    rows[(wl, mode, int(n), share)] = dict(ms=int(ms), fails=int(fails), loops=int(loops), daemons=int(daemons),
                                          cache=int(cache_kib), pgpgin=int(pgpgin))
L = ["## Many at once: shared image mounts (issue 18)\n",
     "N concurrent `sifrun oci run --image busybox.oci.sif --exec -- CMD` (an OCI-SIF of the busybox rootfs plus a 32 MiB "
     "file of shared libraries, `/opt/app.bin`; one wall time per cell), each image mount shared by all runs (default) or "
     "one per run (`--no-share`). Workloads: `true`, and `read` = `cat /opt/app.bin` (what a rank loading its program "
     "and libraries reads). kernel: as root, `--mode kernel` (peak = loop devices of the image); fuse-user: as "
     "rtest-user, `--mode fuse --fakeroot` (peak = FUSE daemons of the user: squashfuse and fuse-overlayfs). State roots on tmpfs. Page cache: `fincore` of "
     "the image after the runs; pgpgin: KiB read from block devices (loop devices included) after `echo 1 > drop_caches`.\n",
     "| workload | mode | N | shared ms | unshared ms | shared/unshared | failures (sh/unsh) | peak mounts or daemons (sh/unsh) | image page cache KiB (sh/unsh) | pgpgin KiB (sh/unsh) |",
     "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|"]
target = []
keys = sorted({(w, m, n) for w, m, n, _ in rows}, key=lambda k: (k[0] != "true", k[1] != "kernel", k[2]))
for (wl, mode, n) in keys:
    s, u = rows.get((wl, mode, n, "shared")), rows.get((wl, mode, n, "unshared"))
    if not s or not u:
        continue
    key = "loops" if mode == "kernel" else "daemons"
    ratio = s["ms"] / u["ms"] if u["ms"] else float("nan")
    L.append(f"| {wl} | {mode} | {n} | {s['ms']} | {u['ms']} | {ratio:.2f}× | {s['fails']}/{u['fails']} | {s[key]}/{u[key]} | "
             f"{s['cache']}/{u['cache']} | {s['pgpgin']}/{u['pgpgin']} |")
    if n == 64:
        ok = ratio <= 0.3 and s[key] == 1 and s["fails"] == 0 and u["fails"] == 0
        target.append(f"{wl} {mode} N=64: shared {ratio:.2f}× of unshared, {s[key]} vs {u[key]} {key}, "
                      f"{s['fails'] + u['fails']} failures: {'✅' if ok else '❌'} (target ≤ 0.3×, one mount/daemon, no failures)")
L.append("")
for t in target:
    L.append(f"* {t}")
L.append("")
MARK = "<!-- notes: kept by hack/bench.sh -->"
text = open(out).read()
i = text.index(MARK) if MARK in text else len(text)
open(out, "w").write(text[:i] + "\n".join(L) + "\n" + text[i:])
PY
}

m_size() {
	local rt b args=()
	for rt in "$@"; do
		b=$(rt_bin "$rt")
		echo "$rt	$(stat -L -c %s "$b")	$(ldd "$b" 2>/dev/null | grep -c '=>' || true)	$(file -bL "$b" 2>/dev/null | grep -o 'statically linked\|dynamically linked\|static-pie linked' | head -1)" >>"$WORK/results/size.tsv"
		args+=(-n "$rt" "$b --version")
	done
	hf host version -N "${args[@]}"
}

# perf stat (CPU time, page faults, context switches, wall) and strace -c per command
prof_one() {
	local env=$1 rt=$2 cmd=$3 pf=$WORK/logs/perf.$$
	shift 3
	if perf stat -x, -o "$pf" -e duration_time,task-clock,page-faults,context-switches -- "$@" </dev/null >/dev/null 2>>"$WORK/logs/$env-profile.log"; then
		awk -F, -v p="$env	$rt	$cmd" '$3 ~ /^(duration_time|task-clock|page-faults|context-switches)$/ {printf "%s	%s	%s\n", p, $3, $1}' "$pf" >>"$WORK/results/perf.tsv"
	fi
}
m_profile() {
	local env=$1 rt b r i
	shift
	command -v perf >/dev/null || { log "profile: no perf"; return 0; }
	load_mark "$env" profile
	log "$env/profile: perf stat x$PROF_RUNS and strace -c -f per command"
	mkdir -p "$WORK/results/strace"
	for rt in "$@"; do
		b=$(rt_bin "$rt")
		r=$(rt_root "$env" "$rt" prof)
		"$b" --root "$r" create --bundle "$BS" ex && "$b" --root "$r" start ex || log "$env/profile: $rt: no sleep container"
		for i in $(seq "$PROF_RUNS"); do
			prof_one "$env" "$rt" create "$b" --root "$r" create --bundle "$BT" pr
			prof_one "$env" "$rt" start "$b" --root "$r" start pr
			prof_one "$env" "$rt" state "$b" --root "$r" state pr
			prof_one "$env" "$rt" delete "$b" --root "$r" delete -f pr
			prof_one "$env" "$rt" run $(run_guard "$rt") "$b" --root "$r" run --bundle "$BT" pr
			prof_one "$env" "$rt" exec "$b" --root "$r" exec ex true
		done
		if command -v strace >/dev/null; then
			# (a traced create alone never ends: its traced init waits for a start)
			"$b" --root "$r" create --bundle "$BT" st >/dev/null 2>&1 || true
			timeout 60 strace -f -c -o "$WORK/results/strace/$env-$rt-start.txt" "$b" --root "$r" start st </dev/null >/dev/null 2>&1 || true
			sleep 0.2
			timeout 60 strace -f -c -o "$WORK/results/strace/$env-$rt-delete.txt" "$b" --root "$r" delete -f st </dev/null >/dev/null 2>&1 || true
			timeout 60 strace -f -c -o "$WORK/results/strace/$env-$rt-exec.txt" "$b" --root "$r" exec ex true </dev/null >/dev/null 2>&1 || true
			timeout 60 strace -f -c -o "$WORK/results/strace/$env-$rt-lifecycle.txt" sh -c \
				"$b --root $r create --bundle $BT sl && $b --root $r start sl && $b --root $r delete -f sl" </dev/null >/dev/null 2>&1 || true
		fi
	done
	cleanup_roots "$env"
}

# measure_env ENV RUNTIMES...: every measure that compares runtimes, in this env
measure_env() {
	local env=$1
	shift
	mkdir -p "$WORK/results/$env"
	log "env $env: runtimes $*"
	want lifecycle && m_lifecycle "$env" "$@"
	want run && m_run "$env" "$@"
	want exec && m_exec "$env" "$@"
	want state-list && m_state_list "$env" "$@"
	want rss && m_rss "$env" "$@"
	want concurrent && m_concurrent "$env" "$@"
	want profile && m_profile "$env" "$@"
	cleanup_roots "$env"
}

# ---------------------------------------------------------------- inner (unshare) ----
if [ "$INNER" = ns ]; then
	: "${WORK:?}" "${BT:?}" "${BS:?}" "${BX:?}"
	if grep -q ' /sys/fs/cgroup/unified ' /proc/self/mountinfo; then
		umount /sys/fs/cgroup/unified || die "cannot umount /sys/fs/cgroup/unified in the private mount namespace"
	fi
	trap 'cleanup_roots ns' EXIT
	# shellcheck disable=SC2086
	measure_env ns $NS_RUNTIMES
	exit 0
fi

# ---------------------------------------------------------------- install -----------
install_deps() {
	local missing=() c
	for c in hyperfine:hyperfine runc:runc crun:crun /usr/bin/time:time squashfuse:squashfuse \
		fuse-overlayfs:fuse-overlayfs fusermount3:fuse3 mksquashfs:squashfs-tools python3:python3 \
		perf:linux-perf strace:strace file:file losetup:mount ch-run:charliecloud-runtime \
		debootstrap:debootstrap runuser:util-linux; do
		command -v "${c%%:*}" >/dev/null || missing+=("${c#*:}")
	done
	# the static release build links libseccomp.a and glibc's libc.a
	for c in /usr/lib/x86_64-linux-gnu/libseccomp.a:libseccomp-dev /usr/lib/x86_64-linux-gnu/libc.a:libc6-dev; do
		[ -e "${c%%:*}" ] || missing+=("${c#*:}")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		log "installing ${missing[*]}"
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "${missing[@]}" >&2 ||
			{ apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "${missing[@]}" >&2; }
	fi
	ensure_busybox
	if [ "$WITH_YOUKI" = 1 ] && [ ! -x /opt/youki/bin/youki ]; then
		log "building youki 0.7.0 (cargo install, v1+v2+seccomp) into /opt/youki"
		CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/youki-build} cargo install youki --version 0.7.0 --locked \
			--no-default-features --features v1,v2,seccomp --root /opt/youki >&2
	fi
}
[ "$DO_INSTALL" = 1 ] && install_deps
for c in hyperfine runc python3 /usr/bin/time; do command -v "$c" >/dev/null || die "missing $c"; done
[ "$DO_NS" = 0 ] || command -v crun >/dev/null || die "missing crun"
[ "$WITH_YOUKI" = 0 ] || [ -x /opt/youki/bin/youki ] || die "no /opt/youki/bin/youki"

# ---------------------------------------------------------------- build + work dir --
if [ "$DO_BUILD" = 1 ] && [ -z "${SIFRUN:-}" ]; then
	log "cargo build --release"
	(cd "$ROOT" && cargo build --release >&2)
fi
SIFRUN_SRC=${SIFRUN:-$ROOT/target/x86_64-unknown-linux-gnu/release/sifrun}
[ -x "$SIFRUN_SRC" ] || die "no sifrun binary at $SIFRUN_SRC"
export WORK
WORK=$(mktemp -d /tmp/sifrun-bench.XXXXXX)
mkdir -p "$WORK"/{bin,bundles,results,logs,roots}
# State roots on tmpfs, as /run is on most hosts (here /run is on the root ext4, where
# journal commits queued behind parallel builds made single unlinks take 100+ ms).
# BENCH_TMPFS=0 keeps them on the work dir's filesystem.
if [ "${BENCH_TMPFS:-1}" = 1 ]; then
	mount -t tmpfs -o size=256m,mode=0700 sifrun-bench "$WORK/roots"
fi
cp "$SIFRUN_SRC" "$WORK/bin/sifrun"
SIF=${BENCH_SIF:-/work/shared/fixtures/sif/busybox_amd64.sif}
[ -f "$SIF" ] || SIF=$ROOT/../shared/fixtures/sif/busybox_amd64.sif
final_cleanup() {
	cleanup_roots host 2>/dev/null || true
	if [ -d "$WORK/mnt" ] && grep -q " $WORK/mnt/" /proc/self/mountinfo; then
		grep " $WORK/mnt/" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
	fi
	if grep -q " $WORK/roots " /proc/self/mountinfo; then
		[ "$KEEP" = 1 ] && cp -a "$WORK/roots" "$WORK/roots.kept" 2>/dev/null
		umount "$WORK/roots" || umount -l "$WORK/roots" || true
	fi
	if [ "$KEEP" = 1 ]; then log "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap final_cleanup EXIT

# bundles: one `runc spec` config for every runtime, terminal off, only args differ
export BT=$WORK/bundles/true BS=$WORK/bundles/sleep BX=$WORK/bundles/exit3
make_runc_bundle "$BT" true
make_runc_bundle "$BS" sleep 1000
make_runc_bundle "$BX" sh -c 'exit 3'

HOST_RUNTIMES="sifrun runc"
export NS_RUNTIMES="sifrun runc crun"
if [ "$WITH_YOUKI" = 1 ]; then HOST_RUNTIMES="$HOST_RUNTIMES youki"; NS_RUNTIMES="$NS_RUNTIMES youki"; fi

# ---------------------------------------------------------------- machine + versions -
python3 - "$WORK/results/meta.json" <<PY
import json, os, platform, subprocess, sys
def sh(c):
    try:
        return subprocess.run(c, shell=True, capture_output=True, text=True, timeout=30).stdout.strip()
    except Exception as e:
        return f"? ({e})"
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
mem = next((l.split()[1] for l in open("/proc/meminfo") if l.startswith("MemTotal")), "0")
rts = {"sifrun": "$WORK/bin/sifrun", "runc": sh("command -v runc"), "crun": sh("command -v crun")}
if "$WITH_YOUKI" == "1":
    rts["youki"] = "/opt/youki/bin/youki"
meta = {
    "date": sh("date -u '+%Y-%m-%d %H:%M UTC'"),
    "nproc": os.cpu_count(), "kernel": platform.release(), "cpu": cpu,
    "mem_gib": round(int(mem) / 1048576, 1),
    "os": sh(". /etc/os-release && echo \$PRETTY_NAME"),
    "cgroups": sh("findmnt -no FSTYPE /sys/fs/cgroup") + " at /sys/fs/cgroup, "
               + (("cgroup2 at /sys/fs/cgroup/unified (controllers: " + (sh("cat /sys/fs/cgroup/unified/cgroup.controllers") or "none") + ")")
                  if os.path.ismount("/sys/fs/cgroup/unified") else "no unified mount"),
    "versions": {k: sh(f"{v} --version 2>&1 | head -2 | tr '\\n' ' '") for k, v in rts.items()},
    "hyperfine": sh("hyperfine --version"), "rustc": sh("rustc --version"),
    "git": sh("cd $ROOT && git rev-parse --short HEAD") + (" (dirty tree)" if sh("cd $ROOT && git status --porcelain --untracked-files=no") else ""),
    "sifrun_src": "$SIFRUN_SRC",
    "runs": int("$RUNS"), "warmup": int("$WARMUP"), "ncont": int("$NCONT"), "npar": int("$NPAR"),
    "crounds": int("$CROUNDS"), "rss_runs": int("$RSS_RUNS"), "prof_runs": int("$PROF_RUNS"), "build_runs": int("$BUILD_RUNS"),
    "host_runtimes": "$HOST_RUNTIMES".split(), "ns_runtimes": "$NS_RUNTIMES".split(),
    "sif": "$SIF", "measures": "$ONLY".split(), "note": os.environ.get("BENCH_NOTE", ""),
    "roots": sh("findmnt -no FSTYPE -T $WORK/roots"),
    "load_start": open("/proc/loadavg").read().split()[:3],
}
json.dump(meta, open(sys.argv[1], "w"), indent=1)
PY

# ---------------------------------------------------------------- measure -----------
T0=$SECONDS
# shellcheck disable=SC2086
measure_env host $HOST_RUNTIMES
# The runtime peers next, before the image measures: many's hundreds of loop devices
# and FUSE daemons leave the kernel's workers busy for a while after.
if [ "$DO_NS" = 1 ]; then
	log "re-executing inside unshare -m (cgroup2 unified unmounted) for crun"
	unshare -m --propagation private -- bash "$SELF" --inner-ns --runs "$RUNS" --warmup "$WARMUP" --only "$ONLY" ||
		log "the unshare part failed"
fi
want mount && m_mount
want onestep && m_onestep
want build && m_build
want many && m_many
# shellcheck disable=SC2086
want size && m_size $NS_RUNTIMES
python3 - "$WORK/results/meta.json" <<PY
import json, sys
m = json.load(open(sys.argv[1])); m["load_end"] = open("/proc/loadavg").read().split()[:3]
m["seconds"] = $SECONDS - $T0
json.dump(m, open(sys.argv[1], "w"), indent=1)
PY

# ---------------------------------------------------------------- report ------------
# write_report RESULTS_DIR OUT: BENCHMARKS.md from the JSON/TSV results
write_report() {
	BENCH_HACK=$HACK python3 - "$1" "$2" <<'PY'
import glob, json, os, re, statistics, sys

res, out = sys.argv[1], sys.argv[2]
meta = json.load(open(f"{res}/meta.json"))
ENV = {
    "ns": "ns (v1 only: `unshare -m`, /sys/fs/cgroup/unified unmounted)",
    "host": "host (hybrid: v1 controllers + cgroup2 at /sys/fs/cgroup/unified)",
}
ENVS = ["ns", "host"]
PEERS = ["crun", "runc", "youki"]
L = []
w = L.append
targets = []  # (target, measured, met)


def tsv(name):
    p = f"{res}/{name}"
    if not os.path.exists(p):
        return []
    return [l.rstrip("\n").split("\t") for l in open(p) if l.strip()]


def hyper(env, name):
    p = f"{res}/{env}/{name}.json"
    if not os.path.exists(p):
        return {}
    out = {}
    for r in json.load(open(p))["results"]:
        codes = r.get("exit_codes") or []
        out[r["command"]] = {
            "median": r["median"] * 1e3, "mean": r["mean"] * 1e3,
            "stddev": (r.get("stddev") or 0) * 1e3, "min": r["min"] * 1e3,
            "max": r["max"] * 1e3, "n": len(r.get("times") or []),
            "fails": sum(1 for c in codes if c),
        }
    return out


def ratio(a, b):
    return f"{a / b:.2f}×" if a and b else "–"


def ms(x):
    return f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def hyper_table(name, title, what, target_peer=None, target_max=None, stretch=None):
    w(f"### {title}\n")
    w(what + "\n")
    any_rows = False
    for env in ENVS:
        d = hyper(env, name)
        if not d:
            continue
        any_rows = True
        s = d.get("sifrun")
        w(f"**{ENV[env]}**\n")
        w("| runtime | median ms | mean ± σ ms | min ms | max ms | runs | failed runs | sifrun ÷ runtime |")
        w("|---|--:|--:|--:|--:|--:|--:|--:|")
        for rt, v in d.items():
            rr = "1.00× (itself)" if rt == "sifrun" else (ratio(s["median"], v["median"]) if s else "–")
            w(f"| {rt} | **{ms(v['median'])}** | {ms(v['mean'])} ± {ms(v['stddev'])} | {ms(v['min'])} | {ms(v['max'])} | {v['n']} | {v['fails']} | {rr} |")
        w("")
        if target_peer and env == "ns" and s and target_peer in d:
            r = s["median"] / d[target_peer]["median"]
            met = r <= target_max and s["fails"] == 0
            extra = f" (stretch ≤ {stretch}×: {'met' if r <= stretch else 'not met'})" if stretch else ""
            targets.append((f"{title}: ≤ {target_max}× {target_peer}", f"{ms(s['median'])} ms vs {ms(d[target_peer]['median'])} ms = **{r:.2f}×**{extra}", met))
    if not any_rows:
        w("_not measured in this run_\n")


w("# sifrun benchmarks\n")
w("Written by `hack/bench.sh` (issue 7): sifrun against crun, runc" + (" and youki" if "youki" in meta["ns_runtimes"] else "")
  + " side by side, each runtime with its own `--root` and the same `config.json` (`runc spec`, busybox-static rootfs, "
  + "`terminal: false`, the spec's pid/network/ipc/uts/mount namespaces). Times are hyperfine medians "
  + f"({meta['warmup']} warm-up runs, {meta['runs']} runs per command, shell spawn time subtracted where a shell is used). "
  + "**sifrun ÷ runtime** below 1.00× means sifrun is faster / smaller.\n")
w(f"State roots (`--root`) are on {meta.get('roots', '?')}; bundles and the work dir on the disk under /tmp.\n")
w("crun 1.8 refuses this host's hybrid cgroup layout, so the script re-executes itself in a private mount namespace "
  "(`unshare -m`) with `/sys/fs/cgroup/unified` unmounted (env **ns**) and measures every runtime there; sifrun and runc "
  "are measured outside too (env **host**). Ratios only compare runtimes of one env.\n")
w("## Machine\n")
w("| | |\n|---|---|")
for k, v in [("date", meta["date"]), ("CPU", f"{meta['cpu']}, nproc {meta['nproc']}"), ("memory", f"{meta['mem_gib']} GiB"),
             ("kernel", meta["kernel"]), ("OS", meta["os"]), ("cgroups", meta["cgroups"]),
             ("sifrun", f"{meta['versions'].get('sifrun', '?')} — git {meta['git']}"),
             ("runc", meta["versions"].get("runc", "")), ("crun", meta["versions"].get("crun", "")),
             ("youki", meta["versions"].get("youki", "not measured (use `--with-youki`)")),
             ("tools", f"{meta['hyperfine']}; {meta['rustc']}"), ("duration", f"{meta.get('seconds', '?')} s of measuring")]:
    w(f"| {k} | {v} |")
w("")

# noise
load = tsv("load.tsv")
w("## Noise\n")
if load:
    l1 = [float(r[2]) for r in load]
    busy = [int(r[3]) for r in load]
    w(f"1-minute load average before each measure: {min(l1):.2f} – {max(l1):.2f} (start {' '.join(meta['load_start'])}, "
      f"end {' '.join(meta.get('load_end', ['?']))}) on {meta['nproc']} CPUs; other runnable processes sampled before each "
      f"measure: {min(busy)} – {max(busy)}. Load above ~1 means other work (compilers, test runs) shared the CPUs, which "
      "inflates absolute times and σ; hyperfine runs one command's runs back to back, so load that changes between "
      "commands biases ratios. Compare the medians with the min column and the σ.\n")
if meta.get("note"):
    w(meta["note"] + "\n")

w("## Measures\n")
hyper_table("lifecycle", "1. lifecycle: create + start + delete",
            "`R --root DIR create --bundle B lc && R start lc && R delete -f lc` (one shell command; the container runs `true`).",
            "crun", 1.0, 0.8)
hyper_table("run", "2. run in the foreground", "`R run --bundle B rn` of `true`, no shell.", "crun", 1.0)
ex = tsv("run-exit.tsv")
if ex:
    w("Exit code propagation (`run` of `sh -c 'exit 3'`): " + ", ".join(
        f"{rt} ({env}) → {code}{'' if code == '3' else ' **WRONG**'}" for env, rt, code in ex) + ".\n")
hyper_table("exec", "3. exec into a running container", "`R exec ID true` into a container running `sleep 1000`.", "crun", 1.0)
cnt = tsv("state-list-count.tsv")
hyper_table("state", f"4a. state with {meta['ncont']} containers present", f"`R state c{(meta['ncont'] + 1) // 2:03d}` with {meta['ncont']} created (not started) containers in the root.")
hyper_table("list", f"4b. list with {meta['ncont']} containers present", "`R list` (table format).")
if cnt:
    w("Containers present: " + ", ".join(f"{rt} ({env}) {n}" for env, rt, n in cnt) + ".\n")

# RSS
rss = tsv("rss.tsv")
w("### 5. peak RSS per invocation\n")
if rss:
    w(f"`/usr/bin/time -v` → Maximum resident set size, median of {meta['rss_runs']} invocations, MB (10⁶ bytes; the "
      "figure includes waited-for children, e.g. libcontainer's intermediate process). create/start/state/delete "
      "of a `true` container, run of `true`, exec of `true` into a `sleep` container, kill (SIGKILL) of a `sleep` container.\n")
    cmds = ["create", "start", "state", "kill", "delete", "run", "exec", "--version"]
    for env in ENVS:
        data = {}
        for e, rt, c, kb in rss:
            if e == env and kb != "fail":
                data.setdefault(rt, {}).setdefault(c, []).append(int(kb))
        fails = {}
        for e, rt, c, kb in rss:
            if e == env and kb == "fail":
                fails.setdefault(rt, 0)
                fails[rt] += 1
        if not data:
            continue
        w(f"**{ENV[env]}**\n")
        w("| runtime | " + " | ".join(cmds) + " | failed |")
        w("|---|" + "--:|" * len(cmds) + "--:|")
        med = {rt: {c: statistics.median(v) / 1000 * 1.024 for c, v in cs.items()} for rt, cs in data.items()}
        for rt in med:
            w(f"| {rt} | " + " | ".join(f"{med[rt][c]:.1f}" if c in med[rt] else "–" for c in cmds) + f" | {fails.get(rt, 0)} |")
        s = med.get("sifrun", {})
        for peer in PEERS:
            if peer in med and s:
                w(f"| sifrun ÷ {peer} | " + " | ".join(ratio(s.get(c), med[peer].get(c)) for c in cmds) + " | |")
        w("")
        if env == "ns" and "crun" in med and s:
            core = ["create", "start", "state", "kill", "delete", "run", "exec"]
            worst = max((s[c] / med["crun"][c], c) for c in core if c in s and c in med["crun"])
            targets.append(("peak RSS of every command ≤ crun's", f"worst: {worst[1]} {s[worst[1]]:.1f} MB vs {med['crun'][worst[1]]:.1f} MB = **{worst[0]:.2f}×**", worst[0] <= 1.0))
else:
    w("_not measured in this run_\n")

# mount
w("### 6. sifrun mount + umount vs the same mounts by hand\n")
m = hyper("host", "mount")
if m:
    part = open(f"{res}/mount-partition.txt").read().split() if os.path.exists(f"{res}/mount-partition.txt") else ["?", "?"]
    w(f"`{os.path.basename(meta['sif'])}`, squashfs partition at offset {part[0]}, {part[1]} bytes. sifrun: "
      "`sifrun mount --mode M IMAGE B && sifrun umount B`. Floor: a `sh` script doing the same mounts: kernel = "
      "`losetup -r -o OFF --sizelimit SIZE` + `mount -t squashfs -o ro` + `mount -t overlay`, `umount` both + "
      "`losetup -d`; fuse = `squashfuse -o ro,offset=OFF,allow_other` + `fuse-overlayfs`, `umount` both (retrying the "
      "lower one while the overlay daemon exits); both with mkdir/rm of the bundle dirs. (sifrun also reads the SIF, "
      "writes config.json and its mount record.)\n")
    w("| what | median ms | mean ± σ ms | min ms | failed runs | ÷ floor |")
    w("|---|--:|--:|--:|--:|--:|")
    for mode in ["kernel", "fuse"]:
        a, f = m.get(f"sifrun {mode}"), m.get(f"floor {mode}")
        for n, v in [(f"sifrun {mode}", a), (f"floor {mode}", f)]:
            if v:
                w(f"| {n} | **{ms(v['median'])}** | {ms(v['mean'])} ± {ms(v['stddev'])} | {ms(v['min'])} | {v['fails']} | {ratio(v['median'], f['median']) if f else '–'} |")
        if a and f:
            r = a["median"] / f["median"]
            targets.append((f"mount+umount ({mode}) ≤ 1.2× by-hand floor", f"{ms(a['median'])} ms vs {ms(f['median'])} ms = **{r:.2f}×**", r <= 1.2 and a["fails"] == 0))
    w("")
    if os.path.exists(f"{res}/mount-leftover.txt"):
        w("**Mounts were left behind after the mount measure.**\n")
else:
    w("_not measured in this run_\n")

# concurrency
conc = tsv("concurrent.tsv")
w(f"### 7. {meta['npar']} containers created + started concurrently, then deleted\n")
if conc:
    w(f"`seq {meta['npar']} | xargs -P {meta['npar']}` of `R create ID && R start ID` (container runs `true`), then the same "
      f"for `R delete -f ID`; {meta['crounds']} rounds, medians of wall time. failures = commands that exited non-zero; "
      "left = containers still listed after the deletes.\n")
    for env in ENVS:
        rows = {}
        for e, rt, i, up, de, fa, le in conc:
            if e == env:
                rows.setdefault(rt, []).append((int(up) / 1000, int(de) / 1000, int(fa), int(le)))
        if not rows:
            continue
        w(f"**{ENV[env]}**\n")
        w("| runtime | create+start ms | delete ms | total ms | failures | left | sifrun ÷ runtime (total) |")
        w("|---|--:|--:|--:|--:|--:|--:|")
        meds = {rt: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v),
                     statistics.median(x[0] + x[1] for x in v), sum(x[2] for x in v), sum(x[3] for x in v)) for rt, v in rows.items()}
        s = meds.get("sifrun")
        for rt, (u, d, t, f, l) in meds.items():
            w(f"| {rt} | {u:.0f} | {d:.0f} | **{t:.0f}** | {f} | {l} | {'1.00× (itself)' if rt == 'sifrun' else ratio(s[2], t) if s else '–'} |")
        w("")
        if env == "ns" and s and "crun" in meds:
            r = s[2] / meds["crun"][2]
            targets.append((f"{meta['npar']} concurrent: zero failures, wall ≤ crun's",
                            f"{s[3]} failures, {s[4]} left; {s[2]:.0f} ms vs {meds['crun'][2]:.0f} ms = **{r:.2f}×** (crun: {meds['crun'][3]} failures)",
                            s[3] == 0 and s[4] == 0 and r <= 1.0))
else:
    w("_not measured in this run_\n")

# size
size = tsv("size.tsv")
w("### 8. binary size and `--version`\n")
if size:
    w("| runtime | file bytes | MB | shared libraries | linking |")
    w("|---|--:|--:|--:|---|")
    for rt, b, libs, kind in size:
        w(f"| {rt} | {int(b):,} | {int(b) / 1e6:.1f} | {libs} | {kind} |")
    w("")
hyper_table("version", "8b. `--version`", "`R --version`, no shell (host env).")

# issue 18: one-step runs and image builds
exec(open(os.path.join(os.environ["BENCH_HACK"], "lib/bench-onestep.py")).read())

# profile
perf = tsv("perf.tsv")
if perf:
    w("### profile: CPU time, page faults, context switches per command\n")
    w(f"`perf stat -e duration_time,task-clock,page-faults,context-switches` (children included), median of {meta['prof_runs']}. "
      "wall = duration_time; cpu = task-clock (user + kernel, all processes of the command).\n")
    for env in ENVS:
        data = {}
        for e, rt, c, ev, v in perf:
            if e != env:
                continue
            try:
                data.setdefault((rt, c), {}).setdefault(ev, []).append(float(v))
            except ValueError:
                pass
        if not data:
            continue
        w(f"**{ENV[env]}**\n")
        w("| runtime | command | wall ms | cpu ms | page faults | ctx switches |")
        w("|---|---|--:|--:|--:|--:|")
        for (rt, c), evs in data.items():
            g = lambda k, f=1: statistics.median(evs[k]) * f if k in evs else float("nan")
            w(f"| {rt} | {c} | {g('duration_time', 1e-6):.1f} | {g('task-clock'):.1f} | {g('page-faults'):.0f} | {g('context-switches'):.0f} |")
        w("")
stf = sorted(glob.glob(f"{res}/strace/*.txt"))
if stf:
    w("### profile: system calls (strace -c -f, one invocation)\n")
    w("| env-runtime-command | syscalls | errors | top calls (count) |")
    w("|---|--:|--:|---|")
    for p in stf:
        rows = []
        total = errs = 0
        for line in open(p):
            f = line.split()
            if len(f) >= 5 and re.match(r"^[\d.]+$", f[0]) and f[-1] != "total":
                calls = int(f[3]); er = int(f[4]) if len(f) == 6 else 0
                rows.append((calls, f[-1]))
            elif f and f[-1] == "total":
                total = int(f[3]); errs = int(f[4]) if len(f) == 6 else 0
        rows.sort(reverse=True)
        w(f"| {os.path.basename(p)[:-4]} | {total} | {errs} | " + ", ".join(f"{n} {c}" for c, n in rows[:8]) + " |")
    w("")

# targets first
head = ["## Targets (issue 7)\n", "| target | measured (sifrun vs peer; env ns for runtime peers) | met |", "|---|---|---|"]
head += [f"| {t} | {mv} | {'✅' if ok else '❌'} |" for t, mv, ok in targets]
if not targets:
    head.append("| (no target measured in this run) | | |")
head.append("")
i = L.index("## Measures\n")
L[i:i] = head

MARK = "<!-- notes: kept by hack/bench.sh -->"
notes = ""
if os.path.exists(out):
    old = open(out).read()
    if MARK in old:
        notes = old[old.index(MARK):]
text = "\n".join(L).rstrip() + "\n\n" + (notes if notes else MARK + "\n")
open(out, "w").write(text)
PY
}

# ---------------------------------------------------------------- report call ------------
[ "$OUT" = - ] && { log "no report (--out -); results in $WORK/results"; KEEP=1; exit 0; }
write_report "$WORK/results" "$OUT"
many_report "$WORK/results" "$OUT"
log "wrote $OUT ($((SECONDS - T0)) s of measuring)"
