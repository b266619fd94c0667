//! The live compositor with real clients (a bench command, not criterion: it drives
//! external processes). Prints:
//!
//! - time to swap shells with 10 windows connected: from the Swap command until every
//!   configure was sent (median and p95 of 100 swaps);
//! - commit-to-frame-callback latency of one client (compose-testclient) against our
//!   headless compositor, with the CPU (pixman) and the GPU (wgpu) renderer, and against
//!   weston's headless backend (`weston --backend=headless-backend.so --use-pixman`) in
//!   the same run, and their ratios;
//! - compositing cost: the compositor's CPU time per frame while 6 windows redraw as
//!   fast as they are let (each commit followed by its frame callback), ours
//!   (`compose-shell --headless --renderer cpu|gpu`) against weston's pixman renderer,
//!   separate processes at 1280x720.
//!
//! Run with `cargo bench -p compose-shells --bench live`.

use std::path::Path;
use std::process::{Child, Command as Process, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use compose_shells::compositor::{Command, Options, run};
use compose_shells::definition::builtin;
use compose_shells::render::RendererChoice;
use compose_testclient::Client;
use smithay::reexports::calloop::channel::{Sender, channel};

/// Whether this is `cargo bench` (cargo passes `--bench`) rather than `cargo test`, which
/// runs every bench once to see that it works: a tenth of the samples and a second of load.
fn measuring() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn rounds() -> usize {
    if measuring() { 200 } else { 20 }
}

/// How long the compositing cost runs 6 busy windows.
fn load_time() -> Duration {
    Duration::from_secs(if measuring() { 5 } else { 1 })
}

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

/// `rounds()` commit-to-frame latencies of one window, after a warm-up.
fn latencies(dir: &Path, socket: &str) -> Vec<Duration> {
    let mut client = Client::connect(dir, socket).expect("connect");
    let window = client
        .toplevel("bench", "Bench", [200, 100, 50, 255])
        .unwrap();
    for _ in 0..10 {
        client.commit_to_frame(window).unwrap();
    }
    (0..rounds())
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

fn cpu_of(pid: u32) -> f64 {
    compose_shells::compositor::process_cpu_seconds(&pid.to_string())
}

/// CPU milliseconds the compositor `pid` spent per frame its 6 busy clients got, over `load_time()`.
fn compositing_cost(dir: &Path, socket: &str, pid: u32) -> (f64, u64) {
    let mut clients: Vec<(Client, usize)> = (0..6)
        .map(|i| {
            let mut c = Client::connect(dir, socket).expect("connect");
            let w = c
                .toplevel(&format!("busy{i}"), "Busy", [40 * i as u8, 120, 200, 255])
                .unwrap();
            (c, w)
        })
        .collect();
    for (c, w) in &mut clients {
        c.commit_to_frame(*w).unwrap();
    }
    let before = cpu_of(pid);
    let start = Instant::now();
    let mut frames = 0u64;
    while start.elapsed() < load_time() {
        for (c, w) in &mut clients {
            c.commit_to_frame(*w).unwrap();
            frames += 1;
        }
    }
    let cpu = cpu_of(pid) - before;
    (cpu * 1000.0 / frames.max(1) as f64, frames)
}

/// A headless desktop compositor at 1280x720 on a thread of its own, on socket `name` in
/// `dir`, drawn by `renderer`: its control channel and its thread.
fn start(
    dir: &Path,
    name: &str,
    renderer: RendererChoice,
) -> (
    Sender<Command>,
    std::thread::JoinHandle<Result<(), compose_shells::compositor::CompositorError>>,
) {
    let socket = dir.join(name);
    let (control, commands) = channel();
    let desktop = builtin().into_iter().find(|s| s.name == "desktop").unwrap();
    let options = Options {
        renderer,
        ..Options::headless(socket.to_str().unwrap(), desktop, 1280, 720)
    };
    let server = std::thread::spawn(move || run(options, commands));
    wait_for_socket(&socket);
    (control, server)
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let (control, server) = start(dir.path(), "compose-bench", RendererChoice::Cpu);

    // Swap with 10 windows.
    let mut client = Client::connect(dir.path(), "compose-bench").unwrap();
    for i in 0..10 {
        client
            .toplevel(&format!("app{i}"), &format!("App {i}"), [50, 50, 200, 255])
            .unwrap();
    }
    let shells = builtin();
    let (mut inside, mut round_trips) = (Vec::new(), Vec::new());
    for i in 0..rounds() / 2 {
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
    let mut medians = vec![("cpu", stats(ours))];
    // The same with the wgpu renderer (lavapipe where there is no GPU).
    let (control, server) = start(dir.path(), "compose-bench-gpu", RendererChoice::Gpu);
    medians.push(("gpu", stats(latencies(dir.path(), "compose-bench-gpu"))));
    let _ = control.send(Command::Stop);
    let _ = server.join();
    for (renderer, (median, p95)) in &medians {
        println!(
            "commit-to-frame, compose headless ({renderer} renderer): median {median:?}, p95 {p95:?}"
        );
    }

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
    for (renderer, (median, p95)) in &medians {
        println!(
            "ratio compose ({renderer}) / weston: median {:.2}, p95 {:.2}",
            median.as_secs_f64() / weston_median.as_secs_f64(),
            p95.as_secs_f64() / weston_p95.as_secs_f64()
        );
    }
    let (theirs_cost, theirs_frames) = compositing_cost(dir.path(), "weston-bench", _weston.0.id());
    drop(_weston);

    for renderer in ["cpu", "gpu"] {
        let (ours_cost, ours_frames) = shell_cost(dir.path(), renderer);
        println!(
            "compositing 6 busy windows at 1280x720: compose ({renderer} renderer) {ours_cost:.2} ms CPU per client frame ({ours_frames} frames in {:?}), weston pixman {theirs_cost:.2} ms ({theirs_frames} frames); ratio {:.2}",
            load_time(),
            ours_cost / theirs_cost.max(f64::MIN_POSITIVE)
        );
    }
}

/// `compositing_cost` of a `compose-shell --headless --renderer RENDERER` process.
fn shell_cost(dir: &Path, renderer: &str) -> (f64, u64) {
    let runtime = dir.join(format!("shell-{renderer}"));
    std::fs::create_dir_all(&runtime).unwrap();
    let ours = Killed(
        Process::new(env!("CARGO_BIN_EXE_compose-shell"))
            .args([
                "--headless",
                "1280x720",
                "--no-xwayland",
                "--blank-after",
                "0",
                "--renderer",
                renderer,
            ])
            .arg("--runtime-dir")
            .arg(&runtime)
            .arg("--autostart")
            .arg(dir.join("no-apps"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("compose-shell runs"),
    );
    wait_for_socket(&runtime.join("wayland-0"));
    compositing_cost(&runtime, "wayland-0", ours.0.id())
}
