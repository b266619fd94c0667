//! Pulling from a registry (the OCI distribution API, as Docker's and Debian's
//! docker-registry serve it) into a fresh OCI layout: the tag's manifest (an index is
//! followed to the wanted architecture), the config and the layers, each written aside and
//! kept only when its bytes hash to its digest. HTTPS, trusting the system's roots or
//! `COMPOSE_REGISTRY_CA` (a PEM file); plain HTTP only for a loopback registry that does not
//! answer HTTPS (as Docker treats them); anonymous, basic or bearer-token authentication with
//! credentials from `$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json` (skopeo
//! and podman login) or `~/.docker/config.json` (docker login).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use serde::Deserialize;
use sha2::Digest as _;

use crate::OciError;
use crate::digest::Digest;
use crate::image::Descriptor;

/// The manifest kinds asked for, newest first.
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";
/// Manifests larger than this are refused.
const MAX_MANIFEST: u64 = 4 << 20;

/// An image in a registry: `HOST[:PORT]/REPOSITORY` and a tag or `sha256:` digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    pub registry: String,
    pub repository: String,
    pub reference: String,
}

impl Remote {
    /// Parses what follows `docker://`: the registry is named, never assumed.
    pub fn parse(text: &str) -> Option<Remote> {
        let (registry, rest) = text.split_once('/')?;
        let named = registry.contains('.') || registry.contains(':') || registry == "localhost";
        if !named || rest.is_empty() {
            return None;
        }
        let (repository, reference) = match rest.split_once('@') {
            Some((r, d)) => (r, d.to_string()),
            None => match rest.rsplit_once(':') {
                Some((r, t)) if !t.contains('/') => (r, t.to_string()),
                _ => (rest, "latest".to_string()),
            },
        };
        let valid = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/".contains(&b))
        };
        (valid(repository) && !reference.is_empty()).then(|| Remote {
            registry: registry.to_string(),
            repository: repository.to_string(),
            reference,
        })
    }
}

impl std::fmt::Display for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sep = if self.reference.starts_with("sha256:") {
            '@'
        } else {
            ':'
        };
        write!(
            f,
            "docker://{}/{}{sep}{}",
            self.registry, self.repository, self.reference
        )
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Listing {
    media_type: Option<String>,
    manifests: Option<Vec<Descriptor>>,
    config: Option<Descriptor>,
    layers: Option<Vec<Descriptor>>,
}

/// What a pull may use to reach registries: a CA to trust (besides the bundled web roots)
/// and auth files to read credentials from, in order.
#[derive(Debug, Clone, Default)]
pub struct Access {
    pub ca: Option<PathBuf>,
    pub auth_files: Vec<PathBuf>,
    /// Where pulled blobs are kept between pulls (`HEX` files, checked again before
    /// reuse), so a second image with the same base layers fetches only its own. `None`:
    /// every pull fetches everything.
    pub blob_cache: Option<PathBuf>,
}

/// What a pull fetched and what it took from the blob cache (configs and layers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullReport {
    pub fetched: u64,
    pub fetched_bytes: u64,
    pub reused: u64,
}

impl Access {
    /// `COMPOSE_REGISTRY_CA`; `$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`
    /// (skopeo and podman login), `~/.docker/config.json` (docker login).
    pub fn from_env() -> Access {
        let mut auth_files = Vec::new();
        if let Some(f) = std::env::var_os("REGISTRY_AUTH_FILE") {
            auth_files.push(PathBuf::from(f));
        }
        if let Some(r) = std::env::var_os("XDG_RUNTIME_DIR") {
            auth_files.push(PathBuf::from(r).join("containers/auth.json"));
        }
        if let Some(h) = std::env::var_os("HOME") {
            auth_files.push(PathBuf::from(h).join(".docker/config.json"));
        }
        Access {
            ca: std::env::var_os("COMPOSE_REGISTRY_CA").map(PathBuf::from),
            auth_files,
            blob_cache: None,
        }
    }
}

/// A registry session: the HTTP agent and the authorization it earned.
struct Session<'a> {
    remote: &'a Remote,
    cache: Option<&'a Path>,
    report: PullReport,
    agent: ureq::Agent,
    authorization: Option<String>,
    credentials: Option<(String, PathBuf)>,
    /// A loopback registry that does not speak TLS: spoken to over plain HTTP.
    plain_http: bool,
}

