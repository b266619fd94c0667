//! `compose publish`: adds a built image of a device to an update repository (static files,
//! see `compose_update::repo`). The slot's root file system, kernel and initramfs are read
//! from the built disk, split into content-defined chunks, and each chunk the repository
//! does not hold yet is stored zstd-compressed; then their indexes, the signed release and,
//! when it is the newest, `latest.json`. Every file is written aside and renamed into place,
//! in that order, so a cut-off publish leaves the repository as it was, plus unused chunks.

use std::path::{Path, PathBuf};

use compose_update::chunks::{self, ChunkIndex};
use compose_update::release::{Artifact, Release, SignedRelease};
use compose_update::repo;
use ed25519_dalek::SigningKey;
use serde::Serialize;

use crate::build::ImageInfo;

/// zstd level of stored chunks: small downloads for a moderate cost, once per chunk.
const ZSTD_LEVEL: i32 = 9;

/// Why an image could not be published. The repository is left as it was.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(
        "no built image in {0} (image.json is missing)\nhelp: build it first with `compose build --device DEVICE`"
    )]
    NotBuilt(PathBuf),
    #[error("cannot {what} {path}: {message}")]
    Io {
        what: &'static str,
        path: PathBuf,
        message: String,
    },
    #[error("{0}")]
    Image(String),
    #[error(transparent)]
    Tool(#[from] crate::tool::ToolError),
    #[error(transparent)]
    Write(#[from] crate::project::ProjectError),
    #[error(
        "{device} {version} has generation {generation}, but the repository already has {newest_version} at generation {newest}: devices would not take it\nhelp: build with a higher generation (`compose build --generation {next}`, or a later SOURCE_DATE_EPOCH)"
    )]
    NotNewer {
        device: String,
        version: String,
        generation: u64,
        newest_version: String,
        newest: u64,
        next: u64,
    },
    #[error(
        "the image trusts update key {trusted}, but this key is {signing}: devices would refuse the release\nhelp: publish with the secret key of keys/update.pub, or build the image with this key's public half"
    )]
    KeyMismatch { trusted: String, signing: String },
    #[error(
        "a release valid for 0 seconds expires as it is made: devices would refuse it\nhelp: give it at least a day (`--valid-days 1`; the default is 30)"
    )]
    ExpiresAtOnce,
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl Fn(std::io::Error) -> PublishError + 'a {
    move |e| PublishError::Io {
        what,
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// What was published, and what a device that has the previous version fetches.
#[derive(Debug, Clone, Serialize)]
pub struct PublishReport {
    pub device: String,
    pub version: String,
    pub generation: u64,
    /// The release file, in the repository.
    pub release: String,
    /// Whether `latest.json` now names this version.
    pub latest: bool,
    pub expires: u64,
    pub artifacts: Vec<ArtifactReport>,
}

/// One image of the release, in chunks.
#[derive(Debug, Clone, Serialize)]
pub struct ArtifactReport {
    pub name: String,
    pub size: u64,
    pub chunks: usize,
    /// Chunks the repository did not hold before (what a device fetches when its running
    /// slot is the previous version and both share the rest).
    pub new_chunks: usize,
    pub new_bytes: u64,
    /// Bytes the new chunks take compressed.
    pub new_stored: u64,
}

/// Publishes the image built in `image_dir` (`out/DEVICE`) to `repo`, signed with `key`,
/// expiring `valid_for` seconds after `now`.
pub fn publish(
    repo_dir: &Path,
    image_dir: &Path,
    key: &SigningKey,
    now: u64,
    valid_for: u64,
) -> Result<PublishReport, PublishError> {
    if valid_for == 0 {
        return Err(PublishError::ExpiresAtOnce);
    }
    let info_path = image_dir.join("image.json");
    if !info_path.is_file() {
        return Err(PublishError::NotBuilt(image_dir.to_path_buf()));
    }
    let text = std::fs::read_to_string(&info_path).map_err(io("read", &info_path))?;
    let info: ImageInfo = serde_json::from_str(&text)
        .map_err(|e| PublishError::Image(format!("{}: {e}", info_path.display())))?;
    let disk = image_dir.join("disk.raw");
    let slot = info
        .slots
        .first()
        .ok_or_else(|| PublishError::Image(format!("{}: no slots", info_path.display())))?;
    let part = |name: &str| {
        info.partitions
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| {
                PublishError::Image(format!("{}: no partition {name}", info_path.display()))
            })
    };
    let root_part = part(&slot.partition)?;
    let esp = part("esp")?;
    // Refusals first, before the images are read.
    let key_id = compose_update::keys::key_id(&key.verifying_key());
    if let Some(trusted) = &info.update_key
        && *trusted != key_id
    {
        return Err(PublishError::KeyMismatch {
            trusted: trusted.clone(),
            signing: key_id,
        });
    }

    // Devices only take higher generations: refuse what none would take.
    let newest = read_release(repo_dir, &repo::latest(&info.device))?;
    if let Some(newest) = &newest
        && newest.version != info.version
        && newest.generation >= info.generation
    {
        return Err(PublishError::NotNewer {
            device: info.device.clone(),
            version: info.version.clone(),
            generation: info.generation,
            newest_version: newest.version.clone(),
            newest: newest.generation,
            next: newest.generation + 1,
        });
    }

    let root = read_range(&disk, root_part.offset, root_part.used)?;
    // Each slot's UKI; the kernel and initramfs (for agents that predate UKIs) are the
    // first one's sections. Images from before UKIs have the two files instead.
    let mut ukis = Vec::new();
    for s in &info.slots {
        ukis.push((
            s.slot.clone(),
            esp_file(&disk, esp.offset, &format!("/compose/{}/uki.efi", s.slot)).ok(),
        ));
    }
    let (kernel, initrd) = match ukis.first() {
        Some((_, Some(uki))) => {
            let pe = compose_boot::uki::Pe::parse(uki)
                .map_err(|e| PublishError::Image(format!("slot {}'s uki.efi: {e}", slot.slot)))?;
            let section = |name: &str| {
                pe.section(name).map(<[u8]>::to_vec).ok_or_else(|| {
                    PublishError::Image(format!(
                        "slot {}'s uki.efi has no {name} section",
                        slot.slot
                    ))
                })
            };
            (section(".linux")?, section(".initrd")?)
        }
        _ => (
            esp_file(
                &disk,
                esp.offset,
                &format!("/compose/{}/vmlinuz", slot.slot),
            )?,
            esp_file(
                &disk,
                esp.offset,
                &format!("/compose/{}/initrd.img", slot.slot),
            )?,
        ),
    };

    let mut reports = Vec::new();
    let mut store = |name: &str, bytes: &[u8]| -> Result<Artifact, PublishError> {
        let (artifact, report) = store_artifact(repo_dir, name, bytes)?;
        reports.push(report);
        Ok(artifact)
    };
    let root_a = store("root", &root)?;
    let kernel_a = store("kernel", &kernel)?;
    let initrd_a = store("initrd", &initrd)?;
    let mut uki_artifacts = std::collections::BTreeMap::new();
    let mut pcr11 = std::collections::BTreeMap::new();
    for (slot, uki) in &ukis {
        if let Some(uki) = uki {
            uki_artifacts.insert(slot.clone(), store(&format!("uki-{slot}"), uki)?);
            pcr11.insert(
                slot.clone(),
                compose_boot::uki::pcr11(uki)
                    .map_err(|e| PublishError::Image(format!("slot {slot}'s uki.efi: {e}")))?,
            );
        }
    }
    let release = Release {
        device: info.device.clone(),
        version: info.version.clone(),
        generation: info.generation,
        created: now,
        expires: now + valid_for,
        key_id,
        root: root_a,
        kernel: kernel_a,
        initrd: initrd_a,
        verity: info.verity.clone(),
        ukis: uki_artifacts,
        pcr11,
    };
    let signed = compose_update::release::sign(&release, key);
    let release_path = repo::release(&info.device, &info.version);
    write_atomic(&repo_dir.join(&release_path), &signed)?;
    let latest = newest.is_none_or(|n| n.generation <= info.generation);
    if latest {
        write_atomic(&repo_dir.join(repo::latest(&info.device)), &signed)?;
    }
    Ok(PublishReport {
        device: info.device,
        version: info.version,
        generation: info.generation,
        release: release_path,
        latest,
        expires: release.expires,
        artifacts: reports,
    })
}

