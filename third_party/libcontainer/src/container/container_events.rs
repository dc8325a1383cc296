// sifrun patch 0021
use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use libcgroups::common::CgroupManager;

// sifrun patch 0030
use super::runc_stats::{OomWatch, RuncStats};

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
        // sifrun patch 0030
        self.events_every(Duration::from_secs(u64::from(interval.max(1))), stats)
    }

    // sifrun patch 0030: any interval (runc takes durations such as `100ms`), stats in
    // runc's JSON shape, and `{"type":"oom","id":...}` when the kernel OOM-kills in the
    // container's memory cgroup.
    /// Prints runc's event stream: a `stats` event every `interval` (only one with
    /// `stats`) and an `oom` event for each OOM kill, until the container stops.
    pub fn events_every(
        &mut self,
        interval: Duration,
        stats: bool,
    ) -> Result<(), LibcontainerError> {
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
        let interval = interval.max(Duration::from_millis(1));
        // sifrun patch 0030: OOM notifications, registered before the first event.
        let cgroup_path = self.spec().ok().map(|c| c.cgroup_path);
        let oom = match &cgroup_path {
            Some(p) if !stats => OomWatch::new(p),
            _ => None,
        };
        let id = self.id().to_string();
        let mut out = std::io::stdout().lock();
        let mut emit = |line: String| writeln!(out, "{line}").and_then(|_| out.flush()).is_ok();
        let oom_line = || {
            serde_json::to_string(&Event::<()> {
                kind: "oom",
                id: &id,
                data: None,
            })
            .map_err(LibcontainerError::OtherSerialization)
        };
        loop {
            let event = Event {
                kind: "stats",
                id: &id,
                data: Some(RuncStats::new(
                    cgroup_manager.stats()?,
                    cgroup_path.as_deref(),
                )),
            };
            let line =
                serde_json::to_string(&event).map_err(LibcontainerError::OtherSerialization)?;
            if !emit(line) {
                // The reader went away: nothing more to say.
                return Ok(());
            }
            if stats {
                return Ok(());
            }
            let next = Instant::now() + interval;
            while Instant::now() < next {
                let wait = POLL.min(next.saturating_duration_since(Instant::now()));
                let fired = match &oom {
                    Some(w) => w.wait(wait),
                    None => {
                        thread::sleep(wait);
                        false
                    }
                };
                if fired && !emit(oom_line()?) {
                    return Ok(());
                }
                if !self.root.exists() || self.refresh_status().is_err() || !self.is_alive() {
                    // An OOM kill that ended the container is still reported.
                    if oom.as_ref().is_some_and(|w| w.wait(Duration::ZERO)) {
                        emit(oom_line()?);
                    }
                    return Ok(());
                }
            }
        }
    }
}

/// One line of the stream, in runc's field order.
#[derive(serde::Serialize)]
struct Event<'a, T> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    // sifrun patch 0030: runc's shape; `oom` events have no data.
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<T>,
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
