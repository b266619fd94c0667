//! A tiny text language for catalogs, for tests and benchmarks (as cargo's resolver-tests
//! have `pkg!`). One line per component version or device:
//!
//! ```text
//! shell-desktop 0.2.0: requires compositor >= 0.3, seat | seatd; provides shell
//! compositor 0.2.1: needs display; conflicts old-compositor; recommends fonts
//! tool 1.0.0: feature debug = gdb
//! device laptop: roots shell; caps display; prefer shell = shell-desktop
//! ```
//!
//! Requirements in a clause are separated by `,`, so they cannot use `,` themselves.
//! The text becomes real manifest and device TOML, loaded by the real parser.

use crate::diagnostic::SourceFile;

/// Manifest and device files described by `text`.
pub fn files(text: &str) -> (Vec<SourceFile>, Vec<SourceFile>) {
    let mut manifests = Vec::new();
    let mut devices = Vec::new();
    for (n, line) in text.lines().map(str::trim).enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (head, body) = line.split_once(':').unwrap_or((line, ""));
        let clauses: Vec<(&str, &str)> = body
            .split(';')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(|c| c.split_once(' ').unwrap_or((c, "")))
            .collect();
        let list = |key: &str| -> Vec<String> {
            clauses
                .iter()
                .filter(|(k, _)| *k == key)
                .flat_map(|(_, v)| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                })
                .collect()
        };
        let toml_list = |items: Vec<String>| {
            format!(
                "[{}]",
                items
                    .iter()
                    .map(|i| format!("{i:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let mut words = head.split_whitespace();
        match (words.next(), words.next()) {
            (Some("device"), Some(name)) => {
                let prefer: Vec<String> = list("prefer")
                    .iter()
                    .map(|p| {
                        let (v, c) = p
                            .split_once('=')
                            .expect("prefer takes `virtual = component`");
                        format!("{:?} = {:?}", v.trim(), c.trim())
                    })
                    .collect();
                let text = format!(
                    "[device]\nname = {name:?}\narch = \"x86_64\"\nform-factor = \"laptop\"\ncapabilities = {}\nfirmware = \"uefi\"\n\n[compose]\nroots = {}\nprefer = {{ {} }}\n\n[image]\nsize = \"1G\"\n",
                    toml_list(list("caps")),
                    toml_list(list("roots")),
                    prefer.join(", "),
                );
                devices.push(SourceFile::new(format!("devices/{name}.toml"), text));
            }
            (Some(name), Some(version)) => {
                let mut text = format!(
                    "[component]\nname = {name:?}\nversion = {version:?}\nsummary = \"{name} {version}\"\nrequires = {}\nrecommends = {}\nconflicts = {}\nprovides = {}\ndevice-needs = {}\n",
                    toml_list(list("requires")),
                    toml_list(list("recommends")),
                    toml_list(list("conflicts")),
                    toml_list(list("provides")),
                    toml_list(list("needs")),
                );
                let features: Vec<&str> = clauses
                    .iter()
                    .filter(|(k, _)| *k == "feature")
                    .map(|(_, v)| *v)
                    .collect();
                if !features.is_empty() {
                    text.push_str("\n[features]\n");
                    for f in features {
                        let (fname, reqs) = f.split_once('=').unwrap_or((f, ""));
                        let reqs = reqs
                            .split(',')
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                            .collect();
                        text.push_str(&format!("{} = {}\n", fname.trim(), toml_list(reqs)));
                    }
                }
                manifests.push(SourceFile::new(
                    format!("manifests/{n:05}-{name}-{version}.toml"),
                    text,
                ));
            }
            _ => panic!(
                "catalog line {}: expected `name version: ...` or `device name: ...`, got {line:?}",
                n + 1
            ),
        }
    }
    (manifests, devices)
}
