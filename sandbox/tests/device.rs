//! `compose-app`, the device's app runner, on an image root laid out as `compose build`
//! lays it out (descriptions, the wasm component, a granted folder), run for real in
//! wasmtime: the app sees only its granted folder, and bad names are clear errors.

use std::path::Path;
use std::process::{Command, Output};

const WORDCOUNT: &str = r#"[component]
name = "app-wc"
version = "0.1.0"
summary = "wordcount of the notes"

[source]
cargo = { package = "wordcount", libc = "wasi", to = "/usr/lib/compose/apps/wc.wasm" }

[app]
runtime = "wasm"
run = ["/usr/lib/compose/apps/wc.wasm", "/notes/todo.txt"]
files = [{ host = "/srv/notes", guest = "/notes", access = "read" }]
memory = "32M"
"#;

/// An image root with app `app-wc` and its notes.
fn image() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let at = |p: &str| root.path().join(p);
    std::fs::create_dir_all(at("usr/share/compose/apps")).unwrap();
    std::fs::create_dir_all(at("usr/lib/compose/apps")).unwrap();
    std::fs::create_dir_all(at("srv/notes")).unwrap();
    std::fs::write(at("usr/share/compose/apps/app-wc.toml"), WORDCOUNT).unwrap();
    let wasm = compose_sandbox::apps::build("wordcount").unwrap_or_else(|e| panic!("{e}"));
    std::fs::copy(wasm, at("usr/lib/compose/apps/wc.wasm")).unwrap();
    std::fs::write(at("srv/notes/todo.txt"), "one two\nthree\n").unwrap();
    root
}

fn compose_app(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_compose-app"))
        .arg("--root")
        .arg(root)
        .args(args)
        .env("XDG_RUNTIME_DIR", root)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn compose_app_runs_an_image_app_with_its_grants_only() {
    let root = image();
    let o = compose_app(root.path(), &["run", "app-wc"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("      2       3      14 /notes/todo.txt"),
        "{}",
        text(&o)
    );
    // More arguments go to the app; a file outside its grant is not there for it.
    let o = compose_app(root.path(), &["run", "app-wc", "--", "/etc/passwd"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("wordcount: /etc/passwd"), "{}", text(&o));
    // The JSON report carries the app's output.
    let o = compose_app(root.path(), &["run", "app-wc", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["exit"], 0, "{report}");
    assert!(
        report["stdout"]
            .as_str()
            .unwrap()
            .contains("/notes/todo.txt")
    );

    let o = compose_app(root.path(), &["list", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let apps: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(apps.len(), 1);
    assert_eq!(apps[0]["name"], "app-wc");
    assert_eq!(apps[0]["files"][0], "/srv/notes:/notes:ro");
}

#[test]
fn unknown_apps_and_bad_descriptions_are_clear_errors() {
    let root = tempfile::tempdir().unwrap();
    let o = compose_app(root.path(), &["run", "app-nothing"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = text(&o);
    assert!(
        err.contains("no app `app-nothing` on this device") && err.contains("compose-app list"),
        "{err}"
    );
    let dir = root.path().join("usr/share/compose/apps");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("app-bad.toml"),
        "[component]\nname = \"app-bad\"\n",
    )
    .unwrap();
    let o = compose_app(root.path(), &["run", "app-bad"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("app-bad.toml is not a valid app description"),
        "{}",
        text(&o)
    );
    let o = compose_app(root.path(), &["list"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}
