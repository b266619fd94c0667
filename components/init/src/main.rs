//! compose-init: PID 1 of a composed image. In the initramfs it loads the device's kernel
//! modules, mounts the active slot's root read-only, `/var`, and `/etc` as an overlay on
//! `/var`, and switches root; then it starts the image's services in the resolver's order,
//! supervises them, prints a readiness line and blesses the boot entry. It never exits:
//! errors are logged on the console with what to do, and the system degrades.

mod modules;
mod services;
mod tmpfiles;
mod verity;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use compose_boot::entry::{EntryName, blessed_name};
use compose_boot::gpt::{self, ESP_TYPE, disks};
use compose_boot::{cmdline, root};
use nix::mount::{MsFlags, mount};
use nix::sys::reboot::RebootMode;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

const SERVICES: &str = "/usr/lib/compose/services.json";
const IMAGE_INFO: &str = "/usr/lib/compose/image.json";
/// Where init mounts the ESP to read and bless boot entries.
const ESP_MOUNT: &str = "/run/compose/esp";
/// How long a failed boot of a slot on trial stays up (to be read) before it reboots.
const TRIAL_REBOOT: Duration = Duration::from_secs(5);

/// One line on the console. Never panics, even without a console.
macro_rules! log {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stderr(), "compose-init: {}", format_args!($($arg)*));
    }};
}

// After `log!`, which it uses.
mod provision;

/// Written by an init component other than compose (`init-systemd`): the program to hand
/// over to once the root is switched.
const SYSTEM_MANAGER: &str = "/usr/lib/compose/system-manager";

fn main() {
    // `/init ready`: the readiness line, for a system manager's unit that runs once every
    // service is up (compose-ready.service).
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [ready, manager] = args.as_slice()
        && ready == "ready"
    {
        print_ready(manager);
        return;
    }
    // A panic in PID 1 would panic the kernel: log it, and power off like any fatal error.
    std::panic::set_hook(Box::new(|info| {
        let _ = writeln!(std::io::stderr(), "compose-init: internal error: {info}");
    }));
    if std::panic::catch_unwind(run).is_err() {
        fatal("compose-init stopped on an internal error (above); please report it");
    }
}

fn run() {
    let started = Instant::now();
    if std::process::id() != 1 {
        log!("not running as PID 1; boot a composed image to use it (compose flash IMAGE --vm)");
        std::process::exit(2);
    }
    mount_api_filesystems();
    let mut cmdline = cmdline::parse(&fs::read_to_string("/proc/cmdline").unwrap_or_default());
    let mut stages = Stages {
        started,
        modules: None,
        root: None,
    };
    if !Path::new(SERVICES).exists() {
        initramfs(&mut cmdline, &mut stages);
    }
    if let Ok(manager) = fs::read_to_string(SYSTEM_MANAGER) {
        hand_over(manager.trim(), &cmdline);
    }
    system(&cmdline, &stages);
}

fn mount_api_filesystems() {
    // devpts gives terminals (foot, ssh sessions) their pseudo-terminals through /dev/ptmx.
    // /tmp is a tmpfs as on every Linux system: programs put sockets and files there (smithay
    // hands clients their keymap through one). The cgroup2 hierarchy is where OCI runtimes
    // (crun, for container apps) look for cgroups, even with no cgroup manager.
    let api: [(&str, &str, &str, Option<&str>); 7] = [
        ("proc", "/proc", "proc", None),
        ("sysfs", "/sys", "sysfs", None),
        ("cgroup2", "/sys/fs/cgroup", "cgroup2", None),
        ("devtmpfs", "/dev", "devtmpfs", None),
        (
            "devpts",
            "/dev/pts",
            "devpts",
            Some("mode=0620,ptmxmode=0666"),
        ),
        ("tmpfs", "/run", "tmpfs", None),
        ("tmpfs", "/tmp", "tmpfs", Some("mode=1777")),
    ];
    for (source, target, fstype, data) in api {
        let _ = fs::create_dir_all(target);
        match mount(Some(source), target, Some(fstype), MsFlags::MS_NOSUID, data) {
            Ok(()) | Err(nix::errno::Errno::EBUSY) => {}
            Err(e) => log!("cannot mount {fstype} on {target}: {e}"),
        }
    }
    prepare_app_cgroups();
}

