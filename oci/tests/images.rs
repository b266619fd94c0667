//! Images made by real tools (umoci builds the layout, skopeo copies it into
//! `docker-archive` and `oci-archive` files) open and unpack to the same tree, whiteouts
//! included; hand-made layers show the edges: an opaque folder, paths and links that leave
//! the root, a tampered blob, a multi-architecture index, a missing tag.

use std::path::Path;
use std::process::Command;

use compose_oci::{Image, ImageRef, OciError, unpack};

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (scripts/setup installs umoci and skopeo)"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn open(text: &str) -> Image {
    Image::open(&ImageRef::parse(text).unwrap(), "amd64").unwrap()
}

#[test]
fn an_image_made_by_umoci_opens_from_a_layout_and_both_archives_alike() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    let bundle = tmp.path().join("bundle");
    let l = layout.to_str().unwrap();
    let b = bundle.to_str().unwrap();
    run(Command::new("umoci").args(["init", "--layout", l]));
    run(Command::new("umoci").args(["new", "--image", &format!("{l}:1.0")]));
    run(Command::new("umoci").args(["unpack", "--rootless", "--image", &format!("{l}:1.0"), b]));
    // Layer 1: a program, a folder with two files, a link, a file to delete later.
    let root = bundle.join("rootfs");
    std::fs::create_dir_all(root.join("app/data")).unwrap();
    std::fs::write(root.join("app/data/a"), "a").unwrap();
    std::fs::write(root.join("app/data/b"), "b").unwrap();
    std::fs::write(root.join("app/old"), "old").unwrap();
    std::fs::write(root.join("app/run.sh"), "#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(
        root.join("app/run.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::symlink("run.sh", root.join("app/start")).unwrap();
    run(Command::new("umoci").args(["repack", "--image", &format!("{l}:1.0"), b]));
    // Layer 2: `old` deleted (a whiteout), `b` changed.
    run(Command::new("umoci").args([
        "unpack",
        "--rootless",
        "--image",
        &format!("{l}:1.0"),
        &format!("{b}2"),
    ]));
    let root2 = tmp.path().join("bundle2/rootfs");
    std::fs::remove_file(root2.join("app/old")).unwrap();
    std::fs::write(root2.join("app/data/b"), "b2").unwrap();
    run(Command::new("umoci").args(["repack", "--image", &format!("{l}:1.0"), &format!("{b}2")]));
    run(Command::new("umoci").args([
        "config",
        "--image",
        &format!("{l}:1.0"),
        "--config.entrypoint",
        "/app/run.sh",
        "--config.cmd",
        "--verbose",
        "--config.env",
        "GREETING=hi",
        "--config.workingdir",
        "/app",
    ]));
    let archive = tmp.path().join("image.tar");
    let docker = tmp.path().join("docker.tar");
    run(Command::new("skopeo").args([
        "copy",
        "--quiet",
        &format!("oci:{l}:1.0"),
        &format!("oci-archive:{}:1.0", archive.display()),
    ]));
    run(Command::new("skopeo").args([
        "copy",
        "--quiet",
        &format!("oci:{l}:1.0"),
        &format!("docker-archive:{}:hello:1.0", docker.display()),
    ]));
    let docker25 = tmp.path().join("docker25.tar");
    docker_25_archive(&layout, &docker25);

    for reference in [
        format!("oci:{l}:1.0"),
        format!("oci-archive:{}:1.0", archive.display()),
        format!("docker-archive:{}:hello:1.0", docker.display()),
        format!("docker-archive:{}:hello:1.0", docker25.display()),
    ] {
        let image = open(&reference);
        assert_eq!(image.config.entrypoint, ["/app/run.sh"], "{reference}");
        assert_eq!(
            image.config.command(&reference, &[]).unwrap(),
            ["/app/run.sh", "--verbose"]
        );
        assert!(
            image.config.env.contains(&"GREETING=hi".to_string()),
            "{reference}"
        );
        assert_eq!(image.config.cwd(), "/app");
        let dest = tempfile::tempdir().unwrap();
        let done = unpack(&image, dest.path()).unwrap();
        assert_eq!(done.layers, 2, "{reference}");
        assert!(done.whiteouts >= 1, "{reference}: {done:?}");
        let d = dest.path();
        assert!(
            !d.join("app/old").exists(),
            "{reference}: the whiteout was not applied"
        );
        assert_eq!(std::fs::read_to_string(d.join("app/data/a")).unwrap(), "a");
        assert_eq!(std::fs::read_to_string(d.join("app/data/b")).unwrap(), "b2");
        assert_eq!(
            std::fs::read_link(d.join("app/start")).unwrap(),
            Path::new("run.sh")
        );
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(d.join("app/run.sh"))
                .unwrap()
                .permissions(),
        );
        assert_eq!(mode & 0o777, 0o755, "{reference}");
    }
    // Pins: the layout's and the OCI archive's tag name the same manifest.
    assert_eq!(
        open(&format!("oci:{l}:1.0")).digest,
        open(&format!("oci-archive:{}:1.0", archive.display())).digest
    );
    let e = Image::open(&ImageRef::parse(&format!("oci:{l}:2.0")).unwrap(), "amd64").unwrap_err();
    assert!(e.to_string().contains("no tag `2.0`; it has: 1.0"), "{e}");
    let e = Image::open(&ImageRef::parse(&format!("oci:{l}:1.0")).unwrap(), "arm64").unwrap_err();
    assert!(e.to_string().contains("is for amd64, not arm64"), "{e}");
}

