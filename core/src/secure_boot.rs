//! Secure Boot with the project's own keys. `keys/secureboot/` holds the platform key (PK),
//! the key exchange key (KEK) and the signature database key (db): each a secret `.key` and
//! a `.crt` (made by `compose keys generate` with openssl), and each certificate's enrolment
//! file `.auth` (an EFI signature list signed by the key above it, made with efitools). A
//! build signs systemd-boot and every UKI with db (osslsigncode, whose signing time is set to
//! the build's epoch: RSA PKCS#1 v1.5 signatures are deterministic, so the same inputs give
//! the same bytes), and puts the `.auth` files on the ESP at `loader/keys/auto/`, which
//! systemd-boot enrols on a machine in setup mode (`secure-boot-enroll force`).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::tool::{ToolError, run};

/// Where a project keeps its Secure Boot keys.
pub const DIR: &str = "keys/secureboot";

/// The keys, from the top of the chain down.
pub const KEYS: [&str; 3] = ["PK", "KEK", "db"];

/// The owner GUID of compose's signature list entries.
const OWNER: &str = "8c1b1f5e-5c4b-4b43-9c6e-636f6d706f73";

/// The enrolment files' time stamp: authenticated variables need one, and a fixed one keeps
/// them the same on every machine (a firmware only compares it with later writes).
const AUTH_TIME: &str = "2026-01-01 00:00:00";

/// A project's Secure Boot keys, as a build uses them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    pub db_key: PathBuf,
    pub db_crt: PathBuf,
    /// `(name, file)` of PK, KEK and db's enrolment files.
    pub auth: Vec<(String, PathBuf)>,
}

/// Why a project's Secure Boot keys cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "{dir} lacks {missing}\nhelp: make the whole set again with `compose keys generate --force` (devices enrolled with the old keys will refuse images signed by new ones)"
    )]
    Incomplete { dir: String, missing: String },
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error("cannot {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Keys {
    /// What the image key takes from them: the db certificate and the enrolment files.
    pub fn fingerprint(&self) -> Result<String, crate::build::BuildError> {
        let mut all = Vec::new();
        for path in std::iter::once(&self.db_crt).chain(self.auth.iter().map(|(_, p)| p)) {
            all.extend(
                std::fs::read(path).map_err(|e| crate::build::BuildError::io("read", path, e))?,
            );
        }
        Ok(crate::store::sha256(&all))
    }
}

/// The project's keys; `None` when it has none (images are then unsigned).
pub fn project_keys(project: &Path) -> Result<Option<Keys>, KeyError> {
    let dir = project.join(DIR);
    if !dir.exists() {
        return Ok(None);
    }
    let file = |name: &str| dir.join(name);
    let mut needed = vec![file("db.key"), file("db.crt")];
    needed.extend(KEYS.iter().map(|k| file(&format!("{k}.auth"))));
    let missing: Vec<String> = needed
        .iter()
        .filter(|p| !p.is_file())
        .map(|p| {
            p.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    if !missing.is_empty() {
        return Err(KeyError::Incomplete {
            dir: dir.display().to_string(),
            missing: missing.join(", "),
        });
    }
    Ok(Some(Keys {
        db_key: file("db.key"),
        db_crt: file("db.crt"),
        auth: KEYS
            .iter()
            .map(|k| (k.to_string(), file(&format!("{k}.auth"))))
            .collect(),
    }))
}

/// Makes PK, KEK and db in `dir` (keys mode 0600) and their enrolment files.
pub fn generate(dir: &Path) -> Result<(), KeyError> {
    std::fs::create_dir_all(dir).map_err(|source| KeyError::Io {
        what: "create",
        path: dir.to_path_buf(),
        source,
    })?;
    for name in KEYS {
        let key = dir.join(format!("{name}.key"));
        run(
            Command::new("openssl")
                .args([
                    "req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
                ])
                .args(["-days", "7300", "-subj"])
                .arg(format!("/CN=compose {name}/"))
                .arg("-keyout")
                .arg(&key)
                .arg("-out")
                .arg(dir.join(format!("{name}.crt"))),
            "openssl",
            "openssl",
        )?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).map_err(
            |source| KeyError::Io {
                what: "protect",
                path: key.clone(),
                source,
            },
        )?;
        run(
            Command::new("cert-to-efi-sig-list")
                .args(["-g", OWNER])
                .arg(dir.join(format!("{name}.crt")))
                .arg(dir.join(format!("{name}.esl"))),
            "cert-to-efi-sig-list",
            "efitools",
        )?;
    }
    // Each list is signed by the key above it; PK signs itself.
    for (name, signer) in [("PK", "PK"), ("KEK", "PK"), ("db", "KEK")] {
        run(
            Command::new("sign-efi-sig-list")
                .args(["-g", OWNER, "-t", AUTH_TIME, "-k"])
                .arg(dir.join(format!("{signer}.key")))
                .arg("-c")
                .arg(dir.join(format!("{signer}.crt")))
                .arg(name)
                .arg(dir.join(format!("{name}.esl")))
                .arg(dir.join(format!("{name}.auth"))),
            "sign-efi-sig-list",
            "efitools",
        )?;
    }
    Ok(())
}

/// Signs the EFI program `input` with db into `output` (Authenticode, SHA-256), the signing
/// time set to `epoch`.
pub fn sign(keys: &Keys, input: &Path, output: &Path, epoch: u64) -> Result<(), ToolError> {
    let _ = std::fs::remove_file(output);
    run(
        Command::new("osslsigncode")
            .args(["sign", "-h", "sha256", "-certs"])
            .arg(&keys.db_crt)
            .arg("-key")
            .arg(&keys.db_key)
            .arg("-time")
            .arg(epoch.to_string())
            .arg("-in")
            .arg(input)
            .arg("-out")
            .arg(output),
        "osslsigncode",
        "osslsigncode",
    )?;
    Ok(())
}