/// The cgroup container apps get theirs under (`/compose-apps`, the sandbox's parent),
/// with the memory and pids controllers enabled down to it, once, before any service
/// starts. crun then finds them enabled instead of each container start enabling them
/// in the root's and the parent's `cgroup.subtree_control`, concurrently with the others.
fn prepare_app_cgroups() {
    let root = std::path::Path::new("/sys/fs/cgroup");
    let Ok(available) = fs::read_to_string(root.join("cgroup.controllers")) else {
        return;
    };
    let wanted: Vec<&str> = ["memory", "pids"]
        .into_iter()
        .filter(|c| available.split_whitespace().any(|a| a == *c))
        .collect();
    if wanted.is_empty() {
        return;
    }
    let enable = wanted
        .iter()
        .map(|c| format!("+{c}"))
        .collect::<Vec<_>>()
        .join(" ");
    let apps = root.join("compose-apps");
    let steps = [
        fs::write(root.join("cgroup.subtree_control"), &enable),
        fs::create_dir_all(&apps),
        fs::write(apps.join("cgroup.subtree_control"), &enable),
    ];
    if let Some(Err(e)) = steps.into_iter().find(Result::is_err) {
        log!("cannot prepare the cgroup of container apps ({enable}): {e}");
    }
}

/// Hands PID 1 over to another system manager (systemd), with the ESP mounted at /efi
/// (where systemd-bless-boot looks for boot entries). Returns only if it cannot.
fn hand_over(manager: &str, cmdline: &cmdline::Cmdline) {
    match esp_device(cmdline.root_partuuid.as_deref()) {
        Some(device) => {
            let _ = fs::create_dir_all("/efi");
            if let Err(e) = mount(
                Some(device.as_str()),
                "/efi",
                Some("vfat"),
                MsFlags::MS_NOATIME | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                Some("umask=0077"),
            ) {
                log!("cannot mount the ESP {device} at /efi ({e}); the boot cannot be blessed");
            }
        }
        None => log!("no ESP on the boot disk; the boot cannot be blessed"),
    }
    let Ok(program) = std::ffi::CString::new(manager) else {
        return;
    };
    let e = nix::unistd::execv(&program, std::slice::from_ref(&program));
    log!("cannot start {manager} ({e:?}); compose-init runs the services instead");
}

/// The readiness line of a boot whose services a system manager (`manager`) started.
fn print_ready(manager: &str) {
    let info = ImageInfo::read();
    let cmdline = cmdline::parse(&fs::read_to_string("/proc/cmdline").unwrap_or_default());
    let services = fs::read_to_string(SERVICES)
        .ok()
        .and_then(|t| serde_json::from_str::<Vec<services::Spec>>(&t).ok())
        .map_or(0, |s| s.len());
    let uptime = fs::read_to_string("/proc/uptime").unwrap_or_default();
    println!(
        "compose: ready device={} version={} slot={} services={services} since-kernel={}s init={manager}",
        info.device,
        info.version,
        cmdline.slot.as_deref().unwrap_or("?"),
        uptime.split_whitespace().next().unwrap_or("?"),
    );
}

/// When init's stages ended, for the readiness line.
struct Stages {
    started: Instant,
    modules: Option<Instant>,
    root: Option<Instant>,
}

impl Stages {
    /// `modules=0.120s root=0.050s services=0.200s`: where init's time went.
    fn summary(&self, ready: Instant) -> String {
        let modules = self.modules.unwrap_or(self.started);
        let root = self.root.unwrap_or(modules);
        format!(
            "modules={:.3}s root={:.3}s services={:.3}s",
            (modules - self.started).as_secs_f64(),
            (root - modules).as_secs_f64(),
            (ready - root).as_secs_f64()
        )
    }
}

