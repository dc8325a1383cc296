//! The FUSE layer (no root needed): squashfuse for each read-only layer,
//! fuse-overlayfs over them, fusermount to undo them, and finding and stopping the
//! FUSE daemons that serve a bundle.

use std::ffi::OsStr;
use std::fs;
use std::io::IsTerminal;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::mode::{is_root, merr, retry};
use super::mountinfo::is_mountpoint;
use super::plan::Layer;
use super::state::MountState;
use crate::error::Result;
use crate::sif::FsType;

/// Mount layer `l` of `image` read-only at `dir` with squashfuse.
/// `other_users`: the container runs as ids other than the caller's, which FUSE lets
/// in only with `allow_other`.
pub(super) fn mount_layer(
    st: &mut MountState,
    image: &Path,
    l: &Layer,
    dir: &Path,
    other_users: bool,
) -> Result<()> {
    if l.fs != FsType::Squashfs {
        return Err(merr("only squashfs layers can be mounted in fuse mode"));
    }
    let mut o = format!("ro,offset={}", l.offset);
    if is_root() || other_users {
        o.push_str(",allow_other");
    }
    if !is_root() {
        // Every file the caller's, as SingularityCE mounts it: fuse-overlayfs could
        // not copy up root's files otherwise (it cannot chown to root).
        let (u, g) = (nix::unistd::geteuid(), nix::unistd::getegid());
        o.push_str(&format!(",uid={u},gid={g}"));
    }
    st.will_mount(dir, "fuse.squashfuse", true)?;
    run_daemon(
        dir,
        "squashfuse",
        &[
            OsStr::new("-o"),
            OsStr::new(&o),
            image.as_os_str(),
            dir.as_os_str(),
        ],
    )
}

/// Start fuse-overlayfs at `rootfs` with options `opts`; it serves the bundle once
/// [`Starting::ready`] returns, and the caller may do other work meanwhile.
pub(super) fn start_overlay(
    st: &mut MountState,
    rootfs: &Path,
    opts: &str,
    other_users: bool,
) -> Result<Starting> {
    let mut o = opts.to_string();
    if is_root() || other_users {
        o.push_str(",allow_other");
    }
    if !is_root() {
        // It cannot chown to other (subordinate) ids: it keeps the owner of what
        // the container makes in an xattr of the upper file instead.
        o.push_str(",xattr_permissions=2");
    }
    st.will_mount(rootfs, "fuse.fuse-overlayfs", true)?;
    start_daemon(
        rootfs,
        "fuse-overlayfs",
        &[OsStr::new("-o"), OsStr::new(&o), rootfs.as_os_str()],
    )
}

/// Whether this caller can open /dev/fuse.
pub(super) fn dev_fuse_usable() -> bool {
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/fuse")
        .is_ok()
}

/// Whether FUSE lets this caller mount with `allow_other` (root, or
/// `user_allow_other` in /etc/fuse.conf).
pub(super) fn allow_other_permitted() -> bool {
    is_root()
        || fs::read_to_string("/etc/fuse.conf")
            .is_ok_and(|t| t.lines().any(|l| l.trim() == "user_allow_other"))
}

/// Unmount a FUSE mount without root (fusermount3, else fusermount); `force` makes
/// a busy one detach lazily.
pub(super) fn fusermount_unmount(target: &Path, force: bool) -> Result<()> {
    let fusermount = || {
        run_tool("fusermount3", &[OsStr::new("-u"), target.as_os_str()])
            .or_else(|_| run_tool("fusermount", &[OsStr::new("-u"), target.as_os_str()]))
    };
    // Busy until the daemon stacked above has exited, usually a millisecond or two
    // after its own unmount: retry from 1 ms, backing off to 10 ms, for 2 s in all
    // (each try is an exec of the setuid helper, so not much more often).
    let r = retry(
        Duration::from_millis(1),
        Duration::from_millis(10),
        Duration::from_secs(2),
        fusermount,
        |r| r.is_err() && is_mountpoint(target),
    );
    match r {
        Ok(()) => Ok(()),
        Err(_) if !is_mountpoint(target) => Ok(()),
        Err(_) if force => run_tool(
            "fusermount3",
            &[OsStr::new("-u"), OsStr::new("-z"), target.as_os_str()],
        ),
        Err(e) => Err(e),
    }
}

