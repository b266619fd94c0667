//! A project folder on disk: finding it, reading its catalog, reading and writing its lock.
//! The only module of this crate (with `graph`, which runs Graphviz) that touches the file system.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::catalog::{Catalog, Loaded};
use crate::diagnostic::{Diagnostics, SourceFile};
use crate::lock::{LOCK_FILE, LockFile, LockParseError};
use crate::toml_file;

/// Why a project could not be found, read or written.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("no compose project found in {start} or any parent folder")]
    NotFound { start: PathBuf },
    #[error("{path} is not a compose project: it has no `{missing}` folder")]
    NotAProject {
        path: PathBuf,
        missing: &'static str,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Invalid(#[from] Diagnostics),
    #[error(transparent)]
    Lock(#[from] LockParseError),
    #[error(transparent)]
    Debian(#[from] crate::debian::ConfigError),
}

impl ProjectError {
    pub fn help(&self) -> Option<String> {
        match self {
            ProjectError::NotFound { .. } => Some(
                "run compose inside a folder that has `manifests/` and `devices/`, or pass --project DIR".into(),
            ),
            ProjectError::NotAProject { missing, .. } => Some(format!("create `{missing}/` or pass the right --project DIR")),
            ProjectError::Debian(_) => Some(format!(
                "fix {} (keys: [closure] exclude = [\"package\", ...])",
                crate::debian::CONFIG_FILE
            )),
            ProjectError::Lock(_) => Some(format!("delete {LOCK_FILE} and run `compose resolve` to write a new one")),
            _ => None,
        }
    }
}

/// A folder holding `manifests/` and `devices/`.
#[derive(Debug, Clone)]
pub struct Project {
    root: PathBuf,
}

impl Project {
    /// The nearest folder from `start` upward that holds `manifests/` and `devices/`.
    pub fn discover(start: &Path) -> Result<Project, ProjectError> {
        start
            .ancestors()
            .find(|dir| dir.join("manifests").is_dir() && dir.join("devices").is_dir())
            .map(|dir| Project {
                root: dir.to_path_buf(),
            })
            .ok_or_else(|| ProjectError::NotFound {
                start: start.to_path_buf(),
            })
    }

    /// Exactly `dir`, which must hold `manifests/` and `devices/`.
    pub fn open(dir: &Path) -> Result<Project, ProjectError> {
        for missing in ["manifests", "devices"] {
            if !dir.join(missing).is_dir() {
                return Err(ProjectError::NotAProject {
                    path: dir.to_path_buf(),
                    missing,
                });
            }
        }
        Ok(Project {
            root: dir.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Reads every `*.toml` of `manifests/` and `devices/` and loads the catalog.
    pub fn load(&self) -> Result<Loaded, ProjectError> {
        let manifests = self.read_folder("manifests")?;
        let devices = self.read_folder("devices")?;
        let mut errors = Diagnostics::default();
        let mut decoded = |files: Vec<(String, Vec<u8>)>| -> Vec<SourceFile> {
            files
                .into_iter()
                .filter_map(|(path, bytes)| errors.keep(toml_file::decode(&path, bytes)))
                .collect()
        };
        let manifests = decoded(manifests);
        let devices = decoded(devices);
        if errors.has_errors() {
            // Cross-file checks would report references into the unreadable files.
            return Err(errors.into());
        }
        Ok(Catalog::load(&manifests, &devices)?)
    }

    fn read_folder(&self, folder: &str) -> Result<Vec<(String, Vec<u8>)>, ProjectError> {
        let dir = self.root.join(folder);
        let entries = fs::read_dir(&dir).map_err(|source| ProjectError::Read {
            path: dir.clone(),
            source,
        })?;
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| ProjectError::Read {
                path: dir.clone(),
                source,
            })?;
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
                let bytes = read_limited(&path)?;
                let shown = format!("{folder}/{}", entry.file_name().to_string_lossy());
                files.push((shown, bytes));
            }
        }
        files.sort();
        Ok(files)
    }

    /// `debian.toml`, or the defaults (nothing excluded) when the project has none.
    pub fn read_debian_config(&self) -> Result<crate::debian::Config, ProjectError> {
        let path = self.root.join(crate::debian::CONFIG_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => Ok(crate::debian::Config::parse(&text)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Default::default()),
            Err(source) => Err(ProjectError::Read { path, source }),
        }
    }

    pub fn lock_path(&self) -> PathBuf {
        self.root.join(LOCK_FILE)
    }

    /// The lock file, or an empty one when there is none yet.
    pub fn read_lock(&self) -> Result<LockFile, ProjectError> {
        let path = self.lock_path();
        match fs::read_to_string(&path) {
            Ok(text) => Ok(LockFile::parse(&text)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(LockFile::default()),
            Err(source) => Err(ProjectError::Read { path, source }),
        }
    }

    /// Puts `new`'s entry for `device` into compose.lock, under an exclusive lock on the
    /// project folder, re-reading the file first: two commands that update different
    /// devices at once both land. Returns whether the file changed.
    pub fn update_lock(&self, device: &str, new: &LockFile) -> Result<bool, ProjectError> {
        let dir = fs::File::open(&self.root).map_err(|source| ProjectError::Read {
            path: self.root.clone(),
            source,
        })?;
        dir.lock().map_err(|source| ProjectError::Write {
            path: self.lock_path(),
            source,
        })?;
        let current = self.read_lock()?;
        let mut merged = current.clone();
        merged.version = LockFile::FORMAT_VERSION;
        merged.devices.retain(|d| d.name != device);
        merged.devices.extend(new.device(device).cloned());
        merged.devices.sort_by(|a, b| a.name.cmp(&b.name));
        if merged == current {
            return Ok(false);
        }
        self.write_lock(&merged)?;
        Ok(true)
    }

    /// Writes the lock file atomically: a temporary file renamed over the old one.
    pub fn write_lock(&self, lock: &LockFile) -> Result<(), ProjectError> {
        write_atomic(&self.lock_path(), lock.to_toml().as_bytes())
    }
}

/// Reads at most one byte past the size limit, so a huge file is never read whole.
fn read_limited(path: &Path) -> Result<Vec<u8>, ProjectError> {
    use std::io::Read;
    let file = fs::File::open(path).map_err(|source| ProjectError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut bytes = Vec::new();
    file.take(toml_file::MAX_FILE_SIZE as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| ProjectError::Read {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(bytes)
}

/// Writes `bytes` to `path` through a temporary sibling and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ProjectError> {
    let err = |source| ProjectError::Write {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(err)
}
