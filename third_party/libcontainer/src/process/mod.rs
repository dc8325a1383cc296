//! Provides a thin wrapper around fork syscall,
//! with enums and functions specific to youki implemented

pub mod args;
pub mod channel;
pub mod container_intermediate_process;
pub mod container_main_process;
pub mod cpu_affinity;
// sifrun patch 0019
pub mod fds;
mod fork;
pub mod init;
pub mod intel_rdt;
pub mod memory_policy;
mod message;
// sifrun patch 0039
pub(crate) mod mount_source;
#[cfg(feature = "libseccomp")]
mod seccomp_listener;
