//! The console on a Chaos Toolkit experiment's run: a real run (`process` providers on this
//! machine) on a TestBackend, driven by keys; the Run screen's snapshots from a recorded run.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::sync::mpsc;

use super::fixture::{Recorder, at};
use crate::event::{Event, Phase, RuleCheck, Verdict};
use crate::scenario::ctk::Experiment;
use crate::tui::app::App;
use crate::tui::ui;

fn key(c: char) -> io::Result<TermEvent> {
    let mods = if c.is_ascii_uppercase() {
        KeyModifiers::SHIFT
    } else {
        KeyModifiers::NONE
    };
    Ok(TermEvent::Key(KeyEvent::new(KeyCode::Char(c), mods)))
}

fn enter() -> io::Result<TermEvent> {
    Ok(TermEvent::Key(KeyEvent::new(
        KeyCode::Enter,
        KeyModifiers::NONE,
    )))
}

async fn until(what: &str, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn journal_has(journal: &Path, what: &str) -> bool {
    std::fs::read_to_string(journal)
        .unwrap_or_default()
        .contains(what)
}

/// `q` until the console has left (the loop drops its input when it returns, so a send fails).
async fn leave(keys: &mpsc::UnboundedSender<io::Result<TermEvent>>) {
    for _ in 0..300 {
        if keys.send(key('q')).is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The experiment written in `dir` (`DIR` in `text` becomes its path), started as
/// `gameday run EXPERIMENT` starts it, and the console's state and loop on it.
type Keys = mpsc::UnboundedSender<io::Result<TermEvent>>;
type Input = std::pin::Pin<Box<dyn futures_util::Stream<Item = io::Result<TermEvent>> + Send>>;

fn start(
    dir: &Path,
    text: &str,
) -> (
    PathBuf,
    App,
    crate::tui::event_loop::Loop<'static>,
    Keys,
    Input,
) {
    let file = dir.join("experiment.yaml");
    std::fs::write(&file, text.replace("DIR", &dir.display().to_string())).expect("write");
    let experiment = Experiment::load(&file).expect("a valid experiment");
    let journal = dir.join("run/journal.jsonl");
    let (running, ()) = crate::session::start_experiment(
        experiment,
        Some(journal.clone()),
        crate::ctk::RunOptions::default(),
        |_| (),
    )
    .expect("started");
    let (app, lp) = crate::tui::started(running);
    let (keys, rx) = mpsc::unbounded_channel::<io::Result<TermEvent>>();
    let input = Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (e, rx))
    }));
    (journal, app, lp, keys, input)
}

/// A console that hangs fails its test instead of holding the suite.
async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(120), f)
        .await
        .expect("the console loop and its driver finish within 120 s")
}

const LONG: &str = "title: A long action
description: The method sleeps; the big red button stops it.
steady-state-hypothesis:
  title: all is well
  probes:
    - {type: probe, name: is-well, tolerance: 0, provider: {type: process, path: 'true', timeout: 5}}
method:
  - {type: action, name: long-sleep, provider: {type: process, path: sh, arguments: ['-c', 'touch DIR/started; sleep 60'], timeout: 120}}
  - {type: action, name: never, provider: {type: process, path: touch, arguments: ['DIR/never'], timeout: 5}}
rollbacks:
  - {type: action, name: undo, provider: {type: process, path: touch, arguments: ['DIR/rolled-back'], timeout: 5}}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctk_console_x_stops_the_long_action_and_the_rollbacks_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (journal, mut app, lp, keys, input) = start(dir.path(), LONG);
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("terminal");
    let started = dir.path().join("started");
    let driver = async {
        let send = |e| keys.send(e).expect("the loop is listening");
        until("the long action", || started.exists()).await;
        // A note typed in the console reaches the journal through the runner.
        send(key('n'));
        for c in "sleeping as planned".chars() {
            send(key(c));
        }
        send(enter());
        until("the note", || journal_has(&journal, "sleeping as planned")).await;
        send(key('X'));
        until("the end of the run", || {
            journal_has(&journal, "\"run_ended\"")
        })
        .await;
        leave(&keys).await;
    };
    let t0 = Instant::now();
    let (done, ()) =
        bounded(async { tokio::join!(lp.run(&mut terminal, &mut app, input), driver) }).await;
    assert!(
        t0.elapsed() < Duration::from_secs(50),
        "the halt stopped the 60 s action"
    );
    let done = done.expect("the loop ran");
    let crate::session::Ended::Finished(outcome) = done.outcome.expect("the run ran") else {
        panic!("the runner did not finish")
    };
    assert_eq!(outcome.verdict, Verdict::Aborted);
    assert_eq!(outcome.exit_code, 1);
    assert_eq!(done.journal.as_deref(), Some(journal.as_path()));
    assert!(dir.path().join("rolled-back").exists(), "the rollback ran");
    assert!(!dir.path().join("never").exists(), "the method stopped");
    let events: Vec<Event> = crate::journal::read(&journal)
        .expect("journal")
        .events
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::HaltRequested { by, .. } if by == "IC"),)
    );
    assert!(events.iter().any(|e| matches!(
        e,
        Event::CtkActivity { phase: Phase::Rollback, name, status, .. }
            if name == "undo" && status == "succeeded"
    )));
    assert!(events.iter().any(
        |e| matches!(e, Event::Note { text, role, .. } if text == "sleeping as planned" && role == "IC"),
    ));
    // The console folded the activities: the probe met its tolerance, the action was stopped.
    let row = |name: &str| app.run.ctk.iter().find(|r| r.name == name).cloned();
    assert_eq!(
        row("is-well").and_then(|r| r.tolerance_met),
        Some(true),
        "{:?}",
        app.run.ctk
    );
    assert_eq!(row("long-sleep").map(|r| r.status), Some("failed".into()));
    assert_eq!(row("undo").map(|r| r.phase), Some(Phase::Rollback));
    assert!(row("never").is_none());
    assert!(app.run.ended);
    // The screen says so too (drawn once more: the whole run can take less than one frame).
    assert!(done.frames > 0);
    crate::tui::event_loop::draw(&mut terminal, &app).expect("draw");
    let screen = terminal.backend().to_string();
    assert!(screen.contains("A long action"), "{screen}");
    assert!(screen.contains("Activities (3)"), "{screen}");
    assert!(
        screen.contains("the experiment's rollbacks ran: 1, all confirmed"),
        "{screen}"
    );
    assert!(
        screen.contains("ABORTED") || screen.contains("aborted"),
        "{screen}"
    );
}

