//! The compatibility matrix: apps nobody here wrote, from Debian packages (scripts/setup
//! installs them), each connected to the headless compositor with Xwayland, checked
//! through desktop -> gaming -> tablet -> desktop (drawn by the CPU renderer, as on a
//! device without a GPU): its window is there with the same id,
//! its client still runs, its pixels are on screen, and it has exactly one title bar
//! (the shell's only when the client let the shell decorate it).

use std::process::Child;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use compose_shells::autostart;
use compose_shells::compositor::colors::{BACKGROUND, rgba8};
use compose_shells::compositor::cursor::arrow_pixel;
use compose_shells::compositor::input::BTN_LEFT;
use compose_shells::compositor::{
    Command, CompositorError, InputEvent, Options, WindowInfo, run_with,
};
use compose_shells::definition::builtin;
use compose_shells::policy::{KEYBOARD_SHARE, Rect, TITLE_BAR};
use compose_shells::render::Image;
use smithay::reexports::calloop::channel::{Sender, channel};

/// Toolkits start slowly on a loaded machine with software rendering.
const APP_WAIT: Duration = Duration::from_secs(90);
const WAIT: Duration = Duration::from_secs(10);
const SIZE: (u32, u32) = (1024, 768);

/// One app of the matrix.
struct App {
    /// The command line.
    command: &'static [&'static str],
    /// The Debian package that ships it (for the failure message).
    package: &'static str,
    /// Its window's app id (X11: WM_CLASS) or title contains this.
    window: &'static str,
    /// The shell draws its title bar: the client asked for server-side decorations (or,
    /// under X11, did not turn them off). Everything else draws its own.
    decorated_by_shell: bool,
}

/// A compositor with Xwayland on its own thread, and the apps it runs.
struct Session {
    control: Sender<Command>,
    thread: Option<JoinHandle<Result<(), CompositorError>>>,
    dir: tempfile::TempDir,
    socket: String,
    x_display: Option<u32>,
    apps: Vec<Child>,
}

