//! GPT disks, as init and the update agent read them: the partition table at either sector
//! size, and both headers checked as `compose flash` does.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = compose_boot::gpt::parse(data, 512);
    let _ = compose_boot::gpt::parse(data, 4096);
    let mut disk = std::io::Cursor::new(data);
    let _ = compose_boot::gpt::check_both_headers(&mut disk, data.len() as u64);
});
