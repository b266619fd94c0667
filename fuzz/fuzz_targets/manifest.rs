//! Component manifests and device profiles: one file parsed as each, then loaded into a
//! catalog beside the project's own `base` so references and the resolver run too.
#![no_main]
use compose_core::diagnostic::SourceFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = SourceFile::new("manifests/fuzz.toml", text);
    let _ = compose_core::manifest::parse_component(&file);
    let device = SourceFile::new("devices/fuzz.toml", text);
    let _ = compose_core::device::parse_device(&device);
    if let Ok(loaded) = compose_core::catalog::Catalog::load(&[file], &[device]) {
        for d in loaded.catalog.devices() {
            let _ = compose_core::resolve::resolve(
                &loaded.catalog,
                &d.name,
                &compose_core::resolve::ResolveOptions::default(),
            );
        }
    }
});
