use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;

use nix::unistd::{UnlinkatFlags, symlinkat, unlinkat};

use crate::syscall::Syscall;
use crate::syscall::syscall::create_syscall;

#[derive(Debug, thiserror::Error)]
pub enum SymlinkError {
    #[error("syscall failed")]
    Syscall {
        source: crate::syscall::SyscallError,
    },
    #[error("failed symlink: {msg}")]
    Other { msg: String },
}

type Result<T> = std::result::Result<T, SymlinkError>;

pub struct Symlink {
    syscall: Box<dyn Syscall>,
}

impl Default for Symlink {
    fn default() -> Self {
        Self::new()
    }
}

impl Symlink {
    pub fn new() -> Symlink {
        Symlink::with_syscall(create_syscall())
    }

    fn with_syscall(syscall: Box<dyn Syscall>) -> Symlink {
        Symlink { syscall }
    }

    // Create symlinks for subsystems that have been comounted e.g. cpu -> cpu,cpuacct, cpuacct -> cpu,cpuacct
    #[cfg(feature = "v1")]
    pub fn setup_comount_symlinks(&self, cgroup_root: &Path, subsystem_name: &str) -> Result<()> {
        if !subsystem_name.contains(',') {
            return Ok(());
        }

        for comount in subsystem_name.split_terminator(',') {
            let link = cgroup_root.join(comount);
            self.syscall
                .symlink(Path::new(subsystem_name), &link)
                .map_err(|err| {
                    tracing::error!("failed to symlink {link:?} to {subsystem_name:?}");
                    SymlinkError::Syscall { source: err }
                })?;
        }

        Ok(())
    }

    // sifrun patch 0034: every link in the container's /dev is made (and the old ptmx
    // removed) relative to the /dev directory resolved inside the root. Joining
    // "dev/..." onto the rootfs path followed an image's /dev symlink out of the
    // root, so a hostile image could have files named ptmx deleted, and the links
    // below created, in any host directory (CVE-2026-41579 in runc). `dev` is
    // that directory, from `dev_dir`, resolved once for all the links.
    pub fn setup_ptmx(&self, dev: &pathrs::Handle) -> Result<()> {
        match unlinkat(Some(dev.as_fd().as_raw_fd()), "ptmx", UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(nix::Error::ENOENT) => {}
            Err(_) => {
                return Err(SymlinkError::Other {
                    msg: "could not delete /dev/ptmx".into(),
                });
            }
        }
        dev_symlink(dev, "pts/ptmx", "ptmx")
    }

    // separating kcore symlink out from setup_default_symlinks for a better way to do the unit test,
    // since not every architecture has /proc/kcore file.
    pub fn setup_kcore_symlink(&self, dev: &pathrs::Handle) -> Result<()> {
        if Path::new("/proc/kcore").exists() {
            dev_symlink(dev, "/proc/kcore", "kcore")?;
        }
        Ok(())
    }

    pub fn setup_default_symlinks(&self, dev: &pathrs::Handle) -> Result<()> {
        let defaults = [
            ("/proc/self/fd", "fd"),
            ("/proc/self/fd/0", "stdin"),
            ("/proc/self/fd/1", "stdout"),
            ("/proc/self/fd/2", "stderr"),
        ];
        for (src, name) in defaults {
            dev_symlink(dev, src, name)?;
        }
        Ok(())
    }
}

/// The container's /dev, resolved inside `rootfs` (symlinks included) as it is now.
pub fn dev_dir(rootfs: &Path) -> Result<pathrs::Handle> {
    pathrs::Root::open(rootfs)
        .and_then(|root| root.resolve("/dev"))
        .map_err(|err| {
            tracing::error!(?rootfs, %err, "failed to resolve /dev in the container root");
            SymlinkError::Other {
                msg: format!("cannot resolve /dev inside the container root: {err}"),
            }
        })
}

