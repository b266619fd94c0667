//! compose-shells: what a shell decides, apart from how Wayland or wgpu carry it out.
//!
//! `definition` reads shell definitions (a layout and a list of parts, in TOML); `policy`
//! keeps windows, focus and the output in one bevy_ecs `World` and runs the active shell's
//! systems over it. Nothing here imports smithay or wgpu: the compositor turns protocol
//! events into calls on `Shell`, and reads back geometry, states and chrome to configure
//! clients and render frames.
//!
//! The `compose-shell` program (`src/bin/`) runs a shell on a device: its own screen
//! (KMS), its apps from `autostart`, control over a virtio-serial port (`remote`).

pub mod autostart;
pub mod compositor;
pub mod control;
pub mod definition;
pub mod keyboard;
pub mod policy;
pub mod remote;
pub mod render;
pub mod text;

pub use definition::{Layout, Part, ShellDef};
pub use policy::{
    Chrome, LayerKind, LayerView, PopupView, Rect, SeatView, Shell, WindowId, WindowView,
};
/// The smithay this crate was built with, for callers that talk to the compositor loop.
pub use smithay;
