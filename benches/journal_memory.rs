//! Peak memory and time of `gameday report` on a long journal: by default 4 h of 53 metrics
//! sampled every second (about 763k records, ~90 MB), written by the real `JournalWriter`.
//!
//! cargo bench --bench journal_memory -- [--metrics N] [--hours H] [--keep PATH]
//!                                        [--bin PATH] [--old-bin PATH] [--runs N]
//!
//! `--keep PATH` keeps the journal there (and reuses it if it exists); `--old-bin` runs an older
//! binary on the same journal and prints the ratios. Peak RSS is the child's `ru_maxrss` from
//! `wait4`; CPU is its user + system time. The journal's sha256 is checked after every run: a
//! reader must never change it. Replay's memory: `benches/replay_rss.sh BIN JOURNAL`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, TimeZone, Utc};
use gameday::event::{CommandOutcome, Event, MilestoneKind, Phase, RollbackStatus, Verdict};
use gameday::journal::JournalWriter;
use gameday::scenario::Scenario;
use sha2::{Digest, Sha256};

struct Args {
    metrics: usize,
    hours: f64,
    keep: Option<PathBuf>,
    bin: PathBuf,
    old_bin: Option<PathBuf>,
    runs: usize,
}

fn args() -> Args {
    let mut a = Args {
        metrics: 53,
        hours: 4.0,
        keep: None,
        bin: PathBuf::from(env!("CARGO_BIN_EXE_gameday")),
        old_bin: None,
        runs: 3,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--metrics" => a.metrics = value().parse().expect("--metrics N"),
            "--hours" => a.hours = value().parse().expect("--hours H"),
            "--keep" => a.keep = Some(PathBuf::from(value())),
            "--bin" => a.bin = PathBuf::from(value()),
            "--old-bin" => a.old_bin = Some(PathBuf::from(value())),
            "--runs" => a.runs = value().parse().expect("--runs N"),
            // What cargo passes to every bench.
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

fn scenario(metrics: usize, hours: f64) -> Scenario {
    let mut y = format!(
        "title: Long soak\nhypothesis: Holds.\nmax_duration: {}m\ntargets:\n  web: {{ local: true }}\nmetrics:\n",
        (hours * 60.0).ceil() as u64 + 10
    );
    for i in 0..metrics {
        y.push_str(&format!(
            "  svc{i:02}_p99: {{ command: \"echo 1\", target: web, every: 1s, timeout: 2s, unit: ms }}\n"
        ));
    }
    y.push_str("abort:\n  - { metric: svc00_p99, above: 900, for: 30s }\n");
    y.push_str(&format!(
        "steps:\n  - name: Soak\n    duration: {}m\n    faults:\n      - {{ kind: command, id: soak, target: web, inject: \"true\", rollback: \"true\" }}\n",
        (hours * 60.0).ceil() as u64
    ));
    Scenario::parse(Path::new("soak.yaml"), &y).expect("bench scenario is valid")
}

/// Writes the journal through the real writer: a whole run, samples of every metric every second.
fn generate(path: &Path, metrics: usize, hours: f64) -> u64 {
    let t0 = Utc
        .with_ymd_and_hms(2026, 11, 23, 8, 0, 0)
        .single()
        .expect("time");
    let at = |ms: i64| t0 + TimeDelta::milliseconds(ms);
    let secs = (hours * 3600.0) as i64;
    let mut w = JournalWriter::create(path, "bench-run").expect("create the journal");
    let mut put = |ms: i64, e: Event| {
        w.append(at(ms), e).expect("append");
    };
    put(
        0,
        Event::RunStarted {
            scenario: Box::new(scenario(metrics, hours)),
            gameday_version: "bench".into(),
            dry_run: None,
        },
    );
    put(
        1,
        Event::PhaseStarted {
            phase: Phase::Steps,
        },
    );
    put(
        2,
        Event::StepStarted {
            index: 0,
            name: "Soak".into(),
            duration_ms: secs as u64 * 1000,
            prompt: None,
        },
    );
    let fault_at = 600;
    let mitigated_at = secs * 3 / 4;
    let mut rng: u64 = 0x9e37_79b9_7f4a_7c15;
    for sec in 0..secs {
        if sec == fault_at {
            put(
                sec * 1000,
                Event::FaultIntent {
                    fault: "soak".into(),
                    kind: "command".into(),
                    step: 0,
                    target: "web".into(),
                    host: "local".into(),
                    inject: "true".into(),
                    undo: Some("true".into()),
                    verify: None,
                    irreversible: false,
                    timeout_ms: 30_000,
                },
            );
            put(
                sec * 1000 + 5,
                Event::FaultInjected {
                    fault: "soak".into(),
                    host: "local".into(),
                    ok: true,
                    outcome: CommandOutcome {
                        exit: Some(0),
                        ..Default::default()
                    },
                },
            );
        }
        if sec == mitigated_at {
            put(
                sec * 1000,
                Event::Milestone {
                    kind: MilestoneKind::Detected,
                    role: "IC".into(),
                },
            );
        }
        for m in 0..metrics {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let (value, error) = if rng.is_multiple_of(997) {
                (None, Some("command timed out after 2s".to_string()))
            } else {
                let base = 100.0 + ((sec as f64 / 60.0) + m as f64).sin() * 50.0;
                (Some(base + (rng % 1000) as f64 / 100.0), None)
            };
            put(
                sec * 1000 + 10 + m as i64,
                Event::Sample {
                    metric: format!("svc{m:02}_p99"),
                    value,
                    error,
                },
            );
        }
    }
    let end = secs * 1000;
    put(
        end,
        Event::RollbackStarted {
            fault: "soak".into(),
            host: "local".into(),
        },
    );
    put(
        end + 5,
        Event::RollbackResult {
            fault: "soak".into(),
            host: "local".into(),
            status: RollbackStatus::Verified,
            how: "undo exit 0".into(),
            attempts: 1,
            undo: CommandOutcome {
                exit: Some(0),
                ..Default::default()
            },
            verify: None,
            manual: None,
        },
    );
    put(
        end + 10,
        Event::Verdict {
            verdict: Verdict::Held,
            exit_code: 0,
            reason: "held".into(),
        },
    );
    put(end + 11, Event::RunEnded);
    drop(w);
    std::fs::metadata(path).expect("journal").len()
}

fn sha256(path: &Path) -> String {
    use std::io::Read;
    let mut f = std::fs::File::open(path).expect("open journal");
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).expect("hash journal");
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

struct Measured {
    wall: Duration,
    cpu: Duration,
    max_rss_kib: i64,
}

/// Runs `bin report JOURNAL -o OUT/debrief.md` and measures that child alone (wait4).
fn report(bin: &Path, journal: &Path, out: &Path) -> Measured {
    let start = Instant::now();
    // Reaped by wait4 below, which also gives this child's own resource usage.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(bin)
        .arg("report")
        .arg(journal)
        .arg("-o")
        .arg(out.join("debrief.md"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start gameday");
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child, with valid pointers to locals.
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    assert_eq!(pid, child.id() as libc::pid_t, "wait4 failed");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{} report failed: status {status}",
        bin.display()
    );
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    Measured {
        wall,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        max_rss_kib: usage.ru_maxrss,
    }
}

/// The best of `runs` (least wall time; RSS is the highest seen).
fn measure(bin: &Path, journal: &Path, runs: usize, hash: &str) -> Measured {
    let out = tempfile::tempdir().expect("tempdir");
    let mut best: Option<Measured> = None;
    let mut rss = 0;
    for _ in 0..runs.max(1) {
        let m = report(bin, journal, out.path());
        assert_eq!(sha256(journal), hash, "report changed the journal");
        rss = rss.max(m.max_rss_kib);
        if best.as_ref().is_none_or(|b| m.wall < b.wall) {
            best = Some(m);
        }
    }
    let mut best = best.expect("one run");
    best.max_rss_kib = rss;
    best
}

fn show(label: &str, m: &Measured) {
    println!(
        "{label:<8} peak RSS {:>7.1} MiB   wall {:>7.3} s   CPU {:>7.3} s",
        m.max_rss_kib as f64 / 1024.0,
        m.wall.as_secs_f64(),
        m.cpu.as_secs_f64()
    );
}

/// What the reader's sample fast path saves, in this process: every line parsed as a whole
/// `Envelope` (what the reader did before) against `Reader::next_record`.
fn parse_only(journal: &Path) {
    use std::io::BufRead;
    let t = Instant::now();
    let mut n = 0usize;
    let f = std::io::BufReader::with_capacity(1 << 16, std::fs::File::open(journal).unwrap());
    for line in f.split(b'\n') {
        let line = line.unwrap();
        if serde_json::from_slice::<gameday::event::Envelope>(&line).is_ok() {
            n += 1;
        }
    }
    let full = t.elapsed();
    let t = Instant::now();
    let mut reader = gameday::journal::Reader::open(journal).unwrap();
    let mut m = 0usize;
    while let Some(r) = reader.next_record() {
        r.unwrap();
        m += 1;
    }
    let fast = t.elapsed();
    println!(
        "parse only: {n} lines as Envelope {:.3} s; Reader::next_record {m} records {:.3} s (×{:.1})",
        full.as_secs_f64(),
        fast.as_secs_f64(),
        full.as_secs_f64() / fast.as_secs_f64().max(1e-9)
    );
}

fn main() {
    let a = args();
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = a
        .keep
        .clone()
        .unwrap_or_else(|| dir.path().join("journal.jsonl"));
    let bytes = if journal.exists() {
        println!("reusing {}", journal.display());
        std::fs::metadata(&journal).expect("journal").len()
    } else {
        let t = Instant::now();
        let bytes = generate(&journal, a.metrics, a.hours);
        println!(
            "generated {} ({} metrics × {} h) in {:.1} s",
            journal.display(),
            a.metrics,
            a.hours,
            t.elapsed().as_secs_f64()
        );
        bytes
    };
    let lines = std::io::BufRead::lines(std::io::BufReader::new(
        std::fs::File::open(&journal).expect("journal"),
    ))
    .count();
    println!(
        "journal: {lines} records, {:.1} MB",
        bytes as f64 / 1_000_000.0
    );
    let hash = sha256(&journal);
    parse_only(&journal);
    let new = measure(&a.bin, &journal, a.runs, &hash);
    show("report", &new);
    if let Some(old_bin) = &a.old_bin {
        let old = measure(old_bin, &journal, a.runs, &hash);
        show("old", &old);
        println!(
            "old/new  peak RSS ×{:.1}   wall ×{:.1}   CPU ×{:.1}",
            old.max_rss_kib as f64 / new.max_rss_kib.max(1) as f64,
            old.wall.as_secs_f64() / new.wall.as_secs_f64().max(1e-9),
            old.cpu.as_secs_f64() / new.cpu.as_secs_f64().max(1e-9)
        );
    }
    println!("journal sha256 unchanged: {hash}");
}
