//! Opening a signature object (sif-format.md §9.3): a DSSE envelope, or an OpenPGP
//! cleartext-signed message (new JSON metadata, or a legacy `SIFHASH:` line), checked
//! against the given keys. What the payload says is judged by the caller.

use base64::Engine as _;
use pgp::composed::CleartextSignedMessage;
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{Signature, SignatureType};
use pgp::types::{KeyDetails, VerifyingKey};
use serde::Deserialize;

use super::digest::HashAlg;
use super::error::short;
use super::keys::{fingerprint_hex, Key, Material};

/// The DSSE payload type of SIF metadata.
pub const METADATA_TYPE: &str = "application/vnd.sylabs.sif-metadata+json";
const CLEARSIGN_BEGIN: &str = "-----BEGIN PGP SIGNED MESSAGE-----";
const SIGNATURE_END: &str = "-----END PGP SIGNATURE-----";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Pgp,
    Dsse,
}

/// How the given keys fared against the envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOutcome {
    /// `key` (its id) verified it; for OpenPGP also the signer's primary fingerprint.
    Verified {
        key: String,
        primary_fingerprint: Option<Vec<u8>>,
    },
    /// No given key is one the envelope names (or could have made it).
    UnknownKey,
    /// A named key was given but the signature does not verify with it.
    Bad(String),
}

#[derive(Debug)]
pub struct Opened {
    pub format: Format,
    /// The signed bytes (OpenPGP: the canonical CRLF text; DSSE: the decoded payload).
    pub payload: Vec<u8>,
    /// The keys the envelope names: OpenPGP issuer fingerprints / key ids, DSSE key ids.
    pub signers: Vec<String>,
    pub outcome: KeyOutcome,
}

/// Open one signature object. `Err` is a malformed envelope (one line).
pub fn open(data: &[u8], sig_hash: Option<HashAlg>, keys: &[Key]) -> Result<Opened, String> {
    if let Ok(env) = serde_json::from_slice::<DsseEnvelope>(data) {
        if env.payload_type == METADATA_TYPE {
            return open_dsse(&env, sig_hash, keys);
        }
    }
    let text = std::str::from_utf8(data)
        .map_err(|_| "neither a DSSE envelope nor an OpenPGP clearsigned message".to_string())?;
    let start = text
        .find(CLEARSIGN_BEGIN)
        .ok_or("neither a DSSE envelope nor an OpenPGP clearsigned message")?;
    // Like the reference reader, ignore what surrounds the block.
    let block = match text[start..].find(SIGNATURE_END) {
        Some(e) => &text[start..start + e + SIGNATURE_END.len()],
        None => &text[start..],
    };
    let (msg, _) = CleartextSignedMessage::from_string(block)
        .map_err(|e| format!("malformed OpenPGP clearsigned message: {}", short(&e)))?;
    open_pgp(&msg, keys)
}

fn open_pgp(msg: &CleartextSignedMessage, keys: &[Key]) -> Result<Opened, String> {
    let text = msg.signed_text();
    if msg.signatures().is_empty() {
        return Err("OpenPGP clearsigned message without a signature".into());
    }
    let mut signers = Vec::new();
    for sig in msg.signatures() {
        for fp in sig.issuer_fingerprint() {
            signers.push(fingerprint_hex(fp.as_bytes()));
        }
        if sig.issuer_fingerprint().is_empty() {
            for id in sig.issuer_key_id() {
                signers.push(fingerprint_hex(id.as_ref()));
            }
        }
    }
    signers.dedup();
    let mut outcome = KeyOutcome::UnknownKey;
    'sigs: for sig in msg.signatures() {
        // The reference verifier's list: RFC 4880 hashes NIST still recommends.
        let hash = sig.hash_alg();
        if !matches!(
            hash,
            Some(
                HashAlgorithm::Sha224
                    | HashAlgorithm::Sha256
                    | HashAlgorithm::Sha384
                    | HashAlgorithm::Sha512
            )
        ) {
            outcome = KeyOutcome::Bad(format!("OpenPGP hash algorithm {hash:?} not accepted"));
            continue;
        }
        if !matches!(sig.typ(), Some(SignatureType::Text | SignatureType::Binary)) {
            outcome = KeyOutcome::Bad(format!("OpenPGP signature type {:?}", sig.typ()));
            continue;
        }
        for key in keys {
            let Material::Pgp(cert) = &key.material else {
                continue;
            };
            let primary_fp = cert.primary_key.fingerprint().as_bytes().to_vec();
            let mut tried = try_pgp(sig, &cert.primary_key, text.as_bytes());
            // Signing subkeys count only with a valid binding to the primary key.
            let subkeys = cert.public_subkeys.iter().filter(|sk| {
                sk.signatures.iter().any(|s| s.key_flags().sign())
                    && sk.verify_bindings(&cert.primary_key).is_ok()
            });
            for sk in subkeys {
                if tried == Some(true) {
                    break;
                }
                if let Some(ok) = try_pgp(sig, &sk.key, text.as_bytes()) {
                    tried = Some(ok);
                }
            }
            match tried {
                Some(true) => {
                    outcome = KeyOutcome::Verified {
                        key: key.id.clone(),
                        primary_fingerprint: Some(primary_fp),
                    };
                    break 'sigs;
                }
                Some(false) => {
                    outcome = KeyOutcome::Bad(format!(
                        "OpenPGP signature does not verify with key {}",
                        key.id
                    ))
                }
                None => {}
            }
        }
    }
    Ok(Opened {
        format: Format::Pgp,
        payload: text.into_bytes(),
        signers,
        outcome,
    })
}

