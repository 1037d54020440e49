//! Engine tests: whole timed scenarios under tokio's paused clock, with a scripted host and probe.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::*;
use crate::event::{Envelope, Event};
use crate::metric::{Probe, ProbeMap, Reading};
use crate::target::{BoxFuture, Host, HostMap};

type Answer = Box<dyn Fn(&str) -> (CommandOutcome, Duration) + Send + Sync>;

/// A host whose answers are scripted per command; it records every command it was sent.
struct ScriptedHost {
    answer: Answer,
    log: Mutex<Vec<String>>,
    /// When set, each command checks that the journal already holds a fault intent for it.
    journal: Option<std::path::PathBuf>,
    intent_seen_before_inject: Mutex<Vec<bool>>,
    /// Whether faults on this host get a dead-man lease.
    leases: bool,
}

impl Host for ScriptedHost {
    fn name(&self) -> &str {
        "web-1"
    }
    fn exec<'a>(&'a self, command: &'a str, _timeout: Duration) -> BoxFuture<'a, CommandOutcome> {
        self.log.lock().unwrap().push(command.to_string());
        if command.starts_with("inject")
            && let Some(j) = &self.journal
        {
            {
                let text = std::fs::read_to_string(j).unwrap_or_default();
                self.intent_seen_before_inject
                    .lock()
                    .unwrap()
                    .push(text.contains("\"fault_intent\"") && text.contains(command));
            }
        }
        let (outcome, delay) = (self.answer)(command);
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            outcome
        })
    }
    fn manual(&self, command: &str) -> String {
        format!("ssh web-1 {command}")
    }
    fn leases(&self) -> bool {
        self.leases
    }
}

fn ok() -> (CommandOutcome, Duration) {
    (
        CommandOutcome {
            exit: Some(0),
            ms: 1,
            ..Default::default()
        },
        Duration::from_millis(5),
    )
}

fn fail() -> (CommandOutcome, Duration) {
    (
        CommandOutcome {
            exit: Some(1),
            stderr: "nope".into(),
            ..Default::default()
        },
        Duration::from_millis(5),
    )
}

/// A probe whose reading is a function of time since the test started.
struct TimedProbe {
    t0: Instant,
    f: Box<dyn Fn(Duration) -> Reading + Send + Sync>,
}

impl Probe for TimedProbe {
    fn poll(&self) -> BoxFuture<'_, Reading> {
        let r = (self.f)(self.t0.elapsed());
        Box::pin(async move { r })
    }
}

const BASE: &str = r#"
title: Engine test
hypothesis: errors stay low
max_duration: 5m
targets:
  web: { hosts: [web-1] }
metrics:
  errors: { command: "x", target: web, every: 1s, timeout: 1s }
steady_state:
  - { metric: errors, below: 100 }
abort:
  - { metric: errors, above: 500, for: 30s }
steps:
  - { name: Baseline, duration: 1m }
  - name: Break it
    duration: 2m
    faults:
      - { kind: command, id: f1, target: web, inject: "inject f1", rollback: "undo f1", verify: "verify f1" }
  - { name: Recovery, duration: 1m }
"#;

struct Run {
    outcome: RunOutcome,
    events: Vec<Envelope>,
    host: Arc<ScriptedHost>,
    _dir: tempfile::TempDir,
}

impl Run {
    fn kinds(&self) -> Vec<&'static str> {
        self.events.iter().map(|e| kind(&e.event)).collect()
    }
    /// Seconds since the run started at which the first event matching `pred` happened.
    fn at(&self, pred: impl Fn(&Event) -> bool) -> Option<f64> {
        let t0 = self.events[0].ts;
        self.events
            .iter()
            .find(|e| pred(&e.event))
            .map(|e| (e.ts - t0).num_milliseconds() as f64 / 1000.0)
    }
    fn has(&self, pred: impl Fn(&Event) -> bool) -> bool {
        self.events.iter().any(|e| pred(&e.event))
    }
}

fn kind(e: &Event) -> &'static str {
    match e {
        Event::RunStarted { .. } => "run_started",
        Event::PhaseStarted { .. } => "phase",
        Event::PreflightCheck { .. } => "preflight",
        Event::SteadyState { .. } => "steady",
        Event::StepStarted { .. } => "step_started",
        Event::StepEnded { .. } => "step_ended",
        Event::FaultIntent { .. } => "intent",
        Event::FaultInjected { .. } => "injected",
        Event::LeaseArmed { .. } => "lease_armed",
        Event::LeaseRenewed { .. } => "lease_renewed",
        Event::LeaseCancelled { .. } => "lease_cancelled",
        Event::Sample { .. } => "sample",
        Event::RuleBreaching { .. } => "breaching",
        Event::RuleCleared { .. } => "cleared",
        Event::RuleTripped { .. } => "tripped",
        Event::Note { .. } => "note",
        Event::Milestone { .. } => "milestone",
        Event::Retracted { .. } => "retracted",
        Event::HaltRequested { .. } => "halt",
        Event::RollbackStarted { .. } => "rollback_started",
        Event::RollbackResult { .. } => "rollback_result",
        Event::RollbackFinished { .. } => "rollback_finished",
        Event::Verdict { .. } => "verdict",
        Event::RunEnded => "run_ended",
        Event::PreflightHeld { .. } => "preflight_held",
        Event::PreflightOverridden { .. } => "preflight_overridden",
        Event::FaultNotInjected { .. } => "not_injected",
        Event::CriterionResult { .. } => "criterion",
        Event::StepResult { .. } => "step_result",
        Event::NoteEdited { .. } => "note_edited",
        Event::Notified { .. } => "notified",
        Event::HostsSelected { .. } => "hosts_selected",
        Event::SelectionRefused { .. } => "selection_refused",
        Event::ExpansionRoundStarted { .. } => "round_started",
        Event::ExpansionRoundEnded { .. } => "round_ended",
        Event::SeatJoined { .. } => "seat_joined",
        Event::SeatLeft { .. } => "seat_left",
        Event::SeatRefused { .. } => "seat_refused",
        Event::CtkActivity { .. } => "ctk_activity",
        Event::CtkStricter { .. } => "ctk_stricter",
        Event::HostKeyAccepted { .. } => "host_key_accepted",
    }
}

/// A run in progress: the engine on a scripted host, its journal, and the handle a console keeps.
struct Started {
    handle: Option<Handle>,
    task: tokio::task::JoinHandle<Result<RunOutcome, crate::journal::JournalError>>,
    host: Arc<ScriptedHost>,
    journal: std::path::PathBuf,
    dir: tempfile::TempDir,
}

