//! WASI apps of this repository (built for wasm32-wasip2) in the real wasmtime host: what
//! is granted works, every escape is denied, and limits stop an app without stopping the
//! host.

use std::io::{BufRead, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use compose_sandbox::{Grants, Outcome, Report, Stdio, WasmError, WasmHost, apps, wasm};

fn host() -> &'static WasmHost {
    static HOST: OnceLock<WasmHost> = OnceLock::new();
    HOST.get_or_init(|| WasmHost::new().expect("the wasm engine starts"))
}

fn app(name: &str) -> PathBuf {
    static BUILT: OnceLock<std::sync::Mutex<()>> = OnceLock::new();
    // One cargo at a time.
    let _one = BUILT.get_or_init(Default::default).lock().unwrap();
    apps::build(name).unwrap_or_else(|e| panic!("{e}"))
}

fn probe(grants: &Grants, args: &[&str]) -> Report {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    host()
        .run(&app("probe"), &args, grants, Stdio::Capture)
        .expect("the probe runs")
}

fn out(r: &Report) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&r.stdout),
        String::from_utf8_lossy(&r.stderr)
    )
}

#[track_caller]
fn allowed(r: &Report) -> String {
    assert_eq!(r.outcome, Outcome::Exited(0), "{}", out(r));
    out(r)
}

#[track_caller]
fn denied(r: &Report) {
    assert_eq!(
        r.outcome,
        Outcome::Exited(1),
        "expected a refusal: {}",
        out(r)
    );
    assert!(out(r).contains("denied:"), "{}", out(r));
}

/// A granted folder with a file, a secret beside it, and a symlink that points out.
struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn new() -> Tree {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("data")).unwrap();
        std::fs::write(dir.path().join("data/notes.txt"), "one two\nthree\n").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "the host's secret\n").unwrap();
        std::os::unix::fs::symlink(
            dir.path().join("secret.txt"),
            dir.path().join("data/escape"),
        )
        .unwrap();
        Tree { dir }
    }

    fn data(&self) -> String {
        self.dir.path().join("data").to_str().unwrap().to_string()
    }

    fn grants(&self, write: bool) -> Grants {
        let mut g = Grants::default();
        let kind = if write { "write" } else { "read" };
        g.allow(&format!("{kind}={}:/data", self.data())).unwrap();
        g
    }
}

#[test]
fn wordcount_counts_what_it_is_granted() {
    let tree = Tree::new();
    let args = vec!["/data/notes.txt".to_string()];
    let r = host()
        .run(
            &app("wordcount"),
            &args,
            &tree.grants(false),
            Stdio::Capture,
        )
        .unwrap();
    assert_eq!(r.outcome, Outcome::Exited(0), "{}", out(&r));
    assert_eq!(
        String::from_utf8_lossy(&r.stdout).trim(),
        "2       3      14 /data/notes.txt"
    );
    // Without the grant there is nothing to count.
    let r = host()
        .run(&app("wordcount"), &args, &Grants::default(), Stdio::Capture)
        .unwrap();
    assert_eq!(r.outcome, Outcome::Exited(1), "{}", out(&r));
}

#[test]
fn files_outside_the_grants_are_out_of_reach() {
    let tree = Tree::new();
    let ro = tree.grants(false);
    assert!(allowed(&probe(&ro, &["read", "/data/notes.txt"])).contains("one two"));
    assert!(allowed(&probe(&ro, &["list", "/data"])).contains("notes.txt"));
    // `..` traversal, absolute host paths, a symlink out of the folder.
    denied(&probe(&ro, &["read", "/data/../secret.txt"]));
    denied(&probe(
        &ro,
        &["read", &format!("{}/../secret.txt", tree.data())],
    ));
    denied(&probe(&ro, &["read", "/etc/passwd"]));
    denied(&probe(&ro, &["read", "/data/escape"]));
    // Read-only means read-only.
    denied(&probe(&ro, &["write", "/data/new.txt", "x"]));
    assert!(!tree.dir.path().join("data/new.txt").exists());
    // A write grant writes, still only inside.
    let rw = tree.grants(true);
    allowed(&probe(&rw, &["write", "/data/new.txt", "x"]));
    assert_eq!(
        std::fs::read_to_string(tree.dir.path().join("data/new.txt")).unwrap(),
        "x"
    );
    denied(&probe(&rw, &["write", "/data/../planted.txt", "x"]));
    assert!(!tree.dir.path().join("planted.txt").exists());
}

