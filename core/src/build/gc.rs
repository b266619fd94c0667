//! `compose cache gc`: removes blobs and build steps that neither the lock file nor an
//! output image of the project references.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Serialize;

use super::tree::{Entry, Tree};
use super::{BuildError, ImageInfo};
use crate::lock::LockFile;
use crate::store::Store;

#[derive(Debug, Clone, Default, Serialize)]
pub struct GcReport {
    pub kept_blobs: usize,
    pub removed_blobs: usize,
    pub removed_bytes: u64,
    pub removed_steps: usize,
}

/// Collects garbage: keeps every tree (and its files) named by `lock` or by an
/// `image.json` under `out`, and every `.deb` the lock pins.
pub fn collect(store: &Store, lock: &LockFile, out: &Path) -> Result<GcReport, BuildError> {
    let mut roots: BTreeSet<String> = BTreeSet::new();
    let mut keep: BTreeSet<String> = BTreeSet::new();
    for c in lock.devices.iter().flat_map(|d| &d.components) {
        roots.extend(c.digest.clone());
        keep.extend(c.debs.iter().map(|d| d.sha256.clone()));
    }
    if let Ok(entries) = std::fs::read_dir(out) {
        for entry in entries.filter_map(Result::ok) {
            let Ok(text) = std::fs::read_to_string(entry.path().join("image.json")) else {
                continue;
            };
            let Ok(image) = serde_json::from_str::<ImageInfo>(&text) else {
                continue;
            };
            for c in image.components {
                roots.insert(c.digest);
                keep.extend(c.debs.into_iter().map(|d| d.sha256));
            }
        }
    }
    for root in &roots {
        if let Ok(tree) = Tree::load(store, root) {
            keep.insert(root.clone());
            keep.extend(tree.entries.values().filter_map(|e| match e {
                Entry::File { digest, .. } => Some(digest.clone()),
                _ => None,
            }));
        }
    }
    let mut report = GcReport::default();
    for (key, digest) in store.steps()? {
        if !keep.contains(&digest) {
            store.remove_step(&key)?;
            report.removed_steps += 1;
        }
    }
    for blob in store.blobs()? {
        if keep.contains(&blob) {
            report.kept_blobs += 1;
        } else {
            report.removed_bytes += store.remove_blob(&blob)?;
            report.removed_blobs += 1;
        }
    }
    store.clean_tmp();
    Ok(report)
}
