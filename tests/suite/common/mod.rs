//! Helpers shared by the build and boot tests: a project copy, the shared store, the CLI.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[path = "../../../oci/tests/support/registry.rs"]
pub mod registry;

/// One store for the test binaries, kept between runs in cargo's test tmp folder.
pub fn store() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("store")
}

/// Where `cargo` sources compile (shared, so each project copy only rebuilds its own crates).
pub fn cargo_target() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("musl-target")
}

/// A copy of this repository (catalog, payload files and the workspace that `cargo`
/// sources build, such as compose-init) in a temporary folder. Files keep their modification
/// times: cargo then finds the copy's crates fresh in the shared target folder (it names
/// workspace crates relative to the workspace root) instead of building every workspace
/// crate an image needs again, in release, for every test project.
pub fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Everything but build outputs and history: every workspace member must be there
    // for cargo to load the workspace.
    for entry in std::fs::read_dir(repo).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        // compose.lock stays behind: tests pin what apt offers today, not what the repo pinned.
        if [".git", "target", "out", "compose.lock"]
            .iter()
            .any(|skip| name == *skip)
        {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dir.path().join(&name));
        } else {
            copy_file(&entry.path(), &dir.path().join(&name));
        }
    }
    dir
}

/// Copies one file with its modification time.
fn copy_file(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap();
    let modified = std::fs::metadata(from).unwrap().modified().unwrap();
    std::fs::File::options()
        .write(true)
        .open(to)
        .unwrap()
        .set_modified(modified)
        .unwrap();
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            if entry.file_name() != "target" {
                copy_dir(&entry.path(), &to.join(entry.file_name()));
            }
        } else {
            copy_file(&entry.path(), &to.join(entry.file_name()));
        }
    }
}

/// How the tests' `compose` builds the programs of images (`cargo` sources): in the shared
/// target folder, and at opt-level 1, not release's 3. The suite's cold release builds of
/// image programs (compose-shell, compose-app, the agent, init) were its largest cost; at
/// opt-level 1 they compile in about 83% of the time (compose-shell 416 s against 503 s
/// cold) and behave the same. Users' builds keep cargo's release profile.
pub fn cargo_env(command: &mut Command) -> &mut Command {
    command
        .env("CARGO_TARGET_DIR", cargo_target())
        .env("CARGO_PROFILE_RELEASE_OPT_LEVEL", "1")
}

/// Runs the real `compose` binary in `project` with the shared store.
pub fn compose(project: &Path, args: &[&str]) -> Output {
    cargo_env(
        Command::new(env!("CARGO_BIN_EXE_compose"))
            .current_dir(project)
            .args(args)
            .env("COMPOSE_STORE", store()),
    )
    .output()
    .unwrap()
}

/// Makes `component` a root of the project's `vm` device, beside the others.
pub fn add_vm_root(project: &Path, component: &str) {
    let vm = project.join("devices/vm.toml");
    let text = std::fs::read_to_string(&vm).unwrap();
    assert!(text.contains("roots = ["), "{text}");
    std::fs::write(
        &vm,
        text.replacen("roots = [", &format!("roots = [\"{component}\", "), 1),
    )
    .unwrap();
}

/// Adds `crashy`, a service that always fails (exit code 3, restarted on failure until
/// init gives up), as a root of the project's `vm` device: a boot that never gets ready.
pub fn add_crashy_service(project: &Path) {
    std::fs::write(
        project.join("manifests/crashy.toml"),
        r#"[component]
name = "crashy"
version = "0.1.0"
summary = "a service that always fails"
requires = ["shell-utils"]

# A oneshot is up only once it exits successfully: a simple service counts as up after
# 100 ms, which a VM on a loaded machine can take before the shell exits, and the boot
# would be blessed before the crash.
[[service]]
name = "crashy"
type = "oneshot"
exec = ["/bin/busybox", "sh", "-c", "echo crashy: starting; exit 3"]
restart = "on-failure"
"#,
    )
    .unwrap();
    add_vm_root(project, "crashy");
}

