use std::collections::BTreeMap;
use std::path::Path;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use super::controller::Controller;
use crate::common::{
    self, ControllerOpt, WrapIoResult, WrappedIoError, default_allow_devices, default_devices,
};

pub struct Devices {}

impl Controller for Devices {
    type Error = WrappedIoError;
    type Resource = ();

    fn apply(controller_opt: &ControllerOpt, cgroup_root: &Path) -> Result<(), Self::Error> {
        tracing::debug!("Apply Devices cgroup config");

        // sifrun patch 0007
        // Without device rules the devices cgroup is left as it is: a resource
        // update that does not name devices must not reset them.
        let Some(devices) = controller_opt.resources.devices().as_ref() else {
            return Ok(());
        };
        let rules: Vec<LinuxDeviceCgroup> = devices
            .iter()
            .cloned()
            .chain(default_devices().iter().map(|d| d.into()))
            .chain(default_allow_devices())
            .collect();
        Self::apply_rules(&rules, cgroup_root)
    }

    // always needs to be called due to default devices
    fn needs_to_handle<'a>(_controller_opt: &'a ControllerOpt) -> Option<&'a Self::Resource> {
        Some(&())
    }
}

impl Devices {
    // sifrun patch 0007: rules are written by apply_rules; the tests use this
    #[cfg(test)]
    fn apply_device(device: &LinuxDeviceCgroup, cgroup_root: &Path) -> Result<(), WrappedIoError> {
        let path = if device.allow() {
            cgroup_root.join("devices.allow")
        } else {
            cgroup_root.join("devices.deny")
        };

        common::write_cgroup_file_str(path, &device.to_string())?;
        Ok(())
    }

    // sifrun patch 0007
    /// Brings the cgroup from what its devices.list says to what `rules` ask for
    /// with the fewest writes (runc's devices emulator): rules already in effect
    /// are not written again, and the disruptive "a" rule (deny or allow all)
    /// only when the default policy changes. The kernel refuses an "a" rule in
    /// a cgroup that has children (EINVAL), and a deny-all makes every device
    /// of running processes fail until the allow rules follow.
    fn apply_rules(rules: &[LinuxDeviceCgroup], cgroup_root: &Path) -> Result<(), WrappedIoError> {
        let invalid = |msg: String| {
            Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, msg)).wrap_other(cgroup_root)
        };
        let mut target = Emulator::default();
        for rule in rules {
            if let Err(msg) = target.apply(rule) {
                return invalid(msg);
            }
        }
        let list = cgroup_root.join("devices.list");
        let current = match Emulator::from_list(&std::fs::read_to_string(&list).wrap_read(&list)?) {
            Ok(e) => e,
            Err(msg) => return invalid(format!("{}: {msg}", list.display())),
        };
        for (allow, rule) in current.transition(&target) {
            let file = if allow {
                "devices.allow"
            } else {
                "devices.deny"
            };
            common::write_cgroup_file_str(cgroup_root.join(file), &rule)?;
        }
        // What the kernel shows afterwards must be what was asked for (a
        // deny-by-default list exactly; allow-by-default lists cannot be read
        // back, only their mode).
        let after = match Emulator::from_list(&std::fs::read_to_string(&list).wrap_read(&list)?) {
            Ok(e) => e,
            Err(msg) => return invalid(format!("{}: {msg}", list.display())),
        };
        if (!target.default_allow && after != target) || after.default_allow != target.default_allow
        {
            return invalid("the devices cgroup does not match the requested rules".into());
        }
        Ok(())
    }
}

// sifrun patch 0007
/// A rule's device: type ('b' or 'c') and major/minor (`None` for `*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct DeviceMeta {
    typ: char,
    major: Option<i64>,
    minor: Option<i64>,
}

// sifrun patch 0007
/// r, w, m as bits 0, 1, 2.
type Perms = u8;

const PERM_CHARS: [(char, Perms); 3] = [('r', 1), ('w', 2), ('m', 4)];

fn parse_perms(s: &str) -> Result<Perms, String> {
    s.chars().try_fold(0, |acc, c| {
        PERM_CHARS
            .iter()
            .find(|(p, _)| *p == c)
            .map(|(_, bit)| acc | bit)
            .ok_or_else(|| format!("invalid device access {s:?}"))
    })
}

