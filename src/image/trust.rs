//! `--verify` / `--key` of `mount`, `oci mount` and `oci run --image`, under the site
//! policy file (`/etc/sifrun/sifrun.toml`, or `$SIFRUN_CONFIG`): see
//! [`bundle_tools::verify::policy`] for what they require.

use std::path::PathBuf;

use anyhow::Result;
use bundle_tools::policy::{Policy, SiteConfig, SITE_CONFIG};
use clap::Args;

#[derive(Args, Debug, Default, Clone, PartialEq)]
#[command(next_help_heading = "Image trust")]
pub struct TrustArgs {
    /// Mount only an image whose every object is signed by a trusted key: the --key
    /// files, else the site keyring ([verify] keyring in /etc/sifrun/sifrun.toml)
    #[arg(long)]
    pub verify: bool,
    /// Public key to trust (OpenPGP, or PEM Ed25519/RSA/ECDSA); implies --verify;
    /// repeatable
    #[arg(long = "key", value_name = "FILE")]
    pub keys: Vec<PathBuf>,
}

/// The site policy file: `$SIFRUN_CONFIG` when set (whoever runs sifrun as root
/// chooses its environment too), else `/etc/sifrun/sifrun.toml`.
pub fn site_config() -> Result<SiteConfig> {
    let path = std::env::var_os("SIFRUN_CONFIG")
        .filter(|p| !p.is_empty())
        .map_or_else(|| PathBuf::from(SITE_CONFIG), PathBuf::from);
    Ok(SiteConfig::load(&path)?)
}

impl TrustArgs {
    /// What a mount must check for these options under the site policy.
    pub fn policy(&self) -> Result<Policy> {
        Ok(Policy::new(&site_config()?, self.verify, &self.keys)?)
    }
}
