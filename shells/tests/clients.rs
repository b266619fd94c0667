//! The headless compositor with our own Wayland client (compose-testclient), each on its
//! own thread over a socket: what each shell shows (pixels from screenshots) with three
//! clients through live swaps (their configures and focus: `one_loop.rs`),
//! input and shell bindings, subsurfaces and popups, and misbehaving clients.

mod keys;

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use compose_shells::compositor::colors::{self, rgba8};
use compose_shells::compositor::input::{
    BTN_DPAD_RIGHT, BTN_LEFT, BTN_MODE, KEY_F4, KEY_G, KEY_LEFTALT, KEY_LEFTCTRL, KEY_LEFTMETA,
    KEY_TAB,
};
use compose_shells::compositor::{
    Command, CompositorError, InputEvent, MAX_BUFFERS_PER_CLIENT, MAX_SURFACES_PER_CLIENT, Options,
    WindowInfo, run,
};
use compose_shells::definition::builtin;
use compose_shells::policy::{KEYBOARD_SHARE, TASKBAR, TITLE_BAR};
use compose_shells::render::Image;
use compose_testclient::{Client, ClientError, DecorationMode, Presentation, ToplevelState};
use smithay::reexports::calloop::channel::{Sender, channel};

const RED: [u8; 4] = [255, 0, 0, 255];
const GREEN: [u8; 4] = [0, 255, 0, 255];
const BLUE: [u8; 4] = [0, 0, 255, 255];
const WAIT: Duration = Duration::from_secs(10);
/// Arrow keys (evdev codes).
const KEY_UP: u32 = 103;
const KEY_ESC: u32 = 1;
const KEY_DOWN: u32 = 108;
const KEY_LEFT: u32 = 105;
const KEY_RIGHT: u32 = 106;

/// A compositor on its own thread, on a socket in a private folder.
struct Compositor {
    control: Sender<Command>,
    thread: Option<JoinHandle<Result<(), CompositorError>>>,
    dir: tempfile::TempDir,
    size: (u32, u32),
}

impl Compositor {
    fn start(shell: &str, width: u32, height: u32) -> Self {
        Self::start_with(shell, width, height, |_| {})
    }

    /// Like `start`, with `change` applied to the options.
    fn start_with(shell: &str, width: u32, height: u32, change: impl FnOnce(&mut Options)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("wayland-test");
        let (control, commands) = channel();
        let def = builtin().into_iter().find(|s| s.name == shell).unwrap();
        let mut options = Options {
            // Generous for a loaded CI machine; a transaction ends as soon as windows redraw.
            swap_wait: Duration::from_secs(3),
            ..Options::headless(socket.to_str().unwrap(), def, width, height)
        };
        change(&mut options);
        let thread = std::thread::spawn(move || run(options, commands));
        let start = Instant::now();
        while !socket.exists() {
            assert!(!thread.is_finished(), "the compositor stopped early");
            assert!(start.elapsed() < WAIT, "no socket");
            std::thread::sleep(Duration::from_millis(10));
        }
        Self {
            control,
            thread: Some(thread),
            dir,
            size: (width, height),
        }
    }

    fn client(&self) -> Client {
        Client::connect(self.dir.path(), "wayland-test").unwrap()
    }

    fn client_without_touch(&self) -> Client {
        Client::connect_with(self.dir.path(), "wayland-test", false).unwrap()
    }

    fn windows(&self) -> Vec<WindowInfo> {
        let (reply, answer) = mpsc::channel();
        self.control.send(Command::Windows(reply)).unwrap();
        answer.recv_timeout(WAIT).expect("the compositor answers")
    }

    fn window(&self, app_id: &str) -> WindowInfo {
        self.windows()
            .into_iter()
            .find(|w| w.app_id == app_id)
            .unwrap_or_else(|| panic!("no window {app_id}: {:?}", self.windows()))
    }

    fn focused(&self) -> Option<String> {
        self.windows()
            .into_iter()
            .find(|w| w.focused)
            .map(|w| w.app_id)
    }

    fn swap(&self, name: &str) {
        let def = builtin().into_iter().find(|s| s.name == name).unwrap();
        let (done, ack) = mpsc::channel();
        self.control.send(Command::Swap(def, done)).unwrap();
        ack.recv_timeout(WAIT).unwrap();
    }

    fn input(&self, events: &[InputEvent]) {
        for e in events {
            self.control.send(Command::Input(*e)).unwrap();
        }
        // Round trip through the loop so every event was handled.
        self.windows();
    }

    fn key(&self, code: u32) {
        self.input(&[
            InputEvent::Key {
                code,
                pressed: true,
            },
            InputEvent::Key {
                code,
                pressed: false,
            },
        ]);
    }

    fn click(&self, x: f64, y: f64) {
        self.input(&[
            InputEvent::PointerMotion { x, y },
            InputEvent::PointerButton {
                button: BTN_LEFT,
                pressed: true,
            },
            InputEvent::PointerButton {
                button: BTN_LEFT,
                pressed: false,
            },
        ]);
    }

    fn click_at(&self, (x, y): (f64, f64)) {
        self.click(x, y);
    }

    fn screenshot(&self) -> Image {
        let (reply, answer) = mpsc::channel();
        self.control.send(Command::Screenshot(reply)).unwrap();
        let image = answer.recv_timeout(WAIT).unwrap().expect("screenshot");
        assert_eq!((image.width, image.height), self.size);
        image
    }
}

impl Drop for Compositor {
    fn drop(&mut self) {
        let _ = self.control.send(Command::Stop);
        if let Some(thread) = self.thread.take() {
            let result = thread.join().expect("the compositor thread did not panic");
            if !std::thread::panicking() {
                result.expect("the compositor ran without error");
            }
        }
    }
}

fn center(w: &WindowInfo) -> (u32, u32) {
    (
        (w.geometry.x + w.geometry.width as i32 / 2) as u32,
        (w.geometry.y + w.geometry.height as i32 / 2) as u32,
    )
}

fn close_to(a: [u8; 4], b: [u8; 4]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 2)
}

#[track_caller]
fn assert_pixel(image: &Image, at: (u32, u32), expected: [u8; 4], what: &str) {
    let got = image.pixel(at.0, at.1);
    assert!(
        close_to(got, expected),
        "{what}: pixel {at:?} is {got:?}, expected {expected:?}"
    );
}

/// Lets every client handle what arrived.
fn pump(clients: &mut [&mut Client]) {
    for c in clients.iter_mut() {
        c.dispatch_for(Duration::from_millis(20)).unwrap();
    }
}

/// Waits until client `c`'s window 0 was configured as `check` wants.
fn wait_configure(
    c: &mut Client,
    what: &str,
    check: impl Fn(&compose_testclient::Configure) -> bool,
) {
    c.wait_until(what, WAIT, |s| {
        s.windows[0].last_configure().is_some_and(&check) && s.windows[0].drawn.is_some()
    })
    .unwrap_or_else(|e| {
        panic!(
            "{e}; configures: {:?}",
            c.state.windows[0].configures.last()
        )
    });
    // The redraw for that configure has reached the compositor.
    c.roundtrip().unwrap();
}

