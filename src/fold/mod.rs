//! The one fold: [`RunState`] is what a run's events say, built by applying them one at a time.
//!
//! Every view of a run reads it: the console's Run and Debrief screens (live and in replay), the
//! Markdown debrief and its charts, `recover` (which faults are not safely back) and `follow`. A
//! journal is read as a stream into it, so memory does not grow with the journal's length: samples
//! become bounded series ([`series`]), the timeline keeps non-sample events only.
//!
//! The key times are defined here once ([`KeyTimes`]); the console and the debrief both print
//! [`KeyTimes::rows`].

pub mod describe;
pub mod impact;
pub mod log;
pub mod series;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::event::{
    CommandOutcome, CriterionOutcome, Envelope, Event, LiveFault, MilestoneKind, NoteKind, Phase,
    RollbackStatus, RuleCheck, StepOutcome, Verdict,
};
use crate::journal::{JournalError, Reader, Record, SampleRecord, TornTail};
use crate::scenario::Scenario;

pub use describe::{HostNames, describe};
use series::{Overview, Series};

/// Timeline lines the console keeps on screen (the journal has all of them).
pub const CONSOLE_TIMELINE: usize = 2_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultState {
    /// Intent journaled, inject not answered yet.
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

    /// May be on the host now.
    pub fn live(self) -> bool {
        !matches!(self, FaultState::Done(_) | FaultState::NotInjected)
    }
}

/// One fault on one host, from its intent to its rollback result.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRow {
    pub fault: String,
    pub kind: String,
    pub step: usize,
    pub target: String,
    /// The host's address: its identity, what a rollback goes to.
    pub host: String,
    /// How people know the host, when that is not its address ([`HostNames`]).
    pub host_name: Option<String>,
    pub state: FaultState,
    /// The commands as journaled in the intent, before the inject was sent.
    pub inject: String,
    pub undo: Option<String>,
    pub verify: Option<String>,
    pub irreversible: bool,
    pub timeout_ms: u64,
    /// Stands the host's dead-man lease down (journaled when the lease was armed).
    pub lease_cancel: Option<String>,
    /// When the inject was answered, and whether it succeeded.
    pub injected: Option<(DateTime<Utc>, bool)>,
    /// Why it never reached the host.
    pub not_injected: Option<String>,
    /// When its rollback result was journaled.
    pub rolled_back: Option<DateTime<Utc>>,
    pub how: String,
    /// What to run by hand, when the rollback was not verified.
    pub manual: Option<String>,
    /// What the inject, the last undo and its verify printed and returned (the console's detail
    /// view).
    pub inject_outcome: Option<CommandOutcome>,
    pub undo_outcome: Option<CommandOutcome>,
    pub verify_outcome: Option<CommandOutcome>,
    pub attempts: u32,
    /// The dead-man lease: its length, when it was last armed or renewed, and whether it was
    /// stood down (`Some(false)`: the cancel failed).
    pub lease_ms: Option<u64>,
    pub lease_renewed: Option<DateTime<Utc>>,
    pub lease_cancelled: Option<bool>,
}

impl FaultRow {
    fn new(fault: &str, host: &str) -> FaultRow {
        FaultRow {
            fault: fault.to_string(),
            kind: String::new(),
            step: 0,
            target: String::new(),
            host: host.to_string(),
            host_name: None,
            state: FaultState::Arming,
            inject: String::new(),
            undo: None,
            verify: None,
            irreversible: false,
            timeout_ms: 0,
            lease_cancel: None,
            injected: None,
            not_injected: None,
            rolled_back: None,
            how: String::new(),
            manual: None,
            inject_outcome: None,
            undo_outcome: None,
            verify_outcome: None,
            attempts: 0,
            lease_ms: None,
            lease_renewed: None,
            lease_cancelled: None,
        }
    }

    /// The host as people know it: its name, else its address.
    pub fn host_label(&self) -> &str {
        self.host_name.as_deref().unwrap_or(&self.host)
    }

    /// The name with the address, `shop-1 (127.0.0.1:45271)`, or the address alone.
    pub fn host_detail(&self) -> String {
        match &self.host_name {
            Some(n) => format!("{n} ({})", self.host),
            None => self.host.clone(),
        }
    }

    /// When the host reverts the fault on its own if no renewal comes: the last arm or renewal
    /// plus the lease. `None` without a lease, or once it was stood down.
    pub fn lease_expiry(&self) -> Option<DateTime<Utc>> {
        if self.lease_cancelled == Some(true) {
            return None;
        }
        Some(plus_ms(self.lease_renewed?, self.lease_ms?))
    }

    pub fn status(&self) -> Option<RollbackStatus> {
        match self.state {
            FaultState::Done(s) => Some(s),
            _ => None,
        }
    }

    /// Its inject was sent and never answered (the run died meanwhile): it may still be running on
    /// the host, within `target::host_bound` of its start.
    pub fn inject_in_flight(&self) -> bool {
        self.injected.is_none() && self.not_injected.is_none()
    }

    /// May still be on its host: it has an undo, went (or may have gone) in, and no rollback was
    /// verified. What `recover` rolls back and the debrief lists under "Manual action needed".
    pub fn unresolved(&self) -> bool {
        !self.irreversible
            && self.undo.is_some()
            && self.state != FaultState::NotInjected
            && self.status() != Some(RollbackStatus::Verified)
    }
}

/// The rollbacks of the batch in progress (a halt's, or a step end's): how many were started and
/// how each has ended so far. The first rollback started after every one of the last batch has its
/// result begins a new batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RollbackCount {
    pub total: usize,
    pub verified: usize,
    pub failed: usize,
    pub unknown: usize,
}

impl RollbackCount {
    /// Rollbacks with a result.
    pub fn done(&self) -> usize {
        self.verified + self.failed + self.unknown
    }

    /// Counts a rollback started or ended; true when `event` was one.
    pub fn apply(&mut self, event: &Event) -> bool {
        match event {
            Event::RollbackStarted { .. } => {
                if self.total > 0 && self.done() >= self.total {
                    *self = RollbackCount::default();
                }
                self.total += 1;
                true
            }
            Event::RollbackResult { status, .. } => {
                match status {
                    RollbackStatus::Verified => self.verified += 1,
                    RollbackStatus::Failed => self.failed += 1,
                    RollbackStatus::Unknown => self.unknown += 1,
                }
                // A result without its start (an older journal) still counts.
                self.total = self.total.max(self.done());
                true
            }
            _ => false,
        }
    }
}

