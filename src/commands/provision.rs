//! `compose provision`: first-boot provisioning files (hostname, users, network, files,
//! services).

use std::path::PathBuf;

use crate::{CliError, Outcome, print};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: ProvisionCommand,
}

#[derive(Debug, clap::Subcommand)]
enum ProvisionCommand {
    /// Check a provisioning file: every problem with its line and column, exit 1 if any.
    Check {
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

pub fn exec(args: Args) -> Result<Outcome, CliError> {
    let ProvisionCommand::Check { file, json } = args.command;
    let (_, p) = compose_core::seed::check(&file).map_err(|e| CliError::Other(e.into()))?;
    print::provision(&file, &p, json);
    Ok(Outcome::Ok)
}
