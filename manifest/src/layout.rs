//! Where an image keeps its apps: what `compose build` writes and a device's compose-app
//! reads.

/// Where app descriptions go: `NAME.toml`, the component's manifest.
pub const DESCRIPTIONS: &str = "/usr/share/compose/apps";
/// Where task bar launchers go: `SHORT-NAME.desktop`, an XDG desktop entry.
pub const LAUNCHERS: &str = "/usr/share/compose/launchers";
/// The program that runs a device's apps (the `app-runtime` component).
pub const RUNNER: &str = "/usr/bin/compose-app";

/// Folders of a container's root that the runtime mounts over (crun: proc, a tmpfs /dev,
/// tmpfs /tmp and /run, the container's own cgroup where its limits are cgroup limits):
/// they must exist in the read-only root.
pub const CONTAINER_MOUNT_POINTS: [&str; 6] =
    ["/proc", "/dev", "/sys", "/sys/fs/cgroup", "/tmp", "/run"];
/// Where a container's ids start on the host when compose runs as root: the container's
/// root is host uid and gid 100000, its user 1000 is 101000 (65536 ids are mapped). An app
/// root in an image is owned as its container sees it: each id shifted by this.
pub const CONTAINER_ID_OFFSET: u32 = 100_000;
/// Where a GUI container app finds its Wayland socket (bound over this file).
pub const CONTAINER_WAYLAND: &str = "/run/wayland-0";

/// Where an `oci` source's payload keeps the image's config (what runs, environment,
/// folder, user) until the app's root is placed: it then goes to [`image_config`].
pub const IMAGE_CONFIG: &str = "/.compose-image-config.json";

/// Where container app `name`'s image config is in the image (apps from OCI images).
pub fn image_config(name: &str) -> String {
    format!("/usr/lib/compose/apps/{name}/image-config.json")
}

/// Where container app `name`'s root file system is in the image.
pub fn rootfs(name: &str) -> String {
    format!("/usr/lib/compose/apps/{name}/rootfs")
}

/// Where the code `compose build` compiled for the device goes for the wasm app at `path`:
/// beside it, `.cwasm` for `.wasm` (what a device's compose-app loads).
pub fn precompiled_path(path: &str) -> String {
    match path.strip_suffix(".wasm") {
        Some(stem) => format!("{stem}.cwasm"),
        None => format!("{path}.cwasm"),
    }
}
