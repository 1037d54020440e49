use chrono::TimeZone;

use super::*;
use crate::event::CommandOutcome;

fn at(ms: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0)
        .single()
        .expect("fixed time")
        + chrono::TimeDelta::milliseconds(ms)
}

struct Log(Vec<Envelope>);

impl Log {
    fn push(&mut self, ms: i64, event: Event) -> &mut Self {
        let seq = self.0.len() as u64 + 1;
        self.0.push(Envelope {
            seq,
            ts: at(ms),
            run: "r".into(),
            event,
        });
        self
    }
}

fn intent(fault: &str, host: &str) -> Event {
    Event::FaultIntent {
        fault: fault.into(),
        kind: "custom".into(),
        step: 0,
        target: "web".into(),
        host: host.into(),
        inject: "touch /tmp/x".into(),
        undo: Some("rm -f /tmp/x".into()),
        verify: None,
        irreversible: false,
        timeout_ms: 5_000,
    }
}

fn injected(fault: &str, host: &str, ok: bool) -> Event {
    Event::FaultInjected {
        fault: fault.into(),
        host: host.into(),
        ok,
        outcome: CommandOutcome::default(),
    }
}

fn milestone(kind: MilestoneKind) -> Event {
    Event::Milestone {
        kind,
        role: "IC".into(),
    }
}

fn result(fault: &str, host: &str, status: RollbackStatus) -> Event {
    Event::RollbackResult {
        fault: fault.into(),
        host: host.into(),
        status,
        how: "verify".into(),
        attempts: 1,
        undo: CommandOutcome::default(),
        verify: None,
        manual: None,
    }
}

#[test]
fn detection_counts_from_the_first_successful_inject_and_an_early_milestone_does_not_count() {
    let mut log = Log(vec![]);
    log.push(0, milestone(MilestoneKind::Detected)) // before any fault: not counted
        .push(1_000, intent("a", "h1"))
        .push(2_000, injected("a", "h1", false)) // a failed inject starts no clock
        .push(3_000, intent("b", "h1"))
        .push(5_000, injected("b", "h1", true))
        .push(9_000, milestone(MilestoneKind::Detected))
        .push(12_000, milestone(MilestoneKind::Detected)) // pressed twice: the first counts
        .push(20_000, milestone(MilestoneKind::Mitigated));
    let run = RunState::from_events(&log.0);
    let k = run.key_times;
    assert_eq!(k.first_fault, Some(at(5_000)));
    assert_eq!(k.time_to_detect(), Some(chrono::TimeDelta::seconds(4)));
    assert_eq!(k.time_to_mitigate(), Some(chrono::TimeDelta::seconds(15)));
    assert_eq!(k.early_milestones, 1);
    assert!(!run.milestones[0].counts && run.milestones[1].counts);
    let rows = k.rows(at(0));
    let get = |name: &str| rows.iter().find(|r| r.0 == name).map(|r| r.1.clone());
    assert_eq!(get("Time to detect").as_deref(), Some("0m 04s"));
    assert_eq!(get("Time to mitigate").as_deref(), Some("0m 15s"));
    assert!(get("Not counted").is_some_and(|t| t.starts_with("1 milestone")));
}

#[test]
fn without_a_fault_there_is_no_time_to_detect_and_the_rows_say_why() {
    let mut log = Log(vec![]);
    log.push(0, milestone(MilestoneKind::Detected));
    let rows = RunState::from_events(&log.0).key_times.rows(at(0));
    assert!(rows.iter().all(|r| r.0 != "Time to detect"));
    assert!(rows.iter().any(|r| r.1.contains("no fault was injected")));
}

#[test]
fn the_countdown_adds_up_at_every_instant() {
    let sustained = std::time::Duration::from_secs(5);
    let deadline = at(5_000);
    for ms in [0, 400, 1_000, 2_999, 3_000, 4_999, 5_000, 9_000] {
        let c = Countdown::at(deadline, sustained, at(ms));
        assert_eq!(c.held + c.left, c.of, "at {ms} ms: {c:?}");
    }
    assert_eq!(
        Countdown::at(deadline, sustained, at(2_000)),
        Countdown {
            held: 2,
            of: 5,
            left: 3
        }
    );
    // A deadline journaled beyond the rule's window (a hostile journal) cannot make held negative.
    let c = Countdown::at(at(60_000), sustained, at(0));
    assert_eq!((c.held, c.left), (0, 5));
}

