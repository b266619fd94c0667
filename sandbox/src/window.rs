//! Windows for WASI apps: the host side of the `compose:window` world (`sandbox/wit/`).
//! Each window is a real Wayland client connection into the running shell, made through
//! the app's security-context socket, so the shell knows the app and marks its window. The
//! Wayland side is smithay-client-toolkit's: an xdg window (server-side decorations where the
//! shell offers them), the seat with an xkbcommon keyboard (key repeat at the shell's rate),
//! pointer and touch, and a slot pool of shared-memory buffers into which only the damaged
//! rectangles are copied. The shell's frame callbacks pace `present`, and its input comes back
//! as events.

use std::collections::VecDeque;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use smithay_client_toolkit::compositor::{CompositorHandler, CompositorState};
use smithay_client_toolkit::output::{OutputHandler, OutputState};
use smithay_client_toolkit::registry::{ProvidesRegistryState, RegistryState};
use smithay_client_toolkit::seat::keyboard::{
    KeyEvent as XkbKeyEvent, KeyboardHandler, Keysym, Modifiers, RepeatInfo,
};
use smithay_client_toolkit::seat::pointer::{
    PointerEvent as WlPointerEvent, PointerEventKind, PointerHandler,
};
use smithay_client_toolkit::seat::touch::TouchHandler;
use smithay_client_toolkit::seat::{Capability, SeatHandler, SeatState};
use smithay_client_toolkit::shell::WaylandSurface;
use smithay_client_toolkit::shell::xdg::XdgShell;
use smithay_client_toolkit::shell::xdg::window::{
    Window as XdgWindow, WindowConfigure, WindowDecorations, WindowHandler,
};
use smithay_client_toolkit::shm::slot::{Buffer as SlotBuffer, SlotPool};
use smithay_client_toolkit::shm::{Shm, ShmHandler};
use smithay_client_toolkit::{
    delegate_compositor, delegate_keyboard, delegate_output, delegate_pointer, delegate_registry,
    delegate_seat, delegate_shm, delegate_touch, delegate_xdg_shell, delegate_xdg_window,
    registry_handlers,
};
use wasmtime::component::{HasData, Resource, ResourceTable};
use wayland_client::globals::registry_queue_init;
use wayland_client::protocol::{
    wl_keyboard::WlKeyboard, wl_output::WlOutput, wl_pointer::WlPointer, wl_seat::WlSeat, wl_shm,
    wl_surface::WlSurface, wl_touch::WlTouch,
};
use wayland_client::{Connection, EventQueue, QueueHandle};

#[allow(
    unsafe_code,
    reason = "the lifting and lowering glue wasmtime's bindgen generates"
)]
mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "compose:window/window-app",
        with: { "compose:window/surface/surface": super::Window },
        imports: { default: trappable },
    });
}

pub use bindings::WindowApp;
pub use bindings::compose::window::surface::{CreateDesc, Event, Rect};
use bindings::compose::window::surface::{
    FrameEvent, Host, HostSurface, KeyEvent, PointerEvent, ResizeEvent,
};

/// Events kept per window while the app does not read them.
const EVENT_LIMIT: usize = 4096;
/// The longest `present` waits for the shell to show the previous frame (a hidden window
/// gets no frame callbacks) or to give a buffer back.
const FRAME_WAIT: Duration = Duration::from_millis(500);
/// Linux's left button: what a touch is.
const BTN_LEFT: u32 = 272;

/// What the windows of one app run work with: its grant, its shell socket, its windows.
#[derive(Debug, Default)]
pub struct Windows {
    /// Whether the app was granted windows.
    pub granted: bool,
    /// The app's Wayland socket (a security-context socket of the running shell).
    pub display: Option<PathBuf>,
    /// The app id windows get.
    pub app_id: String,
    table: ResourceTable,
}

impl Windows {
    pub fn new(granted: bool, display: Option<PathBuf>, app_id: String) -> Windows {
        Windows {
            granted,
            display,
            app_id,
            table: ResourceTable::new(),
        }
    }
}

