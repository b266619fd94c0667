//! Requirement strings: `"name[feature] >= 1.0 | other"`, parsed into alternatives.

use std::fmt;

use semver::VersionReq;
use serde::{Serialize, Serializer};

/// One way to satisfy a requirement: a component or virtual, its features and versions.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Dependency {
    pub name: String,
    /// Features of `name` that must be enabled (`name[a,b]`), sorted.
    pub features: Vec<String>,
    pub req: VersionReq,
}

impl Dependency {
    /// Whether `version` satisfies this dependency's version requirement. A requirement
    /// without comparators (`name` alone) matches every version, pre-releases included;
    /// otherwise semver's rules apply (pre-releases only where a comparator names one).
    pub fn matches(&self, version: &semver::Version) -> bool {
        self.req.comparators.is_empty() || self.req.matches(version)
    }
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if !self.features.is_empty() {
            write!(f, "[{}]", self.features.join(","))?;
        }
        if self.req != VersionReq::STAR {
            write!(f, " {}", self.req)?;
        }
        Ok(())
    }
}

/// A requirement: satisfied when any one of its alternatives is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Requirement {
    pub alternatives: Vec<Dependency>,
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, alt) in self.alternatives.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{alt}")?;
        }
        Ok(())
    }
}

impl Serialize for Dependency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Serialize for Requirement {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Why a requirement string could not be parsed: what, where in the string, how to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequirementError {
    pub message: String,
    /// Byte range inside the requirement string.
    pub range: std::ops::Range<usize>,
    pub help: String,
}

/// Whether `name` is a valid component, virtual, feature or capability name; a slotted
/// component's name is two of them joined by `@` (`lua@5.4`).
pub fn is_valid_name(name: &str) -> bool {
    if let Some((base, slot)) = name.split_once('@') {
        return is_plain_name(base) && is_plain_name(slot);
    }
    is_plain_name(name)
}

fn is_plain_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-.+_".contains(c))
}

pub const NAME_RULE: &str = "names use lowercase letters, digits and `-._+`, and start with a letter or digit (a slotted component: NAME@SLOT)";

/// Parses `"a >= 1 | b[x]"`. An empty version part means any version.
pub fn parse_requirement(text: &str) -> Result<Requirement, RequirementError> {
    let mut alternatives = Vec::new();
    let mut offset = 0;
    for part in text.split('|') {
        let lead = part.len() - part.trim_start().len();
        alternatives.push(parse_dependency(part.trim(), offset + lead)?);
        offset += part.len() + 1;
    }
    Ok(Requirement { alternatives })
}

fn parse_dependency(text: &str, base: usize) -> Result<Dependency, RequirementError> {
    let name_end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || "-._+@".contains(c)))
        .unwrap_or(text.len());
    let name = &text[..name_end];
    if name.is_empty() {
        return Err(RequirementError {
            message: "missing component name".into(),
            range: base..base + text.len().max(1),
            help: "write a requirement as `name`, `name >= 1.0` or `a | b`".into(),
        });
    }
    if !is_valid_name(name) {
        return Err(RequirementError {
            message: format!("invalid name `{name}`"),
            range: base..base + name_end,
            help: NAME_RULE.into(),
        });
    }
    let mut rest = &text[name_end..];
    let mut features = Vec::new();
    if let Some(inner) = rest.strip_prefix('[') {
        let Some(close) = inner.find(']') else {
            return Err(RequirementError {
                message: "unclosed `[` in feature list".into(),
                range: base + name_end..base + text.len(),
                help: "write features as `name[feature-a,feature-b]`".into(),
            });
        };
        for feature in inner[..close].split(',').map(str::trim) {
            if !is_valid_name(feature) {
                return Err(RequirementError {
                    message: format!("invalid feature name `{feature}`"),
                    range: base + name_end..base + name_end + close + 2,
                    help: NAME_RULE.into(),
                });
            }
            features.push(feature.to_string());
        }
        features.sort();
        features.dedup();
        rest = &inner[close + 1..];
    }
    let req_text = rest.trim();
    let req = if req_text.is_empty() {
        VersionReq::STAR
    } else {
        VersionReq::parse(req_text).map_err(|e| RequirementError {
            message: format!("invalid version requirement `{req_text}`: {e}"),
            range: base + text.len() - rest.trim_start().len()..base + text.len(),
            help: "use semver requirements such as `>= 1.2`, `^0.3`, `= 1.0.4` or `>= 1, < 2`"
                .into(),
        })?
    };
    Ok(Dependency {
        name: name.to_string(),
        features,
        req,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(input: &str, expect: &str) {
        let got = match parse_requirement(input) {
            Ok(r) => format!("{r} ({} alternatives)", r.alternatives.len()),
            Err(e) => format!("error at {:?}: {}", e.range, e.message),
        };
        assert_eq!(got, expect, "input: {input:?}");
    }

    #[test]
    fn parses_requirements() {
        check("base", "base (1 alternatives)");
        check("compositor >= 0.1", "compositor >=0.1 (1 alternatives)");
        check(
            "init-compose | init-busybox",
            "init-compose | init-busybox (2 alternatives)",
        );
        check(
            "shell[debug, a] >=1, <2",
            "shell[a,debug] >=1, <2 (1 alternatives)",
        );
        check("a 0.2", "a ^0.2 (1 alternatives)");
    }

    #[test]
    fn reports_where_a_requirement_is_wrong() {
        check(
            "base >= x",
            "error at 5..9: invalid version requirement `>= x`: unexpected character 'x' while parsing major version number",
        );
        check("a | ", "error at 4..5: missing component name");
        check("Base", "error at 0..4: invalid name `Base`");
        check("a[b", "error at 1..3: unclosed `[` in feature list");
    }
}
