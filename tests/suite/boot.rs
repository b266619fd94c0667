//! The composed `vm` image boots: UEFI (OVMF) -> systemd-boot -> Linux -> compose-init,
//! in a real QEMU (TCG here, KVM where it works). Each boot takes about 15 s under TCG.

use crate::common;

use std::path::Path;
use std::process::Output;

use common::{assert_exit, compose, project};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct VmJson {
    ready: Option<String>,
    seconds_to_ready: Option<f64>,
    console: String,
}

#[derive(Debug, Deserialize)]
struct InspectJson {
    boot_entries: Vec<EntryJson>,
}

#[derive(Debug, Deserialize)]
struct EntryJson {
    file: String,
    slot: Option<String>,
    tries_left: Option<u32>,
}

/// Builds `vm` in `project` and returns a private copy of its disk to boot in place.
fn disk(project: &Path) -> std::path::PathBuf {
    let out = project.join("out");
    let o = compose(
        project,
        &["build", "--device", "vm", "--out", out.to_str().unwrap()],
    );
    assert_exit(&o, 0);
    let copy = project.join("boot.raw");
    std::fs::copy(out.join("vm/disk.raw"), &copy).unwrap();
    std::fs::copy(out.join("vm/image.json"), project.join("image.json")).unwrap();
    copy
}

fn boot(project: &Path, disk: &Path) -> Output {
    flash_in_place(project, disk, &["--until-ready"])
}

/// `compose flash DISK --vm --in-place --json` with `more` options.
fn flash_in_place(project: &Path, disk: &Path, more: &[&str]) -> Output {
    let mut args = vec![
        "flash",
        disk.to_str().unwrap(),
        "--vm",
        "--in-place",
        "--timeout",
        "240",
        "--json",
    ];
    args.extend_from_slice(more);
    compose(project, &args)
}

fn entry(project: &Path, disk: &Path, slot: &str) -> EntryJson {
    let o = compose(project, &["inspect", disk.to_str().unwrap(), "--json"]);
    assert_exit(&o, 0);
    let x: InspectJson = serde_json::from_slice(&o.stdout).unwrap();
    x.boot_entries
        .into_iter()
        .find(|e| e.slot.as_deref() == Some(slot))
        .unwrap()
}

#[test]
fn vm_boots_to_ready_runs_services_keeps_var_and_etc_and_blesses_the_entry() {
    let project = project();
    common::add_oci_app(project.path());
    // The same image in a registry on the host, for the device to pull while it runs.
    let registry = common::registry::Registry::start();
    let layout = project.path().join("images/busybox");
    registry.push(&format!("oci:{}:1.0", layout.display()), "busybox:1.0");
    let pushed = compose_oci::Image::open_with(
        &compose_oci::ImageRef::parse(&format!("docker://{}/busybox:1.0", registry.addr)).unwrap(),
        "amd64",
        &registry.access("secret"),
    )
    .unwrap();
    let pulled = format!("busybox@{}", pushed.digest);
    common::add_oci_pull(project.path(), &registry, &pulled);
    let disk = disk(project.path());

    let first = boot(project.path(), &disk);
    assert_exit(&first, 0);
    let first: VmJson = serde_json::from_slice(&first.stdout).unwrap();
    let ready = first.ready.expect("a readiness line");
    assert!(
        first
            .console
            .contains("compose-init: slot a: root /dev/vda2 opened through dm-verity as /dev/dm-0"),
        "the root is read through dm-verity:\n{}",
        first.console
    );
    assert!(
        ready.contains("device=vm") && ready.contains("slot=a"),
        "{ready}"
    );
    eprintln!(
        "first boot: ready after {:.1} s: {ready}",
        first.seconds_to_ready.unwrap()
    );
    assert!(
        first
            .console
            .contains("boot-log: boot 1 of this disk (/etc says 1)"),
        "a service from a manifest ran:\n{}",
        first.console
    );
    // The OCI app ran with its image's defaults, in its own namespaces, its files owned as
    // the image owns them (its user's folder and note are its user's alone).
    assert!(
        first.console.contains("hello from oci as 1000 in /srv")
            && first.console.contains("devices 1")
            && first.console.contains("only app reads this"),
        "the OCI image's app ran as a service with its config:\n{}",
        first.console
    );
    // Pulled from the host's registry while the device ran (TLS with the registry's CA,
    // its credentials), run with one grant and its own command, then collected.
    let image = format!("docker://10.0.2.2:{}/{pulled}", registry.port());
    for line in [
        format!("{} {image}", pushed.digest),
        // `/srv` and its note are the image user's alone: the owners survived the pull.
        "pulled says granted as 1000 in /srv: only app reads this".to_string(),
        format!("compose-app: forgot {image}"),
        "removed 1 image roots and 2 blobs".to_string(),
    ] {
        assert!(
            first.console.contains(&line),
            "the device pulled, ran and collected an image ({line}):\n{}",
            first.console
        );
    }
    // Blessed: systemd-boot's counter is gone from slot a's entry; slot b is untouched.
    let a = entry(project.path(), &disk, "a");
    assert_eq!(
        (a.file.as_str(), a.tries_left),
        ("/loader/entries/compose-a.conf", None)
    );
    assert_eq!(entry(project.path(), &disk, "b").tries_left, Some(3));

    let second = boot(project.path(), &disk);
    assert_exit(&second, 0);
    let second: VmJson = serde_json::from_slice(&second.stdout).unwrap();
    assert!(
        second
            .console
            .contains("boot-log: boot 2 of this disk (/etc says 2)"),
        "/var and the /etc overlay keep the first boot's changes:\n{}",
        second.console
    );
}

