//! Who the caller is and how a bundle maps ids for an unprivileged caller.
//!
//! SingularityCE's OCI mode uses two user namespaces (§3.1 and §3.3 of oci-mode.md):
//! an outer one (`0 → caller`, `1.. → subuids`) and, unless the process is root
//! inside, an inner one that undoes it so the caller keeps its own uid. sifrun is the
//! runtime itself, so it writes the composition of the two as one host-based mapping.
//! Users and groups are read from the files, never through NSS: this binary is
//! static and cannot load NSS modules.

use std::path::Path;

use oci_spec::runtime::{LinuxIdMapping, LinuxIdMappingBuilder};

use crate::error::{Error, Result};

/// Subordinate range sizes below this are refused, as SingularityCE does.
pub const MIN_SUBID_RANGE: u32 = 65536;

/// The calling user, from /etc/passwd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub uid: u32,
    pub gid: u32,
    pub name: String,
    pub gecos: String,
    pub home: String,
    pub shell: String,
}

impl Caller {
    /// The effective user of this process (an entry is made up if /etc/passwd has none).
    pub fn current() -> Caller {
        let uid = nix::unistd::geteuid().as_raw();
        let gid = nix::unistd::getegid().as_raw();
        let text = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        Caller::from_passwd(&text, uid).unwrap_or(Caller {
            uid,
            gid,
            name: uid.to_string(),
            gecos: String::new(),
            home: "/".into(),
            shell: "/bin/sh".into(),
        })
    }

    /// `uid`'s entry in a passwd file's text.
    pub fn from_passwd(text: &str, uid: u32) -> Option<Caller> {
        text.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 7 || f[2].parse::<u32>().ok()? != uid {
                return None;
            }
            Some(Caller {
                uid,
                gid: f[3].parse().ok()?,
                name: f[0].into(),
                gecos: f[4].into(),
                home: f[5].into(),
                shell: f[6].into(),
            })
        })
    }

    pub fn is_root(&self) -> bool {
        self.uid == 0
    }
}

/// A subordinate id range (`/etc/subuid` or `/etc/subgid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubIds {
    pub start: u32,
    pub count: u32,
}

/// The caller's entry in a subid file's text, chosen as SingularityCE does: lines
/// `user:start:count` (user by name or uid; a `!` prefix disables it); the first with a
/// count of exactly 65536 wins, else the largest above it. `Ok(None)`: no entry;
/// `Err`: only entries that are too small or disabled.
pub fn select_subids(text: &str, name: &str, uid: u32) -> Result<Option<SubIds>> {
    let uid_s = uid.to_string();
    let mut best: Option<SubIds> = None;
    let mut small = None;
    let mut disabled = false;
    for l in text.lines() {
        let f: Vec<&str> = l.trim().split(':').collect();
        if f.len() != 3 {
            continue;
        }
        let (user, off) = match f[0].strip_prefix('!') {
            Some(u) => (u, true),
            None => (f[0], false),
        };
        if user != name && user != uid_s {
            continue;
        }
        if off {
            disabled = true;
            continue;
        }
        let (Ok(start), Ok(count)) = (f[1].parse::<u32>(), f[2].parse::<u32>()) else {
            continue;
        };
        let r = SubIds { start, count };
        if count == MIN_SUBID_RANGE {
            return Ok(Some(r));
        }
        if count < MIN_SUBID_RANGE {
            small = Some(count);
        } else if best.is_none_or(|b| count > b.count) {
            best = Some(r);
        }
    }
    match (best, small, disabled) {
        (Some(b), _, _) => Ok(Some(b)),
        (None, Some(n), _) => Err(Error::Options(format!(
            "subuid range size ({n}) must be at least {MIN_SUBID_RANGE}"
        ))),
        (None, None, true) => Err(Error::Options(format!(
            "the subordinate id entry of {name} is disabled by the administrator"
        ))),
        (None, None, false) => Ok(None),
    }
}

