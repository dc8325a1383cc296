//! SIF images for the tests: the fixtures in `../shared/fixtures/sif` (see its
//! README.md and make-fixtures.sh), private copies of the busybox SIF, and
//! [`MountScratch`], which mounts an image as a bundle, runs it and unmounts it through
//! the `sifrun` binary.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use super::{assert_ok, output_with_timeout, stdout, unique_id, TmpDir, SIFRUN};

/// The fixture directory (`/work/shared/fixtures/sif` next to the checkout).
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/sif")
}

/// The busybox native SIF fixture (squashfs partition at 45056, 5 descriptors).
pub fn busybox_sif() -> PathBuf {
    fixtures_dir().join("busybox_amd64.sif")
}

/// A private copy of [`busybox_sif`] as `dir/busybox.sif`: loop devices made from it
/// are told apart from those of tests running at the same time, and it can be
/// chowned or damaged freely.
pub fn busybox_sif_copy(dir: &Path) -> PathBuf {
    let img = dir.join("busybox.sif");
    std::fs::copy(busybox_sif(), &img)
        .unwrap_or_else(|e| panic!("copy {}: {e}", busybox_sif().display()));
    img
}

/// `sifrun --root STATE run -b BUNDLE ID` with `input` on its stdin (then closed);
/// stdout and stderr captured. Fails the test if sifrun cannot be spawned.
pub fn run_with_stdin(state: &Path, bundle: &Path, id: &str, input: &str) -> Output {
    let mut child = Command::new(SIFRUN)
        .arg("--root")
        .arg(state)
        .args(["run", "-b"])
        .arg(bundle)
        .arg(id)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// A scratch dir (a [`TmpDir`]) with a state root inside; every bundle mounted by
/// [`MountScratch::mount_run`] that is still there on drop is `umount --force`d.
pub struct MountScratch {
    pub dir: TmpDir,
    pub(crate) bundles: Vec<PathBuf>,
}

impl MountScratch {
    pub fn new(tag: &str) -> Self {
        MountScratch {
            dir: TmpDir::new(&format!("sifrun-{tag}")),
            bundles: Vec::new(),
        }
    }

    /// The `--root` of the containers.
    pub fn state(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// `sifrun mount ARGS... IMAGE BUNDLE-tag` with `env` added (must succeed); the
    /// bundle is `umount --force`d on drop if still there.
    pub fn mount(
        &mut self,
        image: &Path,
        tag: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> PathBuf {
        let bundle = self.dir.join(format!("bundle-{tag}"));
        self.bundles.push(bundle.clone());
        let mut c = Command::new(SIFRUN);
        c.arg("mount").args(args).arg(image).arg(&bundle);
        c.envs(env.iter().copied());
        let o = output_with_timeout(c, Duration::from_secs(60));
        assert_ok(&o, &format!("sifrun mount {args:?} {}", image.display()));
        bundle
    }

    /// `sifrun umount BUNDLE` (must succeed and remove the bundle directory).
    pub fn umount(&self, bundle: &Path) {
        let mut c = Command::new(SIFRUN);
        c.arg("--root").arg(self.state()).arg("umount").arg(bundle);
        assert_ok(
            &output_with_timeout(c, Duration::from_secs(60)),
            "sifrun umount",
        );
        assert!(!bundle.exists(), "umount left {}", bundle.display());
    }

    /// `sifrun mount [--mode MODE] IMAGE BUNDLE`, `sifrun run` of the bundle with
    /// `input` on its stdin, `sifrun umount BUNDLE`: each must succeed, and the bundle
    /// directory must be gone afterwards. Returns the container's stdout.
    pub fn mount_run(
        &mut self,
        image: &Path,
        mode: Option<&str>,
        tag: &str,
        input: &str,
    ) -> String {
        let args: Vec<&str> = mode.map(|m| vec!["--mode", m]).unwrap_or_default();
        let bundle = self.mount(image, tag, &args, &[]);
        let out = run_with_stdin(&self.state(), &bundle, &unique_id(tag), input);
        assert_ok(&out, &format!("sifrun run of {}", image.display()));
        self.umount(&bundle);
        stdout(&out)
    }
}

impl Drop for MountScratch {
    fn drop(&mut self) {
        force_umount(&self.state(), &self.bundles);
    }
}

/// `sifrun --root STATE umount --force` of each of `bundles` still there (test
/// clean-up, also after a failure).
pub fn force_umount(state: &Path, bundles: &[PathBuf]) {
    for b in bundles.iter().filter(|b| b.exists()) {
        let _ = Command::new(SIFRUN)
            .arg("--root")
            .arg(state)
            .args(["umount", "--force"])
            .arg(b)
            .output();
    }
}
