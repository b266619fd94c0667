//! A new image from chunks: the chunks a device already holds (in its running slot, its
//! seed, as desync and RAUC seed from local images) are copied from there, only the others
//! are fetched, each once. Chunks already in place in the target (an
//! interrupted install) are kept, so installs resume. Every chunk is checked against its
//! digest before it is written, and the whole image is read back and checked against the
//! index's SHA-256 after.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;

use sha2::Digest;

use crate::chunks::{Chunk, ChunkIndex};

/// Where a chunk is in the seeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedChunk {
    /// Which seed.
    pub seed: usize,
    pub offset: u64,
    pub length: u32,
}

/// Every chunk of `seeds` (split as published images are), by digest.
pub fn seed_map(seeds: &[&[u8]]) -> HashMap<String, SeedChunk> {
    let mut map = HashMap::new();
    for (seed, bytes) in seeds.iter().enumerate() {
        for c in crate::chunks::split(bytes).chunks {
            map.entry(c.digest).or_insert(SeedChunk {
                seed,
                offset: c.offset,
                length: c.length,
            });
        }
    }
    map
}

/// Why an image could not be made. What was written is not a usable image.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("cannot fetch chunk {digest}: {source}")]
    Fetch {
        digest: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("chunk {digest} holds other bytes than its name says (from {from})")]
    BadChunk { digest: String, from: &'static str },
    #[error("the index does not cover the image exactly")]
    BadIndex,
    #[error(transparent)]
    Refused(#[from] crate::release::Refusal),
    #[error("cannot write the image: {0}")]
    Write(#[source] std::io::Error),
}

/// What writing an image took, in bytes of the image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Written {
    /// Chunks the target already held at their place (an interrupted install resumed, or
    /// an unchanged part of the slot): read and checked, not written.
    pub in_place: u64,
    /// Chunks copied from a seed.
    pub copied: u64,
    /// Chunks fetched from the repository (their bytes in the image).
    pub fetched: u64,
    /// What those chunks took on the wire (compressed).
    pub fetched_wire: u64,
    pub fetched_chunks: usize,
}

/// The chunks of an image that must come from the repository, fetched and checked before
/// anything is written: by digest, uncompressed, with what they took on the wire.
#[derive(Debug, Default)]
pub struct Prefetched {
    pub chunks: HashMap<String, Vec<u8>>,
    pub wire: u64,
}

/// Fetches (with `fetch`: uncompressed bytes and their size on the wire) every chunk of
/// `index` that `write_image` would fetch: not in place in `target`, not in the seeds, not
/// earlier in the image. Each is checked against its digest; the first bad one fails the
/// whole, before anything was written.
pub fn prefetch<E: Into<Box<dyn std::error::Error + Send + Sync>>>(
    index: &ChunkIndex,
    map: &HashMap<String, SeedChunk>,
    mut fetch: impl FnMut(&Chunk) -> Result<(Vec<u8>, u64), E>,
    target: Option<&File>,
) -> Result<Prefetched, ApplyError> {
    let mut got = Prefetched::default();
    let mut here = Vec::new();
    for c in &index.chunks {
        if map.contains_key(&c.digest) || got.chunks.contains_key(&c.digest) {
            continue;
        }
        here.resize(c.length as usize, 0);
        if let Some(t) = target
            && t.read_exact_at(&mut here, c.offset).is_ok()
            && crate::sha256_hex(&here) == c.digest
        {
            continue;
        }
        let (bytes, wire) = fetch(c).map_err(|e| ApplyError::Fetch {
            digest: c.digest.clone(),
            source: e.into(),
        })?;
        if bytes.len() != c.length as usize || crate::sha256_hex(&bytes) != c.digest {
            return Err(ApplyError::BadChunk {
                digest: c.digest.clone(),
                from: "the repository",
            });
        }
        got.wire += wire;
        got.chunks.insert(c.digest.clone(), bytes);
    }
    Ok(got)
}

/// Writes the image of `index` into `target` (a slot's block device or a file) at its
/// offsets: a chunk already there is kept, the others come from `seeds` where `map` has
/// them, else from `fetch` (uncompressed bytes), each checked before it is written. Then
/// syncs and reads the whole image back from `target` to check it against the index.
pub fn write_image<E: Into<Box<dyn std::error::Error + Send + Sync>>>(
    index: &ChunkIndex,
    seeds: &[&[u8]],
    map: &HashMap<String, SeedChunk>,
    mut fetch: impl FnMut(&Chunk) -> Result<Vec<u8>, E>,
    target: &File,
) -> Result<Written, ApplyError> {
    if !index.is_contiguous() {
        return Err(ApplyError::BadIndex);
    }
    let mut written = Written::default();
    // Where in `target` each chunk already is: a chunk the image holds twice is fetched
    // once and copied from its first place after.
    let mut placed: HashMap<&str, u64> = HashMap::new();
    let mut here = Vec::new();
    for c in &index.chunks {
        let length = u64::from(c.length);
        here.resize(c.length as usize, 0);
        if target.read_exact_at(&mut here, c.offset).is_ok() && crate::sha256_hex(&here) == c.digest
        {
            written.in_place += length;
            placed.entry(&c.digest).or_insert(c.offset);
            continue;
        }
        let (bytes, from) = match (map.get(&c.digest), placed.get(c.digest.as_str())) {
            (Some(s), _) => {
                let start = s.offset as usize;
                written.copied += length;
                (
                    seeds[s.seed][start..start + s.length as usize].to_vec(),
                    "a local slot",
                )
            }
            (None, Some(&at)) => {
                written.copied += length;
                let mut bytes = vec![0u8; c.length as usize];
                target
                    .read_exact_at(&mut bytes, at)
                    .map_err(ApplyError::Write)?;
                (bytes, "the image being written")
            }
            (None, None) => {
                written.fetched += length;
                written.fetched_chunks += 1;
                (
                    fetch(c).map_err(|e| ApplyError::Fetch {
                        digest: c.digest.clone(),
                        source: e.into(),
                    })?,
                    "the repository",
                )
            }
        };
        if bytes.len() != c.length as usize || crate::sha256_hex(&bytes) != c.digest {
            return Err(ApplyError::BadChunk {
                digest: c.digest.clone(),
                from,
            });
        }
        target
            .write_all_at(&bytes, c.offset)
            .map_err(ApplyError::Write)?;
        placed.entry(&c.digest).or_insert(c.offset);
    }
    target.sync_all().map_err(ApplyError::Write)?;
    let found = hash_prefix(target, index.size).map_err(ApplyError::Write)?;
    if found != index.sha256 {
        return Err(crate::release::Refusal::HashMismatch {
            what: "the image as written".into(),
            expected: index.sha256.clone(),
            found,
        }
        .into());
    }
    Ok(written)
}

/// SHA-256 (hex) of the first `size` bytes of `file`, read back from it.
pub fn hash_prefix(file: &File, size: u64) -> std::io::Result<String> {
    let mut hash = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut at = 0;
    while at < size {
        let n = (size - at).min(buf.len() as u64) as usize;
        file.read_exact_at(&mut buf[..n], at)?;
        hash.update(&buf[..n]);
        at += n as u64;
    }
    Ok(hex::encode(hash.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::noise;

    #[test]
    fn only_chunks_the_seeds_lack_are_fetched_and_every_byte_is_checked() {
        let old = noise(3, 2 << 20);
        let mut new = old.clone();
        new[1 << 20..(1 << 20) + 5000].copy_from_slice(&noise(9, 5000));
        let index = crate::chunks::split(&new);
        let map = seed_map(&[&old]);
        let lacking: Vec<&Chunk> = index
            .chunks
            .iter()
            .filter(|c| !map.contains_key(&c.digest))
            .collect();
        let lacking_bytes: u64 = lacking.iter().map(|c| u64::from(c.length)).sum();
        assert!(
            lacking_bytes > 0 && lacking_bytes < 600 * 1024,
            "{lacking_bytes}"
        );

        let by_digest: HashMap<String, Vec<u8>> = index
            .chunks
            .iter()
            .map(|c| {
                let s = c.offset as usize;
                (c.digest.clone(), new[s..s + c.length as usize].to_vec())
            })
            .collect();
        let target = tempfile::tempfile().unwrap();
        let mut fetched = 0;
        let written = write_image(
            &index,
            &[&old],
            &map,
            |c| {
                fetched += 1;
                Ok::<_, String>(by_digest[&c.digest].clone())
            },
            &target,
        )
        .unwrap();
        assert_eq!(
            hash_prefix(&target, new.len() as u64).unwrap(),
            index.sha256
        );
        assert_eq!(fetched, lacking.len());
        assert_eq!(written.fetched, lacking_bytes);
        assert_eq!(
            (written.in_place, written.copied),
            (0, new.len() as u64 - lacking_bytes)
        );

        // Again into the same target (an install that was cut and runs again): nothing is
        // fetched or copied, every chunk is found in place.
        let again = write_image(
            &index,
            &[&old],
            &map,
            |_| Err::<Vec<u8>, _>("must not fetch"),
            &target,
        )
        .unwrap();
        assert_eq!(again.in_place, new.len() as u64);

        // A repository that serves other bytes under a chunk's name is caught.
        let e = write_image(
            &index,
            &[&old],
            &map,
            |_| Ok::<_, String>(vec![0; 10]),
            &tempfile::tempfile().unwrap(),
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                ApplyError::BadChunk {
                    from: "the repository",
                    ..
                }
            ),
            "{e}"
        );
        // A failed fetch says which chunk.
        let e = write_image(
            &index,
            &[&old],
            &map,
            |_| Err("connection reset"),
            &tempfile::tempfile().unwrap(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("connection reset"), "{e}");
    }
}
