//! Desktop notifications as the shell keeps them: what a sender asked for, bounded and made
//! safe to draw (plain text, limited lengths and actions), rate-limited per sender, expiring,
//! shown as popups stacked at the output's top right and kept in a history. The D-Bus side
//! (`org.freedesktop.Notifications`) lives in the compositor crate; this is only data.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bevy_ecs::prelude::Resource;

use crate::policy::Rect;

/// Longest summary kept, in characters (one line on a popup).
pub const MAX_SUMMARY: usize = 120;
/// Longest body kept, in characters.
pub const MAX_BODY: usize = 600;
/// Longest app name and action label kept, in characters.
pub const MAX_LABEL: usize = 40;
/// Action buttons a popup shows; further actions are dropped.
pub const MAX_ACTIONS: usize = 3;
/// Body lines a popup shows (the rest is cut with an ellipsis).
pub const BODY_LINES: usize = 3;
/// Popups shown at once, newest on top; older ones wait in the history.
pub const MAX_POPUPS: usize = 4;
/// Notifications the history keeps.
pub const HISTORY: usize = 50;
/// How long a popup stays when the sender leaves it to the server (`expire_timeout` -1).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(6);
/// Longest timeout a sender may ask for.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(3600);
/// A sender may send this many notifications at once, then `REFILL` more per second.
pub const BURST: f64 = 10.0;
pub const REFILL: f64 = 2.0;

/// Popup geometry, in logical pixels.
pub const POPUP_WIDTH: u32 = 360;
pub const POPUP_MARGIN: u32 = 12;
pub const SUMMARY_HEIGHT: u32 = 26;
pub const BODY_LINE_HEIGHT: u32 = 18;
pub const ACTION_HEIGHT: u32 = 28;
const PADDING: u32 = 8;
/// Characters of a body line (DejaVu Sans at 13 px averages about 6.5 px a character;
/// the renderer cuts a line that is wider still with an ellipsis).
const BODY_LINE_CHARS: usize = 50;

/// How urgent a sender says a notification is (the spec's `urgency` hint: 0, 1, 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Urgency {
    Low,
    #[default]
    Normal,
    /// Stays until the user closes it, whatever the timeout says.
    Critical,
}

impl Urgency {
    pub fn from_hint(value: u8) -> Urgency {
        match value {
            0 => Urgency::Low,
            2 => Urgency::Critical,
            _ => Urgency::Normal,
        }
    }
}

/// What a sender asked for (`Notify`), as it arrived: nothing here is trusted yet.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Who sent it (the bus's unique name): the rate limit counts per sender.
    pub sender: String,
    pub app_name: String,
    /// The notification to replace, or 0 for a new one.
    pub replaces_id: u32,
    pub summary: String,
    pub body: String,
    /// Action keys and labels, in pairs (`["default", "Open", "reply", "Reply"]`).
    pub actions: Vec<String>,
    pub urgency: Urgency,
    /// Milliseconds; -1 the server decides, 0 never expires.
    pub expire_timeout: i32,
}

/// A notification as the shell shows it: every text bounded and plain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub id: u32,
    pub app_name: String,
    pub summary: String,
    /// At most `BODY_LINES` lines, wrapped by words.
    pub body: Vec<String>,
    /// Action keys and labels shown as buttons (the `default` action has none: a click on
    /// the popup invokes it).
    pub actions: Vec<(String, String)>,
    /// Whether the sender offered a `default` action.
    pub default_action: bool,
    pub urgency: Urgency,
    pub expires: Option<Instant>,
}

/// Why a notification went away (the spec's `NotificationClosed` reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    Expired = 1,
    Dismissed = 2,
    /// `CloseNotification` from the sender.
    ByCall = 3,
}

/// Why a `Notify` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error(
        "{sender} sent more than {BURST} notifications in a burst ({REFILL} a second after that): this one was dropped"
    )]
    RateLimited { sender: String },
}

/// What a click on a popup does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PopupHit {
    /// An action button, or the popup itself when it has a `default` action: the action is
    /// invoked, then the popup is dismissed.
    Action { id: u32, key: String },
    /// Anywhere else on a popup: dismissed.
    Dismiss { id: u32 },
}