#[test]
fn three_clients_keep_their_windows_through_desktop_gaming_tablet_desktop() {
    let (w, h) = (1280, 720);
    let comp = Compositor::start("desktop", w, h);
    let mut clients: Vec<Client> = Vec::new();
    for (i, color) in [RED, GREEN, BLUE].into_iter().enumerate() {
        let mut c = comp.client();
        c.toplevel(&format!("app{i}"), &format!("App {i}"), color)
            .unwrap();
        clients.push(c);
    }
    // Desktop: floating 800x480 windows, the newest focused, with title bars and a task bar.
    for (i, c) in clients.iter_mut().enumerate() {
        wait_configure(c, "a floating configure, activated only if newest", |k| {
            k.width == 800
                && k.height == 480
                && !k.has(ToplevelState::Maximized)
                && k.has(ToplevelState::Activated) == (i == 2)
        });
    }
    let top = comp.window("app2");
    let shot = comp.screenshot();
    assert_pixel(&shot, center(&top), BLUE, "the focused window's content");
    let bar = (
        center(&top).0,
        (top.geometry.y - TITLE_BAR as i32 / 2) as u32,
    );
    assert_pixel(&shot, bar, rgba8(colors::TITLE_FOCUSED), "its title bar");
    assert_pixel(
        &shot,
        (w - 2, h - TASKBAR / 2),
        rgba8(colors::TASKBAR),
        "the task bar",
    );
    assert_pixel(
        &shot,
        (w - 10, 10),
        rgba8(colors::BACKGROUND),
        "the background",
    );

    // Gaming: every window fullscreen, only the focused one activated.
    comp.swap("gaming");
    for c in clients.iter_mut() {
        wait_configure(c, "a fullscreen configure", |k| {
            k.width == 1280 && k.height == 720 && k.has(ToplevelState::Fullscreen)
        });
    }
    let shot = comp.screenshot();
    assert_pixel(
        &shot,
        (w / 2, h / 2),
        BLUE,
        "the focused app fills the output",
    );
    assert_pixel(&shot, (1, 1), BLUE, "no chrome in gaming");

    // Tablet: maximized above the on-screen keyboard's area.
    comp.swap("tablet");
    let keyboard = (h as f32 * KEYBOARD_SHARE) as u32;
    for c in clients.iter_mut() {
        wait_configure(c, "a maximized configure", |k| {
            k.width == 1280 && k.height == (h - keyboard) as i32 && k.has(ToplevelState::Maximized)
        });
    }
    let shot = comp.screenshot();
    assert_pixel(&shot, (w / 2, (h - keyboard) / 2), BLUE, "the focused app");
    assert_pixel(
        &shot,
        (w - 1, h - keyboard / 2),
        rgba8(colors::KEYBOARD),
        "the keyboard area, right of its keys",
    );
    let area = compose_shells::Rect {
        x: 0,
        y: (h - keyboard) as i32,
        width: w,
        height: keyboard,
    };
    let g = compose_shells::keyboard::keys(area)
        .into_iter()
        .find(|k| k.label == "g")
        .unwrap();
    assert_pixel(
        &shot,
        (
            (g.rect.x + g.rect.width as i32 / 2) as u32,
            (g.rect.y + g.rect.height as i32 / 2) as u32,
        ),
        rgba8(colors::KEY),
        "the on-screen keyboard's G key",
    );

    // Back to the desktop: the floating layout comes back as it was.
    comp.swap("desktop");
    for c in clients.iter_mut() {
        wait_configure(c, "the floating configure again", |k| {
            k.width == 800 && k.height == 480 && !k.has(ToplevelState::Maximized)
        });
    }
    let shot = comp.screenshot();
    assert_pixel(
        &shot,
        center(&top),
        BLUE,
        "the same pixels as before the swaps",
    );
}

#[test]
fn keys_go_to_the_focused_client_and_alt_tab_click_drag_and_resize_work() {
    let comp = Compositor::start("desktop", 1280, 720);
    let mut a = comp.client();
    a.toplevel("a", "A", RED).unwrap();
    let mut b = comp.client();
    b.toplevel("b", "B", GREEN).unwrap();
    b.wait_until("keyboard focus", WAIT, |s| s.windows[0].keyboard_focus)
        .unwrap();

    comp.key(30); // KEY_A
    b.wait_until("the key", WAIT, |s| s.windows[0].keys == [30])
        .unwrap();
    // A key still held when the host window loses focus is released, not stuck.
    comp.input(&[
        InputEvent::Key {
            code: 31,
            pressed: true,
        },
        InputEvent::FocusLost,
    ]);
    b.wait_until("the held key's release", WAIT, |s| {
        s.windows[0].released.ends_with(&[31])
    })
    .unwrap();

    // Alt+Tab: the binding switches focus; no client sees the Tab.
    comp.input(&[
        InputEvent::Key {
            code: KEY_LEFTALT,
            pressed: true,
        },
        InputEvent::Key {
            code: KEY_TAB,
            pressed: true,
        },
        InputEvent::Key {
            code: KEY_TAB,
            pressed: false,
        },
        InputEvent::Key {
            code: KEY_LEFTALT,
            pressed: false,
        },
    ]);
    assert_eq!(comp.focused().as_deref(), Some("a"));
    a.wait_until("keyboard focus after Alt+Tab", WAIT, |s| {
        s.windows[0].keyboard_focus
    })
    .unwrap();
    pump(&mut [&mut a, &mut b]);
    assert!(!b.state.windows[0].keyboard_focus);
    assert!(!a.state.windows[0].keys.contains(&KEY_TAB));
    assert!(!b.state.windows[0].keys.contains(&KEY_TAB));

    // Click-to-focus: a click on B's content focuses and raises it; B gets the click.
    let bw = comp.window("b");
    // Where B shows from under A (A is on top and 32 pixels up and left of B).
    let spot = (bw.geometry.x as f64 + 776.0, bw.geometry.y as f64 + 456.0);
    comp.click(spot.0, spot.1);
    assert_eq!(comp.focused().as_deref(), Some("b"));
    b.wait_until("the click", WAIT, |s| s.windows[0].buttons == [BTN_LEFT])
        .unwrap();

    // Dragging the title bar moves the window.
    let before = comp.window("b").geometry;
    let grab = (
        before.x as f64 + 50.0,
        before.y as f64 - TITLE_BAR as f64 / 2.0,
    );
    comp.input(&[
        InputEvent::PointerMotion {
            x: grab.0,
            y: grab.1,
        },
        InputEvent::PointerButton {
            button: BTN_LEFT,
            pressed: true,
        },
        InputEvent::PointerMotion {
            x: grab.0 + 100.0,
            y: grab.1 + 50.0,
        },
        InputEvent::PointerButton {
            button: BTN_LEFT,
            pressed: false,
        },
    ]);
    let moved = comp.window("b").geometry;
    assert_eq!((moved.x, moved.y), (before.x + 100, before.y + 50));
    assert_eq!((moved.width, moved.height), (before.width, before.height));

    // Dragging the bottom-right corner resizes it, and the client is told.
    let corner = (
        (moved.x + moved.width as i32 - 4) as f64,
        (moved.y + moved.height as i32 - 4) as f64,
    );
    comp.input(&[
        InputEvent::PointerMotion {
            x: corner.0,
            y: corner.1,
        },
        InputEvent::PointerButton {
            button: BTN_LEFT,
            pressed: true,
        },
        InputEvent::PointerMotion {
            x: corner.0 + 40.0,
            y: corner.1 + 30.0,
        },
        InputEvent::PointerButton {
            button: BTN_LEFT,
            pressed: false,
        },
    ]);
    let (width, height, _) = comp.window("b").configured;
    assert_eq!((width, height), (840, 510));
    wait_configure(&mut b, "the resize", |k| k.width == 840 && k.height == 510);
    // Shown at the size it drew, once it drew it.
    let resized = comp.window("b").geometry;
    assert_eq!((resized.width, resized.height), (840, 510));
    let shot = comp.screenshot();
    assert_pixel(
        &shot,
        (
            (resized.x + resized.width as i32 - 2) as u32,
            (resized.y + resized.height as i32 - 2) as u32,
        ),
        GREEN,
        "the resized window is drawn at its new size",
    );

    // The close button asks the client to close; so does Alt+F4 for the focused window.
    let close = compose_shells::policy::close_button(title_bar(resized));
    assert_pixel(
        &shot,
        ((close.x + 4) as u32, (close.y + 4) as u32),
        rgba8(colors::CLOSE_BUTTON),
        "the close button",
    );
    comp.click((close.x + 4) as f64, (close.y + 4) as f64);
    b.wait_until("close from the button", WAIT, |s| s.windows[0].closed)
        .unwrap();
    comp.focused()
        .filter(|f| f == "b")
        .expect("B stays until its client closes it");
    comp.input(&keys::chord(&[KEY_LEFTALT], KEY_F4));
    b.state.windows[0].closed = false;
    b.wait_until("close from Alt+F4", WAIT, |s| s.windows[0].closed)
        .unwrap();
    assert!(
        !b.state.windows[0].keys.contains(&KEY_F4),
        "the binding is the shell's"
    );
}

