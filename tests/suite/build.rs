//! `compose build` end to end: real Debian packages from the machine's apt archive, a real
//! GPT disk, checked with independent tools (sfdisk, fsck.vfat, fsck.erofs, e2fsck) and
//! with `compose inspect`. Needs the tools scripts/setup installs and apt's indexes.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde::Deserialize;

use crate::common;

use common::{assert_exit, compose, project, store};

fn build(project: &Path, device: &str, out: &Path) -> Output {
    compose(
        project,
        &[
            "build",
            "--device",
            device,
            "--out",
            out.to_str().unwrap(),
            "--json",
        ],
    )
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

// The consumer's view of `compose build --json` and `compose inspect --json`.
#[derive(Debug, Deserialize)]
struct BuildJson {
    up_to_date: bool,
    built: Vec<String>,
    image: ImageJson,
}

#[derive(Debug, Deserialize)]
struct ImageJson {
    device: String,
    version: String,
    components: Vec<ComponentJson>,
    partitions: Vec<PartitionJson>,
}

#[derive(Debug, Deserialize)]
struct ComponentJson {
    name: String,
    digest: String,
}

#[derive(Debug, Deserialize)]
struct PartitionJson {
    name: String,
    offset: u64,
    size: u64,
    sha256: String,
    used: u64,
}

#[derive(Debug, Deserialize)]
struct InspectJson {
    partitions: Vec<InspectPartition>,
    boot_entries: Vec<EntryJson>,
    esp_files: Vec<String>,
    files: Option<Vec<FileJson>>,
}

#[derive(Debug, Deserialize)]
struct InspectPartition {
    name: String,
    #[serde(rename = "type")]
    type_guid: String,
}

#[derive(Debug, Deserialize)]
struct EntryJson {
    slot: Option<String>,
    tries_left: Option<u32>,
    version: String,
    options: String,
}

#[derive(Debug, Deserialize)]
struct FileJson {
    path: String,
    kind: String,
}

fn parse_build(o: &Output) -> BuildJson {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stdout)))
}

/// Copies one partition out of the disk, for the independent checkers.
fn extract(disk: &Path, p: &PartitionJson, to: &Path) {
    let mut f = std::fs::File::open(disk).unwrap();
    f.seek(SeekFrom::Start(p.offset)).unwrap();
    let mut out = std::fs::File::create(to).unwrap();
    std::io::copy(&mut f.take(p.size), &mut out).unwrap();
}

