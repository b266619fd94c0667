//! The shells' parts end to end, on the headless compositor with a private dbus-daemon:
//! notifications (the shell's notification server, Debian's `notify-send` as the sender,
//! clicks as input events, answers as D-Bus signals), the status area's clock, and the
//! launcher (desktop entries in a folder, opened by the Super key, the start button or a
//! gamepad's Start, typed into, apps started on the shell's socket), and the lock screen
//! (our test client as the app that must see nothing while locked).

mod keys;

use std::io::Read;
use std::process::{Child, Command as Process, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use compose_shell_policy::notifications::{self, Notifications, Popup, Request};
use compose_shells::app_menu::{AppMenu, MenuApp};
use compose_shells::compositor::colors::{self, rgba8};
use compose_shells::compositor::input::BTN_LEFT;
use compose_shells::compositor::{Command, CompositorError, InputEvent, Options, WindowInfo, run};
use compose_shells::definition::Layout;
use compose_shells::definition::builtin;
use compose_shells::policy::{Rect, START_WIDTH, STATUS_WIDTH, TASKBAR};
use compose_shells::render::Image;
use smithay::reexports::calloop::channel::{Sender, channel};

const WAIT: Duration = Duration::from_secs(10);
const SIZE: (u32, u32) = (1280, 720);

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A session bus of our own, the compositor on a thread, its notification server on the bus.
struct Desktop {
    control: Sender<Command>,
    thread: Option<JoinHandle<Result<(), CompositorError>>>,
    bus: String,
    connection: zbus::blocking::Connection,
    _daemon: Killed,
    _dir: tempfile::TempDir,
}

/// The Wayland socket's name in the desktop's folder.
const SOCKET: &str = "wayland-test";

impl Desktop {
    fn start(shell: &str) -> Desktop {
        Self::start_with(shell, |_| {})
    }

    /// Like `start`, with `change` applied to the options.
    fn start_with(shell: &str, change: impl FnOnce(&mut Options)) -> Desktop {
        let dir = tempfile::tempdir().unwrap();
        let bus_socket = dir.path().join("bus");
        let bus = format!("unix:path={}", bus_socket.display());
        let daemon = Killed(
            Process::new("dbus-daemon")
                .args(["--session", "--nofork", "--address", &bus])
                .stderr(Stdio::null())
                .spawn()
                .expect("dbus-daemon (Debian package dbus) is installed by scripts/setup"),
        );
        wait_for("the bus", || {
            std::os::unix::net::UnixStream::connect(&bus_socket).is_ok()
        });
        let connection = zbus::blocking::connection::Builder::address(bus.as_str())
            .unwrap()
            .build()
            .unwrap();
        let (control, commands) = channel();
        let signals = compose_shells::notifications::serve(&connection, control.clone())
            .unwrap()
            .expect("nobody else serves notifications on a private bus");
        let def = builtin().into_iter().find(|s| s.name == shell).unwrap();
        let socket = dir.path().join(SOCKET);
        let mut options = Options {
            notifications: Some(signals),
            ..Options::headless(socket.to_str().unwrap(), def, SIZE.0, SIZE.1)
        };
        change(&mut options);
        let thread = std::thread::spawn(move || run(options, commands));
        wait_for("the compositor", || socket.exists());
        Desktop {
            control,
            thread: Some(thread),
            bus,
            connection,
            _daemon: daemon,
            _dir: dir,
        }
    }

    fn ask<T>(&self, make: impl FnOnce(mpsc::Sender<T>) -> Command) -> T {
        let (reply, answer) = mpsc::channel();
        self.control.send(make(reply)).unwrap();
        answer.recv_timeout(WAIT).expect("the compositor answers")
    }

    fn screenshot(&self) -> Image {
        self.ask(Command::Screenshot).expect("screenshot")
    }

    fn input(&self, events: &[InputEvent]) {
        for e in events {
            self.control.send(Command::Input(*e)).unwrap();
        }
        self.ask(Command::Windows);
    }

    /// Presses and releases each key (evdev codes) in turn.
    fn keys(&self, codes: &[u32]) {
        for &code in codes {
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
    }

    fn windows(&self) -> Vec<WindowInfo> {
        self.ask(Command::Windows)
    }

    fn click(&self, (x, y): (f64, f64)) {
        for e in [
            InputEvent::PointerMotion { x, y },
            InputEvent::PointerButton {
                button: BTN_LEFT,
                pressed: true,
            },
            InputEvent::PointerButton {
                button: BTN_LEFT,
                pressed: false,
            },
        ] {
            self.control.send(Command::Input(e)).unwrap();
        }
        self.ask(Command::Windows);
    }

    /// `notify-send ARGS` on this bus, its output piped.
    fn notify_send(&self, args: &[&str]) -> Child {
        Process::new("notify-send")
            .args(args)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus)
            .env("XDG_RUNTIME_DIR", self._dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("notify-send (Debian package libnotify-bin) is installed by scripts/setup")
    }

    fn call<R: serde::de::DeserializeOwned + zbus::zvariant::Type>(
        &self,
        method: &str,
        body: &(impl serde::Serialize + zbus::zvariant::DynamicType),
    ) -> zbus::Result<R> {
        self.connection
            .call_method(
                Some(notifications_bus::NAME),
                notifications_bus::PATH,
                Some(notifications_bus::NAME),
                method,
                body,
            )?
            .body()
            .deserialize()
    }
}

mod notifications_bus {
    pub const NAME: &str = compose_shells::notifications::BUS_NAME;
    pub const PATH: &str = compose_shells::notifications::OBJECT_PATH;
}

impl Drop for Desktop {
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

fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Where the shell lays out popups for these requests, newest first: the policy's own
/// layout, so the test clicks where the shell draws.
fn layout(requests: &[Request]) -> Vec<Popup> {
    let mut n = Notifications::default();
    for r in requests {
        n.notify(r.clone(), Instant::now()).unwrap();
    }
    n.popups(Rect {
        x: 0,
        y: 0,
        width: SIZE.0,
        height: SIZE.1,
    })
}

fn centre(r: Rect) -> (f64, f64) {
    (
        r.x as f64 + r.width as f64 / 2.0,
        r.y as f64 + r.height as f64 / 2.0,
    )
}

/// Keeps a screenshot for the README when COMPOSE_SCREENSHOTS names a folder
/// (`COMPOSE_SCREENSHOTS=docs/screenshots cargo test -p compose-shells --test parts`).
fn keep(shot: &Image, name: &str) {
    if let Some(dir) = std::env::var_os("COMPOSE_SCREENSHOTS") {
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        shot.write_png(&dir.join(format!("{name}.png"))).unwrap();
    }
}

/// Colours match within rounding (renderers round premultiplied values their own way).
fn close(a: [u8; 4], b: [u8; 4]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 2)
}

#[track_caller]
fn assert_color(image: &Image, (x, y): (u32, u32), expected: [f32; 4], what: &str) {
    let got = image.pixel(x, y);
    assert!(
        close(got, rgba8(expected)),
        "{what}: pixel ({x}, {y}) is {got:?}, expected {:?}",
        rgba8(expected)
    );
}

fn shows_popup_at(image: &Image, rect: Rect) -> bool {
    // The top right corner of the box: no text reaches it.
    close(
        image.pixel((rect.x + rect.width as i32 - 3) as u32, (rect.y + 3) as u32),
        rgba8(colors::NOTIFICATION),
    )
}

fn output(child: Child) -> (bool, String) {
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

// notify-send shows a popup with its actions; a click on an action reaches the sender
// (ActionInvoked, printed by notify-send) and closes the popup; a swap keeps what is open.
#[test]
fn notify_send_shows_a_popup_whose_action_reaches_the_sender() {
    let desktop = Desktop::start("desktop");
    let mut sender = desktop.notify_send(&[
        "--app-name=Mail",
        "--action=archive=Archive",
        "--action=reply=Reply",
        "New mail",
        "From: <b>ada</b> &amp; friends",
    ]);
    let popups = layout(&[Request {
        summary: "New mail".into(),
        body: "From: ada & friends".into(),
        actions: ["archive", "Archive", "reply", "Reply"]
            .map(String::from)
            .to_vec(),
        expire_timeout: -1,
        ..Request::default()
    }]);
    let popup = &popups[0];
    assert_eq!(popup.buttons.len(), 2);
    wait_for("the popup", || {
        shows_popup_at(&desktop.screenshot(), popup.rect)
    });
    let shot = desktop.screenshot();
    keep(&shot, "desktop-notification");
    let (_, _, reply) = &popup.buttons[1];
    assert_color(
        &shot,
        (reply.x as u32 + 2, reply.y as u32 + 2),
        colors::ACTION,
        "the Reply button",
    );
    // Text was drawn in the box (the summary line): some pixel there is not the box's.
    let text_drawn = (popup.rect.x + 12..popup.rect.x + 200).any(|x| {
        (popup.rect.y + 8..popup.rect.y + 30)
            .any(|y| shot.pixel(x as u32, y as u32) != rgba8(colors::NOTIFICATION))
    });
    assert!(text_drawn, "no summary text in the popup");

    // Swaps keep it.
    let tablet = builtin().into_iter().find(|s| s.name == "tablet").unwrap();
    desktop.ask(|done| Command::Swap(tablet, done));
    wait_for("the popup in the tablet shell", || {
        shows_popup_at(&desktop.screenshot(), popup.rect)
    });

    desktop.click(centre(*reply));
    let start = Instant::now();
    while sender.try_wait().unwrap().is_none() {
        assert!(
            start.elapsed() < WAIT,
            "notify-send did not hear the action"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut printed = String::new();
    sender
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut printed)
        .unwrap();
    assert_eq!(printed.trim(), "reply");
    wait_for("the popup to go", || {
        !shows_popup_at(&desktop.screenshot(), popup.rect)
    });
}

// The spec's other calls and signals: capabilities and server information; a timeout
// closes a popup (reason 1); CloseNotification closes one (reason 3) and a replacement
// keeps its id; a sender that floods is refused after a burst while the shell keeps
// answering, and shows no more than a few popups.
#[test]
fn the_server_follows_the_spec_and_bounds_what_senders_do() {
    let desktop = Desktop::start("desktop");
    let caps: Vec<String> = desktop.call("GetCapabilities", &()).unwrap();
    assert!(caps.contains(&"actions".to_string()), "{caps:?}");
    let info: (String, String, String, String) = desktop.call("GetServerInformation", &()).unwrap();
    assert_eq!((info.0.as_str(), info.3.as_str()), ("compose-shell", "1.2"));

    let closed = zbus::blocking::MessageIterator::for_match_rule(
        zbus::MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .interface(notifications_bus::NAME)
            .unwrap()
            .member("NotificationClosed")
            .unwrap()
            .build(),
        &desktop.connection,
        None,
    )
    .unwrap();
    let (closed_tx, closed_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for m in closed.flatten() {
            if let Ok(ids) = m.body().deserialize::<(u32, u32)>()
                && closed_tx.send(ids).is_err()
            {
                break;
            }
        }
    });

    // A short timeout: closed by the shell as expired.
    let (ok, printed) = output(desktop.notify_send(&["--print-id", "--expire-time=300", "Short"]));
    assert!(ok, "{printed}");
    let short: u32 = printed.trim().parse().unwrap();
    let (id, reason) = closed_rx.recv_timeout(WAIT).expect("NotificationClosed");
    assert_eq!((id, reason), (short, 1));

    // Replaced in place, then closed by a call.
    let notify = |replaces: u32, summary: &str| -> zbus::Result<u32> {
        desktop.call(
            "Notify",
            &(
                "test",
                replaces,
                "",
                summary,
                "body",
                Vec::<String>::new(),
                std::collections::HashMap::<String, zbus::zvariant::Value>::new(),
                0i32,
            ),
        )
    };
    let kept = notify(0, "Kept").unwrap();
    assert_eq!(notify(kept, "Kept, replaced").unwrap(), kept);
    desktop.call::<()>("CloseNotification", &(kept,)).unwrap();
    assert_eq!(closed_rx.recv_timeout(WAIT).unwrap(), (kept, 3));

    // A flood from one sender: refused after a burst, with a D-Bus error that says why.
    let mut refused = None;
    let mut accepted = 0;
    for i in 0..40 {
        match notify(0, &format!("Flood {i}")) {
            Ok(_) => accepted += 1,
            Err(e) => refused = Some(e.to_string()),
        }
    }
    assert!(
        accepted < 40 && accepted >= notifications::BURST as usize - 2,
        "{accepted} accepted"
    );
    let refused = refused.expect("a flood is refused");
    assert!(refused.contains("LimitsExceeded"), "{refused}");
    assert!(refused.contains("burst"), "{refused}");
    // Another sender still gets through, and the shell still draws: at most a few popups,
    // none below the last place one fits.
    let (ok, printed) = output(desktop.notify_send(&["Someone else"]));
    assert!(ok, "{printed}");
    let shot = desktop.screenshot();
    let many: Vec<Request> = (0..notifications::MAX_POPUPS + 1)
        .map(|_| Request {
            summary: "Flood".into(),
            body: "body".into(),
            expire_timeout: 0,
            ..Request::default()
        })
        .collect();
    let shown = layout(&many);
    assert_eq!(shown.len(), notifications::MAX_POPUPS);
    let below = shown.last().unwrap().rect;
    let free = (
        (below.x + below.width as i32 - 3) as u32,
        (below.y + below.height as i32 + 20) as u32,
    );
    assert_color(
        &shot,
        free,
        colors::BACKGROUND,
        "no popup below the last that fits",
    );
}

// The status part: the clock at the right end of the task bar, drawn as text.
#[test]
fn the_desktop_shows_a_clock_at_the_right_end_of_the_task_bar() {
    let desktop = Desktop::start("desktop");
    let shot = desktop.screenshot();
    let top = SIZE.1 - TASKBAR;
    let left = SIZE.0 - STATUS_WIDTH;
    let text = (left..SIZE.0)
        .flat_map(|x| (top..SIZE.1).map(move |y| (x, y)))
        .filter(|&(x, y)| shot.pixel(x, y) != rgba8(colors::TASKBAR))
        .count();
    assert!(text > 40, "{text} pixels of text in the status area");
}

/// evdev codes the launcher test types.
const KEY_LEFTMETA: u32 = 125;
const KEY_S: u32 = 31;
const KEY_Q: u32 = 16;
const KEY_U: u32 = 22;
const KEY_ENTER: u32 = 28;
const BTN_SOUTH: u32 = 0x130;
const BTN_START: u32 = 0x13b;

/// Desktop entries as an image or a distribution has them, a malformed one among them.
fn applications(dir: &std::path::Path) -> Vec<compose_shells::autostart::App> {
    let entries = [
        (
            "squares",
            "[Desktop Entry]\nType=Application\nName=Squares\nExec=weston-simple-shm\nIcon=squares\n",
        ),
        (
            "game",
            "[Desktop Entry]\nType=Application\nName=Zed Squares\nExec=weston-simple-shm\nCategories=Game;\n",
        ),
        (
            "missing",
            "[Desktop Entry]\nType=Application\nName=Missing\nExec=/nonexistent/program --flag\nIcon=broken\n",
        ),
        ("broken", "[Desktop Entry]\nName=Broken, no Exec\n"),
        (
            "helper",
            "[Desktop Entry]\nType=Application\nName=Helper\nExec=true\nNoDisplay=true\n",
        ),
    ];
    std::fs::create_dir_all(dir).unwrap();
    for (name, text) in entries {
        std::fs::write(dir.join(format!("{name}.desktop")), text).unwrap();
    }
    std::fs::write(dir.join("binary.desktop"), [0xff, 0xfe, 0x00]).unwrap();
    // Icons in a theme folder: Squares' a red PNG, Missing's a file that is not a PNG.
    let icons = dir.join("hicolor/48x48/apps");
    std::fs::create_dir_all(&icons).unwrap();
    Image {
        width: 48,
        height: 48,
        rgba: [255, 0, 0, 255].repeat(48 * 48),
    }
    .write_png(&icons.join("squares.png"))
    .unwrap();
    std::fs::write(icons.join("broken.png"), b"not a png").unwrap();
    compose_shells::autostart::read_dirs(&[dir.to_path_buf()])
}

/// The menu the shell shows for `apps` on the desktop, opened with `query` typed.
fn menu_view(
    apps: &[compose_shells::autostart::App],
    query: &str,
) -> compose_shells::app_menu::MenuView {
    menu_in(apps, query, Layout::Floating)
}

/// The same in a shell of `layout` (a grid over the output unless floating).
fn menu_in(
    apps: &[compose_shells::autostart::App],
    query: &str,
    layout: Layout,
) -> compose_shells::app_menu::MenuView {
    let mut menu = AppMenu::default();
    menu.set_apps(
        apps.iter()
            .filter(|a| !a.no_display)
            .map(|a| MenuApp {
                name: a.title.clone(),
                categories: a.categories.clone(),
            })
            .collect(),
    );
    menu.toggle();
    query.chars().for_each(|c| menu.type_char(c));
    let output = Rect {
        x: 0,
        y: 0,
        width: SIZE.0,
        height: SIZE.1,
    };
    let bar = Rect {
        y: (SIZE.1 - TASKBAR) as i32,
        height: TASKBAR,
        ..output
    };
    let bar = (layout == Layout::Floating).then_some(bar);
    // The tablet's grid stops above its on-screen keyboard.
    let area = match layout {
        Layout::MaximizedStack => Rect {
            height: SIZE.1 - (SIZE.1 as f32 * compose_shells::policy::KEYBOARD_SHARE) as u32,
            ..output
        },
        _ => output,
    };
    menu.view(layout, area, bar).unwrap()
}

fn wait_windows(desktop: &Desktop, count: usize) {
    wait_for(&format!("{count} windows with buffers"), || {
        let w = desktop.windows();
        w.len() == count && w.iter().all(|w| w.buffer.is_some())
    });
}

// The launcher: desktop entries become a menu (malformed and NoDisplay ones left out); Super
// opens it, typing narrows it, Enter starts the app as a window; the start button opens it
// too, and an app that cannot start says why in a notification; in the gaming shell a
// gamepad's Start opens the grid (games first) and A starts the selected app.
#[test]
fn the_launcher_starts_desktop_entries_by_search_click_and_gamepad() {
    let folder = tempfile::tempdir().unwrap();
    let apps = applications(folder.path());
    let mut titles: Vec<&str> = apps.iter().map(|a| a.title.as_str()).collect();
    titles.sort();
    assert_eq!(titles, ["Helper", "Missing", "Squares", "Zed Squares"]);
    let icon_dir = folder.path().join("hicolor");
    let desktop = Desktop::start_with("desktop", |o| {
        o.apps = apps.clone();
        o.icon_dirs = vec![icon_dir];
    });

    let start_button = (
        4.0 + START_WIDTH as f64 / 2.0,
        (SIZE.1 - TASKBAR / 2) as f64,
    );
    let shot = desktop.screenshot();
    assert_color(
        &shot,
        (6, SIZE.1 - TASKBAR + 6),
        colors::START,
        "the start button",
    );

    // Super alone opens the menu, listing every app but the hidden one.
    desktop.keys(&[KEY_LEFTMETA]);
    let all = menu_view(&apps, "");
    assert_eq!(all.items.len(), 3);
    let shot = desktop.screenshot();
    assert_color(
        &shot,
        (all.rect.x as u32 + 2, all.rect.y as u32 + 2),
        colors::MENU,
        "the open menu",
    );
    keep(&shot, "desktop-launcher");
    // Squares shows its icon from the theme; Missing, whose icon is no PNG, a letter tile.
    let tile = |name: &str| {
        let r = all.items.iter().find(|i| i.name == name).unwrap().rect;
        shot.pixel(r.x as u32 + 6 + 14, r.y as u32 + 4 + 14)
    };
    assert_eq!(tile("Squares"), RED, "the icon from the theme");
    assert_ne!(tile("Missing"), RED);
    // "squ" leaves the two Squares, the selected one first; Enter starts it.
    desktop.keys(&[KEY_S, KEY_Q, KEY_U]);
    let narrowed = menu_view(&apps, "squ");
    assert_eq!(narrowed.items.len(), 2);
    let shot = desktop.screenshot();
    let selected = narrowed.items.iter().find(|i| i.selected).unwrap();
    assert_eq!(selected.name, "Squares");
    assert_color(
        &shot,
        (selected.rect.x as u32 + 1, selected.rect.y as u32 + 1),
        colors::SELECTED,
        "the selected app",
    );
    desktop.keys(&[KEY_ENTER]);
    wait_windows(&desktop, 1);
    assert_eq!(desktop.windows()[0].title, "simple-shm");

    // The start button opens it again; a click on an app that cannot start shows why.
    desktop.click(start_button);
    let missing = all.items.iter().find(|i| i.name == "Missing").unwrap();
    desktop.click(centre(missing.rect));
    let popup = layout(&[Request {
        summary: "Missing did not start".into(),
        body: "/nonexistent/program --flag: No such file or directory (os error 2)".into(),
        expire_timeout: -1,
        ..Request::default()
    }])
    .remove(0);
    wait_for("the notification that Missing did not start", || {
        shows_popup_at(&desktop.screenshot(), popup.rect)
    });

    // The gaming shell: Start opens the grid, games first; A starts the selected game.
    let gaming = builtin().into_iter().find(|s| s.name == "gaming").unwrap();
    desktop.ask(|done| Command::Swap(gaming, done));
    desktop.keys(&[BTN_START]);
    let grid = menu_in(&apps, "", Layout::FocusedFullscreen);
    assert!(grid.grid);
    let shot = desktop.screenshot();
    assert_color(
        &shot,
        (grid.search.x as u32 + 2, grid.search.y as u32 + 2),
        colors::SEARCH,
        "the grid's search field",
    );
    let first = &grid.items[0];
    assert!(first.selected);
    assert_eq!(first.name, "Zed Squares", "games first");
    assert_color(
        &shot,
        (first.rect.x as u32 + 1, first.rect.y as u32 + 1),
        colors::SELECTED,
        "the selected game",
    );
    keep(&shot, "gaming-home");
    desktop.keys(&[BTN_SOUTH]);
    wait_windows(&desktop, 2);

    // The tablet shell: Super opens the same grid over the apps.
    let tablet = builtin().into_iter().find(|s| s.name == "tablet").unwrap();
    desktop.ask(|done| Command::Swap(tablet, done));
    desktop.keys(&[KEY_LEFTMETA]);
    let grid = menu_in(&apps, "", Layout::MaximizedStack);
    let shot = desktop.screenshot();
    assert_color(
        &shot,
        (grid.search.x as u32 + 2, grid.search.y as u32 + 2),
        colors::SEARCH,
        "the tablet's grid",
    );
    keep(&shot, "tablet-home");
}

// Shells that show one app at a time have a home screen: with no app's window the gaming
// shell shows its library (the launcher's grid, games first) at once, puts it away when the
// game's window comes, and shows it again when the last window goes.
#[test]
fn the_gaming_shell_shows_its_library_while_no_app_runs() {
    let folder = tempfile::tempdir().unwrap();
    let apps = applications(folder.path());
    let desktop = Desktop::start_with("gaming", |o| o.apps = apps.clone());
    let grid = menu_in(&apps, "", Layout::FocusedFullscreen);
    let search = (grid.search.x as u32 + 2, grid.search.y as u32 + 2);
    assert_eq!(grid.items[0].name, "Zed Squares", "games first");
    assert_color(
        &desktop.screenshot(),
        search,
        colors::SEARCH,
        "the library at start",
    );
    // A starts the selected game: its window replaces the library.
    desktop.keys(&[BTN_SOUTH]);
    wait_windows(&desktop, 1);
    wait_for("the library put away", || {
        !close(
            desktop.screenshot().pixel(search.0, search.1),
            rgba8(colors::SEARCH),
        )
    });
    // The game quits (Alt+F4 asks it to close): the library again.
    desktop.input(&keys::chord(&[KEY_LEFTALT], KEY_F4));
    wait_windows(&desktop, 0);
    wait_for("the library again", || {
        close(
            desktop.screenshot().pixel(search.0, search.1),
            rgba8(colors::SEARCH),
        )
    });
}

const KEY_LEFTALT: u32 = 56;
const KEY_F4: u32 = 62;
const KEY_L: u32 = 38;
const KEY_LEFTSHIFT: u32 = 42;
/// evdev codes of "correct horse", and of a wrong guess.
const CORRECT_HORSE: [u32; 13] = [46, 24, 19, 19, 18, 46, 20, 57, 35, 24, 19, 31, 18];
const WRONG: [u32; 5] = [17, 19, 24, 49, 34];
/// "correct horse" hashed by the system's crypt(3) (libxcrypt's yescrypt, Debian's default).
const YESCRYPT: &str = "$y$j9T$Zq1zW8kP2mJ0n4Xb7cYdE/$VoLoxGVG3IqGwLxn2Saon69Uw/zL5D1SJirlRf1HLc.";
const RED: [u8; 4] = [255, 0, 0, 255];

fn red_pixels(image: &Image) -> usize {
    (0..image.height)
        .flat_map(|y| (0..image.width).map(move |x| (x, y)))
        .filter(|&(x, y)| image.pixel(x, y) == RED)
        .count()
}

/// A desktop whose lock checks `tester`'s password ("correct horse") in a shadow file of its
/// own (with `nopass`, whose account is locked), our test client's red window on it, focused.
struct LockedOut {
    desktop: Desktop,
    app: compose_testclient::Client,
    shadow: std::path::PathBuf,
    _folder: tempfile::TempDir,
}

fn desktop_with_a_password() -> LockedOut {
    let folder = tempfile::tempdir().unwrap();
    let shadow = folder.path().join("shadow");
    std::fs::write(
        &shadow,
        format!("tester:{YESCRYPT}:19000:0:99999:7:::\nnopass:!:19000::::::\n"),
    )
    .unwrap();
    let lock = compose_shells::compositor::LockOptions {
        shadow: shadow.clone(),
        user: "tester".into(),
    };
    let desktop = Desktop::start_with("desktop", |o| o.lock = lock);
    let mut app = compose_testclient::Client::connect(desktop._dir.path(), SOCKET).unwrap();
    app.toplevel("app", "App", RED).unwrap();
    app.wait_until("the keyboard", WAIT, |s| s.windows[0].keyboard_focus)
        .unwrap();
    LockedOut {
        desktop,
        app,
        shadow,
        _folder: folder,
    }
}

/// Types the password and Enter until the app's red window is back on screen (Enter is
/// refused while the back-off of a wrong password runs), then waits for the app to have
/// the keyboard again.
fn unlock_with_the_password(desktop: &Desktop, app: &mut compose_testclient::Client) {
    let start = Instant::now();
    loop {
        desktop.keys(&CORRECT_HORSE);
        desktop.keys(&[KEY_ENTER]);
        let unlocked = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(100));
            red_pixels(&desktop.screenshot()) > 1000
        });
        if unlocked {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the password never unlocked"
        );
    }
    app.wait_until("the keyboard back", WAIT, |s| s.windows[0].keyboard_focus)
        .unwrap();
}