/// The archive `docker save` writes since Docker 25 (no Docker here, so assembled from
/// `layout`'s one image): the OCI layout whole, plus `manifest.json` naming the config and
/// layers by their `blobs/sha256/` paths, the last layer reached through a symbolic link in
/// a legacy layer folder (as Docker links a layer it already wrote).
fn docker_25_archive(layout: &Path, to: &Path) {
    let json = |path: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    let blob = |digest: &serde_json::Value| {
        format!(
            "blobs/sha256/{}",
            digest.as_str().unwrap().trim_start_matches("sha256:")
        )
    };
    let index = json(&layout.join("index.json"));
    let manifest = json(&layout.join(blob(&index["manifests"][0]["digest"])));
    let mut layers: Vec<String> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| blob(&l["digest"]))
        .collect();
    let last = layers.pop().unwrap();
    let legacy = format!("{}/layer.tar", &last["blobs/sha256/".len()..]);
    layers.push(legacy.clone());
    let entry = serde_json::json!([{
        "Config": blob(&manifest["config"]["digest"]),
        "RepoTags": ["hello:1.0"],
        "Layers": layers,
    }]);
    let mut tar = tar::Builder::new(std::fs::File::create(to).unwrap());
    tar.append_dir_all("", layout).unwrap();
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Symlink);
    header.set_size(0);
    header.set_mode(0o777);
    tar.append_link(&mut header, &legacy, format!("../{last}"))
        .unwrap();
    let bytes = serde_json::to_vec(&entry).unwrap();
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o644);
    tar.append_data(&mut header, "manifest.json", bytes.as_slice())
        .unwrap();
    tar.finish().unwrap();
}

// ---- hand-made layouts ------------------------------------------------------------------

/// One tar entry: a path written as is (even with `..`), its type, and data or link target.
enum E<'a> {
    File(&'a str, &'a str),
    Dir(&'a str),
    Link(&'a str, &'a str),
    Hard(&'a str, &'a str),
}

fn layer(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        let (path, kind, data, link) = match e {
            E::File(p, d) => (p, tar::EntryType::Regular, d.as_bytes(), None),
            E::Dir(p) => (p, tar::EntryType::Directory, &b""[..], None),
            E::Link(p, t) => (p, tar::EntryType::Symlink, &b""[..], Some(t)),
            E::Hard(p, t) => (p, tar::EntryType::Link, &b""[..], Some(t)),
        };
        // Raw names: the tar crate's setters refuse `..`, which is the point here.
        let name = &mut h.as_old_mut().name;
        name.fill(0);
        name[..path.len()].copy_from_slice(path.as_bytes());
        if let Some(t) = link {
            let l = &mut h.as_old_mut().linkname;
            l.fill(0);
            l[..t.len()].copy_from_slice(t.as_bytes());
        }
        h.set_entry_type(kind);
        h.set_mode(if matches!(e, E::Dir(_)) { 0o755 } else { 0o644 });
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

fn blob(dir: &Path, bytes: &[u8]) -> serde_json::Value {
    use sha2::Digest as _;
    let hex = hex::encode(sha2::Sha256::digest(bytes));
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(dir.join("blobs/sha256").join(&hex), bytes).unwrap();
    serde_json::json!({"digest": format!("sha256:{hex}"), "size": bytes.len()})
}

/// A layout at `dir` whose tag `t` names an image of `layers` for `arch`; returns the
/// manifest's descriptor.
fn image(dir: &Path, layers: &[Vec<u8>], arch: &str) -> serde_json::Value {
    image_of(dir, layers, arch, "application/vnd.oci.image.layer.v1.tar")
}

/// [`image`] with layers of media type `media` (`...tar+gzip`).
fn image_of(dir: &Path, layers: &[Vec<u8>], arch: &str, media: &str) -> serde_json::Value {
    let config = serde_json::json!({"architecture": arch, "os": "linux", "config": {"Cmd": ["/bin/sh"]}, "rootfs": {"type": "layers", "diff_ids": []}});
    let mut c = blob(dir, config.to_string().as_bytes());
    c["mediaType"] = "application/vnd.oci.image.config.v1+json".into();
    let ls: Vec<serde_json::Value> = layers
        .iter()
        .map(|l| {
            let mut d = blob(dir, l);
            d["mediaType"] = media.into();
            d
        })
        .collect();
    let manifest = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": c, "layers": ls});
    let mut m = blob(dir, manifest.to_string().as_bytes());
    m["mediaType"] = "application/vnd.oci.image.manifest.v1+json".into();
    m["platform"] = serde_json::json!({"architecture": arch, "os": "linux"});
    m
}

fn index(dir: &Path, manifests: Vec<serde_json::Value>) {
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(
        dir.join("index.json"),
        serde_json::json!({"schemaVersion": 2, "manifests": manifests}).to_string(),
    )
    .unwrap();
}

fn tagged(mut d: serde_json::Value, tag: &str) -> serde_json::Value {
    d["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": tag});
    d
}

