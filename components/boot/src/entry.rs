//! The systemd-boot entries of a composed image, one per slot: `compose-a+3.conf` while
//! the slot is on trial (systemd-boot counts the tries down in the name:
//! `compose-a+2-1.conf`), `compose-a.conf` once init blessed a boot of it.
//!
//! Which slot boots: every entry has the sort-key `compose`, so systemd-boot orders them
//! by `version`, highest first, after moving entries with no tries left to the end. The
//! `version` line is therefore an install serial (the slot installed last boots next),
//! not the image's version: an older image deployed on purpose must still boot next, and a
//! blessed slot stays the fallback of a new one on trial. The image's version and
//! generation are in comment lines, for `compose-update status` and `compose inspect`.

use std::cmp::Reverse;

/// The sort-key every compose entry shares.
pub const SORT_KEY: &str = "compose";

/// Tries a newly installed slot gets before systemd-boot falls back to the other one.
pub const TRIES: u32 = 3;

/// What an entry file's name says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryName {
    pub slot: String,
    /// `None` once blessed.
    pub tries_left: Option<u32>,
    pub tries_done: u32,
}

impl EntryName {
    /// `compose-a+2-1.conf` (or a path ending in it); `None` for files that are not ours.
    pub fn parse(file: &str) -> Option<EntryName> {
        let stem = file.rsplit('/').next()?.strip_suffix(".conf")?;
        let (id, counter) = stem
            .split_once('+')
            .map_or((stem, None), |(id, c)| (id, Some(c)));
        let slot = id.strip_prefix("compose-")?.to_string();
        let (tries_left, tries_done) = match counter {
            None => (None, 0),
            Some(c) => {
                let (left, done) = c.split_once('-').unwrap_or((c, "0"));
                (Some(left.parse().ok()?), done.parse().ok()?)
            }
        };
        Some(EntryName {
            slot,
            tries_left,
            tries_done,
        })
    }

    /// The file name of a slot newly installed: on trial with `TRIES` tries.
    pub fn trial(slot: &str) -> String {
        format!("compose-{slot}+{TRIES}.conf")
    }

    /// The file name of a blessed slot.
    pub fn blessed(slot: &str) -> String {
        format!("compose-{slot}.conf")
    }

    /// The file name of a slot found corrupt: no tries left, so systemd-boot boots it only
    /// when nothing else is left, and the next install of the slot replaces it.
    pub fn spent(slot: &str) -> String {
        format!("compose-{slot}+0-{TRIES}.conf")
    }

    /// systemd-boot skips it unless nothing else is left.
    pub fn exhausted(&self) -> bool {
        self.tries_left == Some(0)
    }
}

/// `compose-a+2-1.conf` for slot `a` -> `compose-a.conf`, as systemd-bless-boot renames;
/// anything else -> `None`.
pub fn blessed_name(file: &str, slot: &str) -> Option<String> {
    let name = EntryName::parse(file)?;
    (name.slot == slot && name.tries_left.is_some()).then(|| EntryName::blessed(slot))
}

/// What an entry file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub device: String,
    /// The image's version.
    pub version: String,
    pub generation: u64,
    pub slot: String,
    /// The install serial (the entry's `version` line): the highest boots first.
    pub serial: u64,
    /// The kernel command line.
    pub options: String,
    /// The slot boots a unified kernel image (`/compose/SLOT/uki.efi`) whose built-in command
    /// line is `options` (kept in a comment: an `options` line would override it whenever
    /// Secure Boot is off); else `vmlinuz` and `initrd.img` with an `options` line.
    pub uki: bool,
    /// Size and SHA-256 of the slot's root file system as installed: what `compose
    /// inspect` checks the slot against.
    pub root_size: u64,
    pub root_sha256: String,
    /// What systemd-stub measures into PCR 11 when it boots the slot's UKI (`uki::pcr11`),
    /// lowercase hex; `None` for kernel and initramfs.
    pub pcr11: Option<String>,
}

