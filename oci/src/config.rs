//! The image config's defaults for a container: what runs (Entrypoint, then Cmd or the
//! caller's arguments, as `docker run` does), its environment, folder and user. Grants
//! stay the caller's business: a config grants nothing.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::OciError;

/// What an image's config says, as far as running it goes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    /// `amd64`, `arm64` ... (empty when the config does not say).
    pub architecture: String,
    pub os: String,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    /// `NAME=VALUE`, in the config's order.
    pub env: Vec<String>,
    /// Empty: `/`.
    pub working_dir: String,
    /// `UID[:GID]` or `NAME[:GROUP]`; empty: root.
    pub user: String,
    /// The digests of each layer's uncompressed tar (`rootfs.diff_ids`).
    pub diff_ids: Vec<String>,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    os: String,
    config: Option<RawRun>,
    rootfs: Option<RawRootfs>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawRun {
    entrypoint: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    env: Option<Vec<String>>,
    working_dir: Option<String>,
    user: Option<String>,
}

#[derive(Deserialize)]
struct RawRootfs {
    #[serde(default)]
    diff_ids: Vec<String>,
}

impl ImageConfig {
    /// Parses a config blob (`application/vnd.oci.image.config.v1+json`, or Docker's).
    pub fn parse(bytes: &[u8]) -> Result<ImageConfig, String> {
        let raw: Raw = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let run = raw.config.unwrap_or(RawRun {
            entrypoint: None,
            cmd: None,
            env: None,
            working_dir: None,
            user: None,
        });
        Ok(ImageConfig {
            architecture: raw.architecture,
            os: raw.os,
            entrypoint: run.entrypoint.unwrap_or_default(),
            cmd: run.cmd.unwrap_or_default(),
            env: run.env.unwrap_or_default(),
            working_dir: run.working_dir.unwrap_or_default(),
            user: run.user.unwrap_or_default(),
            diff_ids: raw.rootfs.map(|r| r.diff_ids).unwrap_or_default(),
        })
    }

    /// What runs: Entrypoint, then `args` when given, else Cmd.
    pub fn command(&self, image: &str, args: &[String]) -> Result<Vec<String>, OciError> {
        let mut run = self.entrypoint.clone();
        let rest: &[String] = if args.is_empty() { &self.cmd } else { args };
        run.extend(rest.iter().cloned());
        if run.is_empty() {
            return Err(OciError::NothingToRun {
                image: image.to_string(),
            });
        }
        Ok(run)
    }

    /// The folder the program starts in.
    pub fn cwd(&self) -> &str {
        if self.working_dir.is_empty() {
            "/"
        } else {
            &self.working_dir
        }
    }

    /// The user's UID and GID: numbers as written, names looked up in the unpacked
    /// root's `/etc/passwd` and `/etc/group`.
    pub fn user_ids(&self, image: &str, rootfs: &Path) -> Result<(u32, u32), OciError> {
        if self.user.is_empty() {
            return Ok((0, 0));
        }
        let unknown = || OciError::UnknownUser {
            image: image.to_string(),
            user: self.user.clone(),
        };
        let (user, group) = match self.user.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (self.user.as_str(), None),
        };
        let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap_or_default();
        let (uid, primary) = match user.parse::<u32>() {
            Ok(uid) => {
                let gid = lookup(&passwd, |f| f[2] == user, 3).unwrap_or(uid);
                (uid, gid)
            }
            Err(_) => (
                lookup(&passwd, |f| f[0] == user, 2).ok_or_else(unknown)?,
                lookup(&passwd, |f| f[0] == user, 3).ok_or_else(unknown)?,
            ),
        };
        let gid = match group {
            None => primary,
            Some(g) => match g.parse::<u32>() {
                Ok(gid) => gid,
                Err(_) => {
                    let groups =
                        std::fs::read_to_string(rootfs.join("etc/group")).unwrap_or_default();
                    lookup(&groups, |f| f[0] == g, 2).ok_or_else(unknown)?
                }
            },
        };
        Ok((uid, gid))
    }
}

/// Field `field` (a number) of the first line of a colon-separated database whose
/// fields match.
fn lookup(db: &str, matches: impl Fn(&[&str]) -> bool, field: usize) -> Option<u32> {
    db.lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() > 3)
        .find(|f| matches(f))
        .and_then(|f| f[field].parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_as_docker_run_takes_them() {
        let c = ImageConfig::parse(
            br#"{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/bin/tool"],"Cmd":["--help"],"Env":["A=1"],"WorkingDir":"/work","User":"app"},"rootfs":{"type":"layers","diff_ids":["sha256:00"]}}"#,
        )
        .unwrap();
        assert_eq!(c.command("i", &[]).unwrap(), ["/bin/tool", "--help"]);
        assert_eq!(c.command("i", &["x".into()]).unwrap(), ["/bin/tool", "x"]);
        assert_eq!(
            (c.cwd(), c.env.as_slice()),
            ("/work", &["A=1".to_string()][..])
        );
        let none = ImageConfig::parse(br#"{"architecture":"amd64"}"#).unwrap();
        assert!(
            none.command("i", &[])
                .unwrap_err()
                .to_string()
                .contains("after --")
        );
        assert_eq!(none.cwd(), "/");

        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("etc")).unwrap();
        std::fs::write(
            root.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(root.path().join("etc/group"), "root:x:0:\nstaff:x:50:\n").unwrap();
        assert_eq!(c.user_ids("i", root.path()).unwrap(), (1000, 1001));
        let with = |u: &str| ImageConfig {
            user: u.into(),
            ..ImageConfig::default()
        };
        assert_eq!(
            with("app:staff").user_ids("i", root.path()).unwrap(),
            (1000, 50)
        );
        assert_eq!(with("7:8").user_ids("i", root.path()).unwrap(), (7, 8));
        assert_eq!(
            with("1000").user_ids("i", root.path()).unwrap(),
            (1000, 1001)
        );
        assert_eq!(with("").user_ids("i", root.path()).unwrap(), (0, 0));
        assert!(with("nobody").user_ids("i", root.path()).is_err());
    }
}
