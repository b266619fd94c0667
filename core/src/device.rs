//! Device profiles (`devices/*.toml`): hardware capabilities, graph roots and image layout.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::diagnostic::{Code, Diagnostic, Diagnostics, SourceFile};
use crate::manifest::{Declared, module_name};
use crate::requirement::Requirement;
use crate::toml_file;

/// A device the catalog is composed for.
#[derive(Debug, Clone)]
pub struct Device {
    pub name: String,
    pub arch: Arch,
    pub form_factor: FormFactor,
    pub capabilities: BTreeSet<String>,
    pub firmware: Firmware,
    /// Where the dependency graph starts.
    pub roots: Vec<Declared<Requirement>>,
    /// Which component provides a virtual on this device (`shell = "shell-desktop"`).
    pub prefer: BTreeMap<String, Declared<String>>,
    pub kernel_modules: Vec<String>,
    pub kernel_cmdline: Vec<String>,
    pub image: ImageLayout,
    pub file: SourceFile,
    pub name_span: Range<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    X86_64,
    Aarch64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FormFactor {
    Laptop,
    Desktop,
    Tablet,
    Console,
    Server,
    Vm,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Firmware {
    Uefi,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ImageFormat {
    Raw,
    Qcow2,
    Vmdk,
    Vhd,
    /// Azure: a fixed VHD of a whole number of MiB (`disk-azure.vhd`).
    Azure,
    /// GCE: `disk.raw` in a gzipped GNU tar (`disk-gce.tar.gz`).
    Gce,
    /// AWS VM import: a stream-optimized VMDK (`disk-aws.vmdk`).
    Aws,
    /// vSphere: an OVA of an OVF descriptor, its manifest and a stream-optimized VMDK
    /// (`disk.ova`).
    Ova,
}

/// Size and shape of the disk image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageLayout {
    /// Total disk size in bytes.
    pub size: u64,
    /// Root slots for A/B updates.
    pub slots: u8,
    pub formats: Vec<ImageFormat>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawProfile {
    device: RawDevice,
    compose: RawCompose,
    #[serde(default)]
    kernel: RawKernel,
    image: RawImage,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawDevice {
    name: Spanned<String>,
    arch: Arch,
    form_factor: FormFactor,
    #[serde(default)]
    capabilities: Vec<Spanned<String>>,
    firmware: Firmware,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawCompose {
    roots: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    prefer: BTreeMap<Spanned<String>, Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawKernel {
    #[serde(default)]
    modules: Vec<Spanned<String>>,
    #[serde(default)]
    cmdline: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawImage {
    size: Spanned<String>,
    #[serde(default = "two_slots")]
    slots: Spanned<u8>,
    #[serde(default = "raw_only")]
    formats: Vec<ImageFormat>,
}

fn two_slots() -> Spanned<u8> {
    Spanned::new(0..0, 2)
}

fn raw_only() -> Vec<ImageFormat> {
    vec![ImageFormat::Raw]
}

/// Parses and checks one device profile, reporting every problem of the file.
pub fn parse_device(file: &SourceFile) -> Result<Device, Diagnostics> {
    let raw: RawProfile = toml_file::parse(file).map_err(|d| Diagnostics(vec![d]))?;
    let mut errors = Diagnostics::default();
    let name = errors.keep(toml_file::name(file, &raw.device.name, "device"));
    let capabilities = toml_file::names(file, &raw.device.capabilities, "capability", &mut errors)
        .into_iter()
        .collect();
    let roots = toml_file::requirements(file, raw.compose.roots.get_ref(), &mut errors);
    if raw.compose.roots.get_ref().is_empty() {
        errors.push(
            Diagnostic::error(Code::Schema, file, "device has no roots")
                .at(raw.compose.roots.span(), "no roots")
                .with_help("list the components the image starts from, e.g. roots = [\"base\"]"),
        );
    }
    let mut prefer = BTreeMap::new();
    for (virt, component) in &raw.compose.prefer {
        let v = errors.keep(toml_file::name(file, virt, "virtual"));
        let c = errors.keep(toml_file::name(file, component, "component"));
        if let (Some(v), Some(c)) = (v, c) {
            prefer.insert(
                v,
                Declared {
                    value: c,
                    span: component.span(),
                },
            );
        }
    }
    let kernel_modules = raw
        .kernel
        .modules
        .iter()
        .filter_map(|m| errors.keep(module_name(file, m)))
        .collect();
    let size = errors.keep(parse_size(raw.image.size.get_ref()).ok_or_else(|| {
        Diagnostic::error(Code::InvalidValue, file, format!("invalid image size `{}`", raw.image.size.get_ref()))
            .at(raw.image.size.span(), "not a size")
            .with_help("write a size in bytes with an optional K, M, G or T suffix (powers of 1024), e.g. \"2G\"")
    }));
    let slots = *raw.image.slots.get_ref();
    if !(1..=2).contains(&slots) {
        errors.push(
            Diagnostic::error(
                Code::InvalidValue,
                file,
                format!("{slots} root slots are not supported"),
            )
            .at(raw.image.slots.span(), "must be 1 or 2")
            .with_help("use slots = 2 for A/B updates, or 1 for an image that is never updated"),
        );
    }
    let mut formats = raw.image.formats;
    formats.sort();
    formats.dedup();
    match (name, size) {
        (Some(name), Some(size)) if !errors.has_errors() => Ok(Device {
            name,
            arch: raw.device.arch,
            form_factor: raw.device.form_factor,
            capabilities,
            firmware: raw.device.firmware,
            roots,
            prefer,
            kernel_modules,
            kernel_cmdline: raw.kernel.cmdline,
            image: ImageLayout {
                size,
                slots,
                formats,
            },
            file: file.clone(),
            name_span: raw.device.name.span(),
        }),
        _ => Err(errors),
    }
}

/// `"2G"` -> 2 GiB in bytes; `None` for anything else or zero.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let shift = match unit.trim() {
        "" => 0,
        "K" | "KiB" => 10,
        "M" | "MiB" => 20,
        "G" | "GiB" => 30,
        "T" | "TiB" => 40,
        _ => return None,
    };
    digits
        .parse::<u64>()
        .ok()?
        .checked_mul(1 << shift)
        .filter(|s| *s > 0)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("2G"), Some(2 << 30));
        assert_eq!(parse_size("512M"), Some(512 << 20));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("0"), None);
        assert_eq!(parse_size("2Q"), None);
        assert_eq!(parse_size("99999999999T"), None);
    }
}