#[test]
fn a_crashing_required_service_is_restarted_then_leaves_the_boot_unblessed() {
    let project = project();
    let p = project.path();
    common::add_crashy_service(p);
    let disk = disk(p);
    let o = boot(p, &disk);
    assert_exit(&o, 2);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("did not get ready"), "{err}");
    assert!(
        err.contains("service `crashy` ended (exit code 3); restarting"),
        "restarted per its policy:\n{err}"
    );
    assert!(
        err.contains("giving up: it failed 5 times in a row"),
        "{err}"
    );
    // systemd-boot counted the try; nobody blessed it.
    let a = entry(p, &disk, "a");
    assert_eq!(a.tries_left, Some(2), "{a:?}");
}

#[test]
fn flash_to_a_file_writes_and_verifies_every_partition() {
    let project = project();
    let p = project.path();
    let out = p.join("out");
    assert_exit(
        &compose(
            p,
            &["build", "--device", "vm", "--out", out.to_str().unwrap()],
        ),
        0,
    );
    let image = out.join("vm/disk.raw");
    let target = p.join("written.raw");
    let o = compose(
        p,
        &[
            "flash",
            image.to_str().unwrap(),
            "--to",
            target.to_str().unwrap(),
            "--json",
        ],
    );
    assert_exit(&o, 0);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        report["verified"],
        serde_json::json!(["disk", "esp", "root-a", "root-b", "var"])
    );
    // Review: an image cut by 16 KiB (its backup GPT gone) was written and "verified". Now it
    // is refused before anything is written, as is one whose size image.json does not record.
    let size = std::fs::metadata(&image).unwrap().len();
    let bytes = std::fs::read(&image).unwrap();
    let cut = p.join("cut.raw");
    std::fs::write(&cut, &bytes[..bytes.len() - 16 * 1024]).unwrap();
    std::fs::copy(out.join("vm/image.json"), p.join("image.json")).unwrap();
    let fresh = p.join("fresh.raw");
    let flash_to = |from: &Path, to: &Path| {
        compose(
            p,
            &[
                "flash",
                from.to_str().unwrap(),
                "--to",
                to.to_str().unwrap(),
            ],
        )
    };
    let o = flash_to(&cut, &fresh);
    assert_exit(&o, 2);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("image.json says") && err.contains("nothing was written"),
        "{err}"
    );
    assert!(!fresh.exists(), "nothing was written");
    // The same cut with image.json's size edited to match: the GPT check still catches it.
    let text = std::fs::read_to_string(p.join("image.json")).unwrap();
    let edited = text.replace(&size.to_string(), &(size - 16 * 1024).to_string());
    assert_ne!(edited, text);
    std::fs::write(p.join("image.json"), edited).unwrap();
    let o = flash_to(&cut, &fresh);
    assert_exit(&o, 2);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("backup") && err.contains("cut or grown"),
        "{err}"
    );
    assert!(!fresh.exists(), "nothing was written");
    // A larger target keeps its size and what lies past the image.
    let mut big = vec![0u8; size as usize + 4096];
    big[size as usize..].fill(0x5a);
    std::fs::write(&target, &big).unwrap();
    let o = flash_to(&image, &target);
    assert_exit(&o, 0);
    let written = std::fs::read(&target).unwrap();
    assert_eq!(written.len(), big.len(), "the target was not truncated");
    assert!(written[size as usize..].iter().all(|b| *b == 0x5a));
    assert!(
        written[..size as usize] == bytes[..],
        "the image was written whole"
    );
    let o = compose(
        p,
        &[
            "flash",
            image.to_str().unwrap(),
            "--to",
            image.to_str().unwrap(),
        ],
    );
    assert_exit(&o, 2);
    assert!(String::from_utf8_lossy(&o.stderr).contains("is the image itself"));

    // Review: a laptop image under `flash --vm` stopped after the EFI stub (no virtio driver).
    // An image whose kernel lacks QEMU's drivers is refused before QEMU starts, naming them.
    let bare = p.join("no-virtio");
    std::fs::create_dir_all(&bare).unwrap();
    std::fs::hard_link(&image, bare.join("disk.raw")).unwrap();
    let mut info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("vm/image.json")).unwrap()).unwrap();
    let modules = info["kernel_modules"].as_array_mut().unwrap();
    assert!(modules.iter().any(|m| m == "virtio_blk"), "{modules:?}");
    modules.retain(|m| m != "virtio_blk");
    std::fs::write(bare.join("image.json"), info.to_string()).unwrap();
    let o = compose(
        p,
        &["flash", bare.join("disk.raw").to_str().unwrap(), "--vm"],
    );
    assert_exit(&o, 2);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("virtio_blk (the disk)")
            && err.contains("QEMU was not started")
            && err.contains("devices/vm.toml"),
        "{err}"
    );
    assert!(
        o.stdout.is_empty() && !err.contains("Linux version"),
        "refused before booting: no console line came out"
    );
}

