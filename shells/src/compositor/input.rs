//! Input: keys, pointer and touch from the host window (nested) or a controller
//! (headless), in output coordinates. Shell bindings are handled here (Alt+Tab, the
//! overlay key and the gamepad Guide button, click-to-focus, title bar drags, corner
//! resizes, the edge swipes: from the left to switch apps, up from the bottom to go home); everything else goes to the client under the pointer or
//! with the keyboard. Touch reaches clients without wl_touch as an emulated pointer.

use smithay::backend::input::{ButtonState, KeyState, TouchSlot};
use smithay::desktop::layer_map_for_output;
use smithay::input::keyboard::{FilterResult, Keycode};
use smithay::input::pointer::{ButtonEvent, MotionEvent};
use smithay::input::touch::{DownEvent, MotionEvent as TouchMotionEvent, UpEvent};
use smithay::reexports::wayland_server::Resource;
use smithay::reexports::wayland_server::protocol::{wl_surface::WlSurface, wl_touch::WlTouch};
use smithay::utils::{Logical, Point, SERIAL_COUNTER};
use smithay::wayland::shell::wlr_layer::Layer;

use super::launcher::TypedKey;
use super::{Grab, State, scene};
use crate::definition::{Layout, Part};
use crate::policy::{
    Chrome, EDGE_SWITCHER, Rect, Side, TITLE_BAR, WindowId, close_button, maximize_button,
    minimize_button,
};
use crate::shortcuts::{Action, Does, Mods, Shortcut};

/// Linux evdev codes this module acts on.
pub const BTN_LEFT: u32 = 0x110;
pub const KEY_TAB: u32 = 15;
pub const KEY_LEFTALT: u32 = 56;
pub const KEY_RIGHTALT: u32 = 100;
pub const KEY_LEFTMETA: u32 = 125;
pub const KEY_LEFTCTRL: u32 = 29;
pub const KEY_RIGHTCTRL: u32 = 97;
pub const KEY_G: u32 = 34;
pub const KEY_F4: u32 = 62;
/// The gamepad's Guide (home) button.
pub const BTN_MODE: u32 = 0x13c;
pub const BTN_TL: u32 = 0x136;
pub const BTN_TR: u32 = 0x137;
pub const BTN_DPAD_LEFT: u32 = 0x222;
pub const BTN_DPAD_RIGHT: u32 = 0x223;

/// Which screen edge a touch started on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    /// The left edge: a swipe right switches apps (the edge switcher).
    Left,
    /// The bottom edge: a swipe up shows the home screen (the launcher's grid).
    Bottom,
}

/// A touch that started on a screen edge: its slot, the edge, where it started, and whether
/// it did what its swipe does already (once per swipe).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EdgeSwipe {
    slot: i32,
    edge: Edge,
    start: (f64, f64),
    done: bool,
}

/// How far (logical pixels) an edge swipe must travel to switch apps.
pub const SWIPE_DISTANCE: f64 = 80.0;
/// The corner of a floating window that resizes it when dragged.
const RESIZE_CORNER: i32 = 16;
/// Smallest size a drag can resize a window to.
const MIN_SIZE: u32 = 64;

/// One input event; positions are in output (logical) coordinates, codes are evdev's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum InputEvent {
    Key {
        code: u32,
        pressed: bool,
    },
    PointerMotion {
        x: f64,
        y: f64,
    },
    PointerButton {
        button: u32,
        pressed: bool,
    },
    TouchDown {
        slot: i32,
        x: f64,
        y: f64,
    },
    TouchMotion {
        slot: i32,
        x: f64,
        y: f64,
    },
    TouchUp {
        slot: i32,
    },
    /// The host window lost focus: release every key still held (no stuck keys).
    FocusLost,
}

impl InputEvent {
    /// The same event with positions divided by `scale` (physical to logical pixels).
    pub fn scaled(self, scale: f64) -> Self {
        match self {
            Self::PointerMotion { x, y } => Self::PointerMotion {
                x: x / scale,
                y: y / scale,
            },
            Self::TouchDown { slot, x, y } => Self::TouchDown {
                slot,
                x: x / scale,
                y: y / scale,
            },
            Self::TouchMotion { slot, x, y } => Self::TouchMotion {
                slot,
                x: x / scale,
                y: y / scale,
            },
            other => other,
        }
    }
}

