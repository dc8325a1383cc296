//! Warming the container's first program while the container is being set up.
//!
//! A squashfs (or squashfuse) mount made for this run decompresses a file on its
//! first read: without this, that happens in the container's first exec, after
//! everything else (busybox's 1.1 MB: about 11 ms, a third of an `oci run --image`
//! as root). A thread reads the entry point (`args[0]`, looked up on the
//! container's PATH), a script's interpreter and an ELF program's loader through the
//! image's mount while this process writes the bundle and the runtime creates the
//! container; the container's reads then hit the page cache.
//!
//! The image is someone else's: every path is resolved inside the mount
//! (`RESOLVE_IN_ROOT`, no magic links, no crossing into other mounts), and only
//! regular files are read, so a symlink or a FIFO in it cannot make this read
//! anything of the host's or block.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use rustix::fs::{Mode, OFlags, ResolveFlags};

/// At most this much is read over all files: a warm-up, not a copy of the image.
const BUDGET: u64 = 32 << 20;
/// Read size; also how far a stopped reader gets past the stop.
const CHUNK: usize = 256 << 10;
/// Program, interpreter, the interpreter's loader.
const CHAIN: usize = 3;

/// A running warm-up. Stopped and joined when dropped, so no
/// file of the image stays open when it is unmounted.
pub struct Prefetch {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Prefetch {
    /// Start reading `process`'s program under `root` (the image's read-only mount,
    /// or the bundle's rootfs). None when there is no program to read.
    pub fn start(root: &Path, process: Option<&oci_spec::runtime::Process>) -> Option<Self> {
        let p = process?;
        let programs = programs(p.args().as_deref()?);
        if programs.is_empty() {
            return None;
        }
        let path = p
            .env()
            .as_ref()
            .and_then(|env| env.iter().rev().find_map(|e| e.strip_prefix("PATH=")))
            .unwrap_or(&crate::config::spec::DEFAULT_PATH["PATH=".len()..])
            .to_string();
        let cwd = p.cwd().clone();
        let root = root.to_path_buf();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        // The caller waits for the container with every signal blocked; this thread
        // runs meanwhile and must not take them.
        let thread = crate::threads::without_signals(|| {
            std::thread::Builder::new()
                .name("prefetch".into())
                .spawn(move || {
                    warm(&root, &programs, &path, &cwd, &flag);
                })
        })
        .ok()?;
        Some(Prefetch {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl std::fmt::Debug for Prefetch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Prefetch")
    }
}

/// What the container will run, first to last: `args[0]` and, behind a native SIF's
/// action script, the program it execs (`exec`'s first argument, `run`'s runscript).
fn programs(args: &[String]) -> Vec<String> {
    let mut v: Vec<String> = args.first().cloned().into_iter().collect();
    match args.first().map(String::as_str) {
        Some("/.singularity.d/actions/exec") => v.extend(args.get(1).cloned()),
        Some("/.singularity.d/actions/run") => v.push("/.singularity.d/runscript".into()),
        _ => {}
    }
    v
}

/// Read the files found for `programs` and what each needs to start, each file
/// once; the bytes read.
fn warm(root: &Path, programs: &[String], path: &str, cwd: &Path, stop: &AtomicBool) -> u64 {
    let Ok(dir) = rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return 0;
    };
    let mut read = 0;
    let mut seen = vec![];
    for program in programs {
        let mut next = candidates(program, path, cwd)
            .into_iter()
            .find_map(|c| open_in(&dir, &c));
        for _ in 0..CHAIN {
            let Some((f, id)) = next.take() else { break };
            if seen.contains(&id) {
                break;
            }
            seen.push(id);
            let (n, then) = read_file(&f, BUDGET - read, stop);
            read += n;
            if stop.load(Ordering::Relaxed) || read >= BUDGET {
                return read;
            }
            next = then.and_then(|p| open_in(&dir, &p));
        }
    }
    read
}

/// Where `program` may be: itself if it has a slash (relative to `cwd`), else on
/// `path`.
fn candidates(program: &str, path: &str, cwd: &Path) -> Vec<PathBuf> {
    if program.contains('/') {
        return vec![cwd.join(program)];
    }
    path.split(':')
        .filter(|d| d.starts_with('/'))
        .map(|d| Path::new(d).join(program))
        .collect()
}

/// `p` opened for reading inside `dir`, if it is a regular file there, with its
/// (device, inode).
fn open_in(dir: &OwnedFd, p: &Path) -> Option<(OwnedFd, (u64, u64))> {
    let f = rustix::fs::openat2(
        dir.as_fd(),
        p,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS | ResolveFlags::NO_XDEV,
    )
    .ok()?;
    let st = rustix::fs::fstat(&f).ok()?;
    (rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::RegularFile)
        .then_some((f, (st.st_dev, st.st_ino)))
}

/// Read `f` (up to `budget` bytes, until `stop`); the bytes read and the file it
/// needs next: a script's interpreter or an ELF program's loader.
fn read_file(f: &OwnedFd, budget: u64, stop: &AtomicBool) -> (u64, Option<PathBuf>) {
    let mut buf = vec![0u8; CHUNK];
    let mut off = 0u64;
    let mut next = None;
    while off < budget && !stop.load(Ordering::Relaxed) {
        let want = CHUNK.min((budget - off) as usize);
        let n = match rustix::io::pread(f, &mut buf[..want], off) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if off == 0 {
            next = needs(f, &buf[..n]);
        }
        off += n as u64;
    }
    (off, next)
}

/// The interpreter of a `#!` script, or the PT_INTERP loader of a 64-bit
/// little-endian ELF program, from its first bytes `head`.
fn needs(f: &OwnedFd, head: &[u8]) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    if let Some(rest) = head.strip_prefix(b"#!") {
        let line = rest.split(|&b| b == b'\n').next()?;
        let interp = line
            .split(|&b| b == b' ' || b == b'\t')
            .find(|t| !t.is_empty())?;
        return Some(PathBuf::from(std::ffi::OsStr::from_bytes(interp)));
    }
    // ELF64, little-endian: e_phoff at 0x20, e_phentsize at 0x36, e_phnum at 0x38.
    if head.len() < 64 || &head[..6] != b"\x7fELF\x02\x01" {
        return None;
    }
    let u16_at = |b: &[u8], o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
    let u64_at = |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
    let (phoff, phentsize, phnum) = (u64_at(head, 0x20), u16_at(head, 0x36), u16_at(head, 0x38));
    if phentsize < 56 || phnum > 64 {
        return None;
    }
    let mut ph = vec![0u8; phentsize * phnum];
    if rustix::io::pread(f, &mut ph, phoff).ok()? != ph.len() {
        return None;
    }
    let interp = ph
        .chunks_exact(phentsize)
        .find(|h| h[..4] == 3u32.to_le_bytes())?;
    let (off, size) = (u64_at(interp, 8), u64_at(interp, 32));
    if size == 0 || size > 4096 {
        return None;
    }
    let mut name = vec![0u8; size as usize];
    let n = rustix::io::pread(f, &mut name, off).ok()?;
    let name = name[..n].split(|&b| b == 0).next()?;
    Some(PathBuf::from(std::ffi::OsStr::from_bytes(name)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn warm_dir(root: &Path, program: &str) -> u64 {
        warm(
            root,
            &[program.to_string()],
            "/bin:/usr/bin",
            Path::new("/"),
            &AtomicBool::new(false),
        )
    }

    #[test]
    fn reads_the_program_on_path_and_its_interpreter() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("bin")).unwrap();
        std::fs::create_dir_all(d.path().join("usr/bin")).unwrap();
        std::fs::write(d.path().join("usr/bin/tool"), b"#!/bin/sh -e\necho hi\n").unwrap();
        std::fs::write(d.path().join("bin/sh"), vec![7u8; 300_000]).unwrap();
        assert_eq!(warm_dir(d.path(), "tool"), 21 + 300_000);
        assert_eq!(warm_dir(d.path(), "/usr/bin/tool"), 21 + 300_000);
        assert_eq!(warm_dir(d.path(), "missing"), 0);
    }