#[test]
fn gaming_overlay_gamepad_navigation_and_throttled_frames() {
    let comp = Compositor::start("gaming", 640, 360);
    let mut a = comp.client();
    a.toplevel("a", "A", RED).unwrap();
    let mut b = comp.client();
    b.toplevel("b", "B", BLUE).unwrap();
    assert_eq!(comp.focused().as_deref(), Some("b"));

    // Both apps animate as fast as they are allowed for a while.
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1500) {
        for c in [&mut a, &mut b] {
            if !c.state.windows[0].frame_pending {
                c.animate(0);
            }
            c.dispatch_for(Duration::from_millis(2)).unwrap();
        }
    }
    let (slow, fast) = (a.state.windows[0].frames, b.state.windows[0].frames);
    assert!(
        fast >= 20 && fast >= slow * 2,
        "the focused app gets more frames: focused {fast}, unfocused {slow}"
    );

    // The Guide button shows the overlay bar over the app; again hides it.
    comp.key(BTN_MODE);
    let shot = comp.screenshot();
    assert_pixel(&shot, (320, 10), [0, 0, 102, 255], "blue under 60 % black");
    comp.key(BTN_MODE);
    assert_pixel(&comp.screenshot(), (320, 10), BLUE, "overlay hidden");
    // Super+G does the same from a keyboard.
    comp.input(&[
        InputEvent::Key {
            code: KEY_LEFTMETA,
            pressed: true,
        },
        InputEvent::Key {
            code: KEY_G,
            pressed: true,
        },
        InputEvent::Key {
            code: KEY_G,
            pressed: false,
        },
        InputEvent::Key {
            code: KEY_LEFTMETA,
            pressed: false,
        },
    ]);
    assert_pixel(
        &comp.screenshot(),
        (320, 10),
        [0, 0, 102, 255],
        "overlay by key",
    );

    // The d-pad switches apps.
    comp.key(BTN_DPAD_RIGHT);
    assert_eq!(comp.focused().as_deref(), Some("a"));
    wait_configure(&mut a, "activation", |k| k.has(ToplevelState::Activated));
    wait_configure(&mut b, "deactivation", |k| !k.has(ToplevelState::Activated));
    assert_pixel(
        &comp.screenshot(),
        (320, 300),
        RED,
        "the other app is shown",
    );
}

#[test]
fn tablet_touch_emulates_the_pointer_and_edge_swipes_switch_apps_and_go_home() {
    let comp = Compositor::start("tablet", 800, 600);
    let mut touch = comp.client();
    touch.toplevel("touch", "Touch", RED).unwrap();
    let mut plain = comp.client_without_touch();
    plain.toplevel("plain", "Plain", GREEN).unwrap();
    assert_eq!(comp.focused().as_deref(), Some("plain"));

    // An app without touch support gets a pointer click from a tap.
    comp.input(&[
        InputEvent::TouchDown {
            slot: 0,
            x: 400.0,
            y: 200.0,
        },
        InputEvent::TouchUp { slot: 0 },
    ]);
    plain
        .wait_until("an emulated click", WAIT, |s| {
            s.windows[0].buttons == [BTN_LEFT]
        })
        .unwrap();
    assert_eq!(plain.state.windows[0].touches, 0);

    // A swipe in from the left edge switches to the other app.
    comp.input(&[
        InputEvent::TouchDown {
            slot: 1,
            x: 4.0,
            y: 300.0,
        },
        InputEvent::TouchMotion {
            slot: 1,
            x: 60.0,
            y: 300.0,
        },
        InputEvent::TouchMotion {
            slot: 1,
            x: 140.0,
            y: 300.0,
        },
        InputEvent::TouchUp { slot: 1 },
    ]);
    assert_eq!(comp.focused().as_deref(), Some("touch"));
    assert_pixel(&comp.screenshot(), (400, 200), RED, "the switched-to app");

    // An app with wl_touch gets real touch events.
    comp.input(&[
        InputEvent::TouchDown {
            slot: 2,
            x: 400.0,
            y: 200.0,
        },
        InputEvent::TouchUp { slot: 2 },
    ]);
    touch
        .wait_until("a touch", WAIT, |s| s.windows[0].touches == 1)
        .unwrap();
    assert!(touch.state.windows[0].buttons.is_empty());

    // A swipe up from the bottom edge shows the home screen (the launcher's grid) over the
    // apps; Escape puts it away.
    let keyboard_top = 600 - (600.0 * KEYBOARD_SHARE) as u32;
    let mut menu = compose_shells::app_menu::AppMenu::default();
    menu.toggle();
    let above_keyboard = compose_shells::Rect {
        x: 0,
        y: 0,
        width: 800,
        height: keyboard_top,
    };
    let grid = menu
        .view(compose_shells::Layout::MaximizedStack, above_keyboard, None)
        .unwrap();
    let search = (grid.search.x as u32 + 2, grid.search.y as u32 + 2);
    comp.input(&[
        InputEvent::TouchDown {
            slot: 3,
            x: 400.0,
            y: 598.0,
        },
        InputEvent::TouchMotion {
            slot: 3,
            x: 400.0,
            y: 560.0,
        },
        InputEvent::TouchMotion {
            slot: 3,
            x: 400.0,
            y: 480.0,
        },
        InputEvent::TouchUp { slot: 3 },
    ]);
    assert_pixel(
        &comp.screenshot(),
        search,
        rgba8(colors::SEARCH),
        "the home screen's search field",
    );
    assert_eq!(
        touch.state.windows[0].touches, 1,
        "the swipe is the shell's"
    );
    comp.input(&[
        InputEvent::Key {
            code: KEY_ESC,
            pressed: true,
        },
        InputEvent::Key {
            code: KEY_ESC,
            pressed: false,
        },
    ]);
    assert_ne!(
        comp.screenshot().pixel(search.0, search.1),
        rgba8(colors::SEARCH),
        "Escape puts the home screen away"
    );

    // A tap on the bottom edge that does not swipe types the key under it.
    let keyboard = compose_shells::Rect {
        x: 0,
        y: keyboard_top as i32,
        width: 800,
        height: 600 - keyboard_top,
    };
    let space = compose_shells::keyboard::keys(keyboard)
        .into_iter()
        .find(|k| k.code == compose_shells::keyboard::SPACE)
        .unwrap()
        .rect;
    let edge_y = (space.y + space.height as i32 - 2) as f64;
    assert!(
        edge_y >= 600.0 - 16.0,
        "the space bar reaches the bottom edge"
    );
    comp.input(&[
        InputEvent::TouchDown {
            slot: 4,
            x: (space.x + space.width as i32 / 2) as f64,
            y: edge_y,
        },
        InputEvent::TouchUp { slot: 4 },
    ]);
    touch
        .wait_until("the space bar's key", WAIT, |s| {
            s.windows[0].keys.contains(&compose_shells::keyboard::SPACE)
        })
        .unwrap();
}

