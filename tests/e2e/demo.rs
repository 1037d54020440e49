//! `gameday demo --headless` for every demo scenario: the exit code it is designed to give, a valid
//! journal, a debrief with every section, and nothing left behind (lab ports, lab files, leases).

use std::net::TcpStream;
use std::path::Path;
use std::process::Command;

use gameday::event::Event;
use gameday::scenario::{Source, Transport};

fn demo(name: &str, expected_exit: i32) {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_gameday"))
        .current_dir(dir.path())
        // The SSH library's own `log` records reach gameday.log (bridged into tracing).
        .env("GAMEDAY_LOG", "info,russh=debug")
        .args([
            "demo",
            name,
            "--headless",
            "--journal",
            journal.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(expected_exit), "{text}");

    let read = gameday::journal::read(&journal).expect("journal reads clean");
    assert!(read.torn.is_none());
    let events = read.events;
    assert!(matches!(
        events.last().map(|e| &e.event),
        Some(Event::RunEnded)
    ));
    assert!(
        events
            .iter()
            .any(|e| matches!(&e.event, Event::FaultInjected { ok: true, .. })),
        "{text}"
    );
    assert!(
        events.iter().any(|e| matches!(
            &e.event,
            Event::RollbackResult {
                status: gameday::event::RollbackStatus::Verified,
                ..
            }
        )),
        "{text}"
    );
    // Metrics really moved: every metric has values, not only no-data.
    let scenario = events
        .iter()
        .find_map(|e| match &e.event {
            Event::RunStarted { scenario, .. } => Some(scenario.clone()),
            _ => None,
        })
        .unwrap();
    for name in scenario.metrics.keys() {
        assert!(
            events.iter().any(|e| matches!(&e.event, Event::Sample { metric, value: Some(_), .. } if metric == name)),
            "metric {name} never had a value"
        );
    }

    let log = std::fs::read_to_string(dir.path().join("gameday.log")).expect("gameday.log");
    assert!(
        log.contains("russh"),
        "russh's log records are not in gameday.log:\n{log}"
    );
    let debrief = std::fs::read_to_string(dir.path().join("debrief.md")).unwrap();
    for section in [
        "## Summary and key times",
        "## Hypothesis and steady state",
        "## What went well",
        "## What went wrong",
        "## Lessons learned and questions",
        "## Runbook gaps",
        "### Time to recover",
        "### Detection",
        "## Metrics",
        "## Timeline",
        "## Faults",
        "## Aborts and halts",
        "## Notes",
        "## Action items",
        "## Appendix",
        "## Executive summary",
        "## Roles and participants",
        "## Step results",
        "## Impact",
    ] {
        assert!(debrief.contains(section), "{name}: debrief lacks {section}");
    }
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("summary.json")).expect("summary.json written"),
    )
    .expect("summary.json is JSON");
    assert_eq!(summary["schema"], 1);
    assert_eq!(summary["exit_code"], expected_exit);
    if name == "demo-process-kill" {
        // The failover criterion fails honestly; shop-2 comes back after the rollback.
        let criteria = &summary["steps"][1]["criteria"];
        assert_eq!(criteria[1]["outcome"], "failed", "{summary:#}");
        assert_eq!(criteria[2]["outcome"], "passed", "{summary:#}");
        assert_eq!(criteria[3]["outcome"], "not_checked", "{summary:#}");
        assert_eq!(summary["steps"][1]["result"], "failed");
        assert_eq!(summary["verdict"], "violated");
        // shop-2 went dark under the fault: that is the worst impact, before any % change.
        assert_eq!(
            summary["worst_impact"]["metric"], "shop2_health",
            "{summary:#}"
        );
        assert!(summary["worst_impact"]["no_data_during_faults"].as_u64() > Some(0));
        assert!(
            debrief.contains("Worst impact: `shop2_health` **had no data** while faults were in")
        );
        assert!(debrief.contains("Tested: "));
    }

    // Nothing left behind: the lab's ports are closed, its directory is gone, no lease runs on.
    let mut ports = Vec::new();
    for t in scenario.targets.values() {
        if let Transport::Ssh { hosts, .. } = &t.transport {
            ports.extend(hosts.iter().map(|h| h.port));
        }
    }
    for m in scenario.metrics.values() {
        if let Source::Scrape { url, .. } | Source::Http { url, .. } = &m.source {
            let port = url
                .trim_start_matches("http://127.0.0.1:")
                .split('/')
                .next()
                .unwrap();
            ports.push(port.parse().expect("localized lab URL"));
        }
    }
    assert!(!ports.is_empty());
    for p in ports {
        assert!(
            TcpStream::connect(("127.0.0.1", p)).is_err(),
            "lab port {p} still open"
        );
    }
    let lab_dir = scenario.file.parent().and_then(Path::parent).unwrap();
    assert!(
        !lab_dir.exists(),
        "lab directory {} left behind",
        lab_dir.display()
    );
    // A cancelled lease's watcher on the host notices within its 1 s poll and exits: wait for that
    // (bounded), then nothing of this run may remain.
    let run_id = events[0].run.clone();
    let leftovers = || -> Vec<String> {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
            .filter(|c| c.contains(run_id.as_str()))
            .collect()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !leftovers().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        leftovers(),
        Vec::<String>::new(),
        "processes of run {run_id} outlived the demo"
    );
}

