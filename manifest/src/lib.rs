//! compose-manifest: a component's manifest (`manifest`), its `[app]` table (`app`), the
//! diagnostics that point into its text (`diagnostic`), and where an image keeps its apps
//! (`layout`). Pure parsing, no files read: compose-core builds on it, and so does a
//! device's compose-app, which reads the app manifests of its image and nothing more.

pub mod app;
pub mod diagnostic;
pub mod layout;
pub mod manifest;
pub mod requirement;
pub mod toml_file;
