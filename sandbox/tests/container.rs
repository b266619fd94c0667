//! Containers through Debian's crun with a root file system composed from Debian packages
//! (busybox-static and its closure, from the machine's apt archive), and the same files as
//! an OCI image (packed by umoci, unpacked by compose-oci with owners mapped): the host's
//! files and network are out of reach in both, only granted folders and addresses are there,
//! and a fork bomb and a memory bomb stop at their limits.

use std::io::{BufRead, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use compose_sandbox::Grants;
use compose_sandbox::container::{self, ContainerReport};

#[path = "support/busybox_image.rs"]
mod busybox_image;

/// One root file system for every test of this binary.
fn rootfs() -> &'static Path {
    static ROOT: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &ROOT
        .get_or_init(|| {
            let store_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("store");
            let store = compose_core::store::Store::open(&store_dir).unwrap();
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().join("rootfs");
            container::debian_rootfs(
                &store,
                &["busybox-static".to_string()],
                Default::default(),
                &root,
                &|_| {},
            )
            .unwrap_or_else(|e| panic!("{e}"));
            (dir, root)
        })
        .1
}

/// The Debian root's packages as an OCI image (umoci), unpacked as `compose app run`
/// unpacks images: every layer checked, owners moved to the ids the container maps.
fn oci_rootfs() -> &'static Path {
    static ROOT: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &ROOT
        .get_or_init(|| {
            let dir = tempfile::tempdir().unwrap();
            let store_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("store");
            let store = compose_core::store::Store::open(&store_dir).unwrap();
            let at = busybox_image::busybox_layout(&store, &dir.path().join("layout"));
            let at = compose_oci::ImageRef::parse(&at).unwrap();
            let image = compose_oci::Image::open(&at, compose_oci::host_architecture()).unwrap();
            let root = dir.path().join("rootfs");
            std::fs::create_dir(&root).unwrap();
            compose_oci::unpack_shifted(&image, &root, container::owner_offset()).unwrap();
            (dir, root)
        })
        .1
}

/// Both roots, by kind: the sandbox must hold in each.
fn roots() -> [(&'static str, &'static Path); 2] {
    [("debian", rootfs()), ("oci", oci_rootfs())]
}

/// Runs `busybox sh -c SCRIPT` in a new container with `grants`, in the Debian root.
fn sh(grants: &Grants, script: &str) -> ContainerReport {
    sh_in(rootfs(), grants, script)
}

/// Runs `busybox sh -c SCRIPT` in a new container of `root` with `grants`.
fn sh_in(root: &Path, grants: &Grants, script: &str) -> ContainerReport {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let bundle = tempfile::tempdir().unwrap();
    let run = ["/bin/busybox", "sh", "-c", script].map(String::from);
    container::write_bundle(
        bundle.path(),
        root,
        &container::Process::new(run.to_vec()),
        grants,
        None,
    )
    .unwrap();
    let id = format!(
        "compose-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    container::run(bundle.path(), &id).unwrap_or_else(|e| panic!("{e}"))
}

fn out(r: &ContainerReport) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&r.stdout),
        String::from_utf8_lossy(&r.stderr)
    )
}

#[test]
fn the_app_sees_its_packages_not_the_host() {
    for (kind, root) in roots() {
        eprintln!("{kind} root");
        let r = sh_in(root, &Grants::default(), "ls /; cat /etc/shadow; echo done");
        let text = out(&r);
        assert!(text.contains("bin") && text.contains("done"), "{text}");
        assert!(
            !text.contains("root:"),
            "the host's /etc/shadow leaked: {text}"
        );
        // Read-only root, no new privileges, root inside is nobody outside.
        let r = sh_in(
            root,
            &Grants::default(),
            "touch /usr/planted || echo read-only; grep NoNewPrivs /proc/self/status; cat /proc/self/uid_map",
        );
        let text = out(&r);
        assert!(text.contains("read-only"), "{text}");
        assert!(text.contains("NoNewPrivs:\t1"), "{text}");
        let outside: u32 = text
            .lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() == 3 && f[0] == "0")
                    .then(|| f[1].parse().ok())
                    .flatten()
            })
            .expect("a uid map");
        assert_ne!(
            outside, 0,
            "the container's root must not be the host's root"
        );
    }
    // The OCI root's owners were moved to the ids the container maps: its files are its
    // root's, not `nobody`'s as a root unpacked with the host's owners would show them.
    let text = out(&sh_in(
        oci_rootfs(),
        &Grants::default(),
        "stat -c owner=%u:%g /bin/busybox",
    ));
    assert!(text.contains("owner=0:0"), "{text}");
}

