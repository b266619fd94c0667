//! A small real Wayland client for tests and benchmarks of compositors (ours and weston).
//!
//! It opens xdg toplevels that fill every configure with one known colour through wl_shm,
//! acknowledges configures, counts frame callbacks, records keyboard, pointer and touch
//! events, and can misbehave on purpose (wrong buffer size, a buffer before the initial
//! configure, objects destroyed in the wrong order, a request flood) so a compositor's
//! error handling can be tested. Everything is safe Rust: pixels are written into a memfd
//! with `pwrite`, never mapped.

mod dmabuf;
pub mod fuzz;
mod protocols;

pub use dmabuf::ARGB8888;

pub use protocols::{DecorationMode, Presentation, SandboxSocket};

use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::fs::MemfdFlags;
use wayland_client::protocol::{
    wl_buffer::WlBuffer, wl_callback::WlCallback, wl_compositor::WlCompositor,
    wl_keyboard::WlKeyboard, wl_pointer::WlPointer, wl_registry::WlRegistry, wl_seat::WlSeat,
    wl_shm::WlShm, wl_shm_pool::WlShmPool, wl_surface::WlSurface, wl_touch::WlTouch,
};
use wayland_client::protocol::{wl_keyboard, wl_pointer, wl_registry, wl_seat, wl_shm, wl_touch};
use wayland_client::protocol::{wl_subcompositor::WlSubcompositor, wl_subsurface::WlSubsurface};
use wayland_client::{Connection, Dispatch, EventQueue, QueueHandle, WEnum};
use wayland_protocols::xdg::shell::client::{
    xdg_popup::{self, XdgPopup},
    xdg_positioner::{self, XdgPositioner},
    xdg_surface::{self, XdgSurface},
    xdg_toplevel::{self, XdgToplevel},
    xdg_wm_base::{self, XdgWmBase},
};

pub use wayland_client::backend::protocol::ProtocolError;
pub use xdg_toplevel::State as ToplevelState;

/// Size a window draws itself at when the compositor leaves the choice to it (0 x 0).
pub const DEFAULT_SIZE: (i32, i32) = (320, 240);

/// Why the client failed.
#[derive(Debug)]
pub enum ClientError {
    Connect(String),
    Missing(&'static str),
    Io(std::io::Error),
    /// The compositor ended the connection, with the protocol error it posted if any.
    Disconnected(Option<ProtocolError>),
    Timeout(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connect(m) => write!(f, "cannot connect: {m}"),
            Self::Missing(g) => write!(f, "the compositor offers no {g}"),
            Self::Io(e) => write!(f, "{e}"),
            Self::Disconnected(Some(e)) => write!(f, "disconnected with a protocol error: {e}"),
            Self::Disconnected(None) => write!(f, "disconnected"),
            Self::Timeout(what) => write!(f, "timed out waiting for {what}"),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<std::io::Error> for ClientError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

/// One configure as the client received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Configure {
    pub width: i32,
    pub height: i32,
    pub states: Vec<ToplevelState>,
}

impl Configure {
    pub fn has(&self, state: ToplevelState) -> bool {
        self.states.contains(&state)
    }
}

/// What happened to one toplevel.
#[derive(Debug, Default)]
pub struct Window {
    pub configures: Vec<Configure>,
    /// Size of the last buffer committed.
    pub drawn: Option<(i32, i32)>,
    pub frames: u64,
    pub closed: bool,
    /// Keyboard focus, as wl_keyboard enter/leave said.
    pub keyboard_focus: bool,
    /// Keys pressed (evdev codes) while this window had the keyboard.
    pub keys: Vec<u32>,
    /// Keys released while this window had the keyboard.
    pub released: Vec<u32>,
    /// The decoration mode the compositor chose (xdg-decoration).
    pub decoration: Option<DecorationMode>,
    decoration_object: Option<protocols::ToplevelDecoration>,
    /// What presentation feedback said of the last commit that asked for it.
    pub presentation: Option<Presentation>,
    /// Pointer button presses (evdev codes) and touch downs on this window.
    pub buttons: Vec<u32>,
    pub touches: u32,
    /// For popups: the position and size of the last xdg_popup configure, relative to the
    /// parent's window geometry.
    pub popup_configure: Option<(i32, i32, i32, i32)>,
    color: [u8; 4],
    pending: Option<Configure>,
    surface: Option<WlSurface>,
    xdg_surface: Option<XdgSurface>,
    toplevel: Option<XdgToplevel>,
    pub frame_pending: bool,
    frame_done_at: Option<Instant>,
}

impl Window {
    pub fn last_configure(&self) -> Option<&Configure> {
        self.configures.last()
    }
}

#[derive(Debug, Default)]
struct Globals {
    compositor: Option<WlCompositor>,
    subcompositor: Option<WlSubcompositor>,
    extras: protocols::Globals,
    shm: Option<WlShm>,
    wm_base: Option<XdgWmBase>,
    seat: Option<WlSeat>,
    names: Vec<String>,
}

/// Everything the event handlers write to.
#[derive(Debug, Default)]
pub struct State {
    globals: Globals,
    pub windows: Vec<Window>,
    pointer_on: Option<usize>,
    keyboard_on: Option<usize>,
    /// Ask for wl_touch when the seat has it (off: a client without touch support).
    wants_touch: bool,
    /// The serial of the last input event (for requests that need one).
    pub last_serial: u32,
    /// The clipboard's text offered to this client, and other data-device state.
    clipboard: protocols::Clipboard,
    /// The compositor's answer to the last `offer_dmabuf`: made a buffer, or failed.
    dmabuf_answer: Option<bool>,
    /// Role-less surfaces made by `misbehave_many_surfaces`.
    pub bare_surfaces: Vec<WlSurface>,
    /// Buffers made by `misbehave_many_buffers`.
    pub bare_buffers: Vec<WlBuffer>,
    /// `sync`s sent, and the last one the compositor answered.
    syncs_sent: u64,
    syncs_done: u64,
}

impl State {
    fn window_of(&self, surface: &WlSurface) -> Option<usize> {
        self.windows
            .iter()
            .position(|w| w.surface.as_ref() == Some(surface))
    }
}

/// A connection to a compositor and the windows opened through it.
pub struct Client {
    connection: Connection,
    queue: EventQueue<State>,
    handle: QueueHandle<State>,
    pub state: State,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("windows", &self.state.windows.len())
            .finish()
    }
}

/// A window's index in `Client::state.windows`.
pub type WindowIndex = usize;

impl Client {
    /// Connects to the socket `name` in `runtime_dir` (waiting up to 5 s for it to accept)
    /// and binds the globals it needs.
    pub fn connect(runtime_dir: &Path, name: &str) -> Result<Self, ClientError> {
        Self::connect_with(runtime_dir, name, true)
    }

