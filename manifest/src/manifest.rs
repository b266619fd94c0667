//! Component manifests (`manifests/*.toml`): the schema, and checks that need only one file.

use std::collections::BTreeMap;
use std::ops::Range;

use semver::Version;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::diagnostic::{Code, Diagnostic, Diagnostics, SourceFile};
use crate::requirement::Requirement;
use crate::toml_file;

/// A value from a file, with the byte range it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared<T> {
    pub value: T,
    pub span: Range<usize>,
}

/// One version of one component, as declared by its manifest.
#[derive(Debug, Clone)]
pub struct Component {
    pub name: String,
    pub version: Version,
    pub summary: String,
    /// Virtual capabilities this component provides (`shell`, `init`, ...).
    pub provides: Vec<String>,
    pub requires: Vec<Declared<Requirement>>,
    /// Weak requirements: taken when they can be, dropped with a notice when not.
    pub recommends: Vec<Declared<Requirement>>,
    /// Components (or virtuals) that may not be in the same image.
    pub conflicts: Vec<Declared<Requirement>>,
    /// Device capabilities this component needs (`display`, `gamepad`, ...).
    pub device_needs: Vec<String>,
    /// Optional features, each adding requirements when enabled (`name[feature]`).
    pub features: BTreeMap<String, Vec<Declared<Requirement>>>,
    pub source: Option<Source>,
    pub files: Vec<FileEntry>,
    pub services: Vec<Service>,
    pub kernel_modules: Vec<String>,
    /// How image trimming treats this component's files (`[trim]`).
    pub trim: Trim,
    /// `[app]`: the component is an app, run in a sandbox with only what this grants.
    pub app: Option<crate::app::App>,
    /// The manifest this came from, for diagnostics.
    pub file: SourceFile,
    /// Span of the `name` value.
    pub name_span: Range<usize>,
}

/// A `cargo` source: a package (and optionally one binary) of this workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CargoSource {
    pub package: String,
    pub bin: Option<String>,
    /// Where it is installed (default [`Libc::default_path`]).
    pub to: Option<String>,
    pub libc: Libc,
    /// Cargo features to build with (`--features`).
    pub features: Vec<String>,
    /// Whether the package's default features are on (`--no-default-features` if not).
    pub default_features: bool,
}