/// Pulls `remote` for `architecture` into the empty folder `into` as an OCI layout whose
/// one tag is the reference.
pub fn pull(
    remote: &Remote,
    architecture: &str,
    into: &Path,
    access: &Access,
) -> Result<PullReport, OciError> {
    let mut s = Session::new(remote, access)?;
    let blobs = into.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).map_err(|e| OciError::io(&blobs, e))?;
    let (top, top_bytes, top_type) = s.top()?;
    write_blob(&blobs, &top, &top_bytes)?;
    let mut listing: Listing = parse(remote, &top_bytes)?;
    if let Some(manifests) = &listing.manifests {
        let found = crate::image::for_architecture(manifests, architecture, &remote.to_string())?;
        let (bytes, _) = s.manifest(&found.digest)?;
        let digest = Digest::parse(&found.digest)?;
        digest.verify(&bytes, Some(found.size))?;
        write_blob(&blobs, &digest, &bytes)?;
        listing = parse(remote, &bytes)?;
    }
    let config = listing.config.ok_or_else(|| OciError::NotAnImage {
        path: PathBuf::from(remote.to_string()),
        message: "its manifest names no config".into(),
    })?;
    for entry in std::iter::once(&config).chain(listing.layers.iter().flatten()) {
        s.blob(&Digest::parse(&entry.digest)?, entry.size, &blobs)?;
    }
    let media_type = listing.media_type.unwrap_or(top_type);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": media_type,
            "digest": top.to_string(),
            "size": top_bytes.len(),
            "annotations": {"org.opencontainers.image.ref.name": remote.reference},
        }],
    });
    let write = |name: &str, text: String| {
        let path = into.join(name);
        std::fs::write(&path, text).map_err(|e| OciError::io(&path, e))
    };
    write(
        "oci-layout",
        r#"{"imageLayoutVersion":"1.0.0"}"#.to_string(),
    )?;
    write("index.json", index.to_string())?;
    Ok(s.report)
}

/// The digest of the manifest (or index) `remote` names now, what a lock pins: only that
/// manifest is fetched.
pub fn manifest_digest(remote: &Remote, access: &Access) -> Result<Digest, OciError> {
    Ok(Session::new(remote, access)?.top()?.0)
}

fn parse(remote: &Remote, bytes: &[u8]) -> Result<Listing, OciError> {
    serde_json::from_slice(bytes).map_err(|e| OciError::NotAnImage {
        path: PathBuf::from(remote.to_string()),
        message: format!("its manifest: {e}"),
    })
}

fn write_blob(blobs: &Path, digest: &Digest, bytes: &[u8]) -> Result<(), OciError> {
    let path = blobs.join(digest.hex());
    std::fs::write(&path, bytes).map_err(|e| OciError::io(&path, e))
}

fn agent(ca: Option<&Path>) -> Result<ureq::Agent, OciError> {
    use ureq::tls::{Certificate, RootCerts, TlsConfig};
    let roots = match ca {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| OciError::io(path, e))?;
            let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(&pem)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect();
            if certs.is_empty() {
                return Err(OciError::io(
                    path,
                    "no PEM certificate in it (COMPOSE_REGISTRY_CA)",
                ));
            }
            RootCerts::Specific(Arc::new(certs))
        }
        None => RootCerts::WebPki,
    };
    Ok(ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(20)))
        .timeout_recv_body(Some(Duration::from_secs(300)))
        .http_status_as_error(false)
        .tls_config(TlsConfig::builder().root_certs(roots).build())
        .build()
        .new_agent())
}

