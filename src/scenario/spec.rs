//! The YAML form of a scenario, exactly as written, with source locations. Validation turns it into
//! [`super::Scenario`]; nothing outside `scenario` sees these types.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use super::duration::HumanDuration;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSpec {
    pub title: Spanned<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub hypothesis: Spanned<String>,
    #[serde(default)]
    pub runbook: Option<Spanned<String>>,
    #[serde(default)]
    pub roles: BTreeMap<String, Spanned<PeopleSpec>>,
    pub max_duration: Spanned<HumanDuration>,
    /// After a halt, how long sampling goes on (after the verdict) to show whether the system came
    /// back.
    #[serde(default)]
    pub recovery_watch: Option<Spanned<HumanDuration>>,
    /// Extra preflight checklist items, shown with the built-in ones.
    #[serde(default)]
    pub checklist: Vec<String>,
    #[serde(default)]
    pub prometheus: Option<Spanned<PrometheusServerSpec>>,
    #[serde(default)]
    pub targets: BTreeMap<String, Spanned<TargetSpec>>,
    #[serde(default)]
    pub metrics: BTreeMap<String, Spanned<MetricSpec>>,
    #[serde(default)]
    pub steady_state: Vec<Spanned<RuleSpec>>,
    #[serde(default)]
    pub abort: Vec<Spanned<RuleSpec>>,
    pub steps: Spanned<Vec<Spanned<StepSpec>>>,
    #[serde(default)]
    pub notify: Vec<Spanned<super::notify::NotifySpec>>,
    /// The most hosts faulted at once across the run.
    #[serde(default)]
    pub blast_radius: Option<Spanned<BlastRadiusSpec>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlastRadiusSpec {
    #[serde(default)]
    pub max_hosts: Option<Spanned<i64>>,
    #[serde(default)]
    pub max_percent: Option<Spanned<f64>>,
}

/// A fault's `select:`: a count or a percent of the candidates, which tags they carry, which hosts
/// are never chosen.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelectSpec {
    #[serde(default)]
    pub count: Option<Spanned<i64>>,
    #[serde(default)]
    pub percent: Option<Spanned<f64>>,
    #[serde(default)]
    pub tags: Option<Spanned<BTreeMap<String, String>>>,
    #[serde(default)]
    pub exclude: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusServerSpec {
    pub url: Spanned<String>,
    /// Name of an environment variable holding a bearer token (never the token itself).
    #[serde(default)]
    pub bearer_token_env: Option<String>,
    /// Name of an environment variable holding `user:password` for basic auth.
    #[serde(default)]
    pub basic_auth_env: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    #[serde(default)]
    pub local: bool,
    #[serde(default)]
    pub hosts: Vec<Spanned<String>>,
    /// A static Ansible inventory file (relative to the scenario) and the group to take.
    #[serde(default)]
    pub inventory: Option<Spanned<String>>,
    #[serde(default)]
    pub group: Option<Spanned<String>>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub sudo: bool,
    /// Private key file; else ssh-agent, else ~/.ssh/id_ed25519 / id_rsa.
    #[serde(default)]
    pub identity: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricSpec {
    #[serde(default)]
    pub command: Option<Spanned<String>>,
    #[serde(default)]
    pub target: Option<Spanned<String>>,
    #[serde(default)]
    pub prometheus: Option<Spanned<String>>,
    #[serde(default)]
    pub server: Option<String>,
    #[serde(default)]
    pub reduce: Option<Reduce>,
    #[serde(default)]
    pub scrape: Option<Spanned<String>>,
    #[serde(default)]
    pub series: Option<Spanned<String>>,
    #[serde(default)]
    pub rate: bool,
    #[serde(default)]
    pub quantile: Option<Spanned<f64>>,
    #[serde(default)]
    pub http: Option<Spanned<String>>,
    #[serde(default)]
    pub expect_status: Option<u16>,
    #[serde(default)]
    pub expect_body: Option<String>,
    #[serde(default)]
    pub every: Option<Spanned<HumanDuration>>,
    #[serde(default)]
    pub timeout: Option<Spanned<HumanDuration>>,
    /// Display unit for panels and the debrief (`ms`, `%`, `req/s`).
    #[serde(default)]
    pub unit: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Reduce {
    Max,
    Min,
    Sum,
    Avg,
}

#[derive(Debug, Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum NoDataSpec {
    #[default]
    Breach,
    Ignore,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub metric: Spanned<String>,
    #[serde(default)]
    pub above: Option<f64>,
    #[serde(default)]
    pub below: Option<f64>,
    #[serde(default)]
    pub between: Option<Vec<f64>>,
    #[serde(default, rename = "for")]
    pub sustained: Option<Spanned<HumanDuration>>,
    #[serde(default)]
    pub no_data: Option<NoDataSpec>,
    /// Abort rules: consecutive good samples that clear a breach (default 2).
    #[serde(default)]
    pub clear_after: Option<Spanned<i64>>,
    /// A label for panels and the debrief; defaults to `metric > 500`.
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    pub name: Spanned<String>,
    pub duration: Spanned<HumanDuration>,
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default)]
    pub runbook: Option<Spanned<String>>,
    #[serde(default)]
    pub faults: Vec<Spanned<FaultSpec>>,
    /// What the step should show, in words (for the debrief).
    #[serde(default)]
    pub expect: Option<String>,
    /// Halt the run when one of this step's success criteria fails.
    #[serde(default)]
    pub halt_on_failure: bool,
    #[serde(default)]
    pub success: Vec<Spanned<CriterionSpec>>,
    /// Progressive expansion: the step again on a growing selection of hosts.
    #[serde(default)]
    pub expand: Option<Spanned<Vec<Spanned<SizeSpec>>>>,
}

