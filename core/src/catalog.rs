//! The catalog: every component version and device of a project, checked across files.

use std::collections::{BTreeMap, BTreeSet};

use crate::device::{Device, parse_device};
use crate::diagnostic::{Code, Diagnostic, Diagnostics, SourceFile, did_you_mean};
use crate::manifest::{Component, Declared, parse_component};
use crate::requirement::Requirement;

/// All components (every version) and devices of a project.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Versions of each component, ascending.
    components: BTreeMap<String, Vec<Component>>,
    /// Each virtual and the names of the components that provide it.
    virtuals: BTreeMap<String, BTreeSet<String>>,
    devices: BTreeMap<String, Device>,
}

/// A loaded catalog and the warnings found while loading it.
#[derive(Debug)]
pub struct Loaded {
    pub catalog: Catalog,
    pub warnings: Diagnostics,
}

impl Catalog {
    /// Parses and cross-checks manifests and device profiles. Pure: the caller reads files.
    ///
    /// Fails with every error of every file; warnings come back with the catalog.
    pub fn load(manifests: &[SourceFile], devices: &[SourceFile]) -> Result<Loaded, Diagnostics> {
        let mut diags = Diagnostics::default();
        let mut catalog = Catalog::default();
        let mut sorted: Vec<&SourceFile> = manifests.iter().collect();
        sorted.sort_by(|a, b| a.path.cmp(&b.path));
        for file in sorted {
            match parse_component(file) {
                Ok(c) => catalog.insert_component(c, &mut diags),
                Err(e) => diags.extend(e),
            }
        }
        let mut sorted: Vec<&SourceFile> = devices.iter().collect();
        sorted.sort_by(|a, b| a.path.cmp(&b.path));
        for file in sorted {
            match parse_device(file) {
                Ok(d) => match catalog.devices.get(&d.name) {
                    Some(first) => diags.push(
                        Diagnostic::error(
                            Code::Duplicate,
                            &d.file,
                            format!("device `{}` is declared twice", d.name),
                        )
                        .at(d.name_span.clone(), "second declaration")
                        .with_help(format!(
                            "first declared in {}; rename or remove one",
                            first.file.path
                        )),
                    ),
                    None => {
                        catalog.devices.insert(d.name.clone(), d);
                    }
                },
                Err(e) => diags.extend(e),
            }
        }
        catalog.index();
        // References into a file that did not parse would only add noise.
        if !diags.has_errors() {
            catalog.check(&mut diags);
        }
        diags.sort();
        if diags.has_errors() {
            Err(diags)
        } else {
            Ok(Loaded {
                catalog,
                warnings: diags,
            })
        }
    }

    fn insert_component(&mut self, c: Component, diags: &mut Diagnostics) {
        let versions = self.components.entry(c.name.clone()).or_default();
        if let Some(first) = versions.iter().find(|o| o.version == c.version) {
            diags.push(
                Diagnostic::error(
                    Code::Duplicate,
                    &c.file,
                    format!("component `{} {}` is declared twice", c.name, c.version),
                )
                .at(c.name_span.clone(), "second declaration")
                .with_help(format!(
                    "first declared in {}; bump the version or remove one",
                    first.file.path
                )),
            );
        } else {
            versions.push(c);
        }
    }

    /// Sorts versions ascending and records who provides each virtual.
    fn index(&mut self) {
        for versions in self.components.values_mut() {
            versions.sort_by(|a, b| a.version.cmp(&b.version));
        }
        for c in self.components.values().flatten() {
            for v in &c.provides {
                self.virtuals
                    .entry(v.clone())
                    .or_default()
                    .insert(c.name.clone());
            }
        }
    }

