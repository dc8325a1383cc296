//! OCI-SIF assembly: layers → one squashfs layer → SIF with config, manifest and
//! root index laid out like SingularityCE 4 / oci-tools write them (sif-format.md §8).

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::common::{human, make_root, BuildOptions, BuildReport, OutFile, Progress, WorkDir};
use super::extract::Extractor;
use super::source::SourceSpec;
use super::source::{self, Flavour, LayerBlob, Store, OCI_CONFIG, OCI_INDEX};
use super::squashfs;
use crate::error::{Error, Result};
use crate::oci_sif::SQUASHFS_LAYER;
use crate::sif::{CreateOptions, SifWriter};

/// Spare descriptor slots, as SingularityCE passes to the OCI-SIF writer.
const SPARE_DESCRIPTORS: usize = 8;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor<'a> {
    media_type: &'a str,
    size: u64,
    digest: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    artifact_type: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Manifest<'a> {
    schema_version: u32,
    media_type: &'a str,
    config: Descriptor<'a>,
    layers: Vec<Descriptor<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Index<'a> {
    schema_version: u32,
    media_type: &'a str,
    manifests: Vec<Descriptor<'a>>,
}

/// A reader that hashes what passes through it.
struct HashRead<R> {
    inner: R,
    h: Sha256,
    n: u64,
}

impl<R: Read> HashRead<R> {
    fn new(inner: R) -> Self {
        HashRead {
            inner,
            h: Sha256::new(),
            n: 0,
        }
    }
    fn finish(mut self) -> std::io::Result<(String, u64)> {
        std::io::copy(&mut self, &mut std::io::sink())?;
        Ok((format!("sha256:{}", hex::encode(self.h.finalize())), self.n))
    }
}

impl<R: Read> Read for HashRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.h.update(&buf[..n]);
        self.n += n as u64;
        Ok(n)
    }
}

fn blob_err(store_path: &str, e: std::io::Error) -> Error {
    Error::Image(format!("reading {store_path}: {e}"))
}

/// Check a stored blob's digest before using it (clear error for corrupt blobs).
fn verify_blob(store: &Store, l: &LayerBlob, n: usize) -> Result<()> {
    let Some(want) = &l.digest else { return Ok(()) };
    let (r, _) = store.open(&l.path)?.ok_or_else(|| Error::MissingBlob {
        digest: want.clone(),
        path: format!("layer {n}, {}", l.path),
    })?;
    let (got, _) = HashRead::new(r)
        .finish()
        .map_err(|e| blob_err(&l.path, e))?;
    if &got != want {
        return Err(Error::Digest {
            what: format!("layer {n} ({})", l.path),
            got,
            want: want.clone(),
        });
    }
    Ok(())
}

/// Decompress (gzip / zstd / none, sniffed) and apply one layer; check its diff_id.
fn apply_blob(
    store: &Store,
    l: &LayerBlob,
    n: usize,
    ex: &mut Extractor,
) -> Result<super::extract::Stats> {
    verify_blob(store, l, n)?;
    let (r, _) = store.open(&l.path)?.ok_or_else(|| Error::MissingBlob {
        digest: l.digest.clone().unwrap_or_default(),
        path: format!("layer {n}, {}", l.path),
    })?;
    let mut br = BufReader::with_capacity(1 << 20, r);
    let head = br.fill_buf().map_err(|e| blob_err(&l.path, e))?.to_vec();
    let dec: Box<dyn Read> = if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(br))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(zstd::stream::read::Decoder::with_buffer(br).map_err(|e| blob_err(&l.path, e))?)
    } else {
        Box::new(br)
    };
    let mut hashed = HashRead::new(dec);
    let stats = ex.apply_layer(n, &mut hashed)?;
    let (diff, _) = hashed.finish().map_err(|e| Error::Layer {
        layer: n,
        msg: format!("decompressing {}: {e}", l.path),
    })?;
    if let Some(want) = &l.diff_id {
        if &diff != want {
            return Err(Error::Digest {
                what: format!("layer {n} uncompressed content (diff_id)"),
                got: diff,
                want: want.clone(),
            });
        }
    }
    Ok(stats)
}

/// Apply every layer of `img` into `rootfs` (an existing empty dir).
pub fn apply_layers(img: &source::ResolvedImage, rootfs: &Path, progress: Progress) -> Result<()> {
    let mut ex = Extractor::new(rootfs)?;
    let total = img.layers.len();
    for (i, l) in img.layers.iter().enumerate() {
        let s = apply_blob(&img.store, l, i + 1, &mut ex)?;
        progress.say(format!(
            "layer {}/{total} applied: {} ({}), {} entries, {} of file data, {} whiteouts",
            i + 1,
            l.digest
                .as_deref()
                .or(l.diff_id.as_deref())
                .unwrap_or(&l.path),
            human(l.size),
            s.entries,
            human(s.bytes),
            s.whiteouts
        ));
    }
    ex.finish()?;
    Ok(())
}

/// Write the OCI-SIF: layer, config, manifest, root index (reference writer order).
pub(crate) fn write_oci_sif(
    out: &Path,
    squashfs: &Path,
    config: &[u8],
    config_media_type: &str,
    flavour: Flavour,
    progress: Progress,
) -> Result<BuildReport> {
    write_oci_sif_with(
        out,
        squashfs,
        |_| config.to_vec(),
        config_media_type,
        flavour,
        progress,
    )
}

