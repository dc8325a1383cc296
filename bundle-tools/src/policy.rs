//! Whose signature an image needs before `mount` uses it: the caller's `--verify` /
//! `--key FILE`, and the site's policy file (`/etc/sifrun/sifrun.toml`):
//!
//! ```toml
//! [verify]
//! keyring = "/etc/sifrun/keys"      # trusted public keys (*.asc *.gpg *.pgp *.pub *.pem)
//! mandatory = false                 # every mount needs a keyring signature
//! kernel_requires_verified = false  # only keyring-signed images reach the kernel's squashfs
//! ```
//!
//! An image meets a set of trusted keys when no signature on it is invalid, its OCI
//! blobs hash to their digests, and every object other than the signatures is covered
//! by a valid signature from one of those keys (OCI blobs may instead be vouched for by
//! a covered root index, through the digests it names). Signatures from keys nobody
//! trusts are tolerated: a co-signer does not make an image less trusted.
//!
//! The check runs on the already-open image (one pass over the covered bytes, whatever
//! the number of requirements), before anything is created; the mount then reads that
//! same open file, never the path again.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::sif::{DataType, ReadAt, Sif};
use crate::verify::report::{Check, Report, Status};
use crate::verify::{keys, verify_sif, VerifyError};

/// Where the site's policy lives.
pub const SITE_CONFIG: &str = "/etc/sifrun/sifrun.toml";

/// Key files a keyring directory holds: these extensions only, so a README or an
/// editor's backup file next to the keys is not mistaken for one.
const KEY_EXTENSIONS: [&str; 5] = ["asc", "gpg", "pgp", "pub", "pem"];

/// The site's policy file.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    #[serde(default)]
    pub verify: SiteVerify,
    /// The file it was read from (for messages).
    #[serde(skip)]
    pub path: PathBuf,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteVerify {
    pub keyring: Option<PathBuf>,
    #[serde(default)]
    pub mandatory: bool,
    #[serde(default)]
    pub kernel_requires_verified: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("site config {}: {msg}", path.display())]
    Site { path: PathBuf, msg: String },
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error("{}: not trusted ({by}): {why}", image.display())]
    Untrusted {
        image: PathBuf,
        by: String,
        why: String,
    },
}

impl SiteConfig {
    /// Read the policy file. A missing file means no site policy; one that cannot be
    /// read or parsed is an error (a typo must not switch verification off).
    pub fn load(path: &Path) -> Result<Self, PolicyError> {
        let site = |msg: String| PolicyError::Site {
            path: path.to_path_buf(),
            msg,
        };
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(SiteConfig {
                    path: path.to_path_buf(),
                    ..SiteConfig::default()
                })
            }
            Err(e) => return Err(site(e.to_string())),
        };
        let mut c: SiteConfig = toml::from_str(&text).map_err(|e| site(e.message().to_string()))?;
        c.path = path.to_path_buf();
        if (c.verify.mandatory || c.verify.kernel_requires_verified) && c.verify.keyring.is_none() {
            return Err(site(
                "[verify] mandatory / kernel_requires_verified need a keyring".into(),
            ));
        }
        Ok(c)
    }

    fn keyring_files(&self) -> Result<Vec<PathBuf>, PolicyError> {
        let Some(dir) = &self.verify.keyring else {
            return Ok(vec![]);
        };
        let site = |msg: String| PolicyError::Site {
            path: self.path.clone(),
            msg,
        };
        let rd = fs::read_dir(dir).map_err(|e| site(format!("keyring {}: {e}", dir.display())))?;
        let mut files: Vec<PathBuf> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension()
                    .and_then(|x| x.to_str())
                    .is_some_and(|x| KEY_EXTENSIONS.contains(&x))
                    && p.is_file()
            })
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(site(format!("keyring {} holds no keys", dir.display())));
        }
        Ok(files)
    }
}

/// A set of keys an image must be signed with, and who asks for it (for messages).
#[derive(Debug, Clone)]
pub struct Requirement {
    pub by: String,
    pub keys: Vec<PathBuf>,
}

/// What a mount must check. The default checks nothing.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Every one must be met, or nothing is mounted.
    pub required: Vec<Requirement>,
    /// Met, or the image is not handed to the kernel's filesystem drivers (FUSE and
    /// extract modes still work).
    pub kernel: Option<Requirement>,
}

/// The outcome for an image that met every requirement.
#[derive(Debug, Clone)]
pub struct Decision {
    /// Why kernel mode is not allowed, if it is not.
    pub kernel_refused: Option<String>,
    /// What to tell the user (e.g. legacy signatures relied on).
    pub notes: Vec<String>,
}

impl Policy {
    /// The policy for a caller's `--verify` / `--key` options under the site's file.
    /// `--key` alone implies `--verify`; without `--key`, `--verify` trusts the site
    /// keyring. A site's mandatory check uses the site keyring only, whatever keys the
    /// caller brings, so a caller cannot satisfy it with a key of their own.
    pub fn new(site: &SiteConfig, verify: bool, keys: &[PathBuf]) -> Result<Self, PolicyError> {
        let mut p = Policy::default();
        let verify_ring = verify && keys.is_empty();
        if verify_ring && site.verify.keyring.is_none() {
            return Err(PolicyError::Usage(format!(
                "--verify needs --key FILE, or a [verify] keyring in {}",
                site.path.display()
            )));
        }
        // The keyring directory is read once, whichever requirements use it.
        let ring = if verify_ring || site.verify.mandatory || site.verify.kernel_requires_verified {
            site.keyring_files()?
        } else {
            vec![]
        };
        if !keys.is_empty() {
            p.required.push(Requirement {
                by: "--key".into(),
                keys: keys.to_vec(),
            });
        } else if verify {
            p.required.push(Requirement {
                by: "--verify".into(),
                keys: ring.clone(),
            });
        }
        if site.verify.mandatory && !verify_ring {
            p.required.push(Requirement {
                by: format!("site policy {}: mandatory", site.path.display()),
                keys: ring.clone(),
            });
        }
        if site.verify.kernel_requires_verified {
            p.kernel = Some(Requirement {
                by: format!(
                    "site policy {}: kernel_requires_verified",
                    site.path.display()
                ),
                keys: ring,
            });
        }
        Ok(p)
    }

