//! The real `compose` binary on real project folders: outputs, exit codes, files written.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde::Deserialize;

/// A copy of this repository's catalog (manifests, devices, files) in a temporary folder.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    for folder in ["manifests", "devices"] {
        std::fs::create_dir(dir.path().join(folder)).unwrap();
        for entry in std::fs::read_dir(repo.join(folder)).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(
                entry.path(),
                dir.path().join(folder).join(entry.file_name()),
            )
            .unwrap();
        }
    }
    dir
}

fn compose(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_compose"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn assert_exit(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
}

// The --json wire format, as a consumer would declare it (not the producer's types).
#[derive(Debug, Deserialize)]
struct ResolveJson {
    device: String,
    components: Vec<ComponentJson>,
    edges: Vec<EdgeJson>,
    dropped: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct ComponentJson {
    order: usize,
    name: String,
    version: String,
}

#[derive(Debug, Deserialize)]
struct EdgeJson {
    from: NodeJson,
    to: String,
    kind: String,
    requirement: String,
}

#[derive(Debug, Deserialize)]
struct NodeJson {
    kind: String,
    name: String,
}

#[test]
fn resolve_laptop_json_is_ordered_and_explained() {
    let dir = project();
    let o = compose(dir.path(), &["resolve", "--device", "laptop", "--json"]);
    assert_exit(&o, 0);
    let r: ResolveJson = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(r.device, "laptop");
    let order = |name: &str| {
        r.components
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.order)
    };
    assert!(order("base").is_some() && order("linux").is_some() && order("systemd-boot").is_some());
    assert!(
        order("wifi-iwd").is_some(),
        "laptop prefers wifi-iwd for network"
    );
    assert!(
        order("network-dhcp").is_none(),
        "only one network provider is needed"
    );
    for e in r
        .edges
        .iter()
        .filter(|e| e.from.kind == "component" && e.kind == "requires")
    {
        assert!(
            order(&e.to) < order(&e.from.name),
            "{} must start before {} ({})",
            e.to,
            e.from.name,
            e.requirement
        );
    }
    assert!(
        r.edges
            .iter()
            .any(|e| e.from.kind == "device" && e.from.name == "laptop" && e.to == "base")
    );
    assert!(r.dropped.is_empty());
    assert!(
        r.components
            .iter()
            .all(|c| semver::Version::parse(&c.version).is_ok())
    );
    let lock = std::fs::read_to_string(dir.path().join("compose.lock")).unwrap();
    assert!(
        lock.contains("name = \"laptop\"") && lock.contains("name = \"wifi-iwd\""),
        "{lock}"
    );
}

#[test]
fn every_shipped_device_resolves() {
    let dir = project();
    for device in ["laptop", "tablet", "console", "vm"] {
        let o = compose(dir.path(), &["resolve", "--device", device]);
        assert_exit(&o, 0);
        assert!(
            stdout(&o).contains(&format!("device {device}")),
            "{}",
            stdout(&o)
        );
    }
    assert_exit(&compose(dir.path(), &["validate"]), 0);
}

