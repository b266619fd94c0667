//! Trimming the root tree: documentation, man pages and locales go (Atomic Host ships no man
//! pages), and so does every shared library that no executable of the image needs: the
//! closure of `PT_INTERP` and `DT_NEEDED` from every ELF program, and from the plugins
//! manifests declare as loaded at run time (a Vulkan ICD). Loader manifests (Vulkan ICDs and
//! layers, glvnd's EGL vendors) whose library was trimmed go too. Each component's `[trim]`
//! keeps or drops more with path globs, in the spirit of Chisel's slices.

use std::collections::{BTreeMap, BTreeSet};

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Serialize;

use super::BuildError;
use super::tree::{Entry, Tree};
use crate::manifest::Trim;
use crate::store::Store;

/// Dropped from every image unless a component keeps them.
pub const DEFAULT_DROP: &[&str] = &[
    "/usr/share/doc/**",
    "/usr/share/doc-base/**",
    "/usr/share/man/**",
    "/usr/share/info/**",
    "/usr/share/locale/**",
    "/usr/lib/locale/**",
    "/usr/share/lintian/**",
    "/usr/share/bug/**",
];

/// JSON manifests a loader reads at run time to find a library (`library_path`): dropped
/// when that library is not in the trimmed root, so no loader tries what is not there.
const LOADER_MANIFESTS: &[&str] = &[
    "/usr/share/vulkan/icd.d/*.json",
    "/usr/share/vulkan/implicit_layer.d/*.json",
    "/usr/share/vulkan/explicit_layer.d/*.json",
    "/usr/share/glvnd/egl_vendor.d/*.json",
];

/// Kept although a default drops them: licences ask for their copyright notices.
pub const DEFAULT_KEEP: &[&str] = &["/usr/share/doc/*/copyright"];

/// Where glibc's loader looks when no `RPATH`/`RUNPATH` says otherwise (Debian's multiarch
/// folders first); an image has no `ld.so.cache`, so nothing else counts.
const LIBRARY_DIRS: &[&str] = &[
    "/lib/x86_64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/lib64",
    "/usr/lib64",
    "/lib",
    "/usr/lib",
];

/// What trimming did to one component's files.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Sizes {
    pub before: u64,
    pub after: u64,
}

/// An ELF file of the image whose interpreter or library is not in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unmet {
    pub file: String,
    pub needs: String,
}

#[derive(Debug)]
pub struct Trimmed {
    pub tree: Tree,
    /// Per owning component: file bytes before and after.
    pub sizes: BTreeMap<String, Sizes>,
    /// Dependencies no trimming removed but that were never there.
    pub unmet: Vec<Unmet>,
}

/// One component's globs, compiled.
struct Rules {
    keep: GlobSet,
    drop: GlobSet,
    plugins: GlobSet,
}

fn globs(patterns: &[String]) -> GlobSet {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        // Manifests are checked when parsed; a pattern that still fails matches nothing.
        if let Ok(g) = Glob::new(p) {
            b.add(g);
        }
    }
    b.build().unwrap_or_else(|_| GlobSet::empty())
}

fn strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|s| s.to_string()).collect()
}

