//! `compose flash`: boot an image in QEMU (UEFI through OVMF, serial console, QMP socket;
//! for images with a screen a display, virtio keyboard and tablet, and the shell's control
//! port), or write it to a disk or file: checked whole first (its size and both GPT headers),
//! then verified back whole and partition by partition against `image.json`.

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::build::ImageInfo;
use crate::build::image::hash_ranges;
use crate::tool::ToolError;

/// Why flashing failed.
#[derive(Debug, thiserror::Error)]
pub enum FlashError {
    #[error("cannot {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error(transparent)]
    Seed(#[from] crate::seed::SeedError),
    #[error("no UEFI firmware found (looked for {looked}); install the Debian package `ovmf`")]
    NoFirmware { looked: String },
    #[error(
        "the VM did not get ready within {seconds} s (raise --timeout; without KVM, QEMU emulates the CPU and boots slowly)"
    )]
    Timeout { seconds: u64, console_tail: String },
    #[error("the image booted but did not get ready: a service failed")]
    NotReady { console_tail: String },
    #[error("stopped by a signal; the VM was shut down")]
    Interrupted,
    #[error("the VM's kernel panicked")]
    Panic { console_tail: String },
    #[error("the VM stopped before it was ready (QEMU exit status {status})")]
    Stopped {
        status: String,
        console_tail: String,
    },
    #[error("{target} is mounted ({line}); unmount it first")]
    Mounted { target: PathBuf, line: String },
    #[error("{target} is too small: {available} bytes, the image needs {needed}")]
    TooSmall {
        target: PathBuf,
        available: u64,
        needed: u64,
    },
    #[error("{image} is not a raw disk image; flash the disk.raw that `compose build` wrote")]
    NotRaw { image: PathBuf },
    #[error("{target} is the image itself")]
    SameFile { target: PathBuf },
    #[error(
        "verification failed: partition `{partition}` on {target} has SHA-256 {actual}, image.json says {expected}"
    )]
    Verify {
        target: PathBuf,
        partition: String,
        expected: String,
        actual: String,
    },
    #[error(
        "{path} has no image.json beside it to verify against; flash the disk.raw that `compose build` wrote"
    )]
    NoImageInfo { path: PathBuf },
    #[error(
        "{image} is {actual} bytes, but image.json says the build wrote {expected}: it was cut, grown or replaced since; nothing was written\nhelp: build it again (`compose build`) or copy it whole"
    )]
    WrongSize {
        image: PathBuf,
        actual: u64,
        expected: u64,
    },
    #[error(
        "{image} is not a whole disk image: {problem}; nothing was written\nhelp: build it again (`compose build`) or copy it whole"
    )]
    BadDisk { image: PathBuf, problem: String },
    #[error(
        "verification failed: the first {bytes} bytes of {target} have SHA-256 {actual}, the image {expected}; the target may be failing"
    )]
    VerifyDisk {
        target: PathBuf,
        bytes: u64,
        expected: String,
        actual: String,
    },
    #[error(
        "QEMU cannot open a window here: no GTK or SDL display module in {dir}; install the Debian package `qemu-system-gui`, or use --display headless"
    )]
    NoWindow { dir: String },
    #[error(
        "the image of device `{device}` cannot run on QEMU's hardware: its kernel lacks {}; QEMU was not started\nhelp: add {} to `[kernel] modules` of devices/{device}.toml beside the hardware's own drivers (small: they load only where the hardware is; list built-in ones too) and build again",
        missing.iter().map(|m| format!("{} ({})", m.module, m.for_what)).collect::<Vec<_>>().join(", "),
        missing.iter().map(|m| format!("\"{}\"", m.module)).collect::<Vec<_>>().join(", ")
    )]
    NoVmDrivers {
        device: String,
        missing: Vec<VmDriver>,
    },
}

/// A driver the kernel needs for one of the devices `--vm` gives the guest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VmDriver {
    pub module: &'static str,
    pub for_what: &'static str,
}

