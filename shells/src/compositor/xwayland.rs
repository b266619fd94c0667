//! Legacy X11 apps through Xwayland (smithay's `xwayland`), started on demand: the
//! compositor holds an X display from the start (apps get its `DISPLAY`), starts
//! Xwayland when the first X client connects, and holds the display again once Xwayland
//! exits with its last client. It is Xwayland's window manager (`X11Wm`) and turns every
//! managed X11 window into a window of the shell, laid out, decorated, focused and
//! swapped like any Wayland window. Override-redirect windows (menus, tooltips) are
//! drawn where X puts them, above the windows.

use std::process::Stdio;

use smithay::reexports::calloop::generic::Generic;
use smithay::reexports::calloop::{Interest, LoopHandle, Mode, PostAction, RegistrationToken};
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::reexports::wayland_server::{Client, DisplayHandle};
use smithay::utils::{Logical, Rectangle};
use smithay::wayland::xwayland_shell::{XWaylandShellHandler, XWaylandShellState};
use smithay::xwayland::xwm::{Reorder, ResizeEdge, WmWindowProperty, XwmId};
use smithay::xwayland::{X11Surface, X11Wm, XWayland, XWaylandEvent, XwmHandler};

use super::toplevel::Toplevel;
use super::x11_display::{self, Reservation};
use super::{State, Tracked};

/// The X display of the shell and, while X clients run, its Xwayland.
pub(super) struct Xserver {
    /// `DISPLAY=:N` for apps; the same for every Xwayland this compositor starts.
    pub display: u32,
    server: Server,
    _shell: XWaylandShellState,
    /// Mapped override-redirect windows, oldest first.
    pub overrides: Vec<X11Surface>,
}

enum Server {
    /// No X client yet: the compositor holds the display and watches its sockets.
    Waiting {
        reservation: Reservation,
        sources: Vec<RegistrationToken>,
        /// A client is waiting on the sockets: start Xwayland after this dispatch.
        knocked: bool,
    },
    /// Xwayland runs; its window manager once it said it is ready.
    Running {
        /// Xwayland's Wayland connection.
        client: Client,
        source: RegistrationToken,
        wm: Option<Box<X11Wm>>,
    },
    /// The display could not be held again or Xwayland did not start: X apps fail.
    Gone,
}

/// Holds a free X display; Xwayland starts when an X client connects to it.
pub(super) fn start(
    handle: &LoopHandle<'static, State>,
    dh: &DisplayHandle,
) -> Result<Xserver, String> {
    if !crate::autostart::xwayland_installed() {
        return Err(
            "cannot start Xwayland: it is not on PATH (install the xwayland package)".into(),
        );
    }
    let reservation = Reservation::first_free()?;
    let display = reservation.display;
    Ok(Xserver {
        display,
        server: wait(handle, reservation)?,
        _shell: XWaylandShellState::new::<State>(dh),
        overrides: Vec::new(),
    })
}

/// Watches the held display's sockets for the first client.
fn wait(handle: &LoopHandle<'static, State>, reservation: Reservation) -> Result<Server, String> {
    let mut sources = Vec::new();
    for listener in &reservation.listeners {
        let watched = listener
            .try_clone()
            .map_err(|e| format!("cannot watch the X display: {e}"))?;
        let token = handle
            .insert_source(
                Generic::new(watched, Interest::READ, Mode::Level),
                |_, _, state| {
                    if let Some(Xserver {
                        server: Server::Waiting { knocked, .. },
                        ..
                    }) = &mut state.xserver
                    {
                        *knocked = true;
                    }
                    Ok(PostAction::Disable)
                },
            )
            .map_err(|e| format!("cannot watch the X display: {}", e.error))?;
        sources.push(token);
    }
    Ok(Server::Waiting {
        reservation,
        sources,
        knocked: false,
    })
}

