//! The persisted mount state, `BUNDLE/.sifrun-mount.json`: every step `mount` took,
//! saved before the step, so `umount` (or a rolled-back `mount`) can undo exactly that.

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::mode::{merr, MountMode};
use crate::error::{Error, Result};

pub const STATE_FILE: &str = ".sifrun-mount.json";
pub(super) const TMP_STATE_FILE: &str = ".sifrun-mount.json.tmp";

/// One mount made, in order.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MountRecord {
    pub target: PathBuf,
    pub fstype: String,
    pub fuse: bool,
}

/// One loop device attached.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LoopRecord {
    pub device: PathBuf,
    pub number: u32,
    pub offset: u64,
    pub size: u64,
}

/// A bundle's use of a shared image, recorded in its state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SharedRef {
    /// The images dir it was made in (only the caller's own is ever acted on).
    pub images: PathBuf,
    pub key: String,
}

/// Everything `mount` did, saved as `BUNDLE/.sifrun-mount.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct MountState {
    pub version: u32,
    pub image: PathBuf,
    pub bundle: PathBuf,
    /// "native" or "oci".
    pub image_kind: String,
    /// Kernel or Fuse (never Auto).
    pub mode: MountMode,
    pub mounts: Vec<MountRecord>,
    pub loop_devices: Vec<LoopRecord>,
    /// Paths created, in creation order (removed in reverse).
    pub created: Vec<PathBuf>,
    pub bundle_created: bool,
    /// The read-only layers are a shared image mount (not under `layers/`): the
    /// bundle holds a ref on it until umount.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<SharedRef>,
}

impl MountState {
    /// Records the directories, then creates them in order (parents first). One
    /// save for all: teardown ignores those a kill left unmade, and every save
    /// replaces a file, which costs a synchronous discard on an ext4 mounted so.
    pub(super) fn mkdirs(&mut self, dirs: &[(PathBuf, u32)]) -> Result<()> {
        self.created.extend(dirs.iter().map(|(p, _)| p.clone()));
        self.save()?;
        for (p, mode) in dirs {
            fs::DirBuilder::new()
                .mode(*mode)
                .create(p)
                .map_err(|e| Error::io(p, e))?;
        }
        Ok(())
    }

    /// Records a mount about to be made (unmounting one that was not made is a no-op).
    pub(super) fn will_mount(&mut self, target: &Path, fstype: &str, fuse: bool) -> Result<()> {
        self.mounts.push(MountRecord {
            target: target.to_path_buf(),
            fstype: fstype.into(),
            fuse,
        });
        self.save()
    }

    /// Atomic (temp file + rename), so a kill never leaves a torn state. Not fsync'd:
    /// what it describes (mounts, loop devices) does not survive a reboot either.
    pub(super) fn save(&self) -> Result<()> {
        let p = self.bundle.join(STATE_FILE);
        let tmp = self.bundle.join(TMP_STATE_FILE);
        let json = serde_json::to_vec_pretty(self).map_err(|e| merr(e.to_string()))?;
        fs::write(&tmp, json).map_err(|e| Error::io(&tmp, e))?;
        fs::rename(&tmp, &p).map_err(|e| Error::io(&p, e))
    }

    pub fn load(bundle: &Path) -> Result<Self> {
        let p = bundle.join(STATE_FILE);
        let b = fs::read(&p).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::Bundle {
                    path: bundle.to_path_buf(),
                    msg: "not mounted by sifrun mount (no .sifrun-mount.json)".into(),
                }
            } else {
                Error::io(&p, e)
            }
        })?;
        serde_json::from_slice(&b).map_err(|e| Error::Bundle {
            path: bundle.to_path_buf(),
            msg: format!("{STATE_FILE}: {e}"),
        })
    }
}

/// The state of a bundle dir without (a readable) `.sifrun-mount.json` that holds
/// nothing but what `mount` makes: left by a `mount` killed before its first save, or
/// an `umount` killed after removing the state file. None if anything else is there.
pub(super) fn leftover_state(bundle: &Path) -> Option<MountState> {
    let bundle = fs::canonicalize(bundle).ok()?;
    let mut created = vec![];
    let mut layers = vec![];
    for e in fs::read_dir(&bundle).ok()? {
        let name = e.ok()?.file_name();
        match name.to_str()? {
            "layers" => {
                for l in fs::read_dir(bundle.join("layers")).ok()? {
                    let l = l.ok()?.file_name();
                    l.to_str()?.parse::<u32>().ok()?;
                    layers.push(bundle.join("layers").join(l));
                }
            }
            "rootfs" | "overlay" | "volumes" | "config.json" | STATE_FILE | TMP_STATE_FILE => {}
            _ => return None,
        }
        created.push(bundle.join(name));
    }
    // teardown removes in reverse: layer dirs before `layers`.
    created.sort_by_key(|p| p.ends_with("layers"));
    created.reverse();
    created.extend(layers);
    Some(MountState {
        version: 1,
        image: PathBuf::new(),
        bundle,
        image_kind: String::new(),
        mode: MountMode::Kernel,
        mounts: vec![],
        loop_devices: vec![],
        created,
        bundle_created: true,
        shared: None,
    })
}
