//! Where an image is, as skopeo and podman write it: `oci:FOLDER[:TAG]` (an OCI image
//! layout), `oci-archive:FILE[:TAG]` (a tar of one), `docker-archive:FILE[:NAME:TAG]`
//! (`docker save`'s tar), `docker://REGISTRY/NAME[:TAG|@DIGEST]` (a registry, always named).

use std::path::{Path, PathBuf};

use crate::OciError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    /// An OCI image layout folder and the tag (`org.opencontainers.image.ref.name`) in it.
    Layout { dir: PathBuf, tag: Option<String> },
    /// A tar file holding an OCI image layout.
    OciArchive { file: PathBuf, tag: Option<String> },
    /// `docker save`'s tar: `manifest.json`, configs and layers; the tag is one of its
    /// RepoTags (`NAME:TAG`, or `TAG` alone).
    DockerArchive { file: PathBuf, tag: Option<String> },
    /// An image in a registry.
    Registry(crate::Remote),
}

impl ImageRef {
    /// Whether `text` is meant as an image (it starts with a transport name).
    pub fn looks_like(text: &str) -> bool {
        ["oci:", "oci-archive:", "docker-archive:", "docker://"]
            .iter()
            .any(|p| text.starts_with(p))
    }

    /// Parses `text`; the path is the text up to the first `:` after the transport.
    pub fn parse(text: &str) -> Result<ImageRef, OciError> {
        if let Some(rest) = text.strip_prefix("docker://") {
            return crate::Remote::parse(rest)
                .map(ImageRef::Registry)
                .ok_or_else(|| OciError::BadReference(text.to_string()));
        }
        let (transport, rest) = text
            .split_once(':')
            .ok_or_else(|| OciError::BadReference(text.to_string()))?;
        let (path, tag) = match rest.split_once(':') {
            Some((p, t)) => (p, Some(t.to_string()).filter(|t| !t.is_empty())),
            None => (rest, None),
        };
        if path.is_empty() {
            return Err(OciError::BadReference(text.to_string()));
        }
        let path = PathBuf::from(path);
        match transport {
            "oci" => Ok(ImageRef::Layout { dir: path, tag }),
            "oci-archive" => Ok(ImageRef::OciArchive { file: path, tag }),
            "docker-archive" => Ok(ImageRef::DockerArchive { file: path, tag }),
            _ => Err(OciError::BadReference(text.to_string())),
        }
    }

    /// The same image with a relative path taken inside `base`.
    pub fn relative_to(&self, base: &Path) -> ImageRef {
        let join = |p: &PathBuf| {
            if p.is_absolute() {
                p.clone()
            } else {
                base.join(p)
            }
        };
        match self {
            ImageRef::Layout { dir, tag } => ImageRef::Layout {
                dir: join(dir),
                tag: tag.clone(),
            },
            ImageRef::OciArchive { file, tag } => ImageRef::OciArchive {
                file: join(file),
                tag: tag.clone(),
            },
            ImageRef::DockerArchive { file, tag } => ImageRef::DockerArchive {
                file: join(file),
                tag: tag.clone(),
            },
            ImageRef::Registry(r) => ImageRef::Registry(r.clone()),
        }
    }

    /// The file or folder the image is in on this machine (none for a registry's).
    pub fn path(&self) -> Option<&Path> {
        match self {
            ImageRef::Layout { dir, .. } => Some(dir),
            ImageRef::OciArchive { file, .. } | ImageRef::DockerArchive { file, .. } => Some(file),
            ImageRef::Registry(_) => None,
        }
    }

    pub fn tag(&self) -> Option<&str> {
        match self {
            ImageRef::Layout { tag, .. }
            | ImageRef::OciArchive { tag, .. }
            | ImageRef::DockerArchive { tag, .. } => tag.as_deref(),
            ImageRef::Registry(r) => Some(&r.reference),
        }
    }

    /// A short name for the image: its file or folder name, or its repository's last part.
    pub fn short_name(&self) -> String {
        let name = match self {
            ImageRef::Registry(r) => r.repository.rsplit('/').next().unwrap_or("").to_string(),
            other => other
                .path()
                .and_then(|p| p.file_stem())
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
        };
        name.chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect()
    }
}

impl std::fmt::Display for ImageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (transport, path) = match self {
            ImageRef::Layout { dir, .. } => ("oci", dir),
            ImageRef::OciArchive { file, .. } => ("oci-archive", file),
            ImageRef::DockerArchive { file, .. } => ("docker-archive", file),
            ImageRef::Registry(r) => return write!(f, "{r}"),
        };
        write!(f, "{transport}:{}", path.display())?;
        if let Some(t) = self.tag() {
            write!(f, ":{t}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transports_paths_and_tags() {
        assert_eq!(
            ImageRef::parse("oci:images/hello:1.0").unwrap(),
            ImageRef::Layout {
                dir: "images/hello".into(),
                tag: Some("1.0".into())
            }
        );
        assert_eq!(
            ImageRef::parse("oci-archive:/tmp/a.tar").unwrap(),
            ImageRef::OciArchive {
                file: "/tmp/a.tar".into(),
                tag: None
            }
        );
        assert_eq!(
            ImageRef::parse("docker-archive:a.tar:hello:1.0").unwrap(),
            ImageRef::DockerArchive {
                file: "a.tar".into(),
                tag: Some("hello:1.0".into())
            }
        );
        assert_eq!(
            ImageRef::parse("oci:x:1")
                .unwrap()
                .relative_to(Path::new("/p"))
                .to_string(),
            "oci:/p/x:1"
        );
        assert_eq!(
            ImageRef::parse("docker://registry.example/team/app:1")
                .unwrap()
                .to_string(),
            "docker://registry.example/team/app:1"
        );
        assert!(ImageRef::parse("docker://busybox").is_err());
        for bad in ["oci:", "tar:x", "hello"] {
            assert!(ImageRef::parse(bad).is_err(), "{bad}");
        }
        assert!(ImageRef::looks_like("oci:x") && !ImageRef::looks_like("hello.wasm"));
    }
}
