//! `App::update`, one test (at least) per action.

use std::path::PathBuf;
use std::sync::Arc;

use tui_input::InputRequest;

use super::fixture::{self, at, live, t0};
use crate::engine::Command;
use crate::event::{MilestoneKind, NoteKind};
use crate::tui::action::{Action, Effect, Role};
use crate::tui::app::{App, Field, Overlay, Pending, Screen};

fn typed(app: &mut App, text: &str) {
    for c in text.chars() {
        app.update(Action::Edit(InputRequest::InsertChar(c)));
    }
}

fn preflight() -> App {
    App::preflight(t0(), fixture::picker(), fixture::scenario())
}

#[test]
fn tick_moves_the_clock_forward_only() {
    let mut app = live(&fixture::breaching(), 26_000);
    assert!(app.update(Action::Tick(at(30_000))).is_empty());
    assert_eq!(app.now, at(30_000));
    app.update(Action::Tick(at(1_000)));
    assert_eq!(app.now, at(30_000));
}

#[test]
fn event_folds_and_quits_after_end_when_asked() {
    let events = fixture::finished();
    let (last, rest) = events.split_last().expect("events");
    let mut app = live(rest, 28_000);
    app.quit_after_end = true;
    assert!(app.run_live());
    assert_eq!(
        app.update(Action::Event(Arc::new(last.clone()))),
        vec![Effect::Quit]
    );
    assert!(app.run.ended);
}

/// `q` pressed in the moment before the run's end reaches the console asked "quit during a run?";
/// the end makes the question moot: the dialog closes and the next `q` leaves.
#[test]
fn a_quit_question_open_when_the_run_ends_is_closed() {
    let events = fixture::finished();
    let (last, rest) = events.split_last().expect("events");
    let mut app = live(rest, 28_000);
    assert!(app.update(Action::Quit).is_empty());
    assert_eq!(app.overlay, Overlay::ConfirmQuit);
    app.update(Action::Event(Arc::new(last.clone())));
    assert_eq!(app.overlay, Overlay::None);
    assert!(app.status.as_deref().unwrap_or("").contains("run ended"));
    assert_eq!(app.update(Action::Quit), vec![Effect::Quit]);
}

#[test]
fn lagged_is_counted_and_shown() {
    let mut app = live(&fixture::breaching(), 26_000);
    app.update(Action::Lagged(7));
    assert_eq!(app.run.lagged, 7);
    assert!(app.status.as_deref().unwrap_or("").contains('7'));
}

#[test]
fn signal_halts_a_live_run_then_leaves() {
    let mut app = live(&fixture::breaching(), 26_000);
    let fx = app.update(Action::Signal("SIGTERM"));
    assert!(
        matches!(&fx[..], [Effect::Engine(Command::Halt { by, reason })] if by == "signal" && reason.contains("SIGTERM"))
    );
    assert!(app.quit_after_end);
    let mut idle = preflight();
    assert_eq!(idle.update(Action::Signal("SIGHUP")), vec![Effect::Quit]);
}

#[test]
fn halt_sends_one_halt_without_confirmation_even_while_typing() {
    let mut app = live(&fixture::breaching(), 26_000);
    app.update(Action::OpenNote);
    let fx = app.update(Action::Halt);
    assert_eq!(
        fx,
        vec![Effect::Engine(Command::Halt {
            by: "IC".into(),
            reason: "big red button".into()
        })]
    );
    assert!(app.field.is_none());
    assert!(
        app.update(Action::Halt).is_empty(),
        "a second press sends nothing more"
    );
    let mut idle = preflight();
    assert!(idle.update(Action::Halt).is_empty());
}

#[test]
fn up_down_page_top_bottom_move_selection_and_scroll() {
    let mut app = App::picker(t0(), fixture::picker());
    app.update(Action::Down);
    assert_eq!(app.picker.selected, 1);
    app.update(Action::Down);
    assert_eq!(app.picker.selected, 1);
    app.update(Action::Up);
    assert_eq!(app.picker.selected, 0);
    app.update(Action::Bottom);
    assert_eq!(app.picker.selected, 1);
    app.update(Action::Top);
    assert_eq!(app.picker.selected, 0);
    app.update(Action::PageDown);
    assert_eq!(app.picker.selected, 1);
    app.update(Action::PageUp);
    assert_eq!(app.picker.selected, 0);
    // On the Run screen the keys scroll the timeline back from its newest line.
    let mut run = live(&fixture::breaching(), 26_000);
    run.update(Action::Up);
    assert_eq!(run.timeline_scroll, 1);
    run.update(Action::PageUp);
    assert_eq!(run.timeline_scroll, 11);
    run.update(Action::Bottom);
    assert_eq!(run.timeline_scroll, 0);
}

#[test]
fn select_opens_preflight_for_a_valid_scenario_only() {
    let mut app = App::picker(t0(), fixture::picker());
    app.update(Action::Down);
    app.update(Action::Select);
    assert_eq!(app.screen, Screen::Picker);
    assert!(app.status.is_some());
    app.update(Action::Up);
    app.update(Action::Select);
    assert_eq!(app.screen, Screen::Preflight);
    assert!(app.checklist.is_some());
}

#[test]
fn back_closes_field_then_overlay_then_screen() {
    let mut app = preflight();
    app.update(Action::ToggleHelp);
    app.update(Action::Back);
    assert_eq!(app.overlay, Overlay::None);
    app.update(Action::Back);
    assert_eq!(app.screen, Screen::Picker);
}

#[test]
fn note_is_sent_with_role_and_kind() {
    let mut app = live(&fixture::breaching(), 26_000);
    app.update(Action::OpenNote);
    assert_eq!(
        app.field.as_ref().map(|f| f.field),
        Some(Field::Note {
            kind: NoteKind::Observation
        })
    );
    typed(&mut app, "db fine");
    app.update(Action::CycleRole);
    assert_eq!(
        app.update(Action::Select),
        vec![Effect::Engine(Command::NoteOf {
            role: "scribe".into(),
            text: "db fine".into(),
            kind: NoteKind::Observation,
            owner: None,
            due: None,
        })]
    );
    app.update(Action::OpenActionItem);
    typed(&mut app, "add breaker @ana due:2026-12-01");
    assert_eq!(
        app.update(Action::Select),
        vec![Effect::Engine(Command::NoteOf {
            role: "scribe".into(),
            text: "add breaker".into(),
            kind: NoteKind::ActionItem,
            owner: Some("ana".into()),
            due: Some("2026-12-01".into()),
        })]
    );
    app.update(Action::OpenNote);
    assert!(
        app.update(Action::Select).is_empty(),
        "an empty note is dropped"
    );
}

#[test]
fn cycle_role_goes_round() {
    let mut app = preflight();
    assert_eq!(app.role, Role::Ic);
    app.update(Action::CycleRole);
    app.update(Action::CycleRole);
    assert_eq!(app.role, Role::Observer);
    app.update(Action::CycleRole);
    assert_eq!(app.role, Role::Ic);
}

#[test]
fn milestones_are_commands_during_a_run() {
    let mut app = live(&fixture::breaching(), 26_000);
    assert_eq!(
        app.update(Action::Mitigated),
        vec![Effect::Engine(Command::Milestone {
            kind: MilestoneKind::Mitigated,
            role: "IC".into()
        })]
    );
    assert!(preflight().update(Action::Detected).is_empty());
}

/// `detected` is already marked in the fixture (T+22): a second `d` is refused, and says so.
#[test]
fn a_second_detected_is_refused_with_a_reason() {
    let mut app = live(&fixture::breaching(), 26_000);
    assert!(app.update(Action::Detected).is_empty());
    assert_eq!(app.overlay, Overlay::None);
    let status = app.status.clone().unwrap_or_default();
    assert!(status.contains("already marked at T+00:22"), "{status}");
}

