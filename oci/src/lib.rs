//! OCI images for compose: where an image is ([`ImageRef`]: an OCI layout folder, an
//! `oci-archive` or `docker-archive` file, a registry), opening it (a registry's pulled into a
//! layout first) with every blob's size and digest
//! checked before use ([`Image::open`]), unpacking its layers into a root file system with
//! OCI whiteouts and no path leaving the root ([`unpack`]), and the defaults its config
//! gives a container (entrypoint, command, environment, folder, user: [`ImageConfig`]).

mod archive;
mod config;
mod digest;
mod error;
mod image;
mod reference;
mod registry;
mod unpack;
mod zstd;

pub use config::ImageConfig;
pub use digest::Digest;
pub use error::OciError;
pub use image::{Image, Layer};
pub use reference::ImageRef;
pub use registry::{Access, PullReport, Remote};
pub use unpack::{Unpacked, unpack, unpack_shifted};

/// The OCI name of this machine's architecture (`amd64`, `arm64`), as image indexes and
/// configs write it.
pub fn host_architecture() -> &'static str {
    oci_architecture(std::env::consts::ARCH)
}

/// The OCI name of a Rust/Debian-style architecture name (`x86_64` -> `amd64`).
pub fn oci_architecture(arch: &str) -> &str {
    match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}
