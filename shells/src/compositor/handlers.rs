//! Protocol handlers: each Wayland request becomes a change to the shell policy, the scene
//! or the seat. wl_compositor and wl_subcompositor, wl_shm, xdg_shell (toplevels, popups
//! constrained to the output), xdg-decoration (negotiated: server side when the client
//! asks or leaves it to us, client side when it asks; clients without it draw their own),
//! wlr-layer-shell, wl_seat, wl_output and xdg-output, wl_data_device,
//! viewporter and presentation-time.

use smithay::desktop::{
    LayerSurface, PopupKind, WindowSurfaceType, find_popup_root_surface,
    get_popup_toplevel_coords, layer_map_for_output,
};
use smithay::input::pointer::CursorImageStatus;
use smithay::input::{Seat, SeatHandler, SeatState};
use smithay::reexports::wayland_protocols::xdg::decoration::zv1::server::zxdg_toplevel_decoration_v1::Mode as DecorationMode;
use smithay::reexports::wayland_server::Resource;
use smithay::reexports::wayland_server::protocol::{
    wl_buffer::WlBuffer, wl_output::WlOutput, wl_seat, wl_surface::WlSurface,
};
use smithay::utils::{Logical, Rectangle, Serial};
use smithay::wayland::buffer::BufferHandler;
use smithay::wayland::compositor::{
    CompositorClientState, CompositorHandler, CompositorState, with_states,
};
use smithay::wayland::output::OutputHandler;
use smithay::wayland::seat::WaylandFocus;
use smithay::wayland::selection::SelectionHandler;
use smithay::wayland::selection::primary_selection::set_primary_focus;
use smithay::wayland::selection::data_device::{
    ClientDndGrabHandler, DataDeviceHandler, DataDeviceState, ServerDndGrabHandler,
    set_data_device_focus,
};
use smithay::wayland::shell::wlr_layer::{
    Layer, LayerSurface as WlrLayerSurface, WlrLayerShellHandler, WlrLayerShellState,
};
use smithay::wayland::shell::xdg::decoration::XdgDecorationHandler;
use smithay::wayland::shell::xdg::{
    Configure, PopupSurface, PositionerState, ToplevelSurface, XdgShellHandler, XdgShellState,
    XdgToplevelSurfaceData,
};
use smithay::wayland::shm::{ShmHandler, ShmState};
use smithay::{
    delegate_compositor, delegate_data_device, delegate_layer_shell, delegate_output,
    delegate_presentation, delegate_seat, delegate_shm, delegate_viewporter,
    delegate_xdg_decoration,
};

use super::toplevel::{KeyboardFocus, Toplevel};
use super::{
    ClientState, Grab, MAX_BUFFERS_PER_CLIENT, MAX_SURFACES_PER_CLIENT, State, Tracked, scene,
};
use crate::policy::LayerKind;
use smithay::reexports::wayland_server::backend::protocol::{Interface, ProtocolError};
use smithay::reexports::wayland_server::{Client, DisplayHandle};
use std::sync::atomic::{AtomicUsize, Ordering};

impl CompositorHandler for State {
    fn compositor_state(&mut self) -> &mut CompositorState {
        &mut self.compositor_state
    }

