//! The integration tests of the `sifrun` binary: one test binary
//! (`cargo test --release -p sifrun --test integration`), one module per command or
//! feature, like runc's tests/integration/<command>.bats. They drive the built binary
//! against real bundles, mounts and cgroups; most need root and print `skipped` (and
//! pass) without it. Run one module with a filter on its path, e.g.
//! `cargo test --release --test integration exec::` or `… security::cves::`.
//!
//! | module | what it covers |
//! | --- | --- |
//! | [`cli`] | `--version`, `--help`, `--log`/`--log-format` |
//! | [`cli_flags`] | runc's flag syntax on runc and sifrun; help texts in sifrun's words |
//! | [`lifecycle`] | `create`, `start`, `state`, `kill`, `delete`, `--console-socket`, errors |
//! | [`run`] | `run` in the foreground: exit codes, stdio, signals, tmpcopyup, cwd |
//! | [`exec`] | `exec` and its options, `ps` of an exec'd process |
//! | [`list_ps`] | `list` |
//! | [`pause_resume`] | `pause`, `resume` |
//! | [`events`] | `events`, `events --stats` |
//! | [`update`] | `update` |
//! | [`spec_features`] | `spec`, `features` |
//! | [`checkpoint`] | `checkpoint`, `restore` without a usable criu |
//! | [`restore`] | `restore` after `checkpoint`, with a fake criu (`data/fake-criu.py`) |
//! | [`mount_umount`] | `mount`, `umount`, running a mounted SIF / OCI-SIF |
//! | [`sif`] | `sif list`, `sif info`, `sif header`, `sif build` |
//! | [`sif_verify`] | `sif verify`: PGP, DSSE and legacy signatures, OCI-SIF digests |
//! | [`oci`] | `oci run --image`, `oci create`/`start`/`attach`/`logs`/`kill`/…, attach in tmux |
//! | [`install`] | `hack/install.sh` + `--uninstall`, man pages, completions (bash in tmux) |
//! | [`progress`] | progress of `sif build` on a terminal (tmux), silence without one |
//! | [`rootless`] | an unprivileged user: lifecycle, a FUSE-mounted SIF |
//! | [`security`] | CVE regressions, hostile input, fuzz regression replays |
//! | [`reliability`] | concurrency and races, fault injection |
//! | [`shared_mounts`] | one image mount shared by the bundles of an image |
//!
//! Shared helpers (runtime with a private `--root`, busybox bundles, SIF fixtures and
//! mounts, leak probes) are in [`common`].

mod common;

mod checkpoint;
mod cli;
mod cli_flags;
mod events;
mod exec;
mod install;
mod lifecycle;
mod list_ps;
mod mount_umount;
mod oci;
mod pause_resume;
mod progress;
mod reliability;
mod restore;
mod rootless;
mod run;
mod security;
mod shared_mounts;
mod sif;
mod sif_verify;
mod spec_features;
mod trust_policy;
mod unprivileged;
mod update;
