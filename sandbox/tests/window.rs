//! A WASI app's window in the real shell: the paint app (sandbox/apps/paint, built for
//! wasm32-wasip2) runs in wasmtime with the gui grant, its window comes through its own
//! security-context socket, its pixels are in the shell's screenshots, clicks and keys reach
//! it, and it keeps its window and picture through desktop -> gaming -> tablet -> desktop.

use std::path::PathBuf;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use compose_sandbox::{Grants, Outcome, Report, Stdio, WasmError, WasmHost};
use compose_shells::compositor::input::BTN_LEFT;
use compose_shells::compositor::{Command, InputEvent, Options, WindowInfo, run};
use compose_shells::definition::builtin;
use compose_shells::render::Image;
use compose_shells::smithay::reexports::calloop::channel::{Sender, channel};

const WAIT: Duration = Duration::from_secs(10);
const KEY_Q: u32 = 16;
const RED: [u8; 4] = [255, 0, 0, 255];
const WHITE: [u8; 4] = [255, 255, 255, 255];

fn paint() -> PathBuf {
    compose_sandbox::apps::build("paint").unwrap_or_else(|e| panic!("{e}"))
}

/// The headless shell on a thread of this process.
struct Shell {
    control: Sender<Command>,
    thread: Option<JoinHandle<()>>,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Shell {
    fn start() -> Shell {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("shell-0");
        let (control, commands) = channel();
        let desktop = builtin().into_iter().find(|s| s.name == "desktop").unwrap();
        let options = Options::headless(socket.to_str().unwrap(), desktop, 1024, 768);
        let thread = std::thread::spawn(move || run(options, commands).unwrap());
        let start = Instant::now();
        while !socket.exists() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the shell did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Shell {
            control,
            thread: Some(thread),
            socket,
            _dir: dir,
        }
    }

    fn ask<T>(&self, make: impl FnOnce(mpsc::Sender<T>) -> Command) -> T {
        let (reply, answer) = mpsc::channel();
        self.control.send(make(reply)).unwrap();
        answer.recv_timeout(WAIT).expect("the shell answers")
    }

    fn window(&self, app_id: &str) -> Option<WindowInfo> {
        self.ask(Command::Windows)
            .into_iter()
            .find(|w: &WindowInfo| w.app_id == app_id && w.buffer.is_some())
    }

    fn screenshot(&self) -> Image {
        self.ask(Command::Screenshot).expect("a screenshot")
    }

    fn input(&self, events: &[InputEvent]) {
        for e in events {
            self.control.send(Command::Input(*e)).unwrap();
        }
    }

    fn click(&self, at: (f64, f64)) {
        self.input(&[
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
    }

    fn swap(&self, name: &str) {
        let def = builtin().into_iter().find(|s| s.name == name).unwrap();
        self.ask(|done| Command::Swap(def, done));
    }

    /// Waits until the screen, with window `w` where it is now, passes `test`.
    fn wait_for(&self, what: &str, test: impl Fn(&Image, &WindowInfo) -> bool) {
        let start = Instant::now();
        loop {
            if let Some(w) = self.window("paint")
                && test(&self.screenshot(), &w)
            {
                return;
            }
            assert!(start.elapsed() < Duration::from_secs(30), "{what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Shell {
    fn drop(&mut self) {
        let _ = self.control.send(Command::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A pixel of the window's content at `(x, y)` from its top-left corner.
fn at(shot: &Image, w: &WindowInfo, x: u32, y: u32) -> [u8; 4] {
    shot.pixel(w.geometry.x as u32 + x, w.geometry.y as u32 + y)
}

fn screen(w: &WindowInfo, x: u32, y: u32) -> (f64, f64) {
    (
        f64::from(w.geometry.x as u32 + x) + 0.5,
        f64::from(w.geometry.y as u32 + y) + 0.5,
    )
}

/// Runs paint with `grants` in the shell's app socket, on its own thread.
fn start_paint(shell: &Shell, grants: Grants) -> JoinHandle<Result<Report, WasmError>> {
    let wasm = paint();
    let socket = shell.socket.with_file_name("paint-0");
    let app_socket = compose_sandbox::wayland::open(&shell.socket, &socket, "paint").unwrap();
    std::thread::spawn(move || {
        let _keep = app_socket;
        let host = WasmHost::new().unwrap();
        host.run_in_shell(&wasm, &[], &grants, Stdio::Capture, Some(&socket))
    })
}

#[test]
fn the_paint_app_is_a_sandboxed_window_that_clicks_reach_through_every_shell() {
    let shell = Shell::start();
    let grants = Grants::default().window();
    let app = start_paint(&shell, grants);
    let start = Instant::now();
    let window = loop {
        if let Some(w) = shell.window("paint") {
            break w;
        }
        assert!(
            !app.is_finished(),
            "paint ended without a window: {:?}",
            app.join().unwrap()
        );
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no window from paint"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(window.sandbox.as_deref(), Some("org.compose.sandbox/paint"));
    // Its pixels: the palette (red is the second swatch) over a white canvas.
    shell.wait_for("paint's palette and canvas on screen", |shot, w| {
        at(shot, w, 60, 20) == RED && at(shot, w, 300, 200) == WHITE
    });
    // A click on red, a click on the canvas: a red dot where it clicked.
    shell.click(screen(&window, 60, 20));
    shell.click(screen(&window, 300, 200));
    shell.wait_for("a red dot where the pointer clicked", |shot, w| {
        at(shot, w, 300, 200) == RED && at(shot, w, 300, 230) == WHITE
    });
    // A drag paints a line.
    shell.input(&[
        InputEvent::PointerMotion {
            x: screen(&window, 200, 150).0,
            y: screen(&window, 200, 150).1,
        },
        InputEvent::PointerButton {
            button: BTN_LEFT,
            pressed: true,
        },
    ]);
    for step in 1..=10 {
        let (x, y) = screen(&window, 200 + step * 10, 150);
        shell.input(&[InputEvent::PointerMotion { x, y }]);
    }
    shell.input(&[InputEvent::PointerButton {
        button: BTN_LEFT,
        pressed: false,
    }]);
    shell.wait_for("a red line where the pointer dragged", |shot, w| {
        (200..=300).step_by(10).all(|x| at(shot, w, x, 150) == RED)
    });
    // Through every shell: the same window, the same picture, the app still running.
    for name in ["gaming", "tablet", "desktop"] {
        shell.swap(name);
        let w = shell
            .window("paint")
            .expect("paint's window after the swap");
        assert_eq!(w.id, window.id, "{name}: the same window");
        assert!(!app.is_finished(), "{name}: paint still runs");
        shell.wait_for(&format!("{name}: the red dot on screen"), |shot, w| {
            at(shot, w, 300, 200) == RED
        });
    }
    // `q` quits: the app ends well and its window goes.
    let w = shell.window("paint").unwrap();
    shell.click(screen(&w, 500, 300));
    shell.input(&[
        InputEvent::Key {
            code: KEY_Q,
            pressed: true,
        },
        InputEvent::Key {
            code: KEY_Q,
            pressed: false,
        },
    ]);
    let report = app.join().unwrap().unwrap();
    assert_eq!(
        report.outcome,
        Outcome::Exited(0),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    assert!(String::from_utf8_lossy(&report.stdout).contains("paint: closed"));
    let start = Instant::now();
    while shell.window("paint").is_some() {
        assert!(
            start.elapsed() < WAIT,
            "paint's window stayed after it quit"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn without_the_gui_grant_no_window_opens() {
    let shell = Shell::start();
    let app = start_paint(&shell, Grants::default());
    let report = app.join().unwrap().unwrap();
    assert_eq!(report.outcome, Outcome::Exited(1));
    let err = String::from_utf8_lossy(&report.stderr);
    assert!(err.contains("no gui grant"), "{err}");
    assert!(shell.window("paint").is_none());
}

#[test]
fn an_app_waiting_for_input_spends_no_cpu_budget() {
    // A budget shorter than the time the app waits: only CPU time counts.
    let shell = Shell::start();
    let grants = Grants::default().window().cpu_limit(Duration::from_secs(2));
    let app = start_paint(&shell, grants);
    let start = Instant::now();
    while shell.window("paint").is_none() {
        assert!(!app.is_finished(), "{:?}", app.join().unwrap());
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no window from paint"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(4));
    assert!(
        !app.is_finished(),
        "paint was stopped while it waited: {:?}",
        app.join().unwrap()
    );
    let w = shell.window("paint").unwrap();
    shell.click(screen(&w, 500, 300));
    shell.input(&[
        InputEvent::Key {
            code: KEY_Q,
            pressed: true,
        },
        InputEvent::Key {
            code: KEY_Q,
            pressed: false,
        },
    ]);
    assert_eq!(app.join().unwrap().unwrap().outcome, Outcome::Exited(0));
}

/// A key held down repeats at the shell's rate after its delay (smithay's seat: 400 ms, 30
/// a second), as more key presses; its release stops them.
#[test]
fn a_held_key_repeats_at_the_shells_rate_until_released() {
    use compose_sandbox::window::{CreateDesc, Event, Rect, Window};
    const KEY_A: u32 = 30;
    let shell = Shell::start();
    let desc = CreateDesc {
        title: "Repeat".into(),
        width: 64,
        height: 48,
    };
    let mut window = Window::open(&shell.socket, "repeat", &desc).unwrap();
    let (w, h) = window.size();
    let whole = Rect {
        x: 0,
        y: 0,
        width: w,
        height: h,
    };
    window
        .present(&[whole], &vec![0x80; (w * h * 4) as usize])
        .unwrap();
    let start = Instant::now();
    while shell.window("repeat").is_none_or(|w| !w.focused) {
        assert!(start.elapsed() < WAIT, "the window was never shown focused");
        window.next_event(Some(Duration::from_millis(20)));
    }
    let presses = |window: &mut Window, for_: Duration| {
        let start = Instant::now();
        let mut n = 0;
        while start.elapsed() < for_ {
            if let Some(Event::KeyDown(k)) = window.next_event(Some(Duration::from_millis(20))) {
                assert_eq!(k.code, KEY_A);
                assert_eq!(k.text.as_deref(), Some("a"));
                n += 1;
            }
        }
        n
    };
    shell.input(&[InputEvent::Key {
        code: KEY_A,
        pressed: true,
    }]);
    // One press, then after 400 ms about 30 a second: at least 10 in 1.2 s.
    let held = presses(&mut window, Duration::from_millis(1200));
    assert!((10..=40).contains(&held), "{held} presses while held");
    shell.input(&[InputEvent::Key {
        code: KEY_A,
        pressed: false,
    }]);
    // The release arrives; after it nothing repeats.
    presses(&mut window, Duration::from_millis(200));
    assert_eq!(presses(&mut window, Duration::from_millis(600)), 0);
}
