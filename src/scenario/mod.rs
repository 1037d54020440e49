//! Scenarios: the YAML model, its validation, and the immutable [`Scenario`] the engine runs.
//!
//! Parsing keeps every node's line and column so that each problem is reported as
//! `FILE:LINE:COLUMN: message`, all of them at once, before anything is touched.

pub mod ctk;
pub mod duration;
mod faults;
pub mod inventory;
pub mod limits;
mod notify;
pub mod plan;
pub mod prom;
pub mod select;
mod spec;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_saphyr::{Location, Spanned};
use sha2::{Digest, Sha256};

pub use duration::HumanDuration;
pub use notify::{Notify, NotifyOn, NotifyTo, WebhookFormat};
pub use select::{BlastRadius, Selection, Size};
use spec::{CriterionSpec, MetricSpec, PeopleSpec, RuleSpec, ScenarioSpec, TargetSpec};
pub use spec::{NoDataSpec as NoData, Reduce};

/// Default poll interval of a metric source.
pub const DEFAULT_EVERY: Duration = Duration::from_secs(5);
/// Default time limit for one metric poll.
pub const DEFAULT_METRIC_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time limit for one inject, undo or verify command.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// Default dead-man lease on a host.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);
/// Default `recovery_watch`: sampling after a halt (capped at `max_duration`).
pub const DEFAULT_RECOVERY_WATCH: Duration = Duration::from_secs(60);

/// The fault kinds a scenario may name. `command` runs user-written inject/rollback lines.
pub const FAULT_KINDS: &[&str] = &[
    "command",
    "latency",
    "loss",
    "partition",
    "kill",
    "stop_service",
    "cpu",
    "memory",
    "disk_fill",
];

/// One problem found in a scenario file, pointing at where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: u64,
    pub column: u64,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

/// Every problem found in one file; the file is invalid when this is non-empty.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct Invalid(pub Vec<Diagnostic>);

/// A validated scenario. Immutable once built; the engine only reads it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Scenario {
    pub file: PathBuf,
    pub sha256: String,
    pub title: String,
    pub description: Option<String>,
    pub hypothesis: String,
    pub runbook: Option<RunbookRef>,
    /// Role → the people in it (`scribe: Lee` is one, `observers: [Ana, Raj]` several). Journals
    /// written before lists were allowed hold a plain name per role, which reads as one.
    #[serde(deserialize_with = "people_map")]
    pub roles: BTreeMap<String, Vec<String>>,
    #[serde(with = "duration_ms")]
    pub max_duration: Duration,
    /// After a halt, sampling goes on this long (after the verdict is journaled) so the debrief
    /// shows whether the system came back. Zero: no watch (and journals written before the field).
    #[serde(default, with = "duration_ms")]
    pub recovery_watch: Duration,
    pub checklist: Vec<String>,
    pub targets: BTreeMap<String, Target>,
    pub metrics: BTreeMap<String, Metric>,
    pub steady_state: Vec<Rule>,
    pub abort: Vec<Rule>,
    pub steps: Vec<Step>,
    /// Where the run's moments are announced (webhooks, Grafana); absent in older journals.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<Notify>,
    /// The most hosts faulted at once across the run (`blast_radius:`); absent in older journals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blast_radius: Option<BlastRadius>,
}

/// A runbook path resolved on disk, plus the `#anchor` the link points at.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunbookRef {
    /// As written in the scenario.
    pub link: String,
    /// Resolved file.
    pub path: PathBuf,
    pub anchor: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Target {
    pub name: String,
    pub transport: Transport,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Transport {
    Local,
    Ssh {
        hosts: Vec<HostAddr>,
        user: Option<String>,
        sudo: bool,
        identity: Option<PathBuf>,
    },
}

/// Where a host is reached. Its identity (equality, order, hash, [`fmt::Display`], the `host` of
/// every journaled event, what a rollback goes to) is the address alone; `name` is only how people
/// know it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostAddr {
    pub host: String,
    pub port: u16,
    /// The name the scenario wrote, when the address was rewritten after loading (the demo lab
    /// points `shop-1` at `127.0.0.1:45271`). Journaled with the scenario; absent in older journals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Labels a fault's `select: { tags: … }` chooses by (an inventory's host and group variables).
    /// Not part of the identity. Absent in older journals.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// The login user an inventory gives this host (`ansible_user`); the target's `user` wins.
    /// Not part of the identity. Absent in older journals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

impl HostAddr {
    pub fn new(host: impl Into<String>, port: u16) -> HostAddr {
        HostAddr {
            host: host.into(),
            port,
            name: None,
            tags: BTreeMap::new(),
            user: None,
        }
    }

    /// How people know this host: the name the scenario wrote, else the address.
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.to_string())
    }

    fn key(&self) -> (&str, u16) {
        (&self.host, self.port)
    }
}

