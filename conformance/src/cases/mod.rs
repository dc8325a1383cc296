//! Test cases, by area. Each case gets a [`Ctx`] that hands out bundles,
//! container IDs and cgroup paths and cleans all of them up afterwards.

pub mod cgroups;
pub mod cgroups_runc;
pub mod exec;
pub mod fds;
pub mod hooks;
pub mod lifecycle;
pub mod mounts;
pub mod mounts_parity;
pub mod namespaces;
pub mod parity;
pub mod pids_zero;
pub mod procattr;
pub mod process;
pub mod restore;
pub mod seccomp;
pub mod security;
pub mod update_events;

use crate::bundle::{Bundle, Template};
use crate::host::Host;
use crate::runtime::{CreateOpts, Out, Runtime};
use crate::tap::Reporter;
use anyhow::Result;
use std::path::PathBuf;
use std::time::Duration;

pub type CaseFn = fn(&mut Ctx) -> Result<()>;

pub struct Case {
    pub name: &'static str,
    pub run: CaseFn,
}

pub fn all() -> Vec<Case> {
    let mut v = Vec::new();
    v.extend(lifecycle::cases());
    v.extend(hooks::cases());
    v.extend(process::cases());
    v.extend(mounts::cases());
    v.extend(mounts_parity::cases());
    v.extend(namespaces::cases());
    v.extend(security::cases());
    v.extend(fds::cases());
    v.extend(cgroups::cases());
    v.extend(cgroups_runc::cases());
    v.extend(exec::cases());
    v.extend(update_events::cases());
    v.extend(seccomp::cases());
    v.extend(procattr::cases());
    v.extend(parity::cases());
    v.extend(restore::cases());
    v.extend(pids_zero::cases());
    v
}

/// Default wait for a status transition.
pub const WAIT: Duration = Duration::from_secs(10);

pub struct Ctx<'a> {
    pub rt: &'a Runtime,
    pub rep: &'a mut Reporter,
    pub host: &'a Host,
    pub tmpl: &'a Template,
    pub tmp: PathBuf,
    /// Target spec version ("1.2" or "1.3") for version-dependent semantics.
    pub spec: String,
    ids: Vec<String>,
    cgroups: Vec<String>,
    helpers: Vec<std::process::Child>,
    dirs: Vec<PathBuf>,
    n: usize,
}

impl<'a> Ctx<'a> {
    pub fn new(
        rt: &'a Runtime,
        rep: &'a mut Reporter,
        host: &'a Host,
        tmpl: &'a Template,
        tmp: PathBuf,
        spec: String,
    ) -> Self {
        Ctx {
            rt,
            rep,
            host,
            tmpl,
            tmp,
            spec,
            ids: vec![],
            cgroups: vec![],
            helpers: vec![],
            dirs: vec![],
            n: 0,
        }
    }

    /// Name the following assertions `<case>[<name>]` (one case, several runs).
    pub fn subcase(&mut self, name: &str) {
        let base = self.rep.case.split('[').next().unwrap_or("").to_string();
        self.rep.case = format!("{base}[{name}]");
    }

    fn uniq(&mut self) -> String {
        self.n += 1;
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        format!("{}-{:x}-{}", std::process::id(), t, self.n)
    }

    /// A fresh container ID, cleaned up at the end of the case.
    pub fn id(&mut self) -> String {
        let id = format!("conf-{}", self.uniq());
        self.ids.push(id.clone());
        id
    }

    /// A fresh absolute cgroupsPath, removed at the end of the case.
    pub fn cgpath(&mut self) -> String {
        let p = format!("/conformance-{}", self.uniq());
        self.cgroups.push(p.clone());
        p
    }

    /// Register a cgroup path (absolute, or relative to a host dir) for removal.
    pub fn own_cgroup(&mut self, p: String) {
        self.cgroups.push(p);
    }

    pub fn bundle(&mut self) -> Result<Bundle> {
        let u = self.uniq();
        let dir = self.tmp.join(format!("bundle-{u}"));
        self.dirs.push(dir.clone());
        Bundle::new(dir, self.tmpl)
    }

    pub fn helper(&mut self, c: std::process::Child) -> u32 {
        let pid = c.id();
        self.helpers.push(c);
        pid
    }

    /// Create + start + wait stopped with the checker as the process;
    /// re-emit the checker's TAP. Returns the container ID.
    pub fn run_checker(&mut self, b: &Bundle) -> Result<String> {
        b.write()?;
        let id = self.id();
        let c = self.rt.create(&id, &b.dir, &CreateOpts::default());
        if !self.rep.check("create succeeds", c.success(), c.diag()) {
            return Ok(id);
        }
        let s = self.rt.start(&id);
        if !self.rep.check("start succeeds", s.success(), s.diag()) {
            return Ok(id);
        }
        let (ok, seen) = self.rt.wait_status(&id, "stopped", WAIT);
        self.rep
            .check("container stops", ok, format!("statuses seen: {seen:?}"));
        let out = std::fs::read_to_string(b.dir.join("create.out")).unwrap_or_default();
        let err = std::fs::read_to_string(b.dir.join("create.err")).unwrap_or_default();
        self.rep.absorb_checker(&format!("{out}\n{err}"));
        let d = self.rt.delete(&id);
        self.rep.check(
            "delete of the stopped container succeeds",
            d.success(),
            d.diag(),
        );
        Ok(id)
    }