#[track_caller]
fn run_ok(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        o.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn sha256(path: &Path) -> String {
    run_ok(Command::new("sha256sum").arg(path))
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn vm_image_is_bootable_shaped_reproducible_and_incremental() {
    let project = project();
    let out = project.path().join("out");
    let o = build(project.path(), "vm", &out);
    assert_exit(&o, 0);
    let report = parse_build(&o);
    assert_eq!(report.image.device, "vm");
    let disk = out.join("vm/disk.raw");
    assert!(
        out.join("vm/disk.qcow2").is_file(),
        "the vm profile asks for qcow2 too"
    );

    // Independent tools: the partition table, and each file system.
    let table: serde_json::Value =
        serde_json::from_str(&run_ok(Command::new("sfdisk").arg("--json").arg(&disk))).unwrap();
    let names: Vec<&str> = table["partitiontable"]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["esp", "root-a", "root-b", "var"]);
    let scratch = tempfile::tempdir().unwrap();
    let part = |name: &str| {
        report
            .image
            .partitions
            .iter()
            .find(|p| p.name == name)
            .unwrap()
    };
    for p in &report.image.partitions {
        let img = scratch.path().join(&p.name);
        extract(&disk, p, &img);
        assert_eq!(
            sha256(&img),
            p.sha256,
            "image.json records the partition's hash"
        );
        match p.name.as_str() {
            "esp" => {
                run_ok(Command::new("fsck.vfat").arg("-n").arg(&img));
                let listing = run_ok(
                    Command::new("mdir")
                        .env("MTOOLS_SKIP_CHECK", "1")
                        .args(["-/", "-b", "-i"])
                        .arg(&img)
                        .arg("::/"),
                );
                for f in [
                    "EFI/BOOT/BOOTX64.EFI",
                    "loader/entries/compose-a+3.conf",
                    "compose/a/uki.efi",
                    "compose/b/uki.efi",
                ] {
                    assert!(
                        listing.to_lowercase().contains(&f.to_lowercase()),
                        "{f} on the ESP:\n{listing}"
                    );
                }
            }
            "var" => {
                run_ok(Command::new("e2fsck").arg("-fn").arg(&img));
            }
            _ => {
                run_ok(Command::new("fsck.erofs").arg(&img));
            }
        }
    }
    assert_eq!(
        part("root-a").sha256,
        part("root-b").sha256,
        "both slots start with the same root"
    );
    let payload = part("root-a").used + part("esp").used;
    eprintln!(
        "vm payload: root {} bytes + ESP {} bytes = {payload}",
        part("root-a").used,
        part("esp").used
    );

    // compose inspect reads the same from the image.
    let o = compose(
        project.path(),
        &["inspect", disk.to_str().unwrap(), "--files", "a", "--json"],
    );
    assert_exit(&o, 0);
    let inspected: InspectJson = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        inspected
            .partitions
            .iter()
            .find(|p| p.name == "esp")
            .unwrap()
            .type_guid,
        "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
    );
    assert_eq!(inspected.boot_entries.len(), 2);
    for e in &inspected.boot_entries {
        assert_eq!(e.tries_left, Some(3), "new entries carry a +3 boot counter");
        assert_eq!(e.version, report.image.version);
        assert!(
            e.options
                .contains(&format!("compose.slot={}", e.slot.as_deref().unwrap())),
            "{}",
            e.options
        );
    }
    assert!(
        inspected
            .esp_files
            .iter()
            .any(|f| f == "/loader/loader.conf")
    );
    let files = inspected.files.unwrap();
    for wanted in [
        "/etc/os-release",
        "/usr/sbin/dhcpcd",
        "/usr/sbin/dropbear",
        "/bin/busybox",
        "/usr/lib/compose/services.json",
        "/proc",
    ] {
        assert!(files.iter().any(|f| f.path == wanted), "{wanted} in slot a");
    }
    // Only copyright notices stay, as licences ask.
    assert!(
        files.iter().all(|f| !f.path.starts_with("/usr/share/doc")
            || f.kind == "dir"
            || f.path.ends_with("/copyright")),
        "no documentation in images"
    );
    assert!(files.iter().all(|f| !f.path.starts_with("/usr/share/man")));
    assert!(files.iter().any(|f| f.path == "/var" && f.kind == "dir"));

    // A second build with nothing changed does nothing.
    let again = build(project.path(), "vm", &out);
    assert_exit(&again, 0);
    let again = parse_build(&again);
    assert!(again.up_to_date && again.built.is_empty(), "{again:?}");

    // The same inputs into another folder give a byte-identical disk.
    let other = project.path().join("out2");
    assert_exit(&build(project.path(), "vm", &other), 0);
    assert_eq!(
        sha256(&disk),
        sha256(&other.join("vm/disk.raw")),
        "builds are reproducible"
    );

    // Changing one component rebuilds only that component (and the assembly).
    let base = project.path().join("manifests/base.toml");
    let text = std::fs::read_to_string(&base)
        .unwrap()
        .replace("A composed image.", "A changed image.");
    std::fs::write(&base, text).unwrap();
    let changed = build(project.path(), "vm", &out);
    assert_exit(&changed, 0);
    let changed = parse_build(&changed);
    assert!(!changed.up_to_date);
    // `built` lists payloads new to the store; the store outlives test runs, so base may
    // already be there, but nothing else may have been rebuilt.
    assert!(
        changed.built.iter().all(|b| b == "base"),
        "{:?}",
        changed.built
    );
    let before: Vec<(&str, &str)> = report
        .image
        .components
        .iter()
        .map(|c| (c.name.as_str(), c.digest.as_str()))
        .collect();
    let after: Vec<(&str, &str)> = changed
        .image
        .components
        .iter()
        .map(|c| (c.name.as_str(), c.digest.as_str()))
        .collect();
    let differing: Vec<&str> = before
        .iter()
        .zip(&after)
        .filter(|(b, a)| b != a)
        .map(|(b, _)| b.0)
        .collect();
    assert_eq!(differing, ["base"]);
}

/// Builds `project` once so that a failing build has an output to leave intact.
fn with_good_output(project: &Path) -> (PathBuf, String) {
    let out = project.join("out");
    assert_exit(&build(project, "vm", &out), 0);
    let digest = sha256(&out.join("vm/disk.raw"));
    (out, digest)
}

