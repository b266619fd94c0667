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

/// The disk holding the partition `uuid` (lowercase), and its partitions.
pub fn disk_with(uuid: &str) -> Option<(String, Vec<Partition>)> {
    disks()
        .into_iter()
        .find(|(_, parts)| parts.iter().any(|p| p.uuid == uuid))
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
