//! The plan: what to mount (an image's read-only layers) and where (the bundle
//! layout and the overlay options over it). Nothing here touches the system.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::oci_sif::OciImage;
use crate::sif::{Extra, FsType, Sif};

/// A read-only layer to mount: a byte range of the image.
#[derive(Debug, Clone)]
pub(super) struct Layer {
    pub offset: u64,
    pub size: u64,
    pub fs: FsType,
    /// A squashfs with an xattr table (squashfuse 0.1 reports `security.*` names as
    /// `trusted.*`, which only root can read: copy-up fails for anyone else).
    pub xattrs: bool,
}

/// What the image is, for the config: a native SIF or a resolved OCI-SIF.
pub(super) enum Source {
    Native,
    Oci(Box<OciImage>),
}

impl Source {
    /// As recorded in the mount state's `image_kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            Source::Native => "native",
            Source::Oci(_) => "oci",
        }
    }
}

/// Find what to mount in an image.
pub(super) fn plan(sif: &Sif) -> Result<(Source, Vec<Layer>)> {
    if sif.is_oci() {
        let img = OciImage::resolve(sif)?;
        let layers = img
            .rootfs_layers()?
            .iter()
            .map(|l| Layer {
                offset: l.offset,
                size: l.size,
                fs: FsType::Squashfs,
                xattrs: squashfs_has_xattrs(sif, l.offset),
            })
            .collect();
        return Ok((Source::Oci(Box::new(img)), layers));
    }
    let p = sif
        .primary_partition()
        .ok_or_else(|| Error::NoRootfs("image has no primary system partition".into()))?;
    let Extra::Partition { fs, .. } = p.extra else {
        unreachable!("primary_partition returns partitions")
    };
    let fs = match fs {
        FsType::Squashfs | FsType::Ext3 | FsType::Raw => sif.sniff_fs(p).ok_or_else(|| {
            Error::NoRootfs(format!(
                "primary partition (object {}) holds neither squashfs nor ext3 data",
                p.id
            ))
        })?,
        FsType::EncryptedSquashfs => {
            return Err(Error::NoRootfs(
                "encrypted squashfs partitions are not supported".into(),
            ))
        }
        o => {
            return Err(Error::NoRootfs(format!(
                "primary partition has unsupported filesystem type {o}"
            )))
        }
    };
    Ok((
        Source::Native,
        vec![Layer {
            offset: p.offset as u64,
            size: p.size as u64,
            fs,
            xattrs: fs == FsType::Squashfs && squashfs_has_xattrs(sif, p.offset as u64),
        }],
    ))
}

/// Whether the squashfs superblock at `offset` points to an xattr id table.
fn squashfs_has_xattrs(sif: &Sif, offset: u64) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let mut sb = [0u8; 64];
    let ok = std::fs::File::open(sif.path()).and_then(|mut f| {
        f.seek(SeekFrom::Start(offset))?;
        f.read_exact(&mut sb)
    });
    // xattr_id_table_start (u64 at 56); all ones = none.
    ok.is_ok() && &sb[..4] == b"hsqs" && sb[56..64] != [0xff; 8]
}

/// The bundle's directories: `layers/<i>`, `rootfs`, `overlay/{upper,work}`, `volumes`.
pub(super) struct Layout {
    pub layers: PathBuf,
    pub rootfs: PathBuf,
    pub overlay: PathBuf,
    pub upper: PathBuf,
    pub work: PathBuf,
    pub volumes: PathBuf,
    pub config: PathBuf,
}

impl Layout {
    pub fn new(bundle: &Path) -> Self {
        let overlay = bundle.join("overlay");
        Layout {
            layers: bundle.join("layers"),
            rootfs: bundle.join("rootfs"),
            upper: overlay.join("upper"),
            work: overlay.join("work"),
            overlay,
            volumes: bundle.join("volumes"),
            config: bundle.join("config.json"),
        }
    }

    /// Mount point of layer `i` (0 = bottom).
    pub fn layer(&self, i: usize) -> PathBuf {
        self.layers.join(i.to_string())
    }

    /// The directories to create, parents first, with their modes.
    pub fn dirs(&self, n_layers: usize) -> Vec<(PathBuf, u32)> {
        let mut dirs = vec![
            (self.layers.clone(), 0o755),
            (self.rootfs.clone(), 0o755),
            (self.overlay.clone(), 0o700),
            (self.upper.clone(), 0o755),
            (self.work.clone(), 0o700),
            (self.volumes.clone(), 0o755),
        ];
        dirs.extend((0..n_layers).map(|i| (self.layer(i), 0o755)));
        dirs
    }

    /// Overlay mount options over the `layers` mount points (bottom first: the
    /// bundle's own `layers/<i>` or a shared image's; overlayfs and fuse-overlayfs
    /// take the same ones), under `extra` read-only lowers (topmost first) and with
    /// `upper` (upper, work) instead of the bundle's own.
    pub fn overlay_options(
        &self,
        layers: &[PathBuf],
        extra: &[PathBuf],
        upper: Option<&(PathBuf, PathBuf)>,
    ) -> String {
        // overlay lowerdir lists the top layer first
        let lower: Vec<String> = extra
            .iter()
            .chain(layers.iter().rev())
            .map(|p| escape_overlay_path(p))
            .collect();
        let (u, w) = upper.map_or((&self.upper, &self.work), |(u, w)| (u, w));
        format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.join(":"),
            escape_overlay_path(u),
            escape_overlay_path(w)
        )
    }

    /// Mount point of the `i`th `--overlay` squashfs image.
    pub fn overlay_image(&self, i: usize) -> PathBuf {
        self.overlay.join(format!("image-{i}"))
    }
}

/// overlayfs splits options on ',' and lowerdir on ':'; escape them in paths.
fn escape_overlay_path(p: &Path) -> String {
    let s = p.to_string_lossy();
    s.replace('\\', "\\\\")
        .replace(':', "\\:")
        .replace(',', "\\,")
}
