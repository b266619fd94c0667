//! `compose app`: the real CLI running WASI apps in wasmtime: an app component of the
//! project with its manifest's grants, a .wasm file with grants on the command line,
//! refusals reported, and bad grants in manifests located.

use std::path::Path;

use crate::common;

use common::{compose, project, text};

#[test]
fn the_wordcount_app_counts_the_notes_its_manifest_grants() {
    let p = project();
    let o = compose(p.path(), &["app", "list"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("app-wordcount"), "{}", text(&o));
    let o = compose(p.path(), &["app", "run", "app-wordcount"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "3       8      41 /notes/todo.txt"
    );
    // A file outside the granted folder is not there for the app.
    let o = compose(
        p.path(),
        &["app", "run", "app-wordcount", "--", "/etc/passwd"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("exited with status 1"), "{}", text(&o));
}

#[test]
fn a_project_app_cannot_be_granted_a_folder_outside_the_project() {
    let p = project();
    // The notes folder becomes a link out of the project.
    let notes = p.path().join("files/notes");
    std::fs::remove_dir_all(&notes).unwrap();
    std::os::unix::fs::symlink("/etc", &notes).unwrap();
    let o = compose(p.path(), &["app", "run", "app-wordcount"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let t = text(&o);
    assert!(t.contains("app-wordcount.toml"), "{t}");
    assert!(t.contains("outside the project folder"), "{t}");
}

#[test]
fn bad_grants_in_a_manifest_are_located() {
    let p = project();
    std::fs::write(
        p.path().join("manifests/app-bad.toml"),
        r#"[component]
name = "app-bad"
version = "0.1.0"
summary = "grants that cannot be"

[app]
runtime = "wasm"
run = ["/usr/lib/compose/apps/bad.wasm"]
files = [{ host = "relative/notes", guest = "/notes" }]
network = ["example.org:443"]
memory = "lots"
"#,
    )
    .unwrap();
    let o = compose(p.path(), &["validate", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let all = report.to_string();
    for needle in ["relative/notes", "example.org:443", "lots"] {
        assert!(all.contains(needle), "{needle} reported: {all}");
    }
    // An unknown key in [app] too.
    std::fs::write(
        p.path().join("manifests/app-bad.toml"),
        "[component]\nname = \"app-bad\"\nversion = \"0.1.0\"\nsummary = \"x\"\n\n[app]\nruntime = \"wasm\"\nrun = [\"/a.wasm\"]\nnetwrok = []\n",
    )
    .unwrap();
    let o = compose(p.path(), &["validate"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("netwrok"), "{}", text(&o));
}

#[test]
fn a_wasm_file_runs_with_the_grants_given_and_refusals_are_reported() {
    let probe = compose_sandbox::apps::build("probe").unwrap();
    let probe = probe.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), "hello\n").unwrap();
    let grant = format!("read={}:/data", dir.path().display());
    let o = compose(
        Path::new("/"),
        &[
            "app",
            "run",
            probe,
            "--allow",
            &grant,
            "--",
            "read",
            "/data/hello.txt",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("ok: hello"), "{}", text(&o));
    // Nothing granted: no network, and the refusal is reported with how to grant it.
    let o = compose(
        Path::new("/"),
        &[
            "app",
            "run",
            probe,
            "--json",
            "--",
            "connect",
            "127.0.0.1:9",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["exit"], 1);
    assert!(
        report["denied"][0]
            .as_str()
            .unwrap_or("")
            .contains("connect=127.0.0.1:9"),
        "{report}"
    );
    // Limits stop it with a message that says what to grant.
    let o = compose(
        Path::new("/"),
        &["app", "run", probe, "--cpu-time", "300ms", "--", "spin"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("time budget of 300 ms"), "{}", text(&o));
    // Bad grants are refused before anything runs.
    let o = compose(
        Path::new("/"),
        &["app", "run", probe, "--allow", "read=notes"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("not absolute"), "{}", text(&o));
}

#[test]
fn running_apps_are_listed_and_stopped() {
    let probe = compose_sandbox::apps::build("probe").unwrap();
    let runtime = tempfile::tempdir().unwrap();
    let compose_in = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_compose"))
            .args(args)
            .env("XDG_RUNTIME_DIR", runtime.path())
            .output()
            .unwrap()
    };
    let mut spinning = std::process::Command::new(env!("CARGO_BIN_EXE_compose"))
        .args([
            "app",
            "run",
            probe.to_str().unwrap(),
            "--cpu-time",
            "1m",
            "--",
            "spin",
        ])
        .env("XDG_RUNTIME_DIR", runtime.path())
        .spawn()
        .unwrap();
    let id = spinning.id();
    let start = std::time::Instant::now();
    let listed = loop {
        let o = compose_in(&["app", "ps", "--json"]);
        let rows: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        if rows.as_array().is_some_and(|r| !r.is_empty()) {
            break rows;
        }
        assert!(start.elapsed().as_secs() < 30, "the app never showed in ps");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(listed[0]["id"], id);
    assert!(listed[0]["app"].as_str().unwrap().ends_with("probe.wasm"));
    let o = compose_in(&["app", "stop", &id.to_string()]);
    assert!(o.status.success(), "{}", text(&o));
    let status = spinning.wait().unwrap();
    assert!(!status.success(), "stopped, not finished: {status}");
    let o = compose_in(&["app", "ps", "--json"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "[]");
    let o = compose_in(&["app", "stop", &id.to_string()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("no running app"), "{}", text(&o));
}

#[test]
fn a_container_app_runs_in_its_own_debian_root_with_its_grants() {
    let p = project();
    let o = compose(p.path(), &["app", "run", "app-busybox"]);
    assert!(o.status.success(), "{}", text(&o));
    let t = String::from_utf8_lossy(&o.stdout).to_string();
    // The notes (3 lines) read through the grant; a root of busybox alone.
    assert!(t.contains("3 /notes/todo.txt"), "{t}");
    assert!(t.contains("bin") && !t.contains("home"), "{t}");
    // With --json, a report that says how limits were applied.
    let o = compose(p.path(), &["app", "run", "app-busybox", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["exit"], 0, "{report}");
    assert!(
        report["limits"].as_str().unwrap_or("").contains("rlimit"),
        "{report}"
    );
}

#[test]
fn an_oci_image_runs_with_its_config_and_only_the_grants_given() {
    let p = project();
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    common::busybox_image(&layout);
    let image = format!("oci:{}:1.0", layout.display());

    // Its config's defaults (Entrypoint and Cmd, Env, WorkingDir, User); nothing granted:
    // no folder, loopback only.
    let o = compose(p.path(), &["app", "run", &image]);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        out.contains("hello from oci as 1000 in /srv"),
        "{}",
        text(&o)
    );
    assert!(out.contains("devices 1"), "{}", text(&o));
    assert!(out.contains("only app reads this"), "{}", text(&o));
    assert!(text(&o).contains("/notes"), "{}", text(&o));
    // Grants from the command line; arguments replace Cmd (Entrypoint stays).
    let notes = p.path().join("files/notes");
    let o = compose(
        p.path(),
        &[
            "app",
            "run",
            &image,
            "--allow",
            &format!("read={}:/notes", notes.display()),
            "--allow",
            "env=GREETING=granted",
            "--",
            "echo $GREETING; busybox wc -l /notes/todo.txt; busybox touch /notes/x || echo read-only",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(out.contains("granted"), "{out}");
    assert!(out.contains("3 /notes/todo.txt"), "{out}");
    assert!(out.contains("read-only"), "{out}");

    // The same image from a docker-archive that skopeo wrote.
    let archive = tmp.path().join("busybox.tar");
    common::run_ok(std::process::Command::new("skopeo").args([
        "copy",
        "--quiet",
        &image,
        &format!("docker-archive:{}:busybox:1.0", archive.display()),
    ]));
    let o = compose(
        p.path(),
        &[
            "app",
            "run",
            &format!("docker-archive:{}", archive.display()),
            "--",
            "echo from the archive as $(busybox id -u)",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("from the archive as 1000"),
        "{}",
        text(&o)
    );

    // Bad references say what is wrong.
    let o = compose(
        p.path(),
        &["app", "run", &format!("oci:{}:2.0", layout.display())],
    );
    assert!(!o.status.success());
    assert!(
        text(&o).contains("no tag `2.0`; it has: 1.0"),
        "{}",
        text(&o)
    );
    // A registry is always named (none is assumed).
    let o = compose(p.path(), &["app", "run", "docker://busybox:1"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("docker://REGISTRY/NAME"), "{}", text(&o));
}
