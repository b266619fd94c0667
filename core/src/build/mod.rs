//! `compose build`: a resolution in, a bootable disk image out. Payloads come from the
//! store (built once per input digest), the image is assembled in a temporary folder and
//! renamed into place, so a failed or interrupted build leaves the previous output intact.

pub mod apps;
pub mod apt;
pub mod cloud;
mod cpio;
pub mod gc;
pub mod image;
pub mod sources;
pub mod tree;
pub mod trim;
pub mod uki;
pub mod units;
pub mod verify;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::debian::{self, Index};
use crate::device::Device;
use crate::lock::{DebPin, LockFile};
use crate::manifest::{Component, Source};
use crate::resolve::Resolution;
use crate::store::{Store, StoreError, sha256};
use crate::tool::ToolError;
use image::Partition;
use tree::{Entry, Tree};

/// Why a build failed: what, where, and (in the message) how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{0}")]
    TrustKey(String),
    #[error("{0}")]
    SecureBoot(String),
    #[error("cannot {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error(
        "component `{component}`: Debian package `{package}` is not in apt's index; check the name, or run `apt-get update`"
    )]
    UnknownDeb { component: String, package: String },
    #[error("component `{component}`: {source}")]
    Closure {
        component: String,
        source: crate::debian::ClosureError,
    },
    #[error(transparent)]
    Index(#[from] crate::debian::IndexError),
    #[error(
        "compose.lock pins {package} {version} with SHA-256 {locked}, but apt's index has {indexed} for it: the archive or the lock was changed; run `compose resolve --upgrade --device {device}` to take the index's"
    )]
    LockDigestMismatch {
        device: String,
        package: String,
        version: String,
        locked: String,
        indexed: String,
    },
    #[error(
        "component `{component}`: downloading `{package}` failed: {message} (if the archive no longer has the version compose.lock pins, run `compose resolve --upgrade`)"
    )]
    DownloadFailed {
        component: String,
        package: String,
        message: String,
    },
    #[error(
        "{what}: SHA-256 {actual} does not match the index's {expected}; the file was discarded, run `apt-get update` and build again"
    )]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("component `{component}`: source path `{path}` does not exist in the project folder")]
    SourceMissing { component: String, path: String },
    #[error("component `{component}`: source path `{path}` leads outside the project folder (to {})", target.display())]
    PathEscapes {
        component: String,
        path: String,
        target: PathBuf,
    },
    #[error("`{path}` is provided by both `{first}` and `{second}`; remove it from one of them")]
    FileConflict {
        path: String,
        first: String,
        second: String,
    },
    #[error("component `{component}`: `cargo build -p {package}` failed:\n{log}")]
    CargoFailed {
        component: String,
        package: String,
        log: String,
    },
    #[error("component `{component}`: {message}")]
    Oci { component: String, message: String },
    #[error(
        "component `{component}`: cannot compile its wasm app {path} for the device: {message}"
    )]
    Wasm {
        component: String,
        path: String,
        message: String,
    },
    #[error("kernel module `{module}` is neither in {package} nor built into it")]
    UnknownModule { module: String, package: String },
    #[error("kernel package {package} is unusable: {message}")]
    BadKernel { package: String, message: String },
    #[error(
        "partition `{partition}` is too small: it needs {needed} bytes but has {available} ({hint})"
    )]
    ImageTooSmall {
        partition: String,
        needed: u64,
        available: u64,
        hint: String,
    },
    #[error("device `{device}` has no {what}: {hint}")]
    Missing {
        device: String,
        what: &'static str,
        hint: &'static str,
    },
    #[error(
        "service `{service}` of component `{component}` runs {program}, which the image does not have{}; the device would never get ready\nhelp: change the service's `exec` in {file}, or add the component that ships the program",
        .found.as_ref().map(|f| format!(" (it has {f})")).unwrap_or_default()
    )]
    ServiceProgram {
        component: String,
        file: String,
        service: String,
        program: String,
        /// A file of the same name elsewhere in the image.
        found: Option<String>,
    },
    #[error(
        "store: {path} of `{component}` (blob {digest}) is still corrupt after building it again; check the disk of the store"
    )]
    CorruptBlob {
        component: String,
        path: String,
        digest: String,
    },
    #[error(
        "the stored tree {digest} is corrupt ({message}); run `compose cache gc` and build again"
    )]
    CorruptTree { digest: String, message: String },
}

