//! The catalog encoded for pubgrub: alternatives, virtuals, features, conflicts and
//! recommends become small synthetic packages, so pubgrub's complete search and its
//! derivation trees apply to all of them.
//!
//! Versions are indices: for a component, the index into its ascending version list;
//! for a synthetic package, the index of the option it stands for.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::convert::Infallible;
use std::fmt;

use pubgrub::{
    Dependencies, DependencyConstraints, DependencyProvider, PackageResolutionStatistics, Ranges,
};
use semver::Version;

use crate::catalog::Catalog;
use crate::device::Device;
use crate::manifest::Component;
use crate::requirement::{Dependency, Requirement};
use crate::resolve::ResolveOptions;

pub(crate) type Set = Ranges<u32>;

/// Dependencies of one package version, ordered so that resolution is deterministic.
type Deps = BTreeMap<Pkg, Set>;

/// A pubgrub package. Names are indices into [`Provider::names`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Pkg {
    /// The device; its one version depends on the roots.
    Root,
    Comp(u32),
    /// A feature of a component: versions mirror the component's, each pinning it.
    Feature(u32, u32),
    /// A requirement with alternatives, or a virtual: version `k` takes option `k`.
    Choice(u32),
    /// A recommends: version 0 takes it, version 1 drops it.
    Recommend(u32),
    /// A declared conflict: the declarer needs 0, every target needs 1.
    Conflict(u32),
}

impl fmt::Display for Pkg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

/// Why a package version cannot be used, in terms pubgrub does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unusable {
    MissingCapability(String),
    NoFeature(String),
}

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unusable::MissingCapability(c) => write!(f, "needs capability {c}"),
            Unusable::NoFeature(x) => write!(f, "has no feature {x}"),
        }
    }
}

/// What a dependency edge between two packages stands for, to explain it in user terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Label {
    Requires(Vec<Requirement>),
    Conflicts(Requirement),
    /// Glue: a feature pinning its component, a choice option, a conflict target, a recommend.
    Glue,
}

/// A requirement with alternatives (or a virtual) and its options, in preference order.
#[derive(Debug, Clone)]
pub(crate) struct Choice {
    pub(crate) options: Vec<Dependency>,
    /// Set when the choice stands for a virtual.
    pub(crate) virtual_name: Option<String>,
    /// Set when the requirement names nothing in the catalog.
    pub(crate) unknown_name: Option<String>,
}

/// Numbers values in the order they are first seen: the ids of synthetic packages.
#[derive(Debug)]
struct Interner<K> {
    items: Vec<K>,
    ids: HashMap<K, u32>,
}

impl<K> Default for Interner<K> {
    fn default() -> Self {
        Interner {
            items: Vec::new(),
            ids: HashMap::new(),
        }
    }
}

impl<K: std::hash::Hash + Eq + Clone> Interner<K> {
    fn id<Q: std::hash::Hash + Eq + ?Sized>(&self, key: &Q) -> Option<u32>
    where
        K: std::borrow::Borrow<Q>,
    {
        self.ids.get(key).copied()
    }

    fn intern(&mut self, key: &K) -> u32 {
        if let Some(id) = self.ids.get(key) {
            return *id;
        }
        let id = self.items.len() as u32;
        self.items.push(key.clone());
        self.ids.insert(key.clone(), id);
        id
    }

    fn get(&self, id: u32) -> &K {
        &self.items[id as usize]
    }
}

/// Synthetic packages met during one solve.
#[derive(Debug, Default)]
struct Interned {
    /// Requirements that became choices; `choices` holds each one's options, by the same id.
    choice_keys: Interner<Requirement>,
    choices: Vec<Choice>,
    recommends: Interner<Requirement>,
    features: Interner<String>,
}

