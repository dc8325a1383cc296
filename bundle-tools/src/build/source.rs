//! Build sources: parsing `oci:` / `oci-archive:` / `docker-archive:` / `dir:` and
//! resolving an OCI image (layout directory, OCI archive or docker archive) to its
//! config blob and layer blobs, with digests checked.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// Layer media types this builder can apply (tar, optionally gzip/zstd compressed).
const LAYER_TYPES: &[&str] = &[
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
];

/// JSON documents (index, manifest, config) larger than this are refused.
const JSON_LIMIT: u64 = 32 << 20;

/// A parsed SOURCE argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    OciDir {
        dir: PathBuf,
        tag: Option<String>,
    },
    OciArchive {
        file: PathBuf,
        tag: Option<String>,
    },
    DockerArchive {
        file: PathBuf,
        reference: Option<String>,
    },
    Dir(PathBuf),
}

impl SourceSpec {
    /// `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`, `docker-archive:FILE[:REF]`,
    /// `dir:ROOTFS`. Like skopeo, the path ends at the first `:` after the transport.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = || Error::SourceSpec(s.to_string());
        let (transport, rest) = s.split_once(':').ok_or_else(bad)?;
        if rest.is_empty() {
            return Err(bad());
        }
        let split = |r: &str| -> (PathBuf, Option<String>) {
            match r.split_once(':') {
                Some((p, t)) if !t.is_empty() => (PathBuf::from(p), Some(t.to_string())),
                Some((p, _)) => (PathBuf::from(p), None),
                None => (PathBuf::from(r), None),
            }
        };
        Ok(match transport {
            "oci" => {
                let (dir, tag) = split(rest);
                SourceSpec::OciDir { dir, tag }
            }
            "oci-archive" => {
                let (file, tag) = split(rest);
                SourceSpec::OciArchive { file, tag }
            }
            "docker-archive" => {
                let (file, reference) = split(rest);
                SourceSpec::DockerArchive { file, reference }
            }
            "dir" => SourceSpec::Dir(PathBuf::from(rest)),
            _ => return Err(bad()),
        })
    }
}

impl std::str::FromStr for SourceSpec {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        SourceSpec::parse(s)
    }
}

/// Normalise a relative path inside a layout or archive; `None` if it escapes.
fn norm_rel(p: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            c => out.push(c),
        }
    }
    Some(out.join("/"))
}

/// Where the files of an image come from: a directory or an uncompressed tar archive.
pub enum Store {
    Dir(PathBuf),
    Tar {
        file: PathBuf,
        /// path → (data offset, size)
        entries: HashMap<String, (u64, u64)>,
        /// path → target path (symlinks and hardlinks inside the archive)
        links: HashMap<String, String>,
    },
}

impl Store {
    pub fn dir(d: &Path) -> Result<Self> {
        let md = std::fs::metadata(d).map_err(|e| Error::io(d, e))?;
        if !md.is_dir() {
            return Err(Error::Image(format!("{}: not a directory", d.display())));
        }
        Ok(Store::Dir(d.to_path_buf()))
    }

    /// Index an uncompressed tar archive (headers only, bodies are skipped).
    pub fn tar(file: &Path) -> Result<Self> {
        let unreadable =
            |m: String| Error::Image(format!("{}: unreadable archive: {m}", file.display()));
        let mut f = File::open(file).map_err(|e| Error::io(file, e))?;
        let mut magic = [0u8; 4];
        let n = f.read(&mut magic).map_err(|e| Error::io(file, e))?;
        if n >= 2 && magic[..2] == [0x1f, 0x8b] || n == 4 && magic == [0x28, 0xb5, 0x2f, 0xfd] {
            return Err(unreadable(
                "compressed archive; decompress it first (only plain tar is supported)".into(),
            ));
        }
        f.seek(SeekFrom::Start(0)).map_err(|e| Error::io(file, e))?;
        let mut ar = tar::Archive::new(f);
        let mut entries = HashMap::new();
        let mut links = HashMap::new();
        let it = ar
            .entries_with_seek()
            .map_err(|e| unreadable(e.to_string()))?;
        let mut count = 0usize;
        for e in it {
            let e = e.map_err(|e| unreadable(e.to_string()))?;
            count += 1;
            let path = e.path_bytes();
            let Some(path) = norm_rel(&String::from_utf8_lossy(&path)) else {
                continue;
            };
            let et = e.header().entry_type();
            if et.is_file() {
                entries.insert(path, (e.raw_file_position(), e.size()));
            } else if et.is_symlink() || et.is_hard_link() {
                let Some(target) = e.link_name_bytes() else {
                    continue;
                };
                let target = String::from_utf8_lossy(&target).into_owned();
                let full = if et.is_symlink() && !target.starts_with('/') {
                    match path.rsplit_once('/') {
                        Some((d, _)) => format!("{d}/{target}"),
                        None => target,
                    }
                } else {
                    target
                };
                if let Some(t) = norm_rel(&full) {
                    links.insert(path, t);
                }
            }
        }
        if count == 0 {
            return Err(unreadable("empty or not a tar archive".into()));
        }
        Ok(Store::Tar {
            file: file.to_path_buf(),
            entries,
            links,
        })
    }

