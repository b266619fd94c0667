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
    in_temp_dir(store, |dir| download_into(store, dir, component, pin))
}

/// Runs `f` in a fresh folder of the store's temporary area, removed after.
fn in_temp_dir<T>(
    store: &Store,
    f: impl FnOnce(&Path) -> Result<T, BuildError>,
) -> Result<T, BuildError> {
    let dir = store.temp_path("apt");
    std::fs::create_dir_all(&dir).map_err(|e| BuildError::io("create", &dir, e))?;
    let result = f(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// How many packages one `apt-get download` fetches at most (its command line stays short).
const BATCH: usize = 128;

/// Downloads every pin of `wanted` that the store lacks, with one
/// `apt-get download` per [`BATCH`] packages instead of one per package: each call costs about
/// a second whatever it fetches, because apt reads its whole cache first. Every file is
/// checked against its pin's SHA-256 as [`fetch`] does. A batch that apt refuses (one unknown
/// version fails the whole call) is left to [`fetch`], which then names the package.
pub fn fetch_missing(
    store: &Store,
    wanted: &[&DebPin],
    progress: &dyn Fn(&str),
) -> Result<(), BuildError> {
    let mut missing: Vec<&DebPin> = Vec::new();
    for &pin in wanted {
        if !store.has(&pin.sha256) && !missing.iter().any(|p| p.sha256 == pin.sha256) {
            missing.push(pin);
        }
    }
    for batch in missing.chunks(BATCH) {
        progress(&format!(
            "fetch {} Debian packages in one apt call",
            batch.len()
        ));
        in_temp_dir(store, |dir| download_batch(store, dir, batch))?;
    }
    Ok(())
}

fn download_batch(store: &Store, dir: &Path, batch: &[&DebPin]) -> Result<(), BuildError> {
    let specs: Vec<String> = batch
        .iter()
        .map(|pin| format!("{}={}", pin.name, pin.version))
        .collect();
    let output = apt_download(dir, &specs)?;
    if !output.status.success() {
        tracing::debug!(
            "apt-get download of {} packages failed, fetching them one by one: {}",
            specs.len(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
        return Ok(());
    }
    for file in debs_in(dir)? {
        // apt names them NAME_VERSION_ARCH.deb, with the epoch's `:` written `%3a`.
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        let mut parts = name.trim_end_matches(".deb").splitn(3, '_');
        let (Some(package), Some(version)) = (parts.next(), parts.next()) else {
            continue;
        };
        let version = version.replace("%3a", ":").replace("%3A", ":");
        let Some(pin) = batch
            .iter()
            .find(|p| p.name == package && p.version == version)
        else {
            continue;
        };
        store_deb(store, &file, pin)?;
    }
    Ok(())
}

fn apt_download(dir: &Path, specs: &[String]) -> Result<std::process::Output, BuildError> {
    Ok(Command::new("apt-get")
        .args(["download", "-q"])
        .args(specs)
        .current_dir(dir)
        .env("LC_ALL", "C")
        .output()
        .map_err(ToolError::missing("apt-get", "apt"))?)
}

fn debs_in(dir: &Path) -> Result<Vec<std::path::PathBuf>, BuildError> {
    Ok(std::fs::read_dir(dir)
        .map_err(|e| BuildError::io("list", dir, e))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "deb"))
        .collect())
}

fn download_into(
    store: &Store,
    dir: &Path,
    component: &str,
    pin: &DebPin,
) -> Result<Digest, BuildError> {
    let spec = format!("{}={}", pin.name, pin.version);
    let output = apt_download(dir, std::slice::from_ref(&spec))?;
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
    let file = debs_in(dir)?
        .into_iter()
        .next()
        .ok_or_else(|| failed("apt-get download wrote no .deb".into()))?;
    store_deb(store, &file, pin)
}

/// Moves a downloaded `.deb` into the store if it has the index's SHA-256; deletes it if not.
fn store_deb(store: &Store, file: &Path, pin: &DebPin) -> Result<Digest, BuildError> {
    let spec = format!("{}={}", pin.name, pin.version);
    store
        .put_file(file, Some(&pin.sha256))
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
