//! The result of `sif verify`: one entry per signature object, the OCI blob checks,
//! and the verdict; rendered as text or (serde) JSON.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Valid,
    Invalid,
    UnknownKey,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Valid => "valid",
            Status::Invalid => "invalid",
            Status::UnknownKey => "unknown-key",
        }
    }
}

/// What a signature object links to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Covers {
    Group(u32),
    Object(u32),
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Check {
    Ok,
    Mismatch,
}

impl Check {
    pub fn of(ok: bool) -> Self {
        if ok {
            Check::Ok
        } else {
            Check::Mismatch
        }
    }
}

/// One covered object's digests against the signed ones.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectCheck {
    pub id: u32,
    /// Legacy signatures do not cover descriptors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub descriptor: Option<Check>,
    pub object: Check,
}

#[derive(Debug, Clone, Serialize)]
pub struct SignatureResult {
    /// The signature object's ID.
    pub id: u32,
    /// `pgp` or `dsse`.
    pub format: &'static str,
    /// A pre-3.6 `SIFHASH` signature: header and descriptors are not protected.
    pub legacy: bool,
    pub covers: Covers,
    /// The objects it covers (IDs).
    pub objects: Vec<u32>,
    /// The descriptor's hash type (the message-signature hash).
    pub hash: String,
    /// The signer as the image records it: the descriptor's entity fingerprint, else
    /// the key ids / fingerprints the envelope names.
    pub signers: Vec<String>,
    /// The given key that verified the signature.
    pub key: Option<String>,
    pub status: Status,
    pub reason: Option<String>,
    /// The global header digest (non-legacy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<Check>,
    pub checks: Vec<ObjectCheck>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BlobCheck {
    pub id: u32,
    pub digest: String,
    pub status: Check,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct OciReport {
    pub blobs: Vec<BlobCheck>,
    /// Broken references: a digest the index or a manifest names that no object holds,
    /// or holds with another size.
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct KeyInfo {
    pub file: PathBuf,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    pub bytes: u64,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub image: PathBuf,
    /// Every signature valid, at least one checked against a given key, OCI blobs intact.
    pub verified: bool,
    pub keys: Vec<KeyInfo>,
    pub signatures: Vec<SignatureResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oci: Option<OciReport>,
    /// Non-signature objects no valid signature covers.
    pub unsigned_objects: Vec<u32>,
    /// Why `verified` is false, one line each.
    pub problems: Vec<String>,
    /// Bytes hashed and the time the one pass over them took.
    pub hashed: Throughput,
}

impl Report {
    /// One line: why the image did not verify.
    pub fn summary(&self) -> String {
        self.problems.join("; ")
    }

    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for r in &self.signatures {
            let covers = match r.covers {
                Covers::Group(g) => format!("group {g}"),
                Covers::Object(o) => format!("object {o}"),
                Covers::None => "nothing".into(),
            };
            let objs: Vec<String> = r.objects.iter().map(u32::to_string).collect();
            let _ = write!(
                s,
                "signature {} ({}{}): {covers} (objects {}): {}",
                r.id,
                r.format,
                if r.legacy { ", legacy" } else { "" },
                if objs.is_empty() {
                    "-".into()
                } else {
                    objs.join(",")
                },
                r.status.as_str()
            );
            if let Some(k) = &r.key {
                let _ = write!(s, ", key {k}");
            } else if !r.signers.is_empty() {
                let _ = write!(s, ", signer {}", r.signers.join(" "));
            }
            if let Some(why) = &r.reason {
                let _ = write!(s, ": {why}");
            }
            if r.legacy && r.status == Status::Valid {
                s.push_str(" (legacy: header and descriptors not covered)");
            }
            s.push('\n');
        }
        if let Some(oci) = &self.oci {
            let bad = oci.blobs.iter().filter(|b| b.status != Check::Ok).count();
            let _ = writeln!(
                s,
                "oci: {} blobs checked, {} mismatched{}",
                oci.blobs.len(),
                bad,
                if oci.problems.is_empty() {
                    String::new()
                } else {
                    format!("; {}", oci.problems.join("; "))
                }
            );
        }
        if !self.unsigned_objects.is_empty() {
            let ids: Vec<String> = self.unsigned_objects.iter().map(u32::to_string).collect();
            let _ = writeln!(
                s,
                "not covered by a valid signature: objects {}",
                ids.join(",")
            );
        }
        let _ = writeln!(
            s,
            "{}: {}",
            self.image.display(),
            if self.verified {
                "verified"
            } else {
                "NOT verified"
            }
        );
        s
    }
}
