//! The Wayland side (smithay): a headless compositor whose clients' toplevels become
//! windows of the shell policy. It speaks wl_compositor, wl_shm, xdg_shell, wl_seat and
//! wl_output, sends the configures the active shell decides, and paces frame callbacks
//! (unfocused windows in the gaming shell get fewer). Rendering is not part of this module.
//!
//! This is the one module of the crate that knows smithay; `policy` never does.

#![allow(unsafe_code)] // smithay's display dispatch and shm mappings are unsafe at the edge.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use smithay::input::{Seat, SeatHandler, SeatState};
use smithay::output::{Mode, Output, PhysicalProperties, Scale, Subpixel};
use smithay::reexports::calloop::channel::{Channel, Event as ChannelEvent};
use smithay::reexports::calloop::generic::Generic;
use smithay::reexports::calloop::timer::{TimeoutAction, Timer};
use smithay::reexports::calloop::{EventLoop, Interest, Mode as CMode, PostAction};
use smithay::reexports::wayland_protocols::xdg::shell::server::xdg_toplevel;
use smithay::reexports::wayland_server::backend::{ClientData, ClientId, DisconnectReason};
use smithay::reexports::wayland_server::protocol::{
    wl_buffer::WlBuffer, wl_seat, wl_surface::WlSurface,
};
use smithay::reexports::wayland_server::{Client, Display, DisplayHandle};
use smithay::utils::{Serial, Transform};
use smithay::wayland::buffer::BufferHandler;
use smithay::wayland::compositor::{
    BufferAssignment, CompositorClientState, CompositorHandler, CompositorState, SurfaceAttributes,
    with_states,
};
use smithay::wayland::output::{OutputHandler, OutputManagerState};
use smithay::wayland::shell::xdg::{
    PopupSurface, PositionerState, ToplevelSurface, XdgShellHandler, XdgShellState,
    XdgToplevelSurfaceData,
};
use smithay::wayland::shm::{ShmHandler, ShmState, with_buffer_contents};
use smithay::wayland::socket::ListeningSocketSource;
use smithay::{
    delegate_compositor, delegate_output, delegate_seat, delegate_shm, delegate_xdg_shell,
};

use crate::definition::ShellDef;
use crate::policy::{Shell, States, WindowId};

/// What a controller (the D-Bus service, a test) asks of a running compositor.
#[derive(Debug)]
pub enum Command {
    Swap(ShellDef, mpsc::Sender<()>),
    Windows(mpsc::Sender<Vec<WindowInfo>>),
    Stop,
}

/// A window as the controller sees it: policy plus what its client did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowInfo {
    pub id: WindowId,
    pub app_id: String,
    pub title: String,
    /// The last configure sent: size and states.
    pub configured: (u32, u32, States),
    /// Size of the last committed buffer, if any.
    pub buffer: Option<(i32, i32)>,
    /// Frame callbacks sent so far.
    pub frames: u64,
}

#[derive(Default)]
struct ClientState {
    compositor_state: CompositorClientState,
}

impl ClientData for ClientState {
    fn initialized(&self, _: ClientId) {}
    fn disconnected(&self, _: ClientId, _: DisconnectReason) {}
}

struct Tracked {
    toplevel: ToplevelSurface,
    id: WindowId,
    configured: (u32, u32, States),
    buffer: Option<(i32, i32)>,
    frames: u64,
}

struct State {
    display: DisplayHandle,
    compositor_state: CompositorState,
    shm_state: ShmState,
    xdg_shell_state: XdgShellState,
    seat_state: SeatState<State>,
    _output_manager: OutputManagerState,
    shell: Shell,
    windows: Vec<Tracked>,
    /// Frame callbacks waiting for the next frame, per surface.
    pending_frames: HashMap<
        WlSurface,
        Vec<smithay::reexports::wayland_server::protocol::wl_callback::WlCallback>,
    >,
    started: Instant,
    frame: u64,
    stop: bool,
}

fn xdg_states(states: &States) -> Vec<xdg_toplevel::State> {
    let mut out = Vec::new();
    if states.activated {
        out.push(xdg_toplevel::State::Activated);
    }
    if states.maximized {
        out.push(xdg_toplevel::State::Maximized);
    }
    if states.fullscreen {
        out.push(xdg_toplevel::State::Fullscreen);
    }
    out
}

impl State {
    /// Sends every configure the policy asks for.
    fn send_configures(&mut self) {
        for (id, width, height, states) in self.shell.take_configures() {
            let Some(w) = self.windows.iter_mut().find(|w| w.id == id) else {
                continue;
            };
            w.toplevel.with_pending_state(|s| {
                s.size = Some((width as i32, height as i32).into());
                s.states = Default::default();
                for st in xdg_states(&states) {
                    s.states.set(st);
                }
            });
            if w.toplevel.is_initial_configure_sent() {
                w.toplevel.send_pending_configure();
            }
            w.configured = (width, height, states);
        }
    }

