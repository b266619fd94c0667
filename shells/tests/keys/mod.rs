//! Key presses as the compositor's input events (evdev codes), for the tests that drive a
//! shell's keyboard.

#![allow(dead_code)]

use compose_shells::compositor::InputEvent;

/// `key` pressed and released while `mods` are held: the modifiers go down in order, the key
/// down and up, then the modifiers up, last first.
pub fn chord(mods: &[u32], key: u32) -> Vec<InputEvent> {
    let press = |code: u32, pressed: bool| InputEvent::Key { code, pressed };
    let mut events: Vec<InputEvent> = mods.iter().map(|&m| press(m, true)).collect();
    events.push(press(key, true));
    events.push(press(key, false));
    events.extend(mods.iter().rev().map(|&m| press(m, false)));
    events
}
