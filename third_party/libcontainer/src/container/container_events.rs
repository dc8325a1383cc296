// sifrun patch 0021
use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use libcgroups::common::CgroupManager;

use super::{Container, ContainerStatus};
use crate::error::LibcontainerError;

impl Container {
    /// Displays container events
    ///
    /// # Example
    ///
    /// ```no_run
    /// use libcontainer::container::builder::ContainerBuilder;
    /// use libcontainer::syscall::syscall::SyscallType;
    ///
    /// # fn main() -> anyhow::Result<()> {
    /// let mut container = ContainerBuilder::new(
    ///     "74f1a4cb3801".to_owned(),
    ///     SyscallType::default(),
    /// )
    /// .as_init("/var/run/docker/bundle")
    /// .build()?;
    ///
    /// container.events(5000, false)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn events(&mut self, interval: u32, stats: bool) -> Result<(), LibcontainerError> {
        self.refresh_status()?;
        // sifrun patch 0021: a paused container has events too, as with runc.
        if !self.is_alive() {
            tracing::error!(id = ?self.id(), status = ?self.state.status, "container is not running");
            return Err(LibcontainerError::IncorrectStatus(self.status()));
        }

        let cgroup_manager =
            libcgroups::common::create_cgroup_manager(libcgroups::common::CgroupConfig {
                cgroup_path: self.spec()?.cgroup_path,
                systemd_cgroup: self.systemd(),
                container_name: self.id().to_string(),
            })?;
        // sifrun patch 0021: runc's event stream: one compact JSON line per event
        // (`{"type":"stats","id":…,"data":…}`), printed every `interval` seconds until the
        // container stops or is deleted; `--stats` prints one event. The loop used to
        // print pretty JSON forever, even after the container was gone.
        let interval = Duration::from_secs(u64::from(interval.max(1)));
        let mut out = std::io::stdout().lock();
        loop {
            let event = Event {
                kind: "stats",
                id: self.id(),
                data: cgroup_manager.stats()?,
            };
            let line =
                serde_json::to_string(&event).map_err(LibcontainerError::OtherSerialization)?;
            if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
                // The reader went away: nothing more to say.
                return Ok(());
            }
            if stats {
                return Ok(());
            }
            let next = Instant::now() + interval;
            while Instant::now() < next {
                thread::sleep(POLL.min(next.saturating_duration_since(Instant::now())));
                if !self.root.exists() || self.refresh_status().is_err() || !self.is_alive() {
                    return Ok(());
                }
            }
        }
    }
}

/// One line of the stream, in runc's field order.
#[derive(serde::Serialize)]
struct Event<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    data: libcgroups::stats::Stats,
}

impl Container {
    fn is_alive(&self) -> bool {
        matches!(
            self.status(),
            ContainerStatus::Running | ContainerStatus::Paused
        )
    }
}

/// How often a waiting `events` looks for the container's end.
const POLL: Duration = Duration::from_millis(100);
