//! Disk assembly: the partition layout, file systems made straight from folders
//! (mkfs.erofs, mkfs.ext4, mkfs.vfat + mtools), a GPT written by sfdisk, and the partition
//! images copied into place. No loop devices, no mounts, no root needed.

use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use super::{BuildError, run_tool};
use crate::device::ImageFormat;
use crate::store::sha256;
use crate::tool::ToolError;

const MIB: u64 = 1 << 20;
/// The smallest ESP: room for systemd-boot and two slots of a typical kernel.
pub const MIN_ESP_SIZE: u64 = 64 * MIB;

/// GPT partition types (UEFI and the Discoverable Partitions Specification).
pub const ESP_TYPE: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
pub const ROOT_X86_64_TYPE: &str = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709";
pub const VAR_TYPE: &str = "4D21B016-B534-45C2-A9FB-5C16E091FD2D";

/// One partition of the disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    pub name: String,
    #[serde(rename = "type")]
    pub type_guid: String,
    pub uuid: String,
    pub offset: u64,
    pub size: u64,
    /// SHA-256 of the partition's bytes, filled in once written.
    #[serde(default)]
    pub sha256: String,
    /// Bytes of content: the file system image, or the files on the ESP.
    #[serde(default)]
    pub used: u64,
}

/// Where each partition goes on a disk of the device's size, with an ESP big enough for
/// `esp_content` bytes of files.
pub fn layout(
    total: u64,
    slots: u8,
    esp_content: u64,
    seed: &str,
) -> Result<Vec<Partition>, BuildError> {
    let esp = MIN_ESP_SIZE.max((esp_content + esp_content / 4 + 8 * MIB).div_ceil(MIB) * MIB);
    let total = total / MIB * MIB;
    // 1 MiB in front for the GPT and alignment, 1 MiB at the end for the backup GPT.
    let usable = total.saturating_sub(2 * MIB);
    let var = (total / 8 / MIB * MIB).max(32 * MIB);
    let for_roots = usable.saturating_sub(esp + var);
    let root = for_roots / u64::from(slots) / MIB * MIB;
    if root < 16 * MIB {
        return Err(BuildError::ImageTooSmall {
            partition: "root-a".into(),
            needed: 16 * MIB,
            available: root,
            hint: format!(
                "the disk of {} MiB leaves too little room after esp and var",
                total / MIB
            ),
        });
    }
    let mut parts = Vec::new();
    let mut offset = MIB;
    let mut add = |name: &str, type_guid: &str, size: u64| {
        parts.push(Partition {
            name: name.into(),
            type_guid: type_guid.into(),
            uuid: uuid(&format!("{seed}/{name}")),
            offset,
            size,
            sha256: String::new(),
            used: 0,
        });
        offset += size;
    };
    add("esp", ESP_TYPE, esp);
    add("root-a", ROOT_X86_64_TYPE, root);
    if slots == 2 {
        add("root-b", ROOT_X86_64_TYPE, root);
    }
    add("var", VAR_TYPE, var);
    Ok(parts)
}

/// A UUID derived from `seed` (so the same inputs give the same UUIDs).
pub fn uuid(seed: &str) -> String {
    let h = sha256(seed.as_bytes());
    let mut b = hex::decode(&h[..32]).expect("hex of a digest");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = hex::encode(b).to_uppercase();
    format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )
}

/// A read-only root file system (erofs, lz4hc) from a folder: every file root's when
/// `all_root`, else owned as in the folder.
pub fn mkfs_erofs(
    dir: &Path,
    out: &Path,
    uuid: &str,
    epoch: u64,
    all_root: bool,
) -> Result<(), BuildError> {
    let mut cmd = Command::new("mkfs.erofs");
    cmd.arg("-zlz4hc")
        .arg(format!("-T{epoch}"))
        .arg(format!("-U{uuid}"))
        // No host extended attributes (SELinux labels and the like) in the image.
        .args(["--quiet", "-x", "-1"]);
    if all_root {
        cmd.arg("--all-root");
    }
    run_tool(cmd.arg(out).arg(dir), "mkfs.erofs", "erofs-utils")
}