    fn window_for(&mut self, surface: &WlSurface) -> Option<&mut Tracked> {
        self.windows
            .iter_mut()
            .find(|w| w.toplevel.wl_surface() == surface)
    }

    /// One frame: frame callbacks for every window that runs at full rate this frame.
    fn frame(&mut self) {
        self.frame += 1;
        let now = self.started.elapsed().as_millis() as u32;
        let views = self.shell.windows();
        for w in &mut self.windows {
            let throttled = views
                .iter()
                .find(|v| v.id == w.id)
                .is_some_and(|v| v.states.throttled);
            if throttled && self.frame % 4 != 0 {
                continue;
            }
            if let Some(callbacks) = self.pending_frames.remove(w.toplevel.wl_surface()) {
                for cb in callbacks {
                    cb.done(now);
                    w.frames += 1;
                }
            }
        }
    }

    fn info(&self) -> Vec<WindowInfo> {
        let views = self.shell.windows();
        self.windows
            .iter()
            .filter_map(|w| {
                let v = views.iter().find(|v| v.id == w.id)?;
                Some(WindowInfo {
                    id: w.id,
                    app_id: v.app_id.clone(),
                    title: v.title.clone(),
                    configured: w.configured,
                    buffer: w.buffer,
                    frames: w.frames,
                })
            })
            .collect()
    }
}

impl CompositorHandler for State {
    fn compositor_state(&mut self) -> &mut CompositorState {
        &mut self.compositor_state
    }

    fn client_compositor_state<'a>(&self, client: &'a Client) -> &'a CompositorClientState {
        &client
            .get_data::<ClientState>()
            .expect("every client gets a ClientState")
            .compositor_state
    }

    fn commit(&mut self, surface: &WlSurface) {
        // The initial configure answers the first commit, with the size the shell decided.
        if let Some(w) = self.window_for(surface) {
            let sent = with_states(surface, |s| {
                s.data_map
                    .get::<XdgToplevelSurfaceData>()
                    .map(|d| d.lock().map(|d| d.initial_configure_sent).unwrap_or(true))
                    .unwrap_or(true)
            });
            if !sent {
                w.toplevel.send_configure();
            }
        }
        let (buffer, callbacks) = with_states(surface, |states| {
            let mut guard = states.cached_state.get::<SurfaceAttributes>();
            let attrs = guard.current();
            let mut size = None;
            if let Some(BufferAssignment::NewBuffer(buffer)) = attrs.buffer.take() {
                size = with_buffer_contents(&buffer, |_, _, data| (data.width, data.height)).ok();
                buffer.release();
            }
            (size, std::mem::take(&mut attrs.frame_callbacks))
        });
        self.pending_frames
            .entry(surface.clone())
            .or_default()
            .extend(callbacks);
        if let Some(w) = self.window_for(surface) {
            if buffer.is_some() {
                w.buffer = buffer;
            }
        }
    }
}

impl BufferHandler for State {
    fn buffer_destroyed(&mut self, _buffer: &WlBuffer) {}
}

impl ShmHandler for State {
    fn shm_state(&self) -> &ShmState {
        &self.shm_state
    }
}

impl XdgShellHandler for State {
    fn xdg_shell_state(&mut self) -> &mut XdgShellState {
        &mut self.xdg_shell_state
    }

    fn new_toplevel(&mut self, surface: ToplevelSurface) {
        let id = self.shell.add_window("", "");
        self.windows.push(Tracked {
            toplevel: surface,
            id,
            configured: (0, 0, States::default()),
            buffer: None,
            frames: 0,
        });
        self.send_configures();
    }

    fn new_popup(&mut self, _surface: PopupSurface, _positioner: PositionerState) {}

    fn grab(&mut self, _surface: PopupSurface, _seat: wl_seat::WlSeat, _serial: Serial) {}

    fn reposition_request(
        &mut self,
        _surface: PopupSurface,
        _positioner: PositionerState,
        _token: u32,
    ) {
    }

    fn toplevel_destroyed(&mut self, surface: ToplevelSurface) {
        if let Some(at) = self.windows.iter().position(|w| w.toplevel == surface) {
            let w = self.windows.remove(at);
            self.shell.close(w.id);
            self.pending_frames.remove(w.toplevel.wl_surface());
            self.send_configures();
        }
    }

    fn title_changed(&mut self, surface: ToplevelSurface) {
        self.names_changed(&surface);
    }

    fn app_id_changed(&mut self, surface: ToplevelSurface) {
        self.names_changed(&surface);
    }
}

impl State {
    fn names_changed(&mut self, surface: &ToplevelSurface) {
        let (title, app_id) = with_states(surface.wl_surface(), |s| {
            s.data_map
                .get::<XdgToplevelSurfaceData>()
                .and_then(|d| {
                    d.lock().ok().map(|d| {
                        (
                            d.title.clone().unwrap_or_default(),
                            d.app_id.clone().unwrap_or_default(),
                        )
                    })
                })
                .unwrap_or_default()
        });
        if let Some(w) = self.windows.iter().find(|w| &w.toplevel == surface) {
            self.shell.set_names(w.id, &app_id, &title);
        }
    }
}

