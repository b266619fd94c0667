//! Shell definitions: a layout, the parts around it and keyboard shortcuts, so a new shell
//! is data.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::shortcuts::{self, Shortcut};

/// How windows are arranged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    /// Overlapping windows the user moves and resizes (desktop).
    Floating,
    /// The focused window fills the output; the others wait, throttled (gaming).
    FocusedFullscreen,
    /// Every window maximized, most recent on top (tablet).
    MaximizedStack,
}

/// Pieces of chrome and behaviour a shell is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Part {
    /// Server-side title bars above windows.
    TitleBars,
    /// A bar along the bottom edge listing windows.
    Taskbar,
    /// A bar over the fullscreen app, toggled by a key or the gamepad Guide button.
    OverlayBar,
    /// Room at the bottom for an on-screen keyboard.
    OnScreenKeyboard,
    /// An app switcher swiped in from the screen edge.
    EdgeSwitcher,
    /// Desktop notifications (`org.freedesktop.Notifications`) as popups at the top right.
    Notifications,
    /// Clock and battery at the right end of the task bar or the overlay bar.
    Status,
    /// The app menu: every app with type-to-search, from a start button (desktop) or the
    /// Super key, as a menu on the desktop and a grid elsewhere.
    Launcher,
}

/// One shell: its name, layout, parts and keyboard shortcuts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShellDef {
    pub name: String,
    pub summary: String,
    pub layout: Layout,
    pub parts: Vec<Part>,
    /// The layout's default shortcuts as `[shell.keys]` and `[shell.run]` changed them,
    /// sorted ([`shortcuts::resolve`]).
    pub shortcuts: Vec<Shortcut>,
}

impl ShellDef {
    pub fn has(&self, part: Part) -> bool {
        self.parts.contains(&part)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    shell: ShellFile,
}

/// `[shell]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShellFile {
    name: String,
    summary: String,
    layout: Layout,
    #[serde(default)]
    parts: Vec<Part>,
    /// Shortcut to action name (`"Super+L" = "lock"`), or `none` to drop a default.
    #[serde(default)]
    keys: BTreeMap<String, String>,
    /// Shortcut to the command it starts (`"Super+Return" = ["foot"]`).
    #[serde(default)]
    run: BTreeMap<String, Vec<String>>,
}

/// Why a shell definition could not be read.
#[derive(Debug, thiserror::Error)]
#[error("shell definition {name}: {message}")]
pub struct DefinitionError {
    pub name: String,
    pub message: String,
}

/// Parses one definition (`[shell]` with name, summary, layout, parts, and optionally
/// `[shell.keys]` and `[shell.run]`).
pub fn parse(name: &str, text: &str) -> Result<ShellDef, DefinitionError> {
    let fail = |message: String| DefinitionError {
        name: name.to_string(),
        message,
    };
    let file = toml::from_str::<File>(text).map_err(|e| fail(e.to_string()))?;
    let ShellFile {
        name: shell_name,
        summary,
        layout,
        parts,
        keys,
        run,
    } = file.shell;
    let shortcuts = shortcuts::resolve(layout, &keys, &run).map_err(fail)?;
    Ok(ShellDef {
        name: shell_name,
        summary,
        layout,
        parts,
        shortcuts,
    })
}

/// Shell definitions from every `*.toml` in `dir` (sorted by file name), added to the
/// built-in ones; a name may be defined only once.
pub fn with_dir(dir: &std::path::Path) -> Result<Vec<ShellDef>, DefinitionError> {
    let mut shells = builtin();
    for (name, def) in read_dir(dir)? {
        if shells.iter().any(|s| s.name == def.name) {
            return Err(DefinitionError {
                name,
                message: format!(
                    "a shell named `{}` already exists; give this one another name",
                    def.name
                ),
            });
        }
        shells.push(def);
    }
    Ok(shells)
}

