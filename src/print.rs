//! Printing results (stdout) and diagnostics (stderr), for people or as `--json`.

use std::collections::BTreeSet;

use compose_core::catalog::{Catalog, Loaded};
use compose_core::resolve::{
    Edge, EdgeKind, Explanation, Fact, Node, Outcome as OptionOutcome, Resolution,
};
use compose_core::{Diagnostics, ProjectError, ResolveError};
use miette::{GraphicalReportHandler, GraphicalTheme};
use petgraph::visit::EdgeRef;
use serde_json::json;

use crate::{CliError, Outcome};

/// A unit enum as its serialized name (`x86_64`, `laptop`).
fn word(value: &impl serde::Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn to_json(value: &impl serde::Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("output types always serialize")
    );
}

fn handler() -> GraphicalReportHandler {
    let theme = if crate::stderr_is_terminal() {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    GraphicalReportHandler::new_themed(theme).with_width(100)
}

/// Renders diagnostics as miette reports, the way `compose validate` and errors show them.
pub fn render_diagnostics(diags: &Diagnostics) -> String {
    let handler = handler();
    let mut out = String::new();
    for d in diags.iter() {
        handler
            .render_report(&mut out, d)
            .expect("writing to a String cannot fail");
    }
    out
}

pub fn warnings(diags: &Diagnostics) {
    if diags.iter().next().is_some() {
        eprint!("{}", render_diagnostics(diags));
    }
}

fn facts_text(facts: &[Fact], indent: &str) -> String {
    facts.iter().map(|f| format!("{indent}{f}\n")).collect()
}

pub fn error(e: &CliError) {
    match e {
        CliError::Project(ProjectError::Invalid(diags)) => {
            eprint!("{}", render_diagnostics(diags));
            eprintln!("error: {diags}");
            return;
        }
        CliError::Resolve(r) => {
            eprintln!("error: {r}");
            match r {
                ResolveError::NoSolution { facts, .. } => eprint!("{}", facts_text(facts, "  ")),
                ResolveError::Cycle { links, .. } => {
                    for l in links {
                        eprintln!("  {} requires {}", l.from, l.requirement);
                        if l.via.is_some() {
                            eprintln!("    and {} was chosen for it", l.to);
                        }
                    }
                }
                ResolveError::UnknownDevice { .. } => {}
            }
            eprintln!("help: {}", r.help());
            return;
        }
        CliError::LockOutdated { device, changes } => {
            eprintln!("error: {e}");
            for c in changes {
                eprintln!("  {c}");
            }
            if changes.is_empty() {
                eprintln!(
                    "  the lock file has no entry for `{device}`, or is not in the form compose writes"
                );
            }
            if let Some(help) = help_for(e) {
                eprintln!("help: {help}");
            }
            return;
        }
        CliError::Flash(f) => {
            if let Some(tail) = f.console_tail() {
                eprintln!("console (last lines):\n{tail}");
            }
        }
        _ => {}
    }
    eprintln!("error: {e}");
    if let Some(help) = help_for(e) {
        eprintln!("help: {help}");
    }
}

/// What to do about `e`, where the error's own text does not say it already.
fn help_for(e: &CliError) -> Option<String> {
    match e {
        CliError::Project(p) => p.help(),
        CliError::Resolve(r) => Some(r.help()),
        CliError::LockOutdated { device, .. } => Some(format!(
            "run `compose resolve --device {device}` without --locked to update it, and commit compose.lock"
        )),
        CliError::UnknownComponent { name, known } => {
            compose_core::diagnostic::did_you_mean(name, known.iter().map(String::as_str))
                .map(|b| format!("did you mean `{b}`? (see `compose components`)"))
                .or_else(|| Some("see `compose components` for the catalog".into()))
        }
        CliError::Graphviz(_) => {
            Some("install Graphviz (`apt-get install graphviz`), or use --format dot".into())
        }
        CliError::Output { .. } => Some("check that the folder exists and is writable".into()),
        CliError::Bus(zbus::Error::MethodError(name, ..))
            if name.as_str() != "org.freedesktop.DBus.Error.ServiceUnknown" =>
        {
            None
        }
        CliError::Bus(_) => Some(
            "is `compose shell run` running on this bus? pass --bus ADDRESS for a private one"
                .into(),
        ),
        CliError::ShellDefinition(_) => Some(
            "a shell definition is `[shell]` with name, summary, layout (floating, focused-fullscreen, maximized-stack) and parts (title-bars, taskbar, overlay-bar, on-screen-keyboard, edge-switcher, notifications, status, launcher), and optionally shortcuts: `[shell.keys]` \"Super+Q\" = \"close\" (or \"none\" to drop a default) and `[shell.run]` \"Super+Return\" = [\"foot\"]; `compose shell keys --shell NAME` lists a shell's".into(),
        ),
        CliError::Flash(_)
        | CliError::Build(_)
        | CliError::Store(_)
        | CliError::Inspect(_)
        | CliError::Compositor(_)
        | CliError::UnknownShell { .. }
        | CliError::BadSize(_)
        | CliError::BadPath { .. }
        | CliError::Other(_) => None,
    }
}

/// The stable name of `e`'s kind in `--json` errors.
fn error_code(e: &CliError) -> &'static str {
    match e {
        CliError::Project(ProjectError::Invalid(_)) => "invalid-project",
        CliError::Project(_) => "project",
        CliError::Resolve(ResolveError::NoSolution { .. }) => "no-solution",
        CliError::Resolve(ResolveError::Cycle { .. }) => "cycle",
        CliError::Resolve(ResolveError::UnknownDevice { .. }) => "unknown-device",
        CliError::LockOutdated { .. } => "lock-outdated",
        CliError::UnknownComponent { .. } => "unknown-component",
        CliError::Graphviz(_) => "graphviz",
        CliError::Output { .. } => "output",
        CliError::Build(_) => "build",
        CliError::Store(_) => "store",
        CliError::Inspect(_) => "inspect",
        CliError::Flash(_) => "flash",
        CliError::Bus(_) => "bus",
        CliError::Compositor(_) => "compositor",
        CliError::ShellDefinition(_) => "shell-definition",
        CliError::UnknownShell { .. } => "unknown-shell",
        CliError::BadSize(_) => "bad-size",
        CliError::BadPath { .. } => "bad-path",
        CliError::Other(_) => "error",
    }
}

