//! Shell settings that last: the wallpaper colour, the keyboard layout and the lock and
//! blank timeouts, set over D-Bus, a VM's control port or `compose shell set KEY VALUE`,
//! kept in a TOML file (a device keeps it under /var, which updates leave alone) and applied
//! at start and on every change; swaps do not touch them.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where `compose-shell` keeps its settings on a device.
pub const DEVICE_FILE: &str = "/var/lib/compose/shell.toml";

/// The keys `set` takes, each with what it wants.
pub const KEYS: &[(&str, &str)] = &[
    ("wallpaper", "a colour, #rrggbb"),
    (
        "keyboard-layout",
        "an XKB layout name, such as us, de or fr",
    ),
    (
        "lock-after",
        "seconds without input before the screen locks, 0 for never",
    ),
    (
        "blank-after",
        "seconds without input before the screen goes black, 0 for never",
    ),
];

/// The settings; a key never set is `None` and the shell's default applies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Settings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wallpaper: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyboard_layout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock_after: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blank_after: Option<u64>,
}

/// A setting that could not be taken or kept.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("unknown setting `{key}`; the shell has {}", KEYS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", "))]
    UnknownKey { key: String },
    #[error("{key} = `{value}`: expected {wants}")]
    BadValue {
        key: String,
        value: String,
        wants: &'static str,
    },
    #[error("cannot read {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("cannot write {path}: {message} (the settings stay as they were)")]
    Write { path: PathBuf, message: String },
}

impl Settings {
    /// The settings in `path`; none when the file does not exist yet.
    pub fn load(path: &Path) -> Result<Settings, SettingsError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Settings::default()),
            Err(e) => {
                return Err(SettingsError::Read {
                    path: path.into(),
                    message: e.to_string(),
                });
            }
        };
        toml::from_str(&text).map_err(|e| SettingsError::Read {
            path: path.into(),
            message: e.to_string(),
        })
    }

    /// Writes the settings next to `path` and renames them over it, so a crash leaves the
    /// old file or the new one, never half of one.
    pub fn save(&self, path: &Path) -> Result<(), SettingsError> {
        let write = || -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let tmp = path.with_extension("toml.tmp");
            let text = toml::to_string(self).map_err(std::io::Error::other)?;
            std::fs::write(&tmp, text)?;
            std::fs::rename(&tmp, path)
        };
        write().map_err(|e| SettingsError::Write {
            path: path.into(),
            message: e.to_string(),
        })
    }

    /// These settings with `key` set to `value` (`default` sets it back), checked.
    pub fn with(&self, key: &str, value: &str) -> Result<Settings, SettingsError> {
        let wants = KEYS
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, w)| *w)
            .ok_or_else(|| SettingsError::UnknownKey { key: key.into() })?;
        let bad = || SettingsError::BadValue {
            key: key.into(),
            value: value.chars().take(80).collect(),
            wants,
        };
        let reset = value == "default";
        let seconds = || -> Result<Option<u64>, SettingsError> {
            if reset {
                return Ok(None);
            }
            value.parse::<u64>().map(Some).map_err(|_| bad())
        };
        let mut next = self.clone();
        match key {
            "wallpaper" => {
                next.wallpaper = if reset {
                    None
                } else {
                    parse_color(value).ok_or_else(bad)?;
                    Some(value.to_ascii_lowercase())
                }
            }
            "keyboard-layout" => {
                let valid = !value.is_empty()
                    && value.len() <= 64
                    && value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_-,()".contains(c));
                next.keyboard_layout = if reset {
                    None
                } else if valid {
                    Some(value.to_string())
                } else {
                    return Err(bad());
                }
            }
            "lock-after" => next.lock_after = seconds()?,
            "blank-after" => next.blank_after = seconds()?,
            _ => unreachable!("every key of KEYS is matched"),
        }
        Ok(next)
    }

    /// Every key with its value (`default` where unset), for `Settings()` on the bus.
    pub fn list(&self) -> Vec<(String, String)> {
        let show = |v: Option<String>| v.unwrap_or_else(|| "default".into());
        vec![
            ("wallpaper".into(), show(self.wallpaper.clone())),
            ("keyboard-layout".into(), show(self.keyboard_layout.clone())),
            (
                "lock-after".into(),
                show(self.lock_after.map(|s| s.to_string())),
            ),
            (
                "blank-after".into(),
                show(self.blank_after.map(|s| s.to_string())),
            ),
        ]
    }

    /// The wallpaper as a premultiplied colour, when one is set.
    pub fn wallpaper_color(&self) -> Option<[f32; 4]> {
        self.wallpaper.as_deref().and_then(parse_color)
    }
}

/// `#rrggbb` as an opaque colour.
fn parse_color(text: &str) -> Option<[f32; 4]> {
    let hex = text.strip_prefix('#')?;
    if hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let channel = |i: usize| {
        u8::from_str_radix(&hex[i..i + 2], 16)
            .ok()
            .map(|v| v as f32 / 255.0)
    };
    Some([channel(0)?, channel(2)?, channel(4)?, 1.0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_saved_whole_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("var/lib/compose/shell.toml");
        assert_eq!(Settings::load(&path).unwrap(), Settings::default());
        let s = Settings::default()
            .with("wallpaper", "#336699")
            .unwrap()
            .with("lock-after", "300")
            .unwrap()
            .with("keyboard-layout", "de")
            .unwrap();
        assert_eq!(s.wallpaper_color().unwrap()[0], 0x33 as f32 / 255.0);
        s.save(&path).unwrap();
        assert_eq!(Settings::load(&path).unwrap(), s);
        let back = s.with("lock-after", "default").unwrap();
        assert_eq!(back.lock_after, None);
        for (key, value, says) in [
            ("wallpaper", "blue", "#rrggbb"),
            ("wallpaper", "#12345g", "#rrggbb"),
            ("lock-after", "-1", "seconds"),
            ("keyboard-layout", "us; rm -rf /", "XKB layout"),
            ("volume", "11", "unknown setting `volume`"),
        ] {
            let e = s.with(key, value).unwrap_err().to_string();
            assert!(e.contains(says), "{key}={value}: {e}");
        }
        std::fs::write(&path, "wallpaper = 3\n").unwrap();
        let e = Settings::load(&path).unwrap_err().to_string();
        assert!(e.contains("shell.toml"), "{e}");
    }
}
