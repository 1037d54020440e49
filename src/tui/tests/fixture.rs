//! A recorded game day, built in code: a checkout scenario whose error rate breaches, a halt, and
//! the rollback. Times are fixed, so every snapshot is deterministic.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};

use crate::event::{
    CommandOutcome, Envelope, Event, MilestoneKind, Phase, RollbackStatus, RuleCheck, Verdict,
};
use crate::scenario::Scenario;
use crate::tui::app::App;
use crate::tui::picker::{Entry, Picker};

pub const YAML: &str = r#"
title: Checkout survives a slow payment provider
hypothesis: With 2 s of extra payment latency, checkout errors stay under 5 %.
max_duration: 10m
targets:
  web: { local: true }
metrics:
  error_rate: { command: "cat /tmp/err", target: web, every: 1s, timeout: 2s, unit: "%" }
  latency_ms: { command: "cat /tmp/lat", target: web, every: 1s, timeout: 2s, unit: ms }
steady_state:
  - { metric: error_rate, below: 5 }
abort:
  - { metric: error_rate, above: 5, for: 30s }
  - { metric: latency_ms, above: 3000, for: 10s }
checklist:
  - Payments team on the bridge
steps:
  - { name: Baseline, duration: 10s, prompt: "Confirm both panels are flat." }
  - name: Slow payments
    duration: 60s
    prompt: "Payments slow down. Watch the error rate; mark detected."
    faults:
      - kind: command
        id: slow-pay
        target: web
        inject: "touch /tmp/slow"
        rollback: "rm -f /tmp/slow"
  - { name: Recovery, duration: 20s }
"#;

pub fn scenario() -> Arc<Scenario> {
    Arc::new(
        Scenario::parse(Path::new("scenarios/checkout.yaml"), YAML)
            .expect("fixture scenario is valid"),
    )
}

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 20, 0, 0)
        .single()
        .expect("fixed time")
}

pub fn at(ms: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::milliseconds(ms)
}

pub struct Recorder {
    pub events: Vec<Envelope>,
}

impl Recorder {
    pub fn push(&mut self, ms: i64, event: Event) {
        self.events.push(Envelope {
            seq: self.events.len() as u64,
            ts: at(ms),
            run: "20261123T200000Z-0001".into(),
            event,
        });
    }

    fn samples(&mut self, from_s: i64, to_s: i64, err: impl Fn(i64) -> f64) {
        for s in from_s..to_s {
            self.push(
                s * 1000 + 100,
                Event::Sample {
                    metric: "error_rate".into(),
                    value: Some(err(s)),
                    error: None,
                },
            );
            let lat = 120.0 + (s % 7) as f64 * 15.0 + if s >= 11 { 2000.0 } else { 0.0 };
            self.push(
                s * 1000 + 200,
                Event::Sample {
                    metric: "latency_ms".into(),
                    value: Some(lat),
                    error: None,
                },
            );
        }
    }
}

