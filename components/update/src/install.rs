//! Installing a release into the slot that did not boot, and choosing which slot boots
//! next, on the ESP's systemd-boot entries. Everything the new slot needs is fetched and
//! checked before the first write, so a bad download changes nothing. The order of writes
//! is what makes a power cut harmless at any moment: the target slot's entry is removed
//! first (from then on only the booted slot can boot), then the slot image, kernel and
//! initramfs are written and checked, and the new entry, on trial with `TRIES` tries and the highest install
//! serial, is written aside and renamed into place last. Until that rename the device
//! boots what it booted before; after it, the new slot, and if that never gets ready,
//! systemd-boot falls back to the blessed one.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use compose_boot::entry::{self, Entry, EntryName};
use serde::Serialize;

use crate::agent::{AgentError, Repo, sync_dir};
use crate::apply::Written;
use crate::release::{Artifact, Release};

/// A mounted ESP (or any folder laid out like one).
#[derive(Debug, Clone)]
pub struct Esp {
    pub root: PathBuf,
}

/// One of compose's entries on the ESP.
#[derive(Debug, Clone)]
pub struct SlotEntry {
    pub file: String,
    pub name: EntryName,
    pub entry: Entry,
}

fn write_err(path: &Path) -> impl Fn(std::io::Error) -> AgentError + '_ {
    move |e| AgentError::Write {
        path: path.to_path_buf(),
        source: e,
    }
}

impl Esp {
    pub fn new(root: impl Into<PathBuf>) -> Esp {
        Esp { root: root.into() }
    }

    fn entries_dir(&self) -> PathBuf {
        self.root.join("loader/entries")
    }

    /// compose's entries (other files are left alone and not listed).
    pub fn entries(&self) -> Result<Vec<SlotEntry>, AgentError> {
        let dir = self.entries_dir();
        let list = fs::read_dir(&dir).map_err(|e| AgentError::Read {
            path: dir.clone(),
            source: e,
        })?;
        let mut out = Vec::new();
        for item in list.filter_map(Result::ok) {
            let file = item.file_name().to_string_lossy().into_owned();
            let Some(name) = EntryName::parse(&file) else {
                continue;
            };
            let Some(entry) = fs::read_to_string(item.path())
                .ok()
                .and_then(|t| Entry::parse(&t))
            else {
                continue;
            };
            out.push(SlotEntry { file, name, entry });
        }
        out.sort_by(|a, b| a.file.cmp(&b.file));
        Ok(out)
    }

    /// Removes every entry of `slot`: it cannot boot until a new one is written.
    pub fn remove_slot(&self, slot: &str) -> Result<(), AgentError> {
        let dir = self.entries_dir();
        for item in fs::read_dir(&dir)
            .map_err(write_err(&dir))?
            .filter_map(Result::ok)
        {
            let file = item.file_name().to_string_lossy().into_owned();
            if EntryName::parse(&file).is_some_and(|n| n.slot == slot) {
                fs::remove_file(item.path()).map_err(write_err(&item.path()))?;
            }
        }
        sync_dir(&dir);
        Ok(())
    }

    /// Writes `entry` as the file `file` (aside, synced, renamed over it).
    fn put_entry(&self, file: &str, entry: &Entry) -> Result<(), AgentError> {
        let dir = self.entries_dir();
        let path = dir.join(file);
        // Not `*.conf`: systemd-boot never reads a half-written entry.
        let aside = dir.join(format!("{file}.partial"));
        fs::write(&aside, entry.render()).map_err(write_err(&aside))?;
        File::open(&aside)
            .and_then(|f| f.sync_all())
            .map_err(write_err(&aside))?;
        crate::agent::rename_durably(&aside, &path)
    }
}

/// The serial that makes an entry boot before every one of `entries`.
fn next_serial(entries: &[SlotEntry]) -> u64 {
    entries.iter().map(|e| e.entry.serial).max().unwrap_or(0) + 1
}

/// Where a release goes: the slot that did not boot.
#[derive(Debug, Clone)]
pub struct Target {
    /// The booted slot (`a`), whose entry's kernel command line the new one copies.
    pub booted: String,
    /// The slot to write (`b`).
    pub slot: String,
    /// Its root partition (a block device, or a file in tests).
    pub partition: PathBuf,
    /// Its GPT partition UUID, lowercase.
    pub partuuid: String,
}