/// What the solver needs of the catalog, indexed once per `resolve` call and shared by the
/// solves it makes (the main one, and one per dropped recommends).
#[derive(Debug)]
pub(crate) struct Index<'c> {
    pub(crate) catalog: &'c Catalog,
    pub(crate) names: Vec<&'c str>,
    ids: HashMap<&'c str, u32>,
    /// Versions of each component by id (the catalog's map lookups are too slow for the
    /// solver's inner loop).
    versions: Vec<&'c [Component]>,
    /// Virtual names, for the same reason.
    virtuals: HashSet<&'c str>,
    /// Conflicts: declarer `(comp, version)` -> conflict ids, and targets likewise.
    conflict_decls: HashMap<(u32, u32), Vec<(u32, Requirement)>>,
    conflict_targets: HashMap<(u32, u32), Vec<u32>>,
}

impl<'c> Index<'c> {
    pub(crate) fn new(catalog: &'c Catalog) -> Self {
        let names: Vec<&str> = catalog.components().map(|(n, _)| n.as_str()).collect();
        let ids = names
            .iter()
            .enumerate()
            .map(|(i, n)| (*n, i as u32))
            .collect();
        let versions = catalog.components().map(|(_, v)| v.as_slice()).collect();
        let virtuals = names
            .iter()
            .flat_map(|n| catalog.versions(n))
            .flat_map(|c| c.provides.iter().map(String::as_str))
            .collect();
        let mut index = Index {
            catalog,
            names,
            ids,
            versions,
            virtuals,
            conflict_decls: HashMap::new(),
            conflict_targets: HashMap::new(),
        };
        index.index_conflicts();
        index
    }

    fn index_conflicts(&mut self) {
        let mut next = 0;
        for a in 0..self.names.len() as u32 {
            for (ai, comp) in self.versions(a).iter().enumerate() {
                for conflict in &comp.conflicts {
                    let id = next;
                    next += 1;
                    self.conflict_decls
                        .entry((a, ai as u32))
                        .or_default()
                        .push((id, conflict.value.clone()));
                    for dep in &conflict.value.alternatives {
                        // A component may conflict with a virtual it provides itself ("only
                        // one mta"): it conflicts with the others, not with itself.
                        for (b, bi) in self.matching(dep).into_iter().filter(|(b, _)| *b != a) {
                            self.conflict_targets.entry((b, bi)).or_default().push(id);
                        }
                    }
                }
            }
        }
    }

    /// Every `(component, version index)` that satisfies `dep`, through virtuals too.
    fn matching(&self, dep: &Dependency) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        let names: Vec<&str> = match self.catalog.providers(&dep.name) {
            Some(providers) => providers.iter().map(String::as_str).collect(),
            None => vec![dep.name.as_str()],
        };
        let is_virtual = self.catalog.providers(&dep.name).is_some();
        for name in names {
            let Some(id) = self.id(name) else { continue };
            for (i, c) in self.versions(id).iter().enumerate() {
                if dep.matches(&c.version) && (!is_virtual || c.provides.contains(&dep.name)) {
                    out.push((id, i as u32));
                }
            }
        }
        out
    }

    pub(crate) fn id(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    pub(crate) fn versions(&self, id: u32) -> &'c [Component] {
        self.versions[id as usize]
    }

    fn is_virtual(&self, name: &str) -> bool {
        self.virtuals.contains(name)
    }
}

/// The pubgrub dependency provider for one device.
#[derive(Debug)]
pub(crate) struct Provider<'i, 'c> {
    pub(crate) index: &'i Index<'c>,
    pub(crate) device: &'c Device,
    /// Preferred version index per component (from the lock file).
    locked: HashMap<u32, u32>,
    /// Requirements added to the device's roots (forced alternatives, forced recommends).
    pub(crate) extra_roots: Vec<Requirement>,
    /// Virtuals that may only be provided by the named component (what `explain` asks).
    only_providers: &'i BTreeMap<String, String>,
    interned: RefCell<Interned>,
}

