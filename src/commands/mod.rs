//! One file per command group, as cargo's `commands/`: each holds its arguments (clap) and
//! `exec`, which loads the project only when the command needs one. `main.rs` dispatches.

pub mod app;
pub mod build;
pub mod cache;
pub mod catalog;
pub mod debs;
pub mod explain;
pub mod flash;
pub mod fleet;
pub mod graph;
pub mod inspect;
pub mod provision;
pub mod resolve;
pub mod shell;
pub mod update;

use std::path::PathBuf;

use compose_core::Project;

use crate::CliError;

/// `--device`, shared by the commands that work on one device.
#[derive(Debug, clap::Args)]
pub struct DeviceArg {
    /// Device profile name (see `compose devices`).
    #[arg(long, short, default_value = "laptop")]
    pub device: String,
}

/// `--store`, shared by the commands that use the content-addressed store.
#[derive(Debug, clap::Args)]
pub struct StoreArg {
    /// The store folder (default: $COMPOSE_STORE, else ~/.cache/compose).
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
}

/// Loads the catalog of `project`, printing its warnings.
pub fn load(project: &Project) -> Result<compose_core::Loaded, CliError> {
    let loaded = project.load()?;
    crate::print::warnings(&loaded.warnings);
    Ok(loaded)
}