/// Before any fault is in, `d` asks first: the milestone would be journaled but not counted.
#[test]
fn a_milestone_before_any_fault_asks_first() {
    let events: Vec<_> = fixture::breaching()
        .into_iter()
        .filter(|e| e.ts < at(10_000))
        .collect();
    let mut app = live(&events, 9_000);
    assert!(app.update(Action::Detected).is_empty());
    assert_eq!(
        app.overlay,
        Overlay::Confirm(Pending::Milestone(MilestoneKind::Detected))
    );
    // n: nothing sent.
    assert!(app.update(Action::Back).is_empty());
    assert_eq!(app.overlay, Overlay::None);
    app.update(Action::Detected);
    assert_eq!(
        app.update(Action::Confirm),
        vec![Effect::Engine(Command::Milestone {
            kind: MilestoneKind::Detected,
            role: "IC".into()
        })]
    );
    assert!(
        app.status
            .as_deref()
            .unwrap_or("")
            .contains("does not count")
    );
}

#[test]
fn advance_step_asks_first_naming_the_step_and_its_faults() {
    let events: Vec<_> = fixture::breaching()
        .into_iter()
        .filter(|e| e.ts < at(10_000))
        .collect();
    let mut app = live(&events, 9_000);
    assert!(app.update(Action::AdvanceStep).is_empty());
    assert_eq!(app.overlay, Overlay::Confirm(Pending::Advance));
    let screen = render_text(&app, 80, 24);
    assert!(screen.contains("step 2/3 \"Slow payments\""), "{screen}");
    assert!(screen.contains("It injects 1 fault."), "{screen}");
    assert_eq!(
        app.update(Action::Confirm),
        vec![Effect::Engine(Command::Advance)]
    );
    assert!(preflight().update(Action::AdvanceStep).is_empty());
}

/// `u` retracts the newest note or milestone (after a y), as a journaled retraction.
#[test]
fn undo_retracts_the_last_note_or_milestone() {
    let events = fixture::breaching();
    let milestone_seq = events
        .iter()
        .find(|e| matches!(e.event, crate::event::Event::Milestone { .. }))
        .map(|e| e.seq)
        .expect("milestone");
    let mut app = live(&events, 26_000);
    assert!(app.update(Action::Undo).is_empty());
    assert_eq!(
        app.overlay,
        Overlay::Confirm(Pending::Retract { seq: milestone_seq })
    );
    let screen = render_text(&app, 80, 24);
    assert!(
        screen.contains("Retract the milestone detected?"),
        "{screen}"
    );
    assert_eq!(
        app.update(Action::Confirm),
        vec![Effect::Engine(Command::Retract {
            seq: milestone_seq,
            role: "IC".into()
        })]
    );
    // The engine journals it; the fold leaves the milestone out and `d` may be marked again.
    let seq = events.last().map(|e| e.seq).unwrap_or(0) + 1;
    app.update(Action::Event(Arc::new(crate::event::Envelope {
        seq,
        ts: at(26_500),
        run: events[0].run.clone(),
        event: crate::event::Event::Retracted {
            retracts: milestone_seq,
            role: "IC".into(),
        },
    })));
    assert!(app.run.milestones.is_empty());
    assert_eq!(app.run.key_times.detected, None);
    assert!(matches!(
        &app.update(Action::Detected)[..],
        [Effect::Engine(Command::Milestone { .. })]
    ));
    assert!(preflight().update(Action::Undo).is_empty());
}

