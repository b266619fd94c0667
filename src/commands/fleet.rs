//! `compose fleet`: run the fleet server, and talk to one as an admin (devices, groups,
//! rollouts, reboot locks, tokens, commands run through a device's agent).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use compose_fleet::client::Client;
use compose_fleet::server::{self, Config, Tls};
use serde_json::{Value, json};

#[derive(Debug, Args)]
pub struct FleetArgs {
    /// The fleet server's URL.
    #[arg(
        long,
        global = true,
        env = "COMPOSE_FLEET_SERVER",
        default_value = "http://127.0.0.1:8443"
    )]
    server: String,
    /// An API token (`compose fleet serve` writes the first admin token to STATE/admin-token).
    #[arg(
        long,
        global = true,
        env = "COMPOSE_FLEET_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
    /// The CA that issued the server's certificate: keys/tls-ca/ca.pem for one from
    /// `compose keys server-cert`, STATE/tls/cert.pem when it is self-signed.
    #[arg(long, global = true, env = "COMPOSE_FLEET_CA", value_name = "FILE")]
    ca: Option<PathBuf>,
    /// Print the server's answer as JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: FleetCommand,
}

#[derive(Debug, Subcommand)]
enum FleetCommand {
    /// Run the fleet server until interrupted.
    Serve {
        /// Folder of its database (SQLite, unless --database), first admin token and TLS
        /// files.
        #[arg(long, value_name = "DIR", default_value = "fleet-state")]
        state: PathBuf,
        /// A PostgreSQL database the server shares with its replicas
        /// (postgres://USER[:PASSWORD]@HOST:PORT/DATABASE); SQLite in the state folder
        /// when left out.
        #[arg(long, value_name = "URL", env = "COMPOSE_FLEET_DATABASE")]
        database: Option<String>,
        /// Address to listen on. Anything but loopback needs TLS.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8443")]
        listen: std::net::SocketAddr,
        /// The update repository (`compose publish`) to serve under /repo.
        #[arg(long, value_name = "DIR")]
        repo: Option<PathBuf>,
        /// etcd's client URL, for reboot coordination (FleetLock); a cluster's members
        /// comma-separated (a request that cannot reach one goes to the next).
        #[arg(long, value_name = "URL")]
        etcd: Option<String>,
        /// The server's PEM certificate chain (`compose keys server-cert` makes one from the
        /// project's CA, which devices trust).
        #[arg(long, value_name = "FILE", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        #[arg(long, value_name = "FILE", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Make (once) and use a self-signed certificate under STATE/tls/.
        #[arg(long, conflicts_with = "tls_cert")]
        self_signed: bool,
        /// Seconds a reboot slot stays taken by a holder that never frees it.
        #[arg(long, value_name = "SECONDS", default_value_t = 1800)]
        lock_ttl: u64,
        /// Days a device certificate is valid; devices ask for a new one in the last third.
        #[arg(long, value_name = "DAYS", default_value_t = 365, value_parser = clap::value_parser!(u64).range(1..=36500))]
        device_cert_days: u64,
    },
    /// Enrolled devices, and those waiting to be accepted; accept or reject one.
    Devices {
        #[command(subcommand)]
        command: Option<DevicesCommand>,
    },
    /// One device.
    Device { id: String },
    /// Move a device to another group.
    Move { id: String, group: String },
    /// Forget a device (it must enroll again).
    Remove { id: String },
    /// Groups and their policies.
    Groups,
    /// Set a group's policy.
    Group {
        name: String,
        /// At most N devices of the group updating at once.
        #[arg(long, value_name = "N")]
        max_in_flight: Option<u32>,
        /// Start updates only in this daily window, HH:MM-HH:MM UTC ("" for any time).
        #[arg(long, value_name = "WINDOW")]
        window: Option<String>,
        /// At most N devices of the group rebooting at once (FleetLock).
        #[arg(long, value_name = "N")]
        reboot_slots: Option<u32>,
    },
    /// Rollouts of a release to the fleet.
    Rollout {
        #[command(subcommand)]
        command: RolloutCommand,
    },
    /// Who holds reboot slots.
    Locks,
    /// Run a command on a device through its agent's connection, print what it printed.
    Exec {
        device: String,
        #[arg(last = true, required = true)]
        argv: Vec<String>,
        /// Give up waiting after this many seconds.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
    },
    /// API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
}

