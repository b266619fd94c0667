//! `[app]`: a component that is an app, run in a sandbox with only what this table grants
//! (deny by default; each grant by name). The values are checked here, with their place
//! in the manifest; `compose-sandbox` turns them into a runtime's policy.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::diagnostic::{Code, Diagnostic, Diagnostics, SourceFile};
use crate::manifest::Declared;

/// What runs the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Runtime {
    /// A WASI command component in wasmtime.
    Wasm,
    /// A native program in a container (an OCI runtime, crun).
    Container,
}

/// A `files` entry of a manifest's `[app]`: a folder the app sees, as written and checked
/// (absolute paths); `compose-sandbox`'s `FileGrant` is what a run is given, on one machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderEntry {
    /// Absolute path on the machine the app runs on.
    pub host: String,
    /// Absolute path the app sees.
    pub guest: String,
    pub write: bool,
}

/// Where the app may connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetGrant {
    /// One address and port.
    Addr(SocketAddr),
    /// Any port of one address (`IP:*`).
    AnyPort(IpAddr),
}

impl NetGrant {
    pub fn allows(&self, addr: SocketAddr) -> bool {
        match self {
            NetGrant::Addr(a) => *a == addr,
            NetGrant::AnyPort(ip) => *ip == addr.ip(),
        }
    }

    /// `IP:PORT` or `IP:*` (IPv6 in brackets); the error says what to write.
    pub fn parse(text: &str) -> Result<NetGrant, String> {
        if let Ok(addr) = text.parse::<SocketAddr>() {
            return Ok(NetGrant::Addr(addr));
        }
        if let Some(ip) = text.strip_suffix(":*") {
            let ip = ip.trim_start_matches('[').trim_end_matches(']');
            if let Ok(ip) = ip.parse::<IpAddr>() {
                return Ok(NetGrant::AnyPort(ip));
            }
        }
        Err("write IP:PORT or IP:* (e.g. 127.0.0.1:8080, [::1]:*); names are resolved by the app, with name-lookup".into())
    }
}

impl std::fmt::Display for NetGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NetGrant::Addr(a) => write!(f, "{a}"),
            NetGrant::AnyPort(IpAddr::V6(ip)) => write!(f, "[{ip}]:*"),
            NetGrant::AnyPort(ip) => write!(f, "{ip}:*"),
        }
    }
}

/// `64M`, `1G`, `512K` or bytes; the error says what to write.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, ""),
    };
    let factor: u64 = match unit {
        "" => 1,
        "K" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        _ => 0,
    };
    match digits.parse::<u64>() {
        Ok(n) if factor > 0 && n > 0 => Ok(n.saturating_mul(factor)),
        _ => Err("write a size such as 64M, 1G or 512K".into()),
    }
}

/// `500ms`, `2s`, `1m`; the error says what to write.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, "s"),
    };
    match (digits.parse::<u64>().ok().filter(|n| *n > 0), unit) {
        (Some(n), "ms") => Ok(Duration::from_millis(n)),
        (Some(n), "s") => Ok(Duration::from_secs(n)),
        (Some(n), "m") => n.checked_mul(60).map(Duration::from_secs).ok_or_else(|| {
            "that many minutes do not fit; write a duration such as 500ms, 2s or 1m".into()
        }),
        _ => Err("write a duration such as 500ms, 2s or 1m".into()),
    }
}

/// `path` is absolute and has no `.` or `..`.
pub fn is_normal_absolute(path: &str) -> bool {
    path.starts_with('/') && !path.split('/').any(|c| c == "." || c == "..")
}

/// The `[app]` table of a manifest, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct App {
    pub runtime: Runtime,
    /// wasm: the component file and its arguments; container: the program (absolute, in
    /// the container) and its arguments.
    pub run: Vec<String>,
    pub files: Vec<Declared<FolderEntry>>,
    pub network: Vec<NetGrant>,
    /// DNS and /etc/hosts lookups.
    pub name_lookup: bool,
    pub env: BTreeMap<String, String>,
    /// Memory limit in bytes.
    pub memory: Option<u64>,
    /// Running time budget.
    pub cpu_time: Option<Duration>,
    /// A window in the shell.
    pub gui: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(crate) struct RawApp {
    runtime: Runtime,
    /// Optional for a container app from an OCI image (its config says what runs).
    #[serde(default)]
    run: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    files: Vec<RawFolderEntry>,
    #[serde(default)]
    network: Vec<Spanned<String>>,
    #[serde(default)]
    name_lookup: bool,
    #[serde(default)]
    env: BTreeMap<String, String>,
    memory: Option<Spanned<String>>,
    cpu_time: Option<Spanned<String>>,
    #[serde(default)]
    gui: bool,
}

