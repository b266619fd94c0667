//! `compose debs`: Debian closures on their own, and side by side with apt.

use std::collections::{BTreeMap, BTreeSet};

use compose_core::Project;
use compose_core::debian::Index;
use compose_core::debian::apt_side::{self, Comparison};
use serde::Serialize;

use crate::{CliError, Outcome};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: DebsCommand,
}

#[derive(Debug, clap::Subcommand)]
enum DebsCommand {
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

pub fn exec(args: Args, project: Project) -> Result<Outcome, CliError> {
    run(&project, args.command).map_err(CliError::Other)?;
    Ok(Outcome::Ok)
}

fn run(project: &Project, command: DebsCommand) -> anyhow::Result<()> {
    let config = project.read_debian_config()?;
    match command {
        DebsCommand::Closure {
            packages,
            no_exclude,
            json,
        } => {
            let index = Index::from_apt(apt_side::HOST_ARCH)?;
            let exclude = if no_exclude {
                BTreeSet::new()
            } else {
                config.closure.exclude
            };
            let closure = apt_side::closure_of(&index, &packages, &exclude)?;
            let out = ClosureOut {
                packages: closure.versions(),
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
            let c = apt_side::compare(&packages, &config.closure.exclude)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&c)?);
            } else {
                print_comparison(&c);
            }
        }
    }
    Ok(())
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
