//! Abort-rule state: ok → breaching (with a countdown) → tripped.
//!
//! A rule breaches on a reading that matches its condition, or on no data when `no_data: breach`
//! (the default: fail closed). It trips once its `for:` window, counted from the breach's first
//! sample, has elapsed without the breach clearing. A breach clears only after `clear_after`
//! consecutive good readings (default 2): a lone good sample between failures does not restart the
//! window, so a source failing 5 polls in 6 still trips.

use std::time::Duration;

use tokio::time::Instant;

use crate::scenario::{NoData, Rule};

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

/// What one reading says about a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Matches the condition, or no data under `no_data: breach`.
    Bad,
    /// A reading that does not match: counts towards clearing a breach.
    Good,
    /// No data under `no_data: ignore`: neither breaches nor counts towards clearing.
    Ignored,
}

#[derive(Debug, Clone)]
pub struct RuleTracker {
    pub rule: Rule,
    /// Start of the current breach; its window runs from here until it clears or trips.
    pub breaching_since: Option<Instant>,
    /// Consecutive good readings since the breach's last bad one.
    pub good_streak: u32,
    pub tripped: bool,
    pub last_value: Option<f64>,
    pub last_reason: Option<String>,
}

impl RuleTracker {
    pub fn new(rule: Rule) -> Self {
        RuleTracker {
            rule,
            breaching_since: None,
            good_streak: 0,
            tripped: false,
            last_value: None,
            last_reason: None,
        }
    }

    /// Feeds one reading (`Err` = no data, with its reason; a non-finite number is no data too).
    pub fn observe(&mut self, now: Instant, reading: &Result<f64, String>) -> Vec<Transition> {
        if self.tripped {
            return vec![];
        }
        let (value, reason) = match reading {
            Ok(v) if v.is_finite() => (Some(*v), None),
            Ok(v) => (None, Some(format!("value is {v}, not a reading"))),
            Err(e) => (None, Some(e.clone())),
        };
        self.last_value = value;
        self.last_reason = reason;
        let verdict = match value {
            None if self.rule.no_data == NoData::Ignore => Verdict::Ignored,
            v if self.rule.breached_by(v) => Verdict::Bad,
            _ => Verdict::Good,
        };
        let mut out = Vec::new();
        if verdict == Verdict::Bad {
            self.good_streak = 0;
            if self.breaching_since.is_none() {
                self.breaching_since = Some(now);
                out.push(Transition::Breaching {
                    left: self.rule.sustained,
                });
            }
            out.extend(self.check(now));
            return out;
        }
        if self.breaching_since.is_none() {
            return out;
        }
        // A recovery that comes after the window has run out comes too late.
        if let Some(t) = self.check(now) {
            out.push(t);
            return out;
        }
        if verdict == Verdict::Ignored {
            self.good_streak = 0;
            return out;
        }
        self.good_streak = self.good_streak.saturating_add(1);
        if self.good_streak >= self.rule.clear_after.max(1) {
            self.breaching_since = None;
            self.good_streak = 0;
            out.push(Transition::Cleared);
        }
        out
    }

    /// When this rule will trip if nothing changes.
    pub fn deadline(&self) -> Option<Instant> {
        if self.tripped {
            return None;
        }
        self.breaching_since
            .and_then(|s| s.checked_add(self.rule.sustained))
    }

    /// Trips the rule once its breach has lasted the whole window without clearing.
    pub fn check(&mut self, now: Instant) -> Option<Transition> {
        let since = self.breaching_since?;
        let due = self.deadline()?;
        if now < due {
            return None;
        }
        self.tripped = true;
        Some(Transition::Tripped {
            breaching_for: now.saturating_duration_since(since),
        })
    }