fn unpack_layers(
    layers: &[Vec<u8>],
) -> (tempfile::TempDir, Result<compose_oci::Unpacked, OciError>) {
    let dir = tempfile::tempdir().unwrap();
    let m = image(dir.path(), layers, "amd64");
    index(dir.path(), vec![tagged(m, "t")]);
    let dest = tempfile::tempdir().unwrap();
    let image = open(&format!("oci:{}:t", dir.path().display()));
    let result = unpack(&image, dest.path());
    (dest, result)
}

#[test]
fn an_opaque_folder_hides_only_the_layers_below() {
    let (dest, done) = unpack_layers(&[
        layer(&[
            E::Dir("etc/"),
            E::File("etc/a", "1"),
            E::Dir("etc/sub/"),
            E::File("etc/sub/x", "1"),
            E::File("keep", "k"),
        ]),
        layer(&[
            E::Dir("etc/"),
            E::File("etc/new", "2"),
            E::File("etc/.wh..wh..opq", ""),
            E::Dir("etc/sub/"),
            E::File("etc/sub/y", "2"),
            E::File(".wh.keep", ""),
        ]),
    ]);
    done.unwrap();
    let d = dest.path();
    assert!(!d.join("etc/a").exists() && !d.join("etc/sub/x").exists());
    assert!(d.join("etc/new").exists() && d.join("etc/sub/y").exists());
    assert!(!d.join("keep").exists());
}

#[test]
fn a_gzip_layer_of_several_members_unpacks_whole() {
    // Parallel gzip writers (umoci's pgzip among them) write a large layer as several gzip
    // members, one after the other; a reader of the first member alone sees a cut tar.
    let tar = layer(&[E::File("a", "first"), E::File("b", "second")]);
    let (one, two) = tar.split_at(tar.len() / 2);
    let gzip = |bytes: &[u8]| {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    };
    let mut members = gzip(one);
    members.extend(gzip(two));
    let dir = tempfile::tempdir().unwrap();
    let m = image_of(
        dir.path(),
        &[members],
        "amd64",
        "application/vnd.oci.image.layer.v1.tar+gzip",
    );
    index(dir.path(), vec![tagged(m, "t")]);
    let dest = tempfile::tempdir().unwrap();
    unpack(
        &open(&format!("oci:{}:t", dir.path().display())),
        dest.path(),
    )
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(dest.path().join("b")).unwrap(),
        "second"
    );
}

#[test]
fn a_layer_without_its_end_blocks_is_whole_and_one_cut_inside_a_file_is_refused() {
    // umoci 0.4's `insert` writes layers that end right after the last file's data (no
    // padding, no two zero blocks); GNU tar reads them, and so does compose.
    let data = "x".repeat(700);
    let tar = layer(&[E::File("a", "first"), E::File("b", &data)]);
    let end = 512 + 512 + 512 + data.len(); // a's header and block, b's header, b's data
    let (dest, done) = unpack_layers(&[tar[..end].to_vec()]);
    done.unwrap();
    assert_eq!(
        std::fs::read_to_string(dest.path().join("b")).unwrap(),
        data
    );
    // Cut inside b's data: refused, naming the file.
    let (_, done) = unpack_layers(&[tar[..end - 100].to_vec()]);
    let e = done.unwrap_err().to_string();
    assert!(
        e.contains("b: the layer ends after 600 of its 700 bytes"),
        "{e}"
    );
}

