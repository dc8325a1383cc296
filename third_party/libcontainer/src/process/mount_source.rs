// sifrun patch 0039
//! Bind-mount sources opened by the runtime for the container's init.
//!
//! In a user namespace the init is an unprivileged user on the host: a bind source
//! it cannot reach (a 0700 directory of host root) cannot be mounted by path. As
//! runc does, the runtime, still host root, opens such a source inside the
//! container's mount namespace (so the mount keeps the flags locked there) and
//! hands the init a detached copy (`open_tree(OPEN_TREE_CLONE)`) to attach.
//! The init asks for each one when it comes to that mount, so a source that an
//! earlier mount of the config provides is seen as it is then.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::unistd::Pid;
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType, Mount, Spec};

use super::message::{MountIdMap, MountIdMapUsernsSource, MountMsg};
use crate::rootfs::utils::is_bind;

/// The mounts of `spec` whose source the init asks the runtime for, by index in
/// `spec.mounts()`, with the request to send.
pub fn requests(spec: &Spec) -> Vec<(usize, MountMsg)> {
    let namespaces = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().clone())
        .unwrap_or_default();
    let has = |t: LinuxNamespaceType| namespaces.iter().any(|n| n.typ() == t);
    if !has(LinuxNamespaceType::Mount) {
        return vec![];
    }
    let userns = has(LinuxNamespaceType::User);
    spec.mounts()
        .iter()
        .flatten()
        .enumerate()
        // sifrun patch 0040: an idmapped bind is always made by the runtime.
        .filter(|(_, m)| is_bind(m) && m.source().is_some() && (userns || is_idmapped(m)))
        .map(|(i, m)| (i, request(m)))
        .collect()
}

// sifrun patch 0040
/// An idmapped mount (runc 1.2): mount uid/gid mappings, or the `idmap` /
/// `ridmap` (recursive) option, which without mappings takes the container's.
pub fn is_idmapped(m: &Mount) -> bool {
    m.uid_mappings().as_ref().is_some_and(|v| !v.is_empty())
        || m.gid_mappings().as_ref().is_some_and(|v| !v.is_empty())
        || m.options()
            .iter()
            .flatten()
            .any(|o| o == "idmap" || o == "ridmap")
}