impl HasData for Windows {
    type Data<'a> = &'a mut Windows;
}

/// One open window.
pub struct Window {
    connection: Connection,
    queue: EventQueue<State>,
    state: State,
}

impl std::fmt::Debug for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Window")
            .field("size", &self.state.size)
            .finish()
    }
}

/// A shared-memory buffer of the window's size, in the slot pool.
struct Buffer {
    buffer: SlotBuffer,
    size: (u32, u32),
    /// What changed since it was last written (None: everything).
    stale: Option<Vec<Rect>>,
}

/// A key held down, repeated at the shell's rate.
struct Held {
    event: KeyEvent,
    next: Instant,
    every: Duration,
}

/// Everything the Wayland side of a window knows.
struct State {
    registry: RegistryState,
    seats: SeatState,
    outputs: OutputState,
    shm: Shm,
    window: Option<XdgWindow>,
    pool: Option<SlotPool>,
    pointer: Option<WlPointer>,
    keyboard: Option<WlKeyboard>,
    touch: Option<WlTouch>,
    /// The size the app draws at (it changes when the app reads a resize event).
    size: (u32, u32),
    configured: bool,
    /// The whole current frame, XRGB8888: what buffers are brought up to date from.
    frame: Vec<u8>,
    buffers: Vec<Buffer>,
    frame_pending: bool,
    events: VecDeque<Event>,
    pointer_at: (f64, f64),
    modifiers: Modifiers,
    /// How the shell wants held keys repeated (`None`: not at all).
    repeat: Option<(Duration, Duration)>,
    held: Option<Held>,
    /// Whether the connection is gone (the shell quit or dropped us).
    lost: bool,
}

impl Host for Windows {}

impl HostSurface for Windows {
    fn open(&mut self, desc: CreateDesc) -> wasmtime::Result<Result<Resource<Window>, String>> {
        if !self.granted {
            return Ok(Err(
                "this app has no gui grant (add `gui = true` to its [app] table, or --allow gui)"
                    .into(),
            ));
        }
        let Some(display) = self.display.clone() else {
            return Ok(Err(
                "no shell to show the window in (start a shell, or set WAYLAND_DISPLAY to one)"
                    .into(),
            ));
        };
        match Window::open(&display, &self.app_id, &desc) {
            Ok(window) => Ok(Ok(self.table.push(window)?)),
            Err(e) => Ok(Err(e)),
        }
    }

    fn width(&mut self, window: Resource<Window>) -> wasmtime::Result<u32> {
        Ok(self.table.get(&window)?.state.size.0)
    }

    fn height(&mut self, window: Resource<Window>) -> wasmtime::Result<u32> {
        Ok(self.table.get(&window)?.state.size.1)
    }

    fn present(
        &mut self,
        window: Resource<Window>,
        damage: Vec<Rect>,
        pixels: Vec<u8>,
    ) -> wasmtime::Result<Result<(), String>> {
        Ok(self.table.get_mut(&window)?.present(&damage, &pixels))
    }

    fn next_event(
        &mut self,
        window: Resource<Window>,
        timeout_ms: Option<u32>,
    ) -> wasmtime::Result<Option<Event>> {
        let timeout = timeout_ms.map(|ms| Duration::from_millis(ms.into()));
        Ok(self.table.get_mut(&window)?.next_event(timeout))
    }

    fn drop(&mut self, window: Resource<Window>) -> wasmtime::Result<()> {
        let window = self.table.delete(window)?;
        window.close();
        Ok(())
    }
}

