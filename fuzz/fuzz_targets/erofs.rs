//! The erofs superblock, from which the update agent learns a root's size.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = compose_update::device::erofs_size(data);
});
