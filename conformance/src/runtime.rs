//! Drives a runtime through its CLI exactly as an engine would:
//! `<runtime> --root DIR create|start|state|kill|delete ...`, every command
//! with a timeout, stdio to files (never pipes: after `create` the container
//! keeps the runtime's stdout/stderr).

use anyhow::{anyhow, Context, Result};
use serde_json::Value;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Out {
    pub args: Vec<String>,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
    pub elapsed: Duration,
}

impl Out {
    pub fn success(&self) -> bool {
        self.code == Some(0) && !self.timed_out
    }
    pub fn failed(&self) -> bool {
        !self.success()
    }
    /// Short diagnostic text.
    pub fn diag(&self) -> String {
        format!(
            "command: {}\nexit: {:?}{}\nstdout: {}\nstderr: {}",
            self.args.join(" "),
            self.code,
            if self.timed_out { " (timed out)" } else { "" },
            self.stdout.trim(),
            self.stderr.trim()
        )
    }
}

#[derive(Default)]
pub struct CreateOpts<'a> {
    pub pid_file: Option<&'a Path>,
    pub console_socket: Option<&'a Path>,
    /// `--preserve-fds N`.
    pub preserve_fds: u32,
    /// (open fd, number) pairs the runtime is started with, without O_CLOEXEC.
    pub fds: &'a [(i32, i32)],
}

pub struct Runtime {
    pub bin: PathBuf,
    pub root: PathBuf,
    pub scratch: PathBuf,
    pub timeout: Duration,
    seq: AtomicUsize,
}

impl Runtime {
    pub fn new(bin: PathBuf, root: PathBuf, scratch: PathBuf) -> Self {
        Runtime {
            bin,
            root,
            scratch,
            timeout: Duration::from_secs(20),
            seq: AtomicUsize::new(0),
        }
    }

    fn next_files(&self) -> (PathBuf, PathBuf) {
        let n = self.seq.fetch_add(1, Ordering::SeqCst);
        (
            self.scratch.join(format!("cmd-{n}.out")),
            self.scratch.join(format!("cmd-{n}.err")),
        )
    }

    /// Run `<runtime> --root ROOT <args>`, stdout/stderr to the given files.
    pub fn run_to(&self, args: &[&str], out: &Path, err: &Path) -> Out {
        self.run_with_fds(args, out, err, &[])
    }

