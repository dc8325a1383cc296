//! The monitor behind `sifrun oci create` (what conmon is to `singularity oci`): a
//! `sifrun oci monitor` process in its own session that creates the container
//! in-process (so the container's init becomes its child: it is a subreaper), holds
//! the container's stdio — the pty master with `process.terminal`, else three pipes —
//! and then, in one poll loop:
//! * appends all output to `container.log` in conmon's k8s-file format
//!   (`<RFC3339Nano> stdout|stderr F|P <text>`),
//! * keeps output produced while nobody is attached and replays it on attach,
//! * serves the attach socket (SOCK_SEQPACKET; protocol below),
//! * reaps the init process and records its exit code in `exit` and as the log's last
//!   line, then exits.
//!
//! The attach protocol is in [`super::protocol`].

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{
    self, sockopt, AddressFamily, Backlog, MsgFlags, SockFlag, SockType, UnixAddr,
};
use nix::sys::time::TimeVal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};

use super::dir::OciDir;
use super::protocol::{packet, CLOSE_STDIN, EXIT, PACKET_DATA, STDERR, STDIN, STDOUT, WINSIZE};
use crate::runtime::ctx::Ctx;
use crate::runtime::unix;

/// Output kept for the next attach while nobody is attached; the log has it all.
const REPLAY_MAX: usize = 1 << 20;
/// How long to keep reading output after the process exited (orphans outside a pid
/// namespace may hold the pipes open forever).
const DRAIN: Duration = Duration::from_secs(2);

#[derive(clap::Args, Debug)]
pub struct MonitorArgs {
    /// Bundle (absolute path)
    #[arg(long)]
    pub bundle: PathBuf,
    /// Pipe on which the monitor reports `ok PID` or `error MESSAGE`
    #[arg(long)]
    pub sync_fd: RawFd,
    pub container_id: String,
}

