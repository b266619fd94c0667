//! Publishing and fetching updates, for real: a project's key pair, two builds of the `vm`
//! device that differ in one component, `compose publish` of both into a repository, and
//! `compose serve` handing its files (with byte ranges) to the device agent's library over
//! HTTP (ureq), which reads what runs from version 1's own root file system, verifies the
//! offered release and makes version 2's root from its slot plus the chunks it lacks.
//! Refusals: a generation that is not newer, a key the image does not trust, an image never
//! built, a release changed after signing, an expired one.
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{assert_exit, compose, project, text};
use compose_update::release::Release;

/// `compose build --device vm --generation N` into `out` (OUT/vm/).
fn build(project: &Path, generation: u64, out: &Path) {
    let o = compose(
        project,
        &[
            "build",
            "--device",
            "vm",
            "--generation",
            &generation.to_string(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_exit(&o, 0);
}

/// `compose publish --device vm REPO --out OUT --json`: its report.
fn publish(project: &Path, repo: &Path, out: &Path) -> serde_json::Value {
    let o = compose(
        project,
        &[
            "publish",
            "--device",
            "vm",
            repo.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--json",
        ],
    );
    assert_exit(&o, 0);
    serde_json::from_slice(&o.stdout).unwrap()
}

/// One HTTP/1.1 GET (optionally with a Range header): status line and body.
fn get(addr: &str, path: &str, range: Option<&str>) -> (String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    let range = range.map(|r| format!("Range: {r}\r\n")).unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{range}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).unwrap();
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer");
    let head = String::from_utf8_lossy(&answer[..split]).into_owned();
    (head, answer[split + 4..].to_vec())
}

/// `compose serve` on a free loopback port: the running server and its address.
fn serve(repo: &Path) -> (Kill, String) {
    let mut server = Command::new(env!("CARGO_BIN_EXE_compose"))
        .args(["serve", repo.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .rsplit_once("http://")
        .map(|(_, a)| a.trim_end_matches('/').to_string())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    (Kill(server), addr)
}

/// A child process killed when dropped.
struct Kill(std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn publish_two_versions_serve_them_and_rebuild_the_new_slot_from_chunks() {
    let project = project();
    let p = project.path();
    let repo = p.join("repo");
    let out = p.join("out");

    // No key yet: publishing says how to make one.
    build(p, 1, &out);
    let o = compose(p, &["publish", "--device", "vm", repo.to_str().unwrap()]);
    assert_exit(&o, 2);
    assert!(text(&o).contains("compose keys generate"), "{}", text(&o));

    let o = compose(p, &["keys", "generate"]);
    assert_exit(&o, 0);
    let secret = std::fs::metadata(p.join("keys/update.key")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&secret.permissions()) & 0o777,
        0o600
    );
    let trusted = compose_update::keys::read_public(&p.join("keys/update.pub")).unwrap();
    // A second one would replace the trusted key: refused unless --force.
    assert_exit(&compose(p, &["keys", "generate"]), 2);
    // The image built before the key does not trust it... and one built now does.
    build(p, 1, &out);
    let first = publish(p, &repo, &out);
    assert_eq!(first["generation"], 1);
    assert_eq!(first["latest"], true);

    // Version 2: one component changed (boot-log's script).
    let manifest = p.join("manifests/boot-log.toml");
    let changed = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("of this disk", "of this disk, version 2");
    std::fs::write(&manifest, changed).unwrap();
    build(p, 2, &out);
    let second = publish(p, &repo, &out);
    assert_eq!(second["generation"], 2);
    let root = &second["artifacts"][0];
    assert_eq!(root["name"], "root");
    let (size, new) = (
        root["size"].as_u64().unwrap(),
        root["new_bytes"].as_u64().unwrap(),
    );
    assert!(new > 0 && new < size, "{root}");
    eprintln!(
        "one changed component: {new} of {size} root bytes are new chunks ({:.1}%), {} bytes stored",
        new as f64 * 100.0 / size as f64,
        root["new_stored"]
    );
    for a in second["artifacts"].as_array().unwrap() {
        eprintln!("  {a}");
    }

    // Generation 1 again, as another version: no device would take it.
    std::fs::write(
        &manifest,
        std::fs::read_to_string(&manifest)
            .unwrap()
            .replace("version 2", "version 1b"),
    )
    .unwrap();
    build(p, 1, &out);
    let o = compose(p, &["publish", "--device", "vm", repo.to_str().unwrap()]);
    assert_exit(&o, 2);
    assert!(
        text(&o).contains("generation 1") && text(&o).contains("--generation 3"),
        "{}",
        text(&o)
    );
    // Signed with a key the image does not trust.
    let o = compose(p, &["keys", "generate", "--force"]);
    assert_exit(&o, 0);
    let o = compose(p, &["publish", "--device", "vm", repo.to_str().unwrap()]);
    assert_exit(&o, 2);
    assert!(
        text(&o).contains("the image trusts update key"),
        "{}",
        text(&o)
    );
    // An image never built.
    let o = compose(
        p,
        &["publish", "--device", "laptop", repo.to_str().unwrap()],
    );
    assert_exit(&o, 2);
    assert!(text(&o).contains("compose build --device"), "{}", text(&o));

    // The repository over HTTP, on loopback.
    let (_server, addr) = serve(&repo);

    // latest.json is version 2.
    let (head, latest) = get(&addr, "/vm/latest.json", None);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let release: Release = compose_update::release::verify(&latest, &trusted, "vm", now).unwrap();
    assert_eq!(release.generation, 2);
    assert_eq!(release.version, second["version"].as_str().unwrap());
    // A range resumes a download.
    let (head, tail) = get(&addr, "/vm/latest.json", Some("bytes=10-"));
    assert!(head.starts_with("HTTP/1.1 206"), "{head}");
    assert!(
        head.contains(&format!("bytes 10-{}/{}", latest.len() - 1, latest.len())),
        "{head}"
    );
    assert_eq!(tail, latest[10..]);
    let (head, _) = get(
        &addr,
        "/vm/latest.json",
        Some(&format!("bytes={}-", latest.len())),
    );
    assert!(head.starts_with("HTTP/1.1 416"), "{head}");
    let (head, _) = get(&addr, "/../etc/passwd", None);
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");

    // The device's agent, on version 1: its root file system (fetched whole, as a device
    // with an empty seed would) holds its version, generation and trusted key.
    use compose_update::agent::{self, Repo};
    let repo_url = Repo::new(&format!("http://{addr}/"));
    let old: Release = {
        let (_, bytes) = get(
            &addr,
            &format!("/vm/releases/{}.json", first["version"].as_str().unwrap()),
            None,
        );
        compose_update::release::verify(&bytes, &trusted, "vm", now).unwrap()
    };
    let v1 = p.join("v1.erofs");
    let whole = agent::download(&repo_url, &old.root, &[], &v1).unwrap();
    assert_eq!(whole.fetch_bytes, old.root.size);
    let v1_root = p.join("v1-root");
    let o = Command::new("fsck.erofs")
        .arg(format!("--extract={}", v1_root.display()))
        .arg(&v1)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let running = agent::running(&v1_root).unwrap();
    assert_eq!(
        (running.version.as_str(), running.generation),
        (old.version.as_str(), 1)
    );
    assert_eq!(running.trusted, trusted);

    // It is offered version 2 and makes it from its own slot plus the chunks it lacks.
    let offer = agent::check(&repo_url, &running, now, None).unwrap();
    assert!(offer.newer);
    assert_eq!(offer.release.generation, 2);
    let seed = std::fs::read(&v1).unwrap();
    let v2 = p.join("v2.erofs");
    let plan = agent::download(&repo_url, &offer.release.root, &[&seed], &v2).unwrap();
    compose_update::release::check_hash("root", &std::fs::read(&v2).unwrap(), &release.root.sha256)
        .unwrap();
    assert!(plan.fetch_bytes < release.root.size / 5, "{plan:?}");
    eprintln!(
        "a device on version 1 fetches {} of {} root bytes for version 2 ({:.1}%) in {} chunks",
        plan.fetch_bytes,
        release.root.size,
        plan.fetch_bytes as f64 * 100.0 / release.root.size as f64,
        plan.fetch.len()
    );

    // Version 1 by name is a deploy (allowed though older); a release changed after signing
    // is refused and nothing is written.
    let mut on_v2 = running.clone();
    on_v2.generation = 2;
    assert!(agent::check(&repo_url, &on_v2, now, Some(&old.version)).is_ok());
    let mut signed: compose_update::release::SignedRelease =
        serde_json::from_slice(&latest).unwrap();
    signed.release = signed
        .release
        .replace("\"generation\":2", "\"generation\":7");
    std::fs::write(
        repo.join("vm/releases/tampered.json"),
        serde_json::to_vec(&signed).unwrap(),
    )
    .unwrap();
    let e = agent::check(&repo_url, &running, now, Some("tampered")).unwrap_err();
    assert!(e.to_string().contains("changed after signing"), "{e}");
    let e = agent::check(&repo_url, &running, now + 31 * 24 * 3600, None).unwrap_err();
    assert!(e.to_string().contains("expired"), "{e}");
}

/// A boot of `disk` until ready; the console.
fn boot_console(project: &Path, disk: &Path) -> String {
    let o = compose(
        project,
        &[
            "flash",
            disk.to_str().unwrap(),
            "--vm",
            "--until-ready",
            "--timeout",
            "300",
            "--json",
        ],
    );
    assert_exit(&o, 0);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["console"].as_str().unwrap_or_default().to_string()
}

// The agent in a real device: version 1 of `vm` boots in QEMU, its service asks `compose
// serve` on the host (QEMU's user network reaches the host's loopback at 10.0.2.2) and is
// offered version 2, verified against the key built into version 1.
#[test]
fn the_agent_in_a_booted_image_is_offered_the_newer_release() {
    let project = project();
    let p = project.path();
    let repo = p.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let (_server, addr) = serve(&repo);
    let port = addr.rsplit_once(':').unwrap().1.to_string();
    std::fs::write(
        p.join("manifests/update-check.toml"),
        format!(
            r#"[component]
name = "update-check"
version = "0.1.0"
summary = "asks the test's repository for an update once the network is up"
requires = ["update-agent", "shell-utils", "network"]

[[service]]
name = "update-check"
exec = ["/bin/busybox", "sh", "-c", "for i in $(/bin/busybox seq 60); do /usr/bin/compose-update check --repo http://10.0.2.2:{port}/ && exit 0; /bin/busybox sleep 1; done; exit 1"]
type = "oneshot"
restart = "no"
"#
        ),
    )
    .unwrap();
    common::add_vm_root(p, "update-check");
    assert_exit(&compose(p, &["keys", "generate"]), 0);
    let (out1, out2) = (p.join("out1"), p.join("out2"));
    build(p, 1, &out1);
    publish(p, &repo, &out1);
    let manifest = p.join("manifests/boot-log.toml");
    let changed = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("of this disk", "of this disk, version 2");
    std::fs::write(&manifest, changed).unwrap();
    build(p, 2, &out2);
    publish(p, &repo, &out2);
    let v2: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out2.join("vm/image.json")).unwrap()).unwrap();
    let console = boot_console(p, &out1.join("vm/disk.raw"));
    let offered = format!(
        "update: vm {} (generation 2)",
        v2["version"].as_str().unwrap()
    );
    assert!(
        console.contains(&offered),
        "no `{offered}` on the console:\n{console}"
    );
}