impl Started {
    fn handle(&self) -> &Handle {
        self.handle.as_ref().expect("handle kept")
    }

    async fn finish(mut self) -> Run {
        let outcome = self.task.await.unwrap().unwrap();
        self.handle.take();
        let events = crate::journal::read(&self.journal).unwrap().events;
        Run {
            outcome,
            events,
            host: self.host,
            _dir: self.dir,
        }
    }
}

fn timed(f: impl Fn(Duration) -> Reading + Send + Sync + 'static) -> Arc<dyn Probe> {
    Arc::new(TimedProbe {
        t0: Instant::now(),
        f: Box::new(f),
    })
}

fn start(
    yaml: &str,
    answer: impl Fn(&str) -> (CommandOutcome, Duration) + Send + Sync + 'static,
    probe: Arc<dyn Probe>,
    options: Options,
) -> Started {
    start_on(yaml, answer, probe, options, false)
}

/// [`start`] on a host that takes dead-man leases when `leases` is set.
fn start_on(
    yaml: &str,
    answer: impl Fn(&str) -> (CommandOutcome, Duration) + Send + Sync + 'static,
    probe: Arc<dyn Probe>,
    options: Options,
    leases: bool,
) -> Started {
    let dir = tempfile::tempdir().unwrap();
    let scenario = Scenario::parse(&dir.path().join("s.yaml"), yaml).expect("valid scenario");
    let journal = dir.path().join("journal.jsonl");
    let host = Arc::new(ScriptedHost {
        answer: Box::new(answer),
        log: Mutex::new(vec![]),
        journal: Some(journal.clone()),
        intent_seen_before_inject: Mutex::new(vec![]),
        leases,
    });
    let mut hosts = HostMap::new();
    hosts.insert("web".into(), vec![host.clone() as Arc<dyn Host>]);
    let mut probes = ProbeMap::new();
    probes.insert("errors".into(), probe);
    let writer = crate::journal::JournalWriter::create(&journal, "test-run").unwrap();
    let (engine, handle) = Engine::new(Arc::new(scenario), hosts, probes, writer, options);
    Started {
        handle: Some(handle),
        task: tokio::spawn(engine.run()),
        host,
        journal,
        dir,
    }
}

async fn run_with(
    yaml: &str,
    answer: impl Fn(&str) -> (CommandOutcome, Duration) + Send + Sync + 'static,
    reading: impl Fn(Duration) -> Reading + Send + Sync + 'static,
    drive: impl AsyncFnOnce(Handle),
) -> Run {
    let run = start(yaml, answer, timed(reading), Options::default());
    // The test keeps a handle for the whole run, as the console does.
    drive(run.handle().clone()).await;
    run.finish().await
}

fn answer_ok(cmd: &str) -> (CommandOutcome, Duration) {
    let _ = cmd;
    ok()
}

async fn idle(_h: Handle) {}

/// A subscriber (the console, the headless printer) sees every journaled record, `run_started`
/// first: the console takes the scenario's host names from it.
#[tokio::test(start_paused = true)]
async fn every_journaled_record_is_broadcast_run_started_first() {
    let run = start(BASE, answer_ok, timed(|_| Ok(10.0)), Options::default());
    let mut rx = run.handle().subscribe();
    let seen = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Ok(env) = rx.recv().await {
            let end = matches!(env.event, Event::RunEnded);
            seen.push(env.seq);
            if end {
                break;
            }
        }
        seen
    });
    let run = run.finish().await;
    let seen = seen.await.unwrap();
    assert_eq!(kind(&run.events[0].event), "run_started");
    assert_eq!(
        seen,
        run.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        "broadcast and journal differ"
    );
}

#[tokio::test(start_paused = true)]
async fn clean_run_holds_and_verifies_every_rollback() {
    let run = run_with(BASE, answer_ok, |_| Ok(10.0), idle).await;
    assert_eq!(run.outcome.verdict, Verdict::Held, "{}", run.outcome.reason);
    assert_eq!(run.outcome.exit_code, 0);
    let k = run.kinds();
    let pos = |name| k.iter().position(|x| *x == name).unwrap();
    assert!(pos("intent") < pos("injected"));
    assert!(pos("injected") < pos("rollback_result"));
    assert_eq!(k.last(), Some(&"run_ended"));
    assert_eq!(
        *run.host
            .log
            .lock()
            .unwrap()
            .iter()
            .filter(|c| !c.starts_with('x') && *c != "true")
            .collect::<Vec<_>>(),
        ["inject f1", "undo f1", "verify f1"]
    );
    assert_eq!(
        *run.host.intent_seen_before_inject.lock().unwrap(),
        [true],
        "intent must be on disk before the inject"
    );
    // Step 2 starts at 1m and its fault is rolled back at its end, 3m.
    let injected = run
        .at(|e| matches!(e, Event::FaultInjected { .. }))
        .unwrap();
    let rolled = run
        .at(|e| matches!(e, Event::RollbackResult { .. }))
        .unwrap();
    assert!((60.0..61.0).contains(&injected), "injected at {injected}");
    assert!((180.0..181.0).contains(&rolled), "rolled back at {rolled}");
    assert!(!run.has(|e| matches!(e, Event::HaltRequested { .. })));
}

#[tokio::test(start_paused = true)]
async fn abort_rule_trips_after_its_window_and_not_before() {
    // Errors jump to 900 at 90 s, inside the fault step.
    let run = run_with(
        BASE,
        answer_ok,
        |t| {
            Ok(if t >= Duration::from_secs(90) {
                900.0
            } else {
                10.0
            })
        },
        idle,
    )
    .await;
    assert_eq!(run.outcome.verdict, Verdict::Aborted);
    assert_eq!(run.outcome.exit_code, 1);
    let breaching = run
        .at(|e| matches!(e, Event::RuleBreaching { .. }))
        .unwrap();
    let tripped = run.at(|e| matches!(e, Event::RuleTripped { .. })).unwrap();
    assert!(
        (90.0..92.0).contains(&breaching),
        "breaching at {breaching}"
    );
    assert!(
        tripped - breaching >= 30.0,
        "tripped {tripped} before its 30 s window from {breaching}"
    );
    assert!(
        tripped - breaching < 31.0,
        "tripped late: {tripped} vs {breaching}"
    );
    let halt = run
        .at(|e| matches!(e, Event::HaltRequested { .. }))
        .unwrap();
    assert!(halt >= tripped);
    assert!(run.has(|e| matches!(
        e,
        Event::RollbackResult {
            status: RollbackStatus::Verified,
            ..
        }
    )));
    assert!(
        !run.has(|e| matches!(e, Event::StepStarted { index: 2, .. })),
        "nothing new starts after a trip"
    );
    assert!(
        run.outcome.reason.contains("errors > 500"),
        "{}",
        run.outcome.reason
    );
}

