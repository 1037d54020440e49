//! Host selection over real SSH: four in-process lab hosts, a fault that selects two of them
//! (one excluded by name), and the marks its inject and undo leave in each host's sandbox.

use std::sync::Arc;

use gameday::engine::Options;
use gameday::event::Event;
use gameday::lab::Lab;
use gameday::scenario::{Scenario, parse_host};
use gameday::target::ssh::SshOptions;
use gameday::target::{self, OpenOptions};
use gameday::{journal, session};

const SCENARIO: &str = r#"title: select on the lab
hypothesis: only the chosen hosts are touched
max_duration: 1m
blast_radius: { max_hosts: 2 }
targets:
  shops: { hosts: [shop-1, shop-2, shop-3, shop-4] }
steps:
  - name: Two of them
    duration: 1s
    faults:
      - { kind: command, id: mark, target: shops, inject: "touch injected", rollback: "mv injected was-injected", verify: "test ! -e injected", select: { count: 2, exclude: [shop-1] }, seed: 9 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_chosen_lab_hosts_are_touched_over_ssh() {
    let dir = tempfile::tempdir().unwrap();
    let lab = Lab::start(dir.path(), 4).await.unwrap();
    let mut scenario = Scenario::parse(&dir.path().join("s.yaml"), SCENARIO).unwrap();
    lab.localize(&mut scenario);
    let open = OpenOptions {
        ssh: SshOptions {
            known_hosts: lab.known_hosts.clone(),
            ..SshOptions::default()
        },
        ..OpenOptions::default()
    };
    let hosts = target::open(&scenario, &open).await.unwrap();
    let path = dir.path().join("journal.jsonl");
    let running = session::start_on(
        Arc::new(scenario),
        hosts,
        Some(path.clone()),
        Options::default(),
    )
    .unwrap();
    let outcome = running.engine.await.unwrap().unwrap();
    assert_eq!(outcome.exit_code, 0, "{}", outcome.reason);
    let events = journal::read(&path).unwrap().events;
    let chosen: Vec<String> = events
        .iter()
        .find_map(|e| match &e.event {
            Event::HostsSelected { chosen, .. } => Some(chosen.clone()),
            _ => None,
        })
        .expect("hosts_selected journaled");
    assert_eq!(chosen.len(), 2);
    // Each lab host's sandbox shows whether the inject and the undo ran there.
    for h in &lab.hosts {
        let addr = parse_host(&format!("127.0.0.1:{}", h.ssh.port))
            .unwrap()
            .to_string();
        let was = h.sandbox.join("was-injected").exists();
        assert!(
            !h.sandbox.join("injected").exists(),
            "{}: rolled back",
            h.name
        );
        assert_eq!(
            was,
            chosen.contains(&addr),
            "{} ({addr}): injected {was}, chosen {chosen:?}",
            h.name
        );
        if h.name == "shop-1" {
            assert!(!was, "shop-1 is excluded");
        }
    }
}