fn perms_str(p: Perms) -> String {
    PERM_CHARS
        .iter()
        .filter(|(_, bit)| p & bit != 0)
        .map(|(c, _)| *c)
        .collect()
}

// sifrun patch 0007
/// The state of a v1 devices cgroup: the default policy and its exceptions
/// (denied devices when allowing by default, allowed ones otherwise).
#[derive(Clone, Debug, Default, PartialEq)]
struct Emulator {
    default_allow: bool,
    rules: BTreeMap<DeviceMeta, Perms>,
}

impl Emulator {
    /// A rule as the kernel applies it; `None` meta is the "a" (all) rule.
    fn apply_one(
        &mut self,
        allow: bool,
        meta: Option<DeviceMeta>,
        perms: Perms,
    ) -> Result<(), String> {
        let Some(meta) = meta else {
            *self = Emulator {
                default_allow: allow,
                rules: BTreeMap::new(),
            };
            return Ok(());
        };
        if allow == self.default_allow {
            self.remove(meta, perms)
        } else {
            *self.rules.entry(meta).or_default() |= perms;
            Ok(())
        }
    }

    fn remove(&mut self, meta: DeviceMeta, perms: Perms) -> Result<(), String> {
        // v1 silently ignores the removal of part of a wildcard exception;
        // refuse it rather than leave more allowed (or denied) than asked.
        for partial in [
            DeviceMeta {
                major: None,
                ..meta
            },
            DeviceMeta {
                minor: None,
                ..meta
            },
            DeviceMeta {
                major: None,
                minor: None,
                ..meta
            },
        ] {
            if partial == meta {
                continue;
            }
            if self.rules.get(&partial).is_some_and(|p| p & perms != 0) {
                return Err(format!(
                    "device rule {} {}:{} {} cannot punch a hole in the wildcard rule {} {}:{} (not supported by cgroup v1)",
                    meta.typ,
                    num(meta.major),
                    num(meta.minor),
                    perms_str(perms),
                    partial.typ,
                    num(partial.major),
                    num(partial.minor),
                ));
            }
        }
        if let Some(p) = self.rules.get_mut(&meta) {
            *p &= !perms;
            if *p == 0 {
                self.rules.remove(&meta);
            }
        }
        Ok(())
    }

    /// One rule of the container's config.
    fn apply(&mut self, rule: &LinuxDeviceCgroup) -> Result<(), String> {
        let typ = rule.typ().unwrap_or_default();
        let meta = match typ {
            LinuxDeviceType::A => None,
            LinuxDeviceType::B | LinuxDeviceType::C => Some(DeviceMeta {
                typ: if typ == LinuxDeviceType::B { 'b' } else { 'c' },
                major: rule.major().filter(|m| *m >= 0),
                minor: rule.minor().filter(|m| *m >= 0),
            }),
            _ => {
                return Err(format!(
                    "device rule {rule}: type {} cannot be used in a devices cgroup",
                    typ.as_str()
                ));
            }
        };
        let perms = parse_perms(rule.access().as_deref().unwrap_or(""))?;
        if meta.is_some() && perms == 0 {
            // allows or denies nothing
            return Ok(());
        }
        self.apply_one(rule.allow(), meta, perms)
    }

    /// A devices.list: "a *:* rwm" when everything is allowed (its deny
    /// exceptions are not listed), else the allowed devices.
    fn from_list(list: &str) -> Result<Self, String> {
        let mut e = Emulator::default();
        for line in list.lines().filter(|l| !l.trim().is_empty()) {
            let bad = || format!("cannot parse devices.list line {line:?}");
            let mut f = line.split_whitespace();
            let (Some(typ), Some(nums), Some(access), None) =
                (f.next(), f.next(), f.next(), f.next())
            else {
                return Err(bad());
            };
            let (major, minor) = nums.split_once(':').ok_or_else(bad)?;
            let n = |s: &str| -> Result<Option<i64>, String> {
                if s == "*" {
                    Ok(None)
                } else {
                    s.parse().map(Some).map_err(|_| bad())
                }
            };
            let meta = match typ {
                "a" => None,
                "b" | "c" => Some(DeviceMeta {
                    typ: typ.chars().next().unwrap_or('c'),
                    major: n(major)?,
                    minor: n(minor)?,
                }),
                _ => return Err(bad()),
            };
            e.apply_one(true, meta, parse_perms(access)?)?;
        }
        Ok(e)
    }