impl Window {
    /// Connects to the shell at `display` and maps a toplevel window of `desc`'s size.
    pub fn open(
        display: &std::path::Path,
        app_id: &str,
        desc: &CreateDesc,
    ) -> Result<Window, String> {
        let lost = |e: &dyn std::fmt::Display| format!("the shell at {}: {e}", display.display());
        if desc.width == 0 || desc.height == 0 || desc.width > 8192 || desc.height > 8192 {
            return Err(format!(
                "a window of {}x{} pixels: each side must be 1 to 8192",
                desc.width, desc.height
            ));
        }
        let stream = UnixStream::connect(display).map_err(|e| lost(&e))?;
        let connection = Connection::from_socket(stream).map_err(|e| lost(&e))?;
        let (globals, queue) = registry_queue_init::<State>(&connection).map_err(|e| lost(&e))?;
        let qh = queue.handle();
        let missing = |what: &str| lost(&format!("it offers no {what}"));
        let compositor =
            CompositorState::bind(&globals, &qh).map_err(|_| missing("wl_compositor"))?;
        let xdg = XdgShell::bind(&globals, &qh).map_err(|_| missing("xdg_wm_base"))?;
        let shm = Shm::bind(&globals, &qh).map_err(|_| missing("wl_shm"))?;
        let surface = compositor.create_surface(&qh);
        let window = xdg.create_window(surface, WindowDecorations::RequestServer, &qh);
        window.set_title(desc.title.clone());
        window.set_app_id(app_id.to_string());
        window.commit();
        let state = State {
            registry: RegistryState::new(&globals),
            seats: SeatState::new(&globals, &qh),
            outputs: OutputState::new(&globals, &qh),
            shm,
            window: Some(window),
            pool: None,
            pointer: None,
            keyboard: None,
            touch: None,
            size: (desc.width, desc.height),
            configured: false,
            frame: vec![0; desc.width as usize * desc.height as usize * 4],
            buffers: Vec::new(),
            frame_pending: false,
            events: VecDeque::new(),
            pointer_at: (0.0, 0.0),
            modifiers: Modifiers::default(),
            repeat: None,
            held: None,
            lost: false,
        };
        let mut window = Window {
            connection,
            queue,
            state,
        };
        let start = Instant::now();
        while !window.state.configured {
            if window.state.lost || start.elapsed() > Duration::from_secs(10) {
                return Err(lost(&"it did not configure the window"));
            }
            window.dispatch(Some(Duration::from_millis(100)));
        }
        // The app starts at the size the shell asked for: no resize event for it.
        if let Some(at) = window
            .state
            .events
            .iter()
            .position(|e| matches!(e, Event::Resize(_)))
            && let Some(Event::Resize(r)) = window.state.events.remove(at)
        {
            window.state.draw_at(r.width, r.height);
        }
        Ok(window)
    }

    /// The size the app draws at.
    pub fn size(&self) -> (u32, u32) {
        self.state.size
    }

    /// Shows the app's pixels of `damage`; see the WIT for the layout.
    pub fn present(&mut self, damage: &[Rect], pixels: &[u8]) -> Result<(), String> {
        if self.state.lost {
            return Err("the shell closed the window's connection".into());
        }
        let (width, height) = self.state.size;
        let mut expected = 0usize;
        for r in damage {
            if r.x.checked_add(r.width).is_none_or(|e| e > width)
                || r.y.checked_add(r.height).is_none_or(|e| e > height)
            {
                return Err(format!(
                    "damage {}x{} at {},{} is outside the {width}x{height} window",
                    r.width, r.height, r.x, r.y
                ));
            }
            expected += r.width as usize * r.height as usize * 4;
        }
        if pixels.len() != expected {
            return Err(format!(
                "{} bytes of pixels for damage of {expected} bytes (4 bytes a pixel, rectangles one after another)",
                pixels.len()
            ));
        }
        // Into the frame.
        let stride = width as usize * 4;
        let mut at = 0;
        for r in damage {
            let row = r.width as usize * 4;
            for y in r.y..r.y + r.height {
                let start = y as usize * stride + r.x as usize * 4;
                self.state.frame[start..start + row].copy_from_slice(&pixels[at..at + row]);
                at += row;
            }
        }
        // Paced by the shell: the previous frame is shown first.
        let start = Instant::now();
        while self.state.frame_pending && !self.state.lost && start.elapsed() < FRAME_WAIT {
            self.dispatch(Some(FRAME_WAIT - start.elapsed()));
        }
        let index = self.free_buffer()?;
        let state = &mut self.state;
        for (i, b) in state.buffers.iter_mut().enumerate() {
            if i != index
                && let Some(stale) = &mut b.stale
            {
                stale.extend_from_slice(damage);
                if stale.len() > 64 {
                    b.stale = None;
                }
            }
        }
        let pool = state.pool.as_mut().expect("free_buffer made the pool");
        let buffer = &mut state.buffers[index];
        let canvas = buffer
            .buffer
            .canvas(pool)
            .ok_or("the shell still reads the window's buffer")?;
        let mut write = |rects: &[Rect]| {
            for r in rects {
                let row = r.width as usize * 4;
                for y in r.y..r.y + r.height {
                    let start = y as usize * stride + r.x as usize * 4;
                    canvas[start..start + row].copy_from_slice(&state.frame[start..start + row]);
                }
            }
        };
        match &buffer.stale {
            None => write(&[Rect {
                x: 0,
                y: 0,
                width,
                height,
            }]),
            Some(stale) => {
                write(stale);
                write(damage);
            }
        }
        buffer.stale = Some(Vec::new());
        let qh = self.queue.handle();
        let window = state.window.as_ref().expect("open made the window");
        let surface = window.wl_surface();
        buffer
            .buffer
            .attach_to(surface)
            .map_err(|e| format!("cannot show the window's buffer: {e}"))?;
        for r in damage {
            surface.damage_buffer(r.x as i32, r.y as i32, r.width as i32, r.height as i32);
        }
        surface.frame(&qh, surface.clone());
        state.frame_pending = true;
        window.commit();
        self.connection
            .flush()
            .map_err(|e| format!("the shell closed the window's connection: {e}"))
    }

