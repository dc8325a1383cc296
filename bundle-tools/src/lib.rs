//! SIF / OCI-SIF images and OCI bundles made from them.
//!
//! * [`sif`]: pure-Rust reader/writer of the SIF container format.
//! * [`oci_sif`]: resolving an OCI-SIF's root index → manifest → config and layers.
//! * [`config`]: OCI runtime `config.json` generation from image metadata (and the
//!   place for run options).
//! * [`build`]: `sifrun sif build`: OCI-SIF / native SIF from OCI images and directories.
//! * [`mount`]: `mount`/`umount` of a SIF as an OCI bundle (kernel or FUSE).
//! * [`listing`]: `sifrun sif list/info/header` renderings.
//! * [`verify`]: `sifrun sif verify`: SIF signatures (OpenPGP, DSSE, legacy) and OCI-SIF digests.
//! * [`verify`]'s `sign`: `sifrun sif sign` (DSSE, Ed25519).
//! * [`policy`]: whose signatures `mount` requires (`--verify`, the site's sifrun.toml).
//! * [`error`]: the crate's one error type.
//! * [`threads`]: helper threads that leave the process's signals to the main thread.

pub mod build;
pub mod config;
pub mod error;
pub mod listing;
pub mod mount;
pub mod oci_sif;
pub mod policy;
pub mod sif;
pub mod threads;
pub mod verify;

pub use error::{Error, Result};
