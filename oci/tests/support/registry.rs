//! A real registry for tests: Debian's docker-registry (distribution 2.8) on a free
//! loopback port, TLS from a new test CA (the certificate names 127.0.0.1 and 10.0.2.2, the
//! host as a QEMU guest reaches it) and basic authentication (user `tester`, password
//! `secret`), or bearer tokens from a token service of the test's own, or plain HTTP and
//! anonymous; images pushed into it by skopeo. Shared by compose-oci's registry test and the
//! workspace's vm boot test (`#[path]`), which use different parts of it.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
    /// The token service of a registry that takes bearer tokens.
    pub tokens: Option<TokenService>,
    dir: tempfile::TempDir,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How a registry lets clients in.
#[derive(Clone, Copy, PartialEq)]
enum Auth {
    /// Plain HTTP, anonymous.
    None,
    /// TLS, basic authentication.
    Basic,
    /// TLS, bearer tokens from a [`TokenService`] that takes basic credentials.
    Token,
}

impl Registry {
    /// docker-registry on a free loopback port, TLS from a new CA, user `tester`.
    pub fn start() -> Registry {
        Registry::launch(Auth::Basic)
    }

    /// docker-registry on a free loopback port speaking plain HTTP, with no credentials:
    /// a developer's local registry.
    pub fn start_plain() -> Registry {
        Registry::launch(Auth::None)
    }

    /// docker-registry with TLS that takes only bearer tokens, as Docker Hub, GHCR and
    /// Harbor do: its challenge sends clients to [`TokenService`], which issues tokens to
    /// user `tester`.
    pub fn start_with_tokens() -> Registry {
        Registry::launch(Auth::Token)
    }

    fn launch(auth: Auth) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let ca = d.join("ca.pem");
        if auth != Auth::None {
            Registry::certificates(d);
        }
        let addr = format!("127.0.0.1:{}", free_port());
        let storage = d.join("storage");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n",
            storage.display()
        );
        if auth != Auth::None {
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                d.join("server.pem").display(),
                d.join("server.key").display(),
            ));
        }
        let tokens = (auth == Auth::Token).then(|| TokenService::start(d));
        match (&tokens, auth) {
            (Some(tokens), _) => config.push_str(&format!(
                "auth:\n  token:\n    realm: http://{}/token\n    service: {TOKEN_AUDIENCE}\n    issuer: {TOKEN_ISSUER}\n    rootcertbundle: {}\n",
                tokens.addr,
                tokens.certificate.display()
            )),
            (None, Auth::Basic) => config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: compose-test\n    path: {}\n",
                d.join("htpasswd").display()
            )),
            (None, _) => {}
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
            secure: auth != Auth::None,
            tokens,
            dir,
        }
    }

    /// A new CA (`ca.pem`, also as `certs/ca.crt` for skopeo), a server certificate for
    /// 127.0.0.1 and 10.0.2.2 signed by it, and `htpasswd` with user `tester`, in `d`.
    fn certificates(d: &std::path::Path) {
        let ca = d.join("ca.pem");
        self_signed(&d.join("ca.key"), &ca, "compose test CA");
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

    /// What compose-oci needs to pull from it as user `tester` with `password`: the test
    /// CA and an auth file for the address it listens on.
    pub fn access(&self, password: &str) -> compose_oci::Access {
        compose_oci::Access {
            ca: Some(self.ca.clone()),
            auth_files: vec![self.auth_file(&self.addr, password)],
            blob_cache: None,
        }
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

/// A new RSA key at `key` and a self-signed certificate for it at `certificate` (PEM, two
/// days), named `name`.
fn self_signed(key: &Path, certificate: &Path, name: &str) {
    run(Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .arg("-subj")
        .arg(format!("/CN={name}"))
        .arg("-keyout")
        .arg(key)
        .arg("-out")
        .arg(certificate));
}

/// A port free on 127.0.0.1 a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `service` a token registry names in its challenges, and tokens' audience.
const TOKEN_AUDIENCE: &str = "compose-test";
/// Who signs the tokens, as the registry expects it.
const TOKEN_ISSUER: &str = "compose-test-tokens";

/// A token service as distribution's token authentication expects one (the Docker registry
/// v2 token specification), on a free loopback port in a thread of the test:
/// `GET /token?service=..&scope=..` with basic credentials `tester:secret` answers
/// `{"token": JWT}` granting every requested action; other credentials get 401. Tokens are
/// RS256 JWTs signed (by `openssl dgst`) with a key whose self-signed certificate the
/// registry trusts (`rootcertbundle`), the certificate in the header's `x5c`.
pub struct TokenService {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    certificate: PathBuf,
    /// Tokens issued so far.
    pub issued: Arc<AtomicUsize>,
    /// Requests refused for their credentials so far.
    pub refused: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Drop for TokenService {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accepting thread, which then sees `stop` and ends.
        let _ = TcpStream::connect(&self.addr);
    }
}

impl TokenService {
    fn start(d: &Path) -> TokenService {
        let key = d.join("token.key");
        let certificate = d.join("token.pem");
        self_signed(&key, &certificate, "compose test tokens");
        let der = Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&certificate)
            .output()
            .unwrap()
            .stdout;
        let header = serde_json::json!({
            "typ": "JWT",
            "alg": "RS256",
            "x5c": [base64::engine::general_purpose::STANDARD.encode(der)],
        });
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (issued, refused, stop) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let service = TokenService {
            addr,
            certificate,
            issued: issued.clone(),
            refused: refused.clone(),
            stop: stop.clone(),
        };
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let _ = answer(stream, &header, &key, &issued, &refused);
            }
        });
        service
    }
}

