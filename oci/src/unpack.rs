//! Layers onto a root file system, in order, as the OCI image spec says: `.wh.NAME`
//! removes NAME of the layers below, `.wh..wh..opq` empties its folder of what they put
//! there; files, folders, symbolic and hard links keep their modes (and owners, where this
//! process may set them). Nothing is written outside the root: a path with `..`, a path
//! through a symbolic link, a link whose target climbs out or a hard link to outside
//! refuses the layer. Device nodes and FIFOs are skipped (a container gets its own /dev).

use std::cell::Cell;
use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use crate::OciError;
use crate::image::{Image, Layer};

const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

/// What unpacking did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unpacked {
    pub layers: usize,
    pub files: u64,
    pub bytes: u64,
    pub whiteouts: u64,
    /// Entries not made (device nodes, FIFOs), as `PATH (KIND)`.
    pub skipped: Vec<String>,
}

/// Unpacks every layer of `image` into `dest` (an empty folder), each checked against its
/// digest first. On an error `dest` holds a partial tree: unpack into a new folder and
/// rename it into place once this returns.
pub fn unpack(image: &Image, dest: &Path) -> Result<Unpacked, OciError> {
    unpack_shifted(image, dest, 0)
}

/// [`unpack`] with every owner moved up by `id_offset`: the host ids a user namespace maps
/// the container's ids to (compose maps the container's 0 to the host's 100000 when it runs
/// containers as root), so the container's users own their files inside it.
pub fn unpack_shifted(image: &Image, dest: &Path, id_offset: u32) -> Result<Unpacked, OciError> {
    let mut done = Unpacked::default();
    let mut dir_modes = BTreeMap::new();
    for layer in &image.layers {
        layer.verify()?;
        apply(layer, dest, id_offset, &mut done, &mut dir_modes)?;
        done.layers += 1;
    }
    // Folders get their modes last, so a read-only one could still be filled.
    for (dir, mode) in dir_modes.iter().rev() {
        let path = dest.join(dir);
        if path.is_dir() {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(*mode))
                .map_err(|e| OciError::io(&path, e))?;
        }
    }
    Ok(done)
}

/// A layer's tar stream that notes when it has ended.
struct Ends<R> {
    inner: R,
    ended: Rc<Cell<bool>>,
}

impl<R: Read> Read for Ends<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.ended.set(true);
        }
        Ok(n)
    }
}

