//! compose-wayland-fuzz SECONDS [FIRST_SEED]: for SECONDS, one client after another connects
//! to `$WAYLAND_DISPLAY` (in `$XDG_RUNTIME_DIR`) and sends 200 random but well-formed
//! requests (seeded: seed N sends the same requests every time), then a fresh client checks
//! that the compositor still answers. Prints what each seed did; exits 1 naming the seed
//! after which the compositor stopped answering. `scripts/fuzz wayland` runs it against a
//! headless shell.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use compose_testclient::Client;

const STEPS: usize = 200;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
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
