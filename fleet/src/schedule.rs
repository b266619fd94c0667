//! Rollout schedules as data: waves of a growing share of devices, each starting at an offset
//! from the rollout's start. A device's wave follows from its seed (0..2048, drawn once at
//! enrollment, as Bottlerocket's updog does), so it is stable for the device's lifetime.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Seeds are drawn from `0..SEEDS`.
pub const SEEDS: u32 = 2048;

/// Bottlerocket's default: 1% at 1 h, 5% at 4 h, 10% at 1 d, 25% at 3 d, 100% at 6 d.
pub const DEFAULT: &str = "1%@1h,5%@4h,10%@1d,25%@3d,100%@6d";

/// One wave: devices up to `percent` of all (cumulative) may update from `after` seconds on.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Wave {
    pub percent: u32,
    pub after: u64,
}

/// Waves in order, the last one at 100%.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Schedule {
    pub waves: Vec<Wave>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error(
    "schedule `{text}`: {problem}\nhelp: write waves as PERCENT%@OFFSET separated by commas, growing in both, the last at 100% (offsets in s, m, h or d), e.g. `{DEFAULT}`"
)]
pub struct ScheduleError {
    pub text: String,
    pub problem: String,
}

impl Schedule {
    pub fn parse(text: &str) -> Result<Schedule, ScheduleError> {
        let error = |problem: String| ScheduleError {
            text: text.to_string(),
            problem,
        };
        let mut waves = Vec::new();
        for part in text.split(',').map(str::trim) {
            let (percent, after) = part
                .split_once("%@")
                .ok_or_else(|| error(format!("`{part}` is not PERCENT%@OFFSET")))?;
            let percent: u32 = percent
                .parse()
                .ok()
                .filter(|p| (1..=100).contains(p))
                .ok_or_else(|| error(format!("`{percent}` is not a percentage from 1 to 100")))?;
            let after = parse_duration(after)
                .ok_or_else(|| error(format!("`{after}` is not an offset like 30s, 4h or 3d")))?;
            if let Some(last) = waves.last() {
                let last: &Wave = last;
                if percent <= last.percent || after <= last.after {
                    return Err(error(format!(
                        "wave `{part}` does not come after {}%@{}",
                        last.percent,
                        format_duration(last.after)
                    )));
                }
            }
            waves.push(Wave { percent, after });
        }
        if waves.last().map(|w| w.percent) != Some(100) {
            return Err(error("the last wave must reach 100%".into()));
        }
        Ok(Schedule { waves })
    }

    /// The wave (0-based) of a device with `seed`.
    pub fn wave_of(&self, seed: u32) -> usize {
        self.waves
            .iter()
            .position(|w| u64::from(seed) * 100 < u64::from(w.percent) * u64::from(SEEDS))
            .unwrap_or(self.waves.len() - 1)
    }
}

impl Schedule {
    /// The seeds of wave `wave`.
    pub fn seeds(&self, wave: usize) -> std::ops::Range<u32> {
        let bound = |percent: u32| (percent * SEEDS).div_ceil(100);
        let start = if wave == 0 {
            0
        } else {
            bound(self.waves[wave - 1].percent)
        };
        start..bound(self.waves[wave].percent)
    }
}

impl Default for Schedule {
    fn default() -> Schedule {
        Schedule::parse(DEFAULT).expect("the default schedule parses")
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, w) in self.waves.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}%@{}", w.percent, format_duration(w.after))?;
        }
        Ok(())
    }
}

/// `90`, `30s`, `15m`, `4h`, `3d` as seconds.
pub fn parse_duration(text: &str) -> Option<u64> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: u64 = number.parse().ok()?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return None,
    };
    n.checked_mul(unit)
}

pub fn format_duration(seconds: u64) -> String {
    match seconds {
        0 => "0s".into(),
        s if s % 86400 == 0 => format!("{}d", s / 86400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_bottlerockets_and_round_trips() {
        let s = Schedule::default();
        assert_eq!(s.waves.len(), 5);
        assert_eq!(
            s.waves[0],
            Wave {
                percent: 1,
                after: 3600
            }
        );
        assert_eq!(s.to_string(), DEFAULT);
        assert_eq!(Schedule::parse(&s.to_string()).unwrap(), s);
    }

    #[test]
    fn seeds_fall_into_waves_by_share() {
        let s = Schedule::default();
        let mut counts = [0usize; 5];
        for seed in 0..SEEDS {
            counts[s.wave_of(seed)] += 1;
        }
        // 1%, 4%, 5%, 15%, 75% of 2048 seeds.
        assert_eq!(counts, [21, 82, 102, 307, 1536]);
        for (wave, count) in counts.iter().enumerate() {
            let seeds = s.seeds(wave);
            assert_eq!(seeds.len(), *count);
            assert!(seeds.clone().all(|seed| s.wave_of(seed) == wave));
        }
    }

    #[test]
    fn bad_schedules_say_what_is_wrong() {
        for (text, problem) in [
            ("5%@1h,1%@2h", "does not come after"),
            // Review: waves that do not grow in time were taken (one wave in all but name).
            ("10%@1h,100%@1h", "does not come after"),
            ("5%@1h", "last wave must reach 100%"),
            ("0%@1h,100%@2h", "not a percentage"),
            ("10%@1w,100%@2w", "not an offset"),
            ("10%,100%@2h", "not PERCENT%@OFFSET"),
        ] {
            let e = Schedule::parse(text).unwrap_err().to_string();
            assert!(e.contains(problem), "{text}: {e}");
            assert!(e.contains("help:"), "{e}");
        }
    }
}
