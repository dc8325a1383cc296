//! SingularityCE's OCI-mode config.json (oci-mode.md §1, §2, §4): namespaces,
//! default mounts, process, and the files it puts next to config.json
//! (`etc/resolv.conf`, `etc/passwd`, `etc/group`, `98-singularityenv.sh`).

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, LinuxResources, Mount, Process, Spec, User};

use super::model::{
    namespace, opt_err, Action, Applied, BundleFile, Host, ImageInfo, Options, Target,
};
use super::{binds, env};
use crate::error::Result;

const NATIVE_NOTICE: &str =
    "Running a non-OCI SIF in OCI mode. See user guide for compatibility information.";
const SHELL_ARGS: [&str; 3] = [
    "/bin/sh",
    "-c",
    "export PS1='Singularity> '; test -x /bin/bash && exec /bin/bash --norc || exec /bin/sh",
];
const ENV_SCRIPT: &str = "98-singularityenv.sh";

fn mount(dest: &str, typ: &str, source: &str, opts: &[&str]) -> Mount {
    binds::mount(dest, Some(typ), source, opts)
}

fn no_mount(o: &Options, what: &str) -> bool {
    o.no_mount.iter().any(|n| n == what)
}

/// What the OCI-mode steps work from.
#[derive(Clone, Copy)]
pub(super) struct Call<'a> {
    pub o: &'a Options,
    pub img: &'a ImageInfo<'a>,
    pub t: &'a Target<'a>,
    pub host: &'a Host,
    pub user: &'a User,
}

impl Call<'_> {
    /// Where the home directory is in the container: `--home`'s destination, `/root`
    /// with `--fakeroot`, else the caller's home.
    fn home(&self) -> String {
        if let Some(h) = &self.o.home {
            return h.destination.clone();
        }
        if self.o.fakeroot {
            return "/root".into();
        }
        self.host.caller.home.clone()
    }

    /// The image declares a `USER` that is used (not overridden by `--fakeroot`).
    fn declares_user(&self) -> bool {
        self.img.user.as_deref().is_some_and(|u| !u.is_empty()) && !self.o.fakeroot
    }
}