#[test]
fn latency_demo_holds() {
    demo("demo-latency", 0);
}

#[test]
fn error_storm_demo_trips_its_abort_rule_and_rolls_back() {
    demo("demo-error-storm", 1);
}

#[test]
fn process_kill_demo_recovers_but_its_failover_criterion_fails_honestly() {
    demo("demo-process-kill", 1);
}

#[test]
fn unknown_demo_is_invalid_input() {
    let out = Command::new(env!("CARGO_BIN_EXE_gameday"))
        .args(["demo", "nope", "--headless"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("demo-latency, demo-error-storm, demo-process-kill")
    );
}

/// `gameday demo --headless` sent SIGHUP (a closed terminal) or SIGTERM, early (while the lab is
/// being set up or the hosts opened) or during the run: it halts, rolls back, exits 1 (aborted, as
/// the README's exit codes say) and leaves no lab directory (it holds the lab's client key).
#[test]
fn a_signal_to_the_demo_leaves_no_lab_directory() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    for (signal, early) in [
        (libc::SIGHUP, false),
        (libc::SIGTERM, false),
        (libc::SIGTERM, true),
        (libc::SIGHUP, true),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_gameday"))
            .current_dir(work.path())
            .env("TMPDIR", tmp.path())
            .args(["demo", "--headless"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut seen = Vec::new();
        let mut lines = stdout.lines();
        if early {
            // As soon as the lab is up (its banner), before the hosts are opened or anything runs.
            for l in lines.by_ref() {
                let l = l.unwrap();
                seen.push(l.clone());
                if l.starts_with("gameday demo:") {
                    break;
                }
            }
        } else {
            for l in lines.by_ref() {
                let l = l.unwrap();
                seen.push(l.clone());
                if l.contains("injected shop1-latency") {
                    break;
                }
            }
        }
        let lab: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
        assert_eq!(lab.len(), 1, "the lab directory is under TMPDIR: {seen:?}");
        unsafe { libc::kill(child.id() as i32, signal) };
        seen.extend(lines.map(|l| l.unwrap()));
        let status = child.wait().unwrap();
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        let what = format!("signal {signal} early={early}\n{}\n{err}", seen.join("\n"));
        assert_eq!(status.code(), Some(1), "{what}");
        let left: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(left.is_empty(), "left behind {left:?}: {what}");
        if !early {
            assert!(what.contains("VERIFIED"), "{what}");
        }
    }
}

/// A game-day plan of two demo scenarios, headless: each runs on its own lab with its own journal
/// and debrief; the honest failure of the second does not stop a day that says
/// continue_on_failure; the day debrief has both, with their verdicts, and the day's exit is 1.
#[test]
fn an_agenda_of_two_demos_runs_to_a_day_debrief() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.yaml");
    std::fs::write(
        &plan,
        "title: Demo day\ncontinue_on_failure: true\nagenda:\n  - { demo: demo-latency }\n  - { after: previous, break: 5m }\n  - { demo: demo-process-kill }\n",
    )
    .unwrap();
    let day = dir.path().join("day");
    let out = Command::new(env!("CARGO_BIN_EXE_gameday"))
        .current_dir(dir.path())
        .args([
            "day",
            plan.to_str().unwrap(),
            "--headless",
            "--dir",
            day.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    let debrief = std::fs::read_to_string(day.join("day-debrief.md")).expect("day debrief");
    assert!(
        debrief.contains("2 scenario run(s): 1 held, 1 did not; 1 agenda item(s) not run"),
        "{debrief}"
    );
    assert!(debrief.contains("HYPOTHESIS HELD"), "{debrief}");
    assert!(debrief.contains("HYPOTHESIS VIOLATED"), "{debrief}");
    for run in [
        "01-demo-checkout-survives-a-slow-shop",
        "03-demo-a-shop-goes-down-and-comes-back",
    ] {
        assert!(
            day.join(run).join("journal.jsonl").is_file(),
            "{run}: {text}"
        );
    }
    let debriefs: Vec<_> = std::fs::read_dir(&day)
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("debrief.md").is_file())
        .collect();
    assert_eq!(debriefs.len(), 2, "{text}");
}