#[test]
fn bad_sources_fail_clearly_and_keep_the_previous_image() {
    let project = project();
    let (out, before) = with_good_output(project.path());
    let base = project.path().join("manifests/base.toml");
    let original = std::fs::read_to_string(&base).unwrap();

    /// What is wrong, how to make it so, and what the error must say.
    type Case<'a> = (&'a str, Box<dyn Fn() + 'a>, &'a str);
    let cases: Vec<Case> = vec![
        (
            "missing source path",
            Box::new(|| {
                std::fs::write(&base, original.replace("files/base", "files/nope")).unwrap()
            }),
            "source path `files/nope` does not exist",
        ),
        (
            "symlink escaping the project",
            Box::new(|| {
                std::fs::write(&base, &original).unwrap();
                std::os::unix::fs::symlink(
                    "/etc/shadow",
                    project.path().join("files/base/etc/shadow"),
                )
                .unwrap();
            }),
            "leads outside the project folder",
        ),
        (
            "unknown Debian package",
            Box::new(|| {
                std::fs::remove_file(project.path().join("files/base/etc/shadow")).unwrap();
                let m = project.path().join("manifests/ssh-dropbear.toml");
                let text = std::fs::read_to_string(&m).unwrap().replace(
                    "\"dropbear-bin\"",
                    "\"dropbear-bin\", \"no-such-package-xyz\"",
                );
                std::fs::write(m, text).unwrap();
            }),
            "`no-such-package-xyz`, which nothing in apt's index satisfies",
        ),
        (
            "image too small",
            Box::new(|| {
                let m = project.path().join("manifests/ssh-dropbear.toml");
                let text = std::fs::read_to_string(&m)
                    .unwrap()
                    .replace(", \"no-such-package-xyz\"", "");
                std::fs::write(m, text).unwrap();
                let d = project.path().join("devices/vm.toml");
                std::fs::write(
                    &d,
                    std::fs::read_to_string(&d)
                        .unwrap()
                        .replace("size = \"512M\"", "size = \"120M\""),
                )
                .unwrap();
            }),
            "partition `root-a` is too small",
        ),
        (
            "failing cargo build",
            Box::new(|| {
                let d = project.path().join("devices/vm.toml");
                std::fs::write(
                    &d,
                    std::fs::read_to_string(&d)
                        .unwrap()
                        .replace("size = \"120M\"", "size = \"512M\""),
                )
                .unwrap();
                std::fs::write(
                    &base,
                    original.replace(
                        "[source]\nfiles = [{ from = \"files/base\", to = \"/\" }]",
                        "[source]\ncargo = { package = \"no-such-crate\" }",
                    ),
                )
                .unwrap();
            }),
            "`cargo build -p no-such-crate` failed",
        ),
    ];
    for (what, break_it, expect) in cases {
        break_it();
        let o = build(project.path(), "vm", &out);
        assert_eq!(o.status.code(), Some(2), "{what}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(expect),
            "{what}: expected {expect:?} in\n{}",
            stderr(&o)
        );
        assert_eq!(
            sha256(&out.join("vm/disk.raw")),
            before,
            "{what}: the previous image is untouched"
        );
        let leftovers: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        assert_eq!(leftovers, ["vm"], "{what}: no half-written output");
    }
}

#[test]
fn a_deb_whose_digest_does_not_match_is_rejected() {
    let project = project();
    let (out, _) = with_good_output(project.path());
    let lock = project.path().join("compose.lock");
    let text = std::fs::read_to_string(&lock).unwrap();
    // Pin busybox-static to a wrong digest, as a tampered mirror or lock would.
    let marker = "name = \"busybox-static\"";
    let at = text.find(marker).expect("the lock pins busybox-static");
    let sha_at = at + text[at..].find("sha256 = \"").unwrap() + "sha256 = \"".len();
    let mut tampered = text.clone();
    tampered.replace_range(sha_at..sha_at + 64, &"0".repeat(64));
    std::fs::write(&lock, tampered).unwrap();
    let o = build(project.path(), "vm", &out);
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("compose.lock pins busybox-static")
            && stderr(&o).contains(&"0".repeat(64)),
        "{}",
        stderr(&o)
    );
    assert!(
        !store()
            .join("blobs/sha256/00")
            .join("0".repeat(62))
            .exists(),
        "a mismatching download is never stored"
    );
}