/// With `--json`, every error is also data on stdout (the text still goes to stderr):
/// `error` (its kind), `message`, `help`, and `file`, `line`, `column` where it has a place
/// in a file (with every `diagnostics` record for an invalid project); resolution failures
/// add what the resolver found (`device`, `facts`, `cycle`, `known`).
pub fn error_json(e: &CliError) {
    let text = e.to_string();
    // Many errors carry their help as a last `help: ...` line of their own text.
    let (message, own_help) = match text.split_once("\nhelp: ") {
        Some((m, h)) => (m.to_string(), Some(h.to_string())),
        None => (text.clone(), None),
    };
    let mut value = json!({
        "error": error_code(e),
        "message": message,
        "help": help_for(e).or(own_help),
        "file": null,
        "line": null,
        "column": null,
    });
    match e {
        CliError::Project(ProjectError::Invalid(diags)) => {
            let records: Vec<_> = diags.iter().map(|d| d.to_record()).collect();
            if let Some(first) = records.iter().find(|r| r.severity == "error") {
                value["file"] = json!(first.file);
                value["line"] = json!(first.line);
                value["column"] = json!(first.column);
                value["message"] = json!(first.message);
                value["help"] = json!(first.help);
            }
            value["diagnostics"] = json!(records);
        }
        CliError::Resolve(ResolveError::NoSolution { device, facts }) => {
            value["device"] = json!(device);
            value["facts"] = json!(facts);
        }
        CliError::Resolve(ResolveError::Cycle {
            device,
            cycle,
            links,
        }) => {
            value["device"] = json!(device);
            value["cycle"] = json!(cycle);
            value["links"] = json!(links);
        }
        CliError::Resolve(ResolveError::UnknownDevice { name, known }) => {
            value["device"] = json!(name);
            value["known"] = json!(known);
        }
        CliError::LockOutdated { device, changes } => {
            value["device"] = json!(device);
            value["changes"] = json!(changes);
        }
        _ => {}
    }
    to_json(&value);
}