#[test]
fn subsurfaces_and_constrained_popups_are_composited() {
    let comp = Compositor::start("desktop", 1280, 720);
    let mut c = comp.client();
    let globals = c.globals().to_vec();
    for g in [
        "wl_compositor",
        "wl_subcompositor",
        "wl_shm",
        "xdg_wm_base",
        "zxdg_decoration_manager_v1",
        "zwlr_layer_shell_v1",
        "wl_seat",
        "wl_output",
        "zxdg_output_manager_v1",
        "wl_data_device_manager",
        "wp_viewporter",
        "wp_presentation",
    ] {
        assert!(
            globals.iter().any(|x| x == g),
            "{g} is offered: {globals:?}"
        );
    }
    let main = c.toplevel("main", "Main", RED).unwrap();
    c.subsurface(main, (10, 10), (40, 40), GREEN).unwrap();
    let w = comp.window("main");
    let origin = (w.geometry.x as u32, w.geometry.y as u32);
    let shot = comp.screenshot();
    assert_pixel(
        &shot,
        (origin.0 + 30, origin.1 + 30),
        GREEN,
        "the subsurface",
    );
    assert_pixel(&shot, (origin.0 + 100, origin.1 + 100), RED, "its parent");

    // A popup anchored near the window's right edge would run off the output: it is
    // flipped or slid back on.
    let anchor_x = w.geometry.width as i32 - 20;
    let popup = c
        .popup(main, (anchor_x, 100, 10, 10), (600, 200), BLUE)
        .unwrap();
    assert_eq!(
        comp.window("main").popups,
        1,
        "the popup is in the shell's World"
    );
    let (px, py, pw, ph) = c.state.windows[popup].popup_configure.unwrap();
    assert_eq!((pw, ph), (600, 200));
    let left = w.geometry.x + px;
    assert!(
        left >= 0 && left + pw <= 1280,
        "popup at x {left}..{} stays on the 1280-wide output",
        left + pw
    );
    let shot = comp.screenshot();
    let inside = ((left + pw / 2) as u32, (w.geometry.y + py + ph / 2) as u32);
    assert_pixel(&shot, inside, BLUE, "the popup, above its parent");

    // A menu (a popup with a grab) stays for clicks on its own client's surfaces and is
    // dismissed by a click anywhere else.
    comp.click(origin.0 as f64 + 200.0, origin.1 as f64 + 300.0);
    c.roundtrip().unwrap();
    let menu = c.menu(main, (20, 20, 10, 10), (100, 60), GREEN).unwrap();
    comp.click(origin.0 as f64 + 300.0, origin.1 as f64 + 300.0);
    c.roundtrip().unwrap();
    assert!(
        !c.state.windows[menu].closed,
        "a click on its own window keeps it"
    );
    comp.click(1200.0, 650.0); // the empty background
    c.wait_until("popup_done", WAIT, |s| s.windows[menu].closed)
        .unwrap();
}

#[test]
fn misbehaving_clients_get_protocol_errors_and_the_rest_keeps_running() {
    let comp = Compositor::start("desktop", 800, 600);
    let mut good = comp.client();
    good.toplevel("good", "Good", GREEN).unwrap();

    let mut bad = comp.client();
    bad.misbehave_buffer_larger_than_pool().unwrap();
    let e = bad.read_protocol_error(WAIT).expect("a protocol error");
    assert_eq!(e.object_interface, "wl_shm_pool", "{e}");

    let mut bad = comp.client();
    bad.misbehave_buffer_before_configure().unwrap();
    let e = bad.read_protocol_error(WAIT).expect("a protocol error");
    assert_eq!(e.object_interface, "xdg_surface", "{e}");

    let mut bad = comp.client();
    bad.open("orphan", "Orphan", RED);
    bad.misbehave_destroy_wm_base_first().unwrap();
    let e = bad.read_protocol_error(WAIT).expect("a protocol error");
    // xdg_wm_base.error.defunct_surfaces (the object itself is gone, so unnamed).
    assert_eq!(e.code, 1, "{e}");

    // Legal but absurd: coordinates at the ends of i32, a buffer larger than any
    // texture, a move request without a held button. Nothing breaks; the move is ignored.
    let mut odd = comp.client();
    let win = odd.toplevel("odd", "Odd", RED).unwrap();
    odd.misbehave_extreme_coordinates(win).unwrap();
    odd.misbehave_huge_buffer(win).unwrap();
    odd.roundtrip().unwrap();
    let before = comp.window("odd").geometry;
    odd.misbehave_move_without_a_press(win).unwrap();
    odd.roundtrip().unwrap();
    comp.input(&[InputEvent::PointerMotion { x: 700.0, y: 500.0 }]);
    assert_eq!(
        comp.window("odd").geometry,
        before,
        "no grab without a press"
    );
    comp.screenshot();
    drop(odd);

    // A flood of requests never read back: the compositor copes (whatever happens to the
    // flooding client), and an abrupt disconnect removes its window.
    let mut flood = comp.client();
    flood.toplevel("flood", "Flood", RED).unwrap();
    flood.misbehave_flood(200_000).unwrap();
    drop(flood);
    let start = Instant::now();
    while comp.windows().iter().any(|w| w.app_id != "good") {
        assert!(start.elapsed() < WAIT, "{:?}", comp.windows());
        std::thread::sleep(Duration::from_millis(20));
    }

    // The good client is unharmed: it still gets frames, and is still drawn.
    good.commit_to_frame(0).expect("a frame callback");
    good.roundtrip().unwrap();
    let w = comp.window("good");
    assert!(w.focused);
    assert_pixel(&comp.screenshot(), center(&w), GREEN, "the good client");
}

