#!/bin/bash
# hack/install.sh [--prefix DIR] [--sysconfdir DIR] [--no-build] [--uninstall]
#
# Builds sifrun (cargo build --release, unless --no-build) and installs:
#   PREFIX/bin/sifrun
#   PREFIX/share/man/man8/sifrun.8.gz, sifrun-create.8.gz, ... sifrun-oci-run.8.gz
#       (made by the binary itself: `sifrun __man DIR`)
#   PREFIX/share/bash-completion/completions/sifrun       (`sifrun completion bash`)
#   PREFIX/share/zsh/site-functions/_sifrun                (`sifrun completion zsh`)
#   PREFIX/share/fish/vendor_completions.d/sifrun.fish     (`sifrun completion fish`)
#   PREFIX/share/doc/sifrun/examples/   podman, containerd, Docker, Slurm and site config
#   SYSCONFDIR/sifrun/sifrun.toml       a commented example, only if there is none
#   PREFIX/share/sifrun/install-manifest   what was installed, for --uninstall
# PREFIX defaults to /usr/local. SYSCONFDIR defaults to /etc for the prefixes /usr and
# /usr/local (sifrun reads /etc/sifrun/sifrun.toml), else PREFIX/etc.
#
# Running it again updates the files (and drops installed files the new version no
# longer has). --uninstall removes exactly what the manifest lists: the files, the
# directories it created (if empty), and the site config only if it is unchanged.
# Env: SIFRUN=BINARY installs that binary (implies --no-build); CARGO_TARGET_DIR.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
. "$ROOT/hack/lib/as-root.sh"

usage() { sed -n '2,2s/^# //p' "${BASH_SOURCE[0]}" >&2; exit 2; }
PREFIX=/usr/local SYSCONFDIR= BUILD=1 UNINSTALL=0 ARGS=("$@")
while [ $# -gt 0 ]; do
	case $1 in
	--prefix) [ $# -ge 2 ] || usage; PREFIX=$2; shift ;;
	--prefix=*) PREFIX=${1#*=} ;;
	--sysconfdir) [ $# -ge 2 ] || usage; SYSCONFDIR=$2; shift ;;
	--sysconfdir=*) SYSCONFDIR=${1#*=} ;;
	--no-build) BUILD=0 ;;
	--uninstall) UNINSTALL=1 ;;
	-h | --help) sed -n '2,20s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
	*) echo "hack/install.sh: unknown argument: $1" >&2; usage ;;
	esac
	shift
done
[ -n "$PREFIX" ] || usage
PREFIX=$(realpath -m "$PREFIX")
if [ -z "$SYSCONFDIR" ]; then
	case $PREFIX in /usr | /usr/local) SYSCONFDIR=/etc ;; *) SYSCONFDIR=$PREFIX/etc ;; esac
fi
SYSCONFDIR=$(realpath -m "$SYSCONFDIR")
SITE_CONF=$SYSCONFDIR/sifrun/sifrun.toml
# the manifest is one path a line, split on blanks
case "$PREFIX$SYSCONFDIR" in *[[:space:]]*) echo "hack/install.sh: no blanks in --prefix/--sysconfdir, please" >&2; exit 2 ;; esac
MANIFEST=$PREFIX/share/sifrun/install-manifest
# a system prefix needs root: re-run with sudo then (a private one does not)
first_existing() { local d=$1; while [ ! -e "$d" ]; do d=$(dirname "$d"); done; echo "$d"; }
if [ ! -w "$(first_existing "$PREFIX")" ] || { [ $UNINSTALL = 0 ] && [ ! -e "$SITE_CONF" ] && [ ! -w "$(first_existing "$SITE_CONF")" ]; }; then
	need_root "$ROOT/hack/install.sh" "${ARGS[@]}"
fi
export PATH=$HOME/.cargo/bin:/root/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH

# Manifest lines: "d DIR" (a directory this script created), "f FILE", "c FILE SHA256"
# (the site config: removed only while its content is still what was installed).
declare -a NEW=()
declare -A OLD_DIRS=() SEEN=()
record() { [ -n "${SEEN[$*]:-}" ] || { SEEN[$*]=1; NEW+=("$*"); }; }

mkdirs() { # DIR: mkdir -p, recording each directory it creates (and ones created before)
	local d=$1 todo=()
	while [ ! -d "$d" ]; do todo=("$d" "${todo[@]}"); d=$(dirname "$d"); done
	for d in "${todo[@]}"; do mkdir -m 755 "$d"; record d "$d"; done
	d=$1
	while [ "$d" != / ]; do
		[ -z "${OLD_DIRS[$d]:-}" ] || record d "$d"
		d=$(dirname "$d")
	done
}

