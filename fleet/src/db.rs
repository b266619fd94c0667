//! One SQL code path over two engines: SQLite (rusqlite; one file, the embedded default) and
//! PostgreSQL (postgres; any number of servers sharing it). Statements are written once, with
//! `$1`-style parameters (SQLite gets them as `?1`), values are a small enum both engines
//! read and write, and every store call is one transaction: [`Db::read`] or [`Db::write`].
//! What the engines do differently lives here and nowhere else: locking (SQLite's write
//! transactions take the database's one write lock at their start; PostgreSQL takes an
//! advisory lock per key, [`Tx::lock`]), waking other servers ([`Tx::notify`], PostgreSQL's
//! NOTIFY, sent when the transaction commits) and the column types of the schema
//! ([`Db::ddl`]).

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{IsNull, ToSql, Type};

/// The channel servers on one PostgreSQL database wake each other on.
const CHANNEL: &str = "compose_fleet";

/// Connections one server keeps to PostgreSQL: as many store calls run at once.
pub const POSTGRES_CONNECTIONS: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("{0}\nhelp: check the state folder given with --state; it must be writable")]
    Sqlite(rusqlite::Error),
    #[error("PostgreSQL: {}\nhelp: check --database (postgres://USER@HOST:PORT/DATABASE) and that the server is up", postgres_text(.0))]
    Postgres(postgres::Error),
    #[error(
        "column {index} holds {found}, not {wanted}\nhelp: the database was changed by something other than compose; restore it from a backup"
    )]
    Column {
        index: usize,
        wanted: &'static str,
        found: &'static str,
    },
    #[error(
        "`{url}` is not a database this server knows\nhelp: give postgres://USER@HOST:PORT/DATABASE (or postgresql://...), or leave --database out for SQLite in the state folder"
    )]
    Url { url: String },
}

// Not `#[from]`: that would make the error a source too, and every message would show it
// twice (once in the text, once as its cause).
impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> DbError {
        DbError::Sqlite(e)
    }
}

impl From<postgres::Error> for DbError {
    fn from(e: postgres::Error) -> DbError {
        DbError::Postgres(e)
    }
}

/// PostgreSQL's own message (with its detail), or the client's with its cause (a refused
/// connection), which `postgres::Error`'s display leaves out.
fn postgres_text(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{}: {detail}", db.message()),
            None => db.message().to_string(),
        },
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}

/// `url` with its password, if any, shown as `***`.
fn hide_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((user, host)) if user.contains(':') => {
            let name = user.split(':').next().unwrap_or("");
            format!("{scheme}://{name}:***@{host}")
        }
        _ => url.to_string(),
    }
}