    fn describe(&self) -> String {
        match self {
            Store::Dir(d) => d.display().to_string(),
            Store::Tar { file, .. } => file.display().to_string(),
        }
    }

    /// Open a file by relative path; `Ok(None)` if it does not exist.
    pub fn open(&self, rel: &str) -> Result<Option<(Box<dyn Read + Send>, u64)>> {
        let Some(rel) = norm_rel(rel) else {
            return Ok(None);
        };
        match self {
            Store::Dir(d) => {
                let p = d.join(&rel);
                match File::open(&p) {
                    Ok(f) => {
                        let md = f.metadata().map_err(|e| Error::io(&p, e))?;
                        if !md.is_file() {
                            return Ok(None);
                        }
                        Ok(Some((Box::new(f), md.len())))
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(Error::io(&p, e)),
                }
            }
            Store::Tar {
                file,
                entries,
                links,
            } => {
                let mut rel = rel;
                for _ in 0..16 {
                    if let Some(&(off, size)) = entries.get(&rel) {
                        let mut f = File::open(file).map_err(|e| Error::io(file, e))?;
                        f.seek(SeekFrom::Start(off))
                            .map_err(|e| Error::io(file, e))?;
                        return Ok(Some((Box::new(f.take(size)), size)));
                    }
                    match links.get(&rel) {
                        Some(t) => rel = t.clone(),
                        None => return Ok(None),
                    }
                }
                Ok(None)
            }
        }
    }

    pub fn exists(&self, rel: &str) -> Result<bool> {
        Ok(self.open(rel)?.is_some())
    }

    /// Read a small file whole (JSON metadata).
    pub fn read_small(&self, rel: &str, what: &str) -> Result<Option<Vec<u8>>> {
        let Some((r, size)) = self.open(rel)? else {
            return Ok(None);
        };
        if size > JSON_LIMIT {
            return Err(Error::Image(format!(
                "{what} {rel} is too large ({size} bytes)"
            )));
        }
        let mut b = Vec::with_capacity(size as usize);
        r.take(JSON_LIMIT)
            .read_to_end(&mut b)
            .map_err(|e| Error::Image(format!("{}: {rel}: {e}", self.describe())))?;
        Ok(Some(b))
    }
}

/// `sha256:<hex>` of bytes.
pub fn sha256_digest(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

/// Validate an OCI digest and return the blob path `blobs/sha256/<hex>`.
pub fn blob_path(digest: &str) -> Result<String> {
    let bad = || Error::Image(format!("invalid or unsupported digest {digest:?}"));
    let (alg, hex) = digest.split_once(':').ok_or_else(bad)?;
    if alg != "sha256"
        || hex.len() != 64
        || !hex
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    {
        return Err(bad());
    }
    Ok(format!("blobs/{alg}/{hex}"))
}

fn check_digest(b: &[u8], want: &str, what: &str) -> Result<()> {
    let got = sha256_digest(b);
    if got != want {
        return Err(Error::Digest {
            what: what.to_string(),
            got,
            want: want.to_string(),
        });
    }
    Ok(())
}

fn parse_json(b: &[u8], what: &str) -> Result<Value> {
    serde_json::from_slice(b).map_err(|e| Error::Image(format!("{what}: invalid JSON: {e}")))
}

/// One layer to apply.
#[derive(Debug, Clone)]
pub struct LayerBlob {
    /// Path inside the store.
    pub path: String,
    pub media_type: String,
    /// Digest of the blob as stored (checked while reading), if known.
    pub digest: Option<String>,
    /// Digest of the uncompressed tar (config `rootfs.diff_ids`), checked if known.
    pub diff_id: Option<String>,
    pub size: u64,
}

/// Whether the image's manifest is OCI or Docker schema 2 (kept in the OCI-SIF).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    Oci,
    Docker,
}

impl Flavour {
    pub fn manifest_type(self) -> &'static str {
        match self {
            Flavour::Oci => OCI_MANIFEST,
            Flavour::Docker => DOCKER_MANIFEST,
        }
    }
}

