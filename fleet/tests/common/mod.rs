//! What the fleet's tests share: a real etcd (Debian's etcd-server) on loopback ports of its
//! own, a server started in this process, and an admin client.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;

use compose_fleet::client::Client;
use compose_fleet::server::{self, Config, Running, Tls};

/// A real etcd on loopback ports of its own.
pub type Etcd = compose_fleet::lock::LocalEtcd;

pub fn config(state: &Path, etcd: Option<&Etcd>) -> Config {
    Config {
        state: state.to_path_buf(),
        database: None,
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        repo: None,
        etcd: etcd.map(|e| e.url.clone()),
        tls: Tls::None,
        lock_ttl: 600,
        device_cert_lifetime: server::DEVICE_CERT_LIFETIME,
    }
}

pub async fn start(config: Config) -> Running {
    server::start(config)
        .await
        .expect("the fleet server starts")
}

/// An admin client of `server` with its first admin token.
pub fn admin(server: &Running) -> Client {
    Client::new(
        &server.url,
        Some(server.first_admin_token.as_deref().unwrap()),
        server.certificate.as_deref(),
    )
    .unwrap()
}

/// Runs blocking client calls off the async runtime.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

/// An enrollment token for `uses` devices of `group`.
pub async fn enroll_token(admin: &Client, group: &str, uses: usize) -> String {
    let (admin, group) = (admin.clone(), group.to_string());
    blocking(move || {
        admin
            .post(
                "/api/v1/enroll-tokens",
                &serde_json::json!({"group": group, "uses": uses}),
            )
            .unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string()
    })
    .await
}

/// A new admin API token with `role` (blocking: call it inside `blocking`).
pub fn token(admin: &Client, role: &str, name: &str) -> String {
    admin
        .post(
            "/api/v1/tokens",
            &serde_json::json!({"role": role, "name": name}),
        )
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A loopback TCP relay in front of `target` that keeps every byte it passes, both ways: what
/// a capture of the loopback interface shows of the connections made through it.
pub struct Capture {
    pub addr: SocketAddr,
    bytes: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl Capture {
    pub fn start(target: SocketAddr) -> Capture {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let bytes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = bytes.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = std::net::TcpStream::connect(target) else {
                    continue;
                };
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    let kept = kept.clone();
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16384];
                        while let Ok(n) = from.read(&mut buf) {
                            if n == 0 || to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                            kept.lock().unwrap().extend_from_slice(&buf[..n]);
                        }
                        let _ = to.shutdown(std::net::Shutdown::Write);
                    });
                }
            }
        });
        Capture { addr, bytes }
    }

    /// Everything passed so far.
    pub fn bytes(&self) -> Vec<u8> {
        self.bytes.lock().unwrap().clone()
    }
}

/// A project CA (as `compose keys generate` makes it) and a server certificate from it for
/// loopback, written under `dir`: (CA certificate, server chain, server key).
pub fn project_ca(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let ca = compose_fleet::tls::make_ca("test project CA").unwrap();
    let issuer = compose_fleet::tls::Issuer::from_pem(&ca.cert_pem, &ca.key_pem, dir).unwrap();
    let (chain, key) = issuer
        .issue_server(&["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap();
    let paths = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&paths.0, ca.cert_pem).unwrap();
    std::fs::write(&paths.1, chain).unwrap();
    std::fs::write(&paths.2, key).unwrap();
    paths
}
