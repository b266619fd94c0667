//! The channel a provisioning file comes through: a NoCloud seed, the small drive
//! cloud-init's NoCloud data source reads (a FAT or ISO 9660 file system labelled
//! `CIDATA`), holding `meta-data` (its instance id) and our `compose-provision.toml`.
//! QEMU attaches it as a second drive, a person copies it to a USB stick, and clouds and
//! hypervisors that speak NoCloud (Proxmox, libvirt, OpenStack's config drive is the same
//! idea) can hand it over unchanged.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// The volume label of a NoCloud seed.
pub const LABEL: &str = "CIDATA";
/// The provisioning file's name on the seed.
pub const FILE: &str = "compose-provision.toml";
/// NoCloud's instance description on the seed.
pub const META_DATA: &str = "meta-data";

/// The volume label of the file system on `device`, for FAT (12, 16, 32) and ISO 9660.
pub fn label(device: &Path) -> Option<String> {
    let mut f = std::fs::File::open(device).ok()?;
    let mut boot = [0u8; 512];
    f.read_exact(&mut boot).ok()?;
    if boot[510..512] == [0x55, 0xAA] {
        // FAT: the extended boot record's label, where its signature (0x29) says it is.
        let fat32 = boot[0x16..0x18] == [0, 0];
        let (signature, at) = if fat32 { (0x42, 0x47) } else { (0x26, 0x2B) };
        if boot[signature] == 0x29 {
            return Some(text(&boot[at..at + 11]));
        }
    }
    // ISO 9660: the primary volume descriptor at 32 KiB, its volume id at byte 40.
    let mut pvd = [0u8; 72];
    f.seek(SeekFrom::Start(32768)).ok()?;
    f.read_exact(&mut pvd).ok()?;
    if pvd[0] == 1 && &pvd[1..6] == b"CD001" {
        return Some(text(&pvd[40..72]));
    }
    None
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).trim_end().to_string()
}

/// The block devices (whole disks and partitions) whose file system is labelled `CIDATA`
/// (any case, as cloud-init accepts), under `/sys/class/block`.
pub fn find() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir("/sys/class/block") else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| Path::new("/dev").join(e.file_name()))
        .filter(|dev| label(dev).is_some_and(|l| l.eq_ignore_ascii_case(LABEL)))
        .collect();
    found.sort();
    found
}
