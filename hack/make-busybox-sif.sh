#!/bin/bash
# hack/make-busybox-sif.sh [--native-only | --oci-only] OUT.sif
#
# Builds mountable busybox images from Debian's busybox-static with `sifrun sif build`,
# no network, no siftool:
#   OUT.sif      native SIF (`sif build OUT.sif dir:ROOTFS`): Def.FILE, JSON.Generic
#                inspect metadata, squashfs primary system partition holding the busybox
#                rootfs (hack/lib/busybox-rootfs.sh) + /.singularity.d (runscript below,
#                env script exporting SIFRUN_DEMO_ENV=from-env-script, actions).
#   OUT.oci.sif  OCI-SIF (`sif build --oci OUT.oci.sif dir:ROOTFS`) of the same rootfs:
#                one squashfs layer, image config (Cmd sh, PATH, SIFRUN_DEMO_ENV), manifest,
#                root index (OUT with its trailing ".sif" replaced by ".oci.sif").
# --native-only writes only OUT (native); --oci-only writes only OUT (as an OCI-SIF).
#
# Env: SIFRUN (default: $CARGO_TARGET_DIR or target/, x86_64-unknown-linux-gnu/release/sifrun; else sifrun on PATH).
# For an OCI-SIF from a real OCI image (user, workdir, env from its config), see
# hack/make-busybox-image.sh + `sifrun sif build OUT.sif oci-archive:FILE`.
set -euo pipefail
HACK=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HACK/.." && pwd)
. "$HACK/lib/busybox-rootfs.sh"

MODE=both
case ${1:-} in
--native-only) MODE=native; shift ;;
--oci-only) MODE=oci; shift ;;
esac
OUTF=${1:?usage: $0 [--native-only|--oci-only] OUT.sif}
mkdir -p "$(dirname "$OUTF")"
OUTF=$(cd "$(dirname "$OUTF")" && pwd)/$(basename "$OUTF")
OCIF=${OUTF%.sif}.oci.sif
[ $MODE = oci ] && OCIF=$OUTF

if [ -z "${SIFRUN:-}" ]; then
	SIFRUN=${CARGO_TARGET_DIR:-$ROOT/target}/x86_64-unknown-linux-gnu/release/sifrun
	[ -x "$SIFRUN" ] || SIFRUN=$(command -v sifrun || true)
fi
[ -n "$SIFRUN" ] && [ -x "$SIFRUN" ] || { echo "no sifrun binary (cargo build --release, or set SIFRUN)" >&2; exit 1; }
"$SIFRUN" sif build --help >/dev/null 2>&1 || { echo "$SIFRUN has no \`sif build\` (rebuild it)" >&2; exit 1; }
ensure_busybox

# scratch next to the output (sif build copies the rootfs there too)
WORK=$(mktemp -d "$(dirname "$OUTF")/.make-busybox-sif.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
make_busybox_root "$WORK/root"
cat >"$WORK/runscript" <<'EOS'
#!/bin/sh
echo "runscript: SIFRUN_DEMO_ENV=${SIFRUN_DEMO_ENV:-unset} args=$*"
EOS
COMMON=(-q --tmpdir "$WORK" --env SIFRUN_DEMO_ENV=from-env-script --label org.sifrun.image=busybox)

if [ $MODE != oci ]; then
	rm -f "$OUTF"
	"$SIFRUN" sif build "${COMMON[@]}" --runscript "$WORK/runscript" "$OUTF" "dir:$WORK/root"
	chmod 0755 "$OUTF"
	echo "native SIF $OUTF ($(stat -c %s "$OUTF") bytes) sha256=$(sha256sum "$OUTF" | cut -d' ' -f1)"
fi
if [ $MODE != native ]; then
	rm -f "$OCIF"
	"$SIFRUN" sif build "${COMMON[@]}" --oci "$OCIF" "dir:$WORK/root"
	echo "OCI-SIF $OCIF ($(stat -c %s "$OCIF") bytes) sha256=$(sha256sum "$OCIF" | cut -d' ' -f1)"
fi