#[test]
fn granted_folders_are_there_at_their_access() {
    for (kind, root) in roots() {
        eprintln!("{kind} root");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("note.txt"), "granted\n").unwrap();
        let mut ro = Grants::default();
        ro.allow(&format!("read={}:/data", dir.path().display()))
            .unwrap();
        let r = sh_in(
            root,
            &ro,
            "cat /data/note.txt; echo x > /data/new || echo refused",
        );
        let text = out(&r);
        assert!(
            text.contains("granted") && text.contains("refused"),
            "{text}"
        );
        assert!(!dir.path().join("new").exists());
    }
}

/// A TCP server on the host's 127.0.0.1 that answers `pong`.
fn pong_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = std::io::BufReader::new(stream);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = reader.into_inner().write_all(b"pong\n");
        }
    });
    addr
}

#[test]
fn the_network_is_only_loopback_unless_granted() {
    for (kind, root) in roots() {
        eprintln!("{kind} root");
        let server = pong_server();
        let script = format!(
            "ip -o link | cut -d: -f2; echo ping | nc -w 2 127.0.0.1 {} || echo unreachable",
            server.port()
        );
        let text = out(&sh_in(root, &Grants::default(), &script));
        assert!(text.contains("lo"), "{text}");
        assert!(!text.contains("eth") && !text.contains("pong"), "{text}");
        assert!(text.contains("unreachable"), "{text}");
        let mut g = Grants::default();
        g.allow(&format!("connect={server}")).unwrap();
        let text = out(&sh_in(root, &g, &script));
        assert!(text.contains("pong"), "{text}");
    }
}

#[test]
fn a_fork_bomb_and_a_memory_bomb_stop_at_their_limits() {
    let r = sh(
        &Grants::default(),
        "i=0; while [ $i -lt 1000 ]; do sleep 30 & i=$((i+1)); done; echo all-started",
    );
    let text = out(&r);
    assert!(
        !text.contains("all-started"),
        "1000 processes started: {text}"
    );
    assert!(
        text.contains("fork") || text.contains("Resource temporarily unavailable"),
        "{text}"
    );
    let g = Grants::default().memory_limit(64 << 20);
    let r = sh(
        &g,
        "dd if=/dev/zero of=/dev/null bs=256M count=1 && echo allocated",
    );
    let text = out(&r);
    assert!(!text.contains("allocated"), "{text}");
    // Review: /tmp and /dev held 64 MiB each whatever the grant (a 32M app held 128 MiB of
    // host memory on the rlimit fallback). Each now holds a quarter of the grant.
    let g = Grants::default().memory_limit(32 << 20);
    let r = sh(
        &g,
        "dd if=/dev/zero of=/tmp/fill bs=1M count=64 2>/dev/null; \
         echo tmp=$(($(wc -c < /tmp/fill) / 1048576)); \
         dd if=/dev/zero of=/dev/fill bs=1M count=64 2>/dev/null; \
         echo dev=$(($(wc -c < /dev/fill) / 1048576))",
    );
    let text = out(&r);
    assert!(text.contains("tmp=8") && text.contains("dev=8"), "{text}");
    // The host is fine: the next container runs.
    assert!(out(&sh(&Grants::default(), "echo still-here")).contains("still-here"));
}

/// Our static Wayland client (`compose-window`, musl), put into the shared root.
fn window_program() -> &'static str {
    static PUT: OnceLock<()> = OnceLock::new();
    PUT.get_or_init(|| {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let target = "x86_64-unknown-linux-musl";
        let status = std::process::Command::new(std::env::var("CARGO").unwrap_or("cargo".into()))
            .current_dir(repo)
            .args(["build", "--quiet", "--release", "-p", "compose-testclient"])
            .args(["--bin", "compose-window", "--target", target])
            .status()
            .unwrap();
        assert!(status.success(), "compose-window builds for musl");
        let built = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo.join("target"))
            .join(target)
            .join("release/compose-window");
        let bin = rootfs().join("usr/local/bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::copy(built, bin.join("compose-window")).unwrap();
    });
    "/usr/local/bin/compose-window"
}

/// A root file system of foot (Debian's Wayland terminal) and dash, for the GUI tests.
fn foot_rootfs() -> &'static Path {
    static ROOT: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &ROOT
        .get_or_init(|| {
            let store_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("store");
            let store = compose_core::store::Store::open(&store_dir).unwrap();
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().join("rootfs");
            let packages = ["foot", "dash"].map(String::from);
            container::debian_rootfs(&store, &packages, Default::default(), &root, &|_| {})
                .unwrap_or_else(|e| panic!("{e}"));
            (dir, root)
        })
        .1
}

