# hack/lib/bench-onestep.py - exec'd by hack/bench.sh's report writer (its globals: w,
# hyper, tsv, ms, ratio, res, meta, targets, os): the tables of issue 18.


def onestep_table(name, floor, rows_note):
    d = hyper("host", name)
    if not d:
        return None
    f = d.get(floor)
    w("| what | median ms | mean ± σ ms | min ms | failed runs | ÷ " + floor + " |")
    w("|---|--:|--:|--:|--:|--:|")
    for n, v in d.items():
        w(f"| {n} | **{ms(v['median'])}** | {ms(v['mean'])} ± {ms(v['stddev'])} | {ms(v['min'])} | {v['fails']} | {ratio(v['median'], f['median']) if f else '–'} |")
    w("")
    if rows_note:
        w(rows_note + "\n")
    return d


def ratio_target(d, a, b, label, lim):
    """A target row: median of `a` over median of `b` of table `d`, met at or below `lim`."""
    if d and a in d and b in d:
        r = d[a]["median"] / d[b]["median"]
        targets.append((label, f"{ms(d[a]['median'])} ms vs {ms(d[b]['median'])} ms = **{r:.2f}×**",
                        r <= lim and d[a]["fails"] == 0))


w("### 9. one-step runs: `oci run --image` (issue 18)\n")
if hyper("host", "onestep-root") or hyper("host", "onestep-user"):
    w(f"`{os.path.basename(meta['sif'])}`, the container runs `true`. **root**: `sifrun oci run --image SIF ID -- true` "
      "(mode auto = kernel: loop device + squashfs + overlayfs, config.json from the image, the run, then delete + "
      "umount) against `sifrun run --bundle B ID` of an unpacked busybox bundle.\n")
    ratio_target(onestep_table("onestep-root", "plain run", ""), "oci run --image", "plain run",
                 "oci run --image (root) ≤ 2× plain `run` of a bundle", 2.0)
    w("**rtest-user** (no root; both through `runuser -u rtest-user`, whose own cost is the last row): "
      "`sifrun oci run --image SIF -- true` (mode auto) against Charliecloud's `ch-run SQFS -- true` "
      "(charliecloud-runtime 0.31, squashfs mounted with its built-in squashfuse, no writable layer) of the same "
      "squashfs cut out of the SIF.\n")
    d = onestep_table("onestep-user", "ch-run", "`" + os.path.basename(meta['sif']) + "` has an xattr on every file "
                      "(security.selinux), which squashfuse 0.1 reports so that copy-up fails for a user: mode auto "
                      "extracts it per run. `busybox-static` is a native SIF of Debian's busybox-static made here "
                      "(`sif build dir:`), without xattrs: mode auto is FUSE, the overlay the kernel's in the "
                      "container's user namespace. Its ratio is to `ch-run, busybox-static`.")
    if d and "oci run --image, busybox-static" in d and "ch-run, busybox-static" in d:
        ratio_target({"a": d["oci run --image, busybox-static"], "b": d["ch-run, busybox-static"]}, "a", "b",
                     "oci run --image (rtest-user) ≤ ch-run of the same squashfs (busybox-static)", 1.0)
    ratio_target(d, "oci run --image", "ch-run",
                 "oci run --image (rtest-user) ≤ ch-run of the same squashfs (busybox_amd64.sif, extract)", 1.0)
    w("The same with the image's mount already held by a running `oci run --image` of it (`sleep 3600`):\n")
    ratio_target(onestep_table("onestep-user-shared", "ch-run, busybox-static", ""), "oci run --image, busybox-static",
                 "ch-run, busybox-static", "oci run --image (rtest-user, image mount shared) far below ch-run", 0.8)
    w("**`mount --mode fuse` + `umount` as rtest-user**: against a `sh` script doing the same mounts by hand "
      "(`squashfuse -o ro,offset=OFF,uid,gid` + `fuse-overlayfs ...,xattr_permissions=2`, `fusermount3 -u` both, retrying "
      "the lower one every 5 ms while the overlay daemon exits, mkdir/rm of the bundle dirs).\n")
    ratio_target(onestep_table("onestep-fuse", "floor fuse (user)", ""), "sifrun fuse (user)", "floor fuse (user)",
                 "mount+umount (fuse, rtest-user) ≤ by-hand floor", 1.0)
    if os.path.exists(f"{res}/onestep-leftover.txt"):
        w("**Mounts were left behind after the onestep measure.**\n")
else:
    w("_not measured in this run_\n")

w("### 10. image builds: `sif build` against mksquashfs (issue 18)\n")
bd, bo = hyper("host", "build-dir"), hyper("host", "build-oci")
if bd or bo:
    def rd(n):
        p = f"{res}/{n}"
        return open(p).read().strip() if os.path.exists(p) else "?"
    tb = rd("build-tree-bytes.txt")
    w(f"A Debian bookworm tree (`debootstrap --variant=minbase`, {int(tb) / 1e6:.0f} MB, {rd('build-tree-entries.txt')} "
      f"entries; cached under /var/tmp/sifrun-bench) and an OCI archive of it (one gzip layer, "
      f"{int(rd('build-archive-bytes.txt')) / 1e6:.0f} MB). mksquashfs with the options sifrun's builder uses "
      "(`-comp gzip -mkfs-time 0 -xattrs`, all CPUs). `sif build dir:TREE` (native SIF: `/.singularity.d` added as "
      "mksquashfs pseudo files), `--oci` (OCI-SIF); floor for the archive: `tar -x` of the layer blob into a directory "
      f"+ mksquashfs + `rm -rf`. {meta.get('build_runs', '?')} runs each (1 warm-up), one run of each command in turn (each tree unpacked and removed slows the next on this ext4, so measuring one command's runs after the other's favoured the first), the tree in the page cache.\n")
    if bd:
        d = onestep_table("build-dir", "mksquashfs", "")
        m = d.get("mksquashfs")
        for n, lim in [("sif build", 1.1), ("sif build --oci", 1.1)]:
            if m and n in d:
                r = d[n]["median"] / m["median"]
                targets.append((f"`{n} dir:` ≤ {lim}× mksquashfs alone", f"{d[n]['median'] / 1e3:.2f} s vs {m['median'] / 1e3:.2f} s = **{r:.2f}×**",
                                r <= lim and d[n]["fails"] == 0))
    if bo:
        d = onestep_table("build-oci", "unpack + mksquashfs", "")
        f, s = d.get("unpack + mksquashfs"), d.get("sif build oci-archive")
        if f and s:
            r = s["median"] / f["median"]
            targets.append(("`sif build oci-archive:` ≤ 1.2× unpack + mksquashfs", f"{s['median'] / 1e3:.2f} s vs {f['median'] / 1e3:.2f} s = **{r:.2f}×**",
                            r <= 1.2 and s["fails"] == 0))
    sz = tsv("build-sizes.tsv")
    if sz:
        w("Output sizes: " + ", ".join(f"{n} {int(b):,} B" for n, b in sz) + ".\n")
else:
    w("_not measured in this run_\n")
