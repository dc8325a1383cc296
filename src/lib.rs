//! sifrun's engine: everything the commands in `src/commands/` call. Three layers, each
//! importing only the ones below it (see docs/architecture.md):
//!
//! * [`state`]: the state root — container ids, locks, the create claim, runc-shaped
//!   state JSON, the container's cgroup.
//! * [`runtime`]: the one place that drives libcontainer — the builder for
//!   create/run/exec, the lifecycle operations, exec's process, foreground waiting
//!   and the terminal proxy, the sealed binary (CVE-2019-5736).
//! * [`oci`]: the `sifrun oci` machinery — its directory, the monitor, the attach
//!   protocol, `oci run --image`.
//!
//! Nothing here calls a command; commands turn arguments into one call of this crate.

pub mod image;
pub mod oci;
pub mod runtime;
pub mod state;
