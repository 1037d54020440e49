//! A fan-out fault on N in-process lab hosts, then a halt (not a test):
//!
//! ```text
//! cargo run --release --example lab_bench            # N = 1000
//! cargo run --release --example lab_bench -- 200     # chosen N
//! cargo build --release && cargo run --release --example lab_bench -- 1000 --lab target/release/gameday
//! ```
//!
//! `--exec-channels` runs without control shells (an exec channel per command), to compare.
//! With `--lab GAMEDAY`, the lab runs in its own process (`GAMEDAY lab --hosts N`) and this one
//! holds only the client: its peak RSS and memory per host are then the client's alone.
//!
//! Starts a lab of N hosts (`lab::Lab`: an in-process SSH server and a shop per host, on
//! 127.0.0.1), opens every host through the production path (`target::open`: TCP_NODELAY,
//! curve25519, strict known_hosts, key auth, then the control shell), runs one `command` fault on
//! all of them (the lab's latency knob, `faults/latency_ms`, turned with builtins; with its
//! dead-man lease), halts once every inject is in, and prints:
//! open time (connect + auth + control shell, N hosts, `--fanout` 64), halt → all verified
//! (`rollback_finished.since_halt_ms`), the process's peak RSS (VmHWM: client AND the lab's
//! servers, since both live in this process) and the memory per host that opening took (RSS
//! after open − before, ÷ N: client and server side of each connection together, so an upper
//! bound on the client's per-host state). The lab's `sh` processes (one control shell per host,
//! the lease watchers) are separate processes and not counted.

use std::sync::Arc;
use std::time::Instant;

use gameday::engine::{Command, Options};
use gameday::event::Event;
use gameday::lab::{self, Lab};
use gameday::scenario::Scenario;
use gameday::session;
use gameday::target::ssh::SshOptions;
use gameday::target::{self, OpenOptions};