/// [`write_oci_sif`] with the config made from the layer's digest, which is also its
/// diff_id (the squashfs layer is not compressed): the layer is read once.
fn write_oci_sif_with(
    out: &Path,
    squashfs: &Path,
    config: impl FnOnce(&str) -> Vec<u8>,
    config_media_type: &str,
    flavour: Flavour,
    progress: Progress,
) -> Result<BuildReport> {
    let (of, file) = OutFile::new(out)?;
    let mut w = SifWriter::new(file, CreateOptions::deterministic(4 + SPARE_DESCRIPTORS))?;
    let mut lf = File::open(squashfs).map_err(|e| Error::io(squashfs, e))?;
    let sq_size = lf.metadata().map_err(|e| Error::io(squashfs, e))?.len();
    let (_, layer_digest) = w.add_oci_blob(&mut lf)?;
    let config = config(&layer_digest);
    let (_, cfg_digest) = w.add_oci_blob(&mut &config[..])?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: flavour.manifest_type(),
        config: Descriptor {
            media_type: config_media_type,
            size: config.len() as u64,
            digest: &cfg_digest,
            artifact_type: None,
        },
        layers: vec![Descriptor {
            media_type: SQUASHFS_LAYER,
            size: sq_size,
            digest: &layer_digest,
            artifact_type: None,
        }],
    };
    let mb = serde_json::to_vec(&manifest).expect("serializable");
    let (_, man_digest) = w.add_oci_blob(&mut &mb[..])?;
    let index = Index {
        schema_version: 2,
        media_type: OCI_INDEX,
        manifests: vec![Descriptor {
            media_type: flavour.manifest_type(),
            size: mb.len() as u64,
            digest: &man_digest,
            artifact_type: Some(config_media_type),
        }],
    };
    let ib = serde_json::to_vec(&index).expect("serializable");
    w.add_oci_root_index(&ib)?;
    let file = w.finish()?;
    let size = of.commit(file, 0o644)?;
    progress.say(format!(
        "wrote {} ({}): OCI-SIF, squashfs layer {} ({})",
        out.display(),
        human(size),
        layer_digest,
        human(sq_size)
    ));
    Ok(BuildReport {
        oci: true,
        layers_applied: 0,
        squashfs_size: sq_size,
        sif_size: size,
    })
}

/// OCI image → OCI-SIF.
pub fn build_from_image(
    out: &Path,
    spec: &SourceSpec,
    tmp_parent: &Path,
    progress: Progress,
) -> Result<BuildReport> {
    let img = source::resolve(spec)?;
    progress.say(format!(
        "{} image with {} layer(s), config {}",
        match img.flavour {
            Flavour::Oci => "OCI",
            Flavour::Docker => "Docker",
        },
        img.layers.len(),
        source::sha256_digest(&img.config)
    ));
    let work = WorkDir::new(tmp_parent, "oci")?;
    let rootfs = work.path.join("rootfs");
    make_root(&rootfs)?;
    apply_layers(&img, &rootfs, progress)?;
    let sqfs = work.path.join("layer.squashfs");
    progress.say("creating squashfs layer");
    squashfs::mksquashfs(&rootfs, &sqfs, progress)?;
    let mut r = write_oci_sif(
        out,
        &sqfs,
        &img.config,
        &img.config_media_type,
        img.flavour,
        progress,
    )?;
    r.layers_applied = img.layers.len();
    Ok(r)
}

/// `dir:` with `--oci`: squash the directory as is, with a default image config.
pub fn build_from_dir(
    out: &Path,
    rootfs: &Path,
    opts: &BuildOptions,
    tmp_parent: &Path,
    progress: Progress,
) -> Result<BuildReport> {
    super::common::require_dir(rootfs)?;
    let work = WorkDir::new(tmp_parent, "dir")?;
    let sqfs = work.path.join("layer.squashfs");
    progress.say(format!("creating squashfs from {}", rootfs.display()));
    squashfs::mksquashfs(rootfs, &sqfs, progress)?;
    write_oci_sif_with(
        out,
        &sqfs,
        |diff_id| default_config(diff_id, opts),
        OCI_CONFIG,
        Flavour::Oci,
        progress,
    )
}

/// Image config for a directory: sh, the default PATH, `--env` and `--label`.
fn default_config(diff_id: &str, opts: &BuildOptions) -> Vec<u8> {
    let mut env = vec![format!("PATH={}", super::common::DEFAULT_PATH)];
    for (k, v) in &opts.env {
        env.retain(|e| e.split_once('=').map(|(ek, _)| ek) != Some(k.as_str()));
        env.push(format!("{k}={v}"));
    }
    let mut cfg = serde_json::json!({
        "architecture": crate::sif::Arch::host().name(),
        "os": "linux",
        "config": { "Env": env, "Cmd": ["/bin/sh"] },
        "rootfs": { "type": "layers", "diff_ids": [diff_id] },
    });
    if !opts.labels.is_empty() {
        let labels: serde_json::Map<String, serde_json::Value> = opts
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        cfg["config"]["Labels"] = serde_json::Value::Object(labels);
    }
    serde_json::to_vec(&cfg).expect("serializable")
}
