//! Apps a shell starts on its own: XDG autostart entries (`/etc/xdg/autostart/*.desktop`,
//! the freedesktop convention), so an image's app components add themselves by data, and
//! the command every app is started with (ours and `compose shell run --exec`).

use std::path::Path;

/// One app to start.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct App {
    /// The entry's file name without `.desktop`.
    pub name: String,
    /// What people call it (`Name=`; the file name when the entry has none).
    pub title: String,
    /// Program and arguments (`Exec=` split at spaces, field codes such as `%U` dropped).
    pub exec: Vec<String>,
    /// `Categories=` (`Game`, `Utility` ...).
    pub categories: Vec<String>,
    /// `NoDisplay=true`: started by others, never listed in a menu.
    pub no_display: bool,
    /// `Icon=`: a name in the icon theme, or an absolute path.
    pub icon: Option<String>,
}

/// Parses one `.desktop` file; `None` when it is hidden, not an application, or has no
/// `Exec`.
pub fn parse(name: &str, text: &str) -> Option<App> {
    entry(name, text).ok().flatten()
}

/// One `.desktop` file: the app, `None` for entries that are not meant to start (hidden,
/// not an application), or why it is malformed.
fn entry(name: &str, text: &str) -> Result<Option<App>, &'static str> {
    let mut in_entry = false;
    let mut exec = None;
    let mut title = None;
    let mut categories = Vec::new();
    let mut no_display = false;
    let mut icon = None;
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
            ("Hidden", "true") => return Ok(None),
            ("Type", t) if t != "Application" => return Ok(None),
            ("Exec", command) => exec = Some(command.to_string()),
            ("Name", n) if !n.is_empty() => title = Some(n.chars().take(80).collect()),
            ("Categories", c) => {
                categories = c
                    .split(';')
                    .filter(|c| !c.is_empty())
                    .take(16)
                    .map(str::to_string)
                    .collect()
            }
            ("NoDisplay", "true") => no_display = true,
            ("Icon", i) if !i.is_empty() && i.len() <= 256 => icon = Some(i.to_string()),
            _ => {}
        }
    }
    let exec: Vec<String> = exec
        .ok_or("no [Desktop Entry] with an Exec line")?
        .split_whitespace()
        .filter(|w| !(w.len() == 2 && w.starts_with('%')))
        .map(str::to_string)
        .collect();
    if exec.is_empty() {
        return Err("its Exec line is empty");
    }
    Ok(Some(App {
        name: name.to_string(),
        title: title.unwrap_or_else(|| name.to_string()),
        exec,
        categories,
        no_display,
        icon,
    }))
}

/// A command for `program` that reaches our Wayland socket `wayland_display` only: the
/// host's displays are removed and toolkits are told to use Wayland; HOME and LANG are
/// given where the shell has none.
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
    // A device's init gives the shell a bare environment: apps want a home and, for foot,
    // GTK and Qt, a UTF-8 locale (glibc has C.UTF-8 built in).
    if std::env::var_os("HOME").is_none() {
        command.env("HOME", "/root");
    }
    if std::env::var_os("LANG").is_none() {
        command.env("LANG", "C.UTF-8");
    }
    command
}

/// Whether Xwayland is installed (on PATH): shells run X11 apps only then.
pub fn xwayland_installed() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("Xwayland").is_file()))
}

/// Every app of `dir`, sorted by file name; a missing folder has none. An entry that
/// cannot be read, is not UTF-8, is too big or has no `Exec` is skipped with a warning.
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
            let app = match std::fs::metadata(path) {
                Ok(m) if m.len() > MAX_ENTRY => Err(format!("over {MAX_ENTRY} bytes")),
                _ => std::fs::read_to_string(path).map_err(|e| e.to_string()),
            }
            .and_then(|text| entry(&name, &text).map_err(str::to_string));
            app.unwrap_or_else(|e| {
                tracing::warn!("desktop entry {} skipped: {e}", path.display());
                None
            })
        })
        .collect()
}

/// The largest desktop entry read (real ones are a few kilobytes).
const MAX_ENTRY: u64 = 256 * 1024;

/// The apps of every folder, in order; an app (by file name) found again later is skipped,
/// as XDG data folders shadow one another.
pub fn read_dirs(dirs: &[std::path::PathBuf]) -> Vec<App> {
    let mut seen = std::collections::HashSet::new();
    dirs.iter()
        .flat_map(|d| read_dir(d))
        .filter(|app| seen.insert(app.name.clone()))
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
        assert_eq!(app.title, "Foot");
        assert_eq!(parse("x", "[Desktop Entry]\nExec=x\nHidden=true\n"), None);
        assert_eq!(parse("x", "[Desktop Entry]\nType=Link\nExec=x\n"), None);
        assert_eq!(parse("x", "[Desktop Entry]\nName=x\n"), None);
    }
}
