//! Readers never write: `report`, `follow` and `replay` (the real binary) leave a journal whose last
//! line is torn byte-for-byte as it was (sha256), and create no `.broken` copy or any other file
//! beside it. Only a writer (`recover`, holding the lock) repairs a torn tail.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, TimeZone, Utc};
use gameday::event::{Event, MilestoneKind, Phase};
use gameday::journal::JournalWriter;
use sha2::{Digest, Sha256};

fn gameday() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gameday"))
}

fn sha256(path: &Path) -> String {
    Sha256::digest(std::fs::read(path).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

const SCENARIO: &str = "title: Readers\nhypothesis: Holds.\nmax_duration: 10m\ntargets:\n  web: { local: true }\nmetrics:\n  p99: { command: \"echo 1\", target: web, every: 1s, timeout: 2s }\n  errors: { command: \"echo 0\", target: web, every: 1s, timeout: 2s }\nsteps:\n  - { name: Soak, duration: 5m }\n";

/// A journal in its own directory: a run with `samples` seconds of two metrics, then (when
/// `ended`) its end, written by the real writer. Returns the directory and the journal.
fn journal(samples: i64, ended: bool) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    let t0 = Utc
        .with_ymd_and_hms(2026, 11, 23, 8, 0, 0)
        .single()
        .unwrap();
    let at = |ms: i64| t0 + TimeDelta::milliseconds(ms);
    let scenario = gameday::scenario::Scenario::parse(Path::new("r.yaml"), SCENARIO).unwrap();
    let mut w = JournalWriter::create(&path, "readers").unwrap();
    let mut put = |ms: i64, e: Event| {
        w.append(at(ms), e).unwrap();
    };
    put(
        0,
        Event::RunStarted {
            scenario: Box::new(scenario),
            gameday_version: "test".into(),
            dry_run: None,
        },
    );
    put(
        1,
        Event::PhaseStarted {
            phase: Phase::Steps,
        },
    );
    for s in 0..samples {
        for (m, v) in [("p99", 120.0 + s as f64), ("errors", 0.0)] {
            put(
                s * 1000 + 10,
                Event::Sample {
                    metric: m.into(),
                    value: Some(v),
                    error: None,
                },
            );
        }
        if s == samples / 2 {
            put(
                s * 1000 + 20,
                Event::Milestone {
                    kind: MilestoneKind::Detected,
                    role: "IC".into(),
                },
            );
        }
    }
    if ended {
        put(samples * 1000, Event::RunEnded);
    }
    drop(w);
    (dir, path)
}

/// Appends the first half of a record (a write cut short by a crash): the torn last line.
fn tear(path: &Path) -> Vec<u8> {
    let torn = br#"{"seq":99999,"ts":"2026-11-23T09:00:00.000Z","run":"readers","type":"sam"#;
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(torn).unwrap();
    torn.to_vec()
}

#[test]
fn report_leaves_a_torn_journal_byte_identical() {
    let (dir, j) = journal(600, true);
    tear(&j);
    let before = sha256(&j);
    let out = tempfile::tempdir().unwrap();
    let o = gameday()
        .arg("report")
        .arg(&j)
        .arg("-o")
        .arg(out.path().join("debrief.md"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("the last line is torn"), "{stderr}");
    assert_eq!(sha256(&j), before, "report changed the journal");
    assert_eq!(listing(dir.path()), ["journal.jsonl"], "report left files");
    let debrief = std::fs::read_to_string(out.path().join("debrief.md")).unwrap();
    assert!(debrief.contains("p99"), "{debrief}");
}

#[test]
fn follow_waits_at_a_torn_line_without_touching_it_and_reads_it_whole_once_written() {
    let (dir, j) = journal(300, false);
    let torn = tear(&j);
    let before = sha256(&j);
    // The test is the run's writer: it holds the journal's lock, as a run does.
    let writer = std::fs::File::open(&j).unwrap();
    writer.lock().unwrap();
    let mut follower = gameday()
        .arg("follow")
        .arg(&j)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Several polls (200 ms each) go by at the torn line.
    std::thread::sleep(Duration::from_millis(1_500));
    assert!(
        follower.try_wait().unwrap().is_none(),
        "follow ended before run_ended"
    );
    assert_eq!(sha256(&j), before, "follow changed the journal");
    assert_eq!(listing(dir.path()), ["journal.jsonl"], "follow left files");

    // The test, as the writer, finishes the torn record and ends the run.
    let mut rest = b"ple\",\"m\":\"p99\",\"v\":777.0}\n".to_vec();
    let mut ended = serde_json::to_vec(&gameday::event::Envelope {
        seq: 100_000,
        ts: Utc
            .with_ymd_and_hms(2026, 11, 23, 9, 0, 1)
            .single()
            .unwrap(),
        run: "readers".into(),
        event: Event::RunEnded,
    })
    .unwrap();
    ended.push(b'\n');
    rest.extend(ended);
    let mut f = std::fs::OpenOptions::new().append(true).open(&j).unwrap();
    f.write_all(&rest).unwrap();
    drop(f);
    let written = sha256(&j);

    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = follower.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "follow did not end at run_ended");
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = follower.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(status.code(), Some(0), "{text}");
    assert!(
        text.contains("777"),
        "the completed line is read whole:\n{text}"
    );
    assert!(!text.contains("unreadable"), "{text}");
    assert!(text.trim_end().ends_with("run ended"), "{text}");
    assert_eq!(sha256(&j), written, "follow changed the journal");
    assert_eq!(listing(dir.path()), ["journal.jsonl"]);
    assert!(torn.len() > 10);
    drop(writer);
}

/// A run that died leaves a journal with no `run_ended` and no writer: follow says so, names the
/// `recover` command and exits 3 instead of waiting for ever; the journal is not touched.
#[test]
fn follow_of_a_run_that_died_says_so_and_exits_3() {
    let (dir, j) = journal(100, false);
    tear(&j);
    let before = sha256(&j);
    let mut child = gameday()
        .arg("follow")
        .arg(&j)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "follow waits for ever on a dead run"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("the run died"), "{text}");
    assert!(text.contains("gameday recover"), "{text}");
    assert_eq!(sha256(&j), before, "follow changed the journal");
    assert_eq!(listing(dir.path()), ["journal.jsonl"]);
}

