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
use crate::target::{self, Host, OpenOptions, local::LocalHost, ssh::SshTarget};

/// A fault on a host that the journal does not show as safely back.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub fault: String,
    pub target: String,
    pub host: String,
    pub plan: FaultPlan,
    pub timeout: Duration,
    /// Stands the host's dead-man lease down once the rollback is verified.
    pub lease_cancel: Option<String>,
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
                            // recover never injects: the refusal contract does not apply.
                            refusable: false,
                        },
                        timeout: Duration::from_millis(*timeout_ms),
                        lease_cancel: None,
                    },
                );
            }
            Event::LeaseArmed {
                fault,
                host,
                cancel,
                ..
            } => {
                if let Some(p) = open.get_mut(&(fault.clone(), host.clone())) {
                    p.lease_cancel = Some(cancel.clone());
                }
            }
            Event::RollbackResult {
                fault,
                host,
                status: RollbackStatus::Verified,
                ..
            }
            // Refused by its check, or skipped by a halt: never on the host, so never undone.
            | Event::FaultNotInjected { fault, host, .. } => {
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
    /// Records that could not be appended to the journal (they were written to stderr instead).
    pub unjournaled: usize,
    /// The copy of the journal kept before a torn last line was cut off, if one was.
    pub repaired: Option<std::path::PathBuf>,
}

impl Recovery {
    pub fn all_verified(&self) -> bool {
        self.lost == 0
            && self.unjournaled == 0
            && self
                .results
                .iter()
                .all(|(_, s, _)| *s == RollbackStatus::Verified)
    }
}

/// Appends one record; when the journal cannot take it, the record goes to stderr as its JSON
/// line instead, and the rollback carries on: a full disk must not stop a recovery.
fn record(writer: &mut JournalWriter, event: Event, unjournaled: &mut usize) {
    if let Err(e) = writer.append(Utc::now(), event.clone()) {
        *unjournaled += 1;
        tracing::error!(error = %e, "recover: cannot append to the journal");
        let line = serde_json::to_string(&event).unwrap_or_else(|_| format!("{event:?}"));
        crate::errln!("gameday: recover: not journaled ({e}): {line}");
    }
}

/// The SSH target a pending fault's host was reached through, as the run's scenario says.
fn ssh_target_of(scenario: &Scenario, p: &Pending) -> Option<SshTarget> {
    let t = scenario.targets.get(&p.target)?;
    target::ssh_targets(&t.transport)
        .into_iter()
        .find(|s| s.addr.to_string() == p.host)
}

/// Reopens every host with pending faults, as the run did: each SSH host once, concurrently.
/// A host that cannot be reached (or whose key is refused) leaves its faults UNKNOWN.
async fn open_hosts(
    scenario: &Scenario,
    todo: &[Pending],
    options: &OpenOptions,
) -> BTreeMap<(String, String), Result<Arc<dyn Host>, String>> {
    let mut out = BTreeMap::new();
    let mut wanted = Vec::new();
    for p in todo {
        let key = (p.target.clone(), p.host.clone());
        let opened = match scenario.targets.get(&p.target).map(|t| &t.transport) {
            Some(Transport::Local) => Ok(Arc::new(LocalHost::new()) as Arc<dyn Host>),
            Some(Transport::Ssh { .. }) => match ssh_target_of(scenario, p) {
                Some(t) => {
                    wanted.push(t);
                    continue;
                }
                None => Err(format!(
                    "host {} is not in target `{}` of the journal's scenario",
                    p.host, p.target
                )),
            },
            None => Err(format!(
                "target `{}` is not in the journal's scenario",
                p.target
            )),
        };
        out.insert(key, opened);
    }
    wanted.sort();
    wanted.dedup();
    // One host at a time through connect_all, so one refused host does not hide the others.
    let mut tasks = tokio::task::JoinSet::new();
    for t in wanted {
        let options = options.clone();
        tasks.spawn(async move {
            let r = target::connect_all(vec![t.clone()], &options).await;
            (t, r)
        });
    }
    let mut reached: BTreeMap<SshTarget, Result<Arc<dyn Host>, String>> = BTreeMap::new();
    // A connect task that panicked costs only its own host (left "connect task failed" below);
    // every other host is still waited for and tried.
    while let Some(joined) = tasks.join_next().await {
        let Ok((t, r)) = joined else {
            tracing::error!("a connect task failed during recover");
            continue;
        };
        let h = r
            .map_err(|e| e.to_string())
            .and_then(|mut m| m.remove(&t).ok_or_else(|| "not opened".to_string()));
        reached.insert(t, h);
    }
    for p in todo {
        if let Some(t) = ssh_target_of(scenario, p) {
            let h = reached
                .get(&t)
                .cloned()
                .unwrap_or_else(|| Err("connect task failed".into()));
            out.insert((p.target.clone(), p.host.clone()), h);
        }
    }
    out
}

