// sifrun patch 0050: restore a container from a criu checkpoint (runc's `restore`).
use std::fs::{DirBuilder, File};
use std::io::{ErrorKind, IoSlice};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::io::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};

use libcgroups::common::{CgroupConfig, CgroupManager, ControllerOpt, create_cgroup_manager};
use nix::sys::socket::{self, ControlMessage, MsgFlags, UnixAddr};
use nix::unistd::Pid;
use oci_spec::runtime::Spec;
use rust_criu::rust_criu_protobuf::rpc::Criu_notify;

use super::container_criu::{CRIU_VERSION_MINIMUM, check_criu_version};
use super::{Container, ContainerStatus};
use crate::config::YoukiConfig;
use crate::error::LibcontainerError;
use crate::rootfs::utils::is_bind;
use crate::tty::setup_console_socket;

const CRIU_RESTORE_LOG_FILE: &str = "restore.log";
const DESCRIPTORS_JSON: &str = "descriptors.json";

/// Restore parameters, the counterpart of [`super::CheckpointOptions`].
pub struct RestoreOptions {
    pub image_path: PathBuf,
    pub work_path: Option<PathBuf>,
    pub ext_unix_sk: bool,
    pub file_locks: bool,
    pub shell_job: bool,
    pub tcp_established: bool,
    pub manage_cgroups_mode: rust_criu::CgMode,
    /// Receives the master of the restored process's orphaned pty.
    pub console_socket: Option<PathBuf>,
    /// The criu binary to run; `criu` from PATH when None.
    pub criu_path: Option<PathBuf>,
}

// The notify callback is a plain fn, so the pid criu reports in "post-restore"
// is handed back through here (one restore at a time per process).
static RESTORED_PID: AtomicI32 = AtomicI32::new(0);

fn restore_notify(script: &str, notify: &Criu_notify, _fd: Option<i32>) -> i32 {
    if script == "post-restore" {
        RESTORED_PID.store(notify.pid(), Ordering::SeqCst);
    }
    0
}

fn criu_err(msg: String) -> LibcontainerError {
    LibcontainerError::Checkpoint(super::CheckpointError::CriuError(msg))
}