const SHORT: &str = "title: All good
description: A probe, an action, a rollback.
steady-state-hypothesis:
  title: all is well
  probes:
    - {type: probe, name: is-well, tolerance: 0, provider: {type: process, path: 'true', timeout: 5}}
method:
  - {type: action, name: poke, provider: {type: process, path: touch, arguments: ['DIR/poked'], timeout: 5}}
rollbacks:
  - {type: action, name: unpoke, provider: {type: process, path: rm, arguments: ['-f', 'DIR/poked'], timeout: 5}}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctk_console_shows_the_activities_of_a_run_to_its_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (journal, mut app, lp, keys, input) = start(dir.path(), SHORT);
    let mut terminal = Terminal::new(TestBackend::new(160, 48)).expect("terminal");
    let driver = async {
        until("the end of the run", || {
            journal_has(&journal, "\"run_ended\"")
        })
        .await;
        leave(&keys).await;
    };
    let (done, ()) =
        bounded(async { tokio::join!(lp.run(&mut terminal, &mut app, input), driver) }).await;
    let done = done.expect("the loop ran");
    let crate::session::Ended::Finished(outcome) = done.outcome.expect("the run ran") else {
        panic!("the runner did not finish")
    };
    assert_eq!(outcome.verdict, Verdict::Held);
    assert_eq!(outcome.exit_code, 0);
    assert!(!dir.path().join("poked").exists(), "the rollback ran");
    let names: Vec<&str> = app.run.ctk.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["is-well", "poke", "is-well", "unpoke"]);
    let timeline: Vec<&str> = app.run.timeline.iter().map(|e| e.text.as_str()).collect();
    for want in [
        "steady state before: probe `is-well`",
        "method: action `poke`",
        "steady state after: probe `is-well`",
        "rollback: action `unpoke`",
    ] {
        assert!(
            timeline.iter().any(|t| t.starts_with(want)),
            "{want} in {timeline:?}"
        );
    }
    assert!(
        crate::tui::summary(&app.run, &journal).ends_with("1 rollback(s) ran, all confirmed"),
        "{}",
        crate::tui::summary(&app.run, &journal)
    );
}

