//! `compose fleet serve`: the HTTP API (axum), the update repository behind it, FleetLock,
//! and the web console. State lives in SQLite under the state folder; TLS (rustls) is
//! required for any address that is not loopback.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{FromRequest, Path as UrlPath, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use compose_update::fleet::{
    Action, Enroll, Enrolled, ExecDone, FLEETLOCK_HEADER, FleetLockError, FleetLockRequest,
    Pending, Report,
};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::access::{self, Caller, DeviceCaller, need};
use crate::auth::{self, Role};
use crate::db::Database;
use crate::lock::{Etcd, LockError};
use crate::rollout;
use crate::schedule::Schedule;
use crate::store::{
    Asked, Device, DeviceCert, EnrollRefused, Group, RolloutState, Store, StoreError,
};

/// How the server is reached.
#[derive(Debug, Clone)]
pub enum Tls {
    /// Plain HTTP: only on a loopback address.
    None,
    /// PEM certificate chain and private key.
    Files { cert: PathBuf, key: PathBuf },
    /// A self-signed certificate made once under the state folder (`tls/cert.pem`).
    SelfSigned,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Folder of the SQLite database (`fleet.db`, unless `database` names another), the
    /// first admin token and TLS files.
    pub state: PathBuf,
    /// A PostgreSQL URL (`postgres://USER@HOST:PORT/DATABASE`) that servers share as
    /// replicas; SQLite in `state` when `None`.
    pub database: Option<String>,
    pub listen: SocketAddr,
    /// The update repository (`compose publish` output), served under `/repo`.
    pub repo: Option<PathBuf>,
    /// etcd's client URLs (comma-separated members of a cluster), for FleetLock.
    pub etcd: Option<String>,
    pub tls: Tls,
    /// Seconds a reboot slot stays taken when its holder never releases it.
    pub lock_ttl: u64,
    /// How long a device certificate is valid; devices renew theirs in the last third.
    pub device_cert_lifetime: Duration,
}

/// A device certificate's lifetime unless told otherwise: a year.
pub const DEVICE_CERT_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot use state folder {path}: {source}\nhelp: give a writable folder with --state")]
    State {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cannot listen on {addr}: {source}\nhelp: choose another address with --listen 127.0.0.1:PORT"
    )]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(
        "refusing plain HTTP on {addr}: it is not a loopback address\nhelp: give --tls-cert FILE --tls-key FILE, or --self-signed, or listen on 127.0.0.1"
    )]
    PlainOffLoopback { addr: SocketAddr },
    #[error("TLS: {0}\nhelp: give a PEM certificate chain and its PEM private key")]
    Tls(String),
    #[error(
        "the update repository {path} is not a folder\nhelp: give the folder `compose publish` wrote with --repo"
    )]
    Repo { path: PathBuf },
}

/// Everything a request handler needs.
#[derive(Debug)]
pub struct Fleet {
    pub store: Store,
    etcd: Option<Etcd>,
    lock_ttl: u64,
    /// Woken when something a waiting poll might want changed (a rollout, a command).
    changed: Notify,
    /// One acquisition at a time per group from this server: concurrent ones would each
    /// grant a lease and race the same compare-and-swap, all but one failing and retrying.
    /// The transaction still guards against other servers sharing the etcd.
    group_gates: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Turns at the store for handlers ([`Fleet::db`]).
    db_turns: tokio::sync::Semaphore,
    /// Issues each accepted device its certificate (kept in the database: one for every
    /// server sharing it; its certificate in `STATE/tls/device-ca.pem`).
    pub device_ca: crate::tls::Issuer,
    device_cert_lifetime: Duration,
}

/// How long a held request waits for a wake before it looks at the store again on its own:
/// servers sharing a SQLite file hear nothing of each other's changes, and time moves waves.
const LOOK_AGAIN: Duration = Duration::from_secs(1);

/// The same for an admin waiting for a command's result on PostgreSQL: only its end wakes
/// it, and every server sharing the database hears of that through NOTIFY, so looking again
/// is only a fallback (for a note lost while the listening connection was down).
const LOOK_AGAIN_NOTIFIED: Duration = Duration::from_secs(5);

impl Fleet {
    fn gate(&self, group: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.group_gates
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(group.to_string())
            .or_default()
            .clone()
    }
}

/// A started server.
#[derive(Debug)]
pub struct Running {
    pub addr: SocketAddr,
    /// `https://` or `http://` and the address.
    pub url: String,
    /// The admin token made at first start (`None` when the database had tokens).
    pub first_admin_token: Option<String>,
    /// The certificate clients must trust, when self-signed.
    pub certificate: Option<PathBuf>,
    pub fleet: Arc<Fleet>,
    handle: axum_server::Handle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Stops accepting and waits for the server to end.
    pub async fn stop(self) {
        self.handle.shutdown();
        let _ = self.task.await;
    }

