//! `compose.lock`: the component versions chosen for each device, pinned (like Cargo.lock).

use std::collections::{BTreeMap, BTreeSet};

use semver::Version;
use serde::{Deserialize, Serialize};

use crate::resolve::Resolution;

pub const LOCK_FILE: &str = "compose.lock";
const HEADER: &str = "# Written by `compose resolve`: the component versions chosen for each device.\n# Commit it; do not edit it by hand.\n";

/// The whole lock file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockFile {
    pub version: u32,
    #[serde(default, rename = "device")]
    pub devices: Vec<LockedDevice>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedDevice {
    pub name: String,
    #[serde(default, rename = "component")]
    pub components: Vec<LockedComponent>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedComponent {
    pub name: String,
    pub version: Version,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
    /// Digest of a built payload: written by earlier versions, read and ignored now. A
    /// payload's digest depends on the machine that built it (a `cargo` source), so it
    /// belongs in `image.json`, not in a lock that pins inputs.
    #[serde(default, skip_serializing)]
    pub digest: Option<String>,
    /// The exact Debian packages of the payload: a `deb` source's whole closure, a
    /// `kernel` source's kernel package.
    #[serde(default, rename = "deb", skip_serializing_if = "Vec::is_empty")]
    pub debs: Vec<DebPin>,
    /// An `oci` source's image: the digest its tag named (a moved tag changes the lock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oci: Option<String>,
}

/// One exact Debian package version and the SHA-256 of its `.deb`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DebPin {
    pub name: String,
    pub version: String,
    pub sha256: String,
}

/// One difference between the lock file and a new resolution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "kebab-case")]
pub enum LockChange {
    Added {
        component: String,
        version: Version,
    },
    Removed {
        component: String,
        version: Version,
    },
    Changed {
        component: String,
        from: Version,
        to: Version,
    },
    Features {
        component: String,
        from: Vec<String>,
        to: Vec<String>,
    },
    /// The Debian closure changed: packages (`name version`) only in the old or new pins.
    Debs {
        component: String,
        removed: Vec<String>,
        added: Vec<String>,
    },
    /// An `oci` source's tag names another image now.
    Image {
        component: String,
        from: Option<String>,
        to: Option<String>,
    },
}