/// linux-dmabuf refuses what it cannot read: a plain file offered as a dma-buf gets
/// `failed`, a format it does not offer the protocol's `invalid_format` error; the
/// compositor and its other clients carry on.
/// Real dma-bufs (DRM dumb buffers) are shown in the VM: tests/display.rs.
#[test]
fn a_file_that_is_not_a_dma_buf_is_refused_and_nothing_breaks() {
    use std::os::fd::AsFd;
    let comp = Compositor::start("desktop", 800, 600);
    let mut good = comp.client();
    good.toplevel("good", "Good", GREEN).unwrap();

    let mut bad = comp.client();
    let file = tempfile::tempfile().unwrap();
    file.set_len(64 * 64 * 4).unwrap();
    let made = bad
        .offer_dmabuf(file.as_fd(), (64, 64), 64 * 4, compose_testclient::ARGB8888)
        .unwrap();
    assert!(!made, "a plain file is not a dma-buf");
    bad.roundtrip().unwrap();

    let nv12 = u32::from_le_bytes(*b"NV12");
    let e = match bad.offer_dmabuf(file.as_fd(), (64, 64), 64, nv12) {
        Err(ClientError::Disconnected(Some(e))) => e,
        other => panic!("NV12 is not offered, yet: {other:?}"),
    };
    assert_eq!(
        (e.object_interface.as_str(), e.code),
        ("zwp_linux_buffer_params_v1", 4),
        "invalid_format: {e}"
    );

    good.commit_to_frame(0).expect("a frame callback");
    let w = comp.window("good");
    assert_pixel(&comp.screenshot(), center(&w), GREEN, "the good client");
}

#[test]
fn decorations_presentation_viewports_panels_and_the_clipboard() {
    let comp = Compositor::start("desktop", 1280, 720);
    let mut a = comp.client();
    let win = a.toplevel("a", "A", RED).unwrap();

    // xdg-decoration, negotiated: the test client asked for server side when it opened
    // (title bar drawn by the shell); asking for client side takes the shell's bar away, so
    // a client that draws its own never shows two.
    assert_eq!(
        a.decorate(win, DecorationMode::ClientSide).unwrap(),
        DecorationMode::ClientSide
    );
    let start = Instant::now();
    loop {
        let w = comp.window("a");
        let bar = (w.geometry.x as u32 + 20, (w.geometry.y - 10).max(0) as u32);
        if comp.screenshot().pixel(bar.0, bar.1) == rgba8(colors::BACKGROUND) {
            break;
        }
        assert!(
            start.elapsed() < WAIT,
            "the shell still draws a title bar: {w:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        a.decorate(win, DecorationMode::ServerSide).unwrap(),
        DecorationMode::ServerSide
    );

    // presentation-time: a commit is reported presented, at 60 Hz.
    match a.present(win).unwrap() {
        Presentation::Presented {
            refresh_ns,
            sequence,
        } => {
            assert!(
                (16_600_000..16_700_000).contains(&refresh_ns),
                "{refresh_ns}"
            );
            assert!(sequence > 0);
        }
        Presentation::Discarded => panic!("a visible window's frame was discarded"),
    }

    // viewporter: the 800x480 buffer shown at 400x240.
    a.set_viewport(win, (400, 240)).unwrap();
    let w = comp.window("a");
    let (x, y) = (w.geometry.x as u32, w.geometry.y as u32);
    let shot = comp.screenshot();
    assert_pixel(&shot, (x + 390, y + 230), RED, "inside the viewport");
    assert_pixel(
        &shot,
        (x + 420, y + 260),
        rgba8(colors::BACKGROUND),
        "outside the viewport",
    );

    // wlr-layer-shell: a 30-pixel panel on top; windows keep out of its exclusive zone.
    a.panel(30, BLUE).unwrap();
    assert_pixel(&comp.screenshot(), (1000, 10), BLUE, "the panel");
    comp.swap("tablet");
    let keyboard = (720.0 * KEYBOARD_SHARE) as i32;
    let start = Instant::now();
    // The slot between panel and keyboard; the 400x240 viewport is centered in it.
    let slot = 720 - 30 - keyboard;
    while comp.window("a").configured.1 as i32 != slot {
        assert!(start.elapsed() < WAIT, "{:?}", comp.window("a"));
        std::thread::sleep(Duration::from_millis(10));
    }
    let g = comp.window("a").geometry;
    assert_eq!(
        (g.y, g.height as i32),
        (30 + (slot - 240) / 2, 240),
        "{g:?}"
    );
    comp.swap("desktop");

    // The clipboard: B copies, A gets the selection once it has the keyboard, and pastes.
    let mut b = comp.client();
    b.toplevel("b", "B", GREEN).unwrap();
    b.wait_until("keyboard focus", WAIT, |s| s.windows[0].keyboard_focus)
        .unwrap();
    b.copy("hello from b").unwrap();
    // A's left edge, which B (cascaded one step right and down) does not cover.
    let g = comp.window("a").geometry;
    comp.click(g.x as f64 + 10.0, g.y as f64 + 50.0);
    assert_eq!(comp.focused().as_deref(), Some("a"));
    a.wait_until("the selection offered to the focused client", WAIT, |s| {
        s.has_selection()
    })
    .unwrap();
    let mut pipe = a.paste().unwrap();
    // B writes when it handles the compositor's `send`: read on the side meanwhile.
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut pipe, &mut text).map(|_| text)
    });
    let start = Instant::now();
    while !reader.is_finished() {
        assert!(start.elapsed() < WAIT, "B never wrote the clipboard");
        b.dispatch_for(Duration::from_millis(20)).unwrap();
    }
    assert_eq!(reader.join().unwrap().unwrap(), "hello from b");
}

/// Clients on their own threads, handling events all the time like real apps.
struct Running {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<JoinHandle<Client>>,
}

impl Running {
    fn start(comp: &Compositor, colors: &[[u8; 4]]) -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut threads = Vec::new();
        for (i, color) in colors.iter().copied().enumerate() {
            let mut c = comp.client();
            c.toplevel(&format!("app{i}"), "App", color).unwrap();
            let stop = stop.clone();
            threads.push(std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    c.dispatch_for(Duration::from_millis(2)).unwrap();
                }
                c
            }));
        }
        Self { stop, threads }
    }

    fn stop(self) -> Vec<Client> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect()
    }
}