/// A resolved OCI image.
pub struct ResolvedImage {
    pub store: Store,
    /// The config blob, byte for byte.
    pub config: Vec<u8>,
    pub config_media_type: String,
    pub flavour: Flavour,
    /// Bottom layer first.
    pub layers: Vec<LayerBlob>,
}

fn host_arch() -> &'static str {
    crate::sif::Arch::host().name()
}

fn ref_name(m: &Value) -> Option<&str> {
    m.pointer("/annotations/org.opencontainers.image.ref.name")
        .and_then(Value::as_str)
}

fn tag_matches(name: &str, tag: &str) -> bool {
    if name == tag {
        return true;
    }
    // "localhost/x/busybox:user" matches tag "user"; a full reference matches too.
    match name.rsplit_once(':') {
        Some((repo, t)) if !t.contains('/') => t == tag || repo == tag && t == "latest",
        _ => false,
    }
}

fn platform_matches(m: &Value) -> bool {
    m.pointer("/platform/os").and_then(Value::as_str) == Some("linux")
        && m.pointer("/platform/architecture").and_then(Value::as_str) == Some(host_arch())
}

/// Pick a manifest descriptor out of an index's `manifests`.
fn pick<'a>(manifests: &'a [Value], tag: Option<&str>, what: &str) -> Result<&'a Value> {
    if let Some(t) = tag {
        let m: Vec<&Value> = manifests
            .iter()
            .filter(|m| ref_name(m).is_some_and(|n| tag_matches(n, t)))
            .collect();
        return match m.as_slice() {
            [one] => Ok(one),
            [] => {
                let tags: Vec<&str> = manifests.iter().filter_map(ref_name).collect();
                Err(Error::Image(format!(
                    "{what}: no image tagged {t:?} (tags: {})",
                    if tags.is_empty() {
                        "none".to_string()
                    } else {
                        tags.join(", ")
                    }
                )))
            }
            _ => {
                let plat: Vec<&&Value> = m.iter().filter(|x| platform_matches(x)).collect();
                match plat.as_slice() {
                    [one] => Ok(one),
                    _ => Err(Error::Image(format!(
                        "{what}: tag {t:?} names several images"
                    ))),
                }
            }
        };
    }
    match manifests {
        [] => Err(Error::Image(format!("{what} lists no image"))),
        [one] => Ok(one),
        many => {
            let plat: Vec<&Value> = many.iter().filter(|x| platform_matches(x)).collect();
            match plat.as_slice() {
                [one] => Ok(one),
                _ => {
                    let tags: Vec<&str> = many.iter().filter_map(ref_name).collect();
                    Err(Error::Image(format!(
                        "{what} holds {} images; choose one with :TAG (tags: {})",
                        many.len(),
                        if tags.is_empty() {
                            "none".to_string()
                        } else {
                            tags.join(", ")
                        }
                    )))
                }
            }
        }
    }
}

fn check_layer_type(mt: &str, i: usize) -> Result<()> {
    if LAYER_TYPES.contains(&mt) {
        Ok(())
    } else {
        Err(Error::MediaType {
            what: format!("layer {}", i + 1),
            media_type: mt.to_string(),
        })
    }
}

fn read_blob(store: &Store, digest: &str, what: &str) -> Result<Vec<u8>> {
    let path = blob_path(digest)?;
    let b = store
        .read_small(&path, what)?
        .ok_or_else(|| Error::MissingBlob {
            digest: digest.to_string(),
            path: format!("{what}, {path}"),
        })?;
    check_digest(&b, digest, what)?;
    Ok(b)
}

