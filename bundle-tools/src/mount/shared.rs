//! Shared image mounts: an image's read-only layers mounted once per (image file
//! identity, mode, user) and used by every bundle of it; each bundle keeps its own
//! overlay (upper, work) on top.
//!
//! Layout, in the caller's own images dir ([`images_dir`]: `/run/sifrun/.images` for
//! root, `$XDG_RUNTIME_DIR/sifrun/.images` for a user; 0700, the caller's):
//!
//! * `<key>/lock`: flock'd by everyone changing the image (mount, umount, repair);
//!   different images do not contend.
//! * `<key>/.sifrun-mount.json`: the image's own [`MountState`] (loop devices,
//!   layer mounts), saved before every step as a bundle's is, so a kill leaves
//!   nothing unknown.
//! * `<key>/layers/<i>`: the layer mount points (the bundles' overlay lowerdirs).
//! * `<key>/refs/<hash of the bundle path>`: one file per bundle using it (content:
//!   the bundle path). No counter: a ref whose bundle no longer has a state file
//!   naming this key is stale and dropped, so counts repair themselves after a kill.
//!
//! A bundle records the key in its state *before* its ref is written and drops the
//! ref (after unmounting its overlay) *before* its state file goes, so a ref always
//! has a bundle state naming it unless it is stale. The last ref out unmounts the
//! image and removes `<key>`. The key hashes device, inode, size, mtime and ctime of
//! the image file: a rewritten image gets a new key (a new mount), never the stale one.

use std::fs::{self, File};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::mode::{is_root, merr, MountMode};
use super::mountinfo::is_mountpoint;
use super::plan::Layer;
use super::state::{MountState, SharedRef};
use super::{fuse, kernel, teardown};
use crate::error::{Error, Result};

/// The caller's shared-images dir: root's `/run/sifrun/.images` (never anything a
/// user could point it at), a user's `$XDG_RUNTIME_DIR/sifrun/.images`, or without
/// one (a batch job, `su`), `/tmp/sifrun-UID/.images` next to the user's default
/// state root (`acquire` refuses it unless the user owns it); None when the runtime
/// dir set is not the user's own (no sharing then).
pub fn images_dir() -> Option<PathBuf> {
    if is_root() {
        return Some(PathBuf::from("/run/sifrun/.images"));
    }
    let Some(xdg) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) else {
        let uid = nix::unistd::geteuid();
        let root = PathBuf::from(format!("/tmp/sifrun-{uid}"));
        // Someone else's (or a symlink) in the shared /tmp: no sharing, no error.
        return match fs::symlink_metadata(&root) {
            Ok(m) if !m.is_dir() || m.uid() != uid.as_raw() => None,
            _ => Some(root.join(".images")),
        };
    };
    let xdg = PathBuf::from(xdg);
    let m = fs::symlink_metadata(&xdg).ok()?;
    (xdg.is_absolute() && m.is_dir() && m.uid() == nix::unistd::geteuid().as_raw())
        .then(|| xdg.join("sifrun").join(".images"))
}

/// `p` as a directory of ours: created 0700 if missing; refused when it is a
/// symlink, not a directory, another uid's, or (`private`) open to others.
fn own_dir(p: &Path) -> Result<()> {
    own_dir_as(p, true)
}

fn own_dir_as(p: &Path, private: bool) -> Result<()> {
    match fs::DirBuilder::new().mode(0o700).create(p) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(Error::io(p, e)),
    }
    let m = fs::symlink_metadata(p).map_err(|e| Error::io(p, e))?;
    if !m.file_type().is_dir()
        || m.uid() != nix::unistd::geteuid().as_raw()
        || (private && m.permissions().mode() & 0o077 != 0)
    {
        return Err(merr(format!(
            "{} must be a directory of yours{} (refusing to share image mounts there; --no-share avoids it)",
            p.display(),
            if private { " with mode 0700" } else { "" }
        )));
    }
    Ok(())
}

/// The key of `image` mounted in `mode` by this caller: a hash of the file's identity
/// (device, inode, size, mtime, ctime), the layers, the mode and the FUSE access.
pub(super) fn key(
    image: &Path,
    mode: MountMode,
    layers: &[Layer],
    other_users: bool,
) -> Result<String> {
    let m = fs::metadata(image).map_err(|e| Error::io(image, e))?;
    let mut h = Sha256::new();
    h.update(format!(
        "v1 dev={} ino={} size={} mtime={}.{} ctime={}.{} mode={mode:?} uid={} other={other_users}",
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec(),
        m.ctime(),
        m.ctime_nsec(),
        nix::unistd::geteuid()
    ));
    for l in layers {
        h.update(format!(" {}+{}:{}", l.offset, l.size, l.fs));
    }
    Ok(hex::encode(&h.finalize()[..16]))
}

