//! End-to-end: the real `gameday` binary, real local commands, real files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn gameday() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gameday"))
}

fn run_in(dir: &Path, args: &[&str]) -> Output {
    gameday()
        .current_dir(dir)
        .args(args)
        .output()
        .expect("gameday runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A scenario whose fault creates `marker` and whose rollback removes it.
fn scenario(dir: &Path, marker: &Path, rollback: &str, step: &str) -> PathBuf {
    let m = marker.display();
    let yaml = format!(
        r#"title: Local marker game day
hypothesis: The marker comes and goes.
roles: {{ incident_commander: Dana, scribe: Lee }}
max_duration: 5m
targets:
  here: {{ local: true }}
metrics:
  one: {{ command: "echo 1", target: here, every: 200ms, timeout: 2s }}
steady_state:
  - {{ metric: one, below: 5 }}
abort:
  - {{ metric: one, above: 5, for: 1s }}
steps:
  - {{ name: Baseline, duration: 300ms }}
  - name: Marker
    duration: {step}
    faults:
      - kind: command
        id: marker
        target: here
        inject: "touch {m}"
        rollback: "{rollback}"
        verify: "test ! -e {m}"
"#
    );
    let path = dir.join("s.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

fn journal_of(dir: &Path) -> PathBuf {
    dir.join("journal.jsonl")
}

#[test]
fn validate_reports_every_problem_with_file_line_column() {
    let dir = tempfile::tempdir().unwrap();
    let good = scenario(dir.path(), &dir.path().join("m"), "rm -f x", "1s");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(&good)
            .unwrap()
            .replace(
                "target: here\n        inject",
                "target: nowhere\n        inject",
            )
            .replace("max_duration: 5m", "max_duration: 1s"),
    )
    .unwrap();
    let ok = run_in(dir.path(), &["validate", good.to_str().unwrap()]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    let out = run_in(
        dir.path(),
        &["validate", good.to_str().unwrap(), bad.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let bad_s = bad.display().to_string();
    assert!(
        stdout.contains(&format!("{bad_s}:4:15: steps add up to")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{bad_s}:20:17: undefined target `nowhere`")),
        "{stdout}"
    );
}

#[test]
fn headless_run_injects_rolls_back_and_writes_the_debrief() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("marker");
    let s = scenario(
        dir.path(),
        &marker,
        &format!("rm -f {}", marker.display()),
        "1s",
    );
    let j = journal_of(dir.path());
    let out = run_headless(dir.path(), &s, &j);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(!marker.exists(), "the fault was rolled back");
    assert!(t.contains("injected marker on local"), "{t}");
    assert!(t.contains("VERIFIED"), "{t}");
    assert!(t.contains("HYPOTHESIS HELD (exit 0)"), "{t}");
    let debrief = std::fs::read_to_string(dir.path().join("debrief.md")).unwrap();
    for section in [
        "# Debrief: Local marker game day",
        "## Summary",
        "## Hypothesis and steady state",
        "## Timeline",
        "## Faults",
        "## Aborts and halts",
        "## Notes",
        "## Action items",
        "## Appendix",
        "| Scenario sha256 |",
        "| incident commander | Dana |",
    ] {
        assert!(debrief.contains(section), "missing {section}:\n{debrief}");
    }
    // Every journal line is one JSON object with seq, ts and run.
    let journal = std::fs::read_to_string(&j).unwrap();
    for (i, line) in journal.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["seq"], i as u64 + 1);
        assert!(v["ts"].as_str().unwrap().ends_with('Z'));
        assert!(v["run"].is_string());
    }
}

#[test]
fn default_journal_goes_under_runs() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("marker");
    let s = scenario(
        dir.path(),
        &marker,
        &format!("rm -f {}", marker.display()),
        "300ms",
    );
    let out = run_in(dir.path(), &["run", s.to_str().unwrap(), "--headless"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let runs: Vec<_> = std::fs::read_dir(dir.path().join("runs"))
        .unwrap()
        .collect();
    assert_eq!(runs.len(), 1);
    let run_dir = runs[0].as_ref().unwrap().path();
    let name = run_dir.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.ends_with("-local-marker-game-day"), "{name}");
    assert!(
        name.starts_with("20") && name.contains('T') && name.contains('Z'),
        "{name}"
    );
    assert!(run_dir.join("journal.jsonl").exists());
    assert!(run_dir.join("debrief.md").exists());
}

#[test]
fn failed_rollback_exits_3_with_the_manual_command() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("marker");
    let s = scenario(dir.path(), &marker, "true", "300ms");
    let j = journal_of(dir.path());
    let out = run_headless(dir.path(), &s, &j);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let debrief = std::fs::read_to_string(dir.path().join("debrief.md")).unwrap();
    assert!(debrief.contains("MANUAL ACTION NEEDED"), "{debrief}");
    assert!(debrief.contains("### Manual action needed"), "{debrief}");
    assert!(
        debrief.contains(&format!("test ! -e {}", marker.display())),
        "{debrief}"
    );
}

#[test]
fn invalid_scenario_exits_2_and_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("marker");
    let s = scenario(dir.path(), &marker, "rm -f x", "1s");
    let text_ = std::fs::read_to_string(&s)
        .unwrap()
        .replace("max_duration: 5m", "max_duration: 5 parsecs");
    std::fs::write(&s, text_).unwrap();
    let out = run_in(dir.path(), &["run", s.to_str().unwrap(), "--headless"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("s.yaml:4:15: bad duration"),
        "{}",
        text(&out)
    );
    assert!(!marker.exists());
    assert!(
        !dir.path().join("runs").exists(),
        "no journal for a refused run"
    );
}

/// Runs a headless game day to its end with its journal at `journal`.
fn run_headless(dir: &Path, scenario: &Path, journal: &Path) -> Output {
    run_in(
        dir,
        &[
            "run",
            scenario.to_str().unwrap(),
            "--headless",
            "--journal",
            journal.to_str().unwrap(),
        ],
    )
}

/// Starts a headless run in the background, output discarded.
fn spawn_headless(dir: &Path, scenario: &Path, journal: &Path) -> std::process::Child {
    gameday()
        .current_dir(dir)
        .args([
            "run",
            scenario.to_str().unwrap(),
            "--headless",
            "--journal",
            journal.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits (bounded) until the journal shows `needle`.
fn wait_for_journal(j: &Path, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if std::fs::read_to_string(j).is_ok_and(|t| t.contains(needle)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("journal never showed {needle}");
}

#[test]
fn sigterm_halts_and_rolls_back_before_exit() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("marker");
    let s = scenario(
        dir.path(),
        &marker,
        &format!("rm -f {}", marker.display()),
        "2m",
    );
    let j = journal_of(dir.path());
    let mut child = spawn_headless(dir.path(), &s, &j);
    wait_for_journal(&j, "\"fault_injected\"");
    assert!(marker.exists());
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "aborted, all rolled back");
    assert!(!marker.exists(), "SIGTERM rolled the fault back");
    let journal = std::fs::read_to_string(&j).unwrap();
    assert!(journal.contains("SIGTERM received"));
    assert!(journal.contains("\"since_halt_ms\""));
}

#[test]
fn kill_9_then_recover_rolls_back_from_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("marker");
    let s = scenario(
        dir.path(),
        &marker,
        &format!("rm -f {}", marker.display()),
        "2m",
    );
    let j = journal_of(dir.path());
    let mut child = spawn_headless(dir.path(), &s, &j);
    wait_for_journal(&j, "\"fault_injected\"");
    child.kill().unwrap(); // SIGKILL: no rollback, no verdict
    child.wait().unwrap();
    assert!(marker.exists(), "the fault outlived the console");

    // The crashed run still has a debrief that says so.
    let report = run_in(
        dir.path(),
        &["report", j.to_str().unwrap(), "-o", "crashed.md"],
    );
    assert_eq!(report.status.code(), Some(0), "{}", text(&report));
    let crashed = std::fs::read_to_string(dir.path().join("crashed.md")).unwrap();
    assert!(crashed.contains("the run did not finish"), "{crashed}");

    let out = run_in(dir.path(), &["recover", j.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("marker on local: VERIFIED"));
    assert!(!marker.exists(), "recover rolled the fault back");
    // Recovering again finds nothing left to do.
    let again = run_in(dir.path(), &["recover", j.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&again.stdout).contains("nothing to recover"));
}

#[test]
fn report_reads_a_torn_journal_without_changing_it() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("marker");
    let s = scenario(
        dir.path(),
        &marker,
        &format!("rm -f {}", marker.display()),
        "300ms",
    );
    let j = journal_of(dir.path());
    let out = run_headless(dir.path(), &s, &j);
    assert_eq!(out.status.code(), Some(0));
    let mut bytes = std::fs::read(&j).unwrap();
    bytes.extend_from_slice(br#"{"seq":999,"ts":"2026-"#);
    std::fs::write(&j, &bytes).unwrap();
    let out = run_in(dir.path(), &["report", j.to_str().unwrap(), "-o", "r.md"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("the last line is torn"));
    assert_eq!(
        std::fs::read(&j).unwrap(),
        bytes,
        "report modified the journal"
    );
    assert!(!dir.path().join("journal.jsonl.broken").exists());
    assert!(
        std::fs::read_to_string(dir.path().join("r.md"))
            .unwrap()
            .contains("HYPOTHESIS HELD")
    );
}

#[test]
fn follow_prints_a_run_from_a_second_seat() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("marker");
    let s = scenario(
        dir.path(),
        &marker,
        &format!("rm -f {}", marker.display()),
        "1s",
    );
    let j = journal_of(dir.path());
    let mut run = spawn_headless(dir.path(), &s, &j);
    wait_for_journal(&j, "\"run_started\"");
    let follower = gameday()
        .args(["follow", j.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(run.wait().unwrap().code(), Some(0));
    let out = String::from_utf8_lossy(&follower.stdout);
    assert_eq!(follower.status.code(), Some(0));
    assert!(out.contains("injected marker on local"), "{out}");
    assert!(out.trim_end().ends_with("run ended"), "{out}");
}

/// The console's `e` export and `gameday report` leave the same files: the debrief and every chart
/// it links, byte for byte. (The console once wrote only debrief.md, linking charts not yet there.)
#[test]
fn console_export_and_report_write_the_same_files() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("marker");
    let s = scenario(
        dir.path(),
        &marker,
        &format!("rm -f {}", marker.display()),
        "1s",
    );
    let j = journal_of(dir.path());
    assert_eq!(run_headless(dir.path(), &s, &j).status.code(), Some(0));
    let files = |d: &Path| -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "md" || x == "svg"))
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read(&p).unwrap())
            })
            .collect();
        v.sort();
        v
    };
    let (cli, console) = (dir.path().join("cli"), dir.path().join("console"));
    for d in [&cli, &console] {
        std::fs::create_dir(d).unwrap();
        std::fs::copy(&j, d.join("journal.jsonl")).unwrap();
    }
    let out = run_in(&cli, &["report", "journal.jsonl"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let written = gameday::tui::launch::export_debrief(&console.join("journal.jsonl")).unwrap();
    assert_eq!(written, console.join("debrief.md"));
    let (a, b) = (files(&cli), files(&console));
    assert!(
        a.iter().any(|(n, _)| n.starts_with("chart-")),
        "the run has a chart"
    );
    assert_eq!(
        a.iter().map(|f| &f.0).collect::<Vec<_>>(),
        b.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    assert!(a == b, "same names, different bytes");
    // Every chart the debrief links is there.
    let md = String::from_utf8(b.iter().find(|f| f.0 == "debrief.md").unwrap().1.clone()).unwrap();
    for link in md.split("](").skip(1).filter_map(|r| r.split(')').next()) {
        if link.ends_with(".svg") {
            assert!(console.join(link).exists(), "{link} is linked but missing");
        }
    }
}

/// `gameday` with no arguments and no terminal (CI, a pipe): the help on stderr, exit 2. (On a
/// terminal it opens the scenario picker.)
#[test]
fn no_arguments_without_a_terminal_prints_help_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = gameday()
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("gameday runs");
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Usage: gameday [COMMAND]"), "{err}");
    assert!(err.contains("scenario picker"), "{err}");
    assert!(out.stdout.is_empty());
}

/// `gameday history` over a directory with a finished run: the table names it with its verdict,
/// `--json` gives the same row; a directory that does not exist is exit 2 with the reason.
#[test]
fn history_lists_past_runs() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("marker");
    let s = scenario(
        dir.path(),
        &marker,
        &format!("rm -f {}", marker.display()),
        "300ms",
    );
    let runs = dir.path().join("runs");
    let j = runs.join("one").join("journal.jsonl");
    std::fs::create_dir_all(j.parent().unwrap()).unwrap();
    assert_eq!(run_headless(dir.path(), &s, &j).status.code(), Some(0));
    let table = run_in(dir.path(), &["history"]);
    assert_eq!(table.status.code(), Some(0), "{}", text(&table));
    let out = String::from_utf8_lossy(&table.stdout);
    assert!(out.contains("Local marker game day"), "{out}");
    assert!(out.contains("HYPOTHESIS HELD"), "{out}");
    let json = run_in(dir.path(), &["history", "runs", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(v["rows"][0]["verdict"], "held");
    assert_eq!(v["rows"][0]["faults_injected"], 1);
    let missing = run_in(dir.path(), &["history", "nowhere"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing).contains("nowhere"), "{}", text(&missing));
}

/// A recording HTTP server on loopback (std threads): every request body, answered 200.
fn recording_server() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = bodies.clone();
    std::thread::spawn(move || {
        for sock in listener.incoming().flatten() {
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(sock);
                loop {
                    let mut len = 0usize;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        if let Some((k, v)) = line.split_once(':')
                            && k.eq_ignore_ascii_case("content-length")
                        {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0u8; len];
                    if r.read_exact(&mut body).is_err() {
                        return;
                    }
                    seen.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&body).into_owned());
                    let _ = r
                        .get_mut()
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
                }
            });
        }
    });
    (url, bodies)
}