    /// A buffer of the current size the shell does not read, made when there is none.
    fn free_buffer(&mut self) -> Result<usize, String> {
        let start = Instant::now();
        loop {
            let size = self.state.size;
            // Buffers of an old size go (the pool frees each once the shell is done with it).
            self.state.buffers.retain(|b| b.size == size);
            let pool = match &mut self.state.pool {
                Some(pool) => pool,
                None => {
                    let bytes = size.0 as usize * size.1 as usize * 4;
                    let pool = SlotPool::new(bytes, &self.state.shm)
                        .map_err(|e| format!("cannot make a buffer of {bytes} bytes: {e}"))?;
                    self.state.pool.insert(pool)
                }
            };
            if let Some(i) = self
                .state
                .buffers
                .iter()
                .position(|b| b.buffer.canvas(pool).is_some())
            {
                return Ok(i);
            }
            if self.state.buffers.len() < 2 || start.elapsed() > FRAME_WAIT {
                return self.new_buffer();
            }
            self.dispatch(Some(FRAME_WAIT - start.elapsed().min(FRAME_WAIT)));
        }
    }

    fn new_buffer(&mut self) -> Result<usize, String> {
        let (width, height) = self.state.size;
        let pool = self.state.pool.as_mut().expect("free_buffer made the pool");
        let (buffer, _) = pool
            .create_buffer(
                width as i32,
                height as i32,
                width as i32 * 4,
                wl_shm::Format::Xrgb8888,
            )
            .map_err(|e| format!("cannot make a buffer of {width}x{height} pixels: {e}"))?;
        self.state.buffers.push(Buffer {
            buffer,
            size: (width, height),
            stale: None,
        });
        Ok(self.state.buffers.len() - 1)
    }

    /// The next event, waiting up to `timeout` (None: until there is one).
    pub fn next_event(&mut self, timeout: Option<Duration>) -> Option<Event> {
        let start = Instant::now();
        loop {
            self.state.repeat_held();
            if let Some(e) = self.state.events.pop_front() {
                // The app draws at the new size from the moment it hears of it.
                if let Event::Resize(r) = &e {
                    self.state.draw_at(r.width, r.height);
                }
                return Some(e);
            }
            if self.state.lost {
                return Some(Event::Close);
            }
            let mut left = match timeout {
                Some(t) if start.elapsed() >= t => return None,
                Some(t) => Some(t - start.elapsed()),
                None => None,
            };
            // A held key's next repeat is a deadline too.
            if let Some(held) = &self.state.held {
                let until = held.next.saturating_duration_since(Instant::now());
                left = Some(left.map_or(until, |l| l.min(until)));
            }
            self.dispatch(left);
        }
    }