#[test]
fn locked_fails_when_resolution_would_change_the_lock() {
    let dir = project();
    assert_exit(
        &compose(dir.path(), &["resolve", "-d", "vm", "--locked"]),
        2,
    );
    assert!(
        !dir.path().join("compose.lock").exists(),
        "--locked never writes"
    );
    assert_exit(&compose(dir.path(), &["resolve", "-d", "vm"]), 0);
    assert_exit(
        &compose(dir.path(), &["resolve", "-d", "vm", "--locked"]),
        0,
    );

    // A provider the device now prefers wins over the lock's: --locked says what changes,
    // a plain resolve takes it.
    let device = dir.path().join("devices/vm.toml");
    let plain = std::fs::read_to_string(&device).unwrap();
    std::fs::write(
        &device,
        plain.replacen(
            "\n[kernel]",
            "prefer = { init = \"init-systemd\" }\n\n[kernel]",
            1,
        ),
    )
    .unwrap();
    let o = compose(dir.path(), &["resolve", "-d", "vm", "--locked"]);
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("add init-systemd 0.1.0"),
        "{}",
        stderr(&o)
    );
    std::fs::write(&device, plain).unwrap();

    // A newer dhcpcd does not move the lock; --upgrade takes it.
    let newer = std::fs::read_to_string(dir.path().join("manifests/network-dhcp.toml"))
        .unwrap()
        .replace("9.4.1", "10.0.0");
    std::fs::write(dir.path().join("manifests/network-dhcp-10.toml"), newer).unwrap();
    assert_exit(
        &compose(dir.path(), &["resolve", "-d", "vm", "--locked"]),
        0,
    );
    // Removing the locked version does: --locked refuses and leaves the lock as it was.
    std::fs::remove_file(dir.path().join("manifests/network-dhcp.toml")).unwrap();
    let before = std::fs::read(dir.path().join("compose.lock")).unwrap();
    let o = compose(dir.path(), &["resolve", "-d", "vm", "--locked"]);
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("change network-dhcp 9.4.1 -> 10.0.0"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        before,
        std::fs::read(dir.path().join("compose.lock")).unwrap()
    );
    assert_exit(
        &compose(dir.path(), &["resolve", "-d", "vm", "--upgrade"]),
        0,
    );
    assert!(
        std::fs::read_to_string(dir.path().join("compose.lock"))
            .unwrap()
            .contains("10.0.0")
    );
}

fn write(dir: &Path, path: &str, text: &str) {
    std::fs::write(dir.join(path), text).unwrap();
}

#[test]
fn bad_manifest_exits_2_and_writes_nothing() {
    let dir = project();
    write(
        dir.path(),
        "manifests/broken.toml",
        "[component]\nname = \"broken\"\nversion = \"1.0.0\"\nsummary = \"x\"\nrequries = []\n",
    );
    let o = compose(dir.path(), &["resolve", "-d", "laptop"]);
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(
        err.contains("unknown key `requries`") && err.contains("did you mean `requires`?"),
        "{err}"
    );
    assert!(
        err.contains("manifests/broken.toml:5:1"),
        "names file, line and column: {err}"
    );
    assert!(!dir.path().join("compose.lock").exists());

    let o = compose(dir.path(), &["validate", "--json"]);
    assert_exit(&o, 1);
    #[derive(Deserialize)]
    struct Validation {
        ok: bool,
        diagnostics: Vec<Record>,
    }
    #[derive(Deserialize)]
    struct Record {
        code: String,
        file: String,
        line: usize,
        column: usize,
        help: Option<String>,
    }
    let v: Validation = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(!v.ok);
    let d = &v.diagnostics[0];
    assert_eq!(
        (d.code.as_str(), d.file.as_str(), d.line, d.column),
        ("unknown-key", "manifests/broken.toml", 5, 1)
    );
    assert_eq!(d.help.as_deref(), Some("did you mean `requires`?"));
}

#[test]
fn unsatisfiable_device_explains_the_chain() {
    let dir = project();
    write(
        dir.path(),
        "devices/handheld.toml",
        "[device]\nname = \"handheld\"\narch = \"x86_64\"\nform-factor = \"console\"\ncapabilities = [\"uefi\"]\nfirmware = \"uefi\"\n\n[compose]\nroots = [\"base\", \"input-gamepad\"]\n\n[image]\nsize = \"1G\"\n",
    );
    let o = compose(dir.path(), &["resolve", "-d", "handheld"]);
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(
        err.contains("device handheld requires input-gamepad"),
        "{err}"
    );
    assert!(
        err.contains("input-gamepad 1.8.1 needs capability gamepad, which device handheld lacks"),
        "{err}"
    );
    assert!(!dir.path().join("compose.lock").exists());

    let o = compose(dir.path(), &["resolve", "-d", "handheld", "--json"]);
    assert_exit(&o, 2);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["error"], "no-solution");
    assert!(
        v["facts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "missing-capability" && f["capability"] == "gamepad")
    );
}

