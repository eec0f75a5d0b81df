//! The JOSE part of Shared Signals: the transmitter's signing key (ES256, generated on first
//! start; or RS256 from an operator-made RSA key), compact JWS signing of SETs, the JWK Set
//! published at `jwks_uri`, and the verification of SETs that identity providers push to us.
//!
//! Keys live in the state directory, `0600` like every state file. The key id (`kid`) is the
//! RFC 7638 thumbprint of the public key, so a new key is always a new `kid`; rotation keeps the
//! previous key's public half in the JWK Set (file [`PREVIOUS_KEY_FILE`]) until the operator
//! deletes it. Stops at bytes: what a SET says is [`super::set`]'s business.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The generated ES256 key (PKCS#8 DER) in the state directory.
pub const KEY_FILE: &str = "ssf-signing-key.p8";
/// A retired key (PKCS#8 DER, ES256 or RSA) whose public half stays in the JWK Set.
pub const PREVIOUS_KEY_FILE: &str = "ssf-signing-key.previous.p8";

/// Why a key cannot be loaded or made.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file could not be read or written.
    #[error("ssf key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The key file does not hold a usable key of the configured algorithm.
    #[error("ssf key file {path}: {message}")]
    Rejected {
        /// The file.
        path: PathBuf,
        /// What is wrong (never key material).
        message: String,
    },
    /// RS256 needs an RSA key made by the operator.
    #[error("ssf: algorithm RS256 needs `rsa_key_file` (a PKCS#8 RSA key of 2048 bits or more)")]
    MissingRsaKey,
}

/// The JWS algorithms a transmitter can sign with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
pub enum Algorithm {
    /// ECDSA P-256 with SHA-256 (RFC 7518 §3.4).
    ES256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3).
    RS256,
}

enum Pair {
    Ec(EcdsaKeyPair),
    Rsa(RsaKeyPair),
}

/// The transmitter's signing key and the public keys it publishes.
pub struct Signer {
    pair: Pair,
    kid: String,
    jwks: Value,
    rng: SystemRandom,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("kid", &self.kid).finish()
    }
}

impl Signer {
    /// Loads (or, for ES256, creates on first start) the signing key in `dir`; RS256 reads
    /// `rsa_key` (PKCS#8, DER or PEM).
    pub fn open(dir: &Path, alg: Algorithm, rsa_key: Option<&Path>) -> Result<Signer, KeyError> {
        let rng = SystemRandom::new();
        let pair = match alg {
            Algorithm::ES256 => Pair::Ec(ec_pair(&dir.join(KEY_FILE), &rng, true)?),
            Algorithm::RS256 => {
                let path = rsa_key.ok_or(KeyError::MissingRsaKey)?;
                let der = read_pkcs8(path)?;
                Pair::Rsa(RsaKeyPair::from_pkcs8(&der).map_err(|e| rejected(path, e))?)
            }
        };
        let current = public_jwk(&pair);
        let kid = thumbprint(&current);
        let mut keys = vec![with_kid(current, &kid, alg_name(&pair))];
        let previous = dir.join(PREVIOUS_KEY_FILE);
        if previous.exists() {
            let der = read_pkcs8(&previous)?;
            let old = match EcdsaKeyPair::from_pkcs8(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                &der,
                &rng,
            ) {
                Ok(p) => Pair::Ec(p),
                Err(_) => {
                    Pair::Rsa(RsaKeyPair::from_pkcs8(&der).map_err(|e| rejected(&previous, e))?)
                }
            };
            let jwk = public_jwk(&old);
            let old_kid = thumbprint(&jwk);
            if old_kid != kid {
                keys.push(with_kid(jwk, &old_kid, alg_name(&old)));
            }
        }
        Ok(Signer {
            pair,
            kid,
            jwks: json!({ "keys": keys }),
            rng,
        })
    }

    /// The current key's id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The JWK Set served at `jwks_uri`: the current key, then a retired one if kept.
    pub fn jwks(&self) -> &Value {
        &self.jwks
    }

    /// `claims` as a compact JWS with `typ: secevent+jwt` (RFC 8417 §2.3).
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({ "alg": alg_name(&self.pair), "kid": self.kid, "typ": "secevent+jwt" });
        let mut input = B64.encode(header.to_string());
        input.push('.');
        input.push_str(&B64.encode(claims.to_string()));
        let sig = match &self.pair {
            Pair::Ec(p) => p
                .sign(&self.rng, input.as_bytes())
                .map(|s| s.as_ref().to_vec()),
            Pair::Rsa(p) => {
                let mut out = vec![0; p.public().modulus_len()];
                p.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &self.rng,
                    input.as_bytes(),
                    &mut out,
                )
                .map(|()| out)
            }
        }
        // Signing with a key that loaded fails only when the system RNG does.
        .expect("the system random generator works");
        input.push('.');
        input.push_str(&B64.encode(sig));
        input
    }
}

