//! The device's side of an update, as functions the `compose-update` program calls: what
//! runs (`image.json` and the trusted key under the image's root), the release a repository
//! offers (fetched over HTTP, verified before anything else is read from it), and the new
//! slot image, made from the device's own slots (seeds) plus the chunks it lacks.

use std::path::{Path, PathBuf};

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use crate::apply;
use crate::chunks::ChunkIndex;
use crate::release::{Artifact, Refusal, Release};

/// Where an image keeps what the agent reads (under its root).
pub const IMAGE_INFO: &str = "usr/lib/compose/image.json";
pub const TRUSTED_KEY: &str = "usr/lib/compose/update.pub";

/// Why an update step failed. Nothing was installed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} is not an image description compose wrote: {source}\nhelp: the image is damaged; reinstall it or boot the other slot"
    )]
    ImageInfo {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "this image trusts no update key ({0} is missing)\nhelp: build it with keys/update.pub in the project (compose keys generate)"
    )]
    NoTrustedKey(PathBuf),
    #[error("{0}")]
    Key(#[from] crate::keys::KeyError),
    #[error("cannot fetch {url}: {source}")]
    Fetch {
        url: String,
        #[source]
        source: Box<ureq::Error>,
    },
    #[error("chunk {digest} from the repository is not zstd data: {source}")]
    Unpack {
        digest: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the update was refused: {0}")]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Apply(#[from] apply::ApplyError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{partition} holds no erofs file system at its start, so it cannot seed an update\nhelp: the booted slot is damaged; reinstall the device"
    )]
    NotErofs { partition: PathBuf },
    #[error("cannot mount the ESP {device}: {source}")]
    MountEsp {
        device: PathBuf,
        #[source]
        source: nix::errno::Errno,
    },
    /// The device's slots cannot take the request (with what to do).
    #[error("{0}")]
    Slots(String),
    #[error(transparent)]
    Net(#[from] crate::net::NetError),
}

/// What runs: from the image's own files.
#[derive(Debug, Clone)]
pub struct Running {
    pub device: String,
    pub version: String,
    pub generation: u64,
    pub trusted: VerifyingKey,
    /// The CAs the image pins for HTTPS.
    pub tls: crate::net::Trust,
}

#[derive(Deserialize)]
struct ImageInfo {
    device: String,
    version: String,
    #[serde(default)]
    generation: u64,
}

fn read(path: &Path) -> Result<Vec<u8>, AgentError> {
    std::fs::read(path).map_err(|e| AgentError::Read {
        path: path.to_path_buf(),
        source: e,
    })
}

/// What runs in the image whose root is `root`.
pub fn running(root: &Path) -> Result<Running, AgentError> {
    let info_path = root.join(IMAGE_INFO);
    let info: ImageInfo =
        serde_json::from_slice(&read(&info_path)?).map_err(|source| AgentError::ImageInfo {
            path: info_path.clone(),
            source,
        })?;
    let key = root.join(TRUSTED_KEY);
    if !key.exists() {
        return Err(AgentError::NoTrustedKey(key));
    }
    Ok(Running {
        device: info.device,
        version: info.version,
        generation: info.generation,
        trusted: crate::keys::read_public(&key)?,
        tls: crate::net::Trust::pinned(root)?,
    })
}

/// An update repository over HTTPS (`https://HOST:PORT/PATH`), or plain HTTP on loopback.
#[derive(Debug, Clone)]
pub struct Repo {
    base: String,
    agent: ureq::Agent,
}

impl Repo {
    /// The repository at `url`, reached as `trust` allows (see [`crate::net`]).
    pub fn new(url: &str, trust: &crate::net::Trust) -> Result<Repo, AgentError> {
        Ok(Repo {
            base: url.trim_end_matches('/').to_string(),
            agent: trust.agent(url, None)?,
        })
    }

    /// The repository file `rel`, whole.
    pub fn get(&self, rel: &str) -> Result<Vec<u8>, AgentError> {
        let url = format!("{}/{rel}", self.base);
        let fail = |e: ureq::Error| AgentError::Fetch {
            url: url.clone(),
            source: Box::new(e),
        };
        let mut response = self.agent.get(&url).call().map_err(fail)?;
        if !response.status().is_success() {
            return Err(fail(ureq::Error::StatusCode(response.status().as_u16())));
        }
        response
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .map_err(fail)
    }
}

/// What `check` found.
#[derive(Debug, Clone, Serialize)]
pub struct Offer {
    pub release: Release,
    /// Whether it is another version than the running one.
    pub newer: bool,
}