/// The release in repository file `rel`, unchecked (the publisher's own repository).
fn read_release(repo_dir: &Path, rel: &str) -> Result<Option<Release>, PublishError> {
    let path = repo_dir.join(rel);
    if !path.exists() {
        return Ok(None);
    }
    let bytes = std::fs::read(&path).map_err(io("read", &path))?;
    let bad = |e: serde_json::Error| {
        PublishError::Image(format!(
            "{} is not a release ({e}); move it away or use another repository",
            path.display()
        ))
    };
    let signed: SignedRelease = serde_json::from_slice(&bytes).map_err(bad)?;
    serde_json::from_str(&signed.release).map(Some).map_err(bad)
}

/// Chunks of `bytes` into the repository (new ones only), then its index.
fn store_artifact(
    repo_dir: &Path,
    name: &str,
    bytes: &[u8],
) -> Result<(Artifact, ArtifactReport), PublishError> {
    let index = chunks::split(bytes);
    let mut report = ArtifactReport {
        name: name.into(),
        size: index.size,
        chunks: index.chunks.len(),
        new_chunks: 0,
        new_bytes: 0,
        new_stored: 0,
    };
    for c in &index.chunks {
        let path = repo_dir.join(repo::chunk(&c.digest));
        if path.exists() {
            continue;
        }
        let start = c.offset as usize;
        let data = &bytes[start..start + c.length as usize];
        let packed = zstd::bulk::compress(data, ZSTD_LEVEL).map_err(io("compress", &path))?;
        write_atomic(&path, &packed)?;
        report.new_chunks += 1;
        report.new_bytes += u64::from(c.length);
        report.new_stored += packed.len() as u64;
    }
    let index_bytes = index_bytes(&index);
    write_atomic(&repo_dir.join(repo::index(&index.sha256)), &index_bytes)?;
    Ok((
        Artifact {
            size: index.size,
            sha256: index.sha256.clone(),
            index_sha256: compose_update::sha256_hex(&index_bytes),
        },
        report,
    ))
}

