//! Property tests: the resolver against a brute-force oracle on small random catalogs, and
//! determinism under shuffled catalogs. A failing case prints its catalog in the DSL, ready
//! to paste into a `check` test in resolver.rs.

mod support;

use std::collections::BTreeMap;

use compose_core::requirement::{Dependency, Requirement};
use compose_core::resolve::{ResolveError, ResolveOptions, resolve};
use compose_core::{Catalog, dsl};
use proptest::prelude::*;
use semver::Version;

const NAMES: [&str; 5] = ["a", "b", "c", "d", "e"];
const VERSIONS: [&str; 4] = ["1.0.0", "1.1.0", "2.0.0", "2.1.0-rc.1"];
const REQS: [&str; 4] = ["", " >= 1.1", " < 2", " = 1.0.0"];

fn dependency() -> impl Strategy<Value = String> {
    (0..NAMES.len() + 1, 0..REQS.len()).prop_map(|(n, r)| match NAMES.get(n) {
        Some(name) => format!("{name}{}", REQS[r]),
        None => "v".to_string(),
    })
}

fn requirement() -> impl Strategy<Value = String> {
    prop::collection::vec(dependency(), 1..3).prop_map(|alts| alts.join(" | "))
}

/// One component version line of the DSL.
fn version_line(name: &'static str, version: &'static str) -> impl Strategy<Value = String> {
    (
        prop::collection::vec(requirement(), 0..3),
        prop::option::weighted(0.2, 0..NAMES.len() + 1),
        prop::bool::weighted(0.4),
        prop::option::weighted(0.2, prop::sample::select(vec!["x", "y"])),
    )
        .prop_map(move |(requires, conflict, provides, needs)| {
            let requires: Vec<String> = requires
                .into_iter()
                .filter(|r| !r.split(" | ").any(|a| a.split(' ').next() == Some(name)))
                .collect();
            let mut clauses = Vec::new();
            if !requires.is_empty() {
                clauses.push(format!("requires {}", requires.join(", ")));
            }
            if let Some(c) = conflict
                .map(|c| NAMES.get(c).copied().unwrap_or("v"))
                .filter(|c| *c != name)
            {
                clauses.push(format!("conflicts {c}"));
            }
            if provides {
                clauses.push("provides v".into());
            }
            if let Some(cap) = needs {
                clauses.push(format!("needs {cap}"));
            }
            format!("{name} {version}: {}", clauses.join("; "))
        })
}