/// Appends a dm-verity hash tree to the file system image `image` (padded to whole 4096-byte
/// blocks first) with veritysetup, and returns what opening it needs. The salt derives from
/// `seed`, and there is no verity superblock (so no random UUID): the same image and seed
/// give the same tree.
pub fn append_verity(image: &Path, seed: &str) -> Result<compose_boot::verity::Verity, BuildError> {
    use compose_boot::verity::BLOCK;
    let len = fs::metadata(image)
        .map_err(|e| BuildError::io("stat", image, e))?
        .len();
    let data = len.next_multiple_of(BLOCK);
    fs::OpenOptions::new()
        .write(true)
        .open(image)
        .and_then(|f| f.set_len(data))
        .map_err(|e| BuildError::io("pad", image, e))?;
    let salt = sha256(format!("{seed}/verity-salt").as_bytes());
    let out = Command::new("veritysetup")
        .args([
            "format",
            "--no-superblock",
            "--hash=sha256",
            "--data-block-size=4096",
            "--hash-block-size=4096",
        ])
        .arg(format!("--data-blocks={}", data / BLOCK))
        .arg(format!("--hash-offset={data}"))
        .arg(format!("--salt={salt}"))
        .arg(image)
        .arg(image)
        .output()
        .map_err(ToolError::missing("veritysetup", "cryptsetup-bin"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(ToolError::Failed {
            tool: "veritysetup".into(),
            message: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stderr).trim(),
                stdout.trim()
            ),
        }
        .into());
    }
    let root_hash = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Root hash:"))
        .map(|h| h.trim().to_string())
        .ok_or_else(|| ToolError::Failed {
            tool: "veritysetup".into(),
            message: format!("no `Root hash:` line in its output:\n{stdout}"),
        })?;
    compose_boot::verity::Verity::parse(&format!("{}:{root_hash}:{salt}", data / BLOCK)).map_err(
        |message| {
            ToolError::Failed {
                tool: "veritysetup".into(),
                message,
            }
            .into()
        },
    )
}

/// mke2fs's configuration, ours rather than the host's `/etc/mke2fs.conf`, so the same
/// inputs give the same file system on every build machine (these are bookworm's ext4
/// defaults).
const MKE2FS_CONF: &str = "[defaults]
\tbase_features = sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr
\tdefault_mntopts = acl,user_xattr
\tenable_periodic_fsck = 0
\tblocksize = 4096
\tinode_size = 256
\tinode_ratio = 16384

[fs_types]
\text4 = {
\t\tfeatures = has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize
\t}
";

/// An empty ext4 file system of `size` bytes, reproducible: fixed UUID, hash seed, time and
/// configuration.
pub fn mkfs_ext4(
    out: &Path,
    size: u64,
    label: &str,
    uuid: &str,
    epoch: u64,
) -> Result<(), BuildError> {
    let _ = fs::remove_file(out);
    let conf = out.with_extension("mke2fs.conf");
    fs::write(&conf, MKE2FS_CONF).map_err(|e| BuildError::io("write", &conf, e))?;
    let result = run_tool(
        Command::new("mkfs.ext4")
            .args(["-q", "-F", "-b", "4096", "-L", label, "-U", uuid, "-E"])
            .arg(format!(
                "root_owner=0:0,hash_seed={uuid},lazy_itable_init=0,nodiscard"
            ))
            .arg(out)
            .arg(format!("{}k", size / 1024))
            .env("E2FSPROGS_FAKE_TIME", epoch.to_string())
            .env("MKE2FS_CONFIG", &conf),
        "mkfs.ext4",
        "e2fsprogs",
    );
    let _ = fs::remove_file(&conf);
    result
}

