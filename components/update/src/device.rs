//! The running device's slots, found as init finds them: the booted slot and its root
//! partition from the kernel command line, the other slot and the ESP from the same disk's
//! GPT. The ESP is mounted for the agent's writes and unmounted (after a sync) when done.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use compose_boot::gpt;

use crate::agent::AgentError;
use crate::install::{Esp, Target};

/// Where the agent mounts the ESP (init uses `/run/compose/esp`).
pub const ESP_MOUNT: &str = "/run/compose/update/esp";

/// The slots of the disk this system booted from.
#[derive(Debug, Clone)]
pub struct Device {
    pub booted: String,
    pub booted_partition: PathBuf,
    pub other: Target,
    pub esp_partition: PathBuf,
}

/// The other slot's name: `a` <-> `b`.
pub fn other_slot(slot: &str) -> Option<&'static str> {
    match slot {
        "a" => Some("b"),
        "b" => Some("a"),
        _ => None,
    }
}

/// Finds the booted slot, the other one and the ESP.
pub fn discover() -> Result<Device, AgentError> {
    let text = std::fs::read_to_string("/proc/cmdline").map_err(|e| AgentError::Read {
        path: "/proc/cmdline".into(),
        source: e,
    })?;
    let cmdline = compose_boot::cmdline::parse(&text);
    let Some(slot) = cmdline.slot.clone() else {
        return Err(AgentError::Slots(
            "the kernel command line names no compose slot (compose.slot=); boot a compose image through its boot entries".into(),
        ));
    };
    let other = other_slot(&slot)
        .ok_or_else(|| AgentError::Slots(format!("booted slot `{slot}` is neither a nor b")))?;
    let compose_boot::root::Found {
        disk,
        parts,
        root: booted_part,
    } = compose_boot::root::find(&cmdline).ok_or_else(|| {
        AgentError::Slots(format!(
            "no disk holds the booted root of slot {slot} (named by root=PARTUUID= or by its dm-verity root hash)"
        ))
    })?;
    let named = |name: &str| {
        parts
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| {
                AgentError::Slots(format!(
                    "{disk} has no `{name}` partition: this image has one slot, and updates need two ([image] slots = 2)"
                ))
            })
    };
    let other_part = named(&format!("root-{other}"))?;
    let esp = parts
        .iter()
        .find(|p| p.type_guid == gpt::ESP_TYPE)
        .ok_or_else(|| AgentError::Slots(format!("{disk} has no ESP")))?;
    Ok(Device {
        booted: slot.clone(),
        booted_partition: gpt::partition_device(&disk, booted_part.number).into(),
        other: Target {
            booted: slot,
            slot: other.to_string(),
            partition: gpt::partition_device(&disk, other_part.number).into(),
            partuuid: other_part.uuid.clone(),
        },
        esp_partition: gpt::partition_device(&disk, esp.number).into(),
    })
}

/// The ESP, mounted at `ESP_MOUNT` while this lives.
#[derive(Debug)]
pub struct MountedEsp {
    pub esp: Esp,
}

impl MountedEsp {
    pub fn mount(device: &Path) -> Result<MountedEsp, AgentError> {
        std::fs::create_dir_all(ESP_MOUNT).map_err(|e| AgentError::Write {
            path: ESP_MOUNT.into(),
            source: e,
        })?;
        nix::mount::mount(
            Some(device),
            ESP_MOUNT,
            Some("vfat"),
            nix::mount::MsFlags::MS_NOATIME,
            None::<&str>,
        )
        .map_err(|source| AgentError::MountEsp {
            device: device.to_path_buf(),
            source,
        })?;
        Ok(MountedEsp {
            esp: Esp::new(ESP_MOUNT),
        })
    }
}

impl Drop for MountedEsp {
    fn drop(&mut self) {
        nix::unistd::sync();
        let _ = nix::mount::umount(ESP_MOUNT);
    }
}

/// The erofs image at the start of `partition`, read whole (its size is in its
/// superblock), and the dm-verity hash tree after it when `verity` names one: the booted
/// slot's root, as the seed of an update.
pub fn read_root(
    partition: &Path,
    verity: Option<&compose_boot::verity::Verity>,
) -> Result<Vec<u8>, AgentError> {
    let read_err = |e: std::io::Error| AgentError::Read {
        path: partition.to_path_buf(),
        source: e,
    };
    let file = File::open(partition).map_err(read_err)?;
    let mut sb = [0u8; 128];
    file.read_exact_at(&mut sb, 1024).map_err(read_err)?;
    let size = erofs_size(&sb).ok_or_else(|| AgentError::NotErofs {
        partition: partition.to_path_buf(),
    })?;
    let size = match verity {
        Some(v) if v.data_size() >= size => v.data_size() + v.tree_size(),
        _ => size,
    };
    let mut bytes = vec![0u8; size as usize];
    file.read_exact_at(&mut bytes, 0).map_err(read_err)?;
    Ok(bytes)
}

/// Size in bytes of an erofs image from its superblock (the 128 bytes at offset 1024).
pub fn erofs_size(sb: &[u8]) -> Option<u64> {
    const MAGIC: u32 = 0xE0F5_E1E2;
    if sb.len() < 40 || u32::from_le_bytes(sb[0..4].try_into().ok()?) != MAGIC {
        return None;
    }
    let blkszbits = u32::from(sb[12]);
    let blocks = u64::from(u32::from_le_bytes(sb[36..40].try_into().ok()?));
    (9..=16).contains(&blkszbits).then(|| blocks << blkszbits)
}

/// Asks init to reboot (SIGINT to PID 1, as Ctrl-Alt-Del does).
pub fn reboot() -> Result<(), AgentError> {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(1),
        nix::sys::signal::Signal::SIGINT,
    )
    .map_err(|e| AgentError::Slots(format!("cannot ask init to reboot: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_size_of_an_erofs_image_is_in_its_superblock() {
        let mut sb = [0u8; 128];
        sb[0..4].copy_from_slice(&0xE0F5_E1E2u32.to_le_bytes());
        sb[12] = 12;
        sb[36..40].copy_from_slice(&1300u32.to_le_bytes());
        assert_eq!(erofs_size(&sb), Some(1300 * 4096));
        sb[0] = 0;
        assert_eq!(erofs_size(&sb), None);
        assert_eq!(
            (other_slot("a"), other_slot("b"), other_slot("c")),
            (Some("b"), Some("a"), None)
        );
    }
}