/// Stage one: modules, root, /var, the /etc overlay, switch root.
fn initramfs(cmdline: &mut cmdline::Cmdline, stages: &mut Stages) {
    load_modules();
    stages.modules = Some(Instant::now());
    let wanted = match (&cmdline.root_partuuid, &cmdline.slot, &cmdline.verity) {
        (Some(uuid), ..) => format!("root partition PARTUUID={uuid}"),
        (None, Some(slot), Some(Ok(v))) => format!(
            "partition root-{slot} with the root hash {}…",
            &v.root_hash[..16]
        ),
        _ => fatal(
            "the kernel command line names no root (root=PARTUUID=..., or compose.slot= and compose.verity=); boot through the image's boot entries",
        ),
    };
    let Some(found) = wait_for_root(cmdline, Duration::from_secs(10)) else {
        fatal(&format!(
            "{wanted} did not appear within 10 s; check the disk and its kernel modules"
        ));
    };
    // From here on the root is known by its partition, however the command line named it.
    cmdline.root_partuuid = Some(found.root.uuid.clone());
    let uuid = &found.root.uuid;
    let disk = &found.disk;
    let parts = &found.parts;
    let dev = |p: &gpt::Partition| gpt::partition_device(disk, p.number);
    let root = &found.root;
    let _ = fs::create_dir_all("/sysroot");
    let slot = cmdline.slot.as_deref().unwrap_or("?");
    let source = match &cmdline.verity {
        None => {
            log!("slot {slot}: no compose.verity= on the command line; the root is read unchecked");
            dev(root)
        }
        Some(Err(why)) => fatal(&format!(
            "{why}; refusing to mount the root unchecked (fix the boot entry or reinstall the slot)"
        )),
        Some(Ok(v)) => {
            // A slot on trial restarts on a corrupt block, spending a try; a blessed one
            // fails the read and stays up (see `corrupt_root`).
            let on_corruption = if on_trial(slot, Some(uuid)) {
                compose_boot::verity::OnCorruption::Restart
            } else {
                compose_boot::verity::OnCorruption::Fail
            };
            match verity::open(&dev(root), v, on_corruption) {
                Ok(node) => {
                    log!(
                        "slot {slot}: root {} opened through dm-verity as {node} (root hash {}…; {on_corruption})",
                        dev(root),
                        &v.root_hash[..16]
                    );
                    node
                }
                Err(e) => fatal(&format!(
                    "cannot open the root {} through dm-verity: {e}",
                    dev(root)
                )),
            }
        }
    };
    // The partition's device node may appear a moment after its table is readable.
    let until = Instant::now() + Duration::from_secs(5);
    let mounted = loop {
        match mount(
            Some(source.as_str()),
            "/sysroot",
            Some("erofs"),
            MsFlags::MS_RDONLY,
            None::<&str>,
        ) {
            Err(nix::errno::Errno::ENOENT | nix::errno::Errno::ENXIO) if Instant::now() < until => {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => break other,
        }
    };
    if let Err(e) = mounted {
        if compose_boot::verity::root_state() == Some(compose_boot::verity::State::Corrupted) {
            corrupt_root(slot, uuid);
        }
        fatal(&format!(
            "cannot mount the root file system {source} (erofs): {e}"
        ));
    }
    let var = match parts.iter().find(|p| p.name == "var") {
        Some(var) => mount(
            Some(dev(var).as_str()),
            "/sysroot/var",
            Some("ext4"),
            MsFlags::MS_NOATIME,
            None::<&str>,
        )
        .map_err(|e| format!("cannot mount /var from {} ({e})", dev(var))),
        None => Err("no `var` partition".to_string()),
    };
    if let Err(why) = var {
        log!("{why}; using a temporary /var, changes will not persist");
        let _ = mount(
            Some("tmpfs"),
            "/sysroot/var",
            Some("tmpfs"),
            MsFlags::empty(),
            None::<&str>,
        );
    }
    let etc = EtcOverlay::under("/sysroot");
    let _ = fs::create_dir_all(&etc.upper);
    let _ = fs::create_dir_all(&etc.work);
    let options = etc.options();
    if let Err(e) = mount(
        Some("overlay"),
        etc.target.as_str(),
        Some("overlay"),
        MsFlags::empty(),
        Some(options.as_str()),
    ) {
        log!("cannot make /etc writable ({e}); it stays read-only");
    }
    for api in ["/dev", "/proc", "/sys", "/run", "/tmp"] {
        let target = format!("/sysroot{api}");
        if let Err(e) = mount(
            Some(api),
            target.as_str(),
            None::<&str>,
            MsFlags::MS_MOVE,
            None::<&str>,
        ) {
            log!("cannot move {api} into the new root: {e}");
        }
    }
    let switched = std::env::set_current_dir("/sysroot")
        .map_err(|e| e.to_string())
        .and_then(|()| {
            mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>)
                .map_err(|e| e.to_string())
        })
        .and_then(|()| nix::unistd::chroot(".").map_err(|e| e.to_string()))
        .and_then(|()| std::env::set_current_dir("/").map_err(|e| e.to_string()));
    if let Err(e) = switched {
        fatal(&format!("cannot switch to the new root: {e}"));
    }
    stages.root = Some(Instant::now());
}

