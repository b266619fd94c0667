//! The `vm-desktop` image boots into its shell on the VM's own screen: a real QEMU with
//! virtio-vga, a virtio keyboard and tablet, our compositor on KMS rendering with pixman
//! (the image holds no Mesa, libvulkan or LLVM),
//! foot and weston-flower from Debian packages as its clients, paint (wasm) started from
//! its task bar in the sandbox, container and wasm services reporting from theirs, and a
//! client drawing into dma-bufs (linux-dmabuf). The screen is read with QMP
//! `screendump`, input goes in with QMP `input-send-event`, the shell is asked through its
//! virtio-serial port (`compose shell --vm`), and the serial console takes commands.
//! Under TCG one run takes a few minutes; every failure shows the console and keeps the
//! screendump.

use crate::common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{ShellWindow as Window, assert_exit, compose, project};
use compose_shells::app_menu::MENU_WIDTH;
use compose_shells::compositor::colors;
use compose_shells::policy::{LAUNCHER_WIDTH, START_WIDTH, STATUS_WIDTH, TASKBAR};
use compose_shells::render::Image;
use serde_json::{Value, json};

/// Generous: TCG emulates the CPU the shell and its apps run on.
const WAIT: Duration = Duration::from_secs(420);

/// A running `compose flash --vm` and what it printed.
struct Vm {
    child: Child,
    console: Arc<Mutex<String>>,
    sockets: PathBuf,
    shots: PathBuf,
    project: PathBuf,
}

