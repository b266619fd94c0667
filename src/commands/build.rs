//! `compose build`: the device's disk image into out/DEVICE/ (disk.raw, other formats,
//! image.json), or with `--dry-run` only its plan.

use std::path::PathBuf;

use compose_core::store::Store;
use compose_core::{Project, ResolveOptions, resolve};

use super::{DeviceArg, StoreArg};
use crate::{CliError, Outcome, print};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    device: DeviceArg,
    #[command(flatten)]
    store: StoreArg,
    /// Output folder; the image goes to OUT/DEVICE/.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Fail (exit 2), before anything is written, instead of changing compose.lock.
    #[arg(long)]
    locked: bool,
    /// The image's generation: devices update only to higher ones. Default: the
    /// build's epoch (SOURCE_DATE_EPOCH), so builds of later commits are newer.
    #[arg(long, value_name = "N")]
    generation: Option<u64>,
    /// Only plan: resolve, solve the Debian closures, check the lock; print the packages
    /// each component installs and build nothing.
    #[arg(long)]
    dry_run: bool,
    #[arg(long)]
    json: bool,
}

/// 1980-01-01, the earliest time FAT can record: the default timestamp of image files.
const DEFAULT_EPOCH: u64 = 315_532_800;

pub fn exec(args: Args, project: Project) -> Result<Outcome, CliError> {
    let loaded = super::load(&project)?;
    let catalog = &loaded.catalog;
    let device = args.device.device;
    let lock = project.read_lock()?;
    let options = ResolveOptions {
        locked: lock.versions(&device),
        ..Default::default()
    };
    let resolution = resolve(catalog, &device, &options)?;
    let resolved = lock.with_resolution(&resolution);
    let progress = print::Progress::new();
    let progress = |message: &str| progress.step(message);
    let config = project.read_debian_config()?;
    let plan = compose_core::build::plan(
        project.root(),
        catalog,
        &resolution,
        &resolved,
        &config,
        &progress,
    )?;
    // Everything that could change the lock is known now, before anything is written.
    if args.locked && plan.lock != lock {
        let changes = lock.changes(&plan.lock, &device);
        return Err(CliError::LockOutdated { device, changes });
    }
    if args.dry_run {
        print::plan(&plan, &device, args.json);
        return Ok(Outcome::Ok);
    }
    let store = Store::open(&Store::locate(args.store.store.as_deref()))?;
    let _store_lock = store.lock_shared()?;
    let out = args
        .out
        .unwrap_or_else(|| project.root().join("out"))
        .join(&device);
    let epoch = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|e| e.parse().ok())
        .unwrap_or(DEFAULT_EPOCH);
    let report = compose_core::build::build(
        project.root(),
        catalog,
        &resolution,
        &plan,
        &store,
        &compose_core::build::BuildOptions {
            out_dir: out,
            epoch,
            generation: args.generation.unwrap_or(epoch),
            wasm_compiler: Some(compose_core::build::WasmCompiler {
                id: compose_sandbox::wasm::precompiler_id,
                compile: compose_sandbox::wasm::precompile,
            }),
        },
        &progress,
    )?;
    if plan.lock != lock {
        project.update_lock(&device, &plan.lock)?;
    }
    print::build(&report, args.json);
    Ok(Outcome::Ok)
}