/// How a component's payload is made (built by the image builder, not here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// A package (and optionally one binary) of this workspace, built for musl (static) or
    /// glibc (dynamic, for programs that load drivers such as Vulkan's), installed at `to`
    /// (default `/usr/bin/NAME`).
    Cargo(CargoSource),
    /// Files and folders from the project folder.
    Files(Vec<FilesEntry>),
    /// Debian packages, `name` or `name=version` as apt writes them.
    Deb(Vec<DebPackage>),
    /// A Debian kernel package; the device picks the modules.
    Kernel { package: String },
    /// An OCI image (`oci:FOLDER[:TAG]`, `oci-archive:FILE[:TAG]`,
    /// `docker-archive:FILE[:NAME:TAG]`, paths inside the project): its layers are the
    /// payload, its config a container app's defaults.
    Oci { image: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FilesEntry {
    /// Relative to the project folder; never leaves it.
    pub from: String,
    /// Absolute path in the image.
    pub to: String,
    pub mode: Option<u32>,
    pub owner: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DebPackage {
    pub name: String,
    pub version: Option<String>,
}

/// A file written into the image with inline content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileEntry {
    pub path: String,
    pub content: String,
    /// A symbolic link to this target instead of content (`link = "busybox"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    pub mode: u32,
    pub owner: String,
}

/// A service that init starts, in the resolver's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Service {
    pub name: String,
    pub exec: Vec<String>,
    /// Services that start before this one, if present.
    pub after: Vec<String>,
    /// Services that must be running before this one starts.
    pub requires: Vec<String>,
    pub restart: Restart,
    /// `simple` (up while running) or `oneshot` (up once it exited successfully).
    #[serde(rename = "type")]
    pub kind: ServiceKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceKind {
    #[default]
    Simple,
    Oneshot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Restart {
    #[default]
    No,
    OnFailure,
    Always,
}

// ---- the TOML schema -------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawManifest {
    component: RawComponent,
    #[serde(default)]
    features: BTreeMap<Spanned<String>, Vec<Spanned<String>>>,
    source: Option<Spanned<RawSource>>,
    #[serde(default)]
    files: Vec<RawFile>,
    #[serde(default)]
    service: Vec<RawService>,
    kernel: Option<RawKernel>,
    trim: Option<RawTrim>,
    app: Option<crate::app::RawApp>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawComponent {
    name: Spanned<String>,
    version: Spanned<String>,
    summary: String,
    #[serde(default)]
    provides: Vec<Spanned<String>>,
    #[serde(default)]
    requires: Vec<Spanned<String>>,
    #[serde(default)]
    recommends: Vec<Spanned<String>>,
    #[serde(default)]
    conflicts: Vec<Spanned<String>>,
    #[serde(default)]
    device_needs: Vec<Spanned<String>>,
    /// Versions with different slots install to versioned paths, so a device may take
    /// several at once: the component is `NAME@SLOT`, and provides `NAME`.
    slot: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawSource {
    cargo: Option<RawCargo>,
    files: Option<Vec<RawFiles>>,
    deb: Option<Vec<Spanned<String>>>,
    kernel: Option<RawKernelSource>,
    oci: Option<RawOci>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOci {
    image: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "kebab-case")]
struct RawCargo {
    package: String,
    bin: Option<String>,
    to: Option<Spanned<String>>,
    #[serde(default)]
    libc: Libc,
    #[serde(default)]
    features: Vec<String>,
    #[serde(default = "yes")]
    default_features: bool,
}

fn yes() -> bool {
    true
}

/// The C library a `cargo` source links with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Libc {
    /// Static musl: runs anywhere, cannot load shared objects (`dlopen`).
    #[default]
    Musl,
    /// Dynamic glibc: needs the image's libc6 (a Debian package) and can load drivers.
    Glibc,
    /// wasi-libc: a WASI command component (`NAME.wasm`) for the sandbox's wasm runtime.
    Wasi,
}

impl Libc {
    /// The Rust target triple for x86_64.
    pub fn target(self) -> &'static str {
        match self {
            Libc::Musl => "x86_64-unknown-linux-musl",
            Libc::Glibc => "x86_64-unknown-linux-gnu",
            Libc::Wasi => "wasm32-wasip2",
        }
    }

    /// The file cargo writes for binary `name`.
    pub fn file_name(self, name: &str) -> String {
        match self {
            Libc::Wasi => format!("{name}.wasm"),
            _ => name.to_string(),
        }
    }

    /// Where the binary goes in the image when the manifest does not say.
    pub fn default_path(self, name: &str) -> String {
        match self {
            Libc::Wasi => format!("/usr/lib/compose/apps/{name}.wasm"),
            _ => format!("/usr/bin/{name}"),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFiles {
    from: Spanned<String>,
    to: Spanned<String>,
    mode: Option<Spanned<String>>,
    owner: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKernelSource {
    package: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    path: Spanned<String>,
    #[serde(default)]
    content: Option<String>,
    link: Option<Spanned<String>>,
    mode: Option<Spanned<String>>,
    owner: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    name: Spanned<String>,
    exec: Spanned<Vec<String>>,
    #[serde(default)]
    after: Vec<Spanned<String>>,
    #[serde(default)]
    requires: Vec<Spanned<String>>,
    #[serde(default)]
    restart: Restart,
    #[serde(default, rename = "type")]
    kind: ServiceKind,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTrim {
    #[serde(default)]
    keep: Vec<Spanned<String>>,
    #[serde(default)]
    drop: Vec<Spanned<String>>,
    #[serde(default)]
    plugins: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKernel {
    #[serde(default)]
    modules: Vec<Spanned<String>>,
}

/// `[trim]`: path globs (`*` stays within a folder, `**` crosses folders) that refine
/// the image's default trimming for this component's files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trim {
    /// Kept even where the defaults drop them (documentation, locales, unused libraries).
    pub keep: Vec<String>,
    /// Dropped as well.
    pub drop: Vec<String>,
    /// Libraries loaded at run time (dlopen), e.g. a Vulkan ICD: kept, with every library
    /// they need.
    pub plugins: Vec<String>,
}

/// Parses and checks one manifest. Reports every problem of the file, not only the first.
pub fn parse_component(file: &SourceFile) -> Result<Component, Diagnostics> {
    let raw: RawManifest = toml_file::parse(file).map_err(|d| Diagnostics(vec![d]))?;
    let mut errors = Diagnostics::default();
    let c = &raw.component;

    let mut name = errors.keep(toml_file::name(file, &c.name, "component"));
    let version = errors.keep(toml_file::version(file, &c.version));
    let mut provides = toml_file::names(file, &c.provides, "virtual", &mut errors);
    if c.name.get_ref().contains('@') {
        errors.push(
            Diagnostic::error(
                Code::InvalidName,
                file,
                format!("component name `{}` contains `@`", c.name.get_ref()),
            )
            .at(c.name.span(), "component name")
            .with_help(
                "name the component without a slot and set `slot = \"...\"`; it becomes NAME@SLOT",
            ),
        );
        name = None;
    }
    // A slotted component is NAME@SLOT; plain requirements of NAME take the newest slot.
    if let Some(slot) = &c.slot {
        let slot = errors.keep(toml_file::name(file, slot, "slot"));
        if let (Some(base), Some(slot)) = (name.as_mut(), slot) {
            provides.push(base.clone());
            *base = format!("{base}@{slot}");
        }
    }
    let device_needs = toml_file::names(file, &c.device_needs, "capability", &mut errors);
    let requires = toml_file::requirements(file, &c.requires, &mut errors);
    let recommends = toml_file::requirements(file, &c.recommends, &mut errors);
    let conflicts = toml_file::requirements(file, &c.conflicts, &mut errors);
    let mut features = BTreeMap::new();
    for (feature, reqs) in &raw.features {
        let reqs = toml_file::requirements(file, reqs, &mut errors);
        if let Some(f) = errors.keep(toml_file::name(file, feature, "feature")) {
            features.insert(f, reqs);
        }
    }
    for c in &conflicts {
        if c.value.alternatives.len() > 1 {
            errors.push(
                Diagnostic::error(
                    Code::InvalidRequirement,
                    file,
                    "a conflict names one component or virtual",
                )
                .at(c.span.clone(), "has alternatives")
                .with_help("write one `conflicts` entry per component"),
            );
        }
    }
    let source = raw
        .source
        .as_ref()
        .and_then(|s| errors.keep(lower_source(file, s)));
    let files = raw
        .files
        .iter()
        .filter_map(|f| errors.keep(lower_file(file, f)))
        .collect();
    let mut services: Vec<Service> = Vec::new();
    for s in &raw.service {
        let Some(service) = errors.keep(lower_service(file, s)) else {
            continue;
        };
        if services.iter().any(|o| o.name == service.name) {
            errors.push(
                Diagnostic::error(
                    Code::Duplicate,
                    file,
                    format!("service `{}` is declared twice", service.name),
                )
                .at(s.name.span(), "second declaration")
                .with_help("give each [[service]] of a component its own name"),
            );
        } else {
            services.push(service);
        }
    }
    let kernel_modules = raw
        .kernel
        .iter()
        .flat_map(|k| &k.modules)
        .filter_map(|m| errors.keep(module_name(file, m)))
        .collect();

    let mut trim = Trim::default();
    if let Some(t) = &raw.trim {
        for (list, out) in [
            (&t.keep, &mut trim.keep),
            (&t.drop, &mut trim.drop),
            (&t.plugins, &mut trim.plugins),
        ] {
            out.extend(list.iter().filter_map(|g| errors.keep(path_glob(file, g))));
        }
    }

    let from_image = raw
        .source
        .as_ref()
        .is_some_and(|s| s.get_ref().oci.is_some());
    let app = raw.app.as_ref().and_then(|a| {
        crate::app::lower(file, a, from_image, raw.component.name.span(), &mut errors)
    });
    if from_image
        && !app
            .as_ref()
            .is_some_and(|a| a.runtime == crate::app::Runtime::Container)
    {
        if let Some(s) = &raw.source {
            errors.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    file,
                    "an `oci` source is a container app's root file system",
                )
                .at(s.span(), "an OCI image")
                .with_help("add [app] with runtime = \"container\" (and the grants it needs)"),
            );
        }
    }

    match (name, version) {
        (Some(name), Some(version)) if !errors.has_errors() => Ok(Component {
            name,
            version,
            summary: raw.component.summary.clone(),
            provides,
            requires,
            recommends,
            conflicts,
            device_needs,
            features,
            source,
            files,
            services,
            kernel_modules,
            trim,
            app,
            file: file.clone(),
            name_span: raw.component.name.span(),
        }),
        _ => Err(errors),
    }
}

fn lower_source(file: &SourceFile, spanned: &Spanned<RawSource>) -> Result<Source, Diagnostic> {
    let raw = spanned.get_ref();
    let given = [
        raw.cargo.is_some(),
        raw.files.is_some(),
        raw.deb.is_some(),
        raw.kernel.is_some(),
        raw.oci.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(Diagnostic::error(
            Code::Schema,
            file,
            "[source] must name exactly one of cargo, files, deb, kernel, oci",
        )
        .at(spanned.span(), "this table")
        .with_help("split a component with several kinds of payload into several components"));
    }
    if let Some(c) = &raw.cargo {
        return Ok(Source::Cargo(CargoSource {
            package: c.package.clone(),
            bin: c.bin.clone(),
            to: c.to.as_ref().map(|t| image_path(file, t)).transpose()?,
            libc: c.libc,
            features: c.features.clone(),
            default_features: c.default_features,
        }));
    }
    if let Some(o) = &raw.oci {
        let text = o.image.get_ref();
        let bad = |message: String, help: &str| {
            Diagnostic::error(Code::InvalidValue, file, message)
                .at(o.image.span(), "not an image in the project")
                .with_help(help)
        };
        let image = compose_oci::ImageRef::parse(text).map_err(|e| {
            bad(
                e.to_string().lines().next().unwrap_or("").to_string(),
                "write oci:FOLDER[:TAG], oci-archive:FILE[:TAG] or docker-archive:FILE[:NAME:TAG] with a path inside the project, or docker://REGISTRY/NAME[:TAG|@DIGEST]",
            )
        })?;
        let path = image
            .path()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        if path.starts_with('/') || path.split('/').any(|c| c == "..") {
            return Err(bad(
                format!("image path `{path}` leaves the project folder"),
                "keep the image in the project (skopeo copy IMAGE oci:images/NAME:TAG) and name it by a relative path",
            ));
        }
        return Ok(Source::Oci {
            image: text.clone(),
        });
    }
    if let Some(k) = &raw.kernel {
        return Ok(Source::Kernel {
            package: k.package.clone(),
        });
    }
    if let Some(debs) = &raw.deb {
        return debs
            .iter()
            .map(|d| {
                let (name, version) = match d.get_ref().split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (d.get_ref().as_str(), None),
                };
                if crate::requirement::is_valid_name(name) && version.as_deref() != Some("") {
                    Ok(DebPackage { name: name.to_string(), version })
                } else {
                    Err(Diagnostic::error(Code::InvalidValue, file, format!("invalid Debian package `{}`", d.get_ref()))
                        .at(d.span(), "not a package name")
                        .with_help("write `name` or `name=version`, as apt does (e.g. `busybox-static=1:1.35.0-4`)"))
                }
            })
            .collect::<Result<_, _>>()
            .map(Source::Deb);
    }
    let entries = raw.files.as_deref().unwrap_or_default();
    entries
        .iter()
        .map(|e| {
            let from = e.from.get_ref();
            if from.starts_with('/') || from.split('/').any(|c| c == "..") || from.is_empty() {
                return Err(Diagnostic::error(
                    Code::InvalidValue,
                    file,
                    format!("source path `{from}` leaves the project folder"),
                )
                .at(e.from.span(), "must stay inside the project")
                .with_help("use a path relative to the project folder, without `..`"));
            }
            Ok(FilesEntry {
                from: from.clone(),
                to: image_path(file, &e.to)?,
                mode: e.mode.as_ref().map(|m| mode(file, m)).transpose()?,
                owner: e.owner.clone(),
            })
        })
        .collect::<Result<_, _>>()
        .map(Source::Files)
}

fn lower_file(file: &SourceFile, raw: &RawFile) -> Result<FileEntry, Diagnostic> {
    let link = match (&raw.content, &raw.link) {
        (Some(_), None) => None,
        (None, Some(link)) if !link.get_ref().is_empty() && !link.get_ref().contains('\0') => {
            Some(link.get_ref().clone())
        }
        (None, Some(link)) => {
            return Err(Diagnostic::error(
                Code::InvalidValue,
                file,
                "a link needs a target".to_string(),
            )
            .at(link.span(), "empty")
            .with_help("write e.g. link = \"busybox\" (relative to the link's folder)"));
        }
        _ => {
            return Err(Diagnostic::error(
                Code::InvalidValue,
                file,
                format!(
                    "[[files]] entry `{}` needs exactly one of `content` and `link`",
                    raw.path.get_ref()
                ),
            )
            .at(raw.path.span(), "this file")
            .with_help(
                "write content = \"...\" for a file, or link = \"TARGET\" for a symbolic link",
            ));
        }
    };
    Ok(FileEntry {
        path: image_path(file, &raw.path)?,
        content: raw.content.clone().unwrap_or_default(),
        link,
        mode: raw
            .mode
            .as_ref()
            .map(|m| mode(file, m))
            .transpose()?
            .unwrap_or(0o644),
        owner: raw.owner.clone().unwrap_or_else(|| "root:root".into()),
    })
}

fn lower_service(file: &SourceFile, raw: &RawService) -> Result<Service, Diagnostic> {
    let name = toml_file::name(file, &raw.name, "service")?;
    match raw.exec.get_ref().first() {
        Some(program) if program.starts_with('/') => {}
        _ => {
            return Err(Diagnostic::error(
                Code::InvalidValue,
                file,
                format!("service `{name}` needs an absolute program path in `exec`"),
            )
            .at(raw.exec.span(), "first element must be an absolute path")
            .with_help("write e.g. exec = [\"/usr/bin/program\", \"--flag\"]"));
        }
    }
    let names = |list: &[Spanned<String>]| -> Result<Vec<String>, Diagnostic> {
        list.iter()
            .map(|n| toml_file::name(file, n, "service"))
            .collect()
    };
    Ok(Service {
        name,
        exec: raw.exec.get_ref().clone(),
        after: names(&raw.after)?,
        requires: names(&raw.requires)?,
        restart: raw.restart,
        kind: raw.kind,
    })
}

fn image_path(file: &SourceFile, raw: &Spanned<String>) -> Result<String, Diagnostic> {
    let p = raw.get_ref();
    if p.starts_with('/') && !p.split('/').any(|c| c == ".." || c == ".") {
        Ok(p.clone())
    } else {
        Err(Diagnostic::error(
            Code::InvalidValue,
            file,
            format!("image path `{p}` is not absolute and normal"),
        )
        .at(raw.span(), "invalid image path")
        .with_help("paths in the image are absolute, without `.` or `..`, e.g. `/etc/hostname`"))
    }
}

fn mode(file: &SourceFile, raw: &Spanned<String>) -> Result<u32, Diagnostic> {
    u32::from_str_radix(raw.get_ref(), 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| {
            Diagnostic::error(
                Code::InvalidValue,
                file,
                format!("invalid file mode `{}`", raw.get_ref()),
            )
            .at(raw.span(), "not an octal mode")
            .with_help("write the mode as an octal string, e.g. \"0644\" or \"0755\"")
        })
}

/// Kernel module names as `modprobe` takes them (`virtio_blk`).
pub fn module_name(file: &SourceFile, raw: &Spanned<String>) -> Result<String, Diagnostic> {
    let m = raw.get_ref();
    if !m.is_empty()
        && m.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        Ok(m.replace('-', "_"))
    } else {
        Err(Diagnostic::error(
            Code::InvalidName,
            file,
            format!("invalid kernel module name `{m}`"),
        )
        .at(raw.span(), "not a module name")
        .with_help("write the module name as modprobe takes it, e.g. `virtio_blk`"))
    }
}

fn path_glob(file: &SourceFile, raw: &Spanned<String>) -> Result<String, Diagnostic> {
    let g = raw.get_ref();
    let problem = if !g.starts_with('/') {
        Some("an image path starts with `/`".to_string())
    } else {
        globset::Glob::new(g).err().map(|e| e.kind().to_string())
    };
    match problem {
        None => Ok(g.clone()),
        Some(p) => Err(Diagnostic::error(
            Code::InvalidValue,
            file,
            format!("invalid path glob `{g}`: {p}"),
        )
        .at(raw.span(), "not a path glob")
        .with_help(
            "write an absolute image path; `*` matches within a folder, `**` across folders",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(text: &str) -> Result<Option<Source>, Diagnostics> {
        let manifest = format!(
            "[component]\nname = \"x\"\nversion = \"0.1.0\"\nsummary = \"x\"\n\n[source]\n{text}\n"
        );
        parse_component(&SourceFile::new("x.toml", manifest)).map(|c| c.source)
    }

    #[test]
    fn a_cargo_source_takes_features_and_can_turn_the_defaults_off() {
        let Some(Source::Cargo(plain)) = source(r#"cargo = { package = "p" }"#).unwrap() else {
            panic!("a cargo source");
        };
        assert!(plain.default_features && plain.features.is_empty());
        let Some(Source::Cargo(chosen)) =
            source(r#"cargo = { package = "p", features = ["a", "b"], default-features = false }"#)
                .unwrap()
        else {
            panic!("a cargo source");
        };
        assert_eq!(chosen.features, ["a", "b"]);
        assert!(!chosen.default_features);
        let err = source(r#"cargo = { package = "p", default_features = false }"#).unwrap_err();
        let err = format!("{err:?}");
        assert!(err.contains("default_features"), "{err}");
    }
}