// The built-in lock screen: Super+L locks; the screen shows no app pixels, the app loses the
// keyboard and gets neither typed keys nor clicks; a wrong password is refused and backs off;
// the right one unlocks and gives the app its keyboard back. A swap while locked stays locked.
// Without a password that can be checked the shell refuses to lock, and says why.
#[test]
fn the_lock_screen_hides_apps_takes_all_input_and_unlocks_with_the_password() {
    let LockedOut {
        desktop,
        mut app,
        shadow,
        _folder,
    } = desktop_with_a_password();
    let window = desktop.windows()[0].clone();
    assert!(red_pixels(&desktop.screenshot()) > 1000);

    desktop.input(&[
        InputEvent::Key {
            code: KEY_LEFTMETA,
            pressed: true,
        },
        InputEvent::Key {
            code: KEY_L,
            pressed: true,
        },
        InputEvent::Key {
            code: KEY_L,
            pressed: false,
        },
        InputEvent::Key {
            code: KEY_LEFTMETA,
            pressed: false,
        },
    ]);
    let shot = desktop.screenshot();
    assert_eq!(red_pixels(&shot), 0, "app content shows on the lock screen");
    assert_color(&shot, (5, 5), colors::LOCK, "the lock screen");
    keep(&shot, "lock");
    app.wait_until("the keyboard taken", WAIT, |s| !s.windows[0].keyboard_focus)
        .unwrap();

    // Nothing typed or clicked reaches the app; a swap does not unlock.
    desktop.keys(&WRONG);
    desktop.click(centre(Rect {
        x: window.geometry.x,
        y: window.geometry.y,
        width: window.geometry.width,
        height: window.geometry.height,
    }));
    let gaming = builtin().into_iter().find(|s| s.name == "gaming").unwrap();
    desktop.ask(|done| Command::Swap(gaming, done));
    desktop.keys(&[KEY_ENTER]);
    // The wrong password's check runs off the loop: the shell answers meanwhile.
    desktop.windows();
    std::thread::sleep(Duration::from_millis(1500));
    app.dispatch_for(Duration::from_millis(100)).unwrap();
    // Super was the app's (pressed before the lock); nothing after it.
    assert_eq!(
        app.state.windows[0].keys,
        [KEY_LEFTMETA],
        "keys reached the app"
    );
    assert!(app.state.windows[0].buttons.is_empty());
    assert_eq!(red_pixels(&desktop.screenshot()), 0, "still locked");

    // The right password, typed with a Shift on the way (modifiers are not text).
    desktop.input(&[
        InputEvent::Key {
            code: KEY_LEFTSHIFT,
            pressed: true,
        },
        InputEvent::Key {
            code: KEY_LEFTSHIFT,
            pressed: false,
        },
    ]);
    unlock_with_the_password(&desktop, &mut app);
    assert_eq!(
        app.state.windows[0].keys,
        [KEY_LEFTMETA],
        "the password reached the app"
    );

    // A user whose password cannot be checked: no lock, and the reason.
    let nobody = Desktop::start_with("desktop", |o| {
        o.lock = compose_shells::compositor::LockOptions {
            shadow,
            user: "nopass".into(),
        }
    });
    let refused = nobody.ask(Command::Lock).unwrap_err();
    assert!(refused.contains("passwd nopass"), "{refused}");
    assert_ne!(
        nobody.screenshot().pixel(5, 5),
        rgba8(colors::LOCK),
        "locked without a way to unlock"
    );
}