    /// An ELF64 program of `size` bytes whose PT_INTERP (second program header) is
    /// `interp`.
    fn elf(interp: &str, size: usize) -> Vec<u8> {
        let mut b = vec![0u8; size];
        b[..6].copy_from_slice(b"\x7fELF\x02\x01");
        b[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        b[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        b[0x38..0x3a].copy_from_slice(&2u16.to_le_bytes());
        let ph = 64 + 56;
        b[ph..ph + 4].copy_from_slice(&3u32.to_le_bytes());
        let off = 64 + 2 * 56;
        b[ph + 8..ph + 16].copy_from_slice(&(off as u64).to_le_bytes());
        b[ph + 32..ph + 40].copy_from_slice(&(interp.len() as u64 + 1).to_le_bytes());
        b[off..off + interp.len()].copy_from_slice(interp.as_bytes());
        b
    }

    #[test]
    fn reads_an_elf_programs_loader_and_each_file_once() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("bin")).unwrap();
        std::fs::create_dir_all(d.path().join("lib")).unwrap();
        std::fs::write(d.path().join("bin/prog"), elf("/lib/ld.so", 70_000)).unwrap();
        std::fs::write(d.path().join("lib/ld.so"), vec![0u8; 9_000]).unwrap();
        assert_eq!(warm_dir(d.path(), "prog"), 79_000);
        // A loader that is the program itself is read once.
        std::fs::write(d.path().join("bin/self"), elf("/bin/self", 5_000)).unwrap();
        assert_eq!(warm_dir(d.path(), "self"), 5_000);
        // Not ELF64 little-endian, or no PT_INTERP: nothing more.
        let mut be = elf("/lib/ld.so", 1_000);
        be[5] = 2;
        std::fs::write(d.path().join("bin/be"), be).unwrap();
        assert_eq!(warm_dir(d.path(), "be"), 1_000);
    }

