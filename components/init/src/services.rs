//! The service table and its supervision policy: start order, restarts with back-off,
//! giving up, and when the system counts as ready. Pure: the main loop does the syscalls.

use std::time::{Duration, Instant};

use serde::Deserialize;

/// One row of `/usr/lib/compose/services.json`, written by `compose build`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Spec {
    pub component: String,
    pub name: String,
    pub exec: Vec<String>,
    #[serde(default)]
    pub after: Vec<String>,
    #[serde(default)]
    pub requires: Vec<String>,
    #[serde(default)]
    pub restart: Restart,
    #[serde(default, rename = "type")]
    pub kind: Kind,
}

/// `simple`: up while it runs. `oneshot`: up once it has exited successfully.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    #[default]
    Simple,
    Oneshot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Restart {
    #[default]
    No,
    OnFailure,
    Always,
}

/// How long a simple service must have been running to count as up: a service that
/// crashes at once must not make the system look ready in between its restarts.
pub const SETTLE: Duration = Duration::from_millis(100);

/// A run this long resets a service's failure count.
pub const STABLE: Duration = Duration::from_secs(10);

/// Consecutive failures after which a service is given up on.
pub const MAX_FAILURES: u32 = 5;

/// Wait before the `failures`-th restart: 100 ms, doubling, at most 5 s.
pub fn backoff(failures: u32) -> Duration {
    let ms = 100u64.saturating_mul(1 << failures.saturating_sub(1).min(6));
    Duration::from_millis(ms.min(5_000))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Not started yet (waiting for its turn or its back-off).
    Waiting {
        not_before: Option<Instant>,
    },
    Running {
        pid: i32,
        since: Instant,
    },
    /// Exited successfully and is not restarted: done.
    Done,
    /// Failed too often, or a service it requires failed: given up.
    GaveUp {
        reason: String,
    },
}

#[derive(Debug, Clone)]
pub struct Service {
    pub spec: Spec,
    pub status: Status,
    pub failures: u32,
}

/// What the main loop should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Start(usize),
    GiveUp(usize, String),
}

#[derive(Debug, Clone)]
pub struct Table {
    pub services: Vec<Service>,
}

impl Table {
    pub fn new(specs: Vec<Spec>) -> Table {
        Table {
            services: specs
                .into_iter()
                .map(|spec| Service {
                    spec,
                    status: Status::Waiting { not_before: None },
                    failures: 0,
                })
                .collect(),
        }
    }

