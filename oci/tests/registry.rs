//! Pulling from a real registry: Debian's docker-registry (distribution 2.8) on 127.0.0.1
//! with TLS from a test CA and basic authentication, an image pushed into it by skopeo. By
//! tag and by digest; wrong, missing credentials and an untrusted certificate are clear
//! errors; a blob tampered in the registry's storage is refused and nothing of it is kept.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use base64::Engine;
use compose_oci::{Access, Image, ImageRef, OciError, unpack};

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (scripts/setup installs it)"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The registry process, stopped when dropped.
struct Registry {
    child: Child,
    addr: String,
    storage: PathBuf,
    ca: PathBuf,
    dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Registry {
    /// docker-registry on a free loopback port, TLS from a new CA, user `tester`.
    fn start() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let ca = d.join("ca.pem");
        run(Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=compose test CA", "-keyout"])
            .arg(d.join("ca.key"))
            .arg("-out")
            .arg(&ca));
        std::fs::write(
            d.join("ext.cnf"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        run(Command::new("openssl")
            .args([
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
            ])
            .arg(d.join("server.key"))
            .arg("-out")
            .arg(d.join("server.csr")));
        run(Command::new("openssl")
            .args(["x509", "-req", "-days", "2", "-CAcreateserial", "-in"])
            .arg(d.join("server.csr"))
            .arg("-CA")
            .arg(&ca)
            .arg("-CAkey")
            .arg(d.join("ca.key"))
            .arg("-extfile")
            .arg(d.join("ext.cnf"))
            .arg("-out")
            .arg(d.join("server.pem")));
        let hash = run(Command::new("python3").args([
            "-c",
            "import crypt; print(crypt.crypt('secret', crypt.mksalt(crypt.METHOD_BLOWFISH)))",
        ]));
        std::fs::write(d.join("htpasswd"), format!("tester:{}", hash.trim())).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let storage = d.join("storage");
        std::fs::write(
            d.join("config.yml"),
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n  tls:\n    certificate: {}\n    key: {}\nauth:\n  htpasswd:\n    realm: compose-test\n    path: {}\n",
                storage.display(),
                d.join("server.pem").display(),
                d.join("server.key").display(),
                d.join("htpasswd").display()
            ),
        )
        .unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(d.join("config.yml"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("docker-registry runs (scripts/setup installs it)");
        let start = Instant::now();
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the registry never listened"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        std::fs::create_dir(d.join("certs")).unwrap();
        std::fs::copy(&ca, d.join("certs/ca.crt")).unwrap();
        Registry {
            child,
            addr,
            storage,
            ca,
            dir,
        }
    }

    /// Pushes layout image `from` (`oci:DIR:TAG`) as `name`.
    fn push(&self, from: &str, name: &str) {
        run(Command::new("skopeo")
            .args([
                "copy",
                "--quiet",
                "--dest-creds",
                "tester:secret",
                "--dest-cert-dir",
            ])
            .arg(self.dir.path().join("certs"))
            .arg(from)
            .arg(format!("docker://{}/{name}", self.addr)));
    }

    /// An auth file with `password` for this registry, and the access that uses it.
    fn access(&self, password: &str) -> Access {
        let file = self.dir.path().join(format!("auth-{password}.json"));
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("tester:{password}"));
        std::fs::write(
            &file,
            serde_json::json!({"auths": {&self.addr: {"auth": auth}}}).to_string(),
        )
        .unwrap();
        Access {
            ca: Some(self.ca.clone()),
            auth_files: vec![file],
            blob_cache: None,
        }
    }
}

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
    let e = open(&by_tag, &registry.access("wrong"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("refused the credentials from"), "{e}");
    let anonymous = Access {
        ca: Some(registry.ca.clone()),
        ..Access::default()
    };
    let e = open(&by_tag, &anonymous).unwrap_err().to_string();
    assert!(e.contains("wants credentials and none are known"), "{e}");
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
