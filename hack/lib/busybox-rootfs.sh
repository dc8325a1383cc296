# hack/lib/busybox-rootfs.sh - sourced by hack/make-busybox-bundle.sh, hack/bench.sh, hack/symbol-order.sh,
# hack/make-busybox-sif.sh and hack/demo.sh.
#
# make_busybox_root DIR: a minimal root filesystem from Debian's busybox-static:
#   /bin/busybox + one symlink per applet (busybox --list), /etc/passwd, /etc/group,
#   empty /etc/hosts, /etc/resolv.conf, /tmp and /var/tmp (1777), /root (0700),
#   empty /proc /sys /dev /run /home mount points.
BUSYBOX=${BUSYBOX:-/bin/busybox}

ensure_busybox() {
	if ! "$BUSYBOX" --list >/dev/null 2>&1 || ldd "$BUSYBOX" 2>/dev/null | grep -q '=>'; then
		if [ "$BUSYBOX" = /bin/busybox ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
			echo "installing busybox-static" >&2
			DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends busybox-static >&2 ||
				{ apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends busybox-static >&2; }
		fi
	fi
	"$BUSYBOX" --list >/dev/null 2>&1 || { echo "busybox not usable at $BUSYBOX (apt-get install busybox-static)" >&2; return 1; }
}

make_busybox_root() {
	local d=$1 a
	mkdir -p "$d"/{bin,sbin,dev,proc,sys,tmp,etc,root,home,run,var/tmp,usr/bin,usr/sbin}
	chmod 1777 "$d/tmp" "$d/var/tmp"
	chmod 0700 "$d/root"
	cp "$BUSYBOX" "$d/bin/busybox"
	chmod 0755 "$d/bin/busybox"
	for a in $("$BUSYBOX" --list); do
		[ "$a" = busybox ] || ln -sfn busybox "$d/bin/$a"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$d/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$d/etc/group"
	: >"$d/etc/hosts"
	: >"$d/etc/resolv.conf"
}

# make_runc_bundle DIR ARGS...: a bundle with `runc spec`'s config (terminal off, root
# "rootfs", process args ARGS) and a busybox rootfs
make_runc_bundle() {
	local dir=$1
	shift
	mkdir -p "$dir"
	(cd "$dir" && runc spec)
	python3 - "$dir/config.json" "$@" <<'PY'
import json, sys
path, args = sys.argv[1], sys.argv[2:]
spec = json.load(open(path))
spec["process"]["args"] = args
spec["process"]["terminal"] = False
spec["root"]["path"] = "rootfs"
json.dump(spec, open(path, "w"), indent="\t")
PY
	make_busybox_root "$dir/rootfs"
}
