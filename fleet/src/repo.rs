//! `compose serve`: an update repository for someone without a web server. GET and HEAD of
//! the files under its folder (single ranges answered 206, so interrupted downloads resume),
//! no `..` paths (symbolic links inside it are followed: `compose publish` writes none), no
//! listings; over HTTPS with a certificate from the project's CA
//! (`compose keys server-cert`), or plain HTTP on loopback only. Every file in a repository
//! is signed or named by its digest, so it needs no access control.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::server::ServeError;

/// A started repository server.
#[derive(Debug)]
pub struct Serving {
    pub addr: SocketAddr,
    /// `https://ADDR/` or `http://ADDR/`.
    pub url: String,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Serving {
    /// Runs until the listener fails.
    pub async fn wait(self) -> std::io::Result<()> {
        self.task.await.unwrap_or(Ok(()))
    }
}

/// Serves the repository `root` on `listen` (port 0: any free port), with `tls` (a PEM
/// certificate chain and key) or, on loopback only, without.
pub async fn start(
    root: &Path,
    listen: SocketAddr,
    tls: Option<(PathBuf, PathBuf)>,
) -> Result<Serving, ServeError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    if tls.is_none() && !listen.ip().is_loopback() {
        return Err(ServeError::PlainOffLoopback { addr: listen });
    }
    if !root.is_dir() {
        return Err(ServeError::Repo {
            path: root.to_path_buf(),
        });
    }
    let app = axum::Router::new()
        .fallback_service(
            tower_http::services::ServeDir::new(root).append_index_html_on_directories(false),
        )
        .into_make_service();
    let listener = crate::server::listen(listen).map_err(|source| ServeError::Listen {
        addr: listen,
        source,
    })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Listen {
        addr: listen,
        source,
    })?;
    let (task, url) = match tls {
        None => (
            tokio::spawn(axum_server::from_tcp(listener).serve(app)),
            format!("http://{addr}/"),
        ),
        Some((cert, key)) => {
            let config = crate::tls::server_config(&cert, &key, None)
                .map_err(|e| ServeError::Tls(e.to_string()))?;
            (
                tokio::spawn(axum_server::from_tcp_rustls(listener, config).serve(app)),
                format!("https://{addr}/"),
            )
        }
    };
    Ok(Serving { addr, url, task })
}