    /// The (allow, rule) writes that take a cgroup in state `self` to `target`.
    fn transition(&self, target: &Emulator) -> Vec<(bool, String)> {
        let line = |m: &DeviceMeta, p: Perms| {
            format!(
                "{} {}:{} {}",
                m.typ,
                num(m.major),
                num(m.minor),
                perms_str(p)
            )
        };
        let mut writes = Vec::new();
        let empty = BTreeMap::new();
        let mut old = &self.rules;
        // The deny exceptions of an allow-all cgroup cannot be read, so it is
        // reset as well as one whose default policy changes.
        if self.default_allow || self.default_allow != target.default_allow {
            writes.push((target.default_allow, "a *:* rwm".to_string()));
            old = &empty;
        }
        for (meta, perms) in old {
            let dropped = perms & !target.rules.get(meta).copied().unwrap_or(0);
            if dropped != 0 {
                writes.push((target.default_allow, line(meta, dropped)));
            }
        }
        for (meta, perms) in &target.rules {
            let gained = perms & !old.get(meta).copied().unwrap_or(0);
            if gained != 0 {
                writes.push((!target.default_allow, line(meta, gained)));
            }
        }
        writes
    }
}

fn num(n: Option<i64>) -> String {
    n.map_or_else(|| "*".to_string(), |n| n.to_string())
}

#[cfg(test)]
mod tests {
    use std::fs::read_to_string;

    use oci_spec::runtime::{LinuxDeviceCgroupBuilder, LinuxDeviceType};

    use super::*;
    use crate::test::set_fixture;

    #[test]
    fn test_set_default_devices() {
        let tmp = tempfile::tempdir().unwrap();

        default_allow_devices().iter().for_each(|d| {
            // NOTE: We reset the fixtures every iteration because files aren't appended
            // so what happens in the tests is you get strange overwrites which can contain
            // remaining bytes from the last iteration. Resetting the files more appropriately
            // mocks the behavior of cgroup files.
            set_fixture(tmp.path(), "devices.allow", "").expect("create allowed devices list");
            set_fixture(tmp.path(), "devices.deny", "").expect("create denied devices list");

            Devices::apply_device(d, tmp.path()).expect("Apply default device");
            println!("Device: {}", d);
            if d.allow() {
                let allowed_content =
                    read_to_string(tmp.path().join("devices.allow")).expect("read to string");
                assert_eq!(allowed_content, d.to_string());
            } else {
                let denied_content =
                    read_to_string(tmp.path().join("devices.deny")).expect("read to string");
                assert_eq!(denied_content, d.to_string());
            }
        });
    }

    #[test]
    fn test_set_mock_devices() {
        let tmp = tempfile::tempdir().unwrap();
        [
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .typ(LinuxDeviceType::C)
                .major(10)
                .access("rwm")
                .build()
                .unwrap(),
            LinuxDeviceCgroupBuilder::default()
                .allow(true)
                .typ(LinuxDeviceType::A)
                .minor(200)
                .access("rwm")
                .build()
                .unwrap(),
            LinuxDeviceCgroupBuilder::default()
                .allow(false)
                .typ(LinuxDeviceType::P)
                .major(10)
                .minor(200)
                .access("m")
                .build()
                .unwrap(),
            LinuxDeviceCgroupBuilder::default()
                .allow(false)
                .typ(LinuxDeviceType::U)
                .access("rw")
                .build()
                .unwrap(),
        ]
        .iter()
        .for_each(|d| {
            set_fixture(tmp.path(), "devices.allow", "").expect("create allowed devices list");
            set_fixture(tmp.path(), "devices.deny", "").expect("create denied devices list");

            Devices::apply_device(d, tmp.path()).expect("Apply default device");
            println!("Device: {}", d);
            if d.allow() {
                let allowed_content =
                    read_to_string(tmp.path().join("devices.allow")).expect("read to string");
                assert_eq!(allowed_content, d.to_string());
            } else {
                let denied_content =
                    read_to_string(tmp.path().join("devices.deny")).expect("read to string");
                assert_eq!(denied_content, d.to_string());
            }
        });
    }

