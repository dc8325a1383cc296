//! Public keys given with `--key FILE`: OpenPGP certificates (armored or binary, one
//! or more per file) for PGP and legacy signatures, PEM `PUBLIC KEY` (SPKI) files with
//! an Ed25519, RSA or ECDSA P-256/P-384 key for DSSE envelopes.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use pgp::composed::{Deserializable, SignedPublicKey};
use pgp::types::KeyDetails;
use sha2::{Digest as _, Sha256};

use super::error::{short, VerifyError};

/// Bound on a key file: real ones are a few KiB.
const KEY_FILE_LIMIT: u64 = 1 << 20;

pub enum Material {
    Pgp(Box<SignedPublicKey>),
    Ed25519(ed25519_dalek::VerifyingKey),
    Rsa(Box<rsa::RsaPublicKey>),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
}

/// One usable public key.
pub struct Key {
    pub path: PathBuf,
    /// `pgp`, `ed25519`, `rsa`, `ecdsa-p256`, `ecdsa-p384`.
    pub kind: &'static str,
    /// OpenPGP: the primary key's fingerprint (upper-case hex). PEM keys: the DSSE key
    /// id ([`ssh_fingerprint`]).
    pub id: String,
    pub material: Material,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({} {} {})", self.kind, self.id, self.path.display())
    }
}

/// Load every key in `path`.
pub fn load(path: &Path) -> Result<Vec<Key>, VerifyError> {
    let io = |err| VerifyError::KeyIo {
        path: path.to_path_buf(),
        err,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(VerifyError::key(path, "not a regular file"));
    }
    if meta.len() > KEY_FILE_LIMIT {
        return Err(VerifyError::key(
            path,
            format!("{} bytes, more than a key file can be", meta.len()),
        ));
    }
    let data = std::fs::read(path).map_err(io)?;
    let text = std::str::from_utf8(&data).ok();
    let keys = match text {
        Some(t) if t.contains("-----BEGIN PUBLIC KEY-----") => vec![load_pem(path, t)?],
        Some(t) if t.contains("-----BEGIN PGP PUBLIC KEY BLOCK-----") => {
            let (it, _) = SignedPublicKey::from_string_many(t)
                .map_err(|e| VerifyError::key(path, format!("OpenPGP: {}", short(&e))))?;
            pgp_keys(path, it)?
        }
        Some(t) if t.contains("-----BEGIN") => {
            return Err(VerifyError::key(
                path,
                "expected a PGP PUBLIC KEY BLOCK or a PEM PUBLIC KEY",
            ))
        }
        _ => {
            let it = SignedPublicKey::from_bytes_many(&data[..]).map_err(|e| {
                VerifyError::key(
                    path,
                    format!(
                        "neither a PEM public key nor an OpenPGP key ({})",
                        short(&e)
                    ),
                )
            })?;
            pgp_keys(path, it)?
        }
    };
    if keys.is_empty() {
        return Err(VerifyError::key(path, "no public key in the file"));
    }
    Ok(keys)
}

fn pgp_keys(
    path: &Path,
    it: Box<dyn Iterator<Item = pgp::errors::Result<SignedPublicKey>> + '_>,
) -> Result<Vec<Key>, VerifyError> {
    let mut out = Vec::new();
    for k in it {
        let k = k.map_err(|e| VerifyError::key(path, format!("OpenPGP: {}", short(&e))))?;
        // A certificate whose self-signatures do not verify is not the key it claims.
        k.details.verify_bindings(&k.primary_key).map_err(|e| {
            VerifyError::key(path, format!("OpenPGP self-signature: {}", short(&e)))
        })?;
        out.push(Key {
            path: path.to_path_buf(),
            kind: "pgp",
            id: fingerprint_hex(k.primary_key.fingerprint().as_bytes()),
            material: Material::Pgp(Box::new(k)),
        });
    }
    Ok(out)
}

pub fn fingerprint_hex(b: &[u8]) -> String {
    hex::encode_upper(b)
}