    /// Like `connect`; with `touch` false the client never asks for wl_touch, like an
    /// app without touch support.
    pub fn connect_with(runtime_dir: &Path, name: &str, touch: bool) -> Result<Self, ClientError> {
        let stream = Self::dial(runtime_dir, name)?;
        let mut client = Self::from_stream(stream, touch)?;
        client.roundtrip()?; // the globals
        client.roundtrip()?; // seat capabilities
        client.finish_setup()?;
        client.roundtrip()?;
        Ok(client)
    }

    /// Starts a connection over `stream` (one end of a `UnixStream::pair`, the other served
    /// by the compositor) and asks for the globals, without waiting for anything: for a
    /// compositor stepped on this thread, where a blocking round trip would never return.
    /// Then: a round trip (the globals), another (seat capabilities), `finish_setup`.
    pub fn from_stream(stream: UnixStream, touch: bool) -> Result<Self, ClientError> {
        let connection =
            Connection::from_socket(stream).map_err(|e| ClientError::Connect(e.to_string()))?;
        let queue = connection.new_event_queue();
        let handle = queue.handle();
        connection.display().get_registry(&handle, ());
        let mut client = Self {
            connection,
            queue,
            handle,
            state: State {
                wants_touch: touch,
                ..State::default()
            },
        };
        client.flush_blocking()?;
        Ok(client)
    }

    /// Checks the compositor offered what every window needs, and binds what comes after
    /// the seat (the data device).
    pub fn finish_setup(&mut self) -> Result<(), ClientError> {
        let g = &self.state.globals;
        if g.compositor.is_none() {
            return Err(ClientError::Missing("wl_compositor"));
        }
        if g.shm.is_none() {
            return Err(ClientError::Missing("wl_shm"));
        }
        if g.wm_base.is_none() {
            return Err(ClientError::Missing("xdg_wm_base"));
        }
        protocols::start(self);
        self.flush_blocking()
    }

    /// Sends `wl_display.sync`: once `synced` says so, the compositor has handled every
    /// request sent before it, and its answers to them were dispatched.
    pub fn sync(&mut self) -> Result<SyncToken, ClientError> {
        self.state.syncs_sent += 1;
        let token = SyncToken(self.state.syncs_sent);
        self.connection.display().sync(&self.handle, token);
        self.flush_blocking()?;
        Ok(token)
    }

    /// Whether the compositor answered the `sync` that gave `token`.
    pub fn synced(&self, token: SyncToken) -> bool {
        self.state.syncs_done >= token.0
    }

    /// Handles what the compositor sent, without waiting.
    pub fn poll(&mut self) -> Result<(), ClientError> {
        self.dispatch_for(Duration::ZERO)
    }

    /// Connects to the socket `name` in `runtime_dir`, waiting up to 5 s for it to accept.
    fn dial(runtime_dir: &Path, name: &str) -> Result<UnixStream, ClientError> {
        let path = runtime_dir.join(name);
        // A compositor creates its socket file just before it listens: a fresh one may
        // refuse for a moment.
        let start = Instant::now();
        let stream = loop {
            match UnixStream::connect(&path) {
                Ok(stream) => break stream,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
                    ) && start.elapsed() < Duration::from_secs(5) =>
                {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => return Err(ClientError::Connect(format!("{}: {e}", path.display()))),
            }
        };
        Ok(stream)
    }