impl RollbackCount {
    /// The rollbacks started so far, per fault (in the order the faults first appear): the halt
    /// panel's line for a fault on many hosts, `slow-pay: verified 812/1000, failed 0, unknown 3`.
    pub fn per_fault(faults: &[FaultRow]) -> Vec<(&str, RollbackCount)> {
        let mut out: Vec<(&str, RollbackCount)> = Vec::new();
        for f in faults {
            let counted = matches!(f.state, FaultState::RollingBack | FaultState::Done(_));
            if !counted {
                continue;
            }
            let i = match out.iter().position(|(id, _)| *id == f.fault) {
                Some(i) => i,
                None => {
                    out.push((&f.fault, RollbackCount::default()));
                    out.len() - 1
                }
            };
            let c = &mut out[i].1;
            c.total += 1;
            match f.state {
                FaultState::Done(RollbackStatus::Verified) => c.verified += 1,
                FaultState::Done(RollbackStatus::Failed) => c.failed += 1,
                FaultState::Done(RollbackStatus::Unknown) => c.unknown += 1,
                _ => {}
            }
        }
        out
    }
}

impl std::fmt::Display for RollbackCount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{} verified, {} failed, {} unknown",
            self.verified, self.total, self.failed, self.unknown
        )?;
        let left = self.total - self.done();
        if left > 0 {
            write!(f, ", {left} in progress")?;
        }
        Ok(())
    }
}

/// `ts` plus `ms` milliseconds, clamped to the latest time chrono can hold: journal numbers are
/// input (a hostile or damaged journal must not crash `report` or `replay`).
pub fn plus_ms(ts: DateTime<Utc>, ms: u64) -> DateTime<Utc> {
    chrono::TimeDelta::try_milliseconds(i64::try_from(ms).unwrap_or(i64::MAX))
        .and_then(|d| ts.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// An abort rule as the events describe it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RuleState {
    Ok,
    /// Breaching; trips at `deadline` (the engine's, journaled as `left_ms`) unless `clear_after`
    /// good samples in a row arrive first.
    Breaching {
        deadline: DateTime<Utc>,
    },
    Tripped,
}

/// A breaching rule's countdown at an instant: whole seconds breaching so far, of how many, and
/// left. `held + left == of` always, live and in replay, because both come from the one deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Countdown {
    pub held: u64,
    pub of: u64,
    pub left: u64,
}

impl Countdown {
    pub fn at(deadline: DateTime<Utc>, sustained: std::time::Duration, now: DateTime<Utc>) -> Self {
        let of = sustained.as_secs();
        let ms = (deadline - now).num_milliseconds().max(0) as u64;
        let left = ms.div_ceil(1000).min(of);
        Countdown {
            held: of - left,
            of,
            left,
        }
    }
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
    /// Journal sequence number (what a retraction names).
    pub seq: u64,
    pub ts: DateTime<Utc>,
    pub role: String,
    pub text: String,
    pub kind: NoteKind,
    /// An action item's owner and due date.
    pub owner: Option<String>,
    pub due: Option<String>,
    /// Every metric's latest value when the note was written (`None` = no data), and the faults
    /// live then: the debrief's snapshot beside the note. Empty for notes written after the run.
    pub metrics: BTreeMap<String, Option<f64>>,
    pub faults: Vec<LiveFault>,
    /// Every edit made to it, oldest first (what it said before each).
    pub edits: Vec<NoteRevision>,
}

/// What became of one notification target's messages.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NotifyStats {
    pub delivered: u64,
    pub failed: u64,
    pub last_error: Option<String>,
}

/// A host key `--accept-new` trusted for this run (or its `recover`).
#[derive(Debug, Clone, PartialEq)]
pub struct AcceptedKeyRow {
    pub ts: DateTime<Utc>,
    pub host: String,
    pub key_type: String,
    pub fingerprint: String,
    pub known_hosts: String,
    pub by: String,
}

/// One edit of a note: when, by whom, what it said before and after.
#[derive(Debug, Clone, PartialEq)]
pub struct NoteRevision {
    pub ts: DateTime<Utc>,
    pub role: String,
    pub before: String,
    pub after: String,
}

/// What an edit makes a note say.
#[derive(Debug, Clone, PartialEq)]
pub struct Edited {
    pub text: String,
    pub kind: NoteKind,
    pub owner: Option<String>,
    pub due: Option<String>,
}

impl NoteRow {
    pub fn is_action(&self) -> bool {
        self.kind == NoteKind::ActionItem
    }

