//! Helpers shared by all the integration tests (`tests/integration/`): use them with
//! `use crate::common::*;`.
//!
//! * [`TmpDir`]: a unique directory under the system temp dir, removed (after a lazy
//!   unmount of anything still mounted below it) when dropped.
//! * [`unique_id`]: container ids that never collide between tests, runs or threads.
//! * [`Runtime`]: runs `env!("CARGO_BIN_EXE_sifrun")` with its own `--root`; every id
//!   it was asked to create is `delete --force`d when it is dropped, even if the test
//!   panicked.
//! * [`Bundle`]: a busybox bundle (config from `sifrun spec`, rootfs from the static
//!   /bin/busybox, made by [`make_rootfs`]), with a JSON editor for config.json.
//! * Leak probes: [`mounts_under`], [`cgroup_dirs`], [`processes_with`],
//!   [`loop_devices_of`], and [`assert_no_leaks`] combining them.
//! * cgroup v1 probes: [`cgroup_v1_file`], [`memory_cgroup_of`].
//! * [`sif`]: the SIF fixtures, private copies of them, and [`sif::MountScratch`]
//!   (`sifrun mount` → `sifrun run` → `sifrun umount`).
//! * [`oci`]: [`oci::Scratch`], for the `sifrun oci …` commands.

pub mod oci;
pub mod sif;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const SIFRUN: &str = env!("CARGO_BIN_EXE_sifrun");

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Tests that create real containers need root; they print why and return early
/// otherwise (CI runs as root, so they do run there).
pub fn require_root() -> bool {
    if !is_root() {
        eprintln!("skipped: needs root");
    }
    is_root()
}

/// Whether `tool` is on PATH.
pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A short, unique id: `<prefix>-<pid>-<counter>-<nanos>`, valid for runc's rules.
pub fn unique_id(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{n}-{nanos:x}", std::process::id())
}

/// A tiny xorshift PRNG (the root crate has no `rand`); the seed is printed by the
/// tests that use it so a failure can be replayed with `SIFRUN_TEST_SEED`.
pub struct Rng(u64);

impl Rng {
    /// A fixed sequence (the fuzz replays mutate the same way on every run).
    pub fn seeded(seed: u64) -> Self {
        Rng(seed | 1)
    }

