//! The launcher part on the compositor's side: the Super key (pressed and released alone),
//! the start button, clicks, typed keys and the gamepad drive the policy's app menu
//! (`compose_shell_policy::app_menu`); a chosen app starts on this shell's socket, and one
//! that cannot start says why in a notification.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use smithay::input::keyboard::{Keysym, keysyms};

use super::State;
use crate::definition::Part;
use crate::policy::MenuHit;
use crate::render::{Pixels, TextureKey};
use compose_shell_policy::app_menu::{AppMenu, MenuApp};

/// evdev codes of the Super keys and the gamepad buttons the menu answers to.
pub const KEY_RIGHTMETA: u32 = 126;
pub const BTN_SOUTH: u32 = 0x130;
pub const BTN_EAST: u32 = 0x131;
pub const BTN_START: u32 = 0x13b;
pub const BTN_DPAD_UP: u32 = 0x220;
pub const BTN_DPAD_DOWN: u32 = 0x221;

/// Where app icons are looked for: the hicolor theme, largest size that fits first, then
/// the old pixmaps folder.
pub const ICON_DIRS: &[&str] = &["/usr/share/icons/hicolor", "/usr/share/pixmaps"];
/// Icon sizes tried in a theme folder, best first.
const ICON_SIZES: &[&str] = &["64x64", "48x48", "128x128", "96x96", "32x32", "256x256"];
/// The largest icon file read, and the most pixels decoded (icons are untrusted files).
const MAX_ICON_FILE: u64 = 1024 * 1024;
const MAX_ICON_SIDE: u32 = 256;
/// Icon textures have keys of their own (text is at 1 << 62).
const ICON_KEYS: u64 = 1 << 61;

/// The PNG file of icon `name` under `dirs` (SVG icons are not drawn: the letter tile
/// stands in).
fn find_icon(name: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    let path = Path::new(name);
    if path.is_absolute() {
        return (path.extension().is_some_and(|e| e == "png") && path.is_file())
            .then(|| path.to_path_buf());
    }
    if name.contains('/') || name.contains("..") {
        return None;
    }
    let file = format!("{name}.png");
    dirs.iter().find_map(|dir| {
        ICON_SIZES
            .iter()
            .map(|size| dir.join(size).join("apps").join(&file))
            .chain(std::iter::once(dir.join(&file)))
            .find(|p| p.is_file())
    })
}

/// An icon as premultiplied BGRA pixels: width, height, bytes; `None` for anything that
/// is not a small 8-bit RGB(A) PNG.
fn read_icon(path: &Path) -> Option<(u32, u32, Vec<u8>)> {
    if std::fs::metadata(path).ok()?.len() > MAX_ICON_FILE {
        return None;
    }
    let file = std::io::BufReader::new(std::fs::File::open(path).ok()?);
    let mut decoder = png::Decoder::new_with_limits(
        file,
        png::Limits {
            bytes: (MAX_ICON_SIDE * MAX_ICON_SIDE * 8) as usize,
        },
    );
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().ok()?;
    let (width, height) = (reader.info().width, reader.info().height);
    if width == 0 || height == 0 || width > MAX_ICON_SIDE || height > MAX_ICON_SIDE {
        return None;
    }
    let mut buf = vec![0; reader.output_buffer_size()?];
    let info = reader.next_frame(&mut buf).ok()?;
    let channels = match info.color_type {
        png::ColorType::Rgba => 4,
        png::ColorType::Rgb => 3,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Grayscale => 1,
        png::ColorType::Indexed => return None,
    };
    let mut bgra = Vec::with_capacity((width * height * 4) as usize);
    for row in buf.chunks_exact(info.line_size).take(height as usize) {
        for px in row.chunks_exact(channels).take(width as usize) {
            let (r, g, b, a) = match channels {
                4 => (px[0], px[1], px[2], px[3]),
                3 => (px[0], px[1], px[2], 255),
                2 => (px[0], px[0], px[0], px[1]),
                _ => (px[0], px[0], px[0], 255),
            };
            let pre = |c: u8| ((c as u32 * a as u32 + 127) / 255) as u8;
            bgra.extend_from_slice(&[pre(b), pre(g), pre(r), a]);
        }
    }
    (bgra.len() == (width * height * 4) as usize).then_some((width, height, bgra))
}

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
    /// Uploads the icon of every menu app that has one (a PNG in `dirs`); the menu draws a
    /// letter tile for the rest.
    pub(super) fn load_icons(&mut self, dirs: &[PathBuf]) {
        let mut icons = HashMap::new();
        for (i, app) in self.apps.iter().enumerate() {
            let Some(path) = app.icon.as_deref().and_then(|name| find_icon(name, dirs)) else {
                continue;
            };
            let Some((width, height, bgra)) = read_icon(&path) else {
                tracing::debug!("icon {} not drawn (not a small PNG)", path.display());
                continue;
            };
            let key: TextureKey = ICON_KEYS + i as u64;
            self.backend.renderer_mut().upload(
                key,
                Pixels {
                    data: &bgra,
                    offset: 0,
                    width,
                    height,
                    stride: width * 4,
                    opaque: false,
                },
                &[],
            );
            icons.insert(i, key);
        }
        self.icons = icons;
    }

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
        let (title, exec) = (app.title.clone(), app.exec.clone());
        match self.start_command(&exec) {
            Ok(()) => tracing::info!("started {title} ({exec:?}) from the launcher"),
            Err(e) => self.notify_from_shell(
                "Launcher",
                format!("{title} did not start"),
                format!("{}: {e}", exec.join(" ")),
            ),
        }
    }

    /// Starts `command` (program and arguments) on this shell's socket, reaped on a thread
    /// of its own: every app the shell starts on a click or a key goes through here.
    pub(super) fn start_command(&self, command: &[String]) -> std::io::Result<()> {
        let Some((program, args)) = command.split_first() else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "no command to run",
            ));
        };
        let mut child = crate::autostart::command(program, &self.socket, self.x_display)
            .args(args)
            .spawn()?;
        std::thread::spawn(move || child.wait());
        Ok(())
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
