//! compose-window: one window of a solid colour until it is closed or killed; a Wayland
//! client that runs anywhere (static with musl), e.g. inside a container.
//! `compose-window APP_ID RRGGBB [--dmabuf DRM_NODE]` connects to `$WAYLAND_DISPLAY` (a
//! name in `$XDG_RUNTIME_DIR`, or an absolute path). With `--dmabuf` its buffers are dumb
//! buffers of that DRM node (e.g. /dev/dri/card0) shared through linux-dmabuf.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let app_id = args
        .first()
        .cloned()
        .unwrap_or_else(|| "compose-window".into());
    let color = args
        .get(1)
        .and_then(|c| u32::from_str_radix(c, 16).ok())
        .unwrap_or(0x00ff00);
    let rgba = [(color >> 16) as u8, (color >> 8) as u8, color as u8, 255];
    let display = std::env::var("WAYLAND_DISPLAY").unwrap_or_else(|_| "wayland-0".into());
    let runtime = std::env::var("XDG_RUNTIME_DIR").unwrap_or_else(|_| "/tmp".into());
    let path = Path::new(&runtime).join(&display);
    let (dir, name) = (
        path.parent().unwrap_or(Path::new("/")),
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("wayland-0"),
    );
    let mut client = match compose_testclient::Client::connect(dir, name) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("compose-window: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(node) = args
        .iter()
        .position(|a| a == "--dmabuf")
        .map(|at| args.get(at + 1))
    {
        let Some(node) = node else {
            eprintln!("compose-window: --dmabuf needs a DRM node, such as /dev/dri/card0");
            return ExitCode::from(2);
        };
        if let Err(e) = client.use_dmabuf(Path::new(node)) {
            eprintln!("compose-window: {e}");
            return ExitCode::FAILURE;
        }
    }
    if let Err(e) = client.toplevel(&app_id, &app_id, rgba) {
        eprintln!("compose-window: {e}");
        return ExitCode::FAILURE;
    }
    // Answer the compositor (pings, configures) until it goes away.
    loop {
        std::thread::sleep(Duration::from_millis(100));
        if let Err(e) = client.roundtrip() {
            eprintln!("compose-window: {e}");
            return ExitCode::SUCCESS;
        }
    }
}
