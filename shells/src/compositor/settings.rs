//! The shell's settings (`crate::settings`) on the running compositor: read at start, and
//! on `Command::Set` checked, applied (the keyboard layout through xkbcommon, which refuses a
//! layout it does not know) and only then saved, so the file never holds a setting the
//! shell could not use.

use smithay::input::keyboard::XkbConfig;

use super::State;
use crate::settings::{Settings, SettingsError};

impl State {
    /// Applies `settings` to the compositor; the keyboard layout is the one part that can
    /// fail (an unknown layout), before anything else changes.
    pub(super) fn apply_settings(&mut self, settings: &Settings) -> Result<(), String> {
        let layout = settings.keyboard_layout.clone().unwrap_or_default();
        if layout != self.settings.keyboard_layout.clone().unwrap_or_default()
            && let Some(keyboard) = self.seat.get_keyboard()
        {
            keyboard
                .set_xkb_config(
                    self,
                    XkbConfig {
                        layout: &layout,
                        ..XkbConfig::default()
                    },
                )
                .map_err(|_| {
                    format!(
                        "keyboard-layout = `{layout}`: XKB has no such layout (see /usr/share/X11/xkb/rules/evdev.lst)"
                    )
                })?;
        }
        self.background = settings
            .wallpaper_color()
            .unwrap_or(super::colors::BACKGROUND);
        // A timeout set back to `default` is the one the shell was started with.
        let seconds = |s: u64| (s > 0).then(|| std::time::Duration::from_secs(s));
        let (lock_given, blank_given) = self.timeouts_given;
        self.lock_after = settings.lock_after.map_or(lock_given, seconds);
        self.blank_after = settings.blank_after.map_or(blank_given, seconds);
        self.settings = settings.clone();
        self.dirty = true;
        Ok(())
    }

    /// `Set(key, value)`: checked, applied, then saved (when the shell has a settings file).
    pub(super) fn set_setting(&mut self, key: &str, value: &str) -> Result<(), String> {
        let next = self
            .settings
            .with(key, value)
            .map_err(|e: SettingsError| e.to_string())?;
        let before = self.settings.clone();
        self.apply_settings(&next)?;
        if let Some(path) = &self.settings_file
            && let Err(e) = next.save(path)
        {
            // Not kept: the running shell goes back to what the file still says.
            let _ = self.apply_settings(&before);
            return Err(e.to_string());
        }
        tracing::info!("setting {key} = {value}");
        Ok(())
    }
}
