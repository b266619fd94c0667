//! Images a device pulls while it runs (`compose-app pull`), kept as Container Linux keeps
//! them: on the writable `/var`, every blob checked against its digest and size before use
//! and kept once (`blobs/HEX`, shared by every image that has it, so a second image on the
//! same base layers fetches only its own), each image unpacked once into `roots/HEX/rootfs`
//! (owners as its containers see them)
//! (HEX: the digest of the manifest it was pulled by) beside `roots/HEX/image.json`, and the
//! names images were pulled by in `names.json`. `gc` removes what no name leads to.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::container::ContainerError;

/// Where a device keeps pulled images.
pub const PULLED: &str = "/var/lib/compose/images";

/// Why a pulled image cannot be had.
#[derive(Debug, thiserror::Error)]
pub enum PulledError {
    #[error(transparent)]
    Image(#[from] compose_oci::OciError),
    #[error(transparent)]
    Container(#[from] ContainerError),
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error(
        "no pulled image `{0}`\nhelp: `compose-app pull {0}` first; `compose-app images` lists the pulled ones"
    )]
    NotPulled(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> PulledError + '_ {
    move |e| PulledError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// One pulled image: what `roots/HEX/image.json` keeps, with the name it was found by
/// (`names.json` holds names: one image may have several) and where its root is.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PulledImage {
    /// What it was pulled by (`docker://HOST/NAME@sha256:...`, `oci-archive:FILE` ...).
    #[serde(skip_deserializing)]
    pub name: String,
    /// The digest of its manifest (what a lock would pin).
    pub digest: String,
    pub config: compose_oci::ImageConfig,
    /// The blobs it was made of (config and layers), kept while it is.
    pub blobs: Vec<String>,
    /// The layers' bytes as stored.
    pub layer_bytes: u64,
    /// Its unpacked root file system (`roots/HEX/rootfs`).
    #[serde(skip_deserializing)]
    pub rootfs: PathBuf,
}

/// What `roots/HEX/image.json` keeps of a [`PulledImage`]: what its digest alone does not
/// say. Names are in `names.json`, the root beside the file.
#[derive(Serialize)]
struct Stored<'a> {
    digest: &'a str,
    config: &'a compose_oci::ImageConfig,
    blobs: &'a [String],
    layer_bytes: u64,
}

/// What a pull did.
#[derive(Debug, Clone)]
pub struct Pulled {
    pub image: PulledImage,
    /// Registry blobs fetched and reused (`None`: not from a registry).
    pub report: Option<compose_oci::PullReport>,
    /// Whether its root was unpacked now (false: the same image was pulled before).
    pub unpacked: bool,
}

/// What `gc` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Collected {
    pub roots: u64,
    pub blobs: u64,
    pub bytes: u64,
}

/// The pulled images of a device, under `dir` ([`PULLED`] on a device).
#[derive(Debug, Clone)]
pub struct Images {
    dir: PathBuf,
}

impl Images {
    pub fn at(dir: impl Into<PathBuf>) -> Images {
        Images { dir: dir.into() }
    }

    fn blobs(&self) -> PathBuf {
        self.dir.join("blobs")
    }

    fn root_dir(&self, digest: &str) -> PathBuf {
        self.dir
            .join("roots")
            .join(digest.trim_start_matches("sha256:"))
    }

    /// Pulls `at` for this machine's architecture (registries reached with `access`, its
    /// blob cache replaced by this store's), unpacks it unless the same image is here, and
    /// names it by `at`.
    pub fn pull(
        &self,
        at: &compose_oci::ImageRef,
        access: &compose_oci::Access,
        progress: &dyn Fn(&str),
    ) -> Result<Pulled, PulledError> {
        // Held throughout: a gc meanwhile would take the root being unpacked for garbage.
        let _lock = self.lock()?;
        let blobs = self.blobs();
        std::fs::create_dir_all(&blobs).map_err(io(&blobs))?;
        let access = compose_oci::Access {
            blob_cache: Some(blobs),
            ..access.clone()
        };
        let image = compose_oci::Image::open_with(at, compose_oci::host_architecture(), &access)?;
        let digest = image.digest.to_string();
        let dir = self.root_dir(&digest);
        let unpacked = !dir.join("rootfs").is_dir();
        let rootfs = crate::container::cached(&dir, |partial| {
            progress(&format!(
                "unpacking {} ({} layers)",
                image.name,
                image.layers.len()
            ));
            compose_oci::unpack_shifted(&image, partial, crate::container::owner_offset())?;
            Ok(())
        })?;
        let pulled = PulledImage {
            name: at.to_string(),
            digest: digest.clone(),
            config: image.config.clone(),
            blobs: std::iter::once(image.config_digest.hex().to_string())
                .chain(image.layers.iter().map(|l| l.digest.hex().to_string()))
                .collect(),
            layer_bytes: image.layers.iter().filter_map(|l| l.size).sum(),
            rootfs,
        };
        write_json(
            &dir.join("image.json"),
            &Stored {
                digest: &pulled.digest,
                config: &pulled.config,
                blobs: &pulled.blobs,
                layer_bytes: pulled.layer_bytes,
            },
        )?;
        let mut names = self.names()?;
        names.insert(pulled.name.clone(), digest);
        write_json(&self.dir.join("names.json"), &names)?;
        Ok(Pulled {
            image: pulled,
            report: image.pull,
            unpacked,
        })
    }

