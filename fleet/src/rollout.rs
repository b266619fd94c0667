//! What a device is told when it polls, and what its reports do to a rollout: its wave's
//! start, its group's maintenance window and limit of devices in flight decide whether it is
//! offered the release; a failure report halts the rollout once the failed share of the
//! device's wave reaches the rollout's threshold (hawkBit's error condition).

use compose_update::fleet::{Action, Report, Step};
use serde::Serialize;

use crate::schedule::format_duration;
use crate::store::{Device, Progress, Rollout, RolloutState, Store, StoreError};

/// Where devices find the update repository, relative to the server.
pub const REPO_PATH: &str = "/repo";

/// How long a device with nothing to do waits before it polls again.
pub const IDLE_POLL: u64 = 60;

/// The next action for `device` (already known to run `device.version`).
pub fn decide(store: &Store, device: &Device, now: u64) -> Result<Action, StoreError> {
    let wait = |seconds: u64, why: String| Action::Wait { seconds, why };
    let Some(rollout) = store.rollout_for(&device.group)? else {
        return Ok(wait(IDLE_POLL, "no rollout for this group".into()));
    };
    if device.version == rollout.version {
        return Ok(wait(
            IDLE_POLL,
            format!("up to date with rollout {}", rollout.id),
        ));
    }
    if rollout.state != RolloutState::Running {
        return Ok(wait(
            IDLE_POLL,
            format!(
                "rollout {} is {}{}",
                rollout.id,
                rollout.state.as_str(),
                rollout
                    .note
                    .as_deref()
                    .map(|n| format!(": {n}"))
                    .unwrap_or_default()
            ),
        ));
    }
    let wave = rollout.schedule.wave_of(device.seed);
    if let Some(p) = store.progress(&device.id, rollout.id)? {
        if p.step.failed() {
            return Ok(wait(
                IDLE_POLL,
                format!(
                    "{} in rollout {}: not offered again",
                    p.step.as_str(),
                    rollout.id
                ),
            ));
        }
        if p.step.in_flight() {
            // Busy with it already: the agent picks up where it was.
            return Ok(update(&rollout));
        }
    }
    let starts = rollout.started_at + rollout.schedule.waves[wave].after;
    if now < starts {
        let left = starts - now;
        return Ok(wait(
            left.min(IDLE_POLL),
            format!("wave {} starts in {}", wave + 1, format_duration(left)),
        ));
    }
    let group = store.group(&device.group)?;
    if let Some(window) = &group.window
        && !in_window(window, now)
    {
        return Ok(wait(
            IDLE_POLL,
            format!("outside the maintenance window {window} (UTC)"),
        ));
    }
    if !store.offer(
        &device.id,
        rollout.id,
        wave,
        &device.group,
        group.max_in_flight,
        now,
    )? {
        return Ok(wait(
            IDLE_POLL.min(10),
            format!(
                "group {} has its {} devices updating",
                group.name, group.max_in_flight
            ),
        ));
    }
    Ok(update(&rollout))
}

fn update(rollout: &Rollout) -> Action {
    Action::Update {
        rollout: rollout.id,
        version: rollout.version.clone(),
        repo: REPO_PATH.into(),
    }
}

/// Why a report was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ReportRefused {
    #[error("rollout {0} does not exist")]
    NoRollout(i64),
    #[error("rollout {0} was never offered to this device; poll first")]
    NotOffered(i64),
}

/// Records `report` from `device`; halts the rollout when the wave's failures reach its
/// threshold. Returns the rollout as it is afterwards.
pub fn report(
    store: &Store,
    device: &Device,
    report: &Report,
    now: u64,
) -> Result<Result<Rollout, ReportRefused>, StoreError> {
    let Some(rollout) = store.rollout(report.rollout)? else {
        return Ok(Err(ReportRefused::NoRollout(report.rollout)));
    };
    let Some(progress) = store.progress(&device.id, rollout.id)? else {
        return Ok(Err(ReportRefused::NotOffered(rollout.id)));
    };
    store.seen(&device.id, &report.version, now)?;
    store.set_progress(
        &device.id,
        rollout.id,
        progress.wave,
        report.step,
        report.reason.as_deref(),
        now,
    )?;
    if report.step.failed() && rollout.state == RolloutState::Running {
        let size = store.devices_in_seeds(
            rollout.group.as_deref(),
            rollout.schedule.seeds(progress.wave),
        )?;
        let failed = store.failed_in_wave(rollout.id, progress.wave)?;
        if size > 0 && failed as f64 * 100.0 >= rollout.threshold * size as f64 {
            let note = format!(
                "wave {}: {failed} of {size} devices failed ({:.1}%, threshold {}%); last: {} {}",
                progress.wave + 1,
                failed as f64 * 100.0 / size as f64,
                rollout.threshold,
                device.id,
                report.reason.as_deref().unwrap_or(report.step.as_str())
            );
            store.transition_rollout(
                rollout.id,
                &[RolloutState::Running],
                RolloutState::Halted,
                Some(&note),
            )?;
        }
    }
    Ok(Ok(store.rollout(rollout.id)?.unwrap_or(rollout)))
}