fn index_bytes(index: &ChunkIndex) -> Vec<u8> {
    let mut b = serde_json::to_vec(index).expect("an index serializes");
    b.push(b'\n');
    b
}

fn read_range(path: &Path, offset: u64, len: u64) -> Result<Vec<u8>, PublishError> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).map_err(io("open", path))?;
    f.seek(SeekFrom::Start(offset)).map_err(io("read", path))?;
    let mut buf = vec![0; len as usize];
    f.read_exact(&mut buf).map_err(io("read", path))?;
    Ok(buf)
}

/// A file of the ESP (FAT) at `offset` in `disk`, read with mtools.
fn esp_file(disk: &Path, offset: u64, file: &str) -> Result<Vec<u8>, PublishError> {
    let mut mtype = crate::tool::mtools("mtype", &format!("{}@@{offset}", disk.display()));
    mtype.arg(format!("::{file}"));
    Ok(crate::tool::run(&mut mtype, "mtype", "mtools")?)
}

/// Writes `bytes` to `path` (its folder made if missing) through a sibling file and a
/// rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PublishError> {
    let dir = path.parent().expect("repository files are in folders");
    std::fs::create_dir_all(dir).map_err(io("create", dir))?;
    Ok(crate::project::write_atomic(path, bytes)?)
}
