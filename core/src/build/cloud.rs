//! Images in the shapes clouds import, made from the raw disk with the tools that own the
//! formats (qemu-img, tar, gzip): Azure's fixed VHD (a whole number of MiB), GCE's
//! `disk.raw` in a gzipped GNU tar, a stream-optimized VMDK for AWS's VM import, and a
//! vSphere OVA (an OVF descriptor, its SHA-256 manifest and a stream-optimized VMDK in a
//! POSIX tar, descriptor first).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{BuildError, run_tool};

const MIB: u64 = 1 << 20;
/// What a stream-optimized VMDK is called in an OVF descriptor.
pub const OVF_STREAM_OPTIMIZED: &str =
    "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized";

/// The folder the raw disk is in (outputs go beside it).
fn folder(raw: &Path) -> &Path {
    raw.parent().unwrap_or(Path::new("."))
}

/// The raw disk's size in bytes.
fn size_of(raw: &Path) -> Result<u64, BuildError> {
    Ok(fs::metadata(raw)
        .map_err(|e| BuildError::io("stat", raw, e))?
        .len())
}

fn qemu_img(args: &[&str], from: &Path, to: &Path) -> Result<(), BuildError> {
    run_tool(
        Command::new("qemu-img")
            .args(["convert", "-f", "raw"])
            .args(args)
            .arg(from)
            .arg(to),
        "qemu-img",
        "qemu-utils",
    )
}

/// Writes `to` aside and renames it into place, so a failed step leaves no partial file.
fn made_aside(
    to: PathBuf,
    make: impl FnOnce(&Path) -> Result<(), BuildError>,
) -> Result<PathBuf, BuildError> {
    let name = to.file_name().unwrap_or_default().to_string_lossy();
    let partial = to.with_file_name(format!(".{name}.partial"));
    let _ = fs::remove_file(&partial);
    if let Err(e) = make(&partial) {
        let _ = fs::remove_file(&partial);
        return Err(e);
    }
    fs::rename(&partial, &to).map_err(|e| BuildError::io("rename", &partial, e))?;
    Ok(to)
}

/// Azure: a fixed-size VHD whose virtual size is the raw size, which must be a whole
/// number of MiB (Azure refuses anything else). `disk-azure.vhd`.
pub fn azure(raw: &Path) -> Result<PathBuf, BuildError> {
    let size = size_of(raw)?;
    if size % MIB != 0 {
        return Err(BuildError::io(
            "convert for Azure",
            raw,
            std::io::Error::other(format!(
                "the disk is {size} bytes; Azure needs a whole number of MiB (set the device's [image] size in M or G)"
            )),
        ));
    }
    made_aside(folder(raw).join("disk-azure.vhd"), |to| {
        qemu_img(
            &["-O", "vpc", "-o", "subformat=fixed,force_size=on"],
            raw,
            to,
        )
    })
}

/// AWS (VM import): a stream-optimized VMDK. `disk-aws.vmdk`.
pub fn aws(raw: &Path) -> Result<PathBuf, BuildError> {
    made_aside(folder(raw).join("disk-aws.vmdk"), |to| {
        qemu_img(&["-O", "vmdk", "-o", "subformat=streamOptimized"], raw, to)
    })
}

/// Arguments that make tar's output depend only on the files' bytes and the order they
/// are named in: one time (`epoch`, seconds), owner root.
fn reproducible_tar(epoch: u64) -> Vec<String> {
    vec![
        format!("--mtime=@{epoch}"),
        "--owner=0".into(),
        "--group=0".into(),
        "--numeric-owner".into(),
    ]
}

/// GCE: the disk as `disk.raw` (the name GCE looks for) in a gzipped tar of the old GNU
/// format, sparse. `disk-gce.tar.gz`.
pub fn gce(raw: &Path, epoch: u64) -> Result<PathBuf, BuildError> {
    let dir = folder(raw);
    let work = dir.join(".gce");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).map_err(|e| BuildError::io("create", &work, e))?;
    let made = (|| {
        // A hard link when it can be (same file system), a copy when not.
        let inside = work.join("disk.raw");
        if fs::hard_link(raw, &inside).is_err() {
            fs::copy(raw, &inside).map_err(|e| BuildError::io("copy", raw, e))?;
        }
        made_aside(dir.join("disk-gce.tar.gz"), |to| {
            run_tool(
                Command::new("tar")
                    .args([
                        "--format=oldgnu",
                        "--sparse",
                        "--use-compress-program=gzip -n",
                    ])
                    .args(reproducible_tar(epoch))
                    .arg("-cf")
                    .arg(to)
                    .arg("-C")
                    .arg(&work)
                    .arg("disk.raw"),
                "tar",
                "tar",
            )
        })
    })();
    let _ = fs::remove_dir_all(&work);
    made
}