    /// What the note is, in the words an undo names it by.
    pub fn what(&self) -> &'static str {
        match self.kind {
            NoteKind::Observation => "note",
            k => k.label(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct MilestoneRow {
    /// Journal sequence number (what a retraction names).
    pub seq: u64,
    pub ts: DateTime<Utc>,
    pub kind: MilestoneKind,
    pub role: String,
    /// Marked before any fault was injected: journaled, but not counted in the key times.
    pub counts: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HaltView {
    pub ts: DateTime<Utc>,
    pub by: String,
    pub reason: String,
    /// `(all_verified, faults, halt → last rollback confirmed)` once rollback finished.
    pub finished: Option<(bool, usize, Option<u64>)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VerdictView {
    pub verdict: Verdict,
    pub exit_code: i32,
    pub reason: String,
}

/// One success criterion of a step: as the scenario writes it, and its result once decided.
#[derive(Debug, Clone, PartialEq)]
pub struct CriterionRow {
    pub step: usize,
    pub index: usize,
    pub label: String,
    /// Ticked by a person (else decided from samples).
    pub human: bool,
    /// Who the scenario says ticks a human check (`by:`).
    pub check_by: Option<String>,
    /// `None`: not decided (yet, or the step never ran).
    pub outcome: Option<CriterionOutcome>,
    pub ts: Option<DateTime<Utc>>,
    pub value: Option<f64>,
    pub after_ms: Option<u64>,
    pub reason: Option<String>,
    pub by: Option<String>,
}

impl CriterionRow {
    /// The evidence in words: the deciding value, how long after its window opened, who ticked
    /// it, why (the debrief's table and the console's Review and Debrief screens).
    pub fn evidence(&self) -> String {
        let mut out = Vec::new();
        if let Some(v) = self.value {
            out.push(format!("value {}", crate::fmt::value(Some(v))));
        }
        if let Some(ms) = self.after_ms {
            out.push(format!("after {}", crate::fmt::elapsed_ms(ms)));
        }
        if let Some(b) = &self.by {
            out.push(format!("by {b}"));
        }
        if let Some(r) = &self.reason {
            out.push(r.clone());
        }
        out.join("; ")
    }

    /// The outcome in words; `not decided` while open.
    pub fn result(&self) -> &'static str {
        self.outcome.map_or("not decided", |o| o.label())
    }
}

/// One activity of a Chaos Toolkit run (`ctk_activity`), as the debrief lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct CtkRow {
    /// When it ended (journaled then).
    pub ts: DateTime<Utc>,
    pub phase: Phase,
    pub name: String,
    /// `action` or `probe`.
    pub activity: String,
    /// `process` or `http`.
    pub provider: String,
    /// `succeeded` or `failed`.
    pub status: String,
    pub background: bool,
    pub ms: u64,
    /// The output's `status` (exit code or HTTP status), when it has one.
    pub output_status: Option<i64>,
    pub error: Option<String>,
    /// A steady-state probe's tolerance; `None` for the method and the rollbacks.
    pub tolerance_met: Option<bool>,
}

/// A step's journaled result.
#[derive(Debug, Clone, PartialEq)]
pub struct StepResultRow {
    pub index: usize,
    pub name: String,
    pub outcome: StepOutcome,
    pub passed: usize,
    pub failed: usize,
    pub open: usize,
    pub ts: DateTime<Utc>,
}

/// The hosts a fault's `select:` chose (the last round's, for an expanding step).
#[derive(Debug, Clone, PartialEq)]
pub struct SelectionRow {
    pub step: usize,
    pub fault: String,
    pub target: String,
    pub seed: u64,
    pub size: String,
    pub candidates: usize,
    /// Host addresses, sorted.
    pub chosen: Vec<String>,
    pub budget: Option<usize>,
    pub ts: DateTime<Utc>,
}

/// How far a step's progressive expansion got: the last round started, and why it stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpansionRow {
    pub step: usize,
    /// The last round started (0-based) of `rounds`.
    pub round: usize,
    pub rounds: usize,
    pub size: String,
    /// Hosts chosen in that round, of the candidates (summed over the step's faults).
    pub hosts: usize,
    pub candidates: usize,
    /// Whether the last round ended, passed, and why the expansion ended; `None` while it runs.
    pub ended: Option<(bool, String)>,
}

impl ExpansionRow {
    /// `reached 10 % (3 of 30 hosts); stopped: criterion `…` failed in round 2`.
    pub fn line(&self) -> String {
        let head = format!(
            "reached {} ({} of {} hosts), round {} of {}",
            self.size,
            self.hosts,
            self.candidates,
            self.round.saturating_add(1),
            self.rounds
        );
        match &self.ended {
            None => format!("{head}; in progress"),
            Some((true, why)) => format!("{head}; {why}"),
            Some((false, why)) => format!("{head}; stopped: {why}"),
        }
    }
}

/// Detection of one step's faults: automated (rules) beside human (the `detected` milestone).
#[derive(Debug, Clone, PartialEq)]
pub struct DetectionRow {
    pub index: usize,
    pub name: String,
    pub first_inject: Option<DateTime<Utc>>,
    pub automated: Option<(DateTime<Utc>, String)>,
    pub human: Option<DateTime<Utc>>,
    /// The first `mitigated` milestone marked at or after the step's first inject and before the
    /// next step started.
    pub mitigated: Option<DateTime<Utc>>,
}

impl DetectionRow {
    /// Milliseconds from the step's first inject to `t` (never negative).
    pub fn since_inject(&self, t: DateTime<Utc>) -> Option<u64> {
        Some((t - self.first_inject?).num_milliseconds().max(0) as u64)
    }
}

/// An abort, a halt or the end of a rollback, in journal order, for the debrief.
#[derive(Debug, Clone, PartialEq)]
pub enum Incident {
    Tripped {
        label: String,
        breaching_ms: u64,
        value: Option<f64>,
        reason: Option<String>,
    },
    Halt {
        by: String,
        reason: String,
    },
    RollbackFinished {
        all_verified: bool,
        faults: usize,
        since_halt_ms: u64,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct TimelineEntry {
    pub ts: DateTime<Utc>,
    pub src: String,
    pub text: String,
    /// Phase changes and the run start are on screen but not in the debrief's timeline table.
    pub minor: bool,
    /// The journal record it came from.
    pub seq: u64,
    pub kind: Source,
    /// The fault and host it is about, for fault, lease and rollback events.
    pub fault: Option<(String, String)>,
}

/// What a timeline line is about (the console filters by it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Notes, action items, milestones, retractions.
    Notes,
    /// Faults, their leases and rollbacks.
    Faults,
    /// Abort rules breaching, clearing, tripping.
    Rules,
    /// Steady-state checks and metric checks.
    Metrics,
    /// The run itself: phases, steps, preflight, halt, verdict.
    Engine,
}

impl Source {
    /// The source of an event, and the fault and host it is about.
    pub fn of(event: &Event) -> (Source, Option<(String, String)>) {
        let about = |f: &str, h: &str| Some((f.to_string(), h.to_string()));
        match event {
            Event::Note { .. }
            | Event::NoteEdited { .. }
            | Event::Milestone { .. }
            | Event::Retracted { .. }
            | Event::SeatJoined { .. }
            | Event::SeatLeft { .. }
            | Event::SeatRefused { .. } => (Source::Notes, None),
            Event::FaultIntent { fault, host, .. }
            | Event::FaultInjected { fault, host, .. }
            | Event::FaultNotInjected { fault, host, .. }
            | Event::LeaseArmed { fault, host, .. }
            | Event::LeaseRenewed { fault, host, .. }
            | Event::LeaseCancelled { fault, host, .. }
            | Event::RollbackStarted { fault, host }
            | Event::RollbackResult { fault, host, .. } => (Source::Faults, about(fault, host)),
            Event::RollbackFinished { .. } | Event::HostsSelected { .. } => (Source::Faults, None),
            Event::RuleBreaching { .. } | Event::RuleCleared { .. } | Event::RuleTripped { .. } => {
                (Source::Rules, None)
            }
            Event::SteadyState { .. } | Event::Sample { .. } => (Source::Metrics, None),
            Event::PreflightCheck { check, .. } if check.starts_with("metric") => {
                (Source::Metrics, None)
            }
            _ => (Source::Engine, None),
        }
    }
}

/// One metric: counts and extremes of the whole run, its chart overview, and (console only) the
/// recent series.
#[derive(Debug, Clone, Default)]
pub struct MetricState {
    pub samples: u64,
    pub no_data: u64,
    pub last: Option<f64>,
    pub last_error: Option<String>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub overview: Overview,
    pub series: Series,
}

/// Time to detect and mitigate, and halt → verified: defined once, here.
///
/// - Detection and mitigation count from the **first successful inject**.
/// - The first `detected` (`mitigated`) milestone marked **at or after** it counts; one marked
///   before any fault was in is journaled but does not count ([`MilestoneRow::counts`]).
/// - Halt → verified is the first rollback's `since_halt_ms` (halt to last rollback confirmed).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct KeyTimes {
    pub first_fault: Option<DateTime<Utc>>,
    pub detected: Option<DateTime<Utc>>,
    pub mitigated: Option<DateTime<Utc>>,
    /// `(ms, all verified)`.
    pub halt_to_verified: Option<(u64, bool)>,
    /// Milestones marked before any fault was injected (not counted).
    pub early_milestones: usize,
}

impl KeyTimes {
    pub fn time_to_detect(&self) -> Option<chrono::TimeDelta> {
        Some(self.detected? - self.first_fault?)
    }

    pub fn time_to_mitigate(&self) -> Option<chrono::TimeDelta> {
        Some(self.mitigated? - self.first_fault?)
    }

    /// The rows both the console's Debrief screen and `debrief.md` show, in this order.
    pub fn rows(&self, start: DateTime<Utc>) -> Vec<(&'static str, String)> {
        let span = |d: Option<chrono::TimeDelta>, why: &str| match d {
            Some(d) => crate::fmt::min_sec(d.num_seconds()),
            None => why.to_string(),
        };
        let no_fault = "— (no fault was injected)";
        let mut rows = vec![(
            "First fault injected",
            self.first_fault
                .map(|f| crate::fmt::t_plus(start, f))
                .unwrap_or_else(|| no_fault.into()),
        )];
        if self.first_fault.is_some() {
            rows.push((
                "Time to detect",
                span(self.time_to_detect(), "— (no `detected` milestone)"),
            ));
            rows.push((
                "Time to mitigate",
                span(self.time_to_mitigate(), "— (no `mitigated` milestone)"),
            ));
        }
        rows.push((
            "Halt → all rolled back",
            match self.halt_to_verified {
                Some((ms, true)) => format!("{ms} ms"),
                Some((ms, false)) => format!("{ms} ms (NOT all verified)"),
                None => "— (no halt)".into(),
            },
        ));
        if self.early_milestones > 0 {
            rows.push((
                "Not counted",
                format!(
                    "{} milestone(s) marked before any fault was injected",
                    self.early_milestones
                ),
            ));
        }
        rows
    }
}

/// Everything the events of one run say, folded one event at a time.
#[derive(Debug, Clone, Default)]
pub struct RunState {
    /// Notifications per target label: delivered, failed, the last failure's reason.
    pub notifications: BTreeMap<String, NotifyStats>,
    /// Second seats joined now (`gameday join`): seat number → tag.
    pub seats: BTreeMap<u32, String>,
    /// Host keys trusted on first sight (`--accept-new`), in journal order.
    pub accepted_keys: Vec<AcceptedKeyRow>,
    pub run: Option<String>,
    pub scenario: Option<Arc<Scenario>>,
    /// How people know the scenario's hosts (from the scenario in `run_started`).
    pub host_names: HostNames,
    pub version: Option<String>,
    pub start: Option<DateTime<Utc>>,
    pub last_ts: Option<DateTime<Utc>>,
    /// Records folded in.
    pub records: u64,
    pub phase: Option<Phase>,
    pub step: Option<StepNow>,
    pub checks: Vec<Check>,
    /// Live checks failed and the engine waits for an override with a reason (or a halt).
    pub preflight_held: Option<Vec<String>>,
    pub steady_before: Option<(Vec<RuleCheck>, bool)>,
    pub steady_after: Option<(Vec<RuleCheck>, bool)>,
    pub metrics: BTreeMap<String, MetricState>,
    pub rules: BTreeMap<usize, RuleState>,
    pub faults: Vec<FaultRow>,
    /// The rollback batch in progress, or the last one.
    pub rollbacks: RollbackCount,
    pub timeline: VecDeque<TimelineEntry>,
    /// Most timeline entries kept (oldest dropped first); `None` keeps all (the debrief).
    pub timeline_cap: Option<usize>,
    pub notes: Vec<NoteRow>,
    pub milestones: Vec<MilestoneRow>,
    pub incidents: Vec<(DateTime<Utc>, Incident)>,
    pub halt: Option<HaltView>,
    pub key_times: KeyTimes,
    /// Every step's success criteria, in scenario order, with their results.
    pub criteria: Vec<CriterionRow>,
    pub step_results: Vec<StepResultRow>,
    /// Hosts chosen by each fault's `select:`, in the order they were journaled.
    pub selections: Vec<SelectionRow>,
    /// Why a step's selection was refused (blast radius), nothing of it injected.
    pub selection_refused: Option<String>,
    /// Each expanding step's progress, in step order of first round.
    pub expansions: Vec<ExpansionRow>,
    /// Impact per metric, time to recover, detection per step ([`impact`]).
    pub impact: impact::Impact,
    pub verdict: Option<VerdictView>,
    pub ended: bool,
    /// Events the console missed because it fell behind the engine.
    pub lagged: u64,
    /// Highest journal sequence number folded in: a replayed or re-read event is not applied twice.
    pub last_seq: Option<u64>,
    /// A Chaos Toolkit run's activities, in the order they ended.
    pub ctk: Vec<CtkRow>,
    /// Where that run was stricter than `chaos run` (`ctk_stricter`), in order.
    pub ctk_stricter: Vec<String>,
    /// Keep each metric's recent [`MetricState::series`] (the console's panels). Off for the
    /// debrief and `recover`, which need only the bounded overview: see [`RunState::keep_series`].
    pub series_kept: bool,
}

impl RunState {
    /// A Chaos Toolkit experiment's run (its runner journals a `ctk_stricter` right after
    /// `run_started`: the max duration).
    pub fn is_ctk(&self) -> bool {
        !self.ctk.is_empty() || !self.ctk_stricter.is_empty()
    }

    /// The experiment's rollbacks journaled so far, and how many of them did not confirm (failed,
    /// or an exit other than 0 / an HTTP status of 400 or more: the runner's rule).
    pub fn ctk_rollbacks(&self) -> (usize, usize) {
        let rows = self.ctk.iter().filter(|r| r.phase == Phase::Rollback);
        let unconfirmed = rows
            .clone()
            .filter(|r| {
                let ok = match r.provider.as_str() {
                    "http" => r.output_status.is_some_and(|s| s < 400),
                    _ => r.output_status == Some(0),
                };
                r.status != "succeeded" || !ok
            })
            .count();
        (rows.count(), unconfirmed)
    }

    /// The whole run, every timeline line kept, no recent series (only the bounded chart
    /// overview): for the debrief and `recover`.
    pub fn new() -> RunState {
        RunState::default()
    }

    /// As the console keeps it: the timeline capped at [`CONSOLE_TIMELINE`] lines, and each
    /// metric's recent series for its panel.
    pub fn console() -> RunState {
        RunState {
            timeline_cap: Some(CONSOLE_TIMELINE),
            series_kept: true,
            ..RunState::default()
        }
    }

    /// Whether samples also go into each metric's recent [`series::Series`] (a ring of 16k points
    /// and its buckets, about 256 KiB per metric once full). Everything else is kept either way.
    pub fn keep_series(mut self, keep: bool) -> RunState {
        self.series_kept = keep;
        self
    }

    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a Envelope>) -> RunState {
        let mut v = RunState::new();
        for e in events {
            v.apply(e);
        }
        v
    }

    /// Streams a journal into a whole-run state ([`RunState::new`]) without modifying the file;
    /// also returns a torn last line that was skipped. Memory does not grow with the journal's
    /// length.
    pub fn from_journal(
        path: &std::path::Path,
    ) -> Result<(RunState, Option<TornTail>), JournalError> {
        RunState::new().fold_journal(path)
    }

    /// Streams a journal into this state through [`Reader::next_record`] (samples on the fast
    /// path); never modifies the file. Returns the state and a torn last line that was skipped.
    pub fn fold_journal(
        mut self,
        path: &std::path::Path,
    ) -> Result<(RunState, Option<TornTail>), JournalError> {
        let mut reader = Reader::open(path)?;
        while let Some(r) = reader.next_record() {
            self.apply_record(&r?);
        }
        let torn = reader.torn().cloned();
        Ok((self, torn))
    }

    /// [`RunState::console`] with `events` folded in.
    pub fn console_from<'a>(events: impl IntoIterator<Item = &'a Envelope>) -> RunState {
        let mut v = RunState::console();
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

    /// Counts a record in; false when its sequence number was folded in already.
    fn admit(&mut self, seq: u64, ts: DateTime<Utc>, run: &str) -> bool {
        if self.last_seq.is_some_and(|s| seq <= s) {
            return false;
        }
        self.last_seq = Some(seq);
        self.records += 1;
        self.start.get_or_insert(ts);
        if self.run.is_none() {
            self.run = Some(run.to_string());
        }
        self.last_ts = Some(self.last_ts.map_or(ts, |l| l.max(ts)));
        true
    }

    /// One record from [`Reader::next_record`]: the same as [`RunState::apply`] of its envelope.
    pub fn apply_record(&mut self, r: &Record) {
        match r {
            Record::Sample(s) => self.apply_sample_record(s),
            Record::Event(e) => self.apply(e),
        }
    }

    /// A sample record: the same as [`RunState::apply`] of its envelope, without building one.
    pub fn apply_sample_record(&mut self, s: &SampleRecord) {
        if self.admit(s.seq, s.ts, s.run) {
            self.apply_sample(s.ts, s.metric, s.value, s.error);
        }
    }

    pub fn apply(&mut self, env: &Envelope) {
        if let Event::Sample {
            metric,
            value,
            error,
        } = &env.event
        {
            if self.admit(env.seq, env.ts, &env.run) {
                self.apply_sample(env.ts, metric, *value, error.as_deref());
            }
            return;
        }
        if !self.admit(env.seq, env.ts, &env.run) {
            return;
        }
        let ts = env.ts;
        if let Event::RunStarted { scenario, .. } = &env.event {
            self.host_names = HostNames::of(scenario);
        }
        self.rollbacks.apply(&env.event);
        let (src, text) = describe(&env.event, &self.host_names);
        let (kind, fault) = Source::of(&env.event);
        self.timeline.push_back(TimelineEntry {
            ts,
            src,
            text,
            seq: env.seq,
            kind,
            fault,
            minor: matches!(
                env.event,
                Event::PhaseStarted { .. }
                    | Event::RunStarted { .. }
                    | Event::Notified { ok: true, .. }
            ),
        });
        if self
            .timeline_cap
            .is_some_and(|cap| self.timeline.len() > cap)
        {
            self.timeline.pop_front();
        }
        match &env.event {
            Event::RunStarted {
                scenario,
                gameday_version,
                ..
            } => {
                self.scenario = Some(Arc::new((**scenario).clone()));
                self.version = Some(gameday_version.clone());
                for m in scenario.metrics.keys() {
                    self.metrics.entry(m.clone()).or_default();
                }
                self.impact.scenario(scenario);
                self.criteria = scenario
                    .criteria()
                    .map(|(step, index, c)| CriterionRow {
                        step,
                        index,
                        label: c.label.clone(),
                        human: matches!(c.test, crate::scenario::Test::Check { .. }),
                        check_by: match &c.test {
                            crate::scenario::Test::Check { by } => by.clone(),
                            _ => None,
                        },
                        outcome: None,
                        ts: None,
                        value: None,
                        after_ms: None,
                        reason: None,
                        by: None,
                    })
                    .collect();
            }
            Event::PhaseStarted { phase } => self.phase = Some(*phase),
            Event::PreflightHeld { failures } => self.preflight_held = Some(failures.clone()),
            Event::PreflightOverridden { .. } => self.preflight_held = None,
            Event::PreflightCheck { check, ok, detail } => self.checks.push(Check {
                name: check.clone(),
                ok: *ok,
                detail: detail.clone(),
            }),
            Event::SteadyState {
                phase,
                held,
                checks,
            } => {
                let slot = if *phase == Phase::SteadyStateBefore {
                    &mut self.steady_before
                } else {
                    &mut self.steady_after
                };
                slot.get_or_insert_with(|| (checks.clone(), *held));
            }
            Event::StepStarted {
                index,
                name,
                duration_ms,
                prompt,
            } => {
                self.impact.step_started(*index, name, ts);
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
            Event::FaultIntent {
                fault,
                kind,
                step,
                target,
                host,
                inject,
                undo,
                verify,
                irreversible,
                timeout_ms,
            } => self.set_fault(fault, host, |r| {
                *r = FaultRow {
                    kind: kind.clone(),
                    step: *step,
                    target: target.clone(),
                    inject: inject.clone(),
                    undo: undo.clone(),
                    verify: verify.clone(),
                    irreversible: *irreversible,
                    timeout_ms: *timeout_ms,
                    ..FaultRow::new(fault, host)
                };
            }),
            Event::FaultInjected {
                fault,
                host,
                ok,
                outcome,
            } => {
                if *ok && self.key_times.first_fault.is_none() {
                    self.key_times.first_fault = Some(ts);
                }
                if *ok {
                    self.impact.injected(fault, host, ts);
                }
                self.set_fault(fault, host, |r| {
                    r.state = if *ok {
                        FaultState::Injected
                    } else {
                        FaultState::InjectFailed
                    };
                    r.injected = Some((ts, *ok));
                    r.inject_outcome = Some(outcome.clone());
                })
            }
            Event::FaultNotInjected {
                fault,
                host,
                reason,
                ..
            } => self.set_fault(fault, host, |r| {
                r.state = FaultState::NotInjected;
                r.not_injected = Some(reason.clone());
            }),
            Event::LeaseArmed {
                fault,
                host,
                cancel,
                ok,
                lease_ms,
                ..
            } => self.set_fault(fault, host, |r| {
                r.lease_cancel = Some(cancel.clone());
                if *ok {
                    r.lease_ms = Some(*lease_ms);
                    r.lease_renewed = Some(ts);
                }
            }),
            // Renewals and cancels move the lease's expiry; the fault's state is unchanged.
            Event::LeaseRenewed {
                fault, host, ok, ..
            } => {
                if *ok {
                    self.set_fault(fault, host, |r| r.lease_renewed = Some(ts));
                }
            }
            Event::LeaseCancelled { fault, host, ok } => {
                self.set_fault(fault, host, |r| r.lease_cancelled = Some(*ok))
            }
            Event::RollbackStarted { fault, host } => self.set_fault(fault, host, |r| {
                if r.state.live() {
                    r.state = FaultState::RollingBack;
                }
            }),
            Event::RollbackResult {
                fault,
                host,
                status,
                how,
                manual,
                attempts,
                undo,
                verify,
            } => {
                self.impact.rolled_back(fault, host, ts);
                self.set_fault(fault, host, |r| {
                    r.state = FaultState::Done(*status);
                    r.rolled_back = Some(ts);
                    r.how = how.clone();
                    r.manual = manual.clone();
                    r.attempts = *attempts;
                    r.undo_outcome = Some(undo.clone());
                    r.verify_outcome = verify.clone();
                })
            }
            Event::Sample { .. } => {}
            Event::RuleBreaching {
                rule,
                left_ms,
                label,
                ..
            } => {
                self.impact.rule_breach(label, ts);
                let deadline = plus_ms(ts, *left_ms);
                self.rules.insert(*rule, RuleState::Breaching { deadline });
            }
            Event::RuleCleared { rule, .. } => {
                self.rules.insert(*rule, RuleState::Ok);
            }
            Event::RuleTripped {
                rule,
                label,
                value,
                breaching_ms,
                reason,
            } => {
                self.impact.rule_breach(label, ts);
                self.rules.insert(*rule, RuleState::Tripped);
                self.incidents.push((
                    ts,
                    Incident::Tripped {
                        label: label.clone(),
                        breaching_ms: *breaching_ms,
                        value: *value,
                        reason: reason.clone(),
                    },
                ));
            }
            Event::Note {
                role,
                text,
                action,
                kind,
                owner,
                due,
                metrics,
                faults,
            } => self.notes.push(NoteRow {
                seq: env.seq,
                ts,
                role: role.clone(),
                text: text.clone(),
                kind: NoteKind::of(*kind, *action),
                owner: owner.clone(),
                due: due.clone(),
                metrics: metrics.clone(),
                faults: faults.clone(),
                edits: Vec::new(),
            }),
            Event::Milestone { kind, role } => {
                let counts = self.key_times.first_fault.is_some();
                if counts {
                    let slot = match kind {
                        MilestoneKind::Detected => &mut self.key_times.detected,
                        MilestoneKind::Mitigated => &mut self.key_times.mitigated,
                    };
                    slot.get_or_insert(ts);
                } else {
                    self.key_times.early_milestones += 1;
                }
                self.milestones.push(MilestoneRow {
                    seq: env.seq,
                    ts,
                    kind: *kind,
                    role: role.clone(),
                    counts,
                });
            }
            // Who joined is in the timeline (describe); the notes carry the seat's tag.
            Event::SeatJoined { seat, tag, .. } => {
                self.seats.insert(*seat, tag.clone());
            }
            Event::SeatLeft { seat, .. } => {
                self.seats.remove(seat);
            }
            Event::SeatRefused { .. } => {}
            Event::HostKeyAccepted {
                host,
                key_type,
                fingerprint,
                known_hosts,
                by,
            } => self.accepted_keys.push(AcceptedKeyRow {
                ts,
                host: host.clone(),
                key_type: key_type.clone(),
                fingerprint: fingerprint.clone(),
                known_hosts: known_hosts.clone(),
                by: by.clone(),
            }),
            Event::Notified { to, ok, error, .. } => {
                let s = self.notifications.entry(to.clone()).or_default();
                if *ok {
                    s.delivered = s.delivered.saturating_add(1);
                } else {
                    s.failed = s.failed.saturating_add(1);
                    s.last_error = error.clone();
                }
            }
            Event::NoteEdited {
                edits,
                role,
                text,
                kind,
                owner,
                due,
            } => {
                let before = self.edit_note(
                    *edits,
                    ts,
                    role,
                    Edited {
                        text: text.clone(),
                        kind: *kind,
                        owner: owner.clone(),
                        due: due.clone(),
                    },
                );
                if let (Some(before), Some(line)) = (before, self.timeline.back_mut()) {
                    line.text = format!("edited {}: \"{before}\" → \"{text}\"", kind.label());
                }
            }
            Event::Retracted { retracts, .. } => {
                let what = self.retract(*retracts);
                if let (Some(what), Some(line)) = (what, self.timeline.back_mut()) {
                    line.text = format!("retracted {what}");
                }
            }
            Event::HaltRequested { by, reason } => {
                for e in self.expansions.iter_mut().filter(|e| e.ended.is_none()) {
                    e.ended = Some((false, format!("the run halted ({reason})")));
                }
                self.incidents.push((
                    ts,
                    Incident::Halt {
                        by: by.clone(),
                        reason: reason.clone(),
                    },
                ));
                self.halt.get_or_insert(HaltView {
                    ts,
                    by: by.clone(),
                    reason: reason.clone(),
                    finished: None,
                });
            }
            Event::RollbackFinished {
                all_verified,
                faults,
                since_halt_ms,
            } => {
                if let Some(ms) = since_halt_ms {
                    self.incidents.push((
                        ts,
                        Incident::RollbackFinished {
                            all_verified: *all_verified,
                            faults: *faults,
                            since_halt_ms: *ms,
                        },
                    ));
                    self.key_times
                        .halt_to_verified
                        .get_or_insert((*ms, *all_verified));
                }
                if let Some(h) = &mut self.halt {
                    h.finished = Some((*all_verified, *faults, *since_halt_ms));
                }
            }
            Event::Verdict {
                verdict,
                exit_code,
                reason,
            } => {
                self.verdict = Some(VerdictView {
                    verdict: *verdict,
                    exit_code: *exit_code,
                    reason: reason.clone(),
                })
            }
            Event::CriterionResult {
                step,
                index,
                label,
                outcome,
                value,
                after_ms,
                reason,
                by,
            } => {
                let row = match self
                    .criteria
                    .iter()
                    .position(|c| c.step == *step && c.index == *index)
                {
                    Some(i) => &mut self.criteria[i],
                    None => {
                        self.criteria.push(CriterionRow {
                            step: *step,
                            index: *index,
                            label: label.clone(),
                            human: by.is_some(),
                            check_by: None,
                            outcome: None,
                            ts: None,
                            value: None,
                            after_ms: None,
                            reason: None,
                            by: None,
                        });
                        self.criteria.last_mut().expect("just pushed")
                    }
                };
                // The first decision stands (the engine journals one per criterion).
                if row.outcome.is_none() {
                    row.outcome = Some(*outcome);
                    row.ts = Some(ts);
                    row.value = *value;
                    row.after_ms = *after_ms;
                    row.reason = reason.clone();
                    row.by = by.clone();
                }
            }
            Event::StepResult {
                index,
                name,
                outcome,
                passed,
                failed,
                open,
            } => self.step_results.push(StepResultRow {
                index: *index,
                name: name.clone(),
                outcome: *outcome,
                passed: *passed,
                failed: *failed,
                open: *open,
                ts,
            }),
            Event::HostsSelected {
                step,
                fault,
                target,
                seed,
                size,
                candidates,
                chosen,
                budget,
            } => {
                let row = SelectionRow {
                    step: *step,
                    fault: fault.clone(),
                    target: target.clone(),
                    seed: *seed,
                    size: size.clone(),
                    candidates: candidates.len(),
                    chosen: chosen.clone(),
                    budget: *budget,
                    ts,
                };
                match self
                    .selections
                    .iter_mut()
                    .find(|r| r.step == *step && r.fault == *fault)
                {
                    Some(r) => *r = row,
                    None => self.selections.push(row),
                }
            }
            Event::SelectionRefused {
                hosts,
                budget,
                reason,
                ..
            } => {
                self.selection_refused = Some(format!(
                    "{hosts} host(s) at once against a blast radius of {budget}: {reason}"
                ));
            }
            Event::ExpansionRoundStarted {
                step,
                round,
                rounds,
                size,
                hosts,
                candidates,
            } => {
                if *round > 0 {
                    // A new round is judged afresh: the step's result will be this round's.
                    for c in self.criteria.iter_mut().filter(|c| c.step == *step) {
                        c.outcome = None;
                        c.ts = None;
                        c.value = None;
                        c.after_ms = None;
                        c.reason = None;
                        c.by = None;
                    }
                    self.step_results.retain(|r| r.index != *step);
                }
                // Detection is per round: name the round.
                if let Some(d) = self.impact.steps.last_mut()
                    && d.index == *step
                {
                    d.name = format!("{} (round {}: {size})", d.name, round.saturating_add(1));
                }
                let row = ExpansionRow {
                    step: *step,
                    round: *round,
                    rounds: *rounds,
                    size: size.clone(),
                    hosts: *hosts,
                    candidates: *candidates,
                    ended: None,
                };
                match self.expansions.iter_mut().find(|r| r.step == *step) {
                    Some(r) => *r = row,
                    None => self.expansions.push(row),
                }
            }
            Event::ExpansionRoundEnded {
                step,
                passed,
                expanding,
                reason,
                ..
            } => {
                if let Some(r) = self.expansions.iter_mut().find(|r| r.step == *step) {
                    r.ended = (!*expanding).then(|| (*passed, reason.clone()));
                }
            }
            Event::RunEnded => self.ended = true,
            Event::CtkActivity {
                phase,
                name,
                activity,
                provider,
                status,
                background,
                ms,
                output,
                error,
                tolerance_met,
                process: _,
            } => self.ctk.push(CtkRow {
                ts: env.ts,
                phase: *phase,
                name: name.clone(),
                activity: activity.clone(),
                provider: provider.clone(),
                status: status.clone(),
                background: *background,
                ms: *ms,
                output_status: output.get("status").and_then(serde_json::Value::as_i64),
                error: error.clone(),
                tolerance_met: *tolerance_met,
            }),
            Event::CtkStricter { what } => self.ctk_stricter.push(what.clone()),
        }
    }

    /// A metric reading; `value: None` (or non-finite) is no data.
    pub fn apply_sample(
        &mut self,
        ts: DateTime<Utc>,
        metric: &str,
        value: Option<f64>,
        error: Option<&str>,
    ) {
        let t = self.secs(ts).max(0.0);
        let m = match self.metrics.get_mut(metric) {
            Some(m) => m,
            None => self.metrics.entry(metric.to_string()).or_default(),
        };
        let value = value.filter(|v| v.is_finite());
        m.samples += 1;
        m.last = value;
        if m.last_error.as_deref() != error {
            m.last_error = error.map(str::to_string);
        }
        m.overview.push(t, value);
        self.impact.sample(ts, metric, value);
        match value {
            Some(v) => {
                m.min = Some(m.min.map_or(v, |x| x.min(v)));
                m.max = Some(m.max.map_or(v, |x| x.max(v)));
                if self.series_kept {
                    m.series.push(t, v);
                }
            }
            None => m.no_data += 1,
        }
    }

    /// Applies an edit to the note journaled as `seq` (the console applies one made after the run
    /// the same way, before it is journaled); the note keeps its time and place, its earlier text is
    /// kept in `edits`. Returns the text it replaced, or `None` when there is no such note standing.
    pub fn edit_note(
        &mut self,
        seq: u64,
        ts: DateTime<Utc>,
        role: &str,
        edit: Edited,
    ) -> Option<String> {
        let n = self.notes.iter_mut().find(|n| n.seq == seq)?;
        let before = std::mem::replace(&mut n.text, edit.text);
        n.edits.push(NoteRevision {
            ts,
            role: role.to_string(),
            before: before.clone(),
            after: n.text.clone(),
        });
        n.kind = edit.kind;
        n.owner = edit.owner;
        n.due = edit.due;
        Some(before)
    }

    /// Leaves the note or milestone journaled as `seq` out of every view; a retracted milestone
    /// no longer counts in the key times. Returns what was retracted, for the timeline.
    fn retract(&mut self, seq: u64) -> Option<String> {
        if let Some(i) = self.notes.iter().position(|n| n.seq == seq) {
            let n = self.notes.remove(i);
            return Some(format!("{}: {}", n.what(), n.text));
        }
        let i = self.milestones.iter().position(|m| m.seq == seq)?;
        let m = self.milestones.remove(i);
        self.key_times.detected = None;
        self.key_times.mitigated = None;
        self.key_times.early_milestones = 0;
        for m in &self.milestones {
            if m.counts {
                let slot = match m.kind {
                    MilestoneKind::Detected => &mut self.key_times.detected,
                    MilestoneKind::Mitigated => &mut self.key_times.mitigated,
                };
                slot.get_or_insert(m.ts);
            } else {
                self.key_times.early_milestones += 1;
            }
        }
        Some(format!("milestone: {}", describe::milestone_name(m.kind)))
    }

    /// The newest note or milestone still standing: what an undo retracts.
    pub fn last_retractable(&self) -> Option<(u64, String)> {
        let note = self
            .notes
            .last()
            .map(|n| (n.seq, format!("{} \"{}\"", n.what(), n.text)));
        let milestone = self.milestones.last().map(|m| {
            (
                m.seq,
                format!("milestone {}", describe::milestone_name(m.kind)),
            )
        });
        match (note, milestone) {
            (Some(n), Some(m)) => Some(if n.0 > m.0 { n } else { m }),
            (n, m) => n.or(m),
        }
    }

    fn set_fault(&mut self, fault: &str, host: &str, f: impl FnOnce(&mut FaultRow)) {
        let i = match self
            .faults
            .iter()
            .position(|r| r.fault == fault && r.host == host)
        {
            Some(i) => i,
            None => {
                self.faults.push(FaultRow::new(fault, host));
                self.faults.len() - 1
            }
        };
        let row = &mut self.faults[i];
        f(row);
        if row.host_name.is_none() {
            row.host_name = self.host_names.name(host).map(str::to_string);
        }
    }

    /// Fault windows for shading charts: (from, to) seconds since start; `to` is None while live
    /// (or never rolled back).
    pub fn fault_windows(&self) -> impl Iterator<Item = (f64, Option<f64>)> + '_ {
        self.faults.iter().filter_map(|r| {
            r.injected
                .map(|(a, _)| (self.secs(a), r.rolled_back.map(|d| self.secs(d))))
        })
    }

    /// Per step that ran: (step, when its faults went in, the first automated signal after that,
    /// the first human `detected` and `mitigated` milestones after that and before the next step
    /// started). A retracted milestone is no longer among `milestones`, so it never counts.
    pub fn detection(&self) -> Vec<DetectionRow> {
        let steps = &self.impact.steps;
        steps
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let until = steps.get(i + 1).map(|n| n.started);
                let first = |kind: MilestoneKind| {
                    let from = s.first_inject?;
                    self.milestones
                        .iter()
                        .filter(|m| m.kind == kind && m.ts >= from)
                        .filter(|m| until.is_none_or(|u| m.ts < u))
                        .map(|m| m.ts)
                        .min()
                };
                DetectionRow {
                    index: s.index,
                    name: s.name.clone(),
                    first_inject: s.first_inject,
                    automated: s.automated.clone(),
                    human: first(MilestoneKind::Detected),
                    mitigated: first(MilestoneKind::Mitigated),
                }
            })
            .collect()
    }

    /// The notes still standing, grouped by kind in [`NoteKind::ALL`] order (every kind, empty
    /// ones too), each group in journal order: the Review screen and the debrief's sections.
    pub fn notes_by_kind(&self) -> Vec<(NoteKind, Vec<&NoteRow>)> {
        NoteKind::ALL
            .iter()
            .map(|k| (*k, self.notes.iter().filter(|n| n.kind == *k).collect()))
            .collect()
    }

    /// The notes of one kind, in journal order.
    pub fn notes_of(&self, kind: NoteKind) -> impl Iterator<Item = &NoteRow> {
        self.notes.iter().filter(move |n| n.kind == kind)
    }

    /// The human checks no one has decided yet, of the steps that have started (the only ones
    /// the engine takes a tick for), in scenario order.
    pub fn open_checks(&self) -> impl Iterator<Item = &CriterionRow> {
        let started = self.impact.steps.iter().map(|s| s.index).max();
        self.criteria
            .iter()
            .filter(move |c| c.human && c.outcome.is_none() && started.is_some_and(|s| c.step <= s))
    }

    /// Human checks that were never ticked: still open, or closed as not checked at the end.
    pub fn unchecked(&self) -> impl Iterator<Item = &CriterionRow> {
        self.criteria
            .iter()
            .filter(|c| c.human && matches!(c.outcome, None | Some(CriterionOutcome::NotChecked)))
    }

    pub fn live_faults(&self) -> usize {
        self.faults.iter().filter(|f| f.state.live()).count()
    }

    /// Faults that may still be on their hosts (see [`FaultRow::unresolved`]).
    pub fn unresolved(&self) -> impl Iterator<Item = &FaultRow> {
        self.faults.iter().filter(|f| f.unresolved())
    }
}

#[cfg(test)]
mod tests;
