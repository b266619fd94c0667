//! The dependency closure of a set of Debian packages, solved with pubgrub as components
//! are: every `Depends`/`Pre-Depends` clause is satisfied by one installed package (or a
//! package that `Provides` it at a fitting version), no two installed packages conflict
//! (`Conflicts`, `Breaks`, also through `Provides`), one version per package.
//!
//! Encoding: a package's versions are 1..=n (its index versions, ascending) and 0, "not
//! installed". Dependencies exclude 0; a conflict is a dependency on the complement of
//! the conflicting versions, so it includes 0 and is satisfied by leaving the package out.
//! A clause with alternatives (or a virtual name) becomes a `Choice` whose version k is
//! option k, in apt's order of preference. Excluded packages (needed only by maintainer
//! scripts) count as present and are never followed.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::convert::Infallible;
use std::fmt;

use pubgrub::{
    DependencyProvider, DerivationTree, External, PackageResolutionStatistics, PubGrubError, Ranges,
};

use super::index::{Index, Package};
use super::relation::{Clause, Relation, clause_text, parse_relation};
use crate::lock::DebPin;

type Set = Ranges<u32>;

/// What to install: a package name (or a virtual one), optionally at exactly `version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub name: String,
    pub version: Option<String>,
}

impl Request {
    /// apt's syntax: `name` or `name=version`.
    pub fn parse(text: &str) -> Request {
        match text.split_once('=') {
            Some((name, version)) => Request {
                name: name.to_string(),
                version: Some(version.to_string()),
            },
            None => Request {
                name: text.to_string(),
                version: None,
            },
        }
    }
}

/// Choices the caller makes for the solver.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Packages that satisfy any relation on them without being installed (a requested
    /// package is installed all the same).
    pub exclude: BTreeSet<String>,
    /// Versions to keep when still possible (compose.lock's pins), by package.
    pub prefer: BTreeMap<String, String>,
}

/// A solved closure: the packages to install, by name, and the excluded ones it needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closure {
    pub packages: Vec<DebPin>,
    pub excluded: Vec<String>,
}

impl Closure {
    /// Package name to version.
    pub fn versions(&self) -> BTreeMap<String, String> {
        self.packages
            .iter()
            .map(|p| (p.name.clone(), p.version.clone()))
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClosureError {
    #[error("cannot read the request `{request}`: {reason}")]
    BadRequest { request: String, reason: String },
    #[error("the Debian packages cannot be installed together:\n{}", lines.iter().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n"))]
    NoSolution { lines: Vec<String> },
}

/// Solves the closure of `requests` in `index`.
pub fn solve(
    index: &Index,
    requests: &[Request],
    policy: &Policy,
) -> Result<Closure, ClosureError> {
    let mut roots = Vec::new();
    for r in requests {
        let relation = match &r.version {
            None => parse_relation(&r.name),
            Some(v) => parse_relation(&format!("{} (= {v})", r.name)),
        }
        .map_err(|e| ClosureError::BadRequest {
            request: r.name.clone(),
            reason: e.reason,
        })?;
        roots.push(vec![relation]);
    }
    // What is asked for by name is installed, excluded or not.
    let mut policy = policy.clone();
    for r in requests {
        policy.exclude.remove(&r.name);
    }
    let provider = Provider {
        index,
        policy: &policy,
        roots,
        choices: RefCell::default(),
    };
    let solution = match pubgrub::resolve(&provider, Pkg::Root, 0u32) {
        Ok(s) => s,
        Err(PubGrubError::NoSolution(tree)) => {
            let mut lines = Vec::new();
            provider.explain(&tree, &mut lines);
            lines.dedup();
            return Err(ClosureError::NoSolution { lines });
        }
        Err(other) => unreachable!("the provider never fails: {other:?}"),
    };
    let mut packages = Vec::new();
    let mut excluded = BTreeSet::new();
    for (pkg, version) in solution {
        match pkg {
            Pkg::Deb(name) if version > 0 => {
                packages.push(index.versions(&name)[version as usize - 1].pin());
            }
            Pkg::Excluded(name) => {
                excluded.insert(name);
            }
            _ => {}
        }
    }
    packages.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Closure {
        packages,
        excluded: excluded.into_iter().collect(),
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Pkg {
    Root,
    Deb(String),
    /// A clause with several ways to satisfy it; the text is the clause.
    Choice(String),
    /// An excluded package that something needed (recorded, never installed).
    Excluded(String),
}

impl fmt::Display for Pkg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pkg::Root => write!(f, "the request"),
            Pkg::Deb(n) => write!(f, "{n}"),
            Pkg::Choice(c) => write!(f, "one of `{c}`"),
            Pkg::Excluded(n) => write!(f, "{n} (excluded)"),
        }
    }
}

/// One way to satisfy a clause: a package at some of its versions, or an excluded name.
#[derive(Debug, Clone)]
enum Way {
    Deb(String, Set),
    Excluded(String),
}

struct Provider<'a> {
    index: &'a Index,
    policy: &'a Policy,
    roots: Vec<Clause>,
    choices: RefCell<HashMap<String, Vec<Way>>>,
}