pub fn run(args: MonitorArgs, ctx: &Ctx) -> Result<u8> {
    if args.sync_fd < 3 {
        bail!("--sync-fd must be an inherited pipe");
    }
    // SAFETY: `oci create` hands us the write end of its sync pipe as this fd (it
    // dup2s it there right before exec), and nothing else in this process opens,
    // uses or closes it: this File becomes its only owner.
    let mut sync = unsafe { File::from_raw_fd(args.sync_fd) };
    // A reader gone (of the sync pipe, the container's stdin) is an error, not death;
    // the container's process gets the default again in `create_container`.
    unix::sigpipe(false);
    // Keep it from the container's process (it is forked from us while creating).
    let _ = fcntl(sync.as_raw_fd(), FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
    match Monitor::setup(&args, ctx) {
        Ok(mut monitor) => {
            let _ = writeln!(sync, "ok {}", monitor.pid);
            drop(sync);
            monitor.serve();
            monitor.finish();
            Ok(0)
        }
        Err(err) => {
            let msg = format!("{err:#}").replace('\n', " ");
            let _ = writeln!(sync, "error {msg}");
            Ok(1)
        }
    }
}

struct Output {
    fd: OwnedFd,
    stream: u8,
}

struct Monitor {
    pid: i32,
    terminal: bool,
    outputs: Vec<Output>,
    /// Where client stdin goes: the pty master (a dup) or the stdin pipe.
    input: Option<OwnedFd>,
    pending_input: Vec<u8>,
    /// The client's stdin ended: close the process's stdin once pending is written.
    close_input: bool,
    listener: UnixListener,
    clients: Vec<OwnedFd>,
    replay: VecDeque<(u8, Vec<u8>)>,
    replay_len: usize,
    log: File,
    signals: SignalFd,
    exit: Option<i32>,
}

impl Monitor {
    fn setup(args: &MonitorArgs, ctx: &Ctx) -> Result<Self> {
        let dir = OciDir::new(&ctx.root, &args.container_id)?;
        // The attach socket is bound by a relative name: sun_path holds only 108
        // bytes, and `<root>/.oci/<id>/attach` can be longer.
        std::env::set_current_dir(&dir.dir)
            .with_context(|| format!("cannot enter {}", dir.dir.display()))?;
        // Orphaned container processes (the init itself, once libcontainer's
        // intermediate process exits) are reparented to us so we can reap them.
        nix::sys::prctl::set_child_subreaper(true)
            .map_err(std::io::Error::from)
            .context("PR_SET_CHILD_SUBREAPER")?;
        std::fs::write(OciDir::MONITOR_PID, format!("{}\n", std::process::id()))
            .context("cannot write monitor.pid")?;
        let prepared = crate::runtime::bundle::prepare(&args.container_id, &args.bundle)?;
        let terminal = prepared.terminal();
        let listener = listen(OciDir::ATTACH)?;
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .custom_flags(libc::O_CLOEXEC)
            .open(OciDir::LOG)
            .context("cannot open container.log")?;

        let (outputs, input) = if terminal {
            let console = std::os::unix::net::UnixListener::bind(OciDir::CONSOLE)
                .context("cannot bind the console socket")?;
            create_container(args, ctx, Some(dir.path(OciDir::CONSOLE)))?;
            let _ = std::fs::remove_file(OciDir::CONSOLE);
            let master = match receive_master(&console) {
                Ok(m) => m,
                Err(e) => {
                    force_delete(&args.container_id, ctx);
                    return Err(e);
                }
            };
            set_nonblocking(master.as_raw_fd())?;
            let input = master.try_clone()?;
            (
                vec![Output {
                    fd: master,
                    stream: STDOUT,
                }],
                Some(input),
            )
        } else {
            let (in_r, in_w) = pipe()?;
            let (out_r, out_w) = pipe()?;
            let (err_r, err_w) = pipe()?;
            // The container's init inherits fds 0-2 of the process that creates it.
            redirect_stdio([&in_r, &out_w, &err_w])?;
            let created = create_container(args, ctx, None);
            let null = File::open("/dev/null")?;
            redirect_stdio([&null, &null, &null])?;
            created?;
            drop((in_r, out_w, err_w));
            for fd in [&in_w, &out_r, &err_r] {
                set_nonblocking(fd.as_raw_fd())?;
            }
            (
                vec![
                    Output {
                        fd: out_r,
                        stream: STDOUT,
                    },
                    Output {
                        fd: err_r,
                        stream: STDERR,
                    },
                ],
                Some(in_w),
            )
        };

        let pid = match crate::state::container::load(&ctx.root, &args.container_id, false)
            .and_then(|(c, _)| c.pid().context("the container has no init process"))
        {
            Ok(p) => p.as_raw(),
            Err(e) => {
                force_delete(&args.container_id, ctx);
                return Err(e);
            }
        };
        // Blocked only now: the container's init must not inherit a blocked SIGCHLD.
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGCHLD);
        mask.thread_block()?;
        let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;

        let mut monitor = Monitor {
            pid,
            terminal,
            outputs,
            input,
            pending_input: Vec::new(),
            close_input: false,
            listener: UnixListener::from(listener),
            clients: Vec::new(),
            replay: VecDeque::new(),
            replay_len: 0,
            log,
            signals,
            exit: None,
        };
        // The process may be gone before SIGCHLD was blocked.
        monitor.reap();
        Ok(monitor)
    }

    fn serve(&mut self) {
        let mut drain_until: Option<Instant> = None;
        loop {
            if self.exit.is_some() {
                let until = *drain_until.get_or_insert_with(|| Instant::now() + DRAIN);
                if self.outputs.is_empty() || Instant::now() >= until {
                    return;
                }
            }
            let mut fds = vec![
                PollFd::new(self.signals.as_fd(), PollFlags::POLLIN),
                PollFd::new(self.listener.as_fd(), PollFlags::POLLIN),
            ];
            fds.extend(
                self.outputs
                    .iter()
                    .map(|o| PollFd::new(o.fd.as_fd(), PollFlags::POLLIN)),
            );
            let input_at = fds.len();
            let want_out = !self.pending_input.is_empty();
            if let Some(input) = &self.input {
                fds.push(PollFd::new(
                    input.as_fd(),
                    if want_out {
                        PollFlags::POLLOUT
                    } else {
                        PollFlags::empty()
                    },
                ));
            }
            let clients_at = fds.len();
            fds.extend(
                self.clients
                    .iter()
                    .map(|c| PollFd::new(c.as_fd(), PollFlags::POLLIN)),
            );
            let timeout = if drain_until.is_some() {
                PollTimeout::from(100u8)
            } else {
                PollTimeout::NONE
            };
            match poll(&mut fds, timeout) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => return,
            }
            // What happened on each fd; the fds borrow from self until here.
            let revents: Vec<Option<PollFlags>> = fds.iter().map(|f| f.revents()).collect();
            drop(fds);
            // Handle in reverse index order so removals do not shift pending entries.
            for i in (clients_at..revents.len()).rev() {
                if any_event(revents[i]) {
                    self.client_readable(i - clients_at);
                }
            }
            if self.input.is_some() && any_event(revents[input_at]) && want_out {
                self.write_input();
            }
            for i in (2..input_at).rev() {
                if any_event(revents[i]) {
                    self.output_readable(i - 2);
                }
            }
            if readable(revents[1]) {
                self.accept();
            }
            if readable(revents[0]) {
                while let Ok(Some(_)) = self.signals.read_signal() {}
                self.reap();
            }
        }
    }

    fn reap(&mut self) {
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(p, code)) if p.as_raw() == self.pid => self.exit = Some(code),
                Ok(WaitStatus::Signaled(p, sig, _)) if p.as_raw() == self.pid => {
                    // As a shell (and runc's `run`) reports a death by signal.
                    self.exit = Some(128 + sig as i32)
                }
                Ok(WaitStatus::StillAlive) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }

    fn output_readable(&mut self, idx: usize) {
        let mut buf = vec![0u8; PACKET_DATA];
        let fd = self.outputs[idx].fd.as_raw_fd();
        match nix::unistd::read(fd, &mut buf) {
            Ok(n) if n > 0 => {
                buf.truncate(n);
                let stream = self.outputs[idx].stream;
                self.log_output(stream, &buf);
                self.deliver(stream, buf);
                return;
            }
            Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EINTR) => return,
            Ok(_) | Err(_) => {}
        }
        // EOF, or EIO from a pty master once no slave is open: this stream is done.
        self.outputs.remove(idx);
    }

    /// conmon's k8s-file lines: complete lines are `F`, a trailing piece without a
    /// newline is `P` (partial).
    fn log_output(&mut self, stream: u8, data: &[u8]) {
        let name = if stream == STDERR { "stderr" } else { "stdout" };
        let ts = timestamp();
        let mut out = Vec::with_capacity(data.len() + 64);
        let mut rest = data;
        while !rest.is_empty() {
            let (line, tag, next) = match rest.iter().position(|&b| b == b'\n') {
                Some(i) => (&rest[..i], "F", &rest[i + 1..]),
                None => (rest, "P", &rest[rest.len()..]),
            };
            out.extend_from_slice(format!("{ts} {name} {tag} ").as_bytes());
            out.extend_from_slice(line);
            out.push(b'\n');
            rest = next;
        }
        let _ = self.log.write_all(&out);
    }

    fn deliver(&mut self, stream: u8, data: Vec<u8>) {
        if self.clients.is_empty() {
            self.replay_len += data.len();
            self.replay.push_back((stream, data));
            while self.replay_len > REPLAY_MAX {
                match self.replay.pop_front() {
                    Some((_, d)) => self.replay_len -= d.len(),
                    None => break,
                }
            }
            return;
        }
        let packet = packet(stream, &data);
        self.clients.retain(|c| send(c, &packet));
    }

    fn accept(&mut self) {
        // accept4(2) with SOCK_CLOEXEC (std's accept on Linux).
        let Ok((stream, _)) = self.listener.accept() else {
            return;
        };
        let client = OwnedFd::from(stream);
        // A client that stops reading must not stall the container for long.
        let _ = socket::setsockopt(&client, sockopt::SendTimeout, &TimeVal::new(10, 0));
        for (stream, data) in std::mem::take(&mut self.replay) {
            if !send(&client, &packet(stream, &data)) {
                return;
            }
        }
        self.replay_len = 0;
        self.clients.push(client);
    }

    fn client_readable(&mut self, idx: usize) {
        let mut buf = vec![0u8; PACKET_DATA + 1];
        let n = socket::recv(
            self.clients[idx].as_raw_fd(),
            &mut buf,
            MsgFlags::MSG_DONTWAIT,
        );
        let n = match n {
            Ok(0) => {
                self.clients.remove(idx);
                return;
            }
            Ok(n) => n,
            Err(nix::errno::Errno::EAGAIN) | Err(nix::errno::Errno::EINTR) => return,
            Err(_) => {
                self.clients.remove(idx);
                return;
            }
        };
        let (kind, data) = (buf[0], &buf[1..n]);
        match kind {
            STDIN if self.input.is_some() => {
                self.pending_input.extend_from_slice(data);
                self.write_input();
            }
            WINSIZE if self.terminal && data.len() == 4 => {
                let ws = libc::winsize {
                    ws_row: u16::from_le_bytes([data[0], data[1]]),
                    ws_col: u16::from_le_bytes([data[2], data[3]]),
                    ws_xpixel: 0,
                    ws_ypixel: 0,
                };
                if let Some(input) = &self.input {
                    // TIOCSWINSZ on the pty master.
                    unix::set_winsize(input.as_raw_fd(), &ws);
                }
            }
            CLOSE_STDIN if !self.terminal => {
                // Closed once the pending bytes are written.
                self.close_input = true;
                self.write_input();
            }
            _ => {}
        }
    }

    fn write_input(&mut self) {
        let Some(input) = &self.input else {
            self.pending_input.clear();
            return;
        };
        while !self.pending_input.is_empty() {
            match nix::unistd::write(input, &self.pending_input) {
                Ok(n) if n > 0 => {
                    self.pending_input.drain(..n);
                    continue;
                }
                Err(nix::errno::Errno::EAGAIN) => return,
                Err(nix::errno::Errno::EINTR) => continue,
                Ok(_) | Err(_) => {
                    // The process closed its stdin: drop what nobody will read.
                    self.pending_input.clear();
                    if !self.terminal {
                        self.input = None;
                    }
                    return;
                }
            }
        }
        if self.close_input {
            self.input = None;
        }
    }

    /// Records the exit status, tells attached clients, and removes the socket; the
    /// exit file is written first so that a client that finds no socket finds it.
    fn finish(mut self) {
        let code = self.exit.unwrap_or(-1);
        let line = format!(
            "{} stderr F sifrun: container process exited with status {code}\n",
            timestamp()
        );
        let _ = self.log.write_all(line.as_bytes());
        let _ = write_atomic(OciDir::EXIT, format!("{code}\n").as_bytes());
        let packet = packet(EXIT, &code.to_le_bytes());
        for client in &self.clients {
            send(client, &packet);
        }
        self.clients.clear();
        let _ = std::fs::remove_file(OciDir::ATTACH);
        let _ = std::fs::remove_file(OciDir::MONITOR_PID);
    }
}

