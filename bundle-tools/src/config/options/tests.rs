//! Options applied to generated specs, for callers of every kind.

use std::path::Path;

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::idmap::{Caller, IdMap, SubIds};
use super::model::{Action, Applied, Host, ImageInfo, Options, Target};
use crate::config::spec::spec_from_image_config;

fn host(uid: u32, sub: bool, fakeroot: bool) -> Host {
    let caller = Caller {
        uid,
        gid: uid,
        name: "u".into(),
        gecos: String::new(),
        home: format!("/home/u{uid}"),
        shell: "/bin/sh".into(),
    };
    let r = SubIds {
        start: 200000,
        count: 65536,
    };
    Host {
        idmap: IdMap::choose(&caller, sub.then_some((r, r)), fakeroot),
        no_subids: (!sub).then(|| "no entry for u in /etc/subuid".into()),
        caller,
        host_cpus: 2,
        tty_gid: Some(5),
    }
}

fn image(user: Option<&str>) -> (Spec, ImageInfo<'static>) {
    let cfg: oci_spec::image::Config = serde_json::from_value(serde_json::json!({
        "Entrypoint": ["/bin/ep"], "Cmd": ["c1"], "Env": ["A=1", "PATH=/img/bin"],
        "WorkingDir": "/work", "User": user.unwrap_or("")
    }))
    .unwrap();
    let passwd = "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n";
    let spec = spec_from_image_config(Some(&cfg), Some(passwd), Some("")).unwrap();
    let info = ImageInfo {
        native: false,
        name: "img.sif",
        entrypoint: vec!["/bin/ep".into()],
        cmd: vec!["c1".into()],
        env: vec!["A=1".into(), "PATH=/img/bin".into()],
        user: user.map(String::from),
        working_dir: Some("/work".into()),
    };
    (spec, info)
}

fn apply(o: &Options, h: &Host, user: Option<&str>) -> (Spec, Applied) {
    let d = tempfile::tempdir().unwrap();
    let (mut spec, info) = image(user);
    let t = Target {
        bundle: d.path(),
        rootfs: &d.path().join("rootfs"),
    };
    let a = o.apply(&mut spec, &info, &t, h).unwrap();
    (spec, a)
}

fn ns(spec: &Spec) -> Vec<LinuxNamespaceType> {
    let l = spec.linux().as_ref().unwrap();
    l.namespaces()
        .as_ref()
        .unwrap()
        .iter()
        .map(|n| n.typ())
        .collect()
}

fn dests(spec: &Spec) -> Vec<String> {
    spec.mounts()
        .as_ref()
        .unwrap()
        .iter()
        .map(|m| m.destination().display().to_string())
        .collect()
}

#[test]
fn root_bundle_profile_is_unchanged() {
    let (before, _) = image(None);
    let (after, a) = apply(&Options::default(), &host(0, false, false), None);
    // Capabilities are sets (their JSON order varies): compared apart.
    let caps = |s: &Spec| s.process().as_ref().unwrap().capabilities().clone();
    assert_eq!(caps(&before), caps(&after));
    let strip = |s: &Spec| {
        let mut v = serde_json::to_value(s).unwrap();
        v["process"]["capabilities"] = serde_json::Value::Null;
        v
    };
    assert_eq!(strip(&before), strip(&after));
    assert!(a.files.is_empty() && a.notes.is_empty());
}

#[test]
fn unprivileged_bundle_runs_as_the_caller_with_subids() {
    let (s, _) = apply(&Options::default(), &host(1000, true, false), None);
    let l = s.linux().as_ref().unwrap();
    assert!(ns(&s).contains(&LinuxNamespaceType::User));
    assert!(!ns(&s).contains(&LinuxNamespaceType::Cgroup));
    let m = l.uid_mappings().as_ref().unwrap();
    assert_eq!(m.len(), 3);
    assert!(l.resources().is_none());
    let u = s.process().as_ref().unwrap().user();
    assert_eq!((u.uid(), u.gid()), (1000, 1000));
    let sys = s
        .mounts()
        .as_ref()
        .unwrap()
        .iter()
        .find(|m| m.destination() == Path::new("/sys"))
        .unwrap();
    assert_eq!(sys.typ().as_deref(), Some("none"));
    let gid_opts = |s: &Spec| {
        s.mounts()
            .as_ref()
            .unwrap()
            .iter()
            .flat_map(|m| m.options().clone().unwrap_or_default())
            .filter(|o| o.starts_with("gid="))
            .count()
    };
    // devpts' gid=5 exists with subordinate ids, not with a single-id map.
    assert_eq!(gid_opts(&s), 1);
    let (s, a) = apply(&Options::default(), &host(1000, false, false), None);
    assert_eq!(gid_opts(&s), 0);
    assert_eq!(s.process().as_ref().unwrap().user().uid(), 0);
    assert!(
        a.notes.iter().any(|n| n.contains("no entry for u")),
        "{:?}",
        a.notes
    );
}