    fn find(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.spec.name == name)
    }

    /// Services to start now, in table order: each after the ones it names in `after` and
    /// `requires` have started; a service whose requirement was given up on is given up.
    pub fn next_actions(&self, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        for (i, s) in self.services.iter().enumerate() {
            let Status::Waiting { not_before } = s.status else {
                continue;
            };
            if not_before.is_some_and(|t| t > now) {
                continue;
            }
            let gone = s.spec.requires.iter().find(|r| match self.find(r) {
                None => true,
                Some(other) => matches!(other.status, Status::GaveUp { .. }),
            });
            if let Some(r) = gone {
                actions.push(Action::GiveUp(
                    i,
                    format!("it requires `{r}`, which is missing or failed"),
                ));
                continue;
            }
            let waits = s.spec.after.iter().chain(&s.spec.requires).any(|r| {
                self.find(r)
                    .is_some_and(|o| o.failures == 0 && matches!(o.status, Status::Waiting { .. }))
            });
            if !waits {
                actions.push(Action::Start(i));
            }
        }
        actions
    }

    /// Records the exit of `pid`; returns the service index and whether it will restart.
    pub fn exited(&mut self, pid: i32, success: bool, now: Instant) -> Option<(usize, bool)> {
        let i = self
            .services
            .iter()
            .position(|s| matches!(s.status, Status::Running { pid: p, .. } if p == pid))?;
        let s = &mut self.services[i];
        // A service that ran a good while before failing starts its failure count afresh.
        if let Status::Running { since, .. } = s.status {
            if now.saturating_duration_since(since) >= STABLE {
                s.failures = 0;
            }
        }
        let restart = match s.spec.restart {
            Restart::Always => true,
            Restart::OnFailure => !success,
            Restart::No => false,
        };
        if success {
            s.failures = 0;
        } else {
            s.failures += 1;
        }
        s.status = if !restart {
            if success {
                Status::Done
            } else {
                Status::GaveUp {
                    reason: "it exited with an error".into(),
                }
            }
        } else if s.failures >= MAX_FAILURES {
            Status::GaveUp {
                reason: format!("it failed {MAX_FAILURES} times in a row"),
            }
        } else {
            Status::Waiting {
                not_before: Some(now + backoff(s.failures.max(1))),
            }
        };
        Some((i, matches!(s.status, Status::Waiting { .. })))
    }

    /// The next moment something changes without a signal: a back-off ends, or a simple
    /// service has run for `SETTLE` (it then counts as up). `None`: nothing is pending.
    pub fn next_wake(&self, now: Instant) -> Option<Instant> {
        self.services
            .iter()
            .filter_map(|s| match (s.spec.kind, &s.status) {
                (_, Status::Waiting { not_before }) => *not_before,
                (Kind::Simple, Status::Running { since, .. }) => Some(*since + SETTLE),
                _ => None,
            })
            .filter(|t| *t > now)
            .min()
    }

    /// Ready: every simple service has been running for `SETTLE` (or is done), every
    /// oneshot is done. A given-up service means never ready.
    pub fn ready(&self, now: Instant) -> bool {
        self.services
            .iter()
            .all(|s| match (s.spec.kind, &s.status) {
                (_, Status::Done) => true,
                (Kind::Simple, Status::Running { since, .. }) => {
                    now.duration_since(*since) >= SETTLE
                }
                _ => false,
            })
    }

    pub fn given_up(&self) -> Vec<(&str, &str)> {
        self.services
            .iter()
            .filter_map(|s| match &s.status {
                Status::GaveUp { reason } => Some((s.spec.name.as_str(), reason.as_str())),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, after: &[&str], restart: Restart) -> Spec {
        Spec {
            component: "c".into(),
            name: name.into(),
            exec: vec!["/bin/true".into()],
            after: after.iter().map(|s| s.to_string()).collect(),
            requires: Vec::new(),
            restart,
            kind: Kind::Simple,
        }
    }

    #[test]
    fn init_wakes_for_the_next_back_off_or_settle_and_no_sooner() {
        let now = Instant::now();
        let mut t = Table::new(vec![
            spec("a", &[], Restart::Always),
            spec("b", &[], Restart::Always),
        ]);
        assert_eq!(t.next_wake(now), None, "nothing started, nothing timed");
        t.services[0].status = Status::Running { pid: 1, since: now };
        t.services[1].status = Status::Waiting {
            not_before: Some(now + Duration::from_secs(3)),
        };
        assert_eq!(t.next_wake(now), Some(now + SETTLE));
        assert_eq!(
            t.next_wake(now + SETTLE),
            Some(now + Duration::from_secs(3)),
            "a settled service needs no wake-up"
        );
        assert_eq!(t.next_wake(now + Duration::from_secs(3)), None);
    }

    #[test]
    fn backoff_doubles_up_to_five_seconds() {
        let ms: Vec<u128> = (1..=8).map(|n| backoff(n).as_millis()).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
    }

    #[test]
    fn starts_in_order_after_what_it_names() {
        let now = Instant::now();
        let mut t = Table::new(vec![
            spec("net", &[], Restart::No),
            spec("ssh", &["net"], Restart::No),
        ]);
        assert_eq!(t.next_actions(now), [Action::Start(0)]);
        t.services[0].status = Status::Running {
            pid: 10,
            since: now,
        };
        assert_eq!(t.next_actions(now), [Action::Start(1)]);
    }

    #[test]
    fn restarts_with_backoff_then_gives_up_and_never_gets_ready() {
        let now = Instant::now();
        let mut t = Table::new(vec![spec("crashy", &[], Restart::OnFailure)]);
        for n in 1..MAX_FAILURES {
            t.services[0].status = Status::Running { pid: 7, since: now };
            assert_eq!(t.exited(7, false, now), Some((0, true)), "restart {n}");
            assert!(t.next_actions(now).is_empty(), "waits for its back-off");
            assert_eq!(t.next_actions(now + backoff(n)), [Action::Start(0)]);
        }
        t.services[0].status = Status::Running { pid: 7, since: now };
        assert_eq!(t.exited(7, false, now), Some((0, false)));
        assert!(!t.ready(now));
        assert_eq!(t.given_up(), [("crashy", "it failed 5 times in a row")]);
    }

    #[test]
    fn a_simple_service_is_up_once_it_kept_running() {
        let now = Instant::now();
        let mut t = Table::new(vec![spec("daemon", &[], Restart::Always)]);
        t.services[0].status = Status::Running { pid: 9, since: now };
        assert!(!t.ready(now), "just started");
        assert!(t.ready(now + SETTLE));
    }

    #[test]
    fn failures_long_apart_do_not_add_up() {
        let start = Instant::now();
        let mut t = Table::new(vec![spec("daemon", &[], Restart::Always)]);
        for n in 0..MAX_FAILURES + 2 {
            let at = start + STABLE * (n + 1) * 2;
            t.services[0].status = Status::Running {
                pid: 4,
                since: at - STABLE,
            };
            assert_eq!(
                t.exited(4, false, at),
                Some((0, true)),
                "crash {n} after a long run"
            );
        }
        assert_eq!(t.services[0].failures, 1);
    }

    #[test]
    fn a_requirement_that_failed_gives_up_its_dependents() {
        let now = Instant::now();
        let mut s = spec("ssh", &[], Restart::No);
        s.requires = vec!["net".into()];
        let mut t = Table::new(vec![spec("net", &[], Restart::No), s]);
        t.services[0].status = Status::Running { pid: 3, since: now };
        t.exited(3, false, now);
        assert!(matches!(t.next_actions(now)[..], [Action::GiveUp(1, _)]));
    }

    #[test]
    fn a_oneshot_is_up_once_it_succeeded() {
        let now = Instant::now();
        let mut s = spec("hello", &[], Restart::No);
        s.kind = Kind::Oneshot;
        let mut t = Table::new(vec![s]);
        t.services[0].status = Status::Running { pid: 5, since: now };
        assert!(!t.ready(now + SETTLE), "still running");
        t.exited(5, true, now);
        assert!(t.ready(now));
    }
}
