//! compose-sandbox: apps that get only what their manifest grants. `grants` is the policy
//! as data (nothing by default, each grant by name); `wasm` runs WASI command components
//! in wasmtime under those grants; `apps` builds the WASI apps of this repository.

pub mod apps;
pub mod grants;
pub mod wasm;

pub use grants::{FileGrant, GrantError, Grants, NetGrant};
pub use wasm::{Outcome, Report, Stdio, WasmError, WasmHost};