    /// Name -> manifest digest of every pulled image.
    fn names(&self) -> Result<BTreeMap<String, String>, PulledError> {
        let path = self.dir.join("names.json");
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| PulledError::Io {
                path,
                message: format!("not a name list: {e} (remove it and pull again)"),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(io(&path)(e)),
        }
    }

    /// The image with manifest digest `digest`, found by `name`.
    fn describe(&self, name: &str, digest: &str) -> Result<PulledImage, PulledError> {
        let dir = self.root_dir(digest);
        let path = dir.join("image.json");
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        let mut image: PulledImage =
            serde_json::from_slice(&bytes).map_err(|e| PulledError::Io {
                path: path.clone(),
                message: format!("not an image description: {e} (pull the image again)"),
            })?;
        image.name = name.to_string();
        image.rootfs = dir.join("rootfs");
        Ok(image)
    }

    /// Every pulled image, by name.
    pub fn list(&self) -> Result<Vec<PulledImage>, PulledError> {
        self.names()?
            .iter()
            .map(|(name, digest)| self.describe(name, digest))
            .collect()
    }

    /// The image pulled as `name` (or whose manifest digest is `name`).
    pub fn find(&self, name: &str) -> Result<PulledImage, PulledError> {
        let names = self.names()?;
        let found = names.get(name).map(|d| (name, d)).or_else(|| {
            names
                .iter()
                .find(|(_, d)| *d == name)
                .map(|(n, d)| (n.as_str(), d))
        });
        match found {
            Some((n, d)) => self.describe(n, d),
            None => Err(PulledError::NotPulled(name.to_string())),
        }
    }

    /// Forgets the name `name`; `gc` then removes what only it used.
    pub fn remove(&self, name: &str) -> Result<PulledImage, PulledError> {
        let _lock = self.lock()?;
        let image = self.find(name)?;
        let mut names = self.names()?;
        names.remove(&image.name);
        write_json(&self.dir.join("names.json"), &names)?;
        Ok(image)
    }

    /// Removes the roots no name leads to (and unfinished unpacks), then the blobs no kept
    /// image was made of.
    pub fn gc(&self) -> Result<Collected, PulledError> {
        let _lock = self.lock()?;
        let mut collected = Collected::default();
        let names = self.names()?;
        let kept: BTreeSet<&str> = names
            .values()
            .map(|d| d.trim_start_matches("sha256:"))
            .collect();
        let mut used = BTreeSet::new();
        let roots = self.dir.join("roots");
        for entry in read_dir(&roots)? {
            let name = entry.file_name().to_string_lossy().into_owned();
            if kept.contains(name.as_str()) {
                for partial in read_dir(&entry.path())? {
                    if partial
                        .file_name()
                        .to_string_lossy()
                        .starts_with("partial-")
                    {
                        remove_all(&partial.path(), &mut collected.bytes)?;
                    }
                }
                let image = self.describe("", &name)?;
                used.extend(image.blobs);
            } else {
                remove_all(&entry.path(), &mut collected.bytes)?;
                collected.roots += 1;
            }
        }
        for entry in read_dir(&self.blobs())? {
            if !used.contains(entry.file_name().to_string_lossy().as_ref()) {
                remove_all(&entry.path(), &mut collected.bytes)?;
                collected.blobs += 1;
            }
        }
        Ok(collected)
    }

    /// An exclusive lock on the store (held by a pull, a remove and gc).
    fn lock(&self) -> Result<std::fs::File, PulledError> {
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let path = self.dir.join("lock");
        let file = std::fs::File::create(&path).map_err(io(&path))?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| io(&path)(e.into()))?;
        Ok(file)
    }
}

/// The entries of `dir`; none when it does not exist.
fn read_dir(dir: &Path) -> Result<Vec<std::fs::DirEntry>, PulledError> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries.collect::<Result<Vec<_>, _>>().map_err(io(dir)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io(dir)(e)),
    }
}

/// Removes `path` (a file or a whole folder), adding the bytes its files held to `bytes`.
fn remove_all(path: &Path, bytes: &mut u64) -> Result<(), PulledError> {
    let meta = std::fs::symlink_metadata(path).map_err(io(path))?;
    if meta.is_dir() {
        for entry in read_dir(path)? {
            remove_all(&entry.path(), bytes)?;
        }
        std::fs::remove_dir(path).map_err(io(path))
    } else {
        *bytes += meta.len();
        std::fs::remove_file(path).map_err(io(path))
    }
}

