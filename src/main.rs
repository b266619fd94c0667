//! The `compose` command line: parses arguments, calls compose-core, prints results.

mod app;
mod debs;
mod fleet;
mod print;
mod update;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use compose_core::store::Store;
use compose_core::{Project, ProjectError, ResolveError, ResolveOptions, graph, resolve};

/// Compose device-specific OS images from component manifests.
#[derive(Debug, Parser)]
#[command(name = "compose", version, about)]
struct Cli {
    /// Project folder (holds manifests/ and devices/); default: the nearest one upward.
    #[arg(long, global = true, value_name = "DIR")]
    project: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Resolve a device into an ordered set of components and update compose.lock.
    Resolve {
        #[command(flatten)]
        device: DeviceArg,
        /// Fail (exit 2) instead of changing compose.lock.
        #[arg(long)]
        locked: bool,
        /// Ignore the versions pinned in compose.lock and take the newest that fit (Debian
        /// packages included: the next build pins what apt offers then).
        #[arg(long, conflicts_with = "locked")]
        upgrade: bool,
        #[arg(long)]
        json: bool,
    },
    /// Draw the dependency graph of a device.
    Graph {
        #[command(flatten)]
        device: DeviceArg,
        #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
        format: GraphFormat,
        /// Write to this file instead of standard output.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Explain why a component is in a device's image, and which alternatives were not taken.
    Explain {
        component: String,
        #[command(flatten)]
        device: DeviceArg,
        #[arg(long)]
        json: bool,
    },
    /// List the device profiles.
    Devices {
        #[arg(long)]
        json: bool,
    },
    /// List every component version of the catalog.
    Components {
        #[arg(long)]
        json: bool,
    },
    /// Build the device's disk image into out/DEVICE/ (disk.raw, other formats, image.json).
    Build {
        #[command(flatten)]
        device: DeviceArg,
        #[command(flatten)]
        store: StoreArg,
        /// Output folder; the image goes to OUT/DEVICE/.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Fail (exit 2), before anything is written, instead of changing compose.lock.
        #[arg(long)]
        locked: bool,
        /// The image's generation: devices update only to higher ones. Default: the
        /// build's epoch (SOURCE_DATE_EPOCH), so builds of later commits are newer.
        #[arg(long, value_name = "N")]
        generation: Option<u64>,
        /// Only plan: resolve, solve the Debian closures, check the lock; print the packages
        /// each component installs and build nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// Boot an image in a VM (QEMU, UEFI), or write it to a disk or file and verify it.
    Flash {
        image: PathBuf,
        /// Boot it in QEMU with UEFI firmware and the serial console on stdout.
        #[arg(long, conflicts_with = "to", required_unless_present = "to")]
        vm: bool,
        /// Write it to this block device or file, then read it back and verify it.
        #[arg(long, value_name = "PATH")]
        to: Option<PathBuf>,
        /// VM memory in MiB [default: 512, 1536 for an image with a display].
        #[arg(long)]
        memory: Option<u32>,
        #[arg(long, default_value_t = 2)]
        cpus: u32,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
        /// Exit 0 as soon as the image prints its readiness line.
        #[arg(long)]
        until_ready: bool,
        /// Also write the console to FILE.
        #[arg(long, value_name = "FILE")]
        serial: Option<PathBuf>,
        /// Boot the image file itself (its /var and boot counters change) instead of an overlay.
        #[arg(long)]
        in_place: bool,
        /// The VM's screen: a QEMU window, headless (read it with QMP screendump), or none.
        /// Default: images of devices with a display get a window on a desktop, else headless.
        #[arg(long, value_enum, requires = "vm")]
        display: Option<DisplayArg>,
        /// The display adapter: virtio (virtio-vga) or std (-vga std, the bochs driver).
        #[arg(long, value_enum, default_value = "virtio", requires = "vm")]
        gpu: GpuArg,
        /// Put QMP's socket (qmp.sock) and the shell's control port (shell.sock) in DIR,
        /// for `compose shell --vm DIR ...` and QMP clients.
        #[arg(long, value_name = "DIR", requires = "vm")]
        sockets: Option<PathBuf>,
        /// Type into the serial console: QEMU reads this command's standard input.
        #[arg(long, requires = "vm")]
        console: bool,
        /// Provision the first boot: with --vm, a provisioning file (checked first, then
        /// packed into a NoCloud CIDATA drive) or a CIDATA drive image, attached as a second
        /// disk; with --to, a provisioning file, checked, then copied onto the ESP.
        #[arg(long, value_name = "FILE")]
        provision: Option<PathBuf>,
        /// Forward 127.0.0.1:HOST into the VM's port GUEST (TCP), e.g. 2222:22 for SSH.
        #[arg(long, value_name = "HOST:GUEST", value_parser = parse_forward, requires = "vm")]
        forward: Vec<(u16, u16)>,
        #[arg(long)]
        json: bool,
    },
    /// First-boot provisioning files (hostname, users, network, files, services).
    Provision {
        #[command(subcommand)]
        command: ProvisionCommand,
    },
    /// Show what a built disk image holds, read from the image itself (no mounting).
    Inspect {
        image: PathBuf,
        /// Also list the files of this root slot (a or b).
        #[arg(long, value_name = "SLOT")]
        files: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Run apps in a sandbox with only what they are granted (WASI components in wasmtime).
    App {
        #[command(subcommand)]
        command: app::AppCommand,
    },
    /// Run and control shells (the compositor and its policy).
    Shell {
        #[command(subcommand)]
        command: ShellCommand,
    },
    /// Debian closures: what a `deb` source installs, and the same side by side with apt.
    Debs {
        #[command(subcommand)]
        command: debs::DebsCommand,
    },
    /// Manage the content-addressed store.
    Cache {
        #[command(subcommand)]
        command: CacheCommand,
    },
    /// The project's update signing keys.
    Keys {
        #[command(subcommand)]
        command: update::KeysCommand,
    },
    /// Add the built image of a device to an update repository (a folder of static files
    /// any HTTP server can serve): its slot images in chunks, and a signed release.
    Publish {
        #[command(flatten)]
        device: DeviceArg,
        /// The repository folder (made if missing).
        repo: PathBuf,
        /// Where the image was built (`compose build --out`); the image is OUT/DEVICE/.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// The secret key to sign with; default keys/update.key of the project.
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
        /// Days until devices refuse the release (publish again to renew it); at least 1.
        #[arg(long, value_name = "DAYS", default_value_t = 30,
              value_parser = clap::value_parser!(u64).range(1..=36500))]
        valid_days: u64,
        #[arg(long)]
        json: bool,
    },
    /// The fleet server (devices dial in; rollouts in waves; reboots through etcd) and its
    /// admin commands.
    Fleet(fleet::FleetArgs),
    /// Serve an update repository over HTTP (GET, HEAD, byte ranges) until interrupted.
    Serve {
        repo: PathBuf,
        /// Address to listen on; loopback by default (port 0: any free port).
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
    },
    /// Check every manifest and device profile (exit 1 when errors are found).
    Validate {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum ProvisionCommand {
    /// Check a provisioning file: every problem with its line and column, exit 1 if any.
    Check {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

/// `HOST:GUEST` port numbers for `--forward`.
fn parse_forward(s: &str) -> Result<(u16, u16), String> {
    let (host, guest) = s
        .split_once(':')
        .ok_or_else(|| format!("`{s}` is not HOST:GUEST (e.g. 2222:22)"))?;
    let port = |p: &str| {
        p.parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("`{p}` is not a port number (1-65535)"))
    };
    Ok((port(host)?, port(guest)?))
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum DisplayArg {
    Window,
    Headless,
    None,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum GpuArg {
    Virtio,
    Std,
}

#[derive(Debug, clap::Args)]
struct DeviceArg {
    /// Device profile name (see `compose devices`).
    #[arg(long, short, default_value = "laptop")]
    device: String,
}

#[derive(Debug, Subcommand)]
enum ShellCommand {
    /// Run the compositor with a shell: in a window on your desktop (--nested, the default
    /// when DISPLAY or WAYLAND_DISPLAY is set) or offscreen (--headless WxH). Clients
    /// connect to Wayland socket NAME.
    Run {
        /// desktop, gaming or tablet.
        #[arg(long, default_value = "desktop")]
        shell: String,
        /// Render offscreen at WIDTHxHEIGHT (logical pixels).
        #[arg(long, value_name = "WxH", conflicts_with = "nested")]
        headless: Option<String>,
        /// Open a window in the current X11 or Wayland session.
        #[arg(long)]
        nested: bool,
        /// Initial window size of --nested, WIDTHxHEIGHT.
        #[arg(long, value_name = "WxH", default_value = "1280x720")]
        size: String,
        /// Integer output scale (2 for HiDPI).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=4))]
        scale: u32,
        /// Wayland socket name, created in $XDG_RUNTIME_DIR.
        #[arg(long, value_name = "NAME", default_value = "compose-0")]
        socket: String,
        /// Start an app in the shell once it runs (a shell command line; repeatable). Apps
        /// get this compositor's WAYLAND_DISPLAY, never the host's.
        #[arg(long, value_name = "COMMAND")]
        exec: Vec<String>,
        /// An app on the task bar: NAME=COMMAND (a shell command line; repeatable). The
        /// project's apps granted a GUI are there too (`compose app run NAME`).
        #[arg(long, value_name = "NAME=COMMAND")]
        launcher: Vec<String>,
        /// Also load shell definitions (`*.toml`: [shell] name, summary, layout, parts)
        /// from DIR; they can be run and swapped to like the built-in ones.
        #[arg(long, value_name = "DIR")]
        shells: Option<PathBuf>,
        /// Take org.compose.Shell1 over from a shell that already serves it on the bus.
        #[arg(long)]
        replace: bool,
        /// No Xwayland even when it is installed (X11 apps then cannot start).
        #[arg(long)]
        no_xwayland: bool,
        /// Who draws: pixman on the CPU, wgpu on the GPU, or auto (the CPU renderer when
        /// wgpu finds no adapter or only a CPU one such as lavapipe). --nested is wgpu.
        #[arg(long, value_enum, default_value = "auto")]
        renderer: compose_shells::render::RendererChoice,
        #[command(flatten)]
        bus: BusArg,
    },
    /// Swap the running shell; every window stays.
    Swap {
        shell: String,
        #[command(flatten)]
        bus: ShellTarget,
    },
    /// List the running shell's windows (* marks the focused one).
    Windows {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        bus: ShellTarget,
    },
    /// Frames drawn by the running shell, their mean and longest time, its CPU time.
    Stats {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        bus: ShellTarget,
    },
    /// Save the running shell's current frame as a PNG file.
    Screenshot {
        file: PathBuf,
        #[command(flatten)]
        bus: ShellTarget,
    },
}

#[derive(Debug, clap::Args)]
struct BusArg {
    /// D-Bus address (default: the session bus).
    #[arg(long, value_name = "ADDRESS")]
    bus: Option<String>,
}

/// Which running shell a request goes to.
#[derive(Debug, clap::Args)]
struct ShellTarget {
    /// D-Bus address (default: the session bus).
    #[arg(long, value_name = "ADDRESS")]
    bus: Option<String>,
    /// The shell of a VM started with `compose flash --vm --sockets DIR`, reached through
    /// its virtio-serial port instead of D-Bus.
    #[arg(long, value_name = "DIR", conflicts_with = "bus")]
    vm: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum CacheCommand {
    /// Remove what no lock file or output of this project references.
    Gc {
        #[command(flatten)]
        store: StoreArg,
        /// Keep what any project's build used within this many days (the store is shared).
        #[arg(long, value_name = "DAYS", default_value_t = 30)]
        max_age: u64,
        #[arg(long)]
        json: bool,
    },
    /// Re-hash every blob of the store and check every recorded build step; exits 1 when
    /// something is corrupt.
    Verify {
        #[command(flatten)]
        store: StoreArg,
        /// Remove corrupt blobs and the build steps that lead to them (the next build fetches
        /// or makes them again).
        #[arg(long)]
        repair: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, clap::Args)]
struct StoreArg {
    /// The store folder (default: $COMPOSE_STORE, else ~/.cache/compose).
    #[arg(long, value_name = "DIR")]
    store: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum GraphFormat {
    Dot,
    Svg,
}

/// How a command ended: 0 ok, 1 a valid "no", 2 an error (already printed).
enum Outcome {
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
    Graphviz(#[from] graph::GraphvizError),
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

fn project(cli: &Cli) -> Result<Project, CliError> {
    Ok(match &cli.project {
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

/// `compose shell ...`: the compositor in the foreground, or requests over D-Bus.
fn shell(command: &ShellCommand, project: Option<&Project>) -> Result<Outcome, CliError> {
    use compose_shells::{compositor, control, definition};
    match command {
        ShellCommand::Run {
            shell,
            headless,
            nested,
            size,
            scale,
            socket,
            exec,
            launcher,
            shells,
            replace,
            no_xwayland,
            renderer,
            bus,
        } => {
            let shells = match shells {
                Some(dir) => definition::with_dir(dir)?,
                None => definition::builtin(),
            };
            let def = definition::find(&shells, shell).cloned().ok_or_else(|| {
                CliError::UnknownShell {
                    name: shell.clone(),
                    known: definition::names(&shells),
                }
            })?;
            let has_host = std::env::var_os("DISPLAY").is_some()
                || std::env::var_os("WAYLAND_DISPLAY").is_some();
            let backend = match headless {
                Some(wxh) => {
                    let (width, height) = parse_size(wxh)?;
                    compositor::BackendChoice::Headless { width, height }
                }
                None if *nested || has_host => {
                    let (width, height) = parse_size(size)?;
                    compositor::BackendChoice::Nested { width, height }
                }
                None => {
                    eprintln!(
                        "compose shell: no DISPLAY or WAYLAND_DISPLAY; running headless at {size}"
                    );
                    let (width, height) = parse_size(size)?;
                    compositor::BackendChoice::Headless { width, height }
                }
            };
            let (sender, commands) =
                compose_shells::smithay::reexports::calloop::channel::channel();
            let _bus = match control::serve(bus.bus.as_deref(), sender, shells.clone(), *replace) {
                Err(zbus::Error::NameTaken) => {
                    return Err(CliError::Other(anyhow::anyhow!(
                        "another shell already serves {} on this bus; stop it first, or take its name over with --replace",
                        control::BUS_NAME
                    )));
                }
                other => other?,
            };
            eprintln!(
                "compose shell: {} on WAYLAND_DISPLAY={socket} ({backend:?}), controlled at {}",
                def.name,
                control::BUS_NAME
            );
            let apps = exec.clone();
            let app_socket = socket.clone();
            let options = compositor::Options {
                socket: socket.clone(),
                shell: def,
                backend,
                scale: *scale,
                swap_wait: compositor::SWAP_WAIT,
                game_mode: definition::find(&shells, "gaming").cloned(),
                xwayland: !*no_xwayland && compose_shells::autostart::xwayland_installed(),
                draw_cursor: false,
                blank_after: None,
                launchers: launchers(launcher, project)?,
                renderer: *renderer,
            };
            let mut children = Vec::new();
            let result = compositor::run_with(options, commands, |x_display| {
                if let Some(n) = x_display {
                    eprintln!(
                        "compose shell: X11 apps on DISPLAY=:{n} (Xwayland starts with the first)"
                    );
                }
                for app in &apps {
                    match start_app(app, &app_socket, x_display) {
                        Ok(child) => children.push(child),
                        Err(e) => eprintln!("compose shell: cannot start `{app}`: {e}"),
                    }
                }
            });
            for mut child in children {
                let _ = child.kill();
                let _ = child.wait();
            }
            result?;
        }
        ShellCommand::Swap { shell, bus } => match &bus.vm {
            Some(dir) => {
                remote(
                    dir,
                    compose_shells::remote::Ask::Swap {
                        shell: shell.clone(),
                    },
                )?;
            }
            None => {
                let connection = control::connect(bus.bus.as_deref())?;
                control::swap(&connection, shell)?;
            }
        },
        ShellCommand::Windows { json, bus } => {
            let rows = match &bus.vm {
                Some(dir) => remote(dir, compose_shells::remote::Ask::Windows)?.windows,
                None => control::windows(&control::connect(bus.bus.as_deref())?)?,
            };
            print::shell_windows(&rows, *json);
        }
        ShellCommand::Stats { json, bus } => {
            let stats = match &bus.vm {
                Some(dir) => remote(dir, compose_shells::remote::Ask::Stats)?
                    .stats
                    .unwrap_or_default(),
                None => control::stats(&control::connect(bus.bus.as_deref())?)?,
            };
            print::shell_stats(&stats, *json);
        }
        ShellCommand::Screenshot { file, bus } => {
            if !file
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("png"))
            {
                return Err(CliError::BadPath {
                    path: file.display().to_string(),
                    message: "screenshots are PNG files; name it NAME.png".into(),
                });
            }
            let path = std::path::absolute(file).map_err(|e| CliError::BadPath {
                path: file.display().to_string(),
                message: e.to_string(),
            })?;
            match &bus.vm {
                Some(dir) => {
                    let answer = remote(dir, compose_shells::remote::Ask::Screenshot)?;
                    let png = hex::decode(answer.png_hex.unwrap_or_default()).map_err(|e| {
                        CliError::Other(anyhow::anyhow!("the shell sent a broken screenshot: {e}"))
                    })?;
                    compose_core::project::write_atomic(&path, &png)
                        .map_err(|e| CliError::Other(e.into()))?;
                }
                None => {
                    let connection = control::connect(bus.bus.as_deref())?;
                    control::screenshot(&connection, &path.to_string_lossy())?;
                }
            }
            eprintln!("compose shell: wrote {}", path.display());
        }
    }
    Ok(Outcome::Ok)
}

/// A request to the shell of the VM whose sockets are in `dir`.
fn remote(
    dir: &std::path::Path,
    ask: compose_shells::remote::Ask,
) -> Result<compose_shells::remote::Answer, CliError> {
    compose_shells::remote::request(
        &dir.join("shell.sock"),
        ask,
        std::time::Duration::from_secs(30),
    )
    .map_err(|e| CliError::Other(e.into()))
}

fn parse_size(text: &str) -> Result<(u32, u32), CliError> {
    text.split_once('x')
        .and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)))
        .filter(|(w, h)| (1..=16384).contains(w) && (1..=16384).contains(h))
        .ok_or_else(|| CliError::BadSize(text.to_string()))
}

/// Starts an app inside the shell: our socket, never the host's display.
/// The task bar's apps: `--launcher NAME=COMMAND`s, then the project's GUI apps.
fn launchers(
    given: &[String],
    project: Option<&Project>,
) -> Result<Vec<compose_shells::compositor::Launcher>, CliError> {
    let mut out = Vec::new();
    for l in given {
        let (name, command) = l
            .split_once('=')
            .filter(|(n, c)| !n.is_empty() && !c.is_empty())
            .ok_or_else(|| {
                CliError::Other(anyhow::anyhow!(
                    "--launcher {l}: expected NAME=COMMAND, such as --launcher 'Terminal=foot'"
                ))
            })?;
        out.push(compose_shells::compositor::Launcher {
            name: name.to_string(),
            command: vec!["sh".into(), "-c".into(), command.to_string()],
        });
    }
    if let Some(project) = project {
        out.extend(app::launchers(project).map_err(CliError::Other)?);
    }
    Ok(out)
}

fn start_app(
    command: &str,
    socket: &str,
    x_display: Option<u32>,
) -> std::io::Result<std::process::Child> {
    compose_shells::autostart::command("sh", socket, x_display)
        .args(["-c", command])
        .spawn()
}

/// 1980-01-01, the earliest time FAT can record: the default timestamp of image files.
const DEFAULT_EPOCH: u64 = 315_532_800;

/// Resolves `device` preferring the versions in compose.lock, without writing it: what
/// `compose resolve` would choose.
fn resolve_as_locked(
    project: &Project,
    catalog: &compose_core::Catalog,
    device: &str,
) -> Result<(compose_core::Resolution, ResolveOptions), CliError> {
    let options = ResolveOptions {
        locked: project.read_lock()?.versions(device),
        ..Default::default()
    };
    Ok((resolve(catalog, device, &options)?, options))
}

fn run(cli: Cli) -> Result<Outcome, CliError> {
    if let Command::Flash {
        image,
        vm,
        to,
        memory,
        cpus,
        timeout,
        until_ready,
        serial,
        in_place,
        display,
        gpu,
        sockets,
        console,
        provision,
        forward,
        json,
    } = &cli.command
    {
        use compose_core::flash::{Gpu, Screen};
        if let Some(target) = to {
            let report = compose_core::flash::write_to(image, target, provision.as_deref())?;
            print::written(&report, *json);
            return Ok(Outcome::Ok);
        }
        debug_assert!(*vm);
        let options = compose_core::flash::VmOptions {
            image: image.clone(),
            memory_mib: *memory,
            cpus: *cpus,
            timeout: std::time::Duration::from_secs(*timeout),
            until_ready: *until_ready,
            in_place: *in_place,
            serial: serial.clone(),
            screen: display.map(|d| match d {
                DisplayArg::Window => Screen::Window,
                DisplayArg::Headless => Screen::Headless,
                DisplayArg::None => Screen::None,
            }),
            gpu: match gpu {
                GpuArg::Virtio => Gpu::Virtio,
                GpuArg::Std => Gpu::Std,
            },
            sockets: sockets.clone(),
            console_input: *console,
            provision: provision.clone(),
            forwards: forward.clone(),
        };
        let json = *json;
        let mut echo = |line: &str| {
            if !json {
                println!("{line}");
            }
        };
        let report = compose_core::flash::run_vm(&options, &mut echo)?;
        print::vm(&report, json);
        return Ok(Outcome::Ok);
    }
    if let Command::Shell { command } = &cli.command {
        return shell(command, project(&cli).ok().as_ref());
    }
    if let Command::Cache {
        command:
            CacheCommand::Verify {
                store,
                repair,
                json,
            },
    } = &cli.command
    {
        let store = Store::open(&Store::locate(store.store.as_deref()))?;
        let report = compose_core::build::verify::verify(&store, *repair)?;
        print::cache_verify(&report, *json);
        return Ok(if report.ok() {
            Outcome::Ok
        } else {
            Outcome::No
        });
    }
    if let Command::Provision {
        command: ProvisionCommand::Check { file, json },
    } = &cli.command
    {
        let (_, p) = compose_core::seed::check(file).map_err(|e| CliError::Other(e.into()))?;
        print::provision(file, &p, *json);
        return Ok(Outcome::Ok);
    }
    if let Command::App { command } = &cli.command {
        let project = if app::needs_project(command) {
            Some(project(&cli)?)
        } else {
            None
        };
        return match app::run(project.as_ref(), command).map_err(CliError::Other)? {
            0 => Ok(Outcome::Ok),
            _ => Ok(Outcome::No),
        };
    }
    if let Command::Inspect { image, files, json } = &cli.command {
        let report = compose_core::inspect::inspect(image, files.as_deref())?;
        print::inspection(&report, *json);
        return Ok(Outcome::Ok);
    }
    if let Command::Fleet(args) = &cli.command {
        return match fleet::run(args).map_err(CliError::Other)? {
            0 => Ok(Outcome::Ok),
            _ => Ok(Outcome::No),
        };
    }
    if let Command::Serve { repo, listen } = &cli.command {
        update::serve(repo, *listen).map_err(CliError::Other)?;
        return Ok(Outcome::Ok);
    }
    let project = project(&cli)?;
    if let Command::Keys { command } = &cli.command {
        update::keys(&project, command).map_err(CliError::Other)?;
        return Ok(Outcome::Ok);
    }
    if let Command::Publish {
        device,
        repo,
        out,
        key,
        valid_days,
        json,
    } = &cli.command
    {
        update::publish(
            &project,
            &device.device,
            repo,
            out.as_deref(),
            key.as_deref(),
            *valid_days,
            *json,
        )
        .map_err(CliError::Other)?;
        return Ok(Outcome::Ok);
    }
    if let Command::Validate { json } = cli.command {
        return print::validation(project.load(), json);
    }
    if let Command::Debs { command } = cli.command {
        debs::run(&project, command).map_err(CliError::Other)?;
        return Ok(Outcome::Ok);
    }
    let loaded = project.load()?;
    print::warnings(&loaded.warnings);
    let catalog = &loaded.catalog;
    match cli.command {
        Command::Resolve {
            device,
            locked,
            upgrade,
            json,
        } => {
            let lock = project.read_lock()?;
            let options = ResolveOptions {
                locked: if upgrade {
                    Default::default()
                } else {
                    lock.versions(&device.device)
                },
                ..Default::default()
            };
            let resolution = resolve(catalog, &device.device, &options)?;
            let mut new_lock = lock.with_resolution(&resolution);
            if upgrade {
                // Newer Debian packages too: the next build pins what apt offers now.
                new_lock = new_lock.without_debs(&device.device);
            }
            let changes = lock.changes(&new_lock, &device.device);
            if locked && new_lock != lock {
                return Err(CliError::LockOutdated {
                    device: device.device,
                    changes,
                });
            }
            if new_lock != lock && project.update_lock(&device.device, &new_lock)? {
                eprintln!(
                    "wrote {} ({} change{})",
                    project.lock_path().display(),
                    changes.len(),
                    if changes.len() == 1 { "" } else { "s" }
                );
            }
            print::resolution(catalog, &resolution, json);
        }
        Command::Graph {
            device,
            format,
            output,
        } => {
            let (resolution, _) = resolve_as_locked(&project, catalog, &device.device)?;
            let dot = graph::to_dot(&resolution);
            let text = match format {
                GraphFormat::Dot => dot,
                GraphFormat::Svg => graph::to_svg(&dot)?,
            };
            match output {
                Some(path) => compose_core::project::write_atomic(&path, text.as_bytes()).map_err(
                    |e| match e {
                        ProjectError::Write { path, source } => CliError::Output { path, source },
                        other => CliError::Project(other),
                    },
                )?,
                None => print!("{text}"),
            }
        }
        Command::Explain {
            component,
            device,
            json,
        } => {
            if catalog.versions(&component).is_empty() {
                return Err(CliError::UnknownComponent {
                    name: component,
                    known: catalog.components().map(|(n, _)| n.clone()).collect(),
                });
            }
            let (resolution, options) = resolve_as_locked(&project, catalog, &device.device)?;
            let explanation =
                compose_core::resolve::explain(catalog, &resolution, &options, &component)?;
            print::explanation(&explanation, json);
            if explanation.version.is_none() {
                return Ok(Outcome::No);
            }
        }
        Command::Devices { json } => print::devices(catalog, json),
        Command::Components { json } => print::components(catalog, json),
        Command::Build {
            device,
            store,
            out,
            locked,
            generation,
            dry_run,
            json,
        } => {
            let lock = project.read_lock()?;
            let options = ResolveOptions {
                locked: lock.versions(&device.device),
                ..Default::default()
            };
            let resolution = resolve(catalog, &device.device, &options)?;
            let resolved = lock.with_resolution(&resolution);
            let progress = print::Progress::new();
            let progress = |message: &str| progress.step(message);
            let config = project.read_debian_config()?;
            let plan =
                compose_core::build::plan(catalog, &resolution, &resolved, &config, &progress)?;
            // Everything that could change the lock is known now, before anything is written.
            if locked && plan.lock != lock {
                let changes = lock.changes(&plan.lock, &device.device);
                return Err(CliError::LockOutdated {
                    device: device.device,
                    changes,
                });
            }
            if dry_run {
                print::plan(&plan, &device.device, json);
                return Ok(Outcome::Ok);
            }
            let store = Store::open(&Store::locate(store.store.as_deref()))?;
            let _store_lock = store.lock_shared()?;
            let out = out
                .unwrap_or_else(|| project.root().join("out"))
                .join(&device.device);
            let epoch = std::env::var("SOURCE_DATE_EPOCH")
                .ok()
                .and_then(|e| e.parse().ok())
                .unwrap_or(DEFAULT_EPOCH);
            let report = compose_core::build::build(
                project.root(),
                catalog,
                &resolution,
                &plan,
                &store,
                &compose_core::build::BuildOptions {
                    out_dir: out,
                    epoch,
                    generation: generation.unwrap_or(epoch),
                },
                &progress,
            )?;
            if plan.lock != lock {
                project.update_lock(&device.device, &plan.lock)?;
            }
            print::build(&report, json);
        }
        Command::Cache {
            command:
                CacheCommand::Gc {
                    store,
                    max_age,
                    json,
                },
        } => {
            let store = Store::open(&Store::locate(store.store.as_deref()))?;
            let lock = project.read_lock()?;
            let report = compose_core::build::gc::collect(
                &store,
                &lock,
                &project.root().join("out"),
                std::time::Duration::from_secs(max_age * 24 * 3600),
            )?;
            print::gc(&report, json);
        }
        Command::Validate { .. }
        | Command::Cache {
            command: CacheCommand::Verify { .. },
        }
        | Command::Keys { .. }
        | Command::Publish { .. }
        | Command::Serve { .. }
        | Command::Fleet(_)
        | Command::Inspect { .. }
        | Command::Flash { .. }
        | Command::Provision { .. }
        | Command::Debs { .. }
        | Command::App { .. }
        | Command::Shell { .. } => {
            unreachable!("handled above")
        }
    }
    Ok(Outcome::Ok)
}

/// Whether to draw for a person (colors, unicode) rather than for a log.
pub fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}
