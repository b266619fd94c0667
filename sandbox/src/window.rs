//! Windows for WASI apps: the host side of the `compose:window` world (`sandbox/wit/`).
//! Each window is a real Wayland client connection into the running shell, made through
//! the app's security-context socket, so the shell knows the app and marks its window. The
//! app's pixels go into shared-memory buffers (only the damaged rectangles are copied), the
//! shell's frame callbacks pace `present`, and the shell's input comes back as events.

use std::collections::VecDeque;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use wasmtime::component::{HasData, Resource, ResourceTable};
use wayland_client::protocol::{
    wl_buffer::{self, WlBuffer},
    wl_callback::{self, WlCallback},
    wl_compositor::WlCompositor,
    wl_keyboard::{self, WlKeyboard},
    wl_pointer::{self, WlPointer},
    wl_registry::{self, WlRegistry},
    wl_seat::{self, WlSeat},
    wl_shm::{self, WlShm},
    wl_shm_pool::WlShmPool,
    wl_surface::WlSurface,
    wl_touch::{self, WlTouch},
};
use wayland_client::{Connection, Dispatch, EventQueue, QueueHandle, WEnum, delegate_noop};
use wayland_protocols::xdg::decoration::zv1::client::{
    zxdg_decoration_manager_v1::ZxdgDecorationManagerV1,
    zxdg_toplevel_decoration_v1::{self, ZxdgToplevelDecorationV1},
};
use wayland_protocols::xdg::shell::client::{
    xdg_surface::{self, XdgSurface},
    xdg_toplevel::{self, XdgToplevel},
    xdg_wm_base::{self, XdgWmBase},
};

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

/// A shared-memory buffer of the window's size.
struct Buffer {
    file: File,
    buffer: WlBuffer,
    size: (u32, u32),
    /// The shell still reads it.
    busy: bool,
    /// What changed since it was last written (None: everything).
    stale: Option<Vec<Rect>>,
}

