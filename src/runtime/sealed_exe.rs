//! CVE-2019-5736: a container process that execs `/proc/self/exe` (e.g. through a
//! `#!/proc/self/exe` interpreter line) while a runtime process is entering the
//! container could reopen the runtime's host binary for writing and overwrite it.
//!
//! Before creating a container or exec'ing into one, sifrun re-executes itself from
//! a copy nobody can write, so every process it forks into a container has an
//! unwritable `/proc/self/exe`. As runc 1.2 does, the first choice is the binary seen
//! through a private, detached overlayfs with two lower layers and no upper layer: a
//! superblock that is read-only for good (no remount or cloned mount can make it
//! writable), set up with a few syscalls and sharing the page cache with the real file.
//! Where that is not possible (no overlayfs with `lowerdir+`, no CAP_SYS_ADMIN) the
//! binary is copied into a sealed memfd (write/shrink/grow seals), which costs a copy
//! of the whole binary per call. Only the commands that enter containers pay either;
//! `state`, `kill`, `delete` and friends never do, and neither does a user other
//! than root who cannot write the binary (there is nothing to protect then).

use std::ffi::{CStr, CString};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use anyhow::{bail, Context, Result};
use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
use nix::sys::statfs::{fstatfs, OVERLAYFS_SUPER_MAGIC};
use nix::sys::statvfs::{fstatvfs, FsFlags};

const SEALS: libc::c_int =
    libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_FD: libc::c_uint = 5;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const MOUNT_ATTR_RDONLY: libc::c_uint = 0x1;
const MOUNT_ATTR_NOSUID: libc::c_uint = 0x2;
const MOUNT_ATTR_NODEV: libc::c_uint = 0x4;

fn is_sealed(exe: &File) -> bool {
    fcntl(exe.as_raw_fd(), FcntlArg::F_GET_SEALS).is_ok_and(|seals| seals & SEALS == SEALS)
}

/// Running from a read-only overlayfs (ours, or an installation on one): overlayfs
/// without an upper layer has no way to write to the file below.
fn is_on_readonly_overlay(exe: &File) -> bool {
    let (Ok(st), Ok(vst)) = (fstatfs(exe), fstatvfs(exe)) else {
        return false;
    };
    st.filesystem_type() == OVERLAYFS_SUPER_MAGIC && vst.flags().contains(FsFlags::ST_RDONLY)
}

/// A caller other than root who cannot write the binary (an installed one, root's):
/// neither can the container's processes, whose ids are the caller's or its
/// subordinate ids, with capabilities only in the container's user namespace.
fn unwritable_by_caller() -> bool {
    use nix::unistd::{faccessat, AccessFlags};
    !nix::unistd::geteuid().is_root()
        && faccessat(
            None,
            "/proc/self/exe",
            AccessFlags::W_OK,
            nix::fcntl::AtFlags::AT_EACCESS,
        )
        .is_err()
}

pub fn ensure_sealed() -> Result<()> {
    if unwritable_by_caller() {
        return Ok(());
    }
    let exe = File::open("/proc/self/exe").context("failed to open /proc/self/exe")?;
    if is_sealed(&exe) || is_on_readonly_overlay(&exe) {
        return Ok(());
    }
    // SIFRUN_SEAL=memfd skips the overlay (to test or compare the fallback).
    if std::env::var_os("SIFRUN_SEAL").is_none_or(|v| v != "memfd") {
        if let Ok(fd) = overlay_exe() {
            reexec(fd.as_fd(), "overlayfs")?;
        }
    }
    let memfd = memfd_copy(&exe)?;
    reexec(memfd.as_fd(), "a sealed copy of the binary")
}