/// Trims `root`. `owners` names the component of each path (paths without one, such as
/// compose's own files, are never dropped); `rules` are the components' `[trim]`.
pub fn trim(
    store: &Store,
    root: &Tree,
    owners: &BTreeMap<String, String>,
    rules: &BTreeMap<String, Trim>,
) -> Result<Trimmed, BuildError> {
    // `/usr/share/man/**` goes with its folder too.
    let mut drops = strings(DEFAULT_DROP);
    drops.extend(
        DEFAULT_DROP
            .iter()
            .filter_map(|d| d.strip_suffix("/**"))
            .map(String::from),
    );
    let default_drop = globs(&drops);
    let default_keep = globs(&strings(DEFAULT_KEEP));
    let compiled: BTreeMap<&str, Rules> = rules
        .iter()
        .map(|(name, t)| {
            (
                name.as_str(),
                Rules {
                    keep: globs(&t.keep),
                    drop: globs(&t.drop),
                    plugins: globs(&t.plugins),
                },
            )
        })
        .collect();
    let rules_of = |path: &str| owners.get(path).and_then(|o| compiled.get(o.as_str()));
    let kept = |path: &str| {
        default_keep.is_match(path) || rules_of(path).is_some_and(|r| r.keep.is_match(path))
    };

    // 1. Paths: documentation, locales and the components' own drops.
    let mut tree = Tree::default();
    for (path, entry) in &root.entries {
        let dropped = owners.contains_key(path)
            && (default_drop.is_match(path)
                || rules_of(path).is_some_and(|r| r.drop.is_match(path)));
        if !dropped || kept(path) {
            tree.entries.insert(path.clone(), entry.clone());
        }
    }
    // Folders of what stayed (a kept copyright file in a dropped documentation folder).
    restore_parents(root, &mut tree);

    // 2. Libraries: what the programs (and declared plugins) need, transitively.
    let mut elves: BTreeMap<String, Elf> = BTreeMap::new();
    for (path, entry) in &tree.entries {
        if let Entry::File { digest, .. } = entry {
            if let Some(elf) = Elf::read(store, digest)? {
                elves.insert(path.clone(), elf);
            }
        }
    }
    let mut used: BTreeSet<String> = BTreeSet::new();
    let mut queue: Vec<String> = elves
        .keys()
        .filter(|p| {
            !is_library_name(p)
                || kept(p)
                || rules_of(p).is_some_and(|r| r.plugins.is_match(p.as_str()))
        })
        .cloned()
        .collect();
    let mut unmet = Vec::new();
    while let Some(path) = queue.pop() {
        if !used.insert(path.clone()) {
            continue;
        }
        let Some(elf) = elves.get(&path) else {
            continue;
        };
        let origin = parent(&path);
        let mut wants: Vec<(String, Vec<String>)> = Vec::new();
        if let Some(interp) = &elf.interpreter {
            wants.push((interp.clone(), Vec::new()));
        }
        let mut dirs: Vec<String> = Vec::new();
        let search = if elf.runpath.is_empty() {
            &elf.rpath
        } else {
            &elf.runpath
        };
        for d in search {
            dirs.push(d.replace("$ORIGIN", origin).replace("${ORIGIN}", origin));
        }
        dirs.extend(LIBRARY_DIRS.iter().map(|d| d.to_string()));
        for lib in &elf.needed {
            wants.push((lib.clone(), dirs.clone()));
        }
        for (want, dirs) in wants {
            let candidates: Vec<String> = if want.contains('/') {
                vec![want.clone()]
            } else {
                dirs.iter()
                    .map(|d| format!("{}/{want}", d.trim_end_matches('/')))
                    .collect()
            };
            let found = candidates.iter().find_map(|c| {
                let mut links = Vec::new();
                resolve(&tree, c, &mut links)
                    .filter(|real| matches!(tree.entries.get(real), Some(Entry::File { .. })))
                    .map(|real| (real, links))
            });
            match found {
                Some((real, links)) => {
                    used.extend(links);
                    queue.push(real);
                }
                None => unmet.push(Unmet {
                    file: path.clone(),
                    needs: want,
                }),
            }
        }
    }
    // A library the loader could not find by its own search paths is still there when
    // another object of the program loaded one of that name first (systemd loads
    // libsystemd-shared through its RUNPATH; libsystemd-core, which has none, then finds it
    // loaded): glibc matches already loaded objects by name.
    let loaded: BTreeSet<&str> = used
        .iter()
        .map(|p| p.rsplit('/').next().unwrap_or(p))
        .collect();
    unmet.retain(|u| u.needs.contains('/') || !loaded.contains(u.needs.as_str()));
    let unused: BTreeSet<String> = elves
        .keys()
        .filter(|p| is_library_name(p) && !used.contains(*p) && !kept(p) && owners.contains_key(*p))
        .cloned()
        .collect();
    for p in &unused {
        tree.entries.remove(p);
    }
    // Links to what was just removed (libfoo.so.1 -> libfoo.so.1.2.3) go with it.
    loop {
        let dangling: Vec<String> = tree
            .entries
            .iter()
            .filter(|(p, e)| matches!(e, Entry::Symlink { .. }) && !used.contains(*p) && !kept(p))
            .filter(|(p, _)| {
                let mut links = Vec::new();
                let before = resolve(root, p, &mut links);
                let now = resolve(&tree, p, &mut Vec::new());
                before.is_some_and(|b| root.entries.contains_key(&b))
                    && now.is_none_or(|n| !tree.entries.contains_key(&n))
            })
            .map(|(p, _)| p.clone())
            .collect();
        if dangling.is_empty() {
            break;
        }
        for p in dangling {
            tree.entries.remove(&p);
        }
    }

    // 3. Loader manifests whose library went.
    let manifests = globs(&strings(LOADER_MANIFESTS));
    let orphans: Vec<String> = tree
        .entries
        .iter()
        .filter(|(p, _)| manifests.is_match(p.as_str()) && owners.contains_key(*p) && !kept(p))
        .filter_map(|(p, e)| match e {
            Entry::File { digest, .. } => Some((p, digest)),
            _ => None,
        })
        .filter_map(|(p, digest)| {
            let bytes = store.read(digest).ok()?;
            let library = library_path(&bytes)?;
            let candidates: Vec<String> = if library.contains('/') {
                vec![library]
            } else {
                LIBRARY_DIRS
                    .iter()
                    .map(|d| format!("{d}/{library}"))
                    .collect()
            };
            let present = candidates.iter().any(|c| {
                resolve(&tree, c, &mut Vec::new()).is_some_and(|r| tree.entries.contains_key(&r))
            });
            (!present).then(|| p.clone())
        })
        .collect();
    for p in &orphans {
        tree.entries.remove(p);
    }

    let mut sizes: BTreeMap<String, Sizes> = BTreeMap::new();
    for (t, after) in [(root, false), (&tree, true)] {
        for (path, entry) in &t.entries {
            if let (Entry::File { size, .. }, Some(owner)) = (entry, owners.get(path)) {
                let s = sizes.entry(owner.clone()).or_default();
                if after {
                    s.after += size;
                } else {
                    s.before += size;
                }
            }
        }
    }
    unmet.sort_by(|a, b| (&a.file, &a.needs).cmp(&(&b.file, &b.needs)));
    unmet.dedup();
    Ok(Trimmed { tree, sizes, unmet })
}

