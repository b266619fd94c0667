//! The launcher part on the compositor's side: the Super key (pressed and released alone),
//! the start button, clicks, typed keys and the gamepad drive the policy's app menu
//! (`compose_shell_policy::app_menu`); a chosen app starts on this shell's socket, and one
//! that cannot start says why in a notification.

use std::time::Instant;

use smithay::input::keyboard::{Keysym, keysyms};

use super::State;
use crate::definition::Part;
use crate::policy::MenuHit;
use compose_shell_policy::app_menu::{AppMenu, MenuApp};
use compose_shell_policy::notifications::{Request, Urgency};

/// evdev codes of the Super keys and the gamepad buttons the menu answers to.
pub const KEY_RIGHTMETA: u32 = 126;
pub const BTN_SOUTH: u32 = 0x130;
pub const BTN_EAST: u32 = 0x131;
pub const BTN_START: u32 = 0x13b;
pub const BTN_DPAD_UP: u32 = 0x220;
pub const BTN_DPAD_DOWN: u32 = 0x221;

/// A key pressed while the shell reads text (the menu's search, the lock screen's
/// password): what it means there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TypedKey {
    Close,
    Launch,
    Left,
    Right,
    Up,
    Down,
    Back,
    Char(char),
    Other,
}

impl TypedKey {
    pub(super) fn from_keysym(sym: Keysym) -> TypedKey {
        match sym.raw() {
            keysyms::KEY_Escape => TypedKey::Close,
            keysyms::KEY_Return | keysyms::KEY_KP_Enter => TypedKey::Launch,
            keysyms::KEY_Left => TypedKey::Left,
            keysyms::KEY_Right => TypedKey::Right,
            keysyms::KEY_Up => TypedKey::Up,
            keysyms::KEY_Down => TypedKey::Down,
            keysyms::KEY_BackSpace => TypedKey::Back,
            _ => match sym.key_char() {
                Some(c) if !c.is_control() => TypedKey::Char(c),
                _ => TypedKey::Other,
            },
        }
    }
}

impl State {
    fn has_launcher(&self) -> bool {
        self.shell.active().has(Part::Launcher) && !self.is_locked()
    }

    /// Super pressed and released with nothing between opens or closes the menu. Every key
    /// goes through here first; the key itself still goes to the client as usual.
    pub(super) fn super_alone(&mut self, code: u32, pressed: bool) {
        let is_super = code == super::input::KEY_LEFTMETA || code == KEY_RIGHTMETA;
        match (is_super, pressed) {
            (true, true) => self.super_alone = true,
            (true, false) => {
                if std::mem::take(&mut self.super_alone) && self.has_launcher() {
                    self.toggle_menu();
                }
            }
            (false, _) => self.super_alone = false,
        }
    }

    pub(super) fn toggle_menu(&mut self) {
        self.shell.app_menu_mut().toggle();
        self.dirty = true;
    }

    /// A key while the menu is open (the client does not get it).
    pub(super) fn menu_key(&mut self, key: TypedKey) {
        if key == TypedKey::Launch {
            self.launch_chosen();
            return;
        }
        let step = AppMenu::row_step(self.shell.active().layout, self.shell.work_area());
        let mut menu = self.shell.app_menu_mut();
        match key {
            TypedKey::Close => menu.close(),
            TypedKey::Launch => {}
            TypedKey::Left => menu.move_selection(-1),
            TypedKey::Right => menu.move_selection(1),
            TypedKey::Up => menu.move_selection(-step),
            TypedKey::Down => menu.move_selection(step),
            TypedKey::Back => menu.backspace(),
            TypedKey::Char(c) => menu.type_char(c),
            TypedKey::Other => {}
        }
        self.dirty = true;
    }

    /// A gamepad button: Start opens or closes the menu; while it is open the d-pad moves,
    /// A starts the app and B closes. True if the menu took the button.
    pub(super) fn menu_gamepad(&mut self, code: u32) -> bool {
        if !self.has_launcher() {
            return false;
        }
        if code == BTN_START {
            self.toggle_menu();
            return true;
        }
        if !self.shell.app_menu().is_open() {
            return false;
        }
        let key = match code {
            BTN_SOUTH => TypedKey::Launch,
            BTN_EAST => TypedKey::Close,
            super::input::BTN_DPAD_LEFT => TypedKey::Left,
            super::input::BTN_DPAD_RIGHT => TypedKey::Right,
            BTN_DPAD_UP => TypedKey::Up,
            BTN_DPAD_DOWN => TypedKey::Down,
            _ => return false,
        };
        self.menu_key(key);
        true
    }

    /// A press (pointer or touch) at (x, y): true if the launcher took it (the start button,
    /// an app, the open menu, or a press outside it that closes it).
    pub(super) fn menu_press(&mut self, x: f64, y: f64) -> bool {
        match self.shell.menu_hit(x, y) {
            None => false,
            Some(MenuHit::StartButton) => {
                self.toggle_menu();
                true
            }
            Some(MenuHit::App(app)) => {
                self.launch_app(app);
                true
            }
            Some(MenuHit::Menu) => true,
            Some(MenuHit::Outside) => {
                self.shell.app_menu_mut().close();
                self.dirty = true;
                true
            }
        }
    }

    fn launch_chosen(&mut self) {
        if let Some(app) = self.shell.menu_choice() {
            self.launch_app(app);
        }
    }

    /// Starts menu app `index` on this shell's socket and closes the menu; a failed start
    /// becomes a notification that says why.
    fn launch_app(&mut self, index: usize) {
        self.shell.app_menu_mut().close();
        self.dirty = true;
        let Some(app) = self.apps.get(index) else {
            return;
        };
        let (program, args) = app
            .exec
            .split_first()
            .expect("desktop entries have an Exec");
        let started = crate::autostart::command(program, &self.socket, self.x_display)
            .args(args)
            .spawn();
        match started {
            Ok(mut child) => {
                tracing::info!("started {} ({:?}) from the launcher", app.title, app.exec);
                std::thread::spawn(move || child.wait());
            }
            Err(e) => {
                let request = Request {
                    sender: "compose-shell".into(),
                    app_name: "Launcher".into(),
                    summary: format!("{} did not start", app.title),
                    body: format!("{}: {e}", app.exec.join(" ")),
                    urgency: Urgency::Normal,
                    expire_timeout: -1,
                    ..Request::default()
                };
                tracing::warn!("{}: {}", request.summary, request.body);
                let _ = self
                    .shell
                    .notifications_mut()
                    .notify(request, Instant::now());
            }
        }
    }
}

/// The menu's list from the session's desktop entries (those not marked `NoDisplay`).
pub(super) fn menu_apps(apps: &[crate::autostart::App]) -> Vec<MenuApp> {
    apps.iter()
        .map(|a| MenuApp {
            name: a.title.clone(),
            categories: a.categories.clone(),
        })
        .collect()
}