    pub fn from_env_or_time() -> Self {
        let seed = std::env::var("SIFRUN_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(42)
                    ^ u64::from(std::process::id())
            });
        eprintln!("rng seed: {seed} (replay with SIFRUN_TEST_SEED={seed})");
        Rng::seeded(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// A directory removed when dropped. Anything still mounted below it is lazily
/// unmounted first, so a failing test cannot leave a mount that makes removal fail.
pub struct TmpDir {
    pub path: PathBuf,
}

impl TmpDir {
    pub fn new(prefix: &str) -> Self {
        let path = std::env::temp_dir().join(unique_id(prefix));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TmpDir { path }
    }
    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.path.join(p)
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        let mut mounts = mounts_under(&self.path);
        mounts.sort_by_key(|m| std::cmp::Reverse(m.as_os_str().len()));
        for m in mounts {
            let _ = nix::mount::umount2(&m, nix::mount::MntFlags::MNT_DETACH);
        }
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// `sifrun` with a private `--root`. Ids given to [`Runtime::track`] (done by
/// [`Runtime::create`] and [`Runtime::run_detached`]) are force-deleted on drop.
pub struct Runtime {
    pub root: TmpDir,
    tracked: Mutex<Vec<String>>,
}

impl Default for Runtime {
    fn default() -> Self {
        Self::new()
    }
}

impl Runtime {
    pub fn new() -> Self {
        let root = TmpDir::new("sifrun-root");
        Runtime {
            root,
            tracked: Mutex::new(Vec::new()),
        }
    }

    /// `sifrun --root ROOT ARGS…` with stdin from /dev/null, not yet run.
    pub fn cmd<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut c = Command::new(SIFRUN);
        c.arg("--root").arg(&self.root.path).args(args);
        c.stdin(Stdio::null());
        c
    }

    /// Runs `sifrun --root ROOT ARGS…` to completion (bounded: killed after 60 s).
    pub fn run<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        output_with_timeout(self.cmd(args), Duration::from_secs(60))
    }

    pub fn track(&self, id: &str) {
        self.tracked.lock().unwrap().push(id.to_string());
    }

    /// `create --bundle B ID`; the id is tracked for clean-up whatever the outcome.
    pub fn create(&self, id: &str, bundle: &Path) -> Output {
        self.track(id);
        let mut c = self.cmd(["create", "--bundle"]);
        c.arg(bundle).arg(id);
        output_with_timeout(c, Duration::from_secs(60))
    }

    /// `run -d --bundle B ID`, tracked.
    pub fn run_detached(&self, id: &str, bundle: &Path) -> Output {
        self.track(id);
        let mut c = self.cmd(["run", "-d", "--bundle"]);
        c.arg(bundle).arg(id);
        output_with_timeout(c, Duration::from_secs(60))
    }

    /// A [`Bundle::sleeper`] tagged with a fresh id, `run -d` as that id (tracked);
    /// returns (id, bundle).
    pub fn run_sleeper(&self, tag: &str) -> (String, Bundle) {
        let id = unique_id(tag);
        let b = Bundle::sleeper(&id);
        assert_ok(&self.run_detached(&id, b.path()), "run -d");
        (id, b)
    }

    /// `state ID` parsed, or None if it failed.
    pub fn state(&self, id: &str) -> Option<serde_json::Value> {
        let o = self.run(["state", id]);
        if !o.status.success() {
            return None;
        }
        serde_json::from_slice(&o.stdout).ok()
    }

    pub fn status(&self, id: &str) -> Option<String> {
        self.state(id)
            .and_then(|s| s["status"].as_str().map(str::to_string))
    }

    pub fn delete_force(&self, id: &str) -> Output {
        self.run(["delete", "--force", id])
    }

    /// The state directory of `id`.
    pub fn state_dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Polls `state` until the status is `want` (or the timeout passes).
    pub fn wait_status(&self, id: &str, want: &str, timeout: Duration) -> bool {
        let t = Instant::now();
        while t.elapsed() < timeout {
            if self.status(id).as_deref() == Some(want) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let ids = std::mem::take(&mut *self.tracked.lock().unwrap());
        for id in ids {
            let _ = self.delete_force(&id);
        }
        // Anything that is still listed (e.g. created by a test without track()).
        if let Ok(rd) = std::fs::read_dir(&self.root.path) {
            for e in rd.flatten() {
                if let Some(id) = e.file_name().to_str() {
                    if !id.starts_with('.') {
                        let _ = self.delete_force(id);
                    }
                }
            }
        }
    }
}

/// Runs `cmd`, capturing stdout/stderr in temp files (not pipes: a container created
/// by the command inherits them, and a pipe would only reach EOF when the container
/// exits); SIGKILLs it after `timeout` (the output then has a non-success status).
pub fn output_with_timeout(mut cmd: Command, timeout: Duration) -> Output {
    let base = std::env::temp_dir().join(unique_id("sifrun-out"));
    let (op, ep) = (base.with_extension("out"), base.with_extension("err"));
    let of = std::fs::File::create(&op).expect("stdout file");
    let ef = std::fs::File::create(&ep).expect("stderr file");
    cmd.stdout(of).stderr(ef);
    let mut child = cmd.spawn().expect("spawn sifrun");
    let t = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait sifrun") {
            break st;
        }
        if t.elapsed() > timeout {
            let _ = child.kill();
            break child.wait().expect("wait sifrun");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let out = Output {
        status,
        stdout: std::fs::read(&op).unwrap_or_default(),
        stderr: std::fs::read(&ep).unwrap_or_default(),
    };
    let _ = std::fs::remove_file(&op);
    let _ = std::fs::remove_file(&ep);
    out
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Asserts a clean failure: non-zero exit, exactly one non-empty line on stderr, which
/// contains `needle` (case-insensitive) if given; returns that line.
#[track_caller]
pub fn assert_one_line_error(o: &Output, needle: Option<&str>) -> String {
    assert!(
        !o.status.success(),
        "expected failure, got success; stdout={} stderr={}",
        stdout(o),
        stderr(o)
    );
    assert!(
        o.status.code().is_some(),
        "sifrun died of a signal (panic=abort?): {:?}; stderr={}",
        o.status,
        stderr(o)
    );
    let e = stderr(o);
    let lines: Vec<&str> = e.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected a one-line error, got: {e:?}");
    assert!(
        lines[0].len() < 4096,
        "error line is {} bytes long",
        lines[0].len()
    );
    assert!(!e.contains("panicked"), "sifrun panicked: {e}");
    if let Some(n) = needle {
        assert!(
            e.to_lowercase().contains(&n.to_lowercase()),
            "error {e:?} does not mention {n:?}"
        );
    }
    lines[0].to_string()
}

#[track_caller]
pub fn assert_ok(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what} failed ({:?}): stdout={} stderr={}",
        o.status,
        stdout(o),
        stderr(o)
    );
}

/// A busybox bundle in a temp dir: `config.json` from `sifrun spec`, with
/// `process.terminal = false` and the given args; `rootfs/` with /bin/busybox and
/// its applet links.
pub struct Bundle {
    pub dir: TmpDir,
}

pub fn busybox() -> PathBuf {
    let p = PathBuf::from(std::env::var_os("BUSYBOX").unwrap_or_else(|| "/bin/busybox".into()));
    assert!(
        p.is_file(),
        "{} missing: apt-get install busybox-static",
        p.display()
    );
    p
}

/// Makes a busybox root filesystem in `dir` (like hack/lib/busybox-rootfs.sh).
pub fn make_rootfs(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for d in [
        "bin", "sbin", "dev", "proc", "sys", "tmp", "etc", "root", "home", "run", "mnt", "var/tmp",
        "usr/bin", "usr/sbin",
    ] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    for d in ["tmp", "var/tmp"] {
        std::fs::set_permissions(dir.join(d), std::fs::Permissions::from_mode(0o1777)).unwrap();
    }
    std::fs::copy(busybox(), dir.join("bin/busybox")).unwrap();
    std::fs::set_permissions(
        dir.join("bin/busybox"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let list = Command::new(busybox()).arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" && !applet.is_empty() {
            let _ = std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet));
        }
    }
    std::fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    std::fs::write(dir.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
    std::fs::write(dir.join("etc/hosts"), "").unwrap();
    std::fs::write(dir.join("etc/resolv.conf"), "").unwrap();
}

