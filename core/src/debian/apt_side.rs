//! Side by side with apt: what `apt-get install -s --no-install-recommends` would install on
//! a machine with nothing installed (an empty dpkg status), from the same indexes, to set
//! against a closure of ours.

use std::collections::BTreeMap;
use std::process::Command;

use crate::tool::ToolError;

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
