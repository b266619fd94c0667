//! Pulling from a real registry: Debian's docker-registry (distribution 2.8) on 127.0.0.1
//! with TLS from a test CA and basic authentication, an image pushed into it by skopeo. By
//! tag and by digest; wrong, missing credentials and an untrusted certificate are clear
//! errors; a blob tampered in the registry's storage is refused and nothing of it is kept.
//! A registry on loopback without TLS is spoken to over plain HTTP, and zstd layers unpack.
//! A registry that takes only bearer tokens is pulled from with a token its token service
//! issued for the credentials.

use std::path::Path;
use std::process::Command;

use compose_oci::{Access, Image, ImageRef, OciError, unpack};

#[path = "support/registry.rs"]
mod registry;
use registry::{Registry, run};

/// A layout with two files, made by umoci: `DIR:1.0`.
fn image(dir: &Path) -> String {
    let l = dir.join("layout");
    let b = dir.join("bundle");
    let image = format!("{}:1.0", l.display());
    run(Command::new("umoci").arg("init").arg("--layout").arg(&l));
    run(Command::new("umoci").args(["new", "--image", &image]));
    run(Command::new("umoci")
        .args(["unpack", "--rootless", "--image", &image])
        .arg(&b));
    std::fs::write(b.join("rootfs/hello"), "hello from the registry").unwrap();
    std::fs::write(b.join("rootfs/data"), vec![7u8; 100_000]).unwrap();
    run(Command::new("umoci")
        .args(["repack", "--image", &image])
        .arg(&b));
    format!("oci:{image}")
}

/// Version 2 of [`image`]'s layout: version 1's layer and one more, `oci:DIR:2.0`.
fn layer_on(dir: &Path) -> String {
    let l = dir.join("layout");
    let b = dir.join("bundle2");
    run(Command::new("umoci")
        .args([
            "unpack",
            "--rootless",
            "--image",
            &format!("{}:1.0", l.display()),
        ])
        .arg(&b));
    std::fs::write(b.join("rootfs/added"), "version 2").unwrap();
    run(Command::new("umoci")
        .args(["repack", "--image", &format!("{}:2.0", l.display())])
        .arg(&b));
    format!("oci:{}:2.0", l.display())
}

fn open(reference: &str, access: &Access) -> Result<Image, OciError> {
    Image::open_with(&ImageRef::parse(reference).unwrap(), "amd64", access)
}