    /// Interface names of the globals the compositor advertised.
    pub fn globals(&self) -> &[String] {
        &self.state.globals.names
    }

    fn disconnected(&self) -> ClientError {
        ClientError::Disconnected(self.connection.protocol_error())
    }

    /// Sends everything queued, reading what the compositor sends meanwhile: a burst of
    /// requests can fill the socket, and then neither side may wait on the other.
    pub(crate) fn flush_blocking(&mut self) -> Result<(), ClientError> {
        for _ in 0..10_000 {
            match self.queue.flush() {
                Ok(()) => return Ok(()),
                Err(wayland_client::backend::WaylandError::Io(e))
                    if e.kind() == std::io::ErrorKind::WouldBlock =>
                {
                    if let Some(guard) = self.queue.prepare_read()
                        && readable(&guard, Duration::from_millis(2))?
                    {
                        guard.read().map_err(|_| self.disconnected())?;
                    }
                    self.queue
                        .dispatch_pending(&mut self.state)
                        .map_err(|_| self.disconnected())?;
                }
                Err(_) => return Err(self.disconnected()),
            }
        }
        Err(self.disconnected())
    }

    pub fn roundtrip(&mut self) -> Result<(), ClientError> {
        self.flush_blocking()?;
        self.queue
            .roundtrip(&mut self.state)
            .map(|_| ())
            .map_err(|_| self.disconnected())
    }

    /// Whether the connection died of `wl_display.error` `no_memory` (libwayland's clients see
    /// it as ENOMEM, not as a protocol error).
    pub fn ended_for_no_memory(&self) -> bool {
        matches!(
            self.connection.backend().last_error(),
            Some(wayland_client::backend::WaylandError::Io(e))
                if e.raw_os_error() == Some(rustix::io::Errno::NOMEM.raw_os_error())
        )
    }

    /// Why the connection ended, as the Wayland backend says (a protocol error, or an I/O
    /// error such as the compositor closing the socket).
    pub fn connection_error(&self) -> Option<String> {
        self.connection
            .backend()
            .last_error()
            .map(|e| e.to_string())
    }

    /// The protocol error the compositor posted, if the connection died of one.
    pub fn protocol_error(&self) -> Option<ProtocolError> {
        self.connection.protocol_error()
    }

    /// Reads and handles events for at most `timeout`.
    pub fn dispatch_for(&mut self, timeout: Duration) -> Result<(), ClientError> {
        self.flush_blocking()?;
        self.queue
            .dispatch_pending(&mut self.state)
            .map_err(|_| self.disconnected())?;
        if let Some(guard) = self.queue.prepare_read() {
            if readable(&guard, timeout)? {
                match guard.read() {
                    Ok(_) => {}
                    Err(wayland_client::backend::WaylandError::Io(e))
                        if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => return Err(self.disconnected()),
                }
            }
        }
        self.queue
            .dispatch_pending(&mut self.state)
            .map_err(|_| self.disconnected())?;
        Ok(())
    }

