//! SingularityCE's OCI-mode options (`singularity run --oci ...`) as flags of
//! `sifrun mount` and `sifrun oci run --image`: same names, same syntax, turned into
//! bundle-tools' [`Options`]. `SINGULARITY_BIND`/`SINGULARITY_BINDPATH`,
//! `SINGULARITY_MOUNT` and `SINGULARITY_CONTAINLIBS` are appended as SingularityCE does.

use std::path::PathBuf;

use anyhow::Result;
use bundle_tools::config::options::{binds, env, resources::Limits, Action, Options, Profile};
use clap::Args;

#[derive(Args, Debug, Default, Clone, PartialEq)]
#[command(next_help_heading = "Singularity OCI-mode options")]
pub struct RunOptions {
    /// Run as root inside the container (your uid outside; other ids from /etc/subuid)
    #[arg(short = 'f', long)]
    pub fakeroot: bool,
    /// Native-runtime emulation: host home, cwd, /tmp bound; read-only root; host env
    #[arg(long)]
    pub no_compat: bool,
    /// Writable root filesystem (implied unless --no-compat)
    #[arg(long)]
    pub writable_tmpfs: bool,
    /// Bind mount: src[:dst[:ro|rw]], comma lists, repeatable
    #[arg(short = 'B', long = "bind", value_name = "SPEC")]
    pub bind: Vec<String>,
    /// Docker-style mount: type=bind,source=S,destination=D[,ro], repeatable
    #[arg(long = "mount", value_name = "SPEC")]
    pub mount: Vec<String>,
    /// Overlay: a directory (rw, or PATH:ro) or a squashfs image (ro), repeatable;
    /// at most one writable (it takes the container's writes)
    #[arg(short = 'o', long, value_name = "PATH[:ro]")]
    pub overlay: Vec<String>,
    /// Home directory: DST (a tmpfs there) or SRC:DST (bind)
    #[arg(short = 'H', long, value_name = "SPEC")]
    pub home: Option<String>,
    /// Do not mount a home directory
    #[arg(long)]
    pub no_home: bool,
    /// Initial working directory in the container
    #[arg(long, visible_alias = "pwd", value_name = "DIR")]
    pub cwd: Option<String>,
    /// tmpfs scratch directories in the container (comma list, repeatable)
    #[arg(short = 'S', long, value_name = "DIR")]
    pub scratch: Vec<String>,
    /// Host directory for /tmp, /var/tmp and --scratch
    #[arg(short = 'W', long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
    /// Skip default mounts: proc, sys, tmp, home, /etc/resolv.conf (comma list)
    #[arg(long, value_name = "LIST")]
    pub no_mount: Vec<String>,
    /// Environment variable KEY=VAL[,KEY=VAL...] (repeatable)
    #[arg(long, value_name = "KEY=VAL")]
    pub env: Vec<String>,
    /// File of shell assignments to add to the environment (repeatable)
    #[arg(long, value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Do not pass the host environment (the OCI-mode default already filters it)
    #[arg(short = 'e', long)]
    pub cleanenv: bool,
    /// With --no-compat: do not shell-evaluate environment values of native SIFs
    #[arg(long)]
    pub no_eval: bool,
    /// Container hostname (implies --uts)
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,
    /// Nameservers for the container's /etc/resolv.conf (comma list)
    #[arg(long, value_name = "IPS")]
    pub dns: Option<String>,
    /// New network namespace (only with --network none: loopback only)
    #[arg(short = 'n', long)]
    pub net: bool,
    /// Network type for --net (only "none")
    #[arg(long, value_name = "TYPE")]
    pub network: Option<String>,
    /// New UTS namespace
    #[arg(long)]
    pub uts: bool,
    /// User namespace (always one for a user who is not root)
    #[arg(short = 'u', long)]
    pub userns: bool,
    /// Do not run in a new PID namespace
    #[arg(long)]
    pub no_pid: bool,
    /// No capabilities, and no_new_privileges
    #[arg(long)]
    pub no_privs: bool,
    /// Every capability (root: the full set)
    #[arg(long)]
    pub keep_privs: bool,
    /// Capabilities to add (comma list, CAP_ optional, ALL)
    #[arg(long, value_name = "CAPS")]
    pub add_caps: Option<String>,
    /// Capabilities to drop (comma list)
    #[arg(long, value_name = "CAPS")]
    pub drop_caps: Option<String>,
    /// cgroup limits from a TOML file (runtime-spec field names)
    #[arg(long, value_name = "FILE")]
    pub apply_cgroups: Option<PathBuf>,
    /// CPU limit (0.01 .. number of CPUs)
    #[arg(long)]
    pub cpus: Option<String>,
    /// CPU shares
    #[arg(long)]
    pub cpu_shares: Option<i64>,
    /// CPUs the container may use (e.g. 0-1)
    #[arg(long)]
    pub cpuset_cpus: Option<String>,
    /// Memory nodes the container may use
    #[arg(long)]
    pub cpuset_mems: Option<String>,
    /// Memory limit (e.g. 512m, 1g)
    #[arg(long)]
    pub memory: Option<String>,
    /// Memory soft limit
    #[arg(long)]
    pub memory_reservation: Option<String>,
    /// Memory + swap limit (-1 unlimited)
    #[arg(long, allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Disable the OOM killer
    #[arg(long)]
    pub oom_kill_disable: bool,
    /// Process limit (-1 unlimited)
    #[arg(long, allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Block IO weight (10-1000)
    #[arg(long)]
    pub blkio_weight: Option<u16>,
    /// Block IO weight of a device: DEV:WEIGHT (repeatable)
    #[arg(long, value_name = "DEV:W")]
    pub blkio_weight_device: Vec<String>,
    /// CDI device vendor/class=name (repeatable)
    #[arg(long, value_name = "NAME")]
    pub device: Vec<String>,
    /// CDI spec directories (default /etc/cdi, /var/run/cdi; comma list)
    #[arg(long, value_name = "DIRS", value_delimiter = ',')]
    pub cdi_dirs: Vec<PathBuf>,
    /// NVIDIA GPUs through the site's CDI spec (nvidia.com/gpu=all)
    #[arg(long)]
    pub nv: bool,
    /// AMD GPUs through the site's CDI spec (amd.com/gpu=all)
    #[arg(long)]
    pub rocm: bool,
    /// SCIF app to run
    #[arg(long, value_name = "NAME")]
    pub app: Option<String>,
    /// Host libraries to bind into /.singularity.d/libs (comma list)
    #[arg(long, hide = true, value_name = "FILES")]
    pub containlibs: Option<String>,
}

