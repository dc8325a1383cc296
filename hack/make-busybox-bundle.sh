#!/bin/bash
# hack/make-busybox-bundle.sh [--args "CMD ARG..."] [--no-terminal] [--force] DIR
#
# Makes an OCI bundle in DIR:
#   DIR/config.json  runc-spec-like defaults, written by `target/x86_64-unknown-linux-gnu/release/sifrun spec`
#                    when that binary exists, else by `runc spec`
#   DIR/rootfs/      Debian's busybox-static: /bin/busybox + applet symlinks, /etc/passwd,
#                    /etc/group, /tmp, /proc /sys /dev (see hack/lib/busybox-rootfs.sh)
# Options:
#   --args "CMD ARG..."  process.args (split on whitespace; default: the spec's ["sh"])
#   --no-terminal        process.terminal = false (the spec default is true, which needs
#                        a console socket or a tty on stdin)
#   --force              replace an existing DIR/rootfs and DIR/config.json
# Env: SIFRUN (path of the sifrun binary to use for `spec`), BUSYBOX (default /bin/busybox).
set -euo pipefail
HACK=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HACK/.." && pwd)
. "$HACK/lib/busybox-rootfs.sh"

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
ARGS= NOTERM=0 FORCE=0 DIR=
while [ $# -gt 0 ]; do
	case $1 in
	--args) [ $# -ge 2 ] || usage; ARGS=$2; shift 2 ;;
	--args=*) ARGS=${1#--args=}; shift ;;
	--no-terminal) NOTERM=1; shift ;;
	--force) FORCE=1; shift ;;
	-h | --help) usage ;;
	-*) echo "unknown option $1" >&2; usage ;;
	*) [ -z "$DIR" ] || usage; DIR=$1; shift ;;
	esac
done
[ -n "$DIR" ] || usage
command -v python3 >/dev/null || { echo "python3 is needed" >&2; exit 1; }
ensure_busybox

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
if [ -e "$DIR/config.json" ] || [ -e "$DIR/rootfs" ]; then
	[ $FORCE = 1 ] || { echo "$DIR already holds config.json or rootfs (use --force)" >&2; exit 1; }
	rm -rf "$DIR/config.json" "$DIR/rootfs"
fi

# ---- config.json -----------------------------------------------------------
SIFRUN=${SIFRUN:-$ROOT/target/x86_64-unknown-linux-gnu/release/sifrun}
if [ -x "$SIFRUN" ] && ("$SIFRUN" spec --bundle "$DIR"; r=$?; exit $r) >/dev/null 2>&1 && [ -s "$DIR/config.json" ]; then
	GEN="$SIFRUN spec"
elif command -v runc >/dev/null && (cd "$DIR" && rm -f config.json && runc spec) && [ -s "$DIR/config.json" ]; then
	GEN="runc spec"
else
	echo "cannot generate config.json: neither $SIFRUN nor runc is usable" >&2
	exit 1
fi

python3 - "$DIR/config.json" "$ARGS" "$NOTERM" <<'PY'
import json, sys, shlex
path, args, noterm = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
with open(path) as f:
    spec = json.load(f)
proc = spec.setdefault("process", {})
if args.strip():
    proc["args"] = shlex.split(args)
if noterm:
    proc["terminal"] = False
spec.setdefault("root", {})["path"] = "rootfs"
with open(path, "w") as f:
    json.dump(spec, f, indent="\t")
    f.write("\n")
PY

# ---- rootfs ----------------------------------------------------------------
make_busybox_root "$DIR/rootfs"
echo "bundle $DIR: config.json from $GEN, args=$(python3 -c 'import json,sys; p=json.load(open(sys.argv[1]))["process"]; print(json.dumps(p["args"]), "terminal=%s" % str(p.get("terminal", False)).lower())' "$DIR/config.json")" >&2