/// Answers one token request on `stream`.
fn answer(
    mut stream: TcpStream,
    header: &serde_json::Value,
    key: &Path,
    issued: &AtomicUsize,
    refused: &AtomicUsize,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    let mut authorization = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("authorization")
        {
            authorization = value.trim().to_string();
        }
    }
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("tester:secret")
    );
    if authorization != expected {
        refused.fetch_add(1, Ordering::SeqCst);
        return stream.write_all(
            b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
    }
    let target = request.split_whitespace().nth(1).unwrap_or("");
    let query = target.split_once('?').map_or("", |(_, q)| q);
    let mut access = Vec::new();
    for (name, value) in query.split('&').filter_map(|p| p.split_once('=')) {
        if name != "scope" {
            continue;
        }
        // `repository:team/hello:pull,push`, several separated by spaces.
        // A query string carries spaces as `+` and the rest as `%XX`.
        let value = value.replace('+', " ");
        let value = percent_encoding::percent_decode_str(&value).decode_utf8_lossy();
        for scope in value.split(' ').filter(|s| !s.is_empty()) {
            let Some((kind, rest)) = scope.split_once(':') else {
                continue;
            };
            let (name, actions) = rest.rsplit_once(':').unwrap_or((rest, ""));
            access.push(serde_json::json!({
                "type": kind,
                "name": name,
                "actions": actions.split(',').filter(|a| !a.is_empty()).collect::<Vec<_>>(),
            }));
        }
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "iss": TOKEN_ISSUER,
        "sub": "tester",
        "aud": TOKEN_AUDIENCE,
        "exp": now + 300,
        "nbf": now - 10,
        "iat": now,
        "jti": format!("{now}-{}", issued.load(Ordering::SeqCst)),
        "access": access,
    });
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let signed = format!(
        "{}.{}",
        url.encode(header.to_string()),
        url.encode(claims.to_string())
    );
    let mut openssl = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    openssl.stdin.take().unwrap().write_all(signed.as_bytes())?;
    let signature = openssl.wait_with_output()?.stdout;
    let body = serde_json::json!({
        "token": format!("{signed}.{}", url.encode(signature)),
        "expires_in": 300,
    })
    .to_string();
    issued.fetch_add(1, Ordering::SeqCst);
    stream.write_all(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
}
