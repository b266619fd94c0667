//! Configures, focus and swaps with the compositor and its clients in one loop (see
//! `fixture`): what each shell tells its windows, that focus and windows survive every
//! swap, and a compositor stepped by hand. Pixels are checked in `clients.rs`.

mod fixture;

use compose_shells::policy::{KEYBOARD_SHARE, TASKBAR, TITLE_BAR};
use compose_testclient::ToplevelState;
use fixture::Fixture;

const RED: [u8; 4] = [255, 0, 0, 255];
const GREEN: [u8; 4] = [0, 255, 0, 255];
const BLUE: [u8; 4] = [0, 0, 255, 255];

#[test]
fn configures_and_focus_follow_every_shell_through_swaps() {
    let (w, h) = (1280, 720);
    let mut f = Fixture::new("desktop", w, h);
    for (i, color) in [RED, GREEN, BLUE].into_iter().enumerate() {
        let c = f.connect();
        f.open(c, &format!("app{i}"), &format!("App {i}"), color);
    }
    // Desktop: floating 800x480 windows, the newest focused.
    for c in 0..3 {
        f.wait_configure(
            c,
            0,
            "a floating configure, activated only if newest",
            |k| {
                k.width == 800
                    && k.height == 480
                    && !k.has(ToplevelState::Maximized)
                    && k.has(ToplevelState::Activated) == (c == 2)
            },
        );
    }
    let ids: Vec<u64> = f.windows().iter().map(|w| w.id).collect();
    assert_eq!(f.focused().as_deref(), Some("app2"));
    let top = f.window("app2");

    // Gaming: every window fullscreen, only the focused one activated.
    f.swap("gaming");
    for c in 0..3 {
        f.wait_configure(c, 0, "a fullscreen configure", |k| {
            (k.width, k.height) == (w as i32, h as i32) && k.has(ToplevelState::Fullscreen)
        });
        let activated = f.clients[c].state.windows[0]
            .last_configure()
            .unwrap()
            .has(ToplevelState::Activated);
        assert_eq!(activated, c == 2, "focus is kept across the swap");
    }
    assert_eq!(f.focused().as_deref(), Some("app2"));

    // Tablet: maximized above the on-screen keyboard's area.
    f.swap("tablet");
    let keyboard = (h as f32 * KEYBOARD_SHARE) as u32;
    for c in 0..3 {
        f.wait_configure(c, 0, "a maximized configure", |k| {
            (k.width, k.height) == (w as i32, (h - keyboard) as i32)
                && k.has(ToplevelState::Maximized)
        });
    }

    // Back to the desktop: the floating layout comes back as it was.
    f.swap("desktop");
    for c in 0..3 {
        f.wait_configure(c, 0, "the floating configure again", |k| {
            (k.width, k.height) == (800, 480) && !k.has(ToplevelState::Maximized)
        });
    }
    assert_eq!(f.windows().iter().map(|w| w.id).collect::<Vec<_>>(), ids);
    assert_eq!(f.focused().as_deref(), Some("app2"));
    assert_eq!(f.window("app2").geometry, top.geometry);
    for c in 0..3 {
        f.roundtrip(c);
        assert!(f.clients[c].protocol_error().is_none());
        assert!(!f.clients[c].state.windows[0].closed);
    }
}

#[test]
fn desktop_windows_go_maximized_and_fullscreen_when_they_ask() {
    let (w, h) = (1280, 720);
    let mut f = Fixture::new("desktop", w, h);
    let c = f.connect();
    f.open(c, "video", "Video", BLUE);

    f.clients[c].set_maximized(0, true);
    let work = h - TASKBAR - TITLE_BAR;
    f.wait_configure(c, 0, "maximized", |k| {
        k.has(ToplevelState::Maximized) && (k.width, k.height) == (w as i32, work as i32)
    });
    f.clients[c].set_fullscreen(0, true);
    f.wait_configure(c, 0, "fullscreen", |k| {
        k.has(ToplevelState::Fullscreen) && (k.width, k.height) == (w as i32, h as i32)
    });
    // Back: fullscreen off leaves it maximized, maximize off leaves it floating.
    f.clients[c].set_fullscreen(0, false);
    f.wait_configure(c, 0, "maximized again", |k| {
        k.has(ToplevelState::Maximized) && !k.has(ToplevelState::Fullscreen)
    });
    f.clients[c].set_maximized(0, false);
    f.wait_configure(c, 0, "floating again", |k| {
        !k.has(ToplevelState::Maximized) && (k.width, k.height) == (800, 480)
    });

    // In the gaming shell the app is fullscreen anyway; asking again still gets an answer.
    f.swap("gaming");
    f.wait_configure(c, 0, "gaming fullscreen", |k| {
        k.has(ToplevelState::Fullscreen)
    });
    let before = f.clients[c].state.windows[0].configures.len();
    f.clients[c].set_fullscreen(0, true);
    f.step_until("an answer", |f| {
        f.clients[c].state.windows[0].configures.len() > before
    });
}

/// A compositor stepped by hand: a client gets its window configured and its frame
/// callback, the window list answers between steps, and `Stop` makes the next step say
/// the compositor is done.
#[test]
fn a_compositor_stepped_by_hand_serves_a_client_and_stops() {
    let mut f = Fixture::new("desktop", 320, 240);
    let c = f.connect();
    let at = f.open(c, "stepped", "Stepped", [0, 200, 0, 255]);
    f.clients[c].animate(at);
    f.step_until("a frame callback", |f| {
        f.clients[c].state.windows[at].frames >= 1
    });
    let list = f.windows();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0].app_id, "stepped");
    assert!(list[0].frames >= 1, "{list:?}");
    assert!(!f.stop(), "a stopped compositor says so");
}
