//! Keyboard shortcuts of a shell: a key with modifiers (`Super+L`) bound to a shell action
//! or to a command to start. Each layout has defaults; a shell definition changes them in
//! `[shell.keys]` (`"Super+L" = "lock"`, `"Super+G" = "none"`) and `[shell.run]`
//! (`"Super+Return" = ["foot"]`). Key names are xkb keysym names (`a`, `Return`, `Up`,
//! `F4`), written as on the key without Shift; the compositor resolves them.

use std::collections::BTreeMap;
use std::fmt;

use crate::definition::Layout;

/// Modifiers held with a shortcut's key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mods {
    pub logo: bool,
    pub ctrl: bool,
    pub alt: bool,
    pub shift: bool,
}

impl Mods {
    /// Whether every modifier of `other` is one of these.
    pub fn includes(self, other: Mods) -> bool {
        (!other.logo || self.logo)
            && (!other.ctrl || self.ctrl)
            && (!other.alt || self.alt)
            && (!other.shift || self.shift)
    }
}

/// A key with modifiers, as `Super+Shift+G` names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Combo {
    pub mods: Mods,
    /// An xkb keysym name (`l`, `Tab`, `Up`, `F4`); letters in lower case.
    pub key: String,
}

impl Combo {
    /// Parses `Mod+Mod+Key`: modifiers `Super` (or `Logo`, `Mod4`), `Ctrl` (`Control`),
    /// `Alt` (`Mod1`), `Shift`, in any order and any case; then one key.
    pub fn parse(text: &str) -> Result<Combo, String> {
        let parts: Vec<&str> = text.split('+').map(str::trim).collect();
        let (key, mods_text) = parts.split_last().expect("split yields one part");
        let mut mods = Mods::default();
        for m in mods_text {
            let flag = match m.to_ascii_lowercase().as_str() {
                "super" | "logo" | "mod4" | "win" => &mut mods.logo,
                "ctrl" | "control" => &mut mods.ctrl,
                "alt" | "mod1" => &mut mods.alt,
                "shift" => &mut mods.shift,
                "" => return Err(format!("`{text}` has an empty part; write it as `Super+L`")),
                _ => {
                    return Err(format!(
                        "`{m}` in `{text}` is not a modifier; modifiers: Super, Ctrl, Alt, Shift"
                    ));
                }
            };
            if *flag {
                return Err(format!("`{text}` names a modifier twice"));
            }
            *flag = true;
        }
        if key.is_empty() {
            return Err(format!("`{text}` names no key; write it as `Super+L`"));
        }
        if let Some(m) = ["super", "ctrl", "control", "alt", "shift", "logo"]
            .iter()
            .find(|m| key.eq_ignore_ascii_case(m))
        {
            return Err(format!(
                "`{text}` ends with the modifier `{m}`; a shortcut ends with a key, as in `Super+L`"
            ));
        }
        if key.chars().any(|c| c.is_whitespace()) {
            return Err(format!("the key `{key}` in `{text}` has a space in it"));
        }
        // One letter is the key's lower-case symbol (Shift is a modifier of its own).
        let key = if key.chars().count() == 1 {
            key.to_lowercase()
        } else {
            key.to_string()
        };
        Ok(Combo { mods, key })
    }
}

impl fmt::Display for Combo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (on, name) in [
            (self.mods.logo, "Super"),
            (self.mods.ctrl, "Ctrl"),
            (self.mods.alt, "Alt"),
            (self.mods.shift, "Shift"),
        ] {
            if on {
                write!(f, "{name}+")?;
            }
        }
        if self.key.chars().count() == 1 {
            write!(f, "{}", self.key.to_uppercase())
        } else {
            write!(f, "{}", self.key)
        }
    }
}

/// What the shell does for a shortcut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// The next window gets the focus (on the desktop through the switcher, while the
    /// shortcut's modifiers are held).
    NextWindow,
    PreviousWindow,
    /// Asks the focused window to close.
    Close,
    /// Maximizes the focused window, or restores it.
    Maximize,
    Minimize,
    SnapLeft,
    SnapRight,
    /// Locks the session.
    Lock,
    /// Shows or hides the overlay bar (gaming).
    ToggleOverlay,
    /// Swaps to the game-mode shell and back.
    GameMode,
}

