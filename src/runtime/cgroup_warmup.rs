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
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

struct Job {
    file: File,
    pid: [u8; 16],
    len: usize,
}

/// Handed from [`start`] to the thread. Neither locking (a futex) nor taking the job,
/// writing through `&File` and dropping (closing) it allocates.
static JOB: Mutex<Option<Job>> = Mutex::new(None);

extern "C" fn run(_arg: *mut libc::c_void) -> *mut libc::c_void {
    if let Some(job) = take_job() {
        let _ = (&job.file).write(&job.pid[..job.len]);
    }
    std::ptr::null_mut()
}

fn take_job() -> Option<Job> {
    JOB.lock().ok().and_then(|mut job| job.take())
}

/// Best effort: any failure (no cgroupfs, no permission) just skips the warm-up.
pub fn start() {
    let Some(file) = own_procs_file() else {
        return;
    };
    let text = std::process::id().to_string();
    let mut job = Job {
        file,
        pid: [0; 16],
        len: text.len(),
    };
    job.pid[..text.len()].copy_from_slice(text.as_bytes());
    match JOB.lock() {
        Ok(mut slot) => *slot = Some(job),
        Err(_) => return,
    }
    let mut tid: libc::pthread_t = 0;
    // Created with every signal blocked (see bundle_tools::threads): the thread may
    // still be writing when run/exec wait for the container's SIGCHLD.
    let rc = bundle_tools::threads::without_signals(|| {
        // SAFETY: `run` has the signature of a pthread start routine and ignores its
        // argument (the job is in JOB); `tid` is a valid out-pointer, and once created
        // (rc 0) the thread is detached at once, so it frees its own resources on exit.
        unsafe {
            let rc = libc::pthread_create(&mut tid, std::ptr::null(), run, std::ptr::null_mut());
            if rc == 0 {
                libc::pthread_detach(tid);
            }
            rc
        }
    });
    if rc != 0 {
        // No thread: close the file here.
        drop(take_job());
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
