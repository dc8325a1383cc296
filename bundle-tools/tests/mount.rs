//! Real mounts (kernel: loop + squashfs + overlayfs; fuse: squashfuse + fuse-overlayfs).
//! Every test unmounts through a Drop guard, so a failing assertion leaves nothing
//! mounted or attached.

mod common;

use std::path::{Path, PathBuf};

use bundle_tools::mount::{self, LoopRecord, MountMode, MountState};
use bundle_tools::sif::{CreateOptions, DataType, Sif, SifWriter};

/// No container uses any bundle.
fn no_users(_: &Path) -> Option<String> {
    None
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Unmounts (forced) on drop and then checks nothing is left.
struct Guard {
    bundle: PathBuf,
    image: PathBuf,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.bundle.join(mount::STATE_FILE).exists() {
            let _ = mount::umount(&self.bundle, &no_users, true);
        }
    }
}

fn mountinfo_mentions(p: &Path) -> Vec<String> {
    let want = p.to_string_lossy().to_string();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&want))
        .map(str::to_string)
        .collect()
}

/// Loop devices backed by `image` (what `losetup -a` would list).
fn loops_of(image: &Path) -> Vec<String> {
    let image = std::fs::canonicalize(image).unwrap();
    let mut v = vec![];
    for e in std::fs::read_dir("/sys/block").unwrap().flatten() {
        let f = e.path().join("loop/backing_file");
        if let Ok(b) = std::fs::read_to_string(&f) {
            if Path::new(b.trim_end()) == image {
                v.push(e.file_name().to_string_lossy().into_owned());
            }
        }
    }
    v
}

/// No mount under the bundle, and none of `loops` still serves `image`. (Checking
/// only our own devices keeps this right while other processes use the same fixture.)
fn assert_clean(bundle: &Path, image: &Path, loops: &[LoopRecord]) {
    assert!(
        mountinfo_mentions(bundle).is_empty(),
        "{:?}",
        mountinfo_mentions(bundle)
    );
    let image = std::fs::canonicalize(image).unwrap_or(image.to_path_buf());
    let ours = || {
        loops
            .iter()
            .filter(|l| {
                bundle_tools::mount::loopdev::backing_of(l.number)
                    .is_some_and(|(b, o)| b == image && o == l.offset)
            })
            .count()
    };
    // autoclear may lag the unmount slightly
    for _ in 0..100 {
        if ours() == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(ours(), 0, "loop devices left attached: {loops:?}");
}

fn modes() -> Vec<MountMode> {
    if is_root() {
        vec![MountMode::Kernel, MountMode::Fuse]
    } else {
        eprintln!("not root: kernel mode skipped");
        vec![MountMode::Fuse]
    }
}

fn do_mount(image: &Path, mode: MountMode) -> (tempfile::TempDir, Guard, MountState) {
    let tmp = tempfile::tempdir().unwrap();
    let b = tmp.path().join("bundle");
    let st = mount::mount(image, &b, mode).unwrap_or_else(|e| panic!("mount {mode:?}: {e}"));
    let g = Guard {
        bundle: b,
        image: image.to_path_buf(),
    };
    (tmp, g, st)
}

fn config(b: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(b.join("config.json")).unwrap()).unwrap()
}

fn unmount_and_check(g: Guard, st: &MountState) {
    mount::umount(&g.bundle, &no_users, false).unwrap();
    assert_clean(&g.bundle, &g.image, &st.loop_devices);
    assert!(!g.bundle.exists(), "bundle dir left behind");
}