    quickcheck! {
        fn property_test_apply_device(device: LinuxDeviceCgroup) -> bool {
            let tmp = tempfile::tempdir().unwrap();
            set_fixture(tmp.path(), "devices.allow", "").expect("create allowed devices list");
            set_fixture(tmp.path(), "devices.deny", "").expect("create denied devices list");
            Devices::apply_device(&device, tmp.path()).expect("Apply default device");
            if device.allow() {
                let allowed_content =
                    read_to_string(tmp.path().join("devices.allow")).expect("read to string");
                allowed_content == device.to_string()
            } else {
                let denied_content =
                    read_to_string(tmp.path().join("devices.deny")).expect("read to string");
                denied_content == device.to_string()
            }
        }

        fn property_test_apply_multiple_devices(devices: Vec<LinuxDeviceCgroup>) -> bool {
            let tmp = tempfile::tempdir().unwrap();
            devices.iter()
                .all(|device| {
                    set_fixture(tmp.path(), "devices.allow", "").expect("create allowed devices list");
                    set_fixture(tmp.path(), "devices.deny", "").expect("create denied devices list");
                    Devices::apply_device(device, tmp.path()).expect("Apply default device");
                    if device.allow() {
                        let allowed_content =
                            read_to_string(tmp.path().join("devices.allow")).expect("read to string");
                        allowed_content == device.to_string()
                    } else {
                        let denied_content =
                            read_to_string(tmp.path().join("devices.deny")).expect("read to string");
                        denied_content == device.to_string()
                    }
                })
        }
    }

    // sifrun patch 0007
    fn rule(
        allow: bool,
        typ: LinuxDeviceType,
        major: Option<i64>,
        minor: Option<i64>,
        access: &str,
    ) -> LinuxDeviceCgroup {
        let mut b = LinuxDeviceCgroupBuilder::default()
            .allow(allow)
            .typ(typ)
            .access(access);
        if let Some(m) = major {
            b = b.major(m);
        }
        if let Some(m) = minor {
            b = b.minor(m);
        }
        b.build().unwrap()
    }

    #[test]
    fn transition_from_allow_all_resets() {
        let mut target = Emulator::default();
        target
            .apply(&rule(false, LinuxDeviceType::A, None, None, "rwm"))
            .unwrap();
        target
            .apply(&rule(true, LinuxDeviceType::C, Some(1), Some(3), "rwm"))
            .unwrap();
        let current = Emulator::from_list("a *:* rwm\n").unwrap();
        assert_eq!(
            current.transition(&target),
            vec![
                (false, "a *:* rwm".to_string()),
                (true, "c 1:3 rwm".to_string())
            ]
        );
    }

    #[test]
    fn transition_between_allow_lists_is_minimal() {
        let mut target = Emulator::default();
        target
            .apply(&rule(false, LinuxDeviceType::A, None, None, "rwm"))
            .unwrap();
        target
            .apply(&rule(true, LinuxDeviceType::C, Some(1), Some(3), "rwm"))
            .unwrap();
        target
            .apply(&rule(true, LinuxDeviceType::C, Some(1), Some(5), "rw"))
            .unwrap();
        let current = Emulator::from_list("c 1:3 rwm\nc 1:5 r\nc 4:5 r\n").unwrap();
        assert_eq!(
            current.transition(&target),
            vec![
                (false, "c 4:5 r".to_string()),
                (true, "c 1:5 w".to_string())
            ]
        );
        assert!(target.transition(&target).is_empty());
    }

    #[test]
    fn no_hole_in_wildcard() {
        let mut e = Emulator::from_list("c 136:* rwm\n").unwrap();
        assert!(
            e.apply(&rule(false, LinuxDeviceType::C, Some(136), Some(2), "rwm"))
                .is_err()
        );
        assert!(
            e.apply(&rule(true, LinuxDeviceType::U, Some(1), Some(1), "rwm"))
                .is_err()
        );
    }
}
