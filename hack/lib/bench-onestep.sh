# hack/lib/bench-onestep.sh - sourced by hack/bench.sh: the measures of issue 18.
#   onestep  `sifrun oci run --image busybox.sif -- true` as root (against a plain `sifrun
#            run` of an unpacked bundle) and as rtest-user (against Charliecloud's ch-run
#            of the same squashfs, cut out of the SIF); `sifrun mount --mode fuse` +
#            `umount` as rtest-user against squashfuse + fuse-overlayfs + fusermount3 -u
#   build    `sifrun sif build` of a Debian tree (debootstrap, cached under
#            BENCH_TREE_DIR=/var/tmp/sifrun-bench) against mksquashfs alone, and from an
#            OCI archive of that tree against unpack + mksquashfs by hand
# Uses WORK, SIF, BT, RUNS, WARMUP, RTEST_USER, hf, log, rt_root of bench.sh.

ONESTEP_USER=$RTEST_USER
TREE_DIR=${BENCH_TREE_DIR:-/var/tmp/sifrun-bench}
BUILD_RUNS=${BENCH_BUILD_RUNS:-3}

# the options sifrun's builder gives mksquashfs (bundle-tools/src/build/squashfs.rs)
MKSQ_OPTS="-noappend -comp gzip -mkfs-time 0 -xattrs -no-progress -quiet"

# sif_part SIF: "offset size" of the squashfs partition
sif_part() {
	"$WORK/bin/sifrun" sif list --json "$1" | python3 -c '
import json, sys
fs = [o for o in json.load(sys.stdin) if o.get("fs_type") == "Squashfs"]
print(fs[0]["offset"], fs[0]["size"])'
}

m_onestep() {
	local b=$WORK/bin/sifrun r off size U
	fuse_for_users
	r=$(rt_root host sifrun onestep)
	read -r off size < <(sif_part "$SIF")
	# The user's side lives outside the 0700 work dir: binary, images, home, state root.
	U=$(mktemp -d /tmp/sifrun-bench-user.XXXXXX)
	echo "$U" >"$WORK/results/onestep-userdir.txt"
	cp "$b" "$U/sifrun"
	cp "$SIF" "$U/image.sif"
	dd if="$SIF" of="$U/image.sqfs" bs=4096 skip=$((off / 4096)) count=$((size / 4096)) status=none
	# busybox_amd64.sif's squashfs has xattrs (security.selinux on every file), which
	# squashfuse 0.1 reports so that copy-up fails for a user: mode auto extracts it.
	# A native SIF of Debian's busybox-static has none: mode auto is FUSE.
	make_busybox_root "$U/bbroot" >/dev/null
	"$b" sif build -q "$U/static.sif" "dir:$U/bbroot" || die "onestep: sif build"
	rm -rf "$U/bbroot"
	read -r off size < <(sif_part "$U/static.sif")
	dd if="$U/static.sif" of="$U/static.sqfs" bs=4096 skip=$((off / 4096)) count=$((size / 4096)) status=none
	read -r off size < <(sif_part "$SIF")
	mkdir -p "$U/home" "$U/mnt"
	chown -R "$ONESTEP_USER:" "$U"
	# the binary is root's, as an installed one is (one the user can write is run from
	# a sealed copy, src/runtime/sealed_exe.rs)
	chown root: "$U/sifrun"
	chmod 755 "$U" "$U/sifrun"
	cat >"$U/floor-fuse.sh" <<EOF
#!/bin/sh
# by hand, as the user: the mounts sifrun mount --mode fuse makes, then fusermount3 -u
set -e
B=\$1
mkdir -p \$B/layers/0 \$B/rootfs \$B/overlay/upper \$B/overlay/work
squashfuse -o ro,offset=$off,uid=\$(id -u),gid=\$(id -g) $U/image.sif \$B/layers/0
fuse-overlayfs -o lowerdir=\$B/layers/0,upperdir=\$B/overlay/upper,workdir=\$B/overlay/work,xattr_permissions=2 \$B/rootfs
fusermount3 -u \$B/rootfs
# the lower FUSE mount is busy until the fuse-overlayfs daemon has exited
i=0; until fusermount3 -u \$B/layers/0 2>/dev/null; do i=\$((i+1)); [ \$i -lt 400 ] || exit 1; sleep 0.005; done
rm -rf \$B
EOF
	chmod 755 "$U/floor-fuse.sh"
	local as="runuser -u $ONESTEP_USER -- env HOME=$U/home USER=$ONESTEP_USER"
	local ur="$U/sifrun --root $U/state"
	hf host onestep-root \
		-n "plain run" "$b --root $r run --bundle $BT os1" \
		-n "oci run --image" "$b --root $r oci run --image $SIF os2 -- true"
	hf host onestep-user -N \
		-n "ch-run" "$as ch-run $U/image.sqfs -- true" \
		-n "oci run --image" "$as $ur oci run --image $U/image.sif -- true" \
		-n "ch-run, busybox-static" "$as ch-run $U/static.sqfs -- true" \
		-n "oci run --image, busybox-static" "$as $ur oci run --image $U/static.sif --exec -- true" \
		-n "runuser alone" "$as true"
	# the same with the image's mount already held by a running container
	$as $ur oci run --image "$U/static.sif" --exec -- sleep 3600 >/dev/null 2>&1 &
	local holder=$!
	for _ in $(seq 250); do pgrep -u "$ONESTEP_USER" -x sleep >/dev/null && break; sleep 0.02; done
	hf host onestep-user-shared -N \
		-n "ch-run, busybox-static" "$as ch-run $U/static.sqfs -- true" \
		-n "oci run --image, busybox-static" "$as $ur oci run --image $U/static.sif --exec -- true"
	pkill -KILL -u "$ONESTEP_USER" -x sleep || true
	wait "$holder" || true
	hf host onestep-fuse \
		-n "sifrun fuse (user)" "$as sh -c '$ur mount --mode fuse $U/image.sif $U/mnt/s 2>/dev/null && $ur umount $U/mnt/s'" \
		-n "floor fuse (user)" "$as sh $U/floor-fuse.sh $U/mnt/f"
	if grep -q " $U/" /proc/self/mountinfo; then
		log "onestep: mounts left under $U"
		echo leftover >"$WORK/results/onestep-leftover.txt"
		grep " $U/" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
	fi
	rm -rf "$U"
	# the user's image mounts went to /tmp/sifrun-UID/.images (runuser sets no
	# XDG_RUNTIME_DIR): empty now, and the state root next to it is unused
	local t=/tmp/sifrun-$(id -u "$ONESTEP_USER")
	rmdir "$t/.images" "$t" 2>/dev/null || true
}

