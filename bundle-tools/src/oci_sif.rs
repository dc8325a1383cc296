//! OCI-SIF resolution: root index → manifest → config and layer blobs. Only the small
//! JSON objects are read (and digest-checked); layers are located, never read.

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};
use crate::sif::{DataType, ReadAt, Sif};

pub const SQUASHFS_LAYER: &str = "application/vnd.sylabs.image.layer.v1.squashfs";
pub const EXT3_LAYER: &str = "application/vnd.sylabs.image.layer.v1.ext3";
/// Metadata JSON larger than this is refused (real ones are a few KiB).
const JSON_LIMIT: u64 = 16 << 20;

const MANIFEST_TYPES: &[&str] = &[
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];
const INDEX_TYPES: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// A layer blob inside the SIF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciLayer {
    pub object_id: u32,
    pub digest: String,
    pub media_type: String,
    /// Absolute file offset and size of the blob.
    pub offset: u64,
    pub size: u64,
}

/// One resolved image of an OCI-SIF.
#[derive(Debug, Clone)]
pub struct OciImage {
    pub manifest_digest: String,
    /// The whole image config JSON (`architecture`, `os`, `config`, `rootfs` …).
    pub config_json: Value,
    /// Its `config` section (Entrypoint, Cmd, Env …) if present.
    pub config: Option<oci_spec::image::Config>,
    /// Bottom layer first.
    pub layers: Vec<OciLayer>,
}

fn err(m: impl Into<String>) -> Error {
    Error::OciSif(m.into())
}

/// Read an OCI object by digest and check the bytes hash to it.
fn read_json<R: ReadAt>(sif: &Sif<R>, digest: &str, what: &str) -> Result<Value> {
    let d = sif
        .find_digest(digest)
        .filter(|d| d.data_type == DataType::OciBlob)
        .ok_or_else(|| err(format!("{what} blob {digest} is not in the image")))?;
    let b = sif.read_object(d, JSON_LIMIT)?;
    check_digest(&b, digest, what)?;
    serde_json::from_slice(&b).map_err(|e| err(format!("{what} {digest}: invalid JSON: {e}")))
}

fn check_digest(b: &[u8], digest: &str, what: &str) -> Result<()> {
    let got = format!("sha256:{}", hex::encode(Sha256::digest(b)));
    if got != digest {
        return Err(err(format!(
            "{what} content hashes to {got}, expected {digest}"
        )));
    }
    Ok(())
}

fn host_platform() -> (&'static str, &'static str) {
    let arch = crate::sif::Arch::host().name();
    ("linux", arch)
}

fn is_cosign(m: &Value) -> bool {
    m.pointer("/annotations/org.opencontainers.image.ref.name")
        .and_then(Value::as_str)
        .is_some_and(|r| r.starts_with("_cosign"))
}

/// Choose the image manifest from an index, following nested indexes.
fn pick_manifest<R: ReadAt>(sif: &Sif<R>, index: &Value, depth: u32) -> Result<String> {
    if depth > 4 {
        return Err(err("image indexes nested too deeply"));
    }
    let entries: Vec<&Value> = index
        .get("manifests")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter(|m| !is_cosign(m)).collect())
        .unwrap_or_default();
    if entries.is_empty() {
        return Err(Error::NoRootfs("OCI-SIF root index lists no image".into()));
    }
    let chosen = if entries.len() == 1 {
        entries[0]
    } else {
        // Several images (multi-arch list): take the one for this host.
        let (os, arch) = host_platform();
        let matching: Vec<&Value> = entries
            .iter()
            .copied()
            .filter(|m| {
                m.pointer("/platform/os").and_then(Value::as_str) == Some(os)
                    && m.pointer("/platform/architecture").and_then(Value::as_str) == Some(arch)
            })
            .collect();
        match matching.as_slice() {
            [m] => *m,
            _ => {
                return Err(err(format!(
                    "root index holds {} images and not exactly one for {os}/{arch}",
                    entries.len()
                )))
            }
        }
    };
    let digest = chosen
        .get("digest")
        .and_then(Value::as_str)
        .ok_or_else(|| err("index entry without digest"))?
        .to_string();
    let mt = chosen
        .get("mediaType")
        .and_then(Value::as_str)
        .unwrap_or("");
    if INDEX_TYPES.contains(&mt) {
        let nested = read_json(sif, &digest, "nested index")?;
        return pick_manifest(sif, &nested, depth + 1);
    }
    if !mt.is_empty() && !MANIFEST_TYPES.contains(&mt) {
        return Err(err(format!(
            "index entry {digest} has unsupported media type {mt}"
        )));
    }
    Ok(digest)
}

impl OciImage {
    /// Resolve the single image of an OCI-SIF.
    pub fn resolve<R: ReadAt>(sif: &Sif<R>) -> Result<Self> {
        let root = sif
            .of_type(DataType::OciRootIndex)
            .next()
            .ok_or_else(|| err("no OCI.RootIndex object (not an OCI-SIF)"))?;
        let rb = sif.read_object(root, JSON_LIMIT)?;
        if let Some(d) = root.digest() {
            check_digest(&rb, d, "root index")?;
        }
        let index: Value = serde_json::from_slice(&rb)
            .map_err(|e| err(format!("root index: invalid JSON: {e}")))?;
        let manifest_digest = pick_manifest(sif, &index, 0)?;
        let manifest = read_json(sif, &manifest_digest, "manifest")?;
        let cfg_digest = manifest
            .pointer("/config/digest")
            .and_then(Value::as_str)
            .ok_or_else(|| err("manifest has no config digest"))?;
        let config_json = read_json(sif, cfg_digest, "config")?;
        let config = match config_json.get("config") {
            Some(c) if !c.is_null() => Some(
                serde_json::from_value(c.clone()).map_err(|e| err(format!("image config: {e}")))?,
            ),
            _ => None,
        };
        let mut layers = Vec::new();
        for (i, l) in manifest
            .get("layers")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .enumerate()
        {
            let digest = l
                .get("digest")
                .and_then(Value::as_str)
                .ok_or_else(|| err(format!("layer {i} has no digest")))?;
            let d = sif
                .find_digest(digest)
                .filter(|d| d.data_type == DataType::OciBlob)
                .ok_or_else(|| err(format!("layer {i} blob {digest} is not in the image")))?;
            layers.push(OciLayer {
                object_id: d.id,
                digest: digest.to_string(),
                media_type: l
                    .get("mediaType")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                offset: d.offset as u64,
                size: d.size as u64,
            });
        }
        Ok(OciImage {
            manifest_digest,
            config_json,
            config,
            layers,
        })
    }

    /// The layers to mount as the root fs, bottom first: all squashfs; a trailing ext3
    /// writable overlay layer is left out (sifrun gives the bundle its own upper dir).
    pub fn rootfs_layers(&self) -> Result<Vec<&OciLayer>> {
        let mut ls: Vec<&OciLayer> = self.layers.iter().collect();
        if ls.last().is_some_and(|l| l.media_type == EXT3_LAYER) {
            ls.pop();
        }
        if ls.is_empty() {
            return Err(Error::NoRootfs("OCI-SIF image has no layers".into()));
        }
        for (i, l) in ls.iter().enumerate() {
            if l.media_type != SQUASHFS_LAYER {
                return Err(Error::NoRootfs(format!(
                    "layer {i} ({}) has media type {}, only squashfs layers can be mounted",
                    l.digest, l.media_type
                )));
            }
        }
        Ok(ls)
    }
}
