//! CVE-2019-5736: a container process that execs `/proc/self/exe` (e.g. through a
//! `#!/proc/self/exe` interpreter line) while a runtime process is entering the
//! container could reopen the runtime's host binary for writing and overwrite it.
//!
//! Before creating a container or exec'ing into one, sifrun re-executes itself from
//! a sealed in-memory copy (memfd with write/shrink/grow seals), so every process it
//! forks into a container has an unwritable `/proc/self/exe`. The copy is made in the
//! kernel (copy_file_range) and only for the commands that enter containers; `state`,
//! `kill`, `delete` and friends never pay for it.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;

use anyhow::{bail, Context, Result};

const SEALS: libc::c_int =
    libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

fn is_sealed(exe: &File) -> bool {
    // SAFETY: fcntl on a valid fd.
    let seals = unsafe { libc::fcntl(exe.as_raw_fd(), libc::F_GET_SEALS) };
    seals >= 0 && seals & SEALS == SEALS
}

pub fn ensure_sealed() -> Result<()> {
    let exe = File::open("/proc/self/exe").context("failed to open /proc/self/exe")?;
    if is_sealed(&exe) {
        return Ok(());
    }
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
    copy_all(&exe, &memfd, len)?;
    // SAFETY: fcntl on a valid fd.
    if unsafe { libc::fcntl(memfd.as_raw_fd(), libc::F_ADD_SEALS, SEALS) } != 0 {
        return Err(std::io::Error::last_os_error()).context("failed to seal the memfd");
    }

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
    unsafe { libc::fexecve(memfd.as_raw_fd(), argv.as_ptr(), envp.as_ptr()) };
    bail!(
        "failed to re-execute from a sealed copy of the binary: {}",
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
