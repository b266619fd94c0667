//! The fleet's state, in SQLite (one file, the default) or PostgreSQL (shared by replicas),
//! through one SQL code path ([`crate::db`]): tokens, devices (with their certificates),
//! devices waiting to be accepted, groups, rollouts, each device's progress in a rollout, and
//! commands waiting for a device's agent. Secrets that are only checked are kept as SHA-256
//! hashes (the secret itself is shown once, when it is made); the device CA's key, which has
//! to sign, is kept whole in `settings`, so keep the database as private as the key.

use std::path::Path;
use std::sync::Mutex;

use compose_update::fleet::Step;
use serde::Serialize;

use crate::db::{Database, Db, DbError, Row, Tx, Value, params};

use crate::auth::Role;
use crate::schedule::Schedule;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("fleet database: {0}")]
    Db(DbError),
    #[error(
        "fleet database {database}: its schema is version {found}; this server knows versions up to {known}\nhelp: run the newer compose that wrote it, or give another --state or --database"
    )]
    NewerSchema {
        database: String,
        found: i64,
        known: i64,
    },
}

impl From<DbError> for StoreError {
    fn from(e: DbError) -> StoreError {
        StoreError::Db(e)
    }
}

/// The database behind one server.
#[derive(Debug)]
pub struct Store {
    db: Db,
    /// The last count of devices in flight per (rollout, group), and when it was made: while
    /// a group is at its limit, thousands of polls a second are told "not now" from here
    /// instead of each counting again.
    in_flight_seen: Mutex<std::collections::HashMap<(i64, String), (std::time::Instant, u32)>>,
    /// Offers from this server, one at a time: they wait for each other under the database's
    /// lock anyway, and waiting here holds no connection that other calls need.
    offering: Mutex<()>,
}

/// An enrolled device.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Device {
    pub id: String,
    pub device: String,
    pub group: String,
    pub seed: u32,
    pub version: String,
    pub enrolled_at: u64,
    pub last_seen: u64,
    /// When its certificate expires (Unix seconds); `None` without one, or for one issued
    /// before certificates expired.
    pub cert_expires_at: Option<u64>,
}

/// A group's policy.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Group {
    pub name: String,
    /// At most this many devices of the group busy with an update at once.
    pub max_in_flight: u32,
    /// Updates start only inside this daily UTC window (`HH:MM-HH:MM`), if set.
    pub window: Option<String>,
    /// FleetLock: at most this many devices of the group rebooting at once.
    pub reboot_slots: u32,
}

impl Group {
    pub fn default_for(name: &str) -> Group {
        Group {
            name: name.to_string(),
            max_in_flight: u32::MAX,
            window: None,
            reboot_slots: 1,
        }
    }
}

/// A rollout's life.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum RolloutState {
    Running,
    Paused,
    /// Stopped by itself: a wave's failure share reached the threshold.
    Halted,
    Aborted,
}

impl RolloutState {
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutState::Running => "running",
            RolloutState::Paused => "paused",
            RolloutState::Halted => "halted",
            RolloutState::Aborted => "aborted",
        }
    }
    fn parse(s: &str) -> RolloutState {
        match s {
            "paused" => RolloutState::Paused,
            "halted" => RolloutState::Halted,
            "aborted" => RolloutState::Aborted,
            _ => RolloutState::Running,
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Rollout {
    pub id: i64,
    pub version: String,
    /// Only devices of this group; all devices when `None`.
    pub group: Option<String>,
    pub schedule: Schedule,
    /// Halt when this share (percent) of a wave's devices failed.
    pub threshold: f64,
    pub state: RolloutState,
    pub started_at: u64,
    /// Why it is halted, paused or aborted.
    pub note: Option<String>,
}

/// One device's progress in a rollout.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Progress {
    pub device: String,
    pub rollout: i64,
    pub wave: usize,
    pub step: Step,
    pub reason: Option<String>,
    pub offered_at: u64,
    pub updated_at: u64,
}

/// A command for a device's agent (`compose fleet exec`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Exec {
    pub id: i64,
    pub device: String,
    pub argv: Vec<String>,
    /// `queued`, `sent` or `done`.
    pub state: String,
    pub exit_code: Option<i32>,
    pub stdout: Option<String>,
    pub stderr: Option<String>,
}

/// A device's certificate as the store keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceCert {
    /// SHA-256 of the device's public key (raw bytes).
    pub key_sha256: String,
    pub pem: String,
    /// SHA-256 of the certificate's DER.
    pub sha256: String,
    /// When it expires (Unix seconds).
    pub expires_at: u64,
}

/// A device that asked to join without an enrollment token.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PendingDevice {
    pub id: String,
    pub device: String,
    pub version: String,
    pub key_sha256: String,
    /// `pending` or `rejected`.
    pub state: String,
    pub asked_at: u64,
    pub last_seen: u64,
}

/// The most devices that wait to be accepted at once: asking needs no credential, so the
/// table is bounded.
pub const MAX_PENDING: i64 = 10_000;

/// What became of a device's request to join without a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Asked {
    Pending,
    /// Enrolled with this key meanwhile (accepted while it asked).
    Accepted,
    Rejected,
    /// [`MAX_PENDING`] devices wait already.
    Full,
    /// Another key asked under this id first, or a device enrolled under it.
    OtherKey,
}

/// Why an enrollment was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EnrollRefused {
    #[error(
        "the enrollment token is unknown or used up\nhelp: ask an admin for a new one (`compose fleet token enroll`)"
    )]
    BadToken,
    #[error(
        "device `{0}` is already enrolled: a second enrollment (a replay, another key, or a reinstalled device) is refused\nhelp: an admin removes the old record first (`compose fleet remove {0}`)"
    )]
    AlreadyEnrolled(String),
}

/// What each schema version adds, in order: `MIGRATIONS[v - 1]` takes a database from
/// version `v - 1` to `v`. Written for SQLite; PostgreSQL gets the same text in its own column
/// types ([`Tx::ddl`]). SQLite keeps the version in `user_version`, PostgreSQL in
/// `schema_version`. A SQLite database written before versions were kept reads 0 and has
/// version 1's tables: version 1 creates only what is missing.
const MIGRATIONS: &[&str] = &[SCHEMA_1, SCHEMA_2, SCHEMA_3];