    fn client_compositor_state<'a>(
        &self,
        client: &'a smithay::reexports::wayland_server::Client,
    ) -> &'a CompositorClientState {
        // Xwayland's connection is made by smithay, with smithay's client data.
        if let Some(xwayland) = client.get_data::<smithay::xwayland::XWaylandClientData>() {
            return &xwayland.compositor_state;
        }
        &client
            .get_data::<ClientState>()
            .expect("every client but Xwayland gets a ClientState")
            .compositor_state
    }

    fn commit(&mut self, surface: &WlSurface) {
        self.find_x11_surfaces();
        if let Some(Toplevel::Xdg(toplevel)) = self.window_of(surface).map(|w| &w.toplevel) {
            let (configured, initial_sent) = with_states(surface, |s| {
                s.data_map
                    .get::<XdgToplevelSurfaceData>()
                    .and_then(|d| {
                        d.lock()
                            .ok()
                            .map(|d| (d.configured, d.initial_configure_sent))
                    })
                    .unwrap_or((true, true))
            });
            if !configured && scene::has_new_buffer(surface) {
                // xdg_shell: a buffer before the first acknowledged configure is an error.
                toplevel.ensure_configured();
                return;
            }
            if !initial_sent {
                // The initial configure answers the first commit, with the shell's size.
                toplevel.send_configure();
            }
        }
        self.popups.commit(surface);
        if let Some(PopupKind::Xdg(popup)) = self.popups.find_popup(surface)
            && !popup.is_initial_configure_sent()
            && let Err(e) = popup.send_configure()
        {
            tracing::debug!("popup configure: {e}");
        }
        self.layer_commit(surface);
        let buffer = scene::commit(self, surface);
        self.transaction_commit(surface, buffer.is_some());
        let mut mapped = false;
        let mut fitted = None;
        if let Some(w) = self.window_for(surface) {
            if let Some(size) = buffer {
                mapped = w.buffer.is_none();
                w.buffer = Some(size);
            }
            fitted = Some((w.id, matches!(w.toplevel, Toplevel::Xdg(_))));
        }
        if let Some((id, xdg)) = fitted {
            // The shell shows the window at the size it drew, within the limits it set
            // (X11 windows set theirs in WM_NORMAL_HINTS).
            // Only a change re-lays out and configures: commits are the hot path.
            let said = scene::size_said(surface);
            let mut changed = xdg && self.shell.set_size_hints(id, said.min, said.max);
            if let Some((width, height)) = said.drawn {
                changed |= self.shell.set_content_size(id, width, height);
            }
            if changed {
                self.send_configures();
            }
        }
        if mapped {
            // Keyboard focus waits for the window's first buffer (see sync_keyboard_focus).
            self.sync_keyboard_focus();
        }
        self.dirty = true;
    }

    fn new_surface(&mut self, surface: &WlSurface) {
        hold_one_more(
            &self.display,
            surface.client(),
            |c| &c.surfaces,
            MAX_SURFACES_PER_CLIENT,
            "wl_surfaces",
        );
    }

    fn destroyed(&mut self, surface: &WlSurface) {
        scene::forget(self, surface);
        self.pending_frames.remove(surface);
        hold_one_less(surface.client(), |c| &c.surfaces);
    }
}

/// Counts one more object of `client` in the counter `held` picks; past `limit` the client is
/// ended with `no_memory`. Clients without our data (Xwayland's connection) are not counted.
fn hold_one_more(
    display: &DisplayHandle,
    client: Option<Client>,
    held: fn(&ClientState) -> &AtomicUsize,
    limit: usize,
    what: &str,
) {
    let Some(client) = client else {
        return;
    };
    let Some(data) = client.get_data::<ClientState>() else {
        return;
    };
    if held(data).fetch_add(1, Ordering::Relaxed) + 1 > limit {
        tracing::warn!("a client asked for more than {limit} {what}: disconnected");
        post_no_memory(
            display,
            &client,
            &format!("more than {limit} {what} at once; destroy those you no longer use"),
        );
    }
}

/// Counts one object of `client` fewer (on disconnection the client, and its count, is gone).
fn hold_one_less(client: Option<Client>, held: fn(&ClientState) -> &AtomicUsize) {
    if let Some(data) = client.as_ref().and_then(|c| c.get_data::<ClientState>()) {
        let _ = held(data).fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }
}

/// Ends `client`'s connection with `wl_display.error` `no_memory`, as libwayland's
/// `wl_client_post_no_memory` does (wayland-server has no `wl_display` resource type, so its
/// object is found by protocol id 1 and interface name).
fn post_no_memory(display: &DisplayHandle, client: &Client, message: &str) {
    static WL_DISPLAY: Interface = Interface {
        name: "wl_display",
        version: 1,
        requests: &[],
        events: &[],
        c_ptr: None,
    };
    const NO_MEMORY: u32 = 2;
    let backend = display.backend_handle();
    match backend.object_for_protocol_id(client.id(), &WL_DISPLAY, 1) {
        Ok(id) => backend.post_error(
            id,
            NO_MEMORY,
            std::ffi::CString::new(message).unwrap_or_default(),
        ),
        Err(_) => client.kill(
            display,
            ProtocolError {
                code: NO_MEMORY,
                object_id: 1,
                object_interface: "wl_display".into(),
                message: message.into(),
            },
        ),
    }
}