impl Container {
    /// Restores the checkpoint in `opts.image_path` as this (not yet saved)
    /// container, configured by `spec`: criu restores the process tree as a
    /// sibling of the caller, which is placed into the container's cgroup; on
    /// success the state is saved as running with the restored pid. On error
    /// nothing is left: no cgroup, no state.
    pub fn restore(&mut self, spec: &Spec, opts: &RestoreOptions) -> Result<(), LibcontainerError> {
        let criu_path = opts
            .criu_path
            .as_ref()
            .map_or_else(|| "criu".to_string(), |p| p.to_string_lossy().into_owned());
        let directory = File::open(&opts.image_path).map_err(|err| {
            LibcontainerError::Other(format!(
                "failed to open checkpoint directory {}: {err}",
                opts.image_path.display()
            ))
        })?;
        // Like runc: the saved stdio of the checkpointed process, so that pipes
        // can be replaced by ours.
        let descriptors: Vec<String> =
            match std::fs::read(opts.image_path.join(DESCRIPTORS_JSON)) {
                Ok(b) => serde_json::from_slice(&b).map_err(LibcontainerError::OtherSerialization)?,
                Err(e) if e.kind() == ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(LibcontainerError::OtherIO(e)),
            };
        check_criu_version(&criu_path, CRIU_VERSION_MINIMUM)?;

        let mut criu = rust_criu::Criu::new_with_criu_path(criu_path)
            .map_err(|e| criu_err(format!("error in creating criu struct: {e}")))?;
        criu.set_images_dir_fd(directory.as_raw_fd());
        let work_dir: File;
        if let Some(wp) = &opts.work_path {
            if let Err(err) = DirBuilder::new().mode(0o700).create(wp) {
                if err.kind() != ErrorKind::AlreadyExists {
                    return Err(LibcontainerError::OtherIO(err));
                }
            }
            work_dir = File::open(wp).map_err(LibcontainerError::OtherIO)?;
            criu.set_work_dir_fd(work_dir.as_raw_fd());
        }

        // Bind mounts were dumped as external, keyed by their destination; give
        // criu their (possibly moved) sources now.
        for m in spec.mounts().as_deref().unwrap_or_default() {
            if is_bind(m) {
                if let Some(src) = m.source() {
                    let src = if src.is_absolute() {
                        src.clone()
                    } else {
                        self.bundle().join(src)
                    };
                    criu.set_external_mount(
                        m.destination().to_string_lossy().into_owned(),
                        src.to_string_lossy().into_owned(),
                    );
                }
            }
        }
        for (n, d) in descriptors.iter().enumerate().take(3) {
            if d.contains("pipe:") {
                criu.add_inherit_fd(n as i32, d.clone())
                    .map_err(|e| criu_err(e.to_string()))?;
            }
        }
        let console = match &opts.console_socket {
            Some(path) => {
                criu.set_orphan_pts_master(true);
                Some(
                    setup_console_socket(&self.root, path, "console-socket")
                        .map_err(|e| LibcontainerError::Other(e.to_string()))?,
                )
            }
            None => None,
        };

        let rootfs = spec
            .root()
            .as_ref()
            .map(|r| r.path().clone())
            .unwrap_or_else(|| PathBuf::from("rootfs"));
        let rootfs = if rootfs.is_absolute() {
            rootfs
        } else {
            self.bundle().join(rootfs)
        };
        criu.set_root(rootfs.to_string_lossy().into_owned());
        criu.set_log_file(CRIU_RESTORE_LOG_FILE.to_string());
        criu.set_log_level(4);
        criu.set_rst_sibling(true);
        criu.set_notify_scripts(true);
        criu.set_notify_cb(restore_notify);
        criu.set_ext_unix_sk(opts.ext_unix_sk);
        criu.set_shell_job(opts.shell_job);
        criu.set_tcp_established(opts.tcp_established);
        criu.set_file_locks(opts.file_locks);
        criu.set_manage_cgroups(true);
        criu.cgroups_mode(opts.manage_cgroups_mode.clone());

        RESTORED_PID.store(0, Ordering::SeqCst);
        criu.restore().map_err(|err| {
            criu_err(format!(
                "restore failed: {err} (see {})",
                opts.image_path.join(CRIU_RESTORE_LOG_FILE).display()
            ))
        })?;
        let pid = RESTORED_PID.load(Ordering::SeqCst);
        if pid <= 0 {
            return Err(criu_err("criu did not report the restored pid".into()));
        }

        if let Err(err) = self.adopt_restored(spec, pid, console.as_ref(), &mut criu) {
            // The restored tree is ours to clean up, like runc's failed restore.
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::SIGKILL);
            return Err(err);
        }
        Ok(())
    }

    fn adopt_restored(
        &mut self,
        spec: &Spec,
        pid: i32,
        console: Option<&std::os::fd::OwnedFd>,
        criu: &mut rust_criu::Criu,
    ) -> Result<(), LibcontainerError> {
        let config = YoukiConfig::from_spec(spec, self.id())?;
        let manager = create_cgroup_manager(CgroupConfig {
            cgroup_path: config.cgroup_path.clone(),
            systemd_cgroup: self.systemd(),
            container_name: self.id().to_string(),
        })?;
        let placed = manager.add_task(Pid::from_raw(pid)).and_then(|_| {
            match spec.linux().as_ref().and_then(|l| l.resources().as_ref()) {
                Some(resources) => manager.apply(&ControllerOpt {
                    resources,
                    disable_oom_killer: false,
                    oom_score_adj: None,
                    freezer_state: None,
                }),
                None => Ok(()),
            }
        });
        if let Err(err) = placed {
            let _ = manager.remove();
            return Err(LibcontainerError::OtherCgroup(err.to_string()));
        }
        if let (Some(sock), Some(master)) = (console, criu.take_orphan_pts_master_fd()) {
            let fds = [master.as_raw_fd()];
            let iov = [IoSlice::new(b"/dev/ptmx")];
            socket::sendmsg::<UnixAddr>(
                sock.as_raw_fd(),
                &iov,
                &[ControlMessage::ScmRights(&fds)],
                MsgFlags::empty(),
                None,
            )
            .map_err(|e| LibcontainerError::Other(format!("failed to send the pty master: {e}")))?;
        }
        let saved = config
            .save(&self.root)
            .map_err(LibcontainerError::from)
            .and_then(|_| {
                self.state.created = Some(chrono::Utc::now());
                self.set_pid(pid)
                    .set_creator(nix::unistd::geteuid().as_raw())
                    .set_status(ContainerStatus::Running)
                    .save()
            });
        if saved.is_err() {
            let _ = manager.remove();
        }
        saved
    }
}
