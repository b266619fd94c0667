//! A user's password checked against the shadow file (`/etc/shadow`), as login does: the
//! hash of the user's line verified with yescrypt (`$y$`, Debian's default) or SHA-crypt
//! (`$6$`, `$5$`), in pure Rust (RustCrypto's `yescrypt` and `sha-crypt`).

use std::path::Path;

use yescrypt::PasswordVerifier;

/// Why a password could not be checked (a wrong password is not an error: `Ok(false)`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("cannot read {path}: {message} (the shell checks passwords as root)")]
    Read { path: String, message: String },
    #[error("{path} has no line for user `{user}`")]
    NoUser { path: String, user: String },
    #[error(
        "the account `{user}` is locked or has no password in {path}; set one with `passwd {user}`"
    )]
    NoPassword { path: String, user: String },
    #[error(
        "the password hash of `{user}` is of a kind the shell does not know (`{scheme}`); set it again with `passwd {user}` (yescrypt or SHA-512)"
    )]
    Scheme { user: String, scheme: String },
}

/// Whether `user` has a password the shell can check (read, and of a known kind), without
/// hashing anything: a lock screen that could never be unlocked is refused.
pub fn usable(shadow: &Path, user: &str) -> Result<(), PasswordError> {
    let hash = hash_of(shadow, user)?;
    match problem(&hash) {
        None => Ok(()),
        Some(p) => Err(p.for_user(shadow, user)),
    }
}

/// Whether `password` is `user`'s, by the hash in `shadow`.
pub fn check(shadow: &Path, user: &str, password: &str) -> Result<bool, PasswordError> {
    let hash = hash_of(shadow, user)?;
    verify(&hash, password).map_err(|e| e.for_user(shadow, user))
}

/// The hash field of `user`'s line.
fn hash_of(shadow: &Path, user: &str) -> Result<String, PasswordError> {
    let text = std::fs::read_to_string(shadow).map_err(|e| PasswordError::Read {
        path: shadow.display().to_string(),
        message: e.to_string(),
    })?;
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| *name == user)
        .map(|(_, rest)| rest.split(':').next().unwrap_or_default().to_string())
        .ok_or_else(|| PasswordError::NoUser {
            path: shadow.display().to_string(),
            user: user.to_string(),
        })
}

enum HashProblem {
    NoPassword,
    Scheme(String),
}

impl HashProblem {
    fn for_user(self, shadow: &Path, user: &str) -> PasswordError {
        match self {
            HashProblem::NoPassword => PasswordError::NoPassword {
                path: shadow.display().to_string(),
                user: user.to_string(),
            },
            HashProblem::Scheme(scheme) => PasswordError::Scheme {
                user: user.to_string(),
                scheme,
            },
        }
    }
}

/// What keeps `hash` from ever matching a password, if anything: `!` or `*` (a locked
/// account, or one without password logins) and empty (no password) never unlock a screen.
fn problem(hash: &str) -> Option<HashProblem> {
    if hash.is_empty() || hash.starts_with('!') || hash.starts_with('*') {
        return Some(HashProblem::NoPassword);
    }
    match hash.split('$').nth(1).unwrap_or_default() {
        "y" | "6" | "5" => None,
        "" => Some(HashProblem::Scheme("DES".into())),
        other => Some(HashProblem::Scheme(format!("${other}$"))),
    }
}

/// Whether `password` matches a crypt(3) `hash`.
fn verify(hash: &str, password: &str) -> Result<bool, HashProblem> {
    if let Some(p) = problem(hash) {
        return Err(p);
    }
    let result = if hash.starts_with("$y$") {
        yescrypt::Yescrypt::default().verify_password(password.as_bytes(), hash)
    } else {
        sha_crypt::ShaCrypt::default().verify_password(password.as_bytes(), hash)
    };
    Ok(result.is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made by the system's crypt(3) (libxcrypt, through Python's crypt module) for the
    // password "correct horse".
    const YESCRYPT: &str =
        "$y$j9T$Zq1zW8kP2mJ0n4Xb7cYdE/$VoLoxGVG3IqGwLxn2Saon69Uw/zL5D1SJirlRf1HLc.";
    const SHA512: &str = "$6$saltsaltsalt$Cy2drr8kDRji6smvDcT28wkqtq0R0VzVL5CkrjPQCITc5d/31j94knt9rGTcVSyjLXfjsiIsBh5ee8qR/3QDx1";

    #[test]
    fn hashes_from_the_systems_crypt_verify_and_others_are_refused_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let shadow = dir.path().join("shadow");
        std::fs::write(
            &shadow,
            format!(
                "root:{YESCRYPT}:19000:0:99999:7:::\nada:{SHA512}:19000::::::\nlocked:!{SHA512}:1::::::\nold:abJnggxhB/yWI:1::::::\n"
            ),
        )
        .unwrap();
        assert_eq!(check(&shadow, "root", "correct horse"), Ok(true));
        assert_eq!(usable(&shadow, "root"), Ok(()));
        assert!(usable(&shadow, "locked").is_err());
        assert_eq!(check(&shadow, "root", "correct horsf"), Ok(false));
        assert_eq!(check(&shadow, "ada", "correct horse"), Ok(true));
        assert_eq!(check(&shadow, "ada", ""), Ok(false));
        assert!(matches!(
            check(&shadow, "locked", "correct horse"),
            Err(PasswordError::NoPassword { .. })
        ));
        let old = check(&shadow, "old", "x").unwrap_err();
        assert!(old.to_string().contains("passwd old"), "{old}");
        assert!(matches!(
            check(&shadow, "nobody", "x"),
            Err(PasswordError::NoUser { .. })
        ));
        let missing = check(&dir.path().join("none"), "root", "x").unwrap_err();
        assert!(missing.to_string().contains("cannot read"), "{missing}");
    }
}