put() { # MODE SRC DST: install atomically (a running sifrun keeps its old inode)
	mkdirs "$(dirname "$3")"
	install -m "$1" "$2" "$3.sifrun-new"
	mv -f "$3.sifrun-new" "$3"
	record f "$3"
}

uninstall() {
	[ -f "$MANIFEST" ] || { echo "hack/install.sh: nothing to uninstall under $PREFIX (no $MANIFEST)"; return 0; }
	local kind path sum n=0
	while read -r kind path sum; do
		case $kind in
		f) rm -f "$path" && n=$((n + 1)) ;;
		c)
			if [ -f "$path" ] && [ "$(sha256sum <"$path" | cut -d' ' -f1)" != "$sum" ]; then
				echo "kept $path (changed since it was installed)"
			else
				rm -f "$path" && n=$((n + 1))
			fi
			;;
		d) ;;
		esac
	done <"$MANIFEST"
	# deepest first (a child sorts after its parent); one that holds anything else stays
	local dirs
	mapfile -t dirs < <(awk '$1 == "d" { print substr($0, 3) }' "$MANIFEST" | sort -r)
	rm -f "$MANIFEST"
	for path in "${dirs[@]}"; do rmdir "$path" 2>/dev/null || true; done
	echo "removed $n files from $PREFIX"
}

if [ $UNINSTALL = 1 ]; then
	uninstall
	exit 0
fi

BIN=${SIFRUN:-${CARGO_TARGET_DIR:-$ROOT/target}/x86_64-unknown-linux-gnu/release/sifrun}
if [ $BUILD = 1 ] && [ -z "${SIFRUN:-}" ]; then
	echo "cargo build --release --bin sifrun"
	(cd "$ROOT" && as_invoker cargo build --release --quiet --bin sifrun)
fi
[ -x "$BIN" ] || { echo "hack/install.sh: no $BIN (build it, or drop --no-build)" >&2; exit 1; }
"$BIN" __man --help >/dev/null 2>&1 || { echo "hack/install.sh: $BIN cannot write man pages (rebuild it)" >&2; exit 1; }

declare -A OLD_FILES=() OLD_CONFS=()
if [ -f "$MANIFEST" ]; then
	while read -r kind path sum; do
		case $kind in
		d) OLD_DIRS[$path]=1 ;;
		f) OLD_FILES[$path]=1 ;;
		c) [ ! -f "$path" ] || OLD_CONFS[$path]=$sum ;;
		esac
	done <"$MANIFEST"
fi
# site configs an earlier install wrote stay ours (and so do their directories)
for path in "${!OLD_CONFS[@]}"; do
	mkdirs "$(dirname "$path")"
	record c "$path" "${OLD_CONFS[$path]}"
done