/// A command line clap refused, with `--json`: the same shape as other errors.
pub fn usage_error_json(e: &clap::Error) {
    let text = e.to_string();
    let message = text
        .lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("error: ")
        .to_string();
    to_json(&json!({
        "error": "usage",
        "message": message,
        "help": "see `compose --help`, or `compose COMMAND --help`",
        "file": null,
        "line": null,
        "column": null,
    }));
}

fn node_text(n: &Node) -> String {
    match n {
        Node::Device(d) => format!("device {d}"),
        Node::Component(c) => c.clone(),
    }
}

fn edge_text(from: &Node, e: &Edge) -> String {
    match &e.kind {
        EdgeKind::Requires => format!("required by {}: {}", node_text(from), e.requirement),
        EdgeKind::Recommends => format!("recommended by {}: {}", node_text(from), e.requirement),
        EdgeKind::Feature { feature } => format!(
            "required by {}[{feature}]: {}",
            node_text(from),
            e.requirement
        ),
    }
}

pub fn resolution(catalog: &Catalog, r: &Resolution, json: bool) {
    let edges: Vec<_> = r
        .graph
        .edge_references()
        .map(|e| {
            (
                r.graph[e.source()].clone(),
                e.weight().clone(),
                r.graph[e.target()].name().to_string(),
            )
        })
        .collect();
    if json {
        let components: Vec<_> = r
            .components
            .iter()
            .enumerate()
            .map(|(i, c)| json!({"order": i + 1, "name": c.name, "version": c.version, "summary": c.summary, "features": c.features}))
            .collect();
        let edges: Vec<_> = edges
            .iter()
            .map(|(from, e, to)| {
                let mut v = serde_json::to_value(e).expect("edges serialize");
                v["from"] = serde_json::to_value(from).expect("nodes serialize");
                v["to"] = json!(to);
                v
            })
            .collect();
        to_json(
            &json!({"device": r.device, "components": components, "edges": edges, "dropped": r.dropped, "choices": r.choices}),
        );
        return;
    }
    let device = catalog
        .device(&r.device)
        .expect("a resolved device is in the catalog");
    println!(
        "device {} ({}, {}): {} components, in start order",
        r.device,
        word(&device.form_factor),
        word(&device.arch),
        r.components.len()
    );
    let width = r.components.iter().map(|c| c.name.len()).max().unwrap_or(0);
    let vwidth = r
        .components
        .iter()
        .map(|c| c.version.to_string().len())
        .max()
        .unwrap_or(0);
    for (i, c) in r.components.iter().enumerate() {
        let mut why: Vec<String> = edges
            .iter()
            .filter(|(_, _, to)| *to == c.name)
            .map(|(from, e, _)| edge_text(from, e))
            .collect();
        why.sort_by_key(|w| !w.contains("device "));
        let more = if why.len() > 1 {
            format!(" (+{} more)", why.len() - 1)
        } else {
            String::new()
        };
        let features = if c.features.is_empty() {
            String::new()
        } else {
            format!("[{}] ", c.features.join(","))
        };
        println!(
            "{:>3}  {:width$}  {:vwidth$}  {features}{}{more}",
            i + 1,
            c.name,
            c.version.to_string(),
            why.first().map(String::as_str).unwrap_or("")
        );
    }
    for d in &r.dropped {
        println!("dropped: {} recommends {}", d.component, d.requirement);
        print!("{}", facts_text(&d.because, "    because "));
    }
}