    /// After misbehaving: reads (never writes, so a closed socket cannot hide it) until
    /// the compositor ends the connection, and returns the protocol error it posted.
    pub fn read_protocol_error(&mut self, timeout: Duration) -> Option<ProtocolError> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.queue.dispatch_pending(&mut self.state).is_err() {
                break;
            }
            let Some(guard) = self.queue.prepare_read() else {
                continue;
            };
            let ready = readable(&guard, Duration::from_millis(20)).unwrap_or(false);
            if ready && guard.read().is_err() {
                break;
            }
        }
        self.connection.protocol_error()
    }

    /// Handles events until `done` holds, for at most `timeout`.
    pub fn wait_until(
        &mut self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&State) -> bool,
    ) -> Result<(), ClientError> {
        let start = Instant::now();
        while !done(&self.state) {
            let left = timeout.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Err(ClientError::Timeout(what.to_string()));
            }
            self.dispatch_for(left.min(Duration::from_millis(20)))?;
        }
        Ok(())
    }

    /// Opens a toplevel that fills itself with `color` (RGBA, straight alpha) on every
    /// configure; returns once the first configure was acknowledged and drawn.
    pub fn toplevel(
        &mut self,
        app_id: &str,
        title: &str,
        color: [u8; 4],
    ) -> Result<WindowIndex, ClientError> {
        let at = self.open(app_id, title, color);
        self.wait_until("the first configure", Duration::from_secs(10), |s| {
            s.windows[at].drawn.is_some()
        })?;
        // The compositor has handled the commit once the round trip is back.
        self.roundtrip()?;
        Ok(at)
    }

    /// Creates the toplevel and commits without a buffer; does not wait.
    pub fn open(&mut self, app_id: &str, title: &str, color: [u8; 4]) -> WindowIndex {
        let at = self.state.windows.len();
        let g = &self.state.globals;
        let surface = g
            .compositor
            .as_ref()
            .expect("checked in connect")
            .create_surface(&self.handle, at);
        let xdg_surface = g
            .wm_base
            .as_ref()
            .expect("checked in connect")
            .get_xdg_surface(&surface, &self.handle, at);
        let toplevel = xdg_surface.get_toplevel(&self.handle, at);
        toplevel.set_app_id(app_id.into());
        toplevel.set_title(title.into());
        let decoration_object = g.extras.server_side(&toplevel, &self.handle, at);
        surface.commit();
        self.state.windows.push(Window {
            color,
            surface: Some(surface),
            xdg_surface: Some(xdg_surface),
            toplevel: Some(toplevel),
            decoration_object,
            ..Window::default()
        });
        at
    }

    /// Adds a subsurface of `color` to window `parent` at (x, y) of its surface, committed
    /// (the parent's next commit shows it: subsurfaces are synchronized by default).
    pub fn subsurface(
        &mut self,
        parent: WindowIndex,
        at: (i32, i32),
        size: (i32, i32),
        color: [u8; 4],
    ) -> Result<WindowIndex, ClientError> {
        let index = self.state.windows.len();
        let g = &self.state.globals;
        let sub = g
            .subcompositor
            .as_ref()
            .ok_or(ClientError::Missing("wl_subcompositor"))?;
        let parent_surface = self.state.windows[parent]
            .surface
            .clone()
            .expect("open window");
        let surface = g
            .compositor
            .as_ref()
            .expect("checked in connect")
            .create_surface(&self.handle, index);
        let subsurface = sub.get_subsurface(&surface, &parent_surface, &self.handle, ());
        subsurface.set_position(at.0, at.1);
        draw(g, &self.handle, &surface, size.0, size.1, color)?;
        self.state.windows.push(Window {
            color,
            surface: Some(surface),
            drawn: Some(size),
            ..Window::default()
        });
        // Commit the parent (same content) so the subsurface state applies.
        self.redraw(parent)?;
        self.roundtrip()?;
        Ok(index)
    }

    /// Opens an xdg popup of `size` on window `parent`, anchored at the bottom-left of
    /// `anchor` (parent window coordinates), allowed to slide and flip to stay on the
    /// output; returns once it was configured and drawn.
    pub fn popup(
        &mut self,
        parent: WindowIndex,
        anchor: (i32, i32, i32, i32),
        size: (i32, i32),
        color: [u8; 4],
    ) -> Result<WindowIndex, ClientError> {
        self.open_popup(parent, anchor, size, color, false)
    }

    /// Like `popup`, as a menu: with a grab (using the last input serial), so a press
    /// elsewhere dismisses it (`closed` is set on popup_done).
    pub fn menu(
        &mut self,
        parent: WindowIndex,
        anchor: (i32, i32, i32, i32),
        size: (i32, i32),
        color: [u8; 4],
    ) -> Result<WindowIndex, ClientError> {
        self.open_popup(parent, anchor, size, color, true)
    }

    fn open_popup(
        &mut self,
        parent: WindowIndex,
        anchor: (i32, i32, i32, i32),
        size: (i32, i32),
        color: [u8; 4],
        grab: bool,
    ) -> Result<WindowIndex, ClientError> {
        let index = self.state.windows.len();
        let g = &self.state.globals;
        let wm = g.wm_base.as_ref().expect("checked in connect");
        let positioner = wm.create_positioner(&self.handle, ());
        positioner.set_size(size.0, size.1);
        positioner.set_anchor_rect(anchor.0, anchor.1, anchor.2, anchor.3);
        positioner.set_anchor(xdg_positioner::Anchor::BottomLeft);
        positioner.set_gravity(xdg_positioner::Gravity::BottomRight);
        positioner.set_constraint_adjustment(
            xdg_positioner::ConstraintAdjustment::SlideX
                | xdg_positioner::ConstraintAdjustment::SlideY
                | xdg_positioner::ConstraintAdjustment::FlipX
                | xdg_positioner::ConstraintAdjustment::FlipY,
        );
        let surface = g
            .compositor
            .as_ref()
            .expect("checked in connect")
            .create_surface(&self.handle, index);
        let xdg_surface = wm.get_xdg_surface(&surface, &self.handle, index);
        let parent_xdg = self.state.windows[parent].xdg_surface.clone();
        let popup = xdg_surface.get_popup(parent_xdg.as_ref(), &positioner, &self.handle, index);
        positioner.destroy();
        if grab {
            let seat = self
                .state
                .globals
                .seat
                .as_ref()
                .ok_or(ClientError::Missing("wl_seat"))?;
            popup.grab(seat, self.state.last_serial);
        }
        surface.commit();
        self.state.windows.push(Window {
            color,
            surface: Some(surface),
            xdg_surface: Some(xdg_surface),
            ..Window::default()
        });
        self.wait_until("the popup's configure", Duration::from_secs(10), |s| {
            s.windows[index].drawn.is_some()
        })?;
        self.roundtrip()?;
        Ok(index)
    }

    /// Draws window `at` again (same size and colour) with a frame callback, and returns
    /// the time from the commit to the compositor's `done`.
    pub fn commit_to_frame(&mut self, at: WindowIndex) -> Result<Duration, ClientError> {
        let window = &mut self.state.windows[at];
        window.frame_done_at = None;
        let surface = window.surface.clone().expect("open window");
        surface.frame(&self.handle, at);
        window.frame_pending = true;
        self.redraw(at)?;
        let start = Instant::now();
        self.flush_blocking()?;
        self.wait_until("a frame callback", Duration::from_secs(10), |s| {
            s.windows[at].frame_done_at.is_some()
        })?;
        Ok(self.state.windows[at].frame_done_at.expect("waited for it") - start)
    }

    /// Draws window `at` again as it is (size and colour) and commits.
    pub(crate) fn redraw(&mut self, at: WindowIndex) -> Result<(), ClientError> {
        let w = &self.state.windows[at];
        let surface = w.surface.clone().expect("open window");
        let (width, height) = w.drawn.unwrap_or(DEFAULT_SIZE);
        draw(
            &self.state.globals,
            &self.handle,
            &surface,
            width,
            height,
            w.color,
        )
    }

    /// Asks for frame callbacks on window `at` continuously (each `done` asks again).
    pub fn animate(&mut self, at: WindowIndex) {
        let window = &mut self.state.windows[at];
        if let Some(surface) = &window.surface {
            surface.frame(&self.handle, at);
            surface.commit();
            window.frame_pending = true;
        }
    }

    /// Asks for window `at` to be fullscreen (or not); the answer is a configure.
    pub fn set_fullscreen(&mut self, at: WindowIndex, on: bool) {
        if let Some(t) = &self.state.windows[at].toplevel {
            if on {
                t.set_fullscreen(None);
            } else {
                t.unset_fullscreen();
            }
        }
    }

    /// Asks for window `at` to be maximized (or not); the answer is a configure.
    pub fn set_maximized(&mut self, at: WindowIndex, on: bool) {
        if let Some(t) = &self.state.windows[at].toplevel {
            if on {
                t.set_maximized();
            } else {
                t.unset_maximized();
            }
        }
    }

    /// Closes window `at` the right way (toplevel, xdg_surface, then surface).
    pub fn close(&mut self, at: WindowIndex) {
        let w = &mut self.state.windows[at];
        if let Some(t) = w.toplevel.take() {
            t.destroy();
        }
        if let Some(x) = w.xdg_surface.take() {
            x.destroy();
        }
        if let Some(s) = w.surface.take() {
            s.destroy();
        }
        w.closed = true;
    }

    // Misbehaviour, on purpose.

    /// Attaches a buffer whose rows run past the end of its pool.
    pub fn misbehave_buffer_larger_than_pool(&mut self) -> Result<(), ClientError> {
        let file = memfd(64 * 64 * 4)?;
        let shm = self.state.globals.shm.as_ref().expect("checked in connect");
        let pool = shm.create_pool(file.as_fd(), 64 * 64 * 4, &self.handle, ());
        let _buffer = pool.create_buffer(
            0,
            64,
            128,
            64 * 4,
            wl_shm::Format::Argb8888,
            &self.handle,
            (),
        );
        self.queue.flush().map_err(|_| self.disconnected())
    }

    /// Commits a buffer on a new toplevel before acknowledging any configure.
    pub fn misbehave_buffer_before_configure(&mut self) -> Result<(), ClientError> {
        let g = &self.state.globals;
        let surface = g
            .compositor
            .as_ref()
            .expect("checked in connect")
            .create_surface(&self.handle, usize::MAX);
        let xdg_surface = g
            .wm_base
            .as_ref()
            .expect("checked in connect")
            .get_xdg_surface(&surface, &self.handle, usize::MAX);
        let _toplevel = xdg_surface.get_toplevel(&self.handle, usize::MAX);
        draw(g, &self.handle, &surface, 32, 32, [255, 0, 0, 255])?;
        self.queue.flush().map_err(|_| self.disconnected())
    }

    /// On window `at`: a subsurface at the far end of the coordinate space, damage of
    /// absurd size, and a window geometry at i32::MIN (all legal to send).
    pub fn misbehave_extreme_coordinates(&mut self, at: WindowIndex) -> Result<(), ClientError> {
        let sub = self.subsurface(at, (i32::MAX - 5, i32::MIN + 5), (8, 8), [9, 9, 9, 255])?;
        let w = &self.state.windows[at];
        if let Some(x) = &w.xdg_surface {
            x.set_window_geometry(i32::MIN, i32::MIN, 10, 10);
        }
        let surface = self.state.windows[sub].surface.clone().expect("just made");
        surface.damage_buffer(1, 1, i32::MAX, i32::MAX);
        surface.damage(i32::MAX - 1, 0, i32::MAX, 1);
        surface.commit();
        let parent = self.state.windows[at].surface.clone().expect("open window");
        parent.commit();
        self.queue.flush().map_err(|_| self.disconnected())
    }

    /// Attaches a 20000 x 1 buffer (bigger than GPUs' textures) to window `at`.
    pub fn misbehave_huge_buffer(&mut self, at: WindowIndex) -> Result<(), ClientError> {
        let surface = self.state.windows[at].surface.clone().expect("open window");
        draw(
            &self.state.globals,
            &self.handle,
            &surface,
            20_000,
            1,
            [1, 2, 3, 255],
        )?;
        self.queue.flush().map_err(|_| self.disconnected())
    }

    /// Asks to move window `at` with a serial of no held button.
    pub fn misbehave_move_without_a_press(&mut self, at: WindowIndex) -> Result<(), ClientError> {
        if let (Some(t), Some(seat)) = (&self.state.windows[at].toplevel, &self.state.globals.seat)
        {
            t._move(seat, 12345);
        }
        self.queue.flush().map_err(|_| self.disconnected())
    }

    /// Destroys xdg_wm_base while its surfaces still exist.
    pub fn misbehave_destroy_wm_base_first(&mut self) -> Result<(), ClientError> {
        if let Some(wm) = self.state.globals.wm_base.take() {
            wm.destroy();
        }
        self.queue.flush().map_err(|_| self.disconnected())
    }

    /// Creates `count` bare `wl_surface`s (no role, no buffer), keeps them, and returns
    /// without a round trip. `destroy` sends their destructors right after.
    /// Makes `count` 1x1 shm buffers from one pool and keeps them (or destroys each at once).
    pub fn misbehave_many_buffers(
        &mut self,
        count: usize,
        destroy: bool,
    ) -> Result<(), ClientError> {
        let file = memfd(4)?;
        let shm = self.state.globals.shm.clone().expect("checked in connect");
        let pool = shm.create_pool(file.as_fd(), 4, &self.handle, ());
        for i in 0..count {
            let buffer = pool.create_buffer(0, 1, 1, 4, wl_shm::Format::Argb8888, &self.handle, ());
            if destroy {
                buffer.destroy();
            } else {
                self.state.bare_buffers.push(buffer);
            }
            // Small batches: the connection's outgoing buffer must never overflow.
            if i % 64 == 0 {
                self.flush_blocking()?;
            }
        }
        pool.destroy();
        self.flush_blocking()
    }

    pub fn misbehave_many_surfaces(
        &mut self,
        count: usize,
        destroy: bool,
    ) -> Result<(), ClientError> {
        let compositor = self
            .state
            .globals
            .compositor
            .clone()
            .expect("checked in connect");
        let mut made = Vec::with_capacity(count);
        for i in 0..count {
            made.push(compositor.create_surface(&self.handle, usize::MAX));
            if i % 1024 == 0 {
                let _ = self.connection.flush();
            }
        }
        if destroy {
            for (i, s) in made.drain(..).enumerate() {
                s.destroy();
                if i % 1024 == 0 {
                    let _ = self.connection.flush();
                }
            }
        }
        self.state.bare_surfaces.extend(made);
        self.queue.flush().map_err(|_| self.disconnected())
    }

    /// Sends `count` requests without reading a single reply.
    pub fn misbehave_flood(&mut self, count: usize) -> Result<(), ClientError> {
        let toplevel = self.state.windows.iter().find_map(|w| w.toplevel.clone());
        for i in 0..count {
            match &toplevel {
                Some(t) => t.set_title(format!("flood {i}")),
                None => {
                    self.connection.display().sync(&self.handle, ());
                }
            }
            if i % 1024 == 0 {
                // A full socket is the client's problem; keep writing what fits.
                let _ = self.connection.flush();
            }
        }
        let _ = self.connection.flush();
        Ok(())
    }
}

