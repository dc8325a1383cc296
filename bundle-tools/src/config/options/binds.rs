//! Bind, overlay, home, tmp, scratch and workdir options of SingularityCE 4's OCI mode
//! (`--bind/-B`, `--mount`, `--overlay`, `--home`, `--scratch/-S`, `--workdir/-W`), as
//! described in `docs/oci-mode.md` §1.2 rows 8–9, §2 and §4.1–4.4.
//!
//! Parsing follows Singularity's own parsers (`pkg/util/bind`, the overlay item parser)
//! including their quirks; the OCI mounts produced are the ones Singularity's OCI
//! launcher writes to `config.json`. Where Singularity builds bind options as an
//! unordered set, the order here is fixed: `rbind,nodev,nosuid,noexec,ro`.

use std::fs;
use std::io::{ErrorKind, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Mount;

use crate::error::{Error, Result};

fn err(msg: impl Into<String>) -> Error {
    Error::Options(msg.into())
}

/// One bind request from -B or --mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    pub source: String,
    pub destination: String,
    pub readonly: bool,
    pub image_src: Option<String>,
    pub id: Option<String>,
}

impl Bind {
    fn plain(source: &str, destination: &str) -> Self {
        Bind {
            source: source.into(),
            destination: destination.into(),
            readonly: false,
            image_src: None,
            id: None,
        }
    }
}

// ---------------------------------------------------------------------------------------
// -B / --bind

/// Whether a comma item following `src:dst:` is a bind option (flags match exactly,
/// value options by their `name=` prefix), so that it belongs to that bind.
fn is_bind_option(s: &str) -> bool {
    s == "ro" || s == "rw" || s.starts_with("image-src=") || s.starts_with("id=")
}

/// The tokens of Singularity's regexp `([^,^:]+:?)`: runs of characters other than
/// `,` `^` `:`, each with an optional trailing `:`. The `^` is a literal in that
/// character class, so it separates tokens too; we keep that quirk.
fn bind_tokens(s: &str) -> Vec<&str> {
    let sep = |c: u8| c == b',' || c == b'^' || c == b':';
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if sep(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !sep(b[i]) {
            i += 1;
        }
        if i < b.len() && b[i] == b':' {
            i += 1;
        }
        out.push(&s[start..i]);
    }
    out
}

/// `-B` grammar: comma-separated `src[:dst[:opts]]`, opts = ro|rw|image-src=P|id=N; after a `src:dst:opts`
/// item, following comma items that are known options belong to that bind (`/a:/b:ro,rw,/c` = two binds).
pub fn parse_bind(s: &str) -> Result<Vec<Bind>> {
    let mut binds = Vec::new();
    let mut bind = String::new();
    // Number of `:`-parts of the bind being assembled.
    let mut elem = 0;
    for tok in bind_tokens(s) {
        let tok = tok.trim();
        let is_colon = bind.ends_with(':');
        if elem == 2 {
            if is_bind_option(tok) {
                if !is_colon {
                    bind.push(',');
                }
                bind.push_str(tok);
                continue;
            }
        } else if elem > 2 {
            return Err(err(format!("wrong bind syntax: {bind}")));
        }
        elem += 1;
        if !bind.is_empty() {
            if is_colon {
                bind.push_str(tok);
                continue;
            }
            binds.push(new_bind(&bind)?);
            elem = 1;
        }
        bind = tok.to_string();
    }
    if !bind.is_empty() {
        binds.push(new_bind(&bind)?);
    }
    Ok(binds)
}

fn new_bind(spec: &str) -> Result<Bind> {
    let mut parts = spec.splitn(3, ':');
    let source = parts.next().unwrap_or("");
    if source.is_empty() {
        return Err(err(format!("empty bind source for bind path {spec:?}")));
    }
    let destination = parts.next().unwrap_or(source);
    let mut b = Bind::plain(source, destination);
    let Some(opts) = parts.next() else {
        return Ok(b);
    };
    // Singularity keeps options in a map: a later value replaces an earlier one, and a
    // flag given as `ro=x` still counts as the flag.
    for value in opts.split(',') {
        if value == "ro" || value.starts_with("ro=") {
            b.readonly = true;
        } else if value == "rw" || value.starts_with("rw=") {
        } else if let Some(v) = value.strip_prefix("image-src=") {
            b.image_src = Some(if v.is_empty() { "/" } else { v }.to_string());
        } else if let Some(v) = value.strip_prefix("id=") {
            // An empty id reads back as "no id" in Singularity.
            b.id = (!v.is_empty()).then(|| v.to_string());
        } else {
            return Err(err(format!(
                "{value} is not a valid bind option (in bind path {spec:?})"
            )));
        }
    }
    Ok(b)
}

// ---------------------------------------------------------------------------------------
// --mount

/// A parse error of Go's `encoding/csv`, rendered as Go renders it.
fn csv_error(line: usize, col: usize, what: &str) -> String {
    format!("parse error on line {line}, column {col}: {what}")
}