#[derive(Debug, Subcommand)]
enum DevicesCommand {
    /// Let a device that asked without an enrollment token join GROUP: its certificate is
    /// issued for the key it asked with, and handed over when it asks again.
    Accept {
        id: String,
        #[arg(long)]
        group: String,
        /// The start of the device's key as `compose fleet devices` lists it and the device
        /// logs it (at least 8 hex digits): a request someone else made under the same id
        /// is refused.
        #[arg(long, value_name = "HEX")]
        key: String,
    },
    /// Refuse a device that asked without an enrollment token.
    Reject { id: String },
}

#[derive(Debug, Subcommand)]
enum RolloutCommand {
    /// Start rolling VERSION out.
    Create {
        version: String,
        /// Only to this group (all devices by default).
        #[arg(long)]
        group: Option<String>,
        /// Waves, PERCENT%@OFFSET,...
        #[arg(long, default_value = compose_fleet::schedule::DEFAULT)]
        schedule: String,
        /// Halt when this percent of a wave failed.
        #[arg(long, default_value_t = 5.0)]
        threshold: f64,
    },
    List,
    Show {
        id: i64,
    },
    Pause {
        id: i64,
    },
    Resume {
        id: i64,
    },
    Abort {
        id: i64,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// An admin API token with a role: read, operate or admin.
    Create {
        #[arg(long)]
        role: String,
        #[arg(long)]
        name: String,
    },
    /// An enrollment token for devices joining GROUP.
    Enroll {
        #[arg(long, default_value = "default")]
        group: String,
        /// How many devices may enroll with it.
        #[arg(long, default_value_t = 1)]
        uses: u32,
    },
}

pub fn exec(args: FleetArgs) -> Result<crate::Outcome, crate::CliError> {
    Ok(match run(&args).map_err(crate::CliError::Other)? {
        0 => crate::Outcome::Ok,
        _ => crate::Outcome::No,
    })
}

/// Runs `compose fleet ...`; the exit code is the command's (for `exec`) or 0.
fn run(args: &FleetArgs) -> anyhow::Result<u8> {
    if let FleetCommand::Serve {
        state,
        database,
        listen,
        repo,
        etcd,
        tls_cert,
        tls_key,
        self_signed,
        lock_ttl,
        device_cert_days,
    } = &args.command
    {
        let tls = match (tls_cert, tls_key, self_signed) {
            (Some(cert), Some(key), _) => Tls::Files {
                cert: cert.clone(),
                key: key.clone(),
            },
            (_, _, true) => Tls::SelfSigned,
            _ => Tls::None,
        };
        let config = Config {
            state: state.clone(),
            database: database.clone(),
            listen: *listen,
            repo: repo.clone(),
            etcd: etcd.clone(),
            tls,
            lock_ttl: *lock_ttl,
            device_cert_lifetime: std::time::Duration::from_secs(device_cert_days * 24 * 3600),
        };
        return serve(config);
    }
    let client = Client::new(&args.server, args.token.as_deref(), args.ca.as_deref())?;
    let answer = match &args.command {
        FleetCommand::Serve { .. } => unreachable!("handled above"),
        FleetCommand::Devices { command: None } => client.get("/api/v1/devices")?,
        FleetCommand::Devices {
            command: Some(DevicesCommand::Accept { id, group, key }),
        } => client.post(
            &format!("/api/v1/devices/{id}/accept"),
            &json!({"group": group, "key": key}),
        )?,
        FleetCommand::Devices {
            command: Some(DevicesCommand::Reject { id }),
        } => client.post(&format!("/api/v1/devices/{id}/reject"), &json!({}))?,
        FleetCommand::Device { id } => client.get(&format!("/api/v1/devices/{id}"))?,
        FleetCommand::Move { id, group } => client.put(
            &format!("/api/v1/devices/{id}/group"),
            &json!({"group": group}),
        )?,
        FleetCommand::Remove { id } => client.delete(&format!("/api/v1/devices/{id}"))?,
        FleetCommand::Groups => client.get("/api/v1/groups")?,
        FleetCommand::Group {
            name,
            max_in_flight,
            window,
            reboot_slots,
        } => client.put(
            &format!("/api/v1/groups/{name}"),
            &json!({"max_in_flight": max_in_flight, "window": window, "reboot_slots": reboot_slots}),
        )?,
        FleetCommand::Rollout { command } => match command {
            RolloutCommand::Create {
                version,
                group,
                schedule,
                threshold,
            } => client.post(
                "/api/v1/rollouts",
                &json!({"version": version, "group": group, "schedule": schedule, "threshold": threshold}),
            )?,
            RolloutCommand::List => client.get("/api/v1/rollouts")?,
            RolloutCommand::Show { id } => client.get(&format!("/api/v1/rollouts/{id}"))?,
            RolloutCommand::Pause { id } => {
                client.post(&format!("/api/v1/rollouts/{id}/pause"), &json!({}))?
            }
            RolloutCommand::Resume { id } => {
                client.post(&format!("/api/v1/rollouts/{id}/resume"), &json!({}))?
            }
            RolloutCommand::Abort { id } => {
                client.post(&format!("/api/v1/rollouts/{id}/abort"), &json!({}))?
            }
        },
        FleetCommand::Locks => client.get("/api/v1/locks")?,
        FleetCommand::Exec {
            device,
            argv,
            timeout,
        } => return exec_on_device(&client, device, argv, *timeout, args.json),
        FleetCommand::Token { command } => match command {
            TokenCommand::Create { role, name } => {
                client.post("/api/v1/tokens", &json!({"role": role, "name": name}))?
            }
            TokenCommand::Enroll { group, uses } => client.post(
                "/api/v1/enroll-tokens",
                &json!({"group": group, "uses": uses}),
            )?,
        },
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        print(&args.command, &answer);
    }
    Ok(0)
}

fn serve(config: Config) -> anyhow::Result<u8> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let running = server::start(config.clone()).await?;
        eprintln!("compose fleet: serving on {}", running.url);
        if running.first_admin_token.is_some() {
            eprintln!(
                "compose fleet: first admin token written to {} (give it with --token or COMPOSE_FLEET_TOKEN)",
                config.state.join("admin-token").display()
            );
        }
        if let Some(cert) = &running.certificate {
            eprintln!(
                "compose fleet: self-signed certificate {} (clients: --ca FILE)",
                cert.display()
            );
        }
        match &config.etcd {
            Some(url) => eprintln!("compose fleet: reboot slots on etcd at {url}"),
            None => eprintln!("compose fleet: no --etcd: reboots are not coordinated"),
        }
        tokio::select! {
            r = running.wait() => r.context("the server stopped")?,
            _ = tokio::signal::ctrl_c() => {}
        }
        Ok(0)
    })
}