impl PartialEq for HostAddr {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for HostAddr {}

impl PartialOrd for HostAddr {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for HostAddr {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl std::hash::Hash for HostAddr {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

impl fmt::Display for HostAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.port == 22 {
            f.write_str(&self.host)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Metric {
    pub name: String,
    pub source: Source,
    #[serde(with = "duration_ms")]
    pub every: Duration,
    #[serde(with = "duration_ms")]
    pub timeout: Duration,
    pub unit: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// Runs `command` on the target's first host; the value is the number it prints.
    Command { command: String, target: String },
    Prometheus {
        query: String,
        server: String,
        reduce: Option<Reduce>,
        bearer_token_env: Option<String>,
        basic_auth_env: Option<String>,
    },
    Scrape {
        url: String,
        series: String,
        rate: bool,
        quantile: Option<f64>,
    },
    Http {
        url: String,
        expect_status: u16,
        expect_body: Option<String>,
    },
}

/// `steady_state` rules say what must hold; `abort` rules say what stops the run.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    SteadyState,
    Abort,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    Above(f64),
    Below(f64),
    Between(f64, f64),
}

impl Condition {
    /// Whether `value` satisfies the condition as written (`above: 5` matches 6).
    pub fn matches(&self, value: f64) -> bool {
        match *self {
            Condition::Above(t) => value > t,
            Condition::Below(t) => value < t,
            Condition::Between(lo, hi) => value >= lo && value <= hi,
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Condition::Above(t) => write!(f, "> {t}"),
            Condition::Below(t) => write!(f, "< {t}"),
            Condition::Between(lo, hi) => write!(f, "in [{lo}, {hi}]"),
        }
    }
}

/// Consecutive good samples that clear an abort rule's breach, unless the rule says otherwise.
pub const DEFAULT_CLEAR_AFTER: u32 = 2;
/// Bounds of `clear_after`.
pub const CLEAR_AFTER_RANGE: std::ops::RangeInclusive<u32> = 1..=100;

fn default_clear_after() -> u32 {
    DEFAULT_CLEAR_AFTER
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Rule {
    pub kind: RuleKind,
    pub label: String,
    pub metric: String,
    pub condition: Condition,
    /// How long a breach must last before the rule trips. Zero trips on the first breaching sample.
    #[serde(with = "duration_ms")]
    pub sustained: Duration,
    pub no_data: NoData,
    /// Consecutive good samples that clear a breach; fewer leave the window running from the
    /// breach's start. Journals written before the field existed read as the default.
    #[serde(default = "default_clear_after")]
    pub clear_after: u32,
}

impl Rule {
    /// Whether one reading is a breach of this rule. `None` is no data.
    pub fn breached_by(&self, value: Option<f64>) -> bool {
        match value {
            None => self.no_data == NoData::Breach,
            // ±inf is no more a reading than NaN: it would pass any `below:` abort rule.
            Some(v) if !v.is_finite() => self.no_data == NoData::Breach,
            Some(v) => match self.kind {
                RuleKind::SteadyState => !self.condition.matches(v),
                RuleKind::Abort => self.condition.matches(v),
            },
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Step {
    pub name: String,
    #[serde(with = "duration_ms")]
    pub duration: Duration,
    pub prompt: Option<String>,
    pub runbook: Option<RunbookRef>,
    pub faults: Vec<Fault>,
    /// What the step should show, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<String>,
    /// A failed success criterion of this step halts the run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub halt_on_failure: bool,
    /// What proves the step: each decided by the engine (metrics) or ticked by a person (checks).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub success: Vec<Criterion>,
    /// Progressive expansion: the step runs once per size (a count or a percent of each fault's
    /// candidates), growing while every criterion passes. Empty: the step runs once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expand: Vec<Size>,
}

impl Step {
    /// How many times the step may run: once per `expand:` size, else once.
    pub fn rounds(&self) -> usize {
        self.expand.len().max(1)
    }

    /// The step's duration times its rounds: what it may take of `max_duration`.
    pub fn planned(&self) -> Duration {
        self.duration
            .saturating_mul(u32::try_from(self.rounds()).unwrap_or(u32::MAX))
    }
}

/// One success criterion of a step.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Criterion {
    /// For the journal, the console and the debrief (the check's text for a human check).
    pub label: String,
    pub test: Test,
}

/// How a criterion is decided.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Test {
    /// A metric condition over a window, decided by the engine from the samples it journals.
    Metric {
        metric: String,
        condition: Condition,
        window: Window,
    },
    /// Ticked (passed or failed, with a reason) by a person; never decided by the engine.
    Check {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
}

/// The window a metric criterion is judged over.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Window {
    /// Every sample from the step's start to its end matches; a sample without data fails it.
    Throughout,
    /// A sample matches within `ms` of the step's start.
    Within {
        #[serde(with = "duration_ms")]
        ms: Duration,
    },
    /// A sample matches within `ms` of the moment the step's faults are all rolled back.
    AfterRollback {
        #[serde(with = "duration_ms")]
        ms: Duration,
    },
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Window::Throughout => f.write_str("throughout the step"),
            Window::Within { ms } => write!(f, "within {}", crate::fmt::duration(*ms)),
            Window::AfterRollback { ms } => {
                write!(f, "within {} after rollback", crate::fmt::duration(*ms))
            }
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Fault {
    pub id: String,
    pub target: String,
    pub spec: FaultSpec,
    pub irreversible: bool,
    #[serde(with = "duration_ms")]
    pub lease: Duration,
    #[serde(with = "duration_ms")]
    pub timeout: Duration,
    /// Which of the target's hosts it goes to; `None`: all of them. Absent in older journals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub select: Option<Selection>,
}

/// What a fault does, typed. Each kind turns into inject, undo and verify commands in `fault`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultSpec {
    Command {
        inject: String,
        rollback: Option<String>,
        verify: Option<String>,
    },
    /// `tc netem delay` on an interface.
    Latency {
        interface: String,
        delay_ms: u64,
        jitter_ms: u64,
    },
    /// `tc netem loss` on an interface.
    Loss { interface: String, percent: f64 },
    /// iptables DROP to and from a peer; the SSH management port stays open.
    Partition { peer: String },
    /// A signal to a process found by name or pid file; undone by `restart` when given.
    Kill {
        process: Option<String>,
        pid_file: Option<String>,
        signal: String,
        restart: Option<String>,
    },
    /// `systemctl stop`, undone by `systemctl start`.
    StopService { service: String },
    /// stress-ng CPU workers, with stress-ng's own timeout as a backstop.
    Cpu { workers: u32, duration_s: u64 },
    /// stress-ng memory hog.
    Memory { bytes: u64, duration_s: u64 },
    /// A marked file filling a filesystem, capped to leave `keep_free_bytes`.
    DiskFill {
        path: String,
        bytes: u64,
        keep_free_bytes: u64,
    },
}

impl FaultSpec {
    pub fn kind_name(&self) -> &'static str {
        match self {
            FaultSpec::Command { .. } => "command",
            FaultSpec::Latency { .. } => "latency",
            FaultSpec::Loss { .. } => "loss",
            FaultSpec::Partition { .. } => "partition",
            FaultSpec::Kill { .. } => "kill",
            FaultSpec::StopService { .. } => "stop_service",
            FaultSpec::Cpu { .. } => "cpu",
            FaultSpec::Memory { .. } => "memory",
            FaultSpec::DiskFill { .. } => "disk_fill",
        }
    }
}

impl Scenario {
    /// Reads, parses and validates a scenario file. Touches nothing but the file system reads.
    pub fn load(path: &Path) -> Result<Scenario, Invalid> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Invalid(vec![Diagnostic {
                file: path.to_path_buf(),
                line: 1,
                column: 1,
                message: format!("cannot read scenario: {e}"),
            }])
        })?;
        Scenario::parse(path, &text)
    }

