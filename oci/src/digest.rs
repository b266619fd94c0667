//! Content digests (`sha256:HEX`): parsed strictly (a digest is also a file name under
//! `blobs/`), and checked against the bytes they name.

use std::io::Read;
use std::path::Path;

use sha2::{Digest as _, Sha256};

use crate::OciError;

/// A SHA-256 content digest.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest {
    hex: String,
}

impl Digest {
    /// `sha256:` and 64 lowercase hex digits; anything else (another algorithm, a path)
    /// is refused.
    pub fn parse(text: &str) -> Result<Digest, OciError> {
        match text.strip_prefix("sha256:") {
            Some(hex)
                if hex.len() == 64
                    && hex
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
            {
                Ok(Digest {
                    hex: hex.to_string(),
                })
            }
            _ => Err(OciError::BadDigest(text.to_string())),
        }
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest {
            hex: hex::encode(Sha256::digest(bytes)),
        }
    }

    /// The 64 hex digits.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// Reads `path` whole and checks its size (when known) and digest against this one;
    /// the error says which differs.
    pub fn verify_file(&self, path: &Path, size: Option<u64>) -> Result<(), OciError> {
        let file = std::fs::File::open(path).map_err(|e| self.bad(format!("cannot open: {e}")))?;
        let total = file.metadata().map_err(|e| OciError::io(path, e))?.len();
        if let Some(size) = size.filter(|s| *s != total) {
            return Err(self.bad(format!("{total} bytes where its descriptor says {size}")));
        }
        // The size first: a file of the wrong size is not read through.
        let found =
            hash_reader(std::io::BufReader::new(file)).map_err(|e| OciError::io(path, e))?;
        if found != *self {
            return Err(self.bad(format!("its bytes hash to {found}")));
        }
        Ok(())
    }

    /// Checks `bytes` against this digest and `size`.
    pub fn verify(&self, bytes: &[u8], size: Option<u64>) -> Result<(), OciError> {
        if let Some(size) = size.filter(|s| *s != bytes.len() as u64) {
            return Err(self.bad(format!(
                "{} bytes where its descriptor says {size}",
                bytes.len()
            )));
        }
        let found = Digest::of(bytes);
        if found != *self {
            return Err(self.bad(format!("its bytes hash to {found}")));
        }
        Ok(())
    }

    fn bad(&self, problem: String) -> OciError {
        OciError::BadBlob {
            digest: self.to_string(),
            problem,
        }
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

/// The digest of everything `reader` gives.
pub(crate) fn hash_reader(mut reader: impl Read) -> std::io::Result<Digest> {
    let mut hasher = Sha256::new();
    std::io::copy(&mut reader, &mut hasher)?;
    Ok(Digest {
        hex: hex::encode(hasher.finalize()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_parsing_and_checks() {
        let d = Digest::of(b"hello");
        assert_eq!(Digest::parse(&d.to_string()).unwrap(), d);
        for bad in [
            "sha512:00",
            "sha256:../../etc/passwd",
            &format!("sha256:{}", d.hex().to_uppercase()),
            d.hex(),
        ] {
            assert!(Digest::parse(bad).is_err(), "{bad}");
        }
        assert!(d.verify(b"hello", Some(5)).is_ok());
        let e = d.verify(b"hellO", Some(5)).unwrap_err().to_string();
        assert!(e.contains("hash to sha256:"), "{e}");
        let e = d.verify(b"hello", Some(6)).unwrap_err().to_string();
        assert!(e.contains("5 bytes where its descriptor says 6"), "{e}");
    }
}