/// An image's own state holds no ref.
fn no_ref(_: &SharedRef, _: &Path, _: bool) -> Result<()> {
    Ok(())
}

fn is_key(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The flock on `<dir>/lock`, held until dropped.
struct Lock {
    _file: File,
    path: PathBuf,
}

impl Lock {
    /// Locks `dir` (made if `create`). None: `dir` is gone (not `create`), or
    /// `wait` is false and someone else holds it.
    fn take(dir: &Path, create: bool, wait: bool) -> Result<Option<Lock>> {
        let path = dir.join("lock");
        loop {
            if create {
                own_dir(dir)?;
            }
            let f = fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(create)
                .truncate(false)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&path);
            let f = match f {
                Ok(f) => f,
                Err(e) if !create && e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(Error::io(&path, e)),
            };
            let op = if wait {
                libc::LOCK_EX
            } else {
                libc::LOCK_EX | libc::LOCK_NB
            };
            // SAFETY: flock on an fd we own.
            if unsafe { libc::flock(f.as_raw_fd(), op) } != 0 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                    return Ok(None);
                }
                return Err(Error::io(&path, e));
            }
            // The last ref out removes the lock file while holding it: a waiter that
            // got a removed one starts over.
            let a = f.metadata().map_err(|e| Error::io(&path, e))?;
            match fs::symlink_metadata(&path) {
                Ok(b) if a.dev() == b.dev() && a.ino() == b.ino() => {
                    return Ok(Some(Lock { _file: f, path }))
                }
                _ if !create => return Ok(None),
                _ => continue,
            }
        }
    }
}

fn ref_name(bundle: &Path) -> String {
    let h = Sha256::digest(bundle.as_os_str().as_encoded_bytes());
    hex::encode(&h[..16])
}

/// Whether the ref file `name` (content: a bundle path) is still a bundle's use of `key`.
fn ref_alive(refs: &Path, name: &str, key: &str) -> bool {
    let Ok(b) = fs::read(refs.join(name)) else {
        return false;
    };
    let bundle = PathBuf::from(std::ffi::OsString::from(
        String::from_utf8_lossy(&b).into_owned(),
    ));
    ref_name(&bundle) == name
        && MountState::load(&bundle)
            .is_ok_and(|st| st.bundle == bundle && st.shared.as_ref().is_some_and(|s| s.key == key))
}

/// Drops stale refs; returns how many live ones are left. Under the lock.
fn live_refs(dir: &Path, key: &str) -> usize {
    let refs = dir.join("refs");
    let mut n = 0;
    for e in fs::read_dir(&refs).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if ref_alive(&refs, &name, key) {
            n += 1;
        } else {
            let _ = fs::remove_file(e.path());
        }
    }
    n
}

/// Unmounts the image and removes its dir (the lock file last, still held). Under the lock.
fn remove_image(dir: &Path, lock: Lock) -> Result<()> {
    if let Ok(mut st) = MountState::load(dir) {
        st.bundle = dir.to_path_buf();
        // The forced sweep scans every process for FUSE daemons: only when the
        // recorded steps do not undo cleanly.
        let mut plain = st.clone();
        if teardown::teardown(&mut plain, false, false, &no_ref).is_err() {
            teardown::teardown(&mut st, true, false, &no_ref)?;
        }
    } else {
        teardown::sweep(dir)?;
    }
    for e in fs::read_dir(dir).map_err(|e| Error::io(dir, e))?.flatten() {
        let p = e.path();
        if p == lock.path {
            continue;
        }
        let r = if e.file_type().is_ok_and(|t| t.is_dir()) {
            // refs/ (empty now) and layers/ (its mount points, unmounted).
            fs::remove_dir_all(&p)
        } else {
            fs::remove_file(&p)
        };
        r.map_err(|e| Error::io(&p, e))?;
    }
    let _ = fs::remove_file(&lock.path);
    let _ = fs::remove_dir(dir);
    drop(lock);
    Ok(())
}

/// Whether the image state in `dir` has all `n` layers mounted and answering.
fn image_ok(dir: &Path, st: &MountState, image: &Path, n: usize) -> bool {
    st.image == image
        && st.mounts.len() == n
        && st.mounts.iter().enumerate().all(|(i, m)| {
            // A FUSE daemon that died leaves a mount answering ENOTCONN.
            m.target == layer_dir(dir, i)
                && is_mountpoint(&m.target)
                && fs::read_dir(&m.target).is_ok()
        })
}

fn layer_dir(dir: &Path, i: usize) -> PathBuf {
    dir.join("layers").join(i.to_string())
}