    /// Parses and validates scenario text; `path` names it in diagnostics and anchors runbook links.
    pub fn parse(path: &Path, text: &str) -> Result<Scenario, Invalid> {
        let spec: ScenarioSpec = serde_saphyr::from_str(text).map_err(|e| yaml_error(path, &e))?;
        let mut v = Validator {
            file: path.to_path_buf(),
            diags: Vec::new(),
            at_once: Vec::new(),
        };
        let scenario = v.scenario(spec, text);
        if v.diags.is_empty() {
            Ok(scenario)
        } else {
            v.diags.sort_by_key(|d| (d.line, d.column));
            Err(Invalid(v.diags))
        }
    }

    /// Total planned time of all steps (every round of an expanding step).
    pub fn planned_duration(&self) -> Duration {
        sum_durations(self.steps.iter().map(Step::planned))
    }

    /// Every success criterion: (step index, criterion index, criterion).
    pub fn criteria(&self) -> impl Iterator<Item = (usize, usize, &Criterion)> {
        self.steps
            .iter()
            .enumerate()
            .flat_map(|(i, s)| s.success.iter().enumerate().map(move |(j, c)| (i, j, c)))
    }

    /// The seat a role or person sits in: `IC` (`IC`, `incident_commander`, or the person `roles`
    /// names so), `scribe`, `observer` (the role, `observers`, or a person named there); anyone
    /// else is `None`.
    pub fn seat_of(&self, who: &str) -> Option<&'static str> {
        let is = |a: &str, b: &str| a.trim().eq_ignore_ascii_case(b.trim());
        let holds = |role: &str| {
            self.roles
                .get(role)
                .is_some_and(|people| people.iter().any(|p| is(p, who)))
        };
        if [
            "IC",
            "incident_commander",
            "incident commander",
            "commander",
        ]
        .iter()
        .any(|r| is(r, who))
            || holds("incident_commander")
        {
            Some("IC")
        } else if is(who, "scribe") || holds("scribe") {
            Some("scribe")
        } else if is(who, "observer") || is(who, "observers") || holds("observers") {
            Some("observer")
        } else {
            None
        }
    }

    /// Whether `by` (a console seat, `IC` / `scribe` / `observer`, or a person the scenario's
    /// `roles` name) may tick a human check whose `by:` is `check_by`. Observers never tick.
    /// Without `by:`, the IC or the scribe may. A check `by` the scribe (the role or its person) is
    /// the scribe's; one by the IC, or by anyone else (another role or person, who reports to the
    /// IC), is the IC's.
    pub fn may_tick(&self, check_by: Option<&str>, by: &str) -> Result<(), String> {
        let seat = self.seat_of(by);
        if seat == Some("observer") {
            return Err("an observer cannot tick a check: switch role with o".into());
        }
        let owner = match check_by {
            None if seat.is_some() => return Ok(()),
            None => "IC or scribe",
            Some(b) if self.seat_of(b) == Some("scribe") => "scribe",
            Some(_) => "IC",
        };
        if seat == Some(owner) {
            return Ok(());
        }
        Err(match check_by {
            Some(b) => {
                format!("this check is ticked by {b}, in the {owner} seat: switch role with o")
            }
            None => format!("{by} is not a seat that ticks checks (the {owner} seat)"),
        })
    }

    /// Every fault with the step it belongs to.
    pub fn faults(&self) -> impl Iterator<Item = (usize, &Fault)> {
        self.steps
            .iter()
            .enumerate()
            .flat_map(|(i, s)| s.faults.iter().map(move |f| (i, f)))
    }

    /// The title, lowercased, safe for a directory name ([`slug`]).
    pub fn slug(&self) -> String {
        slug(&self.title)
    }
}

/// A title lowercased, runs of other characters as one `-`, at most 48 characters, safe for a
/// directory name (`run` when nothing is left): run and day directories.
pub fn slug(title: &str) -> String {
    let mut out = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-');
    let out: String = out.chars().take(48).collect();
    if out.is_empty() { "run".into() } else { out }
}

/// A sum that stops at `Duration::MAX`: `Iterator::sum` panics on overflow.
fn sum_durations(ds: impl Iterator<Item = Duration>) -> Duration {
    ds.fold(Duration::ZERO, Duration::saturating_add)
}

/// serde-saphyr appends " at line L, column C"; the location is printed in front instead.
/// A YAML file that does not parse into its form: one diagnostic at the parser's place.
fn yaml_error(path: &Path, e: &serde_saphyr::Error) -> Invalid {
    let (line, column) = e
        .location()
        .map(|l| (l.line().max(1), l.column().max(1)))
        .unwrap_or((1, 1));
    Invalid(vec![Diagnostic {
        file: path.to_path_buf(),
        line,
        column,
        message: plain_parse_message(&e.without_snippet().to_string()),
    }])
}

fn plain_parse_message(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) if msg[i..].contains(", column ") => msg[..i].to_string(),
        _ => msg.to_string(),
    }
}

struct Validator {
    file: PathBuf,
    diags: Vec<Diagnostic>,
    /// Hosts each fault faults at once, for the blast-radius check.
    at_once: Vec<select::AtOnce>,
}

impl Validator {
    fn err(&mut self, at: &Location, message: impl Into<String>) {
        self.diags.push(Diagnostic {
            file: self.file.clone(),
            line: at.line().max(1),
            column: at.column().max(1),
            message: message.into(),
        });
    }

