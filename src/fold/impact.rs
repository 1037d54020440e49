//! What the faults did to each metric, measured from the samples already journaled: impact per
//! window, time to recover after each rollback, and detection per step. Folded in one pass with
//! memory independent of the run's length (the debrief's `RunState::new()` streams 4-h journals).
//!
//! **Windows.** A sample is *baseline* before the first successful inject, *during* while any
//! fault is in (from a successful inject until every fault that went in has a rollback result),
//! and *after* once every fault is back; a new inject starts the *after* window again, so at the
//! end it holds the samples after the **last** rollback (including a recovery watch after a halt).
//!
//! **Quantiles** (p50, p95) come from a fixed log-bucket histogram ([`Histogram`]): buckets grow
//! by 2 %, so an estimate is within **1 %** (relative) of a value in the window for magnitudes from
//! 1e-10 to 1e10 (values outside are counted in the end buckets), and is clamped to the window's
//! exact min and max. Count, mean, min and max are exact. One histogram is 4,803 `u32` (19 KiB),
//! allocated when its window gets its first value: at most 3 per metric (about 3 MiB for 53
//! metrics).
//!
//! **Time to recover** runs from each moment every fault is back (a step's rollback, or a halt's)
//! to the first sample of the first run of 3 consecutive samples inside the metric's steady-state
//! bound (every `steady_state` rule on it holds); a sample outside the bound or without data
//! starts the count again (a flapping metric recovers only once it stays). A metric without a
//! steady-state rule has no bound and no time to recover. "Did not recover" when the run ended, or
//! a new fault went in, first.
//!
//! **Healing under the fault** (systems that heal on their own: failover, restart): from each
//! moment a fault goes in while none was in, a second row per metric waits for the metric to
//! leave its bound and then be back inside it for 3 samples while the fault is still in.
//! "Not affected" when it stayed inside until the rollback; "did not heal while the fault was in"
//! when it left and was not back by then.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use crate::scenario::{Condition, Rule, Scenario};

/// Consecutive samples inside the steady-state bound that count as recovered.
pub const RECOVERED_AFTER: u32 = 3;
/// Recoveries tracked per metric (one per rollback; steps are few).
const MAX_RECOVERIES: usize = 256;

const GAMMA: f64 = 1.02;
/// Bucket exponents run from -MAX_EXP to MAX_EXP (1.02^1163 ≈ 1e10).
const MAX_EXP: i32 = 1163;
const BUCKETS: usize = (2 * MAX_EXP + 1) as usize;
/// Magnitudes below this are counted as zero.
const TINY: f64 = 1e-10;

/// A fixed log-bucket histogram: one bucket per 2 % of magnitude, per sign, plus zero.
#[derive(Debug, Clone)]
pub struct Histogram {
    pos: Vec<u32>,
    neg: Vec<u32>,
    zero: u32,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            pos: vec![0; BUCKETS],
            neg: vec![0; BUCKETS],
            zero: 0,
        }
    }
}

fn bucket(magnitude: f64) -> usize {
    let e = (magnitude.ln() / GAMMA.ln()).ceil() as i64;
    (e.clamp(-i64::from(MAX_EXP), i64::from(MAX_EXP)) + i64::from(MAX_EXP)) as usize
}

/// The value a bucket stands for: within (γ-1)/(γ+1) < 1 % of anything in it.
fn representative(i: usize) -> f64 {
    let e = i as i32 - MAX_EXP;
    2.0 * GAMMA.powi(e) / (GAMMA + 1.0)
}

impl Histogram {
    fn push(&mut self, v: f64) {
        let m = v.abs();
        if m < TINY {
            self.zero = self.zero.saturating_add(1);
        } else if v > 0.0 {
            let b = &mut self.pos[bucket(m)];
            *b = b.saturating_add(1);
        } else {
            let b = &mut self.neg[bucket(m)];
            *b = b.saturating_add(1);
        }
    }