/// What a press landed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hit {
    Close(WindowId),
    Maximize(WindowId),
    Minimize(WindowId),
    TitleBar(WindowId),
    Corner(WindowId),
    Window(WindowId),
    Nothing,
}

enum Binding {
    Menu(TypedKey),
    Lock(TypedKey),
    Shortcut(Shortcut),
}

/// The modifier evdev key `code` is, if it is one that shortcuts use besides Shift.
fn modifier_of(code: u32) -> Option<Mods> {
    let mut mods = Mods::default();
    match code {
        KEY_LEFTALT | KEY_RIGHTALT => mods.alt = true,
        KEY_LEFTMETA | super::launcher::KEY_RIGHTMETA => mods.logo = true,
        KEY_LEFTCTRL | KEY_RIGHTCTRL => mods.ctrl = true,
        _ => return None,
    }
    Some(mods)
}

impl State {
    pub(super) fn input(&mut self, event: InputEvent) {
        self.last_input = std::time::Instant::now();
        if std::mem::take(&mut self.blanked) {
            self.dirty = true;
        }
        // Locked: keys go to the lock screen (`key`); no pointer or touch reaches an app.
        if self.is_locked() && !matches!(event, InputEvent::Key { .. }) {
            return;
        }
        match event {
            InputEvent::Key { code, pressed } => self.key(code, pressed),
            InputEvent::PointerMotion { x, y } => {
                self.pointer_moved = true;
                if self.draw_cursor {
                    self.dirty = true;
                }
                self.pointer_motion(x, y)
            }
            InputEvent::PointerButton { button, pressed } => self.pointer_button(button, pressed),
            InputEvent::TouchDown { slot, x, y } => {
                // Touch hides the cursor until a pointer moves again.
                if std::mem::take(&mut self.pointer_moved) && self.draw_cursor {
                    self.dirty = true;
                }
                self.touch_down(slot, x, y)
            }
            InputEvent::TouchMotion { slot, x, y } => self.touch_motion(slot, x, y),
            InputEvent::TouchUp { slot } => self.touch_up(slot),
            InputEvent::FocusLost => self.release_keys(),
        }
    }

    fn key(&mut self, code: u32, pressed: bool) {
        if (0x100..=0x2ff).contains(&code) {
            // Gamepad and other buttons: the shell's, never a keyboard key for clients.
            if pressed && !self.is_locked() && !self.menu_gamepad(code) {
                self.gamepad(code);
            }
            return;
        }
        self.super_alone(code, pressed);
        let menu_open = self.shell.app_menu().is_open();
        // Locked: the built-in lock screen reads keys, unless an external locker's surface
        // has the keyboard (then keys go to it as to any focused client); no shell binding
        // works either way.
        let locked = self.is_locked();
        let external_locker = self
            .external_lock
            .as_ref()
            .and_then(|l| l.surface())
            .is_some();
        let Some(keyboard) = self.seat.get_keyboard() else {
            return;
        };
        let serial = SERIAL_COUNTER.next_serial();
        let time = self.time_ms();
        let key_state = if pressed {
            KeyState::Pressed
        } else {
            KeyState::Released
        };
        let binding = keyboard.input(
            self,
            Keycode::new(code + 8),
            key_state,
            serial,
            time,
            |state, modifiers, keysym| {
                if key_state != KeyState::Pressed {
                    return FilterResult::Forward;
                }
                // The lock screen takes every key; no app has the keyboard meanwhile.
                if locked && external_locker {
                    return FilterResult::Forward;
                }
                if locked {
                    return FilterResult::Intercept(Binding::Lock(TypedKey::from_keysym(
                        keysym.modified_sym(),
                    )));
                }
                // The open menu takes every key (type-to-search); releases still go to the
                // client, which may hold keys pressed before the menu opened.
                if menu_open {
                    return FilterResult::Intercept(Binding::Menu(TypedKey::from_keysym(
                        keysym.modified_sym(),
                    )));
                }
                match crate::shortcut::find(&state.shell.active().shortcuts, modifiers, &keysym) {
                    Some(shortcut) => FilterResult::Intercept(Binding::Shortcut(shortcut)),
                    None => FilterResult::Forward,
                }
            },
        );
        match binding {
            Some(Binding::Menu(key)) => self.menu_key(key),
            Some(Binding::Lock(key)) => self.lock_key(key),
            Some(Binding::Shortcut(shortcut)) => self.shortcut(shortcut),
            None => {}
        }
        // A modifier of the shortcut that opened the switcher released (Alt after Alt+Tab):
        // the switcher's selection gets the focus.
        if !pressed
            && modifier_of(code).is_some_and(|m| self.switcher_mods.includes(m))
            && self.shell.switcher_finish()
        {
            self.send_configures();
        }
    }

