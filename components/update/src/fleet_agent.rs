//! `compose-update fleet`: the device's side of the fleet. It dials out only, over HTTPS with
//! the CAs its image pins: enrolls once with a request for the key it made itself (with a
//! token it is accepted at once; without one it asks again every 10 s until an admin accepts
//! it), keeps the certificate it got and shows it on every request (mutual TLS; on a loopback
//! server without TLS a bearer credential instead), then long-polls the server and does
//! what it is told: install a release (each step reported), reboot once FleetLock gives the
//! group a slot, run a queued command, renew its certificate before it expires. Removed by
//! an admin (the server no longer knows its certificate), it forgets its enrollment and asks
//! to join again without its token, pending until an admin accepts it. After the reboot it
//! reports how the boot went (the new version, or a rollback) and frees its slot.

use std::path::PathBuf;
use std::time::Duration;

use compose_update::agent::{Repo, Running};
use compose_update::fleet::{API, Action, Enroll, Enrolled, ExecDone, Report, Step};
use compose_update::identity::Identity;
use compose_update::link::{Enrollment, Link};
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

fn report(link: &Link, rollout: i64, step: Step, version: &str, reason: Option<String>) {
    let report = Report {
        rollout,
        step,
        version: version.to_string(),
        reason,
    };
    let body = serde_json::to_value(&report).unwrap_or_default();
    if let Err(e) = link.post(&format!("{API}/device/report"), &body) {
        eprintln!(
            "compose-update: fleet: cannot report {}: {e}",
            step.as_str()
        );
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

/// The agent's key and certificate live beside its state file.
fn identity(o: &Options) -> Result<Identity, Error> {
    let dir = o.state.parent().unwrap_or(std::path::Path::new("."));
    Ok(Identity::load_or_make(dir)?)
}

/// Enrolls, or reads what it got before. Without an enrollment token (or with
/// `with_token` false) the device asks anyway and waits, pending, until an admin accepts it.
fn enrolled(o: &Options, identity: &Identity, with_token: bool) -> Result<State, Error> {
    if let Ok(text) = std::fs::read(&o.state)
        && let Ok(state) = serde_json::from_slice::<State>(&text)
    {
        if !identity.has_certificate()
            && !state.credential.is_empty()
            && o.server.starts_with("https://")
        {
            upgrade(o, identity, &state)?;
        }
        return Ok(state);
    }
    let token = match &o.token {
        _ if !with_token => String::new(),
        Some(t) => t.clone(),
        None => std::fs::read_to_string(&o.enroll_token).unwrap_or_default(),
    };
    let id = match &o.id {
        Some(id) => id.clone(),
        None => std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .ok()
            .filter(|h| !h.is_empty())
            .ok_or("no --id and no /etc/hostname to name this device")?,
    };
    let enroll = Enroll {
        token: token.trim().to_string(),
        id: id.clone(),
        device: o.running.device.clone(),
        version: o.running.version.clone(),
        csr: Some(identity.request(&id)?),
    };
    let link = Link::new(&o.server, "", o.wait, &o.running.tls)?;
    let enrolled = match link.enroll(&enroll)? {
        Enrollment::Accepted(e) => e,
        Enrollment::Pending => {
            return Err(format!(
                "pending: the server knows {id} (key {}) and waits for an admin to accept it (`compose fleet devices accept {id} --group GROUP --key {}`)",
                &identity.key_sha256()[..16],
                &identity.key_sha256()[..16]
            )
            .into());
        }
    };
    if let Some(certificate) = &enrolled.certificate {
        identity.save_certificate(certificate)?;
    }
    let state = State {
        id,
        credential: enrolled.credential,
        group: enrolled.group,
        pending: None,
    };
    save(&o.state, &state)?;
    log(&format!(
        "enrolled as {} in group {}{}",
        state.id,
        state.group,
        if identity.has_certificate() {
            " (device certificate issued)"
        } else {
            ""
        }
    ));
    Ok(state)
}

/// A device enrolled before devices had keys (a bearer credential, no certificate), now
/// talking to a server over TLS: its credential vouches once for the key it made, and it
/// gets its certificate.
fn upgrade(o: &Options, identity: &Identity, state: &State) -> Result<(), Error> {
    let link = Link::new(&o.server, &state.credential, o.wait, &o.running.tls)?;
    let enroll = Enroll {
        token: String::new(),
        id: state.id.clone(),
        device: o.running.device.clone(),
        version: o.running.version.clone(),
        csr: Some(identity.request(&state.id)?),
    };
    match link.enroll(&enroll)? {
        Enrollment::Accepted(Enrolled {
            certificate: Some(certificate),
            ..
        }) => {
            identity.save_certificate(&certificate)?;
            log(&format!(
                "{}: its credential vouched for its new key; device certificate issued",
                state.id
            ));
            Ok(())
        }
        other => Err(format!("asking for a certificate as {}: {other:?}", state.id).into()),
    }
}

/// How serving the fleet ended.
enum Served {
    /// Rebooting into an update, or told to stop: the program's exit code.
    Exit(u8),
    /// The server no longer knows the device (removed by an admin): it forgot its enrollment
    /// and asks to join again.
    Removed,
}

pub fn run(o: &Options) -> Result<u8, Error> {
    let identity = identity(o)?;
    let mut with_token = true;
    loop {
        match serve(o, &identity, with_token)? {
            Served::Exit(code) => return Ok(code),
            // A removed device asks again without its token, as pending: only an admin lets
            // it back in (a token good for several devices would otherwise undo a removal).
            Served::Removed => with_token = false,
        }
    }
}

/// Forgets the enrollment (its state and certificate; the key stays the device's).
fn forget(o: &Options, identity: &Identity) -> Result<(), Error> {
    for path in [o.state.clone(), identity.cert_path()] {
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(
                    format!("cannot forget the enrollment: {}: {e}", path.display()).into(),
                );
            }
            _ => {}
        }
    }
    Ok(())
}

