//! The types of [`super`]: what is asked ([`Options`], [`Action`], [`Profile`]), about
//! what ([`ImageInfo`], [`Target`], [`Host`]) and what comes out ([`Applied`]), and
//! the small spec helpers the option files share.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType};

use super::idmap::{self, Caller, IdMap};
use super::{binds, resources};
use crate::error::{Error, Result};

/// Which config.json the options start from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Profile {
    /// runc's default spec (what `sifrun mount` always wrote).
    #[default]
    Bundle,
    /// SingularityCE's OCI mode (`singularity run --oci`).
    OciMode,
}

/// What the container runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Action {
    /// The image's own command line (bundle: unchanged; OCI mode: `run` without args).
    #[default]
    Image,
    /// `run ARGS`: ENTRYPOINT + ARGS (native SIF: the runscript with ARGS).
    Run(Vec<String>),
    /// `exec ARGS`: exactly ARGS.
    Exec(Vec<String>),
    /// `shell`: an interactive shell.
    Shell,
}

/// Run options. `Default` changes nothing: the bundle as `sifrun mount` made it.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub profile: Profile,
    pub action: Action,
    pub app: Option<String>,
    // identity
    pub fakeroot: bool,
    pub no_setgroups: bool,
    // filesystem
    pub no_compat: bool,
    pub writable_tmpfs: bool,
    pub binds: Vec<binds::Bind>,
    pub mounts: Vec<binds::Bind>,
    pub overlays: Vec<String>,
    pub home: Option<binds::Home>,
    pub no_home: bool,
    pub cwd: Option<String>,
    pub scratch: Vec<String>,
    pub workdir: Option<PathBuf>,
    pub no_mount: Vec<String>,
    pub allow_setuid: bool,
    pub containlibs: Vec<PathBuf>,
    pub nv: bool,
    pub rocm: bool,
    // environment
    pub env: Vec<(String, String)>,
    pub env_files: Vec<PathBuf>,
    pub cleanenv: bool,
    pub no_eval: bool,
    /// The caller's environment (for `SINGULARITYENV_*`, TERM, proxies …).
    pub host_env: Vec<(String, String)>,
    // namespaces
    pub hostname: Option<String>,
    pub dns: Option<String>,
    pub net: bool,
    pub network: Option<String>,
    pub uts: bool,
    pub userns: bool,
    pub no_pid: bool,
    // privileges
    pub no_privs: bool,
    pub keep_privs: bool,
    pub add_caps: Option<String>,
    pub drop_caps: Option<String>,
    // resources and devices
    pub limits: resources::Limits,
    pub devices: Vec<String>,
    pub cdi_dirs: Vec<PathBuf>,
    /// Size in MiB of SingularityCE's session tmpfs mounts (its `sessiondir max size`).
    pub session_mb: u64,
    /// `process.terminal` (None: as generated).
    pub terminal: Option<bool>,
    /// Mount the image's read-only layers once for all bundles of it (kernel and
    /// FUSE modes; see `mount::images_dir`). Off by default: the library's plain
    /// `mount` keeps everything in the bundle.
    pub share: bool,
    /// The bundle is run by sifrun alone: mount its overlay (on a tmpfs upper, as
    /// SingularityCE's OCI mode does) inside the container rather than on the host
    /// (see `mount::in_container`; `Mounted::overlay` says what to mount). Off by default: a plain `mount`
    /// makes a bundle any runtime can run.
    pub overlay_in_container: bool,
    /// Read the container's program into the page cache while the bundle is made and
    /// the container set up (`mount::Prefetch`; `Mounted::prefetch`). Off by default:
    /// only a caller that runs the container at once gains from it.
    pub prefetch: bool,
}

/// What the image says, for the options that depend on it.
pub struct ImageInfo<'a> {
    /// Native SIF (else OCI-SIF).
    pub native: bool,
    /// The image argument as given (for `SINGULARITY_NAME`).
    pub name: &'a str,
    /// ENTRYPOINT and CMD (OCI-SIF).
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    /// The image's environment (OCI-SIF config Env; empty for a native SIF, whose
    /// env scripts run in the container).
    pub env: Vec<String>,
    /// The image's `USER`, when it declares one.
    pub user: Option<String>,
    pub working_dir: Option<String>,
}

/// Where the bundle is.
pub struct Target<'a> {
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
}

/// A file the bundle needs next to config.json (relative to the bundle dir).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleFile {
    pub path: PathBuf,
    pub contents: Vec<u8>,
    pub mode: u32,
}

/// The outcome of applying options: files to write and things to tell the user once.
#[derive(Debug, Default)]
pub struct Applied {
    pub files: Vec<BundleFile>,
    pub notes: Vec<String>,
}

/// The system facts the options are applied against (the caller, its subordinate
/// ids, whether FUSE lets other users in). Read once; tests make their own.
#[derive(Debug, Clone)]
pub struct Host {
    pub caller: Caller,
    pub idmap: IdMap,
    /// Why there are no subordinate ids (for the single-id fallback's note).
    pub no_subids: Option<String>,
    pub host_cpus: usize,
    /// The `tty` group's gid (devpts `gid=` for root).
    pub tty_gid: Option<u32>,
}

impl Host {
    /// The facts of this machine for the calling user.
    pub fn current(fakeroot: bool) -> Result<Host> {
        let caller = Caller::current();
        let mut no_subids = None;
        let sub = if caller.is_root() {
            None
        } else {
            let u = idmap::subids_from(Path::new("/etc/subuid"), &caller)?;
            let g = idmap::subids_from(Path::new("/etc/subgid"), &caller)?;
            match (u, g) {
                (Some(u), Some(g)) => Some((u, g)),
                (None, _) => {
                    no_subids = Some(format!("no entry for {} in /etc/subuid", caller.name));
                    None
                }
                (_, None) => {
                    no_subids = Some(format!("no entry for {} in /etc/subgid", caller.name));
                    None
                }
            }
        };
        let idmap = IdMap::choose(&caller, sub, fakeroot);
        Ok(Host {
            idmap,
            caller,
            no_subids,
            host_cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            tty_gid: binds::host_tty_gid().ok().flatten(),
        })
    }

    pub fn unprivileged(&self) -> bool {
        !self.caller.is_root()
    }
}

pub(super) fn opt_err(m: impl Into<String>) -> Error {
    Error::Options(m.into())
}

pub(super) fn namespace(t: LinuxNamespaceType) -> LinuxNamespace {
    let mut n = LinuxNamespace::default();
    n.set_typ(t);
    n
}
