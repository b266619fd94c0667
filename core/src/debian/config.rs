//! `debian.toml`: a project's choices for Debian closures, as data it can change.

use std::collections::BTreeSet;

use serde::Deserialize;

pub const CONFIG_FILE: &str = "debian.toml";

/// The whole file. A project without one excludes nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub closure: ClosureConfig,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClosureConfig {
    /// Packages left out of every closure: relations on them count as satisfied.
    #[serde(default)]
    pub exclude: BTreeSet<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{CONFIG_FILE} is not valid: {message}")]
pub struct ConfigError {
    pub message: String,
}

impl Config {
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e: toml::de::Error| ConfigError {
            message: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_exclusion_list_and_rejects_unknown_keys() {
        let c = Config::parse("[closure]\nexclude = [\"dpkg\", \"debconf\"]\n").unwrap();
        assert!(c.closure.exclude.contains("dpkg"));
        let e = Config::parse("[closure]\nexclud = []\n").unwrap_err();
        assert!(e.to_string().contains("unknown field `exclud`"), "{e}");
    }
}
