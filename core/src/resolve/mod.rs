//! The resolver: a device profile and the catalog in, chosen components, their graph and
//! start order out. Pure: no I/O.

mod explain;
mod provider;
mod report;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use pubgrub::PubGrubError;
use semver::Version;
use serde::Serialize;

use crate::catalog::Catalog;
use crate::requirement::{Dependency, Requirement};
pub use explain::{
    ChoiceReport, Explanation, OptionReport, Outcome, Step, VersionOutcome, VersionReport, explain,
};
use provider::{Index, Pkg, Provider};
pub use report::Fact;

/// What the resolver is asked besides the device.
#[derive(Debug, Clone, Default)]
pub struct ResolveOptions {
    /// Versions to keep when they still satisfy every requirement (from `compose.lock`).
    pub locked: BTreeMap<String, Version>,
    /// Requirements added to the device's roots.
    pub extra_roots: Vec<Requirement>,
    /// Virtuals that may only be provided by the named component (to ask "what if").
    pub only_providers: BTreeMap<String, String>,
}

/// A component version chosen for the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Chosen {
    pub name: String,
    pub version: Version,
    pub summary: String,
    /// Features enabled by some requirement.
    pub features: Vec<String>,
}

/// A node of the dependency graph.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "kebab-case")]
pub enum Node {
    Device(String),
    Component(String),
}

impl Node {
    pub fn name(&self) -> &str {
        match self {
            Node::Device(n) | Node::Component(n) => n,
        }
    }
}

/// Why an edge exists: the requirement that put the target into the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Edge {
    #[serde(flatten)]
    pub kind: EdgeKind,
    pub requirement: Requirement,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum EdgeKind {
    Requires,
    Recommends,
    /// Required by this feature of the source component.
    Feature {
        feature: String,
    },
}

/// A recommends that could not be taken, and why. Recommends are best effort: they are
/// decided after every hard requirement and never change a version chosen for those.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dropped {
    pub component: String,
    pub requirement: Requirement,
    /// What goes wrong when it is taken; empty when it could be taken, but only with other
    /// versions or choices than the ones made first.
    pub because: Vec<Fact>,
}

/// A requirement with several ways to be satisfied, and the one taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChoiceMade {
    pub requirement: Requirement,
    /// Set when the requirement names a virtual.
    pub virtual_name: Option<String>,
    /// Options in preference order.
    pub options: Vec<Dependency>,
    pub taken: usize,
}

/// The result of resolving one device.
#[derive(Debug, Clone)]
pub struct Resolution {
    pub device: String,
    /// Components in start order: each after every component it requires.
    pub components: Vec<Chosen>,
    /// The device and the components, with an edge per requirement that was satisfied.
    pub graph: DiGraph<Node, Edge>,
    pub dropped: Vec<Dropped>,
    pub choices: Vec<ChoiceMade>,
}

impl Resolution {
    pub fn component(&self, name: &str) -> Option<&Chosen> {
        self.components.iter().find(|c| c.name == name)
    }

    pub fn node(&self, node: &Node) -> Option<NodeIndex> {
        self.graph.node_indices().find(|i| &self.graph[*i] == node)
    }

    /// The shortest path of edges from the device to `name`, if it is in the image.
    pub fn path_to(&self, name: &str) -> Option<Vec<(Node, Edge, Node)>> {
        let start = self.node(&Node::Device(self.device.clone()))?;
        let goal = self.node(&Node::Component(name.to_string()))?;
        let mut parent: HashMap<NodeIndex, petgraph::graph::EdgeIndex> = HashMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        let mut seen = BTreeSet::from([start]);
        while let Some(n) = queue.pop_front() {
            if n == goal {
                break;
            }
            for e in self.graph.edges(n) {
                if seen.insert(e.target()) {
                    parent.insert(e.target(), e.id());
                    queue.push_back(e.target());
                }
            }
        }
        let mut path = Vec::new();
        let mut at = goal;
        while at != start {
            let e = parent.get(&at)?;
            let (from, to) = self.graph.edge_endpoints(*e)?;
            path.push((
                self.graph[from].clone(),
                self.graph[*e].clone(),
                self.graph[to].clone(),
            ));
            at = from;
        }
        path.reverse();
        Some(path)
    }
}