/// Waits up to `timeout` for events on the connection.
fn readable(
    guard: &wayland_client::backend::ReadEventsGuard,
    timeout: Duration,
) -> std::io::Result<bool> {
    let fd = guard.connection_fd();
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    let timeout = Timespec {
        tv_sec: timeout.as_secs() as _,
        tv_nsec: timeout.subsec_nanos() as _,
    };
    Ok(rustix::event::poll(&mut fds, Some(&timeout))? > 0)
}

fn memfd(size: usize) -> Result<File, ClientError> {
    let fd = rustix::fs::memfd_create("compose-testclient", MemfdFlags::CLOEXEC)
        .map_err(std::io::Error::from)?;
    let file = File::from(fd);
    file.set_len(size as u64)?;
    Ok(file)
}

/// Fills a fresh ARGB8888 buffer with `color` (premultiplied on the way) and commits it.
pub(crate) fn draw(
    globals: &Globals,
    handle: &QueueHandle<State>,
    surface: &WlSurface,
    width: i32,
    height: i32,
    color: [u8; 4],
) -> Result<(), ClientError> {
    let a = color[3] as u32;
    let pre = |c: u8| ((c as u32 * a + 127) / 255) as u8;
    let pixel = [pre(color[2]), pre(color[1]), pre(color[0]), color[3]]; // B G R A in memory
    if let (Some(dumb), Some(linux)) = (&globals.extras.dumb, &globals.extras.linux_dmabuf) {
        return dmabuf::draw(dumb, linux, handle, surface, (width, height), pixel);
    }
    let stride = width * 4;
    let size = (stride * height) as usize;
    let file = memfd(size)?;
    let row: Vec<u8> = pixel
        .iter()
        .copied()
        .cycle()
        .take(stride as usize)
        .collect();
    let mut data = Vec::with_capacity(size);
    for _ in 0..height {
        data.extend_from_slice(&row);
    }
    file.write_all_at(&data, 0)?;
    let shm = globals.shm.as_ref().expect("checked in connect");
    let pool = shm.create_pool(file.as_fd(), size as i32, handle, ());
    let buffer = pool.create_buffer(
        0,
        width,
        height,
        stride,
        wl_shm::Format::Argb8888,
        handle,
        (),
    );
    pool.destroy();
    surface.attach(Some(&buffer), 0, 0);
    surface.damage_buffer(0, 0, width, height);
    surface.commit();
    Ok(())
}

