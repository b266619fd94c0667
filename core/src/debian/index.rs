//! apt's package indexes as data: every version of every package of the image's
//! architecture (and `all`), with its relations and the SHA-256 of its `.deb`. The text
//! comes from the indexes apt has verified (`apt-get update`), read the way apt reads
//! them (`apt-get indextargets`, `apt-helper cat-file`), so the archive is whatever the
//! machine's apt sources say.

use std::collections::BTreeMap;
use std::process::Command;

use debversion::Version;

use super::relation::{Clause, Relation, RelationError, parse_clauses, parse_relation};
use crate::tool::ToolError;

/// One version of one package, as its index paragraph describes it.
#[derive(Debug, Clone)]
pub struct Package {
    pub name: String,
    pub version: Version,
    /// The version exactly as the index spells it (what `apt-get download` wants).
    pub version_text: String,
    pub arch: String,
    /// `Pre-Depends` then `Depends`.
    pub depends: Vec<Clause>,
    /// Names this package also answers to, with the version it provides them at.
    pub provides: Vec<(String, Option<Version>)>,
    /// `Conflicts` and `Breaks`: with no dpkg to unpack half-way, both mean "not together".
    pub conflicts: Vec<Relation>,
    pub sha256: String,
    pub size: u64,
}

impl Package {
    /// This exact package, as compose.lock pins it.
    pub fn pin(&self) -> crate::lock::DebPin {
        crate::lock::DebPin {
            name: self.name.clone(),
            version: self.version_text.clone(),
            sha256: self.sha256.clone(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error("apt has no package indexes; run `apt-get update` (as root) and try again")]
    NoIndexes,
    #[error("{file}: package `{package}`: {message}")]
    Bad {
        file: String,
        package: String,
        message: String,
    },
}

/// Every package version of the indexes, by name, ascending by version.
#[derive(Debug, Default)]
pub struct Index {
    packages: BTreeMap<String, Vec<Package>>,
    /// Virtual name -> (providing package, index into its versions).
    providers: BTreeMap<String, Vec<(String, usize)>>,
}

impl Index {
    /// Reads the indexes apt has for this machine's sources, keeping `arch` and `all`.
    pub fn from_apt(arch: &str) -> Result<Index, IndexError> {
        let output = Command::new("apt-get")
            .args([
                "indextargets",
                "--format",
                "$(FILENAME)",
                "Created-By: Packages",
            ])
            .env("LC_ALL", "C")
            .output()
            .map_err(ToolError::missing("apt-get", "apt"))?;
        let files: Vec<String> = String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|l| std::path::Path::new(l).exists())
            .map(str::to_string)
            .collect();
        if files.is_empty() {
            return Err(IndexError::NoIndexes);
        }
        let mut index = Index::default();
        for file in &files {
            let text = crate::tool::run(
                Command::new("/usr/lib/apt/apt-helper").args(["cat-file", file]),
                "apt-helper",
                "apt",
            )?;
            index.add_text(&String::from_utf8_lossy(&text), file, arch)?;
        }
        index.finish();
        Ok(index)
    }

    /// An index from Packages-file text (tests; `file` names it in errors).
    pub fn parse(text: &str, file: &str, arch: &str) -> Result<Index, IndexError> {
        let mut index = Index::default();
        index.add_text(text, file, arch)?;
        index.finish();
        Ok(index)
    }

    fn add_text(&mut self, text: &str, file: &str, arch: &str) -> Result<(), IndexError> {
        for paragraph in text.split("\n\n") {
            let fields = fields(paragraph);
            let Some(name) = fields.get("Package") else {
                continue;
            };
            let package_arch = fields.get("Architecture").cloned().unwrap_or_default();
            if package_arch != arch && package_arch != "all" {
                continue;
            }
            let bad = |message: String| IndexError::Bad {
                file: file.to_string(),
                package: name.clone(),
                message,
            };
            let relation_error = |e: RelationError| bad(e.to_string());
            let version_text = fields
                .get("Version")
                .ok_or_else(|| bad("no Version field".into()))?;
            let version: Version = version_text
                .parse()
                .map_err(|e| bad(format!("bad Version `{version_text}`: {e:?}")))?;
            let mut depends = Vec::new();
            for key in ["Pre-Depends", "Depends"] {
                if let Some(field) = fields.get(key) {
                    depends.extend(parse_clauses(field).map_err(relation_error)?);
                }
            }
            let mut conflicts = Vec::new();
            for key in ["Conflicts", "Breaks"] {
                if let Some(field) = fields.get(key) {
                    for clause in parse_clauses(field).map_err(relation_error)? {
                        conflicts.extend(clause);
                    }
                }
            }
            let mut provides = Vec::new();
            if let Some(field) = fields.get("Provides") {
                for item in field.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    let r = parse_relation(item).map_err(relation_error)?;
                    provides.push((r.name, r.constraint.map(|(_, v)| v)));
                }
            }
            let package = Package {
                name: name.clone(),
                version,
                version_text: version_text.clone(),
                arch: package_arch,
                depends,
                provides,
                conflicts,
                sha256: fields.get("SHA256").cloned().unwrap_or_default(),
                size: fields.get("Size").and_then(|s| s.parse().ok()).unwrap_or(0),
            };
            self.packages.entry(name.clone()).or_default().push(package);
        }
        Ok(())
    }

