//! compose-update: the device's update agent. `status` says what runs and what boots next;
//! `check` asks the repository for a newer release (verified against the key built into the
//! image); `update` and `deploy VERSION` install one into the slot that did not boot (its
//! boot entry written last, on trial); `rollback` makes the other slot boot next;
//! `download` makes a release's root file system in a file.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use compose_update::agent::{self, Repo, Running};
use compose_update::device::{self, MountedEsp};
use compose_update::install;

mod fleet_agent;

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
    /// Install the newest release into the slot that did not boot; it boots next (on trial:
    /// if it never gets ready, the device falls back to this slot).
    Update {
        #[arg(long)]
        repo: String,
        /// Reboot into it once installed.
        #[arg(long)]
        reboot: bool,
    },
    /// Install VERSION (even an older one) into the slot that did not boot.
    Deploy {
        version: String,
        #[arg(long)]
        repo: String,
        #[arg(long)]
        reboot: bool,
    },
    /// Boot the other slot next (what ran before the last update).
    Rollback {
        #[arg(long)]
        reboot: bool,
    },
    /// Join a fleet server and do what it says, until stopped: enroll once (the credential is
    /// kept in STATE), poll, install what a rollout offers, reboot when FleetLock gives a
    /// slot, report every step, run commands the server queues. Nothing listens.
    Fleet {
        /// The fleet server (http://HOST:PORT or https://...).
        #[arg(long)]
        server: String,
        /// A file holding the enrollment token (needed only until enrolled).
        #[arg(long, value_name = "FILE", default_value = "/etc/compose/fleet-token")]
        enroll_token: PathBuf,
        /// The enrollment token itself, instead of the file.
        #[arg(long, value_name = "TOKEN")]
        token: Option<String>,
        /// Where the device's credential and an update in progress are kept.
        #[arg(
            long,
            value_name = "FILE",
            default_value = "/var/lib/compose/fleet.json"
        )]
        state: PathBuf,
        /// The device's id at enrollment (default: its host name).
        #[arg(long)]
        id: Option<String>,
        /// How long one poll is held open by the server, in seconds.
        #[arg(long, default_value_t = 30)]
        wait: u64,
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

pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn run(args: &Args) -> Result<u8, Box<dyn std::error::Error>> {
    let running = agent::running(&args.root)?;
    match &args.command {
        Command::Status => status(args, &running),
        Command::Update { repo, reboot } => install_release(args, &running, repo, None, *reboot),
        Command::Deploy {
            version,
            repo,
            reboot,
        } => install_release(args, &running, repo, Some(version.as_str()), *reboot),
        Command::Rollback { reboot } => {
            let dev = device::discover()?;
            let mounted = MountedEsp::mount(&dev.esp_partition)?;
            let next = install::boot_next(&mounted.esp, &dev.other.slot)?;
            drop(mounted);
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({
                        "slot": next.entry.slot,
                        "version": next.entry.version,
                        "generation": next.entry.generation,
                    })
                );
            } else {
                println!(
                    "rollback: slot {} ({} {}, generation {}) boots next",
                    next.entry.slot, next.entry.device, next.entry.version, next.entry.generation
                );
            }
            finish(*reboot)
        }
        Command::Fleet {
            server,
            enroll_token,
            token,
            state,
            id,
            wait,
        } => fleet_agent::run(&fleet_agent::Options {
            server: server.trim_end_matches('/').to_string(),
            enroll_token: enroll_token.clone(),
            token: token.clone(),
            state: state.clone(),
            id: id.clone(),
            wait: *wait,
            running: running.clone(),
        }),
        Command::Check { repo } => {
            let offer = agent::check(&Repo::new(repo, &running.tls)?, &running, now(), None)?;
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
            let repo = Repo::new(repo, &running.tls)?;
            let offer = agent::check(&repo, &running, now(), version.as_deref())?;
            let seeds = seed
                .iter()
                .map(|p| std::fs::read(p).map_err(|e| format!("seed {}: {e}", p.display())))
                .collect::<Result<Vec<_>, _>>()?;
            let seeds: Vec<&[u8]> = seeds.iter().map(Vec::as_slice).collect();
            let written = agent::download(&repo, &offer.release.root, &seeds, to)?;
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({
                        "version": offer.release.version,
                        "generation": offer.release.generation,
                        "size": offer.release.root.size,
                        "local_bytes": written.copied + written.in_place,
                        "fetched_bytes": written.fetched,
                        "fetched_wire_bytes": written.fetched_wire,
                        "fetched_chunks": written.fetched_chunks,
                    })
                );
            } else {
                println!(
                    "{} {}: {} bytes, {} copied from this device, {} fetched ({} on the wire)",
                    offer.release.device,
                    offer.release.version,
                    offer.release.root.size,
                    written.copied + written.in_place,
                    written.fetched,
                    written.fetched_wire
                );
            }
            Ok(0)
        }
    }
}