    fn scenario(&mut self, spec: ScenarioSpec, text: &str) -> Scenario {
        let sha256 = data_encoding::HEXLOWER.encode(&Sha256::digest(text.as_bytes()));
        if spec.title.value.trim().is_empty() {
            self.err(&spec.title.referenced, "title must not be empty");
        }
        if spec.hypothesis.value.trim().is_empty() {
            self.err(
                &spec.hypothesis.referenced,
                "hypothesis must not be empty: say what you expect to stay true",
            );
        }
        let max_duration = spec.max_duration.value.0;
        self.duration_within(
            "max_duration",
            &spec.max_duration,
            Duration::ZERO,
            limits::MAX_RUN,
            false,
        );
        let runbook = spec.runbook.as_ref().and_then(|r| self.runbook(r));

        let mut targets = BTreeMap::new();
        for (name, t) in &spec.targets {
            if let Some(target) = self.target(name, t) {
                targets.insert(name.clone(), target);
            }
        }

        let prometheus = spec.prometheus.as_ref().map(|p| {
            if !is_http_url(&p.value.url.value) {
                self.err(
                    &p.value.url.referenced,
                    format!(
                        "prometheus url `{}` must start with http:// or https://",
                        p.value.url.value
                    ),
                );
            } else {
                self.url_without_secrets(
                    "prometheus url",
                    &p.value.url.value,
                    &p.value.url.referenced,
                );
            }
            &p.value
        });

        let mut metrics = BTreeMap::new();
        for (name, m) in &spec.metrics {
            if let Some(metric) = self.metric(name, m, &spec.targets, prometheus) {
                metrics.insert(name.clone(), metric);
            }
        }

        let steady_state = spec
            .steady_state
            .iter()
            .filter_map(|r| self.rule(RuleKind::SteadyState, r, &spec.metrics))
            .collect();
        let abort = spec
            .abort
            .iter()
            .filter_map(|r| self.rule(RuleKind::Abort, r, &spec.metrics))
            .collect();
        // A window longer than the whole run could never trip: the rule would be dead weight.
        let window_max = max_duration.min(limits::MAX_SUSTAINED);
        for r in &spec.abort {
            if let Some(window) = &r.value.sustained {
                self.duration_within(
                    &format!("abort rule on `{}`: `for:`", r.value.metric.value),
                    window,
                    Duration::ZERO,
                    window_max,
                    true,
                );
            }
        }

        let mut steps = Vec::new();
        let mut fault_ids = BTreeSet::new();
        if spec.steps.value.is_empty() {
            self.err(&spec.steps.referenced, "steps must list at least one step");
        }
        for (i, s) in spec.steps.value.iter().enumerate() {
            let mut step = self.step(i, s, &spec.targets, &targets, &mut fault_ids, max_duration);
            if s.value.success.len() > limits::MAX_CRITERIA {
                self.err(
                    &s.referenced,
                    format!(
                        "step `{}`: at most {} success criteria, got {}",
                        step.name,
                        limits::MAX_CRITERIA,
                        s.value.success.len()
                    ),
                );
            }
            step.success = s
                .value
                .success
                .iter()
                .filter_map(|c| {
                    self.criterion(&step.name, step.duration, max_duration, c, &spec.metrics)
                })
                .collect();
            step.expect = s.value.expect.clone();
            step.halt_on_failure = s.value.halt_on_failure;
            steps.push(step);
        }
        // A recovery window after a step's rollback must end inside the run: it is judged before
        // the steady-state check after the last step, and max_duration halts the run.
        let mut elapsed = Duration::ZERO;
        for (s, spec_step) in steps.iter().zip(&spec.steps.value) {
            elapsed = elapsed.saturating_add(s.planned());
            for (c, cs) in s.success.iter().zip(&spec_step.value.success) {
                if let Test::Metric {
                    window: Window::AfterRollback { ms },
                    ..
                } = c.test
                    && elapsed.saturating_add(ms) > max_duration
                {
                    let at = cs
                        .value
                        .within
                        .as_ref()
                        .map_or(cs.referenced, |w| w.referenced);
                    self.err(
                        &at,
                        format!(
                            "step `{}`: a recovery window of {} after its rollback ends past max_duration {} (the steps up to it take {}); raise max_duration or shorten the window",
                            s.name,
                            crate::fmt::duration(ms),
                            crate::fmt::duration(max_duration),
                            crate::fmt::duration(elapsed)
                        ),
                    );
                }
            }
        }
        let recovery_watch = match &spec.recovery_watch {
            None => DEFAULT_RECOVERY_WATCH.min(max_duration),
            Some(w) => {
                self.duration_within(
                    "recovery_watch",
                    w,
                    Duration::ZERO,
                    limits::MAX_RECOVERY_WATCH.min(max_duration),
                    true,
                );
                w.value.0
            }
        };
        let blast_radius = spec
            .blast_radius
            .as_ref()
            .and_then(|b| self.blast_radius(b));
        if let Some(b) = &blast_radius {
            let step_at: Vec<(String, Location)> = spec
                .steps
                .value
                .iter()
                .map(|s| (s.value.name.value.clone(), s.referenced))
                .collect();
            let at_once = std::mem::take(&mut self.at_once);
            self.budget(b, &targets, &step_at, &at_once);
        }
        let roles = self.roles(&spec.roles);
        let notify = self.notify(&spec.notify);
        let total = sum_durations(steps.iter().map(Step::planned));
        if total > max_duration {
            self.err(
                &spec.max_duration.referenced,
                format!(
                    "steps add up to {} which is more than max_duration {}: raise max_duration or shorten the steps (every round of an expanding step counts)",
                    crate::fmt::duration(total),
                    crate::fmt::duration(max_duration)
                ),
            );
        }

        Scenario {
            file: self.file.clone(),
            sha256,
            title: spec.title.value.clone(),
            description: spec.description.clone(),
            hypothesis: spec.hypothesis.value.clone(),
            runbook,
            roles,
            max_duration,
            recovery_watch,
            checklist: spec.checklist.clone(),
            targets,
            metrics,
            steady_state,
            abort,
            steps,
            notify,
            blast_radius,
        }
    }

    fn roles(
        &mut self,
        roles: &BTreeMap<String, Spanned<PeopleSpec>>,
    ) -> BTreeMap<String, Vec<String>> {
        let mut out = BTreeMap::new();
        for (role, people) in roles {
            let names = match &people.value {
                PeopleSpec::One(n) => vec![n.clone()],
                PeopleSpec::Many(ns) => ns.clone(),
            };
            if names.len() > limits::MAX_PEOPLE {
                self.err(
                    &people.referenced,
                    format!(
                        "role `{role}`: at most {} people, got {}",
                        limits::MAX_PEOPLE,
                        names.len()
                    ),
                );
            }
            if names.iter().any(|n| n.trim().is_empty()) {
                self.err(
                    &people.referenced,
                    format!("role `{role}`: a name must not be empty"),
                );
            }
            out.insert(role.clone(), names);
        }
        out
    }

