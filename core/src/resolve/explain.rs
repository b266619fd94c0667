//! `compose explain`: why a component is (or is not) in a device's image.

use semver::Version;
use serde::Serialize;

use super::{ChoiceMade, Dropped, Edge, Fact, Resolution, ResolveError, ResolveOptions, resolve};
use crate::catalog::Catalog;
use crate::requirement::{Dependency, Requirement};

/// The answer to "why is this component in the image?".
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub device: String,
    pub component: String,
    /// The chosen version; `None` when the component is not in the image.
    pub version: Option<Version>,
    /// The shortest chain of requirements from the device to the component.
    pub path: Vec<Step>,
    /// Every requirement with alternatives on that path or naming the component.
    pub choices: Vec<ChoiceReport>,
    /// Recommends of or on the component that were dropped.
    pub dropped: Vec<Dropped>,
    /// Every version of the component in the catalog, newest first, and what became of it
    /// (empty when the catalog has only one).
    pub versions: Vec<VersionReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VersionReport {
    pub version: Version,
    #[serde(flatten)]
    pub outcome: VersionOutcome,
}

/// What happened to one version of the explained component.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum VersionOutcome {
    Taken {
        reason: String,
    },
    /// Taking it leads to these facts (empty: it fails only together with other choices).
    Impossible {
        because: Vec<Fact>,
    },
    /// Older than the version taken, which fits.
    Older,
    /// It fits, but was not taken, for this reason.
    Possible {
        reason: String,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub from: String,
    pub to: String,
    #[serde(flatten)]
    pub edge: Edge,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChoiceReport {
    pub requirement: Requirement,
    pub virtual_name: Option<String>,
    pub options: Vec<OptionReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OptionReport {
    pub option: Dependency,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// What happened to one option of a choice.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    Taken {
        reason: String,
    },
    /// Taking it leads to these facts (empty: it fails only together with other choices).
    Impossible {
        because: Vec<Fact>,
    },
    /// Possible, but ranked after the taken option, so never needed.
    NotNeeded,
}

/// Explains `component` for the device of `resolution`.
pub fn explain(
    catalog: &Catalog,
    resolution: &Resolution,
    options: &ResolveOptions,
    component: &str,
) -> Result<Explanation, ResolveError> {
    let version = resolution.component(component).map(|c| c.version.clone());
    let path: Vec<Step> = resolution
        .path_to(component)
        .unwrap_or_default()
        .into_iter()
        .map(|(from, edge, to)| Step {
            from: match from {
                super::Node::Device(d) => format!("device {d}"),
                super::Node::Component(c) => c,
            },
            to: to.name().to_string(),
            edge,
        })
        .collect();
    let relevant = |c: &&ChoiceMade| {
        path.iter().any(|s| s.edge.requirement == c.requirement)
            || c.options.iter().any(|o| o.name == component)
    };
    let mut choices = Vec::new();
    for choice in resolution.choices.iter().filter(relevant) {
        choices.push(report_choice(catalog, resolution, options, choice)?);
    }
    let dropped = resolution
        .dropped
        .iter()
        .filter(|d| {
            d.component == component
                || d.requirement
                    .alternatives
                    .iter()
                    .any(|a| a.name == component)
        })
        .cloned()
        .collect();
    let versions = report_versions(catalog, resolution, options, component, version.as_ref())?;
    Ok(Explanation {
        device: resolution.device.clone(),
        component: component.to_string(),
        version,
        path,
        choices,
        dropped,
        versions,
    })
}

/// Why each version of `component` other than `chosen` was not taken: the device resolved
/// with that exact version added to its roots.
fn report_versions(
    catalog: &Catalog,
    resolution: &Resolution,
    options: &ResolveOptions,
    component: &str,
    chosen: Option<&Version>,
) -> Result<Vec<VersionReport>, ResolveError> {
    let all = catalog.versions(component);
    if all.len() < 2 {
        return Ok(Vec::new());
    }
    let locked = options.locked.get(component);
    let mut reports = Vec::new();
    let mut newer_fits = false;
    for c in all.iter().rev() {
        if Some(&c.version) == chosen {
            reports.push(VersionReport {
                version: c.version.clone(),
                outcome: VersionOutcome::Taken {
                    reason: String::new(),
                },
            });
            continue;
        }
        let mut forced = options.clone();
        forced.locked.remove(component);
        forced.extra_roots.push(Requirement {
            alternatives: vec![Dependency {
                name: component.to_string(),
                features: Vec::new(),
                req: semver::VersionReq::parse(&format!("={}", c.version))
                    .expect("an exact version is a requirement"),
            }],
        });
        let outcome = match resolve(catalog, &resolution.device, &forced) {
            Err(ResolveError::NoSolution { facts, .. }) => {
                VersionOutcome::Impossible { because: facts }
            }
            Err(ResolveError::Cycle { cycle, links, .. }) => VersionOutcome::Impossible {
                because: vec![Fact::Cycle { cycle, links }],
            },
            Err(other) => return Err(other),
            Ok(_) => match chosen {
                Some(v) if c.version < *v => VersionOutcome::Older,
                Some(v) if locked == Some(v) => {
                    newer_fits = true;
                    VersionOutcome::Possible {
                        reason: format!(
                            "compose.lock pins {v}; `compose resolve --upgrade` takes the newest that fits"
                        ),
                    }
                }
                Some(_) => {
                    newer_fits = true;
                    VersionOutcome::Possible {
                        reason: "the resolver ranked other choices first".into(),
                    }
                }
                None => VersionOutcome::Possible {
                    reason: "nothing the device needs requires it".into(),
                },
            },
        };
        reports.push(VersionReport {
            version: c.version.clone(),
            outcome,
        });
    }
    for r in &mut reports {
        if let VersionOutcome::Taken { reason } = &mut r.outcome {
            *reason = match (newer_fits, locked.is_some() && locked == chosen) {
                (true, true) => "pinned by compose.lock".into(),
                (true, false) => "ranked first together with the other choices".into(),
                (false, _) => "the newest version that fits".into(),
            };
        }
    }
    Ok(reports)
}

fn report_choice(
    catalog: &Catalog,
    resolution: &Resolution,
    options: &ResolveOptions,
    choice: &ChoiceMade,
) -> Result<ChoiceReport, ResolveError> {
    let device = catalog.device(&resolution.device);
    let mut reports = Vec::new();
    for (i, option) in choice.options.iter().enumerate() {
        let outcome = if i == choice.taken {
            let preferred = choice
                .virtual_name
                .as_ref()
                .and_then(|v| device?.prefer.get(v))
                .is_some_and(|p| p.value == option.name);
            let reason = match (&choice.virtual_name, preferred) {
                (Some(_), true) => format!("preferred by device {}", resolution.device),
                (Some(_), false) if choice.options.len() == 1 => "the only provider".into(),
                (Some(_), false) if i == 0 => "ranked first: highest version, then name".into(),
                (None, _) if i == 0 => "the first alternative listed".into(),
                _ => "the first option that can be taken".into(),
            };
            Outcome::Taken { reason }
        } else {
            let mut forced = options.clone();
            match &choice.virtual_name {
                // A provider counts only with versions that provide the virtual.
                Some(virt) => {
                    forced.extra_roots.push(choice.requirement.clone());
                    forced
                        .only_providers
                        .insert(virt.clone(), option.name.clone());
                }
                None => forced.extra_roots.push(Requirement {
                    alternatives: vec![option.clone()],
                }),
            }
            match resolve(catalog, &resolution.device, &forced) {
                Err(ResolveError::NoSolution { facts, .. }) => {
                    Outcome::Impossible { because: facts }
                }
                Err(ResolveError::Cycle { cycle, links, .. }) => Outcome::Impossible {
                    because: vec![Fact::Cycle { cycle, links }],
                },
                Err(other) => return Err(other),
                Ok(_) if i > choice.taken => Outcome::NotNeeded,
                // Possible alone, yet ranked before the taken option: it only fails together
                // with the other choices (pubgrub backtracked over it).
                Ok(_) => Outcome::Impossible {
                    because: Vec::new(),
                },
            }
        };
        reports.push(OptionReport {
            option: option.clone(),
            outcome,
        });
    }
    Ok(ChoiceReport {
        requirement: choice.requirement.clone(),
        virtual_name: choice.virtual_name.clone(),
        options: reports,
    })
}