impl Dispatch<WlRegistry, ()> for State {
    fn event(
        state: &mut Self,
        registry: &WlRegistry,
        event: wl_registry::Event,
        _: &(),
        _: &Connection,
        qh: &QueueHandle<Self>,
    ) {
        if let wl_registry::Event::Global {
            name,
            interface,
            version,
        } = event
        {
            let g = &mut state.globals;
            match interface.as_str() {
                "wl_compositor" => g.compositor = Some(registry.bind(name, version.min(4), qh, ())),
                "wl_subcompositor" => g.subcompositor = Some(registry.bind(name, 1, qh, ())),
                "wl_shm" => g.shm = Some(registry.bind(name, 1, qh, ())),
                "xdg_wm_base" => g.wm_base = Some(registry.bind(name, version.min(5), qh, ())),
                "wl_seat" if g.seat.is_none() => {
                    g.seat = Some(registry.bind(name, version.min(7), qh, ()))
                }
                other => g.extras.bind(registry, other, name, version, qh),
            }
            g.names.push(interface);
        }
    }
}

impl Dispatch<XdgWmBase, ()> for State {
    fn event(
        _: &mut Self,
        wm: &XdgWmBase,
        event: xdg_wm_base::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_wm_base::Event::Ping { serial } = event {
            wm.pong(serial);
        }
    }
}