impl Provider<'_> {
    /// Versions (1-based) of `name` that satisfy `r` as the package itself.
    fn real(&self, name: &str, r: &Relation) -> Set {
        self.index
            .versions(name)
            .iter()
            .enumerate()
            .filter(|(_, p)| r.accepts(Some(&p.version)))
            .fold(Set::empty(), |s, (i, _)| {
                s.union(&Set::singleton(i as u32 + 1))
            })
    }

    /// The ways to satisfy `r`, in apt's order: the package itself, then its providers.
    fn options(&self, r: &Relation) -> Vec<Way> {
        if self.policy.exclude.contains(&r.name) {
            return vec![Way::Excluded(r.name.clone())];
        }
        let mut out = Vec::new();
        let real = self.real(&r.name, r);
        if real != Set::empty() {
            out.push(Way::Deb(r.name.clone(), real));
        }
        let mut by_provider: BTreeMap<&str, Set> = BTreeMap::new();
        for (provider, i) in self.index.providers(&r.name) {
            let p: &Package = &self.index.versions(provider)[*i];
            let fits = p
                .provides
                .iter()
                .any(|(n, v)| *n == r.name && r.accepts(v.as_ref()));
            if fits {
                let set = by_provider.entry(provider).or_insert_with(Set::empty);
                *set = set.union(&Set::singleton(*i as u32 + 1));
            }
        }
        for (provider, set) in by_provider {
            if self.policy.exclude.contains(provider) {
                out.push(Way::Excluded(provider.to_string()));
            } else if provider != r.name {
                out.push(Way::Deb(provider.to_string(), set));
            }
        }
        out
    }

    /// A clause as one pubgrub dependency.
    fn demand(&self, clause: &Clause) -> (Pkg, Set) {
        let options: Vec<Way> = clause.iter().flat_map(|r| self.options(r)).collect();
        match options.as_slice() {
            [Way::Deb(name, set)] => (Pkg::Deb(name.clone()), set.clone()),
            [Way::Excluded(name)] => (Pkg::Excluded(name.clone()), Set::full()),
            _ => {
                let text = clause_text(clause);
                let n = options.len() as u32;
                self.choices.borrow_mut().insert(text.clone(), options);
                // No options: an empty set, which pubgrub reports as "no versions".
                let set = if n == 0 {
                    Set::empty()
                } else {
                    Set::between(0u32, n)
                };
                (Pkg::Choice(text), set)
            }
        }
    }

    fn dependencies(&self, package: &Pkg, version: u32) -> BTreeMap<Pkg, Set> {
        let mut deps: BTreeMap<Pkg, Set> = BTreeMap::new();
        let mut add = |pkg: Pkg, set: Set| {
            let merged = match deps.get(&pkg) {
                Some(existing) => existing.intersection(&set),
                None => set,
            };
            deps.insert(pkg, merged);
        };
        match package {
            Pkg::Root => {
                for clause in &self.roots {
                    let (p, s) = self.demand(clause);
                    add(p, s);
                }
            }
            Pkg::Deb(name) if version > 0 => {
                let p = &self.index.versions(name)[version as usize - 1];
                for clause in &p.depends {
                    let (dep, set) = self.demand(clause);
                    if dep != *package {
                        add(dep, set);
                    }
                }
                for c in &p.conflicts {
                    if self.policy.exclude.contains(&c.name) {
                        continue;
                    }
                    if c.name != *name {
                        let bad = self.real(&c.name, c);
                        if bad != Set::empty() {
                            add(Pkg::Deb(c.name.clone()), bad.complement());
                        }
                    }
                    // A conflict on a virtual name keeps out every other provider of it.
                    for option in self.options(c) {
                        if let Way::Deb(other, bad) = option {
                            if other != *name && other != c.name {
                                add(Pkg::Deb(other), bad.complement());
                            }
                        }
                    }
                }
            }
            Pkg::Choice(text) => {
                let option = self.choices.borrow()[text].get(version as usize).cloned();
                match option {
                    Some(Way::Deb(name, set)) => add(Pkg::Deb(name), set),
                    Some(Way::Excluded(name)) => add(Pkg::Excluded(name), Set::full()),
                    None => {}
                }
            }
            Pkg::Deb(_) | Pkg::Excluded(_) => {}
        }
        deps
    }

    /// pubgrub's derivation tree as lines a person can follow, from the request outward.
    fn explain(&self, tree: &DerivationTree<Pkg, Set, String>, lines: &mut Vec<String>) {
        match tree {
            DerivationTree::Derived(d) => {
                self.explain(&d.cause1, lines);
                self.explain(&d.cause2, lines);
            }
            DerivationTree::External(e) => {
                if let Some(line) = self.external(e) {
                    lines.push(line);
                }
            }
        }
    }

    fn versions_text(&self, pkg: &Pkg, set: &Set) -> String {
        match pkg {
            Pkg::Deb(name) => {
                let versions: Vec<&str> = self
                    .index
                    .versions(name)
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| set.contains(&(*i as u32 + 1)))
                    .map(|(_, p)| p.version_text.as_str())
                    .collect();
                let absent = if set.contains(&0) { " (or none)" } else { "" };
                if versions.is_empty() {
                    format!("{name}{absent}")
                } else {
                    format!("{name} {}{absent}", versions.join(" or "))
                }
            }
            other => other.to_string(),
        }
    }

    fn external(&self, e: &External<Pkg, Set, String>) -> Option<String> {
        Some(match e {
            External::NotRoot(..) => return None,
            External::NoVersions(pkg, set) => match pkg {
                Pkg::Choice(text) => format!("nothing in the index satisfies `{text}`"),
                Pkg::Deb(name) if self.index.versions(name).is_empty() => {
                    format!(
                        "`{name}` is not in apt's index (check the name, or run `apt-get update`)"
                    )
                }
                _ => format!(
                    "no version of {} exists in the index",
                    self.versions_text(pkg, set)
                ),
            },
            External::FromDependencyOf(from, from_set, to, to_set) => {
                let from_text = self.versions_text(from, from_set);
                if *to_set == Set::empty() {
                    let Pkg::Choice(text) = to else {
                        return Some(format!(
                            "{from_text} depends on {to}, which cannot be installed"
                        ));
                    };
                    return Some(format!(
                        "{from_text} depends on `{text}`, which nothing in apt's index satisfies: check the name, or run `apt-get update`"
                    ));
                }
                match to {
                    Pkg::Deb(_) if to_set.contains(&0) => format!(
                        "{from_text} conflicts with {}",
                        self.versions_text(to, &to_set.complement())
                    ),
                    _ => format!("{from_text} depends on {}", self.versions_text(to, to_set)),
                }
            }
            External::Custom(pkg, _, reason) => format!("{pkg}: {reason}"),
        })
    }
}