/// The library a loader manifest names: `library_path` of its `ICD` or `layer` object
/// (Vulkan, glvnd), or None when it is not such a manifest.
fn library_path(bytes: &[u8]) -> Option<String> {
    let json: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    ["ICD", "layer"]
        .iter()
        .find_map(|k| json.get(k)?.get("library_path")?.as_str())
        .map(String::from)
}

/// Puts back the folder entries (as `root` has them) of every path in `tree`.
fn restore_parents(root: &Tree, tree: &mut Tree) {
    let mut missing = BTreeSet::new();
    for path in tree.entries.keys() {
        let mut at = parent(path);
        while at != "/" && !tree.entries.contains_key(at) && missing.insert(at.to_string()) {
            at = parent(at);
        }
    }
    for dir in missing {
        let entry = root
            .entries
            .get(&dir)
            .cloned()
            .unwrap_or(Entry::Dir { mode: 0o755 });
        tree.entries.insert(dir, entry);
    }
}

/// `libfoo.so`, `libfoo.so.1`, `libfoo.so.1.2.3`, `ld-linux-x86-64.so.2`: names the loader
/// finds libraries by. Programs never have them (glibc's `libc.so.6` can run, but is a
/// library).
fn is_library_name(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.ends_with(".so") || name.contains(".so.")
}

fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// Whether `path` names a file of `tree`, following symlinks.
pub fn has_file(tree: &Tree, path: &str) -> bool {
    resolve(tree, path, &mut Vec::new())
        .is_some_and(|real| matches!(tree.entries.get(&real), Some(Entry::File { .. })))
}

/// The real path of `path` in `tree`, following symlinks in every component (at most 40,
/// as the kernel does); `links` collects the symlinks passed. `None` for a loop.
fn resolve(tree: &Tree, path: &str, links: &mut Vec<String>) -> Option<String> {
    let mut pending: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .rev()
        .map(String::from)
        .collect();
    let mut at = String::new();
    let mut hops = 0;
    while let Some(part) = pending.pop() {
        match part.as_str() {
            "." => continue,
            ".." => {
                at = parent(&at).trim_end_matches('/').to_string();
                continue;
            }
            _ => {}
        }
        let next = format!("{at}/{part}");
        if let Some(Entry::Symlink { target }) = tree.entries.get(&next) {
            hops += 1;
            if hops > 40 {
                return None;
            }
            links.push(next.clone());
            if target.starts_with('/') {
                at.clear();
            }
            pending.extend(
                target
                    .split('/')
                    .filter(|s| !s.is_empty())
                    .rev()
                    .map(String::from),
            );
        } else {
            at = next;
        }
    }
    Some(if at.is_empty() { "/".into() } else { at })
}

