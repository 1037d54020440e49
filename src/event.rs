//! The run as a stream of events. Everything that happens in a game day is one [`Event`]; the journal
//! stores them as JSON Lines and every view (headless printer, TUI, debrief, replay) is a fold over them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::fault::status::{LiveFault, RollbackStatus};
use crate::scenario::Scenario;
pub use crate::target::outcome::CommandOutcome;

/// One journal line: the event with its sequence number, UTC time and run id.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Envelope {
    pub seq: u64,
    #[serde(with = "ts_millis")]
    pub ts: DateTime<Utc>,
    pub run: String,
    #[serde(flatten)]
    pub event: Event,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Preflight,
    SteadyStateBefore,
    Steps,
    SteadyStateAfter,
    Rollback,
    Verdict,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MilestoneKind {
    Detected,
    Mitigated,
}

/// A metric reading as the rules see it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RuleCheck {
    pub rule: String,
    pub metric: String,
    pub value: Option<f64>,
    pub held: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// How a step's success criterion was decided.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CriterionOutcome {
    Passed,
    Failed,
    /// The run halted (or ended) before the criterion's window could decide it.
    Undecided,
    /// A human check no one ticked before the run ended: never counted as passed.
    NotChecked,
}

impl CriterionOutcome {
    pub fn label(self) -> &'static str {
        match self {
            CriterionOutcome::Passed => "passed",
            CriterionOutcome::Failed => "FAILED",
            CriterionOutcome::Undecided => "undecided",
            CriterionOutcome::NotChecked => "not checked",
        }
    }
}

/// A step's result from its success criteria.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    /// Every criterion passed.
    Passed,
    /// At least one criterion failed.
    Failed,
    /// None failed, but at least one is undecided or not checked.
    Undecided,
}

impl StepOutcome {
    pub fn label(self) -> &'static str {
        match self {
            StepOutcome::Passed => "PASSED",
            StepOutcome::Failed => "FAILED",
            StepOutcome::Undecided => "UNDECIDED",
        }
    }
}

/// What a note is, for the hot wash and the debrief's sections.
#[derive(
    Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash, Default,
)]
#[serde(rename_all = "snake_case")]
pub enum NoteKind {
    /// What someone saw (the default).
    #[default]
    Observation,
    /// Something to do after the game day: an owner and, optionally, a due date.
    ActionItem,
    WentWell,
    /// Went wrong, or could be improved.
    WentWrong,
    Question,
    /// The runbook was missing a step, wrong, or out of date.
    RunbookGap,
}

impl NoteKind {
    /// In the order the console's note box cycles them (`Tab`).
    pub const ALL: [NoteKind; 6] = [
        NoteKind::Observation,
        NoteKind::ActionItem,
        NoteKind::WentWell,
        NoteKind::WentWrong,
        NoteKind::Question,
        NoteKind::RunbookGap,
    ];