/// `notify:` on a headless run: the run's start, verdict and end reach a webhook and each
/// delivery is journaled; a dead endpoint (its URL a secret from the environment) is journaled as
/// not delivered, never stops the run, and its URL is nowhere in the journal or the debrief.
#[test]
fn a_run_announces_itself_and_a_dead_endpoint_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("marker");
    let s = scenario(
        dir.path(),
        &marker,
        &format!("rm -f {}", marker.display()),
        "300ms",
    );
    let (url, bodies) = recording_server();
    let mut yaml = std::fs::read_to_string(&s).unwrap();
    yaml.push_str(&format!(
        "notify:\n  - {{ webhook: \"{url}\", on: [run, verdict] }}\n  - {{ url_env: GD_E2E_DEAD_HOOK, format: slack, on: [verdict] }}\n"
    ));
    std::fs::write(&s, yaml).unwrap();
    let j = journal_of(dir.path());
    let secret = "http://127.0.0.1:9/services/T0/B0/e2eSECRETpath";
    let out = gameday()
        .current_dir(dir.path())
        .env("GD_E2E_DEAD_HOOK", secret)
        .args([
            "run",
            s.to_str().unwrap(),
            "--headless",
            "--journal",
            j.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let types: Vec<String> = bodies
        .lock()
        .unwrap()
        .iter()
        .map(|b| {
            serde_json::from_str::<serde_json::Value>(b).unwrap()["type"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert_eq!(types, ["run_started", "verdict", "run_ended"], "{types:?}");
    let journal = std::fs::read_to_string(&j).unwrap();
    let notified: Vec<serde_json::Value> = journal
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "notified")
        .collect();
    assert_eq!(
        notified.iter().filter(|v| v["ok"] == true).count(),
        3,
        "{notified:#?}"
    );
    let dead: Vec<_> = notified.iter().filter(|v| v["ok"] == false).collect();
    assert_eq!(dead.len(), 1, "{notified:#?}");
    assert_eq!(dead[0]["about"], "verdict");
    assert_eq!(dead[0]["to"], "slack webhook $GD_E2E_DEAD_HOOK");
    let debrief = std::fs::read_to_string(j.with_file_name("debrief.md")).unwrap();
    assert!(debrief.contains("### Notifications"), "{debrief}");
    for text in [&journal, &debrief, &text(&out)] {
        assert!(!text.contains("e2eSECRETpath"), "the secret URL leaked");
    }
}

/// `gameday day PLAN --headless --dir DAY` in `dir`.
fn run_day(dir: &Path, plan: &Path, day: &Path) -> Output {
    run_in(
        dir,
        &[
            "day",
            plan.to_str().unwrap(),
            "--headless",
            "--dir",
            day.to_str().unwrap(),
        ],
    )
}

/// `gameday day PLAN --headless`: the agenda back to back (the break not waited for, and said
/// so), each scenario with its own journal and debrief under the day directory, the day journal,
/// and the day debrief, which `gameday report DIR` rebuilds from the journals alone. A scenario
/// that does not hold stops the day unless the plan says continue_on_failure.
#[test]
fn a_day_runs_its_agenda_headless_to_a_day_debrief() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("marker");
    let s = scenario(
        dir.path(),
        &marker,
        &format!("rm -f {}", marker.display()),
        "300ms",
    );
    let good = std::fs::read_to_string(&s).unwrap();
    std::fs::write(dir.path().join("a.yaml"), &good).unwrap();
    std::fs::write(
        dir.path().join("b.yaml"),
        good.replace("title: Local marker game day", "title: Second one"),
    )
    .unwrap();
    // Violated before any fault: its metric is above the steady-state bound.
    std::fs::write(
        dir.path().join("bad.yaml"),
        good.replace("title: Local marker game day", "title: Not steady")
            .replace("echo 1", "echo 9"),
    )
    .unwrap();
    let plan = |items: &str, cont: bool| {
        let p = dir.path().join("plan.yaml");
        std::fs::write(
            &p,
            format!(
                "title: Test day\ndate: 2026-12-04\ncontinue_on_failure: {cont}\nagenda:\n{items}"
            ),
        )
        .unwrap();
        p
    };
    let p = plan(
        "  - { at: \"10:00\", scenario: a.yaml }\n  - { after: previous, break: 15m }\n  - { scenario: b.yaml }\n",
        false,
    );
    let day = dir.path().join("day1");
    let out = run_day(dir.path(), &p, &day);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let journal = std::fs::read_to_string(day.join("day.jsonl")).unwrap();
    let types: Vec<String> = journal
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["type"].to_string())
        .collect();
    assert_eq!(
        types,
        [
            "\"day_started\"",
            "\"item_started\"",
            "\"item_ended\"",
            "\"item_skipped\"",
            "\"item_started\"",
            "\"item_ended\"",
            "\"day_ended\""
        ],
        "{journal}"
    );
    assert!(journal.contains("breaks are not waited for"), "{journal}");
    assert!(day.join("01-local-marker-game-day/debrief.md").is_file());
    assert!(day.join("03-second-one/debrief.md").is_file());
    let debrief = std::fs::read_to_string(day.join("day-debrief.md")).unwrap();
    assert!(
        debrief.contains("# Day debrief: Test day (2026-12-04)"),
        "{debrief}"
    );
    assert!(
        debrief.contains("2 scenario run(s): 2 held, 0 did not"),
        "{debrief}"
    );
    assert!(
        debrief.contains("[debrief](01-local-marker-game-day/debrief.md)"),
        "{debrief}"
    );
    assert!(debrief.contains("## Timeline"), "{debrief}");
    // From the journals alone: the same day debrief.
    std::fs::remove_file(day.join("day-debrief.md")).unwrap();
    let again = run_in(dir.path(), &["report", day.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert_eq!(
        std::fs::read_to_string(day.join("day-debrief.md")).unwrap(),
        debrief
    );

    // A scenario that does not hold stops the day; continue_on_failure goes on.
    let p = plan(
        "  - { scenario: bad.yaml }\n  - { scenario: b.yaml }\n",
        false,
    );
    let day2 = dir.path().join("day2");
    let out = run_day(dir.path(), &p, &day2);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let journal = std::fs::read_to_string(day2.join("day.jsonl")).unwrap();
    assert!(journal.contains("\"item_skipped\""), "{journal}");
    assert!(journal.contains("continue_on_failure"), "{journal}");
    assert!(!day2.join("02-second-one").exists());
    let p = plan(
        "  - { scenario: bad.yaml }\n  - { scenario: b.yaml }\n",
        true,
    );
    let day3 = dir.path().join("day3");
    let out = run_day(dir.path(), &p, &day3);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(day3.join("02-second-one/journal.jsonl").is_file());
    let debrief = std::fs::read_to_string(day3.join("day-debrief.md")).unwrap();
    assert!(
        debrief.contains("2 scenario run(s): 1 held, 1 did not"),
        "{debrief}"
    );

    // A run that needs a person (its rollback is not verified: exit 3) stops the day even with
    // continue_on_failure: no more faults until someone has looked.
    std::fs::write(
        dir.path().join("stuck.yaml"),
        good.replace("title: Local marker game day", "title: Stuck")
            .replace(
                &format!("rollback: \"rm -f {}\"", marker.display()),
                "rollback: \"true\"",
            ),
    )
    .unwrap();
    let p = plan(
        "  - { scenario: stuck.yaml }\n  - { scenario: b.yaml }\n",
        true,
    );
    let day4 = dir.path().join("day4");
    let out = run_day(dir.path(), &p, &day4);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let journal = std::fs::read_to_string(day4.join("day.jsonl")).unwrap();
    assert!(journal.contains("needs a person to look"), "{journal}");
    assert!(!day4.join("02-second-one").exists());
    let _ = std::fs::remove_file(&marker);

    // An invalid plan: exit 2, at its line and column, nothing run.
    let p = plan("  - { scenario: nowhere.yaml }\n", false);
    let out = run_in(dir.path(), &["day", p.to_str().unwrap(), "--headless"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("plan.yaml:5:"), "{}", text(&out));
    assert!(!dir.path().join("days").exists());
}

/// Shell completions for bash, zsh and fish and the man page generate, name the commands, and
/// exit 0; a shell clap does not know is exit 2.
#[test]
fn completions_and_the_man_page_generate() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, needle) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef gameday"),
        ("fish", "complete -c gameday"),
    ] {
        let out = run_in(dir.path(), &["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}: {}", text(&out));
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(script.contains(needle), "{shell}: {script}");
        for cmd in ["run", "recover", "history", "day"] {
            assert!(script.contains(cmd), "{shell} lacks {cmd}");
        }
    }
    let man = run_in(dir.path(), &["man"]);
    assert_eq!(man.status.code(), Some(0), "{}", text(&man));
    let page = String::from_utf8_lossy(&man.stdout);
    assert!(
        page.starts_with(".ie") || page.contains(".TH gameday"),
        "{page}"
    );
    assert!(page.contains("recover"), "{page}");
    let bad = run_in(dir.path(), &["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2));
}

/// `run --headless --output json`: stdout is one JSON object (the summary, the process's exit code,
/// the journal's path) and nothing else; the event lines go to stderr. An invalid scenario is one
/// JSON object too, with its problems; without --headless it is refused.
#[test]
fn output_json_is_one_summary_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("marker");
    let s = scenario(
        dir.path(),
        &marker,
        &format!("rm -f {}", marker.display()),
        "300ms",
    );
    let j = journal_of(dir.path());
    let out = run_in(
        dir.path(),
        &[
            "run",
            s.to_str().unwrap(),
            "--headless",
            "--output",
            "json",
            "--journal",
            j.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON object");
    assert_eq!(v["verdict"], "held");
    assert_eq!(v["exit_code"], 0);
    assert_eq!(v["journal"], j.display().to_string());
    assert_eq!(v["faults_injected"], 1);
    assert_eq!(v["faults_verified"], 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("injected marker on local"), "{stderr}");
    assert!(stderr.contains("debrief written"), "{stderr}");

    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "title: x\n").unwrap();
    let out = run_in(
        dir.path(),
        &[
            "run",
            bad.to_str().unwrap(),
            "--headless",
            "--output",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["exit_code"], 2);
    assert!(
        v["problems"][0]
            .as_str()
            .is_some_and(|p| p.contains("bad.yaml:")),
        "{v}"
    );

    let out = run_in(
        dir.path(),
        &["run", s.to_str().unwrap(), "--output", "json"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}

/// `xmllint --schema docs/junit.xsd FILE` passes. xmllint must be there (CI installs
/// libxml2-utils): a validator that is missing fails the test rather than skipping it.
fn assert_valid_junit(file: &Path) {
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/junit.xsd");
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&schema)
        .arg(file)
        .output()
        .expect("xmllint is needed to validate JUnit output: apt-get install libxml2-utils");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(file).unwrap_or_default()
    );
}

/// `run --headless --junit FILE`: JUnit XML of the run from its journal's fold (steady-state
/// checks before and after, each success criterion, each fault's rollback), valid against
/// docs/junit.xsd with hostile names in it; `gameday report JOURNAL --junit` writes the same file;
/// a --junit in a directory that does not exist is refused before anything runs.
#[test]
fn junit_output_validates_against_its_schema() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("marker");
    let s = scenario(
        dir.path(),
        &marker,
        &format!("rm -f {}", marker.display()),
        "300ms",
    );
    let yaml = std::fs::read_to_string(&s)
        .unwrap()
        .replace(
            "title: Local marker game day",
            "title: 'Hostile <&\"]]> day'",
        )
        .replace(
            "    duration: 300ms\n    faults:",
            "    duration: 300ms\n    success:\n      - { metric: one, below: 5, throughout: true, name: \"one < 5 & no ]]> <here>\" }\n      - { check: \"Pager \\\"rang\\\" & <ack'd>\", by: IC }\n    faults:",
        );
    std::fs::write(&s, yaml).unwrap();
    let j = dir.path().join("run/journal.jsonl");
    let x = dir.path().join("out/junit.xml");

    // Refused before anything runs: the directory does not exist.
    let out = run_in(
        dir.path(),
        &[
            "run",
            s.to_str().unwrap(),
            "--headless",
            "--journal",
            j.to_str().unwrap(),
            "--junit",
            x.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("does not exist"), "{}", text(&out));
    assert!(!j.exists(), "nothing was run");
    let out = run_in(
        dir.path(),
        &["run", s.to_str().unwrap(), "--junit", "j.xml"],
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "--junit needs --headless: {}",
        text(&out)
    );

    std::fs::create_dir(dir.path().join("out")).unwrap();
    let out = run_in(
        dir.path(),
        &[
            "run",
            s.to_str().unwrap(),
            "--headless",
            "--journal",
            j.to_str().unwrap(),
            "--junit",
            x.to_str().unwrap(),
        ],
    );
    // The human check was never ticked: not checked (skipped in JUnit); the hypothesis held.
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("JUnit XML written to"),
        "{}",
        text(&out)
    );
    assert_valid_junit(&x);
    let xml = std::fs::read_to_string(&x).unwrap();
    assert!(
        xml.contains("<testsuite name=\"Hostile &lt;&amp;&quot;]]&gt; day\""),
        "{xml}"
    );
    assert!(
        xml.contains("classname=\"gameday.hostile-day.steady_state_before\""),
        "{xml}"
    );
    assert!(
        xml.contains("classname=\"gameday.hostile-day.steady_state_after\""),
        "{xml}"
    );
    assert!(xml.contains("<testcase name=\"one &lt; 5 &amp; no ]]&gt; &lt;here&gt;\" classname=\"gameday.hostile-day.step2\""), "{xml}");
    assert!(
        xml.contains("name=\"Pager &quot;rang&quot; &amp; &lt;ack&apos;d&gt;\""),
        "{xml}"
    );
    assert!(
        xml.contains("<skipped message=\"not checked: no one ticked this human check\"/>"),
        "{xml}"
    );
    assert!(xml.contains("<testcase name=\"marker on "), "{xml}");
    assert!(
        xml.contains("classname=\"gameday.hostile-day.rollback\""),
        "{xml}"
    );
    assert!(xml.contains(" errors=\"0\" skipped=\"1\""), "{xml}");
    assert!(xml.contains("exit code 0"), "{xml}");
    assert!(!marker.exists());

    // From the journal alone: the same XML.
    let again = dir.path().join("out/again.xml");
    let out = run_in(
        dir.path(),
        &[
            "report",
            j.to_str().unwrap(),
            "--junit",
            again.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&again).unwrap(), xml);
}