/// The caller's entry in `file` (a missing file is no entry).
pub fn subids_from(file: &Path, caller: &Caller) -> Result<Option<SubIds>> {
    match std::fs::read_to_string(file) {
        Ok(t) => select_subids(&t, &caller.name, caller.uid)
            .map_err(|e| Error::Options(format!("{}: {e}", file.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(file, e)),
    }
}

/// How the container's ids relate to the host's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdMap {
    /// Root on the host: no user namespace (unless asked for).
    Host,
    /// The caller's subordinate ranges are mapped: the caller keeps its own id (or is
    /// root inside with `--fakeroot`), every other id up to the range size exists.
    Sub {
        uid: SubIds,
        gid: SubIds,
        fakeroot: bool,
    },
    /// No subordinate ids: the caller alone is mapped, as root inside (libcontainer,
    /// like runc, must become uid 0 in the namespace to set the container up).
    Single,
}

impl IdMap {
    /// Pick the mapping for `caller`. `fakeroot` asks for root inside.
    pub fn choose(caller: &Caller, sub: Option<(SubIds, SubIds)>, fakeroot: bool) -> IdMap {
        if caller.is_root() {
            return IdMap::Host;
        }
        match sub {
            Some((uid, gid)) => IdMap::Sub { uid, gid, fakeroot },
            None => IdMap::Single,
        }
    }

    /// `(uidMappings, gidMappings)` for the caller; empty for [`IdMap::Host`].
    pub fn mappings(&self, caller: &Caller) -> (Vec<LinuxIdMapping>, Vec<LinuxIdMapping>) {
        match self {
            IdMap::Host => (vec![], vec![]),
            IdMap::Single => (vec![map(0, caller.uid, 1)], vec![map(0, caller.gid, 1)]),
            IdMap::Sub { uid, gid, fakeroot } => (
                ranges(caller.uid, *uid, *fakeroot),
                ranges(caller.gid, *gid, *fakeroot),
            ),
        }
    }

    /// Whether `uid` exists in the container (is mapped to some host id).
    pub fn maps_uid(&self, caller: &Caller, uid: u32) -> bool {
        self.host_uid(caller, uid).is_some()
    }

    /// The host uid a container uid runs as (None: unmapped).
    pub fn host_uid(&self, caller: &Caller, uid: u32) -> Option<u32> {
        let (u, _) = self.mappings(caller);
        if u.is_empty() {
            return Some(uid);
        }
        to_host(&u, uid)
    }
}

/// The host id of container id `id` under `maps` (None: unmapped).
pub fn to_host(maps: &[LinuxIdMapping], id: u32) -> Option<u32> {
    maps.iter()
        .find(|m| id >= m.container_id() && id - m.container_id() < m.size())
        .map(|m| m.host_id() + (id - m.container_id()))
}

/// The identity mapping of every id (a user namespace that changes no ids).
pub fn identity() -> LinuxIdMapping {
    map(0, 0, u32::MAX)
}

fn map(container: u32, host: u32, size: u32) -> LinuxIdMapping {
    LinuxIdMappingBuilder::default()
        .container_id(container)
        .host_id(host)
        .size(size)
        .build()
        .expect("all fields set")
}

/// The single-level view of §3.3 composed with §3.1: with `fakeroot`, `0 → H` and
/// `[1, N] → [S, S+N)`; otherwise the caller `H → H`, the ids below it from the
/// start of the range and those above it (up to N) from the rest.
fn ranges(h: u32, sub: SubIds, fakeroot: bool) -> Vec<LinuxIdMapping> {
    let (s, n) = (sub.start, sub.count);
    if fakeroot {
        return vec![map(0, h, 1), map(1, s, n)];
    }
    let mut v = Vec::new();
    if h < n {
        if h > 0 {
            v.push(map(0, s, h));
        }
        v.push(map(h, h, 1));
        v.push(map(h + 1, s + h, n - h));
    } else {
        v.push(map(0, s, n));
        v.push(map(h, h, 1));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(uid: u32, gid: u32) -> Caller {
        Caller {
            uid,
            gid,
            name: "u".into(),
            gecos: String::new(),
            home: "/home/u".into(),
            shell: "/bin/sh".into(),
        }
    }
    const R: SubIds = SubIds {
        start: 100000,
        count: 65536,
    };

    fn triples(v: &[LinuxIdMapping]) -> Vec<(u32, u32, u32)> {
        v.iter()
            .map(|m| (m.container_id(), m.host_id(), m.size()))
            .collect()
    }

    #[test]
    fn subid_selection_follows_singularity() {
        let t = "other:1:65536\nu:200000:70000\nu:300000:65536\n";
        assert_eq!(
            select_subids(t, "u", 5).unwrap(),
            Some(SubIds {
                start: 300000,
                count: 65536
            })
        );
        let t = "u:200000:70000\n5:400000:100000\n";
        assert_eq!(select_subids(t, "u", 5).unwrap().unwrap().start, 400000);
        assert!(select_subids("u:1:1000\n", "u", 5)
            .unwrap_err()
            .to_string()
            .contains("at least 65536"));
        assert!(select_subids("!u:1:65536\n", "u", 5).is_err());
        assert_eq!(select_subids("x:1:65536\ngarbage\n", "u", 5).unwrap(), None);
    }

    #[test]
    fn caller_keeps_own_id_below_range_size() {
        let c = caller(1000, 1000);
        let m = IdMap::choose(&c, Some((R, R)), false);
        let (u, g) = m.mappings(&c);
        assert_eq!(
            triples(&u),
            [(0, 100000, 1000), (1000, 1000, 1), (1001, 101000, 64536)]
        );
        assert_eq!(triples(&u), triples(&g));
        assert_eq!(m.host_uid(&c, 1000), Some(1000));
        assert_eq!(m.host_uid(&c, 0), Some(100000));
        assert_eq!(m.host_uid(&c, 65536), Some(165535));
        assert_eq!(m.host_uid(&c, 65537), None);
    }

    #[test]
    fn caller_above_range_size_and_fakeroot_and_single() {
        let c = caller(70000, 70000);
        let (u, _) = IdMap::choose(&c, Some((R, R)), false).mappings(&c);
        assert_eq!(triples(&u), [(0, 100000, 65536), (70000, 70000, 1)]);
        let (u, _) = IdMap::choose(&c, Some((R, R)), true).mappings(&c);
        assert_eq!(triples(&u), [(0, 70000, 1), (1, 100000, 65536)]);
        let m = IdMap::choose(&c, None, false);
        assert_eq!(m, IdMap::Single);
        assert_eq!(triples(&m.mappings(&c).0), [(0, 70000, 1)]);
        assert!(!m.maps_uid(&c, 1000));
        assert_eq!(
            IdMap::choose(&caller(0, 0), Some((R, R)), true),
            IdMap::Host
        );
    }

    #[test]
    fn passwd_lookup() {
        let t = "root:x:0:0:root:/root:/bin/bash\nu:x:1000:100:U Ser:/home/u:/bin/zsh\n";
        let c = Caller::from_passwd(t, 1000).unwrap();
        assert_eq!(
            (c.name.as_str(), c.gid, c.home.as_str()),
            ("u", 100, "/home/u")
        );
        assert!(Caller::from_passwd(t, 5).is_none());
    }
}