impl<'i, 'c> Provider<'i, 'c> {
    pub(crate) fn new(
        index: &'i Index<'c>,
        device: &'c Device,
        options: &'i ResolveOptions,
    ) -> Self {
        let locked = options
            .locked
            .iter()
            .filter_map(|(name, version)| {
                let id = index.id(name)?;
                let i = index
                    .versions(id)
                    .iter()
                    .position(|c| &c.version == version)?;
                Some((id, i as u32))
            })
            .collect();
        Provider {
            index,
            device,
            locked,
            extra_roots: options.extra_roots.clone(),
            only_providers: &options.only_providers,
            interned: RefCell::default(),
        }
    }

    pub(crate) fn id(&self, name: &str) -> Option<u32> {
        self.index.id(name)
    }

    pub(crate) fn versions(&self, id: u32) -> &'c [Component] {
        self.index.versions(id)
    }

    pub(crate) fn name(&self, id: u32) -> &'c str {
        self.index.names[id as usize]
    }

    pub(crate) fn is_virtual(&self, name: &str) -> bool {
        self.index.is_virtual(name)
    }

    /// The device's roots and the ones added for this solve.
    pub(crate) fn roots(&self) -> impl Iterator<Item = &Requirement> {
        self.device
            .roots
            .iter()
            .map(|r| &r.value)
            .chain(&self.extra_roots)
    }

    /// The one provider a virtual is restricted to, if any.
    pub(crate) fn only_provider(&self, virt: &str) -> Option<&str> {
        self.only_providers.get(virt).map(String::as_str)
    }

    /// The id of an interned choice: only choices the solver met have one.
    pub(crate) fn choice_id(&self, requirement: &Requirement) -> Option<u32> {
        self.interned.borrow().choice_keys.id(requirement)
    }

    pub(crate) fn feature_name(&self, id: u32) -> String {
        self.interned.borrow().features.get(id).clone()
    }

    pub(crate) fn choice(&self, id: u32) -> Choice {
        self.interned.borrow().choices[id as usize].clone()
    }

    pub(crate) fn recommend(&self, id: u32) -> Requirement {
        self.interned.borrow().recommends.get(id).clone()
    }

    pub(crate) fn recommend_id(&self, r: &Requirement) -> Option<u32> {
        self.interned.borrow().recommends.id(r)
    }

    /// The set of version indices of `id` whose version matches `req`.
    fn version_set(&self, id: u32, dep: &Dependency) -> Set {
        // Matching versions usually form one run of the ascending list: add runs, not points.
        let versions = self.versions(id);
        let mut set = Set::empty();
        let mut i = 0;
        while i < versions.len() {
            let start = i;
            while i < versions.len() && dep.matches(&versions[i].version) {
                i += 1;
            }
            if i > start {
                set = set.union(&Set::from_range_bounds(start as u32..=(i - 1) as u32));
            } else {
                i += 1;
            }
        }
        set
    }

    /// Packages and version sets that together satisfy `requirement`.
    pub(crate) fn demand(&self, requirement: &Requirement) -> Vec<(Pkg, Set)> {
        if let [dep] = requirement.alternatives.as_slice() {
            if !self.is_virtual(&dep.name) {
                return self.demand_component(dep);
            }
        }
        vec![(Pkg::Choice(self.intern_choice(requirement)), Set::full())]
    }

    fn demand_component(&self, dep: &Dependency) -> Vec<(Pkg, Set)> {
        let Some(id) = self.id(&dep.name) else {
            // Catalog checks reject unknown names; a forced root may still name one, and then
            // becomes a choice without options, which pubgrub reports as unsatisfiable.
            return vec![(
                Pkg::Choice(self.intern_choice(&Requirement {
                    alternatives: vec![dep.clone()],
                })),
                Set::full(),
            )];
        };
        let set = self.version_set(id, dep);
        let mut out = vec![(Pkg::Comp(id), set.clone())];
        for f in &dep.features {
            out.push((Pkg::Feature(id, self.feature_id(f)), set.clone()));
        }
        out
    }

    fn feature_id(&self, name: &str) -> u32 {
        if let Some(id) = self.interned.borrow().features.id(name) {
            return id;
        }
        self.interned
            .borrow_mut()
            .features
            .intern(&name.to_string())
    }

    fn intern_choice(&self, requirement: &Requirement) -> u32 {
        if let Some(id) = self.interned.borrow().choice_keys.id(requirement) {
            return id;
        }
        let choice = match requirement.alternatives.as_slice() {
            [dep] if self.is_virtual(&dep.name) => Choice {
                options: self.providers_in_order(dep),
                virtual_name: Some(dep.name.clone()),
                unknown_name: None,
            },
            [dep] if self.id(&dep.name).is_none() => Choice {
                options: Vec::new(),
                virtual_name: None,
                unknown_name: Some(dep.name.clone()),
            },
            alternatives => Choice {
                options: alternatives.to_vec(),
                virtual_name: None,
                unknown_name: None,
            },
        };
        let mut interned = self.interned.borrow_mut();
        interned.choices.push(choice);
        interned.choice_keys.intern(requirement)
    }

    /// Providers of a virtual: the device's preference first, then by highest version, then name.
    fn providers_in_order(&self, dep: &Dependency) -> Vec<Dependency> {
        let preferred = self.device.prefer.get(&dep.name).map(|p| p.value.as_str());
        let mut providers: Vec<(bool, Reverse<Version>, &str)> = self
            .index
            .catalog
            .providers(&dep.name)
            .into_iter()
            .flatten()
            .filter(|name| {
                self.only_providers
                    .get(&dep.name)
                    .is_none_or(|only| only == *name)
            })
            .filter_map(|name| {
                let best = self
                    .index
                    .catalog
                    .versions(name)
                    .iter()
                    .rev()
                    .find(|c| c.provides.contains(&dep.name))?;
                Some((
                    Some(name.as_str()) != preferred,
                    Reverse(best.version.clone()),
                    name.as_str(),
                ))
            })
            .collect();
        providers.sort();
        providers
            .into_iter()
            .map(|(_, _, name)| Dependency {
                name: name.to_string(),
                features: dep.features.clone(),
                req: dep.req.clone(),
            })
            .collect()
    }

    fn intern_recommend(&self, requirement: &Requirement) -> u32 {
        self.interned.borrow_mut().recommends.intern(requirement)
    }

    /// Adds what `requirement` demands to `deps`, intersecting with what is there.
    fn add(&self, deps: &mut Deps, requirement: &Requirement) {
        for (pkg, set) in self.demand(requirement) {
            add_one(deps, pkg, set);
        }
    }

    /// What the dependency edge `from` (at version index `version`) -> `to` stands for.
    /// Recomputed from the catalog, only when a failure is explained.
    pub(crate) fn label(&self, from: Pkg, version: u32, to: Pkg) -> Label {
        let demands = |r: &Requirement| self.demand(r).iter().any(|(p, _)| *p == to);
        let requires: Vec<Requirement> = match from {
            Pkg::Root => self.roots().filter(|r| demands(r)).cloned().collect(),
            Pkg::Comp(id) => {
                let Some(c) = self.versions(id).get(version as usize) else {
                    return Label::Glue;
                };
                if let Pkg::Conflict(cid) = to {
                    let declared = self
                        .index
                        .conflict_decls
                        .get(&(id, version))
                        .into_iter()
                        .flatten();
                    if let Some((_, r)) = declared.into_iter().find(|(d, _)| *d == cid) {
                        return Label::Conflicts(r.clone());
                    }
                }
                c.requires
                    .iter()
                    .map(|r| &r.value)
                    .filter(|r| demands(r))
                    .cloned()
                    .collect()
            }
            Pkg::Feature(id, f) => {
                let feature = self.feature_name(f);
                let Some(c) = self.versions(id).get(version as usize) else {
                    return Label::Glue;
                };
                let requires = c.features.get(&feature).into_iter().flatten();
                requires
                    .map(|r| &r.value)
                    .filter(|r| demands(r))
                    .cloned()
                    .collect()
            }
            _ => Vec::new(),
        };
        if requires.is_empty() {
            Label::Glue
        } else {
            Label::Requires(requires)
        }
    }

    /// Whether a component version's device needs are all met.
    fn fits_device(&self, id: u32, index: u32) -> bool {
        self.versions(id).get(index as usize).is_some_and(|c| {
            c.device_needs
                .iter()
                .all(|n| self.device.capabilities.contains(n))
        })
    }

    fn comp_dependencies(&self, id: u32, index: u32) -> Dependencies<Pkg, Set, Unusable> {
        let Some(c) = self.versions(id).get(index as usize) else {
            return Dependencies::Available(DependencyConstraints::default());
        };
        if let Some(missing) = c
            .device_needs
            .iter()
            .find(|n| !self.device.capabilities.contains(*n))
        {
            return Dependencies::Unavailable(Unusable::MissingCapability(missing.clone()));
        }
        let mut deps = Deps::default();
        for r in &c.requires {
            self.add(&mut deps, &r.value);
        }
        for r in &c.recommends {
            add_one(
                &mut deps,
                Pkg::Recommend(self.intern_recommend(&r.value)),
                Set::full(),
            );
        }
        for (conflict, _) in self
            .index
            .conflict_decls
            .get(&(id, index))
            .into_iter()
            .flatten()
        {
            add_one(&mut deps, Pkg::Conflict(*conflict), Set::singleton(0u32));
        }
        for conflict in self
            .index
            .conflict_targets
            .get(&(id, index))
            .into_iter()
            .flatten()
        {
            add_one(&mut deps, Pkg::Conflict(*conflict), Set::singleton(1u32));
        }
        Dependencies::Available(deps.into_iter().collect())
    }
}