    /// Runs until the task ends (it does not, unless the listener fails).
    pub async fn wait(self) -> std::io::Result<()> {
        self.task.await.unwrap_or(Ok(()))
    }
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Connections a listening socket queues before the server accepts them. The default of Rust's
/// standard library, 128, overflows when thousands of devices reconnect at once: the kernel
/// then drops their handshakes and they retry after 1, 3, 7 ... seconds. Linux caps it at
/// `net.core.somaxconn` (4096 on current kernels).
const BACKLOG: i32 = 4096;

/// A non-blocking listening socket on `addr` with a [`BACKLOG`] queue.
pub(crate) fn listen(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Opens the state, binds `config.listen` and starts answering.
pub async fn start(config: Config) -> Result<Running, ServeError> {
    raise_fd_limit();
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Refused before anything is written.
    if matches!(config.tls, Tls::None) && !config.listen.ip().is_loopback() {
        return Err(ServeError::PlainOffLoopback {
            addr: config.listen,
        });
    }
    // The database holds the device CA's key, and the first admin token lies beside it: the
    // state folder is its owner's alone.
    std::fs::create_dir_all(&config.state)
        .and_then(|()| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&config.state, std::fs::Permissions::from_mode(0o700))
        })
        .map_err(|source| ServeError::State {
            path: config.state.clone(),
            source,
        })?;
    if let Some(repo) = &config.repo
        && !repo.is_dir()
    {
        return Err(ServeError::Repo { path: repo.clone() });
    }
    let database = match &config.database {
        Some(url) => Database::parse(url).map_err(StoreError::from)?,
        None => Database::Sqlite(config.state.join("fleet.db")),
    };
    // Off the async workers: PostgreSQL's client blocks (and runs a runtime of its own).
    let state = config.state.clone();
    let (store, first_admin_token, device_ca) =
        tokio::task::spawn_blocking(move || -> Result<_, ServeError> {
            let store = Store::connect(&database)?;
            // Several servers may start on one empty database at once: one of them adds
            // the token.
            let token = auth::new_secret(auth::ADMIN_PREFIX);
            let first_admin_token = if store.add_first_admin(&auth::hash(&token), now())? {
                write_secret(&state.join("admin-token"), &token)?;
                Some(token)
            } else {
                None
            };
            let device_ca = device_ca(&store, &state, &database)?;
            Ok((store, first_admin_token, device_ca))
        })
        .await
        // Only a panic ends that task otherwise: it goes on as one.
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
    let fleet = Arc::new(Fleet {
        device_ca,
        store,
        etcd: config.etcd.as_deref().map(Etcd::new),
        lock_ttl: config.lock_ttl,
        device_cert_lifetime: config.device_cert_lifetime,
        changed: Notify::new(),
        group_gates: Default::default(),
        db_turns: tokio::sync::Semaphore::new(DB_TURNS),
    });
    // Changes other servers on a shared database make wake this one's polls too.
    fleet.store.listen(Arc::downgrade(&fleet), |f: &Fleet| {
        f.changed.notify_waiters()
    });
    let app = router(fleet.clone(), config.repo.as_deref());
    let listener = listen(config.listen).map_err(|source| ServeError::Listen {
        addr: config.listen,
        source,
    })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Listen {
        addr: config.listen,
        source,
    })?;
    let handle = axum_server::Handle::new();
    let service = app.into_make_service();
    let (task, url, certificate) = match &config.tls {
        Tls::None => {
            let server = axum_server::from_tcp(listener).handle(handle.clone());
            (
                tokio::spawn(server.serve(service)),
                format!("http://{addr}"),
                None,
            )
        }
        tls => {
            let (cert, key) = match tls {
                Tls::Files { cert, key } => (cert.clone(), key.clone()),
                _ => self_signed(&config.state, addr)?,
            };
            let rustls = crate::tls::server_config(&cert, &key, Some(&fleet.device_ca))
                .map_err(|e| ServeError::Tls(e.to_string()))?;
            let server = axum_server::from_tcp(listener)
                .acceptor(crate::tls::PeerAcceptor::new(rustls))
                .handle(handle.clone());
            let self_signed = matches!(tls, Tls::SelfSigned).then_some(cert);
            (
                tokio::spawn(server.serve(service)),
                format!("https://{addr}"),
                self_signed,
            )
        }
    };
    Ok(Running {
        addr,
        url,
        first_admin_token,
        certificate,
        fleet,
        handle,
        task,
    })
}

/// The device CA every server on this database shares: made by the first to start (kept in
/// the database), its certificate also in `STATE/tls/device-ca.pem` for admins.
fn device_ca(
    store: &Store,
    state: &Path,
    database: &Database,
) -> Result<crate::tls::Issuer, ServeError> {
    let tls = |e: String| ServeError::Tls(e);
    let made = crate::tls::make_ca("compose fleet device CA").map_err(|e| tls(e.to_string()))?;
    let made = serde_json::to_string(&made).map_err(|e| tls(e.to_string()))?;
    let kept: crate::tls::MadeCa = serde_json::from_str(&store.setting_or("device-ca", &made)?)
        .map_err(|e| tls(format!("the device CA in the database: {e}")))?;
    let dir = state.join("tls");
    let error = |source| ServeError::State {
        path: dir.clone(),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(error)?;
    std::fs::write(dir.join("device-ca.pem"), &kept.cert_pem).map_err(error)?;
    crate::tls::Issuer::from_pem(
        &kept.cert_pem,
        &kept.key_pem,
        Path::new(&database.describe()),
    )
    .map_err(|e| tls(e.to_string()))
}

fn write_secret(path: &Path, secret: &str) -> Result<(), ServeError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let error = |source| ServeError::State {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(error)?;
    file.write_all(format!("{secret}\n").as_bytes())
        .map_err(error)
}

/// The self-signed certificate under `state/tls/`, made on first use for localhost, the
/// loopback addresses and the address listened on.
fn self_signed(state: &Path, addr: SocketAddr) -> Result<(PathBuf, PathBuf), ServeError> {
    let dir = state.join("tls");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    if cert.is_file() && key.is_file() {
        return Ok((cert, key));
    }
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if !addr.ip().is_unspecified() && !addr.ip().is_loopback() {
        names.push(addr.ip().to_string());
    }
    let made =
        rcgen::generate_simple_self_signed(names).map_err(|e| ServeError::Tls(e.to_string()))?;
    std::fs::create_dir_all(&dir).map_err(|source| ServeError::State {
        path: dir.clone(),
        source,
    })?;
    write_secret(&key, &made.key_pair.serialize_pem())?;
    std::fs::write(&cert, made.cert.pem()).map_err(|source| ServeError::State {
        path: cert.clone(),
        source,
    })?;
    Ok((cert, key))
}

fn router(fleet: Arc<Fleet>, repo: Option<&Path>) -> Router {
    let mut app = Router::new()
        .route("/", get(console))
        .route("/api/v1/enroll", post(enroll))
        .route("/api/v1/device/poll", get(poll))
        .route("/api/v1/device/report", post(report))
        .route("/api/v1/device/renew", post(renew))
        .route("/api/v1/device/exec/{id}", post(exec_done))
        .route("/v1/pre-reboot", post(pre_reboot))
        .route("/v1/steady-state", post(steady_state))
        .route("/fleetlock/{token}/v1/pre-reboot", post(pre_reboot_token))
        .route(
            "/fleetlock/{token}/v1/steady-state",
            post(steady_state_token),
        )
        .route("/api/v1/whoami", get(whoami))
        .route("/api/v1/devices", get(devices))
        .route(
            "/api/v1/devices/{id}",
            get(device_show).delete(device_remove),
        )
        .route("/api/v1/devices/{id}/group", put(device_group))
        .route("/api/v1/devices/{id}/accept", post(device_accept))
        .route("/api/v1/devices/{id}/reject", post(device_reject))
        .route("/api/v1/devices/{id}/exec", post(exec_start))
        .route("/api/v1/execs/{id}", get(exec_show))
        .route("/api/v1/groups", get(groups))
        .route("/api/v1/groups/{name}", put(group_set))
        .route("/api/v1/rollouts", get(rollouts).post(rollout_create))
        .route("/api/v1/rollouts/{id}", get(rollout_show))
        .route("/api/v1/rollouts/{id}/{verb}", post(rollout_act))
        .route("/api/v1/locks", get(locks))
        .route("/api/v1/tokens", post(token_create))
        .route("/api/v1/enroll-tokens", post(enroll_token_create))
        .with_state(fleet);
    if let Some(repo) = repo {
        // The repository is public, as Flatcar's is: every file in it is signed or named by
        // its digest, and the agent checks both against the key built into its image.
        app = app.nest_service(
            rollout::REPO_PATH,
            tower_http::services::ServeDir::new(repo),
        );
    }
    app
}

/// An error answer: a status and a message that says what to do.
#[derive(Debug)]
pub struct ApiError(pub StatusCode, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"error": self.1}))).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

