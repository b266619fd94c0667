//! Locking on the compositor's side. The built-in lock screen: locking (Super+L, the bus,
//! idle time) takes keyboard and pointer from every app and leaves only the lock screen on
//! the output; typed keys go to the password field; Enter checks the password against the
//! shadow file on a thread of its own (yescrypt is slow on purpose: the loop never waits
//! for it), and the policy's back-off slows guessing. External lockers (swaylock) lock
//! through `ext-session-lock-v1`: their lock surface fills the output and has the keyboard;
//! the session is confirmed locked once a frame without app content was drawn; a locker
//! that dies leaves the session locked, behind the built-in lock screen.

use std::sync::mpsc;
use std::time::Instant;

use smithay::input::pointer::MotionEvent;
use smithay::reexports::wayland_server::protocol::wl_output::WlOutput;
use smithay::utils::SERIAL_COUNTER;
use smithay::wayland::session_lock::{
    LockSurface, SessionLockHandler, SessionLockManagerState, SessionLocker,
};

use super::State;
use super::launcher::TypedKey;
use crate::password::{self, PasswordError};

/// Where the lock checks passwords, and whose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockOptions {
    pub shadow: std::path::PathBuf,
    pub user: String,
}

impl Default for LockOptions {
    /// /etc/shadow, for the user the shell runs as (`USER`, else root: a device's shell runs
    /// as root).
    fn default() -> Self {
        Self {
            shadow: "/etc/shadow".into(),
            user: std::env::var("USER")
                .ok()
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| "root".into()),
        }
    }
}

/// A password check under way.
pub(super) type Check = mpsc::Receiver<Result<bool, PasswordError>>;

/// A lock held by an external locker (ext-session-lock-v1).
#[derive(Debug, Default)]
pub(super) struct ExternalLock {
    /// Told `locked` once a frame without app content is drawn (after `frame`).
    confirm: Option<(SessionLocker, u64)>,
    surface: Option<LockSurface>,
}

impl ExternalLock {
    /// The locker's surface, while its client lives.
    pub(super) fn surface(&self) -> Option<&LockSurface> {
        self.surface.as_ref().filter(|s| s.alive())
    }
}

impl State {
    pub(super) fn is_locked(&self) -> bool {
        self.shell.lock_screen().is_locked()
    }

    /// Locks the session: no app keeps the keyboard or the pointer, and frames show only
    /// the lock screen from the next one on. Refused (and said in a notification) when the
    /// user's password cannot be checked: nobody could unlock it.
    pub(super) fn lock_session(&mut self) -> Result<(), String> {
        if self.is_locked() {
            return Ok(());
        }
        // A lock nobody could undo is refused, and says why.
        if let Err(e) = password::usable(&self.lock_options.shadow, &self.lock_options.user) {
            self.notify_from_shell("Lock", "The screen cannot lock".into(), e.to_string());
            return Err(format!("the screen cannot lock: {e}"));
        }
        tracing::info!("session locked");
        self.shell.lock_screen_mut().lock();
        self.shell.app_menu_mut().close();
        self.sync_keyboard_focus();
        if let Some(pointer) = self.seat.get_pointer() {
            let location = pointer.current_location();
            pointer.motion(
                self,
                None,
                &MotionEvent {
                    location,
                    serial: SERIAL_COUNTER.next_serial(),
                    time: self.time_ms(),
                },
            );
            pointer.frame(self);
        }
        self.dirty = true;
        Ok(())
    }

    /// A key typed on the lock screen.
    pub(super) fn lock_key(&mut self, key: TypedKey) {
        let mut lock = self.shell.lock_screen_mut();
        let typed = match key {
            TypedKey::Char(c) => {
                lock.type_char(c);
                None
            }
            TypedKey::Back => {
                lock.backspace();
                None
            }
            TypedKey::Close => {
                lock.clear();
                None
            }
            TypedKey::Launch => lock.submit(Instant::now()),
            _ => None,
        };
        if let Some(typed) = typed {
            self.check_password(typed);
        }
        self.dirty = true;
    }

    fn check_password(&mut self, typed: String) {
        let (answer, check) = mpsc::channel();
        let options = self.lock_options.clone();
        std::thread::spawn(move || {
            let _ = answer.send(password::check(&options.shadow, &options.user, &typed));
        });
        self.password_check = Some(check);
    }

    /// Between frames: an external lock confirmed once a frame after it was drawn; the
    /// answer of a password check, if one came.
    pub(super) fn tick_lock(&mut self) {
        let drawn = self.frame;
        if let Some(lock) = &mut self.external_lock
            && lock
                .confirm
                .as_ref()
                .is_some_and(|(_, at)| drawn > *at && !self.dirty)
            && let Some((locker, _)) = lock.confirm.take()
        {
            tracing::info!("session locked by an external locker");
            locker.lock();
        }
        let Some(check) = &self.password_check else {
            return;
        };
        let answer = match check.try_recv() {
            Ok(answer) => answer,
            Err(mpsc::TryRecvError::Empty) => return,
            Err(mpsc::TryRecvError::Disconnected) => Ok(false),
        };
        self.password_check = None;
        match answer {
            Ok(true) => self.unlock_session(),
            Ok(false) => {
                let failures = self.shell.lock_screen().failures() + 1;
                tracing::warn!("lock screen: wrong password ({failures} in a row)");
                self.shell.lock_screen_mut().failed(Instant::now(), None);
            }
            Err(e) => {
                tracing::warn!("lock screen: {e}");
                self.shell
                    .lock_screen_mut()
                    .failed(Instant::now(), Some(e.to_string()));
            }
        }
        self.dirty = true;
    }
}

impl State {
    fn unlock_session(&mut self) {
        tracing::info!("session unlocked");
        self.shell.lock_screen_mut().unlocked();
        self.external_lock = None;
        self.sync_keyboard_focus();
        self.dirty = true;
    }
}

impl SessionLockHandler for State {
    fn lock_state(&mut self) -> &mut SessionLockManagerState {
        &mut self.session_lock_state
    }

    fn lock(&mut self, confirmation: SessionLocker) {
        if self
            .external_lock
            .as_ref()
            .is_some_and(|l| l.surface().is_some())
        {
            // Another locker holds the session: this one is told it failed (dropped).
            return;
        }
        // A locker that died left its output behind: the new one takes it over.
        self.session_lock_state.forget_locked_outputs();
        if !self.is_locked() {
            // An external locker checks its own passwords: no usable shadow entry needed.
            self.shell.lock_screen_mut().lock();
            self.shell.app_menu_mut().close();
        }
        self.external_lock = Some(ExternalLock {
            confirm: Some((confirmation, self.frame)),
            surface: None,
        });
        self.sync_keyboard_focus();
        self.dirty = true;
    }

    fn unlock(&mut self) {
        self.unlock_session();
    }

    fn new_surface(&mut self, surface: LockSurface, _output: WlOutput) {
        let (width, height) = self.size;
        surface.with_pending_state(|s| s.size = Some((width, height).into()));
        if let Some(lock) = &mut self.external_lock {
            lock.surface = Some(surface);
        }
        self.sync_keyboard_focus();
        self.dirty = true;
    }
}

smithay::delegate_session_lock!(State);