/// One wave of a rollout, for the API and the console.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WaveStatus {
    pub wave: usize,
    pub percent: u32,
    pub starts_at: u64,
    /// Devices whose seed is in this wave.
    pub devices: u64,
    pub offered: u64,
    pub in_flight: u64,
    pub booted: u64,
    pub failed: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RolloutStatus {
    #[serde(flatten)]
    pub rollout: Rollout,
    pub devices: u64,
    /// Devices of its scope that run its version (also those that had it before).
    pub running_version: u64,
    /// Devices busy with it now (offered, downloading, staged, rebooting), every wave.
    pub in_flight: u64,
    pub complete: bool,
    pub waves: Vec<WaveStatus>,
}

pub fn status(store: &Store, rollout: Rollout) -> Result<RolloutStatus, StoreError> {
    Ok(status_and_progress(store, rollout)?.0)
}

/// The status and every device's progress it was counted from (read once).
pub fn status_and_progress(
    store: &Store,
    rollout: Rollout,
) -> Result<(RolloutStatus, Vec<Progress>), StoreError> {
    let progress = store.rollout_progress(rollout.id)?;
    let mut waves: Vec<WaveStatus> = rollout
        .schedule
        .waves
        .iter()
        .enumerate()
        .map(|(i, w)| {
            Ok(WaveStatus {
                wave: i + 1,
                percent: w.percent,
                starts_at: rollout.started_at + w.after,
                devices: store
                    .devices_in_seeds(rollout.group.as_deref(), rollout.schedule.seeds(i))?,
                offered: 0,
                in_flight: 0,
                booted: 0,
                failed: 0,
            })
        })
        .collect::<Result<_, StoreError>>()?;
    for p in &progress {
        let Some(w) = waves.get_mut(p.wave) else {
            continue;
        };
        w.offered += 1;
        match p.step {
            Step::Booted => w.booted += 1,
            s if s.failed() => w.failed += 1,
            _ => w.in_flight += 1,
        }
    }
    let (devices, running_version) =
        store.devices_running(rollout.group.as_deref(), &rollout.version)?;
    let failed: u64 = waves.iter().map(|w| w.failed).sum();
    let status = RolloutStatus {
        complete: devices > 0 && running_version + failed >= devices,
        devices,
        running_version,
        in_flight: waves.iter().map(|w| w.in_flight).sum(),
        waves,
        rollout,
    };
    Ok((status, progress))
}

/// Whether `now` (Unix seconds) is inside the daily UTC window `HH:MM-HH:MM` (it may wrap
/// past midnight).
pub fn in_window(window: &str, now: u64) -> bool {
    let Some((start, end)) = parse_window(window) else {
        return true;
    };
    let minute = (now % 86400 / 60) as u32;
    if start <= end {
        (start..end).contains(&minute)
    } else {
        minute >= start || minute < end
    }
}

/// `HH:MM-HH:MM` as minutes of the day.
pub fn parse_window(window: &str) -> Option<(u32, u32)> {
    let minutes = |t: &str| -> Option<u32> {
        let (h, m) = t.trim().split_once(':')?;
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60).then_some(h * 60 + m)
    };
    let (a, b) = window.split_once('-')?;
    Some((minutes(a)?, minutes(b)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_wrap_past_midnight() {
        let at = |h: u64, m: u64| h * 3600 + m * 60 + 86400 * 100;
        assert!(in_window("02:00-04:00", at(3, 0)));
        assert!(!in_window("02:00-04:00", at(4, 0)));
        assert!(in_window("22:00-02:00", at(23, 30)));
        assert!(in_window("22:00-02:00", at(1, 59)));
        assert!(!in_window("22:00-02:00", at(12, 0)));
        assert_eq!(parse_window("25:00-01:00"), None);
    }
}