    /// Does what a shortcut of the active shell says.
    fn shortcut(&mut self, shortcut: Shortcut) {
        let action = match shortcut.does {
            Does::Run(argv) => {
                if let Err(e) = self.start_command(&argv) {
                    self.notify_from_shell(
                        "Shortcuts",
                        format!("{} did not start", shortcut.combo),
                        format!("{}: {e}", argv.join(" ")),
                    );
                }
                return;
            }
            Does::Action(action) => action,
        };
        match action {
            Action::NextWindow | Action::PreviousWindow => {
                // The desktop shows the switcher until a modifier of the shortcut is
                // released; other shells switch at once.
                self.switcher_mods = shortcut.combo.mods;
                if self.shell.switcher_step(action == Action::PreviousWindow) {
                    self.dirty = true;
                } else {
                    self.send_configures();
                }
            }
            Action::Lock => {
                let _ = self.lock_session();
            }
            Action::GameMode => self.game_mode(),
            Action::ToggleOverlay => self.toggle_overlay(),
            Action::Close => {
                if let Some(id) = self.shell.focused() {
                    self.ask_to_close(id);
                }
            }
            Action::Maximize | Action::Minimize | Action::SnapLeft | Action::SnapRight => {
                if let Some(id) = self.shell.focused() {
                    match action {
                        Action::Maximize => self.shell.toggle_maximized(id),
                        Action::Minimize => self.shell.minimize(id),
                        Action::SnapLeft => self.shell.snap(id, Side::Left),
                        _ => self.shell.snap(id, Side::Right),
                    };
                    self.send_configures();
                    self.dirty = true;
                }
            }
        }
    }

    /// Asks window `id`'s client to close it (xdg_toplevel.close).
    fn ask_to_close(&mut self, id: WindowId) {
        if let Some(w) = self.windows.get(&id) {
            w.toplevel.close();
        }
    }

    /// Gamepad buttons: Guide toggles the overlay; the d-pad and shoulders switch apps
    /// in shells that show one app at a time.
    fn gamepad(&mut self, code: u32) {
        match code {
            BTN_MODE => self.toggle_overlay(),
            BTN_TL | BTN_TR | BTN_DPAD_LEFT | BTN_DPAD_RIGHT
                if self.shell.active().layout == Layout::FocusedFullscreen =>
            {
                self.shell.cycle_focus();
                self.send_configures();
            }
            _ => {}
        }
    }

    /// Super+Shift+G: swaps to the game-mode shell, or back to the shell it replaced,
    /// keeping every window (as opening the game bar does on Windows Core OS).
    fn game_mode(&mut self) {
        let Some(game) = self.game_mode.clone() else {
            return;
        };
        let next = if self.shell.active().name == game.name {
            match self.before_game_mode.take() {
                Some(before) => before,
                None => return,
            }
        } else {
            self.before_game_mode = Some(self.shell.active().clone());
            game
        };
        tracing::info!("game mode key: swapping to {}", next.name);
        self.swap(next);
    }

    fn toggle_overlay(&mut self) {
        if self.shell.active().has(Part::OverlayBar) {
            self.shell.toggle_overlay();
            self.dirty = true;
        }
    }

