//! A window's client side, whichever protocol it came by: an xdg toplevel, or an X11
//! window that Xwayland draws into a wl_surface. Also what holds the keyboard: a surface,
//! or an X11 window (which needs X input focus besides wl_keyboard.enter).

use std::borrow::Cow;

use smithay::backend::input::KeyState;
use smithay::input::Seat;
use smithay::input::keyboard::{KeyboardTarget, KeysymHandle, ModifiersState};
use smithay::reexports::wayland_server::Resource;
use smithay::reexports::wayland_server::backend::ObjectId;
use smithay::reexports::wayland_server::protocol::wl_surface::WlSurface;
use smithay::utils::{IsAlive, Serial};
use smithay::wayland::seat::WaylandFocus;
use smithay::wayland::shell::xdg::ToplevelSurface;
use smithay::xwayland::X11Surface;

use super::State;

/// The client side of a window.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Toplevel {
    Xdg(ToplevelSurface),
    /// An X11 window and its surface once known. Xwayland before 23.1 names the surface
    /// by protocol id (WL_SURFACE_ID), which smithay leaves to the compositor to look up.
    X11(X11Surface, Option<WlSurface>),
}

impl Toplevel {
    /// The surface it draws into; an X11 window has none until Xwayland associates one.
    pub fn wl_surface(&self) -> Option<WlSurface> {
        match self {
            Toplevel::Xdg(t) => Some(t.wl_surface().clone()),
            Toplevel::X11(x, found) => x.wl_surface().or_else(|| found.clone()),
        }
    }

    /// Whether `surface` is this window's surface.
    pub fn is(&self, surface: &WlSurface) -> bool {
        match self {
            Toplevel::Xdg(t) => t.wl_surface() == surface,
            Toplevel::X11(..) => self.wl_surface().as_ref() == Some(surface),
        }
    }

    /// Asks the client to close the window (xdg close, or WM_DELETE_WINDOW).
    pub fn close(&self) {
        match self {
            Toplevel::Xdg(t) => t.send_close(),
            Toplevel::X11(x, _) => {
                if let Err(e) = x.close() {
                    tracing::debug!("X11 window close: {e}");
                }
            }
        }
    }

    /// What the keyboard focuses to type into this window.
    pub fn focus(&self) -> Option<KeyboardFocus> {
        match self {
            Toplevel::Xdg(t) => Some(KeyboardFocus::Surface(t.wl_surface().clone())),
            Toplevel::X11(x, _) => self.wl_surface().map(|s| KeyboardFocus::X11(x.clone(), s)),
        }
    }
}

/// What has the keyboard: a surface, or an X11 window and its surface (X input focus
/// goes to the window, wl_keyboard.enter to the surface).
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // one per seat, changed on focus changes only
pub enum KeyboardFocus {
    Surface(WlSurface),
    X11(X11Surface, WlSurface),
}

impl IsAlive for KeyboardFocus {
    fn alive(&self) -> bool {
        match self {
            KeyboardFocus::Surface(s) => s.alive(),
            KeyboardFocus::X11(x, s) => x.alive() && s.alive(),
        }
    }
}

impl WaylandFocus for KeyboardFocus {
    fn wl_surface(&self) -> Option<Cow<'_, WlSurface>> {
        match self {
            KeyboardFocus::Surface(s) => Some(Cow::Borrowed(s)),
            KeyboardFocus::X11(_, s) => Some(Cow::Borrowed(s)),
        }
    }

    fn same_client_as(&self, object_id: &ObjectId) -> bool {
        self.wl_surface()
            .is_some_and(|s| s.id().same_client_as(object_id))
    }
}

impl KeyboardFocus {
    /// The surface the X11 window's own keyboard target does not reach: smithay's
    /// forwards wl_keyboard events only to surfaces associated the new way.
    fn unreached(&self) -> Option<&WlSurface> {
        match self {
            KeyboardFocus::Surface(s) => Some(s),
            KeyboardFocus::X11(x, s) => x.wl_surface().is_none().then_some(s),
        }
    }
}

impl KeyboardTarget<State> for KeyboardFocus {
    fn enter(
        &self,
        seat: &Seat<State>,
        data: &mut State,
        keys: Vec<KeysymHandle<'_>>,
        serial: Serial,
    ) {
        match (self, self.unreached()) {
            (KeyboardFocus::X11(x, _), None) => KeyboardTarget::enter(x, seat, data, keys, serial),
            (KeyboardFocus::X11(x, _), Some(s)) => {
                // X input focus only; the keys pressed go with wl_keyboard.enter.
                KeyboardTarget::enter(x, seat, data, Vec::new(), serial);
                KeyboardTarget::enter(s, seat, data, keys, serial);
            }
            (KeyboardFocus::Surface(s), _) => KeyboardTarget::enter(s, seat, data, keys, serial),
        }
    }

    fn leave(&self, seat: &Seat<State>, data: &mut State, serial: Serial) {
        if let KeyboardFocus::X11(x, _) = self {
            KeyboardTarget::leave(x, seat, data, serial);
        }
        if let Some(s) = self.unreached() {
            KeyboardTarget::leave(s, seat, data, serial);
        }
    }

    fn key(
        &self,
        seat: &Seat<State>,
        data: &mut State,
        key: KeysymHandle<'_>,
        state: KeyState,
        serial: Serial,
        time: u32,
    ) {
        match self.unreached() {
            Some(s) => KeyboardTarget::key(s, seat, data, key, state, serial, time),
            None => {
                if let KeyboardFocus::X11(x, _) = self {
                    KeyboardTarget::key(x, seat, data, key, state, serial, time);
                }
            }
        }
    }

    fn modifiers(
        &self,
        seat: &Seat<State>,
        data: &mut State,
        modifiers: ModifiersState,
        serial: Serial,
    ) {
        match self.unreached() {
            Some(s) => KeyboardTarget::modifiers(s, seat, data, modifiers, serial),
            None => {
                if let KeyboardFocus::X11(x, _) = self {
                    KeyboardTarget::modifiers(x, seat, data, modifiers, serial);
                }
            }
        }
    }
}