    /// The `q` quantile (0..=1) of `n` values, by nearest rank.
    fn quantile(&self, q: f64, n: u64) -> Option<f64> {
        if n == 0 {
            return None;
        }
        let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
        let mut seen = 0u64;
        for i in (0..BUCKETS).rev() {
            seen += u64::from(self.neg[i]);
            if seen >= rank {
                return Some(-representative(i));
            }
        }
        seen += u64::from(self.zero);
        if seen >= rank {
            return Some(0.0);
        }
        for i in 0..BUCKETS {
            seen += u64::from(self.pos[i]);
            if seen >= rank {
                return Some(representative(i));
            }
        }
        None
    }
}

/// One metric in one window.
#[derive(Debug, Clone, Default)]
pub struct WindowStats {
    pub samples: u64,
    pub no_data: u64,
    sum: f64,
    pub min: Option<f64>,
    pub max: Option<f64>,
    hist: Option<Box<Histogram>>,
}

impl WindowStats {
    fn push(&mut self, value: Option<f64>) {
        let Some(v) = value else {
            self.no_data += 1;
            return;
        };
        self.samples += 1;
        self.sum += v;
        self.min = Some(self.min.map_or(v, |m| m.min(v)));
        self.max = Some(self.max.map_or(v, |m| m.max(v)));
        self.hist.get_or_insert_with(Default::default).push(v);
    }

    pub fn mean(&self) -> Option<f64> {
        (self.samples > 0).then(|| self.sum / self.samples as f64)
    }

    /// Estimated within 1 % (see the module doc), clamped to the exact min and max.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        // The ends are known exactly.
        let rank = ((q * self.samples as f64).ceil() as u64).clamp(1, self.samples.max(1));
        if rank == 1 && q <= 0.0 {
            return self.min;
        }
        if rank == self.samples {
            return self.max;
        }
        let est = self.hist.as_ref()?.quantile(q, self.samples)?;
        Some(est.clamp(self.min?, self.max?))
    }

    /// The worst value: the lowest when higher is better, else the highest.
    pub fn worst(&self, higher_is_better: bool) -> Option<f64> {
        if higher_is_better { self.min } else { self.max }
    }
}

/// How a metric came back after one rollback.
#[derive(Debug, Clone, PartialEq)]
pub enum Recovery {
    /// Still being watched.
    Waiting,
    /// Back inside its bound (and stayed for 3 samples) this long after the rollback.
    Recovered { ms: u64 },
    /// Not back (for 3 samples) before a new fault went in.
    NotBeforeNextFault,
    /// Not back when the run ended (the debrief's reading of [`Recovery::Waiting`]).
    NotBeforeEnd,
    /// Measured from an inject: the metric stayed inside its bound until the rollback.
    NotAffected,
    /// Measured from an inject: it left its bound and was not back before the rollback.
    NotWhileFaultIn,
}

/// What a recovery is measured from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Since {
    /// The moment every fault was back.
    Rollback,
    /// The moment a fault went in while none was: healing on its own, under the fault.
    Inject,
}

#[derive(Debug, Clone)]
pub struct RecoveryRow {
    /// When every fault was back, or (`since: Inject`) when the first fault went in.
    pub from: DateTime<Utc>,
    pub since: Since,
    pub outcome: Recovery,
    /// `since: Inject`: the metric has left its bound since `from`.
    left: bool,
    good: u32,
    first_good: Option<DateTime<Utc>>,
}

impl RecoveryRow {
    /// [`Recovery::Waiting`] reads as "did not recover before the run ended" once the run is over.
    pub fn result(&self, ended: bool) -> Recovery {
        match (&self.outcome, ended) {
            (Recovery::Waiting, true) => Recovery::NotBeforeEnd,
            (o, _) => o.clone(),
        }
    }
}

/// One metric's impact and recoveries.
#[derive(Debug, Clone, Default)]
pub struct MetricImpact {
    pub baseline: WindowStats,
    pub during: WindowStats,
    pub after: WindowStats,
    /// The metric's steady-state rules (its bound); empty: no bound, no time to recover.
    pub bound: Vec<Rule>,
    /// Higher is better (its steady-state rule says `above:`).
    pub higher_is_better: bool,
    pub recoveries: Vec<RecoveryRow>,
}

impl MetricImpact {
    /// Change of the during-faults mean against the baseline mean, in %.
    pub fn change_pct(&self) -> Option<f64> {
        let (b, d) = (self.baseline.mean()?, self.during.mean()?);
        (b != 0.0).then(|| (d - b) / b.abs() * 100.0)
    }