#[test]
fn unresolved_faults_are_those_that_may_still_be_on_a_host() {
    let mut log = Log(vec![]);
    log.push(0, intent("verified", "h1"))
        .push(1, injected("verified", "h1", true))
        .push(2, result("verified", "h1", RollbackStatus::Verified))
        .push(3, intent("unknown", "h1"))
        .push(4, injected("unknown", "h1", true))
        .push(5, result("unknown", "h1", RollbackStatus::Unknown))
        .push(6, intent("no-answer", "h1"))
        .push(7, intent("refused", "h1"))
        .push(
            8,
            Event::FaultNotInjected {
                fault: "refused".into(),
                host: "h1".into(),
                reason: "refused by its check".into(),
                outcome: None,
            },
        )
        .push(9, intent("failed-inject", "h2"))
        .push(10, injected("failed-inject", "h2", false))
        .push(
            11,
            Event::LeaseArmed {
                fault: "failed-inject".into(),
                host: "h2".into(),
                ok: true,
                lease_ms: 60_000,
                cancel: "cancel-it".into(),
                outcome: CommandOutcome::default(),
            },
        );
    let run = RunState::from_events(&log.0);
    let open: Vec<(&str, &str)> = run
        .unresolved()
        .map(|f| (f.fault.as_str(), f.host.as_str()))
        .collect();
    assert_eq!(
        open,
        [
            ("unknown", "h1"),
            ("no-answer", "h1"),
            ("failed-inject", "h2")
        ]
    );
    let f = run.unresolved().last().expect("one");
    assert_eq!(f.lease_cancel.as_deref(), Some("cancel-it"));
    assert_eq!(f.undo.as_deref(), Some("rm -f /tmp/x"));
    assert_eq!(f.timeout_ms, 5_000);
}

#[test]
fn an_event_seen_twice_is_folded_once() {
    let mut log = Log(vec![]);
    log.push(0, intent("a", "h1"))
        .push(1, injected("a", "h1", true));
    let mut run = RunState::from_events(&log.0);
    for e in &log.0 {
        run.apply(e);
    }
    assert_eq!(run.records, 2);
    assert_eq!(run.faults.len(), 1);
}

#[test]
fn the_console_keeps_a_bounded_timeline_and_the_debrief_keeps_all() {
    let mut log = Log(vec![]);
    for i in 0..(CONSOLE_TIMELINE as i64 + 10) {
        log.push(i, milestone(MilestoneKind::Detected));
    }
    assert_eq!(
        RunState::console_from(&log.0).timeline.len(),
        CONSOLE_TIMELINE
    );
    assert_eq!(
        RunState::from_events(&log.0).timeline.len(),
        CONSOLE_TIMELINE + 10
    );
}

/// A retraction leaves the note or milestone out of every view and out of the key times; the first
/// remaining milestone of that kind counts instead. The line's JSON is `{"type":"retracted",…}`
/// (a new record type: older journals, which have none, read as before).
#[test]
fn a_retraction_withdraws_a_note_or_milestone() {
    let mut log = Log(vec![]);
    log.push(0, intent("f", "h"))
        .push(1_000, injected("f", "h", true))
        .push(2_000, milestone(MilestoneKind::Detected)) // seq 3
        .push(3_000, milestone(MilestoneKind::Detected)) // seq 4
        .push(
            4_000,
            Event::Note {
                role: "IC".into(),
                text: "typo".into(),
                action: false,
                kind: None,
                owner: None,
                due: None,
                metrics: Default::default(),
                faults: vec![],
            },
        ); // seq 5
    let before = RunState::from_events(&log.0);
    assert_eq!(before.key_times.detected, Some(at(2_000)));
    assert_eq!(before.last_retractable().map(|r| r.0), Some(5));
    log.push(
        5_000,
        Event::Retracted {
            retracts: 3,
            role: "IC".into(),
        },
    )
    .push(
        5_100,
        Event::Retracted {
            retracts: 5,
            role: "IC".into(),
        },
    );
    let run = RunState::from_events(&log.0);
    assert!(run.notes.is_empty());
    assert_eq!(run.milestones.len(), 1);
    assert_eq!(run.key_times.detected, Some(at(3_000)));
    assert_eq!(run.last_retractable().map(|r| r.0), Some(4));
    let last = run
        .timeline
        .back()
        .map(|t| t.text.clone())
        .unwrap_or_default();
    assert_eq!(last, "retracted note: typo");
    assert!(
        run.timeline
            .iter()
            .any(|t| t.text == "retracted milestone: detected")
    );
    // The wire format, both ways.
    let line = serde_json::to_string(&log.0[5]).expect("serialize");
    assert!(
        line.contains("\"retracted\"") && line.contains("\"retracts\":3"),
        "{line}"
    );
    let back: Envelope = serde_json::from_str(&line).expect("parse");
    assert_eq!(back, log.0[5]);
}

