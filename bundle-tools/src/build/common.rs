//! What every build shares: options and report, progress lines, the private work
//! directory and the output written to a temporary file renamed into place.

use std::fs;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};

use crate::error::{Error, Result};

/// PATH of images built without one.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What to build.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Make an OCI-SIF even from `dir:` (OCI sources always give an OCI-SIF).
    pub oci: bool,
    /// No progress on stderr.
    pub quiet: bool,
    /// Native SIF: file whose contents become `/.singularity.d/runscript`.
    pub runscript: Option<PathBuf>,
    /// `KEY=VAL` pairs: native `env/90-environment.sh`, or the OCI config's Env.
    pub env: Vec<(String, String)>,
    /// `KEY=VAL` labels: native `labels.json`, or the OCI config's Labels.
    pub labels: Vec<(String, String)>,
    /// Where scratch space goes (default: the directory of the output file).
    pub tmpdir: Option<PathBuf>,
}

/// What a build produced.
#[derive(Debug, Clone)]
pub struct BuildReport {
    pub oci: bool,
    pub layers_applied: usize,
    pub squashfs_size: u64,
    pub sif_size: u64,
}

/// Progress on stderr, only on a terminal and without `--quiet`: scripts (stderr a
/// pipe or a file) get nothing but errors. Lines for the steps, and a one-line bar,
/// redrawn with `\r`, while an external tool copies or squashes.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub on: bool,
}

impl Progress {
    pub fn new(quiet: bool) -> Self {
        Progress {
            on: !quiet && std::io::stderr().is_terminal(),
        }
    }

    pub fn say(&self, msg: impl AsRef<str>) {
        if self.on {
            let mut e = std::io::stderr().lock();
            let _ = writeln!(e, "\r\x1b[K{}", msg.as_ref());
        }
    }

    /// Waits for `child`, drawing `label: NN% (read of total)` from the bytes it has
    /// read so far (/proc/PID/io `rchar`; `total`: the bytes of its input).
    pub fn watch(&self, child: &mut Child, label: &str, total: u64) -> std::io::Result<ExitStatus> {
        let mut drawn = false;
        let status = loop {
            if let Some(st) = child.try_wait()? {
                break st;
            }
            if self.on {
                let done = read_chars(child.id()).unwrap_or(0).min(total);
                let pct = (done * 100).checked_div(total).unwrap_or(0).min(99);
                let mut e = std::io::stderr().lock();
                let _ = write!(
                    e,
                    "\r\x1b[K{label}: {pct:>2}% ({} of {})",
                    human(done),
                    human(total)
                );
                let _ = e.flush();
                drawn = true;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        };
        if drawn {
            let mut e = std::io::stderr().lock();
            let _ = writeln!(e, "\r\x1b[K{label}: 100% ({})", human(total));
        }
        Ok(status)
    }

    /// The bytes of the regular files under `dir` (0 when off: only the bar needs it).
    pub fn tree_bytes(&self, dir: &Path) -> u64 {
        fn walk(d: &Path) -> u64 {
            let Ok(rd) = fs::read_dir(d) else { return 0 };
            rd.flatten()
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => walk(&e.path()),
                    Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
                    _ => 0,
                })
                .sum()
        }
        if self.on {
            walk(dir)
        } else {
            0
        }
    }
}

fn read_chars(pid: u32) -> Option<u64> {
    let io = fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    io.lines()
        .find_map(|l| l.strip_prefix("rchar:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Human-readable byte count.
pub fn human(n: u64) -> String {
    const U: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < U.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", U[i])
    }
}

/// A scratch directory removed on drop (also when the tree has read-only dirs).
pub(crate) struct WorkDir {
    pub path: PathBuf,
}

impl WorkDir {
    pub fn new(parent: &Path, tag: &str) -> Result<Self> {
        for i in 0..1000u32 {
            let p = parent.join(format!(
                ".sifrun-build-{tag}-{}-{}-{i}",
                std::process::id(),
                fastrand_u32()
            ));
            match fs::DirBuilder::new().create(&p) {
                Ok(()) => {
                    use std::os::unix::fs::PermissionsExt;
                    let _ = fs::set_permissions(&p, fs::Permissions::from_mode(0o700));
                    return Ok(WorkDir { path: p });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io(parent, e)),
            }
        }
        Err(Error::Options(format!(
            "cannot create a scratch directory in {}",
            parent.display()
        )))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        super::extract::remove_tree(&self.path);
    }
}

fn fastrand_u32() -> u32 {
    let mut b = [0u8; 4];
    if let Ok(mut f) = fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut b);
    }
    u32::from_le_bytes(b)
}

/// The output file being written: a temp file in the same directory, renamed into
/// place by [`OutFile::commit`], removed on drop otherwise.
pub(crate) struct OutFile {
    pub tmp: PathBuf,
    pub dest: PathBuf,
    done: bool,
}

impl OutFile {
    pub fn new(dest: &Path) -> Result<(Self, fs::File)> {
        let dir = parent_dir(dest);
        let name = dest
            .file_name()
            .ok_or_else(|| Error::Options(format!("invalid output path {}", dest.display())))?
            .to_string_lossy()
            .into_owned();
        for _ in 0..1000 {
            let tmp = dir.join(format!(
                ".{name}.tmp-{}-{}",
                std::process::id(),
                fastrand_u32()
            ));
            match fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&tmp)
            {
                Ok(f) => {
                    return Ok((
                        OutFile {
                            tmp,
                            dest: dest.to_path_buf(),
                            done: false,
                        },
                        f,
                    ))
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io(&tmp, e)),
            }
        }
        Err(Error::Options(
            "cannot create a temporary output file".into(),
        ))
    }

    /// Not fsync'd (as mksquashfs does not sync its output): the rename only makes a
    /// complete file visible to other processes; a crash may leave a partial one.
    pub fn commit(mut self, f: fs::File, mode: u32) -> Result<u64> {
        use std::os::unix::fs::PermissionsExt;
        let size = f.metadata().map_err(|e| Error::io(&self.tmp, e))?.len();
        f.set_permissions(fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io(&self.tmp, e))?;
        drop(f);
        fs::rename(&self.tmp, &self.dest).map_err(|e| Error::io(&self.dest, e))?;
        self.done = true;
        Ok(size)
    }
}

impl Drop for OutFile {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// A `dir:` source must be a directory.
pub(crate) fn require_dir(src: &Path) -> Result<()> {
    let md = fs::metadata(src).map_err(|e| Error::io(src, e))?;
    if !md.is_dir() {
        return Err(Error::Options(format!(
            "{}: not a directory",
            src.display()
        )));
    }
    Ok(())
}

pub(crate) fn parent_dir(p: &Path) -> PathBuf {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A new directory with mode 0755 whatever the umask.
pub(crate) fn make_root(p: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new()
        .mode(0o755)
        .create(p)
        .map_err(|e| Error::io(p, e))?;
    // The umask may have cut the mode.
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(p, fs::Permissions::from_mode(0o755)).map_err(|e| Error::io(p, e))
}