    /// Releases every key a client still sees as held.
    fn release_keys(&mut self) {
        self.grab = None;
        self.swipe = None;
        if self.emulated.take().is_some() {
            self.pointer_button(BTN_LEFT, false);
        }
        if let Some(touch) = self.seat.get_touch() {
            touch.cancel(self);
        }
        let Some(keyboard) = self.seat.get_keyboard() else {
            return;
        };
        for code in keyboard.pressed_keys() {
            let serial = SERIAL_COUNTER.next_serial();
            let time = self.time_ms();
            keyboard.input::<(), _>(self, code, KeyState::Released, serial, time, |_, _, _| {
                FilterResult::Forward
            });
        }
    }

    /// Starts the task bar's app `index` in this shell (its process is reaped on a thread).
    fn launch(&mut self, index: usize) {
        let Some(launcher) = self.launchers.get(index) else {
            return;
        };
        match self.start_command(&launcher.command) {
            Ok(()) => tracing::info!("started {} ({:?})", launcher.name, launcher.command),
            Err(e) => tracing::warn!(
                "cannot start {} ({:?}): {e}",
                launcher.name,
                launcher.command
            ),
        }
    }

    /// What is at (x, y), from the top: windows (title bar, resize corner, body).
    fn hit(&self, x: f64, y: f64) -> Hit {
        let floating = self.shell.active().layout == Layout::Floating;
        let bars = self.shell.active().has(Part::TitleBars);
        for view in self.shell.windows().iter().rev() {
            let g = view.geometry;
            if bars && view.states.decorated {
                let bar = Rect {
                    x: g.x,
                    y: g.y - TITLE_BAR as i32,
                    width: g.width,
                    height: TITLE_BAR,
                };
                if close_button(bar).contains_point(x, y) {
                    return Hit::Close(view.id);
                }
                if maximize_button(bar).contains_point(x, y) {
                    return Hit::Maximize(view.id);
                }
                if minimize_button(bar).contains_point(x, y) {
                    return Hit::Minimize(view.id);
                }
                if bar.contains_point(x, y) {
                    return Hit::TitleBar(view.id);
                }
            }
            if g.contains_point(x, y) {
                let right = (g.x + g.width as i32) as f64;
                let bottom = (g.y + g.height as i32) as f64;
                if floating
                    && right - x <= RESIZE_CORNER as f64
                    && bottom - y <= RESIZE_CORNER as f64
                {
                    return Hit::Corner(view.id);
                }
                return Hit::Window(view.id);
            }
        }
        Hit::Nothing
    }

    /// The client surface under (x, y) and its origin, from the top: top and overlay
    /// layers, windows with their popups, bottom and background layers.
    fn surface_under(&self, x: f64, y: f64) -> Option<(WlSurface, Point<f64, Logical>)> {
        let under = |surface: &WlSurface, origin: (i32, i32)| {
            scene::surface_under(surface, (x, y), origin)
                .map(|(s, at)| (s, Point::<f64, Logical>::from((at.0 as f64, at.1 as f64))))
        };
        let layers = |which: &[Layer]| {
            let map = layer_map_for_output(&self.output);
            for layer in which {
                for l in map.layers_on(*layer).rev() {
                    if let Some(g) = map.layer_geometry(l) {
                        let origin = (g.loc.x, g.loc.y);
                        for (popup, at) in scene::popups(l.wl_surface(), origin).into_iter().rev() {
                            if let Some(found) = under(&popup, at) {
                                return Some(found);
                            }
                        }
                        if let Some(found) = under(l.wl_surface(), origin) {
                            return Some(found);
                        }
                    }
                }
            }
            None
        };
        if let Some(found) = layers(&[Layer::Overlay, Layer::Top]) {
            return Some(found);
        }
        for view in self.shell.windows().iter().rev() {
            let Some(w) = self.windows.get(&view.id) else {
                continue;
            };
            let Some(surface) = w.toplevel.wl_surface() else {
                continue; // an X11 window Xwayland has not drawn yet
            };
            let surface = &surface;
            let origin = scene::surface_origin(surface, view.geometry);
            for (popup, at) in scene::popups(surface, origin).into_iter().rev() {
                if let Some(found) = under(&popup, at) {
                    return Some(found);
                }
            }
            if let Some(found) = under(surface, origin) {
                return Some(found);
            }
            // The window's title bar is the shell's: nothing under it gets the pointer.
            if view.states.decorated && self.shell.active().has(Part::TitleBars) {
                let g = view.geometry;
                let bar = Rect {
                    x: g.x,
                    y: g.y.saturating_sub(TITLE_BAR as i32),
                    width: g.width,
                    height: TITLE_BAR,
                };
                if bar.contains_point(x, y) {
                    return None;
                }
            }
        }
        layers(&[Layer::Bottom, Layer::Background])
    }

