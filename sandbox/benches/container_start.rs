//! Container start to first frame (a bench command): Debian's foot in a crun container of
//! its own packages, as compose starts it (its own security-context socket into the
//! shell, the bundle written from its grants, crun), against bare `crun run` of the same
//! bundle with the shell's socket bound in directly; both until the shell holds foot's
//! first buffer. The shell is headless, in this process.
//!
//! Run with `cargo bench -p compose-sandbox --bench container-start` (as root: crun's
//! user namespace maps the app to uid 100000).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use compose_sandbox::Grants;
use compose_sandbox::container;
use compose_shells::compositor::{Command, Options, WindowInfo, run};
use compose_shells::smithay::reexports::calloop::channel::{Sender, channel};

const RUNS: usize = 7;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Asks the shell for its windows.
fn windows(control: &Sender<Command>) -> Vec<WindowInfo> {
    let (reply, answer) = std::sync::mpsc::channel();
    control.send(Command::Windows(reply)).unwrap();
    answer.recv_timeout(Duration::from_secs(10)).unwrap()
}

/// Runs container `id` from `bundle` with `crun` and returns how long until the shell
/// holds a buffer of a window with app id `foot`; then stops the container.
fn until_first_frame(
    control: &Sender<Command>,
    start: Instant,
    bundle: &Path,
    id: &str,
    bare: bool,
) -> Duration {
    let (bundle_path, run_id) = (bundle.to_path_buf(), id.to_string());
    let app = std::thread::spawn(move || {
        if bare {
            // Exactly the command compose runs crun with, nothing around it.
            let out = container::crun_command(&bundle_path, &run_id, &container::Limits::here())
                .stdin(std::process::Stdio::null())
                .output()
                .unwrap();
            format!(
                "crun run: {}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        } else {
            let r = container::run(&bundle_path, &run_id).unwrap();
            String::from_utf8_lossy(&r.stderr).into_owned()
        }
    });
    let took = loop {
        if windows(control)
            .iter()
            .any(|w| w.app_id == "foot" && w.buffer.is_some())
        {
            break start.elapsed();
        }
        assert!(
            !app.is_finished(),
            "foot's container ended: {:?}",
            app.join()
        );
        assert!(start.elapsed().as_secs() < 60, "no frame from foot");
        std::thread::sleep(Duration::from_millis(2));
    };
    container::kill(id).unwrap();
    let _ = app.join();
    // Until the shell has let the window go.
    while windows(control).iter().any(|w| w.app_id == "foot") {
        std::thread::sleep(Duration::from_millis(10));
    }
    took
}

fn main() {
    let store_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("store");
    let store = compose_core::store::Store::open(&store_dir).unwrap();
    let packages = ["foot", "dash"].map(String::from);
    let root: PathBuf = container::cached_rootfs(&store, &packages, Default::default(), &|_| {})
        .unwrap_or_else(|e| panic!("{e}"));

    let dir = tempfile::tempdir().unwrap();
    let shell = dir.path().join("shell-0");
    let (control, commands) = channel();
    let desktop = compose_shells::definition::builtin()
        .into_iter()
        .find(|s| s.name == "desktop")
        .unwrap();
    let options = Options::headless(shell.to_str().unwrap(), desktop, 1280, 800);
    let compositor = std::thread::spawn(move || run(options, commands));
    while !shell.exists() {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Bare crun binds the shell's own socket, which the app's user (uid 100000) must be
    // able to connect to, as compose's sandbox sockets are.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&shell, std::fs::Permissions::from_mode(0o666)).unwrap();
    // foot reserves address space for its scrolling shm pools (512 MiB).
    let grants = Grants::default().window().memory_limit(1 << 30);
    let args = ["foot", "dash"].map(String::from);

    let (mut ours, mut bare) = (Vec::new(), Vec::new());
    for i in 0..RUNS {
        // compose: a security-context socket of the app's own, its bundle, crun.
        let start = Instant::now();
        let socket = dir.path().join(format!("foot-{i}"));
        let sandbox = compose_sandbox::wayland::open(&shell, &socket, "foot").unwrap();
        let bundle = tempfile::tempdir().unwrap();
        container::write_bundle(
            bundle.path(),
            &root,
            &container::Process::new(args.to_vec()),
            &grants,
            Some(&socket),
        )
        .unwrap();
        let id = format!("compose-bench-{}-{i}", std::process::id());
        ours.push(until_first_frame(
            &control,
            start,
            bundle.path(),
            &id,
            false,
        ));
        drop(sandbox);

        // Bare crun: the same bundle, made beforehand, with the shell's socket itself.
        let bundle = tempfile::tempdir().unwrap();
        container::write_bundle(
            bundle.path(),
            &root,
            &container::Process::new(args.to_vec()),
            &grants,
            Some(&shell),
        )
        .unwrap();
        let id = format!("compose-bench-bare-{}-{i}", std::process::id());
        let start = Instant::now();
        bare.push(until_first_frame(&control, start, bundle.path(), &id, true));
    }
    control.send(Command::Stop).unwrap();
    compositor.join().unwrap().unwrap();

    let (ours, bare) = (median(ours), median(bare));
    println!("foot in a container, start to first frame (median of {RUNS}):");
    println!("  compose (security context, bundle, crun): {ours:?}");
    println!("  bare `crun run` of the same bundle:       {bare:?}");
    println!(
        "  ratio compose / bare: {:.2}",
        ours.as_secs_f64() / bare.as_secs_f64()
    );
}
