//! The device's own identity in a fleet: an ECDSA P-256 key it makes itself on first use and
//! keeps on `/var` (readable by root only; it never leaves the device), a certificate signing
//! request naming the device (signed by that key, so the server knows the device holds it),
//! and the certificate the fleet server's device CA issued for it.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::net::{NetError, Trust};

/// The key's file, in the agent's state folder.
pub const KEY_FILE: &str = "device-key.pem";
/// The certificate's file, beside it.
pub const CERT_FILE: &str = "device-cert.pem";

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("device identity {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error(
        "device key {path} is damaged: {message}\nhelp: remove it and the certificate beside it; the device makes a new key and must be enrolled again"
    )]
    Damaged { path: PathBuf, message: String },
    #[error("cannot make a certificate request: {0}")]
    Request(String),
}

/// The device's key, and its certificate once it has one.
pub struct Identity {
    dir: PathBuf,
    key: rcgen::KeyPair,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity").field("dir", &self.dir).finish()
    }
}

impl Identity {
    /// The key kept in `dir`, made (and written, mode 0600) when there is none.
    pub fn load_or_make(dir: &Path) -> Result<Identity, IdentityError> {
        let path = dir.join(KEY_FILE);
        let file = |e: std::io::Error| IdentityError::File {
            path: path.clone(),
            message: e.to_string(),
        };
        let key = match std::fs::read_to_string(&path) {
            Ok(pem) => rcgen::KeyPair::from_pem(&pem).map_err(|e| IdentityError::Damaged {
                path: path.clone(),
                message: e.to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
                    .map_err(|e| IdentityError::Request(e.to_string()))?;
                std::fs::create_dir_all(dir).map_err(file)?;
                write_atomically(&path, key.serialize_pem().as_bytes(), 0o600).map_err(file)?;
                key
            }
            Err(e) => return Err(file(e)),
        };
        Ok(Identity {
            dir: dir.to_path_buf(),
            key,
        })
    }

    /// A PEM certificate signing request for this key, its common name `id`.
    pub fn request(&self, id: &str) -> Result<String, IdentityError> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
            .map_err(|e| IdentityError::Request(e.to_string()))?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, id);
        params
            .serialize_request(&self.key)
            .and_then(|csr| csr.pem())
            .map_err(|e| IdentityError::Request(e.to_string()))
    }

    /// SHA-256 of the public key's raw bytes, in hex: how the server names the key.
    pub fn key_sha256(&self) -> String {
        crate::sha256_hex(self.key.public_key_raw())
    }

    /// Where the device's certificate is kept.
    pub fn cert_path(&self) -> PathBuf {
        self.dir.join(CERT_FILE)
    }

    /// Keeps the certificate the server issued.
    pub fn save_certificate(&self, pem: &str) -> Result<(), IdentityError> {
        let path = self.cert_path();
        write_atomically(&path, pem.as_bytes(), 0o644).map_err(|e| IdentityError::File {
            path: path.clone(),
            message: e.to_string(),
        })
    }

    /// Whether the device has its certificate.
    pub fn has_certificate(&self) -> bool {
        self.cert_path().is_file()
    }

    /// `base` showing this device's certificate, when it has one.
    pub fn trust(&self, base: &Trust) -> Result<Trust, NetError> {
        let path = self.cert_path();
        match std::fs::read(&path) {
            Ok(cert) => base.with_identity(&cert, self.key.serialize_pem().as_bytes(), &path),
            Err(_) => Ok(base.clone()),
        }
    }
}

/// Writes `bytes` aside with `mode` from the start, syncs, and renames it over `path`.
fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let aside = path.with_extension("new");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&aside)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&aside, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_key_is_made_once_kept_private_and_named_in_its_request() {
        let dir = tempfile::tempdir().unwrap();
        let made = Identity::load_or_make(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = Identity::load_or_make(dir.path()).unwrap();
        assert_eq!(made.key_sha256(), again.key_sha256());
        let csr = again.request("vm-1").unwrap();
        assert!(
            csr.starts_with("-----BEGIN CERTIFICATE REQUEST-----"),
            "{csr}"
        );
        assert!(!again.has_certificate());
    }

    #[test]
    fn a_damaged_key_is_reported_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(KEY_FILE), "garbage").unwrap();
        let e = Identity::load_or_make(dir.path()).unwrap_err();
        assert!(matches!(e, IdentityError::Damaged { .. }), "{e}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join(KEY_FILE)).unwrap(),
            "garbage"
        );
    }
}
