//! Bad manifests and device profiles: each gets a located, actionable diagnostic.
//! Snapshots show exactly what a user sees.

use compose_core::{Catalog, Diagnostics, Project, ProjectError, SourceFile};
use miette::{GraphicalReportHandler, GraphicalTheme};

const DEVICE: &str = "[device]\nname = \"d\"\narch = \"x86_64\"\nform-factor = \"vm\"\nfirmware = \"uefi\"\n\n[compose]\nroots = [\"a\"]\n\n[image]\nsize = \"1G\"\n";
const A: &str = "[component]\nname = \"a\"\nversion = \"1.0.0\"\nsummary = \"a\"\n";

fn render(diags: &Diagnostics) -> String {
    let handler =
        GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor()).with_width(100);
    let mut out = String::new();
    for d in diags.iter() {
        let (line, column) = d.line_column();
        out.push_str(&format!("{}:{line}:{column} [{:?}]\n", d.file.path, d.code));
        handler.render_report(&mut out, d).unwrap();
    }
    out
}

/// Diagnostics of a catalog of `manifests` plus the default device (unless given).
fn diagnose(manifests: &[(&str, &str)], devices: &[(&str, &str)]) -> String {
    let files = |list: &[(&str, &str)]| {
        list.iter()
            .map(|(p, t)| SourceFile::new(*p, *t))
            .collect::<Vec<_>>()
    };
    let devices = if devices.is_empty() {
        vec![SourceFile::new("devices/d.toml", DEVICE)]
    } else {
        files(devices)
    };
    match Catalog::load(&files(manifests), &devices) {
        Ok(loaded) if loaded.warnings.iter().next().is_none() => "no diagnostics".into(),
        Ok(loaded) => render(&loaded.warnings),
        Err(diags) => render(&diags),
    }
}

#[test]
fn malformed_toml() {
    insta::assert_snapshot!(diagnose(
        &[("manifests/a.toml", "[component\nname = \"a\"\n")],
        &[]
    ));
}

#[test]
fn wrong_type() {
    insta::assert_snapshot!(diagnose(
        &[("manifests/a.toml", &A.replace("\"1.0.0\"", "1"))],
        &[]
    ));
}

#[test]
fn unknown_key_suggests_the_right_one() {
    insta::assert_snapshot!(diagnose(
        &[("manifests/a.toml", &format!("{A}requries = [\"b\"]\n"))],
        &[]
    ));
}

#[test]
fn missing_key() {
    insta::assert_snapshot!(diagnose(
        &[(
            "manifests/a.toml",
            "[component]\nname = \"a\"\nversion = \"1.0.0\"\n"
        )],
        &[]
    ));
}

#[test]
fn duplicate_component() {
    insta::assert_snapshot!(diagnose(
        &[("manifests/a.toml", A), ("manifests/a-copy.toml", A)],
        &[]
    ));
}

#[test]
fn invalid_semver_version_and_requirement() {
    let bad = A.replace("1.0.0", "1.0").replace(
        "summary = \"a\"",
        "summary = \"a\"\nrequires = [\"b >= one\"]",
    );
    insta::assert_snapshot!(diagnose(&[("manifests/a.toml", &bad)], &[]));
}

#[test]
fn component_requiring_itself() {
    insta::assert_snapshot!(diagnose(
        &[("manifests/a.toml", &format!("{A}requires = [\"a >= 1\"]\n"))],
        &[]
    ));
}

#[test]
fn unknown_requirement_suggests_a_name() {
    let b = "[component]\nname = \"compositor\"\nversion = \"0.2.1\"\nsummary = \"c\"\n";
    insta::assert_snapshot!(diagnose(
        &[
            (
                "manifests/a.toml",
                &format!("{A}requires = [\"compositr\"]\n")
            ),
            ("manifests/compositor.toml", b)
        ],
        &[]
    ));
}

#[test]
fn device_naming_an_unknown_root() {
    let device = DEVICE.replace("roots = [\"a\"]", "roots = [\"a\", \"shell-desktop\"]");
    insta::assert_snapshot!(diagnose(
        &[("manifests/a.toml", A)],
        &[("devices/d.toml", &device)]
    ));
}

#[test]
fn device_with_bad_size_and_unknown_form_factor() {
    let device = DEVICE
        .replace("\"1G\"", "\"1Q\"")
        .replace("\"vm\"", "\"laptpo\"");
    insta::assert_snapshot!(diagnose(
        &[("manifests/a.toml", A)],
        &[("devices/d.toml", &device)]
    ));
}

#[test]
fn prefer_naming_a_non_provider() {
    let device = DEVICE.replace(
        "roots = [\"a\"]",
        "roots = [\"a\"]\nprefer = { shell = \"a\" }",
    );
    insta::assert_snapshot!(diagnose(
        &[("manifests/a.toml", A)],
        &[("devices/d.toml", &device)]
    ));
}

