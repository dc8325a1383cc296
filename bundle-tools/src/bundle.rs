//! `mount` a SIF / OCI-SIF as an OCI bundle and `umount` it again.
//!
//! Layout (like SingularityCE's): `BUNDLE/layers/<i>` read-only squashfs (or ext3)
//! layers, `BUNDLE/rootfs` an overlay of them with `BUNDLE/overlay/{upper,work}`,
//! `BUNDLE/volumes/`, `BUNDLE/config.json`, and `BUNDLE/.sifrun-mount.json` recording
//! exactly what was done so `umount` can undo it (and a failed mount is rolled back
//! with the same code).
//!
//! The state is saved (atomically: temp file + rename) before every step that leaves
//! something behind (a directory, a loop device, a mount, a FUSE daemon), so a
//! `mount` killed at any point can be undone by `umount --force`, which also sweeps
//! whatever is still mounted under the bundle and stops leftover FUSE daemons. The
//! state file is removed last, just before the bundle directory; `umount --force`
//! accepts a bundle that holds nothing but sifrun's own leftovers.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::mount::{MntFlags, MsFlags};
use serde::{Deserialize, Serialize};

use crate::config;
use crate::envscript;
use crate::error::{Error, Result};
use crate::loopdev::{self, LoopDevice};
use crate::oci_sif::OciImage;
use crate::sif::{Extra, FsType, Sif};

pub const STATE_FILE: &str = ".sifrun-mount.json";
const TMP_STATE_FILE: &str = ".sifrun-mount.json.tmp";

/// How to mount the read-only layers and the overlay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountMode {
    /// Loop devices + kernel squashfs/overlayfs (root).
    Kernel,
    /// squashfuse + fuse-overlayfs (no root needed).
    Fuse,
    /// Kernel when root and it works, else FUSE.
    Auto,
}

impl std::str::FromStr for MountMode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "kernel" => Ok(Self::Kernel),
            "fuse" => Ok(Self::Fuse),
            "auto" => Ok(Self::Auto),
            o => Err(format!("unknown mount mode {o:?} (kernel, fuse, auto)")),
        }
    }
}

/// One mount made, in order.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MountRecord {
    pub target: PathBuf,
    pub fstype: String,
    pub fuse: bool,
}

/// One loop device attached.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LoopRecord {
    pub device: PathBuf,
    pub number: u32,
    pub offset: u64,
    pub size: u64,
}

/// Everything `mount` did, saved as `BUNDLE/.sifrun-mount.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MountState {
    pub version: u32,
    pub image: PathBuf,
    pub bundle: PathBuf,
    /// "native" or "oci".
    pub image_kind: String,
    /// Kernel or Fuse (never Auto).
    pub mode: MountMode,
    pub mounts: Vec<MountRecord>,
    pub loop_devices: Vec<LoopRecord>,
    /// Paths created, in creation order (removed in reverse).
    pub created: Vec<PathBuf>,
    pub bundle_created: bool,
}

/// A read-only layer to mount: a byte range of the image.
#[derive(Debug, Clone)]
struct Layer {
    offset: u64,
    size: u64,
    fs: FsType,
}

enum Source {
    Native,
    Oci(Box<OciImage>),
}