impl Dispatch<XdgToplevel, usize> for State {
    fn event(
        state: &mut Self,
        _: &XdgToplevel,
        event: xdg_toplevel::Event,
        at: &usize,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let Some(window) = state.windows.get_mut(*at) else {
            return;
        };
        match event {
            xdg_toplevel::Event::Configure {
                width,
                height,
                states,
            } => {
                let states = states
                    .chunks_exact(4)
                    .filter_map(|c| {
                        let v = u32::from_ne_bytes([c[0], c[1], c[2], c[3]]);
                        match WEnum::<ToplevelState>::from(v) {
                            WEnum::Value(s) => Some(s),
                            WEnum::Unknown(_) => None,
                        }
                    })
                    .collect();
                window.pending = Some(Configure {
                    width,
                    height,
                    states,
                });
            }
            xdg_toplevel::Event::Close => window.closed = true,
            _ => {}
        }
    }
}

impl Dispatch<XdgSurface, usize> for State {
    fn event(
        state: &mut Self,
        xdg_surface: &XdgSurface,
        event: xdg_surface::Event,
        at: &usize,
        _: &Connection,
        qh: &QueueHandle<Self>,
    ) {
        let xdg_surface::Event::Configure { serial } = event else {
            return;
        };
        xdg_surface.ack_configure(serial);
        let Some(window) = state.windows.get_mut(*at) else {
            return;
        };
        let configure = window.pending.take().unwrap_or(Configure {
            width: window.popup_configure.map_or(0, |p| p.2),
            height: window.popup_configure.map_or(0, |p| p.3),
            states: Vec::new(),
        });
        let width = if configure.width > 0 {
            configure.width
        } else {
            window.drawn.map_or(DEFAULT_SIZE.0, |d| d.0)
        };
        let height = if configure.height > 0 {
            configure.height
        } else {
            window.drawn.map_or(DEFAULT_SIZE.1, |d| d.1)
        };
        window.configures.push(configure);
        if let Some(surface) = window.surface.clone() {
            let color = window.color;
            if draw(&state.globals, qh, &surface, width, height, color).is_ok() {
                state.windows[*at].drawn = Some((width, height));
            }
        }
    }
}