#[test]
fn unknown_restart_policy() {
    let text =
        format!("{A}\n[[service]]\nname = \"s\"\nexec = [\"/bin/s\"]\nrestart = \"allways\"\n");
    insta::assert_snapshot!(diagnose(&[("manifests/a.toml", &text)], &[]));
}

#[test]
fn bad_service_and_source_paths() {
    let text = format!(
        "{A}\n[source]\nfiles = [{{ from = \"../etc\", to = \"/\" }}]\n\n[[service]]\nname = \"s\"\nexec = [\"run\"]\n"
    );
    insta::assert_snapshot!(diagnose(&[("manifests/a.toml", &text)], &[]));
}

#[test]
fn unknown_recommends_is_only_a_warning() {
    insta::assert_snapshot!(diagnose(
        &[(
            "manifests/a.toml",
            &format!("{A}recommends = [\"fonts\"]\n")
        )],
        &[]
    ));
}

fn project_with(
    manifest: &[u8],
) -> (
    tempfile::TempDir,
    Result<compose_core::Loaded, ProjectError>,
) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("manifests")).unwrap();
    std::fs::create_dir(dir.path().join("devices")).unwrap();
    std::fs::write(dir.path().join("manifests/a.toml"), manifest).unwrap();
    std::fs::write(dir.path().join("devices/d.toml"), DEVICE).unwrap();
    let result = Project::open(dir.path()).unwrap().load();
    (dir, result)
}

#[test]
fn non_utf8_file() {
    let mut bytes = A.as_bytes().to_vec();
    bytes.splice(40..40, [0xff, 0xfe]);
    let (_dir, result) = project_with(&bytes);
    let Err(ProjectError::Invalid(diags)) = result else {
        panic!("expected diagnostics")
    };
    insta::assert_snapshot!(render(&diags));
}

#[test]
fn very_large_file() {
    let mut text = A.to_string();
    text.push_str(&"# padding\n".repeat(200_000));
    let (_dir, result) = project_with(text.as_bytes());
    let Err(ProjectError::Invalid(diags)) = result else {
        panic!("expected diagnostics")
    };
    let d = diags.iter().next().unwrap();
    assert_eq!(d.code, compose_core::diagnostic::Code::TooLarge);
    assert!(
        d.message.contains("limited to 1048576 bytes"),
        "{}",
        d.message
    );
}

#[test]
fn source_with_two_kinds_and_device_without_roots() {
    let text = format!(
        "{A}\n[source]\ndeb = [\"busybox-static\"]\nkernel = {{ package = \"linux-image-amd64\" }}\n"
    );
    let device = DEVICE.replace("roots = [\"a\"]", "roots = []");
    insta::assert_snapshot!(diagnose(
        &[("manifests/a.toml", &text)],
        &[("devices/d.toml", &device)]
    ));
}

#[test]
fn a_file_entry_is_content_or_a_link_never_both_or_neither() {
    let link = format!("{A}\n[[files]]\npath = \"/bin/sh\"\nlink = \"busybox\"\n");
    assert_eq!(
        diagnose(&[("manifests/a.toml", &link)], &[]),
        "no diagnostics"
    );
    let both = format!("{A}\n[[files]]\npath = \"/bin/sh\"\nlink = \"busybox\"\ncontent = \"x\"\n");
    let neither = format!("{A}\n[[files]]\npath = \"/bin/sh\"\n");
    for text in [both, neither] {
        let out = diagnose(&[("manifests/a.toml", &text)], &[]);
        assert!(
            out.contains("needs exactly one of `content` and `link`")
                && out.contains("manifests/a.toml"),
            "{out}"
        );
    }
}

#[test]
fn oci_sources_name_an_image_in_the_project_for_a_container_app() {
    let oci = |name: &str, image: &str, app: &str| {
        format!(
            "[component]\nname = \"{name}\"\nversion = \"1.0.0\"\nsummary = \"{name}\"\n\n[source]\noci = {{ image = \"{image}\" }}\n{app}"
        )
    };
    let container = "\n[app]\nruntime = \"container\"\n";
    insta::assert_snapshot!(diagnose(
        &[
            ("manifests/a.toml", A),
            ("manifests/b.toml", &oci("b", "oci:images/b:1", "")),
            (
                "manifests/c.toml",
                &oci("c", "oci:../elsewhere:1", container)
            ),
            ("manifests/d.toml", &oci("d", "images/d", container)),
            (
                "manifests/e.toml",
                &oci("e", "docker://busybox:1", container)
            ),
            ("manifests/f.toml", &oci("f", "oci:images/f:1", container)),
            (
                "manifests/g.toml",
                "[component]\nname = \"g\"\nversion = \"1.0.0\"\nsummary = \"g\"\n\n[app]\nruntime = \"container\"\n",
            ),
        ],
        &[]
    ));
}