/// Boots `disk` in place until its console shows `marker`, then powers it off; returns the
/// console.
fn boot_until(project: &Path, disk: &Path, marker: &str) -> String {
    common::flash_until(
        project,
        disk,
        &["--vm", "--in-place", "--timeout", "240"],
        &[marker],
        240,
    )
}

#[test]
fn vm_with_systemd_as_init_reaches_ready_runs_the_services_and_systemd_blesses_the_entry() {
    let project = project();
    // The device picks systemd for the virtual `init`; the catalog is the same.
    let device = project.path().join("devices/vm.toml");
    let text = std::fs::read_to_string(&device).unwrap();
    let (head, tail) = text.split_once("\n[kernel]").unwrap();
    std::fs::write(
        &device,
        format!("{head}\nprefer = {{ init = \"init-systemd\" }}\n\n[kernel]{tail}"),
    )
    .unwrap();
    let disk = disk(project.path());
    let console = boot_until(
        project.path(),
        &disk,
        "Finished \u{1b}[0;1;39msystemd-bless-boo",
    );
    let ready = console
        .lines()
        .find(|l| l.contains("compose: ready "))
        .unwrap_or_else(|| panic!("no readiness line:\n{console}"));
    assert!(
        ready.contains("device=vm") && ready.contains("slot=a") && ready.contains("init=systemd"),
        "{ready}"
    );
    assert!(
        console.contains("boot-log: boot 1 of this disk (/etc says 1)"),
        "a service from a manifest ran as a unit:\n{console}"
    );
    // systemd-bless-boot renamed slot a's entry (after boot-complete.target, which
    // compose-ready.service is required by); slot b is untouched.
    let a = entry(project.path(), &disk, "a");
    assert_eq!(
        (a.file.as_str(), a.tries_left),
        ("/loader/entries/compose-a.conf", None)
    );
    assert_eq!(entry(project.path(), &disk, "b").tries_left, Some(3));
}