/// One link of a dependency cycle: `from` needs `to` through `requirement`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CycleLink {
    pub from: String,
    pub to: String,
    pub requirement: Requirement,
    /// The virtual (or alternatives) `to` was chosen for, when the requirement does not name
    /// `to` itself.
    pub via: Option<String>,
}

/// `a -> b (for display) -> a`: every link, naming what a provider was chosen for.
pub fn cycle_text(links: &[CycleLink]) -> String {
    let mut text = match links.first() {
        Some(l) => l.from.clone(),
        None => return String::new(),
    };
    for l in links {
        text.push_str(" -> ");
        text.push_str(&l.to);
        if let Some(via) = &l.via {
            text.push_str(&format!(" (for {via})"));
        }
    }
    text
}

/// The components of a cycle's links, the first repeated at the end.
pub fn cycle_names(links: &[CycleLink]) -> Vec<String> {
    links
        .first()
        .map(|l| l.from.clone())
        .into_iter()
        .chain(links.iter().map(|l| l.to.clone()))
        .collect()
}

/// Why a device cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("unknown device `{name}`")]
    UnknownDevice { name: String, known: Vec<String> },
    #[error(
        "device `{device}` cannot be composed: no set of components satisfies every requirement"
    )]
    NoSolution { device: String, facts: Vec<Fact> },
    #[error("dependency cycle in device `{device}`: {}", cycle_text(links))]
    Cycle {
        device: String,
        /// The components of the cycle, the first repeated at the end.
        cycle: Vec<String>,
        /// Each link, with the requirement (a virtual's name, say) that made it.
        links: Vec<CycleLink>,
    },
}

impl ResolveError {
    /// What the user can do about it.
    pub fn help(&self) -> String {
        match self {
            ResolveError::UnknownDevice { name, known } => {
                match crate::diagnostic::did_you_mean(name, known.iter().map(String::as_str)) {
                    Some(best) => format!("did you mean `{best}`? (see `compose devices`)"),
                    None => format!("known devices: {}", known.join(", ")),
                }
            }
            ResolveError::NoSolution { .. } => {
                "change one of the requirements above, or add a component version that satisfies it".into()
            }
            ResolveError::Cycle { .. } => {
                "components are started in dependency order; break the cycle by removing one requirement".into()
            }
        }
    }
}

/// Resolves `device_name` against the catalog.
pub fn resolve(
    catalog: &Catalog,
    device_name: &str,
    options: &ResolveOptions,
) -> Result<Resolution, ResolveError> {
    let index = Index::new(catalog);
    let mut resolution = solve(&index, device_name, options)?;
    for dropped in &mut resolution.dropped {
        let mut forced = options.clone();
        forced.extra_roots.push(dropped.requirement.clone());
        if let Err(ResolveError::NoSolution { facts, .. }) = solve(&index, device_name, &forced) {
            dropped.because = facts;
        }
    }
    Ok(resolution)
}

fn solve(
    index: &Index<'_>,
    device_name: &str,
    options: &ResolveOptions,
) -> Result<Resolution, ResolveError> {
    let catalog = index.catalog;
    let device = catalog
        .device(device_name)
        .ok_or_else(|| ResolveError::UnknownDevice {
            name: device_name.to_string(),
            known: catalog.devices().map(|d| d.name.clone()).collect(),
        })?;
    let provider = Provider::new(index, device, options);
    let solution = match pubgrub::resolve(&provider, Pkg::Root, 0u32) {
        Ok(s) => s,
        Err(PubGrubError::NoSolution(tree)) => {
            return Err(ResolveError::NoSolution {
                device: device.name.clone(),
                facts: report::facts(&provider, &tree),
            });
        }
        Err(other) => unreachable!("the provider never fails: {other:?}"),
    };
    let selected: HashMap<Pkg, u32> = solution.into_iter().collect();
    Builder::new(&provider, &selected).build()
}

/// Turns pubgrub's selection into components, graph, choices and dropped recommends.
struct Builder<'p, 'i, 'c> {
    provider: &'p Provider<'i, 'c>,
    selected: &'p HashMap<Pkg, u32>,
    graph: DiGraph<Node, Edge>,
    /// Graph node of each component id.
    nodes: HashMap<u32, NodeIndex>,
    choices: Vec<ChoiceMade>,
    /// Choices already in `choices`.
    seen_choices: HashSet<u32>,
    dropped: Vec<Dropped>,
}

