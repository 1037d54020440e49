//! Faults: what each kind runs to inject, undo and verify, the ledger of live faults, and the
//! rollback procedure whose result is observed, never assumed.

pub mod kinds;
pub mod lease;
pub mod status;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::scenario::Fault;
use crate::target::{CommandOutcome, Exchange, ExchangeDone, Host, Pending};

pub use kinds::{PlanContext, REFUSED_EXIT};
pub use lease::LeasePlan;
pub use status::{LiveFault, RollbackStatus};

/// The exact commands of one fault on one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultPlan {
    pub inject: String,
    /// `None` only for irreversible faults.
    pub undo: Option<String>,
    pub verify: Option<String>,
    /// The inject follows the [`REFUSED_EXIT`] contract (every built-in kind): exit 86 means a
    /// precondition failed and nothing was changed. False for `command`, whose lines are yours.
    pub refusable: bool,
}

/// Shown when a refusing inject printed no reason.
const REFUSED_DEFAULT: &str = "refused: a precondition did not hold; nothing was changed";

impl FaultPlan {
    /// The commands of `fault` on one host. Parameters were validated with the scenario and are
    /// quoted again here: nothing is spliced raw into a shell line.
    pub fn of(fault: &Fault, ctx: &PlanContext) -> FaultPlan {
        kinds::plan(fault, ctx)
    }

    /// Why the inject refused, when `outcome` is a refusal: the plan is refusable and the inject
    /// exited [`REFUSED_EXIT`]. A refused inject changed nothing: it is journaled as not injected
    /// and never rolled back (its undo could harm what the check protected). Anything else that
    /// is not exit 0 is an ordinary failure, which may have half-applied and is rolled back.
    pub fn refusal(&self, outcome: &CommandOutcome) -> Option<String> {
        if !self.refusable || outcome.exit != Some(REFUSED_EXIT) {
            return None;
        }
        let reason = outcome
            .stderr
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or(REFUSED_DEFAULT);
        Some(reason.to_string())
    }
}

/// Attempts of the undo command before giving up; the pauses between them.
pub const UNDO_ATTEMPTS: u32 = 3;
const RETRY_PAUSES: [Duration; 2] = [Duration::from_millis(250), Duration::from_secs(1)];

/// The result of rolling one fault back on one host.
#[derive(Debug, Clone, PartialEq)]
pub struct RollbackReport {
    pub status: RollbackStatus,
    pub how: String,
    pub attempts: u32,
    pub undo: CommandOutcome,
    pub verify: Option<CommandOutcome>,
    /// The lease cancel, when it went to the host in the same exchange (started by the host only
    /// after a VERIFIED rollback; its outcome comes later, the result need not wait for it);
    /// `None`: not sent, the caller sends it once the result is journaled.
    pub lease_cancel: Option<Pending>,
}

/// Runs the undo (retrying while it does not exit 0), then the verify command.
/// VERIFIED needs a passing verify, or — when the fault has none — the undo's own exit 0.
/// A command with no exit status (timeout, lost link) makes the result UNKNOWN, never VERIFIED.
pub async fn roll_back(host: &dyn Host, plan: &FaultPlan, timeout: Duration) -> RollbackReport {
    let Some(undo) = &plan.undo else {
        return RollbackReport {
            status: RollbackStatus::Failed,
            how: "fault has no undo".into(),
            attempts: 0,
            undo: CommandOutcome::default(),
            verify: None,
            lease_cancel: None,
        };
    };
    let mut attempts = 0;
    let mut outcome;
    loop {
        attempts += 1;
        outcome = host.exec(undo, timeout).await;
        if outcome.success() || attempts >= UNDO_ATTEMPTS {
            break;
        }
        let pause = RETRY_PAUSES[(attempts as usize - 1).min(RETRY_PAUSES.len() - 1)];
        tokio::time::sleep(pause).await;
    }
    let Some(verify) = &plan.verify else {
        return decide(attempts, outcome, None);
    };
    // The effect of an undo may take a moment to show (a service restarting): verify a few times.
    let mut checked;
    let mut verify_attempts = 0;
    loop {
        verify_attempts += 1;
        checked = host.exec(verify, timeout).await;
        if checked.success() || verify_attempts >= UNDO_ATTEMPTS {
            break;
        }
        let pause = RETRY_PAUSES[(verify_attempts as usize - 1).min(RETRY_PAUSES.len() - 1)];
        tokio::time::sleep(pause).await;
    }
    decide(attempts, outcome, Some(checked))
}