/// The OCI-mode spec over the one generated from the image.
pub(super) fn base(c: &Call, spec: &mut Spec, out: &mut Applied) -> Result<()> {
    let Call {
        o,
        img,
        t,
        host,
        user,
    } = *c;
    let declares_user = c.declares_user();
    if declares_user && o.home.is_some() {
        return Err(opt_err(
            "a custom --home is not currently supported when running containers that declare a USER",
        ));
    }
    if img.native {
        out.notes.push(NATIVE_NOTICE.into());
    }
    let home = c.home();

    // Root filesystem: writable in compat (sifrun's overlay upper is in the bundle).
    let mut root = spec.root().clone().unwrap_or_default();
    root.set_readonly(Some(o.no_compat && !o.writable_tmpfs));
    spec.set_root(Some(root));
    spec.set_hostname(o.hostname.clone());

    // Namespaces in SingularityCE's order.
    let mut ns = vec![
        namespace(LinuxNamespaceType::Ipc),
        namespace(LinuxNamespaceType::Mount),
    ];
    if o.net {
        ns.push(namespace(LinuxNamespaceType::Network));
    }
    if !o.no_pid {
        ns.push(namespace(LinuxNamespaceType::Pid));
    }
    if o.uts || o.hostname.is_some() {
        ns.push(namespace(LinuxNamespaceType::Uts));
    }
    let mut linux = spec.linux().clone().unwrap_or_default();
    if o.userns && !host.unprivileged() {
        out.notes
            .push("--userns as root: a user namespace with every id mapped to itself".into());
        ns.push(namespace(LinuxNamespaceType::User));
        linux.set_uid_mappings(Some(vec![super::idmap::identity()]));
        linux.set_gid_mappings(Some(vec![super::idmap::identity()]));
    }
    linux.set_namespaces(Some(ns));
    linux.set_masked_paths(None);
    linux.set_readonly_paths(None);
    linux.set_seccomp(None);
    linux.set_devices(None);
    linux.set_sysctl(None);
    // Kept non-null on purpose (crun issue 1402), as SingularityCE does.
    linux.set_resources(Some(LinuxResources::default()));
    spec.set_linux(Some(linux));
    o.set_resources(spec, host, &mut out.notes)?;

    // Mounts, in SingularityCE's order (§1.2).
    let size = format!("size={}m", o.session_mb);
    let mut m = Vec::new();
    if !no_mount(o, "proc") {
        m.push(if o.no_pid {
            mount(
                "/proc",
                "none",
                "/proc",
                &["rbind", "nodev", "nosuid", "noexec"],
            )
        } else {
            mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"])
        });
    }
    let sys = !no_mount(o, "sys");
    if sys {
        // sysfs can only be mounted by the owner of the network namespace: in a user
        // namespace without its own, the host's /sys is bound.
        m.push(if host.unprivileged() || o.userns {
            mount(
                "/sys",
                "none",
                "/sys",
                &["rbind", "nosuid", "noexec", "nodev", "ro"],
            )
        } else {
            mount(
                "/sys",
                "sysfs",
                "sysfs",
                &["nosuid", "noexec", "nodev", "ro"],
            )
        });
        if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            let rw = if o.keep_privs { "rw" } else { "ro" };
            m.push(mount(
                "/sys/fs/cgroup",
                "cgroup",
                "cgroup",
                &["nosuid", "noexec", "nodev", rw],
            ));
        }
    }
    m.push(mount(
        "/dev",
        "tmpfs",
        "tmpfs",
        &["nosuid", "strictatime", "mode=755", &size],
    ));
    m.push(mount(
        "/dev/shm",
        "tmpfs",
        "shm",
        &["nosuid", "noexec", "nodev", "mode=1777", &size],
    ));
    m.push(mount(
        "/dev/mqueue",
        "mqueue",
        "mqueue",
        &["nosuid", "noexec", "nodev"],
    ));
    let tty_gid = if host.unprivileged() {
        None
    } else {
        host.tty_gid
    };
    m.push(binds::devpts_mount(tty_gid));
    let home_spec = binds::Home {
        source: o.home.as_ref().and_then(|h| h.source.clone()),
        destination: home.clone(),
    };
    let with_home = !o.no_home && !no_mount(o, "home") && !declares_user;
    let ids = (user.uid() != 0).then(|| (user.uid(), user.gid()));
    let mut tmp = binds::tmp_mounts(&binds::TmpMounts {
        size_mb: o.session_mb,
        allow_setuid: o.allow_setuid,
        no_compat: o.no_compat,
        no_tmp: no_mount(o, "tmp"),
        home: with_home.then_some(&home_spec),
        home_host: &host.caller.home,
        host_ids: if o.fakeroot { None } else { ids },
        scratch: &o.scratch,
        workdir: o.workdir.as_deref(),
    })?;
    if var_tmp_is_tmp(t.rootfs) {
        tmp.retain(|x| x.destination() != Path::new("/var/tmp"));
    }
    m.extend(tmp);
    m.extend(o.user_binds()?);
    for lib in &o.containlibs {
        let name = lib.file_name().ok_or_else(|| {
            opt_err(format!(
                "SINGULARITY_CONTAINLIBS: {} has no file name",
                lib.display()
            ))
        })?;
        if !lib.exists() {
            return Err(opt_err(format!(
                "SINGULARITY_CONTAINLIBS: cannot stat {}",
                lib.display()
            )));
        }
        m.push(mount(
            &format!("/.singularity.d/libs/{}", name.to_string_lossy()),
            "none",
            &lib.to_string_lossy(),
            &["rbind", "nodev", "nosuid", "ro"],
        ));
    }

    // Process.
    let mut p: Process = spec.process().clone().unwrap_or_default();
    p.set_user(user.clone());
    p.set_args(Some(args(o, img)?));
    p.set_capabilities(Some(o.capabilities(user.uid(), &mut out.notes)));
    p.set_no_new_privileges(Some(o.no_privs));
    p.set_rlimits(None);
    p.set_apparmor_profile(None);
    p.set_selinux_label(None);
    let host_cwd = std::env::current_dir()
        .map(|d| d.to_string_lossy().into_owned())
        .ok();
    let cwd = o
        .cwd
        .clone()
        .or(if o.no_compat { host_cwd } else { None })
        .or(img.working_dir.clone().filter(|w| !w.is_empty()))
        .unwrap_or_else(|| home.clone());
    p.set_cwd(cwd.into());
    let bundle = t.bundle.to_string_lossy();
    let forced_home = (!declares_user).then_some(home.as_str());
    let input = env::EnvInput {
        host_env: &o.host_env,
        env: &o.env,
        env_files: &o.env_files,
        cleanenv: o.cleanenv,
        no_compat: o.no_compat,
        no_eval: o.no_eval,
        home: forced_home,
        container: &bundle,
        name: img.name,
        image: img.name,
    };
    if img.native {
        let ne = env::native_env(&[], &input)?;
        // libcontainer looks args[0] up on PATH even when it is absolute; the action
        // scripts set the image's own PATH.
        let mut penv = ne.process_env;
        if !penv.iter().any(|e| e.starts_with("PATH=")) {
            penv.push(crate::config::spec::DEFAULT_PATH.to_string());
        }
        p.set_env(Some(penv));
        out.files.push(BundleFile {
            path: ENV_SCRIPT.into(),
            contents: ne.script.into_bytes(),
            mode: 0o644,
        });
        m.push(mount(
            &format!("/.singularity.d/env/{ENV_SCRIPT}"),
            "bind",
            &t.bundle.join(ENV_SCRIPT).to_string_lossy(),
            &["bind", "ro", "nosuid", "nodev"],
        ));
    } else {
        p.set_env(Some(env::oci_process_env(&img.env, &input)?));
    }
    spec.set_process(Some(p));
    spec.set_mounts(Some(m));
    Ok(())
}