impl State {
    /// Arranges layer surfaces after one of them committed; the space they reserve
    /// (exclusive zones) is taken from the shell's output.
    fn layer_commit(&mut self, surface: &WlSurface) {
        let mut map = layer_map_for_output(&self.output);
        let Some(layer) = map
            .layer_for_surface(surface, WindowSurfaceType::TOPLEVEL)
            .cloned()
        else {
            return;
        };
        map.arrange();
        let initial_sent = with_states(surface, |s| {
            s.data_map
                .get::<smithay::wayland::shell::wlr_layer::LayerSurfaceData>()
                .and_then(|d| d.lock().ok().map(|d| d.initial_configure_sent))
                .unwrap_or(true)
        });
        drop(map);
        if !initial_sent {
            layer.layer_surface().send_configure();
        }
        self.reserve_for_layers();
    }

    /// Tells the shell where the layer surfaces are and what their exclusive zones leave
    /// free.
    pub(super) fn reserve_for_layers(&mut self) {
        let map = layer_map_for_output(&self.output);
        let placed: Vec<(WlSurface, Rectangle<i32, Logical>)> = map
            .layers()
            .filter_map(|l| Some((l.wl_surface().clone(), map.layer_geometry(l)?)))
            .collect();
        let zone = map.non_exclusive_zone();
        drop(map);
        for (surface, g) in placed {
            if let Some(id) = self.layer_ids.get(&surface) {
                self.shell.place_layer(*id, rect_of(g));
            }
        }
        self.shell.reserve(crate::policy::Rect {
            x: zone.loc.x,
            y: zone.loc.y,
            width: zone.size.w.max(1) as u32,
            height: zone.size.h.max(1) as u32,
        });
        self.send_configures();
    }

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
        if let Some(w) = self.window_of(surface.wl_surface()) {
            self.shell.set_names(w.id, &app_id, &title);
            self.dirty = true;
        }
    }

    /// Where the output is, for constraining popups.
    fn output_rect(&self) -> Rectangle<i32, Logical> {
        Rectangle::new(
            (0, 0).into(),
            (self.size.0 as i32, self.size.1 as i32).into(),
        )
    }

    /// The window a popup (or a popup of its popups) belongs to; `None` for popups of
    /// layer surfaces.
    fn popup_window(&self, popup: &PopupSurface) -> Option<crate::policy::WindowId> {
        let root = find_popup_root_surface(&PopupKind::Xdg(popup.clone())).ok()?;
        self.window_of(&root).map(|w| w.id)
    }

    /// Places a popup so it stays on the output (xdg_positioner's constraint rules).
    fn constrain_popup(&self, popup: &PopupSurface) {
        let Some(window) = self.popup_window(popup) else {
            return;
        };
        let Some(view) = self.shell.view(window) else {
            return;
        };
        // The popup's parent origin in output coordinates.
        let parent = (view.geometry.x, view.geometry.y);
        let offset = get_popup_toplevel_coords(&PopupKind::Xdg(popup.clone()));
        let mut target = self.output_rect();
        target.loc.x = target
            .loc
            .x
            .saturating_sub(parent.0.saturating_add(offset.x));
        target.loc.y = target
            .loc
            .y
            .saturating_sub(parent.1.saturating_add(offset.y));
        popup.with_pending_state(|state| {
            state.geometry = state.positioner.get_unconstrained_geometry(target);
        });
    }
}

fn rect_of(r: Rectangle<i32, Logical>) -> crate::policy::Rect {
    crate::policy::Rect {
        x: r.loc.x,
        y: r.loc.y,
        width: r.size.w.max(0) as u32,
        height: r.size.h.max(0) as u32,
    }
}

