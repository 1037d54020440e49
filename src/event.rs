//! The run as a stream of events. Everything that happens in a game day is one [`Event`]; the journal
//! stores them as JSON Lines and every view (headless printer, TUI, debrief, replay) is a fold over them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::scenario::Scenario;

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

/// Where a rollback ended. Never assumed: `Verified` needs a passing verify command or, when the
/// fault has none, the undo's own exit status 0.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RollbackStatus {
    Verified,
    Failed,
    Unknown,
}

/// What one remote or local command did.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct CommandOutcome {
    /// Exit status; `None` when it is unknown (timeout, killed by a signal, link lost): never read as 0.
    pub exit: Option<i32>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stdout: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stderr: String,
    pub ms: u64,
    /// Why there is no exit status (timeout, connection lost, spawn failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl CommandOutcome {
    pub fn success(&self) -> bool {
        self.exit == Some(0)
    }

    /// One line for humans: `exit 0`, `exit 1: <stderr>`, `no exit status: timed out after 30s`.
    pub fn summary(&self) -> String {
        match (self.exit, &self.error) {
            (Some(code), _) => {
                let detail = first_line(&self.stderr).or_else(|| first_line(&self.stdout));
                match detail {
                    Some(d) if code != 0 => format!("exit {code}: {d}"),
                    _ => format!("exit {code}"),
                }
            }
            (None, Some(e)) => format!("no exit status: {e}"),
            (None, None) => "no exit status".to_string(),
        }
    }
}

fn first_line(s: &str) -> Option<&str> {
    s.lines().map(str::trim).find(|l| !l.is_empty())
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

/// A live fault at an instant, for a note's snapshot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LiveFault {
    pub fault: String,
    pub host: String,
    pub state: String,
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
    /// An abort rule began breaching; it trips `left_ms` from now unless a good sample arrives.
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
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        action: bool,
        /// Every metric's latest value at this instant (`null` = no data).
        metrics: BTreeMap<String, Option<f64>>,
        faults: Vec<LiveFault>,
    },
    Milestone {
        kind: MilestoneKind,
        role: String,
    },
    HaltRequested {
        by: String,
        reason: String,
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
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Held => 0,
            Verdict::Violated | Verdict::Aborted => 1,
            Verdict::ManualActionNeeded => 3,
        }
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
                | Event::RunEnded
        )
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