impl Action {
    pub const ALL: [Action; 10] = [
        Action::NextWindow,
        Action::PreviousWindow,
        Action::Close,
        Action::Maximize,
        Action::Minimize,
        Action::SnapLeft,
        Action::SnapRight,
        Action::Lock,
        Action::ToggleOverlay,
        Action::GameMode,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Action::NextWindow => "next-window",
            Action::PreviousWindow => "previous-window",
            Action::Close => "close",
            Action::Maximize => "maximize",
            Action::Minimize => "minimize",
            Action::SnapLeft => "snap-left",
            Action::SnapRight => "snap-right",
            Action::Lock => "lock",
            Action::ToggleOverlay => "toggle-overlay",
            Action::GameMode => "game-mode",
        }
    }

    pub fn parse(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// What a shortcut does: an action of the shell, or a command it starts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Does {
    Action(Action),
    /// A program and its arguments, started with the shell's Wayland display.
    Run(Vec<String>),
}

impl fmt::Display for Does {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Does::Action(a) => f.write_str(a.name()),
            Does::Run(argv) => write!(f, "run {}", argv.join(" ")),
        }
    }
}

/// One shortcut.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Shortcut {
    pub combo: Combo,
    pub does: Does,
}

/// The shortcuts every shell of `layout` has unless its definition changes them.
pub fn defaults(layout: Layout) -> Vec<Shortcut> {
    let mut keys = vec![
        ("Alt+Tab", Action::NextWindow),
        ("Alt+Shift+Tab", Action::PreviousWindow),
        ("Alt+F4", Action::Close),
        ("Super+L", Action::Lock),
        ("Super+G", Action::ToggleOverlay),
        ("Super+Shift+G", Action::GameMode),
    ];
    if layout == Layout::Floating {
        keys.extend([
            ("Super+Up", Action::Maximize),
            ("Super+Down", Action::Minimize),
            ("Super+Left", Action::SnapLeft),
            ("Super+Right", Action::SnapRight),
        ]);
    }
    keys.into_iter()
        .map(|(combo, action)| Shortcut {
            combo: Combo::parse(combo).expect("default shortcuts parse"),
            does: Does::Action(action),
        })
        .collect()
}

