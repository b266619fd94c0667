//! `cargo bench -p compose-fleet --bench fleet [-- AGENTS [POLL_MS]]`: a fleet server in a
//! process of its own (so its memory is its own) with a real etcd, and AGENTS simulated
//! agents (10,000 by default) polling it over loopback every POLL_MS (1000) milliseconds.
//! Prints requests per second and latency while they poll idle, the server's memory, and the
//! time a rollout (10% at once, 50% after 5 s, all after 10 s; 50 reboot slots) takes to
//! reach every device. Under `cargo test` (no `--bench`) it runs the same steps with 200
//! agents and short waits, as a check that it still works.

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use compose_fleet::client::Client;
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
    let mut complete = false;
    let etcd = LocalEtcd::start().expect("etcd runs (apt-get install etcd-server)");
    let state = tempfile::tempdir().unwrap();
    let mut server = Command::new(std::env::current_exe().unwrap())
        .env(SERVE, state.path())
        .env("COMPOSE_FLEET_BENCH_ETCD", &etcd.url)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let (url, token) = line.trim().split_once(' ').unwrap();
    let admin = Client::new(url, Some(token), None).unwrap();
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
    runtime.block_on(async {
        let started = Instant::now();
        let sim = Simulation::start(Options {
            server: url.to_string(),
            enroll_token: enroll,
            agents,
            version: "1".into(),
            poll_interval: Duration::from_millis(poll_ms),
            reboot: Duration::from_millis(20),
            fail_percent: 0,
            prefix: "bench".into(),
        })
        .await
        .unwrap();
        println!("enrolled {agents} agents in {:.2} s", started.elapsed().as_secs_f64());
        tokio::time::sleep(warmup).await;
        sim.reset_latencies();
        let before = sim.snapshot().requests;
        tokio::time::sleep(window).await;
        let idle = sim.snapshot();
        println!(
            "idle polling ({agents} agents, every {poll_ms} ms): {:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
            (idle.requests - before) as f64 / window.as_secs_f64(),
            idle.p50_ms,
            idle.p99_ms,
            idle.errors
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
        sim.reset_latencies();
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
        let done = sim.snapshot();
        println!(
            "rollout to {agents} devices (last wave at 10 s, 50 reboot slots): {:.1} s, at most {} rebooting at once, p99 {:.2} ms meanwhile",
            started.elapsed().as_secs_f64(),
            done.max_rebooting,
            done.p99_ms
        );
        sim.stop().await;
    });
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.id())).unwrap();
    for key in ["VmHWM", "VmRSS"] {
        if let Some(l) = status.lines().find(|l| l.starts_with(key)) {
            println!(
                "server {}",
                l.split_whitespace().collect::<Vec<_>>().join(" ")
            );
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    assert!(complete, "the rollout did not reach every device");
}

/// The server half: starts, prints `URL TOKEN`, runs until killed.
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
        println!(
            "{} {}",
            server.url,
            server.first_admin_token.as_deref().unwrap()
        );
        server.wait().await.unwrap();
    });
}