    /// Whether what is at (x, y) is a popup or a layer surface: those take the press
    /// themselves, over any window or chrome below them.
    fn over_popup_or_layer(&self, x: f64, y: f64) -> bool {
        let Some((surface, _)) = self.surface_under(x, y) else {
            return false;
        };
        self.window_of(&super::root_of(&surface)).is_none()
    }

    fn pointer_motion(&mut self, x: f64, y: f64) {
        let Some(pointer) = self.seat.get_pointer() else {
            return;
        };
        self.shell.set_pointer(x, y);
        if let Some(grab) = self.grab {
            let (window, start, origin, resize) = match grab {
                Grab::Move {
                    window,
                    start,
                    origin,
                } => (window, start, origin, false),
                Grab::Resize {
                    window,
                    start,
                    origin,
                } => (window, start, origin, true),
            };
            let (dx, dy) = ((x - start.0) as i32, (y - start.1) as i32);
            let rect = if resize {
                Rect {
                    width: (origin.width as i32 + dx).max(MIN_SIZE as i32) as u32,
                    height: (origin.height as i32 + dy).max(MIN_SIZE as i32) as u32,
                    ..origin
                }
            } else {
                Rect {
                    x: origin.x + dx,
                    y: origin.y + dy,
                    ..origin
                }
            };
            self.shell.move_resize(window, rect);
            self.send_configures();
        }
        let focus = if self.grab.is_some() {
            None
        } else {
            self.surface_under(x, y)
        };
        let serial = SERIAL_COUNTER.next_serial();
        let time = self.time_ms();
        pointer.motion(
            self,
            focus,
            &MotionEvent {
                location: (x, y).into(),
                serial,
                time,
            },
        );
        pointer.frame(self);
    }

    fn pointer_button(&mut self, button: u32, pressed: bool) {
        let Some(pointer) = self.seat.get_pointer() else {
            return;
        };
        if !pressed && self.grab.take().is_some() {
            // A drag the client started began with a press it saw: it gets the release.
            if !std::mem::take(&mut self.grab_from_client) {
                return;
            }
        }
        if !pressed && self.on_chrome == Some(None) {
            self.on_chrome = None;
            return;
        }
        if pressed {
            let at = pointer.current_location();
            if self.keyboard_tap(at.x, at.y) {
                self.on_chrome = Some(None);
                return;
            }
            // Notification popups are above everything a client draws.
            if let Some(hit) = self.shell.notification_at(at.x, at.y) {
                self.click_popup(hit);
                self.on_chrome = Some(None);
                return;
            }
            self.super_alone = false;
            if self.menu_press(at.x, at.y) {
                self.on_chrome = Some(None);
                return;
            }
            self.dismiss_popups_outside(at.x, at.y);
            let over_client = self.over_popup_or_layer(at.x, at.y);
            if !over_client && let Some(i) = self.shell.launcher_at(at.x, at.y) {
                self.launch(i);
                return;
            }
            if !over_client && let Some(id) = self.shell.task_entry_at(at.x, at.y) {
                self.shell.taskbar_click(id);
                self.send_configures();
                self.dirty = true;
                return;
            }
            let hit = if over_client {
                Hit::Nothing
            } else {
                self.hit(at.x, at.y)
            };
            if let Hit::Close(id) = hit {
                // The client decides whether and when to close (unsaved work...).
                self.ask_to_close(id);
                return;
            }
            if let Hit::Maximize(id) | Hit::Minimize(id) = hit {
                match hit {
                    Hit::Maximize(_) => self.shell.toggle_maximized(id),
                    _ => self.shell.minimize(id),
                };
                self.send_configures();
                self.dirty = true;
                return;
            }
            if let Hit::TitleBar(id) | Hit::Corner(id) | Hit::Window(id) = hit
                && self.shell.focused() != Some(id)
            {
                self.shell.focus(id);
                self.send_configures();
            }
            let origin = self
                .shell
                .windows()
                .into_iter()
                .find(|v| matches!(hit, Hit::TitleBar(id) | Hit::Corner(id) if id == v.id))
                .map(|v| v.geometry);
            if let (Some(origin), true) = (origin, button == BTN_LEFT) {
                let start = (at.x, at.y);
                self.grab_from_client = false;
                self.grab = Some(match hit {
                    Hit::TitleBar(window) => Grab::Move {
                        window,
                        start,
                        origin,
                    },
                    Hit::Corner(window) => Grab::Resize {
                        window,
                        start,
                        origin,
                    },
                    _ => unreachable!("origin is only found for title bars and corners"),
                });
                return;
            }
        }
        let serial = SERIAL_COUNTER.next_serial();
        let time = self.time_ms();
        pointer.button(
            self,
            &ButtonEvent {
                serial,
                time,
                button,
                state: if pressed {
                    ButtonState::Pressed
                } else {
                    ButtonState::Released
                },
            },
        );
        pointer.frame(self);
    }