/// What the loader reads of an ELF file.
#[derive(Debug)]
struct Elf {
    interpreter: Option<String>,
    needed: Vec<String>,
    rpath: Vec<String>,
    runpath: Vec<String>,
}

impl Elf {
    /// `None` when the blob is not an ELF file (or not one goblin can read).
    fn read(store: &Store, digest: &str) -> Result<Option<Elf>, BuildError> {
        use std::io::Read;
        let path = store.blob_path(digest);
        let mut magic = [0u8; 4];
        let mut file = std::fs::File::open(&path).map_err(|e| BuildError::io("open", &path, e))?;
        if file.read_exact(&mut magic).is_err() || magic != *b"\x7fELF" {
            return Ok(None);
        }
        let bytes = store.read(digest)?;
        let Ok(elf) = goblin::elf::Elf::parse(&bytes) else {
            return Ok(None);
        };
        let split = |v: &[&str]| -> Vec<String> {
            v.iter()
                .flat_map(|s| s.split(':'))
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        };
        Ok(Some(Elf {
            interpreter: elf.interpreter.map(String::from),
            needed: elf.libraries.iter().map(|s| s.to_string()).collect(),
            rpath: split(&elf.rpaths),
            runpath: split(&elf.runpaths),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(tree: &mut Tree, path: &str, target: &str) {
        tree.insert(
            path,
            Entry::Symlink {
                target: target.into(),
            },
        );
    }

    #[test]
    fn symlinks_resolve_in_every_component() {
        let mut t = Tree::default();
        t.insert(
            "/usr/lib/x86_64-linux-gnu/libz.so.1.2.13",
            Entry::File {
                digest: "d".into(),
                size: 1,
                mode: 0o644,
            },
        );
        link(
            &mut t,
            "/usr/lib/x86_64-linux-gnu/libz.so.1",
            "libz.so.1.2.13",
        );
        link(&mut t, "/lib", "usr/lib");
        let mut links = Vec::new();
        assert_eq!(
            resolve(&t, "/lib/x86_64-linux-gnu/libz.so.1", &mut links).as_deref(),
            Some("/usr/lib/x86_64-linux-gnu/libz.so.1.2.13")
        );
        assert_eq!(links, ["/lib", "/usr/lib/x86_64-linux-gnu/libz.so.1"]);
        link(&mut t, "/a", "/b");
        link(&mut t, "/b", "/a");
        assert_eq!(resolve(&t, "/a/x", &mut Vec::new()), None);
    }

    #[test]
    fn loader_manifests_name_their_library() {
        let vulkan = br#"{"file_format_version": "1.0.0",
            "ICD": {"library_path": "/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so", "api_version": "1.3.230"}}"#;
        assert_eq!(
            library_path(vulkan).as_deref(),
            Some("/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so")
        );
        let layer = br#"{"layer": {"name": "VK_LAYER_MESA_device_select", "library_path": "libVkLayer_MESA_device_select.so"}}"#;
        assert_eq!(
            library_path(layer).as_deref(),
            Some("libVkLayer_MESA_device_select.so")
        );
        let egl =
            br#"{"file_format_version": "1.0.0", "ICD": {"library_path": "libEGL_mesa.so.0"}}"#;
        assert_eq!(library_path(egl).as_deref(), Some("libEGL_mesa.so.0"));
        assert_eq!(library_path(b"not json"), None);
        assert_eq!(library_path(br#"{"other": 1}"#), None);
    }

    #[test]
    fn library_names() {
        assert!(is_library_name("/lib/x86_64-linux-gnu/libc.so.6"));
        assert!(is_library_name(
            "/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so"
        ));
        assert!(!is_library_name("/usr/sbin/dhcpcd"));
        assert!(!is_library_name("/usr/bin/sort"));
    }
}