/// What an install did.
#[derive(Debug, Clone, Serialize)]
pub struct Installed {
    pub device: String,
    pub version: String,
    pub generation: u64,
    pub slot: String,
    /// The new entry's file name.
    pub entry: String,
    pub root: Written,
    /// The UKI, or the kernel and the initramfs.
    pub boot_files: Vec<Written>,
}

/// Installs `release` into `target`: see the module's comment for the order of writes.
/// `seed` is the booted slot's root image (its chunks are copied, not fetched); a release
/// that already failed all its tries in that slot is refused unless `retry_failed` (a
/// deploy by name); `step` is told when each write is done (a power cut after it is what
/// the tests try).
pub fn install(
    repo: &Repo,
    release: &Release,
    seed: &[u8],
    target: &Target,
    esp: &Esp,
    retry_failed: bool,
    step: &mut dyn FnMut(&str),
) -> Result<Installed, AgentError> {
    if target.slot == target.booted {
        return Err(AgentError::Slots(format!(
            "refusing to write slot {}: it is the one running",
            target.slot
        )));
    }
    // Read once: the booted entry's command line, the target's last state, the serials.
    let entries = esp.entries()?;
    let of = |slot: &str| entries.iter().find(|e| e.name.slot == slot);
    let booted = of(&target.booted).ok_or_else(|| {
        AgentError::Slots(format!(
            "the ESP has no boot entry for the booted slot {}; was this device booted from a compose image?",
            target.booted
        ))
    })?;
    if booted.name.tries_left.is_some() {
        return Err(AgentError::Slots(format!(
            "the booted slot {} is on trial (not yet blessed): writing slot {} now would destroy the slot it falls back to; wait until this boot is ready",
            target.booted, target.slot
        )));
    }
    if let Some(failed) = of(&target.slot) {
        let same = failed.entry.device == release.device && failed.entry.version == release.version;
        if failed.name.exhausted() && same && !retry_failed {
            return Err(AgentError::Slots(format!(
                "{} {} failed all its boot tries in slot {}; publish a newer release, or deploy it by name to try it again",
                release.device, release.version, target.slot
            )));
        }
    }
    // Everything the new slot needs is fetched and checked before the first write: a
    // missing or bad chunk leaves both slots and their entries as they were.
    let partition = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&target.partition)
        .map_err(write_err(&target.partition))?;
    let room = partition_size(&partition).map_err(write_err(&target.partition))?;
    if room < release.root.size {
        return Err(AgentError::Slots(format!(
            "slot {}'s partition {} has {room} bytes; the release's root needs {}",
            target.slot,
            target.partition.display(),
            release.root.size
        )));
    }
    let root_fetched = crate::agent::prefetch(repo, &release.root, &[seed], Some(&partition))?;
    let dir = esp.root.join("compose").join(&target.slot);
    let booted_dir = esp.root.join("compose").join(&target.booted);
    // The slot's boot files: its UKI when the release has one for this slot, else kernel
    // and initramfs. The same files of both slots are their seeds, the booted slot's and
    // the target's own (read now: they are removed before the new ones are written).
    let uki = release.ukis.get(&target.slot);
    let wanted: Vec<(&str, &Artifact)> = match uki {
        Some(artifact) => vec![(UKI, artifact)],
        None => vec![
            ("vmlinuz", &release.kernel),
            ("initrd.img", &release.initrd),
        ],
    };
    let boot_files = wanted
        .into_iter()
        .map(|(name, artifact)| {
            let seeds = [
                fs::read(booted_dir.join(name)).unwrap_or_default(),
                fs::read(dir.join(name)).unwrap_or_default(),
            ];
            let fetched = crate::agent::prefetch(repo, artifact, &[&seeds[0], &seeds[1]], None)?;
            Ok((name, seeds, fetched))
        })
        .collect::<Result<Vec<_>, AgentError>>()?;
    // A UKI's command line is what boots: it must name this slot and the release's root.
    let (options, pcr11) = match &boot_files[..] {
        [(UKI, seeds, fetched)] => {
            let bytes = fetched.bytes(&[&seeds[0], &seeds[1]]).ok_or_else(|| {
                AgentError::Slots("the fetched UKI does not add up to its index".into())
            })?;
            let (options, pcr11) = uki_cmdline(&bytes, release, &target.slot)?;
            (options, Some(pcr11))
        }
        _ => (
            entry::options_for(
                &booted.entry.options,
                &target.slot,
                &target.partuuid,
                release.verity.as_ref(),
            ),
            None,
        ),
    };
    step(&format!(
        "slot {}'s release fetched and checked",
        target.slot
    ));

    esp.remove_slot(&target.slot)?;
    step(&format!("slot {}'s boot entry removed", target.slot));
    let root = crate::agent::write_fetched(&root_fetched, &[seed], &partition)?;
    step(&format!("slot {}'s root written and checked", target.slot));

    fs::create_dir_all(&dir).map_err(write_err(&dir))?;
    // The slot's old boot files boot nothing now (its entry is gone): they go first, so
    // the ESP needs no room for a third set while the new one is written.
    for name in [UKI, "vmlinuz", "initrd.img"] {
        match fs::remove_file(dir.join(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(write_err(&dir.join(name))(e));
            }
            _ => {}
        }
    }
    let mut written = Vec::new();
    for (name, seeds, fetched) in &boot_files {
        let out = dir.join(name);
        written.push(crate::agent::write_aside(
            fetched,
            &[&seeds[0], &seeds[1]],
            &out,
        )?);
    }
    sync_dir(&dir);
    step(&format!(
        "slot {}'s kernel and initramfs written and checked",
        target.slot
    ));

    let entry = Entry {
        device: release.device.clone(),
        version: release.version.clone(),
        generation: release.generation,
        slot: target.slot.clone(),
        serial: next_serial(&entries),
        options,
        uki: uki.is_some(),
        pcr11,
        root_size: release.root.size,
        root_sha256: release.root.sha256.clone(),
    };
    let file = EntryName::trial(&target.slot);
    esp.put_entry(&file, &entry)?;
    step(&format!(
        "entry {file} written: slot {} boots next",
        target.slot
    ));
    Ok(Installed {
        device: release.device.clone(),
        version: release.version.clone(),
        generation: release.generation,
        slot: target.slot.clone(),
        entry: file,
        root,
        boot_files: written,
    })
}

