//! Fleet servers as replicas: several `compose fleet serve` processes on one PostgreSQL
//! behind a load balancer, with a three-member etcd, as users run them; one replica and one
//! etcd member are SIGKILLed mid-wave and the rollout completes through the others.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use compose_fleet::client::Client;
use compose_fleet::simulate::{Options, Simulation};
use serde_json::json;

/// A `compose fleet serve` process, killed when dropped.
struct Replica {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn replica(state: &std::path::Path, database: &str, etcd: &str) -> Replica {
    let mut child = Command::new(env!("CARGO_BIN_EXE_compose"))
        .args(["fleet", "serve", "--listen", "127.0.0.1:0", "--etcd", etcd])
        .arg("--state")
        .arg(state)
        // As a replica would be given it: not on the command line, where `ps` shows it.
        .env("COMPOSE_FLEET_DATABASE", database)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let addr = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .trim_end_matches('/')
        .parse()
        .unwrap();
    Replica { child, addr }
}

/// A TCP load balancer on loopback: each connection goes to the next backend that accepts
/// one, so a dead backend is passed over, as a health-checking balancer would.
fn balancer(backends: Vec<SocketAddr>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for (next, client) in listener.incoming().enumerate() {
            let Ok(client) = client else { return };
            let server = (0..backends.len()).find_map(|i| {
                let at = backends[(next + i) % backends.len()];
                TcpStream::connect_timeout(&at, Duration::from_millis(200)).ok()
            });
            let Some(server) = server else { continue };
            for (mut from, mut to) in [
                (client.try_clone().unwrap(), server.try_clone().unwrap()),
                (server, client),
            ] {
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16384];
                    while let Ok(n) = from.read(&mut buf) {
                        if n == 0 || to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to.shutdown(std::net::Shutdown::Both);
                });
            }
        }
    });
    addr
}

