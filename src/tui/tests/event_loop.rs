//! The real event loop on a TestBackend, driven by key events from the test, starting a real engine
//! on the local target: start with an override, halt with X, quit after the rollback.

use std::io;
use std::time::{Duration, Instant};

use crossterm::event::{Event as TermEvent, KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tokio::sync::mpsc;

use crate::engine::Options;
use crate::event::{RollbackStatus, Verdict};
use crate::fold::FaultState;
use crate::scenario::Scenario;
use crate::tui::app::App;
use crate::tui::event_loop::Loop;
use crate::tui::launch::EngineLauncher;
use crate::tui::picker::Picker;

const SCENARIO: &str = r#"
title: Loop test
hypothesis: The marker file comes and goes.
max_duration: 2m
targets:
  here: { local: true }
metrics:
  up: { command: "echo 1", target: here, every: 1s, timeout: 2s }
steady_state:
  - { metric: up, below: 5 }
steps:
  - name: Drop the marker
    duration: 90s
    faults:
      - kind: command
        id: marker
        target: here
        inject: "touch MARKER"
        rollback: "rm -f MARKER"
        verify: "test ! -e MARKER"
"#;

/// A console that hangs fails its test instead of holding the suite (and CI) for ever.
async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(120), f)
        .await
        .expect("the console loop and its driver finish within 120 s")
}