impl State {
    /// After each dispatch: starts Xwayland for the clients waiting on the display.
    pub(super) fn start_xwayland_when_asked(&mut self) {
        let Some(x) = &mut self.xserver else {
            return;
        };
        if !matches!(x.server, Server::Waiting { knocked: true, .. }) {
            return;
        }
        let Server::Waiting {
            reservation,
            sources,
            ..
        } = std::mem::replace(&mut x.server, Server::Gone)
        else {
            unreachable!("checked above");
        };
        for token in sources {
            self.loop_handle.remove(token);
        }
        let number = x.display;
        let waiting = reservation.hand_over();
        match spawn(&self.loop_handle, &self.display, number) {
            Ok(server) => {
                x.server = server;
                tracing::info!(
                    "Xwayland started on DISPLAY=:{} for {} waiting client(s)",
                    number,
                    waiting.len()
                );
                for client in waiting {
                    if let Err(e) = x11_display::relay(client, number) {
                        tracing::warn!("cannot pass an X client on to Xwayland: {e}");
                    }
                }
            }
            Err(e) => tracing::warn!("{e}; X11 apps cannot start"),
        }
    }

    /// Xwayland exited (after its last client, or failing): its windows go, and the
    /// display is held again for the next X client.
    fn xwayland_stopped(&mut self) {
        let Some(x) = &mut self.xserver else {
            return;
        };
        if let Server::Running { source, .. } = std::mem::replace(&mut x.server, Server::Gone) {
            self.loop_handle.remove(source);
        }
        x.overrides.clear();
        let number = x.display;
        match Reservation::again(number).and_then(|r| wait(&self.loop_handle, r)) {
            Ok(waiting) => {
                x.server = waiting;
                tracing::info!(
                    "Xwayland exited; DISPLAY=:{} waits for the next X client",
                    number
                );
            }
            Err(e) => tracing::warn!("{e}; X11 apps cannot start again"),
        }
        let gone: Vec<_> = self
            .windows
            .values()
            .filter(|w| matches!(w.toplevel, Toplevel::X11(..)))
            .map(|w| w.id)
            .collect();
        for id in gone {
            self.windows.remove(&id);
            self.window_closed(id);
        }
        self.dirty = true;
    }
}

/// Starts Xwayland on `display` (free now) and its window manager once it is ready.
fn spawn(
    handle: &LoopHandle<'static, State>,
    dh: &DisplayHandle,
    number: u32,
) -> Result<Server, String> {
    let (xwayland, client) = XWayland::spawn(
        dh,
        Some(number),
        std::iter::empty::<(String, String)>(),
        true,
        Stdio::null(),
        Stdio::null(),
        |_| (),
    )
    .map_err(|e| format!("cannot start Xwayland on :{number}: {e}"))?;
    let for_wm = client.clone();
    let wm_handle = handle.clone();
    let source = handle
        .insert_source(xwayland, move |event, _, state| match event {
            XWaylandEvent::Ready { x11_socket, .. } => {
                match X11Wm::start_wm(wm_handle.clone(), x11_socket, for_wm.clone()) {
                    Ok(wm) => {
                        if let Some(Xserver {
                            server: Server::Running { wm: slot, .. },
                            ..
                        }) = &mut state.xserver
                        {
                            *slot = Some(Box::new(wm));
                        }
                        tracing::info!("Xwayland ready on DISPLAY=:{}", number);
                    }
                    Err(e) => tracing::warn!("cannot manage Xwayland's windows: {e}"),
                }
            }
            XWaylandEvent::Error => {
                tracing::warn!("Xwayland stopped or failed to start");
                state.xwayland_stopped();
            }
        })
        .map_err(|e| format!("cannot watch Xwayland: {}", e.error))?;
    Ok(Server::Running {
        client,
        source,
        wm: None,
    })
}

impl Xserver {
    /// Removes its sources from the loop. Their callbacks hold loop handles, so the loop never
    /// drops them by itself; removed, smithay's Xwayland (and its lock file and sockets in
    /// /tmp) or the held display's reservation go with them.
    pub(super) fn stop(&mut self, handle: &LoopHandle<'static, State>) {
        match std::mem::replace(&mut self.server, Server::Gone) {
            Server::Running { source, .. } => handle.remove(source),
            Server::Waiting { sources, .. } => {
                for source in sources {
                    handle.remove(source);
                }
            }
            Server::Gone => {}
        }
    }

    fn wm(&mut self) -> Option<&mut X11Wm> {
        match &mut self.server {
            Server::Running { wm, .. } => wm.as_deref_mut(),
            _ => None,
        }
    }
}

