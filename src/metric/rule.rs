//! Abort-rule state: ok → breaching (with a countdown) → tripped.
//!
//! A rule breaches on a reading that matches its condition, or on no data when `no_data: breach`
//! (the default: fail closed). It trips once it has breached for its whole `for:` window. Hysteresis
//! is deliberately minimal: a single good reading inside the window resets the countdown.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use crate::event::{Envelope, Event};
use crate::scenario::Rule;

#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// Started breaching; trips after `left` unless cleared.
    Breaching {
        left: Duration,
    },
    Cleared,
    Tripped {
        breaching_for: Duration,
    },
}

#[derive(Debug, Clone)]
pub struct RuleTracker {
    pub rule: Rule,
    pub breaching_since: Option<Instant>,
    pub tripped: bool,
    pub last_value: Option<f64>,
    pub last_reason: Option<String>,
}

impl RuleTracker {
    pub fn new(rule: Rule) -> Self {
        RuleTracker {
            rule,
            breaching_since: None,
            tripped: false,
            last_value: None,
            last_reason: None,
        }
    }

    /// Feeds one reading (`Err` = no data, with its reason).
    pub fn observe(&mut self, now: Instant, reading: &Result<f64, String>) -> Vec<Transition> {
        if self.tripped {
            return vec![];
        }
        let value = reading.as_ref().ok().copied();
        self.last_value = value;
        self.last_reason = reading.as_ref().err().cloned();
        let mut out = Vec::new();
        if self.rule.breached_by(value) {
            if self.breaching_since.is_none() {
                self.breaching_since = Some(now);
                out.push(Transition::Breaching {
                    left: self.rule.sustained,
                });
            }
            out.extend(self.check(now));
        } else if self.breaching_since.take().is_some() {
            out.push(Transition::Cleared);
        }
        out
    }

    /// When this rule will trip if nothing changes.
    pub fn deadline(&self) -> Option<Instant> {
        if self.tripped {
            return None;
        }
        self.breaching_since.map(|s| s + self.rule.sustained)
    }

    /// Trips the rule once its breach has lasted the whole window.
    pub fn check(&mut self, now: Instant) -> Option<Transition> {
        let since = self.breaching_since?;
        if self.tripped || now < since + self.rule.sustained {
            return None;
        }
        self.tripped = true;
        Some(Transition::Tripped {
            breaching_for: now - since,
        })
    }

    /// Seconds left before tripping, for countdown displays.
    pub fn left(&self, now: Instant) -> Option<Duration> {
        self.deadline().map(|d| d.saturating_duration_since(now))
    }
}

/// An abort rule's state as a screen shows it: ok, breaching since T with time left, or tripped.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleStatus {
    Ok,
    Breaching {
        since: DateTime<Utc>,
        trips_at: DateTime<Utc>,
        value: Option<f64>,
        reason: Option<String>,
    },
    Tripped {
        at: DateTime<Utc>,
    },
}

impl RuleStatus {
    /// Time left before a breaching rule trips, at `now` (zero once overdue).
    pub fn left(&self, now: DateTime<Utc>) -> Option<Duration> {
        match self {
            RuleStatus::Breaching { trips_at, .. } => {
                Some((*trips_at - now).to_std().unwrap_or_default())
            }
            _ => None,
        }
    }
}

/// Every abort rule's state, folded from the event stream (live or from a journal), so the TUI,
/// a second seat and the debrief show the same countdown without asking the engine.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleBoard {
    /// By rule index: label and state.
    pub rules: BTreeMap<usize, (String, RuleStatus)>,
}

impl RuleBoard {
    /// Starts with every abort rule of a run `ok`.
    pub fn new(abort: &[Rule]) -> RuleBoard {
        RuleBoard {
            rules: abort
                .iter()
                .enumerate()
                .map(|(i, r)| (i, (r.label.clone(), RuleStatus::Ok)))
                .collect(),
        }
    }

