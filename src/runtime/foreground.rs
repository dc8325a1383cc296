//! Waiting for a container process in the foreground (`run`, `exec` without
//! `--detach`): signals are forwarded to it, its exit status becomes ours (128+N when
//! killed by signal N, as runc reports), and when the process has a terminal but the
//! caller gave no `--console-socket`, sifrun holds the pty and copies it to its own
//! stdio, as runc does.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use anyhow::{Context, Result};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::builder::Launch;

/// Blocks every signal in this thread (and threads spawned later), so that the
/// foreground loop can take them with sigwait. Call only after the container process
/// was forked: a child inherits the mask, and libcontainer does not reset it.
fn block_signals() -> Result<SigSet> {
    let all = SigSet::all();
    all.thread_block().context("failed to block signals")?;
    Ok(all)
}

/// Waits for `pid` (our child), forwarding signals to it. Returns its exit code.
fn wait(pid: Pid, signals: &SigSet) -> Result<i32> {
    // The process may already have exited before signals were blocked.
    if let Some(code) = reap(pid)? {
        return Ok(code);
    }
    loop {
        let sig = signals.wait().context("sigwait failed")?;
        match sig {
            Signal::SIGCHLD => {
                if let Some(code) = reap(pid)? {
                    return Ok(code);
                }
            }
            Signal::SIGWINCH => resize_from_stdin(pid),
            Signal::SIGURG | Signal::SIGPIPE => {}
            other => {
                let _ = kill(pid, other);
            }
        }
    }
}

fn reap(pid: Pid) -> Result<Option<i32>> {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(p, code)) if p == pid => return Ok(Some(code)),
            Ok(WaitStatus::Signaled(p, sig, _)) if p == pid => return Ok(Some(128 + sig as i32)),
            Ok(WaitStatus::StillAlive) => return Ok(None),
            Ok(_) => continue,
            Err(nix::errno::Errno::ECHILD) => {
                anyhow::bail!("process {pid} is not a child of sifrun")
            }
            Err(e) => return Err(e).context("waitpid failed"),
        }
    }
}

static PTY_MASTER: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

fn resize_from_stdin(_pid: Pid) {
    let master = PTY_MASTER.load(std::sync::atomic::Ordering::Relaxed);
    if master < 0 {
        return;
    }
    if let Some(ws) = super::unix::get_winsize(0) {
        super::unix::set_winsize(master, &ws);
    }
}

/// A private console socket: the runtime sends the pty master to it, and sifrun then
/// proxies the pty to its own stdin/stdout.
struct ConsoleSocket {
    dir: PathBuf,
    listener: UnixListener,
}

/// The thread receiving a pty master on our own console socket.
type MasterReceiver = JoinHandle<Result<OwnedFd>>;

/// What `run` and `exec` do around the process they start: its console, then (once
/// it is forked) blocking signals to forward them, holding its pty, waiting for it.
pub struct Foreground {
    console: Option<PathBuf>,
    master: Option<MasterReceiver>,
    detach: bool,
}

impl Foreground {
    pub fn new(
        root: &Path,
        terminal: bool,
        detach: bool,
        socket: Option<&PathBuf>,
    ) -> Result<Self> {
        let (console, master) = console_for(root, terminal, detach, socket)?;
        Ok(Self {
            console,
            master,
            detach,
        })
    }

    /// How to start the process: detached when asked, or when our proxy holds its pty.
    pub fn launch<'a>(
        &'a self,
        id: &'a str,
        pid_file: Option<&'a PathBuf>,
        fds: i32,
    ) -> Launch<'a> {
        Launch {
            id,
            pid_file,
            console_socket: self.console.as_ref(),
            preserve_fds: fds,
            detach: self.detach || self.console.is_some(),
        }
    }

    /// Right after the process was forked (with our normal signal mask).
    pub fn started(self) -> Result<Started> {
        let signals = (!self.detach).then(block_signals).transpose()?;
        let proxy = match self.master {
            Some(handle) => {
                let fd = handle
                    .join()
                    .map_err(|_| anyhow::anyhow!("console thread panicked"))??;
                Some(PtyProxy::start(fd)?)
            }
            None => None,
        };
        Ok(Started { signals, proxy })
    }
}

/// A started process run/exec may wait for.
pub struct Started {
    signals: Option<SigSet>,
    proxy: Option<PtyProxy>,
}

impl Started {
    /// Forward signals to `pid` until it exits; its exit code, or `None` when detached.
    pub fn wait(self, pid: Pid) -> Result<Option<i32>> {
        let Some(signals) = self.signals else {
            return Ok(None);
        };
        let code = wait(pid, &signals);
        if let Some(p) = self.proxy {
            p.finish();
        }
        code.map(Some)
    }
}