pub fn explanation(x: &Explanation, json: bool) {
    if json {
        to_json(x);
        return;
    }
    match &x.version {
        Some(v) => println!(
            "{} {v} is in the image of device {} because:",
            x.component, x.device
        ),
        None => println!("{} is not in the image of device {}", x.component, x.device),
    }
    for step in &x.path {
        let kind = match &step.edge.kind {
            EdgeKind::Requires => "requires".to_string(),
            EdgeKind::Recommends => "recommends".to_string(),
            EdgeKind::Feature { feature } => format!("with feature {feature} requires"),
        };
        let requirement = step.edge.requirement.to_string();
        if requirement == step.to {
            println!("  {} {kind} {requirement}", step.from);
        } else {
            println!(
                "  {} {kind} {requirement}, satisfied by {}",
                step.from, step.to
            );
        }
    }
    for c in &x.choices {
        match &c.virtual_name {
            Some(v) => println!("providers of {v} (for `{}`):", c.requirement),
            None => println!("alternatives of `{}`:", c.requirement),
        }
        for o in &c.options {
            match &o.outcome {
                OptionOutcome::Taken { reason } => println!("  * {} taken: {reason}", o.option),
                OptionOutcome::NotNeeded => {
                    println!("  - {} not needed: an earlier option was taken", o.option)
                }
                OptionOutcome::Impossible { because } => {
                    println!("  x {} cannot be taken:", o.option);
                    print!("{}", facts_text(because, "      "));
                }
            }
        }
    }
    if !x.versions.is_empty() {
        println!("versions of {}:", x.component);
    }
    for v in &x.versions {
        use compose_core::resolve::VersionOutcome;
        match &v.outcome {
            VersionOutcome::Taken { reason } => println!("  * {} taken: {reason}", v.version),
            VersionOutcome::Older => println!("  - {} not taken: a newer version fits", v.version),
            VersionOutcome::Possible { reason } => {
                println!("  - {} fits, not taken: {reason}", v.version)
            }
            VersionOutcome::Impossible { because } if because.is_empty() => println!(
                "  x {} cannot be taken together with the other choices",
                v.version
            ),
            VersionOutcome::Impossible { because } => {
                println!("  x {} cannot be taken:", v.version);
                print!("{}", facts_text(because, "      "));
            }
        }
    }
    for d in &x.dropped {
        println!("dropped: {} recommends {}", d.component, d.requirement);
        print!("{}", facts_text(&d.because, "    because "));
    }
    if x.version.is_none() && x.path.is_empty() && x.choices.is_empty() && x.dropped.is_empty() {
        println!("  nothing the device needs requires it");
    }
}

pub fn devices(catalog: &Catalog, json: bool) {
    let list: Vec<_> = catalog
        .devices()
        .map(|d| {
            json!({
                "name": d.name, "arch": d.arch, "form_factor": d.form_factor, "firmware": d.firmware,
                "capabilities": d.capabilities, "roots": d.roots.iter().map(|r| r.value.to_string()).collect::<Vec<_>>(),
                "kernel_modules": d.kernel_modules, "image": d.image, "file": d.file.path,
            })
        })
        .collect();
    if json {
        return to_json(&list);
    }
    for d in catalog.devices() {
        let caps: Vec<&str> = d.capabilities.iter().map(String::as_str).collect();
        println!(
            "{:10} {:8} {:8} {}",
            d.name,
            word(&d.form_factor),
            word(&d.arch),
            caps.join(", ")
        );
    }
}

pub fn components(catalog: &Catalog, json: bool) {
    let list: Vec<_> = catalog
        .components()
        .flat_map(|(_, versions)| versions)
        .map(|c| {
            json!({
                "name": c.name, "version": c.version, "summary": c.summary, "provides": c.provides,
                "requires": c.requires.iter().map(|r| &r.value).collect::<Vec<_>>(),
                "recommends": c.recommends.iter().map(|r| &r.value).collect::<Vec<_>>(),
                "conflicts": c.conflicts.iter().map(|r| &r.value).collect::<Vec<_>>(),
                "device_needs": c.device_needs, "features": c.features.keys().collect::<Vec<_>>(),
                "source": c.source, "services": c.services, "file": c.file.path,
            })
        })
        .collect();
    if json {
        return to_json(&list);
    }
    let width = catalog
        .components()
        .map(|(n, _)| n.len())
        .max()
        .unwrap_or(0);
    for c in catalog.components().flat_map(|(_, v)| v) {
        let provides: BTreeSet<&str> = c.provides.iter().map(String::as_str).collect();
        let provides = if provides.is_empty() {
            String::new()
        } else {
            format!(
                " (provides {})",
                provides.into_iter().collect::<Vec<_>>().join(", ")
            )
        };
        println!(
            "{:width$}  {:12}  {}{provides}",
            c.name,
            c.version.to_string(),
            c.summary
        );
    }
}