/// Opening `reference` with a wrong password, then with no credentials, fails saying which.
fn refuses_wrong_and_missing_credentials(registry: &Registry, reference: &str) {
    let e = open(reference, &registry.access("wrong"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("refused the credentials from"), "{e}");
    let anonymous = Access {
        ca: Some(registry.ca.clone()),
        ..Access::default()
    };
    let e = open(reference, &anonymous).unwrap_err().to_string();
    assert!(e.contains("wants credentials and none are known"), "{e}");
}

#[test]
fn images_are_pulled_with_tls_and_credentials_and_a_tampered_blob_is_refused() {
    let registry = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    registry.push(&image(tmp.path()), "team/hello:1.0");
    let by_tag = format!("docker://{}/team/hello:1.0", registry.addr);

    // By tag, then by the digest the tag named.
    let image = open(&by_tag, &registry.access("secret")).unwrap();
    let dest = tempfile::tempdir().unwrap();
    unpack(&image, dest.path()).unwrap();
    assert_eq!(
        std::fs::read_to_string(dest.path().join("hello")).unwrap(),
        "hello from the registry"
    );
    let by_digest = format!("docker://{}/team/hello@{}", registry.addr, image.digest);
    assert_eq!(
        open(&by_digest, &registry.access("secret")).unwrap().digest,
        image.digest
    );

    // Version 2 adds a layer on version 1's: with a blob cache, its pull fetches only its
    // config and the new layer.
    let v2 = layer_on(tmp.path());
    registry.push(&v2, "team/hello:2.0");
    let cache = tmp.path().join("blob-cache");
    let cached = Access {
        blob_cache: Some(cache.clone()),
        ..registry.access("secret")
    };
    let first = open(&by_tag, &cached).unwrap().pull.unwrap();
    assert_eq!((first.fetched, first.reused), (2, 0), "{first:?}");
    let second = open(
        &format!("docker://{}/team/hello:2.0", registry.addr),
        &cached,
    )
    .unwrap()
    .pull
    .unwrap();
    assert_eq!((second.fetched, second.reused), (2, 1), "{second:?}");

    // Refusals say what to do.
    refuses_wrong_and_missing_credentials(&registry, &by_tag);
    let untrusted = Access {
        ca: None,
        ..registry.access("secret")
    };
    let e = open(&by_tag, &untrusted).unwrap_err().to_string();
    assert!(e.contains("COMPOSE_REGISTRY_CA"), "{e}");
    let e = open(
        &format!("docker://{}/team/hello:3.0", registry.addr),
        &registry.access("secret"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("the registry has no"), "{e}");

    // One byte of version 1's layer changed in the registry's storage.
    let hex = image.layers[0].digest.hex().to_string();
    let layer = &registry
        .storage
        .join("docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(&hex)
        .join("data");
    let mut bytes = std::fs::read(layer).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(layer, &bytes).unwrap();
    let e = open(&by_tag, &registry.access("secret")).unwrap_err();
    assert!(matches!(e, OciError::BadBlob { .. }), "{e}");
    assert!(
        e.to_string().contains("the registry's bytes hash to"),
        "{e}"
    );
}

#[test]
fn a_loopback_registry_speaks_plain_http_and_zstd_layers_unpack() {
    let registry = Registry::start_plain();
    let tmp = tempfile::tempdir().unwrap();
    registry.push_with(
        &image(tmp.path()),
        "team/hello:zstd",
        &["--dest-compress-format", "zstd"],
    );
    let image = open(
        &format!("docker://{}/team/hello:zstd", registry.addr),
        &Access::default(),
    )
    .unwrap();
    let mut magic = [0u8; 4];
    use std::io::Read;
    std::fs::File::open(&image.layers[0].path)
        .unwrap()
        .read_exact(&mut magic)
        .unwrap();
    assert_eq!(magic, [0x28, 0xb5, 0x2f, 0xfd], "the layer is zstd");
    let dest = tempfile::tempdir().unwrap();
    unpack(&image, dest.path()).unwrap();
    assert_eq!(
        std::fs::read_to_string(dest.path().join("hello")).unwrap(),
        "hello from the registry"
    );
    assert_eq!(
        std::fs::read(dest.path().join("data")).unwrap(),
        vec![7u8; 100_000]
    );
}

#[test]
fn a_registry_that_takes_bearer_tokens_is_pulled_from_with_a_token_for_the_credentials() {
    use std::sync::atomic::Ordering::SeqCst;
    let registry = Registry::start_with_tokens();
    let tokens = registry.tokens.as_ref().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    registry.push(&image(tmp.path()), "team/hello:1.0");
    let after_push = tokens.issued.load(SeqCst);
    assert!(after_push > 0, "skopeo pushed with a token");
    let by_tag = format!("docker://{}/team/hello:1.0", registry.addr);

    let image = open(&by_tag, &registry.access("secret")).unwrap();
    assert!(
        tokens.issued.load(SeqCst) > after_push,
        "the pull got its token from the token service"
    );
    let dest = tempfile::tempdir().unwrap();
    unpack(&image, dest.path()).unwrap();
    assert_eq!(
        std::fs::read_to_string(dest.path().join("hello")).unwrap(),
        "hello from the registry"
    );

    // The token service refuses wrong or missing credentials; so does the pull, clearly.
    refuses_wrong_and_missing_credentials(&registry, &by_tag);
    assert_eq!(tokens.refused.load(SeqCst), 2);
}