/// One size of a step's `expand:`: a count (`3`) or a percent of the candidates (`10%`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum SizeSpec {
    Count(i64),
    Text(String),
}

/// A role's person, or several people (`observers: [Ana, Raj]`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum PeopleSpec {
    One(String),
    Many(Vec<String>),
}

/// One success criterion of a step: a metric condition over a window, or a check a person ticks.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CriterionSpec {
    #[serde(default)]
    pub metric: Option<Spanned<String>>,
    #[serde(default)]
    pub above: Option<f64>,
    #[serde(default)]
    pub below: Option<f64>,
    #[serde(default)]
    pub between: Option<Vec<f64>>,
    #[serde(default)]
    pub throughout: Option<Spanned<bool>>,
    #[serde(default)]
    pub within: Option<Spanned<HumanDuration>>,
    /// `rollback`: the `within` window starts when the step's faults are rolled back.
    #[serde(default)]
    pub after: Option<Spanned<String>>,
    /// A check a person ticks, in words.
    #[serde(default)]
    pub check: Option<Spanned<String>>,
    /// Who ticks the check (a role or a name).
    #[serde(default)]
    pub by: Option<String>,
    /// A label for the debrief; defaults to the condition.
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    pub kind: Spanned<String>,
    /// Stable id for the journal and `recover`; defaults to `s<step>f<index>`.
    #[serde(default)]
    pub id: Option<Spanned<String>>,
    pub target: Spanned<String>,
    #[serde(default)]
    pub inject: Option<Spanned<String>>,
    #[serde(default)]
    pub rollback: Option<Spanned<String>>,
    #[serde(default)]
    pub verify: Option<String>,
    #[serde(default)]
    pub irreversible: bool,
    /// Dead-man lease on the host: the host undoes the fault itself if not renewed in time.
    #[serde(default)]
    pub lease: Option<Spanned<HumanDuration>>,
    /// Time limit for each inject/undo/verify command.
    #[serde(default)]
    pub timeout: Option<Spanned<HumanDuration>>,
    /// Which of the target's hosts the fault goes to (default: all).
    #[serde(default)]
    pub select: Option<Spanned<SelectSpec>>,
    /// The seed of `select`'s random choice (default: a fresh one, journaled).
    #[serde(default)]
    pub seed: Option<Spanned<u64>>,

    // Parameters of the built-in kinds (see `scenario::faults`); each kind accepts only its own.
    /// latency, loss: network interface (`eth0`).
    #[serde(default)]
    pub interface: Option<Spanned<String>>,
    /// latency: added delay.
    #[serde(default)]
    pub delay: Option<Spanned<HumanDuration>>,
    /// latency: random variation of the delay.
    #[serde(default)]
    pub jitter: Option<Spanned<HumanDuration>>,
    /// loss: percent of packets dropped.
    #[serde(default)]
    pub percent: Option<Spanned<f64>>,
    /// partition: peer host, address or CIDR cut off from the target.
    #[serde(default)]
    pub peer: Option<Spanned<String>>,
    /// kill: process name (as `pgrep -x` sees it).
    #[serde(default)]
    pub process: Option<Spanned<String>>,
    /// kill: file holding the pid.
    #[serde(default)]
    pub pid_file: Option<Spanned<String>>,
    /// kill: signal name (default KILL).
    #[serde(default)]
    pub signal: Option<Spanned<String>>,
    /// kill: command that brings the process back; without it the kill is irreversible.
    #[serde(default)]
    pub restart: Option<Spanned<String>>,
    /// stop_service: systemd unit.
    #[serde(default)]
    pub service: Option<Spanned<String>>,
    /// cpu: stress-ng CPU workers (default 1).
    #[serde(default)]
    pub workers: Option<Spanned<u32>>,
    /// memory, disk_fill: size (`512M`, `2G`, bytes).
    #[serde(default)]
    pub size: Option<Spanned<String>>,
    /// disk_fill: directory on the filesystem to fill.
    #[serde(default)]
    pub path: Option<Spanned<String>>,
    /// disk_fill: space always left free so cleanup can run (default 256M).
    #[serde(default)]
    pub keep_free: Option<Spanned<String>>,
    /// cpu, memory: stress-ng's own --timeout, a backstop behind the lease (default 10m).
    #[serde(default)]
    pub duration: Option<Spanned<HumanDuration>>,
}
