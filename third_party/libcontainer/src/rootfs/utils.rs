// sifrun patch 0018
use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use nix::errno::Errno;
use nix::mount::MsFlags;
use nix::sys::stat::SFlag;
use oci_spec::runtime::{LinuxDevice, LinuxDeviceBuilder, LinuxDeviceType, Mount};

use super::mount::MountError;
use crate::syscall::linux::{self, MountOption, MountRecursive};

const IDMAP_FLAG: &str = "idmap";
const RIDMAP_FLAG: &str = "ridmap";
// sifrun patch 0010
/// runc's extension: a new tmpfs starts with what its destination directory held.
pub const TMPCOPYUP_FLAG: &str = "tmpcopyup";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptionConfig {
    /// Mount Flags.
    pub flags: MsFlags,

    /// Mount data options applied to the mount (e.g. `lowerdir=...`).
    pub data: Vec<String>,

    /// RecAttr represents mount properties to be applied recursively.
    pub rec_attr: Option<linux::MountAttr>,
}

pub fn default_devices() -> Vec<LinuxDevice> {
    vec![
        LinuxDeviceBuilder::default()
            .path(PathBuf::from("/dev/null"))
            .typ(LinuxDeviceType::C)
            .major(1)
            .minor(3)
            .file_mode(0o0666u32)
            .build()
            .unwrap(),
        LinuxDeviceBuilder::default()
            .path(PathBuf::from("/dev/zero"))
            .typ(LinuxDeviceType::C)
            .major(1)
            .minor(5)
            .file_mode(0o0666u32)
            .build()
            .unwrap(),
        LinuxDeviceBuilder::default()
            .path(PathBuf::from("/dev/full"))
            .typ(LinuxDeviceType::C)
            .major(1)
            .minor(7)
            .file_mode(0o0666u32)
            .build()
            .unwrap(),
        LinuxDeviceBuilder::default()
            .path(PathBuf::from("/dev/tty"))
            .typ(LinuxDeviceType::C)
            .major(5)
            .minor(0)
            .file_mode(0o0666u32)
            .build()
            .unwrap(),
        LinuxDeviceBuilder::default()
            .path(PathBuf::from("/dev/urandom"))
            .typ(LinuxDeviceType::C)
            .major(1)
            .minor(9)
            .file_mode(0o0666u32)
            .build()
            .unwrap(),
        LinuxDeviceBuilder::default()
            .path(PathBuf::from("/dev/random"))
            .typ(LinuxDeviceType::C)
            .major(1)
            .minor(8)
            .file_mode(0o0666u32)
            .build()
            .unwrap(),
    ]
}

pub fn to_sflag(dev_type: LinuxDeviceType) -> SFlag {
    match dev_type {
        LinuxDeviceType::A => SFlag::S_IFBLK | SFlag::S_IFCHR | SFlag::S_IFIFO,
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
        LinuxDeviceType::P => SFlag::S_IFIFO,
    }
}