impl Session {
    fn start(shell: &str) -> Session {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir
            .path()
            .join("wayland-apps")
            .to_str()
            .unwrap()
            .to_string();
        let (control, commands) = channel();
        let def = builtin().into_iter().find(|s| s.name == shell).unwrap();
        let options = Options {
            xwayland: true,
            // As on a device's screen: screenshots show the cursor.
            draw_cursor: true,
            // As on a device without a GPU: every app's pixels go through pixman.
            renderer: compose_shells::render::RendererChoice::Cpu,
            swap_wait: Duration::from_secs(3),
            ..Options::headless(socket.clone(), def, SIZE.0, SIZE.1)
        };
        let (ready, x) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            run_with(options, commands, move |x_display| {
                let _ = ready.send(x_display);
            })
        });
        let x_display = x
            .recv_timeout(Duration::from_secs(60))
            .expect("the compositor starts");
        assert!(
            x_display.is_some(),
            "Xwayland did not start: install the xwayland package (scripts/setup does)"
        );
        Session {
            control,
            thread: Some(thread),
            dir,
            socket,
            x_display,
            apps: Vec::new(),
        }
    }

    /// Starts `app` the way the shell starts apps, with its output in a log file.
    fn launch(&mut self, app: &App) {
        let (program, args) = app.command.split_first().unwrap();
        let log = std::fs::File::create(self.dir.path().join("app.log")).unwrap();
        let child = autostart::command(program, &self.socket, self.x_display)
            .args(args)
            .current_dir(self.dir.path())
            .env("XDG_RUNTIME_DIR", self.dir.path())
            .env("HOME", self.dir.path())
            .env("LANG", "C.UTF-8")
            // No sound card in a test: SDL and Chromium must not wait for one.
            .env("SDL_AUDIODRIVER", "dummy")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {program}: {e} (install the Debian package {}, scripts/setup does)", app.package)
            });
        self.apps.push(child);
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("app.log")).unwrap_or_default()
    }

    fn ask<T>(&self, make: impl FnOnce(mpsc::Sender<T>) -> Command) -> T {
        let (reply, answer) = mpsc::channel();
        self.control.send(make(reply)).unwrap();
        answer.recv_timeout(WAIT).expect("the compositor answers")
    }

    fn windows(&self) -> Vec<WindowInfo> {
        self.ask(Command::Windows)
    }

    fn screenshot(&self) -> Image {
        self.ask(Command::Screenshot).expect("screenshot")
    }

    fn swap(&self, name: &str) {
        let def = builtin().into_iter().find(|s| s.name == name).unwrap();
        self.ask(|done| Command::Swap(def, done));
    }

    fn input(&self, events: &[InputEvent]) {
        for e in events {
            self.control.send(Command::Input(*e)).unwrap();
        }
        self.windows();
    }

    fn alive(&mut self) -> bool {
        self.apps
            .iter_mut()
            .all(|c| c.try_wait().ok().flatten().is_none())
    }

    /// Waits up to `limit` for `check` to hold, failing with `what` and the app's log.
    fn wait(&mut self, what: &str, limit: Duration, mut check: impl FnMut(&Session) -> bool) {
        let start = Instant::now();
        loop {
            if check(self) {
                return;
            }
            assert!(
                self.alive(),
                "the app exited while waiting for {what}; its log:\n{}",
                self.log()
            );
            assert!(
                start.elapsed() < limit,
                "timed out waiting for {what}; windows: {:?}; app log:\n{}",
                self.windows(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        for mut child in self.apps.drain(..) {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = self.control.send(Command::Stop);
        if let Some(thread) = self.thread.take() {
            let result = thread.join().expect("the compositor thread did not panic");
            if !std::thread::panicking() {
                result.expect("the compositor ran without error");
            }
        }
    }
}

fn find<'a>(windows: &'a [WindowInfo], app: &App) -> Option<&'a WindowInfo> {
    let wanted = app.window.to_lowercase();
    windows.iter().find(|w| {
        w.app_id.to_lowercase().contains(&wanted) || w.title.to_lowercase().contains(&wanted)
    })
}

/// How many colours other than the shell's background the window's part of the screen
/// shows (up to 16 counted): an app that drew something shows at least two.
fn colours(image: &Image, w: &WindowInfo) -> usize {
    let background = rgba8(BACKGROUND);
    let g = w.geometry;
    let x0 = g.x.max(0) as u32;
    let y0 = g.y.max(0) as u32;
    let x1 = (g.x + g.width as i32).clamp(0, image.width as i32) as u32;
    let y1 = (g.y + g.height as i32).clamp(0, image.height as i32) as u32;
    let mut seen: Vec<[u8; 4]> = Vec::new();
    for y in (y0..y1).step_by(3) {
        for x in (x0..x1).step_by(3) {
            let p = image.pixel(x, y);
            if p != background && !seen.contains(&p) {
                seen.push(p);
                if seen.len() >= 16 {
                    return seen.len();
                }
            }
        }
    }
    seen.len()
}

/// The app's window with its pixels on screen, in the shell on screen now.
fn shown(session: &mut Session, app: &App, shell: &str) -> WindowInfo {
    let mut last = None;
    session.wait(
        &format!("{}'s window drawn in the {shell} shell", app.window),
        APP_WAIT,
        |s| {
            let windows = s.windows();
            let Some(w) = find(&windows, app).filter(|w| w.buffer.is_some()) else {
                return false;
            };
            let drawn = colours(&s.screenshot(), w) >= 2;
            last = Some(w.clone());
            drawn
        },
    );
    last.unwrap()
}

/// Runs `app` through every shell and checks it at each step.
fn check(app: &App) {
    let mut session = Session::start("desktop");
    session.launch(app);
    let first = shown(&mut session, app, "desktop");
    assert_eq!(
        first.configured.2.decorated,
        app.decorated_by_shell,
        "{}: the shell's title bar is {} but the app {} its own",
        app.window,
        if first.configured.2.decorated {
            "drawn"
        } else {
            "not drawn"
        },
        if app.decorated_by_shell {
            "does not draw"
        } else {
            "draws"
        }
    );
    if first.configured.2.decorated {
        // The title bar sits right above the window, as wide as what it drew.
        assert!(first.geometry.y >= TITLE_BAR as i32, "{first:?}");
    }
    for shell in ["gaming", "tablet", "desktop"] {
        session.swap(shell);
        let now = shown(&mut session, app, shell);
        assert_eq!(
            now.id, first.id,
            "{}: the window survives the swap to {shell}",
            app.window
        );
        assert!(
            session.alive(),
            "{} exited after the swap to {shell}",
            app.window
        );
    }
    assert_eq!(
        session
            .windows()
            .iter()
            .filter(|w| find(std::slice::from_ref(*w), app).is_some())
            .count(),
        1,
        "{}: one window",
        app.window
    );
}

macro_rules! matrix {
    ($($test:ident: $app:expr;)*) => {
        $(
            #[test]
            fn $test() {
                check(&$app);
            }
        )*
    };
}

matrix! {
    foot: App { command: &["foot"], package: "foot", window: "foot", decorated_by_shell: true };
    weston_terminal: App {
        command: &["weston-terminal"], package: "weston", window: "wayland-terminal",
        decorated_by_shell: false,
    };
    weston_flower: App {
        command: &["weston-flower"], package: "weston", window: "flower", decorated_by_shell: false,
    };
    // Review: it binds xdg_wm_base 6 but aborts on configure_bounds (see compositor/quirks.rs).
    weston_presentation_shm: App {
        command: &["weston-presentation-shm"], package: "weston", window: "presentation-shm",
        decorated_by_shell: false,
    };
    weston_stacking: App {
        command: &["weston-stacking"], package: "weston", window: "stacking",
        decorated_by_shell: false,
    };
    gtk4_demo: App {
        command: &["gtk4-demo"], package: "gtk-4-examples", window: "gtk4", decorated_by_shell: false,
    };
    gtk3_demo: App {
        command: &["gtk3-demo"], package: "gtk-3-examples", window: "gtk3", decorated_by_shell: false,
    };
    qt6_app: App {
        command: &["/usr/bin/python3", "-c", QT6_APP], package: "python3-pyqt6 qt6-wayland",
        window: "qt6-label", decorated_by_shell: true,
    };
    sdl2_app: App {
        command: &["/usr/games/lbreakouthd"], package: "lbreakouthd", window: "LBreakoutHD",
        decorated_by_shell: false,
    };
    xterm_under_xwayland: App {
        command: &["xterm"], package: "xterm", window: "XTerm", decorated_by_shell: true,
    };
    xeyes_under_xwayland: App {
        command: &["xeyes"], package: "x11-apps", window: "XEyes", decorated_by_shell: true,
    };
    chromium: App {
        command: &[
            "chromium", "--ozone-platform=wayland", "--no-sandbox", "--no-first-run",
            "--disable-gpu", "--user-data-dir=chromium-profile",
            "data:text/html,<body style='background:%23c33'><h1>compose</h1>",
        ],
        package: "chromium", window: "chromium", decorated_by_shell: false,
    };
    gtk3_under_xwayland: App {
        command: &["env", "GDK_BACKEND=x11", "gtk3-demo"], package: "gtk-3-examples",
        window: "gtk3", decorated_by_shell: false,
    };
}

/// A Qt 6 window (PyQt6 from Debian), shown through Qt's Wayland platform plugin.
const QT6_APP: &str = "\
from PyQt6.QtWidgets import QApplication, QLabel
app = QApplication(['qt6-label'])
label = QLabel('Qt 6 on compose')
label.setWindowTitle('qt6-label')
label.resize(320, 120)
label.show()
app.exec()
";

/// weston-editor needs a text-input manager to open at all; what is typed into its entry
/// shows up on screen.
#[test]
fn weston_editor_opens_and_takes_typing() {
    let app = App {
        command: &["weston-editor"],
        package: "weston",
        window: "editor",
        decorated_by_shell: false,
    };
    let mut session = Session::start("desktop");
    session.launch(&app);
    let w = shown(&mut session, &app, "desktop");
    // Click into the entry (the upper half of the window), then type.
    let at = (
        (w.geometry.x + w.geometry.width as i32 / 2) as f64,
        (w.geometry.y + w.geometry.height as i32 / 4) as f64,
    );
    session.input(&[
        InputEvent::PointerMotion { x: at.0, y: at.1 },
        InputEvent::PointerButton {
            button: BTN_LEFT,
            pressed: true,
        },
        InputEvent::PointerButton {
            button: BTN_LEFT,
            pressed: false,
        },
    ]);
    std::thread::sleep(Duration::from_millis(500));
    let before = session.screenshot();
    for code in [KEY_H, KEY_I, KEY_H, KEY_I, KEY_H, KEY_I] {
        session.input(&[
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
    session.wait("the typed text on screen", WAIT, |s| {
        s.screenshot().rgba != before.rgba
    });
}

/// The cursor on screen: the shell's arrow over its own background, the cursor surface a
/// client sets (GTK's text cursor from its theme) over that client's text entry.
#[test]
fn the_cursor_is_the_shells_arrow_or_the_clients_own() {
    let app = App {
        command: &["zenity", "--entry", "--text", "name"],
        package: "zenity",
        window: "zenity",
        decorated_by_shell: false,
    };
    let mut session = Session::start("desktop");
    session.launch(&app);
    let w = shown(&mut session, &app, "desktop");
    let is_arrow = |image: &Image, at: (u32, u32)| {
        (0..19).all(|y| {
            (0..12).all(|x| match arrow_pixel(x, y) {
                Some(bgra) => {
                    let p = image.pixel(at.0 + x as u32, at.1 + y as u32);
                    // Screenshots are RGBA; black and white read the same either way.
                    p[..3] == bgra[..3]
                }
                None => true,
            })
        })
    };
    // The background, right of the window.
    let empty = ((w.geometry.x + w.geometry.width as i32 + 40) as u32, 500);
    session.input(&[InputEvent::PointerMotion {
        x: empty.0 as f64,
        y: empty.1 as f64,
    }]);
    assert!(
        is_arrow(&session.screenshot(), empty),
        "the arrow at {empty:?}"
    );
    // Over the entry (below the label, near the left edge of the dialog).
    let entry = (
        (w.geometry.x + 60) as f64,
        (w.geometry.y + w.geometry.height as i32 / 2) as f64,
    );
    let mut found = None;
    for dy in [-20.0, -10.0, 0.0, 10.0, 20.0] {
        let at = (entry.0, entry.1 + dy);
        session.input(&[InputEvent::PointerMotion { x: at.0, y: at.1 }]);
        std::thread::sleep(Duration::from_millis(300));
        let shot = session.screenshot();
        if !is_arrow(&shot, (at.0 as u32, at.1 as u32)) {
            found = Some(at);
            break;
        }
    }
    let at = found.expect("GTK's own cursor over its entry, not the shell's arrow");
    // ... and a cursor it is (not a hidden one): the spot looks different without it.
    let with = session.screenshot();
    session.input(&[InputEvent::PointerMotion {
        x: empty.0 as f64,
        y: empty.1 as f64,
    }]);
    let without = session.screenshot();
    let spot = (at.0 as i32 - 16, at.1 as i32 - 16);
    let differs = (0..32).any(|dy| {
        (0..32).any(|dx| {
            let (x, y) = ((spot.0 + dx) as u32, (spot.1 + dy) as u32);
            with.pixel(x, y) != without.pixel(x, y)
        })
    });
    assert!(differs, "a cursor drawn at {at:?}");
}

const KEY_H: u32 = 35;
const KEY_I: u32 = 23;

/// Taps `text` (lower-case letters and spaces) on the tablet shell's on-screen keyboard.
fn tap(session: &Session, text: &str) {
    let height = (SIZE.1 as f32 * KEYBOARD_SHARE) as u32;
    let area = Rect {
        x: 0,
        y: (SIZE.1 - height) as i32,
        width: SIZE.0,
        height,
    };
    let keys = compose_shells::keyboard::keys(area);
    for (slot, c) in text.chars().enumerate() {
        let label = if c == ' ' {
            "space".to_string()
        } else {
            c.to_string()
        };
        let key = keys
            .iter()
            .find(|k| k.label == label)
            .unwrap_or_else(|| panic!("no key {c:?} on the keyboard"));
        let (x, y) = (
            key.rect.x as f64 + key.rect.width as f64 / 2.0,
            key.rect.y as f64 + key.rect.height as f64 / 2.0,
        );
        let slot = slot as i32 % 8;
        session.input(&[
            InputEvent::TouchDown { slot, x, y },
            InputEvent::TouchUp { slot },
        ]);
    }
}

/// What the on-screen keyboard types reaches a GTK entry and foot, in the tablet shell.
fn typed_on_screen(app: App) {
    let mut session = Session::start("tablet");
    session.launch(&app);
    let w = shown(&mut session, &app, "tablet");
    // Give the app a moment to settle (cursor blink aside), then type.
    std::thread::sleep(Duration::from_secs(1));
    let before = session.screenshot();
    tap(&session, "hello compose");
    session.wait("the typed text in the window", WAIT, |s| {
        let after = s.screenshot();
        // Enough of the window changed to be 13 characters, not a blinking cursor.
        changed(&before, &after, &w) > 150
    });
}

/// Pixels that differ between `a` and `b` inside `w`.
fn changed(a: &Image, b: &Image, w: &WindowInfo) -> usize {
    let g = w.geometry;
    let mut n = 0;
    for y in g.y.max(0) as u32..((g.y + g.height as i32) as u32).min(a.height) {
        for x in g.x.max(0) as u32..((g.x + g.width as i32) as u32).min(a.width) {
            if a.pixel(x, y) != b.pixel(x, y) {
                n += 1;
            }
        }
    }
    n
}

#[test]
fn the_on_screen_keyboard_types_into_foot() {
    typed_on_screen(App {
        command: &["foot"],
        package: "foot",
        window: "foot",
        decorated_by_shell: true,
    });
}

#[test]
fn the_on_screen_keyboard_types_into_a_gtk_entry() {
    typed_on_screen(App {
        command: &["zenity", "--entry", "--text", "name"],
        package: "zenity",
        window: "zenity",
        decorated_by_shell: false,
    });
}

/// The Xwayland process that serves `DISPLAY=:display` now.
fn xwayland_on(display: u32) -> Option<i32> {
    let wanted = format!(":{display}");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .find_map(|entry| {
            let pid = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let mut args = cmdline.split(|b| *b == 0).map(String::from_utf8_lossy);
            let xwayland = args.next()?.ends_with("Xwayland") && args.any(|a| a == wanted);
            xwayland.then_some(pid)
        })
}

/// Xwayland starts on demand: the shell holds the display until the first X client
/// connects (which then reaches the server started for it); later clients reach the
/// server directly. When Xwayland dies, the shell holds the display again and the next
/// X client starts a new server on the same `DISPLAY`.
#[test]
fn xwayland_starts_with_the_first_x_client_and_again_after_it_died() {
    let xeyes = App {
        command: &["xeyes"],
        package: "x11-apps",
        window: "XEyes",
        decorated_by_shell: true,
    };
    let xterm = App {
        command: &["xterm"],
        package: "xterm",
        window: "XTerm",
        decorated_by_shell: true,
    };
    let mut session = Session::start("desktop");
    let display = session.x_display.unwrap();
    let socket = std::path::PathBuf::from(format!("/tmp/.X11-unix/X{display}"));
    assert!(socket.exists(), "the shell holds {}", socket.display());
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(xwayland_on(display), None, "no Xwayland before an X client");

    // The first client waits on the shell's socket and is carried over to Xwayland.
    session.launch(&xeyes);
    shown(&mut session, &xeyes, "desktop");
    let server = xwayland_on(display).expect("Xwayland runs for the first X client");
    // A second client reaches the running server directly.
    session.launch(&xterm);
    shown(&mut session, &xterm, "desktop");

    for mut child in session.apps.drain(..) {
        child.kill().unwrap();
        child.wait().unwrap();
    }
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(server).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    session.wait("the shell to hold the display again", WAIT, |s| {
        xwayland_on(display).is_none() && s.windows().is_empty() && socket.exists()
    });

    session.launch(&xterm);
    shown(&mut session, &xterm, "desktop");
    assert!(
        xwayland_on(display).is_some_and(|pid| pid != server),
        "a new Xwayland on :{display}"
    );

    // Review: after the shell stopped, /tmp/.X0-lock and /tmp/.X11-unix/X0 stayed behind.
    drop(session);
    let lock = std::path::PathBuf::from(format!("/tmp/.X{display}-lock"));
    assert!(!lock.exists(), "{} left behind", lock.display());
    assert!(!socket.exists(), "{} left behind", socket.display());
}
