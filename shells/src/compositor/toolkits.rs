//! Protocols the common toolkits (GTK, Qt, SDL, Chromium, foot) look for beyond the core:
//! primary selection (middle-click paste), xdg-activation (a window raised by another
//! app, or by a notification), cursor-shape-v1 and client cursor surfaces (drawn on a
//! screen), fractional-scale-v1 (the output's scale), idle-inhibit (video players keep
//! the screen from blanking), text-input-v3 and input-method-v2 (input methods: GTK, Qt and foot
//! speak v3; squeekboard and fcitx5 speak v2), text-input-v1, which weston-editor
//! needs before it opens at all, and security-context-v1 (sockets for sandboxed apps).

use std::collections::HashSet;
use std::time::Duration;

use smithay::input::pointer::CursorImageStatus;
use smithay::reexports::wayland_protocols::wp::text_input::zv1::server::{
    zwp_text_input_manager_v1::{self, ZwpTextInputManagerV1},
    zwp_text_input_v1::{self, ZwpTextInputV1},
};
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::reexports::wayland_server::{
    Client, DataInit, Dispatch, DisplayHandle, GlobalDispatch, New, Resource,
};
use smithay::utils::{Logical, Rectangle};
use smithay::wayland::compositor::with_states;
use smithay::wayland::cursor_shape::CursorShapeManagerState;
use smithay::wayland::fractional_scale::{
    FractionalScaleHandler, FractionalScaleManagerState, with_fractional_scale,
};
use smithay::wayland::idle_inhibit::{IdleInhibitHandler, IdleInhibitManagerState};
use smithay::wayland::input_method::{InputMethodHandler, InputMethodManagerState, PopupSurface};
use smithay::wayland::security_context::{
    SecurityContext, SecurityContextHandler, SecurityContextListenerSource, SecurityContextState,
};
use smithay::wayland::selection::primary_selection::{
    PrimarySelectionHandler, PrimarySelectionState,
};
use smithay::wayland::tablet_manager::TabletSeatHandler;
use smithay::wayland::text_input::TextInputManagerState;
use smithay::wayland::xdg_activation::{
    XdgActivationHandler, XdgActivationState, XdgActivationToken, XdgActivationTokenData,
};
use smithay::{
    delegate_cursor_shape, delegate_fractional_scale, delegate_idle_inhibit,
    delegate_input_method_manager, delegate_primary_selection, delegate_text_input_manager,
    delegate_xdg_activation,
};

use super::State;

/// How long an activation token may wait for its window (a slow app starting up).
const ACTIVATION_TOKEN_LIFE: Duration = Duration::from_secs(30);

/// The globals of this module and what clients told them.
pub(super) struct Toolkits {
    primary_selection: PrimarySelectionState,
    activation: XdgActivationState,
    _cursor_shape: CursorShapeManagerState,
    _fractional_scale: FractionalScaleManagerState,
    _idle_inhibit: IdleInhibitManagerState,
    _text_input: TextInputManagerState,
    _input_method: InputMethodManagerState,
    _security_context: SecurityContextState,
    /// Surfaces that keep the screen on while they are shown.
    pub inhibitors: HashSet<WlSurface>,
    /// The cursor the client under the pointer asked for.
    pub cursor: CursorImageStatus,
}

impl Toolkits {
    pub fn new(dh: &DisplayHandle) -> Self {
        dh.create_global::<State, ZwpTextInputManagerV1, ()>(1, ());
        Toolkits {
            primary_selection: PrimarySelectionState::new::<State>(dh),
            activation: XdgActivationState::new::<State>(dh),
            _cursor_shape: CursorShapeManagerState::new::<State>(dh),
            _fractional_scale: FractionalScaleManagerState::new::<State>(dh),
            _idle_inhibit: IdleInhibitManagerState::new::<State>(dh),
            _text_input: TextInputManagerState::new::<State>(dh),
            // An input method sees every key: not for sandboxed clients.
            _input_method: InputMethodManagerState::new::<State, _>(dh, |c| !super::sandboxed(c)),
            _security_context: SecurityContextState::new::<State, _>(dh, |c| !super::sandboxed(c)),
            inhibitors: HashSet::new(),
            cursor: CursorImageStatus::default_named(),
        }
    }
}

impl PrimarySelectionHandler for State {
    fn primary_selection_state(&self) -> &PrimarySelectionState {
        &self.toolkits.primary_selection
    }
}

impl XdgActivationHandler for State {
    fn activation_state(&mut self) -> &mut XdgActivationState {
        &mut self.toolkits.activation
    }

