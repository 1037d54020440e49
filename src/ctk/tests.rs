//! The runner's units: substitution, tolerances, prepare, halts, max duration, rollbacks.

use super::tolerance::{python_json, substitute_str, within_tolerance};
use super::*;
use crate::scenario::ctk::Tolerance;

fn values() -> Map<String, Value> {
    json!({"n": 5, "s": "x", "b": true})
        .as_object()
        .cloned()
        .unwrap()
}

#[test]
fn substitution_is_typed_for_a_whole_reference_and_text_otherwise() {
    let v = values();
    assert_eq!(substitute_str("${n}", &v), json!(5));
    assert_eq!(
        substitute_str("a ${n} $s $b $$ ${nope}", &v),
        json!("a 5 x True $ ${nope}")
    );
}

#[test]
fn json_bodies_are_written_as_python_writes_them() {
    let v = json!({"a": 1, "b": [true, null, 1.5], "s": "é\"\n\u{1F600}"});
    assert_eq!(
        python_json(&v),
        r#"{"a": 1, "b": [true, null, 1.5], "s": "\u00e9\"\n\ud83d\ude00"}"#
    );
}

#[test]
fn tolerances_judge_as_chaostoolkit_does() {
    let v = values();
    let out = json!({"status": 0, "stdout": "ok 42\n", "stderr": ""});
    assert!(within_tolerance(&Tolerance::Int(0), &out, &v));
    assert!(!within_tolerance(&Tolerance::Int(1), &out, &v));
    assert!(within_tolerance(
        &Tolerance::List(vec![json!(0), json!(1)]),
        &out,
        &v
    ));
    // A bool or string tolerance compares the whole output, a mapping: never met.
    assert!(!within_tolerance(&Tolerance::Bool(true), &out, &v));
    assert!(!within_tolerance(&Tolerance::Str("ok".into()), &out, &v));
    let rx = |p: &str| Tolerance::Regex {
        pattern: p.into(),
        target: "stdout".into(),
    };
    assert!(within_tolerance(&rx("ok \\d+"), &out, &v));
    assert!(!within_tolerance(&rx("^\\d"), &out, &v));
    assert!(within_tolerance(&rx("^ok \\d+$"), &out, &v));
    let range = |lo, hi, t: &str| Tolerance::Range {
        lo,
        hi,
        target: t.into(),
    };
    assert!(within_tolerance(&range(-1.0, 1.0, "status"), &out, &v));
    assert!(!within_tolerance(&range(1.0, 2.0, "status"), &out, &v));
    let http = json!({"status": 200, "headers": {}, "body": "{\"a\": [1, 2], \"ok\": true}"});
    let jp = |p: &str, count, expect| Tolerance::JsonPath {
        path: p.into(),
        target: Some("body".into()),
        count,
        expect,
    };
    assert!(within_tolerance(&jp("$.a[*]", Some(2), None), &http, &v));
    assert!(within_tolerance(
        &jp("$.ok", None, Some(json!(true))),
        &http,
        &v
    ));
    assert!(!within_tolerance(
        &jp("$.ok", None, Some(json!(false))),
        &http,
        &v
    ));
    assert!(!within_tolerance(&jp("$.nope", None, None), &http, &v));
    assert!(within_tolerance(
        &jp("$.a", None, Some(json!([[1, 2]]))),
        &http,
        &v
    ));
}

/// Runs `text` with a journal in a temp dir; `halt_after_step` sends a Halt once the method's
/// first step has started.
async fn run_text(
    text: &str,
    options: RunOptions,
    halt_after_step: bool,
) -> (CtkOutcome, Vec<Event>) {
    run_text_halting(text, options, halt_after_step.then_some(None)).await
}