#[test]
fn a_swap_is_shown_only_once_every_window_redrew_for_the_new_shell() {
    let (w, h) = (640, 360);
    let comp = Compositor::start("desktop", w, h);
    let running = Running::start(&comp, &[RED, GREEN, BLUE]);
    // The screenshot is asked for right after the swap, before any client could redraw:
    // it shows the first frame of the new shell, with every window at its new size.
    comp.swap("gaming");
    let shot = comp.screenshot();
    for corner in [(0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1)] {
        assert_pixel(&shot, corner, BLUE, "the focused app fills the output");
    }
    comp.swap("tablet");
    let keyboard = (h as f32 * KEYBOARD_SHARE) as u32;
    let shot = comp.screenshot();
    assert_pixel(
        &shot,
        (w - 1, h - keyboard - 1),
        BLUE,
        "maximized to the keyboard's edge",
    );
    assert_pixel(
        &shot,
        (w - 1, h - 1),
        rgba8(colors::KEYBOARD),
        "the keyboard area",
    );
    comp.swap("desktop");
    let shot = comp.screenshot();
    // Where it is shown once it redrew (the screenshot waited for that).
    let top = comp.window("app2");
    let corner = (
        (top.geometry.x + top.geometry.width as i32 - 1) as u32,
        (top.geometry.y + top.geometry.height as i32 - 1) as u32,
    );
    assert_pixel(&shot, corner, BLUE, "back to the floating size");
    for mut c in running.stop() {
        c.roundtrip().expect("still connected");
    }
}

