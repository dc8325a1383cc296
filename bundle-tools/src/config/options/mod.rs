//! Run options: what the caller asks for on top of what the image says.
//!
//! Two profiles share one set of options:
//! * [`Profile::Bundle`] (`sifrun mount`): runc's default spec, as before; options are
//!   edits on top of it. For a caller who is not root it gets what an unprivileged
//!   runtime needs (a user namespace with the ids of [`idmap`], no network namespace,
//!   sysfs bound, no `gid=` mount options, no cgroup settings), so it runs unchanged.
//! * [`Profile::OciMode`] (`sifrun oci run --image`, `mount --oci-mode`): the
//!   config.json SingularityCE's OCI mode writes (oci-mode.md §1–§4), option by option.
//!
//! One concern per file: [`idmap`] (who the caller is, id mappings), [`binds`]
//! (`-B`, `--mount`, `--overlay`, home, tmp, scratch), [`env`] (environment),
//! [`caps`] (capabilities), [`resources`] (cgroup limits), [`cdi`] (devices),
//! [`ocimode`] (the OCI-mode base and the files it puts in the bundle).

pub mod binds;
pub mod caps;
pub mod cdi;
pub mod env;
pub mod idmap;
mod model;
mod ocimode;
pub mod resources;

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType, Mount, Spec, User};

use crate::error::Result;
use idmap::IdMap;
use model::{namespace, opt_err};
pub use model::{Action, Applied, BundleFile, Host, ImageInfo, Options, Profile, Target};

impl Options {
    /// Options for `oci run --image`: SingularityCE's OCI mode with its defaults.
    pub fn oci_mode() -> Options {
        Options {
            profile: Profile::OciMode,
            session_mb: 64,
            ..Options::default()
        }
    }

    /// Checks that need no image: conflicting or unsupported options.
    pub fn validate(&self) -> Result<()> {
        if self.net && self.network.as_deref().unwrap_or("bridge") != "none" {
            return Err(opt_err(
                "not supported by OCI launcher: Network (except none); use --net --network none",
            ));
        }
        if !self.limits.is_empty() && self.limits.apply_cgroups.is_some() {
            // resources() says the same, but before anything is mounted.
            let mut l = self.limits.clone();
            l.apply_cgroups = None;
            if !l.is_empty() {
                return Err(opt_err(
                    "cannot apply a cgroups TOML file while using limit flags",
                ));
            }
        }
        for nm in &self.no_mount {
            if matches!(nm.as_str(), "dev" | "devpts") {
                return Err(opt_err(format!(
                    "OCI-mode requires /{nm} to be mounted, but --no-mount {nm} was given"
                )));
            }
        }
        if self.home.is_some() && self.no_home {
            return Err(opt_err("--home and --no-home cannot be used together"));
        }
        Ok(())
    }

    /// The process user: `--fakeroot` → root; an image `USER`; else the caller (root
    /// for root). In the bundle profile as root, the image's user or root as before.
    fn process_user(
        &self,
        host: &Host,
        image_user: Option<&User>,
        notes: &mut Vec<String>,
    ) -> User {
        let c = &host.caller;
        let mut u = User::default();
        if self.fakeroot {
            return u;
        }
        if let Some(iu) = image_user {
            if host.idmap.maps_uid(c, iu.uid()) {
                return iu.clone();
            }
            notes.push(format!(
                "the image's USER (uid {}) does not exist in this container's user namespace ({}): running as uid 0, which is you",
                iu.uid(),
                host.no_subids.as_deref().unwrap_or("no subordinate ids")
            ));
            return u;
        }
        if host.unprivileged() && matches!(host.idmap, IdMap::Single) {
            // Only the caller is mapped, and only as root (see IdMap::Single).
            return u;
        }
        if self.profile == Profile::OciMode || host.unprivileged() {
            u.set_uid(c.uid);
            u.set_gid(c.gid);
        }
        u
    }