impl State {
    /// Records a new popup of a window in the policy.
    fn popup_opened(&mut self, popup: &PopupSurface) {
        let Some(window) = self.popup_window(popup) else {
            return; // a popup of a layer surface: not a window's
        };
        let geometry = popup.with_pending_state(|s| s.geometry);
        if let Some(id) = self.shell.add_popup(window, rect_of(geometry)) {
            self.popup_ids.insert(popup.wl_surface().clone(), id);
        }
    }
}

impl BufferHandler for State {
    fn buffer_destroyed(&mut self, buffer: &WlBuffer) {
        hold_one_less(buffer.client(), |c| &c.buffers);
    }
}

impl ShmHandler for State {
    fn shm_state(&self) -> &ShmState {
        &self.shm_state
    }

    fn buffer_created(&mut self, buffer: &WlBuffer) {
        hold_one_more(
            &self.display,
            buffer.client(),
            |c| &c.buffers,
            MAX_BUFFERS_PER_CLIENT,
            "wl_buffers",
        );
    }
}

impl XdgShellHandler for State {
    fn xdg_shell_state(&mut self) -> &mut XdgShellState {
        &mut self.xdg_shell_state
    }

    fn new_toplevel(&mut self, surface: ToplevelSurface) {
        let id = self.shell.add_window("", "");
        self.windows
            .insert(id, Tracked::new(Toplevel::Xdg(surface), id));
        self.send_configures();
    }

    fn new_popup(&mut self, surface: PopupSurface, positioner: PositionerState) {
        // Where the positioner puts it; constrained below when its parent is a window.
        surface.with_pending_state(|state| {
            state.geometry = positioner.get_geometry();
            state.positioner = positioner;
        });
        self.constrain_popup(&surface);
        self.popup_opened(&surface);
        if let Err(e) = self.popups.track_popup(PopupKind::Xdg(surface)) {
            tracing::debug!("popup already gone: {e:?}");
        }
    }

    fn grab(&mut self, surface: PopupSurface, _seat: wl_seat::WlSeat, _serial: Serial) {
        // A menu: a press outside its client's surfaces dismisses it (input.rs).
        self.grabbing_popups.push(surface);
    }

    fn reposition_request(
        &mut self,
        surface: PopupSurface,
        positioner: PositionerState,
        token: u32,
    ) {
        surface.with_pending_state(|state| state.positioner = positioner);
        self.constrain_popup(&surface);
        if let Some(id) = self.popup_ids.get(surface.wl_surface()) {
            let geometry = surface.with_pending_state(|s| s.geometry);
            self.shell.move_popup(*id, rect_of(geometry));
        }
        surface.send_repositioned(token);
        self.dirty = true;
    }

    fn maximize_request(&mut self, surface: ToplevelSurface) {
        self.state_request(&surface, |shell, id| shell.request_maximized(id, true));
    }

    fn unmaximize_request(&mut self, surface: ToplevelSurface) {
        self.state_request(&surface, |shell, id| shell.request_maximized(id, false));
    }

    fn minimize_request(&mut self, surface: ToplevelSurface) {
        self.state_request(&surface, |shell, id| shell.minimize(id));
    }

    fn fullscreen_request(&mut self, surface: ToplevelSurface, _output: Option<WlOutput>) {
        self.state_request(&surface, |shell, id| shell.request_fullscreen(id, true));
    }

    fn unfullscreen_request(&mut self, surface: ToplevelSurface) {
        self.state_request(&surface, |shell, id| shell.request_fullscreen(id, false));
    }

    fn move_request(&mut self, surface: ToplevelSurface, _seat: wl_seat::WlSeat, serial: Serial) {
        self.start_grab(&surface, false, serial);
    }

    fn resize_request(
        &mut self,
        surface: ToplevelSurface,
        _seat: wl_seat::WlSeat,
        serial: Serial,
        _edges: smithay::reexports::wayland_protocols::xdg::shell::server::xdg_toplevel::ResizeEdge,
    ) {
        self.start_grab(&surface, true, serial);
    }

    fn toplevel_destroyed(&mut self, surface: ToplevelSurface) {
        let toplevel = Toplevel::Xdg(surface);
        if let Some(id) = self
            .windows
            .values()
            .find(|w| w.toplevel == toplevel)
            .map(|w| w.id)
        {
            self.windows.remove(&id);
            self.window_closed(id);
        }
    }

