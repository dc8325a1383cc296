//! `mount` a SIF / OCI-SIF as an OCI bundle and `umount` it again: the two entry
//! points, which put the parts below together.
//!
//! Layout (like SingularityCE's): `BUNDLE/layers/<i>` read-only squashfs (or ext3)
//! layers, `BUNDLE/rootfs` an overlay of them with `BUNDLE/overlay/{upper,work}`,
//! `BUNDLE/volumes/`, `BUNDLE/config.json`, and `BUNDLE/.sifrun-mount.json` recording
//! exactly what was done so `umount` can undo it (and a failed mount is rolled back
//! with the same code). With `Options::share` the layers are instead one mount per
//! image shared by its bundles (`shared.rs`), and `layers/` stays empty.
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
//! * `shared.rs`: shared image mounts: one per image, mode and user, ref-counted.
//! * `kernel.rs`: loop devices + squashfs/ext3 + overlayfs (root).
//! * `fuse.rs`: squashfuse + fuse-overlayfs, fusermount, the FUSE daemons.
//! * `in_container.rs`: the overlay left to the container's init (`oci run --image`).
//! * `teardown.rs`: undoing the state, and the `--force` sweep.
//! * `mountinfo.rs`: what `/proc/self/mountinfo` says is mounted.
//! * [`loopdev`]: loop devices set up with ioctls.
//!
//! Whether a container still uses a bundle is the caller's to say ([`umount`] asks):
//! this crate knows nothing of a runtime's state.

mod extract;
mod fuse;
mod in_container;
mod kernel;
pub mod loopdev;
mod mode;
mod mountinfo;
mod plan;
mod prefetch;
mod shared;
mod state;
mod teardown;
mod trust;

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::config::{self, Host, Options};
use crate::error::{Error, Result};
use crate::policy::Policy;
use crate::sif::Sif;
pub use in_container::RootOverlay;
pub use mode::MountMode;
use mode::{is_root, merr};
pub use mountinfo::is_mountpoint;
use plan::{Layer, Layout, Source};
pub use prefetch::Prefetch;
pub use shared::images_dir;
pub use state::{LoopRecord, MountRecord, MountState, SharedRef, STATE_FILE};

/// Answers "which container, if any, still uses the bundle at this (canonical) path?"
/// with the id of one. The runtime knows its containers; this crate does not.
pub type BundleUser<'a> = &'a dyn Fn(&Path) -> Option<String>;

/// Mount `image` as an OCI bundle at `bundle` (created if missing; must be empty),
/// with the default options.
pub fn mount(image: &Path, bundle: &Path, mode: MountMode) -> Result<MountState> {
    mount_with(image, bundle, mode, &Options::default()).map(|m| m.state)
}

/// A mounted bundle, and what the user should be told once.
#[derive(Debug)]
pub struct Mounted {
    pub state: MountState,
    pub notes: Vec<String>,
    /// The root overlay left to the container's init (`Options::overlay_in_container`):
    /// the bundle's `rootfs` is an empty directory until then.
    pub overlay: Option<RootOverlay>,
    /// The warm-up of the container's program (`Options::prefetch`), to be finished
    /// before the bundle is unmounted.
    pub prefetch: Option<Prefetch>,
}

/// What a container of this caller needs from FUSE: `allow_other` when its root is
/// a subordinate id (the caller keeps its own id, so uid 0 inside is someone else).
fn needs_other_users(host: &Host) -> bool {
    matches!(
        host.idmap,
        config::options::idmap::IdMap::Sub {
            fakeroot: false,
            ..
        }
    )
}

