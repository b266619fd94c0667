//! The live compositor with real clients (a bench command, not criterion: it drives
//! external processes). Prints:
//!
//! - time to swap shells with 10 windows connected: from the Swap command until every
//!   configure was sent (median and p95 of 100 swaps);
//! - commit-to-frame-callback latency of one client (compose-testclient) against our
//!   headless compositor and against weston's headless backend (`weston
//!   --backend=headless-backend.so --use-pixman`) in the same run, and their ratio.
//!
//! Run with `cargo bench -p compose-shells --bench live`.

use std::path::Path;
use std::process::{Child, Command as Process, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use compose_shells::compositor::{Command, Options, run};
use compose_shells::definition::builtin;
use compose_testclient::Client;
use smithay::reexports::calloop::channel::channel;

const ROUNDS: usize = 200;

fn stats(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    (
        samples[samples.len() / 2],
        samples[samples.len() * 95 / 100],
    )
}

fn wait_for_socket(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "no socket {path:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `ROUNDS` commit-to-frame latencies of one window, after a warm-up.
fn latencies(dir: &Path, socket: &str) -> Vec<Duration> {
    let mut client = Client::connect(dir, socket).expect("connect");
    let window = client
        .toplevel("bench", "Bench", [200, 100, 50, 255])
        .unwrap();
    for _ in 0..10 {
        client.commit_to_frame(window).unwrap();
    }
    (0..ROUNDS)
        .map(|_| client.commit_to_frame(window).unwrap())
        .collect()
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("compose-bench");
    let (control, commands) = channel();
    let desktop = builtin().into_iter().find(|s| s.name == "desktop").unwrap();
    let options = Options::headless(socket.to_str().unwrap(), desktop, 1280, 720);
    let server = std::thread::spawn(move || run(options, commands));
    wait_for_socket(&socket);

    // Swap with 10 windows.
    let mut client = Client::connect(dir.path(), "compose-bench").unwrap();
    for i in 0..10 {
        client
            .toplevel(&format!("app{i}"), &format!("App {i}"), [50, 50, 200, 255])
            .unwrap();
    }
    let shells = builtin();
    let (mut inside, mut round_trips) = (Vec::new(), Vec::new());
    for i in 0..100 {
        let def = shells[i % shells.len()].clone();
        let (done, ack) = mpsc::channel();
        let start = Instant::now();
        control.send(Command::Swap(def, done)).unwrap();
        inside.push(ack.recv().unwrap());
        round_trips.push(start.elapsed());
        client.dispatch_for(Duration::from_millis(5)).unwrap();
    }
    let (median, p95) = stats(inside);
    println!(
        "swap with 10 windows, in the compositor (policy + 10 configures): median {median:?}, p95 {p95:?} (target < 16 ms)"
    );
    let (median, p95) = stats(round_trips);
    println!(
        "swap with 10 windows, controller round trip (incl. waiting for a frame being drawn): median {median:?}, p95 {p95:?}"
    );
    drop(client);

    let ours = latencies(dir.path(), "compose-bench");
    let _ = control.send(Command::Stop);
    let _ = server.join();
    let (ours_median, ours_p95) = stats(ours);
    println!("commit-to-frame, compose headless: median {ours_median:?}, p95 {ours_p95:?}");

    let weston = Process::new("weston")
        .args([
            "--backend=headless-backend.so",
            "--use-pixman",
            "--socket=weston-bench",
            "--width=1280",
            "--height=720",
            "--idle-time=0",
        ])
        .env("XDG_RUNTIME_DIR", dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(weston) = weston else {
        println!("weston is not installed (Debian package weston); no comparison");
        return;
    };
    let _weston = Killed(weston);
    wait_for_socket(&dir.path().join("weston-bench"));
    let theirs = latencies(dir.path(), "weston-bench");
    let (weston_median, weston_p95) = stats(theirs);
    println!(
        "commit-to-frame, weston headless (pixman): median {weston_median:?}, p95 {weston_p95:?}"
    );
    println!(
        "ratio compose / weston: median {:.2}, p95 {:.2}",
        ours_median.as_secs_f64() / weston_median.as_secs_f64(),
        ours_p95.as_secs_f64() / weston_p95.as_secs_f64()
    );
}
