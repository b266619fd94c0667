//! `compose inspect`: what a built disk image holds, read from the image itself.

use std::path::PathBuf;

use crate::{CliError, Outcome, print};

#[derive(Debug, clap::Args)]
pub struct Args {
    image: PathBuf,
    /// Also list the files of this root slot (a or b).
    #[arg(long, value_name = "SLOT")]
    files: Option<String>,
    #[arg(long)]
    json: bool,
}

pub fn exec(args: Args) -> Result<Outcome, CliError> {
    let report = compose_core::inspect::inspect(&args.image, args.files.as_deref())?;
    print::inspection(&report, args.json);
    Ok(Outcome::Ok)
}