/// The command line (§1.6).
fn args(o: &Options, img: &ImageInfo) -> Result<Vec<String>> {
    let user_args = |a: &Action| match a {
        Action::Run(a) | Action::Exec(a) => a.clone(),
        _ => vec![],
    };
    if img.native {
        let action = match &o.action {
            Action::Image | Action::Run(_) => "run",
            Action::Exec(_) => "exec",
            Action::Shell => "shell",
        };
        let mut v = vec![format!("/.singularity.d/actions/{action}")];
        v.extend(user_args(&o.action));
        return Ok(v);
    }
    let mut e = img.entrypoint.clone();
    e.extend(img.cmd.iter().cloned());
    if let Some(app) = &o.app {
        if e.is_empty() {
            return Err(opt_err(format!(
                "--app {app}: the image has neither ENTRYPOINT nor CMD to run a SCIF app with"
            )));
        }
        let action = match &o.action {
            Action::Image | Action::Run(_) => "run",
            Action::Exec(_) => "exec",
            Action::Shell => "shell",
        };
        let mut v = vec![e[0].clone(), action.to_string(), app.clone()];
        v.extend(e[1..].iter().cloned());
        v.extend(user_args(&o.action));
        return Ok(v);
    }
    Ok(match &o.action {
        Action::Image => e,
        Action::Run(a) => {
            let mut v = img.entrypoint.clone();
            v.extend(if a.is_empty() {
                img.cmd.clone()
            } else {
                a.clone()
            });
            v
        }
        Action::Exec(a) => a.clone(),
        Action::Shell => SHELL_ARGS.iter().map(|s| s.to_string()).collect(),
    })
}

/// Whether the image's /var/tmp is (a symlink to) its /tmp.
fn var_tmp_is_tmp(rootfs: &Path) -> bool {
    let Ok(target) = std::fs::read_link(rootfs.join("var/tmp")) else {
        return false;
    };
    let abs = if target.is_absolute() {
        target
    } else {
        PathBuf::from("/var").join(target)
    };
    let mut norm = PathBuf::from("/");
    for c in abs.components() {
        match c {
            std::path::Component::ParentDir => {
                norm.pop();
            }
            std::path::Component::Normal(n) => norm.push(n),
            _ => {}
        }
    }
    norm == Path::new("/tmp")
}

/// resolv.conf, passwd and group (§1.2 rows 12–13): appended after CDI's re-sort.
pub(super) fn etc_files(c: &Call, spec: &mut Spec, out: &mut Applied) -> Result<()> {
    let Call {
        o, t, host, user, ..
    } = *c;
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    let bind = |name: &str| {
        mount(
            &format!("/etc/{name}"),
            "bind",
            &t.bundle.join("etc").join(name).to_string_lossy(),
            &["bind"],
        )
    };
    if !no_mount(o, "/etc/resolv.conf") {
        let contents = match &o.dns {
            Some(d) => resolv_conf(d)?,
            None => std::fs::read("/etc/resolv.conf").unwrap_or_default(),
        };
        out.files.push(BundleFile {
            path: "etc/resolv.conf".into(),
            contents,
            mode: 0o644,
        });
        mounts.push(bind("resolv.conf"));
    }
    if !c.declares_user() {
        let home = c.home();
        let host_passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let host_group = std::fs::read_to_string("/etc/group").unwrap_or_default();
        match std::fs::read_to_string(t.rootfs.join("etc/passwd")) {
            Ok(image) => {
                let entry = super::idmap::Caller::from_passwd(
                    &host_passwd,
                    if o.fakeroot { 0 } else { host.caller.uid },
                );
                out.files.push(BundleFile {
                    path: "etc/passwd".into(),
                    contents: passwd_with(&image, user, entry.as_ref(), &home).into_bytes(),
                    mode: 0o644,
                });
                mounts.push(bind("passwd"));
            }
            Err(_) => out
                .notes
                .push("the image has no /etc/passwd: not adding your user to it".into()),
        }
        match std::fs::read_to_string(t.rootfs.join("etc/group")) {
            Ok(image) => {
                let gid = if o.fakeroot { 0 } else { host.caller.gid };
                let name = group_name(&host_group, gid).unwrap_or_else(|| gid.to_string());
                let member = if o.fakeroot {
                    "root".to_string()
                } else {
                    host.caller.name.clone()
                };
                let mut text = image;
                if !text.is_empty() && !text.ends_with('\n') {
                    text.push('\n');
                }
                text.push_str(&format!("{name}:x:{}:{member}\n", user.gid()));
                out.files.push(BundleFile {
                    path: "etc/group".into(),
                    contents: text.into_bytes(),
                    mode: 0o644,
                });
                mounts.push(bind("group"));
            }
            Err(_) => out
                .notes
                .push("the image has no /etc/group: not adding your group to it".into()),
        }
    }
    spec.set_mounts(Some(mounts));
    Ok(())
}

