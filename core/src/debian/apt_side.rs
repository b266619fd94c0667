//! Side by side with apt: what `apt-get install -s --no-install-recommends` would install on
//! a machine with nothing installed (an empty dpkg status), from the same indexes, set
//! against a closure of ours (`compose debs compare`).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Instant;

use serde::Serialize;

use super::{Closure, ClosureError, Index, IndexError, Policy, Request};
use crate::tool::ToolError;

/// apt simulates for the machine's own architecture, so comparisons use it too.
pub const HOST_ARCH: &str = "amd64";

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

#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Closure(#[from] ClosureError),
    #[error(transparent)]
    Tool(#[from] ToolError),
}

/// The closure of `packages` (apt syntax, `name` or `name=version`) without `exclude`.
pub fn closure_of(
    index: &Index,
    packages: &[String],
    exclude: &BTreeSet<String>,
) -> Result<Closure, ClosureError> {
    let requests: Vec<Request> = packages.iter().map(|p| Request::parse(p)).collect();
    let policy = Policy {
        exclude: exclude.clone(),
        ..Policy::default()
    };
    super::solve(index, &requests, &policy)
}

/// Solves with and without exclusions and asks apt, timing ours (index read included)
/// against apt's in the same run.
pub fn compare(
    packages: &[String],
    exclude: &BTreeSet<String>,
) -> Result<Comparison, CompareError> {
    let started = Instant::now();
    let index = Index::from_apt(HOST_ARCH)?;
    let closure = closure_of(&index, packages, exclude)?;
    let seconds_ours = started.elapsed().as_secs_f64();
    let ours = closure.versions();
    let ours_unexcluded = closure_of(&index, packages, &BTreeSet::new())?.versions();
    let started = Instant::now();
    let apt = simulate(packages)?;
    let seconds_apt = started.elapsed().as_secs_f64();
    let missing_from = |set: &BTreeMap<String, String>, from: &BTreeMap<String, String>| {
        from.keys()
            .filter(|p| !set.contains_key(*p))
            .cloned()
            .collect()
    };
    Ok(Comparison {
        request: packages.to_vec(),
        only_apt: missing_from(&ours, &apt),
        only_ours: missing_from(&apt, &ours),
        unexplained: missing_from(&ours_unexcluded, &apt),
        ours,
        ours_unexcluded,
        apt,
        excluded: closure.excluded,
        seconds_ours,
        seconds_apt,
    })
}

/// Packages apt would install for `packages`, by name, with their versions.
pub fn simulate(packages: &[String]) -> Result<BTreeMap<String, String>, ToolError> {
    let dir = std::env::temp_dir().join(format!("compose-apt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| ToolError::Failed {
        tool: "apt-get".into(),
        message: format!("cannot create {}: {e}", dir.display()),
    })?;
    let status = dir.join("status");
    let _ = std::fs::write(&status, "");
    let result = crate::tool::run(
        Command::new("apt-get")
            .args(["install", "-s", "-qq", "--no-install-recommends"])
            .arg(format!("-oDir::State::status={}", status.display()))
            .args(["-oDebug::NoLocking=1", "-oAPT::Get::Show-Versions=0"])
            .args(packages)
            .env("LC_ALL", "C"),
        "apt-get",
        "apt",
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(parse_simulation(&String::from_utf8_lossy(&result?)))
}

/// `Inst name (version release [arch])` lines of `apt-get -s`.
pub fn parse_simulation(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("Inst "))
        .filter_map(|rest| {
            let (name, tail) = rest.split_once(' ')?;
            let version = tail.strip_prefix('(')?.split_whitespace().next()?;
            Some((name.to_string(), version.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_inst_lines() {
        let text = "Inst libc6 (2.36-9+deb12u14 Debian:12.15/oldstable [amd64]) []\nConf libc6 (2.36)\nInst iwd (2.3-1+deb12u1 Debian:12.15/oldstable [amd64])\n";
        let m = super::parse_simulation(text);
        assert_eq!(m["libc6"], "2.36-9+deb12u14");
        assert_eq!(m.len(), 2);
    }
}
