//! Shell policy as bevy_ecs data and systems: toplevels, popups, layer surfaces, the output
//! and the seat are entities; windows carry geometry, stacking, states and focus; the
//! active shell's layout runs as a system schedule over them. A swap replaces the active
//! shell and re-lays every window in one step.

use std::collections::HashMap;

use bevy_ecs::prelude::*;

use crate::app_menu::{AppMenu, MenuApp, MenuView};
use crate::definition::{Layout, Part, ShellDef};
use crate::lock::{LockScreen, LockView};
use crate::notifications::{self, Notifications, PopupHit};
use crate::switcher::{Switcher, SwitcherView};

pub type WindowId = u64;

pub const TITLE_BAR: u32 = 28;
pub const TASKBAR: u32 = 40;
pub const OVERLAY_BAR: u32 = 56;
pub const EDGE_SWITCHER: u32 = 16;
/// Share of the output height kept for the on-screen keyboard.
pub const KEYBOARD_SHARE: f32 = 0.35;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rect {
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
}

impl Rect {
    /// Whether the point (x, y) is inside (left and top edges in, right and bottom out).
    pub fn contains_point(&self, x: f64, y: f64) -> bool {
        x >= self.x as f64
            && y >= self.y as f64
            && x < (self.x + self.width as i32) as f64
            && y < (self.y + self.height as i32) as f64
    }

    pub fn contains(&self, other: &Rect) -> bool {
        other.x >= self.x
            && other.y >= self.y
            && other.x + other.width as i32 <= self.x + self.width as i32
            && other.y + other.height as i32 <= self.y + self.height as i32
    }
}

/// What a client is told in a configure: its size and states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct States {
    pub maximized: bool,
    pub fullscreen: bool,
    pub activated: bool,
    /// Drawn with a server-side title bar.
    pub decorated: bool,
    /// Gets fewer frame callbacks (an unfocused app in the gaming shell).
    pub throttled: bool,
}

#[derive(Component, Debug, Clone)]
struct Window {
    id: WindowId,
    app_id: String,
    title: String,
}

/// Where the window is shown now.
#[derive(Component, Debug, Clone, Copy)]
struct Geometry(Rect);

/// Where the window sits in the floating layout; kept across swaps so the desktop
/// comes back as it was.
#[derive(Component, Debug, Clone, Copy)]
struct Floating(Rect);

#[derive(Component, Debug, Clone, Copy, Default)]
struct WindowStates(States);

/// What the client asked for (xdg_toplevel set_maximized / set_fullscreen); shells whose
/// layout already fills the screen have nothing more to give.
#[derive(Component, Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Requested {
    maximized: bool,
    fullscreen: bool,
}

/// The client agreed to server-side decorations (xdg-decoration): the shell draws its
/// title bar. Clients that never bind xdg-decoration, or ask for client-side, draw their
/// own, so they get none (no double title bars).
#[derive(Component, Debug, Clone, Copy, Default, PartialEq, Eq)]
struct ServerSide(bool);

/// The client's size limits (xdg_toplevel set_min_size / set_max_size); 0 means none.
#[derive(Component, Debug, Clone, Copy, Default, PartialEq, Eq)]
struct SizeHints {
    min: (u32, u32),
    max: (u32, u32),
}

/// The size the client drew (its window geometry), once it committed a buffer. Clients
/// may draw smaller than configured (weston-flower stays 200x200) or, within their
/// minimum size, larger.
#[derive(Component, Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Content(Option<(u32, u32)>);

/// The layout's `Geometry` after the client's hints and content: the size the client is
/// configured with (clamped to its limits), and where the window is shown (its drawn size,
/// centered in a maximized or fullscreen slot, at the slot's corner when floating).
#[derive(Component, Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Fitted {
    configure: (u32, u32),
    shown: Rect,
}

/// Higher is closer to the viewer; also the most-recently-used order.
#[derive(Component, Debug, Clone, Copy)]
struct Stacking(u64);

#[derive(Component, Debug)]
struct Focused;

/// Minimized (the task bar's entry, a title bar button, Super+Down, or the client's
/// set_minimized): not shown, not hit, not focused, still on the task bar.
#[derive(Component, Debug)]
struct Minimized;

/// A half of the work area a floating window is snapped to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Left,
    Right,
}

/// The last configure a client was sent.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq)]
struct Sent(u32, u32, States);

/// The output (one for now): its area and the part of it panels leave free
/// (layer-shell exclusive zones); windows that are not fullscreen stay inside `usable`.
#[derive(Component, Debug, Clone)]
struct Output {
    name: String,
    rect: Rect,
    usable: Rect,
}

/// The seat: where its pointer is (output coordinates). Focus is the `Focused` window.
#[derive(Component, Debug, Clone)]
struct Seat {
    name: String,
    pointer: (f64, f64),
}

pub type PopupId = u64;
pub type LayerId = u64;

/// A popup (menu, tooltip) of a window; its `Geometry` is relative to the window's.
#[derive(Component, Debug, Clone, Copy)]
struct Popup {
    id: PopupId,
    parent: WindowId,
}

/// Which layer-shell layer a surface is on, bottom to top.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LayerKind {
    Background,
    Bottom,
    Top,
    Overlay,
}

/// A layer-shell surface (panel, wallpaper, notification); `Geometry` in output
/// coordinates.
#[derive(Component, Debug, Clone)]
struct LayerSurface {
    id: LayerId,
    layer: LayerKind,
    namespace: String,
}

#[derive(Resource, Debug, Clone)]
struct Active(ShellDef);

#[derive(Resource, Debug, Clone, Copy, Default)]
struct OverlayVisible(bool);

/// The names of the apps the task bar can start, left to right.
#[derive(Resource, Debug, Clone, Default)]
struct Launchers(Vec<String>);

/// The width of a launcher button on the task bar.
pub const LAUNCHER_WIDTH: u32 = 110;

/// What the status part shows (the compositor reads clocks and batteries; policy places it).
#[derive(Resource, Debug, Clone, Default)]
struct StatusText(String);

/// The width of the status area at the right end of a bar.
pub const STATUS_WIDTH: u32 = 220;

/// The width of the launcher's start button at the task bar's left end.
pub const START_WIDTH: u32 = 72;