impl Drop for Vm {
    /// Kills `compose flash` and QEMU with it: they share a process group of their own.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

impl Vm {
    fn boot(project: &Path, disk: &Path) -> Vm {
        let sockets = project.join("sockets");
        let mut child = Command::new(env!("CARGO_BIN_EXE_compose"))
            .current_dir(project)
            .args([
                "flash",
                disk.to_str().unwrap(),
                "--vm",
                "--display",
                "headless",
            ])
            .args(["--sockets", sockets.to_str().unwrap(), "--console"])
            .args(["--memory", "1536", "--timeout", "1200"])
            .process_group(0)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let console = Arc::new(Mutex::new(String::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let console = console.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let mut c = console.lock().unwrap();
                    c.push_str(&line);
                    c.push('\n');
                }
            });
        }
        Vm {
            child,
            console,
            sockets,
            shots: project.join("shots"),
            project: project.to_path_buf(),
        }
    }

    fn console(&self) -> String {
        self.console.lock().unwrap().clone()
    }

    /// Fails the test with the console's end and where the last screendump is.
    fn fail(&self, what: &str) -> ! {
        let shot = self.screendump("failure");
        let console = self.console();
        let lines: Vec<&str> = console.lines().collect();
        let tail = lines[lines.len().saturating_sub(60)..].join("\n");
        panic!(
            "{what}\n--- screendump: {} ---\n--- console (last 60 lines) ---\n{tail}",
            shot.display()
        );
    }

    /// Waits until `check` finds what it wants in the console.
    fn wait_console(&mut self, what: &str, check: impl Fn(&str) -> bool) {
        let start = Instant::now();
        while !check(&self.console()) {
            if start.elapsed() > WAIT {
                self.fail(&format!("the console never showed {what}"));
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                self.fail(&format!("compose flash ended ({status}) before {what}"));
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Types into the serial console.
    fn type_console(&mut self, text: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(text.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// `compose shell --vm DIR windows --json`, through the shell's control port.
    fn windows(&self) -> Option<Vec<Window>> {
        let o = compose(
            &self.project,
            &[
                "shell",
                "windows",
                "--json",
                "--vm",
                self.sockets.to_str().unwrap(),
            ],
        );
        o.status
            .success()
            .then(|| serde_json::from_slice(&o.stdout).ok())
            .flatten()
    }

    /// Waits until the shell lists windows that `check` accepts.
    fn wait_windows(&mut self, what: &str, check: impl Fn(&[Window]) -> bool) -> Vec<Window> {
        let start = Instant::now();
        loop {
            if let Some(w) = self.windows()
                && check(&w)
            {
                return w;
            }
            if start.elapsed() > WAIT {
                let now = self.windows();
                self.fail(&format!("the shell never had {what}; it has {now:?}"));
            }
            std::thread::sleep(Duration::from_secs(1));
        }
    }

    fn qmp(&self, command: Value) -> Value {
        let stream = UnixStream::connect(self.sockets.join("qmp.sock")).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        let mut line = String::new();
        reader.read_line(&mut line).unwrap(); // greeting
        for c in [json!({"execute": "qmp_capabilities"}), command] {
            writeln!(writer, "{c}").unwrap();
            loop {
                line.clear();
                reader.read_line(&mut line).unwrap();
                let v: Value = serde_json::from_str(&line).unwrap();
                if v.get("return").is_some() || v.get("error").is_some() {
                    assert!(v.get("error").is_none(), "QMP refused {c}: {v}");
                    if c["execute"] != "qmp_capabilities" {
                        return v;
                    }
                    break;
                }
            }
        }
        unreachable!()
    }

    /// The VM's screen, pixel for pixel (QMP screendump).
    fn screendump(&self, name: &str) -> PathBuf {
        std::fs::create_dir_all(&self.shots).unwrap();
        let path = self.shots.join(format!("{name}.png"));
        let _ = std::fs::remove_file(&path);
        self.qmp(json!({"execute": "screendump",
            "arguments": {"filename": path.to_str().unwrap(), "format": "png"}}));
        path
    }

    fn input(&self, events: Value) {
        self.qmp(json!({"execute": "input-send-event", "arguments": {"events": events}}));
    }

    /// Moves the tablet to (x, y) on a `size` screen and clicks.
    fn click(&self, size: (u32, u32), x: u32, y: u32) {
        let abs = |v: u32, len: u32| (v as u64 * 0x7fff / (len as u64 - 1)) as u32;
        self.input(json!([
            {"type": "abs", "data": {"axis": "x", "value": abs(x, size.0)}},
            {"type": "abs", "data": {"axis": "y", "value": abs(y, size.1)}},
        ]));
        std::thread::sleep(Duration::from_millis(200));
        for down in [true, false] {
            self.input(json!([{"type": "btn", "data": {"down": down, "button": "left"}}]));
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Presses `keys` (QEMU qcodes) together, then releases them in reverse.
    fn chord(&self, keys: &[&str]) {
        for k in keys {
            self.input(json!([{"type": "key", "data": {"down": true, "key": {"type": "qcode", "data": k}}}]));
        }
        for k in keys.iter().rev() {
            self.input(json!([{"type": "key", "data": {"down": false, "key": {"type": "qcode", "data": k}}}]));
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    /// Types `text` on the virtio keyboard (US layout).
    fn type_keys(&self, text: &str) {
        for c in text.chars() {
            let (code, shift) = qcode(c);
            if shift {
                self.chord(&["shift", &code]);
            } else {
                self.chord(&[&code]);
            }
        }
    }
}

fn qcode(c: char) -> (String, bool) {
    match c {
        'a'..='z' | '0'..='9' => (c.to_string(), false),
        '&' => ("7".into(), true),
        'A'..='Z' => (c.to_ascii_lowercase().to_string(), true),
        ' ' => ("spc".into(), false),
        '\n' => ("ret".into(), false),
        '-' => ("minus".into(), false),
        '/' => ("slash".into(), false),
        '.' => ("dot".into(), false),
        '>' => ("dot".into(), true),
        '$' => ("4".into(), true),
        '(' => ("9".into(), true),
        ')' => ("0".into(), true),
        '*' => ("8".into(), true),
        other => panic!("no qcode for {other:?} in this test"),
    }
}

fn find<'a>(windows: &'a [Window], app: &str) -> &'a Window {
    windows
        .iter()
        .find(|w| w.app_id.contains(app) || w.title.contains(app))
        .unwrap_or_else(|| panic!("no window of {app} in {windows:?}"))
}

/// foot's default background (1.13), 0x111111.
const FOOT_BACKGROUND: [u8; 3] = [0x11, 0x11, 0x11];

/// A point of `target` that no other window (or its title bar) covers, away from the
/// resize corner.
fn visible_point(target: &Window, windows: &[Window]) -> (u32, u32) {
    let covered = |x: i32, y: i32| {
        windows.iter().any(|w| {
            w.app_id != target.app_id
                && x >= w.x
                && x < w.x + w.width as i32
                && y >= w.y - 32
                && y < w.y + w.height as i32
        })
    };
    let step = 4;
    for y in (target.y + 4..target.y + target.height as i32 - 24)
        .rev()
        .step_by(step)
    {
        for x in (target.x + 4..target.x + target.width as i32 - 24)
            .rev()
            .step_by(step)
        {
            if !covered(x, y) {
                return (x as u32, y as u32);
            }
        }
    }
    panic!("{target:?} is covered everywhere by {windows:?}");
}

fn rgb(image: &Image, x: u32, y: u32) -> [u8; 3] {
    let p = image.pixel(x, y);
    [p[0], p[1], p[2]]
}

/// Whether a screen pixel shows `color` (the shell's linear colours, 8 bits per channel).
fn close(pixel: [u8; 3], color: [f32; 4]) -> bool {
    (0..3).all(|i| (pixel[i] as f32 - color[i] * 255.0).abs() <= 2.0)
}

#[test]
fn the_desktop_image_boots_into_its_shell_with_real_apps_input_and_swaps() {
    let project = project();
    let out = project.path().join("out");
    let o = compose(
        project.path(),
        &[
            "build",
            "--device",
            "vm-desktop",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_exit(&o, 0);
    let disk = out.join("vm-desktop/disk.raw");
    // A device without a GPU draws with pixman: its root carries no GPU driver stack.
    let o = compose(
        project.path(),
        &["inspect", disk.to_str().unwrap(), "--files", "a", "--json"],
    );
    assert_exit(&o, 0);
    let listing = String::from_utf8_lossy(&o.stdout);
    for gpu_only in [
        "libLLVM",
        "libvulkan",
        "libvulkan_lvp",
        "/usr/share/vulkan/",
        "libz3",
    ] {
        assert!(
            !listing.contains(gpu_only),
            "vm-desktop's root holds {gpu_only} (it should render with pixman only)"
        );
    }
    assert!(
        listing.contains("libpixman-1.so.0"),
        "no libpixman-1 in the root"
    );
    let mut vm = Vm::boot(project.path(), &disk);

    // The shell comes up by itself and starts both apps of the image.
    vm.wait_console("the shell's readiness line", |c| {
        c.contains("compose-shell: ready on")
    });
    let windows = vm.wait_windows("foot and flower mapped", |w| {
        w.len() >= 2 && w.iter().all(|w| w.width > 0)
    });
    let foot = find(&windows, "foot").clone();
    // The shell says which renderer draws, and why.
    let o = compose(
        project.path(),
        &[
            "shell",
            "stats",
            "--json",
            "--vm",
            vm.sockets.to_str().unwrap(),
        ],
    );
    assert_exit(&o, 0);
    let stats: Value = serde_json::from_slice(&o.stdout).unwrap();
    if stats["renderer"] != "cpu" {
        vm.fail(&format!("the shell does not draw with pixman: {stats}"));
    }
    // Let both apps draw, then read the real screen.
    std::thread::sleep(Duration::from_secs(5));
    let shot = vm.screendump("desktop");
    let screen = Image::read_png(&shot).unwrap();
    let size = (screen.width, screen.height);
    let bottom = rgb(&screen, 3, size.1 - 3);
    if !close(bottom, colors::TASKBAR) {
        vm.fail(&format!(
            "no task bar at the bottom of the screen: {bottom:?}"
        ));
    }
    // foot's own pixels, where no other window covers it (away from its text at the top).
    let (x, y) = visible_point(&foot, &windows);
    let inside = rgb(&screen, x, y);
    if inside != FOOT_BACKGROUND {
        vm.fail(&format!(
            "foot's window at {foot:?} does not show its background: {inside:?}"
        ));
    }

    // The image's sandboxed services report what they see from inside: the container its
    // own hostname, pid 1, only loopback and its one granted folder, read-only, and the
    // cgroup limits of its manifest (64 MiB, 256 processes: the device has cgroup2); the wasm
    // app the counts of its own description in the folder it is granted.
    vm.wait_console("the container service's report", |c| {
        c.contains("sandbox-check: container")
    });
    let console = vm.console();
    let report = console
        .lines()
        .find(|l| l.contains("sandbox-check: container"))
        .unwrap()
        .trim_end()
        .to_string();
    for seen in [
        "host=app",
        "pid=1 ",
        "net=lo apps=3",
        "write=denied",
        "memory.max=67108864 pids.max=256",
    ] {
        if !report.contains(seen) {
            vm.fail(&format!(
                "the container saw more than it is granted ({seen} expected): {report}"
            ));
        }
    }
    vm.wait_console("the wasm service's counts", |c| {
        c.lines()
            .any(|l| l.trim_end().ends_with(" /apps/sandbox-check-wasm.toml"))
    });

    // The task bar's first launcher (after the Apps button) starts paint, a wasm app of the
    // image, in its sandbox; its window is marked as sandboxed, and a click draws on its canvas.
    vm.click(
        size,
        START_WIDTH + 8 + LAUNCHER_WIDTH / 2,
        size.1 - TASKBAR / 2,
    );
    let windows = vm.wait_windows("paint's window", |w| {
        w.iter().any(|w| w.app_id == "paint" && w.width > 0)
    });
    let paint = find(&windows, "paint").clone();
    assert_eq!(
        paint.sandbox.as_deref(),
        Some("org.compose.sandbox/app-paint"),
        "{paint:?}"
    );
    std::thread::sleep(Duration::from_secs(5));
    let (px, py) = (paint.x as u32 + 100, paint.y as u32 + 200);
    let screen = Image::read_png(&vm.screendump("paint")).unwrap();
    if rgb(&screen, px, py) != [0xff, 0xff, 0xff] {
        vm.fail(&format!(
            "paint's canvas is not white at ({px}, {py}): {paint:?}"
        ));
    }
    // The first click focuses it; both reach it and paint with the brush (black).
    vm.click(size, px, py);
    vm.click(size, px, py);
    let start = Instant::now();
    while rgb(&Image::read_png(&vm.screendump("painted")).unwrap(), px, py) != [0, 0, 0] {
        if start.elapsed() > Duration::from_secs(60) {
            vm.fail(&format!(
                "a click on paint's canvas at ({px}, {py}) drew nothing"
            ));
        }
        std::thread::sleep(Duration::from_secs(2));
    }

    // A click focuses foot; typed keys reach its shell, which writes to the console.
    let (x, y) = visible_point(&foot, &windows);
    vm.click(size, x, y);
    vm.wait_windows("foot focused after the click", |w| find(w, "foot").focused);
    // Review: under TCG, input waited behind 220-320 ms frames (lavapipe) and foot's key
    // repeat turned `hidden` into `hiddddddden`. The line must come out exactly as typed.
    vm.type_keys("echo typed-$((6*7)) >/dev/ttyS0\n");
    vm.wait_console("the typed command's output, each key once", |c| {
        c.split(|ch: char| !ch.is_ascii_alphanumeric() && ch != '-')
            .any(|word| word == "typed-42")
    });

    // Super+Shift+G swaps to the gaming shell: foot, focused, fills the screen; flower
    // is still connected.
    vm.chord(&["meta_l", "shift", "g"]);
    let gaming = vm.wait_windows("foot fullscreen after the game-mode key", |w| {
        let f = find(w, "foot");
        w.len() >= 2 && f.focused && f.x == 0 && f.y == 0 && (f.width, f.height) == size
    });
    assert_eq!(gaming.len(), windows.len(), "every client is still there");
    std::thread::sleep(Duration::from_secs(3));
    let screen = Image::read_png(&vm.screendump("gaming")).unwrap();
    for (x, y) in [(size.0 - 2, size.1 - 2), (size.0 / 2, size.1 - 2)] {
        if rgb(&screen, x, y) != FOOT_BACKGROUND {
            vm.fail(&format!("foot does not fill the screen at ({x}, {y})"));
        }
    }

    // And back with `compose shell swap` over the control port.
    let o = compose(
        project.path(),
        &[
            "shell",
            "swap",
            "desktop",
            "--vm",
            vm.sockets.to_str().unwrap(),
        ],
    );
    assert_exit(&o, 0);
    vm.wait_windows("foot floating again", |w| {
        let f = find(w, "foot");
        (f.width, f.height) != size
    });
    // A setting that lasts, over the same port: the wallpaper, on the real screen (its top
    // right corner, where no window is), kept under /var for the next start below.
    let o = compose(
        project.path(),
        &[
            "shell",
            "set",
            "wallpaper",
            "#336699",
            "--vm",
            vm.sockets.to_str().unwrap(),
        ],
    );
    assert_exit(&o, 0);
    std::thread::sleep(Duration::from_secs(2));
    let corner = (size.0 - 4, 4);
    let wallpaper = [0x33, 0x66, 0x99];
    let screen = Image::read_png(&vm.screendump("wallpaper")).unwrap();
    if rgb(&screen, corner.0, corner.1) != wallpaper {
        vm.fail(&format!(
            "the wallpaper set over the port is not on screen: {:?}",
            rgb(&screen, corner.0, corner.1)
        ));
    }

    // The shell's own screenshot comes back through the port, at the screen's size.
    let mine = project.path().join("mine.png");
    let o = compose(
        project.path(),
        &[
            "shell",
            "screenshot",
            mine.to_str().unwrap(),
            "--vm",
            vm.sockets.to_str().unwrap(),
        ],
    );
    assert_exit(&o, 0);
    let mine = Image::read_png(&mine).unwrap();
    assert_eq!((mine.width, mine.height), size);

    // A client whose buffers are dma-bufs (dumb buffers of the screen's card, shared
    // through linux-dmabuf), started from foot, is shown with its own pixels.
    let windows = vm.wait_windows("foot still there", |w| w.len() >= 2);
    let foot = find(&windows, "foot").clone();
    let (x, y) = visible_point(&foot, &windows);
    vm.click(size, x, y);
    vm.wait_windows("foot focused again", |w| find(w, "foot").focused);
    // Its messages go to the console, where a failure shows them.
    vm.type_keys(
        "compose-window dmabuf-window 3366cc --dmabuf /dev/dri/card0 >/dev/ttyS0 2>&1 &\n",
    );
    let with_dmabuf = vm.wait_windows("the dma-buf client's window", |w| {
        w.iter().any(|w| w.app_id == "dmabuf-window" && w.width > 0)
    });
    let dmabuf = find(&with_dmabuf, "dmabuf-window").clone();
    std::thread::sleep(Duration::from_secs(3));
    let screen = Image::read_png(&vm.screendump("dmabuf")).unwrap();
    let (x, y) = visible_point(&dmabuf, &with_dmabuf);
    if rgb(&screen, x, y) != [0x33, 0x66, 0xcc] {
        vm.fail(&format!(
            "the dma-buf window at {dmabuf:?} does not show its colour at ({x}, {y}): {:?}",
            rgb(&screen, x, y)
        ));
    }

    // The Apps button opens the launcher, listing the image's desktop entries, and the task
    // bar ends in the clock; typing "foot" and Enter starts another foot from its entry.
    let foots = |w: &[Window]| w.iter().filter(|w| w.app_id == "foot").count();
    let before = foots(&with_dmabuf);
    vm.click(size, 4 + START_WIDTH / 2, size.1 - TASKBAR / 2);
    std::thread::sleep(Duration::from_secs(3));
    let screen = Image::read_png(&vm.screendump("launcher")).unwrap();
    let menu_corner = (MENU_WIDTH - 2, size.1 - TASKBAR - 2);
    if !close(rgb(&screen, menu_corner.0, menu_corner.1), colors::MENU) {
        vm.fail(&format!(
            "no launcher menu above the Apps button at {menu_corner:?}: {:?}",
            rgb(&screen, menu_corner.0, menu_corner.1)
        ));
    }
    let clock = (size.0 - STATUS_WIDTH..size.0)
        .flat_map(|x| (size.1 - TASKBAR..size.1).map(move |y| (x, y)))
        .filter(|&(x, y)| !close(rgb(&screen, x, y), colors::TASKBAR))
        .count();
    if clock < 40 {
        vm.fail(&format!(
            "no clock at the task bar's right end ({clock} pixels of text)"
        ));
    }
    vm.type_keys("foot\n");
    vm.wait_windows("a second foot, started from the launcher", |w| {
        foots(w) == before + 1
    });

    // A killed shell is started again by init, and starts its apps again.
    let before = vm.console().matches("compose-shell: ready on").count();
    vm.type_console("\n/bin/busybox killall -9 compose-shell\n");
    vm.wait_console("the shell started again", |c| {
        c.matches("compose-shell: ready on").count() > before
    });
    vm.wait_windows("both apps back", |w| w.len() >= 2);
    std::thread::sleep(Duration::from_secs(3));
    let screen = Image::read_png(&vm.screendump("restarted")).unwrap();
    if rgb(&screen, corner.0, corner.1) != wallpaper {
        vm.fail(&format!(
            "the restarted shell forgot the wallpaper: {:?}",
            rgb(&screen, corner.0, corner.1)
        ));
    }
}