    /// Sends what is queued, waits up to `timeout` for the shell, and handles what came.
    fn dispatch(&mut self, timeout: Option<Duration>) {
        if self.connection.flush().is_err() || self.queue.dispatch_pending(&mut self.state).is_err()
        {
            self.state.lost = true;
            return;
        }
        if let Some(guard) = self.queue.prepare_read() {
            let ready = {
                let fd = guard.connection_fd();
                let mut fds = [rustix::event::PollFd::new(
                    &fd,
                    rustix::event::PollFlags::IN,
                )];
                let timespec = timeout.map(|t| rustix::time::Timespec {
                    tv_sec: t.as_secs() as i64,
                    tv_nsec: i64::from(t.subsec_nanos()),
                });
                matches!(rustix::event::poll(&mut fds, timespec.as_ref()), Ok(n) if n > 0)
            };
            if ready {
                match guard.read() {
                    Ok(_) => {}
                    Err(wayland_client::backend::WaylandError::Io(e))
                        if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => self.state.lost = true,
                }
            }
        }
        if self.queue.dispatch_pending(&mut self.state).is_err() {
            self.state.lost = true;
        }
    }

    fn close(mut self) {
        self.state.buffers.clear();
        self.state.window.take();
        let _ = self.connection.flush();
    }
}