fn add_one(deps: &mut Deps, pkg: Pkg, set: Set) {
    let merged = match deps.get(&pkg) {
        Some(existing) => existing.intersection(&set),
        None => set,
    };
    deps.insert(pkg, merged);
}

impl DependencyProvider for Provider<'_, '_> {
    type P = Pkg;
    type V = u32;
    type VS = Set;
    type M = Unusable;
    type Err = Infallible;
    type Priority = (bool, u32, Reverse<usize>, Reverse<Pkg>);

    fn prioritize(
        &self,
        package: &Pkg,
        range: &Set,
        stats: &PackageResolutionStatistics,
    ) -> Self::Priority {
        let candidates = match package {
            Pkg::Root => 1,
            Pkg::Comp(id) | Pkg::Feature(id, _) => (0..self.versions(*id).len() as u32)
                .filter(|i| range.contains(i))
                .count(),
            Pkg::Choice(id) => {
                let n = self.interned.borrow().choices[*id as usize].options.len() as u32;
                (0..n).filter(|i| range.contains(i)).count()
            }
            Pkg::Recommend(_) | Pkg::Conflict(_) => 2,
        };
        // Hard requirements first; recommends only once everything they could break is decided.
        (
            !matches!(package, Pkg::Recommend(_)),
            stats.conflict_count(),
            Reverse(candidates),
            // Ties: the package seen first (lowest id) first, so the search stays depth-first
            // and deterministic.
            Reverse(*package),
        )
    }