/// A popup on the output: its notification, box and action buttons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Popup {
    pub notification: Notification,
    pub rect: Rect,
    pub buttons: Vec<(String, String, Rect)>,
}

/// Every notification the shell knows: open ones (shown as popups, newest first) and the
/// history of what was shown.
#[derive(Resource, Debug, Default)]
pub struct Notifications {
    open: Vec<Notification>,
    history: VecDeque<Notification>,
    next_id: u32,
    buckets: HashMap<String, (f64, Instant)>,
}

impl Notifications {
    /// Takes a request: a new notification (or the one it replaces, in place) and its id.
    pub fn notify(&mut self, request: Request, now: Instant) -> Result<u32, Refused> {
        self.take_token(&request.sender, now)?;
        let replaced = (request.replaces_id != 0)
            .then(|| self.open.iter().position(|n| n.id == request.replaces_id))
            .flatten();
        let id = match replaced {
            Some(_) => request.replaces_id,
            None => {
                self.next_id = self.next_id.checked_add(1).unwrap_or(1);
                self.next_id
            }
        };
        let notification = bounded(id, request, now);
        match replaced {
            Some(i) => self.open[i] = notification,
            None => self.open.insert(0, notification),
        }
        Ok(id)
    }

    /// Closes an open notification; false if it is not open (already closed, or unknown).
    pub fn close(&mut self, id: u32) -> bool {
        let Some(i) = self.open.iter().position(|n| n.id == id) else {
            return false;
        };
        let n = self.open.remove(i);
        self.history.push_front(n);
        self.history.truncate(HISTORY);
        true
    }

    /// Closes every notification whose time has come; their ids.
    pub fn expire(&mut self, now: Instant) -> Vec<u32> {
        let due: Vec<u32> = self
            .open
            .iter()
            .filter(|n| n.expires.is_some_and(|t| t <= now))
            .map(|n| n.id)
            .collect();
        for id in &due {
            self.close(*id);
        }
        due
    }

    /// When the next open notification expires.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.open.iter().filter_map(|n| n.expires).min()
    }

    pub fn open(&self) -> &[Notification] {
        &self.open
    }

    /// What was shown, newest first.
    pub fn history(&self) -> impl Iterator<Item = &Notification> {
        self.history.iter()
    }

    /// The popups, stacked down from the top right corner of `area`.
    pub fn popups(&self, area: Rect) -> Vec<Popup> {
        let width = POPUP_WIDTH.min(area.width.saturating_sub(2 * POPUP_MARGIN));
        let x = area.x + area.width as i32 - width as i32 - POPUP_MARGIN as i32;
        let mut y = area.y + POPUP_MARGIN as i32;
        let mut out = Vec::new();
        for n in self.open.iter().take(MAX_POPUPS) {
            let height = popup_height(n);
            if y + height as i32 > area.y + area.height as i32 {
                break;
            }
            let rect = Rect {
                x,
                y,
                width,
                height,
            };
            let buttons = buttons(n, rect);
            out.push(Popup {
                notification: n.clone(),
                rect,
                buttons,
            });
            y += (height + POPUP_MARGIN) as i32;
        }
        out
    }

    /// What a click at (x, y) on `area`'s popups means, if it hit one.
    pub fn hit(&self, area: Rect, x: f64, y: f64) -> Option<PopupHit> {
        let popup = self
            .popups(area)
            .into_iter()
            .find(|p| p.rect.contains_point(x, y))?;
        let id = popup.notification.id;
        if let Some((key, _, _)) = popup
            .buttons
            .iter()
            .find(|(_, _, r)| r.contains_point(x, y))
        {
            return Some(PopupHit::Action {
                id,
                key: key.clone(),
            });
        }
        Some(if popup.notification.default_action {
            PopupHit::Action {
                id,
                key: "default".into(),
            }
        } else {
            PopupHit::Dismiss { id }
        })
    }

    /// Spends one of `sender`'s tokens, or refuses.
    fn take_token(&mut self, sender: &str, now: Instant) -> Result<(), Refused> {
        // Senders long quiet are forgotten, so the table stays as small as the active ones.
        if self.buckets.len() > 1024 {
            self.buckets
                .retain(|_, (_, at)| now.duration_since(*at) < Duration::from_secs(60));
        }
        let (tokens, at) = self
            .buckets
            .entry(sender.to_string())
            .or_insert((BURST, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * REFILL).min(BURST);
        *at = now;
        if *tokens < 1.0 {
            return Err(Refused::RateLimited {
                sender: sender.to_string(),
            });
        }
        *tokens -= 1.0;
        Ok(())
    }
}

