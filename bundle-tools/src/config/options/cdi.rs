//! Container Device Interface (CDI): `--device vendor/class=name` and `--cdi-dirs`.
//!
//! Reproduces what SingularityCE's OCI launcher does through
//! `tags.cncf.io/container-device-interface` v1.1.0 (docs/oci-mode.md §4.8):
//! [`Registry::load`] reads every CDI spec file (`*.json`, `*.yaml`) found directly in
//! the spec directories (a later directory wins, a name defined twice in one directory
//! is a conflict, any bad file aborts), and [`Registry::apply`] injects the container
//! edits of the requested devices into an OCI runtime spec: the spec-level edits once
//! per spec file used, then each device's own edits.
//!
//! Where v1.1.0 has an accident rather than a rule, this module does the sensible thing
//! and says so: env entries already in the spec are replaced by key (v1.1.0's
//! runtime-tools editor only matched entries it had added itself, later fixed upstream);
//! unknown fields in spec files are ignored (v1.1.0 parses strictly); a `fileMode`
//! missing from an otherwise complete device node is taken from the host node when one
//! exists; vendor/class names of one character are valid (v1.1.0 panics on them).
//! Spec files are trusted (root-owned directories) but read defensively: regular files
//! of at most [`MAX_SPEC_SIZE`] bytes, and device nodes are only ever `lstat`ed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::OsStr;
use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    Hook, Hooks, Linux, LinuxDevice, LinuxDeviceCgroup, LinuxDeviceType, LinuxIntelRdt,
    LinuxNetDevice, Mount, Process, Spec,
};
use serde::{Deserialize, Deserializer};

use crate::error::{Error, Result};

/// Spec directories used when --cdi-dirs is not given.
pub const DEFAULT_CDI_DIRS: [&str; 2] = ["/etc/cdi", "/var/run/cdi"];

/// Largest spec file read; CDI specs are a few KiB.
pub const MAX_SPEC_SIZE: u64 = 4 << 20;

/// Known CDI spec versions, oldest first.
const VERSIONS: [&str; 10] = [
    "0.1.0", "0.2.0", "0.3.0", "0.4.0", "0.5.0", "0.6.0", "0.7.0", "0.8.0", "1.0.0", "1.1.0",
];
/// Index in [`VERSIONS`] of the oldest version a spec may require (0.3.0).
const EARLIEST_REQUIRED: usize = 2;

const HOOK_NAMES: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

// ---------------------------------------------------------------------------------------
// Spec file format (CDI spec up to 1.1.0)

/// `null` reads as the default, as Go's decoder does for slices, maps and strings.
fn nullable<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `fileMode` as a number, or as a YAML 1.1 octal string like `0666`: CDI reads YAML
/// with go-yaml v2, where `0666` is octal, while serde_yaml (YAML 1.2) keeps it a string.
fn file_mode<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<u32>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Num(u32),
        Str(String),
    }
    match Option::<Repr>::deserialize(d)? {
        None => Ok(None),
        Some(Repr::Num(n)) => Ok(Some(n)),
        Some(Repr::Str(s)) => {
            let octal = s.strip_prefix('0').filter(|o| !o.is_empty());
            octal
                .and_then(|o| u32::from_str_radix(o, 8).ok())
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom(format!("invalid fileMode {s:?}")))
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSpec {
    #[serde(default, deserialize_with = "nullable")]
    cdi_version: String,
    #[serde(default, deserialize_with = "nullable")]
    kind: String,
    #[serde(default, deserialize_with = "nullable")]
    annotations: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "nullable")]
    devices: Vec<RawDevice>,
    #[serde(default, deserialize_with = "nullable")]
    container_edits: Edits,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDevice {
    #[serde(default, deserialize_with = "nullable")]
    name: String,
    #[serde(default, deserialize_with = "nullable")]
    annotations: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "nullable")]
    container_edits: Edits,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Edits {
    #[serde(default, deserialize_with = "nullable")]
    env: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    device_nodes: Vec<DeviceNode>,
    #[serde(default, deserialize_with = "nullable")]
    net_devices: Vec<NetDevice>,
    #[serde(default, deserialize_with = "nullable")]
    hooks: Vec<CdiHook>,
    #[serde(default, deserialize_with = "nullable")]
    mounts: Vec<CdiMount>,
    #[serde(default)]
    intel_rdt: Option<IntelRdt>,
    #[serde(default, deserialize_with = "nullable")]
    additional_gids: Vec<u32>,
}