/// `halt`: `Some(file)` sends a Halt once the first step started (and `file`, when given,
/// holds a whole line: bounded wait).
async fn run_text_halting(
    text: &str,
    options: RunOptions,
    halt: Option<Option<PathBuf>>,
) -> (CtkOutcome, Vec<Event>) {
    let dir = tempfile::tempdir().unwrap();
    let exp = Experiment::parse(&dir.path().join("x.yaml"), text).unwrap();
    let state = dir.path().display().to_string();
    let env = move |k: &str| (k == "CTK_STATE").then(|| state.clone());
    let p = prepare(exp, &env, &options).unwrap();
    let scenario = scenario_of(&p.experiment, text.as_bytes(), p.max_duration);
    let journal = JournalWriter::create(&dir.path().join("j.jsonl"), "r").unwrap();
    let (tx, mut rx) = broadcast::channel::<Arc<Envelope>>(256);
    let (cmd_tx, cmd_rx) = mpsc::channel(4);
    let halter = tokio::spawn(async move {
        while let Ok(env) = rx.recv().await {
            if let Some(when) = &halt
                && matches!(env.event, Event::StepStarted { .. })
            {
                let deadline = std::time::Instant::now() + Duration::from_secs(10);
                while when.as_ref().is_some_and(|f| {
                    std::fs::read_to_string(f).map_or(true, |t| !t.ends_with('\n'))
                }) && std::time::Instant::now() < deadline
                {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                let _ = cmd_tx
                    .send(Command::Halt {
                        by: "test".into(),
                        reason: "button".into(),
                    })
                    .await;
            }
        }
        drop(cmd_tx);
    });
    let out = run(p, journal, tx, cmd_rx, scenario, None).await;
    let _ = halter.await;
    let events = crate::journal::read(&dir.path().join("j.jsonl"))
        .unwrap()
        .events
        .into_iter()
        .map(|e| e.event)
        .collect();
    (out, events)
}

const SLOW: &str = "title: t
description: d
configuration: {state: {type: env, key: CTK_STATE}}
steady-state-hypothesis:
  title: h
  probes:
    - {type: probe, name: ok, tolerance: 0, provider: {type: process, path: 'true', timeout: 5}}
method:
  - {type: action, name: slow, provider: {type: process, path: sleep, arguments: ['30'], timeout: 60}}
  - {type: action, name: never, provider: {type: process, path: touch, arguments: ['${state}/never'], timeout: 5}}
rollbacks:
  - {type: action, name: undo, provider: {type: process, path: 'true', timeout: 5}}
";

#[tokio::test]
async fn a_halt_stops_the_method_and_still_rolls_back() {
    let (out, events) = run_text(SLOW, RunOptions::default(), true).await;
    assert_eq!(out.status, "interrupted");
    assert_eq!(out.verdict, Verdict::Aborted);
    assert_eq!(out.exit_code, exit::ABORTED);
    assert_eq!(out.rollbacks, vec!["undo".to_string()]);
    assert!(!out.ctk_would_roll_back);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::HaltRequested { by, .. } if by == "test"))
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::CtkStricter { what } if what.contains("would skip them")))
    );
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::CtkActivity { name, .. } if name == "never"))
    );
    assert!(matches!(events.last(), Some(Event::RunEnded)));
}

#[tokio::test]
async fn a_halt_kills_what_the_activity_started() {
    halt_a_slow_action_and_see_its_child_killed().await;
}

/// Halts a run whose action started a background child (`sleep 60 &`): the run is interrupted
/// and the child is killed with the activity's group.
async fn halt_a_slow_action_and_see_its_child_killed() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("child.pid");
    let text = format!(
        "title: t\ndescription: d\nmethod:\n  - {{type: action, name: slow, provider: {{type: process, path: sh, arguments: ['-c', 'sleep 60 & echo $! > {}; wait'], timeout: 120}}}}\n",
        pidfile.display()
    );
    let (out, _) =
        run_text_halting(&text, RunOptions::default(), Some(Some(pidfile.clone()))).await;
    assert_eq!(out.status, "interrupted");
    let pid: libc::pid_t = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_killed(pid);
}