/// The release the repository offers this device: the latest, or `version` by name (which
/// may be older: a deploy). Verified: signature, device, expiry, generation.
pub fn check(
    repo: &Repo,
    running: &Running,
    now: u64,
    version: Option<&str>,
) -> Result<Offer, AgentError> {
    let rel = match version {
        Some(v) => crate::repo::release(&running.device, v),
        None => crate::repo::latest(&running.device),
    };
    let bytes = repo.get(&rel)?;
    let release = crate::release::verify(&bytes, &running.trusted, &running.device, now)?;
    crate::release::check_generation(&release, running.generation, version.is_some())?;
    Ok(Offer {
        newer: release.version != running.version,
        release,
    })
}

/// The chunk index of `artifact`, checked against the release.
pub fn index(repo: &Repo, artifact: &Artifact) -> Result<ChunkIndex, AgentError> {
    let bytes = repo.get(&crate::repo::index(&artifact.sha256))?;
    crate::release::check_hash("the chunk index", &bytes, &artifact.index_sha256)?;
    let index: ChunkIndex = serde_json::from_slice(&bytes)
        .map_err(|e| AgentError::Refused(Refusal::Malformed(format!("chunk index: {e}"))))?;
    if index.sha256 != artifact.sha256 || index.size != artifact.size {
        return Err(Refusal::HashMismatch {
            what: "the chunk index's image".into(),
            expected: artifact.sha256.clone(),
            found: index.sha256,
        }
        .into());
    }
    Ok(index)
}

/// Fetches one chunk from the repository: its bytes uncompressed, and its size on the wire.
fn fetch_chunk(repo: &Repo, c: &crate::chunks::Chunk) -> Result<(Vec<u8>, u64), AgentError> {
    let packed = repo.get(&crate::repo::chunk(&c.digest))?;
    let unpack = |source| AgentError::Unpack {
        digest: c.digest.clone(),
        source,
    };
    let mut bytes = Vec::with_capacity(c.length as usize);
    std::io::Read::read_to_end(
        &mut ruzstd::decoding::StreamingDecoder::new(packed.as_slice())
            .map_err(|e| unpack(std::io::Error::other(e)))?,
        &mut bytes,
    )
    .map_err(unpack)?;
    Ok((bytes, packed.len() as u64))
}

/// What an artifact needs from the repository, fetched and checked, before a byte of it is
/// written: its chunk index and the chunks that neither the seeds nor `target` (what the
/// target holds now) have.
#[derive(Debug)]
pub struct Fetched {
    index: ChunkIndex,
    /// Where the seeds hold each chunk (split once: a root seed is the whole slot).
    map: std::collections::HashMap<String, apply::SeedChunk>,
    chunks: apply::Prefetched,
}

impl Fetched {
    /// The artifact's bytes, from `seeds` (the ones it was fetched with) and the fetched
    /// chunks, checked whole: for a small file read before anything is written (a UKI's
    /// command line). `None` if a chunk is missing or the whole does not match the index.
    pub fn bytes(&self, seeds: &[&[u8]]) -> Option<Vec<u8>> {
        use sha2::Digest;
        let mut out: Vec<u8> = Vec::with_capacity(self.index.size as usize);
        let mut earlier: std::collections::HashMap<&str, (usize, usize)> = Default::default();
        for c in &self.index.chunks {
            let at = out.len();
            if let Some(bytes) = self.chunks.chunks.get(&c.digest) {
                out.extend_from_slice(bytes);
            } else if let Some(s) = self.map.get(&c.digest) {
                let seed = seeds.get(s.seed)?;
                out.extend_from_slice(seed.get(s.offset as usize..)?.get(..s.length as usize)?);
            } else if let Some(&(from, len)) = earlier.get(c.digest.as_str()) {
                out.extend_from_within(from..from + len);
            } else {
                return None;
            }
            earlier.insert(&c.digest, (at, out.len() - at));
        }
        (hex::encode(sha2::Sha256::digest(&out)) == self.index.sha256).then_some(out)
    }
}

/// Fetches and checks what `artifact` lacks (see `Fetched`). A missing or bad chunk fails
/// here, while nothing on the device has changed.
pub fn prefetch(
    repo: &Repo,
    artifact: &Artifact,
    seeds: &[&[u8]],
    target: Option<&std::fs::File>,
) -> Result<Fetched, AgentError> {
    let index = index(repo, artifact)?;
    let map = apply::seed_map(seeds);
    let chunks = apply::prefetch(&index, &map, |c| fetch_chunk(repo, c), target)?;
    Ok(Fetched { index, map, chunks })
}