fn diff_ids(config: &Value) -> Vec<String> {
    config
        .pointer("/rootfs/diff_ids")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Resolve an OCI image layout held by `store`.
pub fn resolve_oci(store: Store, tag: Option<&str>) -> Result<ResolvedImage> {
    let idx_bytes = store.read_small("index.json", "index")?.ok_or_else(|| {
        Error::Image(format!(
            "{}: not an OCI image layout (no index.json)",
            store.describe()
        ))
    })?;
    let index = parse_json(&idx_bytes, "index.json")?;
    let manifests = index
        .get("manifests")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut desc = pick(manifests, tag, "index.json")?.clone();
    for depth in 0.. {
        let digest = desc
            .get("digest")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::Image("index entry without digest".into()))?
            .to_string();
        let mt = desc.get("mediaType").and_then(Value::as_str).unwrap_or("");
        let b = read_blob(&store, &digest, "manifest")?;
        if let Some(sz) = desc.get("size").and_then(Value::as_u64) {
            if sz != b.len() as u64 {
                return Err(Error::Image(format!(
                    "manifest {digest}: size {} differs from descriptor size {sz}",
                    b.len()
                )));
            }
        }
        let doc = parse_json(&b, "manifest")?;
        let mt = doc
            .get("mediaType")
            .and_then(Value::as_str)
            .unwrap_or(mt)
            .to_string();
        let is_index = mt == OCI_INDEX
            || mt == DOCKER_LIST
            || (mt.is_empty() && doc.get("manifests").is_some());
        if is_index {
            if depth > 4 {
                return Err(Error::Image("image indexes nested too deeply".into()));
            }
            let ms = doc
                .get("manifests")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            desc = pick(ms, None, "nested index")?.clone();
            continue;
        }
        let flavour = match mt.as_str() {
            OCI_MANIFEST | "" => Flavour::Oci,
            DOCKER_MANIFEST => Flavour::Docker,
            other => {
                return Err(Error::MediaType {
                    what: format!("manifest {digest}"),
                    media_type: other.to_string(),
                })
            }
        };
        return resolve_manifest(store, &doc, flavour);
    }
    unreachable!()
}

fn resolve_manifest(store: Store, manifest: &Value, flavour: Flavour) -> Result<ResolvedImage> {
    let cfg_digest = manifest
        .pointer("/config/digest")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Image("manifest has no config digest".into()))?;
    let config_media_type = manifest
        .pointer("/config/mediaType")
        .and_then(Value::as_str)
        .unwrap_or(match flavour {
            Flavour::Oci => OCI_CONFIG,
            Flavour::Docker => DOCKER_CONFIG,
        })
        .to_string();
    if config_media_type != OCI_CONFIG && config_media_type != DOCKER_CONFIG {
        return Err(Error::MediaType {
            what: "image config".into(),
            media_type: config_media_type,
        });
    }
    let config = read_blob(&store, cfg_digest, "config")?;
    let cfg = parse_json(&config, "image config")?;
    let ids = diff_ids(&cfg);
    let ls = manifest
        .get("layers")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut layers = Vec::new();
    for (i, l) in ls.iter().enumerate() {
        let mt = l.get("mediaType").and_then(Value::as_str).unwrap_or("");
        check_layer_type(mt, i)?;
        let digest = l
            .get("digest")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::Image(format!("layer {} has no digest", i + 1)))?;
        let path = blob_path(digest)?;
        let Some((_, size)) = store.open(&path)? else {
            return Err(Error::MissingBlob {
                digest: digest.to_string(),
                path: format!("layer {}, {path}", i + 1),
            });
        };
        layers.push(LayerBlob {
            path,
            media_type: mt.to_string(),
            digest: Some(digest.to_string()),
            diff_id: (ids.len() == ls.len()).then(|| ids[i].clone()),
            size,
        });
    }
    if layers.is_empty() {
        return Err(Error::Image("image has no layers".into()));
    }
    Ok(ResolvedImage {
        store,
        config,
        config_media_type,
        flavour,
        layers,
    })
}

