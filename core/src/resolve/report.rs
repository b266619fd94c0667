//! Unsatisfiable resolutions as data: the facts of pubgrub's derivation tree, in user terms.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use pubgrub::{DerivationTree, External};
use semver::Version;
use serde::Serialize;

use super::provider::{Label, Pkg, Provider, Set, Unusable};
use crate::requirement::Requirement;

/// One fact of an explanation: together, the facts are why no resolution exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Fact {
    /// The device profile (or the command line) asks for this.
    DeviceRequires {
        device: String,
        requirement: Requirement,
    },
    /// Asked for by the question, not the device: "what if this were taken?".
    Assumed {
        requirement: Requirement,
        provider: Option<String>,
    },
    /// These versions of a component (or of one of its features) require this.
    Requires {
        component: String,
        versions: Vec<Version>,
        requirement: Requirement,
    },
    /// These versions of a component conflict with this.
    Conflicts {
        component: String,
        versions: Vec<Version>,
        with: Requirement,
    },
    /// No version of a component satisfies what is asked of it.
    NoMatchingVersion {
        component: String,
        available: Vec<Version>,
    },
    /// Nothing in the catalog has this name.
    NotInCatalog { name: String },
    /// These versions need a capability the device lacks.
    MissingCapability {
        component: String,
        versions: Vec<Version>,
        capability: String,
        device: String,
    },
    /// Taking it would make the components require each other in a circle.
    Cycle {
        cycle: Vec<String>,
        links: Vec<super::CycleLink>,
    },
    /// These versions do not have the feature asked for.
    NoFeature {
        component: String,
        versions: Vec<Version>,
        feature: String,
    },
}

impl Fact {
    /// The component the fact is about, if any.
    fn subject(&self) -> Option<&str> {
        match self {
            Fact::DeviceRequires { .. } | Fact::Assumed { .. } => None,
            Fact::Requires { component, .. }
            | Fact::Conflicts { component, .. }
            | Fact::NoMatchingVersion { component, .. }
            | Fact::MissingCapability { component, .. }
            | Fact::NoFeature { component, .. } => {
                Some(component.split('[').next().unwrap_or(component))
            }
            Fact::NotInCatalog { name } => Some(name),
            Fact::Cycle { .. } => None,
        }
    }

    /// Names this fact leads on to.
    fn targets(&self) -> Vec<&str> {
        match self {
            Fact::DeviceRequires { requirement, .. }
            | Fact::Assumed { requirement, .. }
            | Fact::Requires { requirement, .. } => requirement
                .alternatives
                .iter()
                .map(|d| d.name.as_str())
                .collect(),
            Fact::Conflicts { with, .. } => {
                with.alternatives.iter().map(|d| d.name.as_str()).collect()
            }
            _ => Vec::new(),
        }
    }
}

