//! The Wayland side (smithay): a compositor whose clients' toplevels become windows of the
//! shell policy. It speaks the protocols in `handlers`, uploads client buffers and renders
//! frames through `render` (wgpu), turns input (`input`) into focus changes, grabs and
//! events for clients, and paces frame callbacks (unfocused windows in the gaming shell
//! get fewer). Its output is offscreen (headless), a window on the user's desktop
//! (`nested`) or a device's own screen through KMS (`kms`, with input from `devices`).
//!
//! This is the one module of the crate that knows smithay; `policy` never does.

#![allow(unsafe_code)] // smithay's display dispatch and shm mappings are unsafe at the edge.

mod backend;
pub mod cursor;
mod devices;
mod dmabuf;
mod handlers;
pub mod input;
mod launcher;
mod lock;
mod parts;
mod quirks;
mod scene;
mod settings;
mod toolkits;
mod toplevel;
mod x11_display;
mod xwayland;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use smithay::desktop::{PopupManager, layer_map_for_output};
use smithay::input::{Seat, SeatState};
use smithay::output::{Mode, Output, PhysicalProperties, Scale, Subpixel};
use smithay::reexports::calloop::channel::{Channel, Event as ChannelEvent, Sender};
use smithay::reexports::calloop::generic::Generic;
use smithay::reexports::calloop::timer::{TimeoutAction, Timer};
use smithay::reexports::calloop::{EventLoop, Interest, Mode as CMode, PostAction};
use smithay::reexports::wayland_protocols::wp::presentation_time::server::wp_presentation_feedback;
use smithay::reexports::wayland_server::protocol::wl_callback::WlCallback;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::reexports::wayland_server::{Display, DisplayHandle, ListeningSocket, Resource};
use smithay::utils::Transform;
use smithay::wayland::compositor::{CompositorState, get_parent};
use smithay::wayland::output::OutputManagerState;
use smithay::wayland::presentation::{PresentationFeedbackCallback, PresentationState, Refresh};
use smithay::wayland::selection::data_device::DataDeviceState;
use smithay::wayland::shell::wlr_layer::WlrLayerShellState;
use smithay::wayland::shell::xdg::XdgShellState;
use smithay::wayland::shell::xdg::decoration::XdgDecorationState;
use smithay::wayland::shm::ShmState;
use smithay::wayland::viewporter::ViewporterState;

pub use input::InputEvent;
pub use launcher::ICON_DIRS;
pub use lock::LockOptions;
pub use scene::colors;

use crate::definition::ShellDef;
use crate::policy::{Rect, Shell, States, WindowId};
use crate::render::{Image, RenderError, RendererChoice};

/// Where the kernel lists batteries and chargers.
pub const POWER_SUPPLY: &str = "/sys/class/power_supply";

/// One frame at 60 Hz.
const FRAME: Duration = Duration::from_micros(16_667);
/// How long the socket rests when accepting failed (no file descriptors left).
const ACCEPT_RETRY: Duration = Duration::from_millis(100);
/// How long frames wait after a swap, by default, for windows to redraw at their new size.
pub const SWAP_WAIT: Duration = Duration::from_millis(250);

/// What a controller (the D-Bus service, a test) asks of a running compositor.
#[derive(Debug)]
pub enum Command {
    /// Swaps the shell; the reply is how long the swap took inside the compositor (policy
    /// and every configure sent).
    Swap(ShellDef, mpsc::Sender<Duration>),
    Windows(mpsc::Sender<Vec<WindowInfo>>),
    /// Renders the current scene; the caller encodes it (PNG) off the compositor's loop.
    Screenshot(mpsc::Sender<Result<Image, String>>),
    /// Input as if it came from a device (tests, remote control).
    Input(InputEvent),
    /// Frame timing and CPU use so far.
    Stats(mpsc::Sender<FrameStats>),
    /// A notification from the bus (`Notify`): its id, or why it was refused.
    Notify(
        Box<compose_shell_policy::notifications::Request>,
        mpsc::Sender<Result<u32, String>>,
    ),
    /// `CloseNotification(id)`: whether it was open.
    CloseNotification(u32, mpsc::Sender<bool>),
    /// Locks the session (the built-in lock screen); the reply comes once it is locked, or
    /// says why it cannot lock.
    Lock(mpsc::Sender<Result<(), String>>),
    /// Sets a setting that lasts (`crate::settings`): applied and saved, or why not.
    Set(String, String, mpsc::Sender<Result<(), String>>),
    /// Every setting and its value.
    Settings(mpsc::Sender<Vec<(String, String)>>),
    /// The name of the shell on screen.
    Active(mpsc::Sender<String>),
    Stop,
}

/// Sends the command `make` builds into the compositor loop and waits up to `wait` for
/// its answer (what D-Bus and the remote port both do).
pub fn ask<T>(
    control: &Sender<Command>,
    wait: Duration,
    make: impl FnOnce(mpsc::Sender<T>) -> Command,
) -> Result<T, String> {
    let (reply, answer) = mpsc::channel();
    control
        .send(make(reply))
        .map_err(|_| "the compositor stopped".to_string())?;
    answer
        .recv_timeout(wait)
        .map_err(|_| format!("the compositor did not answer within {} s", wait.as_secs()))
}

/// How the compositor has been doing: frames drawn and what they cost (render, and on a
/// screen the copy into the scanout buffer and the flip request), CPU time of the process.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FrameStats {
    pub frames: u64,
    pub mean_ms: f64,
    pub max_ms: f64,
    /// User plus system CPU time of the whole process.
    pub cpu_seconds: f64,
    /// Since the compositor started.
    pub uptime_seconds: f64,
    /// Which renderer draws ("cpu" or "gpu"), in words, and why it was chosen.
    #[serde(default)]
    pub renderer: String,
    #[serde(default)]
    pub renderer_name: String,
    #[serde(default)]
    pub renderer_why: String,
}

/// User plus system CPU seconds of this process.
fn cpu_seconds() -> f64 {
    process_cpu_seconds("self")
}

/// User plus system CPU seconds of process `pid` (a number, or `self`) so far, from
/// `/proc/PID/stat` (clock ticks of 10 ms); 0 when it cannot be read.
pub fn process_cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at state, field 3.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (ticks(11) + ticks(12)) as f64 / 100.0
}