    /// One success criterion of step `step` (whose duration is `step_duration`).
    fn criterion(
        &mut self,
        step: &str,
        step_duration: Duration,
        max_duration: Duration,
        c: &Spanned<CriterionSpec>,
        metrics: &BTreeMap<String, Spanned<MetricSpec>>,
    ) -> Option<Criterion> {
        let spec = &c.value;
        let at = &c.referenced;
        let what = format!("step `{step}`: success criterion");
        let long = |t: &str| t.chars().count() > limits::MAX_CRITERION_TEXT;
        if spec.name.as_deref().is_some_and(long) {
            self.err(
                at,
                format!(
                    "{what}: `name` is longer than {} characters",
                    limits::MAX_CRITERION_TEXT
                ),
            );
            return None;
        }
        match (&spec.metric, &spec.check) {
            (Some(_), Some(_)) | (None, None) => {
                self.err(
                    at,
                    format!("{what} needs exactly one of `metric:` (decided from samples) or `check:` (ticked by a person)"),
                );
                None
            }
            (None, Some(check)) => {
                let stray: Vec<&str> = [
                    spec.above.map(|_| "above"),
                    spec.below.map(|_| "below"),
                    spec.between.as_ref().map(|_| "between"),
                    spec.throughout.as_ref().map(|_| "throughout"),
                    spec.within.as_ref().map(|_| "within"),
                    spec.after.as_ref().map(|_| "after"),
                ]
                .into_iter()
                .flatten()
                .collect();
                if !stray.is_empty() {
                    self.err(
                        at,
                        format!(
                            "{what}: a `check:` is ticked by a person and takes no `{}`",
                            stray.join("`, `")
                        ),
                    );
                    return None;
                }
                if check.value.trim().is_empty() || long(&check.value) {
                    self.err(
                        &check.referenced,
                        format!(
                            "{what}: `check` must say what to check in 1 to {} characters",
                            limits::MAX_CRITERION_TEXT
                        ),
                    );
                    return None;
                }
                if spec
                    .by
                    .as_deref()
                    .is_some_and(|b| b.trim().is_empty() || long(b))
                {
                    self.err(at, format!("{what}: `by` must name a role or a person"));
                    return None;
                }
                Some(Criterion {
                    label: spec.name.clone().unwrap_or_else(|| check.value.clone()),
                    test: Test::Check {
                        by: spec.by.clone(),
                    },
                })
            }
            (Some(metric), None) => {
                if spec.by.is_some() {
                    self.err(
                        at,
                        format!("{what}: `by` belongs to a `check:`; a metric criterion is decided by the engine"),
                    );
                    return None;
                }
                if !metrics.contains_key(&metric.value) {
                    self.err(
                        &metric.referenced,
                        undefined("metric", &metric.value, metrics.keys()),
                    );
                    return None;
                }
                let condition = match condition_of(spec.above, spec.below, &spec.between) {
                    Ok(c) => c,
                    Err(e) => {
                        self.err(at, format!("{what} on `{}`: {e}", metric.value));
                        return None;
                    }
                };
                let throughout = spec.throughout.as_ref().is_some_and(|t| t.value);
                if let Some(a) = &spec.after
                    && a.value != "rollback"
                {
                    self.err(
                        &a.referenced,
                        format!("{what}: `after:` takes `rollback` only, got `{}`", a.value),
                    );
                    return None;
                }
                let after_rollback = spec.after.is_some();
                let window = match (throughout, &spec.within) {
                    (true, Some(_)) | (false, None) => {
                        self.err(
                            at,
                            format!("{what} on `{}` needs exactly one of `throughout: true` (holds for the whole step) or `within: <duration>` (becomes true in time)", metric.value),
                        );
                        return None;
                    }
                    (true, None) if after_rollback => {
                        self.err(
                            at,
                            format!("{what}: `after: rollback` needs `within:` (how long recovery may take)"),
                        );
                        return None;
                    }
                    (true, None) => Window::Throughout,
                    (false, Some(w)) => {
                        let (max, whose) = if after_rollback {
                            (max_duration.min(limits::MAX_RUN), "max_duration")
                        } else {
                            (step_duration, "the step's duration")
                        };
                        let ok = self.duration_within(
                            &format!("{what}: `within` (at most {whose})"),
                            w,
                            Duration::ZERO,
                            max,
                            false,
                        );
                        if !ok {
                            return None;
                        }
                        if after_rollback {
                            Window::AfterRollback { ms: w.value.0 }
                        } else {
                            Window::Within { ms: w.value.0 }
                        }
                    }
                };
                let label = spec
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("{} {condition} {window}", metric.value));
                Some(Criterion {
                    label,
                    test: Test::Metric {
                        metric: metric.value.clone(),
                        condition,
                        window,
                    },
                })
            }
        }
    }

    fn runbook(&mut self, link: &Spanned<String>) -> Option<RunbookRef> {
        let (file_part, anchor) = match link.value.split_once('#') {
            Some((f, a)) => (f, Some(a.to_string())),
            None => (link.value.as_str(), None),
        };
        let Some(path) = resolve_relative(&self.file, Path::new(file_part)) else {
            self.err(
                &link.referenced,
                format!(
                    "runbook `{file_part}` not found (looked beside the scenario and in its parent directories)"
                ),
            );
            return None;
        };
        if let Some(anchor) = &anchor {
            let found = std::fs::read_to_string(&path)
                .map(|md| markdown_anchors(&md).contains(anchor))
                .unwrap_or(false);
            if !found {
                self.err(
                    &link.referenced,
                    format!("runbook `{file_part}` has no heading for anchor `#{anchor}`",),
                );
            }
        }
        Some(RunbookRef {
            link: link.value.clone(),
            path,
            anchor,
        })
    }

    fn target(&mut self, name: &str, t: &Spanned<TargetSpec>) -> Option<Target> {
        let at = &t.referenced;
        let spec = &t.value;
        if spec.local {
            if !spec.hosts.is_empty()
                || spec.user.is_some()
                || spec.identity.is_some()
                || spec.inventory.is_some()
            {
                self.err(
                    at,
                    format!(
                        "target `{name}`: `local: true` cannot also have hosts, inventory, user or identity"
                    ),
                );
                return None;
            }
            return Some(Target {
                name: name.to_string(),
                transport: Transport::Local,
            });
        }
        let mut hosts = Vec::new();
        if spec.inventory.is_some() || spec.group.is_some() {
            hosts = self.inventory_hosts(name, spec, at)?;
        } else if spec.hosts.is_empty() {
            self.err(
                at,
                format!("target `{name}` needs `hosts: [...]`, `inventory:` with `group:`, or `local: true`"),
            );
            return None;
        }
        for h in &spec.hosts {
            match parse_host(&h.value) {
                Ok(addr) if hosts.contains(&addr) => self.err(
                    &h.referenced,
                    format!("target `{name}`: host `{addr}` is listed twice"),
                ),
                Ok(addr) => hosts.push(addr),
                Err(msg) => self.err(&h.referenced, format!("target `{name}`: {msg}")),
            }
        }
        if let Some(user) = &spec.user
            && !is_safe_user(user)
        {
            self.err(
                at,
                format!("target `{name}`: user `{user}` is not a valid user name"),
            );
        }
        Some(Target {
            name: name.to_string(),
            transport: Transport::Ssh {
                hosts,
                user: spec.user.clone(),
                sudo: spec.sudo,
                identity: spec.identity.as_ref().map(PathBuf::from),
            },
        })
    }

    fn metric(
        &mut self,
        name: &str,
        m: &Spanned<MetricSpec>,
        targets: &BTreeMap<String, Spanned<TargetSpec>>,
        prometheus: Option<&spec::PrometheusServerSpec>,
    ) -> Option<Metric> {
        let at = &m.referenced;
        let spec = &m.value;
        let kinds: Vec<&str> = [
            spec.command.as_ref().map(|_| "command"),
            spec.prometheus.as_ref().map(|_| "prometheus"),
            spec.scrape.as_ref().map(|_| "scrape"),
            spec.http.as_ref().map(|_| "http"),
        ]
        .into_iter()
        .flatten()
        .collect();
        if kinds.len() != 1 {
            self.err(
                at,
                format!(
                    "metric `{name}` needs exactly one source (command, prometheus, scrape or http), found {}",
                    if kinds.is_empty() { "none".to_string() } else { kinds.join(", ") }
                ),
            );
            return None;
        }
        if let Some(d) = &spec.every {
            self.duration_within(
                &format!("metric `{name}`: every"),
                d,
                limits::MIN_EVERY,
                limits::MAX_EVERY,
                false,
            );
        }
        if let Some(d) = &spec.timeout {
            self.duration_within(
                &format!("metric `{name}`: timeout"),
                d,
                limits::MIN_METRIC_TIMEOUT,
                limits::MAX_METRIC_TIMEOUT,
                false,
            );
        }
        let source = if let Some(command) = &spec.command {
            let Some(target) = &spec.target else {
                self.err(
                    &command.referenced,
                    format!(
                        "metric `{name}`: a command source needs `target:` (a name under targets)"
                    ),
                );
                return None;
            };
            if !targets.contains_key(&target.value) {
                self.err(
                    &target.referenced,
                    undefined("target", &target.value, targets.keys()),
                );
            }
            Source::Command {
                command: command.value.clone(),
                target: target.value.clone(),
            }
        } else if let Some(query) = &spec.prometheus {
            let server = match (&spec.server, prometheus) {
                (Some(s), _) => s.clone(),
                (None, Some(p)) => p.url.value.clone(),
                (None, None) => {
                    self.err(
                        &query.referenced,
                        format!("metric `{name}`: a prometheus source needs `server:` or a scenario-level `prometheus: {{url: ...}}`"),
                    );
                    return None;
                }
            };
            if !is_http_url(&server) {
                self.err(
                    at,
                    format!(
                        "metric `{name}`: server `{server}` must start with http:// or https://"
                    ),
                );
            } else if spec.server.is_some() {
                // The scenario-level url was checked where it is written.
                self.url_without_secrets(&format!("metric `{name}`: server"), &server, at);
            }
            if spec.reduce.is_none() && prom::groups_series(&query.value) {
                self.err(
                    &query.referenced,
                    format!("metric `{name}`: the query groups by labels (`by (...)` / `without (...)`) so it can return several series; set `reduce: max|min|sum|avg` to say how to combine them"),
                );
            }
            Source::Prometheus {
                query: query.value.clone(),
                server,
                reduce: spec.reduce,
                bearer_token_env: prometheus.and_then(|p| p.bearer_token_env.clone()),
                basic_auth_env: prometheus.and_then(|p| p.basic_auth_env.clone()),
            }
        } else if let Some(url) = &spec.scrape {
            if !is_http_url(&url.value) {
                self.err(
                    &url.referenced,
                    format!(
                        "metric `{name}`: scrape url `{}` must start with http:// or https://",
                        url.value
                    ),
                );
            } else {
                self.url_without_secrets(
                    &format!("metric `{name}`: scrape url"),
                    &url.value,
                    &url.referenced,
                );
            }
            let Some(series) = &spec.series else {
                self.err(&url.referenced, format!("metric `{name}`: a scrape source needs `series:` (e.g. 'http_requests_total{{code=\"500\"}}')"));
                return None;
            };
            if let Err(e) = prom::Selector::parse(&series.value) {
                self.err(&series.referenced, format!("metric `{name}`: {e}"));
            }
            // `contains` is false for NaN, so non-finite values are refused here too.
            if let Some(q) = &spec.quantile
                && !(0.0..=1.0).contains(&q.value)
            {
                self.err(
                    &q.referenced,
                    format!(
                        "metric `{name}`: quantile must be a number from 0 to 1, got {}",
                        q.value
                    ),
                );
            }
            Source::Scrape {
                url: url.value.clone(),
                series: series.value.clone(),
                rate: spec.rate,
                quantile: spec.quantile.as_ref().map(|q| q.value),
            }
        } else if let Some(url) = &spec.http {
            if !is_http_url(&url.value) {
                self.err(
                    &url.referenced,
                    format!(
                        "metric `{name}`: http url `{}` must start with http:// or https://",
                        url.value
                    ),
                );
            } else {
                self.url_without_secrets(
                    &format!("metric `{name}`: http url"),
                    &url.value,
                    &url.referenced,
                );
            }
            let expect_status = spec.expect_status.unwrap_or(200);
            if !limits::STATUS_RANGE.contains(&expect_status) {
                self.err(
                    at,
                    format!("metric `{name}`: expect_status must be an HTTP status from 100 to 599, got {expect_status}"),
                );
            }
            Source::Http {
                url: url.value.clone(),
                expect_status,
                expect_body: spec.expect_body.clone(),
            }
        } else {
            return None;
        };
        Some(Metric {
            name: name.to_string(),
            source,
            every: spec.every.as_ref().map_or(DEFAULT_EVERY, |d| d.value.0),
            timeout: spec
                .timeout
                .as_ref()
                .map_or(DEFAULT_METRIC_TIMEOUT, |d| d.value.0),
            unit: spec.unit.clone(),
        })
    }

    fn rule(
        &mut self,
        kind: RuleKind,
        r: &Spanned<RuleSpec>,
        metrics: &BTreeMap<String, Spanned<MetricSpec>>,
    ) -> Option<Rule> {
        let spec = &r.value;
        let section = match kind {
            RuleKind::SteadyState => "steady_state",
            RuleKind::Abort => "abort",
        };
        let mut ok = true;
        if !metrics.contains_key(&spec.metric.value) {
            self.err(
                &spec.metric.referenced,
                undefined("metric", &spec.metric.value, metrics.keys()),
            );
            ok = false;
        }
        let condition = match (spec.above, spec.below, &spec.between) {
            // NaN never compares, so such a rule would never trip; an infinity cannot be journaled.
            (Some(t), None, None) | (None, Some(t), None) if !t.is_finite() => {
                self.err(
                    &r.referenced,
                    format!(
                        "{section} rule on `{}`: the threshold must be a finite number, got {t}",
                        spec.metric.value
                    ),
                );
                return None;
            }
            (Some(t), None, None) => Condition::Above(t),
            (None, Some(t), None) => Condition::Below(t),
            (None, None, Some(b)) if b.iter().any(|x| !x.is_finite()) => {
                self.err(
                    &r.referenced,
                    format!(
                        "{section} rule on `{}`: between bounds must be finite numbers, got {b:?}",
                        spec.metric.value
                    ),
                );
                return None;
            }
            (None, None, Some(b)) if b.len() == 2 && b[0] <= b[1] => Condition::Between(b[0], b[1]),
            (None, None, Some(_)) => {
                self.err(
                    &r.referenced,
                    format!(
                        "{section} rule on `{}`: between takes [low, high] with low <= high",
                        spec.metric.value
                    ),
                );
                return None;
            }
            _ => {
                self.err(
                    &r.referenced,
                    format!(
                        "{section} rule on `{}` needs exactly one of above, below, between",
                        spec.metric.value
                    ),
                );
                return None;
            }
        };
        if kind == RuleKind::SteadyState
            && let Some(s) = &spec.sustained
        {
            self.err(
                &s.referenced,
                "steady_state rules are checked on a fresh sample and take no `for:`; put sustained windows on abort rules",
            );
            ok = false;
        }
        let clear_after = match &spec.clear_after {
            None => DEFAULT_CLEAR_AFTER,
            Some(n) if kind == RuleKind::SteadyState => {
                self.err(
                    &n.referenced,
                    "steady_state rules are checked on a fresh sample and take no `clear_after:`; it belongs on abort rules",
                );
                ok = false;
                DEFAULT_CLEAR_AFTER
            }
            Some(n) => match u32::try_from(n.value) {
                Ok(v) if CLEAR_AFTER_RANGE.contains(&v) => v,
                _ => {
                    self.err(
                        &n.referenced,
                        format!(
                            "{section} rule on `{}`: clear_after must be between {} and {} (consecutive good samples that clear a breach), got {}",
                            spec.metric.value,
                            CLEAR_AFTER_RANGE.start(),
                            CLEAR_AFTER_RANGE.end(),
                            n.value
                        ),
                    );
                    ok = false;
                    DEFAULT_CLEAR_AFTER
                }
            },
        };
        if !ok {
            return None;
        }
        let label = spec
            .name
            .clone()
            .unwrap_or_else(|| format!("{} {condition}", spec.metric.value));
        Some(Rule {
            kind,
            label,
            metric: spec.metric.value.clone(),
            condition,
            sustained: spec
                .sustained
                .as_ref()
                .map(|d| d.value.0)
                .unwrap_or_default(),
            no_data: spec.no_data.unwrap_or_default(),
            clear_after,
        })
    }

    fn step(
        &mut self,
        index: usize,
        s: &Spanned<spec::StepSpec>,
        targets: &BTreeMap<String, Spanned<TargetSpec>>,
        built: &BTreeMap<String, Target>,
        fault_ids: &mut BTreeSet<String>,
        max_duration: Duration,
    ) -> Step {
        let spec = &s.value;
        self.duration_within(
            &format!("step `{}`: duration", spec.name.value),
            &spec.duration,
            Duration::ZERO,
            max_duration.min(limits::MAX_RUN),
            false,
        );
        let runbook = spec.runbook.as_ref().and_then(|r| self.runbook(r));
        let expand = spec
            .expand
            .as_ref()
            .map(|e| self.expand_sizes(&spec.name.value, e))
            .unwrap_or_default();
        let mut faults = Vec::new();
        for (j, f) in spec.faults.iter().enumerate() {
            let fs = &f.value;
            let id = fs
                .id
                .as_ref()
                .map(|i| i.value.clone())
                .unwrap_or_else(|| format!("s{}f{}", index + 1, j + 1));
            let id_at = fs.id.as_ref().map(|i| i.referenced).unwrap_or(f.referenced);
            if !is_safe_id(&id) {
                self.err(
                    &id_at,
                    format!("fault id `{id}`: use letters, digits, `-` and `_` only"),
                );
            } else if !fault_ids.insert(id.clone()) {
                self.err(
                    &id_at,
                    format!("fault id `{id}` is used twice; ids must be unique"),
                );
            }
            if !targets.contains_key(&fs.target.value) {
                self.err(
                    &fs.target.referenced,
                    undefined("target", &fs.target.value, targets.keys()),
                );
            }
            let lease = fs
                .lease
                .as_ref()
                .map(|d| d.value.0)
                .unwrap_or(DEFAULT_LEASE);
            if let Some(l) = &fs.lease {
                self.duration_within(
                    &format!("fault `{id}`: lease"),
                    l,
                    limits::MIN_LEASE,
                    limits::MAX_LEASE,
                    false,
                );
            }
            let timeout = fs
                .timeout
                .as_ref()
                .map(|d| d.value.0)
                .unwrap_or(DEFAULT_COMMAND_TIMEOUT);
            if let Some(t) = &fs.timeout {
                self.duration_within(
                    &format!("fault `{id}`: timeout"),
                    t,
                    limits::MIN_COMMAND_TIMEOUT,
                    limits::MAX_COMMAND_TIMEOUT,
                    false,
                );
            }
            let target = built.get(&fs.target.value);
            let Ok((select, hosts)) = self.selection(&id, fs, target, &expand) else {
                continue;
            };
            self.at_once.push(select::AtOnce {
                step: index,
                fault: id.clone(),
                hosts,
                at: fs.select.as_ref().map_or(f.referenced, |s| s.referenced),
            });
            let Some(spec) = self.fault_spec(&id, f) else {
                continue;
            };
            faults.push(Fault {
                id,
                target: fs.target.value.clone(),
                spec,
                irreversible: fs.irreversible,
                lease,
                timeout,
                select,
            });
        }
        let on_ssh = |f: &Spanned<spec::FaultSpec>| {
            matches!(
                built.get(&f.value.target.value).map(|t| &t.transport),
                Some(Transport::Ssh { .. })
            )
        };
        if let Some(e) = &spec.expand
            && !expand.is_empty()
            && !spec.faults.iter().any(on_ssh)
        {
            self.err(
                &e.referenced,
                format!(
                    "step `{}`: expand grows a selection of SSH hosts, but no fault of the step is on an SSH target",
                    spec.name.value
                ),
            );
        }
        Step {
            name: spec.name.value.clone(),
            duration: spec.duration.value.0,
            prompt: spec.prompt.clone(),
            runbook,
            faults,
            expect: None,
            halt_on_failure: false,
            success: Vec::new(),
            expand: expand.into_iter().map(|(s, _)| s).collect(),
        }
    }
}

