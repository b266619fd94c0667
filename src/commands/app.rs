//! `compose app`: apps in a sandbox with only what they are granted: a WASI component
//! file or an OCI image (`oci:FOLDER:TAG`, `oci-archive:FILE`, `docker-archive:FILE`) with
//! `--allow` grants, or an app component of the project (`[app]` in its manifest) with the
//! grants its manifest gives.

use std::path::PathBuf;

use anyhow::{Context, anyhow, bail};
use clap::Subcommand;
use compose_core::app::{App, Runtime};
use compose_core::manifest::{CargoSource, Component, Libc, Source};
use compose_core::project::Project;
use compose_sandbox::Grants;

use crate::{CliError, Globals, Outcome};

#[derive(Debug, Clone, Subcommand)]
enum AppCommand {
    /// Run an app in the foreground: FILE.wasm or an OCI image (oci:FOLDER[:TAG],
    /// oci-archive:FILE[:TAG], docker-archive:FILE[:NAME:TAG]; it runs its Entrypoint and
    /// Cmd, or Entrypoint and the arguments after --) with the grants given here, or the app
    /// component NAME of the project with its manifest's grants (on this machine its
    /// folders are taken inside the project folder, as if it were the device's root).
    Run {
        /// FILE.wasm, an OCI image, or the name of an app component.
        app: String,
        /// A grant: read=HOST[:GUEST], write=HOST[:GUEST], connect=IP:PORT (or IP:*),
        /// lookup, env=NAME=VALUE, gui (a window in the running shell); repeatable,
        /// nothing is granted by default.
        #[arg(long, value_name = "GRANT")]
        allow: Vec<String>,
        /// Memory the app may use (64M, 1G); 256M by default.
        #[arg(long, value_name = "SIZE")]
        memory: Option<String>,
        /// How long the app may run (500ms, 2s, 1m); 60s by default.
        #[arg(long, value_name = "DURATION")]
        cpu_time: Option<String>,
        /// Capture the app's output and print a report as JSON.
        #[arg(long)]
        json: bool,
        /// Arguments for the app (after `--`).
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// The app components of the project and what each is granted.
    List {
        #[arg(long)]
        json: bool,
    },
    /// The apps running now (started by `compose app run`), with the ids `stop` takes.
    Ps {
        #[arg(long)]
        json: bool,
    },
    /// Stop a running app.
    Stop {
        /// Its id, as `compose app ps` shows it.
        id: u32,
    },
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: AppCommand,
}

pub fn exec(args: Args, globals: &Globals) -> Result<Outcome, CliError> {
    let project = if needs_project(&args.command) {
        Some(globals.project()?)
    } else {
        None
    };
    Ok(
        match run(project.as_ref(), &args.command).map_err(CliError::Other)? {
            0 => Outcome::Ok,
            _ => Outcome::No,
        },
    )
}

/// Whether the command needs the project (a component name, or the list).
fn needs_project(command: &AppCommand) -> bool {
    match command {
        AppCommand::Run { app, .. } => {
            !app.ends_with(".wasm") && !compose_oci::ImageRef::looks_like(app)
        }
        AppCommand::List { .. } => true,
        AppCommand::Ps { .. } | AppCommand::Stop { .. } => false,
    }
}

/// Runs `command`; returns the exit code for the CLI (0: the app succeeded, 1: it failed
/// or was stopped).
fn run(project: Option<&Project>, command: &AppCommand) -> anyhow::Result<i32> {
    match command.clone() {
        AppCommand::List { json } => {
            let project = project.ok_or_else(|| anyhow!("no project"))?;
            list(project, json)
        }
        AppCommand::Ps { json } => {
            compose_sandbox::launch::print_running(json);
            Ok(0)
        }
        AppCommand::Stop { id } => {
            let e = compose_sandbox::running::stop(id)?;
            eprintln!("compose app: stopped {} ({})", e.app, e.id);
            Ok(0)
        }
        AppCommand::Run {
            app,
            allow,
            memory,
            cpu_time,
            json,
            args,
        } => {
            let (runs, grants, mut run_args) = if app.ends_with(".wasm") {
                (
                    Runs::Wasm(PathBuf::from(&app)),
                    Grants::default(),
                    Vec::new(),
                )
            } else if compose_oci::ImageRef::looks_like(&app) {
                (
                    Runs::Image(compose_oci::ImageRef::parse(&app)?),
                    Grants::default(),
                    Vec::new(),
                )
            } else {
                let project = project.ok_or_else(|| anyhow!("no project"))?;
                from_manifest(project, &app)?
            };
            let grants = grants
                .with_options(&allow, memory.as_deref(), cpu_time.as_deref())
                .map_err(|e| anyhow!(e))?;
            run_args.extend(args);
            let wasm = match runs {
                Runs::Wasm(wasm) => wasm,
                Runs::Container(c) => return run_container(&app, c, grants, run_args, json),
                Runs::Image(image) => return run_image(&image, grants, run_args, json),
            };
            Ok(compose_sandbox::launch::run_wasm(
                &app, &wasm, &run_args, &grants, json,
            )?)
        }
    }
}

/// What runs an app.
enum Runs {
    /// A WASI component file on this machine.
    Wasm(PathBuf),
    Container(ContainerApp),
    /// An OCI image, run in a container.
    Image(compose_oci::ImageRef),
}

/// What runs the app component `name` on this machine, its grants and arguments.
fn from_manifest(project: &Project, name: &str) -> anyhow::Result<(Runs, Grants, Vec<String>)> {
    let loaded = project.load().map_err(|e| anyhow!("{e}"))?;
    let component = loaded
        .catalog
        .versions(name)
        .last()
        .cloned()
        .ok_or_else(|| {
            anyhow!("no component `{name}` in this project (compose app list shows the apps)")
        })?;
    let app = component.app.clone().ok_or_else(|| {
        anyhow!(
            "component `{name}` is not an app: its manifest ({}) has no [app] table",
            component.file.path
        )
    })?;
    let runs = match app.runtime {
        Runtime::Wasm => Runs::Wasm(component_wasm(project, &component, &app)?),
        Runtime::Container => Runs::Container(container_app(project, &component, &app)?),
    };
    let grants = project_grants(project, &component, &app)?;
    Ok((runs, grants, app.run[1..].to_vec()))
}

/// A container app component: its Debian packages and its program.
struct ContainerApp {
    packages: Vec<String>,
    program: String,
    exclude: std::collections::BTreeSet<String>,
}

/// The root file system (the component's Debian packages) and program of a container app.
fn container_app(
    project: &Project,
    component: &Component,
    app: &App,
) -> anyhow::Result<ContainerApp> {
    let Some(Source::Deb(debs)) = &component.source else {
        bail!(
            "{}: a container app's [source] is deb = [packages]: its root file system",
            component.file.path
        );
    };
    let packages = debs
        .iter()
        .map(|d| match &d.version {
            Some(v) => format!("{}={v}", d.name),
            None => d.name.clone(),
        })
        .collect();
    let exclude = project
        .read_debian_config()
        .map_err(|e| anyhow!("{e}"))?
        .closure
        .exclude;
    Ok(ContainerApp {
        packages,
        program: app.run[0].clone(),
        exclude,
    })
}

/// Runs a container app in the foreground (its output is the app's).
fn run_container(
    name: &str,
    app: ContainerApp,
    grants: Grants,
    args: Vec<String>,
    json: bool,
) -> anyhow::Result<i32> {
    use compose_sandbox::container;
    let store = compose_core::store::Store::open(&compose_core::store::Store::locate(None))?;
    let rootfs = container::cached_rootfs(&store, &app.packages, app.exclude, &|m| {
        eprintln!("compose app: {m}")
    })?;
    let mut run = vec![app.program];
    run.extend(args);
    let process = container::Process::new(run);
    let bundles = store.temp_path("bundles");
    let code =
        compose_sandbox::launch::run_container(name, &rootfs, &process, &grants, json, &bundles);
    let _ = std::fs::remove_dir_all(&bundles);
    Ok(code?)
}

/// Runs OCI image `at` in a container in the foreground: its layers unpacked once into
/// the store, its config's defaults, only `grants`.
fn run_image(
    at: &compose_oci::ImageRef,
    grants: Grants,
    args: Vec<String>,
    json: bool,
) -> anyhow::Result<i32> {
    use compose_sandbox::container;
    let store = compose_core::store::Store::open(&compose_core::store::Store::locate(None))?;
    // Blobs pulled from registries are kept in the store: the next image on the same
    // base layers fetches only its own.
    let access = compose_core::build::gc::registry_access(&store);
    let image = compose_oci::Image::open_with(at, compose_oci::host_architecture(), &access)?;
    if let Some(p) = &image.pull {
        eprintln!(
            "compose app: pulled {}: {} blobs fetched ({:.1} MB), {} from the cache",
            image.name,
            p.fetched,
            p.fetched_bytes as f64 / 1e6,
            p.reused
        );
    }
    let rootfs =
        container::cached_image_rootfs(&store, &image, &|m| eprintln!("compose app: {m}"))?;
    let process = container::Process::from_image(&image, &rootfs, &args)?;
    // The image's folder, file or repository names the run (`ps`, the container's id).
    let name = at.short_name();
    let bundles = store.temp_path("bundles");
    let code =
        compose_sandbox::launch::run_container(&name, &rootfs, &process, &grants, json, &bundles);
    let _ = std::fs::remove_dir_all(&bundles);
    Ok(code?)
}

/// Where the component's `.wasm` is on this machine: built from its cargo source (wasi),
/// or the project file its files source installs at `run[0]`.
fn component_wasm(project: &Project, component: &Component, app: &App) -> anyhow::Result<PathBuf> {
    match &component.source {
        Some(Source::Cargo(CargoSource {
            package,
            libc: Libc::Wasi,
            ..
        })) => Ok(compose_sandbox::apps::build_in(project.root(), package)?),
        Some(Source::Files(entries)) => entries
            .iter()
            .find(|e| e.to == app.run[0])
            .map(|e| project.root().join(&e.from))
            .ok_or_else(|| {
                anyhow!(
                    "{}: no [source] files entry installs {}",
                    component.file.path,
                    app.run[0]
                )
            }),
        _ => bail!(
            "{}: a wasm app's source is cargo with libc = \"wasi\", or files",
            component.file.path
        ),
    }
}

/// The manifest's grants for a run on this machine: folders inside the project.
fn project_grants(project: &Project, component: &Component, app: &App) -> anyhow::Result<Grants> {
    let manifest = &component.file.path;
    let files = app
        .files
        .iter()
        .map(|f| {
            compose_sandbox::FileGrant::in_project(
                project.root(),
                &f.value.host,
                &f.value.guest,
                f.value.write,
            )
            .map_err(|e| anyhow!("{manifest}: {e}"))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(Grants::from_app(app, files))
}

/// The project's apps granted a GUI, as task bar launchers: `compose app run NAME` of
/// this project.
pub fn launchers(project: &Project) -> anyhow::Result<Vec<compose_shells::compositor::Launcher>> {
    let loaded = project.load().map_err(|e| anyhow!("{e}"))?;
    let exe = std::env::current_exe().context("where compose itself is")?;
    let root = project
        .root()
        .canonicalize()
        .context("the project folder")?;
    let mut out = Vec::new();
    for (name, versions) in loaded.catalog.components() {
        if versions
            .last()
            .and_then(|c| c.app.as_ref())
            .is_some_and(|a| a.gui)
        {
            out.push(compose_shells::compositor::Launcher {
                name: compose_core::build::apps::short_name(name).to_string(),
                command: [
                    exe.to_string_lossy().as_ref(),
                    "--project",
                    root.to_string_lossy().as_ref(),
                    "app",
                    "run",
                    name.as_str(),
                ]
                .map(String::from)
                .to_vec(),
            });
        }
    }
    Ok(out)
}

fn list(project: &Project, json: bool) -> anyhow::Result<i32> {
    let loaded = project.load().map_err(|e| anyhow!("{e}"))?;
    let mut rows = Vec::new();
    // The newest version of each component that is an app.
    for (_, versions) in loaded.catalog.components() {
        let Some(component) = versions.last() else {
            continue;
        };
        let Some(app) = &component.app else { continue };
        let mut row = compose_sandbox::launch::describe(&component.name, app);
        row["version"] = component.version.to_string().into();
        rows.push(row);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        for r in &rows {
            println!(
                "{:<20} {:<9} {}",
                r["name"].as_str().unwrap_or(""),
                r["runtime"].as_str().unwrap_or(""),
                r["run"][0].as_str().unwrap_or("")
            );
        }
    }
    Ok(0)
}