/// The schema version this server writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

const SCHEMA_1: &str = "
CREATE TABLE IF NOT EXISTS tokens (hash TEXT PRIMARY KEY, role TEXT NOT NULL, name TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS enroll_tokens (hash TEXT PRIMARY KEY, grp TEXT NOT NULL, uses_left INTEGER NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS devices (id TEXT PRIMARY KEY, device TEXT NOT NULL, grp TEXT NOT NULL, seed INTEGER NOT NULL,
  credential TEXT NOT NULL UNIQUE, version TEXT NOT NULL, enrolled_at INTEGER NOT NULL, last_seen INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS devices_grp_seed ON devices (grp, seed);
CREATE INDEX IF NOT EXISTS devices_seed ON devices (seed);
CREATE TABLE IF NOT EXISTS groups (name TEXT PRIMARY KEY, max_in_flight INTEGER NOT NULL, win TEXT, reboot_slots INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS rollouts (id INTEGER PRIMARY KEY AUTOINCREMENT, version TEXT NOT NULL, grp TEXT, schedule TEXT NOT NULL,
  threshold REAL NOT NULL, state TEXT NOT NULL, started_at INTEGER NOT NULL, note TEXT);
CREATE TABLE IF NOT EXISTS progress (device TEXT NOT NULL, rollout INTEGER NOT NULL, wave INTEGER NOT NULL, step TEXT NOT NULL,
  reason TEXT, offered_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, grp TEXT NOT NULL, PRIMARY KEY (device, rollout));
CREATE INDEX IF NOT EXISTS progress_rollout_step ON progress (rollout, step);
CREATE INDEX IF NOT EXISTS progress_rollout_grp_step ON progress (rollout, grp, step);
CREATE TABLE IF NOT EXISTS execs (id INTEGER PRIMARY KEY AUTOINCREMENT, device TEXT NOT NULL, argv TEXT NOT NULL, state TEXT NOT NULL,
  exit_code INTEGER, stdout TEXT, stderr TEXT, created_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS execs_device_state ON execs (device, state);
";

/// Version 2: device identities. A device enrolled with a certificate signing request has
/// its key's and certificate's SHA-256 (and the certificate); devices that asked without an
/// enrollment token wait in `pending` (state `pending` or `rejected`) until an admin decides;
/// `settings` keeps what every server sharing the database must agree on (the device CA).
const SCHEMA_2: &str = "
ALTER TABLE devices ADD COLUMN key_sha256 TEXT;
ALTER TABLE devices ADD COLUMN cert_sha256 TEXT;
ALTER TABLE devices ADD COLUMN cert TEXT;
CREATE UNIQUE INDEX IF NOT EXISTS devices_cert ON devices (cert_sha256);
CREATE TABLE IF NOT EXISTS pending (id TEXT PRIMARY KEY, device TEXT NOT NULL, version TEXT NOT NULL, csr TEXT NOT NULL,
  key_sha256 TEXT NOT NULL, state TEXT NOT NULL, asked_at INTEGER NOT NULL, last_seen INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
";

/// Version 3: device certificates expire; when, so that polls can say to renew in time.
const SCHEMA_3: &str = "
ALTER TABLE devices ADD COLUMN cert_expires_at INTEGER;
";

/// Devices of a group busy with a rollout (offered, downloading, staged, rebooting): an
/// index-only count (the rollout `$1`, the group `$3`, as [`Store::offer`] binds them).
const IN_FLIGHT_COUNT: &str = "SELECT COUNT(*) FROM progress WHERE rollout = $1 AND grp = $3
     AND step IN ('offered', 'downloading', 'staged', 'rebooting')";

const DEVICE_COLUMNS: &str =
    "id, device, grp, seed, version, enrolled_at, last_seen, cert_expires_at";

fn device_row(r: &Row) -> Result<Device, DbError> {
    Ok(Device {
        id: r.text(0)?,
        device: r.text(1)?,
        group: r.text(2)?,
        seed: r.u32(3)?,
        version: r.text(4)?,
        enrolled_at: r.u64(5)?,
        last_seen: r.u64(6)?,
        cert_expires_at: r.opt_u64(7)?,
    })
}

/// Inserts an enrolled device (in the caller's transaction).
#[allow(clippy::too_many_arguments)]
fn insert_device(
    t: &mut Tx,
    id: &str,
    device: &str,
    group: &str,
    seed: u32,
    credential_hash: &str,
    version: &str,
    cert: Option<&DeviceCert>,
    now: u64,
) -> Result<(), DbError> {
    t.execute(
        "INSERT INTO devices (id, device, grp, seed, credential, version, enrolled_at, last_seen, key_sha256, cert_sha256, cert, cert_expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9, $10, $11)",
        params![
            id,
            device,
            group,
            seed,
            credential_hash,
            version,
            now,
            cert.map(|c| &c.key_sha256),
            cert.map(|c| &c.sha256),
            cert.map(|c| &c.pem),
            cert.map(|c| c.expires_at),
        ],
    )?;
    Ok(())
}

fn rollout_row(r: &Row) -> Result<Rollout, DbError> {
    Ok(Rollout {
        id: r.int(0)?,
        version: r.text(1)?,
        group: r.opt_text(2)?,
        schedule: Schedule::parse(&r.text(3)?).unwrap_or_default(),
        threshold: r.real(4)?,
        state: RolloutState::parse(&r.text(5)?),
        started_at: r.u64(6)?,
        note: r.opt_text(7)?,
    })
}

fn progress_row(r: &Row) -> Result<Progress, DbError> {
    Ok(Progress {
        device: r.text(0)?,
        rollout: r.int(1)?,
        wave: r.u64(2)? as usize,
        step: Step::parse(&r.text(3)?).unwrap_or(Step::Failed),
        reason: r.opt_text(4)?,
        offered_at: r.u64(5)?,
        updated_at: r.u64(6)?,
    })
}

fn exec_row(r: &Row) -> Result<Exec, DbError> {
    Ok(Exec {
        id: r.int(0)?,
        device: r.text(1)?,
        argv: serde_json::from_str(&r.text(2)?).unwrap_or_default(),
        state: r.text(3)?,
        exit_code: r.opt_int(4)?.map(|c| i32::try_from(c).unwrap_or(i32::MIN)),
        stdout: r.opt_text(5)?,
        stderr: r.opt_text(6)?,
    })
}

fn pending_row(r: &Row) -> Result<PendingDevice, DbError> {
    Ok(PendingDevice {
        id: r.text(0)?,
        device: r.text(1)?,
        version: r.text(2)?,
        key_sha256: r.text(3)?,
        state: r.text(4)?,
        asked_at: r.u64(5)?,
        last_seen: r.u64(6)?,
    })
}

const ROLLOUT_COLUMNS: &str = "id, version, grp, schedule, threshold, state, started_at, note";

const PROGRESS_COLUMNS: &str = "device, rollout, wave, step, reason, offered_at, updated_at";

const EXEC_COLUMNS: &str = "id, device, argv, state, exit_code, stdout, stderr";

/// The schema version of the database `t` works on (0 for an empty one).
fn schema_version(t: &mut Tx) -> Result<i64, DbError> {
    if t.is_postgres() {
        t.batch("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")?;
        t.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[])?
            .int(0)
    } else {
        t.query_one("PRAGMA user_version", &[])?.int(0)
    }
}

fn set_schema_version(t: &mut Tx, version: i64) -> Result<(), DbError> {
    if t.is_postgres() {
        t.execute("DELETE FROM schema_version", &[])?;
        t.execute(
            "INSERT INTO schema_version (version) VALUES ($1)",
            params![version],
        )?;
    } else {
        t.batch(&format!("PRAGMA user_version = {version}"))?;
    }
    Ok(())
}

/// Brings the database to [`SCHEMA_VERSION`] in one transaction: servers starting at once
/// migrate one after another (SQLite's write lock, PostgreSQL's advisory lock), and all but
/// the first find nothing to do; a newer schema is refused.
fn migrate(db: &Db, database: &Database) -> Result<(), StoreError> {
    db.write(|t| {
        t.lock("compose-fleet schema")?;
        let found = schema_version(t)?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                database: database.describe(),
                found,
                known: SCHEMA_VERSION,
            });
        }
        for step in &MIGRATIONS[found as usize..] {
            let step = t.ddl(step).into_owned();
            t.batch(&step)?;
        }
        if found != SCHEMA_VERSION {
            set_schema_version(t, SCHEMA_VERSION)?;
        }
        Ok(())
    })
}

impl Store {
    /// Opens (or makes) the SQLite database at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::connect(&Database::Sqlite(path.to_path_buf()))
    }

    /// Opens (or makes) `database` and brings its schema up to date.
    pub fn connect(database: &Database) -> Result<Store, StoreError> {
        let db = Db::open(database)?;
        migrate(&db, database)?;
        Ok(Store {
            db,
            in_flight_seen: Mutex::default(),
            offering: Mutex::default(),
        })
    }

    /// Whether servers on other machines may share this database (PostgreSQL).
    pub fn is_shared(&self) -> bool {
        self.db.is_postgres()
    }

    /// Calls `wake(target)` whenever another server on this database changed something a
    /// waiting poll may want (see [`Db::listen`]).
    pub fn listen<W: Send + Sync + 'static>(&self, target: std::sync::Weak<W>, wake: fn(&W)) {
        self.db.listen(target, wake);
    }

    pub fn add_token(
        &self,
        hash: &str,
        role: Role,
        name: &str,
        now: u64,
    ) -> Result<(), StoreError> {
        self.db.statement(|t| {
            t.execute(
                "INSERT INTO tokens VALUES ($1, $2, $3, $4)",
                params![hash, role.as_str(), name, now],
            )?;
            Ok(())
        })
    }

    pub fn token_role(&self, hash: &str) -> Result<Option<Role>, StoreError> {
        self.db.read(|t| {
            let role = t.query_opt("SELECT role FROM tokens WHERE hash = $1", params![hash])?;
            Ok(match role {
                Some(r) => Role::parse(&r.text(0)?),
                None => None,
            })
        })
    }

    /// The setting `name`: `value` if this call stores it first, else what another server
    /// stored before (so servers starting at once agree).
    pub fn setting_or(&self, name: &str, value: &str) -> Result<String, StoreError> {
        self.db.write(|t| {
            t.execute(
                "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                params![name, value],
            )?;
            Ok(
                t.query_one("SELECT value FROM settings WHERE name = $1", params![name])?
                    .text(0)?,
            )
        })
    }

    /// Adds the first admin token, unless a token exists: of several servers starting on one
    /// empty database at once exactly one adds it. True when added.
    pub fn add_first_admin(&self, hash: &str, now: u64) -> Result<bool, StoreError> {
        self.db.write(|t| {
            t.lock("compose-fleet first admin")?;
            Ok(t.execute(
                "INSERT INTO tokens (hash, role, name, created_at)
                 SELECT CAST($1 AS TEXT), 'admin', 'first admin', CAST($2 AS BIGINT)
                 WHERE NOT EXISTS (SELECT 1 FROM tokens)",
                params![hash, now],
            )? > 0)
        })
    }

    pub fn token_count(&self) -> Result<u64, StoreError> {
        self.db
            .read(|t| Ok(t.query_one("SELECT COUNT(*) FROM tokens", &[])?.u64(0)?))
    }

    pub fn add_enroll_token(
        &self,
        hash: &str,
        group: &str,
        uses: u32,
        now: u64,
    ) -> Result<(), StoreError> {
        self.db.statement(|t| {
            t.execute(
                "INSERT INTO enroll_tokens VALUES ($1, $2, $3, $4)",
                params![hash, group, uses, now],
            )?;
            Ok(())
        })
    }

    /// Uses one enrollment of `token_hash` for a new device; refuses a used-up token and a
    /// device id already enrolled (a replayed enrollment).
    #[allow(clippy::too_many_arguments)]
    pub fn enroll(
        &self,
        token_hash: &str,
        id: &str,
        device: &str,
        version: &str,
        credential_hash: &str,
        seed: u32,
        cert: Option<&DeviceCert>,
        now: u64,
    ) -> Result<Result<String, EnrollRefused>, StoreError> {
        self.db.write(|t| {
            // The id's lock: two enrollments of one id on two servers cannot both find it
            // free. The token's use is spent in the statement that checks it.
            t.lock(&format!("device {id}"))?;
            let exists = t
                .query_one("SELECT COUNT(*) FROM devices WHERE id = $1", params![id])?
                .int(0)?
                > 0;
            if exists {
                return Ok(Err(EnrollRefused::AlreadyEnrolled(id.to_string())));
            }
            let group = t.query_opt(
                "UPDATE enroll_tokens SET uses_left = uses_left - 1 WHERE hash = $1 AND uses_left > 0
                 RETURNING grp",
                params![token_hash],
            )?;
            let Some(group) = group else {
                return Ok(Err(EnrollRefused::BadToken));
            };
            let group = group.text(0)?;
            insert_device(
                t,
                id,
                device,
                &group,
                seed,
                credential_hash,
                version,
                cert,
                now,
            )?;
            t.execute("DELETE FROM pending WHERE id = $1", params![id])?;
            Ok(Ok(group))
        })
    }

    /// The key and certificate device `id` enrolled with, if it is enrolled with one.
    pub fn device_cert(&self, id: &str) -> Result<Option<(String, String)>, StoreError> {
        self.db.read(|t| {
            let row = t.query_opt(
                "SELECT key_sha256, cert FROM devices WHERE id = $1 AND cert IS NOT NULL",
                params![id],
            )?;
            Ok(match row {
                Some(r) => Some((r.text(0)?, r.text(1)?)),
                None => None,
            })
        })
    }

    /// Gives device `id`, enrolled without a certificate, the certificate for its new key;
    /// false when it has one already.
    pub fn set_device_cert(&self, id: &str, cert: &DeviceCert) -> Result<bool, StoreError> {
        self.db.statement(|t| {
            Ok(t.execute(
                "UPDATE devices SET key_sha256 = $2, cert_sha256 = $3, cert = $4, cert_expires_at = $5 WHERE id = $1 AND cert IS NULL",
                params![id, &cert.key_sha256, &cert.sha256, &cert.pem, cert.expires_at],
            )? > 0)
        })
    }

    /// Replaces device `id`'s certificate `old` (its SHA-256) with `cert`, a new one for the
    /// same key; false when the device, that certificate or that key is no longer its own
    /// (removed meanwhile, or renewed by another request first).
    pub fn renew_device_cert(
        &self,
        id: &str,
        old: &str,
        cert: &DeviceCert,
    ) -> Result<bool, StoreError> {
        self.db.statement(|t| {
            Ok(t.execute(
                "UPDATE devices SET cert_sha256 = $3, cert = $4, cert_expires_at = $5
                 WHERE id = $1 AND cert_sha256 = $2 AND key_sha256 = $6",
                params![
                    id,
                    old,
                    &cert.sha256,
                    &cert.pem,
                    cert.expires_at,
                    &cert.key_sha256
                ],
            )? > 0)
        })
    }

    /// Gives device `id` a new bearer credential (its hash).
    pub fn set_credential(&self, id: &str, hash: &str) -> Result<bool, StoreError> {
        self.db.statement(|t| {
            Ok(t.execute(
                "UPDATE devices SET credential = $2 WHERE id = $1",
                params![id, hash],
            )? > 0)
        })
    }

    /// The device whose certificate's SHA-256 is `sha256`.
    pub fn device_by_cert(&self, sha256: &str) -> Result<Option<Device>, StoreError> {
        self.device_where("cert_sha256", sha256)
    }

    /// The device whose `column` is `value`.
    fn device_where(&self, column: &str, value: &str) -> Result<Option<Device>, StoreError> {
        self.db.read(|t| {
            let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE {column} = $1");
            Ok(t.query_opt(&sql, params![value])?
                .map(|r| device_row(&r))
                .transpose()?)
        })
    }

    /// A device without an enrollment token asks to join: it waits as pending (asking again
    /// with the same key only updates when it was last seen).
    pub fn ask(
        &self,
        id: &str,
        device: &str,
        version: &str,
        csr: &str,
        key_sha256: &str,
        now: u64,
    ) -> Result<Asked, StoreError> {
        self.db.write(|t| {
            t.lock(&format!("device {id}"))?;
            let known = t.query_opt(
                "SELECT key_sha256, state FROM pending WHERE id = $1",
                params![id],
            )?;
            let known = match known {
                Some(r) => Some((r.text(0)?, r.text(1)?)),
                None => None,
            };
            // An id enrolled already is taken, unless by this very key (accepted meanwhile).
            let enrolled =
                t.query_opt("SELECT key_sha256 FROM devices WHERE id = $1", params![id])?;
            let enrolled = match enrolled {
                Some(r) => Some(r.opt_text(0)?),
                None => None,
            };
            let waiting = t.query_one("SELECT COUNT(*) FROM pending", &[])?.int(0)?;
            Ok(match known {
                _ if enrolled
                    .as_ref()
                    .is_some_and(|k| k.as_deref() == Some(key_sha256)) =>
                {
                    Asked::Accepted
                }
                _ if enrolled.is_some() => Asked::OtherKey,
                None if waiting >= MAX_PENDING => Asked::Full,
                None => {
                    t.execute(
                        "INSERT INTO pending VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6)",
                        params![id, device, version, csr, key_sha256, now],
                    )?;
                    Asked::Pending
                }
                Some((key, _)) if key != key_sha256 => Asked::OtherKey,
                Some((_, state)) if state == "rejected" => Asked::Rejected,
                Some(_) => {
                    t.execute(
                        "UPDATE pending SET version = $2, last_seen = $3 WHERE id = $1",
                        params![id, version, now],
                    )?;
                    Asked::Pending
                }
            })
        })
    }

    /// Devices waiting for an admin (and those rejected).
    pub fn pending(&self) -> Result<Vec<PendingDevice>, StoreError> {
        self.db.read(|t| {
            Ok(t.query(
                "SELECT id, device, version, key_sha256, state, asked_at, last_seen FROM pending ORDER BY id",
                &[],
            )?
            .iter()
            .map(pending_row)
            .collect::<Result<_, _>>()?)
        })
    }

    /// The certificate request of pending device `id` (not of a rejected one).
    pub fn pending_request(&self, id: &str) -> Result<Option<String>, StoreError> {
        self.db.read(|t| {
            Ok(t.query_opt(
                "SELECT csr FROM pending WHERE id = $1 AND state = 'pending'",
                params![id],
            )?
            .map(|r| r.text(0))
            .transpose()?)
        })
    }

    /// Accepts pending device `id` into `group` with the certificate issued for its key; false
    /// when it is no longer pending (accepted or rejected meanwhile).
    pub fn accept(
        &self,
        id: &str,
        group: &str,
        credential_hash: &str,
        seed: u32,
        cert: &DeviceCert,
        now: u64,
    ) -> Result<bool, StoreError> {
        self.db.write(|t| {
            t.lock(&format!("device {id}"))?;
            let asked = t.query_opt(
                "SELECT device, version, key_sha256 FROM pending WHERE id = $1 AND state = 'pending'",
                params![id],
            )?;
            let asked = match asked {
                Some(r) => Some((r.text(0)?, r.text(1)?, r.text(2)?)),
                None => None,
            };
            let Some((device, version, _)) = asked.filter(|(_, _, key)| *key == cert.key_sha256)
            else {
                return Ok(false);
            };
            insert_device(
                t,
                id,
                &device,
                group,
                seed,
                credential_hash,
                &version,
                Some(cert),
                now,
            )?;
            t.execute("DELETE FROM pending WHERE id = $1", params![id])?;
            Ok(true)
        })
    }

    /// Refuses pending device `id` from now on (it is told so when it asks again).
    pub fn reject(&self, id: &str) -> Result<bool, StoreError> {
        self.db.statement(|t| {
            Ok(t.execute(
                "UPDATE pending SET state = 'rejected' WHERE id = $1",
                params![id],
            )? > 0)
        })
    }

    pub fn device_by_credential(&self, hash: &str) -> Result<Option<Device>, StoreError> {
        self.device_where("credential", hash)
    }

    pub fn device(&self, id: &str) -> Result<Option<Device>, StoreError> {
        self.device_where("id", id)
    }

    pub fn devices(&self) -> Result<Vec<Device>, StoreError> {
        self.db.read(|t| {
            let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices ORDER BY id");
            Ok(t.query(&sql, &[])?
                .iter()
                .map(device_row)
                .collect::<Result<_, _>>()?)
        })
    }

    /// A poll: the device is alive and runs `version`.
    pub fn seen(&self, id: &str, version: &str, now: u64) -> Result<(), StoreError> {
        self.db.statement(|t| {
            t.execute(
                "UPDATE devices SET version = $2, last_seen = $3 WHERE id = $1",
                params![id, version, now],
            )?;
            Ok(())
        })
    }

    pub fn set_device_group(&self, id: &str, group: &str) -> Result<bool, StoreError> {
        self.db.write(|t| {
            let moved = t.execute(
                "UPDATE devices SET grp = $2 WHERE id = $1",
                params![id, group],
            )? > 0;
            t.notify()?;
            Ok(moved)
        })
    }

    /// Forgets device `id` (and a request of its id), with its progress and commands, in one
    /// transaction; an offer made meanwhile finds no device (see [`Store::offer`]).
    pub fn remove_device(&self, id: &str) -> Result<bool, StoreError> {
        self.db.write(|t| {
            t.lock(&format!("device {id}"))?;
            t.execute("DELETE FROM progress WHERE device = $1", params![id])?;
            t.execute("DELETE FROM execs WHERE device = $1", params![id])?;
            let asked = t.execute("DELETE FROM pending WHERE id = $1", params![id])?;
            let removed = t.execute("DELETE FROM devices WHERE id = $1", params![id])?;
            Ok(removed + asked > 0)
        })
    }

    pub fn group(&self, name: &str) -> Result<Group, StoreError> {
        self.db.read(|t| {
            let row = t.query_opt(
                "SELECT name, max_in_flight, win, reboot_slots FROM groups WHERE name = $1",
                params![name],
            )?;
            Ok(match row {
                Some(r) => Group {
                    name: r.text(0)?,
                    max_in_flight: r.int(1)?.clamp(0, u32::MAX as i64) as u32,
                    window: r.opt_text(2)?,
                    reboot_slots: r.u32(3)?,
                },
                None => Group::default_for(name),
            })
        })
    }

    /// Whether group `name` exists: it has a policy or a device.
    pub fn group_exists(&self, name: &str) -> Result<bool, StoreError> {
        self.db.read(|t| {
            Ok(t.query_one(
                "SELECT EXISTS (SELECT 1 FROM groups WHERE name = $1)
                     OR EXISTS (SELECT 1 FROM devices WHERE grp = $1)",
                params![name],
            )?
            .int(0)?
                != 0)
        })
    }

    pub fn set_group(&self, group: &Group) -> Result<(), StoreError> {
        self.db.write(|t| {
            t.execute(
                "INSERT INTO groups VALUES ($1, $2, $3, $4)
                 ON CONFLICT (name) DO UPDATE SET max_in_flight = excluded.max_in_flight,
                   win = excluded.win, reboot_slots = excluded.reboot_slots",
                params![
                    &group.name,
                    i64::from(group.max_in_flight),
                    group.window.as_deref(),
                    group.reboot_slots
                ],
            )?;
            t.notify()?;
            Ok(())
        })
    }

    /// Every group with a device or a policy.
    pub fn groups(&self) -> Result<Vec<Group>, StoreError> {
        let names: Vec<String> = self.db.read(|t| {
            t.query(
                "SELECT grp FROM devices UNION SELECT name FROM groups ORDER BY 1",
                &[],
            )?
            .iter()
            .map(|r| r.text(0))
            .collect::<Result<_, DbError>>()
        })?;
        names.iter().map(|n| self.group(n)).collect()
    }

    pub fn add_rollout(
        &self,
        version: &str,
        group: Option<&str>,
        schedule: &Schedule,
        threshold: f64,
        now: u64,
    ) -> Result<i64, StoreError> {
        self.db.write(|t| {
            let id = t
                .query_one(
                    "INSERT INTO rollouts (version, grp, schedule, threshold, state, started_at)
                     VALUES ($1, $2, $3, $4, 'running', $5) RETURNING id",
                    params![version, group, schedule.to_string(), threshold, now],
                )?
                .int(0)?;
            t.notify()?;
            Ok(id)
        })
    }

    pub fn rollout(&self, id: i64) -> Result<Option<Rollout>, StoreError> {
        self.db.read(|t| {
            let sql = format!("SELECT {ROLLOUT_COLUMNS} FROM rollouts WHERE id = $1");
            Ok(t.query_opt(&sql, params![id])?
                .map(|r| rollout_row(&r))
                .transpose()?)
        })
    }

    pub fn rollouts(&self) -> Result<Vec<Rollout>, StoreError> {
        self.db.read(|t| {
            let sql = format!("SELECT {ROLLOUT_COLUMNS} FROM rollouts ORDER BY id");
            Ok(t.query(&sql, &[])?
                .iter()
                .map(rollout_row)
                .collect::<Result<_, _>>()?)
        })
    }

    /// The newest rollout that is not aborted and covers `group`.
    pub fn rollout_for(&self, group: &str) -> Result<Option<Rollout>, StoreError> {
        self.db.read(|t| {
            let sql = format!(
                "SELECT {ROLLOUT_COLUMNS} FROM rollouts WHERE state != 'aborted' AND (grp IS NULL OR grp = $1) ORDER BY id DESC LIMIT 1"
            );
            Ok(t.query_opt(&sql, params![group])?
                .map(|r| rollout_row(&r))
                .transpose()?)
        })
    }

    /// Moves rollout `id` to `to` if it is in one of the states `from` now, in one statement,
    /// so two servers acting on one rollout at once cannot both move it; false when it was in
    /// none of them.
    pub fn transition_rollout(
        &self,
        id: i64,
        from: &[RolloutState],
        to: RolloutState,
        note: Option<&str>,
    ) -> Result<bool, StoreError> {
        let places: Vec<String> = (0..from.len()).map(|i| format!("${}", i + 4)).collect();
        let sql = format!(
            "UPDATE rollouts SET state = $2, note = $3 WHERE id = $1 AND state IN ({})",
            places.join(", ")
        );
        let mut values = params![id, to.as_str(), note].to_vec();
        values.extend(from.iter().map(|s| Value::from(s.as_str())));
        self.db.write(|t| {
            let moved = t.execute(&sql, &values)? > 0;
            if moved {
                t.notify()?;
            }
            Ok(moved)
        })
    }

    pub fn progress(&self, device: &str, rollout: i64) -> Result<Option<Progress>, StoreError> {
        self.db.read(|t| {
            let sql = format!(
                "SELECT {PROGRESS_COLUMNS} FROM progress WHERE device = $1 AND rollout = $2"
            );
            Ok(t.query_opt(&sql, params![device, rollout])?
                .map(|r| progress_row(&r))
                .transpose()?)
        })
    }

    pub fn rollout_progress(&self, rollout: i64) -> Result<Vec<Progress>, StoreError> {
        self.db.read(|t| {
            let sql = format!(
                "SELECT {PROGRESS_COLUMNS} FROM progress WHERE rollout = $1 ORDER BY device"
            );
            Ok(t.query(&sql, params![rollout])?
                .iter()
                .map(progress_row)
                .collect::<Result<_, _>>()?)
        })
    }

    /// Records a step (the first one, `offered`, with the device's wave).
    pub fn set_progress(
        &self,
        device: &str,
        rollout: i64,
        wave: usize,
        step: Step,
        reason: Option<&str>,
        now: u64,
    ) -> Result<(), StoreError> {
        self.db.statement(|t| {
            t.execute(
                "INSERT INTO progress
                 SELECT id, CAST($2 AS BIGINT), CAST($3 AS BIGINT), CAST($4 AS TEXT), CAST($5 AS TEXT),
                   CAST($6 AS BIGINT), CAST($6 AS BIGINT), grp
                 FROM devices WHERE id = $1
                 ON CONFLICT (device, rollout) DO UPDATE SET step = excluded.step,
                   reason = excluded.reason, updated_at = excluded.updated_at",
                params![device, rollout, wave, step.as_str(), reason, now],
            )?;
            Ok(())
        })
    }

    /// Offers rollout `rollout` to `device` unless it no longer runs or `max_in_flight`
    /// devices of `group` are busy with it already; the checks and the mark are one step, so
    /// concurrent polls never exceed the limit and nothing is offered after a halt.
    pub fn offer(
        &self,
        device: &str,
        rollout: i64,
        wave: usize,
        group: &str,
        max_in_flight: u32,
        now: u64,
    ) -> Result<bool, StoreError> {
        let key = (rollout, group.to_string());
        let hint = self
            .in_flight_seen
            .lock()
            .ok()
            .and_then(|m| m.get(&key).copied());
        if let Some((when, busy)) = hint
            && busy >= max_in_flight
            && when.elapsed() < std::time::Duration::from_millis(500)
        {
            return Ok(false);
        }
        let _turn = self.offering.lock().unwrap_or_else(|e| e.into_inner());
        self.db.write(|t| {
            // The group's lock in this rollout: servers sharing the database cannot each
            // count the same free place (SQLite: its write lock).
            t.lock(&format!("offer {rollout} {group}"))?;
            // Checked again under the lock, in one statement: a failure report may have
            // halted the rollout since the caller read it (a halted rollout offers nothing
            // more), and a device removed since its poll began gets nothing (its progress
            // would hold a place under the limit with nobody to free it).
            let row = t.query_one(
                &format!(
                    "SELECT (SELECT state FROM rollouts WHERE id = $1),
                        EXISTS (SELECT 1 FROM devices WHERE id = $2), ({IN_FLIGHT_COUNT})"
                ),
                params![rollout, device, group],
            )?;
            if row.opt_text(0)?.as_deref() != Some(RolloutState::Running.as_str())
                || row.int(1)? == 0
            {
                return Ok(false);
            }
            let busy = row.u32(2)?;
            if let Ok(mut seen) = self.in_flight_seen.lock() {
                seen.insert(
                    key,
                    (
                        std::time::Instant::now(),
                        busy + u32::from(busy < max_in_flight),
                    ),
                );
            }
            if busy >= max_in_flight {
                return Ok(false);
            }
            t.execute(
                "INSERT INTO progress VALUES ($1, $2, $3, 'offered', NULL, $4, $4, $5)
                 ON CONFLICT (device, rollout) DO UPDATE SET step = 'offered', updated_at = excluded.updated_at",
                params![device, rollout, wave, now, group],
            )?;
            Ok(true)
        })
    }

    /// Devices in the rollout's scope whose seed is in `seeds`.
    pub fn devices_in_seeds(
        &self,
        group: Option<&str>,
        seeds: std::ops::Range<u32>,
    ) -> Result<u64, StoreError> {
        self.db.read(|t| {
            let row = match group {
                Some(g) => t.query_one(
                    "SELECT COUNT(*) FROM devices WHERE grp = $1 AND seed >= $2 AND seed < $3",
                    params![g, seeds.start, seeds.end],
                )?,
                None => t.query_one(
                    "SELECT COUNT(*) FROM devices WHERE seed >= $1 AND seed < $2",
                    params![seeds.start, seeds.end],
                )?,
            };
            Ok(row.u64(0)?)
        })
    }

    /// Devices in the rollout's scope, and those of them that run `version`.
    pub fn devices_running(
        &self,
        group: Option<&str>,
        version: &str,
    ) -> Result<(u64, u64), StoreError> {
        self.db.read(|t| {
            let row = match group {
                Some(g) => t.query_one(
                    "SELECT COUNT(*), COUNT(CASE WHEN version = $2 THEN 1 END) FROM devices WHERE grp = $1",
                    params![g, version],
                )?,
                None => t.query_one(
                    "SELECT COUNT(*), COUNT(CASE WHEN version = $1 THEN 1 END) FROM devices",
                    params![version],
                )?,
            };
            Ok((row.u64(0)?, row.u64(1)?))
        })
    }

    /// Failed devices of a rollout's wave.
    pub fn failed_in_wave(&self, rollout: i64, wave: usize) -> Result<u64, StoreError> {
        self.db.read(|t| {
            Ok(t.query_one(
                "SELECT COUNT(*) FROM progress WHERE rollout = $1 AND wave = $2 AND step IN ('failed', 'rolled-back')",
                params![rollout, wave],
            )?
            .u64(0)?)
        })
    }

    pub fn add_exec(&self, device: &str, argv: &[String], now: u64) -> Result<i64, StoreError> {
        self.db.write(|t| {
            let id = t
                .query_one(
                    "INSERT INTO execs (device, argv, state, created_at) VALUES ($1, $2, 'queued', $3) RETURNING id",
                    params![device, serde_json::to_string(argv).unwrap_or_default(), now],
                )?
                .int(0)?;
            t.notify()?;
            Ok(id)
        })
    }

    /// The oldest command queued for `device`, marked sent in the same transaction: however
    /// many polls of the device arrive at once, on however many servers, one gets it.
    pub fn take_exec(&self, device: &str) -> Result<Option<Exec>, StoreError> {
        // Most polls find nothing queued: a look first, without a transaction or a lock.
        let queued = self.db.read(|t| {
            t.query_opt(
                "SELECT 1 FROM execs WHERE device = $1 AND state = 'queued' LIMIT 1",
                params![device],
            )
        })?;
        if queued.is_none() {
            return Ok(None);
        }
        self.db.write(|t| {
            t.lock(&format!("exec {device}"))?;
            let sql = format!(
                "UPDATE execs SET state = 'sent'
                 WHERE id = (SELECT id FROM execs WHERE device = $1 AND state = 'queued' ORDER BY id LIMIT 1)
                 RETURNING {EXEC_COLUMNS}"
            );
            Ok(t.query_opt(&sql, params![device])?
                .map(|r| exec_row(&r))
                .transpose()?)
        })
    }

    pub fn finish_exec(
        &self,
        id: i64,
        device: &str,
        exit_code: i32,
        stdout: &str,
        stderr: &str,
    ) -> Result<bool, StoreError> {
        self.db.write(|t| {
            let finished = t.execute(
                "UPDATE execs SET state = 'done', exit_code = $3, stdout = $4, stderr = $5 WHERE id = $1 AND device = $2",
                params![id, device, exit_code, stdout, stderr],
            )? > 0;
            t.notify()?;
            Ok(finished)
        })
    }

    pub fn exec(&self, id: i64) -> Result<Option<Exec>, StoreError> {
        self.db.read(|t| {
            let sql = format!("SELECT {EXEC_COLUMNS} FROM execs WHERE id = $1");
            Ok(t.query_opt(&sql, params![id])?
                .map(|r| exec_row(&r))
                .transpose()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    #[test]
    fn the_schema_has_a_version_and_a_newer_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fleet.db");
        let version = |path: &Path| -> i64 {
            Connection::open(path)
                .unwrap()
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .unwrap()
        };

        // A new database gets the current version; opening it again changes nothing.
        let store = Store::open(&path).unwrap();
        store.add_token("h", Role::Admin, "first", 1).unwrap();
        drop(store);
        assert_eq!(version(&path), SCHEMA_VERSION);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.token_count().unwrap(), 1);
        drop(store);

        // One written before versions were kept (0, with version 1's tables), and one at
        // version 1 with an enrolled device, keep their rows.
        for (old, at) in [("v0.db", 0), ("v1.db", 1)] {
            let path = dir.path().join(old);
            let db = Connection::open(&path).unwrap();
            db.execute_batch(SCHEMA_1).unwrap();
            db.execute(
                "INSERT INTO devices VALUES ('d', 'vm', 'lab', 7, 'cred', '1', 1, 1)",
                [],
            )
            .unwrap();
            db.pragma_update(None, "user_version", at).unwrap();
            drop(db);
            let store = Store::open(&path).unwrap();
            assert_eq!(store.device("d").unwrap().unwrap().group, "lab");
            assert_eq!(store.device_cert("d").unwrap(), None);
            assert!(store.pending().unwrap().is_empty());
            drop(store);
            assert_eq!(version(&path), SCHEMA_VERSION);
        }

        // One from a newer server is refused, named, and left as it was.
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        let e = Store::open(&path).unwrap_err().to_string();
        assert!(
            e.contains(&format!("version {}", SCHEMA_VERSION + 1)),
            "{e}"
        );
        assert!(e.contains("fleet.db") && e.contains("help:"), "{e}");
        assert_eq!(version(&path), SCHEMA_VERSION + 1);
    }

    /// Servers sharing one SQLite file, as replicas on one machine do: each has its own
    /// connection, and every read-then-write is one statement or a write transaction.
    #[test]
    fn servers_on_one_database_add_one_admin_offer_within_the_limit_and_send_each_command_once() {
        let dir = tempfile::tempdir().unwrap();
        servers_on_one_database(&Database::Sqlite(dir.path().join("fleet.db")));
    }

    /// The same on a real PostgreSQL (each server a pool of connections): there a
    /// read-then-write is correct only under its advisory lock.
    #[test]
    fn servers_on_one_postgresql_add_one_admin_offer_within_the_limit_and_send_each_command_once() {
        let postgres = crate::local_postgres::LocalPostgres::start().expect("PostgreSQL");
        servers_on_one_database(&Database::Postgres(postgres.url.clone()));
    }

    /// A schema from a newer server is refused on PostgreSQL too, and servers starting at
    /// once on an empty one migrate it once.
    #[test]
    fn postgresql_is_migrated_once_and_a_newer_schema_is_refused() {
        let postgres = crate::local_postgres::LocalPostgres::start().expect("PostgreSQL");
        let database = Database::Postgres(postgres.url.clone());
        let stores: Vec<Store> = std::thread::scope(|s| {
            let starting: Vec<_> = (0..4)
                .map(|_| s.spawn(|| Store::connect(&database).unwrap()))
                .collect();
            starting.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let versions = stores[0]
            .db
            .read(|t| t.query_one("SELECT COUNT(*), MAX(version) FROM schema_version", &[]))
            .unwrap();
        assert_eq!(versions.int(0).unwrap(), 1);
        assert_eq!(versions.int(1).unwrap(), SCHEMA_VERSION);
        stores[0]
            .db
            .write(|t| {
                t.execute(
                    "UPDATE schema_version SET version = $1",
                    params![SCHEMA_VERSION + 1],
                )
            })
            .unwrap();
        let e = Store::connect(&database).unwrap_err().to_string();
        assert!(
            e.contains(&format!("version {}", SCHEMA_VERSION + 1)) && e.contains("help:"),
            "{e}"
        );
        assert!(e.contains("postgres://compose@127.0.0.1"), "{e}");
    }

    fn servers_on_one_database(database: &Database) {
        let servers: Vec<Store> = (0..3).map(|_| Store::connect(database).unwrap()).collect();
        let at_once = |work: &(dyn Fn(&Store, usize) -> usize + Sync)| -> usize {
            std::thread::scope(|s| {
                let handles: Vec<_> = (0..12)
                    .map(|i| {
                        let server = &servers[i % servers.len()];
                        s.spawn(move || work(server, i))
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).sum()
            })
        };

        // Twelve starts at once on an empty database: one first admin token.
        let added = at_once(&|server, i| {
            usize::from(server.add_first_admin(&format!("hash-{i}"), 1).unwrap())
        });
        assert_eq!(added, 1);
        assert_eq!(servers[2].token_count().unwrap(), 1);

        // Twelve devices offered at once under a limit of 3: three get it.
        servers[0].add_enroll_token("t", "lab", 12, 1).unwrap();
        for i in 0..12 {
            let id = format!("d{i}");
            let enrolled = servers[0].enroll("t", &id, "vm", "1", &id, 7, None, 1);
            assert_eq!(enrolled.unwrap(), Ok("lab".to_string()));
        }
        let rollout = servers[0]
            .add_rollout(
                "2",
                Some("lab"),
                &Schedule::parse("100%@0s").unwrap(),
                50.0,
                1,
            )
            .unwrap();
        let offered = at_once(&|server, i| {
            usize::from(
                server
                    .offer(&format!("d{i}"), rollout, 0, "lab", 3, 2)
                    .unwrap(),
            )
        });
        assert_eq!(offered, 3);

        // Forty commands for one device, taken by twelve polls at once: each exactly once.
        for i in 0..40 {
            servers[1].add_exec("d0", &[format!("c{i}")], 3).unwrap();
        }
        let taken = std::sync::Mutex::new(Vec::new());
        at_once(&|server, _| {
            while let Some(exec) = server.take_exec("d0").unwrap() {
                taken.lock().unwrap().push(exec.id);
            }
            0
        });
        let mut taken = taken.into_inner().unwrap();
        taken.sort_unstable();
        taken.dedup();
        assert_eq!(taken.len(), 40);

        // A halt and a resume racing: the rollout moves once from each state.
        let moved = at_once(&|server, _| {
            usize::from(
                server
                    .transition_rollout(
                        rollout,
                        &[RolloutState::Running],
                        RolloutState::Halted,
                        None,
                    )
                    .unwrap(),
            )
        });
        assert_eq!(moved, 1);
        assert_eq!(
            servers[0].rollout(rollout).unwrap().unwrap().state,
            RolloutState::Halted
        );
    }

    #[test]
    fn an_enrolled_id_cannot_be_asked_for_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("fleet.db")).unwrap();
        store.add_enroll_token("t", "lab", 1, 1).unwrap();
        let enrolled = store
            .enroll("t", "d", "vm", "1", "cred", 7, None, 1)
            .unwrap();
        assert_eq!(enrolled, Ok("lab".to_string()));
        let asked = store.ask("d", "vm", "1", "csr", "key", 2).unwrap();
        assert_eq!(asked, Asked::OtherKey);
        assert!(store.pending().unwrap().is_empty());
    }
}
