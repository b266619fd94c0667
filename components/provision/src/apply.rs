//! Applying a provisioning file to a system root, once: everything is worked out before
//! anything is written (so a file that cannot be applied changes nothing), every file is
//! written aside and renamed into place, and the marker that makes later boots skip it is
//! written last (a power cut before it makes the next boot apply the same file again,
//! which gives the same result).

use std::fs;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::{Path, PathBuf};

use crate::config::Provision;

/// Where the marker of an applied provisioning file is (its SHA-256 inside).
pub const MARKER: &str = "var/lib/compose/provisioned";
/// Extra services for init, in the image's services.json shape.
pub const SERVICES: &str = "etc/compose/services.json";
/// The shell chosen for the device, read by compose-shell.
pub const SHELL_CHOICE: &str = "etc/compose/shell";
/// Where the image's shells are defined (`NAME.toml`).
const SHELLS: &str = "usr/share/compose/shells";
/// Where users' home folders are (the root file system is read-only).
pub const HOMES: &str = "/var/home";
/// The first uid and gid given to provisioned users and groups.
const FIRST_ID: u32 = 1000;

/// What a boot found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Applied now: what was written, for the console.
    Applied(Vec<String>),
    /// This device was provisioned before (by the file with this SHA-256); nothing done.
    AlreadyApplied { digest: String, same_file: bool },
}

/// One thing to write.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Write {
    /// Relative to the root.
    path: String,
    content: Vec<u8>,
    mode: u32,
    owner: (u32, u32),
}

/// Why a provisioning file could not be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyError(pub String);

