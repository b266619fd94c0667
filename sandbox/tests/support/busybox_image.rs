//! busybox-static from the machine's apt archive as an OCI image layout, made with umoci:
//! shared (by `#[path]`) by the container tests, which run their escape tests in it, and the
//! image-start bench.

use std::path::Path;
use std::process::Command;

use compose_sandbox::container;

/// Runs umoci with `args`, which must succeed.
pub fn umoci(args: &[&str]) {
    let out = Command::new("umoci")
        .args(args)
        .output()
        .expect("umoci runs (scripts/setup installs it)");
    assert!(out.status.success(), "umoci {args:?}: {out:?}");
}

/// Makes an OCI layout at `layout` whose tag 1.0 is one layer of busybox-static's files
/// (their root made once in `store`); returns the image's reference, `oci:LAYOUT:1.0`.
pub fn busybox_layout(store: &compose_core::store::Store, layout: &Path) -> String {
    let packages = ["busybox-static".to_string()];
    let root = container::cached_rootfs(store, &packages, Default::default(), &|_| {})
        .unwrap_or_else(|e| panic!("{e}"));
    let tag = format!("{}:1.0", layout.display());
    umoci(&["init", "--layout", layout.to_str().unwrap()]);
    umoci(&["new", "--image", &tag]);
    umoci(&[
        "insert",
        "--rootless",
        "--image",
        &tag,
        root.to_str().unwrap(),
        "/",
    ]);
    format!("oci:{tag}")
}