/// The status of a rollback from its last undo and last verify: VERIFIED needs a passing verify,
/// or, without one, the undo's exit 0; no exit status is UNKNOWN.
fn decide(
    attempts: u32,
    outcome: CommandOutcome,
    checked: Option<CommandOutcome>,
) -> RollbackReport {
    let Some(checked) = checked else {
        let (status, how) = match outcome.exit {
            Some(0) => (
                RollbackStatus::Verified,
                "undo exit status 0 (no verify command)".to_string(),
            ),
            Some(_) => (
                RollbackStatus::Failed,
                format!("undo failed: {}", outcome.summary()),
            ),
            None => (
                RollbackStatus::Unknown,
                format!("undo: {}", outcome.summary()),
            ),
        };
        return RollbackReport {
            status,
            how,
            attempts,
            undo: outcome,
            verify: None,
            lease_cancel: None,
        };
    };
    let (status, how) = match checked.exit {
        Some(0) => (RollbackStatus::Verified, "verify passed".to_string()),
        Some(_) => (
            RollbackStatus::Failed,
            format!("verify failed: {}", checked.summary()),
        ),
        None => (
            RollbackStatus::Unknown,
            format!("verify: {}", checked.summary()),
        ),
    };
    RollbackReport {
        status,
        how,
        attempts,
        undo: outcome,
        verify: Some(checked),
        lease_cancel: None,
    }
}

/// [`roll_back`] as one exchange with the host where its transport can (the SSH control shell):
/// the same undo retries, verify retries and pauses, run by sh on the host, then `cancel` (the
/// lease) in the same round trip only when the rollback is VERIFIED there; the report is decided
/// from the outcomes sent back exactly as [`roll_back`] decides it. Where the host cannot take it
/// (busy shell, exec channels, local host), or the exchange broke part way (undo is idempotent),
/// the steps run one by one through [`roll_back`] and the cancel is left to the caller.
pub async fn roll_back_and_cancel(
    host: &dyn Host,
    plan: &FaultPlan,
    timeout: Duration,
    cancel: Option<&str>,
) -> RollbackReport {
    if let Some(exchange) = rollback_exchange(plan, timeout, cancel) {
        match host.exchange(&exchange).await {
            Some(Ok(done)) => {
                if let Some(report) = from_steps(plan, done) {
                    return report;
                }
                tracing::warn!(
                    host = host.name(),
                    "rollback exchange came back malformed; rolling back step by step"
                );
            }
            Some(Err(why)) => {
                tracing::warn!(
                    host = host.name(),
                    why,
                    "rollback exchange broke; rolling back step by step"
                );
            }
            None => {}
        }
    }
    roll_back(host, plan, timeout).await
}

/// The pauses of the retry policy as sh `sleep` arguments.
fn sleep_arg(d: Duration) -> String {
    format!("{}.{:03}", d.as_secs(), d.subsec_millis())
}

/// The rollback's flow as sh, run on the host: see [`roll_back_and_cancel`].
fn rollback_exchange(
    plan: &FaultPlan,
    timeout: Duration,
    cancel: Option<&str>,
) -> Option<Exchange> {
    let undo = plan.undo.as_ref()?;
    let retry = |step: &str, ok: &str| {
        format!(
            "gd_a=0; while :; do gd_a=$((gd_a+1)); if gd_step {step}; then {ok}; break; fi; [ \"$gd_a\" -ge {UNDO_ATTEMPTS} ] && break; if [ \"$gd_a\" = 1 ]; then sleep {} 2>/dev/null || sleep 1; else sleep {} 2>/dev/null || sleep 1; fi; done; ",
            sleep_arg(RETRY_PAUSES[0]),
            sleep_arg(RETRY_PAUSES[1])
        )
    };
    let mut steps = vec![("undo", undo.clone())];
    let mut flow = String::from("gd_ok=1; ");
    match &plan.verify {
        Some(v) => {
            steps.push(("verify", v.clone()));
            flow.push_str(&retry("undo", ":"));
            flow.push_str(&retry("verify", "gd_ok=0"));
        }
        None => flow.push_str(&retry("undo", "gd_ok=0")),
    }
    if let Some(c) = cancel {
        steps.push(("cancel", c.to_string()));
        flow.push_str("if [ \"$gd_ok\" = 0 ]; then gd_step cancel d; fi");
    }
    let max_runs = UNDO_ATTEMPTS * if plan.verify.is_some() { 2 } else { 1 } + 1;
    let pauses: Duration = RETRY_PAUSES.iter().sum::<Duration>() * 2;
    Some(Exchange {
        steps,
        flow,
        timeout,
        max_runs,
        pauses,
        detached: cancel.map(|_| "cancel"),
    })
}

