#!/bin/bash
# hack/demo.sh - the README's main job, end to end, as root:
#   1. install the Debian packages it needs (skipped when all are installed)
#   2. cargo build --release (${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-gnu/release/sifrun)
#   3. hack/make-busybox-image.sh: a busybox OCI image (tag "user": User 1000:1000,
#      WorkingDir /home/tester, Env RTEST_ENV=from-image) as an oci-archive
#   4. sifrun sif build img.oci.sif oci-archive:busybox-user-oci.tar   (OCI-SIF)
#      sifrun sif build --env RTEST_ENV=... img.sif dir:ROOTFS          (native SIF)
#   5. for each image: `sifrun mount IMAGE BUNDLE`, set process.args to
#      `id; pwd; echo RTEST_ENV=$RTEST_ENV`, `sifrun run --bundle BUNDLE ID`,
#      `sifrun umount BUNDLE` -- all with a private --root
#   (after 2: hack/install.sh --prefix DEMO_DIR/prefix, and the demo runs that binary)
# Not root: it re-runs itself with `sudo -E` (the build runs as you if the checkout is yours).
# Env: DEMO_DIR (default: a fresh mktemp dir, removed at the end), DEMO_SKIP_APT=1,
#      DEMO_SKIP_BUILD=1, DEMO_SKIP_INSTALL=1, SIFRUN (default: the freshly built binary).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# not root: re-run with `sudo -E` (hack/lib/as-root.sh)
. "$ROOT/hack/lib/as-root.sh"
need_root "$ROOT/hack/demo.sh" "$@"
export PATH=$HOME/.cargo/bin:/root/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
T0=$SECONDS
say() { printf '\n== %s  (+%ds)\n' "$*" $((SECONDS - T0)); }

if [ "${DEMO_SKIP_APT:-0}" != 1 ]; then
	say "apt packages"
	PKGS=(busybox-static squashfs-tools squashfuse fuse-overlayfs fuse3 libseccomp-dev libc6-dev pkg-config
		umoci skopeo python3)
	missing=()
	for p in "${PKGS[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "installing: ${missing[*]}"
		apt-get -o DPkg::Lock::Timeout=300 update -qq
		DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	else
		echo "installed already: ${PKGS[*]}"
	fi
fi

if [ -z "${SIFRUN:-}" ]; then
	SIFRUN=${CARGO_TARGET_DIR:-$ROOT/target}/x86_64-unknown-linux-gnu/release/sifrun
	if [ "${DEMO_SKIP_BUILD:-0}" != 1 ]; then
		say "cargo build --release (a few minutes the first time)"
		as_invoker sh -c 'command -v cargo' >/dev/null || { echo "no cargo on PATH: install a Rust toolchain (rustup)" >&2; exit 1; }
		as_invoker cargo build --release --quiet --bin sifrun
	fi
fi
[ -x "$SIFRUN" ] || { echo "no $SIFRUN" >&2; exit 1; }
"$SIFRUN" sif build --help >/dev/null 2>&1 || { echo "$SIFRUN has no \`sif build\` (rebuild it)" >&2; exit 1; }
echo "using $SIFRUN: $("$SIFRUN" --version | head -1)"
export SIFRUN

KEEP=1
DIR=${DEMO_DIR:-}
[ -n "$DIR" ] || { DIR=$(mktemp -d /tmp/sifrun-demo.XXXXXX); KEEP=0; }
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
if [ "${DEMO_SKIP_INSTALL:-0}" != 1 ]; then
	say "hack/install.sh --prefix $DIR/prefix (binary, man pages, completions, examples)"
	SIFRUN=$SIFRUN "$ROOT/hack/install.sh" --prefix "$DIR/prefix"
	SIFRUN=$DIR/prefix/bin/sifrun
	echo "try: man -M $DIR/prefix/share/man sifrun-mount"
fi
STATE_ROOT=$DIR/state # private --root: the demo never sees or touches other containers
sr() { "$SIFRUN" --root "$STATE_ROOT" "$@"; }
MOUNTED=()
mounted_under() { awk -v d="$1/" 'index($5 "/", d) == 1 {print $5}' /proc/self/mountinfo; }
cleanup() {
	local rc=$? b
	set +e
	for b in "${MOUNTED[@]}"; do [ -n "$b" ] && sr umount --force "$b" >/dev/null 2>&1; done
	sr delete --force demo-oci >/dev/null 2>&1
	sr delete --force demo-native >/dev/null 2>&1
	if [ $KEEP = 0 ]; then
		if [ -n "$(mounted_under "$DIR")" ]; then
			echo "warning: still mounted under $DIR, not removing it:" >&2
			mounted_under "$DIR" >&2
		else
			rm -rf "$DIR"
		fi
	fi
	[ $rc = 0 ] || echo "hack/demo.sh FAILED (exit $rc)" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "busybox OCI image (hack/make-busybox-image.sh $DIR/image)"
"$ROOT/hack/make-busybox-image.sh" "$DIR/image" >/dev/null
ls -l "$DIR/image"/busybox-user-oci.tar | awk '{print $5, $NF}'

say "sifrun sif build img.oci.sif oci-archive:busybox-user-oci.tar (OCI-SIF)"
sr sif build "$DIR/img.oci.sif" "oci-archive:$DIR/image/busybox-user-oci.tar"

say "sifrun sif build img.sif dir:ROOTFS (native SIF)"
. "$ROOT/hack/lib/busybox-rootfs.sh"
ensure_busybox
make_busybox_root "$DIR/rootfs"
sr sif build --env RTEST_ENV=from-native-sif --label org.sifrun.image=busybox "$DIR/img.sif" "dir:$DIR/rootfs"
rm -rf "$DIR/rootfs"

set_args() { # BUNDLE ARGS...: process.args, no terminal
	python3 - "$@" <<'PY'
import json, sys
path = sys.argv[1] + "/config.json"
spec = json.load(open(path))
spec["process"]["args"] = sys.argv[2:]
spec["process"]["terminal"] = False
json.dump(spec, open(path, "w"), indent="\t")
PY
}

demo() { # NAME IMAGE
	local name=$1 img=$2 b=$DIR/bundle-$1
	say "$name: sifrun mount $(basename "$img") → sifrun run → sifrun umount"
	sr mount "$img" "$b"
	MOUNTED+=("$b")
	echo "mounted: $(mounted_under "$b" | wc -l) mounts under $b"
	set_args "$b" /bin/sh -c 'echo "id:   $(id)"; echo "pwd:  $(pwd)"; echo "env:  RTEST_ENV=$RTEST_ENV"; echo "host: $(hostname)"'
	sr run --bundle "$b" "demo-$name" </dev/null
	sr umount "$b"
	MOUNTED=("${MOUNTED[@]/$b/}")
	[ -z "$(mounted_under "$b")" ] || { echo "still mounted after umount: $b" >&2; exit 1; }
	echo "unmounted"
}

demo oci "$DIR/img.oci.sif"
demo native "$DIR/img.sif"
[ -z "$(sr list -q 2>/dev/null)" ] || { echo "containers left in $STATE_ROOT:" >&2; sr list >&2; exit 1; }
say "demo done"
