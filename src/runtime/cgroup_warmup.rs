//! Moving a process into a cgroup takes the kernel's global cgroup_threadgroup_rwsem
//! for writing. Unless some move happened within the last RCU grace period, that first
//! waits for a whole grace period (12-15 ms on this kind of machine) — which libcontainer's
//! intermediate process would pay serially, in the middle of `create`/`run`/`exec`.
//!
//! [`start`] writes our own pid to the cgroup we already are in (a no-op move) from a
//! helper thread, so that grace period runs while the config is parsed and the
//! container processes are forked; the container's own move then takes the fast path.
//! The thread is a bare pthread that never allocates, so it cannot hold an allocator
//! lock when libcontainer clones (clone3 has no fork handlers).

use std::fs::{File, OpenOptions};
use std::os::fd::IntoRawFd;
use std::path::PathBuf;

struct Job {
    fd: libc::c_int,
    pid: [u8; 16],
    len: usize,
}

extern "C" fn run(arg: *mut libc::c_void) -> *mut libc::c_void {
    // SAFETY: `arg` is the leaked Box<Job> from `start`, used by this thread only.
    let job = unsafe { &*(arg as *const Job) };
    // SAFETY: plain syscalls on an fd this thread owns and a buffer that lives forever.
    unsafe {
        libc::write(job.fd, job.pid.as_ptr().cast(), job.len);
        libc::close(job.fd);
    }
    std::ptr::null_mut()
}

/// Best effort: any failure (no cgroupfs, no permission) just skips the warm-up.
pub fn start() {
    let Some(file) = own_procs_file() else {
        return;
    };
    let text = std::process::id().to_string();
    let mut job = Box::new(Job {
        fd: file.into_raw_fd(),
        pid: [0; 16],
        len: text.len(),
    });
    job.pid[..text.len()].copy_from_slice(text.as_bytes());
    let arg = Box::into_raw(job);
    let mut tid: libc::pthread_t = 0;
    // SAFETY: `run` matches pthread's start routine; `arg` stays valid (leaked) for it.
    let rc = unsafe { libc::pthread_create(&mut tid, std::ptr::null(), run, arg.cast()) };
    if rc == 0 {
        // SAFETY: tid was just created; a detached thread frees its own resources.
        unsafe { libc::pthread_detach(tid) };
    } else {
        // SAFETY: the thread was not created, so `arg` is still ours.
        let job = unsafe { Box::from_raw(arg) };
        // SAFETY: closing the fd we opened.
        unsafe { libc::close(job.fd) };
    }
}

/// `cgroup.procs` of the cgroup this process is in, in the first hierarchy found.
fn own_procs_file() -> Option<File> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        let path = path.trim_start_matches('/');
        let dirs: Vec<PathBuf> = if ctrls.is_empty() {
            ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
                .iter()
                .map(|m| PathBuf::from(m).join(path))
                .collect()
        } else {
            ctrls
                .split(',')
                .map(|c| PathBuf::from("/sys/fs/cgroup").join(c).join(path))
                .collect()
        };
        for dir in dirs {
            if let Ok(f) = OpenOptions::new()
                .write(true)
                .open(dir.join("cgroup.procs"))
            {
                return Some(f);
            }
        }
    }
    None
}
