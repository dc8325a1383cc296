//! `sifrun oci ...`: the lifecycle of `singularity oci` for people driving SIF images
//! by hand. The top-level commands stay runc's (for engines); these wrap them and add
//! what a person needs: a monitor that keeps the container's stdio (`create`), `attach`,
//! `logs`, the exit status after the process is gone, and `run --image` in one step.
//!
//! Per container, `<root>/.oci/<id>/` holds the monitor's files (see [`OciDir`]).

pub mod attach;
pub mod create;
pub mod delete;
pub mod dir;
pub mod exec;
pub mod image_cache;
pub mod kill;
pub mod logs;
pub mod monitor;
pub mod protocol;
pub mod run;
pub mod state;
pub mod update;
