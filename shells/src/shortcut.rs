//! Keyboard shortcuts against xkb: a definition's key names checked as keysym names, and the
//! shortcut a key press makes (its Latin keysym, so `Super+L` works in any layout, and
//! exactly its modifiers).

use smithay::input::keyboard::{KeysymHandle, ModifiersState, xkb};

use crate::definition::{DefinitionError, ShellDef};
use crate::shortcuts::{Combo, Shortcut};

/// The keysym `combo`'s key names (`Up`, `up`, `F4`, `l`), if any.
fn named_keysym(combo: &Combo) -> Option<xkb::Keysym> {
    let sym = xkb::keysym_from_name(&combo.key, xkb::KEYSYM_CASE_INSENSITIVE);
    (sym.raw() != xkb::keysyms::KEY_NoSymbol).then_some(sym)
}

/// Every shortcut of `def` names a key xkb knows.
pub fn check(def: &ShellDef) -> Result<(), DefinitionError> {
    match def
        .shortcuts
        .iter()
        .find(|s| named_keysym(&s.combo).is_none())
    {
        None => Ok(()),
        Some(bad) => Err(DefinitionError {
            name: def.name.clone(),
            message: format!(
                "shortcut `{}`: `{}` is not a key name; use xkb keysym names such as a, 1, Return, Tab, Escape, space, Up, Page_Down, F4, Print",
                bad.combo, bad.combo.key
            ),
        }),
    }
}

/// The shortcut among `shortcuts` that pressing `keysym` with `modifiers` makes.
pub fn find(
    shortcuts: &[Shortcut],
    modifiers: &ModifiersState,
    keysym: &KeysymHandle<'_>,
) -> Option<Shortcut> {
    let pressed = keysym.raw_latin_sym_or_raw_current_sym()?;
    shortcuts
        .iter()
        .find(|s| {
            let m = s.combo.mods;
            (m.logo, m.ctrl, m.alt, m.shift)
                == (
                    modifiers.logo,
                    modifiers.ctrl,
                    modifiers.alt,
                    modifiers.shift,
                )
                && named_keysym(&s.combo) == Some(pressed)
        })
        .cloned()
}