/// A value bound to a parameter or read from a column.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Value {
        Value::Int(v.into())
    }
}
impl From<u32> for Value {
    fn from(v: u32) -> Value {
        Value::Int(v.into())
    }
}
impl From<u64> for Value {
    fn from(v: u64) -> Value {
        Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}
impl From<usize> for Value {
    fn from(v: usize) -> Value {
        Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Real(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Value {
        Value::Text(v.clone())
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Null => "NULL",
            Value::Int(_) => "an integer",
            Value::Real(_) => "a real number",
            Value::Text(_) => "text",
        }
    }
}

/// The parameters of a statement: `params![a, b]`.
macro_rules! params {
    ($($v:expr),* $(,)?) => { &[$($crate::db::Value::from($v)),*] as &[$crate::db::Value] };
}
pub(crate) use params;

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                _ => i.to_sql_checked(ty, out),
            },
            Value::Real(x) => x.to_sql_checked(ty, out),
            Value::Text(s) => s.to_sql_checked(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

/// One row of a result.
#[derive(Debug)]
pub struct Row(Vec<Value>);

impl Row {
    fn at(&self, index: usize) -> &Value {
        self.0.get(index).unwrap_or(&Value::Null)
    }

    fn wrong(&self, index: usize, wanted: &'static str) -> DbError {
        DbError::Column {
            index,
            wanted,
            found: self.at(index).kind(),
        }
    }

    pub fn opt_int(&self, index: usize) -> Result<Option<i64>, DbError> {
        match self.at(index) {
            Value::Null => Ok(None),
            Value::Int(i) => Ok(Some(*i)),
            _ => Err(self.wrong(index, "an integer")),
        }
    }

    pub fn int(&self, index: usize) -> Result<i64, DbError> {
        self.opt_int(index)?
            .ok_or_else(|| self.wrong(index, "an integer"))
    }

    /// A count or a time: never negative.
    pub fn u64(&self, index: usize) -> Result<u64, DbError> {
        u64::try_from(self.int(index)?).map_err(|_| self.wrong(index, "a count"))
    }

    pub fn opt_u64(&self, index: usize) -> Result<Option<u64>, DbError> {
        self.opt_int(index)?
            .map(|i| u64::try_from(i).map_err(|_| self.wrong(index, "a count")))
            .transpose()
    }

    pub fn u32(&self, index: usize) -> Result<u32, DbError> {
        u32::try_from(self.int(index)?).map_err(|_| self.wrong(index, "a 32-bit count"))
    }

    pub fn real(&self, index: usize) -> Result<f64, DbError> {
        match self.at(index) {
            Value::Real(x) => Ok(*x),
            Value::Int(i) => Ok(*i as f64),
            _ => Err(self.wrong(index, "a real number")),
        }
    }

    pub fn opt_text(&self, index: usize) -> Result<Option<String>, DbError> {
        match self.at(index) {
            Value::Null => Ok(None),
            Value::Text(s) => Ok(Some(s.clone())),
            _ => Err(self.wrong(index, "text")),
        }
    }

    pub fn text(&self, index: usize) -> Result<String, DbError> {
        self.opt_text(index)?
            .ok_or_else(|| self.wrong(index, "text"))
    }

    fn from_sqlite(row: &rusqlite::Row, columns: usize) -> rusqlite::Result<Row> {
        use rusqlite::types::ValueRef;
        (0..columns)
            .map(|i| {
                Ok(match row.get_ref(i)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(n) => Value::Int(n),
                    ValueRef::Real(x) => Value::Real(x),
                    ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                    ValueRef::Blob(_) => {
                        return Err(rusqlite::Error::InvalidColumnType(
                            i,
                            "blob".into(),
                            rusqlite::types::Type::Blob,
                        ));
                    }
                })
            })
            .collect::<rusqlite::Result<_>>()
            .map(Row)
    }

    fn from_postgres(row: &postgres::Row) -> Result<Row, DbError> {
        let mut values = Vec::with_capacity(row.len());
        for (i, column) in row.columns().iter().enumerate() {
            let value = match *column.type_() {
                Type::INT8 => row.try_get::<_, Option<i64>>(i)?.map(Value::Int),
                Type::INT4 => row
                    .try_get::<_, Option<i32>>(i)?
                    .map(|n| Value::Int(n.into())),
                Type::INT2 => row
                    .try_get::<_, Option<i16>>(i)?
                    .map(|n| Value::Int(n.into())),
                Type::BOOL => row
                    .try_get::<_, Option<bool>>(i)?
                    .map(|b| Value::Int(b.into())),
                Type::FLOAT8 => row.try_get::<_, Option<f64>>(i)?.map(Value::Real),
                Type::FLOAT4 => row
                    .try_get::<_, Option<f32>>(i)?
                    .map(|x| Value::Real(x.into())),
                _ => row.try_get::<_, Option<String>>(i)?.map(Value::Text),
            };
            values.push(value.unwrap_or(Value::Null));
        }
        Ok(Row(values))
    }
}

/// `$1` → `?1`, outside quoted text: SQLite numbers `$N` by first appearance, not by `N`.
fn sqlite_sql(sql: &str) -> Cow<'_, str> {
    if !sql.contains('$') {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    for c in sql.chars() {
        if c == '\'' {
            quoted = !quoted;
        }
        out.push(if c == '$' && !quoted { '?' } else { c });
    }
    Cow::Owned(out)
}

/// A connection to PostgreSQL with the statements it prepared.
struct PgConn {
    client: postgres::Client,
    statements: HashMap<String, postgres::Statement>,
}

impl std::fmt::Debug for PgConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgConn")
            .field("statements", &self.statements.len())
            .finish()
    }
}

/// Connections to PostgreSQL, made when first needed, at most [`POSTGRES_CONNECTIONS`].
#[derive(Debug)]
struct Pool {
    config: postgres::Config,
    idle: Mutex<(Vec<PgConn>, usize)>,
    freed: Condvar,
}