/// Everything the Wayland side of a window knows.
struct State {
    compositor: Option<WlCompositor>,
    shm: Option<WlShm>,
    wm_base: Option<XdgWmBase>,
    seat: Option<WlSeat>,
    decorations: Option<ZxdgDecorationManagerV1>,
    surface: Option<WlSurface>,
    pointer: Option<WlPointer>,
    keyboard: Option<WlKeyboard>,
    touch: Option<WlTouch>,
    /// The size the app draws at (it changes when the app reads a resize event).
    size: (u32, u32),
    /// The size the shell asked for in its last toplevel configure (0: the app's choice).
    asked: (u32, u32),
    configured: bool,
    /// The whole current frame, XRGB8888: what buffers are brought up to date from.
    frame: Vec<u8>,
    buffers: Vec<Buffer>,
    frame_pending: bool,
    events: VecDeque<Event>,
    pointer_at: (f64, f64),
    keymap: Option<String>,
    modifiers: [u32; 4],
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
        let mut queue = connection.new_event_queue();
        let qh = queue.handle();
        connection.display().get_registry(&qh, ());
        let mut state = State::new((desc.width, desc.height));
        queue.roundtrip(&mut state).map_err(|e| lost(&e))?;
        let (Some(compositor), Some(wm_base), Some(_)) =
            (&state.compositor, &state.wm_base, &state.shm)
        else {
            return Err(lost(&"it offers no wl_compositor, wl_shm or xdg_wm_base"));
        };
        let surface = compositor.create_surface(&qh, ());
        let xdg = wm_base.get_xdg_surface(&surface, &qh, ());
        let toplevel = xdg.get_toplevel(&qh, ());
        toplevel.set_title(desc.title.clone());
        toplevel.set_app_id(app_id.to_string());
        if let Some(manager) = &state.decorations {
            let decoration = manager.get_toplevel_decoration(&toplevel, &qh, ());
            decoration.set_mode(zxdg_toplevel_decoration_v1::Mode::ServerSide);
        }
        surface.commit();
        state.surface = Some(surface);
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
        let buffer = &mut state.buffers[index];
        let write = |rects: &[Rect]| -> std::io::Result<()> {
            for r in rects {
                let row = r.width as usize * 4;
                for y in r.y..r.y + r.height {
                    let start = y as usize * stride + r.x as usize * 4;
                    buffer
                        .file
                        .write_all_at(&state.frame[start..start + row], start as u64)?;
                }
            }
            Ok(())
        };
        let written = match &buffer.stale {
            None => write(&[Rect {
                x: 0,
                y: 0,
                width,
                height,
            }]),
            Some(stale) => write(stale).and_then(|()| write(damage)),
        };
        written.map_err(|e| format!("cannot write the window's buffer: {e}"))?;
        buffer.stale = Some(Vec::new());
        buffer.busy = true;
        let qh = self.queue.handle();
        let surface = state.surface.as_ref().expect("open made the surface");
        surface.attach(Some(&buffer.buffer), 0, 0);
        for r in damage {
            surface.damage_buffer(r.x as i32, r.y as i32, r.width as i32, r.height as i32);
        }
        surface.frame(&qh, ());
        state.frame_pending = true;
        surface.commit();
        self.connection
            .flush()
            .map_err(|e| format!("the shell closed the window's connection: {e}"))
    }

    /// A buffer of the current size the shell does not read, made when there is none.
    fn free_buffer(&mut self) -> Result<usize, String> {
        let start = Instant::now();
        loop {
            let size = self.state.size;
            // Buffers of an old size go once the shell is done with them.
            self.state.buffers.retain(|b| {
                let keep = b.size == size || b.busy;
                if !keep {
                    b.buffer.destroy();
                }
                keep
            });
            if let Some(i) = self
                .state
                .buffers
                .iter()
                .position(|b| b.size == size && !b.busy)
            {
                return Ok(i);
            }
            let mine = self.state.buffers.iter().filter(|b| b.size == size).count();
            if mine < 2 || start.elapsed() > FRAME_WAIT {
                return self.new_buffer();
            }
            self.dispatch(Some(FRAME_WAIT - start.elapsed().min(FRAME_WAIT)));
        }
    }

    fn new_buffer(&mut self) -> Result<usize, String> {
        let (width, height) = self.state.size;
        let bytes = width as usize * height as usize * 4;
        let fd = rustix::fs::memfd_create("compose-window", rustix::fs::MemfdFlags::CLOEXEC)
            .map_err(|e| format!("cannot make a buffer: {e}"))?;
        let file = File::from(fd);
        file.set_len(bytes as u64)
            .map_err(|e| format!("cannot make a buffer of {bytes} bytes: {e}"))?;
        let qh = self.queue.handle();
        let shm = self.state.shm.as_ref().expect("open checked wl_shm");
        let pool: WlShmPool =
            shm.create_pool(std::os::fd::AsFd::as_fd(&file), bytes as i32, &qh, ());
        let index = self.state.buffers.len();
        let buffer = pool.create_buffer(
            0,
            width as i32,
            height as i32,
            width as i32 * 4,
            wl_shm::Format::Xrgb8888,
            &qh,
            (),
        );
        pool.destroy();
        self.state.buffers.push(Buffer {
            file,
            buffer,
            size: (width, height),
            busy: false,
            stale: None,
        });
        Ok(index)
    }

    /// The next event, waiting up to `timeout` (None: until there is one).
    pub fn next_event(&mut self, timeout: Option<Duration>) -> Option<Event> {
        let start = Instant::now();
        loop {
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
            let left = match timeout {
                Some(t) if start.elapsed() >= t => return None,
                Some(t) => Some(t - start.elapsed()),
                None => None,
            };
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

    fn close(self) {
        for b in &self.state.buffers {
            b.buffer.destroy();
        }
        if let Some(s) = &self.state.surface {
            s.destroy();
        }
        let _ = self.connection.flush();
    }
}

impl State {
    fn new(size: (u32, u32)) -> State {
        State {
            compositor: None,
            shm: None,
            wm_base: None,
            seat: None,
            decorations: None,
            surface: None,
            pointer: None,
            keyboard: None,
            touch: None,
            size,
            asked: (0, 0),
            configured: false,
            frame: vec![0; size.0 as usize * size.1 as usize * 4],
            buffers: Vec::new(),
            frame_pending: false,
            events: VecDeque::new(),
            pointer_at: (0.0, 0.0),
            keymap: None,
            modifiers: [0; 4],
            lost: false,
        }
    }

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

    fn key(&self, code: u32) -> KeyEvent {
        let keymap = self.keymap.as_deref();
        let (text, shift, ctrl, alt) = keys::translate(keymap, self.modifiers, code);
        KeyEvent {
            code,
            text,
            shift_key: shift,
            ctrl_key: ctrl,
            alt_key: alt,
        }
    }
}

/// Key codes to text with the shell's keymap (xkbcommon). Its keymaps cannot leave the
/// thread that made them, so each thread keeps the last one it compiled.
mod keys {
    use std::cell::RefCell;
    use xkbcommon::xkb;

    thread_local! {
        static COMPILED: RefCell<Option<(String, xkb::Keymap)>> = const { RefCell::new(None) };
    }

    /// The text `code` types under `modifiers` (depressed, latched, locked, group), and
    /// whether shift, ctrl and alt are held.
    pub fn translate(
        keymap: Option<&str>,
        modifiers: [u32; 4],
        code: u32,
    ) -> (Option<String>, bool, bool, bool) {
        let Some(text) = keymap else {
            return (None, false, false, false);
        };
        COMPILED.with(|compiled| {
            let mut compiled = compiled.borrow_mut();
            if compiled.as_ref().is_none_or(|(t, _)| t != text) {
                let context = xkb::Context::new(xkb::CONTEXT_NO_FLAGS);
                *compiled = xkb::Keymap::new_from_string(
                    &context,
                    text.to_string(),
                    xkb::KEYMAP_FORMAT_TEXT_V1,
                    xkb::COMPILE_NO_FLAGS,
                )
                .map(|k| (text.to_string(), k));
            }
            let Some((_, keymap)) = compiled.as_ref() else {
                return (None, false, false, false);
            };
            let mut state = xkb::State::new(keymap);
            let [depressed, latched, locked, group] = modifiers;
            state.update_mask(depressed, latched, locked, 0, 0, group);
            let active = |name: &str| state.mod_name_is_active(name, xkb::STATE_MODS_EFFECTIVE);
            let typed = state.key_get_utf8(xkb::Keycode::new(code + 8));
            let typed =
                (!typed.is_empty() && !typed.chars().any(char::is_control)).then_some(typed);
            (
                typed,
                active(xkb::MOD_NAME_SHIFT),
                active(xkb::MOD_NAME_CTRL),
                active(xkb::MOD_NAME_ALT),
            )
        })
    }
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
            match interface.as_str() {
                "wl_compositor" => {
                    state.compositor = Some(registry.bind(name, version.min(4), qh, ()))
                }
                "wl_shm" => state.shm = Some(registry.bind(name, 1, qh, ())),
                "xdg_wm_base" => state.wm_base = Some(registry.bind(name, 1, qh, ())),
                "wl_seat" => state.seat = Some(registry.bind(name, version.min(5), qh, ())),
                "zxdg_decoration_manager_v1" => {
                    state.decorations = Some(registry.bind(name, 1, qh, ()))
                }
                _ => {}
            }
        }
    }
}