impl<'p, 'i, 'c> Builder<'p, 'i, 'c> {
    fn new(provider: &'p Provider<'i, 'c>, selected: &'p HashMap<Pkg, u32>) -> Self {
        Builder {
            provider,
            selected,
            graph: DiGraph::new(),
            nodes: HashMap::new(),
            choices: Vec::new(),
            seen_choices: HashSet::new(),
            dropped: Vec::new(),
        }
    }

    fn node(&mut self, id: u32) -> NodeIndex {
        if let Some(i) = self.nodes.get(&id) {
            return *i;
        }
        let i = self
            .graph
            .add_node(Node::Component(self.provider.name(id).to_string()));
        self.nodes.insert(id, i);
        i
    }

    fn build(mut self) -> Result<Resolution, ResolveError> {
        let p = self.provider;
        let device = p.device.name.clone();
        let root = self.graph.add_node(Node::Device(device.clone()));
        let roots: Vec<Requirement> = p.roots().cloned().collect();
        for r in &roots {
            self.link(root, r, EdgeKind::Requires);
        }
        let mut chosen: Vec<(u32, u32)> = self
            .selected
            .iter()
            .filter_map(|(pkg, v)| {
                if let Pkg::Comp(id) = pkg {
                    Some((*id, *v))
                } else {
                    None
                }
            })
            .collect();
        chosen.sort();
        let mut components = BTreeMap::new();
        for &(id, index) in &chosen {
            let c = &p.versions(id)[index as usize];
            let from = self.node(id);
            let mut features = Vec::new();
            for r in &c.requires {
                self.link(from, &r.value, EdgeKind::Requires);
            }
            for (feature, requires) in &c.features {
                let enabled = self.selected.keys().any(|k| matches!(k, Pkg::Feature(i, f) if *i == id && p.feature_name(*f) == *feature));
                if enabled {
                    features.push(feature.clone());
                    for r in requires {
                        self.link(
                            from,
                            &r.value,
                            EdgeKind::Feature {
                                feature: feature.clone(),
                            },
                        );
                    }
                }
            }
            for r in &c.recommends {
                let taken = p
                    .recommend_id(&r.value)
                    .and_then(|id| self.selected.get(&Pkg::Recommend(id)))
                    == Some(&0);
                if taken {
                    self.link(from, &r.value, EdgeKind::Recommends);
                } else if !self
                    .dropped
                    .iter()
                    .any(|d| d.requirement == r.value && d.component == c.name)
                {
                    self.dropped.push(Dropped {
                        component: c.name.clone(),
                        requirement: r.value.clone(),
                        because: Vec::new(),
                    });
                }
            }
            components.insert(
                c.name.clone(),
                Chosen {
                    name: c.name.clone(),
                    version: c.version.clone(),
                    summary: c.summary.clone(),
                    features,
                },
            );
        }
        let order = self.start_order(&device)?;
        let components = order
            .into_iter()
            .filter_map(|n| components.remove(&n))
            .collect();
        self.choices
            .sort_by_cached_key(|c| c.requirement.to_string());
        Ok(Resolution {
            device,
            components,
            graph: self.graph,
            dropped: self.dropped,
            choices: self.choices,
        })
    }

    /// Adds an edge from `from` to every component that satisfies `requirement`.
    fn link(&mut self, from: NodeIndex, requirement: &Requirement, kind: EdgeKind) {
        let mut targets = Vec::new();
        self.targets(requirement, &mut targets);
        targets.dedup();
        for target in targets {
            let to = self.node(target);
            let edge = Edge {
                kind: kind.clone(),
                requirement: requirement.clone(),
            };
            if !self
                .graph
                .edges_connecting(from, to)
                .any(|e| e.weight() == &edge)
            {
                self.graph.add_edge(from, to, edge);
            }
        }
    }