/// A window as the controller sees it: policy plus what its client did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowInfo {
    pub id: WindowId,
    pub app_id: String,
    pub title: String,
    /// Where the shell shows the window (output coordinates).
    pub geometry: Rect,
    pub focused: bool,
    /// The last configure sent: size and states.
    pub configured: (u32, u32, States),
    /// Size of the last committed buffer, if any.
    pub buffer: Option<(i32, i32)>,
    /// Frame callbacks sent so far.
    pub frames: u64,
    /// Popups open on it.
    pub popups: usize,
    /// The sandbox its client runs in (`engine/app-id`, from its security context).
    pub sandbox: Option<String>,
    /// Minimized: on the task bar only.
    pub minimized: bool,
}

/// Where frames go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendChoice {
    /// An offscreen target of this many logical pixels.
    Headless { width: u32, height: u32 },
    /// A window of this initial size in the user's X11 or Wayland session.
    Nested { width: u32, height: u32 },
    /// The device's screen (DRM/KMS, the first connected connector at its preferred mode);
    /// the shell reads every input device.
    Kms,
}

/// How to run a compositor.
#[derive(Debug, Clone)]
pub struct Options {
    /// Wayland socket name, created in XDG_RUNTIME_DIR, or a path (containing `/`).
    pub socket: String,
    pub shell: ShellDef,
    pub backend: BackendChoice,
    /// Integer output scale (HiDPI); 1 for most outputs.
    pub scale: u32,
    /// How long frames wait after a swap for slow clients to redraw (`SWAP_WAIT`).
    pub swap_wait: Duration,
    /// The shell Super+Shift+G swaps to, and back from (the game bar of Windows).
    pub game_mode: Option<ShellDef>,
    /// Start Xwayland for X11 apps (the `Xwayland` binary must be installed).
    pub xwayland: bool,
    /// Draw the pointer's cursor into frames and screenshots, as on a screen (where it
    /// is always drawn); nested windows show the host's cursor instead.
    pub draw_cursor: bool,
    /// The screen goes black after this long without input, unless a window on it keeps
    /// it on (idle-inhibit, as video players do); any input brings it back.
    pub blank_after: Option<Duration>,
    /// Apps the task bar offers to start (shells with a task bar show them).
    pub launchers: Vec<Launcher>,
    /// The CPU or the GPU renderer, or whichever fits the machine (headless and KMS; a
    /// nested window always presents through wgpu).
    pub renderer: RendererChoice,
    /// Where the compositor tells senders of notifications what users did with them
    /// (`notifications::serve`); without it notifications still show.
    pub notifications: Option<parts::Signals>,
    /// Where the status part looks for batteries.
    pub power_supply: PathBuf,
    /// The apps the launcher's menu offers (desktop entries; `NoDisplay` ones are left out).
    pub apps: Vec<crate::autostart::App>,
    /// Whose password unlocks the lock screen, and where its hash is.
    pub lock: LockOptions,
    /// Lock after this long without input (unless a shown window inhibits idling).
    pub lock_after: Option<Duration>,
    /// The file settings are read from at start and saved to on each change (`None`:
    /// changes last only while the shell runs).
    pub settings: Option<PathBuf>,
    /// Where the launcher looks for app icons (`launcher::ICON_DIRS`).
    pub icon_dirs: Vec<PathBuf>,
}

/// An app the task bar can start: its button's name and its command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launcher {
    pub name: String,
    pub command: Vec<String>,
}

impl Options {
    /// A headless compositor of `width` x `height` at scale 1 with the default swap wait.
    pub fn headless(socket: impl Into<String>, shell: ShellDef, width: u32, height: u32) -> Self {
        Self {
            socket: socket.into(),
            shell,
            backend: BackendChoice::Headless { width, height },
            scale: 1,
            swap_wait: SWAP_WAIT,
            game_mode: None,
            xwayland: false,
            draw_cursor: false,
            blank_after: None,
            launchers: Vec::new(),
            renderer: RendererChoice::Auto,
            notifications: None,
            power_supply: POWER_SUPPLY.into(),
            apps: Vec::new(),
            lock: LockOptions::default(),
            lock_after: None,
            settings: None,
            icon_dirs: launcher::ICON_DIRS.iter().map(PathBuf::from).collect(),
        }
    }
}

/// Why the compositor could not start.
#[derive(Debug, thiserror::Error)]
pub enum CompositorError {
    #[error("cannot create the Wayland display: {0}")]
    Display(String),
    #[error(
        "cannot listen on Wayland socket `{name}`: {message} (is XDG_RUNTIME_DIR set and writable, and is no other compositor using that name?)"
    )]
    Socket { name: String, message: String },
    #[error("event loop: {0}")]
    EventLoop(String),
    #[error(transparent)]
    Render(#[from] RenderError),
    #[error(
        "cannot open a window on the desktop: {0} (the nested backend needs DISPLAY or WAYLAND_DISPLAY; use --headless WxH without one)"
    )]
    Host(String),
    #[error(transparent)]
    Screen(#[from] backend::kms::KmsError),
}

/// Per-client data smithay needs, and the security context a sandboxed client connected
/// through (wp_security_context_v1), if any.
#[derive(Default)]
struct ClientState {
    compositor_state: smithay::wayland::compositor::CompositorClientState,
    security: Option<smithay::wayland::security_context::SecurityContext>,
    /// Its live `wl_surface`s, held under [`MAX_SURFACES_PER_CLIENT`].
    surfaces: std::sync::atomic::AtomicUsize,
    /// Its live shm `wl_buffer`s, held under [`MAX_BUFFERS_PER_CLIENT`].
    buffers: std::sync::atomic::AtomicUsize,
    /// What it is known to get wrong (see `quirks.rs`).
    quirks: quirks::Quirks,
}

/// The most `wl_surface`s one client may hold at once: far above what toolkits make (a window
/// is a handful; browsers reach hundreds), far below what would take the shell's memory. The
/// client that asks for more is disconnected with `wl_display.error` `no_memory`, as
/// libwayland's `wl_client_post_no_memory` does.
pub const MAX_SURFACES_PER_CLIENT: usize = 10_000;

/// The most shm `wl_buffer`s one client may hold at once (toolkits keep two or three per
/// surface), enforced the same way.
pub const MAX_BUFFERS_PER_CLIENT: usize = 10_000;

