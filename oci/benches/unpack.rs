//! `cargo bench -p compose-oci --bench unpack [-- RUNS]`: opening and unpacking an OCI image
//! of about 60 MB (Debian's busybox-static and this machine's Python 3 standard library,
//! thousands of small files, made into a layout by umoci) into an empty folder, every blob
//! checked first, against `umoci unpack` and `skopeo copy` + `umoci unpack` of the same
//! image, in the same run; then the same image pulled from a registry on loopback
//! (docker-registry, plain HTTP) into an empty blob cache and unpacked, against `skopeo copy`
//! from the registry + `umoci unpack`, and a second image on the same base layer pulled with
//! that cache (what it fetched). Under `cargo test` (no `--bench`) one pass of a small image.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

#[path = "../tests/support/registry.rs"]
mod registry;

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (scripts/setup installs umoci and skopeo)"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A layout at `layout`:1.0 holding a copy of `content` under /usr/lib.
fn make_image(layout: &Path, content: Option<&Path>) {
    let l = layout.to_str().unwrap();
    let bundle = layout.with_extension("bundle");
    let b = bundle.to_str().unwrap();
    run(Command::new("umoci").args(["init", "--layout", l]));
    run(Command::new("umoci").args(["new", "--image", &format!("{l}:1.0")]));
    run(Command::new("umoci").args(["unpack", "--rootless", "--image", &format!("{l}:1.0"), b]));
    let lib = bundle.join("rootfs/usr/lib");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::write(bundle.join("rootfs/usr/lib/hello"), "hello").unwrap();
    if let Some(content) = content {
        run(Command::new("cp").arg("-a").arg(content).arg(&lib));
    }
    run(Command::new("umoci").args(["repack", "--image", &format!("{l}:1.0"), b]));
    std::fs::remove_dir_all(&bundle).unwrap();
}

/// What the bench compares against: `skopeo copy` of `from` into layout `copy`, then
/// `umoci unpack` of it into `bundle`.
fn copy_and_unpack(from: &str, options: &[&str], copy: &Path, bundle: &Path) {
    run(Command::new("skopeo")
        .args(["copy", "--quiet"])
        .args(options)
        .arg(from)
        .arg(format!("oci:{}:1.0", copy.display())));
    run(Command::new("umoci")
        .args(["unpack", "--rootless", "--image"])
        .arg(format!("{}:1.0", copy.display()))
        .arg(bundle));
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let runs: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(if bench { 5 } else { 1 });
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("layout");
    let content = Path::new("/usr/lib/python3.11");
    make_image(&layout, (bench && content.is_dir()).then_some(content));
    let blobs: u64 = walk_size(&layout.join("blobs"));
    let reference = compose_oci::ImageRef::parse(&format!("oci:{}:1.0", layout.display())).unwrap();

    let (mut ours, mut umoci, mut copy_unpack) = (Vec::new(), Vec::new(), Vec::new());
    let mut unpacked = compose_oci::Unpacked::default();
    for i in 0..runs {
        let dest = tmp.path().join(format!("ours-{i}"));
        std::fs::create_dir(&dest).unwrap();
        let start = Instant::now();
        let image = compose_oci::Image::open(&reference, "amd64").unwrap();
        unpacked = compose_oci::unpack(&image, &dest).unwrap();
        ours.push(start.elapsed());

        let bundle = tmp.path().join(format!("umoci-{i}"));
        let start = Instant::now();
        run(Command::new("umoci").args([
            "unpack",
            "--rootless",
            "--image",
            &format!("{}:1.0", layout.display()),
            bundle.to_str().unwrap(),
        ]));
        umoci.push(start.elapsed());

        let copy = tmp.path().join(format!("copy-{i}"));
        let bundle = tmp.path().join(format!("copied-{i}"));
        let start = Instant::now();
        copy_and_unpack(
            &format!("oci:{}:1.0", layout.display()),
            &[],
            &copy,
            &bundle,
        );
        copy_unpack.push(start.elapsed());
        for d in [dest, tmp.path().join(format!("umoci-{i}")), copy, bundle] {
            let _ = std::fs::remove_dir_all(d);
        }
    }
    let (o, u, c) = (median(ours), median(umoci), median(copy_unpack));
    println!(
        "image: {:.1} MB of blobs, {} files, {:.1} MB unpacked; median of {runs}",
        blobs as f64 / 1e6,
        unpacked.files,
        unpacked.bytes as f64 / 1e6
    );
    println!(
        "compose-oci open + verify + unpack: {:>8.1} ms",
        o.as_secs_f64() * 1e3
    );
    println!(
        "umoci unpack:                       {:>8.1} ms  (compose {:.2}x)",
        u.as_secs_f64() * 1e3,
        o.as_secs_f64() / u.as_secs_f64()
    );
    println!(
        "skopeo copy + umoci unpack:         {:>8.1} ms  (compose {:.2}x)",
        c.as_secs_f64() * 1e3,
        o.as_secs_f64() / c.as_secs_f64()
    );
    from_registry(tmp.path(), &layout, runs);
}

