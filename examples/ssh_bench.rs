//! Measures the SSH path on loopback against real OpenSSH sshd processes (not a test):
//!
//! ```text
//! cargo run --release --example ssh_bench            # N = 50
//! cargo run --release --example ssh_bench -- 1 10    # chosen N
//! ```
//!
//! Reports (1) connect + authenticate time per host, cold, one at a time and N at once, and
//! (2) for N fault targets on warm connections, halt → last verified rollback as the engine
//! journals it (`rollback_finished.since_halt_ms`; each rollback is undo + verify + lease cancel),
//! side by side, in the same rounds, with (3) the OpenSSH anchor: one ControlMaster per host
//! (`ssh -o ControlMaster=yes -o ControlPersist=…`, warmed first), then `xargs -P N` running the
//! same three commands per host (undo, verify, lease cancel, each wrapped in `timeout` as gameday
//! wraps them) as three `ssh` multiplexed clients, and one command (`true`) per host.
//! Needs /usr/sbin/sshd and /usr/bin/ssh; each target is its own loopback address (127.0.0.1..N).
//!
//! Measured 2026-11-23 (before the control channel) on the 2-core dev machine shared with three
//! other builds (load 2–4.5), OpenSSH 9.2p1, release build, medians of 5 rounds:
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
//!
//! 2026-12-02, same machine (load 5–10), N = 50, one run: halt → all verified, gameday on control
//! shells 404 ms, on exec channels 518 ms, ControlMaster 3 commands/host 911 ms, 1 command/host
//! 255 ms. Current figures: README, Benchmarks.

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

/// Sets `$s` to the first three fields of `$SSH_CONNECTION` (the server address last), with
/// builtins. Until 2026-12-02 the bench took it with `$(echo $SSH_CONNECTION | cut -d' ' -f3)`: a
/// fork and an exec of `cut` per command on both sides, which on this one machine serving every
/// host was a third of what the fault itself cost and measured nothing of gameday or OpenSSH.
const BENCH_HOST: &str = "s=${SSH_CONNECTION% *};";
/// The fault's file per host (after [`BENCH_HOST`]).
const BENCH_FILE: &str = "/tmp/gameday-bench-${s##* }";

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
    let ns = if ns.is_empty() { vec![50] } else { ns };
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
        // Each host's file is its own (all hosts are this machine): keyed by the server address,
        // the third field of $SSH_CONNECTION, taken with builtins (see BENCH_FILE).
        let f = BENCH_FILE;
        let text = format!(
            "title: bench\nhypothesis: h\nmax_duration: 30m\ntargets:\n  fleet: {{ hosts: [{}], user: {}, identity: \"{}\" }}\n\
             steps:\n  - name: s\n    duration: 20m\n    faults:\n      - {{ kind: command, id: f, target: fleet, inject: \"{BENCH_HOST} touch {f}\", rollback: \"{BENCH_HOST} rm -f {f}\", verify: \"{BENCH_HOST} test ! -e {f}\" }}\n",
            hosts.join(", "),
            sshd.user,
            sshd.identity.display()
        );
        let scenario = Scenario::parse(&dir.path().join("bench.yaml"), &text).expect("scenario");
        let anchor = Anchor::start(&sshd, n, dir.path());
        // Per round, side by side: gameday on exec channels (as before the control shell),
        // gameday on control shells (the default), then the OpenSSH anchor.
        let (mut opens, mut exec_halts, mut halts) = (Vec::new(), Vec::new(), Vec::new());
        let (mut three, mut single) = (Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            let mut plain = opts.clone();
            plain.control_shell = false;
            let dir = dir.path().join(format!("n{n}-r{round}"));
            let (_, halt) = gameday_round(&scenario, &plain, &dir.join("exec"), n).await;
            exec_halts.push(halt);
            let (open, halt) = gameday_round(&scenario, &opts, &dir.join("shell"), n).await;
            opens.push(open);
            halts.push(halt);
            if let Some(a) = &anchor {
                three.push(a.run(&a.three));
                single.push(a.run(&a.single));
            }
        }
        let range = |v: &[f64]| {
            format!(
                "median {:.0} ms (min {:.0}, max {:.0})",
                median(v.to_vec()),
                v.iter().copied().fold(f64::MAX, f64::min),
                v.iter().copied().fold(0.0, f64::max)
            )
        };
        println!(
            "N={n:>3}: open (connect+auth+control shell, {n} hosts at once): {} = {:.1} ms/host",
            range(&opens),
            median(opens.clone()) / n as f64,
        );
        println!(
            "N={n:>3}: halt -> all verified, gameday, control shell:  {}",
            range(&halts)
        );
        println!(
            "N={n:>3}: halt -> all verified, gameday, exec channels:  {}",
            range(&exec_halts)
        );
        if anchor.is_some() {
            println!(
                "N={n:>3}: ControlMaster, xargs -P {n}, 3 commands/host:  {}",
                range(&three)
            );
            println!(
                "N={n:>3}: ControlMaster, xargs -P {n}, 1 command/host:   {}",
                range(&single)
            );
            println!(
                "N={n:>3}: ratios of medians ({ROUNDS} rounds, same run): gameday shell / ControlMaster-3 = {:.2}, / ControlMaster-1 = {:.2}; gameday exec / ControlMaster-3 = {:.2}",
                median(halts.clone()) / median(three.clone()),
                median(halts.clone()) / median(single.clone()),
                median(exec_halts.clone()) / median(three.clone()),
            );
        } else {
            println!("N={n:>3}: no /usr/bin/ssh: the OpenSSH anchor was not measured");
        }
    }
}