impl Pool {
    fn take(&self) -> Result<PgConn, DbError> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            while let Some(conn) = idle.0.pop() {
                if !conn.client.is_closed() {
                    return Ok(conn);
                }
                idle.1 -= 1;
            }
            if idle.1 < POSTGRES_CONNECTIONS {
                idle.1 += 1;
                drop(idle);
                return match self.config.connect(postgres::NoTls) {
                    Ok(client) => Ok(PgConn {
                        client,
                        statements: HashMap::new(),
                    }),
                    Err(e) => {
                        self.idle.lock().unwrap_or_else(|e| e.into_inner()).1 -= 1;
                        self.freed.notify_one();
                        Err(e.into())
                    }
                };
            }
            idle = self.freed.wait(idle).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn give_back(&self, conn: PgConn) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if conn.client.is_closed() {
            idle.1 -= 1;
        } else {
            idle.0.push(conn);
        }
        self.freed.notify_one();
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // A `postgres::Client` runs a tokio runtime of its own, which must not be dropped on
        // an async worker: the last reference to a server's store may go there.
        let idle = std::mem::take(&mut self.idle.get_mut().unwrap_or_else(|e| e.into_inner()).0);
        if !idle.is_empty() {
            std::thread::spawn(move || drop(idle));
        }
    }
}

#[derive(Debug)]
enum Engine {
    Sqlite(Mutex<rusqlite::Connection>),
    Postgres(Box<Pool>),
}

/// The database behind a server.
#[derive(Debug)]
pub struct Db {
    engine: Engine,
}

/// Where a server keeps its state.
#[derive(Debug, Clone, PartialEq)]
pub enum Database {
    /// A SQLite file: one server, or several on one machine.
    Sqlite(std::path::PathBuf),
    /// A PostgreSQL URL: any number of servers.
    Postgres(String),
}

impl Database {
    /// `--database URL`: a `postgres://` or `postgresql://` URL.
    pub fn parse(url: &str) -> Result<Database, DbError> {
        let refused = || DbError::Url {
            url: hide_password(url),
        };
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            url.parse::<postgres::Config>().map_err(|_| refused())?;
            Ok(Database::Postgres(url.to_string()))
        } else {
            Err(refused())
        }
    }

    /// For messages: the file, or the URL without its password.
    pub fn describe(&self) -> String {
        match self {
            Database::Sqlite(path) => path.display().to_string(),
            Database::Postgres(url) => hide_password(url),
        }
    }
}

/// What a store call does. SQLite takes its write lock at the start of a call that writes, so
/// a read-then-write never finds its read changed by another server. PostgreSQL runs reads
/// and single statements without BEGIN and COMMIT (two round trips fewer each: most of a
/// poll's calls), and a write in a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Read,
    /// One statement that writes (each statement commits by itself on PostgreSQL).
    Statement,
    Write,
}

