//! Finding partitions by reading GPTs, as init must (there is no udev in the initramfs)
//! and the update agent does (it finds the other slot and the ESP the same way).

/// One partition of a GPT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// 1-based, as in `/dev/vda2`.
    pub number: u32,
    pub type_guid: String,
    pub uuid: String,
    pub name: String,
}

/// A GUID as stored on disk (first three fields little-endian), as lowercase text.
fn guid(b: &[u8]) -> String {
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[3],
        b[2],
        b[1],
        b[0],
        b[5],
        b[4],
        b[7],
        b[6],
        b[8],
        b[9],
        b[10],
        b[11],
        b[12],
        b[13],
        b[14],
        b[15]
    )
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Reads the GPT of a disk whose first bytes (at least up to the end of the partition
/// entries) are `disk`, with `sector`-byte sectors. `None` if there is no GPT.
pub fn parse(disk: &[u8], sector: usize) -> Option<Vec<Partition>> {
    let header = disk.get(sector..sector + 92)?;
    if &header[..8] != b"EFI PART" {
        return None;
    }
    let entries_lba = u64_at(header, 72) as usize;
    let count = u32_at(header, 80) as usize;
    let size = u32_at(header, 84) as usize;
    // Any disk may be attached: a table outside the specification is ignored, never trusted.
    if size < 128 || count > 1024 || entries_lba > 64 {
        return None;
    }
    let mut parts = Vec::new();
    for i in 0..count {
        let at = entries_lba * sector + i * size;
        let e = disk.get(at..at + size)?;
        if e[..16].iter().all(|b| *b == 0) {
            continue;
        }
        let name: Vec<u16> = e[56..128]
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|c| *c != 0)
            .collect();
        parts.push(Partition {
            number: i as u32 + 1,
            type_guid: guid(&e[..16]),
            uuid: guid(&e[16..32]),
            name: String::from_utf16_lossy(&name),
        });
    }
    Some(parts)
}

/// Bytes per sector of the images compose builds.
pub const SECTOR: u64 = 512;

/// Checks the GPT of a whole disk image of `size` bytes read through `disk`: the primary
/// header (sector 1) and the backup (the last sector) each carry the signature and a valid
/// CRC32, point at each other, and their partition entries match their CRC32s. A cut or
/// grown image fails here, because its backup header is not in its last sector. Returns what
/// is wrong, in words.
pub fn check_both_headers(
    disk: &mut (impl std::io::Read + std::io::Seek),
    size: u64,
) -> Result<(), String> {
    if size % SECTOR != 0 || size < 3 * SECTOR {
        return Err(format!(
            "its size, {size} bytes, is not a whole disk of {SECTOR}-byte sectors"
        ));
    }
    let last = size / SECTOR - 1;
    let primary =
        header_at(disk, 1).map_err(|e| format!("the primary GPT header (sector 1) {e}"))?;
    if primary.alternate != last {
        return Err(format!(
            "the primary GPT header puts the backup header in sector {}, but the image's last sector is {last}: the image was cut or grown",
            primary.alternate
        ));
    }
    let backup = header_at(disk, last).map_err(|e| {
        format!("the backup GPT header (the last sector, {last}) {e}: the image was cut or its end overwritten")
    })?;
    if backup.alternate != 1 {
        return Err(format!(
            "the backup GPT header points at sector {} for the primary, not 1",
            backup.alternate
        ));
    }
    for (which, h) in [("primary", &primary), ("backup", &backup)] {
        let bytes = u64::from(h.entries) * u64::from(h.entry_size);
        if bytes > 1 << 20 || h.entries_lba.saturating_mul(SECTOR).saturating_add(bytes) > size {
            return Err(format!(
                "the {which} GPT's partition entries lie outside the image"
            ));
        }
        let mut entries = vec![0u8; bytes as usize];
        disk.seek(std::io::SeekFrom::Start(h.entries_lba * SECTOR))
            .and_then(|_| disk.read_exact(&mut entries))
            .map_err(|e| format!("the {which} GPT's partition entries cannot be read: {e}"))?;
        if crc32fast::hash(&entries) != h.entries_crc {
            return Err(format!(
                "the {which} GPT's partition entries do not match their CRC32: they were changed"
            ));
        }
    }
    Ok(())
}

struct Header {
    alternate: u64,
    entries_lba: u64,
    entries: u32,
    entry_size: u32,
    entries_crc: u32,
}

fn header_at(disk: &mut (impl std::io::Read + std::io::Seek), lba: u64) -> Result<Header, String> {
    let mut sector = [0u8; SECTOR as usize];
    disk.seek(std::io::SeekFrom::Start(lba * SECTOR))
        .and_then(|_| disk.read_exact(&mut sector))
        .map_err(|e| format!("cannot be read: {e}"))?;
    if &sector[..8] != b"EFI PART" {
        return Err("is missing (no `EFI PART` signature)".into());
    }
    let header_size = u32_at(&sector, 12) as usize;
    if !(92..=SECTOR as usize).contains(&header_size) {
        return Err(format!("has an impossible size, {header_size} bytes"));
    }
    let mut copy = sector[..header_size].to_vec();
    copy[16..20].fill(0);
    if crc32fast::hash(&copy) != u32_at(&sector, 16) {
        return Err("does not match its CRC32".into());
    }
    if u64_at(&sector, 24) != lba {
        return Err(format!("says it is in sector {}", u64_at(&sector, 24)));
    }
    Ok(Header {
        alternate: u64_at(&sector, 32),
        entries_lba: u64_at(&sector, 72),
        entries: u32_at(&sector, 80),
        entry_size: u32_at(&sector, 84),
        entries_crc: u32_at(&sector, 88),
    })
}