impl BuildError {
    pub fn io(what: &'static str, path: &Path, source: std::io::Error) -> BuildError {
        BuildError::Io {
            what,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Runs a tool to completion (see `crate::tool`).
pub fn run_tool(
    cmd: &mut Command,
    tool: &'static str,
    package: &'static str,
) -> Result<(), BuildError> {
    crate::tool::run(cmd, tool, package)?;
    Ok(())
}

/// What every build step needs to know.
#[allow(missing_debug_implementations)]
pub struct Context<'a> {
    pub store: &'a Store,
    pub project: &'a Path,
    pub device: &'a Device,
    /// Kernel modules asked for by the chosen components (beside the device's own).
    pub module_requests: Vec<String>,
    /// The project's Secure Boot keys: systemd-boot and the UKIs are signed with db.
    pub secure_boot: Option<crate::secure_boot::Keys>,
    pub progress: &'a dyn Fn(&str),
}

impl Context<'_> {
    fn progress(&self, message: &str) {
        (self.progress)(message)
    }
}

/// `out/<device>/image.json`: what the image holds, for people and for `compose inspect`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageInfo {
    pub device: String,
    /// The device profile's capabilities (`display`, `keyboard` ...): what a VM gives it.
    #[serde(default)]
    pub capabilities: std::collections::BTreeSet<String>,
    /// The image version: the first 12 hex digits of `key`.
    pub version: String,
    /// Digest of every input of the assembly; equal keys mean equal images.
    pub key: String,
    /// Higher is newer: devices update only to higher generations (`--generation`, by
    /// default the build's epoch, so builds of later commits are newer).
    #[serde(default)]
    pub generation: u64,
    /// The id of the update key built in (`keys/update.pub`): releases must be signed by it.
    #[serde(default)]
    pub update_key: Option<String>,
    pub epoch: u64,
    pub components: Vec<ComponentInfo>,
    pub partitions: Vec<Partition>,
    pub slots: Vec<SlotInfo>,
    /// Output files (beside image.json) and their sizes.
    pub files: BTreeMap<String, u64>,
    /// The kernel modules the device and its components asked for, each loaded at boot or
    /// built in (`compose flash --vm` checks QEMU's drivers against them).
    #[serde(default)]
    pub kernel_modules: Vec<String>,
    /// The root's dm-verity parameters (both slots hold the same root): the tree follows the
    /// file system in each root partition, and each boot entry's command line carries them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verity: Option<compose_boot::verity::Verity>,
    /// systemd-boot and the UKIs are signed with the project's db key, and the ESP carries
    /// its PK, KEK and db for enrolment (`keys/secureboot/`).
    #[serde(default)]
    pub secure_boot: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentInfo {
    pub name: String,
    pub version: String,
    pub digest: String,
    /// Bytes of the payload's files.
    pub size: u64,
    /// Bytes of its files in the root file system, after trimming (what the image ships).
    #[serde(default)]
    pub size_trimmed: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub debs: Vec<DebPin>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotInfo {
    pub slot: String,
    pub partition: String,
    pub version: String,
    pub entry: String,
    /// PCR 11 (SHA-256 bank) after systemd-stub boots this slot's UKI: what a TPM measures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pcr11: Option<String>,
}

/// The outcome of `compose build`.
#[derive(Debug, Clone, Serialize)]
pub struct BuildReport {
    pub image: ImageInfo,
    pub out_dir: PathBuf,
    /// True when nothing had to be done.
    pub up_to_date: bool,
    /// Components built by this run (the others came from the store).
    pub built: Vec<String>,
    /// Seconds per phase.
    pub timings: Vec<(String, f64)>,
    /// ELF files whose interpreter or libraries the image lacks (it may not run them).
    pub unmet: Vec<trim::Unmet>,
    /// Corrupt blobs found in the store, removed and made again by this build.
    pub repaired: Vec<CorruptBlob>,
}

/// A stored blob whose bytes no longer matched its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CorruptBlob {
    pub component: String,
    /// `file`: a file of the payload (at `path`); `tree`: the recorded payload itself
    /// (`path` is `/`).
    pub kind: &'static str,
    pub path: String,
    pub digest: String,
}

/// Re-hashes every file blob of the payloads; corrupt ones are removed from the store.
fn corrupt_blobs(
    store: &Store,
    chosen: &[&Component],
    payloads: &[sources::Payload],
) -> Vec<CorruptBlob> {
    let mut seen = std::collections::BTreeSet::new();
    let mut bad = Vec::new();
    for (c, p) in chosen.iter().zip(payloads) {
        for (path, entry) in &p.tree.entries {
            if let Entry::File { digest, .. } = entry {
                if seen.insert(digest.clone()) && store.verified(digest).is_err() {
                    bad.push(CorruptBlob {
                        component: c.name.clone(),
                        kind: "file",
                        path: path.clone(),
                        digest: digest.clone(),
                    });
                }
            }
        }
    }
    bad
}

/// Options of one build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// `out/<device>`; written through a temporary sibling and a rename.
    pub out_dir: PathBuf,
    /// Timestamp of every file in the image (SOURCE_DATE_EPOCH).
    pub epoch: u64,
    /// The image's generation (see [`ImageInfo::generation`]).
    pub generation: u64,
    /// Compiles the image's wasm apps for the device, so its compose-app compiles nothing
    /// (`None`: the image carries only the `.wasm`, for a runtime that compiles).
    pub wasm_compiler: Option<WasmCompiler>,
}

/// A wasm compiler for the device (compose-sandbox's; core has none of its own).
#[derive(Debug, Clone, Copy)]
pub struct WasmCompiler {
    /// What compiles, with which settings, for Debian architecture `arch`: part of the
    /// store key of what it compiled, so a new compiler compiles again.
    pub id: fn(arch: &str) -> Result<String, String>,
    /// The compiled code of a WASI component for `arch`.
    pub compile: fn(bytes: &[u8], arch: &str) -> Result<Vec<u8>, String>,
}

/// The project's update key (`keys/update.pub`, from `compose keys generate`): built into
/// every image at [`TRUST_KEY`] as the root of trust of its updates.
pub const PROJECT_TRUST_KEY: &str = "keys/update.pub";
/// Where images hold the public key their updates must be signed with.
pub const TRUST_KEY: &str = "/usr/lib/compose/update.pub";

/// The project's update public key: its file's text (what the image holds) and its id
/// (what `image.json` records).
#[derive(Debug, Clone)]
struct TrustKey {
    text: String,
    id: String,
}

/// The project's update public key, checked; `None` when it has none.
fn trust_key(project: &Path) -> Result<Option<TrustKey>, BuildError> {
    let path = project.join(PROJECT_TRUST_KEY);
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| BuildError::io("read", &path, e))?;
    let key = compose_update::keys::parse_public(&text, &path.display().to_string())
        .map_err(|e| BuildError::TrustKey(e.to_string()))?;
    Ok(Some(TrustKey {
        id: compose_update::keys::key_id(&key),
        text,
    }))
}

/// What an image trusts: the key its updates must be signed with, and the CAs its agent
/// trusts for HTTPS (by file name).
#[derive(Debug, Clone)]
struct Pinned {
    update_key: Option<TrustKey>,
    tls_cas: Vec<(String, String)>,
}