impl Db {
    /// Opens (or makes) a database.
    pub fn open(database: &Database) -> Result<Db, DbError> {
        let engine = match database {
            Database::Sqlite(path) => Engine::Sqlite(Mutex::new(open_sqlite(path)?)),
            Database::Postgres(url) => {
                let config: postgres::Config = url.parse().map_err(|_| DbError::Url {
                    url: hide_password(url),
                })?;
                let pool = Pool {
                    config,
                    idle: Mutex::new((Vec::new(), 0)),
                    freed: Condvar::new(),
                };
                // Connect now, so a wrong URL fails at start, not at the first request.
                let first = pool.take()?;
                pool.give_back(first);
                Engine::Postgres(Box::new(pool))
            }
        };
        Ok(Db { engine })
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.engine, Engine::Postgres(_))
    }

    /// Runs `work`, which only reads (on PostgreSQL each statement sees what was committed
    /// when it began).
    pub fn read<T, E: From<DbError>>(
        &self,
        work: impl FnOnce(&mut Tx) -> Result<T, E>,
    ) -> Result<T, E> {
        self.run(Mode::Read, work)
    }

    /// Runs `work`, a single statement that writes: atomic by itself, so on PostgreSQL it
    /// needs no transaction around it.
    pub fn statement<T, E: From<DbError>>(
        &self,
        work: impl FnOnce(&mut Tx) -> Result<T, E>,
    ) -> Result<T, E> {
        self.run(Mode::Statement, work)
    }

    /// Runs `work` in a transaction that writes, committed when `work` returns `Ok` (an `Err`
    /// rolls everything back).
    pub fn write<T, E: From<DbError>>(
        &self,
        work: impl FnOnce(&mut Tx) -> Result<T, E>,
    ) -> Result<T, E> {
        self.run(Mode::Write, work)
    }

    fn run<T, E: From<DbError>>(
        &self,
        mode: Mode,
        work: impl FnOnce(&mut Tx) -> Result<T, E>,
    ) -> Result<T, E> {
        match &self.engine {
            Engine::Sqlite(db) => {
                let mut db = db.lock().unwrap_or_else(|e| e.into_inner());
                let behavior = match mode {
                    Mode::Read => rusqlite::TransactionBehavior::Deferred,
                    Mode::Statement | Mode::Write => rusqlite::TransactionBehavior::Immediate,
                };
                let tx = db
                    .transaction_with_behavior(behavior)
                    .map_err(DbError::from)?;
                let mut tx = Tx::Sqlite(tx);
                let done = work(&mut tx)?;
                let Tx::Sqlite(tx) = tx else { unreachable!() };
                tx.commit().map_err(DbError::from)?;
                Ok(done)
            }
            Engine::Postgres(pool) => {
                let mut conn = pool.take()?;
                let result = (|| {
                    let PgConn { client, statements } = &mut conn;
                    if mode != Mode::Write {
                        return work(&mut Tx::Postgres {
                            on: On::Client(client),
                            statements,
                        });
                    }
                    let tx = client.transaction().map_err(DbError::from)?;
                    let mut tx = Tx::Postgres {
                        on: On::Transaction(tx),
                        statements,
                    };
                    let done = work(&mut tx)?;
                    if let Tx::Postgres {
                        on: On::Transaction(tx),
                        ..
                    } = tx
                    {
                        tx.commit().map_err(DbError::from)?;
                    }
                    Ok(done)
                })();
                pool.give_back(conn);
                result
            }
        }
    }

    /// Calls `wake(target)` whenever a server on this database sends [`Tx::notify`], for as
    /// long as `target` lives; PostgreSQL only (with SQLite nothing is heard: servers on one
    /// file look again on their own, every second). Listens on a thread and a connection of
    /// its own, connecting again after a failure.
    pub fn listen<W: Send + Sync + 'static>(&self, target: std::sync::Weak<W>, wake: fn(&W)) {
        let Engine::Postgres(pool) = &self.engine else {
            return;
        };
        let config = pool.config.clone();
        let listening = move || -> Result<(), String> {
            let mut client = config.connect(postgres::NoTls).map_err(|e| e.to_string())?;
            client
                .batch_execute(&format!("LISTEN {CHANNEL}"))
                .map_err(|e| e.to_string())?;
            loop {
                let Some(alive) = target.upgrade() else {
                    return Ok(());
                };
                // Also what changed while this was not listening.
                wake(&alive);
                drop(alive);
                // A note, or a second without one (to see whether `target` is gone).
                loop {
                    let mut notes = client.notifications();
                    let heard = notes
                        .timeout_iter(Duration::from_secs(1))
                        .next()
                        .map_err(|e| e.to_string())?
                        .is_some();
                    if heard {
                        // One wake for all the notes already here.
                        while notes.iter().next().map_err(|e| e.to_string())?.is_some() {}
                        break;
                    }
                    drop(notes);
                    if client.is_closed() {
                        return Err("the connection closed".into());
                    }
                    if target.strong_count() == 0 {
                        return Ok(());
                    }
                }
            }
        };
        std::thread::Builder::new()
            .name("fleet-listen".into())
            .spawn(move || {
                while let Err(e) = listening() {
                    tracing::warn!("listening for other servers' changes: {e}; again in 1 s");
                    std::thread::sleep(Duration::from_secs(1));
                }
            })
            .expect("a thread for LISTEN");
    }
}

fn open_sqlite(path: &Path) -> Result<rusqlite::Connection, DbError> {
    let db = rusqlite::Connection::open(path)?;
    // First: servers opening one new file at once wait for each other's switch to WAL.
    db.busy_timeout(Duration::from_secs(5))?;
    // WAL: readers never wait for the writer; NORMAL: no fsync per commit (WAL keeps the
    // database consistent across a crash, the last commits may be lost).
    db.pragma_update(None, "journal_mode", "WAL")?;
    db.pragma_update(None, "synchronous", "NORMAL")?;
    // Every statement the store has, prepared once (the default keeps 16).
    db.set_prepared_statement_cache_capacity(128);
    Ok(db)
}

