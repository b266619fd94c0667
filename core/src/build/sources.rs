//! Component payloads: each `[source]` kind (files, deb, kernel, cargo) and the inline
//! `[[files]]` of a manifest become one tree in the store. Build steps are keyed by their
//! inputs' digests, so an unchanged component costs a lookup.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::apt::{self, DebPin};
use super::tree::{Entry, Tree, join};
use super::{BuildError, Context};
use crate::debian::Index;
use crate::manifest::{CargoSource, Component, FilesEntry, Source};
use crate::store::{Digest, Store, StoreError, sha256};

/// A component's payload, built.
#[derive(Debug, Clone)]
pub struct Payload {
    pub tree: Tree,
    pub digest: Digest,
    /// The exact `.deb`s it was made from (for the lock file).
    pub debs: Vec<DebPin>,
    /// Whether this build made it (false: it came from the store).
    pub built: bool,
    /// A recorded tree of this payload that was corrupt in the store: removed, and the
    /// payload made again.
    pub repaired: Option<Digest>,
}

/// A build step's tree: recorded earlier, or made now.
#[derive(Debug, Clone)]
pub struct Step {
    pub tree: Tree,
    /// Made by this call (false: loaded from the store).
    pub built: bool,
    /// The recorded tree's blob, when it was corrupt (removed, then made again).
    pub repaired: Option<Digest>,
}

impl Step {
    fn files(tree: Tree) -> Step {
        Step {
            tree,
            built: false,
            repaired: None,
        }
    }
}

/// Builds (or finds in the store) the payload of `c`. `pins` are its planned `.deb`s: a
/// `deb` source's whole closure, or a `kernel` source's kernel package; `planned_image` the
/// digest an `oci` source's tag named when the build planned.
pub fn build(
    ctx: &Context,
    c: &Component,
    pins: &[DebPin],
    planned_image: Option<&str>,
) -> Result<Payload, BuildError> {
    let step = match &c.source {
        None => Step::files(Tree::default()),
        Some(Source::Files(entries)) => Step::files(files(ctx, c, entries)?),
        Some(Source::Deb(_)) => debs(ctx, c, pins)?,
        Some(Source::Oci { image }) => Step::files(oci(ctx, c, image, planned_image)?),
        Some(Source::Kernel { .. }) => {
            let pin = pins.first().ok_or_else(|| BuildError::BadKernel {
                package: c.name.clone(),
                message: "no kernel package was planned".into(),
            })?;
            kernel(ctx, c, pin)?
        }
        Some(Source::Cargo(source)) => Step::files(cargo(ctx, c, source)?),
    };
    let mut tree = step.tree;
    for f in &c.files {
        match &f.link {
            Some(target) => tree.insert(
                &f.path,
                Entry::Symlink {
                    target: target.clone(),
                },
            ),
            None => tree.insert_bytes(ctx.store, &f.path, f.content.as_bytes(), f.mode)?,
        }
    }
    // Files and cargo sources are hashed every time: they count as built when their
    // content is new to the store.
    let new = !ctx.store.has(&tree.digest());
    let digest = tree.save(ctx.store)?;
    Ok(Payload {
        tree,
        digest,
        debs: pins.to_vec(),
        built: step.built || new,
        repaired: step.repaired,
    })
}

/// The versioned kernel package a kernel source stands for (`linux-image-amd64` is a
/// metapackage that depends on it): the lock's pin while the index still has it.
pub fn kernel_pin(
    index: &Index,
    c: &Component,
    package: &str,
    pinned: &[DebPin],
) -> Result<DebPin, BuildError> {
    if let Some(p) = pinned.iter().find(|p| p.name.starts_with("linux-image-")) {
        if index
            .versions(&p.name)
            .iter()
            .any(|v| v.version_text == p.version)
        {
            return Ok(p.clone());
        }
    }
    let newest = |name: &str| {
        index
            .versions(name)
            .last()
            .ok_or_else(|| BuildError::UnknownDeb {
                component: c.name.clone(),
                package: name.to_string(),
            })
    };
    let meta = newest(package)?;
    let real = meta
        .depends
        .iter()
        .flatten()
        .map(|r| r.name.as_str())
        .find(|n| n.starts_with("linux-image-") && *n != package);
    match real {
        Some(real) => Ok(newest(real)?.pin()),
        None => Ok(meta.pin()),
    }
}