impl Bundle {
    /// A bundle whose process runs `args`.
    pub fn new(args: &[&str]) -> Self {
        Self::with_spec_flags(args, &[])
    }

    /// Like [`Bundle::new`] with extra `sifrun spec` flags (e.g. `--rootless`).
    pub fn with_spec_flags(args: &[&str], spec_flags: &[&str]) -> Self {
        let dir = TmpDir::new("sifrun-bundle");
        let o = Command::new(SIFRUN)
            .arg("spec")
            .args(spec_flags)
            .arg("--bundle")
            .arg(&dir.path)
            .output()
            .expect("run sifrun spec");
        assert_ok(&o, "sifrun spec");
        make_rootfs(&dir.join("rootfs"));
        let b = Bundle { dir };
        b.edit(|c| {
            c["process"]["terminal"] = false.into();
            c["process"]["args"] = serde_json::json!(args);
        });
        b
    }

    /// A bundle whose process sleeps (for `start`/`kill`/`exec` tests); the id tag in
    /// its command line lets [`processes_with`] find leaked container processes.
    pub fn sleeper(tag: &str) -> Self {
        Self::new(&["sh", "-c", &format!("sleep 100000; : {tag}")])
    }

    pub fn path(&self) -> &Path {
        &self.dir.path
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    pub fn config(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.dir.join("config.json")).unwrap()).unwrap()
    }

    /// Edits config.json through a closure on its JSON.
    pub fn edit(&self, f: impl FnOnce(&mut serde_json::Value)) {
        let mut c = self.config();
        f(&mut c);
        std::fs::write(
            self.dir.join("config.json"),
            serde_json::to_vec_pretty(&c).unwrap(),
        )
        .unwrap();
    }
}

// ---------------------------------------------------------------------------------
// leak probes

