//! compose-shell: a shell on a device's own screen. Init starts it as the `shell` service
//! of the image's shell component; it shows the shell through KMS (or offscreen with
//! `--headless`), reads every input device, starts the XDG autostart apps (again after
//! each restart of the shell: they end with its socket), offers the image's launchers on
//! its task bar, and takes swaps, window lists and
//! screenshots from the host over the virtio-serial port `org.compose.shell`.

use std::path::PathBuf;
use std::process::{Child, ExitCode};

use clap::Parser;
use compose_shells::{autostart, compositor, control, definition, notifications, remote};

#[derive(Debug, Parser)]
#[command(name = "compose-shell", version, about)]
struct Args {
    /// The shell to start with (a built-in one or a definition in --definitions).
    #[arg(long, default_value = "desktop")]
    shell: String,
    /// The shell chosen for this device (written by first-boot provisioning): when it
    /// names an installed shell, it is started instead of --shell.
    #[arg(long, value_name = "FILE", default_value = "/etc/compose/shell")]
    choice: PathBuf,
    /// Shell definitions installed by the image's shell components (`NAME.toml`).
    #[arg(long, value_name = "DIR", default_value = "/usr/share/compose/shells")]
    definitions: PathBuf,
    /// The shell Super+Shift+G swaps to and back from; `none` turns the key off.
    #[arg(long, value_name = "NAME", default_value = "gaming")]
    game_mode: String,
    /// Render offscreen at WIDTHxHEIGHT instead of on the screen (no KMS, no input).
    #[arg(long, value_name = "WxH")]
    headless: Option<String>,
    /// Folder for the Wayland socket (the apps' XDG_RUNTIME_DIR).
    #[arg(long, value_name = "DIR", default_value = "/run/compose")]
    runtime_dir: PathBuf,
    /// XDG autostart entries: every `*.desktop` here is started once the shell runs.
    #[arg(long, value_name = "DIR", default_value = "/etc/xdg/autostart")]
    autostart: PathBuf,
    /// Task bar launchers: every `*.desktop` here is a button that starts its app (the
    /// image's sandboxed GUI apps, `compose-app run NAME`).
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/usr/share/compose/launchers"
    )]
    launchers: PathBuf,
    /// Desktop entries the launcher's menu lists (repeatable; the first folder that has an
    /// entry wins): the image's applications and its sandboxed apps' launchers.
    #[arg(
        long,
        value_name = "DIR",
        default_values = ["/usr/share/applications", "/usr/share/compose/launchers"]
    )]
    applications: Vec<PathBuf>,
    /// Settings that last (wallpaper, keyboard layout, timeouts): read at start, written
    /// on each change (`compose shell set KEY VALUE --vm DIR`); /var outlives updates.
    #[arg(long, value_name = "FILE", default_value = compose_shells::settings::DEVICE_FILE)]
    settings: PathBuf,
    /// Also serve org.compose.Shell1 on this D-Bus address.
    #[arg(long, value_name = "ADDRESS")]
    bus: Option<String>,
    /// No Xwayland even when it is installed (X11 apps then cannot start).
    #[arg(long)]
    no_xwayland: bool,
    /// Blank the screen after this many seconds without input (0: never); a window that
    /// inhibits idling (a video player) keeps it on.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    blank_after: u64,
    /// Lock the session after this many seconds without input (0: never); the user's
    /// password (in /etc/shadow) unlocks it. Super+L locks at once.
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    lock_after: u64,
    /// Who draws: pixman on the CPU, wgpu on the GPU, or auto (the CPU renderer when wgpu
    /// finds no adapter or only a CPU one such as lavapipe).
    #[arg(long, value_enum, default_value = "auto")]
    renderer: compose_shells::render::RendererChoice,
}