/// What runs, and, on a device, its boot entries in the order they boot.
fn status(args: &Args, running: &Running) -> Result<u8, Box<dyn std::error::Error>> {
    let key = compose_update::keys::key_id(&running.trusted);
    // On a device: the slots' entries. Elsewhere (`--root` of an unpacked image) only what
    // the image says.
    let on_device = args.root == std::path::Path::new("/");
    let boot = if on_device {
        let dev = device::discover()?;
        let mounted = MountedEsp::mount(&dev.esp_partition)?;
        let mut state = install::boot_state(&mounted.esp)?;
        // What dm-verity found reading the booted root, and what the TPM measured.
        let kernel_says = compose_boot::verity::root_state();
        let measured = compose_boot::uki::measured_pcr11();
        for e in &mut state.entries {
            if e.slot == dev.booted {
                if e.verity_root_hash.is_some() {
                    e.verity_state = kernel_says.map(compose_boot::verity::State::as_str);
                }
                e.pcr11_measured = measured.clone();
            }
        }
        Some((dev.booted.clone(), state))
    } else {
        None
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "device": running.device,
                "version": running.version,
                "generation": running.generation,
                "trusted_key": key,
                "booted_slot": boot.as_ref().map(|(slot, _)| slot),
                "boot_order": boot.as_ref().map(|(_, state)| &state.entries),
            }))?
        );
        return Ok(0);
    }
    println!(
        "{} {} (generation {}), trusts update key {key}",
        running.device, running.version, running.generation
    );
    if let Some((booted, state)) = boot {
        for (i, e) in state.entries.iter().enumerate() {
            let role = match (i, e.slot == booted, e.tries_left) {
                (0, true, _) => "booted, boots next",
                (0, false, _) => "staged, boots next",
                (_, _, Some(0)) => "skipped",
                (_, true, _) => "booted, fallback",
                (_, false, _) => "rollback target",
            };
            let tries = match e.tries_left {
                None => "blessed".to_string(),
                Some(0) => "no tries left".to_string(),
                Some(n) => format!("on trial, {n} tries left"),
            };
            let verity = match (&e.verity_root_hash, e.verity_state) {
                (None, _) => "root unchecked (no dm-verity)".to_string(),
                (Some(hash), None) => format!("dm-verity root hash {}…", &hash[..16]),
                (Some(hash), Some(state)) => {
                    format!("dm-verity root hash {}…, {state} so far", &hash[..16])
                }
            };
            println!(
                "slot {}: {} {} (generation {}), {tries}, {verity} [{role}]",
                e.slot, e.device, e.version, e.generation
            );
            if let Some(measured) = &e.pcr11_measured {
                let verdict = match &e.pcr11 {
                    Some(p) if p == measured => "as its entry predicts".to_string(),
                    Some(p) => format!("but its entry predicts {p}"),
                    None => "its entry predicts none".to_string(),
                };
                println!("  PCR 11 measured {measured}, {verdict}");
            }
        }
    }
    Ok(0)
}

/// Installs the newest release (or `version` by name) into the slot that did not boot;
/// `None` when it is the version that runs.
pub(crate) fn install_offer(
    running: &Running,
    repo: &Repo,
    version: Option<&str>,
    step: &mut dyn FnMut(&str),
) -> Result<Option<install::Installed>, Box<dyn std::error::Error>> {
    let offer = agent::check(repo, running, now(), version)?;
    if !offer.newer {
        return Ok(None);
    }
    let dev = device::discover()?;
    let verity = compose_boot::cmdline::parse(&std::fs::read_to_string("/proc/cmdline")?)
        .verity
        .and_then(Result::ok);
    let seed = device::read_root(&dev.booted_partition, verity.as_ref())?;
    let mounted = MountedEsp::mount(&dev.esp_partition)?;
    let done = install::install(
        repo,
        &offer.release,
        &seed,
        &dev.other,
        &mounted.esp,
        version.is_some(),
        step,
    )?;
    drop(mounted);
    Ok(Some(done))
}

/// `update` and `deploy`: the release into the slot that did not boot.
fn install_release(
    args: &Args,
    running: &Running,
    repo: &str,
    version: Option<&str>,
    reboot: bool,
) -> Result<u8, Box<dyn std::error::Error>> {
    let started = std::time::Instant::now();
    let repo = Repo::new(repo, &running.tls)?;
    let Some(done) = install_offer(running, &repo, version, &mut |step| {
        eprintln!("compose-update: {step}")
    })?
    else {
        println!("up to date: {} {}", running.device, running.version);
        return Ok(0);
    };
    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        let mut report = serde_json::to_value(&done)?;
        report["seconds"] = seconds.into();
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "installed {} {} (generation {}) in slot {}: root {} bytes fetched ({} on the wire), {} copied, {} already in place, in {seconds:.1} s; it boots next, on trial",
            done.device,
            done.version,
            done.generation,
            done.slot,
            done.root.fetched,
            done.root.fetched_wire,
            done.root.copied,
            done.root.in_place
        );
    }
    finish(reboot)
}

/// Reboots when asked to; otherwise says how the change takes effect.
fn finish(reboot: bool) -> Result<u8, Box<dyn std::error::Error>> {
    if reboot {
        println!("rebooting");
        device::reboot()?;
    } else {
        println!("reboot to use it");
    }
    Ok(0)
}
