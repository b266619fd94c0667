//! Shell policy without Wayland: random operations on a shell, invariants checked after
//! each one (as niri's layout tests do), and the swaps the compositor relies on.

use compose_shells::definition::builtin;
use compose_shells::policy::{KEYBOARD_SHARE, TASKBAR, TITLE_BAR};
use compose_shells::{Chrome, Shell, ShellDef};
use proptest::prelude::*;

fn shell(name: &str) -> ShellDef {
    builtin().into_iter().find(|s| s.name == name).unwrap()
}

#[derive(Debug, Clone)]
enum Op {
    /// A new window; `true` lets the shell decorate it (xdg-decoration server side).
    Add(bool),
    Close(usize),
    Focus(usize),
    Cycle,
    MoveResize(usize, i32, i32, u32, u32),
    Output(u32, u32),
    Swap(usize),
    Overlay,
    /// A panel of this height along the top edge (layer-shell exclusive zone).
    Panel(u32),
    Popup(usize),
    ClosePopup(usize),
    Maximize(usize, bool),
    Fullscreen(usize, bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => any::<bool>().prop_map(Op::Add),
        1 => (0..8usize).prop_map(Op::Close),
        2 => (0..8usize).prop_map(Op::Focus),
        1 => Just(Op::Cycle),
        1 => (0..8usize, -500..3000i32, -500..3000i32, 0..3000u32, 0..3000u32).prop_map(|(i, x, y, w, h)| Op::MoveResize(i, x, y, w, h)),
        1 => (200..4000u32, 200..3000u32).prop_map(|(w, h)| Op::Output(w, h)),
        2 => (0..3usize).prop_map(Op::Swap),
        1 => Just(Op::Overlay),
        1 => (0..=100u32).prop_map(Op::Panel),
        1 => (0..8usize).prop_map(Op::Popup),
        1 => (0..8usize).prop_map(Op::ClosePopup),
        1 => (0..8usize, any::<bool>()).prop_map(|(i, on)| Op::Maximize(i, on)),
        1 => (0..8usize, any::<bool>()).prop_map(|(i, on)| Op::Fullscreen(i, on)),
    ]
}

fn apply(s: &mut Shell, op: &Op) {
    let ids: Vec<u64> = s.windows().iter().map(|w| w.id).collect();
    let pick = |i: usize| ids.get(i % ids.len().max(1)).copied();
    match *op {
        Op::Add(server_side) => {
            // The app id says which kind it is, for the invariants.
            let id = s.add_window(if server_side { "ssd" } else { "csd" }, "title");
            s.set_server_side(id, server_side);
        }
        Op::Close(i) => {
            if let Some(id) = pick(i) {
                s.close(id);
            }
        }
        Op::Focus(i) => {
            if let Some(id) = pick(i) {
                s.focus(id);
            }
        }
        Op::Cycle => s.cycle_focus(),
        Op::MoveResize(i, x, y, w, h) => {
            if let Some(id) = pick(i) {
                s.move_resize(
                    id,
                    compose_shells::Rect {
                        x,
                        y,
                        width: w,
                        height: h,
                    },
                );
            }
        }
        Op::Output(w, h) => s.set_output(w, h),
        Op::Swap(i) => s.swap(builtin()[i].clone()),
        Op::Overlay => s.toggle_overlay(),
        Op::Popup(i) => {
            if let Some(id) = pick(i) {
                let popup = s.add_popup(
                    id,
                    compose_shells::Rect {
                        x: 10,
                        y: 10,
                        width: 100,
                        height: 50,
                    },
                );
                assert!(popup.is_some());
            }
        }
        Op::Maximize(i, on) => {
            if let Some(id) = pick(i) {
                assert!(s.request_maximized(id, on));
            }
        }
        Op::Fullscreen(i, on) => {
            if let Some(id) = pick(i) {
                assert!(s.request_fullscreen(id, on));
            }
        }
        Op::ClosePopup(i) => {
            let popups = s.popups();
            if let Some(p) = popups.get(i % popups.len().max(1)) {
                assert!(s.close_popup(p.id));
            }
        }
        Op::Panel(h) => {
            let o = s.output();
            s.reserve(compose_shells::Rect {
                x: 0,
                y: h as i32,
                width: o.width,
                height: o.height - h,
            });
        }
    }
}

