//! Debian packages through the machine's own apt: `apt-cache` reads the signed indexes apt
//! has verified (`apt-get update`), `apt-get download` fetches from the configured archive,
//! and every `.deb` is checked against the SHA-256 of the index before it enters the store.

use std::path::Path;
use std::process::Command;

use super::BuildError;
pub use crate::lock::DebPin;
use crate::store::{Digest, Store};
use crate::tool::ToolError;

/// What the apt index says of a package version.
#[derive(Debug, Clone)]
pub struct DebInfo {
    pub pin: DebPin,
    pub size: u64,
    pub depends: String,
}

/// Looks a package up in apt's index: the candidate version, or exactly `version`.
pub fn show(component: &str, name: &str, version: Option<&str>) -> Result<DebInfo, BuildError> {
    let spec = match version {
        Some(v) => format!("{name}={v}"),
        None => name.to_string(),
    };
    let output = Command::new("apt-cache")
        .args(["show", "--no-all-versions", &spec])
        .env("LC_ALL", "C")
        .output()
        .map_err(ToolError::missing("apt-cache", "apt"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let field = |key: &str| {
        text.lines().find_map(|l| {
            l.strip_prefix(key)
                .and_then(|rest| rest.strip_prefix(": "))
                .map(str::to_string)
        })
    };
    match (output.status.success(), field("Version"), field("SHA256")) {
        (true, Some(version), Some(sha256)) => Ok(DebInfo {
            pin: DebPin {
                name: name.to_string(),
                version,
                sha256,
            },
            size: field("Size").and_then(|s| s.parse().ok()).unwrap_or(0),
            depends: field("Depends").unwrap_or_default(),
        }),
        _ => Err(BuildError::UnknownDeb {
            component: component.to_string(),
            package: spec,
            apt: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        }),
    }
}

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