impl Entry {
    /// The entry file's text; the UKI, or kernel and initramfs, are the slot's, on the ESP.
    pub fn render(&self) -> String {
        let Entry {
            device,
            version,
            generation,
            slot,
            serial,
            options,
            uki,
            root_size,
            root_sha256,
            pcr11,
        } = self;
        let pcr11 = pcr11
            .as_ref()
            .map(|p| format!("# compose-pcr11 {p}\n"))
            .unwrap_or_default();
        let boot = if *uki {
            format!("efi /compose/{slot}/uki.efi\n# compose-cmdline {options}\n")
        } else {
            format!(
                "linux /compose/{slot}/vmlinuz\ninitrd /compose/{slot}/initrd.img\noptions {options}\n"
            )
        };
        format!(
            "# Written by compose. `version` is an install serial: the highest boots first.\n\
             title compose {device} {version} (slot {slot})\n\
             version {serial}\n\
             sort-key {SORT_KEY}\n\
             {boot}\
             # compose-device {device}\n\
             # compose-version {version}\n\
             # compose-generation {generation}\n\
             # compose-slot {slot}\n\
             # compose-root-size {root_size}\n\
             # compose-root-sha256 {root_sha256}\n\
             {pcr11}"
        )
    }

    /// Reads an entry `render` wrote; `None` for other files.
    pub fn parse(text: &str) -> Option<Entry> {
        let field = |key: &str| {
            text.lines().find_map(|l| {
                l.strip_prefix(key)
                    .filter(|rest| rest.starts_with(' '))
                    .map(|rest| rest.trim().to_string())
            })
        };
        Some(Entry {
            device: field("# compose-device")?,
            version: field("# compose-version")?,
            generation: field("# compose-generation")?.parse().ok()?,
            slot: field("# compose-slot")?,
            serial: field("version")?.parse().ok()?,
            options: field("options").or_else(|| field("# compose-cmdline"))?,
            uki: field("efi").is_some(),
            root_size: field("# compose-root-size")?.parse().ok()?,
            root_sha256: field("# compose-root-sha256")?,
            pcr11: field("# compose-pcr11"),
        })
    }
}

/// The same kernel command line for another slot and root: its partition, slot name and
/// dm-verity parameters (`None`: a root without a hash tree, opened unchecked).
pub fn options_for(
    options: &str,
    slot: &str,
    root_partuuid: &str,
    verity: Option<&crate::verity::Verity>,
) -> String {
    let mut args: Vec<String> = options
        .split_whitespace()
        .filter(|arg| !arg.starts_with("compose.verity="))
        .map(|arg| {
            if arg.starts_with("root=PARTUUID=") {
                format!("root=PARTUUID={root_partuuid}")
            } else if arg.starts_with("compose.slot=") {
                format!("compose.slot={slot}")
            } else {
                arg.to_string()
            }
        })
        .collect();
    if let Some(v) = verity {
        let at = args
            .iter()
            .position(|a| a.starts_with("compose.slot="))
            .map_or(args.len(), |i| i + 1);
        args.insert(at, v.arg());
    }
    args.join(" ")
}

/// The dm-verity parameters a command line gives the root, if usable.
pub fn options_verity(options: &str) -> Option<crate::verity::Verity> {
    crate::cmdline::parse(options).verity?.ok()
}

