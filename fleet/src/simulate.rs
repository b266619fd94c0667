//! Thousands of agents on loopback, each one the device agent's protocol in miniature:
//! enroll, poll, report each step, take a reboot slot through FleetLock, "reboot" (sleep),
//! report booted, free the slot. What they measure (requests, latency, the most agents
//! rebooting at once) is what the fleet's tests and its bench check.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{Method, Request, StatusCode, header};
use compose_update::fleet::{Action, Enrolled, FLEETLOCK_HEADER, Step};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

type Http = Client<HttpConnector, Full<Bytes>>;

/// How long a simulated agent waits for one answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How the simulated agents behave.
#[derive(Debug, Clone)]
pub struct Options {
    /// `http://127.0.0.1:PORT` of the server.
    pub server: String,
    /// An enrollment token good for `agents` devices.
    pub enroll_token: String,
    pub agents: usize,
    /// The version they run at the start.
    pub version: String,
    /// Time between polls when there is nothing to do (spread at random ±50%); a wait the
    /// server asks for stretches it, up to five times.
    pub poll_interval: Duration,
    /// How long a reboot takes.
    pub reboot: Duration,
    /// Percent of agents whose install fails (until `set_failing(0)`).
    pub fail_percent: u32,
    /// Device ids are PREFIX-00000 ...
    pub prefix: String,
}

/// Counters shared by every agent.
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub errors: AtomicU64,
    pub enrolled: AtomicUsize,
    pub updated: AtomicUsize,
    pub failed: AtomicUsize,
    pub rebooting: AtomicUsize,
    pub max_rebooting: AtomicUsize,
    pub lock_refusals: AtomicU64,
    /// Commands the agents were given (`compose fleet exec`).
    pub execs: AtomicU64,
    /// Percent of agents that fail their install now.
    pub fail_percent: AtomicU64,
    latencies: std::sync::Mutex<Vec<u32>>,
    /// Requests under way, at most `MAX_REQUESTS_AT_ONCE`.
    in_flight: RequestGate,
}

/// How many requests all simulated agents together have under way at once.
const MAX_REQUESTS_AT_ONCE: usize = 2048;

/// A turn to send a request: both ends of every connection are in this process, and at most
/// `MAX_REQUESTS_AT_ONCE` of them keep the descriptors (two per connection) well under a
/// usual hard limit of 20,000.
#[derive(Debug)]
struct RequestGate(Semaphore);

impl Default for RequestGate {
    fn default() -> Self {
        RequestGate(Semaphore::new(MAX_REQUESTS_AT_ONCE))
    }
}

/// What the agents saw so far.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Snapshot {
    pub agents: usize,
    pub enrolled: usize,
    pub updated: usize,
    pub failed: usize,
    pub requests: u64,
    pub errors: u64,
    pub max_rebooting: usize,
    pub lock_refusals: u64,
    pub execs: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Running agents.
#[derive(Debug)]
pub struct Simulation {
    pub stats: Arc<Stats>,
    agents: usize,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

#[derive(Debug, thiserror::Error)]
#[error("simulated agent {agent}: {message}")]
pub struct SimError {
    pub agent: String,
    pub message: String,
}

struct Agent {
    http: Http,
    server: String,
    id: String,
    credential: String,
    group: String,
    version: String,
    /// Where this agent falls in `0..100` for `fail_percent`.
    fail_rank: u64,
    stats: Arc<Stats>,
    options: Arc<Options>,
    stop: Arc<AtomicBool>,
}

async fn call(
    http: &Http,
    stats: &Stats,
    method: Method,
    url: String,
    credential: Option<&str>,
    body: Option<Value>,
) -> Result<(StatusCode, Value), String> {
    let mut request = Request::builder()
        .method(method)
        .uri(url)
        .header(header::CONTENT_TYPE, "application/json")
        .header(FLEETLOCK_HEADER, "true");
    if let Some(c) = credential {
        request = request.header(header::AUTHORIZATION, format!("Bearer {c}"));
    }
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let request = request
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let _turn = stats.in_flight.0.acquire().await.expect("never closed");
    let started = Instant::now();
    let exchange = async {
        let response = http.request(request).await.map_err(|e| {
            // hyper's own text is only "client error (Connect)": the cause says what.
            let mut text = e.to_string();
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                text.push_str(&format!(": {c}"));
                cause = c.source();
            }
            text
        })?;
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok::<_, String>((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    };
    // As real agents do: a request that hangs (a lost handshake, a stalled server) is given
    // up and tried again, never waited on forever.
    let result = match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {REQUEST_TIMEOUT:?}")),
    };
    let micros = started.elapsed().as_micros().min(u32::MAX as u128) as u32;
    stats.requests.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut l) = stats.latencies.lock() {
        l.push(micros);
    }
    if result.is_err() {
        stats.errors.fetch_add(1, Ordering::Relaxed);
    }
    result
}

