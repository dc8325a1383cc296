//! `features`: the runtime-spec features document (what this build supports).

use anyhow::Result;
use serde_json::json;

pub fn features() -> Result<()> {
    let caps: Vec<String> = (0..=40).filter_map(cap_name).map(str::to_string).collect();
    let doc = json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": oci_spec::runtime::VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": ["async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec",
            "iversion", "lazytime", "loud", "mand", "noatime", "nodev", "nodiratime", "noexec",
            "noiversion", "nolazytime", "nomand", "norelatime", "nostrictatime", "nosuid", "nosymfollow",
            "private", "rbind", "relatime", "remount", "ro", "rprivate", "rshared", "rslave",
            "runbindable", "rw", "shared", "silent", "slave", "strictatime", "suid", "symfollow",
            "sync", "tmpcopyup", "unbindable"],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps,
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": false},
            "seccomp": {
                "enabled": true,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                    "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                    "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                "archs": ["SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_AARCH64",
                    "SCMP_ARCH_ARM"]
            },
            "apparmor": {"enabled": true},
            "selinux": {"enabled": true},
            "intelRdt": {"enabled": true},
            "mountExtensions": {"idmap": {"enabled": true}}
        },
        "annotations": {
            "org.opencontainers.runtime-spec.features.sifrun.version": env!("CARGO_PKG_VERSION"),
            "io.github.seccomp.libseccomp.version": "2.5",
            "run.oci.engine": "libcontainer 0.7.0"
        }
    });
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(())
}

fn cap_name(n: u32) -> Option<&'static str> {
    bundle_tools::config::options::caps::ALL_CAPS
        .get(n as usize)
        .copied()
}
