//! A release: one version of one device, as its publisher signed it. The signed bytes are
//! the release's JSON text exactly as published (no re-serialization before checking);
//! the signature is ed25519 over them. A device installs a release only if the signature is
//! by the key its image trusts, the release is for this device, has not expired, is newer
//! than what runs (unless deployed by name), and every image it names hashes as signed.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

/// One file of a release: its size and SHA-256, fetched through its chunk index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Artifact {
    pub size: u64,
    pub sha256: String,
    /// SHA-256 of its chunk index file (`repo::index(sha256)`).
    pub index_sha256: String,
}

/// What a release says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub device: String,
    /// The image version (`image.json`'s `version`).
    pub version: String,
    /// Higher is newer; devices refuse to go lower unless told to (`deploy`).
    pub generation: u64,
    /// Seconds since the Unix epoch.
    pub created: u64,
    /// After this (seconds since the Unix epoch) devices refuse the release: an attacker
    /// cannot keep serving an old, signed one.
    pub expires: u64,
    /// The signing key's id (`keys::key_id`).
    pub key_id: String,
    /// The slot's root file system (erofs, then its dm-verity hash tree when `verity`).
    pub root: Artifact,
    pub kernel: Artifact,
    pub initrd: Artifact,
    /// How the root is checked as it is read (dm-verity): the installed entry's command line
    /// carries it. Absent for roots built without a hash tree (and in older releases).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verity: Option<compose_boot::verity::Verity>,
    /// Each slot's unified kernel image (the same kernel and initramfs, a command line naming
    /// that slot and `verity`'s root hash), by slot. An agent installs the target slot's
    /// instead of `kernel` and `initrd`, which stay for agents that predate UKIs.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub ukis: std::collections::BTreeMap<String, Artifact>,
    /// PCR 11 (SHA-256) after each slot's UKI boots, by slot: what the device's TPM will
    /// measure, and what its installed entry records.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub pcr11: std::collections::BTreeMap<String, String>,
}

/// A release file: the release's JSON text and its signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedRelease {
    /// The release as JSON text: these bytes are what is signed.
    pub release: String,
    pub key_id: String,
    /// ed25519 signature, hex.
    pub signature: String,
}

/// Why a release is refused. Nothing is written when one is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the release file is not a signed release ({0})")]
    Malformed(String),
    #[error("the release is not signed")]
    Unsigned,
    #[error(
        "the release is signed by key {found}, but this device trusts key {trusted}\nhelp: publish with the key whose public half is built into the image (keys/update.pub)"
    )]
    WrongKey { trusted: String, found: String },
    #[error("the release's signature does not match its contents: it was changed after signing")]
    BadSignature,
    #[error("the release is for device `{found}`, this is `{expected}`")]
    OtherDevice { expected: String, found: String },
    #[error(
        "the release expired at {expires} (now {now})\nhelp: publish it again (compose publish) to sign it with a new expiry"
    )]
    Expired { expires: u64, now: u64 },
    #[error(
        "the release's generation {found} is lower than the running one ({running})\nhelp: to go back on purpose, deploy that version by name"
    )]
    Older { found: u64, running: u64 },
    #[error(
        "the release's UKI for slot {slot} does not boot this release: {why}\nhelp: publish the image again with `compose publish` (its UKIs and root come from the same build)"
    )]
    UkiMismatch { slot: String, why: String },
    #[error("{what} hashes to {found}, but the release says {expected}")]
    HashMismatch {
        what: String,
        expected: String,
        found: String,
    },
}

/// Signs `release` with `key`: the file's bytes.
pub fn sign(release: &Release, key: &SigningKey) -> Vec<u8> {
    let text = serde_json::to_string(release).expect("a release serializes");
    let signature = key.sign(text.as_bytes());
    let signed = SignedRelease {
        release: text,
        key_id: crate::keys::key_id(&key.verifying_key()),
        signature: hex::encode(signature.to_bytes()),
    };
    let mut bytes = serde_json::to_vec_pretty(&signed).expect("a signed release serializes");
    bytes.push(b'\n');
    bytes
}

/// The release in file `bytes` if `trusted` signed it, it is for `device` and it has not
/// expired at `now`; the generation is checked separately ([`check_generation`]).
pub fn verify(
    bytes: &[u8],
    trusted: &VerifyingKey,
    device: &str,
    now: u64,
) -> Result<Release, Refusal> {
    let signed: SignedRelease =
        serde_json::from_slice(bytes).map_err(|e| Refusal::Malformed(e.to_string()))?;
    if signed.signature.is_empty() {
        return Err(Refusal::Unsigned);
    }
    let trusted_id = crate::keys::key_id(trusted);
    if signed.key_id != trusted_id {
        return Err(Refusal::WrongKey {
            trusted: trusted_id,
            found: signed.key_id,
        });
    }
    let signature = hex::decode(&signed.signature)
        .ok()
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
        .map(|b| Signature::from_bytes(&b))
        .ok_or(Refusal::BadSignature)?;
    trusted
        .verify(signed.release.as_bytes(), &signature)
        .map_err(|_| Refusal::BadSignature)?;
    let release: Release =
        serde_json::from_str(&signed.release).map_err(|e| Refusal::Malformed(e.to_string()))?;
    if release.key_id != trusted_id {
        return Err(Refusal::BadSignature);
    }
    if release.device != device {
        return Err(Refusal::OtherDevice {
            expected: device.into(),
            found: release.device,
        });
    }
    if now > release.expires {
        return Err(Refusal::Expired {
            expires: release.expires,
            now,
        });
    }
    Ok(release)
}

