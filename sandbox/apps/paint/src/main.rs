//! Paint: a window of the shell with a palette along the top and a white canvas below.
//! Click a colour, then draw with the pointer (or a finger); `c` clears the canvas, `q` or
//! closing the window quits. Each stroke presents only the rectangle it changed.
//!
//! The window is compose's `window` world, so the app is only itself built for
//! wasm32-wasip2; a native build (the workspace's) is the canvas and its tests.

#[cfg(target_arch = "wasm32")]
mod app;
#[cfg_attr(
    not(target_arch = "wasm32"),
    allow(dead_code, reason = "natively only the tests draw")
)]
mod canvas;

#[cfg(target_arch = "wasm32")]
fn main() {
    app::run();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!(
        "paint: a WASI component with a window; build it for wasm32-wasip2 and run it with `compose app run`"
    );
    std::process::exit(2);
}