/// The fold, fed the engine's events for a source failing 5 polls in 6, keeps the rule breaching
/// with one deadline from the first failure, never `Ok` in between, then shows it tripped.
#[tokio::test(start_paused = true)]
async fn a_flapping_breach_is_never_shown_ok() {
    use crate::metric::{RuleTracker, Transition};
    use crate::scenario::{Condition, NoData, Rule, RuleKind};
    use std::time::Duration;

    let r = Rule {
        kind: RuleKind::Abort,
        label: "errors > 5".into(),
        metric: "errors".into(),
        condition: Condition::Above(5.0),
        sustained: Duration::from_secs(30),
        no_data: NoData::Breach,
        clear_after: crate::scenario::DEFAULT_CLEAR_AFTER,
    };
    let mut tracker = RuleTracker::new(r.clone());
    let mut run = RunState::new();
    let mut log = Log(vec![]);
    let t0 = tokio::time::Instant::now();
    let mut states = Vec::new();
    for i in 0..12u64 {
        let now = t0 + Duration::from_secs(5 * i);
        let reading = if i % 6 == 5 {
            Ok(1.0)
        } else {
            Err("HTTP 503".to_string())
        };
        for tr in tracker.observe(now, &reading) {
            let event = match tr {
                Transition::Breaching { left } => Event::RuleBreaching {
                    rule: 0,
                    label: r.label.clone(),
                    value: tracker.last_value,
                    left_ms: left.as_millis() as u64,
                    reason: tracker.last_reason.clone(),
                },
                Transition::Cleared => Event::RuleCleared {
                    rule: 0,
                    label: r.label.clone(),
                    value: tracker.last_value,
                },
                Transition::Tripped { breaching_for } => Event::RuleTripped {
                    rule: 0,
                    label: r.label.clone(),
                    value: tracker.last_value,
                    breaching_ms: breaching_for.as_millis() as u64,
                    reason: tracker.last_reason.clone(),
                },
            };
            log.push(5_000 * i as i64, event);
            run.apply(log.0.last().expect("just pushed"));
        }
        states.push(run.rules.get(&0).copied());
    }
    for (i, st) in states.iter().enumerate().take(6) {
        assert_eq!(
            *st,
            Some(RuleState::Breaching {
                deadline: at(30_000)
            }),
            "poll {i}"
        );
    }
    assert!(
        states[6..].iter().all(|st| *st == Some(RuleState::Tripped)),
        "{states:?}"
    );
}

#[test]
fn rollbacks_are_counted_per_batch_as_their_results_come_in() {
    let mut c = RollbackCount::default();
    for f in ["a", "b", "c"] {
        assert!(c.apply(&Event::RollbackStarted {
            fault: f.into(),
            host: "h".into(),
        }));
    }
    assert_eq!(
        c.to_string(),
        "0/3 verified, 0 failed, 0 unknown, 3 in progress"
    );
    c.apply(&result("a", "h", RollbackStatus::Verified));
    c.apply(&result("b", "h", RollbackStatus::Unknown));
    assert_eq!(
        c.to_string(),
        "1/3 verified, 0 failed, 1 unknown, 1 in progress"
    );
    c.apply(&result("c", "h", RollbackStatus::Failed));
    assert_eq!(c.to_string(), "1/3 verified, 1 failed, 1 unknown");
    assert!(!c.apply(&Event::RunEnded));
    // The next rollback after a whole batch is a new batch.
    c.apply(&Event::RollbackStarted {
        fault: "d".into(),
        host: "h".into(),
    });
    assert_eq!(
        c.to_string(),
        "0/1 verified, 0 failed, 0 unknown, 1 in progress"
    );
    // A result with no start (an older journal) still counts.
    let mut c = RollbackCount::default();
    c.apply(&result("a", "h", RollbackStatus::Verified));
    assert_eq!(c.to_string(), "1/1 verified, 0 failed, 0 unknown");
}