fn merr(m: impl Into<String>) -> Error {
    Error::Mount(m.into())
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Find what to mount in an image.
fn plan(sif: &Sif) -> Result<(Source, Vec<Layer>)> {
    if sif.is_oci() {
        let img = OciImage::resolve(sif)?;
        let layers = img
            .rootfs_layers()?
            .iter()
            .map(|l| Layer {
                offset: l.offset,
                size: l.size,
                fs: FsType::Squashfs,
            })
            .collect();
        return Ok((Source::Oci(Box::new(img)), layers));
    }
    let p = sif
        .primary_partition()
        .ok_or_else(|| Error::NoRootfs("image has no primary system partition".into()))?;
    let Extra::Partition { fs, .. } = p.extra else {
        unreachable!("primary_partition returns partitions")
    };
    let fs = match fs {
        FsType::Squashfs | FsType::Ext3 | FsType::Raw => sif.sniff_fs(p).ok_or_else(|| {
            Error::NoRootfs(format!(
                "primary partition (object {}) holds neither squashfs nor ext3 data",
                p.id
            ))
        })?,
        FsType::EncryptedSquashfs => {
            return Err(Error::NoRootfs(
                "encrypted squashfs partitions are not supported".into(),
            ))
        }
        o => {
            return Err(Error::NoRootfs(format!(
                "primary partition has unsupported filesystem type {o}"
            )))
        }
    };
    Ok((
        Source::Native,
        vec![Layer {
            offset: p.offset as u64,
            size: p.size as u64,
            fs,
        }],
    ))
}

impl MountState {
    /// Records the directories, then creates them in order (parents first). One
    /// save for all: teardown ignores those a kill left unmade, and every save
    /// replaces a file, which costs a synchronous discard on an ext4 mounted so.
    fn mkdirs(&mut self, dirs: &[(PathBuf, u32)]) -> Result<()> {
        self.created.extend(dirs.iter().map(|(p, _)| p.clone()));
        self.save()?;
        for (p, mode) in dirs {
            fs::DirBuilder::new()
                .mode(*mode)
                .create(p)
                .map_err(|e| Error::io(p, e))?;
        }
        Ok(())
    }

    /// Records a mount about to be made (unmounting one that was not made is a no-op).
    fn will_mount(&mut self, target: &Path, fstype: &str, fuse: bool) -> Result<()> {
        self.mounts.push(MountRecord {
            target: target.to_path_buf(),
            fstype: fstype.into(),
            fuse,
        });
        self.save()
    }

    /// Atomic (temp file + rename), so a kill never leaves a torn state. Not fsync'd:
    /// what it describes (mounts, loop devices) does not survive a reboot either.
    fn save(&self) -> Result<()> {
        let p = self.bundle.join(STATE_FILE);
        let tmp = self.bundle.join(TMP_STATE_FILE);
        let json = serde_json::to_vec_pretty(self).map_err(|e| merr(e.to_string()))?;
        fs::write(&tmp, json).map_err(|e| Error::io(&tmp, e))?;
        fs::rename(&tmp, &p).map_err(|e| Error::io(&p, e))
    }

    pub fn load(bundle: &Path) -> Result<Self> {
        let p = bundle.join(STATE_FILE);
        let b = fs::read(&p).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::Bundle {
                    path: bundle.to_path_buf(),
                    msg: "not mounted by sifrun mount (no .sifrun-mount.json)".into(),
                }
            } else {
                Error::io(&p, e)
            }
        })?;
        serde_json::from_slice(&b).map_err(|e| Error::Bundle {
            path: bundle.to_path_buf(),
            msg: format!("{STATE_FILE}: {e}"),
        })
    }
}

/// Mount `image` as an OCI bundle at `bundle` (created if missing; must be empty).
pub fn mount(image: &Path, bundle: &Path, mode: MountMode) -> Result<MountState> {
    let image = fs::canonicalize(image).map_err(|e| Error::io(image, e))?;
    let sif = Sif::open(&image)?;
    let (source, layers) = plan(&sif)?;
    if mode == MountMode::Kernel && !is_root() {
        return Err(merr("kernel mode needs root (use --mode fuse)"));
    }

    let bundle_created = match fs::read_dir(bundle) {
        Ok(mut rd) => {
            if rd.next().is_some() {
                return Err(Error::Bundle {
                    path: bundle.to_path_buf(),
                    msg: "exists and is not empty".into(),
                });
            }
            false
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::DirBuilder::new()
                .mode(0o700)
                .create(bundle)
                .map_err(|e| Error::io(bundle, e))?;
            true
        }
        Err(e) => return Err(Error::io(bundle, e)),
    };
    let bundle = fs::canonicalize(bundle).map_err(|e| Error::io(bundle, e))?;
    let mut st = MountState {
        version: 1,
        image: image.clone(),
        bundle: bundle.clone(),
        image_kind: match source {
            Source::Native => "native".into(),
            Source::Oci(_) => "oci".into(),
        },
        mode: if mode == MountMode::Auto {
            if is_root() {
                MountMode::Kernel
            } else {
                MountMode::Fuse
            }
        } else {
            mode
        },
        mounts: vec![],
        loop_devices: vec![],
        created: vec![],
        bundle_created,
    };
    if let Err(e) = st.save() {
        let _ = teardown(&mut st, true, true);
        return Err(e);
    }
    match build(&mut st, &sif, &source, &layers) {
        Ok(()) => Ok(st),
        Err(e) if mode == MountMode::Auto && st.mode == MountMode::Kernel => {
            // The kernel path failed (no loop devices, no overlay in a container …):
            // undo it and try FUSE.
            teardown(&mut st, true, false)?;
            recreate_bundle(&st)?;
            st.mode = MountMode::Fuse;
            match build(&mut st, &sif, &source, &layers) {
                Ok(()) => Ok(st),
                Err(e2) => {
                    let _ = teardown(&mut st, true, true);
                    Err(merr(format!("kernel mode: {e}; fuse mode: {e2}")))
                }
            }
        }
        Err(e) => {
            let _ = teardown(&mut st, true, true);
            Err(e)
        }
    }
}

