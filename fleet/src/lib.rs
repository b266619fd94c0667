//! compose-fleet: an update server for many devices. Agents dial out and poll (`server`);
//! rollouts spread in waves from each device's seed and halt on failure (`rollout`,
//! `schedule`); reboots take slots of a per-group semaphore on etcd through FleetLock
//! (`lock`); admin tokens have roles and device credentials reach only device endpoints
//! (`auth`), and every endpoint names who may call it in its signature (`access`); devices
//! are known by certificates the server's device CA issues for keys they made themselves,
//! over mutual TLS (`tls`); state is in SQLite or, shared by replicas, PostgreSQL (`store`
//! over `db`; `local_postgres` makes a throw-away one); `client` is the admin side the CLI
//! uses, and `simulate` drives thousands of agents against a server over loopback. `repo`
//! is `compose serve`: an update repository alone, as static files.

pub mod access;
pub mod auth;
pub mod client;
pub mod db;
pub mod local_postgres;
pub mod lock;
pub mod repo;
pub mod rollout;
pub mod schedule;
pub mod server;
pub mod simulate;
pub mod store;
pub mod tls;

/// A temporary folder in memory (`/dev/shm` where there is one: a database fsyncs, and on a
/// busy disk that, not the database, sets a test's pace).
pub(crate) fn in_memory(prefix: &str) -> std::io::Result<tempfile::TempDir> {
    let memory = std::path::Path::new("/dev/shm");
    if memory.is_dir() {
        tempfile::Builder::new().prefix(prefix).tempdir_in(memory)
    } else {
        tempfile::tempdir()
    }
}