impl<'a> Session<'a> {
    fn new(remote: &'a Remote, access: &'a Access) -> Result<Session<'a>, OciError> {
        Ok(Session {
            remote,
            cache: access.blob_cache.as_deref(),
            report: PullReport::default(),
            agent: agent(access.ca.as_deref())?,
            authorization: None,
            credentials: credentials(&remote.registry, &access.auth_files),
            plain_http: false,
        })
    }

    /// The manifest (or index) the reference names: its digest (checked against a digest
    /// reference), bytes and media type.
    fn top(&mut self) -> Result<(Digest, Vec<u8>, String), OciError> {
        let remote = self.remote;
        let (bytes, media) = self.manifest(&remote.reference)?;
        let digest = Digest::of(&bytes);
        let reference = &remote.reference;
        if reference.starts_with("sha256:") && digest.to_string() != *reference {
            return Err(OciError::BadBlob {
                digest: reference.clone(),
                problem: format!("the registry's manifest hashes to {digest}"),
            });
        }
        Ok((digest, bytes, media))
    }

    fn url(&self, kind: &str, reference: &str) -> String {
        format!(
            "{}://{}/v2/{}/{kind}/{reference}",
            if self.plain_http { "http" } else { "https" },
            self.remote.registry,
            self.remote.repository
        )
    }

    /// GET `url`, authenticating once when the registry asks for it.
    fn get(
        &mut self,
        url: &str,
        accept: Option<&str>,
    ) -> Result<ureq::http::Response<ureq::Body>, OciError> {
        for attempt in 0..2 {
            let mut request = self.agent.get(url);
            if let Some(a) = accept {
                request = request.header("Accept", a);
            }
            if let Some(auth) = &self.authorization {
                request = request.header("Authorization", auth);
            }
            let response = match request.call() {
                Ok(r) => r,
                // As Docker treats loopback registries: HTTPS first, then plain HTTP when
                // the registry answers the API there (a TLS registry answers plain HTTP with
                // 400, and its HTTPS error is the one to tell).
                Err(e) if !self.plain_http && is_loopback(&self.remote.registry) => {
                    let https = format!("https://{}/", self.remote.registry);
                    let speaks_http = self
                        .agent
                        .get(&format!("http://{}/v2/", self.remote.registry))
                        .call()
                        .is_ok_and(|r| matches!(r.status().as_u16(), 200 | 401));
                    let Some(rest) = url.strip_prefix(&https).filter(|_| speaks_http) else {
                        return Err(self.unreachable(e));
                    };
                    self.plain_http = true;
                    let plain = format!("http://{}/{rest}", self.remote.registry);
                    return self.get(&plain, accept);
                }
                Err(e) => return Err(self.unreachable(e)),
            };
            let status = response.status().as_u16();
            if status == 401 && attempt == 0 {
                let challenge = response
                    .headers()
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                self.authorization = Some(self.authorize(&challenge)?);
                continue;
            }
            return match status {
                200..=299 => Ok(response),
                401 | 403 => Err(self.refused()),
                404 => Err(OciError::NotAnImage {
                    path: PathBuf::from(self.remote.to_string()),
                    message: format!("the registry has no {url}"),
                }),
                other => Err(OciError::Registry {
                    image: self.remote.to_string(),
                    message: format!("GET {url}: HTTP {other}"),
                }),
            };
        }
        Err(self.refused())
    }

    fn refused(&self) -> OciError {
        OciError::Registry {
            image: self.remote.to_string(),
            message: match &self.credentials {
                Some((_, file)) => format!(
                    "{} refused the credentials from {}\nhelp: log in again (skopeo login {}) or fix that file",
                    self.remote.registry,
                    file.display(),
                    self.remote.registry
                ),
                None => format!(
                    "{} wants credentials and none are known for it\nhelp: skopeo login {} (or docker login), or name an auth file in $REGISTRY_AUTH_FILE",
                    self.remote.registry, self.remote.registry
                ),
            },
        }
    }

    fn unreachable(&self, e: ureq::Error) -> OciError {
        if self.plain_http {
            return OciError::Registry {
                image: self.remote.to_string(),
                message: format!(
                    "cannot reach {} over HTTPS nor plain HTTP: {e}",
                    self.remote.registry
                ),
            };
        }
        OciError::Registry {
            image: self.remote.to_string(),
            message: format!(
                "cannot reach https://{}: {e}\nhelp: a registry with a private CA needs COMPOSE_REGISTRY_CA=CA.pem",
                self.remote.registry
            ),
        }
    }

    /// The Authorization header for a `WWW-Authenticate` challenge.
    fn authorize(&self, challenge: &str) -> Result<String, OciError> {
        let basic = self.credentials.as_ref().map(|(b, _)| format!("Basic {b}"));
        let (scheme, params) = challenge.split_once(' ').unwrap_or((challenge, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return basic.ok_or_else(|| self.refused());
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(self.refused());
        }
        let param = |name: &str| {
            params.split(',').find_map(|p| {
                let (k, v) = p.trim().split_once('=')?;
                (k == name).then(|| v.trim_matches('"').to_string())
            })
        };
        let realm = param("realm").ok_or_else(|| self.refused())?;
        if !may_receive_credentials(&realm) {
            return Err(OciError::Registry {
                image: self.remote.to_string(),
                message: format!(
                    "{} sends clients to {realm} for a token, which is not HTTPS: credentials go only over HTTPS (or to this machine)\nhelp: the registry's token service needs an https:// realm",
                    self.remote.registry
                ),
            });
        }
        let mut url = format!("{realm}?");
        for name in ["service", "scope"] {
            if let Some(v) = param(name) {
                url.push_str(&format!("{name}={}&", v.replace(' ', "%20")));
            }
        }
        let mut request = self.agent.get(url.trim_end_matches(['?', '&']));
        if let Some(b) = &basic {
            request = request.header("Authorization", b);
        }
        let mut response = request.call().map_err(|e| self.unreachable(e))?;
        if !response.status().is_success() {
            return Err(self.refused());
        }
        #[derive(Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let token: Token = response
            .body_mut()
            .read_json()
            .map_err(|e| OciError::Registry {
                image: self.remote.to_string(),
                message: format!("the token service answered: {e}"),
            })?;
        token
            .token
            .or(token.access_token)
            .map(|t| format!("Bearer {t}"))
            .ok_or_else(|| self.refused())
    }

    /// A manifest (or index) and its media type.
    fn manifest(&mut self, reference: &str) -> Result<(Vec<u8>, String), OciError> {
        let url = self.url("manifests", reference);
        let mut response = self.get(&url, Some(ACCEPT))?;
        let media = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let mut bytes = Vec::new();
        response
            .body_mut()
            .as_reader()
            .take(MAX_MANIFEST + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| OciError::io(Path::new(&url), e))?;
        if bytes.len() as u64 > MAX_MANIFEST {
            return Err(OciError::NotAnImage {
                path: PathBuf::from(self.remote.to_string()),
                message: "its manifest is larger than 4 MiB".into(),
            });
        }
        Ok((bytes, media))
    }

    /// Fetches blob `digest` into `blobs`, written aside and renamed into place only when
    /// its size and digest are right.
    fn blob(&mut self, digest: &Digest, size: u64, blobs: &Path) -> Result<(), OciError> {
        let to = blobs.join(digest.hex());
        if let Some(cached) = self.cache.map(|c| c.join(digest.hex()))
            && cached.is_file()
            && digest.verify_file(&cached, Some(size)).is_ok()
        {
            link_or_copy(&cached, &to)?;
            // Used now: a cache's collector goes by this time.
            if let Ok(f) = std::fs::File::options().write(true).open(&cached) {
                let _ = f.set_modified(std::time::SystemTime::now());
            }
            self.report.reused += 1;
            return Ok(());
        }
        let url = self.url("blobs", &digest.to_string());
        let mut response = self.get(&url, None)?;
        let part = blobs.join(format!("{}.part", digest.hex()));
        let mut file = std::fs::File::create(&part).map_err(|e| OciError::io(&part, e))?;
        let mut hasher = sha2::Sha256::new();
        let mut reader = response.body_mut().with_config().limit(size + 1).reader();
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0u64;
        let result = loop {
            let n = match reader.read(&mut buf) {
                Ok(n) => n,
                Err(e) => break Err(OciError::io(Path::new(&url), e)),
            };
            if n == 0 {
                break Ok(());
            }
            total += n as u64;
            hasher.update(&buf[..n]);
            if let Err(e) = std::io::Write::write_all(&mut file, &buf[..n]) {
                break Err(OciError::io(&part, e));
            }
        };
        let found = hex::encode(hasher.finalize());
        let result = result.and_then(|()| {
            if total != size {
                Err(OciError::BadBlob {
                    digest: digest.to_string(),
                    problem: format!(
                        "the registry sent {total} bytes where its manifest says {size}"
                    ),
                })
            } else if found != digest.hex() {
                Err(OciError::BadBlob {
                    digest: digest.to_string(),
                    problem: format!("the registry's bytes hash to sha256:{found}"),
                })
            } else {
                Ok(())
            }
        });
        if let Err(e) = result {
            let _ = std::fs::remove_file(&part);
            return Err(e);
        }
        std::fs::rename(&part, &to).map_err(|e| OciError::io(&to, e))?;
        self.report.fetched += 1;
        self.report.fetched_bytes += total;
        if let Some(cache) = self.cache {
            std::fs::create_dir_all(cache).map_err(|e| OciError::io(cache, e))?;
            let kept = cache.join(digest.hex());
            let aside = cache.join(format!("{}.{}", digest.hex(), std::process::id()));
            link_or_copy(&to, &aside)?;
            std::fs::rename(&aside, &kept).map_err(|e| OciError::io(&kept, e))?;
        }
        Ok(())
    }
}