fn recreate_bundle(st: &MountState) -> Result<()> {
    if !st.bundle.exists() {
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&st.bundle)
            .map_err(|e| Error::io(&st.bundle, e))?;
    }
    Ok(())
}

fn build(st: &mut MountState, sif: &Sif, source: &Source, layers: &[Layer]) -> Result<()> {
    let b = st.bundle.clone();
    let (ldir, rootfs, overlay) = (b.join("layers"), b.join("rootfs"), b.join("overlay"));
    let (upper, work) = (overlay.join("upper"), overlay.join("work"));
    let mut dirs = vec![
        (ldir.clone(), 0o755),
        (rootfs.clone(), 0o755),
        (overlay.clone(), 0o700),
        (upper.clone(), 0o755),
        (work.clone(), 0o700),
        (b.join("volumes"), 0o755),
    ];
    dirs.extend((0..layers.len()).map(|i| (ldir.join(i.to_string()), 0o755)));
    st.mkdirs(&dirs)?;
    let mut lowers = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let dir = ldir.join(i.to_string());
        match st.mode {
            MountMode::Fuse => fuse_layer(st, sif.path(), l, &dir)?,
            _ => kernel_layer(st, sif.path(), l, &dir)?,
        }
        lowers.push(dir);
    }
    // overlay lowerdir lists the top layer first
    let lower: Vec<String> = lowers
        .iter()
        .rev()
        .map(|p| escape_overlay_path(p))
        .collect();
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        escape_overlay_path(&upper),
        escape_overlay_path(&work)
    );
    match st.mode {
        MountMode::Fuse => {
            let mut o = opts.clone();
            if is_root() {
                o.push_str(",allow_other");
            }
            st.will_mount(&rootfs, "fuse.fuse-overlayfs", true)?;
            run_tool(
                "fuse-overlayfs",
                &[OsStr::new("-o"), OsStr::new(&o), rootfs.as_os_str()],
            )?;
        }
        _ => {
            st.will_mount(&rootfs, "overlay", false)?;
            nix::mount::mount(
                Some("overlay"),
                &rootfs,
                Some("overlay"),
                MsFlags::empty(),
                Some(opts.as_str()),
            )
            .map_err(|e| merr(format!("overlay on {}: {e}", rootfs.display())))?;
        }
    }
    let spec = make_spec(source, &rootfs)?;
    let cfg = b.join("config.json");
    let json = serde_json::to_vec_pretty(&spec).map_err(|e| Error::Config(e.to_string()))?;
    st.created.push(cfg.clone());
    st.save()?;
    fs::write(&cfg, json).map_err(|e| Error::io(&cfg, e))
}

/// overlayfs splits options on ',' and lowerdir on ':'; escape them in paths.
fn escape_overlay_path(p: &Path) -> String {
    let s = p.to_string_lossy();
    s.replace('\\', "\\\\")
        .replace(':', "\\:")
        .replace(',', "\\,")
}

