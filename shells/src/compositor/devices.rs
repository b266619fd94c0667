//! Input devices read straight from evdev (`/dev/input/event*`, no libinput, so no udev
//! database is needed). Gamepads are read by every backend: buttons become
//! `InputEvent::Key` with their evdev codes (Guide is BTN_MODE), the d-pad hat becomes
//! BTN_DPAD_* presses. On a device's own screen (the KMS backend) keyboards, pointers
//! (absolute tablets such as QEMU's virtio tablet, relative mice) and touch screens are read
//! too. Devices are looked for at start and every two seconds after, so one plugged in
//! later works; an unplugged one is dropped. Devices are read, never grabbed.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use evdev::{
    AbsoluteAxisCode, Device, EventSummary, KeyCode, PropType, RelativeAxisCode,
    SynchronizationCode,
};
use smithay::reexports::calloop::generic::Generic;
use smithay::reexports::calloop::timer::{TimeoutAction, Timer};
use smithay::reexports::calloop::{Interest, LoopHandle, Mode, PostAction};

use super::State;
use super::input::{BTN_DPAD_LEFT, BTN_DPAD_RIGHT, InputEvent};

const RESCAN: Duration = Duration::from_secs(2);

/// Which devices a backend reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Devices {
    /// Gamepads only: the host's keyboard and mouse reach a nested shell through its window.
    Gamepads,
    /// Everything: the shell owns the device's input.
    All,
}

/// The d-pad as a hat axis: which direction is held, as the button it stands for.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Hat(Option<u32>);

/// One evdev event of a gamepad as input for the shell, if it is one.
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

/// What kind of device an event node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Gamepad,
    Keyboard,
    /// Absolute pointer (tablet) with the ranges of its X and Y axes.
    Tablet,
    /// Relative pointer (mouse, touchpad in relative mode).
    Mouse,
    /// Direct touch (a touch screen), multitouch slots.
    Touch,
}

fn kind(device: &Device) -> Option<Kind> {
    let keys = device.supported_keys();
    let has_key = |k: KeyCode| keys.is_some_and(|keys| keys.contains(k));
    let abs = device.supported_absolute_axes();
    let has_abs = |a: AbsoluteAxisCode| abs.is_some_and(|abs| abs.contains(a));
    let rel = device.supported_relative_axes();
    if has_key(KeyCode::BTN_SOUTH) || has_key(KeyCode::BTN_MODE) {
        Some(Kind::Gamepad)
    } else if device.properties().contains(PropType::DIRECT)
        && has_abs(AbsoluteAxisCode::ABS_MT_POSITION_X)
    {
        Some(Kind::Touch)
    } else if has_abs(AbsoluteAxisCode::ABS_X) && has_key(KeyCode::BTN_LEFT) {
        Some(Kind::Tablet)
    } else if rel.is_some_and(|r| r.contains(RelativeAxisCode::REL_X)) && has_key(KeyCode::BTN_LEFT)
    {
        Some(Kind::Mouse)
    } else if has_key(KeyCode::KEY_A) && has_key(KeyCode::KEY_ENTER) {
        Some(Kind::Keyboard)
    } else {
        None
    }
}

/// An axis range, for mapping absolute positions onto the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub min: i32,
    pub max: i32,
}

impl Range {
    /// `value` as a position along `length` pixels.
    pub fn scale(self, value: i32, length: u32) -> f64 {
        let span = (self.max - self.min).max(1) as f64;
        ((value - self.min) as f64 / span * length as f64).clamp(0.0, length as f64 - 1.0)
    }
}

/// Turns one device's events into shell input, one SYN_REPORT frame at a time.
#[derive(Debug)]
pub struct Reader {
    kind: Kind,
    hat: Hat,
    x: Range,
    y: Range,
    /// Absolute position seen in this frame (device units).
    abs: (Option<i32>, Option<i32>),
    /// Relative motion summed in this frame.
    rel: (i32, i32),
    /// Multitouch: the current slot, and per slot its tracking (down) and position.
    slot: usize,
    slots: Vec<TouchSlot>,
}

#[derive(Debug, Clone, Copy, Default)]
struct TouchSlot {
    down: bool,
    was_down: bool,
    moved: bool,
    x: i32,
    y: i32,
}

impl Reader {
    fn new(kind: Kind, device: &Device) -> Self {
        let mut x = Range { min: 0, max: 32767 };
        let mut y = x;
        if let Ok(axes) = device.get_absinfo() {
            for (axis, info) in axes {
                let range = Range {
                    min: info.minimum(),
                    max: info.maximum(),
                };
                match (kind, axis) {
                    (Kind::Tablet, AbsoluteAxisCode::ABS_X)
                    | (Kind::Touch, AbsoluteAxisCode::ABS_MT_POSITION_X) => x = range,
                    (Kind::Tablet, AbsoluteAxisCode::ABS_Y)
                    | (Kind::Touch, AbsoluteAxisCode::ABS_MT_POSITION_Y) => y = range,
                    _ => {}
                }
            }
        }
        Self::with_ranges(kind, x, y)
    }

