//! Native apps in containers through an OCI runtime (Debian's crun): a bundle whose root
//! file system is a folder of Debian packages, mounted read-only; its own user, mount,
//! pid, ipc and uts namespaces, and a network namespace with nothing but loopback unless
//! the app is granted addresses; no new privileges, and only the OCI default capabilities
//! (AUDIT_WRITE, KILL, NET_BIND_SERVICE, inside its user namespace); granted folders
//! bind-mounted at their guest paths. The container's root is an unprivileged user of the
//! host (uid 100000 when compose runs as root, the caller otherwise).
//!
//! Limits are cgroup limits where this machine gives us the cgroup2 memory and pids
//! controllers (a device: init mounts cgroup2 alone; compose runs as root): crun makes the
//! app a cgroup of its own (`/compose-apps/ID`, memory.max, memory.swap.max, pids.max)
//! and the app sees it at /sys/fs/cgroup. Elsewhere (a hybrid v1/v2 layout, a user
//! without a delegated cgroup) they are rlimits, which need no cgroup: RLIMIT_AS stops a
//! memory bomb, RLIMIT_NPROC (the app user's processes) a fork bomb; the report says
//! which, and why.

use std::path::{Path, PathBuf};
use std::process::Command;

use oci_spec::runtime::{
    LinuxBuilder, LinuxIdMappingBuilder, LinuxMemoryBuilder, LinuxNamespaceBuilder,
    LinuxNamespaceType, LinuxPidsBuilder, LinuxResourcesBuilder, MountBuilder, PosixRlimitBuilder,
    PosixRlimitType, ProcessBuilder, RootBuilder, Spec, SpecBuilder, UserBuilder,
};

use compose_manifest::layout::{CONTAINER_MOUNT_POINTS, CONTAINER_WAYLAND};

use crate::grants::Grants;

/// The host uid the container's root is when compose runs as root.
const APP_UID: u32 = compose_manifest::layout::CONTAINER_ID_OFFSET;
/// Processes the app's user may have when no pids limit is granted.
pub const DEFAULT_PIDS: u64 = 256;

/// What runs in a container: the program with its arguments, and what an OCI image's
/// config sets for it (environment, starting folder, user); `new` gives root in `/` with
/// no environment beyond the sandbox's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Process {
    pub args: Vec<String>,
    /// `NAME=VALUE`: after the sandbox's PATH, before what the grants set.
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
}

impl Process {
    pub fn new(args: Vec<String>) -> Process {
        Process {
            args,
            env: Vec::new(),
            cwd: "/".into(),
            uid: 0,
            gid: 0,
        }
    }

    /// A container app's process: its manifest's `run` and `extra` arguments; for an app
    /// from an OCI image (`config`), the image's Env, WorkingDir and User too, and, when
    /// the manifest names nothing to run, Entrypoint then `extra` or Cmd.
    pub fn for_app(
        name: &str,
        rootfs: &Path,
        run: Vec<String>,
        extra: &[String],
        config: Option<&compose_oci::ImageConfig>,
    ) -> Result<Process, ContainerError> {
        let Some(config) = config else {
            let mut args = run;
            args.extend(extra.iter().cloned());
            return Ok(Process::new(args));
        };
        let args = if run.is_empty() {
            config.command(name, extra)?
        } else {
            run.into_iter().chain(extra.iter().cloned()).collect()
        };
        let (uid, gid) = config.user_ids(name, rootfs)?;
        Ok(Process {
            args,
            env: config.env.clone(),
            cwd: config.cwd().to_string(),
            uid,
            gid,
        })
    }

    /// Image `image`'s default process in its unpacked `rootfs`: Entrypoint, then `args`
    /// or Cmd; its Env, WorkingDir and User.
    pub fn from_image(
        image: &compose_oci::Image,
        rootfs: &Path,
        args: &[String],
    ) -> Result<Process, ContainerError> {
        Process::for_app(&image.name, rootfs, Vec::new(), args, Some(&image.config))
    }
}