TMP=$(mktemp -d /tmp/sifrun-install.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
SIFRUN_PATH=$PREFIX/bin/sifrun

put 755 "$BIN" "$SIFRUN_PATH"

"$BIN" __man "$TMP/man8"
for f in "$TMP"/man8/*.8; do
	gzip -n -9 "$f"
	put 644 "$f.gz" "$PREFIX/share/man/man8/$(basename "$f").gz"
done

"$BIN" completion bash >"$TMP/sifrun.bash"
"$BIN" completion zsh >"$TMP/_sifrun"
"$BIN" completion fish >"$TMP/sifrun.fish"
put 644 "$TMP/sifrun.bash" "$PREFIX/share/bash-completion/completions/sifrun"
put 644 "$TMP/_sifrun" "$PREFIX/share/zsh/site-functions/_sifrun"
put 644 "$TMP/sifrun.fish" "$PREFIX/share/fish/vendor_completions.d/sifrun.fish"

# ---- example configuration, with this installation's path to sifrun
EX=$TMP/examples
mkdir -p "$EX"
cat >"$EX/sifrun.toml" <<'EOF'
# /etc/sifrun/sifrun.toml — site policy for sifrun mount / oci mount / oci run --image
# Everything here is commented out: these are the defaults.
#
# [verify]
# # directory of trusted public keys (*.asc, *.gpg, *.pgp, *.pub, *.pem): PGP or PEM
# keyring = "/etc/sifrun/keys"
# # true: every mount needs a valid signature from a keyring key (as if --verify)
# mandatory = false
# # true: images without a valid signature are never given to the kernel's squashfs
# # driver (kernel mode); FUSE and extract modes still work
# kernel_requires_verified = false
EOF
cat >"$EX/podman-containers.conf" <<EOF
# sifrun as a podman runtime: merge into /etc/containers/containers.conf (or
# ~/.config/containers/containers.conf for rootless podman), then
#   podman --runtime sifrun run --rm busybox echo hi
# or make it the default with runtime = "sifrun" under [engine].
[engine]
# runtime = "sifrun"
# podman passes --log-format=json --log FILE only to the runtimes named here
runtime_supports_json = ["crun", "runc", "kata", "runsc", "krun", "youki", "sifrun"]

[engine.runtimes]
sifrun = ["$SIFRUN_PATH"]
EOF
cat >"$EX/containerd-config.toml" <<EOF
# sifrun behind containerd's runc v2 shim: merge into /etc/containerd/config.toml
# (config version 2, containerd 1.6/1.7) and restart containerd. Kubernetes pods pick it
# with a RuntimeClass whose handler is "sifrun" and spec.runtimeClassName: sifrun:
#   apiVersion: node.k8s.io/v1
#   kind: RuntimeClass
#   metadata:
#     name: sifrun
#   handler: sifrun
# Without the CRI plugin: ctr run --runtime io.containerd.runc.v2 --runc-binary $SIFRUN_PATH ...
version = 2

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.sifrun]
  runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.sifrun.options]
    BinaryName = "$SIFRUN_PATH"
    # as kubelet's cgroupDriver: true for systemd, false for cgroupfs
    SystemdCgroup = false
EOF
cat >"$EX/docker-daemon.json" <<EOF
{
  "runtimes": {
    "sifrun": { "path": "$SIFRUN_PATH" }
  }
}
EOF
# the lines conformance/engines/engine-slurm.sh runs Slurm 22.05 with
R="$SIFRUN_PATH --rootless=true --root=/tmp/sifrun-slurm-%u" ID=%n.%u.%j.%s.%t
cat >"$EX/slurm-oci.conf" <<EOF
# sifrun for Slurm 22.05 OCI containers (srun/sbatch --container=BUNDLE): copy to
# /etc/slurm/oci.conf on each compute node. Slurm runs these as the job's user, always
# rootless; it knows %n %u %j %s %t %b (not %U). Use this run pattern: the
# create/start pattern (RunTimeCreate/RunTimeStart) hangs at create in 22.05, for
# runc too. sifrun refuses a state root another uid owns.
RunTimeQuery="$R state $ID"
RunTimeRun="$R run $ID -b %b"
RunTimeKill="$R kill -a $ID"
RunTimeDelete="$R delete --force $ID"
EOF
cat >"$EX/README" <<EOF
Example configuration for sifrun ($SIFRUN_PATH):

  sifrun.toml             site policy (image signature verification), read from
                          /etc/sifrun/sifrun.toml; see sifrun-mount(8)
  podman-containers.conf  podman: [engine.runtimes] and runtime_supports_json
  containerd-config.toml  containerd (CRI / Kubernetes RuntimeClass): runc v2 shim BinaryName
  docker-daemon.json      Docker: "runtimes" in /etc/docker/daemon.json, then
                          docker run --runtime sifrun ...
                          (or: dockerd --add-runtime sifrun=$SIFRUN_PATH)
  slurm-oci.conf          Slurm 22.05: /etc/slurm/oci.conf
EOF
for f in "$EX"/*; do put 644 "$f" "$PREFIX/share/doc/sifrun/examples/$(basename "$f")"; done

if [ ! -e "$SITE_CONF" ]; then
	mkdirs "$(dirname "$SITE_CONF")"
	install -m 644 "$EX/sifrun.toml" "$SITE_CONF"
	record c "$SITE_CONF" "$(sha256sum <"$SITE_CONF" | cut -d' ' -f1)"
	echo "wrote $SITE_CONF (a commented example)"
fi

# files an earlier install put here that this one does not have
for path in "${!OLD_FILES[@]}"; do [ -n "${SEEN[f $path]:-}" ] || rm -f "$path"; done

mkdirs "$(dirname "$MANIFEST")"
printf '%s\n' "${NEW[@]}" | sort -k2,2 -k1,1 >"$MANIFEST.tmp"
mv -f "$MANIFEST.tmp" "$MANIFEST"
echo "installed sifrun into $PREFIX ($(grep -c '^[fc] ' "$MANIFEST") files; manifest $MANIFEST)"