/// A FAT32 ESP of `size` bytes holding `files` (ESP path, source file), written with mtools.
pub fn make_esp(
    out: &Path,
    size: u64,
    serial: &str,
    epoch: u64,
    files: &[(String, PathBuf)],
) -> Result<(), BuildError> {
    let needed: u64 = files
        .iter()
        .map(|(_, p)| fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    if needed + 2 * MIB > size {
        return Err(BuildError::ImageTooSmall {
            partition: "esp".into(),
            needed: needed + 2 * MIB,
            available: size,
            hint: "kernels and initramfs images of both slots live on the ESP".into(),
        });
    }
    let _ = fs::remove_file(out);
    run_tool(
        Command::new("mkfs.vfat")
            .args([
                "-C",
                "-F",
                "32",
                "-s",
                "1",
                "-n",
                "ESP",
                "--invariant",
                "-i",
                serial,
            ])
            .arg(out)
            .arg((size / 1024).to_string()),
        "mkfs.vfat",
        "dosfstools",
    )?;
    let mtools = |tool: &str| {
        let mut c = crate::tool::mtools(tool, &out.to_string_lossy());
        // FAT stores local time: UTC keeps the image independent of the host's time zone.
        c.env("SOURCE_DATE_EPOCH", epoch.to_string())
            .env("TZ", "UTC");
        c
    };
    let mut dirs: Vec<String> = Vec::new();
    for (dest, _) in files {
        let mut at = String::new();
        for part in dest
            .trim_start_matches('/')
            .split('/')
            .collect::<Vec<_>>()
            .iter()
            .rev()
            .skip(1)
            .rev()
        {
            at = format!("{at}/{part}");
            if !dirs.contains(&at) {
                dirs.push(at.clone());
            }
        }
    }
    for d in &dirs {
        run_tool(mtools("mmd").arg(format!("::{d}")), "mmd", "mtools")?;
    }
    for (dest, src) in files {
        run_tool(
            mtools("mcopy").arg(src).arg(format!("::{dest}")),
            "mcopy",
            "mtools",
        )?;
    }
    Ok(())
}

/// Writes the GPT of `parts` onto `disk` (a file of `total` bytes) with sfdisk.
pub fn write_gpt(
    disk: &Path,
    total: u64,
    disk_uuid: &str,
    parts: &[Partition],
) -> Result<(), BuildError> {
    let f = fs::File::create(disk).map_err(|e| BuildError::io("create", disk, e))?;
    f.set_len(total / MIB * MIB)
        .map_err(|e| BuildError::io("size", disk, e))?;
    drop(f);
    let mut script = format!("label: gpt\nlabel-id: {disk_uuid}\nunit: sectors\nfirst-lba: 2048\n");
    for p in parts {
        script.push_str(&format!(
            "start={}, size={}, type={}, uuid={}, name=\"{}\"\n",
            p.offset / 512,
            p.size / 512,
            p.type_guid,
            p.uuid,
            p.name
        ));
    }
    let mut child = Command::new("sfdisk")
        .args([
            "--quiet",
            "--no-reread",
            "--no-tell-kernel",
            "--wipe",
            "never",
        ])
        .arg(disk)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(ToolError::missing("sfdisk", "fdisk"))?;
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(script.as_bytes())
        .map_err(|e| BuildError::io("write to", Path::new("sfdisk"), e))?;
    let out = child
        .wait_with_output()
        .map_err(|e| BuildError::io("wait for", Path::new("sfdisk"), e))?;
    if !out.status.success() {
        return Err(ToolError::Failed {
            tool: "sfdisk".into(),
            message: String::from_utf8_lossy(&out.stderr).trim().into(),
        }
        .into());
    }
    Ok(())
}

/// Copies a partition image into the disk at `part.offset`.
pub fn write_partition(disk: &Path, part: &Partition, image: &Path) -> Result<(), BuildError> {
    let len = fs::metadata(image)
        .map_err(|e| BuildError::io("stat", image, e))?
        .len();
    if len > part.size {
        return Err(BuildError::ImageTooSmall {
            partition: part.name.clone(),
            needed: len,
            available: part.size,
            hint: "raise [image] size in the device profile".into(),
        });
    }
    let mut out = fs::OpenOptions::new()
        .write(true)
        .open(disk)
        .map_err(|e| BuildError::io("open", disk, e))?;
    out.seek(SeekFrom::Start(part.offset))
        .map_err(|e| BuildError::io("seek", disk, e))?;
    let mut input = fs::File::open(image).map_err(|e| BuildError::io("open", image, e))?;
    std::io::copy(&mut input, &mut out).map_err(|e| BuildError::io("write", disk, e))?;
    Ok(())
}

/// SHA-256 of `size` bytes of `disk` from `offset`.
pub fn hash_range(disk: &Path, offset: u64, size: u64) -> Result<String, BuildError> {
    Ok(hash_ranges(disk, &[(offset, size)])?.remove(0))
}

/// SHA-256 of each `(offset, size)` range of `disk` (they may overlap or nest), in one read
/// from the first range's start to the last one's end. A range past the end of `disk` is
/// hashed as far as the file goes.
pub fn hash_ranges(disk: &Path, ranges: &[(u64, u64)]) -> Result<Vec<String>, BuildError> {
    use sha2::{Digest, Sha256};
    use std::io::Read;
    let start = ranges.iter().map(|r| r.0).min().unwrap_or(0);
    let end = ranges.iter().map(|r| r.0 + r.1).max().unwrap_or(0);
    let mut f = fs::File::open(disk).map_err(|e| BuildError::io("open", disk, e))?;
    f.seek(SeekFrom::Start(start))
        .map_err(|e| BuildError::io("seek", disk, e))?;
    let mut hashers = vec![Sha256::new(); ranges.len()];
    let mut at = start;
    let mut buf = vec![0u8; 4 * MIB as usize];
    while at < end {
        let chunk = (end - at).min(buf.len() as u64) as usize;
        let n = f
            .read(&mut buf[..chunk])
            .map_err(|e| BuildError::io("read", disk, e))?;
        if n == 0 {
            break;
        }
        for (hasher, &(offset, size)) in hashers.iter_mut().zip(ranges) {
            let from = offset.max(at);
            let to = (offset + size).min(at + n as u64);
            if from < to {
                hasher.update(&buf[(from - at) as usize..(to - at) as usize]);
            }
        }
        at += n as u64;
    }
    Ok(hashers
        .into_iter()
        .map(|h| hex::encode(h.finalize()))
        .collect())
}

/// Converts the raw disk to another format (qemu-img; tar for the cloud shapes), beside
/// it; returns the file written. `name` names a virtual machine (OVA); `epoch` is the
/// time stamped into archives.
pub fn convert(
    raw: &Path,
    format: ImageFormat,
    name: &str,
    epoch: u64,
) -> Result<Option<PathBuf>, BuildError> {
    use super::cloud;
    let (name, ext) = match format {
        ImageFormat::Raw => return Ok(None),
        ImageFormat::Azure => return cloud::azure(raw).map(Some),
        ImageFormat::Gce => return cloud::gce(raw, epoch).map(Some),
        ImageFormat::Aws => return cloud::aws(raw).map(Some),
        ImageFormat::Ova => return cloud::ova(raw, name, epoch).map(Some),
        ImageFormat::Qcow2 => ("qcow2", "qcow2"),
        ImageFormat::Vmdk => ("vmdk", "vmdk"),
        ImageFormat::Vhd => ("vpc", "vhd"),
    };
    let out = raw.with_extension(ext);
    tracing::info!("convert {} to {name}", raw.display());
    run_tool(
        Command::new("qemu-img")
            .args(["convert", "-f", "raw", "-O", name])
            .arg(raw)
            .arg(&out),
        "qemu-img",
        "qemu-utils",
    )?;
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_of_the_vm_disk() {
        let parts = layout(512 * MIB, 2, 30 * MIB, "vm").unwrap();
        let shown: Vec<(String, u64, u64)> = parts
            .iter()
            .map(|p| (p.name.clone(), p.offset / MIB, p.size / MIB))
            .collect();
        assert_eq!(
            shown,
            [
                ("esp".into(), 1, 64),
                ("root-a".into(), 65, 191),
                ("root-b".into(), 256, 191),
                ("var".into(), 447, 64)
            ]
        );
        assert!(parts.iter().all(|p| p.offset + p.size <= 511 * MIB));
    }

    #[test]
    fn esp_grows_with_its_content() {
        let parts = layout(4096 * MIB, 2, 80 * MIB, "console").unwrap();
        assert_eq!(parts[0].size, 108 * MIB);
    }

    #[test]
    fn tiny_disk_is_an_error_naming_the_partition() {
        let err = layout(100 * MIB, 2, 0, "x").unwrap_err();
        assert!(err.to_string().contains("root-a"), "{err}");
    }

    #[test]
    fn uuids_are_stable_and_well_formed() {
        assert_eq!(uuid("a"), uuid("a"));
        assert_ne!(uuid("a"), uuid("b"));
        let u = uuid("a");
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }
}