impl Edits {
    fn is_empty(&self) -> bool {
        self.env.is_empty()
            && self.device_nodes.is_empty()
            && self.net_devices.is_empty()
            && self.hooks.is_empty()
            && self.mounts.is_empty()
            && self.intel_rdt.is_none()
            && self.additional_gids.is_empty()
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeviceNode {
    #[serde(default, deserialize_with = "nullable")]
    path: String,
    #[serde(default, deserialize_with = "nullable")]
    host_path: String,
    #[serde(default, rename = "type", deserialize_with = "nullable")]
    typ: String,
    #[serde(default, deserialize_with = "nullable")]
    major: i64,
    #[serde(default, deserialize_with = "nullable")]
    minor: i64,
    #[serde(default, deserialize_with = "file_mode")]
    file_mode: Option<u32>,
    #[serde(default, deserialize_with = "nullable")]
    permissions: String,
    #[serde(default)]
    uid: Option<u32>,
    #[serde(default)]
    gid: Option<u32>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct NetDevice {
    #[serde(default, deserialize_with = "nullable")]
    host_interface_name: String,
    #[serde(default, deserialize_with = "nullable")]
    name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CdiHook {
    #[serde(default, deserialize_with = "nullable")]
    hook_name: String,
    #[serde(default, deserialize_with = "nullable")]
    path: String,
    #[serde(default, deserialize_with = "nullable")]
    args: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    env: Vec<String>,
    #[serde(default)]
    timeout: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CdiMount {
    #[serde(default, deserialize_with = "nullable")]
    host_path: String,
    #[serde(default, deserialize_with = "nullable")]
    container_path: String,
    #[serde(default, deserialize_with = "nullable")]
    options: Vec<String>,
    #[serde(default, rename = "type", deserialize_with = "nullable")]
    typ: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IntelRdt {
    #[serde(
        default,
        rename = "closID",
        alias = "closId",
        deserialize_with = "nullable"
    )]
    clos_id: String,
    #[serde(default, deserialize_with = "nullable")]
    l3_cache_schema: String,
    #[serde(default, deserialize_with = "nullable")]
    mem_bw_schema: String,
    // Presence matters for the version check, so no `nullable` here.
    #[serde(default)]
    schemata: Option<Vec<String>>,
    #[serde(default, deserialize_with = "nullable")]
    enable_monitoring: bool,
}

// ---------------------------------------------------------------------------------------
// Registry

/// One loaded spec file.
#[derive(Debug, Clone)]
struct LoadedSpec {
    path: PathBuf,
    priority: usize,
    edits: Edits,
    /// (unqualified name, edits), in file order.
    devices: Vec<(String, Edits)>,
}

#[derive(Debug, Clone, Copy)]
struct DeviceRef {
    spec: usize,
    device: usize,
}

/// All CDI specs found in the spec directories.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    specs: Vec<LoadedSpec>,
    /// Fully-qualified name -> device.
    devices: BTreeMap<String, DeviceRef>,
}

impl Registry {
    /// Load `*.json` / `*.yaml` files directly in each dir (no recursion; a missing dir is
    /// fine; an empty `dirs` means [`DEFAULT_CDI_DIRS`], as CDI's `WithSpecDirs()` does).
    /// `*.yml` is not read, as CDI v1.1.0 does not read it. A spec dir that is itself a
    /// symlink is skipped, as CDI's `filepath.Walk` scan does; spec files may be symlinks.
    /// For the same fully-qualified device name a later dir wins; duplicates within one dir
    /// are a conflict. Any load error or conflict -> Err("error refreshing CDI cache: ...").
    pub fn load(dirs: &[PathBuf]) -> Result<Registry> {
        let defaults: Vec<PathBuf>;
        let dirs = if dirs.is_empty() {
            defaults = DEFAULT_CDI_DIRS.iter().map(PathBuf::from).collect();
            &defaults[..]
        } else {
            dirs
        };

        let mut reg = Registry::default();
        let mut errors: Vec<String> = Vec::new();
        for (priority, dir) in dirs.iter().enumerate() {
            let files = match spec_files(dir) {
                Ok(files) => files,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            for path in files {
                match read_spec(&path) {
                    Ok(raw) => reg.add(raw, path, priority, &mut errors),
                    Err(e) => errors.push(e),
                }
            }
        }
        if !errors.is_empty() {
            return Err(options_error(format!(
                "error refreshing CDI cache: {}",
                errors.join("; ")
            )));
        }
        Ok(reg)
    }

    fn add(&mut self, raw: RawSpec, path: PathBuf, priority: usize, errors: &mut Vec<String>) {
        let index = self.specs.len();
        for (device, dev) in raw.devices.iter().enumerate() {
            let qualified = format!("{}={}", raw.kind, dev.name);
            if let Some(old) = self
                .devices
                .get(&qualified)
                .and_then(|r| self.specs.get(r.spec))
            {
                // Directories are scanned in priority order, so `old` is never higher.
                if old.priority >= priority {
                    errors.push(format!(
                        "conflicting device {qualified:?} (specs {:?}, {:?})",
                        path, old.path
                    ));
                    continue;
                }
            }
            self.devices.insert(
                qualified,
                DeviceRef {
                    spec: index,
                    device,
                },
            );
        }
        self.specs.push(LoadedSpec {
            path,
            priority,
            edits: raw.container_edits,
            devices: raw
                .devices
                .into_iter()
                .map(|d| (d.name, d.container_edits))
                .collect(),
        });
    }

    /// Validate each name (`vendor/class=name`, else `string "X" does not represent a valid
    /// CDI device`), resolve them (unknown ones -> `while setting up CDI devices:
    /// unresolvable CDI devices X, Y`), and apply the edits to `spec` as docs/oci-mode.md
    /// §4.8 says. Call it once `process` is final (uid/gid defaults come from it) and
    /// before appending mounts that must stay last: if any CDI mount is added, the whole
    /// mount list is stably sorted by depth. On error `spec` is left unchanged. Does
    /// nothing (and succeeds) when `devices` is empty.
    pub fn apply(&self, devices: &[String], spec: &mut Spec) -> Result<()> {
        if devices.is_empty() {
            return Ok(());
        }
        if let Some(bad) = devices.iter().find(|d| validate_qualified_name(d).is_err()) {
            return Err(options_error(format!(
                "string {bad:?} does not represent a valid CDI device"
            )));
        }

        let mut unresolved: Vec<&str> = Vec::new();
        let mut chain: Vec<&Edits> = Vec::new();
        let mut specs_used: BTreeSet<usize> = BTreeSet::new();
        for name in devices {
            let found = self.devices.get(name.as_str()).and_then(|r| {
                let spec = self.specs.get(r.spec)?;
                let (_, edits) = spec.devices.get(r.device)?;
                Some((r.spec, &spec.edits, edits))
            });
            match found {
                Some((index, spec_edits, device_edits)) => {
                    if specs_used.insert(index) {
                        chain.push(spec_edits);
                    }
                    chain.push(device_edits);
                }
                None => unresolved.push(name),
            }
        }
        if !unresolved.is_empty() {
            return Err(options_error(format!(
                "while setting up CDI devices: unresolvable CDI devices {}",
                unresolved.join(", ")
            )));
        }

        let mut edited = spec.clone();
        apply_edits(&chain, &mut edited).map_err(|e| {
            options_error(format!(
                "while setting up CDI devices: failed to inject devices: {e}"
            ))
        })?;
        *spec = edited;
        Ok(())
    }

    /// Fully-qualified names of every device the registry knows (sorted), for error
    /// messages and tests.
    pub fn device_names(&self) -> Vec<String> {
        self.devices.keys().cloned().collect()
    }
}

/// Messages embed file contents and paths; keep them on one line.
fn options_error(msg: String) -> Error {
    Error::Options(msg.replace(['\n', '\r'], " "))
}

// ---------------------------------------------------------------------------------------
// Loading

/// Spec files directly in `dir`, in name order (the order CDI scans them in).
fn spec_files(dir: &Path) -> std::result::Result<Vec<PathBuf>, String> {
    match std::fs::symlink_metadata(dir) {
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                || e.raw_os_error() == Some(libc::ENOTDIR) =>
        {
            return Ok(Vec::new())
        }
        Err(e) => return Err(format!("cannot access CDI spec directory {dir:?}: {e}")),
        Ok(md) if !md.is_dir() => return Ok(Vec::new()),
        Ok(_) => {}
    }
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read CDI spec directory {dir:?}: {e}"))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot read CDI spec directory {dir:?}: {e}"))?;
        let name = entry.file_name();
        let bytes = name.as_bytes();
        if !(bytes.ends_with(b".json") || bytes.ends_with(b".yaml")) {
            continue;
        }
        // Like filepath.Walk: subdirectories are skipped, symlinks are read.
        let is_dir = entry
            .file_type()
            .map_err(|e| format!("cannot read {:?}: {e}", entry.path()))?
            .is_dir();
        if !is_dir {
            names.push(name);
        }
    }
    names.sort();
    Ok(names.into_iter().map(|n| dir.join(n)).collect())
}

fn read_limited(path: &Path) -> std::result::Result<Vec<u8>, String> {
    // Refuse devices and FIFOs before opening them (opening may have side effects or
    // hang), and again after, in case the name was swapped in between.
    let md = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !md.is_file() {
        return Err("not a regular file".into());
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| e.to_string())?;
    let md = file.metadata().map_err(|e| e.to_string())?;
    if !md.is_file() {
        return Err("not a regular file".into());
    }
    let too_large = || format!("larger than {MAX_SPEC_SIZE} bytes");
    if md.len() > MAX_SPEC_SIZE {
        return Err(too_large());
    }
    let mut data = Vec::new();
    file.take(MAX_SPEC_SIZE + 1)
        .read_to_end(&mut data)
        .map_err(|e| e.to_string())?;
    if data.len() as u64 > MAX_SPEC_SIZE {
        return Err(too_large());
    }
    Ok(data)
}

/// CDI parses every file as YAML (JSON being a subset); try the parser the extension
/// suggests first, the other as a fallback, and report the first one's error.
fn parse_spec(data: &[u8], json_first: bool) -> std::result::Result<Option<RawSpec>, String> {
    let json = || serde_json::from_slice::<Option<RawSpec>>(data).map_err(|e| e.to_string());
    let yaml = || serde_yaml::from_slice::<Option<RawSpec>>(data).map_err(|e| e.to_string());
    if json_first {
        json().or_else(|e| yaml().map_err(|_| e))
    } else {
        yaml().or_else(|e| json().map_err(|_| e))
    }
}

fn read_spec(path: &Path) -> std::result::Result<RawSpec, String> {
    let data = read_limited(path).map_err(|e| format!("failed to read CDI Spec {path:?}: {e}"))?;
    let json_first = path.as_os_str().as_bytes().ends_with(b".json");
    let raw = parse_spec(&data, json_first)
        .map_err(|e| format!("failed to parse CDI Spec {path:?}: {e}"))?
        .ok_or_else(|| format!("failed to parse CDI Spec {path:?}, no Spec data"))?;
    validate_spec(&raw).map_err(|e| format!("invalid CDI Spec {path:?}: {e}"))?;
    Ok(raw)
}

// ---------------------------------------------------------------------------------------
// Validation (CDI v1.1.0 `Spec.validate`, `ValidateVersion`, the default validator)

fn is_letter(c: char) -> bool {
    c.is_ascii_alphabetic()
}

fn is_alnum(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

fn validate_vendor_or_class(name: &str) -> std::result::Result<(), String> {
    let chars: Vec<char> = name.chars().collect();
    let (Some(&first), Some(&last)) = (chars.first(), chars.last()) else {
        return Err("empty name".into());
    };
    if !is_letter(first) {
        return Err(format!("{name:?}, should start with letter"));
    }
    if chars.len() > 2 {
        for &c in &chars[1..chars.len() - 1] {
            if !(is_alnum(c) || c == '_' || c == '-' || c == '.') {
                return Err(format!("invalid character '{c}' in name {name:?}"));
            }
        }
    }
    if !is_alnum(last) {
        return Err(format!("{name:?}, should end with a letter or digit"));
    }
    Ok(())
}

fn validate_vendor(vendor: &str) -> std::result::Result<(), String> {
    validate_vendor_or_class(vendor).map_err(|e| format!("invalid vendor. {e}"))
}

fn validate_class(class: &str) -> std::result::Result<(), String> {
    validate_vendor_or_class(class).map_err(|e| format!("invalid class. {e}"))
}

fn validate_device_name(name: &str) -> std::result::Result<(), String> {
    let chars: Vec<char> = name.chars().collect();
    let (Some(&first), Some(&last)) = (chars.first(), chars.last()) else {
        return Err("invalid (empty) device name".into());
    };
    if !is_alnum(first) {
        return Err(format!(
            "invalid class {name:?}, should start with a letter or digit"
        ));
    }
    if chars.len() == 1 {
        return Ok(());
    }
    if chars.len() > 2 {
        for &c in &chars[1..chars.len() - 1] {
            if !(is_alnum(c) || c == '_' || c == '-' || c == '.' || c == ':') {
                return Err(format!("invalid character '{c}' in device name {name:?}"));
            }
        }
    }
    if !is_alnum(last) {
        return Err(format!(
            "invalid name {name:?}, should end with a letter or digit"
        ));
    }
    Ok(())
}

/// `vendor/class` -> (vendor, class); None unless both parts are non-empty.
fn split_kind(kind: &str) -> Option<(&str, &str)> {
    let (vendor, class) = kind.split_once('/')?;
    (!vendor.is_empty() && !class.is_empty()).then_some((vendor, class))
}

/// CDI's `parser.ParseQualifiedName`.
fn validate_qualified_name(device: &str) -> std::result::Result<(), String> {
    let parsed = device
        .split_once('=')
        .filter(|(kind, name)| !device.starts_with('/') && !kind.is_empty() && !name.is_empty())
        .and_then(|(kind, name)| Some((split_kind(kind)?, name)));
    let Some(((vendor, class), name)) = parsed else {
        return Err(format!("unqualified device {device:?}"));
    };
    validate_vendor(vendor)
        .and_then(|_| validate_class(class))
        .and_then(|_| validate_device_name(name))
        .map_err(|e| format!("invalid device {device:?}: {e}"))
}

fn version_index(version: &str) -> Option<usize> {
    let v = version.strip_prefix('v').unwrap_or(version);
    VERSIONS.iter().position(|known| *known == v)
}

/// Index in [`VERSIONS`] of the oldest version that has every feature `spec` uses.
fn required_version(spec: &RawSpec) -> usize {
    let all_edits = || {
        std::iter::once(&spec.container_edits)
            .chain(spec.devices.iter().map(|d| &d.container_edits))
    };
    let at = |v: &str| version_index(v).unwrap_or(EARLIEST_REQUIRED);
    let class_has_dot = split_kind(&spec.kind).is_some_and(|(_, class)| class.contains('.'));

    if all_edits().any(|e| {
        !e.net_devices.is_empty()
            || e.intel_rdt
                .as_ref()
                .is_some_and(|r| r.schemata.is_some() || r.enable_monitoring)
    }) {
        at("1.1.0")
    } else if all_edits().any(|e| e.intel_rdt.is_some() || !e.additional_gids.is_empty()) {
        at("0.7.0")
    } else if !spec.annotations.is_empty()
        || spec.devices.iter().any(|d| !d.annotations.is_empty())
        || class_has_dot
    {
        at("0.6.0")
    } else if spec
        .devices
        .iter()
        .any(|d| d.name.starts_with(|c: char| c.is_ascii_digit()))
        || all_edits().any(|e| e.device_nodes.iter().any(|n| !n.host_path.is_empty()))
    {
        at("0.5.0")
    } else if all_edits().any(|e| e.mounts.iter().any(|m| !m.typ.is_empty())) {
        at("0.4.0")
    } else {
        EARLIEST_REQUIRED
    }
}

fn validate_version(spec: &RawSpec) -> std::result::Result<(), String> {
    let Some(have) = version_index(&spec.cdi_version) else {
        return Err(format!("invalid version {:?}", spec.cdi_version));
    };
    let need = required_version(spec);
    if need > have {
        let need = VERSIONS.get(need).copied().unwrap_or("?");
        return Err(format!("the spec version must be at least v{need}"));
    }
    Ok(())
}

fn validate_env(env: &[String]) -> std::result::Result<(), String> {
    match env.iter().find(|v| v.find('=').is_none_or(|i| i == 0)) {
        Some(v) => Err(format!("invalid environment variable {v:?}")),
        None => Ok(()),
    }
}

fn validate_device_node(d: &DeviceNode) -> std::result::Result<(), String> {
    if d.path.is_empty() {
        return Err("invalid (empty) device path".into());
    }
    if !["", "b", "c", "u", "p"].contains(&d.typ.as_str()) {
        return Err(format!("device {:?}: invalid type {:?}", d.path, d.typ));
    }
    if d.major < 0 || d.minor < 0 {
        return Err(format!(
            "device {:?}: invalid (negative) device number {}:{}",
            d.path, d.major, d.minor
        ));
    }
    if !d.permissions.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
        return Err(format!(
            "device {:?}: invalid permissions {:?}",
            d.path, d.permissions
        ));
    }
    Ok(())
}

fn validate_hook(h: &CdiHook) -> std::result::Result<(), String> {
    if !HOOK_NAMES.contains(&h.hook_name.as_str()) {
        return Err(format!("invalid hook name {:?}", h.hook_name));
    }
    if h.path.is_empty() {
        return Err(format!("invalid hook {:?} with empty path", h.hook_name));
    }
    validate_env(&h.env).map_err(|e| format!("invalid hook {:?}: {e}", h.hook_name))
}

fn validate_mount(m: &CdiMount) -> std::result::Result<(), String> {
    if m.host_path.is_empty() {
        return Err("invalid mount, empty host path".into());
    }
    if m.container_path.is_empty() {
        return Err("invalid mount, empty container path".into());
    }
    Ok(())
}

fn validate_intel_rdt(r: &IntelRdt) -> std::result::Result<(), String> {
    let c = &r.clos_id;
    if c.len() >= 4096 || c == "." || c == ".." || c.contains(['/', '\n']) {
        return Err("invalid ClosID".into());
    }
    Ok(())
}

fn validate_net_devices(devices: &[NetDevice]) -> std::result::Result<(), String> {
    let mut hosts: HashMap<&str, &str> = HashMap::new();
    let mut names: HashMap<&str, &str> = HashMap::new();
    for d in devices {
        if d.host_interface_name.is_empty() {
            return Err("invalid linux net device, empty HostInterfaceName".into());
        }
        if d.name.is_empty() {
            return Err("invalid linux net device, empty Name".into());
        }
        if let Some(other) = hosts.insert(&d.host_interface_name, &d.name) {
            return Err(format!(
                "invalid linux net device, duplicate HostInterfaceName {:?} with names {:?} and {:?}",
                d.host_interface_name, d.name, other
            ));
        }
        if let Some(other) = names.insert(&d.name, &d.host_interface_name) {
            return Err(format!(
                "invalid linux net device, duplicate Name {:?} with HostInterfaceName {:?} and {:?}",
                d.name, d.host_interface_name, other
            ));
        }
    }
    Ok(())
}

fn validate_edits(e: &Edits) -> std::result::Result<(), String> {
    validate_env(&e.env).map_err(|m| format!("invalid container edits: {m}"))?;
    e.device_nodes.iter().try_for_each(validate_device_node)?;
    e.hooks.iter().try_for_each(validate_hook)?;
    e.mounts.iter().try_for_each(validate_mount)?;
    e.intel_rdt.iter().try_for_each(validate_intel_rdt)?;
    validate_net_devices(&e.net_devices)
}

fn validate_spec(spec: &RawSpec) -> std::result::Result<(), String> {
    validate_version(spec)?;
    let (vendor, class) = split_kind(&spec.kind).unwrap_or(("", &spec.kind));
    validate_vendor(vendor)?;
    validate_class(class)?;
    validate_edits(&spec.container_edits)?;
    let mut seen = BTreeSet::new();
    for d in &spec.devices {
        validate_device_name(&d.name)
            .and_then(|_| match d.container_edits.is_empty() {
                true => Err("empty container edits".into()),
                false => validate_edits(&d.container_edits),
            })
            .map_err(|e| format!("failed add device {:?}: {e}", d.name))?;
        if !seen.insert(d.name.as_str()) {
            return Err(format!("invalid spec, multiple device {:?}", d.name));
        }
    }
    if seen.is_empty() {
        return Err("invalid spec, no devices".into());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Applying edits (CDI v1.1.0 `ContainerEdits.Apply` on the merged edits)

/// A process / linux section with nothing set, like Go's `&rspec.Process{}`; oci-spec's
/// `Default` impls are full runc templates instead.
fn empty_process() -> Process {
    serde_json::from_str(r#"{"user":{"uid":0,"gid":0},"cwd":""}"#).unwrap_or_default()
}

fn empty_linux() -> Linux {
    serde_json::from_str("{}").unwrap_or_default()
}

fn env_key(entry: &str) -> &str {
    entry.split_once('=').map_or(entry, |(k, _)| k)
}

struct HostDevice {
    typ: &'static str,
    major: i64,
    minor: i64,
    mode: u32,
}

/// Type, numbers and permission bits of a device node; never follows a symlink.
fn host_device(path: &str) -> std::result::Result<HostDevice, String> {
    let st = nix::sys::stat::lstat(Path::new(path)).map_err(|e| e.to_string())?;
    let typ = match st.st_mode & libc::S_IFMT {
        libc::S_IFBLK => "b",
        libc::S_IFCHR => "c",
        libc::S_IFIFO => "p",
        _ => return Err("not a device node".into()),
    };
    let rdev = st.st_rdev;
    Ok(HostDevice {
        typ,
        major: nix::sys::stat::major(rdev) as i64,
        minor: nix::sys::stat::minor(rdev) as i64,
        mode: st.st_mode & 0o7777,
    })
}

/// The OCI device for `node`, with type/major/minor/fileMode taken from the host node
/// (`hostPath`, else `path`) where the spec leaves them out.
fn device_from_node(node: &DeviceNode) -> std::result::Result<LinuxDevice, String> {
    let host = if node.host_path.is_empty() {
        &node.path
    } else {
        &node.host_path
    };
    let mut typ = node.typ.clone();
    let (mut major, mut minor, mut mode) = (node.major, node.minor, node.file_mode);
    let complete = !typ.is_empty() && (major != 0 || typ == "p");
    if !complete {
        let info = host_device(host)
            .map_err(|e| format!("failed to stat CDI host device {host:?}: {e}"))?;
        if typ.is_empty() {
            typ = info.typ.to_string();
        } else if typ != info.typ {
            return Err(format!(
                "CDI device ({:?}, {:?}), host type mismatch ({typ}, {})",
                node.path, host, info.typ
            ));
        }
        if major == 0 && typ != "p" {
            major = info.major;
            minor = info.minor;
        }
        mode = mode.or(Some(info.mode));
    } else if mode.is_none() {
        // Only the mode is missing: v1.1.0 would leave it out, so never fail for it.
        mode = host_device(host)
            .ok()
            .filter(|info| info.typ == typ)
            .map(|info| info.mode);
    }
    let dev_type = match typ.as_str() {
        "b" => LinuxDeviceType::B,
        "c" => LinuxDeviceType::C,
        "u" => LinuxDeviceType::U,
        "p" => LinuxDeviceType::P,
        other => return Err(format!("device {:?}: invalid type {other:?}", node.path)),
    };
    let mut dev = LinuxDevice::default();
    dev.set_path(PathBuf::from(&node.path));
    dev.set_typ(dev_type);
    dev.set_major(major);
    dev.set_minor(minor);
    dev.set_file_mode(mode);
    dev.set_uid(node.uid);
    dev.set_gid(node.gid);
    Ok(dev)
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

fn non_empty_vec(v: &[String]) -> Option<Vec<String>> {
    (!v.is_empty()).then(|| v.to_vec())
}

/// Go's `filepath.Clean` on a Unix path, as bytes.
fn clean_path(p: &[u8]) -> Vec<u8> {
    let n = p.len();
    if n == 0 {
        return b".".to_vec();
    }
    let rooted = p.first() == Some(&b'/');
    let mut out: Vec<u8> = Vec::with_capacity(n);
    let (mut r, mut dotdot) = (0, 0);
    if rooted {
        out.push(b'/');
        r = 1;
        dotdot = 1;
    }
    let at = |i: usize| p.get(i).copied();
    while r < n {
        let end = |i: usize| i >= n || at(i) == Some(b'/');
        // An empty or "." element.
        if at(r) == Some(b'/') || (at(r) == Some(b'.') && end(r + 1)) {
            r += 1;
        } else if at(r) == Some(b'.') && at(r + 1) == Some(b'.') && end(r + 2) {
            r += 2;
            if out.len() > dotdot {
                let mut w = out.len() - 1;
                while w > dotdot && out.get(w) != Some(&b'/') {
                    w -= 1;
                }
                out.truncate(w);
            } else if !rooted {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(b"..");
                dotdot = out.len();
            }
        } else {
            if (rooted && out.len() != 1) || (!rooted && !out.is_empty()) {
                out.push(b'/');
            }
            while let Some(c) = at(r).filter(|&c| c != b'/') {
                out.push(c);
                r += 1;
            }
        }
    }
    if out.is_empty() {
        out.push(b'.');
    }
    out
}

/// Sort key of CDI's (and Docker's) mount ordering: `/` count of the cleaned destination.
fn mount_depth(m: &Mount) -> usize {
    clean_path(m.destination().as_os_str().as_bytes())
        .iter()
        .filter(|&&c| c == b'/')
        .count()
}

fn oci_mount(m: &CdiMount) -> Mount {
    // As v1.1.0's Mount.toOCI: type and options verbatim, no defaults (runc and crun make
    // any mount with a "bind"/"rbind" option a bind mount whatever its type).
    let mut mount = Mount::default();
    mount.set_destination(PathBuf::from(&m.container_path));
    mount.set_source(Some(PathBuf::from(&m.host_path)));
    mount.set_typ(non_empty(&m.typ));
    mount.set_options(non_empty_vec(&m.options));
    mount
}

fn oci_hook(h: &CdiHook) -> Hook {
    let mut hook = Hook::default();
    hook.set_path(PathBuf::from(&h.path));
    hook.set_args(non_empty_vec(&h.args));
    hook.set_env(non_empty_vec(&h.env));
    hook.set_timeout(h.timeout);
    hook
}

fn oci_intel_rdt(r: &IntelRdt) -> LinuxIntelRdt {
    let mut rdt = LinuxIntelRdt::default();
    rdt.set_clos_id(non_empty(&r.clos_id));
    rdt.set_l3_cache_schema(non_empty(&r.l3_cache_schema));
    rdt.set_mem_bw_schema(non_empty(&r.mem_bw_schema));
    rdt.set_schemata(r.schemata.as_deref().and_then(non_empty_vec));
    rdt.set_enable_monitoring(r.enable_monitoring.then_some(true));
    rdt
}

fn apply_env(chain: &[&Edits], spec: &mut Spec) {
    let entries: Vec<&String> = chain.iter().flat_map(|e| &e.env).collect();
    if entries.is_empty() {
        return;
    }
    let process = spec.process_mut().get_or_insert_with(empty_process);
    let mut env = process.env().clone().unwrap_or_default();
    let mut index: HashMap<String, usize> = env
        .iter()
        .enumerate()
        .map(|(i, v)| (env_key(v).to_string(), i))
        .collect();
    for entry in entries {
        let key = env_key(entry);
        match index.get(key).and_then(|&i| env.get_mut(i)) {
            Some(slot) => slot.clone_from(entry),
            None => {
                env.push(entry.clone());
                index.insert(key.to_string(), env.len() - 1);
            }
        }
    }
    process.set_env(Some(env));
}

fn apply_device_nodes(chain: &[&Edits], spec: &mut Spec) -> std::result::Result<(), String> {
    let user = spec
        .process()
        .as_ref()
        .map(|p| (p.user().uid(), p.user().gid()));
    let (uid, gid) = user.unwrap_or((0, 0));
    for node in chain.iter().flat_map(|e| &e.device_nodes) {
        let mut dev = device_from_node(node)?;
        if dev.uid().is_none() && uid > 0 {
            dev.set_uid(Some(uid));
        }
        if dev.gid().is_none() && gid > 0 {
            dev.set_gid(Some(gid));
        }
        let linux = spec.linux_mut().get_or_insert_with(empty_linux);
        // runtime-tools' RemoveDevice (first match) then AddDevice (replace or append).
        let devices = linux.devices_mut().get_or_insert_with(Vec::new);
        let same = |d: &LinuxDevice| d.path().as_os_str() == dev.path().as_os_str();
        if let Some(i) = devices.iter().position(same) {
            devices.remove(i);
        }
        match devices.iter_mut().find(|d| same(d)) {
            Some(slot) => *slot = dev.clone(),
            None => devices.push(dev.clone()),
        }
        if matches!(dev.typ(), LinuxDeviceType::B | LinuxDeviceType::C) {
            let access = if node.permissions.is_empty() {
                "rwm"
            } else {
                &node.permissions
            };
            let mut rule = LinuxDeviceCgroup::default();
            rule.set_allow(true);
            rule.set_typ(Some(dev.typ()));
            rule.set_major(Some(dev.major()));
            rule.set_minor(Some(dev.minor()));
            rule.set_access(Some(access.to_string()));
            linux
                .resources_mut()
                .get_or_insert_with(Default::default)
                .devices_mut()
                .get_or_insert_with(Vec::new)
                .push(rule);
        }
    }
    Ok(())
}

fn apply_net_devices(chain: &[&Edits], spec: &mut Spec) {
    for d in chain.iter().flat_map(|e| &e.net_devices) {
        let mut dev = LinuxNetDevice::default();
        dev.set_name(Some(d.name.clone()));
        spec.linux_mut()
            .get_or_insert_with(empty_linux)
            .net_devices_mut()
            .get_or_insert_with(HashMap::new)
            .insert(d.host_interface_name.clone(), dev);
    }
}

fn apply_mounts(chain: &[&Edits], spec: &mut Spec) {
    let added: Vec<&CdiMount> = chain.iter().flat_map(|e| &e.mounts).collect();
    if added.is_empty() {
        return;
    }
    let mounts = spec.mounts_mut().get_or_insert_with(Vec::new);
    for m in added {
        let dest = OsStr::new(&m.container_path);
        if let Some(i) = mounts
            .iter()
            .position(|x| x.destination().as_os_str() == dest)
        {
            mounts.remove(i);
        }
        mounts.push(oci_mount(m));
    }
    // sort_by_key is stable, as CDI's sort.Stable.
    mounts.sort_by_key(mount_depth);
}

#[allow(deprecated)] // prestart hooks are deprecated in the runtime spec, CDI still adds them
fn apply_hooks(chain: &[&Edits], spec: &mut Spec) -> std::result::Result<(), String> {
    for h in chain.iter().flat_map(|e| &e.hooks) {
        let hooks = spec.hooks_mut().get_or_insert_with(Hooks::default);
        let list = match h.hook_name.as_str() {
            "prestart" => hooks.prestart_mut(),
            "createRuntime" => hooks.create_runtime_mut(),
            "createContainer" => hooks.create_container_mut(),
            "startContainer" => hooks.start_container_mut(),
            "poststart" => hooks.poststart_mut(),
            "poststop" => hooks.poststop_mut(),
            other => return Err(format!("unknown hook name {other:?}")),
        };
        list.get_or_insert_with(Vec::new).push(oci_hook(h));
    }
    Ok(())
}

fn apply_additional_gids(chain: &[&Edits], spec: &mut Spec) {
    for &gid in chain.iter().flat_map(|e| &e.additional_gids) {
        if gid == 0 {
            continue;
        }
        let gids = spec
            .process_mut()
            .get_or_insert_with(empty_process)
            .user_mut()
            .additional_gids_mut()
            .get_or_insert_with(Vec::new);
        if !gids.contains(&gid) {
            gids.push(gid);
        }
    }
}

/// Apply the concatenated edits in CDI's order: env, device nodes, net devices, mounts,
/// hooks, Intel RDT (the last one given wins), additional gids.
fn apply_edits(chain: &[&Edits], spec: &mut Spec) -> std::result::Result<(), String> {
    apply_env(chain, spec);
    apply_device_nodes(chain, spec)?;
    apply_net_devices(chain, spec);
    apply_mounts(chain, spec);
    apply_hooks(chain, spec)?;
    if let Some(rdt) = chain
        .iter()
        .filter_map(|e| e.intel_rdt.as_ref())
        .next_back()
    {
        spec.linux_mut()
            .get_or_insert_with(empty_linux)
            .set_intel_rdt(Some(oci_intel_rdt(rdt)));
    }
    apply_additional_gids(chain, spec);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::fs;
    use tempfile::TempDir;

    fn write(dir: &Path, name: &str, content: &str) {
        fs::write(dir.join(name), content).unwrap();
    }

    fn dir_with(files: &[(&str, String)]) -> TempDir {
        let dir = TempDir::new().unwrap();
        for (name, content) in files {
            write(dir.path(), name, content);
        }
        dir
    }

    fn paths(dirs: &[&TempDir]) -> Vec<PathBuf> {
        dirs.iter().map(|d| d.path().to_path_buf()).collect()
    }

    /// A registry from one directory holding `files`.
    fn registry(files: &[(&str, String)]) -> (TempDir, Registry) {
        let dir = dir_with(files);
        let reg = Registry::load(&paths(&[&dir])).unwrap();
        (dir, reg)
    }

    fn load_err(files: &[(&str, String)]) -> String {
        let dir = dir_with(files);
        let msg = Registry::load(&paths(&[&dir])).unwrap_err().to_string();
        assert!(!msg.contains('\n'), "multi-line message: {msg:?}");
        assert!(msg.starts_with("error refreshing CDI cache: "), "{msg}");
        msg
    }

    fn spec_json(kind: &str, edits: serde_json::Value, devices: serde_json::Value) -> String {
        json!({"cdiVersion": "1.1.0", "kind": kind, "containerEdits": edits, "devices": devices})
            .to_string()
    }

    /// One device `name` of kind `vendor.com/dev` with the given device edits.
    fn one_device(name: &str, edits: serde_json::Value) -> String {
        spec_json(
            "vendor.com/dev",
            json!({}),
            json!([{"name": name, "containerEdits": edits}]),
        )
    }

    fn base_spec() -> Spec {
        let mut spec = Spec::default();
        let process = spec.process_mut().as_mut().unwrap();
        process.set_env(Some(vec!["PATH=/bin".into(), "FOO=old".into()]));
        spec
    }

    fn devices(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn env(spec: &Spec) -> Vec<String> {
        spec.process().as_ref().unwrap().env().clone().unwrap()
    }

    fn linux_devices(spec: &Spec) -> Vec<LinuxDevice> {
        spec.linux()
            .as_ref()
            .unwrap()
            .devices()
            .clone()
            .unwrap_or_default()
    }

    fn cgroup_rules(spec: &Spec) -> Vec<LinuxDeviceCgroup> {
        let linux = spec.linux().as_ref().unwrap();
        let resources = linux.resources().as_ref().unwrap();
        resources.devices().clone().unwrap_or_default()
    }

    fn destinations(spec: &Spec) -> Vec<String> {
        spec.mounts()
            .as_ref()
            .unwrap()
            .iter()
            .map(|m| m.destination().to_string_lossy().into_owned())
            .collect()
    }

    fn mount_at(dest: &str) -> Mount {
        let mut m = Mount::default();
        m.set_destination(dest.into());
        m.set_typ(Some("tmpfs".into()));
        m.set_source(Some("tmpfs".into()));
        m
    }

    fn apply_err(reg: &Registry, names: &[&str], spec: &mut Spec) -> String {
        let before = spec.clone();
        let msg = reg.apply(&devices(names), spec).unwrap_err().to_string();
        assert_eq!(*spec, before, "spec changed by a failed apply");
        assert!(!msg.contains('\n'), "multi-line message: {msg:?}");
        msg
    }

    #[test]
    fn loads_json_and_yaml_specs() {
        let yaml = "cdiVersion: \"0.6.0\"\nkind: example.com/gpu\ndevices:\n  - name: \"1\"\n    containerEdits:\n      env: [\"GPU=1\"]\n  - name: all\n    containerEdits:\n      env:\n        - GPU=all\n";
        let (_d, reg) = registry(&[
            ("b.yaml", yaml.to_string()),
            ("a.json", one_device("nic0", json!({"env": ["NIC=0"]}))),
        ]);
        assert_eq!(
            reg.device_names(),
            [
                "example.com/gpu=1",
                "example.com/gpu=all",
                "vendor.com/dev=nic0"
            ]
        );
        let mut spec = base_spec();
        reg.apply(
            &devices(&["example.com/gpu=all", "vendor.com/dev=nic0"]),
            &mut spec,
        )
        .unwrap();
        assert_eq!(env(&spec), ["PATH=/bin", "FOO=old", "GPU=all", "NIC=0"]);
    }

    #[test]
    fn json_content_in_yaml_file_and_yaml_content_in_json_file() {
        let yaml = "cdiVersion: 0.3.0\nkind: a.com/b\ndevices: [{name: x, containerEdits: {env: [X=1]}}]\n";
        let (_d, reg) = registry(&[
            ("j.yaml", one_device("j", json!({"env": ["J=1"]}))),
            ("y.json", yaml.to_string()),
        ]);
        assert_eq!(reg.device_names(), ["a.com/b=x", "vendor.com/dev=j"]);
    }

    #[test]
    fn later_dir_overrides_earlier() {
        let first = dir_with(&[("x.json", one_device("d", json!({"env": ["WHO=first"]})))]);
        let second = dir_with(&[("y.yaml", one_device("d", json!({"env": ["WHO=second"]})))]);
        let reg = Registry::load(&paths(&[&first, &second])).unwrap();
        assert_eq!(reg.device_names(), ["vendor.com/dev=d"]);
        let mut spec = base_spec();
        reg.apply(&devices(&["vendor.com/dev=d"]), &mut spec)
            .unwrap();
        assert_eq!(env(&spec), ["PATH=/bin", "FOO=old", "WHO=second"]);

        // And the other way round.
        let reg = Registry::load(&paths(&[&second, &first])).unwrap();
        let mut spec = base_spec();
        reg.apply(&devices(&["vendor.com/dev=d"]), &mut spec)
            .unwrap();
        assert_eq!(env(&spec), ["PATH=/bin", "FOO=old", "WHO=first"]);
    }

    #[test]
    fn same_dir_duplicate_is_a_conflict() {
        let msg = load_err(&[
            ("a.json", one_device("d", json!({"env": ["A=1"]}))),
            ("b.json", one_device("d", json!({"env": ["B=1"]}))),
        ]);
        assert!(
            msg.contains("conflicting device \"vendor.com/dev=d\""),
            "{msg}"
        );
        assert!(msg.contains("a.json") && msg.contains("b.json"), "{msg}");
    }

    #[test]
    fn duplicate_within_one_file_is_invalid() {
        let spec = spec_json(
            "vendor.com/dev",
            json!({}),
            json!([{"name": "d", "containerEdits": {"env": ["A=1"]}},
                   {"name": "d", "containerEdits": {"env": ["B=1"]}}]),
        );
        let msg = load_err(&[("a.json", spec)]);
        assert!(msg.contains("invalid spec, multiple device \"d\""), "{msg}");
    }

    #[test]
    fn missing_dir_is_fine() {
        let dir = TempDir::new().unwrap();
        let reg = Registry::load(&[dir.path().join("nope"), dir.path().join("file/sub")]).unwrap();
        assert!(reg.device_names().is_empty());
        let mut spec = base_spec();
        let msg = apply_err(&reg, &["vendor.com/dev=d"], &mut spec);
        assert!(
            msg.contains("unresolvable CDI devices vendor.com/dev=d"),
            "{msg}"
        );
    }

    #[test]
    fn only_spec_files_directly_in_the_dir_are_read() {
        let dir = dir_with(&[
            ("a.json", one_device("a", json!({"env": ["A=1"]}))),
            ("notes.txt", "garbage".into()),
            ("c.yml", "garbage".into()),
            ("d.json~", "garbage".into()),
        ]);
        fs::create_dir(dir.path().join("sub.json")).unwrap();
        write(
            &dir.path().join("sub.json"),
            "b.json",
            &one_device("b", json!({"env": ["B=1"]})),
        );
        let reg = Registry::load(&paths(&[&dir])).unwrap();
        assert_eq!(reg.device_names(), ["vendor.com/dev=a"]);
    }

    #[test]
    fn symlinked_spec_file_is_read_symlinked_dir_is_not() {
        let real = dir_with(&[("a.json", one_device("a", json!({"env": ["A=1"]})))]);
        let other = TempDir::new().unwrap();
        std::os::unix::fs::symlink(real.path().join("a.json"), other.path().join("l.json"))
            .unwrap();
        let link_dir = other.path().join("linkdir");
        std::os::unix::fs::symlink(real.path(), &link_dir).unwrap();

        let reg = Registry::load(&[other.path().to_path_buf()]).unwrap();
        assert_eq!(reg.device_names(), ["vendor.com/dev=a"]);
        let reg = Registry::load(&[link_dir]).unwrap();
        assert!(reg.device_names().is_empty());
    }

    #[test]
    fn garbage_file_is_an_error() {
        let msg = load_err(&[("bad.json", "{ this is not : json".into())]);
        assert!(msg.contains("failed to parse CDI Spec"), "{msg}");
        assert!(msg.contains("bad.json"), "{msg}");

        let msg = load_err(&[("bad.yaml", "- [unclosed\n\t: x".into())]);
        assert!(msg.contains("failed to parse CDI Spec"), "{msg}");

        let msg = load_err(&[("empty.yaml", String::new())]);
        assert!(msg.contains("no Spec data"), "{msg}");

        // A good file next to a bad one does not help.
        let msg = load_err(&[
            ("a.json", one_device("a", json!({"env": ["A=1"]}))),
            ("b.json", "[1, 2]".into()),
        ]);
        assert!(msg.contains("b.json"), "{msg}");
    }

    #[test]
    fn error_messages_stay_on_one_line() {
        let msg = load_err(&[("new\nline.json", "bad\n\"json\n".into())]);
        assert!(msg.contains("failed to parse CDI Spec"), "{msg}");
    }

    #[test]
    fn oversized_and_special_files_are_refused() {
        let big = format!(
            "{}{}",
            " ".repeat(MAX_SPEC_SIZE as usize),
            one_device("a", json!({"env": ["A=1"]}))
        );
        let msg = load_err(&[("big.json", big)]);
        assert!(msg.contains("larger than"), "{msg}");

        let dir = TempDir::new().unwrap();
        nix::unistd::mkfifo(&dir.path().join("fifo.json"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let msg = Registry::load(&paths(&[&dir])).unwrap_err().to_string();
        assert!(msg.contains("not a regular file"), "{msg}");

        let dir = TempDir::new().unwrap();
        std::os::unix::fs::symlink("/nonexistent/x.json", dir.path().join("dangling.json"))
            .unwrap();
        let msg = Registry::load(&paths(&[&dir])).unwrap_err().to_string();
        assert!(msg.contains("failed to read CDI Spec"), "{msg}");
    }

    #[test]
    fn invalid_specs_are_errors() {
        // (cdiVersion, kind, edits of device "x", expected message part)
        let env = json!({"env": ["A=1"]});
        let cases = [
            ("9.9.9", "a.com/b", env.clone(), "invalid version \"9.9.9\""),
            ("0.3.0", "a.com", env.clone(), "invalid vendor. empty name"),
            ("0.3.0", "1a.com/b", env.clone(), "should start with letter"),
            (
                "0.3.0",
                "a.com/b!c",
                env.clone(),
                "invalid class. invalid character '!'",
            ),
            (
                "0.3.0",
                "a.com/b",
                json!({}),
                "failed add device \"x\": empty container edits",
            ),
            (
                "0.3.0",
                "a.com/b",
                json!({"env": ["=1"]}),
                "invalid environment variable \"=1\"",
            ),
            (
                "0.3.0",
                "a.com/b",
                json!({"hooks": [{"hookName": "later", "path": "/bin/true"}]}),
                "invalid hook name \"later\"",
            ),
            (
                "0.3.0",
                "a.com/b",
                json!({"hooks": [{"hookName": "poststop"}]}),
                "invalid hook \"poststop\" with empty path",
            ),
            (
                "0.3.0",
                "a.com/b",
                json!({"mounts": [{"containerPath": "/x"}]}),
                "invalid mount, empty host path",
            ),
            (
                "0.3.0",
                "a.com/b",
                json!({"deviceNodes": [{"path": "/dev/x", "type": "z"}]}),
                "invalid type \"z\"",
            ),
            (
                "0.3.0",
                "a.com/b",
                json!({"deviceNodes": [{"path": "/dev/x", "permissions": "rwx"}]}),
                "invalid permissions \"rwx\"",
            ),
            (
                "0.3.0",
                "a.com/b",
                json!({"deviceNodes": [{"path": "/dev/x", "major": -1}]}),
                "invalid (negative) device number",
            ),
            (
                "0.3.0",
                "a.com/b",
                json!({"deviceNodes": [{"path": "/dev/x", "hostPath": "/dev/null"}]}),
                "the spec version must be at least v0.5.0",
            ),
            (
                "0.6.0",
                "a.com/b",
                json!({"additionalGids": [5]}),
                "the spec version must be at least v0.7.0",
            ),
            (
                "1.0.0",
                "a.com/b",
                json!({"netDevices": [{"hostInterfaceName": "eth1", "name": "net1"}]}),
                "the spec version must be at least v1.1.0",
            ),
            (
                "1.1.0",
                "a.com/b",
                json!({"netDevices": [{"hostInterfaceName": "eth1", "name": "n"},
                                      {"hostInterfaceName": "eth1", "name": "m"}]}),
                "duplicate HostInterfaceName \"eth1\"",
            ),
            (
                "0.7.0",
                "a.com/b",
                json!({"intelRdt": {"closID": "a/b"}}),
                "invalid ClosID",
            ),
            (
                "0.3.0",
                "a.com/b",
                json!({"deviceNodes": [{"path": "/dev/x", "major": "1"}]}),
                "failed to parse CDI Spec",
            ),
        ];
        for (version, kind, edits, want) in cases {
            let spec = json!({"cdiVersion": version, "kind": kind,
                              "devices": [{"name": "x", "containerEdits": edits}]});
            let msg = load_err(&[("s.json", spec.to_string())]);
            assert!(msg.contains(want), "want {want:?} in {msg}");
        }

        let other = [
            (
                json!({"kind": "a.com/b", "devices": [{"name": "x", "containerEdits": env}]}),
                "invalid version \"\"",
            ),
            (
                json!({"cdiVersion": "0.3.0", "kind": "a.com/b", "devices": []}),
                "invalid spec, no devices",
            ),
            (
                json!({"cdiVersion": "0.3.0", "kind": "a.com/b",
                       "devices": [{"name": "x-", "containerEdits": env}]}),
                "should end with a letter or digit",
            ),
            (
                json!({"cdiVersion": "0.3.0", "kind": "a.com/b", "containerEdits": {"env": ["NOEQ"]},
                       "devices": [{"name": "x", "containerEdits": env}]}),
                "invalid container edits: invalid environment variable \"NOEQ\"",
            ),
        ];
        for (spec, want) in other {
            let msg = load_err(&[("s.json", spec.to_string())]);
            assert!(msg.contains(want), "want {want:?} in {msg}");
        }
    }

    #[test]
    fn versions_and_unknown_fields_are_accepted() {
        let spec = json!({
            "cdiVersion": "v0.6.0", "kind": "a.com/b.c", "annotations": {"k": "v"},
            "someFutureField": {"x": 1},
            "devices": [{"name": "0", "annotations": {"a": "b"}, "extra": true,
                         "containerEdits": {"env": ["A=1"], "unknownEdit": []}}]
        });
        let (_d, reg) = registry(&[("s.json", spec.to_string())]);
        assert_eq!(reg.device_names(), ["a.com/b.c=0"]);
    }

    #[test]
    fn null_fields_read_as_empty() {
        let spec = json!({"cdiVersion": "0.3.0", "kind": "a.com/b", "annotations": null,
            "containerEdits": null,
            "devices": [{"name": "x", "containerEdits": {"env": ["A=1"], "mounts": null, "hooks": null}}]});
        let (_d, reg) = registry(&[("s.json", spec.to_string())]);
        let mut spec = base_spec();
        reg.apply(&devices(&["a.com/b=x"]), &mut spec).unwrap();
        assert_eq!(env(&spec), ["PATH=/bin", "FOO=old", "A=1"]);
    }

    #[test]
    fn invalid_device_names_are_refused() {
        let (_d, reg) = registry(&[("a.json", one_device("d", json!({"env": ["A=1"]})))]);
        for bad in [
            "vendor.com/dev",
            "d",
            "=d",
            "vendor.com/dev=",
            "/vendor.com/dev=d",
            "vendor.com=d",
            "/dev=d",
            "1vendor/dev=d",
            "vendor.com/dev/x=d",
            "vendor.com/dev=d=e",
            "vendor.com/dev=d!",
            "vendor.com/dev=-d",
            "vendor.com/dév=d",
            "",
        ] {
            let mut spec = base_spec();
            let msg = apply_err(&reg, &["vendor.com/dev=d", bad], &mut spec);
            assert_eq!(
                msg,
                format!("string {bad:?} does not represent a valid CDI device")
            );
        }
        // Valid but unusual names: one-letter vendor, single-character device, colons.
        for good in ["a/b=c", "v/c=0", "vendor.com/dev=a:b.c_d-1"] {
            assert!(validate_qualified_name(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn unresolvable_devices_are_listed() {
        let (_d, reg) = registry(&[("a.json", one_device("d", json!({"env": ["A=1"]})))]);
        let mut spec = base_spec();
        let msg = apply_err(
            &reg,
            &["vendor.com/dev=x", "vendor.com/dev=d", "other.com/dev=y"],
            &mut spec,
        );
        assert_eq!(
            msg,
            "while setting up CDI devices: unresolvable CDI devices vendor.com/dev=x, other.com/dev=y"
        );
    }

    #[test]
    fn empty_device_list_is_a_no_op() {
        let (_d, reg) = registry(&[(
            "a.json",
            spec_json(
                "vendor.com/dev",
                json!({"env": ["S=1"], "mounts": [{"hostPath": "/a", "containerPath": "/a"}]}),
                json!([{"name": "d", "containerEdits": {"env": ["A=1"]}}]),
            ),
        )]);
        let mut spec = base_spec();
        spec.set_mounts(Some(vec![mount_at("/a/b/c"), mount_at("/x")]));
        let before = spec.clone();
        reg.apply(&[], &mut spec).unwrap();
        assert_eq!(spec, before);
        Registry::default().apply(&[], &mut spec).unwrap();
        assert_eq!(spec, before);
    }

    #[test]
    fn env_replaces_same_key_and_appends_others() {
        let (_d, reg) = registry(&[
            (
                "a.json",
                one_device("a", json!({"env": ["FOO=new", "BAR=1", "EMPTY="]})),
            ),
            (
                "b.json",
                one_device("b", json!({"env": ["BAR=2", "PATH=/cdi/bin:/bin"]})),
            ),
        ]);
        let mut spec = base_spec();
        reg.apply(
            &devices(&["vendor.com/dev=a", "vendor.com/dev=b"]),
            &mut spec,
        )
        .unwrap();
        assert_eq!(
            env(&spec),
            ["PATH=/cdi/bin:/bin", "FOO=new", "BAR=2", "EMPTY="]
        );

        // No process at all: one is created for the env.
        let mut bare = base_spec();
        bare.set_process(None);
        reg.apply(&devices(&["vendor.com/dev=a"]), &mut bare)
            .unwrap();
        assert_eq!(env(&bare), ["FOO=new", "BAR=1", "EMPTY="]);
        assert_eq!(bare.process().as_ref().unwrap().args(), &None);
    }

    #[test]
    fn device_node_filled_from_dev_null() {
        let (_d, reg) = registry(&[
            (
                "a.json",
                one_device("null", json!({"deviceNodes": [{"path": "/dev/null"}]})),
            ),
            (
                "b.json",
                spec_json(
                    "vendor.com/other",
                    json!({}),
                    json!([{"name": "n", "containerEdits": {"deviceNodes": [
                        {"path": "/dev/cdi-null", "hostPath": "/dev/null", "permissions": "rw", "fileMode": 0o600}
                    ]}}]),
                ),
            ),
        ]);
        let mut spec = base_spec();
        let rules_before = cgroup_rules(&spec).len();
        reg.apply(
            &devices(&["vendor.com/dev=null", "vendor.com/other=n"]),
            &mut spec,
        )
        .unwrap();

        let host_mode = nix::sys::stat::lstat("/dev/null").unwrap().st_mode & 0o7777;
        let devs = linux_devices(&spec);
        assert_eq!(devs.len(), 2);
        assert_eq!(devs[0].path(), Path::new("/dev/null"));
        assert_eq!(devs[0].typ(), LinuxDeviceType::C);
        assert_eq!((devs[0].major(), devs[0].minor()), (1, 3));
        assert_eq!(devs[0].file_mode(), Some(host_mode));
        assert_eq!((devs[0].uid(), devs[0].gid()), (None, None));
        assert_eq!(devs[1].path(), Path::new("/dev/cdi-null"));
        assert_eq!((devs[1].major(), devs[1].minor()), (1, 3));
        assert_eq!(devs[1].file_mode(), Some(0o600));

        let rules = cgroup_rules(&spec);
        assert_eq!(rules.len(), rules_before + 2);
        let added = &rules[rules_before..];
        for (rule, access) in added.iter().zip(["rwm", "rw"]) {
            assert!(rule.allow());
            assert_eq!(rule.typ(), Some(LinuxDeviceType::C));
            assert_eq!((rule.major(), rule.minor()), (Some(1), Some(3)));
            assert_eq!(rule.access().as_deref(), Some(access));
        }
    }

    #[test]
    fn device_node_same_path_is_replaced() {
        let (_d, reg) = registry(&[(
            "a.json",
            one_device(
                "d",
                json!({"deviceNodes": [{"path": "/dev/x", "type": "c", "major": 10, "minor": 200}]}),
            ),
        )]);
        let mut spec = base_spec();
        let mut old = LinuxDevice::default();
        old.set_path("/dev/x".into());
        old.set_typ(LinuxDeviceType::B);
        old.set_major(8);
        let mut keep = LinuxDevice::default();
        keep.set_path("/dev/keep".into());
        spec.linux_mut()
            .as_mut()
            .unwrap()
            .set_devices(Some(vec![old, keep]));
        reg.apply(&devices(&["vendor.com/dev=d"]), &mut spec)
            .unwrap();

        let devs = linux_devices(&spec);
        let paths: Vec<_> = devs.iter().map(|d| d.path().to_path_buf()).collect();
        assert_eq!(paths, [PathBuf::from("/dev/keep"), PathBuf::from("/dev/x")]);
        assert_eq!(devs[1].typ(), LinuxDeviceType::C);
        assert_eq!((devs[1].major(), devs[1].minor()), (10, 200));
        // No host node /dev/x here: a complete node needs none, and gets no mode.
        assert_eq!(devs[1].file_mode(), None);
    }

    #[test]
    fn device_node_uid_gid_default_to_a_non_root_process_user() {
        let (_d, reg) = registry(&[(
            "a.json",
            one_device(
                "d",
                json!({"deviceNodes": [
                    {"path": "/dev/a", "type": "c", "major": 1, "minor": 3},
                    {"path": "/dev/b", "type": "c", "major": 1, "minor": 5, "uid": 7, "gid": 0}
                ]}),
            ),
        )]);
        let mut spec = base_spec();
        let user = spec.process_mut().as_mut().unwrap().user_mut();
        user.set_uid(1000);
        user.set_gid(100);
        reg.apply(&devices(&["vendor.com/dev=d"]), &mut spec)
            .unwrap();
        let devs = linux_devices(&spec);
        assert_eq!((devs[0].uid(), devs[0].gid()), (Some(1000), Some(100)));
        assert_eq!((devs[1].uid(), devs[1].gid()), (Some(7), Some(0)));

        // uid 0 (or gid 0) is not written out.
        let mut spec = base_spec();
        spec.process_mut().as_mut().unwrap().user_mut().set_gid(100);
        reg.apply(&devices(&["vendor.com/dev=d"]), &mut spec)
            .unwrap();
        let devs = linux_devices(&spec);
        assert_eq!((devs[0].uid(), devs[0].gid()), (None, Some(100)));
    }

    #[test]
    fn device_node_errors_name_the_path() {
        let (_d, reg) = registry(&[
            (
                "a.json",
                one_device(
                    "gone",
                    json!({"deviceNodes": [{"path": "/dev/x", "hostPath": "/nonexistent/cdi-dev"}]}),
                ),
            ),
            (
                "b.json",
                spec_json(
                    "vendor.com/b",
                    json!({}),
                    json!([{"name": "blk", "containerEdits": {"deviceNodes": [{"path": "/dev/null", "type": "b"}]}}]),
                ),
            ),
            (
                "c.json",
                spec_json(
                    "vendor.com/c",
                    json!({}),
                    json!([{"name": "file", "containerEdits": {"deviceNodes": [{"path": "/etc/passwd"}]}}]),
                ),
            ),
        ]);
        let mut spec = base_spec();
        let msg = apply_err(&reg, &["vendor.com/dev=gone"], &mut spec);
        assert!(
            msg.starts_with("while setting up CDI devices: failed to inject devices: "),
            "{msg}"
        );
        assert!(
            msg.contains("failed to stat CDI host device \"/nonexistent/cdi-dev\""),
            "{msg}"
        );
        let msg = apply_err(&reg, &["vendor.com/b=blk"], &mut spec);
        assert!(msg.contains("host type mismatch (b, c)"), "{msg}");
        let msg = apply_err(&reg, &["vendor.com/c=file"], &mut spec);
        assert!(msg.contains("\"/etc/passwd\": not a device node"), "{msg}");
    }

    #[test]
    fn device_node_symlink_is_not_followed() {
        let dir = TempDir::new().unwrap();
        let link = dir.path().join("null-link");
        std::os::unix::fs::symlink("/dev/null", &link).unwrap();
        let node = json!({"deviceNodes": [{"path": "/dev/y", "hostPath": link}]});
        let (_d, reg) = registry(&[("a.json", one_device("d", node))]);
        let mut spec = base_spec();
        let msg = apply_err(&reg, &["vendor.com/dev=d"], &mut spec);
        assert!(msg.contains("not a device node"), "{msg}");
    }

    #[test]
    fn fifo_and_unbuffered_nodes_get_no_cgroup_rule() {
        let (_d, reg) = registry(&[(
            "a.json",
            one_device(
                "d",
                json!({"deviceNodes": [
                    {"path": "/dev/p", "type": "p"},
                    {"path": "/dev/u", "type": "u", "major": 4, "minor": 1}
                ]}),
            ),
        )]);
        let mut spec = base_spec();
        let rules_before = cgroup_rules(&spec);
        reg.apply(&devices(&["vendor.com/dev=d"]), &mut spec)
            .unwrap();
        let devs = linux_devices(&spec);
        assert_eq!(devs[0].typ(), LinuxDeviceType::P);
        assert_eq!(devs[1].typ(), LinuxDeviceType::U);
        assert_eq!(cgroup_rules(&spec), rules_before);
    }

    #[test]
    fn yaml_octal_file_mode() {
        let yaml = "cdiVersion: 0.3.0\nkind: a.com/b\ndevices:\n- name: x\n  containerEdits:\n    deviceNodes:\n    - {path: /dev/x, type: c, major: 1, minor: 3, fileMode: 0640}\n    - {path: /dev/y, type: c, major: 1, minor: 3, fileMode: 0o600}\n    - {path: /dev/z, type: c, major: 1, minor: 3, fileMode: 420}\n";
        let (_d, reg) = registry(&[("s.yaml", yaml.into())]);
        let mut spec = base_spec();
        reg.apply(&devices(&["a.com/b=x"]), &mut spec).unwrap();
        let modes: Vec<_> = linux_devices(&spec).iter().map(|d| d.file_mode()).collect();
        assert_eq!(modes, [Some(0o640), Some(0o600), Some(0o644)]);

        let bad = yaml.replace("0640", "0x1z");
        let msg = load_err(&[("s.yaml", bad)]);
        assert!(msg.contains("failed to parse CDI Spec"), "{msg}");
    }

    #[test]
    fn mounts_replace_same_destination_and_are_depth_sorted() {
        let (_d, reg) = registry(&[(
            "a.json",
            one_device(
                "d",
                json!({"mounts": [
                    {"hostPath": "/host/lib", "containerPath": "/usr/lib/x"},
                    {"hostPath": "/new", "containerPath": "/opt/data", "options": ["ro", "bind"]},
                    {"hostPath": "/dev/shm2", "containerPath": "/dev//shm2/", "type": "bind", "options": []}
                ]}),
            ),
        )]);
        let mut spec = base_spec();
        let mut old = mount_at("/opt/data");
        old.set_source(Some("/old".into()));
        spec.set_mounts(Some(vec![
            mount_at("/proc"),
            mount_at("/dev/shm"),
            mount_at("/dev"),
            old,
            mount_at("/tmp"),
            mount_at("/a/b/c"),
            mount_at("/var/tmp"),
        ]));
        reg.apply(&devices(&["vendor.com/dev=d"]), &mut spec)
            .unwrap();
        assert_eq!(
            destinations(&spec),
            [
                "/proc",
                "/dev",
                "/tmp",
                "/dev/shm",
                "/var/tmp",
                "/opt/data",
                "/dev//shm2/",
                "/a/b/c",
                "/usr/lib/x"
            ]
        );
        let mounts = spec.mounts().as_ref().unwrap();
        let data = mounts
            .iter()
            .find(|m| m.destination() == Path::new("/opt/data"))
            .unwrap();
        assert_eq!(data.source().as_deref(), Some(Path::new("/new")));
        assert_eq!(data.typ(), &None);
        assert_eq!(
            data.options().as_deref(),
            Some(&["ro".to_string(), "bind".to_string()][..])
        );
        let shm2 = mounts
            .iter()
            .find(|m| m.destination() == Path::new("/dev/shm2"))
            .unwrap();
        assert_eq!(shm2.typ().as_deref(), Some("bind"));
        assert_eq!(shm2.options(), &None);
    }

    #[test]
    fn mounts_are_not_sorted_without_cdi_mounts() {
        let (_d, reg) = registry(&[("a.json", one_device("d", json!({"env": ["A=1"]})))]);
        let mut spec = base_spec();
        spec.set_mounts(Some(vec![mount_at("/a/b/c"), mount_at("/x")]));
        reg.apply(&devices(&["vendor.com/dev=d"]), &mut spec)
            .unwrap();
        assert_eq!(destinations(&spec), ["/a/b/c", "/x"]);
    }

    #[test]
    fn clean_path_matches_go() {
        for (input, want) in [
            ("", "."),
            ("/", "/"),
            ("//", "/"),
            ("/a/b/", "/a/b"),
            ("a//b", "a/b"),
            ("/a/./b/../c", "/a/c"),
            ("/..", "/"),
            ("../a", "../a"),
            ("a/../..", ".."),
            ("./", "."),
            ("/a/b/../../..", "/"),
            ("a/b/c/../../../..", ".."),
        ] {
            assert_eq!(clean_path(input.as_bytes()), want.as_bytes(), "{input:?}");
        }
    }

    #[test]
    fn hooks_are_appended_to_their_lists() {
        let mut all = Vec::new();
        for name in HOOK_NAMES {
            all.push(json!({"hookName": name, "path": format!("/hooks/{name}"), "args": [name, "x"], "env": ["H=1"], "timeout": 5}));
        }
        all.push(json!({"hookName": "createContainer", "path": "/hooks/second"}));
        let (_d, reg) = registry(&[("a.json", one_device("d", json!({"hooks": all})))]);
        let mut spec = base_spec();
        let mut existing = Hook::default();
        existing.set_path("/hooks/existing".into());
        let mut hooks = Hooks::default();
        hooks.set_poststop(Some(vec![existing]));
        spec.set_hooks(Some(hooks));
        reg.apply(&devices(&["vendor.com/dev=d"]), &mut spec)
            .unwrap();

        let hooks = spec.hooks().as_ref().unwrap();
        let paths = |list: &Option<Vec<Hook>>| -> Vec<String> {
            list.iter()
                .flatten()
                .map(|h| h.path().to_string_lossy().into_owned())
                .collect()
        };
        #[allow(deprecated)]
        let prestart = paths(hooks.prestart());
        assert_eq!(prestart, ["/hooks/prestart"]);
        assert_eq!(paths(hooks.create_runtime()), ["/hooks/createRuntime"]);
        assert_eq!(
            paths(hooks.create_container()),
            ["/hooks/createContainer", "/hooks/second"]
        );
        assert_eq!(paths(hooks.start_container()), ["/hooks/startContainer"]);
        assert_eq!(paths(hooks.poststart()), ["/hooks/poststart"]);
        assert_eq!(
            paths(hooks.poststop()),
            ["/hooks/existing", "/hooks/poststop"]
        );
        let first = &hooks.poststart().as_ref().unwrap()[0];
        assert_eq!(
            first.args().as_deref(),
            Some(&["poststart".to_string(), "x".to_string()][..])
        );
        assert_eq!(first.env().as_deref(), Some(&["H=1".to_string()][..]));
        assert_eq!(first.timeout(), Some(5));
        let second = &hooks.create_container().as_ref().unwrap()[1];
        assert_eq!(
            (second.args(), second.env(), second.timeout()),
            (&None, &None, None)
        );
    }

    #[test]
    fn additional_gids_non_zero_without_duplicates() {
        let (_d, reg) = registry(&[
            (
                "a.json",
                one_device("a", json!({"additionalGids": [0, 44, 44, 10]})),
            ),
            (
                "b.json",
                spec_json(
                    "vendor.com/b",
                    json!({"additionalGids": [45]}),
                    json!([{"name": "b", "containerEdits": {"additionalGids": [44, 46]}}]),
                ),
            ),
        ]);
        let mut spec = base_spec();
        spec.process_mut()
            .as_mut()
            .unwrap()
            .user_mut()
            .set_additional_gids(Some(vec![10]));
        reg.apply(&devices(&["vendor.com/dev=a", "vendor.com/b=b"]), &mut spec)
            .unwrap();
        let gids = spec
            .process()
            .as_ref()
            .unwrap()
            .user()
            .additional_gids()
            .clone();
        assert_eq!(gids, Some(vec![10, 44, 45, 46]));

        // Only gid 0: nothing is written.
        let (_d, reg) = registry(&[("a.json", one_device("z", json!({"additionalGids": [0]})))]);
        let mut spec = base_spec();
        reg.apply(&devices(&["vendor.com/dev=z"]), &mut spec)
            .unwrap();
        assert_eq!(
            spec.process().as_ref().unwrap().user().additional_gids(),
            &None
        );
    }

    #[test]
    fn spec_level_edits_apply_once_per_spec() {
        let (_d, reg) = registry(&[
            (
                "a.json",
                spec_json(
                    "vendor.com/gpu",
                    json!({"env": ["SPEC=1"], "hooks": [{"hookName": "createRuntime", "path": "/spec-hook"}],
                           "mounts": [{"hostPath": "/lib/x", "containerPath": "/usr/lib/x"}]}),
                    json!([
                        {"name": "0", "containerEdits": {"env": ["DEV0=1"], "hooks": [{"hookName": "createRuntime", "path": "/dev0"}]}},
                        {"name": "1", "containerEdits": {"env": ["DEV1=1"], "hooks": [{"hookName": "createRuntime", "path": "/dev1"}]}}
                    ]),
                ),
            ),
            (
                "b.json",
                spec_json(
                    "vendor.com/nic",
                    json!({"env": ["NIC=spec"]}),
                    json!([{"name": "n", "containerEdits": {"env": ["NIC_DEV=1"]}}]),
                ),
            ),
        ]);
        let mut spec = base_spec();
        spec.set_mounts(Some(vec![]));
        spec.set_hooks(None);
        reg.apply(
            &devices(&["vendor.com/gpu=0", "vendor.com/nic=n", "vendor.com/gpu=1"]),
            &mut spec,
        )
        .unwrap();
        assert_eq!(
            env(&spec),
            [
                "PATH=/bin",
                "FOO=old",
                "SPEC=1",
                "DEV0=1",
                "NIC=spec",
                "NIC_DEV=1",
                "DEV1=1"
            ]
        );
        let hooks = spec
            .hooks()
            .as_ref()
            .unwrap()
            .create_runtime()
            .clone()
            .unwrap();
        let paths: Vec<_> = hooks
            .iter()
            .map(|h| h.path().to_string_lossy().into_owned())
            .collect();
        assert_eq!(paths, ["/spec-hook", "/dev0", "/dev1"]);
        assert_eq!(destinations(&spec), ["/usr/lib/x"]);
    }

    #[test]
    fn intel_rdt_and_net_devices() {
        let (_d, reg) = registry(&[
            (
                "a.json",
                one_device("a", json!({"intelRdt": {"closID": "first"}})),
            ),
            (
                "b.json",
                spec_json(
                    "vendor.com/b",
                    json!({}),
                    json!([{"name": "b", "containerEdits": {
                        "intelRdt": {"closID": "clos1", "l3CacheSchema": "L3:0=f", "schemata": ["MB:0=50"], "enableMonitoring": true},
                        "netDevices": [{"hostInterfaceName": "eth1", "name": "net1"}]
                    }}]),
                ),
            ),
        ]);
        let mut spec = base_spec();
        reg.apply(&devices(&["vendor.com/dev=a", "vendor.com/b=b"]), &mut spec)
            .unwrap();
        let linux = spec.linux().as_ref().unwrap();
        let rdt = linux.intel_rdt().as_ref().unwrap();
        assert_eq!(rdt.clos_id().as_deref(), Some("clos1"));
        assert_eq!(rdt.l3_cache_schema().as_deref(), Some("L3:0=f"));
        assert_eq!(rdt.mem_bw_schema(), &None);
        assert_eq!(
            rdt.schemata().as_deref(),
            Some(&["MB:0=50".to_string()][..])
        );
        assert_eq!(rdt.enable_monitoring(), &Some(true));
        let net = linux.net_devices().as_ref().unwrap();
        assert_eq!(net.len(), 1);
        assert_eq!(net["eth1"].name().as_deref(), Some("net1"));
    }

    #[test]
    fn edits_land_in_a_spec_without_linux_or_process() {
        let (_d, reg) = registry(&[(
            "a.json",
            one_device(
                "d",
                json!({"deviceNodes": [{"path": "/dev/x", "type": "b", "major": 8, "minor": 1}], "additionalGids": [5]}),
            ),
        )]);
        let mut spec = base_spec();
        spec.set_linux(None);
        spec.set_process(None);
        reg.apply(&devices(&["vendor.com/dev=d"]), &mut spec)
            .unwrap();
        let linux = spec.linux().as_ref().unwrap();
        assert_eq!(
            linux.namespaces(),
            &None,
            "an empty linux section, not a template"
        );
        assert_eq!(linux_devices(&spec).len(), 1);
        assert_eq!(cgroup_rules(&spec).len(), 1);
        let user = spec.process().as_ref().unwrap().user();
        assert_eq!(user.additional_gids(), &Some(vec![5]));
    }

    #[test]
    fn odd_inputs_never_panic() {
        let inputs = [
            "{}",
            "null",
            "[]",
            "0",
            "\"x\"",
            "---",
            "~",
            "a: [",
            "{\"devices\": [null]}",
            "{\"cdiVersion\": 1.1, \"kind\": 5}",
            "{\"kind\": \"/\"}",
            "{\"kind\": \"a/\"}",
            "{\"kind\": \"é/b\"}",
            "{\"cdiVersion\":\"1.1.0\",\"kind\":\"a/b\",\"devices\":[{\"name\":\"é\"}]}",
            "*anchor",
            "&a [*a]",
            "{\"devices\": [{\"containerEdits\": {\"deviceNodes\": [{}]}}]}",
        ];
        for (i, input) in inputs.iter().enumerate() {
            for ext in ["json", "yaml"] {
                let dir = dir_with(&[(&format!("{i}.{ext}"), input.to_string())]);
                let _ = Registry::load(&paths(&[&dir]));
            }
        }
        for name in [
            "",
            "=",
            "/",
            "a/=",
            "/=b",
            "a=/b",
            "é/é=é",
            "a/b=é",
            "ab/cd=e\u{301}",
        ] {
            let _ = validate_qualified_name(name);
        }
        for p in ["", ".", "..", "/../..", "a/./../b/", "\u{0}/x"] {
            let _ = clean_path(p.as_bytes());
        }
    }
}