/// `engine/app-id` of the sandbox the client of `surface` runs in.
fn sandbox_of(surface: &WlSurface) -> Option<String> {
    let client = surface.client()?;
    let context = client.get_data::<ClientState>()?.security.clone()?;
    Some(format!(
        "{}/{}",
        context.sandbox_engine.as_deref().unwrap_or("sandbox"),
        context.app_id.as_deref().unwrap_or("app")
    ))
}

/// Whether `client` connected through a sandbox's socket: privileged globals (layer
/// shell, input methods, creating security contexts) are hidden from it.
fn sandboxed(client: &smithay::reexports::wayland_server::Client) -> bool {
    client
        .get_data::<ClientState>()
        .is_some_and(|d| d.security.is_some())
}

/// Set when a client that held many objects left: the loop then returns the memory they
/// took to the system (malloc keeps freed memory in its arenas otherwise: 549 MB stayed
/// after a 100,000-surface flood, from 148 MB).
static TRIM_MEMORY: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Objects a client must have held for its leaving to trim memory.
const TRIM_AFTER_OBJECTS: usize = 1_000;

impl smithay::reexports::wayland_server::backend::ClientData for ClientState {
    fn initialized(&self, _: smithay::reexports::wayland_server::backend::ClientId) {}
    fn disconnected(
        &self,
        _: smithay::reexports::wayland_server::backend::ClientId,
        _: smithay::reexports::wayland_server::backend::DisconnectReason,
    ) {
        use std::sync::atomic::Ordering::Relaxed;
        let held = self.surfaces.load(Relaxed) + self.buffers.load(Relaxed);
        if held >= TRIM_AFTER_OBJECTS {
            TRIM_MEMORY.store(true, Relaxed);
        }
    }
}

/// Returns freed memory to the system once a big client has left (see [`TRIM_MEMORY`]).
fn trim_memory_if_asked() {
    if TRIM_MEMORY.swap(false, std::sync::atomic::Ordering::Relaxed) {
        // SAFETY: glibc's malloc_trim takes its arenas' locks and only hands free pages back
        // to the system; it touches no memory in use. (The shell is a glibc build: it loads
        // Vulkan drivers. Other C libraries have no malloc_trim, and nothing is done there.)
        #[cfg(target_env = "gnu")]
        unsafe {
            libc::malloc_trim(0);
        }
    }
}

/// A toplevel and what the compositor knows of it beyond the policy.
struct Tracked {
    toplevel: toplevel::Toplevel,
    id: WindowId,
    buffer: Option<(i32, i32)>,
    frames: u64,
    /// The configure a swap sent, until the client acknowledged it and committed.
    swap_serial: Option<smithay::utils::Serial>,
    swap_acked: bool,
}

impl Tracked {
    fn new(toplevel: toplevel::Toplevel, id: WindowId) -> Tracked {
        Tracked {
            toplevel,
            id,
            buffer: None,
            frames: 0,
            swap_serial: None,
            swap_acked: false,
        }
    }
}

/// A swap being shown: frames wait until every window it resized has redrawn (or until
/// `until`), so no frame shows windows of the old shell's size in the new shell's places.
struct Transaction {
    until: Instant,
    waiting: Vec<WindowId>,
}

/// A pointer drag the compositor handles itself (title bar move, corner resize).
#[derive(Debug, Clone, Copy)]
enum Grab {
    Move {
        window: WindowId,
        start: (f64, f64),
        origin: Rect,
    },
    Resize {
        window: WindowId,
        start: (f64, f64),
        origin: Rect,
    },
}

pub(crate) struct State {
    display: DisplayHandle,
    compositor_state: CompositorState,
    shm_state: ShmState,
    xdg_shell_state: XdgShellState,
    _xdg_decoration_state: XdgDecorationState,
    layer_shell_state: WlrLayerShellState,
    data_device_state: DataDeviceState,
    _viewporter_state: ViewporterState,
    _presentation_state: PresentationState,
    seat_state: SeatState<State>,
    seat: Seat<State>,
    _output_manager: OutputManagerState,
    toolkits: toolkits::Toolkits,
    /// Xwayland and its window manager, when X11 apps are on.
    dmabufs: dmabuf::Dmabufs,
    xserver: Option<xwayland::Xserver>,
    /// The event loop, for the sockets sandboxes open (security contexts).
    loop_handle: smithay::reexports::calloop::LoopHandle<'static, State>,
    output: Output,
    popups: PopupManager,
    shell: Shell,
    /// The toplevels, by the shell's id (ids grow: in the order they opened).
    windows: BTreeMap<WindowId, Tracked>,
    /// Where frames go, and the renderer that draws them.
    backend: backend::Backend,
    /// Output size in logical pixels, and the integer scale to physical ones.
    size: (u32, u32),
    scale: u32,
    /// Something changed since the last frame was drawn.
    dirty: bool,
    /// Frame callbacks waiting for the next frame, per surface.
    pending_frames: HashMap<WlSurface, Vec<WlCallback>>,
    /// Presentation feedback waiting for the next frame.
    pending_feedback: Vec<PresentationFeedbackCallback>,
    grab: Option<Grab>,
    swap_wait: Duration,
    /// The grab was asked for by the client (xdg_toplevel.move/resize), not started by a
    /// press on the shell's chrome.
    grab_from_client: bool,
    /// Popups that asked for a grab (menus), dismissed by a press elsewhere.
    grabbing_popups: Vec<smithay::wayland::shell::xdg::PopupSurface>,
    transaction: Option<Transaction>,
    /// Screenshots asked for while a transaction held frames back.
    pending_screenshots: Vec<mpsc::Sender<Result<Image, String>>>,
    /// The chrome's font and the text already rasterized.
    text: crate::text::Text,
    text_cache: scene::TextCache,
    /// Counts scene builds, for text eviction.
    text_frame: u64,
    /// Accepting clients failed; the socket is off until the retry timer.
    listening_paused: bool,
    /// Input devices that went away since the last rescan.
    devices_lost: Vec<PathBuf>,
    /// Super+Shift+G's shell, and the shell it replaced while it is on.
    game_mode: Option<ShellDef>,
    before_game_mode: Option<ShellDef>,
    /// Policy ids of popup and layer surfaces.
    popup_ids: HashMap<WlSurface, crate::policy::PopupId>,
    layer_ids: HashMap<WlSurface, crate::policy::LayerId>,
    /// A touch that started on a screen edge (the edge switcher, the bottom edge's swipe
    /// home), until it lifts.
    swipe: Option<input::EdgeSwipe>,
    /// The modifiers of the shortcut that stepped the switcher (Alt of Alt+Tab): releasing
    /// one of them picks the selected window.
    switcher_mods: crate::shortcuts::Mods,
    /// Touch slots emulated as the pointer (clients without wl_touch).
    emulated: Option<i32>,
    /// Blanking: after how long without input, when the last input came, and whether the
    /// screen is black now.
    blank_after: Option<Duration>,
    last_input: Instant,
    /// What the task bar's buttons start, and where started apps find this shell.
    launchers: Vec<Launcher>,
    /// Notifications' signals to their senders, and the status line's sources (`parts`).
    notification_signals: Option<parts::Signals>,
    status: parts::StatusSource,
    /// The launcher's apps (in the menu's order), and whether Super is down with no other
    /// key since (its release then opens the menu).
    apps: Vec<crate::autostart::App>,
    super_alone: bool,
    /// The menu apps' icon textures, by app index (`launcher::load_icons`).
    icons: HashMap<usize, crate::render::TextureKey>,
    /// The lock screen's password check (`lock`), and when idleness locks.
    lock_options: LockOptions,
    password_check: Option<lock::Check>,
    lock_after: Option<Duration>,
    session_lock_state: smithay::wayland::session_lock::SessionLockManagerState,
    external_lock: Option<lock::ExternalLock>,
    /// The settings in force, where they are kept, and the wallpaper colour they chose.
    settings: crate::settings::Settings,
    settings_file: Option<PathBuf>,
    background: [f32; 4],
    /// The lock and blank timeouts of `Options`: what `default` settings go back to.
    timeouts_given: (Option<Duration>, Option<Duration>),
    socket: String,
    x_display: Option<u32>,
    blanked: bool,
    /// Frames show the cursor (`cursor`), once a pointer moved.
    draw_cursor: bool,
    pointer_moved: bool,
    /// The on-screen keyboard's Shift applies to the next key.
    shift_latched: bool,
    /// A press (pointer or touch slot) landed on the shell's own chrome (the on-screen
    /// keyboard, a notification popup): its release is the shell's too.
    on_chrome: Option<Option<i32>>,
    next_key: u64,
    /// Frames drawn, their total and longest time.
    drawn: (u64, Duration, Duration),
    /// When the last frame ran; frames are at least `FRAME` apart.
    last_frame: Instant,
    started: Instant,
    frame: u64,
    stop: bool,
}

