//! `features`: the runtime-spec features document (what this build supports).

use anyhow::Result;
use serde_json::json;

pub fn features() -> Result<()> {
    let caps: Vec<String> = (0..=40).filter_map(cap_name).map(str::to_string).collect();
    let doc = json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": crate::state::container::OCI_VERSION,
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
                    "SCMP_ARCH_ARM"],
                // The engine passes these to seccomp(2) itself (TSYNC is accepted and
                // not needed); supported = known and taken by this kernel.
                "knownFlags": KNOWN_SECCOMP_FLAGS,
                "supportedFlags": supported_seccomp_flags()
            },
            "apparmor": {"enabled": true},
            "selinux": {"enabled": true},
            "intelRdt": {"enabled": true},
            "memoryPolicy": {
                "modes": ["MPOL_BIND", "MPOL_DEFAULT", "MPOL_INTERLEAVE", "MPOL_LOCAL", "MPOL_PREFERRED",
                    "MPOL_PREFERRED_MANY", "MPOL_WEIGHTED_INTERLEAVE"],
                "flags": ["MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES", "MPOL_F_STATIC_NODES"]
            },
            "mountExtensions": {"idmap": {"enabled": true}}
        },
        // No annotation of the config changes what sifrun does.
        "potentiallyUnsafeConfigAnnotations": [],
        "annotations": {
            "org.opencontainers.runtime-spec.features.sifrun.version": env!("CARGO_PKG_VERSION"),
            "io.github.seccomp.libseccomp.version": "2.5",
            "run.oci.engine": "libcontainer 0.7.0"
        }
    });
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(())
}

/// linux.seccomp.flags the engine knows, with their seccomp(2) flag bit (TSYNC: none).
const SECCOMP_FLAGS: [(&str, u32); 4] = [
    ("SECCOMP_FILTER_FLAG_TSYNC", 0),
    ("SECCOMP_FILTER_FLAG_SPEC_ALLOW", 1 << 2),
    ("SECCOMP_FILTER_FLAG_LOG", 1 << 1),
    ("SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", 1 << 5),
];
const KNOWN_SECCOMP_FLAGS: [&str; 4] = [
    SECCOMP_FLAGS[0].0,
    SECCOMP_FLAGS[1].0,
    SECCOMP_FLAGS[2].0,
    SECCOMP_FLAGS[3].0,
];

/// Asks the kernel, as runc does: SECCOMP_GET_ACTION_AVAIL-style probing is not there
/// for flags, but seccomp(SECCOMP_SET_MODE_FILTER, flag, NULL) fails with EFAULT for a
/// known flag (it gets as far as reading the program) and EINVAL for an unknown one.
fn supported_seccomp_flags() -> Vec<&'static str> {
    const SECCOMP_SET_MODE_FILTER: libc::c_ulong = 1;
    const NEW_LISTENER: u32 = 1 << 3;
    SECCOMP_FLAGS
        .iter()
        .filter(|(_, bit)| {
            if *bit == 0 {
                return true;
            }
            // WAIT_KILLABLE_RECV is only taken together with a listener.
            let bits = if *bit == 1 << 5 {
                bit | NEW_LISTENER
            } else {
                *bit
            };
            // SAFETY: a NULL program: the kernel checks the flags, then fails to read it.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_seccomp,
                    SECCOMP_SET_MODE_FILTER,
                    bits as libc::c_ulong,
                    std::ptr::null::<libc::c_void>(),
                )
            };
            r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EFAULT)
        })
        .map(|(name, _)| *name)
        .collect()
}

fn cap_name(n: u32) -> Option<&'static str> {
    bundle_tools::config::options::caps::ALL_CAPS
        .get(n as usize)
        .copied()
}