/// What must hold in every shell after every operation.
fn verify_invariants(s: &Shell) {
    let windows = s.windows();
    let output = s.output();
    let usable = s.usable();
    let area = s.work_area();
    assert!(output.contains(&usable), "{usable:?} in {output:?}");
    // Lookups by id answer what the full list says.
    for w in &windows {
        assert_eq!(s.view(w.id).as_ref(), Some(w));
    }
    let last = windows.iter().map(|w| w.id).max().unwrap_or(0);
    assert_eq!(s.view(last + 1), None);
    assert_eq!(
        s.focused(),
        windows.iter().find(|w| w.states.activated).map(|w| w.id)
    );
    for p in s.popups() {
        assert!(
            windows.iter().any(|w| w.id == p.parent),
            "a popup outlives its window: {p:?}"
        );
    }
    assert_eq!(
        s.seat().focus,
        windows.iter().find(|w| w.states.activated).map(|w| w.id),
        "the seat's focus is the activated window"
    );
    assert_eq!(area.y, usable.y, "windows start below the panels");
    let focused: Vec<_> = windows.iter().filter(|w| w.states.activated).collect();
    if windows.is_empty() {
        assert!(focused.is_empty());
    } else {
        assert_eq!(focused.len(), 1, "exactly one focused window: {windows:?}");
        assert_eq!(
            focused[0].z,
            windows.len() - 1,
            "the focused window is on top"
        );
    }
    for (i, w) in windows.iter().enumerate() {
        assert_eq!(w.z, i);
        assert!(w.geometry.width > 0 && w.geometry.height > 0, "{w:?}");
    }
    match s.active().name.as_str() {
        "desktop" => {
            for w in &windows {
                if w.states.fullscreen {
                    assert_eq!(w.geometry, output, "fullscreen on request");
                    assert!(!w.states.decorated && !w.states.maximized);
                    continue;
                }
                assert!(
                    area.contains(&w.geometry),
                    "window inside the work area: {w:?} in {area:?}"
                );
                assert!(
                    !w.states.decorated
                        || w.geometry.y >= area.y + TITLE_BAR as i32
                        || area.height <= TITLE_BAR,
                    "room for the title bar: {w:?}"
                );
                assert_eq!(
                    w.states.decorated,
                    w.app_id != "csd",
                    "title bars exactly for windows the shell decorates: {w:?}"
                );
                if w.states.maximized {
                    assert_eq!(
                        (w.geometry.width, w.geometry.y + w.geometry.height as i32),
                        (area.width, area.y + area.height as i32),
                        "maximized fills the work area below its title bar"
                    );
                }
            }
            assert_eq!(area.height, usable.height - TASKBAR.min(usable.height));
            let taskbar = s.chrome().iter().any(
                |c| matches!(c, Chrome::Taskbar { entries, .. } if entries.len() == windows.len()),
            );
            let fullscreen_on_top = windows.last().is_some_and(|w| w.states.fullscreen);
            assert_eq!(
                taskbar, !fullscreen_on_top,
                "the task bar, unless a fullscreen app is on top"
            );
            let bars = s
                .chrome()
                .iter()
                .filter(|c| matches!(c, Chrome::TitleBar { .. }))
                .count();
            assert_eq!(bars, windows.iter().filter(|w| w.states.decorated).count());
        }
        "gaming" => {
            for w in &windows {
                assert_eq!(w.geometry, output, "fullscreen");
                assert!(w.states.fullscreen);
                assert_eq!(
                    w.states.throttled, !w.states.activated,
                    "only the focused app runs at full rate"
                );
            }
        }
        "tablet" => {
            let keyboard = (output.height as f32 * KEYBOARD_SHARE) as u32;
            for w in &windows {
                assert_eq!(w.geometry, area, "maximized above the keyboard");
                assert!(w.states.maximized && !w.states.decorated);
            }
            assert_eq!(area.height, usable.height - keyboard);
        }
        other => panic!("unknown shell {other}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_after_every_operation(ops in prop::collection::vec(op(), 1..40)) {
        let mut s = Shell::new(shell("desktop"), 1920, 1080);
        for op in &ops {
            apply(&mut s, op);
            verify_invariants(&s);
        }
    }

    #[test]
    fn swapping_keeps_every_window_and_focus(ops in prop::collection::vec(op(), 1..30), to in 0..3usize) {
        let mut s = Shell::new(shell("desktop"), 1920, 1080);
        for op in &ops {
            apply(&mut s, op);
        }
        let before: Vec<(u64, usize)> = s.windows().iter().map(|w| (w.id, w.z)).collect();
        let told = |s: &Shell| -> Vec<(u64, u32, u32, compose_shells::policy::States)> {
            s.windows().iter().map(|w| (w.id, w.geometry.width, w.geometry.height, w.states)).collect()
        };
        let old = told(&s);
        let focused = s.focused();
        s.take_configures();
        s.swap(builtin()[to].clone());
        let after: Vec<(u64, usize)> = s.windows().iter().map(|w| (w.id, w.z)).collect();
        prop_assert_eq!(before.clone(), after, "same windows, same stacking");
        prop_assert_eq!(focused, s.focused(), "focus is kept");
        let configures = s.take_configures();
        // Every window whose size or states changed is told, and only those.
        let mut changed: Vec<u64> = told(&s)
            .into_iter()
            .filter(|now| !old.contains(now))
            .map(|now| now.0)
            .collect();
        changed.sort();
        let mut configured: Vec<u64> = configures.iter().map(|c| c.0).collect();
        configured.sort();
        prop_assert_eq!(configured, changed, "configures for exactly the changed windows");
        for (id, w, h, states) in configures {
            let view = s.windows().into_iter().find(|v| v.id == id).unwrap();
            prop_assert_eq!((w, h, states), (view.geometry.width, view.geometry.height, view.states));
        }
        verify_invariants(&s);
    }
}

#[test]
fn desktop_to_gaming_to_tablet_and_back_restores_the_desktop() {
    let mut s = Shell::new(shell("desktop"), 1920, 1080);
    let a = s.add_window("org.example.editor", "Editor");
    let b = s.add_window("org.example.term", "Terminal");
    s.set_server_side(a, true);
    s.set_server_side(b, true);
    s.move_resize(
        a,
        compose_shells::Rect {
            x: 100,
            y: 120,
            width: 640,
            height: 480,
        },
    );
    s.focus(a);
    let desktop = s.windows();
    for name in ["gaming", "tablet", "desktop"] {
        s.swap(shell(name));
        verify_invariants(&s);
        assert_eq!(s.focused(), Some(a));
    }
    assert_eq!(
        s.windows(),
        desktop,
        "floating geometry survives the round trip"
    );
    assert!(s.windows().iter().any(|w| w.id == b));
}

#[test]
fn gaming_overlay_bar_toggles_and_a_swap_hides_it() {
    let mut s = Shell::new(shell("gaming"), 1280, 720);
    s.add_window("game", "Game");
    assert!(
        !s.chrome()
            .iter()
            .any(|c| matches!(c, Chrome::OverlayBar { .. }))
    );
    s.toggle_overlay();
    // The bar names the running app.
    assert!(
        s.chrome()
            .iter()
            .any(|c| matches!(c, Chrome::OverlayBar { app: Some(a), .. } if a == "Game"))
    );
    s.swap(shell("gaming"));
    assert!(
        !s.chrome()
            .iter()
            .any(|c| matches!(c, Chrome::OverlayBar { .. }))
    );
}

#[test]
fn tablet_puts_the_most_recent_app_on_top_and_cycles_through_the_others() {
    let mut s = Shell::new(shell("tablet"), 1200, 1920);
    let first = s.add_window("a", "A");
    let second = s.add_window("b", "B");
    assert_eq!(s.focused(), Some(second));
    s.cycle_focus();
    assert_eq!(
        s.focused(),
        Some(first),
        "the edge swipe brings the least recent app forward"
    );
    assert!(
        s.chrome()
            .iter()
            .any(|c| matches!(c, Chrome::Keyboard { .. }))
    );
}

#[test]
fn popups_layers_output_and_seat_are_entities_too() {
    use compose_shells::{LayerKind, Rect};
    let mut s = Shell::new(shell("desktop"), 1280, 720);
    assert_eq!(s.output_name(), "compose-0");
    let a = s.add_window("a", "A");
    let r = Rect {
        x: 5,
        y: 6,
        width: 70,
        height: 80,
    };
    let p = s.add_popup(a, r).unwrap();
    assert_eq!(s.add_popup(999, r), None, "no popup without its window");
    assert!(s.move_popup(p, Rect { x: 9, ..r }));
    assert_eq!(s.popups()[0].geometry.x, 9);
    let top = s.add_layer(LayerKind::Top, "panel");
    let wallpaper = s.add_layer(LayerKind::Background, "wallpaper");
    assert!(s.place_layer(
        top,
        Rect {
            x: 0,
            y: 0,
            width: 1280,
            height: 30
        }
    ));
    let layers = s.layers();
    assert_eq!(
        (layers[0].id, layers[1].id),
        (wallpaper, top),
        "bottom layer first"
    );
    assert_eq!(layers[1].geometry.height, 30);
    s.set_pointer(12.5, 40.0);
    assert_eq!(s.seat().pointer, (12.5, 40.0));
    assert_eq!(s.seat().name, "seat0");
    assert_eq!(s.seat().focus, Some(a));
    // Closing a window closes its popups; layers stay until closed themselves.
    s.close(a);
    assert!(s.popups().is_empty());
    assert_eq!(s.seat().focus, None);
    assert!(s.close_layer(top) && s.close_layer(wallpaper));
    assert!(s.layers().is_empty());
}

#[test]
fn the_cascade_starts_again_once_every_window_closed() {
    let mut s = Shell::new(shell("desktop"), 1920, 1080);
    let first = s.add_window("a", "A");
    let where_first = s.windows()[0].geometry;
    let second = s.add_window("b", "B");
    let where_second = s
        .windows()
        .iter()
        .find(|w| w.id == second)
        .unwrap()
        .geometry;
    assert_ne!(where_first, where_second, "the second window is cascaded");
    s.close(first);
    s.close(second);
    s.add_window("c", "C");
    assert_eq!(s.windows()[0].geometry, where_first);
}

// The gaming and tablet shells show the launcher's grid as their home screen while no app
// has a window (opened by the shell, put away when a window comes); the desktop never does.
#[test]
fn shells_that_show_one_app_at_a_time_have_a_home_screen() {
    use compose_shells::app_menu::MenuApp;
    let apps = vec![MenuApp {
        name: "Game".into(),
        categories: vec!["Game".into()],
    }];
    let mut s = Shell::new(shell("gaming"), 800, 600);
    assert!(!s.app_menu().is_open(), "no apps, no home");
    s.set_menu_apps(apps.clone());
    assert!(s.app_menu().is_home(), "no window: the library");
    let id = s.add_window("game", "Game");
    assert!(!s.app_menu().is_open(), "a window puts it away");
    s.close(id);
    assert!(s.app_menu().is_home(), "the last window gone: home again");
    s.swap(shell("desktop"));
    assert!(!s.app_menu().is_open(), "the desktop has no home screen");
    s.swap(shell("tablet"));
    assert!(s.app_menu().is_home());
    // Opened by the user over an app (the tablet's swipe up), it stays with the app.
    let id = s.add_window("notes", "Notes");
    assert!(s.go_home());
    assert!(s.app_menu().is_open() && !s.app_menu().is_home());
    s.set_content_size(id, 800, 390);
    assert!(s.app_menu().is_open());
}