/// Until T+26 s: the error rate has breached its 30 s abort rule for 12 s.
pub fn breaching() -> Vec<Envelope> {
    let mut r = Recorder { events: Vec::new() };
    r.push(
        0,
        Event::RunStarted {
            scenario: Box::new((*scenario()).clone()),
            gameday_version: "0.1.0".into(),
            dry_run: None,
        },
    );
    r.push(
        1,
        Event::PhaseStarted {
            phase: Phase::Preflight,
        },
    );
    r.push(
        40,
        Event::PreflightCheck {
            check: "target web: local reachable".into(),
            ok: true,
            detail: "exit 0".into(),
        },
    );
    r.push(
        60,
        Event::PreflightCheck {
            check: "metric error_rate returns data".into(),
            ok: true,
            detail: "value 1".into(),
        },
    );
    r.push(
        70,
        Event::PhaseStarted {
            phase: Phase::SteadyStateBefore,
        },
    );
    r.push(
        90,
        Event::SteadyState {
            phase: Phase::SteadyStateBefore,
            held: true,
            checks: vec![RuleCheck {
                rule: "error_rate < 5".into(),
                metric: "error_rate".into(),
                value: Some(1.0),
                held: true,
                reason: None,
            }],
        },
    );
    r.push(
        91,
        Event::PhaseStarted {
            phase: Phase::Steps,
        },
    );
    r.push(
        92,
        Event::StepStarted {
            index: 0,
            name: "Baseline".into(),
            duration_ms: 10_000,
            prompt: Some("Confirm both panels are flat.".into()),
        },
    );
    r.samples(0, 10, |_| 1.0);
    r.push(
        10_092,
        Event::StepEnded {
            index: 0,
            name: "Baseline".into(),
            advanced: false,
        },
    );
    r.push(
        10_093,
        Event::StepStarted {
            index: 1,
            name: "Slow payments".into(),
            duration_ms: 60_000,
            prompt: Some("Payments slow down. Watch the error rate; mark detected.".into()),
        },
    );
    r.push(
        10_094,
        Event::FaultIntent {
            fault: "slow-pay".into(),
            kind: "command".into(),
            step: 1,
            target: "web".into(),
            host: "local".into(),
            inject: "touch /tmp/slow".into(),
            undo: Some("rm -f /tmp/slow".into()),
            verify: None,
            irreversible: false,
            timeout_ms: 30_000,
        },
    );
    r.push(
        11_000,
        Event::FaultInjected {
            fault: "slow-pay".into(),
            host: "local".into(),
            ok: true,
            outcome: CommandOutcome {
                exit: Some(0),
                ms: 5,
                ..Default::default()
            },
        },
    );
    r.samples(10, 14, |s| 1.0 + (s - 10) as f64);
    r.push(
        14_100,
        Event::RuleBreaching {
            rule: 0,
            label: "error_rate > 5".into(),
            value: Some(8.0),
            left_ms: 30_000,
            reason: None,
        },
    );
    r.samples(14, 26, |s| 8.0 + (s % 3) as f64);
    r.push(
        20_000,
        Event::Note {
            role: "scribe".into(),
            text: "Checkout errors visible on the dashboard".into(),
            action: false,
            // Written as a journal from before note kinds: an observation.
            kind: None,
            owner: None,
            due: None,
            metrics: Default::default(),
            faults: vec![],
        },
    );
    r.push(
        22_000,
        Event::Milestone {
            kind: MilestoneKind::Detected,
            role: "IC".into(),
        },
    );
    r.events.sort_by_key(|e| e.ts);
    for (i, e) in r.events.iter_mut().enumerate() {
        e.seq = i as u64;
    }
    r.events
}

/// Until T+28 s: the IC pressed X at T+27 and the rollback is in flight.
pub fn halting() -> Vec<Envelope> {
    let mut r = Recorder {
        events: breaching(),
    };
    r.push(
        27_000,
        Event::HaltRequested {
            by: "IC".into(),
            reason: "big red button".into(),
        },
    );
    r.push(
        27_001,
        Event::PhaseStarted {
            phase: Phase::Rollback,
        },
    );
    r.push(
        27_002,
        Event::RollbackStarted {
            fault: "slow-pay".into(),
            host: "local".into(),
        },
    );
    r.events
}

/// A halt on a fleet: besides slow-pay, `fleet-lat` on 1,000 hosts; 812 verified, 3 unknown,
/// the rest still rolling back.
pub fn halting_fleet() -> Vec<Envelope> {
    let mut r = Recorder {
        events: breaching(),
    };
    let host = |i: usize| format!("web-{i:04}:22");
    for i in 1..=1000 {
        r.push(
            11_500,
            Event::FaultIntent {
                fault: "fleet-lat".into(),
                kind: "latency".into(),
                step: 1,
                target: "fleet".into(),
                host: host(i),
                inject: "tc qdisc add …".into(),
                undo: Some("tc qdisc del …".into()),
                verify: None,
                irreversible: false,
                timeout_ms: 30_000,
            },
        );
        r.push(
            11_600,
            Event::FaultInjected {
                fault: "fleet-lat".into(),
                host: host(i),
                ok: true,
                outcome: CommandOutcome {
                    exit: Some(0),
                    ms: 5,
                    ..Default::default()
                },
            },
        );
    }
    r.push(
        27_000,
        Event::HaltRequested {
            by: "IC".into(),
            reason: "big red button".into(),
        },
    );
    r.push(
        27_001,
        Event::PhaseStarted {
            phase: Phase::Rollback,
        },
    );
    r.push(
        27_002,
        Event::RollbackStarted {
            fault: "slow-pay".into(),
            host: "local".into(),
        },
    );
    for i in 1..=1000 {
        r.push(
            27_003,
            Event::RollbackStarted {
                fault: "fleet-lat".into(),
                host: host(i),
            },
        );
    }
    for i in 1..=815 {
        let status = if i > 812 {
            RollbackStatus::Unknown
        } else {
            RollbackStatus::Verified
        };
        r.push(
            27_400,
            Event::RollbackResult {
                fault: "fleet-lat".into(),
                host: host(i),
                status,
                how: "verify passed".into(),
                attempts: 1,
                undo: CommandOutcome {
                    exit: (status == RollbackStatus::Verified).then_some(0),
                    ms: 4,
                    ..Default::default()
                },
                verify: None,
                manual: None,
            },
        );
    }
    r.events
}