fn xdg_states(
    states: &States,
) -> Vec<smithay::reexports::wayland_protocols::xdg::shell::server::xdg_toplevel::State> {
    use smithay::reexports::wayland_protocols::xdg::shell::server::xdg_toplevel::State as S;
    let mut out = Vec::new();
    if states.activated {
        out.push(S::Activated);
    }
    if states.maximized {
        out.push(S::Maximized);
    }
    if states.fullscreen {
        out.push(S::Fullscreen);
    }
    out
}

impl State {
    /// Sends every configure the policy asks for, and moves keyboard focus with the
    /// policy's focus. Returns the windows that were sent one, with its serial.
    fn send_configures(&mut self) -> Vec<(WindowId, smithay::utils::Serial)> {
        let mut sent = Vec::new();
        // xdg_toplevel.configure_bounds: the largest a window may usefully be.
        let area = self.shell.work_area();
        let bounds = (area.width as i32, area.height as i32);
        for (id, width, height, states) in self.shell.take_configures() {
            let Some(w) = self.windows.get_mut(&id) else {
                continue;
            };
            let toplevel::Toplevel::Xdg(toplevel) = &w.toplevel else {
                continue; // X11 windows are placed below, with their position
            };
            toplevel.with_pending_state(|s| {
                s.size = Some((width as i32, height as i32).into());
                s.bounds = Some(bounds.into());
                s.states = Default::default();
                for st in xdg_states(&states) {
                    s.states.set(st);
                }
            });
            if toplevel.is_initial_configure_sent()
                && let Some(serial) = toplevel.send_pending_configure()
            {
                sent.push((id, serial));
            }
        }
        self.place_x11_windows();
        self.sync_keyboard_focus();
        self.dirty = true;
        sent
    }

    /// Starts holding frames until the windows a swap resized have redrawn.
    fn begin_transaction(&mut self, sent: Vec<(WindowId, smithay::utils::Serial)>) {
        let mut waiting = Vec::new();
        for (id, serial) in sent {
            if let Some(w) = self.windows.get_mut(&id)
                && w.buffer.is_some()
            {
                w.swap_serial = Some(serial);
                w.swap_acked = false;
                waiting.push(id);
            }
        }
        if waiting.is_empty() {
            return;
        }
        // Swaps in quick succession join the open transaction; its deadline stays.
        match &mut self.transaction {
            Some(t) => {
                for id in waiting {
                    if !t.waiting.contains(&id) {
                        t.waiting.push(id);
                    }
                }
            }
            None => {
                self.transaction = Some(Transaction {
                    until: Instant::now() + self.swap_wait,
                    waiting,
                })
            }
        }
    }

    /// A window committed a new buffer: if it acknowledged the swap's configure first,
    /// it is ready.
    fn transaction_commit(&mut self, surface: &WlSurface, new_buffer: bool) {
        let Some(w) = self.window_for(surface) else {
            return;
        };
        if new_buffer && w.swap_serial.is_some() && w.swap_acked {
            w.swap_serial = None;
            let id = w.id;
            if let Some(t) = &mut self.transaction {
                t.waiting.retain(|x| *x != id);
            }
        }
    }

    /// Gives the keyboard to the window the policy focused, once it is mapped: a client
    /// must never get `wl_keyboard.enter` for a surface it has not configured and drawn
    /// yet (foot crashes on that).
    fn sync_keyboard_focus(&mut self) {
        // Locked: no app has the keyboard; an external locker's surface has it.
        let focused = if self.is_locked() {
            self.external_lock
                .as_ref()
                .and_then(|l| l.surface())
                .map(|s| toplevel::KeyboardFocus::Surface(s.wl_surface().clone()))
        } else {
            self.shell.focused().and_then(|id| {
                self.windows
                    .get(&id)
                    .filter(|w| w.buffer.is_some())
                    .and_then(|w| w.toplevel.focus())
            })
        };
        let Some(keyboard) = self.seat.get_keyboard() else {
            return;
        };
        if keyboard.current_focus() != focused {
            let serial = smithay::utils::SERIAL_COUNTER.next_serial();
            keyboard.set_focus(self, focused, serial);
        }
    }