    /// Sorts versions ascending, keeps one paragraph per version (an archive and its
    /// security updates may both list it), and indexes `Provides`.
    fn finish(&mut self) {
        for versions in self.packages.values_mut() {
            versions.sort_by(|a, b| a.version.cmp(&b.version));
            versions.dedup_by(|a, b| a.version == b.version);
        }
        self.providers.clear();
        for (name, versions) in &self.packages {
            for (i, p) in versions.iter().enumerate() {
                for (virt, _) in &p.provides {
                    self.providers
                        .entry(virt.clone())
                        .or_default()
                        .push((name.clone(), i));
                }
            }
        }
    }

    /// The versions of `name`, ascending (empty for a purely virtual name).
    pub fn versions(&self, name: &str) -> &[Package] {
        self.packages.get(name).map_or(&[], Vec::as_slice)
    }

    /// Package versions that provide `name`, as (package, index into its versions).
    pub fn providers(&self, name: &str) -> &[(String, usize)] {
        self.providers.get(name).map_or(&[], Vec::as_slice)
    }

    pub fn len(&self) -> usize {
        self.packages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.packages.is_empty()
    }
}

/// The fields of one deb822 paragraph that closures use (the rest, such as long
/// descriptions, is skipped); continuation lines are joined with a space.
fn fields(paragraph: &str) -> BTreeMap<String, String> {
    const USED: [&str; 10] = [
        "Package",
        "Version",
        "Architecture",
        "Pre-Depends",
        "Depends",
        "Conflicts",
        "Breaks",
        "Provides",
        "SHA256",
        "Size",
    ];
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    let mut last: Option<&str> = None;
    for line in paragraph.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(value) = last.and_then(|key| map.get_mut(key)) {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((key, value)) = line.split_once(':') {
            last = USED.iter().find(|k| **k == key).copied();
            if let Some(key) = last {
                map.insert(key.to_string(), value.trim().to_string());
            }
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "Package: a
Version: 1.0-1
Architecture: amd64
Depends: b (>= 2) | c, d:any
Breaks: e (<< 3)
Provides: virt (= 1.0), plain
SHA256: aa
Size: 10

Package: a
Version: 1.0~rc1-1
Architecture: amd64
SHA256: bb

Package: a
Version: 1.0-1
Architecture: amd64
SHA256: aa

Package: x
Version: 1
Architecture: i386
SHA256: cc

Package: d
Version: 2
Architecture: all
Description: multi
 line
SHA256: dd
";

    #[test]
    fn reads_paragraphs_of_the_architecture_sorted_and_deduplicated() {
        let index = Index::parse(TEXT, "test", "amd64").unwrap();
        let a = index.versions("a");
        assert_eq!(
            a.iter()
                .map(|p| p.version_text.as_str())
                .collect::<Vec<_>>(),
            ["1.0~rc1-1", "1.0-1"]
        );
        assert_eq!(a[1].depends.len(), 2);
        assert_eq!(a[1].conflicts[0].name, "e");
        assert!(index.versions("x").is_empty(), "i386 is not ours");
        assert_eq!(index.versions("d")[0].arch, "all");
        assert_eq!(index.providers("virt"), [("a".to_string(), 1)]);
        assert_eq!(index.providers("plain").len(), 1);
    }

    #[test]
    fn a_bad_paragraph_names_the_file_and_package() {
        let e = Index::parse(
            "Package: q\nVersion: 1\nArchitecture: all\nDepends: r (>= \n",
            "f",
            "amd64",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("f: package `q`: cannot read the relation"),
            "{e}"
        );
    }
}