/// The drivers an image's kernel needs under `--vm`: virtio for the disk, the console port
/// and, with a screen, the display (virtio-vga, or bochs for `--gpu std`) and the virtio
/// keyboard and tablet. Images record the modules they load (`image.json`); an older
/// image.json without them is not checked.
pub fn missing_vm_drivers(info: &ImageInfo, screen: Screen, gpu: Gpu) -> Vec<VmDriver> {
    if info.kernel_modules.is_empty() {
        return Vec::new();
    }
    let mut needed = vec![
        ("virtio_pci", "QEMU's virtio devices"),
        ("virtio_blk", "the disk"),
    ];
    if screen != Screen::None {
        needed.push(match gpu {
            Gpu::Virtio => ("virtio_gpu", "the display, virtio-vga"),
            Gpu::Std => ("bochs", "the display, -vga std"),
        });
        needed.push(("virtio_input", "the keyboard and tablet"));
        needed.push(("virtio_console", "the shell's control port"));
    }
    // The build records module names with `_` (`modules.dep` spells some with `-`).
    let has = |m: &str| info.kernel_modules.iter().any(|k| k == m);
    needed
        .into_iter()
        .filter(|(m, _)| !has(m))
        .map(|(module, for_what)| VmDriver { module, for_what })
        .collect()
}

impl FlashError {
    /// The last console lines, for errors that have them.
    pub fn console_tail(&self) -> Option<&str> {
        match self {
            FlashError::Timeout { console_tail, .. }
            | FlashError::Panic { console_tail }
            | FlashError::NotReady { console_tail }
            | FlashError::Stopped { console_tail, .. } => Some(console_tail),
            _ => None,
        }
    }
}

/// How to run the VM.
#[derive(Debug, Clone)]
pub struct VmOptions {
    pub image: PathBuf,
    /// VM memory; `None` decides from the image (see `default_memory_mib`).
    pub memory_mib: Option<u32>,
    pub cpus: u32,
    pub timeout: Duration,
    /// Stop the VM once the readiness line appears.
    pub until_ready: bool,
    /// Boot the image itself instead of a throw-away qcow2 overlay.
    pub in_place: bool,
    /// Also write the console to this file.
    pub serial: Option<PathBuf>,
    /// The VM's screen; `None` decides from the image (see `Screen::for_image`).
    pub screen: Option<Screen>,
    /// The display adapter, for images with a screen.
    pub gpu: Gpu,
    /// Folder for QMP's socket (`qmp.sock`) and the shell's control port (`shell.sock`);
    /// a temporary one when not given.
    pub sockets: Option<PathBuf>,
    /// QEMU reads the serial console's input from our stdin (type into the VM).
    pub console_input: bool,
    /// A provisioning file (checked, packed into a NoCloud CIDATA drive) or such a drive,
    /// attached read-only as a second disk for init's first boot.
    pub provision: Option<PathBuf>,
    /// TCP ports of 127.0.0.1 forwarded into the VM: (host port, guest port).
    pub forwards: Vec<(u16, u16)>,
    /// OVMF's Secure Boot firmware (SMM on): the firmware starts only signed EFI programs
    /// once keys are enrolled. A fresh variable store is in setup mode, so systemd-boot
    /// enrols the image's keys and resets; the VM then reboots in place (no -no-reboot).
    pub secure_boot: bool,
    /// Keep the firmware's variables (enrolled keys, boot options) in this file across runs;
    /// made from OVMF's template when missing. Default: a fresh store each run.
    pub efi_vars: Option<PathBuf>,
    /// A TPM 2.0 (swtpm, fresh each run): systemd-stub measures the UKI into PCR 11.
    pub tpm: bool,
}

/// How a VM shows its screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Screen {
    /// No display adapter (serial console only).
    None,
    /// A display adapter nobody looks at: tests read it through QMP `screendump`.
    Headless,
    /// A QEMU window on the user's desktop.
    Window,
}

impl Screen {
    /// An image whose device has a display gets one: a window when there is a desktop to
    /// show it on, headless otherwise; other images get none.
    pub fn for_image(info: Option<&ImageInfo>) -> Screen {
        let has_display = info.is_some_and(|i| i.capabilities.contains("display"));
        let desktop =
            std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
        match (has_display, desktop) {
            (false, _) => Screen::None,
            (true, true) if window_display().is_ok() => Screen::Window,
            (true, _) => Screen::Headless,
        }
    }
}

/// Memory for a VM of this image: 512 MiB, 1.5 GiB for an image with a display. Its shell
/// renders with lavapipe (LLVM compiles its shaders) beside containers and wasm apps; in
/// 512 MiB such a guest ran out of memory and stalled in reclaim under TCG.
pub fn default_memory_mib(info: Option<&ImageInfo>) -> u32 {
    if info.is_some_and(|i| i.capabilities.contains("display")) {
        1536
    } else {
        512
    }
}