/// The ESP's partition type.
pub const ESP_TYPE: &str = "c12a7328-f81f-11d2-ba4b-00a0c93ec93b";

/// Every disk with a GPT (`/dev/vda`, its partitions), from `/sys/block`; loop and RAM
/// disks are skipped.
pub fn disks() -> Vec<(String, Vec<Partition>)> {
    use std::io::Read;
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/sys/block") else {
        return out;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("loop") || name.starts_with("ram") {
            continue;
        }
        let sector: usize = std::fs::read_to_string(entry.path().join("queue/logical_block_size"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(512);
        let dev = format!("/dev/{name}");
        let mut buf = vec![0u8; sector * 34];
        let read = std::fs::File::open(&dev).and_then(|mut f| f.read_exact(&mut buf));
        if let Some(parts) = read.ok().and_then(|()| parse(&buf, sector)) {
            out.push((dev, parts));
        }
    }
    out
}

/// `/dev/vda` + 2 -> `/dev/vda2`; `/dev/nvme0n1` + 2 -> `/dev/nvme0n1p2`.
pub fn partition_device(disk: &str, number: u32) -> String {
    if disk.ends_with(|c: char| c.is_ascii_digit()) {
        format!("{disk}p{number}")
    } else {
        format!("{disk}{number}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 4 MiB disk with a GPT written by util-linux's sfdisk (as `compose build` does).
    fn sfdisk_disk() -> Vec<u8> {
        use std::io::Write;
        let file = std::env::temp_dir().join(format!("compose-gpt-{}.raw", std::process::id()));
        std::fs::write(&file, vec![0u8; 4 << 20]).unwrap();
        let mut sfdisk = std::process::Command::new("sfdisk")
            .arg("--quiet")
            .arg(&file)
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("sfdisk runs (Debian: fdisk)");
        sfdisk
            .stdin
            .take()
            .unwrap()
            .write_all(b"label: gpt\n,1M\n,\n")
            .unwrap();
        assert!(sfdisk.wait().unwrap().success());
        let disk = std::fs::read(&file).unwrap();
        std::fs::remove_file(&file).unwrap();
        disk
    }

    fn check(disk: &[u8]) -> Result<(), String> {
        check_both_headers(&mut std::io::Cursor::new(disk), disk.len() as u64)
    }

    // Review: `compose flash --to` accepted an image cut by 16 KiB, backup GPT and all.
    #[test]
    fn a_cut_grown_or_changed_image_fails_the_gpt_check() {
        let disk = sfdisk_disk();
        check(&disk).unwrap();
        let cut = &disk[..disk.len() - 16 * 1024];
        let e = check(cut).unwrap_err();
        assert!(e.contains("was cut or grown"), "{e}");
        let mut grown = disk.clone();
        grown.extend(vec![0u8; 16 * 1024]);
        assert!(check(&grown).unwrap_err().contains("was cut or grown"));
        let mut no_backup = disk.clone();
        let end = no_backup.len();
        no_backup[end - 512..].fill(0);
        let e = check(&no_backup).unwrap_err();
        assert!(
            e.contains("backup GPT header") && e.contains("missing"),
            "{e}"
        );
        let mut entries = disk.clone();
        entries[1024 + 56] ^= 1; // a byte of the first entry's name
        let e = check(&entries).unwrap_err();
        assert!(e.contains("primary GPT's partition entries"), "{e}");
        let mut header = disk.clone();
        header[512 + 40] ^= 1; // first usable LBA
        let e = check(&header).unwrap_err();
        assert!(e.contains("CRC32"), "{e}");
        assert!(check(&disk[..1000]).unwrap_err().contains("whole disk"));
    }

    #[test]
    fn reads_a_gpt_written_by_hand() {
        let mut disk = vec![0u8; 512 * 34];
        disk[512..520].copy_from_slice(b"EFI PART");
        disk[512 + 72..512 + 80].copy_from_slice(&2u64.to_le_bytes());
        disk[512 + 80..512 + 84].copy_from_slice(&128u32.to_le_bytes());
        disk[512 + 84..512 + 88].copy_from_slice(&128u32.to_le_bytes());
        let e = 1024 + 128; // the second entry
        // ESP type C12A7328-F81F-11D2-BA4B-00A0C93EC93B, mixed-endian on disk.
        disk[e..e + 16].copy_from_slice(&[
            0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e,
            0xc9, 0x3b,
        ]);
        disk[e + 16..e + 32].copy_from_slice(&[1; 16]);
        for (i, c) in "esp".encode_utf16().enumerate() {
            disk[e + 56 + 2 * i..e + 58 + 2 * i].copy_from_slice(&c.to_le_bytes());
        }
        let parts = parse(&disk, 512).unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].number, 2);
        assert_eq!(parts[0].type_guid, "c12a7328-f81f-11d2-ba4b-00a0c93ec93b");
        assert_eq!(parts[0].uuid, "01010101-0101-0101-0101-010101010101");
        assert_eq!(parts[0].name, "esp");
        assert_eq!(parse(&vec![0; 4096], 512), None);
        let mut bad = disk.clone();
        bad[512 + 84..512 + 88].copy_from_slice(&16u32.to_le_bytes());
        assert_eq!(
            parse(&bad, 512),
            None,
            "entries smaller than the spec allows"
        );
        assert_eq!(partition_device("/dev/vda", 2), "/dev/vda2");
        assert_eq!(partition_device("/dev/nvme0n1", 2), "/dev/nvme0n1p2");
    }
}