/// Resolve a `docker save` / skopeo docker-archive.
pub fn resolve_docker(store: Store, reference: Option<&str>) -> Result<ResolvedImage> {
    let mb = store
        .read_small("manifest.json", "manifest")?
        .ok_or_else(|| {
            Error::Image(format!(
                "{}: not a docker archive (no manifest.json)",
                store.describe()
            ))
        })?;
    let m = parse_json(&mb, "manifest.json")?;
    let list = m
        .as_array()
        .ok_or_else(|| Error::Image("manifest.json is not a list".into()))?;
    let tags_of = |e: &Value| -> Vec<String> {
        e.get("RepoTags")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let entry = match reference {
        Some(r) => {
            let found: Vec<&Value> = list
                .iter()
                .filter(|e| tags_of(e).iter().any(|t| tag_matches(t, r)))
                .collect();
            match found.as_slice() {
                [one] => *one,
                _ => {
                    return Err(Error::Image(format!(
                        "docker archive: no single image tagged {r:?}"
                    )))
                }
            }
        }
        None => match list.as_slice() {
            [one] => one,
            [] => return Err(Error::Image("docker archive holds no image".into())),
            many => {
                let tags: Vec<String> = many.iter().flat_map(tags_of).collect();
                return Err(Error::Image(format!(
                    "docker archive holds {} images; choose one with :REF (tags: {})",
                    many.len(),
                    tags.join(", ")
                )));
            }
        },
    };
    let cfg_path = entry
        .get("Config")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Image("manifest.json entry has no Config".into()))?;
    let config = store
        .read_small(cfg_path, "config")?
        .ok_or_else(|| Error::MissingBlob {
            digest: String::new(),
            path: format!("config {cfg_path}"),
        })?;
    // The config's file name is its digest ("<hex>.json" or "blobs/sha256/<hex>").
    let stem = cfg_path
        .rsplit('/')
        .next()
        .unwrap_or("")
        .trim_end_matches(".json");
    if stem.len() == 64 && stem.bytes().all(|c| c.is_ascii_hexdigit()) {
        check_digest(&config, &format!("sha256:{stem}"), "config")?;
    }
    let cfg = parse_json(&config, "image config")?;
    let ids = diff_ids(&cfg);
    let paths: Vec<&str> = entry
        .get("Layers")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if paths.is_empty() {
        return Err(Error::Image("image has no layers".into()));
    }
    if ids.len() != paths.len() {
        return Err(Error::Image(format!(
            "config lists {} diff_ids for {} layers",
            ids.len(),
            paths.len()
        )));
    }
    let mut layers = Vec::new();
    for (i, p) in paths.iter().enumerate() {
        let Some((_, size)) = store.open(p)? else {
            return Err(Error::MissingBlob {
                digest: ids[i].clone(),
                path: format!("layer {}, {p}", i + 1),
            });
        };
        layers.push(LayerBlob {
            path: p.to_string(),
            media_type: "application/vnd.docker.image.rootfs.diff.tar".into(),
            digest: None,
            diff_id: Some(ids[i].clone()),
            size,
        });
    }
    Ok(ResolvedImage {
        store,
        config,
        config_media_type: DOCKER_CONFIG.into(),
        flavour: Flavour::Docker,
        layers,
    })
}

/// Resolve any OCI-ish source.
pub fn resolve(spec: &SourceSpec) -> Result<ResolvedImage> {
    match spec {
        SourceSpec::OciDir { dir, tag } => resolve_oci(Store::dir(dir)?, tag.as_deref()),
        SourceSpec::OciArchive { file, tag } => resolve_oci(Store::tar(file)?, tag.as_deref()),
        SourceSpec::DockerArchive { file, reference } => {
            resolve_docker(Store::tar(file)?, reference.as_deref())
        }
        SourceSpec::Dir(_) => Err(Error::Options("dir: is not an OCI image".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_specs() {
        assert_eq!(
            SourceSpec::parse("oci:/a/b:user").unwrap(),
            SourceSpec::OciDir {
                dir: "/a/b".into(),
                tag: Some("user".into())
            }
        );
        assert_eq!(
            SourceSpec::parse("oci-archive:x.tar").unwrap(),
            SourceSpec::OciArchive {
                file: "x.tar".into(),
                tag: None
            }
        );
        assert_eq!(
            SourceSpec::parse("docker-archive:x.tar").unwrap(),
            SourceSpec::DockerArchive {
                file: "x.tar".into(),
                reference: None
            }
        );
        assert_eq!(
            SourceSpec::parse("dir:/r:x").unwrap(),
            SourceSpec::Dir("/r:x".into())
        );
        assert!(SourceSpec::parse("docker://busybox").is_err());
        assert!(SourceSpec::parse("oci:").is_err());
        assert!(SourceSpec::parse("busybox").is_err());
    }

    #[test]
    fn digests_and_tags() {
        assert!(blob_path("sha256:../../etc/passwd").is_err());
        assert!(blob_path(&format!("sha256:{}", "a".repeat(64))).is_ok());
        assert!(blob_path(&format!("sha512:{}", "a".repeat(128))).is_err());
        assert!(tag_matches("localhost/rtest/busybox:user", "user"));
        assert!(tag_matches(
            "localhost/rtest/busybox:user",
            "localhost/rtest/busybox:user"
        ));
        assert!(!tag_matches("localhost/rtest/busybox:user", "latest"));
        assert_eq!(norm_rel("./a/../b"), Some("b".into()));
        assert_eq!(norm_rel("../b"), None);
    }
}