/// A field of /proc/self/status in KiB (`VmRSS`, `VmHWM`).
fn status_kib(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(lab::MAX_LAB_HOSTS);
    assert!(
        (1..=lab::MAX_LAB_HOSTS).contains(&n),
        "N must be 1 to {}",
        lab::MAX_LAB_HOSTS
    );
    let limit = lab::raise_open_files(lab::open_files_needed(n)).expect("open files");
    let args: Vec<String> = std::env::args().collect();
    let separate = args
        .iter()
        .position(|a| a == "--lab")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let dir = tempfile::tempdir().unwrap();
    let t = Instant::now();
    // The lab's own latency knob, as `scenarios/demo-latency.yaml` turns it (its verify reads the
    // knob with `read` where the demo forks a `cat`): the fault's commands are the shell's
    // builtins, so the halt measures gameday (its bounded exchange, the lease cancel, the
    // transport) and not an `rm` per host. With `touch`/`rm` the halt also spends an exec per
    // host on the fault itself: about 0.8 ms of CPU each on this machine, 0.4 s for 1,000 hosts
    // on two cores.
    let fault = "{ kind: command, id: f, target: fleet, inject: \"echo 300 > faults/latency_ms\", rollback: \"echo 0 > faults/latency_ms\", verify: \"read v < faults/latency_ms && [ \\\"$v\\\" = 0 ]\" }";
    let (scenario, known_hosts, _lab, lab_child) = match &separate {
        None => {
            let lab = Lab::start(&dir.path().join("lab"), n).await.expect("lab");
            let hosts: Vec<String> = (1..=n).map(|i| format!("shop-{i}")).collect();
            let text = format!(
                "title: lab bench\nhypothesis: h\nmax_duration: 30m\ntargets:\n  fleet: {{ hosts: [{}], user: bench }}\nsteps:\n  - name: s\n    duration: 20m\n    faults:\n      - {fault}\n",
                hosts.join(", ")
            );
            let mut scenario =
                Scenario::parse(&dir.path().join("bench.yaml"), &text).expect("scenario");
            lab.localize(&mut scenario);
            let known = lab.known_hosts.clone();
            (scenario, known, Some(lab), None)
        }
        Some(bin) => {
            let (child, known, key, ports) = separate_lab(bin, n);
            let hosts: Vec<String> = ports.iter().map(|p| format!("\"127.0.0.1:{p}\"")).collect();
            let text = format!(
                "title: lab bench\nhypothesis: h\nmax_duration: 30m\ntargets:\n  fleet: {{ hosts: [{}], user: bench, identity: \"{key}\" }}\nsteps:\n  - name: s\n    duration: 20m\n    faults:\n      - {fault}\n",
                hosts.join(", ")
            );
            let scenario =
                Scenario::parse(&dir.path().join("bench.yaml"), &text).expect("scenario");
            (scenario, known.into(), None, Some(LabProcess(child)))
        }
    };
    println!(
        "lab: {n} hosts started in {:.0} ms ({}; open-files limit {limit})",
        t.elapsed().as_secs_f64() * 1e3,
        if separate.is_some() {
            "its own process: the figures below are the client's alone"
        } else {
            "in this process"
        }
    );
    let open = OpenOptions {
        ssh: SshOptions {
            known_hosts,
            // `--exec-channels`: no control shell (an exec channel per command), to compare.
            control_shell: !args.iter().any(|a| a == "--exec-channels"),
            ..SshOptions::default()
        },
        fanout: 64,
        ..OpenOptions::default()
    };
    let before = status_kib("VmRSS");
    let t = Instant::now();
    let map = target::open(&scenario, &open).await.expect("open");
    let open_ms = t.elapsed().as_secs_f64() * 1e3;
    let after = status_kib("VmRSS");
    // What the allocator keeps of the handshakes' transient buffers is not per-host state: give
    // it back (glibc), then measure what the open hosts hold.
    // SAFETY: malloc_trim only releases free memory of the allocator.
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::malloc_trim(0);
    }
    let trimmed = status_kib("VmRSS");
    let running = session::start_on(
        Arc::new(scenario),
        map,
        Some(dir.path().join("run/journal.jsonl")),
        Options::default(),
    )
    .expect("start");
    let mut events = running.events;
    let (mut injected, mut since_halt, mut verified) = (0, None, false);
    let mut halted_by = None;
    let t = Instant::now();
    let mut inject_ms = 0.0;
    let lab_pid = lab_child.as_ref().map(|c| c.0.id());
    // CPU used during the halt: (this process, the lab's server process) at the halt.
    let mut cpu_at_halt = None;
    let mut halt_cpu = None;
    while let Ok(env) = events.recv().await {
        match &env.event {
            Event::FaultInjected { ok, .. } => {
                assert!(ok, "inject failed: {env:?}");
                injected += 1;
                if injected == n {
                    inject_ms = t.elapsed().as_secs_f64() * 1e3;
                    cpu_at_halt = Some((cpu_ms(None), cpu_ms(lab_pid)));
                    let _ = running
                        .handle
                        .commands
                        .send(Command::Halt {
                            by: "bench".into(),
                            reason: "measure".into(),
                        })
                        .await;
                }
            }
            Event::HaltRequested { by, reason } => {
                halted_by = Some(format!("{by}: {reason}"));
            }
            Event::RollbackFinished {
                all_verified,
                since_halt_ms,
                ..
            } => {
                verified = *all_verified;
                since_halt = *since_halt_ms;
                if let Some((client, lab)) = cpu_at_halt {
                    halt_cpu = Some((
                        cpu_ms(None).saturating_sub(client),
                        cpu_ms(lab_pid).saturating_sub(lab),
                    ));
                }
            }
            Event::RunEnded => break,
            _ => {}
        }
    }
    let _ = running.engine.await;
    assert!(verified, "not every rollback was verified");
    let halted_by = halted_by.unwrap_or_default();
    if injected < n || halted_by != "bench: measure" {
        println!(
            "N={n}: NOTE: halted by `{halted_by}` with {injected}/{n} injects in: the figures below include injects still in flight"
        );
    }
    println!("N={n}: open (connect+auth+control shell, fanout 64): {open_ms:.0} ms");
    println!(
        "N={n}: from the step's start to every inject in (lease armed first): {inject_ms:.0} ms"
    );
    println!(
        "N={n}: halt -> all verified: {} ms",
        since_halt.expect("no since_halt_ms")
    );
    if let Some((client, lab)) = halt_cpu {
        let wall = since_halt.unwrap_or_default();
        let cores = std::thread::available_parallelism().map_or(1, |c| c.get()) as u64;
        println!(
            "N={n}: CPU during the halt: this process (the client{}) {client} ms ({:.2} ms a host), {}of {} ms on {cores} cores: the rest is the hosts' processes (sh, timeout, the lease watchers)",
            if lab_pid.is_some() {
                ""
            } else {
                " and the lab's servers"
            },
            client as f64 / n as f64,
            if lab_pid.is_some() {
                format!("the lab's SSH servers {lab} ms, ")
            } else {
                String::new()
            },
            wall.saturating_mul(cores),
        );
    }
    println!(
        "N={n}: peak RSS of this process (the client; and the lab's servers unless --lab): {:.1} MiB",
        status_kib("VmHWM") as f64 / 1024.0
    );
    println!(
        "N={n}: memory per opened host (RSS after open - before, / N; with the server side unless --lab): {:.1} KiB",
        after.saturating_sub(before) as f64 / n as f64
    );
    println!(
        "N={n}: memory per opened host once the allocator gave back what it held free (malloc_trim): {:.1} KiB",
        trimmed.saturating_sub(before) as f64 / n as f64
    );
}