/// The project's TLS CAs (`keys/tls-ca/*.pem`, from `compose keys generate`): built into
/// every image at [`TLS_CAS`], the only CAs its agent trusts for HTTPS (two while one
/// replaces the other).
pub const PROJECT_TLS_CAS: &str = "keys/tls-ca";
/// Where images hold them (what `compose_update::net::PINNED_CAS` reads).
pub const TLS_CAS: &str = "/usr/lib/compose/tls-ca";

/// The project's TLS CAs by file name, checked: PEM certificates, at most
/// [`compose_update::net::MAX_PINNED_CAS`].
fn tls_cas(project: &Path) -> Result<Vec<(String, String)>, BuildError> {
    let dir = project.join(PROJECT_TLS_CAS);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut cas = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| BuildError::io("read", &dir, e))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if !name.ends_with(".pem") {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| BuildError::io("read", &path, e))?;
        if text.contains("PRIVATE KEY-----") {
            return Err(BuildError::TrustKey(format!(
                "{} holds a private key, which would go into every image\nhelp: keep the CA's key in a .key file of its own (`compose keys generate` writes ca.key)",
                path.display()
            )));
        }
        if !text.contains("-----BEGIN CERTIFICATE-----") {
            return Err(BuildError::TrustKey(format!(
                "{} holds no PEM certificate\nhelp: keys/tls-ca/ holds the CA certificates devices trust (`compose keys generate` makes ca.pem); move anything else out",
                path.display()
            )));
        }
        cas.push((name.to_string(), text));
    }
    cas.sort();
    if cas.len() > compose_update::net::MAX_PINNED_CAS {
        return Err(BuildError::TrustKey(format!(
            "{} holds {} CA certificates; an image pins at most {} (the current CA and the one replacing it)\nhelp: remove the CA no server uses any more",
            dir.display(),
            cas.len(),
            compose_update::net::MAX_PINNED_CAS
        )));
    }
    Ok(cas)
}

/// What a build will install before it fetches anything: the Debian pins of every
/// component, and the lock file that records them.
#[derive(Debug, Clone)]
pub struct Plan {
    pub pins: BTreeMap<String, Vec<DebPin>>,
    /// `lock` with the pins (compare it with the lock on disk for `--locked`).
    pub lock: LockFile,
    /// Excluded packages the closures needed, by component (not installed: see debian.toml).
    pub excluded: BTreeMap<String, Vec<String>>,
    /// The image each `oci` source's tag names now, by component.
    pub images: BTreeMap<String, String>,
}

/// The Debian architecture of a device architecture.
pub fn debian_arch(arch: crate::device::Arch) -> &'static str {
    match arch {
        crate::device::Arch::X86_64 => "amd64",
        crate::device::Arch::Aarch64 => "arm64",
    }
}

fn chosen<'c>(catalog: &'c Catalog, resolution: &Resolution) -> Vec<&'c Component> {
    resolution
        .components
        .iter()
        .map(|c| {
            catalog
                .versions(&c.name)
                .iter()
                .find(|v| v.version == c.version)
                .expect("resolved versions are in the catalog")
        })
        .collect()
}

/// Solves the Debian closure of every `deb` source (keeping the lock's pins where they
/// still fit, sharing versions between components) and pins each `kernel` source.
pub fn plan(
    project: &Path,
    catalog: &Catalog,
    resolution: &Resolution,
    lock: &LockFile,
    config: &debian::Config,
    progress: &dyn Fn(&str),
) -> Result<Plan, BuildError> {
    let device = catalog
        .device(&resolution.device)
        .expect("resolved devices are in the catalog");
    let chosen = chosen(catalog, resolution);
    let locked = lock.device(&resolution.device);
    let locked_pins = |name: &str| -> Vec<DebPin> {
        locked
            .and_then(|d| d.components.iter().find(|c| c.name == name))
            .map(|c| c.debs.clone())
            .unwrap_or_default()
    };
    let needs_index = chosen
        .iter()
        .any(|c| matches!(c.source, Some(Source::Deb(_) | Source::Kernel { .. })));
    let index = if needs_index {
        progress("read apt's package indexes");
        Some(Index::from_apt(debian_arch(device.arch))?)
    } else {
        None
    };
    // Versions the lock pins anywhere in this device, then what earlier closures chose, so
    // that components sharing a package ship one version of it.
    let mut prefer: BTreeMap<String, String> = locked
        .into_iter()
        .flat_map(|d| &d.components)
        .flat_map(|c| &c.debs)
        .map(|p| (p.name.clone(), p.version.clone()))
        .collect();
    let mut pins = BTreeMap::new();
    let mut excluded = BTreeMap::new();
    let mut images = BTreeMap::new();
    for c in &chosen {
        if let Some(Source::Oci { image }) = &c.source {
            let digest = sources::oci_digest(project, c, image, debian_arch(device.arch))?;
            images.insert(c.name.clone(), digest);
        }
        let (Some(index), Some(source)) = (&index, &c.source) else {
            continue;
        };
        match source {
            Source::Deb(packages) => {
                let requests: Vec<debian::Request> = packages
                    .iter()
                    .map(|p| debian::Request {
                        name: p.name.clone(),
                        version: p.version.clone(),
                    })
                    .collect();
                let policy = debian::Policy {
                    exclude: config.closure.exclude.clone(),
                    prefer: prefer.clone(),
                };
                let closure = debian::solve(index, &requests, &policy).map_err(|source| {
                    BuildError::Closure {
                        component: c.name.clone(),
                        source,
                    }
                })?;
                let locked = locked_pins(&c.name);
                for p in &closure.packages {
                    // Same version, other bytes: never silently.
                    if let Some(l) = locked.iter().find(|l| {
                        l.name == p.name && l.version == p.version && l.sha256 != p.sha256
                    }) {
                        return Err(BuildError::LockDigestMismatch {
                            device: device.name.clone(),
                            package: p.name.clone(),
                            version: p.version.clone(),
                            locked: l.sha256.clone(),
                            indexed: p.sha256.clone(),
                        });
                    }
                    prefer.insert(p.name.clone(), p.version.clone());
                }
                let list = closure.packages;
                pins.insert(c.name.clone(), list);
                if !closure.excluded.is_empty() {
                    excluded.insert(c.name.clone(), closure.excluded);
                }
            }
            Source::Kernel { package } => {
                let pin = sources::kernel_pin(index, c, package, &locked_pins(&c.name))?;
                pins.insert(c.name.clone(), vec![pin]);
            }
            _ => {}
        }
    }
    Ok(Plan {
        lock: lock.with_pins(&resolution.device, &pins, &images),
        pins,
        excluded,
        images,
    })
}