fn create_container(args: &MonitorArgs, ctx: &Ctx, console: Option<PathBuf>) -> Result<()> {
    let create = liboci_cli::Create {
        bundle: args.bundle.clone(),
        console_socket: console,
        pid_file: None,
        no_pivot: false,
        no_new_keyring: false,
        preserve_fds: 0,
        container_id: args.container_id.clone(),
    };
    // The monitor ignores SIGPIPE, and a disposition of SIG_IGN survives exec: the
    // container's process must start with the default.
    unix::sigpipe(true);
    let result = crate::runtime::create::create(create, None, ctx);
    // Writes to a closed client or pipe must not kill the monitor.
    unix::sigpipe(false);
    result
}

fn force_delete(id: &str, ctx: &Ctx) {
    let _ = crate::runtime::delete::delete(
        liboci_cli::Delete {
            container_id: id.to_string(),
            force: true,
        },
        ctx,
    );
}

fn receive_master(console: &std::os::unix::net::UnixListener) -> Result<OwnedFd> {
    // libcontainer has sent the master before create returned; never wait forever.
    let mut fds = [PollFd::new(console.as_fd(), PollFlags::POLLIN)];
    if poll(&mut fds, 10_000u16) != Ok(1) {
        bail!("the container's pty master did not arrive on the console socket");
    }
    let (stream, _) = console.accept().context("console socket accept")?;
    crate::runtime::foreground::recv_fd(stream.as_raw_fd())
}