#[tokio::test(start_paused = true)]
async fn a_brief_breach_inside_the_window_does_not_trip() {
    let run = run_with(
        BASE,
        answer_ok,
        |t| {
            let s = t.as_secs();
            Ok(if (90..110).contains(&s) { 900.0 } else { 10.0 })
        },
        idle,
    )
    .await;
    assert_eq!(run.outcome.verdict, Verdict::Held, "{}", run.outcome.reason);
    assert!(run.has(|e| matches!(e, Event::RuleBreaching { .. })));
    assert!(run.has(|e| matches!(e, Event::RuleCleared { .. })));
    assert!(!run.has(|e| matches!(e, Event::RuleTripped { .. })));
}

#[tokio::test(start_paused = true)]
async fn halt_mid_step_rolls_back_and_starts_nothing_new() {
    let run = run_with(
        BASE,
        answer_ok,
        |_| Ok(10.0),
        async |h: Handle| {
            tokio::time::sleep(Duration::from_secs(100)).await;
            h.commands
                .send(Command::Halt {
                    by: "IC".into(),
                    reason: "customer impact".into(),
                })
                .await
                .unwrap();
        },
    )
    .await;
    assert_eq!(run.outcome.verdict, Verdict::Aborted);
    assert_eq!(run.outcome.exit_code, 1);
    assert!(run.outcome.reason.contains("customer impact"));
    let halt = run
        .at(|e| matches!(e, Event::HaltRequested { .. }))
        .unwrap();
    assert!((100.0..101.0).contains(&halt));
    let rolled = run
        .at(|e| matches!(e, Event::RollbackStarted { .. }))
        .unwrap();
    assert!(
        rolled - halt < 0.1,
        "rollback started {rolled}, halt {halt}"
    );
    assert!(run.has(|e| matches!(
        e,
        Event::RollbackFinished {
            since_halt_ms: Some(_),
            all_verified: true,
            ..
        }
    )));
    assert!(!run.has(|e| matches!(e, Event::StepStarted { index: 2, .. })));
    assert!(!run.has(|e| matches!(
        e,
        Event::SteadyState {
            phase: Phase::SteadyStateAfter,
            ..
        }
    )));
}

#[tokio::test(start_paused = true)]
async fn halt_while_injecting_waits_for_the_inject_then_rolls_it_back() {
    let run = run_with(
        BASE,
        |cmd| {
            if cmd.starts_with("inject") {
                (ok().0, Duration::from_secs(10))
            } else {
                ok()
            }
        },
        |_| Ok(10.0),
        async |h: Handle| {
            tokio::time::sleep(Duration::from_secs(62)).await;
            h.commands
                .send(Command::Halt {
                    by: "IC".into(),
                    reason: "stop".into(),
                })
                .await
                .unwrap();
        },
    )
    .await;
    assert_eq!(run.outcome.verdict, Verdict::Aborted);
    let k = run.kinds();
    let pos = |name| k.iter().position(|x| *x == name).unwrap();
    assert!(
        pos("halt") < pos("injected"),
        "the halt came while the inject was in flight"
    );
    assert!(
        pos("injected") < pos("rollback_started"),
        "undo only after the inject finished"
    );
    assert!(run.has(|e| matches!(
        e,
        Event::RollbackResult {
            status: RollbackStatus::Verified,
            ..
        }
    )));
}

#[tokio::test(start_paused = true)]
async fn max_duration_exceeded_halts_the_run() {
    // Planned steps fit in max_duration, but a slow undo pushes the run past it.
    let yaml = BASE
        .replace("max_duration: 5m", "max_duration: 4m")
        .replace("duration: 2m", "duration: 1m30s");
    let run = run_with(
        &yaml,
        |cmd| {
            if cmd.starts_with("undo") {
                (ok().0, Duration::from_secs(120))
            } else {
                ok()
            }
        },
        |_| Ok(10.0),
        idle,
    )
    .await;
    assert_eq!(
        run.outcome.verdict,
        Verdict::Aborted,
        "{}",
        run.outcome.reason
    );
    assert!(
        run.outcome.reason.contains("max_duration 4m exceeded"),
        "{}",
        run.outcome.reason
    );
    let halt = run
        .at(|e| matches!(e, Event::HaltRequested { .. }))
        .unwrap();
    assert!((240.0..241.0).contains(&halt), "halt at {halt}");
    assert!(!run.has(|e| matches!(e, Event::StepStarted { index: 2, .. })));
}

#[tokio::test(start_paused = true)]
async fn failed_rollback_needs_manual_action() {
    let run = run_with(
        BASE,
        |cmd| {
            if cmd.starts_with("verify") {
                fail()
            } else {
                ok()
            }
        },
        |_| Ok(10.0),
        idle,
    )
    .await;
    assert_eq!(run.outcome.verdict, Verdict::ManualActionNeeded);
    assert_eq!(run.outcome.exit_code, 3);
    assert!(run.has(|e| matches!(e, Event::RollbackResult { status: RollbackStatus::Failed, manual: Some(m), .. } if m.contains("ssh web-1 undo f1"))));
    let debrief = crate::report::debrief(&crate::fold::RunState::from_events(&run.events));
    assert!(debrief.contains("MANUAL ACTION NEEDED"));
    assert!(debrief.contains("### Manual action needed"));
    assert!(debrief.contains("ssh web-1 undo f1"), "{debrief}");
    assert!(
        !run.has(|e| matches!(e, Event::StepStarted { index: 2, .. })),
        "stops after a failed rollback"
    );
}

#[tokio::test(start_paused = true)]
async fn lost_link_during_rollback_is_unknown_not_verified() {
    let run = run_with(
        BASE,
        |cmd| {
            if cmd.starts_with("undo") || cmd.starts_with("verify") {
                (
                    CommandOutcome {
                        error: Some("connection lost".into()),
                        ..Default::default()
                    },
                    Duration::from_millis(5),
                )
            } else {
                ok()
            }
        },
        |_| Ok(10.0),
        idle,
    )
    .await;
    assert_eq!(run.outcome.exit_code, 3);
    assert!(run.has(|e| matches!(
        e,
        Event::RollbackResult {
            status: RollbackStatus::Unknown,
            ..
        }
    )));
}

