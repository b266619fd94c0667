//! Signed releases and chunk indexes, as the update agent fetches them. The first byte
//! picks: a signed release file as is; the rest signed by the trusted key (so the release's
//! own fields are reached); or a chunk index.
#![no_main]
use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let key = SigningKey::from_bytes(&[7u8; 32]);
    let trusted = key.verifying_key();
    match mode % 3 {
        0 => {
            let _ = compose_update::release::verify(rest, &trusted, "vm", 1_800_000_000);
        }
        1 => {
            let Ok(text) = std::str::from_utf8(rest) else {
                return;
            };
            let Ok(mut release) = serde_json::from_str::<compose_update::release::Release>(text)
            else {
                return;
            };
            // Signed by the trusted key, as the publisher would.
            release.key_id = compose_update::keys::key_id(&trusted);
            let signed = compose_update::release::sign(&release, &key);
            if let Ok(r) = compose_update::release::verify(&signed, &trusted, "vm", 1_800_000_000)
            {
                let _ = compose_update::release::check_generation(&r, 1, false);
            }
        }
        _ => {
            if let Ok(index) = serde_json::from_slice::<compose_update::chunks::ChunkIndex>(rest) {
                let _ = index.is_contiguous();
            }
        }
    }
});