/// `q` until the console has left. The journal can show `run_ended` an instant before the console
/// has folded it: a `q` then asks "quit during a run?", the run's end closes that question, and
/// the next `q` leaves (the loop drops its input when it returns, so a send fails).
async fn leave(keys: &mpsc::UnboundedSender<io::Result<TermEvent>>) {
    for _ in 0..300 {
        if keys.send(key('q')).is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `s` on the preflight with unticked checklist items, then the override reason and Enter.
fn start_with_reason(send: &impl Fn(io::Result<TermEvent>), reason: &str) {
    send(key('s'));
    for c in reason.chars() {
        send(key(c));
    }
    send(Ok(TermEvent::Key(KeyEvent::new(
        KeyCode::Enter,
        KeyModifiers::NONE,
    ))));
}

fn key(c: char) -> io::Result<TermEvent> {
    let mods = if c.is_ascii_uppercase() {
        KeyModifiers::SHIFT
    } else {
        KeyModifiers::NONE
    };
    Ok(TermEvent::Key(KeyEvent::new(KeyCode::Char(c), mods)))
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

/// A console on the loop scenario (its fault creates `marker`), with a real launcher and a keyboard
/// the test types on.
struct Setup {
    dir: tempfile::TempDir,
    marker: std::path::PathBuf,
    journal: std::path::PathBuf,
    launcher: EngineLauncher,
    keys: mpsc::UnboundedSender<io::Result<TermEvent>>,
    input: std::pin::Pin<Box<dyn futures_util::Stream<Item = io::Result<TermEvent>> + Send>>,
    app: App,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("MARKER");
    let file = dir.path().join("loop.yaml");
    let text = SCENARIO.replace("MARKER", &marker.display().to_string());
    std::fs::write(&file, &text).expect("write scenario");
    let scenario = std::sync::Arc::new(Scenario::load(&file).expect("valid scenario"));
    let journal = dir.path().join("run/journal.jsonl");
    let launcher = EngineLauncher {
        journal: Some(journal.clone()),
        options: Options::default(),
    };
    let (keys, rx) = mpsc::unbounded_channel::<io::Result<TermEvent>>();
    let input = Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (e, rx))
    }));
    let app = App::preflight(chrono::Utc::now(), Picker::default(), scenario);
    Setup {
        dir,
        marker,
        journal,
        launcher,
        keys,
        input,
        app,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loop_starts_a_run_halts_on_x_and_quits_after_rollback() {
    let Setup {
        dir: _dir,
        marker,
        journal,
        mut launcher,
        keys,
        input,
        mut app,
    } = setup();
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("terminal");
    let lp = Loop {
        launcher: Some(&mut launcher),
        signals: mpsc::channel(1).1,
        journal: None,
        seat: None,
        running: None,
    };
    let driver = async {
        let send = |e| keys.send(e).expect("loop is listening");
        start_with_reason(&send, "loop test");
        until("the fault", || marker.exists()).await;
        send(key('X'));
        let ended = || {
            std::fs::read_to_string(&journal)
                .unwrap_or_default()
                .contains("\"run_ended\"")
        };
        until("the end of the run", ended).await;
        leave(&keys).await;
    };
    let (done, ()) =
        bounded(async { tokio::join!(lp.run(&mut terminal, &mut app, input), driver) }).await;
    let done = done.expect("loop ran");
    assert!(!marker.exists(), "rolled back");
    let crate::session::Ended::Finished(outcome) = done.outcome.expect("engine ran") else {
        panic!("engine did not finish")
    };
    assert_eq!(outcome.verdict, Verdict::Aborted);
    assert!(done.frames > 0);
    assert_eq!(
        app.run.faults[0].state,
        FaultState::Done(RollbackStatus::Verified)
    );
    assert!(matches!(
        app.run.halt.as_ref().and_then(|h| h.finished),
        Some((true, _, Some(_)))
    ));
    assert!(
        app.run.notes.iter().any(|n| n.text.contains("loop test")),
        "override journaled"
    );
}

/// A note being typed when X is pressed stays open; saved after the run has ended it is kept by the
/// console and journaled when the console closes (here: by the same call `tui::console` makes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_note_typed_across_a_halt_and_the_end_reaches_the_journal() {
    let Setup {
        dir: _dir,
        marker,
        journal,
        mut launcher,
        keys,
        input,
        mut app,
    } = setup();
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("terminal");
    let lp = Loop {
        launcher: Some(&mut launcher),
        signals: mpsc::channel(1).1,
        journal: None,
        seat: None,
        running: None,
    };
    let enter = || {
        Ok(TermEvent::Key(KeyEvent::new(
            KeyCode::Enter,
            KeyModifiers::NONE,
        )))
    };
    let driver = async {
        let send = |e| keys.send(e).expect("loop is listening");
        start_with_reason(&send, "override");
        until("the fault", || marker.exists()).await;
        send(key('n'));
        for c in "late thought ".chars() {
            send(key(c));
        }
        send(Ok(TermEvent::Key(KeyEvent::new(
            KeyCode::Char('x'),
            KeyModifiers::CONTROL,
        ))));
        let ended = || {
            std::fs::read_to_string(&journal)
                .unwrap_or_default()
                .contains("\"run_ended\"")
        };
        until("the end of the run", ended).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        // Letters after the end still go to the open box (`r` would open the runbook).
        for c in "rq".chars() {
            send(key(c));
        }
        send(enter());
        leave(&keys).await;
    };
    let (done, ()) =
        bounded(async { tokio::join!(lp.run(&mut terminal, &mut app, input), driver) }).await;
    let done = done.expect("loop ran");
    assert!(!marker.exists(), "rolled back");
    assert!(
        app.runbook.is_none(),
        "a letter typed into the note ran a command"
    );
    let left = crate::tui::journal_late_notes(&journal, &done.late_notes, true);
    assert!(left.is_empty(), "{left:?}");
    let (run, _) = crate::fold::RunState::from_journal(&journal).expect("journal");
    let notes_before = run.notes.len();
    let seq = run
        .notes
        .iter()
        .find(|n| n.text == "late thought rq")
        .map(|n| n.seq)
        .unwrap_or_else(|| panic!("late note journaled: {:?}", run.notes));
    // An edit made on the Review after the run is journaled the same way, as a `note_edited`.
    let edit = crate::tui::app::LateNote {
        role: "scribe".into(),
        text: "late thought, rewritten".into(),
        kind: crate::event::NoteKind::Question,
        owner: None,
        due: None,
        edits: Some(seq),
    };
    assert!(crate::tui::journal_late_notes(&journal, &[edit], true).is_empty());
    let (run, _) = crate::fold::RunState::from_journal(&journal).expect("journal");
    let n = run.notes.iter().find(|n| n.seq == seq).expect("the note");
    assert_eq!(n.text, "late thought, rewritten");
    assert_eq!(n.kind, crate::event::NoteKind::Question);
    assert_eq!(n.edits[0].before, "late thought rq");
    assert_eq!(run.notes.len(), notes_before, "an edit is not a new note");
}

/// Starts a "run" whose engine task dies at once without a verdict, while the console keeps its
/// handle (so the event channel stays open).
struct CrashingLauncher {
    journal: std::path::PathBuf,
    keep: Vec<crate::engine::Handle>,
}

