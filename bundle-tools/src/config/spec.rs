//! OCI runtime `config.json` generation. Pure functions of image metadata (plus the
//! image's `/etc/passwd` and `/etc/group` text), so they can be unit-tested and fuzzed.
//!
//! Base: oci-spec's default spec (runc's `runc spec` defaults: namespaces, default
//! mounts, masked paths …), with `root.path = "rootfs"` (relative, resolved against the
//! bundle), a writable root (the bundle has an overlay upper dir) and no terminal (the
//! caller decides; `run` with piped stdin must not need a console socket).

use std::collections::HashMap;

use oci_spec::image::Config as ImageConfig;
use oci_spec::runtime::{Process, Root, Spec, User};

use crate::error::{Error, Result};

pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
pub const STOP_SIGNAL_ANNOTATION: &str = "org.opencontainers.image.stopSignal";
/// The runscript of a native SIF, run through `/bin/sh` so it need not be executable.
pub const NATIVE_ARGS: [&str; 2] = ["/bin/sh", "/.singularity.d/runscript"];

fn base_spec() -> Result<Spec> {
    let mut spec = Spec::default();
    let mut root = Root::default();
    root.set_path("rootfs".into());
    root.set_readonly(Some(false));
    spec.set_root(Some(root));
    spec.set_hostname(Some("sifrun".into()));
    spec.set_annotations(None);
    Ok(spec)
}

fn with_default_path(mut env: Vec<String>) -> Vec<String> {
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, DEFAULT_PATH.to_string());
    }
    env
}

/// Spec for an OCI-SIF image, translated like podman/containerd do.
pub fn spec_from_image_config(
    cfg: Option<&ImageConfig>,
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<Spec> {
    let mut spec = base_spec()?;
    let mut p = Process::default();
    p.set_terminal(Some(false));
    let empty = ImageConfig::default();
    let cfg = cfg.unwrap_or(&empty);

    let mut args: Vec<String> = cfg.entrypoint().clone().unwrap_or_default();
    args.extend(cfg.cmd().clone().unwrap_or_default());
    if args.is_empty() {
        return Err(Error::Config(
            "image config has neither Entrypoint nor Cmd".into(),
        ));
    }
    p.set_args(Some(args));
    p.set_env(Some(with_default_path(
        cfg.env().clone().unwrap_or_default(),
    )));
    let cwd = cfg
        .working_dir()
        .as_deref()
        .filter(|w| !w.is_empty())
        .unwrap_or("/");
    if !cwd.starts_with('/') {
        return Err(Error::Config(format!("WorkingDir {cwd:?} is not absolute")));
    }
    p.set_cwd(cwd.into());
    p.set_user(resolve_user(
        cfg.user().as_deref().unwrap_or(""),
        passwd.unwrap_or(""),
        group.unwrap_or(""),
    )?);
    spec.set_process(Some(p));

    let mut ann: HashMap<String, String> = cfg.labels().clone().unwrap_or_default();
    if let Some(sig) = cfg.stop_signal().as_deref().filter(|s| !s.is_empty()) {
        ann.insert(STOP_SIGNAL_ANNOTATION.into(), sig.to_string());
    }
    if !ann.is_empty() {
        spec.set_annotations(Some(ann));
    }
    Ok(spec)
}

/// Spec for a native SIF: run the runscript under `/bin/sh` with the environment the
/// image's env scripts set (`env`, already evaluated) and its labels as annotations.
pub fn spec_for_native(env: Vec<String>, labels_json: Option<&str>) -> Result<Spec> {
    let mut spec = base_spec()?;
    let mut p = Process::default();
    p.set_terminal(Some(false));
    p.set_args(Some(NATIVE_ARGS.iter().map(|s| s.to_string()).collect()));
    p.set_env(Some(with_default_path(env)));
    p.set_cwd("/".into());
    p.set_user(User::default());
    spec.set_process(Some(p));
    if let Some(l) = labels_json {
        let ann = labels_to_annotations(l)?;
        if !ann.is_empty() {
            spec.set_annotations(Some(ann));
        }
    }
    Ok(spec)
}

/// `labels.json` (a JSON object) → annotations; non-string values keep their JSON text.
pub fn labels_to_annotations(text: &str) -> Result<HashMap<String, String>> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| Error::Config(format!("labels.json: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| Error::Config("labels.json is not a JSON object".into()))?;
    Ok(obj
        .iter()
        .map(|(k, v)| {
            let s = match v {
                serde_json::Value::String(s) => s.clone(),
                o => o.to_string(),
            };
            (k.clone(), s)
        })
        .collect())
}

struct PwEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
}

fn passwd_entries(passwd: &str) -> impl Iterator<Item = PwEntry<'_>> {
    passwd.lines().filter_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 4 {
            return None;
        }
        Some(PwEntry {
            name: f[0],
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
        })
    })
}

/// (name, gid, members)
pub(crate) fn group_entries(group: &str) -> impl Iterator<Item = (&str, u32, Vec<&str>)> {
    group.lines().filter_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 3 {
            return None;
        }
        let members = f
            .get(3)
            .map(|m| m.split(',').filter(|s| !s.is_empty()).collect())
            .unwrap_or_default();
        Some((f[0], f[2].parse().ok()?, members))
    })
}