/// `compose validate`: every diagnostic, then a verdict. Errors are a valid "no" (exit 1).
pub fn validation(result: Result<Loaded, ProjectError>, json: bool) -> Result<Outcome, CliError> {
    let (diags, ok) = match result {
        Ok(loaded) => (loaded.warnings, true),
        Err(ProjectError::Invalid(diags)) => (diags, false),
        Err(other) => return Err(other.into()),
    };
    if json {
        to_json(
            &json!({"ok": ok, "diagnostics": diags.iter().map(|d| d.to_record()).collect::<Vec<_>>()}),
        );
    } else {
        eprint!("{}", render_diagnostics(&diags));
        if ok {
            println!("ok: every manifest and device profile is valid");
        } else {
            println!("{diags}");
        }
    }
    Ok(if ok { Outcome::Ok } else { Outcome::No })
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

pub fn build(r: &compose_core::build::BuildReport, json: bool) {
    if json {
        return to_json(r);
    }
    let total = r
        .timings
        .iter()
        .find(|(p, _)| p == "total")
        .map_or(0.0, |(_, t)| *t);
    let what = if r.up_to_date { "up to date" } else { "built" };
    println!(
        "{what}: device {} image {} in {total:.2} s",
        r.image.device, r.image.version
    );
    for (phase, seconds) in r.timings.iter().filter(|(p, _)| p != "total") {
        println!("  {phase:<12} {seconds:>7.2} s");
    }
    let built = if r.built.is_empty() {
        "none".to_string()
    } else {
        r.built.join(", ")
    };
    println!(
        "components: {} (built this run: {built})",
        r.image.components.len()
    );
    println!(
        "  {:<16} {:<14} {:>10} {:>10}  payload",
        "name", "version", "unpacked", "trimmed"
    );
    for c in &r.image.components {
        println!(
            "  {:<16} {:<14} {:>10} {:>10}  {}",
            c.name,
            c.version,
            mib(c.size),
            mib(c.size_trimmed),
            &c.digest[..12]
        );
    }
    if !r.unmet.is_empty() {
        eprintln!(
            "warning: {} ELF file(s) need what the image lacks (add the package to a component, or keep it with [trim] keep/plugins):",
            r.unmet.len()
        );
        for u in &r.unmet {
            eprintln!("  {} needs {}", u.file, u.needs);
        }
    }
    println!("partitions:");
    for p in &r.image.partitions {
        println!(
            "  {:<8} {:>10} used {:>10}  {}",
            p.name,
            mib(p.size),
            mib(p.used),
            &p.sha256[..12]
        );
    }
    for (file, size) in &r.image.files {
        println!("{} ({})", r.out_dir.join(file).display(), mib(*size));
    }
}

/// `compose build --dry-run`: the Debian packages each component will install.
pub fn plan(p: &compose_core::build::Plan, device: &str, json: bool) {
    if json {
        #[derive(serde::Serialize)]
        struct Out<'a> {
            device: &'a str,
            debs: &'a std::collections::BTreeMap<String, Vec<compose_core::lock::DebPin>>,
            excluded: &'a std::collections::BTreeMap<String, Vec<String>>,
        }
        return to_json(&Out {
            device,
            debs: &p.pins,
            excluded: &p.excluded,
        });
    }
    println!("plan for device {device}:");
    for (component, pins) in &p.pins {
        println!("  {component} ({} packages)", pins.len());
        for pin in pins {
            println!("    {} {}", pin.name, pin.version);
        }
        if let Some(ex) = p.excluded.get(component) {
            println!("    excluded (debian.toml): {}", ex.join(", "));
        }
    }
}

