//! Who may call what. Admin API tokens carry a role (read < operate < admin); device
//! credentials, handed out at enrollment, reach only the device endpoints and FleetLock.
//! Every secret is 32 random bytes with a prefix that says what it is; only its SHA-256 is
//! stored.

use serde::{Deserialize, Serialize};

/// An admin token's role; each includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Look: devices, groups, rollouts, locks.
    Read,
    /// Act on rollouts and devices: create, pause, resume, abort, move between groups.
    Operate,
    /// Everything: tokens, group policy, removing devices, running commands on devices.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Operate => "operate",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "read" => Some(Role::Read),
            "operate" => Some(Role::Operate),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// Prefixes of the three kinds of secret.
pub const ADMIN_PREFIX: &str = "cfa_";
pub const ENROLL_PREFIX: &str = "cfe_";
pub const DEVICE_PREFIX: &str = "cfd_";

/// A new secret: `prefix` and 32 random bytes in hex.
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the kernel gives random bytes");
    format!("{prefix}{}", hex::encode(bytes))
}

/// What the store keeps of a secret.
pub fn hash(secret: &str) -> String {
    compose_update::sha256_hex(secret.as_bytes())
}

/// The bearer token of an `Authorization` header.
pub fn bearer(header: Option<&str>) -> Option<&str> {
    header?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// A random seed for a new device's wave, in `0..schedule::SEEDS`.
pub fn new_seed() -> u32 {
    let mut bytes = [0u8; 4];
    getrandom::fill(&mut bytes).expect("the kernel gives random bytes");
    u32::from_le_bytes(bytes) % crate::schedule::SEEDS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_secrets_unique() {
        assert!(Role::Read < Role::Operate && Role::Operate < Role::Admin);
        assert_eq!(Role::parse("operate"), Some(Role::Operate));
        assert_eq!(Role::parse("root"), None);
        let (a, b) = (new_secret(ADMIN_PREFIX), new_secret(ADMIN_PREFIX));
        assert_ne!(a, b);
        assert!(a.starts_with("cfa_") && a.len() == 4 + 64);
        assert_ne!(hash(&a), a);
        assert_eq!(bearer(Some("Bearer x")), Some("x"));
        assert_eq!(bearer(Some("Basic x")), None);
        assert_eq!(bearer(Some("Bearer ")), None);
    }
}