fn unescape_mountinfo(s: &str) -> String {
    // mountinfo escapes space, tab, newline and backslash as \ooo.
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            if let Some(v) = std::str::from_utf8(&b[i + 1..i + 4])
                .ok()
                .and_then(|o| u8::from_str_radix(o, 8).ok())
            {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Mount points (in this process's mount namespace) at or below `dir`.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(unescape_mountinfo(m)))
        .filter(|m| m.starts_with(&dir))
        .collect()
}

/// Mount points whose path contains `needle`.
pub fn mounts_containing(needle: &str) -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    info.lines()
        .filter(|l| l.contains(needle))
        .map(str::to_string)
        .collect()
}

/// Directories named after `id` (or containing it) in any cgroup hierarchy, up to
/// four levels deep (v1 `/sys/fs/cgroup/<ctrl>/…/<id>`, v2 `unified/…`).
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    fn walk(d: &Path, id: &str, depth: u32, out: &mut Vec<PathBuf>) {
        let Ok(rd) = std::fs::read_dir(d) else {
            return;
        };
        for e in rd.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            if !ft.is_dir() {
                continue;
            }
            let p = e.path();
            if e.file_name().to_string_lossy().contains(id) {
                out.push(p.clone());
            }
            if depth > 0 {
                walk(&p, id, depth - 1, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(Path::new("/sys/fs/cgroup"), id, 4, &mut out);
    out
}

/// Pids (other than ours) whose command line contains `needle`.
pub fn processes_with(needle: &str) -> Vec<(i32, String)> {
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(cmd) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(needle) {
            // zombies of our own children are reaped by their Command; ignore them
            let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            if stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
            {
                continue;
            }
            out.push((pid, cmd));
        }
    }
    out
}

/// Loop devices whose backing file is `file`.
pub fn loop_devices_of(file: &Path) -> Vec<String> {
    let file = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/sys/block") else {
        return out;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with("loop") {
            continue;
        }
        if let Ok(b) = std::fs::read_to_string(e.path().join("loop/backing_file")) {
            let b = b.trim_end_matches('\n');
            if Path::new(b) == file || b.starts_with(&format!("{} ", file.display())) {
                out.push(format!("/dev/{name} -> {b}"));
            }
        }
    }
    out
}

/// Polls `check` (which returns what leaked) until it is empty or `timeout` passes;
/// returns what was last seen.
pub fn settle<T>(timeout: Duration, mut check: impl FnMut() -> Vec<T>) -> Vec<T> {
    let t = Instant::now();
    loop {
        let v = check();
        if v.is_empty() || t.elapsed() > timeout {
            return v;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Nothing of container `id` is left: no state dir, no cgroup, no process with the
/// id in its command line, no mount mentioning it. Waits up to 5 s for the kernel to
/// finish tearing down.
#[track_caller]
pub fn assert_no_leaks(rt: &Runtime, id: &str) {
    let dir = rt.state_dir(id);
    assert!(
        !dir.exists(),
        "state dir {} left behind (contents: {:?})",
        dir.display(),
        std::fs::read_dir(&dir)
            .map(|r| r.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
            .unwrap_or_default()
    );
    let procs = settle(Duration::from_secs(5), || processes_with(id));
    assert!(procs.is_empty(), "processes of {id} left: {procs:?}");
    let cgs = settle(Duration::from_secs(5), || cgroup_dirs(id));
    assert!(cgs.is_empty(), "cgroups of {id} left: {cgs:?}");
    let m = mounts_containing(id);
    assert!(m.is_empty(), "mounts of {id} left: {m:?}");
}

// ---------------------------------------------------------------------------------
// cgroup v1 probes

/// `/sys/fs/cgroup/<controller>/<cg>/<file>`, trimmed (None if unreadable).
pub fn cgroup_v1_file(controller: &str, cg: &str, file: &str) -> Option<String> {
    std::fs::read_to_string(
        Path::new("/sys/fs/cgroup")
            .join(controller)
            .join(cg)
            .join(file),
    )
    .ok()
    .map(|s| s.trim().to_string())
}

/// The cgroup (v1 `memory` hierarchy) of a host pid, from /proc/PID/cgroup.
pub fn memory_cgroup_of(pid: i64) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    text.lines()
        .find_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
            ctrls
                .split(',')
                .any(|c| c == "memory")
                .then(|| path.to_string())
        })
        .expect("memory cgroup")
}

/// A running sleeper container in the v1 cgroup `/sifrun-test/<id>`, with a 64 MiB
/// memory limit and a pids limit of 77: what `list`, `pause`/`resume`, `update` and
/// `events` are tried on. Deleted (by its [`Runtime`]) if the test fails.
pub struct CgroupContainer {
    pub rt: Runtime,
    pub bundle: Bundle,
    pub id: String,
    /// The cgroup path below each v1 hierarchy, `sifrun-test/<id>`.
    pub cg: String,
}

impl CgroupContainer {
    pub fn run(tag: &str) -> Self {
        let rt = Runtime::new();
        let id = unique_id(tag);
        let bundle = Bundle::sleeper(&id);
        bundle.edit(|c| {
            c["linux"]["cgroupsPath"] = format!("/sifrun-test/{id}").into();
            c["linux"]["resources"]["memory"] = serde_json::json!({"limit": 67108864});
            c["linux"]["resources"]["pids"] = serde_json::json!({"limit": 77});
        });
        assert_ok(&rt.run_detached(&id, bundle.path()), "run -d");
        let cg = format!("sifrun-test/{id}");
        CgroupContainer { rt, bundle, id, cg }
    }

    /// `delete --force`: the cgroup goes with the container, and `list` is empty.
    pub fn delete(self) {
        assert_ok(
            &self.rt.run(["delete", "--force", &self.id]),
            "delete --force",
        );
        assert!(
            !Path::new("/sys/fs/cgroup/memory").join(&self.cg).exists(),
            "cgroup left behind"
        );
        assert_eq!(stdout(&self.rt.run(["list", "-q"])), "");
    }
}

/// Receives the one fd sent over `sock` with SCM_RIGHTS (a `--console-socket` pty master).
pub fn recv_fd(sock: i32) -> std::os::fd::OwnedFd {
    try_recv_fd(sock).expect("no fd received")
}

/// [`recv_fd`], or None if the sender closed the socket without sending an fd.
pub fn try_recv_fd(sock: i32) -> Option<std::os::fd::OwnedFd> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    use std::os::fd::FromRawFd;
    let mut buf = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(sock, &mut iov, Some(&mut cmsg), MsgFlags::empty()).ok()?;
    for c in msg.cmsgs().ok()? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            // SAFETY: the kernel installed this fd for us.
            return Some(unsafe { std::os::fd::OwnedFd::from_raw_fd(fds[0]) });
        }
    }
    None
}