pub fn parse_mount(m: &Mount) -> std::result::Result<MountOptionConfig, MountError> {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    let mut mount_attr: Option<linux::MountAttr> = None;

    if let Some(options) = &m.options() {
        for option in options {
            match option.as_str() {
                IDMAP_FLAG => {
                    continue;
                }
                RIDMAP_FLAG => {
                    continue;
                }
                // sifrun patch 0010
                // Not a kernel option: mount_into_container does the copy-up.
                TMPCOPYUP_FLAG => {
                    continue;
                }
                _ => {}
            }

            if let Ok(mount_attr_option) = linux::MountRecursive::from_str(option.as_str()) {
                // Some options aren't corresponding to the mount flags.
                // These options need `AT_RECURSIVE` options.
                // ref: https://github.com/opencontainers/runtime-spec/blob/main/config.md#linux-mount-options
                let (is_clear, flag) = match mount_attr_option {
                    MountRecursive::Rdonly(is_clear, flag) => (is_clear, flag),
                    MountRecursive::Nosuid(is_clear, flag) => (is_clear, flag),
                    MountRecursive::Nodev(is_clear, flag) => (is_clear, flag),
                    MountRecursive::Noexec(is_clear, flag) => (is_clear, flag),
                    MountRecursive::Atime(is_clear, flag) => (is_clear, flag),
                    MountRecursive::Relatime(is_clear, flag) => (is_clear, flag),
                    MountRecursive::Noatime(is_clear, flag) => (is_clear, flag),
                    MountRecursive::StrictAtime(is_clear, flag) => (is_clear, flag),
                    MountRecursive::NoDiratime(is_clear, flag) => (is_clear, flag),
                    MountRecursive::Nosymfollow(is_clear, flag) => (is_clear, flag),
                };

                if mount_attr.is_none() {
                    mount_attr = Some(linux::MountAttr {
                        attr_set: 0,
                        attr_clr: 0,
                        propagation: 0,
                        userns_fd: 0,
                    });
                }

                if let Some(mount_attr) = &mut mount_attr {
                    if is_clear {
                        mount_attr.attr_clr |= flag;
                    } else {
                        mount_attr.attr_set |= flag;
                    }
                    if flag & linux::MOUNT_ATTR__ATIME == flag {
                        // https://man7.org/linux/man-pages/man2/mount_setattr.2.html
                        // "cannot simply specify the access-time setting in attr_set, but must
                        // also include MOUNT_ATTR__ATIME in the attr_clr field."
                        mount_attr.attr_clr |= linux::MOUNT_ATTR__ATIME;
                    }
                }
                continue;
            }

            if let Some((is_clear, flag)) = match MountOption::from_str(option.as_str()) {
                Ok(v) => match v {
                    MountOption::Defaults(is_clear, flag) => Some((is_clear, flag)),
                    MountOption::Ro(is_clear, flag) => Some((is_clear, flag)),
                    MountOption::Rw(is_clear, flag) => Some((is_clear, flag)),
                    MountOption::Suid(is_clear, flag) => Some((is_clear, flag)),
                    MountOption::Nosuid(is_clear, flag) => Some((is_clear, flag)),
                    MountOption::Dev(is_clear, flag) => Some((is_clear, flag)),
                    MountOption::Nodev(is_clear, flag) => Some((is_clear, flag)),
                    MountOption::Exec(is_clear, flag) => Some((is_clear, flag)),
                    MountOption::Noexec(is_clear, flag) => Some((is_clear, flag)),
                    MountOption::Sync(is_clear, flag) => Some((is_clear, flag)),
                    MountOption::Async(is_clear, flag) => Some((is_clear, flag)),
                    MountOption::Dirsync(is_clear, flag) => Some((is_clear, flag)),
                    MountOption::Remount(is_clear, flag) => Some((is_clear, flag)),
                    MountOption::Mand(is_clear, flag) => Some((is_clear, flag)),
                    MountOption::Nomand(is_clear, flag) => Some((is_clear, flag)),
                    MountOption::Atime(is_clear, flag) => Some((is_clear, flag)),
                    MountOption::Noatime(is_clear, flag) => Some((is_clear, flag)),
                    MountOption::Diratime(is_clear, flag) => Some((is_clear, flag)),
                    MountOption::Nodiratime(is_clear, flag) => Some((is_clear, flag)),
                    MountOption::Bind(is_clear, flag) => Some((is_clear, flag)),
                    MountOption::Rbind(is_clear, flag) => Some((is_clear, flag)),
                    MountOption::Unbindable(is_clear, flag) => Some((is_clear, flag)),
                    MountOption::Runbindable(is_clear, flag) => Some((is_clear, flag)),
                    MountOption::Private(is_clear, flag) => Some((is_clear, flag)),
                    MountOption::Rprivate(is_clear, flag) => Some((is_clear, flag)),
                    MountOption::Shared(is_clear, flag) => Some((is_clear, flag)),
                    MountOption::Rshared(is_clear, flag) => Some((is_clear, flag)),
                    MountOption::Slave(is_clear, flag) => Some((is_clear, flag)),
                    MountOption::Rslave(is_clear, flag) => Some((is_clear, flag)),
                    MountOption::Relatime(is_clear, flag) => Some((is_clear, flag)),
                    MountOption::Norelatime(is_clear, flag) => Some((is_clear, flag)),
                    MountOption::Strictatime(is_clear, flag) => Some((is_clear, flag)),
                    MountOption::Nostrictatime(is_clear, flag) => Some((is_clear, flag)),
                },
                Err(_) => None,
            } {
                if is_clear {
                    flags &= !flag;
                } else {
                    flags |= flag;
                }
                continue;
            }

            data.push(option.as_str());
        }
    }
    Ok(MountOptionConfig {
        flags,
        data: data.into_iter().map(|s| s.to_string()).collect(),
        rec_attr: mount_attr,
    })
}