fn apply(
    layer: &Layer,
    dest: &Path,
    id_offset: u32,
    done: &mut Unpacked,
    dir_modes: &mut BTreeMap<PathBuf, u32>,
) -> Result<(), OciError> {
    let name = layer.digest.to_string();
    let broken = |e: std::io::Error| OciError::Layer {
        layer: name.clone(),
        message: format!("not a readable tar: {e}"),
    };
    let escape = |path: &Path, problem: &str| OciError::Escape {
        layer: name.clone(),
        path: path.display().to_string(),
        problem: problem.to_string(),
    };
    let io = |path: &Path, e: std::io::Error| OciError::Layer {
        layer: name.clone(),
        message: format!("{}: {e}", path.display()),
    };
    // Paths this layer made: an opaque whiteout hides only what the layers below made.
    let mut made: HashSet<PathBuf> = HashSet::new();
    let ended = Rc::new(Cell::new(false));
    let mut archive = tar::Archive::new(Ends {
        inner: layer.open()?,
        ended: ended.clone(),
    });
    // Whether the last entry's data was all there.
    let mut whole = true;
    let mut entries = archive.entries().map_err(broken)?;
    loop {
        let mut entry = match entries.next() {
            None => break,
            Some(Ok(entry)) => entry,
            // The stream ended right after the last entry's data, without the padding and
            // the two zero blocks tar writes after it: the layer is whole, as GNU tar reads
            // it (umoci 0.4's `insert` writes such layers).
            Some(Err(_)) if whole && ended.get() => break,
            Some(Err(e)) => return Err(broken(e)),
        };
        let size = entry.header().size().map_err(broken)?;
        whole = size == 0;
        let raw = entry.path().map_err(broken)?.into_owned();
        let rel = clean(&raw).map_err(|p| escape(&raw, p))?;
        let Some(rel) = rel else { continue };
        let parent = rel.parent().unwrap_or(Path::new("")).to_path_buf();
        make_parents(dest, &parent).map_err(|p| escape(&raw, &p))?;
        let file_name = rel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if file_name == OPAQUE {
            hide_below(dest, &parent, &made).map_err(|e| io(&parent, e))?;
            done.whiteouts += 1;
            continue;
        }
        if let Some(hidden) = file_name.strip_prefix(WHITEOUT) {
            remove(&dest.join(&parent).join(hidden)).map_err(|e| io(&rel, e))?;
            done.whiteouts += 1;
            continue;
        }
        let to = dest.join(&rel);
        let header = entry.header();
        let mode = header.mode().map_err(broken)? & 0o7777;
        let shift = |id: u64| id.saturating_add(u64::from(id_offset));
        let owner = (
            shift(header.uid().unwrap_or(0)),
            shift(header.gid().unwrap_or(0)),
        );
        match header.entry_type() {
            tar::EntryType::Directory => {
                if std::fs::symlink_metadata(&to).is_ok_and(|m| !m.is_dir()) {
                    remove(&to).map_err(|e| io(&rel, e))?;
                }
                if !to.is_dir() {
                    std::fs::create_dir(&to).map_err(|e| io(&rel, e))?;
                }
                dir_modes.insert(rel.clone(), mode);
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                remove(&to).map_err(|e| io(&rel, e))?;
                let mut out = std::fs::File::create(&to).map_err(|e| io(&rel, e))?;
                let copied = std::io::copy(&mut entry, &mut out).map_err(|e| io(&rel, e))?;
                if copied != size {
                    return Err(OciError::Layer {
                        layer: name.clone(),
                        message: format!(
                            "{}: the layer ends after {copied} of its {size} bytes",
                            rel.display()
                        ),
                    });
                }
                whole = true;
                done.bytes += copied;
                out.set_permissions(std::fs::Permissions::from_mode(mode))
                    .map_err(|e| io(&rel, e))?;
                done.files += 1;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(broken)?
                    .ok_or_else(|| escape(&raw, "is a symbolic link with no target"))?
                    .into_owned();
                if climbs_out(&rel, &target) {
                    return Err(escape(
                        &raw,
                        &format!("links to {}, outside the root", target.display()),
                    ));
                }
                remove(&to).map_err(|e| io(&rel, e))?;
                std::os::unix::fs::symlink(&target, &to).map_err(|e| io(&rel, e))?;
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name()
                    .map_err(broken)?
                    .ok_or_else(|| escape(&raw, "is a hard link with no target"))?
                    .into_owned();
                let Ok(Some(target_rel)) = clean(&target) else {
                    return Err(escape(
                        &raw,
                        &format!("is a hard link to {}, outside the root", target.display()),
                    ));
                };
                let target_parent = target_rel.parent().unwrap_or(Path::new(""));
                check_parents(dest, target_parent).map_err(|p| escape(&raw, &p))?;
                let from = dest.join(&target_rel);
                if !std::fs::symlink_metadata(&from).is_ok_and(|m| !m.is_dir()) {
                    return Err(escape(
                        &raw,
                        &format!(
                            "is a hard link to {}, which no layer made",
                            target.display()
                        ),
                    ));
                }
                remove(&to).map_err(|e| io(&rel, e))?;
                std::fs::hard_link(&from, &to).map_err(|e| io(&rel, e))?;
                done.files += 1;
            }
            other => {
                done.skipped.push(format!("/{} ({other:?})", rel.display()));
                continue;
            }
        }
        // Owners: set where this process may (root); a rootless unpack keeps its own.
        if let Err(e) = std::os::unix::fs::lchown(&to, Some(owner.0 as u32), Some(owner.1 as u32))
            && e.kind() != std::io::ErrorKind::PermissionDenied
        {
            return Err(io(&rel, e));
        }
        made.insert(rel);
    }
    Ok(())
}