/// Notes are grouped by kind: a journal from before kinds reads `action: true` as an action item and
/// anything else as an observation; a new one carries its kind, owner and due date; a retracted note
/// leaves its group. The debrief's sections come from the same grouping.
#[test]
fn notes_are_grouped_by_kind_and_old_journals_read() {
    use crate::event::NoteKind;
    let old = |ms, action| {
        let line = format!(
            r#"{{"seq":{ms},"ts":"2026-12-01T10:00:0{}.000Z","run":"r","type":"note","role":"IC","text":"old {ms}",{}"metrics":{{}},"faults":[]}}"#,
            ms,
            if action { r#""action":true,"# } else { "" }
        );
        serde_json::from_str::<Envelope>(&line).expect("an old note reads")
    };
    let note = |kind: NoteKind, text: &str, owner: Option<&str>, due: Option<&str>| Event::Note {
        role: "scribe".into(),
        text: text.into(),
        action: kind == NoteKind::ActionItem,
        kind: Some(kind),
        owner: owner.map(str::to_string),
        due: due.map(str::to_string),
        metrics: Default::default(),
        faults: vec![],
    };
    let mut events = vec![old(1, false), old(2, true)];
    let mut log = Log(vec![]);
    log.push(3_000, note(NoteKind::WentWell, "alert fired", None, None))
        .push(
            3_000,
            note(NoteKind::WentWrong, "dashboard lagged", None, None),
        )
        .push(
            3_000,
            note(NoteKind::Question, "why no backoff?", None, None),
        )
        .push(
            3_000,
            note(NoteKind::RunbookGap, "flag not named", None, None),
        )
        .push(
            3_000,
            note(
                NoteKind::ActionItem,
                "p99 alert",
                Some("ana"),
                Some("2026-12-15"),
            ),
        )
        .push(3_000, note(NoteKind::WentWell, "typo", None, None));
    for (i, mut e) in log.0.into_iter().enumerate() {
        e.seq = 3 + i as u64;
        events.push(e);
    }
    events.push(Envelope {
        seq: 9,
        ts: at(4_000),
        run: "r".into(),
        event: Event::Retracted {
            retracts: 8,
            role: "scribe".into(),
        },
    });
    let run = RunState::from_events(&events);
    let groups: Vec<(NoteKind, Vec<&str>)> = run
        .notes_by_kind()
        .into_iter()
        .map(|(k, ns)| (k, ns.iter().map(|n| n.text.as_str()).collect()))
        .collect();
    assert_eq!(
        groups,
        [
            (NoteKind::Observation, vec!["old 1"]),
            (NoteKind::ActionItem, vec!["old 2", "p99 alert"]),
            (NoteKind::WentWell, vec!["alert fired"]),
            (NoteKind::WentWrong, vec!["dashboard lagged"]),
            (NoteKind::Question, vec!["why no backoff?"]),
            (NoteKind::RunbookGap, vec!["flag not named"]),
        ]
    );
    let item = run.notes_of(NoteKind::ActionItem).nth(1).expect("item");
    assert_eq!(item.owner.as_deref(), Some("ana"));
    assert_eq!(item.due.as_deref(), Some("2026-12-15"));
    assert!(
        run.timeline
            .iter()
            .any(|t| t.text == "ACTION: p99 alert (owner ana, due 2026-12-15)")
    );
    let md = crate::report::debrief(&run);
    for want in [
        "## What went well\n\n- T+00:02 alert fired (scribe)\n",
        "## What went wrong\n\n- T+00:02 dashboard lagged (scribe)\n",
        "## Lessons learned and questions\n\n- T+00:02 why no backoff? (scribe)\n",
        "| Done | Action | Owner | Due | Source note |",
        "| [ ] | old 2 | — | — | IC at T+00:01 |",
        "| [ ] | p99 alert | ana | 2026-12-15 | scribe at T+00:02 |",
        "## Runbook gaps\n\n- T+00:02 flag not named (scribe)\n",
        "### IC\n\n- T+00:00 old 1\n",
    ] {
        assert!(md.contains(want), "debrief lacks {want:?}:\n{md}");
    }
    assert!(
        !md.contains("typo (scribe)"),
        "a retracted note is left out"
    );
    // summary.json carries the same action items and counts, for other tools.
    let json: serde_json::Value =
        serde_json::from_str(&crate::report::summary::Summary::of(&run).to_json()).expect("json");
    let items = json["action_items"].as_array().expect("action_items");
    assert_eq!(items.len(), 2);
    assert_eq!(items[1]["text"], "p99 alert");
    assert_eq!(items[1]["owner"], "ana");
    assert_eq!(items[1]["due"], "2026-12-15");
    assert_eq!(items[1]["role"], "scribe");
    let counts: Vec<(String, u64)> = json["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .map(|c| {
            (
                c["kind"].as_str().unwrap_or("").to_string(),
                c["count"].as_u64().unwrap_or(99),
            )
        })
        .collect();
    assert_eq!(
        counts,
        [
            ("observation".to_string(), 1),
            ("action_item".to_string(), 2),
            ("went_well".to_string(), 1),
            ("went_wrong".to_string(), 1),
            ("question".to_string(), 1),
            ("runbook_gap".to_string(), 1),
        ]
    );
}