    /// A press outside a grabbing popup's client closes that popup (and its children).
    fn dismiss_popups_outside(&mut self, x: f64, y: f64) {
        if self.grabbing_popups.is_empty() {
            return;
        }
        let under = self
            .surface_under(x, y)
            .and_then(|(s, _)| s.client().map(|c| c.id()));
        let popups = std::mem::take(&mut self.grabbing_popups);
        for popup in popups {
            let client = popup.wl_surface().client().map(|c| c.id());
            if client.is_some() && client == under {
                self.grabbing_popups.push(popup);
                continue;
            }
            let kind = smithay::desktop::PopupKind::Xdg(popup);
            match smithay::desktop::find_popup_root_surface(&kind) {
                Ok(root) => {
                    if let Err(e) = smithay::desktop::PopupManager::dismiss_popup(&root, &kind) {
                        tracing::debug!("popup already gone: {e:?}");
                    }
                }
                Err(e) => tracing::debug!("popup without a root: {e:?}"),
            }
            self.dirty = true;
        }
    }

    /// Whether the client owning `surface` asked for wl_touch. smithay does not say, so
    /// its object ids are looked up (clients number their objects from 1, densely).
    fn client_has_touch(&self, surface: &WlSurface) -> bool {
        let Ok(client) = self.display.get_client(surface.id()) else {
            return false;
        };
        let highest = surface.id().protocol_id() + 256;
        (1..=highest).any(|id| {
            client
                .object_from_protocol_id::<WlTouch>(&self.display, id)
                .is_ok()
        })
    }

    fn touch_down(&mut self, slot: i32, x: f64, y: f64) {
        let shell = self.shell.active();
        let edge = if shell.has(Part::EdgeSwitcher) && x < EDGE_SWITCHER as f64 {
            Some(Edge::Left)
        } else if shell.has(Part::EdgeSwitcher)
            && shell.has(Part::Launcher)
            && y >= self.shell.output().height.saturating_sub(EDGE_SWITCHER) as f64
        {
            Some(Edge::Bottom)
        } else {
            None
        };
        if let Some(edge) = edge {
            self.swipe = Some(EdgeSwipe {
                slot,
                edge,
                start: (x, y),
                done: false,
            });
            return;
        }
        if self.keyboard_tap(x, y) {
            self.on_chrome = Some(Some(slot));
            return;
        }
        if let Some(hit) = self.shell.notification_at(x, y) {
            self.click_popup(hit);
            self.on_chrome = Some(Some(slot));
            return;
        }
        if self.menu_press(x, y) {
            self.on_chrome = Some(Some(slot));
            return;
        }
        let hit = if self.over_popup_or_layer(x, y) {
            Hit::Nothing
        } else {
            self.hit(x, y)
        };
        if let Hit::Close(id) | Hit::TitleBar(id) | Hit::Corner(id) | Hit::Window(id) = hit
            && self.shell.focused() != Some(id)
        {
            self.shell.focus(id);
            self.send_configures();
        }
        let focus = self.surface_under(x, y);
        let touch_client = focus
            .as_ref()
            .is_some_and(|(s, _)| self.client_has_touch(s));
        if !touch_client {
            // Pointer emulation for apps without touch support.
            if self.emulated.is_none() {
                self.emulated = Some(slot);
                self.pointer_motion(x, y);
                self.pointer_button(BTN_LEFT, true);
            }
            return;
        }
        let Some(touch) = self.seat.get_touch() else {
            return;
        };
        let serial = SERIAL_COUNTER.next_serial();
        let time = self.time_ms();
        touch.down(
            self,
            focus,
            &DownEvent {
                slot: TouchSlot::from(Some(slot as u32)),
                location: (x, y).into(),
                serial,
                time,
            },
        );
        touch.frame(self);
    }