/// vSphere: `disk.ova`, a POSIX tar of `NAME.ovf` (UEFI firmware, 2 CPUs, 2 GiB, a SATA
/// disk and a VMXNET3 network card), `NAME.mf` (SHA-256 of both other files) and
/// `NAME-disk1.vmdk` (stream-optimized), in that order.
pub fn ova(raw: &Path, name: &str, epoch: u64) -> Result<PathBuf, BuildError> {
    let dir = folder(raw);
    let work = dir.join(".ova");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).map_err(|e| BuildError::io("create", &work, e))?;
    let made = (|| {
        let disk = format!("{name}-disk1.vmdk");
        qemu_img(
            &["-O", "vmdk", "-o", "subformat=streamOptimized"],
            raw,
            &work.join(&disk),
        )?;
        let disk_size = size_of(&work.join(&disk))?;
        let descriptor = ovf(name, &disk, disk_size, size_of(raw)?);
        let ovf_name = format!("{name}.ovf");
        fs::write(work.join(&ovf_name), &descriptor)
            .map_err(|e| BuildError::io("write", &work.join(&ovf_name), e))?;
        let disk_digest = crate::store::sha256_file(&work.join(&disk))?;
        let manifest = format!(
            "SHA256({ovf_name})= {}\nSHA256({disk})= {disk_digest}\n",
            crate::store::sha256(descriptor.as_bytes())
        );
        let mf_name = format!("{name}.mf");
        fs::write(work.join(&mf_name), manifest)
            .map_err(|e| BuildError::io("write", &work.join(&mf_name), e))?;
        made_aside(dir.join("disk.ova"), |to| {
            let mut tar = Command::new("tar");
            tar.arg("--format=ustar")
                .args(reproducible_tar(epoch))
                .arg("--no-recursion")
                .arg("-cf")
                .arg(to)
                .arg("-C")
                .arg(&work);
            // The descriptor first, then its manifest, then the disk.
            tar.args([&ovf_name, &mf_name, &disk]);
            run_tool(&mut tar, "tar", "tar")
        })
    })();
    let _ = fs::remove_dir_all(&work);
    made
}

/// The OVF 1.0 descriptor of a UEFI virtual machine with one stream-optimized disk.
pub fn ovf(name: &str, disk_file: &str, disk_file_size: u64, capacity: u64) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <References>
    <File ovf:href="{disk_file}" ovf:id="file1" ovf:size="{disk_file_size}"/>
  </References>
  <DiskSection>
    <Info>Virtual disks</Info>
    <Disk ovf:capacity="{capacity}" ovf:capacityAllocationUnits="byte" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="{OVF_STREAM_OPTIMIZED}"/>
  </DiskSection>
  <NetworkSection>
    <Info>Logical networks</Info>
    <Network ovf:name="VM Network">
      <Description>The VM Network network</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="{name}">
    <Info>A compose device image</Info>
    <Name>{name}</Name>
    <OperatingSystemSection ovf:id="96" vmw:osType="debian12_64Guest">
      <Info>Debian 12 (64-bit) userland</Info>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>{name}</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>vmx-15</vssd:VirtualSystemType>
      </System>
      <Item>
        <rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>
        <rasd:Description>Number of virtual CPUs</rasd:Description>
        <rasd:ElementName>2 virtual CPUs</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>2</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>
        <rasd:Description>Memory size</rasd:Description>
        <rasd:ElementName>2048 MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>2048</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:Description>SATA controller</rasd:Description>
        <rasd:ElementName>SATA controller 0</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>vmware.sata.ahci</rasd:ResourceSubType>
        <rasd:ResourceType>20</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:ElementName>Hard disk 1</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:Parent>3</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
        <rasd:Connection>VM Network</rasd:Connection>
        <rasd:ElementName>Network adapter 1</rasd:ElementName>
        <rasd:InstanceID>5</rasd:InstanceID>
        <rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType>
        <rasd:ResourceType>10</rasd:ResourceType>
      </Item>
      <vmw:Config ovf:required="false" vmw:key="firmware" vmw:value="efi"/>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
"#
    )
}