/// Builds the image of `resolution` into `options.out_dir`, installing what `plan` pinned.
pub fn build(
    project: &Path,
    catalog: &Catalog,
    resolution: &Resolution,
    plan: &Plan,
    store: &Store,
    options: &BuildOptions,
    progress: &dyn Fn(&str),
) -> Result<BuildReport, BuildError> {
    let started = Instant::now();
    let mut timings = Vec::new();
    let device = catalog
        .device(&resolution.device)
        .expect("resolved devices are in the catalog");
    let chosen = chosen(catalog, resolution);
    let secure_boot = crate::secure_boot::project_keys(project)
        .map_err(|e| BuildError::SecureBoot(e.to_string()))?;
    let ctx = Context {
        store,
        project,
        device,
        secure_boot,
        module_requests: chosen
            .iter()
            .flat_map(|c| c.kernel_modules.iter().cloned())
            .collect(),
        progress,
    };
    let build_payloads = |built: &mut Vec<String>| -> Result<Vec<sources::Payload>, BuildError> {
        let mut payloads = Vec::new();
        for c in &chosen {
            let pins = plan.pins.get(&c.name).cloned().unwrap_or_default();
            let planned_image = plan.images.get(&c.name).map(String::as_str);
            let payload = sources::build(&ctx, c, &pins, planned_image)?;
            if payload.built && !built.contains(&c.name) {
                built.push(c.name.clone());
            }
            payloads.push(payload);
        }
        Ok(payloads)
    };
    // Every package the build may need, in as few apt calls as possible (a component whose
    // tree is cached had its packages stored when it was built).
    let debs: Vec<&DebPin> = plan.pins.values().flatten().collect();
    apt::fetch_missing(store, &debs, progress)?;
    let mut built = Vec::new();
    let mut payloads = build_payloads(&mut built)?;
    timings.push(("components".to_string(), started.elapsed().as_secs_f64()));
    let mut repaired = Vec::new();
    for (c, p) in chosen.iter().zip(&payloads) {
        if let Some(digest) = &p.repaired {
            progress(&format!(
                "store: the recorded tree of `{}` (blob {digest}) was corrupt; removed and made again",
                c.name
            ));
            repaired.push(CorruptBlob {
                component: c.name.clone(),
                kind: "tree",
                path: "/".into(),
                digest: digest.clone(),
            });
        }
    }

    let infos: Vec<ComponentInfo> = chosen
        .iter()
        .zip(&payloads)
        .map(|(c, p)| ComponentInfo {
            name: c.name.clone(),
            version: c.version.to_string(),
            digest: p.digest.clone(),
            size: p.tree.size(),
            size_trimmed: 0,
            debs: p.debs.clone(),
        })
        .collect();
    let pinned = Pinned {
        update_key: trust_key(project)?,
        tls_cas: tls_cas(project)?,
    };
    let key = sha256(
        serde_json::to_string(&(
            // What the build itself writes into images (layout, mount points, init's files,
            // systemd units): bump it with every such change, or a rebuild by a newer compose
            // says "up to date" and keeps the old image.
            IMAGE_FORMAT,
            device.file.text.as_str(),
            services_json(&chosen),
            trim_rules(&chosen),
            apps::key_text(&chosen),
            apps::compiler_key(
                &chosen,
                options.wasm_compiler.as_ref(),
                debian_arch(device.arch),
            )?,
            pinned.update_key.as_ref().map(|t| &t.text),
            &pinned.tls_cas,
            ctx.secure_boot
                .as_ref()
                .map(crate::secure_boot::Keys::fingerprint)
                .transpose()?,
            options.generation,
            options.epoch,
            &infos
                .iter()
                .map(|i| (&i.name, &i.version, &i.digest))
                .collect::<Vec<_>>(),
        ))
        .expect("keys serialize")
        .as_bytes(),
    );
    store.record_use(&crate::store::UseRecord {
        project: project
            .canonicalize()
            .unwrap_or_else(|_| project.to_path_buf()),
        device: device.name.clone(),
        trees: payloads.iter().map(|p| p.digest.clone()).collect(),
        blobs: payloads
            .iter()
            .flat_map(|p| p.debs.iter().map(|d| d.sha256.clone()))
            .collect(),
    })?;

    if let Some(image) = up_to_date(&options.out_dir, &key) {
        timings.push(("total".to_string(), started.elapsed().as_secs_f64()));
        return Ok(BuildReport {
            image,
            out_dir: options.out_dir.clone(),
            up_to_date: true,
            built,
            timings,
            unmet: Vec::new(),
            repaired,
        });
    }

    // Every blob that goes into the image is checked against its digest first. A corrupt
    // one (a flipped bit on disk) is removed, and its component built again from its source.
    let mut corrupt_files = Vec::new();
    for c in corrupt_blobs(store, &chosen, &payloads) {
        progress(&format!(
            "store: {} of `{}` (blob {}) was corrupt; removed, building `{}` again",
            c.path, c.component, c.digest, c.component
        ));
        corrupt_files.push(c);
    }
    if !corrupt_files.is_empty() {
        repaired.extend(corrupt_files);
        payloads = build_payloads(&mut built)?;
        if let Some(c) = corrupt_blobs(store, &chosen, &payloads).into_iter().next() {
            return Err(BuildError::CorruptBlob {
                component: c.component,
                path: c.path,
                digest: c.digest,
            });
        }
    }

    let assembled = Instant::now();
    let (image, unmet) = assemble(&ctx, &chosen, &payloads, infos, &key, options, &pinned)?;
    timings.push(("assembly".to_string(), assembled.elapsed().as_secs_f64()));
    timings.push(("total".to_string(), started.elapsed().as_secs_f64()));
    Ok(BuildReport {
        image,
        out_dir: options.out_dir.clone(),
        up_to_date: false,
        built,
        timings,
        unmet,
        repaired,
    })
}