    /// Checks that need the whole catalog: references, self-references, ambiguity.
    fn check(&self, diags: &mut Diagnostics) {
        for c in self.components.values().flatten() {
            if self.virtuals.contains_key(&c.name) {
                diags.push(
                    Diagnostic::error(
                        Code::Ambiguous,
                        &c.file,
                        format!("`{}` is both a component and a virtual", c.name),
                    )
                    .at(c.name_span.clone(), "component name")
                    .with_help(format!(
                        "rename the component or the virtual that {} provide",
                        self.providers_text(&c.name)
                    )),
                );
            }
            let features = c.features.values().flatten();
            for r in c.requires.iter().chain(features) {
                if r.value.alternatives.iter().any(|d| d.name == c.name) {
                    diags.push(
                        Diagnostic::error(
                            Code::SelfReference,
                            &c.file,
                            format!("component `{}` requires itself", c.name),
                        )
                        .at(r.span.clone(), "names this component")
                        .with_help(
                            "remove the requirement: a component is always present with itself",
                        ),
                    );
                } else {
                    self.check_reference(&c.file, r, Code::UnknownReference, diags, true);
                }
            }
            for r in &c.recommends {
                self.check_reference(&c.file, r, Code::UnknownReference, diags, false);
            }
            for r in &c.conflicts {
                if r.value.alternatives.iter().any(|d| d.name == c.name) {
                    diags.push(
                        Diagnostic::error(
                            Code::SelfReference,
                            &c.file,
                            format!("component `{}` conflicts with itself", c.name),
                        )
                        .at(r.span.clone(), "names this component")
                        .with_help(
                            "only one version of a component is ever chosen; remove this conflict",
                        ),
                    );
                } else {
                    self.check_reference(&c.file, r, Code::UnknownReference, diags, false);
                }
            }
        }
        for d in self.devices.values() {
            for r in &d.roots {
                self.check_reference(&d.file, r, Code::UnknownReference, diags, true);
            }
            for (virt, component) in &d.prefer {
                let providers = self.virtuals.get(virt);
                if providers.is_none_or(|p| !p.contains(&component.value)) {
                    let help = match providers {
                        None => format!("no component provides `{virt}`"),
                        Some(p) => format!(
                            "providers of `{virt}`: {}",
                            p.iter().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    };
                    diags.push(
                        Diagnostic::error(
                            Code::UnknownReference,
                            &d.file,
                            format!("`{}` does not provide `{virt}`", component.value),
                        )
                        .at(component.span.clone(), "not a provider")
                        .with_help(help),
                    );
                }
            }
        }
    }

    /// Every alternative must name a known component or virtual, and known features.
    /// Hard requirements are errors; recommends and conflicts on unknown names only warn.
    fn check_reference(
        &self,
        file: &SourceFile,
        r: &Declared<Requirement>,
        code: Code,
        diags: &mut Diagnostics,
        hard: bool,
    ) {
        for dep in &r.value.alternatives {
            let known =
                self.components.contains_key(&dep.name) || self.virtuals.contains_key(&dep.name);
            if !known {
                let message = format!("unknown component or virtual `{}`", dep.name);
                let d = if hard {
                    Diagnostic::error(code, file, message)
                } else {
                    Diagnostic::warning(code, file, message)
                };
                let names = self
                    .components
                    .keys()
                    .chain(self.virtuals.keys())
                    .map(String::as_str);
                let help = match did_you_mean(&dep.name, names) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None => {
                        "add a manifest for it under manifests/, or remove the reference".into()
                    }
                };
                diags.push(d.at(r.span.clone(), "not in the catalog").with_help(help));
                continue;
            }
            for feature in &dep.features {
                let versions = self.versions(&dep.name);
                if !versions.iter().any(|v| v.features.contains_key(feature)) {
                    let all: BTreeSet<&str> = versions
                        .iter()
                        .flat_map(|v| v.features.keys())
                        .map(String::as_str)
                        .collect();
                    let help = match did_you_mean(feature, all.iter().copied()) {
                        Some(best) => format!("did you mean `{best}`?"),
                        None if all.is_empty() => format!("`{}` has no features", dep.name),
                        None => format!(
                            "features of `{}`: {}",
                            dep.name,
                            all.into_iter().collect::<Vec<_>>().join(", ")
                        ),
                    };
                    diags.push(
                        Diagnostic::error(
                            code,
                            file,
                            format!("`{}` has no feature `{feature}`", dep.name),
                        )
                        .at(r.span.clone(), "unknown feature")
                        .with_help(help),
                    );
                }
            }
        }
    }

    fn providers_text(&self, virt: &str) -> String {
        self.virtuals
            .get(virt)
            .map(|p| p.iter().cloned().collect::<Vec<_>>().join(", "))
            .unwrap_or_default()
    }

    /// Every version of `name`, ascending; empty when unknown.
    pub fn versions(&self, name: &str) -> &[Component] {
        self.components.get(name).map_or(&[], Vec::as_slice)
    }

    /// Components that provide the virtual `name`, by name; `None` when `name` is no virtual.
    pub fn providers(&self, name: &str) -> Option<&BTreeSet<String>> {
        self.virtuals.get(name)
    }

    pub fn components(&self) -> impl Iterator<Item = (&String, &Vec<Component>)> {
        self.components.iter()
    }

    pub fn devices(&self) -> impl Iterator<Item = &Device> {
        self.devices.values()
    }

    pub fn device(&self, name: &str) -> Option<&Device> {
        self.devices.get(name)
    }

    /// The catalog from components and devices built in memory (tests, benchmarks).
    pub fn from_parts(components: Vec<Component>, devices: Vec<Device>) -> Catalog {
        let mut catalog = Catalog::default();
        let mut ignored = Diagnostics::default();
        for c in components {
            catalog.insert_component(c, &mut ignored);
        }
        catalog.index();
        catalog.devices = devices.into_iter().map(|d| (d.name.clone(), d)).collect();
        catalog
    }
}