pub fn refuse(status: StatusCode, message: impl Into<String>) -> ApiError {
    ApiError(status, message.into())
}

type Api<T> = Result<Json<T>, ApiError>;

/// A JSON request body. axum's `Json` answers a body it cannot take (too large, not JSON,
/// wrong fields) in plain text; this answers like every other refusal, `{"error": ...}`
/// with the same status (413, 415, 400, 422).
#[derive(Debug)]
pub struct Body<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(refused) => Err(ApiError(refused.status(), refused.body_text())),
        }
    }
}

/// Store calls running at once in the blocking pool: as many as a server has connections to
/// PostgreSQL (with SQLite they share one connection, and more would only wait for its lock
/// on threads of their own).
const DB_TURNS: usize = crate::db::POSTGRES_CONNECTIONS;

impl Fleet {
    /// Runs `work` (store calls: SQLite waits for its lock and the disk) in tokio's blocking
    /// pool, so the async workers keep answering while it waits.
    pub async fn db<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&Fleet) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let _turn = self.db_turns.acquire().await.map_err(|e| {
            refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("shutting down: {e}"),
            )
        })?;
        let f = self.clone();
        tokio::task::spawn_blocking(move || work(&f))
            .await
            .unwrap_or_else(|e| {
                Err(refuse(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("a store call failed: {e}"),
                ))
            })
    }
}

async fn console() -> Html<&'static str> {
    Html(include_str!("console.html"))
}

/// `POST /api/v1/enroll`. With a certificate signing request (what compose-update sends): a
/// valid token accepts the device at once and its certificate is issued; without a token it
/// waits as pending (202) until an admin accepts it; asking again with the same key gets the
/// certificate once accepted. Without a request (loopback servers without TLS only, as the
/// simulated agents do): a bearer credential for the token.
async fn enroll(
    State(f): State<Arc<Fleet>>,
    peer: Option<Extension<crate::tls::Peer>>,
    headers: HeaderMap,
    Body(e): Body<Enroll>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if e.id.is_empty() || e.id.len() > 128 || e.id.chars().any(|c| c.is_control() || c == '/') {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "a device id is 1 to 128 characters, no `/` and no control characters",
        ));
    }
    if e.device.len() > 128 || e.version.len() > 128 || e.token.len() > 256 {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "a device type and version are at most 128 characters, a token 256",
        ));
    }
    let over_tls = peer.is_some();
    // A credential is shown only where it can be used: to a device without TLS.
    let credential = auth::new_secret(auth::DEVICE_PREFIX);
    let hashed = auth::hash(&credential);
    let shown = if over_tls { String::new() } else { credential };
    let Some(csr) = e.csr.clone() else {
        if over_tls {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "over TLS a device enrolls with a certificate signing request for its own key (`csr`; compose-update sends one)",
            ));
        }
        let enrolled = f
            .db(move |f| {
                Ok(f.store.enroll(
                    &auth::hash(&e.token),
                    &e.id,
                    &e.device,
                    &e.version,
                    &hashed,
                    auth::new_seed(),
                    None,
                    now(),
                )?)
            })
            .await?;
        return enrolled_answer(enrolled, shown, None);
    };
    let request = crate::tls::DeviceRequest::parse(&csr)
        .map_err(|e| refuse(StatusCode::BAD_REQUEST, e.to_string()))?;
    // A device enrolled before devices had keys: its credential vouches for its new key once.
    if let Some(credential) = access::bearer(&headers) {
        let (hash, id) = (auth::hash(credential), e.id.clone());
        let cert = device_cert(&f, &request, &e.id)?;
        let pem = cert.pem.clone();
        let upgraded = f
            .db(move |f| {
                let device = f.store.device_by_credential(&hash)?;
                match device {
                    Some(d) if d.id == id => {
                        Ok(f.store.set_device_cert(&id, &cert)?.then_some(d.group))
                    }
                    _ => Err(refuse(
                        StatusCode::UNAUTHORIZED,
                        "unknown device credential: the device was removed or never enrolled",
                    )),
                }
            })
            .await?;
        if let Some(group) = upgraded {
            return Ok((
                StatusCode::OK,
                Json(json!(Enrolled {
                    credential: String::new(),
                    group,
                    certificate: Some(pem),
                })),
            ));
        }
    }
    if let Some(answer) = certificate_again(&f, &e.id, &request.key_sha256, over_tls).await? {
        return Ok(answer);
    }
    if e.token.is_empty() {
        let id = e.id.clone();
        let key = request.key_sha256.clone();
        let asked = f
            .db(move |f| Ok(f.store.ask(&id, &e.device, &e.version, &csr, &key, now())?))
            .await?;
        return match asked {
            // Accepted between the look above and the ask.
            Asked::Accepted => certificate_again(&f, &e.id, &request.key_sha256, over_tls)
                .await?
                .ok_or_else(|| no_device(&e.id)),
            Asked::Pending => Ok((
                StatusCode::ACCEPTED,
                Json(json!(Pending {
                    pending: true,
                    id: e.id,
                })),
            )),
            Asked::Rejected => Err(refuse(
                StatusCode::FORBIDDEN,
                format!("device `{}` was rejected by an admin", e.id),
            )),
            Asked::Full => Err(refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "{} devices wait to be accepted already; ask again later\nhelp: an admin accepts or rejects them (`compose fleet devices`)",
                    crate::store::MAX_PENDING
                ),
            )),
            Asked::OtherKey => Err(refuse(
                StatusCode::CONFLICT,
                format!(
                    "another key already asks to join, or is enrolled, as `{}`\nhelp: an admin removes that device or request first (`compose fleet remove {}`)",
                    e.id, e.id
                ),
            )),
        };
    }
    let cert = device_cert(&f, &request, &e.id)?;
    let pem = cert.pem.clone();
    let enrolled = f
        .db(move |f| {
            Ok(f.store.enroll(
                &auth::hash(&e.token),
                &e.id,
                &e.device,
                &e.version,
                &hashed,
                auth::new_seed(),
                Some(&cert),
                now(),
            )?)
        })
        .await?;
    enrolled_answer(enrolled, shown, Some(pem))
}

