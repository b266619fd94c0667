//! Debian `Packages` paragraphs, relation fields and versions, as apt's indexes give them.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(index) = compose_core::debian::index::Index::parse(text, "Packages", "amd64") {
        let _ = index.len();
    }
    let _ = compose_core::debian::relation::parse_clauses(text);
    for line in text.lines() {
        let _ = compose_core::debian::relation::parse_relation(line);
    }
});