/// `None` if the signature does not name `k`; else whether it verifies with it.
fn try_pgp<K: VerifyingKey + KeyDetails>(sig: &Signature, k: &K, text: &[u8]) -> Option<bool> {
    let fps = sig.issuer_fingerprint();
    let ids = sig.issuer_key_id();
    let named = (fps.is_empty() && ids.is_empty())
        || fps.iter().any(|f| **f == k.fingerprint())
        || ids.iter().any(|i| **i == k.legacy_key_id());
    named.then(|| sig.verify(k, text).is_ok())
}

#[derive(Deserialize)]
struct DsseEnvelope {
    #[serde(rename = "payloadType")]
    payload_type: String,
    payload: String,
    #[serde(default)]
    signatures: Vec<DsseSignature>,
}

#[derive(Deserialize)]
struct DsseSignature {
    #[serde(default)]
    keyid: String,
    sig: String,
}

fn b64(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    STANDARD.decode(s).or_else(|_| URL_SAFE.decode(s)).ok()
}

/// DSSE pre-authentication encoding: what each signature signs.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut v = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    v.extend_from_slice(payload);
    v
}

fn open_dsse(
    env: &DsseEnvelope,
    sig_hash: Option<HashAlg>,
    keys: &[Key],
) -> Result<Opened, String> {
    let payload = b64(&env.payload).ok_or("DSSE payload is not base64")?;
    if env.signatures.is_empty() {
        return Err("DSSE envelope without signatures".into());
    }
    let sigs = env
        .signatures
        .iter()
        .map(|s| b64(&s.sig).ok_or_else(|| "DSSE signature is not base64".to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let signers: Vec<String> = env
        .signatures
        .iter()
        .filter(|s| !s.keyid.is_empty())
        .map(|s| s.keyid.clone())
        .collect();
    let msg = pae(&env.payload_type, &payload);
    let outcome = match sig_hash {
        None => KeyOutcome::Bad("unsupported signature hash type".into()),
        Some(alg) => {
            let mut outcome = KeyOutcome::UnknownKey;
            for key in keys {
                if sigs.iter().any(|s| dsse_verifies(key, alg, &msg, s)) {
                    outcome = KeyOutcome::Verified {
                        key: key.id.clone(),
                        primary_fingerprint: None,
                    };
                    break;
                }
                if signers.contains(&key.id) {
                    outcome = KeyOutcome::Bad(format!(
                        "DSSE signature does not verify with key {}",
                        key.id
                    ));
                }
            }
            outcome
        }
    };
    Ok(Opened {
        format: Format::Dsse,
        payload,
        signers,
        outcome,
    })
}

/// Whether `sig` is `key`'s signature of `msg` (Ed25519 over the message; RSA
/// PKCS#1 v1.5 and ECDSA over its `alg` digest, as the reference signer makes them).
fn dsse_verifies(key: &Key, alg: HashAlg, msg: &[u8], sig: &[u8]) -> bool {
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    match &key.material {
        Material::Pgp(_) => false,
        Material::Ed25519(k) => ed25519_dalek::Signature::from_slice(sig)
            .is_ok_and(|s| k.verify_strict(msg, &s).is_ok()),
        Material::Rsa(k) => {
            use rsa::Pkcs1v15Sign;
            let scheme = match alg {
                HashAlg::Sha224 => Pkcs1v15Sign::new::<sha2::Sha224>(),
                HashAlg::Sha256 => Pkcs1v15Sign::new::<sha2::Sha256>(),
                HashAlg::Sha384 => Pkcs1v15Sign::new::<sha2::Sha384>(),
                HashAlg::Sha512 => Pkcs1v15Sign::new::<sha2::Sha512>(),
                HashAlg::Sha512_224 => Pkcs1v15Sign::new::<sha2::Sha512_224>(),
                HashAlg::Sha512_256 => Pkcs1v15Sign::new::<sha2::Sha512_256>(),
            };
            k.verify(scheme, &alg.digest(msg), sig).is_ok()
        }
        Material::P256(k) => p256::ecdsa::Signature::from_der(sig)
            .is_ok_and(|s| k.verify_prehash(&alg.digest(msg), &s).is_ok()),
        Material::P384(k) => p384::ecdsa::Signature::from_der(sig)
            .is_ok_and(|s| k.verify_prehash(&alg.digest(msg), &s).is_ok()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use p256::ecdsa::signature::hazmat::PrehashSigner;

    const PAYLOAD: &[u8] = br#"{"version":1}"#;

    fn key(id: &str, material: Material) -> Key {
        Key {
            path: "test".into(),
            kind: "test",
            id: id.into(),
            material,
        }
    }

    fn envelope(keyid: &str, sig: &[u8]) -> Vec<u8> {
        serde_json::json!({
            "payloadType": METADATA_TYPE,
            "payload": STANDARD.encode(PAYLOAD),
            "signatures": [{"keyid": keyid, "sig": STANDARD.encode(sig)}],
        })
        .to_string()
        .into_bytes()
    }

    // No fixture is signed with ECDSA: sign here as the reference signer does (DER
    // signature over the digest of the PAE) and check every curve and key type.
    #[test]
    fn dsse_ecdsa_and_ed25519() {
        let msg = pae(METADATA_TYPE, PAYLOAD);
        let p256 = p256::ecdsa::SigningKey::from_bytes(&[3u8; 32].into()).unwrap();
        let s256: p256::ecdsa::Signature =
            p256.sign_prehash(&HashAlg::Sha256.digest(&msg)).unwrap();
        let p384 = p384::ecdsa::SigningKey::from_bytes(&[5u8; 48].into()).unwrap();
        let s384: p384::ecdsa::Signature =
            p384.sign_prehash(&HashAlg::Sha384.digest(&msg)).unwrap();
        let ed = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
        let sed = ed25519_dalek::Signer::sign(&ed, &msg);
        let k256 = key("k256", Material::P256(*p256.verifying_key()));
        let k384 = key("k384", Material::P384(*p384.verifying_key()));
        let ked = key("ked", Material::Ed25519(ed.verifying_key()));
        for (env, alg, k) in [
            (
                envelope("k256", &s256.to_der().to_bytes()),
                HashAlg::Sha256,
                &k256,
            ),
            (
                envelope("k384", &s384.to_der().to_bytes()),
                HashAlg::Sha384,
                &k384,
            ),
            (envelope("ked", &sed.to_bytes()), HashAlg::Sha256, &ked),
        ] {
            let o = open(&env, Some(alg), std::slice::from_ref(k)).unwrap();
            assert_eq!(o.format, Format::Dsse);
            assert_eq!(o.payload, PAYLOAD);
            assert!(
                matches!(&o.outcome, KeyOutcome::Verified { key, .. } if key == &k.id),
                "{:?}",
                o.outcome
            );
            // Keys that did not make it: unknown, not invalid.
            let others: Vec<Key> = [&k256, &k384, &ked]
                .into_iter()
                .filter(|o| o.id != k.id)
                .map(|o| key(&format!("other-{}", o.id), clone_material(&o.material)))
                .collect();
            let o = open(&env, Some(alg), &others).unwrap();
            assert_eq!(o.outcome, KeyOutcome::UnknownKey);
        }
        // The named key, but a signature over something else: invalid.
        let bad: p256::ecdsa::Signature = p256
            .sign_prehash(&HashAlg::Sha256.digest(b"something else"))
            .unwrap();
        let o = open(
            &envelope("k256", &bad.to_der().to_bytes()),
            Some(HashAlg::Sha256),
            std::slice::from_ref(&k256),
        )
        .unwrap();
        assert!(matches!(o.outcome, KeyOutcome::Bad(_)), "{:?}", o.outcome);
        // Malformed envelopes are errors.
        assert!(open(b"{}", Some(HashAlg::Sha256), &[]).is_err());
        assert!(open(b"garbage", Some(HashAlg::Sha256), &[]).is_err());
    }

    fn clone_material(m: &Material) -> Material {
        match m {
            Material::P256(k) => Material::P256(*k),
            Material::P384(k) => Material::P384(*k),
            Material::Ed25519(k) => Material::Ed25519(*k),
            _ => unreachable!(),
        }
    }
}