/// Writes `value` as JSON to `path` through a file beside it, renamed into place.
fn write_json(path: &Path, value: &impl Serialize) -> Result<(), PulledError> {
    let part = path.with_extension("json.part");
    let text = serde_json::to_vec_pretty(value).map_err(|e| PulledError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    std::fs::write(&part, text).map_err(io(&part))?;
    std::fs::rename(&part, path).map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// An OCI layout with tags 1.0 (one layer) and 2.0 (that layer and one more), by umoci.
    fn layout(dir: &Path) -> PathBuf {
        let l = dir.join("layout");
        let run = |args: &[&str]| {
            let out = Command::new("umoci")
                .args(args)
                .output()
                .expect("umoci runs (scripts/setup installs it)");
            assert!(out.status.success(), "umoci {args:?}: {out:?}");
        };
        let image = |tag: &str| format!("{}:{tag}", l.display());
        run(&["init", "--layout", l.to_str().unwrap()]);
        run(&["new", "--image", &image("1.0")]);
        let b = dir.join("bundle");
        run(&[
            "unpack",
            "--rootless",
            "--image",
            &image("1.0"),
            b.to_str().unwrap(),
        ]);
        std::fs::write(b.join("rootfs/base"), vec![1u8; 50_000]).unwrap();
        run(&["repack", "--image", &image("1.0"), b.to_str().unwrap()]);
        let b2 = dir.join("bundle2");
        run(&[
            "unpack",
            "--rootless",
            "--image",
            &image("1.0"),
            b2.to_str().unwrap(),
        ]);
        std::fs::write(b2.join("rootfs/added"), "version 2").unwrap();
        run(&["repack", "--image", &image("2.0"), b2.to_str().unwrap()]);
        l
    }

    #[test]
    fn pulled_images_share_blobs_are_found_by_name_or_digest_and_gc_keeps_what_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let l = layout(tmp.path());
        let images = Images::at(tmp.path().join("images"));
        let v1 = compose_oci::ImageRef::parse(&format!("oci:{}:1.0", l.display())).unwrap();
        let v2 = compose_oci::ImageRef::parse(&format!("oci:{}:2.0", l.display())).unwrap();
        let access = compose_oci::Access::default();
        let one = images.pull(&v1, &access, &|_| {}).unwrap();
        assert!(one.unpacked && one.report.is_none());
        assert_eq!(
            std::fs::read(one.image.rootfs.join("base")).unwrap().len(),
            50_000
        );
        let two = images.pull(&v2, &access, &|_| {}).unwrap();
        assert!(two.image.rootfs.join("added").is_file());
        assert_eq!(two.image.blobs.len(), 3, "config and two layers");
        assert!(
            two.image.blobs.contains(&one.image.blobs[1]),
            "version 2 is made on version 1's layer"
        );
        // Again: nothing unpacked again.
        assert!(!images.pull(&v1, &access, &|_| {}).unwrap().unpacked);

        assert_eq!(images.list().unwrap().len(), 2);
        assert_eq!(
            images.find(&v1.to_string()).unwrap().digest,
            one.image.digest
        );
        assert_eq!(images.find(&two.image.digest).unwrap().name, v2.to_string());
        let e = images
            .find("docker://example.org/none:1")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("compose-app pull docker://example.org/none:1"),
            "{e}"
        );

        // A layout's blobs are read where they are; a registry's would be kept in blobs/
        // (compose-oci's registry test and the vm test pull some): as if they were.
        let blobs = tmp.path().join("images/blobs");
        for blob in one.image.blobs.iter().chain(&two.image.blobs) {
            std::fs::write(blobs.join(blob), blob).unwrap();
        }
        std::fs::write(blobs.join("stray.part"), "an unfinished fetch").unwrap();
        // Nothing unnamed: gc keeps every root and the blobs they are made of.
        let c = images.gc().unwrap();
        assert_eq!((c.roots, c.blobs), (0, 1), "{c:?}: the stray");
        // Version 1 forgotten: its root and config go, its layer stays (version 2 has it).
        images.remove(&v1.to_string()).unwrap();
        let c = images.gc().unwrap();
        assert_eq!((c.roots, c.blobs), (1, 1), "{c:?}: root 1 and config 1");
        assert!(!one.image.rootfs.exists() && two.image.rootfs.join("base").is_file());
        images.remove(&v2.to_string()).unwrap();
        let c = images.gc().unwrap();
        assert_eq!((c.roots, c.blobs), (1, 3), "{c:?}");
        assert!(images.list().unwrap().is_empty());
    }
}
