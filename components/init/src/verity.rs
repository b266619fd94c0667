//! The slot's root through dm-verity: the table from the command line's `compose.verity=`,
//! made with device-mapper's ioctls (compose-boot's `dm`); compose-boot's
//! `verity::root_state` says what the kernel found reading it.

use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

use compose_boot::dm;
use compose_boot::verity::{DM_NAME, OnCorruption, Verity};

/// Maps `partition` (a device node) through dm-verity and returns the mapped device's node,
/// once it exists.
pub fn open(partition: &str, v: &Verity, on_corruption: OnCorruption) -> Result<String, String> {
    let meta = wait_for(partition)?;
    let rdev = meta.rdev();
    let device = format!(
        "{}:{}",
        nix::sys::stat::major(rdev),
        nix::sys::stat::minor(rdev)
    );
    let size = partition_size(partition)?;
    // The tree follows the data: a partition too small for both is not this root.
    if size < v.data_size() {
        return Err(format!(
            "{partition} holds {size} bytes, but its root hash covers {} bytes: the slot is cut short or not the one the boot entry names",
            v.data_size()
        ));
    }
    let node = dm::create_readonly(
        DM_NAME,
        "verity",
        v.sectors(),
        &v.table(&device, on_corruption),
    )
    .map_err(|e| e.to_string())?;
    wait_for(&node)?;
    Ok(node)
}

/// A device node may appear a moment after the kernel made its device.
fn wait_for(node: &str) -> Result<std::fs::Metadata, String> {
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        match std::fs::metadata(node) {
            Ok(m) => return Ok(m),
            Err(_) if Instant::now() < until => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("{node} did not appear: {e}")),
        }
    }
}

fn partition_size(node: &str) -> Result<u64, String> {
    use std::io::{Seek, SeekFrom};
    std::fs::File::open(node)
        .and_then(|mut f| f.seek(SeekFrom::End(0)))
        .map_err(|e| format!("cannot read the size of {node}: {e}"))
}
