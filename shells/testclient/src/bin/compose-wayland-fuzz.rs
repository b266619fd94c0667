//! compose-wayland-fuzz SECONDS [FIRST_SEED]: for SECONDS, one client after another connects
//! to `$WAYLAND_DISPLAY` (in `$XDG_RUNTIME_DIR`) and sends 200 random but well-formed
//! requests (seeded: seed N sends the same requests every time), then a fresh client checks
//! that the compositor still answers. Prints what each seed did; exits 1 naming the seed
//! after which the compositor stopped answering. `scripts/fuzz wayland` runs it against a
//! headless shell.
//!
//! compose-wayland-fuzz flood CLIENTS SURFACES HOLD_SECONDS: CLIENTS clients each make
//! SURFACES surfaces (at most the compositor's per-client limit), hold them HOLD_SECONDS,
//! then disconnect together (`scripts/bench-flood` times the shell's D-Bus meanwhile).

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use compose_testclient::Client;

const STEPS: usize = 200;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("flood") {
        return flood(&args[1..]);
    }
    let seconds: u64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(60);
    let first: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1);
    let display = std::env::var("WAYLAND_DISPLAY").unwrap_or_else(|_| "wayland-0".into());
    let runtime = std::env::var("XDG_RUNTIME_DIR").unwrap_or_else(|_| "/tmp".into());
    let runtime = Path::new(&runtime);
    let start = Instant::now();
    let (mut clients, mut steps, mut ended) = (0u64, 0usize, 0u64);
    let mut seed = first;
    while start.elapsed() < Duration::from_secs(seconds) {
        let mut client = match Client::connect(runtime, &display) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("seed {seed}: cannot connect: {e}");
                return ExitCode::FAILURE;
            }
        };
        match client.random_requests(seed, STEPS) {
            Ok(n) => {
                steps += n;
                if let Some(e) = client.protocol_error() {
                    ended += 1;
                    println!("seed {seed}: {n} steps, then ended by the compositor: {e:?}");
                }
            }
            Err(e) => {
                println!(
                    "seed {seed}: the client failed: {e} ({})",
                    client.connection_error().unwrap_or_default()
                );
            }
        }
        drop(client);
        // The compositor still answers a new client.
        let alive = Client::connect(runtime, &display).and_then(|mut c| c.roundtrip());
        if let Err(e) = alive {
            eprintln!("the compositor stopped answering after seed {seed}: {e}");
            return ExitCode::FAILURE;
        }
        clients += 1;
        seed += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{clients} clients (seeds {first}..{}), {steps} steps, {:.0} steps/s, {ended} ended by a protocol error; the compositor answered after each",
        seed.saturating_sub(1),
        steps as f64 / secs
    );
    ExitCode::SUCCESS
}

fn flood(args: &[String]) -> ExitCode {
    let arg = |i: usize, default: u64| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(default);
    let (clients, surfaces, hold) = (arg(0, 10), arg(1, 10_000) as usize, arg(2, 10));
    let display = std::env::var("WAYLAND_DISPLAY").unwrap_or_else(|_| "wayland-0".into());
    let runtime = std::env::var("XDG_RUNTIME_DIR").unwrap_or_else(|_| "/tmp".into());
    let start = Instant::now();
    let mut held = Vec::new();
    for n in 0..clients {
        let made = Client::connect(Path::new(&runtime), &display).and_then(|mut c| {
            c.misbehave_many_surfaces(surfaces, false)?;
            c.roundtrip()?;
            Ok(c)
        });
        match made {
            Ok(c) => held.push(c),
            Err(e) => {
                eprintln!("client {n}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!(
        "holding {} surfaces in {clients} clients (made in {:.1} s)",
        clients as usize * surfaces,
        start.elapsed().as_secs_f64()
    );
    std::thread::sleep(Duration::from_secs(hold));
    let gone = Instant::now();
    drop(held);
    println!("disconnected all ({:.3} s)", gone.elapsed().as_secs_f64());
    ExitCode::SUCCESS
}