/// `compose build --device vm` into `out` with its own `store` (not the shared one).
fn build_in_store(project: &Path, store: &Path, out: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_compose"));
    common::cargo_env(&mut c).current_dir(project).args([
        "build",
        "--device",
        "vm",
        "--json",
        "--out",
        out.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
    ]);
    c
}

#[test]
fn interrupted_build_leaves_no_output_and_a_sound_store() {
    let project = project();
    let store = tempfile::tempdir().unwrap();
    let out = project.path().join("out");
    let mut child = build_in_store(project.path(), store.path(), &out)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !out.join("vm/disk.raw").exists(),
        "no output from an interrupted build"
    );
    // Every blob that made it into the store is whole: its name is its digest.
    for entry in walkdir::WalkDir::new(store.path().join("blobs"))
        .min_depth(2)
        .into_iter()
        .filter_map(Result::ok)
    {
        if entry.file_type().is_file() {
            let name = format!(
                "{}{}",
                entry
                    .path()
                    .parent()
                    .unwrap()
                    .file_name()
                    .unwrap()
                    .to_string_lossy(),
                entry.file_name().to_string_lossy()
            );
            assert_eq!(
                sha256(entry.path()),
                name,
                "blob {} is corrupt",
                entry.path().display()
            );
        }
    }
    // And the next build finishes.
    let o = build_in_store(project.path(), store.path(), &out)
        .output()
        .unwrap();
    assert_exit(&o, 0);
}

#[test]
fn cargo_source_builds_a_static_binary_into_the_image() {
    let project = project();
    let p = project.path();
    let hello = p.join("components/hello");
    std::fs::create_dir_all(hello.join("src")).unwrap();
    std::fs::write(
        hello.join("Cargo.toml"),
        "[package]\nname = \"hello\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
    )
    .unwrap();
    std::fs::write(
        hello.join("src/main.rs"),
        "fn main() { println!(\"hello from a composed image\"); }\n",
    )
    .unwrap();
    let manifest = p.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("members = [", "members = [\"components/hello\", ");
    std::fs::write(&manifest, text).unwrap();
    // `--locked` needs the new member in Cargo.lock; it has no dependencies to fetch.
    run_ok(
        Command::new("cargo")
            .args(["update", "--workspace", "--offline"])
            .current_dir(p),
    );
    std::fs::write(
        p.join("manifests/hello.toml"),
        "[component]\nname = \"hello\"\nversion = \"0.1.0\"\nsummary = \"a test program\"\n\n[source]\ncargo = { package = \"hello\" }\n",
    )
    .unwrap();
    common::add_vm_root(p, "hello");
    let out = p.join("out");
    let o = compose(
        p,
        &[
            "build",
            "--device",
            "vm",
            "--out",
            out.to_str().unwrap(),
            "--json",
        ],
    );
    assert_exit(&o, 0);
    let report = parse_build(&o);
    let root = report
        .image
        .partitions
        .iter()
        .find(|p| p.name == "root-a")
        .unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let img = scratch.path().join("root.erofs");
    extract(&out.join("vm/disk.raw"), root, &img);
    let tree = scratch.path().join("tree");
    run_ok(
        Command::new("fsck.erofs")
            .arg(format!("--extract={}", tree.display()))
            .arg(&img),
    );
    // Static (musl): it runs here as it will on the device, with no libc of the host.
    let said = run_ok(&mut Command::new(tree.join("usr/bin/hello")));
    assert_eq!(said, "hello from a composed image\n");
}

