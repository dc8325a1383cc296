//! The few system calls nix 0.29 has no safe wrapper for, each behind a safe function:
//! kill(2) with any signal number, SIGPIPE's disposition, sigtimedwait(2) and the
//! terminal size ioctls.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use nix::sys::signal::{SigHandler, SigSet, Signal};

/// kill(2) with any signal number, real-time ones included (nix's `Signal` has none);
/// 0 only checks that the process exists.
pub fn kill(pid: i32, signo: libc::c_int) -> io::Result<()> {
    // SAFETY: kill(2) takes two integers and touches no memory of ours.
    if unsafe { libc::kill(pid, signo) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets SIGPIPE's disposition to the default (`true`) or to ignored (`false`).
pub fn sigpipe(default: bool) {
    let handler = if default {
        SigHandler::SigDfl
    } else {
        SigHandler::SigIgn
    };
    // SAFETY: neither SIG_DFL nor SIG_IGN is a handler, so no code of ours ever runs
    // in signal context because of this; the previous disposition is not used.
    let _ = unsafe { nix::sys::signal::signal(Signal::SIGPIPE, handler) };
}

/// sigtimedwait(2): takes one pending signal of `set` (which the caller blocks),
/// waiting at most `timeout`; None on timeout or error. Returns the raw number, as
/// real-time signals are outside nix's `Signal`.
pub fn sigtimedwait(set: &SigSet, timeout: Duration) -> Option<i32> {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: a valid sigset and timespec that outlive the call; no siginfo wanted
    // (NULL is allowed).
    let sig = unsafe { libc::sigtimedwait(set.as_ref(), std::ptr::null_mut(), &ts) };
    (sig > 0).then_some(sig)
}

enum Winsize<'a> {
    Get(&'a mut libc::winsize),
    Set(&'a libc::winsize),
}

fn winsize_ioctl(fd: RawFd, op: Winsize<'_>) -> bool {
    // SAFETY: TIOCGWINSZ writes one winsize through a pointer to one we borrow
    // mutably; TIOCSWINSZ only reads one. Any other fd just fails (ENOTTY, EBADF).
    let rc = unsafe {
        match op {
            Winsize::Get(ws) => libc::ioctl(fd, libc::TIOCGWINSZ, ws as *mut libc::winsize),
            Winsize::Set(ws) => libc::ioctl(fd, libc::TIOCSWINSZ, ws as *const libc::winsize),
        }
    };
    rc == 0
}

/// TIOCGWINSZ: the size of the terminal `fd` is; None if it is none.
pub fn get_winsize(fd: impl AsRawFd) -> Option<libc::winsize> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    winsize_ioctl(fd.as_raw_fd(), Winsize::Get(&mut ws)).then_some(ws)
}

/// TIOCSWINSZ: sets the size of the terminal (e.g. a pty master) `fd` is; false on
/// failure.
pub fn set_winsize(fd: impl AsRawFd, ws: &libc::winsize) -> bool {
    winsize_ioctl(fd.as_raw_fd(), Winsize::Set(ws))
}

/// pidfd_open(2) (Linux 5.3): a file descriptor referring to process `pid`.
pub fn pidfd_open(pid: i32) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the fd was just returned by the kernel and is owned by nobody else.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as RawFd) })
}