    /// [`Runtime::run_to`], with each `(fd, n)` of `fds` open as fd `n` in the runtime.
    pub fn run_with_fds(&self, args: &[&str], out: &Path, err: &Path, fds: &[(i32, i32)]) -> Out {
        let mut full = vec![
            self.bin.to_string_lossy().into_owned(),
            "--root".into(),
            self.root.to_string_lossy().into_owned(),
        ];
        full.extend(args.iter().map(|s| s.to_string()));
        let start = Instant::now();
        let mut res = Out {
            args: full.clone(),
            code: None,
            stdout: String::new(),
            stderr: String::new(),
            timed_out: false,
            elapsed: Duration::ZERO,
        };
        let (o, e) = match (File::create(out), File::create(err)) {
            (Ok(o), Ok(e)) => (o, e),
            _ => {
                res.stderr = "cannot create output files".into();
                return res;
            }
        };
        let mut cmd = Command::new(&self.bin);
        cmd.args(&full[1..])
            .stdin(Stdio::null())
            .stdout(o)
            .stderr(e);
        if !fds.is_empty() {
            let fds = fds.to_vec();
            // SAFETY: dup2/fcntl are async-signal-safe.
            unsafe {
                std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
                    for &(fd, n) in &fds {
                        if fd == n {
                            libc::fcntl(fd, libc::F_SETFD, 0);
                        } else if libc::dup2(fd, n) < 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                    }
                    Ok(())
                });
            }
        }
        let child = cmd.spawn();
        let mut child = match child {
            Ok(c) => c,
            Err(e) => {
                res.stderr = format!("spawn failed: {e}");
                return res;
            }
        };
        loop {
            match child.try_wait() {
                Ok(Some(st)) => {
                    res.code = st.code();
                    break;
                }
                Ok(None) if start.elapsed() > self.timeout => {
                    res.timed_out = true;
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(5)),
                Err(_) => break,
            }
        }
        res.elapsed = start.elapsed();
        res.stdout = std::fs::read_to_string(out).unwrap_or_default();
        res.stderr = std::fs::read_to_string(err).unwrap_or_default();
        res
    }

    pub fn run(&self, args: &[&str]) -> Out {
        let (o, e) = self.next_files();
        let r = self.run_to(args, &o, &e);
        let _ = std::fs::remove_file(o);
        let _ = std::fs::remove_file(e);
        r
    }

    /// `create --bundle B [--pid-file F] [--console-socket S] ID`; the
    /// container's stdout/stderr are `<bundle>/create.out` / `create.err`.
    pub fn create(&self, id: &str, bundle: &Path, opts: &CreateOpts) -> Out {
        let b = bundle.to_string_lossy().into_owned();
        let mut args = vec!["create".to_string(), "--bundle".into(), b];
        if let Some(p) = opts.pid_file {
            args.push("--pid-file".into());
            args.push(p.to_string_lossy().into_owned());
        }
        if let Some(s) = opts.console_socket {
            args.push("--console-socket".into());
            args.push(s.to_string_lossy().into_owned());
        }
        if opts.preserve_fds > 0 {
            args.push(format!("--preserve-fds={}", opts.preserve_fds));
        }
        args.push(id.to_string());
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let (out, err) = (bundle.join("create.out"), bundle.join("create.err"));
        self.run_with_fds(&a, &out, &err, opts.fds)
    }

    pub fn start(&self, id: &str) -> Out {
        self.run(&["start", id])
    }
    pub fn state(&self, id: &str) -> Out {
        self.run(&["state", id])
    }
    pub fn kill(&self, id: &str, sig: &str) -> Out {
        self.run(&["kill", id, sig])
    }
    pub fn delete(&self, id: &str) -> Out {
        self.run(&["delete", id])
    }
    pub fn delete_force(&self, id: &str) -> Out {
        self.run(&["delete", "--force", id])
    }

    pub fn state_json(&self, id: &str) -> Result<Value> {
        let o = self.state(id);
        if o.failed() {
            return Err(anyhow!("state failed: {}", o.diag()));
        }
        serde_json::from_str(&o.stdout).with_context(|| format!("state stdout: {}", o.stdout))
    }

    pub fn status(&self, id: &str) -> Option<String> {
        self.state_json(id)
            .ok()
            .and_then(|v| v["status"].as_str().map(str::to_string))
    }

    /// Poll `state` until `want`; returns success and the distinct statuses seen.
    pub fn wait_status(&self, id: &str, want: &str, timeout: Duration) -> (bool, Vec<String>) {
        let start = Instant::now();
        let mut seen: Vec<String> = Vec::new();
        loop {
            let s = self.status(id).unwrap_or_else(|| "<state failed>".into());
            if seen.last() != Some(&s) {
                seen.push(s.clone());
            }
            if s == want {
                return (true, seen);
            }
            if start.elapsed() > timeout {
                return (false, seen);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Best-effort cleanup of a container.
    pub fn cleanup(&self, id: &str) {
        if self.state(id).success() {
            let _ = self.kill(id, "KILL");
            let _ = self.delete_force(id);
            if self.state(id).success() {
                std::thread::sleep(Duration::from_millis(200));
                let _ = self.delete_force(id);
            }
        }
    }
}

/// Receiver of the pty master sent over `--console-socket` with SCM_RIGHTS.
/// A thread accepts one connection, receives the fd and then reads the
/// terminal output until the slave side is closed.
pub struct ConsoleSocket {
    pub path: PathBuf,
    pub output: Arc<Mutex<String>>,
    pub got_fd: Arc<Mutex<Option<bool>>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl ConsoleSocket {
    pub fn listen(path: PathBuf) -> Result<Self> {
        let listener = UnixListener::bind(&path)?;
        listener.set_nonblocking(true)?;
        let output = Arc::new(Mutex::new(String::new()));
        let got_fd = Arc::new(Mutex::new(None));
        let (o2, g2) = (output.clone(), got_fd.clone());
        let handle = std::thread::spawn(move || {
            let start = Instant::now();
            let stream = loop {
                match listener.accept() {
                    Ok((s, _)) => break s,
                    Err(_) if start.elapsed() < Duration::from_secs(25) => {
                        std::thread::sleep(Duration::from_millis(10))
                    }
                    Err(_) => return,
                }
            };
            let _ = stream.set_nonblocking(false);
            let fd = recv_fd(stream.as_raw_fd());
            *g2.lock().unwrap() = Some(fd.is_some());
            let Some(fd) = fd else { return };
            let mut f = File::from(fd);
            let mut buf = [0u8; 4096];
            loop {
                match std::io::Read::read(&mut f, &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => o2
                        .lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n])),
                }
            }
        });
        Ok(ConsoleSocket {
            path,
            output,
            got_fd,
            handle: Some(handle),
        })
    }

    /// Wait (bounded) for the reader thread to see EOF/EIO.
    pub fn finish(&mut self, timeout: Duration) -> String {
        let start = Instant::now();
        if let Some(h) = self.handle.take() {
            while !h.is_finished() && start.elapsed() < timeout {
                std::thread::sleep(Duration::from_millis(20));
            }
            if h.is_finished() {
                let _ = h.join();
            }
        }
        self.output.lock().unwrap().clone()
    }
}

fn recv_fd(sock: i32) -> Option<OwnedFd> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut buf = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 4]);
    let msg = recvmsg::<()>(sock, &mut iov, Some(&mut cmsg), MsgFlags::MSG_CMSG_CLOEXEC).ok()?;
    for c in msg.cmsgs().ok()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                // SAFETY: the fd was just received and is owned by nobody else.
                return Some(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    None
}
