//! `compose cache gc`: the store is shared by every project of a user, so it collects by
//! age, as cargo's cache gc does. Each build records what it used (`roots/` in the store,
//! one record per project and device, rewritten by every build); gc keeps whatever a record
//! younger than `max_age` names, and whatever this project's lock and outputs name, and
//! removes the rest, records included.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

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
    /// Use records older than the age limit (or of deleted projects), removed.
    pub expired_uses: usize,
    /// Blobs pulled from OCI registries (`oci-blobs/`) unused for longer than the age limit.
    pub removed_pulled_blobs: usize,
}

/// Where `compose app run` keeps blobs pulled from OCI registries (each pull that reuses one
/// marks it used by its modification time).
pub const PULLED_BLOBS: &str = "oci-blobs";

/// How `compose` reaches registries: the environment's CA and credentials
/// ([`compose_oci::Access::from_env`]) and the store's [`PULLED_BLOBS`] as the blob cache,
/// so an image on the same base layers fetches only its own.
pub fn registry_access(store: &Store) -> compose_oci::Access {
    compose_oci::Access {
        blob_cache: Some(store.root().join(PULLED_BLOBS)),
        ..compose_oci::Access::from_env()
    }
}

/// Collects garbage: keeps what a recent build of any project used, and what this
/// project's `lock` and its images under `out` reference. Waits for running builds.
pub fn collect(
    store: &Store,
    lock: &LockFile,
    out: &Path,
    max_age: Duration,
) -> Result<GcReport, BuildError> {
    let _lock = store.lock_exclusive()?;
    let mut report = GcReport::default();
    let mut roots: BTreeSet<String> = BTreeSet::new();
    let mut keep: BTreeSet<String> = BTreeSet::new();
    for c in lock.devices.iter().flat_map(|d| &d.components) {
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
    for (path, record, age) in store.uses()? {
        if age > max_age || !record.project.is_dir() {
            let _ = std::fs::remove_file(&path);
            report.expired_uses += 1;
            continue;
        }
        roots.extend(record.trees);
        keep.extend(record.blobs);
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
    // Pulled blobs are a cache of the registries': those unused for longer than the age
    // limit go (a later pull fetches them again).
    if let Ok(entries) = std::fs::read_dir(store.root().join(PULLED_BLOBS)) {
        for entry in entries.filter_map(Result::ok) {
            let Ok(meta) = entry.metadata() else { continue };
            let unused = meta
                .modified()
                .ok()
                .and_then(|m| m.elapsed().ok())
                .is_some_and(|age| age > max_age);
            if meta.is_file() && unused && std::fs::remove_file(entry.path()).is_ok() {
                report.removed_pulled_blobs += 1;
                report.removed_bytes += meta.len();
            }
        }
    }
    store.clean_tmp();
    Ok(report)
}