/// The UKI's file name in a slot's folder on the ESP.
const UKI: &str = "uki.efi";

/// The built-in command line of `uki` and the PCR 11 it measures, if it boots `slot` with
/// `release`'s root: the slot named, and the root hash the release signed (a UKI built for
/// another root would open this one through the wrong tree, and fail every block), and the
/// PCR 11 the release signed, if it names one.
fn uki_cmdline(uki: &[u8], release: &Release, slot: &str) -> Result<(String, String), AgentError> {
    let refuse = |why: String| {
        AgentError::Refused(crate::release::Refusal::UkiMismatch {
            slot: slot.to_string(),
            why,
        })
    };
    let cmdline = compose_boot::uki::cmdline(uki).map_err(refuse)?;
    let parsed = compose_boot::cmdline::parse(&cmdline);
    if parsed.slot.as_deref() != Some(slot) {
        return Err(refuse(format!(
            "its command line names slot {:?}",
            parsed.slot
        )));
    }
    let verity = parsed.verity.and_then(Result::ok);
    if verity != release.verity {
        return Err(refuse(format!(
            "its root hash {} is not the release's {}",
            verity.map_or("(none)".into(), |v| v.root_hash),
            release
                .verity
                .as_ref()
                .map_or("(none)", |v| v.root_hash.as_str())
        )));
    }
    let pcr11 = compose_boot::uki::pcr11(uki).map_err(refuse)?;
    if let Some(signed) = release.pcr11.get(slot)
        && *signed != pcr11
    {
        return Err(refuse(format!(
            "it measures PCR 11 {pcr11}, the release says {signed}"
        )));
    }
    Ok((cmdline, pcr11))
}

/// Size of a block device or file.
fn partition_size(file: &File) -> std::io::Result<u64> {
    use std::io::{Seek, SeekFrom};
    let mut f = file;
    let end = f.seek(SeekFrom::End(0))?;
    f.seek(SeekFrom::Start(0))?;
    Ok(end)
}

