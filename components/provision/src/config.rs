//! The provisioning file: what a device is told at its first boot, parsed and checked
//! with every problem located (line, column) and a hint of what to write instead.
//!
//! ```toml
//! hostname = "kiosk-01"
//! shell = "gaming"
//!
//! [[user]]
//! name = "alice"
//! groups = ["wheel"]
//! ssh-keys = ["ssh-ed25519 AAAA... alice@laptop"]
//!
//! [[network.ethernet]]
//! interface = "eth0"
//! address = "192.168.1.20/24"
//! gateway = "192.168.1.1"
//! dns = ["192.168.1.1"]
//!
//! [[network.wifi]]
//! ssid = "home"
//! passphrase = "correct horse battery staple"
//!
//! [[file]]
//! path = "/etc/motd"
//! content = "Welcome.\n"
//!
//! [[service]]
//! name = "hello"
//! exec = ["/bin/busybox", "sh", "-c", "echo hello"]
//! type = "oneshot"
//! ```

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use toml::Spanned;

/// A checked provisioning file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provision {
    pub hostname: Option<String>,
    /// The shell to start (one the image installs in /usr/share/compose/shells).
    pub shell: Option<String>,
    pub users: Vec<User>,
    pub ethernet: Vec<Ethernet>,
    pub wifi: Vec<Wifi>,
    pub files: Vec<File>,
    pub services: Vec<Service>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    /// Supplementary groups (made when the image has none of that name).
    pub groups: Vec<String>,
    pub ssh_keys: Vec<String>,
    pub shell: String,
    /// A crypt(3) hash for console logins; `None`: the password is locked.
    pub password_hash: Option<String>,
}

/// A static address for an Ethernet interface (DHCP is what the image does without one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ethernet {
    pub interface: String,
    /// `ADDRESS/PREFIX`.
    pub address: String,
    pub gateway: Option<String>,
    pub dns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wifi {
    pub ssid: String,
    pub passphrase: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// Absolute, under /etc or /var (the rest of the system is read-only).
    pub path: String,
    pub content: String,
    pub mode: u32,
    /// A user of this file or of the image; `None`: root.
    pub owner: Option<String>,
}

