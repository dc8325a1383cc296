// sifrun patch 0010
//! `tmpcopyup` (a runc extension podman sets for `--tmpfs` and `--read-only`): a tmpfs
//! mounted over a directory starts out with a copy of what that directory held.
//!
//! Everything is fd-relative and never follows symlinks: the source is the image's
//! directory (untrusted content), the destination the fresh detached tmpfs.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::dir::Dir;
use nix::fcntl::{AtFlags, OFlag, openat, readlinkat};
use nix::sys::stat::{FchmodatFlags, Mode, SFlag, fchmodat, fstat, fstatat, mkdirat, mknodat};
use nix::unistd::{Gid, Uid, fchown, fchownat, symlinkat};

/// Deeper trees than this are refused rather than exhausting fds or the stack.
const MAX_DEPTH: usize = 128;

/// Copy the directory `src` (any fd of it, O_PATH included) into the empty directory
/// `dst`, including `src`'s own owner and mode.
pub fn copy_up(src: RawFd, dst: RawFd) -> nix::Result<()> {
    let s = open_dir(src, ".")?;
    let d = open_dir(dst, ".")?;
    let st = fstat(s.as_raw_fd())?;
    fchown(
        d.as_raw_fd(),
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
    )?;
    nix::sys::stat::fchmod(d.as_raw_fd(), Mode::from_bits_truncate(st.st_mode & 0o7777))?;
    copy_tree(s.as_raw_fd(), d.as_raw_fd(), 0)
}

fn open_dir<P: ?Sized + nix::NixPath>(at: RawFd, name: &P) -> nix::Result<OwnedFd> {
    let fd = openat(
        Some(at),
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    // SAFETY: openat just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn copy_tree(src: RawFd, dst: RawFd, depth: usize) -> nix::Result<()> {
    if depth > MAX_DEPTH {
        return Err(nix::Error::ELOOP);
    }
    let mut dir = Dir::openat(
        Some(src),
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let names: Vec<CString> = dir
        .iter()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_owned())
        .filter(|n| n.as_bytes() != b"." && n.as_bytes() != b"..")
        .collect();
    for name in &names {
        let name = name.as_c_str();
        let st = fstatat(Some(src), name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
        let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
        let perm = Mode::from_bits_truncate(st.st_mode & 0o7777);
        match kind {
            SFlag::S_IFDIR => {
                mkdirat(Some(dst), name, Mode::S_IRWXU)?;
                let s = open_dir(src, name)?;
                let d = open_dir(dst, name)?;
                copy_tree(s.as_raw_fd(), d.as_raw_fd(), depth + 1)?;
            }
            SFlag::S_IFREG => {
                let flags = OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
                let s = openat(Some(src), name, flags | OFlag::O_RDONLY, Mode::empty())?;
                // SAFETY: fresh fd from openat.
                let mut s = unsafe { File::from_raw_fd(s) };
                let d = openat(
                    Some(dst),
                    name,
                    flags | OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL,
                    Mode::S_IRUSR | Mode::S_IWUSR,
                )?;
                // SAFETY: fresh fd from openat.
                let mut d = unsafe { File::from_raw_fd(d) };
                std::io::copy(&mut s, &mut d).map_err(io_to_nix)?;
            }
            SFlag::S_IFLNK => {
                let target = readlinkat(Some(src), name)?;
                symlinkat(target.as_os_str(), Some(dst), name)?;
            }
            SFlag::S_IFCHR | SFlag::S_IFBLK | SFlag::S_IFIFO => {
                mknodat(Some(dst), name, kind, perm, st.st_rdev)?;
            }
            // Sockets mean nothing without their listener; runc skips them too.
            _ => continue,
        }
        fchownat(
            Some(dst),
            name,
            Some(Uid::from_raw(st.st_uid)),
            Some(Gid::from_raw(st.st_gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )?;
        if kind != SFlag::S_IFLNK {
            // After the chown, which clears set-id bits. `dst` is our own fresh tmpfs,
            // so following is safe (and Linux has no fchmodat NOFOLLOW).
            fchmodat(Some(dst), name, perm, FchmodatFlags::FollowSymlink)?;
        }
    }
    Ok(())
}

fn io_to_nix(e: std::io::Error) -> nix::Error {
    nix::Error::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    use super::*;

    #[test]
    fn copies_files_dirs_symlinks_and_modes() {
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        std::fs::create_dir(src.path().join("sub")).unwrap();
        std::fs::write(src.path().join("sub/f"), b"hello").unwrap();
        std::fs::set_permissions(
            src.path().join("sub/f"),
            std::fs::Permissions::from_mode(0o640),
        )
        .unwrap();
        std::os::unix::fs::symlink("/etc/passwd", src.path().join("link")).unwrap();
        std::fs::set_permissions(src.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        let s = File::open(src.path()).unwrap();
        let d = File::open(dst.path()).unwrap();
        copy_up(s.as_raw_fd(), d.as_raw_fd()).unwrap();
        assert_eq!(std::fs::read(dst.path().join("sub/f")).unwrap(), b"hello");
        let m = std::fs::metadata(dst.path().join("sub/f")).unwrap();
        assert_eq!(m.mode() & 0o7777, 0o640);
        assert_eq!(
            std::fs::read_link(dst.path().join("link")).unwrap(),
            std::path::Path::new("/etc/passwd")
        );
        assert_eq!(std::fs::metadata(dst.path()).unwrap().mode() & 0o7777, 0o1777);
    }
}
