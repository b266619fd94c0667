//! Archive files (`oci-archive`, `docker-archive`) opened by extracting them into a
//! temporary folder: plain files and folders only, no path leaving it.

use std::path::{Component, Path, PathBuf};

use crate::OciError;

/// Extracts tar `file` into a new temporary folder (removed when dropped).
pub fn extract(file: &Path) -> Result<tempfile::TempDir, OciError> {
    let not_image = |message: String| OciError::NotAnImage {
        path: file.to_path_buf(),
        message,
    };
    let dir = tempfile::Builder::new()
        .prefix("compose-oci-")
        .tempdir()
        .map_err(|e| OciError::io(&std::env::temp_dir(), e))?;
    let reader = std::fs::File::open(file).map_err(|e| OciError::io(file, e))?;
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|e| not_image(format!("not a tar file: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| not_image(format!("a broken tar entry: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| not_image(format!("an entry's name: {e}")))?
            .into_owned();
        let Some(rel) = inside(&path) else {
            return Err(not_image(format!(
                "entry `{}` leaves the archive's folder",
                path.display()
            )));
        };
        let to = dir.path().join(&rel);
        match entry.header().entry_type() {
            tar::EntryType::Directory => {
                std::fs::create_dir_all(&to).map_err(|e| OciError::io(&to, e))?
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if let Some(parent) = to.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| OciError::io(parent, e))?;
                }
                let mut out = std::fs::File::create(&to).map_err(|e| OciError::io(&to, e))?;
                std::io::copy(&mut entry, &mut out).map_err(|e| OciError::io(&to, e))?;
            }
            // Links and the rest have no place in an image archive: its blobs are files.
            _ => {}
        }
    }
    Ok(dir)
}

/// `path` as a relative path with no `..`, or `None` when it would leave its folder.
pub fn inside(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}
