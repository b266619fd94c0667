//! D-Bus control of a running compositor: `org.compose.Shell1` at `/org/compose/Shell1`
//! (zbus), on the session bus or a bus address given by flag.

use std::sync::Mutex;
use std::sync::mpsc;
use std::time::Duration;

use smithay::reexports::calloop::channel::Sender;
use zbus::fdo;
use zbus::object_server::SignalEmitter;

use crate::compositor::Command;
use crate::definition::ShellDef;

pub const BUS_NAME: &str = "org.compose.Shell1";
pub const OBJECT_PATH: &str = "/org/compose/Shell1";

/// A window as D-Bus reports it: id, app id, title, x, y, width, height (where the shell
/// shows it), and whether it has focus.
/// id, app id, title, x, y, width, height, focused, sandbox (`engine/app-id`, or empty).
pub type WindowRow = (u64, String, String, i32, i32, u32, u32, bool, String);

/// The D-Bus object; it forwards requests to the compositor's event loop.
pub struct ShellService {
    control: Mutex<Sender<Command>>,
    shells: Vec<ShellDef>,
}

impl std::fmt::Debug for ShellService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShellService")
            .field("shells", &self.shells.len())
            .finish()
    }
}

/// Sends a command into the compositor loop and waits for its answer on a blocking thread,
/// so the bus connection keeps serving other calls meanwhile (every D-Bus service of the
/// shell asks this way).
pub(crate) async fn ask<T: Send + 'static>(
    control: &Mutex<Sender<Command>>,
    make: impl FnOnce(mpsc::Sender<T>) -> Command + Send + 'static,
) -> fdo::Result<T> {
    let control = control
        .lock()
        .map_err(|_| fdo::Error::Failed("the compositor is gone".into()))?
        .clone();
    blocking::unblock(move || crate::compositor::ask(&control, Duration::from_secs(5), make))
        .await
        .map_err(fdo::Error::Failed)
}

impl ShellService {
    async fn ask<T: Send + 'static>(
        &self,
        make: impl FnOnce(mpsc::Sender<T>) -> Command + Send + 'static,
    ) -> fdo::Result<T> {
        ask(&self.control, make).await
    }
}