#[tokio::test(start_paused = true)]
async fn no_data_trips_fail_closed() {
    let run = run_with(
        BASE,
        answer_ok,
        |t| {
            if t >= Duration::from_secs(70) {
                Err("HTTP 503".into())
            } else {
                Ok(10.0)
            }
        },
        idle,
    )
    .await;
    assert_eq!(run.outcome.verdict, Verdict::Aborted);
    let tripped = run.at(|e| matches!(e, Event::RuleTripped { .. })).unwrap();
    assert!((100.0..102.0).contains(&tripped), "tripped at {tripped}");
    assert!(
        run.has(|e| matches!(e, Event::RuleTripped { reason: Some(r), .. } if r.contains("503")))
    );
}

#[tokio::test(start_paused = true)]
async fn no_data_ignore_does_not_trip() {
    let yaml = BASE.replace("for: 30s }", "for: 30s, no_data: ignore }");
    let run = run_with(
        &yaml,
        answer_ok,
        |t| {
            if (Duration::from_secs(70)..Duration::from_secs(200)).contains(&t) {
                Err("HTTP 503".into())
            } else {
                Ok(10.0)
            }
        },
        idle,
    )
    .await;
    assert_eq!(run.outcome.verdict, Verdict::Held, "{}", run.outcome.reason);
}

#[tokio::test(start_paused = true)]
async fn failed_inject_halts_and_still_rolls_back() {
    let run = run_with(
        BASE,
        |cmd| {
            if cmd.starts_with("inject") {
                fail()
            } else {
                ok()
            }
        },
        |_| Ok(10.0),
        idle,
    )
    .await;
    assert_eq!(run.outcome.verdict, Verdict::Aborted);
    assert!(
        run.outcome.reason.contains("inject of fault f1"),
        "{}",
        run.outcome.reason
    );
    assert!(
        run.host.log.lock().unwrap().iter().any(|c| c == "undo f1"),
        "a half-applied inject is still undone"
    );
}

#[tokio::test(start_paused = true)]
async fn steady_state_not_holding_before_injects_nothing() {
    let run = run_with(BASE, answer_ok, |_| Ok(150.0), idle).await;
    assert_eq!(run.outcome.verdict, Verdict::Aborted);
    assert!(
        run.outcome.reason.contains("did not hold before"),
        "{}",
        run.outcome.reason
    );
    assert!(!run.has(|e| matches!(e, Event::FaultIntent { .. })));
}

#[tokio::test(start_paused = true)]
async fn steady_state_broken_after_is_violated() {
    let run = run_with(
        BASE,
        answer_ok,
        |t| {
            Ok(if t >= Duration::from_secs(200) {
                150.0
            } else {
                10.0
            })
        },
        idle,
    )
    .await;
    assert_eq!(run.outcome.verdict, Verdict::Violated);
    assert_eq!(run.outcome.exit_code, 1);
}