/// A headless desktop shell on a thread of this process, and its socket.
fn start_shell(
    dir: &Path,
) -> (
    compose_shells::smithay::reexports::calloop::channel::Sender<
        compose_shells::compositor::Command,
    >,
    std::thread::JoinHandle<Result<(), compose_shells::compositor::CompositorError>>,
    PathBuf,
) {
    use compose_shells::compositor::{Options, run};
    let shell = dir.join("shell-0");
    let (control, commands) = compose_shells::smithay::reexports::calloop::channel::channel();
    let desktop = compose_shells::definition::builtin()
        .into_iter()
        .find(|s| s.name == "desktop")
        .unwrap();
    let options = Options::headless(shell.to_str().unwrap(), desktop, 800, 600);
    let compositor = std::thread::spawn(move || run(options, commands));
    let start = std::time::Instant::now();
    while !shell.exists() {
        assert!(start.elapsed().as_secs() < 20, "the shell did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    (control, compositor, shell)
}

// A real app from Debian, unchanged: foot, in a crun container of its own packages, with
// only its own Wayland socket into the shell.
#[test]
fn foot_from_debian_in_a_container_is_a_marked_window_of_the_shell() {
    use compose_shells::compositor::{Command, WindowInfo};
    let root = foot_rootfs();
    let dir = tempfile::tempdir().unwrap();
    let (control, compositor, shell) = start_shell(dir.path());
    let socket = dir.path().join("foot-0");
    let _sandbox = compose_sandbox::wayland::open(&shell, &socket, "foot").unwrap();
    // foot reserves address space for its scrolling shm pools (512 MiB).
    let grants = Grants::default().window().memory_limit(1 << 30);
    let bundle = tempfile::tempdir().unwrap();
    let run_args = ["foot", "-o", "colors.background=00ff00", "dash"].map(String::from);
    container::write_bundle(
        bundle.path(),
        root,
        &container::Process::new(run_args.to_vec()),
        &grants,
        Some(&socket),
    )
    .unwrap();
    let id = format!("compose-test-foot-{}", std::process::id());
    let (bundle_path, run_id) = (bundle.path().to_path_buf(), id.clone());
    let app = std::thread::spawn(move || container::run(&bundle_path, &run_id));
    let ask = |make: &dyn Fn(std::sync::mpsc::Sender<_>) -> Command| {
        let (reply, answer) = std::sync::mpsc::channel();
        control.send(make(reply)).unwrap();
        answer
            .recv_timeout(std::time::Duration::from_secs(10))
            .unwrap()
    };
    let start = std::time::Instant::now();
    let window = loop {
        let windows: Vec<WindowInfo> = ask(&Command::Windows);
        if let Some(w) = windows
            .into_iter()
            .find(|w| w.app_id == "foot" && w.buffer.is_some())
        {
            break w;
        }
        assert!(
            !app.is_finished(),
            "foot's container ended: {:?}",
            app.join().map(|r| r.map(|r| out(&r)))
        );
        assert!(start.elapsed().as_secs() < 60, "no window from foot");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(window.sandbox.as_deref(), Some("org.compose.sandbox/foot"));
    let g = window.geometry;
    let centre = (
        (g.x + g.width as i32 / 2) as u32,
        (g.y + g.height as i32 / 2) as u32,
    );
    let start = std::time::Instant::now();
    loop {
        let (reply, answer) = std::sync::mpsc::channel();
        control.send(Command::Screenshot(reply)).unwrap();
        let shot = answer
            .recv_timeout(std::time::Duration::from_secs(10))
            .unwrap()
            .unwrap();
        if shot.pixel(centre.0, centre.1) == [0, 255, 0, 255] {
            break;
        }
        assert!(
            start.elapsed().as_secs() < 30,
            "foot's green background at {centre:?}: {:?}",
            shot.pixel(centre.0, centre.1)
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    container::kill(&id).unwrap();
    let _ = app.join().unwrap();
    control.send(Command::Stop).unwrap();
    compositor.join().unwrap().unwrap();
}

#[test]
fn a_gui_app_in_a_container_is_a_marked_window_of_the_shell() {
    use compose_shells::compositor::Command;
    let program = window_program();
    // The shell, headless, in this process.
    let dir = tempfile::tempdir().unwrap();
    let (control, compositor, shell) = start_shell(dir.path());
    // The app's own socket, and the container with it.
    let socket = dir.path().join("app-0");
    let _sandbox = compose_sandbox::wayland::open(&shell, &socket, "green").unwrap();
    let grants = Grants::default().window();
    let bundle = tempfile::tempdir().unwrap();
    let run_args = [program, "green", "00ff00"].map(String::from);
    container::write_bundle(
        bundle.path(),
        rootfs(),
        &container::Process::new(run_args.to_vec()),
        &grants,
        Some(&socket),
    )
    .unwrap();
    let id = format!("compose-test-gui-{}", std::process::id());
    let (bundle_path, run_id) = (bundle.path().to_path_buf(), id.clone());
    let app = std::thread::spawn(move || container::run(&bundle_path, &run_id));
    let ask = |make: &dyn Fn(std::sync::mpsc::Sender<_>) -> Command| {
        let (reply, answer) = std::sync::mpsc::channel();
        control.send(make(reply)).unwrap();
        answer
            .recv_timeout(std::time::Duration::from_secs(10))
            .unwrap()
    };
    let start = std::time::Instant::now();
    let window = loop {
        let windows: Vec<compose_shells::compositor::WindowInfo> = ask(&Command::Windows);
        if let Some(w) = windows
            .into_iter()
            .find(|w| w.app_id == "green" && w.buffer.is_some())
        {
            break w;
        }
        assert!(
            !app.is_finished(),
            "the container ended: {:?}",
            app.join().map(|r| r.map(|r| format!("{r:?}")))
        );
        assert!(
            start.elapsed().as_secs() < 30,
            "no window from the container"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(window.sandbox.as_deref(), Some("org.compose.sandbox/green"));
    let (reply, answer) = std::sync::mpsc::channel();
    control.send(Command::Screenshot(reply)).unwrap();
    let shot = answer
        .recv_timeout(std::time::Duration::from_secs(10))
        .unwrap()
        .unwrap();
    let g = window.geometry;
    let centre = (
        (g.x + g.width as i32 / 2) as u32,
        (g.y + g.height as i32 / 2) as u32,
    );
    assert_eq!(
        shot.pixel(centre.0, centre.1),
        [0, 255, 0, 255],
        "the app's pixels"
    );
    // Beside it a wasm app's window (paint, in wasmtime); both stay through every shell.
    let paint = compose_sandbox::apps::build("paint").unwrap_or_else(|e| panic!("{e}"));
    let paint_socket = dir.path().join("paint-0");
    let paint_sandbox = compose_sandbox::wayland::open(&shell, &paint_socket, "paint").unwrap();
    let wasm = std::thread::spawn(move || {
        let _keep = paint_sandbox;
        let grants = Grants::default().window();
        compose_sandbox::WasmHost::new().unwrap().run_in_shell(
            &paint,
            &[],
            &grants,
            compose_sandbox::Stdio::Capture,
            Some(&paint_socket),
        )
    });
    let both = || {
        let wait = std::time::Duration::from_secs(10);
        let windows = compose_shells::compositor::ask(&control, wait, Command::Windows).unwrap();
        ["green", "paint"].map(|app| {
            windows
                .iter()
                .find(|w| w.app_id == app && w.buffer.is_some())
                .map(|w| w.id)
        })
    };
    let start = std::time::Instant::now();
    let ids = loop {
        if let [Some(a), Some(b)] = both() {
            break [a, b];
        }
        assert!(!wasm.is_finished(), "paint ended: {:?}", wasm.join());
        assert!(start.elapsed().as_secs() < 60, "no window from paint");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    for name in ["gaming", "tablet", "desktop"] {
        let def = compose_shells::definition::builtin()
            .into_iter()
            .find(|s| s.name == name)
            .unwrap();
        let (reply, answer) = std::sync::mpsc::channel();
        control.send(Command::Swap(def, reply)).unwrap();
        answer
            .recv_timeout(std::time::Duration::from_secs(10))
            .unwrap();
        assert_eq!(both(), ids.map(Some), "{name}: both windows, the same ids");
        assert!(
            !app.is_finished() && !wasm.is_finished(),
            "{name}: both apps run"
        );
    }
    container::kill(&id).unwrap();
    let report = app.join().unwrap().unwrap();
    assert_ne!(report.status, Some(0), "killed: {}", out(&report));
    // A click on paint's window and `q`: paint ends on its own.
    use compose_shells::compositor::InputEvent;
    let windows: Vec<compose_shells::compositor::WindowInfo> = ask(&Command::Windows);
    let g = windows
        .iter()
        .find(|w| w.app_id == "paint")
        .unwrap()
        .geometry;
    let (x, y) = (f64::from(g.x) + 300.0, f64::from(g.y) + 200.0);
    for e in [
        InputEvent::PointerMotion { x, y },
        InputEvent::PointerButton {
            button: 272,
            pressed: true,
        },
        InputEvent::PointerButton {
            button: 272,
            pressed: false,
        },
        InputEvent::Key {
            code: 16,
            pressed: true,
        },
        InputEvent::Key {
            code: 16,
            pressed: false,
        },
    ] {
        control.send(Command::Input(e)).unwrap();
    }
    let paint = wasm.join().unwrap().unwrap();
    assert!(
        String::from_utf8_lossy(&paint.stdout).contains("paint: closed"),
        "{paint:?}"
    );
    control.send(Command::Stop).unwrap();
    compositor.join().unwrap().unwrap();
}