impl State {
    fn x11_window(&self, window: &X11Surface) -> Option<&Tracked> {
        self.windows
            .values()
            .find(|w| matches!(&w.toplevel, Toplevel::X11(x, _) if x == window))
    }

    /// Finds the surfaces of X11 windows that Xwayland named by protocol id (before 23.1
    /// it has no xwayland-shell); a window is mapped once its surface has a buffer.
    pub(super) fn find_x11_surfaces(&mut self) {
        let Some(Xserver {
            server: Server::Running { client, .. },
            ..
        }) = &self.xserver
        else {
            return;
        };
        let mut found = false;
        for w in self.windows.values_mut() {
            let Toplevel::X11(window, surface @ None) = &mut w.toplevel else {
                continue;
            };
            if window.wl_surface().is_some() {
                continue;
            }
            #[allow(deprecated)] // the only way with Xwayland 22 (Debian bookworm)
            let Some(id) = window.wl_surface_id() else {
                continue;
            };
            if let Ok(s) = client.object_from_protocol_id::<WlSurface>(&self.display, id) {
                if w.buffer.is_none() {
                    w.buffer = super::scene::size_said(&s)
                        .drawn
                        .map(|(w, h)| (w as i32, h as i32));
                }
                *surface = Some(s);
                found = true;
            }
        }
        if found {
            self.dirty = true;
            self.sync_keyboard_focus();
        }
    }

    /// Sizes, names and decorations from an X11 window's properties.
    fn x11_properties(&mut self, window: &X11Surface) {
        let Some(id) = self.x11_window(window).map(|w| w.id) else {
            return;
        };
        let pair = |s: Option<smithay::utils::Size<i32, Logical>>| {
            s.map(|s| (s.w.max(0) as u32, s.h.max(0) as u32))
                .unwrap_or((0, 0))
        };
        self.shell
            .set_size_hints(id, pair(window.min_size()), pair(window.max_size()));
        self.shell.set_names(id, &window.class(), &window.title());
        // Motif hints that turn decorations off mean the client draws its own.
        self.shell.set_server_side(id, !window.is_decorated());
        self.send_configures();
    }

    /// Removes an X11 window (managed or override-redirect) that went away.
    fn x11_gone(&mut self, window: &X11Surface) {
        if let Some(x) = &mut self.xserver {
            x.overrides.retain(|o| o != window);
        }
        if let Some(id) = self.x11_window(window).map(|w| w.id) {
            self.windows.remove(&id);
            self.window_closed(id);
        }
        self.dirty = true;
    }

    /// X11 windows go where the shell shows them, at the size they were configured with:
    /// X places input by the window's position, so it must match the screen.
    pub(super) fn place_x11_windows(&mut self) {
        for w in self.windows.values() {
            let Toplevel::X11(x, _) = &w.toplevel else {
                continue;
            };
            let (Some(view), Some((width, height, states))) =
                (self.shell.view(w.id), self.shell.last_configure(w.id))
            else {
                continue;
            };
            let rect = Rectangle::new(
                (view.geometry.x, view.geometry.y).into(),
                (width as i32, height as i32).into(),
            );
            if x.geometry() != rect
                && let Err(e) = x.configure(rect)
            {
                tracing::debug!("X11 configure: {e}");
            }
            // smithay writes _NET_WM_STATE only when one of these changed.
            let _ = x.set_activated(states.activated);
            let _ = x.set_maximized(states.maximized);
            let _ = x.set_fullscreen(states.fullscreen);
        }
    }
}

impl XWaylandShellHandler for State {
    fn xwayland_shell_state(&mut self) -> &mut XWaylandShellState {
        &mut self
            .xserver
            .as_mut()
            .expect("xwayland_shell is only created with an X server")
            ._shell
    }
}

impl XwmHandler for State {
    fn xwm_state(&mut self, _xwm: XwmId) -> &mut X11Wm {
        self.xserver
            .as_mut()
            .and_then(Xserver::wm)
            .expect("X11 events come only after the window manager started")
    }

    fn new_window(&mut self, _xwm: XwmId, _window: X11Surface) {}

    fn new_override_redirect_window(&mut self, _xwm: XwmId, _window: X11Surface) {}

