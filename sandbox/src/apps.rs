//! The WASI apps of this repository (`sandbox/apps/NAME`, workspace packages): built for
//! wasm32-wasip2 with cargo, the way `compose app run` and the tests get them (images get
//! them through a cargo source with `libc = "wasi"`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The apps in `sandbox/apps/`.
pub const APPS: &[&str] = &["paint", "probe", "wordcount"];

/// Why an app could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("no WASI app `{0}` in sandbox/apps/ (there are: {list})", list = APPS.join(", "))]
    Unknown(String),
    #[error("cannot run cargo: {0}")]
    Cargo(String),
    #[error(
        "building {name} for wasm32-wasip2 failed:\n{log}\nhelp: the target comes with `rustup target add wasm32-wasip2` (scripts/setup adds it)"
    )]
    Failed { name: String, log: String },
}

/// This repository's root.
fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("sandbox/ is inside the repository")
        .to_path_buf()
}

/// Builds app `name` of this repository (release, wasm32-wasip2) and returns its `.wasm`.
pub fn build(name: &str) -> Result<PathBuf, BuildError> {
    if !APPS.contains(&name) {
        return Err(BuildError::Unknown(name.to_string()));
    }
    build_in(&repository(), name)
}

/// Builds cargo package `package` of the workspace at `root` for wasm32-wasip2 (release)
/// and returns its `.wasm` component.
pub fn build_in(root: &Path, package: &str) -> Result<PathBuf, BuildError> {
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(root)
        .args([
            "build",
            "--quiet",
            "--release",
            "--target",
            "wasm32-wasip2",
            "-p",
            package,
        ])
        .output()
        .map_err(|e| BuildError::Cargo(e.to_string()))?;
    if !output.status.success() {
        return Err(BuildError::Failed {
            name: package.to_string(),
            log: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    Ok(target
        .join("wasm32-wasip2/release")
        .join(format!("{package}.wasm")))
}
