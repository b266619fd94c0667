//! compose.lock, which people edit and merge by hand.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(lock) = compose_core::lock::LockFile::parse(text)
    {
        let _ = lock.to_toml();
    }
});