/// A number in `0..n` from the thread's cheap random source.
fn jitter(n: u64) -> u64 {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    u64::from_le_bytes(b) % n.max(1)
}

impl Agent {
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, Value), String> {
        call(
            &self.http,
            &self.stats,
            method,
            format!("{}{path}", self.server),
            Some(&self.credential),
            body,
        )
        .await
    }

    async fn report(&self, rollout: i64, step: Step, reason: Option<&str>) {
        let _ = self
            .call(
                Method::POST,
                "/api/v1/device/report",
                Some(json!({"rollout": rollout, "step": step, "version": self.version, "reason": reason})),
            )
            .await;
    }

    async fn nap(&self) {
        self.nap_for(self.options.poll_interval).await;
    }

    /// Sleeps about `base` (spread at random ±50%).
    async fn nap_for(&self, base: Duration) {
        let base = base.as_millis() as u64;
        let ms = base / 2 + jitter(base + 1);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }

    /// Waits as the server asked (a device with nothing to do polls less, as the real agent
    /// does by long polling), at least one poll interval and at most five, so tests never wait
    /// a whole minute.
    async fn wait(&self, seconds: u64) {
        let interval = self.options.poll_interval;
        self.nap_for(Duration::from_secs(seconds).clamp(interval, interval * 5))
            .await;
    }

    /// POSTs `body` to `path` until the server answers 200, a poll interval apart, counting
    /// each refusal in `refusals`; false if the simulation stopped first.
    async fn until_ok(&self, path: &str, body: &Value, refusals: Option<&AtomicU64>) -> bool {
        while !self.stop.load(Ordering::Relaxed) {
            if let Ok((StatusCode::OK, _)) = self.call(Method::POST, path, Some(body.clone())).await
            {
                return true;
            }
            if let Some(r) = refusals {
                r.fetch_add(1, Ordering::Relaxed);
            }
            self.nap().await;
        }
        false
    }

    async fn run(mut self) {
        while !self.stop.load(Ordering::Relaxed) {
            let path = format!("/api/v1/device/poll?version={}", self.version);
            let action = match self.call(Method::GET, &path, None).await {
                Ok((StatusCode::OK, v)) => serde_json::from_value::<Action>(v).ok(),
                _ => None,
            };
            match action {
                Some(Action::Update {
                    rollout, version, ..
                }) => self.update(rollout, version).await,
                Some(Action::Exec { id, argv }) => {
                    self.stats.execs.fetch_add(1, Ordering::Relaxed);
                    let out = format!("simulated: {}\n", argv.join(" "));
                    let _ = self
                        .call(
                            Method::POST,
                            &format!("/api/v1/device/exec/{id}"),
                            Some(json!({"exit_code": 0, "stdout": out, "stderr": ""})),
                        )
                        .await;
                }
                Some(Action::Wait { seconds, .. }) => self.wait(seconds).await,
                // Simulated agents speak plain HTTP with a bearer credential: no
                // certificate to renew.
                Some(Action::Renew { .. }) | None => self.nap().await,
            }
        }
    }

    async fn update(&mut self, rollout: i64, version: String) {
        self.report(rollout, Step::Downloading, None).await;
        self.report(rollout, Step::Staged, None).await;
        if self.fail_rank < self.stats.fail_percent.load(Ordering::Relaxed) {
            self.stats.failed.fetch_add(1, Ordering::Relaxed);
            self.report(
                rollout,
                Step::Failed,
                Some("simulated: the new slot never got ready"),
            )
            .await;
            return;
        }
        let body = json!({"client_params": {"id": self.id, "group": self.group}});
        // Refused while every slot is taken: asked again within a poll interval.
        if !self
            .until_ok("/v1/pre-reboot", &body, Some(&self.stats.lock_refusals))
            .await
        {
            return;
        }
        let now = self.stats.rebooting.fetch_add(1, Ordering::SeqCst) + 1;
        self.stats.max_rebooting.fetch_max(now, Ordering::SeqCst);
        self.report(rollout, Step::Rebooting, None).await;
        tokio::time::sleep(self.options.reboot).await;
        self.version = version;
        // Counted down before the slot is freed: the count never lags behind the lock.
        self.stats.rebooting.fetch_sub(1, Ordering::SeqCst);
        // As zincati does: the slot is freed again until the server says it is, or others
        // wait for its lease to run out.
        self.until_ok("/v1/steady-state", &body, None).await;
        self.stats.updated.fetch_add(1, Ordering::Relaxed);
        self.report(rollout, Step::Booted, None).await;
    }
}