/// Sets `NAME=VALUE` in `env`, replacing an earlier value of NAME (a program's getenv
/// would see the first).
fn set_env(env: &mut Vec<String>, pair: String) {
    let name = pair.split('=').next().unwrap_or("").to_string();
    env.retain(|e| e.split('=').next() != Some(name.as_str()));
    env.push(pair);
}

/// Why a container could not be made or run.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("cannot write the bundle in {path}: {message}")]
    Bundle { path: PathBuf, message: String },
    #[error(transparent)]
    Image(#[from] compose_oci::OciError),
    #[error("cannot compose the container's root file system: {0}")]
    Root(String),
    #[error("cannot write config.json: {0}")]
    Spec(String),
    #[error("cannot run crun: {0} (install Debian's crun package; scripts/setup does)")]
    Runtime(String),
}

/// The cgroup under which containers get cgroups of their own (`/compose-apps/ID`).
const CGROUP_PARENT: &str = "/compose-apps";

/// How a container's memory and process limits are applied on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Limits {
    /// A cgroup of its own: memory.max (and no swap beyond it) and pids.max.
    Cgroup,
    /// rlimits (RLIMIT_AS, RLIMIT_NPROC), because cgroup limits cannot be had; says why.
    Rlimits(String),
}

impl Limits {
    /// What this machine allows: cgroup limits when `/sys/fs/cgroup` is the cgroup2
    /// hierarchy alone, with the memory and pids controllers, and we are root.
    pub fn here() -> Limits {
        let cgroup = Path::new("/sys/fs/cgroup");
        if hybrid_cgroups() {
            return Limits::Rlimits(
                "this machine mounts cgroups in hybrid mode (memory and pids are v1 controllers, which crun 1.8 cannot use beside v2); boot with systemd.unified_cgroup_hierarchy=1 for cgroup limits".into(),
            );
        }
        let Ok(controllers) = std::fs::read_to_string(cgroup.join("cgroup.controllers")) else {
            return Limits::Rlimits("no cgroup2 hierarchy at /sys/fs/cgroup".into());
        };
        let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
        if !(has("memory") && has("pids")) {
            return Limits::Rlimits(format!(
                "the cgroup2 hierarchy lacks the memory or pids controller (it has: {})",
                controllers.trim()
            ));
        }
        if !rustix::process::getuid().is_root() {
            return Limits::Rlimits(
                "no cgroup is delegated to this user (compose makes app cgroups as root)".into(),
            );
        }
        Limits::Cgroup
    }
}

/// What the bundle's config.json limits, and how: the report's line.
fn describe_limits(bundle: &Path, limits: &Limits) -> String {
    let Ok(spec) = Spec::load(bundle.join("config.json")) else {
        return "unknown (config.json unreadable)".to_string();
    };
    let linux = spec.linux().as_ref();
    match limits {
        Limits::Cgroup => {
            let resources = linux.and_then(|l| l.resources().as_ref());
            let memory = resources.and_then(|r| r.memory().as_ref()?.limit());
            let pids = resources.and_then(|r| Some(r.pids().as_ref()?.limit()));
            let path = linux.and_then(|l| l.cgroups_path().clone());
            format!(
                "cgroup {}: memory.max {}, pids.max {}, no swap",
                path.unwrap_or_default().display(),
                memory.unwrap_or(-1),
                pids.unwrap_or(-1)
            )
        }
        Limits::Rlimits(why) => {
            let rlimits = spec.process().as_ref().and_then(|p| p.rlimits().clone());
            let value = |t: PosixRlimitType| {
                rlimits
                    .iter()
                    .flatten()
                    .find(|r| r.typ() == t)
                    .map(|r| r.hard())
            };
            format!(
                "rlimits: RLIMIT_AS {}, RLIMIT_NPROC {} (no cgroup limits: {why})",
                value(PosixRlimitType::RlimitAs).unwrap_or(0),
                value(PosixRlimitType::RlimitNproc).unwrap_or(0)
            )
        }
    }
}