fn split_list(v: &[String]) -> Vec<String> {
    v.iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

fn host_var(k: &str) -> Option<String> {
    std::env::var(k).ok().filter(|v| !v.is_empty())
}

impl RunOptions {
    /// The bundle-tools options for `profile` and `action`.
    pub fn to_options(&self, profile: Profile, action: Action) -> Result<Options> {
        let mut o = match profile {
            Profile::OciMode => Options::oci_mode(),
            Profile::Bundle => Options::default(),
        };
        o.action = action;
        o.fakeroot = self.fakeroot;
        o.no_compat = self.no_compat;
        o.writable_tmpfs = self.writable_tmpfs;
        let mut bind_values = self.bind.clone();
        bind_values.extend(host_var("SINGULARITY_BIND"));
        bind_values.extend(host_var("SINGULARITY_BINDPATH"));
        for b in &bind_values {
            o.binds.extend(binds::parse_bind(b)?);
        }
        let mut mount_values = self.mount.clone();
        mount_values.extend(host_var("SINGULARITY_MOUNT"));
        for m in &mount_values {
            o.mounts.extend(binds::parse_mount(m)?);
        }
        o.overlays = self.overlay.clone();
        o.home = self.home.as_deref().map(binds::parse_home).transpose()?;
        o.no_home = self.no_home;
        o.cwd = self.cwd.clone();
        o.scratch = split_list(&self.scratch);
        o.workdir = match &self.workdir {
            Some(w) => Some(std::path::absolute(w)?),
            None => None,
        };
        o.no_mount = split_list(&self.no_mount);
        for e in &self.env {
            o.env.extend(env::parse_env_flag(e)?);
        }
        o.env_files = self.env_file.clone();
        o.cleanenv = self.cleanenv;
        o.no_eval = self.no_eval;
        o.host_env = std::env::vars().collect();
        o.hostname = self.hostname.clone();
        o.dns = self.dns.clone();
        o.net = self.net;
        o.network = self.network.clone();
        o.uts = self.uts;
        o.userns = self.userns;
        o.no_pid = self.no_pid;
        o.no_privs = self.no_privs;
        o.keep_privs = self.keep_privs;
        o.add_caps = self.add_caps.clone();
        o.drop_caps = self.drop_caps.clone();
        o.limits = Limits {
            cpus: self.cpus.clone(),
            cpu_shares: self.cpu_shares,
            cpuset_cpus: self.cpuset_cpus.clone(),
            cpuset_mems: self.cpuset_mems.clone(),
            memory: self.memory.clone(),
            memory_reservation: self.memory_reservation.clone(),
            memory_swap: self.memory_swap.clone(),
            oom_kill_disable: self.oom_kill_disable,
            pids_limit: self.pids_limit,
            blkio_weight: self.blkio_weight,
            blkio_weight_device: self.blkio_weight_device.clone(),
            apply_cgroups: self.apply_cgroups.clone(),
        };
        o.devices = self.device.clone();
        o.cdi_dirs = self.cdi_dirs.clone();
        o.nv = self.nv;
        o.rocm = self.rocm;
        o.app = self.app.clone();
        let libs = self
            .containlibs
            .clone()
            .or_else(|| host_var("SINGULARITY_CONTAINLIBS"));
        o.containlibs = libs
            .iter()
            .flat_map(|l| l.split(','))
            .filter(|l| !l.is_empty())
            .map(PathBuf::from)
            .collect();
        o.validate()?;
        Ok(o)
    }
}
