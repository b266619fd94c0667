//! The folders and links packages declare in `tmpfiles.d` (`d`, `D` and `L` lines), made at
//! every boot before services start, as systemd-tmpfiles does: dbus-daemon, for one, needs
//! `/run/dbus` and does not make it, and its clients look for `/var/run/dbus` (base declares
//! `/var/run` -> `/run`). Only paths on the writable file systems (`/run`, `/tmp`, `/var`)
//! are made; other line types are left alone. `/etc/tmpfiles.d` overrides
//! `/usr/lib/tmpfiles.d` file by file name.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// One folder to make, or a link (`link_to`) where nothing is yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    pub path: PathBuf,
    pub mode: Option<u32>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub link_to: Option<String>,
}

const WRITABLE: [&str; 3] = ["/run/", "/tmp/", "/var/"];

/// The folders of one tmpfiles.d file's text.
pub fn parse(text: &str) -> Vec<Folder> {
    let field = |f: Option<&str>| f.filter(|f| *f != "-").map(str::to_string);
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let kind = fields.next()?;
            let path = fields.next()?;
            if !matches!(kind, "d" | "D" | "L") || !WRITABLE.iter().any(|w| path.starts_with(w)) {
                return None;
            }
            if path.split('/').any(|p| p == "..") || path.contains('%') {
                return None;
            }
            let mode = field(fields.next()).and_then(|m| u32::from_str_radix(&m, 8).ok());
            let user = field(fields.next());
            let group = field(fields.next());
            let link_to = if kind == "L" {
                Some(field(fields.nth(1))?)
            } else {
                None
            };
            Some(Folder {
                path: PathBuf::from(path),
                mode,
                user,
                group,
                link_to,
            })
        })
        .collect()
}

/// Every tmpfiles.d file under `root`, by name (`/etc` replaces `/usr/lib`).
fn files(root: &Path) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    for dir in ["usr/lib/tmpfiles.d", "etc/tmpfiles.d"] {
        let Ok(entries) = fs::read_dir(root.join(dir)) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".conf") {
                out.insert(name, entry.path());
            }
        }
    }
    out
}

/// The id of `name` in an `/etc/passwd` or `/etc/group` file's text.
fn id(table: &str, name: &str) -> Option<u32> {
    table.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == name).then_some(())?;
        f.nth(1)?.parse().ok()
    })
}

/// Makes the folders the files under `root` declare; returns how many it made or adjusted
/// and what went wrong (per folder, never fatal).
pub fn apply(root: &Path) -> (usize, Vec<String>) {
    let passwd = fs::read_to_string(root.join("etc/passwd")).unwrap_or_default();
    let groups = fs::read_to_string(root.join("etc/group")).unwrap_or_default();
    let mut made = 0;
    let mut errors = Vec::new();
    for file in files(root).values() {
        let Ok(text) = fs::read_to_string(file) else {
            continue;
        };
        for f in parse(&text) {
            let path = root.join(f.path.strip_prefix("/").unwrap_or(&f.path));
            if let Some(target) = &f.link_to {
                if path.symlink_metadata().is_err() {
                    if let Some(parent) = path.parent() {
                        let _ = fs::create_dir_all(parent);
                    }
                    match std::os::unix::fs::symlink(target, &path) {
                        Ok(()) => made += 1,
                        Err(e) => errors.push(format!("{}: {e}", f.path.display())),
                    }
                }
                continue;
            }
            if let Err(e) = fs::create_dir_all(&path) {
                errors.push(format!("{}: {e}", f.path.display()));
                continue;
            }
            if let Some(mode) = f.mode {
                let _ = fs::set_permissions(&path, fs::Permissions::from_mode(mode));
            }
            let uid = f.user.as_deref().and_then(|u| id(&passwd, u));
            let gid = f.group.as_deref().and_then(|g| id(&groups, g));
            if uid.is_some() || gid.is_some() {
                if let Err(e) = nix::unistd::chown(
                    &path,
                    uid.map(nix::unistd::Uid::from_raw),
                    gid.map(nix::unistd::Gid::from_raw),
                ) {
                    errors.push(format!("{}: chown: {e}", f.path.display()));
                }
            }
            made += 1;
        }
    }
    (made, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn makes_the_writable_folders_packages_declare_and_nothing_else() {
        let text = "# dbus\nd /var/lib/dbus 0755 - - -\nL /var/lib/dbus/machine-id - - - - /etc/machine-id\nd /run/dbus/containers 0755 messagebus - - -\nd /usr/share/x 0755 - - -\nd /run/../etc/x 0755 - - -\nD /tmp/%u 0700 - - -\n";
        assert_eq!(
            parse(text),
            vec![
                Folder {
                    path: "/var/lib/dbus".into(),
                    mode: Some(0o755),
                    user: None,
                    group: None,
                    link_to: None,
                },
                Folder {
                    path: "/var/lib/dbus/machine-id".into(),
                    mode: None,
                    user: None,
                    group: None,
                    link_to: Some("/etc/machine-id".into()),
                },
                Folder {
                    path: "/run/dbus/containers".into(),
                    mode: Some(0o755),
                    user: Some("messagebus".into()),
                    group: None,
                    link_to: None,
                },
            ]
        );
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        fs::create_dir_all(r.join("usr/lib/tmpfiles.d")).unwrap();
        fs::create_dir_all(r.join("etc/tmpfiles.d")).unwrap();
        fs::write(r.join("usr/lib/tmpfiles.d/dbus.conf"), text).unwrap();
        // /etc overrides the file of the same name.
        fs::write(
            r.join("usr/lib/tmpfiles.d/other.conf"),
            "d /run/replaced 0700\n",
        )
        .unwrap();
        fs::write(r.join("etc/tmpfiles.d/other.conf"), "d /run/local 0700\n").unwrap();
        let (made, errors) = apply(r);
        assert_eq!((made, errors), (4, Vec::<String>::new()));
        assert_eq!(
            fs::read_link(r.join("var/lib/dbus/machine-id")).unwrap(),
            Path::new("/etc/machine-id")
        );
        // A link is made only where nothing is.
        assert_eq!(apply(r).0, 3);
        assert!(r.join("run/dbus/containers").is_dir());
        assert!(r.join("var/lib/dbus").is_dir());
        assert!(r.join("run/local").is_dir());
        assert!(!r.join("run/replaced").exists());
        assert!(!r.join("usr/share/x").exists());
        let mode = fs::metadata(r.join("run/local"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