fn popup_height(n: &Notification) -> u32 {
    let actions = if n.actions.is_empty() {
        0
    } else {
        ACTION_HEIGHT + PADDING
    };
    PADDING + SUMMARY_HEIGHT + n.body.len() as u32 * BODY_LINE_HEIGHT + actions + PADDING
}

/// The action buttons along a popup's bottom edge, right-aligned, equal widths.
fn buttons(n: &Notification, rect: Rect) -> Vec<(String, String, Rect)> {
    if n.actions.is_empty() {
        return Vec::new();
    }
    let count = n.actions.len() as u32;
    let room = rect.width.saturating_sub(2 * PADDING);
    let width = (room.saturating_sub((count - 1) * PADDING) / count).min(110);
    let y = rect.y + (rect.height - PADDING - ACTION_HEIGHT) as i32;
    let right = rect.x + (rect.width - PADDING) as i32;
    n.actions
        .iter()
        .enumerate()
        .map(|(i, (key, label))| {
            let from_right = (count - i as u32) as i32;
            let x = right - from_right * width as i32 - (from_right - 1) * PADDING as i32;
            (
                key.clone(),
                label.clone(),
                Rect {
                    x,
                    y,
                    width,
                    height: ACTION_HEIGHT,
                },
            )
        })
        .collect()
}

/// The request made safe: markup gone, control characters spaces, lengths bounded, actions
/// paired and counted, the timeout turned into a deadline.
fn bounded(id: u32, r: Request, now: Instant) -> Notification {
    let mut actions = Vec::new();
    let mut default_action = false;
    for pair in r.actions.chunks_exact(2) {
        let key = cut(&plain(&pair[0], false), MAX_LABEL);
        if key == "default" {
            default_action = true;
        } else if actions.len() < MAX_ACTIONS && !key.is_empty() {
            let label = cut(&plain(&pair[1], false), MAX_LABEL);
            let label = if label.trim().is_empty() {
                key.clone()
            } else {
                label
            };
            actions.push((key, label));
        }
    }
    let expires = match (r.urgency, r.expire_timeout) {
        (Urgency::Critical, _) | (_, 0) => None,
        (_, t) if t < 0 => Some(now + DEFAULT_TIMEOUT),
        (_, t) => Some(now + Duration::from_millis(t as u64).min(MAX_TIMEOUT)),
    };
    Notification {
        id,
        app_name: cut(&plain(&r.app_name, false), MAX_LABEL),
        summary: cut(&plain(&r.summary, false), MAX_SUMMARY),
        body: wrap(
            &cut(&plain(&r.body, true), MAX_BODY),
            BODY_LINE_CHARS,
            BODY_LINES,
        ),
        actions,
        default_action,
        urgency: r.urgency,
        expires,
    }
}

/// Text as one line: control characters (newlines included) turned into spaces and runs of
/// spaces into one; with `markup` (bodies: the server says it takes `body-markup`) tags
/// are dropped and the five XML entities decoded.
pub fn plain(text: &str, markup: bool) -> String {
    let mut out = String::with_capacity(text.len().min(4 * MAX_BODY));
    let mut in_tag = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        rest = &rest[c.len_utf8()..];
        match c {
            '<' if markup => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if in_tag => {}
            '&' if markup => {
                let entity = [
                    ("amp;", '&'),
                    ("lt;", '<'),
                    ("gt;", '>'),
                    ("quot;", '"'),
                    ("apos;", '\''),
                ]
                .into_iter()
                .find(|(name, _)| rest.starts_with(name));
                match entity {
                    Some((name, ch)) => {
                        rest = &rest[name.len()..];
                        out.push(ch);
                    }
                    None => out.push('&'),
                }
            }
            c if c.is_control() || c.is_whitespace() => {
                if !out.ends_with(' ') && !out.is_empty() {
                    out.push(' ');
                }
            }
            c => out.push(c),
        }
        // Nobody reads further than a popup shows: stop early on huge input.
        if out.len() > 4 * MAX_BODY {
            break;
        }
    }
    out.trim_end().to_string()
}