/// The answer to a device enrolled already that asks again (accepted while it was pending,
/// or it lost the answer): its certificate, to the holder of its key only (409 for another
/// key); without TLS a new bearer credential too, since one is shown only once. `None`: no
/// device with a certificate has this id.
async fn certificate_again(
    f: &Arc<Fleet>,
    id: &str,
    key_sha256: &str,
    over_tls: bool,
) -> Result<Option<(StatusCode, Json<Value>)>, ApiError> {
    let asked = id.to_string();
    let Some((key, cert)) = f.db(move |f| Ok(f.store.device_cert(&asked)?)).await? else {
        return Ok(None);
    };
    if key != key_sha256 {
        return Err(refuse(
            StatusCode::CONFLICT,
            EnrollRefused::AlreadyEnrolled(id.to_string()).to_string(),
        ));
    }
    let credential = if over_tls {
        String::new()
    } else {
        auth::new_secret(auth::DEVICE_PREFIX)
    };
    let (asked, hashed) = (id.to_string(), auth::hash(&credential));
    let renew = !over_tls;
    let device = f
        .db(move |f| {
            if renew {
                f.store.set_credential(&asked, &hashed)?;
            }
            f.store.device(&asked)?.ok_or_else(|| no_device(&asked))
        })
        .await?;
    Ok(Some((
        StatusCode::OK,
        Json(json!(Enrolled {
            credential,
            group: device.group,
            certificate: Some(cert),
        })),
    )))
}

/// The certificate the device CA issues for `request`'s key under `id`, as the store keeps it.
fn device_cert(
    f: &Fleet,
    request: &crate::tls::DeviceRequest,
    id: &str,
) -> Result<DeviceCert, ApiError> {
    let issued = f
        .device_ca
        .issue_device(request, id, now(), f.device_cert_lifetime)
        .map_err(|e| refuse(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(DeviceCert {
        key_sha256: request.key_sha256.clone(),
        pem: issued.pem,
        sha256: issued.sha256,
        expires_at: issued.expires_at,
    })
}

/// Whether a certificate that expires at `expires_at` is in the last third of `lifetime`
/// at `now`, when its device should ask for a new one.
fn due_for_renewal(expires_at: u64, lifetime: Duration, now: u64) -> bool {
    now + lifetime.as_secs() / 3 >= expires_at
}

/// A device asks for a new certificate for its key before the one it shows expires.
async fn renew(
    State(f): State<Arc<Fleet>>,
    DeviceCaller(device): DeviceCaller,
    peer: Option<Extension<crate::tls::Peer>>,
    Body(r): Body<compose_update::fleet::Renew>,
) -> Api<compose_update::fleet::Renewed> {
    let Some(old) = peer.and_then(|Extension(p)| p.cert_sha256) else {
        return Err(refuse(
            StatusCode::CONFLICT,
            "no certificate to renew: a device renews over mutual TLS with the certificate it has",
        ));
    };
    let request = crate::tls::DeviceRequest::parse(&r.csr)
        .map_err(|e| refuse(StatusCode::BAD_REQUEST, e.to_string()))?;
    let id = device.id.clone();
    let key = f
        .db(move |f| Ok(f.store.device_cert(&id)?))
        .await?
        .map(|(key, _)| key);
    if key.as_deref() != Some(request.key_sha256.as_str()) {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "a renewal is for the key the device has: this request is for another key (a new key enrolls again)",
        ));
    }
    let cert = device_cert(&f, &request, &device.id)?;
    let (id, stored) = (device.id.clone(), cert.clone());
    let renewed = f
        .db(move |f| Ok(f.store.renew_device_cert(&id, &old, &stored)?))
        .await?;
    if !renewed {
        return Err(refuse(
            StatusCode::CONFLICT,
            "the certificate shown is no longer this device's (renewed meanwhile, or the device was removed)",
        ));
    }
    Ok(Json(compose_update::fleet::Renewed {
        certificate: cert.pem,
        expires_at: cert.expires_at,
    }))
}

fn enrolled_answer(
    enrolled: Result<String, EnrollRefused>,
    credential: String,
    certificate: Option<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    match enrolled {
        Ok(group) => Ok((
            StatusCode::OK,
            Json(json!(Enrolled {
                credential,
                group,
                certificate,
            })),
        )),
        Err(refused @ EnrollRefused::BadToken) => {
            Err(refuse(StatusCode::UNAUTHORIZED, refused.to_string()))
        }
        Err(refused) => Err(refuse(StatusCode::CONFLICT, refused.to_string())),
    }
}