/// The key id the reference DSSE signer writes: the OpenSSH SHA256 fingerprint,
/// `SHA256:` + unpadded base64 of the SHA-256 of the key's SSH wire encoding.
pub fn ssh_fingerprint(m: &Material) -> Option<String> {
    use rsa::traits::PublicKeyParts;
    fn string(out: &mut Vec<u8>, b: &[u8]) {
        out.extend_from_slice(&(b.len() as u32).to_be_bytes());
        out.extend_from_slice(b);
    }
    fn mpint(out: &mut Vec<u8>, be: &[u8]) {
        let be = &be[be.iter().position(|&b| b != 0).unwrap_or(be.len())..];
        if be.first().is_some_and(|&b| b & 0x80 != 0) {
            string(out, &[&[0u8][..], be].concat());
        } else {
            string(out, be);
        }
    }
    let mut blob = Vec::new();
    match m {
        Material::Pgp(_) => return None,
        Material::Ed25519(k) => {
            string(&mut blob, b"ssh-ed25519");
            string(&mut blob, k.as_bytes());
        }
        Material::Rsa(k) => {
            string(&mut blob, b"ssh-rsa");
            mpint(&mut blob, &k.e().to_bytes_be());
            mpint(&mut blob, &k.n().to_bytes_be());
        }
        Material::P256(k) => {
            string(&mut blob, b"ecdsa-sha2-nistp256");
            string(&mut blob, b"nistp256");
            string(&mut blob, k.to_encoded_point(false).as_bytes());
        }
        Material::P384(k) => {
            string(&mut blob, b"ecdsa-sha2-nistp384");
            string(&mut blob, b"nistp384");
            string(&mut blob, k.to_encoded_point(false).as_bytes());
        }
    }
    Some(format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(Sha256::digest(&blob))
    ))
}

fn load_pem(path: &Path, text: &str) -> Result<Key, VerifyError> {
    use p256::pkcs8::DecodePublicKey;
    let start = text.find("-----BEGIN PUBLIC KEY-----").unwrap_or(0);
    let (label, der) = p256::pkcs8::Document::from_pem(&text[start..])
        .map_err(|e| VerifyError::key(path, format!("PEM: {e}")))?;
    if label != "PUBLIC KEY" {
        return Err(VerifyError::key(
            path,
            format!("unexpected PEM label {label:?}"),
        ));
    }
    let der = der.as_bytes();
    let key = |kind, material| {
        let id = ssh_fingerprint(&material).unwrap_or_default();
        Key {
            path: path.to_path_buf(),
            kind,
            id,
            material,
        }
    };
    if let Ok(k) = ed25519_dalek::VerifyingKey::from_public_key_der(der) {
        return Ok(key("ed25519", Material::Ed25519(k)));
    }
    if let Ok(k) = rsa::RsaPublicKey::from_public_key_der(der) {
        return Ok(key("rsa", Material::Rsa(Box::new(k))));
    }
    if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_der(der) {
        return Ok(key("ecdsa-p256", Material::P256(k)));
    }
    if let Ok(k) = p384::ecdsa::VerifyingKey::from_public_key_der(der) {
        return Ok(key("ecdsa-p384", Material::P384(k)));
    }
    Err(VerifyError::key(
        path,
        "public key is not Ed25519, RSA, ECDSA P-256 or P-384",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_key(name: &str) -> Vec<Key> {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/fixtures/sif/keys")
            .join(name);
        load(&p).unwrap()
    }

    // The ids `ssh-keygen -l` prints for these keys, and (Ed25519, RSA) the key ids
    // in the fixtures' DSSE envelopes.
    #[test]
    fn key_ids() {
        for (file, kind, id) in [
            (
                "sif-ed25519-public.pem",
                "ed25519",
                "SHA256:x6l8ZblpSSXGaPMCzySedWg88BwIFcz8jlPb6el0mFs",
            ),
            (
                "sif-rsa-public.pem",
                "rsa",
                "SHA256:BhCwr7qZulYcOMSl2Jt2DuYHxHNnN6th4NdMqR/PGa4",
            ),
            (
                "sif-ecdsa-public.pem",
                "ecdsa-p256",
                "SHA256:13cNV0A11AxgIQYCvlDmJlRi0CjRtjnYF47RzrMhlaU",
            ),
            (
                "sif-pgp-public.asc",
                "pgp",
                "12045C8C0B1004D058DE4BEDA20C27EE7FF7BA84",
            ),
            (
                "singularity-pgp-public.asc",
                "pgp",
                "F34371D0ACD5D09EB9BD853A80600A5FA11BBD29",
            ),
        ] {
            let k = fixture_key(file);
            assert_eq!(k.len(), 1, "{file}");
            assert_eq!((k[0].kind, k[0].id.as_str()), (kind, id), "{file}");
        }
    }
}