/// Pull + unpack from a loopback registry against `skopeo copy` + `umoci unpack`, then a
/// second image sharing the first one's layer.
fn from_registry(tmp: &Path, layout: &Path, runs: usize) {
    let registry = registry::Registry::start_plain();
    let l = layout.display();
    registry.push(&format!("oci:{l}:1.0"), "bench/image:1.0");
    let remote = format!("docker://{}/bench/image:1.0", registry.addr);
    let reference = compose_oci::ImageRef::parse(&remote).unwrap();
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for i in 0..runs {
        let cache = tmp.join(format!("pull-cache-{i}"));
        let dest = tmp.join(format!("pulled-{i}"));
        std::fs::create_dir(&dest).unwrap();
        let access = compose_oci::Access {
            blob_cache: Some(cache.clone()),
            ..compose_oci::Access::default()
        };
        let start = Instant::now();
        let image = compose_oci::Image::open_with(&reference, "amd64", &access).unwrap();
        compose_oci::unpack(&image, &dest).unwrap();
        ours.push(start.elapsed());
        drop(image);

        let copy = tmp.join(format!("pull-copy-{i}"));
        let bundle = tmp.join(format!("pull-copied-{i}"));
        let start = Instant::now();
        copy_and_unpack(&remote, &["--src-tls-verify=false"], &copy, &bundle);
        theirs.push(start.elapsed());
        for d in [dest, copy, bundle] {
            let _ = std::fs::remove_dir_all(d);
        }
        if i + 1 < runs {
            let _ = std::fs::remove_dir_all(cache);
        }
    }
    let (o, t) = (median(ours), median(theirs));
    println!(
        "from the registry: compose pull + unpack {:>8.1} ms; skopeo copy + umoci unpack {:>8.1} ms  (compose {:.2}x)",
        o.as_secs_f64() * 1e3,
        t.as_secs_f64() * 1e3,
        o.as_secs_f64() / t.as_secs_f64()
    );

    // Version 2: version 1's layer and a small one on top, pulled with version 1's cache.
    let bundle = tmp.join("v2.bundle");
    let b = bundle.to_str().unwrap();
    run(Command::new("umoci").args(["unpack", "--rootless", "--image", &format!("{l}:1.0"), b]));
    std::fs::write(bundle.join("rootfs/added"), "version 2").unwrap();
    run(Command::new("umoci").args(["repack", "--image", &format!("{l}:2.0"), b]));
    registry.push(&format!("oci:{l}:2.0"), "bench/image:2.0");
    let access = compose_oci::Access {
        blob_cache: Some(tmp.join(format!("pull-cache-{}", runs - 1))),
        ..compose_oci::Access::default()
    };
    let v2 = compose_oci::ImageRef::parse(&format!("docker://{}/bench/image:2.0", registry.addr))
        .unwrap();
    let start = Instant::now();
    let image = compose_oci::Image::open_with(&v2, "amd64", &access).unwrap();
    let took = start.elapsed();
    let report = image.pull.clone().unwrap_or_default();
    let whole: u64 = image.layers.iter().filter_map(|l| l.size).sum();
    println!(
        "second image on the same base: fetched {} blobs ({:.1} KB), reused {} (of {:.1} MB of layers) in {:.1} ms",
        report.fetched,
        report.fetched_bytes as f64 / 1e3,
        report.reused,
        whole as f64 / 1e6,
        took.as_secs_f64() * 1e3
    );
}

fn walk_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| {
                    let m = e.metadata().unwrap();
                    if m.is_dir() {
                        walk_size(&e.path())
                    } else {
                        m.len()
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}