#[test]
fn cache_gc_removes_only_what_nothing_references() {
    let project = project();
    let store = tempfile::tempdir().unwrap();
    let s = store.path().to_str().unwrap();
    let out = project.path().join("out");
    let build = || {
        build_in_store(project.path(), store.path(), &out)
            .output()
            .unwrap()
    };
    assert_exit(&build(), 0);
    let orphan = "ff".repeat(32);
    std::fs::create_dir_all(store.path().join("blobs/sha256/ff")).unwrap();
    std::fs::write(
        store.path().join("blobs/sha256/ff").join(&orphan[2..]),
        b"nobody needs this",
    )
    .unwrap();
    // Blobs pulled from registries: one unused for 60 days, one used now.
    let pulled = store.path().join("oci-blobs");
    std::fs::create_dir_all(&pulled).unwrap();
    for name in ["old", "new"] {
        std::fs::write(pulled.join(name), name).unwrap();
    }
    let long_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(60 * 24 * 3600);
    std::fs::File::options()
        .write(true)
        .open(pulled.join("old"))
        .unwrap()
        .set_modified(long_ago)
        .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_compose"))
        .current_dir(project.path())
        .args(["cache", "gc", "--json", "--store", s])
        .output()
        .unwrap();
    assert_exit(&o, 0);
    let gc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(gc["removed_blobs"].as_u64().unwrap() >= 1, "{gc}");
    assert_eq!(gc["removed_pulled_blobs"], 1, "{gc}");
    assert!(!pulled.join("old").exists() && pulled.join("new").exists());
    assert!(
        !store
            .path()
            .join("blobs/sha256/ff")
            .join(&orphan[2..])
            .exists()
    );
    let again = parse_build(&build());
    assert!(
        again.up_to_date,
        "gc kept everything the output and the lock need"
    );
}

fn lua(slot: &str, package: &str, version: &str) -> String {
    format!(
        "[component]\nname = \"lua\"\nversion = \"{version}\"\nslot = \"{slot}\"\nsummary = \"Lua {slot}\"\n\n[source]\ndeb = [\"{package}\"]\n"
    )
}

#[test]
fn two_slots_of_one_component_install_side_by_side_and_a_shared_path_is_a_conflict() {
    let project = project();
    let p = project.path();
    std::fs::write(
        p.join("manifests/lua-5.3.toml"),
        lua("5.3", "lua5.3", "5.3.6"),
    )
    .unwrap();
    std::fs::write(
        p.join("manifests/lua-5.4.toml"),
        lua("5.4", "lua5.4", "5.4.4"),
    )
    .unwrap();
    common::add_vm_root(p, "lua@5.3");
    common::add_vm_root(p, "lua@5.4");

    let o = compose(p, &["resolve", "--device", "vm", "--json"]);
    assert_exit(&o, 0);
    let resolved = String::from_utf8_lossy(&o.stdout);
    assert!(
        resolved.contains("\"lua@5.3\"") && resolved.contains("\"lua@5.4\""),
        "{resolved}"
    );

    let out = p.join("out");
    let o = compose(
        p,
        &["build", "--device", "vm", "--out", out.to_str().unwrap()],
    );
    assert_exit(&o, 0);
    let o = compose(
        p,
        &[
            "inspect",
            out.join("vm/disk.raw").to_str().unwrap(),
            "--files",
            "a",
        ],
    );
    assert_exit(&o, 0);
    let files = String::from_utf8_lossy(&o.stdout);
    for path in ["/usr/bin/lua5.3", "/usr/bin/lua5.4"] {
        assert!(files.contains(path), "{path} in the image:\n{files}");
    }

    // Two slots that claim one path: the build names both and the path, and keeps the
    // image it had.
    let clash = |slot: &str| {
        format!(
            "[component]\nname = \"clash\"\nversion = \"{slot}.0.0\"\nslot = \"{slot}\"\nsummary = \"clash {slot}\"\n\n[[files]]\npath = \"/etc/clash.conf\"\ncontent = \"slot {slot}\\n\"\n"
        )
    };
    std::fs::write(p.join("manifests/clash-1.toml"), clash("1")).unwrap();
    std::fs::write(p.join("manifests/clash-2.toml"), clash("2")).unwrap();
    common::add_vm_root(p, "clash@1");
    common::add_vm_root(p, "clash@2");
    let before = sha256(&out.join("vm/disk.raw"));
    let o = compose(
        p,
        &["build", "--device", "vm", "--out", out.to_str().unwrap()],
    );
    assert_ne!(o.status.code(), Some(0));
    let e = stderr(&o);
    assert!(
        e.contains("/etc/clash.conf") && e.contains("clash@1") && e.contains("clash@2"),
        "{e}"
    );
    assert_eq!(sha256(&out.join("vm/disk.raw")), before);
}