    fn ack_configure(&mut self, surface: WlSurface, configure: Configure) {
        let Configure::Toplevel(c) = configure else {
            return;
        };
        if let Some(w) = self.window_for(&surface)
            && w.swap_serial.is_some_and(|s| c.serial.is_no_older_than(&s))
        {
            w.swap_acked = true;
        }
    }

    fn popup_destroyed(&mut self, surface: PopupSurface) {
        self.grabbing_popups.retain(|p| p != &surface);
        if let Some(id) = self.popup_ids.remove(surface.wl_surface()) {
            self.shell.close_popup(id);
        }
        self.dirty = true;
    }

    fn title_changed(&mut self, surface: ToplevelSurface) {
        self.names_changed(&surface);
    }

    fn app_id_changed(&mut self, surface: ToplevelSurface) {
        self.names_changed(&surface);
    }
}

impl State {
    /// A client asked for a state; the shell decides, and the client always gets a
    /// configure in answer (the same one if nothing changed).
    fn state_request(
        &mut self,
        surface: &ToplevelSurface,
        change: impl FnOnce(&mut crate::policy::Shell, crate::policy::WindowId) -> bool,
    ) {
        let Some(id) = self.window_of(surface.wl_surface()).map(|w| w.id) else {
            return;
        };
        change(&mut self.shell, id);
        let sent = self.send_configures();
        if !sent.iter().any(|(s, _)| *s == id) && surface.is_initial_configure_sent() {
            surface.send_configure();
        }
    }

    /// A client asked to be moved or resized (client-side decorations): the pointer drags
    /// it from where it is now, in shells that let windows float. Only while the button
    /// press with that serial is still held: a client cannot take the pointer at will.
    fn start_grab(&mut self, surface: &ToplevelSurface, resize: bool, serial: Serial) {
        let Some(w) = self.window_of(surface.wl_surface()) else {
            return;
        };
        if self.shell.active().layout != crate::definition::Layout::Floating {
            return;
        }
        let Some(view) = self.shell.view(w.id) else {
            return;
        };
        let Some(pointer) = self.seat.get_pointer() else {
            return;
        };
        if !pointer.has_grab(serial) {
            return;
        }
        let at = pointer.current_location();
        let (window, start, origin) = (w.id, (at.x, at.y), view.geometry);
        self.grab_from_client = true;
        self.grab = Some(if resize {
            Grab::Resize {
                window,
                start,
                origin,
            }
        } else {
            Grab::Move {
                window,
                start,
                origin,
            }
        });
    }
}

impl State {
    /// Decorations as negotiated: the mode a client asks for, server side when it leaves
    /// the choice to us (as KDE and niri do). Clients without xdg-decoration draw their own.
    fn set_decoration(&mut self, toplevel: &ToplevelSurface, mode: DecorationMode) {
        toplevel.with_pending_state(|s| s.decoration_mode = Some(mode));
        let id = self.window_of(toplevel.wl_surface()).map(|w| w.id);
        if let Some(id) = id {
            self.shell
                .set_server_side(id, mode == DecorationMode::ServerSide);
        }
        let sent = self.send_configures();
        // The mode travels in a configure: send one if the new layout did not.
        if toplevel.is_initial_configure_sent() && !sent.iter().any(|(s, _)| Some(*s) == id) {
            toplevel.send_pending_configure();
        }
    }
}

impl XdgDecorationHandler for State {
    fn new_decoration(&mut self, toplevel: ToplevelSurface) {
        self.set_decoration(&toplevel, DecorationMode::ServerSide);
    }

    fn request_mode(&mut self, toplevel: ToplevelSurface, mode: DecorationMode) {
        self.set_decoration(&toplevel, mode);
    }

    fn unset_mode(&mut self, toplevel: ToplevelSurface) {
        self.set_decoration(&toplevel, DecorationMode::ServerSide);
    }
}

impl WlrLayerShellHandler for State {
    fn shell_state(&mut self) -> &mut WlrLayerShellState {
        &mut self.layer_shell_state
    }