impl Dispatch<XdgWmBase, ()> for State {
    fn event(
        _: &mut Self,
        wm_base: &XdgWmBase,
        event: xdg_wm_base::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_wm_base::Event::Ping { serial } = event {
            wm_base.pong(serial);
        }
    }
}

impl Dispatch<XdgSurface, ()> for State {
    fn event(
        state: &mut Self,
        xdg: &XdgSurface,
        event: xdg_surface::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let xdg_surface::Event::Configure { serial } = event {
            xdg.ack_configure(serial);
            let (w, h) = state.asked;
            state.resize(w, h);
            state.configured = true;
        }
    }
}

impl Dispatch<XdgToplevel, ()> for State {
    fn event(
        state: &mut Self,
        _: &XdgToplevel,
        event: xdg_toplevel::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        match event {
            xdg_toplevel::Event::Configure { width, height, .. } => {
                state.asked = (width.max(0) as u32, height.max(0) as u32);
            }
            xdg_toplevel::Event::Close => state.push(Event::Close),
            _ => {}
        }
    }
}

impl Dispatch<WlCallback, ()> for State {
    fn event(
        state: &mut Self,
        _: &WlCallback,
        event: wl_callback::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wl_callback::Event::Done { callback_data } = event {
            state.frame_pending = false;
            state.push(Event::Frame(FrameEvent {
                time_ms: callback_data,
            }));
        }
    }
}

