//! The `compose-update` program on an image root laid out as `compose build` lays it out:
//! `status` reads what runs and the trusted key; missing files and an unreachable
//! repository are clear errors with exit code 2.

use std::path::Path;
use std::process::{Command, Output};

fn agent(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_compose-update"))
        .arg("--root")
        .arg(root)
        .args(args)
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
fn status_reads_the_image_and_errors_say_what_to_do() {
    let root = tempfile::tempdir().unwrap();
    let o = agent(root.path(), &["status"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("usr/lib/compose/image.json"),
        "{}",
        text(&o)
    );

    let dir = root.path().join("usr/lib/compose");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("image.json"),
        r#"{"device":"vm","version":"0123456789ab","generation":4}"#,
    )
    .unwrap();
    let o = agent(root.path(), &["status"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("compose keys generate"), "{}", text(&o));

    let key = compose_update::keys::generate().unwrap();
    std::fs::write(
        dir.join("update.pub"),
        compose_update::keys::public_text(&key.verifying_key()),
    )
    .unwrap();
    let o = agent(root.path(), &["status", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let status: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(status["version"], "0123456789ab");
    assert_eq!(status["generation"], 4);
    assert_eq!(
        status["trusted_key"],
        compose_update::keys::key_id(&key.verifying_key())
    );

    // Nothing listens on this loopback port: a clear error, nothing written.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let to = root.path().join("new.erofs");
    let o = agent(
        root.path(),
        &[
            "download",
            "--repo",
            &format!("http://127.0.0.1:{port}/"),
            "--to",
            to.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("cannot fetch http://127.0.0.1"),
        "{}",
        text(&o)
    );
    assert!(!to.exists());
}
