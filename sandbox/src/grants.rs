//! What an app may do, as data: nothing by default; each grant comes by name, from its
//! manifest's `[app]` table or from `--allow` on the command line. Both runtimes (wasm
//! and container) read the same `Grants`.

use std::path::PathBuf;
use std::time::Duration;

use compose_core::app::is_normal_absolute;

/// A folder of the host the app sees at `guest`, read-only unless `write`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileGrant {
    pub host: PathBuf,
    pub guest: String,
    pub write: bool,
}

pub use compose_core::app::NetGrant;

/// Everything an app was granted. `Grants::default()` grants nothing: no files, no
/// network, no name lookup, no environment, no window, and the default limits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    pub files: Vec<FileGrant>,
    pub network: Vec<NetGrant>,
    /// DNS and /etc/hosts lookups (wasi:sockets/ip-name-lookup).
    pub name_lookup: bool,
    pub env: Vec<(String, String)>,
    /// Linear memory the app may use, in bytes (`None`: the runtime's default).
    pub memory: Option<u64>,
    /// How long the app may run before it is stopped (`None`: the runtime's default).
    pub cpu: Option<Duration>,
    /// A window in the shell.
    pub gui: bool,
}

impl Grants {
    /// What app manifest `app` grants, with its folders as `files` (where the host paths
    /// are depends on where it runs: the device's own, or inside a project).
    pub fn from_app(app: &compose_core::app::App, files: Vec<FileGrant>) -> Grants {
        Grants {
            files,
            network: app.network.clone(),
            name_lookup: app.name_lookup,
            env: app.env.clone().into_iter().collect(),
            memory: app.memory,
            cpu: app.cpu_time,
            gui: app.gui,
        }
    }
}

/// A grant that cannot be given, with what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}\nhelp: {help}")]
pub struct GrantError {
    pub what: String,
    pub help: String,
}

fn error(what: impl Into<String>, help: impl Into<String>) -> GrantError {
    GrantError {
        what: what.into(),
        help: help.into(),
    }
}

impl Grants {
    /// Adds one `--allow` grant: `read=HOST[:GUEST]`, `write=HOST[:GUEST]`,
    /// `connect=IP:PORT` (PORT may be `*`), `lookup`, `env=NAME=VALUE`, `gui`.
    pub fn allow(&mut self, grant: &str) -> Result<(), GrantError> {
        let (kind, value) = grant.split_once('=').unwrap_or((grant, ""));
        match kind {
            "read" | "write" => {
                let (host, guest) = match value.split_once(':') {
                    Some((h, g)) => (h, g),
                    None => (value, value),
                };
                self.files.push(file_grant(host, guest, kind == "write")?);
            }
            "connect" => self.network.push(net_grant(value)?),
            "lookup" => self.name_lookup = true,
            "gui" => self.gui = true,
            "env" => {
                let (name, v) = value.split_once('=').ok_or_else(|| {
                    error(
                        format!("`--allow {grant}` names no value"),
                        "write --allow env=NAME=VALUE",
                    )
                })?;
                if name.is_empty() {
                    return Err(error(
                        format!("`--allow {grant}` names no variable"),
                        "write --allow env=NAME=VALUE",
                    ));
                }
                self.env.push((name.to_string(), v.to_string()));
            }
            other => {
                return Err(error(
                    format!("unknown grant `{other}` in `--allow {grant}`"),
                    "grants are read=HOST[:GUEST], write=HOST[:GUEST], connect=IP:PORT, lookup, env=NAME=VALUE, gui",
                ));
            }
        }
        Ok(())
    }
}

/// A folder grant: the host folder absolute and existing, the guest path absolute.
pub fn file_grant(host: &str, guest: &str, write: bool) -> Result<FileGrant, GrantError> {
    let host_path = PathBuf::from(host);
    if !is_normal_absolute(host) {
        return Err(error(
            format!("host path `{host}` is not absolute (or has `.` or `..`)"),
            "grant folders by absolute path, e.g. read=/srv/notes:/notes",
        ));
    }
    if !is_normal_absolute(guest) {
        return Err(error(
            format!("guest path `{guest}` is not absolute (or has `.` or `..`)"),
            "the app sees granted folders at absolute paths, e.g. read=/srv/notes:/notes",
        ));
    }
    if !host_path.is_dir() {
        return Err(error(
            format!("`{host}` is not a folder on this machine"),
            "grant an existing folder (files are reached through their folder)",
        ));
    }
    Ok(FileGrant {
        host: host_path,
        guest: guest.to_string(),
        write,
    })
}

/// `IP:PORT` or `IP:*` (IPv6 in brackets).
pub fn net_grant(text: &str) -> Result<NetGrant, GrantError> {
    NetGrant::parse(text)
        .map_err(|help| error(format!("`{text}` is not an address and port"), help))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_granted_by_default() {
        let g = Grants::default();
        assert!(g.files.is_empty() && g.network.is_empty() && g.env.is_empty());
        assert!(!g.name_lookup && !g.gui);
    }

    #[test]
    fn grants_parse_and_bad_ones_say_what_to_write() {
        let dir = tempfile::tempdir().unwrap();
        let host = dir.path().to_str().unwrap();
        let mut g = Grants::default();
        g.allow(&format!("read={host}:/data")).unwrap();
        g.allow(&format!("write={host}")).unwrap();
        g.allow("connect=127.0.0.1:8080").unwrap();
        g.allow("connect=[::1]:*").unwrap();
        g.allow("lookup").unwrap();
        g.allow("env=LANG=C.UTF-8").unwrap();
        assert_eq!(g.files[0].guest, "/data");
        assert!(!g.files[0].write && g.files[1].write);
        assert_eq!(g.files[1].guest, host);
        assert!(g.network[0].allows("127.0.0.1:8080".parse().unwrap()));
        assert!(!g.network[0].allows("127.0.0.1:8081".parse().unwrap()));
        assert!(g.network[1].allows("[::1]:22".parse().unwrap()));
        assert!(g.name_lookup);
        assert_eq!(g.env, vec![("LANG".into(), "C.UTF-8".into())]);

        for (bad, says) in [
            ("read=relative/dir", "not absolute"),
            ("read=/tmp/../etc", "not absolute"),
            (&format!("read={host}:data") as &str, "guest path"),
            ("read=/no/such/folder/here", "not a folder"),
            ("connect=example.org:443", "not an address"),
            ("env=NOVALUE", "names no value"),
            ("network", "unknown grant"),
        ] {
            let e = Grants::default().allow(bad).unwrap_err();
            assert!(e.what.contains(says), "{bad}: {e}");
            assert!(!e.help.is_empty());
        }
    }
}
