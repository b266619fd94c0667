//! How the device's agent reaches servers: HTTPS trusting only the CAs its image pins (never
//! the public roots), showing the device's own certificate where it has one (mutual TLS with
//! a fleet server); plain HTTP only to loopback, a server on the same machine.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};

/// Where an image pins the CAs its servers' certificates must chain to (under its root): one
/// `.pem` per CA, two while a CA is being replaced.
pub const PINNED_CAS: &str = "usr/lib/compose/tls-ca";

/// The most CAs an image pins: the current one and its successor.
pub const MAX_PINNED_CAS: usize = 2;

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error(
        "refusing plain HTTP to {host} ({url}): only loopback is reached without TLS\nhelp: serve it over HTTPS with a certificate from the project's CA (`compose keys server-cert`) and give an https:// URL"
    )]
    PlainHttp { url: String, host: String },
    #[error(
        "{url}: this image pins no CA ({dir} holds no certificate), so no HTTPS server can be trusted\nhelp: build the image with the project's CA in keys/tls-ca/ (`compose keys generate` makes it)"
    )]
    NoPinnedCa { url: String, dir: String },
    #[error("{url}: not an http:// or https:// URL")]
    Scheme { url: String },
    #[error("{path}: {message}")]
    Pem { path: String, message: String },
}

/// What the agent trusts and what it shows: the pinned CAs, and the device's certificate and
/// key once it has them.
#[derive(Clone, Default)]
pub struct Trust {
    cas: Vec<Certificate<'static>>,
    identity: Option<ClientCert>,
    /// Where the CAs were read from (for errors).
    dir: String,
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trust")
            .field("cas", &self.cas.len())
            .field("identity", &self.identity.is_some())
            .field("dir", &self.dir)
            .finish()
    }
}

impl Trust {
    /// The CAs pinned under the image root `root` (none when the folder is missing).
    pub fn pinned(root: &Path) -> Result<Trust, NetError> {
        let dir = root.join(PINNED_CAS);
        let mut trust = Trust {
            dir: dir.display().to_string(),
            ..Trust::default()
        };
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(trust);
        };
        let mut files: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "pem"))
            .collect();
        files.sort();
        for file in files {
            let pem = std::fs::read(&file).map_err(|e| NetError::Pem {
                path: file.display().to_string(),
                message: e.to_string(),
            })?;
            trust.cas.extend(certificates(&pem, &file)?);
        }
        Ok(trust)
    }

    /// Trusting exactly the CAs in the PEM file `path`.
    pub fn from_ca_file(path: &Path) -> Result<Trust, NetError> {
        let pem = std::fs::read(path).map_err(|e| NetError::Pem {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Ok(Trust {
            cas: certificates(&pem, path)?,
            identity: None,
            dir: path.display().to_string(),
        })
    }

    /// This trust, showing the certificate chain `cert_pem` with its private key `key_pem`.
    pub fn with_identity(
        &self,
        cert_pem: &[u8],
        key_pem: &[u8],
        path: &Path,
    ) -> Result<Trust, NetError> {
        let chain = certificates(cert_pem, path)?;
        let key = PrivateKey::from_pem(key_pem).map_err(|e| NetError::Pem {
            path: path.display().to_string(),
            message: format!("no private key: {e}"),
        })?;
        Ok(Trust {
            identity: Some(ClientCert::new_with_certs(&chain, key)),
            ..self.clone()
        })
    }

    /// How many CAs are pinned.
    pub fn ca_count(&self) -> usize {
        self.cas.len()
    }

    /// An HTTP agent for `url`: HTTPS with the pinned CAs, or plain HTTP to loopback; refused
    /// otherwise. Statuses are answers, not errors (the caller reads error bodies).
    pub fn agent(&self, url: &str, timeout: Option<Duration>) -> Result<ureq::Agent, NetError> {
        // No redirects: one could lead from HTTPS to plain HTTP, or off loopback.
        let config = ureq::Agent::config_builder()
            .timeout_global(timeout)
            .max_redirects(0)
            .http_status_as_error(false);
        let config = match scheme_host(url) {
            Some(("http", host)) if is_loopback(host) => config,
            Some(("http", host)) => {
                return Err(NetError::PlainHttp {
                    url: url.to_string(),
                    host: host.to_string(),
                });
            }
            Some(("https", _)) if self.cas.is_empty() => {
                return Err(NetError::NoPinnedCa {
                    url: url.to_string(),
                    dir: self.dir.clone(),
                });
            }
            Some(("https", _)) => config.tls_config(
                TlsConfig::builder()
                    .root_certs(RootCerts::Specific(Arc::new(self.cas.clone())))
                    .client_cert(self.identity.clone())
                    .build(),
            ),
            _ => {
                return Err(NetError::Scheme {
                    url: url.to_string(),
                });
            }
        };
        Ok(config.build().new_agent())
    }
}

/// Every certificate of a PEM file; none is an error.
fn certificates(pem: &[u8], path: &Path) -> Result<Vec<Certificate<'static>>, NetError> {
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        match item {
            Ok(PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => {
                return Err(NetError::Pem {
                    path: path.display().to_string(),
                    message: e.to_string(),
                });
            }
        }
    }
    if certs.is_empty() {
        return Err(NetError::Pem {
            path: path.display().to_string(),
            message: "no PEM certificate in it".into(),
        });
    }
    Ok(certs)
}

/// The scheme and host of `url` (`http://[::1]:80/x` gives `("http", "::1")`).
fn scheme_host(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split_once(']')?.0
    } else {
        authority.split(':').next().unwrap_or("")
    };
    Some((scheme, host))
}

/// Whether `host` is a loopback address (127.0.0.0/8 or ::1), written as one: a name such as
/// `localhost` goes through the resolver, which could send it elsewhere.
pub fn is_loopback(host: &str) -> bool {
    host.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_reaches_only_loopback() {
        let trust = Trust::default();
        for url in [
            "http://127.0.0.1:8080/",
            "http://[::1]:9/x",
            "http://127.3.4.5",
        ] {
            assert!(trust.agent(url, None).is_ok(), "{url}");
        }
        for url in [
            "http://10.0.2.2:8080/",
            "http://example.org/",
            "http://user@10.0.0.1:80/",
            "http://127.0.0.1.example.org/",
            "http://localhost/repo",
        ] {
            let e = trust.agent(url, None).unwrap_err();
            assert!(matches!(e, NetError::PlainHttp { .. }), "{url}: {e}");
        }
    }

    #[test]
    fn https_needs_a_pinned_ca_and_nothing_else_is_spoken() {
        let trust = Trust::pinned(Path::new("/nonexistent")).unwrap();
        assert_eq!(trust.ca_count(), 0);
        let e = trust.agent("https://10.0.2.2:443/", None).unwrap_err();
        assert!(matches!(e, NetError::NoPinnedCa { .. }), "{e}");
        assert!(e.to_string().contains("keys/tls-ca"), "{e}");
        let e = trust.agent("ftp://10.0.2.2/", None).unwrap_err();
        assert!(matches!(e, NetError::Scheme { .. }), "{e}");
    }

    #[test]
    fn a_pem_without_certificates_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join(PINNED_CAS);
        std::fs::create_dir_all(&ca).unwrap();
        std::fs::write(ca.join("ca.pem"), "not a certificate").unwrap();
        let e = Trust::pinned(dir.path()).unwrap_err();
        assert!(e.to_string().contains("ca.pem"), "{e}");
    }
}
