//! Cloud image shapes made from a raw disk, each read back by the tools that read it:
//! qemu-img (info, check, and a conversion back to raw that must give the same bytes),
//! tar, and an XML parse of the OVF descriptor against its manifest.

use std::path::{Path, PathBuf};
use std::process::Command;

use compose_core::build::cloud;

const MIB: u64 = 1 << 20;

/// A 6 MiB raw disk with bytes that differ everywhere but a hole in the middle.
fn raw_disk(dir: &Path) -> PathBuf {
    let raw = dir.join("disk.raw");
    let mut bytes: Vec<u8> = (0..6 * MIB).map(|i| (i * 7 % 251) as u8).collect();
    bytes[(2 * MIB) as usize..(4 * MIB) as usize].fill(0);
    std::fs::write(&raw, bytes).unwrap();
    raw
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What qemu-img reads from `file` as `format` (a fixed VHD probes as raw: its footer is
/// at the end, so the format is named).
fn info(file: &Path, format: &str) -> serde_json::Value {
    serde_json::from_str(&run(Command::new("qemu-img")
        .args(["info", "--output=json", "-f", format])
        .arg(file)))
    .unwrap()
}

/// The bytes qemu-img reads from `file` (format `format`) converted back to raw.
fn back_to_raw(file: &Path, format: &str) -> Vec<u8> {
    let out = file.with_extension("back.raw");
    run(Command::new("qemu-img")
        .args(["convert", "-f", format, "-O", "raw"])
        .arg(file)
        .arg(&out));
    std::fs::read(out).unwrap()
}

#[test]
fn azure_is_a_fixed_vhd_of_whole_mib_with_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let raw = raw_disk(dir.path());
    let vhd = cloud::azure(&raw).unwrap();
    assert_eq!(vhd.file_name().unwrap(), "disk-azure.vhd");
    let i = info(&vhd, "vpc");
    assert_eq!(i["format"], "vpc");
    assert_eq!(i["virtual-size"], 6 * MIB);
    // A fixed VHD is the disk followed by its 512-byte footer: type 2 (fixed).
    let bytes = std::fs::read(&vhd).unwrap();
    assert_eq!(bytes.len() as u64, 6 * MIB + 512);
    let footer = &bytes[bytes.len() - 512..];
    assert_eq!(&footer[..8], b"conectix");
    assert_eq!(u32::from_be_bytes(footer[60..64].try_into().unwrap()), 2);
    assert_eq!(back_to_raw(&vhd, "vpc"), std::fs::read(&raw).unwrap());

    // A disk that is not a whole number of MiB is refused, and nothing is left behind.
    let odd = dir.path().join("odd/disk.raw");
    std::fs::create_dir_all(odd.parent().unwrap()).unwrap();
    std::fs::write(&odd, vec![1u8; (MIB + 512) as usize]).unwrap();
    let e = cloud::azure(&odd).unwrap_err().to_string();
    assert!(e.contains("whole number of MiB"), "{e}");
    assert_eq!(std::fs::read_dir(odd.parent().unwrap()).unwrap().count(), 1);
}

#[test]
fn aws_is_a_stream_optimized_vmdk_with_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let raw = raw_disk(dir.path());
    let vmdk = cloud::aws(&raw).unwrap();
    let i = info(&vmdk, "vmdk");
    assert_eq!(i["format"], "vmdk");
    assert_eq!(
        i["format-specific"]["data"]["create-type"],
        "streamOptimized"
    );
    assert_eq!(i["virtual-size"], 6 * MIB);
    run(Command::new("qemu-img")
        .args(["check", "-f", "vmdk"])
        .arg(&vmdk));
    assert_eq!(back_to_raw(&vmdk, "vmdk"), std::fs::read(&raw).unwrap());
}

