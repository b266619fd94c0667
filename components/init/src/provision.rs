//! First boot: a provisioning file on a NoCloud `CIDATA` drive (or, written there by
//! `compose flash --to DEV --provision FILE`, on the ESP as `compose/provision.toml`, as
//! Flatcar's installer puts Ignition's file on its OEM partition) is checked and applied
//! into /etc and /var before any service starts, once; a later boot says it was applied
//! and leaves the system as it is. A file with problems stops the boot with each problem
//! on the console, before anything is written (Ignition's rule). Every boot sets the
//! hostname from /etc/hostname.

use std::fs;
use std::io::Write;
use std::path::Path;

use compose_provision::{Outcome, seed};
use nix::mount::{MsFlags, mount, umount};

use crate::fatal;

/// Where the seed is mounted while it is read.
const SEED_MOUNT: &str = "/run/compose/cidata";

/// The provisioning file's place on the ESP.
const ON_ESP: &str = "compose/provision.toml";

pub fn first_boot(root_uuid: Option<&str>) {
    let seeds = seed::find();
    if let Some(device) = seeds.first() {
        apply_seed(device);
    } else if let Some(Ok(text)) =
        crate::with_esp(root_uuid, |esp| fs::read_to_string(esp.join(ON_ESP)))
    {
        apply_text(
            &text,
            &format!("the ESP's /{ON_ESP}"),
            &format!("/{ON_ESP}"),
        );
    }
    if let Ok(name) = fs::read_to_string("/etc/hostname")
        && !name.trim().is_empty()
        && let Err(e) = nix::unistd::sethostname(name.trim())
    {
        log!("cannot set the hostname to `{}`: {e}", name.trim());
    }
}

fn apply_seed(device: &Path) {
    let _ = fs::create_dir_all(SEED_MOUNT);
    let dev = device.display().to_string();
    let mounted = ["vfat", "iso9660"].into_iter().any(|fstype| {
        mount(
            Some(dev.as_str()),
            SEED_MOUNT,
            Some(fstype),
            MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            None::<&str>,
        )
        .is_ok()
    });
    if !mounted {
        fatal(&format!(
            "provisioning: cannot mount the CIDATA drive {dev} (FAT or ISO 9660); nothing was applied"
        ));
    }
    let text = fs::read_to_string(Path::new(SEED_MOUNT).join(seed::FILE));
    let _ = umount(SEED_MOUNT);
    let text = match text {
        Ok(text) => text,
        Err(_) => {
            log!(
                "provisioning: the CIDATA drive {dev} has no {}; nothing to apply",
                seed::FILE
            );
            return;
        }
    };
    apply_text(&text, &dev, &format!("{dev}:/{}", seed::FILE));
}

/// Checks and applies `text`, which came from `from` (`file` names it in problems).
fn apply_text(text: &str, from: &str, file: &str) {
    let provision = match compose_provision::parse(text) {
        Ok(p) => p,
        Err(problems) => {
            for p in &problems {
                log!(
                    "provisioning: {file}:{}:{}: {} (help: {})",
                    p.line,
                    p.column,
                    p.message,
                    p.help
                );
            }
            fatal(&format!(
                "provisioning: {} problem(s) in the provisioning file; nothing was applied. Fix it (`compose provision check FILE` shows the same) and boot again",
                problems.len()
            ));
        }
    };
    match compose_provision::apply(Path::new("/"), text, &provision) {
        Ok(Outcome::Applied(written)) => {
            log!(
                "provisioning: applied {} from {from}: {}",
                &compose_provision::apply::digest(text)[..12],
                written.join(" ")
            );
            nix::unistd::sync();
        }
        Ok(Outcome::AlreadyApplied { digest, same_file }) => {
            let which = if same_file {
                "this file"
            } else {
                "another file"
            };
            log!(
                "provisioning: already provisioned by {which} ({}); not applied again",
                &digest[..12.min(digest.len())]
            );
        }
        Err(e) => fatal(&format!("provisioning: {e}; the boot stops here")),
    }
}
