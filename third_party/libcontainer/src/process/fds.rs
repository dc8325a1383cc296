//! sifrun patch 0019: the init process is a clone of the runtime, so it starts with every
//! fd the runtime held (sync sockets of other processes, the runtime's locks, pathrs'
//! cached procfs mount of the host, fds the runtime's caller leaked). O_CLOEXEC only
//! closes them at the final execve; until `start`, anything that reaches the waiting init
//! (ptrace from the container, an exec into the created container) could use them, as in
//! CVE-2024-21626. [`close_fds_except`] drops them while the init waits.

use std::os::fd::RawFd;

/// Close every fd from 3 up, except those in `keep`.
pub fn close_fds_except(keep: &[RawFd]) -> std::io::Result<()> {
    let mut keep: Vec<u32> = keep
        .iter()
        .filter(|&&fd| fd >= 3)
        .map(|&fd| fd as u32)
        .collect();
    keep.sort_unstable();
    keep.dedup();
    let mut lo: u32 = 3;
    for &fd in keep.iter().chain(std::iter::once(&u32::MAX)) {
        if fd > lo && close_range(lo, fd - 1).is_err() {
            return close_listed(&keep);
        }
        lo = fd.saturating_add(1);
    }
    Ok(())
}

fn close_range(first: u32, last: u32) -> std::io::Result<()> {
    // SAFETY: close_range(2) takes plain integers; the fds it closes are not used again
    // by this process (the caller chose them).
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Kernels before 5.9: close what /proc/self/fd lists.
fn close_listed(keep: &[u32]) -> std::io::Result<()> {
    let fds: Vec<u32> = std::fs::read_dir("/proc/self/fd")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    for fd in fds {
        if fd >= 3 && keep.binary_search(&fd).is_err() {
            let _ = nix::unistd::close(fd as RawFd);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::IntoRawFd;

    #[test]
    fn closes_all_but_kept() {
        // Runs in a child so the test harness' own fds are left alone.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                let a = std::fs::File::open("/").unwrap().into_raw_fd();
                let b = std::fs::File::open("/").unwrap().into_raw_fd();
                let c = std::fs::File::open("/").unwrap().into_raw_fd();
                close_fds_except(&[b]).unwrap();
                let open = |fd| nix::fcntl::fcntl(fd, nix::fcntl::F_GETFD).is_ok();
                let ok = !open(a) && open(b) && !open(c) && open(0) && open(2);
                std::process::exit(if ok { 0 } else { 1 });
            }
            nix::unistd::ForkResult::Parent { child } => {
                let status = nix::sys::wait::waitpid(child, None).unwrap();
                assert_eq!(status, nix::sys::wait::WaitStatus::Exited(child, 0));
            }
        }
    }
}