#[zbus::interface(name = "org.compose.Shell1")]
impl ShellService {
    /// Swaps the running shell; every window stays, re-laid out and reconfigured.
    async fn swap(
        &self,
        name: &str,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> fdo::Result<()> {
        let def = crate::definition::lookup(&self.shells, name)
            .map_err(fdo::Error::InvalidArgs)?
            .clone();
        self.ask(|done| Command::Swap(def, done)).await?;
        Self::shell_changed(&emitter, name)
            .await
            .map_err(|e| fdo::Error::Failed(e.to_string()))?;
        Ok(())
    }

    /// The compositor's own answer: key bindings swap too (Super+Shift+G).
    #[zbus(property(emits_changed_signal = "false"))]
    async fn active_shell(&self) -> fdo::Result<String> {
        self.ask(Command::Active).await
    }

    /// Locks the session with the built-in lock screen (the user's password unlocks it).
    async fn lock(&self) -> fdo::Result<()> {
        self.ask(Command::Lock).await?.map_err(fdo::Error::Failed)
    }

    /// Sets a setting that lasts (`wallpaper`, `keyboard-layout`, `lock-after`,
    /// `blank-after`; `default` resets one): applied at once and kept.
    async fn set(&self, key: String, value: String) -> fdo::Result<()> {
        self.ask(move |reply| Command::Set(key, value, reply))
            .await?
            .map_err(fdo::Error::InvalidArgs)
    }

    /// Every setting and its value.
    async fn settings(&self) -> fdo::Result<Vec<(String, String)>> {
        self.ask(Command::Settings).await
    }

    async fn list_shells(&self) -> Vec<String> {
        self.shells.iter().map(|s| s.name.clone()).collect()
    }

    async fn list_windows(&self) -> fdo::Result<Vec<WindowRow>> {
        let windows = self.ask(Command::Windows).await?;
        Ok(windows.into_iter().map(row).collect())
    }

    /// Renders the current frame and writes it to `path` (absolute) as PNG.
    async fn screenshot(&self, path: &str) -> fdo::Result<()> {
        let path = std::path::PathBuf::from(path);
        if !path.is_absolute() {
            return Err(fdo::Error::InvalidArgs(format!(
                "screenshot path `{}` is relative; give an absolute path (the compositor's working directory is not yours)",
                path.display()
            )));
        }
        // Encoded here, on the bus's thread, not in the compositor's loop.
        self.ask(Command::Screenshot)
            .await?
            .map_err(fdo::Error::Failed)?
            .write_png(&path)
            .map_err(|e| fdo::Error::Failed(e.to_string()))
    }

    /// Frames drawn, mean and longest frame time (ms), CPU seconds, uptime seconds, and
    /// the renderer: "cpu" or "gpu", its name, why it was chosen.
    async fn stats(&self) -> fdo::Result<StatsRow> {
        let s = self.ask(Command::Stats).await?;
        Ok((
            s.frames,
            s.mean_ms,
            s.max_ms,
            s.cpu_seconds,
            s.uptime_seconds,
            s.renderer,
            s.renderer_name,
            s.renderer_why,
        ))
    }

    /// Emitted after every swap with the new shell's name.
    #[zbus(signal)]
    async fn shell_changed(emitter: &SignalEmitter<'_>, name: &str) -> zbus::Result<()>;
}

/// A window as a D-Bus (and remote) row.
pub fn row(w: crate::compositor::WindowInfo) -> WindowRow {
    let g = w.geometry;
    (
        w.id,
        w.app_id,
        w.title,
        g.x,
        g.y,
        g.width,
        g.height,
        w.focused,
        w.sandbox.unwrap_or_default(),
    )
}

/// Connects to `address` (or the session bus).
pub fn connect(address: Option<&str>) -> zbus::Result<zbus::blocking::Connection> {
    match address {
        Some(a) => zbus::blocking::connection::Builder::address(a)?.build(),
        None => zbus::blocking::Connection::session(),
    }
}

/// Serves `org.compose.Shell1` for a compositor; keep the connection while it runs. The
/// name is never handed over to a later shell unless that one asks to `replace` it; a
/// name already owned is `zbus::Error::NameTaken` (without `replace`).
pub fn serve(
    address: Option<&str>,
    control: Sender<Command>,
    shells: Vec<ShellDef>,
    replace: bool,
) -> zbus::Result<zbus::blocking::Connection> {
    let service = ShellService {
        control: Mutex::new(control),
        shells,
    };
    let builder = match address {
        Some(a) => zbus::blocking::connection::Builder::address(a)?,
        None => zbus::blocking::connection::Builder::session()?,
    };
    builder
        .allow_name_replacements(false)
        .replace_existing_names(replace)
        .name(BUS_NAME)?
        .serve_at(OBJECT_PATH, service)?
        .build()
}

/// `Swap(name)` on a running shell.
pub fn swap(connection: &zbus::blocking::Connection, name: &str) -> zbus::Result<()> {
    connection.call_method(
        Some(BUS_NAME),
        OBJECT_PATH,
        Some(BUS_NAME),
        "Swap",
        &(name,),
    )?;
    Ok(())
}

/// `Set(key, value)` on a running shell.
pub fn set(connection: &zbus::blocking::Connection, key: &str, value: &str) -> zbus::Result<()> {
    connection.call_method(
        Some(BUS_NAME),
        OBJECT_PATH,
        Some(BUS_NAME),
        "Set",
        &(key, value),
    )?;
    Ok(())
}

/// `Lock()` on a running shell.
pub fn lock(connection: &zbus::blocking::Connection) -> zbus::Result<()> {
    connection.call_method(Some(BUS_NAME), OBJECT_PATH, Some(BUS_NAME), "Lock", &())?;
    Ok(())
}

/// `Screenshot(path)` of a running shell.
pub fn screenshot(connection: &zbus::blocking::Connection, path: &str) -> zbus::Result<()> {
    connection.call_method(
        Some(BUS_NAME),
        OBJECT_PATH,
        Some(BUS_NAME),
        "Screenshot",
        &(path,),
    )?;
    Ok(())
}

/// What `Stats()` answers on the bus (see `FrameStats`).
pub type StatsRow = (u64, f64, f64, f64, f64, String, String, String);

/// `Stats()` of a running shell.
pub fn stats(
    connection: &zbus::blocking::Connection,
) -> zbus::Result<crate::compositor::FrameStats> {
    let reply =
        connection.call_method(Some(BUS_NAME), OBJECT_PATH, Some(BUS_NAME), "Stats", &())?;
    let (
        frames,
        mean_ms,
        max_ms,
        cpu_seconds,
        uptime_seconds,
        renderer,
        renderer_name,
        renderer_why,
    ): StatsRow = reply.body().deserialize()?;
    Ok(crate::compositor::FrameStats {
        frames,
        mean_ms,
        max_ms,
        cpu_seconds,
        uptime_seconds,
        renderer,
        renderer_name,
        renderer_why,
    })
}

/// `ListWindows()` of a running shell.
pub fn windows(connection: &zbus::blocking::Connection) -> zbus::Result<Vec<WindowRow>> {
    let reply = connection.call_method(
        Some(BUS_NAME),
        OBJECT_PATH,
        Some(BUS_NAME),
        "ListWindows",
        &(),
    )?;
    reply.body().deserialize()
}
