//! Unified kernel images (UKIs): systemd-stub with the kernel, initramfs, command line and
//! os-release as PE sections, booted by a slot's entry. This module reads a PE file's
//! headers and sections (what the build needs to place new sections, and what the update
//! agent and `compose inspect` read back: the built-in command line), and predicts what
//! systemd-stub measures into PCR 11.

/// Where a PE image's parts are (PE32+ only: UEFI on x86-64 and arm64).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pe<'a> {
    bytes: &'a [u8],
    /// Offset of the `PE\0\0` signature.
    pe: usize,
    pub image_base: u64,
    pub section_alignment: u32,
    pub sections: Vec<Section>,
}

/// One entry of the section table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub virtual_size: u32,
    pub virtual_address: u32,
    pub raw_size: u32,
    pub raw_offset: u32,
}

/// Offsets of the fields a reproducible build zeroes, from the `PE\0\0` signature.
const TIME_DATE_STAMP: usize = 8;
const CHECKSUM: usize = 24 + 64;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

impl<'a> Pe<'a> {
    /// Reads the headers and section table; an error says what is not a PE32+ image.
    pub fn parse(bytes: &'a [u8]) -> Result<Pe<'a>, String> {
        if bytes.get(..2) != Some(b"MZ") {
            return Err("not a PE image (no MZ header)".into());
        }
        let pe = u32_at(bytes, 0x3c).ok_or("truncated DOS header")? as usize;
        if bytes.get(pe..pe + 4) != Some(b"PE\0\0") {
            return Err("not a PE image (no PE signature)".into());
        }
        let count = u16_at(bytes, pe + 6).ok_or("truncated COFF header")? as usize;
        let optional_size = u16_at(bytes, pe + 20).ok_or("truncated COFF header")? as usize;
        let optional = pe + 24;
        if u16_at(bytes, optional) != Some(0x20b) {
            return Err("not a PE32+ image".into());
        }
        let image_base = u64_at(bytes, optional + 24).ok_or("truncated optional header")?;
        let section_alignment = u32_at(bytes, optional + 32).ok_or("truncated optional header")?;
        let table = optional + optional_size;
        let mut sections = Vec::with_capacity(count);
        for i in 0..count {
            let at = table + i * 40;
            let raw = bytes.get(at..at + 40).ok_or("truncated section table")?;
            let name = String::from_utf8_lossy(&raw[..8])
                .trim_end_matches('\0')
                .to_string();
            sections.push(Section {
                name,
                virtual_size: u32_at(raw, 8).expect("in range"),
                virtual_address: u32_at(raw, 12).expect("in range"),
                raw_size: u32_at(raw, 16).expect("in range"),
                raw_offset: u32_at(raw, 20).expect("in range"),
            });
        }
        Ok(Pe {
            bytes,
            pe,
            image_base,
            section_alignment,
            sections,
        })
    }

    /// The bytes of section `name` (as loaded: at most its virtual size).
    pub fn section(&self, name: &str) -> Option<&'a [u8]> {
        let s = self.sections.iter().find(|s| s.name == name)?;
        let len = s.virtual_size.min(s.raw_size) as usize;
        self.bytes
            .get(s.raw_offset as usize..s.raw_offset as usize + len)
    }

    /// The first address after every section, rounded up to the section alignment: where
    /// a section added to this image may start (relative to the image base).
    pub fn end_of_sections(&self) -> u64 {
        let end = self
            .sections
            .iter()
            .map(|s| u64::from(s.virtual_address) + u64::from(s.virtual_size))
            .max()
            .unwrap_or(0);
        end.next_multiple_of(u64::from(self.section_alignment.max(1)))
    }
}

/// The built-in command line of a UKI (its `.cmdline` section, trimmed).
pub fn cmdline(uki: &[u8]) -> Result<String, String> {
    let pe = Pe::parse(uki)?;
    let text = pe
        .section(".cmdline")
        .ok_or("the image has no .cmdline section: not a unified kernel image")?;
    Ok(String::from_utf8_lossy(text)
        .trim_end_matches('\0')
        .trim()
        .to_string())
}

/// Zeroes the header fields that change from one link to the next (the time stamp objcopy
/// writes, and the checksum UEFI ignores), so the same inputs give the same bytes.
pub fn make_reproducible(bytes: &mut [u8]) -> Result<(), String> {
    let pe = Pe::parse(bytes)?.pe;
    bytes[pe + TIME_DATE_STAMP..pe + TIME_DATE_STAMP + 4].fill(0);
    bytes[pe + CHECKSUM..pe + CHECKSUM + 4].fill(0);
    Ok(())
}

/// The sections systemd-stub measures into PCR 11, in its order (systemd 252's
/// `unified_sections`, `.pcrsig` left out: a signature cannot sign itself).
const MEASURED: [&str; 7] = [
    ".linux", ".osrel", ".cmdline", ".initrd", ".splash", ".dtb", ".pcrpkey",
];

/// The SHA-256 bank of PCR 11 after systemd-stub booted `uki` (lowercase hex): from zero,
/// each section present is extended twice, with the hash of its name (NUL included) and of
/// its contents as loaded. What `systemd-measure calculate` predicts for the first boot
/// phase, and what nothing else extends in a compose image (it runs no systemd-pcrphase).
pub fn pcr11(uki: &[u8]) -> Result<String, String> {
    use sha2::{Digest, Sha256};
    let pe = Pe::parse(uki)?;
    let mut pcr = [0u8; 32];
    let mut extend = |data: &[u8]| {
        let mut h = Sha256::new();
        h.update(pcr);
        h.update(Sha256::digest(data));
        pcr = h.finalize().into();
    };
    for name in MEASURED {
        if let Some(data) = pe.section(name) {
            extend(format!("{name}\0").as_bytes());
            extend(data);
        }
    }
    Ok(hex::encode(pcr))
}

