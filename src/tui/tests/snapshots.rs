//! Every screen at 80×24 and 160×48 on a TestBackend, from the recorded run.

use std::path::PathBuf;

use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::fixture::{self, at, live, t0};
use crate::tui::action::Action;
use crate::tui::app::App;
use crate::tui::ui;

fn snap(name: &str, app: &App) {
    for (w, h) in [(80, 24), (160, 48)] {
        let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
        terminal.draw(|f| ui::render(f, app)).expect("draw");
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), terminal.backend());
    }
}

#[test]
fn picker_with_valid_and_invalid_scenarios() {
    let mut app = App::picker(t0(), fixture::picker());
    snap("picker", &app);
    app.update(Action::Down);
    snap("picker_invalid", &app);
}

#[test]
fn preflight_checklist_and_live_checks() {
    let mut app = App::preflight(t0(), fixture::picker(), fixture::scenario());
    app.update(Action::Down);
    app.update(Action::Down);
    app.update(Action::ToggleCheck);
    snap("preflight", &app);
    app.update(Action::StartRun);
    snap("preflight_override", &app);
}

#[test]
fn preflight_held_after_failed_live_checks() {
    use crate::event::{Envelope, Event};
    let mut app = App::preflight(t0(), fixture::picker(), fixture::scenario());
    app.started = true;
    for (seq, event) in [
        (
            1,
            Event::PreflightCheck {
                check: "target web: web-1 reachable".into(),
                ok: false,
                detail: "no exit status: connection refused".into(),
            },
        ),
        (
            2,
            Event::PreflightHeld {
                failures: vec!["target web: web-1 reachable: connection refused".into()],
            },
        ),
    ] {
        app.update(Action::Event(std::sync::Arc::new(Envelope {
            seq,
            ts: t0(),
            run: "r".into(),
            event,
        })));
    }
    snap("preflight_held", &app);
}

/// An unknown host key: the whole reason and the command that fixes it, in the Live checks box.
#[test]
fn preflight_after_a_start_that_failed() {
    let mut app = App::preflight(t0(), fixture::picker(), fixture::scenario());
    app.started = true;
    app.update(Action::RunFailed(super::update::UNKNOWN_KEY.into()));
    snap("preflight_start_failed", &app);
}

#[test]
fn run_with_breaching_countdown() {
    let app = live(&fixture::breaching(), 26_100);
    snap("run_breaching", &app);
}

#[test]
fn run_with_halt_in_progress() {
    let app = live(&fixture::halting(), 28_000);
    snap("run_halting", &app);
}

/// A halt on 1,000 hosts: one count per fault (verified 812/1000, failed 0, unknown 3) and the
/// hosts not verified, worst first, as far as the line goes.
#[test]
fn run_with_a_fleet_rolling_back() {
    let mut app = live(&fixture::halting_fleet(), 28_000);
    snap("run_halting_fleet", &app);
    // `v`: every host not verified, worst first (the 3 unknown, then those still rolling back).
    app.update(Action::OpenUnverified);
    snap("run_halting_fleet_unverified", &app);
}

/// Hosts go by the name the scenario wrote, not the loopback address the lab gave them: in the
/// fault table (sized to its names; a long one shortened in the middle, never cut), the halt
/// panel and the timeline. The address is still what every event and rollback goes by.
#[test]
fn hosts_show_by_the_name_the_scenario_wrote() {
    let app = live(&fixture::named_hosts(), 28_000);
    snap("run_named_hosts", &app);
    let rows: Vec<_> = app
        .run
        .faults
        .iter()
        .map(|f| (f.host.as_str(), f.host_label()))
        .collect();
    assert_eq!(
        rows,
        [
            ("127.0.0.1:45271", "shop-1"),
            ("127.0.0.1:45272", "checkout-db-primary-eu-west-1a")
        ]
    );
    let timeline: Vec<&str> = app.run.timeline.iter().map(|t| t.text.as_str()).collect();
    assert!(
        timeline
            .contains(&"intent slow-pay (command) on shop-1 (127.0.0.1:45271): touch /tmp/slow"),
        "{timeline:#?}"
    );
    assert!(
        timeline.contains(&"rolling back slow-pay on shop-1"),
        "{timeline:#?}"
    );
}