    fn inside(&self, value: Option<f64>) -> bool {
        value.is_some() && self.bound.iter().all(|r| !r.breached_by(value))
    }
}

/// Detection of one step's faults.
#[derive(Debug, Clone, PartialEq)]
pub struct StepDetection {
    pub index: usize,
    pub name: String,
    pub started: DateTime<Utc>,
    /// The step's first successful inject.
    pub first_inject: Option<DateTime<Utc>>,
    /// The first abort-rule breach or steady-state breach after it, while a fault was in.
    pub automated: Option<(DateTime<Utc>, String)>,
}

/// Impact, recoveries and detection, folded from the events.
#[derive(Debug, Clone, Default)]
pub struct Impact {
    pub metrics: BTreeMap<String, MetricImpact>,
    pub steps: Vec<StepDetection>,
    /// Faults in now: (fault, host).
    faults_in: BTreeSet<(String, String)>,
    any_fault: bool,
}

impl Impact {
    pub(super) fn scenario(&mut self, s: &Scenario) {
        for name in s.metrics.keys() {
            let bound: Vec<Rule> = s
                .steady_state
                .iter()
                .filter(|r| &r.metric == name)
                .cloned()
                .collect();
            let higher_is_better = bound
                .iter()
                .any(|r| matches!(r.condition, Condition::Above(_)));
            let m = self.metrics.entry(name.clone()).or_default();
            m.bound = bound;
            m.higher_is_better = higher_is_better;
        }
    }

    pub(super) fn step_started(&mut self, index: usize, name: &str, ts: DateTime<Utc>) {
        self.steps.push(StepDetection {
            index,
            name: name.to_string(),
            started: ts,
            first_inject: None,
            automated: None,
        });
    }

    pub(super) fn injected(&mut self, fault: &str, host: &str, ts: DateTime<Utc>) {
        if self.faults_in.is_empty() {
            // A new fault: the after window starts again, and what has not recovered did not
            // before it.
            for m in self.metrics.values_mut() {
                m.after = WindowStats::default();
                for r in &mut m.recoveries {
                    if r.outcome == Recovery::Waiting {
                        r.outcome = Recovery::NotBeforeNextFault;
                    }
                }
            }
        }
        if self.faults_in.is_empty() {
            for m in self.metrics.values_mut() {
                if !m.bound.is_empty() && m.recoveries.len() < MAX_RECOVERIES {
                    m.recoveries.push(RecoveryRow {
                        from: ts,
                        since: Since::Inject,
                        outcome: Recovery::Waiting,
                        left: false,
                        good: 0,
                        first_good: None,
                    });
                }
            }
        }
        self.any_fault = true;
        self.faults_in.insert((fault.to_string(), host.to_string()));
        if let Some(s) = self.steps.last_mut() {
            s.first_inject.get_or_insert(ts);
        }
    }

    pub(super) fn rolled_back(&mut self, fault: &str, host: &str, ts: DateTime<Utc>) {
        let was_in = self
            .faults_in
            .remove(&(fault.to_string(), host.to_string()));
        if was_in && self.faults_in.is_empty() {
            for m in self.metrics.values_mut() {
                for r in &mut m.recoveries {
                    if r.since == Since::Inject && r.outcome == Recovery::Waiting {
                        r.outcome = if r.left {
                            Recovery::NotWhileFaultIn
                        } else {
                            Recovery::NotAffected
                        };
                    }
                }
                if !m.bound.is_empty() && m.recoveries.len() < MAX_RECOVERIES {
                    m.recoveries.push(RecoveryRow {
                        from: ts,
                        since: Since::Rollback,
                        outcome: Recovery::Waiting,
                        left: false,
                        good: 0,
                        first_good: None,
                    });
                }
            }
        }
    }

    /// An abort rule began breaching (or tripped).
    pub(super) fn rule_breach(&mut self, label: &str, ts: DateTime<Utc>) {
        self.detect(ts, || format!("abort rule `{label}` breaching"));
    }