/// `POST /api/v1/devices/{id}/accept`: a pending device joins `group`; its certificate is
/// issued for the key it asked with, and handed over when it asks again.
async fn device_accept(
    State(f): State<Arc<Fleet>>,
    _: Caller<need::Admin>,
    UrlPath(id): UrlPath<String>,
    Body(b): Body<AcceptBody>,
) -> Api<Value> {
    check_name("group", &b.group)?;
    let key = b.key.to_ascii_lowercase();
    if key.len() < 8 || !key.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "give the start of the device's key (at least 8 hex digits; `compose fleet devices` and the device's log show it)",
        ));
    }
    let asked = id.clone();
    let csr = f
        .db(move |f| Ok(f.store.pending_request(&asked)?))
        .await?
        .ok_or_else(|| no_pending(&id))?;
    let request = crate::tls::DeviceRequest::parse(&csr)
        .map_err(|e| refuse(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    if !request.key_sha256.starts_with(&key) {
        return Err(refuse(
            StatusCode::CONFLICT,
            format!(
                "device `{id}` asked with key {}…, not {key}: another machine may be asking under its id; reject or remove this request (`compose fleet devices reject {id}`)",
                &request.key_sha256[..16]
            ),
        ));
    }
    let cert = device_cert(&f, &request, &id)?;
    let credential = auth::hash(&auth::new_secret(auth::DEVICE_PREFIX));
    let group = b.group.clone();
    let accepted = id.clone();
    let done = f
        .db(move |f| {
            Ok(f.store.accept(
                &accepted,
                &group,
                &credential,
                auth::new_seed(),
                &cert,
                now(),
            )?)
        })
        .await?;
    if !done {
        return Err(no_pending(&id));
    }
    Ok(Json(json!({"accepted": id, "group": b.group})))
}

/// `POST /api/v1/devices/{id}/reject`: a pending device is refused from now on.
async fn device_reject(
    State(f): State<Arc<Fleet>>,
    _: Caller<need::Admin>,
    UrlPath(id): UrlPath<String>,
) -> Api<Value> {
    let rejected = id.clone();
    if !f.db(move |f| Ok(f.store.reject(&rejected)?)).await? {
        return Err(no_pending(&id));
    }
    Ok(Json(json!({"rejected": id})))
}

fn no_pending(id: &str) -> ApiError {
    refuse(
        StatusCode::NOT_FOUND,
        format!(
            "no device `{id}` waits to be accepted; `compose fleet devices` lists those pending"
        ),
    )
}

#[derive(Debug, Deserialize)]
struct PollQuery {
    version: String,
    #[serde(default)]
    wait: u64,
}

/// The longest a poll is held open.
const MAX_WAIT: u64 = 60;

/// How stale a device's "last seen" may get while it keeps polling with the same version.
const SEEN_EVERY: Duration = Duration::from_secs(30);

async fn poll(
    State(f): State<Arc<Fleet>>,
    DeviceCaller(mut device): DeviceCaller,
    Query(q): Query<PollQuery>,
) -> Api<Action> {
    // A device polling again with the version it had, within `SEEN_EVERY` of the last
    // record, is not written down again: most polls then only read.
    let fresh = device.version == q.version
        && now().saturating_sub(device.last_seen) < SEEN_EVERY.as_secs();
    device.version = q.version;
    let device = Arc::new(device);
    if !fresh {
        let seen = device.clone();
        f.db(move |f| Ok(f.store.seen(&seen.id, &seen.version, now())?))
            .await?;
    }
    let deadline = Instant::now() + Duration::from_secs(q.wait.min(MAX_WAIT));
    loop {
        let changed = f.changed.notified();
        let asking = device.clone();
        let action = f
            .db(move |f| {
                if let Some(exec) = f.store.take_exec(&asking.id)? {
                    return Ok(Action::Exec {
                        id: exec.id,
                        argv: exec.argv,
                    });
                }
                if let Some(expires_at) = asking.cert_expires_at
                    && due_for_renewal(expires_at, f.device_cert_lifetime, now())
                {
                    return Ok(Action::Renew { expires_at });
                }
                Ok(rollout::decide(&f.store, &asking, now())?)
            })
            .await?;
        let left = deadline.saturating_duration_since(Instant::now());
        if !matches!(action, Action::Wait { .. }) || left.is_zero() {
            return Ok(Json(action));
        }
        // Held open until something changes (a rollout, a command) or the time is up; a
        // wave that starts meanwhile is seen at the latest a second late.
        let _ = tokio::time::timeout(left.min(LOOK_AGAIN), changed).await;
    }
}

async fn report(
    State(f): State<Arc<Fleet>>,
    DeviceCaller(device): DeviceCaller,
    Body(r): Body<Report>,
) -> Api<Value> {
    match f
        .db(move |f| Ok(rollout::report(&f.store, &device, &r, now())?))
        .await?
    {
        Ok(rollout) => Ok(Json(json!({"rollout": rollout.id, "state": rollout.state}))),
        Err(refused) => Err(refuse(StatusCode::CONFLICT, refused.to_string())),
    }
}

async fn exec_done(
    State(f): State<Arc<Fleet>>,
    DeviceCaller(device): DeviceCaller,
    UrlPath(id): UrlPath<i64>,
    Body(done): Body<ExecDone>,
) -> Api<Value> {
    let finished = f
        .db(move |f| {
            Ok(f.store
                .finish_exec(id, &device.id, done.exit_code, &done.stdout, &done.stderr)?)
        })
        .await?;
    if !finished {
        return Err(refuse(
            StatusCode::NOT_FOUND,
            format!("command {id} was not sent to this device"),
        ));
    }
    f.changed.notify_waiters();
    Ok(Json(json!({"ok": true})))
}

/// FleetLock's error answer.
fn fleetlock_error(status: StatusCode, kind: &str, value: String) -> Response {
    (
        status,
        Json(FleetLockError {
            kind: kind.into(),
            value,
        }),
    )
        .into_response()
}

/// Who asks for a reboot slot: a device by the certificate its TLS connection showed, or the
/// bearer secret of the request (a device credential on a loopback server without TLS, or an
/// operator's token).
#[derive(Debug)]
enum LockCaller {
    Certificate(String),
    Secret(String),
}

/// Who may take or free a reboot slot for `id` in `group`: the device itself, in its own
/// group, or an operator's token; the group must exist (blocking: the store).
fn fleetlock_caller(
    f: &Fleet,
    caller: &LockCaller,
    body: &FleetLockRequest,
) -> Result<(), Response> {
    let denied = |value: String| fleetlock_error(StatusCode::FORBIDDEN, "forbidden", value);
    let (id, group) = (&body.client_params.id, &body.client_params.group);
    let device = match caller {
        LockCaller::Certificate(sha256) => match f.store.device_by_cert(sha256) {
            Ok(Some(device)) => Ok(Some(device)),
            Ok(None) => {
                return Err(fleetlock_error(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "unknown device certificate: the device was removed; it must enroll again"
                        .into(),
                ));
            }
            Err(e) => return Err(ApiError::from(e).into_response()),
        },
        LockCaller::Secret(secret) => f.store.device_by_credential(&auth::hash(secret)),
    };
    match device {
        Ok(Some(device)) if device.id != *id => {
            return Err(denied(format!(
                "device {} cannot take a reboot slot for {id}",
                device.id
            )));
        }
        Ok(Some(device)) if device.group != *group => {
            return Err(denied(format!(
                "device {id} is in group `{}`: it cannot take a reboot slot of group `{group}`",
                device.group
            )));
        }
        Ok(Some(_)) => {}
        _ => {
            let LockCaller::Secret(secret) = caller else {
                unreachable!("a certificate names a device or is refused above")
            };
            if let Err(ApiError(status, message)) = access::role_of(f, secret, Role::Operate) {
                return Err(fleetlock_error(status, "unauthorized", message));
            }
        }
    }
    match f.store.group_exists(group) {
        Ok(true) => Ok(()),
        Ok(false) => Err(fleetlock_error(
            StatusCode::NOT_FOUND,
            "unknown_group",
            format!("there is no group `{group}`: no device is in it and it has no policy"),
        )),
        Err(e) => Err(ApiError::from(e).into_response()),
    }
}

/// FleetLock's names (a node id, a group): what the protocol allows, `^[a-zA-Z0-9.-]+$`.
fn fleetlock_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
}