#[test]
fn follow_of_an_ended_journal_with_a_torn_tail_exits_and_touches_nothing() {
    let (dir, j) = journal(100, true);
    tear(&j);
    let before = sha256(&j);
    let mut child = gameday()
        .arg("follow")
        .arg(&j)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "follow did not end at run_ended");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("run ended"));
    assert_eq!(sha256(&j), before, "follow changed the journal");
    assert_eq!(listing(dir.path()), ["journal.jsonl"]);
}

#[test]
fn replay_leaves_a_torn_journal_byte_identical() {
    let (dir, j) = journal(600, true);
    tear(&j);
    let before = sha256(&j);

    // The state `gameday replay` opens on, without a terminal.
    let app = gameday::tui::replay_app(&j).unwrap();
    assert_eq!(app.run.metrics["p99"].samples, 600);
    assert!(app.run.ended);
    assert_eq!(sha256(&j), before, "loading the replay changed the journal");

    // The real binary in a real terminal, when tmux is here.
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("tmux not installed: replay checked through the library only");
        return;
    }
    let name = format!("gameday-readers-{}", std::process::id());
    let cmd = format!(
        "{} replay {}; echo REPLAY_EXIT=$?; exec sh",
        env!("CARGO_BIN_EXE_gameday"),
        j.display()
    );
    let tmux = |args: &[&str]| {
        let o = Command::new("tmux").args(args).output().unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    tmux(&[
        "new-session",
        "-d",
        "-s",
        &name,
        "-x",
        "120",
        "-y",
        "40",
        &cmd,
    ]);
    struct Kill(String);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = Command::new("tmux")
                .args(["kill-session", "-t", &self.0])
                .output();
        }
    }
    let _session = Kill(name.clone());
    let screen = || tmux(&["capture-pane", "-p", "-t", &name]);
    let wait_for = |what: &str| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !screen().contains(what) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}:\n{}",
                screen()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    wait_for("REPLAY");
    // Seek to the start and back to the end: each refolds the run.
    tmux(&["send-keys", "-t", &name, "["]);
    tmux(&["send-keys", "-t", &name, "]"]);
    tmux(&["send-keys", "-t", &name, "q"]);
    wait_for("REPLAY_EXIT=");
    assert!(screen().contains("REPLAY_EXIT=0"), "{}", screen());
    assert_eq!(sha256(&j), before, "replay changed the journal");
    assert_eq!(listing(dir.path()), ["journal.jsonl"], "replay left files");
}
