//! Steps' success criteria as the engine decides them: each one is open while its window runs,
//! then decided once (passed, failed, undecided, not checked) and journaled as a
//! `criterion_result`; a step's result follows once all of its criteria are decided.
//!
//! Pure bookkeeping over `tokio::time::Instant`s: the engine feeds it samples, the clock, step
//! ends, rollbacks, human ticks and halts, and journals what it returns.

use std::time::Duration;

use tokio::time::Instant;

use crate::event::{CriterionOutcome, Event, StepOutcome};
use crate::fmt;
use crate::scenario::{Scenario, Test, Window};

/// One criterion of one step.
#[derive(Debug)]
struct Track {
    step: usize,
    index: usize,
    label: String,
    test: Test,
    /// When its window began (the step's start, or its rollback for `after: rollback`).
    opened: Option<Instant>,
    /// When an open `within` window fails.
    deadline: Option<Instant>,
    decided: Option<CriterionOutcome>,
    /// A sample was seen inside the window.
    seen: bool,
    last: Option<f64>,
    last_reason: Option<String>,
}

/// A decision the engine must journal (and act on: a failure may halt the run).
#[derive(Debug)]
pub struct Decision {
    pub event: Event,
    /// Failed, with the words the verdict uses.
    pub failed: Option<String>,
    /// The step's `halt_on_failure` applies.
    pub halts: bool,
}