#[test]
fn run_finished_and_debrief() {
    let mut app = live(&fixture::finished(), 40_000);
    snap("run_finished", &app);
    app.update(Action::ToggleDebrief);
    snap("debrief", &app);
}

#[test]
fn overlays_help_note_and_quit() {
    let mut app = live(&fixture::breaching(), 26_100);
    app.update(Action::ToggleHelp);
    snap("help", &app);
    app.update(Action::Back);
    app.update(Action::OpenNote);
    for c in "payments p99 at 2.1 s".chars() {
        app.update(Action::Edit(tui_input::InputRequest::InsertChar(c)));
    }
    snap("note_input", &app);
    app.update(Action::Back);
    app.update(Action::Quit);
    snap("confirm_quit", &app);
    app.update(Action::Back);
    app.update(Action::RunbookLoaded(Ok(
        "## Slow payments\n\n1. Check the payment provider status page.\n2. Flip `payments.fallback` on.\n".into(),
    )));
    snap("runbook", &app);
}

#[test]
fn run_with_a_zoomed_panel_and_a_filtered_timeline() {
    let mut app = live(&fixture::breaching(), 26_100);
    app.update(Action::Zoom);
    app.update(Action::Down);
    app.update(Action::FocusNext);
    app.update(Action::CycleFilter);
    app.update(Action::CycleFilter);
    snap("run_zoomed_filtered", &app);
}

#[test]
fn details_of_a_fault_event_and_of_a_fault() {
    let mut app = live(&fixture::finished(), 40_000);
    app.update(Action::CycleFilter);
    app.update(Action::CycleFilter);
    app.update(Action::Top);
    app.update(Action::Select);
    snap("detail_event", &app);
    app.update(Action::Back);
    app.update(Action::FocusNext);
    snap("faults_focused", &app);
    app.update(Action::Select);
    snap("detail_fault", &app);
}

#[test]
fn replay_with_slider_in_the_middle() {
    let mut app = App::replay(fixture::finished());
    app.update(Action::SeekStart);
    app.update(Action::Seek(20));
    assert_eq!(app.now, at(20_000));
    snap("replay", &app);
    // D works anywhere on the slider: the debrief of the run as of the slider.
    app.update(Action::ToggleDebrief);
    assert_eq!(app.screen, crate::tui::app::Screen::Debrief);
    assert!(app.run.verdict.is_none(), "no verdict yet at T+00:20");
    snap("replay_debrief", &app);
    app.update(Action::ToggleDebrief);
    assert_eq!(app.screen, crate::tui::app::Screen::Run);
}

#[test]
fn no_color_renders_without_panicking_down_to_tiny_sizes() {
    let mut app = live(&fixture::halting(), 28_000);
    app.no_color = true;
    let mut zoomed = app.clone();
    zoomed.update(Action::Zoom);
    let mut detail = app.clone();
    detail.update(Action::Select);
    // A fault selection past the end (a resync can shrink the table) draws nothing selected.
    let mut faults = App::replay(fixture::breaching()[..8].to_vec());
    faults.update(Action::FocusNext);
    faults.fault_selected = 3;
    for app in [&app, &zoomed, &detail, &faults] {
        for (w, h) in [(80, 24), (40, 10), (20, 5), (1, 1), (200, 60)] {
            let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
            terminal.draw(|f| ui::render(f, app)).expect("draw");
        }
    }
}

