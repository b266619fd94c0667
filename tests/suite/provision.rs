//! First-boot provisioning, for real: `compose provision check` locates every problem;
//! the `vm` image booted in QEMU with `--provision FILE` (a NoCloud CIDATA drive) comes up
//! with the file's hostname, a user whose SSH key logs in through the image's dropbear
//! (QEMU user networking, forwarded from 127.0.0.1), a file it owns and an extra service;
//! a second boot does not apply it again; a broken file on the drive stops the first boot
//! with its problems on the console and nothing applied.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{assert_exit, compose, project, text};

/// Builds `vm` (its busybox gives provisioned users' logins and commands `/bin/sh`) and
/// returns a private copy of its disk (image.json beside it) to boot in place.
fn disk(project: &Path) -> PathBuf {
    let out = project.join("out");
    let o = compose(
        project,
        &["build", "--device", "vm", "--out", out.to_str().unwrap()],
    );
    assert_exit(&o, 0);
    let boot = project.join("boot");
    std::fs::create_dir_all(&boot).unwrap();
    std::fs::copy(out.join("vm/disk.raw"), boot.join("disk.raw")).unwrap();
    std::fs::copy(out.join("vm/image.json"), boot.join("image.json")).unwrap();
    boot.join("disk.raw")
}

/// A free TCP port of 127.0.0.1.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A VM booted by `compose flash`; powered off when dropped.
struct Vm {
    flash: Child,
    serial: PathBuf,
}

impl Vm {
    fn boot(project: &Path, disk: &Path, seed: Option<&Path>, ssh_port: u16) -> Vm {
        static BOOTS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let boot = BOOTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let serial = project.join(format!("serial-{boot}.log"));
        let mut flash = Command::new(env!("CARGO_BIN_EXE_compose"));
        flash.current_dir(project).arg("flash").arg(disk).args([
            "--vm",
            "--in-place",
            "--timeout",
            "300",
        ]);
        if let Some(seed) = seed {
            flash.arg("--provision").arg(seed);
        }
        let flash = flash
            .arg("--forward")
            .arg(format!("{ssh_port}:22"))
            .arg("--serial")
            .arg(&serial)
            .env("COMPOSE_STORE", common::store())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Vm { flash, serial }
    }

    fn console(&self) -> String {
        std::fs::read_to_string(&self.serial).unwrap_or_default()
    }

    /// Waits until the console shows `marker`; `None` when the VM ended first.
    fn wait_for(&mut self, marker: &str, limit: Duration) -> Option<String> {
        let start = Instant::now();
        loop {
            let console = self.console();
            if console.contains(marker) {
                return Some(console);
            }
            if let Ok(Some(_)) = self.flash.try_wait() {
                return None;
            }
            assert!(
                start.elapsed() < limit,
                "no `{marker}` within {limit:?}:\n{console}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.flash.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.flash.wait();
    }
}

/// Runs `command` as `user` over SSH with `key`, retrying while dropbear comes up.
fn ssh(vm: &Vm, key: &Path, port: u16, user: &str, command: &str) -> String {
    let start = Instant::now();
    loop {
        let out = Command::new("ssh")
            .arg("-i")
            .arg(key)
            .args(["-p", &port.to_string()])
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=10",
                "-v",
            ])
            .arg(format!("{user}@127.0.0.1"))
            .arg(command)
            .output()
            .unwrap();
        if out.status.success() {
            return String::from_utf8_lossy(&out.stdout).into_owned();
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "ssh {user}@127.0.0.1:{port} `{command}` failed: {}\n--- console ---\n{}",
            String::from_utf8_lossy(&out.stderr),
            vm.console()
        );
        std::thread::sleep(Duration::from_secs(2));
    }
}

fn provisioning_file(public_key: &str) -> String {
    format!(
        r#"hostname = "provisioned-vm"

[[user]]
name = "alice"
groups = ["operators"]
ssh-keys = ["{public_key}"]

[[file]]
path = "/etc/greeting"
content = "hello from the provisioning file\n"
owner = "alice"
mode = "0640"

[[service]]
name = "hello"
exec = ["/bin/busybox", "sh", "-c", "echo provisioned-service: $(cat /etc/greeting) on $(/bin/busybox hostname)"]
type = "oneshot"
"#
    )
}

#[test]
fn provision_check_locates_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        provisioning_file("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBuPVFDyD1hr5M test"),
    )
    .unwrap();
    let o = compose(dir.path(), &["provision", "check", good.to_str().unwrap()]);
    assert_exit(&o, 0);
    assert!(text(&o).contains("users: alice"), "{}", text(&o));

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "hostname = \"no_underscores\"\n[[user]]\nname = \"root\"\n[[file]]\npath = \"/usr/x\"\ncontent = \"\"\n",
    )
    .unwrap();
    let o = compose(dir.path(), &["provision", "check", bad.to_str().unwrap()]);
    assert_ne!(o.status.code(), Some(0));
    let t = text(&o);
    for located in [
        "bad.toml:1:12: `no_underscores` is not a valid hostname",
        "bad.toml:3:8: user `root` belongs to the image",
        "bad.toml:5:8: `/usr/x` is on the read-only system",
    ] {
        assert!(t.contains(located), "{located}\n{t}");
    }
    assert!(t.contains("help:"), "{t}");

    // flash refuses it before any VM starts.
    let o = compose(
        dir.path(),
        &[
            "flash",
            "missing.raw",
            "--vm",
            "--provision",
            bad.to_str().unwrap(),
        ],
    );
    assert_ne!(o.status.code(), Some(0));
}

