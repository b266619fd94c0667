//! The notification server: `org.freedesktop.Notifications` at
//! `/org/freedesktop/Notifications` (Desktop Notifications Specification 1.2, zbus), so
//! `notify-send`, libnotify and every toolkit's notifications reach the shell. Calls are
//! forwarded into the compositor loop, where the policy keeps, bounds and shows them
//! (`compose_shell_policy::notifications`); the loop's answers to users (a popup closed, an
//! action clicked) come back as `Signal`s that a thread here emits on the bus.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::mpsc;

use smithay::reexports::calloop::channel::Sender;
use zbus::fdo;
use zbus::message::Header;
use zbus::zvariant::{OwnedValue, Value};

use crate::compositor::Command;
use compose_shell_policy::notifications::{Closed, Request, Urgency};

pub const BUS_NAME: &str = "org.freedesktop.Notifications";
pub const OBJECT_PATH: &str = "/org/freedesktop/Notifications";

/// What the compositor tells senders, as the spec's signals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// `NotificationClosed(id, reason)`.
    Closed { id: u32, reason: Closed },
    /// `ActionInvoked(id, action_key)`.
    Action { id: u32, key: String },
}

struct NotificationService {
    control: Mutex<Sender<Command>>,
}

impl NotificationService {
    async fn ask<T: Send + 'static>(
        &self,
        make: impl FnOnce(mpsc::Sender<T>) -> Command + Send + 'static,
    ) -> fdo::Result<T> {
        crate::control::ask(&self.control, make).await
    }
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl NotificationService {
    /// Shows a notification (or replaces `replaces_id`); its id. Markup in the body is
    /// taken out, texts and actions are bounded, and a sender that floods is refused for a
    /// while (`org.freedesktop.Notifications.Error.RateLimited`).
    #[allow(clippy::too_many_arguments)]
    async fn notify(
        &self,
        app_name: String,
        replaces_id: u32,
        _app_icon: String,
        summary: String,
        body: String,
        actions: Vec<String>,
        hints: HashMap<String, OwnedValue>,
        expire_timeout: i32,
        #[zbus(header)] header: Header<'_>,
    ) -> fdo::Result<u32> {
        let urgency = hints
            .get("urgency")
            .and_then(|v| match &**v {
                Value::U8(u) => Some(*u),
                Value::I32(i) => u8::try_from(*i).ok(),
                Value::U32(u) => u8::try_from(*u).ok(),
                _ => None,
            })
            .map(Urgency::from_hint)
            .unwrap_or_default();
        let request = Request {
            sender: header.sender().map(|s| s.to_string()).unwrap_or_default(),
            app_name,
            replaces_id,
            summary,
            body,
            actions,
            urgency,
            expire_timeout,
        };
        self.ask(|reply| Command::Notify(Box::new(request), reply))
            .await?
            .map_err(fdo::Error::LimitsExceeded)
    }

    /// Closes a notification; `NotificationClosed` with reason 3 follows if it was open.
    async fn close_notification(&self, id: u32) -> fdo::Result<()> {
        self.ask(move |reply| Command::CloseNotification(id, reply))
            .await
            .map(|_| ())
    }

    fn get_capabilities(&self) -> Vec<String> {
        ["actions", "body", "body-markup", "persistence"]
            .map(String::from)
            .to_vec()
    }

    /// Name, vendor, version, and the version of the spec followed.
    fn get_server_information(&self) -> (String, String, String, String) {
        (
            "compose-shell".into(),
            "compose".into(),
            env!("CARGO_PKG_VERSION").into(),
            "1.2".into(),
        )
    }
}

/// Serves notifications on `connection` for the compositor behind `control`; the sender
/// goes to the compositor (`Options::notifications`), which tells senders through it what
/// users did. `None` when another notification server already owns the name on this bus
/// (a desktop session's own, for a nested shell): the shell runs without.
pub fn serve(
    connection: &zbus::blocking::Connection,
    control: Sender<Command>,
) -> zbus::Result<Option<mpsc::Sender<Signal>>> {
    let service = NotificationService {
        control: Mutex::new(control),
    };
    connection.object_server().at(OBJECT_PATH, service)?;
    match connection
        .request_name_with_flags(BUS_NAME, zbus::fdo::RequestNameFlags::DoNotQueue.into())
    {
        Ok(zbus::fdo::RequestNameReply::PrimaryOwner)
        | Ok(zbus::fdo::RequestNameReply::AlreadyOwner) => {}
        Ok(_) | Err(zbus::Error::NameTaken) => {
            tracing::warn!(
                "another notification server owns {BUS_NAME} on this bus: this shell shows no notifications"
            );
            connection
                .object_server()
                .remove::<NotificationService, _>(OBJECT_PATH)?;
            return Ok(None);
        }
        Err(e) => return Err(e),
    }
    let (signals, outgoing) = mpsc::channel::<Signal>();
    let connection = connection.clone();
    std::thread::Builder::new()
        .name("notification signals".into())
        .spawn(move || {
            for signal in outgoing {
                let sent = match signal {
                    Signal::Closed { id, reason } => connection.emit_signal(
                        None::<()>,
                        OBJECT_PATH,
                        BUS_NAME,
                        "NotificationClosed",
                        &(id, reason as u32),
                    ),
                    Signal::Action { id, key } => connection.emit_signal(
                        None::<()>,
                        OBJECT_PATH,
                        BUS_NAME,
                        "ActionInvoked",
                        &(id, key.as_str()),
                    ),
                };
                if let Err(e) = sent {
                    tracing::warn!("cannot send a notification signal: {e}");
                }
            }
        })
        .map_err(|e| zbus::Error::Failure(format!("cannot start the signal thread: {e}")))?;
    Ok(Some(signals))
}
