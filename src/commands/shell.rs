//! `compose shell`: run the compositor with a shell (nested, headless), or ask a running
//! one over D-Bus (or a VM's control port) to swap, list windows, report stats, screenshot.

use std::path::PathBuf;

use compose_core::Project;

use crate::{CliError, Globals, Outcome, print};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: ShellCommand,
}

#[derive(Debug, clap::Subcommand)]
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
        /// Settings that last (`compose shell set`): read at start, written on each change;
        /// by default $XDG_CONFIG_HOME/compose/shell.toml (~/.config/compose/shell.toml).
        #[arg(long, value_name = "FILE")]
        settings: Option<PathBuf>,
        /// Desktop entries the launcher's menu lists (repeatable); by default the
        /// `applications` folder of each of XDG_DATA_HOME and XDG_DATA_DIRS, as desktops
        /// find them. The task bar's apps are in the menu too.
        #[arg(long, value_name = "DIR")]
        applications: Vec<PathBuf>,
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
    /// List a shell's keyboard shortcuts: its layout's defaults as its definition's
    /// `[shell.keys]` and `[shell.run]` changed them.
    Keys {
        /// desktop, gaming or tablet, or a shell defined in --shells DIR.
        #[arg(long, default_value = "desktop")]
        shell: String,
        /// Also load shell definitions from DIR (as `compose shell run --shells`).
        #[arg(long, value_name = "DIR")]
        shells: Option<PathBuf>,
        #[arg(long)]
        json: bool,
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
    /// Lock the running shell's session (its user's password unlocks it; Super+L does the
    /// same).
    Lock {
        #[command(flatten)]
        bus: BusArg,
    },
    /// Set a setting of the running shell; it lasts (kept in the shell's settings file):
    /// wallpaper #rrggbb, keyboard-layout NAME, lock-after SECONDS, blank-after SECONDS, or
    /// `default` to reset one.
    Set {
        key: String,
        value: String,
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

/// The built-in shells and those defined in `dir`; every definition's shortcuts must name
/// keys xkb knows.
fn load_shells(dir: Option<&std::path::Path>) -> Result<Vec<compose_shells::ShellDef>, CliError> {
    let shells = match dir {
        Some(dir) => compose_shells::definition::with_dir(dir)?,
        None => compose_shells::definition::builtin(),
    };
    for def in &shells {
        compose_shells::shortcut::check(def)?;
    }
    Ok(shells)
}

/// Shell `name` among `shells`.
fn find_shell(
    shells: &[compose_shells::ShellDef],
    name: &str,
) -> Result<compose_shells::ShellDef, CliError> {
    use compose_shells::definition;
    definition::find(shells, name)
        .cloned()
        .ok_or_else(|| CliError::UnknownShell {
            name: name.to_string(),
            known: definition::names(shells),
        })
}

pub fn exec(args: Args, globals: &Globals) -> Result<Outcome, CliError> {
    // The project only adds its GUI apps to the task bar: a shell runs without one.
    shell(&args.command, globals.project().ok().as_ref())
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
            settings,
            applications,
            shells,
            replace,
            no_xwayland,
            renderer,
            bus,
        } => {
            let shells = load_shells(shells.as_deref())?;
            let def = find_shell(&shells, shell)?;
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
            let connection = match control::serve(
                bus.bus.as_deref(),
                sender.clone(),
                shells.clone(),
                *replace,
            ) {
                Err(zbus::Error::NameTaken) => {
                    return Err(CliError::Other(anyhow::anyhow!(
                        "another shell already serves {} on this bus; stop it first, or take its name over with --replace",
                        control::BUS_NAME
                    )));
                }
                other => other?,
            };
            // notify-send and toolkits reach the shell on the same bus, unless the desktop
            // it runs in has a notification server already.
            let notifications = compose_shells::notifications::serve(&connection, sender)?;
            eprintln!(
                "compose shell: {} on WAYLAND_DISPLAY={socket} ({backend:?}), controlled at {}",
                def.name,
                control::BUS_NAME
            );
            let apps = exec.clone();
            let app_socket = socket.clone();
            let pinned = launchers(launcher, project)?;
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
                launchers: pinned.clone(),
                renderer: *renderer,
                notifications,
                power_supply: compositor::POWER_SUPPLY.into(),
                apps: menu_apps(applications, &pinned),
                lock: compositor::LockOptions::default(),
                lock_after: None,
                settings: settings.clone().or_else(|| {
                    std::env::var_os("XDG_CONFIG_HOME")
                        .map(PathBuf::from)
                        .or_else(|| {
                            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config"))
                        })
                        .map(|c| c.join("compose/shell.toml"))
                }),
                icon_dirs: compositor::ICON_DIRS.iter().map(Into::into).collect(),
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
        ShellCommand::Keys {
            shell,
            shells,
            json,
        } => print::shell_keys(&find_shell(&load_shells(shells.as_deref())?, shell)?, *json),
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
        ShellCommand::Set { key, value, bus } => match &bus.vm {
            Some(dir) => {
                remote(
                    dir,
                    compose_shells::remote::Ask::Set {
                        key: key.clone(),
                        value: value.clone(),
                    },
                )?;
            }
            None => {
                control::set(&control::connect(bus.bus.as_deref())?, key, value)?;
            }
        },
        ShellCommand::Lock { bus } => {
            control::lock(&control::connect(bus.bus.as_deref())?)?;
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
        out.extend(super::app::launchers(project).map_err(CliError::Other)?);
    }
    Ok(out)
}

/// The launcher menu's apps: the task bar's, then the desktop entries of `dirs` (or of
/// the XDG data folders when none are given).
fn menu_apps(
    dirs: &[PathBuf],
    pinned: &[compose_shells::compositor::Launcher],
) -> Vec<compose_shells::autostart::App> {
    let dirs = if dirs.is_empty() {
        let home = std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")));
        let system = std::env::var("XDG_DATA_DIRS")
            .ok()
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "/usr/local/share:/usr/share".into());
        home.into_iter()
            .chain(std::env::split_paths(&system))
            .map(|d| d.join("applications"))
            .collect()
    } else {
        dirs.to_vec()
    };
    let mut apps: Vec<_> = pinned
        .iter()
        .map(|l| compose_shells::autostart::App {
            name: l.name.clone(),
            title: l.name.clone(),
            exec: l.command.clone(),
            ..Default::default()
        })
        .collect();
    apps.extend(compose_shells::autostart::read_dirs(&dirs));
    apps
}

/// Starts an app inside the shell: our socket, never the host's display.
fn start_app(
    command: &str,
    socket: &str,
    x_display: Option<u32>,
) -> std::io::Result<std::process::Child> {
    compose_shells::autostart::command("sh", socket, x_display)
        .args(["-c", command])
        .spawn()
}