fn kernel_layer(st: &mut MountState, image: &Path, l: &Layer, dir: &Path) -> Result<()> {
    // Autoclear: a device attached by a mount killed before it is recorded (or
    // mounted) goes away when the kernel closes our fd.
    let dev = LoopDevice::attach(image, l.offset, l.size)?;
    st.loop_devices.push(LoopRecord {
        device: dev.path.clone(),
        number: dev.number,
        offset: l.offset,
        size: l.size,
    });
    let flags = MsFlags::MS_RDONLY | MsFlags::MS_NODEV | MsFlags::MS_NOSUID;
    let fstypes: &[&str] = match l.fs {
        FsType::Ext3 => &["ext3", "ext4"],
        _ => &["squashfs"],
    };
    st.will_mount(dir, fstypes[0], false)?;
    let mut last = None;
    for fstype in fstypes {
        match nix::mount::mount(Some(&dev.path), dir, Some(*fstype), flags, None::<&str>) {
            Ok(()) => {
                if let Some(m) = st.mounts.last_mut() {
                    m.fstype = fstype.to_string();
                }
                // The device goes away with the mount once our fd closes.
                drop(dev);
                return Ok(());
            }
            Err(e) => last = Some(format!("{fstype}: {e}")),
        }
    }
    st.mounts.pop();
    st.loop_devices.pop();
    let _ = dev.detach();
    Err(merr(format!(
        "mount {} at offset {} on {}: {}",
        image.display(),
        l.offset,
        dir.display(),
        last.unwrap_or_default()
    )))
}

fn fuse_layer(st: &mut MountState, image: &Path, l: &Layer, dir: &Path) -> Result<()> {
    if l.fs != FsType::Squashfs {
        return Err(merr("only squashfs layers can be mounted in fuse mode"));
    }
    let mut o = format!("ro,offset={}", l.offset);
    if is_root() {
        o.push_str(",allow_other");
    }
    st.will_mount(dir, "fuse.squashfuse", true)?;
    run_tool(
        "squashfuse",
        &[
            OsStr::new("-o"),
            OsStr::new(&o),
            image.as_os_str(),
            dir.as_os_str(),
        ],
    )
}

fn run_tool(tool: &str, args: &[&OsStr]) -> Result<()> {
    let out = Command::new(tool)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| merr(format!("cannot run {tool}: {e}")))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(merr(format!(
            "{tool} failed ({}): {}",
            out.status,
            err.trim().lines().last().unwrap_or("")
        )));
    }
    Ok(())
}

/// Read a small text file from the mounted rootfs (None if absent or not UTF-8; cut at 1 MiB).
fn read_small(rootfs: &Path, rel: &str) -> Option<String> {
    crate::envscript::read_capped(&rootfs.join(rel), 1 << 20).ok()
}

fn make_spec(source: &Source, rootfs: &Path) -> Result<oci_spec::runtime::Spec> {
    match source {
        Source::Oci(img) => config::spec_from_image_config(
            img.config.as_ref(),
            read_small(rootfs, "etc/passwd").as_deref(),
            read_small(rootfs, "etc/group").as_deref(),
        ),
        Source::Native => {
            let env = envscript::image_env(rootfs, &[]);
            config::spec_for_native(
                env,
                read_small(rootfs, ".singularity.d/labels.json").as_deref(),
            )
        }
    }
}

/// Undo `st` in reverse order. `force` lazily detaches busy mounts; `remove_bundle`
/// also removes the bundle dir if mount created it.
fn teardown(st: &mut MountState, force: bool, remove_bundle: bool) -> Result<()> {
    while let Some(m) = st.mounts.last().cloned() {
        unmount_one(&m, force)?;
        st.mounts.pop();
    }
    if force {
        sweep(&st.bundle)?;
    }
    while let Some(l) = st.loop_devices.pop() {
        loopdev::detach_if_ours(l.number, &st.image, l.offset)?;
    }
    // The overlay dir holds the container's writes (upper) and overlayfs' work dir;
    // both are ours to delete. Everything else we created should be empty by now.
    let overlay = st.bundle.join("overlay");
    while let Some(p) = st.created.pop() {
        let r = if p == overlay {
            fs::remove_dir_all(&p)
        } else if p.starts_with(&overlay) {
            continue;
        } else if p.is_dir() {
            fs::remove_dir(&p)
        } else {
            fs::remove_file(&p)
        };
        match r {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                st.created.push(p.clone());
                return Err(Error::io(p, e));
            }
        }
    }
    // The state goes last: killed before this point, `umount --force` redoes it all.
    let _ = fs::remove_file(st.bundle.join(TMP_STATE_FILE));
    let _ = fs::remove_file(st.bundle.join(STATE_FILE));
    if remove_bundle && st.bundle_created {
        // Files left by others (e.g. a runtime's logs) keep the bundle; that is fine.
        let _ = fs::remove_dir(&st.bundle);
    }
    Ok(())
}