/// A note edited in the review: the fold shows the new text, kind and owner and keeps what it said
/// before; the timeline says what changed; the debrief marks it edited, lists the edit in its
/// appendix, carries the note's metric snapshot in a `<details>`, and shows hostile text as text.
/// Time to mitigate is per step: each step's first `mitigated` after its own inject.
#[test]
fn edits_snapshots_and_time_to_mitigate_per_step() {
    use crate::event::NoteKind;
    let step = |index: usize, name: &str| Event::StepStarted {
        index,
        name: name.into(),
        duration_ms: 30_000,
        prompt: None,
    };
    let yaml = r#"title: Two steps
hypothesis: errors stay low
max_duration: 10m
targets:
  web: { local: true }
steps:
  - name: Slow payments
    duration: 30s
    faults: [{ kind: command, id: slow-pay, target: web, inject: "true", rollback: "true" }]
  - name: Kill the worker
    duration: 30s
    faults: [{ kind: command, id: kill-worker, target: web, inject: "true", rollback: "true" }]
"#;
    let scenario = crate::scenario::Scenario::parse(std::path::Path::new("two.yaml"), yaml)
        .map_err(|e| format!("{:?}", e.0))
        .expect("the test scenario parses");
    let mut log = Log(vec![]);
    log.push(
        0,
        Event::RunStarted {
            scenario: Box::new(scenario),
            gameday_version: "test".into(),
            dry_run: None,
        },
    )
    .push(0, step(0, "Slow payments"))
    .push(1_000, intent("slow-pay", "web-1"))
    .push(1_500, injected("slow-pay", "web-1", true))
    .push(
        5_000,
        Event::Note {
            role: "scribe".into(),
            text: "<script>alert(1)</script> errors up".into(),
            action: false,
            kind: Some(NoteKind::Observation),
            owner: None,
            due: None,
            metrics: [("error_rate".to_string(), Some(8.5))].into(),
            faults: vec![crate::fault::status::LiveFault {
                fault: "slow-pay".into(),
                host: "web-1".into(),
                state: "verified".into(),
            }],
        },
    )
    .push(11_500, milestone(MilestoneKind::Detected))
    .push(21_500, milestone(MilestoneKind::Mitigated))
    .push(30_000, step(1, "Kill the worker"))
    .push(31_000, intent("kill-worker", "web-1"))
    .push(32_000, injected("kill-worker", "web-1", true))
    .push(39_000, milestone(MilestoneKind::Mitigated))
    .push(
        50_000,
        Event::NoteEdited {
            edits: 5,
            role: "IC".into(),
            text: "errors up | p99 too".into(),
            kind: NoteKind::WentWrong,
            owner: None,
            due: None,
        },
    )
    // An edit naming no note changes nothing.
    .push(
        51_000,
        Event::NoteEdited {
            edits: 999,
            role: "IC".into(),
            text: "ghost".into(),
            kind: NoteKind::Question,
            owner: None,
            due: None,
        },
    );
    let run = RunState::from_events(&log.0);
    assert_eq!(run.notes.len(), 1);
    let n = &run.notes[0];
    assert_eq!(n.text, "errors up | p99 too");
    assert_eq!(n.kind, NoteKind::WentWrong);
    assert_eq!(n.edits.len(), 1);
    assert_eq!(n.edits[0].before, "<script>alert(1)</script> errors up");
    assert_eq!(n.edits[0].role, "IC");
    assert!(run.timeline.iter().any(|t| t.text
        == "edited went wrong: \"<script>alert(1)</script> errors up\" → \"errors up | p99 too\""));

    let det = run.detection();
    assert_eq!(det.len(), 2);
    assert_eq!(
        det[0].mitigated.and_then(|t| det[0].since_inject(t)),
        Some(20_000)
    );
    assert_eq!(
        det[0].human.and_then(|t| det[0].since_inject(t)),
        Some(10_000)
    );
    assert_eq!(
        det[1].mitigated.and_then(|t| det[1].since_inject(t)),
        Some(7_000)
    );
    assert_eq!(det[1].human, None, "step 1's detected is not step 2's");

    let md = crate::report::debrief(&run);
    for want in [
        "- T+00:05 errors up | p99 too (scribe) *(edited)*",
        "### Note edits",
        "| T+00:05 (scribe) | T+00:50 | IC | &lt;script&gt;alert(1)&lt;/script&gt; errors up | errors up \\| p99 too |",
        "<details><summary>snapshot</summary>error_rate: 8.5<br>fault slow-pay on web-1: verified</details>",
        "| Step | Faults in | Automated (first breach) | Human (`detected`) | Mitigated (`mitigated`) |",
    ] {
        assert!(md.contains(want), "debrief lacks {want:?}:\n{md}");
    }
    assert!(
        !md.contains("<script>"),
        "hostile text is shown as text:\n{md}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&crate::report::summary::Summary::of(&run).to_json()).expect("json");
    assert_eq!(json["steps"][0]["time_to_mitigate_ms"], 20_000);
    assert_eq!(json["steps"][0]["time_to_detect_ms"], 10_000);
    assert_eq!(json["steps"][1]["time_to_mitigate_ms"], 7_000);
    assert!(json["steps"][1]["time_to_detect_ms"].is_null());
}

#[test]
fn seats_joined_are_counted_until_they_leave_and_are_in_the_timeline() {
    let joined = |seat: u32, tag: &str| Event::SeatJoined {
        seat,
        tag: tag.into(),
        role: "scribe".into(),
        name: None,
        uid: 1000,
        pid: Some(42),
        may: vec!["note".into()],
    };
    let mut log = Log(vec![]);
    log.push(0, joined(1, "scribe (seat 1)"))
        .push(1, joined(2, "observer (seat 2)"))
        .push(
            2,
            Event::SeatLeft {
                seat: 1,
                reason: "closed the connection".into(),
            },
        )
        .push(
            3,
            Event::SeatRefused {
                uid: 65534,
                pid: None,
                reason: "another user".into(),
            },
        );
    let run = RunState::console_from(&log.0);
    assert_eq!(
        run.seats.values().collect::<Vec<_>>(),
        ["observer (seat 2)"]
    );
    let lines: Vec<&str> = run.timeline.iter().map(|l| l.text.as_str()).collect();
    assert!(lines[0].contains("scribe (seat 1) joined (uid 1000, pid 42); may note"));
    assert!(lines[2].contains("seat 1 left: closed the connection"));
    assert!(lines[3].contains("uid 65534 was refused: another user"));
}