/// `path` relative to the root, without `.`; `Ok(None)` for the root itself; an error for
/// `..` anywhere.
fn clean(path: &Path) -> Result<Option<PathBuf>, &'static str> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err("climbs out of the root with `..`");
            }
        }
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

/// Whether symbolic link `link` (relative to the root) to `target` leads above the root,
/// resolved by its text (an absolute target starts at the root).
fn climbs_out(link: &Path, target: &Path) -> bool {
    let mut depth: usize = if target.is_absolute() {
        0
    } else {
        link.parent().map(|p| p.components().count()).unwrap_or(0)
    };
    for c in target.components() {
        match c {
            Component::RootDir => depth = 0,
            Component::CurDir => {}
            Component::ParentDir => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return true,
            },
            Component::Normal(_) => depth += 1,
            Component::Prefix(_) => return true,
        }
    }
    false
}

/// Makes the folders of `parent` (relative) under `root`; a symbolic link on the way is
/// an escape, a file on the way is replaced by a folder.
fn make_parents(root: &Path, parent: &Path) -> Result<(), String> {
    let mut at = root.to_path_buf();
    for c in parent.components() {
        at.push(c);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(format!(
                    "goes through the symbolic link /{}",
                    at.strip_prefix(root).unwrap_or(&at).display()
                ));
            }
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                std::fs::remove_file(&at).map_err(|e| e.to_string())?;
                std::fs::create_dir(&at).map_err(|e| e.to_string())?;
            }
            Err(_) => std::fs::create_dir(&at).map_err(|e| e.to_string())?,
        }
    }
    Ok(())
}

/// Checks that the folders of `parent` exist under `root` and none is a symbolic link.
fn check_parents(root: &Path, parent: &Path) -> Result<(), String> {
    let mut at = root.to_path_buf();
    for c in parent.components() {
        at.push(c);
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.is_dir() => {}
            _ => {
                return Err(format!(
                    "is a hard link through /{}, which is not a folder",
                    at.strip_prefix(root).unwrap_or(&at).display()
                ));
            }
        }
    }
    Ok(())
}

/// Removes what is at `path` (a file, link or whole folder), if anything.
fn remove(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(_) => Ok(()),
    }
}

/// Removes everything under folder `dir` (relative to `root`) that this layer did not make.
fn hide_below(root: &Path, dir: &Path, made: &HashSet<PathBuf>) -> std::io::Result<()> {
    let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
        return Ok(());
    };
    for entry in entries {
        let entry = entry?;
        let rel = dir.join(entry.file_name());
        if made.contains(&rel) {
            if entry.file_type()?.is_dir() {
                hide_below(root, &rel, made)?;
            }
        } else {
            remove(&entry.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_links_that_leave_the_root() {
        assert_eq!(
            clean(Path::new("./a/b")).unwrap(),
            Some(PathBuf::from("a/b"))
        );
        assert_eq!(clean(Path::new("/")).unwrap(), None);
        assert!(clean(Path::new("a/../../etc")).is_err());
        assert!(!climbs_out(Path::new("usr/bin/sh"), Path::new("busybox")));
        assert!(!climbs_out(
            Path::new("usr/bin/sh"),
            Path::new("../../bin/busybox")
        ));
        assert!(climbs_out(
            Path::new("usr/bin/sh"),
            Path::new("../../../etc/shadow")
        ));
        assert!(!climbs_out(Path::new("etc/x"), Path::new("/usr/bin/x")));
        assert!(climbs_out(Path::new("etc/x"), Path::new("/../host")));
    }
}