fn unmount_one(m: &MountRecord, force: bool) -> Result<()> {
    if m.fuse && !is_root() {
        let fusermount = || {
            run_tool("fusermount3", &[OsStr::new("-u"), m.target.as_os_str()])
                .or_else(|_| run_tool("fusermount", &[OsStr::new("-u"), m.target.as_os_str()]))
        };
        // Busy until the daemon stacked above has exited (see below): retry a while.
        let mut r = fusermount();
        for _ in 0..200 {
            if r.is_ok() || !is_mountpoint(&m.target) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
            r = fusermount();
        }
        return match r {
            Ok(()) => Ok(()),
            Err(_) if !is_mountpoint(&m.target) => Ok(()),
            Err(_) if force => run_tool(
                "fusermount3",
                &[OsStr::new("-u"), OsStr::new("-z"), m.target.as_os_str()],
            ),
            Err(e) => Err(e),
        };
    }
    // A FUSE layer stays busy until the fuse-overlayfs daemon above it has exited,
    // which happens asynchronously after its own unmount: retry EBUSY for a while.
    // The daemon is usually gone within a millisecond or two: poll from 200 µs,
    // backing off to 5 ms, for 2 s in all.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    let mut pause = std::time::Duration::from_micros(200);
    let mut r = nix::mount::umount2(&m.target, MntFlags::empty());
    while m.fuse && r == Err(nix::errno::Errno::EBUSY) && std::time::Instant::now() < deadline {
        std::thread::sleep(pause);
        pause = (pause * 2).min(std::time::Duration::from_millis(5));
        r = nix::mount::umount2(&m.target, MntFlags::empty());
    }
    match r {
        Ok(()) => Ok(()),
        // Not mounted (any more) or gone: nothing to undo.
        Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => Ok(()),
        Err(nix::errno::Errno::EBUSY) if force => {
            nix::mount::umount2(&m.target, MntFlags::MNT_DETACH)
                .map_err(|e| merr(format!("umount -l {}: {e}", m.target.display())))
        }
        Err(e) => Err(merr(format!("umount {}: {e}", m.target.display()))),
    }
}

/// Mounts (target, fstype) at or below `dir`, in /proc/self/mountinfo order (a mount
/// stacked on or nested in another comes after it).
fn mounts_under(dir: &Path) -> Vec<(PathBuf, String)> {
    let Ok(mi) = fs::read_to_string("/proc/self/mountinfo") else {
        return vec![];
    };
    mi.lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let target = unescape_mountinfo(pre.split(' ').nth(4)?);
            let fstype = post.split(' ').next()?.to_string();
            target.starts_with(dir).then_some((target, fstype))
        })
        .collect()
}

/// FUSE daemons (squashfuse, fuse-overlayfs) whose mount point is at or below `dir`.
fn helpers_under(dir: &Path) -> Vec<i32> {
    let Ok(rd) = fs::read_dir("/proc") else {
        return vec![];
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| {
            let Ok(cmd) = fs::read(format!("/proc/{pid}/cmdline")) else {
                return false;
            };
            let args: Vec<&[u8]> = cmd.split(|&b| b == 0).filter(|a| !a.is_empty()).collect();
            let tool = args
                .first()
                .map(|a| Path::new(OsStr::from_bytes(a)))
                .and_then(Path::file_name)
                .and_then(OsStr::to_str)
                .unwrap_or("");
            // Both take the mount point as their last argument.
            matches!(tool, "squashfuse" | "squashfuse_ll" | "fuse-overlayfs")
                && args
                    .last()
                    .is_some_and(|a| Path::new(OsStr::from_bytes(a)).starts_with(dir))
        })
        .collect()
}

fn alive(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| {
        !st.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with(['Z', 'X'])
    })
}

