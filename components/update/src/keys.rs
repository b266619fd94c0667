//! Signing keys: an ed25519 key pair made from 32 random bytes. The secret key file holds
//! the seed as hex (`compose-update-secret-key HEX`), the public key file the public key
//! (`compose-update-public-key HEX`); every image carries the public key as its root of
//! trust. A key's id is the first 16 hex digits of its public key's SHA-256.

use std::path::Path;

use ed25519_dalek::{SigningKey, VerifyingKey};

const SECRET_TAG: &str = "compose-update-secret-key";
const PUBLIC_TAG: &str = "compose-update-public-key";

/// Why a key could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// getrandom's error is no `std::error::Error` in the agent's build (no `std` feature).
    #[error("cannot get random bytes for a key: {0}")]
    Random(String),
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} is not a compose {what} key (expected one line `{tag} <64 hex digits>`)\nhelp: make a key pair with `compose keys generate`"
    )]
    Malformed {
        path: String,
        what: &'static str,
        tag: &'static str,
    },
}

/// A new key pair from the operating system's random source.
pub fn generate() -> Result<SigningKey, KeyError> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// The secret key file's text.
pub fn secret_text(key: &SigningKey) -> String {
    format!("{SECRET_TAG} {}\n", hex::encode(key.to_bytes()))
}

/// The public key file's text.
pub fn public_text(key: &VerifyingKey) -> String {
    format!("{PUBLIC_TAG} {}\n", hex::encode(key.to_bytes()))
}

/// The key's id: the first 16 hex digits of the SHA-256 of its public key.
pub fn key_id(key: &VerifyingKey) -> String {
    crate::sha256_hex(&key.to_bytes())[..16].to_string()
}

fn parse_hex32(text: &str, tag: &str) -> Option<[u8; 32]> {
    let rest = text.trim().strip_prefix(tag)?.trim();
    let bytes = hex::decode(rest).ok()?;
    bytes.try_into().ok()
}

/// A secret key from its file's text (`path` names it in errors).
pub fn parse_secret(text: &str, path: &str) -> Result<SigningKey, KeyError> {
    parse_hex32(text, SECRET_TAG)
        .map(|seed| SigningKey::from_bytes(&seed))
        .ok_or_else(|| KeyError::Malformed {
            path: path.into(),
            what: "secret",
            tag: SECRET_TAG,
        })
}

/// A public key from its file's text (`path` names it in errors).
pub fn parse_public(text: &str, path: &str) -> Result<VerifyingKey, KeyError> {
    parse_hex32(text, PUBLIC_TAG)
        .and_then(|bytes| VerifyingKey::from_bytes(&bytes).ok())
        .ok_or_else(|| KeyError::Malformed {
            path: path.into(),
            what: "public",
            tag: PUBLIC_TAG,
        })
}

fn read(path: &Path) -> Result<String, KeyError> {
    std::fs::read_to_string(path).map_err(|e| KeyError::Read {
        path: path.display().to_string(),
        source: e,
    })
}

/// Reads a secret key file.
pub fn read_secret(path: &Path) -> Result<SigningKey, KeyError> {
    parse_secret(&read(path)?, &path.display().to_string())
}

/// Reads a public key file.
pub fn read_public(path: &Path) -> Result<VerifyingKey, KeyError> {
    parse_public(&read(path)?, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_their_files_and_bad_ones_say_what_to_do() {
        let key = generate().unwrap();
        let again = parse_secret(&secret_text(&key), "k").unwrap();
        assert_eq!(again.to_bytes(), key.to_bytes());
        let public = parse_public(&public_text(&key.verifying_key()), "p").unwrap();
        assert_eq!(public, key.verifying_key());
        assert_eq!(key_id(&public).len(), 16);
        assert_ne!(generate().unwrap().to_bytes(), key.to_bytes());
        let e = parse_public(&secret_text(&key), "update.pub")
            .unwrap_err()
            .to_string();
        assert!(e.contains("update.pub is not a compose public key"), "{e}");
        assert!(e.contains("compose keys generate"), "{e}");
    }
}