/// What a container run did.
#[derive(Debug, Clone)]
pub struct ContainerReport {
    /// The app's exit status (`None`: killed by a signal).
    pub status: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// How limits were applied.
    pub limits: String,
}

/// Makes `dest` the root file system of Debian packages `packages` and their closure
/// (solved from the machine's apt indexes, `exclude` left out as in debian.toml; fetched
/// into `store` and unpacked once, later calls reuse them).
#[cfg(feature = "host")]
pub fn debian_rootfs(
    store: &compose_core::store::Store,
    packages: &[String],
    exclude: std::collections::BTreeSet<String>,
    dest: &Path,
    progress: &dyn Fn(&str),
) -> Result<(), ContainerError> {
    use compose_core::debian;
    let fail = |e: &dyn std::fmt::Display| ContainerError::Root(e.to_string());
    let index = debian::Index::from_apt("amd64").map_err(|e| fail(&e))?;
    let requests: Vec<debian::Request> =
        packages.iter().map(|p| debian::Request::parse(p)).collect();
    let policy = debian::Policy {
        exclude,
        prefer: Default::default(),
    };
    let closure = debian::solve(&index, &requests, &policy).map_err(|e| fail(&e))?;
    let step =
        compose_core::build::sources::debian_tree(store, "container", &closure.packages, progress)
            .map_err(|e| fail(&e))?;
    step.tree.materialize(store, dest).map_err(|e| fail(&e))
}

/// The root file system of `packages` kept under the store (`containers/<digest>`), made
/// once: later runs of the same closure reuse it. Made aside and renamed into place, so
/// an interrupted run leaves no half-made root behind.
#[cfg(feature = "host")]
pub fn cached_rootfs(
    store: &compose_core::store::Store,
    packages: &[String],
    exclude: std::collections::BTreeSet<String>,
    progress: &dyn Fn(&str),
) -> Result<PathBuf, ContainerError> {
    let key = compose_core::store::sha256(
        format!("rootfs-v1\n{}\n{:?}", packages.join("\n"), exclude).as_bytes(),
    );
    cached(&containers_dir(store).join(&key), |partial| {
        debian_rootfs(store, packages, exclude, partial, progress)
    })
}

