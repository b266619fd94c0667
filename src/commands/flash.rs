//! `compose flash`: boot an image in a VM (QEMU, UEFI), or write it to a disk or file and
//! verify it.

use std::path::PathBuf;

use crate::{CliError, Outcome, print};

#[derive(Debug, clap::Args)]
pub struct Args {
    image: PathBuf,
    /// Boot it in QEMU with UEFI firmware and the serial console on stdout.
    #[arg(long, conflicts_with = "to", required_unless_present = "to")]
    vm: bool,
    /// Write it to this block device or file, then read it back and verify it.
    #[arg(long, value_name = "PATH")]
    to: Option<PathBuf>,
    /// VM memory in MiB [default: 512, 1536 for an image with a display].
    #[arg(long)]
    memory: Option<u32>,
    #[arg(long, default_value_t = 2)]
    cpus: u32,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Exit 0 as soon as the image prints its readiness line.
    #[arg(long)]
    until_ready: bool,
    /// Also write the console to FILE.
    #[arg(long, value_name = "FILE")]
    serial: Option<PathBuf>,
    /// Boot the image file itself (its /var and boot counters change) instead of an overlay.
    #[arg(long)]
    in_place: bool,
    /// The VM's screen: a QEMU window, headless (read it with QMP screendump), or none.
    /// Default: images of devices with a display get a window on a desktop, else headless.
    #[arg(long, value_enum, requires = "vm")]
    display: Option<DisplayArg>,
    /// The display adapter: virtio (virtio-vga) or std (-vga std, the bochs driver).
    #[arg(long, value_enum, default_value = "virtio", requires = "vm")]
    gpu: GpuArg,
    /// Put QMP's socket (qmp.sock) and the shell's control port (shell.sock) in DIR,
    /// for `compose shell --vm DIR ...` and QMP clients.
    #[arg(long, value_name = "DIR", requires = "vm")]
    sockets: Option<PathBuf>,
    /// Type into the serial console: QEMU reads this command's standard input.
    #[arg(long, requires = "vm")]
    console: bool,
    /// Provision the first boot: with --vm, a provisioning file (checked first, then
    /// packed into a NoCloud CIDATA drive) or a CIDATA drive image, attached as a second
    /// disk; with --to, a provisioning file, checked, then copied onto the ESP.
    #[arg(long, value_name = "FILE")]
    provision: Option<PathBuf>,
    /// Forward 127.0.0.1:HOST into the VM's port GUEST (TCP), e.g. 2222:22 for SSH.
    #[arg(long, value_name = "HOST:GUEST", value_parser = parse_forward, requires = "vm")]
    forward: Vec<(u16, u16)>,
    /// Boot OVMF's Secure Boot firmware: a fresh variable store is in setup mode, so
    /// systemd-boot enrols the image's keys (`compose keys generate` made them) and the VM
    /// reboots into Secure Boot, in the same run.
    #[arg(long, requires = "vm")]
    secure_boot: bool,
    /// Keep the firmware's variables in FILE across runs (made when missing).
    #[arg(long, value_name = "FILE", requires = "vm")]
    efi_vars: Option<PathBuf>,
    /// Give the VM a TPM 2.0 (swtpm): systemd-stub measures the UKI into PCR 11, and init
    /// says whether it matches what the build predicted.
    #[arg(long, requires = "vm")]
    tpm: bool,
    #[arg(long)]
    json: bool,
}

/// `HOST:GUEST` port numbers for `--forward`.
fn parse_forward(s: &str) -> Result<(u16, u16), String> {
    let (host, guest) = s
        .split_once(':')
        .ok_or_else(|| format!("`{s}` is not HOST:GUEST (e.g. 2222:22)"))?;
    let port = |p: &str| {
        p.parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("`{p}` is not a port number (1-65535)"))
    };
    Ok((port(host)?, port(guest)?))
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum DisplayArg {
    Window,
    Headless,
    None,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum GpuArg {
    Virtio,
    Std,
}

pub fn exec(args: Args) -> Result<Outcome, CliError> {
    use compose_core::flash::{Gpu, Screen};
    if let Some(target) = &args.to {
        let report = compose_core::flash::write_to(&args.image, target, args.provision.as_deref())?;
        print::written(&report, args.json);
        return Ok(Outcome::Ok);
    }
    debug_assert!(args.vm);
    let options = compose_core::flash::VmOptions {
        image: args.image,
        memory_mib: args.memory,
        cpus: args.cpus,
        timeout: std::time::Duration::from_secs(args.timeout),
        until_ready: args.until_ready,
        in_place: args.in_place,
        serial: args.serial,
        screen: args.display.map(|d| match d {
            DisplayArg::Window => Screen::Window,
            DisplayArg::Headless => Screen::Headless,
            DisplayArg::None => Screen::None,
        }),
        gpu: match args.gpu {
            GpuArg::Virtio => Gpu::Virtio,
            GpuArg::Std => Gpu::Std,
        },
        sockets: args.sockets,
        console_input: args.console,
        provision: args.provision,
        forwards: args.forward,
        secure_boot: args.secure_boot,
        efi_vars: args.efi_vars,
        tpm: args.tpm,
    };
    let json = args.json;
    let mut echo = |line: &str| {
        if !json {
            println!("{line}");
        }
    };
    let report = compose_core::flash::run_vm(&options, &mut echo)?;
    print::vm(&report, json);
    Ok(Outcome::Ok)
}