    /// Seconds left before tripping, for countdown displays.
    pub fn left(&self, now: Instant) -> Option<Duration> {
        self.deadline().map(|d| d.saturating_duration_since(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::{Condition, RuleKind};

    fn rule(sustained: u64, no_data: NoData) -> Rule {
        Rule {
            kind: RuleKind::Abort,
            label: "errors > 5".into(),
            metric: "errors".into(),
            condition: Condition::Above(5.0),
            sustained: Duration::from_secs(sustained),
            no_data,
            clear_after: crate::scenario::DEFAULT_CLEAR_AFTER,
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

    /// A source failing 5 polls in 6 (every 5 s, window 30 s): the good sample in each cycle no
    /// longer restarts the window, so the rule trips 30 s after the first failure.
    #[tokio::test(start_paused = true)]
    async fn five_bad_in_six_trips() {
        let mut t = RuleTracker::new(rule(30, NoData::Breach));
        let t0 = Instant::now();
        let mut tripped_at = None;
        for i in 0..24u64 {
            let now = t0 + Duration::from_secs(5 * i);
            let reading = if i % 6 == 5 {
                Ok(1.0)
            } else {
                Err("HTTP 503".to_string())
            };
            let out = t.observe(now, &reading);
            assert!(
                !out.contains(&Transition::Cleared),
                "cleared at {i}: {out:?}"
            );
            if out.iter().any(|x| matches!(x, Transition::Tripped { .. })) {
                tripped_at = Some(now - t0);
                break;
            }
        }
        assert_eq!(tripped_at, Some(Duration::from_secs(30)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_single_good_sample_does_not_clear() {
        let mut t = RuleTracker::new(rule(30, NoData::Breach));
        let t0 = Instant::now();
        t.observe(t0, &Ok(9.0));
        assert!(t.observe(t0 + Duration::from_secs(20), &Ok(1.0)).is_empty());
        assert_eq!(
            t.left(t0 + Duration::from_secs(20)),
            Some(Duration::from_secs(10)),
            "the window still runs from the breach's start"
        );
        assert!(t.observe(t0 + Duration::from_secs(25), &Ok(9.0)).is_empty());
        assert_eq!(
            t.check(t0 + Duration::from_secs(30)),
            Some(Transition::Tripped {
                breaching_for: Duration::from_secs(30)
            })
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_real_recovery_clears() {
        let mut t = RuleTracker::new(rule(30, NoData::Breach));
        let t0 = Instant::now();
        t.observe(t0, &Err("HTTP 503".into()));
        assert!(t.observe(t0 + Duration::from_secs(5), &Ok(1.0)).is_empty());
        assert_eq!(
            t.observe(t0 + Duration::from_secs(10), &Ok(1.0)),
            [Transition::Cleared]
        );
        assert_eq!(t.deadline(), None);
        assert_eq!(
            t.observe(t0 + Duration::from_secs(15), &Ok(9.0)),
            [Transition::Breaching {
                left: Duration::from_secs(30)
            }],
            "the next breach starts a fresh window"
        );
        assert!(t.check(t0 + Duration::from_secs(44)).is_none());
        assert!(t.check(t0 + Duration::from_secs(45)).is_some());
    }

    /// Under `no_data: ignore`, no data neither breaches nor counts towards a recovery.
    #[tokio::test(start_paused = true)]
    async fn ignored_no_data_does_not_clear() {
        let mut t = RuleTracker::new(rule(30, NoData::Ignore));
        let t0 = Instant::now();
        t.observe(t0, &Ok(9.0));
        for s in [5, 10, 15] {
            let out = t.observe(t0 + Duration::from_secs(s), &Err("HTTP 503".into()));
            assert!(out.is_empty(), "{out:?}");
        }
        assert!(t.check(t0 + Duration::from_secs(30)).is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn clear_after_counts_consecutive_good_samples() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut one = RuleTracker::new(Rule {
            clear_after: 1,
            ..rule(30, NoData::Breach)
        });
        one.observe(at(0), &Ok(9.0));
        assert_eq!(one.observe(at(1), &Ok(1.0)), [Transition::Cleared]);

        let mut three = RuleTracker::new(Rule {
            clear_after: 3,
            ..rule(30, NoData::Breach)
        });
        three.observe(at(0), &Ok(9.0));
        assert!(three.observe(at(1), &Ok(1.0)).is_empty());
        assert!(three.observe(at(2), &Ok(1.0)).is_empty());
        // A bad sample breaks the streak: three more good ones are needed.
        assert!(three.observe(at(3), &Err("HTTP 503".into())).is_empty());
        assert!(three.observe(at(4), &Ok(1.0)).is_empty());
        assert!(three.observe(at(5), &Ok(1.0)).is_empty());
        assert_eq!(three.observe(at(6), &Ok(1.0)), [Transition::Cleared]);
    }

    /// A recovery that completes after the window has run out does not save the rule.
    #[tokio::test(start_paused = true)]
    async fn a_late_recovery_still_trips() {
        let mut t = RuleTracker::new(rule(10, NoData::Breach));
        let t0 = Instant::now();
        t.observe(t0, &Ok(9.0));
        assert!(t.observe(t0 + Duration::from_secs(9), &Ok(1.0)).is_empty());
        let out = t.observe(t0 + Duration::from_secs(11), &Ok(1.0));
        assert_eq!(
            out,
            [Transition::Tripped {
                breaching_for: Duration::from_secs(11)
            }]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_non_finite_value_is_no_data() {
        let t0 = Instant::now();
        let mut t = RuleTracker::new(rule(0, NoData::Breach));
        // `below: 5` would take +inf for a healthy value if it were read as a number.
        t.rule.condition = Condition::Below(5.0);
        let out = t.observe(t0, &Ok(f64::INFINITY));
        assert!(
            matches!(out.last(), Some(Transition::Tripped { .. })),
            "{out:?}"
        );
        assert_eq!(t.last_value, None);
        assert!(t.last_reason.as_deref().unwrap_or("").contains("inf"));
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