pub fn is_bind(m: &Mount) -> bool {
    // The `type == "bind"` check is kept only for backward compatibility
    // with existing configs (see issue #3603); it diverges from runc, which
    // rejects `type: "bind"` alone, and may be removed in a future release
    // once a deprecation path is agreed upon.
    m.typ().as_deref() == Some("bind")
        || m.options()
            .as_deref()
            .is_some_and(|opts| opts.iter().any(|o| o == "bind" || o == "rbind"))
}

// sifrun patch 0018
/// `mkdir -p` of `path` inside the rootfs `root`, for mount destinations, with the
/// kernel keeping every lookup inside the root. The common cases cost a few syscalls:
/// an existing directory is one `openat2(RESOLVE_IN_ROOT)`, and plain missing
/// components under an existing directory are made with `mkdirat` and opened with
/// `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS` from their parent. Anything else (`..`,
/// a dangling symlink, a non-directory in the way, a race) falls back to pathrs'
/// `Root::mkdir_all`, which libcontainer used for every mount and whose
/// procfs-verified reopen costs about 25 syscalls per call.
pub fn mkdir_all_in_root(
    root: &pathrs::Root,
    path: &Path,
    mode: u32,
) -> Result<(), pathrs::error::Error> {
    if let Err(err) = mkdir_all_fast(root.as_fd(), path, mode) {
        tracing::debug!(?path, %err, "fast mkdir_all declined, using pathrs");
        root.mkdir_all(path, &std::fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

fn mkdir_all_fast(root: BorrowedFd, path: &Path, mode: u32) -> nix::Result<()> {
    mkdir_all_fast_at_depth(root, path, mode, 0)
}

/// sifrun patch 0029: how many dangling symlinks one path may go through (Linux's
/// MAXSYMLINKS).
const MAX_SYMLINKS: usize = 40;

fn mkdir_all_fast_at_depth(
    root: BorrowedFd,
    path: &Path,
    mode: u32,
    links: usize,
) -> nix::Result<()> {
    use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
    let mut parts: Vec<&OsStr> = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => parts.push(p),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => return Err(Errno::EINVAL),
        }
    }
    let open = |dir: RawFd, p: &Path, resolve: ResolveFlag| -> nix::Result<OwnedFd> {
        let how = OpenHow::new()
            .flags(OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW)
            .resolve(resolve);
        // SAFETY: openat2 returned a new fd that nothing else owns.
        openat2(dir, p, how).map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
    };
    let in_root = ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS;
    // The longest prefix of `path` that exists, resolved inside the root.
    let mut existing = parts.len();
    let mut dir = loop {
        let prefix: PathBuf = if existing == 0 {
            PathBuf::from(".")
        } else {
            parts[..existing].iter().collect()
        };
        match open(root.as_raw_fd(), &prefix, in_root) {
            Ok(fd) => break fd,
            Err(Errno::ENOENT) if existing > 0 => existing -= 1,
            // sifrun patch 0029: the prefix ends in a symlink (O_NOFOLLOW) or goes through
            // a file: look shorter; the loop below follows a symlink or fails on a file.
            Err(Errno::ENOTDIR | Errno::ELOOP) if existing > 0 => existing -= 1,
            Err(e) => return Err(e),
        }
    };
    let beneath = ResolveFlag::RESOLVE_BENEATH
        | ResolveFlag::RESOLVE_NO_SYMLINKS
        | ResolveFlag::RESOLVE_NO_MAGICLINKS
        | ResolveFlag::RESOLVE_NO_XDEV;
    for (i, name) in parts.iter().enumerate().skip(existing) {
        match nix::sys::stat::mkdirat(
            Some(dir.as_raw_fd()),
            *name,
            nix::sys::stat::Mode::from_bits_truncate(mode),
        ) {
            Ok(()) => {}
            Err(Errno::EEXIST) => {
                // sifrun patch 0029: a dangling symlink is followed inside the root, as
                // runc's MkdirAllInRoot does: the directories are made where it points
                // (in the container), never on the host.
                if let Ok(target) = nix::fcntl::readlinkat(Some(dir.as_raw_fd()), *name) {
                    if links >= MAX_SYMLINKS {
                        return Err(Errno::ELOOP);
                    }
                    let target = Path::new(&target);
                    let mut next: PathBuf = if target.is_absolute() {
                        PathBuf::new()
                    } else {
                        parts[..i].iter().collect()
                    };
                    next.push(target);
                    next.extend(&parts[i + 1..]);
                    return mkdir_all_fast_at_depth(root, &next, mode, links + 1);
                }
            }
            Err(e) => return Err(e),
        }
        // A symlink or anything but a directory raced in fails here (and pathrs
        // takes over).
        dir = open(dir.as_raw_fd(), Path::new(name), beneath)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use anyhow::Result;
    use oci_spec::runtime::MountBuilder;

    use super::*;
    use crate::syscall::linux::MountAttr;

    #[test]
    fn test_to_sflag() {
        assert_eq!(
            SFlag::S_IFBLK | SFlag::S_IFCHR | SFlag::S_IFIFO,
            to_sflag(LinuxDeviceType::A)
        );
        assert_eq!(SFlag::S_IFBLK, to_sflag(LinuxDeviceType::B));
        assert_eq!(SFlag::S_IFCHR, to_sflag(LinuxDeviceType::C));
        assert_eq!(SFlag::S_IFCHR, to_sflag(LinuxDeviceType::U));
        assert_eq!(SFlag::S_IFIFO, to_sflag(LinuxDeviceType::P));
    }

    #[test]
    fn test_parse_mount() -> Result<()> {
        let mount_option_config = parse_mount(
            &MountBuilder::default()
                .destination(PathBuf::from("/proc"))
                .typ("proc")
                .source(PathBuf::from("proc"))
                .build()?,
        )?;
        assert_eq!(
            MountOptionConfig {
                flags: MsFlags::empty(),
                data: vec![],
                rec_attr: None,
            },
            mount_option_config
        );

        let mount_option_config = parse_mount(
            &MountBuilder::default()
                .destination(PathBuf::from("/dev"))
                .typ("tmpfs")
                .source(PathBuf::from("tmpfs"))
                .options(vec![
                    "nosuid".to_string(),
                    "strictatime".to_string(),
                    "mode=755".to_string(),
                    "size=65536k".to_string(),
                ])
                .build()?,
        )?;
        assert_eq!(
            MountOptionConfig {
                flags: MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
                data: vec!["mode=755".to_string(), "size=65536k".to_string()],
                rec_attr: None,
            },
            mount_option_config
        );

        let mount_option_config = parse_mount(
            &MountBuilder::default()
                .destination(PathBuf::from("/dev/pts"))
                .typ("devpts")
                .source(PathBuf::from("devpts"))
                .options(vec![
                    "nosuid".to_string(),
                    "noexec".to_string(),
                    "newinstance".to_string(),
                    "ptmxmode=0666".to_string(),
                    "mode=0620".to_string(),
                    "gid=5".to_string(),
                ])
                .build()
                .unwrap(),
        )?;
        assert_eq!(
            MountOptionConfig {
                flags: MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
                data: vec![
                    "newinstance".to_string(),
                    "ptmxmode=0666".to_string(),
                    "mode=0620".to_string(),
                    "gid=5".to_string()
                ],
                rec_attr: None,
            },
            mount_option_config
        );

        let mount_option_config = parse_mount(
            &MountBuilder::default()
                .destination(PathBuf::from("/dev/shm"))
                .typ("tmpfs")
                .source(PathBuf::from("shm"))
                .options(vec![
                    "nosuid".to_string(),
                    "noexec".to_string(),
                    "nodev".to_string(),
                    "mode=1777".to_string(),
                    "size=65536k".to_string(),
                ])
                .build()?,
        )?;
        assert_eq!(
            MountOptionConfig {
                flags: MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV,
                data: vec!["mode=1777".to_string(), "size=65536k".to_string()],
                rec_attr: None,
            },
            mount_option_config
        );

        let mount_option_config = parse_mount(
            &MountBuilder::default()
                .destination(PathBuf::from("/dev/mqueue"))
                .typ("mqueue")
                .source(PathBuf::from("mqueue"))
                .options(vec![
                    "nosuid".to_string(),
                    "noexec".to_string(),
                    "nodev".to_string(),
                ])
                .build()
                .unwrap(),
        )?;
        assert_eq!(
            MountOptionConfig {
                flags: MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV,
                data: vec![],
                rec_attr: None,
            },
            mount_option_config
        );

        let mount_option_config = parse_mount(
            &MountBuilder::default()
                .destination(PathBuf::from("/sys"))
                .typ("sysfs")
                .source(PathBuf::from("sysfs"))
                .options(vec![
                    "nosuid".to_string(),
                    "noexec".to_string(),
                    "nodev".to_string(),
                    "ro".to_string(),
                ])
                .build()?,
        )?;
        assert_eq!(
            MountOptionConfig {
                flags: MsFlags::MS_NOSUID
                    | MsFlags::MS_NOEXEC
                    | MsFlags::MS_NODEV
                    | MsFlags::MS_RDONLY,
                data: vec![],
                rec_attr: None,
            },
            mount_option_config
        );

        let mount_option_config = parse_mount(
            &MountBuilder::default()
                .destination(PathBuf::from("/sys/fs/cgroup"))
                .typ("cgroup")
                .source(PathBuf::from("cgroup"))
                .options(vec![
                    "nosuid".to_string(),
                    "noexec".to_string(),
                    "nodev".to_string(),
                    "relatime".to_string(),
                    "ro".to_string(),
                ])
                .build()?,
        )?;
        assert_eq!(
            MountOptionConfig {
                flags: MsFlags::MS_NOSUID
                    | MsFlags::MS_NOEXEC
                    | MsFlags::MS_NODEV
                    | MsFlags::MS_RDONLY
                    | MsFlags::MS_RELATIME,
                data: vec![],
                rec_attr: None,
            },
            mount_option_config,
        );

        // this case is just for coverage purpose
        let mount_option_config = parse_mount(
            &MountBuilder::default()
                .options(vec![
                    "defaults".to_string(),
                    "ro".to_string(),
                    "rw".to_string(),
                    "suid".to_string(),
                    "nosuid".to_string(),
                    "dev".to_string(),
                    "nodev".to_string(),
                    "exec".to_string(),
                    "noexec".to_string(),
                    "sync".to_string(),
                    "async".to_string(),
                    "dirsync".to_string(),
                    "remount".to_string(),
                    "mand".to_string(),
                    "nomand".to_string(),
                    "atime".to_string(),
                    "noatime".to_string(),
                    "diratime".to_string(),
                    "nodiratime".to_string(),
                    "bind".to_string(),
                    "rbind".to_string(),
                    "unbindable".to_string(),
                    "runbindable".to_string(),
                    "private".to_string(),
                    "rprivate".to_string(),
                    "shared".to_string(),
                    "rshared".to_string(),
                    "slave".to_string(),
                    "rslave".to_string(),
                    "relatime".to_string(),
                    "norelatime".to_string(),
                    "strictatime".to_string(),
                    "nostrictatime".to_string(),
                ])
                .build()?,
        )?;
        assert_eq!(
            MountOptionConfig {
                flags: MsFlags::MS_NOSUID
                    | MsFlags::MS_NODEV
                    | MsFlags::MS_NOEXEC
                    | MsFlags::MS_REMOUNT
                    | MsFlags::MS_DIRSYNC
                    | MsFlags::MS_NOATIME
                    | MsFlags::MS_NODIRATIME
                    | MsFlags::MS_BIND
                    | MsFlags::MS_UNBINDABLE,
                data: vec![],
                rec_attr: None,
            },
            mount_option_config
        );

        // this case is just for coverage purpose
        let mount_option_config = parse_mount(
            &MountBuilder::default()
                .options(vec![
                    "rro".to_string(),
                    "rrw".to_string(),
                    "rnosuid".to_string(),
                    "rsuid".to_string(),
                    "rnodev".to_string(),
                    "rdev".to_string(),
                    "rnoexec".to_string(),
                    "rexec".to_string(),
                    "rnodiratime".to_string(),
                    "rdiratime".to_string(),
                    "rrelatime".to_string(),
                    "rnorelatime".to_string(),
                    "rnoatime".to_string(),
                    "ratime".to_string(),
                    "rstrictatime".to_string(),
                    "rnostrictatime".to_string(),
                    "rnosymfollow".to_string(),
                    "rsymfollow".to_string(),
                ])
                .build()?,
        )?;
        assert_eq!(
            MountOptionConfig {
                flags: MsFlags::empty(),
                data: vec![],
                rec_attr: Some(MountAttr::all()),
            },
            mount_option_config
        );

        Ok(())
    }

    #[test]
    fn test_parse_mount_idmap_options() -> Result<()> {
        let mount_option_config = parse_mount(
            &MountBuilder::default()
                .options(vec!["idmap".to_string()])
                .build()?,
        )?;
        assert_eq!(mount_option_config.data, Vec::<String>::new());

        let mount_option_config = parse_mount(
            &MountBuilder::default()
                .options(vec!["ridmap".to_string()])
                .build()?,
        )?;
        assert_eq!(mount_option_config.data, Vec::<String>::new());

        Ok(())
    }

    // Tests for recursive atime mount options:
    // Whenever any atime-related flag (flag & MOUNT_ATTR__ATIME == flag) is specified,
    // attr_clr must include the full MOUNT_ATTR__ATIME mask (0x70). The kernel rejects
    // partial atime masks with EINVAL because the three atime modes
    // (relatime/noatime/strictatime) are mutually exclusive and can only be changed
    // atomically: clear all three bits, then set the desired one.
    #[test]
    fn test_parse_mount_ratime_uses_full_atime_mask() -> Result<()> {
        // "ratime" clears MOUNT_ATTR_NOATIME (is_clear=true, flag=MOUNT_ATTR_NOATIME=0x10).
        // attr_clr must be MOUNT_ATTR__ATIME (0x70), not MOUNT_ATTR_NOATIME (0x10).
        let mount_option_config = parse_mount(
            &MountBuilder::default()
                .destination(PathBuf::from("/mnt"))
                .source(PathBuf::from("/tmp/mounts_recursive"))
                .options(vec!["rbind".to_string(), "ratime".to_string()])
                .build()?,
        )?;
        assert_eq!(
            mount_option_config.rec_attr,
            Some(MountAttr {
                attr_set: 0,
                attr_clr: linux::MOUNT_ATTR__ATIME,
                propagation: 0,
                userns_fd: 0,
            }),
            "ratime should set attr_clr to the full MOUNT_ATTR__ATIME mask"
        );

        Ok(())
    }

    #[test]
    fn test_parse_mount_rnostrictatime_uses_full_atime_mask() -> Result<()> {
        // "rnostrictatime" clears MOUNT_ATTR_STRICTATIME (is_clear=true, flag=MOUNT_ATTR_STRICTATIME=0x20).
        // attr_clr must be MOUNT_ATTR__ATIME (0x70), not MOUNT_ATTR_STRICTATIME (0x20).
        let mount_option_config = parse_mount(
            &MountBuilder::default()
                .destination(PathBuf::from("/mnt"))
                .source(PathBuf::from("/tmp/mounts_recursive"))
                .options(vec!["rbind".to_string(), "rnostrictatime".to_string()])
                .build()?,
        )?;
        assert_eq!(
            mount_option_config.rec_attr,
            Some(MountAttr {
                attr_set: 0,
                attr_clr: linux::MOUNT_ATTR__ATIME,
                propagation: 0,
                userns_fd: 0,
            }),
            "rnostrictatime should set attr_clr to the full MOUNT_ATTR__ATIME mask"
        );

        Ok(())
    }

    #[test]
    fn test_parse_mount_rnorelatime_uses_full_atime_mask() -> Result<()> {
        // "rnorelatime" clears MOUNT_ATTR_RELATIME (is_clear=true, flag=MOUNT_ATTR_RELATIME=0x00).
        // Although relatime has no dedicated bit, it is still an atime mode, so attr_clr
        // must include the full MOUNT_ATTR__ATIME mask (0x70) — matching runc's behavior.
        let mount_option_config = parse_mount(
            &MountBuilder::default()
                .destination(PathBuf::from("/mnt"))
                .source(PathBuf::from("/tmp/mounts_recursive"))
                .options(vec!["rbind".to_string(), "rnorelatime".to_string()])
                .build()?,
        )?;
        assert_eq!(
            mount_option_config.rec_attr,
            Some(MountAttr {
                attr_set: 0,
                attr_clr: linux::MOUNT_ATTR__ATIME,
                propagation: 0,
                userns_fd: 0,
            }),
            "rnorelatime should set attr_clr to the full MOUNT_ATTR__ATIME mask"
        );

        Ok(())
    }

    #[test]
    fn test_parse_mount_rnoatime_uses_full_atime_mask() -> Result<()> {
        // "rnoatime" sets MOUNT_ATTR_NOATIME (is_clear=false, flag=MOUNT_ATTR_NOATIME=0x10).
        // attr_set must include MOUNT_ATTR_NOATIME and attr_clr must include MOUNT_ATTR__ATIME (0x70).
        let mount_option_config = parse_mount(
            &MountBuilder::default()
                .destination(PathBuf::from("/mnt"))
                .source(PathBuf::from("/tmp/mounts_recursive"))
                .options(vec!["rnoatime".to_string()])
                .build()?,
        )?;
        assert_eq!(
            mount_option_config.rec_attr,
            Some(MountAttr {
                attr_set: linux::MOUNT_ATTR_NOATIME,
                attr_clr: linux::MOUNT_ATTR__ATIME,
                propagation: 0,
                userns_fd: 0,
            }),
            "rnoatime should set attr_set=MOUNT_ATTR_NOATIME and attr_clr=MOUNT_ATTR__ATIME"
        );

        Ok(())
    }

    #[test]
    fn test_parse_mount_rstrictatime_uses_full_atime_mask() -> Result<()> {
        // "rstrictatime" sets MOUNT_ATTR_STRICTATIME (is_clear=false, flag=MOUNT_ATTR_STRICTATIME=0x20).
        // attr_set must include MOUNT_ATTR_STRICTATIME and attr_clr must include MOUNT_ATTR__ATIME (0x70).
        let mount_option_config = parse_mount(
            &MountBuilder::default()
                .destination(PathBuf::from("/mnt"))
                .source(PathBuf::from("/tmp/mounts_recursive"))
                .options(vec!["rstrictatime".to_string()])
                .build()?,
        )?;
        assert_eq!(
            mount_option_config.rec_attr,
            Some(MountAttr {
                attr_set: linux::MOUNT_ATTR_STRICTATIME,
                attr_clr: linux::MOUNT_ATTR__ATIME,
                propagation: 0,
                userns_fd: 0,
            }),
            "rstrictatime should set attr_set=MOUNT_ATTR_STRICTATIME and attr_clr=MOUNT_ATTR__ATIME"
        );

        Ok(())
    }

    #[test]
    fn test_parse_mount_rrelatime_uses_full_atime_mask() -> Result<()> {
        // "rrelatime" sets MOUNT_ATTR_RELATIME (is_clear=false, flag=MOUNT_ATTR_RELATIME=0x00).
        // Although relatime has no dedicated bit, attr_clr must still include the full
        // MOUNT_ATTR__ATIME mask (0x70) — matching runc's behavior.
        let mount_option_config = parse_mount(
            &MountBuilder::default()
                .destination(PathBuf::from("/mnt"))
                .source(PathBuf::from("/tmp/mounts_recursive"))
                .options(vec!["rrelatime".to_string()])
                .build()?,
        )?;
        assert_eq!(
            mount_option_config.rec_attr,
            Some(MountAttr {
                attr_set: linux::MOUNT_ATTR_RELATIME,
                attr_clr: linux::MOUNT_ATTR__ATIME,
                propagation: 0,
                userns_fd: 0,
            }),
            "rrelatime should set attr_set=MOUNT_ATTR_RELATIME and attr_clr=MOUNT_ATTR__ATIME"
        );

        Ok(())
    }

    #[test]
    fn test_is_bind() {
        // Legacy check
        let m1 = MountBuilder::default().typ("bind").build().unwrap();
        assert!(is_bind(&m1));

        // Spec-compliant checks
        let m2 = MountBuilder::default()
            .options(vec!["bind".to_string()])
            .build()
            .unwrap();
        assert!(is_bind(&m2));

        let m3 = MountBuilder::default()
            .options(vec!["rbind".to_string()])
            .build()
            .unwrap();
        assert!(is_bind(&m3));

        // Negative check
        let m4 = MountBuilder::default().typ("tmpfs").build().unwrap();
        assert!(!is_bind(&m4));
    }

    // sifrun patch 0014
    #[test]
    fn scoped_join_resolves_symlinks_inside_root() -> Result<()> {
        use std::os::unix::fs::symlink;
        use std::path::Path;
        let tmp = tempfile::tempdir()?;
        let root = tmp.path();
        std::fs::create_dir_all(root.join("proc/sys"))?;
        std::fs::create_dir_all(root.join("mnt"))?;
        symlink("/proc/sys", root.join("mnt/abs"))?;
        symlink("../proc", root.join("mnt/rel"))?;
        symlink("../../../../../../etc", root.join("mnt/up"))?;
        symlink("loop", root.join("mnt/loop"))?;
        let join = |p: &str| safe_path::scoped_join(root, Path::new(p));
        assert_eq!(join("/mnt/abs")?, root.join("proc/sys"));
        assert_eq!(join("/mnt/abs/kernel/x")?, root.join("proc/sys/kernel/x"));
        assert_eq!(join("/mnt/rel/sys")?, root.join("proc/sys"));
        assert_eq!(join("/mnt/up/passwd")?, root.join("etc/passwd"));
        assert_eq!(join("/../../mnt/./missing/../x")?, root.join("mnt/x"));
        assert_eq!(join("/")?, root.to_path_buf());
        let err = join("/mnt/loop").unwrap_err();
        assert!(
            err.to_string().contains("Too many levels of symlinks"),
            "{err}"
        );
        Ok(())
    }

    // sifrun patch 0018
    #[test]
    fn mkdir_all_in_root_creates_inside_the_root_only() -> Result<()> {
        use std::os::unix::fs::symlink;
        use std::path::Path;
        let tmp = tempfile::tempdir()?;
        let outside = tempfile::tempdir()?;
        let root_dir = tmp.path().join("rootfs");
        std::fs::create_dir_all(root_dir.join("dev"))?;
        std::fs::create_dir_all(root_dir.join("etc"))?;
        symlink(outside.path(), root_dir.join("abs"))?;
        symlink("../../../..", root_dir.join("etc/up"))?;
        std::fs::write(root_dir.join("file"), "x")?;
        let root = pathrs::Root::open(&root_dir)?;
        let mkdir = |p: &str| super::mkdir_all_in_root(&root, Path::new(p), 0o755);

        // existing, plain missing components (fast path), and again (idempotent)
        mkdir("/dev")?;
        mkdir("/dev/pts")?;
        mkdir("/sys/fs/cgroup/cpu")?;
        mkdir("/sys/fs/cgroup/cpu")?;
        assert!(root_dir.join("dev/pts").is_dir());
        assert!(root_dir.join("sys/fs/cgroup/cpu").is_dir());
        // symlinks resolve inside the root: nothing appears outside it. Dangling
        // there, the link is refused (as pathrs refuses it)...
        assert!(mkdir("/abs/x").is_err());
        assert!(!outside.path().join("x").exists());
        // ...and once its target exists inside the root, that is where x goes.
        let inside = root_dir.join(outside.path().strip_prefix("/")?);
        std::fs::create_dir_all(&inside)?;
        mkdir("/abs/x")?;
        assert!(inside.join("x").is_dir());
        assert!(!outside.path().join("x").exists());
        mkdir("/etc/up/escaped")?;
        assert!(root_dir.join("escaped").is_dir());
        assert!(!tmp.path().join("escaped").exists());
        // a file in the way is an error, not a replacement
        assert!(mkdir("/file/sub").is_err());
        assert_eq!(std::fs::read_to_string(root_dir.join("file"))?, "x");
        Ok(())
    }
}