async fn fleetlock(
    f: Arc<Fleet>,
    peer: Option<Extension<crate::tls::Peer>>,
    headers: HeaderMap,
    token: Option<String>,
    body: Bytes,
    take: bool,
) -> Response {
    // Every refusal is FleetLock's JSON (`kind`, `value`), a body that is not JSON too.
    let body: FleetLockRequest = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return fleetlock_error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("expected {{\"client_params\": {{\"id\": ..., \"group\": ...}}}}: {e}"),
            );
        }
    };
    for (what, name) in [
        ("id", &body.client_params.id),
        ("group", &body.client_params.group),
    ] {
        if !fleetlock_name(name) {
            return fleetlock_error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("client_params.{what} `{name}`: use letters, digits, `.` and `-`"),
            );
        }
    }
    if headers
        .get(FLEETLOCK_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.eq_ignore_ascii_case("true"))
        != Some(true)
    {
        return fleetlock_error(
            StatusCode::BAD_REQUEST,
            "missing_header",
            format!("FleetLock requests carry `{FLEETLOCK_HEADER}: true`"),
        );
    }
    let certificate = peer.and_then(|Extension(p)| p.cert_sha256);
    let secret = token.or(access::bearer(&headers).map(str::to_string));
    let caller = match (certificate, secret) {
        (Some(cert), _) => LockCaller::Certificate(cert),
        (None, Some(secret)) => LockCaller::Secret(secret),
        (None, None) => {
            return fleetlock_error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "show a device certificate (mutual TLS), send an operator's token as `Authorization: Bearer`, or use /fleetlock/TOKEN/ as the base URL".into(),
            );
        }
    };
    let (group, id) = (
        body.client_params.group.clone(),
        body.client_params.id.clone(),
    );
    let asked = group.clone();
    let checked = f
        .db(move |f| {
            Ok(match fleetlock_caller(f, &caller, &body) {
                Ok(()) => Ok(f.store.group(&asked)?.reboot_slots),
                Err(refused) => Err(refused),
            })
        })
        .await;
    let slots = match checked {
        Ok(Ok(slots)) => slots,
        Ok(Err(refused)) => return refused,
        Err(e) => return e.into_response(),
    };
    let Some(etcd) = f.etcd.clone() else {
        return fleetlock_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_etcd",
            "this server coordinates no reboots: start it with --etcd URL".into(),
        );
    };
    let ttl = f.lock_ttl;
    let gate = f.gate(&group);
    let _turn = if take {
        match gate.try_lock_owned() {
            Ok(turn) => Some(turn),
            Err(_) => {
                return fleetlock_error(
                    StatusCode::CONFLICT,
                    "failed_lock",
                    format!("another device of group `{group}` is taking a reboot slot; try again"),
                );
            }
        }
    } else {
        None
    };
    let result = tokio::task::spawn_blocking(move || {
        if take {
            etcd.acquire(&group, &id, slots, ttl, now()).map(|()| true)
        } else {
            etcd.release(&group, &id)
        }
    })
    .await
    .unwrap_or_else(|e| {
        Err(LockError::Etcd {
            url: String::new(),
            message: e.to_string(),
        })
    });
    match result {
        Ok(_) => (StatusCode::OK, Json(json!({}))).into_response(),
        Err(e @ LockError::Full { .. }) => {
            fleetlock_error(StatusCode::CONFLICT, "failed_lock", e.to_string())
        }
        Err(e) => fleetlock_error(StatusCode::BAD_GATEWAY, "etcd_unavailable", e.to_string()),
    }
}

async fn pre_reboot(
    State(f): State<Arc<Fleet>>,
    peer: Option<Extension<crate::tls::Peer>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    fleetlock(f, peer, headers, None, body, true).await
}

async fn steady_state(
    State(f): State<Arc<Fleet>>,
    peer: Option<Extension<crate::tls::Peer>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    fleetlock(f, peer, headers, None, body, false).await
}

async fn pre_reboot_token(
    State(f): State<Arc<Fleet>>,
    peer: Option<Extension<crate::tls::Peer>>,
    UrlPath(token): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    fleetlock(f, peer, headers, Some(token), body, true).await
}

async fn steady_state_token(
    State(f): State<Arc<Fleet>>,
    peer: Option<Extension<crate::tls::Peer>>,
    UrlPath(token): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    fleetlock(f, peer, headers, Some(token), body, false).await
}

async fn whoami(caller: Caller<need::Read>) -> Api<Value> {
    Ok(Json(json!({"role": caller.role})))
}

async fn devices(State(f): State<Arc<Fleet>>, _: Caller<need::Read>) -> Api<Value> {
    let (devices, pending) = f
        .db(|f| Ok((f.store.devices()?, f.store.pending()?)))
        .await?;
    Ok(Json(json!({"devices": devices, "pending": pending})))
}

async fn device_show(
    State(f): State<Arc<Fleet>>,
    _: Caller<need::Read>,
    UrlPath(id): UrlPath<String>,
) -> Api<Device> {
    f.db(move |f| f.store.device(&id)?.ok_or_else(|| no_device(&id)))
        .await
        .map(Json)
}

fn no_device(id: &str) -> ApiError {
    refuse(
        StatusCode::NOT_FOUND,
        format!("no device `{id}`; `compose fleet devices` lists them"),
    )
}

async fn device_remove(
    State(f): State<Arc<Fleet>>,
    _: Caller<need::Admin>,
    UrlPath(id): UrlPath<String>,
) -> Api<Value> {
    f.db(move |f| {
        if !f.store.remove_device(&id)? {
            return Err(no_device(&id));
        }
        Ok(Json(json!({"removed": id})))
    })
    .await
}

#[derive(Debug, Deserialize)]
struct GroupBody {
    group: String,
}