/// The raw calls this file needs that nix 0.29 lacks (the new mount API) or only
/// offers with a raw fd as the result (openat).
enum Raw<'a> {
    /// fsopen(2) with FSOPEN_CLOEXEC.
    Fsopen(&'a CStr),
    /// fsconfig(2) FSCONFIG_SET_FD: the context, the key, the fd value.
    SetFd(BorrowedFd<'a>, &'a CStr, BorrowedFd<'a>),
    /// fsconfig(2) FSCONFIG_CMD_CREATE on the context.
    Create(BorrowedFd<'a>),
    /// fsmount(2) with FSMOUNT_CLOEXEC and these mount attributes.
    Fsmount(BorrowedFd<'a>, libc::c_uint),
    /// openat(2) relative to the fd (None: AT_FDCWD), always with O_CLOEXEC added.
    Openat(Option<BorrowedFd<'a>>, &'a CStr, libc::c_int),
}

/// Makes one raw call; a failure is the OS error with `what` as its context. Returns
/// the new fd of the calls that make one (fsopen, fsmount, openat).
fn raw(call: Raw<'_>, what: &str) -> Result<Option<OwnedFd>> {
    let makes_fd = !matches!(call, Raw::SetFd(..) | Raw::Create(_));
    // SAFETY: every argument is an fd borrowed for the duration of the call, a
    // NUL-terminated string that outlives it, a null pointer where the syscall takes
    // none, or a plain integer; these syscalls only read them. A non-negative result
    // of fsopen/fsmount/openat is a new fd that nothing else owns: it is wrapped into
    // an OwnedFd right away, and only then.
    unsafe {
        let rc = match call {
            Raw::Fsopen(fs) => libc::syscall(libc::SYS_fsopen, fs.as_ptr(), FSOPEN_CLOEXEC),
            Raw::SetFd(ctx, key, fd) => libc::syscall(
                libc::SYS_fsconfig,
                ctx.as_raw_fd(),
                FSCONFIG_SET_FD,
                key.as_ptr(),
                std::ptr::null::<libc::c_void>(),
                fd.as_raw_fd(),
            ),
            Raw::Create(ctx) => libc::syscall(
                libc::SYS_fsconfig,
                ctx.as_raw_fd(),
                FSCONFIG_CMD_CREATE,
                std::ptr::null::<libc::c_char>(),
                std::ptr::null::<libc::c_void>(),
                0,
            ),
            Raw::Fsmount(ctx, attrs) => {
                libc::syscall(libc::SYS_fsmount, ctx.as_raw_fd(), FSMOUNT_CLOEXEC, attrs)
            }
            Raw::Openat(dir, path, flags) => libc::openat(
                dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd()),
                path.as_ptr(),
                flags | libc::O_CLOEXEC,
            ) as libc::c_long,
        };
        if rc < 0 {
            return Err(std::io::Error::last_os_error()).context(what.to_string());
        }
        Ok(makes_fd.then(|| OwnedFd::from_raw_fd(rc as RawFd)))
    }
}

fn raw_fd(call: Raw<'_>, what: &str) -> Result<OwnedFd> {
    raw(call, what)?.with_context(|| format!("{what}: no fd"))
}

fn fsconfig_fd(ctx: &OwnedFd, key: &CStr, fd: &OwnedFd) -> Result<()> {
    raw(Raw::SetFd(ctx.as_fd(), key, fd.as_fd()), "fsconfig").map(drop)
}

fn create_and_mount(ctx: &OwnedFd, attrs: libc::c_uint, what: &str) -> Result<OwnedFd> {
    raw(Raw::Create(ctx.as_fd()), what)?;
    raw_fd(Raw::Fsmount(ctx.as_fd(), attrs), what)
}

fn fsopen(fs: &CStr) -> Result<OwnedFd> {
    raw_fd(Raw::Fsopen(fs), "fsopen")
}

/// An O_PATH fd of our binary inside a detached read-only overlayfs whose lower layers
/// are the binary's directory and an empty detached tmpfs (overlayfs needs two lower
/// layers when it has no upper one). Nothing is mounted anywhere visible.
fn overlay_exe() -> Result<OwnedFd> {
    let path = std::fs::read_link("/proc/self/exe")?;
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        bail!("odd binary path {}", path.display());
    };
    let empty = create_and_mount(&fsopen(c"tmpfs")?, MOUNT_ATTR_RDONLY, "tmpfs")?;
    let dir = open_at(None, dir, libc::O_PATH | libc::O_DIRECTORY)?;
    let ovl = fsopen(c"overlay")?;
    fsconfig_fd(&ovl, c"lowerdir+", &dir)?;
    fsconfig_fd(&ovl, c"lowerdir+", &empty)?;
    let mnt = create_and_mount(
        &ovl,
        MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID,
        "overlay",
    )?;
    open_at(
        Some(mnt.as_fd()),
        Path::new(name),
        libc::O_PATH | libc::O_NOFOLLOW,
    )
}

fn open_at(dir: Option<BorrowedFd<'_>>, path: &Path, flags: libc::c_int) -> Result<OwnedFd> {
    let c = CString::new(path.as_os_str().as_bytes())?;
    raw_fd(Raw::Openat(dir, &c, flags), "openat")
}

fn memfd_copy(exe: &File) -> Result<File> {
    let len = exe
        .metadata()
        .context("failed to stat /proc/self/exe")?
        .len();
    let memfd = memfd_create(
        c"sifrun",
        MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING,
    )
    .map_err(std::io::Error::from)
    .context("memfd_create failed")?;
    let memfd = File::from(memfd);
    copy_all(exe, &memfd, len)?;
    let seals = SealFlag::F_SEAL_SEAL
        | SealFlag::F_SEAL_SHRINK
        | SealFlag::F_SEAL_GROW
        | SealFlag::F_SEAL_WRITE;
    fcntl(memfd.as_raw_fd(), FcntlArg::F_ADD_SEALS(seals))
        .map_err(std::io::Error::from)
        .context("failed to seal the memfd")?;
    Ok(memfd)
}

/// execveat(fd, "", AT_EMPTY_PATH) with our own argv and environment; returns only on
/// failure.
fn reexec(fd: BorrowedFd<'_>, what: &str) -> Result<()> {
    let args: Vec<CString> = std::env::args_os()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<_, _>>()?;
    let env: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv)
        })
        .collect::<Result<_, _>>()?;
    let Err(err) = nix::unistd::execveat(
        Some(fd.as_raw_fd()),
        c"",
        &args,
        &env,
        nix::fcntl::AtFlags::AT_EMPTY_PATH,
    );
    bail!(
        "failed to re-execute from {what}: {}",
        std::io::Error::from(err)
    )
}

fn copy_all(from: &File, to: &File, len: u64) -> Result<()> {
    let mut left = len as usize;
    while left > 0 {
        // NULL offsets use and advance the file offsets.
        match nix::fcntl::copy_file_range(from, None, to, None, left) {
            // copy_file_range between filesystems may be refused on old kernels.
            Err(_) => return copy_with_sendfile(from, to, left),
            Ok(0) => bail!("/proc/self/exe was shorter than its size"),
            Ok(n) => left -= n,
        }
    }
    Ok(())
}

fn copy_with_sendfile(from: &File, to: &File, mut left: usize) -> Result<()> {
    while left > 0 {
        // A NULL offset uses the input's file offset.
        let n = match nix::sys::sendfile::sendfile(to, from, None, left) {
            Ok(0) => Err(std::io::Error::last_os_error()),
            Ok(n) => Ok(n),
            Err(e) => Err(std::io::Error::from(e)),
        };
        left -= n.context("failed to copy the binary")?;
    }
    Ok(())
}