/// The built-in shells, each replaced by a file of the same name in `dir` (`NAME.toml`,
/// what a device's shell components install), plus the other definitions there. A
/// missing folder leaves the built-in ones.
pub fn installed(dir: &std::path::Path) -> Result<Vec<ShellDef>, DefinitionError> {
    let mut shells = builtin();
    if !dir.is_dir() {
        return Ok(shells);
    }
    for (_, def) in read_dir(dir)? {
        shells.retain(|s| s.name != def.name);
        shells.push(def);
    }
    Ok(shells)
}

/// Every `*.toml` of `dir`, sorted by file name, parsed, with its path.
fn read_dir(dir: &std::path::Path) -> Result<Vec<(String, ShellDef)>, DefinitionError> {
    let fail = |name: String, message: String| DefinitionError { name, message };
    let entries = std::fs::read_dir(dir).map_err(|e| {
        fail(
            dir.display().to_string(),
            format!("cannot read the folder: {e}"),
        )
    })?;
    let mut files: Vec<std::path::PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path.display().to_string();
            let text =
                std::fs::read_to_string(&path).map_err(|e| fail(name.clone(), e.to_string()))?;
            let def = parse(&name, &text)?;
            Ok((name, def))
        })
        .collect()
}

/// The shell named `name` among `shells`; names are matched without regard to case
/// (`Gaming` is `gaming`).
pub fn find<'a>(shells: &'a [ShellDef], name: &str) -> Option<&'a ShellDef> {
    shells
        .iter()
        .find(|s| s.name == name)
        .or_else(|| shells.iter().find(|s| s.name.eq_ignore_ascii_case(name)))
}

/// The shell named `name`, or an error that lists the known ones.
pub fn lookup<'a>(shells: &'a [ShellDef], name: &str) -> Result<&'a ShellDef, String> {
    find(shells, name).ok_or_else(|| format!("no shell `{name}`; shells: {}", names(shells)))
}

/// The shells' names, comma-separated, for messages.
pub fn names(shells: &[ShellDef]) -> String {
    shells
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The shells that ship with compose.
pub fn builtin() -> Vec<ShellDef> {
    [
        (
            "desktop.toml",
            include_str!("../../definitions/desktop.toml"),
        ),
        ("gaming.toml", include_str!("../../definitions/gaming.toml")),
        ("tablet.toml", include_str!("../../definitions/tablet.toml")),
    ]
    .into_iter()
    .map(|(name, text)| parse(name, text).expect("built-in shell definitions are valid"))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_parse() {
        let names: Vec<String> = builtin().into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["desktop", "gaming", "tablet"]);
    }

    #[test]
    fn names_are_found_without_regard_to_case() {
        let shells = builtin();
        assert_eq!(
            find(&shells, "Gaming").map(|s| s.name.as_str()),
            Some("gaming")
        );
        assert!(find(&shells, "kiosk").is_none());
    }

    #[test]
    fn unknown_parts_are_errors() {
        let err = parse(
            "x.toml",
            "[shell]\nname = \"x\"\nsummary = \"\"\nlayout = \"floating\"\nparts = [\"dock\"]\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown variant `dock`"), "{err}");
    }

    #[test]
    fn shortcuts_are_read_and_bad_ones_name_the_file() {
        let head = "[shell]\nname = \"x\"\nsummary = \"\"\nlayout = \"floating\"\n";
        let def = parse(
            "x.toml",
            &format!("{head}[shell.keys]\n\"Super+Q\" = \"close\"\n[shell.run]\n\"Super+Return\" = [\"foot\"]\n"),
        )
        .unwrap();
        let names: Vec<String> = def.shortcuts.iter().map(|s| s.combo.to_string()).collect();
        assert!(names.contains(&"Super+Q".to_string()), "{names:?}");
        assert!(names.contains(&"Super+Return".to_string()), "{names:?}");
        assert!(
            names.contains(&"Alt+F4".to_string()),
            "the defaults stay: {names:?}"
        );
        let err = parse(
            "x.toml",
            &format!("{head}[shell.keys]\n\"Hyper+Q\" = \"close\"\n"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("shell definition x.toml: [shell.keys]: `Hyper` in `Hyper+Q`"),
            "{err}"
        );
    }
}