    fn with_ranges(kind: Kind, x: Range, y: Range) -> Self {
        Self {
            kind,
            hat: Hat::default(),
            x,
            y,
            abs: (None, None),
            rel: (0, 0),
            slot: 0,
            slots: vec![TouchSlot::default(); 10],
        }
    }

    /// Shell input for `event`; `output` is the output's size and `pointer` where the
    /// pointer is now (relative motion moves it from there).
    pub fn read(
        &mut self,
        event: EventSummary,
        output: (u32, u32),
        pointer: (f64, f64),
    ) -> Vec<InputEvent> {
        if self.kind == Kind::Gamepad {
            return translate(event, &mut self.hat).into_iter().collect();
        }
        match event {
            EventSummary::Key(_, code, value) if value == 0 || value == 1 => {
                let pressed = value == 1;
                let code = code.0 as u32;
                match self.kind {
                    Kind::Keyboard if code < 0x100 => vec![InputEvent::Key { code, pressed }],
                    Kind::Tablet | Kind::Mouse if (0x110..0x118).contains(&code) => {
                        vec![InputEvent::PointerButton {
                            button: code,
                            pressed,
                        }]
                    }
                    _ => Vec::new(),
                }
            }
            EventSummary::AbsoluteAxis(_, axis, value) => {
                match (self.kind, axis) {
                    (Kind::Tablet, AbsoluteAxisCode::ABS_X) => self.abs.0 = Some(value),
                    (Kind::Tablet, AbsoluteAxisCode::ABS_Y) => self.abs.1 = Some(value),
                    (Kind::Touch, AbsoluteAxisCode::ABS_MT_SLOT) => {
                        self.slot = (value.max(0) as usize).min(self.slots.len() - 1)
                    }
                    (Kind::Touch, AbsoluteAxisCode::ABS_MT_TRACKING_ID) => {
                        self.slots[self.slot].down = value >= 0
                    }
                    (Kind::Touch, AbsoluteAxisCode::ABS_MT_POSITION_X) => {
                        self.slots[self.slot].x = value;
                        self.slots[self.slot].moved = true;
                    }
                    (Kind::Touch, AbsoluteAxisCode::ABS_MT_POSITION_Y) => {
                        self.slots[self.slot].y = value;
                        self.slots[self.slot].moved = true;
                    }
                    _ => {}
                }
                Vec::new()
            }
            EventSummary::RelativeAxis(_, axis, value) => {
                match axis {
                    RelativeAxisCode::REL_X => self.rel.0 += value,
                    RelativeAxisCode::REL_Y => self.rel.1 += value,
                    _ => {}
                }
                Vec::new()
            }
            EventSummary::Synchronization(_, SynchronizationCode::SYN_REPORT, _) => {
                self.frame(output, pointer)
            }
            _ => Vec::new(),
        }
    }

    /// The end of a frame: the motion and touches it carried.
    fn frame(&mut self, output: (u32, u32), pointer: (f64, f64)) -> Vec<InputEvent> {
        let mut out = Vec::new();
        match self.kind {
            Kind::Tablet => {
                if let (None, None) = self.abs {
                } else {
                    let x = self.abs.0.map_or(pointer.0, |v| self.x.scale(v, output.0));
                    let y = self.abs.1.map_or(pointer.1, |v| self.y.scale(v, output.1));
                    out.push(InputEvent::PointerMotion { x, y });
                }
                self.abs = (None, None);
            }
            Kind::Mouse => {
                if self.rel != (0, 0) {
                    let x = (pointer.0 + self.rel.0 as f64).clamp(0.0, output.0 as f64 - 1.0);
                    let y = (pointer.1 + self.rel.1 as f64).clamp(0.0, output.1 as f64 - 1.0);
                    out.push(InputEvent::PointerMotion { x, y });
                }
                self.rel = (0, 0);
            }
            Kind::Touch => {
                for (i, s) in self.slots.iter_mut().enumerate() {
                    let slot = i as i32;
                    let x = self.x.scale(s.x, output.0);
                    let y = self.y.scale(s.y, output.1);
                    match (s.was_down, s.down) {
                        (false, true) => out.push(InputEvent::TouchDown { slot, x, y }),
                        (true, true) if s.moved => out.push(InputEvent::TouchMotion { slot, x, y }),
                        (true, false) => out.push(InputEvent::TouchUp { slot }),
                        _ => {}
                    }
                    s.was_down = s.down;
                    s.moved = false;
                }
            }
            Kind::Keyboard | Kind::Gamepad => {}
        }
        out
    }
}

