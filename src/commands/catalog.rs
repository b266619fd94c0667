//! `compose devices`, `compose components` and `compose validate`: the project's catalog
//! as it is, listed or checked.

use compose_core::Project;

use crate::{CliError, Outcome, print};

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[arg(long)]
    json: bool,
}

/// `compose devices`.
pub fn devices(args: ListArgs, project: Project) -> Result<Outcome, CliError> {
    print::devices(&super::load(&project)?.catalog, args.json);
    Ok(Outcome::Ok)
}

/// `compose components`.
pub fn components(args: ListArgs, project: Project) -> Result<Outcome, CliError> {
    print::components(&super::load(&project)?.catalog, args.json);
    Ok(Outcome::Ok)
}

/// `compose validate`: every problem of every manifest and device, exit 1 when any.
pub fn validate(args: ListArgs, project: Project) -> Result<Outcome, CliError> {
    print::validation(project.load(), args.json)
}
