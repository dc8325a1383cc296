//! OCI runtime-spec conformance suite: a runner that drives a runtime through
//! its CLI (see [`runtime`]) and an in-container checker (see [`checker`]).

pub mod bundle;
pub mod cases;
pub mod checker;
pub mod host;
pub mod runtime;
pub mod tap;
