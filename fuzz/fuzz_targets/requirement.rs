//! The requirement language (`name[features] >= 1.2, < 2 | other`).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(r) = compose_core::requirement::parse_requirement(text)
    {
        // What parses prints back to something that parses the same.
        let again = compose_core::requirement::parse_requirement(&r.to_string())
            .expect("a printed requirement parses");
        assert_eq!(again, r, "{text:?} printed as {r}");
    }
});