fn dev_symlink(dev: &pathrs::Handle, target: &str, name: &str) -> Result<()> {
    symlinkat(target, Some(dev.as_fd().as_raw_fd()), name).map_err(|err| {
        tracing::error!(?err, target, name, "failed to make a /dev symlink");
        SymlinkError::Syscall {
            source: crate::syscall::SyscallError::Nix(err),
        }
    })
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::PathBuf;

    #[cfg(feature = "v1")]
    use anyhow::{Context, Result};
    use nix::fcntl::{OFlag, open};
    use nix::sys::stat::Mode;

    use super::*;
    #[cfg(feature = "v1")]
    use crate::syscall::linux::LinuxSyscall;

    #[test]
    fn test_setup_ptmx() {
        {
            let tmp_dir = tempfile::tempdir().unwrap();
            fs::create_dir(tmp_dir.path().join("dev")).unwrap();
            fs::write(tmp_dir.path().join("dev/ptmx"), "old").unwrap();
            let symlink = Symlink::new();
            let dev = dev_dir(tmp_dir.path()).unwrap();
            assert!(symlink.setup_ptmx(&dev).is_ok());
            assert_eq!(
                fs::read_link(tmp_dir.path().join("dev/ptmx")).unwrap(),
                PathBuf::from("pts/ptmx")
            );
        }
        // /dev is not a directory: nothing can be made
        {
            let tmp_dir = tempfile::tempdir().unwrap();
            open(
                &tmp_dir.path().join("dev"),
                OFlag::O_RDWR | OFlag::O_CREAT,
                Mode::from_bits_truncate(0o644),
            )
            .unwrap();

            let symlink = Symlink::new();
            let dev = dev_dir(tmp_dir.path()).unwrap();
            assert!(symlink.setup_ptmx(&dev).is_err());
        }
    }

    #[test]
    fn test_setup_default_symlinks() {
        let tmp_dir = tempfile::tempdir().unwrap();
        fs::create_dir(tmp_dir.path().join("dev")).unwrap();
        let symlink = Symlink::new();
        let dev = dev_dir(tmp_dir.path()).unwrap();
        assert!(symlink.setup_default_symlinks(&dev).is_ok());
        for (target, name) in [
            ("/proc/self/fd", "fd"),
            ("/proc/self/fd/0", "stdin"),
            ("/proc/self/fd/1", "stdout"),
            ("/proc/self/fd/2", "stderr"),
        ] {
            assert_eq!(
                fs::read_link(tmp_dir.path().join("dev").join(name)).unwrap(),
                PathBuf::from(target)
            );
        }
    }

    #[test]
    fn test_dev_symlink_out_of_the_root_stays_inside() {
        let host = tempfile::tempdir().unwrap();
        let tmp_dir = tempfile::tempdir().unwrap();
        fs::write(host.path().join("ptmx"), "host").unwrap();
        std::os::unix::fs::symlink(host.path(), tmp_dir.path().join("dev")).unwrap();
        // /dev resolves to a path inside the root that does not exist: refused
        assert!(dev_dir(tmp_dir.path()).is_err());
        assert_eq!(fs::read_to_string(host.path().join("ptmx")).unwrap(), "host");
        assert_eq!(fs::read_dir(host.path()).unwrap().count(), 1);
    }

    #[test]
    #[cfg(feature = "v1")]
    fn setup_comounted_symlinks_success() -> Result<()> {
        // arrange
        let tmp = tempfile::tempdir().unwrap();
        let cpu = tmp.path().join("cpu");
        let cpuacct = tmp.path().join("cpuacct");
        let cpu_cpuacct = tmp.path().join("cpu,cpuacct");
        fs::create_dir_all(cpu_cpuacct)?;
        let symlink = Symlink::with_syscall(Box::new(LinuxSyscall));

        // act
        symlink
            .setup_comount_symlinks(tmp.path(), "cpu,cpuacct")
            .context("failed to setup symlinks")?;

        // assert
        assert!(cpu.exists(), "cpu symlink does not exist");
        assert!(cpuacct.exists(), "cpuacct symlink does not exist");

        assert!(
            fs::symlink_metadata(&cpu)?.file_type().is_symlink(),
            "cpu is not a symlink"
        );
        assert!(
            fs::symlink_metadata(&cpuacct)?.file_type().is_symlink(),
            "cpuacct is not a symlink"
        );

        assert_eq!(
            fs::read_link(cpu)?,
            PathBuf::from("cpu,cpuacct"),
            "cpu does not link to cpu,cpuacct"
        );
        assert_eq!(
            fs::read_link(cpuacct)?,
            PathBuf::from("cpu,cpuacct"),
            "cpuacct does not link to cpu,cpuacct"
        );

        Ok(())
    }

    #[test]
    #[cfg(feature = "v1")]
    fn setup_comounted_symlinks_no_comounts() -> Result<()> {
        // arrange
        let tmp = tempfile::tempdir().unwrap();
        let symlink = Symlink::with_syscall(Box::new(LinuxSyscall));

        // act
        let result = symlink
            .setup_comount_symlinks(tmp.path(), "memory,task")
            .context("failed to setup symlinks");

        // assert
        assert!(result.is_ok());
        Ok(())
    }
}