/// A hard link of `from` at `to` (a copy across file systems), replacing `to`.
fn link_or_copy(from: &Path, to: &Path) -> Result<(), OciError> {
    let _ = std::fs::remove_file(to);
    if std::fs::hard_link(from, to).is_err() {
        std::fs::copy(from, to).map_err(|e| OciError::io(to, e))?;
    }
    Ok(())
}

/// Credentials for `registry` (base64 `user:password`) and the file they came from.
fn credentials(registry: &str, files: &[PathBuf]) -> Option<(String, PathBuf)> {
    #[derive(Deserialize)]
    struct AuthFile {
        #[serde(default)]
        auths: std::collections::BTreeMap<String, Auth>,
    }
    #[derive(Deserialize)]
    struct Auth {
        auth: Option<String>,
    }
    for file in files {
        let Ok(bytes) = std::fs::read(file) else {
            continue;
        };
        let Ok(parsed) = serde_json::from_slice::<AuthFile>(&bytes) else {
            continue;
        };
        for (key, auth) in parsed.auths {
            let host = key
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .split('/')
                .next()
                .unwrap_or("");
            if host == registry
                && let Some(a) = auth
                    .auth
                    .filter(|a| base64::engine::general_purpose::STANDARD.decode(a).is_ok())
            {
                return Some((a, file.clone()));
            }
        }
    }
    None
}