/// The process `pid` is killed: gone, or a zombie until whoever adopted it reaps it, within a
/// bounded wait.
fn assert_killed(pid: libc::pid_t) {
    let alive = |pid: libc::pid_t| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit_once(") ")
                .is_some_and(|(_, rest)| !rest.starts_with('Z'))
        })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while alive(pid) {
        assert!(
            std::time::Instant::now() < deadline,
            "the child outlived the halt"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A process activity keeps nothing at a name another local user can guess: gameday used to
/// write its shell's pid to `/tmp/gameday-ctk-<pid>-<n>.pid`, following a symlink planted
/// there (a root run then overwrote the link's target), and a halt read the group to SIGKILL
/// back from that file. Every name of that form this process could use is planted here as a
/// symlink to a victim file: the victim must be untouched, and the halt must still end the
/// activity's group.
#[tokio::test]
async fn a_process_activity_follows_no_planted_symlink_in_tmp() {
    /// Removes the planted links however the test ends.
    struct Planted(Vec<PathBuf>);
    impl Drop for Planted {
        fn drop(&mut self) {
            for p in &self.0 {
                let _ = std::fs::remove_file(p);
            }
        }
    }
    let victim_dir = tempfile::tempdir().unwrap();
    let victim = victim_dir.path().join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    let tmp = std::env::temp_dir();
    let _planted = Planted(
        (0..2000)
            .map(|n| tmp.join(format!("gameday-ctk-{}-{n}.pid", std::process::id())))
            .filter(|p| std::os::unix::fs::symlink(&victim, p).is_ok())
            .collect(),
    );
    halt_a_slow_action_and_see_its_child_killed().await;
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap_or_default(),
        "precious\n",
        "the activity wrote through a planted symlink"
    );
}

#[tokio::test(start_paused = true)]
async fn the_max_duration_halts_and_rolls_back() {
    let options = RunOptions {
        max_duration: Some(Duration::from_secs(2)),
        ctk_journal: None,
        halt_when_alone: false,
    };
    let (out, events) = run_text(SLOW, options, false).await;
    assert_eq!(out.status, "interrupted");
    assert_eq!(out.rollbacks, vec!["undo".to_string()]);
    assert!(events.iter().any(
        |e| matches!(e, Event::HaltRequested { reason, .. } if reason.contains("max duration 2s"))
    ));
}

#[tokio::test]
async fn a_rollback_that_does_not_confirm_needs_a_person() {
    let text = "title: t\ndescription: d\nmethod: []\nrollbacks:\n  - {type: action, name: bad, provider: {type: process, path: 'false', timeout: 5}}\n";
    let (out, events) = run_text(text, RunOptions::default(), false).await;
    assert_eq!(out.status, "completed");
    assert_eq!(out.verdict, Verdict::ManualActionNeeded);
    assert_eq!(out.exit_code, exit::MANUAL);
    assert!(events.iter().any(
        |e| matches!(e, Event::CtkStricter { what } if what.contains("`bad` did not confirm"))
    ));
}

#[test]
fn prepare_refuses_what_is_missing_before_anything_runs() {
    let exp = |text: &str| Experiment::parse(Path::new("x.yaml"), text).unwrap();
    let none = |_: &str| None;
    let e = prepare(
        exp(
            "title: t\ndescription: d\nconfiguration: {p: {type: env, key: GD_NOPE}}\nmethod: []\n",
        ),
        &none,
        &RunOptions::default(),
    )
    .unwrap_err();
    assert!(e.contains("GD_NOPE"), "{e}");
    let e = prepare(
        exp("title: t\ndescription: d\nmethod:\n  - {type: action, name: a, provider: {type: process, path: no-such-program-gd}}\n"),
        &none,
        &RunOptions::default(),
    )
    .unwrap_err();
    assert!(e.contains("x.yaml:4:5") && e.contains("not found"), "{e}");
    let e = prepare(
        exp("title: t\ndescription: d\nconfiguration: {w: many}\nmethod:\n  - {type: action, name: a, pauses: {after: '${w}'}, provider: {type: process, path: sh}}\n"),
        &none,
        &RunOptions::default(),
    )
    .unwrap_err();
    assert!(e.contains("no number `w`"), "{e}");
}

/// A run whose command sender is dropped before it starts (a console that died): with
/// `halt_when_alone` (the console's runs) it halts and rolls back; without (headless) it runs on.
async fn run_alone(text: &str, halt_when_alone: bool) -> (CtkOutcome, Vec<Event>) {
    let dir = tempfile::tempdir().unwrap();
    let exp = Experiment::parse(&dir.path().join("x.yaml"), text).unwrap();
    let state = dir.path().display().to_string();
    let env = move |k: &str| (k == "CTK_STATE").then(|| state.clone());
    let options = RunOptions {
        halt_when_alone,
        ..RunOptions::default()
    };
    let p = prepare(exp, &env, &options).unwrap();
    let scenario = scenario_of(&p.experiment, text.as_bytes(), p.max_duration);
    let journal = JournalWriter::create(&dir.path().join("j.jsonl"), "r").unwrap();
    let (tx, _rx) = broadcast::channel::<Arc<Envelope>>(256);
    let (cmd_tx, cmd_rx) = mpsc::channel(4);
    drop(cmd_tx);
    let out = run(p, journal, tx, cmd_rx, scenario, None).await;
    let events = crate::journal::read(&dir.path().join("j.jsonl"))
        .unwrap()
        .events
        .into_iter()
        .map(|e| e.event)
        .collect();
    (out, events)
}

#[tokio::test]
async fn a_console_run_whose_console_is_gone_halts_and_rolls_back() {
    let (out, events) = run_alone(SLOW, true).await;
    assert_eq!(out.status, "interrupted");
    assert_eq!(out.rollbacks, vec!["undo".to_string()]);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::HaltRequested { by, reason } if by == "gameday" && reason == "the console is gone"
    )));
    let (out, _) = run_alone(
        "title: t\ndescription: d\nmethod:\n  - {type: action, name: a, provider: {type: process, path: 'true', timeout: 5}}\n",
        false,
    )
    .await;
    assert_eq!(
        out.status, "completed",
        "headless runs are not halted by it"
    );
}