const SOCKET: &str = "wayland-0";

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .init();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("compose-shell: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--shell`, unless the device's choice (`--choice`) names an installed shell.
fn chosen_shell(args: &Args, shells: &[definition::ShellDef]) -> String {
    let Ok(text) = std::fs::read_to_string(&args.choice) else {
        return args.shell.clone();
    };
    let choice = text.trim();
    if choice.is_empty() {
        return args.shell.clone();
    }
    match definition::lookup(shells, choice) {
        Ok(_) => {
            tracing::info!("{choice}: chosen in {}", args.choice.display());
            choice.to_string()
        }
        Err(e) => {
            tracing::warn!("{}: {e}; starting {}", args.choice.display(), args.shell);
            args.shell.clone()
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    let shells = definition::installed(&args.definitions).map_err(|e| e.to_string())?;
    for shell in &shells {
        compose_shells::shortcut::check(shell).map_err(|e| e.to_string())?;
    }
    let def = definition::lookup(&shells, &chosen_shell(&args, &shells))?.clone();
    let game_mode = match args.game_mode.as_str() {
        "none" => None,
        name => Some(
            definition::lookup(&shells, name)
                .map_err(|e| format!("--game-mode: {e}"))?
                .clone(),
        ),
    };
    let backend = match &args.headless {
        None => compositor::BackendChoice::Kms,
        Some(wxh) => {
            let (width, height) = wxh
                .split_once('x')
                .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
                .filter(|&(w, h): &(u32, u32)| w > 0 && h > 0)
                .ok_or_else(|| format!("--headless {wxh}: give WIDTHxHEIGHT, e.g. 1024x768"))?;
            compositor::BackendChoice::Headless { width, height }
        }
    };
    std::fs::create_dir_all(&args.runtime_dir)
        .map_err(|e| format!("cannot create {}: {e}", args.runtime_dir.display()))?;
    let socket = args.runtime_dir.join(SOCKET);

    let (sender, commands) = compose_shells::smithay::reexports::calloop::channel::channel();
    match remote::find_port(remote::PORT_NAME) {
        Some(port) => {
            remote::serve_port(port.clone(), sender.clone(), shells.clone())
                .map_err(|e| format!("cannot serve {}: {e}", port.display()))?;
            tracing::info!("controlled over {}", port.display());
        }
        None => tracing::info!(
            "no virtio-serial port `{}`: no remote control from the host",
            remote::PORT_NAME
        ),
    }
    let bus = match &args.bus {
        Some(address) => Some(
            control::serve(Some(address), sender.clone(), shells.clone(), false)
                .map_err(|e| format!("D-Bus {address}: {e}"))?,
        ),
        None => None,
    };
    // Notifications on the same bus: notify-send and toolkits find the shell there.
    let notifications = match &bus {
        Some(connection) => notifications::serve(connection, sender)
            .map_err(|e| format!("D-Bus: cannot serve {}: {e}", notifications::BUS_NAME))?,
        None => None,
    };
    let apps = autostart::read_dir(&args.autostart);
    tracing::info!(
        "{} on {} ({backend:?}); apps: {}",
        def.name,
        socket.display(),
        apps.iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let options = compositor::Options {
        socket: socket.to_string_lossy().into_owned(),
        shell: def,
        backend,
        scale: 1,
        swap_wait: compositor::SWAP_WAIT,
        game_mode,
        xwayland: !args.no_xwayland && autostart::xwayland_installed(),
        draw_cursor: false,
        blank_after: (args.blank_after > 0)
            .then(|| std::time::Duration::from_secs(args.blank_after)),
        launchers: autostart::read_dir(&args.launchers)
            .into_iter()
            .map(|app| compositor::Launcher {
                name: app.name,
                command: app.exec,
            })
            .collect(),
        renderer: args.renderer,
        notifications,
        power_supply: compositor::POWER_SUPPLY.into(),
        apps: autostart::read_dirs(&args.applications),
        lock: compositor::LockOptions::default(),
        lock_after: (args.lock_after > 0).then(|| std::time::Duration::from_secs(args.lock_after)),
        settings: Some(args.settings.clone()),
        icon_dirs: compositor::ICON_DIRS.iter().map(Into::into).collect(),
    };
    let mut children: Vec<Child> = Vec::new();
    let runtime_dir = args.runtime_dir.clone();
    let result = compositor::run_with(options, commands, |x_display| {
        // Readiness for scripts and tests: the socket accepts clients from here on.
        eprintln!("compose-shell: ready on {}", socket.display());
        for app in &apps {
            match start(app, &runtime_dir, x_display) {
                Ok(child) => {
                    tracing::info!("started {} (pid {})", app.name, child.id());
                    children.push(child);
                }
                Err(e) => tracing::warn!("cannot start {} ({:?}): {e}", app.name, app.exec),
            }
        }
    });
    for mut child in children {
        let _ = child.kill();
        let _ = child.wait();
    }
    result.map_err(|e| e.to_string())
}

/// Starts an app on our socket only.
fn start(
    app: &autostart::App,
    runtime_dir: &std::path::Path,
    x_display: Option<u32>,
) -> std::io::Result<Child> {
    let (program, args) = app.exec.split_first().expect("autostart apps have an Exec");
    let mut command = autostart::command(program, SOCKET, x_display);
    command.args(args).env("XDG_RUNTIME_DIR", runtime_dir);
    command.spawn()
}