/// What the kernel and the site must provide before anything is made: user
/// namespaces, and newuidmap/newgidmap for a mapping of subordinate ids.
fn unprivileged_prerequisites(host: &Host) -> Result<()> {
    let max = fs::read_to_string("/proc/sys/user/max_user_namespaces")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    if max == Some(0) {
        return Err(merr(
            "user namespaces are disabled on this system (/proc/sys/user/max_user_namespaces is 0)",
        ));
    }
    if fs::read_to_string("/proc/sys/kernel/unprivileged_userns_clone")
        .is_ok_and(|s| s.trim() == "0")
    {
        return Err(merr(
            "user namespaces are disabled for users (/proc/sys/kernel/unprivileged_userns_clone is 0)",
        ));
    }
    if matches!(host.idmap, config::options::idmap::IdMap::Sub { .. }) {
        for tool in ["newuidmap", "newgidmap"] {
            if !on_path(tool) {
                return Err(merr(format!(
                    "{tool} was not found in PATH (package uidmap): it maps your subordinate ids into the container"
                )));
            }
        }
    }
    Ok(())
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

/// The mode an unprivileged caller gets for `auto` (extract when FUSE is unusable
/// or cannot serve the container), or why `fuse` cannot work (and a note when it
/// works with a limit).
fn unprivileged_mode(
    mode: MountMode,
    layers: &[Layer],
    host: &Host,
    notes: &mut Vec<String>,
) -> Result<MountMode> {
    const XATTRS: &str = "the image's squashfs has extended attributes, which squashfuse 0.1 reports so that fuse-overlayfs cannot copy files up for a user other than root";
    let xattrs = layers.iter().any(|l| l.xattrs);
    let other = needs_other_users(host) && !fuse::allow_other_permitted();
    const OTHER: &str = "the container's ids include your subordinate ids, which FUSE lets in only with user_allow_other in /etc/fuse.conf";
    let fuse_dev = matches!(mode, MountMode::Fuse | MountMode::Auto) && fuse::dev_fuse_usable();
    match mode {
        MountMode::Kernel => Err(merr("kernel mode needs root (use --mode fuse or extract)")),
        MountMode::Fuse if !fuse_dev => Err(merr(
            "fuse mode: /dev/fuse cannot be opened (it must exist and be 0666; use --mode extract)",
        )),
        MountMode::Auto if !fuse_dev => Ok(MountMode::Extract),
        MountMode::Fuse if other => Err(merr(format!(
            "fuse mode cannot serve this container: {OTHER} (use --mode extract, or --fakeroot)"
        ))),
        MountMode::Fuse if xattrs => {
            notes.push(format!(
                "{XATTRS}: changing the image's files will fail (--mode extract has no such limit)"
            ));
            Ok(MountMode::Fuse)
        }
        MountMode::Auto if xattrs || other => {
            if layers.len() == 1 {
                Ok(MountMode::Extract)
            } else {
                let why = if other { OTHER } else { XATTRS };
                Err(merr(format!(
                    "{why}, and extract mode unpacks single-layer images only"
                )))
            }
        }
        MountMode::Auto => Ok(MountMode::Fuse),
        m => Ok(m),
    }
}

/// [`mount`] with run options, which decide config.json and, for a caller who is
/// not root, whether FUSE can serve the container's ids.
pub fn mount_with(image: &Path, bundle: &Path, mode: MountMode, opts: &Options) -> Result<Mounted> {
    mount_trusted(image, bundle, mode, opts, &Policy::default())
}

/// [`mount_with`] under a signature policy, checked before anything is created.
pub fn mount_trusted(
    image: &Path,
    bundle: &Path,
    mode: MountMode,
    opts: &Options,
    policy: &Policy,
) -> Result<Mounted> {
    opts.validate()?;
    let host = Host::current(opts.fakeroot)?;
    let image_arg = image.to_string_lossy().into_owned();
    let image = fs::canonicalize(image).map_err(|e| Error::io(image, e))?;
    let sif = Sif::open(&image)?;
    let cwd = std::env::current_dir().map_err(|e| Error::io(".", e))?;
    let overlays = config::options::binds::parse_overlays(&opts.overlays, &cwd)?;
    let mut mode_notes = vec![];
    let trust = trust::check(&sif, policy, &overlays, mode, &mut mode_notes)?;
    // From here on the image is read through the file just opened (and verified),
    // never through its path, which could be pointed elsewhere meanwhile.
    let source_path = trust::open_file_path(&sif);
    let (source, layers) = plan::plan(&sif)?;
    let mode = if is_root() {
        trust::kernel_gate(mode, &trust, &mut mode_notes)?
    } else {
        unprivileged_prerequisites(&host)?;
        unprivileged_mode(mode, &layers, &host, &mut mode_notes)?
    };
    if !overlays.is_empty() && mode == MountMode::Extract {
        return Err(merr("--overlay needs kernel or fuse mode, not extract"));
    }
    if overlays
        .iter()
        .any(|o| o.kind == config::options::binds::OverlayKind::Ext3)
    {
        return Err(merr(
            "ext3 overlay images are not supported by sifrun yet (use a directory or a squashfs image)",
        ));
    }
    let ctx = BuildCtx {
        overlays,
        opts,
        host: &host,
        name: &image_arg,
        other_users: needs_other_users(&host),
    };

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
        shared: None,
    };
    if let Err(e) = st.save() {
        let _ = teardown(&mut st, true, true);
        return Err(e);
    }
    let done = |st: MountState, (mut notes, overlay, prefetch): Built| {
        notes.splice(0..0, mode_notes.iter().cloned());
        Mounted {
            state: st,
            notes,
            overlay,
            prefetch,
        }
    };
    match build(&mut st, &source_path, &source, &layers, &ctx) {
        Ok(built) => Ok(done(st, built)),
        Err(e) if mode == MountMode::Auto && st.mode == MountMode::Kernel => {
            // The kernel path failed (no loop devices, no overlay in a container …):
            // undo it and try FUSE.
            teardown(&mut st, true, false)?;
            if !st.bundle.exists() {
                create_bundle_dir(&st.bundle)?;
            }
            st.mode = MountMode::Fuse;
            match build(&mut st, &source_path, &source, &layers, &ctx) {
                Ok(built) => Ok(done(st, built)),
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

/// [`teardown::teardown`] of a bundle, dropping its ref on a shared image.
fn teardown(st: &mut MountState, force: bool, remove_bundle: bool) -> Result<()> {
    teardown::teardown(st, force, remove_bundle, &shared::release)
}

fn create_bundle_dir(bundle: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .mode(0o700)
        .create(bundle)
        .map_err(|e| Error::io(bundle, e))
}

/// What `build` needs besides the image: the options and the caller.
struct BuildCtx<'a> {
    opts: &'a Options,
    overlays: Vec<config::options::binds::Overlay>,
    host: &'a Host,
    name: &'a str,
    other_users: bool,
}

/// What `build` gives back: the notes for the user, the overlay left to the
/// container's init and the warm-up of its program.
type Built = (Vec<String>, Option<RootOverlay>, Option<Prefetch>);

/// Make the bundle in `st.mode`: directories, layers, overlay (or what the
/// container's init needs to mount it), `config.json` and the files the options put
/// next to it.
fn build(
    st: &mut MountState,
    image: &Path,
    source: &Source,
    layers: &[Layer],
    ctx: &BuildCtx,
) -> Result<Built> {
    let lay = Layout::new(&st.bundle);
    // Extract mode unpacks per bundle: nothing to share.
    let images = (ctx.opts.share && st.mode != MountMode::Extract)
        .then(images_dir)
        .flatten();
    let own_layers = if images.is_some() { 0 } else { layers.len() };
    // One layer only: config.json is made from files read in it, with no overlay
    // on the host to merge several.
    let in_container = ctx.opts.overlay_in_container
        && st.mode != MountMode::Extract
        && ctx.overlays.is_empty()
        && layers.len() == 1
        && in_container::usable(&st.bundle, images.as_deref());
    let mut dirs = lay.dirs(own_layers);
    if in_container {
        // upper/ and work/ are made on the container's tmpfs.
        dirs.retain(|(d, _)| *d != lay.upper && *d != lay.work);
    }
    st.mkdirs(&dirs)?;
    let mut read_root = lay.rootfs.clone();
    let mut in_init = None;
    let mut starting = None;
    if st.mode == MountMode::Extract {
        extract::extract(image, layers, &lay.rootfs)?;
    } else {
        let lowers = match &images {
            Some(images) => shared::acquire(st, images, image, layers, ctx.other_users)?,
            None => {
                for (i, l) in layers.iter().enumerate() {
                    match st.mode {
                        MountMode::Fuse => {
                            fuse::mount_layer(st, image, l, &lay.layer(i), ctx.other_users)?
                        }
                        _ => kernel::mount_layer(st, image, l, &lay.layer(i))?,
                    }
                }
                (0..layers.len()).map(|i| lay.layer(i)).collect()
            }
        };
        // One layer and nothing over it: config.json's files are read from the layer
        // itself, one FUSE hop (or none) instead of two, and not the overlay's first
        // request, which waits for its daemon to be ready.
        if layers.len() == 1 && ctx.overlays.is_empty() {
            read_root = lowers[0].clone();
        }
        if in_container {
            in_init = Some(in_container::overlay(&lowers, &lay.overlay, ctx.opts));
        } else {
            let (extra, upper) = overlay_items(st, &lay, &ctx.overlays, ctx.other_users)?;
            let opts = lay.overlay_options(&lowers, &extra, upper.as_ref());
            match st.mode {
                MountMode::Fuse => {
                    starting = Some(fuse::start_overlay(
                        st,
                        &lay.rootfs,
                        &opts,
                        ctx.other_users,
                    )?)
                }
                // The bundle's own upper is thrown away at umount: nothing to sync.
                _ => kernel::mount_overlay(st, &lay.rootfs, &opts, upper.is_none())?,
            }
        }
    }
    // The bundle's files are made while fuse-overlayfs starts, unless they are read
    // through it.
    if read_root == lay.rootfs {
        if let Some(s) = starting.take() {
            s.ready()?;
        }
    }
    let rest = write_bundle(st, &lay, source, ctx, &read_root);
    let ready = starting.map_or(Ok(()), fuse::Starting::ready);
    let (notes, prefetch) = rest?;
    ready?;
    Ok((notes, in_init, prefetch))
}

/// config.json (its files read under `read_root`) and the files the options put next
/// to it; the notes for the user and the warm-up of the container's program.
fn write_bundle(
    st: &mut MountState,
    lay: &Layout,
    source: &Source,
    ctx: &BuildCtx,
    read_root: &Path,
) -> Result<(Vec<String>, Option<Prefetch>)> {
    let t = config::Target {
        bundle: &st.bundle,
        rootfs: read_root,
    };
    let (spec, applied) = match source {
        Source::Oci(img) => {
            config::oci_bundle_spec(img.config.as_ref(), ctx.name, &t, ctx.opts, ctx.host)?
        }
        Source::Native => config::native_bundle_spec(ctx.name, &t, ctx.opts, ctx.host)?,
    };
    // Started before the bundle's files are written: it reads while this thread
    // writes them and the runtime creates the container.
    let prefetch = (ctx.opts.prefetch && st.mode != MountMode::Extract)
        .then(|| Prefetch::start(read_root, spec.process().as_ref()))
        .flatten();
    let json = serde_json::to_vec_pretty(&spec).map_err(|e| Error::Config(e.to_string()))?;
    // Recorded before they are written, so a kill in between leaves nothing unknown.
    let mut paths = vec![lay.config.clone()];
    let mut dirs = vec![];
    for f in &applied.files {
        let p = st.bundle.join(&f.path);
        if let Some(parent) = p.parent().filter(|d| *d != st.bundle && !d.exists()) {
            if !dirs.contains(&parent.to_path_buf()) {
                dirs.push(parent.to_path_buf());
            }
        }
        paths.push(p);
    }
    st.created.extend(dirs.iter().cloned());
    st.created.extend(paths);
    st.save()?;
    for d in &dirs {
        fs::DirBuilder::new()
            .mode(0o755)
            .create(d)
            .map_err(|e| Error::io(d, e))?;
    }
    for f in &applied.files {
        write_file(&st.bundle.join(&f.path), &f.contents, f.mode)?;
    }
    write_file(&lay.config, &json, 0o644)?;
    Ok((applied.notes, prefetch))
}

/// A writable overlay's (upper, work) directories.
type UpperWork = (PathBuf, PathBuf);

/// The `--overlay` items as overlay lowers (topmost first) and the writable one's
/// (upper, work). Squashfs images are mounted read-only under `overlay/`; a writable
/// directory gets `upper/` and `work/` if it lacks them; a read-only directory is used
/// through its `upper/` when it has one.
fn overlay_items(
    st: &mut MountState,
    lay: &Layout,
    items: &[config::options::binds::Overlay],
    other_users: bool,
) -> Result<(Vec<PathBuf>, Option<UpperWork>)> {
    use config::options::binds::OverlayKind;
    let mut lowers = vec![];
    let mut upper = None;
    for (i, o) in items.iter().enumerate() {
        match (o.kind, o.writable) {
            (OverlayKind::Dir, true) => {
                let (u, w) = (o.path.join("upper"), o.path.join("work"));
                for (d, mode) in [(&u, 0o755), (&w, 0o700)] {
                    match fs::DirBuilder::new().mode(mode).create(d) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(Error::io(d, e)),
                    }
                }
                upper = Some((u, w));
            }
            (OverlayKind::Dir, false) => {
                let u = o.path.join("upper");
                lowers.push(if u.is_dir() { u } else { o.path.clone() });
            }
            _ => {
                let size = fs::metadata(&o.path)
                    .map_err(|e| Error::io(&o.path, e))?
                    .len();
                let l = Layer {
                    offset: 0,
                    size,
                    fs: crate::sif::FsType::Squashfs,
                    xattrs: false,
                };
                let dir = lay.overlay_image(i);
                st.mkdirs(&[(dir.clone(), 0o755)])?;
                match st.mode {
                    MountMode::Fuse => fuse::mount_layer(st, &o.path, &l, &dir, other_users)?,
                    _ => kernel::mount_layer(st, &o.path, &l, &dir)?,
                }
                lowers.push(dir);
            }
        }
    }
    Ok((lowers, upper))
}

fn write_file(p: &Path, contents: &[u8], mode: u32) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(p)
        .and_then(|mut f| f.write_all(contents))
        .map_err(|e| Error::io(p, e))
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
