//! device-mapper through its ioctls on `/dev/mapper/control` (no libdevmapper, no udev):
//! create a device, load a read-only table of one target, resume it, read its status.
//! Enough to open a slot's root through dm-verity from a static PID 1.
#![allow(unsafe_code)] // the ioctl itself, in `call`, on a buffer this module lays out.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

const CONTROL: &str = "/dev/mapper/control";
/// `sizeof(struct dm_ioctl)` (include/uapi/linux/dm-ioctl.h).
const HEADER: usize = 312;
/// `sizeof(struct dm_target_spec)`.
const TARGET_SPEC: usize = 40;
const NAME_LEN: usize = 128;
/// The interface version we speak (the kernel checks the major number).
const VERSION: [u32; 3] = [4, 0, 0];

const READONLY: u32 = 1 << 0;

const DEV_CREATE: u8 = 3;
const DEV_REMOVE: u8 = 4;
const DEV_SUSPEND: u8 = 6;
const TABLE_LOAD: u8 = 9;
const TABLE_STATUS: u8 = 12;

/// `_IOWR(0xfd, nr, struct dm_ioctl)`.
fn request(nr: u8) -> libc::c_ulong {
    (3 << 30) | ((HEADER as libc::c_ulong) << 16) | (0xfd << 8) | libc::c_ulong::from(nr)
}

/// One ioctl buffer: the header, then `payload` at `data_start`.
fn buffer(name: &str, flags: u32, targets: u32, payload: &[u8]) -> io::Result<Vec<u8>> {
    if name.is_empty() || name.len() >= NAME_LEN || name.contains('/') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{name}` is not a device-mapper name"),
        ));
    }
    // Room for what the kernel writes back (a status line).
    let size = (HEADER + payload.len())
        .max(HEADER + 4096)
        .next_multiple_of(8);
    let mut b = vec![0u8; size];
    for (i, v) in VERSION.iter().enumerate() {
        b[i * 4..i * 4 + 4].copy_from_slice(&v.to_ne_bytes());
    }
    b[12..16].copy_from_slice(&(size as u32).to_ne_bytes());
    b[16..20].copy_from_slice(&(HEADER as u32).to_ne_bytes());
    b[20..24].copy_from_slice(&targets.to_ne_bytes());
    b[28..32].copy_from_slice(&flags.to_ne_bytes());
    b[48..48 + name.len()].copy_from_slice(name.as_bytes());
    b[HEADER..HEADER + payload.len()].copy_from_slice(payload);
    Ok(b)
}

fn call(control: &File, nr: u8, buf: &mut [u8], what: &str) -> io::Result<()> {
    // SAFETY: `buf` is a dm_ioctl header followed by its data, `data_size` bytes long, as
    // the ioctl expects; the kernel writes back within `data_size`.
    let r = unsafe { libc::ioctl(control.as_raw_fd(), request(nr) as _, buf.as_mut_ptr()) };
    if r < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("device-mapper {what}: {e}"),
        ));
    }
    Ok(())
}

fn control() -> io::Result<File> {
    File::options()
        .read(true)
        .write(true)
        .open(CONTROL)
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("{CONTROL}: {e} (is the dm-mod kernel module loaded?)"),
            )
        })
}

/// Creates device `name` with one read-only target (`target` over `sectors` 512-byte
/// sectors with `params`) and resumes it, so it can be read at once; returns the device
/// node devtmpfs makes for it (`/dev/dm-N`). On failure the half-made device is removed.
pub fn create_readonly(name: &str, target: &str, sectors: u64, params: &str) -> io::Result<String> {
    let control = control()?;
    let mut create = buffer(name, 0, 0, &[])?;
    call(&control, DEV_CREATE, &mut create, "create")?;
    let made = (|| {
        let mut spec = vec![0u8; TARGET_SPEC];
        spec[8..16].copy_from_slice(&sectors.to_ne_bytes());
        spec[24..24 + target.len().min(15)]
            .copy_from_slice(&target.as_bytes()[..target.len().min(15)]);
        spec.extend_from_slice(params.as_bytes());
        spec.push(0);
        spec.resize(spec.len().next_multiple_of(8), 0);
        let mut load = buffer(name, READONLY, 1, &spec)?;
        call(&control, TABLE_LOAD, &mut load, "load table")?;
        // DM_DEV_SUSPEND without the suspend flag resumes: the loaded table goes live.
        let mut resume = buffer(name, 0, 0, &[])?;
        call(&control, DEV_SUSPEND, &mut resume, "resume")?;
        let dev = u64::from_ne_bytes(resume[40..48].try_into().expect("8 bytes"));
        Ok(format!("/dev/dm-{}", libc::minor(dev as libc::dev_t)))
    })();
    if made.is_err() {
        let mut remove = buffer(name, 0, 0, &[])?;
        let _ = call(&control, DEV_REMOVE, &mut remove, "remove");
    }
    made
}

/// The status line of the first target of device `name` (for verity: `V` or `C`); `None`
/// when there is no such device.
pub fn status(name: &str) -> io::Result<Option<String>> {
    let control = control()?;
    let mut b = buffer(name, 0, 0, &[])?;
    match call(&control, TABLE_STATUS, &mut b, "status") {
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => return Ok(None),
        Err(e) => return Err(e),
        Ok(()) => {}
    }
    let targets = u32::from_ne_bytes(b[20..24].try_into().expect("4 bytes"));
    let start = u32::from_ne_bytes(b[16..20].try_into().expect("4 bytes")) as usize;
    if targets == 0 || start + TARGET_SPEC > b.len() {
        return Ok(Some(String::new()));
    }
    let text = &b[start + TARGET_SPEC..];
    let end = text.iter().position(|&c| c == 0).unwrap_or(text.len());
    Ok(Some(String::from_utf8_lossy(&text[..end]).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_the_kernels_numbers() {
        // DM_DEV_CREATE and DM_TABLE_STATUS as <linux/dm-ioctl.h> defines them on x86-64.
        assert_eq!(request(DEV_CREATE), 0xc138_fd03);
        assert_eq!(request(TABLE_STATUS), 0xc138_fd0c);
    }

    #[test]
    fn the_header_says_where_its_data_is() {
        let b = buffer("root", READONLY, 1, b"abc").unwrap();
        assert_eq!(&b[0..4], &4u32.to_ne_bytes());
        assert_eq!(
            u32::from_ne_bytes(b[12..16].try_into().unwrap()) as usize,
            b.len()
        );
        assert_eq!(u32::from_ne_bytes(b[16..20].try_into().unwrap()), 312);
        assert_eq!(&b[48..52], b"root");
        assert_eq!(&b[312..315], b"abc");
        assert!(buffer("a/b", 0, 0, &[]).is_err());
        assert!(buffer(&"x".repeat(128), 0, 0, &[]).is_err());
    }
}
