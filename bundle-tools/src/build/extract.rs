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
use std::ffi::CString;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::{ioerr, BuildError, BuildResult};

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

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn cstr(b: &[u8]) -> CString {
    // Tar names cannot contain NUL; the tar crate stops at the first one.
    CString::new(b.to_vec()).unwrap_or_default()
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn join(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.join(&b'/')
}

fn open_dir_at(dirfd: RawFd, name: &[u8]) -> Result<OwnedFd, i32> {
    let c = cstr(name);
    let fd = unsafe {
        libc::openat(
            dirfd,
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        Err(errno())
    } else {
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

/// lstat relative to a directory fd; `None` if it does not exist.
fn lstat_at(dirfd: RawFd, name: &[u8]) -> Result<Option<libc::stat>, i32> {
    let c = cstr(name);
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::fstatat(dirfd, c.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
    if r == 0 {
        Ok(Some(st))
    } else {
        match errno() {
            libc::ENOENT => Ok(None),
            e => Err(e),
        }
    }
}

fn is_dir(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

fn is_symlink(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFLNK
}

fn os_err(e: i32) -> std::io::Error {
    std::io::Error::from_raw_os_error(e)
}

/// Remove `name` (recursively if a directory) without following symlinks.
fn remove_at(dirfd: RawFd, name: &[u8]) -> Result<(), i32> {
    let Some(st) = lstat_at(dirfd, name)? else {
        return Ok(());
    };
    let c = cstr(name);
    if is_dir(&st) {
        let sub = open_dir_at(dirfd, name)?;
        for child in list_dir(sub.as_raw_fd())? {
            remove_at(sub.as_raw_fd(), &child)?;
        }
        if unsafe { libc::unlinkat(dirfd, c.as_ptr(), libc::AT_REMOVEDIR) } != 0 {
            return Err(errno());
        }
    } else if unsafe { libc::unlinkat(dirfd, c.as_ptr(), 0) } != 0 {
        return Err(errno());
    }
    Ok(())
}

/// Names in a directory (without `.`/`..`).
fn list_dir(dirfd: RawFd) -> Result<Vec<Vec<u8>>, i32> {
    let dup = unsafe { libc::fcntl(dirfd, libc::F_DUPFD_CLOEXEC, 0) };
    if dup < 0 {
        return Err(errno());
    }
    let dir = unsafe { libc::fdopendir(dup) };
    if dir.is_null() {
        let e = errno();
        unsafe { libc::close(dup) };
        return Err(e);
    }
    unsafe { libc::rewinddir(dir) };
    let mut out = Vec::new();
    loop {
        let ent = unsafe { libc::readdir64(dir) };
        if ent.is_null() {
            break;
        }
        let name = unsafe { std::ffi::CStr::from_ptr((*ent).d_name.as_ptr()) }.to_bytes();
        if name != b"." && name != b".." {
            out.push(name.to_vec());
        }
    }
    unsafe { libc::closedir(dir) };
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
    pub fn new(root: &Path) -> BuildResult<Self> {
        let c = cstr(root.as_os_str().as_bytes());
        let fd = unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(ioerr(root, std::io::Error::last_os_error()));
        }
        Ok(Extractor {
            root: unsafe { OwnedFd::from_raw_fd(fd) },
            privileged: nix::unistd::geteuid().is_root(),
            layer: 0,
            written: HashSet::new(),
            dir_times: HashMap::new(),
            stats: Stats::default(),
        })
    }

    fn unsafe_err(&self, path: &[u8], msg: impl Into<String>) -> BuildError {
        BuildError::Unsafe {
            layer: self.layer,
            path: show(path),
            msg: msg.into(),
        }
    }

    fn layer_err(&self, msg: impl Into<String>) -> BuildError {
        BuildError::Layer {
            layer: self.layer,
            msg: msg.into(),
        }
    }

    fn sys_err(&self, what: &str, path: &[u8], e: i32) -> BuildError {
        self.layer_err(format!("{what} {}: {}", show(path), os_err(e)))
    }

    /// Split a tar path into checked components.
    fn components(&self, raw: &[u8]) -> BuildResult<Vec<Vec<u8>>> {
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
    fn open_dir(
        &self,
        comps: &[Vec<u8>],
        create: bool,
        full: &[u8],
    ) -> BuildResult<Option<OwnedFd>> {
        let mut fd = self
            .root
            .try_clone()
            .map_err(|e| self.layer_err(format!("dup: {e}")))?;
        for (i, c) in comps.iter().enumerate() {
            let next = match open_dir_at(fd.as_raw_fd(), c) {
                Ok(n) => n,
                Err(libc::ENOENT) if create => {
                    let cs = cstr(c);
                    if unsafe { libc::mkdirat(fd.as_raw_fd(), cs.as_ptr(), 0o755) } != 0 {
                        return Err(self.sys_err("mkdir", &join(&comps[..=i]), errno()));
                    }
                    open_dir_at(fd.as_raw_fd(), c)
                        .map_err(|e| self.sys_err("open", &join(&comps[..=i]), e))?
                }
                Err(libc::ENOENT) => return Ok(None),
                Err(e @ (libc::ELOOP | libc::ENOTDIR)) => {
                    let prefix = join(&comps[..=i]);
                    match lstat_at(fd.as_raw_fd(), c) {
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

    fn set_owner_fd(&self, fd: RawFd, m: &Meta, path: &[u8]) -> BuildResult<()> {
        let r = unsafe { libc::fchown(fd, m.uid as libc::uid_t, m.gid as libc::gid_t) };
        if r != 0 {
            let e = errno();
            if self.privileged || e != libc::EPERM {
                return Err(self.sys_err("chown", path, e));
            }
        }
        if unsafe { libc::fchmod(fd, (m.mode & 0o7777) as libc::mode_t) } != 0 {
            return Err(self.sys_err("chmod", path, errno()));
        }
        for (k, v) in &m.xattrs {
            let kc = cstr(k);
            let r = unsafe { libc::fsetxattr(fd, kc.as_ptr(), v.as_ptr().cast(), v.len(), 0) };
            if r != 0 {
                return Err(self.sys_err(&format!("setxattr {}", show(k)), path, errno()));
            }
        }
        Ok(())
    }

    /// Owner, mode (unless a symlink), xattrs and times of `name` in `dirfd`, for
    /// things that cannot be opened (symlinks, device nodes, FIFOs).
    fn set_meta_at(
        &self,
        dirfd: RawFd,
        name: &[u8],
        m: &Meta,
        path: &[u8],
        symlink: bool,
    ) -> BuildResult<()> {
        let c = cstr(name);
        let r = unsafe {
            libc::fchownat(
                dirfd,
                c.as_ptr(),
                m.uid as libc::uid_t,
                m.gid as libc::gid_t,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        if r != 0 {
            let e = errno();
            if self.privileged || e != libc::EPERM {
                return Err(self.sys_err("chown", path, e));
            }
        }
        if !symlink
            && unsafe { libc::fchmodat(dirfd, c.as_ptr(), (m.mode & 0o7777) as libc::mode_t, 0) }
                != 0
        {
            return Err(self.sys_err("chmod", path, errno()));
        }
        if !m.xattrs.is_empty() {
            // Through the directory fd's magic link: the last component is not followed.
            let mut p = format!("/proc/self/fd/{dirfd}/").into_bytes();
            p.extend_from_slice(name);
            let pc = cstr(&p);
            for (k, v) in &m.xattrs {
                let kc = cstr(k);
                let r = unsafe {
                    libc::lsetxattr(pc.as_ptr(), kc.as_ptr(), v.as_ptr().cast(), v.len(), 0)
                };
                if r != 0 {
                    let e = errno();
                    // user.* xattrs cannot be set on symlinks (Linux); skip those.
                    if symlink && (e == libc::EPERM || e == libc::ENOTSUP) {
                        continue;
                    }
                    return Err(self.sys_err(&format!("setxattr {}", show(k)), path, e));
                }
            }
        }
        let ts = times(m.mtime);
        unsafe { libc::utimensat(dirfd, c.as_ptr(), ts.as_ptr(), libc::AT_SYMLINK_NOFOLLOW) };
        Ok(())
    }

    /// Apply one layer (a tar stream, already decompressed). `layer` is 1-based.
    pub fn apply_layer<R: Read>(&mut self, layer: usize, r: R) -> BuildResult<Stats> {
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

    fn meta_of<R: Read>(&self, e: &mut tar::Entry<R>) -> BuildResult<Meta> {
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

    fn apply_entry<R: Read>(&mut self, e: &mut tar::Entry<R>) -> BuildResult<()> {
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
                self.set_owner_fd(self.root.as_raw_fd(), &meta, b".")?;
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
                    list_dir(dir.as_raw_fd()).map_err(|x| self.sys_err("readdir", &prefix, x))?;
                for c in children {
                    let full = if prefix.is_empty() {
                        c.clone()
                    } else {
                        [prefix.as_slice(), b"/", c.as_slice()].concat()
                    };
                    if !self.written.contains(&full) {
                        remove_at(dir.as_raw_fd(), &c)
                            .map_err(|x| self.sys_err("remove", &full, x))?;
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
                remove_at(dir.as_raw_fd(), target).map_err(|x| self.sys_err("remove", &raw, x))?;
            }
            return Ok(());
        }

        let dir = self
            .open_dir(parent, true, &raw)?
            .expect("created when missing");
        let dfd = dir.as_raw_fd();
        self.mark_written(&comps);
        let nc = cstr(name);
        let existing = lstat_at(dfd, name).map_err(|x| self.sys_err("stat", &raw, x))?;
        let clear = |this: &Self| -> BuildResult<()> {
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
                        if unsafe { libc::mkdirat(dfd, nc.as_ptr(), 0o700) } != 0 {
                            return Err(self.sys_err("mkdir", &raw, errno()));
                        }
                    }
                }
                let fd = open_dir_at(dfd, name).map_err(|x| self.sys_err("open", &raw, x))?;
                self.set_owner_fd(fd.as_raw_fd(), &meta, &raw)?;
                self.dir_times.insert(join(&comps), meta.mtime);
            }
            T::Regular | T::Continuous => {
                if existing.is_some() {
                    clear(self)?;
                }
                let fd = unsafe {
                    libc::openat(
                        dfd,
                        nc.as_ptr(),
                        libc::O_WRONLY
                            | libc::O_CREAT
                            | libc::O_EXCL
                            | libc::O_NOFOLLOW
                            | libc::O_CLOEXEC,
                        0o600,
                    )
                };
                if fd < 0 {
                    return Err(self.sys_err("create", &raw, errno()));
                }
                let mut f = unsafe { File::from_raw_fd(fd) };
                let n = std::io::copy(e, &mut f)
                    .map_err(|x| self.layer_err(format!("{}: {x}", show(&raw))))?;
                self.stats.bytes += n;
                self.set_owner_fd(f.as_raw_fd(), &meta, &raw)?;
                let ts = times(meta.mtime);
                unsafe { libc::futimens(f.as_raw_fd(), ts.as_ptr()) };
            }
            T::Symlink => {
                let target = e
                    .link_name_bytes()
                    .ok_or_else(|| {
                        self.layer_err(format!("{}: symlink without target", show(&raw)))
                    })?
                    .into_owned();
                if existing.is_some() {
                    clear(self)?;
                }
                let tc = cstr(&target);
                if unsafe { libc::symlinkat(tc.as_ptr(), dfd, nc.as_ptr()) } != 0 {
                    return Err(self.sys_err("symlink", &raw, errno()));
                }
                self.set_meta_at(dfd, name, &meta, &raw, true)?;
            }
            T::Link => {
                let target = e
                    .link_name_bytes()
                    .ok_or_else(|| {
                        self.layer_err(format!("{}: hardlink without target", show(&raw)))
                    })?
                    .into_owned();
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
                match lstat_at(tdir.as_raw_fd(), tname) {
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
                let tc = cstr(tname);
                if unsafe { libc::linkat(tdir.as_raw_fd(), tc.as_ptr(), dfd, nc.as_ptr(), 0) } != 0
                {
                    return Err(self.sys_err("link", &raw, errno()));
                }
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
                            libc::S_IFCHR
                        } else {
                            libc::S_IFBLK
                        };
                        (k, libc::makedev(maj, min))
                    }
                    _ => (libc::S_IFIFO, 0),
                };
                if unsafe {
                    libc::mknodat(
                        dfd,
                        nc.as_ptr(),
                        kind | (meta.mode & 0o777) as libc::mode_t,
                        dev,
                    )
                } != 0
                {
                    let x = errno();
                    if x == libc::EPERM && kind != libc::S_IFIFO {
                        return Err(self.layer_err(format!(
                            "{}: creating device nodes needs root",
                            show(&raw)
                        )));
                    }
                    return Err(self.sys_err("mknod", &raw, x));
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
    pub fn finish(self) -> BuildResult<Stats> {
        for (path, t) in &self.dir_times {
            let ts = times(*t);
            if path.is_empty() {
                unsafe { libc::futimens(self.root.as_raw_fd(), ts.as_ptr()) };
                continue;
            }
            let Ok(comps) = self.components(path) else {
                continue;
            };
            let Some((name, parent)) = comps.split_last() else {
                continue;
            };
            if let Ok(Some(d)) = self.open_dir(parent, false, path) {
                let c = cstr(name);
                unsafe {
                    libc::utimensat(
                        d.as_raw_fd(),
                        c.as_ptr(),
                        ts.as_ptr(),
                        libc::AT_SYMLINK_NOFOLLOW,
                    )
                };
            }
        }
        Ok(self.stats)
    }
}

fn times(t: (i64, i64)) -> [libc::timespec; 2] {
    let ts = libc::timespec {
        tv_sec: t.0 as libc::time_t,
        tv_nsec: t.1 as libc::c_long,
    };
    [ts, ts]
}
