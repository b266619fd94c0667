//! Why an image could not be read or unpacked: what, where, and what to do.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error(
        "`{0}` names no image\nhelp: write oci:FOLDER[:TAG], oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG] or docker://REGISTRY/NAME[:TAG|@DIGEST]"
    )]
    BadReference(String),
    #[error("{image}: {message}")]
    Registry { image: String, message: String },
    #[error("{path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("{path}: not an OCI image: {message}")]
    NotAnImage { path: PathBuf, message: String },
    #[error("{image}: no tag `{tag}`; it has: {have}")]
    NoTag {
        image: String,
        tag: String,
        have: String,
    },
    #[error("{image}: it holds several images ({have}): name one with :TAG")]
    WhichTag { image: String, have: String },
    #[error(
        "{image}: no image for {architecture} in its index (it has: {have})\nhelp: build or pull the image for {architecture}"
    )]
    NoPlatform {
        image: String,
        architecture: String,
        have: String,
    },
    #[error("{image}: the image is for {found}, not {wanted}")]
    WrongArchitecture {
        image: String,
        found: String,
        wanted: String,
    },
    #[error(
        "blob {digest}: {problem}; nothing was used from it\nhelp: the image is damaged or was changed after it was written: fetch or copy it again"
    )]
    BadBlob { digest: String, problem: String },
    #[error("`{0}` is not a digest: write sha256: and 64 hex digits")]
    BadDigest(String),
    #[error(
        "{digest}: layers compressed as {media_type} are not supported (gzip, zstd and plain tar are)"
    )]
    Compression { digest: String, media_type: String },
    #[error("layer {layer}: `{path}` {problem}; the layer is refused and nothing more is unpacked")]
    Escape {
        layer: String,
        path: String,
        problem: String,
    },
    #[error("layer {layer}: {message}")]
    Layer { layer: String, message: String },
    #[error(
        "{image}: the image names nothing to run (no Entrypoint or Cmd)\nhelp: give the program and its arguments after --"
    )]
    NothingToRun { image: String },
    #[error(
        "{image}: user `{user}` is not in the image's /etc/passwd\nhelp: use a numeric UID[:GID]"
    )]
    UnknownUser { image: String, user: String },
}

impl OciError {
    pub(crate) fn io(path: &std::path::Path, e: impl std::fmt::Display) -> OciError {
        OciError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        }
    }
}