/// Makes `slot` boot next (a rollback to the slot that did not boot): its entry gets the
/// highest serial; its name, and so its try counter or blessing, stays.
pub fn boot_next(esp: &Esp, slot: &str) -> Result<SlotEntry, AgentError> {
    let entries = esp.entries()?;
    let Some(mut found) = entries.iter().find(|e| e.name.slot == slot).cloned() else {
        return Err(AgentError::Slots(format!(
            "slot {slot} has no boot entry: nothing is installed there to go back to"
        )));
    };
    if found.name.exhausted() {
        return Err(AgentError::Slots(format!(
            "slot {slot} ({} {}) failed all its boot tries; install a release there instead (compose-update deploy VERSION)",
            found.entry.device, found.entry.version
        )));
    }
    found.entry.serial = next_serial(&entries);
    esp.put_entry(&found.file, &found.entry)?;
    Ok(found)
}

/// What boots next and what the fallback is, in systemd-boot's order.
#[derive(Debug, Clone, Serialize)]
pub struct BootState {
    pub entries: Vec<EntryState>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EntryState {
    pub slot: String,
    pub device: String,
    pub version: String,
    pub generation: u64,
    pub serial: u64,
    /// `None` once blessed.
    pub tries_left: Option<u32>,
    pub file: String,
    /// The root hash its command line gives dm-verity; `None`: the root is read unchecked.
    pub verity_root_hash: Option<String>,
    /// What the kernel found reading the booted root so far (`verified` or `corrupted`);
    /// only for the slot that booted, and only through dm-verity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verity_state: Option<&'static str>,
    /// PCR 11 its UKI measures, as the entry records it.
    pub pcr11: Option<String>,
    /// PCR 11 as the TPM says now; only for the slot that booted, on a device with a TPM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pcr11_measured: Option<String>,
}

/// The entries in the order systemd-boot tries them.
pub fn boot_state(esp: &Esp) -> Result<BootState, AgentError> {
    let mut found = esp.entries()?;
    entry::sort_boot_order(&mut found, |e| (&e.name, &e.entry));
    let entries = found
        .into_iter()
        .map(|SlotEntry { file, name, entry }| EntryState {
            slot: entry.slot,
            device: entry.device,
            version: entry.version,
            generation: entry.generation,
            serial: entry.serial,
            tries_left: name.tries_left,
            file,
            verity_root_hash: entry::options_verity(&entry.options).map(|v| v.root_hash),
            verity_state: None,
            pcr11: entry.pcr11,
            pcr11_measured: None,
        })
        .collect();
    Ok(BootState { entries })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::Artifact;

    impl Esp {
        /// The entry of `slot`, if it has one.
        fn entry(&self, slot: &str) -> Result<Option<SlotEntry>, AgentError> {
            Ok(self.entries()?.into_iter().find(|e| e.name.slot == slot))
        }
    }

    fn entry(slot: &str, version: &str, serial: u64) -> Entry {
        Entry {
            device: "vm".into(),
            version: version.into(),
            generation: serial,
            slot: slot.into(),
            serial,
            options: format!("root=PARTUUID=1 ro compose.slot={slot}"),
            uki: false,
            root_size: 0,
            root_sha256: String::new(),
            pcr11: None,
        }
    }

    /// An ESP with these entry files.
    fn esp(files: &[(&str, Entry)]) -> (tempfile::TempDir, Esp) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("loader/entries")).unwrap();
        for (file, e) in files {
            std::fs::write(dir.path().join("loader/entries").join(file), e.render()).unwrap();
        }
        let esp = Esp::new(dir.path());
        (dir, esp)
    }

    fn release(version: &str) -> Release {
        let none = Artifact {
            size: 0,
            sha256: String::new(),
            index_sha256: String::new(),
        };
        Release {
            device: "vm".into(),
            version: version.into(),
            generation: 3,
            created: 0,
            expires: u64::MAX,
            key_id: String::new(),
            root: none.clone(),
            kernel: none.clone(),
            initrd: none,
            verity: None,
            ukis: Default::default(),
            pcr11: Default::default(),
        }
    }

    fn target(dir: &Path) -> Target {
        Target {
            booted: "b".into(),
            slot: "a".into(),
            partition: dir.join("root-a"),
            partuuid: "2".into(),
        }
    }

    /// Installing release v3 into slot a (while b runs) from a repository where nothing
    /// listens: every refusal comes before anything is fetched.
    fn install_v3(dir: &Path, esp: &Esp, retry_failed: bool) -> AgentError {
        let repo = Repo::new("http://127.0.0.1:9", &crate::net::Trust::default()).unwrap();
        install(
            &repo,
            &release("v3"),
            &[],
            &target(dir),
            esp,
            retry_failed,
            &mut |_| {},
        )
        .unwrap_err()
    }

    #[test]
    fn a_uki_must_boot_the_slot_and_root_its_release_names() {
        let verity = compose_boot::verity::Verity {
            data_blocks: 9,
            root_hash: "1".repeat(64),
            salt: "2".repeat(64),
        };
        let uki = |cmdline: &str| {
            compose_boot::uki::sample_image(&[
                (".cmdline", 0x1000, cmdline.as_bytes()),
                (".linux", 0x2000, b"kernel"),
            ])
        };
        let mut release = release("v3");
        release.verity = Some(verity.clone());
        let good = uki(&format!("ro compose.slot=a {}", verity.arg()));
        let (cmdline, pcr11) = uki_cmdline(&good, &release, "a").unwrap();
        assert_eq!(cmdline, format!("ro compose.slot=a {}", verity.arg()));
        assert_eq!(pcr11, compose_boot::uki::pcr11(&good).unwrap());

        let refused =
            |uki: &[u8], release: &Release| uki_cmdline(uki, release, "a").unwrap_err().to_string();
        let e = refused(
            &uki(&format!("ro compose.slot=b {}", verity.arg())),
            &release,
        );
        assert!(e.contains("names slot Some(\"b\")"), "{e}");
        let other = compose_boot::verity::Verity {
            root_hash: "3".repeat(64),
            ..verity.clone()
        };
        let e = refused(
            &uki(&format!("ro compose.slot=a {}", other.arg())),
            &release,
        );
        assert!(e.contains("is not the release's"), "{e}");
        release.pcr11.insert("a".into(), "0".repeat(64));
        let e = refused(&good, &release);
        assert!(e.contains("measures PCR 11"), "{e}");
        assert!(refused(b"not a PE", &release).contains("not a PE image"));
    }

    #[test]
    fn a_release_that_failed_its_tries_is_not_installed_again_unless_deployed() {
        let (dir, esp) = esp(&[
            ("compose-a+0-3.conf", entry("a", "v3", 5)),
            ("compose-b.conf", entry("b", "v2", 4)),
        ]);
        std::fs::write(dir.path().join("root-a"), vec![0u8; 4096]).unwrap();
        let e = install_v3(dir.path(), &esp, false);
        assert!(
            e.to_string()
                .contains("failed all its boot tries in slot a"),
            "{e}"
        );
        assert!(esp.entry("a").unwrap().is_some(), "nothing was written");
        // Deployed by name, it is tried again; the fetch fails before anything is written
        // (review: the entry went first, and with it the slot to fall back to).
        let e = install_v3(dir.path(), &esp, true);
        assert!(matches!(e, AgentError::Fetch { .. }), "{e}");
        assert!(esp.entry("a").unwrap().is_some(), "the entry stays");
    }

    #[test]
    fn a_slot_on_trial_is_never_overwritten_and_rollback_raises_the_other_slot() {
        let (dir, esp) = esp(&[
            ("compose-a.conf", entry("a", "v1", 1)),
            ("compose-b+2-1.conf", entry("b", "v2", 2)),
        ]);
        let e = install_v3(dir.path(), &esp, false);
        assert!(e.to_string().contains("is on trial"), "{e}");

        let order = |esp: &Esp| -> Vec<String> {
            boot_state(esp)
                .unwrap()
                .entries
                .iter()
                .map(|e| e.slot.clone())
                .collect()
        };
        assert_eq!(order(&esp), ["b", "a"]);
        let next = boot_next(&esp, "a").unwrap();
        assert_eq!(
            (next.entry.serial, next.file.as_str()),
            (3, "compose-a.conf")
        );
        assert_eq!(order(&esp), ["a", "b"]);
        // The blessing and the try counter stay as they were.
        let state = boot_state(&esp).unwrap();
        assert_eq!(state.entries[0].tries_left, None);
        assert_eq!(state.entries[1].tries_left, Some(2));
        assert!(
            boot_next(&esp, "c")
                .unwrap_err()
                .to_string()
                .contains("no boot entry")
        );
    }
}