fn versions_text(versions: &[Version]) -> String {
    match versions {
        [] => "(no version)".into(),
        [v] => v.to_string(),
        many => format!(
            "{{{}}}",
            many.iter()
                .map(Version::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

impl fmt::Display for Fact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fact::DeviceRequires {
                device,
                requirement,
            } => write!(f, "device {device} requires {requirement}"),
            Fact::Assumed {
                requirement,
                provider: None,
            } => write!(f, "if the image takes {requirement}"),
            Fact::Assumed {
                requirement,
                provider: Some(p),
            } => write!(f, "if {p} provides {requirement}"),
            Fact::Requires {
                component,
                versions,
                requirement,
            } => {
                write!(
                    f,
                    "{component} {} requires {requirement}",
                    versions_text(versions)
                )
            }
            Fact::Conflicts {
                component,
                versions,
                with,
            } => {
                write!(
                    f,
                    "{component} {} conflicts with {with}",
                    versions_text(versions)
                )
            }
            Fact::NoMatchingVersion {
                component,
                available,
            } if available.is_empty() => {
                write!(f, "but {component} has no version")
            }
            Fact::NoMatchingVersion {
                component,
                available,
            } => write!(
                f,
                "but no version of {component} matches (the catalog has {})",
                available
                    .iter()
                    .map(Version::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Fact::NotInCatalog { name } => write!(f, "but nothing in the catalog is named {name}"),
            Fact::MissingCapability {
                component,
                versions,
                capability,
                device,
            } => write!(
                f,
                "{component} {} needs capability {capability}, which device {device} lacks",
                versions_text(versions)
            ),
            Fact::Cycle { links, .. } => {
                write!(
                    f,
                    "it makes a dependency cycle: {}",
                    super::cycle_text(links)
                )
            }
            Fact::NoFeature {
                component,
                versions,
                feature,
            } => {
                write!(
                    f,
                    "{component} {} has no feature {feature}",
                    versions_text(versions)
                )
            }
        }
    }
}

/// Collects the facts of a derivation tree, deduplicated and ordered from the device outward.
pub(crate) fn facts(
    provider: &Provider<'_, '_>,
    tree: &DerivationTree<Pkg, Set, Unusable>,
) -> Vec<Fact> {
    let mut found = Vec::new();
    collect(provider, tree, &mut found);
    let mut seen = BTreeSet::new();
    found.retain(|f: &Fact| seen.insert(format!("{f:?}")));
    order_from_device(found)
}

fn collect(
    provider: &Provider<'_, '_>,
    tree: &DerivationTree<Pkg, Set, Unusable>,
    out: &mut Vec<Fact>,
) {
    match tree {
        DerivationTree::Derived(d) => {
            collect(provider, &d.cause1, out);
            collect(provider, &d.cause2, out);
        }
        DerivationTree::External(e) => {
            out.extend(external_fact(provider, e));
            // A requirement no version can meet is an empty set: pubgrub needs no separate
            // "no versions" step for it, but a reader does.
            if let External::FromDependencyOf(_, _, Pkg::Comp(id), set) = e {
                if versions_in(provider, *id, set).is_empty() {
                    out.push(no_matching_version(provider, *id));
                }
            }
        }
    }
}

fn external_fact(p: &Provider<'_, '_>, e: &External<Pkg, Set, Unusable>) -> Option<Fact> {
    let device = || p.device.name.clone();
    match e {
        External::NotRoot(..) => None,
        External::FromDependencyOf(from, from_set, to, _) => {
            let first = match from_set.bounding_range() {
                Some((std::ops::Bound::Included(v), _)) => *v,
                Some((std::ops::Bound::Excluded(v), _)) => v + 1,
                _ => 0,
            };
            let label = p.label(*from, first, *to);
            let requirement = match &label {
                Label::Requires(list) => merge(list),
                Label::Conflicts(with) => with.clone(),
                Label::Glue => return None,
            };
            let (component, versions) = match from {
                Pkg::Root if p.extra_roots.contains(&requirement) => {
                    let provider = match requirement.alternatives.as_slice() {
                        [dep] => p.only_provider(&dep.name).map(str::to_string),
                        _ => None,
                    };
                    return Some(Fact::Assumed {
                        requirement,
                        provider,
                    });
                }
                Pkg::Root => {
                    return Some(Fact::DeviceRequires {
                        device: device(),
                        requirement,
                    });
                }
                Pkg::Comp(id) => (p.name(*id).to_string(), versions_in(p, *id, from_set)),
                Pkg::Feature(id, f) => (
                    format!("{}[{}]", p.name(*id), p.feature_name(*f)),
                    versions_in(p, *id, from_set),
                ),
                _ => return None,
            };
            Some(match label {
                Label::Conflicts(_) => Fact::Conflicts {
                    component,
                    versions,
                    with: requirement,
                },
                _ => Fact::Requires {
                    component,
                    versions,
                    requirement,
                },
            })
        }
        External::NoVersions(Pkg::Comp(id), _) => Some(no_matching_version(p, *id)),
        External::NoVersions(Pkg::Choice(id), _) => {
            let choice = p.choice(*id);
            if let Some(name) = choice.unknown_name {
                Some(Fact::NotInCatalog { name })
            } else if let (true, Some(name)) = (choice.options.is_empty(), choice.virtual_name) {
                Some(Fact::NoMatchingVersion {
                    component: name,
                    available: Vec::new(),
                })
            } else {
                None
            }
        }
        External::NoVersions(..) => None,
        External::Custom(pkg, set, reason) => {
            let (Pkg::Comp(id) | Pkg::Feature(id, _)) = pkg else {
                return None;
            };
            let component = p.name(*id).to_string();
            let versions = versions_in(p, *id, set);
            Some(match reason {
                Unusable::MissingCapability(capability) => Fact::MissingCapability {
                    component,
                    versions,
                    capability: capability.clone(),
                    device: device(),
                },
                Unusable::NoFeature(feature) => Fact::NoFeature {
                    component,
                    versions,
                    feature: feature.clone(),
                },
            })
        }
    }
}

fn no_matching_version(p: &Provider<'_, '_>, id: u32) -> Fact {
    let available = p.versions(id).iter().map(|c| c.version.clone()).collect();
    Fact::NoMatchingVersion {
        component: p.name(id).to_string(),
        available,
    }
}

/// Several requirements on one package (`a >= 1` and `a < 2`) shown as one.
fn merge(list: &[Requirement]) -> Requirement {
    let mut merged = list[0].clone();
    if let ([dep], true) = (merged.alternatives.as_mut_slice(), list.len() > 1) {
        for other in &list[1..] {
            if let [o] = other.alternatives.as_slice() {
                dep.req
                    .comparators
                    .extend(o.req.comparators.iter().cloned());
            }
        }
    }
    merged
}

fn versions_in(p: &Provider<'_, '_>, id: u32, set: &Set) -> Vec<Version> {
    p.versions(id)
        .iter()
        .enumerate()
        .filter(|(i, _)| set.contains(&(*i as u32)))
        .map(|(_, c)| c.version.clone())
        .collect()
}

/// Orders facts by their distance from the device, keeping the tree's order among equals.
fn order_from_device(facts: Vec<Fact>) -> Vec<Fact> {
    let mut depth: HashMap<usize, usize> = HashMap::new();
    for (i, f) in facts.iter().enumerate() {
        if matches!(f, Fact::DeviceRequires { .. } | Fact::Assumed { .. }) {
            depth.insert(i, 0);
        }
    }
    loop {
        let mut changed = false;
        for (i, f) in facts.iter().enumerate() {
            let Some(subject) = f.subject() else { continue };
            let best = facts
                .iter()
                .enumerate()
                .filter(|(j, g)| *j != i && g.targets().contains(&subject))
                .filter_map(|(j, _)| depth.get(&j).map(|d| d + 1))
                .min();
            if let Some(d) = best {
                if depth.get(&i).is_none_or(|old| d < *old) {
                    depth.insert(i, d);
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    let mut indexed: Vec<(usize, usize, Fact)> = facts
        .into_iter()
        .enumerate()
        .map(|(i, f)| (depth.get(&i).copied().unwrap_or(usize::MAX), i, f))
        .collect();
    // Within one depth, statements before the "but ..." facts that end a chain.
    indexed.sort_by_key(|(d, i, f)| {
        (
            *d,
            matches!(
                f,
                Fact::NoMatchingVersion { .. } | Fact::NotInCatalog { .. }
            ),
            *i,
        )
    });
    indexed.into_iter().map(|(_, _, f)| f).collect()
}