#[test]
fn cycle_is_an_error_with_the_full_cycle() {
    let dir = project();
    let m = |name: &str, req: &str| {
        format!(
            "[component]\nname = \"{name}\"\nversion = \"1.0.0\"\nsummary = \"x\"\nrequires = [\"{req}\"]\n"
        )
    };
    write(dir.path(), "manifests/x.toml", &m("x", "y"));
    write(dir.path(), "manifests/y.toml", &m("y", "x"));
    let vm = std::fs::read_to_string(dir.path().join("devices/vm.toml"))
        .unwrap()
        .replace("roots = [\"base\"", "roots = [\"x\", \"base\"");
    write(dir.path(), "devices/vm.toml", &vm);
    let o = compose(dir.path(), &["resolve", "-d", "vm"]);
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("dependency cycle in device `vm`: x -> y -> x"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn unknown_device_suggests_a_name() {
    let dir = project();
    let o = compose(dir.path(), &["resolve", "-d", "laptpo"]);
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("did you mean `laptop`?"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn project_is_found_upward_or_given() {
    let dir = project();
    assert_exit(&compose(&dir.path().join("manifests"), &["devices"]), 0);
    let empty = tempfile::tempdir().unwrap();
    let o = compose(empty.path(), &["devices"]);
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("no compose project found"),
        "{}",
        stderr(&o)
    );
    let o = compose(
        empty.path(),
        &[
            "components",
            "--json",
            "--project",
            dir.path().to_str().unwrap(),
        ],
    );
    assert_exit(&o, 0);
    let list: Vec<serde_json::Value> = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(list.iter().any(|c| c["name"] == "linux"));
}

#[test]
fn explain_says_why_and_why_not() {
    let dir = project();
    let o = compose(dir.path(), &["explain", "wifi-iwd", "-d", "laptop"]);
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(
        out.contains("device laptop requires network, satisfied by wifi-iwd"),
        "{out}"
    );
    assert!(
        out.contains("wifi-iwd taken: preferred by device laptop"),
        "{out}"
    );

    let o = compose(dir.path(), &["explain", "wifi-iwd", "-d", "vm"]);
    assert_exit(&o, 1);
    let out = stdout(&o);
    assert!(
        out.contains("wifi-iwd is not in the image of device vm"),
        "{out}"
    );
    assert!(
        out.contains("wifi-iwd 2.3.0 needs capability wifi, which device vm lacks"),
        "{out}"
    );

    let o = compose(dir.path(), &["explain", "wifi-iwdd", "-d", "vm"]);
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("did you mean `wifi-iwd`?"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn graph_as_dot_and_svg() {
    let dir = project();
    let o = compose(dir.path(), &["graph", "-d", "vm", "--format", "dot"]);
    assert_exit(&o, 0);
    assert!(stdout(&o).starts_with("digraph \"vm\""), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("\"base\" -> \"linux\" [label=\"kernel\"]"),
        "{}",
        stdout(&o)
    );

    let svg: PathBuf = dir.path().join("vm.svg");
    let o = compose(
        dir.path(),
        &[
            "graph",
            "-d",
            "vm",
            "--format",
            "svg",
            "-o",
            svg.to_str().unwrap(),
        ],
    );
    assert_exit(&o, 0);
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(
        text.contains("<svg") && text.contains("<title>base</title>"),
        "{text}"
    );
}

/// Every kind of bad input: exit code 2, a message that names the problem, no lock written.
#[test]
fn bad_input_exits_2_and_writes_nothing() {
    let manifest = |body: &str| {
        format!("[component]\nname = \"x\"\nversion = \"1.0.0\"\nsummary = \"x\"\n{body}")
    };
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "malformed toml",
            "[component\nname = \"x\"\n".into(),
            "invalid TOML",
        ),
        (
            "wrong type",
            manifest("requires = \"base\"\n"),
            "invalid type: string",
        ),
        (
            "unknown field",
            manifest("device_needs = []\n"),
            "did you mean `device-needs`?",
        ),
        (
            "duplicate name",
            std::fs::read_to_string("manifests/base.toml").unwrap(),
            "component `base 0.1.0` is declared twice",
        ),
        (
            "invalid semver",
            manifest("").replace("1.0.0", "1.0.0.0"),
            "invalid version `1.0.0.0`",
        ),
        (
            "invalid requirement",
            manifest("requires = [\"base >= x\"]\n"),
            "invalid version requirement `>= x`",
        ),
        (
            "requires itself",
            manifest("requires = [\"x\"]\n"),
            "component `x` requires itself",
        ),
        (
            "unknown requirement",
            manifest("requires = [\"bsae\"]\n"),
            "did you mean `base`?",
        ),
    ];
    for (what, text, expect) in cases {
        let dir = project();
        write(dir.path(), "manifests/x.toml", &text);
        let o = compose(dir.path(), &["resolve", "-d", "vm"]);
        assert_eq!(o.status.code(), Some(2), "{what}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(expect),
            "{what}: expected {expect:?} in:\n{}",
            stderr(&o)
        );
        assert!(
            stderr(&o).contains("manifests/x.toml:") || what == "duplicate name",
            "{what}: names the file:\n{}",
            stderr(&o)
        );
        assert!(
            !dir.path().join("compose.lock").exists(),
            "{what}: nothing written"
        );
    }

    let dir = project();
    let vm = std::fs::read_to_string(dir.path().join("devices/vm.toml")).unwrap();
    write(
        dir.path(),
        "devices/vm.toml",
        &vm.replace("roots = [\"base\"", "roots = [\"shell-kiosk\", \"base\""),
    );
    let o = compose(dir.path(), &["resolve", "-d", "vm"]);
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("unknown component or virtual `shell-kiosk`"),
        "{}",
        stderr(&o)
    );

    let dir = project();
    std::fs::write(
        dir.path().join("manifests/binary.toml"),
        [0x5b, 0xff, 0xfe, 0x5d],
    )
    .unwrap();
    let o = compose(dir.path(), &["resolve", "-d", "vm"]);
    assert_exit(&o, 2);
    assert!(stderr(&o).contains("is not valid UTF-8"), "{}", stderr(&o));

    let dir = project();
    std::fs::write(dir.path().join("manifests/huge.toml"), vec![b'#'; 2 << 20]).unwrap();
    let o = compose(dir.path(), &["resolve", "-d", "vm"]);
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("limited to 1048576 bytes"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.path().join("compose.lock").exists());
}

#[test]
fn snapshots_of_what_users_see() {
    let dir = project();
    let o = compose(dir.path(), &["resolve", "-d", "laptop"]);
    assert_exit(&o, 0);
    insta::assert_snapshot!("resolve_laptop", stdout(&o));
    let o = compose(dir.path(), &["graph", "-d", "vm"]);
    assert_exit(&o, 0);
    insta::assert_snapshot!("graph_vm_dot", stdout(&o));
    let o = compose(dir.path(), &["explain", "ssh-dropbear", "-d", "vm"]);
    assert_exit(&o, 0);
    insta::assert_snapshot!("explain_dropbear_vm", stdout(&o));
}

// Review: `compose publish --valid-days 0` made a release that expired as it was made.
#[test]
fn publish_refuses_a_release_that_expires_when_made() {
    let dir = project();
    let repo = dir.path().join("repo");
    let o = compose(
        dir.path(),
        &[
            "publish",
            "--device",
            "vm",
            repo.to_str().unwrap(),
            "--valid-days",
            "0",
        ],
    );
    assert_exit(&o, 2);
    assert!(
        stderr(&o).contains("--valid-days") && stderr(&o).contains("1.."),
        "{}",
        stderr(&o)
    );
    assert!(!repo.exists(), "nothing was written");
}

// Review: with `--json`, an error printed nothing on stdout. Every command's errors are now
// data there too: kind, message, help, and file, line, column where the error has a place.
#[test]
fn with_json_every_error_is_data_on_stdout() {
    let dir = project();
    let json = |args: &[&str]| -> serde_json::Value {
        let o = compose(dir.path(), args);
        assert_exit(&o, 2);
        assert!(
            stderr(&o).contains("error"),
            "the text still goes to stderr"
        );
        serde_json::from_str(&stdout(&o))
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", stdout(&o)))
    };
    // No such device, for a command that has no JSON output of its own on success.
    let v = json(&["build", "--device", "lapton", "--json"]);
    assert_eq!(v["error"], "unknown-device");
    assert!(v["message"].as_str().unwrap().contains("lapton"), "{v}");
    assert!(v["help"].as_str().unwrap().contains("laptop"), "{v}");
    // A command line clap refuses.
    let v = json(&["resolve", "--json", "--no-such-flag"]);
    assert_eq!(v["error"], "usage");
    assert!(
        v["message"].as_str().unwrap().contains("--no-such-flag"),
        "{v}"
    );
    // A broken manifest: its place in the file.
    write(
        dir.path(),
        "manifests/broken.toml",
        "[component]\nname = \"broken\"\nversion = \"1.0.0\"\nsummary = \"x\"\nrequries = []\n",
    );
    let v = json(&["build", "--device", "laptop", "--json"]);
    assert_eq!(v["error"], "invalid-project");
    assert_eq!(
        (&v["file"], &v["line"], &v["column"]),
        (
            &serde_json::json!("manifests/broken.toml"),
            &serde_json::json!(5),
            &serde_json::json!(1)
        ),
        "{v}"
    );
    assert_eq!(v["help"], "did you mean `requires`?");
    assert_eq!(v["diagnostics"][0]["code"], "unknown-key");
}

// `compose shell keys` lists a shell's shortcuts: its layout's defaults as its definition
// changed them; a definition naming a key xkb does not know is refused with its file.
#[test]
fn shell_keys_lists_shortcuts_and_refuses_unknown_keys() {
    let dir = tempfile::tempdir().unwrap();
    let o = compose(dir.path(), &["shell", "keys", "--shell", "gaming"]);
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(out.contains("Alt+Tab        next-window\n"), "{out}");
    assert!(out.contains("Super+Shift+G  game-mode\n"), "{out}");
    assert!(
        !out.contains("Super+Up"),
        "no window moves in gaming:\n{out}"
    );

    let shells = dir.path().join("shells");
    std::fs::create_dir(&shells).unwrap();
    std::fs::write(
        shells.join("keys.toml"),
        "[shell]\nname = \"keys\"\nsummary = \"\"\nlayout = \"floating\"\n\
         [shell.keys]\n\"Super+Q\" = \"close\"\n[shell.run]\n\"Super+Return\" = [\"foot\"]\n",
    )
    .unwrap();
    let s = shells.to_str().unwrap();
    let o = compose(
        dir.path(),
        &["shell", "keys", "--shells", s, "--shell", "keys", "--json"],
    );
    assert_exit(&o, 0);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let list = v["shortcuts"].as_array().unwrap();
    assert!(list.contains(&serde_json::json!({"keys": "Super+Q", "action": "close"})));
    assert!(list.contains(&serde_json::json!({"keys": "Super+Return", "run": ["foot"]})));

    std::fs::write(
        shells.join("keys.toml"),
        "[shell]\nname = \"keys\"\nsummary = \"\"\nlayout = \"floating\"\n\
         [shell.keys]\n\"Super+Enter\" = \"close\"\n",
    )
    .unwrap();
    let o = compose(
        dir.path(),
        &["shell", "keys", "--shells", s, "--shell", "keys"],
    );
    assert_exit(&o, 2);
    let err = stderr(&o);
    assert!(
        err.contains("shell definition keys: shortcut `Super+Enter`: `Enter` is not a key name")
            && err.contains("Return"),
        "{err}"
    );
}