/// Mounts the layers of `image` (read through `source`) in `dir` (its state saved
/// before each step).
fn mount_image(
    dir: &Path,
    image: &Path,
    source: &Path,
    mode: MountMode,
    layers: &[Layer],
    other_users: bool,
) -> Result<()> {
    let mut st = MountState {
        version: 1,
        image: image.to_path_buf(),
        bundle: dir.to_path_buf(),
        image_kind: String::new(),
        mode,
        mounts: vec![],
        loop_devices: vec![],
        created: vec![],
        bundle_created: false,
        shared: None,
    };
    let mut dirs = vec![(dir.join("layers"), 0o755)];
    dirs.extend((0..layers.len()).map(|i| (layer_dir(dir, i), 0o755)));
    st.mkdirs(&dirs)?;
    for (i, l) in layers.iter().enumerate() {
        match mode {
            MountMode::Fuse => {
                fuse::mount_layer(&mut st, source, l, &layer_dir(dir, i), other_users)?
            }
            _ => kernel::mount_layer(&mut st, source, l, &layer_dir(dir, i))?,
        }
    }
    Ok(())
}

/// Takes a ref on the shared mount of `image`'s `layers` for bundle `st` (recorded
/// in its state first), mounting them if no one has; returns the layer dirs, bottom
/// first.
pub(super) fn acquire(
    st: &mut MountState,
    images: &Path,
    image: &Path,
    layers: &[Layer],
    other_users: bool,
) -> Result<Vec<PathBuf>> {
    let key = key(image, st.mode, layers, other_users)?;
    if let Some(parent) = images.parent() {
        // The state root: the runtime's own, whatever its mode.
        own_dir_as(parent, false)?;
    }
    own_dir(images)?;
    sweep_others(images, &key);
    let sh = SharedRef {
        images: images.to_path_buf(),
        key: key.clone(),
    };
    st.shared = Some(sh.clone());
    st.save()?;
    let dir = sh.images.join(&sh.key);
    let Some(lock) = Lock::take(&dir, true, true)? else {
        return Err(merr(format!("cannot lock {}", dir.display())));
    };
    // `image` is the open, checked file (/proc/PID/fd/N); records name its real path.
    let real = st.image.clone();
    let ok = MountState::load(&dir).is_ok_and(|s| image_ok(&dir, &s, &real, layers.len()));
    if !ok {
        // Never mounted, or left broken by a kill (or a dead FUSE daemon): start over.
        // Every step is recorded before it is taken, so a dir with no state and no
        // layers has nothing mounted or serving it (no sweep of every process).
        let leftover = match MountState::load(&dir) {
            Ok(mut old) => {
                old.bundle = dir.clone();
                teardown::teardown(&mut old, true, false, &no_ref)?;
                true
            }
            Err(_) => dir.join("layers").exists(),
        };
        if leftover {
            teardown::sweep(&dir)?;
        }
        if let Err(e) = mount_image(&dir, &real, image, st.mode, layers, other_users) {
            if live_refs(&dir, &key) == 0 {
                let _ = remove_image(&dir, lock);
            }
            return Err(e);
        }
    }
    let refs = dir.join("refs");
    own_dir(&refs)?;
    let r = refs.join(ref_name(&st.bundle));
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&r)
        .and_then(|mut f| f.write_all(st.bundle.as_os_str().as_encoded_bytes()))
        .map_err(|e| Error::io(&r, e))?;
    drop(lock);
    Ok((0..layers.len()).map(|i| layer_dir(&dir, i)).collect())
}

/// Drops bundle `bundle`'s ref on `sh` (and stale ones); the last ref out unmounts
/// the image. A ref in someone else's images dir is left to them (an error unless
/// `force`).
pub(super) fn release(sh: &SharedRef, bundle: &Path, force: bool) -> Result<()> {
    if !is_key(&sh.key) || images_dir().as_deref() != Some(sh.images.as_path()) {
        return if force {
            Ok(())
        } else {
            Err(merr(format!(
                "the bundle's layers are shared from {}, which is not yours: umount it as the user who mounted it (or --force)",
                sh.images.join(&sh.key).display()
            )))
        };
    }
    let dir = sh.images.join(&sh.key);
    let Some(lock) = Lock::take(&dir, false, true)? else {
        return Ok(());
    };
    let _ = fs::remove_file(dir.join("refs").join(ref_name(bundle)));
    if live_refs(&dir, &sh.key) == 0 {
        remove_image(&dir, lock)?;
    }
    Ok(())
}

/// Repairs the other images in `images` that no one is working on: drops their stale
/// refs, and unmounts those left with none (e.g. after a kill, or an image rewritten
/// since).
fn sweep_others(images: &Path, skip: &str) {
    for e in fs::read_dir(images).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name == skip || !is_key(&name) || !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let dir = e.path();
        // Made if missing: a kill between removing the lock file and the dir leaves
        // one without.
        if let Ok(Some(lock)) = Lock::take(&dir, true, false) {
            if live_refs(&dir, &name) == 0 {
                let _ = remove_image(&dir, lock);
            }
        }
    }
}