/// The condition of `above` / `below` / `between`, exactly one of them, finite.
fn condition_of(
    above: Option<f64>,
    below: Option<f64>,
    between: &Option<Vec<f64>>,
) -> Result<Condition, String> {
    match (above, below, between) {
        (Some(t), None, None) | (None, Some(t), None) if !t.is_finite() => {
            Err(format!("the threshold must be a finite number, got {t}"))
        }
        (Some(t), None, None) => Ok(Condition::Above(t)),
        (None, Some(t), None) => Ok(Condition::Below(t)),
        (None, None, Some(b)) if b.iter().any(|x| !x.is_finite()) => {
            Err(format!("between bounds must be finite numbers, got {b:?}"))
        }
        (None, None, Some(b)) if b.len() == 2 && b[0] <= b[1] => Ok(Condition::Between(b[0], b[1])),
        (None, None, Some(_)) => Err("between takes [low, high] with low <= high".into()),
        _ => Err("needs exactly one of above, below, between".into()),
    }
}

/// Reads a role's people as a list, or (journals written before lists) as one name.
fn people_map<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum People {
        One(String),
        Many(Vec<String>),
    }
    let m = BTreeMap::<String, People>::deserialize(d)?;
    Ok(m.into_iter()
        .map(|(k, v)| {
            let v = match v {
                People::One(n) => vec![n],
                People::Many(ns) => ns,
            };
            (k, v)
        })
        .collect())
}