impl DependencyProvider for Provider<'_> {
    type P = Pkg;
    type V = u32;
    type VS = Set;
    type M = String;
    type Err = Infallible;
    type Priority = (bool, u32, Reverse<usize>, Reverse<Pkg>);

    fn prioritize(
        &self,
        package: &Pkg,
        range: &Set,
        stats: &PackageResolutionStatistics,
    ) -> Self::Priority {
        let candidates = match package {
            Pkg::Deb(name) => (1..=self.index.versions(name).len() as u32)
                .filter(|i| range.contains(i))
                .count(),
            Pkg::Choice(text) => self.choices.borrow().get(text).map_or(0, Vec::len),
            Pkg::Root | Pkg::Excluded(_) => 1,
        };
        // Needed packages before ones that only must not conflict (range holds "none").
        (
            !range.contains(&0) || !matches!(package, Pkg::Deb(_)),
            stats.conflict_count(),
            Reverse(candidates),
            Reverse(package.clone()),
        )
    }

    fn choose_version(&self, package: &Pkg, range: &Set) -> Result<Option<u32>, Infallible> {
        Ok(match package {
            Pkg::Root | Pkg::Excluded(_) => range.contains(&0).then_some(0),
            Pkg::Deb(name) => {
                if range.contains(&0) {
                    return Ok(Some(0));
                }
                let versions = self.index.versions(name);
                let preferred = self.policy.prefer.get(name).and_then(|want| {
                    versions
                        .iter()
                        .position(|p| p.version_text == *want)
                        .map(|i| i as u32 + 1)
                });
                match preferred {
                    Some(v) if range.contains(&v) => Some(v),
                    _ => (1..=versions.len() as u32)
                        .rev()
                        .find(|v| range.contains(v)),
                }
            }
            Pkg::Choice(text) => {
                let choices = self.choices.borrow();
                let options = &choices[text];
                let in_range = |i: &usize| range.contains(&(*i as u32));
                // The option the lock took, if still possible; else the first, as apt does.
                let pinned = |i: &usize| match &options[*i] {
                    Way::Deb(name, _) => self.policy.prefer.contains_key(name),
                    Way::Excluded(_) => false,
                };
                (0..options.len())
                    .filter(in_range)
                    .find(pinned)
                    .or_else(|| (0..options.len()).find(in_range))
                    .map(|i| i as u32)
            }
        })
    }

    fn get_dependencies(
        &self,
        package: &Pkg,
        version: &u32,
    ) -> Result<pubgrub::Dependencies<Pkg, Set, String>, Infallible> {
        Ok(pubgrub::Dependencies::Available(
            self.dependencies(package, *version).into_iter().collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(text: &str) -> Index {
        Index::parse(text, "test", "amd64").unwrap()
    }

    fn names(c: &Closure) -> Vec<String> {
        c.packages
            .iter()
            .map(|p| format!("{} {}", p.name, p.version))
            .collect()
    }

    fn req(name: &str) -> Request {
        Request {
            name: name.into(),
            version: None,
        }
    }

    fn pkg(name: &str, version: &str, extra: &str) -> String {
        format!("Package: {name}\nVersion: {version}\nArchitecture: amd64\nSHA256: x\n{extra}\n")
    }

    #[test]
    fn follows_depends_and_takes_the_highest_fitting_version() {
        let idx = index(
            &[
                pkg("app", "1", "Depends: lib (>= 2), lib (<< 4)"),
                pkg("lib", "1", ""),
                pkg("lib", "3", "Pre-Depends: base"),
                pkg("lib", "4", ""),
                pkg("base", "1:0.1", ""),
                pkg("unrelated", "1", ""),
            ]
            .join("\n"),
        );
        let c = solve(&idx, &[req("app")], &Policy::default()).unwrap();
        assert_eq!(names(&c), ["app 1", "base 1:0.1", "lib 3"]);
    }

    #[test]
    fn alternatives_take_the_first_that_works_and_provides_count() {
        let idx = index(
            &[
                pkg("app", "1", "Depends: missing | second, virt (>= 2), plain"),
                pkg("second", "1", ""),
                pkg("old", "1", "Provides: virt (= 1)"),
                pkg("new", "1", "Provides: virt (= 2)"),
                pkg("giver", "1", "Provides: plain"),
            ]
            .join("\n"),
        );
        let c = solve(&idx, &[req("app")], &Policy::default()).unwrap();
        assert_eq!(names(&c), ["app 1", "giver 1", "new 1", "second 1"]);
    }

    #[test]
    fn conflicts_and_breaks_push_to_another_alternative() {
        let idx = index(
            &[
                pkg("app", "1", "Depends: a | b, c"),
                pkg("a", "1", ""),
                pkg("b", "1", ""),
                pkg("c", "1", "Breaks: a"),
            ]
            .join("\n"),
        );
        let c = solve(&idx, &[req("app")], &Policy::default()).unwrap();
        assert_eq!(names(&c), ["app 1", "b 1", "c 1"]);
    }

    #[test]
    fn conflicts_through_a_virtual_keep_other_providers_out() {
        let idx = index(
            &[
                pkg("app", "1", "Depends: mta, other"),
                pkg("mta", "1", "Provides: mail-agent\nConflicts: mail-agent"),
                pkg("other", "1", "Depends: sendmail-ish | mta"),
                pkg(
                    "sendmail-ish",
                    "1",
                    "Provides: mail-agent\nConflicts: mail-agent",
                ),
            ]
            .join("\n"),
        );
        let c = solve(&idx, &[req("app")], &Policy::default()).unwrap();
        assert_eq!(names(&c), ["app 1", "mta 1", "other 1"]);
    }

    #[test]
    fn excluded_packages_are_satisfied_but_neither_installed_nor_followed() {
        let idx = index(
            &[
                pkg(
                    "app",
                    "1",
                    "Depends: debconf (>= 0.5) | debconf-2.0, adduser",
                ),
                pkg("debconf", "1.5", "Depends: perl-base"),
                pkg("adduser", "3", "Depends: passwd"),
                pkg("perl-base", "5", ""),
                pkg("passwd", "1", ""),
            ]
            .join("\n"),
        );
        let policy = Policy {
            exclude: ["debconf", "adduser"]
                .into_iter()
                .map(String::from)
                .collect(),
            ..Policy::default()
        };
        let c = solve(&idx, &[req("app")], &policy).unwrap();
        assert_eq!(names(&c), ["app 1"]);
        assert_eq!(c.excluded, ["adduser", "debconf"]);
    }

    #[test]
    fn pinned_versions_are_kept_while_they_fit() {
        let idx = index(
            &[
                pkg("app", "1", "Depends: lib"),
                pkg("lib", "1", ""),
                pkg("lib", "2", ""),
            ]
            .join("\n"),
        );
        let policy = Policy {
            prefer: [("lib".to_string(), "1".to_string())].into(),
            ..Policy::default()
        };
        assert_eq!(
            names(&solve(&idx, &[req("app")], &policy).unwrap()),
            ["app 1", "lib 1"]
        );
        assert_eq!(
            names(&solve(&idx, &[req("app")], &Policy::default()).unwrap()),
            ["app 1", "lib 2"]
        );
    }

    #[test]
    fn impossible_closures_say_why() {
        let idx = index(
            &[
                pkg("app", "1", "Depends: lib (>= 5), gone"),
                pkg("lib", "1", ""),
            ]
            .join("\n"),
        );
        let e = solve(&idx, &[req("app")], &Policy::default()).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("app 1 depends on `lib (>= 5)`, which nothing in apt's index satisfies"),
            "{text}"
        );
        let idx = index(&[pkg("app", "1", "Depends: gone")].join("\n"));
        let text = solve(&idx, &[req("app")], &Policy::default())
            .unwrap_err()
            .to_string();
        assert!(text.contains("depends on `gone`, which nothing"), "{text}");
        let idx = index(&[pkg("a", "1", "Conflicts: b"), pkg("b", "1", "")].join("\n"));
        let text = solve(&idx, &[req("a"), req("b")], &Policy::default())
            .unwrap_err()
            .to_string();
        assert!(text.contains("a 1 conflicts with b 1"), "{text}");
    }
}