/// The recorded image, if `out_dir` holds exactly the output of `key`.
fn up_to_date(out_dir: &Path, key: &str) -> Option<ImageInfo> {
    let text = std::fs::read_to_string(out_dir.join("image.json")).ok()?;
    let image: ImageInfo = serde_json::from_str(&text).ok()?;
    let files_ok = image
        .files
        .iter()
        .all(|(name, size)| std::fs::metadata(out_dir.join(name)).is_ok_and(|m| m.len() == *size));
    (image.key == key && files_ok).then_some(image)
}

/// Which part of the image a component's payload goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Kernel,
    Bootloader,
    /// The program of the initramfs (compose-init), also in the root.
    Initramfs,
    Root,
}

fn role(c: &Component) -> Role {
    if matches!(c.source, Some(Source::Kernel { .. })) {
        Role::Kernel
    } else if c.provides.iter().any(|p| p == "bootloader") {
        Role::Bootloader
    } else if c.provides.iter().any(|p| p == "initramfs") {
        Role::Initramfs
    } else {
        Role::Root
    }
}

/// The image format's version in the image key (v4: `initramfs` role, /efi, systemd units;
/// v6: dm-verity trees, a UKI per slot).
const IMAGE_FORMAT: &str = "compose-image-v6";

/// Folders init mounts over or writes to; every root has them (`/efi`: the ESP, for a
/// system manager such as systemd).
const MOUNT_POINTS: [&str; 9] = [
    "/dev", "/proc", "/sys", "/run", "/tmp", "/var", "/etc", "/sysroot", "/efi",
];

