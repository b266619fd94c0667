//! A new image from chunks: the chunks a device already holds (in its running slot or the
//! inactive one, its seeds, as desync and RAUC seed from local images) are copied from
//! there, only the others are fetched. Every chunk is checked against its digest before it
//! is used, and the whole image against the index's SHA-256 after.

use std::collections::HashMap;
use std::io::Write;

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

/// What making an image takes: chunks copied from seeds, chunks fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub local_chunks: usize,
    pub local_bytes: u64,
    /// The chunks to fetch (each once, in image order).
    pub fetch: Vec<Chunk>,
    pub fetch_bytes: u64,
}

/// The plan for `index` given the seeds' chunks.
pub fn plan(index: &ChunkIndex, seeds: &HashMap<String, SeedChunk>) -> Plan {
    let mut plan = Plan {
        local_chunks: 0,
        local_bytes: 0,
        fetch: Vec::new(),
        fetch_bytes: 0,
    };
    let mut fetched = std::collections::HashSet::new();
    for c in &index.chunks {
        if seeds.contains_key(&c.digest) {
            plan.local_chunks += 1;
            plan.local_bytes += u64::from(c.length);
        } else if fetched.insert(c.digest.clone()) {
            plan.fetch_bytes += u64::from(c.length);
            plan.fetch.push(c.clone());
        }
    }
    plan
}

/// Why an image could not be made. What was written is not a usable image.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("cannot fetch chunk {digest}: {message}")]
    Fetch { digest: String, message: String },
    #[error("chunk {digest} holds other bytes than its name says (from {from})")]
    BadChunk { digest: String, from: &'static str },
    #[error("the index does not cover the image exactly")]
    BadIndex,
    #[error(transparent)]
    Refused(#[from] crate::release::Refusal),
    #[error("cannot write the image: {0}")]
    Write(std::io::Error),
}

/// Writes the image of `index` to `out`: chunks from `seeds` where `map` has them, the
/// others from `fetch` (uncompressed bytes), each checked; then checks the whole image.
pub fn assemble<E: std::fmt::Display>(
    index: &ChunkIndex,
    seeds: &[&[u8]],
    map: &HashMap<String, SeedChunk>,
    mut fetch: impl FnMut(&Chunk) -> Result<Vec<u8>, E>,
    out: &mut impl Write,
) -> Result<(), ApplyError> {
    if !index.is_contiguous() {
        return Err(ApplyError::BadIndex);
    }
    let mut whole = sha2::Sha256::new();
    for c in &index.chunks {
        let (bytes, from) = match map.get(&c.digest) {
            Some(s) => {
                let start = s.offset as usize;
                (
                    seeds[s.seed][start..start + s.length as usize].to_vec(),
                    "a local slot",
                )
            }
            None => (
                fetch(c).map_err(|e| ApplyError::Fetch {
                    digest: c.digest.clone(),
                    message: e.to_string(),
                })?,
                "the repository",
            ),
        };
        if bytes.len() != c.length as usize || crate::sha256_hex(&bytes) != c.digest {
            return Err(ApplyError::BadChunk {
                digest: c.digest.clone(),
                from,
            });
        }
        whole.update(&bytes);
        out.write_all(&bytes).map_err(ApplyError::Write)?;
    }
    let found = hex::encode(whole.finalize());
    if found != index.sha256 {
        return Err(crate::release::Refusal::HashMismatch {
            what: "the assembled image".into(),
            expected: index.sha256.clone(),
            found,
        }
        .into());
    }
    out.flush().map_err(ApplyError::Write)
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
        let plan = plan(&index, &map);
        assert!(
            plan.fetch_bytes > 0 && plan.fetch_bytes < 600 * 1024,
            "{plan:?}"
        );
        assert_eq!(plan.local_bytes + plan.fetch_bytes, new.len() as u64);

        let by_digest: HashMap<String, Vec<u8>> = index
            .chunks
            .iter()
            .map(|c| {
                let s = c.offset as usize;
                (c.digest.clone(), new[s..s + c.length as usize].to_vec())
            })
            .collect();
        let mut fetched = 0;
        let mut out = Vec::new();
        assemble(
            &index,
            &[&old],
            &map,
            |c| {
                fetched += 1;
                Ok::<_, String>(by_digest[&c.digest].clone())
            },
            &mut out,
        )
        .unwrap();
        assert_eq!(out, new);
        assert_eq!(fetched, plan.fetch.len());

        // A repository that serves other bytes under a chunk's name is caught.
        let e = assemble(
            &index,
            &[&old],
            &map,
            |_| Ok::<_, String>(vec![0; 10]),
            &mut Vec::new(),
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
        let e = assemble(
            &index,
            &[&old],
            &map,
            |_| Err("connection reset"),
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("connection reset"), "{e}");
    }
}