#[tokio::test(start_paused = true)]
async fn advance_notes_and_milestones() {
    let run = run_with(
        BASE,
        answer_ok,
        |_| Ok(10.0),
        async |h: Handle| {
            tokio::time::sleep(Duration::from_secs(10)).await;
            h.commands.send(Command::Advance).await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
            h.commands
                .send(Command::Milestone {
                    kind: MilestoneKind::Detected,
                    role: "IC".into(),
                })
                .await
                .unwrap();
            h.commands
                .send(Command::NoteOf {
                    role: "scribe".into(),
                    text: "error budget dashboard lags by 1 min".into(),
                    kind: crate::event::NoteKind::ActionItem,
                    owner: Some("ana".into()),
                    due: Some("2026-12-15".into()),
                })
                .await
                .unwrap();
        },
    )
    .await;
    assert_eq!(run.outcome.verdict, Verdict::Held);
    let injected = run
        .at(|e| matches!(e, Event::FaultInjected { .. }))
        .unwrap();
    assert!(
        (10.0..11.0).contains(&injected),
        "Advance ended the baseline early: {injected}"
    );
    assert!(run.has(|e| matches!(
        e,
        Event::StepEnded {
            index: 0,
            advanced: true,
            ..
        }
    )));
    let note = run
        .events
        .iter()
        .find_map(|e| match &e.event {
            Event::Note {
                metrics,
                faults,
                action,
                kind,
                ..
            } => {
                // Both: older readers see an action item by `action`.
                assert!(*action);
                assert_eq!(*kind, Some(crate::event::NoteKind::ActionItem));
                Some((metrics.clone(), faults.clone()))
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(
        note.0.get("errors"),
        Some(&Some(10.0)),
        "note carries every metric's value"
    );
    assert_eq!(note.1.len(), 1, "note carries the live fault");
    assert_eq!(note.1[0].state, "injected");
    let debrief = crate::report::debrief(&crate::fold::RunState::from_events(&run.events));
    assert!(
        debrief.contains(
            "| [ ] | error budget dashboard lags by 1 min | ana | 2026-12-15 | scribe at T+"
        ),
        "{debrief}"
    );
    assert!(debrief.contains("Time to detect"));
}

#[tokio::test(start_paused = true)]
async fn a_run_whose_controller_is_gone_halts_and_rolls_back() {
    let mut run = start(BASE, answer_ok, timed(|_| Ok(10.0)), Options::default());
    // The console dies in the middle of the fault step (a panic drops its handle).
    tokio::time::sleep(Duration::from_secs(100)).await;
    run.handle.take();
    let run = run.finish().await;
    assert_eq!(run.outcome.verdict, Verdict::Aborted);
    assert!(
        run.outcome.reason.contains("no one can halt it"),
        "{}",
        run.outcome.reason
    );
    assert!(run.host.log.lock().unwrap().iter().any(|c| c == "undo f1"));
}

#[tokio::test(start_paused = true)]
async fn a_silent_sampler_counts_as_no_data() {
    // A probe that never answers is cut by its timeout: no data.
    struct Never;
    impl Probe for Never {
        fn poll(&self) -> BoxFuture<'_, Reading> {
            Box::pin(std::future::pending())
        }
    }
    let yaml = BASE.replace("steady_state:\n  - { metric: errors, below: 100 }\n", "");
    let run = start(&yaml, answer_ok, Arc::new(Never), Options::default())
        .finish()
        .await;
    // Preflight polls the metric once and gets no data: the run is refused before any fault.
    assert_eq!(run.outcome.verdict, Verdict::Aborted);
    assert!(
        run.outcome.reason.contains("preflight failed"),
        "{}",
        run.outcome.reason
    );
    assert!(!run.has(|e| matches!(e, Event::FaultIntent { .. })));
}

/// A host that cannot answer the preflight reachability check but runs everything else.
fn unreachable_at_preflight(cmd: &str) -> (CommandOutcome, Duration) {
    if cmd == "true" { fail() } else { ok() }
}

async fn held_run(decide: Command) -> Run {
    let options = Options {
        hold_failed_preflight: true,
        ..Options::default()
    };
    let run = start(BASE, unreachable_at_preflight, timed(|_| Ok(10.0)), options);
    let mut events = run.handle().subscribe();
    // Wait for the hold, then decide.
    loop {
        let env = events.recv().await.unwrap();
        if matches!(env.event, Event::PreflightHeld { .. }) {
            break;
        }
    }
    // The engine really waits: a pause changes nothing (max_duration still counts it).
    tokio::time::sleep(Duration::from_secs(20)).await;
    run.handle().commands.send(decide).await.unwrap();
    run.finish().await
}

#[tokio::test(start_paused = true)]
async fn failed_live_checks_hold_then_an_override_with_a_reason_runs() {
    let run = held_run(Command::Proceed {
        by: "IC".into(),
        reason: "web-1's check port is filtered; SSH works".into(),
    })
    .await;
    assert_eq!(run.outcome.verdict, Verdict::Held, "{}", run.outcome.reason);
    let overridden = run.events.iter().position(|e| matches!(&e.event,
        Event::PreflightOverridden { reason, failures, .. } if reason.contains("filtered") && failures.len() == 1));
    let intent = run
        .events
        .iter()
        .position(|e| matches!(e.event, Event::FaultIntent { .. }));
    assert!(
        overridden.is_some() && overridden < intent,
        "the override is journaled before any fault"
    );
    assert!(
        run.host
            .log
            .lock()
            .unwrap()
            .iter()
            .any(|c| c == "inject f1")
    );
}

#[tokio::test(start_paused = true)]
async fn failed_live_checks_hold_then_a_halt_touches_nothing() {
    let run = held_run(Command::Halt {
        by: "IC".into(),
        reason: "not today".into(),
    })
    .await;
    assert_eq!(run.outcome.verdict, Verdict::Aborted);
    assert!(
        !run.events
            .iter()
            .any(|e| matches!(e.event, Event::FaultIntent { .. }))
    );
    assert!(
        !run.host
            .log
            .lock()
            .unwrap()
            .iter()
            .any(|c| c.starts_with("inject"))
    );
}

// ---- halts under load (safety review, issue 9 point 1) ---------------------------------------------

/// A step with `n` command faults named f0..f<n-1>.
fn many_faults(n: usize) -> String {
    let mut yaml = String::from(
        "title: Many faults\nhypothesis: h\nmax_duration: 30m\ntargets:\n  web: { hosts: [web-1] }\n\
         metrics:\n  errors: { command: \"x\", target: web, every: 1s, timeout: 1s }\n\
         steps:\n  - name: Break\n    duration: 20m\n    faults:\n",
    );
    for i in 0..n {
        yaml.push_str(&format!(
            "      - {{ kind: command, id: f{i}, target: web, inject: \"inject f{i}\", rollback: \"undo f{i}\", timeout: 1m }}\n"
        ));
    }
    yaml
}

fn at_of(run: &Run, pred: impl Fn(&Event) -> bool) -> Vec<f64> {
    let t0 = run.events[0].ts;
    run.events
        .iter()
        .filter(|e| pred(&e.event))
        .map(|e| (e.ts - t0).num_milliseconds() as f64 / 1000.0)
        .collect()
}

async fn halt_at(h: &Handle, after: Duration) {
    tokio::time::sleep(after).await;
    h.commands
        .send(Command::Halt {
            by: "IC".into(),
            reason: "stop".into(),
        })
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn after_a_halt_no_queued_inject_starts() {
    // 200 faults, 1 s injects, one at a time: the halt comes 1.5 s into the step.
    let run = start(
        &many_faults(200),
        |cmd| {
            if cmd.starts_with("inject") {
                (ok().0, Duration::from_secs(1))
            } else {
                ok()
            }
        },
        timed(|_| Ok(1.0)),
        Options {
            fanout: 1,
            ..Options::default()
        },
    );
    let h = run.handle().clone();
    halt_at(&h, Duration::from_millis(1500)).await;
    let run = run.finish().await;
    let sent = run
        .host
        .log
        .lock()
        .unwrap()
        .iter()
        .filter(|c| c.starts_with("inject"))
        .count();
    assert!(
        sent <= 2,
        "{sent} injects were sent; after the halt none may start"
    );
    let skipped = run
        .events
        .iter()
        .filter(|e| matches!(e.event, Event::FaultNotInjected { .. }))
        .count();
    assert_eq!(
        skipped + sent,
        200,
        "every fault is either sent or journaled as not injected"
    );
    // Not injected means not rolled back: only what was sent gets an undo.
    let undone = run
        .host
        .log
        .lock()
        .unwrap()
        .iter()
        .filter(|c| c.starts_with("undo"))
        .count();
    assert_eq!(undone, sent);
    assert_eq!(
        run.outcome.verdict,
        Verdict::Aborted,
        "{}",
        run.outcome.reason
    );
    assert_eq!(
        crate::fold::RunState::from_events(&run.events)
            .unresolved()
            .count(),
        0
    );
}

#[tokio::test(start_paused = true)]
async fn a_halt_rolls_back_what_is_in_at_once_not_after_the_slowest_inject() {
    // f0 goes in in 1 s; f1 takes 30 s. The halt comes at 2 s: f0's undo must not wait for f1.
    let run = start(
        &many_faults(2),
        |cmd| match cmd {
            "inject f1" => (ok().0, Duration::from_secs(30)),
            c if c.starts_with("inject") => (ok().0, Duration::from_secs(1)),
            _ => ok(),
        },
        timed(|_| Ok(1.0)),
        Options::default(),
    );
    let h = run.handle().clone();
    halt_at(&h, Duration::from_secs(2)).await;
    let run = run.finish().await;
    let halt = at_of(&run, |e| matches!(e, Event::HaltRequested { .. }))[0];
    let f0 = at_of(
        &run,
        |e| matches!(e, Event::RollbackStarted { fault, .. } if fault == "f0"),
    )[0];
    let f1 = at_of(
        &run,
        |e| matches!(e, Event::RollbackStarted { fault, .. } if fault == "f1"),
    )[0];
    assert!(
        f0 - halt <= 0.1,
        "halt at {halt}, f0's rollback only at {f0}"
    );
    let f1_in = at_of(
        &run,
        |e| matches!(e, Event::FaultInjected { fault, .. } if fault == "f1"),
    )[0];
    assert!(f1 >= f1_in, "f1 is undone only once its inject returned");
    assert!(f1 - f1_in <= 0.1, "and at once then ({f1_in} → {f1})");
}

#[tokio::test(start_paused = true)]
async fn rollbacks_never_queue_behind_lease_renewals() {
    // One slot. The lease (6 s) renews every 2 s; renewals hang for 40 s. A halt at 7 s must
    // still send the undo at once.
    let yaml = many_faults(1).replace("timeout: 1m", "timeout: 1m, lease: 6s");
    let run = start_on(
        &yaml,
        |cmd| {
            if cmd.contains("lease") && cmd.contains("renew") {
                (ok().0, Duration::from_secs(40))
            } else {
                ok()
            }
        },
        timed(|_| Ok(1.0)),
        Options {
            fanout: 1,
            ..Options::default()
        },
        true,
    );
    let h = run.handle().clone();
    halt_at(&h, Duration::from_secs(7)).await;
    let run = run.finish().await;
    let halt = at_of(&run, |e| matches!(e, Event::HaltRequested { .. }))[0];
    let undo_sent = at_of(&run, |e| matches!(e, Event::RollbackStarted { .. }))[0];
    let done = at_of(&run, |e| matches!(e, Event::RollbackResult { .. }))[0];
    assert!(
        undo_sent - halt <= 0.1,
        "halt {halt}, rollback started {undo_sent}"
    );
    assert!(
        done - halt <= 0.5,
        "halt {halt}, rollback done {done}: it queued"
    );
}

#[tokio::test(start_paused = true)]
async fn durations_beyond_any_clock_do_not_crash_the_engine() {
    // Validation bounds every duration; the engine must still never overflow time arithmetic.
    let dir = tempfile::tempdir().unwrap();
    let mut scenario = Scenario::parse(&dir.path().join("s.yaml"), BASE).expect("valid");
    scenario.max_duration = Duration::MAX;
    for s in &mut scenario.steps {
        s.duration = Duration::MAX;
        for f in &mut s.faults {
            f.lease = Duration::MAX;
        }
    }
    for r in &mut scenario.abort {
        r.sustained = Duration::MAX;
    }
    for m in scenario.metrics.values_mut() {
        m.timeout = Duration::MAX;
    }
    let journal = dir.path().join("journal.jsonl");
    let host = Arc::new(ScriptedHost {
        answer: Box::new(answer_ok),
        log: Mutex::new(vec![]),
        journal: None,
        intent_seen_before_inject: Mutex::new(vec![]),
        leases: true,
    });
    let mut hosts = HostMap::new();
    hosts.insert("web".into(), vec![host.clone() as Arc<dyn Host>]);
    let mut probes = ProbeMap::new();
    probes.insert(
        "errors".into(),
        timed(|t| {
            Ok(if t > Duration::from_secs(70) {
                900.0
            } else {
                1.0
            })
        }),
    );
    let writer = crate::journal::JournalWriter::create(&journal, "test-run").unwrap();
    let (engine, handle) = Engine::new(
        Arc::new(scenario),
        hosts,
        probes,
        writer,
        Options::default(),
    );
    let task = tokio::spawn(engine.run());
    halt_at(&handle, Duration::from_secs(120)).await;
    let outcome = task.await.expect("the engine must not panic").unwrap();
    assert_eq!(outcome.verdict, Verdict::Aborted, "{}", outcome.reason);
}

// ---- refusals (safety review, issue 9 point 2) ------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_refused_inject_is_never_undone_and_its_lease_is_stood_down() {
    // stop_service on a unit that is not active: its check refuses before changing anything.
    let yaml = many_faults(2).replace(
        "      - { kind: command, id: f1, target: web, inject: \"inject f1\", rollback: \"undo f1\", timeout: 1m }\n",
        "      - { kind: stop_service, id: svc, target: web, service: nginx, timeout: 1m }\n",
    );
    let run = start_on(
        &yaml,
        |cmd| {
            if cmd.contains("systemctl is-active --quiet -- nginx ||") {
                (
                    CommandOutcome {
                        exit: Some(crate::fault::kinds::REFUSED_EXIT),
                        stderr: "nginx is not active: nothing to stop\n".into(),
                        ..Default::default()
                    },
                    Duration::from_millis(5),
                )
            } else {
                ok()
            }
        },
        timed(|_| Ok(1.0)),
        Options::default(),
        true,
    );
    let run = run.finish().await;
    let log = run.host.log.lock().unwrap().clone();
    let undo = run
        .events
        .iter()
        .find_map(|e| match &e.event {
            Event::FaultIntent { fault, undo, .. } if fault == "svc" => undo.clone(),
            _ => None,
        })
        .expect("svc's intent holds its undo");
    assert!(
        !log.contains(&undo),
        "a refused stop_service was undone ({undo}): {log:#?}"
    );
    assert!(run.has(|e| matches!(
        e,
        Event::FaultNotInjected { fault, reason, outcome: Some(_), .. }
            if fault == "svc" && reason.contains("not active")
    )));
    assert!(
        run.has(|e| matches!(e, Event::LeaseCancelled { fault, .. } if fault == "svc")),
        "the refused fault's lease was not stood down"
    );
    // The other fault went in and is rolled back; the run stops, aborted, not "manual action".
    assert!(run.has(|e| matches!(
        e,
        Event::RollbackResult { fault, status: RollbackStatus::Verified, .. } if fault == "f0"
    )));
    assert_eq!(
        run.outcome.verdict,
        Verdict::Aborted,
        "{}",
        run.outcome.reason
    );
    assert!(run.outcome.reason.contains("svc"), "{}", run.outcome.reason);
    // recover has nothing to do for it either.
    assert_eq!(
        crate::fold::RunState::from_events(&run.events)
            .unresolved()
            .count(),
        0
    );
}

#[tokio::test(start_paused = true)]
async fn a_lease_that_cannot_be_armed_means_no_inject_and_no_undo() {
    let yaml = many_faults(1);
    let run = start_on(
        &yaml,
        |cmd| {
            if cmd.contains("gameday-lease") && !cmd.contains("tomb") {
                fail()
            } else {
                ok()
            }
        },
        timed(|_| Ok(1.0)),
        Options::default(),
        true,
    );
    let run = run.finish().await;
    let log = run.host.log.lock().unwrap().clone();
    assert!(!log.iter().any(|c| c == "inject f0"), "{log:#?}");
    assert!(!log.iter().any(|c| c == "undo f0"), "{log:#?}");
    assert!(run.has(|e| matches!(e, Event::FaultNotInjected { .. })));
    assert_eq!(
        run.outcome.verdict,
        Verdict::Aborted,
        "{}",
        run.outcome.reason
    );
}

// ---- success criteria ----------------------------------------------------------------------

const CRITERIA: &str = r#"
title: Criteria test
hypothesis: errors stay low
roles: { incident_commander: Dana }
max_duration: 10m
recovery_watch: 0s
targets:
  web: { hosts: [web-1] }
metrics:
  errors: { command: "x", target: web, every: 1s, timeout: 1s }
steady_state:
  - { metric: errors, below: 100 }
steps:
  - name: Break it
    duration: 1m
    expect: "errors rise then fall"
    HALT
    faults:
      - { kind: command, id: f1, target: web, inject: "inject f1", rollback: "undo f1", verify: "verify f1" }
    success:
      - { metric: errors, below: 100, throughout: true }
      - { metric: errors, above: 40, within: 30s }
      - { metric: errors, below: 5, within: 20s, after: rollback }
      - { check: "Pager reached on-call", by: IC }
  - { name: Calm, duration: 1m }
"#;

fn criteria_yaml(halt_on_failure: bool) -> String {
    CRITERIA.replace(
        "    HALT\n",
        if halt_on_failure {
            "    halt_on_failure: true\n"
        } else {
            ""
        },
    )
}

/// (index, outcome, value, after_ms, reason) of one criterion result.
type Result5 = (
    usize,
    crate::event::CriterionOutcome,
    Option<f64>,
    Option<u64>,
    Option<String>,
);

/// Every criterion result of a run.
fn results(run: &Run) -> Vec<Result5> {
    run.events
        .iter()
        .filter_map(|e| match &e.event {
            Event::CriterionResult {
                index,
                outcome,
                value,
                after_ms,
                reason,
                ..
            } => Some((*index, *outcome, *value, *after_ms, reason.clone())),
            _ => None,
        })
        .collect()
}

fn step_result(run: &Run) -> Option<crate::event::StepOutcome> {
    run.events.iter().find_map(|e| match &e.event {
        Event::StepResult { outcome, .. } => Some(*outcome),
        _ => None,
    })
}

fn tick(passed: bool) -> Command {
    Command::Check {
        step: 0,
        index: 3,
        passed,
        reason: "seen on the pager".into(),
        by: "Dana".into(),
    }
}

#[tokio::test(start_paused = true)]
async fn criteria_within_throughout_and_after_rollback_pass_with_their_evidence() {
    use crate::event::{CriterionOutcome as O, StepOutcome};
    // The step starts at about 0s (steady-state check first); errors 50 from 10s into the step
    // until the fault is back, then 1.
    let run = run_with(
        &criteria_yaml(false),
        answer_ok,
        |t| {
            if t < Duration::from_secs(10) {
                Ok(0.0)
            } else if t < Duration::from_secs(61) {
                Ok(50.0)
            } else {
                Ok(1.0)
            }
        },
        async |h: Handle| {
            tokio::time::sleep(Duration::from_secs(5)).await;
            // Seats the check does not name are ignored: an observer, the scribe (`by: IC`).
            for by in ["observer", "scribe"] {
                let wrong_seat = Command::Check {
                    step: 0,
                    index: 3,
                    passed: false,
                    reason: "not mine to tick".into(),
                    by: by.into(),
                };
                h.commands.send(wrong_seat).await.unwrap();
            }
            h.commands.send(tick(true)).await.unwrap();
        },
    )
    .await;
    let r = results(&run);
    assert_eq!(r.len(), 4, "{r:#?}");
    let by_index = |i: usize| r.iter().find(|x| x.0 == i).unwrap().clone();
    // Human check ticked at 5 s, by the IC (Dana); the wrong seats' ticks changed nothing.
    assert_eq!(by_index(3).1, O::Passed);
    assert!(
        run.has(
            |e| matches!(e, Event::CriterionResult { index: 3, by: Some(b), .. } if b == "Dana")
        )
    );
    // within 30s: passed on the first sample at 50, about 10 s into the step.
    let (_, o, v, after, _) = by_index(1);
    assert_eq!((o, v), (O::Passed, Some(50.0)));
    assert!((9_000..=12_000).contains(&after.unwrap()), "{after:?}");
    // throughout: passed at the step's end.
    assert_eq!(by_index(0).1, O::Passed);
    // after: rollback: 1 < 5 within a couple of seconds of the rollback.
    let (_, o, v, after, _) = by_index(2);
    assert_eq!((o, v), (O::Passed, Some(1.0)));
    assert!(after.unwrap() <= 2_000, "{after:?}");
    assert_eq!(step_result(&run), Some(StepOutcome::Passed));
    assert_eq!(run.outcome.verdict, Verdict::Held, "{}", run.outcome.reason);
    // The step result comes after its last criterion, and before the verdict.
    let at_result = run.at(|e| matches!(e, Event::StepResult { .. })).unwrap();
    let at_recovery = run
        .at(|e| matches!(e, Event::CriterionResult { index: 2, .. }))
        .unwrap();
    assert!(at_result >= at_recovery);
}

#[tokio::test(start_paused = true)]
async fn a_failed_criterion_violates_without_halting_and_no_data_fails_closed() {
    use crate::event::{CriterionOutcome as O, StepOutcome};
    // Never above 40 (within fails at 30 s), no data at 20 s (throughout fails closed), never
    // below 5 after the rollback (recovery fails).
    let run = run_with(
        &criteria_yaml(false),
        answer_ok,
        |t| {
            if (Duration::from_secs(20)..Duration::from_secs(21)).contains(&t) {
                Err("connection refused".into())
            } else {
                Ok(10.0)
            }
        },
        idle,
    )
    .await;
    let r = results(&run);
    let by_index = |i: usize| r.iter().find(|x| x.0 == i).unwrap().clone();
    let (_, o, _, _, why) = by_index(0);
    assert_eq!(o, O::Failed);
    assert!(why.unwrap().contains("no data: connection refused"));
    let (_, o, v, after, why) = by_index(1);
    assert_eq!((o, v), (O::Failed, Some(10.0)));
    assert!((29_000..=31_000).contains(&after.unwrap()), "{after:?}");
    assert!(why.unwrap().contains("last value 10"));
    assert_eq!(by_index(2).1, O::Failed);
    // Nobody ticked the human check: not checked, never passed.
    let (_, o, _, _, why) = by_index(3);
    assert_eq!(o, O::NotChecked);
    assert!(why.unwrap().contains("no one ticked"));
    assert_eq!(step_result(&run), Some(StepOutcome::Failed));
    // The run went on to the end: both steps ran, no halt.
    assert!(!run.has(|e| matches!(e, Event::HaltRequested { .. })));
    assert!(run.has(|e| matches!(e, Event::StepStarted { index: 1, .. })));
    assert_eq!(run.outcome.verdict, Verdict::Violated);
    assert_eq!(run.outcome.exit_code, 1);
    assert!(
        run.outcome.reason.contains("success criterion"),
        "{}",
        run.outcome.reason
    );
}

#[tokio::test(start_paused = true)]
async fn halt_on_failure_halts_and_leaves_the_rest_undecided() {
    use crate::event::{CriterionOutcome as O, StepOutcome};
    let run = run_with(&criteria_yaml(true), answer_ok, |_| Ok(10.0), idle).await;
    let r = results(&run);
    let by_index = |i: usize| r.iter().find(|x| x.0 == i).unwrap().clone();
    // within 30s fails at 30 s and halts the run; what was open is undecided.
    assert_eq!(by_index(1).1, O::Failed);
    let halt = run
        .at(|e| matches!(e, Event::HaltRequested { .. }))
        .unwrap();
    let failed = run
        .at(|e| matches!(e, Event::CriterionResult { index: 1, .. }))
        .unwrap();
    assert!((halt - failed).abs() < 0.01);
    for i in [0, 2] {
        let (_, o, _, _, why) = by_index(i);
        assert_eq!(o, O::Undecided, "{i}");
        assert!(why.unwrap().contains("halted"));
    }
    assert_eq!(by_index(3).1, O::NotChecked);
    assert_eq!(step_result(&run), Some(StepOutcome::Failed));
    assert!(!run.has(|e| matches!(e, Event::StepStarted { index: 1, .. })));
    assert!(run.has(|e| matches!(
        e,
        Event::RollbackResult {
            status: RollbackStatus::Verified,
            ..
        }
    )));
    assert_eq!(run.outcome.verdict, Verdict::Violated);
}

#[tokio::test(start_paused = true)]
async fn a_halt_leaves_criteria_undecided_and_a_failed_human_check_violates() {
    use crate::event::{CriterionOutcome as O, StepOutcome};
    let run = run_with(
        &criteria_yaml(false),
        answer_ok,
        |_| Ok(10.0),
        async |h: Handle| {
            tokio::time::sleep(Duration::from_secs(5)).await;
            h.commands.send(tick(false)).await.unwrap();
            // A second tick of the same check is ignored.
            h.commands.send(tick(true)).await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
            h.commands
                .send(Command::Halt {
                    by: "IC".into(),
                    reason: "enough".into(),
                })
                .await
                .unwrap();
        },
    )
    .await;
    let r = results(&run);
    assert_eq!(r.len(), 4, "{r:#?}");
    let by_index = |i: usize| r.iter().find(|x| x.0 == i).unwrap().clone();
    for i in 0..3 {
        assert_eq!(by_index(i).1, O::Undecided, "{i}");
    }
    let (_, o, _, _, why) = by_index(3);
    assert_eq!(o, O::Failed);
    assert_eq!(why.as_deref(), Some("seen on the pager"));
    assert!(run.has(|e| matches!(e, Event::CriterionResult { by: Some(b), .. } if b == "Dana")));
    assert_eq!(step_result(&run), Some(StepOutcome::Failed));
    // A person's halt: the run is aborted, whatever the criteria said.
    assert_eq!(run.outcome.verdict, Verdict::Aborted);
}

#[tokio::test(start_paused = true)]
async fn sampling_goes_on_for_the_recovery_watch_after_the_verdict() {
    let yaml = BASE.replace("max_duration: 5m", "max_duration: 5m\nrecovery_watch: 20s");
    // Errors go above the steady-state bound (100) and stay there: watched for all 20 s.
    let high_late = |t: Duration| {
        Ok(if t < Duration::from_secs(60) {
            1.0
        } else {
            200.0
        })
    };
    let run = run_with(&yaml, answer_ok, high_late, async |h: Handle| {
        halt_at(&h, Duration::from_secs(70)).await;
    })
    .await;
    let verdict = run.at(|e| matches!(e, Event::Verdict { .. })).unwrap();
    let end = run.at(|e| matches!(e, Event::RunEnded)).unwrap();
    assert!((end - verdict - 20.0).abs() < 1.1, "{verdict} → {end}");
    let after_verdict = run
        .events
        .iter()
        .skip_while(|e| !matches!(e.event, Event::Verdict { .. }))
        .filter(|e| matches!(e.event, Event::Sample { .. }))
        .count();
    assert!(after_verdict >= 18, "{after_verdict}");
    assert_eq!(run.outcome.verdict, Verdict::Aborted);
    // Back inside the bound: the watch ends after 3 good samples.
    let run = run_with(
        &yaml,
        answer_ok,
        |_| Ok(1.0),
        async |h: Handle| {
            halt_at(&h, Duration::from_secs(70)).await;
        },
    )
    .await;
    let verdict = run.at(|e| matches!(e, Event::Verdict { .. })).unwrap();
    let end = run.at(|e| matches!(e, Event::RunEnded)).unwrap();
    assert!(end - verdict <= 3.5, "{verdict} → {end}");
    // Without a halt there is no watch.
    let run = run_with(&yaml, answer_ok, |_| Ok(1.0), idle).await;
    let verdict = run.at(|e| matches!(e, Event::Verdict { .. })).unwrap();
    let end = run.at(|e| matches!(e, Event::RunEnded)).unwrap();
    assert!(end - verdict < 0.1);
}
