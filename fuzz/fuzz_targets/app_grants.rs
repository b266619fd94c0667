//! App grants as manifests and `--allow` write them: addresses, sizes and durations.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(grant) = compose_core::app::NetGrant::parse(text) {
        for addr in ["127.0.0.1:80", "[::1]:443", "10.0.0.1:65535"] {
            let _ = grant.allows(addr.parse().unwrap());
        }
    }
    let _ = compose_core::app::parse_size(text);
    let _ = compose_core::app::parse_duration(text);
});
