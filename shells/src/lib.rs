//! compose-shells: the compositor (smithay) that carries out a shell's policy, and its
//! control (D-Bus, a VM's serial port), and the notification server (`notifications`).
//!
//! The policy is crate `compose-shell-policy` (re-exported here as `definition`, `policy`,
//! `keyboard`, `shortcuts`), which depends on neither smithay nor wgpu; rendering is crate
//! `compose-render` (re-exported as `render` and `text`), which knows no Wayland. The
//! compositor turns protocol events into calls on `Shell`, and reads back geometry, states
//! and chrome to configure clients and draw frames.
//!
//! The `compose-shell` program (`src/bin/`) runs a shell on a device: its own screen
//! (KMS), its apps from `autostart`, control over a virtio-serial port (`remote`).

pub mod autostart;
pub mod compositor;
pub mod control;
pub mod notifications;
pub mod password;
pub mod remote;
pub mod settings;
pub mod shortcut;

pub use compose_render as render;
pub use compose_render::text;
pub use compose_shell_policy::{
    Chrome, LayerKind, LayerView, Layout, Part, PopupView, Rect, SeatView, Shell, ShellDef,
    WindowId, WindowView,
};
pub use compose_shell_policy::{app_menu, definition, keyboard, policy, shortcuts, switcher};
/// The smithay this crate was built with, for callers that talk to the compositor loop.
pub use smithay;