    /// Apply these options to `spec`, generated from the image for the bundle `t`.
    pub fn apply(
        &self,
        spec: &mut Spec,
        img: &ImageInfo,
        t: &Target,
        host: &Host,
    ) -> Result<Applied> {
        self.validate()?;
        let mut out = Applied::default();
        // The image's user as the bundle profile resolved it from the image's passwd.
        let image_user = img
            .user
            .as_ref()
            .filter(|u| !u.is_empty())
            .and(spec.process().as_ref().map(|p| p.user().clone()));
        let user = self.process_user(host, image_user.as_ref(), &mut out.notes);
        let call = ocimode::Call {
            o: self,
            img,
            t,
            host,
            user: &user,
        };
        match self.profile {
            Profile::OciMode => ocimode::base(&call, spec, &mut out)?,
            Profile::Bundle => self.bundle_edits(spec, img, host, &user, &mut out)?,
        }
        if host.unprivileged() {
            unprivileged(spec, host, &mut out.notes)?;
        }
        // CDI edits come after the process is final; the specs are read (and must
        // be valid) on every OCI-mode run, as SingularityCE does.
        if !self.devices.is_empty() || self.nv || self.rocm || self.profile == Profile::OciMode {
            let reg = cdi::Registry::load(&self.cdi_dirs)?;
            let mut devices = self.devices.clone();
            for (on, flag, kind) in [
                (self.nv, "--nv", "nvidia.com/gpu"),
                (self.rocm, "--rocm", "amd.com/gpu"),
            ] {
                if !on {
                    continue;
                }
                let all = format!("{kind}=all");
                if !reg.device_names().contains(&all) {
                    return Err(opt_err(format!(
                        "{flag}: no CDI spec defines {all} in {} (the site must generate one, e.g. nvidia-ctk cdi generate)",
                        self.cdi_dir_list()
                    )));
                }
                devices.push(all);
            }
            reg.apply(&devices, spec)?;
        }
        if self.profile == Profile::OciMode {
            ocimode::etc_files(&call, spec, &mut out)?;
        }
        if let (Some(tty), Some(p)) = (self.terminal, spec.process_mut().as_mut()) {
            p.set_terminal(Some(tty));
        }
        Ok(out)
    }

    /// Options on top of runc's default spec (`sifrun mount`).
    fn bundle_edits(
        &self,
        spec: &mut Spec,
        img: &ImageInfo,
        host: &Host,
        user: &User,
        out: &mut Applied,
    ) -> Result<()> {
        let mut p = spec.process().clone().unwrap_or_default();
        p.set_user(user.clone());
        match &self.action {
            Action::Image => {}
            Action::Run(a) if !img.native => {
                let mut args = img.entrypoint.clone();
                args.extend(if a.is_empty() {
                    img.cmd.clone()
                } else {
                    a.clone()
                });
                p.set_args(Some(args));
            }
            Action::Run(a) => {
                let mut args = p.args().clone().unwrap_or_default();
                args.extend(a.iter().cloned());
                p.set_args(Some(args));
            }
            Action::Exec(a) => {
                p.set_args(Some(a.clone()));
            }
            Action::Shell => {
                p.set_args(Some(vec!["/bin/sh".into()]));
            }
        }
        if let Some(cwd) = &self.cwd {
            p.set_cwd(cwd.into());
        }
        let mut envv = p.env().clone().unwrap_or_default();
        for (k, v) in &self.env {
            envv.retain(|e| e.split_once('=').map_or(e != k, |(ek, _)| ek != k));
            envv.push(format!("{k}={v}"));
        }
        p.set_env(Some(envv));
        if self.add_caps.is_some() || self.drop_caps.is_some() || self.no_privs || self.keep_privs {
            p.set_capabilities(Some(self.capabilities(user.uid(), &mut out.notes)));
        }
        if self.no_privs {
            p.set_no_new_privileges(Some(true));
        }
        spec.set_process(Some(p));
        if let Some(h) = &self.hostname {
            spec.set_hostname(Some(h.clone()));
        }
        let mut mounts = spec.mounts().clone().unwrap_or_default();
        mounts.extend(self.user_binds()?);
        spec.set_mounts(Some(mounts));
        self.set_resources(spec, host, &mut out.notes)?;
        Ok(())
    }

    fn cdi_dir_list(&self) -> String {
        if self.cdi_dirs.is_empty() {
            cdi::DEFAULT_CDI_DIRS.join(", ")
        } else {
            let v: Vec<String> = self
                .cdi_dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect();
            v.join(", ")
        }
    }

    /// The `-B` and `--mount` binds, in that order.
    fn user_binds(&self) -> Result<Vec<Mount>> {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        let mut all = self.binds.clone();
        all.extend(self.mounts.iter().cloned());
        binds::bind_mounts(&all, self.allow_setuid, &cwd)
    }

    fn capabilities(
        &self,
        uid: u32,
        notes: &mut Vec<String>,
    ) -> oci_spec::runtime::LinuxCapabilities {
        let (add, bad_add) = caps::parse_cap_list(self.add_caps.as_deref().unwrap_or(""));
        let (drop, bad_drop) = caps::parse_cap_list(self.drop_caps.as_deref().unwrap_or(""));
        if !bad_add.is_empty() {
            notes.push(format!(
                "Ignoring unknown --add-caps: {}",
                bad_add.join(",")
            ));
        }
        if !bad_drop.is_empty() {
            notes.push(format!(
                "Ignoring unknown --drop-caps: {}",
                bad_drop.join(",")
            ));
        }
        caps::capabilities(
            &caps::CapRequest {
                add: &add,
                drop: &drop,
                keep_privs: self.keep_privs,
                no_privs: self.no_privs,
            },
            uid,
        )
    }