/// The report of an exchange's steps (undo attempts, verify attempts; the cancel detached),
/// decided as [`roll_back`] decides; `None` when the steps are not what the flow can produce.
fn from_steps(plan: &FaultPlan, done: ExchangeDone) -> Option<RollbackReport> {
    let (mut undo, mut verify) = (None, None);
    let (mut attempts, mut checks) = (0u32, 0u32);
    for (name, outcome) in done.steps {
        match name.as_str() {
            "undo" if verify.is_none() => {
                attempts += 1;
                undo = Some(outcome);
            }
            "verify" if plan.verify.is_some() && undo.is_some() => {
                checks += 1;
                verify = Some(outcome);
            }
            _ => return None,
        }
    }
    let undo = undo?;
    if attempts > UNDO_ATTEMPTS
        || checks > UNDO_ATTEMPTS
        || (plan.verify.is_some() && verify.is_none())
    {
        return None;
    }
    let mut report = decide(attempts, undo, verify);
    if done.detached.is_some() && report.status != RollbackStatus::Verified {
        tracing::warn!(status = ?report.status, "the host cancelled the lease of a rollback it did not verify");
    }
    report.lease_cancel = done.detached;
    Some(report)
}

/// Where one fault on one host stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultState {
    /// Intent journaled; inject sent or about to be.
    Injecting,
    Injected,
    /// The inject did not exit 0; it may have half-applied, so it is still rolled back.
    InjectFailed,
    RollingBack,
    /// Irreversible fault: nothing to roll back.
    Irreversible,
    /// Never on the host: refused by its precondition check, or skipped by a halt before it was
    /// sent. Nothing is rolled back for it.
    NotInjected,
    Done(RollbackStatus),
}

impl FaultState {
    pub fn label(self) -> &'static str {
        match self {
            FaultState::Injecting => "injecting",
            FaultState::Injected => "injected",
            FaultState::InjectFailed => "inject failed",
            FaultState::RollingBack => "rolling back",
            FaultState::Irreversible => "irreversible",
            FaultState::NotInjected => "not injected",
            FaultState::Done(RollbackStatus::Verified) => "VERIFIED",
            FaultState::Done(RollbackStatus::Failed) => "FAILED",
            FaultState::Done(RollbackStatus::Unknown) => "UNKNOWN",
        }
    }

    /// Still on the host as far as we know, and reversible.
    pub fn needs_rollback(self) -> bool {
        matches!(
            self,
            FaultState::Injecting | FaultState::Injected | FaultState::InjectFailed
        )
    }
}

pub struct LedgerEntry {
    pub fault: Fault,
    pub step: usize,
    pub host: Arc<dyn Host>,
    pub plan: FaultPlan,
    pub state: FaultState,
    /// The dead-man lease armed on the host for this fault, if any.
    pub lease: Option<LeasePlan>,
}

/// Every fault that was ever intended in this run, per host, and where it stands.
#[derive(Default)]
pub struct FaultLedger {
    entries: BTreeMap<(String, String), LedgerEntry>,
}

impl FaultLedger {
    pub fn insert(&mut self, entry: LedgerEntry) {
        let key = (entry.fault.id.clone(), entry.host.name().to_string());
        self.entries.insert(key, entry);
    }

    pub fn get_mut(&mut self, fault: &str, host: &str) -> Option<&mut LedgerEntry> {
        self.entries.get_mut(&(fault.to_string(), host.to_string()))
    }

    pub fn set(&mut self, fault: &str, host: &str, state: FaultState) {
        if let Some(e) = self.get_mut(fault, host) {
            e.state = state;
        }
    }

    pub fn entries(&self) -> impl Iterator<Item = &LedgerEntry> {
        self.entries.values()
    }

    /// Faults whose rollback can start now, optionally only those of one step: their inject has
    /// finished (an inject still in flight is rolled back when it returns, never beside it).
    pub fn to_roll_back(&self, step: Option<usize>) -> Vec<&LedgerEntry> {
        self.entries
            .values()
            .filter(|e| {
                matches!(e.state, FaultState::Injected | FaultState::InjectFailed)
                    && step.is_none_or(|s| e.step == s)
            })
            .collect()
    }

