//! `compose inspect`: what a disk image holds, read from the image file with existing
//! tools (sfdisk, mtools, fsck.erofs), never by mounting it.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::tool::ToolError;

/// Why an image could not be inspected.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error("{path} is not a compose disk image: {reason}")]
    NotAnImage { path: PathBuf, reason: String },
    #[error("the image has no root slot `{slot}`; slots: {known}")]
    UnknownSlot { slot: String, known: String },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Inspection {
    pub image: PathBuf,
    pub size: u64,
    pub disk_uuid: String,
    pub partitions: Vec<PartitionEntry>,
    pub boot_entries: Vec<BootEntry>,
    pub esp_files: Vec<String>,
    /// Files of the slot asked for with `--files`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<FileEntry>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartitionEntry {
    pub name: String,
    #[serde(rename = "type")]
    pub type_guid: String,
    pub uuid: String,
    pub offset: u64,
    pub size: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BootEntry {
    pub file: String,
    pub slot: Option<String>,
    /// Boot attempts left (`+N` in the file name); `None` once blessed.
    pub tries_left: Option<u32>,
    pub title: String,
    /// The image's version.
    pub version: String,
    pub generation: Option<u64>,
    /// The install serial: systemd-boot boots the highest first.
    pub serial: Option<u64>,
    /// Whether the slot's partition holds the root file system the entry names (its
    /// SHA-256); `None` for entries that name none.
    pub root_sound: Option<bool>,
    /// The root hash the entry's command line gives dm-verity; `None`: read unchecked.
    #[serde(default)]
    pub verity_root_hash: Option<String>,
    /// PCR 11 the slot's UKI measures (what a TPM shows after it boots), as the build or the
    /// update agent computed it.
    #[serde(default)]
    pub pcr11: Option<String>,
    pub linux: String,
    pub initrd: String,
    /// The EFI program the entry starts (a slot's unified kernel image), if any.
    #[serde(default)]
    pub efi: String,
    pub options: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileEntry {
    pub path: String,
    pub kind: String,
    pub size: u64,
    pub mode: String,
}

fn tool(
    cmd: &mut Command,
    name: &'static str,
    package: &'static str,
) -> Result<String, InspectError> {
    Ok(String::from_utf8_lossy(&crate::tool::run(cmd, name, package)?).into_owned())
}

#[derive(Deserialize)]
struct SfdiskJson {
    partitiontable: SfdiskTable,
}

#[derive(Deserialize)]
struct SfdiskTable {
    label: String,
    id: String,
    #[serde(default = "sector")]
    sectorsize: u64,
    #[serde(default)]
    partitions: Vec<SfdiskPartition>,
}

fn sector() -> u64 {
    512
}

#[derive(Deserialize)]
struct SfdiskPartition {
    start: u64,
    size: u64,
    #[serde(rename = "type")]
    type_guid: String,
    uuid: String,
    #[serde(default)]
    name: String,
}

/// Reads partitions, boot entries and ESP files of `image`, and the files of `slot`.
pub fn inspect(image: &Path, slot: Option<&str>) -> Result<Inspection, InspectError> {
    let size = std::fs::metadata(image)
        .map_err(|source| InspectError::Io {
            path: image.to_path_buf(),
            source,
        })?
        .len();
    let json = tool(
        Command::new("sfdisk").arg("--json").arg(image),
        "sfdisk",
        "fdisk",
    )
    .map_err(|e| match e {
        InspectError::Tool(ToolError::Failed { message, .. }) => InspectError::NotAnImage {
            path: image.to_path_buf(),
            reason: message,
        },
        other => other,
    })?;
    let table: SfdiskJson = serde_json::from_str(&json).map_err(|e| InspectError::NotAnImage {
        path: image.to_path_buf(),
        reason: e.to_string(),
    })?;
    let table = table.partitiontable;
    if table.label != "gpt" {
        return Err(InspectError::NotAnImage {
            path: image.to_path_buf(),
            reason: format!("its partition table is {}, not GPT", table.label),
        });
    }
    let partitions: Vec<PartitionEntry> = table
        .partitions
        .iter()
        .map(|p| PartitionEntry {
            name: p.name.clone(),
            type_guid: p.type_guid.clone(),
            uuid: p.uuid.clone(),
            offset: p.start * table.sectorsize,
            size: p.size * table.sectorsize,
        })
        .collect();
    let esp =
        partitions
            .iter()
            .find(|p| p.name == "esp")
            .ok_or_else(|| InspectError::NotAnImage {
                path: image.to_path_buf(),
                reason: "it has no `esp` partition".into(),
            })?;
    let at = format!("{}@@{}", image.display(), esp.offset);
    let mtools = |name: &'static str| crate::tool::mtools(name, &at);
    let listing = tool(mtools("mdir").args(["-/", "-b", "::/"]), "mdir", "mtools")?;
    let mut esp_files: Vec<String> = listing
        .lines()
        .map(|l| l.trim().trim_start_matches("::").to_string())
        .filter(|l| !l.is_empty() && !l.ends_with('/'))
        .collect();
    esp_files.sort();
    let mut boot_entries = Vec::new();
    for file in esp_files
        .iter()
        .filter(|f| f.starts_with("/loader/entries/") && f.ends_with(".conf"))
    {
        let text = tool(mtools("mtype").arg(format!("::{file}")), "mtype", "mtools")?;
        let mut entry = parse_entry(file, &text);
        // A slot is sound when its partition holds the root its entry says was installed.
        let root = compose_boot::entry::Entry::parse(&text);
        let part = entry
            .slot
            .as_ref()
            .and_then(|s| partitions.iter().find(|p| p.name == format!("root-{s}")));
        if let (Some(root), Some(part)) = (root, part) {
            let found =
                crate::build::image::hash_range(image, part.offset, root.root_size.min(part.size))
                    .map_err(|e| InspectError::NotAnImage {
                        path: image.to_path_buf(),
                        reason: e.to_string(),
                    })?;
            entry.root_sound = Some(found == root.root_sha256);
        }
        boot_entries.push(entry);
    }
    let files = match slot {
        None => None,
        Some(slot) => {
            let name = format!("root-{slot}");
            let part = partitions.iter().find(|p| p.name == name).ok_or_else(|| {
                InspectError::UnknownSlot {
                    slot: slot.to_string(),
                    known: partitions
                        .iter()
                        .filter_map(|p| p.name.strip_prefix("root-"))
                        .collect::<Vec<_>>()
                        .join(", "),
                }
            })?;
            Some(slot_files(image, part)?)
        }
    };
    Ok(Inspection {
        image: image.to_path_buf(),
        size,
        disk_uuid: table.id,
        partitions,
        boot_entries,
        esp_files,
        files,
    })
}

/// A systemd-boot entry file; `compose-a+2-1.conf` has 2 tries left (and 1 used).
pub fn parse_entry(file: &str, text: &str) -> BootEntry {
    let field = |key: &str| {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(key)
                    .filter(|rest| rest.starts_with(' '))
                    .map(|rest| rest.trim().to_string())
            })
            .unwrap_or_default()
    };
    let name = compose_boot::entry::EntryName::parse(file);
    // compose's own entries say the image's version and generation in comments; their
    // `version` line is the install serial that orders them.
    let ours = compose_boot::entry::Entry::parse(text);
    BootEntry {
        file: file.to_string(),
        slot: name.as_ref().map(|n| n.slot.clone()),
        tries_left: name.and_then(|n| n.tries_left),
        title: field("title"),
        version: ours
            .as_ref()
            .map_or_else(|| field("version"), |e| e.version.clone()),
        generation: ours.as_ref().map(|e| e.generation),
        serial: ours.as_ref().map(|e| e.serial),
        root_sound: None,
        verity_root_hash: ours
            .as_ref()
            .and_then(|e| compose_boot::entry::options_verity(&e.options))
            .map(|v| v.root_hash),
        pcr11: ours.as_ref().and_then(|e| e.pcr11.clone()),
        linux: field("linux"),
        initrd: field("initrd"),
        efi: field("efi"),
        // A UKI's entry keeps its built-in command line in a comment (compose-boot's entry).
        options: ours
            .as_ref()
            .map_or_else(|| field("options"), |e| e.options.clone()),
    }
}