fn exec_on_device(
    client: &Client,
    device: &str,
    argv: &[String],
    timeout: u64,
    json: bool,
) -> anyhow::Result<u8> {
    let id = client.post(
        &format!("/api/v1/devices/{device}/exec"),
        &json!({"argv": argv}),
    )?["id"]
        .as_i64()
        .context("the server gave no command id")?;
    let deadline = std::time::Instant::now() + Duration::from_secs(timeout);
    loop {
        let exec = client.get(&format!("/api/v1/execs/{id}?wait=30"))?;
        if exec["state"] == "done" {
            if json {
                println!("{}", serde_json::to_string_pretty(&exec)?);
            } else {
                print!("{}", exec["stdout"].as_str().unwrap_or_default());
                eprint!("{}", exec["stderr"].as_str().unwrap_or_default());
            }
            let code = exec["exit_code"].as_i64().unwrap_or(1);
            return Ok(u8::try_from(code).unwrap_or(1));
        }
        if std::time::Instant::now() > deadline {
            anyhow::bail!(
                "device {device} did not run command {id} within {timeout} s ({}): its agent polls when it is online\nhelp: check `compose fleet device {device}` for when it was last seen",
                exec["state"].as_str().unwrap_or("?")
            );
        }
    }
}

fn when(v: &Value) -> String {
    v.as_u64()
        .map(|t| {
            let ago = server::now().saturating_sub(t);
            format!("{} ago", compose_fleet::schedule::format_duration(ago))
        })
        .unwrap_or_default()
}

