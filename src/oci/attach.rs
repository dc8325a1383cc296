//! `oci attach ID`: connect our stdio to the container's through the monitor's attach
//! socket (protocol in [`super::protocol`]). Output produced while nobody was attached is
//! replayed first. Ctrl-P Ctrl-Q detaches and leaves the container running; when the
//! process exits, attach exits with its status.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::socket::{self, AddressFamily, MsgFlags, SockFlag, SockType, UnixAddr};
use nix::sys::termios;

use super::dir::OciDir;
use super::protocol::{self, PACKET_DATA};
use crate::runtime::ctx::Ctx;

const CTRL_P: u8 = 0x10;
const CTRL_Q: u8 = 0x11;

#[derive(Args, Debug)]
pub struct Attach {
    /// Container identifier
    pub container_id: String,
}

pub fn attach(args: Attach, ctx: &Ctx) -> Result<u8> {
    let dir = OciDir::new(&ctx.root, &args.container_id)?;
    let sock = connect(&dir, &args.container_id, ctx)?;
    let sock = Arc::new(sock);
    let stdin_tty = termios::tcgetattr(std::io::stdin()).ok();
    let _raw = stdin_tty.map(RawMode::enter);

    let detached = Arc::new(AtomicBool::new(false));
    if _raw.is_some() {
        send_winsize(sock.as_raw_fd());
        // SIGWINCH is taken by a thread with sigwait; blocked here before it exists.
        let mut winch = SigSet::empty();
        winch.add(Signal::SIGWINCH);
        winch.thread_block()?;
        let s = Arc::clone(&sock);
        std::thread::spawn(move || {
            while winch.wait().is_ok() {
                send_winsize(s.as_raw_fd());
            }
        });
    }
    {
        let (s, d) = (Arc::clone(&sock), Arc::clone(&detached));
        std::thread::spawn(move || forward_stdin(&s, &d));
    }

    let mut buf = vec![0u8; PACKET_DATA + 1];
    let mut code = None;
    loop {
        let n = match socket::recv(sock.as_raw_fd(), &mut buf, MsgFlags::empty()) {
            Ok(0) => break,
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => {
                if detached.load(Ordering::SeqCst) {
                    break;
                }
                return Err(e).context("attach socket");
            }
        };
        let data = &buf[1..n];
        match buf[0] {
            protocol::STDOUT => write_all(&mut std::io::stdout(), data),
            protocol::STDERR => write_all(&mut std::io::stderr(), data),
            protocol::EXIT if data.len() == 4 => {
                code = Some(i32::from_le_bytes([data[0], data[1], data[2], data[3]]))
            }
            _ => {}
        }
    }
    let was_raw = _raw.is_some();
    drop(_raw);
    if detached.load(Ordering::SeqCst) {
        if was_raw {
            // The container's prompt has no newline; the caller's shell starts afresh.
            eprintln!();
        }
        return Ok(0);
    }
    // The monitor may close before its exit packet reached us (e.g. we attached late).
    let code = code.or_else(|| dir.exit_code()).unwrap_or(0);
    Ok(crate::runtime::ctx::exit_byte(code))
}

fn connect(dir: &OciDir, id: &str, ctx: &Ctx) -> Result<OwnedFd> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.path(OciDir::ATTACH);
    let gone = || match dir.exit_code() {
        Some(code) => anyhow::anyhow!("container {id:?} has exited with status {code}"),
        None if crate::state::container::path(&ctx.root, id)
            .is_ok_and(|d| d.join("state.json").exists()) =>
        {
            anyhow::anyhow!("container {id:?} has no monitor (not made by `sifrun oci create`)")
        }
        None => crate::state::container::not_found(id),
    };
    // A container whose exit is recorded has nothing to attach to, even while its
    // monitor is still on its way out (and still accepting).
    if dir.exit_code().is_some() {
        return Err(gone());
    }
    // Connected through /proc/self/fd/N of an O_PATH fd, as singularity does: sun_path
    // holds only 108 bytes.
    let Ok(target) = std::fs::File::options()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_CLOEXEC)
        .open(&path)
    else {
        return Err(gone());
    };
    let sock = socket::socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    let via = format!("/proc/self/fd/{}", target.as_raw_fd());
    if socket::connect(sock.as_raw_fd(), &UnixAddr::new(via.as_str())?).is_err() {
        return Err(gone());
    }
    Ok(sock)
}

fn forward_stdin(sock: &OwnedFd, detached: &AtomicBool) {
    let mut stdin = std::io::stdin().lock();
    let mut buf = [0u8; PACKET_DATA];
    // A Ctrl-P held back until we know whether Ctrl-Q follows.
    let mut held = false;
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) | Err(_) => {
                let _ = socket::send(
                    sock.as_raw_fd(),
                    &[protocol::CLOSE_STDIN],
                    MsgFlags::MSG_NOSIGNAL,
                );
                return;
            }
            Ok(n) => n,
        };
        let mut out = Vec::with_capacity(n + 2);
        out.push(protocol::STDIN);
        for &b in &buf[..n] {
            if held {
                held = false;
                if b == CTRL_Q {
                    detached.store(true, Ordering::SeqCst);
                    let _ = socket::shutdown(sock.as_raw_fd(), socket::Shutdown::Both);
                    return;
                }
                out.push(CTRL_P);
            }
            if b == CTRL_P {
                held = true;
            } else {
                out.push(b);
            }
        }
        if out.len() > 1 && socket::send(sock.as_raw_fd(), &out, MsgFlags::MSG_NOSIGNAL).is_err() {
            return;
        }
    }
}

fn send_winsize(sock: RawFd) {
    let Some(ws) = crate::runtime::unix::get_winsize(0) else {
        return;
    };
    let mut p = vec![protocol::WINSIZE];
    p.extend_from_slice(&ws.ws_row.to_le_bytes());
    p.extend_from_slice(&ws.ws_col.to_le_bytes());
    let _ = socket::send(sock, &p, MsgFlags::MSG_NOSIGNAL);
}

fn write_all(out: &mut dyn Write, data: &[u8]) {
    let _ = out.write_all(data);
    let _ = out.flush();
}

/// Our terminal in raw mode (keys go to the container as typed), restored on drop.
struct RawMode {
    saved: termios::Termios,
}

impl RawMode {
    fn enter(saved: termios::Termios) -> Self {
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        let _ = termios::tcsetattr(std::io::stdin(), termios::SetArg::TCSANOW, &raw);
        Self { saved }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin(), termios::SetArg::TCSANOW, &self.saved);
    }
}
