//! Opening an image: the tag's manifest (through a multi-architecture index when there is
//! one, picking this device's architecture), its config and its layers, every small blob
//! checked against its descriptor's size and digest before it is parsed; layers are
//! checked before they are unpacked ([`Layer::verify`]).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::ImageConfig;
use crate::digest::Digest;
use crate::{ImageRef, OciError};

/// Manifests and configs larger than this are refused (real ones are a few KiB).
const MAX_JSON: u64 = 4 << 20;

/// An opened image: what it is, its config, and its layers in order.
#[derive(Debug)]
pub struct Image {
    /// The reference it was opened by, for messages.
    pub name: String,
    /// What a lock pins: the digest of the manifest (or index) the tag names; for a
    /// docker-archive, which has no manifest blob, its config's digest (the image ID).
    pub digest: Digest,
    pub config: ImageConfig,
    /// The digest of the config blob (a docker-archive's image ID).
    pub config_digest: Digest,
    pub layers: Vec<Layer>,
    /// For an image from a registry: what the pull fetched and what it reused.
    pub pull: Option<crate::PullReport>,
    /// An archive's extracted files, while the image is open.
    _extracted: Option<tempfile::TempDir>,
}

/// One layer: a tar, plain or gzip-compressed.
#[derive(Debug, Clone)]
pub struct Layer {
    pub path: PathBuf,
    /// The digest of the file as stored (OCI), or of its uncompressed tar (a
    /// docker-archive's `diff_id`).
    pub digest: Digest,
    pub size: Option<u64>,
    pub(crate) check: Check,
    pub(crate) compression: Compression,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// The digest is of the stored bytes.
    Stored,
    /// The digest is of the uncompressed tar.
    Uncompressed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Zstd,
    /// Known by its first bytes (a docker-archive's layers say nothing).
    Sniff,
}

/// A content descriptor, as manifests and indexes list them.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Descriptor {
    pub(crate) media_type: Option<String>,
    pub(crate) digest: String,
    pub(crate) size: u64,
    #[serde(default)]
    pub(crate) annotations: BTreeMap<String, String>,
    pub(crate) platform: Option<Platform>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Platform {
    architecture: String,
    os: String,
}