/// A whole catalog: 1..=3 versions of each name, and device `d`.
fn catalog_lines() -> impl Strategy<Value = Vec<String>> {
    let per_name: Vec<_> = NAMES
        .iter()
        .map(|name| {
            prop::sample::subsequence(VERSIONS.to_vec(), 1..=3).prop_flat_map(move |versions| {
                versions
                    .into_iter()
                    .map(|v| version_line(name, v))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    (
        per_name,
        prop::collection::vec(requirement(), 1..3),
        prop::bool::ANY,
    )
        .prop_map(|(lines, roots, cap)| {
            let mut all: Vec<String> = lines.into_iter().flatten().collect();
            let caps = if cap { "; caps x" } else { "" };
            all.push(format!("device d: roots {}{caps}", roots.join(", ")));
            all
        })
}

fn load(lines: &[String]) -> Option<Catalog> {
    let (manifests, devices) = dsl::files(&lines.join("\n"));
    Catalog::load(&manifests, &devices).ok().map(|l| l.catalog)
}

fn satisfied(catalog: &Catalog, chosen: &BTreeMap<String, Version>, dep: &Dependency) -> bool {
    // A bare name matches every version; otherwise semver decides.
    let fits = |v: &Version| dep.req.comparators.is_empty() || dep.req.matches(v);
    let by_name = |name: &str| chosen.get(name).filter(|v| fits(v)).is_some();
    match catalog.providers(&dep.name) {
        Some(providers) => providers.iter().any(|p| {
            chosen.get(p).is_some_and(|v| {
                fits(v)
                    && catalog
                        .versions(p)
                        .iter()
                        .any(|c| &c.version == v && c.provides.contains(&dep.name))
            })
        }),
        None => by_name(&dep.name),
    }
}

fn requirement_met(catalog: &Catalog, chosen: &BTreeMap<String, Version>, r: &Requirement) -> bool {
    r.alternatives.iter().any(|d| satisfied(catalog, chosen, d))
}

/// Whether `chosen` is a valid image for device `d`, checked from the definitions alone.
fn valid(catalog: &Catalog, chosen: &BTreeMap<String, Version>) -> bool {
    let device = catalog.device("d").unwrap();
    device
        .roots
        .iter()
        .all(|r| requirement_met(catalog, chosen, &r.value))
        && chosen.iter().all(|(name, version)| {
            let c = catalog
                .versions(name)
                .iter()
                .find(|c| &c.version == version)
                .unwrap();
            c.device_needs
                .iter()
                .all(|n| device.capabilities.contains(n))
                && c.requires
                    .iter()
                    .all(|r| requirement_met(catalog, chosen, &r.value))
                && c.conflicts.iter().all(|r| {
                    // Conflicting with a virtual one provides itself means: with the others.
                    let others: BTreeMap<String, Version> = chosen
                        .iter()
                        .filter(|(n, _)| *n != name)
                        .map(|(n, v)| (n.clone(), v.clone()))
                        .collect();
                    !requirement_met(catalog, &others, &r.value)
                })
        })
}

/// Tries every assignment of at most one version (or none) to each component.
fn oracle(catalog: &Catalog) -> bool {
    let names: Vec<(&String, Vec<Version>)> = catalog
        .components()
        .map(|(n, v)| (n, v.iter().map(|c| c.version.clone()).collect()))
        .collect();
    let mut choice = vec![0usize; names.len()];
    loop {
        let chosen: BTreeMap<String, Version> = names
            .iter()
            .zip(&choice)
            .filter(|(_, c)| **c > 0)
            .map(|((n, vs), c)| ((*n).clone(), vs[c - 1].clone()))
            .collect();
        if valid(catalog, &chosen) {
            return true;
        }
        let mut i = 0;
        loop {
            if i == names.len() {
                return false;
            }
            choice[i] += 1;
            if choice[i] <= names[i].1.len() {
                break;
            }
            choice[i] = 0;
            i += 1;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn resolver_agrees_with_brute_force(lines in catalog_lines()) {
        let Some(catalog) = load(&lines) else { return Ok(()) };
        let catalog_text = lines.join("\n");
        let result = resolve(&catalog, "d", &ResolveOptions::default());
        let expected = oracle(&catalog);
        match &result {
            Ok(r) => {
                let chosen = r.components.iter().map(|c| (c.name.clone(), c.version.clone())).collect();
                prop_assert!(valid(&catalog, &chosen), "resolution is not valid:\n{}\ncatalog:\n{catalog_text}", support::render(&result));
            }
            Err(ResolveError::Cycle { .. }) => prop_assert!(expected, "cycle reported for an unsatisfiable catalog:\n{catalog_text}"),
            Err(_) => prop_assert!(!expected, "resolver found no solution but one exists:\n{}\ncatalog:\n{catalog_text}", support::render(&result)),
        }
        if result.is_ok() {
            prop_assert!(expected, "oracle disagrees:\n{catalog_text}");
        }
    }

    #[test]
    fn resolution_does_not_depend_on_catalog_order(lines in catalog_lines(), seed in any::<u64>()) {
        let Some(catalog) = load(&lines) else { return Ok(()) };
        let mut shuffled = lines.clone();
        // Fisher-Yates with a small LCG, so the permutation is part of the shrunk input.
        let mut state = seed;
        for i in (1..shuffled.len()).rev() {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            shuffled.swap(i, (state >> 33) as usize % (i + 1));
        }
        let other = load(&shuffled).expect("a shuffled valid catalog stays valid");
        let first = support::render(&resolve(&catalog, "d", &ResolveOptions::default()));
        let second = support::render(&resolve(&other, "d", &ResolveOptions::default()));
        prop_assert_eq!(first, second, "catalog:\n{}", lines.join("\n"));
    }
}
