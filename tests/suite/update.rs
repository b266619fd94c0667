//! Publishing and fetching updates, for real: a project's key pair, two builds of the `vm`
//! device that differ in one component, `compose publish` of both into a repository, and
//! `compose serve` handing its files (with byte ranges) to the device agent's library over
//! HTTP (ureq), which reads what runs from version 1's own root file system, verifies the
//! offered release and makes version 2's root from its slot plus the chunks it lacks.
//! Refusals: a generation that is not newer, a key the image does not trust, an image never
//! built, a release changed after signing, an expired one.
use crate::common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

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

/// Version 2 of the project: one component changed (boot-log's script says so).
fn change_boot_log(project: &Path) {
    let manifest = project.join("manifests/boot-log.toml");
    let changed = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("of this disk", "of this disk, version 2");
    std::fs::write(&manifest, changed).unwrap();
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
    serve_with(repo, &[])
}

/// `compose serve` with `args` on a free loopback port: the server and its address.
fn serve_with(repo: &Path, args: &[String]) -> (Kill, String) {
    let mut server = Command::new(env!("CARGO_BIN_EXE_compose"))
        .args(["serve", repo.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .args(args)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .rsplit_once("://")
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
    change_boot_log(p);
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
    let manifest = p.join("manifests/boot-log.toml");
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
    let repo_url = Repo::new(&format!("http://{addr}/"), &Default::default()).unwrap();
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
    assert_eq!(whole.fetched, old.root.size);
    // What the agent reads as its seed on a device: the erofs image (its size from its
    // superblock) and the dm-verity tree after it (its size from the root's parameters)
    // are the published root.
    assert!(
        old.verity.is_some(),
        "the release names the root's hash tree"
    );
    assert_eq!(
        compose_update::device::read_root(&v1, old.verity.as_ref())
            .unwrap()
            .len() as u64,
        old.root.size
    );
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
    assert!(plan.fetched < release.root.size / 5, "{plan:?}");
    eprintln!(
        "a device on version 1 fetches {} of {} root bytes for version 2 ({:.1}%) in {} chunks",
        plan.fetched,
        release.root.size,
        plan.fetched as f64 * 100.0 / release.root.size as f64,
        plan.fetched_chunks
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

    a_bad_chunk_on_the_server_leaves_both_slots_and_their_entries_as_they_were(
        &repo,
        &repo_url,
        &offer.release,
        &seed,
    );
}

// Review: with one tampered chunk on the server, the agent removed the other slot's boot entry
// and started writing before the chunk failed its hash: the device lost its rollback target.
// Now everything the new slot needs is fetched and checked first.
fn a_bad_chunk_on_the_server_leaves_both_slots_and_their_entries_as_they_were(
    repo: &Path,
    repo_url: &compose_update::agent::Repo,
    release: &Release,
    seed: &[u8],
) {
    use compose_boot::entry::Entry;
    use compose_update::install::{Esp, Target, install};
    let index = compose_update::agent::index(repo_url, &release.root).unwrap();
    let have = compose_update::apply::seed_map(&[seed]);
    let lacking = index
        .chunks
        .iter()
        .rev()
        .find(|c| !have.contains_key(&c.digest))
        .expect("version 2 has chunks version 1 lacks");
    let chunk = repo.join(compose_update::repo::chunk(&lacking.digest));
    let good = std::fs::read(&chunk).unwrap();
    let mut bad = good.clone();
    let at = bad.len() / 2;
    bad[at] ^= 0xff;
    std::fs::write(&chunk, &bad).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let entries = dir.path().join("loader/entries");
    std::fs::create_dir_all(&entries).unwrap();
    let entry = |slot: &str, serial: u64| Entry {
        device: "vm".into(),
        version: format!("v{serial}"),
        generation: serial,
        slot: slot.into(),
        serial,
        options: format!("root=PARTUUID={serial} ro compose.slot={slot}"),
        uki: true,
        root_size: 0,
        root_sha256: String::new(),
        pcr11: None,
    };
    std::fs::write(entries.join("compose-a.conf"), entry("a", 1).render()).unwrap();
    std::fs::write(entries.join("compose-b.conf"), entry("b", 2).render()).unwrap();
    let slot_a = dir.path().join("root-a");
    let mut old = seed.to_vec();
    old.resize(release.root.size as usize + (1 << 20), 0);
    std::fs::write(&slot_a, &old).unwrap();
    let listing = |d: &Path| -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<_> = walkdir::WalkDir::new(d)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .map(|e| {
                (
                    e.path().display().to_string(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        files.sort();
        files
    };
    let before = listing(dir.path());
    let mut steps = Vec::new();
    let e = install(
        repo_url,
        release,
        seed,
        &Target {
            booted: "b".into(),
            slot: "a".into(),
            partition: slot_a.clone(),
            partuuid: "3".into(),
        },
        &Esp::new(dir.path()),
        false,
        &mut |s| steps.push(s.to_string()),
    )
    .unwrap_err();
    assert!(
        e.to_string().contains(&lacking.digest),
        "the error names the bad chunk: {e}"
    );
    assert!(steps.is_empty(), "nothing was written: {steps:?}");
    assert!(
        listing(dir.path()) == before,
        "both slots and both entries are as they were"
    );
    std::fs::write(&chunk, &good).unwrap();
}

/// `compose flash DISK` in a VM, in place (its slots, entries and /var change).
fn flash_in_place(disk: &Path) -> Vec<&str> {
    let disk = disk.to_str().unwrap();
    vec!["flash", disk, "--vm", "--in-place", "--timeout", "300"]
}

/// One boot of `disk` in place (its slots, entries and /var change): until it is ready
/// (`until_ready`), else until the VM reboots (QEMU runs with -no-reboot, so a reboot ends
/// it). The console.
fn boot_in_place(project: &Path, disk: &Path, until_ready: bool) -> String {
    // The disk's firmware variables last across its boots, as a machine's do: the Secure
    // Boot keys systemd-boot enrols on the first boot stay enrolled.
    let vars = disk.with_extension("vars");
    let mut args = flash_in_place(disk);
    args.extend(["--json", "--efi-vars", vars.to_str().unwrap()]);
    if until_ready {
        args.push("--until-ready");
    }
    let o = compose(project, &args);
    assert_exit(&o, 0);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v["console"].as_str().unwrap_or_default().to_string()
}

/// The disk's boot entries by slot: (file, tries left, image version, serial).
fn entries(project: &Path, disk: &Path) -> Vec<(String, Option<u64>, String, u64)> {
    let o = compose(project, &["inspect", disk.to_str().unwrap(), "--json"]);
    assert_exit(&o, 0);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let mut out: Vec<_> = v["boot_entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["file"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("/loader/entries/")
                    .to_string(),
                e["tries_left"].as_u64(),
                e["version"].as_str().unwrap().to_string(),
                e["serial"].as_u64().unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

fn expect(console: &str, wanted: &str) {
    assert!(
        console.contains(wanted),
        "no `{wanted}` on the console:\n{console}"
    );
}

// A/B updates on a real device, driven from inside the VM by its own agent: version 1
// updates itself to version 2 (slot b, /var and /etc kept), rolls back to 1, deploys 2 by
// name (every chunk already in place: nothing fetched), and is offered a version 3 whose
// service never gets ready: its boots fail, each reboots, and after its three tries
// systemd-boot falls back to version 2 by itself. The images are signed: the first boot
// enrols the project's Secure Boot keys, and every later one (UKIs an update installed
// included) runs under Secure Boot. What the agent runs at each boot is the
// `command` file of the repository the test serves (QEMU's user network reaches the
// host's loopback at 10.0.2.2).
/// Versions 1 and 2 of `vm` with the agent and a driver service, published to a
/// repository `compose serve` serves: what the QEMU tests of updates start from.
struct Lab {
    project: tempfile::TempDir,
    repo: std::path::PathBuf,
    _servers: [Kill; 2],
    /// The repository as the VM's agent reaches it: HTTPS, with a certificate from the
    /// project's CA, which the images pin.
    url: String,
    v1: String,
    v2: String,
}

impl Lab {
    /// `signed`: with the project's Secure Boot keys (the images are signed, and each disk's
    /// first boot enrols them); else the images are unsigned, and no boot spends a firmware
    /// reset on enrolment (the power-cut and fleet tests, which test other things).
    fn new(signed: bool) -> Lab {
        let project = project();
        let p = project.path();
        let repo = p.join("repo");
        std::fs::create_dir_all(&repo).unwrap();
        // The driver's busybox wget speaks plain HTTP: the same folder on a second server
        // (plain HTTP, which the agent refuses off loopback, is for the driver alone).
        let (plain_server, addr) = serve(&repo);
        let port = addr.rsplit_once(':').unwrap().1.to_string();
        let plain = format!("http://10.0.2.2:{port}/");
        // What the agent runs at each boot is the `command` file of the repository.
        std::fs::write(
            p.join("manifests/update-driver.toml"),
            format!(
                r##"[component]
name = "update-driver"
version = "0.1.0"
summary = "runs the compose-update command the test serves, once the network is up"
requires = ["update-agent", "shell-utils", "network"]

[[files]]
path = "/usr/libexec/update-driver"
mode = "0755"
content = """#!/bin/busybox sh
for i in $(/bin/busybox seq 90); do
  command=$(/bin/busybox wget -q -O - {plain}command) && break
  /bin/busybox sleep 1
done
/usr/bin/compose-update status
echo "update-driver: compose-update $command"
for i in $(/bin/busybox seq 30); do
  /usr/bin/compose-update $command && exit 0
  /bin/busybox sleep 2
done
exit 1
"""

[[service]]
name = "update-driver"
exec = ["/usr/libexec/update-driver"]
restart = "no"
"##
            ),
        )
        .unwrap();
        common::add_vm_root(p, "update-driver");
        assert_exit(&compose(p, &["keys", "generate"]), 0);
        if !signed {
            std::fs::remove_dir_all(p.join("keys/secureboot")).unwrap();
        }
        // The repository over HTTPS as the VM reaches the host (QEMU's 10.0.2.2), and as the
        // host's own tools do (127.0.0.1).
        let o = compose(p, &["keys", "server-cert", "10.0.2.2", "127.0.0.1"]);
        assert_exit(&o, 0);
        let (tls_server, addr) = serve_with(&repo, &server_cert_args(p));
        let port = addr.rsplit_once(':').unwrap().1.to_string();
        let url = format!("https://10.0.2.2:{port}/");
        let (out1, out2) = (p.join("out1"), p.join("out2"));
        build(p, 1, &out1);
        publish(p, &repo, &out1);
        change_boot_log(p);
        build(p, 2, &out2);
        publish(p, &repo, &out2);
        std::fs::copy(out1.join("vm/image.json"), p.join("image.json")).unwrap();
        Lab {
            v1: image_version(&out1),
            v2: image_version(&out2),
            project,
            repo,
            _servers: [plain_server, tls_server],
            url,
        }
    }

    fn path(&self) -> &Path {
        self.project.path()
    }

    /// What the agent runs at the next boot.
    fn command(&self, c: &str) {
        std::fs::write(self.repo.join("command"), c).unwrap();
    }

    /// A fresh copy of version 1's disk.
    fn disk(&self, name: &str) -> std::path::PathBuf {
        let disk = self.path().join(name);
        std::fs::copy(self.path().join("out1/vm/disk.raw"), &disk).unwrap();
        disk
    }
}

fn image_version(out: &Path) -> String {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("vm/image.json")).unwrap()).unwrap();
    v["version"].as_str().unwrap().to_string()
}

/// Every entry on the disk names a root its slot holds (`compose inspect`).
fn assert_sound(project: &Path, disk: &Path) {
    let o = compose(project, &["inspect", disk.to_str().unwrap(), "--json"]);
    assert_exit(&o, 0);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    for e in v["boot_entries"].as_array().unwrap() {
        assert_eq!(e["root_sound"], serde_json::json!(true), "{e}");
    }
}

// A/B updates on a real device, driven from inside the VM by its own agent: version 1
// updates itself to version 2 (slot b, /var and /etc kept), rolls back to 1, deploys 2 by
// name (every chunk already in place: nothing fetched), and is offered a version 3 whose
// service never gets ready: its boots fail, each reboots, and after its three tries
// systemd-boot falls back to version 2 by itself. The images are signed: the first boot
// enrols the project's Secure Boot keys, and every later one (UKIs an update installed
// included) runs under Secure Boot.
#[test]
fn a_device_updates_rolls_back_deploys_and_falls_back_from_a_release_that_never_gets_ready() {
    let lab = Lab::new(true);
    let p = lab.path();
    let (v1, v2, url) = (lab.v1.clone(), lab.v2.clone(), lab.url.clone());
    let command = |c: &str| lab.command(c);
    let disk = lab.disk("disk.raw");
    let out3 = p.join("out3");

    // Version 1 updates itself to 2 and reboots.
    command(&format!("update --repo {url} --reboot"));
    let console = boot_in_place(p, &disk, false);
    expect(&console, &format!("version={v1} slot=a"));
    expect(
        &console,
        &format!("installed vm {v2} (generation 2) in slot b"),
    );
    let installed = console.lines().find(|l| l.starts_with("installed vm"));
    eprintln!(
        "version 1 -> 2 under TCG: {}",
        installed.unwrap_or_default()
    );
    let e = entries(p, &disk);
    assert_eq!(
        e,
        vec![
            ("compose-a.conf".into(), None, v1.clone(), 1),
            ("compose-b+3.conf".into(), Some(3), v2.clone(), 2),
        ]
    );
    assert_sound(p, &disk);

    // Version 2 runs from slot b with /var and /etc of version 1's boot, and rolls back.
    command("rollback --reboot");
    let console = boot_in_place(p, &disk, false);
    expect(&console, &format!("version={v2} slot=b"));
    expect(
        &console,
        "boot-log: boot 2 of this disk, version 2 (/etc says 2)",
    );
    expect(&console, "blessed boot entry compose-b.conf");
    expect(
        &console,
        &format!("slot a: vm {v1} (generation 1), blessed, dm-verity root hash "),
    );
    expect(&console, "… [rollback target]");
    // Slot b boots version 2 through the tree its release named; the kernel found every
    // block it read so far sound.
    let b = console
        .lines()
        .find(|l| l.starts_with(&format!("slot b: vm {v2} (generation 2)")))
        .unwrap_or_else(|| panic!("no status line of slot b:\n{console}"));
    assert!(b.contains("…, verified so far [booted"), "{b}");
    expect(
        &console,
        &format!("rollback: slot a (vm {v1}, generation 1) boots next"),
    );

    // Version 1 again; it deploys version 2 by name: slot b holds it already.
    command(&format!("deploy {v2} --repo {url} --reboot"));
    let console = boot_in_place(p, &disk, false);
    expect(&console, &format!("version={v1} slot=a"));
    expect(&console, "boot-log: boot 3 of this disk (/etc says 3)");
    expect(
        &console,
        &format!(
            "installed vm {v2} (generation 2) in slot b: root 0 bytes fetched (0 on the wire), 0 copied"
        ),
    );

    // Version 3 never gets ready (a required service fails): each of its boots reboots,
    // and once its tries are spent, version 2 boots again.
    common::add_crashy_service(p);
    build(p, 3, &out3);
    publish(p, &lab.repo, &out3);
    let v3 = image_version(&out3);
    command(&format!("update --repo {url} --reboot"));
    let console = boot_in_place(p, &disk, false);
    expect(&console, &format!("version={v2} slot=b"));
    expect(
        &console,
        &format!("installed vm {v3} (generation 3) in slot a"),
    );
    command("status");
    for try_ in 1..=3 {
        let console = boot_in_place(p, &disk, false);
        expect(&console, "compose-init: this slot is on trial: rebooting");
        assert!(
            !console.contains("compose: ready"),
            "try {try_}:\n{console}"
        );
    }
    let e = entries(p, &disk);
    assert_eq!(e[0].0, "compose-a+0-3.conf", "{e:?}");
    let console = boot_in_place(p, &disk, true);
    expect(&console, &format!("version={v2} slot=b"));
    assert_sound(p, &disk);
}

/// Boots `disk` in place until the console (written to `serial`) shows `marker`, waits
/// `delay`, then cuts the power: `compose flash` is stopped, and it kills QEMU, whatever
/// the guest was doing.
fn boot_and_cut(project: &Path, disk: &Path, marker: &str, delay: Duration) -> String {
    let serial = project.join("serial.log");
    let _ = std::fs::remove_file(&serial);
    let mut flash = Command::new(env!("CARGO_BIN_EXE_compose"))
        .current_dir(project)
        .args(flash_in_place(disk))
        .arg("--serial")
        .arg(&serial)
        .env("COMPOSE_STORE", common::store())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stopped = loop {
        let console = std::fs::read_to_string(&serial).unwrap_or_default();
        if console.contains(marker) {
            break None;
        }
        if let Ok(Some(status)) = flash.try_wait() {
            break Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        stopped.is_none(),
        "the VM stopped ({stopped:?}) before `{marker}`:\n{}",
        std::fs::read_to_string(&serial).unwrap_or_default()
    );
    std::thread::sleep(delay);
    // The VM may have rebooted (and so ended) meanwhile: then there is nothing to cut.
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(flash.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    flash.wait().unwrap();
    // All the console said before the power went.
    std::fs::read_to_string(&serial).unwrap_or_default()
}

/// The device after a power cut: it boots to a ready version 1 (slot a) or 2 (slot b), and
/// every boot entry's slot holds the root the entry names. Version 2 for certain once the
/// agent said its entry was written (before that the guest may have got further than its
/// console shows, so either is right). Returns whether version 2 booted.
fn check_after_cut(lab: &Lab, disk: &Path, cut: &str, what: &str) -> bool {
    lab.command("status");
    let console = boot_in_place(lab.path(), disk, true);
    let ready = console
        .lines()
        .find(|l| l.contains("compose: ready"))
        .unwrap_or_else(|| panic!("{what}: no ready line:\n{console}"))
        .to_string();
    let new = ready.contains(&format!("version={} slot=b", lab.v2));
    assert!(
        new || ready.contains(&format!("version={} slot=a", lab.v1)),
        "{what}: {ready}"
    );
    if cut.contains("compose-update: entry compose-b+3.conf written") {
        assert!(new, "{what}: the new entry was written, yet {ready}");
    }
    assert_sound(lab.path(), disk);
    eprintln!("{what}: {ready}");
    new
}

// Power cuts, the ostree way: an update of version 1 to 2 is cut right after each step of
// its writes in turn (the other slot's entry removed, its root written, its kernel and
// initramfs written, its new entry renamed into place). After every cut the device boots
// to a ready version 1 or 2 (2 only once its entry was written), and `compose inspect`
// finds every entry's slot holding the root the entry names.
#[test]
fn a_power_cut_after_any_step_of_an_update_leaves_a_device_that_boots() {
    let lab = Lab::new(false);
    let p = lab.path();
    let steps = [
        "slot b's boot entry removed",
        "slot b's root written and checked",
        "slot b's kernel and initramfs written and checked",
        "entry compose-b+3.conf written",
    ];
    for (i, step) in steps.into_iter().enumerate() {
        let disk = lab.disk(&format!("cut-{i}.raw"));
        lab.command(&format!("update --repo {}", lab.url));
        let cut = boot_and_cut(p, &disk, &format!("compose-update: {step}"), Duration::ZERO);
        expect(&cut, &format!("version={} slot=a", lab.v1));
        check_after_cut(&lab, &disk, &cut, &format!("cut after `{step}`"));
        std::fs::remove_file(&disk).unwrap();
    }
}

// Power cuts at random moments: `COMPOSE_POWER_CUTS=N` runs N of them
// (scripts/bench-power-cuts); without it this test does nothing. Each cut falls in the
// update's writes (0-4 s after the agent starts) or in the new slot's first boot (0-20 s
// after it starts); then the device must boot to a ready version 1 or 2 with sound slots.
#[test]
fn power_cuts_at_random_moments_never_leave_a_device_that_does_not_boot() {
    let Some(cuts) = std::env::var("COMPOSE_POWER_CUTS")
        .ok()
        .and_then(|n| n.parse::<u32>().ok())
    else {
        return;
    };
    let lab = Lab::new(false);
    let p = lab.path();
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("power cuts: {cuts}, seed {seed}");
    let mut random = move |below: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % below
    };
    let (mut old, mut new) = (0, 0);
    for i in 0..cuts {
        let disk = lab.disk("random-cut.raw");
        lab.command(&format!("update --repo {} --reboot", lab.url));
        let during_first_boot = random(2) == 1;
        let (marker, delay) = if during_first_boot {
            // The update and its reboot, then a cut in the new slot's first boot.
            boot_in_place(p, &disk, false);
            lab.command("status");
            ("", Duration::from_millis(random(20_000)))
        } else {
            (
                "update-driver: compose-update",
                Duration::from_millis(random(4_000)),
            )
        };
        let cut = boot_and_cut(p, &disk, marker, delay);
        let what = format!(
            "cut {i} ({} + {} ms)",
            if during_first_boot {
                "first boot"
            } else {
                "update"
            },
            delay.as_millis()
        );
        if check_after_cut(&lab, &disk, &cut, &what) {
            new += 1;
        } else {
            old += 1;
        }
    }
    eprintln!("power cuts: {cuts}, every one booted: {old} to version 1, {new} to version 2");
}

/// `compose fleet ...` against the fleet server at `server` with `token`; its JSON answer.
/// `--tls-cert` and `--tls-key` of the project's server certificate (`compose keys server-cert`).
fn server_cert_args(project: &Path) -> Vec<String> {
    let (cert, key) = (
        project.join("keys/server/cert.pem"),
        project.join("keys/server/key.pem"),
    );
    assert!(cert.is_file() && key.is_file());
    vec![
        "--tls-cert".into(),
        cert.display().to_string(),
        "--tls-key".into(),
        key.display().to_string(),
    ]
}

/// The project's TLS CA, as an admin's `compose fleet --ca` trusts it.
const PROJECT_CA: &str = "keys/tls-ca/ca.pem";

fn fleet(project: &Path, server: &str, token: &str, args: &[&str]) -> serde_json::Value {
    let mut all = vec![
        "fleet", "--server", server, "--token", token, "--ca", PROJECT_CA, "--json",
    ];
    all.extend_from_slice(args);
    let o = compose(project, &all);
    assert_exit(&o, 0);
    serde_json::from_slice(&o.stdout).unwrap_or_else(|_| text(&o).into())
}

// The fleet end to end: `compose fleet serve` (with a real etcd) serves version 2 of the
// Lab's repository; the VM's own agent (`compose-update fleet`, started by the image's
// driver service) enrolls with a token, is offered the rollout, installs it, takes its
// group's reboot slot through FleetLock and reboots; back up on version 2 it reports the
// boot and frees the slot. Commands reach it only through its own poll.
#[test]
fn a_fleet_rolls_a_release_out_to_the_vm_through_its_own_agent() {
    let lab = Lab::new(false);
    let p = lab.path();
    let etcd =
        compose_fleet::lock::LocalEtcd::start().expect("etcd (scripts/setup installs etcd-server)");
    let state = p.join("fleet-state");
    let mut server = Command::new(env!("CARGO_BIN_EXE_compose"))
        .args(["fleet", "serve", "--listen", "127.0.0.1:0", "--state"])
        .arg(&state)
        .args(server_cert_args(p))
        .arg("--repo")
        .arg(&lab.repo)
        .args(["--etcd", &etcd.url])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(server.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    // The server goes on writing to stderr: keep reading it.
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let _server = Kill(server);
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("https://"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    let port = url.rsplit_once(':').unwrap().1.to_string();
    let token = std::fs::read_to_string(state.join("admin-token"))
        .unwrap()
        .trim()
        .to_string();
    let fleet = |args: &[&str]| fleet(p, &url, &token, args);
    fleet(&["group", "lab", "--reboot-slots", "1"]);
    let enroll = fleet(&["token", "enroll", "--group", "lab"])["token"]
        .as_str()
        .unwrap()
        .to_string();
    let rollout = fleet(&[
        "rollout",
        "create",
        &lab.v2,
        "--group",
        "lab",
        "--schedule",
        "100%@0s",
    ]);
    let id = rollout["id"].to_string();
    lab.command(&format!(
        "fleet --server https://10.0.2.2:{port} --token {enroll} --id vm-1 --wait 5"
    ));
    let disk = lab.disk("fleet.raw");

    // Boot 1: version 1 enrolls, is offered version 2, installs it, takes the slot, reboots.
    let console = boot_in_place(p, &disk, false);
    expect(&console, &format!("version={} slot=a", lab.v1));
    // Over HTTPS (the CA the image pins), known by a certificate for the key it made.
    expect(
        &console,
        "compose-update: fleet: enrolled as vm-1 in group lab (device certificate issued)",
    );
    expect(
        &console,
        &format!("compose-update: fleet: rebooting into {}", lab.v2),
    );
    let status = fleet(&["rollout", "show", &id]);
    assert_eq!(status["progress"][0]["step"], "rebooting", "{status}");
    let locks = fleet(&["locks"]);
    assert_eq!(locks["holders"][0]["id"], "vm-1", "{locks}");
    // Boot 2: version 2 reports its boot and frees the slot; a command reaches the device
    // through its agent's poll, and powers it off.
    let mut flash = Command::new(env!("CARGO_BIN_EXE_compose"))
        .current_dir(p)
        .args(flash_in_place(&disk))
        .env("COMPOSE_STORE", common::store())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    loop {
        let status = fleet(&["rollout", "show", &id]);
        if status["complete"] == true {
            assert_eq!(status["progress"][0]["step"], "booted", "{status}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "version 2 never reported its boot: {status}"
        );
        std::thread::sleep(Duration::from_secs(2));
    }
    // The agent frees its slot right after it reports the boot (it saves its state between).
    let start = std::time::Instant::now();
    loop {
        let locks = fleet(&["locks"]);
        if locks["holders"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the slot stays taken: {locks}"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    // `compose fleet exec vm-1 -- ARGV`: what the device printed.
    let exec = |argv: &[&str]| {
        let mut all = vec![
            "fleet", "--server", &url, "--token", &token, "--ca", PROJECT_CA, "exec", "vm-1", "--",
        ];
        all.extend_from_slice(argv);
        let o = compose(p, &all);
        assert_exit(&o, 0);
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let said = exec(&["/usr/bin/compose-update", "status"]);
    assert!(
        said.contains(&format!("vm {} (generation 2)", lab.v2)),
        "{said}"
    );
    let devices = fleet(&["devices"]);
    assert_eq!(
        devices["devices"][0]["version"],
        lab.v2.as_str(),
        "{devices}"
    );
    // Removed, the device is refused at once; its agent forgets its enrollment and asks to
    // join again, without its token, pending until an admin accepts it (with its key).
    fleet(&["remove", "vm-1"]);
    let start = std::time::Instant::now();
    let key = loop {
        let devices = fleet(&["devices"]);
        if let Some(asking) = devices["pending"]
            .as_array()
            .and_then(|p| p.iter().find(|d| d["id"] == "vm-1"))
        {
            break asking["key_sha256"].as_str().unwrap()[..16].to_string();
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the removed device never asked again: {devices}"
        );
        std::thread::sleep(Duration::from_secs(2));
    };
    fleet(&["devices", "accept", "vm-1", "--group", "lab", "--key", &key]);
    exec(&["/bin/busybox", "kill", "-TERM", "1"]);
    let mut console = String::new();
    flash
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut console)
        .unwrap();
    assert!(flash.wait().unwrap().success(), "{console}");
    expect(&console, &format!("version={} slot=b", lab.v2));
    expect(
        &console,
        &format!("compose-update: fleet: booted {}", lab.v2),
    );
    expect(
        &console,
        "the server no longer knows this device (removed from the fleet): asking to join again",
    );
    expect(
        &console,
        "compose-update: fleet: enrolled as vm-1 in group lab (device certificate issued)",
    );
}