/// Rolls back every pending fault in parallel and appends each result to the journal.
pub async fn recover(journal: &Path, options: &OpenOptions) -> Result<Recovery, RecoverError> {
    let (mut writer, events) = JournalWriter::append_to(journal)?;
    let scenario = events
        .iter()
        .find_map(|e| match &e.event {
            Event::RunStarted { scenario, .. } => Some(scenario.clone()),
            _ => None,
        })
        .ok_or(RecoverError::NoScenario)?;
    writer.redact(crate::metric::secret_values(&scenario));
    let todo = pending(&events);
    let mut unjournaled = 0;
    record(
        &mut writer,
        Event::HaltRequested {
            by: "recover".into(),
            reason: format!(
                "gameday recover: {} fault(s) without a verified rollback",
                todo.len()
            ),
        },
        &mut unjournaled,
    );
    let started = std::time::Instant::now();
    let hosts = open_hosts(&scenario, &todo, options).await;
    let mut tasks = tokio::task::JoinSet::new();
    for p in todo {
        let host = hosts
            .get(&(p.target.clone(), p.host.clone()))
            .cloned()
            .unwrap_or_else(|| Err("not opened".into()));
        let by_hand = match (ssh_target_of(&scenario, &p), &p.plan.undo) {
            (Some(t), Some(u)) => Some(target::ssh::manual_command(&t, u)),
            (_, u) => u.clone(),
        };
        tasks.spawn(async move {
            match host {
                Ok(h) => {
                    let r = roll_back(h.as_ref(), &p.plan, p.timeout).await;
                    let manual = p.plan.undo.as_ref().map(|u| h.manual(u));
                    let cancelled = match (&p.lease_cancel, r.status) {
                        (Some(c), RollbackStatus::Verified) => {
                            Some(h.exec(c, p.timeout).await.success())
                        }
                        _ => None,
                    };
                    (
                        p, r.status, r.how, r.attempts, r.undo, r.verify, manual, cancelled,
                    )
                }
                Err(why) => {
                    let manual = by_hand;
                    (
                        p,
                        RollbackStatus::Unknown,
                        why,
                        0,
                        Default::default(),
                        None,
                        manual,
                        None,
                    )
                }
            }
        });
    }
    let mut results = Vec::new();
    let mut lost = 0;
    while let Some(joined) = tasks.join_next().await {
        let Ok((p, status, how, attempts, undo, verify, manual, cancelled)) = joined else {
            lost += 1;
            continue;
        };
        record(
            &mut writer,
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
            &mut unjournaled,
        );
        if let Some(ok) = cancelled {
            record(
                &mut writer,
                Event::LeaseCancelled {
                    fault: p.fault.clone(),
                    host: p.host.clone(),
                    ok,
                },
                &mut unjournaled,
            );
        }
        results.push((p, status, how));
    }
    let mut recovery = Recovery {
        results,
        lost,
        unjournaled,
        repaired: writer.repaired().map(Path::to_path_buf),
    };
    record(
        &mut writer,
        Event::RollbackFinished {
            all_verified: recovery.all_verified(),
            faults: recovery.results.len(),
            since_halt_ms: Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)),
        },
        &mut recovery.unjournaled,
    );
    Ok(recovery)
}
