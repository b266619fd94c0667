//! OCI image start to first output (a bench command): a busybox image in an OCI layout
//! (made with umoci from Debian's busybox-static), run as `compose app run oci:...` runs it
//! (the image opened and every small blob checked, its root found unpacked by digest, its
//! config's process, a bundle written from the grants, crun), against bare `crun run` of
//! the same bundle made beforehand; both until the container has said hello and ended.
//!
//! Run with `cargo bench -p compose-sandbox --bench image-start` (as root: crun's user
//! namespace maps the app to uid 100000); under `cargo test` (no `--bench`) one run of each.

use std::path::Path;
use std::time::{Duration, Instant};

use compose_sandbox::Grants;
use compose_sandbox::container;

#[path = "../tests/support/busybox_image.rs"]
mod busybox_image;

const RUNS: usize = 15;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// An OCI layout at `layout` (tag 1.0): busybox-static's files, Entrypoint `/bin/busybox`,
/// Cmd `echo hello`; its reference.
fn image(store: &compose_core::store::Store, layout: &Path) -> String {
    let at = busybox_image::busybox_layout(store, layout);
    let tag = format!("{}:1.0", layout.display());
    busybox_image::umoci(&[
        "config",
        "--image",
        &tag,
        "--config.entrypoint",
        "/bin/busybox",
        "--config.cmd",
        "echo",
        "--config.cmd",
        "hello",
    ]);
    at
}

fn main() {
    let store_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("store");
    let store = compose_core::store::Store::open(&store_dir).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("busybox");
    let at = compose_oci::ImageRef::parse(&image(&store, &layout)).unwrap();
    let grants = Grants::default();
    let hello = |stdout: &[u8]| {
        assert_eq!(String::from_utf8_lossy(stdout).trim(), "hello");
    };

    let runs = if std::env::args().any(|a| a == "--bench") {
        RUNS
    } else {
        1
    };
    let (mut ours, mut bare) = (Vec::new(), Vec::new());
    // One run first: the root is unpacked once, as on a first `compose app run`.
    for i in 0..=runs {
        let start = Instant::now();
        let image = compose_oci::Image::open(&at, compose_oci::host_architecture()).unwrap();
        let rootfs = container::cached_image_rootfs(&store, &image, &|_| {}).unwrap();
        let process = container::Process::from_image(&image, &rootfs, &[]).unwrap();
        let bundle = tempfile::tempdir().unwrap();
        container::write_bundle(bundle.path(), &rootfs, &process, &grants, None).unwrap();
        let id = format!("compose-bench-image-{}-{i}", std::process::id());
        let report = container::run(bundle.path(), &id).unwrap();
        let took = start.elapsed();
        hello(&report.stdout);
        if i > 0 {
            ours.push(took);
        }

        // Bare crun: the same bundle, made beforehand.
        let id = format!("compose-bench-image-bare-{}-{i}", std::process::id());
        let start = Instant::now();
        let out = container::crun_command(bundle.path(), &id, &container::Limits::here())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let took = start.elapsed();
        hello(&out.stdout);
        if i > 0 {
            bare.push(took);
        }
    }
    let (ours, bare) = (median(ours), median(bare));
    println!("busybox from an OCI layout, start to output and exit (median of {runs}):");
    println!("  compose (open, checks, cached root, bundle, crun): {ours:?}");
    println!("  bare `crun run` of the same bundle:                {bare:?}");
    println!(
        "  ratio compose / bare: {:.2}",
        ours.as_secs_f64() / bare.as_secs_f64()
    );
}