/// The disk's partition `name` from the `image.json` beside the disk (`disk` copies it).
fn partition(project: &Path, name: &str) -> (u64, u64) {
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(project.join("image.json")).unwrap()).unwrap();
    let p = info["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap();
    (p["offset"].as_u64().unwrap(), p["size"].as_u64().unwrap())
}

/// Flips one bit of `slot`'s root file system, in its superblock (byte 1032): the first
/// block the mount reads. The partition's SHA-256 no longer matches its entry.
fn corrupt_root(project: &Path, disk: &Path, slot: &str) {
    use std::io::{Read, Seek, SeekFrom, Write};
    let (offset, _) = partition(project, &format!("root-{slot}"));
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(disk)
        .unwrap();
    let at = SeekFrom::Start(offset + 1032);
    let mut byte = [0u8];
    f.seek(at).unwrap();
    f.read_exact(&mut byte).unwrap();
    f.seek(at).unwrap();
    f.write_all(&[byte[0] ^ 1]).unwrap();
}

/// Renames a boot entry on the disk's ESP (mtools), as systemd-boot's counting or init's
/// blessing would have left it.
fn rename_entry(project: &Path, disk: &Path, from: &str, to: &str) {
    on_esp(
        project,
        disk,
        "mren",
        &[
            &format!("::/loader/entries/{from}"),
            &format!("::/loader/entries/{to}"),
        ],
    );
}

/// Runs the mtools program `program` with `args` on the disk's ESP; its output.
fn on_esp(project: &Path, disk: &Path, program: &str, args: &[&str]) -> Vec<u8> {
    let (offset, _) = partition(project, "esp");
    let o = std::process::Command::new(program)
        .arg("-i")
        .arg(format!("{}@@{offset}", disk.display()))
        .args(args)
        .env("MTOOLS_SKIP_CHECK", "1")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", common::text(&o));
    o.stdout
}

/// One boot of `disk` in place, until QEMU ends (it runs with -no-reboot, so a reboot ends
/// it) or the device is ready (`until_ready`); the console.
fn boot_once(project: &Path, disk: &Path, until_ready: bool) -> String {
    let more: &[&str] = if until_ready { &["--until-ready"] } else { &[] };
    let o = flash_in_place(project, disk, more);
    assert_exit(&o, 0);
    let v: VmJson = serde_json::from_slice(&o.stdout).unwrap();
    v.console
}

// dm-verity catches one flipped bit of a root, and the device goes on from the other slot:
// a slot on trial restarts at once (its tries run out, systemd-boot falls back); a blessed
// slot fails the read, init marks its entry out of tries and reboots into the other slot,
// which is booted from then on (no reboot loop). Both start from the same built image.
#[test]
fn a_corrupt_root_is_caught_by_dm_verity_and_the_other_slot_boots() {
    let project = project();
    let p = project.path();
    let built = disk(p);

    // On trial, on its last try: the kernel restarts the machine at the first bad block.
    let trial = p.join("trial.raw");
    std::fs::copy(&built, &trial).unwrap();
    rename_entry(p, &trial, "compose-a+3.conf", "compose-a+1.conf");
    corrupt_root(p, &trial, "a");
    let console = boot_once(p, &trial, false);
    assert!(
        console.contains("a corrupt block restarts the machine")
            && console.contains("Restarting system with command 'dm-verity device corrupted'")
            && !console.contains("compose: ready"),
        "{console}"
    );
    // Out of tries: systemd-boot boots b next, as the blessed case below shows.
    assert_eq!(entry(p, &trial, "a").tries_left, Some(0));

    // Blessed: the read fails, init marks the slot and reboots into the other one.
    let blessed = built;
    rename_entry(p, &blessed, "compose-a+3.conf", "compose-a.conf");
    corrupt_root(p, &blessed, "a");
    let console = boot_once(p, &blessed, false);
    assert!(
        console.contains("a corrupt block fails its read")
            && console.contains("slot a: a block of the root does not match its hash tree")
            && console.contains("boot entry compose-a.conf is now compose-a+0-3.conf")
            && !console.contains("dm-verity device corrupted'"),
        "{console}"
    );
    let a = entry(p, &blessed, "a");
    assert_eq!(
        (a.file.as_str(), a.tries_left),
        ("/loader/entries/compose-a+0-3.conf", Some(0))
    );
    let console = boot_once(p, &blessed, true);
    assert!(
        console.contains("compose: ready device=vm") && console.contains("slot=b"),
        "{console}"
    );
}

