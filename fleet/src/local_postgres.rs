//! A PostgreSQL of its own (Debian's `postgresql-15`) for tests, benches and trying replicas
//! out: a fresh cluster (`initdb`) in a temporary folder, one free loopback port, no fsync;
//! stopped and removed when dropped. As root it runs as the `postgres` user (PostgreSQL
//! refuses to run as root).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
#[error(
    "{what}: {message}\nhelp: install PostgreSQL (scripts/setup does: apt-get install postgresql-15)"
)]
pub struct LocalPostgresError {
    what: String,
    message: String,
}

fn error(what: &str, message: impl ToString) -> LocalPostgresError {
    LocalPostgresError {
        what: what.to_string(),
        message: message.to_string(),
    }
}

/// A running PostgreSQL server, stopped when dropped.
#[derive(Debug)]
pub struct LocalPostgres {
    child: Child,
    /// What `--database` takes: `postgres://compose@127.0.0.1:PORT/postgres`.
    pub url: String,
    _dir: tempfile::TempDir,
}

/// The folder of the newest PostgreSQL's programs (`/usr/lib/postgresql/N/bin`).
fn binaries() -> Result<PathBuf, LocalPostgresError> {
    let root = Path::new("/usr/lib/postgresql");
    let newest = std::fs::read_dir(root)
        .map_err(|e| error(&root.display().to_string(), e))?
        .filter_map(Result::ok)
        .filter_map(|e| Some((e.file_name().to_str()?.parse::<u32>().ok()?, e.path())))
        .max();
    match newest {
        Some((_, dir)) if dir.join("bin/initdb").is_file() => Ok(dir.join("bin")),
        _ => Err(error(
            &root.display().to_string(),
            "no PostgreSQL with initdb there",
        )),
    }
}

impl LocalPostgres {
    /// Makes a cluster and starts it; it takes connections when this returns.
    pub fn start() -> Result<LocalPostgres, LocalPostgresError> {
        let bin = binaries()?;
        let dir = crate::in_memory("compose-postgres.")
            .map_err(|e| error("a folder for PostgreSQL", e))?;
        // PostgreSQL refuses to run as root: then as the postgres user.
        let user = if nix::unistd::geteuid().is_root() {
            let user = nix::unistd::User::from_name("postgres")
                .ok()
                .flatten()
                .ok_or_else(|| error("the postgres user", "there is none"))?;
            nix::unistd::chown(dir.path(), Some(user.uid), Some(user.gid))
                .map_err(|e| error("chown postgres", e))?;
            Some(user)
        } else {
            None
        };
        let home = dir.path().to_path_buf();
        let command = |program: &str| {
            use std::os::unix::process::CommandExt;
            let mut c = Command::new(bin.join(program));
            if let Some(user) = &user {
                c.uid(user.uid.as_raw()).gid(user.gid.as_raw());
            }
            c.current_dir(&home).stdin(Stdio::null());
            c
        };
        let data = dir.path().join("data");
        let init = command("initdb")
            .args([
                "-A",
                "trust",
                "-U",
                "compose",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(&data)
            .output()
            .map_err(|e| error("initdb", e))?;
        if !init.status.success() {
            return Err(error(
                "initdb",
                String::from_utf8_lossy(&init.stderr).trim().to_string(),
            ));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| error("a free port", e))?;
        let child = command("postgres")
            .arg("-D")
            .arg(&data)
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-k"])
            .arg(dir.path())
            // A test's data: nothing to keep across a crash.
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off", "-c", "max_connections=200"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| error("postgres", e))?;
        let postgres = LocalPostgres {
            child,
            url: format!("postgres://compose@127.0.0.1:{port}/postgres"),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = command("pg_isready")
                .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
                .status()
                .map_err(|e| error("pg_isready", e))?;
            if ready.success() {
                return Ok(postgres);
            }
            if Instant::now() > deadline {
                return Err(error(&postgres.url, "not taking connections after 30 s"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for LocalPostgres {
    fn drop(&mut self) {
        // SIGINT: a fast shutdown (SIGTERM's smart one waits for every client to leave).
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
