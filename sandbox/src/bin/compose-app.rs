//! compose-app: runs the apps of a device's image with only what their manifests grant,
//! WASI components in wasmtime and native apps through crun (the `app-runtime`
//! component). Services and task bar launchers start apps with `compose-app run NAME`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use compose_sandbox::device::{self, Runs};
use compose_sandbox::{launch, running};

#[derive(Debug, Parser)]
#[command(name = "compose-app", version, about)]
struct Args {
    /// The image's root (the apps' descriptions, components and root file systems are
    /// under it).
    #[arg(long, value_name = "DIR", default_value = "/", global = true)]
    root: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run app NAME in the foreground with its manifest's grants.
    Run {
        name: String,
        /// Print a report as JSON (the app's output captured in it).
        #[arg(long)]
        json: bool,
        /// More arguments for the app (after `--`).
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// The apps of this image and what each is granted.
    List {
        #[arg(long)]
        json: bool,
    },
    /// The apps running now, with the ids `stop` takes.
    Ps {
        #[arg(long)]
        json: bool,
    },
    /// Stop a running app.
    Stop { id: u32 },
}

/// Where container bundles are made while their apps run.
const BUNDLES: &str = "/run/compose-apps";

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("compose-app: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> Result<u8, Box<dyn std::error::Error>> {
    match &args.command {
        Command::Run {
            name,
            json,
            args: extra,
        } => {
            let app = device::load(&args.root, name)?;
            let grants = app.grants(&args.root)?;
            let code = match app.runs(&args.root) {
                Runs::Wasm {
                    file,
                    args: mut run,
                } => {
                    run.extend(extra.iter().cloned());
                    launch::run_wasm(name, &file, &run, &grants, *json)?
                }
                Runs::Container { rootfs, run } => {
                    let config = app.image_config(&args.root)?;
                    let process = compose_sandbox::container::Process::for_app(
                        name,
                        &rootfs,
                        run,
                        extra,
                        config.as_ref(),
                    )?;
                    launch::run_container(name, &rootfs, &process, &grants, *json, &bundles())?
                }
            };
            Ok(code as u8)
        }
        Command::List { json } => {
            let mut rows = Vec::new();
            let mut failed = false;
            for app in device::list(&args.root) {
                match app {
                    Ok(a) => {
                        let mut row = launch::describe(&a.name, &a.app);
                        row["summary"] = a.summary.into();
                        rows.push(row);
                    }
                    Err(e) => {
                        eprintln!("compose-app: {e}");
                        failed = true;
                    }
                }
            }
            if *json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for r in &rows {
                    println!(
                        "{:<24} {:<9} {}",
                        r["name"].as_str().unwrap_or(""),
                        r["runtime"].as_str().unwrap_or(""),
                        r["summary"].as_str().unwrap_or("")
                    );
                }
            }
            Ok(if failed { 1 } else { 0 })
        }
        Command::Ps { json } => {
            launch::print_running(*json);
            Ok(0)
        }
        Command::Stop { id } => {
            let e = running::stop(*id)?;
            eprintln!("compose-app: stopped {} ({})", e.app, e.id);
            Ok(0)
        }
    }
}

/// The folder for bundles: `/run/compose-apps` as root, the runtime folder otherwise.
fn bundles() -> PathBuf {
    if rustix::process::getuid().is_root() {
        PathBuf::from(BUNDLES)
    } else {
        running::folder().join("bundles")
    }
}
