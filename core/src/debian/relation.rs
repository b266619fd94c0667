//! Debian package relations (`Depends`, `Provides`, `Conflicts` ...): `a (>= 1:2.0~rc1) | b:any`,
//! parsed into data. Versions compare as dpkg does (epochs, `~`), by the `debversion` crate.

use std::fmt;

use debversion::Version;

/// A version comparison of a relation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
}

impl Op {
    pub fn holds(self, have: &Version, want: &Version) -> bool {
        match self {
            Op::Lt => have < want,
            Op::Le => have <= want,
            Op::Eq => have == want,
            Op::Ge => have >= want,
            Op::Gt => have > want,
        }
    }

    fn text(self) -> &'static str {
        match self {
            Op::Lt => "<<",
            Op::Le => "<=",
            Op::Eq => "=",
            Op::Ge => ">=",
            Op::Gt => ">>",
        }
    }
}

/// One package named by a relation, with an optional version constraint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub name: String,
    pub constraint: Option<(Op, Version)>,
}

impl Relation {
    /// Whether a package (or a `Provides`) of this name at `version` satisfies the relation.
    /// An unversioned `Provides` (`None`) satisfies only unversioned relations, as in dpkg.
    pub fn accepts(&self, version: Option<&Version>) -> bool {
        match (&self.constraint, version) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some((op, want)), Some(have)) => op.holds(have, want),
        }
    }
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.constraint {
            None => write!(f, "{}", self.name),
            Some((op, v)) => write!(f, "{} ({} {v})", self.name, op.text()),
        }
    }
}

/// Alternatives: any one of them satisfies the clause (`a | b`).
pub type Clause = Vec<Relation>;

pub fn clause_text(clause: &Clause) -> String {
    clause
        .iter()
        .map(Relation::to_string)
        .collect::<Vec<_>>()
        .join(" | ")
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read the relation `{text}`: {reason}")]
pub struct RelationError {
    pub text: String,
    pub reason: String,
}

/// Parses a relation field: clauses separated by `,`, alternatives by `|`. Architecture
/// qualifiers (`:any`, `:amd64`) are dropped (one architecture per image), as are
/// architecture lists (`[amd64]`) and build profiles (`<!nocheck>`), which binary
/// package indexes do not use.
pub fn parse_clauses(field: &str) -> Result<Vec<Clause>, RelationError> {
    field
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| c.split('|').map(parse_relation).collect())
        .collect()
}

/// Parses one relation: `name`, `name:arch`, `name (op version)`.
pub fn parse_relation(text: &str) -> Result<Relation, RelationError> {
    let error = |reason: &str| RelationError {
        text: text.trim().to_string(),
        reason: reason.to_string(),
    };
    let mut rest = text.trim();
    if let Some(i) = rest
        .find(['[', '<'])
        .filter(|&i| rest[..i].contains(')') || !rest[..i].contains('('))
    {
        rest = rest[..i].trim();
    }
    let (name_part, constraint) = match rest.split_once('(') {
        None => (rest, None),
        Some((name, tail)) => {
            let inner = tail
                .strip_suffix(')')
                .or_else(|| tail.split_once(')').map(|(i, _)| i))
                .ok_or_else(|| error("a `(` without its `)`"))?
                .trim();
            let (op, version) = [
                ("<<", Op::Lt),
                ("<=", Op::Le),
                (">=", Op::Ge),
                (">>", Op::Gt),
                ("=", Op::Eq),
                // Obsolete forms dpkg still reads as <= and >=.
                ("<", Op::Le),
                (">", Op::Ge),
            ]
            .into_iter()
            .find_map(|(text, op)| inner.strip_prefix(text).map(|v| (op, v.trim())))
            .ok_or_else(|| error("the version needs one of <<, <=, =, >=, >>"))?;
            let version: Version = version
                .parse()
                .map_err(|e| error(&format!("`{version}` is not a Debian version ({e:?})")))?;
            (name, Some((op, version)))
        }
    };
    let name = name_part.trim();
    let name = name.split_once(':').map_or(name, |(n, _)| n).trim();
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(error("expected a package name"));
    }
    Ok(Relation {
        name: name.to_string(),
        constraint,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    #[test]
    fn parses_alternatives_versions_and_qualifiers() {
        let clauses = parse_clauses(
            "libc6 (>= 2.34), debconf (>= 0.5) | debconf-2.0, python3:any, perl [amd64]",
        )
        .unwrap();
        let text: Vec<String> = clauses.iter().map(clause_text).collect();
        assert_eq!(
            text,
            [
                "libc6 (>= 2.34)",
                "debconf (>= 0.5) | debconf-2.0",
                "python3",
                "perl"
            ]
        );
    }

    #[test]
    fn versions_order_as_dpkg_orders_them() {
        // Epochs beat everything, `~` sorts before the empty string.
        assert!(v("1:1.0") > v("2.0"));
        assert!(v("1.0~rc1") < v("1.0"));
        assert!(v("1.0~rc1~1") < v("1.0~rc1"));
        assert!(v("2.36-9+deb12u4") < v("2.36-9+deb12u10"));
        let r = parse_relation("libc6 (>= 2.36-9~)").unwrap();
        assert!(r.accepts(Some(&v("2.36-9"))));
        assert!(!r.accepts(Some(&v("2.35"))));
        assert!(
            parse_relation("a (<< 1:0)")
                .unwrap()
                .accepts(Some(&v("9.9")))
        );
    }

    #[test]
    fn unversioned_provides_satisfy_only_unversioned_relations() {
        assert!(
            parse_relation("mail-transport-agent")
                .unwrap()
                .accepts(None)
        );
        assert!(!parse_relation("foo (>= 1)").unwrap().accepts(None));
        assert!(parse_relation("foo (= 1)").unwrap().accepts(Some(&v("1"))));
    }

    #[test]
    fn bad_relations_say_what_is_wrong() {
        let e = parse_relation("foo (>= 1").unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot read the relation `foo (>= 1`: a `(` without its `)`"
        );
        assert!(parse_relation("foo (~ 1)").is_err());
        assert!(parse_relation("").is_err());
    }
}
