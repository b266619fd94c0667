//! compose-core: manifests, device profiles, the resolver and the lock file.
//!
//! Parsing ([`manifest`], [`device`], [`catalog`]) and resolution ([`resolve`]) are pure:
//! they take text or an in-memory catalog and return values. Only [`project`] reads and
//! writes files, and [`graph`] runs Graphviz.

pub mod app;
pub mod build;
pub mod catalog;
pub mod debian;
pub mod device;
pub mod diagnostic;
pub mod dsl;
pub mod flash;
pub mod graph;
pub mod inspect;
pub mod lock;
pub mod manifest;
pub mod project;
pub mod publish;
pub mod requirement;
pub mod resolve;
pub mod secure_boot;
pub mod seed;
pub mod serve;
pub mod store;
mod toml_file;
pub mod tool;

pub use catalog::{Catalog, Loaded};
pub use diagnostic::{Diagnostic, Diagnostics, SourceFile};
pub use project::{Project, ProjectError};
pub use requirement::{Dependency, Requirement, parse_requirement};
pub use resolve::{Resolution, ResolveError, ResolveOptions, resolve};