/// The whole run: rollback verified 1.8 s after the halt, verdict, an action item.
pub fn finished() -> Vec<Envelope> {
    let mut r = Recorder { events: halting() };
    r.push(
        27_500,
        Event::Note {
            role: "IC".into(),
            text: "Add a circuit breaker on the payment client".into(),
            action: true,
            // Written as a journal from before note kinds: an action item with no owner.
            kind: None,
            owner: None,
            due: None,
            metrics: Default::default(),
            faults: vec![],
        },
    );
    r.push(
        28_800,
        Event::RollbackResult {
            fault: "slow-pay".into(),
            host: "local".into(),
            status: RollbackStatus::Verified,
            how: "undo exit status".into(),
            attempts: 1,
            undo: CommandOutcome {
                exit: Some(0),
                ms: 4,
                ..Default::default()
            },
            verify: None,
            manual: None,
        },
    );
    r.push(
        28_801,
        Event::RollbackFinished {
            all_verified: true,
            faults: 1,
            since_halt_ms: Some(1_800),
        },
    );
    r.push(
        28_802,
        Event::PhaseStarted {
            phase: Phase::Verdict,
        },
    );
    r.push(
        28_803,
        Event::Verdict {
            verdict: Verdict::Aborted,
            exit_code: 1,
            reason: "big red button".into(),
        },
    );
    r.push(28_804, Event::RunEnded);
    r.events
}

pub fn picker() -> Picker {
    Picker::from_entries(vec![
        Entry {
            template: false,
            path: PathBuf::from("scenarios/checkout.yaml"),
            scenario: Ok(scenario()),
        },
        Entry {
            template: false,
            path: PathBuf::from("scenarios/broken.yaml"),
            scenario: Err(vec![
                "7:5: unknown field `tragets`, expected one of `title`, `targets`, …".into(),
            ]),
        },
    ])
}

/// A live console that has seen `events`, its clock at `now_ms`.
pub fn live(events: &[Envelope], now_ms: i64) -> App {
    let mut app = App::preflight(t0(), picker(), scenario());
    app.started = true;
    for e in events {
        app.apply(e);
    }
    app.update(crate::tui::Action::Tick(at(now_ms)));
    app
}

/// The halting run on two SSH hosts the demo lab pointed at loopback ports: `shop-1` and a long
/// name, as the scenario wrote them, journaled with their addresses.
pub fn named_hosts() -> Vec<Envelope> {
    use crate::scenario::{HostAddr, Transport};
    const HOSTS: [(&str, &str); 2] = [
        ("shop-1", "127.0.0.1:45271"),
        ("checkout-db-primary-eu-west-1a", "127.0.0.1:45272"),
    ];
    let mut scenario = (*scenario()).clone();
    let web = scenario.targets.get_mut("web").expect("fixture target");
    web.transport = Transport::Ssh {
        hosts: HOSTS
            .iter()
            .enumerate()
            .map(|(i, (name, _))| HostAddr {
                name: Some(name.to_string()),
                ..HostAddr::new("127.0.0.1", 45271 + i as u16)
            })
            .collect(),
        user: Some("gameday".into()),
        sudo: false,
        identity: None,
    };
    let mut out = Vec::new();
    for env in halting() {
        let on = |host: &str| {
            let mut e = env.clone();
            match &mut e.event {
                Event::FaultIntent { host: h, .. }
                | Event::FaultInjected { host: h, .. }
                | Event::RollbackStarted { host: h, .. } => *h = host.to_string(),
                _ => {}
            }
            e
        };
        match &env.event {
            Event::RunStarted { .. } => out.push(Envelope {
                event: Event::RunStarted {
                    scenario: Box::new(scenario.clone()),
                    gameday_version: "0.1.0".into(),
                    dry_run: None,
                },
                ..env.clone()
            }),
            Event::FaultIntent { .. }
            | Event::FaultInjected { .. }
            | Event::RollbackStarted { .. } => {
                out.extend(HOSTS.iter().map(|(_, addr)| on(addr)));
            }
            _ => out.push(env.clone()),
        }
    }
    for (i, e) in out.iter_mut().enumerate() {
        e.seq = i as u64;
    }
    out
}

/// The checkout scenario with success criteria: the baseline's latency throughout, and for the slow
/// payments step a recovery window and two human checks.
pub const YAML_PROVED: &str = r#"
title: Checkout survives a slow payment provider
hypothesis: With 2 s of extra payment latency, checkout errors stay under 5 %.
max_duration: 10m
targets:
  web: { local: true }
metrics:
  error_rate: { command: "cat /tmp/err", target: web, every: 1s, timeout: 2s, unit: "%" }
  latency_ms: { command: "cat /tmp/lat", target: web, every: 1s, timeout: 2s, unit: ms }
steady_state:
  - { metric: error_rate, below: 5 }