/// The entry of an index's `list` for Linux on `architecture`; the error names what the
/// index has.
pub(crate) fn for_architecture<'a>(
    list: &'a [Descriptor],
    architecture: &str,
    image: &str,
) -> Result<&'a Descriptor, OciError> {
    list.iter()
        .find(|d| {
            d.platform
                .as_ref()
                .is_some_and(|p| p.architecture == architecture && p.os == "linux")
        })
        .ok_or_else(|| {
            let have: Vec<String> = list
                .iter()
                .filter_map(|d| d.platform.as_ref())
                .map(|p| format!("{}/{}", p.os, p.architecture))
                .collect();
            OciError::NoPlatform {
                image: image.to_string(),
                architecture: architecture.to_string(),
                have: have.join(", "),
            }
        })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Index {
    #[serde(default)]
    manifests: Vec<Descriptor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    media_type: Option<String>,
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
    manifests: Option<Vec<Descriptor>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

const REF_NAME: &str = "org.opencontainers.image.ref.name";

impl Image {
    /// Opens the image `at` names, for `architecture` (OCI names: `amd64`, `arm64`); a
    /// registry's is pulled with what the environment gives ([`crate::Access::from_env`]).
    pub fn open(at: &ImageRef, architecture: &str) -> Result<Image, OciError> {
        Image::open_with(at, architecture, &crate::Access::from_env())
    }

    /// [`Image::open`], reaching registries with `access`.
    pub fn open_with(
        at: &ImageRef,
        architecture: &str,
        access: &crate::Access,
    ) -> Result<Image, OciError> {
        let name = at.to_string();
        match at {
            ImageRef::Layout { dir, tag } => {
                open_layout(dir, tag.as_deref(), name, architecture, None)
            }
            ImageRef::OciArchive { file, tag } => {
                let extracted = crate::archive::extract(file)?;
                if !extracted.path().join("oci-layout").is_file() {
                    return Err(OciError::NotAnImage {
                        path: file.clone(),
                        message: "no oci-layout file in it (is it a docker-archive?)".into(),
                    });
                }
                let dir = extracted.path().to_path_buf();
                open_layout(&dir, tag.as_deref(), name, architecture, Some(extracted))
            }
            ImageRef::DockerArchive { file, tag } => {
                let extracted = crate::archive::extract(file)?;
                open_docker(file, extracted, tag.as_deref(), name, architecture)
            }
            ImageRef::Registry(remote) => {
                // Beside the blob cache when there is one: blobs taken from it are hard
                // links, not copies (a device's /tmp is memory).
                let parent = access
                    .blob_cache
                    .as_deref()
                    .and_then(Path::parent)
                    .map(Path::to_path_buf)
                    .unwrap_or_else(std::env::temp_dir);
                let pulled = tempfile::Builder::new()
                    .prefix("compose-oci-pull-")
                    .tempdir_in(&parent)
                    .map_err(|e| OciError::io(&parent, e))?;
                let report = crate::registry::pull(remote, architecture, pulled.path(), access)?;
                let dir = pulled.path().to_path_buf();
                let mut image = open_layout(
                    &dir,
                    Some(&remote.reference),
                    name,
                    architecture,
                    Some(pulled),
                )?;
                image.pull = Some(report);
                Ok(image)
            }
        }
    }

    /// What a lock pins for the image `at` names now ([`Image::digest`]); from a registry
    /// only the manifest is fetched, not the image.
    pub fn digest_of(
        at: &ImageRef,
        architecture: &str,
        access: &crate::Access,
    ) -> Result<Digest, OciError> {
        match at {
            ImageRef::Registry(remote) => crate::registry::manifest_digest(remote, access),
            other => Ok(Image::open_with(other, architecture, access)?.digest),
        }
    }
}

fn open_layout(
    dir: &Path,
    tag: Option<&str>,
    name: String,
    architecture: &str,
    extracted: Option<tempfile::TempDir>,
) -> Result<Image, OciError> {
    let not_image = |message: String| OciError::NotAnImage {
        path: dir.to_path_buf(),
        message,
    };
    if !dir.join("oci-layout").is_file() {
        return Err(not_image(
            "no oci-layout file (an OCI image layout has oci-layout, index.json and blobs/)".into(),
        ));
    }
    let index_path = dir.join("index.json");
    let bytes = std::fs::read(&index_path).map_err(|e| OciError::io(&index_path, e))?;
    let index: Index =
        serde_json::from_slice(&bytes).map_err(|e| not_image(format!("index.json: {e}")))?;
    let tags: Vec<&str> = index
        .manifests
        .iter()
        .filter_map(|d| d.annotations.get(REF_NAME).map(String::as_str))
        .collect();
    let have = || {
        if tags.is_empty() {
            "no tags".to_string()
        } else {
            tags.join(", ")
        }
    };
    let top = match tag {
        Some(t) => index
            .manifests
            .iter()
            .find(|d| d.annotations.get(REF_NAME).is_some_and(|r| r == t))
            .ok_or_else(|| OciError::NoTag {
                image: name.clone(),
                tag: t.to_string(),
                have: have(),
            })?,
        None => match index.manifests.as_slice() {
            [one] => one,
            [] => return Err(not_image("index.json lists no image".into())),
            _ => {
                return Err(OciError::WhichTag {
                    image: name.clone(),
                    have: have(),
                });
            }
        },
    };
    let pinned = Digest::parse(&top.digest)?;
    // An index (several architectures) leads to a manifest; at most a few levels deep.
    let mut desc = top.clone();
    let manifest = loop {
        let bytes = read_blob(dir, &desc)?;
        let m: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| not_image(format!("manifest {}: {e}", desc.digest)))?;
        let media = desc
            .media_type
            .clone()
            .or(m.media_type.clone())
            .unwrap_or_default();
        if let Some(list) = m
            .manifests
            .as_ref()
            .filter(|_| media.contains("index") || media.contains("list") || m.layers.is_none())
        {
            let found = for_architecture(list, architecture, &name)?;
            if desc.digest == found.digest {
                return Err(not_image(format!("index {} names itself", desc.digest)));
            }
            desc = found.clone();
            continue;
        }
        break m;
    };
    let config_desc = manifest
        .config
        .ok_or_else(|| not_image(format!("manifest {} has no config", desc.digest)))?;
    let config_bytes = read_blob(dir, &config_desc)?;
    let config = ImageConfig::parse(&config_bytes)
        .map_err(|e| not_image(format!("config {}: {e}", config_desc.digest)))?;
    check_architecture(&name, &config, architecture)?;
    let layers = manifest
        .layers
        .unwrap_or_default()
        .into_iter()
        .map(|d| {
            let digest = Digest::parse(&d.digest)?;
            let media = d.media_type.unwrap_or_default();
            let compression = if media.ends_with("+gzip") || media.ends_with(".gzip") {
                Compression::Gzip
            } else if media.ends_with("+zstd") {
                Compression::Zstd
            } else if media.ends_with(".tar") || media.is_empty() {
                Compression::None
            } else {
                return Err(OciError::Compression {
                    digest: digest.to_string(),
                    media_type: media,
                });
            };
            Ok(Layer {
                path: dir.join("blobs/sha256").join(digest.hex()),
                digest,
                size: Some(d.size),
                check: Check::Stored,
                compression,
            })
        })
        .collect::<Result<Vec<_>, OciError>>()?;
    Ok(Image {
        name,
        digest: pinned,
        config,
        config_digest: Digest::parse(&config_desc.digest)?,
        layers,
        pull: None,
        _extracted: extracted,
    })
}

