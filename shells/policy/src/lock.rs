//! The lock screen's state: locked or not, what was typed (shown as dots), and the back-off
//! after wrong passwords (one second after the first, doubling up to thirty). While locked
//! the compositor shows only the lock screen and gives no app any input; it checks what was
//! typed against the user's password and reports back here.

use std::time::{Duration, Instant};

use bevy_ecs::prelude::Resource;

use crate::policy::Rect;

/// The longest password taken, in characters.
pub const MAX_PASSWORD: usize = 256;
/// The longest wait after wrong passwords.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The password field, in logical pixels.
pub const FIELD_WIDTH: u32 = 320;
pub const FIELD_HEIGHT: u32 = 40;

/// The lock screen as drawn this frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockView {
    pub rect: Rect,
    /// The clock's line above the field.
    pub clock: Rect,
    pub field: Rect,
    /// One dot per typed character.
    pub dots: usize,
    /// Below the field: why the last try failed, or that a check runs.
    pub message: Option<String>,
}

#[derive(Resource, Debug, Default)]
pub struct LockScreen {
    locked: bool,
    typed: String,
    /// A check of the typed password is under way (the compositor checks off its loop).
    checking: bool,
    failures: u32,
    wait_until: Option<Instant>,
    message: Option<String>,
}

impl LockScreen {
    pub fn is_locked(&self) -> bool {
        self.locked
    }

    /// Locks (again): nothing typed, failures kept until an unlock.
    pub fn lock(&mut self) {
        self.locked = true;
        self.typed.clear();
        self.checking = false;
    }

    pub fn type_char(&mut self, c: char) {
        if self.locked && !c.is_control() && self.typed.chars().count() < MAX_PASSWORD {
            self.typed.push(c);
            self.message = None;
        }
    }

    pub fn backspace(&mut self) {
        self.typed.pop();
    }

    pub fn clear(&mut self) {
        self.typed.clear();
    }

    /// Enter: the typed password to check, unless one is being checked or the back-off
    /// after wrong ones has not passed (then the message says how long).
    pub fn submit(&mut self, now: Instant) -> Option<String> {
        if !self.locked || self.checking {
            return None;
        }
        if let Some(until) = self.wait_until
            && now < until
        {
            let left = until.duration_since(now).as_secs_f64().ceil() as u64;
            self.message = Some(format!("Wait {left} s before trying again"));
            return None;
        }
        self.checking = true;
        self.message = Some("Checking…".into());
        Some(std::mem::take(&mut self.typed))
    }

    /// The check said yes: unlocked, failures forgotten.
    pub fn unlocked(&mut self) {
        *self = LockScreen::default();
    }

    /// The check said no (or could not check: `why`): the back-off grows.
    pub fn failed(&mut self, now: Instant, why: Option<String>) {
        self.checking = false;
        self.failures = self.failures.saturating_add(1);
        let wait = Duration::from_secs(1 << (self.failures - 1).min(5)).min(MAX_BACKOFF);
        self.wait_until = Some(now + wait);
        self.message = Some(why.unwrap_or_else(|| {
            format!(
                "Wrong password ({} {})",
                self.failures,
                if self.failures == 1 { "try" } else { "tries" }
            )
        }));
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The screen on `output`, while locked.
    pub fn view(&self, output: Rect) -> Option<LockView> {
        if !self.locked {
            return None;
        }
        let width = FIELD_WIDTH.min(output.width);
        let x = output.x + (output.width - width) as i32 / 2;
        let y = output.y + output.height as i32 / 2 - FIELD_HEIGHT as i32 / 2;
        Some(LockView {
            rect: output,
            clock: Rect {
                x,
                y: y - 64,
                width,
                height: 48,
            },
            field: Rect {
                x,
                y,
                width,
                height: FIELD_HEIGHT,
            },
            dots: self.typed.chars().count(),
            message: self.message.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_text_is_taken_once_and_wrong_passwords_back_off_doubling() {
        let now = Instant::now();
        let mut lock = LockScreen::default();
        lock.type_char('x');
        assert_eq!(lock.submit(now), None, "not locked: nothing to check");
        lock.lock();
        for c in "hunter2".chars() {
            lock.type_char(c);
        }
        lock.backspace();
        lock.type_char('\n');
        assert_eq!(lock.view(Rect::default()).unwrap().dots, 6);
        assert_eq!(lock.submit(now).as_deref(), Some("hunter"));
        assert_eq!(lock.submit(now), None, "one check at a time");
        lock.failed(now, None);
        assert!(
            lock.view(Rect::default())
                .unwrap()
                .message
                .unwrap()
                .contains("Wrong password")
        );
        lock.type_char('a');
        assert_eq!(lock.submit(now), None, "within the first second");
        assert!(
            lock.view(Rect::default())
                .unwrap()
                .message
                .unwrap()
                .contains("Wait 1 s")
        );
        let later = now + Duration::from_secs(1);
        assert_eq!(lock.submit(later).as_deref(), Some("a"));
        lock.failed(later, None);
        assert_eq!(lock.submit(later + Duration::from_millis(1900)), None);
        // Many failures wait at most MAX_BACKOFF.
        for _ in 0..20 {
            lock.failed(later, None);
        }
        assert_eq!(lock.submit(later + MAX_BACKOFF), Some(String::new()));
        lock.unlocked();
        assert!(!lock.is_locked());
        assert_eq!(lock.failures(), 0);
    }

    #[test]
    fn a_huge_password_is_bounded() {
        let mut lock = LockScreen::default();
        lock.lock();
        for _ in 0..10_000 {
            lock.type_char('é');
        }
        assert_eq!(
            lock.submit(Instant::now()).unwrap().chars().count(),
            MAX_PASSWORD
        );
    }
}
