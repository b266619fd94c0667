//! compose-update: the device's update agent. `status` says what runs; `check` asks the
//! repository for a newer release (verified against the key built into the image);
//! `download` makes that release's root file system from the device's own slots plus the
//! chunks they lack. Writing the inactive slot and its boot entry is not here yet.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use compose_update::agent::{self, Repo};

#[derive(Debug, Parser)]
#[command(name = "compose-update", version, about)]
struct Args {
    /// The image's root (its image.json and trusted key are under it).
    #[arg(long, value_name = "DIR", default_value = "/", global = true)]
    root: PathBuf,
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// What runs: device, version, generation, the trusted key.
    Status,
    /// Whether the repository has a newer release for this device (exit 0: yes, 1: no).
    Check {
        /// The repository's URL (http://HOST:PORT/PATH).
        #[arg(long)]
        repo: String,
    },
    /// Make the root file system of the newest release (or VERSION) at FILE.
    Download {
        #[arg(long)]
        repo: String,
        /// Where the image goes (written aside, renamed when whole and checked).
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
        /// Images the device already has (its slots): their chunks are not fetched.
        #[arg(long, value_name = "FILE")]
        seed: Vec<PathBuf>,
        /// A version by name, even an older one (deploy).
        #[arg(long)]
        version: Option<String>,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("compose-update: {e}");
            ExitCode::from(2)
        }
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn run(args: &Args) -> Result<u8, Box<dyn std::error::Error>> {
    let running = agent::running(&args.root)?;
    match &args.command {
        Command::Status => {
            let key = compose_update::keys::key_id(&running.trusted);
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({
                        "device": running.device,
                        "version": running.version,
                        "generation": running.generation,
                        "trusted_key": key,
                    })
                );
            } else {
                println!(
                    "{} {} (generation {}), trusts update key {key}",
                    running.device, running.version, running.generation
                );
            }
            Ok(0)
        }
        Command::Check { repo } => {
            let offer = agent::check(&Repo::new(repo), &running, now(), None)?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&offer)?);
            } else if offer.newer {
                println!(
                    "update: {} {} (generation {}), {} bytes of root file system",
                    offer.release.device,
                    offer.release.version,
                    offer.release.generation,
                    offer.release.root.size
                );
            } else {
                println!("up to date: {}", running.version);
            }
            Ok(if offer.newer { 0 } else { 1 })
        }
        Command::Download {
            repo,
            to,
            seed,
            version,
        } => {
            let repo = Repo::new(repo);
            let offer = agent::check(&repo, &running, now(), version.as_deref())?;
            let seeds = seed
                .iter()
                .map(|p| std::fs::read(p).map_err(|e| format!("seed {}: {e}", p.display())))
                .collect::<Result<Vec<_>, _>>()?;
            let seeds: Vec<&[u8]> = seeds.iter().map(Vec::as_slice).collect();
            let plan = agent::download(&repo, &offer.release.root, &seeds, to)?;
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({
                        "version": offer.release.version,
                        "generation": offer.release.generation,
                        "size": offer.release.root.size,
                        "local_bytes": plan.local_bytes,
                        "fetched_bytes": plan.fetch_bytes,
                        "fetched_chunks": plan.fetch.len(),
                    })
                );
            } else {
                println!(
                    "{} {}: {} bytes, {} copied from this device, {} fetched",
                    offer.release.device,
                    offer.release.version,
                    offer.release.root.size,
                    plan.local_bytes,
                    plan.fetch_bytes
                );
            }
            Ok(0)
        }
    }
}