impl Dispatch<WlBuffer, ()> for State {
    fn event(
        state: &mut Self,
        buffer: &WlBuffer,
        event: wl_buffer::Event,
        _: &(),
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        if let wl_buffer::Event::Release = event
            && let Some(b) = state.buffers.iter_mut().find(|b| &b.buffer == buffer)
        {
            b.busy = false;
        }
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
            if caps.contains(wl_seat::Capability::Pointer) && state.pointer.is_none() {
                state.pointer = Some(seat.get_pointer(qh, ()));
            }
            if caps.contains(wl_seat::Capability::Keyboard) && state.keyboard.is_none() {
                state.keyboard = Some(seat.get_keyboard(qh, ()));
            }
            if caps.contains(wl_seat::Capability::Touch) && state.touch.is_none() {
                state.touch = Some(seat.get_touch(qh, ()));
            }
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
            wl_pointer::Event::Enter {
                surface_x,
                surface_y,
                ..
            } => state.pointer_at = (surface_x, surface_y),
            wl_pointer::Event::Motion {
                surface_x,
                surface_y,
                ..
            } => {
                state.pointer_at = (surface_x, surface_y);
                state.push(Event::PointerMove(state.pointer(0)));
            }
            wl_pointer::Event::Button {
                button,
                state: WEnum::Value(pressed),
                ..
            } => {
                let e = state.pointer(button);
                state.push(match pressed {
                    wl_pointer::ButtonState::Pressed => Event::PointerDown(e),
                    _ => Event::PointerUp(e),
                });
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
            wl_touch::Event::Down { x, y, .. } => {
                state.pointer_at = (x, y);
                state.push(Event::PointerDown(state.pointer(BTN_LEFT)));
            }
            wl_touch::Event::Motion { x, y, .. } => {
                state.pointer_at = (x, y);
                state.push(Event::PointerMove(state.pointer(0)));
            }
            wl_touch::Event::Up { .. } => state.push(Event::PointerUp(state.pointer(BTN_LEFT))),
            _ => {}
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
            wl_keyboard::Event::Keymap { fd, size, .. } => {
                let file = File::from(fd);
                let mut text = vec![0; size as usize];
                if file.read_exact_at(&mut text, 0).is_ok() {
                    let end = text.iter().position(|b| *b == 0).unwrap_or(text.len());
                    state.keymap = String::from_utf8(text[..end].to_vec()).ok();
                }
            }
            wl_keyboard::Event::Modifiers {
                mods_depressed,
                mods_latched,
                mods_locked,
                group,
                ..
            } => state.modifiers = [mods_depressed, mods_latched, mods_locked, group],
            wl_keyboard::Event::Key {
                key,
                state: WEnum::Value(pressed),
                ..
            } => {
                let e = state.key(key);
                state.push(match pressed {
                    wl_keyboard::KeyState::Pressed => Event::KeyDown(e),
                    _ => Event::KeyUp(e),
                });
            }
            _ => {}
        }
    }
}

delegate_noop!(State: ignore WlCompositor);
delegate_noop!(State: ignore WlShm);
delegate_noop!(State: ignore WlShmPool);
delegate_noop!(State: ignore WlSurface);
delegate_noop!(State: ignore ZxdgDecorationManagerV1);
delegate_noop!(State: ignore ZxdgToplevelDecorationV1);