/// The area windows may use in the active shell: the usable part of the output less the
/// shell's chrome.
fn work_area(output: Rect, usable: Rect, shell: &ShellDef) -> Rect {
    let mut area = usable;
    if shell.has(Part::Taskbar) {
        area.height = area.height.saturating_sub(TASKBAR);
    }
    if shell.has(Part::OnScreenKeyboard) {
        area.height = area.height.saturating_sub(keyboard_height(output));
    }
    area.height = area.height.max(1);
    area
}

/// The height of the title bar the shell draws over a window: only shells with title bars
/// draw them, and only for windows whose client let the shell decorate them.
fn title_bar_height(shell: &ShellDef, server_side: bool) -> u32 {
    if shell.has(Part::TitleBars) && server_side {
        TITLE_BAR
    } else {
        0
    }
}

/// The close button of a title bar: a square at its right end.
pub fn close_button(title_bar: Rect) -> Rect {
    title_button(title_bar, 0)
}

/// The maximize button: left of the close button.
pub fn maximize_button(title_bar: Rect) -> Rect {
    title_button(title_bar, 1)
}

/// The minimize button: left of the maximize button.
pub fn minimize_button(title_bar: Rect) -> Rect {
    title_button(title_bar, 2)
}

/// The `index`th square button from a title bar's right end (none left of its left end).
fn title_button(title_bar: Rect, index: i32) -> Rect {
    let side = title_bar.height.saturating_sub(8).min(title_bar.width);
    let x = title_bar.x + title_bar.width as i32 - (side as i32 + 4) * (index + 1);
    Rect {
        x: x.max(title_bar.x),
        y: title_bar.y + 4,
        width: if x < title_bar.x { 0 } else { side },
        height: side,
    }
}

/// The task bar along the output's bottom edge.
fn taskbar_rect(output: Rect) -> Rect {
    Rect {
        x: 0,
        y: (output.height - TASKBAR.min(output.height)) as i32,
        width: output.width,
        height: TASKBAR.min(output.height),
    }
}

/// The launcher's start button at the task bar's left end.
fn start_button(bar: Rect) -> Rect {
    Rect {
        x: bar.x + 4,
        y: bar.y + 4,
        width: START_WIDTH.min(bar.width),
        height: bar.height.saturating_sub(8),
    }
}

fn keyboard_height(output: Rect) -> u32 {
    (output.height as f32 * KEYBOARD_SHARE) as u32
}

/// Desktop: floating geometry, clamped into the work area below a title bar; a window
/// that asked for it is maximized (work area, title bar kept) or fullscreen (the whole
/// output, no chrome).
fn floating_layout(
    output: Single<&Output>,
    active: Res<Active>,
    mut windows: Query<(
        &Floating,
        &Requested,
        &ServerSide,
        &mut Geometry,
        &mut WindowStates,
    )>,
) {
    let area = work_area(output.rect, output.usable, &active.0);
    for (floating, requested, server_side, mut geometry, mut states) in &mut windows {
        let bar = title_bar_height(&active.0, server_side.0);
        if requested.fullscreen {
            geometry.0 = output.rect;
            states.0 = States {
                fullscreen: true,
                ..States::default()
            };
            continue;
        }
        if requested.maximized {
            geometry.0 = Rect {
                y: area.y + bar as i32,
                height: area.height.saturating_sub(bar).max(1),
                ..area
            };
            states.0 = States {
                maximized: true,
                decorated: bar > 0,
                ..States::default()
            };
            continue;
        }
        let mut r = floating.0;
        r.width = r.width.clamp(1, area.width.max(1));
        r.height = r.height.clamp(1, area.height.saturating_sub(bar).max(1));
        let max_x = area.x + (area.width - r.width) as i32;
        let max_y = area.y + (area.height - r.height) as i32;
        r.x = r.x.clamp(area.x, max_x.max(area.x));
        r.y =
            r.y.clamp(area.y + bar as i32, max_y.max(area.y + bar as i32));
        geometry.0 = r;
        states.0 = States {
            decorated: bar > 0,
            ..States::default()
        };
    }
}

/// Gaming: every window fullscreen; only the focused one runs at full rate.
fn fullscreen_layout(
    output: Single<&Output>,
    mut windows: Query<(&mut Geometry, &mut WindowStates, Has<Focused>)>,
) {
    for (mut geometry, mut states, focused) in &mut windows {
        geometry.0 = output.rect;
        states.0 = States {
            fullscreen: true,
            throttled: !focused,
            ..States::default()
        };
    }
}

/// Tablet: every window maximized into the work area (above the keyboard).
fn maximized_layout(
    output: Single<&Output>,
    active: Res<Active>,
    mut windows: Query<(&mut Geometry, &mut WindowStates)>,
) {
    let area = work_area(output.rect, output.usable, &active.0);
    for (mut geometry, mut states) in &mut windows {
        geometry.0 = area;
        states.0 = States {
            maximized: true,
            ..States::default()
        };
    }
}

/// `value` within the limits `min` and `max` (0 = no limit); never 0.
fn clamp_hint(value: u32, min: u32, max: u32) -> u32 {
    let value = if max > 0 { value.min(max) } else { value };
    value.max(min).max(1)
}

/// Every shell: sizes within the client's limits, and windows shown at the size they
/// drew, so title bars, close buttons and hit tests follow what is on screen.
fn fit(mut windows: Query<(&Geometry, &SizeHints, &Content, &WindowStates, &mut Fitted)>) {
    for (geometry, hints, content, states, mut fitted) in &mut windows {
        let slot = geometry.0;
        let configure = (
            clamp_hint(slot.width, hints.min.0, hints.max.0),
            clamp_hint(slot.height, hints.min.1, hints.max.1),
        );
        let (width, height) = content.0.unwrap_or(configure);
        let centered = states.0.maximized || states.0.fullscreen;
        let offset = |room: u32, size: u32| {
            if centered {
                (room.saturating_sub(size) / 2) as i32
            } else {
                0
            }
        };
        let shown = Rect {
            x: slot.x + offset(slot.width, width),
            y: slot.y + offset(slot.height, height),
            width: width.max(1),
            height: height.max(1),
        };
        let now = Fitted { configure, shown };
        if *fitted != now {
            *fitted = now;
        }
    }
}

