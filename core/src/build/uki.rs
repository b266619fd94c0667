//! Unified kernel images: systemd-stub (`linuxx64.efi.stub` from systemd-boot-efi) with
//! `.osrel`, `.cmdline`, `.initrd` and `.linux` sections added by objcopy (bookworm's systemd
//! 252 has no ukify), each placed after the one before it in the stub's address space, then
//! the PE time stamp and checksum zeroed: the same inputs give the same bytes. One per slot,
//! since its command line names the slot (and the root hash).

use std::fs;
use std::path::Path;
use std::process::Command;

use compose_boot::uki::{Pe, make_reproducible};

use super::{BuildError, run_tool};

/// What goes into one UKI.
#[derive(Debug)]
pub struct Parts<'a> {
    pub stub: &'a Path,
    /// os-release text (`.osrel`).
    pub osrel: &'a str,
    /// The kernel command line (`.cmdline`): under Secure Boot nothing else is used.
    pub cmdline: &'a str,
    pub linux: &'a Path,
    pub initrd: &'a Path,
}

/// Writes the UKI of `parts` to `out` (`work` holds the section files meanwhile) and returns
/// the PCR 11 it measures when systemd-stub boots it.
pub fn assemble(parts: &Parts<'_>, out: &Path, work: &Path) -> Result<String, BuildError> {
    let stub = fs::read(parts.stub).map_err(|e| BuildError::io("read", parts.stub, e))?;
    let pe = Pe::parse(&stub).map_err(|message| bad_stub(parts.stub, &message))?;
    if pe.section(".sdmagic").is_none() {
        return Err(bad_stub(
            parts.stub,
            "it has no .sdmagic section: not systemd-stub",
        ));
    }
    fs::create_dir_all(work).map_err(|e| BuildError::io("create", work, e))?;
    let osrel = work.join("osrel");
    let cmdline = work.join("cmdline");
    fs::write(&osrel, parts.osrel).map_err(|e| BuildError::io("write", &osrel, e))?;
    fs::write(&cmdline, parts.cmdline).map_err(|e| BuildError::io("write", &cmdline, e))?;
    let mut objcopy = Command::new("objcopy");
    // The kernel last: it may use memory past its section while it unpacks.
    let mut at = pe.end_of_sections();
    for (name, file) in [
        (".osrel", osrel.as_path()),
        (".cmdline", cmdline.as_path()),
        (".initrd", parts.initrd),
        (".linux", parts.linux),
    ] {
        let size = fs::metadata(file)
            .map_err(|e| BuildError::io("stat", file, e))?
            .len();
        objcopy
            .arg("--add-section")
            .arg(format!("{name}={}", file.display()))
            .arg("--change-section-vma")
            .arg(format!("{name}={:#x}", pe.image_base + at));
        at = (at + size).next_multiple_of(u64::from(pe.section_alignment.max(1)));
    }
    let _ = fs::remove_file(out);
    run_tool(objcopy.arg(parts.stub).arg(out), "objcopy", "binutils")?;
    let mut bytes = fs::read(out).map_err(|e| BuildError::io("read", out, e))?;
    make_reproducible(&mut bytes).map_err(|message| bad_stub(out, &message))?;
    let pcr11 = compose_boot::uki::pcr11(&bytes).map_err(|message| bad_stub(out, &message))?;
    fs::write(out, bytes).map_err(|e| BuildError::io("write", out, e))?;
    Ok(pcr11)
}

/// The `.osrel` text of an image.
pub fn os_release(device: &str, version: &str) -> String {
    format!(
        "NAME=\"compose\"\nID=compose\nPRETTY_NAME=\"compose {device} {version}\"\nIMAGE_ID={device}\nIMAGE_VERSION={version}\n"
    )
}

fn bad_stub(path: &Path, message: &str) -> BuildError {
    crate::tool::ToolError::Failed {
        tool: "objcopy".into(),
        message: format!("{}: {message}", path.display()),
    }
    .into()
}