// An external locker (Debian's swaylock, through ext-session-lock-v1): its screen fills the
// output and no app pixel shows; typed keys go to it, not to the app. Killed, it leaves the
// session locked (the protocol's rule), behind the built-in lock screen, which the user's
// password unlocks.
#[test]
fn swaylock_locks_and_a_locker_that_dies_leaves_the_session_locked() {
    let LockedOut {
        desktop,
        mut app,
        _folder,
        ..
    } = desktop_with_a_password();

    let swaylock = || {
        Killed(
            Process::new("swaylock")
                .args(["--color", "3366cc", "--no-unlock-indicator"])
                .env("WAYLAND_DISPLAY", desktop._dir.path().join(SOCKET))
                .env("XDG_RUNTIME_DIR", desktop._dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("swaylock (Debian package swaylock) is installed by scripts/setup"),
        )
    };
    let blue = [0x33, 0x66, 0xcc, 0xff];
    let shows_swaylock = || {
        let shot = desktop.screenshot();
        shot.pixel(5, 5) == blue && shot.pixel(SIZE.0 - 5, SIZE.1 - 5) == blue
    };
    let mut locker = swaylock();
    wait_for("swaylock's screen", shows_swaylock);
    assert_eq!(
        red_pixels(&desktop.screenshot()),
        0,
        "app content shows under swaylock"
    );
    app.wait_until("the keyboard taken", WAIT, |s| !s.windows[0].keyboard_focus)
        .unwrap();
    desktop.keys(&WRONG);
    app.dispatch_for(Duration::from_millis(100)).unwrap();
    assert!(
        app.state.windows[0].keys.is_empty(),
        "keys reached the app under swaylock"
    );

    // The locker dies: still locked, now behind the built-in lock screen; another locker
    // can take over, and die too.
    for _ in 0..2 {
        drop(locker);
        wait_for("the built-in lock screen", || {
            close(desktop.screenshot().pixel(5, 5), rgba8(colors::LOCK))
        });
        assert_eq!(
            red_pixels(&desktop.screenshot()),
            0,
            "a dead locker unlocked the session"
        );
        locker = swaylock();
        wait_for("a second swaylock's screen", shows_swaylock);
    }
    drop(locker);
    wait_for("the built-in lock screen", || {
        close(desktop.screenshot().pixel(5, 5), rgba8(colors::LOCK))
    });
    unlock_with_the_password(&desktop, &mut app);
    assert!(
        app.state.windows[0].keys.is_empty(),
        "{:?}",
        app.state.windows[0].keys
    );
}

// Settings that last: a wallpaper set shows at once, bad values and layouts XKB does not
// know are refused with the reason (and not kept), swaps keep the settings, and the next
// shell on the same file starts with them.
#[test]
fn settings_apply_at_once_are_checked_and_outlive_the_shell() {
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("var/lib/compose/shell.toml");
    let set = |desktop: &Desktop, key: &str, value: &str| {
        let (key, value) = (key.to_string(), value.to_string());
        desktop.ask(|reply| Command::Set(key, value, reply))
    };
    let teal = [0x33, 0x66, 0x99, 0xff];
    let middle = (SIZE.0 / 2, SIZE.1 / 2);
    {
        let desktop = Desktop::start_with("desktop", |o| o.settings = Some(file.clone()));
        set(&desktop, "wallpaper", "#336699").unwrap();
        assert_eq!(desktop.screenshot().pixel(middle.0, middle.1), teal);
        let e = set(&desktop, "wallpaper", "blue").unwrap_err();
        assert!(e.contains("#rrggbb"), "{e}");
        let e = set(&desktop, "keyboard-layout", "nosuchlayout").unwrap_err();
        assert!(e.contains("XKB has no such layout"), "{e}");
        set(&desktop, "keyboard-layout", "de").unwrap();
        set(&desktop, "lock-after", "300").unwrap();
        let e = set(&desktop, "volume", "11").unwrap_err();
        assert!(e.contains("unknown setting"), "{e}");
        let all = desktop.ask(Command::Settings);
        assert!(
            all.contains(&("keyboard-layout".into(), "de".into())),
            "{all:?}"
        );
        assert!(
            all.contains(&("lock-after".into(), "300".into())),
            "{all:?}"
        );
        let tablet = builtin().into_iter().find(|s| s.name == "tablet").unwrap();
        desktop.ask(|done| Command::Swap(tablet, done));
        assert_eq!(
            desktop.screenshot().pixel(SIZE.0 / 2, 100),
            teal,
            "the wallpaper after a swap"
        );
    }
    let kept = std::fs::read_to_string(&file).unwrap();
    assert!(kept.contains("wallpaper = \"#336699\""), "{kept}");
    assert!(!kept.contains("nosuchlayout"), "{kept}");
    let again = Desktop::start_with("desktop", |o| o.settings = Some(file.clone()));
    assert_eq!(again.screenshot().pixel(middle.0, middle.1), teal);
    assert!(
        again
            .ask(Command::Settings)
            .contains(&("keyboard-layout".into(), "de".into()))
    );
}