fn undefined<'a>(what: &str, name: &str, known: impl Iterator<Item = &'a String>) -> String {
    let known: Vec<&str> = known.map(String::as_str).collect();
    if known.is_empty() {
        format!("undefined {what} `{name}`: no {what}s are defined")
    } else {
        format!(
            "undefined {what} `{name}`; defined {what}s: {}",
            known.join(", ")
        )
    }
}

fn is_http_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

fn is_safe_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn is_safe_user(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && s.len() <= 32
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// `host`, `host:port` or `[v6]:port`. Host names are checked so that nothing odd reaches a shell or
/// known_hosts line: letters, digits, `-`, `.`, `_`, and IPv6 inside brackets.
pub fn parse_host(s: &str) -> Result<HostAddr, String> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some((h, after)) = rest.split_once(']') else {
            return Err(format!("host `{s}`: missing `]`"));
        };
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(format!("host `{s}`: expected `:port` after `]`")),
        };
        (h, port)
    } else if s.matches(':').count() > 1 {
        // A bare IPv6 address: no port can be given without brackets.
        (s, None)
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        None => 22,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("host `{s}`: port `{p}` is not a number from 1 to 65535"))?,
    };
    let ok = !host.is_empty()
        && !host.starts_with('-')
        && host.len() <= 253
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | ':'));
    if !ok {
        return Err(format!(
            "host `{}` is not a valid host name or address",
            s.escape_debug()
        ));
    }
    Ok(HostAddr::new(host, port))
}

