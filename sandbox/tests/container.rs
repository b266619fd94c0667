//! Containers through Debian's crun with a root file system composed from Debian packages
//! (busybox-static and its closure, from the machine's apt archive): the host's files and
//! network are out of reach, only granted folders and addresses are there, and a fork bomb
//! and a memory bomb stop at their limits.

use std::io::{BufRead, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use compose_sandbox::Grants;
use compose_sandbox::container::{self, ContainerReport};

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

/// Runs `busybox sh -c SCRIPT` in a new container with `grants`.
fn sh(grants: &Grants, script: &str) -> ContainerReport {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let bundle = tempfile::tempdir().unwrap();
    let run = ["/bin/busybox", "sh", "-c", script].map(String::from);
    container::write_bundle(bundle.path(), rootfs(), &run, grants).unwrap();
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
    let r = sh(&Grants::default(), "ls /; cat /etc/shadow; echo done");
    let text = out(&r);
    assert!(text.contains("bin") && text.contains("done"), "{text}");
    assert!(
        !text.contains("root:"),
        "the host's /etc/shadow leaked: {text}"
    );
    // Read-only root, no new privileges, root inside is nobody outside.
    let r = sh(
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

#[test]
fn granted_folders_are_there_at_their_access() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("note.txt"), "granted\n").unwrap();
    let mut ro = Grants::default();
    ro.allow(&format!("read={}:/data", dir.path().display()))
        .unwrap();
    let r = sh(
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
    let server = pong_server();
    let script = format!(
        "ip -o link | cut -d: -f2; echo ping | nc -w 2 127.0.0.1 {} || echo unreachable",
        server.port()
    );
    let text = out(&sh(&Grants::default(), &script));
    assert!(text.contains("lo"), "{text}");
    assert!(!text.contains("eth") && !text.contains("pong"), "{text}");
    assert!(text.contains("unreachable"), "{text}");
    let mut g = Grants::default();
    g.allow(&format!("connect={server}")).unwrap();
    let text = out(&sh(&g, &script));
    assert!(text.contains("pong"), "{text}");
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
    let g = Grants {
        memory: Some(64 << 20),
        ..Grants::default()
    };
    let r = sh(
        &g,
        "dd if=/dev/zero of=/dev/null bs=256M count=1 && echo allocated",
    );
    let text = out(&r);
    assert!(!text.contains("allocated"), "{text}");
    // The host is fine: the next container runs.
    assert!(out(&sh(&Grants::default(), "echo still-here")).contains("still-here"));
}