/// A TCP server on 127.0.0.1 that answers `pong` once per connection.
fn pong_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = std::io::BufReader::new(stream);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let mut stream = reader.into_inner();
            let _ = stream.write_all(b"pong\n");
        }
    });
    addr
}

#[test]
fn the_network_is_closed_unless_an_address_is_granted() {
    let server = pong_server();
    let target = server.to_string();
    let r = probe(&Grants::default(), &["connect", &target]);
    denied(&r);
    assert!(
        r.denied.iter().any(|d| d.contains(&target)),
        "the host reports the refusal: {:?}",
        r.denied
    );
    let mut g = Grants::default();
    g.allow(&format!("connect={target}")).unwrap();
    assert!(allowed(&probe(&g, &["connect", &target])).contains("pong"));
    // Another port of the same address is still closed.
    let other = pong_server().to_string();
    denied(&probe(&g, &["connect", &other]));
}

// Review: a refused UDP bind suggested `connect=0.0.0.0:0`. A UDP client's bind to a free
// local port is allowed with any network grant; where it sends is what is checked.
#[test]
fn a_udp_client_needs_only_the_address_it_sends_to() {
    let server = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let target = server.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        while let Ok((_, from)) = server.recv_from(&mut buf) {
            let _ = server.send_to(b"pong", from);
        }
    });
    let r = probe(&Grants::default(), &["udp", &target]);
    denied(&r);
    assert!(
        r.denied.iter().any(|d| d.starts_with("bind 0.0.0.0:0")
            && d.contains("grant where it sends to")
            && !d.contains("connect=0.0.0.0:0")),
        "{:?}",
        r.denied
    );
    let mut g = Grants::default();
    g.allow(&format!("connect={target}")).unwrap();
    assert!(allowed(&probe(&g, &["udp", &target])).contains("pong"));
}

#[test]
fn names_are_looked_up_only_when_granted() {
    // Review: a refused lookup was missing from the report's `denied`.
    let r = probe(&Grants::default(), &["lookup", "localhost"]);
    denied(&r);
    assert!(
        r.denied
            .iter()
            .any(|d| d.contains("\"localhost\"") && d.contains("grant it with lookup")),
        "{:?}",
        r.denied
    );
    let mut g = Grants::default();
    g.allow("lookup").unwrap();
    let found = allowed(&probe(&g, &["lookup", "localhost"]));
    assert!(
        found.contains("127.0.0.1") || found.contains("::1"),
        "{found}"
    );
}

#[test]
fn the_environment_is_only_what_is_granted() {
    assert!(std::env::var_os("PATH").is_some());
    denied(&probe(&Grants::default(), &["env", "PATH"]));
    let mut g = Grants::default();
    g.allow("env=GREETING=hello").unwrap();
    assert!(allowed(&probe(&g, &["env", "GREETING"])).contains("hello"));
}

#[test]
fn memory_and_time_budgets_stop_the_app_not_the_host() {
    let g = Grants::default().memory_limit(32 << 20);
    let r = probe(&g, &["alloc", "8"]);
    allowed(&r);
    let r = probe(&g, &["alloc", "200"]);
    assert_eq!(r.outcome, Outcome::OutOfMemory(32 << 20), "{}", out(&r));

    let g = Grants::default().cpu_limit(Duration::from_millis(300));
    let r = probe(&g, &["spin"]);
    assert_eq!(r.outcome, Outcome::OutOfTime(Duration::from_millis(300)));
    // The host is fine: the next app runs.
    allowed(&probe(&Grants::default(), &["alloc", "1"]));
}