impl std::fmt::Display for LockChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockChange::Added { component, version } => write!(f, "add {component} {version}"),
            LockChange::Removed { component, version } => write!(f, "remove {component} {version}"),
            LockChange::Changed {
                component,
                from,
                to,
            } => write!(f, "change {component} {from} -> {to}"),
            LockChange::Features {
                component,
                from,
                to,
            } => {
                write!(
                    f,
                    "change features of {component} [{}] -> [{}]",
                    from.join(","),
                    to.join(",")
                )
            }
            LockChange::Debs {
                component,
                removed,
                added,
            } => {
                write!(f, "change Debian packages of {component}:")?;
                for r in removed {
                    write!(f, " -{r}")?;
                }
                for a in added {
                    write!(f, " +{a}")?;
                }
                Ok(())
            }
            LockChange::Image {
                component,
                from,
                to,
            } => {
                let show = |d: &Option<String>| d.clone().unwrap_or_else(|| "none".into());
                write!(
                    f,
                    "change the OCI image of {component}: {} -> {} (its tag moved)",
                    show(from),
                    show(to)
                )
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{LOCK_FILE} is not a valid lock file: {message}")]
pub struct LockParseError {
    pub message: String,
}

impl LockFile {
    pub const FORMAT_VERSION: u32 = 1;

    pub fn parse(text: &str) -> Result<LockFile, LockParseError> {
        let lock: LockFile = toml::from_str(text).map_err(|e| LockParseError {
            message: e.to_string(),
        })?;
        if lock.version != Self::FORMAT_VERSION {
            return Err(LockParseError {
                message: format!(
                    "format version {} is not supported (expected {})",
                    lock.version,
                    Self::FORMAT_VERSION
                ),
            });
        }
        Ok(lock)
    }

    pub fn to_toml(&self) -> String {
        let body = toml::to_string_pretty(self).expect("lock file types always serialize");
        format!("{HEADER}{body}")
    }

    pub fn device(&self, name: &str) -> Option<&LockedDevice> {
        self.devices.iter().find(|d| d.name == name)
    }

    /// Locked versions of a device, to prefer while resolving.
    pub fn versions(&self, device: &str) -> BTreeMap<String, Version> {
        self.device(device)
            .into_iter()
            .flat_map(|d| &d.components)
            .map(|c| (c.name.clone(), c.version.clone()))
            .collect()
    }

    /// This lock with the device's entry replaced by `resolution` (digests kept where the
    /// version did not change).
    pub fn with_resolution(&self, resolution: &Resolution) -> LockFile {
        let old = self.device(&resolution.device);
        let mut components: Vec<LockedComponent> = resolution
            .components
            .iter()
            .map(|c| {
                let same = old.and_then(|d| {
                    d.components
                        .iter()
                        .find(|o| o.name == c.name && o.version == c.version)
                });
                LockedComponent {
                    name: c.name.clone(),
                    version: c.version.clone(),
                    features: c.features.clone(),
                    digest: None,
                    debs: same.map(|o| o.debs.clone()).unwrap_or_default(),
                    oci: same.and_then(|o| o.oci.clone()),
                }
            })
            .collect();
        components.sort_by(|a, b| a.name.cmp(&b.name));
        let mut devices: Vec<LockedDevice> = self
            .devices
            .iter()
            .filter(|d| d.name != resolution.device)
            .cloned()
            .collect();
        devices.push(LockedDevice {
            name: resolution.device.clone(),
            components,
        });
        devices.sort_by(|a, b| a.name.cmp(&b.name));
        LockFile {
            version: Self::FORMAT_VERSION,
            devices,
        }
    }

    /// The lock with `device`'s Debian pins replaced by `pins` (by component name).
    pub fn with_pins(
        &self,
        device: &str,
        pins: &BTreeMap<String, Vec<DebPin>>,
        images: &BTreeMap<String, String>,
    ) -> LockFile {
        let mut lock = self.clone();
        for d in lock.devices.iter_mut().filter(|d| d.name == device) {
            for c in &mut d.components {
                c.digest = None;
                c.debs = pins.get(&c.name).cloned().unwrap_or_default();
                c.oci = images.get(&c.name).cloned();
            }
        }
        lock
    }

    /// The lock without `device`'s Debian pins.
    pub fn without_debs(&self, device: &str) -> LockFile {
        let mut lock = self.clone();
        for c in lock
            .devices
            .iter_mut()
            .filter(|d| d.name == device)
            .flat_map(|d| &mut d.components)
        {
            c.debs.clear();
            c.digest = None;
        }
        lock
    }

    /// What changes for `device` between this lock and `new`.
    pub fn changes(&self, new: &LockFile, device: &str) -> Vec<LockChange> {
        let map = |l: &LockFile| -> BTreeMap<String, LockedComponent> {
            l.device(device)
                .into_iter()
                .flat_map(|d| d.components.clone())
                .map(|c| (c.name.clone(), c))
                .collect()
        };
        let (old, new) = (map(self), map(new));
        let mut changes = Vec::new();
        for (name, o) in &old {
            match new.get(name) {
                None => changes.push(LockChange::Removed {
                    component: name.clone(),
                    version: o.version.clone(),
                }),
                Some(n) if n.version != o.version => changes.push(LockChange::Changed {
                    component: name.clone(),
                    from: o.version.clone(),
                    to: n.version.clone(),
                }),
                Some(n) if n.features != o.features => changes.push(LockChange::Features {
                    component: name.clone(),
                    from: o.features.clone(),
                    to: n.features.clone(),
                }),
                Some(n) if n.oci != o.oci => changes.push(LockChange::Image {
                    component: name.clone(),
                    from: o.oci.clone(),
                    to: n.oci.clone(),
                }),
                Some(n) if n.debs != o.debs => {
                    let text = |pins: &[DebPin]| -> BTreeSet<String> {
                        pins.iter()
                            .map(|p| format!("{} {}", p.name, p.version))
                            .collect()
                    };
                    let (before, after) = (text(&o.debs), text(&n.debs));
                    changes.push(LockChange::Debs {
                        component: name.clone(),
                        removed: before.difference(&after).cloned().collect(),
                        added: after.difference(&before).cloned().collect(),
                    });
                }
                Some(_) => {}
            }
        }
        for (name, n) in &new {
            if !old.contains_key(name) {
                changes.push(LockChange::Added {
                    component: name.clone(),
                    version: n.version.clone(),
                });
            }
        }
        changes
    }
}