#[test]
fn image_user_honoured_or_refused_with_a_note() {
    let (s, a) = apply(&Options::default(), &host(999, true, false), Some("app"));
    assert_eq!(s.process().as_ref().unwrap().user().uid(), 1000);
    assert!(a.notes.is_empty());
    let (s, a) = apply(&Options::default(), &host(999, false, false), Some("app"));
    assert_eq!(s.process().as_ref().unwrap().user().uid(), 0);
    assert!(
        a.notes.iter().any(|n| n.contains("USER (uid 1000)")),
        "{:?}",
        a.notes
    );
    let o = Options {
        fakeroot: true,
        ..Options::default()
    };
    let (s, _) = apply(&o, &host(999, true, true), Some("app"));
    assert_eq!(s.process().as_ref().unwrap().user().uid(), 0);
    let m = &s.linux().as_ref().unwrap().uid_mappings().as_ref().unwrap()[0];
    assert_eq!((m.container_id(), m.host_id(), m.size()), (0, 999, 1));
}

#[test]
fn oci_mode_defaults() {
    let o = Options {
        host_env: vec![
            ("TERM".into(), "xterm".into()),
            ("SECRET".into(), "x".into()),
        ],
        ..Options::oci_mode()
    };
    let (s, a) = apply(&o, &host(1000, true, false), None);
    assert_eq!(
        ns(&s),
        [
            LinuxNamespaceType::Ipc,
            LinuxNamespaceType::Mount,
            LinuxNamespaceType::Pid,
            LinuxNamespaceType::User
        ]
    );
    assert!(s.hostname().is_none());
    let d = dests(&s);
    for want in [
        "/proc",
        "/sys",
        "/dev",
        "/dev/pts",
        "/tmp",
        "/home/u1000",
        "/etc/resolv.conf",
    ] {
        assert!(d.contains(&want.to_string()), "{want} in {d:?}");
    }
    let p = s.process().as_ref().unwrap();
    assert_eq!(p.args().as_ref().unwrap(), &["/bin/ep", "c1"]);
    assert_eq!(p.cwd(), Path::new("/work"));
    let env = p.env().as_ref().unwrap();
    assert!(env.contains(&"TERM=xterm".to_string()), "{env:?}");
    assert!(env.contains(&"HOME=/home/u1000".to_string()), "{env:?}");
    assert!(!env.iter().any(|e| e.starts_with("SECRET=")), "{env:?}");
    assert_eq!(
        p.capabilities()
            .as_ref()
            .unwrap()
            .bounding()
            .as_ref()
            .unwrap()
            .len(),
        15
    );
    assert!(a
        .files
        .iter()
        .any(|f| f.path == Path::new("etc/resolv.conf")));
    assert_eq!(s.root().as_ref().unwrap().readonly(), Some(false));
}

#[test]
fn oci_mode_actions_hostname_and_errors() {
    let mut o = Options::oci_mode();
    o.action = Action::Run(vec!["x".into()]);
    o.hostname = Some("h1".into());
    o.dns = Some("10.0.0.1".into());
    let (s, a) = apply(&o, &host(0, false, false), None);
    assert_eq!(
        s.process().as_ref().unwrap().args().as_ref().unwrap(),
        &["/bin/ep", "x"]
    );
    assert_eq!(s.hostname().as_deref(), Some("h1"));
    assert!(ns(&s).contains(&LinuxNamespaceType::Uts));
    let r = a
        .files
        .iter()
        .find(|f| f.path == Path::new("etc/resolv.conf"))
        .unwrap();
    assert_eq!(r.contents, b"nameserver 10.0.0.1\n");
    o.action = Action::Exec(vec!["id".into()]);
    let (s, _) = apply(&o, &host(0, false, false), None);
    assert_eq!(
        s.process().as_ref().unwrap().args().as_ref().unwrap(),
        &["id"]
    );
    o.net = true;
    assert!(o.validate().unwrap_err().to_string().contains("Network"));
    o.network = Some("none".into());
    o.validate().unwrap();
}

#[test]
fn scif_app_and_shell_args() {
    let mut o = Options::oci_mode();
    o.app = Some("foo".into());
    o.action = Action::Exec(vec!["x".into()]);
    let (s, _) = apply(&o, &host(0, false, false), None);
    assert_eq!(
        s.process().as_ref().unwrap().args().as_ref().unwrap(),
        &["/bin/ep", "exec", "foo", "c1", "x"]
    );
    o.app = None;
    o.action = Action::Shell;
    let (s, _) = apply(&o, &host(0, false, false), None);
    let args = s.process().as_ref().unwrap().args().clone().unwrap();
    assert_eq!(&args[..2], &["/bin/sh", "-c"]);
    assert!(args[2].contains("exec /bin/bash --norc"));
}