pub fn inspection(x: &compose_core::inspect::Inspection, json: bool) {
    if json {
        return to_json(x);
    }
    println!(
        "{} ({}), GPT {}",
        x.image.display(),
        mib(x.size),
        x.disk_uuid
    );
    for p in &x.partitions {
        println!(
            "  {:<8} offset {:>10} size {:>10}  {}",
            p.name,
            mib(p.offset),
            mib(p.size),
            p.uuid
        );
    }
    println!("boot entries:");
    for e in &x.boot_entries {
        let tries = e
            .tries_left
            .map_or("blessed".to_string(), |n| format!("{n} tries left"));
        let order = e
            .serial
            .map(|n| format!(", serial {n}"))
            .unwrap_or_default();
        let sound = match e.root_sound {
            Some(true) => ", root sound",
            Some(false) => ", ROOT DOES NOT MATCH ITS ENTRY",
            None => "",
        };
        let verity = match &e.verity_root_hash {
            Some(hash) => format!(", dm-verity root hash {}…", &hash[..16]),
            None if e.slot.is_some() => ", root unchecked (no dm-verity)".to_string(),
            None => String::new(),
        };
        println!(
            "  {:<28} slot {} version {} ({tries}{order}{sound}{verity})",
            e.file,
            e.slot.as_deref().unwrap_or("?"),
            e.version
        );
        if !e.efi.is_empty() {
            println!("      efi {} (its command line: {})", e.efi, e.options);
            if let Some(pcr11) = &e.pcr11 {
                println!("      PCR 11 after it boots: {pcr11}");
            }
        } else {
            println!("      options {}", e.options);
        }
    }
    println!("ESP files:");
    for f in &x.esp_files {
        println!("  {f}");
    }
    if let Some(files) = &x.files {
        println!("slot files:");
        for f in files {
            println!("  {} {:<7} {:>9}  {}", f.mode, f.kind, f.size, f.path);
        }
    }
}

pub fn gc(r: &compose_core::build::gc::GcReport, json: bool) {
    if json {
        return to_json(r);
    }
    println!(
        "removed {} blobs and {} pulled OCI blobs ({}) and {} build steps; kept {} blobs",
        r.removed_blobs,
        r.removed_pulled_blobs,
        mib(r.removed_bytes),
        r.removed_steps,
        r.kept_blobs
    );
}

pub fn cache_verify(r: &compose_core::build::verify::VerifyReport, json: bool) {
    if json {
        return to_json(r);
    }
    println!(
        "checked {} blobs ({}) and {} build steps",
        r.blobs,
        mib(r.bytes),
        r.steps
    );
    for b in &r.corrupt {
        println!("corrupt: {} (its bytes hash to {})", b.path, b.actual);
    }
    for s in &r.broken_steps {
        println!("broken step {}: {}", s.key, s.why);
    }
    if r.corrupt.is_empty() && r.broken_steps.is_empty() {
        println!("the store is intact");
    } else if r.repaired {
        println!(
            "removed {} corrupt blobs and {} build steps; the next build fetches or makes them again",
            r.corrupt.len(),
            r.broken_steps.len()
        );
    } else {
        eprintln!(
            "compose cache verify: {} corrupt blobs, {} broken build steps; run `compose cache verify --repair` to remove them (the next build fetches or makes them again)",
            r.corrupt.len(),
            r.broken_steps.len()
        );
    }
}

/// Build progress on stderr: a spinner with the current step on a terminal, plain lines
/// otherwise (logs, CI).
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
}