/// A store call's connection: a transaction, or on PostgreSQL one whose statements commit
/// each by itself ([`Db::read`], [`Db::statement`]).
pub enum Tx<'a> {
    Sqlite(rusqlite::Transaction<'a>),
    Postgres {
        on: On<'a>,
        statements: &'a mut HashMap<String, postgres::Statement>,
    },
}

/// Where PostgreSQL statements run.
pub enum On<'a> {
    Transaction(postgres::Transaction<'a>),
    Client(&'a mut postgres::Client),
}

impl std::fmt::Debug for On<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            On::Transaction(_) => "On::Transaction",
            On::Client(_) => "On::Client",
        })
    }
}

impl On<'_> {
    fn prepare(&mut self, sql: &str) -> Result<postgres::Statement, postgres::Error> {
        match self {
            On::Transaction(t) => t.prepare(sql),
            On::Client(c) => c.prepare(sql),
        }
    }

    fn execute(
        &mut self,
        s: &postgres::Statement,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, postgres::Error> {
        match self {
            On::Transaction(t) => t.execute(s, params),
            On::Client(c) => c.execute(s, params),
        }
    }

    fn query(
        &mut self,
        s: &postgres::Statement,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<postgres::Row>, postgres::Error> {
        match self {
            On::Transaction(t) => t.query(s, params),
            On::Client(c) => c.query(s, params),
        }
    }

    fn batch_execute(&mut self, sql: &str) -> Result<(), postgres::Error> {
        match self {
            On::Transaction(t) => t.batch_execute(sql),
            On::Client(c) => c.batch_execute(sql),
        }
    }
}

impl std::fmt::Debug for Tx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Tx::Sqlite(_) => "Tx::Sqlite",
            Tx::Postgres { .. } => "Tx::Postgres",
        })
    }
}

impl Tx<'_> {
    fn prepared(&mut self, sql: &str) -> Result<postgres::Statement, DbError> {
        let Tx::Postgres { on, statements } = self else {
            unreachable!("PostgreSQL only")
        };
        if let Some(s) = statements.get(sql) {
            return Ok(s.clone());
        }
        let s = on.prepare(sql)?;
        statements.insert(sql.to_string(), s.clone());
        Ok(s)
    }

    /// Runs a statement; the rows it changed.
    pub fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        match self {
            Tx::Sqlite(tx) => {
                let mut s = tx.prepare_cached(&sqlite_sql(sql))?;
                let n = s.execute(rusqlite::params_from_iter(params.iter().map(sqlite_value)))?;
                Ok(n as u64)
            }
            Tx::Postgres { .. } => {
                let s = self.prepared(sql)?;
                let Tx::Postgres { on, .. } = self else {
                    unreachable!()
                };
                Ok(on.execute(&s, &postgres_params(params))?)
            }
        }
    }

    /// Runs a query; its rows.
    pub fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, DbError> {
        match self {
            Tx::Sqlite(tx) => {
                let mut s = tx.prepare_cached(&sqlite_sql(sql))?;
                let columns = s.column_count();
                let rows = s
                    .query_map(
                        rusqlite::params_from_iter(params.iter().map(sqlite_value)),
                        |r| Row::from_sqlite(r, columns),
                    )?
                    .collect::<rusqlite::Result<Vec<Row>>>()?;
                Ok(rows)
            }
            Tx::Postgres { .. } => {
                let s = self.prepared(sql)?;
                let Tx::Postgres { on, .. } = self else {
                    unreachable!()
                };
                on.query(&s, &postgres_params(params))?
                    .iter()
                    .map(Row::from_postgres)
                    .collect()
            }
        }
    }

    /// The first row of a query, if any.
    pub fn query_opt(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>, DbError> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// The first row of a query that always has one (a count).
    pub fn query_one(&mut self, sql: &str, params: &[Value]) -> Result<Row, DbError> {
        self.query_opt(sql, params)?.ok_or(DbError::Column {
            index: 0,
            wanted: "a row",
            found: "no row",
        })
    }

    /// Runs several statements without parameters (schema changes).
    pub fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        match self {
            Tx::Sqlite(tx) => Ok(tx.execute_batch(sql)?),
            Tx::Postgres { on, .. } => Ok(on.batch_execute(sql)?),
        }
    }

    /// Holds `key` until this transaction ends: transactions of every server that lock the
    /// same key run one after another. With SQLite a write transaction holds the database's
    /// one write lock already.
    pub fn lock(&mut self, key: &str) -> Result<(), DbError> {
        if let Tx::Postgres { on, .. } = self {
            debug_assert!(
                matches!(on, On::Transaction(_)),
                "a lock outside a transaction ends at once: lock in Db::write"
            );
            self.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                params![key],
            )
            .map(drop)?;
        }
        Ok(())
    }

    /// Wakes every server's waiting polls once this transaction commits (PostgreSQL: a NOTIFY
    /// inside it; none if it rolls back).
    pub fn notify(&mut self) -> Result<(), DbError> {
        if let Tx::Postgres { .. } = self {
            self.execute(&format!("SELECT pg_notify('{CHANNEL}', '')"), &[])
                .map(drop)?;
        }
        Ok(())
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Tx::Postgres { .. })
    }

    /// `sql`, schema text written for SQLite, in this engine's column types.
    pub fn ddl<'a>(&self, sql: &'a str) -> Cow<'a, str> {
        match self {
            Tx::Sqlite(_) => Cow::Borrowed(sql),
            Tx::Postgres { .. } => Cow::Owned(
                sql.replace(
                    "INTEGER PRIMARY KEY AUTOINCREMENT",
                    "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
                )
                .replace("INTEGER", "BIGINT")
                .replace("REAL", "DOUBLE PRECISION"),
            ),
        }
    }
}

