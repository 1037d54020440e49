//! The engine's lease handling with a scripted remote host under tokio's paused clock: arm
//! before inject, renew at a third of the lease while healthy, cancel after a verified rollback;
//! a failed arm means no inject, a failed renewal halts the run.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gameday::engine::Options;
use gameday::event::{CommandOutcome, Envelope, Event};
use gameday::scenario::Scenario;
use gameday::target::{BoxFuture, Host, HostMap};
use gameday::{journal, session};

/// A "remote" host that leases, answers from rules, and records what it was asked.
struct Remote {
    asked: Mutex<Vec<String>>,
    arm_ok: bool,
    renew_ok: bool,
}

impl Host for Remote {
    fn name(&self) -> &str {
        "db-1"
    }
    fn exec<'a>(&'a self, command: &'a str, _t: Duration) -> BoxFuture<'a, CommandOutcome> {
        self.asked.lock().unwrap().push(command.to_string());
        let code = if command.contains("refusing to arm") {
            if self.arm_ok { 0 } else { 1 }
        } else if command.contains("not renewing") {
            if self.renew_ok { 0 } else { 3 }
        } else {
            0
        };
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            CommandOutcome {
                exit: Some(code),
                ms: 5,
                ..Default::default()
            }
        })
    }
    fn management_port(&self) -> Option<u16> {
        Some(22)
    }
    fn leases(&self) -> bool {
        true
    }
}

const SCENARIO: &str = "title: lease\nhypothesis: h\nmax_duration: 1m\n\
targets:\n  box: { hosts: [db-1], user: ops }\n\
steps:\n  - name: s\n    duration: 10s\n    faults:\n      - { kind: disk_fill, id: fill, target: box, path: /var/tmp, size: 1M, lease: 6s }\n";

async fn run(remote: Arc<Remote>) -> (i32, Vec<Envelope>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let scenario = Scenario::parse(Path::new("lease.yaml"), SCENARIO).unwrap();
    let mut hosts = HostMap::new();
    hosts.insert("box".into(), vec![remote.clone() as Arc<dyn Host>]);
    let path = dir.path().join("journal.jsonl");
    let running = session::start_on(
        Arc::new(scenario),
        hosts,
        Some(path.clone()),
        Options::default(),
    )
    .unwrap();
    let outcome = running.engine.await.unwrap().unwrap();
    let events = journal::read(&path).unwrap().events;
    let asked = remote.asked.lock().unwrap().clone();
    (outcome.exit_code, events, asked)
}

fn count(events: &[Envelope], f: impl Fn(&Event) -> bool) -> usize {
    events.iter().filter(|e| f(&e.event)).count()
}

fn index_of(asked: &[String], needle: &str) -> usize {
    asked
        .iter()
        .position(|c| c.contains(needle))
        .unwrap_or_else(|| panic!("never asked {needle}: {asked:#?}"))
}

#[tokio::test(start_paused = true)]
async fn armed_before_inject_renewed_while_healthy_cancelled_after_verify() {
    let remote = Arc::new(Remote {
        asked: Mutex::new(vec![]),
        arm_ok: true,
        renew_ok: true,
    });
    let (code, events, asked) = run(remote).await;
    assert_eq!(code, 0, "{events:#?}");
    // Ownership marks carry the run id the session gave the journal.
    let run = &events[0].run;
    let arm = index_of(&asked, "refusing to arm");
    let inject = index_of(&asked, "fallocate");
    let undo = asked
        .iter()
        .position(|c| *c == format!("rm -f -- /var/tmp/.gameday-{run}-fill.fill"))
        .unwrap();
    let cancel = asked
        .iter()
        .rposition(|c| {
            c.contains(&format!("n=gameday-{run}-fill--db-1;")) && c.contains("could not be ended")
        })
        .unwrap();
    assert!(arm < inject && inject < undo && undo < cancel, "{asked:#?}");
    // A 10 s step with a 6 s lease renewed every 2 s.
    let renewed = count(&events, |e| {
        matches!(e, Event::LeaseRenewed { ok: true, .. })
    });
    assert!((4..=5).contains(&renewed), "{renewed} renewals");
    assert_eq!(
        count(&events, |e| matches!(
            e,
            Event::LeaseArmed {
                ok: true,
                lease_ms: 6000,
                ..
            }
        )),
        1
    );
    assert_eq!(
        count(&events, |e| matches!(
            e,
            Event::LeaseCancelled { ok: true, .. }
        )),
        1
    );
    // The cancel comes after the verified result in the journal.
    let verified = events
        .iter()
        .position(|e| matches!(e.event, Event::RollbackResult { .. }))
        .unwrap();
    let cancelled = events
        .iter()
        .position(|e| matches!(e.event, Event::LeaseCancelled { .. }))
        .unwrap();
    assert!(verified < cancelled);
}

#[tokio::test(start_paused = true)]
async fn a_lease_that_cannot_be_armed_means_no_inject() {
    let remote = Arc::new(Remote {
        asked: Mutex::new(vec![]),
        arm_ok: false,
        renew_ok: true,
    });
    let (code, events, asked) = run(remote).await;
    assert!(!asked.iter().any(|c| c.contains("fallocate")), "{asked:#?}");
    assert_eq!(code, 1, "aborted, everything (nothing) rolled back");
    assert_eq!(
        count(&events, |e| matches!(
            e,
            Event::LeaseArmed { ok: false, .. }
        )),
        1
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_renewal_halts_and_rolls_back() {
    let remote = Arc::new(Remote {
        asked: Mutex::new(vec![]),
        arm_ok: true,
        renew_ok: false,
    });
    let (code, events, _asked) = run(remote).await;
    assert_eq!(code, 1);
    let halt: BTreeMap<_, _> = events
        .iter()
        .filter_map(|e| match &e.event {
            Event::HaltRequested { by, reason } => Some((by.clone(), reason.clone())),
            _ => None,
        })
        .collect();
    assert!(
        halt.get("lease")
            .is_some_and(|r| r.contains("could not be renewed")),
        "{halt:?}"
    );
    assert_eq!(
        count(&events, |e| matches!(e, Event::RollbackResult { .. })),
        1
    );
}
