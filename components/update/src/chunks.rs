//! Content-defined chunks of an image (FastCDC, 2020 variant): the cut points depend on
//! the bytes around them, so bytes that did not change between two versions fall into the
//! same chunks even where earlier bytes moved, and a device fetches only the chunks it
//! does not already hold. A chunk is named by the SHA-256 of its bytes.

use serde::{Deserialize, Serialize};

/// Smallest, usual and largest chunk (bytes).
pub const MIN_SIZE: u32 = 16 * 1024;
pub const AVG_SIZE: u32 = 64 * 1024;
pub const MAX_SIZE: u32 = 256 * 1024;

/// One chunk of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    pub offset: u64,
    pub length: u32,
    /// SHA-256 of the chunk's bytes, hex.
    pub digest: String,
}

/// An image as chunks, in order, and the whole image's size and SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkIndex {
    pub size: u64,
    pub sha256: String,
    pub chunks: Vec<Chunk>,
}

impl ChunkIndex {
    /// Whether the chunks cover the image exactly, in order.
    pub fn is_contiguous(&self) -> bool {
        let mut at = 0u64;
        for c in &self.chunks {
            if c.offset != at || c.length == 0 {
                return false;
            }
            at += u64::from(c.length);
        }
        at == self.size
    }
}

/// Splits `data` into chunks.
pub fn split(data: &[u8]) -> ChunkIndex {
    let chunks = fastcdc::v2020::FastCDC::new(data, MIN_SIZE, AVG_SIZE, MAX_SIZE)
        .map(|c| Chunk {
            offset: c.offset as u64,
            length: c.length as u32,
            digest: crate::sha256_hex(&data[c.offset..c.offset + c.length]),
        })
        .collect();
    ChunkIndex {
        size: data.len() as u64,
        sha256: crate::sha256_hex(data),
        chunks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::noise;

    #[test]
    fn chunks_cover_the_image_and_survive_an_insertion() {
        let old = noise(7, 4 << 20);
        let index = split(&old);
        assert!(index.is_contiguous());
        assert!(index.chunks.len() > 16);
        assert!(index.chunks.iter().all(|c| c.length <= MAX_SIZE));
        // 100 bytes inserted in the middle: only the chunks around them change.
        let mut new = old[..2 << 20].to_vec();
        new.extend_from_slice(&[0x55; 100]);
        new.extend_from_slice(&old[2 << 20..]);
        let changed = split(&new);
        let known: std::collections::BTreeSet<_> = index.chunks.iter().map(|c| &c.digest).collect();
        let fresh: u64 = changed
            .chunks
            .iter()
            .filter(|c| !known.contains(&c.digest))
            .map(|c| u64::from(c.length))
            .sum();
        assert!(fresh <= 2 * u64::from(MAX_SIZE), "{fresh} new bytes");
        assert_ne!(changed.sha256, index.sha256);
    }
}