/// CPU time (user + system) in ms of this process (`None`) or of process `pid` (its threads,
/// not its children): fields 14 and 15 of `/proc/PID/stat`, in clock ticks.
fn cpu_ms(pid: Option<u32>) -> u64 {
    let path = pid.map_or("/proc/self/stat".to_string(), |p| format!("/proc/{p}/stat"));
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let fields: Vec<u64> = text
        .rsplit(')')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // SAFETY: sysconf has no preconditions.
    let hz = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) })
        .unwrap_or(100)
        .max(1);
    // After the pid and the name: state is field 3, utime 14 and stime 15 (indices 11, 12 here).
    let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    ticks.saturating_mul(1000) / hz
}

/// The lab in its own process, stopped (SIGTERM: it removes its directory) when dropped.
struct LabProcess(std::process::Child);

impl Drop for LabProcess {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.0.id() as i32, libc::SIGTERM);
        }
        let _ = self.0.wait();
    }
}

/// Starts `GAMEDAY lab --hosts N` and reads what it prints: known_hosts, client key, SSH ports.
fn separate_lab(bin: &str, n: usize) -> (std::process::Child, String, String, Vec<u16>) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(bin)
        .args(["lab", "--hosts", &n.to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the lab");
    let out = child.stdout.take().expect("lab stdout");
    let (mut known, mut key, mut ports) = (String::new(), String::new(), Vec::new());
    let mut lines = std::io::BufReader::new(out).lines();
    for line in lines.by_ref() {
        let line = line.expect("lab output");
        let l = line.trim();
        if let Some(k) = l.strip_prefix("known_hosts:") {
            known = k.trim().to_string();
        } else if let Some(k) = l.strip_prefix("client key:") {
            key = k.trim().to_string();
        } else if l.starts_with("shop-")
            && let Some(p) = l.split("ssh 127.0.0.1:").nth(1)
        {
            ports.push(p.split(' ').next().unwrap_or("").parse().expect("port"));
        }
        if ports.len() == n {
            break;
        }
    }
    // The rest of what it prints is drained, so the lab never writes to a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, known, key, ports)
}
