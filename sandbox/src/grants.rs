//! What an app may do, as data: nothing by default; each grant comes by name, from its
//! manifest's `[app]` table or from `--allow` on the command line. Both runtimes (wasm
//! and container) read the same `Grants`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use compose_manifest::app::is_normal_absolute;

/// A folder of the host the app sees at `guest`, read-only unless `write`. Made only by
/// [`FileGrant::new`] or [`FileGrant::in_project`], which check it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileGrant {
    host: PathBuf,
    guest: String,
    write: bool,
}

pub use compose_manifest::app::NetGrant;

/// Everything an app was granted. `Grants::default()` grants nothing: no files, no
/// network, no name lookup, no environment, no window, and the default limits. Grants are
/// added by the builder methods (`file`, `connect`, `lookup`, `env_var`, `window`,
/// `memory_limit`, `cpu_limit`), from a manifest (`from_app`) or by name (`allow`); each
/// checks what it is given, and the runtimes read them through the getters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    files: Vec<FileGrant>,
    network: Vec<NetGrant>,
    name_lookup: bool,
    env: Vec<(String, String)>,
    memory: Option<u64>,
    cpu: Option<Duration>,
    gui: bool,
}

impl Grants {
    /// What app manifest `app` grants (checked when the manifest was read), with its folders
    /// as `files` (where the host paths are depends on where it runs: the device's own, or
    /// inside a project).
    pub fn from_app(app: &compose_manifest::app::App, files: Vec<FileGrant>) -> Grants {
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

    /// Adds a folder.
    pub fn file(mut self, grant: FileGrant) -> Grants {
        self.files.push(grant);
        self
    }

    /// Adds an address the app may connect to (and UDP from any local port).
    pub fn connect(mut self, grant: NetGrant) -> Grants {
        self.network.push(grant);
        self
    }

    /// Allows DNS and /etc/hosts lookups (wasi:sockets/ip-name-lookup).
    pub fn lookup(mut self) -> Grants {
        self.name_lookup = true;
        self
    }

    /// Adds an environment variable; its name is not empty and has no `=` or NUL.
    pub fn env_var(mut self, name: &str, value: &str) -> Result<Grants, GrantError> {
        self.push_env(name, value)?;
        Ok(self)
    }

    fn push_env(&mut self, name: &str, value: &str) -> Result<(), GrantError> {
        if name.is_empty() || name.contains(['=', '\0']) || value.contains('\0') {
            return Err(error(
                format!("environment variable `{name}` cannot be set"),
                "write --allow env=NAME=VALUE, with a name of letters, digits and _",
            ));
        }
        self.env.push((name.to_string(), value.to_string()));
        Ok(())
    }

    /// Gives the app a window in the shell.
    pub fn window(mut self) -> Grants {
        self.gui = true;
        self
    }

    /// Linear memory the app may use, in bytes.
    pub fn memory_limit(mut self, bytes: u64) -> Grants {
        self.memory = Some(bytes);
        self
    }

    /// How long the app may run before it is stopped.
    pub fn cpu_limit(mut self, time: Duration) -> Grants {
        self.cpu = Some(time);
        self
    }

    pub fn files(&self) -> &[FileGrant] {
        &self.files
    }

    pub fn network(&self) -> &[NetGrant] {
        &self.network
    }

    /// DNS and /etc/hosts lookups (wasi:sockets/ip-name-lookup).
    pub fn name_lookup(&self) -> bool {
        self.name_lookup
    }

    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// Linear memory the app may use, in bytes (`None`: the runtime's default).
    pub fn memory(&self) -> Option<u64> {
        self.memory
    }

    /// How long the app may run before it is stopped (`None`: the runtime's default).
    pub fn cpu(&self) -> Option<Duration> {
        self.cpu
    }

    /// A window in the shell.
    pub fn gui(&self) -> bool {
        self.gui
    }
}

impl FileGrant {
    /// A folder grant: the host folder absolute and existing, the guest path absolute.
    pub fn new(host: impl AsRef<Path>, guest: &str, write: bool) -> Result<FileGrant, GrantError> {
        let host = host.as_ref();
        let shown = host.display().to_string();
        if !host.to_str().is_some_and(is_normal_absolute) {
            return Err(error(
                format!("host path `{shown}` is not absolute (or has `.` or `..`)"),
                "grant folders by absolute path, e.g. read=/srv/notes:/notes",
            ));
        }
        if !is_normal_absolute(guest) {
            return Err(error(
                format!("guest path `{guest}` is not absolute (or has `.` or `..`)"),
                "the app sees granted folders at absolute paths, e.g. read=/srv/notes:/notes",
            ));
        }
        if !host.is_dir() {
            return Err(error(
                format!("`{shown}` is not a folder on this machine"),
                "grant an existing folder (files are reached through their folder)",
            ));
        }
        Ok(FileGrant {
            host: host.to_path_buf(),
            guest: guest.to_string(),
            write,
        })
    }

