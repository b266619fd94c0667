//! The headless compositor with a real third-party client (weston-simple-shm from Debian's
//! `weston` package): it gets the configure its shell decides, commits shm buffers, gets
//! frame callbacks, and keeps its window and connection through live shell swaps.

use std::process::{Child, Command as Process};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use compose_shells::compositor::{Command, Options, WindowInfo, run};
use compose_shells::definition::builtin;
use compose_shells::policy::KEYBOARD_SHARE;
use smithay::reexports::calloop::channel::{Sender, channel};

struct Client(Child);

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn windows(control: &Sender<Command>) -> Vec<WindowInfo> {
    let (reply, answer) = mpsc::channel();
    control.send(Command::Windows(reply)).unwrap();
    answer.recv_timeout(Duration::from_secs(5)).unwrap()
}

/// Waits until `check` holds for the window list, or fails with the last list.
fn wait_for(
    control: &Sender<Command>,
    what: &str,
    check: impl Fn(&[WindowInfo]) -> bool,
) -> Vec<WindowInfo> {
    let start = Instant::now();
    loop {
        let list = windows(control);
        if check(&list) {
            return list;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}: {list:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn swap(control: &Sender<Command>, name: &str) {
    let def = builtin().into_iter().find(|s| s.name == name).unwrap();
    let (done, ack) = mpsc::channel();
    control.send(Command::Swap(def, done)).unwrap();
    ack.recv_timeout(Duration::from_secs(5)).unwrap();
}

#[test]
fn weston_simple_shm_keeps_its_window_through_swaps() {
    let runtime = tempfile::tempdir().unwrap();
    let socket = runtime.path().join("compose-test-0");
    let (control, commands) = channel();
    let desktop = builtin().into_iter().find(|s| s.name == "desktop").unwrap();
    let options = Options::headless(socket.to_str().unwrap(), desktop, 1280, 720);
    let server = std::thread::spawn(move || run(options, commands));

    let start = Instant::now();
    // Accepting, not just created (the file appears just before listen()).
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the compositor did not open its socket"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut client = Client(
        Process::new("weston-simple-shm")
            .env("WAYLAND_DISPLAY", "compose-test-0")
            .env("XDG_RUNTIME_DIR", runtime.path())
            .spawn()
            .expect("weston-simple-shm (Debian package weston) is installed by scripts/setup"),
    );

    let list = wait_for(&control, "a window with a buffer and frames", |l| {
        l.len() == 1 && l[0].buffer.is_some() && l[0].frames > 2
    });
    let (w, h, states) = list[0].configured;
    assert_eq!(
        (w, h),
        (800, 480),
        "desktop: the floating size the shell chose"
    );
    // simple-shm never binds xdg-decoration: a client-side window, no title bar from us.
    assert!(states.activated && !states.decorated && !states.fullscreen);
    assert_eq!(list[0].title, "simple-shm");

    swap(&control, "gaming");
    let list = wait_for(&control, "more frames after the swap", |l| {
        l.len() == 1 && l[0].frames > list[0].frames + 2
    });
    let (w, h, states) = list[0].configured;
    assert_eq!((w, h), (1280, 720));
    assert!(states.fullscreen && states.activated);

    swap(&control, "tablet");
    let list = wait_for(&control, "frames in the tablet shell", |l| {
        l.len() == 1 && l[0].frames > list[0].frames + 2
    });
    let (w, h, states) = list[0].configured;
    assert_eq!((w, h), (1280, 720 - (720.0 * KEYBOARD_SHARE) as u32));
    assert!(states.maximized);

    swap(&control, "desktop");
    let back = wait_for(&control, "the desktop again", |l| {
        l.len() == 1 && l[0].configured.0 == 800
    });
    assert_eq!(back[0].id, list[0].id, "the same window all along");
    assert!(
        client.0.try_wait().unwrap().is_none(),
        "the client never disconnected"
    );

    drop(client);
    wait_for(&control, "the window to go with its client", |l| {
        l.is_empty()
    });
    control.send(Command::Stop).unwrap();
    server.join().unwrap().unwrap();
}

/// The first line of `compose-shell`'s log that names the shell it started.
fn started_shell(choice: &str) -> String {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("shell");
    std::fs::write(&file, choice).unwrap();
    let mut shell = Client(
        Process::new(env!("CARGO_BIN_EXE_compose-shell"))
            .args([
                "--headless",
                "320x240",
                "--no-xwayland",
                "--blank-after",
                "0",
            ])
            .arg("--runtime-dir")
            .arg(dir.path())
            .arg("--autostart")
            .arg(dir.path().join("no-apps"))
            .arg("--definitions")
            .arg(dir.path().join("no-definitions"))
            .arg("--choice")
            .arg(&file)
            .env("RUST_LOG", "info")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stderr = std::io::BufReader::new(shell.0.stderr.take().unwrap());
    for line in stderr.lines() {
        let line = line.unwrap();
        if line.contains(" on ") && line.contains("apps:") {
            return line;
        }
    }
    panic!("compose-shell ended without starting a shell");
}

#[test]
fn the_shell_chosen_for_the_device_is_started_unless_it_is_not_installed() {
    assert!(started_shell("gaming\n").contains("gaming on "));
    // An unknown choice is said and passed over: the default shell starts.
    assert!(started_shell("no-such-shell\n").contains("desktop on "));
}
