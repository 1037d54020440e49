//! The console in a real terminal (tmux): start a run on the local target, press the big red button,
//! and check that the fault was rolled back and the terminal restored. Polls with bounds; no fixed
//! sleeps decide anything.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const SCENARIO: &str = r#"
title: PTY smoke
hypothesis: The marker file comes and goes.
max_duration: 2m
targets:
  here: { local: true }
metrics:
  up: { command: "echo 1", target: here, every: 1s, timeout: 2s }
steady_state:
  - { metric: up, below: 5 }
abort:
  - { metric: up, above: 5, for: 3s }
steps:
  - name: Drop the marker
    duration: 90s
    prompt: "The marker is in place. Press X."
    faults:
      - kind: command
        id: marker
        target: here
        inject: "touch MARKER"
        rollback: "rm -f MARKER"
        verify: "test ! -e MARKER"
"#;

pub(crate) fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux").args(args).output().expect("run tmux");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub(crate) fn wait_for(
    what: &str,
    limit: Duration,
    mut ok: impl FnMut() -> bool,
    screen: impl Fn() -> String,
) {
    let start = Instant::now();
    while !ok() {
        assert!(
            start.elapsed() < limit,
            "timed out waiting for {what}; screen:\n{}",
            screen()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub(crate) struct Session(pub(crate) String);

impl Drop for Session {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .output();
    }
}

#[test]
fn halt_key_rolls_back_and_the_terminal_is_restored() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("tmux not installed: skipping the PTY smoke test");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = dir.path().join("smoke.yaml");
    std::fs::write(&scenario, SCENARIO).expect("write scenario");
    let journal = dir.path().join("run/journal.jsonl");
    let marker = dir.path().join("MARKER");
    let name = format!("gameday-smoke-{}", std::process::id());
    let cmd = format!(
        "{} run {} --journal {}; echo GAMEDAY_EXIT=$?; exec sh",
        env!("CARGO_BIN_EXE_gameday"),
        scenario.display(),
        journal.display()
    );
    let dir_s = dir.path().display().to_string();
    tmux(&[
        "new-session",
        "-d",
        "-s",
        &name,
        "-x",
        "120",
        "-y",
        "40",
        "-c",
        &dir_s,
        &cmd,
    ]);
    let _session = Session(name.clone());
    let screen = || tmux(&["capture-pane", "-p", "-t", &name]);
    let limit = Duration::from_secs(30);

    wait_for(
        "the preflight screen",
        limit,
        || screen().contains("Preflight"),
        screen,
    );
    // Three checklist items are unticked: starting asks for a reason, which is journaled.
    tmux(&["send-keys", "-t", &name, "s"]);
    wait_for(
        "the override field",
        limit,
        || screen().contains("type why"),
        screen,
    );
    tmux(&["send-keys", "-t", &name, "-l", "smoke test"]);
    tmux(&["send-keys", "-t", &name, "Enter"]);

    wait_for(
        "the fault to be injected",
        limit,
        || marker.exists(),
        screen,
    );
    tmux(&["send-keys", "-t", &name, "X"]);

    let journal_text = || std::fs::read_to_string(&journal).unwrap_or_default();
    wait_for(
        "the run to end",
        limit,
        || journal_text().contains("\"run_ended\""),
        screen,
    );
    wait_for(
        "the halt panel",
        limit,
        || screen().contains("ALL VERIFIED"),
        screen,
    );
    assert!(!marker.exists(), "the marker must be rolled back");
    let text = journal_text();
    assert!(
        text.lines()
            .any(|l| l.contains("\"rollback_result\"") && l.contains("\"VERIFIED\"")),
        "journal has no verified rollback:\n{text}"
    );
    assert!(text.contains("preflight override") && text.contains("smoke test"));
    assert!(text.contains("\"halt_requested\""));

    // The console, not just the journal, must know the run ended before `q` means "leave".
    wait_for(
        "the console to show the run ended",
        limit,
        || screen().contains("D debrief ·"),
        screen,
    );
    tmux(&["send-keys", "-t", &name, "q"]);
    wait_for(
        "gameday to exit",
        limit,
        || screen().contains("GAMEDAY_EXIT="),
        screen,
    );
    let shown = screen();
    assert!(
        shown.contains("GAMEDAY_EXIT=1"),
        "a halted run exits 1:\n{shown}"
    );
    assert_eq!(
        tmux(&["display-message", "-p", "-t", &name, "#{alternate_on}"]).trim(),
        "0",
        "the alternate screen must be left"
    );
    assert!(
        !shown.contains("BIG RED BUTTON") && !shown.contains("HALTED"),
        "console left on screen:\n{shown}"
    );
    // After the terminal is restored, the shell shows how the run ended and what became of the fault.
    assert!(
        shown.contains("gameday: ABORTED: 1 fault rolled back, all verified"),
        "no summary line after quit:\n{shown}"
    );
    assert!(Path::new(&journal).with_file_name("debrief.md").exists());
}

/// `gameday day PLAN` on a terminal: the agenda screen; `s` runs the first scenario in the
/// console of `gameday run` (its journal under the day directory, as headless lays it out); after
/// its verdict and `q` the agenda is back showing what ran; `x` skips the next item with a reason,
/// `q` asks and `y` ends the day; the day journal says who and why, and the day debrief is written.
#[test]
fn the_agenda_screen_runs_a_scenario_in_the_console_and_comes_back() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("tmux not installed: skipping the PTY agenda test");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("smoke.yaml"), SCENARIO).expect("write scenario");
    std::fs::write(
        dir.path().join("second.yaml"),
        SCENARIO.replace("title: PTY smoke", "title: Second one"),
    )
    .expect("write scenario");
    std::fs::write(
        dir.path().join("plan.yaml"),
        "title: PTY day\nroles: { incident_commander: Dana }\ncontinue_on_failure: true\nagenda:\n  - { scenario: smoke.yaml }\n  - { scenario: second.yaml }\n  - { after: previous, break: 1m }\n",
    )
    .expect("write plan");
    let day = dir.path().join("day");
    let marker = dir.path().join("MARKER");
    let name = format!("gameday-agenda-{}", std::process::id());
    let cmd = format!(
        "{} day plan.yaml --dir day; echo GAMEDAY_EXIT=$?; exec sh",
        env!("CARGO_BIN_EXE_gameday"),
    );
    let dir_s = dir.path().display().to_string();
    tmux(&[
        "new-session",
        "-d",
        "-s",
        &name,
        "-x",
        "120",
        "-y",
        "40",
        "-c",
        &dir_s,
        &cmd,
    ]);
    let _session = Session(name.clone());
    let screen = || tmux(&["capture-pane", "-p", "-t", &name]);
    let send = |k: &str| {
        tmux(&["send-keys", "-t", &name, k]);
    };
    let limit = Duration::from_secs(30);

    wait_for(
        "the agenda",
        limit,
        || screen().contains("Next: PTY smoke: s starts it."),
        screen,
    );
    assert!(screen().contains("local time (UTC"), "{}", screen());
    // Closed at preflight: nothing ran, and the item waits again.
    send("s");
    wait_for(
        "the preflight screen",
        limit,
        || screen().contains("Preflight"),
        screen,
    );
    send("q");
    wait_for(
        "the agenda, the item pending again",
        limit,
        || screen().contains("was not started"),
        screen,
    );
    send("s");
    wait_for(
        "the preflight screen",
        limit,
        || screen().contains("Preflight"),
        screen,
    );
    send("s");
    wait_for(
        "the override field",
        limit,
        || screen().contains("type why"),
        screen,
    );
    tmux(&["send-keys", "-t", &name, "-l", "agenda test"]);
    send("Enter");
    wait_for(
        "the fault to be injected",
        limit,
        || marker.exists(),
        screen,
    );
    send("X");
    wait_for(
        "the console to show the run ended",
        limit,
        || screen().contains("D debrief ·"),
        screen,
    );
    assert!(!marker.exists(), "the marker must be rolled back");
    send("q");
    wait_for(
        "the agenda again, with the verdict",
        limit,
        || screen().contains("ABORTED exit 1"),
        screen,
    );
    let journal = day.join("01-pty-smoke/journal.jsonl");
    assert!(
        std::fs::read_to_string(&journal)
            .unwrap_or_default()
            .contains("\"run_ended\""),
        "the run's journal is under the day directory"
    );
    send("x");
    wait_for(
        "the skip prompt",
        limit,
        || screen().contains("why?"),
        screen,
    );
    tmux(&["send-keys", "-t", &name, "-l", "out of time"]);
    send("Enter");
    wait_for(
        "the skip",
        limit,
        || screen().contains("skipped: out of time"),
        screen,
    );
    send("q");
    wait_for(
        "the quit question",
        limit,
        || screen().contains("End the day now?"),
        screen,
    );
    send("y");
    wait_for(
        "gameday to exit",
        limit,
        || screen().contains("GAMEDAY_EXIT="),
        screen,
    );
    let shown = screen();
    assert!(
        shown.contains("GAMEDAY_EXIT=1"),
        "the day's worst run exits 1:\n{shown}"
    );
    assert_eq!(
        tmux(&["display-message", "-p", "-t", &name, "#{alternate_on}"]).trim(),
        "0",
        "the alternate screen must be left"
    );
    let records: Vec<serde_json::Value> = std::fs::read_to_string(day.join("day.jsonl"))
        .expect("day journal")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let types: Vec<&str> = records
        .iter()
        .map(|r| r["type"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        types,
        [
            "day_started",
            "item_started",
            "item_ended",
            "item_started",
            "item_ended",
            "item_skipped",
            "item_skipped",
            "day_ended"
        ],
        "{records:#?}"
    );
    assert_eq!(records[0]["headless"], false);
    assert_eq!(
        records[2]["journal"],
        serde_json::Value::Null,
        "closed at preflight"
    );
    assert_eq!(records[4]["verdict"], "ABORTED");
    assert_eq!(records[5]["why"], "out of time");
    assert_eq!(records[5]["who"], "Dana (incident commander)");
    assert_eq!(
        records[7]["why"],
        "ended on the agenda screen by Dana (incident commander)"
    );
    let debrief = std::fs::read_to_string(day.join("day-debrief.md")).expect("day debrief");
    assert!(
        debrief.contains("out of time (skipped by Dana (incident commander))"),
        "{debrief}"
    );
    assert!(day.join("01-pty-smoke/debrief.md").is_file());
}