    #[test]
    fn looks_behind_a_native_sifs_action_scripts() {
        let a = |v: &[&str]| programs(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            a(&["/.singularity.d/actions/exec", "ls", "-l"]),
            ["/.singularity.d/actions/exec", "ls"]
        );
        assert_eq!(
            a(&["/.singularity.d/actions/run", "x"]),
            ["/.singularity.d/actions/run", "/.singularity.d/runscript"]
        );
        assert_eq!(a(&["python3", "app.py"]), ["python3"]);
        assert!(a(&[]).is_empty());
    }

    #[test]
    fn stays_inside_the_root_and_reads_only_regular_files() {
        let d = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), vec![1u8; 5000]).unwrap();
        std::fs::create_dir_all(d.path().join("bin")).unwrap();
        // An absolute link is resolved inside the root, where it names nothing.
        symlink(outside.path().join("secret"), d.path().join("bin/abs")).unwrap();
        symlink(
            "../../../../../../..".to_string() + outside.path().to_str().unwrap() + "/secret",
            d.path().join("bin/rel"),
        )
        .unwrap();
        symlink("/proc/self/exe", d.path().join("bin/magic")).unwrap();
        nix::unistd::mkfifo(&d.path().join("bin/fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        for p in ["abs", "rel", "magic", "fifo"] {
            assert_eq!(warm_dir(d.path(), p), 0, "{p}");
        }
        // A script whose interpreter points out of the root gets only itself read.
        std::fs::write(
            d.path().join("bin/s"),
            format!("#!{}/secret\n", outside.path().display()),
        )
        .unwrap();
        let own = std::fs::metadata(d.path().join("bin/s")).unwrap().len();
        assert_eq!(warm_dir(d.path(), "s"), own);
    }

    #[test]
    fn a_stopped_warm_up_ends_at_once() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("bin")).unwrap();
        std::fs::write(d.path().join("bin/big"), vec![0u8; 4 << 20]).unwrap();
        let stop = AtomicBool::new(true);
        let p = ["big".to_string()];
        assert_eq!(warm(d.path(), &p, "/bin", Path::new("/"), &stop), 0);
    }
}
