//! `compose debs`: Debian closures on their own, and side by side with apt.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use compose_core::Project;
use compose_core::debian::{self, Index, Policy, Request};
use serde::Serialize;

#[derive(Debug, clap::Subcommand)]
pub enum DebsCommand {
    /// The closure compose installs for these packages (as a `deb` source would).
    Closure {
        #[arg(required = true)]
        packages: Vec<String>,
        /// Ignore debian.toml's exclusion list.
        #[arg(long)]
        no_exclude: bool,
        #[arg(long)]
        json: bool,
    },
    /// Our closure against `apt-get install -s --no-install-recommends` on an empty dpkg
    /// status, from the same indexes: both sets, every difference, both times.
    Compare {
        #[arg(required = true)]
        packages: Vec<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Serialize)]
struct ClosureOut {
    packages: BTreeMap<String, String>,
    excluded: Vec<String>,
}

/// One package set against apt's.
#[derive(Debug, Serialize)]
pub struct Comparison {
    pub request: Vec<String>,
    /// Ours with the exclusion list, and without it.
    pub ours: BTreeMap<String, String>,
    pub ours_unexcluded: BTreeMap<String, String>,
    pub apt: BTreeMap<String, String>,
    /// In apt's set, not ours: each is excluded (debian.toml) or only needed through one.
    pub only_apt: Vec<String>,
    /// In ours, not apt's (another alternative taken).
    pub only_ours: Vec<String>,
    /// In apt's set, not in ours even without exclusions: unexplained.
    pub unexplained: Vec<String>,
    pub excluded: Vec<String>,
    pub seconds_ours: f64,
    pub seconds_apt: f64,
}

fn solve(
    index: &Index,
    packages: &[String],
    exclude: &BTreeSet<String>,
) -> anyhow::Result<debian::Closure> {
    let requests: Vec<Request> = packages
        .iter()
        .map(|p| match p.split_once('=') {
            Some((n, v)) => Request {
                name: n.into(),
                version: Some(v.into()),
            },
            None => Request {
                name: p.clone(),
                version: None,
            },
        })
        .collect();
    let mut policy = Policy {
        exclude: exclude.clone(),
        ..Policy::default()
    };
    for r in &requests {
        policy.exclude.remove(&r.name);
    }
    Ok(debian::solve(index, &requests, &policy)?)
}

fn versions(c: &debian::Closure) -> BTreeMap<String, String> {
    c.packages
        .iter()
        .map(|p| (p.name.clone(), p.version.clone()))
        .collect()
}

pub fn run(project: &Project, command: DebsCommand) -> anyhow::Result<()> {
    let config = project.read_debian_config()?;
    match command {
        DebsCommand::Closure {
            packages,
            no_exclude,
            json,
        } => {
            let index = Index::from_apt("amd64")?;
            let exclude = if no_exclude {
                BTreeSet::new()
            } else {
                config.closure.exclude
            };
            let closure = solve(&index, &packages, &exclude)?;
            let out = ClosureOut {
                packages: versions(&closure),
                excluded: closure.excluded,
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                for (name, version) in &out.packages {
                    println!("{name} {version}");
                }
                if !out.excluded.is_empty() {
                    println!("excluded (debian.toml): {}", out.excluded.join(", "));
                }
            }
        }
        DebsCommand::Compare { packages, json } => {
            let c = compare(&packages, &config.closure.exclude)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&c)?);
            } else {
                print_comparison(&c);
            }
        }
    }
    Ok(())
}

/// Solves with and without exclusions and asks apt, timing ours (index read included)
/// against apt's in the same run.
pub fn compare(packages: &[String], exclude: &BTreeSet<String>) -> anyhow::Result<Comparison> {
    let started = Instant::now();
    let index = Index::from_apt("amd64")?;
    let closure = solve(&index, packages, exclude)?;
    let seconds_ours = started.elapsed().as_secs_f64();
    let ours = versions(&closure);
    let ours_unexcluded = versions(&solve(&index, packages, &BTreeSet::new())?);
    let started = Instant::now();
    let apt = debian::apt_side::simulate(packages)?;
    let seconds_apt = started.elapsed().as_secs_f64();
    let only_apt: Vec<String> = apt
        .keys()
        .filter(|p| !ours.contains_key(*p))
        .cloned()
        .collect();
    let only_ours = ours
        .keys()
        .filter(|p| !apt.contains_key(*p))
        .cloned()
        .collect();
    let unexplained = apt
        .keys()
        .filter(|p| !ours_unexcluded.contains_key(*p))
        .cloned()
        .collect();
    Ok(Comparison {
        request: packages.to_vec(),
        ours,
        ours_unexcluded,
        apt,
        only_apt,
        only_ours,
        unexplained,
        excluded: closure.excluded,
        seconds_ours,
        seconds_apt,
    })
}

fn print_comparison(c: &Comparison) {
    println!(
        "{}: compose {} packages, apt {} packages ({} without exclusions)",
        c.request.join(" "),
        c.ours.len(),
        c.apt.len(),
        c.ours_unexcluded.len()
    );
    let same = c.ours_unexcluded.keys().eq(c.apt.keys());
    println!(
        "  without exclusions: {}",
        if same {
            "the same set as apt"
        } else {
            "differs from apt"
        }
    );
    if !c.only_apt.is_empty() {
        println!(
            "  only apt ({}; excluded by debian.toml or only needed through {}): {}",
            c.only_apt.len(),
            c.excluded.join(", "),
            c.only_apt.join(" ")
        );
    }
    if !c.only_ours.is_empty() {
        println!("  only compose: {}", c.only_ours.join(" "));
    }
    if !c.unexplained.is_empty() {
        println!(
            "  unexplained (apt has them, compose never): {}",
            c.unexplained.join(" ")
        );
    }
    let versions_differ: Vec<String> = c
        .ours
        .iter()
        .filter(|(n, v)| c.apt.get(*n).is_some_and(|a| a != *v))
        .map(|(n, v)| format!("{n} {v} (apt {})", c.apt[n]))
        .collect();
    if !versions_differ.is_empty() {
        println!("  other versions: {}", versions_differ.join(", "));
    }
    println!(
        "  time: compose {:.3} s (index read + solve), apt-get -s {:.3} s, ratio compose/apt {:.2}",
        c.seconds_ours,
        c.seconds_apt,
        c.seconds_ours / c.seconds_apt
    );
}