/// Resolve an image `User` (`""`, `name`, `uid`, `name:group`, `uid:gid` …) against the
/// image's passwd/group, as containerd's `WithUser` + `WithAdditionalGIDs` do.
pub fn resolve_user(user: &str, passwd: &str, group: &str) -> Result<User> {
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let u = if u.is_empty() { "0" } else { u };
    let entry = match u.parse::<u32>() {
        Ok(uid) => passwd_entries(passwd).find(|e| e.uid == uid),
        Err(_) => Some(
            passwd_entries(passwd)
                .find(|e| e.name == u)
                .ok_or_else(|| Error::Config(format!("user {u:?} not found in /etc/passwd")))?,
        ),
    };
    let uid = match u.parse::<u32>() {
        Ok(uid) => uid,
        Err(_) => entry.as_ref().map(|e| e.uid).unwrap_or(0),
    };
    let gid = match g {
        Some(g) if !g.is_empty() => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => group_entries(group)
                .find(|(n, _, _)| *n == g)
                .map(|(_, gid, _)| gid)
                .ok_or_else(|| Error::Config(format!("group {g:?} not found in /etc/group")))?,
        },
        _ => entry.as_ref().map(|e| e.gid).unwrap_or(0),
    };
    let mut out = User::default();
    out.set_uid(uid);
    out.set_gid(gid);
    // Supplementary groups only when no explicit group was given (containerd).
    if g.is_none() {
        if let Some(name) = entry.as_ref().map(|e| e.name) {
            let mut extra: Vec<u32> = group_entries(group)
                .filter(|(_, gid2, m)| *gid2 != gid && m.contains(&name))
                .map(|(_, gid2, _)| gid2)
                .collect();
            extra.sort_unstable();
            extra.dedup();
            if !extra.is_empty() {
                out.set_additional_gids(Some(extra));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str =
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\nbroken\n";
    const GROUP: &str = "root:x:0:\napp:x:1001:\nextra:x:2000:app,other\nwheel:x:10:root\n";

    fn cfg(json: &str) -> ImageConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn entrypoint_cmd_env_cwd_labels() {
        let c = cfg(
            r#"{"Entrypoint":["/bin/echo"],"Cmd":["hi"],"Env":["A=1"],"WorkingDir":"/tmp",
            "Labels":{"l":"v"},"StopSignal":"SIGINT","User":"app"}"#,
        );
        let s = spec_from_image_config(Some(&c), Some(PASSWD), Some(GROUP)).unwrap();
        let p = s.process().as_ref().unwrap();
        assert_eq!(p.args().as_ref().unwrap(), &["/bin/echo", "hi"]);
        assert_eq!(p.env().as_ref().unwrap(), &[DEFAULT_PATH, "A=1"]);
        assert_eq!(p.cwd().to_str(), Some("/tmp"));
        assert_eq!((p.user().uid(), p.user().gid()), (1000, 1001));
        assert_eq!(p.user().additional_gids().as_deref(), Some(&[2000][..]));
        assert_eq!(p.terminal(), Some(false));
        let a = s.annotations().as_ref().unwrap();
        assert_eq!(a["l"], "v");
        assert_eq!(a[STOP_SIGNAL_ANNOTATION], "SIGINT");
        assert_eq!(s.root().as_ref().unwrap().path().to_str(), Some("rootfs"));
        assert_eq!(s.root().as_ref().unwrap().readonly(), Some(false));
    }

    #[test]
    fn cmd_only_and_path_kept() {
        let c = cfg(r#"{"Cmd":["/bin/sh"],"Env":["PATH=/x"]}"#);
        let s = spec_from_image_config(Some(&c), None, None).unwrap();
        let p = s.process().as_ref().unwrap();
        assert_eq!(p.args().as_ref().unwrap(), &["/bin/sh"]);
        assert_eq!(p.env().as_ref().unwrap(), &["PATH=/x"]);
        assert_eq!(p.cwd().to_str(), Some("/"));
        assert_eq!((p.user().uid(), p.user().gid()), (0, 0));
        assert!(s.annotations().is_none());
    }

    #[test]
    fn errors() {
        assert!(spec_from_image_config(None, None, None).is_err());
        let c = cfg(r#"{"Cmd":["x"],"WorkingDir":"rel"}"#);
        assert!(spec_from_image_config(Some(&c), None, None).is_err());
        assert!(resolve_user("nobody", PASSWD, GROUP).is_err());
        assert!(resolve_user("0:nogroup", PASSWD, GROUP).is_err());
    }

    #[test]
    fn users() {
        let u = resolve_user("1000:extra", PASSWD, GROUP).unwrap();
        assert_eq!(
            (u.uid(), u.gid(), u.additional_gids().clone()),
            (1000, 2000, None)
        );
        let u = resolve_user("4242", PASSWD, GROUP).unwrap();
        assert_eq!((u.uid(), u.gid()), (4242, 0));
        let u = resolve_user("root", PASSWD, GROUP).unwrap();
        assert_eq!(u.additional_gids().as_deref(), Some(&[10][..]));
        let u = resolve_user("5:7", "", "").unwrap();
        assert_eq!((u.uid(), u.gid()), (5, 7));
    }

    #[test]
    fn native() {
        let s = spec_for_native(vec!["FOO=1".into()], Some(r#"{"a":"b","n":1}"#)).unwrap();
        let p = s.process().as_ref().unwrap();
        assert_eq!(p.args().as_ref().unwrap(), &NATIVE_ARGS);
        assert_eq!(p.env().as_ref().unwrap(), &[DEFAULT_PATH, "FOO=1"]);
        assert_eq!(s.annotations().as_ref().unwrap()["n"], "1");
        assert!(spec_for_native(vec![], Some("[]")).is_err());
    }
}