    /// The components that satisfy `requirement` in the selection, recording choices made.
    fn targets(&mut self, requirement: &Requirement, out: &mut Vec<u32>) {
        let p = self.provider;
        let pkg = match requirement.alternatives.as_slice() {
            [dep] if !p.is_virtual(&dep.name) => p.id(&dep.name).map(Pkg::Comp),
            _ => p.choice_id(requirement).map(Pkg::Choice),
        };
        match pkg {
            Some(Pkg::Comp(id)) => out.push(id),
            Some(Pkg::Choice(id)) => {
                let Some(&taken) = self.selected.get(&Pkg::Choice(id)) else {
                    return;
                };
                let choice = p.choice(id);
                let option = choice.options[taken as usize].clone();
                if self.seen_choices.insert(id) {
                    self.choices.push(ChoiceMade {
                        requirement: requirement.clone(),
                        virtual_name: choice.virtual_name,
                        options: choice.options,
                        taken: taken as usize,
                    });
                }
                self.targets(
                    &Requirement {
                        alternatives: vec![option],
                    },
                    out,
                );
            }
            _ => {}
        }
    }

    /// Components in start order: after what they require and, where that makes no cycle,
    /// after what they recommend.
    fn start_order(&self, device: &str) -> Result<Vec<String>, ResolveError> {
        let hard = |e: &Edge| !matches!(e.kind, EdgeKind::Recommends);
        if let Ok(order) = self.kahn(|_| true) {
            return Ok(order);
        }
        self.kahn(hard).map_err(|pending| {
            let links = self.find_cycle(&pending, hard);
            ResolveError::Cycle {
                device: device.to_string(),
                cycle: cycle_names(&links),
                links,
            }
        })
    }

    /// Kahn's algorithm over the edges `follows` accepts, smallest name first among the
    /// ready ones. Fails with the nodes it could not order.
    fn kahn(
        &self,
        follows: impl Fn(&Edge) -> bool,
    ) -> Result<Vec<String>, HashMap<NodeIndex, usize>> {
        let mut pending: HashMap<NodeIndex, usize> = self
            .graph
            .node_indices()
            .filter(|i| matches!(self.graph[*i], Node::Component(_)))
            .map(|i| {
                (
                    i,
                    self.graph
                        .edges(i)
                        .filter(|e| follows(e.weight()) && e.target() != i)
                        .count(),
                )
            })
            .collect();
        let mut ready: BTreeSet<(&str, NodeIndex)> = pending
            .iter()
            .filter(|(_, n)| **n == 0)
            .map(|(i, _)| (self.graph[*i].name(), *i))
            .collect();
        let mut order = Vec::new();
        while let Some((name, i)) = ready.pop_first() {
            order.push(name.to_string());
            pending.remove(&i);
            for e in self.graph.edges_directed(i, petgraph::Direction::Incoming) {
                if !follows(e.weight()) || e.source() == i {
                    continue;
                }
                if let Some(n) = pending.get_mut(&e.source()) {
                    *n -= 1;
                    if *n == 0 {
                        ready.insert((self.graph[e.source()].name(), e.source()));
                    }
                }
            }
        }
        if pending.is_empty() {
            Ok(order)
        } else {
            Err(pending)
        }
    }

    /// A cycle among the nodes Kahn's algorithm could not order, smallest name first.
    fn find_cycle(
        &self,
        pending: &HashMap<NodeIndex, usize>,
        hard: impl Fn(&Edge) -> bool,
    ) -> Vec<CycleLink> {
        let start = *pending
            .keys()
            .min_by_key(|i| self.graph[**i].name())
            .expect("a cycle has nodes");
        let link = |from: NodeIndex, to: NodeIndex, edge: &Edge| {
            let to_name = self.graph[to].name().to_string();
            let names: Vec<&str> = edge
                .requirement
                .alternatives
                .iter()
                .map(|d| d.name.as_str())
                .collect();
            CycleLink {
                from: self.graph[from].name().to_string(),
                via: (!names.contains(&to_name.as_str())).then(|| names.join(" | ")),
                to: to_name,
                requirement: edge.requirement.clone(),
            }
        };
        let mut path = vec![start];
        let mut links: Vec<CycleLink> = Vec::new();
        loop {
            let at = *path.last().expect("path starts with one node");
            let mut next: Vec<(NodeIndex, &Edge)> = self
                .graph
                .edges(at)
                .filter(|e| hard(e.weight()) && pending.contains_key(&e.target()))
                .map(|e| (e.target(), e.weight()))
                .collect();
            next.sort_by_key(|(i, _)| self.graph[*i].name());
            let Some(&(n, edge)) = next.first() else {
                return links;
            };
            links.push(link(at, n, edge));
            if let Some(pos) = path.iter().position(|p| *p == n) {
                return links.split_off(pos);
            }
            path.push(n);
        }
    }
}