/// `/etc`: the image's defaults below, local changes on `/var` above, as on Atomic Host,
/// so they survive updates of the read-only root.
#[derive(Debug, PartialEq, Eq)]
struct EtcOverlay {
    target: String,
    upper: String,
    work: String,
}

impl EtcOverlay {
    fn under(root: &str) -> EtcOverlay {
        EtcOverlay {
            target: format!("{root}/etc"),
            upper: format!("{root}/var/lib/compose/etc/upper"),
            work: format!("{root}/var/lib/compose/etc/work"),
        }
    }

    fn options(&self) -> String {
        format!(
            "lowerdir={},upperdir={},workdir={}",
            self.target, self.upper, self.work
        )
    }
}

/// Loads `modules.compose` (written by `compose build`: `path: dependencies` lines, each
/// after its dependencies), one wave of independent modules at a time, in parallel.
fn load_modules() {
    let Ok(kernels) = fs::read_dir("/lib/modules") else {
        return;
    };
    for kernel in kernels.filter_map(Result::ok) {
        let base = kernel.path();
        let list = fs::read_to_string(base.join("modules.compose")).unwrap_or_default();
        let mut failed = Vec::new();
        for wave in modules::waves(&list) {
            let threads: Vec<_> = wave
                .into_iter()
                .map(|rel| {
                    let path = base.join(rel);
                    let spawned = std::thread::Builder::new().spawn({
                        let path = path.clone();
                        move || load_module(&path)
                    });
                    // No thread to spare: load it here instead.
                    (path.clone(), spawned.map_err(|_| load_module(&path)))
                })
                .collect();
            for (path, t) in threads {
                let result = match t {
                    Ok(handle) => handle.join().unwrap_or_else(|_| Err("panicked".into())),
                    Err(result) => result,
                };
                if result.is_err() {
                    failed.push(path);
                }
            }
        }
        // Some dependencies are not in modules.dep: libcrc32c needs a crc32c algorithm
        // module loaded first. What failed in parallel is retried in order, until nothing
        // more loads; only then is a failure reported.
        while !failed.is_empty() {
            let before = failed.len();
            let mut still = Vec::new();
            for path in failed {
                if let Err(e) = load_module(&path) {
                    still.push((path, e));
                }
            }
            if still.len() == before {
                for (path, e) in &still {
                    log!(
                        "cannot load kernel module {}: {e}; devices it drives may be missing",
                        path.display()
                    );
                }
                break;
            }
            failed = still.into_iter().map(|(p, _)| p).collect();
        }
    }
}

