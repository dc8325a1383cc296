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
//! `state`, `kill`, `delete` and friends never do.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use anyhow::{bail, Context, Result};

const SEALS: libc::c_int =
    libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

const OVERLAYFS_SUPER_MAGIC: libc::c_long = 0x794c_7630;
const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_FD: libc::c_uint = 5;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const MOUNT_ATTR_RDONLY: libc::c_uint = 0x1;
const MOUNT_ATTR_NOSUID: libc::c_uint = 0x2;
const MOUNT_ATTR_NODEV: libc::c_uint = 0x4;

fn is_sealed(exe: &File) -> bool {
    // SAFETY: fcntl on a valid fd.
    let seals = unsafe { libc::fcntl(exe.as_raw_fd(), libc::F_GET_SEALS) };
    seals >= 0 && seals & SEALS == SEALS
}

/// Running from a read-only overlayfs (ours, or an installation on one): overlayfs
/// without an upper layer has no way to write to the file below.
fn is_on_readonly_overlay(exe: &File) -> bool {
    // SAFETY: fstatfs/fstatvfs on a valid fd into zeroed structs.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    let mut vst: libc::statvfs = unsafe { std::mem::zeroed() };
    let ok = unsafe {
        libc::fstatfs(exe.as_raw_fd(), &mut st) == 0
            && libc::fstatvfs(exe.as_raw_fd(), &mut vst) == 0
    };
    ok && st.f_type as libc::c_long == OVERLAYFS_SUPER_MAGIC && vst.f_flag & libc::ST_RDONLY != 0
}

pub fn ensure_sealed() -> Result<()> {
    let exe = File::open("/proc/self/exe").context("failed to open /proc/self/exe")?;
    if is_sealed(&exe) || is_on_readonly_overlay(&exe) {
        return Ok(());
    }
    // SIFRUN_SEAL=memfd skips the overlay (to test or compare the fallback).
    if std::env::var_os("SIFRUN_SEAL").is_none_or(|v| v != "memfd") {
        if let Ok(fd) = overlay_exe() {
            reexec(fd.as_raw_fd(), "overlayfs")?;
        }
    }
    let memfd = memfd_copy(&exe)?;
    reexec(memfd.as_raw_fd(), "a sealed copy of the binary")
}

fn check(rc: libc::c_long, what: &str) -> Result<libc::c_long> {
    if rc < 0 {
        return Err(std::io::Error::last_os_error()).context(what.to_string());
    }
    Ok(rc)
}

fn owned(rc: libc::c_long, what: &str) -> Result<OwnedFd> {
    let fd = check(rc, what)? as RawFd;
    // SAFETY: the syscall just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn fsconfig_fd(ctx: &OwnedFd, key: &std::ffi::CStr, fd: &OwnedFd) -> Result<()> {
    // SAFETY: fsconfig(2) with a valid context fd, a NUL-terminated key and an fd value.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            ctx.as_raw_fd(),
            FSCONFIG_SET_FD,
            key.as_ptr(),
            std::ptr::null::<libc::c_void>(),
            fd.as_raw_fd(),
        )
    };
    check(rc, "fsconfig").map(drop)
}

fn create_and_mount(ctx: &OwnedFd, attrs: libc::c_uint, what: &str) -> Result<OwnedFd> {
    // SAFETY: fsconfig(2)/fsmount(2) on a valid filesystem context.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            ctx.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    };
    check(rc, what)?;
    // SAFETY: as above.
    let rc = unsafe { libc::syscall(libc::SYS_fsmount, ctx.as_raw_fd(), FSMOUNT_CLOEXEC, attrs) };
    owned(rc, what)
}

fn fsopen(fs: &std::ffi::CStr) -> Result<OwnedFd> {
    // SAFETY: fsopen(2) with a NUL-terminated filesystem name.
    let rc = unsafe { libc::syscall(libc::SYS_fsopen, fs.as_ptr(), FSOPEN_CLOEXEC) };
    owned(rc, "fsopen")
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
    let dir = open_at(libc::AT_FDCWD, dir, libc::O_PATH | libc::O_DIRECTORY)?;
    let ovl = fsopen(c"overlay")?;
    fsconfig_fd(&ovl, c"lowerdir+", &dir)?;
    fsconfig_fd(&ovl, c"lowerdir+", &empty)?;
    let mnt = create_and_mount(
        &ovl,
        MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID,
        "overlay",
    )?;
    open_at(
        mnt.as_raw_fd(),
        Path::new(name),
        libc::O_PATH | libc::O_NOFOLLOW,
    )
}

fn open_at(dir: RawFd, path: &Path, flags: libc::c_int) -> Result<OwnedFd> {
    let c = CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: openat with a valid dir fd (or AT_FDCWD) and a NUL-terminated path.
    let rc = unsafe { libc::openat(dir, c.as_ptr(), flags | libc::O_CLOEXEC) };
    owned(rc as libc::c_long, "openat")
}

fn memfd_copy(exe: &File) -> Result<File> {
    let len = exe
        .metadata()
        .context("failed to stat /proc/self/exe")?
        .len();
    // SAFETY: memfd_create with a static NUL-terminated name.
    let fd = unsafe {
        libc::memfd_create(
            c"sifrun".as_ptr(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()).context("memfd_create failed");
    }
    // SAFETY: fd was just created and is owned here.
    let memfd = unsafe { File::from_raw_fd(fd) };
    copy_all(exe, &memfd, len)?;
    // SAFETY: fcntl on a valid fd.
    if unsafe { libc::fcntl(memfd.as_raw_fd(), libc::F_ADD_SEALS, SEALS) } != 0 {
        return Err(std::io::Error::last_os_error()).context("failed to seal the memfd");
    }
    Ok(memfd)
}

/// execveat(fd, "", AT_EMPTY_PATH) with our own argv and environment; returns only on
/// failure.
fn reexec(fd: RawFd, what: &str) -> Result<()> {
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
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    // SAFETY: argv/envp are NUL-terminated arrays of valid C strings that outlive the call.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd,
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    bail!(
        "failed to re-execute from {what}: {}",
        std::io::Error::last_os_error()
    )
}

fn copy_all(from: &File, to: &File, len: u64) -> Result<()> {
    let mut left = len as usize;
    while left > 0 {
        // SAFETY: both fds are valid; NULL offsets use and advance the file offsets.
        let n = unsafe {
            libc::copy_file_range(
                from.as_raw_fd(),
                std::ptr::null_mut(),
                to.as_raw_fd(),
                std::ptr::null_mut(),
                left,
                0,
            )
        };
        if n < 0 {
            // copy_file_range between filesystems may be refused on old kernels.
            return copy_with_sendfile(from, to, left);
        }
        if n == 0 {
            bail!("/proc/self/exe was shorter than its size");
        }
        left -= n as usize;
    }
    Ok(())
}

fn copy_with_sendfile(from: &File, to: &File, mut left: usize) -> Result<()> {
    while left > 0 {
        // SAFETY: both fds are valid; NULL offset uses the input's file offset.
        let n =
            unsafe { libc::sendfile(to.as_raw_fd(), from.as_raw_fd(), std::ptr::null_mut(), left) };
        if n <= 0 {
            return Err(std::io::Error::last_os_error()).context("failed to copy the binary");
        }
        left -= n as usize;
    }
    Ok(())
}
