//! Run options: what the caller asks for on top of what the image says.
//!
//! This is where Singularity's OCI-mode options go (`--env`, `--env-file`, `--bind`,
//! `--cwd`, `--fakeroot`, `--no-home`, uid/gid maps …): each one a field of
//! [`Options`] and a step of [`Options::apply`], which edits the spec generated from
//! the image. None exist yet; the defaults change nothing.

use oci_spec::runtime::Spec;

use crate::error::Result;

/// Run options applied to a bundle's spec after it is generated from the image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {}

impl Options {
    /// Apply these options to `spec`. With no options defined yet, a no-op.
    pub fn apply(&self, spec: &mut Spec) -> Result<()> {
        let _ = spec;
        Ok(())
    }
}

pub mod binds;
pub mod cdi;
pub mod env;
pub mod resources;
