//! Per-case bundles: a busybox-static rootfs plus the checker, and the
//! default config every case starts from (conformance-map §3.1).

use crate::checker::{CHECKER_PATH, CONFIG_PATH};
use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Files shared by every bundle of a suite run.
pub struct Template {
    pub busybox: PathBuf,
    pub checker: PathBuf,
    pub applets: Vec<String>,
}

impl Template {
    /// Copy busybox and the checker into `dir` once; bundles hard-link them.
    pub fn new(dir: &Path, busybox: &Path, checker: &Path) -> Result<Template> {
        std::fs::create_dir_all(dir)?;
        let bb = dir.join("busybox");
        std::fs::copy(busybox, &bb).with_context(|| format!("copy {}", busybox.display()))?;
        let ck = dir.join("conformance-checker");
        std::fs::copy(checker, &ck).with_context(|| format!("copy {}", checker.display()))?;
        for p in [&bb, &ck] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755))?;
        }
        let list = std::process::Command::new(&bb).arg("--list").output()?;
        let applets = String::from_utf8_lossy(&list.stdout)
            .lines()
            .map(str::trim)
            .filter(|a| !a.is_empty() && *a != "busybox" && !a.contains('/'))
            .map(str::to_string)
            .collect();
        Ok(Template {
            busybox: bb,
            checker: ck,
            applets,
        })
    }
}

pub struct Bundle {
    pub dir: PathBuf,
    pub rootfs: PathBuf,
    pub config: Value,
}

fn link_or_copy(src: &Path, dst: &Path) -> Result<()> {
    if std::fs::hard_link(src, dst).is_err() {
        std::fs::copy(src, dst)?;
    }
    Ok(())
}

impl Bundle {
    pub fn new(dir: PathBuf, t: &Template) -> Result<Bundle> {
        let rootfs = dir.join("rootfs");
        for d in ["bin", "etc", "dev", "proc", "sys", "tmp", "root", "mnt"] {
            std::fs::create_dir_all(rootfs.join(d))?;
        }
        // Readable by unprivileged container users and mapped user namespaces.
        for d in [&dir, &rootfs] {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755))?;
        }
        std::fs::set_permissions(rootfs.join("tmp"), std::fs::Permissions::from_mode(0o1777))?;
        link_or_copy(&t.busybox, &rootfs.join("bin/busybox"))?;
        for a in &t.applets {
            let _ = std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(a));
        }
        link_or_copy(
            &t.checker,
            &rootfs.join(CHECKER_PATH.trim_start_matches('/')),
        )?;
        std::fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nuser10:x:10:10:user10:/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
        )?;
        std::fs::write(
            rootfs.join("etc/group"),
            "root:x:0:\ntty:x:5:\nuucp:x:10:\nnogroup:x:65534:\n",
        )?;
        Ok(Bundle {
            dir,
            rootfs,
            config: default_config(),
        })
    }

    /// Host path of a path inside the rootfs.
    pub fn host(&self, p: &str) -> PathBuf {
        self.rootfs.join(p.trim_start_matches('/'))
    }

    /// Host path of a busybox applet, for hooks.
    pub fn applet(&self, name: &str) -> String {
        self.host(&format!("/bin/{name}"))
            .to_string_lossy()
            .into_owned()
    }

    /// Write `config.json` and the checker's copy inside the rootfs.
    pub fn write(&self) -> Result<()> {
        let s = serde_json::to_string_pretty(&self.config)?;
        std::fs::write(self.dir.join("config.json"), &s)?;
        let copy = self.host(CONFIG_PATH);
        // The rootfs may hold a read-only copy from an earlier write.
        let _ = std::fs::remove_file(&copy);
        std::fs::write(&copy, &s)?;
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o644))?;
        Ok(())
    }

    /// Use the checker as the container process, with experiment arguments.
    pub fn checker_args(&mut self, exps: &[&str]) {
        let mut args = vec![json!(CHECKER_PATH)];
        for e in exps {
            args.push(json!("--exp"));
            args.push(json!(e));
        }
        self.config["process"]["args"] = Value::Array(args);
    }

    pub fn shell(&mut self, script: &str) {
        self.config["process"]["args"] = json!(["/bin/sh", "-c", script]);
    }

    pub fn add_ns(&mut self, t: &str, path: Option<&str>) {
        let ns = self.config["linux"]["namespaces"]
            .as_array_mut()
            .expect("namespaces");
        ns.retain(|n| n["type"] != t);
        match path {
            Some(p) => ns.push(json!({"type": t, "path": p})),
            None => ns.push(json!({"type": t})),
        }
    }

    pub fn remove_ns(&mut self, t: &str) {
        if let Some(ns) = self.config["linux"]["namespaces"].as_array_mut() {
            ns.retain(|n| n["type"] != t);
        }
    }

    /// A hook entry `sh -c script` with host paths.
    pub fn hook(&self, script: &str) -> Value {
        json!({"path": self.applet("sh"), "args": ["sh", "-c", script]})
    }

    pub fn add_hook(&mut self, kind: &str, hook: Value) {
        let hooks = &mut self.config["hooks"];
        if hooks.is_null() {
            *hooks = json!({});
        }
        if hooks[kind].is_null() {
            hooks[kind] = json!([]);
        }
        hooks[kind].as_array_mut().unwrap().push(hook);
    }

    pub fn read_rootfs(&self, p: &str) -> Option<String> {
        std::fs::read_to_string(self.host(p)).ok()
    }
}

pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// The default config (runtime-tools generator defaults, conformance-map §3.1),
/// with `root.path = "rootfs"` and no seccomp profile (seccomp has its own cases).
pub fn default_config() -> Value {
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": [CHECKER_PATH],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": DEFAULT_CAPS,
                "effective": DEFAULT_CAPS,
                "inheritable": DEFAULT_CAPS,
                "permitted": DEFAULT_CAPS,
                "ambient": DEFAULT_CAPS
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024u64, "soft": 1024u64}],
            "noNewPrivileges": false
        },
        "root": {"path": "rootfs", "readonly": false},
        "hostname": "mrsdalloway",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                {"type": "uts"}, {"type": "mount"}
            ]
        }
    })
}
