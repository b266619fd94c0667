//! `compose shell run|swap|windows` end to end: a private dbus-daemon, the real binary as
//! compositor, Debian's weston-simple-shm as the client, control over D-Bus.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[derive(Debug, Deserialize)]
struct Row {
    title: String,
    width: u32,
    height: u32,
}

fn compose(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_compose"))
        .args(args)
        .output()
        .unwrap()
}

fn windows(bus: &str) -> Vec<Row> {
    let o = compose(&["shell", "windows", "--json", "--bus", bus]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn swap_over_dbus_keeps_the_client_and_reconfigures_it() {
    let runtime = tempfile::tempdir().unwrap();
    let socket = runtime.path().join("bus");
    let bus = format!("unix:path={}", socket.display());
    let _daemon = Killed(
        Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--address", &bus])
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon (Debian package dbus) is installed by scripts/setup"),
    );
    wait_for("the bus socket", || socket.exists());
    let _compositor = Killed(
        Command::new(env!("CARGO_BIN_EXE_compose"))
            .args([
                "shell",
                "run",
                "--shell",
                "desktop",
                "--headless",
                "1280x720",
                "--socket",
                "compose-t",
                "--bus",
                &bus,
            ])
            .env("XDG_RUNTIME_DIR", runtime.path())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("the Wayland socket", || {
        Path::new(&runtime.path().join("compose-t")).exists()
    });
    let mut client = Killed(
        Command::new("weston-simple-shm")
            .env("WAYLAND_DISPLAY", "compose-t")
            .env("XDG_RUNTIME_DIR", runtime.path())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("the client's window", || windows(&bus).len() == 1);
    let rows = windows(&bus);
    assert_eq!(
        (rows[0].title.as_str(), rows[0].width, rows[0].height),
        ("simple-shm", 800, 480)
    );

    let o = compose(&["shell", "swap", "gaming", "--bus", &bus]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows = windows(&bus);
    assert_eq!(
        (rows.len(), rows[0].width, rows[0].height),
        (1, 1280, 720),
        "fullscreen in the gaming shell"
    );

    let o = compose(&["shell", "swap", "nope", "--bus", &bus]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("no shell `nope`; shells: desktop, gaming, tablet")
    );

    assert!(
        client.0.try_wait().unwrap().is_none(),
        "the client is still connected"
    );
}
