//! A reproducible initramfs: a `newc` cpio archive written from a tree, with fixed
//! timestamps, owners and inode numbers, in sorted path order.

use std::io::{self, Read, Write};

use super::tree::{Entry, Tree};
use crate::store::Store;

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;

/// Writes `tree` as a newc archive with every timestamp set to `mtime`.
pub fn write(out: &mut impl Write, store: &Store, tree: &Tree, mtime: u32) -> io::Result<()> {
    for (ino, (path, entry)) in (1..).zip(&tree.entries) {
        let name = path.trim_start_matches('/');
        match entry {
            Entry::Dir { mode } => header(out, ino, S_IFDIR | mode, 2, mtime, 0, name)?,
            Entry::Symlink { target } => {
                header(
                    out,
                    ino,
                    S_IFLNK | 0o777,
                    1,
                    mtime,
                    target.len() as u32,
                    name,
                )?;
                out.write_all(target.as_bytes())?;
                pad(out, target.len())?;
            }
            Entry::File { digest, size, mode } => {
                header(out, ino, S_IFREG | mode, 1, mtime, *size as u32, name)?;
                let mut file = std::fs::File::open(store.blob_path(digest))?;
                let copied = io::copy(&mut (&mut file).take(*size), out)?;
                if copied != *size {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("blob {digest} is shorter than {size} bytes"),
                    ));
                }
                pad(out, *size as usize)?;
            }
        }
    }
    header(out, 0, 0, 1, 0, 0, "TRAILER!!!")
}

fn header(
    out: &mut impl Write,
    ino: u32,
    mode: u32,
    nlink: u32,
    mtime: u32,
    size: u32,
    name: &str,
) -> io::Result<()> {
    let namesize = name.len() + 1;
    write!(
        out,
        "070701{ino:08x}{mode:08x}{:08x}{:08x}{nlink:08x}{mtime:08x}{size:08x}{:08x}{:08x}{:08x}{:08x}{namesize:08x}{:08x}",
        0, 0, 0, 0, 0, 0, 0
    )?;
    out.write_all(name.as_bytes())?;
    out.write_all(&[0])?;
    pad(out, 110 + namesize)
}

/// newc aligns headers and data to 4 bytes.
fn pad(out: &mut impl Write, len: usize) -> io::Result<()> {
    out.write_all(&[0u8; 3][..(4 - len % 4) % 4])
}