fn group_name(text: &str, gid: u32) -> Option<String> {
    crate::config::spec::group_entries(text)
        .find(|(_, g, _)| *g == gid)
        .map(|(name, _, _)| name.to_string())
}

/// The image's passwd with the process user's line replaced (keeping the image's
/// shell) or appended, made from the host entry of the caller (root's with --fakeroot).
fn passwd_with(
    image: &str,
    user: &User,
    host: Option<&super::idmap::Caller>,
    home: &str,
) -> String {
    let uid = user.uid();
    let (name, gecos, shell) = match host {
        Some(c) => (c.name.clone(), c.gecos.clone(), c.shell.clone()),
        None => (uid.to_string(), String::new(), "/bin/sh".into()),
    };
    let mut out = String::new();
    let mut replaced = false;
    for l in image.lines() {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() >= 7 && f[2].parse::<u32>().ok() == Some(uid) && !replaced {
            replaced = true;
            out.push_str(&format!(
                "{name}:x:{uid}:{}:{gecos}:{home}:{}\n",
                user.gid(),
                f[6]
            ));
        } else {
            out.push_str(l);
            out.push('\n');
        }
    }
    if !replaced {
        out.push_str(&format!(
            "{name}:x:{uid}:{}:{gecos}:{home}:{shell}\n",
            user.gid()
        ));
    }
    out
}

/// `--dns a,b`: one nameserver line per address, nothing else.
pub(super) fn resolv_conf(dns: &str) -> Result<Vec<u8>> {
    let mut s = String::new();
    for d in dns.replace(' ', "").split(',').filter(|d| !d.is_empty()) {
        if d.parse::<std::net::IpAddr>().is_err() {
            return Err(opt_err(format!(
                "DNS nameserver {d} is not a valid IP address"
            )));
        }
        s.push_str(&format!("nameserver {d}\n"));
    }
    Ok(s.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_line_replaced_or_appended() {
        let mut u = User::default();
        u.set_uid(1000);
        u.set_gid(100);
        let c = super::super::idmap::Caller {
            uid: 1000,
            gid: 100,
            name: "alice".into(),
            gecos: "A".into(),
            home: "/home/alice".into(),
            shell: "/bin/zsh".into(),
        };
        let img = "root:x:0:0:root:/root:/bin/sh\nold:x:1000:1000::/x:/bin/ash\n";
        assert_eq!(
            passwd_with(img, &u, Some(&c), "/home/alice"),
            "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:100:A:/home/alice:/bin/ash\n"
        );
        assert!(passwd_with("root:x:0:0::/root:/bin/sh", &u, Some(&c), "/h")
            .ends_with("alice:x:1000:100:A:/h:/bin/zsh\n"));
    }

    #[test]
    fn dns_and_var_tmp() {
        assert_eq!(
            resolv_conf("1.1.1.1, ::1").unwrap(),
            b"nameserver 1.1.1.1\nnameserver ::1\n"
        );
        assert!(resolv_conf("1.1.1.1,nope")
            .unwrap_err()
            .to_string()
            .contains("nope is not a valid IP"));
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("var")).unwrap();
        std::os::unix::fs::symlink("../tmp", d.path().join("var/tmp")).unwrap();
        assert!(var_tmp_is_tmp(d.path()));
        let e = tempfile::tempdir().unwrap();
        assert!(!var_tmp_is_tmp(e.path()));
    }
}