fn load_module(path: &Path) -> Result<(), String> {
    let file = fs::File::open(path).map_err(|e| e.to_string())?;
    match nix::kmod::finit_module(&file, c"", nix::kmod::ModuleInitFlags::empty()) {
        // ENODEV: what it drives is not in this machine (sha256_ssse3 on a CPU without
        // SSSE3): nothing to do, and nothing to report.
        Ok(()) | Err(nix::errno::Errno::EEXIST | nix::errno::Errno::ENODEV) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

/// Every disk's GPT, until one has the root the command line names.
fn wait_for_root(cmdline: &cmdline::Cmdline, limit: Duration) -> Option<root::Found> {
    let start = Instant::now();
    loop {
        if let Some(found) = root::find(cmdline) {
            return Some(found);
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An unusable root: say why, wait, power off. The boot entry stays unblessed, so the
/// firmware falls back to the other slot after its tries.
fn fatal(message: &str) -> ! {
    log!("{message}");
    log!(
        "powering off in 10 s; this boot is not blessed, so the next boots fall back to the other slot"
    );
    std::thread::sleep(Duration::from_secs(10));
    nix::unistd::sync();
    let _ = nix::sys::reboot::reboot(nix::sys::reboot::RebootMode::RB_POWER_OFF);
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}

#[derive(serde::Deserialize, Default)]
struct ImageInfo {
    device: String,
    version: String,
}

impl ImageInfo {
    /// The image's own description; empty fields when it cannot be read.
    fn read() -> ImageInfo {
        fs::read_to_string(IMAGE_INFO)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }
}

/// Stage two: services, readiness, blessing, supervision, shutdown.
fn system(cmdline: &cmdline::Cmdline, stages: &Stages) -> ! {
    let started = stages.started;
    let info = ImageInfo::read();
    let specs: Vec<services::Spec> =
        match fs::read_to_string(SERVICES).map(|t| serde_json::from_str(&t)) {
            Ok(Ok(specs)) => specs,
            Ok(Err(e)) => {
                log!("{SERVICES} is not valid ({e}); starting no services");
                Vec::new()
            }
            Err(e) => {
                log!("cannot read {SERVICES} ({e}); starting no services");
                Vec::new()
            }
        };
    // A provisioning file on a CIDATA drive is applied before any service starts.
    provision::first_boot(cmdline.root_partuuid.as_deref());
    let (_, errors) = tmpfiles::apply(std::path::Path::new("/"));
    for e in errors {
        log!("tmpfiles.d: cannot make {e}");
    }
    let specs = with_local_services(specs);
    // SIGTERM powers off; SIGINT reboots (what the kernel sends on Ctrl-Alt-Del, and what
    // `compose-update --reboot` sends once a slot is installed).
    let power_off = Arc::new(AtomicBool::new(false));
    let reboot = Arc::new(AtomicBool::new(false));
    let _ = signal_hook::flag::register(signal_hook::consts::SIGTERM, Arc::clone(&power_off));
    let _ = signal_hook::flag::register(signal_hook::consts::SIGINT, Arc::clone(&reboot));
    let wake = wake_on_signals();
    let mut reboot_at: Option<Instant> = None;
    let mut table = services::Table::new(specs);
    let slot = cmdline.slot.clone().unwrap_or_else(|| "?".into());
    let deadline = started + Duration::from_secs(cmdline.ready_timeout.unwrap_or(120).min(86_400));
    let mut ready = false;
    let mut reported_failure = false;
    let mut root_checked = matches!(cmdline.verity, Some(Ok(_)));
    loop {
        let ended = reap(&mut table);
        let now = Instant::now();
        // A corrupt block fails the read of whoever wanted it (a service, most often, which
        // then ends): asked when a child ended. Recorded once; the system stays up.
        if ended
            && root_checked
            && compose_boot::verity::root_state() == Some(compose_boot::verity::State::Corrupted)
        {
            root_checked = false;
            record_corruption(&slot, cmdline.root_partuuid.as_deref());
        }
        for action in table.next_actions(now) {
            match action {
                services::Action::Start(i) => start(&mut table, i),
                services::Action::GiveUp(i, reason) => {
                    log!(
                        "not starting service `{}`: {reason}",
                        table.services[i].spec.name
                    );
                    table.services[i].status = services::Status::GaveUp { reason };
                }
            }
        }
        if !ready && table.ready(now) {
            ready = true;
            let kernel = fs::read_to_string("/proc/uptime")
                .ok()
                .and_then(|u| u.split_whitespace().next().map(str::to_string));
            let _ = writeln!(
                std::io::stdout(),
                "compose: ready device={} version={} slot={slot} services={} since-kernel={}s init={:.3}s ({})",
                info.device,
                info.version,
                table.services.len(),
                kernel.unwrap_or_default(),
                started.elapsed().as_secs_f64(),
                stages.summary(now)
            );
            bless(&slot, cmdline.root_partuuid.as_deref());
            nix::unistd::sync();
        }
        if !ready && !reported_failure && (!table.given_up().is_empty() || now > deadline) {
            reported_failure = true;
            for (name, reason) in table.given_up() {
                log!("service `{name}` failed: {reason}");
            }
            log!(
                "not ready: this boot stays unblessed; after its tries the firmware falls back to the other slot"
            );
            nix::unistd::sync();
            // A slot on trial reboots to spend its next try (as greenboot does); a blessed
            // one stays up, degraded, rather than reboot forever.
            if on_trial(&slot, cmdline.root_partuuid.as_deref()) {
                log!(
                    "this slot is on trial: rebooting in {} s",
                    TRIAL_REBOOT.as_secs()
                );
                reboot_at = Some(now + TRIAL_REBOOT);
            }
        }
        if power_off.load(Ordering::Relaxed) {
            shutdown(&mut table, RebootMode::RB_POWER_OFF);
        }
        if reboot.load(Ordering::Relaxed) || reboot_at.is_some_and(|t| now > t) {
            shutdown(&mut table, RebootMode::RB_AUTOBOOT);
        }
        // Sleep until a signal or the next timed change: a back-off, a service settling,
        // the readiness deadline, a trial reboot.
        let waiting_for_ready = (!ready && !reported_failure).then_some(deadline);
        let until = [table.next_wake(now), waiting_for_ready, reboot_at]
            .into_iter()
            .flatten()
            .min();
        sleep_until_signal(wake.as_ref(), until);
    }
}

/// A socket that receives a byte for each SIGCHLD, SIGTERM and SIGINT, so the supervisor
/// sleeps until something happens instead of polling. `None` (it could not be made): it
/// polls every 20 ms instead.
fn wake_on_signals() -> Option<std::os::unix::net::UnixStream> {
    let (read, write) = std::os::unix::net::UnixStream::pair().ok()?;
    write.set_nonblocking(true).ok()?;
    for signal in [
        signal_hook::consts::SIGCHLD,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ] {
        signal_hook::low_level::pipe::register(signal, write.try_clone().ok()?).ok()?;
    }
    Some(read)
}

fn sleep_until_signal(wake: Option<&std::os::unix::net::UnixStream>, until: Option<Instant>) {
    use std::io::Read;
    let Some(mut wake) = wake else {
        std::thread::sleep(Duration::from_millis(20));
        return;
    };
    let timeout = until.map(|t| {
        t.saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    });
    if wake.set_read_timeout(timeout).is_ok() {
        let _ = wake.read(&mut [0u8; 64]);
    }
}

/// The image's services and, after them, those of `/etc/compose/services.json` (given at
/// provisioning); a local service named like one of the image's is left out, with a line.
fn with_local_services(mut specs: Vec<services::Spec>) -> Vec<services::Spec> {
    let local = compose_provision::apply::SERVICES;
    let path = Path::new("/").join(local);
    let Ok(text) = fs::read_to_string(&path) else {
        return specs;
    };
    match serde_json::from_str::<Vec<services::Spec>>(&text) {
        Ok(extra) => {
            for spec in extra {
                if specs.iter().any(|s| s.name == spec.name) {
                    log!(
                        "/{local}: service `{}` is one of the image's; the image's is kept",
                        spec.name
                    );
                } else {
                    specs.push(spec);
                }
            }
        }
        Err(e) => log!("/{local} is not valid ({e}); its services are not started"),
    }
    specs
}

fn start(table: &mut services::Table, i: usize) {
    let spec = table.services[i].spec.clone();
    let Some((program, args)) = spec.exec.split_first() else {
        return;
    };
    match Command::new(program).args(args).spawn() {
        Ok(child) => {
            table.services[i].status = services::Status::Running {
                pid: child.id() as i32,
                since: Instant::now(),
            };
        }
        Err(e) => {
            log!("cannot start service `{}` ({program}): {e}", spec.name);
            // Counts as a failed run, so the restart policy and back-off apply.
            table.services[i].status = services::Status::Running {
                pid: -1,
                since: Instant::now(),
            };
            table.exited(-1, false, Instant::now());
        }
    }
}

/// Collects every exited child; services are restarted per their policy.
/// Collects every child that ended; whether any did.
fn reap(table: &mut services::Table) -> bool {
    let mut any = false;
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => {
                record(table, pid.as_raw(), code == 0, &format!("exit code {code}"))
            }
            Ok(WaitStatus::Signaled(pid, signal, _)) => {
                record(table, pid.as_raw(), false, &format!("signal {signal}"))
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return any,
            Ok(_) => continue,
        }
        any = true;
    }
}

fn record(table: &mut services::Table, pid: i32, success: bool, how: &str) {
    if let Some((i, restarting)) = table.exited(pid, success, Instant::now()) {
        let name = &table.services[i].spec.name;
        match (&table.services[i].status, restarting) {
            (_, true) => log!("service `{name}` ended ({how}); restarting"),
            (services::Status::GaveUp { reason }, _) => {
                log!("service `{name}` ended ({how}); giving up: {reason}")
            }
            _ => {}
        }
    }
}

/// The device of the ESP on the disk we booted from (the one holding our root, not just
/// any ESP).
fn esp_device(root_uuid: Option<&str>) -> Option<String> {
    let ours =
        |parts: &[gpt::Partition]| root_uuid.is_none_or(|u| parts.iter().any(|p| p.uuid == u));
    disks().into_iter().find_map(|(disk, parts)| {
        let esp = parts.iter().find(|p| p.type_guid == ESP_TYPE)?;
        ours(&parts).then(|| gpt::partition_device(&disk, esp.number))
    })
}

/// Runs `f` on the ESP of the disk we booted from, mounted at `ESP_MOUNT`, then syncs and
/// unmounts it. `None` if it cannot be mounted.
fn with_esp<T>(root_uuid: Option<&str>, f: impl FnOnce(&Path) -> T) -> Option<T> {
    let Some(device) = esp_device(root_uuid) else {
        log!("no ESP found on the boot disk");
        return None;
    };
    let _ = fs::create_dir_all(ESP_MOUNT);
    if let Err(e) = mount(
        Some(device.as_str()),
        ESP_MOUNT,
        Some("vfat"),
        MsFlags::MS_NOATIME,
        None::<&str>,
    ) {
        log!("cannot mount the ESP {device} ({e})");
        return None;
    }
    let out = f(Path::new(ESP_MOUNT));
    nix::unistd::sync();
    let _ = nix::mount::umount(ESP_MOUNT);
    Some(out)
}

/// The boot entry files of `esp` that are compose's: file name and what the name says.
fn entry_files(esp: &Path) -> Vec<(String, EntryName)> {
    fs::read_dir(esp.join("loader/entries"))
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let parsed = EntryName::parse(&name)?;
            Some((name, parsed))
        })
        .collect()
}

/// Marks this boot good: drops the `+N` counter from the slot's entry, as
/// systemd-bless-boot does, so systemd-boot keeps choosing it. With a TPM, first says
/// whether PCR 11 is what the slot's entry predicts (one mount of the ESP for both).
fn bless(slot: &str, root_uuid: Option<&str>) {
    let measured = compose_boot::uki::measured_pcr11();
    let blessed = with_esp(root_uuid, |esp| {
        let entries = esp.join("loader/entries");
        let ours: Vec<(String, EntryName)> = entry_files(esp)
            .into_iter()
            .filter(|(_, n)| n.slot == slot)
            .collect();
        if let Some(measured) = &measured {
            let predicted = ours.iter().find_map(|(file, _)| {
                compose_boot::entry::Entry::parse(&fs::read_to_string(entries.join(file)).ok()?)?
                    .pcr11
            });
            report_measured_boot(slot, measured, predicted.as_deref());
        }
        let mut blessed = Vec::new();
        for (name, _) in &ours {
            if let Some(new) = blessed_name(name, slot) {
                match fs::rename(entries.join(name), entries.join(&new)) {
                    Ok(()) => blessed.push(new),
                    Err(e) => log!("cannot bless {name}: {e}; this boot stays unblessed"),
                }
            }
        }
        blessed
    });
    // Said only once it is on disk: whoever watches the console may power off now.
    match blessed {
        Some(names) => {
            for name in names {
                log!("blessed boot entry {name}");
            }
        }
        None => log!("this boot stays unblessed"),
    }
}

/// PCR 11 as measured (systemd-stub extends it with the UKI's sections), against what the
/// booted slot's entry predicts (the build computed it from the same sections). A mismatch
/// means this is not the UKI that was installed.
fn report_measured_boot(slot: &str, measured: &str, predicted: Option<&str>) {
    match predicted {
        Some(p) if p == measured => {
            log!("measured boot: PCR 11 is {measured}, as slot {slot}'s entry predicts")
        }
        Some(p) => log!(
            "measured boot: PCR 11 is {measured}, but slot {slot}'s entry predicts {p}: this is not the UKI that was installed"
        ),
        None => log!("measured boot: PCR 11 is {measured}; slot {slot}'s entry predicts none"),
    }
}

/// The booted root of `slot` has a block that does not match its hash tree (dm-verity
/// failed a read). Its boot entry is marked out of tries, so systemd-boot boots the other
/// slot next; returns whether that other slot has an entry still worth booting (blessed or
/// with tries left). Never a reboot loop: a slot marked so is only booted when nothing
/// else is left.
fn record_corruption(slot: &str, root_uuid: Option<&str>) -> bool {
    log!(
        "slot {slot}: a block of the root does not match its hash tree (dm-verity): the slot is corrupt; reinstall it with an update"
    );
    let other_usable = with_esp(root_uuid, |esp| {
        let entries = esp.join("loader/entries");
        let spent = EntryName::spent(slot);
        let mut other_usable = false;
        for (name, parsed) in entry_files(esp) {
            if parsed.slot != slot {
                other_usable |= !parsed.exhausted();
            } else if name != spent {
                match fs::rename(entries.join(&name), entries.join(&spent)) {
                    Ok(()) => log!("boot entry {name} is now {spent}: the other slot boots next"),
                    Err(e) => log!("cannot mark {name} out of tries: {e}"),
                }
            }
        }
        other_usable
    });
    other_usable.unwrap_or(false)
}

/// The root could not be mounted because dm-verity failed a read: mark the slot, then boot
/// the other one if it is worth booting, else power off (see `fatal`).
fn corrupt_root(slot: &str, root_uuid: &str) {
    if record_corruption(slot, Some(root_uuid)) {
        log!("rebooting in 5 s into the other slot");
        std::thread::sleep(Duration::from_secs(5));
        nix::unistd::sync();
        let _ = nix::sys::reboot::reboot(RebootMode::RB_AUTOBOOT);
    }
}

/// Whether the booted slot's entry still counts tries (it was never blessed).
fn on_trial(slot: &str, root_uuid: Option<&str>) -> bool {
    with_esp(root_uuid, |esp| {
        entry_files(esp)
            .iter()
            .any(|(_, n)| n.slot == slot && n.tries_left.is_some())
    })
    .unwrap_or(false)
}

/// Stops services in reverse order, syncs, unmounts and powers off or reboots (`mode`).
fn shutdown(table: &mut services::Table, mode: RebootMode) -> ! {
    log!(
        "{}",
        if mode == RebootMode::RB_POWER_OFF {
            "shutting down"
        } else {
            "rebooting"
        }
    );
    for s in table.services.iter().rev() {
        if let services::Status::Running { pid, .. } = s.status {
            if pid > 0 {
                let _ =
                    nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM);
                let until = Instant::now() + Duration::from_secs(3);
                let mut gone = false;
                while Instant::now() < until && !gone {
                    gone = matches!(
                        waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)),
                        Ok(WaitStatus::Exited(..) | WaitStatus::Signaled(..)) | Err(_)
                    );
                    std::thread::sleep(Duration::from_millis(20));
                }
                // Only a process that is still ours: a reaped pid may belong to another one now.
                if !gone {
                    let _ = nix::sys::signal::kill(
                        Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
        }
    }
    nix::unistd::sync();
    for target in ["/etc", "/var"] {
        let _ = nix::mount::umount2(target, nix::mount::MntFlags::MNT_DETACH);
    }
    nix::unistd::sync();
    let _ = nix::sys::reboot::reboot(mode);
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}

#[cfg(test)]
mod tests {
    use super::EtcOverlay;

    #[test]
    fn etc_overlay_keeps_changes_on_var() {
        assert_eq!(
            EtcOverlay::under("/sysroot").options(),
            "lowerdir=/sysroot/etc,upperdir=/sysroot/var/lib/compose/etc/upper,workdir=/sysroot/var/lib/compose/etc/work"
        );
    }
}