/// A file of the disk's ESP.
fn esp_file(project: &Path, disk: &Path, path: &str) -> Vec<u8> {
    on_esp(project, disk, "mtype", &[&format!("::{path}")])
}

/// Replaces a file of the disk's ESP.
fn put_esp_file(project: &Path, disk: &Path, path: &str, bytes: &[u8]) {
    let local = project.join("esp-file");
    std::fs::write(&local, bytes).unwrap();
    on_esp(
        project,
        disk,
        "mcopy",
        &["-o", local.to_str().unwrap(), &format!("::{path}")],
    );
}

// Secure Boot with the project's own keys, in OVMF's Secure Boot firmware with a fresh
// variable store (setup mode, as a machine whose owner cleared the factory keys): systemd-boot
// enrols PK, KEK and db from the ESP and resets, and from then on the firmware starts only
// what db signed. Slot b, made to boot next on its last try (as an install leaves a slot,
// with the highest serial), has one bit of its UKI flipped: the firmware refuses it, its try
// is spent, and slot a, signed and sound, boots under Secure Boot, measured by a TPM
// (swtpm): PCR 11 is what the build predicted. One VM run.
#[test]
fn a_signed_image_enrols_its_keys_boots_under_secure_boot_and_a_changed_uki_is_refused() {
    let project = project();
    let p = project.path();
    assert_exit(&compose(p, &["keys", "generate"]), 0);
    let disk = disk(p);
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(p.join("image.json")).unwrap()).unwrap();
    assert_eq!(info["secure_boot"], true, "{info}");
    // Signed images are reproducible too: the signing time is the build's epoch.
    let again = p.join("out-again");
    assert_exit(
        &compose(
            p,
            &["build", "--device", "vm", "--out", again.to_str().unwrap()],
        ),
        0,
    );
    assert!(
        std::fs::read(p.join("out/vm/disk.raw")).unwrap()
            == std::fs::read(again.join("vm/disk.raw")).unwrap(),
        "two builds of the same signed inputs differ"
    );

    let b = String::from_utf8(esp_file(p, &disk, "/loader/entries/compose-b+3.conf")).unwrap();
    assert!(b.contains("\nversion 0\n"), "{b}");
    put_esp_file(
        p,
        &disk,
        "/loader/entries/compose-b+3.conf",
        b.replace("\nversion 0\n", "\nversion 2\n").as_bytes(),
    );
    rename_entry(p, &disk, "compose-b+3.conf", "compose-b+1.conf");
    let mut uki = esp_file(p, &disk, "/compose/b/uki.efi");
    let at = uki
        .windows(14)
        .position(|w| w == b"compose.slot=b")
        .expect("slot b's UKI names its slot");
    uki[at + 8] ^= 0x20;
    put_esp_file(p, &disk, "/compose/b/uki.efi", &uki);

    let o = flash_in_place(p, &disk, &["--secure-boot", "--tpm", "--until-ready"]);
    assert_exit(&o, 0);
    let vm: VmJson = serde_json::from_slice(&o.stdout).unwrap();
    let console = vm.console;
    for wanted in [
        "Enrolling secure boot keys from directory: \\loader\\keys\\auto",
        "Error loading \\compose\\b\\uki.efi: Access Denied",
        "secureboot: Secure boot enabled",
        "as slot a's entry predicts",
    ] {
        assert!(console.contains(wanted), "no `{wanted}`:\n{console}");
    }
    let ready = vm.ready.expect("a readiness line");
    assert!(ready.contains("slot=a"), "{ready}");
    assert_eq!(entry(p, &disk, "b").tries_left, Some(0));
}
