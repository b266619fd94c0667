//! Fetching Debian packages through the machine's own apt: `apt-get download` fetches from
//! the configured archive, and every `.deb` is checked against the SHA-256 of the verified
//! index (see `crate::debian`) before it enters the store.

use std::path::Path;
use std::process::Command;

use super::BuildError;
pub use crate::lock::DebPin;
use crate::store::{Digest, Store};
use crate::tool::ToolError;

/// The `.deb` of `pin` in the store, downloading it if needed. A download whose SHA-256
/// differs from the index is deleted and reported, never stored; a stored blob that no
/// longer matches its digest is removed and fetched again.
pub fn fetch(store: &Store, component: &str, pin: &DebPin) -> Result<Digest, BuildError> {
    if store.has(&pin.sha256) {
        match store.verified(&pin.sha256) {
            Ok(_) => return Ok(pin.sha256.clone()),
            Err(e) => tracing::warn!("{e}; fetching {} again", pin.name),
        }
    }
    let dir = store.temp_path("apt");
    std::fs::create_dir_all(&dir).map_err(|e| BuildError::io("create", &dir, e))?;
    let result = download_into(store, &dir, component, pin);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn download_into(
    store: &Store,
    dir: &Path,
    component: &str,
    pin: &DebPin,
) -> Result<Digest, BuildError> {
    let spec = format!("{}={}", pin.name, pin.version);
    let output = Command::new("apt-get")
        .args(["download", "-q", &spec])
        .current_dir(dir)
        .env("LC_ALL", "C")
        .output()
        .map_err(ToolError::missing("apt-get", "apt"))?;
    let failed = |message: String| BuildError::DownloadFailed {
        component: component.into(),
        package: spec.clone(),
        message,
    };
    if !output.status.success() {
        return Err(failed(
            String::from_utf8_lossy(&output.stderr).trim().to_string(),
        ));
    }
    let file = std::fs::read_dir(dir)
        .map_err(|e| BuildError::io("list", dir, e))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or_else(|| failed("apt-get download wrote no .deb".into()))?;
    store
        .put_file(&file, Some(&pin.sha256))
        .map_err(|e| match e {
            crate::store::StoreError::Corrupt {
                expected, actual, ..
            } => BuildError::DigestMismatch {
                what: spec.clone(),
                expected,
                actual,
            },
            other => other.into(),
        })
}

/// Unpacks a `.deb` (its data archive) into `dest` with `dpkg-deb -x`.
pub fn unpack(deb: &Path, dest: &Path) -> Result<(), BuildError> {
    super::run_tool(
        Command::new("dpkg-deb").arg("-x").arg(deb).arg(dest),
        "dpkg-deb",
        "dpkg",
    )
}