/// Where the container process's pty master goes: the caller's `--console-socket`,
/// else, when sifrun stays in the foreground, a socket of its own (runc holds the pty
/// itself then). Returns the socket path to hand to libcontainer and, for our own
/// socket, the thread receiving the master.
fn console_for(
    state_root: &Path,
    terminal: bool,
    detach: bool,
    given: Option<&PathBuf>,
) -> Result<(Option<PathBuf>, Option<MasterReceiver>)> {
    if !(terminal && !detach && given.is_none()) {
        return Ok((given.cloned(), None));
    }
    let console = ConsoleSocket::new(state_root)?;
    Ok((Some(console.path()), Some(console.receive())))
}

impl ConsoleSocket {
    fn new(state_root: &Path) -> Result<Self> {
        crate::state::root::ensure(state_root)?;
        let dir = state_root.join(format!(".console-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).with_context(|| format!("failed to create {}", dir.display()))?;
        let listener = UnixListener::bind(dir.join("sock"))
            .with_context(|| format!("failed to listen on {}", dir.display()))?;
        Ok(Self { dir, listener })
    }

    fn path(&self) -> PathBuf {
        self.dir.join("sock")
    }

    /// Receives the master in the background (the runtime sends it during create).
    /// The thread blocks all signals, so they reach the main thread's sigwait instead
    /// of killing the process with their default action.
    fn receive(self) -> MasterReceiver {
        bundle_tools::threads::without_signals(|| {
            std::thread::spawn(move || {
                let (stream, _) = self.listener.accept().context("console socket accept")?;
                let fd = recv_fd(stream.as_raw_fd())?;
                Ok(fd)
            })
        })
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn recv_fd(sock: i32) -> Result<OwnedFd> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut buf = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(sock, &mut iov, Some(&mut cmsg), MsgFlags::MSG_CMSG_CLOEXEC)
        .context("failed to receive the pty master")?;
    for c in msg.cmsgs().context("bad control message")? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(&fd) = fds.first() {
                // SAFETY: SCM_RIGHTS: the kernel just installed this fd in our table
                // for this message (close-on-exec) and nothing else knows its number,
                // so it gets exactly one owner, here.
                return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
            }
        }
    }
    anyhow::bail!("no file descriptor arrived on the console socket")
}

/// Copies between our stdio and the pty master until the container side closes.
/// Puts our terminal (if stdin is one) in raw mode and restores it on drop.
struct PtyProxy {
    output: Option<JoinHandle<()>>,
    saved: Option<nix::sys::termios::Termios>,
}

impl PtyProxy {
    fn start(master: OwnedFd) -> Result<Self> {
        use nix::sys::termios;
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(&stdin).ok();
        if let Some(orig) = &saved {
            let mut raw = orig.clone();
            termios::cfmakeraw(&mut raw);
            let _ = termios::tcsetattr(&stdin, termios::SetArg::TCSANOW, &raw);
        }
        // runc clears ONLCR on the container's pty: what the process writes arrives as
        // written ("\n", not "\r\n"), which matters when our stdout is a pipe or file.
        if let Ok(mut t) = termios::tcgetattr(&master) {
            t.output_flags.remove(termios::OutputFlags::ONLCR);
            let _ = termios::tcsetattr(&master, termios::SetArg::TCSANOW, &t);
        }
        PTY_MASTER.store(master.as_raw_fd(), std::sync::atomic::Ordering::Relaxed);
        resize_from_stdin(Pid::from_raw(0));
        let mut reader = File::from(master);
        let mut writer = reader.try_clone().context("failed to dup the pty master")?;
        // stdin → pty: a detached thread; it ends with the process.
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            let mut stdin = std::io::stdin().lock();
            while let Ok(n) = stdin.read(&mut buf) {
                if n == 0 || writer.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
        let output = std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            let mut stdout = std::io::stdout();
            // EIO once every slave fd is closed: the container side is done.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 || stdout.write_all(&buf[..n]).is_err() {
                    break;
                }
                let _ = stdout.flush();
            }
        });
        Ok(Self {
            output: Some(output),
            saved,
        })
    }

    /// Waits for the output copy to drain after the process exited.
    fn finish(mut self) {
        if let Some(h) = self.output.take() {
            let _ = h.join();
        }
    }
}

impl Drop for PtyProxy {
    fn drop(&mut self) {
        PTY_MASTER.store(-1, std::sync::atomic::Ordering::Relaxed);
        if let Some(orig) = &self.saved {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin(),
                nix::sys::termios::SetArg::TCSANOW,
                orig,
            );
        }
    }
}
