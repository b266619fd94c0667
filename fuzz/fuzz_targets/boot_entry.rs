//! Boot loader entries, their file names and the kernel command line, as init, the update
//! agent and `compose inspect` read them.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(entry) = compose_boot::entry::Entry::parse(text) {
        let _ = entry.render();
    }
    let _ = compose_boot::entry::EntryName::parse(text);
    let _ = compose_boot::cmdline::parse(text);
    let _ = compose_core::inspect::parse_entry("compose-a+3-0.conf", text);
});