/// Writes what `fetched` was fetched for into `target` from `seeds` (the same ones it was
/// fetched with), what `target` holds and the fetched chunks (no network); the whole is read
/// back and checked.
pub fn write_fetched(
    fetched: &Fetched,
    seeds: &[&[u8]],
    target: &std::fs::File,
) -> Result<apply::Written, AgentError> {
    let mut written = apply::write_image(
        &fetched.index,
        seeds,
        &fetched.map,
        |c| {
            fetched
                .chunks
                .chunks
                .get(&c.digest)
                .cloned()
                .ok_or("the target changed since its chunks were fetched")
        },
        target,
    )?;
    written.fetched_wire = fetched.chunks.wire;
    Ok(written)
}

/// Writes `artifact` into `target` (a slot's partition, or a file) from `seeds`, what
/// `target` already holds, and fetched chunks (all fetched and checked first); the whole is
/// read back and checked.
pub fn write_artifact(
    repo: &Repo,
    artifact: &Artifact,
    seeds: &[&[u8]],
    target: &std::fs::File,
) -> Result<apply::Written, AgentError> {
    let fetched = prefetch(repo, artifact, seeds, Some(target))?;
    write_fetched(&fetched, seeds, target)
}

/// Makes `artifact` at `out` (written aside, renamed when whole and checked) from `seeds`
/// and fetched chunks; returns what was copied and fetched.
pub fn download(
    repo: &Repo,
    artifact: &Artifact,
    seeds: &[&[u8]],
    out: &Path,
) -> Result<apply::Written, AgentError> {
    let (partial, file) = open_partial(out)?;
    // What an earlier, interrupted download left in `partial` is kept where it matches.
    let fetched = prefetch(repo, artifact, seeds, Some(&file))?;
    finish_aside(&fetched, seeds, &partial, file, out)
}

/// Makes `out` from `fetched` (all fetched and checked already) and `seeds`, written aside
/// and renamed when whole and checked.
pub fn write_aside(
    fetched: &Fetched,
    seeds: &[&[u8]],
    out: &Path,
) -> Result<apply::Written, AgentError> {
    let (partial, file) = open_partial(out)?;
    finish_aside(fetched, seeds, &partial, file, out)
}

fn open_partial(out: &Path) -> Result<(PathBuf, std::fs::File), AgentError> {
    let partial = out.with_extension("partial");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&partial)
        .map_err(|e| AgentError::Write {
            path: partial.clone(),
            source: e,
        })?;
    Ok((partial, file))
}

fn finish_aside(
    fetched: &Fetched,
    seeds: &[&[u8]],
    partial: &Path,
    file: std::fs::File,
    out: &Path,
) -> Result<apply::Written, AgentError> {
    let write_err = |e: std::io::Error| AgentError::Write {
        path: partial.to_path_buf(),
        source: e,
    };
    let written = write_fetched(fetched, seeds, &file)?;
    file.set_len(fetched.index.size).map_err(write_err)?;
    file.sync_all().map_err(write_err)?;
    rename_durably(partial, out)?;
    Ok(written)
}

/// Renames `from` (written and synced) to `to` so that a power cut afterwards finds `to`
/// whole: the file is synced again under its new name, then its folder. On FAT the second
/// sync is what writes the new name's size and first cluster (the rename itself leaves an
/// empty entry on disk until the file's inode is written back).
pub fn rename_durably(from: &Path, to: &Path) -> Result<(), AgentError> {
    let fail = |e: std::io::Error| AgentError::Write {
        path: to.to_path_buf(),
        source: e,
    };
    std::fs::rename(from, to).map_err(fail)?;
    std::fs::File::open(to)
        .and_then(|f| f.sync_all())
        .map_err(fail)?;
    if let Some(dir) = to.parent() {
        sync_dir(dir);
    }
    Ok(())
}

/// fsync of a folder, so a rename or removal in it is on disk. Some file systems cannot
/// sync a folder: that is skipped (files are synced on their own first).
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn a_missing_image_description_and_a_bad_one_are_different_errors_with_their_cause() {
        let root = tempfile::tempdir().unwrap();
        let missing = running(root.path()).unwrap_err();
        let AgentError::Read { source, .. } = &missing else {
            panic!("{missing}");
        };
        assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        assert!(missing.source().is_some());

        let info = root.path().join(IMAGE_INFO);
        std::fs::create_dir_all(info.parent().unwrap()).unwrap();
        std::fs::write(&info, "{not json").unwrap();
        let bad = running(root.path()).unwrap_err();
        assert!(matches!(bad, AgentError::ImageInfo { .. }), "{bad}");
        let cause = bad.source().unwrap();
        assert!(cause.downcast_ref::<serde_json::Error>().is_some());
        assert!(bad.to_string().contains("image.json"), "{bad}");
    }
}
