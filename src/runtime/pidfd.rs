//! `--pidfd-socket PATH` (runc 1.2, create/run/exec): a pidfd of the container's
//! process is sent over the AF_UNIX socket at PATH with SCM_RIGHTS, the data being
//! runc's init type ("standard" for a container's init, "setns" for an exec'd
//! process). The socket is connected before anything starts, so a wrong path fails
//! with nothing left behind.

use std::io::IoSlice;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::Path;

use anyhow::{Context, Result};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};

pub struct PidfdSocket(UnixStream);

impl PidfdSocket {
    pub fn connect(path: Option<&Path>) -> Result<Option<Self>> {
        path.map(|p| {
            UnixStream::connect(p)
                .map(Self)
                .with_context(|| format!("failed to dial the pidfd socket {}", p.display()))
        })
        .transpose()
    }

    /// Sends a pidfd of `pid`; `kind` is "standard" (init) or "setns" (exec).
    pub fn send(self, pid: i32, kind: &str) -> Result<()> {
        let pidfd = super::unix::pidfd_open(pid)
            .with_context(|| format!("failed to pidfd_open process {pid}"))?;
        let fds = [pidfd.as_raw_fd()];
        sendmsg::<()>(
            self.0.as_raw_fd(),
            &[IoSlice::new(kind.as_bytes())],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::empty(),
            None,
        )
        .context("failed to send the pidfd on the pidfd socket")?;
        Ok(())
    }
}
