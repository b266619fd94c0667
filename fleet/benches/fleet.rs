//! `cargo bench -p compose-fleet --bench fleet [-- AGENTS [POLL_MS] [--sqlite|--postgres]
//! [--replicas=N]]`:
//! fleet servers in
//! processes of their own (so their memory is their own) with a real etcd, and AGENTS
//! simulated agents (10,000 by default) polling them over loopback every POLL_MS (1000)
//! milliseconds, side by side: one server on SQLite, then three replicas on one PostgreSQL
//! with the agents spread over them. Prints requests per second and latency while they poll
//! idle, each server's memory, and the time a rollout (10% at once, 50% after 5 s, all after
//! 10 s; 50 reboot slots) takes to reach every device. Under `cargo test` (no `--bench`) it runs the same steps with 200
//! agents and short waits, as a check that it still works.

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use compose_fleet::client::Client;
use compose_fleet::local_postgres::LocalPostgres;
use compose_fleet::lock::LocalEtcd;
use compose_fleet::server::{Config, Tls};
use compose_fleet::simulate::{Options, Simulation};
use serde_json::json;

const SERVE: &str = "COMPOSE_FLEET_BENCH_SERVE";

fn main() {
    if let Ok(state) = std::env::var(SERVE) {
        serve(&state);
        return;
    }
    let bench = std::env::args().any(|a| a == "--bench");
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let agents: usize = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(if bench { 10_000 } else { 200 });
    let poll_ms: u64 = args
        .get(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(if bench { 1000 } else { 200 });
    let (warmup, window) = if bench {
        (Duration::from_secs(5), Duration::from_secs(20))
    } else {
        (Duration::from_millis(500), Duration::from_secs(2))
    };
    let run = Run {
        agents,
        poll_ms,
        warmup,
        window,
    };
    // `--sqlite` or `--postgres`: only that half.
    let only = |flag: &str| std::env::args().any(|a| a == flag);
    let (sqlite, postgres) = match (only("--sqlite"), only("--postgres")) {
        (false, false) => (true, true),
        flags => flags,
    };
    if sqlite {
        println!("== one server on SQLite");
        let complete = run.measure(None, 1);
        assert!(complete, "the rollout on SQLite did not reach every device");
    }
    // `--replicas=N`: servers on PostgreSQL (3).
    let replicas: usize = std::env::args()
        .find_map(|a| a.strip_prefix("--replicas=").and_then(|n| n.parse().ok()))
        .unwrap_or(3);
    if postgres {
        println!("== {replicas} replicas on PostgreSQL");
        let postgres =
            LocalPostgres::start().expect("PostgreSQL runs (apt-get install postgresql-15)");
        let complete = run.measure(Some(&postgres.url), replicas);
        assert!(
            complete,
            "the rollout on PostgreSQL did not reach every device"
        );
    }
}

/// One measurement's sizes.
struct Run {
    agents: usize,
    poll_ms: u64,
    warmup: Duration,
    window: Duration,
}

/// A server process of this bench, killed when dropped.
struct Server {
    child: std::process::Child,
    url: String,
    token: Option<String>,
    _state: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(database: Option<&str>, etcd: &LocalEtcd) -> Server {
        let state = tempfile::tempdir().unwrap();
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .env(SERVE, state.path())
            .env("COMPOSE_FLEET_BENCH_ETCD", &etcd.url)
            .stdout(Stdio::piped());
        if let Some(database) = database {
            command.env("COMPOSE_FLEET_BENCH_DATABASE", database);
        }
        let mut child = command.spawn().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let (url, token) = line.trim().split_once(' ').unwrap();
        Server {
            url: url.to_string(),
            token: (token != "-").then(|| token.to_string()),
            child,
            _state: state,
        }
    }

    /// Its memory: the peak and now (from /proc).
    fn memory(&self) -> String {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        ["VmHWM", "VmRSS"]
            .iter()
            .filter_map(|key| status.lines().find(|l| l.starts_with(key)))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Run {
    /// `servers` servers on `database` (SQLite in the first one's state folder when `None`),
    /// the agents spread evenly over them: idle polling, then a rollout. True when the
    /// rollout reached every device.
    fn measure(&self, database: Option<&str>, servers: usize) -> bool {
        let (agents, poll_ms) = (self.agents, self.poll_ms);
        let etcd = LocalEtcd::start().expect("etcd runs (apt-get install etcd-server)");
        let servers: Vec<Server> = (0..servers)
            .map(|_| Server::start(database, &etcd))
            .collect();
        let token = servers.iter().find_map(|s| s.token.clone()).unwrap();
        let admin = Client::new(&servers[0].url, Some(&token), None).unwrap();
        admin
            .put(
                "/api/v1/groups/bench",
                &json!({"reboot_slots": 50, "max_in_flight": 1000}),
            )
            .unwrap();
        let enroll = admin
            .post(
                "/api/v1/enroll-tokens",
                &json!({"group": "bench", "uses": agents}),
            )
            .unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let complete = runtime.block_on(async {
            let started = Instant::now();
            let mut sims = Vec::new();
            for (i, server) in servers.iter().enumerate() {
                let share = agents / servers.len() + usize::from(i < agents % servers.len());
                sims.push(
                    Simulation::start(Options {
                        server: server.url.clone(),
                        enroll_token: enroll.clone(),
                        agents: share,
                        version: "1".into(),
                        poll_interval: Duration::from_millis(poll_ms),
                        reboot: Duration::from_millis(20),
                        fail_percent: 0,
                        prefix: format!("bench{i}"),
                    })
                    .await
                    .unwrap(),
                );
            }
            println!("enrolled {agents} agents in {:.2} s", started.elapsed().as_secs_f64());
            tokio::time::sleep(self.warmup).await;
            sims.iter().for_each(Simulation::reset_latencies);
            let requests = |sims: &[Simulation]| -> u64 {
                sims.iter().map(|s| s.snapshot().requests).sum()
            };
            // The worst server's, each sampled over its own agents.
            let p = |sims: &[Simulation]| -> (f64, f64, u64) {
                sims.iter().map(Simulation::snapshot).fold((0.0, 0.0, 0), |acc, s| {
                    (acc.0.max(s.p50_ms), acc.1.max(s.p99_ms), acc.2 + s.errors)
                })
            };
            let before = requests(&sims);
            tokio::time::sleep(self.window).await;
            let (p50, p99, errors) = p(&sims);
            println!(
                "idle polling ({agents} agents, every {poll_ms} ms): {:.0} requests/s, p50 {p50:.2} ms, p99 {p99:.2} ms, {errors} errors",
                (requests(&sims) - before) as f64 / self.window.as_secs_f64(),
            );
            let rollout = {
                let admin = admin.clone();
                tokio::task::spawn_blocking(move || {
                    admin
                        .post(
                            "/api/v1/rollouts",
                            &json!({"version": "2", "schedule": "10%@0s,50%@5s,100%@10s"}),
                        )
                        .unwrap()
                })
                .await
                .unwrap()
            };
            let id = rollout["id"].as_i64().unwrap();
            let started = Instant::now();
            sims.iter().for_each(Simulation::reset_latencies);
            let mut complete = false;
            loop {
                let admin = admin.clone();
                let status = tokio::task::spawn_blocking(move || {
                    admin.get(&format!("/api/v1/rollouts/{id}")).unwrap()
                })
                .await
                .unwrap();
                if status["complete"] == true {
                    complete = true;
                    break;
                }
                if started.elapsed() > Duration::from_secs(600) {
                    println!(
                        "rollout did not complete in 600 s: {}",
                        serde_json::to_string(&status["waves"]).unwrap()
                    );
                    break;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            let (_, p99, _) = p(&sims);
            let rebooting: usize = sims.iter().map(|s| s.snapshot().max_rebooting).sum();
            println!(
                "rollout to {agents} devices (last wave at 10 s, 50 reboot slots): {:.1} s, at most {rebooting} rebooting at once (each server's agents' most, added), p99 {p99:.2} ms meanwhile",
                started.elapsed().as_secs_f64(),
            );
            for sim in sims {
                sim.stop().await;
            }
            complete
        });
        for (i, server) in servers.iter().enumerate() {
            println!("server {i}: {}", server.memory());
        }
        complete
    }
}

/// The server half: starts, prints `URL TOKEN` (or `URL -`), runs until killed.
fn serve(state: &str) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let server = compose_fleet::server::start(Config {
            state: state.into(),
            database: std::env::var("COMPOSE_FLEET_BENCH_DATABASE").ok(),
            listen: "127.0.0.1:0".parse().unwrap(),
            repo: None,
            etcd: std::env::var("COMPOSE_FLEET_BENCH_ETCD").ok(),
            tls: Tls::None,
            lock_ttl: 600,
            device_cert_lifetime: compose_fleet::server::DEVICE_CERT_LIFETIME,
        })
        .await
        .unwrap();
        // `-`: another server on the database made the first admin token.
        println!(
            "{} {}",
            server.url,
            server.first_admin_token.as_deref().unwrap_or("-")
        );
        server.wait().await.unwrap();
    });
}
