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
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        repo: None,
        etcd: etcd.map(|e| e.url.clone()),
        tls: Tls::None,
        lock_ttl: 600,
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