    pub fn live(&self) -> Vec<LiveFault> {
        self.entries
            .values()
            .filter(|e| {
                !matches!(
                    e.state,
                    FaultState::Done(RollbackStatus::Verified) | FaultState::NotInjected
                )
            })
            .map(|e| LiveFault {
                fault: e.fault.id.clone(),
                host: e.host.name().to_string(),
                state: e.state.label().to_string(),
            })
            .collect()
    }

    /// True when some rollback failed or is unknown.
    pub fn any_unresolved(&self) -> bool {
        self.entries.values().any(|e| {
            matches!(
                e.state,
                FaultState::Done(RollbackStatus::Failed | RollbackStatus::Unknown)
            ) || e.state.needs_rollback()
                || e.state == FaultState::RollingBack
        })
    }

    pub fn any_injected(&self) -> bool {
        !self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::BoxFuture;
    use std::sync::Mutex;

    /// Answers each command with the next scripted outcome, and records what it was asked.
    struct Scripted {
        answers: Mutex<Vec<CommandOutcome>>,
        asked: Mutex<Vec<String>>,
    }

    impl Host for Scripted {
        fn name(&self) -> &str {
            "scripted"
        }
        fn exec<'a>(&'a self, command: &'a str, _t: Duration) -> BoxFuture<'a, CommandOutcome> {
            self.asked.lock().unwrap().push(command.to_string());
            let next = self.answers.lock().unwrap().remove(0);
            Box::pin(async move { next })
        }
    }

    fn exit(code: i32) -> CommandOutcome {
        CommandOutcome {
            exit: Some(code),
            ..Default::default()
        }
    }

    fn plan(verify: Option<&str>) -> FaultPlan {
        FaultPlan {
            inject: "inj".into(),
            undo: Some("undo".into()),
            verify: verify.map(String::from),
            refusable: true,
        }
    }

    #[test]
    fn refusal_only_for_refusable_plans_exiting_86() {
        let refused = CommandOutcome {
            exit: Some(REFUSED_EXIT),
            stderr: "\n  eth0: root qdisc is not the default: refusing\nmore\n".into(),
            ..Default::default()
        };
        assert_eq!(
            plan(None).refusal(&refused).as_deref(),
            Some("eth0: root qdisc is not the default: refusing")
        );
        let silent = CommandOutcome {
            exit: Some(REFUSED_EXIT),
            ..Default::default()
        };
        assert_eq!(
            plan(None).refusal(&silent).as_deref(),
            Some(REFUSED_DEFAULT)
        );
        let command = FaultPlan {
            refusable: false,
            ..plan(None)
        };
        assert_eq!(
            command.refusal(&refused),
            None,
            "a `command` fault never refuses"
        );
        for other in [exit(0), exit(1), exit(3), CommandOutcome::default()] {
            assert_eq!(plan(None).refusal(&other), None, "{other:?}");
        }
    }

    fn host(answers: Vec<CommandOutcome>) -> Scripted {
        Scripted {
            answers: Mutex::new(answers),
            asked: Mutex::new(vec![]),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn undo_is_retried_then_verified() {
        let h = host(vec![exit(1), exit(0), exit(0)]);
        let r = roll_back(&h, &plan(Some("check")), Duration::from_secs(1)).await;
        assert_eq!(r.status, RollbackStatus::Verified);
        assert_eq!(r.attempts, 2);
        assert_eq!(*h.asked.lock().unwrap(), ["undo", "undo", "check"]);
    }

    #[tokio::test(start_paused = true)]
    async fn failing_verify_is_failed_not_verified() {
        let h = host(vec![exit(0), exit(1), exit(1), exit(1)]);
        let r = roll_back(&h, &plan(Some("check")), Duration::from_secs(1)).await;
        assert_eq!(r.status, RollbackStatus::Failed);
    }

    #[tokio::test(start_paused = true)]
    async fn missing_exit_status_is_unknown() {
        let lost = CommandOutcome {
            exit: None,
            error: Some("connection lost".into()),
            ..Default::default()
        };
        let h = host(vec![lost.clone(), lost.clone(), lost]);
        let r = roll_back(&h, &plan(None), Duration::from_secs(1)).await;
        assert_eq!(r.status, RollbackStatus::Unknown);
        assert_eq!(r.attempts, UNDO_ATTEMPTS);
    }

    #[tokio::test(start_paused = true)]
    async fn undo_exit_zero_counts_only_without_verify() {
        let h = host(vec![exit(0)]);
        let r = roll_back(&h, &plan(None), Duration::from_secs(1)).await;
        assert_eq!(r.status, RollbackStatus::Verified);
        assert!(r.how.contains("undo exit status"));
    }
}