/// Refuses a release older than the running generation, unless it was asked for by name.
pub fn check_generation(release: &Release, running: u64, by_name: bool) -> Result<(), Refusal> {
    if release.generation < running && !by_name {
        return Err(Refusal::Older {
            found: release.generation,
            running,
        });
    }
    Ok(())
}

/// Refuses `bytes` (what `what` names) unless they hash as `expected` says.
pub fn check_hash(what: &str, bytes: &[u8], expected: &str) -> Result<(), Refusal> {
    let found = crate::sha256_hex(bytes);
    if found != expected {
        return Err(Refusal::HashMismatch {
            what: what.into(),
            expected: expected.into(),
            found,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact(b: &[u8]) -> Artifact {
        Artifact {
            size: b.len() as u64,
            sha256: crate::sha256_hex(b),
            index_sha256: crate::sha256_hex(b"index"),
        }
    }

    fn release(key: &SigningKey) -> Release {
        Release {
            device: "vm".into(),
            version: "0123456789ab".into(),
            generation: 5,
            created: 1000,
            expires: 2000,
            key_id: crate::keys::key_id(&key.verifying_key()),
            root: artifact(b"root"),
            kernel: artifact(b"kernel"),
            initrd: artifact(b"initrd"),
            verity: None,
            ukis: Default::default(),
            pcr11: Default::default(),
        }
    }

    #[test]
    fn a_signed_release_verifies_and_every_tampering_is_refused() {
        let key = crate::keys::generate().unwrap();
        let trusted = key.verifying_key();
        let r = release(&key);
        let bytes = sign(&r, &key);
        assert_eq!(verify(&bytes, &trusted, "vm", 1500).unwrap(), r);

        // Another key, another device, too late.
        let other = crate::keys::generate().unwrap();
        assert!(matches!(
            verify(&sign(&release(&other), &other), &trusted, "vm", 1500),
            Err(Refusal::WrongKey { .. })
        ));
        assert!(matches!(
            verify(&bytes, &trusted, "laptop", 1500),
            Err(Refusal::OtherDevice { .. })
        ));
        let e = verify(&bytes, &trusted, "vm", 2001).unwrap_err();
        assert_eq!(
            e,
            Refusal::Expired {
                expires: 2000,
                now: 2001
            }
        );
        assert!(e.to_string().contains("compose publish"));

        // A changed generation (the text edited after signing).
        let mut signed: SignedRelease = serde_json::from_slice(&bytes).unwrap();
        signed.release = signed
            .release
            .replace("\"generation\":5", "\"generation\":9");
        let tampered = serde_json::to_vec(&signed).unwrap();
        assert_eq!(
            verify(&tampered, &trusted, "vm", 1500),
            Err(Refusal::BadSignature)
        );
        // Signed by another key but claiming the trusted key's id.
        let mut forged: SignedRelease = serde_json::from_slice(&sign(&r, &other)).unwrap();
        forged.key_id = crate::keys::key_id(&trusted);
        let forged = serde_json::to_vec(&forged).unwrap();
        assert_eq!(
            verify(&forged, &trusted, "vm", 1500),
            Err(Refusal::BadSignature)
        );
        // No signature; not a release at all.
        signed = serde_json::from_slice(&bytes).unwrap();
        signed.signature.clear();
        let unsigned = serde_json::to_vec(&signed).unwrap();
        assert_eq!(
            verify(&unsigned, &trusted, "vm", 1500),
            Err(Refusal::Unsigned)
        );
        assert!(matches!(
            verify(b"<html>", &trusted, "vm", 1500),
            Err(Refusal::Malformed(_))
        ));
    }

    #[test]
    fn older_generations_only_by_name_and_hashes_must_match() {
        let key = crate::keys::generate().unwrap();
        let r = release(&key);
        assert!(check_generation(&r, 5, false).is_ok());
        assert_eq!(
            check_generation(&r, 6, false),
            Err(Refusal::Older {
                found: 5,
                running: 6
            })
        );
        assert!(check_generation(&r, 6, true).is_ok());
        assert!(check_hash("root", b"root", &r.root.sha256).is_ok());
        let e = check_hash("root", b"r00t", &r.root.sha256).unwrap_err();
        assert!(matches!(e, Refusal::HashMismatch { .. }));
    }
}
