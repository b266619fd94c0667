//! systemd units for images whose init is systemd (a component that installs
//! `SYSTEM_MANAGER`, as `init-systemd` does): one `compose-NAME.service` per service of the
//! manifests, wanted by multi-user.target, and `compose-ready.service`, which prints the
//! readiness line once every service is up and is required by boot-complete.target, so
//! systemd-bless-boot blesses the boot entry only then (and a failed service leaves it on
//! trial, as with compose-init).

use crate::manifest::{Component, Restart, ServiceKind};
use crate::store::Store;

use super::BuildError;
use super::tree::{Entry, Tree};

/// The file naming the program compose-init hands over to after switching root.
pub const SYSTEM_MANAGER: &str = "/usr/lib/compose/system-manager";
const UNITS: &str = "/usr/lib/systemd/system";

/// Whether the root's init is a system manager other than compose-init.
pub fn wanted(root: &Tree) -> bool {
    root.entries.contains_key(SYSTEM_MANAGER)
}

/// One argument of ExecStart=, quoted so systemd reads it back as it is.
fn quote(arg: &str) -> String {
    let escaped = arg
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('%', "%%")
        .replace('$', "$$");
    format!("\"{escaped}\"")
}

fn unit_name(service: &str) -> String {
    format!("compose-{service}.service")
}

/// The unit of one service.
pub fn service_unit(component: &str, s: &crate::manifest::Service) -> String {
    let oneshot = s.kind == ServiceKind::Oneshot;
    let mut unit = format!("[Unit]\nDescription={} (component {component})\n", s.name);
    if !s.after.is_empty() || !s.requires.is_empty() {
        let after: Vec<String> = s
            .after
            .iter()
            .chain(&s.requires)
            .map(|n| unit_name(n))
            .collect();
        unit.push_str(&format!("After={}\n", after.join(" ")));
    }
    if !s.requires.is_empty() {
        let requires: Vec<String> = s.requires.iter().map(|n| unit_name(n)).collect();
        unit.push_str(&format!("Requires={}\n", requires.join(" ")));
    }
    let exec: Vec<String> = s.exec.iter().map(|a| quote(a)).collect();
    unit.push_str(&format!(
        "\n[Service]\nType={}\nExecStart={}\n",
        if oneshot { "oneshot" } else { "simple" },
        exec.join(" ")
    ));
    if oneshot {
        unit.push_str("RemainAfterExit=yes\n");
    }
    // systemd refuses Restart=always for oneshot services: they restart on failure.
    let restart = match (s.restart, oneshot) {
        (Restart::No, _) => "no",
        (Restart::OnFailure, _) | (Restart::Always, true) => "on-failure",
        (Restart::Always, false) => "always",
    };
    unit.push_str(&format!(
        "Restart={restart}\nStandardOutput=journal+console\nStandardError=journal+console\n"
    ));
    unit
}

/// compose-ready.service: after and requiring every service, prints the readiness line.
pub fn ready_unit(services: &[String]) -> String {
    let units: Vec<String> = services.iter().map(|n| unit_name(n)).collect();
    let mut unit = "[Unit]\nDescription=compose: every service of the image is up\n".to_string();
    if !units.is_empty() {
        unit.push_str(&format!("After={0}\nRequires={0}\n", units.join(" ")));
    }
    unit.push_str(
        "Before=boot-complete.target\n\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/init ready systemd\nStandardOutput=journal+console\n",
    );
    unit
}

/// Units of the system manager's own that do not fit a composed image, masked: the
/// first-boot wizard (it waits for a key on the console; first boots are configured by
/// provisioning) and the gettys (they wait for udev's tty devices; an image without
/// udev never gets them; `console-login` is the console's login), and bootctl's automatic
/// update of systemd-boot on the ESP (the update agent owns the ESP).
pub const MASKED: [&str; 4] = [
    "systemd-firstboot.service",
    "serial-getty@.service",
    "getty@.service",
    "systemd-boot-update.service",
];

/// Adds the units of `chosen`'s services, and the links that enable them, to `root`.
pub fn add(store: &Store, root: &mut Tree, chosen: &[&Component]) -> Result<(), BuildError> {
    let mut names = Vec::new();
    for c in chosen {
        for s in &c.services {
            let name = unit_name(&s.name);
            root.insert_bytes(
                store,
                &format!("{UNITS}/{name}"),
                service_unit(&c.name, s).as_bytes(),
                0o644,
            )?;
            root.insert(
                &format!("{UNITS}/multi-user.target.wants/{name}"),
                Entry::Symlink {
                    target: format!("../{name}"),
                },
            );
            names.push(s.name.clone());
        }
    }
    for unit in MASKED {
        root.insert(
            &format!("/etc/systemd/system/{unit}"),
            Entry::Symlink {
                target: "/dev/null".into(),
            },
        );
    }
    let ready = "compose-ready.service";
    root.insert_bytes(
        store,
        &format!("{UNITS}/{ready}"),
        ready_unit(&names).as_bytes(),
        0o644,
    )?;
    for wants in ["multi-user.target.wants", "boot-complete.target.requires"] {
        root.insert(
            &format!("{UNITS}/{wants}/{ready}"),
            Entry::Symlink {
                target: format!("../{ready}"),
            },
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::Service;

    #[test]
    fn a_service_becomes_a_unit_with_its_order_and_policy() {
        let s = Service {
            name: "dropbear".into(),
            exec: vec!["/usr/sbin/dropbear".into(), "-F".into(), "a b$%\"".into()],
            after: vec!["dhcpcd".into()],
            requires: vec!["seat".into()],
            restart: Restart::Always,
            kind: ServiceKind::Simple,
        };
        assert_eq!(
            service_unit("ssh-dropbear", &s),
            "[Unit]\nDescription=dropbear (component ssh-dropbear)\n\
             After=compose-dhcpcd.service compose-seat.service\n\
             Requires=compose-seat.service\n\n\
             [Service]\nType=simple\n\
             ExecStart=\"/usr/sbin/dropbear\" \"-F\" \"a b$$%%\\\"\"\n\
             Restart=always\nStandardOutput=journal+console\nStandardError=journal+console\n"
        );
        let oneshot = Service {
            kind: ServiceKind::Oneshot,
            after: vec![],
            requires: vec![],
            ..s
        };
        let unit = service_unit("c", &oneshot);
        assert!(unit.contains("Type=oneshot\n"), "{unit}");
        assert!(unit.contains("RemainAfterExit=yes\n"), "{unit}");
        assert!(unit.contains("Restart=on-failure\n"), "{unit}");
    }

    #[test]
    fn readiness_waits_for_every_service_and_gates_boot_complete() {
        let unit = ready_unit(&["a".into(), "b".into()]);
        assert!(unit.contains("After=compose-a.service compose-b.service\n"));
        assert!(unit.contains("Requires=compose-a.service compose-b.service\n"));
        assert!(unit.contains("Before=boot-complete.target\n"));
        assert!(unit.contains("ExecStart=/init ready systemd\n"));
    }
}
