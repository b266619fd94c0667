//! The `compose` command line: parses arguments and hands each command to its file under
//! `commands/` (which calls compose-core); `print` shows the results.

mod commands;
mod print;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use compose_core::{Project, ProjectError, ResolveError};

use commands::*;

/// Compose device-specific OS images from component manifests.
#[derive(Debug, Parser)]
#[command(name = "compose", version, about)]
struct Cli {
    #[command(flatten)]
    globals: Globals,
    #[command(subcommand)]
    command: Command,
}

/// Options every command takes.
#[derive(Debug, clap::Args)]
pub struct Globals {
    /// Project folder (holds manifests/ and devices/); default: the nearest one upward.
    #[arg(long, global = true, value_name = "DIR")]
    project: Option<PathBuf>,
}

impl Globals {
    /// The project: `--project`, or the nearest folder upward that holds one.
    pub fn project(&self) -> Result<Project, CliError> {
        Ok(match &self.project {
            Some(dir) => Project::open(dir)?,
            None => {
                let cwd = std::env::current_dir().map_err(|source| ProjectError::Read {
                    path: ".".into(),
                    source,
                })?;
                Project::discover(&cwd)?
            }
        })
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Resolve a device into an ordered set of components and update compose.lock.
    Resolve(resolve::Args),
    /// Draw the dependency graph of a device.
    Graph(graph::Args),
    /// Explain why a component is in a device's image, and which alternatives were not taken.
    Explain(explain::Args),
    /// List the device profiles.
    Devices(catalog::ListArgs),
    /// List every component version of the catalog.
    Components(catalog::ListArgs),
    /// Build the device's disk image into out/DEVICE/ (disk.raw, other formats, image.json).
    Build(build::Args),
    /// Boot an image in a VM (QEMU, UEFI), or write it to a disk or file and verify it.
    Flash(flash::Args),
    /// First-boot provisioning files (hostname, users, network, files, services).
    Provision(provision::Args),
    /// Show what a built disk image holds, read from the image itself (no mounting).
    Inspect(inspect::Args),
    /// Run apps in a sandbox with only what they are granted (WASI components in wasmtime).
    App(app::Args),
    /// Run and control shells (the compositor and its policy).
    Shell(shell::Args),
    /// Debian closures: what a `deb` source installs, and the same side by side with apt.
    Debs(debs::Args),
    /// Manage the content-addressed store.
    Cache(cache::Args),
    /// The project's update signing keys.
    Keys(update::KeysArgs),
    /// Add the built image of a device to an update repository (a folder of static files
    /// any HTTP server can serve): its slot images in chunks, and a signed release.
    Publish(update::PublishArgs),
    /// The fleet server (devices dial in; rollouts in waves; reboots through etcd) and its
    /// admin commands.
    Fleet(fleet::FleetArgs),
    /// Serve an update repository over HTTP (GET, HEAD, byte ranges) until interrupted.
    Serve(update::ServeArgs),
    /// Check every manifest and device profile (exit 1 when errors are found).
    Validate(catalog::ListArgs),
}

/// How a command ended: 0 ok, 1 a valid "no", 2 an error (already printed).
#[derive(Debug)]
pub enum Outcome {
    Ok,
    No,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("COMPOSE_LOG"))
        .with_writer(std::io::stderr)
        .init();
    // With --json anywhere on the command line, errors are data on stdout as well.
    let json = std::env::args_os().any(|a| a == "--json");
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() && json => {
            print::usage_error_json(&e);
            let _ = e.print();
            return ExitCode::from(2);
        }
        Err(e) => e.exit(),
    };
    match run(cli) {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::No) => ExitCode::from(1),
        Err(e) => {
            if json {
                print::error_json(&e);
            }
            print::error(&e);
            ExitCode::from(2)
        }
    }
}

/// Every failure the CLI reports; printed by `print::error`.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Project(#[from] ProjectError),
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error("compose.lock is out of date for device `{device}`")]
    LockOutdated {
        device: String,
        changes: Vec<compose_core::lock::LockChange>,
    },
    #[error("component `{name}` is not in the catalog")]
    UnknownComponent { name: String, known: Vec<String> },
    #[error(transparent)]
    Graphviz(#[from] compose_core::graph::GraphvizError),
    #[error("cannot write {path}: {source}")]
    Output {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Build(#[from] compose_core::build::BuildError),
    #[error(transparent)]
    Store(#[from] compose_core::store::StoreError),
    #[error(transparent)]
    Inspect(#[from] compose_core::inspect::InspectError),
    #[error(transparent)]
    Flash(#[from] compose_core::flash::FlashError),
    #[error("D-Bus: {0}")]
    Bus(#[from] zbus::Error),
    #[error(transparent)]
    Compositor(#[from] compose_shells::compositor::CompositorError),
    #[error(transparent)]
    ShellDefinition(#[from] compose_shells::definition::DefinitionError),
    #[error("unknown shell `{name}`; shells: {known}")]
    UnknownShell { name: String, known: String },
    #[error("invalid output size `{0}`; write WIDTHxHEIGHT, e.g. 1280x720")]
    BadSize(String),
    #[error("invalid path {path}: {message}")]
    BadPath { path: String, message: String },
    #[error("{0:#}")]
    Other(anyhow::Error),
}

/// Each command with what it needs: the project is found and loaded only for commands
/// that work on one.
fn run(cli: Cli) -> Result<Outcome, CliError> {
    let globals = &cli.globals;
    match cli.command {
        Command::Resolve(args) => resolve::exec(args, globals.project()?),
        Command::Graph(args) => graph::exec(args, globals.project()?),
        Command::Explain(args) => explain::exec(args, globals.project()?),
        Command::Devices(args) => catalog::devices(args, globals.project()?),
        Command::Components(args) => catalog::components(args, globals.project()?),
        Command::Validate(args) => catalog::validate(args, globals.project()?),
        Command::Build(args) => build::exec(args, globals.project()?),
        Command::Flash(args) => flash::exec(args),
        Command::Provision(args) => provision::exec(args),
        Command::Inspect(args) => inspect::exec(args),
        Command::App(args) => app::exec(args, globals),
        Command::Shell(args) => shell::exec(args, globals),
        Command::Debs(args) => debs::exec(args, globals.project()?),
        Command::Cache(args) => cache::exec(args, globals),
        Command::Keys(args) => update::keys(args, globals.project()?),
        Command::Publish(args) => update::publish(args, globals.project()?),
        Command::Fleet(args) => fleet::exec(args),
        Command::Serve(args) => update::serve(args),
    }
}

/// Whether to draw for a person (colors, unicode) rather than for a log.
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}