fn listen(name: &str) -> Result<OwnedFd> {
    let _ = std::fs::remove_file(name);
    let sock = socket::socket(
        AddressFamily::Unix,
        SockType::SeqPacket,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .context("attach socket")?;
    socket::bind(sock.as_raw_fd(), &UnixAddr::new(name)?).context("bind the attach socket")?;
    socket::listen(&sock, Backlog::new(16)?).context("listen on the attach socket")?;
    Ok(sock)
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe2")
}

fn redirect_stdio(fds: [&dyn AsRawFd; 3]) -> Result<()> {
    for (target, fd) in fds.iter().enumerate() {
        // dup2 onto the standard fds; the sources stay open.
        nix::unistd::dup2(fd.as_raw_fd(), target as RawFd)
            .map_err(std::io::Error::from)
            .context("dup2")?;
    }
    Ok(())
}

fn set_nonblocking(fd: RawFd) -> Result<()> {
    let flags = fcntl(fd, FcntlArg::F_GETFL)
        .map(OFlag::from_bits_retain)
        .map_err(std::io::Error::from)
        .context("O_NONBLOCK")?;
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))
        .map_err(std::io::Error::from)
        .context("O_NONBLOCK")?;
    Ok(())
}

/// Anything happened (flags nix does not know count too).
fn any_event(revents: Option<PollFlags>) -> bool {
    revents.is_none_or(|r| !r.is_empty())
}

fn readable(revents: Option<PollFlags>) -> bool {
    revents.is_some_and(|r| r.contains(PollFlags::POLLIN))
}

/// Sends one packet (larger data is split); false when the peer is gone or stuck.
fn send(client: &OwnedFd, message: &[u8]) -> bool {
    let (kind, data) = (message[0], &message[1..]);
    if data.is_empty() {
        return socket::send(client.as_raw_fd(), message, MsgFlags::MSG_NOSIGNAL).is_ok();
    }
    data.chunks(PACKET_DATA).all(|chunk| {
        let p = packet(kind, chunk);
        socket::send(client.as_raw_fd(), &p, MsgFlags::MSG_NOSIGNAL).is_ok()
    })
}

fn timestamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn write_atomic(name: &str, data: &[u8]) -> std::io::Result<()> {
    let tmp = format!(".{name}.tmp");
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, name)
}
