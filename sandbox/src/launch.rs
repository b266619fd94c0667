//! Running one app in the foreground, the same way wherever it is started from (`compose
//! app run` on a workstation, `compose-app run` on a device): its own Wayland socket into
//! the running shell when granted a window, a record for `ps` and `stop` while it runs,
//! and its end told as a line on stderr or a JSON report, with the exit code to pass on.

use std::path::{Path, PathBuf};

use crate::grants::Grants;
use crate::wasm::{Outcome, Report, Stdio, WasmHost};
use crate::wayland::SandboxSocket;

/// Why an app could not be run (an app that ran and failed is an exit code, not this).
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error(
        "{0} is granted a GUI but no shell runs here (WAYLAND_DISPLAY and XDG_RUNTIME_DIR name its socket)\nhelp: start one with `compose shell run`, or run the app inside a shell session"
    )]
    NoShell(String),
    #[error("cannot create {path}: {message}")]
    Folder { path: PathBuf, message: String },
    #[error(transparent)]
    Wayland(#[from] crate::wayland::WaylandError),
    #[error(transparent)]
    Wasm(#[from] crate::wasm::WasmError),
    #[error(transparent)]
    Container(#[from] crate::container::ContainerError),
    #[error(transparent)]
    Running(#[from] crate::running::RunningError),
}

/// For an app granted a GUI: its own Wayland socket into the shell this process runs
/// under (`WAYLAND_DISPLAY`, absolute or in `XDG_RUNTIME_DIR`), which marks the app's
/// windows and hides privileged protocols from it. `None` when no window is granted.
pub fn app_socket(app: &str, grants: &Grants) -> Result<Option<SandboxSocket>, LaunchError> {
    if !grants.gui() {
        return Ok(None);
    }
    let runtime = std::env::var_os("XDG_RUNTIME_DIR")
        .filter(|r| !r.is_empty())
        .map(PathBuf::from);
    let display = std::env::var_os("WAYLAND_DISPLAY")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from);
    let shell = match (display, &runtime) {
        (Some(d), _) if d.is_absolute() => d,
        (Some(d), Some(r)) => r.join(d),
        _ => return Err(LaunchError::NoShell(app.to_string())),
    };
    let name = Path::new(app)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "app".into());
    let dir = runtime
        .unwrap_or_else(std::env::temp_dir)
        .join("compose-apps");
    std::fs::create_dir_all(&dir).map_err(|e| LaunchError::Folder {
        path: dir.clone(),
        message: e.to_string(),
    })?;
    let path = dir.join(format!("{name}-{}.wayland", std::process::id()));
    Ok(Some(crate::wayland::open(&shell, &path, &name)?))
}

/// Runs WASI component `wasm` as app `name` with `args` and only `grants`; returns the
/// exit code (0: it succeeded; 1: it failed or was stopped).
pub fn run_wasm(
    name: &str,
    wasm: &Path,
    args: &[String],
    grants: &Grants,
    json: bool,
) -> Result<i32, LaunchError> {
    let _running = crate::running::register(name, "wasm")?;
    let socket = app_socket(name, grants)?;
    let host = WasmHost::new()?;
    let stdio = if json { Stdio::Capture } else { Stdio::Inherit };
    let display = socket.as_ref().map(|s| s.path.as_path());
    let report = host.run_in_shell(wasm, args, grants, stdio, display)?;
    Ok(print_wasm(name, &report, json))
}

/// Runs `process` (program, arguments and an image's defaults) as container app `name` in
/// `rootfs` (read-only for the app) with only `grants`; its bundle is made in a new folder under `bundles` and
/// removed after. Returns the exit code as [`run_wasm`] does.
pub fn run_container(
    name: &str,
    rootfs: &Path,
    process: &crate::container::Process,
    grants: &Grants,
    json: bool,
    bundles: &Path,
) -> Result<i32, LaunchError> {
    use crate::container;
    // The bundle lives as long as the run.
    struct Bundle(PathBuf);
    impl Drop for Bundle {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let id = format!("compose-{name}-{}", std::process::id());
    let bundle = Bundle(bundles.join(&id));
    std::fs::create_dir_all(&bundle.0).map_err(|e| LaunchError::Folder {
        path: bundle.0.clone(),
        message: e.to_string(),
    })?;
    let socket = app_socket(name, grants)?;
    let display = socket.as_ref().map(|s| s.path.as_path());
    container::write_bundle(&bundle.0, rootfs, process, grants, display)?;
    let _running = crate::running::register(name, "container")?;
    let report = container::run(&bundle.0, &id)?;
    let ok = report.status == Some(0);
    if json {
        let out = serde_json::json!({
            "app": name,
            "exit": report.status,
            "stdout": String::from_utf8_lossy(&report.stdout),
            "stderr": String::from_utf8_lossy(&report.stderr),
            "limits": report.limits,
        });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        use std::io::Write;
        let _ = std::io::stdout().write_all(&report.stdout);
        let _ = std::io::stderr().write_all(&report.stderr);
        if !ok {
            eprintln!("{name}: exited with status {:?}", report.status);
        }
    }
    Ok(if ok { 0 } else { 1 })
}

/// Prints a wasm run's end (JSON on stdout, or what was denied and why it stopped on
/// stderr) and returns the exit code.
pub fn print_wasm(app: &str, report: &Report, json: bool) -> i32 {
    let (code, verdict) = match &report.outcome {
        Outcome::Exited(0) => (0, None),
        Outcome::Exited(n) => (1, Some(format!("exited with status {n}"))),
        Outcome::OutOfTime(d) => (
            1,
            Some(format!(
                "stopped: it ran past its time budget of {} ms (grant more with --cpu-time, or cpu-time in [app])",
                d.as_millis()
            )),
        ),
        Outcome::OutOfMemory(m) => (
            1,
            Some(format!(
                "stopped: it wanted more than its {} MiB of memory (grant more with --memory, or memory in [app])",
                m >> 20
            )),
        ),
        Outcome::Trapped(t) => (1, Some(format!("stopped by a trap: {t}"))),
    };
    if json {
        let exit = match report.outcome {
            Outcome::Exited(n) => Some(n),
            _ => None,
        };
        let out = serde_json::json!({
            "app": app,
            "exit": exit,
            "stopped": verdict,
            "denied": report.denied,
            "stdout": String::from_utf8_lossy(&report.stdout),
            "stderr": String::from_utf8_lossy(&report.stderr),
            "started_ms": report.started_in.as_secs_f64() * 1000.0,
            "warm": report.warm,
        });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        for d in &report.denied {
            eprintln!("compose app: {app}: denied {d}");
        }
        if let Some(v) = verdict {
            eprintln!("compose app: {app}: {v}");
        }
    }
    code
}

/// App `name` and what it is granted, as one JSON object (what `list --json` shows).
pub fn describe(name: &str, app: &compose_manifest::app::App) -> serde_json::Value {
    let files: Vec<String> = app
        .files
        .iter()
        .map(|f| {
            let access = if f.value.write { "rw" } else { "ro" };
            format!("{}:{}:{access}", f.value.host, f.value.guest)
        })
        .collect();
    serde_json::json!({
        "name": name,
        "runtime": app.runtime,
        "run": app.run,
        "files": files,
        "network": app.network.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
        "name_lookup": app.name_lookup,
        "memory": app.memory,
        "cpu_time_ms": app.cpu_time.map(|d| d.as_millis() as u64),
        "gui": app.gui,
    })
}

/// Prints the apps running now: JSON, or one line each with the id `stop` takes.
pub fn print_running(json: bool) {
    let running = crate::running::list();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&running).unwrap_or_default()
        );
    } else {
        for e in &running {
            println!("{:>8}  {:<24} {}", e.id, e.app, e.runtime);
        }
    }
}