/// Records of `s` parsed like Go's `csv.NewReader(..).ReadAll()` with default settings:
/// comma-separated, `"`-quoted fields (may span lines, `""` escapes a quote), no bare
/// quotes in unquoted fields, empty lines skipped, every record with as many fields as
/// the first.
fn csv_records(s: &str) -> std::result::Result<Vec<Vec<String>>, String> {
    const BARE: &str = "bare \" in non-quoted-field";
    const QUOTE: &str = "extraneous or missing \" in quoted-field";
    // Lines without their terminator; Go folds "\r\n" into "\n".
    let lines: Vec<&str> = s
        .split_inclusive('\n')
        .map(|l| {
            let l = l.strip_suffix('\n').unwrap_or(l);
            l.strip_suffix('\r').unwrap_or(l)
        })
        .collect();
    let mut records: Vec<Vec<String>> = Vec::new();
    let mut n = 0;
    while n < lines.len() {
        let start_line = n + 1;
        let mut line = lines[n];
        n += 1;
        if line.is_empty() {
            continue;
        }
        let mut record = Vec::new();
        let mut col = 1;
        'fields: loop {
            let Some(rest) = line.strip_prefix('"') else {
                let (field, rest) = match line.find(',') {
                    Some(i) => (&line[..i], Some(&line[i + 1..])),
                    None => (line, None),
                };
                if let Some(j) = field.find('"') {
                    return Err(csv_error(n, col + j, BARE));
                }
                record.push(field.to_string());
                match rest {
                    Some(r) => {
                        col += field.len() + 1;
                        line = r;
                        continue;
                    }
                    None => break,
                }
            };
            let mut field = String::new();
            line = rest;
            col += 1;
            loop {
                let Some(i) = line.find('"') else {
                    if n == lines.len() {
                        return Err(csv_error(n, col + line.len(), QUOTE));
                    }
                    // The quoted field goes on on the next line.
                    field.push_str(line);
                    field.push('\n');
                    line = lines[n];
                    n += 1;
                    col = 1;
                    continue;
                };
                field.push_str(&line[..i]);
                col += i + 1;
                line = &line[i + 1..];
                if let Some(r) = line.strip_prefix('"') {
                    field.push('"');
                    line = r;
                    col += 1;
                } else if let Some(r) = line.strip_prefix(',') {
                    record.push(field);
                    line = r;
                    col += 1;
                    continue 'fields;
                } else if line.is_empty() {
                    record.push(field);
                    break 'fields;
                } else {
                    return Err(csv_error(n, col, QUOTE));
                }
            }
        }
        if let Some(first) = records.first() {
            if first.len() != record.len() {
                return Err(format!(
                    "record on line {start_line}: wrong number of fields"
                ));
            }
        }
        records.push(record);
    }
    Ok(records)
}

/// `--mount` value: CSV, one mount per line; type=bind (only), source=/src=, destination=/dst=/target=,
/// ro/readonly, image-src=, id=; other keys (bind-propagation, rw, ...) are errors; source and destination required.
pub fn parse_mount(s: &str) -> Result<Vec<Bind>> {
    let fail = |m: String| err(format!("while parsing mount {s:?}: {m}"));
    let records = csv_records(s).map_err(fail)?;
    let mut out = Vec::new();
    for r in records {
        let mut b = Bind::plain("", "");
        for f in r {
            let (key, val) = f.split_once('=').unwrap_or((f.as_str(), ""));
            match key {
                "type" if val != "bind" => {
                    return Err(fail(format!(
                        "unsupported mount type {val:?}, only 'bind' is supported"
                    )))
                }
                "type" => {}
                "source" | "src" if val.is_empty() => {
                    return Err(fail("mount source cannot be empty".into()))
                }
                "source" | "src" => b.source = val.into(),
                "destination" | "dst" | "target" if val.is_empty() => {
                    return Err(fail("mount destination cannot be empty".into()))
                }
                "destination" | "dst" | "target" => b.destination = val.into(),
                // Any value, even `readonly=false`, means read-only (as in Singularity).
                "ro" | "readonly" => b.readonly = true,
                "image-src" if val.is_empty() => {
                    return Err(fail("img-src cannot be empty".into()))
                }
                "image-src" => b.image_src = Some(val.into()),
                "id" if val.is_empty() => return Err(fail("id cannot be empty".into())),
                "id" => b.id = Some(val.into()),
                "bind-propagation" => {
                    return Err(fail(
                        "bind-propagation not supported for individual mounts, check singularity.conf for global setting".into(),
                    ))
                }
                _ => return Err(fail(format!("invalid key {key:?} in mount specification"))),
            }
        }
        if b.source.is_empty() || b.destination.is_empty() {
            return Err(fail(
                "mounts must specify a source and a destination".into(),
            ));
        }
        out.push(b);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Bind mounts

/// Go's `filepath.Clean` (lexical: no symlinks resolved).
fn clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            c => parts.push(c),
        }
    }
    let joined = parts.join("/");
    if rooted {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".into()
    } else {
        joined
    }
}

/// Go's `filepath.Abs` with an explicit working directory.
fn abs(cwd: &Path, p: &str) -> String {
    if p.starts_with('/') {
        clean(p)
    } else {
        clean(&format!("{}/{p}", cwd.to_string_lossy()))
    }
}

pub(super) fn mount<S: AsRef<str>>(
    destination: &str,
    typ: Option<&str>,
    source: &str,
    options: &[S],
) -> Mount {
    let mut m = Mount::default();
    m.set_destination(destination.into());
    m.set_typ(typ.map(str::to_string));
    m.set_source(Some(source.into()));
    m.set_options(Some(
        options.iter().map(|s| s.as_ref().to_string()).collect(),
    ));
    m
}

/// The `/dev/pts` mount of the default set (§1.2 row 7); `tty_gid` only for host root.
pub fn devpts_mount(tty_gid: Option<u32>) -> Mount {
    let mut opts = vec![
        "nosuid".to_string(),
        "noexec".into(),
        "newinstance".into(),
        "ptmxmode=0666".into(),
        "mode=0620".into(),
    ];
    if let Some(g) = tty_gid {
        opts.push(format!("gid={g}"));
    }
    mount("/dev/pts", Some("devpts"), "devpts", &opts)
}

/// The full host `/dev` bind (§2, `--no-compat` with crun, or `-B /dev`), followed by a
/// fresh devpts because the bind hides the earlier one.
pub fn dev_bind_mounts(tty_gid: Option<u32>) -> Vec<Mount> {
    vec![
        mount(
            "/dev",
            Some("bind"),
            "/dev",
            &["nosuid", "rprivate", "rbind", "rw"],
        ),
        devpts_mount(tty_gid),
    ]
}