    pub fn apply(&mut self, env: &Envelope) {
        let ts = env.ts;
        match &env.event {
            Event::RunStarted { scenario, .. } => *self = RuleBoard::new(&scenario.abort),
            Event::RuleBreaching {
                rule,
                label,
                value,
                left_ms,
                reason,
            } => {
                let left =
                    chrono::Duration::milliseconds(i64::try_from(*left_ms).unwrap_or(i64::MAX));
                self.rules.insert(
                    *rule,
                    (
                        label.clone(),
                        RuleStatus::Breaching {
                            since: ts,
                            trips_at: ts + left,
                            value: *value,
                            reason: reason.clone(),
                        },
                    ),
                );
            }
            Event::RuleCleared { rule, label, .. } => {
                self.rules.insert(*rule, (label.clone(), RuleStatus::Ok));
            }
            Event::RuleTripped { rule, label, .. } => {
                self.rules
                    .insert(*rule, (label.clone(), RuleStatus::Tripped { at: ts }));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Condition, NoData, RuleKind};

    fn rule(sustained: u64, no_data: NoData) -> Rule {
        Rule {
            kind: RuleKind::Abort,
            label: "errors > 5".into(),
            metric: "errors".into(),
            condition: Condition::Above(5.0),
            sustained: Duration::from_secs(sustained),
            no_data,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn trips_after_the_window_not_before() {
        let mut t = RuleTracker::new(rule(30, NoData::Breach));
        let t0 = Instant::now();
        assert_eq!(
            t.observe(t0, &Ok(9.0)),
            [Transition::Breaching {
                left: Duration::from_secs(30)
            }]
        );
        assert!(t.observe(t0 + Duration::from_secs(29), &Ok(9.0)).is_empty());
        assert_eq!(
            t.left(t0 + Duration::from_secs(29)),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            t.check(t0 + Duration::from_secs(30)),
            Some(Transition::Tripped {
                breaching_for: Duration::from_secs(30)
            })
        );
        assert!(
            t.observe(t0 + Duration::from_secs(31), &Ok(1.0)).is_empty(),
            "tripped stays tripped"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn one_good_sample_resets_the_countdown() {
        let mut t = RuleTracker::new(rule(30, NoData::Breach));
        let t0 = Instant::now();
        t.observe(t0, &Ok(9.0));
        assert_eq!(
            t.observe(t0 + Duration::from_secs(20), &Ok(1.0)),
            [Transition::Cleared]
        );
        t.observe(t0 + Duration::from_secs(25), &Ok(9.0));
        assert!(
            t.check(t0 + Duration::from_secs(50)).is_none(),
            "window restarted at 25s"
        );
        assert!(t.check(t0 + Duration::from_secs(55)).is_some());
    }

    #[test]
    fn the_board_folds_events_into_countdowns() {
        let t0 = DateTime::parse_from_rfc3339("2026-11-23T20:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let env = |secs: i64, event: Event| Envelope {
            seq: 0,
            ts: t0 + chrono::Duration::seconds(secs),
            run: "r".into(),
            event,
        };
        let mut board = RuleBoard::new(&[rule(30, NoData::Breach)]);
        assert_eq!(board.rules[&0].1, RuleStatus::Ok);
        board.apply(&env(
            10,
            Event::RuleBreaching {
                rule: 0,
                label: "errors > 5".into(),
                value: None,
                left_ms: 30_000,
                reason: Some("HTTP 503".into()),
            },
        ));
        let status = &board.rules[&0].1;
        let RuleStatus::Breaching { since, .. } = status else {
            panic!("{status:?}")
        };
        assert_eq!(*since, t0 + chrono::Duration::seconds(10));
        assert_eq!(
            status.left(t0 + chrono::Duration::seconds(25)),
            Some(Duration::from_secs(15))
        );
        assert_eq!(
            status.left(t0 + chrono::Duration::seconds(99)),
            Some(Duration::ZERO)
        );
        board.apply(&env(
            12,
            Event::RuleCleared {
                rule: 0,
                label: "errors > 5".into(),
                value: Some(1.0),
            },
        ));
        assert_eq!(board.rules[&0].1, RuleStatus::Ok);
        board.apply(&env(
            50,
            Event::RuleTripped {
                rule: 0,
                label: "errors > 5".into(),
                value: Some(9.0),
                breaching_ms: 30_000,
                reason: None,
            },
        ));
        assert!(matches!(board.rules[&0].1, RuleStatus::Tripped { .. }));
    }

    #[tokio::test(start_paused = true)]
    async fn no_data_breaches_unless_ignored() {
        let t0 = Instant::now();
        let mut closed = RuleTracker::new(rule(0, NoData::Breach));
        let out = closed.observe(t0, &Err("503".into()));
        assert!(
            matches!(out.last(), Some(Transition::Tripped { .. })),
            "{out:?}"
        );
        let mut open = RuleTracker::new(rule(0, NoData::Ignore));
        assert!(open.observe(t0, &Err("503".into())).is_empty());
    }
}