/// Each component's `[trim]`, as the text that goes into the image key.
fn trim_rules(chosen: &[&Component]) -> String {
    chosen
        .iter()
        .map(|c| {
            format!(
                "{}:{:?}:{:?}:{:?}",
                c.name, c.trim.keep, c.trim.drop, c.trim.plugins
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn assemble(
    ctx: &Context,
    chosen: &[&Component],
    payloads: &[sources::Payload],
    mut components: Vec<ComponentInfo>,
    key: &str,
    options: &BuildOptions,
    pinned: &Pinned,
) -> Result<(ImageInfo, Vec<trim::Unmet>), BuildError> {
    let device = ctx.device;
    let find = |role_wanted: Role, what: &'static str, hint: &'static str| {
        chosen
            .iter()
            .zip(payloads)
            .find(|(c, _)| role(c) == role_wanted)
            .map(|(_, p)| &p.tree)
            .ok_or(BuildError::Missing {
                device: device.name.clone(),
                what,
                hint,
            })
    };
    let kernel = find(
        Role::Kernel,
        "kernel",
        "require a component with a `kernel` source (e.g. `kernel`)",
    )?;
    let bootloader = find(
        Role::Bootloader,
        "boot loader",
        "require a component that provides `bootloader`",
    )?;
    let init = find(
        Role::Initramfs,
        "initramfs",
        "require a component that provides `initramfs` (initramfs-compose; `init-compose` and `init-systemd` require it)",
    )?;

    // The root file system: every payload but the kernel's and the boot loader's.
    let mut root = Tree::default();
    let mut owners: BTreeMap<String, String> = BTreeMap::new();
    for (c, p) in chosen.iter().zip(payloads) {
        // Container apps are roots of their own, added after trimming.
        if matches!(role(c), Role::Kernel | Role::Bootloader) || apps::is_container(c) {
            continue;
        }
        merge_owned(&mut root, &mut owners, &p.tree, &c.name)?;
    }
    ctx.progress("trim the root (documentation, locales, unused libraries)");
    let rules = chosen
        .iter()
        .map(|c| (c.name.clone(), c.trim.clone()))
        .collect();
    let trimmed = trim::trim(ctx.store, &root, &owners, &rules)?;
    for info in &mut components {
        info.size_trimmed = trimmed.sizes.get(&info.name).map_or(0, |s| s.after);
    }
    let mut root = trimmed.tree;
    let mut unmet = trimmed.unmet;
    for (c, p) in chosen.iter().zip(payloads) {
        if !apps::is_container(c) {
            continue;
        }
        ctx.progress(&format!("{}: its own root file system", c.name));
        let container = apps::container_root(ctx.store, c, &p.tree)?;
        merge_owned(&mut root, &mut owners, &container.tree, &c.name)?;
        if let Some(info) = components.iter_mut().find(|i| i.name == c.name) {
            info.size_trimmed = container.sizes.after;
        }
        unmet.extend(container.unmet);
    }
    apps::describe(ctx.store, chosen, &mut root)?;
    if let Some(compiler) = &options.wasm_compiler {
        apps::precompile(ctx, chosen, &mut root, compiler)?;
    }
    for m in MOUNT_POINTS {
        root.entries
            .entry(m.to_string())
            .or_insert(Entry::Dir { mode: 0o755 });
    }
    let meta = serde_json::json!({
        "device": ctx.device.name,
        "version": &key[..12],
        "generation": options.generation,
    })
    .to_string()
        + "\n";
    if let Some(trust) = &pinned.update_key {
        root.insert_bytes(ctx.store, TRUST_KEY, trust.text.as_bytes(), 0o644)?;
    }
    for (name, text) in &pinned.tls_cas {
        root.insert_bytes(
            ctx.store,
            &format!("{TLS_CAS}/{name}"),
            text.as_bytes(),
            0o644,
        )?;
    }
    root.insert_bytes(
        ctx.store,
        "/usr/lib/compose/image.json",
        meta.as_bytes(),
        0o644,
    )?;
    root.insert_bytes(
        ctx.store,
        "/usr/lib/compose/services.json",
        services_json(chosen).as_bytes(),
        0o644,
    )?;
    if units::wanted(&root) {
        units::add(ctx.store, &mut root, chosen)?;
    }
    check_service_programs(chosen, &root)?;

    // The initramfs: init and the kernel's modules.
    let mut initramfs = init.clone();
    let mut modules = kernel.clone();
    modules.entries.retain(|path, _| path.starts_with("/lib"));
    initramfs
        .merge(&modules)
        .map_err(|path| BuildError::FileConflict {
            path,
            first: "init".into(),
            second: "kernel".into(),
        })?;

    let name = options
        .out_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let parent = options.out_dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| BuildError::io("create", parent, e))?;
    // Leftovers of builds that were killed: `.DEVICE.tmp-PID` and `.DEVICE.old-PID`.
    if let Ok(entries) = std::fs::read_dir(parent) {
        for entry in entries.filter_map(Result::ok) {
            let n = entry.file_name().to_string_lossy().into_owned();
            if n.starts_with(&format!(".{name}.tmp-")) || n.starts_with(&format!(".{name}.old-")) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let tmp_out = parent.join(format!(".{name}.tmp-{}", std::process::id()));
    std::fs::create_dir_all(&tmp_out).map_err(|e| BuildError::io("create", &tmp_out, e))?;
    let update_key = pinned.update_key.as_ref().map(|t| t.id.clone());
    let result = write_image(
        ctx, &root, &initramfs, kernel, bootloader, components, key, options, update_key, &tmp_out,
    )
    .and_then(|info| replace_dir(&tmp_out, &options.out_dir).map(|()| info));
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp_out);
    }
    result.map(|info| (info, unmet))
}

/// Merges component `name`'s `tree` into `root`, recording it as the owner of its paths;
/// a path another component already holds with other contents is a conflict naming both.
fn merge_owned(
    root: &mut Tree,
    owners: &mut BTreeMap<String, String>,
    tree: &Tree,
    name: &str,
) -> Result<(), BuildError> {
    if let Err(path) = root.merge(tree) {
        let first = owners.get(&path).cloned().unwrap_or_default();
        return Err(BuildError::FileConflict {
            path,
            first,
            second: name.to_string(),
        });
    }
    for path in tree.entries.keys() {
        owners
            .entry(path.clone())
            .or_insert_with(|| name.to_string());
    }
    Ok(())
}

/// Puts `new` where `old` is: the old folder is moved aside first and removed only once the
/// new one is in place, so a failure leaves one of them whole at `old`'s path.
fn replace_dir(new: &Path, old: &Path) -> Result<(), BuildError> {
    let aside = old.with_file_name(format!(
        ".{}.old-{}",
        old.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let had_old = old.exists();
    if had_old {
        std::fs::rename(old, &aside).map_err(|e| BuildError::io("move aside", old, e))?;
    }
    if let Err(e) = std::fs::rename(new, old) {
        if had_old {
            let _ = std::fs::rename(&aside, old);
        }
        return Err(BuildError::io("rename into", old, e));
    }
    if had_old {
        let _ = std::fs::remove_dir_all(&aside);
    }
    Ok(())
}

/// Every service's program is in the image: a service that cannot start keeps the device
/// from ever being ready (and blessed), so it is a build error, not a boot-time surprise.
fn check_service_programs(chosen: &[&Component], root: &Tree) -> Result<(), BuildError> {
    for c in chosen {
        for service in &c.services {
            let Some(program) = service.exec.first().filter(|p| p.starts_with('/')) else {
                continue;
            };
            if trim::has_file(root, program) {
                continue;
            }
            let name = program.rsplit('/').next().unwrap_or(program);
            let found = root
                .entries
                .iter()
                .find(|(path, e)| {
                    matches!(e, Entry::File { .. }) && path.rsplit('/').next() == Some(name)
                })
                .map(|(path, _)| path.clone());
            return Err(BuildError::ServiceProgram {
                component: c.name.clone(),
                file: c.file.path.clone(),
                service: service.name.clone(),
                program: program.clone(),
                found,
            });
        }
    }
    Ok(())
}

/// The service table init reads: every service, in the resolver's start order.
fn services_json(chosen: &[&Component]) -> String {
    let services: Vec<serde_json::Value> = chosen
        .iter()
        .flat_map(|c| c.services.iter().map(move |s| (c, s)))
        .map(|(c, s)| {
            serde_json::json!({
                "component": c.name, "name": s.name, "exec": s.exec, "after": s.after,
                "requires": s.requires, "restart": s.restart, "type": s.kind,
            })
        })
        .collect();
    serde_json::to_string_pretty(&services).expect("services serialize") + "\n"
}

#[allow(clippy::too_many_arguments)]
fn write_image(
    ctx: &Context,
    root: &Tree,
    initramfs: &Tree,
    kernel: &Tree,
    bootloader: &Tree,
    components: Vec<ComponentInfo>,
    key: &str,
    options: &BuildOptions,
    update_key: Option<String>,
    out: &Path,
) -> Result<ImageInfo, BuildError> {
    let device = ctx.device;
    let version = key[..12].to_string();
    let epoch = options.epoch;
    let work = out.join("work");

    ctx.progress("assemble root file system (erofs)");
    let root_dir = work.join("root");
    root.materialize(ctx.store, &root_dir)?;
    let root_img = work.join("root.erofs");
    // The staged files are this process's but for the tree's owned entries (apps' roots,
    // only when it runs as root): a tree without owners is all root's whoever builds it.
    image::mkfs_erofs(
        &root_dir,
        &root_img,
        &image::uuid(&format!("{key}/root-fs")),
        epoch,
        root.ids.is_empty(),
    )?;
    ctx.progress("append the root's hash tree (dm-verity)");
    let verity = image::append_verity(&root_img, key)?;
    let root_size = std::fs::metadata(&root_img)
        .map_err(|e| BuildError::io("stat", &root_img, e))?
        .len();
    ctx.progress("assemble initramfs (cpio)");
    let initrd = work.join("initrd.img");
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(&initrd).map_err(|e| BuildError::io("create", &initrd, e))?,
    );
    cpio::write(&mut file, ctx.store, initramfs, epoch as u32)
        .map_err(|e| BuildError::io("write", &initrd, e))?;
    file.flush_all(&initrd)?;

    // The ESP holds systemd-boot twice and a UKI (kernel, initramfs, command line) per slot.
    let kernel_size = kernel.entries.get("/boot/vmlinuz").map_or(0, |e| match e {
        Entry::File { size, .. } => *size,
        _ => 0,
    });
    let initrd_size = std::fs::metadata(&initrd)
        .map_err(|e| BuildError::io("stat", &initrd, e))?
        .len();
    let esp_content =
        2 * bootloader.size() + u64::from(device.image.slots) * (kernel_size + initrd_size);
    let parts = image::layout(device.image.size, device.image.slots, esp_content, key)?;
    let part = |name: &str| {
        parts
            .iter()
            .find(|p| p.name == name)
            .expect("layout has it")
    };
    if root_size > part("root-a").size {
        return Err(BuildError::ImageTooSmall {
            partition: "root-a".into(),
            needed: root_size,
            available: part("root-a").size,
            hint: format!("raise [image] size in {}", device.file.path),
        });
    }

    ctx.progress("assemble ESP (FAT32, systemd-boot, a unified kernel image per slot)");
    // A file of the boot loader's payload, by the end of its path.
    let boot_file = |name: &'static str, hint: &'static str| {
        bootloader
            .entries
            .iter()
            .find_map(|(path, e)| match e {
                Entry::File { digest, .. } if path.ends_with(&format!("/{name}")) => {
                    Some(digest.clone())
                }
                _ => None,
            })
            .ok_or(BuildError::Missing {
                device: device.name.clone(),
                what: name,
                hint,
            })
    };
    let efi = boot_file(
        "systemd-bootx64.efi",
        "the boot loader component must ship systemd-boot's EFI binary",
    )?;
    let stub = boot_file(
        "linuxx64.efi.stub",
        "the boot loader component must ship systemd-stub (systemd-boot-efi's linuxx64.efi.stub): each slot boots a unified kernel image built on it",
    )?;
    let vmlinuz = match kernel.entries.get("/boot/vmlinuz") {
        Some(Entry::File { digest, .. }) => digest.clone(),
        _ => {
            return Err(BuildError::BadKernel {
                package: "kernel".into(),
                message: "no /boot/vmlinuz".into(),
            });
        }
    };
    std::fs::create_dir_all(&work).map_err(|e| BuildError::io("create", &work, e))?;
    // Under Secure Boot the firmware starts only what db signed: systemd-boot and each UKI.
    let signed = |unsigned: PathBuf, name: &str| -> Result<PathBuf, BuildError> {
        match &ctx.secure_boot {
            None => Ok(unsigned),
            Some(keys) => {
                let out = work.join(format!("{name}.signed.efi"));
                crate::secure_boot::sign(keys, &unsigned, &out, epoch)?;
                Ok(out)
            }
        }
    };
    let systemd_boot = signed(ctx.store.blob_path(&efi), "systemd-boot")?;
    let mut esp_files = vec![
        ("/EFI/BOOT/BOOTX64.EFI".to_string(), systemd_boot.clone()),
        ("/EFI/systemd/systemd-bootx64.efi".to_string(), systemd_boot),
    ];
    // On a machine in setup mode, systemd-boot enrols the project's keys, then reboots into
    // Secure Boot (what real hardware does once its owner cleared the factory keys).
    if let Some(keys) = &ctx.secure_boot {
        for (name, file) in &keys.auth {
            esp_files.push((format!("/loader/keys/auto/{name}.auth"), file.clone()));
        }
    }
    let loader_conf = work.join("loader.conf");
    // No menu wait: the newest entry with tries left boots at once (3 s of every boot were the
    // menu's); holding a key at power-on shows the menu, as systemd-boot documents.
    let enroll = if ctx.secure_boot.is_some() {
        "secure-boot-enroll force\n"
    } else {
        ""
    };
    write(&loader_conf, &format!("timeout 0\neditor no\n{enroll}"))?;
    esp_files.push(("/loader/loader.conf".into(), loader_conf));
    let slots: Vec<&str> = if device.image.slots == 2 {
        vec!["a", "b"]
    } else {
        vec!["a"]
    };
    let root_sha256 = image::hash_range(&root_img, 0, root_size)?;
    let mut slot_infos = Vec::new();
    for slot in &slots {
        let root_part = part(&format!("root-{slot}"));
        // No root=PARTUUID=: one UKI serves every device of this image, whatever partition
        // UUIDs the image it was first flashed with gave it; init finds `root-SLOT` by the
        // root hash (compose-boot's `root`).
        let mut options_line = format!("ro compose.slot={slot} {}", verity.arg());
        for arg in &device.kernel_cmdline {
            options_line.push(' ');
            options_line.push_str(arg);
        }
        // One UKI per slot: its built-in command line names the slot.
        let uki = work.join(format!("uki-{slot}.efi"));
        let pcr11 = uki::assemble(
            &uki::Parts {
                stub: &ctx.store.blob_path(&stub),
                osrel: &uki::os_release(&device.name, &version),
                cmdline: &options_line,
                linux: &ctx.store.blob_path(&vmlinuz),
                initrd: &initrd,
            },
            &uki,
            &work.join(format!("uki-{slot}")),
        )?;
        // Both slots hold this image; slot a has the higher install serial, so it boots
        // first, and b is its fallback until an update installs something there.
        let entry_name = compose_boot::entry::EntryName::trial(slot);
        let entry = compose_boot::entry::Entry {
            device: device.name.clone(),
            version: version.clone(),
            generation: options.generation,
            slot: slot.to_string(),
            serial: if *slot == "a" { 1 } else { 0 },
            options: options_line,
            uki: true,
            root_size,
            root_sha256: root_sha256.clone(),
            pcr11: Some(pcr11.clone()),
        }
        .render();
        let entry_path = work.join(&entry_name);
        write(&entry_path, &entry)?;
        esp_files.push((format!("/loader/entries/{entry_name}"), entry_path));
        esp_files.push((
            format!("/compose/{slot}/uki.efi"),
            signed(uki, &format!("uki-{slot}"))?,
        ));
        slot_infos.push(SlotInfo {
            slot: slot.to_string(),
            partition: root_part.name.clone(),
            version: version.clone(),
            entry: entry_name,
            pcr11: Some(pcr11),
        });
    }
    let esp_img = work.join("esp.img");
    let serial = &image::uuid(&format!("{key}/esp-serial"))[..8];
    image::make_esp(&esp_img, part("esp").size, serial, epoch, &esp_files)?;

    ctx.progress("assemble var (ext4)");
    let var_img = work.join("var.img");
    image::mkfs_ext4(
        &var_img,
        part("var").size,
        "var",
        &image::uuid(&format!("{key}/var-fs")),
        epoch,
    )?;

    ctx.progress("write disk.raw (GPT)");
    let disk = out.join("disk.raw");
    image::write_gpt(
        &disk,
        device.image.size,
        &image::uuid(&format!("{key}/disk")),
        &parts,
    )?;
    let mut partitions = Vec::new();
    let esp_used: u64 = esp_files
        .iter()
        .map(|(_, f)| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
        .sum();
    for p in &parts {
        let (source, used) = match p.name.as_str() {
            "esp" => (&esp_img, esp_used),
            "var" => (&var_img, 0),
            _ => (&root_img, root_size),
        };
        image::write_partition(&disk, p, source)?;
        let mut p = p.clone();
        p.sha256 = image::hash_range(&disk, p.offset, p.size)?;
        p.used = used;
        partitions.push(p);
    }
    let mut files = BTreeMap::new();
    files.insert(
        "disk.raw".to_string(),
        std::fs::metadata(&disk)
            .map_err(|e| BuildError::io("stat", &disk, e))?
            .len(),
    );
    for format in &device.image.formats {
        if let Some(path) = image::convert(&disk, *format, &device.name, epoch)? {
            let size = std::fs::metadata(&path)
                .map_err(|e| BuildError::io("stat", &path, e))?
                .len();
            files.insert(
                path.file_name()
                    .expect("a file")
                    .to_string_lossy()
                    .into_owned(),
                size,
            );
        }
    }
    std::fs::remove_dir_all(&work).map_err(|e| BuildError::io("remove", &work, e))?;
    let info = ImageInfo {
        device: device.name.clone(),
        capabilities: device.capabilities.clone(),
        version,
        key: key.to_string(),
        generation: options.generation,
        update_key,
        epoch,
        components,
        partitions,
        slots: slot_infos,
        files,
        verity: Some(verity),
        secure_boot: ctx.secure_boot.is_some(),
        kernel_modules: {
            let mut m: Vec<String> = device
                .kernel_modules
                .iter()
                .chain(&ctx.module_requests)
                .map(|m| m.replace('-', "_"))
                .collect();
            m.sort();
            m.dedup();
            m
        },
    };
    write(
        &out.join("image.json"),
        &(serde_json::to_string_pretty(&info).expect("image info serializes") + "\n"),
    )?;
    Ok(info)
}

fn write(path: &Path, text: &str) -> Result<(), BuildError> {
    std::fs::write(path, text).map_err(|e| BuildError::io("write", path, e))
}

trait FlushAll {
    fn flush_all(self, path: &Path) -> Result<(), BuildError>;
}

impl FlushAll for std::io::BufWriter<std::fs::File> {
    fn flush_all(self, path: &Path) -> Result<(), BuildError> {
        self.into_inner()
            .map_err(|e| BuildError::io("write", path, e.into_error()))?
            .sync_all()
            .map_err(|e| BuildError::io("sync", path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_pins_at_most_two_ca_certificates_and_never_a_key() {
        let project = tempfile::tempdir().unwrap();
        assert!(tls_cas(project.path()).unwrap().is_empty());
        let dir = project.path().join(PROJECT_TLS_CAS);
        std::fs::create_dir_all(&dir).unwrap();
        let cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        std::fs::write(dir.join("ca.pem"), cert).unwrap();
        std::fs::write(dir.join("ca.key"), "secret, not pinned").unwrap();
        std::fs::write(dir.join("next.pem"), cert).unwrap();
        let cas = tls_cas(project.path()).unwrap();
        let names: Vec<&str> = cas.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["ca.pem", "next.pem"]);
        std::fs::write(dir.join("third.pem"), cert).unwrap();
        let e = tls_cas(project.path()).unwrap_err().to_string();
        assert!(e.contains("at most 2"), "{e}");
        std::fs::remove_file(dir.join("third.pem")).unwrap();
        let with_key =
            format!("{cert}-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n");
        std::fs::write(dir.join("next.pem"), with_key).unwrap();
        let e = tls_cas(project.path()).unwrap_err().to_string();
        assert!(e.contains("private key") && e.contains("next.pem"), "{e}");
    }
}
