//! Desktop notifications end to end: a private dbus-daemon, the shell's notification server
//! on it, the headless compositor drawing popups, and Debian's `notify-send` (libnotify) as
//! the sender; clicks are input events into the compositor, answers are D-Bus signals.

use std::io::Read;
use std::process::{Child, Command as Process, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use compose_shell_policy::notifications::{self, Notifications, Popup, Request};
use compose_shells::compositor::colors::{self, rgba8};
use compose_shells::compositor::input::BTN_LEFT;
use compose_shells::compositor::{Command, CompositorError, InputEvent, Options, run};
use compose_shells::definition::builtin;
use compose_shells::policy::{Rect, STATUS_WIDTH, TASKBAR};
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

impl Desktop {
    fn start(shell: &str) -> Desktop {
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
        let socket = dir.path().join("wayland-test");
        let options = Options {
            notifications: Some(signals),
            ..Options::headless(socket.to_str().unwrap(), def, SIZE.0, SIZE.1)
        };
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

fn shows_popup_at(image: &Image, rect: Rect) -> bool {
    // The top right corner of the box: no text reaches it.
    image.pixel((rect.x + rect.width as i32 - 3) as u32, (rect.y + 3) as u32)
        == rgba8(colors::NOTIFICATION)
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
    let (_, _, reply) = &popup.buttons[1];
    assert_eq!(
        shot.pixel(reply.x as u32 + 2, reply.y as u32 + 2),
        rgba8(colors::ACTION),
        "the Reply button"
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
    assert_eq!(
        shot.pixel(free.0, free.1),
        rgba8(colors::BACKGROUND),
        "no popup below the last that fits"
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