/// Lists a root slot's files: the partition is copied out and checked and extracted by
/// fsck.erofs into a temporary folder.
fn slot_files(image: &Path, part: &PartitionEntry) -> Result<Vec<FileEntry>, InspectError> {
    use std::io::{Read, Seek, SeekFrom};
    use std::os::unix::fs::PermissionsExt;
    let scratch = std::env::temp_dir().join(format!(
        "compose-inspect-{}-{}",
        std::process::id(),
        part.name
    ));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).map_err(|source| InspectError::Io {
        path: scratch.clone(),
        source,
    })?;
    let result = (|| {
        let fs_image = scratch.join("root.erofs");
        let mut input = std::fs::File::open(image).map_err(|source| InspectError::Io {
            path: image.to_path_buf(),
            source,
        })?;
        input
            .seek(SeekFrom::Start(part.offset))
            .map_err(|source| InspectError::Io {
                path: image.to_path_buf(),
                source,
            })?;
        let mut output = std::fs::File::create(&fs_image).map_err(|source| InspectError::Io {
            path: fs_image.clone(),
            source,
        })?;
        std::io::copy(&mut input.take(part.size), &mut output).map_err(|source| {
            InspectError::Io {
                path: fs_image.clone(),
                source,
            }
        })?;
        let tree = scratch.join("tree");
        tool(
            Command::new("fsck.erofs")
                .arg(format!("--extract={}", tree.display()))
                .arg(&fs_image),
            "fsck.erofs",
            "erofs-utils",
        )?;
        let mut files = Vec::new();
        for entry in walkdir::WalkDir::new(&tree)
            .min_depth(1)
            .sort_by_file_name()
        {
            let entry = entry.map_err(|e| InspectError::Io {
                path: tree.clone(),
                source: e.into(),
            })?;
            let meta = entry
                .path()
                .symlink_metadata()
                .map_err(|source| InspectError::Io {
                    path: entry.path().to_path_buf(),
                    source,
                })?;
            let kind = if meta.file_type().is_symlink() {
                "symlink"
            } else if meta.is_dir() {
                "dir"
            } else {
                "file"
            };
            files.push(FileEntry {
                path: format!(
                    "/{}",
                    entry
                        .path()
                        .strip_prefix(&tree)
                        .expect("below tree")
                        .display()
                ),
                kind: kind.into(),
                size: if meta.is_file() { meta.len() } else { 0 },
                mode: format!("{:04o}", meta.permissions().mode() & 0o7777),
            });
        }
        Ok(files)
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

#[cfg(test)]
mod tests {
    use super::parse_entry;

    #[test]
    fn boot_counter_in_entry_names() {
        let e = parse_entry(
            "/loader/entries/compose-a+3.conf",
            "title t\nversion 1\nlinux /compose/a/vmlinuz\n",
        );
        assert_eq!(
            (e.slot.as_deref(), e.tries_left, e.version.as_str()),
            (Some("a"), Some(3), "1")
        );
        let e = parse_entry("/loader/entries/compose-b+0-3.conf", "");
        assert_eq!(e.tries_left, Some(0));
        let e = parse_entry("/loader/entries/compose-a.conf", "");
        assert_eq!(e.tries_left, None);
    }
}
