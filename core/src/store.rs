//! The content-addressed store: blobs by SHA-256, and build steps keyed by the digests of
//! their inputs. Everything is written to a temporary name and renamed into place, so an
//! interrupted build never leaves a half-written entry.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

/// A SHA-256 digest as lowercase hex.
pub type Digest = String;

/// Why the store could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "store: cannot {what} {path}: {source} (choose another store with --store or COMPOSE_STORE)"
    )]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "store: blob {path} is corrupt (expected sha256 {expected}, found {actual}); it was removed, run the build again"
    )]
    Corrupt {
        path: PathBuf,
        expected: Digest,
        actual: Digest,
    },
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// SHA-256 of bytes.
pub fn sha256(bytes: &[u8]) -> Digest {
    hex::encode(Sha256::digest(bytes))
}

/// SHA-256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<Digest, StoreError> {
    let mut file = fs::File::open(path).map_err(io("open", path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io("read", path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Whether `text` is a SHA-256 in lowercase hex.
pub fn is_digest(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Held while a build uses the store (shared) or `cache gc` cleans it (exclusive).
#[derive(Debug)]
pub struct StoreLock {
    _file: fs::File,
}

/// What one project's last build of one device used (`roots/<hash>` in the store).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct UseRecord {
    pub project: PathBuf,
    pub device: String,
    /// Payload trees (their files are kept with them).
    pub trees: Vec<Digest>,
    /// Other blobs: the `.deb`s.
    pub blobs: Vec<Digest>,
}

/// A store folder: `blobs/sha256/ab/cdef...`, `steps/<key>`, `roots/<hash>` (use records),
/// `tmp/`, `lock`.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// The store given by `dir`, else `$COMPOSE_STORE`, else `$XDG_CACHE_HOME/compose` or
    /// `~/.cache/compose`.
    pub fn locate(dir: Option<&Path>) -> PathBuf {
        if let Some(dir) = dir {
            return dir.to_path_buf();
        }
        if let Some(dir) = std::env::var_os("COMPOSE_STORE") {
            return PathBuf::from(dir);
        }
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(|| PathBuf::from("/var/cache"));
        cache.join("compose")
    }

    pub fn open(root: &Path) -> Result<Store, StoreError> {
        for sub in ["blobs/sha256", "steps", "tmp", "roots"] {
            fs::create_dir_all(root.join(sub)).map_err(io("create", &root.join(sub)))?;
        }
        Ok(Store {
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Shares the store with other builds until the guard is dropped; `cache gc` waits.
    pub fn lock_shared(&self) -> Result<StoreLock, StoreError> {
        self.lock(false)
    }

    /// The store to itself (for `cache gc`): waits until no build uses it.
    pub fn lock_exclusive(&self) -> Result<StoreLock, StoreError> {
        self.lock(true)
    }

    fn lock(&self, exclusive: bool) -> Result<StoreLock, StoreError> {
        let path = self.root.join("lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io("open", &path))?;
        let taken = if exclusive {
            file.try_lock()
        } else {
            file.try_lock_shared()
        };
        if taken.is_err() {
            tracing::info!("waiting for the store lock {}", path.display());
            let r = if exclusive {
                file.lock()
            } else {
                file.lock_shared()
            };
            r.map_err(io("lock", &path))?;
        }
        Ok(StoreLock { _file: file })
    }

    /// Records that `project` just built `device` from these trees and blobs: `cache gc`
    /// keeps them while the record is younger than its `--max-age`.
    pub fn record_use(&self, record: &UseRecord) -> Result<(), StoreError> {
        let name = sha256(format!("{}\n{}", record.project.display(), record.device).as_bytes());
        let tmp = self.temp_path("use");
        let text = serde_json::to_vec_pretty(record).expect("use records serialize");
        fs::write(&tmp, text).map_err(io("write", &tmp))?;
        let dest = self.root.join("roots").join(name);
        fs::rename(&tmp, &dest).map_err(io("rename into", &dest))
    }

    /// Every use record and how long ago it was written.
    pub fn uses(&self) -> Result<Vec<(PathBuf, UseRecord, std::time::Duration)>, StoreError> {
        let dir = self.root.join("roots");
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io("list", &dir))? {
            let path = entry.map_err(io("list", &dir))?.path();
            let age = fs::metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .unwrap_or_default();
            // An unreadable record protects nothing; gc removes it.
            let record = fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or_default();
            out.push((path, record, age));
        }
        Ok(out)
    }

    pub fn blob_path(&self, digest: &str) -> PathBuf {
        self.root
            .join("blobs/sha256")
            .join(&digest[..2])
            .join(&digest[2..])
    }

    /// A fresh temporary path inside the store (same file system, so renames are atomic).
    pub fn temp_path(&self, hint: &str) -> PathBuf {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        self.root
            .join("tmp")
            .join(format!("{}-{n}-{hint}", std::process::id()))
    }

    pub fn has(&self, digest: &str) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Stores bytes; returns their digest. A blob already there with other bytes (a
    /// corrupt copy) is replaced.
    pub fn put_bytes(&self, bytes: &[u8]) -> Result<Digest, StoreError> {
        let digest = sha256(bytes);
        let intact = fs::read(self.blob_path(&digest)).is_ok_and(|stored| stored == bytes);
        if !intact {
            let tmp = self.temp_path("blob");
            let mut f = fs::File::create(&tmp).map_err(io("create", &tmp))?;
            f.write_all(bytes).map_err(io("write", &tmp))?;
            f.sync_all().map_err(io("sync", &tmp))?;
            drop(f);
            self.commit(&tmp, &digest)?;
        }
        Ok(digest)
    }

    /// Moves a file (already inside the store's tmp/) into the store, checking its digest
    /// when `expected` is given. A mismatch removes the file and is an error.
    pub fn put_file(&self, tmp: &Path, expected: Option<&str>) -> Result<Digest, StoreError> {
        let actual = sha256_file(tmp)?;
        if let Some(expected) = expected {
            if expected != actual {
                let _ = fs::remove_file(tmp);
                return Err(StoreError::Corrupt {
                    path: tmp.to_path_buf(),
                    expected: expected.into(),
                    actual,
                });
            }
        }
        if self.has(&actual) {
            let _ = fs::remove_file(tmp);
        } else {
            self.commit(tmp, &actual)?;
        }
        Ok(actual)
    }

    /// Copies a file from anywhere into the store.
    pub fn put_copy(&self, path: &Path) -> Result<Digest, StoreError> {
        let tmp = self.temp_path("copy");
        fs::copy(path, &tmp).map_err(io("copy", path))?;
        self.put_file(&tmp, None)
    }

    /// Moves a verified temporary file to its blob path, on disk before it is visible.
    fn commit(&self, tmp: &Path, digest: &str) -> Result<(), StoreError> {
        fs::File::open(tmp)
            .and_then(|f| f.sync_all())
            .map_err(io("sync", tmp))?;
        let dest = self.blob_path(digest);
        let parent = dest.parent().expect("blob paths have a parent");
        fs::create_dir_all(parent).map_err(io("create", parent))?;
        fs::rename(tmp, &dest).map_err(io("rename into", &dest))
    }

    /// The blob, re-hashed: a corrupt blob is removed and reported, never used.
    pub fn verified(&self, digest: &str) -> Result<PathBuf, StoreError> {
        let path = self.blob_path(digest);
        let actual = sha256_file(&path)?;
        Self::matches(path, digest, actual)
    }

    /// `path` when its bytes hash to `digest`; else the blob is removed and reported.
    fn matches(path: PathBuf, digest: &str, actual: Digest) -> Result<PathBuf, StoreError> {
        if actual != digest {
            let _ = fs::remove_file(&path);
            return Err(StoreError::Corrupt {
                path,
                expected: digest.into(),
                actual,
            });
        }
        Ok(path)
    }

    /// The blob's bytes, re-hashed: a corrupt blob is removed and reported, never used.
    pub fn read(&self, digest: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.blob_path(digest);
        let bytes = fs::read(&path).map_err(io("read", &path))?;
        let actual = sha256(&bytes);
        Self::matches(path, digest, actual).map(|_| bytes)
    }

    /// The output digest recorded for a build step, if any (and if its blob still exists).
    pub fn step(&self, key: &str) -> Option<Digest> {
        let digest = fs::read_to_string(self.root.join("steps").join(key)).ok()?;
        let digest = digest.trim().to_string();
        (is_digest(&digest) && self.has(&digest)).then_some(digest)
    }

    /// Records the output of a build step.
    pub fn record_step(&self, key: &str, output: &str) -> Result<(), StoreError> {
        let tmp = self.temp_path("step");
        fs::write(&tmp, output).map_err(io("write", &tmp))?;
        let dest = self.root.join("steps").join(key);
        fs::rename(&tmp, &dest).map_err(io("rename into", &dest))
    }

    /// Every step key and the digest it points to.
    pub fn steps(&self) -> Result<Vec<(String, Digest)>, StoreError> {
        let dir = self.root.join("steps");
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io("list", &dir))? {
            let entry = entry.map_err(io("list", &dir))?;
            let digest = fs::read_to_string(entry.path()).map_err(io("read", &entry.path()))?;
            out.push((
                entry.file_name().to_string_lossy().into_owned(),
                digest.trim().to_string(),
            ));
        }
        Ok(out)
    }

    /// Every blob digest in the store.
    pub fn blobs(&self) -> Result<Vec<Digest>, StoreError> {
        let dir = self.root.join("blobs/sha256");
        let mut out = Vec::new();
        for prefix in fs::read_dir(&dir).map_err(io("list", &dir))? {
            let prefix = prefix.map_err(io("list", &dir))?;
            let p = prefix.file_name().to_string_lossy().into_owned();
            for blob in fs::read_dir(prefix.path()).map_err(io("list", &prefix.path()))? {
                let blob = blob.map_err(io("list", &prefix.path()))?;
                out.push(format!("{p}{}", blob.file_name().to_string_lossy()));
            }
        }
        Ok(out)
    }

    /// Removes a blob or step (for `cache gc`).
    pub fn remove_blob(&self, digest: &str) -> Result<u64, StoreError> {
        let path = self.blob_path(digest);
        let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        fs::remove_file(&path).map_err(io("remove", &path))?;
        Ok(size)
    }

    pub fn remove_step(&self, key: &str) -> Result<(), StoreError> {
        let path = self.root.join("steps").join(key);
        fs::remove_file(&path).map_err(io("remove", &path))
    }

    /// Clears leftovers of interrupted builds.
    pub fn clean_tmp(&self) {
        let _ = fs::remove_dir_all(self.root.join("tmp"));
        let _ = fs::create_dir_all(self.root.join("tmp"));
    }
}
