//! Start times of a WASI app in the sandbox (a bench command): in this process, the first
//! start (compile, link, instantiate), the first start of a new host whose compiled code
//! is in the disk cache, and warm starts (a prepared `InstancePre` from the pool); then
//! whole processes, `compose-app run` of the same component against `wasmtime run`, both
//! with their caches warm.
//!
//! Run with `scripts/bench-wasm-start` (it installs the wasmtime CLI of our wasmtime
//! release into target/tools first), or `cargo bench -p compose-sandbox --bench start`
//! with `COMPOSE_WASMTIME` naming a `wasmtime` binary (else the one on PATH; without
//! one the process comparison is left out).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use compose_sandbox::{Grants, Outcome, Stdio, WasmHost, apps};

const PROCESS_RUNS: usize = 20;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Median wall time of `PROCESS_RUNS` runs of `command` (after one to warm caches).
fn process_median(mut command: impl FnMut() -> Command) -> Duration {
    let mut times = Vec::new();
    for i in 0..=PROCESS_RUNS {
        let t = Instant::now();
        let out = command().output().unwrap();
        let took = t.elapsed();
        assert!(
            out.status.success(),
            "{:?}: {}",
            command(),
            String::from_utf8_lossy(&out.stderr)
        );
        if i > 0 {
            times.push(took);
        }
    }
    median(times)
}

/// The wasmtime CLI to compare with: `COMPOSE_WASMTIME`, else `wasmtime` on PATH.
fn wasmtime_cli() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("COMPOSE_WASMTIME") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("wasmtime"))
        .find(|p| p.is_file())
}

/// A device root holding app `app-probe` (the probe component, no grants), as
/// `compose build` lays apps out.
fn device_root(probe: &Path) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let at = |p: &str| root.path().join(p);
    std::fs::create_dir_all(at("usr/share/compose/apps")).unwrap();
    std::fs::create_dir_all(at("usr/lib/compose/apps")).unwrap();
    std::fs::write(
        at("usr/share/compose/apps/app-probe.toml"),
        r#"[component]
name = "app-probe"
version = "0.1.0"
summary = "the sandbox's probe"

[app]
runtime = "wasm"
run = ["/usr/lib/compose/apps/probe.wasm"]
"#,
    )
    .unwrap();
    std::fs::copy(probe, at("usr/lib/compose/apps/probe.wasm")).unwrap();
    root
}

fn main() {
    let probe = apps::build("probe").expect("the probe builds for wasm32-wasip2");
    let args = vec!["alloc".to_string(), "1".to_string()];
    let grants = Grants::default();
    let cache = tempfile::tempdir().unwrap();

    let start = Instant::now();
    let host = WasmHost::with_cache(Some(cache.path().to_path_buf())).expect("the engine starts");
    let engine = start.elapsed();
    let first = host.run(&probe, &args, &grants, Stdio::Capture).unwrap();
    assert_eq!(first.outcome, Outcome::Exited(0));
    drop(host);
    let host = WasmHost::with_cache(Some(cache.path().to_path_buf())).unwrap();
    let cached = host.run(&probe, &args, &grants, Stdio::Capture).unwrap();
    assert_eq!(cached.outcome, Outcome::Exited(0));
    let (mut starts, mut runs) = (Vec::new(), Vec::new());
    for _ in 0..50 {
        let t = Instant::now();
        let r = host.run(&probe, &args, &grants, Stdio::Capture).unwrap();
        runs.push(t.elapsed());
        assert!(r.warm);
        starts.push(r.started_in);
    }
    println!("engine (pooling allocator, epoch ticker): {engine:?}");
    println!(
        "first start (compile + link + instantiate): {:?}",
        first.started_in
    );
    println!(
        "first start of a new host, compiled code from the disk cache: {:?}",
        cached.started_in
    );
    let warm = median(starts);
    println!("warm start (InstancePre, pooled instance): median {warm:?} of 50");
    println!(
        "whole warm run of `probe alloc 1`: median {:?}",
        median(runs)
    );

    let Some(wasmtime) = wasmtime_cli() else {
        println!(
            "no wasmtime CLI (set COMPOSE_WASMTIME, or run scripts/bench-wasm-start): process comparison left out"
        );
        return;
    };
    let version = Command::new(&wasmtime).arg("--version").output().unwrap();
    let root = device_root(&probe);
    let ours = process_median(|| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_compose-app"));
        c.arg("--root")
            .arg(root.path())
            .args(["run", "app-probe", "--", "alloc", "1"])
            .env("COMPOSE_WASM_CACHE", cache.path());
        c
    });
    let theirs = process_median(|| {
        let mut c = Command::new(&wasmtime);
        c.arg("run").arg(&probe).args(["alloc", "1"]);
        c
    });
    println!(
        "whole process, `probe alloc 1`, caches warm, median of {PROCESS_RUNS} ({}):",
        String::from_utf8_lossy(&version.stdout).trim()
    );
    println!("  compose-app run app-probe: {ours:?}");
    println!("  wasmtime run probe.wasm:   {theirs:?}");
    println!(
        "  ratio compose-app / wasmtime run: {:.2}",
        ours.as_secs_f64() / theirs.as_secs_f64()
    );
    println!(
        "  ratio in-process warm start / wasmtime run: {:.4}",
        warm.as_secs_f64() / theirs.as_secs_f64()
    );
}