/// The shortcuts of a shell of `layout` whose definition has `keys` (`[shell.keys]`:
/// shortcut to action name, or `none` to drop a default) and `run` (`[shell.run]`:
/// shortcut to a command). A shortcut named in both is an error, as is one written twice
/// in different ways (`Super+L` and `Logo+l`).
pub fn resolve(
    layout: Layout,
    keys: &BTreeMap<String, String>,
    run: &BTreeMap<String, Vec<String>>,
) -> Result<Vec<Shortcut>, String> {
    let mut shortcuts = defaults(layout);
    let mut written: BTreeMap<Combo, &str> = BTreeMap::new();
    for (text, action) in keys {
        let combo = Combo::parse(text).map_err(|e| format!("[shell.keys]: {e}"))?;
        if let Some(first) = written.insert(combo.clone(), text) {
            return Err(format!(
                "[shell.keys]: `{first}` and `{text}` are the same shortcut; keep one"
            ));
        }
        shortcuts.retain(|s| s.combo != combo);
        if action == "none" {
            continue;
        }
        let action = Action::parse(action).ok_or_else(|| {
            format!(
                "[shell.keys]: `{action}` (for `{text}`) is not an action; actions: {}, or none to drop a default",
                Action::ALL.map(Action::name).join(", ")
            )
        })?;
        shortcuts.push(Shortcut {
            combo,
            does: Does::Action(action),
        });
    }
    for (text, argv) in run {
        let combo = Combo::parse(text).map_err(|e| format!("[shell.run]: {e}"))?;
        if let Some(first) = written.insert(combo.clone(), text) {
            return Err(format!(
                "`{first}` and `{text}` are the same shortcut, in [shell.keys] and [shell.run] or twice; keep one"
            ));
        }
        if argv.first().is_none_or(|p| p.trim().is_empty()) {
            return Err(format!(
                "[shell.run]: `{text}` starts nothing; give a program and its arguments, as in [\"foot\"]"
            ));
        }
        shortcuts.retain(|s| s.combo != combo);
        shortcuts.push(Shortcut {
            combo,
            does: Does::Run(argv.clone()),
        });
    }
    shortcuts.sort_by(|a, b| a.combo.cmp(&b.combo));
    Ok(shortcuts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combos_parse_in_any_order_and_case_and_print_one_way() {
        let c = Combo::parse("shift+SUPER+g").unwrap();
        assert_eq!(
            c,
            Combo {
                mods: Mods {
                    logo: true,
                    shift: true,
                    ..Mods::default()
                },
                key: "g".into()
            }
        );
        assert_eq!(c.to_string(), "Super+Shift+G");
        assert_eq!(
            Combo::parse("Ctrl+Alt+Delete").unwrap().to_string(),
            "Ctrl+Alt+Delete"
        );
        assert_eq!(Combo::parse("F12").unwrap().mods, Mods::default());
    }

    #[test]
    fn bad_combos_say_what_is_wrong() {
        for (text, says) in [
            ("Hyper+L", "`Hyper` in `Hyper+L` is not a modifier"),
            ("Super+", "names no key"),
            ("Super++L", "empty part"),
            ("Alt+Alt+Tab", "names a modifier twice"),
            ("Ctrl+Shift", "ends with the modifier"),
            ("Super+Page Up", "has a space"),
        ] {
            let err = Combo::parse(text).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn definitions_change_the_defaults() {
        let keys = BTreeMap::from([
            ("Super+G".to_string(), "none".to_string()),
            ("Super+Q".to_string(), "close".to_string()),
            ("Super+Up".to_string(), "lock".to_string()),
        ]);
        let run = BTreeMap::from([("Super+Return".to_string(), vec!["foot".to_string()])]);
        let s = resolve(Layout::Floating, &keys, &run).unwrap();
        let find = |t: &str| {
            let c = Combo::parse(t).unwrap();
            s.iter().find(|s| s.combo == c).map(|s| s.does.clone())
        };
        assert_eq!(find("Super+G"), None);
        assert_eq!(find("Super+Q"), Some(Does::Action(Action::Close)));
        assert_eq!(find("Super+Up"), Some(Does::Action(Action::Lock)));
        assert_eq!(find("Super+Return"), Some(Does::Run(vec!["foot".into()])));
        assert_eq!(find("Alt+F4"), Some(Does::Action(Action::Close)));
        // Arrows move windows only where windows float.
        let gaming = resolve(
            Layout::FocusedFullscreen,
            &BTreeMap::new(),
            &BTreeMap::new(),
        )
        .unwrap();
        assert!(!gaming.iter().any(|s| s.combo.key == "Up"));
    }

    #[test]
    fn bad_definitions_say_what_is_wrong() {
        let one = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        let none = BTreeMap::new();
        let no_run = BTreeMap::new();
        let err = resolve(Layout::Floating, &one("Super+L", "lock-screen"), &no_run).unwrap_err();
        assert!(
            err.contains("`lock-screen` (for `Super+L`) is not an action; actions: next-window"),
            "{err}"
        );
        let keys = BTreeMap::from([
            ("Super+L".to_string(), "lock".to_string()),
            ("logo+l".to_string(), "close".to_string()),
        ]);
        let err = resolve(Layout::Floating, &keys, &no_run).unwrap_err();
        assert!(err.contains("are the same shortcut"), "{err}");
        let run = BTreeMap::from([("Super+L".to_string(), vec![])]);
        let err = resolve(Layout::Floating, &none, &run).unwrap_err();
        assert!(err.contains("starts nothing"), "{err}");
        let run = BTreeMap::from([("Super+L".to_string(), vec!["foot".to_string()])]);
        let err = resolve(Layout::Floating, &one("super+l", "lock"), &run).unwrap_err();
        assert!(err.contains("are the same shortcut"), "{err}");
    }
}