    /// Serves a client connected over `stream`, sandboxed when it came through a security
    /// context; what it gets wrong is looked up by its process (`quirks`).
    fn insert_client(
        &mut self,
        stream: std::os::unix::net::UnixStream,
        security: Option<smithay::wayland::security_context::SecurityContext>,
    ) -> std::io::Result<()> {
        let client = ClientState {
            quirks: quirks::Quirks::of_peer(&stream),
            security,
            ..ClientState::default()
        };
        self.display
            .insert_client(stream, Arc::new(client))
            .map(|_| ())
    }

    /// The window whose toplevel surface is `surface`.
    fn window_of(&self, surface: &WlSurface) -> Option<&Tracked> {
        self.windows.values().find(|w| w.toplevel.is(surface))
    }

    fn window_for(&mut self, surface: &WlSurface) -> Option<&mut Tracked> {
        self.windows.values_mut().find(|w| w.toplevel.is(surface))
    }

    /// A window is gone (its client destroyed it, or unmapped it under X11): the shell
    /// forgets it and re-lays the rest.
    fn window_closed(&mut self, id: WindowId) {
        self.shell.close(id);
        if let Some(t) = &mut self.transaction {
            t.waiting.retain(|x| *x != id);
        }
        if matches!(self.grab, Some(Grab::Move { window, .. } | Grab::Resize { window, .. }) if window == id)
        {
            self.grab = None;
        }
        self.send_configures();
    }

    fn time_ms(&self) -> u32 {
        self.started.elapsed().as_millis() as u32
    }

    /// Blanks the screen once no input came for `blank_after`, unless a window that is
    /// on screen inhibits idling.
    fn blank_when_idle(&mut self) {
        let idle = self.last_input.elapsed();
        let lock_due = self
            .lock_after
            .is_some_and(|after| idle >= after && !self.is_locked());
        let blank_due = self
            .blank_after
            .is_some_and(|after| idle >= after && !self.blanked);
        if !lock_due && !blank_due {
            return;
        }
        let inhibited = self.toolkits.inhibitors.iter().any(|surface| {
            surface.is_alive()
                && self
                    .window_of(&root_of(surface))
                    .is_some_and(|w| w.buffer.is_some())
        });
        if inhibited {
            return;
        }
        if lock_due {
            tracing::info!("no input for {} s: locking", idle.as_secs());
            if self.lock_session().is_err() {
                // Said once in a notification; not again every second.
                self.lock_after = None;
            }
        }
        if blank_due {
            tracing::debug!("no input for {} s: blanking the screen", idle.as_secs());
            self.blanked = true;
            self.dirty = true;
        }
    }

    /// Whether a frame has work (something to draw, callbacks or feedback waiting, a swap
    /// or screenshot pending). An idle compositor draws no frames and does not wake up.
    fn busy(&self) -> bool {
        self.dirty
            || !self.pending_frames.is_empty()
            || !self.pending_feedback.is_empty()
            || self.transaction.is_some()
            || !self.pending_screenshots.is_empty()
    }

    /// A frame is due: it has work and the last one was a frame period ago.
    fn frame_due(&self) -> bool {
        self.busy() && self.last_frame.elapsed() >= FRAME
    }

    /// How long the loop may sleep: until the next frame when there is work, else until
    /// an event (or a second, to be safe).
    fn next_frame_in(&self) -> Duration {
        let wait = if self.busy() {
            FRAME.saturating_sub(self.last_frame.elapsed())
        } else {
            Duration::from_secs(1)
        };
        match self.parts_due_in(Instant::now()) {
            Some(due) => wait.min(due),
            None => wait,
        }
    }

    /// One frame: render if anything changed, then frame callbacks for every surface that
    /// runs at full rate this frame, and presentation feedback.
    fn frame(&mut self) {
        self.frame += 1;
        self.last_frame = Instant::now();
        if let Some(t) = &self.transaction
            && (t.waiting.is_empty() || Instant::now() >= t.until)
        {
            if !t.waiting.is_empty() {
                tracing::debug!(
                    "windows {:?} did not redraw in time for the swap",
                    t.waiting
                );
            }
            self.transaction = None;
            self.dirty = true;
        }
        let mut shown = false;
        if self.transaction.is_none() {
            if self.dirty {
                self.dirty = false;
                let start = Instant::now();
                match self.render() {
                    Ok(()) => shown = !self.dirty,
                    Err(e) => tracing::warn!("frame not drawn: {e}"),
                }
                if shown {
                    let took = start.elapsed();
                    self.drawn.0 += 1;
                    self.drawn.1 += took;
                    self.drawn.2 = self.drawn.2.max(took);
                    if self.drawn.0 == 1 {
                        tracing::info!(
                            "first frame shown, {:.0} ms after the compositor started",
                            self.started.elapsed().as_secs_f64() * 1000.0
                        );
                    }
                }
                self.evict_text();
            }
            for reply in std::mem::take(&mut self.pending_screenshots) {
                let _ = reply.send(self.screenshot().map_err(|e| e.to_string()));
            }
        }
        let now = self.time_ms();
        let throttled: Vec<WlSurface> = self
            .shell
            .throttled()
            .into_iter()
            .filter_map(|id| self.windows.get(&id)?.toplevel.wl_surface())
            .collect();
        let slow_frame = !self.frame.is_multiple_of(4);
        let surfaces: Vec<WlSurface> = self.pending_frames.keys().cloned().collect();
        for surface in surfaces {
            if slow_frame && throttled.contains(&root_of(&surface)) {
                continue;
            }
            if let Some(callbacks) = self.pending_frames.remove(&surface) {
                let root = root_of(&surface);
                for cb in callbacks {
                    cb.done(now);
                    if let Some(w) = self.window_for(&root) {
                        w.frames += 1;
                    }
                }
            }
        }
        if !shown {
            // Feedback waits for a frame that really shows the commit.
            return;
        }
        let clock = rustix_clock();
        for feedback in self.pending_feedback.drain(..) {
            feedback.presented(
                &self.output,
                clock,
                Refresh::fixed(FRAME),
                self.frame,
                wp_presentation_feedback::Kind::empty(),
            );
        }
    }

    /// Draws the scene through the backend.
    fn render(&mut self) -> Result<(), RenderError> {
        let draws = scene::draws(self);
        let drawn = self
            .backend
            .render(self.background, self.scale as f32, &draws)?;
        if drawn == backend::Drawn::Later {
            self.dirty = true;
        }
        Ok(())
    }