fn open_docker(
    file: &Path,
    extracted: tempfile::TempDir,
    tag: Option<&str>,
    name: String,
    architecture: &str,
) -> Result<Image, OciError> {
    let not_image = |message: String| OciError::NotAnImage {
        path: file.to_path_buf(),
        message,
    };
    let dir = extracted.path();
    let bytes = std::fs::read(dir.join("manifest.json"))
        .map_err(|_| not_image("no manifest.json in it (is it an oci-archive?)".into()))?;
    let entries: Vec<DockerEntry> =
        serde_json::from_slice(&bytes).map_err(|e| not_image(format!("manifest.json: {e}")))?;
    let tags: Vec<String> = entries
        .iter()
        .flat_map(|e| e.repo_tags.clone().unwrap_or_default())
        .collect();
    let entry = match tag {
        Some(t) => entries
            .iter()
            .find(|e| {
                e.repo_tags.iter().flatten().any(|r| {
                    // Docker writes `docker.io/library/NAME:TAG` for `NAME:TAG`.
                    r == t
                        || r.ends_with(&format!("/{t}"))
                        || r.rsplit_once(':').is_some_and(|(_, tt)| tt == t)
                })
            })
            .ok_or_else(|| OciError::NoTag {
                image: name.clone(),
                tag: t.to_string(),
                have: tags.join(", "),
            })?,
        None => match entries.as_slice() {
            [one] => one,
            _ => {
                return Err(OciError::WhichTag {
                    image: name.clone(),
                    have: tags.join(", "),
                });
            }
        },
    };
    let in_archive = |p: &str| {
        crate::archive::inside(Path::new(p))
            .map(|rel| dir.join(rel))
            .ok_or_else(|| not_image(format!("`{p}` leaves the archive")))
    };
    let config_path = in_archive(&entry.config)?;
    let config_bytes = std::fs::read(&config_path).map_err(|e| OciError::io(&config_path, e))?;
    let digest = Digest::of(&config_bytes);
    // The config's file is named by its digest (`HEX.json` or `blobs/sha256/HEX`).
    let stem = config_path
        .file_name()
        .map(|n| n.to_string_lossy().trim_end_matches(".json").to_string())
        .unwrap_or_default();
    if stem.len() == 64 && stem != digest.hex() {
        return Err(OciError::BadBlob {
            digest: format!("sha256:{stem}"),
            problem: format!("its bytes hash to {digest}"),
        });
    }
    let config = ImageConfig::parse(&config_bytes)
        .map_err(|e| not_image(format!("config {}: {e}", entry.config)))?;
    check_architecture(&name, &config, architecture)?;
    if config.diff_ids.len() != entry.layers.len() {
        return Err(not_image(format!(
            "{} layers but the config lists {} diff_ids",
            entry.layers.len(),
            config.diff_ids.len()
        )));
    }
    let layers = entry
        .layers
        .iter()
        .zip(&config.diff_ids)
        .map(|(path, diff_id)| {
            Ok(Layer {
                path: in_archive(path)?,
                digest: Digest::parse(diff_id)?,
                size: None,
                check: Check::Uncompressed,
                compression: Compression::Sniff,
            })
        })
        .collect::<Result<Vec<_>, OciError>>()?;
    Ok(Image {
        name,
        digest: digest.clone(),
        config,
        config_digest: digest,
        layers,
        pull: None,
        _extracted: Some(extracted),
    })
}