    /// A folder grant of a project's app: `host` is read as a path under the project's
    /// folder `root`, and must stay inside it with symlinks followed.
    pub fn in_project(
        root: &Path,
        host: &str,
        guest: &str,
        write: bool,
    ) -> Result<FileGrant, GrantError> {
        let root = root.canonicalize().map_err(|e| {
            error(
                format!("folder {}: {e}", root.display()),
                "give a folder that exists",
            )
        })?;
        let inside = root.join(host.trim_start_matches('/'));
        let real = inside.canonicalize().map_err(|e| {
            error(
                format!("host folder {host} is {} ({e})", inside.display()),
                "create it, or grant a folder that exists",
            )
        })?;
        if !real.starts_with(&root) {
            return Err(error(
                format!(
                    "host folder {host} leads outside the project folder {} (to {})",
                    root.display(),
                    real.display()
                ),
                "a project app may only be granted folders of its project",
            ));
        }
        FileGrant::new(real, guest, write)
    }

    /// The folder on the machine the app runs on.
    pub fn host(&self) -> &Path {
        &self.host
    }

    /// Where the app sees it.
    pub fn guest(&self) -> &str {
        &self.guest
    }

    pub fn write(&self) -> bool {
        self.write
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
    /// These grants and what a command line adds: each `--allow` grant, `--memory` (64M,
    /// 1G) and `--cpu-time` (500ms, 2s); the error names the option.
    pub fn with_options(
        mut self,
        allow: &[String],
        memory: Option<&str>,
        cpu_time: Option<&str>,
    ) -> Result<Grants, String> {
        for g in allow {
            self.allow(g).map_err(|e| format!("--allow {g}: {e}"))?;
        }
        if let Some(m) = memory {
            self = self.memory_limit(
                compose_manifest::app::parse_size(m).map_err(|h| format!("--memory {m}: {h}"))?,
            );
        }
        if let Some(c) = cpu_time {
            self = self.cpu_limit(
                compose_manifest::app::parse_duration(c)
                    .map_err(|h| format!("--cpu-time {c}: {h}"))?,
            );
        }
        Ok(self)
    }

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
                self.files
                    .push(FileGrant::new(host, guest, kind == "write")?);
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
                self.push_env(name, v)?;
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
        assert!(g.files().is_empty() && g.network().is_empty() && g.env().is_empty());
        assert!(!g.name_lookup() && !g.gui());
        assert_eq!((g.memory(), g.cpu()), (None, None));
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
        assert_eq!(g.files()[0].guest(), "/data");
        assert!(!g.files()[0].write() && g.files()[1].write());
        assert_eq!(g.files()[1].guest(), host);
        assert!(g.network()[0].allows("127.0.0.1:8080".parse().unwrap()));
        assert!(!g.network()[0].allows("127.0.0.1:8081".parse().unwrap()));
        assert!(g.network()[1].allows("[::1]:22".parse().unwrap()));
        assert!(g.name_lookup());
        assert_eq!(g.env(), [("LANG".to_string(), "C.UTF-8".to_string())]);

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

    #[test]
    fn folders_are_checked_however_they_are_granted() {
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("project");
        std::fs::create_dir_all(project.join("notes")).unwrap();
        std::fs::create_dir_all(dir.path().join("elsewhere")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), project.join("out")).unwrap();

        let inside = FileGrant::in_project(&project, "/notes", "/notes", false).unwrap();
        assert_eq!(inside.host(), project.join("notes").canonicalize().unwrap());
        for (host, says) in [
            ("/out", "leads outside"),
            ("/../elsewhere", "leads outside"),
            ("/missing", "create it"),
        ] {
            let e = FileGrant::in_project(&project, host, "/data", false).unwrap_err();
            assert!(e.to_string().contains(says), "{host}: {e}");
        }
        assert!(FileGrant::new(dir.path(), "data", false).is_err());
        assert!(FileGrant::new("relative", "/data", false).is_err());

        let e = Grants::default().env_var("A=B", "c").unwrap_err();
        assert!(e.what.contains("A=B"), "{e}");
        // A refused `--allow` leaves what was granted before it as it was.
        let mut g = Grants::default().lookup();
        assert!(g.allow("env=A\0B=c").is_err());
        assert!(g.name_lookup() && g.env().is_empty());
        let g = Grants::default()
            .file(inside)
            .lookup()
            .window()
            .env_var("LANG", "C")
            .unwrap();
        assert!(g.gui() && g.name_lookup() && g.files().len() == 1);
    }
}