    /// Where the pointer is, in output coordinates.
    pub(crate) fn pointer_position(&self) -> (f64, f64) {
        self.seat
            .get_pointer()
            .map(|p| {
                let at = p.current_location();
                (at.x, at.y)
            })
            .unwrap_or_default()
    }

    /// Renders the scene offscreen and reads it back.
    fn screenshot(&mut self) -> Result<Image, RenderError> {
        let draws = scene::draws(self);
        let size = (self.size.0 * self.scale, self.size.1 * self.scale);
        self.backend
            .screenshot(size, self.background, self.scale as f32, &draws)
    }

    /// The output changed size (the nested window was resized).
    fn resize(&mut self, physical: (u32, u32)) {
        let size = (
            (physical.0 / self.scale).max(1),
            (physical.1 / self.scale).max(1),
        );
        if size == self.size {
            return;
        }
        self.size = size;
        let mode = Mode {
            size: (
                size.0 as i32 * self.scale as i32,
                size.1 as i32 * self.scale as i32,
            )
                .into(),
            refresh: 60_000,
        };
        self.output
            .change_current_state(Some(mode), None, None, None);
        self.output.set_preferred(mode);
        self.backend.resize(physical);
        layer_map_for_output(&self.output).arrange();
        self.shell.set_output(size.0, size.1);
        self.reserve_for_layers();
    }

    fn info(&self) -> Vec<WindowInfo> {
        let views = self.shell.windows_by_id();
        let focused = self.shell.focused();
        let popups = self.shell.popups();
        self.windows
            .values()
            .filter_map(|w| {
                let v = views.get(&w.id)?;
                Some(WindowInfo {
                    id: w.id,
                    app_id: v.app_id.clone(),
                    title: v.title.clone(),
                    geometry: v.geometry,
                    focused: focused == Some(w.id),
                    configured: self.shell.last_configure(w.id).unwrap_or((
                        0,
                        0,
                        States::default(),
                    )),
                    buffer: w.buffer,
                    frames: w.frames,
                    popups: popups.iter().filter(|p| p.parent == w.id).count(),
                    sandbox: w.toplevel.wl_surface().and_then(|s| sandbox_of(&s)),
                    minimized: v.minimized,
                })
            })
            .collect()
    }

    /// Swaps the shell in one step: the policy re-lays out and configures every window
    /// before anything is drawn. Returns how long that took.
    fn swap(&mut self, def: ShellDef) -> Duration {
        let start = Instant::now();
        self.shell.swap(def);
        let sent = self.send_configures();
        self.begin_transaction(sent);
        start.elapsed()
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Swap(def, done) => {
                let _ = done.send(self.swap(def));
            }
            Command::Windows(reply) => {
                let _ = reply.send(self.info());
            }
            Command::Screenshot(reply) => {
                if self.transaction.is_some() {
                    // After the swap is complete: a screenshot shows what a frame shows.
                    self.pending_screenshots.push(reply);
                } else {
                    let _ = reply.send(self.screenshot().map_err(|e| e.to_string()));
                }
            }
            Command::Input(event) => self.input(event),
            Command::Stats(reply) => {
                let (frames, total, max) = self.drawn;
                let _ = reply.send(FrameStats {
                    frames,
                    mean_ms: total.as_secs_f64() * 1000.0 / frames.max(1) as f64,
                    max_ms: max.as_secs_f64() * 1000.0,
                    cpu_seconds: cpu_seconds(),
                    uptime_seconds: self.started.elapsed().as_secs_f64(),
                    renderer: self.backend.renderer().kind().into(),
                    renderer_name: self.backend.renderer().name(),
                    renderer_why: self.backend.renderer_why().into(),
                });
            }
            Command::Active(reply) => {
                let _ = reply.send(self.shell.active().name.clone());
            }
            Command::Notify(request, reply) => {
                let _ = reply.send(self.notify(*request));
            }
            Command::Lock(reply) => {
                let _ = reply.send(self.lock_session());
            }
            Command::Set(key, value, reply) => {
                let _ = reply.send(self.set_setting(&key, &value));
            }
            Command::Settings(reply) => {
                let _ = reply.send(self.settings.list());
            }
            Command::CloseNotification(id, reply) => {
                let closed = self
                    .close_notification(id, compose_shell_policy::notifications::Closed::ByCall);
                let _ = reply.send(closed);
            }
            Command::Stop => self.stop = true,
        }
    }
}

/// Every client holds file descriptors here (its socket, one per shm pool): allow as many
/// as the system lets this process have.
fn raise_file_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, limit) {
            tracing::debug!("open file limit not raised: {e}");
        }
    }
}

/// The toplevel (or layer, or popup root) surface a subsurface belongs to.
fn root_of(surface: &WlSurface) -> WlSurface {
    let mut root = surface.clone();
    while let Some(parent) = get_parent(&root) {
        root = parent;
    }
    root
}

/// CLOCK_MONOTONIC now, the clock presentation feedback reports in.
fn rustix_clock() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Signal handlers of a running compositor, removed when it returns (however it returns):
/// the process gets its default handling back.
struct Signals(Vec<signal_hook::SigId>);

impl Drop for Signals {
    fn drop(&mut self) {
        for id in self.0.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// Runs a compositor until a `Stop` command (or the nested window is closed).
pub fn run(options: Options, commands: Channel<Command>) -> Result<(), CompositorError> {
    run_with(options, commands, |_| {})
}

/// Like `run`; `ready` is called once clients can connect (to start apps), with the X
/// display number when Xwayland runs.
pub fn run_with(
    options: Options,
    commands: Channel<Command>,
    ready: impl FnOnce(Option<u32>),
) -> Result<(), CompositorError> {
    let mut compositor = Compositor::new(options, commands)?;
    ready(compositor.x_display());
    while compositor.step(None)? {}
    Ok(())
}

/// A compositor, built and listening, that its owner steps: `run` steps it until it stops;
/// tests may step it themselves, one dispatch at a time.
pub struct Compositor {
    // Dropped in this order, as the locals of the loop were: the state, then the loop.
    state: State,
    event_loop: EventLoop<'static, State>,
    /// The listening socket's source: removed by hand when the compositor goes (sources
    /// that hold loop handles keep the loop alive), so the socket and its lock file go; the
    /// X display's sources likewise (`Xserver::stop`).
    listening: smithay::reexports::calloop::RegistrationToken,
    signalled: Arc<std::sync::atomic::AtomicBool>,
    _signals: Signals,
}

impl std::fmt::Debug for Compositor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compositor")
            .field("socket", &self.state.socket)
            .finish()
    }
}

