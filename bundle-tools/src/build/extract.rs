//! Applying OCI layer tarballs to a directory, safely.
//!
//! Every path is resolved component by component from a directory fd with
//! `O_NOFOLLOW`: a layer can never make us write outside the root. Entries with `..`
//! components or absolute paths, and entries whose parent path goes through a symlink
//! (the classic "absolute symlink, then write through it" trick), are refused with an
//! error rather than silently redirected. Symlink *targets* are just data and are
//! never followed while extracting.
//!
//! Whiteouts: `.wh.NAME` removes NAME from the lower layers, `.wh..wh..opq` empties a
//! directory of everything the lower layers put there (entries of the current layer
//! are kept whatever their order in the tar). Ownership, modes (incl. setuid),
//! mtimes, xattrs (`SCHILY.xattr.*` PAX records), hardlinks, symlinks, device nodes
//! and FIFOs are reproduced.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::fs::{
    self as sys, AtFlags, FileType, Gid, Mode, OFlags, Stat, Timespec, Timestamps, Uid, XattrFlags,
};
use rustix::io::Errno;

use crate::error::{Error, Result};

const WH_PREFIX: &[u8] = b".wh.";
const WH_OPAQUE: &[u8] = b".wh..wh..opq";

/// Counters for progress reports.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub entries: u64,
    pub bytes: u64,
    pub whiteouts: u64,
}

