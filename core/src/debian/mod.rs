//! Debian packages as apt installs them, minus dpkg: apt's verified indexes ([`index`]),
//! relations with Debian version ordering ([`relation`]) and the dependency closure of a
//! `deb` source ([`closure`], pubgrub), with packages only maintainer scripts need left out
//! by a list in data ([`config`], `debian.toml`).

pub mod apt_side;
pub mod closure;
pub mod config;
pub mod index;
pub mod relation;

pub use closure::{Closure, ClosureError, Policy, Request, solve};
pub use config::{CONFIG_FILE, Config, ConfigError};
pub use index::{Index, IndexError, Package};