/// Looks for `rel` beside `file`, then in each parent directory: `runbooks/x.md` written in
/// `scenarios/y.yaml` finds the project's `runbooks/x.md`.
fn resolve_relative(file: &Path, rel: &Path) -> Option<PathBuf> {
    if rel.is_absolute() {
        return rel.is_file().then(|| rel.to_path_buf());
    }
    let start = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let start = if start.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        start
    };
    let start = start.canonicalize().unwrap_or(start);
    start
        .ancestors()
        .map(|dir| dir.join(rel))
        .find(|p| p.is_file())
}

/// GitHub-style heading anchors of a Markdown document.
pub fn markdown_anchors(md: &str) -> BTreeSet<String> {
    let mut fence = false;
    md.lines()
        .filter(|l| {
            if l.trim_start().starts_with("```") {
                fence = !fence;
                return false;
            }
            !fence
        })
        .filter_map(|l| {
            let t = l.trim_start();
            let hashes = t.chars().take_while(|c| *c == '#').count();
            (1..=6)
                .contains(&hashes)
                .then(|| heading_slug(&t[hashes..]))
        })
        .collect()
}

pub fn heading_slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                Some(c)
            } else if c == ' ' {
                Some('-')
            } else {
                None
            }
        })
        .collect()
}

/// Durations travel as integer milliseconds in the journal.
pub mod duration_ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// `gameday validate FILE…`: one `ok` line per valid file, every problem of the others as
/// FILE:LINE:COLUMN: message. Exit 0 when all are valid, 2 otherwise.
pub fn validate_files(files: &[std::path::PathBuf]) -> u8 {
    let mut bad = 0;
    for f in files {
        if ctk::is_file_an_experiment(f) {
            match ctk::Experiment::load(f) {
                Ok(e) => crate::outln!(
                    "{}: ok — Chaos Toolkit experiment: {} ({} method activities, {} rollbacks)",
                    f.display(),
                    e.title,
                    e.method.len(),
                    e.rollbacks.len()
                ),
                Err(invalid) => {
                    bad += 1;
                    for d in &invalid.0 {
                        crate::outln!("{d}");
                    }
                }
            }
            continue;
        }
        match Scenario::load(f) {
            Ok(s) => crate::outln!(
                "{}: ok — {} ({} steps, {} faults)",
                f.display(),
                s.title,
                s.steps.len(),
                s.faults().count()
            ),
            Err(invalid) => {
                bad += 1;
                for d in &invalid.0 {
                    crate::outln!("{d}");
                }
            }
        }
    }
    if bad > 0 {
        crate::errln!("gameday: {bad} of {} file(s) invalid", files.len());
        crate::exit::INVALID
    } else {
        crate::exit::HELD
    }
}

#[cfg(test)]
mod select_tests;
#[cfg(test)]
mod tests;
