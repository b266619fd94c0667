//! Start times of a WASI app in the sandbox (a bench command): the first start (compile,
//! link, instantiate) and warm starts (a prepared `InstancePre` from the pool), from the
//! start request until the app's entry point runs, and a whole short run.
//!
//! Run with `cargo bench -p compose-sandbox --bench start`.

use std::time::{Duration, Instant};

use compose_sandbox::{Grants, Outcome, Stdio, WasmHost, apps};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let probe = apps::build("probe").expect("the probe builds for wasm32-wasip2");
    let args = vec!["alloc".to_string(), "1".to_string()];
    let grants = Grants::default();
    let start = Instant::now();
    let host = WasmHost::new().expect("the engine starts");
    let engine = start.elapsed();
    let first = host.run(&probe, &args, &grants, Stdio::Capture).unwrap();
    assert_eq!(first.outcome, Outcome::Exited(0));
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
        "warm start (InstancePre, pooled instance): median {:?} of 50",
        median(starts)
    );
    println!(
        "whole warm run of `probe alloc 1`: median {:?}",
        median(runs)
    );
}