/// At most `max` characters, the last an ellipsis when cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// Words into lines of at most `width` characters (a longer word is cut), at most `lines`
/// of them; the last ends in an ellipsis when text was left over.
fn wrap(text: &str, width: usize, lines: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut line = String::new();
    let mut left_over = false;
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let word = cut(word, width);
        let needed = if line.is_empty() {
            word.chars().count()
        } else {
            line.chars().count() + 1 + word.chars().count()
        };
        if needed > width {
            if out.len() + 1 == lines {
                left_over = true;
                break;
            }
            out.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.is_empty() {
        if left_over {
            line = cut(&format!("{line} …"), width);
        }
        out.push(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(sender: &str, summary: &str) -> Request {
        Request {
            sender: sender.into(),
            app_name: "test".into(),
            summary: summary.into(),
            expire_timeout: -1,
            ..Request::default()
        }
    }

    const AREA: Rect = Rect {
        x: 0,
        y: 0,
        width: 1280,
        height: 720,
    };

    #[test]
    fn ids_count_up_and_a_replacement_keeps_its_id_and_place() {
        let now = Instant::now();
        let mut n = Notifications::default();
        let a = n.notify(request(":1.1", "a"), now).unwrap();
        let b = n.notify(request(":1.1", "b"), now).unwrap();
        assert_eq!((a, b), (1, 2));
        let again = n
            .notify(
                Request {
                    replaces_id: a,
                    ..request(":1.1", "a2")
                },
                now,
            )
            .unwrap();
        assert_eq!(again, a);
        let summaries: Vec<_> = n.open().iter().map(|n| n.summary.as_str()).collect();
        assert_eq!(summaries, ["b", "a2"]);
        // Replacing one that is gone makes a new one.
        assert!(n.close(b));
        let c = n
            .notify(
                Request {
                    replaces_id: b,
                    ..request(":1.1", "c")
                },
                now,
            )
            .unwrap();
        assert_eq!(c, 3);
        assert_eq!(n.history().count(), 1);
    }

    #[test]
    fn timeouts_follow_the_spec_and_critical_ones_stay() {
        let now = Instant::now();
        let mut n = Notifications::default();
        let default = n.notify(request("s", "default"), now).unwrap();
        let never = n
            .notify(
                Request {
                    expire_timeout: 0,
                    ..request("s", "never")
                },
                now,
            )
            .unwrap();
        let short = n
            .notify(
                Request {
                    expire_timeout: 100,
                    ..request("s", "short")
                },
                now,
            )
            .unwrap();
        let critical = n
            .notify(
                Request {
                    expire_timeout: 100,
                    urgency: Urgency::Critical,
                    ..request("s", "critical")
                },
                now,
            )
            .unwrap();
        assert_eq!(n.next_expiry(), Some(now + Duration::from_millis(100)));
        assert_eq!(n.expire(now + Duration::from_millis(100)), [short]);
        assert_eq!(n.expire(now + DEFAULT_TIMEOUT), [default]);
        let open: Vec<u32> = n.open().iter().map(|n| n.id).collect();
        assert_eq!(open, [critical, never]);
        assert_eq!(n.next_expiry(), None);
    }

    #[test]
    fn hostile_text_is_bounded_plain_and_on_few_lines() {
        let now = Instant::now();
        let mut n = Notifications::default();
        let mut actions = Vec::new();
        for i in 0..400 {
            actions.push(format!("key{i}"));
            actions.push(format!("Label {i}\t{}", "x".repeat(1000)));
        }
        actions.push("odd one out".into());
        n.notify(
            Request {
                summary: format!("<i>Hi</i> &amp;\n{}", "y".repeat(100_000)),
                body: format!(
                    "<a href='x'>link</a> &lt;3\u{0}\u{7}{}",
                    "word ".repeat(1_000_000)
                ),
                app_name: "a".repeat(10_000),
                actions,
                ..request("s", "")
            },
            now,
        )
        .unwrap();
        let shown = &n.open()[0];
        // A summary is never markup: shown as sent, on one line.
        assert!(
            shown.summary.starts_with("<i>Hi</i> &amp; yyy"),
            "{}",
            shown.summary
        );
        assert_eq!(shown.summary.chars().count(), MAX_SUMMARY);
        assert!(shown.summary.ends_with('…'));
        assert_eq!(shown.app_name.chars().count(), MAX_LABEL);
        assert_eq!(shown.body.len(), BODY_LINES);
        assert!(
            shown.body[0].starts_with("link <3 word"),
            "{:?}",
            shown.body
        );
        assert!(
            shown
                .body
                .iter()
                .all(|l| l.chars().count() <= BODY_LINE_CHARS)
        );
        assert!(shown.body[2].ends_with('…'));
        assert_eq!(shown.actions.len(), MAX_ACTIONS);
        assert!(shown.actions[0].1.starts_with("Label 0 xx"));
        assert!(
            shown
                .actions
                .iter()
                .all(|(k, l)| k.chars().count() <= MAX_LABEL && l.chars().count() <= MAX_LABEL)
        );
        let popups = n.popups(AREA);
        assert_eq!(popups.len(), 1);
        assert!(AREA.contains(&popups[0].rect));
        for (_, _, r) in &popups[0].buttons {
            assert!(popups[0].rect.contains(r), "{r:?} in {:?}", popups[0].rect);
        }
    }

    #[test]
    fn a_flood_from_one_sender_is_refused_after_a_burst_and_others_still_get_through() {
        let now = Instant::now();
        let mut n = Notifications::default();
        let accepted = (0..100)
            .filter(|i| n.notify(request(":1.7", &i.to_string()), now).is_ok())
            .count();
        assert_eq!(accepted, BURST as usize);
        assert!(matches!(
            n.notify(request(":1.7", "more"), now),
            Err(Refused::RateLimited { .. })
        ));
        assert!(n.notify(request(":1.8", "someone else"), now).is_ok());
        // Tokens come back with time.
        assert!(
            n.notify(request(":1.7", "later"), now + Duration::from_secs(1))
                .is_ok()
        );
        // However many are open, only a few popups show, inside the output.
        let popups = n.popups(AREA);
        assert!(popups.len() <= MAX_POPUPS);
        assert_eq!(popups[0].notification.summary, "later");
        assert!(popups.iter().all(|p| AREA.contains(&p.rect)));
    }

    #[test]
    fn clicks_invoke_actions_or_dismiss() {
        let now = Instant::now();
        let mut n = Notifications::default();
        let plain = n.notify(request("s", "plain"), now).unwrap();
        let with = n
            .notify(
                Request {
                    actions: vec![
                        "default".into(),
                        "Open".into(),
                        "reply".into(),
                        "Reply".into(),
                    ],
                    ..request("s", "with actions")
                },
                now,
            )
            .unwrap();
        let popups = n.popups(AREA);
        assert_eq!(popups[0].notification.id, with);
        assert_eq!(popups[0].buttons.len(), 1, "default has no button");
        let (_, label, button) = &popups[0].buttons[0];
        assert_eq!(label, "Reply");
        let centre = |r: Rect| {
            (
                r.x as f64 + r.width as f64 / 2.0,
                r.y as f64 + r.height as f64 / 2.0,
            )
        };
        let (x, y) = centre(*button);
        assert_eq!(
            n.hit(AREA, x, y),
            Some(PopupHit::Action {
                id: with,
                key: "reply".into()
            })
        );
        let (x, y) = (popups[0].rect.x as f64 + 4.0, popups[0].rect.y as f64 + 4.0);
        assert_eq!(
            n.hit(AREA, x, y),
            Some(PopupHit::Action {
                id: with,
                key: "default".into()
            })
        );
        let (x, y) = centre(popups[1].rect);
        assert_eq!(n.hit(AREA, x, y), Some(PopupHit::Dismiss { id: plain }));
        assert_eq!(n.hit(AREA, 5.0, 5.0), None);
    }
}