    /// A client maps a window: it becomes a window of the shell, placed by the layout.
    fn map_window_request(&mut self, _xwm: XwmId, window: X11Surface) {
        if let Err(e) = window.set_mapped(true) {
            tracing::debug!("X11 map: {e}");
            return;
        }
        if self.x11_window(&window).is_some() {
            return;
        }
        let id = self.shell.add_window(&window.class(), &window.title());
        self.windows
            .insert(id, Tracked::new(Toplevel::X11(window.clone(), None), id));
        self.find_x11_surfaces();
        if let Some(wm) = self.xserver.as_mut().and_then(Xserver::wm) {
            let _ = wm.raise_window(&window);
        }
        self.x11_properties(&window);
    }

    fn mapped_override_redirect_window(&mut self, _xwm: XwmId, window: X11Surface) {
        if let Some(x) = &mut self.xserver {
            x.overrides.push(window);
        }
        self.dirty = true;
    }

    fn unmapped_window(&mut self, _xwm: XwmId, window: X11Surface) {
        if !window.is_override_redirect() {
            let _ = window.set_mapped(false);
        }
        self.x11_gone(&window);
    }

    fn destroyed_window(&mut self, _xwm: XwmId, window: X11Surface) {
        self.x11_gone(&window);
    }

    /// Managed windows stay where the shell put them (it answers with their geometry);
    /// windows not yet mapped get what they ask for.
    fn configure_request(
        &mut self,
        _xwm: XwmId,
        window: X11Surface,
        x: Option<i32>,
        y: Option<i32>,
        w: Option<u32>,
        h: Option<u32>,
        _reorder: Option<Reorder>,
    ) {
        if self.x11_window(&window).is_some() {
            let geometry = window.geometry();
            let _ = window.configure(geometry);
            return;
        }
        let mut g = window.geometry();
        if let Some(x) = x {
            g.loc.x = x;
        }
        if let Some(y) = y {
            g.loc.y = y;
        }
        if let Some(w) = w {
            g.size.w = w as i32;
        }
        if let Some(h) = h {
            g.size.h = h as i32;
        }
        let _ = window.configure(g);
    }

    fn configure_notify(
        &mut self,
        _xwm: XwmId,
        _window: X11Surface,
        _geometry: Rectangle<i32, Logical>,
        _above: Option<u32>,
    ) {
        self.dirty = true;
    }

    fn property_notify(&mut self, _xwm: XwmId, window: X11Surface, _property: WmWindowProperty) {
        self.x11_properties(&window);
    }

    fn maximize_request(&mut self, _xwm: XwmId, window: X11Surface) {
        self.x11_request(&window, |shell, id| shell.request_maximized(id, true));
    }

    fn unmaximize_request(&mut self, _xwm: XwmId, window: X11Surface) {
        self.x11_request(&window, |shell, id| shell.request_maximized(id, false));
    }

    fn fullscreen_request(&mut self, _xwm: XwmId, window: X11Surface) {
        self.x11_request(&window, |shell, id| shell.request_fullscreen(id, true));
    }

    fn unfullscreen_request(&mut self, _xwm: XwmId, window: X11Surface) {
        self.x11_request(&window, |shell, id| shell.request_fullscreen(id, false));
    }

    // Moves and resizes come from the shell's title bars and corners (X11 windows are
    // decorated by the shell), not from the client.
    fn resize_request(
        &mut self,
        _xwm: XwmId,
        _window: X11Surface,
        _button: u32,
        _edge: ResizeEdge,
    ) {
    }

    fn move_request(&mut self, _xwm: XwmId, _window: X11Surface, _button: u32) {}

    /// The window manager's connection closed: Xwayland exited.
    fn disconnected(&mut self, _xwm: XwmId) {
        self.xwayland_stopped();
    }
}

impl State {
    fn x11_request(
        &mut self,
        window: &X11Surface,
        change: impl FnOnce(&mut crate::policy::Shell, crate::policy::WindowId) -> bool,
    ) {
        if let Some(id) = self.x11_window(window).map(|w| w.id) {
            change(&mut self.shell, id);
            self.send_configures();
        }
    }
}

smithay::delegate_xwayland_shell!(State);