    /// linux.resources from the limit flags; none for an unprivileged caller (cgroup
    /// v1 gives users no cgroup of their own).
    fn set_resources(&self, spec: &mut Spec, host: &Host, notes: &mut Vec<String>) -> Result<()> {
        if self.limits.is_empty() {
            return Ok(());
        }
        let res = self.limits.resources(host.host_cpus)?;
        if host.unprivileged() {
            notes.push(
                "resource limits need root on this system (no cgroup is delegated to you): the limits are not applied"
                    .into(),
            );
            return Ok(());
        }
        let mut linux = spec.linux().clone().unwrap_or_default();
        linux.set_resources(Some(merge_resources(linux.resources().clone(), res)));
        spec.set_linux(Some(linux));
        Ok(())
    }
}

/// `extra` over `base`, field group by field group (devices rules are kept).
fn merge_resources(
    base: Option<oci_spec::runtime::LinuxResources>,
    extra: oci_spec::runtime::LinuxResources,
) -> oci_spec::runtime::LinuxResources {
    let Some(mut b) = base else { return extra };
    macro_rules! take {
        ($get:ident, $set:ident) => {
            if extra.$get().is_some() {
                b.$set(extra.$get().clone());
            }
        };
    }
    take!(cpu, set_cpu);
    take!(memory, set_memory);
    take!(pids, set_pids);
    take!(block_io, set_block_io);
    take!(hugepage_limits, set_hugepage_limits);
    take!(network, set_network);
    take!(rdma, set_rdma);
    take!(unified, set_unified);
    if let Some(d) = extra.devices() {
        let mut all = b.devices().clone().unwrap_or_default();
        all.extend(d.iter().cloned());
        b.set_devices(Some(all));
    }
    b
}

/// What an unprivileged runtime needs (runc's `spec --rootless` changes, with the
/// id mappings of [`IdMap`]): a user namespace, no network or cgroup namespace of
/// its own in the bundle profile, /sys bound instead of a new sysfs, no `gid=`/
/// `uid=` mount options, no cgroup settings.
fn unprivileged(spec: &mut Spec, host: &Host, notes: &mut Vec<String>) -> Result<()> {
    let c = &host.caller;
    let (uids, gids) = host.idmap.mappings(c);
    if let (IdMap::Single, Some(why)) = (&host.idmap, &host.no_subids) {
        notes.push(format!(
            "{why}: only your own id is mapped (as root in the container); files of other owners show as nobody and switching to other users fails"
        ));
    }
    let mut linux = spec.linux().clone().unwrap_or_default();
    let mut ns: Vec<LinuxNamespace> = linux
        .namespaces()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|n| {
            !matches!(
                n.typ(),
                LinuxNamespaceType::User | LinuxNamespaceType::Cgroup
            )
        })
        .collect();
    ns.push(namespace(LinuxNamespaceType::User));
    linux.set_namespaces(Some(ns));
    linux.set_uid_mappings(Some(uids.clone()));
    linux.set_gid_mappings(Some(gids.clone()));
    linux.set_resources(None);
    linux.set_cgroups_path(None);
    spec.set_linux(Some(linux));
    let mounts = spec
        .mounts()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m.destination() != Path::new("/sys/fs/cgroup"))
        .map(|mut m| {
            if m.destination() == Path::new("/sys") && m.typ().as_deref() == Some("sysfs") {
                m.set_typ(Some("none".into()));
                m.set_source(Some("/sys".into()));
                m.set_options(Some(
                    ["rbind", "nosuid", "noexec", "nodev", "ro"]
                        .map(String::from)
                        .to_vec(),
                ));
            }
            // An id option naming an id the namespace lacks would fail the mount
            // (devpts' gid=5 of runc's spec, under a single-id map).
            if let Some(o) = m.options().clone() {
                m.set_options(Some(
                    o.into_iter()
                        .filter(|o| {
                            let id =
                                |p: &str| o.strip_prefix(p).and_then(|v| v.parse::<u32>().ok());
                            match (id("uid="), id("gid=")) {
                                (Some(u), _) => idmap::to_host(&uids, u).is_some(),
                                (_, Some(g)) => idmap::to_host(&gids, g).is_some(),
                                _ => true,
                            }
                        })
                        .collect(),
                ));
            }
            m
        })
        .collect();
    spec.set_mounts(Some(mounts));
    Ok(())
}

#[cfg(test)]
mod tests;