#[test]
fn a_provisioned_first_boot_applies_the_file_once_and_a_broken_file_stops_it() {
    let project = project();
    let p = project.path();
    let disk = disk(p);
    let key = p.join("id_ed25519");
    let o = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "alice@test", "-f"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let file = p.join("provision.toml");
    std::fs::write(&file, provisioning_file(public.trim())).unwrap();

    // First boot: applied before the services, which include the provisioned one.
    let port = free_port();
    let mut vm = Vm::boot(p, &disk, Some(&file), port);
    let console = vm
        .wait_for("compose: ready", Duration::from_secs(240))
        .unwrap_or_else(|| panic!("the VM ended:\n{}", vm.console()));
    assert!(
        console.contains("provisioning: applied"),
        "no provisioning line:\n{console}"
    );
    vm.wait_for(
        "provisioned-service: hello from the provisioning file on provisioned-vm",
        Duration::from_secs(60),
    )
    .expect("the provisioned service ran");
    let seen = ssh(
        &vm,
        &key,
        port,
        "alice",
        "hostname; id; cat /etc/greeting; ls -ld $HOME; echo changed by alice > /etc/greeting; sync",
    );
    for expected in [
        "provisioned-vm\n",
        "uid=1000(alice) gid=1000(alice) groups=1000(alice),1001(operators)",
        "hello from the provisioning file",
        "drwx------",
        "/var/home/alice",
    ] {
        assert!(seen.contains(expected), "{expected:?} in:\n{seen}");
    }
    drop(vm);

    // Second boot: the drive is still there, the file is not applied again (alice's
    // change stays), the service runs as one of the device's.
    let mut vm = Vm::boot(p, &disk, Some(&file), port);
    let console = vm
        .wait_for("provisioned-service:", Duration::from_secs(240))
        .unwrap_or_else(|| panic!("the VM ended:\n{}", vm.console()));
    assert!(
        console.contains("provisioning: already provisioned by this file"),
        "{console}"
    );
    assert!(!console.contains("provisioning: applied"), "{console}");
    assert!(
        console.contains("provisioned-service: changed by alice on provisioned-vm"),
        "{console}"
    );
    drop(vm);

    // Written to a disk with `--to`: the file goes onto its ESP, and the first boot (no
    // CIDATA drive) applies it from there.
    let target = p.join("boot/target.raw");
    let o = compose(
        p,
        &[
            "flash",
            p.join("out/vm/disk.raw").to_str().unwrap(),
            "--to",
            target.to_str().unwrap(),
            "--provision",
            file.to_str().unwrap(),
        ],
    );
    assert_exit(&o, 0);
    assert!(
        text(&o).contains("provisioning file at esp:/compose/provision.toml"),
        "{}",
        text(&o)
    );
    let mut vm = Vm::boot(p, &target, None, free_port());
    let console = vm
        .wait_for(
            "provisioned-service: hello from the provisioning file on provisioned-vm",
            Duration::from_secs(240),
        )
        .unwrap_or_else(|| panic!("the VM ended:\n{}", vm.console()));
    assert!(
        console.contains("from the ESP's /compose/provision.toml"),
        "{console}"
    );
    drop(vm);

    // A broken file on a fresh disk (a CIDATA drive made by hand, as a cloud would hand
    // it over): the first boot stops with the problem located, and applies nothing.
    let fresh = p.join("boot/fresh.raw");
    std::fs::copy(p.join("out/vm/disk.raw"), &fresh).unwrap();
    std::fs::copy(p.join("out/vm/image.json"), p.join("boot/image.json")).unwrap();
    let broken = p.join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(
        broken.join("compose-provision.toml"),
        "hostname = \"ok\"\n[[user]]\nname = \"Bad Name\"\n",
    )
    .unwrap();
    let seed = seed_by_hand(&broken);
    let mut vm = Vm::boot(p, &fresh, Some(&seed), free_port());
    let console = vm
        .wait_for("nothing was applied", Duration::from_secs(240))
        .unwrap_or_else(|| panic!("the VM ended:\n{}", vm.console()));
    assert!(
        console.contains("compose-provision.toml:3:8: `Bad Name` is not a valid user name"),
        "{console}"
    );
    assert!(!console.contains("compose: ready"), "{console}");
}

/// A NoCloud seed made with the usual tools: a FAT image labelled CIDATA holding the
/// files of `dir`.
fn seed_by_hand(dir: &Path) -> PathBuf {
    let image = dir.with_extension("img");
    let f = std::fs::File::create(&image).unwrap();
    f.set_len(2 << 20).unwrap();
    drop(f);
    let run = |c: &mut Command| {
        let o = c.output().unwrap();
        assert!(o.status.success(), "{c:?}: {o:?}");
    };
    run(Command::new("mkfs.vfat").args(["-n", "CIDATA"]).arg(&image));
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        run(Command::new("mcopy")
            .arg("-i")
            .arg(&image)
            .arg(entry.path())
            .arg(format!("::{}", entry.file_name().to_string_lossy()))
            .env("MTOOLS_SKIP_CHECK", "1"));
    }
    image
}