impl Simulation {
    /// Enrolls every agent (64 at a time), then starts them.
    pub async fn start(options: Options) -> Result<Simulation, SimError> {
        crate::server::raise_fd_limit();
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(10)));
        let http: Http = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        let stats = Arc::new(Stats::default());
        stats
            .fail_percent
            .store(u64::from(options.fail_percent), Ordering::Relaxed);
        let stop = Arc::new(AtomicBool::new(false));
        let options = Arc::new(options);
        let gate = Arc::new(Semaphore::new(64));
        let mut enrolling = Vec::new();
        for i in 0..options.agents {
            let (http, stats, options, gate) =
                (http.clone(), stats.clone(), options.clone(), gate.clone());
            enrolling.push(tokio::spawn(async move {
                let _permit = gate.acquire().await.expect("open");
                let id = format!("{}-{i:05}", options.prefix);
                let (status, body) = call(
                    &http,
                    &stats,
                    Method::POST,
                    format!("{}/api/v1/enroll", options.server),
                    None,
                    Some(json!({"token": options.enroll_token, "id": id, "device": "sim", "version": options.version})),
                )
                .await
                .map_err(|message| SimError { agent: id.clone(), message })?;
                let enrolled: Enrolled = match (status, serde_json::from_value(body.clone())) {
                    (StatusCode::OK, Ok(e)) => e,
                    _ => {
                        return Err(SimError {
                            agent: id,
                            message: format!("enrollment refused: {status} {body}"),
                        });
                    }
                };
                stats.enrolled.fetch_add(1, Ordering::Relaxed);
                Ok((id, enrolled, i))
            }));
        }
        let mut agents = Vec::new();
        for task in enrolling {
            let (id, enrolled, i) = task.await.map_err(|e| SimError {
                agent: "?".into(),
                message: e.to_string(),
            })??;
            agents.push(Agent {
                http: http.clone(),
                server: options.server.clone(),
                id,
                credential: enrolled.credential,
                group: enrolled.group,
                version: options.version.clone(),
                // Spread evenly, so `fail_percent` of every wave fails, give or take.
                fail_rank: (i as u64 * 37) % 100,
                stats: stats.clone(),
                options: options.clone(),
                stop: stop.clone(),
            });
        }
        let count = agents.len();
        let tasks = agents.into_iter().map(|a| tokio::spawn(a.run())).collect();
        Ok(Simulation {
            stats,
            agents: count,
            stop,
            tasks,
        })
    }

    /// From now on `percent` of the agents fail their installs.
    pub fn set_failing(&self, percent: u32) {
        self.stats
            .fail_percent
            .store(u64::from(percent), Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        let s = &self.stats;
        let (p50, p99) = {
            let mut l = s.latencies.lock().map(|l| l.clone()).unwrap_or_default();
            l.sort_unstable();
            let at = |q: f64| {
                l.get(((l.len() as f64 * q) as usize).min(l.len().saturating_sub(1)))
                    .map(|&us| us as f64 / 1000.0)
                    .unwrap_or(0.0)
            };
            (at(0.50), at(0.99))
        };
        Snapshot {
            agents: self.agents,
            enrolled: s.enrolled.load(Ordering::Relaxed),
            updated: s.updated.load(Ordering::Relaxed),
            failed: s.failed.load(Ordering::Relaxed),
            requests: s.requests.load(Ordering::Relaxed),
            errors: s.errors.load(Ordering::Relaxed),
            max_rebooting: s.max_rebooting.load(Ordering::SeqCst),
            lock_refusals: s.lock_refusals.load(Ordering::Relaxed),
            execs: s.execs.load(Ordering::Relaxed),
            p50_ms: p50,
            p99_ms: p99,
        }
    }

    /// Forgets the latencies measured so far (to measure a steady state).
    pub fn reset_latencies(&self) {
        if let Ok(mut l) = self.stats.latencies.lock() {
            l.clear();
        }
    }

    pub async fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.abort();
            let _ = t.await;
        }
    }
}