/// The enrolled device's connection: its certificate as it is on disk now (or its bearer
/// credential, to a loopback server without TLS).
fn device_link(o: &Options, identity: &Identity, state: &State) -> Result<Link, Error> {
    Ok(Link::new(
        &o.server,
        &state.credential,
        o.wait,
        &identity.trust(&o.running.tls)?,
    )?)
}

/// Enrolls (or reads the enrollment), then polls and does what the server says.
fn serve(o: &Options, identity: &Identity, with_token: bool) -> Result<Served, Error> {
    let mut state = loop {
        match enrolled(o, identity, with_token) {
            Ok(s) => break s,
            // A wrong token, or an admin's refusal, stays so: stop and say why. The server
            // may not be up yet, or the network, or another request under this id may be in
            // the way until an admin removes it (409): try again, as any agent would.
            Err(e) if e.to_string().contains(": 401: ") || e.to_string().contains(": 403: ") => {
                return Err(e);
            }
            Err(e) => {
                log(&format!("{e}; trying again in 10 s"));
                std::thread::sleep(Duration::from_secs(10));
            }
        }
    };
    let mut server = device_link(o, identity, &state)?;
    let version = o.running.version.clone();
    let lock_body = json!({"client_params": {"id": state.id, "group": state.group}});
    // Back from the reboot of an update: say how it went, then free the reboot slot.
    if let Some(p) = state.pending.take() {
        if version == p.version {
            log(&format!("booted {version}: reporting it"));
            report(&server, p.rollout, Step::Booted, &version, None);
        } else {
            let why = format!(
                "booted {version} again instead of {}: the new slot never got ready",
                p.version
            );
            log(&why);
            report(&server, p.rollout, Step::RolledBack, &version, Some(why));
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
            Err(e) if e.to_string().contains(": 401: ") => {
                log(&format!(
                    "poll: {e}\nthe server no longer knows this device (removed from the fleet): asking to join again, pending until an admin accepts it"
                ));
                forget(o, identity)?;
                return Ok(Served::Removed);
            }
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
            Action::Renew { expires_at } => match server.renew(identity, &state.id) {
                Ok(until) => {
                    log(&format!(
                        "device certificate renewed: valid until {until} (Unix time; the old one until {expires_at})"
                    ));
                    server = device_link(o, identity, &state)?;
                }
                Err(e) => {
                    log(&format!(
                        "renewing the device certificate: {e}; again in 10 s"
                    ));
                    std::thread::sleep(Duration::from_secs(10));
                }
            },
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
                report(&server, rollout, Step::Downloading, &version, None);
                let trust = identity.trust(&o.running.tls)?;
                let repo = if repo.starts_with('/') {
                    Repo::new(&format!("{}{repo}", o.server), &trust)
                } else {
                    Repo::new(&repo, &trust)
                };
                let installed = repo.map_err(Error::from).and_then(|repo| {
                    crate::install_offer(&o.running, &repo, Some(&target), &mut |s| log(s))
                });
                match installed {
                    Ok(Some(done)) => {
                        log(&format!("installed {} in slot {}", done.version, done.slot))
                    }
                    Ok(None) => {}
                    Err(e) => {
                        log(&format!("rollout {rollout}: failed: {e}"));
                        report(
                            &server,
                            rollout,
                            Step::Failed,
                            &version,
                            Some(e.to_string()),
                        );
                        continue;
                    }
                }
                report(&server, rollout, Step::Staged, &version, None);
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
                report(&server, rollout, Step::Rebooting, &version, None);
                log(&format!("rebooting into {target}"));
                compose_update::device::reboot()?;
                return Ok(Served::Exit(0));
            }
        }
    }
}