/// Every shell: the focused window is the activated one.
fn activation(mut windows: Query<(&mut WindowStates, Has<Focused>)>) {
    for (mut states, focused) in &mut windows {
        states.0.activated = focused;
    }
}

/// A window as the compositor and renderer see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowView {
    pub id: WindowId,
    pub app_id: String,
    pub title: String,
    pub geometry: Rect,
    pub states: States,
    /// Position from the bottom (0) up.
    pub z: usize,
    /// Hidden until restored (`windows()` leaves it out; `all_windows()` has it).
    pub minimized: bool,
}

/// A popup as the compositor sees it; `geometry` is relative to its parent surface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PopupView {
    pub id: PopupId,
    pub parent: WindowId,
    pub geometry: Rect,
}

/// A layer surface as the compositor placed it (output coordinates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerView {
    pub id: LayerId,
    pub layer: LayerKind,
    pub namespace: String,
    pub geometry: Rect,
}

/// The seat: its name, pointer position and the window with the keyboard.
#[derive(Debug, Clone, PartialEq)]
pub struct SeatView {
    pub name: String,
    pub pointer: (f64, f64),
    pub focus: Option<WindowId>,
}

/// Shell-drawn elements of a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chrome {
    TitleBar {
        window: WindowId,
        rect: Rect,
        focused: bool,
        /// The close button at its right end, maximize and minimize left of it.
        close: Rect,
        maximize: Rect,
        minimize: Rect,
    },
    Taskbar {
        rect: Rect,
        /// Apps to start (name, button), at the left end.
        launchers: Vec<(String, Rect)>,
        /// A button per window, after the launchers (minimized windows too).
        entries: Vec<TaskEntry>,
    },
    OverlayBar {
        rect: Rect,
        /// The running app (the focused window's title, else its app id), named at the left.
        app: Option<String>,
    },
    Keyboard {
        rect: Rect,
    },
    EdgeSwitcher {
        rect: Rect,
    },
    /// A notification's popup (notifications part), above windows and panels.
    Notification(notifications::Popup),
    /// Clock and battery (status part) at the right end of a bar.
    Status {
        rect: Rect,
        text: String,
    },
    /// The launcher's start button, at the task bar's left end.
    StartButton {
        rect: Rect,
        open: bool,
    },
    /// The launcher's menu (desktop) or grid (elsewhere), while open.
    AppMenu(MenuView),
    /// The window switcher, while Alt is held after Alt+Tab (desktop).
    Switcher(SwitcherView),
}

/// A window's button on the task bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskEntry {
    pub window: WindowId,
    pub title: String,
    pub rect: Rect,
    pub focused: bool,
    pub minimized: bool,
}

/// What a press at a point does to the app menu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MenuHit {
    /// The start button: opens or closes the menu.
    StartButton,
    /// An app of the menu (its index in the menu's list): started, and the menu closes.
    App(usize),
    /// Elsewhere on the open menu: nothing.
    Menu,
    /// Outside the open menu: it closes.
    Outside,
}

/// The running shell: one World, the active definition, and a schedule per layout.
pub struct Shell {
    world: World,
    schedules: HashMap<Layout, Schedule>,
    /// Each open window's entity: lookups by id do not search the world.
    by_id: HashMap<WindowId, Entity>,
    next_id: WindowId,
    next_stack: u64,
}

impl std::fmt::Debug for Shell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shell")
            .field("active", &self.active().name)
            .field("windows", &self.windows().len())
            .finish()
    }
}

impl Shell {
    pub fn new(def: ShellDef, width: u32, height: u32) -> Shell {
        let mut world = World::new();
        let output = Rect {
            x: 0,
            y: 0,
            width,
            height,
        };
        world.spawn(Output {
            name: "compose-0".into(),
            rect: output,
            usable: output,
        });
        world.spawn(Seat {
            name: "seat0".into(),
            pointer: (0.0, 0.0),
        });
        world.insert_resource(Active(def));
        world.insert_resource(OverlayVisible::default());
        world.insert_resource(Launchers::default());
        world.insert_resource(Notifications::default());
        world.insert_resource(AppMenu::default());
        world.insert_resource(LockScreen::default());
        world.insert_resource(Switcher::default());
        world.insert_resource(StatusText::default());
        let mut schedules = HashMap::new();
        let mut floating = Schedule::default();
        floating.add_systems((floating_layout, fit, activation).chain());
        schedules.insert(Layout::Floating, floating);
        let mut fullscreen = Schedule::default();
        fullscreen.add_systems((fullscreen_layout, fit, activation).chain());
        schedules.insert(Layout::FocusedFullscreen, fullscreen);
        let mut maximized = Schedule::default();
        maximized.add_systems((maximized_layout, fit, activation).chain());
        schedules.insert(Layout::MaximizedStack, maximized);
        let mut shell = Shell {
            world,
            schedules,
            by_id: HashMap::new(),
            next_id: 1,
            next_stack: 1,
        };
        shell.relayout();
        shell
    }

    pub fn active(&self) -> &ShellDef {
        &self.world.resource::<Active>().0
    }

    pub fn output(&self) -> Rect {
        self.output_entity().rect
    }

    fn output_entity(&self) -> &Output {
        let mut q = self
            .world
            .try_query::<&Output>()
            .expect("Output is registered");
        q.single(&self.world).expect("Shell::new spawns one output")
    }

