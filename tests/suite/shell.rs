//! `compose shell run|swap|windows|screenshot` end to end: a private dbus-daemon, the real
//! binary as compositor (headless, nested in Xvfb, nested in itself), Debian's
//! weston-simple-shm and our own test client as clients, control over D-Bus.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common;

use common::ShellWindow as Row;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
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
    let session = Session::new();
    let bus = session.bus.clone();
    let mut compositor = session.shell(
        &[
            "--shell",
            "desktop",
            "--headless",
            "1280x720",
            "--socket",
            "compose-t",
        ],
        &[],
    );
    session.wait_for_socket("compose-t", &mut compositor);
    let runtime = &session.dir;
    let mut client = Killed(
        Command::new("weston-simple-shm")
            .env("WAYLAND_DISPLAY", "compose-t")
            .env("XDG_RUNTIME_DIR", runtime.path())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("the client's window", || windows(&bus).len() == 1);
    // Shown at the size it draws: weston-simple-shm always draws 250x250.
    wait_for("its first buffer", || windows(&bus)[0].width == 250);
    let rows = windows(&bus);
    assert_eq!(
        (rows[0].title.as_str(), rows[0].width, rows[0].height),
        ("simple-shm", 250, 250)
    );

    // Names are matched without regard to case.
    let o = compose(&["shell", "swap", "Gaming", "--bus", &bus]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows = windows(&bus);
    assert_eq!(
        (rows.len(), rows[0].x, rows[0].y),
        (1, (1280 - 250) / 2, (720 - 250) / 2),
        "fullscreen in the gaming shell: a window smaller than the screen is centred"
    );
    // ActiveShell is the compositor's own answer (key bindings swap too).
    let o = Command::new("dbus-send")
        .arg(format!("--bus={bus}"))
        .args(["--print-reply", "--dest=org.compose.Shell1"])
        .args(["/org/compose/Shell1", "org.freedesktop.DBus.Properties.Get"])
        .args(["string:org.compose.Shell1", "string:ActiveShell"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("\"gaming\""),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
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

    // A second shell on the same bus is refused; the running one keeps its name.
    let o = Command::new(env!("CARGO_BIN_EXE_compose"))
        .args([
            "shell",
            "run",
            "--headless",
            "64x64",
            "--socket",
            "compose-t2",
        ])
        .args(["--bus", &bus])
        .env("XDG_RUNTIME_DIR", runtime.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(
            "another shell already serves org.compose.Shell1 on this bus; stop it first, or take its name over with --replace"
        ),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = compose(&["shell", "swap", "desktop", "--bus", &bus]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        (windows(&bus)[0].x, windows(&bus)[0].y),
        (40, 40),
        "the first shell still answers"
    );

    // Screenshots are PNG files, and named so.
    let o = compose(&["shell", "screenshot", "/tmp/x.jpg", "--bus", &bus]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("name it NAME.png"));
}

/// A private runtime folder and session bus for one test.
struct Session {
    dir: tempfile::TempDir,
    bus: String,
    _daemon: Killed,
}

impl Session {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("bus");
        let bus = format!("unix:path={}", socket.display());
        let daemon = Killed(
            Command::new("dbus-daemon")
                .args(["--session", "--nofork", "--address", &bus])
                .stderr(Stdio::null())
                .spawn()
                .expect("dbus-daemon (Debian package dbus) is installed by scripts/setup"),
        );
        wait_for("the bus socket", || {
            std::os::unix::net::UnixStream::connect(&socket).is_ok()
        });
        Self {
            dir,
            bus,
            _daemon: daemon,
        }
    }

    /// `compose shell run ARGS --bus BUS` with `env`, and no host display unless given.
    fn shell(&self, args: &[&str], env: &[(&str, &str)]) -> Killed {
        let mut command = Command::new(env!("CARGO_BIN_EXE_compose"));
        command
            .args(["shell", "run"])
            .args(args)
            .args(["--bus", &self.bus])
            .env("XDG_RUNTIME_DIR", self.dir.path())
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .stderr(Stdio::null());
        for (k, v) in env {
            command.env(k, v);
        }
        Killed(command.spawn().unwrap())
    }

    /// `compose shell screenshot` of this session's shell into FILE (in its folder).
    fn screenshot(&self, file: &str) -> compose_shells::render::Image {
        let png = self.dir.path().join(file);
        let o = compose(&[
            "shell",
            "screenshot",
            png.to_str().unwrap(),
            "--bus",
            &self.bus,
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        compose_shells::render::Image::read_png(&png).unwrap()
    }

    fn wait_for_socket(&self, name: &str, shell: &mut Killed) {
        let path = self.dir.path().join(name);
        wait_for("the Wayland socket", || {
            assert!(
                shell.0.try_wait().unwrap().is_none(),
                "compose shell run exited early"
            );
            // Accepting, not just created (the file appears just before listen()).
            std::os::unix::net::UnixStream::connect(&path).is_ok()
        });
    }
}

/// One X screen on a free display number (Xvfb picks it and tells us).
struct Xvfb {
    process: Killed,
    display: String,
}

impl Xvfb {
    fn start() -> Self {
        use std::io::BufRead;
        let mut child = Command::new("Xvfb")
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1024x768x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb (Debian package xvfb) is installed by scripts/setup");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let display = format!(":{}", line.trim());
        assert!(display.len() > 1, "Xvfb did not say its display");
        Self {
            process: Killed(child),
            display,
        }
    }

    /// The root window's pixels as RGB, via `xwd` (Debian package x11-apps).
    fn capture(&mut self) -> (u32, u32, Vec<[u8; 3]>) {
        assert!(self.process.0.try_wait().unwrap().is_none(), "Xvfb died");
        let o = Command::new("xwd")
            .args(["-root", "-silent", "-display", &self.display])
            .output()
            .expect("xwd (Debian package x11-apps) is installed by scripts/setup");
        assert!(o.status.success());
        parse_xwd(&o.stdout)
    }
}

/// Reads a ZPixmap XWD dump of 32 bits per pixel (what Xvfb at depth 24 gives).
fn parse_xwd(d: &[u8]) -> (u32, u32, Vec<[u8; 3]>) {
    let field = |i: usize| u32::from_be_bytes(d[i * 4..i * 4 + 4].try_into().unwrap());
    let (header, width, height) = (field(0) as usize, field(4), field(5));
    let (byte_order, bits_per_pixel, bytes_per_line) = (field(7), field(11), field(12) as usize);
    let colors = field(19) as usize;
    assert_eq!(
        (bits_per_pixel, byte_order),
        (32, 0),
        "32-bit LSB-first pixels"
    );
    let pixels = &d[header + colors * 12..];
    let mut out = Vec::with_capacity((width * height) as usize);
    for y in 0..height as usize {
        for x in 0..width as usize {
            let p = &pixels[y * bytes_per_line + x * 4..];
            out.push([p[2], p[1], p[0]]);
        }
    }
    (width, height, out)
}

const MAGENTA: [u8; 4] = [255, 0, 255, 255];

#[test]
fn nested_in_xvfb_a_clients_pixels_reach_the_host_window() {
    // Both ways to the window: pixman into a softbuffer, and wgpu (lavapipe here).
    for renderer in ["cpu", "gpu"] {
        nested_in_xvfb(renderer);
    }
}

fn nested_in_xvfb(renderer: &str) {
    let session = Session::new();
    let mut x = Xvfb::start();
    let marker = session.dir.path().join("app-env");
    let app = format!(
        "echo \"$WAYLAND_DISPLAY ${{DISPLAY:-no-display}}\" > {}",
        marker.display()
    );
    let mut shell = session.shell(
        &[
            "--nested",
            "--size",
            "640x480",
            "--socket",
            "nested-0",
            "--exec",
            &app,
            "--renderer",
            renderer,
        ],
        &[("DISPLAY", &x.display)],
    );
    session.wait_for_socket("nested-0", &mut shell);
    // Apps the shell starts get its display, not the host's.
    wait_for("the started app", || {
        marker.exists() && std::fs::read_to_string(&marker).unwrap().ends_with('\n')
    });
    // X11 apps get the shell's own Xwayland (when installed), never the host's X server.
    let env = std::fs::read_to_string(&marker).unwrap();
    let (wayland, display) = env.trim().split_once(' ').unwrap();
    assert_eq!(wayland, "nested-0");
    assert_ne!(display, x.display, "the host's display leaked to the app");

    let mut client = compose_testclient::Client::connect(session.dir.path(), "nested-0").unwrap();
    client.toplevel("magenta", "Magenta", MAGENTA).unwrap();
    let rows = windows(&session.bus);
    assert_eq!((rows.len(), rows[0].focused), (1, true));
    let area = (rows[0].width * rows[0].height) as usize;
    // The shell says which renderer draws.
    let o = compose(&["shell", "stats", "--json", "--bus", &session.bus]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stats: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(stats["renderer"], renderer, "{stats}");
    // The client's pixels reach the X screen through the renderer and the window.
    wait_for("the client's pixels on the X screen", || {
        client.dispatch_for(Duration::from_millis(10)).unwrap();
        let (_, _, pixels) = x.capture();
        let magenta = pixels.iter().filter(|p| **p == [255, 0, 255]).count();
        magenta >= area * 9 / 10
    });

    // Host input reaches the focused client: a click and a key typed into the X window
    // (xdotool through XTEST, after giving our window X focus: there is no window manager).
    let (cx, cy) = (
        rows[0].x + rows[0].width as i32 / 2,
        rows[0].y + rows[0].height as i32 / 2,
    );
    let xdotool = |args: &[&str]| {
        let o = Command::new("xdotool")
            .args(args)
            .env("DISPLAY", &x.display)
            .output()
            .expect("xdotool (Debian package xdotool) is installed by scripts/setup");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    let window = xdotool(&["search", "--name", "compose shell"]);
    let window = window.lines().next().expect("our X window").to_string();
    xdotool(&["windowfocus", "--sync", &window]);
    xdotool(&["mousemove", &cx.to_string(), &cy.to_string()]);
    xdotool(&["click", "1"]);
    xdotool(&["key", "a"]);
    wait_for("the click and the key in the client", || {
        client.dispatch_for(Duration::from_millis(10)).unwrap();
        let w = &client.state.windows[0];
        w.buttons.contains(&0x110) && w.keys.contains(&30)
    });

    // A screenshot over D-Bus shows the same frame.
    let image = session.screenshot("nested.png");
    assert_eq!((image.width, image.height), (640, 480));
    let center = (
        (rows[0].x + rows[0].width as i32 / 2) as u32,
        (rows[0].y + rows[0].height as i32 / 2) as u32,
    );
    assert_eq!(image.pixel(center.0, center.1), MAGENTA);
    assert!(
        shell.0.try_wait().unwrap().is_none(),
        "the shell still runs"
    );
}

#[test]
fn a_shell_nested_in_our_own_desktop_shell() {
    let session = Session::new();
    let mut outer = session.shell(&["--headless", "1280x720", "--socket", "outer"], &[]);
    session.wait_for_socket("outer", &mut outer);
    // The inner shell is a Wayland client of the outer one, on its own bus.
    let inner_session = Session::new();
    let outer_path = session.dir.path().join("outer");
    let mut inner = inner_session.shell(
        &["--nested", "--size", "640x480", "--socket", "inner"],
        &[("WAYLAND_DISPLAY", outer_path.to_str().unwrap())],
    );
    inner_session.wait_for_socket("inner", &mut inner);
    let mut client =
        compose_testclient::Client::connect(inner_session.dir.path(), "inner").unwrap();
    client.toplevel("magenta", "Magenta", MAGENTA).unwrap();
    wait_for("the inner shell's window in the outer shell", || {
        windows(&session.bus).len() == 1
    });
    // Review: the nested shell's window had an empty app_id.
    assert_eq!(windows(&session.bus)[0].app_id, "compose-shell");
    wait_for("the client's pixels in the outer shell", || {
        client.dispatch_for(Duration::from_millis(10)).unwrap();
        let image = session.screenshot("outer.png");
        image.rgba.chunks(4).filter(|p| *p == MAGENTA).count() > 10_000
    });
}

#[test]
fn a_shell_stopped_by_sigterm_removes_its_socket_and_lock() {
    let session = Session::new();
    let mut shell = session.shell(&["--headless", "64x64", "--socket", "compose-term"], &[]);
    session.wait_for_socket("compose-term", &mut shell);
    let socket = session.dir.path().join("compose-term");
    let lock = session.dir.path().join("compose-term.lock");
    assert!(socket.exists() && lock.exists());
    let status = Command::new("kill")
        .args(["-TERM", &shell.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = shell.0.wait().unwrap();
    assert!(status.success(), "a clean stop: {status}");
    assert!(!socket.exists(), "the socket is gone");
    assert!(!lock.exists(), "the lock file is gone");
}

#[test]
fn screenshot_errors_are_clear() {
    let session = Session::new();
    let o = compose(&["shell", "screenshot", "/tmp/x.png", "--bus", &session.bus]);
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("is `compose shell run` running on this bus?"),
        "{stderr}"
    );
    let o = compose(&["shell", "run", "--headless", "12x", "--bus", &session.bus]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("invalid output size `12x`"));
}

#[test]
fn a_shell_made_in_data_runs_and_swaps_like_the_built_in_ones() {
    let session = Session::new();
    let shells = session.dir.path().join("shells");
    std::fs::create_dir(&shells).unwrap();
    std::fs::write(
        shells.join("kiosk.toml"),
        "[shell]\nname = \"kiosk\"\nsummary = \"One app, fullscreen, nothing else\"\n\
         layout = \"focused-fullscreen\"\nparts = []\n",
    )
    .unwrap();
    let dir = shells.to_str().unwrap();
    let mut shell = session.shell(
        &[
            "--headless",
            "800x600",
            "--socket",
            "kiosk-0",
            "--shells",
            dir,
            "--shell",
            "kiosk",
        ],
        &[],
    );
    session.wait_for_socket("kiosk-0", &mut shell);
    let mut client = compose_testclient::Client::connect(session.dir.path(), "kiosk-0").unwrap();
    client.toplevel("app", "App", MAGENTA).unwrap();
    let rows = windows(&session.bus);
    assert_eq!((rows[0].width, rows[0].height), (800, 600), "fullscreen");
    let o = compose(&["shell", "swap", "desktop", "--bus", &session.bus]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The client redraws at its new size (the shell shows windows at the size they drew).
    wait_for("the desktop layout", || {
        client.dispatch_for(Duration::from_millis(20)).unwrap();
        windows(&session.bus)[0].width == 533
    });
    let o = compose(&["shell", "swap", "kiosk", "--bus", &session.bus]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    wait_for("the kiosk layout again", || {
        client.dispatch_for(Duration::from_millis(20)).unwrap();
        windows(&session.bus)[0].width == 800
    });

    // A broken definition stops `shell run` before anything starts, naming the file.
    std::fs::write(
        shells.join("broken.toml"),
        "[shell]\nname = \"broken\"\nsummary = \"\"\nlayout = \"floating\"\nparts = [\"dock\"]\n",
    )
    .unwrap();
    let o = compose(&[
        "shell",
        "run",
        "--headless",
        "64x64",
        "--shells",
        dir,
        "--bus",
        &session.bus,
    ]);
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("broken.toml") && stderr.contains("unknown variant `dock`"),
        "{stderr}"
    );
    assert!(stderr.contains("help: a shell definition is"), "{stderr}");
}

// `compose app run` of a GUI app inside a shell session: the app gets its own socket into
// the shell (WAYLAND_DISPLAY), and its window is there, marked with its sandbox.
#[test]
fn compose_app_run_shows_a_wasm_app_as_a_sandboxed_window() {
    let session = Session::new();
    let bus = session.bus.clone();
    let mut compositor = session.shell(
        &[
            "--shell",
            "desktop",
            "--headless",
            "1024x768",
            "--socket",
            "compose-a",
        ],
        &[],
    );
    session.wait_for_socket("compose-a", &mut compositor);
    let project = common::project();
    let app = |args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_compose"));
        common::cargo_env(&mut c)
            .current_dir(project.path())
            .args(args)
            .env("COMPOSE_STORE", common::store())
            .env("XDG_RUNTIME_DIR", session.dir.path())
            .env("WAYLAND_DISPLAY", "compose-a");
        c
    };
    let mut paint = Killed(
        app(&["app", "run", "app-paint"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let start = Instant::now();
    loop {
        let o = compose(&["shell", "windows", "--json", "--bus", &bus]);
        let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
        if let Some(w) = rows.iter().find(|w| w["app_id"] == "paint") {
            assert_eq!(w["sandbox"], "org.compose.sandbox/app-paint", "{w}");
            break;
        }
        if let Some(status) = paint.0.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(paint.0.stderr.as_mut().unwrap(), &mut err).unwrap();
            panic!("compose app run ended ({status}): {err}");
        }
        // The first run builds paint for wasm32-wasip2.
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "no window from paint"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Its socket is in the session's runtime folder while it runs.
    let sockets = std::fs::read_dir(session.dir.path().join("compose-apps"))
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".wayland"))
        .count();
    assert_eq!(sockets, 1);
    drop(paint);
    // Without a shell to show it, a GUI app is refused with what to do.
    let o = app(&["app", "run", "app-paint"])
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    assert_ne!(o.status.code(), Some(0));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("no shell runs here") && err.contains("compose shell run"),
        "{err}"
    );
}

// `compose shell set KEY VALUE` over the bus: the wallpaper changes on screen, the settings
// file given to `compose shell run` keeps it, and a bad value exits 2 with the reason.
#[test]
fn compose_shell_set_changes_the_running_shell_and_keeps_it() {
    let session = Session::new();
    let file = session.dir.path().join("config/shell.toml");
    let mut shell = session.shell(
        &[
            "--headless",
            "640x480",
            "--socket",
            "compose-set",
            "--settings",
            file.to_str().unwrap(),
        ],
        &[],
    );
    session.wait_for_socket("compose-set", &mut shell);
    let o = compose(&[
        "shell",
        "set",
        "wallpaper",
        "#336699",
        "--bus",
        &session.bus,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let shot = session.screenshot("set.png");
    assert_eq!(shot.pixel(320, 200), [0x33, 0x66, 0x99, 0xff]);
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains("wallpaper = \"#336699\"")
    );
    let o = compose(&["shell", "set", "lock-after", "soon", "--bus", &session.bus]);
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("lock-after = `soon`: expected seconds"),
        "{stderr}"
    );
}