/// [`run_tool`] for a FUSE daemon, which returns once it serves `dir`.
fn run_daemon(dir: &Path, tool: &str, args: &[&OsStr]) -> Result<()> {
    start_daemon(dir, tool, args)?.ready()
}

fn start_daemon(dir: &Path, tool: &str, args: &[&OsStr]) -> Result<Starting> {
    Ok(Starting {
        dir: dir.to_path_buf(),
        tool: spawn_tool(tool, args)?,
    })
}

/// A FUSE daemon on its way: it serves its mount once its first process, which
/// forks the daemon off, has exited.
pub(super) struct Starting {
    dir: std::path::PathBuf,
    tool: Tool,
}

impl Starting {
    /// Wait until the daemon serves. A large image can take a while: on a terminal,
    /// say what for after a second.
    pub(super) fn ready(self) -> Result<()> {
        if !std::io::stderr().is_terminal() {
            return self.tool.finish();
        }
        let (done, waiting) = std::sync::mpsc::channel::<()>();
        let msg = format!(
            "sifrun: waiting for {} to serve {} ...",
            self.tool.name,
            self.dir.display()
        );
        let notice = std::thread::spawn(move || {
            let second = std::time::Duration::from_secs(1);
            if waiting.recv_timeout(second) == Err(std::sync::mpsc::RecvTimeoutError::Timeout) {
                eprintln!("{msg}");
            }
        });
        let r = self.tool.finish();
        drop(done);
        let _ = notice.join();
        r
    }
}

/// A helper tool started, its output captured.
struct Tool {
    name: String,
    child: std::process::Child,
}

impl Tool {
    /// Wait for it: an error with the last line it printed if it failed.
    fn finish(self) -> Result<()> {
        let out = self
            .child
            .wait_with_output()
            .map_err(|e| merr(format!("cannot run {}: {e}", self.name)))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(merr(format!(
                "{} failed ({}): {}",
                self.name,
                out.status,
                err.trim().lines().last().unwrap_or("")
            )));
        }
        Ok(())
    }
}

fn spawn_tool(tool: &str, args: &[&OsStr]) -> Result<Tool> {
    let child = Command::new(tool)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| merr(format!("cannot run {tool}: {e}")))?;
    Ok(Tool {
        name: tool.to_string(),
        child,
    })
}

fn run_tool(tool: &str, args: &[&OsStr]) -> Result<()> {
    spawn_tool(tool, args)?.finish()
}

/// FUSE daemons (squashfuse, fuse-overlayfs) whose mount point is at or below `dir`.
fn helpers_under(dir: &Path) -> Vec<i32> {
    let Ok(rd) = fs::read_dir("/proc") else {
        return vec![];
    };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| {
            let Ok(cmd) = fs::read(format!("/proc/{pid}/cmdline")) else {
                return false;
            };
            let args: Vec<&[u8]> = cmd.split(|&b| b == 0).filter(|a| !a.is_empty()).collect();
            let tool = args
                .first()
                .map(|a| Path::new(OsStr::from_bytes(a)))
                .and_then(Path::file_name)
                .and_then(OsStr::to_str)
                .unwrap_or("");
            // Both take the mount point as their last argument.
            matches!(tool, "squashfuse" | "squashfuse_ll" | "fuse-overlayfs")
                && args
                    .last()
                    .is_some_and(|a| Path::new(OsStr::from_bytes(a)).starts_with(dir))
        })
        .collect()
}

fn alive(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| {
        !st.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with(['Z', 'X'])
    })
}

/// SIGKILL the FUSE daemons still serving something under `dir` and wait (up to 5 s)
/// until they are gone.
pub(super) fn kill_helpers_under(dir: &Path) {
    use nix::sys::signal::{kill, SIGKILL};
    let helpers = helpers_under(dir);
    for &pid in &helpers {
        // A pid just found by its command line; one gone meanwhile is fine.
        let _ = kill(nix::unistd::Pid::from_raw(pid), SIGKILL);
    }
    for _ in 0..500 {
        if !helpers.iter().any(|&p| alive(p)) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