/// The display adapter of a VM with a screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Gpu {
    /// virtio-vga (the guest's virtio_gpu driver).
    #[default]
    Virtio,
    /// The standard VGA (`-vga std`, the guest's bochs driver).
    Std,
}

/// What a VM run showed.
#[derive(Debug, Clone, Serialize)]
pub struct VmReport {
    pub accel: String,
    /// The readiness line, if it appeared.
    pub ready: Option<String>,
    /// Seconds from QEMU's start to the readiness line.
    pub seconds_to_ready: Option<f64>,
    pub console: String,
    pub screen: Screen,
    /// Where QMP's and the shell's sockets were (gone once the VM stopped, unless chosen
    /// with `sockets`).
    pub sockets: PathBuf,
}

/// KVM when it works here, TCG (software emulation) otherwise. An openable /dev/kvm is not
/// enough: nested virtualization may refuse the host CPU model, or fail on the firmware's
/// first instructions ("KVM internal error", seen with OVMF under nested KVM). So the UEFI
/// firmware itself (`code`, with a private copy of `vars` in `scratch`) runs for two seconds
/// with the exact CPU settings, and QEMU is asked over QMP whether it is still running.
pub fn accelerator(code: &Path, vars: &Path, scratch: &Path) -> &'static str {
    if std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_err()
    {
        return "tcg";
    }
    let probe_vars = scratch.join("probe-vars.fd");
    if std::fs::copy(vars, &probe_vars).is_err() {
        return "tcg";
    }
    let probe = Command::new("qemu-system-x86_64")
        .args(["-accel", "kvm", "-cpu", "host", "-machine", "q35"])
        .args(["-display", "none", "-nodefaults", "-qmp", "stdio"])
        .arg("-drive")
        .arg(format!(
            "if=pflash,format=raw,readonly=on,file={}",
            code.display()
        ))
        .arg("-drive")
        .arg(format!(
            "if=pflash,format=raw,file={}",
            probe_vars.display()
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut probe) = probe else { return "tcg" };
    let mut stdin = probe.stdin.take().expect("piped");
    let _ = stdin.write_all(b"{\"execute\":\"qmp_capabilities\"}\n");
    let _ = stdin.flush();
    std::thread::sleep(Duration::from_secs(2));
    let _ = stdin.write_all(b"{\"execute\":\"query-status\"}\n");
    let _ = stdin.flush();
    let stdout = probe.stdout.take().expect("piped");
    let (answer, receive) = mpsc::channel();
    std::thread::spawn(move || {
        let usable = std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find(|l| l.contains("\"status\""))
            .is_some_and(|l| l.contains("\"running\": true"));
        let _ = answer.send(usable);
    });
    let usable = receive
        .recv_timeout(Duration::from_secs(20))
        .unwrap_or(false);
    drop(stdin);
    let _ = probe.kill();
    let _ = probe.wait();
    let _ = std::fs::remove_file(&probe_vars);
    if usable { "kvm" } else { "tcg" }
}

fn firmware(secure_boot: bool) -> Result<(PathBuf, PathBuf), FlashError> {
    let secboot = [(
        "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd",
        "/usr/share/OVMF/OVMF_VARS_4M.fd",
    )];
    let plain = [
        (
            "/usr/share/OVMF/OVMF_CODE_4M.fd",
            "/usr/share/OVMF/OVMF_VARS_4M.fd",
        ),
        (
            "/usr/share/OVMF/OVMF_CODE.fd",
            "/usr/share/OVMF/OVMF_VARS.fd",
        ),
    ];
    let candidates: &[(&str, &str)] = if secure_boot { &secboot } else { &plain };
    candidates
        .iter()
        .find(|(code, vars)| Path::new(code).is_file() && Path::new(vars).is_file())
        .map(|(c, v)| (PathBuf::from(c), PathBuf::from(v)))
        .ok_or_else(|| FlashError::NoFirmware {
            looked: candidates
                .iter()
                .map(|(c, _)| *c)
                .collect::<Vec<_>>()
                .join(", "),
        })
}

/// What systemd-boot prints when it enrols Secure Boot keys (then it resets the machine).
const ENROLLING: &str = "Enrolling secure boot keys from directory";

/// One QEMU process, its swtpm, and its output.
struct Qemu {
    child: KillOnDrop,
    _tpm: Option<KillOnDrop>,
    errors: std::thread::JoinHandle<String>,
    receive: mpsc::Receiver<String>,
}