    /// Create only (for outside checks); returns (id, pid) if it worked.
    /// Writes `b`, runs its process to the end (create, start, wait for stopped) and
    /// returns what it printed (the container's stdout is `create.out`).
    pub fn output_of(&mut self, b: &Bundle) -> Result<String> {
        b.write()?;
        let id = self.id();
        let c = self.rt.create(&id, &b.dir, &CreateOpts::default());
        self.rep.check("create succeeds", c.success(), c.diag());
        self.rt.start(&id);
        self.rt.wait_status(&id, "stopped", WAIT);
        Ok(std::fs::read_to_string(b.dir.join("create.out")).unwrap_or_default())
    }

    pub fn create_only(&mut self, b: &Bundle) -> Result<Option<(String, i64)>> {
        b.write()?;
        let id = self.id();
        let c = self.rt.create(&id, &b.dir, &CreateOpts::default());
        if !self.rep.check("create succeeds", c.success(), c.diag()) {
            return Ok(None);
        }
        let st = self.rt.state_json(&id)?;
        let pid = st["pid"].as_i64().unwrap_or(0);
        Ok(Some((id, pid)))
    }

    /// [`Ctx::create_only`], then `start`: (id, init pid) of the started container, or
    /// None when either step failed (already reported).
    pub fn started(&mut self, b: &Bundle) -> Result<Option<(String, i64)>> {
        let Some((id, pid)) = self.create_only(b)? else {
            return Ok(None);
        };
        let s = self.rt.start(&id);
        if !self.rep.check("start succeeds", s.success(), s.diag()) {
            return Ok(None);
        }
        Ok(Some((id, pid)))
    }

    /// Assert (as `name`) that creating `b`, or else starting it, fails. Returns the
    /// ID and what `create` printed.
    pub fn expect_create_or_start_fails(
        &mut self,
        b: &Bundle,
        name: &str,
    ) -> Result<(String, Out)> {
        b.write()?;
        let id = self.id();
        let c = self.rt.create(&id, &b.dir, &CreateOpts::default());
        let mut failed = c.failed();
        let mut diag = c.diag();
        if !failed {
            let s = self.rt.start(&id);
            failed = s.failed();
            diag = format!("create succeeded; {}", s.diag());
        }
        self.rep.check(name, failed, diag);
        Ok((id, c))
    }

    /// Assert that creating (and starting) `b` fails, then clean up. Returns what
    /// `create` printed, for checks of its error.
    pub fn expect_create_fails(&mut self, b: &Bundle, name: &str) -> Result<Out> {
        let (id, c) = self.expect_create_or_start_fails(b, name)?;
        if c.failed() {
            let st = self.rt.state(&id);
            self.rep.check(
                "after a failed create, state of the ID fails",
                st.failed(),
                st.diag(),
            );
        }
        Ok(c)
    }

    pub fn cleanup(&mut self) {
        for id in std::mem::take(&mut self.ids) {
            self.rt.cleanup(&id);
        }
        for mut h in std::mem::take(&mut self.helpers) {
            let _ = h.kill();
            let _ = h.wait();
        }
        for p in std::mem::take(&mut self.cgroups) {
            remove_cgroup(self.host, &p);
        }
        for d in std::mem::take(&mut self.dirs) {
            unmount_under(&d);
            let _ = std::fs::remove_dir_all(&d);
        }
    }
}

/// Poll until `path` exists (bounded); returns whether it appeared.
pub fn wait_file(path: &std::path::Path, timeout: Duration) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < timeout {
        if path.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    path.exists()
}

/// rmdir a cgroup path (and its subdirectories, deepest first) in every hierarchy.
pub fn remove_cgroup(host: &Host, p: &str) {
    let mut mounts: Vec<PathBuf> = host.all_mounts.clone();
    mounts.sort();
    mounts.dedup();
    for m in mounts {
        let dir = m.join(p.trim_start_matches('/'));
        rmdir_tree(&dir);
    }
}

fn rmdir_tree(dir: &std::path::Path) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                rmdir_tree(&e.path());
            }
        }
        let _ = std::fs::remove_dir(dir);
    }
}

/// Detach any mount a runtime may have left under `dir` before removing it
/// (a runtime that mounts outside its mount namespace must not make the
/// cleanup delete host files through a bind mount).
fn unmount_under(dir: &std::path::Path) {
    let prefix = dir.to_string_lossy().into_owned();
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<String> = mi
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|p| p == &prefix || p.starts_with(&format!("{prefix}/")))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        if let Ok(c) = std::ffi::CString::new(p) {
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
}
