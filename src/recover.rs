//! `gameday recover`: for a run that died, roll back every fault that has an intent in the journal
//! and no verified rollback, verify, and append the results to the same journal.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::event::{Envelope, Event, RollbackStatus};
use crate::fault::{FaultPlan, roll_back};
use crate::journal::{JournalError, JournalWriter};
use crate::scenario::{Scenario, Transport};
use crate::target::{Host, local::LocalHost};

/// A fault on a host that the journal does not show as safely back.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub fault: String,
    pub target: String,
    pub host: String,
    pub plan: FaultPlan,
    pub timeout: Duration,
}

/// Every intent without a VERIFIED rollback after it, irreversible faults excepted.
pub fn pending(events: &[Envelope]) -> Vec<Pending> {
    let mut open: BTreeMap<(String, String), Pending> = BTreeMap::new();
    for e in events {
        match &e.event {
            Event::FaultIntent {
                fault,
                target,
                host,
                inject,
                undo: Some(undo),
                verify,
                irreversible: false,
                timeout_ms,
                ..
            } => {
                open.insert(
                    (fault.clone(), host.clone()),
                    Pending {
                        fault: fault.clone(),
                        target: target.clone(),
                        host: host.clone(),
                        plan: FaultPlan {
                            inject: inject.clone(),
                            undo: Some(undo.clone()),
                            verify: verify.clone(),
                        },
                        timeout: Duration::from_millis(*timeout_ms),
                    },
                );
            }
            Event::RollbackResult {
                fault,
                host,
                status: RollbackStatus::Verified,
                ..
            } => {
                open.remove(&(fault.clone(), host.clone()));
            }
            _ => {}
        }
    }
    open.into_values().collect()
}

#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("the journal has no run_started record: cannot tell which hosts its faults were on")]
    NoScenario,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Recovery {
    pub results: Vec<(Pending, RollbackStatus, String)>,
    /// Rollback tasks that died without a result: their faults are in an unknown state.
    pub lost: usize,
}

impl Recovery {
    pub fn all_verified(&self) -> bool {
        self.lost == 0
            && self
                .results
                .iter()
                .all(|(_, s, _)| *s == RollbackStatus::Verified)
    }
}

/// Opens the host a pending fault was on, as the run did.
fn open_host(scenario: &Scenario, p: &Pending) -> Result<Arc<dyn Host>, String> {
    match scenario.targets.get(&p.target).map(|t| &t.transport) {
        Some(Transport::Local) => Ok(Arc::new(LocalHost::new())),
        Some(Transport::Ssh { .. }) => Err(format!(
            "host {} is reached over SSH, which this build cannot do yet",
            p.host
        )),
        None => Err(format!(
            "target `{}` is not in the journal's scenario",
            p.target
        )),
    }
}

/// Rolls back every pending fault in parallel and appends each result to the journal.
pub async fn recover(journal: &Path) -> Result<Recovery, RecoverError> {
    let (mut writer, events) = JournalWriter::append_to(journal)?;
    let scenario = events
        .iter()
        .find_map(|e| match &e.event {
            Event::RunStarted { scenario, .. } => Some(scenario.clone()),
            _ => None,
        })
        .ok_or(RecoverError::NoScenario)?;
    let todo = pending(&events);
    writer.append(
        Utc::now(),
        Event::HaltRequested {
            by: "recover".into(),
            reason: format!(
                "gameday recover: {} fault(s) without a verified rollback",
                todo.len()
            ),
        },
    )?;
    let started = std::time::Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for p in todo {
        let host = open_host(&scenario, &p);
        tasks.spawn(async move {
            match host {
                Ok(h) => {
                    let r = roll_back(h.as_ref(), &p.plan, p.timeout).await;
                    let manual = p.plan.undo.as_ref().map(|u| h.manual(u));
                    (p, r.status, r.how, r.attempts, r.undo, r.verify, manual)
                }
                Err(why) => {
                    let manual = p.plan.undo.clone();
                    (
                        p,
                        RollbackStatus::Unknown,
                        why,
                        0,
                        Default::default(),
                        None,
                        manual,
                    )
                }
            }
        });
    }
    let mut results = Vec::new();
    let mut lost = 0;
    while let Some(joined) = tasks.join_next().await {
        let Ok((p, status, how, attempts, undo, verify, manual)) = joined else {
            lost += 1;
            continue;
        };
        writer.append(
            Utc::now(),
            Event::RollbackResult {
                fault: p.fault.clone(),
                host: p.host.clone(),
                status,
                how: how.clone(),
                attempts,
                undo,
                verify,
                manual: (status != RollbackStatus::Verified)
                    .then_some(manual)
                    .flatten(),
            },
        )?;
        results.push((p, status, how));
    }
    let recovery = Recovery { results, lost };
    writer.append(
        Utc::now(),
        Event::RollbackFinished {
            all_verified: recovery.all_verified(),
            faults: recovery.results.len(),
            since_halt_ms: Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)),
        },
    )?;
    Ok(recovery)
}
