//! `compose-update fleet`: the device's side of the fleet. It dials out only: enrolls once
//! with a token (the credential goes to its state file), then long-polls the server and does
//! what it is told: install a release (each step reported), reboot once FleetLock gives the
//! group a slot, run a queued command. After the reboot it reports how the boot went (the
//! new version, or a rollback) and frees its slot.

use std::path::PathBuf;
use std::time::Duration;

use compose_update::agent::{Repo, Running};
use compose_update::fleet::{
    API, Action, Enroll, Enrolled, ExecDone, FLEETLOCK_HEADER, Report, Step,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug)]
pub struct Options {
    pub server: String,
    pub enroll_token: PathBuf,
    pub token: Option<String>,
    pub state: PathBuf,
    pub id: Option<String>,
    pub wait: u64,
    pub running: Running,
}

/// What the agent keeps across reboots.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    id: String,
    credential: String,
    group: String,
    /// An update installed and rebooted into: reported once the device is up again.
    #[serde(default)]
    pending: Option<Pending>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Pending {
    rollout: i64,
    version: String,
}

type Error = Box<dyn std::error::Error>;

struct Server {
    base: String,
    agent: ureq::Agent,
    credential: String,
}

impl Server {
    fn new(base: &str, credential: &str, wait: u64) -> Server {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(wait + 30)))
            .http_status_as_error(false)
            .build()
            .new_agent();
        Server {
            base: base.to_string(),
            agent,
            credential: credential.to_string(),
        }
    }

    fn answer(
        &self,
        url: &str,
        r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<serde_json::Value, Error> {
        let mut r = r.map_err(|e| format!("{url}: {e}"))?;
        let status = r.status();
        let body: serde_json::Value = r.body_mut().read_json().unwrap_or_default();
        if !status.is_success() {
            let why = body["error"]
                .as_str()
                .or(body["value"].as_str())
                .unwrap_or_default();
            return Err(format!("{url}: {status}: {why}").into());
        }
        Ok(body)
    }

    fn get(&self, path: &str) -> Result<serde_json::Value, Error> {
        let url = format!("{}{path}", self.base);
        let r = self
            .agent
            .get(&url)
            .header("Authorization", &format!("Bearer {}", self.credential))
            .call();
        self.answer(&url, r)
    }

    fn post(&self, path: &str, body: &serde_json::Value) -> Result<serde_json::Value, Error> {
        let url = format!("{}{path}", self.base);
        let r = self
            .agent
            .post(&url)
            .header("Authorization", &format!("Bearer {}", self.credential))
            .header(FLEETLOCK_HEADER, "true")
            .send_json(body);
        self.answer(&url, r)
    }

    fn report(&self, rollout: i64, step: Step, version: &str, reason: Option<String>) {
        let report = Report {
            rollout,
            step,
            version: version.to_string(),
            reason,
        };
        let body = serde_json::to_value(&report).unwrap_or_default();
        if let Err(e) = self.post(&format!("{API}/device/report"), &body) {
            eprintln!(
                "compose-update: fleet: cannot report {}: {e}",
                step.as_str()
            );
        }
    }
}

fn log(message: &str) {
    eprintln!("compose-update: fleet: {message}");
}

fn save(path: &std::path::Path, state: &State) -> Result<(), Error> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let aside = path.with_extension("json.new");
    std::fs::write(&aside, serde_json::to_vec_pretty(state)?)?;
    std::fs::File::open(&aside)?.sync_all()?;
    std::fs::rename(&aside, path)?;
    Ok(())
}

/// Enrolls, or reads the credential it got before.
fn enrolled(o: &Options) -> Result<State, Error> {
    if let Ok(text) = std::fs::read(&o.state)
        && let Ok(state) = serde_json::from_slice::<State>(&text)
    {
        return Ok(state);
    }
    let token = match &o.token {
        Some(t) => t.clone(),
        None => std::fs::read_to_string(&o.enroll_token).map_err(|e| {
            format!(
                "not enrolled yet and no enrollment token at {}: {e} (an admin makes one with `compose fleet token enroll`)",
                o.enroll_token.display()
            )
        })?,
    };
    let id = match &o.id {
        Some(id) => id.clone(),
        None => std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .ok_or("no --id and no /etc/hostname to name this device")?,
    };
    let body = serde_json::to_value(Enroll {
        token: token.trim().to_string(),
        id: id.clone(),
        device: o.running.device.clone(),
        version: o.running.version.clone(),
    })?;
    let server = Server::new(&o.server, "", o.wait);
    let enrolled: Enrolled = serde_json::from_value(server.post(&format!("{API}/enroll"), &body)?)?;
    let state = State {
        id,
        credential: enrolled.credential,
        group: enrolled.group,
        pending: None,
    };
    save(&o.state, &state)?;
    log(&format!(
        "enrolled as {} in group {}",
        state.id, state.group
    ));
    Ok(state)
}