impl std::fmt::Display for ApplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// SHA-256 of the provisioning file's bytes.
pub fn digest(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// The lines of a colon-separated database (passwd, group, shadow) and its rows.
struct Table {
    lines: Vec<String>,
}

impl Table {
    fn read(root: &Path, path: &str) -> Table {
        let text = fs::read_to_string(root.join(path)).unwrap_or_default();
        Table {
            lines: text.lines().map(str::to_string).collect(),
        }
    }

    fn field(line: &str, i: usize) -> Option<&str> {
        line.split(':').nth(i)
    }

    fn row(&self, name: &str) -> Option<&String> {
        self.lines.iter().find(|l| Table::field(l, 0) == Some(name))
    }

    /// The lowest id from `FIRST_ID` that no row has in column `column`.
    fn free_id(&self, column: usize) -> u32 {
        let used: Vec<u32> = self
            .lines
            .iter()
            .filter_map(|l| Table::field(l, column)?.parse().ok())
            .collect();
        (FIRST_ID..)
            .find(|id| !used.contains(id))
            .unwrap_or(FIRST_ID)
    }

    fn text(&self) -> Vec<u8> {
        let mut t = self.lines.join("\n");
        t.push('\n');
        t.into_bytes()
    }
}

/// Applies `text` (already checked by `config::parse`) to the system at `root`, unless
/// this device was provisioned before.
pub fn apply(root: &Path, text: &str, provision: &Provision) -> Result<Outcome, ApplyError> {
    let digest = digest(text);
    if let Ok(before) = fs::read_to_string(root.join(MARKER)) {
        let before = before.trim().to_string();
        return Ok(Outcome::AlreadyApplied {
            same_file: before == digest,
            digest: before,
        });
    }
    let (writes, folders) = plan(root, provision)?;
    let mut done = Vec::new();
    for (folder, mode, owner) in &folders {
        let at = root.join(folder.trim_start_matches('/'));
        fs::create_dir_all(&at).map_err(|e| fail("create", &at, e))?;
        fs::set_permissions(&at, fs::Permissions::from_mode(*mode))
            .map_err(|e| fail("set the mode of", &at, e))?;
        chown(&at, Some(owner.0), Some(owner.1)).map_err(|e| fail("chown", &at, e))?;
    }
    for w in &writes {
        write_aside(root, w)?;
        done.push(format!("/{}", w.path));
    }
    let marker = Write {
        path: MARKER.into(),
        content: format!("{digest}\n").into_bytes(),
        mode: 0o644,
        owner: (0, 0),
    };
    write_aside(root, &marker)?;
    Ok(Outcome::Applied(done))
}

fn fail(what: &str, path: &Path, e: std::io::Error) -> ApplyError {
    ApplyError(format!("cannot {what} {}: {e}", path.display()))
}

/// Writes `w` next to its place, syncs it and renames it over.
fn write_aside(root: &Path, w: &Write) -> Result<(), ApplyError> {
    use std::io::Write as _;
    let to = root.join(&w.path);
    let parent = to.parent().unwrap_or(root);
    fs::create_dir_all(parent).map_err(|e| fail("create", parent, e))?;
    let partial: PathBuf = parent.join(format!(
        ".{}.provision",
        to.file_name().unwrap_or_default().to_string_lossy()
    ));
    let mut f = fs::File::create(&partial).map_err(|e| fail("create", &partial, e))?;
    f.write_all(&w.content)
        .and_then(|()| f.sync_all())
        .map_err(|e| fail("write", &partial, e))?;
    fs::set_permissions(&partial, fs::Permissions::from_mode(w.mode))
        .map_err(|e| fail("set the mode of", &partial, e))?;
    chown(&partial, Some(w.owner.0), Some(w.owner.1)).map_err(|e| fail("chown", &partial, e))?;
    fs::rename(&partial, &to).map_err(|e| fail("rename", &partial, e))
}

/// Folders to make (path, mode, owner) and files to write, worked out from the system's
/// current users and groups; nothing is written here.
#[allow(clippy::type_complexity)]
fn plan(
    root: &Path,
    provision: &Provision,
) -> Result<(Vec<Write>, Vec<(String, u32, (u32, u32))>), ApplyError> {
    let mut passwd = Table::read(root, "etc/passwd");
    let mut group = Table::read(root, "etc/group");
    let mut shadow = Table::read(root, "etc/shadow");
    if passwd.lines.is_empty() {
        return Err(ApplyError(
            "the image has no /etc/passwd to add users to; add the `base` component".into(),
        ));
    }
    let mut writes = Vec::new();
    let mut folders = Vec::new();
    if let Some(hostname) = &provision.hostname {
        writes.push(Write {
            path: "etc/hostname".into(),
            content: format!("{hostname}\n").into_bytes(),
            mode: 0o644,
            owner: (0, 0),
        });
    }
    if let Some(shell) = &provision.shell {
        let installed: Vec<String> = fs::read_dir(root.join(SHELLS))
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter_map(|e| {
                        e.file_name()
                            .to_string_lossy()
                            .strip_suffix(".toml")
                            .map(str::to_string)
                    })
                    .collect()
            })
            .unwrap_or_default();
        if !installed.contains(shell) {
            return Err(ApplyError(format!(
                "shell `{shell}` is not in this image (it has: {}); pick one of them, or add its component to the device",
                if installed.is_empty() {
                    "no shells".to_string()
                } else {
                    installed.join(", ")
                }
            )));
        }
        writes.push(Write {
            path: SHELL_CHOICE.into(),
            content: format!("{shell}\n").into_bytes(),
            mode: 0o644,
            owner: (0, 0),
        });
    }
    // Groups first: every user's own group, then the supplementary ones.
    let mut ids = std::collections::BTreeMap::new();
    for user in &provision.users {
        if passwd.row(&user.name).is_some() {
            return Err(ApplyError(format!(
                "user `{}` exists in the image already; pick another name",
                user.name
            )));
        }
        let uid = passwd.free_id(2).max(group.free_id(2));
        let gid = if group.row(&user.name).is_some() {
            return Err(ApplyError(format!(
                "group `{}` exists in the image already; pick another user name",
                user.name
            )));
        } else {
            uid
        };
        group.lines.push(format!("{}:x:{gid}:", user.name));
        let home = format!("{HOMES}/{}", user.name);
        passwd.lines.push(format!(
            "{}:x:{uid}:{gid}:{}:{home}:{}",
            user.name, user.name, user.shell
        ));
        let hash = user.password_hash.as_deref().unwrap_or("!");
        shadow
            .lines
            .retain(|l| Table::field(l, 0) != Some(&user.name));
        shadow
            .lines
            .push(format!("{}:{hash}:19000:0:99999:7:::", user.name));
        ids.insert(user.name.clone(), (uid, gid));
        folders.push((home.clone(), 0o700, (uid, gid)));
        if !user.ssh_keys.is_empty() {
            folders.push((format!("{home}/.ssh"), 0o700, (uid, gid)));
            writes.push(Write {
                path: format!("{}/.ssh/authorized_keys", home.trim_start_matches('/')),
                content: (user.ssh_keys.join("\n") + "\n").into_bytes(),
                mode: 0o600,
                owner: (uid, gid),
            });
        }
    }
    for user in &provision.users {
        for g in &user.groups {
            let row = match group
                .lines
                .iter()
                .position(|l| Table::field(l, 0) == Some(g))
            {
                Some(i) => i,
                None => {
                    let gid = group.free_id(2).max(passwd.free_id(2));
                    group.lines.push(format!("{g}:x:{gid}:"));
                    group.lines.len() - 1
                }
            };
            let line = &mut group.lines[row];
            let members = Table::field(line, 3).unwrap_or_default();
            let sep = if members.is_empty() { "" } else { "," };
            line.push_str(&format!("{sep}{}", user.name));
        }
    }
    if !provision.users.is_empty() {
        writes.push(Write {
            path: "etc/passwd".into(),
            content: passwd.text(),
            mode: 0o644,
            owner: (0, 0),
        });
        writes.push(Write {
            path: "etc/group".into(),
            content: group.text(),
            mode: 0o644,
            owner: (0, 0),
        });
        writes.push(Write {
            path: "etc/shadow".into(),
            content: shadow.text(),
            mode: 0o600,
            owner: (0, 0),
        });
    }
    if !provision.ethernet.is_empty() {
        // dhcpcd keeps configuring the other interfaces; these get static addresses.
        let mut conf = fs::read_to_string(root.join("etc/dhcpcd.conf")).unwrap_or_default();
        conf.push_str("\n# compose provisioning\n");
        for e in &provision.ethernet {
            conf.push_str(&format!(
                "interface {}\nstatic ip_address={}\n",
                e.interface, e.address
            ));
            if let Some(g) = &e.gateway {
                conf.push_str(&format!("static routers={g}\n"));
            }
            if !e.dns.is_empty() {
                conf.push_str(&format!("static domain_name_servers={}\n", e.dns.join(" ")));
            }
        }
        writes.push(Write {
            path: "etc/dhcpcd.conf".into(),
            content: conf.into_bytes(),
            mode: 0o644,
            owner: (0, 0),
        });
    }
    for w in &provision.wifi {
        // iwd's network file for a WPA2 network: /var/lib/iwd/SSID.psk.
        writes.push(Write {
            path: format!("var/lib/iwd/{}.psk", w.ssid),
            content: format!("[Security]\nPassphrase={}\n", w.passphrase).into_bytes(),
            mode: 0o600,
            owner: (0, 0),
        });
    }
    for f in &provision.files {
        let owner = match &f.owner {
            None => (0, 0),
            Some(name) => match ids.get(name) {
                Some(ids) => *ids,
                None => {
                    let row = passwd.row(name).ok_or_else(|| {
                        ApplyError(format!(
                            "file {}: owner `{name}` is not a user of the image",
                            f.path
                        ))
                    })?;
                    let id = |i| {
                        Table::field(row, i)
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(0)
                    };
                    (id(2), id(3))
                }
            },
        };
        writes.push(Write {
            path: f.path.trim_start_matches('/').to_string(),
            content: f.content.clone().into_bytes(),
            mode: f.mode,
            owner,
        });
    }
    if !provision.services.is_empty() {
        let json = serde_json::to_string_pretty(&provision.services)
            .map_err(|e| ApplyError(e.to_string()))?;
        writes.push(Write {
            path: SERVICES.into(),
            content: (json + "\n").into_bytes(),
            mode: 0o644,
            owner: (0, 0),
        });
    }
    Ok((writes, folders))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;

    fn root() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("etc")).unwrap();
        fs::write(
            root.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
        )
        .unwrap();
        fs::write(
            root.path().join("etc/group"),
            "root:x:0:\nnogroup:x:65534:\n",
        )
        .unwrap();
        root
    }

    const FILE: &str = r#"hostname = "kiosk"