#[test]
fn the_screen_blanks_when_idle_unless_a_shown_window_inhibits_it() {
    let comp = Compositor::start_with("gaming", 320, 180, |o| {
        o.blank_after = Some(Duration::from_secs(1));
    });
    let mut c = comp.client();
    c.toplevel("video", "Video", GREEN).unwrap();
    let inhibitor = c.inhibit_idle(0).unwrap();
    // Well past the idle time: a video keeps the screen on.
    std::thread::sleep(Duration::from_secs(2));
    assert_pixel(&comp.screenshot(), (160, 90), GREEN, "kept on by the video");
    drop(inhibitor);
    c.roundtrip().unwrap();
    let black = [0, 0, 0, 255];
    let start = Instant::now();
    while !close_to(comp.screenshot().pixel(160, 90), black) {
        assert!(start.elapsed() < WAIT, "the screen did not blank");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Any input brings it back.
    comp.input(&[InputEvent::PointerMotion { x: 10.0, y: 10.0 }]);
    assert_pixel(&comp.screenshot(), (160, 90), GREEN, "back after input");
}

#[test]
fn a_sandboxed_client_sees_no_privileged_globals_and_its_window_is_marked() {
    let comp = Compositor::start("desktop", 1280, 720);
    let mut engine = comp.client();
    assert!(engine.globals().iter().any(|g| g == "zwlr_layer_shell_v1"));
    let socket = comp.dir.path().join("sandboxed-0");
    let opened = engine
        .sandbox_socket(&socket, "org.compose.sandbox", "notes")
        .unwrap();
    let mut app = Client::connect(comp.dir.path(), "sandboxed-0").unwrap();
    for hidden in [
        "zwlr_layer_shell_v1",
        "wp_security_context_manager_v1",
        "zwp_input_method_manager_v2",
    ] {
        assert!(
            !app.globals().iter().any(|g| g == hidden),
            "{hidden} offered to a sandboxed client"
        );
    }
    app.toplevel("notes", "Notes", GREEN).unwrap();
    assert_eq!(
        comp.window("notes").sandbox.as_deref(),
        Some("org.compose.sandbox/notes")
    );
    engine.toplevel("host", "Host", BLUE).unwrap();
    assert_eq!(comp.window("host").sandbox, None);
    // The sandbox closes its socket: no new clients through it.
    drop(opened);
    engine.roundtrip().unwrap();
    let start = Instant::now();
    while Client::connect(comp.dir.path(), "sandboxed-0").is_ok() {
        assert!(
            start.elapsed() < WAIT,
            "the sandbox's socket still accepts clients"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Its running app keeps its window.
    app.roundtrip().unwrap();
}

#[test]
fn output_scale_two_doubles_every_pixel() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("scaled");
    let (control, commands) = channel();
    let gaming = builtin().into_iter().find(|s| s.name == "gaming").unwrap();
    let options = Options {
        scale: 2,
        ..Options::headless(socket.to_str().unwrap(), gaming, 320, 180)
    };
    let thread = std::thread::spawn(move || run(options, commands));
    while !socket.exists() {
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut c = Client::connect(dir.path(), "scaled").unwrap();
    c.toplevel("app", "App", GREEN).unwrap();
    assert_eq!(
        c.state.windows[0]
            .last_configure()
            .map(|k| (k.width, k.height)),
        Some((320, 180)),
        "sizes are logical"
    );
    let (reply, answer) = mpsc::channel();
    control.send(Command::Screenshot(reply)).unwrap();
    let image = answer.recv_timeout(WAIT).unwrap().unwrap();
    assert_eq!((image.width, image.height), (640, 360), "physical pixels");
    assert_pixel(
        &image,
        (639, 359),
        GREEN,
        "a 1x buffer covers the doubled output",
    );
    control.send(Command::Stop).unwrap();
    thread.join().unwrap().unwrap();
}

#[test]
fn maximized_and_fullscreen_windows_cover_what_they_should() {
    let (w, h) = (1280, 720);
    let comp = Compositor::start("desktop", w, h);
    let mut c = comp.client();
    c.toplevel("video", "Video", BLUE).unwrap();

    c.set_maximized(0, true);
    let work = h - TASKBAR - TITLE_BAR;
    wait_configure(&mut c, "maximized", |k| {
        k.has(ToplevelState::Maximized) && (k.width, k.height) == (w as i32, work as i32)
    });
    let shot = comp.screenshot();
    assert_pixel(
        &shot,
        (w - 1, TITLE_BAR + 1),
        BLUE,
        "the whole width below the title bar",
    );
    assert_pixel(
        &shot,
        (w / 2, TITLE_BAR / 2),
        rgba8(colors::TITLE_FOCUSED),
        "its title bar",
    );

    c.set_fullscreen(0, true);
    wait_configure(&mut c, "fullscreen", |k| {
        k.has(ToplevelState::Fullscreen) && (k.width, k.height) == (w as i32, h as i32)
    });
    let shot = comp.screenshot();
    for corner in [(0, 0), (w - 1, h - 1)] {
        assert_pixel(
            &shot,
            corner,
            BLUE,
            "fullscreen covers title bar and task bar",
        );
    }

    // The configures back and in the gaming shell: `one_loop.rs`.
}

// The task bar's launchers: a button per app, drawn at its left end; a click starts the app
// in this shell (here Debian's weston-simple-shm), whose window then has a task bar entry.
#[test]
fn a_task_bar_launcher_starts_its_app_in_the_shell() {
    let c = Compositor::start_with("desktop", 800, 600, |o| {
        o.launchers = vec![compose_shells::compositor::Launcher {
            name: "Squares".into(),
            command: vec!["weston-simple-shm".into()],
        }];
    });
    // The button, in the launcher colour, at the task bar's left end after the start button.
    let left = compose_shells::policy::START_WIDTH + 8;
    let button = (
        (left + compose_shells::policy::LAUNCHER_WIDTH / 2) as f64,
        600.0 - TASKBAR as f64 / 2.0,
    );
    let shot = c.screenshot();
    assert_pixel(
        &shot,
        (left + 2, 600 - TASKBAR + 6),
        rgba8(colors::LAUNCHER),
        "the launcher button",
    );
    assert!(c.windows().is_empty());
    c.click(button.0, button.1);
    let start = Instant::now();
    while !c
        .windows()
        .iter()
        .any(|w| w.title == "simple-shm" && w.buffer.is_some())
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no window from the launched app"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // A click beside the buttons starts nothing more.
    c.click(400.0, 600.0 - TASKBAR as f64 / 2.0);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(c.windows().len(), 1);
}

/// Review: a client that made many `wl_surface`s and left froze the compositor for a time
/// that grew with the square of their number (smithay kept every surface in a list it searched
/// on each destroy; third_party/smithay/PATCHES.md). Now teardown is linear, whether the client
/// disconnects or destroys them one by one, and a client that asks for more surfaces than
/// `MAX_SURFACES_PER_CLIENT` is disconnected with `no_memory`. Other clients carry on.
#[test]
fn a_client_with_many_surfaces_neither_stalls_the_shell_nor_holds_more_than_its_share() {
    let comp = Compositor::start("desktop", 800, 600);
    let mut good = comp.client();
    good.toplevel("good", "Good", GREEN).unwrap();
    let many = MAX_SURFACES_PER_CLIENT - 10;

    let mut leaving = comp.client();
    leaving.misbehave_many_surfaces(many, false).unwrap();
    leaving
        .roundtrip()
        .expect("held under the limit, the client stays");
    let started = Instant::now();
    drop(leaving);
    comp.windows();
    eprintln!(
        "{many} surfaces: the shell answered {:?} after their client left",
        started.elapsed()
    );

    let mut tidy = comp.client();
    let started = Instant::now();
    tidy.misbehave_many_surfaces(many, true).unwrap();
    tidy.roundtrip().unwrap();
    eprintln!(
        "{many} surfaces made and destroyed one by one in {:?}",
        started.elapsed()
    );
    // Destroyed surfaces no longer count: the same client can make as many again.
    tidy.misbehave_many_surfaces(many, false).unwrap();
    tidy.roundtrip()
        .expect("destroyed surfaces are not counted");
    drop(tidy);

    held_to(
        &comp,
        MAX_SURFACES_PER_CLIENT,
        Client::misbehave_many_surfaces,
    );

    good.commit_to_frame(0)
        .expect("the good client still gets frames");
    let w = comp.window("good");
    assert_pixel(&comp.screenshot(), center(&w), GREEN, "the good client");
}

// Review: nothing limited how many buffers one client holds. Past `MAX_BUFFERS_PER_CLIENT` it
// is disconnected with `no_memory`; destroyed buffers do not count; others carry on.
#[test]
fn a_client_with_many_buffers_is_held_to_its_share() {
    let comp = Compositor::start("desktop", 800, 600);
    let mut good = comp.client();
    good.toplevel("good", "Good", GREEN).unwrap();

    let mut tidy = comp.client();
    tidy.misbehave_many_buffers(MAX_BUFFERS_PER_CLIENT + 10, true)
        .unwrap();
    tidy.roundtrip().expect("destroyed buffers are not counted");
    drop(tidy);

    held_to(
        &comp,
        MAX_BUFFERS_PER_CLIENT,
        Client::misbehave_many_buffers,
    );

    good.commit_to_frame(0)
        .expect("the good client still gets frames");
}

/// A new client may hold `limit` objects that `make` makes; one more ends it with
/// `wl_display.error` `no_memory` (a libwayland client sees ENOMEM).
fn held_to(
    comp: &Compositor,
    limit: usize,
    make: fn(&mut Client, usize, bool) -> Result<(), ClientError>,
) {
    let mut greedy = comp.client();
    make(&mut greedy, limit, false).unwrap();
    greedy.roundtrip().expect("the limit itself is allowed");
    let _ = make(&mut greedy, 1, false);
    assert!(greedy.roundtrip().is_err(), "one more ends the client");
    assert!(greedy.ended_for_no_memory(), "wl_display.error no_memory");
}

fn count(image: &Image, color: [u8; 4]) -> usize {
    (0..image.height)
        .flat_map(|y| (0..image.width).map(move |x| (x, y)))
        .filter(|&(x, y)| image.pixel(x, y) == color)
        .count()
}

/// The desktop's task bar entries as the policy lays them out for windows `a` (bottom)
/// and `b`, with `minimized` minimized.
fn task_entries(minimized: &[&str]) -> Vec<compose_shells::policy::TaskEntry> {
    let def = builtin().into_iter().find(|s| s.name == "desktop").unwrap();
    let mut shell = compose_shells::Shell::new(def, 800, 600);
    for name in ["a", "b"] {
        let id = shell.add_window(name, &name.to_uppercase());
        if minimized.contains(&name) {
            shell.minimize(id);
        }
    }
    shell
        .chrome()
        .into_iter()
        .find_map(|c| match c {
            compose_shells::Chrome::Taskbar { entries, .. } => Some(entries),
            _ => None,
        })
        .unwrap()
}

/// The shell's title bar above a decorated window shown at `g`.
fn title_bar(g: compose_shells::Rect) -> compose_shells::Rect {
    compose_shells::Rect {
        x: g.x,
        y: g.y - TITLE_BAR as i32,
        width: g.width,
        height: TITLE_BAR,
    }
}

fn rect_centre(r: compose_shells::Rect) -> (f64, f64) {
    (
        r.x as f64 + r.width as f64 / 2.0,
        r.y as f64 + r.height as f64 / 2.0,
    )
}

// Desktop window handling: the title bar's minimize and maximize buttons, the task bar's
// entries (a click restores and raises a window, or minimizes the focused one), and
// Super+Up/Down/Left/Right (maximize, minimize, snap to a half).
#[test]
fn desktop_windows_minimize_maximize_snap_and_come_back_from_the_task_bar() {
    let comp = Compositor::start("desktop", 800, 600);
    let mut a = comp.client();
    a.toplevel("a", "A", RED).unwrap();
    let mut b = comp.client();
    b.toplevel("b", "B", GREEN).unwrap();
    assert_eq!(comp.focused().as_deref(), Some("b"));
    assert!(count(&comp.screenshot(), GREEN) > 1000);

    // The minimize button: B goes, A has the focus, B keeps its task bar entry.
    let g = comp.window("b").geometry;
    let bar = title_bar(g);
    comp.click_at(rect_centre(compose_shells::policy::minimize_button(bar)));
    assert!(comp.window("b").minimized);
    assert_eq!(comp.focused().as_deref(), Some("a"));
    assert_eq!(
        count(&comp.screenshot(), GREEN),
        0,
        "a minimized window is drawn"
    );
    a.wait_until("the keyboard", WAIT, |s| s.windows[0].keyboard_focus)
        .unwrap();

    // Its task bar entry (first: minimized windows sink to the bottom) brings it back on
    // top, focused; a click on the focused window's entry minimizes it again.
    let entries = task_entries(&["b"]);
    assert_eq!(
        (entries[0].title.as_str(), entries[0].minimized),
        ("B", true)
    );
    let shot = comp.screenshot();
    assert_pixel(
        &shot,
        (entries[0].rect.x as u32 + 2, entries[0].rect.y as u32 + 2),
        rgba8(colors::TASK_MINIMIZED),
        "the minimized window's entry",
    );
    comp.click_at(rect_centre(entries[0].rect));
    assert!(!comp.window("b").minimized);
    assert_eq!(comp.focused().as_deref(), Some("b"));
    assert!(count(&comp.screenshot(), GREEN) > 1000);
    let entries = task_entries(&[]);
    let b_entry = entries.iter().find(|e| e.title == "B").unwrap().rect;
    comp.click_at(rect_centre(b_entry));
    assert!(comp.window("b").minimized);
    comp.click_at(rect_centre(task_entries(&["b"])[0].rect));
    assert_eq!(comp.focused().as_deref(), Some("b"));

    // Super+Up maximizes the focused window below its title bar, and again restores it.
    let work = (800, (600 - TASKBAR - TITLE_BAR) as i32);
    let restored = (g.width as i32, g.height as i32);
    let super_key = |code| comp.input(&keys::chord(&[KEY_LEFTMETA], code));
    super_key(KEY_UP);
    wait_configure(&mut b, "maximized", |k| (k.width, k.height) == work);
    super_key(KEY_UP);
    wait_configure(&mut b, "restored", |k| (k.width, k.height) == restored);
    // Super+Left and Super+Right: each half of the work area.
    super_key(KEY_LEFT);
    wait_configure(&mut b, "the left half", |k| {
        (k.width, k.height) == (400, work.1)
    });
    b.dispatch_for(Duration::from_millis(50)).unwrap();
    comp.windows();
    assert_eq!(comp.window("b").geometry.x, 0);
    super_key(KEY_RIGHT);
    b.dispatch_for(Duration::from_millis(50)).unwrap();
    let start = Instant::now();
    while comp.window("b").geometry.x != 400 {
        assert!(
            start.elapsed() < WAIT,
            "not snapped right: {:?}",
            comp.window("b")
        );
        b.dispatch_for(Duration::from_millis(20)).unwrap();
    }
    // The maximize button, then Super+Down minimizes.
    let bar = title_bar(comp.window("b").geometry);
    comp.click_at(rect_centre(compose_shells::policy::maximize_button(bar)));
    wait_configure(&mut b, "maximized by the button", |k| {
        (k.width, k.height) == work
    });
    super_key(KEY_DOWN);
    assert!(comp.window("b").minimized);
    assert_eq!(comp.focused().as_deref(), Some("a"));
}

// Shortcuts are the shell definition's: this one binds maximize to Ctrl+Alt+M, drops
// Super+Up (which then reaches the app like any key) and starts a program on Super+Return.
#[test]
fn a_definitions_shortcuts_change_the_defaults_and_start_programs() {
    const KEY_M: u32 = 50;
    const KEY_ENTER: u32 = 28;
    let scratch = tempfile::tempdir().unwrap();
    let started = scratch.path().join("started");
    let text = format!(
        "[shell]\nname = \"keys\"\nsummary = \"a desktop with other keys\"\nlayout = \"floating\"\n\
         parts = [\"title-bars\", \"taskbar\"]\n\
         [shell.keys]\n\"Super+Up\" = \"none\"\n\"Ctrl+Alt+M\" = \"maximize\"\n\
         [shell.run]\n\"Super+Return\" = [\"touch\", \"{}\"]\n",
        started.display()
    );
    let def = compose_shells::definition::parse("keys.toml", &text).unwrap();
    compose_shells::shortcut::check(&def).unwrap();
    let comp = Compositor::start_with("desktop", 800, 600, |o| o.shell = def);
    let mut b = comp.client();
    b.toplevel("b", "B", GREEN).unwrap();
    b.wait_until("the keyboard", WAIT, |s| s.windows[0].keyboard_focus)
        .unwrap();
    let work = (800, (600 - TASKBAR - TITLE_BAR) as i32);

    comp.input(&keys::chord(&[KEY_LEFTCTRL, KEY_LEFTALT], KEY_M));
    wait_configure(&mut b, "maximized by Ctrl+Alt+M", |k| {
        (k.width, k.height) == work
    });
    assert!(
        !b.state.windows[0].keys.contains(&KEY_M),
        "the shortcut is the shell's"
    );
    comp.input(&keys::chord(&[KEY_LEFTMETA], KEY_UP));
    b.wait_until("Super+Up reaches the app", WAIT, |s| {
        s.windows[0].keys.contains(&KEY_UP)
    })
    .unwrap();
    assert_eq!(
        b.state.windows[0]
            .last_configure()
            .map(|k| (k.width, k.height)),
        Some(work),
        "Super+Up no longer restores"
    );
    comp.input(&keys::chord(&[KEY_LEFTMETA], KEY_ENTER));
    let start = Instant::now();
    while !started.exists() {
        assert!(start.elapsed() < WAIT, "Super+Return started nothing");
        b.dispatch_for(Duration::from_millis(20)).unwrap();
    }
}

// Alt+Tab on the desktop: the switcher lists the windows while Alt is held (most recently
// used first, the previous one selected), Tab walks on, and releasing Alt focuses the
// selection; the focus does not move before.
#[test]
fn alt_tab_shows_a_switcher_and_focuses_the_selection_when_alt_is_released() {
    let comp = Compositor::start("desktop", 800, 600);
    let mut clients = Vec::new();
    for (name, color) in [("a", RED), ("b", GREEN), ("c", BLUE)] {
        let mut c = comp.client();
        c.toplevel(name, &name.to_uppercase(), color).unwrap();
        clients.push(c);
    }
    assert_eq!(comp.focused().as_deref(), Some("c"));
    let key = |code, pressed| InputEvent::Key { code, pressed };
    comp.input(&[
        key(KEY_LEFTALT, true),
        key(KEY_TAB, true),
        key(KEY_TAB, false),
        key(KEY_TAB, true),
        key(KEY_TAB, false),
    ]);
    // Three rows, centred: the panel in the menu colour; the focus has not moved yet.
    let rows = 3 * compose_shells::switcher::ROW_HEIGHT + 16;
    let panel = (
        (800 - compose_shells::switcher::WIDTH) / 2,
        (600 - rows) / 2,
    );
    assert_pixel(
        &comp.screenshot(),
        (panel.0 + 2, panel.1 + 2),
        rgba8(colors::MENU),
        "the switcher",
    );
    assert_eq!(comp.focused().as_deref(), Some("c"));
    comp.input(&[key(KEY_LEFTALT, false)]);
    // c, b, a: two steps from c.
    assert_eq!(comp.focused().as_deref(), Some("a"));
    assert_ne!(
        comp.screenshot().pixel(panel.0 + 2, panel.1 + 2),
        rgba8(colors::MENU),
        "the switcher stays after Alt"
    );
    let mut all: Vec<&mut Client> = clients.iter_mut().collect();
    pump(&mut all);
    for c in &all {
        assert!(
            !c.state.windows[0].keys.contains(&KEY_TAB),
            "Tab reached a client"
        );
    }
}