#[test]
fn an_oci_source_is_unpacked_into_its_app_root_and_its_tag_pinned_in_the_lock() {
    let project = project();
    let p = project.path();
    common::add_oci_app(p);
    let out = p.join("out");
    let o = build(p, "vm", &out);
    assert_exit(&o, 0);
    let lock = std::fs::read_to_string(p.join("compose.lock")).unwrap();
    let pinned = lock
        .lines()
        .find_map(|l| l.strip_prefix("oci = \""))
        .map(|d| d.trim_end_matches('"').to_string())
        .unwrap_or_else(|| panic!("no oci pin in compose.lock:\n{lock}"));
    assert!(pinned.starts_with("sha256:"), "{pinned}");
    // The image's root and config are in the image, beside the app's description.
    let o = compose(
        p,
        &[
            "inspect",
            out.join("vm/disk.raw").to_str().unwrap(),
            "--files",
            "a",
        ],
    );
    assert_exit(&o, 0);
    let files = String::from_utf8_lossy(&o.stdout).to_string();
    for path in [
        "/usr/lib/compose/apps/app-oci-hello/rootfs/bin/busybox",
        "/usr/lib/compose/apps/app-oci-hello/image-config.json",
        "/usr/share/compose/apps/app-oci-hello.toml",
    ] {
        assert!(files.contains(path), "{path} is not in the image:\n{files}");
    }
    assert!(!files.contains("/.compose-image-config.json"), "{files}");

    // The tag moves (a new config, so a new manifest): --locked fails naming both digests
    // and keeps the lock (without --locked the lock takes the new one, as above).
    common::run_ok(Command::new("umoci").args([
        "config",
        "--image",
        &format!("{}:1.0", p.join("images/busybox").display()),
        "--config.env",
        "GREETING=moved",
    ]));
    let o = compose(
        p,
        &[
            "build",
            "--device",
            "vm",
            "--locked",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_exit(&o, 2);
    let e = stderr(&o);
    assert!(e.contains(&pinned) && e.contains("its tag moved"), "{e}");
    assert_eq!(
        std::fs::read_to_string(p.join("compose.lock")).unwrap(),
        lock
    );
}

#[test]
fn a_registry_source_is_pinned_by_the_digest_its_tag_names_and_a_moved_tag_fails_a_locked_build() {
    let project = project();
    let p = project.path();
    common::add_oci_app(p);
    let registry = common::registry::Registry::start();
    let layout = format!("oci:{}:1.0", p.join("images/busybox").display());
    registry.push(&layout, "team/busybox:1.0");
    let remote = format!("docker://{}/team/busybox:1.0", registry.addr);
    let manifest = p.join("manifests/app-oci-hello.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    assert!(text.contains("oci:images/busybox:1.0"), "{text}");
    std::fs::write(&manifest, text.replace("oci:images/busybox:1.0", &remote)).unwrap();
    let access = registry.access("secret");
    let auth = &access.auth_files[0];
    let digest = || {
        compose_oci::Image::digest_of(
            &compose_oci::ImageRef::parse(&remote).unwrap(),
            "amd64",
            &access,
        )
        .unwrap()
        .to_string()
    };
    let out = p.join("out");
    let build = |locked: bool| {
        let mut c = build_in_store(p, &store(), &out);
        if locked {
            c.arg("--locked");
        }
        c.env("COMPOSE_REGISTRY_CA", &registry.ca)
            .env("REGISTRY_AUTH_FILE", auth)
            .output()
            .unwrap()
    };

    // The lock pins the manifest digest the registry's tag names.
    assert_exit(&build(false), 0);
    let lock = std::fs::read_to_string(p.join("compose.lock")).unwrap();
    let pinned = digest();
    assert!(lock.contains(&format!("oci = \"{pinned}\"")), "{lock}");

    // The tag moves in the registry (a new config, so a new manifest): --locked fails naming
    // both digests and keeps the lock.
    common::run_ok(Command::new("umoci").args([
        "config",
        "--image",
        layout.trim_start_matches("oci:"),
        "--config.env",
        "GREETING=moved",
    ]));
    registry.push(&layout, "team/busybox:1.0");
    let moved = digest();
    assert_ne!(moved, pinned);
    let o = build(true);
    assert_exit(&o, 2);
    let e = stderr(&o);
    assert!(
        e.contains(&pinned) && e.contains(&moved) && e.contains("its tag moved"),
        "{e}"
    );
    assert_eq!(
        std::fs::read_to_string(p.join("compose.lock")).unwrap(),
        lock
    );
}