    fn output_mut(&mut self) -> Mut<'_, Output> {
        let mut q = self.world.query::<&mut Output>();
        q.single_mut(&mut self.world)
            .expect("Shell::new spawns one output")
    }

    /// Runs the active shell's systems.
    fn relayout(&mut self) {
        let layout = self.active().layout;
        if let Some(schedule) = self.schedules.get_mut(&layout) {
            schedule.run(&mut self.world);
        }
        self.update_home();
    }

    /// Shells that show one app at a time (gaming, tablet) show their launcher's grid as
    /// the home screen while no app has a window, and put it away when one comes (the game
    /// library of a console, a tablet's home screen).
    fn update_home(&mut self) {
        let shell = self.active();
        let has_home = shell.layout != Layout::Floating && shell.has(Part::Launcher);
        let no_window = self
            .world
            .query::<&Window>()
            .iter(&self.world)
            .next()
            .is_none();
        let menu = self.app_menu();
        if has_home && no_window && !menu.is_open() && !menu.apps().is_empty() {
            self.app_menu_mut().open_home();
        } else if menu.is_home() && !(has_home && no_window) {
            self.app_menu_mut().close();
        }
    }

    /// Shows the launcher's grid over the apps (the tablet's swipe up from the bottom edge);
    /// whether this shell has one.
    pub fn go_home(&mut self) -> bool {
        if !self.active().has(Part::Launcher) {
            return false;
        }
        if !self.app_menu().is_open() {
            self.app_menu_mut().toggle();
        }
        true
    }

    fn entity(&self, id: WindowId) -> Option<Entity> {
        self.by_id.get(&id).copied()
    }

    /// A new toplevel: placed by the shell, on top, focused.
    pub fn add_window(&mut self, app_id: &str, title: &str) -> WindowId {
        let id = self.next_id;
        self.next_id += 1;
        // The cascade follows the windows open now: with none left it starts again.
        let open = self.world.query::<&Window>().iter(&self.world).count();
        let n = (open % 10) as i32;
        let output = self.output();
        let floating = Rect {
            x: 40 + 32 * n,
            y: 40 + 32 * n,
            width: 800.min(output.width * 2 / 3).max(1),
            height: 600.min(output.height * 2 / 3).max(1),
        };
        let stack = self.next_stack;
        self.next_stack += 1;
        let entity = self
            .world
            .spawn((
                Window {
                    id,
                    app_id: app_id.into(),
                    title: title.into(),
                },
                Floating(floating),
                Geometry(floating),
                WindowStates::default(),
                Requested::default(),
                ServerSide::default(),
                SizeHints::default(),
                Content::default(),
                Fitted::default(),
                Stacking(stack),
            ))
            .id();
        self.by_id.insert(id, entity);
        self.set_focus(Some(entity));
        self.relayout();
        id
    }

    /// Removes a window and its popups; focus goes to the most recently used one left.
    pub fn close(&mut self, id: WindowId) -> bool {
        self.world.resource_mut::<Switcher>().forget(id);
        let Some(entity) = self.by_id.remove(&id) else {
            return false;
        };
        self.world.despawn(entity);
        let popups: Vec<Entity> = self
            .world
            .query::<(Entity, &Popup)>()
            .iter(&self.world)
            .filter(|(_, p)| p.parent == id)
            .map(|(e, _)| e)
            .collect();
        for e in popups {
            self.world.despawn(e);
        }
        let top = self.top();
        self.set_focus(top);
        self.relayout();
        true
    }

    fn top(&mut self) -> Option<Entity> {
        let mut q = self.world.query::<(Entity, &Stacking)>();
        q.iter(&self.world).max_by_key(|(_, s)| s.0).map(|(e, _)| e)
    }

    fn set_focus(&mut self, entity: Option<Entity>) {
        let focused: Vec<Entity> = self
            .world
            .query_filtered::<Entity, With<Focused>>()
            .iter(&self.world)
            .collect();
        for e in focused {
            self.world.entity_mut(e).remove::<Focused>();
        }
        if let Some(e) = entity {
            let stack = self.next_stack;
            self.next_stack += 1;
            self.world.entity_mut(e).insert((Focused, Stacking(stack)));
        }
    }

    /// Click-to-focus (and raise); a minimized window is restored.
    pub fn focus(&mut self, id: WindowId) -> bool {
        let Some(entity) = self.entity(id) else {
            return false;
        };
        self.world.entity_mut(entity).remove::<Minimized>();
        self.set_focus(Some(entity));
        self.relayout();
        true
    }

    /// Alt+Tab, gamepad next, edge swipe: focus the least recently used window (restoring
    /// it if it was minimized).
    pub fn cycle_focus(&mut self) {
        let mut q = self.world.query::<(Entity, &Stacking)>();
        let bottom = q.iter(&self.world).min_by_key(|(_, s)| s.0).map(|(e, _)| e);
        if let Some(e) = bottom {
            self.world.entity_mut(e).remove::<Minimized>();
            self.set_focus(bottom);
            self.relayout();
        }
    }

    /// Alt+Tab on the desktop: opens the switcher over every window, most recently used
    /// first, or steps its selection (`back`: Shift+Tab). Elsewhere, and with one window, it
    /// cycles the focus at once. Returns whether the switcher is open.
    pub fn switcher_step(&mut self, back: bool) -> bool {
        if self.active().layout != Layout::Floating {
            self.cycle_focus();
            return false;
        }
        if self.world.resource::<Switcher>().is_open() {
            self.world.resource_mut::<Switcher>().step(back);
            return true;
        }
        let mut mru = self.all_windows();
        mru.sort_by_key(|w| std::cmp::Reverse(w.z));
        // The focused window first, whatever its stacking.
        if let Some(f) = self.focused()
            && let Some(i) = mru.iter().position(|w| w.id == f)
        {
            let w = mru.remove(i);
            mru.insert(0, w);
        }
        let mut switcher = self.world.resource_mut::<Switcher>();
        switcher.open(mru.into_iter().map(|w| w.id).collect());
        if back {
            switcher.step(true);
            switcher.step(true);
        }
        switcher.is_open()
    }

    /// Alt released: focuses (and restores) the switcher's selection, if it was open.
    pub fn switcher_finish(&mut self) -> bool {
        match self.world.resource_mut::<Switcher>().finish() {
            Some(id) => self.focus(id),
            None => false,
        }
    }

    /// Hides window `id` until it is focused again; the focus goes to the topmost window
    /// still shown. Minimized windows sink to the bottom of the stack.
    pub fn minimize(&mut self, id: WindowId) -> bool {
        let Some(entity) = self.entity(id) else {
            return false;
        };
        let lowest = self
            .world
            .query::<&Stacking>()
            .iter(&self.world)
            .map(|s| s.0)
            .min()
            .unwrap_or(1);
        self.world
            .entity_mut(entity)
            .insert((Minimized, Stacking(lowest.saturating_sub(1))))
            .remove::<Focused>();
        let top = self
            .world
            .query_filtered::<(Entity, &Stacking), Without<Minimized>>()
            .iter(&self.world)
            .max_by_key(|(_, s)| s.0)
            .map(|(e, _)| e);
        if let Some(top) = top {
            self.world.entity_mut(top).insert(Focused);
        }
        self.relayout();
        true
    }

    /// A click on window `id`'s task bar entry: restores and focuses it; if it is the
    /// focused window already, minimizes it (as Windows' task bar does).
    pub fn taskbar_click(&mut self, id: WindowId) -> bool {
        if self.focused() == Some(id) {
            self.minimize(id)
        } else {
            self.focus(id)
        }
    }

    /// The maximize button and Super+Up: maximized, or back to its floating place.
    pub fn toggle_maximized(&mut self, id: WindowId) -> bool {
        let Some(entity) = self.entity(id) else {
            return false;
        };
        let on = self
            .world
            .get::<Requested>(entity)
            .is_some_and(|r| r.maximized);
        self.request_maximized(id, !on)
    }

    /// Super+Left / Super+Right: the floating window fills that half of the work area
    /// (not maximized any more).
    pub fn snap(&mut self, id: WindowId, side: Side) -> bool {
        let Some(entity) = self.entity(id) else {
            return false;
        };
        let area = self.work_area();
        let bar = title_bar_height(
            self.active(),
            self.world.get::<ServerSide>(entity).is_some_and(|s| s.0),
        );
        let half = area.width / 2;
        let rect = Rect {
            x: match side {
                Side::Left => area.x,
                Side::Right => area.x + half as i32,
            },
            y: area.y + bar as i32,
            width: half,
            height: area.height.saturating_sub(bar).max(1),
        };
        if let Some(mut r) = self.world.get_mut::<Requested>(entity) {
            r.maximized = false;
        }
        self.move_resize(id, rect)
    }

    /// The task bar entry at (x, y), if any: its window.
    pub fn task_entry_at(&self, x: f64, y: f64) -> Option<WindowId> {
        self.chrome().into_iter().find_map(|c| match c {
            Chrome::Taskbar { entries, .. } => entries
                .iter()
                .find(|e| e.rect.contains_point(x, y))
                .map(|e| e.window),
            _ => None,
        })
    }

    /// A client named its window (xdg app id and title).
    pub fn set_names(&mut self, id: WindowId, app_id: &str, title: &str) -> bool {
        let Some(entity) = self.entity(id) else {
            return false;
        };
        if let Some(mut w) = self.world.get_mut::<Window>(entity) {
            w.app_id = app_id.to_string();
            w.title = title.to_string();
        }
        true
    }

    /// The client asked to be maximized (or not).
    pub fn request_maximized(&mut self, id: WindowId, on: bool) -> bool {
        self.request(id, |r| r.maximized = on)
    }

    /// The client asked to be fullscreen (or not).
    pub fn request_fullscreen(&mut self, id: WindowId, on: bool) -> bool {
        self.request(id, |r| r.fullscreen = on)
    }

    fn request(&mut self, id: WindowId, change: impl FnOnce(&mut Requested)) -> bool {
        let Some(entity) = self.entity(id) else {
            return false;
        };
        if let Some(mut r) = self.world.get_mut::<Requested>(entity) {
            change(&mut r);
        }
        self.relayout();
        true
    }

    /// Whether the shell decorates window `id` (xdg-decoration's server-side mode).
    pub fn set_server_side(&mut self, id: WindowId, on: bool) -> bool {
        let Some(entity) = self.entity(id) else {
            return false;
        };
        self.world.entity_mut(entity).insert(ServerSide(on));
        self.relayout();
        true
    }

    /// The client's size limits (0 = no limit): configures stay within them. Returns
    /// whether they changed (false for an unknown window too).
    pub fn set_size_hints(&mut self, id: WindowId, min: (u32, u32), max: (u32, u32)) -> bool {
        let Some(entity) = self.entity(id) else {
            return false;
        };
        let hints = SizeHints { min, max };
        if self.world.get::<SizeHints>(entity) == Some(&hints) {
            return false;
        }
        self.world.entity_mut(entity).insert(hints);
        self.relayout();
        true
    }

    /// The client committed a buffer whose window geometry is `width` x `height`: the
    /// window is shown at that size. Returns whether the size changed (false for an
    /// unknown window too).
    pub fn set_content_size(&mut self, id: WindowId, width: u32, height: u32) -> bool {
        let Some(entity) = self.entity(id) else {
            return false;
        };
        let content = Content(Some((width, height)));
        if self.world.get::<Content>(entity) == Some(&content) {
            return false;
        }
        self.world.entity_mut(entity).insert(content);
        self.relayout();
        true
    }

    /// Moves and resizes a window in the floating layout (what dragging does); a
    /// maximized or fullscreen window goes back to floating.
    pub fn move_resize(&mut self, id: WindowId, rect: Rect) -> bool {
        let Some(entity) = self.entity(id) else {
            return false;
        };
        self.world
            .entity_mut(entity)
            .insert((Floating(rect), Requested::default()));
        self.relayout();
        true
    }

    /// The output changed size; nothing is reserved on it until `reserve` says so.
    pub fn set_output(&mut self, width: u32, height: u32) {
        let output = Rect {
            x: 0,
            y: 0,
            width,
            height,
        };
        {
            let mut o = self.output_mut();
            o.rect = output;
            o.usable = output;
        }
        self.relayout();
    }

    /// Panels reserve the output outside `usable` (clamped to the output): windows that
    /// are not fullscreen keep out of it.
    pub fn reserve(&mut self, usable: Rect) {
        let output = self.output();
        let x0 = usable.x.clamp(output.x, output.x + output.width as i32 - 1);
        let y0 = usable
            .y
            .clamp(output.y, output.y + output.height as i32 - 1);
        let x1 = (usable.x as i64 + usable.width as i64)
            .clamp(x0 as i64 + 1, output.x as i64 + output.width as i64) as i32;
        let y1 = (usable.y as i64 + usable.height as i64)
            .clamp(y0 as i64 + 1, output.y as i64 + output.height as i64) as i32;
        let clamped = Rect {
            x: x0,
            y: y0,
            width: (x1 - x0) as u32,
            height: (y1 - y0) as u32,
        };
        if self.output_entity().usable != clamped {
            self.output_mut().usable = clamped;
            self.relayout();
        }
    }

    /// Gaming's overlay bar (a key or the Guide button).
    pub fn toggle_overlay(&mut self) {
        let mut visible = self.world.resource_mut::<OverlayVisible>();
        visible.0 = !visible.0;
    }

    /// Swaps the shell: the old layout's state is left behind, the new one lays out every
    /// window, in one step. Windows, their ids, stacking and focus are kept.
    pub fn swap(&mut self, def: ShellDef) {
        self.world.insert_resource(Active(def));
        self.world.insert_resource(OverlayVisible::default());
        self.relayout();
    }

    /// The windows on screen, from the bottom up (minimized ones are not).
    pub fn windows(&self) -> Vec<WindowView> {
        let mut list = self.all_windows();
        list.retain(|w| !w.minimized);
        list
    }

    /// Every window, minimized ones too, from the bottom up.
    pub fn all_windows(&self) -> Vec<WindowView> {
        let mut list: Vec<(u64, WindowView)> = Vec::new();
        let world = &self.world;
        for entity in world.iter_entities() {
            let (Some(w), Some(g), Some(s), Some(z)) = (
                entity.get::<Window>(),
                entity.get::<Fitted>(),
                entity.get::<WindowStates>(),
                entity.get::<Stacking>(),
            ) else {
                continue;
            };
            list.push((
                z.0,
                WindowView {
                    id: w.id,
                    app_id: w.app_id.clone(),
                    title: w.title.clone(),
                    geometry: g.shown,
                    states: s.0,
                    z: 0,
                    minimized: entity.contains::<Minimized>(),
                },
            ));
        }
        list.sort_by_key(|(z, _)| *z);
        list.into_iter()
            .enumerate()
            .map(|(i, (_, mut v))| {
                v.z = i;
                v
            })
            .collect()
    }

    /// Every window by id, minimized ones too (one pass over the world, for callers that
    /// look up many).
    pub fn windows_by_id(&self) -> HashMap<WindowId, WindowView> {
        self.all_windows().into_iter().map(|v| (v.id, v)).collect()
    }

    /// Window `id` as the compositor draws it (one window: nothing is sorted or cloned but
    /// its own names).
    pub fn view(&self, id: WindowId) -> Option<WindowView> {
        let entity = self.world.entity(self.entity(id)?);
        let (w, g, s, z) = (
            entity.get::<Window>()?,
            entity.get::<Fitted>()?,
            entity.get::<WindowStates>()?,
            entity.get::<Stacking>()?,
        );
        let below = self
            .by_id
            .values()
            .filter_map(|e| self.world.get::<Stacking>(*e))
            .filter(|other| other.0 < z.0)
            .count();
        Some(WindowView {
            id: w.id,
            app_id: w.app_id.clone(),
            title: w.title.clone(),
            geometry: g.shown,
            states: s.0,
            z: below,
            minimized: entity.contains::<Minimized>(),
        })
    }

    /// Windows that get fewer frame callbacks (unfocused apps in the gaming shell).
    pub fn throttled(&self) -> Vec<WindowId> {
        self.by_id
            .iter()
            .filter(|(_, e)| {
                self.world
                    .get::<WindowStates>(**e)
                    .is_some_and(|s| s.0.throttled)
            })
            .map(|(id, _)| *id)
            .collect()
    }

    pub fn focused(&self) -> Option<WindowId> {
        self.by_id
            .iter()
            .find(|(_, e)| {
                self.world
                    .get::<WindowStates>(**e)
                    .is_some_and(|s| s.0.activated)
            })
            .map(|(id, _)| *id)
    }

    /// Configures the compositor must send: every window whose size or states changed
    /// since the last call.
    pub fn take_configures(&mut self) -> Vec<(WindowId, u32, u32, States)> {
        let mut out = Vec::new();
        let mut q = self
            .world
            .query::<(Entity, &Window, &Fitted, &WindowStates, Option<&Sent>)>();
        let changes: Vec<(Entity, WindowId, Sent)> = q
            .iter(&self.world)
            .filter_map(|(e, w, f, s, sent)| {
                let now = Sent(f.configure.0, f.configure.1, s.0);
                (sent != Some(&now)).then_some((e, w.id, now))
            })
            .collect();
        for (entity, id, sent) in changes {
            out.push((id, sent.0, sent.1, sent.2));
            self.world.entity_mut(entity).insert(sent);
        }
        out.sort_by_key(|c| c.0);
        out
    }

    /// The last configure `take_configures` handed out for window `id`: size and states.
    pub fn last_configure(&self, id: WindowId) -> Option<(u32, u32, States)> {
        let sent = self.world.get::<Sent>(self.entity(id)?)?;
        Some((sent.0, sent.1, sent.2))
    }

    /// The apps the task bar offers to start (shells with a task bar show them).
    pub fn set_launchers(&mut self, names: Vec<String>) {
        self.world.insert_resource(Launchers(names));
    }

    /// The launcher button at (x, y), if any: its index.
    pub fn launcher_at(&self, x: f64, y: f64) -> Option<usize> {
        self.chrome().into_iter().find_map(|c| match c {
            Chrome::Taskbar { launchers, .. } => {
                launchers.iter().position(|(_, r)| r.contains_point(x, y))
            }
            _ => None,
        })
    }

    /// The shell's own elements for this frame.
    pub fn chrome(&self) -> Vec<Chrome> {
        let shell = self.active();
        let output = self.output();
        let all = self.all_windows();
        let windows: Vec<WindowView> = all.iter().filter(|w| !w.minimized).cloned().collect();
        let mut chrome = Vec::new();
        if shell.has(Part::TitleBars) {
            for w in windows.iter().filter(|w| w.states.decorated) {
                let rect = Rect {
                    x: w.geometry.x,
                    y: w.geometry.y - TITLE_BAR as i32,
                    width: w.geometry.width,
                    height: TITLE_BAR,
                };
                chrome.push(Chrome::TitleBar {
                    window: w.id,
                    rect,
                    focused: w.states.activated,
                    close: close_button(rect),
                    maximize: maximize_button(rect),
                    minimize: minimize_button(rect),
                });
            }
        }
        if let Some(rect) = self.shown_taskbar(&windows) {
            // The start button comes first, then the launchers.
            let start = if shell.has(Part::Launcher) {
                (START_WIDTH + 4) as i32
            } else {
                0
            };
            let launchers: Vec<(String, Rect)> = self
                .world
                .resource::<Launchers>()
                .0
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    let button = Rect {
                        x: rect.x + start + 4 + i as i32 * (LAUNCHER_WIDTH as i32 + 4),
                        y: rect.y + 4,
                        width: LAUNCHER_WIDTH,
                        height: rect.height.saturating_sub(8),
                    };
                    (name.clone(), button)
                })
                .collect();
            // Window entries after the launchers, left of the status area.
            let first = launchers
                .last()
                .map_or(rect.x + start, |(_, b)| b.x + b.width as i32 + 8);
            let status = if shell.has(Part::Status) {
                STATUS_WIDTH
            } else {
                0
            };
            let room = rect
                .width
                .saturating_sub((first - rect.x) as u32)
                .saturating_sub(status);
            let n = all.len().max(1) as u32;
            let width = (room / n).min(200).saturating_sub(8);
            let entries = all
                .iter()
                .enumerate()
                .map(|(i, w)| TaskEntry {
                    window: w.id,
                    title: w.title.clone(),
                    rect: Rect {
                        x: first + 4 + i as i32 * (width as i32 + 8),
                        y: rect.y + 4,
                        width,
                        height: rect.height.saturating_sub(8),
                    },
                    focused: w.states.activated && !w.minimized,
                    minimized: w.minimized,
                })
                .collect();
            chrome.push(Chrome::Taskbar {
                rect,
                launchers,
                entries,
            });
            if shell.has(Part::Launcher) {
                chrome.push(Chrome::StartButton {
                    rect: start_button(rect),
                    open: self.app_menu().is_open(),
                });
            }
        }
        if shell.has(Part::OverlayBar) && self.world.resource::<OverlayVisible>().0 {
            let app = self
                .focused()
                .and_then(|id| self.view(id))
                .map(|w| {
                    if w.title.is_empty() {
                        w.app_id
                    } else {
                        w.title
                    }
                })
                .filter(|name| !name.is_empty());
            chrome.push(Chrome::OverlayBar {
                rect: Rect {
                    x: 0,
                    y: 0,
                    width: output.width,
                    height: OVERLAY_BAR.min(output.height),
                },
                app,
            });
        }
        if shell.has(Part::OnScreenKeyboard) {
            let h = keyboard_height(output);
            chrome.push(Chrome::Keyboard {
                rect: Rect {
                    x: 0,
                    y: (output.height - h) as i32,
                    width: output.width,
                    height: h,
                },
            });
        }
        if shell.has(Part::EdgeSwitcher) {
            chrome.push(Chrome::EdgeSwitcher {
                rect: Rect {
                    x: 0,
                    y: 0,
                    width: EDGE_SWITCHER.min(output.width),
                    height: output.height,
                },
            });
        }
        if shell.has(Part::Status) {
            let bar = chrome.iter().find_map(|c| match c {
                Chrome::Taskbar { rect, .. } | Chrome::OverlayBar { rect, .. } => Some(*rect),
                _ => None,
            });
            let text = &self.world.resource::<StatusText>().0;
            if let Some(bar) = bar
                && !text.is_empty()
            {
                let width = STATUS_WIDTH.min(bar.width);
                chrome.push(Chrome::Status {
                    rect: Rect {
                        x: bar.x + (bar.width - width) as i32,
                        width,
                        ..bar
                    },
                    text: text.clone(),
                });
            }
        }
        if let Some(menu) = self.menu_view() {
            chrome.push(Chrome::AppMenu(menu));
        }
        if let Some(view) = self.world.resource::<Switcher>().view(output, |id| {
            all.iter()
                .find(|w| w.id == id)
                .map(|w| {
                    if w.title.is_empty() {
                        w.app_id.clone()
                    } else {
                        w.title.clone()
                    }
                })
                .unwrap_or_default()
        }) {
            chrome.push(Chrome::Switcher(view));
        }
        if shell.has(Part::Notifications) {
            let popups = self.world.resource::<Notifications>().popups(self.usable());
            chrome.extend(popups.into_iter().map(Chrome::Notification));
        }
        chrome
    }

    /// Desktop notifications: open ones, history, rate limits (`notifications`). They are
    /// kept whatever the shell; only shells with the notifications part show them.
    pub fn notifications(&self) -> &Notifications {
        self.world.resource::<Notifications>()
    }

    pub fn notifications_mut(&mut self) -> Mut<'_, Notifications> {
        self.world.resource_mut::<Notifications>()
    }

    /// What a click at (x, y) does to a notification popup, if it hit one on screen.
    pub fn notification_at(&self, x: f64, y: f64) -> Option<PopupHit> {
        if !self.active().has(Part::Notifications) {
            return None;
        }
        self.notifications().hit(self.usable(), x, y)
    }

    /// The lock screen (`lock`): kept whatever the shell, and through swaps.
    pub fn lock_screen(&self) -> &LockScreen {
        self.world.resource::<LockScreen>()
    }

    pub fn lock_screen_mut(&mut self) -> Mut<'_, LockScreen> {
        self.world.resource_mut::<LockScreen>()
    }

    /// The lock screen on the output, while locked.
    pub fn lock_view(&self) -> Option<LockView> {
        self.lock_screen().view(self.output())
    }

    /// The launcher's apps, search and selection (`app_menu`).
    pub fn app_menu(&self) -> &AppMenu {
        self.world.resource::<AppMenu>()
    }

    pub fn app_menu_mut(&mut self) -> Mut<'_, AppMenu> {
        self.world.resource_mut::<AppMenu>()
    }

    /// The apps the launcher offers.
    pub fn set_menu_apps(&mut self, apps: Vec<MenuApp>) {
        self.app_menu_mut().set_apps(apps);
        self.update_home();
    }

    /// The task bar, where this shell has one and no fullscreen window (topmost of
    /// `windows`, the shown windows bottom up) covers it.
    fn shown_taskbar(&self, windows: &[WindowView]) -> Option<Rect> {
        let fullscreen_on_top = windows.last().is_some_and(|w| w.states.fullscreen);
        (self.active().has(Part::Taskbar) && !fullscreen_on_top)
            .then(|| taskbar_rect(self.output()))
    }

    /// The open menu as this shell shows it, if the shell has a launcher.
    pub fn menu_view(&self) -> Option<MenuView> {
        let shell = self.active();
        if !shell.has(Part::Launcher) {
            return None;
        }
        let bar = shell
            .has(Part::Taskbar)
            .then(|| taskbar_rect(self.output()));
        // The grid leaves the on-screen keyboard free, to type into its search.
        self.app_menu().view(shell.layout, self.work_area(), bar)
    }

    /// The app chosen in the open menu now (Enter, a gamepad's A).
    pub fn menu_choice(&self) -> Option<usize> {
        self.app_menu().chosen(self.active().layout)
    }

    /// What a press at (x, y) means to the launcher, if anything.
    pub fn menu_hit(&self, x: f64, y: f64) -> Option<MenuHit> {
        let shell = self.active();
        if !shell.has(Part::Launcher) {
            return None;
        }
        if self
            .shown_taskbar(&self.windows())
            .is_some_and(|bar| start_button(bar).contains_point(x, y))
        {
            return Some(MenuHit::StartButton);
        }
        let menu = self.menu_view()?;
        if let Some(item) = menu.items.iter().find(|i| i.rect.contains_point(x, y)) {
            return Some(MenuHit::App(item.app));
        }
        Some(if menu.rect.contains_point(x, y) {
            MenuHit::Menu
        } else {
            MenuHit::Outside
        })
    }

    /// What the status part shows now (the clock and battery), empty before the first.
    pub fn status_text(&self) -> &str {
        &self.world.resource::<StatusText>().0
    }

    /// Sets what the status part shows; false when it already showed that.
    pub fn set_status(&mut self, text: &str) -> bool {
        let mut status = self.world.resource_mut::<StatusText>();
        if status.0 == text {
            return false;
        }
        status.0 = text.to_string();
        true
    }

    /// The output's name (as wl_output reports it).
    pub fn output_name(&self) -> String {
        self.output_entity().name.clone()
    }

    fn next(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// A popup opened on window `parent` at `geometry` (relative to its parent surface);
    /// `None` if there is no such window.
    pub fn add_popup(&mut self, parent: WindowId, geometry: Rect) -> Option<PopupId> {
        self.entity(parent)?;
        let id = self.next();
        self.world.spawn((Popup { id, parent }, Geometry(geometry)));
        Some(id)
    }

    fn popup_entity(&mut self, id: PopupId) -> Option<Entity> {
        self.world
            .query::<(Entity, &Popup)>()
            .iter(&self.world)
            .find(|(_, p)| p.id == id)
            .map(|(e, _)| e)
    }

    /// The client repositioned a popup.
    pub fn move_popup(&mut self, id: PopupId, geometry: Rect) -> bool {
        let Some(e) = self.popup_entity(id) else {
            return false;
        };
        self.world.entity_mut(e).insert(Geometry(geometry));
        true
    }

    pub fn close_popup(&mut self, id: PopupId) -> bool {
        let Some(e) = self.popup_entity(id) else {
            return false;
        };
        self.world.despawn(e);
        true
    }

    /// Open popups, in the order they were opened.
    pub fn popups(&self) -> Vec<PopupView> {
        let mut list: Vec<PopupView> = self
            .world
            .iter_entities()
            .filter_map(|e| {
                let (p, g) = (e.get::<Popup>()?, e.get::<Geometry>()?);
                Some(PopupView {
                    id: p.id,
                    parent: p.parent,
                    geometry: g.0,
                })
            })
            .collect();
        list.sort_by_key(|p| p.id);
        list
    }

    /// A layer surface appeared; it is placed by `place_layer` once arranged.
    pub fn add_layer(&mut self, layer: LayerKind, namespace: &str) -> LayerId {
        let id = self.next();
        self.world.spawn((
            LayerSurface {
                id,
                layer,
                namespace: namespace.to_string(),
            },
            Geometry(Rect::default()),
        ));
        id
    }

    fn layer_entity(&mut self, id: LayerId) -> Option<Entity> {
        self.world
            .query::<(Entity, &LayerSurface)>()
            .iter(&self.world)
            .find(|(_, l)| l.id == id)
            .map(|(e, _)| e)
    }

    pub fn place_layer(&mut self, id: LayerId, geometry: Rect) -> bool {
        let Some(e) = self.layer_entity(id) else {
            return false;
        };
        self.world.entity_mut(e).insert(Geometry(geometry));
        true
    }

    pub fn close_layer(&mut self, id: LayerId) -> bool {
        let Some(e) = self.layer_entity(id) else {
            return false;
        };
        self.world.despawn(e);
        true
    }

    /// Layer surfaces, bottom layer first.
    pub fn layers(&self) -> Vec<LayerView> {
        let mut list: Vec<LayerView> = self
            .world
            .iter_entities()
            .filter_map(|e| {
                let (l, g) = (e.get::<LayerSurface>()?, e.get::<Geometry>()?);
                Some(LayerView {
                    id: l.id,
                    layer: l.layer,
                    namespace: l.namespace.clone(),
                    geometry: g.0,
                })
            })
            .collect();
        list.sort_by_key(|l| (l.layer, l.id));
        list
    }

    /// The pointer moved.
    pub fn set_pointer(&mut self, x: f64, y: f64) {
        let mut q = self.world.query::<&mut Seat>();
        if let Ok(mut seat) = q.single_mut(&mut self.world) {
            seat.pointer = (x, y);
        }
    }

    pub fn seat(&self) -> SeatView {
        let focus = self.focused();
        let mut q = self.world.try_query::<&Seat>().expect("Seat is registered");
        let seat = q.single(&self.world).expect("Shell::new spawns one seat");
        SeatView {
            name: seat.name.clone(),
            pointer: seat.pointer,
            focus,
        }
    }

    /// The part of the output panels leave free.
    pub fn usable(&self) -> Rect {
        self.output_entity().usable
    }

    /// The area windows may use (for tests and the renderer's damage tracking).
    pub fn work_area(&self) -> Rect {
        let o = self.output_entity();
        work_area(o.rect, o.usable, self.active())
    }
}