    fn choose_version(&self, package: &Pkg, range: &Set) -> Result<Option<u32>, Infallible> {
        Ok(match package {
            Pkg::Root => range.contains(&0).then_some(0),
            Pkg::Comp(id) | Pkg::Feature(id, _) => {
                let n = self.versions(*id).len() as u32;
                let usable = |i: &u32| self.fits_device(*id, *i);
                match self.locked.get(id) {
                    Some(locked) if range.contains(locked) => Some(*locked),
                    // Skip versions the device cannot run: pubgrub would only learn that the
                    // hard way, by backtracking. If none fits, offer one so it learns why.
                    _ => (0..n)
                        .rev()
                        .filter(|i| range.contains(i))
                        .find(usable)
                        .or_else(|| (0..n).rev().find(|i| range.contains(i))),
                }
            }
            Pkg::Choice(id) => {
                let (options, virtual_name) = {
                    let interned = self.interned.borrow();
                    let choice = &interned.choices[*id as usize];
                    (choice.options.clone(), choice.virtual_name.clone())
                };
                // The device's own preference comes before the lock: a device that now
                // prefers another provider gets it (and the lock changes with it).
                let preferred = virtual_name
                    .as_ref()
                    .and_then(|v| self.device.prefer.get(v))
                    .map(|p| p.value.clone());
                let in_range = |i: &usize| range.contains(&(*i as u32));
                let usable = |i: &usize| {
                    self.id(&options[*i].name).is_none_or(|c| {
                        (0..self.versions(c).len() as u32).any(|v| self.fits_device(c, v))
                    })
                };
                // The option the lock file took, if still possible; else the first usable.
                let locked = |i: &usize| {
                    self.id(&options[*i].name)
                        .is_some_and(|c| self.locked.contains_key(&c))
                };
                let candidates = || (0..options.len()).filter(in_range);
                let is_preferred = |i: &usize| Some(&options[*i].name) == preferred.as_ref();
                candidates()
                    .filter(usable)
                    .find(is_preferred)
                    .or_else(|| candidates().filter(usable).find(locked))
                    .or_else(|| candidates().find(usable))
                    .or_else(|| candidates().next())
                    .map(|i| i as u32)
            }
            Pkg::Recommend(_) | Pkg::Conflict(_) => (0..2).find(|i| range.contains(i)),
        })
    }