    /// Focus goes to the window if the token is fresh: an app launched from another (or a
    /// notification) comes to the front, old tokens cannot steal focus later.
    fn request_activation(
        &mut self,
        token: XdgActivationToken,
        data: XdgActivationTokenData,
        surface: WlSurface,
    ) {
        let fresh = data.timestamp.elapsed() < ACTIVATION_TOKEN_LIFE;
        self.toolkits.activation.remove_token(&token);
        if !fresh {
            tracing::debug!("activation token expired");
            return;
        }
        if let Some(id) = self.window_of(&surface).map(|w| w.id) {
            self.shell.focus(id);
            self.send_configures();
        }
    }
}

/// Cursor shapes asked for by tablet tools are not drawn apart from the pointer's.
impl TabletSeatHandler for State {}

/// A sandbox opened a socket for its app: clients connecting through it carry the
/// context (app id, engine), see no privileged globals, and their windows are marked.
impl SecurityContextHandler for State {
    fn context_created(&mut self, source: SecurityContextListenerSource, context: SecurityContext) {
        let inserted = self
            .loop_handle
            .insert_source(source, move |stream, _, state| {
                if let Err(e) = state.insert_client(stream, Some(context.clone())) {
                    tracing::warn!("cannot accept a sandboxed client: {e}");
                }
            });
        if let Err(e) = inserted {
            tracing::warn!("cannot listen for a sandbox: {}", e.error);
        }
    }
}

impl FractionalScaleHandler for State {
    fn new_fractional_scale(&mut self, surface: WlSurface) {
        let scale = self.scale as f64;
        with_states(&surface, |states| {
            with_fractional_scale(states, |fs| fs.set_preferred_scale(scale));
        });
    }
}

impl IdleInhibitHandler for State {
    fn inhibit(&mut self, surface: WlSurface) {
        self.toolkits.inhibitors.insert(surface);
    }

    fn uninhibit(&mut self, surface: WlSurface) {
        self.toolkits.inhibitors.remove(&surface);
    }
}

impl InputMethodHandler for State {
    fn new_popup(&mut self, _surface: PopupSurface) {
        self.dirty = true;
    }

    fn dismiss_popup(&mut self, _surface: PopupSurface) {
        self.dirty = true;
    }

    fn popup_repositioned(&mut self, _surface: PopupSurface) {
        self.dirty = true;
    }

    /// Where the window with the text field is, for placing the candidate popup.
    fn parent_geometry(&self, parent: &WlSurface) -> Rectangle<i32, Logical> {
        let id = self.window_of(parent).map(|w| w.id);
        self.shell
            .windows()
            .into_iter()
            .find(|v| Some(v.id) == id)
            .map(|v| {
                Rectangle::new(
                    (v.geometry.x, v.geometry.y).into(),
                    (v.geometry.width as i32, v.geometry.height as i32).into(),
                )
            })
            .unwrap_or_default()
    }
}

impl GlobalDispatch<ZwpTextInputManagerV1, ()> for State {
    fn bind(
        _state: &mut State,
        _dh: &DisplayHandle,
        _client: &Client,
        resource: New<ZwpTextInputManagerV1>,
        _data: &(),
        init: &mut DataInit<'_, State>,
    ) {
        init.init(resource, ());
    }
}

impl Dispatch<ZwpTextInputManagerV1, ()> for State {
    fn request(
        _state: &mut State,
        _client: &Client,
        _manager: &ZwpTextInputManagerV1,
        request: zwp_text_input_manager_v1::Request,
        _data: &(),
        _dh: &DisplayHandle,
        init: &mut DataInit<'_, State>,
    ) {
        if let zwp_text_input_manager_v1::Request::CreateTextInput { id } = request {
            init.init(id, ());
        }
    }
}

/// text-input-v1: a text field is entered when its client activates it on a surface of
/// its own; the text itself arrives as keys (weston-editor inserts what it is typed).
impl Dispatch<ZwpTextInputV1, ()> for State {
    fn request(
        _state: &mut State,
        client: &Client,
        text_input: &ZwpTextInputV1,
        request: zwp_text_input_v1::Request,
        _data: &(),
        _dh: &DisplayHandle,
        _init: &mut DataInit<'_, State>,
    ) {
        match request {
            zwp_text_input_v1::Request::Activate { surface, .. }
                if surface.client().is_some_and(|c| c.id() == client.id()) =>
            {
                text_input.enter(&surface);
            }
            zwp_text_input_v1::Request::Deactivate { .. } => text_input.leave(),
            _ => {}
        }
    }
}

delegate_primary_selection!(State);
delegate_xdg_activation!(State);
smithay::delegate_security_context!(State);
delegate_cursor_shape!(State);
delegate_fractional_scale!(State);
delegate_idle_inhibit!(State);
delegate_text_input_manager!(State);
delegate_input_method_manager!(State);
