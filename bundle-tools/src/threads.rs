//! Helper threads that never take the process's signals.
//!
//! `run`, `exec` and `oci run` block every signal in the main thread and take them
//! with `sigwait` (SIGCHLD of the container process, SIGTERM/SIGINT to forward). A
//! process-directed signal goes to any thread that does not block it: a helper
//! thread with the normal mask would receive it and apply the default action —
//! discard a SIGCHLD (the main thread then waits forever for a process that already
//! exited) or die of a SIGTERM that was meant for the container. A thread inherits
//! its creator's mask at creation, so blocking around the spawn leaves no window.

use nix::sys::signal::{SigSet, SigmaskHow};

/// Runs `spawn` (which starts threads) with every signal blocked in the calling
/// thread, then restores the caller's mask: the threads it starts begin, and stay,
/// with all signals blocked.
pub fn without_signals<T>(spawn: impl FnOnce() -> T) -> T {
    let old = SigSet::all().thread_swap_mask(SigmaskHow::SIG_SETMASK);
    let out = spawn();
    if let Ok(old) = old {
        let _ = old.thread_set_mask();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SigBlk mask of the calling thread, from /proc/thread-self/status.
    fn own_sigblk() -> u64 {
        let s = std::fs::read_to_string("/proc/thread-self/status").unwrap();
        let hex = s
            .lines()
            .find_map(|l| l.strip_prefix("SigBlk:"))
            .unwrap()
            .trim();
        u64::from_str_radix(hex, 16).unwrap()
    }

    #[test]
    fn a_thread_started_inside_blocks_everything_and_the_caller_keeps_its_mask() {
        let before = own_sigblk();
        let child = without_signals(|| std::thread::spawn(own_sigblk))
            .join()
            .unwrap();
        // SIGKILL and SIGSTOP cannot be blocked, nor (glibc) its two internal ones.
        let unblockable = (1u64 << (libc::SIGKILL - 1)) | (1u64 << (libc::SIGSTOP - 1));
        let internal = (1u64 << 31) | (1u64 << 32);
        assert_eq!(
            child | unblockable | internal,
            u64::MAX,
            "helper thread mask {child:#x}"
        );
        assert_eq!(child & (1 << (libc::SIGCHLD - 1)), 1 << (libc::SIGCHLD - 1));
        assert_eq!(child & (1 << (libc::SIGTERM - 1)), 1 << (libc::SIGTERM - 1));
        assert_eq!(own_sigblk(), before, "the caller's mask was not restored");
        // A thread started outside keeps the normal mask (the test can tell).
        let plain = std::thread::spawn(own_sigblk).join().unwrap();
        assert_eq!(
            plain & (1 << (libc::SIGCHLD - 1)),
            before & (1 << (libc::SIGCHLD - 1))
        );
    }
}
