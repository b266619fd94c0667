//! A real registry for tests: Debian's docker-registry (distribution 2.8) on a free
//! loopback port, TLS from a new test CA (the certificate names 127.0.0.1 and 10.0.2.2, the
//! host as a QEMU guest reaches it) and basic authentication (user `tester`, password
//! `secret`), or plain HTTP and anonymous; images pushed into it by skopeo. Shared by compose-oci's registry test and the
//! workspace's vm boot test (`#[path]`), which use different parts of it.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use base64::Engine;

/// Runs `cmd`, which must succeed; its output.
pub fn run(cmd: &mut Command) -> String {
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
pub struct Registry {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// Where it keeps blobs (`docker/registry/v2/blobs/sha256/..`).
    pub storage: PathBuf,
    /// The test CA's certificate (PEM; none for a plain registry).
    pub ca: PathBuf,
    /// TLS and credentials (else plain HTTP, anonymous).
    secure: bool,
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
    pub fn start() -> Registry {
        Registry::launch(true)
    }

    /// docker-registry on a free loopback port speaking plain HTTP, with no credentials:
    /// a developer's local registry.
    pub fn start_plain() -> Registry {
        Registry::launch(false)
    }

    fn launch(secure: bool) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let ca = d.join("ca.pem");
        if secure {
            Registry::certificates(d);
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let storage = d.join("storage");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
            storage.display()
        );
        if secure {
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\nauth:\n  htpasswd:\n    realm: compose-test\n    path: {}\n",
                d.join("server.pem").display(),
                d.join("server.key").display(),
                d.join("htpasswd").display()
            ));
        }
        std::fs::write(d.join("config.yml"), config).unwrap();
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
        Registry {
            child,
            addr,
            storage,
            ca,
            secure,
            dir,
        }
    }

    /// A new CA (`ca.pem`, also as `certs/ca.crt` for skopeo), a server certificate for
    /// 127.0.0.1 and 10.0.2.2 signed by it, and `htpasswd` with user `tester`, in `d`.
    fn certificates(d: &std::path::Path) {
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
            "subjectAltName=IP:127.0.0.1,IP:10.0.2.2\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
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
        std::fs::create_dir(d.join("certs")).unwrap();
        std::fs::copy(&ca, d.join("certs/ca.crt")).unwrap();
    }

    /// Pushes layout image `from` (`oci:DIR:TAG`) as `name`.
    pub fn push(&self, from: &str, name: &str) {
        self.push_with(from, name, &[]);
    }

    /// [`Registry::push`] with more `skopeo copy` options (`--dest-compress-format zstd`).
    pub fn push_with(&self, from: &str, name: &str, options: &[&str]) {
        let mut skopeo = Command::new("skopeo");
        skopeo.args(["copy", "--quiet"]).args(options);
        if self.secure {
            skopeo
                .args(["--dest-creds", "tester:secret", "--dest-cert-dir"])
                .arg(self.dir.path().join("certs"));
        } else {
            skopeo.arg("--dest-tls-verify=false");
        }
        run(skopeo
            .arg(from)
            .arg(format!("docker://{}/{name}", self.addr)));
    }

    /// The port it listens on.
    pub fn port(&self) -> &str {
        self.addr.rsplit_once(':').map_or("", |(_, p)| p)
    }

    /// An auth file (as skopeo and docker write them) with user `tester` and `password`
    /// for this registry as a client names it (`host`: `127.0.0.1:PORT`, `10.0.2.2:PORT`).
    pub fn auth_file(&self, host: &str, password: &str) -> PathBuf {
        let file = self.dir.path().join(format!("auth-{host}-{password}.json"));
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("tester:{password}"));
        std::fs::write(
            &file,
            serde_json::json!({"auths": {host: {"auth": auth}}}).to_string(),
        )
        .unwrap();
        file
    }
}