/// One gameday run on N hosts: open (ms), then halt once every inject is in, halt -> last
/// verified rollback as journaled (`rollback_finished.since_halt_ms`).
async fn gameday_round(
    scenario: &Scenario,
    opts: &SshOptions,
    dir: &std::path::Path,
    n: usize,
) -> (f64, f64) {
    let open = OpenOptions {
        ssh: opts.clone(),
        fanout: 64,
        ..OpenOptions::default()
    };
    let t = Instant::now();
    let map = target::open(scenario, &open).await.expect("open");
    let open_ms = t.elapsed().as_secs_f64() * 1e3;
    let session::Running {
        handle,
        mut events,
        engine: run,
        ..
    } = session::start_on(
        Arc::new(scenario.clone()),
        map,
        Some(dir.join("journal.jsonl")),
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
    (open_ms, since_halt.expect("no since_halt_ms") as f64)
}

/// The OpenSSH anchor: one ControlMaster per host, warm, driven by `xargs -P N`.
struct Anchor {
    hosts: std::path::PathBuf,
    /// Runs the three commands on the host named by `$1` (undo, verify, lease cancel).
    three: std::path::PathBuf,
    /// Runs `true` on the host named by `$1`.
    single: std::path::PathBuf,
    ssh: Vec<String>,
    n: usize,
}

impl Anchor {
    fn start(sshd: &support::Sshd, n: usize, dir: &std::path::Path) -> Option<Anchor> {
        if !std::path::Path::new("/usr/bin/ssh").exists() {
            return None;
        }
        let d = dir.join(format!("cm{n}"));
        std::fs::create_dir_all(&d).ok()?;
        let ssh: Vec<String> = [
            "ssh",
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "StrictHostKeyChecking=yes",
        ]
        .iter()
        .map(ToString::to_string)
        .chain([
            "-o".into(),
            format!("UserKnownHostsFile={}", sshd.known_hosts.display()),
            "-i".into(),
            sshd.identity.display().to_string(),
            "-p".into(),
            sshd.port.to_string(),
            "-l".into(),
            sshd.user.clone(),
            "-o".into(),
            format!("ControlPath={}/%h", d.display()),
        ])
        .collect();
        for i in 1..=n {
            let ok = std::process::Command::new(&ssh[0])
                .args(&ssh[1..])
                .args([
                    "-o",
                    "ControlMaster=yes",
                    "-o",
                    "ControlPersist=600",
                    "-f",
                    "-N",
                ])
                .arg(format!("127.0.0.{i}"))
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if !ok {
                eprintln!("ssh_bench: ControlMaster to 127.0.0.{i} failed; anchor skipped");
                return None;
            }
        }
        let f = BENCH_FILE;
        let t = Duration::from_secs(30);
        let lease = gameday::fault::lease::plan("gameday-bench-anchor", "true", t, t);
        let wrapped = |c: &str| gameday::target::ssh::wrap_command(c, t, false);
        let base: String = ssh
            .iter()
            .map(|a| shlex::try_quote(a).unwrap().into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        let line = |c: &str| format!("{base} \"$1\" {}\n", shlex::try_quote(&wrapped(c)).unwrap());
        let three = d.join("three.sh");
        std::fs::write(
            &three,
            format!(
                "{}{}{}",
                line(&format!("{BENCH_HOST} rm -f {f}")),
                line(&format!("{BENCH_HOST} test ! -e {f}")),
                line(&lease.cancel)
            ),
        )
        .ok()?;
        let single = d.join("single.sh");
        std::fs::write(&single, line("true")).ok()?;
        let hosts = d.join("hosts");
        let list: String = (1..=n).map(|i| format!("127.0.0.{i}\n")).collect();
        std::fs::write(&hosts, list).ok()?;
        let a = Anchor {
            hosts,
            three,
            single,
            ssh,
            n,
        };
        // Warm: every master has run a command before anything is timed.
        a.run(&a.single);
        a.run(&a.three);
        Some(a)
    }

    /// Wall time of `xargs -P N -n 1 sh SCRIPT` over every host, in ms.
    fn run(&self, script: &std::path::Path) -> f64 {
        let t = Instant::now();
        let ok = std::process::Command::new("xargs")
            .args(["-P", &self.n.to_string(), "-n", "1", "sh"])
            .arg(script)
            .stdin(std::fs::File::open(&self.hosts).expect("hosts file"))
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        let ms = t.elapsed().as_secs_f64() * 1e3;
        assert!(ok, "the ControlMaster anchor failed ({})", script.display());
        ms
    }
}

impl Drop for Anchor {
    fn drop(&mut self) {
        for i in 1..=self.n {
            let _ = std::process::Command::new(&self.ssh[0])
                .args(&self.ssh[1..])
                .args(["-O", "exit"])
                .arg(format!("127.0.0.{i}"))
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}
