//! What the Run screen knows about a run: a pure fold over its events (`RunView::apply`), so a live
//! run, a replayed journal and a test's recorded sequence all build the same state.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::event::{Envelope, Event, MilestoneKind, Phase, RollbackStatus, Verdict};
use crate::report::describe;
use crate::scenario::Scenario;

use super::series::Series;

/// Timeline lines kept on screen (the journal has all of them).
const TIMELINE_CAP: usize = 2_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultState {
    Arming,
    Injected,
    InjectFailed,
    /// Refused by its precondition check, or skipped by a halt: never on the host.
    NotInjected,
    RollingBack,
    Done(RollbackStatus),
}

impl FaultState {
    pub fn label(self) -> &'static str {
        match self {
            FaultState::Arming => "arming",
            FaultState::Injected => "injected",
            FaultState::InjectFailed => "inject failed",
            FaultState::NotInjected => "not injected",
            FaultState::RollingBack => "rolling back",
            FaultState::Done(RollbackStatus::Verified) => "VERIFIED",
            FaultState::Done(RollbackStatus::Failed) => "FAILED",
            FaultState::Done(RollbackStatus::Unknown) => "UNKNOWN",
        }
    }

    pub fn live(self) -> bool {
        !matches!(self, FaultState::Done(_) | FaultState::NotInjected)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FaultRow {
    pub fault: String,
    pub host: String,
    pub state: FaultState,
    /// Seconds since start when the fault went live and when its rollback was decided.
    pub injected_at: Option<f64>,
    pub done_at: Option<f64>,
    pub manual: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RuleState {
    Ok,
    /// Breaching since `since`; trips at `deadline` unless `clear_after` good samples in a row arrive.
    Breaching {
        since: DateTime<Utc>,
        deadline: DateTime<Utc>,
    },
    Tripped,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StepNow {
    pub index: usize,
    pub name: String,
    pub started: DateTime<Utc>,
    pub duration_ms: u64,
    pub prompt: Option<String>,
    pub ended: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NoteRow {
    pub ts: DateTime<Utc>,
    pub role: String,
    pub text: String,
    pub action: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HaltView {
    pub ts: DateTime<Utc>,
    pub by: String,
    pub reason: String,
    /// `(all_verified, halt → last rollback confirmed)` once rollback finished.
    pub finished: Option<(bool, Option<u64>)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

#[derive(Debug, Clone, Default)]
pub struct RunView {
    pub scenario: Option<Arc<Scenario>>,
    pub start: Option<DateTime<Utc>>,
    pub last_ts: Option<DateTime<Utc>>,
    pub phase: Option<Phase>,
    pub step: Option<StepNow>,
    pub checks: Vec<Check>,
    /// Live checks failed and the engine waits for an override with a reason (or a halt).
    pub preflight_held: Option<Vec<String>>,
    pub series: BTreeMap<String, Series>,
    pub rules: BTreeMap<usize, RuleState>,
    pub faults: Vec<FaultRow>,
    pub timeline: VecDeque<(DateTime<Utc>, String, String)>,
    pub notes: Vec<NoteRow>,
    pub milestones: Vec<(DateTime<Utc>, MilestoneKind, String)>,
    pub halt: Option<HaltView>,
    pub verdict: Option<(Verdict, String)>,
    pub ended: bool,
    /// Events the console missed because it fell behind the engine.
    pub lagged: u64,
    /// Highest journal sequence number folded in: a replayed or re-read event is not applied twice.
    pub last_seq: Option<u64>,
}

impl RunView {
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a Envelope>) -> RunView {
        let mut v = RunView::default();
        for e in events {
            v.apply(e);
        }
        v
    }

    /// Seconds since the run started.
    pub fn secs(&self, ts: DateTime<Utc>) -> f64 {
        self.start
            .map(|s| (ts - s).num_milliseconds() as f64 / 1000.0)
            .unwrap_or(0.0)
    }

    pub fn started(&self) -> bool {
        self.start.is_some()
    }

    /// A run is live from its first event until RunEnded.
    pub fn live(&self) -> bool {
        self.started() && !self.ended
    }

    pub fn apply(&mut self, env: &Envelope) {
        if self.last_seq.is_some_and(|s| env.seq <= s) {
            return;
        }
        self.last_seq = Some(env.seq);
        let ts = env.ts;
        let start = *self.start.get_or_insert(ts);
        self.last_ts = Some(self.last_ts.map_or(ts, |l| l.max(ts)));
        let t = (ts - start).num_milliseconds() as f64 / 1000.0;
        if !matches!(env.event, Event::Sample { .. }) {
            let (src, text) = describe(&env.event);
            self.timeline.push_back((ts, src, text));
            if self.timeline.len() > TIMELINE_CAP {
                self.timeline.pop_front();
            }
        }
        match &env.event {
            Event::RunStarted { scenario, .. } => {
                self.scenario = Some(Arc::new((**scenario).clone()));
                for m in scenario.metrics.keys() {
                    self.series.entry(m.clone()).or_default();
                }
            }
            Event::PhaseStarted { phase } => self.phase = Some(*phase),
            Event::PreflightHeld { failures } => self.preflight_held = Some(failures.clone()),
            Event::PreflightOverridden { .. } => self.preflight_held = None,
            Event::PreflightCheck { check, ok, detail } => self.checks.push(Check {
                name: check.clone(),
                ok: *ok,
                detail: detail.clone(),
            }),
            Event::StepStarted {
                index,
                name,
                duration_ms,
                prompt,
            } => {
                self.step = Some(StepNow {
                    index: *index,
                    name: name.clone(),
                    started: ts,
                    duration_ms: *duration_ms,
                    prompt: prompt.clone(),
                    ended: false,
                })
            }
            Event::StepEnded { .. } => {
                if let Some(s) = &mut self.step {
                    s.ended = true;
                }
            }
            Event::FaultIntent { fault, host, .. } => self.set_fault(fault, host, |r| {
                r.state = FaultState::Arming;
            }),
            Event::FaultInjected {
                fault, host, ok, ..
            } => self.set_fault(fault, host, |r| {
                r.state = if *ok {
                    FaultState::Injected
                } else {
                    FaultState::InjectFailed
                };
                r.injected_at = Some(t);
            }),
            Event::FaultNotInjected { fault, host, .. } => self.set_fault(fault, host, |r| {
                r.state = FaultState::NotInjected;
            }),
            // Leases show on the timeline (via describe); the fault row's state is unchanged.
            Event::LeaseArmed { .. }
            | Event::LeaseRenewed { .. }
            | Event::LeaseCancelled { .. } => {}
            Event::RollbackStarted { fault, host } => self.set_fault(fault, host, |r| {
                r.state = FaultState::RollingBack;
            }),
            Event::RollbackResult {
                fault,
                host,
                status,
                manual,
                ..
            } => self.set_fault(fault, host, |r| {
                r.state = FaultState::Done(*status);
                r.done_at = Some(t);
                r.manual = manual.clone();
            }),
            Event::Sample {
                metric,
                value,
                error,
            } => self
                .series
                .entry(metric.clone())
                .or_default()
                .push(t, *value, error.clone()),
            Event::RuleBreaching { rule, left_ms, .. } => {
                let deadline = crate::report::plus_ms(ts, *left_ms);
                let sustained = self.sustained(*rule);
                let since = match self.rules.get(rule) {
                    Some(RuleState::Breaching { since, .. }) => *since,
                    _ => deadline.checked_sub_signed(sustained).unwrap_or(deadline),
                };
                self.rules
                    .insert(*rule, RuleState::Breaching { since, deadline });
            }
            Event::RuleCleared { rule, .. } => {
                self.rules.insert(*rule, RuleState::Ok);
            }
            Event::RuleTripped { rule, .. } => {
                self.rules.insert(*rule, RuleState::Tripped);
            }
            Event::Note {
                role, text, action, ..
            } => self.notes.push(NoteRow {
                ts,
                role: role.clone(),
                text: text.clone(),
                action: *action,
            }),
            Event::Milestone { kind, role } => self.milestones.push((ts, *kind, role.clone())),
            Event::HaltRequested { by, reason } => {
                self.halt.get_or_insert(HaltView {
                    ts,
                    by: by.clone(),
                    reason: reason.clone(),
                    finished: None,
                });
            }
            Event::RollbackFinished {
                all_verified,
                since_halt_ms,
                ..
            } => {
                if let Some(h) = &mut self.halt {
                    h.finished = Some((*all_verified, *since_halt_ms));
                }
            }
            Event::Verdict {
                verdict, reason, ..
            } => self.verdict = Some((*verdict, reason.clone())),
            Event::RunEnded => self.ended = true,
            Event::SteadyState { .. } => {}
        }
    }

    fn sustained(&self, rule: usize) -> chrono::Duration {
        self.scenario
            .as_ref()
            .and_then(|s| s.abort.get(rule))
            .and_then(|r| chrono::Duration::from_std(r.sustained).ok())
            .unwrap_or_default()
    }

    fn set_fault(&mut self, fault: &str, host: &str, f: impl FnOnce(&mut FaultRow)) {
        let i = match self
            .faults
            .iter()
            .position(|r| r.fault == fault && r.host == host)
        {
            Some(i) => i,
            None => {
                self.faults.push(FaultRow {
                    fault: fault.to_string(),
                    host: host.to_string(),
                    state: FaultState::Arming,
                    injected_at: None,
                    done_at: None,
                    manual: None,
                });
                self.faults.len() - 1
            }
        };
        f(&mut self.faults[i]);
    }

    /// Fault windows for shading charts: (from, to) seconds since start; `to` is None while live.
    pub fn fault_windows(&self) -> impl Iterator<Item = (f64, Option<f64>)> + '_ {
        self.faults
            .iter()
            .filter_map(|r| r.injected_at.map(|a| (a, r.done_at)))
    }

    pub fn first_milestone(&self, kind: MilestoneKind) -> Option<DateTime<Utc>> {
        self.milestones.iter().find(|m| m.1 == kind).map(|m| m.0)
    }

    /// Every metric's latest value and every live fault, as a note snapshot shows them.
    pub fn live_faults(&self) -> usize {
        self.faults.iter().filter(|f| f.state.live()).count()
    }
}