/// Looks for input devices now and every `RESCAN`, reading each one found into the loop.
pub(super) fn watch<'l>(handle: &LoopHandle<'l, State>, which: Devices) {
    let inner = handle.clone();
    let mut open: HashSet<PathBuf> = HashSet::new();
    let scan = move |open: &mut HashSet<PathBuf>| {
        for (path, device) in evdev::enumerate() {
            if open.contains(&path) {
                continue;
            }
            let Some(kind) = kind(&device) else {
                continue;
            };
            if kind != Kind::Gamepad && which == Devices::Gamepads {
                continue;
            }
            if let Err(e) = device.set_nonblocking(true) {
                tracing::warn!("input device {}: {e}", path.display());
                continue;
            }
            tracing::info!(
                "input: {kind:?} {} ({})",
                path.display(),
                device.name().unwrap_or("unnamed")
            );
            let mut reader = Reader::new(kind, &device);
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
                            tracing::info!("input device {} gone: {e}", source_path.display());
                            state.devices_lost.push(source_path.clone());
                            return Ok(PostAction::Remove);
                        }
                    };
                    for event in events {
                        let pointer = state.pointer_position();
                        for input in reader.read(event, state.size, pointer) {
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
                Err(e) => tracing::warn!("input device {}: {}", path.display(), e.error),
            }
        }
    };
    scan(&mut open);
    let _ = handle.insert_source(Timer::from_duration(RESCAN), move |_, _, state| {
        for lost in state.devices_lost.drain(..) {
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

    fn abs(axis: AbsoluteAxisCode, value: i32) -> EventSummary {
        Raw::new(EventType::ABSOLUTE.0, axis.0, value).destructure()
    }

    fn syn() -> EventSummary {
        Raw::new(
            EventType::SYNCHRONIZATION.0,
            SynchronizationCode::SYN_REPORT.0,
            0,
        )
        .destructure()
    }

    #[test]
    fn a_tablet_moves_the_pointer_across_the_output_and_clicks() {
        let full = Range { min: 0, max: 1024 };
        let mut r = Reader::with_ranges(Kind::Tablet, full, full);
        assert!(
            r.read(abs(AbsoluteAxisCode::ABS_X, 512), (1024, 768), (0.0, 0.0))
                .is_empty()
        );
        assert!(
            r.read(abs(AbsoluteAxisCode::ABS_Y, 1024), (1024, 768), (0.0, 0.0))
                .is_empty()
        );
        assert_eq!(
            r.read(syn(), (1024, 768), (0.0, 0.0)),
            [InputEvent::PointerMotion { x: 512.0, y: 767.0 }]
        );
        assert_eq!(
            r.read(key(KeyCode::BTN_LEFT, 1), (1024, 768), (0.0, 0.0)),
            [InputEvent::PointerButton {
                button: 0x110,
                pressed: true
            }]
        );
        assert!(
            r.read(syn(), (1024, 768), (0.0, 0.0)).is_empty(),
            "no motion, no event"
        );
    }

    #[test]
    fn keyboards_send_keys_and_drop_repeats() {
        let r = &mut Reader::with_ranges(
            Kind::Keyboard,
            Range { min: 0, max: 1 },
            Range { min: 0, max: 1 },
        );
        assert_eq!(
            r.read(key(KeyCode::KEY_A, 1), (10, 10), (0.0, 0.0)),
            [InputEvent::Key {
                code: 30,
                pressed: true
            }]
        );
        assert!(
            r.read(key(KeyCode::KEY_A, 2), (10, 10), (0.0, 0.0))
                .is_empty()
        );
    }

    #[test]
    fn touch_slots_go_down_move_and_up() {
        let range = Range { min: 0, max: 1000 };
        let mut r = Reader::with_ranges(Kind::Touch, range, range);
        let out = (100, 100);
        r.read(abs(AbsoluteAxisCode::ABS_MT_SLOT, 0), out, (0.0, 0.0));
        r.read(
            abs(AbsoluteAxisCode::ABS_MT_TRACKING_ID, 7),
            out,
            (0.0, 0.0),
        );
        r.read(
            abs(AbsoluteAxisCode::ABS_MT_POSITION_X, 500),
            out,
            (0.0, 0.0),
        );
        r.read(
            abs(AbsoluteAxisCode::ABS_MT_POSITION_Y, 250),
            out,
            (0.0, 0.0),
        );
        assert_eq!(
            r.read(syn(), out, (0.0, 0.0)),
            [InputEvent::TouchDown {
                slot: 0,
                x: 50.0,
                y: 25.0
            }]
        );
        r.read(
            abs(AbsoluteAxisCode::ABS_MT_POSITION_X, 600),
            out,
            (0.0, 0.0),
        );
        assert_eq!(
            r.read(syn(), out, (0.0, 0.0)),
            [InputEvent::TouchMotion {
                slot: 0,
                x: 60.0,
                y: 25.0
            }]
        );
        r.read(
            abs(AbsoluteAxisCode::ABS_MT_TRACKING_ID, -1),
            out,
            (0.0, 0.0),
        );
        assert_eq!(
            r.read(syn(), out, (0.0, 0.0)),
            [InputEvent::TouchUp { slot: 0 }]
        );
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