#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
enum Access {
    #[default]
    Read,
    Write,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFolderEntry {
    host: Spanned<String>,
    guest: Spanned<String>,
    #[serde(default)]
    access: Access,
}

fn invalid(
    file: &SourceFile,
    span: Range<usize>,
    message: String,
    label: &str,
    help: &str,
) -> Diagnostic {
    Diagnostic::error(Code::InvalidValue, file, message)
        .at(span, label)
        .with_help(help)
}

/// Checks an `[app]` table; every problem is reported, each where it is. `from_image`: the
/// component's source is an OCI image, whose config may say what runs; `name_span` is
/// where a missing `run` is reported.
pub(crate) fn lower(
    file: &SourceFile,
    raw: &RawApp,
    from_image: bool,
    name_span: Range<usize>,
    errors: &mut Diagnostics,
) -> Option<App> {
    let before = errors.0.len();
    let empty = Vec::new();
    let (run, run_span) = match &raw.run {
        Some(r) => (r.get_ref(), r.span()),
        None => (&empty, name_span),
    };
    match (raw.runtime, run.first()) {
        (Runtime::Container, None) if from_image => {}
        (_, None) => errors.push(invalid(
            file,
            run_span.clone(),
            "`run` names nothing to run".into(),
            if raw.run.is_some() { "empty" } else { "its [app] has no `run`" },
            "wasm: run = [\"/usr/lib/compose/apps/NAME.wasm\", args...]; container: run = [\"/usr/bin/program\", args...]",
        )),
        (Runtime::Wasm, Some(first)) if !first.ends_with(".wasm") => errors.push(invalid(
            file,
            run_span.clone(),
            format!("a wasm app runs a .wasm component, not `{first}`"),
            "not a .wasm file",
            "name the component first: run = [\"/usr/lib/compose/apps/NAME.wasm\", args...]",
        )),
        (Runtime::Container, Some(first)) if !is_normal_absolute(first) => errors.push(invalid(
            file,
            run_span.clone(),
            format!("a container app runs an absolute program path, not `{first}`"),
            "not absolute",
            "write the program's path inside the container, e.g. run = [\"/usr/bin/foot\"]",
        )),
        _ => {}
    }
    let mut files = Vec::new();
    for f in &raw.files {
        for (path, side) in [(&f.host, "host"), (&f.guest, "guest")] {
            if !is_normal_absolute(path.get_ref()) {
                errors.push(invalid(
                    file,
                    path.span(),
                    format!("{side} path `{}` is not absolute (or has `.` or `..`)", path.get_ref()),
                    "not an absolute path",
                    "grant folders by absolute path, e.g. { host = \"/var/lib/notes\", guest = \"/notes\" }",
                ));
            }
        }
        files.push(Declared {
            value: FolderEntry {
                host: f.host.get_ref().clone(),
                guest: f.guest.get_ref().clone(),
                write: f.access == Access::Write,
            },
            span: f.host.span(),
        });
    }
    let mut network = Vec::new();
    for n in &raw.network {
        match NetGrant::parse(n.get_ref()) {
            Ok(g) => network.push(g),
            Err(help) => errors.push(invalid(
                file,
                n.span(),
                format!("`{}` is not an address and port", n.get_ref()),
                "not IP:PORT",
                &help,
            )),
        }
    }
    let memory = raw.memory.as_ref().and_then(|m| {
        parse_size(m.get_ref())
            .map_err(|help| {
                errors.push(invalid(
                    file,
                    m.span(),
                    format!("`{}` is not a size", m.get_ref()),
                    "not a size",
                    &help,
                ))
            })
            .ok()
    });
    let cpu_time = raw.cpu_time.as_ref().and_then(|c| {
        parse_duration(c.get_ref())
            .map_err(|help| {
                errors.push(invalid(
                    file,
                    c.span(),
                    format!("`{}` is not a duration", c.get_ref()),
                    "not a duration",
                    &help,
                ))
            })
            .ok()
    });
    (errors.0.len() == before).then(|| App {
        runtime: raw.runtime,
        run: run.clone(),
        files,
        network,
        name_lookup: raw.name_lookup,
        env: raw.env.clone(),
        memory,
        cpu_time,
        gui: raw.gui,
    })
}

#[cfg(test)]
mod tests {
    // Found by `scripts/fuzz app_grants`: minutes past u64::MAX / 60 overflowed (a panic in
    // debug builds, a wrapped, tiny CPU budget in release builds).
    #[test]
    fn fuzz_a_duration_of_too_many_minutes_is_an_error_not_an_overflow() {
        assert!(super::parse_duration("13273333333333333333m").is_err());
        assert!(super::parse_duration("307445734561825860m").is_ok());
        assert!(super::parse_duration("307445734561825861m").is_err());
    }

    use super::*;

    #[test]
    fn grants_parse() {
        assert!(
            NetGrant::parse("127.0.0.1:8080")
                .unwrap()
                .allows("127.0.0.1:8080".parse().unwrap())
        );
        assert!(
            !NetGrant::parse("127.0.0.1:8080")
                .unwrap()
                .allows("127.0.0.1:8081".parse().unwrap())
        );
        assert!(
            NetGrant::parse("[::1]:*")
                .unwrap()
                .allows("[::1]:22".parse().unwrap())
        );
        assert!(NetGrant::parse("example.org:443").is_err());
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert!(parse_size("lots").is_err() && parse_size("0").is_err());
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("soon").is_err());
        assert!(
            is_normal_absolute("/var/lib/x")
                && !is_normal_absolute("var")
                && !is_normal_absolute("/a/../b")
        );
    }
}
