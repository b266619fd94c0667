//! The fleet protocol between a device's agent and `compose fleet serve`: the agent dials
//! out and enrolls once, sending a certificate signing request for the key it made itself
//! (with an enrollment token it is accepted at once; without one it waits, pending, until an
//! admin accepts it); over TLS it then authenticates with the certificate it got (mutual
//! TLS), on a loopback server without TLS with a bearer credential. It polls and reports each
//! step of an update. Nothing on the device listens; the server reaches a device only in the
//! answer to its poll. Reboots are coordinated with FleetLock (`/v1/pre-reboot`,
//! `/v1/steady-state`), the protocol Zincati speaks.

use serde::{Deserialize, Serialize};

/// Prefix of every endpoint of the API.
pub const API: &str = "/api/v1";

/// The header FleetLock requires on every request.
pub const FLEETLOCK_HEADER: &str = "fleet-lock-protocol";

/// `POST /api/v1/enroll`: a device asks to join, with an enrollment token or without (then it
/// is pending until an admin accepts it).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Enroll {
    /// The enrollment token an admin made (`compose fleet token enroll`); empty for none.
    #[serde(default)]
    pub token: String,
    /// The device's own stable identity (its machine id or host name).
    pub id: String,
    /// The device type the image was built for (`vm`, `laptop` ...).
    pub device: String,
    /// The version it runs.
    pub version: String,
    /// A PEM certificate signing request for the device's own key, its subject's common name
    /// the id: the device's identity (required over TLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csr: Option<String>,
}

/// The answer to an accepted enrollment. With a CSR: the device's certificate, issued by the
/// server's device CA (the credential is empty). Without: a bearer credential, shown once
/// (the server keeps its hash).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Enrolled {
    #[serde(default)]
    pub credential: String,
    pub group: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
}

/// The answer (202) to an enrollment without a token: the device waits until an admin accepts
/// it (`compose fleet devices accept ID`), asking again now and then with the same key.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Pending {
    pub pending: bool,
    pub id: String,
}

/// `GET /api/v1/device/poll`: what the server wants this device to do next.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    /// Nothing now; poll again after this many seconds.
    Wait { seconds: u64, why: String },
    /// Install `version` from the update repository at `repo` (relative to the server's URL
    /// when it starts with `/`), then reboot into it once FleetLock allows.
    Update {
        rollout: i64,
        version: String,
        repo: String,
    },
    /// Run `argv` and report what it printed (`compose fleet exec`).
    Exec { id: i64, argv: Vec<String> },
    /// The device's certificate expires at `expires_at` (Unix seconds): ask for a new one for
    /// the same key ([`Renew`] to `/api/v1/device/renew`), then poll again.
    Renew { expires_at: u64 },
}

/// A device's request for a new certificate for the key it has (over mutual TLS, with the
/// certificate it has now).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Renew {
    /// A PEM certificate signing request for the device's key, its common name the id.
    pub csr: String,
}

/// The server's answer to [`Renew`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Renewed {
    /// The new certificate, PEM.
    pub certificate: String,
    /// When it expires (Unix seconds).
    pub expires_at: u64,
}

/// One step of an update, as the agent reports it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    /// Offered by the server, not yet started (the server's own mark).
    Offered,
    Downloading,
    /// Installed in the other slot; it boots next, on trial.
    Staged,
    /// Holds a reboot slot and reboots now.
    Rebooting,
    /// Booted the new version and got ready.
    Booted,
    /// Booted the old version again: the new one never got ready.
    RolledBack,
    /// Refused or could not install; `reason` says why.
    Failed,
}

impl Step {
    /// Whether the device is still busy with the update (counts against max in flight).
    pub fn in_flight(self) -> bool {
        matches!(
            self,
            Step::Offered | Step::Downloading | Step::Staged | Step::Rebooting
        )
    }

    /// Whether the update failed on this device (counts against the wave's threshold).
    pub fn failed(self) -> bool {
        matches!(self, Step::RolledBack | Step::Failed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Step::Offered => "offered",
            Step::Downloading => "downloading",
            Step::Staged => "staged",
            Step::Rebooting => "rebooting",
            Step::Booted => "booted",
            Step::RolledBack => "rolled-back",
            Step::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Step> {
        [
            Step::Offered,
            Step::Downloading,
            Step::Staged,
            Step::Rebooting,
            Step::Booted,
            Step::RolledBack,
            Step::Failed,
        ]
        .into_iter()
        .find(|step| step.as_str() == s)
    }
}

/// `POST /api/v1/device/report`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    pub rollout: i64,
    pub step: Step,
    /// The version the device runs now.
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `POST /api/v1/device/exec/{id}`: what a command run through the agent printed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ExecDone {
    pub exit_code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// FleetLock's request body: `{"client_params": {"id": ..., "group": ...}}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FleetLockRequest {
    pub client_params: FleetLockClient,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FleetLockClient {
    pub id: String,
    pub group: String,
}

/// FleetLock's error body: `{"kind": ..., "value": ...}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FleetLockError {
    pub kind: String,
    pub value: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_are_tagged_kebab_case() {
        let a = Action::Update {
            rollout: 3,
            version: "2".into(),
            repo: "/repo".into(),
        };
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(
            json,
            r#"{"action":"update","rollout":3,"version":"2","repo":"/repo"}"#
        );
        assert_eq!(serde_json::from_str::<Action>(&json).unwrap(), a);
        for step in [Step::RolledBack, Step::Booted, Step::Offered] {
            assert_eq!(Step::parse(step.as_str()), Some(step));
            assert_eq!(
                serde_json::to_string(&step).unwrap(),
                format!("\"{}\"", step.as_str())
            );
        }
        assert!(Step::Staged.in_flight() && !Step::Booted.in_flight());
        assert!(Step::RolledBack.failed() && !Step::Staged.failed());
    }
}
