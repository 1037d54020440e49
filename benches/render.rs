//! One frame of the Run screen with 12 metric panels × 4 h of 1 s samples (172,800 samples folded
//! into the App first). Criterion measures the mean; the extra loop prints p50 / p99 per frame.
//!
//! cargo bench --bench render      (idle CPU of the console: benches/idle_cpu.sh)
//!
//! Measured on the shared 2-core dev box (other builds running, bench at nice -15), 160×48:
//! p50 0.37 ms, p99 0.58 ms; 240×64: p50 0.57 ms, p99 1.05 ms. Without ratatui's `layout-cache`
//! feature the constraint solver took ~45 % of a frame (p50 1.2 ms).

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use gameday::event::{CommandOutcome, Envelope, Event, Phase};
use gameday::scenario::Scenario;
use gameday::tui::{Action, App, ui};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const METRICS: usize = 12;
const SECONDS: i64 = 4 * 3600;

fn scenario() -> Scenario {
    let mut y = String::from(
        "title: Twelve panels\nhypothesis: Holds.\nmax_duration: 5h\ntargets:\n  web: { local: true }\nmetrics:\n",
    );
    for i in 0..METRICS {
        y.push_str(&format!(
            "  m{i:02}: {{ command: \"echo 1\", target: web, every: 1s, timeout: 2s, unit: ms }}\n"
        ));
    }
    y.push_str("abort:\n");
    for i in 0..METRICS {
        y.push_str(&format!(
            "  - {{ metric: m{i:02}, above: 900, for: 30s }}\n"
        ));
    }
    y.push_str(
        "steps:\n  - name: Long soak\n    duration: 4h\n    faults:\n      - { kind: command, id: soak, target: web, inject: \"true\", rollback: \"true\" }\n",
    );
    Scenario::parse(Path::new("bench.yaml"), &y).expect("bench scenario is valid")
}

fn app() -> App {
    let t0 = Utc
        .with_ymd_and_hms(2026, 11, 23, 16, 0, 0)
        .single()
        .expect("time");
    let at = |ms: i64| t0 + chrono::Duration::milliseconds(ms);
    let mut seq = 0;
    let mut env = |ms: i64, event: Event| {
        seq += 1;
        Envelope {
            seq,
            ts: at(ms),
            run: "bench".into(),
            event,
        }
    };
    let s = scenario();
    let mut app = App::replay(vec![env(
        0,
        Event::RunStarted {
            scenario: Box::new(s),
            gameday_version: "bench".into(),
            dry_run: None,
        },
    )]);
    app.replay = None;
    app.started = true;
    let mut feed = |e: Envelope| app.apply(&e);
    feed(env(
        1,
        Event::PhaseStarted {
            phase: Phase::Steps,
        },
    ));
    feed(env(
        2,
        Event::StepStarted {
            index: 0,
            name: "Long soak".into(),
            duration_ms: 4 * 3_600_000,
            prompt: None,
        },
    ));
    feed(env(
        600_000,
        Event::FaultInjected {
            fault: "soak".into(),
            host: "local".into(),
            ok: true,
            outcome: CommandOutcome {
                exit: Some(0),
                ..Default::default()
            },
        },
    ));
    for sec in 0..SECONDS {
        for m in 0..METRICS {
            let v = 100.0 + ((sec as f64 / 60.0) + m as f64).sin() * 50.0 + (sec % 13) as f64;
            feed(env(
                sec * 1000 + m as i64,
                Event::Sample {
                    metric: format!("m{m:02}"),
                    value: Some(v),
                    error: None,
                },
            ));
        }
    }
    app.update(Action::Tick(at(SECONDS * 1000)));
    app
}

fn bench(c: &mut Criterion) {
    let app = app();
    for (w, h) in [(160u16, 48u16), (240, 64)] {
        let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("terminal");
        c.bench_function(&format!("run frame {w}x{h}, 12 panels x 4 h"), |b| {
            b.iter(|| {
                terminal
                    .draw(|f| ui::render(f, &app))
                    .map(|_| ())
                    .expect("draw")
            })
        });
        let mut times: Vec<Duration> = (0..2_000)
            .map(|_| {
                let t = Instant::now();
                terminal
                    .draw(|f| ui::render(f, &app))
                    .map(|_| ())
                    .expect("draw");
                t.elapsed()
            })
            .collect();
        times.sort();
        let p = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
        println!(
            "run frame {w}x{h}: p50 {:?}  p99 {:?}  max {:?}",
            p(0.50),
            p(0.99),
            times[times.len() - 1]
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