#[tokio::test]
async fn notes_and_milestones_sent_to_the_run_are_journaled_even_during_rollbacks() {
    use crate::event::{MilestoneKind, NoteKind};
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("rolling");
    let sent = dir.path().join("sent");
    // The rollback runs until the test has sent its commands (bounded by its timeout).
    let text = format!(
        "title: t\ndescription: d\nmethod: []\nrollbacks:\n  - {{type: action, name: slow-undo, provider: {{type: process, path: sh, arguments: ['-c', 'touch {}; while [ ! -e {} ]; do sleep 0.02; done'], timeout: 10}}}}\n",
        flag.display(),
        sent.display()
    );
    let exp = Experiment::parse(&dir.path().join("x.yaml"), &text).unwrap();
    let p = prepare(exp, &|_| None, &RunOptions::default()).unwrap();
    let scenario = scenario_of(&p.experiment, text.as_bytes(), p.max_duration);
    let path = dir.path().join("j.jsonl");
    let journal = JournalWriter::create(&path, "r").unwrap();
    let (tx, _rx) = broadcast::channel::<Arc<Envelope>>(256);
    let (cmd_tx, cmd_rx) = mpsc::channel(4);
    let sender = tokio::spawn(async move {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !flag.exists() && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let send = |c| {
            let tx = cmd_tx.clone();
            async move { tx.send(c).await.is_ok() }
        };
        assert!(
            send(Command::NoteOf {
                role: "scribe".into(),
                text: "undo is slow".into(),
                kind: NoteKind::ActionItem,
                owner: Some("ana".into()),
                due: None,
            })
            .await
        );
        assert!(
            send(Command::Milestone {
                kind: MilestoneKind::Mitigated,
                role: "IC".into(),
            })
            .await
        );
        // A halt during the rollbacks changes nothing: they run to their end.
        assert!(
            send(Command::Halt {
                by: "IC".into(),
                reason: "again".into(),
            })
            .await
        );
        std::fs::write(&sent, "").unwrap();
        cmd_tx
    });
    let out = run(p, journal, tx, cmd_rx, scenario, None).await;
    let _keep = sender.await.unwrap();
    assert_eq!(out.status, "completed");
    assert_eq!(out.exit_code, exit::HELD);
    let events: Vec<Event> = crate::journal::read(&path)
        .unwrap()
        .events
        .into_iter()
        .map(|e| e.event)
        .collect();
    let at = |f: &dyn Fn(&Event) -> bool| events.iter().position(f).expect("journaled");
    let note = at(
        &|e| matches!(e, Event::Note { text, kind: Some(NoteKind::ActionItem), owner: Some(o), .. } if text == "undo is slow" && o == "ana"),
    );
    let milestone = at(&|e| {
        matches!(
            e,
            Event::Milestone {
                kind: MilestoneKind::Mitigated,
                ..
            }
        )
    });
    let rolled = at(&|e| matches!(e, Event::CtkActivity { name, .. } if name == "slow-undo"));
    assert!(note < rolled && milestone < rolled, "{events:?}");
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::HaltRequested { .. }))
    );
}