#[test]
fn a_second_start_is_warm_and_bad_files_are_refused_clearly() {
    probe(&Grants::default(), &["alloc", "1"]);
    let second = probe(&Grants::default(), &["alloc", "1"]);
    assert!(second.warm, "the prepared instance is reused");
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("bogus.wasm");
    std::fs::write(&bogus, b"\0asm\x01\0\0\0").unwrap();
    match host().run(&bogus, &[], &Grants::default(), Stdio::Capture) {
        Err(WasmError::NotACommand { message, .. }) => assert!(!message.is_empty()),
        other => panic!("expected NotACommand, got {other:?}"),
    }
    match host().run(
        &dir.path().join("missing.wasm"),
        &[],
        &Grants::default(),
        Stdio::Capture,
    ) {
        Err(WasmError::Read { .. }) => {}
        other => panic!("expected Read, got {other:?}"),
    }
}

#[test]
fn compiled_apps_are_kept_for_later_hosts_and_a_bad_cache_file_is_recompiled() {
    let cache = tempfile::tempdir().unwrap();
    let args = ["alloc", "1"].map(String::from);
    let run = || {
        let host = WasmHost::with_cache(Some(cache.path().to_path_buf())).unwrap();
        host.run(&app("probe"), &args, &Grants::default(), Stdio::Capture)
            .unwrap()
    };
    assert_eq!(run().outcome, Outcome::Exited(0));
    let kept: Vec<PathBuf> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(kept.len(), 1, "one compiled app in the cache: {kept:?}");
    assert!(kept[0].extension().is_some_and(|e| e == "cwasm"));
    let modified = std::fs::metadata(&kept[0]).unwrap().modified().unwrap();
    // A second host (a later process) loads it instead of compiling.
    assert_eq!(run().outcome, Outcome::Exited(0));
    assert_eq!(
        std::fs::metadata(&kept[0]).unwrap().modified().unwrap(),
        modified
    );
    // A damaged cache file costs a compile, not the run.
    std::fs::write(&kept[0], b"not compiled code").unwrap();
    assert_eq!(run().outcome, Outcome::Exited(0));
    assert_ne!(std::fs::read(&kept[0]).unwrap(), b"not compiled code");
}

#[test]
fn a_device_host_runs_only_code_compiled_for_it_beside_the_app() {
    // As `compose build` does for an image: the app's code compiled for the device's
    // architecture (baseline CPU), beside the `.wasm` as `.cwasm`.
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join("probe.wasm");
    std::fs::copy(app("probe"), &wasm).unwrap();
    let device = WasmHost::precompiled().unwrap();
    let args = ["alloc", "1"].map(String::from);

    // No code beside it: refused, saying how to get it; a device never compiles.
    let err = device
        .run(&wasm, &args, &Grants::default(), Stdio::Capture)
        .unwrap_err();
    assert!(matches!(err, WasmError::NotPrecompiled { .. }), "{err:?}");
    assert!(err.to_string().contains("compose build"), "{err}");

    let code = wasm::precompile(&std::fs::read(&wasm).unwrap(), "amd64").unwrap();
    std::fs::write(wasm::precompiled_path(&wasm), &code).unwrap();
    assert_eq!(
        wasm::precompiled_path(&wasm),
        dir.path().join("probe.cwasm")
    );
    let report = device
        .run(&wasm, &args, &Grants::default(), Stdio::Capture)
        .expect("the precompiled probe runs");
    allowed(&report);
    // Grants still hold: the environment is only what is granted.
    let run = |args: &[&str], grants: &Grants| {
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        device.run(&wasm, &args, grants, Stdio::Capture).unwrap()
    };
    denied(&run(&["env", "PATH"], &Grants::default()));
    let mut g = Grants::default();
    g.allow("env=GREETING=hello").unwrap();
    assert!(allowed(&run(&["env", "GREETING"], &g)).contains("hello"));

    // What is not code for this runtime is refused clearly, naming the way out.
    let other = dir.path().join("other.wasm");
    std::fs::copy(&wasm, &other).unwrap();
    std::fs::write(wasm::precompiled_path(&other), b"not code").unwrap();
    let err = device
        .run(&other, &args, &Grants::default(), Stdio::Capture)
        .unwrap_err();
    assert!(matches!(err, WasmError::BadPrecompiled { .. }), "{err:?}");
    assert!(err.to_string().contains("rebuild the image"), "{err}");
    assert!(wasm::precompile(b"\0asm\x01\0\0\0", "amd64").is_err());
    assert!(wasm::precompile(&std::fs::read(&wasm).unwrap(), "riscv64").is_err());
}
