//! `compose cache verify`: re-hashes every blob of the store and checks that every recorded
//! build step still leads to an intact tree whose files are all there, as `nix-store --verify
//! --check-contents` does. With `repair`, corrupt blobs and the steps that lead to them are
//! removed, so the next build fetches or makes them again (a build repairs what it uses on its
//! own; this finds what no build has touched yet).

use std::collections::BTreeSet;

use serde::Serialize;

use super::BuildError;
use super::tree::{Entry, Tree};
use crate::store::{Digest, Store, sha256_file};

/// A blob whose bytes do not hash to its name.
#[derive(Debug, Clone, Serialize)]
pub struct BadBlob {
    pub digest: Digest,
    pub path: String,
    pub actual: Digest,
}

/// A build step that cannot be reused: its tree is missing or corrupt, or names a file blob
/// that is.
#[derive(Debug, Clone, Serialize)]
pub struct BrokenStep {
    pub key: String,
    pub tree: Digest,
    pub why: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    pub blobs: usize,
    pub bytes: u64,
    pub steps: usize,
    pub corrupt: Vec<BadBlob>,
    pub broken_steps: Vec<BrokenStep>,
    /// Whether the corrupt blobs and broken steps were removed.
    pub repaired: bool,
}

impl VerifyReport {
    /// True when nothing was wrong, or everything wrong was removed.
    pub fn ok(&self) -> bool {
        self.repaired || (self.corrupt.is_empty() && self.broken_steps.is_empty())
    }
}

/// Checks the whole store; with `repair`, removes what is corrupt. Waits for running builds
/// when repairing (they may be reading what it removes).
pub fn verify(store: &Store, repair: bool) -> Result<VerifyReport, BuildError> {
    let _lock = if repair {
        store.lock_exclusive()?
    } else {
        store.lock_shared()?
    };
    let mut report = VerifyReport::default();
    let mut bad: BTreeSet<Digest> = BTreeSet::new();
    for digest in store.blobs()? {
        let path = store.blob_path(&digest);
        report.blobs += 1;
        report.bytes += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let actual = sha256_file(&path)?;
        if actual != digest {
            bad.insert(digest.clone());
            report.corrupt.push(BadBlob {
                digest,
                path: path.display().to_string(),
                actual,
            });
        }
    }
    let intact = |digest: &str| store.has(digest) && !bad.contains(digest);
    for (key, tree) in store.steps()? {
        report.steps += 1;
        let why = if !intact(&tree) {
            Some(if store.has(&tree) {
                "its tree is corrupt".to_string()
            } else {
                "its tree is missing".to_string()
            })
        } else {
            match Tree::load(store, &tree) {
                Err(e) => Some(format!("its tree cannot be read: {e}")),
                Ok(t) => t.entries.iter().find_map(|(path, e)| match e {
                    Entry::File { digest, .. } if !intact(digest) => {
                        Some(format!("file {path} (blob {digest}) is missing or corrupt"))
                    }
                    _ => None,
                }),
            }
        };
        if let Some(why) = why {
            report.broken_steps.push(BrokenStep { key, tree, why });
        }
    }
    if repair {
        for b in &report.corrupt {
            store.remove_blob(&b.digest)?;
        }
        for s in &report.broken_steps {
            store.remove_step(&s.key)?;
        }
        report.repaired = true;
    }
    Ok(report)
}