/// A service of init's, in the image's services.json shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Service {
    pub component: String,
    pub name: String,
    pub exec: Vec<String>,
    pub after: Vec<String>,
    pub requires: Vec<String>,
    pub restart: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// One problem of a provisioning file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line and column.
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub help: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}: {}\n  help: {}",
            self.line, self.column, self.message, self.help
        )
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawProvision {
    hostname: Option<Spanned<String>>,
    shell: Option<Spanned<String>>,
    #[serde(default)]
    user: Vec<RawUser>,
    #[serde(default)]
    network: RawNetwork,
    #[serde(default)]
    file: Vec<RawFile>,
    #[serde(default)]
    service: Vec<RawService>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawUser {
    name: Spanned<String>,
    #[serde(default)]
    groups: Vec<Spanned<String>>,
    #[serde(default)]
    ssh_keys: Vec<Spanned<String>>,
    shell: Option<Spanned<String>>,
    password_hash: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawNetwork {
    #[serde(default)]
    ethernet: Vec<RawEthernet>,
    #[serde(default)]
    wifi: Vec<RawWifi>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawEthernet {
    interface: Spanned<String>,
    address: Spanned<String>,
    gateway: Option<Spanned<String>>,
    #[serde(default)]
    dns: Vec<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawWifi {
    ssid: Spanned<String>,
    passphrase: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawFile {
    path: Spanned<String>,
    content: String,
    mode: Option<Spanned<String>>,
    owner: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawService {
    name: Spanned<String>,
    exec: Spanned<Vec<String>>,
    #[serde(default)]
    after: Vec<String>,
    #[serde(default)]
    requires: Vec<String>,
    restart: Option<Spanned<String>>,
    #[serde(rename = "type")]
    kind: Option<Spanned<String>>,
}

/// 1-based line and column of byte `offset` in `text`.
fn locate(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

/// Collects problems against the file's text.
struct Problems<'a> {
    text: &'a str,
    found: Vec<Problem>,
}

impl Problems<'_> {
    fn at<T>(&mut self, value: &Spanned<T>, message: impl Into<String>, help: impl Into<String>) {
        let (line, column) = locate(self.text, value.span().start);
        self.found.push(Problem {
            line,
            column,
            message: message.into(),
            help: help.into(),
        });
    }
}

/// A user or group name as useradd accepts it: a lower-case letter or `_` first, then
/// lower-case letters, digits, `_` and `-`, at most 32.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z' | '_'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_' | '-'))
        && name.len() <= 32
}

/// A hostname (RFC 1123): labels of letters, digits and `-`, not starting or ending with
/// `-`, each at most 63, in all at most 253.
fn valid_hostname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// Names of the users the image itself has, which a provisioning file may not redefine.
pub const SYSTEM_USERS: [&str; 3] = ["root", "nobody", "dhcpcd"];

/// Parses and checks a provisioning file; every problem is reported, each located.
pub fn parse(text: &str) -> Result<Provision, Vec<Problem>> {
    let raw: RawProvision = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            let (line, column) = e.span().map_or((1, 1), |s| locate(text, s.start));
            return Err(vec![Problem {
                line,
                column,
                message: e.message().to_string(),
                help: "the keys are hostname, shell, [[user]], [[network.ethernet]], [[network.wifi]], [[file]] and [[service]] (see `compose provision check --help`)".into(),
            }]);
        }
    };
    let mut p = Problems {
        text,
        found: Vec::new(),
    };
    if let Some(h) = &raw.hostname
        && !valid_hostname(h.get_ref())
    {
        p.at(
            h,
            format!("`{}` is not a valid hostname", h.get_ref()),
            "use letters, digits and `-` in dot-separated labels of at most 63 characters",
        );
    }
    if let Some(shell) = &raw.shell
        && !shell
            .get_ref()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        p.at(
            shell,
            format!("`{}` is not a shell name", shell.get_ref()),
            "name a shell of the image, e.g. desktop, gaming or tablet",
        );
    }
    let mut users = Vec::new();
    let mut names = BTreeSet::new();
    for u in &raw.user {
        let name = u.name.get_ref();
        if !valid_name(name) {
            p.at(
                &u.name,
                format!("`{name}` is not a valid user name"),
                "start with a lower-case letter or `_`, then lower-case letters, digits, `_` or `-` (at most 32)",
            );
        } else if SYSTEM_USERS.contains(&name.as_str()) {
            p.at(
                &u.name,
                format!("user `{name}` belongs to the image"),
                "pick another name; root logs in with the image's own settings",
            );
        } else if !names.insert(name.clone()) {
            p.at(
                &u.name,
                format!("user `{name}` is defined twice"),
                "merge the two [[user]] tables",
            );
        }
        for g in &u.groups {
            if !valid_name(g.get_ref()) {
                p.at(
                    g,
                    format!("`{}` is not a valid group name", g.get_ref()),
                    "group names follow the rules of user names",
                );
            }
        }
        for k in &u.ssh_keys {
            let key = k.get_ref();
            let mut words = key.split_whitespace();
            let kind = words.next().unwrap_or_default();
            let body = words.next().unwrap_or_default();
            let known = kind.starts_with("ssh-")
                || kind.starts_with("ecdsa-sha2-")
                || kind.starts_with("sk-");
            if !known || body.len() < 16 || key.contains('\n') {
                p.at(
                    k,
                    format!("`{}` is not an SSH public key", shorten(key)),
                    "paste one line of a .pub file: `ssh-ed25519 AAAA... comment`",
                );
            }
        }
        if let Some(s) = &u.shell
            && !s.get_ref().starts_with('/')
        {
            p.at(
                s,
                format!("shell `{}` is not an absolute path", s.get_ref()),
                "name the program, e.g. /bin/sh",
            );
        }
        if let Some(h) = &u.password_hash
            && !(h.get_ref().starts_with('$') && !h.get_ref().contains(':'))
        {
            p.at(
                h,
                "password-hash is not a crypt(3) hash",
                "make one with `openssl passwd -6` (it starts with `$6$`); never the password itself",
            );
        }
        users.push(User {
            name: name.clone(),
            groups: u.groups.iter().map(|g| g.get_ref().clone()).collect(),
            ssh_keys: u.ssh_keys.iter().map(|k| k.get_ref().clone()).collect(),
            shell: u
                .shell
                .as_ref()
                .map_or("/bin/sh".to_string(), |s| s.get_ref().clone()),
            password_hash: u.password_hash.as_ref().map(|h| h.get_ref().clone()),
        });
    }
    let mut ethernet = Vec::new();
    for e in &raw.network.ethernet {
        let interface = e.interface.get_ref();
        if interface.is_empty() || interface.len() > 15 || interface.contains(['/', ' ', '\n']) {
            p.at(
                &e.interface,
                format!("`{interface}` is not an interface name"),
                "name it as the kernel does, e.g. eth0 or enp1s0",
            );
        }
        let good_cidr = e.address.get_ref().split_once('/').is_some_and(|(a, n)| {
            a.parse::<IpAddr>().is_ok() && n.parse::<u8>().is_ok_and(|n| n <= 128)
        });
        if !good_cidr {
            p.at(
                &e.address,
                format!("`{}` is not ADDRESS/PREFIX", e.address.get_ref()),
                "write the address with its prefix length, e.g. 192.168.1.20/24",
            );
        }
        for ip in e.gateway.iter().chain(&e.dns) {
            if ip.get_ref().parse::<IpAddr>().is_err() {
                p.at(
                    ip,
                    format!("`{}` is not an IP address", ip.get_ref()),
                    "write an address such as 192.168.1.1",
                );
            }
        }
        ethernet.push(Ethernet {
            interface: interface.clone(),
            address: e.address.get_ref().clone(),
            gateway: e.gateway.as_ref().map(|g| g.get_ref().clone()),
            dns: e.dns.iter().map(|d| d.get_ref().clone()).collect(),
        });
    }
    let mut wifi = Vec::new();
    for w in &raw.network.wifi {
        let ssid = w.ssid.get_ref();
        if ssid.is_empty() || ssid.len() > 32 || ssid.contains(['/', '\n']) {
            p.at(
                &w.ssid,
                format!("`{ssid}` is not an SSID iwd can store"),
                "1 to 32 bytes, without `/` or line breaks",
            );
        }
        let n = w.passphrase.get_ref().len();
        if !(8..=63).contains(&n) {
            p.at(
                &w.passphrase,
                format!("the passphrase has {n} characters; WPA2 needs 8 to 63"),
                "use the network's WPA passphrase",
            );
        }
        wifi.push(Wifi {
            ssid: ssid.clone(),
            passphrase: w.passphrase.get_ref().clone(),
        });
    }
    let mut files = Vec::new();
    let mut paths = BTreeSet::new();
    for f in &raw.file {
        let path = f.path.get_ref();
        let normal = path.starts_with('/')
            && !path.ends_with('/')
            && path
                .split('/')
                .skip(1)
                .all(|c| !c.is_empty() && c != "." && c != "..");
        if !normal {
            p.at(
                &f.path,
                format!("`{path}` is not an absolute, normal file path"),
                "write the whole path from /, without `..`, `.` or `//`",
            );
        } else if !(path.starts_with("/etc/") || path.starts_with("/var/")) {
            p.at(
                &f.path,
                format!("`{path}` is on the read-only system"),
                "provisioned files go under /etc or /var (put programs into a component instead)",
            );
        } else if path.starts_with("/var/lib/compose/") || path.starts_with("/etc/compose/") {
            p.at(
                &f.path,
                format!("`{path}` is compose's own state"),
                "choose a path outside /etc/compose and /var/lib/compose",
            );
        } else if !paths.insert(path.clone()) {
            p.at(
                &f.path,
                format!("`{path}` is written twice"),
                "keep one [[file]] per path",
            );
        }
        let mode = match &f.mode {
            None => 0o644,
            Some(m) => match u32::from_str_radix(m.get_ref(), 8) {
                Ok(mode) if mode <= 0o7777 => mode,
                _ => {
                    p.at(
                        m,
                        format!("mode `{}` is not an octal file mode", m.get_ref()),
                        "write it as a string of octal digits, e.g. \"0640\"",
                    );
                    0o644
                }
            },
        };
        if let Some(o) = &f.owner
            && !(SYSTEM_USERS.contains(&o.get_ref().as_str()) || names.contains(o.get_ref()))
        {
            p.at(
                o,
                format!(
                    "owner `{}` is not a user of this file or the image",
                    o.get_ref()
                ),
                format!(
                    "define it in a [[user]] table, or use one of: {}",
                    SYSTEM_USERS.join(", ")
                ),
            );
        }
        files.push(File {
            path: path.clone(),
            content: f.content.clone(),
            mode,
            owner: f.owner.as_ref().map(|o| o.get_ref().clone()),
        });
    }
    let mut services = Vec::new();
    let mut service_names = BTreeSet::new();
    for s in &raw.service {
        let name = s.name.get_ref();
        let service_name = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !service_name {
            p.at(
                &s.name,
                format!("`{name}` is not a service name"),
                "use letters, digits, `-` and `_`",
            );
        } else if !service_names.insert(name.clone()) {
            p.at(
                &s.name,
                format!("service `{name}` is defined twice"),
                "keep one [[service]] per name",
            );
        }
        if !s.exec.get_ref().first().is_some_and(|e| e.starts_with('/')) {
            p.at(
                &s.exec,
                "exec must start with the program's absolute path",
                "e.g. exec = [\"/bin/busybox\", \"sh\", \"-c\", \"...\"]",
            );
        }
        let restart = s.restart.as_ref().map_or("no", |r| r.get_ref().as_str());
        if !["no", "on-failure", "always"].contains(&restart) {
            p.at(
                s.restart.as_ref().expect("only a given value is wrong"),
                format!("restart `{restart}` is not one of no, on-failure, always"),
                "pick one of no, on-failure, always",
            );
        }
        let kind = s.kind.as_ref().map_or("simple", |k| k.get_ref().as_str());
        if !["simple", "oneshot"].contains(&kind) {
            p.at(
                s.kind.as_ref().expect("only a given value is wrong"),
                format!("type `{kind}` is not one of simple, oneshot"),
                "simple: up while it runs; oneshot: up once it exited successfully",
            );
        }
        services.push(Service {
            component: "provision".into(),
            name: name.clone(),
            exec: s.exec.get_ref().clone(),
            after: s.after.clone(),
            requires: s.requires.clone(),
            restart: restart.into(),
            kind: kind.into(),
        });
    }
    if !p.found.is_empty() {
        return Err(p.found);
    }
    Ok(Provision {
        hostname: raw.hostname.map(|h| h.into_inner()),
        shell: raw.shell.map(|s| s.into_inner()),
        users,
        ethernet,
        wifi,
        files,
        services,
    })
}

fn shorten(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}...", s.chars().take(40).collect::<String>())
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_file_parses() {
        let p = parse(
            r#"hostname = "kiosk-01"
[[user]]
name = "alice"
groups = ["wheel"]
ssh-keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG alice@laptop"]

[[network.ethernet]]
interface = "eth0"
address = "10.0.2.15/24"
gateway = "10.0.2.2"
dns = ["10.0.2.3"]

[[network.wifi]]
ssid = "home"
passphrase = "correct horse"

[[file]]
path = "/etc/motd"
content = "hi\n"
mode = "0640"
owner = "alice"

[[service]]
name = "hello"
exec = ["/bin/busybox", "echo", "hello"]
type = "oneshot"
"#,
        )
        .unwrap();
        assert_eq!(p.hostname.as_deref(), Some("kiosk-01"));
        assert_eq!(p.users[0].shell, "/bin/sh");
        assert_eq!(p.files[0].mode, 0o640);
        assert_eq!(p.services[0].restart, "no");
        assert_eq!(p.wifi[0].ssid, "home");
    }

    #[test]
    fn every_problem_is_located_with_help() {
        let text = r#"hostname = "bad_host"
[[user]]
name = "Alice"
ssh-keys = ["not a key"]

[[user]]
name = "root"

[[file]]
path = "/usr/bin/x"
content = ""

[[file]]
path = "/etc/../shadow"
content = ""
owner = "mallory"
mode = "999"

[[service]]
name = "s"
exec = ["sh"]
restart = "sometimes"
"#;
        let problems = parse(text).unwrap_err();
        let at: Vec<(usize, &str)> = problems
            .iter()
            .map(|p| (p.line, p.message.as_str()))
            .collect();
        assert_eq!(
            at,
            [
                (1, "`bad_host` is not a valid hostname"),
                (3, "`Alice` is not a valid user name"),
                (4, "`not a key` is not an SSH public key"),
                (7, "user `root` belongs to the image"),
                (10, "`/usr/bin/x` is on the read-only system"),
                (14, "`/etc/../shadow` is not an absolute, normal file path"),
                (17, "mode `999` is not an octal file mode"),
                (
                    16,
                    "owner `mallory` is not a user of this file or the image"
                ),
                (21, "exec must start with the program's absolute path"),
                (
                    22,
                    "restart `sometimes` is not one of no, on-failure, always"
                ),
            ]
        );
        assert!(problems.iter().all(|p| !p.help.is_empty()));
    }

    #[test]
    fn unknown_keys_and_bad_toml_are_located() {
        let problems =
            parse("hostname = \"a\"\n\n[[user]]\nname = \"bob\"\nkeys = []\n").unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].line, 5, "{problems:?}");
        assert!(problems[0].message.contains("keys"), "{problems:?}");
        let problems = parse("hostname = \n").unwrap_err();
        assert_eq!(problems[0].line, 1);
    }
}
