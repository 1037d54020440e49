//! The one rollback path. The engine's halt, a step's end and `gameday recover` all roll a fault
//! back through a [`RollbackJob`]: the same undo/verify procedure ([`crate::fault::roll_back`]), the
//! same report, the same manual-command text for the debrief, the same lease cancel (only after a
//! VERIFIED rollback), the same record for a task that died. The engine runs jobs inside its own
//! loop (so a halt is seen while they are in flight); `recover` runs them as a [`run_batch`].

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::event::{CommandOutcome, Event, RollbackStatus};
use crate::fault::{FaultPlan, RollbackReport, roll_back_and_cancel};
use crate::target::Host;

/// One fault on one host to take out.
#[derive(Clone)]
pub struct RollbackJob {
    pub fault: String,
    /// The host it is on. An unreachable host (see [`Host::unreachable`]) reports UNKNOWN at once
    /// and still gets its manual command.
    pub host: Arc<dyn Host>,
    pub plan: FaultPlan,
    /// Per command.
    pub timeout: Duration,
    /// Stands the host's dead-man lease down once the rollback is verified.
    pub lease_cancel: Option<String>,
}

impl RollbackJob {
    pub fn host_name(&self) -> &str {
        self.host.name()
    }

    /// Undo (with retries), then verify, and on the SSH control shell the lease cancel after a
    /// VERIFIED result, all in one exchange (`report.lease_cancel`: record it with
    /// [`RollbackJob::lease_cancelled`] after the result). Never assumes: see
    /// [`crate::fault::roll_back`].
    pub async fn run(&self) -> RollbackReport {
        if let Some(why) = self.host.unreachable() {
            return RollbackReport {
                status: RollbackStatus::Unknown,
                how: format!("host not reached: {why}"),
                attempts: 0,
                undo: CommandOutcome::default(),
                verify: None,
                lease_cancel: None,
            };
        }
        roll_back_and_cancel(
            self.host.as_ref(),
            &self.plan,
            self.timeout,
            self.lease_cancel.as_deref(),
        )
        .await
    }

    /// What a person runs on the host when the rollback was not verified: the undo, then the check.
    pub fn manual(&self) -> Option<String> {
        manual_steps(self.host.as_ref(), &self.plan)
    }

    /// The journal record of `report` (with the manual steps when it is not VERIFIED).
    pub fn result(&self, report: RollbackReport) -> Event {
        let manual = (report.status != RollbackStatus::Verified)
            .then(|| self.manual())
            .flatten();
        Event::RollbackResult {
            fault: self.fault.clone(),
            host: self.host_name().to_string(),
            status: report.status,
            how: report.how,
            attempts: report.attempts,
            undo: report.undo,
            verify: report.verify,
            manual,
        }
    }

    /// Stands the lease down; `None` when the fault has none. Call only after a VERIFIED result
    /// whose exchange did not already cancel it: otherwise the lease stays armed as the backstop.
    pub async fn cancel_lease(&self) -> Option<Event> {
        let cancel = self.lease_cancel.as_ref()?;
        let outcome = self.host.exec(cancel, self.timeout).await;
        Some(self.lease_cancelled(&outcome))
    }

    /// The journal record of a lease cancel that ran (in the rollback's exchange, or alone).
    pub fn lease_cancelled(&self, outcome: &CommandOutcome) -> Event {
        Event::LeaseCancelled {
            fault: self.fault.clone(),
            host: self.host_name().to_string(),
            ok: outcome.success(),
        }
    }
}

/// The report of a rollback whose task died (panicked or was aborted): its fault is in an unknown
/// state, never assumed back.
pub fn lost(why: &str) -> RollbackReport {
    RollbackReport {
        status: RollbackStatus::Unknown,
        how: format!("rollback task failed: {why}"),
        attempts: 0,
        undo: CommandOutcome {
            error: Some(format!("task failed: {why}")),
            ..Default::default()
        },
        verify: None,
        lease_cancel: None,
    }
}

/// The debrief's manual steps for one fault on one host: its undo as a person runs it there, then
/// its verify as the check. `None` for a fault without an undo.
pub fn manual_steps(host: &dyn Host, plan: &FaultPlan) -> Option<String> {
    let undo = plan.undo.as_ref()?;
    let mut s = host.manual(undo);
    if let Some(v) = &plan.verify {
        s.push_str(&format!("  # then check: {}", host.manual(v)));
    }
    Some(s)
}

/// What a batch did.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    /// (fault, host, status, how), in the order the results came in.
    pub results: Vec<(String, String, RollbackStatus, String)>,
}

impl BatchOutcome {
    pub fn all_verified(&self) -> bool {
        self.results
            .iter()
            .all(|(_, _, s, _)| *s == RollbackStatus::Verified)
    }
}

/// Rolls every job back concurrently, at most `slots` at once, and hands each record to `record`
/// the moment it is known: the result, then (after a VERIFIED one) the lease cancel. A job whose
/// task dies is recorded as UNKNOWN with its manual steps, like any other; the others carry on.
pub async fn run_batch(
    jobs: Vec<RollbackJob>,
    slots: usize,
    mut record: impl FnMut(Event),
) -> BatchOutcome {
    let permits = Arc::new(Semaphore::new(slots.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    let mut by_task = std::collections::HashMap::new();
    for job in jobs {
        let permits = permits.clone();
        let mine = job.clone();
        let handle = tasks.spawn(async move {
            let _slot = permits.acquire_owned().await.ok();
            let mut report = mine.run().await;
            let cancel = match report.lease_cancel.take() {
                // Sent in the rollback's own exchange, after the VERIFIED result on the host.
                Some(sent) => Some(mine.lease_cancelled(&sent.wait().await)),
                None if report.status == RollbackStatus::Verified => mine.cancel_lease().await,
                None => None,
            };
            (report, cancel)
        });
        by_task.insert(handle.id(), job);
    }
    let mut out = BatchOutcome::default();
    while let Some(joined) = tasks.join_next_with_id().await {
        let (id, report, cancel) = match joined {
            Ok((id, (report, cancel))) => (id, report, cancel),
            Err(e) => (e.id(), lost(&e.to_string()), None),
        };
        let Some(job) = by_task.remove(&id) else {
            continue;
        };
        out.results.push((
            job.fault.clone(),
            job.host_name().to_string(),
            report.status,
            report.how.clone(),
        ));
        record(job.result(report));
        if let Some(c) = cancel {
            record(c);
        }
    }
    out
}
