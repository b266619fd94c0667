//! A file tree as data: every path with its mode and, for files, the blob digest. Component
//! payloads and the staged root are trees; the store keeps them as JSON blobs.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::BuildError;
use crate::store::{Digest, Store};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Entry {
    Dir {
        mode: u32,
    },
    File {
        digest: Digest,
        size: u64,
        mode: u32,
    },
    Symlink {
        target: String,
    },
}

/// Absolute image paths (`/usr/bin/busybox`) to entries; `/` itself is implied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tree {
    pub entries: BTreeMap<String, Entry>,
}

impl Tree {
    /// Hashes every file under `dir` into the store. Symlinks are kept as links; their
    /// targets are not followed.
    pub fn from_dir(store: &Store, dir: &Path, prefix: &str) -> Result<Tree, BuildError> {
        let mut tree = Tree::default();
        for entry in walkdir::WalkDir::new(dir).min_depth(1).sort_by_file_name() {
            let entry = entry.map_err(|e| BuildError::io("read", dir, e.into()))?;
            let rel = entry
                .path()
                .strip_prefix(dir)
                .expect("walkdir stays below its root");
            let path = join(prefix, &rel.to_string_lossy());
            let meta = entry
                .path()
                .symlink_metadata()
                .map_err(|e| BuildError::io("stat", entry.path(), e))?;
            let mode = meta.permissions().mode() & 0o7777;
            let item = if meta.file_type().is_symlink() {
                let target = fs::read_link(entry.path())
                    .map_err(|e| BuildError::io("read link", entry.path(), e))?;
                Entry::Symlink {
                    target: target.to_string_lossy().into_owned(),
                }
            } else if meta.is_dir() {
                Entry::Dir { mode }
            } else if meta.is_file() {
                let digest = store.put_copy(entry.path())?;
                Entry::File {
                    digest,
                    size: meta.len(),
                    mode,
                }
            } else {
                continue; // devices, sockets and fifos have no place in an image payload
            };
            tree.add_parents(&path);
            tree.entries.insert(path, item);
        }
        Ok(tree)
    }

    /// Makes sure every parent folder of `path` has an entry (mode 0755 when new).
    pub fn add_parents(&mut self, path: &str) {
        let mut at = String::new();
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        for part in &parts[..parts.len().saturating_sub(1)] {
            at.push('/');
            at.push_str(part);
            self.entries
                .entry(at.clone())
                .or_insert(Entry::Dir { mode: 0o755 });
        }
    }

    pub fn insert(&mut self, path: &str, entry: Entry) {
        self.add_parents(path);
        self.entries.insert(path.to_string(), entry);
    }

    /// Stores `bytes` and adds them as a file at `path`.
    pub fn insert_bytes(
        &mut self,
        store: &Store,
        path: &str,
        bytes: &[u8],
        mode: u32,
    ) -> Result<(), BuildError> {
        let digest = store.put_bytes(bytes)?;
        self.insert(
            path,
            Entry::File {
                digest,
                size: bytes.len() as u64,
                mode,
            },
        );
        Ok(())
    }

    /// Adds `other` into this tree. Two different entries at one path are a conflict,
    /// reported with the path; identical entries (and folders) are fine.
    pub fn merge(&mut self, other: &Tree) -> Result<(), String> {
        for (path, entry) in &other.entries {
            match (self.entries.get(path), entry) {
                (None, _) => {
                    self.entries.insert(path.clone(), entry.clone());
                }
                (Some(Entry::Dir { .. }), Entry::Dir { .. }) => {}
                (Some(existing), new) if existing == new => {}
                _ => return Err(path.clone()),
            }
        }
        Ok(())
    }

    /// Total bytes of file contents.
    pub fn size(&self) -> u64 {
        self.entries
            .values()
            .map(|e| {
                if let Entry::File { size, .. } = e {
                    *size
                } else {
                    0
                }
            })
            .sum()
    }

    /// Writes the tree below `dest`, copying blobs from the store.
    pub fn materialize(&self, store: &Store, dest: &Path) -> Result<(), BuildError> {
        fs::create_dir_all(dest).map_err(|e| BuildError::io("create", dest, e))?;
        for (path, entry) in &self.entries {
            let target = dest.join(path.trim_start_matches('/'));
            match entry {
                Entry::Dir { .. } => {
                    fs::create_dir_all(&target)
                        .map_err(|e| BuildError::io("create", &target, e))?;
                }
                Entry::File { digest, mode, .. } => {
                    fs::copy(store.blob_path(digest), &target)
                        .map_err(|e| BuildError::io("write", &target, e))?;
                    fs::set_permissions(&target, fs::Permissions::from_mode(*mode))
                        .map_err(|e| BuildError::io("chmod", &target, e))?;
                }
                Entry::Symlink { target: link } => {
                    symlink(link, &target).map_err(|e| BuildError::io("link", &target, e))?;
                }
            }
        }
        // Folders stay writable while they are filled; their own modes come last, deepest first.
        for (path, entry) in self.entries.iter().rev() {
            if let Entry::Dir { mode } = entry {
                let target = dest.join(path.trim_start_matches('/'));
                fs::set_permissions(&target, fs::Permissions::from_mode(*mode))
                    .map_err(|e| BuildError::io("chmod", &target, e))?;
            }
        }
        Ok(())
    }

    /// Stores the tree as a JSON blob; its digest names the tree.
    pub fn save(&self, store: &Store) -> Result<Digest, BuildError> {
        Ok(store.put_bytes(&self.to_json())?)
    }

    /// The digest `save` gives the tree.
    pub fn digest(&self) -> Digest {
        crate::store::sha256(&self.to_json())
    }

    fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("trees serialize")
    }

    pub fn load(store: &Store, digest: &str) -> Result<Tree, BuildError> {
        let bytes = store.read(digest)?;
        serde_json::from_slice(&bytes).map_err(|e| BuildError::CorruptTree {
            digest: digest.into(),
            message: e.to_string(),
        })
    }
}

/// `prefix` + `/` + `rel`, normalized to one leading slash.
pub fn join(prefix: &str, rel: &str) -> String {
    let prefix = prefix.trim_end_matches('/');
    let rel = rel.trim_start_matches('/');
    if rel.is_empty() {
        if prefix.is_empty() {
            "/".into()
        } else {
            prefix.into()
        }
    } else {
        format!("{prefix}/{rel}")
    }
}
