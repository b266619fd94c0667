//! The end-to-end tests of the `compose` program, in one test binary: cargo runs test
//! binaries one after another, while libtest runs the tests of one binary side by side, so
//! a long test of one area (a QEMU boot, a release build of an image's program) no longer
//! leaves the other core idle until it ends. One module per area; run one with
//! `cargo test --test suite boot::`.

mod common;

mod app;
mod boot;
mod build;
mod cli;
mod closure;
mod display;
mod fleet;
mod provision;
mod shell;
mod update;
