//! `--add-caps`, `--drop-caps`, `--keep-privs`, `--no-privs` (oci-mode.md §4.6).

use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities};

/// SingularityCE's (Docker's) default set.
pub const DEFAULT_CAPS: [&str; 15] = [
    "CAP_NET_RAW",
    "CAP_NET_BIND_SERVICE",
    "CAP_AUDIT_READ",
    "CAP_AUDIT_WRITE",
    "CAP_DAC_OVERRIDE",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_MKNOD",
    "CAP_CHOWN",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SYS_CHROOT",
];

/// Every capability the kernel headers of this era know (for `ALL`), indexed by
/// number as in linux/capability.h.
pub const ALL_CAPS: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

fn cap(name: &str) -> Option<Capability> {
    serde_json::from_value(serde_json::Value::String(name.to_string())).ok()
}

/// A `--add-caps`/`--drop-caps` list: comma separated, trimmed, upper-cased, `CAP_`
/// optional, `ALL` = every capability. Unknown names are returned in the second list
/// (warned about and ignored, as SingularityCE does).
pub fn parse_cap_list(s: &str) -> (Vec<Capability>, Vec<String>) {
    let mut known = vec![];
    let mut unknown = vec![];
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let up = item.to_ascii_uppercase();
        if up == "ALL" {
            known.extend(ALL_CAPS.iter().filter_map(|c| cap(c)));
            continue;
        }
        let name = if up.starts_with("CAP_") {
            up
        } else {
            format!("CAP_{up}")
        };
        match cap(&name) {
            Some(c) => known.push(c),
            None => unknown.push(item.to_string()),
        }
    }
    (known, unknown)
}

/// What the process gets. `keep_privs`: the caller's set (SingularityCE takes the
/// launcher's effective set; inside its namespace that is every capability).
pub struct CapRequest<'a> {
    pub add: &'a [Capability],
    pub drop: &'a [Capability],
    pub keep_privs: bool,
    pub no_privs: bool,
}

/// The process capabilities for a process of `uid`: root gets the set in bounding,
/// permitted and effective; anyone else the set in bounding and only the added
/// capabilities in the other four.
pub fn capabilities(req: &CapRequest, uid: u32) -> LinuxCapabilities {
    let base: Capabilities = if req.no_privs {
        Capabilities::new()
    } else if req.keep_privs {
        ALL_CAPS.iter().filter_map(|c| cap(c)).collect()
    } else {
        DEFAULT_CAPS.iter().filter_map(|c| cap(c)).collect()
    };
    let mut set = base;
    set.extend(req.add.iter().copied());
    for d in req.drop {
        set.remove(d);
    }
    let added: Capabilities = req
        .add
        .iter()
        .filter(|c| !req.drop.contains(c))
        .copied()
        .collect();
    let mut lc = LinuxCapabilities::default();
    lc.set_bounding(Some(set.clone()));
    if uid == 0 {
        lc.set_permitted(Some(set.clone()));
        lc.set_effective(Some(set));
        lc.set_inheritable(Some(Capabilities::new()));
        lc.set_ambient(Some(Capabilities::new()));
    } else {
        lc.set_permitted(Some(added.clone()));
        lc.set_effective(Some(added.clone()));
        lc.set_inheritable(Some(added.clone()));
        lc.set_ambient(Some(added));
    }
    lc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_sets() {
        let (k, u) = parse_cap_list(" sys_admin ,CAP_NET_ADMIN,bogus,");
        assert_eq!(k, [Capability::SysAdmin, Capability::NetAdmin]);
        assert_eq!(u, ["bogus"]);
        assert_eq!(parse_cap_list("all").0.len(), ALL_CAPS.len());
        let drop = [Capability::Chown];
        let add = [Capability::SysAdmin];
        let req = CapRequest {
            add: &add,
            drop: &drop,
            keep_privs: false,
            no_privs: false,
        };
        let c = capabilities(&req, 0);
        let e = c.effective().as_ref().unwrap();
        assert!(e.contains(&Capability::SysAdmin) && !e.contains(&Capability::Chown));
        assert_eq!(e.len(), 15);
        let c = capabilities(&req, 1000);
        assert_eq!(c.bounding().as_ref().unwrap().len(), 15);
        assert_eq!(
            c.ambient().as_ref().unwrap().iter().collect::<Vec<_>>(),
            [&Capability::SysAdmin]
        );
        let none = CapRequest {
            add: &[],
            drop: &[],
            keep_privs: false,
            no_privs: true,
        };
        assert!(capabilities(&none, 0)
            .bounding()
            .as_ref()
            .unwrap()
            .is_empty());
    }
}