/// The console's Debrief screen and `debrief.md` print the same key-time rows for the same journal,
/// including a `detected` milestone pressed twice and one pressed before any fault.
#[test]
fn debrief_screen_and_debrief_md_show_the_same_key_times() {
    use crate::event::{Event, MilestoneKind};
    let mut events = fixture::finished();
    let mut push = |ms: i64, kind| {
        let seq = events.iter().map(|e| e.seq).max().unwrap_or(0) + 1;
        events.push(crate::event::Envelope {
            seq,
            ts: at(ms),
            run: events[0].run.clone(),
            event: Event::Milestone {
                kind,
                role: "IC".into(),
            },
        });
    };
    push(29_000, MilestoneKind::Detected);
    push(29_500, MilestoneKind::Mitigated);
    events.sort_by_key(|e| e.ts);
    let mut app = live(&events, 40_000);
    app.update(Action::ToggleDebrief);
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("test terminal");
    terminal.draw(|f| ui::render(f, &app)).expect("draw");
    let screen: String = terminal
        .backend()
        .buffer()
        .content()
        .iter()
        .map(|c| c.symbol())
        .collect();
    let run = crate::fold::RunState::from_events(&events);
    let md = crate::report::debrief(&run);
    let rows = run.key_times.rows(run.start.expect("started"));
    assert!(rows.len() >= 4, "{rows:?}");
    for (name, value) in &rows {
        assert!(
            screen.contains(value.as_str()),
            "screen lacks {name}: {value}"
        );
        assert!(
            md.contains(&format!("| {name} | {value} |")),
            "debrief.md lacks {name}: {value}"
        );
    }
}

