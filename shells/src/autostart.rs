//! Apps a shell starts on its own: XDG autostart entries (`/etc/xdg/autostart/*.desktop`,
//! the freedesktop convention), so an image's app components add themselves by data, and
//! the command every app is started with (ours and `compose shell run --exec`).

use std::path::Path;

/// One app to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    /// The entry's file name without `.desktop`.
    pub name: String,
    /// Program and arguments (`Exec=` split at spaces, field codes such as `%U` dropped).
    pub exec: Vec<String>,
}

/// Parses one `.desktop` file; `None` when it is hidden, not an application, or has no
/// `Exec`.
pub fn parse(name: &str, text: &str) -> Option<App> {
    let mut in_entry = false;
    let mut exec = None;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_entry = line == "[Desktop Entry]";
            continue;
        }
        if !in_entry {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        match (key.trim(), value.trim()) {
            ("Hidden", "true") => return None,
            ("Type", t) if t != "Application" => return None,
            ("Exec", command) => exec = Some(command.to_string()),
            _ => {}
        }
    }
    let exec: Vec<String> = exec?
        .split_whitespace()
        .filter(|w| !(w.len() == 2 && w.starts_with('%')))
        .map(str::to_string)
        .collect();
    (!exec.is_empty()).then(|| App {
        name: name.to_string(),
        exec,
    })
}

/// A command for `program` that reaches our Wayland socket `wayland_display` only: the
/// host's displays are removed and toolkits are told to use Wayland.
pub fn command(
    program: &str,
    wayland_display: &str,
    x_display: Option<u32>,
) -> std::process::Command {
    let mut command = std::process::Command::new(program);
    command
        .env("WAYLAND_DISPLAY", wayland_display)
        .env_remove("WAYLAND_SOCKET")
        .env_remove("DISPLAY")
        .env("GDK_BACKEND", "wayland")
        .env("QT_QPA_PLATFORM", "wayland")
        .env("SDL_VIDEODRIVER", "wayland")
        .stdin(std::process::Stdio::null());
    // X11 apps reach our Xwayland; with none they cannot reach the user's X server.
    if let Some(n) = x_display {
        command.env("DISPLAY", format!(":{n}"));
    }
    command
}

/// Whether Xwayland is installed (on PATH): shells run X11 apps only then.
pub fn xwayland_installed() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("Xwayland").is_file()))
}

/// Every app of `dir`, sorted by file name; a missing folder has none.
pub fn read_dir(dir: &Path) -> Vec<App> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "desktop"))
        .collect();
    files.sort();
    files
        .iter()
        .filter_map(|path| {
            let name = path.file_stem()?.to_string_lossy().into_owned();
            let text = std::fs::read_to_string(path).ok()?;
            parse(&name, &text)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_lines_lose_field_codes_and_hidden_entries_are_skipped() {
        let app = parse(
            "foot",
            "[Desktop Entry]\nType=Application\nName=Foot\nExec=foot --title x %U\n[Desktop Action new]\nExec=other\n",
        )
        .unwrap();
        assert_eq!(app.exec, ["foot", "--title", "x"]);
        assert_eq!(parse("x", "[Desktop Entry]\nExec=x\nHidden=true\n"), None);
        assert_eq!(parse("x", "[Desktop Entry]\nType=Link\nExec=x\n"), None);
        assert_eq!(parse("x", "[Desktop Entry]\nName=x\n"), None);
    }
}
