//! First-boot provisioning of a composed device, as Ignition and cloud-init do it: a TOML
//! file given at flash time (`config`), carried on a NoCloud `CIDATA` drive (`seed`), and
//! applied by init into /etc and /var before any service starts, once (`apply`).

pub mod apply;
pub mod config;
pub mod seed;

pub use apply::{ApplyError, Outcome, apply};
pub use config::{Problem, Provision, parse};