fn check_architecture(name: &str, config: &ImageConfig, wanted: &str) -> Result<(), OciError> {
    if !config.architecture.is_empty() && config.architecture != wanted {
        return Err(OciError::WrongArchitecture {
            image: name.to_string(),
            found: config.architecture.clone(),
            wanted: wanted.to_string(),
        });
    }
    Ok(())
}

/// A small blob (manifest, index, config), checked against its descriptor.
fn read_blob(dir: &Path, desc: &Descriptor) -> Result<Vec<u8>, OciError> {
    let digest = Digest::parse(&desc.digest)?;
    if desc.size > MAX_JSON {
        return Err(OciError::BadBlob {
            digest: digest.to_string(),
            problem: format!("{} bytes, more than a manifest or config may be", desc.size),
        });
    }
    let path = dir.join("blobs/sha256").join(digest.hex());
    let mut bytes = Vec::new();
    std::fs::File::open(&path)
        .and_then(|f| f.take(MAX_JSON + 1).read_to_end(&mut bytes))
        .map_err(|e| OciError::BadBlob {
            digest: digest.to_string(),
            problem: format!("cannot read {}: {e}", path.display()),
        })?;
    digest.verify(&bytes, Some(desc.size))?;
    Ok(bytes)
}

impl Layer {
    /// Checks the layer's bytes against its digest (and size) before anything of it is used.
    pub fn verify(&self) -> Result<(), OciError> {
        match self.check {
            Check::Stored => self.digest.verify_file(&self.path, self.size),
            Check::Uncompressed => {
                let found = crate::digest::hash_reader(self.open()?)
                    .map_err(|e| OciError::io(&self.path, e))?;
                if found != self.digest {
                    return Err(OciError::BadBlob {
                        digest: self.digest.to_string(),
                        problem: format!("its tar hashes to {found}"),
                    });
                }
                Ok(())
            }
        }
    }

    /// The layer's tar stream, uncompressed.
    pub(crate) fn open(&self) -> Result<Box<dyn Read>, OciError> {
        let mut file = std::fs::File::open(&self.path).map_err(|e| OciError::io(&self.path, e))?;
        let gzip = match self.compression {
            Compression::Gzip => true,
            Compression::None => false,
            Compression::Zstd => {
                return Ok(Box::new(crate::zstd::Zstd::new(std::io::BufReader::new(
                    file,
                ))));
            }
            Compression::Sniff => {
                let mut magic = [0u8; 2];
                let n = file
                    .read(&mut magic)
                    .map_err(|e| OciError::io(&self.path, e))?;
                use std::io::Seek;
                file.seek(std::io::SeekFrom::Start(0))
                    .map_err(|e| OciError::io(&self.path, e))?;
                n == 2 && magic == [0x1f, 0x8b]
            }
        };
        let reader = std::io::BufReader::new(file);
        Ok(if gzip {
            Box::new(flate2::read::MultiGzDecoder::new(reader))
        } else {
            Box::new(reader)
        })
    }
}
