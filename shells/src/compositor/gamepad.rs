//! Gamepads, read straight from evdev (`/dev/input/event*`, no libinput): buttons become
//! `InputEvent::Key` with their evdev codes (Guide is BTN_MODE), the d-pad hat becomes
//! BTN_DPAD_* presses. Devices are looked for at start and every two seconds after, so a
//! pad plugged in later works; an unplugged one is dropped. Devices are read, never
//! grabbed: other programs still see them.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use evdev::{AbsoluteAxisCode, Device, EventSummary, KeyCode};
use smithay::reexports::calloop::generic::Generic;
use smithay::reexports::calloop::timer::{TimeoutAction, Timer};
use smithay::reexports::calloop::{Interest, LoopHandle, Mode, PostAction};

use super::State;
use super::input::{BTN_DPAD_LEFT, BTN_DPAD_RIGHT, InputEvent};

const RESCAN: Duration = Duration::from_secs(2);

/// The d-pad as a hat axis: which direction is held, as the button it stands for.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Hat(Option<u32>);

/// One evdev event as input for the shell, if it is one.
pub fn translate(event: EventSummary, hat: &mut Hat) -> Option<InputEvent> {
    match event {
        // value 2 is autorepeat: the shell acts on presses and releases only.
        EventSummary::Key(_, code, value) if value == 0 || value == 1 => Some(InputEvent::Key {
            code: code.0 as u32,
            pressed: value == 1,
        }),
        EventSummary::AbsoluteAxis(_, AbsoluteAxisCode::ABS_HAT0X, value) => {
            let now = match value.signum() {
                -1 => Some(BTN_DPAD_LEFT),
                1 => Some(BTN_DPAD_RIGHT),
                _ => None,
            };
            let before = std::mem::replace(&mut hat.0, now);
            match (before, now) {
                (_, Some(code)) if before != now => Some(InputEvent::Key {
                    code,
                    pressed: true,
                }),
                (Some(code), None) => Some(InputEvent::Key {
                    code,
                    pressed: false,
                }),
                _ => None,
            }
        }
        _ => None,
    }
}

fn is_gamepad(device: &Device) -> bool {
    device
        .supported_keys()
        .is_some_and(|keys| keys.contains(KeyCode::BTN_SOUTH) || keys.contains(KeyCode::BTN_MODE))
}

/// Looks for gamepads now and every `RESCAN`, reading each one found into the loop.
pub(super) fn watch<'l>(handle: &LoopHandle<'l, State>) {
    let inner = handle.clone();
    let mut open: HashSet<PathBuf> = HashSet::new();
    let scan = move |open: &mut HashSet<PathBuf>| {
        for (path, device) in evdev::enumerate() {
            if open.contains(&path) || !is_gamepad(&device) {
                continue;
            }
            if let Err(e) = device.set_nonblocking(true) {
                tracing::warn!("gamepad {}: {e}", path.display());
                continue;
            }
            tracing::info!(
                "gamepad {} ({})",
                path.display(),
                device.name().unwrap_or("unnamed")
            );
            let mut hat = Hat::default();
            let source_path = path.clone();
            let added = inner.insert_source(
                Generic::new(device, Interest::READ, Mode::Level),
                move |_, device, state: &mut State| {
                    // SAFETY: the device is only read here, never replaced or closed.
                    let events: Vec<EventSummary> = match unsafe { device.get_mut() }.fetch_events()
                    {
                        Ok(events) => events.map(|e| e.destructure()).collect(),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            return Ok(PostAction::Continue);
                        }
                        Err(e) => {
                            tracing::info!("gamepad {} gone: {e}", source_path.display());
                            state.gamepads_lost.push(source_path.clone());
                            return Ok(PostAction::Remove);
                        }
                    };
                    for event in events {
                        if let Some(input) = translate(event, &mut hat) {
                            state.input(input);
                        }
                    }
                    Ok(PostAction::Continue)
                },
            );
            match added {
                Ok(_) => {
                    open.insert(path);
                }
                Err(e) => tracing::warn!("gamepad {}: {}", path.display(), e.error),
            }
        }
    };
    scan(&mut open);
    let _ = handle.insert_source(Timer::from_duration(RESCAN), move |_, _, state| {
        for lost in state.gamepads_lost.drain(..) {
            open.remove(&lost);
        }
        scan(&mut open);
        TimeoutAction::ToDuration(RESCAN)
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use evdev::{EventType, InputEvent as Raw};

    fn key(code: KeyCode, value: i32) -> EventSummary {
        Raw::new(EventType::KEY.0, code.0, value).destructure()
    }

    fn hat_x(value: i32) -> EventSummary {
        Raw::new(EventType::ABSOLUTE.0, AbsoluteAxisCode::ABS_HAT0X.0, value).destructure()
    }

    #[test]
    fn buttons_are_keys_and_repeats_are_dropped() {
        let mut hat = Hat::default();
        assert_eq!(
            translate(key(KeyCode::BTN_MODE, 1), &mut hat),
            Some(InputEvent::Key {
                code: 0x13c,
                pressed: true
            })
        );
        assert_eq!(translate(key(KeyCode::BTN_MODE, 2), &mut hat), None);
        assert_eq!(
            translate(key(KeyCode::BTN_MODE, 0), &mut hat),
            Some(InputEvent::Key {
                code: 0x13c,
                pressed: false
            })
        );
    }

    #[test]
    fn the_hat_presses_and_releases_dpad_buttons() {
        let mut hat = Hat::default();
        let press = |code| {
            Some(InputEvent::Key {
                code,
                pressed: true,
            })
        };
        let release = |code| {
            Some(InputEvent::Key {
                code,
                pressed: false,
            })
        };
        assert_eq!(translate(hat_x(1), &mut hat), press(BTN_DPAD_RIGHT));
        assert_eq!(translate(hat_x(1), &mut hat), None, "still held");
        assert_eq!(translate(hat_x(0), &mut hat), release(BTN_DPAD_RIGHT));
        assert_eq!(translate(hat_x(-1), &mut hat), press(BTN_DPAD_LEFT));
        assert_eq!(translate(hat_x(0), &mut hat), release(BTN_DPAD_LEFT));
        assert_eq!(translate(hat_x(0), &mut hat), None);
    }
}