    fn new_layer_surface(
        &mut self,
        surface: WlrLayerSurface,
        _output: Option<WlOutput>,
        layer: Layer,
        namespace: String,
    ) {
        let kind = match layer {
            Layer::Background => LayerKind::Background,
            Layer::Bottom => LayerKind::Bottom,
            Layer::Top => LayerKind::Top,
            Layer::Overlay => LayerKind::Overlay,
        };
        let id = self.shell.add_layer(kind, &namespace);
        self.layer_ids.insert(surface.wl_surface().clone(), id);
        let layer = LayerSurface::new(surface, namespace);
        if let Err(e) = layer_map_for_output(&self.output).map_layer(&layer) {
            tracing::warn!("cannot map a layer surface: {e}");
        }
    }

    fn new_popup(&mut self, _parent: WlrLayerSurface, _popup: PopupSurface) {
        // Already tracked by XdgShellHandler::new_popup, placed where its positioner says.
    }

    fn layer_destroyed(&mut self, surface: WlrLayerSurface) {
        if let Some(id) = self.layer_ids.remove(surface.wl_surface()) {
            self.shell.close_layer(id);
        }
        let mut map = layer_map_for_output(&self.output);
        let layer = map
            .layers()
            .find(|l| l.layer_surface() == &surface)
            .cloned();
        if let Some(layer) = layer {
            map.unmap_layer(&layer);
        }
        map.arrange();
        drop(map);
        self.reserve_for_layers();
    }
}

impl SeatHandler for State {
    type KeyboardFocus = KeyboardFocus;
    type PointerFocus = WlSurface;
    type TouchFocus = WlSurface;

    fn seat_state(&mut self) -> &mut SeatState<State> {
        &mut self.seat_state
    }

    fn focus_changed(&mut self, seat: &Seat<Self>, focused: Option<&KeyboardFocus>) {
        // The clipboard follows the keyboard.
        let surface = focused.and_then(|f| f.wl_surface().map(|s| s.into_owned()));
        let client = surface.and_then(|s| self.display.get_client(s.id()).ok());
        set_data_device_focus(&self.display, seat, client.clone());
        set_primary_focus(&self.display, seat, client);
    }

    fn cursor_image(&mut self, _seat: &Seat<Self>, image: CursorImageStatus) {
        self.toolkits.cursor = image;
        self.dirty = true;
    }
}

impl SelectionHandler for State {
    type SelectionUserData = ();
}

impl DataDeviceHandler for State {
    fn data_device_state(&self) -> &DataDeviceState {
        &self.data_device_state
    }
}

impl ClientDndGrabHandler for State {}
impl ServerDndGrabHandler for State {}

impl OutputHandler for State {}

delegate_compositor!(State);
delegate_shm!(State);
// delegate_xdg_shell! without its global: `quirks.rs` dispatches the xdg_wm_base globals.
mod xdg_shell_dispatch {
    use smithay::reexports::wayland_protocols::xdg::shell::server::{
        xdg_popup::XdgPopup, xdg_positioner::XdgPositioner, xdg_surface::XdgSurface,
        xdg_toplevel::XdgToplevel, xdg_wm_base::XdgWmBase,
    };
    use smithay::reexports::wayland_server::delegate_dispatch;
    use smithay::wayland::shell::xdg::{
        XdgPositionerUserData, XdgShellState, XdgShellSurfaceUserData, XdgSurfaceUserData,
        XdgWmBaseUserData,
    };

    use super::State;

    delegate_dispatch!(State: [XdgWmBase: XdgWmBaseUserData] => XdgShellState);
    delegate_dispatch!(State: [XdgPositioner: XdgPositionerUserData] => XdgShellState);
    delegate_dispatch!(State: [XdgPopup: XdgShellSurfaceUserData] => XdgShellState);
    delegate_dispatch!(State: [XdgSurface: XdgSurfaceUserData] => XdgShellState);
    delegate_dispatch!(State: [XdgToplevel: XdgShellSurfaceUserData] => XdgShellState);
}
delegate_xdg_decoration!(State);
delegate_layer_shell!(State);
delegate_seat!(State);
delegate_data_device!(State);
delegate_output!(State);
delegate_viewporter!(State);
delegate_presentation!(State);
