//! compose-core: manifests, device profiles, the resolver and the lock file.
//!
//! Parsing ([`manifest`], [`device`], [`catalog`]) and resolution ([`resolve`]) are pure:
//! they take text or an in-memory catalog and return values. Only [`project`] reads and
//! writes files, and [`graph`] runs Graphviz.

// The manifest model lives in compose-manifest (a device's compose-app needs it without
// the rest of core); its modules keep their paths here.
pub use compose_manifest::{app, diagnostic, manifest, requirement, toml_file};

pub mod build;
pub mod catalog;
pub mod debian;
pub mod device;
pub mod dsl;
pub mod flash;
pub mod graph;
pub mod inspect;
pub mod lock;
pub mod project;
pub mod publish;
pub mod resolve;
pub mod secure_boot;
pub mod seed;
pub mod store;
pub mod tool;

pub use catalog::{Catalog, Loaded};
pub use diagnostic::{Diagnostic, Diagnostics, SourceFile};
pub use project::{Project, ProjectError};
pub use requirement::{Dependency, Requirement, parse_requirement};
pub use resolve::{Resolution, ResolveError, ResolveOptions, resolve};