    fn detect(&mut self, ts: DateTime<Utc>, what: impl FnOnce() -> String) {
        if self.faults_in.is_empty() {
            return;
        }
        if let Some(s) = self.steps.last_mut()
            && s.first_inject.is_some()
            && s.automated.is_none()
        {
            s.automated = Some((ts, what()));
        }
    }

    pub(super) fn sample(&mut self, ts: DateTime<Utc>, metric: &str, value: Option<f64>) {
        let Some(m) = self.metrics.get_mut(metric) else {
            return;
        };
        let window = if !self.any_fault {
            &mut m.baseline
        } else if !self.faults_in.is_empty() {
            &mut m.during
        } else {
            &mut m.after
        };
        window.push(value);
        let inside = m.inside(value);
        for r in &mut m.recoveries {
            if r.outcome != Recovery::Waiting || ts < r.from {
                continue;
            }
            if r.since == Since::Inject && !r.left {
                // Healing counts only once the fault has pushed the metric out.
                r.left = !inside;
                continue;
            }
            if inside {
                r.good += 1;
                let first = *r.first_good.get_or_insert(ts);
                if r.good >= RECOVERED_AFTER {
                    let ms = (first - r.from).num_milliseconds().max(0) as u64;
                    r.outcome = Recovery::Recovered { ms };
                }
            } else {
                r.good = 0;
                r.first_good = None;
            }
        }
        if !inside && !m.bound.is_empty() {
            let broken = m
                .bound
                .iter()
                .find(|r| r.breached_by(value))
                .map(|r| r.label.clone())
                .unwrap_or_default();
            let v = crate::fmt::value(value);
            self.detect(ts, || {
                format!("steady state `{broken}` breached (value {v})")
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_one_percent() {
        let mut w = WindowStats::default();
        for i in 1..=10_000 {
            w.push(Some(f64::from(i) * 0.37));
        }
        w.push(None);
        for (q, exact) in [(0.5, 5000.0 * 0.37), (0.95, 9500.0 * 0.37)] {
            let est = w.quantile(q).unwrap();
            assert!((est - exact).abs() / exact < 0.01, "q{q}: {est} vs {exact}");
        }
        assert_eq!(w.max, Some(3700.0));
        assert_eq!(w.no_data, 1);
        let mean = w.mean().unwrap();
        assert!((mean - 5000.5 * 0.37).abs() < 1e-6);
        // Negative, zero and extreme values stay inside the exact range.
        let mut w = WindowStats::default();
        for v in [-5.0, 0.0, 1e300, -1e300, 2.0] {
            w.push(Some(v));
        }
        assert_eq!(w.quantile(0.0), Some(-1e300));
        assert_eq!(w.quantile(1.0), Some(1e300));
        assert_eq!(w.quantile(0.5), Some(0.0));
    }

    fn ts(s: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    /// One metric `m` bounded by `m < 10`; a fault in at 10 s, back at 20 s; `values` one a second
    /// from 21 s.
    fn recovery_of(values: &[Option<f64>]) -> Recovery {
        let yaml = "title: t\nhypothesis: h\nmax_duration: 5m\ntargets:\n  w: { local: true }\nmetrics:\n  m: { command: x, target: w }\nsteady_state:\n  - { metric: m, below: 10 }\nsteps:\n  - { name: s, duration: 1m }\n";
        let s = Scenario::parse(std::path::Path::new("s.yaml"), yaml).unwrap();
        let mut i = Impact::default();
        i.scenario(&s);
        i.step_started(0, "s", ts(0));
        for t in 0..10 {
            i.sample(ts(t), "m", Some(1.0));
        }
        i.injected("f", "h", ts(10));
        for t in 10..20 {
            i.sample(ts(t), "m", Some(50.0));
        }
        i.rolled_back("f", "h", ts(20));
        for (k, v) in values.iter().enumerate() {
            i.sample(ts(21 + k as i64), "m", *v);
        }
        let m = &i.metrics["m"];
        assert_eq!(m.baseline.mean(), Some(1.0));
        assert_eq!(m.during.max, Some(50.0));
        assert_eq!(m.change_pct(), Some(4900.0));
        let d = &i.steps[0];
        assert_eq!(d.first_inject, Some(ts(10)));
        assert_eq!(d.automated.as_ref().map(|a| a.0), Some(ts(10)));
        assert!(d.automated.as_ref().unwrap().1.contains("steady state"));
        let under = m.recoveries.iter().find(|r| r.since == Since::Inject);
        assert_eq!(
            under.map(|r| r.result(true)),
            Some(Recovery::NotWhileFaultIn),
            "out of bound for the whole fault"
        );
        m.recoveries
            .iter()
            .find(|r| r.since == Since::Rollback)
            .expect("a row from the rollback")
            .result(true)
    }

    /// One metric bounded by `m < 10`; a fault in at 10 s with `values` one a second from 10 s,
    /// back at `10 + values.len()` s: the row measured from the inject.
    fn healing_of(values: &[Option<f64>], roll_back: bool) -> Recovery {
        let yaml = "title: t\nhypothesis: h\nmax_duration: 5m\ntargets:\n  w: { local: true }\nmetrics:\n  m: { command: x, target: w }\nsteady_state:\n  - { metric: m, below: 10 }\nsteps:\n  - { name: s, duration: 1m }\n";
        let s = Scenario::parse(std::path::Path::new("s.yaml"), yaml).unwrap();
        let mut i = Impact::default();
        i.scenario(&s);
        i.step_started(0, "s", ts(0));
        i.sample(ts(9), "m", Some(1.0));
        i.injected("f", "h", ts(10));
        // A second host's inject of the same batch opens no second row.
        i.injected("f", "h2", ts(10));
        for (k, v) in values.iter().enumerate() {
            i.sample(ts(10 + k as i64), "m", *v);
        }
        if roll_back {
            i.rolled_back("f", "h", ts(10 + values.len() as i64));
            i.rolled_back("f", "h2", ts(10 + values.len() as i64));
        }
        let m = &i.metrics["m"];
        let under: Vec<_> = m
            .recoveries
            .iter()
            .filter(|r| r.since == Since::Inject)
            .collect();
        assert_eq!(under.len(), 1);
        assert_eq!(under[0].from, ts(10));
        under[0].result(true)
    }

    #[test]
    fn a_system_that_heals_under_the_fault_is_timed_from_the_inject() {
        // Out for 3 s (failover), then back for good: healed 3 s after the inject.
        let v = [50.0, 50.0, 50.0, 1.0, 1.0, 1.0, 1.0].map(Some);
        assert_eq!(healing_of(&v, true), Recovery::Recovered { ms: 3_000 });
        // Out, back for 2 samples, out again, then back for 3: only the lasting return counts.
        let v = [50.0, 1.0, 1.0, 50.0, 1.0, 1.0, 1.0].map(Some);
        assert_eq!(healing_of(&v, true), Recovery::Recovered { ms: 4_000 });
        // Never left its bound: not affected, not "healed at once".
        let v = [1.0, 2.0, 3.0].map(Some);
        assert_eq!(healing_of(&v, true), Recovery::NotAffected);
        // Left and no data after: not healed while the fault was in; still in at the end.
        let v = [Some(50.0), None, None];
        assert_eq!(healing_of(&v, true), Recovery::NotWhileFaultIn);
        assert_eq!(healing_of(&v, false), Recovery::NotBeforeEnd);
    }

    #[test]
    fn a_metric_that_comes_back_recovers_at_its_first_good_sample() {
        let r = recovery_of(&[Some(50.0), Some(1.0), Some(1.0), Some(1.0), Some(1.0)]);
        assert_eq!(r, Recovery::Recovered { ms: 2_000 });
    }

    #[test]
    fn a_metric_that_never_comes_back_did_not_recover() {
        let r = recovery_of(&[Some(50.0), None, Some(50.0), Some(12.0)]);
        assert_eq!(r, Recovery::NotBeforeEnd);
    }

    #[test]
    fn a_flapping_metric_recovers_only_once_it_stays() {
        // good, good, bad, good, no data, good, good, good: recovered at the 6th (26 s).
        let r = recovery_of(&[
            Some(1.0),
            Some(1.0),
            Some(50.0),
            Some(1.0),
            None,
            Some(1.0),
            Some(1.0),
            Some(1.0),
        ]);
        assert_eq!(r, Recovery::Recovered { ms: 6_000 });
    }
}
