//! `compose cache`: the content-addressed store (collect what nothing references, verify
//! what it holds).

use compose_core::store::Store;

use super::StoreArg;
use crate::{CliError, Globals, Outcome, print};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: CacheCommand,
}

#[derive(Debug, clap::Subcommand)]
enum CacheCommand {
    /// Remove what no lock file or output of this project references.
    Gc {
        #[command(flatten)]
        store: StoreArg,
        /// Keep what any project's build used within this many days (the store is shared).
        #[arg(long, value_name = "DAYS", default_value_t = 30)]
        max_age: u64,
        #[arg(long)]
        json: bool,
    },
    /// Re-hash every blob of the store and check every recorded build step; exits 1 when
    /// something is corrupt.
    Verify {
        #[command(flatten)]
        store: StoreArg,
        /// Remove corrupt blobs and the build steps that lead to them (the next build fetches
        /// or makes them again).
        #[arg(long)]
        repair: bool,
        #[arg(long)]
        json: bool,
    },
}

pub fn exec(args: Args, globals: &Globals) -> Result<Outcome, CliError> {
    match args.command {
        CacheCommand::Gc {
            store,
            max_age,
            json,
        } => {
            let project = globals.project()?;
            let store = Store::open(&Store::locate(store.store.as_deref()))?;
            let lock = project.read_lock()?;
            let report = compose_core::build::gc::collect(
                &store,
                &lock,
                &project.root().join("out"),
                std::time::Duration::from_secs(max_age * 24 * 3600),
            )?;
            print::gc(&report, json);
            Ok(Outcome::Ok)
        }
        CacheCommand::Verify {
            store,
            repair,
            json,
        } => {
            let store = Store::open(&Store::locate(store.store.as_deref()))?;
            let report = compose_core::build::verify::verify(&store, repair)?;
            print::cache_verify(&report, json);
            Ok(if report.ok() {
                Outcome::Ok
            } else {
                Outcome::No
            })
        }
    }
}
