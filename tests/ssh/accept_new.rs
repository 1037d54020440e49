//! `--accept-new` reaches the journal: a run (through `session::start`, which opens the hosts)
//! journals each key it trusted right after `run_started`; a host already known journals none;
//! `recover`, which opens hosts too, journals the keys it trusted.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use gameday::engine::Options;
use gameday::event::{CommandOutcome, Envelope, Event};
use gameday::journal::{self, JournalWriter};
use gameday::scenario::Scenario;
use gameday::target::OpenOptions;
use gameday::target::known_hosts;
use gameday::target::ssh::SshOptions;
use gameday::target::test_server::TestServer;

fn scenario(dir: &Path, port: u16, identity: &Path) -> Scenario {
    let mark = dir.join("mark");
    let yaml = format!(
        "title: t\nhypothesis: h\nmax_duration: 1m\ntargets:\n  box: {{ hosts: [\"127.0.0.1:{port}\"], user: tester, identity: \"{id}\" }}\n\
         steps:\n  - name: s\n    duration: 1s\n    faults:\n\
         \x20     - {{ kind: command, id: touch, target: box, inject: \"touch {m}\", rollback: \"rm -f {m}\", verify: \"test ! -e {m}\" }}\n",
        id = identity.display(),
        m = mark.display(),
    );
    Scenario::parse(&dir.join("t.yaml"), &yaml).unwrap()
}

fn open_options(known_hosts: &Path) -> OpenOptions {
    OpenOptions {
        ssh: SshOptions {
            known_hosts: known_hosts.to_path_buf(),
            global_known_hosts: None,
            accept_new: true,
            ..SshOptions::default()
        },
        ..OpenOptions::default()
    }
}

async fn run(scenario: &Scenario, journal: &Path, known_hosts: &Path) -> Vec<Envelope> {
    let options = Options {
        open: open_options(known_hosts),
        ..Options::default()
    };
    let running = gameday::session::start(
        Arc::new(scenario.clone()),
        Some(journal.to_path_buf()),
        options,
    )
    .await
    .unwrap();
    let outcome = running.engine.await.unwrap().unwrap();
    assert_eq!(outcome.exit_code, 0, "{}", outcome.reason);
    journal::read(journal).unwrap().events
}

fn accepted(events: &[Envelope]) -> Vec<(usize, &Event)> {
    events
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e.event, Event::HostKeyAccepted { .. }))
        .map(|(i, e)| (i, &e.event))
        .collect()
}

fn expected(server: &TestServer, known_hosts: &Path) -> Event {
    Event::HostKeyAccepted {
        host: format!("127.0.0.1:{}", server.port),
        key_type: "ssh-ed25519".into(),
        fingerprint: known_hosts::fingerprint(&server.host_key),
        known_hosts: known_hosts.display().to_string(),
        by: "--accept-new".into(),
    }
}

#[tokio::test]
async fn a_run_journals_the_key_accept_new_trusted_and_a_known_host_none() {
    let dir = tempfile::tempdir().unwrap();
    let (server, identity) = crate::keyed_server(&dir.path().join("id"), 7, 1).await;
    let known = dir.path().join("known_hosts");
    let scenario = scenario(dir.path(), server.port, &identity);

    let first = dir.path().join("first.jsonl");
    let events = run(&scenario, &first, &known).await;
    assert_eq!(
        accepted(&events),
        vec![(1, &expected(&server, &known))],
        "right after run_started"
    );
    // One human line (describe: the console, `follow`, the headless printer, the timeline)...
    let (src, line) = gameday::fold::describe::describe(
        &events[1].event,
        &gameday::fold::describe::HostNames::default(),
    );
    assert_eq!(src, "ssh");
    let fp = known_hosts::fingerprint(&server.host_key);
    assert!(
        line.contains("--accept-new") && line.contains(&fp) && line.contains("ssh-ed25519"),
        "{line}"
    );
    // ...and the debrief's appendix.
    let debrief = gameday::session::debrief(&first, None).expect("the debrief is written");
    let md = std::fs::read_to_string(debrief).unwrap();
    let section = md
        .split("### Host keys accepted")
        .nth(1)
        .expect("a host keys section");
    assert!(
        section.contains(&format!("127.0.0.1:{}", server.port)) && section.contains(&fp),
        "{section}"
    );

    // The key is in known_hosts now: the next run trusts it and journals no acceptance.
    let second = dir.path().join("second.jsonl");
    let events = run(&scenario, &second, &known).await;
    assert_eq!(accepted(&events), vec![]);
    let md = std::fs::read_to_string(gameday::session::debrief(&second, None).unwrap()).unwrap();
    assert!(!md.contains("### Host keys accepted"));
}

/// A journal left with a fault on the host, as a dead console leaves it.
fn dead_run(dir: &Path, scenario: &Scenario, port: u16) -> (PathBuf, PathBuf) {
    let mark = dir.join("left");
    std::fs::write(&mark, "").unwrap();
    let path = dir.join("dead.jsonl");
    let mut w = JournalWriter::start_for(scenario, Some(path.clone())).unwrap();
    let now = chrono::Utc::now();
    let host = format!("127.0.0.1:{port}");
    for event in [
        Event::RunStarted {
            scenario: Box::new(scenario.clone()),
            gameday_version: "test".into(),
            dry_run: None,
        },
        Event::FaultIntent {
            fault: "touch".into(),
            kind: "command".into(),
            step: 0,
            target: "box".into(),
            host: host.clone(),
            inject: format!("touch {}", mark.display()),
            undo: Some(format!("rm -f {}", mark.display())),
            verify: Some(format!("test ! -e {}", mark.display())),
            irreversible: false,
            timeout_ms: 10_000,
        },
        Event::FaultInjected {
            fault: "touch".into(),
            host,
            ok: true,
            outcome: CommandOutcome {
                exit: Some(0),
                ..Default::default()
            },
        },
    ] {
        w.append(now, event).unwrap();
    }
    (path, mark)
}

#[tokio::test]
async fn recover_journals_the_key_accept_new_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let (server, identity) = crate::keyed_server(&dir.path().join("id"), 7, 1).await;
    let known = dir.path().join("known_hosts");
    let scenario = scenario(dir.path(), server.port, &identity);
    let (journal, mark) = dead_run(dir.path(), &scenario, server.port);

    let recovery = gameday::recover::recover(&journal, &open_options(&known))
        .await
        .unwrap();
    assert!(recovery.all_verified(), "{:?}", recovery.results);
    assert!(!mark.exists(), "the fault was rolled back");
    let events = journal::read(&journal).unwrap().events;
    let found = accepted(&events);
    assert_eq!(found.len(), 1, "{events:#?}");
    assert_eq!(found[0].1, &expected(&server, &known));
    let halt = events
        .iter()
        .position(|e| matches!(e.event, Event::HaltRequested { .. }))
        .unwrap();
    let rollback = events
        .iter()
        .position(|e| matches!(e.event, Event::RollbackResult { .. }))
        .unwrap();
    assert!(halt < found[0].0 && found[0].0 < rollback, "{events:#?}");
}