/// The host names go through the journal (written, read back) into `debrief.md`: the name with
/// its address in the fault table and the appendix. A journal from before names were journaled
/// (no `name` field) reads as before, hosts by address.
#[test]
fn debrief_md_names_hosts_with_their_addresses() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.jsonl");
    let lines: Vec<String> = fixture::named_hosts()
        .iter()
        .map(|e| serde_json::to_string(e).expect("serialize"))
        .collect();
    assert!(lines[0].contains(r#""name":"shop-1""#), "{}", lines[0]);
    std::fs::write(&path, lines.join("\n") + "\n").expect("write journal");
    let (run, _) = crate::fold::RunState::from_journal(&path).expect("read journal");
    let md = crate::report::debrief(&run);
    assert!(md.contains("| shop-1 (127.0.0.1:45271) |"), "{md}");
    assert!(
        md.contains("| Target `web` | shop-1 (127.0.0.1:45271), checkout-db-primary-eu-west-1a (127.0.0.1:45272) |"),
        "{md}"
    );
    assert!(
        md.contains("on shop-1 (127.0.0.1:45271): touch /tmp/slow"),
        "{md}"
    );

    let old: Vec<String> = lines
        .iter()
        .map(|l| {
            l.replace(r#","name":"shop-1""#, "")
                .replace(r#","name":"checkout-db-primary-eu-west-1a""#, "")
        })
        .collect();
    assert!(!old[0].contains("shop-1"));
    std::fs::write(&path, old.join("\n") + "\n").expect("write journal");
    let (run, _) = crate::fold::RunState::from_journal(&path).expect("read old journal");
    assert_eq!(run.faults[0].host_label(), "127.0.0.1:45271");
    let md = crate::report::debrief(&run);
    assert!(md.contains("| 127.0.0.1:45271 |"), "{md}");
}

/// The Review screen (hot wash) after a run with success criteria: step results with evidence, the
/// check no one ticked, the notes by kind (one saved on the Review, not journaled yet).
#[test]
fn review_after_the_run() {
    let mut app = live(&fixture::proved(), 40_000);
    app.update(Action::ToggleReview);
    app.update(Action::OpenNote);
    app.update(Action::CycleNoteKind);
    app.update(Action::CycleNoteKind);
    for c in "rollback took 1.8 s".chars() {
        app.update(Action::Edit(tui_input::InputRequest::InsertChar(c)));
    }
    app.update(Action::Select);
    app.status = None;
    snap("review", &app);
}

/// The Debrief screen of the same run: summary (impact, time to recover), step results, notes by kind.
#[test]
fn debrief_with_step_results_and_impact() {
    let mut app = live(&fixture::proved(), 40_000);
    app.update(Action::ToggleDebrief);
    snap("debrief_proved", &app);
}

/// The checks list during the step, and the note box on an action item.
#[test]
fn checks_list_and_action_item_box() {
    let events: Vec<_> = fixture::proved()
        .into_iter()
        .filter(|e| e.ts <= at(20_000))
        .collect();
    let mut app = live(&events, 20_000);
    app.update(Action::OpenChecks);
    app.update(Action::Down);
    snap("checks", &app);
    app.update(Action::Back);
    app.update(Action::OpenActionItem);
    for c in "add a p99 alert @ana due:2026-12-15".chars() {
        app.update(Action::Edit(tui_input::InputRequest::InsertChar(c)));
    }
    snap("action_item_input", &app);
}

/// `E` on the Review: the notes list, then the edit box on the selected note (its text in it); after
/// the edit the Review marks it edited and not journaled yet.
#[test]
fn notes_list_and_edit_box_on_the_review() {
    let mut app = live(&fixture::proved(), 40_000);
    app.update(Action::ToggleReview);
    app.update(Action::OpenNotesList);
    app.update(Action::Down);
    snap("notes_list", &app);
    app.update(Action::EditNote);
    snap("note_edit_box", &app);
    for c in " (seen at T+14)".chars() {
        app.update(Action::Edit(tui_input::InputRequest::InsertChar(c)));
    }
    app.update(Action::Select);
    app.status = None;
    snap("review_after_an_edit", &app);
}

/// The header names the journal (for `gameday follow` from a second seat) when there is room,
/// after the clocks; at 80 columns it gives way.
#[test]
fn the_header_names_the_journal_when_there_is_room() {
    let mut app = live(&fixture::breaching(), 26_000);
    app.journal_path = Some(PathBuf::from(
        "runs/20261201T100000Z-checkout/journal.jsonl",
    ));
    let header = |w: u16| {
        let mut terminal = Terminal::new(TestBackend::new(w, 30)).expect("test terminal");
        terminal.draw(|f| ui::render(f, &app)).expect("draw");
        let buf = terminal.backend().buffer().clone();
        // The header is one of the first lines (an alert bar may be above it).
        (0..3)
            .map(|y| {
                (0..w)
                    .map(|x| buf[(x, y)].symbol().to_string())
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let wide = header(200);
    assert!(
        wide.contains("journal runs/20261201T100000Z-checkout/journal.jsonl"),
        "{wide}"
    );
    assert!(wide.contains("left"), "the clocks stay: {wide}");
    let narrow = header(80);
    assert!(!narrow.contains("journal runs"), "{narrow}");
}

/// A console joined as a second seat: the header says which seat; a refused key says why.
#[test]
fn joined_seat_run_screen() {
    let seat = crate::tui::app::SeatView {
        tag: "scribe Lee (seat 1)".into(),
        may: vec!["note".into(), "milestone".into()],
    };
    let mut app = App::joined(t0(), seat, PathBuf::from("/runs/checkout/journal.jsonl"));
    for e in &fixture::breaching() {
        app.apply(e);
    }
    app.update(Action::Tick(at(26_000)));
    app.update(Action::Halt);
    snap("joined_seat", &app);
}

/// The IC's console while a second seat is joined: the header counts it.
#[test]
fn ic_with_a_joined_seat() {
    let mut app = live(&fixture::breaching(), 26_000);
    app.apply(&crate::event::Envelope {
        seq: 999,
        ts: at(25_000),
        run: "r".into(),
        event: crate::event::Event::SeatJoined {
            seat: 1,
            tag: "scribe Lee (seat 1)".into(),
            role: "scribe".into(),
            name: Some("Lee".into()),
            uid: 1000,
            pid: Some(4242),
            may: vec!["note".into()],
        },
    });
    snap("ic_with_a_joined_seat", &app);
}