/// Where swtpm's control socket is, in `scratch`.
fn swtpm_socket(scratch: &Path) -> PathBuf {
    scratch.join("tpm").join("swtpm.sock")
}

/// Starts swtpm (a software TPM 2.0) on its socket in `scratch`, once the socket is there;
/// it ends when QEMU closes the socket, or is killed when dropped.
fn start_swtpm(scratch: &Path) -> Result<KillOnDrop, FlashError> {
    let state = scratch.join("tpm");
    std::fs::create_dir_all(&state).map_err(|source| FlashError::Io {
        what: "create",
        path: state.clone(),
        source,
    })?;
    let socket = swtpm_socket(scratch);
    let _ = std::fs::remove_file(&socket);
    let child = Command::new("swtpm")
        .args(["socket", "--tpm2", "--tpmstate"])
        .arg(format!("dir={}", state.display()))
        .arg("--ctrl")
        .arg(format!("type=unixio,path={}", socket.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(ToolError::missing("swtpm", "swtpm"))?;
    let child = KillOnDrop(child);
    let until = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        if Instant::now() > until {
            return Err(ToolError::Failed {
                tool: "swtpm".into(),
                message: format!("its socket {} did not appear within 10 s", socket.display()),
            }
            .into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(child)
}

/// A temporary folder removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tail(console: &str) -> String {
    let lines: Vec<&str> = console.lines().collect();
    lines[lines.len().saturating_sub(25)..].join("\n")
}

/// Boots the image; `echo` receives every console line as it arrives.
pub fn run_vm(options: &VmOptions, echo: &mut dyn FnMut(&str)) -> Result<VmReport, FlashError> {
    let (code, vars_template) = firmware(options.secure_boot)?;
    let image = std::fs::canonicalize(&options.image).map_err(|source| FlashError::Io {
        what: "open",
        path: options.image.clone(),
        source,
    })?;
    let scratch = Scratch(std::env::temp_dir().join(format!(
        "compose-vm-{}-{}",
        std::process::id(),
        nanos()
    )));
    std::fs::create_dir_all(&scratch.0).map_err(|source| FlashError::Io {
        what: "create",
        path: scratch.0.clone(),
        source,
    })?;
    let vars = match &options.efi_vars {
        Some(kept) if kept.is_file() => kept.clone(),
        kept => {
            let vars = kept
                .clone()
                .unwrap_or_else(|| scratch.0.join("OVMF_VARS.fd"));
            std::fs::copy(&vars_template, &vars).map_err(|source| FlashError::Io {
                what: "copy",
                path: vars_template.clone(),
                source,
            })?;
            vars
        }
    };
    let format = if image.extension().is_some_and(|e| e == "qcow2") {
        "qcow2"
    } else {
        "raw"
    };
    let disk = if options.in_place {
        format!("file={},if=none,id=disk0,format={format}", image.display())
    } else {
        // The built image is never modified: the VM writes to a throw-away overlay.
        let overlay = scratch.0.join("overlay.qcow2");
        crate::tool::run(
            Command::new("qemu-img")
                .args(["create", "-q", "-f", "qcow2", "-F", format, "-b"])
                .arg(&image)
                .arg(&overlay),
            "qemu-img",
            "qemu-utils",
        )?;
        format!("file={},if=none,id=disk0,format=qcow2", overlay.display())
    };
    let info = image
        .parent()
        .map(|d| d.join("image.json"))
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|t| serde_json::from_str::<ImageInfo>(&t).ok());
    let screen = options
        .screen
        .unwrap_or_else(|| Screen::for_image(info.as_ref()));
    if let Some(info) = &info {
        let missing = missing_vm_drivers(info, screen, options.gpu);
        if !missing.is_empty() {
            return Err(FlashError::NoVmDrivers {
                device: info.device.clone(),
                missing,
            });
        }
    }
    let sockets = match &options.sockets {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|source| FlashError::Io {
                what: "create",
                path: dir.clone(),
                source,
            })?;
            for name in ["qmp.sock", "shell.sock"] {
                let _ = std::fs::remove_file(dir.join(name));
            }
            dir.clone()
        }
        None => scratch.0.clone(),
    };
    let accel = accelerator(&code, &vars_template, &scratch.0);
    let mut nic = "user,id=net0".to_string();
    for (host, guest) in &options.forwards {
        nic.push_str(&format!(",hostfwd=tcp:127.0.0.1:{host}-:{guest}"));
    }
    let seed = match &options.provision {
        Some(file) => Some(crate::seed::seed_for(file, &scratch.0)?),
        None => None,
    };
    let mut cmd = Command::new("qemu-system-x86_64");
    if options.tpm {
        cmd.arg("-chardev")
            .arg(format!(
                "socket,id=chrtpm,path={}",
                swtpm_socket(&scratch.0).display()
            ))
            .args(["-tpmdev", "emulator,id=tpm0,chardev=chrtpm"])
            .args(["-device", "tpm-tis,tpmdev=tpm0"]);
    }
    if options.secure_boot {
        // OVMF's Secure Boot build keeps its variables in SMM, out of the OS's reach.
        cmd.args(["-machine", "q35,smm=on"])
            .args(["-global", "driver=cfi.pflash01,property=secure,value=on"]);
    } else {
        cmd.args(["-machine", "q35", "-no-reboot"]);
    }
    cmd.args(["-accel", accel, "-m"])
        .arg(
            options
                .memory_mib
                .unwrap_or_else(|| default_memory_mib(info.as_ref()))
                .to_string(),
        )
        .arg("-smp")
        .arg(options.cpus.to_string())
        .args(["-monitor", "none", "-serial", "stdio"])
        .arg("-drive")
        .arg(format!(
            "if=pflash,format=raw,readonly=on,file={}",
            code.display()
        ))
        .arg("-drive")
        .arg(format!("if=pflash,format=raw,file={}", vars.display()))
        .arg("-drive")
        .arg(disk)
        // The only boot device the firmware is told of: OVMF then drops its network and
        // shell boot options, so when systemd-boot cannot start an entry (a UKI that Secure
        // Boot refuses) the firmware comes straight back to the disk.
        .args(["-device", "virtio-blk-pci,drive=disk0,bootindex=0"])
        // User networking: the guest reaches out through QEMU; nothing listens on the host
        // but the ports asked for, on 127.0.0.1 only.
        .arg("-netdev")
        .arg(nic)
        // No iPXE option ROM: a compose VM never boots from the network.
        .args(["-device", "virtio-net-pci,netdev=net0,romfile="])
        .arg("-qmp")
        .arg(format!(
            "unix:{},server=on,wait=off",
            sockets.join("qmp.sock").display()
        ))
        .args(screen_args(screen, options.gpu, &sockets)?)
        .stdin(if options.console_input {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(seed) = &seed {
        cmd.arg("-drive").arg(format!(
            "file={},if=virtio,format=raw,readonly=on",
            seed.display()
        ));
    }
    if accel == "kvm" {
        cmd.args(["-cpu", "host"]);
    }
    let mut serial = match &options.serial {
        Some(path) => Some(
            std::fs::File::create(path).map_err(|source| FlashError::Io {
                what: "create",
                path: path.clone(),
                source,
            })?,
        ),
        None => None,
    };
    let started = Instant::now();
    let spawn = |cmd: &mut Command| -> Result<Qemu, FlashError> {
        // swtpm ends with the QEMU that used it: each QEMU gets its own.
        let tpm = if options.tpm {
            Some(start_swtpm(&scratch.0)?)
        } else {
            None
        };
        let mut child = cmd
            .spawn()
            .map_err(ToolError::missing("qemu-system-x86_64", "qemu-system-x86"))?;
        let stdout = child.stdout.take().expect("piped");
        let mut stderr = child.stderr.take().expect("piped");
        let errors = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let (lines, receive) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            let mut reader = std::io::BufReader::new(stdout);
            let mut buf = Vec::new();
            while reader.read_until(b'\n', &mut buf).is_ok_and(|n| n > 0) {
                let _ = lines.send(String::from_utf8_lossy(&buf).into_owned());
                buf.clear();
            }
        });
        // However this function ends (an error, a panic), QEMU does not outlive it.
        Ok(Qemu {
            child: KillOnDrop(child),
            _tpm: tpm,
            errors,
            receive,
        })
    };
    let mut qemu = spawn(&mut cmd)?;
    // A first boot in setup mode: systemd-boot enrols the image's Secure Boot keys, then
    // resets (which ends QEMU, run with -no-reboot): boot once more, on the enrolled store.
    let mut enrolled = false;
    let mut run_from = 0;
    // SIGTERM, SIGINT or SIGHUP to us ends the loop, so QEMU is killed on the way out
    // instead of outliving us.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let signals: Vec<signal_hook::SigId> = [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ]
    .into_iter()
    .filter_map(|s| signal_hook::flag::register(s, stop.clone()).ok())
    .collect();
    let mut console = String::new();
    let mut ready = None;
    let mut seconds_to_ready = None;
    let mut settle: Option<Instant> = None;
    let outcome = loop {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            break Err(FlashError::Interrupted);
        }
        if settle.is_some_and(|t| Instant::now() > t) {
            break Ok(());
        }
        let left = options.timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            break Err(FlashError::Timeout {
                seconds: options.timeout.as_secs(),
                console_tail: String::new(),
            });
        }
        // QEMU's exit status once it has ended.
        let ended = match qemu
            .receive
            .recv_timeout(left.min(Duration::from_millis(200)))
        {
            Ok(line) => {
                if let Some(file) = serial.as_mut() {
                    let _ = file.write_all(line.as_bytes());
                }
                echo(line.trim_end_matches(['\r', '\n']));
                console.push_str(&line);
                if line.contains("Kernel panic") {
                    break Err(FlashError::Panic {
                        console_tail: String::new(),
                    });
                }
                if let Some(at) = line.find("compose: ready ") {
                    ready = Some(line[at..].trim_end().to_string());
                    seconds_to_ready = Some(started.elapsed().as_secs_f64());
                    settle = options
                        .until_ready
                        .then(|| Instant::now() + Duration::from_secs(10));
                }
                // Init blesses the boot right after the readiness line: let it finish.
                if options.until_ready
                    && ready.is_some()
                    && (line.contains("blessed boot entry") || line.contains("unblessed"))
                {
                    break Ok(());
                }
                if options.until_ready && line.contains("compose-init: not ready") {
                    break Err(FlashError::NotReady {
                        console_tail: String::new(),
                    });
                }
                None
            }
            Err(mpsc::RecvTimeoutError::Timeout) => qemu
                .child
                .0
                .try_wait()
                .ok()
                .flatten()
                .map(|s| s.to_string()),
            Err(mpsc::RecvTimeoutError::Disconnected) => Some(
                qemu.child
                    .0
                    .wait()
                    .map(|s| s.to_string())
                    .unwrap_or_default(),
            ),
        };
        let Some(status) = ended else {
            continue;
        };
        if !enrolled && ready.is_none() && console[run_from..].contains(ENROLLING) {
            enrolled = true;
            run_from = console.len();
            qemu = spawn(&mut cmd)?;
            continue;
        }
        break if ready.is_some() || !options.until_ready {
            Ok(())
        } else {
            Err(FlashError::Stopped {
                status,
                console_tail: String::new(),
            })
        };
    };
    let Qemu { child, errors, .. } = qemu;
    drop(child);
    for id in signals {
        signal_hook::low_level::unregister(id);
    }
    let qemu_errors = errors.join().unwrap_or_default();
    if !qemu_errors.trim().is_empty() {
        console.push_str(&format!("[qemu] {}\n", qemu_errors.trim()));
    }
    let console_tail = tail(&console);
    match outcome {
        Ok(()) => Ok(VmReport {
            accel: accel.into(),
            ready,
            seconds_to_ready,
            console,
            screen,
            sockets,
        }),
        Err(FlashError::Timeout { seconds, .. }) => Err(FlashError::Timeout {
            seconds,
            console_tail,
        }),
        Err(FlashError::Panic { .. }) => Err(FlashError::Panic { console_tail }),
        Err(FlashError::NotReady { .. }) => Err(FlashError::NotReady { console_tail }),
        Err(FlashError::Stopped { status, .. }) => Err(FlashError::Stopped {
            status,
            console_tail,
        }),
        Err(other) => Err(other),
    }
}