impl Progress {
    pub fn new() -> Progress {
        let bar = crate::stderr_is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new_spinner();
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bar
        });
        Progress { bar }
    }

    pub fn step(&self, message: &str) {
        match &self.bar {
            Some(bar) => {
                bar.println(format!("  {message}"));
                bar.set_message(message.to_string());
            }
            None => eprintln!("  {message}"),
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

pub fn vm(r: &compose_core::flash::VmReport, json: bool) {
    if json {
        return to_json(r);
    }
    if let (Some(line), Some(seconds)) = (&r.ready, r.seconds_to_ready) {
        eprintln!("ready after {seconds:.1} s ({}): {line}", r.accel);
    }
}

pub fn written(r: &compose_core::flash::WriteReport, json: bool) {
    if json {
        return to_json(r);
    }
    println!(
        "wrote {} ({}); verified {}",
        r.target.display(),
        mib(r.bytes),
        r.verified.join(", ")
    );
    if let Some(at) = &r.provision {
        println!("provisioning file at {at}, applied at the first boot");
    }
}

pub fn shell_stats(stats: &compose_shells::compositor::FrameStats, json: bool) {
    if json {
        return to_json(stats);
    }
    println!(
        "{} frames, {:.1} ms mean, {:.1} ms longest; {:.2} s CPU in {:.0} s ({:.1}%)",
        stats.frames,
        stats.mean_ms,
        stats.max_ms,
        stats.cpu_seconds,
        stats.uptime_seconds,
        100.0 * stats.cpu_seconds / stats.uptime_seconds.max(1e-9)
    );
    if !stats.renderer.is_empty() {
        println!(
            "renderer: {} ({}): {}",
            stats.renderer, stats.renderer_name, stats.renderer_why
        );
    }
}

pub fn shell_windows(rows: &[compose_shells::control::WindowRow], json: bool) {
    if json {
        let list: Vec<_> = rows
            .iter()
            .map(
                |(id, app_id, title, x, y, width, height, focused, sandbox)| {
                    json!({"id": id, "app_id": app_id, "title": title, "x": x, "y": y,
                       "width": width, "height": height, "focused": focused,
                       "sandbox": (!sandbox.is_empty()).then_some(sandbox)})
                },
            )
            .collect();
        return to_json(&list);
    }
    for (id, app_id, title, x, y, width, height, focused, sandbox) in rows {
        let mark = if *focused { "*" } else { " " };
        let sandbox = if sandbox.is_empty() {
            String::new()
        } else {
            format!("  [{sandbox}]")
        };
        println!("{mark}{id:>4}  {width}x{height}+{x}+{y}  {app_id}  {title}{sandbox}");
    }
}

/// A shell's keyboard shortcuts, one a line: the keys, then what they do.
pub fn shell_keys(def: &compose_shells::ShellDef, json: bool) {
    use compose_shells::shortcuts::Does;
    if json {
        let list: Vec<_> = def
            .shortcuts
            .iter()
            .map(|s| match &s.does {
                Does::Action(a) => json!({"keys": s.combo.to_string(), "action": a.name()}),
                Does::Run(argv) => json!({"keys": s.combo.to_string(), "run": argv}),
            })
            .collect();
        return to_json(&json!({"shell": def.name, "shortcuts": list}));
    }
    let width = def
        .shortcuts
        .iter()
        .map(|s| s.combo.to_string().len())
        .max()
        .unwrap_or(0);
    for s in &def.shortcuts {
        println!("{:<width$}  {}", s.combo.to_string(), s.does);
    }
}

/// A checked provisioning file: what it will do at first boot (no secrets shown).
pub fn provision(path: &std::path::Path, p: &compose_provision::Provision, json: bool) {
    let users: Vec<&str> = p.users.iter().map(|u| u.name.as_str()).collect();
    let files: Vec<&str> = p.files.iter().map(|f| f.path.as_str()).collect();
    let services: Vec<&str> = p.services.iter().map(|s| s.name.as_str()).collect();
    let ethernet: Vec<String> = p
        .ethernet
        .iter()
        .map(|e| format!("{} {}", e.interface, e.address))
        .collect();
    let wifi: Vec<&str> = p.wifi.iter().map(|w| w.ssid.as_str()).collect();
    if json {
        return to_json(&serde_json::json!({
            "file": path,
            "valid": true,
            "hostname": p.hostname,
            "users": users,
            "ethernet": ethernet,
            "wifi": wifi,
            "files": files,
            "services": services,
        }));
    }
    println!("{}: valid", path.display());
    let list = |v: &[&str]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    println!(
        "  hostname: {}",
        p.hostname.as_deref().unwrap_or("(the image's)")
    );
    println!("  users: {}", list(&users));
    let ethernet: Vec<&str> = ethernet.iter().map(String::as_str).collect();
    println!("  static ethernet: {}", list(&ethernet));
    println!("  wifi networks: {}", list(&wifi));
    println!("  files: {}", list(&files));
    println!("  services: {}", list(&services));
}