impl State {
    fn push(&mut self, event: Event) {
        if self.events.len() >= EVENT_LIMIT {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    /// A new size from the shell, for the app to hear of (only the latest one waits).
    fn resize(&mut self, width: u32, height: u32) {
        if width == 0 || height == 0 {
            return;
        }
        self.events.retain(|e| !matches!(e, Event::Resize(_)));
        if (width, height) != self.size {
            self.push(Event::Resize(ResizeEvent { width, height }));
        }
    }

    /// The size the app draws at from now: the frame keeps what fits.
    fn draw_at(&mut self, width: u32, height: u32) {
        if (width, height) == self.size {
            return;
        }
        let mut frame = vec![0; width as usize * height as usize * 4];
        let row = width.min(self.size.0) as usize * 4;
        for y in 0..height.min(self.size.1) as usize {
            let (from, to) = (y * self.size.0 as usize * 4, y * width as usize * 4);
            frame[to..to + row].copy_from_slice(&self.frame[from..from + row]);
        }
        self.frame = frame;
        self.size = (width, height);
    }

    fn pointer(&self, button: u32) -> PointerEvent {
        PointerEvent {
            x: self.pointer_at.0,
            y: self.pointer_at.1,
            button,
        }
    }

    fn key(&self, event: &XkbKeyEvent) -> KeyEvent {
        let text = event
            .utf8
            .clone()
            .filter(|t| !t.is_empty() && !t.chars().any(char::is_control));
        KeyEvent {
            code: event.raw_code,
            text,
            shift_key: self.modifiers.shift,
            ctrl_key: self.modifiers.ctrl,
            alt_key: self.modifiers.alt,
        }
    }

    /// Repeats of the held key that are due, as key presses.
    fn repeat_held(&mut self) {
        let now = Instant::now();
        let mut due = Vec::new();
        if let Some(held) = &mut self.held {
            while held.next <= now && due.len() < 64 {
                due.push(held.event.clone());
                held.next += held.every;
            }
            if held.next <= now {
                held.next = now + held.every;
            }
        }
        for e in due {
            self.push(Event::KeyDown(e));
        }
    }
}

impl CompositorHandler for State {
    fn scale_factor_changed(
        &mut self,
        _: &Connection,
        _: &QueueHandle<Self>,
        _: &WlSurface,
        _: i32,
    ) {
    }

    fn transform_changed(
        &mut self,
        _: &Connection,
        _: &QueueHandle<Self>,
        _: &WlSurface,
        _: wayland_client::protocol::wl_output::Transform,
    ) {
    }

    fn frame(&mut self, _: &Connection, _: &QueueHandle<Self>, _: &WlSurface, time: u32) {
        self.frame_pending = false;
        self.push(Event::Frame(FrameEvent { time_ms: time }));
    }

    fn surface_enter(
        &mut self,
        _: &Connection,
        _: &QueueHandle<Self>,
        _: &WlSurface,
        _: &WlOutput,
    ) {
    }

    fn surface_leave(
        &mut self,
        _: &Connection,
        _: &QueueHandle<Self>,
        _: &WlSurface,
        _: &WlOutput,
    ) {
    }
}

impl OutputHandler for State {
    fn output_state(&mut self) -> &mut OutputState {
        &mut self.outputs
    }

    fn new_output(&mut self, _: &Connection, _: &QueueHandle<Self>, _: WlOutput) {}

    fn update_output(&mut self, _: &Connection, _: &QueueHandle<Self>, _: WlOutput) {}

    fn output_destroyed(&mut self, _: &Connection, _: &QueueHandle<Self>, _: WlOutput) {}
}

impl WindowHandler for State {
    fn request_close(&mut self, _: &Connection, _: &QueueHandle<Self>, _: &XdgWindow) {
        self.push(Event::Close);
    }

    fn configure(
        &mut self,
        _: &Connection,
        _: &QueueHandle<Self>,
        _: &XdgWindow,
        configure: WindowConfigure,
        _: u32,
    ) {
        let (w, h) = configure.new_size;
        self.resize(w.map_or(0, |w| w.get()), h.map_or(0, |h| h.get()));
        self.configured = true;
    }
}

impl SeatHandler for State {
    fn seat_state(&mut self) -> &mut SeatState {
        &mut self.seats
    }

    fn new_seat(&mut self, _: &Connection, _: &QueueHandle<Self>, _: WlSeat) {}

    fn new_capability(
        &mut self,
        _: &Connection,
        qh: &QueueHandle<Self>,
        seat: WlSeat,
        capability: Capability,
    ) {
        match capability {
            Capability::Keyboard if self.keyboard.is_none() => {
                self.keyboard = self
                    .seats
                    .get_keyboard::<State, State>(qh, &seat, None)
                    .ok();
            }
            Capability::Pointer if self.pointer.is_none() => {
                self.pointer = self.seats.get_pointer(qh, &seat).ok();
            }
            Capability::Touch if self.touch.is_none() => {
                self.touch = self.seats.get_touch(qh, &seat).ok();
            }
            _ => {}
        }
    }

    fn remove_capability(
        &mut self,
        _: &Connection,
        _: &QueueHandle<Self>,
        _: WlSeat,
        capability: Capability,
    ) {
        match capability {
            Capability::Keyboard => {
                if let Some(k) = self.keyboard.take() {
                    k.release();
                }
                self.held = None;
            }
            Capability::Pointer => {
                if let Some(p) = self.pointer.take() {
                    p.release();
                }
            }
            Capability::Touch => {
                if let Some(t) = self.touch.take() {
                    t.release();
                }
            }
            _ => {}
        }
    }

    fn remove_seat(&mut self, _: &Connection, _: &QueueHandle<Self>, _: WlSeat) {}
}

impl KeyboardHandler for State {
    fn enter(
        &mut self,
        _: &Connection,
        _: &QueueHandle<Self>,
        _: &WlKeyboard,
        _: &WlSurface,
        _: u32,
        _: &[u32],
        _: &[Keysym],
    ) {
    }

    fn leave(
        &mut self,
        _: &Connection,
        _: &QueueHandle<Self>,
        _: &WlKeyboard,
        _: &WlSurface,
        _: u32,
    ) {
        self.held = None;
    }

    fn press_key(
        &mut self,
        _: &Connection,
        _: &QueueHandle<Self>,
        _: &WlKeyboard,
        _: u32,
        event: XkbKeyEvent,
    ) {
        let key = self.key(&event);
        // Modifiers do not repeat; every other key does, at the shell's rate.
        self.held = match self.repeat {
            Some((delay, every)) if !event.keysym.is_modifier_key() => Some(Held {
                event: key.clone(),
                next: Instant::now() + delay,
                every,
            }),
            _ => None,
        };
        self.push(Event::KeyDown(key));
    }

    fn release_key(
        &mut self,
        _: &Connection,
        _: &QueueHandle<Self>,
        _: &WlKeyboard,
        _: u32,
        event: XkbKeyEvent,
    ) {
        if self
            .held
            .as_ref()
            .is_some_and(|h| h.event.code == event.raw_code)
        {
            self.held = None;
        }
        let key = self.key(&event);
        self.push(Event::KeyUp(key));
    }

    fn update_modifiers(
        &mut self,
        _: &Connection,
        _: &QueueHandle<Self>,
        _: &WlKeyboard,
        _: u32,
        modifiers: Modifiers,
        _: u32,
    ) {
        self.modifiers = modifiers;
    }

    fn update_repeat_info(
        &mut self,
        _: &Connection,
        _: &QueueHandle<Self>,
        _: &WlKeyboard,
        info: RepeatInfo,
    ) {
        self.repeat = match info {
            RepeatInfo::Repeat { rate, delay } => Some((
                Duration::from_millis(delay.into()),
                Duration::from_secs(1) / rate.get(),
            )),
            RepeatInfo::Disable => None,
        };
    }
}

impl PointerHandler for State {
    fn pointer_frame(
        &mut self,
        _: &Connection,
        _: &QueueHandle<Self>,
        _: &WlPointer,
        events: &[WlPointerEvent],
    ) {
        for e in events {
            self.pointer_at = e.position;
            match e.kind {
                PointerEventKind::Motion { .. } => self.push(Event::PointerMove(self.pointer(0))),
                PointerEventKind::Press { button, .. } => {
                    self.push(Event::PointerDown(self.pointer(button)))
                }
                PointerEventKind::Release { button, .. } => {
                    self.push(Event::PointerUp(self.pointer(button)))
                }
                _ => {}
            }
        }
    }
}

impl TouchHandler for State {
    fn down(
        &mut self,
        _: &Connection,
        _: &QueueHandle<Self>,
        _: &WlTouch,
        _: u32,
        _: u32,
        _: WlSurface,
        _: i32,
        position: (f64, f64),
    ) {
        self.pointer_at = position;
        self.push(Event::PointerDown(self.pointer(BTN_LEFT)));
    }

    fn up(&mut self, _: &Connection, _: &QueueHandle<Self>, _: &WlTouch, _: u32, _: u32, _: i32) {
        self.push(Event::PointerUp(self.pointer(BTN_LEFT)));
    }

    fn motion(
        &mut self,
        _: &Connection,
        _: &QueueHandle<Self>,
        _: &WlTouch,
        _: u32,
        _: i32,
        position: (f64, f64),
    ) {
        self.pointer_at = position;
        self.push(Event::PointerMove(self.pointer(0)));
    }

    fn shape(
        &mut self,
        _: &Connection,
        _: &QueueHandle<Self>,
        _: &WlTouch,
        _: i32,
        _: f64,
        _: f64,
    ) {
    }

    fn orientation(&mut self, _: &Connection, _: &QueueHandle<Self>, _: &WlTouch, _: i32, _: f64) {}

    fn cancel(&mut self, _: &Connection, _: &QueueHandle<Self>, _: &WlTouch) {}
}

impl ShmHandler for State {
    fn shm_state(&mut self) -> &mut Shm {
        &mut self.shm
    }
}

impl ProvidesRegistryState for State {
    fn registry(&mut self) -> &mut RegistryState {
        &mut self.registry
    }

    registry_handlers![OutputState, SeatState];
}

delegate_compositor!(State);
delegate_output!(State);
delegate_shm!(State);
delegate_seat!(State);
delegate_keyboard!(State);
delegate_pointer!(State);
delegate_touch!(State);
delegate_xdg_shell!(State);
delegate_xdg_window!(State);
delegate_registry!(State);
