//! `compose explain`: why a component is in a device's image, and which alternatives were
//! not taken.

use compose_core::Project;

use super::DeviceArg;
use crate::{CliError, Outcome, print};

#[derive(Debug, clap::Args)]
pub struct Args {
    component: String,
    #[command(flatten)]
    device: DeviceArg,
    #[arg(long)]
    json: bool,
}

pub fn exec(args: Args, project: Project) -> Result<Outcome, CliError> {
    let loaded = super::load(&project)?;
    let catalog = &loaded.catalog;
    if catalog.versions(&args.component).is_empty() {
        return Err(CliError::UnknownComponent {
            name: args.component,
            known: catalog.components().map(|(n, _)| n.clone()).collect(),
        });
    }
    let (resolution, options) = super::resolve::as_locked(&project, catalog, &args.device.device)?;
    let explanation =
        compose_core::resolve::explain(catalog, &resolution, &options, &args.component)?;
    print::explanation(&explanation, args.json);
    Ok(if explanation.version.is_none() {
        Outcome::No
    } else {
        Outcome::Ok
    })
}