    /// Check `sif` (`meta`: its open file's metadata) against the policy: an error
    /// names the first requirement it fails. The kernel requirement is checked only
    /// when the mount `may_use_kernel` (root, kernel or auto mode): otherwise it
    /// decides nothing, and an image nobody else requires verified is not hashed.
    /// `kernel_too_risky` is a reason kernel mode is refused anyway under a kernel
    /// requirement (e.g. an `--overlay` squashfs image, which carries no signature).
    pub fn check<R: ReadAt>(
        &self,
        sif: &Sif<R>,
        meta: &fs::Metadata,
        may_use_kernel: bool,
        kernel_too_risky: Option<&str>,
    ) -> Result<Decision, PolicyError> {
        let mut d = Decision {
            kernel_refused: None,
            notes: vec![],
        };
        let kernel = self.kernel.as_ref().filter(|_| may_use_kernel);
        if self.required.is_empty() && kernel.is_none() {
            return Ok(d);
        }
        // Every key file once, all of them before the image is read; each
        // requirement keeps the ids of its own keys.
        let mut by_file: BTreeMap<&Path, Vec<String>> = BTreeMap::new();
        let mut all = vec![];
        for r in self.required.iter().chain(kernel) {
            for f in &r.keys {
                if !by_file.contains_key(f.as_path()) {
                    let ks = keys::load(f)?;
                    by_file.insert(f, ks.iter().map(|k| k.id.clone()).collect());
                    all.extend(ks);
                }
            }
        }
        let report = verify_sif(sif, &all)?;
        let ids = |r: &Requirement| -> BTreeSet<String> {
            r.keys
                .iter()
                .flat_map(|f| by_file[f.as_path()].iter().cloned())
                .collect()
        };
        for r in &self.required {
            meets(sif, &report, &ids(r)).map_err(|why| PolicyError::Untrusted {
                image: sif.path().to_path_buf(),
                by: r.by.clone(),
                why,
            })?;
        }
        if let Some(k) = kernel {
            d.kernel_refused = match meets(sif, &report, &ids(k)) {
                Err(why) => Some(format!("{}: {why}", k.by)),
                // Root mounts it, but someone else could rewrite the verified bytes
                // before (or while) the kernel reads them.
                Ok(()) if meta.uid() != 0 || meta.mode() & 0o022 != 0 => Some(format!(
                    "{}: the image file is writable by someone other than root (owner uid {}, mode {:o})",
                    k.by,
                    meta.uid(),
                    meta.mode() & 0o7777
                )),
                Ok(()) => kernel_too_risky.map(|w| format!("{}: {w}", k.by)),
            };
        }
        if report
            .signatures
            .iter()
            .any(|s| s.legacy && s.status == Status::Valid)
        {
            d.notes.push(format!(
                "{}: verified by legacy signatures, which do not protect the SIF header and descriptors",
                sif.path().display()
            ));
        }
        Ok(d)
    }
}

/// Whether `report` shows `sif` signed, all of it, by one of `trusted` (key ids).
fn meets<R: ReadAt>(
    sif: &Sif<R>,
    report: &Report,
    trusted: &BTreeSet<String>,
) -> Result<(), String> {
    if let Some(s) = report
        .signatures
        .iter()
        .find(|s| s.status == Status::Invalid)
    {
        return Err(format!(
            "signature {} is invalid: {}",
            s.id,
            s.reason.as_deref().unwrap_or("bad signature")
        ));
    }
    if let Some(o) = &report.oci {
        if let Some(b) = o.blobs.iter().find(|b| b.status != Check::Ok) {
            return Err(format!("object {} does not hash to {}", b.id, b.digest));
        }
        if let Some(p) = o.problems.first() {
            return Err(format!("OCI index: {p}"));
        }
    }
    let by_trusted: Vec<_> = report
        .signatures
        .iter()
        .filter(|s| {
            s.status == Status::Valid && s.key.as_ref().is_some_and(|k| trusted.contains(k))
        })
        .collect();
    if by_trusted.is_empty() {
        let signers: Vec<&str> = report
            .signatures
            .iter()
            .flat_map(|s| s.signers.iter().map(String::as_str))
            .collect();
        return Err(if report.signatures.is_empty() {
            "the image has no signatures".into()
        } else {
            format!(
                "no signature from a trusted key (signed by {})",
                signers.join(", ")
            )
        });
    }
    let mut covered: BTreeSet<u32> = by_trusted
        .iter()
        .flat_map(|s| s.objects.iter().copied())
        .collect();
    let index_covered = sif
        .of_type(DataType::OciRootIndex)
        .any(|d| covered.contains(&d.id));
    if index_covered {
        // Blobs hash to their digests (checked above), and the covered index names them.
        covered.extend(
            sif.of_type(DataType::OciBlob)
                .map(|d| d.id)
                .collect::<Vec<_>>(),
        );
    }
    match sif
        .descriptors()
        .iter()
        .find(|d| d.data_type != DataType::Signature && !covered.contains(&d.id))
    {
        Some(d) => Err(format!(
            "object {} ({}) is not covered by a trusted signature",
            d.id,
            d.data_type.name()
        )),
        None => Ok(()),
    }
}