    fn get_dependencies(
        &self,
        package: &Pkg,
        version: &u32,
    ) -> Result<Dependencies<Pkg, Set, Unusable>, Infallible> {
        let mut deps = Deps::default();
        match *package {
            Pkg::Root => {
                for r in self.roots() {
                    self.add(&mut deps, r);
                }
            }
            Pkg::Comp(id) => return Ok(self.comp_dependencies(id, *version)),
            Pkg::Feature(id, f) => {
                let feature = self.feature_name(f);
                let Some(c) = self.versions(id).get(*version as usize) else {
                    return Ok(Dependencies::Available(deps.into_iter().collect()));
                };
                let Some(requires) = c.features.get(&feature) else {
                    return Ok(Dependencies::Unavailable(Unusable::NoFeature(feature)));
                };
                add_one(&mut deps, Pkg::Comp(id), Set::singleton(*version));
                for r in requires {
                    self.add(&mut deps, &r.value);
                }
            }
            Pkg::Choice(id) => {
                let choice = self.choice(id);
                let Some(option) = choice.options.get(*version as usize) else {
                    return Ok(Dependencies::Available(DependencyConstraints::default()));
                };
                let demands = match (&choice.virtual_name, self.id(&option.name)) {
                    // A provider counts only in the versions that provide the virtual.
                    (Some(virt), Some(id)) => {
                        let provides = self
                            .versions(id)
                            .iter()
                            .enumerate()
                            .filter(|(_, c)| c.provides.contains(virt));
                        let set = provides.fold(Set::empty(), |set, (i, c)| {
                            if option.matches(&c.version) {
                                set.union(&Set::singleton(i as u32))
                            } else {
                                set
                            }
                        });
                        vec![(Pkg::Comp(id), set)]
                    }
                    _ => self.demand(&Requirement {
                        alternatives: vec![option.clone()],
                    }),
                };
                for (pkg, set) in demands {
                    add_one(&mut deps, pkg, set);
                }
            }
            Pkg::Recommend(id) => {
                if *version == 0 {
                    let r = self.recommend(id);
                    self.add(&mut deps, &r);
                }
            }
            Pkg::Conflict(_) => {}
        }
        Ok(Dependencies::Available(deps.into_iter().collect()))
    }
}