impl crate::tui::launch::Launcher for CrashingLauncher {
    fn launch(
        &mut self,
        _scenario: std::sync::Arc<Scenario>,
        _progress: crate::target::OnConnect,
    ) -> futures_util::future::BoxFuture<'static, Result<crate::session::Running, String>> {
        let (commands, _rx) = mpsc::channel(8);
        let (events, _) = tokio::sync::broadcast::channel(16);
        let handle = crate::engine::Handle { commands, events };
        self.keep.push(handle.clone());
        let running = crate::session::Running {
            events: handle.subscribe(),
            handle,
            engine: tokio::spawn(async { panic!("engine bug (test)") }),
            journal: self.journal.clone(),
        };
        Box::pin(async move { Ok(running) })
    }
}

/// The real launcher, held back until the test lets it go: it reports one host of two answered
/// first, as a slow fleet would.
struct SlowLauncher {
    real: EngineLauncher,
    go: Option<tokio::sync::oneshot::Receiver<()>>,
}

impl crate::tui::launch::Launcher for SlowLauncher {
    fn launch(
        &mut self,
        scenario: std::sync::Arc<Scenario>,
        progress: crate::target::OnConnect,
    ) -> futures_util::future::BoxFuture<'static, Result<crate::session::Running, String>> {
        let go = self.go.take();
        let start = self.real.launch(scenario, progress.clone());
        Box::pin(async move {
            progress.report(crate::target::Connecting {
                done: 1,
                failed: 0,
                total: 2,
            });
            if let Some(go) = go {
                let _ = go.await;
            }
            start.await
        })
    }
}

/// Opening the hosts runs beside the console: the loop stays live (it draws the count), and a
/// halt pressed meanwhile is not lost: it reaches the run as soon as the run exists, before any
/// fault goes in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_halt_pressed_while_the_hosts_open_reaches_the_run() {
    let Setup {
        dir: _dir,
        marker,
        journal,
        launcher,
        keys,
        input,
        mut app,
    } = setup();
    let (go, wait) = tokio::sync::oneshot::channel();
    let mut slow = SlowLauncher {
        real: launcher,
        go: Some(wait),
    };
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("terminal");
    let lp = Loop {
        launcher: Some(&mut slow),
        signals: mpsc::channel(1).1,
        journal: None,
        seat: None,
        running: None,
    };
    let driver = async {
        let send = |e| keys.send(e).expect("loop is listening");
        start_with_reason(&send, "slow");
        // The loop keeps answering keys while the start is held back.
        send(key('?'));
        send(key('?'));
        send(key('X'));
        tokio::time::sleep(Duration::from_millis(300)).await;
        let _ = go.send(());
        let ended = || {
            std::fs::read_to_string(&journal)
                .unwrap_or_default()
                .contains("\"run_ended\"")
        };
        until("the end of the run", ended).await;
        leave(&keys).await;
    };
    let (done, ()) =
        bounded(async { tokio::join!(lp.run(&mut terminal, &mut app, input), driver) }).await;
    let done = done.expect("loop ran");
    let crate::session::Ended::Finished(outcome) = done.outcome.expect("engine ran") else {
        panic!("engine did not finish")
    };
    assert_eq!(outcome.verdict, Verdict::Aborted, "{}", outcome.reason);
    let text = std::fs::read_to_string(&journal).expect("journal");
    assert!(text.contains("\"halt_requested\""), "{text}");
    assert!(
        !text.contains("\"fault_injected\""),
        "a fault went in: {text}"
    );
    assert!(!marker.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_that_dies_without_a_verdict_ends_the_console() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("loop.yaml");
    std::fs::write(&file, SCENARIO.replace("MARKER", "m")).expect("write scenario");
    let scenario = std::sync::Arc::new(Scenario::load(&file).expect("valid scenario"));
    let mut launcher = CrashingLauncher {
        journal: dir.path().join("j.jsonl"),
        keep: Vec::new(),
    };
    let (keys, rx) = mpsc::unbounded_channel::<io::Result<TermEvent>>();
    let input = Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (e, rx))
    }));
    let mut app = App::preflight(chrono::Utc::now(), Picker::default(), scenario);
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("terminal");
    let lp = Loop {
        launcher: Some(&mut launcher),
        signals: mpsc::channel(1).1,
        journal: None,
        seat: None,
        running: None,
    };
    let send = |e| keys.send(e).expect("loop is listening");
    start_with_reason(&send, "go");
    let done = tokio::time::timeout(
        Duration::from_secs(30),
        lp.run(&mut terminal, &mut app, input),
    )
    .await
    .expect("the console must not wait forever on a dead engine")
    .expect("loop ran");
    let crate::session::Ended::Died(why) = done.outcome.expect("a run was started") else {
        panic!("a verdict from an engine that died")
    };
    assert!(why.contains("stopped unexpectedly"), "{why}");
    assert_eq!(done.journal, Some(dir.path().join("j.jsonl")));
}