/// The `gid=` of devpts: the host `tty` group, only when running as host root.
pub fn host_tty_gid() -> Result<Option<u32>> {
    if !nix::unistd::getuid().is_root() {
        return Ok(None);
    }
    // /etc/group read directly: this static binary cannot load NSS modules.
    let text = fs::read_to_string("/etc/group")
        .map_err(|e| err(format!("while identifying tty gid: /etc/group: {e}")))?;
    let gid = crate::config::spec::group_entries(&text)
        .find(|(name, _, _)| *name == "tty")
        .map(|(_, gid, _)| gid);
    gid.map(Some)
        .ok_or_else(|| err("while identifying tty gid: no group named tty"))
}

/// Singularity's `addBindMount`: one bind, device bind or (unsupported) image bind.
fn add_bind(out: &mut Vec<Mount>, b: &Bind, allow_setuid: bool, cwd: &Path) -> Result<()> {
    // The prefix test is on the raw source, as in Singularity (so `/devices` counts).
    if b.source.starts_with("/dev") {
        return add_dev_bind(out, b);
    }
    if let Some(id) = &b.id {
        return Err(err(format!(
            "image bind id values are not supported, but one was supplied ({} {id})",
            b.image_src.as_deref().unwrap_or("")
        )));
    }
    if b.image_src.is_some() {
        return Err(err(
            "image binds (image-src=) are not supported by sifrun yet",
        ));
    }
    // runc needs these explicitly on /proc and /sys binds (runc discussion 3801).
    let proc_sys = b.source.starts_with("/proc") || b.source.starts_with("/sys");
    let mut opts = vec!["rbind", "nodev"];
    if proc_sys || !allow_setuid {
        opts.push("nosuid");
    }
    if proc_sys {
        opts.push("noexec");
    }
    if b.readonly {
        opts.push("ro");
    }
    let source = abs(cwd, &b.source);
    if let Err(e) = fs::metadata(&source) {
        return Err(err(format!("cannot stat bind source {}: {e}", b.source)));
    }
    if !b.destination.starts_with('/') {
        return Err(err(format!(
            "bind destination {} must be an absolute path",
            b.destination
        )));
    }
    out.push(mount(&b.destination, Some("none"), &source, &opts));
    Ok(())
}

fn add_dev_bind(out: &mut Vec<Mount>, b: &Bind) -> Result<()> {
    let source = clean(&b.source);
    if !source.starts_with("/dev") {
        return Err(err(format!(
            "device bind source must be an absolute path under /dev: {source}"
        )));
    }
    if source != b.destination {
        return Err(err(format!(
            "device bind source {source} must be the same as destination {}",
            b.destination
        )));
    }
    if let Err(e) = fs::metadata(&source) {
        return Err(err(format!("cannot stat bind source {source}: {e}")));
    }
    let mut opts = vec!["bind", "nosuid"];
    if b.readonly {
        opts.push("ro");
    }
    out.push(mount(&b.destination, Some("none"), &source, &opts));
    Ok(())
}