fn rejected(path: &Path, e: impl std::fmt::Display) -> KeyError {
    KeyError::Rejected {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn alg_name(pair: &Pair) -> &'static str {
    match pair {
        Pair::Ec(_) => "ES256",
        Pair::Rsa(_) => "RS256",
    }
}

fn ec_pair(path: &Path, rng: &SystemRandom, create: bool) -> Result<EcdsaKeyPair, KeyError> {
    let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
    let der = match std::fs::read(path) {
        Ok(der) => der,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
            let doc = EcdsaKeyPair::generate_pkcs8(alg, rng).map_err(|e| rejected(path, e))?;
            write_key(path, doc.as_ref())?;
            tracing::info!(file = %path.display(), "ssf: generated a new ES256 signing key");
            doc.as_ref().to_vec()
        }
        Err(source) => {
            return Err(KeyError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    EcdsaKeyPair::from_pkcs8(alg, &der, rng).map_err(|e| rejected(path, e))
}

fn write_key(path: &Path, der: &[u8]) -> Result<(), KeyError> {
    use std::io::Write;
    let io = |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        crate::statedir::create_dir(dir).map_err(io)?;
    }
    let tmp = path.with_extension("p8.tmp");
    let mut f = crate::statedir::create_file(&tmp).map_err(io)?;
    f.write_all(der).and_then(|()| f.sync_all()).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// A PKCS#8 key file, DER or PEM (`-----BEGIN PRIVATE KEY-----`).
fn read_pkcs8(path: &Path) -> Result<Vec<u8>, KeyError> {
    let bytes = std::fs::read(path).map_err(|source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Ok(bytes);
    };
    if !text.contains("-----BEGIN") {
        return Ok(bytes);
    }
    if !text.contains("-----BEGIN PRIVATE KEY-----") {
        return Err(rejected(path, "PEM key must be PKCS#8 (BEGIN PRIVATE KEY)"));
    }
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .flat_map(|l| l.trim().chars())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|_| rejected(path, "PEM body is not base64"))
}

fn public_jwk(pair: &Pair) -> Value {
    match pair {
        Pair::Ec(p) => {
            // Uncompressed point: 0x04 || x || y, 32 bytes each for P-256.
            let point = p.public_key().as_ref();
            json!({
                "crv": "P-256",
                "kty": "EC",
                "x": B64.encode(&point[1..33]),
                "y": B64.encode(&point[33..65]),
            })
        }
        Pair::Rsa(p) => {
            let c = signature::RsaPublicKeyComponents::<Vec<u8>>::from(p.public());
            json!({ "e": B64.encode(&c.e), "kty": "RSA", "n": B64.encode(&c.n) })
        }
    }
}

/// RFC 7638 thumbprint: SHA-256 over the required members in lexicographic order, which is
/// how [`public_jwk`] builds them and how `serde_json` (sorted maps) prints them.
fn thumbprint(jwk: &Value) -> String {
    B64.encode(Sha256::digest(jwk.to_string().as_bytes()))
}

fn with_kid(mut jwk: Value, kid: &str, alg: &str) -> Value {
    jwk["kid"] = json!(kid);
    jwk["use"] = json!("sig");
    jwk["alg"] = json!(alg);
    jwk
}

/// Why a pushed SET was refused; `err` is the RFC 8935 §2.4 error code.
#[derive(Debug, thiserror::Error)]
#[error("{err}: {description}")]
pub struct SetError {
    /// `invalid_request`, `invalid_key`, `invalid_issuer`, `invalid_audience`,
    /// `authentication_failed` or `access_denied`.
    pub err: &'static str,
    /// What was wrong, for the transmitter's logs.
    pub description: String,
}

impl SetError {
    /// An error with this code.
    pub fn new(err: &'static str, description: impl Into<String>) -> SetError {
        SetError {
            err,
            description: description.into(),
        }
    }
}

/// Checks the signature of compact JWS `token` against `jwks` (a JWK Set) and returns its
/// header and claims. Only ES256 and RS256 are accepted (never `none`, never HMAC).
pub fn verify(token: &str, jwks: &Value) -> Result<(Value, Value), SetError> {
    let bad = |d: &str| SetError::new("invalid_request", d);
    let mut parts = token.trim().split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("not a compact JWS (three dot-separated parts)"));
    };
    let decode = |part: &str| {
        B64.decode(part)
            .map_err(|_| bad("JWS part is not base64url"))
    };
    let header: Value =
        serde_json::from_slice(&decode(h)?).map_err(|_| bad("JWS header is not JSON"))?;
    let sig = decode(s)?;
    let alg = header["alg"].as_str().unwrap_or("");
    let kid = header["kid"].as_str();
    let keys = jwks["keys"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let candidates = keys.iter().filter(|k| {
        kid.is_none_or(|kid| k["kid"].as_str() == Some(kid))
            && k["alg"].as_str().is_none_or(|a| a == alg)
    });
    let input = &token.trim().as_bytes()[..h.len() + 1 + c.len()];
    let mut tried = false;
    for k in candidates {
        let ok = match (alg, k["kty"].as_str()) {
            ("ES256", Some("EC")) if k["crv"] == "P-256" => {
                let (Some(x), Some(y)) = (k["x"].as_str(), k["y"].as_str()) else {
                    continue;
                };
                let (Ok(x), Ok(y)) = (B64.decode(x), B64.decode(y)) else {
                    continue;
                };
                let mut point = Vec::with_capacity(65);
                point.push(4);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                tried = true;
                signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(input, &sig)
                    .is_ok()
            }
            ("RS256", Some("RSA")) => {
                let (Some(n), Some(e)) = (k["n"].as_str(), k["e"].as_str()) else {
                    continue;
                };
                let (Ok(n), Ok(e)) = (B64.decode(n), B64.decode(e)) else {
                    continue;
                };
                tried = true;
                signature::RsaPublicKeyComponents { n, e }
                    .verify(&signature::RSA_PKCS1_2048_8192_SHA256, input, &sig)
                    .is_ok()
            }
            _ => continue,
        };
        if ok {
            let claims: Value =
                serde_json::from_slice(&decode(c)?).map_err(|_| bad("JWS payload is not JSON"))?;
            return Ok((header, claims));
        }
    }
    if !tried {
        return Err(SetError::new(
            "invalid_key",
            format!("no key in the issuer's JWK Set for alg {alg:?} kid {kid:?}"),
        ));
    }
    Err(SetError::new("invalid_key", "signature does not verify"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn es256_key_is_made_once_signs_and_verifies_and_a_forged_token_fails() {
        let dir = tempfile::tempdir().unwrap();
        let s = Signer::open(dir.path(), Algorithm::ES256, None).unwrap();
        let again = Signer::open(dir.path(), Algorithm::ES256, None).unwrap();
        assert_eq!(s.kid(), again.kid(), "the key survives a restart");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let token = s.sign(&json!({"iss": "https://t.example", "jti": "a"}));
        let (h, c) = verify(&token, s.jwks()).unwrap();
        assert_eq!(
            (h["typ"].as_str(), c["jti"].as_str()),
            (Some("secevent+jwt"), Some("a"))
        );
        // Another payload under the same signature.
        let mut parts: Vec<&str> = token.split('.').collect();
        let forged = B64.encode(r#"{"iss":"https://t.example","jti":"b"}"#);
        parts[1] = &forged;
        let e = verify(&parts.join("."), s.jwks()).unwrap_err();
        assert_eq!(e.err, "invalid_key");
        // A token from another key.
        let other = tempfile::tempdir().unwrap();
        let o = Signer::open(other.path(), Algorithm::ES256, None).unwrap();
        assert_eq!(
            verify(&o.sign(&json!({})), s.jwks()).unwrap_err().err,
            "invalid_key"
        );
        // alg none is never accepted.
        let none = format!("{}.{}.", B64.encode(r#"{"alg":"none"}"#), B64.encode("{}"));
        assert!(verify(&none, s.jwks()).is_err());
    }

    #[test]
    fn rotation_publishes_the_previous_key_under_its_own_kid() {
        let dir = tempfile::tempdir().unwrap();
        let first = Signer::open(dir.path(), Algorithm::ES256, None).unwrap();
        let old_token = first.sign(&json!({"jti": "old"}));
        std::fs::rename(
            dir.path().join(KEY_FILE),
            dir.path().join(PREVIOUS_KEY_FILE),
        )
        .unwrap();
        let second = Signer::open(dir.path(), Algorithm::ES256, None).unwrap();
        assert_ne!(first.kid(), second.kid());
        let kids: Vec<_> = second.jwks()["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(kids, [second.kid(), first.kid()]);
        assert!(
            verify(&old_token, second.jwks()).is_ok(),
            "in-flight SETs still verify"
        );
    }

    #[test]
    fn rs256_needs_a_key_and_signs_with_it() {
        assert!(matches!(
            Signer::open(Path::new("/nonexistent"), Algorithm::RS256, None),
            Err(KeyError::MissingRsaKey)
        ));
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("rsa.pem");
        let made = std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
            ])
            .arg(&key)
            .output();
        let Ok(out) = made else {
            eprintln!("SKIPPED: openssl not installed, RS256 signing not exercised");
            return;
        };
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let s = Signer::open(dir.path(), Algorithm::RS256, Some(&key)).unwrap();
        let token = s.sign(&json!({"jti": "r"}));
        let (h, _) = verify(&token, s.jwks()).unwrap();
        assert_eq!(h["alg"], "RS256");
        assert_eq!(s.jwks()["keys"][0]["kty"], "RSA");
    }
}