/// `POST /api/v1/devices/{id}/accept`: the group, and the start of the key the admin saw the
/// device report (at least 8 hex digits), so a request made by someone else under the same id
/// is not accepted by mistake.
#[derive(Debug, Deserialize)]
struct AcceptBody {
    group: String,
    key: String,
}

async fn device_group(
    State(f): State<Arc<Fleet>>,
    _: Caller<need::Operate>,
    UrlPath(id): UrlPath<String>,
    Body(b): Body<GroupBody>,
) -> Api<Value> {
    check_name("group", &b.group)?;
    let answer = f
        .db(move |f| {
            if !f.store.set_device_group(&id, &b.group)? {
                return Err(no_device(&id));
            }
            Ok(Json(json!({"device": id, "group": b.group})))
        })
        .await?;
    f.changed.notify_waiters();
    Ok(answer)
}

fn check_name(what: &str, name: &str) -> Result<(), ApiError> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            format!("{what} `{name}`: use 1 to 64 letters, digits, - and _"),
        ));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
struct ExecBody {
    argv: Vec<String>,
}

async fn exec_start(
    State(f): State<Arc<Fleet>>,
    _: Caller<need::Admin>,
    UrlPath(id): UrlPath<String>,
    Body(b): Body<ExecBody>,
) -> Api<Value> {
    if b.argv.is_empty() {
        return Err(refuse(StatusCode::BAD_REQUEST, "no command: give its argv"));
    }
    let exec = f
        .db(move |f| {
            if f.store.device(&id)?.is_none() {
                return Err(no_device(&id));
            }
            Ok(f.store.add_exec(&id, &b.argv, now())?)
        })
        .await?;
    f.changed.notify_waiters();
    Ok(Json(json!({"id": exec})))
}

#[derive(Debug, Deserialize)]
struct WaitQuery {
    #[serde(default)]
    wait: u64,
}

async fn exec_show(
    State(f): State<Arc<Fleet>>,
    _: Caller<need::Admin>,
    UrlPath(id): UrlPath<i64>,
    Query(q): Query<WaitQuery>,
) -> Api<Value> {
    let deadline = Instant::now() + Duration::from_secs(q.wait.min(MAX_WAIT));
    loop {
        let changed = f.changed.notified();
        let exec = f
            .db(move |f| {
                f.store
                    .exec(id)?
                    .ok_or_else(|| refuse(StatusCode::NOT_FOUND, format!("no command {id}")))
            })
            .await?;
        let left = deadline.saturating_duration_since(Instant::now());
        if exec.state == "done" || left.is_zero() {
            return Ok(Json(serde_json::to_value(exec).unwrap_or_default()));
        }
        let fallback = if f.store.is_shared() {
            LOOK_AGAIN_NOTIFIED
        } else {
            LOOK_AGAIN
        };
        let _ = tokio::time::timeout(left.min(fallback), changed).await;
    }
}

async fn groups(State(f): State<Arc<Fleet>>, _: Caller<need::Read>) -> Api<Value> {
    let groups = f.db(|f| Ok(f.store.groups()?)).await?;
    Ok(Json(json!({"groups": groups})))
}

#[derive(Debug, Deserialize)]
struct GroupPolicy {
    max_in_flight: Option<u32>,
    window: Option<String>,
    reboot_slots: Option<u32>,
}

async fn group_set(
    State(f): State<Arc<Fleet>>,
    _: Caller<need::Admin>,
    UrlPath(name): UrlPath<String>,
    Body(p): Body<GroupPolicy>,
) -> Api<Group> {
    check_name("group", &name)?;
    if let Some(w) = &p.window
        && rollout::parse_window(w).is_none()
    {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            format!("maintenance window `{w}`: write HH:MM-HH:MM (UTC), e.g. 02:00-04:00"),
        ));
    }
    if p.reboot_slots == Some(0) || p.max_in_flight == Some(0) {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "reboot slots and max in flight are at least 1 (pause a rollout to stop it)",
        ));
    }
    let group = f
        .db(move |f| {
            let mut group = f.store.group(&name)?;
            if let Some(m) = p.max_in_flight {
                group.max_in_flight = m;
            }
            if let Some(w) = p.window {
                group.window = (!w.is_empty()).then_some(w);
            }
            if let Some(s) = p.reboot_slots {
                group.reboot_slots = s;
            }
            f.store.set_group(&group)?;
            Ok(group)
        })
        .await?;
    f.changed.notify_waiters();
    Ok(Json(group))
}

async fn rollouts(State(f): State<Arc<Fleet>>, _: Caller<need::Read>) -> Api<Value> {
    let all = f
        .db(|f| {
            Ok(f.store
                .rollouts()?
                .into_iter()
                .map(|r| rollout::status(&f.store, r))
                .collect::<Result<Vec<_>, _>>()?)
        })
        .await?;
    Ok(Json(json!({"rollouts": all})))
}

#[derive(Debug, Deserialize)]
struct NewRollout {
    version: String,
    group: Option<String>,
    schedule: Option<String>,
    /// Percent of a wave that may fail before the rollout halts.
    threshold: Option<f64>,
}

async fn rollout_create(
    State(f): State<Arc<Fleet>>,
    _: Caller<need::Operate>,
    Body(n): Body<NewRollout>,
) -> Api<Value> {
    if n.version.is_empty() {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "no version: give the release's version",
        ));
    }
    if let Some(g) = &n.group {
        check_name("group", g)?;
    }
    let schedule = match &n.schedule {
        Some(s) => {
            Schedule::parse(s).map_err(|e| refuse(StatusCode::BAD_REQUEST, e.to_string()))?
        }
        None => Schedule::default(),
    };
    let threshold = n.threshold.unwrap_or(5.0);
    if !(threshold > 0.0 && threshold <= 100.0) {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            format!("threshold {threshold}: give a percentage above 0, at most 100"),
        ));
    }
    let status = f
        .db(move |f| {
            let id =
                f.store
                    .add_rollout(&n.version, n.group.as_deref(), &schedule, threshold, now())?;
            let rollout = f.store.rollout(id)?.expect("just added");
            Ok(rollout::status(&f.store, rollout)?)
        })
        .await?;
    f.changed.notify_waiters();
    Ok(Json(serde_json::to_value(status).unwrap_or_default()))
}

