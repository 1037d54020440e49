//! `gameday recover`: for a run that died, roll back every fault that may still be on its host and
//! append the results to the same journal.
//!
//! Nothing here is a second halt path. Which faults are left is the fold's answer
//! ([`RunState::unresolved`]); hosts are opened through [`target::open_each`] (the same connection
//! path as a run); each fault goes back through the engine's [`RollbackJob`] in a [`run_batch`]: the
//! same undo/verify, report, manual-command text and lease cancel as the engine's halt.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Utc;

use crate::engine::rollback::{BatchOutcome, RollbackJob, run_batch};
use crate::event::{Event, RollbackStatus};
use crate::fault::FaultPlan;
use crate::fold::RunState;
use crate::journal::{JournalError, JournalWriter};
use crate::target::{self, OpenOptions};

#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("the journal has no run_started record: cannot tell which hosts its faults were on")]
    NoScenario,
}

#[derive(Debug)]
pub struct Recovery {
    /// (fault, host, status, how) per fault rolled back, in the order the results came in.
    pub results: Vec<(String, String, RollbackStatus, String)>,
    /// Records that could not be appended to the journal (they were written to stderr instead).
    pub unjournaled: usize,
    /// The copy of the journal kept before a torn last line was cut off, if one was.
    pub repaired: Option<PathBuf>,
}

impl Recovery {
    pub fn all_verified(&self) -> bool {
        self.unjournaled == 0
            && self
                .results
                .iter()
                .all(|(_, _, s, _)| *s == RollbackStatus::Verified)
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

/// Rolls back every unresolved fault in parallel and appends each result to the journal.
pub async fn recover(journal: &Path, options: &OpenOptions) -> Result<Recovery, RecoverError> {
    // The lock first: a live run's journal is refused and left untouched.
    let mut writer = JournalWriter::append_to(journal)?;
    let (run, _) = RunState::from_journal(journal)?;
    let scenario = run.scenario.clone().ok_or(RecoverError::NoScenario)?;
    writer.redact(crate::metric::secret_values(&scenario));
    let todo: Vec<_> = run.unresolved().cloned().collect();
    drop(run);
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
    let wanted: Vec<(String, String)> = todo
        .iter()
        .map(|f| (f.target.clone(), f.host.clone()))
        .collect();
    let hosts = target::open_each(&scenario, &wanted, options).await;
    for key in options.ssh.accepted.take() {
        record(&mut writer, key.into(), &mut unjournaled);
    }
    // An inject that had no answer when the run died may still be running on its host, and
    // land after this rollback. It is bounded there (`target::host_bound`: the host's own
    // `timeout`), so: roll back now, keep its lease armed, wait until it cannot be running any
    // more, then roll it back again and only then stand the lease down.
    let in_flight: Vec<_> = todo
        .iter()
        .filter(|f| f.inject_in_flight())
        .cloned()
        .collect();
    let job = |f: crate::fold::FaultRow, cancel_lease: bool| {
        // `open_each` answers for every host asked; were one missing, its fault still gets a
        // result (UNKNOWN, with the reason) rather than being skipped.
        let host = hosts
            .get(&(f.target.clone(), f.host.clone()))
            .cloned()
            .unwrap_or_else(|| {
                Arc::new(target::Unreachable::new(&f.host, "not opened".into(), None))
                    as Arc<dyn target::Host>
            });
        RollbackJob {
            fault: f.fault,
            host,
            plan: FaultPlan {
                inject: f.inject,
                undo: f.undo,
                verify: f.verify,
                // recover never injects: the refusal contract does not apply.
                refusable: false,
            },
            timeout: std::time::Duration::from_millis(f.timeout_ms),
            lease_cancel: f.lease_cancel.filter(|_| cancel_lease),
        }
    };
    let jobs = todo
        .into_iter()
        .map(|f| {
            let settled = !f.inject_in_flight();
            job(f, settled)
        })
        .collect();
    let BatchOutcome { mut results } = run_batch(jobs, options.fanout, |event| {
        record(&mut writer, event, &mut unjournaled)
    })
    .await;
    if !in_flight.is_empty() {
        let bound = in_flight
            .iter()
            .map(|f| target::host_bound(std::time::Duration::from_millis(f.timeout_ms)))
            .max()
            .unwrap_or_default();
        for f in &in_flight {
            crate::outln!(
                "{} on {}: its inject was still running when the run died and may still land; rolling it back again once it cannot be running (within {} of recover's start)",
                f.fault,
                f.host_label(),
                crate::fmt::duration(bound)
            );
        }
        tokio::time::sleep(bound.saturating_sub(started.elapsed())).await;
        let again: Vec<_> = in_flight.into_iter().map(|f| job(f, true)).collect();
        let BatchOutcome { results: second } = run_batch(again, options.fanout, |event| {
            record(&mut writer, event, &mut unjournaled)
        })
        .await;
        // The second result is the one that stands for those faults.
        results.retain(|(fault, host, _, _)| {
            !second.iter().any(|(f, h, _, _)| f == fault && h == host)
        });
        results.extend(second);
    }
    let mut recovery = Recovery {
        results,
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