/// The OCI mounts for binds (all -B first, then --mount, as given): stat the source (`cannot stat bind
/// source X: ...`), destination must be absolute, options per 4.1 (rbind,nodev,nosuid unless allow_setuid, ro;
/// /proc and /sys sources get nosuid,noexec; /dev* sources are device binds; source exactly /dev is the full
/// /dev bind of section 2). Binds with image_src or id: return Err("image binds (image-src=) are not supported by sifrun yet")
/// resp. the id error from section 6. Sources are made absolute against `cwd`.
///
/// A `/dev` bind yields two mounts: `/dev` and a new `/dev/pts` (with `gid=<tty>` when
/// the real uid is 0, see [`host_tty_gid`]).
pub fn bind_mounts(binds: &[Bind], allow_setuid: bool, cwd: &Path) -> Result<Vec<Mount>> {
    let mut out = Vec::new();
    for b in binds {
        if b.source == "/dev" {
            if b.destination != "/dev" {
                return Err(err("host /dev may only be bound to /dev in container"));
            }
            out.extend(dev_bind_mounts(host_tty_gid()?));
            continue;
        }
        add_bind(&mut out, b, allow_setuid, cwd)?;
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// --overlay

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverlayKind {
    Dir,
    Squashfs,
    Ext3,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlay {
    pub path: std::path::PathBuf,
    pub writable: bool,
    pub kind: OverlayKind,
}

/// Kind of an overlay image file, from its header.
fn image_kind(path: &Path) -> Result<OverlayKind> {
    let shown = path.display();
    let mut head = Vec::with_capacity(2048);
    fs::File::open(path)
        .and_then(|f| f.take(2048).read_to_end(&mut head))
        .map_err(|e| err(format!("while examining image file {shown}: {e}")))?;
    if head.get(32..41) == Some(b"SIF_MAGIC") {
        return Err(err(format!(
            "while examining image file {shown}: image {shown} is a SIF file, a type that is not currently supported as overlay"
        )));
    }
    if head.starts_with(b"hsqs") {
        return Ok(OverlayKind::Squashfs);
    }
    // ext2/3/4 superblock at 1024, s_magic (0xEF53, little endian) at offset 56 in it.
    if head.get(1080..1082) == Some(&[0x53, 0xEF][..]) {
        return Ok(OverlayKind::Ext3);
    }
    Err(err(format!(
        "while examining image file {shown}: image format not recognized"
    )))
}

/// `--overlay PATH[:ro]` values (repeatable, each a comma list). Detect the kind (directory; squashfs by magic
/// "hsqs" at offset 0; ext3 by the ext superblock magic 0xEF53 at offset 1080; a SIF file -> error; anything
/// else -> error); squashfs is always read-only; at most one writable (`you can't specify more than one
/// writable overlay`), duplicates (same canonical path) an error; paths made absolute against cwd; missing path error.
///
/// Items keep the command-line order (the first read-only one is the topmost lower).
pub fn parse_overlays(values: &[String], cwd: &Path) -> Result<Vec<Overlay>> {
    let mut out: Vec<Overlay> = Vec::new();
    for item in values.iter().flat_map(|v| v.split(',')) {
        // Any suffix other than `ro` means writable, as in Singularity.
        let (p, suffix) = match item.split_once(':') {
            Some((p, s)) => (p, Some(s)),
            None => (item, None),
        };
        if p.is_empty() {
            return Err(err(format!("empty overlay path in --overlay {item:?}")));
        }
        let path = PathBuf::from(abs(cwd, p));
        let md = match fs::metadata(&path) {
            Ok(md) => md,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(err(format!(
                    "specified overlay {:?} does not exist",
                    path.display().to_string()
                )))
            }
            Err(e) => return Err(err(format!("overlay {}: {e}", path.display()))),
        };
        let kind = if md.is_dir() {
            OverlayKind::Dir
        } else {
            image_kind(&path)?
        };
        let writable = suffix != Some("ro") && kind != OverlayKind::Squashfs;
        if writable {
            if let Some(w) = out.iter().find(|o| o.writable) {
                return Err(err(format!(
                    "you can't specify more than one writable overlay; {} has already been specified as a writable overlay; use '--overlay {}:ro' instead",
                    w.path.display(),
                    path.display()
                )));
            }
        }
        out.push(Overlay {
            path,
            writable,
            kind,
        });
    }
    let mut seen: Vec<PathBuf> = Vec::with_capacity(out.len());
    for o in &out {
        let c = fs::canonicalize(&o.path)
            .map_err(|e| err(format!("overlay {}: {e}", o.path.display())))?;
        if seen.contains(&c) {
            return Err(err(format!(
                "duplicate overlays detected: {}",
                o.path.display()
            )));
        }
        seen.push(c);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// --home, /tmp, scratch, workdir

/// `--home` value: `DST` or `SRC:DST` (more than one ':' -> `home argument has incorrect number of elements`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    pub source: Option<String>,
    pub destination: String,
}

/// Parse a `--home` value. An empty `SRC` (`:DST`) means no source, as in Singularity.
pub fn parse_home(s: &str) -> Result<Home> {
    let parts: Vec<&str> = s.split(':').collect();
    match parts[..] {
        [dst] => Ok(Home {
            source: None,
            destination: dst.into(),
        }),
        [src, dst] => Ok(Home {
            source: (!src.is_empty()).then(|| src.to_string()),
            destination: dst.into(),
        }),
        _ => Err(err(format!(
            "home argument has incorrect number of elements: {}",
            parts.len()
        ))),
    }
}

/// The /tmp,/var/tmp, home, scratch and workdir mounts of sections 1.2 (rows 8, 9) and 4.3/4.4, given:
pub struct TmpMounts<'a> {
    /// Sessiondir max size (MiB), 64 by default.
    pub size_mb: u64,
    /// `--allow-setuid`: no `nosuid`.
    pub allow_setuid: bool,
    /// `--no-compat`: host `/tmp`, `/var/tmp` and home are bound instead of tmpfs.
    pub no_compat: bool,
    /// `--no-mount tmp`.
    pub no_tmp: bool,
    /// None = no home mount (`--no-home` / `--no-mount home`).
    pub home: Option<&'a Home>,
    /// The caller's host home dir (bound with `--no-compat` when `home` has no source).
    pub home_host: &'a str,
    /// uid/gid for the home tmpfs options; None with `--fakeroot`.
    pub host_ids: Option<(u32, u32)>,
    /// `-S` dirs.
    pub scratch: &'a [String],
    /// `-W` (already absolute); W/tmp, W/var_tmp and W/scratch/<dir> are created (mode
    /// 1777) as needed.
    pub workdir: Option<&'a std::path::Path>,
}

/// `mkdir` with mode 1777 regardless of the umask (Singularity clears the umask); an
/// existing directory is left as it is.
fn mkdir_sticky(p: &Path) -> Result<()> {
    let fail = |e: std::io::Error| err(format!("failed to create {}: {e}", p.display()));
    match fs::create_dir(p) {
        Ok(()) => fs::set_permissions(p, fs::Permissions::from_mode(0o1777)).map_err(fail),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(fail(e)),
    }
}

/// Mounts in Singularity's order: `/tmp` and `/var/tmp`, home, then one per scratch dir.
/// A relative home source is made absolute against the process's working directory.
pub fn tmp_mounts(t: &TmpMounts) -> Result<Vec<Mount>> {
    let mut out = Vec::new();
    let size = format!("size={}m", t.size_mb);
    let nosuid = !t.allow_setuid;

    if !t.no_tmp {
        if t.no_compat {
            // Native-mode emulation binds the host's directories; -W does not apply.
            for d in ["/tmp", "/var/tmp"] {
                add_bind(&mut out, &Bind::plain(d, d), t.allow_setuid, Path::new("/"))?;
            }
        } else if let Some(w) = t.workdir {
            let w = clean(&w.to_string_lossy());
            let mut opts = vec!["rbind", "relatime", "mode=777"];
            if nosuid {
                opts.push("nosuid");
            }
            for (dst, sub) in [("/tmp", "tmp"), ("/var/tmp", "var_tmp")] {
                let src = format!("{w}/{sub}");
                mkdir_sticky(Path::new(&src))?;
                out.push(mount(dst, Some("none"), &src, &opts));
            }
        } else {
            let opts = ["nosuid", "relatime", "mode=777", size.as_str()];
            out.push(mount("/tmp", Some("tmpfs"), "tmpfs", &opts));
            out.push(mount("/var/tmp", Some("tmpfs"), "tmpfs", &opts));
        }
    }

    if let Some(h) = t.home {
        if h.destination.is_empty() {
            return Err(err("cannot add home mount with empty destination"));
        }
        // An empty source means none, as in Singularity (then the tmpfs is used).
        let source = match h.source.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => Some(s),
            None if t.no_compat && !t.home_host.is_empty() => Some(t.home_host),
            None => None,
        };
        if let Some(src) = source {
            let cwd = if src.starts_with('/') {
                PathBuf::from("/")
            } else {
                std::env::current_dir()
                    .map_err(|e| err(format!("cannot determine absolute path of {src}: {e}")))?
            };
            add_bind(
                &mut out,
                &Bind::plain(src, &h.destination),
                t.allow_setuid,
                &cwd,
            )?;
        } else {
            let mut opts = vec!["relatime".to_string(), "mode=755".into(), size.clone()];
            if nosuid {
                opts.push("nosuid".into());
            }
            if let Some((uid, gid)) = t.host_ids {
                opts.push(format!("uid={uid}"));
                opts.push(format!("gid={gid}"));
            }
            out.push(mount(&h.destination, Some("tmpfs"), "tmpfs", &opts));
        }
    }

    if let Some(w) = t.workdir {
        // Created even without -S, as Singularity does.
        let scratch = format!("{}/scratch", clean(&w.to_string_lossy()));
        mkdir_sticky(Path::new(&scratch))?;
        let mut opts = vec!["rbind", "relatime", "nodev"];
        if nosuid {
            opts.push("nosuid");
        }
        for s in t.scratch {
            let src = clean(&format!("{scratch}/{s}"));
            mkdir_sticky(Path::new(&src))?;
            // No type at all: Singularity leaves it empty (omitted from the JSON).
            out.push(mount(s, None, &src, &opts));
        }
    } else {
        let mut opts = vec!["relatime", "nodev", size.as_str()];
        if nosuid {
            opts.push("nosuid");
        }
        for s in t.scratch {
            out.push(mount(s, Some("tmpfs"), "tmpfs", &opts));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(src: &str, dst: &str, ro: bool) -> Bind {
        Bind {
            readonly: ro,
            ..Bind::plain(src, dst)
        }
    }

    fn msg<T: std::fmt::Debug>(r: Result<T>) -> String {
        r.unwrap_err().to_string()
    }

    fn opts(m: &Mount) -> Vec<&str> {
        m.options()
            .as_ref()
            .unwrap()
            .iter()
            .map(String::as_str)
            .collect()
    }

    fn summary(m: &Mount) -> (String, Option<String>, String, Vec<String>) {
        (
            m.destination().to_string_lossy().into_owned(),
            m.typ().clone(),
            m.source().as_ref().unwrap().to_string_lossy().into_owned(),
            m.options().clone().unwrap(),
        )
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn bind_grammar() {
        assert_eq!(parse_bind("/a").unwrap(), vec![b("/a", "/a", false)]);
        assert_eq!(parse_bind("/a:/b").unwrap(), vec![b("/a", "/b", false)]);
        assert_eq!(parse_bind("/a:/b:ro").unwrap(), vec![b("/a", "/b", true)]);
        assert_eq!(
            parse_bind("/a:/b:ro,rw,/c").unwrap(),
            vec![b("/a", "/b", true), b("/c", "/c", false)]
        );
        assert_eq!(
            parse_bind("/a,/b:/c,/d:/e:rw").unwrap(),
            vec![
                b("/a", "/a", false),
                b("/b", "/c", false),
                b("/d", "/e", false)
            ]
        );
        assert_eq!(
            parse_bind("/a:/b:rw,/c:/d:ro").unwrap(),
            vec![b("/a", "/b", false), b("/c", "/d", true)]
        );
        // Spaces around items are trimmed.
        assert_eq!(
            parse_bind("/a:/b, /c").unwrap(),
            vec![b("/a", "/b", false), b("/c", "/c", false)]
        );
        assert!(parse_bind("").unwrap().is_empty());
        let img = parse_bind("/img.sqfs:/data:image-src=/sub,id=2,ro").unwrap();
        assert_eq!(
            img,
            vec![Bind {
                source: "/img.sqfs".into(),
                destination: "/data".into(),
                readonly: true,
                image_src: Some("/sub".into()),
                id: Some("2".into()),
            }]
        );
        // Singularity quirks: empty image-src reads as "/", empty id as none.
        let q = parse_bind("/i:/d:image-src=,id=").unwrap();
        assert_eq!(
            (q[0].image_src.as_deref(), q[0].id.as_deref()),
            (Some("/"), None)
        );
    }

    #[test]
    fn bind_grammar_errors() {
        let e = msg(parse_bind("/a:/b:/c:/d"));
        assert_eq!(e, "wrong bind syntax: /a:/b:/c:");
        let e = msg(parse_bind("/a:/b:bogus"));
        assert!(e.starts_with("bogus is not a valid bind option"), "{e}");
        // A third part that is not an option is an option error, not a new bind.
        let e = msg(parse_bind("/a:/b:/c"));
        assert!(e.starts_with("/c is not a valid bind option"), "{e}");
        // `id` without `=` is no option, so it starts a new bind.
        assert_eq!(
            parse_bind("/a:/b:ro,id").unwrap(),
            vec![b("/a", "/b", true), b("id", "id", false)]
        );
        // `^` separates like `,` (the regexp's character class quirk).
        assert_eq!(
            parse_bind("/a^/b").unwrap(),
            vec![b("/a", "/a", false), b("/b", "/b", false)]
        );
        let e = msg(parse_bind("/a:/b:"));
        assert!(e.contains("is not a valid bind option"), "{e}");
    }

    #[test]
    fn mount_csv() {
        assert_eq!(
            parse_mount("type=bind,source=/a,destination=/b").unwrap(),
            vec![b("/a", "/b", false)]
        );
        assert_eq!(
            parse_mount("src=/a,dst=/b,ro").unwrap(),
            vec![b("/a", "/b", true)]
        );
        // Any value of readonly means read-only.
        assert_eq!(
            parse_mount("source=/a,target=/b,readonly=false").unwrap(),
            vec![b("/a", "/b", true)]
        );
        assert_eq!(
            parse_mount("src=/a,dst=/b\n\nsrc=/c,dst=/d\r\n").unwrap(),
            vec![b("/a", "/b", false), b("/c", "/d", false)]
        );
        // CSV quoting lets a path hold a comma or a quote.
        assert_eq!(
            parse_mount("\"src=/a,b\",\"dst=/x\"\"y\"").unwrap(),
            vec![b("/a,b", "/x\"y", false)]
        );
        let m = parse_mount("src=/i,dst=/d,image-src=/s,id=4").unwrap();
        assert_eq!(
            (m[0].image_src.as_deref(), m[0].id.as_deref()),
            (Some("/s"), Some("4"))
        );
    }

    #[test]
    fn mount_csv_errors() {
        let e = msg(parse_mount("type=volume,src=/a,dst=/b"));
        assert!(
            e.ends_with("unsupported mount type \"volume\", only 'bind' is supported"),
            "{e}"
        );
        let e = msg(parse_mount("src=/a,dst=/b,bind-propagation=rshared"));
        assert!(e.contains("bind-propagation not supported"), "{e}");
        let e = msg(parse_mount("src=/a,dst=/b,rw"));
        assert!(
            e.ends_with("invalid key \"rw\" in mount specification"),
            "{e}"
        );
        let e = msg(parse_mount("src=/a"));
        assert!(
            e.ends_with("mounts must specify a source and a destination"),
            "{e}"
        );
        let e = msg(parse_mount("src=,dst=/b"));
        assert!(e.ends_with("mount source cannot be empty"), "{e}");
        let e = msg(parse_mount("src=/a,dst="));
        assert!(e.ends_with("mount destination cannot be empty"), "{e}");
        let e = msg(parse_mount("src=/a,dst=/b,image-src="));
        assert!(e.ends_with("img-src cannot be empty"), "{e}");
        // Go's csv wants the same field count on every line.
        let e = msg(parse_mount("src=/a,dst=/b\nsrc=/c,dst=/d,ro"));
        assert!(
            e.ends_with("record on line 2: wrong number of fields"),
            "{e}"
        );
        let e = msg(parse_mount("src=/a\"b,dst=/c"));
        assert!(e.contains("bare \" in non-quoted-field"), "{e}");
        let e = msg(parse_mount("\"src=/a,dst=/b"));
        assert!(
            e.contains("extraneous or missing \" in quoted-field"),
            "{e}"
        );
        assert!(!e.contains('\n'));
    }

    #[test]
    fn bind_options() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("data")).unwrap();
        let cwd = d.path();
        let data = format!("{}/data", cwd.display());

        let m = bind_mounts(&[b("data", "/mnt", false)], false, cwd).unwrap();
        assert_eq!(
            summary(&m[0]),
            (
                "/mnt".into(),
                Some("none".into()),
                data.clone(),
                s(&["rbind", "nodev", "nosuid"])
            )
        );
        let m = bind_mounts(&[b("./data/", "/mnt", true)], true, cwd).unwrap();
        assert_eq!(m[0].source().as_deref(), Some(Path::new(&data)));
        assert_eq!(opts(&m[0]), ["rbind", "nodev", "ro"]);

        // /proc and /sys keep nosuid,noexec even with --allow-setuid.
        let m = bind_mounts(
            &[b("/proc/self", "/p", false), b("/sys", "/s", true)],
            true,
            cwd,
        )
        .unwrap();
        assert_eq!(opts(&m[0]), ["rbind", "nodev", "nosuid", "noexec"]);
        assert_eq!(opts(&m[1]), ["rbind", "nodev", "nosuid", "noexec", "ro"]);
    }

    #[test]
    fn dev_binds() {
        let cwd = Path::new("/");
        let m = bind_mounts(&[b("/dev/null", "/dev/null", false)], true, cwd).unwrap();
        assert_eq!(
            summary(&m[0]),
            (
                "/dev/null".into(),
                Some("none".into()),
                "/dev/null".into(),
                s(&["bind", "nosuid"])
            )
        );
        let m = bind_mounts(&[b("/dev/null", "/dev/null", true)], false, cwd).unwrap();
        assert_eq!(opts(&m[0]), ["bind", "nosuid", "ro"]);
        let e = msg(bind_mounts(
            &[b("/dev/null", "/dev/zero", false)],
            false,
            cwd,
        ));
        assert_eq!(
            e,
            "device bind source /dev/null must be the same as destination /dev/zero"
        );
        let e = msg(bind_mounts(
            &[b("/dev/nope", "/dev/nope", false)],
            false,
            cwd,
        ));
        assert!(e.starts_with("cannot stat bind source /dev/nope: "), "{e}");

        let m = bind_mounts(&[b("/dev", "/dev", false)], false, cwd).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(
            summary(&m[0]),
            (
                "/dev".into(),
                Some("bind".into()),
                "/dev".into(),
                s(&["nosuid", "rprivate", "rbind", "rw"])
            )
        );
        assert_eq!(m[1].destination(), Path::new("/dev/pts"));
        assert_eq!(m[1].typ().as_deref(), Some("devpts"));
        let mut want = s(&[
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
        ]);
        if let Some(g) = host_tty_gid().unwrap() {
            want.push(format!("gid={g}"));
        }
        assert_eq!(m[1].options().as_ref().unwrap(), &want);
        let e = msg(bind_mounts(&[b("/dev", "/hostdev", false)], false, cwd));
        assert_eq!(e, "host /dev may only be bound to /dev in container");
    }

    #[test]
    fn bind_errors() {
        let d = tempfile::tempdir().unwrap();
        let e = msg(bind_mounts(&[b("missing", "/m", false)], false, d.path()));
        assert!(e.starts_with("cannot stat bind source missing: "), "{e}");
        assert!(!e.contains('\n'));
        let e = msg(bind_mounts(&[b("/", "rel", false)], false, d.path()));
        assert_eq!(e, "bind destination rel must be an absolute path");
        let img = Bind {
            image_src: Some("/".into()),
            ..b("/img", "/d", false)
        };
        assert_eq!(
            msg(bind_mounts(std::slice::from_ref(&img), false, d.path())),
            "image binds (image-src=) are not supported by sifrun yet"
        );
        let id = Bind {
            id: Some("3".into()),
            ..img
        };
        assert_eq!(
            msg(bind_mounts(&[id], false, d.path())),
            "image bind id values are not supported, but one was supplied (/ 3)"
        );
        // The first failing bind stops the list; earlier ones are not returned.
        let r = bind_mounts(
            &[b("/", "/r", false), b("/nope", "/n", false)],
            false,
            d.path(),
        );
        assert!(r.is_err());
    }

    fn write_at(path: &Path, at: usize, bytes: &[u8], len: usize) {
        let mut v = vec![0u8; len];
        v[at..at + bytes.len()].copy_from_slice(bytes);
        fs::write(path, v).unwrap();
    }

    #[test]
    fn overlays() {
        let d = tempfile::tempdir().unwrap();
        let cwd = d.path();
        for n in ["rw", "ro1", "ro2"] {
            fs::create_dir(cwd.join(n)).unwrap();
        }
        write_at(&cwd.join("sq.img"), 0, b"hsqs", 4096);
        write_at(&cwd.join("ext.img"), 1080, &[0x53, 0xEF], 4096);

        let o = parse_overlays(&s(&["rw", "ro1:ro,sq.img", "ext.img:ro", "ro2:ro"]), cwd).unwrap();
        let got: Vec<(PathBuf, bool, OverlayKind)> = o
            .into_iter()
            .map(|o| (o.path, o.writable, o.kind))
            .collect();
        assert_eq!(
            got,
            vec![
                (cwd.join("rw"), true, OverlayKind::Dir),
                (cwd.join("ro1"), false, OverlayKind::Dir),
                (cwd.join("sq.img"), false, OverlayKind::Squashfs),
                (cwd.join("ext.img"), false, OverlayKind::Ext3),
                (cwd.join("ro2"), false, OverlayKind::Dir),
            ]
        );
        // A writable ext3 image and an absolute path.
        let abs_ext = cwd.join("ext.img").display().to_string();
        let o = parse_overlays(&[abs_ext], Path::new("/")).unwrap();
        assert!(o[0].writable && o[0].kind == OverlayKind::Ext3);
        // Squashfs is read-only even when asked writable, so it does not count as one.
        let o = parse_overlays(&s(&["sq.img", "rw"]), cwd).unwrap();
        assert_eq!((o[0].writable, o[1].writable), (false, true));
    }

    #[test]
    fn overlay_errors() {
        let d = tempfile::tempdir().unwrap();
        let cwd = d.path();
        fs::create_dir(cwd.join("a")).unwrap();
        fs::create_dir(cwd.join("b")).unwrap();
        std::os::unix::fs::symlink("a", cwd.join("link")).unwrap();
        write_at(&cwd.join("img.sif"), 32, b"SIF_MAGIC", 4096);
        fs::write(cwd.join("junk"), b"not an image").unwrap();

        let e = msg(parse_overlays(&s(&["a", "b"]), cwd));
        assert!(
            e.starts_with("you can't specify more than one writable overlay"),
            "{e}"
        );
        let e = msg(parse_overlays(&s(&["a:ro", "b:ro,./a/:ro"]), cwd));
        assert!(e.starts_with("duplicate overlays detected"), "{e}");
        let e = msg(parse_overlays(&s(&["a:ro", "link:ro"]), cwd));
        assert!(e.starts_with("duplicate overlays detected"), "{e}");
        let e = msg(parse_overlays(&s(&["img.sif"]), cwd));
        assert!(e.contains("not currently supported as overlay"), "{e}");
        let e = msg(parse_overlays(&s(&["junk:ro"]), cwd));
        assert!(e.ends_with("image format not recognized"), "{e}");
        let e = msg(parse_overlays(&s(&["nope"]), cwd));
        assert_eq!(
            e,
            format!(
                "specified overlay \"{}\" does not exist",
                cwd.join("nope").display()
            )
        );
    }

    #[test]
    fn home_parse() {
        assert_eq!(
            parse_home("/h").unwrap(),
            Home {
                source: None,
                destination: "/h".into()
            }
        );
        assert_eq!(
            parse_home("/src:/dst").unwrap(),
            Home {
                source: Some("/src".into()),
                destination: "/dst".into()
            }
        );
        assert_eq!(parse_home(":/dst").unwrap().source, None);
        assert_eq!(
            msg(parse_home("/a:/b:/c")),
            "home argument has incorrect number of elements: 3"
        );
    }

    fn base<'a>(home: Option<&'a Home>, home_host: &'a str) -> TmpMounts<'a> {
        TmpMounts {
            size_mb: 64,
            allow_setuid: false,
            no_compat: false,
            no_tmp: false,
            home,
            home_host,
            host_ids: Some((1000, 100)),
            scratch: &[],
            workdir: None,
        }
    }

    #[test]
    fn tmp_compat() {
        let home = parse_home("/home/u").unwrap();
        let m = tmp_mounts(&base(Some(&home), "/nonexistent")).unwrap();
        let tmp = s(&["nosuid", "relatime", "mode=777", "size=64m"]);
        assert_eq!(
            m.iter().map(summary).collect::<Vec<_>>(),
            vec![
                (
                    "/tmp".into(),
                    Some("tmpfs".into()),
                    "tmpfs".into(),
                    tmp.clone()
                ),
                ("/var/tmp".into(), Some("tmpfs".into()), "tmpfs".into(), tmp),
                (
                    "/home/u".into(),
                    Some("tmpfs".into()),
                    "tmpfs".into(),
                    s(&["relatime", "mode=755", "size=64m", "nosuid", "uid=1000", "gid=100"])
                ),
            ]
        );
        // --fakeroot (no ids), --allow-setuid, other size, --no-mount tmp.
        let t = TmpMounts {
            size_mb: 16,
            allow_setuid: true,
            no_tmp: true,
            host_ids: None,
            ..base(Some(&home), "/x")
        };
        let m = tmp_mounts(&t).unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(opts(&m[0]), ["relatime", "mode=755", "size=16m"]);
        // No home.
        assert_eq!(tmp_mounts(&base(None, "/x")).unwrap().len(), 2);
        let empty = parse_home("").unwrap();
        assert_eq!(
            msg(tmp_mounts(&base(Some(&empty), "/x"))),
            "cannot add home mount with empty destination"
        );
    }

    #[test]
    fn tmp_no_compat_and_home_binds() {
        let d = tempfile::tempdir().unwrap();
        let host_home = d.path().display().to_string();
        let home = parse_home("/home/u").unwrap();
        let t = TmpMounts {
            no_compat: true,
            ..base(Some(&home), &host_home)
        };
        let m = tmp_mounts(&t).unwrap();
        let bind = s(&["rbind", "nodev", "nosuid"]);
        assert_eq!(
            m.iter().map(summary).collect::<Vec<_>>(),
            vec![
                (
                    "/tmp".into(),
                    Some("none".into()),
                    "/tmp".into(),
                    bind.clone()
                ),
                (
                    "/var/tmp".into(),
                    Some("none".into()),
                    "/var/tmp".into(),
                    bind.clone()
                ),
                (
                    "/home/u".into(),
                    Some("none".into()),
                    host_home.clone(),
                    bind
                ),
            ]
        );
        // SRC:DST binds in compat mode too; a missing source is an error.
        let home = Home {
            source: Some(host_home.clone()),
            destination: "/h".into(),
        };
        let m = tmp_mounts(&TmpMounts {
            allow_setuid: true,
            ..base(Some(&home), "/x")
        })
        .unwrap();
        assert_eq!(
            summary(&m[2]),
            (
                "/h".into(),
                Some("none".into()),
                host_home.clone(),
                s(&["rbind", "nodev"])
            )
        );
        let gone = Home {
            source: Some(format!("{host_home}/gone")),
            destination: "/h".into(),
        };
        let e = msg(tmp_mounts(&base(Some(&gone), "/x")));
        assert!(e.starts_with("cannot stat bind source "), "{e}");
        // --no-compat without a known host home falls back to the tmpfs.
        let home = parse_home("/home/u").unwrap();
        let m = tmp_mounts(&TmpMounts {
            no_compat: true,
            no_tmp: true,
            ..base(Some(&home), "")
        })
        .unwrap();
        assert_eq!(m[0].typ().as_deref(), Some("tmpfs"));
    }

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn workdir_and_scratch() {
        let d = tempfile::tempdir().unwrap();
        let w = d.path();
        let ws = w.display().to_string();
        let scratch = s(&["/data", "/out"]);
        let t = TmpMounts {
            scratch: &scratch,
            workdir: Some(w),
            ..base(None, "/x")
        };
        let m = tmp_mounts(&t).unwrap();
        let tmp = s(&["rbind", "relatime", "mode=777", "nosuid"]);
        let scr = s(&["rbind", "relatime", "nodev", "nosuid"]);
        assert_eq!(
            m.iter().map(summary).collect::<Vec<_>>(),
            vec![
                (
                    "/tmp".into(),
                    Some("none".into()),
                    format!("{ws}/tmp"),
                    tmp.clone()
                ),
                (
                    "/var/tmp".into(),
                    Some("none".into()),
                    format!("{ws}/var_tmp"),
                    tmp
                ),
                (
                    "/data".into(),
                    None,
                    format!("{ws}/scratch/data"),
                    scr.clone()
                ),
                ("/out".into(), None, format!("{ws}/scratch/out"), scr),
            ]
        );
        for sub in ["tmp", "var_tmp", "scratch", "scratch/data", "scratch/out"] {
            assert_eq!(mode(&w.join(sub)), 0o1777, "{sub}");
        }
        // Existing directories are reused as they are.
        fs::set_permissions(w.join("tmp"), fs::Permissions::from_mode(0o700)).unwrap();
        tmp_mounts(&t).unwrap();
        assert_eq!(mode(&w.join("tmp")), 0o700);

        // --no-compat binds the host /tmp but still takes scratch from -W.
        let m = tmp_mounts(&TmpMounts {
            no_compat: true,
            allow_setuid: true,
            ..t
        })
        .unwrap();
        assert_eq!(m[0].source().as_deref(), Some(Path::new("/tmp")));
        assert_eq!(
            summary(&m[2]),
            (
                "/data".into(),
                None,
                format!("{ws}/scratch/data"),
                s(&["rbind", "relatime", "nodev"])
            )
        );

        // A missing workdir fails on its first subdirectory.
        let gone = w.join("gone");
        let e = msg(tmp_mounts(&TmpMounts {
            workdir: Some(&gone),
            ..base(None, "/x")
        }));
        assert!(
            e.starts_with(&format!("failed to create {}/tmp: ", gone.display())),
            "{e}"
        );
    }

    #[test]
    fn scratch_tmpfs() {
        let scratch = s(&["/scratch", "/work"]);
        let t = TmpMounts {
            scratch: &scratch,
            no_tmp: true,
            ..base(None, "/x")
        };
        let m = tmp_mounts(&t).unwrap();
        let o = s(&["relatime", "nodev", "size=64m", "nosuid"]);
        assert_eq!(
            m.iter().map(summary).collect::<Vec<_>>(),
            vec![
                (
                    "/scratch".into(),
                    Some("tmpfs".into()),
                    "tmpfs".into(),
                    o.clone()
                ),
                ("/work".into(), Some("tmpfs".into()), "tmpfs".into(), o),
            ]
        );
    }

    #[test]
    fn clean_like_go() {
        for (i, o) in [
            ("", "."),
            ("/", "/"),
            ("/a/../b/", "/b"),
            ("/../a", "/a"),
            ("a/../..", ".."),
            ("./a//b/.", "a/b"),
        ] {
            assert_eq!(clean(i), o, "{i}");
        }
    }
}