#[derive(Debug, Default)]
pub struct Criteria {
    tracks: Vec<Track>,
    /// Per step: started, ended (its rollback done), result journaled.
    started: Vec<bool>,
    ended: Vec<bool>,
    reported: Vec<bool>,
    names: Vec<String>,
    halt_on_failure: Vec<bool>,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Criteria {
    pub fn new(scenario: &Scenario) -> Criteria {
        let n = scenario.steps.len();
        Criteria {
            tracks: scenario
                .criteria()
                .map(|(step, index, c)| Track {
                    step,
                    index,
                    label: c.label.clone(),
                    test: c.test.clone(),
                    opened: None,
                    deadline: None,
                    decided: None,
                    seen: false,
                    last: None,
                    last_reason: None,
                })
                .collect(),
            started: vec![false; n],
            ended: vec![false; n],
            reported: vec![false; n],
            names: scenario.steps.iter().map(|s| s.name.clone()).collect(),
            halt_on_failure: scenario.steps.iter().map(|s| s.halt_on_failure).collect(),
        }
    }

    /// Step `step` started at `now`: its `throughout` and `within` windows (and its human checks)
    /// open.
    pub fn step_started(&mut self, step: usize, now: Instant) {
        if let Some(s) = self.started.get_mut(step) {
            *s = true;
        }
        for t in self.tracks.iter_mut().filter(|t| t.step == step) {
            match &t.test {
                Test::Metric {
                    window: Window::AfterRollback { .. },
                    ..
                } => {}
                Test::Metric {
                    window: Window::Within { ms },
                    ..
                } => {
                    t.opened = Some(now);
                    t.deadline = Some(super::after(now, *ms));
                }
                _ => t.opened = Some(now),
            }
        }
    }

    /// Step `step` ended (`advanced`: ended early by a person): `throughout` windows are decided;
    /// a `within` window still open was cut short.
    pub fn step_ended(&mut self, step: usize, advanced: bool, now: Instant) -> Vec<Decision> {
        let mut out = Vec::new();
        for i in 0..self.tracks.len() {
            let t = &self.tracks[i];
            if t.step != step || t.decided.is_some() {
                continue;
            }
            match &t.test {
                Test::Metric {
                    window: Window::Throughout,
                    ..
                } => {
                    let d = if t.seen {
                        (CriterionOutcome::Passed, None)
                    } else {
                        (
                            CriterionOutcome::Failed,
                            Some("no data during the step (fails closed)".to_string()),
                        )
                    };
                    out.push(self.decide(i, d.0, t.last, d.1, None, now));
                }
                Test::Metric {
                    window: Window::Within { .. },
                    ..
                } if advanced => {
                    let why = "the step was advanced before its window ended".to_string();
                    out.push(self.decide(
                        i,
                        CriterionOutcome::Undecided,
                        t.last,
                        Some(why),
                        None,
                        now,
                    ));
                }
                _ => {}
            }
        }
        out
    }

    /// Step `step`'s faults are all rolled back (or it had none) at `now`: its recovery windows
    /// open, and its result may be due.
    pub fn step_rolled_back(&mut self, step: usize, now: Instant) -> Vec<Decision> {
        if let Some(e) = self.ended.get_mut(step) {
            *e = true;
        }
        for t in self.tracks.iter_mut().filter(|t| t.step == step) {
            if let Test::Metric {
                window: Window::AfterRollback { ms },
                ..
            } = &t.test
                && t.decided.is_none()
            {
                t.opened = Some(now);
                t.deadline = Some(super::after(now, *ms));
            }
        }
        self.step_results(false)
    }

    /// A sample of `metric` (`Err`: no data, with why).
    pub fn sample(
        &mut self,
        metric: &str,
        reading: &Result<f64, String>,
        now: Instant,
    ) -> Vec<Decision> {
        let mut out = Vec::new();
        let value = reading.as_ref().ok().copied().filter(|v| v.is_finite());
        let reason = match reading {
            Ok(v) if !v.is_finite() => Some(format!("non-finite value {v}")),
            Ok(_) => None,
            Err(e) => Some(e.clone()),
        };
        for i in 0..self.tracks.len() {
            let t = &mut self.tracks[i];
            let Test::Metric {
                metric: m,
                condition,
                window,
            } = &t.test
            else {
                continue;
            };
            if m != metric || t.opened.is_none() || t.decided.is_some() {
                continue;
            }
            t.seen = true;
            t.last = value;
            t.last_reason = reason.clone();
            let matches = value.is_some_and(|v| condition.matches(v));
            match window {
                Window::Throughout if !matches => {
                    let why = match &reason {
                        Some(r) => format!("no data: {r} (fails closed)"),
                        None => format!("value {} is not {condition}", fmt::value(value)),
                    };
                    out.push(self.decide(i, CriterionOutcome::Failed, value, Some(why), None, now));
                }
                Window::Within { .. } | Window::AfterRollback { .. } if matches => {
                    out.push(self.decide(i, CriterionOutcome::Passed, value, None, None, now));
                }
                _ => {}
            }
        }
        out.extend(self.step_results(false));
        out
    }

    /// The earliest open `within` deadline.
    pub fn deadline(&self) -> Option<Instant> {
        self.tracks
            .iter()
            .filter(|t| t.decided.is_none())
            .filter_map(|t| t.deadline)
            .min()
    }

    /// Fails every open `within` window whose deadline has passed.
    pub fn on_time(&mut self, now: Instant) -> Vec<Decision> {
        let mut out = Vec::new();
        for i in 0..self.tracks.len() {
            let t = &self.tracks[i];
            if t.decided.is_some() || t.deadline.is_none_or(|d| now < d) {
                continue;
            }
            let Test::Metric {
                condition, window, ..
            } = &t.test
            else {
                continue;
            };
            let why = match (&t.last_reason, t.seen) {
                (_, false) => format!("no sample in the window ({window})"),
                (Some(r), _) => format!("not {condition} {window}; last sample no data: {r}"),
                (None, _) => format!(
                    "not {condition} {window}; last value {}",
                    fmt::value(t.last)
                ),
            };
            out.push(self.decide(i, CriterionOutcome::Failed, t.last, Some(why), None, now));
        }
        out.extend(self.step_results(false));
        out
    }

    /// A person ticked human check `index` of step `step`. `Err` says why it was not taken.
    pub fn check(
        &mut self,
        step: usize,
        index: usize,
        passed: bool,
        reason: String,
        by: String,
        now: Instant,
    ) -> Result<Vec<Decision>, String> {
        let i = self
            .tracks
            .iter()
            .position(|t| t.step == step && t.index == index)
            .ok_or_else(|| format!("step {} has no success criterion {}", step + 1, index + 1))?;
        let t = &self.tracks[i];
        if !matches!(t.test, Test::Check { .. }) {
            return Err(format!("`{}` is decided from samples, not ticked", t.label));
        }
        if t.opened.is_none() {
            return Err(format!("step {} has not started", step + 1));
        }
        if let Some(d) = t.decided {
            return Err(format!("`{}` is already {}", t.label, d.label()));
        }
        let outcome = if passed {
            CriterionOutcome::Passed
        } else {
            CriterionOutcome::Failed
        };
        let reason = (!reason.trim().is_empty()).then_some(reason);
        let mut out = vec![self.decide(i, outcome, None, reason, Some(by), now)];
        out.extend(self.step_results(false));
        Ok(out)
    }

    /// The run halted: every metric criterion still open (or waiting for its rollback) of a step
    /// that started is undecided. Human checks stay open until the run ends.
    pub fn halted(&mut self, now: Instant) -> Vec<Decision> {
        self.close_metric(now, "the run halted before it was decided")
    }

    /// The run ends: what is still open is undecided (metrics) or not checked (human checks), and
    /// every started step without a result gets one.
    pub fn finished(&mut self, now: Instant) -> Vec<Decision> {
        let mut out = self.close_metric(now, "the run ended before it was decided");
        for i in 0..self.tracks.len() {
            let t = &self.tracks[i];
            if t.decided.is_none() && self.started[t.step] && matches!(t.test, Test::Check { .. }) {
                out.push(self.decide(
                    i,
                    CriterionOutcome::NotChecked,
                    None,
                    Some("no one ticked it before the run ended".into()),
                    None,
                    now,
                ));
            }
        }
        out.extend(self.step_results(true));
        out
    }

    /// A new round of an expanding step: its criteria open again, undecided, and its result is
    /// due again (the step's result is its last round's).
    pub fn reopen(&mut self, step: usize) {
        for t in self.tracks.iter_mut().filter(|t| t.step == step) {
            t.opened = None;
            t.deadline = None;
            t.decided = None;
            t.seen = false;
            t.last = None;
            t.last_reason = None;
        }
        for v in [&mut self.ended, &mut self.reported] {
            if let Some(x) = v.get_mut(step) {
                *x = false;
            }
        }
    }

    /// A metric criterion of `step` is still open (a recovery window after its rollback).
    pub fn metric_open(&self, step: usize) -> bool {
        self.tracks
            .iter()
            .any(|t| t.step == step && t.decided.is_none() && matches!(t.test, Test::Metric { .. }))
    }

    /// Whether every criterion of `step` passed; else the first that did not, in words.
    pub fn all_passed(&self, step: usize) -> Result<(), String> {
        match self
            .tracks
            .iter()
            .find(|t| t.step == step && t.decided != Some(CriterionOutcome::Passed))
        {
            None => Ok(()),
            Some(t) => Err(format!(
                "criterion `{}` {}",
                t.label,
                match t.decided {
                    Some(CriterionOutcome::Failed) => "failed",
                    Some(CriterionOutcome::Undecided) => "was undecided",
                    Some(CriterionOutcome::NotChecked) | None
                        if matches!(t.test, Test::Check { .. }) =>
                    {
                        "was not ticked passed by the end of the round"
                    }
                    _ => "was not decided",
                }
            )),
        }
    }

    /// Open `after: rollback` windows (the engine waits for them before the final steady-state
    /// check).
    pub fn recovery_open(&self) -> bool {
        self.tracks.iter().any(|t| {
            t.decided.is_none()
                && t.opened.is_some()
                && matches!(
                    t.test,
                    Test::Metric {
                        window: Window::AfterRollback { .. },
                        ..
                    }
                )
        })
    }

    fn close_metric(&mut self, now: Instant, why: &str) -> Vec<Decision> {
        let mut out = Vec::new();
        for i in 0..self.tracks.len() {
            let t = &self.tracks[i];
            if t.decided.is_none() && self.started[t.step] && matches!(t.test, Test::Metric { .. })
            {
                out.push(self.decide(
                    i,
                    CriterionOutcome::Undecided,
                    t.last,
                    Some(why.to_string()),
                    None,
                    now,
                ));
            }
        }
        out
    }

    fn decide(
        &mut self,
        i: usize,
        outcome: CriterionOutcome,
        value: Option<f64>,
        reason: Option<String>,
        by: Option<String>,
        now: Instant,
    ) -> Decision {
        let t = &mut self.tracks[i];
        t.decided = Some(outcome);
        let after_ms = t.opened.map(|o| ms(now.saturating_duration_since(o)));
        let failed = (outcome == CriterionOutcome::Failed).then(|| {
            format!(
                "step {} success criterion `{}` failed{}",
                t.step + 1,
                t.label,
                reason
                    .as_ref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            )
        });
        Decision {
            halts: failed.is_some() && self.halt_on_failure[t.step],
            failed,
            event: Event::CriterionResult {
                step: t.step,
                index: t.index,
                label: t.label.clone(),
                outcome,
                value,
                after_ms,
                reason,
                by,
            },
        }
    }

    /// Step results now due: every criterion of an ended step decided (or, at the run's end,
    /// every started step).
    fn step_results(&mut self, at_end: bool) -> Vec<Decision> {
        let mut out = Vec::new();
        for step in 0..self.names.len() {
            if self.reported[step] || !self.started[step] || !(at_end || self.ended[step]) {
                continue;
            }
            let mine: Vec<&Track> = self.tracks.iter().filter(|t| t.step == step).collect();
            if mine.is_empty() || mine.iter().any(|t| t.decided.is_none()) {
                continue;
            }
            let count = |o: CriterionOutcome| mine.iter().filter(|t| t.decided == Some(o)).count();
            let (passed, failed) = (
                count(CriterionOutcome::Passed),
                count(CriterionOutcome::Failed),
            );
            let open = mine.len() - passed - failed;
            let outcome = if failed > 0 {
                StepOutcome::Failed
            } else if open > 0 {
                StepOutcome::Undecided
            } else {
                StepOutcome::Passed
            };
            self.reported[step] = true;
            out.push(Decision {
                event: Event::StepResult {
                    index: step,
                    name: self.names[step].clone(),
                    outcome,
                    passed,
                    failed,
                    open,
                },
                failed: None,
                halts: false,
            });
        }
        out
    }
}
