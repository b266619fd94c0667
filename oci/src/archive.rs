//! Archive files (`oci-archive`, `docker-archive`) opened by extracting them into a
//! temporary folder: files and folders, links made copies of the files they name inside the
//! archive (Docker 25+ writes a repeated layer as a symbolic link to its blob), no path
//! leaving it.

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
    // (link, what it names), both relative to the archive's folder; made once all is out.
    let mut links: Vec<(PathBuf, PathBuf)> = Vec::new();
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
            kind @ (tar::EntryType::Symlink | tar::EntryType::Link) => {
                let target =
                    entry.link_name().ok().flatten().ok_or_else(|| {
                        not_image(format!("link `{}` names nothing", rel.display()))
                    })?;
                // A symbolic link is relative to its folder, a hard link to the archive's.
                let base = match kind {
                    tar::EntryType::Symlink => rel.parent().unwrap_or(Path::new("")),
                    _ => Path::new(""),
                };
                let Some(named) = resolve(base, &target) else {
                    return Err(not_image(format!(
                        "link `{}` leads to `{}`, outside the archive",
                        rel.display(),
                        target.display()
                    )));
                };
                links.push((rel, named));
            }
            // Devices, fifos and the rest have no place in an image archive.
            _ => {}
        }
    }
    // A link to a link is made once the one it names is: a pass per step of the longest chain.
    for _ in 0..=links.len() {
        let before = links.len();
        let mut left = Vec::new();
        for (link, named) in links {
            let (to, from) = (dir.path().join(&link), dir.path().join(&named));
            if std::fs::symlink_metadata(&from).is_ok_and(|m| m.is_file()) {
                if let Some(parent) = to.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| OciError::io(parent, e))?;
                }
                std::fs::hard_link(&from, &to).map_err(|e| OciError::io(&to, e))?;
            } else {
                left.push((link, named));
            }
        }
        links = left;
        if links.is_empty() || links.len() == before {
            break;
        }
    }
    if let Some((link, named)) = links.first() {
        return Err(not_image(format!(
            "link `{}` names `{}`, which is no file in the archive",
            link.display(),
            named.display()
        )));
    }
    Ok(dir)
}

/// `target` (relative) seen from folder `base`, as a path relative to the archive's folder;
/// `None` when it is absolute or climbs out of the archive.
fn resolve(base: &Path, target: &Path) -> Option<PathBuf> {
    let mut out = base.to_path_buf();
    for c in target.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_targets_resolve_inside_the_archive_or_not_at_all() {
        let r = |base: &str, target: &str| resolve(Path::new(base), Path::new(target));
        assert_eq!(
            r("abc", "../blobs/sha256/1f"),
            Some(PathBuf::from("blobs/sha256/1f"))
        );
        assert_eq!(r("", "./blobs/x"), Some(PathBuf::from("blobs/x")));
        assert_eq!(r("a/b", "../../c"), Some(PathBuf::from("c")));
        for (base, target) in [("abc", "../../etc/passwd"), ("", "/etc/passwd"), ("", "..")] {
            assert_eq!(r(base, target), None, "{base} {target}");
        }
    }
}