impl SeatHandler for State {
    type KeyboardFocus = WlSurface;
    type PointerFocus = WlSurface;
    type TouchFocus = WlSurface;

    fn seat_state(&mut self) -> &mut SeatState<State> {
        &mut self.seat_state
    }
}

impl OutputHandler for State {}

delegate_compositor!(State);
delegate_shm!(State);
delegate_xdg_shell!(State);
delegate_seat!(State);
delegate_output!(State);

/// Why the compositor could not start.
#[derive(Debug, thiserror::Error)]
pub enum CompositorError {
    #[error("cannot create the Wayland display: {0}")]
    Display(String),
    #[error(
        "cannot listen on Wayland socket `{name}`: {message} (is XDG_RUNTIME_DIR set and writable?)"
    )]
    Socket { name: String, message: String },
    #[error("event loop: {0}")]
    EventLoop(String),
}

/// Runs a headless compositor on socket `socket` (in XDG_RUNTIME_DIR) until a `Stop`
/// command, with `def` as the active shell on an output of `width` x `height`.
pub fn run_headless(
    socket: &str,
    def: ShellDef,
    width: u32,
    height: u32,
    commands: Channel<Command>,
) -> Result<(), CompositorError> {
    let mut event_loop: EventLoop<State> =
        EventLoop::try_new().map_err(|e| CompositorError::EventLoop(e.to_string()))?;
    let display: Display<State> =
        Display::new().map_err(|e| CompositorError::Display(e.to_string()))?;
    let dh = display.handle();
    let compositor_state = CompositorState::new::<State>(&dh);
    let shm_state = ShmState::new::<State>(&dh, vec![]);
    let xdg_shell_state = XdgShellState::new::<State>(&dh);
    let mut seat_state = SeatState::new();
    let _seat: Seat<State> = seat_state.new_wl_seat(&dh, "seat0");
    let output_manager = OutputManagerState::new_with_xdg_output::<State>(&dh);
    let output = Output::new(
        "headless-0".into(),
        PhysicalProperties {
            size: (0, 0).into(),
            subpixel: Subpixel::Unknown,
            make: "compose".into(),
            model: "headless".into(),
        },
    );
    let _global = output.create_global::<State>(&dh);
    let mode = Mode {
        size: (width as i32, height as i32).into(),
        refresh: 60_000,
    };
    output.change_current_state(
        Some(mode),
        Some(Transform::Normal),
        Some(Scale::Integer(1)),
        Some((0, 0).into()),
    );
    output.set_preferred(mode);

    let listener =
        ListeningSocketSource::with_name(socket).map_err(|e| CompositorError::Socket {
            name: socket.into(),
            message: e.to_string(),
        })?;
    let handle = event_loop.handle();
    handle
        .insert_source(listener, |stream, _, state: &mut State| {
            if let Err(e) = state
                .display
                .insert_client(stream, Arc::new(ClientState::default()))
            {
                tracing::warn!("cannot accept a Wayland client: {e}");
            }
        })
        .map_err(|e| CompositorError::EventLoop(e.to_string()))?;
    handle
        .insert_source(
            Generic::new(display, Interest::READ, CMode::Level),
            |_, display, state| {
                // SAFETY: the display lives in this source for as long as the event loop.
                unsafe {
                    if let Err(e) = display.get_mut().dispatch_clients(state) {
                        tracing::warn!("dispatching Wayland clients failed: {e}");
                    }
                }
                Ok(PostAction::Continue)
            },
        )
        .map_err(|e| CompositorError::EventLoop(e.to_string()))?;
    handle
        .insert_source(
            Timer::from_duration(Duration::from_millis(16)),
            |_, _, state| {
                state.frame();
                TimeoutAction::ToDuration(Duration::from_millis(16))
            },
        )
        .map_err(|e| CompositorError::EventLoop(e.to_string()))?;
    handle
        .insert_source(commands, |event, _, state| match event {
            ChannelEvent::Msg(Command::Swap(def, done)) => {
                state.shell.swap(def);
                state.send_configures();
                let _ = done.send(());
            }
            ChannelEvent::Msg(Command::Windows(reply)) => {
                let _ = reply.send(state.info());
            }
            ChannelEvent::Msg(Command::Stop) | ChannelEvent::Closed => state.stop = true,
        })
        .map_err(|e| CompositorError::EventLoop(e.to_string()))?;

    let mut state = State {
        display: dh,
        compositor_state,
        shm_state,
        xdg_shell_state,
        seat_state,
        _output_manager: output_manager,
        shell: Shell::new(def, width, height),
        windows: Vec::new(),
        pending_frames: HashMap::new(),
        started: Instant::now(),
        frame: 0,
        stop: false,
    };
    while !state.stop {
        event_loop
            .dispatch(Some(Duration::from_millis(16)), &mut state)
            .map_err(|e| CompositorError::EventLoop(e.to_string()))?;
        let _ = state.display.flush_clients();
    }
    Ok(())
}