pub fn run(o: &Options) -> Result<u8, Error> {
    let mut state = loop {
        match enrolled(o) {
            Ok(s) => break s,
            // The server may not be up yet, or the network: try again, as any agent would.
            Err(e) if e.to_string().contains("401") || e.to_string().contains("409") => {
                return Err(e);
            }
            Err(e) => {
                log(&format!("{e}; trying again in 10 s"));
                std::thread::sleep(Duration::from_secs(10));
            }
        }
    };
    let server = Server::new(&o.server, &state.credential, o.wait);
    let version = o.running.version.clone();
    let lock_body = json!({"client_params": {"id": state.id, "group": state.group}});
    // Back from the reboot of an update: say how it went, then free the reboot slot.
    if let Some(p) = state.pending.take() {
        if version == p.version {
            log(&format!("booted {version}: reporting it"));
            server.report(p.rollout, Step::Booted, &version, None);
        } else {
            let why = format!(
                "booted {version} again instead of {}: the new slot never got ready",
                p.version
            );
            log(&why);
            server.report(p.rollout, Step::RolledBack, &version, Some(why));
        }
        save(&o.state, &state)?;
    }
    if let Err(e) = server.post("/v1/steady-state", &lock_body) {
        log(&format!("steady-state: {e}"));
    }
    log(&format!(
        "polling {} as {} ({} {})",
        o.server, state.id, o.running.device, version
    ));
    loop {
        let action = server.get(&format!(
            "{API}/device/poll?version={version}&wait={}",
            o.wait
        ));
        let action: Action = match action.and_then(|v| Ok(serde_json::from_value(v)?)) {
            Ok(a) => a,
            Err(e) => {
                log(&format!("poll: {e}; again in 10 s"));
                std::thread::sleep(Duration::from_secs(10));
                continue;
            }
        };
        match action {
            Action::Wait { seconds, .. } => {
                // The server held the poll open already; a short pause keeps a busy server
                // from being polled in a loop.
                std::thread::sleep(Duration::from_secs(seconds.clamp(1, 5)));
            }
            Action::Exec { id, argv } => {
                log(&format!("running command {id}: {}", argv.join(" ")));
                let done = match std::process::Command::new(&argv[0])
                    .args(&argv[1..])
                    .output()
                {
                    Ok(out) => ExecDone {
                        exit_code: out.status.code().unwrap_or(128),
                        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                    },
                    Err(e) => ExecDone {
                        exit_code: 127,
                        stdout: String::new(),
                        stderr: format!("{}: {e}\n", argv[0]),
                    },
                };
                let body = serde_json::to_value(&done)?;
                if let Err(e) = server.post(&format!("{API}/device/exec/{id}"), &body) {
                    log(&format!("command {id}: cannot report: {e}"));
                }
            }
            Action::Update {
                rollout,
                version: target,
                repo,
            } => {
                log(&format!("rollout {rollout}: installing {target}"));
                server.report(rollout, Step::Downloading, &version, None);
                let repo = if repo.starts_with('/') {
                    Repo::new(&format!("{}{repo}", o.server))
                } else {
                    Repo::new(&repo)
                };
                let installed =
                    crate::install_offer(&o.running, &repo, Some(&target), &mut |s| log(s));
                match installed {
                    Ok(Some(done)) => {
                        log(&format!("installed {} in slot {}", done.version, done.slot))
                    }
                    Ok(None) => {}
                    Err(e) => {
                        log(&format!("rollout {rollout}: failed: {e}"));
                        server.report(rollout, Step::Failed, &version, Some(e.to_string()));
                        continue;
                    }
                }
                server.report(rollout, Step::Staged, &version, None);
                state.pending = Some(Pending {
                    rollout,
                    version: target.clone(),
                });
                save(&o.state, &state)?;
                // A reboot slot of the group, from FleetLock; held until the next boot says
                // steady-state (or its lease runs out).
                loop {
                    match server.post("/v1/pre-reboot", &lock_body) {
                        Ok(_) => break,
                        Err(e) => {
                            log(&format!("waiting for a reboot slot: {e}"));
                            std::thread::sleep(Duration::from_secs(5));
                        }
                    }
                }
                server.report(rollout, Step::Rebooting, &version, None);
                log(&format!("rebooting into {target}"));
                compose_update::device::reboot()?;
                return Ok(0);
            }
        }
    }
}