async fn rollout_show(
    State(f): State<Arc<Fleet>>,
    _: Caller<need::Read>,
    UrlPath(id): UrlPath<i64>,
) -> Api<Value> {
    let (status, progress) = f
        .db(move |f| {
            let rollout = f.store.rollout(id)?.ok_or_else(|| no_rollout(id))?;
            Ok(rollout::status_and_progress(&f.store, rollout)?)
        })
        .await?;
    let mut status = serde_json::to_value(status).unwrap_or_default();
    status["progress"] = serde_json::to_value(progress).unwrap_or_default();
    Ok(Json(status))
}

fn no_rollout(id: i64) -> ApiError {
    refuse(
        StatusCode::NOT_FOUND,
        format!("no rollout {id}; `compose fleet rollout list` lists them"),
    )
}

async fn rollout_act(
    State(f): State<Arc<Fleet>>,
    _: Caller<need::Operate>,
    UrlPath((id, verb)): UrlPath<(i64, String)>,
) -> Api<Value> {
    let (from, to): (&[RolloutState], RolloutState) = match verb.as_str() {
        "pause" => (&[RolloutState::Running], RolloutState::Paused),
        "resume" => (
            &[RolloutState::Paused, RolloutState::Halted],
            RolloutState::Running,
        ),
        "abort" => (
            &[
                RolloutState::Running,
                RolloutState::Paused,
                RolloutState::Halted,
            ],
            RolloutState::Aborted,
        ),
        other => {
            return Err(refuse(
                StatusCode::NOT_FOUND,
                format!("`{other}`: a rollout can pause, resume or abort"),
            ));
        }
    };
    let status = f
        .db(move |f| {
            // A halt's note stays on a resumed rollout's record until something else
            // replaces it.
            let note = match to {
                RolloutState::Running => None,
                RolloutState::Paused => Some("paused by an operator"),
                _ => Some("aborted by an operator"),
            };
            if !f.store.transition_rollout(id, from, to, note)? {
                let rollout = f.store.rollout(id)?.ok_or_else(|| no_rollout(id))?;
                return Err(refuse(
                    StatusCode::CONFLICT,
                    format!(
                        "rollout {id} is {}; it cannot {verb}",
                        rollout.state.as_str()
                    ),
                ));
            }
            let rollout = f.store.rollout(id)?.expect("exists");
            Ok(rollout::status(&f.store, rollout)?)
        })
        .await?;
    f.changed.notify_waiters();
    Ok(Json(serde_json::to_value(status).unwrap_or_default()))
}

async fn locks(State(f): State<Arc<Fleet>>, _: Caller<need::Read>) -> Api<Value> {
    let Some(etcd) = f.etcd.clone() else {
        return Ok(Json(json!({"etcd": null, "holders": []})));
    };
    let url = etcd.url();
    let holders = tokio::task::spawn_blocking(move || etcd.holders())
        .await
        .map_err(|e| refuse(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| refuse(StatusCode::BAD_GATEWAY, e.to_string()))?;
    let groups: Vec<Value> = f
        .db(|f| Ok(f.store.groups()?))
        .await?
        .into_iter()
        .map(|g| json!({"group": g.name, "slots": g.reboot_slots}))
        .collect();
    Ok(Json(
        json!({"etcd": url, "holders": holders, "groups": groups}),
    ))
}

#[derive(Debug, Deserialize)]
struct NewToken {
    role: Role,
    name: String,
}

async fn token_create(
    State(f): State<Arc<Fleet>>,
    _: Caller<need::Admin>,
    Body(n): Body<NewToken>,
) -> Api<Value> {
    let token = auth::new_secret(auth::ADMIN_PREFIX);
    let hashed = auth::hash(&token);
    let (role, name) = (n.role, n.name.clone());
    f.db(move |f| Ok(f.store.add_token(&hashed, role, &name, now())?))
        .await?;
    Ok(Json(
        json!({"token": token, "role": n.role, "name": n.name}),
    ))
}

#[derive(Debug, Deserialize)]
struct NewEnrollToken {
    group: String,
    uses: u32,
}

async fn enroll_token_create(
    State(f): State<Arc<Fleet>>,
    _: Caller<need::Admin>,
    Body(n): Body<NewEnrollToken>,
) -> Api<Value> {
    check_name("group", &n.group)?;
    if n.uses == 0 {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "an enrollment token is good for at least 1 device",
        ));
    }
    let token = auth::new_secret(auth::ENROLL_PREFIX);
    let hashed = auth::hash(&token);
    let (group, uses) = (n.group.clone(), n.uses);
    f.db(move |f| Ok(f.store.add_enroll_token(&hashed, &group, uses, now())?))
        .await?;
    Ok(Json(
        json!({"token": token, "group": n.group, "uses": n.uses}),
    ))
}

/// Thousands of devices need more descriptors than the usual soft limit of 1024 (and the
/// simulated agents of the tests and benches hold the other end of each connection in the
/// same process). The soft limit goes up to the hard one; as root, both go up to 1,048,576 (or
/// the kernel's `fs.nr_open`), as a process manager would give a server.
pub fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((_, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    let ceiling = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(1 << 20)
        .min(1 << 20);
    if hard < ceiling && setrlimit(Resource::RLIMIT_NOFILE, ceiling, ceiling).is_ok() {
        return;
    }
    let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// axum refuses these bodies before a handler sees them; each refusal is JSON.
    #[tokio::test]
    async fn a_body_axum_refuses_is_a_json_error_with_its_status() {
        let request = |kind: &str, body: Vec<u8>| {
            Request::builder()
                .method("POST")
                .uri("/")
                .header(axum::http::header::CONTENT_TYPE, kind)
                .body(axum::body::Body::from(body))
                .unwrap()
        };
        for (kind, body, status) in [
            ("application/json", vec![b' '; 3 << 20], 413),
            ("text/plain", b"{}".to_vec(), 415),
            ("application/json", b"{not json".to_vec(), 400),
            ("application/json", br#"{"versio": 2}"#.to_vec(), 422),
        ] {
            let refused = Body::<NewRollout>::from_request(request(kind, body), &())
                .await
                .unwrap_err();
            assert_eq!(refused.0.as_u16(), status, "{}", refused.1);
            let answer = refused.into_response();
            let bytes = axum::body::to_bytes(answer.into_body(), 1 << 20)
                .await
                .unwrap();
            let json: Value = serde_json::from_slice(&bytes).unwrap();
            assert!(
                json["error"].as_str().is_some_and(|e| !e.is_empty()),
                "{json}"
            );
        }
    }
}