struct Meta {
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: (i64, i64),
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Applies layers, bottom first, to one root directory.
pub struct Extractor {
    root: OwnedFd,
    privileged: bool,
    layer: usize,
    /// Paths written by the current layer (and their ancestors).
    written: HashSet<Vec<u8>>,
    /// Directory mtimes, applied at the end (children change them meanwhile).
    dir_times: HashMap<Vec<u8>, (i64, i64)>,
    pub stats: Stats,
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn join(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.join(&b'/')
}

// Names are passed as byte slices: rustix makes the C string (a NUL inside, which a
// tar name cannot hold anyway, fails with EINVAL).

/// Open the directory `name` in `dirfd`; a symlink there fails (ELOOP), not followed.
fn open_dir_at(dirfd: BorrowedFd<'_>, name: &[u8]) -> Result<OwnedFd, Errno> {
    sys::openat(
        dirfd,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// lstat relative to a directory fd; `None` if it does not exist.
fn lstat_at(dirfd: BorrowedFd<'_>, name: &[u8]) -> Result<Option<Stat>, Errno> {
    match sys::statat(dirfd, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

fn is_dir(st: &Stat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::Directory
}

fn is_symlink(st: &Stat) -> bool {
    FileType::from_raw_mode(st.st_mode) == FileType::Symlink
}

/// The permission bits (incl. setuid, setgid, sticky) of a tar mode.
fn perms(mode: u32, mask: u32) -> Mode {
    Mode::from_raw_mode(mode & mask)
}

/// Owner and group as given; `u32::MAX` (-1) leaves that id unchanged, as chown(2) does.
fn ids(m: &Meta) -> (Option<Uid>, Option<Gid>) {
    (
        Some(Uid::from_raw_unchecked(m.uid as u32)),
        Some(Gid::from_raw_unchecked(m.gid as u32)),
    )
}

/// Remove `name` (recursively if a directory) without following symlinks.
fn remove_at(dirfd: BorrowedFd<'_>, name: &[u8]) -> Result<(), Errno> {
    let Some(st) = lstat_at(dirfd, name)? else {
        return Ok(());
    };
    if is_dir(&st) {
        let sub = open_dir_at(dirfd, name)?;
        for child in list_dir(sub.as_fd())? {
            remove_at(sub.as_fd(), &child)?;
        }
        sys::unlinkat(dirfd, name, AtFlags::REMOVEDIR)
    } else {
        sys::unlinkat(dirfd, name, AtFlags::empty())
    }
}

/// Names in a directory (without `.`/`..`), read through a fresh open of the
/// directory itself (`.` relative to `dirfd`), from its start.
fn list_dir(dirfd: BorrowedFd<'_>) -> Result<Vec<Vec<u8>>, Errno> {
    let mut out = Vec::new();
    for ent in sys::Dir::read_from(dirfd)? {
        let ent = ent?;
        let name = ent.file_name().to_bytes();
        if name != b"." && name != b".." {
            out.push(name.to_vec());
        }
    }
    Ok(out)
}

/// Remove a scratch tree even if it holds read-only directories.
pub fn remove_tree(p: &Path) {
    if std::fs::remove_dir_all(p).is_ok() || !p.exists() {
        return;
    }
    fn chmod_dirs(p: &Path) {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(md) = std::fs::symlink_metadata(p) {
            if md.is_dir() {
                let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o700));
                if let Ok(rd) = std::fs::read_dir(p) {
                    for e in rd.flatten() {
                        chmod_dirs(&e.path());
                    }
                }
            }
        }
    }
    chmod_dirs(p);
    let _ = std::fs::remove_dir_all(p);
}

impl Extractor {
    /// `root` must be an existing (normally empty) directory.
    pub fn new(root: &Path) -> Result<Self> {
        let root_fd = sys::open(
            root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::io(root, e.into()))?;
        Ok(Extractor {
            root: root_fd,
            privileged: nix::unistd::geteuid().is_root(),
            layer: 0,
            written: HashSet::new(),
            dir_times: HashMap::new(),
            stats: Stats::default(),
        })
    }

    fn unsafe_err(&self, path: &[u8], msg: impl Into<String>) -> Error {
        Error::Unsafe {
            layer: self.layer,
            path: show(path),
            msg: msg.into(),
        }
    }

    fn layer_err(&self, msg: impl Into<String>) -> Error {
        Error::Layer {
            layer: self.layer,
            msg: msg.into(),
        }
    }

    fn sys_err(&self, what: &str, path: &[u8], e: Errno) -> Error {
        self.layer_err(format!(
            "{what} {}: {}",
            show(path),
            std::io::Error::from(e)
        ))
    }

    /// Split a tar path into checked components.
    fn components(&self, raw: &[u8]) -> Result<Vec<Vec<u8>>> {
        // umoci writes the root as "/"; any other absolute path is refused.
        if raw.starts_with(b"/") && raw.iter().any(|&b| b != b'/' && b != b'.') {
            return Err(self.unsafe_err(raw, "absolute path"));
        }
        let mut out = Vec::new();
        for c in raw.split(|&b| b == b'/') {
            match c {
                b"" | b"." => {}
                b".." => return Err(self.unsafe_err(raw, "path contains \"..\"")),
                c => out.push(c.to_vec()),
            }
        }
        Ok(out)
    }

    /// Open the directory at `comps` below the root, never following symlinks.
    /// Missing directories are created (0755) when `create`, else `Ok(None)`.
    fn open_dir(&self, comps: &[Vec<u8>], create: bool, full: &[u8]) -> Result<Option<OwnedFd>> {
        let mut fd = self
            .root
            .try_clone()
            .map_err(|e| self.layer_err(format!("dup: {e}")))?;
        for (i, c) in comps.iter().enumerate() {
            let next = match open_dir_at(fd.as_fd(), c) {
                Ok(n) => n,
                Err(Errno::NOENT) if create => {
                    sys::mkdirat(fd.as_fd(), c.as_slice(), Mode::from_raw_mode(0o755))
                        .map_err(|e| self.sys_err("mkdir", &join(&comps[..=i]), e))?;
                    open_dir_at(fd.as_fd(), c)
                        .map_err(|e| self.sys_err("open", &join(&comps[..=i]), e))?
                }
                Err(Errno::NOENT) => return Ok(None),
                Err(e @ (Errno::LOOP | Errno::NOTDIR)) => {
                    let prefix = join(&comps[..=i]);
                    match lstat_at(fd.as_fd(), c) {
                        Ok(Some(st)) if is_symlink(&st) => {
                            return Err(self.unsafe_err(
                                full,
                                format!(
                                    "parent {:?} is a symlink; refusing to write through it",
                                    show(&prefix)
                                ),
                            ))
                        }
                        Ok(Some(_)) if !create => return Ok(None),
                        Ok(Some(_)) => {
                            return Err(self.layer_err(format!(
                                "{}: parent {:?} is not a directory",
                                show(full),
                                show(&prefix)
                            )))
                        }
                        _ => return Err(self.sys_err("open", &prefix, e)),
                    }
                }
                Err(e) => return Err(self.sys_err("open", &join(&comps[..=i]), e)),
            };
            fd = next;
        }
        Ok(Some(fd))
    }

    fn mark_written(&mut self, comps: &[Vec<u8>]) {
        for i in 1..=comps.len() {
            let p = join(&comps[..i]);
            if !self.written.insert(p) {
                // Ancestors of an already-recorded path are recorded too.
                continue;
            }
        }
    }

    /// A failed chown is an error when privileged; unprivileged, EPERM is expected
    /// (ids we may not give away) and the entry keeps ours.
    fn chown_result(&self, r: rustix::io::Result<()>, path: &[u8]) -> Result<()> {
        match r {
            Err(e) if self.privileged || e != Errno::PERM => Err(self.sys_err("chown", path, e)),
            _ => Ok(()),
        }
    }

    fn set_owner_fd(&self, fd: BorrowedFd<'_>, m: &Meta, path: &[u8]) -> Result<()> {
        let (uid, gid) = ids(m);
        self.chown_result(sys::fchown(fd, uid, gid), path)?;
        sys::fchmod(fd, perms(m.mode, 0o7777)).map_err(|e| self.sys_err("chmod", path, e))?;
        for (k, v) in &m.xattrs {
            sys::fsetxattr(fd, k.as_slice(), v, XattrFlags::empty())
                .map_err(|e| self.sys_err(&format!("setxattr {}", show(k)), path, e))?;
        }
        Ok(())
    }

    /// Owner, mode (unless a symlink), xattrs and times of `name` in `dirfd`, for
    /// things that cannot be opened (symlinks, device nodes, FIFOs).
    fn set_meta_at(
        &self,
        dirfd: BorrowedFd<'_>,
        name: &[u8],
        m: &Meta,
        path: &[u8],
        symlink: bool,
    ) -> Result<()> {
        let (uid, gid) = ids(m);
        self.chown_result(
            sys::chownat(dirfd, name, uid, gid, AtFlags::SYMLINK_NOFOLLOW),
            path,
        )?;
        if !symlink {
            // Only for what we just made here (a device node or FIFO), never a symlink.
            sys::chmodat(dirfd, name, perms(m.mode, 0o7777), AtFlags::empty())
                .map_err(|e| self.sys_err("chmod", path, e))?;
        }
        if !m.xattrs.is_empty() {
            // Through the directory fd's magic link: the last component is not followed.
            let mut p = format!("/proc/self/fd/{}/", dirfd.as_raw_fd()).into_bytes();
            p.extend_from_slice(name);
            for (k, v) in &m.xattrs {
                match sys::lsetxattr(p.as_slice(), k.as_slice(), v, XattrFlags::empty()) {
                    Ok(()) => {}
                    // user.* xattrs cannot be set on symlinks (Linux); skip those.
                    Err(Errno::PERM | Errno::NOTSUP) if symlink => {}
                    Err(e) => return Err(self.sys_err(&format!("setxattr {}", show(k)), path, e)),
                }
            }
        }
        let _ = sys::utimensat(dirfd, name, &times(m.mtime), AtFlags::SYMLINK_NOFOLLOW);
        Ok(())
    }

    /// Apply one layer (a tar stream, already decompressed). `layer` is 1-based.
    pub fn apply_layer<R: Read>(&mut self, layer: usize, r: R) -> Result<Stats> {
        self.layer = layer;
        self.written.clear();
        let before = self.stats;
        let mut ar = tar::Archive::new(r);
        let entries = ar
            .entries()
            .map_err(|e| self.layer_err(format!("not a tar stream: {e}")))?;
        for e in entries {
            let mut e = e.map_err(|e| self.layer_err(format!("corrupt tar: {e}")))?;
            self.apply_entry(&mut e)?;
        }
        let s = self.stats;
        Ok(Stats {
            entries: s.entries - before.entries,
            bytes: s.bytes - before.bytes,
            whiteouts: s.whiteouts - before.whiteouts,
        })
    }

    fn meta_of<R: Read>(&self, e: &mut tar::Entry<R>) -> Result<Meta> {
        let h = e.header();
        let mode = h
            .mode()
            .map_err(|x| self.layer_err(format!("bad mode: {x}")))?;
        let mut uid = h.uid().unwrap_or(0);
        let mut gid = h.gid().unwrap_or(0);
        let mut mtime = (h.mtime().unwrap_or(0) as i64, 0i64);
        let mut xattrs = Vec::new();
        if let Ok(Some(exts)) = e.pax_extensions() {
            for x in exts.flatten() {
                let Ok(k) = x.key() else { continue };
                if let Some(name) = k.strip_prefix("SCHILY.xattr.") {
                    xattrs.push((name.as_bytes().to_vec(), x.value_bytes().to_vec()));
                } else if k == "uid" {
                    if let Some(v) = x.value().ok().and_then(|v| v.parse().ok()) {
                        uid = v;
                    }
                } else if k == "gid" {
                    if let Some(v) = x.value().ok().and_then(|v| v.parse().ok()) {
                        gid = v;
                    }
                } else if k == "mtime" {
                    if let Some(v) = x.value().ok().and_then(|v| v.parse::<f64>().ok()) {
                        let s = v.floor();
                        mtime = (s as i64, ((v - s) * 1e9) as i64);
                    }
                }
            }
        }
        Ok(Meta {
            mode,
            uid,
            gid,
            mtime,
            xattrs,
        })
    }

    /// The target of a symlink or hardlink entry (`what`), which must have one.
    fn link_target<R: Read>(&self, e: &tar::Entry<R>, raw: &[u8], what: &str) -> Result<Vec<u8>> {
        e.link_name_bytes()
            .map(|t| t.into_owned())
            .ok_or_else(|| self.layer_err(format!("{}: {what} without target", show(raw))))
    }

    fn apply_entry<R: Read>(&mut self, e: &mut tar::Entry<R>) -> Result<()> {
        use tar::EntryType as T;
        let et = e.header().entry_type();
        if matches!(
            et,
            T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink
        ) {
            return Ok(());
        }
        let raw = e.path_bytes().into_owned();
        let comps = self.components(&raw)?;
        self.stats.entries += 1;
        let meta = self.meta_of(e)?;
        let Some((name, parent)) = comps.split_last() else {
            // The root itself ("./").
            if et == T::Directory {
                self.set_owner_fd(self.root.as_fd(), &meta, b".")?;
                self.dir_times.insert(Vec::new(), meta.mtime);
            }
            return Ok(());
        };
        // Whiteouts.
        if name.starts_with(WH_PREFIX) {
            self.stats.whiteouts += 1;
            if name.as_slice() == WH_OPAQUE {
                let dir = self
                    .open_dir(parent, true, &raw)?
                    .expect("created when missing");
                self.mark_written(parent);
                let prefix = join(parent);
                let children =
                    list_dir(dir.as_fd()).map_err(|x| self.sys_err("readdir", &prefix, x))?;
                for c in children {
                    let full = if prefix.is_empty() {
                        c.clone()
                    } else {
                        [prefix.as_slice(), b"/", c.as_slice()].concat()
                    };
                    if !self.written.contains(&full) {
                        remove_at(dir.as_fd(), &c).map_err(|x| self.sys_err("remove", &full, x))?;
                    }
                }
                return Ok(());
            }
            if name.starts_with(b".wh..wh.") {
                return Ok(()); // AUFS bookkeeping (e.g. .wh..wh.plnk)
            }
            let target = &name[WH_PREFIX.len()..];
            if target.is_empty() || target == b"." || target == b".." {
                return Err(self.unsafe_err(&raw, "invalid whiteout"));
            }
            if let Some(dir) = self.open_dir(parent, false, &raw)? {
                remove_at(dir.as_fd(), target).map_err(|x| self.sys_err("remove", &raw, x))?;
            }
            return Ok(());
        }

        let dir = self
            .open_dir(parent, true, &raw)?
            .expect("created when missing");
        let dfd = dir.as_fd();
        self.mark_written(&comps);
        let existing = lstat_at(dfd, name).map_err(|x| self.sys_err("stat", &raw, x))?;
        let clear = |this: &Self| -> Result<()> {
            remove_at(dfd, name).map_err(|x| this.sys_err("remove", &raw, x))
        };
        match et {
            T::Directory => {
                match existing {
                    Some(st) if is_dir(&st) => {}
                    other => {
                        if other.is_some() {
                            clear(self)?;
                        }
                        sys::mkdirat(dfd, name.as_slice(), Mode::from_raw_mode(0o700))
                            .map_err(|x| self.sys_err("mkdir", &raw, x))?;
                    }
                }
                let fd = open_dir_at(dfd, name).map_err(|x| self.sys_err("open", &raw, x))?;
                self.set_owner_fd(fd.as_fd(), &meta, &raw)?;
                self.dir_times.insert(join(&comps), meta.mtime);
            }
            T::Regular | T::Continuous => {
                if existing.is_some() {
                    clear(self)?;
                }
                let fd = sys::openat(
                    dfd,
                    name.as_slice(),
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(|x| self.sys_err("create", &raw, x))?;
                let mut f = File::from(fd);
                let n = std::io::copy(e, &mut f)
                    .map_err(|x| self.layer_err(format!("{}: {x}", show(&raw))))?;
                self.stats.bytes += n;
                self.set_owner_fd(f.as_fd(), &meta, &raw)?;
                let _ = sys::futimens(&f, &times(meta.mtime));
            }
            T::Symlink => {
                let target = self.link_target(e, &raw, "symlink")?;
                if existing.is_some() {
                    clear(self)?;
                }
                sys::symlinkat(target.as_slice(), dfd, name.as_slice())
                    .map_err(|x| self.sys_err("symlink", &raw, x))?;
                self.set_meta_at(dfd, name, &meta, &raw, true)?;
            }
            T::Link => {
                let target = self.link_target(e, &raw, "hardlink")?;
                let tcomps = self.components(&target)?;
                let Some((tname, tparent)) = tcomps.split_last() else {
                    return Err(self.unsafe_err(&raw, "hardlink to the root"));
                };
                if tcomps == comps {
                    return Ok(());
                }
                let tdir = self.open_dir(tparent, false, &target)?.ok_or_else(|| {
                    self.layer_err(format!(
                        "{}: hardlink target {} does not exist",
                        show(&raw),
                        show(&target)
                    ))
                })?;
                match lstat_at(tdir.as_fd(), tname) {
                    Ok(Some(st)) if !is_dir(&st) => {}
                    Ok(Some(_)) => return Err(self.unsafe_err(&raw, "hardlink to a directory")),
                    _ => {
                        return Err(self.layer_err(format!(
                            "{}: hardlink target {} does not exist",
                            show(&raw),
                            show(&target)
                        )))
                    }
                }
                if existing.is_some() {
                    clear(self)?;
                }
                // No AT_SYMLINK_FOLLOW: a symlink target is linked itself, never followed.
                sys::linkat(
                    tdir.as_fd(),
                    tname.as_slice(),
                    dfd,
                    name.as_slice(),
                    AtFlags::empty(),
                )
                .map_err(|x| self.sys_err("link", &raw, x))?;
            }
            T::Char | T::Block | T::Fifo => {
                if existing.is_some() {
                    clear(self)?;
                }
                let (kind, dev) = match et {
                    T::Char | T::Block => {
                        let maj = e.header().device_major().ok().flatten().unwrap_or(0);
                        let min = e.header().device_minor().ok().flatten().unwrap_or(0);
                        let k = if et == T::Char {
                            FileType::CharacterDevice
                        } else {
                            FileType::BlockDevice
                        };
                        (k, sys::makedev(maj, min))
                    }
                    _ => (FileType::Fifo, 0),
                };
                match sys::mknodat(dfd, name.as_slice(), kind, perms(meta.mode, 0o777), dev) {
                    Ok(()) => {}
                    Err(Errno::PERM) if kind != FileType::Fifo => {
                        return Err(self.layer_err(format!(
                            "{}: creating device nodes needs root",
                            show(&raw)
                        )))
                    }
                    Err(x) => return Err(self.sys_err("mknod", &raw, x)),
                }
                self.set_meta_at(dfd, name, &meta, &raw, false)?;
            }
            T::GNUSparse => {
                return Err(
                    self.layer_err(format!("{}: sparse files are not supported", show(&raw)))
                )
            }
            other => {
                return Err(self.layer_err(format!(
                    "{}: unsupported tar entry type {other:?}",
                    show(&raw)
                )))
            }
        }
        Ok(())
    }

    /// Set the recorded directory mtimes (after all layers).
    pub fn finish(self) -> Result<Stats> {
        for (path, t) in &self.dir_times {
            let ts = times(*t);
            if path.is_empty() {
                let _ = sys::futimens(&self.root, &ts);
                continue;
            }
            let Ok(comps) = self.components(path) else {
                continue;
            };
            let Some((name, parent)) = comps.split_last() else {
                continue;
            };
            if let Ok(Some(d)) = self.open_dir(parent, false, path) {
                let _ = sys::utimensat(&d, name.as_slice(), &ts, AtFlags::SYMLINK_NOFOLLOW);
            }
        }
        Ok(self.stats)
    }
}

/// Access and modification time both set to `t` (seconds, nanoseconds).
fn times(t: (i64, i64)) -> Timestamps {
    let ts = Timespec {
        tv_sec: t.0,
        tv_nsec: t.1 as _,
    };
    Timestamps {
        last_access: ts,
        last_modification: ts,
    }
}
