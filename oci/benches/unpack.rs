//! `cargo bench -p compose-oci --bench unpack [-- RUNS]`: opening and unpacking an OCI image
//! of about 60 MB (Debian's busybox-static and this machine's Python 3 standard library,
//! thousands of small files, made into a layout by umoci) into an empty folder, every blob
//! checked first, against `umoci unpack` and `skopeo copy` + `umoci unpack` of the same
//! image, in the same run. Under `cargo test` (no `--bench`) one pass of a small image.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

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
        run(Command::new("skopeo").args([
            "copy",
            "--quiet",
            &format!("oci:{}:1.0", layout.display()),
            &format!("oci:{}:1.0", copy.display()),
        ]));
        run(Command::new("umoci").args([
            "unpack",
            "--rootless",
            "--image",
            &format!("{}:1.0", copy.display()),
            bundle.to_str().unwrap(),
        ]));
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
