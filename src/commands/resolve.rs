//! `compose resolve`: a device's ordered set of components, pinned in compose.lock.

use compose_core::{Catalog, Project, Resolution, ResolveOptions, resolve};

use super::DeviceArg;
use crate::{CliError, Outcome, print};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    device: DeviceArg,
    /// Fail (exit 2) instead of changing compose.lock.
    #[arg(long)]
    locked: bool,
    /// Ignore the versions pinned in compose.lock and take the newest that fit (Debian
    /// packages included: the next build pins what apt offers then).
    #[arg(long, conflicts_with = "locked")]
    upgrade: bool,
    #[arg(long)]
    json: bool,
}

pub fn exec(args: Args, project: Project) -> Result<Outcome, CliError> {
    let loaded = super::load(&project)?;
    let catalog = &loaded.catalog;
    let device = args.device.device;
    let lock = project.read_lock()?;
    let options = ResolveOptions {
        locked: if args.upgrade {
            Default::default()
        } else {
            lock.versions(&device)
        },
        ..Default::default()
    };
    let resolution = resolve(catalog, &device, &options)?;
    let mut new_lock = lock.with_resolution(&resolution);
    if args.upgrade {
        // Newer Debian packages too: the next build pins what apt offers now.
        new_lock = new_lock.without_debs(&device);
    }
    let changes = lock.changes(&new_lock, &device);
    if args.locked && new_lock != lock {
        return Err(CliError::LockOutdated { device, changes });
    }
    if new_lock != lock && project.update_lock(&device, &new_lock)? {
        eprintln!(
            "wrote {} ({} change{})",
            project.lock_path().display(),
            changes.len(),
            if changes.len() == 1 { "" } else { "s" }
        );
    }
    print::resolution(catalog, &resolution, args.json);
    Ok(Outcome::Ok)
}

/// Resolves `device` preferring the versions in compose.lock, without writing it: what
/// `compose resolve` would choose.
pub fn as_locked(
    project: &Project,
    catalog: &Catalog,
    device: &str,
) -> Result<(Resolution, ResolveOptions), CliError> {
    let options = ResolveOptions {
        locked: project.read_lock()?.versions(device),
        ..Default::default()
    };
    Ok((resolve(catalog, device, &options)?, options))
}