/// Runs `make` once per `key`: later builds load the recorded tree.
/// A recorded tree whose blob is corrupt is removed (by `Tree::load`) and made again.
fn cached(
    ctx: &Context,
    key: &str,
    make: impl FnOnce() -> Result<Tree, BuildError>,
) -> Result<Step, BuildError> {
    cached_in(ctx.store, key, make)
}

fn cached_in(
    store: &Store,
    key: &str,
    make: impl FnOnce() -> Result<Tree, BuildError>,
) -> Result<Step, BuildError> {
    let mut repaired = None;
    if let Some(digest) = store.step(key) {
        match Tree::load(store, &digest) {
            Ok(tree)
                if tree
                    .entries
                    .values()
                    .all(|e| !matches!(e, Entry::File { digest, .. } if !store.has(digest))) =>
            {
                return Ok(Step {
                    tree,
                    built: false,
                    repaired: None,
                });
            }
            Err(BuildError::Store(StoreError::Corrupt { .. }) | BuildError::CorruptTree { .. }) => {
                repaired = Some(digest)
            }
            _ => {}
        }
    }
    let tree = make()?;
    let digest = tree.save(store)?;
    store.record_step(key, &digest)?;
    Ok(Step {
        tree,
        built: true,
        repaired,
    })
}

/// A scratch folder in the store, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(ctx: &Context, hint: &str) -> Result<Scratch, BuildError> {
        Scratch::in_store(ctx.store, hint)
    }

    fn in_store(store: &Store, hint: &str) -> Result<Scratch, BuildError> {
        let path = store.temp_path(hint);
        std::fs::create_dir_all(&path).map_err(|e| BuildError::io("create", &path, e))?;
        Ok(Scratch(path))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn debs(ctx: &Context, c: &Component, pins: &[DebPin]) -> Result<Step, BuildError> {
    debian_tree(ctx.store, &c.name, pins, ctx.progress)
}

/// The files of the pinned Debian packages (a solved closure) as one tree: fetched into
/// `store`, unpacked, recorded; a second call with the same pins loads the recorded tree.
/// What a `deb` source installs, and the root file system of a container app.
pub fn debian_tree(
    store: &Store,
    component: &str,
    pins: &[DebPin],
    progress: &dyn Fn(&str),
) -> Result<Step, BuildError> {
    let key = sha256(
        format!(
            "deb-v2\n{}",
            serde_json::to_string(pins).expect("pins serialize")
        )
        .as_bytes(),
    );
    cached_in(store, &key, || {
        let scratch = Scratch::in_store(store, "deb")?;
        apt::fetch_missing(store, &pins.iter().collect::<Vec<_>>(), progress)?;
        for pin in pins {
            progress(&format!("unpack {} {}", pin.name, pin.version));
            let digest = apt::fetch(store, component, pin)?;
            apt::unpack(&store.blob_path(&digest), &scratch.0)?;
        }
        Tree::from_dir(store, &scratch.0, "/")
    })
}

fn kernel(ctx: &Context, c: &Component, pin: &DebPin) -> Result<Step, BuildError> {
    let mut modules: BTreeSet<String> = ctx.device.kernel_modules.iter().cloned().collect();
    modules.extend(ctx.module_requests.iter().cloned());
    let key = sha256(
        format!(
            "kernel-v2\n{}\n{}",
            serde_json::to_string(pin).unwrap(),
            modules.iter().cloned().collect::<Vec<_>>().join(",")
        )
        .as_bytes(),
    );
    cached(ctx, &key, || {
        let scratch = Scratch::new(ctx, "kernel")?;
        ctx.progress(&format!("fetch {} {}", pin.name, pin.version));
        let digest = apt::fetch(ctx.store, &c.name, pin)?;
        apt::unpack(&ctx.store.blob_path(&digest), &scratch.0)?;
        let moddir = scratch.0.join("lib/modules");
        let mut kernels: Vec<String> = std::fs::read_dir(&moddir)
            .map_err(|e| BuildError::io("list", &moddir, e))?
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        kernels.sort();
        let kver = match kernels.as_slice() {
            [one] => one.clone(),
            [] => {
                return Err(BuildError::BadKernel {
                    package: pin.name.clone(),
                    message: "it has no lib/modules".into(),
                });
            }
            many => {
                return Err(BuildError::BadKernel {
                    package: pin.name.clone(),
                    message: format!(
                        "it ships several kernels ({}); name one versioned package",
                        many.join(", ")
                    ),
                });
            }
        };
        super::run_tool(
            Command::new("depmod").arg("-b").arg(&scratch.0).arg(&kver),
            "depmod",
            "kmod",
        )?;
        let base = moddir.join(&kver);
        let read = |name: &str| {
            std::fs::read_to_string(base.join(name))
                .map_err(|e| BuildError::io("read", &base.join(name), e))
        };
        let dep = read("modules.dep")?;
        let order = closure(&dep, &read("modules.builtin")?, &modules, &pin.name)?;

        let mut tree = Tree::default();
        let vmlinuz = scratch.0.join(format!("boot/vmlinuz-{kver}"));
        let digest = ctx.store.put_copy(&vmlinuz)?;
        let size = std::fs::metadata(&vmlinuz)
            .map_err(|e| BuildError::io("stat", &vmlinuz, e))?
            .len();
        tree.insert(
            "/boot/vmlinuz",
            Entry::File {
                digest,
                size,
                mode: 0o644,
            },
        );
        let prefix = format!("/lib/modules/{kver}");
        for rel in &order {
            let path = base.join(rel);
            let digest = ctx.store.put_copy(&path)?;
            let size = std::fs::metadata(&path)
                .map_err(|e| BuildError::io("stat", &path, e))?
                .len();
            tree.insert(
                &join(&prefix, rel),
                Entry::File {
                    digest,
                    size,
                    mode: 0o644,
                },
            );
        }
        // For init: the `modules.dep` lines of the closure, each after the ones it needs,
        // so init can load every wave of independent modules at once.
        let deps: BTreeMap<&str, &str> = dep.lines().filter_map(|l| l.split_once(':')).collect();
        let list: String = order
            .iter()
            .map(|m| format!("{m}:{}\n", deps.get(m.as_str()).copied().unwrap_or("")))
            .collect();
        tree.insert_bytes(
            ctx.store,
            &join(&prefix, "modules.compose"),
            list.as_bytes(),
            0o644,
        )?;
        Ok(tree)
    })
}

/// The module files needed for `wanted`, dependencies first, from `modules.dep` text.
/// Built-in modules need no file; unknown ones are an error.
pub fn closure(
    dep: &str,
    builtin: &str,
    wanted: &BTreeSet<String>,
    package: &str,
) -> Result<Vec<String>, BuildError> {
    let norm = |s: &str| s.replace('-', "_");
    let name_of = |path: &str| {
        let file = path.rsplit('/').next().unwrap_or(path);
        norm(file.split(".ko").next().unwrap_or(file))
    };
    let mut deps: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    for line in dep.lines() {
        if let Some((path, rest)) = line.split_once(':') {
            deps.insert(
                name_of(path),
                (
                    path.to_string(),
                    rest.split_whitespace().map(str::to_string).collect(),
                ),
            );
        }
    }
    let builtins: BTreeSet<String> = builtin.lines().map(name_of).collect();
    let mut order = Vec::new();
    let mut seen = BTreeSet::new();
    fn visit(
        path: &str,
        deps: &BTreeMap<String, (String, Vec<String>)>,
        name_of: &dyn Fn(&str) -> String,
        seen: &mut BTreeSet<String>,
        order: &mut Vec<String>,
    ) {
        if !seen.insert(path.to_string()) {
            return;
        }
        if let Some((_, needs)) = deps.get(&name_of(path)) {
            for n in needs {
                visit(n, deps, name_of, seen, order);
            }
        }
        order.push(path.to_string());
    }
    for module in wanted {
        match deps.get(&norm(module)) {
            Some((path, _)) => visit(path, &deps, &name_of, &mut seen, &mut order),
            None if builtins.contains(&norm(module)) => {}
            None => {
                return Err(BuildError::UnknownModule {
                    module: module.clone(),
                    package: package.into(),
                });
            }
        }
    }
    Ok(order)
}

fn files(ctx: &Context, c: &Component, entries: &[FilesEntry]) -> Result<Tree, BuildError> {
    let root = ctx
        .project
        .canonicalize()
        .map_err(|e| BuildError::io("resolve", ctx.project, e))?;
    let mut tree = Tree::default();
    for e in entries {
        let from = root.join(&e.from);
        let meta = from
            .symlink_metadata()
            .map_err(|_| BuildError::SourceMissing {
                component: c.name.clone(),
                path: e.from.clone(),
            })?;
        check_inside(c, &root, &from, &e.from)?;
        let part = if meta.is_dir() {
            for entry in walkdir::WalkDir::new(&from).min_depth(1) {
                let entry = entry.map_err(|err| BuildError::io("read", &from, err.into()))?;
                if entry.path_is_symlink() {
                    let shown = format!(
                        "{}/{}",
                        e.from,
                        entry.path().strip_prefix(&from).unwrap().display()
                    );
                    check_inside(c, &root, entry.path(), &shown)?;
                }
            }
            Tree::from_dir(ctx.store, &from, &e.to)?
        } else {
            let digest = ctx.store.put_copy(&from)?;
            let mut t = Tree::default();
            t.insert(
                &e.to,
                Entry::File {
                    digest,
                    size: meta.len(),
                    mode: 0o644,
                },
            );
            t
        };
        let mut part = part;
        // Modes of a checkout depend on the umask of whoever cloned it: normalize them (or
        // take the manifest's), so images do not depend on the host.
        for entry in part.entries.values_mut() {
            match entry {
                Entry::File { mode: m, .. } => {
                    *m = e
                        .mode
                        .unwrap_or(if *m & 0o111 != 0 { 0o755 } else { 0o644 });
                }
                Entry::Dir { mode: m } => *m = 0o755,
                Entry::Symlink { .. } => {}
            }
        }
        tree.merge(&part).map_err(|path| BuildError::FileConflict {
            path: format!("{path} (from `{}`)", e.from),
            first: c.name.clone(),
            second: c.name.clone(),
        })?;
    }
    Ok(tree)
}

/// A path (or the target of a symlink) must stay inside the project folder.
fn check_inside(c: &Component, root: &Path, path: &Path, shown: &str) -> Result<(), BuildError> {
    let real = path.canonicalize().map_err(|_| BuildError::SourceMissing {
        component: c.name.clone(),
        path: shown.into(),
    })?;
    if real.starts_with(root) {
        Ok(())
    } else {
        Err(BuildError::PathEscapes {
            component: c.name.clone(),
            path: shown.into(),
            target: real,
        })
    }
}

/// Where the image component `c`'s `oci` source is: a path must stay inside the project.
fn oci_ref(
    project: &Path,
    c: &Component,
    image: &str,
) -> Result<compose_oci::ImageRef, BuildError> {
    let at = compose_oci::ImageRef::parse(image)
        .map_err(|e| oci_error(c, e))?
        .relative_to(project);
    if let Some(path) = at.path() {
        check_inside(c, project, path, &path.to_string_lossy())?;
    }
    Ok(at)
}

fn oci_error(c: &Component, e: compose_oci::OciError) -> BuildError {
    BuildError::Oci {
        component: c.name.clone(),
        message: e.to_string(),
    }
}

/// The digest the image of component `c`'s `oci` source names now, for `arch` (`amd64`,
/// `arm64`): what the lock pins. From a registry, only its manifest is fetched.
pub fn oci_digest(
    project: &Path,
    c: &Component,
    image: &str,
    arch: &str,
) -> Result<String, BuildError> {
    let at = oci_ref(project, c, image)?;
    compose_oci::Image::digest_of(&at, arch, &compose_oci::Access::from_env())
        .map(|d| d.to_string())
        .map_err(|e| oci_error(c, e))
}

/// An OCI image's layers as a tree (checked against their digests, unpacked with
/// whiteouts and no escapes), with its config at [`super::apps::IMAGE_CONFIG`]: the image
/// the plan pinned (`planned`), or an error when its tag moved since.
fn oci(
    ctx: &Context,
    c: &Component,
    image: &str,
    planned: Option<&str>,
) -> Result<Tree, BuildError> {
    let fail = |message: String| BuildError::Oci {
        component: c.name.clone(),
        message,
    };
    ctx.progress(&format!("unpack OCI image {image}"));
    // Registry blobs are kept in the store, as `compose app run` keeps them: the next build
    // (or an image on the same base layers) fetches only what changed.
    let access = super::gc::registry_access(ctx.store);
    let at = oci_ref(ctx.project, c, image)?;
    let opened = compose_oci::Image::open_with(&at, super::debian_arch(ctx.device.arch), &access)
        .map_err(|e| oci_error(c, e))?;
    if let Some(planned) = planned.filter(|p| *p != opened.digest.to_string()) {
        return Err(fail(format!(
            "{image} named {planned} when the build planned and {} now: its tag moved; build again",
            opened.digest
        )));
    }
    // Unpacked in the store's temporary folder, removed whatever happens.
    struct Scratch(PathBuf);
    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let dir = Scratch(ctx.store.temp_path("oci"));
    std::fs::create_dir_all(&dir.0).map_err(|e| BuildError::io("create", &dir.0, e))?;
    compose_oci::unpack(&opened, &dir.0).map_err(|e| fail(e.to_string()))?;
    // As root the unpack gave files their layers' owners, which the tree keeps.
    let mut tree = Tree::from_dir_with_ids(ctx.store, &dir.0, "")?;
    let config = serde_json::to_vec_pretty(&opened.config).map_err(|e| fail(e.to_string()))?;
    tree.insert_bytes(ctx.store, super::apps::IMAGE_CONFIG, &config, 0o644)?;
    Ok(tree)
}

fn cargo(ctx: &Context, c: &Component, source: &CargoSource) -> Result<Tree, BuildError> {
    let CargoSource {
        package,
        bin,
        to,
        libc,
        features,
        default_features,
    } = source;
    let (libc, bin, to) = (*libc, bin.as_deref(), to.as_deref());
    let target = libc.target();
    ctx.progress(&format!("cargo build {package} for {target}"));
    let mut cmd = Command::new("cargo");
    cmd.current_dir(ctx.project).args([
        "build",
        "--release",
        "--locked",
        "--target",
        target,
        "-p",
        package,
    ]);
    if let Some(bin) = bin {
        cmd.args(["--bin", bin]);
    }
    if !*default_features {
        cmd.arg("--no-default-features");
    }
    if !features.is_empty() {
        cmd.args(["--features", &features.join(",")]);
    }
    // The registry's path on this machine stays out of the binary, so two machines build
    // the same bytes (cargo already names workspace sources by relative paths).
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let mut flags = std::env::var("RUSTFLAGS").unwrap_or_default();
    if let Some(home) = cargo_home {
        flags.push_str(&format!(" --remap-path-prefix={}=/cargo", home.display()));
    }
    cmd.env("RUSTFLAGS", flags.trim());
    // Images carry programs without their symbol tables (a quarter of compose-shell);
    // backtraces on a device name addresses, as a distribution's stripped binaries do.
    cmd.env("CARGO_PROFILE_RELEASE_STRIP", "symbols");
    let output = cmd.output().map_err(crate::tool::ToolError::missing(
        "cargo",
        "a Rust toolchain (rustup)",
    ))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
        return Err(BuildError::CargoFailed {
            component: c.name.clone(),
            package: package.into(),
            log: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
        });
    }
    let name = bin.unwrap_or(package);
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| ctx.project.join("target"));
    let exe = target_dir
        .join(target)
        .join("release")
        .join(libc.file_name(name));
    let digest = ctx.store.put_copy(&exe)?;
    let size = std::fs::metadata(&exe)
        .map_err(|e| BuildError::io("stat", &exe, e))?
        .len();
    let mut tree = Tree::default();
    tree.insert(
        to.unwrap_or(&libc.default_path(name)),
        Entry::File {
            digest,
            size,
            // A wasm component is data for the wasm runtime, not a program.
            mode: if libc == crate::manifest::Libc::Wasi {
                0o644
            } else {
                0o755
            },
        },
    );
    Ok(tree)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP: &str = "kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko
kernel/lib/crc16.ko:
kernel/fs/mbcache.ko:
kernel/fs/jbd2/jbd2.ko:
kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_ring.ko:
";

    #[test]
    fn module_closure_puts_dependencies_first() {
        let wanted = ["ext4", "virtio-blk", "unix"]
            .into_iter()
            .map(String::from)
            .collect();
        let order = closure(DEP, "kernel/net/unix/unix.ko\n", &wanted, "linux").unwrap();
        assert_eq!(
            order,
            [
                "kernel/lib/crc16.ko",
                "kernel/fs/mbcache.ko",
                "kernel/fs/jbd2/jbd2.ko",
                "kernel/fs/ext4/ext4.ko",
                "kernel/drivers/virtio/virtio.ko",
                "kernel/drivers/virtio/virtio_ring.ko",
                "kernel/drivers/block/virtio_blk.ko",
            ]
        );
    }

    #[test]
    fn unknown_module_is_an_error() {
        let wanted = ["nope"].into_iter().map(String::from).collect();
        let err = closure(DEP, "", &wanted, "linux-image-6.1").unwrap_err();
        assert_eq!(
            err.to_string(),
            "kernel module `nope` is neither in linux-image-6.1 nor built into it"
        );
    }
}