fn sqlite_value(v: &Value) -> rusqlite::types::Value {
    match v {
        Value::Null => rusqlite::types::Value::Null,
        Value::Int(i) => rusqlite::types::Value::Integer(*i),
        Value::Real(x) => rusqlite::types::Value::Real(*x),
        Value::Text(s) => rusqlite::types::Value::Text(s.clone()),
    }
}

fn postgres_params(params: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    params.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_gets_numbered_parameters_outside_quoted_text() {
        assert_eq!(
            sqlite_sql("SELECT $2 - $1, '$1' FROM t WHERE a = $10"),
            "SELECT ?2 - ?1, '$1' FROM t WHERE a = ?10"
        );
        assert!(matches!(sqlite_sql("SELECT 1"), Cow::Borrowed(_)));
    }

    #[test]
    fn parameters_bind_by_number_in_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&Database::Sqlite(dir.path().join("t.db"))).unwrap();
        let row = db
            .read(|t| t.query_one("SELECT $2 - $1, $1 IS NULL", params![3i64, 10i64]))
            .unwrap();
        assert_eq!(row.int(0).unwrap(), 7);
        assert_eq!(row.int(1).unwrap(), 0);
        assert!(row.text(0).unwrap_err().to_string().contains("not text"));
    }

    #[test]
    fn a_failed_transaction_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&Database::Sqlite(dir.path().join("t.db"))).unwrap();
        db.write(|t| t.batch("CREATE TABLE t (a INTEGER)")).unwrap();
        let failed: Result<(), DbError> = db.write(|t| {
            t.execute("INSERT INTO t VALUES ($1)", params![1i64])?;
            Err(DbError::Url { url: "x".into() })
        });
        assert!(failed.is_err());
        let n = db
            .read(|t| t.query_one("SELECT COUNT(*) FROM t", &[]))
            .unwrap()
            .int(0)
            .unwrap();
        assert_eq!(n, 0);
    }

    #[test]
    fn only_postgres_urls_are_databases_and_passwords_are_not_shown() {
        assert!(Database::parse("mysql://x").is_err());
        let refused = Database::parse("postgres://fleet:secret@db:notaport/fleet")
            .unwrap_err()
            .to_string();
        assert!(!refused.contains("secret"), "{refused}");
        assert!(refused.contains("help:"), "{refused}");
        assert!(Database::parse("/tmp/fleet.db").is_err());
        let db = Database::parse("postgres://fleet:secret@127.0.0.1:5432/fleet").unwrap();
        let shown = db.describe();
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("@127.0.0.1:5432/fleet"), "{shown}");
    }
}