/// What `umount --force` does besides undoing the recorded steps: unmounts whatever
/// is still mounted under the bundle (newest first; busy ones lazily), then kills the
/// FUSE daemons still serving it (e.g. one a killed `mount` had started and that
/// mounted after we looked), then unmounts again what they left.
fn sweep(bundle: &Path) -> Result<()> {
    let unmount_all = || -> Result<()> {
        for (target, fstype) in mounts_under(bundle).into_iter().rev() {
            let fuse = fstype.starts_with("fuse");
            unmount_one(
                &MountRecord {
                    target,
                    fstype,
                    fuse,
                },
                true,
            )?;
        }
        Ok(())
    };
    unmount_all()?;
    let helpers = helpers_under(bundle);
    for &pid in &helpers {
        // SAFETY: plain kill(2) of a pid just found by its command line.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    for _ in 0..500 {
        if !helpers.iter().any(|&p| alive(p)) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    unmount_all()?;
    match mounts_under(bundle).first() {
        Some((m, _)) => Err(merr(format!("{} is still mounted", m.display()))),
        None => Ok(()),
    }
}

/// Whether `p` is a mount point according to /proc/self/mountinfo.
pub fn is_mountpoint(p: &Path) -> bool {
    mounts_under(p).iter().any(|(target, _)| target == p)
}

/// A mountinfo path field with its `\ooo` escapes undone, as the raw bytes it names.
fn unescape_mountinfo(s: &str) -> PathBuf {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

/// IDs of containers in the runtime state dir `root` whose bundle is `bundle`.
pub fn containers_using(bundle: &Path, root: &Path) -> Vec<String> {
    let bundle = fs::canonicalize(bundle).unwrap_or_else(|_| bundle.to_path_buf());
    let Ok(rd) = fs::read_dir(root) else {
        return vec![];
    };
    let mut ids = vec![];
    for e in rd.flatten() {
        let state = e.path().join("state.json");
        let Ok(b) = fs::read(&state) else { continue };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&b) else {
            continue;
        };
        let b = v
            .get("bundle")
            .or_else(|| v.pointer("/state/bundle"))
            .and_then(|b| b.as_str());
        if b.is_some_and(|b| Path::new(b) == bundle) {
            ids.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    ids.sort();
    ids
}

/// The state of a bundle dir without (a readable) `.sifrun-mount.json` that holds
/// nothing but what `mount` makes: left by a `mount` killed before its first save, or
/// an `umount` killed after removing the state file. None if anything else is there.
fn leftover_state(bundle: &Path) -> Option<MountState> {
    let bundle = fs::canonicalize(bundle).ok()?;
    let mut created = vec![];
    let mut layers = vec![];
    for e in fs::read_dir(&bundle).ok()? {
        let name = e.ok()?.file_name();
        match name.to_str()? {
            "layers" => {
                for l in fs::read_dir(bundle.join("layers")).ok()? {
                    let l = l.ok()?.file_name();
                    l.to_str()?.parse::<u32>().ok()?;
                    layers.push(bundle.join("layers").join(l));
                }
            }
            "rootfs" | "overlay" | "volumes" | "config.json" | STATE_FILE | TMP_STATE_FILE => {}
            _ => return None,
        }
        created.push(bundle.join(name));
    }
    // teardown removes in reverse: layer dirs before `layers`.
    created.sort_by_key(|p| p.ends_with("layers"));
    created.reverse();
    created.extend(layers);
    Some(MountState {
        version: 1,
        image: PathBuf::new(),
        bundle,
        image_kind: String::new(),
        mode: MountMode::Kernel,
        mounts: vec![],
        loop_devices: vec![],
        created,
        bundle_created: true,
    })
}

/// Undo a `mount`: refuses while a container created from the bundle exists (in the
/// runtime state dir `root`) unless `force`.
pub fn umount(bundle: &Path, root: &Path, force: bool) -> Result<()> {
    if !bundle.is_dir() {
        return Err(Error::Bundle {
            path: bundle.to_path_buf(),
            msg: "no such directory".into(),
        });
    }
    let mut st = match MountState::load(bundle) {
        Ok(st) => st,
        Err(e) if force => leftover_state(bundle).ok_or(e)?,
        Err(e) => return Err(e),
    };
    if !force {
        if let Some(id) = containers_using(&st.bundle, root).into_iter().next() {
            return Err(Error::InUse {
                path: st.bundle.clone(),
                id,
            });
        }
    }
    let r = teardown(&mut st, force, true);
    if r.is_err() && st.bundle.exists() {
        // Keep what is left recorded so a later `umount --force` can finish.
        let _ = st.save();
    }
    r
}