/// `dir/rootfs`, made by `make` into `dir/partial-PID` (an empty folder) the first time and
/// renamed into place, so an interrupted run leaves no half-made root behind.
pub(crate) fn cached(
    dir: &Path,
    make: impl FnOnce(&Path) -> Result<(), ContainerError>,
) -> Result<PathBuf, ContainerError> {
    let root = dir.join("rootfs");
    if root.is_dir() {
        return Ok(root);
    }
    let made = |e: std::io::Error| ContainerError::Bundle {
        path: dir.to_path_buf(),
        message: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(made)?;
    let partial = dir.join(format!("partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir(&partial).map_err(made)?;
    if let Err(e) = make(&partial) {
        let _ = std::fs::remove_dir_all(&partial);
        return Err(e);
    }
    std::fs::rename(&partial, &root).map_err(made)?;
    Ok(root)
}

/// The root file system of OCI image `image`, unpacked once under the store
/// (`containers/oci-<digest>`, the digest its tag named) with every layer checked first and
/// owners as the container will see them ([`owner_offset`]); made aside and renamed into
/// place, as [`cached_rootfs`] does.
#[cfg(feature = "host")]
pub fn cached_image_rootfs(
    store: &compose_core::store::Store,
    image: &compose_oci::Image,
    progress: &dyn Fn(&str),
) -> Result<PathBuf, ContainerError> {
    cached(
        &containers_dir(store).join(format!("oci-ids-{}", image.digest.hex())),
        |partial| {
            progress(&format!(
                "unpacking {} ({} layers)",
                image.name,
                image.layers.len()
            ));
            compose_oci::unpack_shifted(image, partial, owner_offset())?;
            Ok(())
        },
    )
}

/// What to add to an image's owners so that its containers see them as the image says: as
/// root, containers' ids are host ids from [`APP_UID`] up; otherwise the caller's own id is
/// the container's root and an unpack cannot set owners anyway (it keeps the caller's).
pub fn owner_offset() -> u32 {
    if rustix::process::getuid().is_root() {
        APP_UID
    } else {
        0
    }
}

/// Where cached root file systems live. The runtime walks to the root as the container's
/// user: as root that is uid 100000, which cannot pass a private home folder (`/root` is
/// 0700), so root keeps them in `/var/lib/compose/containers`; any other user in the store.
#[cfg(feature = "host")]
fn containers_dir(store: &compose_core::store::Store) -> PathBuf {
    if rustix::process::getuid().is_root() {
        PathBuf::from("/var/lib/compose/containers")
    } else {
        store.root().join("containers")
    }
}

/// How large each of a container's tmpfs (`/dev`, `/tmp`) may grow for a memory grant of
/// `memory` bytes: a quarter of it, at least 1 MiB, in whole KiB.
pub fn tmpfs_bytes(memory: u64) -> u64 {
    (memory / 4).max(1 << 20) / 1024 * 1024
}

/// Writes `bundle/config.json` for running `process` in `rootfs` (already there, read-only
/// for the app) with only what `grants` gives.
pub fn write_bundle(
    bundle: &Path,
    rootfs: &Path,
    process: &Process,
    grants: &Grants,
    wayland: Option<&Path>,
) -> Result<(), ContainerError> {
    let fail = |e: &dyn std::fmt::Display| ContainerError::Spec(e.to_string());
    // Mount points inside the root (read-only for the app, so made here): what the
    // runtime mounts, and the granted folders. A device image has them already.
    let guests = grants.files().iter().map(|f| f.guest());
    for dir in CONTAINER_MOUNT_POINTS.into_iter().chain(guests) {
        let at = rootfs.join(dir.trim_start_matches('/'));
        std::fs::create_dir_all(&at).map_err(|e| ContainerError::Bundle {
            path: at.clone(),
            message: e.to_string(),
        })?;
    }
    let mut env = vec!["PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin".to_string()];
    for pair in &process.env {
        set_env(&mut env, pair.clone());
    }
    // A GUI app reaches the shell through its own socket (a security context), at
    // CONTAINER_WAYLAND in the container.
    let wayland = wayland.filter(|_| grants.gui());
    if wayland.is_some() {
        let at = rootfs.join(CONTAINER_WAYLAND.trim_start_matches('/'));
        if !at.exists() {
            std::fs::write(&at, b"").map_err(|e| ContainerError::Bundle {
                path: at.clone(),
                message: e.to_string(),
            })?;
        }
        // Toolkits keep their settings and caches (fontconfig's) under HOME.
        for pair in [
            format!("WAYLAND_DISPLAY={CONTAINER_WAYLAND}"),
            "XDG_RUNTIME_DIR=/tmp".to_string(),
            "HOME=/tmp".to_string(),
        ] {
            set_env(&mut env, pair);
        }
    }
    for (k, v) in grants.env() {
        set_env(&mut env, format!("{k}={v}"));
    }
    let memory = grants.memory().unwrap_or(crate::wasm::DEFAULT_MEMORY);
    let limits = Limits::here();
    let rlimit = |typ, value: u64| {
        PosixRlimitBuilder::default()
            .typ(typ)
            .hard(value)
            .soft(value)
            .build()
    };
    let mut rlimits = vec![rlimit(PosixRlimitType::RlimitNofile, 1024).map_err(|e| fail(&e))?];
    if limits != Limits::Cgroup {
        rlimits.push(rlimit(PosixRlimitType::RlimitAs, memory).map_err(|e| fail(&e))?);
        rlimits.push(rlimit(PosixRlimitType::RlimitNproc, DEFAULT_PIDS).map_err(|e| fail(&e))?);
    }
    let spec_process = ProcessBuilder::default()
        .terminal(false)
        .args(process.args.clone())
        .env(env)
        .cwd(process.cwd.as_str())
        .user(
            UserBuilder::default()
                .uid(process.uid)
                .gid(process.gid)
                .build()
                .map_err(|e| fail(&e))?,
        )
        .no_new_privileges(true)
        .rlimits(rlimits)
        .build()
        .map_err(|e| fail(&e))?;
    let mount = |dest: &str, typ: &str, source: &str, options: &[&str]| {
        MountBuilder::default()
            .destination(dest)
            .typ(typ)
            .source(source)
            .options(options.iter().map(|o| o.to_string()).collect::<Vec<_>>())
            .build()
    };
    // The container's two tmpfs hold at most a quarter of its memory grant each: on the rlimit
    // fallback their pages are not the app's (RLIMIT_AS counts only its mappings), so a fixed
    // size let a small app hold far more host memory than it was granted.
    let tmpfs_size = format!("size={}k", tmpfs_bytes(memory) / 1024);
    let mut mounts = vec![
        mount("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]).map_err(|e| fail(&e))?,
        mount(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", &tmpfs_size],
        )
        .map_err(|e| fail(&e))?,
        // Terminals (foot) open pseudo-terminals: a devpts of the container's own
        // (crun links /dev/ptmx to it).
        mount(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
            ],
        )
        .map_err(|e| fail(&e))?,
        mount(
            "/tmp",
            "tmpfs",
            "tmpfs",
            &["nosuid", "nodev", "mode=1777", &tmpfs_size],
        )
        .map_err(|e| fail(&e))?,
    ];
    if let Some(socket) = wayland {
        mounts.push(
            mount(
                CONTAINER_WAYLAND,
                "bind",
                socket.to_str().unwrap_or_default(),
                &["bind", "nosuid", "nodev", "noexec"],
            )
            .map_err(|e| fail(&e))?,
        );
    }
    if limits == Limits::Cgroup {
        // The app's own cgroup (a cgroup namespace), read-only: it can see its limits.
        mounts.push(
            mount(
                "/sys/fs/cgroup",
                "cgroup",
                "cgroup",
                &["nosuid", "noexec", "nodev", "ro"],
            )
            .map_err(|e| fail(&e))?,
        );
    }
    for f in grants.files() {
        let access = if f.write() { "rw" } else { "ro" };
        mounts.push(
            mount(
                f.guest(),
                "bind",
                f.host().to_str().unwrap_or_default(),
                &["rbind", access, "nosuid", "nodev"],
            )
            .map_err(|e| fail(&e))?,
        );
    }
    let mut namespaces = vec![
        LinuxNamespaceType::User,
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
    ];
    // Granted addresses are reached through the host's network; none: only loopback.
    if grants.network().is_empty() {
        namespaces.push(LinuxNamespaceType::Network);
    }
    if limits == Limits::Cgroup {
        namespaces.push(LinuxNamespaceType::Cgroup);
    }
    let namespaces = namespaces
        .into_iter()
        .map(|t| LinuxNamespaceBuilder::default().typ(t).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(&e))?;
    let host_uid = rustix::process::getuid().as_raw();
    let (uid, gid) = if host_uid == 0 {
        (APP_UID, APP_UID)
    } else {
        (host_uid, rustix::process::getgid().as_raw())
    };
    // As root, the container's 65536 ids are host ids 100000 and up (an image may run as
    // another user); otherwise only the caller's own id is there to map, to the container's root.
    let ids = if host_uid == 0 { 65_536u32 } else { 1 };
    if process.uid >= ids || process.gid >= ids {
        return Err(ContainerError::Spec(format!(
            "the app runs as uid {} gid {}, but without root only the container's root can be mapped\nhelp: run it as root, or as an image user of 0",
            process.uid, process.gid
        )));
    }
    let mapping = |host: u32| {
        LinuxIdMappingBuilder::default()
            .container_id(0u32)
            .host_id(host)
            .size(ids)
            .build()
    };
    let mut linux = LinuxBuilder::default();
    if limits == Limits::Cgroup {
        let memory = i64::try_from(memory).unwrap_or(i64::MAX);
        let resources = LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(memory)
                    // memory + swap: no swap beyond the memory limit.
                    .swap(memory)
                    .build()
                    .map_err(|e| fail(&e))?,
            )
            .pids(
                LinuxPidsBuilder::default()
                    .limit(DEFAULT_PIDS as i64)
                    .build()
                    .map_err(|e| fail(&e))?,
            )
            .build()
            .map_err(|e| fail(&e))?;
        // Named after the bundle's folder: one cgroup per run.
        let id = bundle.file_name().unwrap_or_default().to_string_lossy();
        linux = linux
            .resources(resources)
            .cgroups_path(PathBuf::from(format!("{CGROUP_PARENT}/{id}")));
    }
    let linux = linux
        .namespaces(namespaces)
        .uid_mappings(vec![mapping(uid).map_err(|e| fail(&e))?])
        .gid_mappings(vec![mapping(gid).map_err(|e| fail(&e))?])
        .masked_paths(vec![
            "/proc/kcore".to_string(),
            "/proc/keys".to_string(),
            "/sys/firmware".to_string(),
        ])
        .readonly_paths(vec![
            "/proc/sys".to_string(),
            "/proc/sysrq-trigger".to_string(),
        ])
        .build()
        .map_err(|e| fail(&e))?;
    let spec: Spec = SpecBuilder::default()
        .version("1.0.2")
        .root(
            RootBuilder::default()
                .path(rootfs)
                .readonly(true)
                .build()
                .map_err(|e| fail(&e))?,
        )
        .hostname("app")
        .process(spec_process)
        .mounts(mounts)
        .linux(linux)
        .build()
        .map_err(|e| fail(&e))?;
    spec.save(bundle.join("config.json"))
        .map_err(|e| fail(&e))?;
    Ok(())
}

/// Whether this machine mounts cgroups in hybrid mode (v1 controllers beside a v2
/// hierarchy), which crun 1.8 refuses to start containers on.
fn hybrid_cgroups() -> bool {
    Path::new("/sys/fs/cgroup/unified").is_dir()
}

/// Stops container `id`: SIGKILL to its first process, which ends its pid namespace.
pub fn kill(id: &str) -> Result<(), ContainerError> {
    let status = Command::new("crun")
        .args(["kill", id, "KILL"])
        .status()
        .map_err(|e| ContainerError::Runtime(e.to_string()))?;
    if status.success() {
        Ok(())
    } else {
        Err(ContainerError::Runtime(format!("crun kill {id}: {status}")))
    }
}

/// Runs the bundle with crun under container id `id` and waits for it.
pub fn run(bundle: &Path, id: &str) -> Result<ContainerReport, ContainerError> {
    let limits = Limits::here();
    let output = crun_command(bundle, id, &limits)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| ContainerError::Runtime(e.to_string()))?;
    Ok(ContainerReport {
        status: output.status.code(),
        stdout: output.stdout,
        stderr: output.stderr,
        limits: describe_limits(bundle, &limits),
    })
}

/// The command that runs the bundle with crun as container `id`: with the cgroupfs
/// manager where limits are cgroup limits, with none where they are rlimits (`limits`:
/// what `write_bundle` wrote the bundle for, `Limits::here()`).
pub fn crun_command(bundle: &Path, id: &str, limits: &Limits) -> Command {
    if hybrid_cgroups() {
        // crun reads the cgroup layout from /sys/fs/cgroup: give it a private mount
        // namespace where that is the v2 hierarchy alone, and no cgroup manager.
        let mut c = Command::new("unshare");
        c.args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg("mount -t cgroup2 none /sys/fs/cgroup && exec crun --cgroup-manager=disabled run --bundle \"$0\" \"$1\"")
            .arg(bundle)
            .arg(id);
        return c;
    }
    let manager = match limits {
        Limits::Cgroup => "--cgroup-manager=cgroupfs",
        Limits::Rlimits(_) => "--cgroup-manager=disabled",
    };
    let mut c = Command::new("crun");
    c.args([manager, "run", "--bundle"]).arg(bundle).arg(id);
    c
}