impl Dispatch<WlCallback, usize> for State {
    fn event(
        state: &mut Self,
        _: &WlCallback,
        _: wayland_client::protocol::wl_callback::Event,
        at: &usize,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let Some(window) = state.windows.get_mut(*at) {
            window.frames += 1;
            window.frame_pending = false;
            window.frame_done_at = Some(Instant::now());
        }
    }
}

/// A `Client::sync` to wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncToken(u64);

impl Dispatch<WlCallback, SyncToken> for State {
    fn event(
        state: &mut Self,
        _: &WlCallback,
        _: wayland_client::protocol::wl_callback::Event,
        token: &SyncToken,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        state.syncs_done = state.syncs_done.max(token.0);
    }
}

impl Dispatch<WlCallback, ()> for State {
    fn event(
        _: &mut Self,
        _: &WlCallback,
        _: wayland_client::protocol::wl_callback::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}

impl Dispatch<WlSeat, ()> for State {
    fn event(
        state: &mut Self,
        seat: &WlSeat,
        event: wl_seat::Event,
        _: &(),
        _: &Connection,
        qh: &QueueHandle<Self>,
    ) {
        if let wl_seat::Event::Capabilities {
            capabilities: WEnum::Value(caps),
        } = event
        {
            if caps.contains(wl_seat::Capability::Keyboard) {
                seat.get_keyboard(qh, ());
            }
            if caps.contains(wl_seat::Capability::Pointer) {
                seat.get_pointer(qh, ());
            }
            if caps.contains(wl_seat::Capability::Touch) && state.wants_touch {
                seat.get_touch(qh, ());
            }
        }
    }
}

impl Dispatch<WlKeyboard, ()> for State {
    fn event(
        state: &mut Self,
        _: &WlKeyboard,
        event: wl_keyboard::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            wl_keyboard::Event::Enter {
                surface, serial, ..
            } => {
                state.last_serial = serial;
                state.keyboard_on = state.window_of(&surface);
                if let Some(at) = state.keyboard_on {
                    state.windows[at].keyboard_focus = true;
                }
            }
            wl_keyboard::Event::Leave { surface, .. } => {
                if let Some(at) = state.window_of(&surface) {
                    state.windows[at].keyboard_focus = false;
                }
                state.keyboard_on = None;
            }
            wl_keyboard::Event::Key {
                key,
                state: WEnum::Value(key_state),
                serial,
                ..
            } => {
                state.last_serial = serial;
                if let Some(at) = state.keyboard_on {
                    match key_state {
                        wl_keyboard::KeyState::Pressed => state.windows[at].keys.push(key),
                        _ => state.windows[at].released.push(key),
                    }
                }
            }
            _ => {}
        }
    }
}

impl Dispatch<WlPointer, ()> for State {
    fn event(
        state: &mut Self,
        _: &WlPointer,
        event: wl_pointer::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            wl_pointer::Event::Enter { surface, .. } => {
                state.pointer_on = state.window_of(&surface)
            }
            wl_pointer::Event::Leave { .. } => state.pointer_on = None,
            wl_pointer::Event::Button {
                button,
                serial,
                state: WEnum::Value(wl_pointer::ButtonState::Pressed),
                ..
            } => {
                state.last_serial = serial;
                if let Some(at) = state.pointer_on {
                    state.windows[at].buttons.push(button);
                }
            }
            _ => {}
        }
    }
}

impl Dispatch<WlTouch, ()> for State {
    fn event(
        state: &mut Self,
        _: &WlTouch,
        event: wl_touch::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            wl_touch::Event::Down { surface, .. } => {
                if let Some(at) = state.window_of(&surface) {
                    state.windows[at].touches += 1;
                }
            }
            _ => {}
        }
    }
}

impl Dispatch<WlBuffer, ()> for State {
    fn event(
        _: &mut Self,
        buffer: &WlBuffer,
        event: wayland_client::protocol::wl_buffer::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wayland_client::protocol::wl_buffer::Event::Release = event {
            buffer.destroy();
        }
    }
}

impl Dispatch<XdgPopup, usize> for State {
    fn event(
        state: &mut Self,
        _: &XdgPopup,
        event: xdg_popup::Event,
        at: &usize,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let Some(window) = state.windows.get_mut(*at) else {
            return;
        };
        match event {
            xdg_popup::Event::Configure {
                x,
                y,
                width,
                height,
            } => window.popup_configure = Some((x, y, width, height)),
            xdg_popup::Event::PopupDone => window.closed = true,
            _ => {}
        }
    }
}

wayland_client::delegate_noop!(State: ignore WlCompositor);
wayland_client::delegate_noop!(State: ignore WlSubcompositor);
wayland_client::delegate_noop!(State: ignore WlSubsurface);
wayland_client::delegate_noop!(State: ignore XdgPositioner);
wayland_client::delegate_noop!(State: ignore WlShm);
wayland_client::delegate_noop!(State: ignore WlShmPool);

impl Dispatch<WlSurface, usize> for State {
    fn event(
        _: &mut Self,
        _: &WlSurface,
        _: wayland_client::protocol::wl_surface::Event,
        _: &usize,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}