/// Two consoles on TestBackends: the IC's, which runs the engine, and a scribe's joined through
/// the run's real seat socket. The scribe's note reaches the journal with the seat's tag and the
/// IC's timeline; the scribe's X is refused in its status line (no grant); the scribe leaving
/// changes nothing, and only the IC's halt ends the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joined_scribe_note_reaches_the_ic_timeline_and_the_journal() {
    let Setup {
        dir: _dir,
        marker,
        journal,
        mut launcher,
        keys,
        input,
        mut app,
    } = setup();
    let mut terminal = Terminal::new(TestBackend::new(140, 40)).expect("terminal");
    let lp = Loop {
        launcher: Some(&mut launcher),
        signals: mpsc::channel(1).1,
        journal: None,
        seat: None,
        running: None,
    };
    let read = || std::fs::read_to_string(&journal).unwrap_or_default();
    let (scribe_keys, rx) = mpsc::unbounded_channel::<io::Result<TermEvent>>();
    let scribe_input = Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|e| (e, rx))
    }));
    let mut scribe_terminal = Terminal::new(TestBackend::new(140, 40)).expect("terminal");
    let mut scribe_app = None;
    let driver = async {
        let send = |e| keys.send(e).expect("loop is listening");
        start_with_reason(&send, "two seats");
        until("the fault", || marker.exists()).await;
        let socket = journal.parent().expect("run dir").join(crate::seat::SOCKET);
        let client = crate::seat::SeatClient::join(&socket, "scribe", Some("Lee"), false)
            .await
            .expect("the run takes the scribe");
        assert_eq!(client.tag, "scribe Lee (seat 1)");
        assert!(!client.may("halt"), "no halt without the run's grant");
        let (mut sapp, slp) = crate::tui::joined(client).expect("joined console");
        let scribe = async {
            let ssend = |e| scribe_keys.send(e).expect("scribe loop is listening");
            until("the seat journaled", || read().contains("\"seat_joined\"")).await;
            ssend(key('X'));
            ssend(key('n'));
            for c in "failover took 40s".chars() {
                ssend(key(c));
            }
            ssend(Ok(TermEvent::Key(KeyEvent::new(
                KeyCode::Enter,
                KeyModifiers::NONE,
            ))));
            until("the scribe's note", || {
                read().contains("\"role\":\"scribe Lee (seat 1)\",\"text\":\"failover took 40s\"")
            })
            .await;
            // Leaving asks nothing and halts nothing.
            ssend(key('q'));
        };
        let (left, ()) = tokio::join!(
            slp.run(&mut scribe_terminal, &mut sapp, scribe_input),
            scribe
        );
        left.expect("scribe loop ran");
        until("the seat left", || read().contains("\"seat_left\"")).await;
        assert!(marker.exists(), "the scribe leaving changed nothing");
        assert!(!read().contains("\"halt_requested\""), "{}", read());
        scribe_app = Some(sapp);
        send(key('X'));
        until("the end of the run", || read().contains("\"run_ended\"")).await;
        leave(&keys).await;
    };
    let (done, ()) =
        bounded(async { tokio::join!(lp.run(&mut terminal, &mut app, input), driver) }).await;
    done.expect("loop ran");
    assert!(!marker.exists(), "rolled back");
    let note = app
        .run
        .notes
        .iter()
        .find(|n| n.text == "failover took 40s")
        .unwrap_or_else(|| panic!("the IC sees the scribe's note: {:?}", app.run.notes));
    assert_eq!(note.role, "scribe Lee (seat 1)");
    assert!(
        app.run
            .timeline
            .iter()
            .any(|l| l.text.contains("failover took 40s") && l.src == "scribe Lee (seat 1)"),
        "in the IC's timeline"
    );
    assert_eq!(
        app.run.halt.as_ref().map(|h| h.by.as_str()),
        Some("IC"),
        "only the IC halted"
    );
    let sapp = scribe_app.expect("scribe ran");
    assert_eq!(
        sapp.seat.as_ref().map(|s| s.tag.as_str()),
        Some("scribe Lee (seat 1)")
    );
    let screen = format!("{:?}", scribe_terminal.backend().buffer());
    assert!(screen.contains("JOINED as scribe Lee (seat 1)"), "{screen}");
    // The socket goes with the run.
    assert!(
        !journal
            .parent()
            .expect("dir")
            .join(crate::seat::SOCKET)
            .exists()
    );
}