/// A command's stdout and stderr, as text, for messages and `contains` checks.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Fails with the command's output unless it exited with `code`.
#[track_caller]
pub fn assert_exit(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A window as `compose shell windows --json` prints it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ShellWindow {
    pub app_id: String,
    pub title: String,
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
    pub focused: bool,
    /// The security context of a sandboxed app's window (`ENGINE/APP`).
    #[serde(default)]
    pub sandbox: Option<String>,
}

/// Runs `compose flash DISK` with `args` (`--vm` and its options) until its serial console
/// shows every one of `markers`, then stops it (SIGTERM: flash powers the VM off); returns
/// the console. Fails the test, with the console's end, when flash ends first or after
/// `limit_s` seconds.
pub fn flash_until(
    project: &Path,
    disk: &Path,
    args: &[&str],
    markers: &[&str],
    limit_s: u64,
) -> String {
    let serial = project.join(format!(
        "serial-{}.log",
        disk.file_stem().unwrap().to_string_lossy()
    ));
    let _ = std::fs::remove_file(&serial);
    let errors = project.join("flash-stderr.log");
    let mut flash = Command::new(env!("CARGO_BIN_EXE_compose"))
        .current_dir(project)
        .arg("flash")
        .arg(disk)
        .args(args)
        .arg("--serial")
        .arg(&serial)
        .env("COMPOSE_STORE", store())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&errors).unwrap())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let console = loop {
        let console = std::fs::read_to_string(&serial).unwrap_or_default();
        if markers.iter().all(|m| console.contains(m)) {
            break console;
        }
        let ended = flash.try_wait().unwrap();
        if ended.is_some() || start.elapsed().as_secs() > limit_s {
            let tail: Vec<&str> = console.lines().rev().take(40).collect();
            panic!(
                "no {markers:?} on the console ({}): {}\n--- console ---\n{}",
                match ended {
                    Some(status) => format!("compose flash ended, {status}"),
                    None => format!("{limit_s} s passed"),
                },
                std::fs::read_to_string(&errors).unwrap_or_default(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(flash.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    flash.wait().unwrap();
    console
}

/// Runs `cmd`, which must succeed.
pub fn run_ok(cmd: &mut Command) {
    let o = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (scripts/setup installs umoci and skopeo)"));
    assert!(o.status.success(), "{cmd:?}: {}", text(&o));
}

/// Makes an OCI image layout at `layout` (tag `1.0`) with umoci, from Debian's
/// busybox-static (fetched with apt): a user `app` (uid 1000), Entrypoint `busybox sh -c`,
/// Env GREETING=oci, WorkingDir /srv, and a Cmd that prints
/// `hello from oci as 1000 in /srv`, what is in /notes, how many network devices it sees
/// and `/srv/note`. As root, `/srv` (0750) and its note (0600) are the user's: the app
/// reaches them only where the image's owners were kept.
pub fn busybox_image(layout: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    let l = layout.to_str().unwrap();
    let bundle = tmp.path().join("bundle");
    let b = bundle.to_str().unwrap();
    let image = format!("{l}:1.0");
    use std::os::unix::fs::MetadataExt;
    let as_root = std::fs::metadata("/proc/self").unwrap().uid() == 0;
    run_ok(Command::new("umoci").args(["init", "--layout", l]));
    run_ok(Command::new("umoci").args(["new", "--image", &image]));
    let mut unpack = Command::new("umoci");
    unpack.arg("unpack");
    if !as_root {
        unpack.arg("--rootless");
    }
    run_ok(unpack.args(["--image", &image, b]));
    run_ok(
        Command::new("apt-get")
            .args(["download", "-q", "busybox-static"])
            .current_dir(tmp.path()),
    );
    let deb = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .unwrap();
    let rootfs = bundle.join("rootfs");
    run_ok(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&rootfs));
    std::fs::create_dir_all(rootfs.join("srv")).unwrap();
    std::fs::write(rootfs.join("srv/note"), "only app reads this\n").unwrap();
    if as_root {
        use std::os::unix::fs::{PermissionsExt, chown};
        for (path, mode) in [("srv", 0o750), ("srv/note", 0o600)] {
            chown(rootfs.join(path), Some(1000), Some(1000)).unwrap();
            std::fs::set_permissions(rootfs.join(path), std::fs::Permissions::from_mode(mode))
                .unwrap();
        }
    }
    std::fs::create_dir_all(rootfs.join("etc")).unwrap();
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/srv:/bin/sh\n",
    )
    .unwrap();
    // Documentation goes, as it would from any image built for a device.
    let _ = std::fs::remove_dir_all(rootfs.join("usr/share/doc"));
    run_ok(Command::new("umoci").args(["repack", "--image", &image, b]));
    run_ok(Command::new("umoci").args([
        "config",
        "--image",
        &image,
        "--config.entrypoint",
        "/bin/busybox",
        "--config.entrypoint",
        "sh",
        "--config.entrypoint",
        "-c",
        "--config.cmd",
        "echo hello from $GREETING as $(busybox id -u) in $(pwd); busybox ls /notes; echo devices $(busybox tail -n +3 /proc/net/dev | busybox wc -l); busybox cat /srv/note",
        "--config.env",
        "GREETING=oci",
        "--config.workingdir",
        "/srv",
        "--config.user",
        "app",
    ]));
}

/// A container app whose root and defaults are an OCI image in the project (made by
/// [`busybox_image`] at `images/busybox`), run by init as a service as RancherOS runs its
/// system services.
pub const OCI_APP: &str = r#"[component]
name = "app-oci-hello"
version = "0.1.0"
summary = "busybox from an OCI image, run as a service: its config says what runs, as whom and where"
requires = ["app-runtime", "container-runtime"]

[source]
oci = { image = "oci:images/busybox:1.0" }

[app]
runtime = "container"

[[service]]
name = "oci-hello"
exec = ["/usr/bin/compose-app", "run", "app-oci-hello"]
type = "oneshot"
"#;

/// Adds `oci-pull` to `project`'s `vm` device: a service that pulls `image` (`NAME@DIGEST`)
/// from `registry` as the guest reaches the host (QEMU's 10.0.2.2), with the registry's CA
/// and credentials, lists the pulled images, runs the image with one grant and its own
/// command, then forgets it and collects its root and blobs.
pub fn add_oci_pull(project: &Path, registry: &registry::Registry, image: &str) {
    let host = format!("10.0.2.2:{}", registry.port());
    let ca = std::fs::read_to_string(&registry.ca).unwrap();
    let auth = std::fs::read_to_string(registry.auth_file(&host, "secret")).unwrap();
    std::fs::write(
        project.join("manifests/oci-pull.toml"),
        format!(
            r##"[component]
name = "oci-pull"
version = "0.1.0"
summary = "pulls an image from the host's registry while the device runs, runs it, then collects it"
requires = ["app-runtime", "container-runtime", "shell-utils", "network"]

[[files]]
path = "/usr/share/oci-pull/ca.pem"
mode = "0644"
content = """{ca}"""

[[files]]
path = "/usr/share/oci-pull/auth.json"
mode = "0600"
content = """{auth}"""

[[files]]
path = "/usr/libexec/oci-pull"
mode = "0755"
content = """#!/bin/busybox sh
image=docker://{host}/{image}
export REGISTRY_AUTH_FILE=/usr/share/oci-pull/auth.json
for i in $(/bin/busybox seq 60); do
  /usr/bin/compose-app pull --ca /usr/share/oci-pull/ca.pem $image && break
  /bin/busybox sleep 1
done
/usr/bin/compose-app images
/usr/bin/compose-app run $image --allow env=GREETING=granted -- 'echo pulled says $GREETING as $(busybox id -u) in $(pwd): $(busybox cat note)' || exit 1
/usr/bin/compose-app remove $image
/usr/bin/compose-app gc
"""

[[service]]
name = "oci-pull"
exec = ["/usr/libexec/oci-pull"]
type = "oneshot"
restart = "no"
"##
        ),
    )
    .unwrap();
    add_vm_root(project, "oci-pull");
}

/// Adds [`OCI_APP`] and its image to `project`, as a root of its `vm` device.
pub fn add_oci_app(project: &Path) {
    busybox_image(&project.join("images/busybox"));
    std::fs::write(project.join("manifests/app-oci-hello.toml"), OCI_APP).unwrap();
    add_vm_root(project, "app-oci-hello");
}