abort:
  - { metric: error_rate, above: 5, for: 30s }
  - { metric: latency_ms, above: 3000, for: 10s }
steps:
  - name: Baseline
    duration: 10s
    success:
      - { metric: latency_ms, below: 3000, throughout: true }
  - name: Slow payments
    duration: 60s
    expect: "Errors rise, the alert fires, the fallback keeps checkout up."
    faults:
      - kind: command
        id: slow-pay
        target: web
        inject: "touch /tmp/slow"
        rollback: "rm -f /tmp/slow"
    success:
      - { metric: error_rate, below: 5, within: 10s, after: rollback }
      - { check: "Pager alert reached on-call", by: IC }
      - { check: "Status page updated" }
  - { name: Recovery, duration: 20s }
"#;

/// [`finished`] on [`YAML_PROVED`]: the baseline passed, the IC ticked the pager check at T+25, the
/// halt left the recovery window undecided and the status-page check not checked; notes of every
/// kind (the first two as journals from before kinds wrote them).
pub fn proved() -> Vec<Envelope> {
    use crate::event::{CriterionOutcome, NoteKind, StepOutcome};
    let scenario = Scenario::parse(Path::new("scenarios/checkout.yaml"), YAML_PROVED)
        .expect("fixture scenario is valid");
    let mut r = Recorder {
        events: finished()
            .into_iter()
            .map(|mut e| {
                if let Event::RunStarted { scenario: s, .. } = &mut e.event {
                    **s = scenario.clone();
                }
                e
            })
            .collect(),
    };
    let criterion = |step,
                     index,
                     label: &str,
                     outcome,
                     value,
                     after_ms,
                     reason: Option<&str>,
                     by: Option<&str>| {
        Event::CriterionResult {
            step,
            index,
            label: label.into(),
            outcome,
            value,
            after_ms,
            reason: reason.map(str::to_string),
            by: by.map(str::to_string),
        }
    };
    r.push(
        10_092,
        criterion(
            0,
            0,
            "latency_ms < 3000 throughout the step",
            CriterionOutcome::Passed,
            Some(225.0),
            Some(10_000),
            None,
            None,
        ),
    );
    r.push(
        10_092,
        Event::StepResult {
            index: 0,
            name: "Baseline".into(),
            outcome: StepOutcome::Passed,
            passed: 1,
            failed: 0,
            open: 0,
        },
    );
    r.push(
        25_000,
        criterion(
            1,
            1,
            "Pager alert reached on-call",
            CriterionOutcome::Passed,
            None,
            Some(14_907),
            None,
            Some("IC"),
        ),
    );
    r.push(
        27_003,
        criterion(
            1,
            0,
            "error_rate < 5 within 10s after the rollback",
            CriterionOutcome::Undecided,
            None,
            None,
            Some("the run halted before it was decided"),
            None,
        ),
    );
    r.push(
        28_802,
        criterion(
            1,
            2,
            "Status page updated",
            CriterionOutcome::NotChecked,
            None,
            None,
            Some("no one ticked it before the run ended"),
            None,
        ),
    );
    r.push(
        28_802,
        Event::StepResult {
            index: 1,
            name: "Slow payments".into(),
            outcome: StepOutcome::Undecided,
            passed: 1,
            failed: 0,
            open: 2,
        },
    );
    let note = |role: &str, text: &str, kind: NoteKind, owner: Option<&str>, due: Option<&str>| {
        Event::Note {
            role: role.into(),
            text: text.into(),
            action: kind == NoteKind::ActionItem,
            kind: Some(kind),
            owner: owner.map(str::to_string),
            due: due.map(str::to_string),
            metrics: Default::default(),
            faults: vec![],
        }
    };
    r.push(
        23_000,
        note(
            "scribe",
            "Alert fired within a minute",
            NoteKind::WentWell,
            None,
            None,
        ),
    );
    r.push(
        24_000,
        note(
            "IC",
            "Dashboard lagged the real error rate by 30 s",
            NoteKind::WentWrong,
            None,
            None,
        ),
    );
    r.push(
        24_500,
        note(
            "observer",
            "Why did the client not back off?",
            NoteKind::Question,
            None,
            None,
        ),
    );
    r.push(
        26_000,
        note(
            "scribe",
            "Runbook does not name the fallback flag",
            NoteKind::RunbookGap,
            None,
            None,
        ),
    );
    r.push(
        26_500,
        note(
            "IC",
            "Alert on p99 latency, not only errors",
            NoteKind::ActionItem,
            Some("payments-oncall"),
            Some("2026-12-15"),
        ),
    );
    r.events.sort_by_key(|e| e.ts);
    for (i, e) in r.events.iter_mut().enumerate() {
        e.seq = i as u64;
    }
    r.events
}