[[user]]
name = "alice"
groups = ["wheel", "root"]
ssh-keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG alice@laptop"]

[[file]]
path = "/etc/motd"
content = "hello alice\n"
owner = "alice"
mode = "0640"

[[service]]
name = "hello"
exec = ["/bin/busybox", "echo", "hello"]
type = "oneshot"
"#;

    #[test]
    fn applies_once_and_says_so_after() {
        let root = root();
        let p = parse(FILE).unwrap();
        let Outcome::Applied(written) = apply(root.path(), FILE, &p).unwrap() else {
            panic!("not applied");
        };
        assert!(written.contains(&"/etc/passwd".to_string()), "{written:?}");
        let read = |p: &str| fs::read_to_string(root.path().join(p)).unwrap();
        assert_eq!(read("etc/hostname"), "kiosk\n");
        assert!(read("etc/passwd").ends_with("alice:x:1000:1000:alice:/var/home/alice:/bin/sh\n"));
        assert_eq!(
            read("etc/group"),
            "root:x:0:alice\nnogroup:x:65534:\nalice:x:1000:\nwheel:x:1001:alice\n"
        );
        assert!(read("etc/shadow").starts_with("alice:!:"));
        assert!(read("var/home/alice/.ssh/authorized_keys").starts_with("ssh-ed25519 "));
        use std::os::unix::fs::MetadataExt;
        let motd = fs::metadata(root.path().join("etc/motd")).unwrap();
        assert_eq!((motd.uid(), motd.mode() & 0o7777), (1000, 0o640));
        assert!(read(SERVICES).contains("\"oneshot\""));
        assert_eq!(read(MARKER), format!("{}\n", digest(FILE)));
        // A second boot: nothing again.
        assert_eq!(
            apply(root.path(), FILE, &p).unwrap(),
            Outcome::AlreadyApplied {
                digest: digest(FILE),
                same_file: true
            }
        );
        // No partial files left anywhere.
        let leftovers = walk(root.path())
            .into_iter()
            .filter(|p| p.to_string_lossy().ends_with(".provision"))
            .count();
        assert_eq!(leftovers, 0);
    }

    #[test]
    fn the_shell_chosen_must_be_one_of_the_image() {
        let root = root();
        fs::create_dir_all(root.path().join(SHELLS)).unwrap();
        fs::write(root.path().join(SHELLS).join("gaming.toml"), "").unwrap();
        let text = "shell = \"tablet\"\n";
        let e = apply(root.path(), text, &parse(text).unwrap()).unwrap_err();
        assert!(
            e.0.contains("shell `tablet` is not in this image (it has: gaming)"),
            "{e}"
        );
        assert!(!root.path().join(MARKER).exists());
        let text = "shell = \"gaming\"\n";
        apply(root.path(), text, &parse(text).unwrap()).unwrap();
        let chosen = fs::read_to_string(root.path().join(SHELL_CHOICE)).unwrap();
        assert_eq!(chosen, "gaming\n");
    }

    #[test]
    fn a_file_that_cannot_be_applied_changes_nothing() {
        let root = root();
        // alice exists in the image: found while planning, before any write.
        fs::write(
            root.path().join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nalice:x:5:5::/:/bin/sh\n",
        )
        .unwrap();
        let before = walk(root.path());
        let e = apply(root.path(), FILE, &parse(FILE).unwrap()).unwrap_err();
        assert!(e.0.contains("exists in the image"), "{e}");
        assert_eq!(walk(root.path()), before);
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut all = Vec::new();
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                all.extend(walk(&p));
            }
            all.push(p);
        }
        all.sort();
        all
    }
}
