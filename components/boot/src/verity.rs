//! dm-verity parameters of a slot's root: the hash tree is appended to the erofs image in
//! the same partition (as Flatcar appends it to `/usr`), so a slot stays one partition and an
//! update one artifact. The kernel command line carries what the table needs
//! (`compose.verity=BLOCKS:ROOT_HASH:SALT`), inside the boot entry that names the slot.
//!
//! Fixed choices: SHA-256, 4096-byte data and hash blocks, no verity superblock (nothing on
//! disk says how to read the tree; only the command line does), the tree starting right
//! after the last data block.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Data and hash block size in bytes.
pub const BLOCK: u64 = 4096;

/// The device-mapper name init gives the booted root.
pub const DM_NAME: &str = "root";

/// What the kernel found reading the booted root so far; `None` when it is not opened
/// through dm-verity (or device-mapper cannot be asked).
pub fn root_state() -> Option<State> {
    crate::dm::status(DM_NAME)
        .ok()
        .flatten()
        .as_deref()
        .and_then(State::parse)
}

/// What opening a slot's root through dm-verity needs (in `image.json` and each signed
/// release as well as on the command line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verity {
    /// 4096-byte blocks of the file system; the hash tree starts after them.
    pub data_blocks: u64,
    /// The tree's root hash, lowercase hex (64 characters).
    pub root_hash: String,
    /// The salt, lowercase hex (64 characters).
    pub salt: String,
}

/// What the kernel does when a block does not match its hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnCorruption {
    /// The read fails with an I/O error; the rest keeps running (a blessed slot: rebooting
    /// into the same corrupt root again and again helps nobody).
    Fail,
    /// The kernel restarts the machine at once (a slot on trial: the restart spends a try,
    /// so systemd-boot falls back to the other slot once they run out).
    Restart,
}

impl Verity {
    /// The command-line argument, `compose.verity=BLOCKS:ROOT_HASH:SALT`.
    pub fn arg(&self) -> String {
        format!(
            "compose.verity={}:{}:{}",
            self.data_blocks, self.root_hash, self.salt
        )
    }

    /// Reads the value of `compose.verity=` (without the key).
    pub fn parse(value: &str) -> Result<Verity, String> {
        let mut parts = value.split(':');
        let (Some(blocks), Some(root_hash), Some(salt), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(format!(
                "compose.verity={value}: expected BLOCKS:ROOT_HASH:SALT"
            ));
        };
        let data_blocks = blocks
            .parse::<u64>()
            .ok()
            .filter(|b| *b > 0)
            .ok_or_else(|| format!("compose.verity: `{blocks}` is not a count of blocks"))?;
        for (what, hex) in [("root hash", root_hash), ("salt", salt)] {
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!(
                    "compose.verity: the {what} `{hex}` is not 64 hex digits (SHA-256)"
                ));
            }
        }
        Ok(Verity {
            data_blocks,
            root_hash: root_hash.to_ascii_lowercase(),
            salt: salt.to_ascii_lowercase(),
        })
    }

    /// Bytes of file system the tree covers (and where the tree starts).
    pub fn data_size(&self) -> u64 {
        self.data_blocks * BLOCK
    }

    /// Bytes of the hash tree veritysetup writes after the data: one level of 32-byte hashes
    /// per 128 blocks below, up to a single block.
    pub fn tree_size(&self) -> u64 {
        let per_block = BLOCK / 32;
        let (mut level, mut blocks) = (self.data_blocks, 0);
        loop {
            level = level.div_ceil(per_block);
            blocks += level;
            if level <= 1 {
                return blocks * BLOCK;
            }
        }
    }

    /// The device-mapper table of the root: one `verity` target over `device` (a
    /// `MAJOR:MINOR` or a path), data and tree on the same device.
    pub fn table(&self, device: &str, on_corruption: OnCorruption) -> String {
        let mut t = format!(
            "1 {device} {device} {BLOCK} {BLOCK} {blocks} {blocks} sha256 {} {}",
            self.root_hash,
            self.salt,
            blocks = self.data_blocks
        );
        if on_corruption == OnCorruption::Restart {
            t.push_str(" 1 restart_on_corruption");
        }
        t
    }

    /// Length of the mapped device in 512-byte sectors.
    pub fn sectors(&self) -> u64 {
        self.data_size() / 512
    }
}

impl fmt::Display for OnCorruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OnCorruption::Fail => "a corrupt block fails its read",
            OnCorruption::Restart => "a corrupt block restarts the machine",
        })
    }
}

/// The state the kernel reports for a verity target (`DM_TABLE_STATUS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Every block read so far matched.
    Verified,
    /// A block did not match its hash.
    Corrupted,
}

impl State {
    /// Reads a verity target's status line (`V`, or `C` once a block failed).
    pub fn parse(status: &str) -> Option<State> {
        match status.split_whitespace().next()? {
            "V" => Some(State::Verified),
            "C" => Some(State::Corrupted),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            State::Verified => "verified",
            State::Corrupted => "corrupted",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Verity {
        Verity {
            data_blocks: 1300,
            root_hash: "ab".repeat(32),
            salt: "cd".repeat(32),
        }
    }

    #[test]
    fn the_argument_reads_back() {
        let v = sample();
        let arg = v.arg();
        let value = arg.strip_prefix("compose.verity=").unwrap();
        assert_eq!(Verity::parse(value), Ok(v));
        assert_eq!(
            Verity::parse(&value.to_uppercase()).unwrap().root_hash,
            "ab".repeat(32)
        );
    }

    #[test]
    fn bad_values_say_what_is_wrong() {
        for (value, says) in [
            ("12:ab", "BLOCKS:ROOT_HASH:SALT"),
            ("x:ab:cd", "not a count"),
            ("0:ab:cd", "not a count"),
            (
                &format!("1:{}:{}", "zz".repeat(32), "cd".repeat(32)),
                "root hash",
            ),
            (
                &format!("1:{}:{}", "ab".repeat(32), "cd".repeat(31)),
                "salt",
            ),
        ] {
            let e = Verity::parse(value).unwrap_err();
            assert!(e.contains(says), "{value}: {e}");
        }
    }

    #[test]
    fn the_table_puts_the_tree_after_the_data() {
        let v = sample();
        assert_eq!(
            v.table("254:2", OnCorruption::Fail),
            format!(
                "1 254:2 254:2 4096 4096 1300 1300 sha256 {} {}",
                "ab".repeat(32),
                "cd".repeat(32)
            )
        );
        assert!(
            v.table("254:2", OnCorruption::Restart)
                .ends_with(" 1 restart_on_corruption")
        );
        assert_eq!(v.sectors(), 1300 * 8);
        // 1300 blocks: 11 hash blocks, then the root block (what veritysetup wrote for them).
        assert_eq!(v.tree_size(), 12 * BLOCK);
        let vm = Verity {
            data_blocks: 1736,
            ..v
        };
        assert_eq!(vm.tree_size(), 15 * BLOCK);
        assert_eq!(State::parse("V"), Some(State::Verified));
        assert_eq!(State::parse("C\n"), Some(State::Corrupted));
        assert_eq!(State::parse(""), None);
    }
}
