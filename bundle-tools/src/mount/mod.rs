//! `mount` a SIF / OCI-SIF as an OCI bundle and `umount` it again: the two entry
//! points, which put the parts below together.
//!
//! Layout (like SingularityCE's): `BUNDLE/layers/<i>` read-only squashfs (or ext3)
//! layers, `BUNDLE/rootfs` an overlay of them with `BUNDLE/overlay/{upper,work}`,
//! `BUNDLE/volumes/`, `BUNDLE/config.json`, and `BUNDLE/.sifrun-mount.json` recording
//! exactly what was done so `umount` can undo it (and a failed mount is rolled back
//! with the same code).
//!
//! The state is saved (atomically: temp file + rename) before every step that leaves
//! something behind (a directory, a loop device, a mount, a FUSE daemon), so a
//! `mount` killed at any point can be undone by `umount --force`, which also sweeps
//! whatever is still mounted under the bundle and stops leftover FUSE daemons. The
//! state file is removed last, just before the bundle directory; `umount --force`
//! accepts a bundle that holds nothing but sifrun's own leftovers.
//!
//! * `plan.rs`: what to mount and where (layers, bundle layout, overlay options).
//! * `state.rs`: the persisted mount state.
//! * `kernel.rs`: loop devices + squashfs/ext3 + overlayfs (root).
//! * `fuse.rs`: squashfuse + fuse-overlayfs, fusermount, the FUSE daemons.
//! * `teardown.rs`: undoing the state, and the `--force` sweep.
//! * `mountinfo.rs`: what `/proc/self/mountinfo` says is mounted.
//! * [`loopdev`]: loop devices set up with ioctls.
//!
//! Whether a container still uses a bundle is the caller's to say ([`umount`] asks):
//! this crate knows nothing of a runtime's state.

mod fuse;
mod kernel;
pub mod loopdev;
mod mode;
mod mountinfo;
mod plan;
mod state;
mod teardown;

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use crate::config;
use crate::error::{Error, Result};
use crate::sif::Sif;
pub use mode::MountMode;
use mode::{is_root, merr};
pub use mountinfo::is_mountpoint;
use plan::{Layer, Layout, Source};
pub use state::{LoopRecord, MountRecord, MountState, STATE_FILE};
use teardown::teardown;

/// Answers "which container, if any, still uses the bundle at this (canonical) path?"
/// with the id of one. The runtime knows its containers; this crate does not.
pub type BundleUser<'a> = &'a dyn Fn(&Path) -> Option<String>;

/// Mount `image` as an OCI bundle at `bundle` (created if missing; must be empty).
pub fn mount(image: &Path, bundle: &Path, mode: MountMode) -> Result<MountState> {
    let image = fs::canonicalize(image).map_err(|e| Error::io(image, e))?;
    let sif = Sif::open(&image)?;
    let (source, layers) = plan::plan(&sif)?;
    if mode == MountMode::Kernel && !is_root() {
        return Err(merr("kernel mode needs root (use --mode fuse)"));
    }

    let bundle_created = match fs::read_dir(bundle) {
        Ok(mut rd) => {
            if rd.next().is_some() {
                return Err(Error::Bundle {
                    path: bundle.to_path_buf(),
                    msg: "exists and is not empty".into(),
                });
            }
            false
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            create_bundle_dir(bundle)?;
            true
        }
        Err(e) => return Err(Error::io(bundle, e)),
    };
    let bundle = fs::canonicalize(bundle).map_err(|e| Error::io(bundle, e))?;
    let mut st = MountState {
        version: 1,
        image: image.clone(),
        bundle: bundle.clone(),
        image_kind: source.kind().into(),
        mode: if mode == MountMode::Auto {
            if is_root() {
                MountMode::Kernel
            } else {
                MountMode::Fuse
            }
        } else {
            mode
        },
        mounts: vec![],
        loop_devices: vec![],
        created: vec![],
        bundle_created,
    };
    if let Err(e) = st.save() {
        let _ = teardown(&mut st, true, true);
        return Err(e);
    }
    match build(&mut st, &sif, &source, &layers) {
        Ok(()) => Ok(st),
        Err(e) if mode == MountMode::Auto && st.mode == MountMode::Kernel => {
            // The kernel path failed (no loop devices, no overlay in a container …):
            // undo it and try FUSE.
            teardown(&mut st, true, false)?;
            if !st.bundle.exists() {
                create_bundle_dir(&st.bundle)?;
            }
            st.mode = MountMode::Fuse;
            match build(&mut st, &sif, &source, &layers) {
                Ok(()) => Ok(st),
                Err(e2) => {
                    let _ = teardown(&mut st, true, true);
                    Err(merr(format!("kernel mode: {e}; fuse mode: {e2}")))
                }
            }
        }
        Err(e) => {
            let _ = teardown(&mut st, true, true);
            Err(e)
        }
    }
}

fn create_bundle_dir(bundle: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .mode(0o700)
        .create(bundle)
        .map_err(|e| Error::io(bundle, e))
}

/// Make the bundle in `st.mode`: directories, layers, overlay, `config.json`.
fn build(st: &mut MountState, sif: &Sif, source: &Source, layers: &[Layer]) -> Result<()> {
    let lay = Layout::new(&st.bundle);
    st.mkdirs(&lay.dirs(layers.len()))?;
    for (i, l) in layers.iter().enumerate() {
        match st.mode {
            MountMode::Fuse => fuse::mount_layer(st, sif.path(), l, &lay.layer(i))?,
            _ => kernel::mount_layer(st, sif.path(), l, &lay.layer(i))?,
        }
    }
    let opts = lay.overlay_options(layers.len());
    match st.mode {
        MountMode::Fuse => fuse::mount_overlay(st, &lay.rootfs, &opts)?,
        _ => kernel::mount_overlay(st, &lay.rootfs, &opts)?,
    }
    // Run options (config::Options) are not taken by `mount` yet: the defaults.
    let run_opts = config::Options::default();
    let spec = match source {
        Source::Oci(img) => config::oci_bundle_spec(img.config.as_ref(), &lay.rootfs, &run_opts)?,
        Source::Native => config::native_bundle_spec(&lay.rootfs, &run_opts)?,
    };
    let json = serde_json::to_vec_pretty(&spec).map_err(|e| Error::Config(e.to_string()))?;
    st.created.push(lay.config.clone());
    st.save()?;
    fs::write(&lay.config, json).map_err(|e| Error::io(&lay.config, e))
}

/// Undo a `mount`. Unless `force`, refuses while `in_use` names a container that
/// still uses the bundle (it is asked with the bundle's canonical path).
pub fn umount(bundle: &Path, in_use: BundleUser<'_>, force: bool) -> Result<()> {
    if !bundle.is_dir() {
        return Err(Error::Bundle {
            path: bundle.to_path_buf(),
            msg: "no such directory".into(),
        });
    }
    let mut st = match MountState::load(bundle) {
        Ok(st) => st,
        Err(e) if force => state::leftover_state(bundle).ok_or(e)?,
        Err(e) => return Err(e),
    };
    if !force {
        if let Some(id) = in_use(&st.bundle) {
            return Err(Error::InUse {
                path: st.bundle.clone(),
                id,
            });
        }
    }
    let r = teardown(&mut st, force, true);
    if r.is_err() && st.bundle.exists() {
        // Keep what is left recorded so a later `umount --force` can finish.
        let _ = st.save();
    }
    r
}