#[test]
fn replicas_on_postgresql_finish_a_rollout_when_a_replica_and_an_etcd_member_are_killed() {
    const AGENTS: usize = 1000;
    const MAX_IN_FLIGHT: u32 = 40;
    const SLOTS: u32 = 8;
    const COMMANDS: usize = 20;
    let postgres = compose_fleet::local_postgres::LocalPostgres::start()
        .expect("PostgreSQL (scripts/setup installs postgresql-15)");
    let mut etcd =
        compose_fleet::lock::LocalEtcd::cluster(3).expect("etcd (scripts/setup installs it)");
    // Three replicas started at once on one empty database, each with a state folder of its
    // own: they share nothing else.
    let states: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let starting: Vec<_> = states
        .iter()
        .map(|state| {
            let (state, database, url) = (
                state.path().to_path_buf(),
                postgres.url.clone(),
                etcd.url.clone(),
            );
            std::thread::spawn(move || replica(&state, &database, &url))
        })
        .collect();
    let mut replicas: Vec<Replica> = starting.into_iter().map(|t| t.join().unwrap()).collect();
    let lb = balancer(replicas.iter().map(|r| r.addr).collect());
    let url = format!("http://{lb}");
    // One of them made the first admin token.
    let tokens: Vec<String> = states
        .iter()
        .filter_map(|s| std::fs::read_to_string(s.path().join("admin-token")).ok())
        .collect();
    assert_eq!(tokens.len(), 1, "one first admin token");
    let token = tokens[0].trim().to_string();
    let admin = Client::new(&url, Some(&token), None).unwrap();
    admin
        .put(
            "/api/v1/groups/sim",
            &json!({"max_in_flight": MAX_IN_FLIGHT, "reboot_slots": SLOTS}),
        )
        .unwrap();
    let enroll = admin
        .post(
            "/api/v1/enroll-tokens",
            &json!({"group": "sim", "uses": AGENTS}),
        )
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sim = runtime
        .block_on(Simulation::start(Options {
            server: url.clone(),
            enroll_token: enroll,
            agents: AGENTS,
            version: "1".into(),
            poll_interval: Duration::from_millis(1000),
            reboot: Duration::from_millis(50),
            fail_percent: 0,
            prefix: "lb".into(),
        }))
        .unwrap();
    let id = admin
        .post(
            "/api/v1/rollouts",
            &json!({"version": "2", "group": "sim", "schedule": "100%@0s"}),
        )
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let started = Instant::now();
    let (mut most, mut killed) = (0, false);
    loop {
        let status = match admin.get(&format!("/api/v1/rollouts/{id}")) {
            Ok(status) => status,
            // The connection that went to the replica just killed.
            Err(_) if killed => continue,
            Err(e) => panic!("{e}"),
        };
        // Offered, downloading, staged or rebooting, as the server counts them.
        let busy = status["in_flight"].as_u64().unwrap();
        most = most.max(busy);
        assert!(
            busy <= u64::from(MAX_IN_FLIGHT),
            "{busy} in flight; the group allows {MAX_IN_FLIGHT}"
        );
        let booted = status["running_version"].as_u64().unwrap();
        if !killed && booted >= AGENTS as u64 / 3 {
            // SIGKILL, mid-wave: a third of the devices are on version 2.
            replicas[0].child.kill().unwrap();
            replicas[0].child.wait().unwrap();
            etcd.kill(0);
            killed = true;
            eprintln!("replica 0 and etcd member 0 killed with {booted} of {AGENTS} updated");
        }
        if status["complete"] == true {
            assert!(killed, "the rollout ended before a replica was killed");
            assert_eq!(booted, AGENTS as u64, "{status}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "the rollout never completed: {}",
            status["waves"]
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let took = started.elapsed();
    // Commands for devices that poll whichever replica the balancer picks: each run once.
    let ids: Vec<i64> = (0..COMMANDS)
        .map(|k| {
            admin
                .post(
                    &format!("/api/v1/devices/lb-{:05}/exec", k * 7),
                    &json!({"argv": ["echo", k.to_string()]}),
                )
                .unwrap()["id"]
                .as_i64()
                .unwrap()
        })
        .collect();
    for (k, id) in ids.iter().enumerate() {
        let done = admin.get(&format!("/api/v1/execs/{id}?wait=30")).unwrap();
        assert_eq!(done["state"], "done", "{done}");
        assert_eq!(done["stdout"], format!("simulated: echo {k}\n"));
    }
    let snap = sim.snapshot();
    assert_eq!(
        snap.execs, COMMANDS as u64,
        "every command exactly once: {snap:?}"
    );
    eprintln!(
        "{AGENTS} agents through three replicas on PostgreSQL (one replica and one etcd member killed) in {took:?}: at most {most} in flight, {} rebooting at once, {} requests, {} errors",
        snap.max_rebooting, snap.requests, snap.errors
    );
    assert_eq!(snap.updated, AGENTS);
    // No device rebooted without a slot.
    assert!(snap.max_rebooting <= SLOTS as usize, "{snap:?}");
    let locks = admin.get("/api/v1/locks").unwrap();
    assert_eq!(locks["holders"].as_array().unwrap().len(), 0, "{locks}");
    runtime.block_on(sim.stop());
    drop(replicas);
}

// A database the server cannot use is a clear error at start: what, where, how to fix, the
// password not shown, and nothing written.
#[test]
fn a_database_that_cannot_be_used_is_a_clear_error_at_start() {
    let free_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for (url, says) in [
        (
            format!("postgres://fleet:secret@127.0.0.1:{free_port}/fleet"),
            "Connection refused",
        ),
        (
            "mysql://fleet:secret@127.0.0.1/fleet".to_string(),
            "is not a database this server knows",
        ),
    ] {
        let state = tempfile::tempdir().unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_compose"))
            .args([
                "fleet",
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--database",
                &url,
            ])
            .arg("--state")
            .arg(state.path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(says) && err.contains("help:"), "{err}");
        assert!(!err.contains("secret"), "the password is shown: {err}");
        assert!(
            !state.path().join("admin-token").exists(),
            "an admin token was made without a database"
        );
    }
}
