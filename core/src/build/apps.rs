//! Apps in an image. Each app component's manifest goes in as written, as its description
//! (`/usr/share/compose/apps/NAME.toml`, what the device's `compose-app` reads); apps
//! granted a window get a task bar launcher (`/usr/share/compose/launchers/*.desktop`, read
//! by `compose-shell`); and a container app's packages become a root file system of their
//! own, trimmed as a root by itself, at `/usr/lib/compose/apps/NAME/rootfs` instead of
//! mixing into the device's root, owned as its container sees it.

use std::collections::BTreeMap;

use super::tree::{Entry, Ids, Tree};
use super::trim::{self, Sizes, Unmet};
use super::{BuildError, WasmCompiler};
use crate::app::Runtime;
use crate::manifest::Component;
use crate::store::Store;

pub use compose_manifest::layout::{
    CONTAINER_ID_OFFSET, CONTAINER_MOUNT_POINTS, CONTAINER_WAYLAND, DESCRIPTIONS, IMAGE_CONFIG,
    LAUNCHERS, RUNNER, image_config, precompiled_path, rootfs,
};

/// Whether `c` is an app that runs in a container (its payload is its own root).
pub fn is_container(c: &Component) -> bool {
    c.app
        .as_ref()
        .is_some_and(|a| a.runtime == Runtime::Container)
}

/// The name a launcher shows: the component's name without `app-`.
pub fn short_name(name: &str) -> &str {
    name.strip_prefix("app-").unwrap_or(name)
}

/// Adds the description of every app of `chosen` to `root`, and a launcher for each one
/// granted a window.
pub fn describe(store: &Store, chosen: &[&Component], root: &mut Tree) -> Result<(), BuildError> {
    for c in chosen {
        let Some(app) = &c.app else { continue };
        root.insert_bytes(
            store,
            &format!("{DESCRIPTIONS}/{}.toml", c.name),
            c.file.text.as_bytes(),
            0o644,
        )?;
        if app.gui {
            let entry = format!(
                "[Desktop Entry]\nType=Application\nName={short}\nComment={summary}\nExec={RUNNER} run {name}\n",
                short = short_name(&c.name),
                summary = c.summary.replace('\n', " "),
                name = c.name,
            );
            root.insert_bytes(
                store,
                &format!("{LAUNCHERS}/{}.desktop", short_name(&c.name)),
                entry.as_bytes(),
                0o644,
            )?;
        }
    }
    Ok(())
}

/// The wasm apps of `chosen`: component and the `.wasm` its `run` starts.
fn wasm_apps<'c>(chosen: &[&'c Component]) -> impl Iterator<Item = (&'c Component, &'c str)> {
    chosen.iter().filter_map(|c| {
        let app = c.app.as_ref()?;
        (app.runtime == Runtime::Wasm).then(|| (*c, app.run[0].as_str()))
    })
}

/// What compiles the wasm apps of `chosen` for `arch` (`None`: nothing to compile): part
/// of the image key.
pub fn compiler_key(
    chosen: &[&Component],
    compiler: Option<&WasmCompiler>,
    arch: &str,
) -> Result<Option<String>, BuildError> {
    let (Some(compiler), Some((c, path))) = (compiler, wasm_apps(chosen).next()) else {
        return Ok(None);
    };
    (compiler.id)(arch)
        .map(Some)
        .map_err(|message| BuildError::Wasm {
            component: c.name.clone(),
            path: path.to_string(),
            message,
        })
}