impl Drop for Compositor {
    fn drop(&mut self) {
        let handle = self.event_loop.handle();
        handle.remove(self.listening);
        if let Some(x) = &mut self.state.xserver {
            x.stop(&handle);
        }
    }
}

impl Compositor {
    /// Opens the backend, binds the socket and sets every protocol up; clients can
    /// connect once this returns.
    pub fn new(options: Options, commands: Channel<Command>) -> Result<Self, CompositorError> {
        new_compositor(options, commands)
    }

    /// Serves a client over `stream` (one end of a `UnixStream::pair`) as if it had
    /// connected to the socket: a test can then step the compositor and the client on one
    /// thread, without sockets on disk or sleeps.
    pub fn insert_client(
        &mut self,
        stream: std::os::unix::net::UnixStream,
    ) -> Result<(), CompositorError> {
        self.state
            .insert_client(stream, None)
            .map_err(|e| CompositorError::Display(e.to_string()))
    }

    /// The X display apps get, when Xwayland is on.
    pub fn x_display(&self) -> Option<u32> {
        self.state.x_display
    }

    /// Dispatches what arrived (clients, input, commands), waiting at most until the next
    /// frame is due (or `timeout`, if shorter), then draws a frame if one is due. Returns
    /// false once the compositor was asked to stop (a command, a signal, the window closed).
    pub fn step(&mut self, timeout: Option<Duration>) -> Result<bool, CompositorError> {
        let state = &mut self.state;
        if state.stop || self.signalled.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(false);
        }
        let mut wait = state.next_frame_in();
        if let backend::Backend::Nested(_) = state.backend {
            wait = wait.min(Duration::from_millis(4));
        }
        if let Some(timeout) = timeout {
            wait = wait.min(timeout);
        }
        self.event_loop
            .dispatch(Some(wait), state)
            .map_err(|e| CompositorError::EventLoop(e.to_string()))?;
        state.start_xwayland_when_asked();
        state.find_x11_surfaces();
        state.blank_when_idle();
        state.tick_parts();
        state.tick_lock();
        if state.frame_due() {
            state.frame();
        }
        state.pump_host();
        state.popups.cleanup();
        let _ = state.display.flush_clients();
        trim_memory_if_asked();
        Ok(!state.stop && !self.signalled.load(std::sync::atomic::Ordering::Relaxed))
    }
}

