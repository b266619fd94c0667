//! Where each file of an update repository lives, relative to its root. Chunks and indexes
//! are shared by every device and version (named by digest); each device has its signed
//! releases by version and the newest one as `latest.json`.
//!
//! ```text
//! REPO/chunks/ab/abcd….zst        a chunk, zstd-compressed, named by its bytes' SHA-256
//! REPO/indexes/1234….json         a ChunkIndex, named by the SHA-256 of its image
//! REPO/DEVICE/releases/V.json     the signed release of version V
//! REPO/DEVICE/latest.json         the signed release with the highest generation
//! ```

/// A chunk, by the SHA-256 of its uncompressed bytes.
pub fn chunk(digest: &str) -> String {
    format!("chunks/{}/{digest}.zst", &digest[..2.min(digest.len())])
}

/// The chunk index of the image whose SHA-256 is `sha256`.
pub fn index(sha256: &str) -> String {
    format!("indexes/{sha256}.json")
}

/// Version `version` of `device`.
pub fn release(device: &str, version: &str) -> String {
    format!("{device}/releases/{version}.json")
}

/// The newest version of `device`.
pub fn latest(device: &str) -> String {
    format!("{device}/latest.json")
}