/// Puts the code of every wasm app of `chosen`, compiled for the device, beside its
/// `.wasm` in `root` (`NAME.cwasm`, what a compose-app without a compiler loads). Kept in
/// the store by the `.wasm`'s digest and the compiler's id.
pub fn precompile(
    ctx: &super::Context,
    chosen: &[&Component],
    root: &mut Tree,
    compiler: &WasmCompiler,
) -> Result<(), BuildError> {
    let arch = super::debian_arch(ctx.device.arch);
    let Some(id) = compiler_key(chosen, Some(compiler), arch)? else {
        return Ok(());
    };
    for (c, path) in wasm_apps(chosen) {
        let fail = |message: String| BuildError::Wasm {
            component: c.name.clone(),
            path: path.to_string(),
            message,
        };
        let Some(Entry::File { digest, .. }) = root.entries.get(path) else {
            return Err(fail(format!(
                "the image has no file {path} (its [app] run names it)"
            )));
        };
        let key = crate::store::sha256(format!("wasm-precompiled\n{id}\n{digest}").as_bytes());
        let code = match ctx.store.step(&key) {
            Some(code) => code,
            None => {
                ctx.progress(&format!("{}: compile {path} for {arch}", c.name));
                let wasm = ctx.store.read(digest)?;
                let code = (compiler.compile)(&wasm, arch).map_err(fail)?;
                let code = ctx.store.put_bytes(&code)?;
                ctx.store.record_step(&key, &code)?;
                code
            }
        };
        let blob = ctx.store.blob_path(&code);
        let size = std::fs::metadata(&blob)
            .map_err(|e| BuildError::io("stat", &blob, e))?
            .len();
        root.insert(
            &precompiled_path(path),
            Entry::File {
                digest: code,
                size,
                mode: 0o644,
            },
        );
    }
    Ok(())
}

/// What goes into the image key for apps: their manifests (grants change the image).
pub fn key_text(chosen: &[&Component]) -> String {
    chosen
        .iter()
        .filter(|c| c.app.is_some())
        .map(|c| format!("{}\n{}", c.name, c.file.text))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A container app as the image holds it.
#[derive(Debug)]
pub struct ContainerRoot {
    /// Its files, under [`rootfs`].
    pub tree: Tree,
    pub sizes: Sizes,
    /// Libraries its programs need that its packages do not have.
    pub unmet: Vec<Unmet>,
}

/// Container app `c`'s root file system from its payload: trimmed as a root of its own
/// (documentation, locales and libraries its own programs do not need go), with the
/// folders the runtime mounts over and the granted guest folders made (the image is
/// read-only, so they cannot be made when the app starts), under [`rootfs`].
pub fn container_root(
    store: &Store,
    c: &Component,
    payload: &Tree,
) -> Result<ContainerRoot, BuildError> {
    let owners: BTreeMap<String, String> = payload
        .entries
        .keys()
        .map(|p| (p.clone(), c.name.clone()))
        .collect();
    let rules = BTreeMap::from([(c.name.clone(), c.trim.clone())]);
    let trimmed = trim::trim(store, payload, &owners, &rules)?;
    let mut tree = trimmed.tree;
    let guests = c
        .app
        .iter()
        .flat_map(|a| a.files.iter().map(|f| f.value.guest.clone()));
    for dir in CONTAINER_MOUNT_POINTS
        .map(String::from)
        .into_iter()
        .chain(guests)
    {
        if !tree.entries.contains_key(&dir) {
            tree.insert(&dir, Entry::Dir { mode: 0o755 });
        }
    }
    if c.app.as_ref().is_some_and(|a| a.gui) {
        tree.insert_bytes(store, CONTAINER_WAYLAND, b"", 0o644)?;
    }
    let prefix = rootfs(&c.name);
    let mut placed = Tree::default();
    placed.insert(&prefix, Entry::Dir { mode: 0o755 });
    // Owned as the container sees it (its root is CONTAINER_ID_OFFSET on the host), where
    // this build may set owners; the payload's owners are the image's.
    let shift = super::tree::may_set_ids().then_some(CONTAINER_ID_OFFSET);
    let shifted = |ids: Option<&Ids>| {
        let Ids { uid, gid } = ids.copied().unwrap_or(Ids { uid: 0, gid: 0 });
        shift.map(|by| Ids {
            uid: uid.saturating_add(by),
            gid: gid.saturating_add(by),
        })
    };
    if let Some(ids) = shifted(None) {
        placed.ids.insert(prefix.clone(), ids);
    }
    for (path, entry) in tree.entries {
        if path == IMAGE_CONFIG {
            placed.entries.insert(image_config(&c.name), entry);
            continue;
        }
        let at = super::tree::join(&prefix, &path);
        if let Some(ids) = shifted(payload.ids.get(&path)) {
            placed.ids.insert(at.clone(), ids);
        }
        placed.entries.insert(at, entry);
    }
    let unmet = trimmed
        .unmet
        .into_iter()
        .map(|u| Unmet {
            file: super::tree::join(&prefix, &u.file),
            needs: u.needs,
        })
        .collect();
    Ok(ContainerRoot {
        tree: placed,
        sizes: trimmed.sizes.get(&c.name).cloned().unwrap_or_default(),
        unmet,
    })
}