/// When a device certificate expires, from now.
fn expires(v: &Value) -> String {
    match v.as_u64() {
        None => "-".into(),
        Some(t) => {
            let now = server::now();
            if t <= now {
                format!(
                    "expired {} ago",
                    compose_fleet::schedule::format_duration(now - t)
                )
            } else {
                format!(
                    "expires in {}",
                    compose_fleet::schedule::format_duration(t - now)
                )
            }
        }
    }
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("-")
}

/// A person's view of an answer.
fn print(command: &FleetCommand, v: &Value) {
    match command {
        FleetCommand::Devices { command: None } => {
            println!(
                "{:<24} {:<10} {:<12} {:<10} {:<14} CERTIFICATE",
                "DEVICE", "TYPE", "GROUP", "VERSION", "LAST SEEN"
            );
            for d in v["devices"].as_array().into_iter().flatten() {
                println!(
                    "{:<24} {:<10} {:<12} {:<10} {:<14} {}",
                    s(&d["id"]),
                    s(&d["device"]),
                    s(&d["group"]),
                    s(&d["version"]),
                    when(&d["last_seen"]),
                    expires(&d["cert_expires_at"])
                );
            }
            let pending = v["pending"].as_array().into_iter().flatten();
            for (i, d) in pending.enumerate() {
                if i == 0 {
                    println!(
                        "\nasked to join without a token (`compose fleet devices accept ID --group G --key KEY`):"
                    );
                    println!(
                        "{:<24} {:<10} {:<10} {:<18} LAST SEEN",
                        "DEVICE", "TYPE", "STATE", "KEY"
                    );
                }
                println!(
                    "{:<24} {:<10} {:<10} {:<18} {}",
                    s(&d["id"]),
                    s(&d["device"]),
                    s(&d["state"]),
                    s(&d["key_sha256"]).get(..16).unwrap_or("-"),
                    when(&d["last_seen"])
                );
            }
        }
        FleetCommand::Rollout {
            command: RolloutCommand::List,
        } => {
            for r in v["rollouts"].as_array().into_iter().flatten() {
                print_rollout(r);
            }
        }
        FleetCommand::Rollout { .. } => print_rollout(v),
        FleetCommand::Locks => {
            if v["etcd"].is_null() {
                println!("no etcd: this server coordinates no reboots");
                return;
            }
            for g in v["groups"].as_array().into_iter().flatten() {
                println!("group {}: {} reboot slots", s(&g["group"]), g["slots"]);
            }
            for h in v["holders"].as_array().into_iter().flatten() {
                println!(
                    "{} holds a slot of {} since {} (lease: {} s left)",
                    s(&h["id"]),
                    s(&h["group"]),
                    when(&h["since"]),
                    h["ttl_left"]
                );
            }
        }
        FleetCommand::Token { .. } => {
            println!("{}", s(&v["token"]));
            eprintln!("(shown once: the server keeps only its hash)");
        }
        _ => println!("{}", serde_json::to_string_pretty(v).unwrap_or_default()),
    }
}

fn print_rollout(r: &Value) {
    println!(
        "rollout {} of {} to {}: {}{} — {}/{} devices run it{}",
        r["id"],
        s(&r["version"]),
        r["group"].as_str().unwrap_or("all devices"),
        s(&r["state"]),
        r["note"]
            .as_str()
            .map(|n| format!(" ({n})"))
            .unwrap_or_default(),
        r["running_version"],
        r["devices"],
        if r["complete"] == true {
            ", complete"
        } else {
            ""
        }
    );
    for w in r["waves"].as_array().into_iter().flatten() {
        println!(
            "  wave {} ({}%): {} devices, {} offered, {} in flight, {} booted, {} failed",
            w["wave"],
            w["percent"],
            w["devices"],
            w["offered"],
            w["in_flight"],
            w["booted"],
            w["failed"]
        );
    }
}
