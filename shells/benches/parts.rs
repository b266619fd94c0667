//! What the shells' parts cost (the numbers issue 26 asks for), measured on the headless
//! compositor with a private session bus, as `tests/parts.rs` runs it:
//! - a `Notify` call (zbus, as libnotify makes it) to the frame that shows its popup;
//! - the Super key to the first frame of the open launcher;
//! - the memory (VmRSS) of a `compose-shell` process running the desktop with every part
//!   (notifications served, the host's desktop entries in its launcher) against one running
//!   a bare definition (title bars and a task bar, no bus).
//!
//! `cargo bench -p compose-shells --bench parts`. Frames are counted through
//! `Command::Stats`; each sample waits for the frame count to move.

use std::process::{Child, Command as Process, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use compose_shells::compositor::{Command, InputEvent, Options, run};
use compose_shells::definition::builtin;
use smithay::reexports::calloop::channel::{Sender, channel};

const KEY_LEFTMETA: u32 = 125;
const KEY_ESC: u32 = 1;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ask<T>(control: &Sender<Command>, make: impl FnOnce(mpsc::Sender<T>) -> Command) -> T {
    let (reply, answer) = mpsc::channel();
    control.send(make(reply)).unwrap();
    answer
        .recv_timeout(Duration::from_secs(10))
        .expect("the compositor answers")
}

fn frames(control: &Sender<Command>) -> u64 {
    ask(control, Command::Stats).frames
}

/// How long `act` takes to show in a drawn frame.
fn to_frame(control: &Sender<Command>, act: impl FnOnce()) -> Duration {
    let before = frames(control);
    let start = Instant::now();
    act();
    while frames(control) == before {
        std::thread::sleep(Duration::from_micros(200));
        assert!(start.elapsed() < Duration::from_secs(10), "no frame came");
    }
    start.elapsed()
}

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{what}: median {:.2} ms, p90 {:.2} ms, min {:.2} ms ({} samples)",
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() * 9 / 10]),
        ms(samples[0]),
        samples.len()
    );
}

fn bus(dir: &std::path::Path) -> (Killed, String) {
    let socket = dir.join("bus");
    let address = format!("unix:path={}", socket.display());
    let daemon = Killed(
        Process::new("dbus-daemon")
            .args(["--session", "--nofork", "--address", &address])
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon (Debian package dbus)"),
    );
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        std::thread::sleep(Duration::from_millis(10));
    }
    (daemon, address)
}

fn latencies(samples: usize) {
    let dir = tempfile::tempdir().unwrap();
    let (_daemon, address) = bus(dir.path());
    let connection = zbus::blocking::connection::Builder::address(address.as_str())
        .unwrap()
        .build()
        .unwrap();
    let (control, commands) = channel();
    let signals = compose_shells::notifications::serve(&connection, control.clone())
        .unwrap()
        .unwrap();
    let socket = dir.path().join("wayland-bench");
    let def = builtin().into_iter().find(|s| s.name == "desktop").unwrap();
    let mut options = Options::headless(socket.to_str().unwrap(), def, 1280, 720);
    options.notifications = Some(signals);
    options.apps = compose_shells::autostart::read_dirs(&["/usr/share/applications".into()]);
    let apps = options.apps.len();
    let thread = std::thread::spawn(move || run(options, commands));
    while !socket.exists() {
        std::thread::sleep(Duration::from_millis(10));
    }
    frames(&control);

    let mut notify = Vec::new();
    for i in 0..samples {
        let mut id = 0u32;
        notify.push(to_frame(&control, || {
            let reply = connection
                .call_method(
                    Some(compose_shells::notifications::BUS_NAME),
                    compose_shells::notifications::OBJECT_PATH,
                    Some(compose_shells::notifications::BUS_NAME),
                    "Notify",
                    &(
                        "bench",
                        0u32,
                        "",
                        format!("Message {i}"),
                        "A body of a few words",
                        Vec::<String>::new(),
                        std::collections::HashMap::<String, zbus::zvariant::Value>::new(),
                        0i32,
                    ),
                )
                .unwrap();
            id = reply.body().deserialize().unwrap();
        }));
        to_frame(&control, || {
            ask(&control, |reply| Command::CloseNotification(id, reply));
        });
        // Past the sender's rate limit's refill (2 a second after a burst of 10).
        if samples > 8 {
            std::thread::sleep(Duration::from_millis(550));
        }
    }
    report("Notify call to the frame showing its popup", notify);

    let key = |code: u32| {
        for pressed in [true, false] {
            control
                .send(Command::Input(InputEvent::Key { code, pressed }))
                .unwrap();
        }
    };
    let mut open = Vec::new();
    for _ in 0..samples {
        open.push(to_frame(&control, || key(KEY_LEFTMETA)));
        to_frame(&control, || key(KEY_ESC));
        // Frames are at least 16.7 ms apart: start each sample past that pacing.
        std::thread::sleep(Duration::from_millis(50));
    }
    report(
        &format!("Super to the first frame of the open launcher ({apps} apps)"),
        open,
    );
    control.send(Command::Stop).unwrap();
    thread.join().unwrap().unwrap();
}

/// VmRSS of `compose-shell` running `shell` from `definitions`, a second after it is ready.
fn rss(shell: &str, definitions: &std::path::Path, with_bus: bool) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let (_daemon, address) = bus(dir.path());
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let mut command = Process::new(env!("CARGO_BIN_EXE_compose-shell"));
    command
        .args(["--headless", "1280x720", "--shell", shell, "--no-xwayland"])
        .arg("--definitions")
        .arg(definitions)
        .arg("--runtime-dir")
        .arg(dir.path())
        .arg("--autostart")
        .arg(&empty)
        .arg("--launchers")
        .arg(&empty)
        .arg("--choice")
        .arg(empty.join("none"))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if with_bus {
        command.args(["--bus", &address]);
    } else {
        command.arg("--applications").arg(&empty);
    }
    let child = Killed(command.spawn().unwrap());
    let socket = dir.path().join("wayland-0");
    let start = Instant::now();
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "compose-shell did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_secs(1));
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.0.id())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

fn memory() {
    let definitions = tempfile::tempdir().unwrap();
    std::fs::write(
        definitions.path().join("bare.toml"),
        "[shell]\nname = \"bare\"\nsummary = \"The desktop without its parts\"\nlayout = \"floating\"\nparts = [\"title-bars\", \"taskbar\"]\n",
    )
    .unwrap();
    let bare = rss("bare", definitions.path(), false);
    let full = rss("desktop", definitions.path(), true);
    println!(
        "compose-shell memory (VmRSS, headless 1280x720): desktop with every part {full} KiB, bare {bare} KiB ({:+} KiB)",
        full as i64 - bare as i64
    );
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs a quick check of it.
    let bench = std::env::args().any(|a| a == "--bench");
    latencies(if bench { 40 } else { 3 });
    memory();
}