    fn touch_motion(&mut self, slot: i32, x: f64, y: f64) {
        if self.on_chrome == Some(Some(slot)) {
            return;
        }
        if let Some(swipe) = self.swipe
            && swipe.slot == slot
        {
            let travelled = match swipe.edge {
                Edge::Left => x - swipe.start.0,
                Edge::Bottom => swipe.start.1 - y,
            };
            if !swipe.done && travelled >= SWIPE_DISTANCE {
                // Once per swipe; the rest of it does nothing.
                self.swipe = Some(EdgeSwipe {
                    done: true,
                    ..swipe
                });
                match swipe.edge {
                    Edge::Left => {
                        self.shell.cycle_focus();
                        self.send_configures();
                    }
                    Edge::Bottom => {
                        self.shell.go_home();
                        self.dirty = true;
                    }
                }
            }
            return;
        }
        if self.emulated == Some(slot) {
            self.pointer_motion(x, y);
            return;
        }
        let Some(touch) = self.seat.get_touch() else {
            return;
        };
        let focus = self.surface_under(x, y);
        let time = self.time_ms();
        touch.motion(
            self,
            focus,
            &TouchMotionEvent {
                slot: TouchSlot::from(Some(slot as u32)),
                location: (x, y).into(),
                time,
            },
        );
        touch.frame(self);
    }

    /// A press at (x, y) on the on-screen keyboard types its key into the focused window,
    /// as a hardware key would (Shift latches for the next key). False when the press is
    /// not on the keyboard.
    fn keyboard_tap(&mut self, x: f64, y: f64) -> bool {
        let Some(area) = self.shell.chrome().into_iter().find_map(|c| match c {
            Chrome::Keyboard { rect } => Some(rect),
            _ => None,
        }) else {
            return false;
        };
        if !area.contains_point(x, y) {
            return false;
        }
        let Some(key) = crate::keyboard::key_at(area, x, y) else {
            return true; // between keys: still the keyboard's
        };
        if key.code == crate::keyboard::SHIFT {
            self.shift_latched = !self.shift_latched;
        } else {
            let shift = std::mem::take(&mut self.shift_latched);
            if shift {
                self.key(crate::keyboard::SHIFT, true);
            }
            self.key(key.code, true);
            self.key(key.code, false);
            if shift {
                self.key(crate::keyboard::SHIFT, false);
            }
        }
        self.dirty = true;
        true
    }

    fn touch_up(&mut self, slot: i32) {
        if self.on_chrome == Some(Some(slot)) {
            self.on_chrome = None;
            return;
        }
        if let Some(swipe) = self.swipe
            && swipe.slot == slot
        {
            self.swipe = None;
            // A tap on the bottom edge that never swiped is a tap on what is there: the
            // on-screen keyboard's bottom row.
            if swipe.edge == Edge::Bottom && !swipe.done {
                let (x, y) = swipe.start;
                self.keyboard_tap(x, y);
            }
            return;
        }
        if self.emulated == Some(slot) {
            self.emulated = None;
            self.pointer_button(BTN_LEFT, false);
            return;
        }
        let Some(touch) = self.seat.get_touch() else {
            return;
        };
        let serial = SERIAL_COUNTER.next_serial();
        let time = self.time_ms();
        touch.up(
            self,
            &UpEvent {
                slot: TouchSlot::from(Some(slot as u32)),
                serial,
                time,
            },
        );
        touch.frame(self);
    }
}