/// A recorded run of [`LONG`]: the steady state held, the long action running (`halted`: then
/// stopped by the IC, rolled back, ended).
fn recorded(halted: bool) -> Vec<crate::event::Envelope> {
    let text = LONG.replace("DIR", "/tmp/ctk");
    let exp = Experiment::parse(Path::new("experiments/long.yaml"), &text).expect("valid");
    let scenario = crate::ctk::scenario_of(&exp, text.as_bytes(), Duration::from_secs(290));
    let mut r = Recorder { events: Vec::new() };
    let activity =
        |phase, name: &str, activity: &str, status: &str, ms, tm, error: Option<&str>| {
            Event::CtkActivity {
                phase,
                name: name.into(),
                activity: activity.into(),
                provider: "process".into(),
                status: status.into(),
                background: false,
                ms,
                output: if error.is_some() {
                    serde_json::Value::Null
                } else {
                    serde_json::json!({"status": 0, "stdout": "", "stderr": ""})
                },
                error: error.map(Into::into),
                tolerance_met: tm,
                process: None,
            }
        };
    r.push(
        0,
        Event::RunStarted {
            scenario: Box::new(scenario),
            gameday_version: "0.1.0".into(),
            dry_run: None,
        },
    );
    r.push(
        1,
        Event::CtkStricter {
            what: "the run is bounded by a max duration of 4m50s (then halted and rolled back)"
                .into(),
        },
    );
    r.push(
        2,
        Event::PhaseStarted {
            phase: Phase::SteadyStateBefore,
        },
    );
    r.push(
        9,
        activity(
            Phase::SteadyStateBefore,
            "is-well",
            "probe",
            "succeeded",
            7,
            Some(true),
            None,
        ),
    );
    r.push(
        10,
        Event::SteadyState {
            phase: Phase::SteadyStateBefore,
            held: true,
            checks: vec![RuleCheck {
                rule: "is-well".into(),
                metric: "ctk process probe".into(),
                value: Some(0.0),
                held: true,
                reason: None,
            }],
        },
    );
    r.push(
        11,
        Event::PhaseStarted {
            phase: Phase::Steps,
        },
    );
    r.push(
        12,
        Event::StepStarted {
            index: 0,
            name: "long-sleep".into(),
            duration_ms: 120_000,
            prompt: None,
        },
    );
    if halted {
        r.push(
            8_000,
            Event::HaltRequested {
                by: "IC".into(),
                reason: "big red button".into(),
            },
        );
        r.push(
            8_001,
            activity(
                Phase::Steps,
                "long-sleep",
                "action",
                "failed",
                7_989,
                None,
                Some("halted by IC: big red button"),
            ),
        );
        r.push(
            8_002,
            Event::StepEnded {
                index: 0,
                name: "long-sleep".into(),
                advanced: false,
            },
        );
        r.push(
            8_003,
            Event::CtkStricter {
                what: "rollbacks run although chaos run (default strategy) would skip them: the status is interrupted".into(),
            },
        );
        r.push(
            8_004,
            Event::PhaseStarted {
                phase: Phase::Rollback,
            },
        );
        r.push(
            8_010,
            activity(
                Phase::Rollback,
                "undo",
                "action",
                "succeeded",
                6,
                None,
                None,
            ),
        );
        r.push(
            8_011,
            Event::Verdict {
                verdict: Verdict::Aborted,
                exit_code: 1,
                reason: "halted by IC: big red button".into(),
            },
        );
        r.push(8_012, Event::RunEnded);
    }
    r.events
}

fn app_of(events: &[crate::event::Envelope], now_ms: i64) -> App {
    let mut app = App::running(
        at(0),
        PathBuf::from("runs/20261123T200000Z-a-long-action/journal.jsonl"),
    );
    for e in events {
        app.apply(e);
    }
    app.now = at(now_ms);
    app.wall = at(now_ms);
    app
}

fn snap(name: &str, app: &App) {
    for (w, h) in [(80, 24), (160, 48)] {
        let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
        terminal.draw(|f| ui::render(f, app)).expect("draw");
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), terminal.backend());
    }
}

#[test]
fn ctk_run_screen_during_the_method_and_after_a_halt() {
    snap("ctk_running", &app_of(&recorded(false), 5_000));
    snap("ctk_halted", &app_of(&recorded(true), 9_000));
}

#[test]
fn ctk_advance_is_refused_with_why() {
    let mut app = app_of(&recorded(false), 5_000);
    assert!(app.run_live());
    let effects = app.update(crate::tui::action::Action::AdvanceStep);
    assert!(effects.is_empty());
    assert_eq!(app.overlay, crate::tui::app::Overlay::None);
    assert!(
        app.status
            .as_deref()
            .is_some_and(|s| s.contains("nothing to advance")),
        "{:?}",
        app.status
    );
}

#[test]
fn ctk_debrief_lists_the_activities_by_phase_and_where_gameday_was_stricter() {
    let events = recorded(true);
    let run = crate::fold::RunState::from_events(events.iter());
    let md = crate::report::debrief(&run);
    let section = md
        .split("## Chaos Toolkit activities\n")
        .nth(1)
        .expect("the section is there")
        .split("\n## ")
        .next()
        .unwrap_or_default();
    let before = section.find("### Steady state before").expect("before");
    let method = section.find("### Method").expect("method");
    let rollbacks = section.find("### Rollbacks").expect("rollbacks");
    assert!(before < method && method < rollbacks, "{section}");
    assert!(!section.contains("### Steady state after"), "{section}");
    assert!(
        section.contains(
            "| probe `is-well` | process | succeeded | status 0 | ✅ yes | T+00:00 | 7ms |"
        ),
        "{section}"
    );
    assert!(
        section.contains("| action `long-sleep` | process | **failed** | halted by IC: big red button | — | T+00:08 |"),
        "{section}"
    );
    assert!(
        section.contains("| action `undo` | process | succeeded | status 0 | — | T+00:08 |"),
        "{section}"
    );
    assert!(section.contains("### Where gameday was stricter than `chaos run`"));
    assert!(section.contains("- rollbacks run although chaos run (default strategy) would skip them: the status is interrupted"), "{section}");
    // A gameday scenario's debrief has no such section.
    let plain = crate::fold::RunState::from_events(super::fixture::finished().iter());
    assert!(!crate::report::debrief(&plain).contains("Chaos Toolkit"));
}
