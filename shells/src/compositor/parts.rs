//! The shell's parts that live beside windows: notifications (their commands from the bus,
//! expiry, clicks on popups, the signals back to senders) and the status line (network,
//! battery and clock). The policy keeps and places them; this reads clocks and sysfs and tells the
//! bus.

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::State;
use crate::definition::Part;
use crate::notifications::Signal;
use compose_shell_policy::notifications::{Closed, PopupHit, Request};

/// How often the battery and the network are read again.
const BATTERY_EVERY: Duration = Duration::from_secs(30);
const NETWORK_EVERY: Duration = Duration::from_secs(5);
/// Where the kernel lists network interfaces.
const NET: &str = "/sys/class/net";

/// The status line's inputs between frames.
#[derive(Debug)]
pub(super) struct StatusSource {
    /// When the text was last made: at most once a second.
    made: Option<Instant>,
    battery: Option<String>,
    battery_read: Option<Instant>,
    network: Option<&'static str>,
    network_read: Option<Instant>,
    /// Where batteries are looked for (`/sys/class/power_supply`; tests point elsewhere).
    power_supply: std::path::PathBuf,
}

impl StatusSource {
    pub(super) fn new(power_supply: &Path) -> Self {
        Self {
            made: None,
            battery: None,
            battery_read: None,
            network: None,
            network_read: None,
            power_supply: power_supply.to_path_buf(),
        }
    }

    /// "87%  14:05", or just the time without a battery; `None` when made less than a
    /// second ago.
    fn text(&mut self, now: Instant) -> Option<String> {
        if self
            .made
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            return None;
        }
        self.made = Some(now);
        if self
            .battery_read
            .is_none_or(|t| now.duration_since(t) >= BATTERY_EVERY)
        {
            self.battery = battery(&self.power_supply);
            self.battery_read = Some(now);
        }
        if self
            .network_read
            .is_none_or(|t| now.duration_since(t) >= NETWORK_EVERY)
        {
            self.network = network(Path::new(NET));
            self.network_read = Some(now);
        }
        let clock = chrono::Local::now().format("%H:%M").to_string();
        let parts: Vec<&str> = [self.network, self.battery.as_deref(), Some(clock.as_str())]
            .into_iter()
            .flatten()
            .collect();
        Some(parts.join("  "))
    }
}

/// The network as the status line says it: `Wi-Fi` or `Wired` when an interface under `dir`
/// is up (wireless first), `Offline` when none is; nothing on a machine with only loopback.
fn network(dir: &Path) -> Option<&'static str> {
    let mut wired = false;
    let mut any = false;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if entry.file_name() == "lo" {
            continue;
        }
        any = true;
        let up = std::fs::read_to_string(path.join("operstate")).is_ok_and(|s| s.trim() == "up");
        if up && path.join("wireless").exists() {
            return Some("Wi-Fi");
        }
        wired |= up;
    }
    match (any, wired) {
        (_, true) => Some("Wired"),
        (true, false) => Some("Offline"),
        (false, false) => None,
    }
}

/// The first battery's charge under `dir` (`type` is `Battery`, `capacity` a percentage),
/// with a `+` while it charges.
fn battery(dir: &Path) -> Option<String> {
    let mut entries: Vec<_> = std::fs::read_dir(dir).ok()?.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    entries.into_iter().find_map(|e| {
        let read = |name: &str| std::fs::read_to_string(e.path().join(name)).ok();
        if read("type")?.trim() != "Battery" {
            return None;
        }
        let capacity: u8 = read("capacity")?.trim().parse().ok()?;
        let charging = read("status").is_some_and(|s| s.trim() == "Charging");
        Some(format!(
            "{}{}%",
            if charging { "+" } else { "" },
            capacity.min(100)
        ))
    })
}

impl State {
    /// A `Notify` from the bus.
    pub(super) fn notify(&mut self, request: Request) -> Result<u32, String> {
        let id = self
            .shell
            .notifications_mut()
            .notify(request, Instant::now())
            .map_err(|e| e.to_string())?;
        self.parts_changed(Part::Notifications);
        Ok(id)
    }

    /// A notification from the shell itself (`part` says which: `Launcher`, `Lock`), for
    /// what the user should know and the log alone would hide.
    pub(super) fn notify_from_shell(&mut self, part: &str, summary: String, body: String) {
        tracing::warn!("{part}: {summary}: {body}");
        let request = Request {
            sender: "compose-shell".into(),
            app_name: part.into(),
            summary,
            body,
            expire_timeout: -1,
            ..Request::default()
        };
        // The shell's own sender is rate-limited like any: a burst of its own notices is
        // still logged above.
        let _ = self.notify(request);
    }