# the Debian tree, made once (debootstrap --variant=minbase from the apt mirror)
ensure_tree() {
	local t=$TREE_DIR/debian-tree
	if [ ! -x "$t/bin/sh" ]; then
		command -v debootstrap >/dev/null || die "build: no debootstrap"
		log "build: debootstrap bookworm into $t (once)"
		mkdir -p "$TREE_DIR"
		rm -rf "$t"
		debootstrap --variant=minbase bookworm "$t" http://deb.debian.org/debian >"$WORK/logs/debootstrap.log" 2>&1 ||
			die "debootstrap failed (see $WORK/logs/debootstrap.log)"
	fi
	echo "$t"
}

# OCI archive of TREE with one gzip layer (made once, next to the tree)
ensure_archive() {
	local t=$1 a=$TREE_DIR/debian-oci.tar
	[ -s "$a" ] && { echo "$a"; return; }
	log "build: OCI archive of $t (once)"
	python3 - "$t" "$a" <<'PY'
import gzip, hashlib, json, os, shutil, subprocess, sys, tempfile
tree, out = sys.argv[1], sys.argv[2]
d = tempfile.mkdtemp(dir=os.path.dirname(out))
blobs = os.path.join(d, "blobs", "sha256")
os.makedirs(blobs)
tar = subprocess.run(["tar", "-C", tree, "--numeric-owner", "--xattrs", "-cf", "-", "."], check=True, capture_output=True).stdout
diff = "sha256:" + hashlib.sha256(tar).hexdigest()
gz = gzip.compress(tar, 6, mtime=0)
def blob(b):
    h = hashlib.sha256(b).hexdigest()
    open(os.path.join(blobs, h), "wb").write(b)
    return {"digest": "sha256:" + h, "size": len(b)}
layer = blob(gz)
cfg = blob(json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                       "rootfs": {"type": "layers", "diff_ids": [diff]}}).encode())
man = blob(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": dict(cfg, mediaType="application/vnd.oci.image.config.v1+json"),
                       "layers": [dict(layer, mediaType="application/vnd.oci.image.layer.v1.tar+gzip")]}).encode())
json.dump({"schemaVersion": 2, "manifests": [dict(man, mediaType="application/vnd.oci.image.manifest.v1+json")]},
          open(os.path.join(d, "index.json"), "w"))
json.dump({"imageLayoutVersion": "1.0.0"}, open(os.path.join(d, "oci-layout"), "w"))
subprocess.run(["tar", "-C", d, "-cf", out + ".tmp", "."], check=True)
os.rename(out + ".tmp", out)
open(out + ".layer", "w").write(layer["digest"].split(":")[1])
shutil.rmtree(d)
PY
	echo "$a"
}

m_build() {
	local b=$WORK/bin/sifrun t a layer o=$TREE_DIR/out
	t=$(ensure_tree)
	a=$(ensure_archive "$t")
	layer=$(cat "$a.layer")
	mkdir -p "$o"
	du -sb "$t" | cut -f1 >"$WORK/results/build-tree-bytes.txt"
	find "$t" | wc -l >"$WORK/results/build-tree-entries.txt"
	stat -c %s "$a" >"$WORK/results/build-archive-bytes.txt"
	cat >"$WORK/floor-oci.sh" <<EOF
#!/bin/sh
# by hand: unpack the archive's one layer, mksquashfs it, remove the tree
set -e
rm -rf $o/u && mkdir $o/u
tar -xOf $a ./blobs/sha256/$layer | tar -xz --numeric-owner --xattrs -C $o/u
mksquashfs $o/u $o/floor-oci.sqfs $MKSQ_OPTS
rm -rf $o/u
EOF
	local save_runs=$RUNS save_warm=$WARMUP
	RUNS=$BUILD_RUNS WARMUP=1
	hf_alternate host build-dir \
		-n "mksquashfs" "mksquashfs $t $o/floor.sqfs $MKSQ_OPTS" \
		-n "sif build" "$b sif build -q $o/native.sif dir:$t" \
		-n "sif build --oci" "$b sif build -q --oci $o/dir.oci.sif dir:$t"
	hf_alternate host build-oci \
		-n "unpack + mksquashfs" "sh $WORK/floor-oci.sh" \
		-n "sif build oci-archive" "$b sif build -q $o/archive.oci.sif oci-archive:$a"
	RUNS=$save_runs WARMUP=$save_warm
	for f in floor.sqfs native.sif dir.oci.sif archive.oci.sif floor-oci.sqfs; do
		[ -f "$o/$f" ] && echo "$f	$(stat -c %s "$o/$f")" >>"$WORK/results/build-sizes.tsv"
	done
	rm -rf "$o"
}