/// SIGTERM to `gameday day PLAN` on its agenda screen (between scenarios): the day ends at once,
/// the terminal is restored, every item is journaled as not run with the signal, the day debrief
/// is written, and the exit code is 1 (stopped by a signal, nothing left behind).
#[test]
fn sigterm_on_the_agenda_screen_ends_the_day() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("tmux not installed: skipping the PTY agenda signal test");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("smoke.yaml"), SCENARIO).expect("write scenario");
    std::fs::write(
        dir.path().join("plan.yaml"),
        "title: Signal day\nagenda:\n  - { scenario: smoke.yaml }\n  - { after: previous, break: 1m }\n",
    )
    .expect("write plan");
    let day = dir.path().join("day");
    let name = format!("gameday-agenda-sig-{}", std::process::id());
    let cmd = format!(
        "{} day plan.yaml --dir day; echo GAMEDAY_EXIT=$?; exec sh",
        env!("CARGO_BIN_EXE_gameday"),
    );
    let dir_s = dir.path().display().to_string();
    tmux(&[
        "new-session",
        "-d",
        "-s",
        &name,
        "-x",
        "120",
        "-y",
        "40",
        "-c",
        &dir_s,
        &cmd,
    ]);
    let _session = Session(name.clone());
    let screen = || tmux(&["capture-pane", "-p", "-t", &name]);
    let limit = Duration::from_secs(30);
    wait_for(
        "the agenda",
        limit,
        || screen().contains("Next: PTY smoke: s starts it."),
        screen,
    );
    // The pane's shell runs gameday in the foreground: its one child.
    let shell = tmux(&["display-message", "-p", "-t", &name, "#{pane_pid}"]);
    let out = Command::new("pgrep")
        .args(["-P", shell.trim()])
        .output()
        .expect("pgrep");
    let pid = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(!pid.is_empty() && !pid.contains('\n'), "one child: {pid:?}");
    let ok = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill")
        .success();
    assert!(ok);
    wait_for(
        "gameday to exit",
        limit,
        || screen().contains("GAMEDAY_EXIT="),
        screen,
    );
    let shown = screen();
    assert!(shown.contains("GAMEDAY_EXIT=1"), "{shown}");
    assert_eq!(
        tmux(&["display-message", "-p", "-t", &name, "#{alternate_on}"]).trim(),
        "0",
        "the alternate screen must be left"
    );
    let records: Vec<serde_json::Value> = std::fs::read_to_string(day.join("day.jsonl"))
        .expect("day journal")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let types: Vec<&str> = records
        .iter()
        .map(|r| r["type"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        types,
        ["day_started", "item_skipped", "item_skipped", "day_ended"],
        "{records:#?}"
    );
    for r in &records[1..] {
        assert_eq!(
            r["why"], "SIGTERM received on the agenda screen",
            "{records:#?}"
        );
    }
    assert_eq!(records[3]["exit_code"], 1);
    assert!(day.join("day-debrief.md").is_file());
    assert!(!day.join("01-pty-smoke").exists(), "nothing ran");
}