/// PCR 11's SHA-256 bank as the TPM holds it now (lowercase hex); `None` without a TPM.
pub fn measured_pcr11() -> Option<String> {
    std::fs::read_to_string("/sys/class/tpm/tpm0/pcr-sha256/11")
        .ok()
        .map(|p| p.trim().to_lowercase())
}

/// A PE32+ image with sections `(name, virtual address, data)`, laid out by hand: for tests
/// of code that reads UKIs (here, the update agent's).
#[doc(hidden)]
pub fn sample_image(sections: &[(&str, u32, &[u8])]) -> Vec<u8> {
    let pe = 0x80;
    let optional_size = 240;
    let table = pe + 24 + optional_size;
    let mut raw_at = (table + 40 * sections.len()).next_multiple_of(0x200);
    let mut b = vec![0u8; raw_at];
    b[..2].copy_from_slice(b"MZ");
    b[0x3c..0x40].copy_from_slice(&(pe as u32).to_le_bytes());
    b[pe..pe + 4].copy_from_slice(b"PE\0\0");
    b[pe + 6..pe + 8].copy_from_slice(&(sections.len() as u16).to_le_bytes());
    b[pe + 8..pe + 12].copy_from_slice(&0x6543_2100u32.to_le_bytes());
    b[pe + 20..pe + 22].copy_from_slice(&(optional_size as u16).to_le_bytes());
    b[pe + 24..pe + 26].copy_from_slice(&0x20bu16.to_le_bytes());
    b[pe + 24 + 24..pe + 24 + 32].copy_from_slice(&0x1_4000_0000u64.to_le_bytes());
    b[pe + 24 + 32..pe + 24 + 36].copy_from_slice(&0x1000u32.to_le_bytes());
    b[pe + CHECKSUM..pe + CHECKSUM + 4].copy_from_slice(&7u32.to_le_bytes());
    for (i, (name, va, data)) in sections.iter().enumerate() {
        let at = table + i * 40;
        b[at..at + name.len()].copy_from_slice(name.as_bytes());
        b[at + 8..at + 12].copy_from_slice(&(data.len() as u32).to_le_bytes());
        b[at + 12..at + 16].copy_from_slice(&va.to_le_bytes());
        let raw_size = data.len().next_multiple_of(0x200);
        b[at + 16..at + 20].copy_from_slice(&(raw_size as u32).to_le_bytes());
        b[at + 20..at + 24].copy_from_slice(&(raw_at as u32).to_le_bytes());
        b.resize(raw_at + raw_size, 0);
        b[raw_at..raw_at + data.len()].copy_from_slice(data);
        raw_at += raw_size;
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(sections: &[(&str, u32, &[u8])]) -> Vec<u8> {
        sample_image(sections)
    }

    #[test]
    fn reads_sections_and_the_command_line() {
        let b = image(&[
            (".text", 0x1000, b"code"),
            (".cmdline", 0x3000, b"ro quiet\0"),
        ]);
        let pe = Pe::parse(&b).unwrap();
        assert_eq!(pe.image_base, 0x1_4000_0000);
        assert_eq!(pe.section(".text"), Some(&b"code"[..]));
        assert_eq!(pe.end_of_sections(), 0x4000);
        assert_eq!(cmdline(&b).as_deref(), Ok("ro quiet"));
        let no_cmdline = image(&[(".text", 0x1000, b"code")]);
        assert!(cmdline(&no_cmdline).unwrap_err().contains("no .cmdline"));
        assert!(Pe::parse(b"MZ").is_err());
        assert!(Pe::parse(b"not a PE at all").unwrap_err().contains("MZ"));
    }

    #[test]
    fn reproducible_images_have_no_time_stamp_or_checksum() {
        let mut b = image(&[(".text", 0x1000, b"code")]);
        make_reproducible(&mut b).unwrap();
        assert_eq!(&b[0x80 + 8..0x80 + 12], &[0; 4]);
        assert_eq!(&b[0x80 + CHECKSUM..0x80 + CHECKSUM + 4], &[0; 4]);
        assert_eq!(Pe::parse(&b).unwrap().section(".text"), Some(&b"code"[..]));
    }

    #[test]
    fn pcr_11_extends_each_section_name_then_its_contents() {
        use sha2::{Digest, Sha256};
        let b = image(&[
            (".osrel", 0x1000, b"ID=compose\n"),
            (".cmdline", 0x2000, b"ro"),
            (".linux", 0x3000, b"kernel"),
        ]);
        // By hand, in systemd-stub's order (.linux first), as `systemd-measure calculate`
        // computes it (checked against it on a real UKI: same value).
        let mut pcr = [0u8; 32];
        for data in [
            &b".linux\0"[..],
            b"kernel",
            b".osrel\0",
            b"ID=compose\n",
            b".cmdline\0",
            b"ro",
        ] {
            let mut h = Sha256::new();
            h.update(pcr);
            h.update(Sha256::digest(data));
            pcr = h.finalize().into();
        }
        assert_eq!(pcr11(&b).unwrap(), hex::encode(pcr));
    }
}
