//! compose-sandbox: apps that get only what their manifest grants. `grants` is the policy
//! as data (nothing by default, each grant by name); `wasm` runs WASI command components
//! in wasmtime under those grants, with `window`s in the shell when granted; `container`
//! runs native apps through crun in a root file system of Debian packages, GUI ones
//! through a `wayland` socket of their own; `launch` runs one app in the foreground (its
//! socket into the shell, a record for `ps`, its end reported); `running` records the apps
//! running now (for `ps` and `stop`); `device` reads the apps of a device's image (for the
//! `compose-app` program); `pulled` keeps the images a device pulls while it runs; `apps` builds the WASI apps of this repository.

pub mod apps;
pub mod container;
pub mod device;
pub mod grants;
pub mod launch;
pub mod pulled;
pub mod running;
pub mod wasm;
pub mod wayland;
pub mod window;

pub use grants::{FileGrant, GrantError, Grants, NetGrant};
pub use wasm::{Outcome, Report, Stdio, WasmError, WasmHost};