pub fn render_text(app: &App, w: u16, h: u16) -> String {
    let mut terminal =
        ratatui::Terminal::new(ratatui::backend::TestBackend::new(w, h)).expect("test terminal");
    terminal
        .draw(|f| crate::tui::ui::render(f, app))
        .expect("draw");
    let buf = terminal.backend().buffer();
    let mut out = String::new();
    for y in 0..h {
        for x in 0..w {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

#[test]
fn runbook_toggle_and_load() {
    let mut app = preflight();
    assert!(app.update(Action::ToggleRunbook).is_empty());
    assert_eq!(app.overlay, Overlay::Runbook, "no runbook linked: says so");
    app.update(Action::ToggleRunbook);
    assert_eq!(app.overlay, Overlay::None);
    app.update(Action::RunbookLoaded(Ok("# Payments\nrestart".into())));
    assert_eq!(app.overlay, Overlay::Runbook);
    assert_eq!(app.runbook, Some(Ok("# Payments\nrestart".into())));
}

#[test]
fn help_toggles() {
    let mut app = preflight();
    app.update(Action::ToggleHelp);
    assert_eq!(app.overlay, Overlay::Help);
    app.update(Action::ToggleHelp);
    assert_eq!(app.overlay, Overlay::None);
}

#[test]
fn check_toggles_manual_items_only() {
    let mut app = preflight();
    let before = app.checklist.clone();
    app.update(Action::ToggleCheck);
    assert_eq!(app.checklist, before, "item 0 is decided from the scenario");
    app.update(Action::Down);
    app.update(Action::Down);
    app.update(Action::ToggleCheck);
    assert!(app.checklist.as_ref().is_some_and(|c| c.items[2].ok()));
}

#[test]
fn start_needs_a_typed_reason_while_items_are_open() {
    let mut app = preflight();
    assert!(app.update(Action::StartRun).is_empty());
    assert_eq!(
        app.field.as_ref().map(|f| f.field),
        Some(Field::OverrideReason)
    );
    assert!(
        app.update(Action::Select).is_empty(),
        "an empty reason starts nothing"
    );
    assert!(!app.started);
    app.update(Action::StartRun);
    typed(&mut app, "team is on the bridge");
    let fx = app.update(Action::Select);
    match &fx[..] {
        [
            Effect::Start {
                override_note: Some(n),
                ..
            },
        ] => {
            assert!(
                n.contains("team is on the bridge") && n.contains("Team notified"),
                "{n}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(app.started);
}

#[test]
fn start_without_override_when_everything_is_ticked() {
    let mut app = preflight();
    let n = app.checklist.as_ref().map(|c| c.items.len()).unwrap_or(0);
    for i in 0..n {
        app.checklist.as_mut().expect("checklist").selected = i;
        app.update(Action::ToggleCheck);
    }
    assert!(matches!(
        &app.update(Action::StartRun)[..],
        [Effect::Start {
            override_note: None,
            ..
        }]
    ));
}

#[test]
fn debrief_toggles_after_the_end_and_exports() {
    let mut app = live(&fixture::breaching(), 26_000);
    app.update(Action::ToggleDebrief);
    assert_eq!(app.screen, Screen::Run, "no debrief while running");
    assert!(app.update(Action::Export).is_empty());
    let mut done = live(&fixture::finished(), 30_000);
    done.update(Action::ToggleDebrief);
    assert_eq!(done.screen, Screen::Debrief);
    assert_eq!(done.update(Action::Export), vec![Effect::ExportDebrief]);
    done.update(Action::Exported(Ok(PathBuf::from("runs/x/debrief.md"))));
    assert_eq!(done.export, Some(Ok(PathBuf::from("runs/x/debrief.md"))));
    done.update(Action::ToggleDebrief);
    assert_eq!(done.screen, Screen::Run);
}

#[test]
fn quit_asks_during_a_run_and_confirm_halts_first() {
    let mut app = live(&fixture::breaching(), 26_000);
    assert!(app.update(Action::Quit).is_empty());
    assert_eq!(app.overlay, Overlay::ConfirmQuit);
    let fx = app.update(Action::Confirm);
    assert!(matches!(&fx[..], [Effect::Engine(Command::Halt { .. })]));
    assert!(app.quit_after_end);
    assert_eq!(preflight().update(Action::Quit), vec![Effect::Quit]);
    let mut idle = preflight();
    idle.overlay = Overlay::ConfirmQuit;
    assert_eq!(idle.update(Action::Confirm), vec![Effect::Quit]);
}

#[test]
fn seek_refolds_the_journal_up_to_the_slider() {
    let mut app = App::replay(fixture::finished());
    assert!(app.run.ended);
    app.update(Action::SeekStart);
    assert_eq!(app.now, t0());
    app.update(Action::Seek(12));
    assert!(!app.run.ended);
    assert_eq!(app.run.step.as_ref().map(|s| s.index), Some(1));
    app.update(Action::Seek(-100));
    assert_eq!(app.now, t0());
    app.update(Action::SeekEnd);
    assert!(app.run.ended);
    assert!(
        app.update(Action::Halt).is_empty(),
        "a replay halts nothing"
    );
}

#[test]
fn edit_changes_the_open_field_only() {
    let mut app = live(&fixture::breaching(), 26_000);
    app.update(Action::Edit(InputRequest::InsertChar('x')));
    assert!(app.field.is_none());
    app.update(Action::OpenNote);
    typed(&mut app, "ab");
    app.update(Action::Edit(InputRequest::DeletePrevChar));
    assert_eq!(
        app.field.as_ref().map(|f| f.input.value().to_string()),
        Some("a".into())
    );
}

#[test]
fn run_failed_allows_a_retry() {
    let mut app = preflight();
    app.started = true;
    app.update(Action::RunFailed("no such host".into()));
    assert!(!app.started);
    assert_eq!(app.start_error.as_deref(), Some("no such host"));
    assert!(app.status.as_deref().unwrap_or("").contains("Live checks"));
    // Starting again clears the old error.
    let fx = app.update(Action::StartRun);
    assert!(fx.is_empty(), "items are open: a reason is asked first");
    typed(&mut app, "ok");
    app.update(Action::Select);
    assert!(app.started);
    assert!(app.start_error.is_none());
}

/// What an SSH target with an unknown host key makes `session::start` return.
pub const UNKNOWN_KEY: &str = "1 host(s) could not be opened; nothing was run:\n  web-1:22: host key SHA256:q3bT0x is not in /home/ic/.ssh/known_hosts; if that is the host's key, trust it with `gameday trust web-1:22 --known-hosts /home/ic/.ssh/known_hosts` (or run with --accept-new). Nothing was run on it; nothing was run";

#[test]
fn a_failed_start_is_shown_whole_in_live_checks_with_the_command_to_run() {
    let mut app = preflight();
    app.started = true;
    app.update(Action::RunFailed(UNKNOWN_KEY.into()));
    assert_eq!(
        crate::tui::app::fix_commands(UNKNOWN_KEY),
        vec!["gameday trust web-1:22 --known-hosts /home/ic/.ssh/known_hosts".to_string()]
    );
    for (w, h) in [(80, 24), (160, 48)] {
        let text = render_text(&app, w, h);
        assert!(text.contains("NOT RUN"), "{text}");
        assert!(
            text.contains("  gameday trust web-1:22 --known-hosts /home/ic/.ssh/known_hosts"),
            "{text}"
        );
        assert!(text.contains("--accept-new"), "wrapped, not cut: {text}");
        assert!(!text.contains("run when you start"), "{text}");
    }
    // The footer's flash goes; the box stays until the next start.
    app.update(Action::Tick(at(crate::tui::app::FLASH_SECS * 1000)));
    assert!(app.status.is_none());
    assert!(render_text(&app, 80, 24).contains("gameday trust web-1:22"));
}

#[test]
fn flash_messages_clear_after_a_few_seconds_of_ticks() {
    let mut app = preflight();
    app.update(Action::Halt);
    assert!(app.status.is_some());
    app.update(Action::Tick(at(4_900)));
    assert!(app.status.is_some(), "still shown before its time");
    app.update(Action::Tick(at(5_000)));
    assert!(
        app.status.is_none(),
        "cleared {} s after it was set",
        crate::tui::app::FLASH_SECS
    );
    // A new message starts its own clock.
    app.update(Action::Halt);
    app.update(Action::Tick(at(9_000)));
    assert!(app.status.is_some());
    app.update(Action::Tick(at(10_000)));
    assert!(app.status.is_none());
    // A replay's slider is not the flash clock: the ticks' wall time is.
    let mut replay = App::replay(fixture::finished());
    let wall = replay.now + chrono::Duration::seconds(100);
    replay.update(Action::Tick(wall));
    replay.update(Action::Halt);
    assert!(replay.status.is_some());
    replay.update(Action::SeekStart);
    replay.update(Action::Tick(wall + chrono::Duration::seconds(2)));
    assert!(replay.status.is_some());
    replay.update(Action::Tick(wall + chrono::Duration::seconds(5)));
    assert!(replay.status.is_none());
}

/// Quitting during a run says so until the run has ended, not only for a flash.
#[test]
fn leaving_after_the_rollback_is_said_until_the_run_ends() {
    let mut app = live(&fixture::breaching(), 26_000);
    app.update(Action::Quit);
    app.update(Action::Confirm);
    app.update(Action::Tick(at(40_000)));
    assert!(app.status.is_none());
    assert!(render_text(&app, 80, 24).contains("leaving once every fault is rolled back"));
}

#[test]
fn preflight_screen_gives_way_to_run_after_live_checks() {
    let events = fixture::breaching();
    let mut app = preflight();
    app.started = true;
    for e in events.iter().take(4) {
        app.apply(e);
    }
    assert_eq!(app.screen, Screen::Preflight);
    assert_eq!(app.run.checks.len(), 2);
    app.apply(&events[4]);
    assert_eq!(app.screen, Screen::Run);
}

#[test]
fn lag_resyncs_from_the_journal_without_double_counting() {
    let all = fixture::halting();
    let mut app = live(&all[..all.len() - 3], 26_000);
    assert_eq!(app.update(Action::Lagged(3)), vec![Effect::Resync]);
    // The journal as the engine wrote it, streamed into a fresh console state.
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.jsonl");
    let lines: String = all
        .iter()
        .map(|e| serde_json::to_string(e).unwrap() + "\n")
        .collect();
    std::fs::write(&journal, lines).unwrap();
    let (run, _) = crate::fold::RunState::console()
        .fold_journal(&journal)
        .unwrap();
    app.update(Action::Resynced(crate::tui::action::Refolded(Box::new(
        run,
    ))));
    assert!(
        app.run.halt.is_some(),
        "missed halt recovered from the journal"
    );
    let timeline = app.run.timeline.len();
    // The broadcast copies that arrive afterwards are ignored.
    app.update(Action::Event(Arc::new(all[all.len() - 1].clone())));
    assert_eq!(app.run.timeline.len(), timeline);
    assert_eq!(app.run.lagged, 3);
}

/// The engine holds after failed live checks; the console asks for a reason and sends Proceed.
fn held() -> App {
    use crate::event::{Envelope, Event, Phase};
    let mut app = preflight();
    app.started = true;
    let env = |seq, event| Envelope {
        seq,
        ts: at(500),
        run: "r".into(),
        event,
    };
    app.update(Action::Event(Arc::new(env(
        1,
        Event::PhaseStarted {
            phase: Phase::Preflight,
        },
    ))));
    app.update(Action::Event(Arc::new(env(
        2,
        Event::PreflightCheck {
            check: "target db: db-1 reachable".into(),
            ok: false,
            detail: "no exit status: connection refused".into(),
        },
    ))));
    app.update(Action::Event(Arc::new(env(
        3,
        Event::PreflightHeld {
            failures: vec!["target db: db-1 reachable: connection refused".into()],
        },
    ))));
    app
}

#[test]
fn failed_live_checks_need_a_typed_reason_to_proceed() {
    let mut app = held();
    assert_eq!(app.screen, Screen::Preflight);
    assert_eq!(
        app.field.as_ref().map(|f| f.field),
        Some(Field::LiveOverride)
    );
    assert!(app.update(Action::Select).is_empty(), "no reason, no start");
    assert!(
        app.status
            .as_deref()
            .unwrap_or("")
            .contains("needs a reason")
    );
    app.update(Action::StartRun);
    typed(&mut app, "db-1 is drained on purpose");
    assert_eq!(
        app.update(Action::Select),
        vec![Effect::Engine(Command::Proceed {
            by: "IC".into(),
            reason: "db-1 is drained on purpose".into(),
        })]
    );
}

#[test]
fn failed_live_checks_can_be_aborted_with_the_halt_key() {
    let mut app = held();
    app.update(Action::Back);
    let fx = app.update(Action::Halt);
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::Engine(Command::Halt { .. }))),
        "{fx:?}"
    );
}

/// A note being typed when the run ends stays open with its text; Enter keeps it for the journal
/// (appended when the console closes), and letters typed into it never run commands.
#[test]
fn a_note_typed_across_the_end_of_the_run_is_kept() {
    let events = fixture::finished();
    let (last, rest) = events.split_last().expect("events");
    let mut app = live(rest, 28_000);
    app.update(Action::OpenNote);
    typed(&mut app, "rollback was ");
    app.update(Action::Event(Arc::new(last.clone())));
    assert!(app.run.ended);
    assert_eq!(app.ctx(), crate::tui::keys::Ctx::Typing);
    assert_eq!(
        app.field.as_ref().map(|f| f.input.value().to_string()),
        Some("rollback was ".into())
    );
    assert!(app.status.as_deref().unwrap_or("").contains("still saves"));
    // Every letter goes to the text box: `r` must not open the runbook, `D` not the debrief.
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    for c in "rD quick".chars() {
        let key = KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
        assert_eq!(crate::tui::keys::action_for(app.ctx(), key), None, "{c}");
        app.update(Action::Edit(InputRequest::InsertChar(c)));
    }
    assert_eq!(app.overlay, Overlay::None);
    assert_eq!(app.screen, Screen::Run);
    assert!(app.update(Action::Select).is_empty());
    assert_eq!(app.late_notes.len(), 1);
    assert_eq!(app.late_notes[0].text, "rollback was rD quick");
    assert!(
        app.status
            .as_deref()
            .unwrap_or("")
            .contains("journaled on export")
    );
}

/// Quitting (or a signal) while a note is open keeps the note rather than dropping it.
#[test]
fn leaving_with_a_note_open_keeps_the_note() {
    let events = fixture::finished();
    let (last, rest) = events.split_last().expect("events");
    let mut app = live(rest, 28_000);
    app.quit_after_end = true;
    app.update(Action::OpenActionItem);
    typed(&mut app, "add a breaker");
    assert_eq!(
        app.update(Action::Event(Arc::new(last.clone()))),
        vec![Effect::Quit]
    );
    assert_eq!(app.late_notes.len(), 1);
    assert_eq!(app.late_notes[0].kind, NoteKind::ActionItem);
}

/// The big red button while typing halts and leaves the note open with its text.
#[test]
fn halting_while_typing_keeps_the_note() {
    let mut app = live(&fixture::breaching(), 26_000);
    app.update(Action::OpenNote);
    typed(&mut app, "half a thought");
    assert_eq!(app.update(Action::Halt).len(), 1);
    assert_eq!(
        app.field.as_ref().map(|f| f.input.value().to_string()),
        Some("half a thought".into())
    );
}

#[test]
fn the_quit_question_says_how_many_faults_are_live() {
    let mut app = live(&fixture::breaching(), 26_000);
    app.update(Action::Quit);
    let screen = render_text(&app, 80, 24);
    assert!(
        screen.contains("1 fault is live: quitting rolls it back first."),
        "{screen}"
    );
}

/// Printed on the shell after the console closes.
#[test]
fn the_summary_line_counts_verified_rollbacks() {
    let run = crate::fold::RunState::from_events(&fixture::finished());
    let j = std::path::Path::new("runs/x/journal.jsonl");
    assert_eq!(
        crate::tui::summary(&run, j),
        "ABORTED: 1 fault rolled back, all verified"
    );
    let halting = crate::fold::RunState::from_events(&fixture::halting());
    let line = crate::tui::summary(&halting, j);
    assert!(
        line.contains("1 of 1 fault NOT verified")
            && line.contains("gameday recover runs/x/journal.jsonl"),
        "{line}"
    );
    let none = crate::fold::RunState::from_events(&fixture::breaching()[..3]);
    assert!(crate::tui::summary(&none, j).contains("nothing to roll back"));
}

/// A halt before any fault was in says "nothing to roll back", not a 0/0 progress forever.
#[test]
fn a_halt_with_no_fault_says_nothing_to_roll_back() {
    let mut events: Vec<_> = fixture::breaching()
        .into_iter()
        .filter(|e| e.ts < at(5_000))
        .collect();
    let seq = events.len() as u64;
    events.push(crate::event::Envelope {
        seq,
        ts: at(5_000),
        run: events[0].run.clone(),
        event: crate::event::Event::HaltRequested {
            by: "IC".into(),
            reason: "big red button".into(),
        },
    });
    let app = live(&events, 17_000);
    let screen = render_text(&app, 80, 24);
    assert!(screen.contains("nothing to roll back"), "{screen}");
    assert!(!screen.contains("0/0"), "{screen}");
}

/// The countdown is on the top line, over any overlay, and keeps the countdown at 60 columns;
/// the live console and a replay of the same journal say the same at the same instant.
#[test]
fn the_abort_countdown_is_on_top_and_agrees_with_replay() {
    let mut app = live(&fixture::breaching(), 26_100);
    let top = |app: &App, w: u16| {
        render_text(app, w, 24)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    let line = top(&app, 80);
    assert!(
        line.contains("AUTO-ABORT IN 18 s — error_rate > 5, 12 of 30 s"),
        "{line}"
    );
    assert!(top(&app, 60).contains("AUTO-ABORT IN 18 s"));
    app.update(Action::RunbookLoaded(Ok("# Runbook\n".repeat(40))));
    assert_eq!(app.overlay, Overlay::Runbook);
    assert!(top(&app, 80).contains("AUTO-ABORT IN 18 s"));
    app.update(Action::ToggleHelp);
    assert!(top(&app, 80).contains("AUTO-ABORT IN 18 s"));
    // Replay of the same events at the same instant.
    let mut replay = App::replay(fixture::breaching());
    replay.update(Action::SeekEnd);
    let at_end = replay.now;
    let live_then = live(&fixture::breaching(), (at_end - t0()).num_milliseconds());
    assert_eq!(
        crate::tui::ui::alert_text(&replay),
        crate::tui::ui::alert_text(&live_then)
    );
}

/// A breaching metric's panel comes first, whatever its name, so "+N more" never hides it.
#[test]
fn the_breaching_panel_comes_first() {
    let mut events = fixture::breaching();
    let seq = events.last().map(|e| e.seq).unwrap_or(0) + 1;
    events.push(crate::event::Envelope {
        seq,
        ts: at(25_000),
        run: events[0].run.clone(),
        event: crate::event::Event::RuleBreaching {
            rule: 1,
            label: "latency_ms > 3000".into(),
            value: Some(3100.0),
            left_ms: 10_000,
            reason: None,
        },
    });
    let mut app = live(&events, 26_000);
    app.run.rules.remove(&0);
    let screen = render_text(&app, 80, 24);
    let latency = screen.find("┌ latency_ms").expect("latency panel");
    let errors = screen.find("┌ error_rate").expect("error panel");
    assert!(latency < errors, "{screen}");
    assert!(
        screen.starts_with(" ▲ AUTO-ABORT IN 9 s — latency_ms > 3000, 1 of 10 s"),
        "{screen}"
    );
}

#[test]
fn tab_moves_the_focus_and_arrows_act_on_the_focused_pane() {
    use crate::tui::app::Pane;
    let mut app = live(&fixture::breaching(), 26_000);
    assert_eq!(app.focus, Pane::Timeline);
    app.update(Action::Up);
    assert_eq!(app.timeline_scroll, 1);
    app.update(Action::FocusNext);
    assert_eq!(app.focus, Pane::Faults);
    app.update(Action::Down);
    assert_eq!(app.fault_selected, 0, "one fault: nowhere to go");
    assert_eq!(app.timeline_scroll, 1, "the timeline did not move");
    app.update(Action::FocusNext);
    assert_eq!(app.focus, Pane::Metrics);
    // The breaching panel is laid out first and selected first.
    assert_eq!(app.selected_panel().as_deref(), Some("error_rate"));
    app.update(Action::Down);
    assert_eq!(app.selected_panel().as_deref(), Some("latency_ms"));
    app.update(Action::Down);
    assert_eq!(app.selected_panel().as_deref(), Some("latency_ms"));
    app.update(Action::Top);
    assert_eq!(app.selected_panel().as_deref(), Some("error_rate"));
    app.update(Action::FocusNext);
    assert_eq!(app.focus, Pane::Timeline);
    // Not on other screens.
    let mut pre = preflight();
    pre.update(Action::FocusNext);
    assert_eq!(pre.focus, Pane::Timeline);
}

#[test]
fn slash_filters_the_timeline_by_source() {
    use crate::fold::Source;
    use crate::tui::app::Filter;
    let mut app = live(&fixture::breaching(), 26_000);
    let all = app.timeline_shown().len();
    app.update(Action::Up);
    let mut seen = vec![];
    for _ in 0..5 {
        app.update(Action::CycleFilter);
        assert_eq!(
            app.timeline_scroll, 0,
            "a new filter follows the newest line"
        );
        seen.push(app.timeline_filter);
        let shown = app.timeline_shown();
        match app.timeline_filter {
            Filter::All => assert_eq!(shown.len(), all),
            Filter::Notes => {
                assert_eq!(shown.len(), 2, "the note and the milestone");
                assert!(shown.iter().all(|e| e.kind == Source::Notes));
            }
            Filter::Faults => {
                let texts: Vec<&str> = shown.iter().map(|e| e.text.as_str()).collect();
                assert!(
                    texts.len() == 2 && texts[1].starts_with("injected"),
                    "{texts:?}"
                );
            }
            Filter::Rules => assert_eq!(shown.len(), 1),
            Filter::Metrics => {
                assert!(shown.iter().all(|e| e.kind == Source::Metrics));
                assert!(shown.iter().any(|e| e.src == "steady state"));
            }
        }
    }
    assert_eq!(
        seen,
        [
            Filter::Notes,
            Filter::Faults,
            Filter::Rules,
            Filter::Metrics,
            Filter::All
        ]
    );
    assert!(render_text(&app, 80, 24).contains("Timeline "));
    app.update(Action::CycleFilter);
    assert!(render_text(&app, 80, 24).contains("Timeline: notes only"));
}

#[test]
fn enter_opens_the_detail_of_the_selected_event_or_fault() {
    use crate::tui::app::{Detail, Pane};
    let mut app = live(&fixture::breaching(), 26_000);
    for _ in 0..3 {
        app.update(Action::Up);
    }
    let cursor = app.timeline_cursor().expect("a line").clone();
    assert!(
        cursor.text.starts_with("injected slow-pay"),
        "{}",
        cursor.text
    );
    app.update(Action::Select);
    assert_eq!(
        app.overlay,
        Overlay::Detail(Detail::Event { seq: cursor.seq })
    );
    let text = render_text(&app, 80, 24);
    for want in [
        "$ touch /tmp/slow",
        "$ rm -f /tmp/slow",
        "exit 0 in 5 ms",
        "record #",
    ] {
        assert!(text.contains(want), "{want}: {text}");
    }
    // Enter again (or Esc) closes it.
    app.update(Action::Select);
    assert_eq!(app.overlay, Overlay::None);
    app.update(Action::Select);
    app.update(Action::Back);
    assert_eq!(app.overlay, Overlay::None);
    // On the faults pane: the fault's own detail, rollback and all.
    let mut done = live(&fixture::finished(), 40_000);
    done.update(Action::FocusNext);
    assert_eq!(done.focus, Pane::Faults);
    done.update(Action::Select);
    assert_eq!(done.overlay, Overlay::Detail(Detail::Fault { index: 0 }));
    let text = render_text(&done, 160, 48);
    assert!(
        text.contains("rollback: VERIFIED at T+00:28 (undo exit status, 1 attempt(s))"),
        "{text}"
    );
}

#[test]
fn z_zooms_the_selected_panel_and_again_or_esc_returns() {
    use crate::tui::app::Pane;
    let mut app = live(&fixture::breaching(), 26_000);
    app.update(Action::Zoom);
    assert!(app.zoom);
    assert_eq!(app.focus, Pane::Metrics);
    let text = render_text(&app, 80, 24);
    assert!(
        text.contains("error_rate 9 %") && !text.contains("latency_ms 2180"),
        "{text}"
    );
    // ↑↓ move the zoom from panel to panel.
    app.update(Action::Down);
    let text = render_text(&app, 80, 24);
    assert!(
        text.contains("latency_ms 2180") && !text.contains("error_rate 9 %"),
        "{text}"
    );
    app.update(Action::Zoom);
    assert!(!app.zoom);
    app.update(Action::Zoom);
    app.update(Action::Back);
    assert!(!app.zoom);
    // Enter on the metrics pane zooms too.
    app.update(Action::Select);
    assert!(app.zoom);
}

/// What the detail view shows of a fault is folded from the journal: the inject's output, the
/// undo's and verify's, and the lease's expiry.
#[test]
fn the_fold_keeps_command_output_and_the_lease_expiry() {
    use crate::event::{Envelope, Event};
    let mut events = fixture::breaching();
    let seq = events.len() as u64;
    events.push(Envelope {
        seq,
        ts: at(25_000),
        run: events[0].run.clone(),
        event: Event::LeaseArmed {
            fault: "slow-pay".into(),
            host: "local".into(),
            ok: true,
            lease_ms: 15_000,
            cancel: "kill 42".into(),
            outcome: Default::default(),
        },
    });
    let run = crate::fold::RunState::from_events(&events);
    let f = &run.faults[0];
    assert_eq!(f.inject_outcome.as_ref().and_then(|o| o.exit), Some(0));
    assert_eq!(f.lease_expiry(), Some(at(40_000)));
    let mut app = live(&events, 26_000);
    app.update(Action::FocusNext);
    app.update(Action::Select);
    assert!(render_text(&app, 160, 48).contains("reverts the fault by itself at T+00:40"));
}

/// Under NO_COLOR the chart still tells data, threshold and fault window apart by glyph, and
/// labels its bounds, its time axis and its threshold.
#[test]
fn charts_are_labelled_and_tell_their_lines_apart_without_colour() {
    let mut app = live(&fixture::finished(), 40_000);
    app.no_color = true;
    for (w, h) in [(80, 24), (160, 48)] {
        let text = render_text(&app, w, h);
        for want in [
            "abort > 5",
            "abort > 3000",
            "T+00:00",
            "T+01:00",
            "┣",
            "┫",
            "╌",
            "⠤ value",
            "━ fault",
            "3500",
        ] {
            assert!(text.contains(want), "{want} at {w}x{h}: {text}");
        }
    }
}

/// A metric panel's name and current value come first: where the legend does not fit beside them,
/// the legend goes, never the value (it once read "shop1_errors 7" for 7.988 err/s).
#[test]
fn a_narrow_panel_keeps_its_value_and_drops_the_legend() {
    let app = live(&fixture::breaching(), 26_000);
    for (w, h) in [(60, 20), (70, 24), (80, 24), (100, 30), (160, 48)] {
        let text = render_text(&app, w, h);
        assert!(text.contains("error_rate 9 %"), "{w}×{h}:\n{text}");
        for line in text.lines().filter(|l| l.contains("error_rate 9")) {
            assert!(
                !line.contains("⠤ val") || line.contains("⠤ value"),
                "{w}×{h}: a cut legend: {line}"
            );
        }
    }
}

/// While a start opens its hosts the Live checks box counts them; the first event of the run (or
/// a failed start) ends the count.
#[test]
fn the_live_checks_box_counts_hosts_while_they_open() {
    let mut app = preflight();
    app.started = true;
    app.update(Action::Connecting(crate::target::Connecting {
        done: 1,
        failed: 0,
        total: 2,
    }));
    let text = render_text(&app, 80, 24);
    assert!(text.contains("connecting 1/2 hosts…"), "{text}");
    app.update(Action::RunFailed("refused".into()));
    assert!(app.connecting.is_none());
}

/// `proved()` up to `until_ms`: the run with human checks, live while `until_ms` is before its end.
fn proved_until(until_ms: i64) -> App {
    let events: Vec<_> = fixture::proved()
        .into_iter()
        .filter(|e| e.ts <= at(until_ms))
        .collect();
    live(&events, until_ms)
}

/// `c` lists the open human checks of the steps that started; `p` sends one as passed, `f` asks
/// for a reason and sends it as failed; the engine's decision takes it off the list.
#[test]
fn human_checks_are_ticked_from_the_console() {
    let mut app = proved_until(20_000);
    assert_eq!(app.update(Action::OpenChecks), vec![]);
    assert_eq!(app.overlay, Overlay::Checks);
    assert_eq!(app.ctx(), crate::tui::keys::Ctx::Checks);
    let labels: Vec<&str> = app.check_list().iter().map(|c| c.label.as_str()).collect();
    assert_eq!(
        labels,
        ["Pager alert reached on-call", "Status page updated"]
    );
    assert_eq!(app.check_list()[0].check_by.as_deref(), Some("IC"));
    // p: the selected (first) one passed, by the console's role.
    assert_eq!(
        app.update(Action::CheckPassed),
        vec![Effect::Engine(Command::Check {
            step: 1,
            index: 1,
            passed: true,
            reason: String::new(),
            by: "IC".into(),
        })]
    );
    assert!(app.update(Action::CheckPassed).is_empty(), "sent once");
    assert!(app.status.as_deref().unwrap_or("").contains("sent already"));
    // f on the second: a reason is required; letters typed into it never run commands.
    app.update(Action::Down);
    app.update(Action::CheckFailed);
    assert_eq!(app.ctx(), crate::tui::keys::Ctx::Typing);
    assert!(app.update(Action::Select).is_empty(), "no reason: not sent");
    assert!(app.field.is_some(), "the reason box stays open");
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    for c in "pf not yet".chars() {
        let key = KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
        assert_eq!(crate::tui::keys::action_for(app.ctx(), key), None, "{c}");
        app.update(Action::Edit(InputRequest::InsertChar(c)));
    }
    assert_eq!(
        app.update(Action::Select),
        vec![Effect::Engine(Command::Check {
            step: 1,
            index: 2,
            passed: false,
            reason: "pf not yet".into(),
            by: "IC".into(),
        })]
    );
    // The engine journals the first decision: it leaves the list.
    let decided = fixture::proved()
        .into_iter()
        .find(|e| {
            matches!(
                e.event,
                crate::event::Event::CriterionResult {
                    step: 1,
                    index: 1,
                    ..
                }
            )
        })
        .expect("the pager check's result");
    app.update(Action::Event(Arc::new(decided)));
    let labels: Vec<&str> = app.check_list().iter().map(|c| c.label.as_str()).collect();
    assert_eq!(labels, ["Status page updated"]);
    assert!(app.checks_sent.iter().all(|k| *k != (1, 1)));
}

/// Before a step starts its checks are not offered; a scenario without any says so.
#[test]
fn checks_of_steps_not_started_are_not_offered() {
    let mut app = proved_until(5_000);
    app.update(Action::OpenChecks);
    assert_eq!(app.overlay, Overlay::None);
    assert!(app.status.as_deref().unwrap_or("").contains("not started"));
    let mut plain = live(&fixture::breaching(), 26_000);
    plain.update(Action::OpenChecks);
    assert_eq!(plain.overlay, Overlay::None);
    assert!(
        plain
            .status
            .as_deref()
            .unwrap_or("")
            .contains("no human check")
    );
}

/// Once the verdict is in, the engine takes no tick: the list closes and says so, a reason being
/// typed stays in its box and Enter says it was not sent; after the end `c` says so. An unticked
/// check is never shown as passed.
#[test]
fn checks_after_the_verdict_are_refused_and_stay_not_checked() {
    let events = fixture::proved();
    let verdict = events
        .iter()
        .position(|e| matches!(e.event, crate::event::Event::Verdict { .. }))
        .expect("verdict");
    let mut app = proved_until(26_000);
    app.update(Action::OpenChecks);
    app.update(Action::Down);
    app.update(Action::CheckFailed);
    typed(&mut app, "half a reason");
    for e in events
        .iter()
        .filter(|e| e.ts > at(26_000))
        .take_while(|e| e.seq <= events[verdict].seq)
    {
        app.update(Action::Event(Arc::new(e.clone())));
    }
    assert_eq!(app.overlay, Overlay::None, "the list closed");
    assert_eq!(
        app.ctx(),
        crate::tui::keys::Ctx::Typing,
        "the reason box stays"
    );
    assert!(app.update(Action::Select).is_empty());
    assert!(app.status.as_deref().unwrap_or("").contains("not sent"));
    for e in events.iter().filter(|e| e.seq > events[verdict].seq) {
        app.update(Action::Event(Arc::new(e.clone())));
    }
    assert!(app.run.ended);
    assert!(app.update(Action::OpenChecks).is_empty());
    assert_eq!(app.overlay, Overlay::None);
    assert!(
        app.status
            .as_deref()
            .unwrap_or("")
            .contains("no longer be ticked")
    );
    let status = app
        .run
        .criteria
        .iter()
        .find(|c| c.label == "Status page updated")
        .expect("check");
    assert_eq!(
        status.outcome,
        Some(crate::event::CriterionOutcome::NotChecked)
    );
    assert_eq!(status.result(), "not checked");
    // A replay cannot tick either.
    let mut replay = App::replay(fixture::proved());
    replay.update(Action::SeekStart);
    replay.update(Action::Seek(20));
    replay.update(Action::OpenChecks);
    assert_eq!(replay.overlay, Overlay::None);
    assert!(replay.status.as_deref().unwrap_or("").contains("replay"));
}

/// Tab in the note box cycles the kinds, Shift-Tab the role; an action item needs `@owner`, a due
/// date must be a date; a refused note stays in its box.
#[test]
fn the_note_box_cycles_kinds_and_an_action_item_needs_an_owner() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let mut app = live(&fixture::breaching(), 26_000);
    app.update(Action::OpenNote);
    let key =
        |c, m| crate::tui::keys::action_for(crate::tui::keys::Ctx::Typing, KeyEvent::new(c, m));
    assert_eq!(
        key(KeyCode::Tab, KeyModifiers::NONE),
        Some(Action::CycleNoteKind)
    );
    assert_eq!(
        key(KeyCode::BackTab, KeyModifiers::SHIFT),
        Some(Action::CycleRole)
    );
    let kinds: Vec<NoteKind> = (0..6)
        .map(|_| {
            let k = match app.field.as_ref().map(|f| f.field) {
                Some(Field::Note { kind }) => kind,
                other => panic!("{other:?}"),
            };
            app.update(Action::CycleNoteKind);
            k
        })
        .collect();
    assert_eq!(kinds, NoteKind::ALL);
    for _ in 0..2 {
        app.update(Action::CycleNoteKind); // observation → action item → went well
    }
    typed(&mut app, "fallback worked");
    assert_eq!(
        app.update(Action::Select),
        vec![Effect::Engine(Command::NoteOf {
            role: "IC".into(),
            text: "fallback worked".into(),
            kind: NoteKind::WentWell,
            owner: None,
            due: None,
        })]
    );
    app.update(Action::OpenActionItem);
    typed(&mut app, "add a breaker");
    assert!(app.update(Action::Select).is_empty());
    assert!(
        app.status
            .as_deref()
            .unwrap_or("")
            .contains("needs an owner")
    );
    assert_eq!(
        app.field.as_ref().map(|f| f.input.value().to_string()),
        Some("add a breaker".into())
    );
    typed(&mut app, " @bo due:2026-13-45");
    assert!(app.update(Action::Select).is_empty());
    assert!(app.status.as_deref().unwrap_or("").contains("YYYY-MM-DD"));
    assert!(app.field.is_some());
}

/// After the end: `R` opens the Review (not before), notes can still be written there (kept for the
/// journal and shown), `w` writes the debrief, `D` and `R` move between the screens, Esc goes back.
#[test]
fn the_review_screen_after_the_run() {
    let mut running = proved_until(26_000);
    running.update(Action::ToggleReview);
    assert_eq!(running.screen, Screen::Run, "no review during the run");
    assert!(
        running
            .status
            .as_deref()
            .unwrap_or("")
            .contains("once the run has ended")
    );

    let mut app = live(&fixture::proved(), 40_000);
    app.update(Action::ToggleReview);
    assert_eq!(app.screen, Screen::Review);
    assert_eq!(app.ctx(), crate::tui::keys::Ctx::Review);
    app.update(Action::CycleRole);
    app.update(Action::OpenNote);
    app.update(Action::CycleNoteKind);
    app.update(Action::CycleNoteKind);
    app.update(Action::CycleNoteKind);
    typed(&mut app, "the runbook's rollback line was wrong");
    assert!(
        app.update(Action::Select).is_empty(),
        "nothing to the engine: it is gone"
    );
    assert_eq!(app.late_notes.len(), 1);
    assert_eq!(app.late_notes[0].kind, NoteKind::WentWrong);
    assert_eq!(app.late_notes[0].role, "scribe");
    assert_eq!(app.after_notes, app.late_notes);
    assert_eq!(app.update(Action::Export), vec![Effect::ExportDebrief]);
    // Export journals the late notes (the loop empties the list); they stay on the Review.
    app.late_notes.clear();
    app.update(Action::Exported(Ok(PathBuf::from("runs/x/debrief.md"))));
    assert_eq!(app.after_notes.len(), 1);
    app.update(Action::ToggleDebrief);
    assert_eq!(app.screen, Screen::Debrief);
    app.update(Action::ToggleReview);
    assert_eq!(app.screen, Screen::Review);
    app.update(Action::Back);
    assert_eq!(app.screen, Screen::Run);
    app.update(Action::ToggleReview);
    app.update(Action::ToggleReview);
    assert_eq!(app.screen, Screen::Run);
    // The key map: w writes only on the Review; R on Run, Debrief and Review.
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let key = |ctx, c| {
        crate::tui::keys::action_for(ctx, KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
    };
    use crate::tui::keys::Ctx;
    assert_eq!(key(Ctx::Review, 'w'), Some(Action::Export));
    assert_eq!(key(Ctx::Run, 'w'), None);
    for ctx in [Ctx::Run, Ctx::Debrief, Ctx::Review] {
        assert_eq!(key(ctx, 'R'), Some(Action::ToggleReview), "{ctx:?}");
    }
}

/// A replay's Review is the run as of the slider and takes no notes.
#[test]
fn a_replays_review_takes_no_notes() {
    let mut app = App::replay(fixture::proved());
    app.update(Action::ToggleReview);
    assert_eq!(app.screen, Screen::Review);
    app.update(Action::OpenNote);
    assert!(app.field.is_none());
    assert!(app.status.as_deref().unwrap_or("").contains("replay"));
}

/// The run's end offers the review.
#[test]
fn the_end_of_the_run_offers_the_review() {
    let events = fixture::proved();
    let (last, rest) = events.split_last().expect("events");
    let mut app = live(rest, 28_000);
    app.update(Action::Event(Arc::new(last.clone())));
    assert!(
        app.status
            .as_deref()
            .unwrap_or("")
            .contains("R opens the review")
    );
}

/// The Live checks box counts the checks as they come in, against how many a start runs (one
/// per host, one per metric).
#[test]
fn the_live_checks_box_counts_checks_as_they_come_in() {
    let mut app = preflight();
    app.started = true;
    let scenario = app.scenario.clone().expect("scenario");
    let total = scenario.targets.len() + scenario.metrics.len();
    app.apply(&crate::event::Envelope {
        seq: 1,
        ts: t0(),
        run: "r".into(),
        event: crate::event::Event::PreflightCheck {
            check: "target web: local reachable".into(),
            ok: true,
            detail: "exit 0".into(),
        },
    });
    let text = render_text(&app, 80, 24);
    assert!(text.contains(&format!("Live checks 1/{total}")), "{text}");
}

/// A fault window near the start of the chart is drawn on the time axis even where the `T+`
/// label would go: the label yields (it once covered a fault that had just gone in).
#[test]
fn a_fault_window_near_the_axis_start_is_not_covered_by_its_label() {
    let app = live(&fixture::breaching(), 26_000);
    for (w, h) in [(60, 20), (80, 24), (160, 48)] {
        let text = render_text(&app, w, h);
        assert!(
            text.lines().any(|l| l.contains("┣")),
            "{w}×{h}: no fault window on the axis:\n{text}"
        );
    }
}

/// `E`: the notes list; Enter opens the selected note in a box holding its text (an action item
/// with its owner); during the run the engine journals the edit, the note's seq named.
#[test]
fn a_note_is_edited_during_the_run_through_the_engine() {
    let mut app = live(&fixture::breaching(), 26_000);
    app.update(Action::OpenNotesList);
    assert_eq!(app.overlay, Overlay::Notes);
    assert_eq!(app.ctx(), crate::tui::keys::Ctx::Notes);
    let seq = app.note_list()[0].seq;
    app.update(Action::EditNote);
    assert_eq!(app.overlay, Overlay::None);
    let f = app.field.as_ref().expect("edit box");
    assert_eq!(
        f.field,
        Field::EditNote {
            seq,
            kind: NoteKind::Observation
        }
    );
    assert_eq!(f.input.value(), "Checkout errors visible on the dashboard");
    typed(&mut app, " (p99 too)");
    let effects = app.update(Action::Select);
    assert_eq!(
        effects,
        vec![Effect::Engine(Command::EditNote {
            edits: seq,
            role: "IC".into(),
            text: "Checkout errors visible on the dashboard (p99 too)".into(),
            kind: NoteKind::Observation,
            owner: None,
            due: None,
        })]
    );
    match &effects[..] {
        [Effect::Engine(Command::EditNote { edits, text, .. })] => {
            assert_eq!(*edits, seq);
            assert!(text.ends_with("(p99 too)"));
        }
        other => panic!("expected one EditNote, got {other:?}"),
    }
    // The key is there on the run screen and the review, and Enter edits in the list.
    use crate::tui::keys::{Ctx, action_for};
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    let shift_e = KeyEvent::new(KeyCode::Char('E'), KeyModifiers::SHIFT);
    assert_eq!(action_for(Ctx::Run, shift_e), Some(Action::OpenNotesList));
    assert_eq!(
        action_for(Ctx::Review, shift_e),
        Some(Action::OpenNotesList)
    );
    assert_eq!(
        action_for(
            Ctx::Notes,
            KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)
        ),
        Some(Action::EditNote)
    );
}

/// After the run an edit changes the Review at once and waits, with the notes written late, to be
/// journaled as a NoteEdited (the original text stays in the fold's edit history). An action item
/// edited without an owner stays in its box.
#[test]
fn a_note_edited_after_the_run_is_kept_for_the_journal() {
    let mut app = live(&fixture::finished(), 40_000);
    assert!(!app.run_live());
    app.update(Action::ToggleReview);
    app.update(Action::OpenNotesList);
    assert_eq!(app.overlay, Overlay::Notes);
    // Observations come first, then action items: select the action item.
    app.update(Action::Down);
    let target = app.note_list()[1].seq;
    assert_eq!(app.note_list()[1].kind, NoteKind::ActionItem);
    app.update(Action::EditNote);
    app.update(Action::Edit(InputRequest::DeleteLine));
    typed(&mut app, "Add a breaker to the payment client");
    assert!(app.update(Action::Select).is_empty());
    assert!(
        app.status
            .as_deref()
            .unwrap_or("")
            .contains("needs an owner")
    );
    assert!(app.field.is_some(), "kept in its box");
    typed(&mut app, " @bo due:2026-12-31");
    assert!(app.update(Action::Select).is_empty());
    assert!(app.field.is_none());
    let n = app
        .run
        .notes
        .iter()
        .find(|n| n.seq == target)
        .expect("note");
    assert_eq!(n.text, "Add a breaker to the payment client");
    assert_eq!(n.owner.as_deref(), Some("bo"));
    assert_eq!(n.edits.len(), 1);
    assert_eq!(
        n.edits[0].before,
        "Add a circuit breaker on the payment client"
    );
    assert_eq!(app.late_notes.len(), 1);
    assert_eq!(app.late_notes[0].edits, Some(target));
    assert!(app.after_notes.is_empty(), "an edit is not a new note");
    // An edit cannot empty a note.
    app.update(Action::OpenNotesList);
    app.update(Action::EditNote);
    app.update(Action::Edit(InputRequest::DeleteLine));
    assert!(app.update(Action::Select).is_empty());
    assert!(app.status.as_deref().unwrap_or("").contains("cannot empty"));
    assert_eq!(app.late_notes.len(), 1);
}

/// A replay edits nothing.
#[test]
fn a_replay_edits_no_notes() {
    let mut app = App::replay(fixture::finished());
    app.update(Action::OpenNotesList);
    assert_eq!(app.overlay, Overlay::None);
    assert!(app.status.as_deref().unwrap_or("").contains("replay"));
}

/// A check says who ticks it: `by: IC` only from the IC seat; an observer ticks nothing; a check
/// with no `by:` from the scribe seat too. Refused in the console with the reason, nothing sent.
#[test]
fn a_check_is_ticked_only_from_the_seat_it_names() {
    let mut app = proved_until(20_000);
    app.update(Action::OpenChecks);
    app.update(Action::CycleRole); // scribe
    assert!(app.update(Action::CheckPassed).is_empty());
    assert!(
        app.status.as_deref().unwrap_or("").contains("IC seat"),
        "{:?}",
        app.status
    );
    app.update(Action::CheckFailed);
    assert!(
        app.field.is_none(),
        "no reason box for a check this seat cannot tick"
    );
    app.update(Action::Down); // "Status page updated": no `by:`
    assert_eq!(app.update(Action::CheckPassed).len(), 1, "the scribe may");
    app.update(Action::CycleRole); // observer
    app.update(Action::Up);
    assert!(app.update(Action::CheckPassed).is_empty());
    assert!(
        app.status
            .as_deref()
            .unwrap_or("")
            .contains("observer cannot")
    );
    assert!(app.checks_sent.iter().all(|k| *k != (1, 1)));
}

/// Each note kind has its key: `+` went well, `-` went wrong, `Q` question, `B` runbook gap (and
/// `n`, `a`), on the Run screen and the Review; in a text box they are only text.
#[test]
fn each_note_kind_has_its_key() {
    use crate::tui::keys::{Ctx, action_for};
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    for (c, shift, kind) in [
        ('+', false, NoteKind::WentWell),
        ('-', false, NoteKind::WentWrong),
        ('Q', true, NoteKind::Question),
        ('B', true, NoteKind::RunbookGap),
    ] {
        let mods = if shift {
            KeyModifiers::SHIFT
        } else {
            KeyModifiers::NONE
        };
        let key = KeyEvent::new(KeyCode::Char(c), mods);
        for ctx in [Ctx::Run, Ctx::Review] {
            assert_eq!(action_for(ctx, key), Some(Action::OpenNoteOf(kind)), "{c}");
        }
        assert_eq!(action_for(Ctx::Typing, key), None, "{c} types");
        let mut app = live(&fixture::breaching(), 26_000);
        app.update(Action::OpenNoteOf(kind));
        assert_eq!(
            app.field.as_ref().map(|f| f.field),
            Some(Field::Note { kind })
        );
    }
}

/// `v` during a fleet's rollback: the rows not verified, worst first (unknown before still rolling
/// back), ↑↓ through them, Enter opens the selected one's detail; nothing to list says why.
#[test]
fn the_hosts_not_verified_are_listed_worst_first_with_their_detail() {
    let mut app = live(&fixture::halting_fleet(), 28_000);
    app.update(Action::OpenUnverified);
    assert_eq!(app.overlay, Overlay::Unverified);
    assert_eq!(app.ctx(), crate::tui::keys::Ctx::Unverified);
    let list = app.unverified_list();
    // 3 unknown + 185 fleet hosts + slow-pay on local still rolling back.
    assert_eq!(list.len(), 3 + 185 + 1, "{}", list.len());
    let states: Vec<&str> = list
        .iter()
        .take(4)
        .map(|i| app.run.faults[*i].state.label())
        .collect();
    assert_eq!(states, ["UNKNOWN", "UNKNOWN", "UNKNOWN", "rolling back"]);
    app.update(Action::Down);
    app.update(Action::UnverifiedDetail);
    assert_eq!(
        app.overlay,
        Overlay::Detail(crate::tui::app::Detail::Fault { index: list[1] })
    );
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    assert_eq!(
        crate::tui::keys::action_for(
            crate::tui::keys::Ctx::Run,
            KeyEvent::new(KeyCode::Char('v'), KeyModifiers::NONE)
        ),
        Some(Action::OpenUnverified)
    );
    let mut calm = live(&fixture::breaching(), 26_000);
    calm.update(Action::OpenUnverified);
    assert_eq!(calm.overlay, Overlay::None);
    assert!(calm.status.as_deref().unwrap_or("").contains("no rollback"));
}

fn joined(may: &[&str]) -> App {
    let seat = crate::tui::app::SeatView {
        tag: "scribe Lee (seat 1)".into(),
        may: may.iter().map(|m| m.to_string()).collect(),
    };
    let mut app = App::joined(t0(), seat, PathBuf::from("/run/journal.jsonl"));
    for e in &fixture::breaching() {
        app.apply(e);
    }
    app
}

/// A joined seat: what it may not do is said in the status line and sends nothing; leaving, or a
/// signal, quits at once and never halts the run.
#[test]
fn a_joined_seat_says_why_and_never_halts_by_leaving() {
    let mut app = joined(&["note", "milestone", "retract", "edit"]);
    assert_eq!(app.role, Role::Scribe);
    assert!(app.update(Action::Halt).is_empty());
    assert!(
        app.status
            .as_deref()
            .is_some_and(|s| s.contains("--can-halt"))
    );
    assert!(!app.halt_sent);
    for a in [Action::AdvanceStep, Action::OpenChecks, Action::CycleRole] {
        assert!(app.update(a).is_empty());
        assert!(app.status.is_some());
    }
    assert_eq!(app.role, Role::Scribe, "the role is fixed");
    // A note goes out as the console's own command (the loop sends it over the socket).
    app.update(Action::OpenNote);
    typed(&mut app, "db failover slow");
    let fx = app.update(Action::Select);
    assert!(
        matches!(&fx[..], [Effect::Engine(Command::NoteOf { text, .. })] if text == "db failover slow"),
        "{fx:?}"
    );
    assert_eq!(app.update(Action::Quit), vec![Effect::Quit]);
    assert_eq!(app.update(Action::Signal("SIGHUP")), vec![Effect::Quit]);
    // With the grant, X halts as the console's X does.
    let mut app = joined(&["note", "halt"]);
    assert!(matches!(
        &app.update(Action::Halt)[..],
        [Effect::Engine(Command::Halt { .. })]
    ));
}

#[test]
fn an_observer_seat_is_read_only() {
    let mut app = joined(&[]);
    assert_eq!(app.role, Role::Observer);
    for a in [
        Action::OpenNote,
        Action::OpenActionItem,
        Action::Detected,
        Action::Undo,
    ] {
        assert!(app.update(a).is_empty());
        assert!(app.field.is_none());
        assert!(
            app.status
                .as_deref()
                .is_some_and(|s| s.contains("read-only"))
        );
    }
}
