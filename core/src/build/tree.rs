//! A file tree as data: every path with its mode and, for files, the blob digest, and the
//! owners of the few entries that are not root's (apps' container roots). Component
//! payloads and the staged root are trees; the store keeps them as JSON blobs.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, lchown, symlink};
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

/// A user and group id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ids {
    pub uid: u32,
    pub gid: u32,
}

/// Absolute image paths (`/usr/bin/busybox`) to entries; `/` itself is implied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tree {
    pub entries: BTreeMap<String, Entry>,
    /// The owners of entries that are not root's (uid and gid 0): an OCI image's files as
    /// its layers own them, an app's container root as its container sees it. Kept only
    /// where this process may set owners ([`may_set_ids`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ids: BTreeMap<String, Ids>,
}

/// Whether this process may give files other owners (it runs as root): a build that may
/// not keeps every file root's, as mkfs.erofs' `--all-root` makes them.
pub fn may_set_ids() -> bool {
    rustix::process::geteuid().is_root()
}

impl Tree {
    /// Hashes every file under `dir` into the store. Symlinks are kept as links; their
    /// targets are not followed. Owners are not kept: every entry is root's.
    pub fn from_dir(store: &Store, dir: &Path, prefix: &str) -> Result<Tree, BuildError> {
        Tree::walk(store, dir, prefix, false)
    }

    /// [`Tree::from_dir`] keeping the owners that are not root's, where this process may set
    /// owners ([`may_set_ids`]): what an unpack as root gave the files (an OCI image's
    /// layers' owners). Without root every file under `dir` is ours, so none are kept.
    pub fn from_dir_with_ids(store: &Store, dir: &Path, prefix: &str) -> Result<Tree, BuildError> {
        Tree::walk(store, dir, prefix, may_set_ids())
    }

    fn walk(store: &Store, dir: &Path, prefix: &str, keep_ids: bool) -> Result<Tree, BuildError> {
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
            if keep_ids && (meta.uid(), meta.gid()) != (0, 0) {
                let ids = Ids {
                    uid: meta.uid(),
                    gid: meta.gid(),
                };
                tree.ids.insert(path.clone(), ids);
            }
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
    /// reported with the path; identical entries (with the same owners) and folders are
    /// fine (a folder keeps the first tree's mode and owners).
    pub fn merge(&mut self, other: &Tree) -> Result<(), String> {
        for (path, entry) in &other.entries {
            match (self.entries.get(path), entry) {
                (None, _) => {
                    self.entries.insert(path.clone(), entry.clone());
                    if let Some(ids) = other.ids.get(path) {
                        self.ids.insert(path.clone(), *ids);
                    }
                }
                (Some(Entry::Dir { .. }), Entry::Dir { .. }) => {}
                (Some(existing), new)
                    if existing == new && self.ids.get(path) == other.ids.get(path) => {}
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

    /// Writes the tree below `dest`, copying blobs from the store; entries with [`Tree::ids`]
    /// get those owners (the rest are the caller's).
    pub fn materialize(&self, store: &Store, dest: &Path) -> Result<(), BuildError> {
        fs::create_dir_all(dest).map_err(|e| BuildError::io("create", dest, e))?;
        for (path, entry) in &self.entries {
            let target = dest.join(path.trim_start_matches('/'));
            match entry {
                Entry::Dir { .. } => {
                    fs::create_dir_all(&target)
                        .map_err(|e| BuildError::io("create", &target, e))?;
                }
                Entry::File { digest, .. } => {
                    fs::copy(store.blob_path(digest), &target)
                        .map_err(|e| BuildError::io("write", &target, e))?;
                }
                Entry::Symlink { target: link } => {
                    symlink(link, &target).map_err(|e| BuildError::io("link", &target, e))?;
                }
            }
            // Owners before modes: a change of owner clears set-user-ID and set-group-ID bits.
            if let Some(ids) = self.ids.get(path) {
                lchown(&target, Some(ids.uid), Some(ids.gid))
                    .map_err(|e| BuildError::io("chown", &target, e))?;
            }
            if let Entry::File { mode, .. } = entry {
                fs::set_permissions(&target, fs::Permissions::from_mode(*mode))
                    .map_err(|e| BuildError::io("chmod", &target, e))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn file(byte: char) -> Entry {
        Entry::File {
            digest: crate::store::sha256(byte.to_string().as_bytes()),
            size: 1,
            mode: 0o644,
        }
    }

    #[test]
    fn owners_are_kept_only_where_they_are_not_roots_and_merge_like_entries() {
        let mut plain = Tree::default();
        plain.insert("/srv/note", file('a'));
        // A tree without owners serializes as before owners existed: its digest is unchanged.
        assert!(!String::from_utf8(plain.to_json()).unwrap().contains("ids"));

        let mut owned = plain.clone();
        let app = Ids {
            uid: 101_000,
            gid: 101_000,
        };
        owned.ids.insert("/srv/note".into(), app);
        assert_ne!(owned.digest(), plain.digest());
        let mut merged = Tree::default();
        merged.merge(&owned).unwrap();
        assert_eq!(merged.ids.get("/srv/note"), Some(&app));
        // The same file with other owners is a conflict; a folder keeps the first owners.
        assert_eq!(merged.merge(&plain), Err("/srv/note".to_string()));
        let mut folder = Tree::default();
        folder.insert("/srv", Entry::Dir { mode: 0o700 });
        folder.ids.insert("/srv".into(), app);
        let mut first = Tree::default();
        first.insert("/srv", Entry::Dir { mode: 0o755 });
        first.merge(&folder).unwrap();
        assert_eq!(first.ids.get("/srv"), None);
    }

    #[test]
    fn materialize_gives_owned_entries_their_owners_before_their_modes() {
        if !may_set_ids() {
            eprintln!("skipped: only root may give files other owners");
            return;
        }
        let store_dir = tempfile::tempdir().unwrap();
        let store = Store::open(store_dir.path()).unwrap();
        let mut tree = Tree::default();
        tree.insert_bytes(&store, "/srv/tool", b"#!/bin/sh\n", 0o4750)
            .unwrap();
        tree.insert(
            "/srv/link",
            Entry::Symlink {
                target: "tool".into(),
            },
        );
        for path in ["/srv", "/srv/tool", "/srv/link"] {
            tree.ids.insert(
                path.into(),
                Ids {
                    uid: 101_000,
                    gid: 101_001,
                },
            );
        }
        let dest = tempfile::tempdir().unwrap();
        tree.materialize(&store, dest.path()).unwrap();
        for path in ["srv", "srv/tool", "srv/link"] {
            let meta = dest.path().join(path).symlink_metadata().unwrap();
            assert_eq!((meta.uid(), meta.gid()), (101_000, 101_001), "{path}");
        }
        let mode = dest
            .path()
            .join("srv/tool")
            .metadata()
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(
            mode & 0o7777,
            0o4750,
            "the set-user-ID bit survives the owner change"
        );
    }
}
