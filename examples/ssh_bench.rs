//! Measures the SSH path on loopback against real OpenSSH sshd processes (not a test):
//!
//! ```text
//! cargo run --release --example ssh_bench            # N = 1, 10, 50
//! cargo run --release --example ssh_bench -- 1 10    # chosen N
//! ```
//!
//! Reports (1) connect + authenticate time per host, cold, one at a time and N at once, and
//! (2) for N fault targets on warm connections, halt → last verified rollback as the engine
//! journals it (`rollback_finished.since_halt_ms`; each rollback is undo + verify + lease cancel).
//! Needs /usr/sbin/sshd; each target is its own loopback address (127.0.0.1..N).
//!
//! Measured 2026-11-23 on the 2-core dev machine shared with three other builds (load 2–4.5),
//! OpenSSH 9.2p1, release build, medians of 5 rounds:
//!
//! | | N=1 | N=10 | N=50 |
//! |---|---|---|---|
//! | open: connect+auth, all hosts at once | 30 ms | 95–114 ms (~10 ms/host) | 483–519 ms (~10 ms/host) |
//! | halt → last verified rollback (undo + verify) | 19–20 ms | 103–118 ms | 529–542 ms |
//!
//! One host cold, one at a time: 31–48 ms connect+auth (TCP_NODELAY + curve25519; stock `ssh`
//! here is ~200 ms). A warm channel running `true` under `timeout`: 4.5–6.5 ms. Both halt and
//! open scale linearly at ~10 ms/host: the two cores are saturated by sshd forking a session
//! shell, `timeout` and `sh` per command, not by waiting.

#[path = "../tests/ssh/sshd_support.rs"]
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use gameday::engine::{Command, Options};
use gameday::event::Event;
use gameday::scenario::{Scenario, parse_host};
use gameday::session;
use gameday::target::ssh::{SshHost, SshOptions, SshTarget};
use gameday::target::{self, OpenOptions};

const ROUNDS: usize = 5;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let ns: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let ns = if ns.is_empty() { vec![1, 10, 50] } else { ns };
    let max = ns.iter().copied().max().unwrap_or(1);
    let Some(sshd) = support::Sshd::start_many(max) else {
        eprintln!("ssh_bench: /usr/sbin/sshd is not installed");
        std::process::exit(2);
    };
    let opts = SshOptions {
        known_hosts: sshd.known_hosts.clone(),
        ..SshOptions::default()
    };

    // 1. Cold connect + auth, one host at a time.
    let one = SshTarget {
        addr: parse_host(&format!("127.0.0.1:{}", sshd.port)).unwrap(),
        user: sshd.user.clone(),
        sudo: false,
        identity: Some(sshd.identity.clone()),
        route: None,
    };
    let mut cold = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let h = SshHost::connect(&one, &opts).await.expect("connect");
        cold.push(t.elapsed().as_secs_f64() * 1e3);
        drop(h);
    }
    println!(
        "connect+auth, one host, cold: median {:.1} ms, min {:.1} ms (10 runs)",
        median(cold.clone()),
        cold.iter().copied().fold(f64::MAX, f64::min)
    );
    // Warm command on that connection, for reference.
    let h = SshHost::connect(&one, &opts).await.expect("connect");
    let mut warm = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let o = gameday::target::Host::exec(&h, "true", Duration::from_secs(5)).await;
        assert!(o.success());
        warm.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "warm channel + `true` (wrapped in timeout): median {:.2} ms",
        median(warm)
    );
    drop(h);

    let dir = tempfile::tempdir().unwrap();
    for &n in &ns {
        let hosts: Vec<String> = (1..=n)
            .map(|i| format!("\"127.0.0.{i}:{}\"", sshd.port))
            .collect();
        // Each host's file is its own (all hosts are this machine): keyed by the server address.
        let f = "/tmp/gameday-bench-$(echo $SSH_CONNECTION | cut -d' ' -f3)";
        let text = format!(
            "title: bench\nhypothesis: h\nmax_duration: 30m\ntargets:\n  fleet: {{ hosts: [{}], user: {}, identity: \"{}\" }}\n\
             steps:\n  - name: s\n    duration: 20m\n    faults:\n      - {{ kind: command, id: f, target: fleet, inject: \"touch {f}\", rollback: \"rm -f {f}\", verify: \"test ! -e {f}\" }}\n",
            hosts.join(", "),
            sshd.user,
            sshd.identity.display()
        );
        let scenario = Scenario::parse(&dir.path().join("bench.yaml"), &text).expect("scenario");
        let (mut opens, mut halts) = (Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            let open = OpenOptions {
                ssh: opts.clone(),
                fanout: 64,
                ..OpenOptions::default()
            };
            let t = Instant::now();
            let map = target::open(&scenario, &open).await.expect("open");
            opens.push(t.elapsed().as_secs_f64() * 1e3);
            let path = dir.path().join(format!("n{n}-r{round}/journal.jsonl"));
            let session::Running {
                handle,
                mut events,
                engine: run,
                ..
            } = session::start_on(
                Arc::new(scenario.clone()),
                map,
                Some(path),
                Options::default(),
            )
            .expect("start");
            let mut injected = 0;
            let mut since_halt = None;
            while let Ok(env) = events.recv().await {
                match &env.event {
                    Event::FaultInjected { ok, .. } => {
                        assert!(ok, "inject failed: {env:?}");
                        injected += 1;
                        if injected == n {
                            let _ = handle
                                .commands
                                .send(Command::Halt {
                                    by: "bench".into(),
                                    reason: "measure".into(),
                                })
                                .await;
                        }
                    }
                    Event::RollbackFinished {
                        all_verified,
                        since_halt_ms,
                        ..
                    } => {
                        assert!(all_verified, "not all verified");
                        since_halt = *since_halt_ms;
                    }
                    Event::RunEnded => break,
                    _ => {}
                }
            }
            let _ = run.await;
            halts.push(since_halt.expect("no since_halt_ms") as f64);
        }
        println!(
            "N={n:>3}: open (connect+auth, {n} hosts at once): median {:.0} ms = {:.1} ms/host; halt -> last verified rollback: median {:.0} ms (min {:.0}, max {:.0}; {ROUNDS} rounds)",
            median(opens.clone()),
            median(opens) / n as f64,
            median(halts.clone()),
            halts.iter().copied().fold(f64::MAX, f64::min),
            halts.iter().copied().fold(0.0, f64::max),
        );
    }
}
