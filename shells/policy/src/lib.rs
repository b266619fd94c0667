//! compose-shell-policy: what a shell decides, apart from how Wayland or a GPU carry it out.
//!
//! `definition` reads shell definitions (a layout and a list of parts, in TOML); `policy`
//! keeps windows, focus and the output in one bevy_ecs `World` and runs the active shell's
//! systems over it; `keyboard` lays out the on-screen keyboard;
//! `app_menu` is the launcher's list, search and layout; `lock` the lock screen's state; `switcher` the desktop's Alt+Tab list; `shortcuts` the keyboard shortcuts a definition
//! binds; `notifications` keeps desktop notifications (bounded, rate-limited, expiring) and lays out
//! their popups. This crate depends on
//! neither smithay nor wgpu, so policy code that reached for either would not compile: the
//! compositor (`compose-shells`) turns protocol events into calls on `Shell`, and reads back
//! geometry, states and chrome to configure clients and render frames.

pub mod app_menu;
pub mod definition;
pub mod keyboard;
pub mod lock;
pub mod notifications;
pub mod policy;
pub mod shortcuts;
pub mod switcher;

pub use definition::{Layout, Part, ShellDef};
pub use policy::{
    Chrome, LayerKind, LayerView, PopupView, Rect, SeatView, Shell, Side, TaskEntry, WindowId,
    WindowView,
};
