//! Provisioning files (users, SSH keys, network, files to write), as a device reads them
//! from its CIDATA drive at first boot.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = compose_provision::config::parse(text);
    }
});