#[test]
fn gce_is_disk_raw_alone_in_a_gzipped_tar() {
    let dir = tempfile::tempdir().unwrap();
    let raw = raw_disk(dir.path());
    let tarball = cloud::gce(&raw, 1_700_000_000).unwrap();
    assert_eq!(tarball.file_name().unwrap(), "disk-gce.tar.gz");
    let listing = run(Command::new("tar").arg("-tzvf").arg(&tarball));
    let names: Vec<&str> = listing
        .lines()
        .map(|l| l.split_whitespace().last().unwrap())
        .collect();
    assert_eq!(names, ["disk.raw"], "{listing}");
    let out = dir.path().join("unpacked");
    std::fs::create_dir_all(&out).unwrap();
    run(Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(&out));
    assert_eq!(
        std::fs::read(out.join("disk.raw")).unwrap(),
        std::fs::read(&raw).unwrap()
    );
    // Made again at the same time stamp: the same bytes.
    let first = std::fs::read(&tarball).unwrap();
    cloud::gce(&raw, 1_700_000_000).unwrap();
    assert_eq!(std::fs::read(&tarball).unwrap(), first);
    // No work folder left beside the disk.
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["disk-gce.tar.gz", "disk.raw", "unpacked"]);
}

#[test]
fn ova_holds_its_descriptor_first_a_manifest_and_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let raw = raw_disk(dir.path());
    let ova = cloud::ova(&raw, "vm", 1_700_000_000).unwrap();
    assert_eq!(ova.file_name().unwrap(), "disk.ova");
    let listing = run(Command::new("tar").arg("-tf").arg(&ova));
    assert_eq!(
        listing.lines().collect::<Vec<_>>(),
        ["vm.ovf", "vm.mf", "vm-disk1.vmdk"]
    );
    let out = dir.path().join("unpacked");
    std::fs::create_dir_all(&out).unwrap();
    run(Command::new("tar").arg("-xf").arg(&ova).arg("-C").arg(&out));

    // The descriptor parses, and what it says is what is there.
    let descriptor = std::fs::read_to_string(out.join("vm.ovf")).unwrap();
    let doc = roxmltree::Document::parse(&descriptor).unwrap();
    const OVF: &str = "http://schemas.dmtf.org/ovf/envelope/1";
    let element = |name: &str| {
        doc.descendants()
            .find(|n| n.tag_name().name() == name)
            .unwrap_or_else(|| panic!("no <{name}> in the descriptor"))
    };
    let file = element("File");
    assert_eq!(file.attribute((OVF, "href")), Some("vm-disk1.vmdk"));
    let vmdk = out.join("vm-disk1.vmdk");
    assert_eq!(
        file.attribute((OVF, "size")),
        Some(std::fs::metadata(&vmdk).unwrap().len().to_string().as_str())
    );
    let disk = element("Disk");
    assert_eq!(
        disk.attribute((OVF, "capacity")),
        Some((6 * MIB).to_string().as_str())
    );
    assert_eq!(
        disk.attribute((OVF, "format")),
        Some(cloud::OVF_STREAM_OPTIMIZED)
    );
    assert_eq!(element("Name").text(), Some("vm"));
    let firmware = doc
        .descendants()
        .find(|n| n.tag_name().name() == "Config")
        .unwrap();
    assert_eq!(
        firmware.attribute(("http://www.vmware.com/schema/ovf", "value")),
        Some("efi")
    );

    // The manifest's digests are the files'.
    let manifest = std::fs::read_to_string(out.join("vm.mf")).unwrap();
    for name in ["vm.ovf", "vm-disk1.vmdk"] {
        let digest = run(Command::new("sha256sum").arg(out.join(name)));
        let digest = digest.split_whitespace().next().unwrap();
        assert!(
            manifest.contains(&format!("SHA256({name})= {digest}")),
            "{manifest}"
        );
    }
    // The disk is stream-optimized and holds the raw disk's bytes.
    let i = info(&vmdk, "vmdk");
    assert_eq!(
        i["format-specific"]["data"]["create-type"],
        "streamOptimized"
    );
    run(Command::new("qemu-img")
        .args(["check", "-f", "vmdk"])
        .arg(&vmdk));
    assert_eq!(back_to_raw(&vmdk, "vmdk"), std::fs::read(&raw).unwrap());
}