#[test]
fn busybox_native_sif() {
    let _serial = common::serial();
    let image = common::fixtures().join("busybox_amd64.sif");
    for mode in modes() {
        let (_t, g, st) = do_mount(&image, mode);
        assert_eq!(st.mode, mode);
        let r = g.bundle.join("rootfs");
        assert!(r.join("bin/busybox").is_file());
        assert!(r.join(".singularity.d/runscript").is_file());
        assert_eq!(mountinfo_mentions(&g.bundle).len(), 2);
        if mode == MountMode::Kernel {
            assert_eq!(st.loop_devices.len(), 1);
            assert_eq!(st.loop_devices[0].offset, 45056);
            assert_eq!(st.loop_devices[0].size, 745472);
            assert!(loops_of(&image).contains(&format!("loop{}", st.loop_devices[0].number)));
        }
        // writes land in the overlay upper dir
        std::fs::write(r.join("tmp/written"), b"x").unwrap();
        assert!(g.bundle.join("overlay/upper/tmp/written").is_file());
        let c = config(&g.bundle);
        assert_eq!(c["root"]["path"], "rootfs");
        assert_eq!(
            c["process"]["args"],
            serde_json::json!(["/bin/sh", "/.singularity.d/runscript"])
        );
        let env: Vec<String> = serde_json::from_value(c["process"]["env"].clone()).unwrap();
        assert!(env
            .contains(&"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()));
        assert!(env.contains(&"LD_LIBRARY_PATH=/.singularity.d/libs".into()));
        assert_eq!(c["annotations"]["org.label-schema.build-arch"], "amd64");
        unmount_and_check(g, &st);
    }
}

#[test]
fn generated_native_env_and_labels() {
    let _serial = common::serial();
    let dir = common::generated_fixtures();
    let image = dir.join("native-busybox.sif");
    let (_t, g, st) = do_mount(&image, MountMode::Auto);
    let c = config(&g.bundle);
    let env: Vec<String> = serde_json::from_value(c["process"]["env"].clone()).unwrap();
    assert!(
        env.contains(&"FIXTURE_ENV=from-env-script".into()),
        "{env:?}"
    );
    assert_eq!(c["annotations"]["org.sifrun.fixture"], "native-busybox");
    unmount_and_check(g, &st);
}

#[test]
fn oci_sif_single_layer() {
    let _serial = common::serial();
    let image = common::generated_fixtures().join("oci-busybox.sif");
    for mode in modes() {
        let (_t, g, st) = do_mount(&image, mode);
        assert_eq!(st.image_kind, "oci");
        let r = g.bundle.join("rootfs");
        assert!(r.join("bin/busybox").is_file());
        assert!(r.join("bin/vi").symlink_metadata().is_ok());
        let c = config(&g.bundle);
        assert_eq!(c["process"]["args"], serde_json::json!(["/bin/sh"]));
        assert_eq!(c["process"]["cwd"], "/");
        assert_eq!(c["process"]["user"]["uid"], 0);
        unmount_and_check(g, &st);
    }
}

#[test]
fn oci_sif_two_layers_whiteout() {
    let _serial = common::serial();
    let image = common::generated_fixtures().join("oci-busybox-2layer.sif");
    for mode in modes() {
        let (_t, g, st) = do_mount(&image, mode);
        assert_eq!(st.mounts.len(), 3);
        let r = g.bundle.join("rootfs");
        assert!(r.join("bin/busybox").is_file());
        assert!(
            r.join("bin/vi").symlink_metadata().is_err(),
            "/bin/vi must be whited out"
        );
        assert_eq!(
            std::fs::read_to_string(r.join("etc/fixture-layer2.txt")).unwrap(),
            "added by layer 2\n"
        );
        // layer 0 really has vi: the whiteout comes from layer 1
        assert!(g.bundle.join("layers/0/bin/vi").symlink_metadata().is_ok());
        unmount_and_check(g, &st);
    }
}

#[test]
fn errors_leave_nothing_behind() {
    let _serial = common::serial();
    let tmp = tempfile::tempdir().unwrap();
    let b = tmp.path().join("bundle");
    let fx = common::fixtures();
    let trunc = tmp.path().join("trunc.sif");
    let full = std::fs::read(fx.join("busybox_amd64.sif")).unwrap();
    std::fs::write(&trunc, &full[..full.len() / 2]).unwrap();
    for (img, want) in [
        (tmp.path().join("missing.sif"), "No such file"),
        (trunc.clone(), "truncated"),
        (fx.join("README.md"), "not a SIF"),
        (fx.join("empty.oci.sif"), "no usable root filesystem"),
        (fx.join("empty.sif"), "no usable root filesystem"),
        (
            fx.join("oci-tools/TestWrite_DockerManifest.sif"),
            "only squashfs",
        ),
    ] {
        let e = mount::mount(&img, &b, MountMode::Auto)
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{}: {e}", img.display());
        assert!(!e.contains('\n'));
        assert!(!b.exists(), "bundle created for {}", img.display());
        assert_clean(&b, &img, &[]);
    }
    // existing non-empty bundle
    std::fs::create_dir(&b).unwrap();
    std::fs::write(b.join("keep"), b"").unwrap();
    let e = mount::mount(&fx.join("busybox_amd64.sif"), &b, MountMode::Auto).unwrap_err();
    assert!(e.to_string().contains("not empty"), "{e}");
    assert!(b.join("keep").exists());
    // umount of a dir never mounted
    let e = mount::umount(&b, &no_users, false).unwrap_err();
    assert!(e.to_string().contains("not mounted"), "{e}");
    assert!(b.join("keep").exists());
    let e = mount::umount(&tmp.path().join("nope"), &no_users, false).unwrap_err();
    assert!(e.to_string().contains("no such directory"), "{e}");
}

#[test]
fn empty_existing_bundle_dir_is_kept() {
    let _serial = common::serial();
    let image = common::fixtures().join("busybox_amd64.sif");
    let tmp = tempfile::tempdir().unwrap();
    let b = tmp.path().join("bundle");
    std::fs::create_dir(&b).unwrap();
    let st = mount::mount(&image, &b, MountMode::Auto).unwrap();
    let loops = st.loop_devices.clone();
    let _g = Guard {
        bundle: b.clone(),
        image: image.clone(),
    };
    assert!(!st.bundle_created);
    mount::umount(&b, &no_users, false).unwrap();
    assert!(b.is_dir());
    assert_eq!(std::fs::read_dir(&b).unwrap().count(), 0);
    assert_clean(&b, &image, &loops);
}

/// An OCI-SIF whose layers mount but whose config cannot be translated (unknown user):
/// the mounts made before the failure must be rolled back.
#[test]
fn failure_after_mounting_rolls_back() {
    let _serial = common::serial();
    let src = common::generated_fixtures().join("oci-busybox.sif");
    let s = Sif::open(&src).unwrap();
    let layer = s.of_type(DataType::OciBlob).next().unwrap();
    let layer_bytes = s.read_object(layer, 64 << 20).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let image = tmp.path().join("baduser.sif");
    let mut w = SifWriter::create(&image, CreateOptions::deterministic(12)).unwrap();
    let (_, ld) = w.add_oci_blob(&mut &layer_bytes[..]).unwrap();
    let cfg = br#"{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"],"User":"no-such-user"},"rootfs":{"type":"layers","diff_ids":[]}}"#;
    let (_, cd) = w.add_oci_blob(&mut &cfg[..]).unwrap();
    let manifest = format!(
        r#"{{"schemaVersion":2,"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","size":{},"digest":"{cd}"}},"layers":[{{"mediaType":"application/vnd.sylabs.image.layer.v1.squashfs","size":{},"digest":"{ld}"}}]}}"#,
        cfg.len(),
        layer_bytes.len()
    );
    let (_, md) = w.add_oci_blob(&mut manifest.as_bytes()).unwrap();
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":{},"digest":"{md}"}}]}}"#,
        manifest.len()
    );
    w.add_oci_root_index(index.as_bytes()).unwrap();
    w.finish().unwrap();
    for mode in modes() {
        let b = tmp.path().join("bundle");
        let _g = Guard {
            bundle: b.clone(),
            image: image.clone(),
        };
        let e = mount::mount(&image, &b, mode).unwrap_err().to_string();
        assert!(e.contains("no-such-user"), "{e}");
        assert!(!b.exists());
        // a private image: no loop device may serve it any more
        assert!(mountinfo_mentions(&b).is_empty());
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(loops_of(&image).is_empty(), "{:?}", loops_of(&image));
    }
}

#[test]
fn umount_refuses_while_container_exists() {
    let _serial = common::serial();
    let image = common::fixtures().join("busybox_amd64.sif");
    let (_tmp, g, st) = do_mount(&image, MountMode::Auto);
    // The caller says which container uses the bundle; it is asked the canonical path.
    let asked = std::cell::RefCell::new(vec![]);
    let users = |b: &Path| {
        asked.borrow_mut().push(b.to_path_buf());
        Some("ctr1".to_string())
    };
    let e = mount::umount(&g.bundle, &users, false)
        .unwrap_err()
        .to_string();
    assert!(e.contains("ctr1") && e.contains("--force"), "{e}");
    assert_eq!(*asked.borrow(), [std::fs::canonicalize(&g.bundle).unwrap()]);
    assert!(g.bundle.join("rootfs/bin/busybox").exists());
    mount::umount(&g.bundle, &users, true).unwrap();
    assert_eq!(asked.borrow().len(), 1, "--force does not ask");
    assert_clean(&g.bundle, &image, &st.loop_devices);
}

#[test]
fn parallel_mounts_get_distinct_loop_devices() {
    let _serial = common::serial();
    if !is_root() {
        return;
    }
    let image = common::fixtures().join("busybox_amd64.sif");
    let hs: Vec<_> = (0..4)
        .map(|_| {
            let image = image.clone();
            std::thread::spawn(move || {
                let (t, g, st) = do_mount(&image, MountMode::Kernel);
                assert!(g.bundle.join("rootfs/bin/busybox").is_file());
                (t, g, st)
            })
        })
        .collect();
    let res: Vec<_> = hs.into_iter().map(|h| h.join().unwrap()).collect();
    let mut devs: Vec<u32> = res
        .iter()
        .map(|(_, _, s)| s.loop_devices[0].number)
        .collect();
    devs.sort();
    devs.dedup();
    assert_eq!(devs.len(), 4);
    for (_t, g, st) in res {
        unmount_and_check(g, &st);
    }
}