fn request(m: &Mount) -> MountMsg {
    let source = m.source().clone().unwrap_or_default();
    // The runtime's working directory is the init's: a relative source means the same.
    let source = if source.is_relative() {
        std::env::current_dir()
            .map(|d| d.join(&source))
            .unwrap_or(source)
    } else {
        source
    };
    let has = |opt: &str| m.options().iter().flatten().any(|o| o == opt);
    // sifrun patch 0040
    let idmap = is_idmapped(m).then(|| MountIdMap {
        userns_source: match (m.uid_mappings(), m.gid_mappings()) {
            (Some(uid), Some(gid)) if !uid.is_empty() => MountIdMapUsernsSource::Mappings {
                uid_mappings: uid.clone(),
                gid_mappings: gid.clone(),
            },
            _ => MountIdMapUsernsSource::ContainerUserns,
        },
        apply_idmap_recursively: has("ridmap"),
    });
    MountMsg {
        source,
        idmap,
        clone_mount_tree_recursively: has("rbind"),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MountSourceError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io_err(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> MountSourceError {
    let path = path.to_path_buf();
    move |source| MountSourceError::Io { op, path, source }
}

fn last_os_error() -> std::io::Error {
    std::io::Error::last_os_error()
}

/// Runtime side: a detached copy of `req.source`, made in the mount namespace of
/// the init `init_pid` with the runtime's credentials.
pub fn open(init_pid: Pid, req: &MountMsg) -> Result<OwnedFd, MountSourceError> {
    let ns_path = PathBuf::from(format!("/proc/{init_pid}/ns/mnt"));
    let mntns = std::fs::File::open(&ns_path).map_err(io_err("open", &ns_path))?;
    // sifrun patch 0040
    let userns = match req.idmap.as_ref().map(|i| &i.userns_source) {
        None => None,
        Some(MountIdMapUsernsSource::ContainerUserns) => {
            let p = PathBuf::from(format!("/proc/{init_pid}/ns/user"));
            Some(OwnedFd::from(
                std::fs::File::open(&p).map_err(io_err("open", &p))?,
            ))
        }
        Some(MountIdMapUsernsSource::Mappings {
            uid_mappings,
            gid_mappings,
        }) => Some(userns_with_mappings(uid_mappings, gid_mappings)?),
    };
    let req = req.clone();
    // setns(CLONE_NEWNS) needs a task that shares no fs_struct: a thread of our own
    // that unshares it, and then ends, leaves the runtime where it is.
    std::thread::spawn(move || -> Result<OwnedFd, MountSourceError> {
        let here = Path::new("/proc/thread-self");
        // SAFETY: plain syscalls on this thread's own attributes and on owned fds.
        unsafe {
            if libc::unshare(libc::CLONE_FS) != 0 {
                return Err(io_err("unshare CLONE_FS", here)(last_os_error()));
            }
            if libc::setns(mntns.as_raw_fd(), libc::CLONE_NEWNS) != 0 {
                return Err(io_err("setns", &ns_path)(last_os_error()));
            }
        }
        let mut flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC;
        if req.clone_mount_tree_recursively {
            flags |= libc::AT_RECURSIVE as u32;
        }
        let path =
            std::ffi::CString::new(req.source.as_os_str().as_encoded_bytes()).map_err(|_| {
                io_err("open_tree", &req.source)(std::io::ErrorKind::InvalidInput.into())
            })?;
        // SAFETY: open_tree with a valid C string; the fd it returns is ours.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_open_tree,
                libc::AT_FDCWD,
                path.as_ptr(),
                flags as libc::c_uint,
            )
        };
        if fd < 0 {
            return Err(io_err("open_tree", &req.source)(last_os_error()));
        }
        // SAFETY: a new fd returned by open_tree.
        let tree = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        // sifrun patch 0040
        // Idmapping needs privilege over the filesystem's owner (host root) and a
        // mount not yet attached: here, before the init gets it.
        if let (Some(userns), Some(idmap)) = (&userns, &req.idmap) {
            let mut at = libc::AT_EMPTY_PATH as libc::c_uint;
            if idmap.apply_idmap_recursively {
                at |= libc::AT_RECURSIVE as libc::c_uint;
            }
            let attr = crate::syscall::linux::MountAttr {
                attr_set: MOUNT_ATTR_IDMAP,
                attr_clr: 0,
                propagation: 0,
                userns_fd: userns.as_raw_fd() as u64,
            };
            // SAFETY: mount_setattr on our fd with a valid mount_attr of the given size.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_mount_setattr,
                    tree.as_raw_fd(),
                    c"".as_ptr(),
                    at,
                    &attr as *const _,
                    std::mem::size_of_val(&attr),
                )
            };
            if r != 0 {
                return Err(io_err("idmap (mount_setattr)", &req.source)(last_os_error()));
            }
        }
        Ok(tree)
    })
    .join()
    .unwrap_or_else(|_| {
        Err(io_err("open_tree", Path::new("(thread)"))(
            std::io::ErrorKind::Other.into(),
        ))
    })
}

// sifrun patch 0040
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

// sifrun patch 0040
/// A user namespace with these mappings (on-disk id `containerID` shows as
/// `hostID`), for an idmapped mount: that of a child made for it, whose maps we
/// write and which is gone once we hold the namespace.
fn userns_with_mappings(
    uid: &[LinuxIdMapping],
    gid: &[LinuxIdMapping],
) -> Result<OwnedFd, MountSourceError> {
    let proc_self = Path::new("/proc/self");
    // SAFETY: a fork-like clone; the child only waits to be killed.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_NEWUSER | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if pid == 0 {
        loop {
            // SAFETY: async-signal-safe; SIGKILL ends it.
            unsafe { libc::pause() };
        }
    }
    if pid < 0 {
        return Err(io_err("clone CLONE_NEWUSER", proc_self)(last_os_error()));
    }
    let map = |m: &[LinuxIdMapping]| {
        m.iter()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect::<String>()
    };
    let result = (|| {
        for (file, m) in [("uid_map", uid), ("gid_map", gid)] {
            let p = PathBuf::from(format!("/proc/{pid}/{file}"));
            std::fs::write(&p, map(m)).map_err(io_err("write", &p))?;
        }
        let p = PathBuf::from(format!("/proc/{pid}/ns/user"));
        Ok(OwnedFd::from(
            std::fs::File::open(&p).map_err(io_err("open", &p))?,
        ))
    })();
    // SAFETY: our own child.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGKILL);
        libc::waitpid(pid as libc::pid_t, std::ptr::null_mut(), 0);
    }
    result
}
