#!/bin/bash
# hack/make-busybox-image.sh OUTDIR
#
# Builds a tiny OCI image from Debian's busybox-static, entirely offline.
#
# Produces in OUTDIR:
#   oci/                      OCI image layout with tags "latest" and "user"
#   busybox-oci.tar           oci-archive of tag latest  (ref localhost/rtest/busybox:latest)
#   busybox-user-oci.tar      oci-archive of tag user    (ref localhost/rtest/busybox:user)
#   busybox-docker.tar        docker-archive of tag latest (for `docker load`)
#   busybox-user-docker.tar   docker-archive of tag user
#
# Image config (what the engines must translate into config.json):
#   latest: Cmd ["sh"], Env PATH=... RTEST_ENV=from-image, WorkingDir /srv, User "" (root)
#   user:   same, but User "1000:1000" and WorkingDir /home/tester
#
# Needs: busybox-static, umoci, skopeo (all Debian bookworm packages:
#   apt-get install -y busybox-static umoci skopeo).
# Self-contained: used by sifrun's `sif build` tests and demos.
set -euo pipefail

OUTDIR=${1:?usage: $0 OUTDIR}
NAME=${IMAGE_NAME:-localhost/rtest/busybox}

for t in umoci skopeo; do
	command -v "$t" >/dev/null || { echo "missing $t (apt-get install umoci skopeo)" >&2; exit 1; }
done
BB=/bin/busybox
if [ ! -x "$BB" ] || ldd "$BB" 2>/dev/null | grep -q '=>'; then
	echo "$BB missing or not static: apt-get install busybox-static" >&2; exit 1
fi

mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# ---- rootfs -------------------------------------------------------------
R=$WORK/rootfs
mkdir -p "$R"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,srv,home/tester,proc,sys,dev,run,var/tmp}
chmod 1777 "$R/tmp" "$R/var/tmp"
cp "$BB" "$R/bin/busybox"
for app in $("$BB" --list-full); do
	# --list-full prints e.g. bin/ls, usr/bin/env, sbin/init
	[ "$app" = "bin/busybox" ] && continue
	[ -e "$R/$app" ] || ln -s /bin/busybox "$R/$app"
done
cat >"$R/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
tester:x:1000:1000:tester:/home/tester:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$R/etc/group" <<'EOF'
root:x:0:
tester:x:1000:
extra:x:2000:tester
nogroup:x:65534:
EOF
: >"$R/etc/hosts"
: >"$R/etc/resolv.conf"
echo rtest >"$R/etc/hostname"
echo "hello from image" >"$R/srv/marker"
chown 1000:1000 "$R/home/tester"

# ---- OCI layout ----------------------------------------------------------
L=$OUTDIR/oci
rm -rf "$L"
umoci init --layout "$L"
umoci new --image "$L:latest"
# umoci insert adds a layer with the directory contents at /
umoci insert --image "$L:latest" \
	--history.created "2024-01-01T00:00:00Z" --history.created_by "make-busybox-image.sh: busybox-static rootfs" \
	"$R" /
umoci config --no-history --image "$L:latest" \
	--created "2024-01-01T00:00:00Z" \
	--author "rtest" \
	--architecture amd64 --os linux \
	--config.env "PATH=/usr/sbin:/usr/bin:/sbin:/bin" \
	--config.env "RTEST_ENV=from-image" \
	--config.workingdir /srv \
	--config.cmd sh \
	--config.label "org.rtest=busybox"
umoci config --no-history --image "$L:latest" --tag user \
	--config.user "1000:1000" \
	--config.workingdir /home/tester
umoci gc --layout "$L"

# ---- archives ------------------------------------------------------------
rm -f "$OUTDIR"/busybox-oci.tar "$OUTDIR"/busybox-user-oci.tar "$OUTDIR"/busybox-docker.tar "$OUTDIR"/busybox-user-docker.tar
skopeo copy -q "oci:$L:latest" "oci-archive:$OUTDIR/busybox-oci.tar:$NAME:latest"
skopeo copy -q "oci:$L:user" "oci-archive:$OUTDIR/busybox-user-oci.tar:$NAME:user"
# docker-archive: one image per file (the two tags have different configs)
skopeo copy -q "oci:$L:latest" "docker-archive:$OUTDIR/busybox-docker.tar:$NAME:latest"
skopeo copy -q "oci:$L:user" "docker-archive:$OUTDIR/busybox-user-docker.tar:$NAME:user"

umoci ls --layout "$L"
ls -la "$OUTDIR"