    /// A `CloseNotification` from the bus: true if it was open.
    pub(super) fn close_notification(&mut self, id: u32, reason: Closed) -> bool {
        let closed = self.shell.notifications_mut().close(id);
        if closed {
            self.signal(Signal::Closed { id, reason });
            self.parts_changed(Part::Notifications);
        }
        closed
    }

    /// A click on a popup: its action invoked, then the popup dismissed.
    pub(super) fn click_popup(&mut self, hit: PopupHit) {
        let id = match hit {
            PopupHit::Action { id, key } => {
                self.signal(Signal::Action { id, key });
                id
            }
            PopupHit::Dismiss { id } => id,
        };
        self.close_notification(id, Closed::Dismissed);
    }

    /// Between frames: popups whose time ran out close, the status line follows the clock.
    pub(super) fn tick_parts(&mut self) {
        let now = Instant::now();
        let expired = self.shell.notifications_mut().expire(now);
        for id in &expired {
            self.signal(Signal::Closed {
                id: *id,
                reason: Closed::Expired,
            });
        }
        if !expired.is_empty() {
            self.parts_changed(Part::Notifications);
        }
        if (self.shell.active().has(Part::Status) || self.is_locked())
            && let Some(text) = self.status.text(now)
            && self.shell.set_status(&text)
        {
            self.dirty = true;
        }
    }

    /// How long the loop may sleep before `tick_parts` has work.
    pub(super) fn parts_due_in(&self, now: Instant) -> Option<Duration> {
        self.shell
            .notifications()
            .next_expiry()
            .map(|t| t.saturating_duration_since(now))
    }

    fn parts_changed(&mut self, part: Part) {
        if self.shell.active().has(part) {
            self.dirty = true;
        }
    }

    fn signal(&mut self, signal: Signal) {
        if let Some(signals) = &self.notification_signals
            && signals.send(signal).is_err()
        {
            // The bus side is gone (its connection closed): nobody hears signals any more.
            self.notification_signals = None;
        }
    }
}

/// Where the compositor sends signals for senders of notifications.
pub type Signals = mpsc::Sender<Signal>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_line_ends_in_the_local_time_and_is_made_at_most_once_a_second() {
        let dir = tempfile::tempdir().unwrap();
        let mut status = StatusSource::new(dir.path());
        let now = Instant::now();
        let before = chrono::Local::now();
        let text = status.text(now).unwrap();
        let after = chrono::Local::now();
        let clock = text.rsplit("  ").next().unwrap();
        assert!(
            [before, after]
                .iter()
                .any(|t| t.format("%H:%M").to_string() == clock),
            "{text}"
        );
        assert_eq!(status.text(now + Duration::from_millis(500)), None);
        assert!(status.text(now + Duration::from_secs(1)).is_some());
    }

    #[test]
    fn the_network_is_wifi_wired_offline_or_nothing_from_sysfs() {
        let dir = tempfile::tempdir().unwrap();
        let iface = |name: &str, state: &str, wireless: bool| {
            let d = dir.path().join(name);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("operstate"), format!("{state}\n")).unwrap();
            if wireless {
                std::fs::create_dir_all(d.join("wireless")).unwrap();
            }
        };
        iface("lo", "unknown", false);
        assert_eq!(network(dir.path()), None, "loopback only");
        iface("eth0", "down", false);
        assert_eq!(network(dir.path()), Some("Offline"));
        iface("eth0", "up", false);
        assert_eq!(network(dir.path()), Some("Wired"));
        iface("wlan0", "up", true);
        assert_eq!(network(dir.path()), Some("Wi-Fi"));
        assert_eq!(network(&dir.path().join("missing")), None);
    }

    #[test]
    fn the_battery_is_read_from_power_supply_and_other_supplies_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let ac = dir.path().join("AC");
        std::fs::create_dir(&ac).unwrap();
        std::fs::write(ac.join("type"), "Mains\n").unwrap();
        assert_eq!(battery(dir.path()), None);
        let bat = dir.path().join("BAT0");
        std::fs::create_dir(&bat).unwrap();
        std::fs::write(bat.join("type"), "Battery\n").unwrap();
        std::fs::write(bat.join("capacity"), "87\n").unwrap();
        std::fs::write(bat.join("status"), "Discharging\n").unwrap();
        assert_eq!(battery(dir.path()).as_deref(), Some("87%"));
        std::fs::write(bat.join("status"), "Charging\n").unwrap();
        assert_eq!(battery(dir.path()).as_deref(), Some("+87%"));
        std::fs::write(bat.join("capacity"), "garbage").unwrap();
        assert_eq!(battery(dir.path()), None);
        assert_eq!(battery(&dir.path().join("missing")), None);
    }
}