fn new_compositor(
    options: Options,
    commands: Channel<Command>,
) -> Result<Compositor, CompositorError> {
    // SIGTERM, SIGINT or SIGHUP end the loop like a Stop command: dropping the loop
    // removes the socket and its lock file, and callers stop the apps they started.
    // Registered first, so a signal that comes while the compositor starts ends it cleanly.
    let signalled = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let signals = Signals(
        [
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGHUP,
        ]
        .into_iter()
        .filter_map(|s| signal_hook::flag::register(s, signalled.clone()).ok())
        .collect(),
    );
    let scale = options.scale.max(1);
    let (backend, size) =
        backend::Backend::open(&options.backend, options.renderer, scale, &options.socket)?;
    tracing::info!(
        "rendering on the {} with {}: {}",
        backend.renderer().kind(),
        backend.renderer().name(),
        backend.renderer_why()
    );

    let event_loop: EventLoop<'static, State> =
        EventLoop::try_new().map_err(|e| CompositorError::EventLoop(e.to_string()))?;
    let display: Display<State> =
        Display::new().map_err(|e| CompositorError::Display(e.to_string()))?;
    let dh = display.handle();
    let compositor_state = CompositorState::new::<State>(&dh);
    let shm_state = ShmState::new::<State>(&dh, vec![]);
    let xdg_shell_state = XdgShellState::new::<State>(&dh);
    let xdg_decoration_state = XdgDecorationState::new::<State>(&dh);
    let layer_shell_state = WlrLayerShellState::new_with_filter::<State, _>(&dh, |c| !sandboxed(c));
    // Lockers are the user's own programs: sandboxed apps cannot lock the session.
    let session_lock_state =
        smithay::wayland::session_lock::SessionLockManagerState::new::<State, _>(&dh, |c| {
            !sandboxed(c)
        });
    let data_device_state = DataDeviceState::new::<State>(&dh);
    let viewporter_state = ViewporterState::new::<State>(&dh);
    let presentation_state =
        PresentationState::new::<State>(&dh, rustix::time::ClockId::Monotonic as u32);
    let mut seat_state = SeatState::new();
    let mut seat: Seat<State> = seat_state.new_wl_seat(&dh, "seat0");
    seat.add_keyboard(Default::default(), 400, 30)
        .map_err(|e| CompositorError::EventLoop(format!("keyboard (xkb): {e}")))?;
    seat.add_pointer();
    seat.add_touch();
    let output_manager = OutputManagerState::new_with_xdg_output::<State>(&dh);
    let output = Output::new(
        "compose-0".into(),
        PhysicalProperties {
            size: (0, 0).into(),
            subpixel: Subpixel::Unknown,
            make: "compose".into(),
            model: backend.model().into(),
        },
    );
    let _global = output.create_global::<State>(&dh);
    let refresh = backend.refresh_mhz();
    let mode = Mode {
        size: ((size.0 * scale) as i32, (size.1 * scale) as i32).into(),
        refresh,
    };
    output.change_current_state(
        Some(mode),
        Some(Transform::Normal),
        Some(Scale::Integer(scale as i32)),
        Some((0, 0).into()),
    );
    output.set_preferred(mode);

    // A name is created in XDG_RUNTIME_DIR; a path (with a `/`) is used as it is.
    let listener = if options.socket.contains('/') {
        ListeningSocket::bind_absolute(PathBuf::from(&options.socket))
    } else {
        ListeningSocket::bind(&options.socket)
    }
    .map_err(|e| CompositorError::Socket {
        name: options.socket.clone(),
        message: e.to_string(),
    })?;
    raise_file_limit();
    let handle = event_loop.handle();
    let listening = handle
        .insert_source(
            Generic::new(listener, Interest::READ, CMode::Level),
            |_, listener, state: &mut State| loop {
                match listener.accept() {
                    Ok(Some(stream)) => {
                        if let Err(e) = state.insert_client(stream, None) {
                            tracing::warn!("cannot accept a Wayland client: {e}");
                        }
                    }
                    Ok(None) => return Ok(PostAction::Continue),
                    Err(e) => {
                        // Out of file descriptors, most likely: stop listening for a
                        // moment instead of spinning (or quitting); clients keep running.
                        tracing::warn!("cannot accept Wayland clients for now: {e}");
                        state.listening_paused = true;
                        return Ok(PostAction::Disable);
                    }
                }
            },
        )
        .map_err(|e| CompositorError::EventLoop(e.error.to_string()))?;
    let resume = handle.clone();
    handle
        .insert_source(Timer::from_duration(ACCEPT_RETRY), move |_, _, state| {
            if std::mem::take(&mut state.listening_paused)
                && let Err(e) = resume.enable(&listening)
            {
                tracing::warn!("cannot listen again: {e}");
            }
            TimeoutAction::ToDuration(ACCEPT_RETRY)
        })
        .map_err(|e| CompositorError::EventLoop(e.error.to_string()))?;
    handle
        .insert_source(
            Generic::new(display, Interest::READ, CMode::Level),
            |_, display, state| {
                // SAFETY: the display lives in this source for as long as the event loop,
                // and is never dropped while dispatching.
                unsafe {
                    if let Err(e) = display.get_mut().dispatch_clients(state) {
                        tracing::warn!("dispatching Wayland clients failed: {e}");
                    }
                }
                Ok(PostAction::Continue)
            },
        )
        .map_err(|e| CompositorError::EventLoop(e.error.to_string()))?;
    handle
        .insert_source(commands, |event, _, state| match event {
            ChannelEvent::Msg(command) => state.command(command),
            ChannelEvent::Closed => state.stop = true,
        })
        .map_err(|e| CompositorError::EventLoop(e.error.to_string()))?;

    let toolkits = toolkits::Toolkits::new(&dh);
    quirks::add_globals(&dh);
    let dmabufs = dmabuf::Dmabufs::new(&dh);
    // Without Xwayland the shell still runs Wayland apps: a warning, not an error.
    let xserver = if options.xwayland {
        xwayland::start(&event_loop.handle(), &dh)
            .inspect_err(|e| tracing::warn!("{e}; X11 apps cannot start"))
            .ok()
    } else {
        None
    };
    let x_display = xserver.as_ref().map(|x| x.display);
    let mut state = State {
        display: dh,
        compositor_state,
        shm_state,
        xdg_shell_state,
        _xdg_decoration_state: xdg_decoration_state,
        layer_shell_state,
        data_device_state,
        _viewporter_state: viewporter_state,
        _presentation_state: presentation_state,
        seat_state,
        seat,
        _output_manager: output_manager,
        toolkits,
        dmabufs,
        xserver,
        loop_handle: handle.clone(),
        output,
        popups: PopupManager::default(),
        shell: Shell::new(options.shell, size.0, size.1),
        windows: BTreeMap::new(),
        backend,
        size,
        scale,
        dirty: true,
        pending_frames: HashMap::new(),
        pending_feedback: Vec::new(),
        grab: None,
        swap_wait: options.swap_wait,
        grab_from_client: false,
        grabbing_popups: Vec::new(),
        transaction: None,
        pending_screenshots: Vec::new(),
        text: crate::text::Text::system(),
        text_cache: scene::TextCache::default(),
        text_frame: 0,
        listening_paused: false,
        devices_lost: Vec::new(),
        game_mode: options.game_mode,
        before_game_mode: None,
        switcher_mods: crate::shortcuts::Mods::default(),
        popup_ids: HashMap::new(),
        layer_ids: HashMap::new(),
        swipe: None,
        emulated: None,
        shift_latched: false,
        blank_after: options.blank_after,
        last_input: Instant::now(),
        launchers: options.launchers.clone(),
        notification_signals: options.notifications.clone(),
        status: parts::StatusSource::new(&options.power_supply),
        apps: options
            .apps
            .iter()
            .filter(|a| !a.no_display)
            .cloned()
            .collect(),
        super_alone: false,
        icons: HashMap::new(),
        lock_options: options.lock.clone(),
        password_check: None,
        lock_after: options.lock_after,
        session_lock_state,
        external_lock: None,
        settings: crate::settings::Settings::default(),
        settings_file: options.settings.clone(),
        background: colors::BACKGROUND,
        timeouts_given: (options.lock_after, options.blank_after),
        socket: options.socket.clone(),
        x_display,
        blanked: false,
        draw_cursor: options.draw_cursor || matches!(options.backend, BackendChoice::Kms),
        pointer_moved: false,
        on_chrome: None,
        next_key: 1,
        drawn: (0, Duration::ZERO, Duration::ZERO),
        last_frame: Instant::now() - FRAME,
        started: Instant::now(),
        frame: 0,
        stop: false,
    };
    state.upload_arrow();
    state
        .shell
        .set_launchers(options.launchers.iter().map(|l| l.name.clone()).collect());
    state.shell.set_menu_apps(launcher::menu_apps(&state.apps));
    state.load_icons(&options.icon_dirs);
    if let Some(path) = &options.settings {
        // A file the shell cannot read or use is left as it is (the next change replaces
        // it) and the defaults run meanwhile.
        let loaded = crate::settings::Settings::load(path)
            .map_err(|e| e.to_string())
            .and_then(|s| state.apply_settings(&s));
        if let Err(e) = loaded {
            tracing::warn!("settings not applied: {e}");
        }
    }
    // The status line is there from the first frame.
    state.tick_parts();
    let is_screen = matches!(state.backend, backend::Backend::Kms(_));
    devices::watch(
        &handle,
        if is_screen {
            devices::Devices::All
        } else {
            devices::Devices::Gamepads
        },
    );
    if let Some(card) = state.backend.card() {
        let card = card.map_err(|e| CompositorError::EventLoop(format!("DRM card: {e}")))?;
        handle
            .insert_source(
                Generic::new(card, Interest::READ, CMode::Level),
                |_, _, state| {
                    state.backend.page_flipped();
                    Ok(PostAction::Continue)
                },
            )
            .map_err(|e| CompositorError::EventLoop(e.error.to_string()))?;
    }
    Ok(Compositor {
        state,
        event_loop,
        listening,
        signalled,
        _signals: signals,
    })
}