/// Whether `registry` (`HOST[:PORT]`) is this machine: `localhost`, 127.0.0.0/8 or `[::1]`,
/// the only registries spoken to without TLS.
fn is_loopback(registry: &str) -> bool {
    let host = match registry.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => registry.split(':').next().unwrap_or(""),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether a token service at `realm` may be sent credentials: HTTPS, or plain HTTP to
/// this machine (as plain-HTTP registries).
fn may_receive_credentials(realm: &str) -> bool {
    match realm.split_once("://") {
        Some((scheme, _)) if scheme.eq_ignore_ascii_case("https") => true,
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => {
            is_loopback(rest.split(['/', '?']).next().unwrap_or(""))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_go_only_to_https_or_loopback_token_services() {
        for yes in [
            "https://auth.example/token",
            "HTTPS://auth.example:8443/token?x=1",
            "http://127.0.0.1:5001/token",
            "http://localhost/token",
        ] {
            assert!(may_receive_credentials(yes), "{yes}");
        }
        for no in [
            "http://auth.example/token",
            "http://10.0.2.2:5001/token",
            "ftp://127.0.0.1/token",
            "/token",
        ] {
            assert!(!may_receive_credentials(no), "{no}");
        }
    }

    #[test]
    fn only_loopback_registries_may_be_plain_http() {
        for yes in [
            "localhost:5000",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:5000",
        ] {
            assert!(is_loopback(yes), "{yes}");
        }
        for no in [
            "10.0.2.2:5000",
            "registry.example",
            "localhost.example:5000",
            "[::2]:1",
        ] {
            assert!(!is_loopback(no), "{no}");
        }
    }

    #[test]
    fn registry_references() {
        let r = Remote::parse("127.0.0.1:5000/team/app:1.4").unwrap();
        assert_eq!(
            (
                r.registry.as_str(),
                r.repository.as_str(),
                r.reference.as_str()
            ),
            ("127.0.0.1:5000", "team/app", "1.4")
        );
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Remote::parse(&format!("registry.example/app@{d}")).unwrap();
        assert_eq!(r.reference, d);
        assert_eq!(r.to_string(), format!("docker://registry.example/app@{d}"));
        assert_eq!(Remote::parse("localhost/app").unwrap().reference, "latest");
        // The registry is always named: `library/busybox` names none.
        for bad in [
            "library/busybox:1",
            "busybox",
            "registry.example/",
            "registry.example/App:1",
        ] {
            assert!(Remote::parse(bad).is_none(), "{bad}");
        }
    }
}