#[test]
fn a_layer_unpacked_shifted_gives_its_owners_to_the_container_s_ids() {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_path("home/app/secret").unwrap();
    h.set_mode(0o600);
    h.set_uid(1000);
    h.set_gid(1000);
    h.set_size(2);
    h.set_cksum();
    b.append(&h, &b"ok"[..]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let m = image(dir.path(), &[b.into_inner().unwrap()], "amd64");
    index(dir.path(), vec![tagged(m, "t")]);
    let dest = tempfile::tempdir().unwrap();
    let image = open(&format!("oci:{}:t", dir.path().display()));
    compose_oci::unpack_shifted(&image, dest.path(), 100_000).unwrap();
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(dest.path().join("home/app/secret")).unwrap();
    if running_as_root() {
        assert_eq!((meta.uid(), meta.gid()), (101_000, 101_000));
    }
    assert_eq!(meta.mode() & 0o7777, 0o600);
}

/// Whether this process may set owners (the tests run as root on CI and devices).
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}

#[test]
fn paths_and_links_that_leave_the_root_are_refused() {
    for (entries, wanted) in [
        (vec![E::File("../escape", "x")], "climbs out of the root"),
        (vec![E::Link("etc/x", "../../host")], "outside the root"),
        (vec![E::Link("x", "/../../etc/shadow")], "outside the root"),
        (
            vec![E::Link("up", "/"), E::File("up/etc/passwd", "x")],
            "goes through the symbolic link /up",
        ),
        (vec![E::Hard("h", "../../etc/shadow")], "outside the root"),
        (vec![E::Hard("h", "nothing")], "which no layer made"),
    ] {
        let (dest, done) = unpack_layers(&[layer(&entries)]);
        let e = done.unwrap_err();
        assert!(matches!(e, OciError::Escape { .. }), "{e}");
        assert!(e.to_string().contains(wanted), "{e}");
        assert!(!dest.path().parent().unwrap().join("escape").exists());
    }
}

#[test]
fn a_tampered_blob_is_refused_before_anything_is_unpacked() {
    let dir = tempfile::tempdir().unwrap();
    let l = layer(&[E::File("a", "original")]);
    let m = image(dir.path(), std::slice::from_ref(&l), "amd64");
    index(dir.path(), vec![tagged(m, "t")]);
    // Same size, other bytes.
    let tampered = l
        .iter()
        .map(|b| if *b == b'o' { b'O' } else { *b })
        .collect::<Vec<_>>();
    use sha2::Digest as _;
    let hex = hex::encode(sha2::Sha256::digest(&l));
    std::fs::write(dir.path().join("blobs/sha256").join(&hex), &tampered).unwrap();
    let image = open(&format!("oci:{}:t", dir.path().display()));
    let dest = tempfile::tempdir().unwrap();
    let e = unpack(&image, dest.path()).unwrap_err();
    assert!(matches!(e, OciError::BadBlob { .. }), "{e}");
    assert_eq!(std::fs::read_dir(dest.path()).unwrap().count(), 0);
}

#[test]
fn an_index_yields_the_image_for_this_architecture() {
    let dir = tempfile::tempdir().unwrap();
    let arm = image(dir.path(), &[layer(&[E::File("arch", "arm64")])], "arm64");
    let amd = image(dir.path(), &[layer(&[E::File("arch", "amd64")])], "amd64");
    let list = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [arm, amd]});
    let mut i = blob(dir.path(), list.to_string().as_bytes());
    i["mediaType"] = "application/vnd.oci.image.index.v1+json".into();
    index(dir.path(), vec![tagged(i, "multi")]);
    let reference = format!("oci:{}:multi", dir.path().display());
    for arch in ["amd64", "arm64"] {
        let image = Image::open(&ImageRef::parse(&reference).unwrap(), arch).unwrap();
        let dest = tempfile::tempdir().unwrap();
        unpack(&image, dest.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(dest.path().join("arch")).unwrap(),
            arch
        );
    }
    let e = Image::open(&ImageRef::parse(&reference).unwrap(), "riscv64").unwrap_err();
    assert!(e.to_string().contains("no image for riscv64"), "{e}");
    assert!(e.to_string().contains("linux/arm64, linux/amd64"), "{e}");
}
