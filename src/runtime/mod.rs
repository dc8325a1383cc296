//! The one place that drives libcontainer: [`builder`] holds the only
//! `ContainerBuilder` chain; one module per lifecycle operation over it.

pub mod builder;
pub mod bundle;
pub mod cgroup_warmup;
pub mod checkpoint;
pub mod create;
pub mod ctx;
pub mod delete;
pub mod events;
pub mod exec;
pub mod features;
pub mod foreground;
pub mod kill;
pub mod list;
pub mod pause;
pub mod pidfd;
pub mod ps;
pub mod restore;
pub mod resume;
pub mod run;
pub mod sealed_exe;
pub mod spec;
pub mod start;
pub mod state;
pub mod unix;
pub mod update;
