//! Which partition holds the booted slot's root. An entry of kernel and initramfs names it
//! (`root=PARTUUID=`); a UKI's built-in command line cannot: one UKI serves every device of
//! an image, while a device's partition UUIDs come from the image it was first flashed with.
//! So a UKI names the slot and the root hash, and the root is the partition named
//! `root-SLOT` whose dm-verity tree has that root hash (its top block, hashed with the salt).

use std::os::unix::fs::FileExt;

use sha2::{Digest, Sha256};

use crate::cmdline::Cmdline;
use crate::gpt::{self, Partition};
use crate::verity::{BLOCK, Verity};

/// The booted root and the disk it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub disk: String,
    pub parts: Vec<Partition>,
    pub root: Partition,
}

impl Found {
    pub fn root_device(&self) -> String {
        gpt::partition_device(&self.disk, self.root.number)
    }
}

/// Looks once through the disks the kernel knows; `None` when none holds the root (yet:
/// disks and their device nodes may still be appearing).
pub fn find(cmdline: &Cmdline) -> Option<Found> {
    find_in(cmdline, gpt::disks(), |disk, p, v| {
        holds_tree(&gpt::partition_device(disk, p.number), v)
    })
}

/// `find` over `disks`, `holds` checking a partition's tree (a seam for tests).
fn find_in(
    cmdline: &Cmdline,
    disks: Vec<(String, Vec<Partition>)>,
    holds: impl Fn(&str, &Partition, &Verity) -> bool,
) -> Option<Found> {
    let with = |disk: String, parts: Vec<Partition>, pick: &dyn Fn(&Partition) -> bool| {
        let root = parts.iter().find(|p| pick(p))?.clone();
        Some(Found { disk, parts, root })
    };
    if let Some(uuid) = &cmdline.root_partuuid {
        return disks
            .into_iter()
            .find_map(|(disk, parts)| with(disk, parts, &|p| &p.uuid == uuid));
    }
    let (Some(slot), Some(Ok(verity))) = (&cmdline.slot, &cmdline.verity) else {
        return None;
    };
    let name = format!("root-{slot}");
    disks.into_iter().find_map(|(disk, parts)| {
        let pick = |p: &Partition| p.name == name && holds(&disk, p, verity);
        with(disk.clone(), parts.clone(), &pick)
    })
}

/// Whether the partition at `device` holds the hash tree of `v` (after its data).
fn holds_tree(device: &str, v: &Verity) -> bool {
    let Ok(file) = std::fs::File::open(device) else {
        return false;
    };
    let mut top = vec![0u8; BLOCK as usize];
    file.read_exact_at(&mut top, v.data_size()).is_ok() && top_block_matches(v, &top)
}

/// dm-verity's root hash (format 1): SHA-256 of the salt, then the tree's top block.
fn top_block_matches(v: &Verity, top: &[u8]) -> bool {
    let Ok(salt) = hex::decode(&v.salt) else {
        return false;
    };
    let mut h = Sha256::new();
    h.update(&salt);
    h.update(top);
    hex::encode(h.finalize()) == v.root_hash
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(number: u32, name: &str, uuid: &str) -> Partition {
        Partition {
            number,
            type_guid: gpt::ESP_TYPE.into(),
            uuid: uuid.into(),
            name: name.into(),
        }
    }

    #[test]
    fn the_root_is_named_by_uuid_or_by_slot_and_tree() {
        let disks = || {
            vec![
                ("/dev/sda".to_string(), vec![part(2, "root-a", "u1")]),
                (
                    "/dev/vda".to_string(),
                    vec![part(2, "root-a", "u2"), part(3, "root-b", "u3")],
                ),
            ]
        };
        let by_uuid = crate::cmdline::parse("root=PARTUUID=U3 compose.slot=b");
        let found = find_in(&by_uuid, disks(), |_, _, _| false).unwrap();
        assert_eq!(
            (found.root_device(), found.root.name.as_str()),
            ("/dev/vda3".into(), "root-b")
        );
        let by_tree = crate::cmdline::parse(&format!(
            "compose.slot=a compose.verity=9:{}:{}",
            "a".repeat(64),
            "b".repeat(64)
        ));
        // The USB stick's root-a has another tree: the disk whose tree matches is the one.
        let found = find_in(&by_tree, disks(), |disk, _, _| disk == "/dev/vda").unwrap();
        assert_eq!(found.root_device(), "/dev/vda2");
        assert_eq!(find_in(&by_tree, disks(), |_, _, _| false), None);
        assert_eq!(
            find_in(
                &crate::cmdline::parse("compose.slot=a"),
                disks(),
                |_, _, _| true
            ),
            None
        );
    }

    #[test]
    fn the_root_hash_is_the_salted_hash_of_the_top_block() {
        // Format 1: the salt goes first, then the block.
        let top = vec![7u8; BLOCK as usize];
        let salt = "01".repeat(32);
        let mut h = Sha256::new();
        h.update([1u8; 32]);
        h.update(&top);
        let root_hash = hex::encode(h.finalize());
        let v = Verity {
            data_blocks: 1,
            root_hash,
            salt,
        };
        assert!(top_block_matches(&v, &top));
        assert!(!top_block_matches(&v, &vec![8u8; BLOCK as usize]));
    }
}