/// QEMU's display arguments: the adapter, the window (or none), the virtio keyboard and
/// tablet, and the virtio-serial port the shell is controlled through.
fn screen_args(screen: Screen, gpu: Gpu, sockets: &Path) -> Result<Vec<String>, FlashError> {
    let mut args: Vec<String> = Vec::new();
    let display = if screen == Screen::Window {
        window_display()?
    } else {
        "none"
    };
    args.extend(["-display".into(), display.into()]);
    if screen == Screen::None {
        args.extend(["-vga".into(), "none".into()]);
        return Ok(args);
    }
    match gpu {
        Gpu::Virtio => args.extend([
            "-vga".into(),
            "none".into(),
            "-device".into(),
            "virtio-vga".into(),
        ]),
        Gpu::Std => args.extend(["-vga".into(), "std".into()]),
    }
    args.extend(
        [
            "-device",
            "virtio-keyboard-pci",
            "-device",
            "virtio-tablet-pci",
            "-device",
            "virtio-serial-pci",
        ]
        .map(String::from),
    );
    args.push("-chardev".into());
    args.push(format!(
        "socket,id=shell,path={},server=on,wait=off",
        sockets.join("shell.sock").display()
    ));
    args.push("-device".into());
    args.push("virtserialport,chardev=shell,name=org.compose.shell".into());
    Ok(args)
}

