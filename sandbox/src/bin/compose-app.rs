//! compose-app: runs the apps of a device's image with only what their manifests grant,
//! WASI components in wasmtime and native apps through crun (the `app-runtime`
//! component). Services and task bar launchers start apps with `compose-app run NAME`.
//! Images pulled while the device runs (`compose-app pull IMAGE`, kept under
//! /var/lib/compose/images) run with the grants given on the command line, as Container
//! Linux runs what it pulls: `compose-app run docker://HOST/NAME@sha256:... --allow ...`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use compose_sandbox::device::{self, Runs};
use compose_sandbox::{launch, pulled, running};

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
    /// Run app NAME in the foreground with its manifest's grants, or a pulled image
    /// (as `images` names it, or its digest) with only the grants given here.
    Run {
        name: String,
        /// For a pulled image, a grant: read=HOST[:GUEST], write=HOST[:GUEST],
        /// connect=IP:PORT (or IP:*), lookup, env=NAME=VALUE, gui; repeatable, nothing is
        /// granted by default. An app's grants are its manifest's.
        #[arg(long, value_name = "GRANT")]
        allow: Vec<String>,
        /// For a pulled image, the memory it may use (64M, 1G); 256M by default.
        #[arg(long, value_name = "SIZE")]
        memory: Option<String>,
        /// Print a report as JSON (the app's output captured in it).
        #[arg(long)]
        json: bool,
        /// More arguments for the app (after `--`).
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Pull an OCI image onto this device (docker://HOST/NAME@sha256:..., a tag, or
    /// oci:FOLDER[:TAG], oci-archive:FILE): every blob checked, blobs shared between
    /// images, kept on /var. Credentials as skopeo and docker keep them
    /// ($REGISTRY_AUTH_FILE, ~/.docker/config.json).
    Pull {
        image: String,
        /// A CA certificate (PEM) to trust for the registry, besides the web's roots
        /// (default: $COMPOSE_REGISTRY_CA).
        #[arg(long, value_name = "FILE")]
        ca: Option<PathBuf>,
    },
    /// The images pulled onto this device.
    Images {
        #[arg(long)]
        json: bool,
    },
    /// Forget a pulled image (`gc` then frees what only it used).
    Remove { image: String },
    /// Remove the roots and blobs of pulled images no name leads to any more.
    Gc {
        #[arg(long)]
        json: bool,
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
            allow,
            memory,
            json,
            args: extra,
        } => {
            if compose_oci::ImageRef::looks_like(name) || name.starts_with("sha256:") {
                return run_pulled(args, name, allow, memory.as_deref(), *json, extra);
            }
            if !allow.is_empty() || memory.is_some() {
                return Err(format!(
                    "app `{name}` runs with its manifest's grants; --allow and --memory are for pulled images"
                )
                .into());
            }
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
        Command::Pull { image, ca } => {
            let at = compose_oci::ImageRef::parse(image)?;
            let mut access = compose_oci::Access::from_env();
            if let Some(ca) = ca {
                access.ca = Some(ca.clone());
            }
            let pulled =
                pulled_images(args).pull(&at, &access, &|m| eprintln!("compose-app: {m}"))?;
            if let Some(r) = &pulled.report {
                eprintln!(
                    "compose-app: {} blobs fetched ({:.1} MB), {} already here",
                    r.fetched,
                    r.fetched_bytes as f64 / 1e6,
                    r.reused
                );
            }
            println!("{} {}", pulled.image.digest, pulled.image.name);
            Ok(0)
        }
        Command::Images { json } => {
            let images = pulled_images(args).list()?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&images)?);
            } else {
                for i in &images {
                    println!(
                        "{:<20} {:>9.1} MB  {}",
                        &i.digest[..i.digest.len().min(19)],
                        i.layer_bytes as f64 / 1e6,
                        i.name
                    );
                }
            }
            Ok(0)
        }
        Command::Remove { image } => {
            let removed = pulled_images(args).remove(image)?;
            eprintln!(
                "compose-app: forgot {} ({}); `compose-app gc` frees its space",
                removed.name, removed.digest
            );
            Ok(0)
        }
        Command::Gc { json } => {
            let c = pulled_images(args).gc()?;
            if *json {
                println!("{}", serde_json::to_string(&c)?);
            } else {
                println!(
                    "removed {} image roots and {} blobs ({:.1} MB)",
                    c.roots,
                    c.blobs,
                    c.bytes as f64 / 1e6
                );
            }
            Ok(0)
        }
    }
}

/// The pulled images of the image at `--root`.
fn pulled_images(args: &Args) -> pulled::Images {
    pulled::Images::at(args.root.join(pulled::PULLED.trim_start_matches('/')))
}

/// Runs pulled image `name` in the foreground with its config's defaults and only the
/// grants given.
fn run_pulled(
    args: &Args,
    name: &str,
    allow: &[String],
    memory: Option<&str>,
    json: bool,
    extra: &[String],
) -> Result<u8, Box<dyn std::error::Error>> {
    let image = pulled_images(args).find(name)?;
    let grants = compose_sandbox::Grants::default().with_options(allow, memory, None)?;
    let process = compose_sandbox::container::Process::for_app(
        &image.name,
        &image.rootfs,
        Vec::new(),
        extra,
        Some(&image.config),
    )?;
    let short = compose_oci::ImageRef::parse(&image.name)
        .map(|r| r.short_name())
        .unwrap_or_else(|_| "image".into());
    let code = launch::run_container(&short, &image.rootfs, &process, &grants, json, &bundles())?;
    Ok(code as u8)
}

/// The folder for bundles: `/run/compose-apps` as root, the runtime folder otherwise.
fn bundles() -> PathBuf {
    if rustix::process::getuid().is_root() {
        PathBuf::from(BUNDLES)
    } else {
        running::folder().join("bundles")
    }
}