    pub fn label(self) -> &'static str {
        match self {
            NoteKind::Observation => "observation",
            NoteKind::ActionItem => "action item",
            NoteKind::WentWell => "went well",
            NoteKind::WentWrong => "went wrong",
            NoteKind::Question => "question",
            NoteKind::RunbookGap => "runbook gap",
        }
    }

    /// The next kind in [`NoteKind::ALL`], round.
    pub fn next(self) -> NoteKind {
        let i = NoteKind::ALL.iter().position(|k| *k == self).unwrap_or(0);
        NoteKind::ALL[(i + 1) % NoteKind::ALL.len()]
    }

    /// A journaled note's kind: `kind` when written, else (a journal from before kinds) an action
    /// item when `action` is set, an observation otherwise.
    pub fn of(kind: Option<NoteKind>, action: bool) -> NoteKind {
        kind.unwrap_or(if action {
            NoteKind::ActionItem
        } else {
            NoteKind::Observation
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        scenario: Box<Scenario>,
        gameday_version: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dry_run: Option<bool>,
    },
    PhaseStarted {
        phase: Phase,
    },
    PreflightCheck {
        check: String,
        ok: bool,
        detail: String,
    },
    /// Live preflight checks failed and the console asked to decide: the run waits for an
    /// override (with a reason) or a halt. Nothing has been touched.
    PreflightHeld {
        failures: Vec<String>,
    },
    /// Started despite failed live checks, by whom and why.
    PreflightOverridden {
        by: String,
        reason: String,
        failures: Vec<String>,
    },
    SteadyState {
        phase: Phase,
        held: bool,
        checks: Vec<RuleCheck>,
    },
    StepStarted {
        index: usize,
        name: String,
        duration_ms: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prompt: Option<String>,
    },
    StepEnded {
        index: usize,
        name: String,
        /// Ended early by an Advance command.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        advanced: bool,
    },
    /// Written and synced before the inject command is sent: enough to undo the fault by hand.
    FaultIntent {
        fault: String,
        kind: String,
        step: usize,
        target: String,
        host: String,
        inject: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        undo: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        verify: Option<String>,
        irreversible: bool,
        timeout_ms: u64,
    },
    FaultInjected {
        fault: String,
        host: String,
        ok: bool,
        outcome: CommandOutcome,
    },
    /// The fault was never put on the host, so nothing is rolled back for it (not by a halt, not
    /// by `recover`): its inject was refused by its precondition check before it changed anything
    /// (`outcome` is then the refusal), or a halt came before the inject was sent.
    FaultNotInjected {
        fault: String,
        host: String,
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        outcome: Option<CommandOutcome>,
    },
    /// The hosts a fault's `select:` chose (or a round of its step's `expand:`), journaled before
    /// any intent of the step: the fault goes to `chosen` only. Host addresses, sorted.
    HostsSelected {
        step: usize,
        fault: String,
        target: String,
        /// The seed of the random choice: the scenario's, or a fresh one drawn by the engine.
        seed: u64,
        /// The size as written (`1`, `10 %`).
        size: String,
        candidates: Vec<String>,
        chosen: Vec<String>,
        /// Hosts that may be faulted at once (`blast_radius`), when the scenario sets one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        budget: Option<usize>,
    },
    /// Step `step`'s selection would fault more hosts at once than the blast radius allows: nothing
    /// of the step was injected, and the run halts.
    SelectionRefused {
        step: usize,
        /// Hosts that would have been faulted at once (the step's and any still live).
        hosts: usize,
        budget: usize,
        reason: String,
    },
    /// A round of a step's progressive expansion (`expand:`) starts, after its hosts are selected:
    /// `hosts` of `candidates` (summed over the step's faults) at size `size`.
    ExpansionRoundStarted {
        step: usize,
        round: usize,
        rounds: usize,
        size: String,
        hosts: usize,
        candidates: usize,
    },
    /// A round ended (its faults verified back, its criteria decided): whether it passed, whether
    /// the step grows to the next size, and why it stops when it does not.
    ExpansionRoundEnded {
        step: usize,
        round: usize,
        size: String,
        passed: bool,
        expanding: bool,
        reason: String,
    },
    /// The dead-man lease was armed on the host before the inject: the host reverts the fault by
    /// itself `lease_ms` after the last renewal. `cancel` stops it (for `recover`).
    LeaseArmed {
        fault: String,
        host: String,
        ok: bool,
        lease_ms: u64,
        cancel: String,
        outcome: CommandOutcome,
    },
    LeaseRenewed {
        fault: String,
        host: String,
        ok: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// After a verified rollback the lease is cancelled so the host does not undo twice.
    LeaseCancelled {
        fault: String,
        host: String,
        ok: bool,
    },
    /// A metric reading. Compact on purpose: there are many of these.
    Sample {
        #[serde(rename = "m")]
        metric: String,
        #[serde(rename = "v", default, skip_serializing_if = "Option::is_none")]
        value: Option<f64>,
        #[serde(rename = "err", default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// An abort rule began breaching; it trips `left_ms` from now unless `clear_after` good samples
    /// in a row arrive first.
    RuleBreaching {
        rule: usize,
        label: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<f64>,
        left_ms: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    RuleCleared {
        rule: usize,
        label: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<f64>,
    },
    RuleTripped {
        rule: usize,
        label: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<f64>,
        breaching_ms: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    Note {
        role: String,
        text: String,
        /// Set for an action item (kept beside `kind` so that older readers still see one).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        action: bool,
        /// What the note is; journals from before kinds have none (see [`NoteKind::of`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kind: Option<NoteKind>,
        /// Who owns an action item.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<String>,
        /// When an action item is due, as typed (`YYYY-MM-DD`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        due: Option<String>,
        /// Every metric's latest value at this instant (`null` = no data).
        metrics: BTreeMap<String, Option<f64>>,
        faults: Vec<LiveFault>,
    },
    Milestone {
        kind: MilestoneKind,
        role: String,
    },
    /// Withdraws an earlier note or milestone (the record with journal sequence `retracts`): it stays in
    /// the journal, and every view leaves it out (a retracted milestone no longer counts).
    Retracted {
        retracts: u64,
        role: String,
    },
    /// Replaces what the note journaled as `edits` says (its text, kind, owner, due date), from the
    /// review. The note keeps its time and place; the original stays in the journal and every edit is
    /// listed in the debrief's appendix.
    NoteEdited {
        edits: u64,
        role: String,
        text: String,
        kind: NoteKind,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        owner: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        due: Option<String>,
    },
    /// What one notification (`notify:` in the scenario) did: delivered or not, after how many
    /// tries. `record` is the `seq` of the record it announced (0: none, e.g. a target that could
    /// not start). (Not `seq`: the envelope has that field.)
    Notified {
        to: String,
        record: u64,
        about: String,
        ok: bool,
        attempts: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    HaltRequested {
        by: String,
        reason: String,
    },
    /// One success criterion of step `step` (its `index` in the step's `success:` list) decided.
    /// The record's time is the moment it was decided.
    CriterionResult {
        step: usize,
        index: usize,
        label: String,
        outcome: CriterionOutcome,
        /// The evidence: the sample that passed it, the one that failed it, or the last one seen.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<f64>,
        /// From the start of the criterion's window (the step's start, or the moment its faults
        /// were all rolled back) to the decision.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after_ms: Option<u64>,
        /// Why, in words (no data, the run halted first, a person's reason).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// Who ticked a human check.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// A step's result, journaled once every criterion of the step is decided (at the step's end,
    /// after its recovery windows, or at the run's end for what is still open).
    StepResult {
        index: usize,
        name: String,
        outcome: StepOutcome,
        passed: usize,
        failed: usize,
        /// Undecided or not checked.
        open: usize,
    },
    RollbackStarted {
        fault: String,
        host: String,
    },
    RollbackResult {
        fault: String,
        host: String,
        status: RollbackStatus,
        /// How the status was decided: `verify`, `undo exit status`, or why it is unknown.
        how: String,
        attempts: u32,
        undo: CommandOutcome,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        verify: Option<CommandOutcome>,
        /// What to run by hand when the status is not VERIFIED.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        manual: Option<String>,
    },
    /// Halt → last rollback confirmed.
    RollbackFinished {
        all_verified: bool,
        faults: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since_halt_ms: Option<u64>,
    },
    Verdict {
        verdict: Verdict,
        exit_code: i32,
        reason: String,
    },
    RunEnded,
    /// A second seat joined the run through its seat socket (`gameday join`): `seat` is the
    /// number this run gave it; what it sends is journaled under `tag` (the `role` of its notes and
    /// milestones, the `by` of its halt), e.g. `scribe Lee (seat 1)`. `uid` and `pid` are the
    /// peer's, from the kernel (SO_PEERCRED).
    SeatJoined {
        seat: u32,
        tag: String,
        role: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        uid: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pid: Option<i32>,
        /// What the seat may send (`note`, `milestone`, `retract`, `edit`, `halt`); empty for an
        /// observer.
        may: Vec<String>,
    },
    /// A seat left (closed its connection, crashed, or was dropped); nothing else changes.
    SeatLeft {
        seat: u32,
        reason: String,
    },
    /// A connection to the seat socket was refused before it became a seat (another user's, or a
    /// malformed hello).
    SeatRefused {
        uid: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pid: Option<i32>,
        reason: String,
    },
    /// One Chaos Toolkit activity ran (`gameday run experiment.json`): a steady-state probe
    /// (`phase` steady_state_before / _after), a method activity (`steps`) or a rollback. `status`
    /// is chaostoolkit's: `succeeded` (it ran; a non-zero exit or an HTTP error status is still
    /// that) or `failed` (no result: timed out, could not connect, could not start).
    CtkActivity {
        phase: Phase,
        name: String,
        /// `action` or `probe`.
        activity: String,
        /// `process` or `http`.
        provider: String,
        status: String,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        background: bool,
        ms: u64,
        /// What the provider returned, as chaostoolkit shapes it: `{status, stdout, stderr}` or
        /// `{status, headers, body}`; null when it failed.
        output: serde_json::Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// Set for a probe with a tolerance.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tolerance_met: Option<bool>,
        /// A process activity's token: what it started carries `GAMEDAY_RUN=<run>/<token>` in its
        /// environment. Once this record is in, `recover` leaves those processes alone (a
        /// daemon an ended activity left in the background is meant to run on).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        process: Option<u64>,
    },
    /// Where gameday ran a Chaos Toolkit experiment more strictly than `chaos run` would, and how.
    CtkStricter {
        what: String,
    },
    /// A host key `--accept-new` added to known_hosts while the hosts were opened (before the
    /// journal started, so journaled right after `run_started`), or while `recover` opened them.
    HostKeyAccepted {
        /// The address dialled, `host:port`.
        host: String,
        key_type: String,
        /// `SHA256:…`, as `ssh-keygen -l` prints it.
        fingerprint: String,
        /// The known_hosts file written.
        known_hosts: String,
        /// What accepted it: `--accept-new` (the one way gameday trusts a key during a run).
        by: String,
    },
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Hypothesis held and every fault verified rolled back.
    Held,
    /// Steady state did not hold (before or after).
    Violated,
    /// Stopped early: abort rule, halt, max_duration, signal, failed preflight or inject.
    Aborted,
    /// A rollback failed or is unknown: manual action needed.
    ManualActionNeeded,
}

impl Verdict {
    /// The process exit code of a run with this verdict ([`crate::exit`]).
    pub fn exit_code(self) -> i32 {
        i32::from(match self {
            Verdict::Held => crate::exit::HELD,
            Verdict::Violated | Verdict::Aborted => crate::exit::ABORTED,
            Verdict::ManualActionNeeded => crate::exit::MANUAL,
        })
    }

    pub fn label(self) -> &'static str {
        match self {
            Verdict::Held => "HYPOTHESIS HELD",
            Verdict::Violated => "HYPOTHESIS VIOLATED",
            Verdict::Aborted => "ABORTED",
            Verdict::ManualActionNeeded => "MANUAL ACTION NEEDED",
        }
    }
}

impl Event {
    /// Events that must be on disk before the run goes on: a crash after them must not lose them.
    /// A safety record that may share one fsync with others finished in the same turn of the
    /// engine (group commit, [`crate::journal::JournalWriter::group_sync`]): nothing is sent to a
    /// host on the strength of it being on disk. A crash before its sync loses at most results:
    /// `recover` then rolls those faults back again (undo is idempotent, and verified).
    pub fn shares_sync(&self) -> bool {
        matches!(
            self,
            Event::RollbackResult { .. } | Event::CriterionResult { .. } | Event::StepResult { .. }
        )
    }

    pub fn is_safety_record(&self) -> bool {
        matches!(
            self,
            Event::RunStarted { .. }
                | Event::FaultIntent { .. }
                | Event::FaultInjected { .. }
                | Event::FaultNotInjected { .. }
                | Event::LeaseArmed { .. }
                | Event::HaltRequested { .. }
                | Event::PreflightOverridden { .. }
                | Event::RollbackResult { .. }
                | Event::RollbackFinished { .. }
                | Event::Verdict { .. }
                | Event::CriterionResult { .. }
                | Event::StepResult { .. }
                | Event::HostsSelected { .. }
                | Event::SelectionRefused { .. }
                | Event::RunEnded
                | Event::CtkActivity {
                    phase: Phase::Rollback,
                    ..
                }
        )
    }
}

impl From<crate::target::known_hosts::AcceptedKey> for Event {
    fn from(k: crate::target::known_hosts::AcceptedKey) -> Event {
        Event::HostKeyAccepted {
            host: k.host,
            key_type: k.key_type,
            fingerprint: k.fingerprint,
            known_hosts: k.known_hosts.display().to_string(),
            by: "--accept-new".into(),
        }
    }
}

/// RFC 3339 with milliseconds, UTC (`2026-11-23T20:21:00.123Z`).
pub mod ts_millis {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ts: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&ts.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

/// Hostile instances of every [`Event`] variant, for round-trip tests of the journal.
#[cfg(test)]
pub(crate) mod hostile {
    use std::collections::BTreeMap;
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;
    use crate::scenario::{
        Condition, Fault, FaultSpec, HostAddr, Metric, NoData, Reduce, Rule, RuleKind, RunbookRef,
        Source, Step, Target, Transport,
    };

    /// Quotes, backslashes, every ASCII control character, line separators, non-ASCII and JSON
    /// look-alikes: everything that must be escaped or that a line-based reader could trip on.
    pub fn text(tag: &str) -> String {
        let controls: String = (0u8..0x20).map(char::from).collect();
        format!(
            "{tag} \"quoted\" \\back\\slash {controls}\u{7f}\u{2028}\u{2029} é 日本 🦀 {{\"seq\":1}}\n"
        )
    }

    /// [`text`] with a 1 MB tail.
    pub fn long(tag: &str) -> String {
        text(tag) + &"\"\n\\".repeat(350_000)
    }

    /// The f64s a metric source can hand over: non-finite ones and the extremes of the finite ones.
    pub const NUMBERS: [f64; 9] = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MAX,
        f64::MIN,
        f64::MIN_POSITIVE,
        5e-324,
        -0.0,
        0.1,
    ];

    fn outcome(tag: &str) -> CommandOutcome {
        CommandOutcome {
            exit: Some(i32::MIN),
            stdout: long(&format!("{tag} stdout")),
            stderr: text(&format!("{tag} stderr")),
            ms: u64::MAX,
            error: Some(text(&format!("{tag} error"))),
        }
    }

    /// A scenario with hostile strings everywhere and the largest numbers its types hold. Its plain
    /// f64 thresholds are finite: a non-finite one cannot be journaled (see the journal's tests).
    pub fn scenario() -> Scenario {
        let long = Duration::from_millis(u64::MAX);
        let host = HostAddr {
            name: Some(text("name")),
            tags: [(text("tag"), text("value"))].into_iter().collect(),
            ..HostAddr::new(text("host"), u16::MAX)
        };
        let rule = |kind, condition| Rule {
            kind,
            label: text("rule"),
            metric: text("metric name"),
            condition,
            sustained: long,
            no_data: NoData::Ignore,
            clear_after: u32::MAX,
        };
        let fault = |id: &str, spec| Fault {
            id: text(id),
            target: text("target"),
            spec,
            irreversible: true,
            lease: long,
            timeout: long,
            select: Some(crate::scenario::Selection {
                size: crate::scenario::Size::Percent(f64::MIN_POSITIVE),
                tags: [(text("tag"), text("value"))].into_iter().collect(),
                exclude: vec![text("exclude")],
                seed: Some(u64::MAX),
            }),
        };
        Scenario {
            file: PathBuf::from(text("file")),
            sha256: text("sha"),
            title: text("title"),
            description: Some(text("description")),
            hypothesis: text("hypothesis"),
            runbook: Some(RunbookRef {
                link: text("link"),
                path: PathBuf::from(text("path")),
                anchor: Some(text("anchor")),
            }),
            roles: BTreeMap::from([(text("role key"), vec![text("role"), String::new()])]),
            recovery_watch: long,
            max_duration: long,
            checklist: vec![text("check"), String::new()],
            targets: BTreeMap::from([
                (
                    text("local"),
                    Target {
                        name: text("local"),
                        transport: Transport::Local,
                    },
                ),
                (
                    text("ssh"),
                    Target {
                        name: text("ssh"),
                        transport: Transport::Ssh {
                            hosts: vec![host],
                            user: Some(text("user")),
                            sudo: true,
                            identity: Some(PathBuf::from(text("identity"))),
                        },
                    },
                ),
            ]),
            metrics: BTreeMap::from([
                (
                    text("command"),
                    Metric {
                        name: text("command"),
                        source: Source::Command {
                            command: text("command"),
                            target: text("target"),
                        },
                        every: long,
                        timeout: long,
                        unit: Some(text("unit")),
                    },
                ),
                (
                    text("prometheus"),
                    Metric {
                        name: text("prometheus"),
                        source: Source::Prometheus {
                            query: text("query"),
                            server: text("server"),
                            reduce: Some(Reduce::Avg),
                            bearer_token_env: Some(text("bearer")),
                            basic_auth_env: Some(text("basic")),
                        },
                        every: long,
                        timeout: long,
                        unit: None,
                    },
                ),
                (
                    text("scrape"),
                    Metric {
                        name: text("scrape"),
                        source: Source::Scrape {
                            url: text("url"),
                            series: text("series"),
                            rate: true,
                            quantile: Some(f64::MIN_POSITIVE),
                        },
                        every: long,
                        timeout: long,
                        unit: None,
                    },
                ),
                (
                    text("http"),
                    Metric {
                        name: text("http"),
                        source: Source::Http {
                            url: text("url"),
                            expect_status: u16::MAX,
                            expect_body: Some(text("body")),
                        },
                        every: long,
                        timeout: long,
                        unit: None,
                    },
                ),
            ]),
            steady_state: vec![
                rule(
                    RuleKind::SteadyState,
                    Condition::Between(f64::MIN, f64::MAX),
                ),
                rule(RuleKind::SteadyState, Condition::Below(5e-324)),
            ],
            abort: vec![rule(RuleKind::Abort, Condition::Above(-0.1))],
            blast_radius: Some(crate::scenario::BlastRadius {
                max_hosts: Some(u32::MAX),
                max_percent: Some(f64::MAX),
            }),
            steps: vec![Step {
                name: text("step"),
                duration: long,
                prompt: Some(text("prompt")),
                runbook: None,
                expect: Some(text("expect")),
                halt_on_failure: true,
                expand: vec![
                    crate::scenario::Size::Count(u32::MAX),
                    crate::scenario::Size::Percent(f64::MAX),
                ],
                success: vec![
                    crate::scenario::Criterion {
                        label: text("criterion"),
                        test: crate::scenario::Test::Metric {
                            metric: text("metric"),
                            condition: Condition::Between(f64::MIN, f64::MAX),
                            window: crate::scenario::Window::AfterRollback { ms: long },
                        },
                    },
                    crate::scenario::Criterion {
                        label: text("check"),
                        test: crate::scenario::Test::Check {
                            by: Some(text("by")),
                        },
                    },
                ],
                faults: vec![
                    fault(
                        "command",
                        FaultSpec::Command {
                            inject: text("inject"),
                            rollback: Some(text("rollback")),
                            verify: Some(text("verify")),
                        },
                    ),
                    fault(
                        "latency",
                        FaultSpec::Latency {
                            interface: text("if"),
                            delay_ms: u64::MAX,
                            jitter_ms: u64::MAX,
                        },
                    ),
                    fault(
                        "loss",
                        FaultSpec::Loss {
                            interface: text("if"),
                            percent: f64::MAX,
                        },
                    ),
                    fault("partition", FaultSpec::Partition { peer: text("peer") }),
                    fault(
                        "kill",
                        FaultSpec::Kill {
                            process: Some(text("process")),
                            pid_file: Some(text("pid file")),
                            signal: text("signal"),
                            restart: Some(text("restart")),
                        },
                    ),
                    fault(
                        "stop",
                        FaultSpec::StopService {
                            service: text("service"),
                        },
                    ),
                    fault(
                        "cpu",
                        FaultSpec::Cpu {
                            workers: u32::MAX,
                            duration_s: u64::MAX,
                        },
                    ),
                    fault(
                        "memory",
                        FaultSpec::Memory {
                            bytes: u64::MAX,
                            duration_s: u64::MAX,
                        },
                    ),
                    fault(
                        "disk",
                        FaultSpec::DiskFill {
                            path: text("path"),
                            bytes: u64::MAX,
                            keep_free_bytes: u64::MAX,
                        },
                    ),
                ],
            }],
            notify: vec![
                crate::scenario::Notify {
                    to: crate::scenario::NotifyTo::Webhook {
                        url: Some(text("http://127.0.0.1:1/hook")),
                        url_env: None,
                        format: crate::scenario::WebhookFormat::Slack,
                        token_env: Some(text("TOKEN")),
                    },
                    on: crate::scenario::NotifyOn::ALL.to_vec(),
                },
                crate::scenario::Notify {
                    to: crate::scenario::NotifyTo::Grafana {
                        url: text("https://grafana"),
                        token_env: text("GRAFANA_TOKEN"),
                        dashboard_uid: Some(text("uid")),
                        tags: vec![text("tag"), String::new()],
                    },
                    on: vec![],
                },
            ],
        }
    }

    /// Which variant an event is, as an index below [`VARIANTS`]. The match is exhaustive, so a new
    /// variant fails to compile here until it gets an index (and then an instance in [`events`]).
    pub fn variant(e: &Event) -> usize {
        match e {
            Event::RunStarted { .. } => 0,
            Event::PhaseStarted { .. } => 1,
            Event::PreflightCheck { .. } => 2,
            Event::PreflightHeld { .. } => 3,
            Event::PreflightOverridden { .. } => 4,
            Event::SteadyState { .. } => 5,
            Event::StepStarted { .. } => 6,
            Event::StepEnded { .. } => 7,
            Event::FaultIntent { .. } => 8,
            Event::FaultInjected { .. } => 9,
            Event::LeaseArmed { .. } => 10,
            Event::LeaseRenewed { .. } => 11,
            Event::LeaseCancelled { .. } => 12,
            Event::Sample { .. } => 13,
            Event::RuleBreaching { .. } => 14,
            Event::RuleCleared { .. } => 15,
            Event::RuleTripped { .. } => 16,
            Event::Note { .. } => 17,
            Event::Milestone { .. } => 18,
            Event::HaltRequested { .. } => 19,
            Event::RollbackStarted { .. } => 20,
            Event::RollbackResult { .. } => 21,
            Event::RollbackFinished { .. } => 22,
            Event::Verdict { .. } => 23,
            Event::RunEnded => 24,
            Event::FaultNotInjected { .. } => 25,
            Event::Retracted { .. } => 26,
            Event::CriterionResult { .. } => 27,
            Event::StepResult { .. } => 28,
            Event::NoteEdited { .. } => 29,
            Event::HostsSelected { .. } => 30,
            Event::SelectionRefused { .. } => 31,
            Event::ExpansionRoundStarted { .. } => 32,
            Event::ExpansionRoundEnded { .. } => 33,
            Event::Notified { .. } => 34,
            Event::SeatJoined { .. } => 35,
            Event::SeatLeft { .. } => 36,
            Event::SeatRefused { .. } => 37,
            Event::CtkActivity { .. } => 38,
            Event::CtkStricter { .. } => 39,
            Event::HostKeyAccepted { .. } => 40,
        }
    }

    pub const VARIANTS: usize = 41;

    /// At least one instance of every variant, with every non-finite and extreme f64 wherever an
    /// `Option<f64>` appears.
    pub fn events() -> Vec<Event> {
        let mut out = vec![
            Event::RunStarted {
                scenario: Box::new(scenario()),
                gameday_version: text("version"),
                dry_run: Some(true),
            },
            Event::PhaseStarted {
                phase: Phase::SteadyStateAfter,
            },
            Event::PreflightCheck {
                check: text("check"),
                ok: false,
                detail: text("detail"),
            },
            Event::PreflightHeld {
                failures: vec![text("failure"), String::new()],
            },
            Event::PreflightOverridden {
                by: text("by"),
                reason: text("reason"),
                failures: vec![text("failure")],
            },
            Event::StepStarted {
                index: usize::MAX,
                name: text("step"),
                duration_ms: u64::MAX,
                prompt: Some(text("prompt")),
            },
            Event::StepEnded {
                index: usize::MAX,
                name: text("step"),
                advanced: true,
            },
            Event::FaultIntent {
                fault: text("fault"),
                kind: text("kind"),
                step: usize::MAX,
                target: text("target"),
                host: text("host"),
                inject: text("inject"),
                undo: Some(text("undo")),
                verify: Some(text("verify")),
                irreversible: true,
                timeout_ms: u64::MAX,
            },
            Event::FaultInjected {
                fault: text("fault"),
                host: text("host"),
                ok: false,
                outcome: outcome("inject"),
            },
            Event::FaultNotInjected {
                fault: text("fault"),
                host: text("host"),
                reason: text("reason"),
                outcome: Some(outcome("refused")),
            },
            Event::LeaseArmed {
                fault: text("fault"),
                host: text("host"),
                ok: true,
                lease_ms: u64::MAX,
                cancel: text("cancel"),
                outcome: outcome("lease"),
            },
            Event::LeaseRenewed {
                fault: text("fault"),
                host: text("host"),
                ok: false,
                error: Some(text("error")),
            },
            Event::LeaseCancelled {
                fault: text("fault"),
                host: text("host"),
                ok: true,
            },
            Event::Note {
                role: text("role"),
                text: long("note"),
                action: true,
                kind: Some(NoteKind::ActionItem),
                owner: Some(text("owner")),
                due: Some(text("due")),
                metrics: NUMBERS
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (format!("{}{i}", text("m")), Some(*v)))
                    .chain([(String::new(), None)])
                    .collect(),
                faults: vec![LiveFault {
                    fault: text("fault"),
                    host: text("host"),
                    state: text("state"),
                }],
            },
            Event::Milestone {
                kind: MilestoneKind::Mitigated,
                role: text("role"),
            },
            Event::Retracted {
                retracts: u64::MAX,
                role: text("role"),
            },
            Event::NoteEdited {
                edits: u64::MAX,
                role: text("role"),
                text: long("edit"),
                kind: NoteKind::RunbookGap,
                owner: Some(text("owner")),
                due: Some(text("due")),
            },
            Event::Notified {
                to: text("to"),
                record: u64::MAX,
                about: text("about"),
                ok: false,
                attempts: u32::MAX,
                status: Some(u16::MAX),
                error: Some(long("error")),
            },
            Event::HostKeyAccepted {
                host: text("host"),
                key_type: text("key type"),
                fingerprint: text("SHA256:"),
                known_hosts: long("known_hosts"),
                by: text("--accept-new"),
            },
            Event::HaltRequested {
                by: text("by"),
                reason: text("reason"),
            },
            Event::CtkActivity {
                phase: Phase::Rollback,
                name: text("name"),
                activity: text("action"),
                provider: text("process"),
                status: text("succeeded"),
                background: true,
                ms: u64::MAX,
                output: serde_json::json!({
                    "status": i64::MIN,
                    "stdout": long("stdout"),
                    "body": {"nested": [1.5, null, true, text("x")]},
                }),
                error: Some(long("error")),
                tolerance_met: Some(false),
                process: Some(u64::MAX),
            },
            Event::CtkStricter { what: long("what") },
            Event::StepResult {
                index: usize::MAX,
                name: text("step"),
                outcome: StepOutcome::Undecided,
                passed: usize::MAX,
                failed: 0,
                open: usize::MAX,
            },
            Event::RollbackStarted {
                fault: text("fault"),
                host: text("host"),
            },
            Event::RollbackResult {
                fault: text("fault"),
                host: text("host"),
                status: RollbackStatus::Unknown,
                how: text("how"),
                attempts: u32::MAX,
                undo: outcome("undo"),
                verify: Some(outcome("verify")),
                manual: Some(text("manual")),
            },
            Event::RollbackFinished {
                all_verified: false,
                faults: usize::MAX,
                since_halt_ms: Some(u64::MAX),
            },
            Event::Verdict {
                verdict: Verdict::ManualActionNeeded,
                exit_code: i32::MIN,
                reason: text("reason"),
            },
            Event::HostsSelected {
                step: usize::MAX,
                fault: text("fault"),
                target: text("target"),
                seed: u64::MAX,
                size: text("size"),
                candidates: vec![text("candidate"), String::new()],
                chosen: vec![text("chosen")],
                budget: Some(usize::MAX),
            },
            Event::SelectionRefused {
                step: usize::MAX,
                hosts: usize::MAX,
                budget: 0,
                reason: text("reason"),
            },
            Event::ExpansionRoundStarted {
                step: usize::MAX,
                round: usize::MAX,
                rounds: usize::MAX,
                size: text("size"),
                hosts: usize::MAX,
                candidates: 0,
            },
            Event::ExpansionRoundEnded {
                step: usize::MAX,
                round: usize::MAX,
                size: text("size"),
                passed: true,
                expanding: false,
                reason: long("reason"),
            },
            Event::SeatJoined {
                seat: u32::MAX,
                tag: text("tag"),
                role: text("role"),
                name: Some(text("name")),
                uid: u32::MAX,
                pid: Some(i32::MIN),
                may: vec![text("may"), String::new()],
            },
            Event::SeatLeft {
                seat: 0,
                reason: long("reason"),
            },
            Event::SeatRefused {
                uid: u32::MAX,
                pid: None,
                reason: text("reason"),
            },
            Event::RunEnded,
        ];
        for v in NUMBERS.iter().copied().map(Some).chain([None]) {
            let check = RuleCheck {
                rule: text("rule"),
                metric: text("metric"),
                value: v,
                held: false,
                reason: Some(text("reason")),
            };
            out.extend([
                Event::SteadyState {
                    phase: Phase::SteadyStateBefore,
                    held: false,
                    checks: vec![check],
                },
                Event::Sample {
                    metric: text("metric"),
                    value: v,
                    error: Some(text("sample error")),
                },
                Event::RuleBreaching {
                    rule: usize::MAX,
                    label: text("label"),
                    value: v,
                    left_ms: u64::MAX,
                    reason: Some(text("reason")),
                },
                Event::RuleCleared {
                    rule: usize::MAX,
                    label: text("label"),
                    value: v,
                },
                Event::CriterionResult {
                    step: usize::MAX,
                    index: usize::MAX,
                    label: text("criterion"),
                    outcome: CriterionOutcome::NotChecked,
                    value: v,
                    after_ms: Some(u64::MAX),
                    reason: Some(text("reason")),
                    by: Some(text("by")),
                },
                Event::RuleTripped {
                    rule: usize::MAX,
                    label: text("label"),
                    value: v,
                    breaching_ms: u64::MAX,
                    reason: Some(text("reason")),
                },
            ]);
        }
        out
    }

    /// What the journal may make of an event: a non-finite `Option<f64>` (JSON has no NaN or
    /// infinity) reads back as no value. Nothing else may change.
    pub fn as_journaled(mut e: Event) -> Event {
        let fix = |v: &mut Option<f64>| {
            if v.is_some_and(|x| !x.is_finite()) {
                *v = None;
            }
        };
        match &mut e {
            Event::Sample { value, .. }
            | Event::RuleBreaching { value, .. }
            | Event::RuleCleared { value, .. }
            | Event::CriterionResult { value, .. }
            | Event::RuleTripped { value, .. } => fix(value),
            Event::SteadyState { checks, .. } => checks.iter_mut().for_each(|c| fix(&mut c.value)),
            Event::Note { metrics, .. } => metrics.values_mut().for_each(fix),
            _ => {}
        }
        e
    }

    #[test]
    fn every_variant_has_a_hostile_instance() {
        let mut seen = [false; VARIANTS];
        for e in events() {
            seen[variant(&e)] = true;
        }
        let missing: Vec<usize> = (0..VARIANTS).filter(|i| !seen[*i]).collect();
        assert!(
            missing.is_empty(),
            "variants without an instance: {missing:?}"
        );
    }
}
