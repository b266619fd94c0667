//! `compose graph`: a picture of a device's dependency graph (Graphviz dot or SVG).

use std::path::PathBuf;

use clap::ValueEnum;
use compose_core::{Project, ProjectError, graph};

use super::DeviceArg;
use crate::{CliError, Outcome};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    device: DeviceArg,
    #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
    format: GraphFormat,
    /// Write to this file instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum GraphFormat {
    Dot,
    Svg,
}

pub fn exec(args: Args, project: Project) -> Result<Outcome, CliError> {
    let loaded = super::load(&project)?;
    let (resolution, _) =
        super::resolve::as_locked(&project, &loaded.catalog, &args.device.device)?;
    let dot = graph::to_dot(&resolution);
    let text = match args.format {
        GraphFormat::Dot => dot,
        GraphFormat::Svg => graph::to_svg(&dot)?,
    };
    match args.output {
        Some(path) => {
            compose_core::project::write_atomic(&path, text.as_bytes()).map_err(|e| match e {
                ProjectError::Write { path, source } => CliError::Output { path, source },
                other => CliError::Project(other),
            })?
        }
        None => print!("{text}"),
    }
    Ok(Outcome::Ok)
}
