//! `compose serve`: an update repository over HTTP for someone without a web server. GET
//! and HEAD of files under the folder, with single-range `Range` requests (`bytes=A-B`,
//! `A-`, `-N`) answered 206 so interrupted downloads resume; nothing outside the folder,
//! no listings. It binds where it is told (loopback by default).

use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};

use tiny_http::{Header, Method, Response, Server};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "cannot serve {path}: it is not a folder\nhelp: give the repository `compose publish` wrote"
    )]
    NotAFolder { path: PathBuf },
    #[error(
        "cannot listen on {addr}: {message}\nhelp: choose another port with --listen 127.0.0.1:PORT"
    )]
    Listen { addr: SocketAddr, message: String },
}

/// A running server: the address it listens on, and the loop that answers.
pub struct Serving {
    server: Server,
    root: PathBuf,
    pub addr: SocketAddr,
}

/// Binds `addr` (port 0: any free port) for the repository `root`.
pub fn bind(root: &Path, addr: SocketAddr) -> Result<Serving, ServeError> {
    if !root.is_dir() {
        return Err(ServeError::NotAFolder {
            path: root.to_path_buf(),
        });
    }
    let server = Server::http(addr).map_err(|e| ServeError::Listen {
        addr,
        message: e.to_string(),
    })?;
    let addr = server
        .server_addr()
        .to_ip()
        .expect("an HTTP server listens on an IP address");
    Ok(Serving {
        server,
        root: root.to_path_buf(),
        addr,
    })
}

impl std::fmt::Debug for Serving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serving")
            .field("root", &self.root)
            .field("addr", &self.addr)
            .finish()
    }
}

impl Serving {
    /// Answers requests until the process ends.
    pub fn run(self) {
        for request in self.server.incoming_requests() {
            let answer = answer(
                &self.root,
                request.method(),
                request.url(),
                request
                    .headers()
                    .iter()
                    .find(|h| h.field.equiv("Range"))
                    .map(|h| h.value.as_str()),
            );
            let _ = request.respond(answer);
        }
    }
}

type Answer = Response<std::io::Cursor<Vec<u8>>>;

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("valid header")
}

fn status(code: u16, text: &str) -> Answer {
    Response::from_string(format!("{text}\n")).with_status_code(code)
}

/// The answer to one request.
fn answer(root: &Path, method: &Method, url: &str, range: Option<&str>) -> Answer {
    if !matches!(method, Method::Get | Method::Head) {
        return status(405, "only GET and HEAD").with_header(header("Allow", "GET, HEAD"));
    }
    let Some(path) = file_path(root, url) else {
        return status(404, "not found");
    };
    let Ok(bytes) = std::fs::read(&path) else {
        return status(404, "not found");
    };
    let len = bytes.len() as u64;
    // Content-Length always (never chunked), so clients know what to resume.
    let base = |r: Answer| {
        r.with_chunked_threshold(usize::MAX)
            .with_header(header("Accept-Ranges", "bytes"))
            .with_header(header("Content-Type", "application/octet-stream"))
    };
    match range.map(|r| parse_range(r, len)) {
        None => base(Response::from_data(bytes)),
        Some(Some((start, end))) => base(
            Response::from_data(bytes[start as usize..=end as usize].to_vec())
                .with_status_code(206)
                .with_header(header(
                    "Content-Range",
                    &format!("bytes {start}-{end}/{len}"),
                )),
        ),
        Some(None) => status(416, "range not satisfiable")
            .with_header(header("Content-Range", &format!("bytes */{len}"))),
    }
}

/// The file `url` names under `root`: plain names only (no `..`, no hidden files).
fn file_path(root: &Path, url: &str) -> Option<PathBuf> {
    let path = url.split(['?', '#']).next()?;
    let rel = Path::new(path.trim_start_matches('/'));
    let plain = rel.components().all(|c| match c {
        Component::Normal(name) => !name.to_string_lossy().starts_with('.'),
        _ => false,
    });
    let full = root.join(rel);
    (plain && !path.is_empty() && full.is_file()).then_some(full)
}

/// The inclusive byte range of `header` (`bytes=A-B`, `bytes=A-`, `bytes=-N`) in a file of
/// `len` bytes; `None` when it cannot be satisfied or is not one such range.
fn parse_range(header: &str, len: u64) -> Option<(u64, u64)> {
    let spec = header.trim().strip_prefix("bytes=")?;
    if spec.contains(',') || len == 0 {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            (len.saturating_sub(n), len - 1)
        }
        (a, "") => (a.parse().ok()?, len - 1),
        (a, b) => (a.parse().ok()?, b.parse::<u64>().ok()?.min(len - 1)),
    };
    (start <= end && start < len).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_parsed_as_rfc_9110_says() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=50-500", 100), Some((50, 99)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=5-1", 100), None);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }

    #[test]
    fn only_plain_files_inside_the_folder_are_served() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("vm")).unwrap();
        std::fs::write(dir.path().join("vm/latest.json"), "{}").unwrap();
        std::fs::write(dir.path().join(".secret"), "x").unwrap();
        assert!(file_path(dir.path(), "/vm/latest.json?x=1").is_some());
        assert!(file_path(dir.path(), "/vm/../vm/latest.json").is_none());
        assert!(file_path(dir.path(), "/.secret").is_none());
        assert!(file_path(dir.path(), "/vm").is_none());
        assert!(file_path(dir.path(), "/").is_none());
    }
}