/// Sorts `items` in the order systemd-boot tries them: the ones with tries left (or
/// blessed) first, highest serial first; `parts` finds each item's name and entry.
pub fn sort_boot_order<T>(items: &mut [T], parts: impl Fn(&T) -> (&EntryName, &Entry)) {
    items.sort_by_key(|item| {
        let (name, entry) = parts(item);
        (name.exhausted(), Reverse(entry.serial))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_try_counter() {
        let n = EntryName::parse("/loader/entries/compose-a+2-1.conf").unwrap();
        assert_eq!(
            (n.slot.as_str(), n.tries_left, n.tries_done),
            ("a", Some(2), 1)
        );
        let n = EntryName::parse("compose-b+0-3.conf").unwrap();
        assert!(n.exhausted());
        let n = EntryName::parse("compose-a.conf").unwrap();
        assert_eq!(n.tries_left, None);
        assert_eq!(EntryName::parse("other.conf"), None);
        assert_eq!(EntryName::parse("compose-a+x.conf"), None);
        assert_eq!(EntryName::parse("compose-a.conf.tmp"), None);
        assert_eq!(EntryName::trial("b"), "compose-b+3.conf");
        assert!(
            EntryName::parse(&EntryName::spent("a"))
                .unwrap()
                .exhausted()
        );
    }

    #[test]
    fn blessing_drops_the_counter_of_this_slot_only() {
        assert_eq!(
            blessed_name("compose-a+3.conf", "a").as_deref(),
            Some("compose-a.conf")
        );
        assert_eq!(
            blessed_name("compose-a+2-1.conf", "a").as_deref(),
            Some("compose-a.conf")
        );
        assert_eq!(blessed_name("compose-b+3.conf", "a"), None);
        assert_eq!(blessed_name("compose-a.conf", "a"), None);
    }

    #[test]
    fn entries_read_back_what_they_wrote_and_sort_as_systemd_boot_does() {
        let a = Entry {
            device: "vm".into(),
            version: "0.1.0+abc".into(),
            generation: 1,
            slot: "a".into(),
            serial: 1,
            options: "root=PARTUUID=1111 ro compose.slot=a console=ttyS0".into(),
            uki: false,
            root_size: 4096,
            root_sha256: "ab".repeat(32),
            pcr11: None,
        };
        assert_eq!(Entry::parse(&a.render()), Some(a.clone()));
        let uki = Entry {
            uki: true,
            pcr11: Some("cd".repeat(32)),
            ..a.clone()
        };
        let text = uki.render();
        assert!(text.contains("\nefi /compose/a/uki.efi\n"), "{text}");
        assert!(!text.contains("\noptions "), "{text}");
        assert_eq!(Entry::parse(&text), Some(uki));
        assert_eq!(Entry::parse("title other\nversion 3\n"), None);
        let b = Entry {
            slot: "b".into(),
            serial: 2,
            options: options_for(&a.options, "b", "2222", None),
            ..a.clone()
        };
        assert_eq!(
            b.options,
            "root=PARTUUID=2222 ro compose.slot=b console=ttyS0"
        );
        let verity = crate::verity::Verity {
            data_blocks: 9,
            root_hash: "1".repeat(64),
            salt: "2".repeat(64),
        };
        let with = options_for(&b.options, "a", "1111", Some(&verity));
        assert_eq!(
            with,
            format!(
                "root=PARTUUID=1111 ro compose.slot=a compose.verity=9:{}:{} console=ttyS0",
                "1".repeat(64),
                "2".repeat(64)
            )
        );
        assert_eq!(
            options_for(&with, "b", "2222", None),
            b.options,
            "a root without a tree drops the old one's parameters"
        );
        let entries = vec![
            (EntryName::parse("compose-a.conf").unwrap(), a.clone()),
            (EntryName::parse("compose-b+3.conf").unwrap(), b.clone()),
        ];
        let mut entries = entries;
        sort_boot_order(&mut entries, |(n, e)| (n, e));
        let order: Vec<&str> = entries.iter().map(|(_, e)| e.slot.as_str()).collect();
        assert_eq!(order, ["b", "a"], "the slot installed last boots next");
        let entries = vec![
            (EntryName::parse("compose-a.conf").unwrap(), a),
            (EntryName::parse("compose-b+0-3.conf").unwrap(), b),
        ];
        let mut entries = entries;
        sort_boot_order(&mut entries, |(n, e)| (n, e));
        let order: Vec<&str> = entries.iter().map(|(_, e)| e.slot.as_str()).collect();
        assert_eq!(order, ["a", "b"], "a slot out of tries goes last");
    }
}