/// QEMU's window: GTK or SDL, whichever display module Debian's qemu-system-gui installed.
fn window_display() -> Result<&'static str, FlashError> {
    const MODULES: &str = "/usr/lib/x86_64-linux-gnu/qemu";
    for (module, display) in [("ui-gtk.so", "gtk"), ("ui-sdl.so", "sdl")] {
        if Path::new(MODULES).join(module).exists() {
            return Ok(display);
        }
    }
    Err(FlashError::NoWindow {
        dir: MODULES.into(),
    })
}

/// A child process killed and reaped when dropped.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// What `--to` wrote and verified.
#[derive(Debug, Clone, Serialize)]
pub struct WriteReport {
    pub target: PathBuf,
    pub bytes: u64,
    pub verified: Vec<String>,
    /// Where the provisioning file went, when one was given.
    pub provision: Option<String>,
}

/// Where `write_to` puts a provisioning file on the target's ESP (init reads it there at
/// the first boot when no CIDATA drive is attached).
pub const PROVISION_ON_ESP: &str = "compose/provision.toml";

/// Writes `image` to `target` (a block device or a file, never truncated) once the image
/// proves whole (its size as `image.json` records, both GPT headers in place), then reads the
/// disk back whole and every partition against the `image.json` beside the image. A provisioning file
/// is checked before anything is written, and copied onto the verified target's ESP.
pub fn write_to(
    image: &Path,
    target: &Path,
    provision: Option<&Path>,
) -> Result<WriteReport, FlashError> {
    if let Some(file) = provision {
        crate::seed::check(file)?;
    }
    let info_path = image.with_file_name("image.json");
    let info: ImageInfo = std::fs::read_to_string(&info_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .ok_or_else(|| FlashError::NoImageInfo {
            path: image.to_path_buf(),
        })?;
    let size = std::fs::metadata(image)
        .map_err(|source| FlashError::Io {
            what: "open",
            path: image.to_path_buf(),
            source,
        })?
        .len();
    if image.extension().is_none_or(|e| e != "raw") {
        return Err(FlashError::NotRaw {
            image: image.to_path_buf(),
        });
    }
    check_whole(image, &info, size)?;
    // The same file, also through another name or a hard link.
    if let (Ok(a), Ok(b)) = (std::fs::metadata(image), std::fs::metadata(target)) {
        use std::os::unix::fs::MetadataExt;
        if (a.dev(), a.ino()) == (b.dev(), b.ino()) {
            return Err(FlashError::SameFile {
                target: target.to_path_buf(),
            });
        }
    }
    refuse_mounted(target)?;
    let is_block = std::fs::metadata(target).is_ok_and(|m| {
        use std::os::unix::fs::FileTypeExt;
        m.file_type().is_block_device()
    });
    if is_block {
        let mut dev = std::fs::File::open(target).map_err(|source| FlashError::Io {
            what: "open",
            path: target.to_path_buf(),
            source,
        })?;
        use std::io::Seek;
        let available = dev
            .seek(std::io::SeekFrom::End(0))
            .map_err(|source| FlashError::Io {
                what: "size",
                path: target.to_path_buf(),
                source,
            })?;
        if available < size {
            return Err(FlashError::TooSmall {
                target: target.to_path_buf(),
                available,
                needed: size,
            });
        }
    }
    let mut input = std::fs::File::open(image).map_err(|source| FlashError::Io {
        what: "open",
        path: image.to_path_buf(),
        source,
    })?;
    // Never truncated: a larger target keeps its size (and what lies past the image).
    let mut output = std::fs::OpenOptions::new()
        .write(true)
        .create(!is_block)
        .truncate(false)
        .open(target)
        .map_err(|source| FlashError::Io {
            what: "open",
            path: target.to_path_buf(),
            source,
        })?;
    let mut buf = vec![0u8; 4 << 20];
    let mut written = Sha256::new();
    loop {
        let n = input.read(&mut buf).map_err(|source| FlashError::Io {
            what: "read",
            path: image.to_path_buf(),
            source,
        })?;
        if n == 0 {
            break;
        }
        written.update(&buf[..n]);
        output
            .write_all(&buf[..n])
            .map_err(|source| FlashError::Io {
                what: "write",
                path: target.to_path_buf(),
                source,
            })?;
    }
    output.sync_all().map_err(|source| FlashError::Io {
        what: "sync",
        path: target.to_path_buf(),
        source,
    })?;
    drop(output);
    // Read back once: the whole disk against what was written, each partition against
    // image.json (which names it).
    let ranges: Vec<(u64, u64)> = std::iter::once((0, size))
        .chain(info.partitions.iter().map(|p| (p.offset, p.size)))
        .collect();
    let mut found = hash_ranges(target, &ranges)
        .map_err(|e| FlashError::Io {
            what: "read back",
            path: target.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })?
        .into_iter();
    let expected = hex::encode(written.finalize());
    let actual = found.next().unwrap_or_default();
    if actual != expected {
        return Err(FlashError::VerifyDisk {
            target: target.to_path_buf(),
            bytes: size,
            expected,
            actual,
        });
    }
    let mut verified = vec!["disk".to_string()];
    for (p, actual) in info.partitions.iter().zip(found) {
        if actual != p.sha256 {
            return Err(FlashError::Verify {
                target: target.to_path_buf(),
                partition: p.name.clone(),
                expected: p.sha256.clone(),
                actual,
            });
        }
        verified.push(p.name.clone());
    }
    let mut provisioned = None;
    if let Some(file) = provision {
        let esp = info
            .partitions
            .iter()
            .find(|p| p.name == "esp")
            .ok_or_else(|| FlashError::Io {
                what: "find the ESP of",
                path: image.to_path_buf(),
                source: std::io::Error::other("image.json lists no `esp` partition"),
            })?;
        crate::tool::run(
            crate::tool::mtools("mcopy", &format!("{}@@{}", target.display(), esp.offset))
                .arg("-o")
                .arg(file)
                .arg(format!("::{PROVISION_ON_ESP}")),
            "mcopy",
            "mtools",
        )?;
        provisioned = Some(format!("esp:/{PROVISION_ON_ESP}"));
    }
    Ok(WriteReport {
        target: target.to_path_buf(),
        bytes: size,
        verified,
        provision: provisioned,
    })
}

/// Refuses an image that is not the disk the build wrote: another size than image.json
/// records, or a GPT whose backup header is not in the last sector (a cut or grown file).
fn check_whole(image: &Path, info: &ImageInfo, size: u64) -> Result<(), FlashError> {
    let name = image
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // By its name, or as the disk the build wrote when it was renamed.
    if let Some(&expected) = info.files.get(&name).or_else(|| info.files.get("disk.raw"))
        && expected != size
    {
        return Err(FlashError::WrongSize {
            image: image.to_path_buf(),
            actual: size,
            expected,
        });
    }
    let mut file = std::fs::File::open(image).map_err(|source| FlashError::Io {
        what: "open",
        path: image.to_path_buf(),
        source,
    })?;
    compose_boot::gpt::check_both_headers(&mut file, size).map_err(|problem| FlashError::BadDisk {
        image: image.to_path_buf(),
        problem,
    })
}

/// A target that is mounted, or whose partitions are, is refused.
fn refuse_mounted(target: &Path) -> Result<(), FlashError> {
    let Ok(real) = std::fs::canonicalize(target) else {
        return Ok(());
    };
    let real = real.to_string_lossy().into_owned();
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    for line in mounts.lines() {
        let device = line.split_whitespace().next().unwrap_or("");
        // The target itself, or one of its partitions (sda1, nvme0n1p1).
        let mounted = device.strip_prefix(real.as_str()).is_some_and(|rest| {
            rest.is_empty()
                || rest
                    .trim_start_matches('p')
                    .chars()
                    .all(|c| c.is_ascii_digit())
        });
        if mounted {
            return Err(FlashError::Mounted {
                target: target.to_path_buf(),
                line: line.to_string(),
            });
        }
    }
    Ok(())
}
