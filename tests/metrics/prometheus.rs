//! Against a real Prometheus server (Debian package `prometheus`), started here on a loopback port
//! with its own config and data directory, scraping a tiny endpoint this test serves:
//! - a PromQL abort rule breaches when the endpoint's value crosses the threshold, clears when it
//!   goes back, and trips when it stays over for its window;
//! - the `scrape` source reads Prometheus' own /metrics page (real exposition text from the Go
//!   client: counters, gauges, histograms with labels).
//!
//! Needs `prometheus` on PATH (or `GAMEDAY_PROMETHEUS=/path/to/prometheus`). Set
//! `GAMEDAY_SKIP_PROMETHEUS=1` to skip on a machine without it; CI installs it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use crate::fake_server::{Behavior, FakeServer};
use gameday::engine::Options;
use gameday::event::{Event, Verdict};
use gameday::metric::prometheus::PrometheusProbe;
use gameday::metric::scrape::{self, ScrapeProbe};
use gameday::metric::{poll_once, web};
use gameday::scenario::Scenario;
use gameday::target::{Host, HostMap};
use tokio::process::{Child, Command};

struct Prometheus {
    url: String,
    _child: Child,
    dir: tempfile::TempDir,
}

impl Prometheus {
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }
}

fn binary() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("GAMEDAY_PROMETHEUS") {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("prometheus"))
            .find(|p| p.is_file())
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `f` every 100 ms until it gives `Some`, for at most `limit`.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    limit: Duration,
    mut f: impl FnMut() -> F,
) -> T {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(t) = f().await {
            return t;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn start_prometheus(bin: &Path, target: &str) -> Prometheus {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: demo\n    scrape_timeout: 900ms\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let child = Command::new(bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=warn")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("start prometheus");
    let prom = Prometheus {
        url: format!("http://127.0.0.1:{port}"),
        _child: child,
        dir,
    };
    let http = web::client().unwrap();
    let ready = format!("{}/-/ready", prom.url);
    let started = tokio::time::Instant::now();
    loop {
        let ok = http
            .get(&ready)
            .timeout(Duration::from_secs(1))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ok {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "prometheus not ready within 60s; its log:\n{}",
            prom.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    prom
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promql_rule_breaches_clears_and_trips_against_a_real_prometheus() {
    if std::env::var_os("GAMEDAY_SKIP_PROMETHEUS").is_some() {
        eprintln!("GAMEDAY_SKIP_PROMETHEUS is set: skipped");
        return;
    }
    let bin = binary().expect(
        "prometheus is not installed (apt-get install prometheus), or set GAMEDAY_SKIP_PROMETHEUS=1",
    );
    let app = FakeServer::start(Behavior::Gauge {
        name: "demo_error_ratio",
    })
    .await;
    app.set(0.0);
    let prom = start_prometheus(&bin, &app.addr.to_string()).await;

    // Wait for the first scrape to land, through the real probe.
    let probe = PrometheusProbe::new(
        web::client().unwrap(),
        &prom.url,
        "demo_error_ratio",
        None,
        None,
        Duration::from_secs(2),
        Duration::from_secs(1),
    )
    .unwrap();
    eventually(
        "first scrape visible in Prometheus",
        Duration::from_secs(30),
        || async { poll_once(&probe, Duration::from_secs(2)).await.ok() },
    )
    .await;

    let yaml = format!(
        r#"title: real prometheus
hypothesis: error ratio stays low
max_duration: 10m
prometheus: {{ url: '{url}' }}
targets:
  here: {{ local: true }}
metrics:
  errors: {{ prometheus: 'max(demo_error_ratio{{job="demo"}})', every: 1s, timeout: 2s }}
  up: {{ prometheus: 'up{{job="demo"}}', every: 1s, timeout: 2s }}
steady_state:
  - {{ metric: up, above: 0.5 }}
abort:
  - {{ metric: errors, above: 0.5, for: 4s }}
steps:
  - name: Fault
    duration: 5m
    faults:
      - {{ kind: command, id: f1, target: here, inject: "true", rollback: "true" }}
"#,
        url = prom.url
    );
    let scenario = Scenario::parse(Path::new("real-prometheus.yaml"), &yaml).unwrap();
    let mut hosts = HostMap::new();
    hosts.insert(
        "here".into(),
        vec![Arc::new(gameday::target::local::LocalHost::new()) as Arc<dyn Host>],
    );
    let dir = tempfile::tempdir().unwrap();
    let gameday::session::Running {
        handle: _handle,
        mut events,
        engine: run,
        ..
    } = gameday::session::start_on(
        Arc::new(scenario),
        hosts,
        Some(dir.path().join("journal.jsonl")),
        Options::default(),
    )
    .unwrap();

    let e = next(&mut events, Duration::from_secs(30)).await;
    assert!(matches!(e, Event::FaultInjected { ok: true, .. }), "{e:?}");

    app.set(0.9);
    let e = next(&mut events, Duration::from_secs(15)).await;
    let Event::RuleBreaching { value, left_ms, .. } = e else {
        panic!("expected breaching, got {e:?}")
    };
    assert_eq!((value, left_ms), (Some(0.9), 4000));

    app.set(0.1);
    let e = next(&mut events, Duration::from_secs(15)).await;
    let Event::RuleCleared { value, .. } = e else {
        panic!("expected cleared, got {e:?}")
    };
    assert_eq!(value, Some(0.1));

    app.set(0.75);
    let e = next(&mut events, Duration::from_secs(15)).await;
    assert!(
        matches!(e, Event::RuleBreaching { value: Some(v), .. } if v == 0.75),
        "{e:?}"
    );
    let e = next(&mut events, Duration::from_secs(15)).await;
    let Event::RuleTripped { breaching_ms, .. } = e else {
        panic!("expected tripped, got {e:?}")
    };
    assert!(breaching_ms >= 4000, "{breaching_ms}");
    let outcome = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(outcome.verdict, Verdict::Aborted, "{}", outcome.reason);

    scrape_reads_prometheus_own_metrics(&prom).await;
}

/// The next rule, fault-injected or verdict event, within `limit`.
async fn next(
    events: &mut tokio::sync::broadcast::Receiver<Arc<gameday::event::Envelope>>,
    limit: Duration,
) -> Event {
    tokio::time::timeout(limit, async {
        loop {
            let env = events.recv().await.expect("event stream open");
            match &env.event {
                Event::FaultInjected { .. }
                | Event::RuleBreaching { .. }
                | Event::RuleCleared { .. }
                | Event::RuleTripped { .. }
                | Event::Verdict { .. } => return env.event.clone(),
                _ => {}
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no rule event within {limit:?}"))
}

/// Prometheus' own /metrics is real Go-client exposition text with every metric type.
async fn scrape_reads_prometheus_own_metrics(prom: &Prometheus) {
    let http = web::client().unwrap();
    let page = http
        .get(format!("{}/metrics", prom.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let exp = scrape::parse(&page).expect("the whole real page parses");
    assert!(exp.lines.len() > 100, "{} lines", exp.lines.len());
    assert_eq!(
        exp.types
            .get("prometheus_http_requests_total")
            .map(String::as_str),
        Some("counter")
    );
    assert_eq!(
        exp.types
            .get("prometheus_http_request_duration_seconds")
            .map(String::as_str),
        Some("histogram")
    );

    let url = format!("{}/metrics", prom.url);
    let t = Duration::from_secs(2);
    let queries = ScrapeProbe::new(
        http.clone(),
        &url,
        r#"prometheus_http_requests_total{handler="/api/v1/query"}"#,
        false,
        None,
        t,
    )
    .unwrap();
    let n = poll_once(&queries, t).await.unwrap();
    assert!(n >= 5.0, "the run above sent queries: {n}");

    let p99 = ScrapeProbe::new(
        http.clone(),
        &url,
        r#"prometheus_http_request_duration_seconds{handler="/api/v1/query"}"#,
        false,
        Some(0.99),
        t,
    )
    .unwrap();
    let v = poll_once(&p99, t).await.unwrap();
    assert!(v > 0.0 && v <= 120.0, "p99 query latency {v}");

    let goroutines = ScrapeProbe::new(http, &url, "go_goroutines", false, None, t).unwrap();
    assert!(poll_once(&goroutines, t).await.unwrap() > 1.0);
}

/// A series whose target stops being scraped is no data within 2× the metric's `every`, not after
/// Prometheus' 5-minute lookback. The target stamps its samples (as federation and some exporters
/// do), so Prometheus writes no staleness marker when the scrapes stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_series_no_longer_scraped_is_no_data_within_two_polls() {
    if std::env::var_os("GAMEDAY_SKIP_PROMETHEUS").is_some() {
        eprintln!("GAMEDAY_SKIP_PROMETHEUS is set: skipped");
        return;
    }
    let bin = binary().expect(
        "prometheus is not installed (apt-get install prometheus), or set GAMEDAY_SKIP_PROMETHEUS=1",
    );
    let app = FakeServer::start(Behavior::StampedGauge {
        name: "demo_frozen",
    })
    .await;
    app.set(0.2);
    let prom = start_prometheus(&bin, &app.addr.to_string()).await;
    let yaml = format!(
        r#"title: stale series
hypothesis: a silent target is no data
max_duration: 10m
prometheus: {{ url: '{url}' }}
metrics:
  frozen: {{ prometheus: 'max(demo_frozen{{job="demo"}})', every: 1s, timeout: 2s }}
abort:
  - {{ metric: frozen, above: 0.5 }}
steps:
  - name: Wait
    duration: 1s
"#,
        url = prom.url
    );
    let scenario = Scenario::parse(Path::new("stale.yaml"), &yaml).unwrap();
    let probes = gameday::metric::probes(&scenario, &HostMap::new()).unwrap();
    let probe = probes["frozen"].clone();
    let t = Duration::from_secs(2);
    eventually("first scrape visible", Duration::from_secs(30), || async {
        poll_once(probe.as_ref(), t).await.ok()
    })
    .await;
    // While scrapes land every second, every poll is a reading: 2 s is enough.
    for _ in 0..6 {
        let r = poll_once(probe.as_ref(), t).await;
        assert_eq!(r, Ok(0.2), "a live series read as stale");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    app.behave(crate::fake_server::text(503, "gone"));
    let stopped = tokio::time::Instant::now();
    let reason = eventually(
        "stale series becomes no data",
        Duration::from_secs(4),
        || async { poll_once(probe.as_ref(), t).await.err() },
    )
    .await;
    let after = stopped.elapsed();
    eprintln!("no data {after:?} after the scrapes stopped: {reason}");
    assert!(reason.contains("2s"), "{reason}");
    assert!(after <= Duration::from_secs(4), "{after:?}");
    // And it stays no data.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(poll_once(probe.as_ref(), t).await.is_err());

    query_forms_run_on_a_real_prometheus(&prom).await;
}

/// Every form of query the staleness bound rewrites still parses and answers on a real server.
async fn query_forms_run_on_a_real_prometheus(prom: &Prometheus) {
    let yaml = |q: &str| {
        format!(
            "title: q\nhypothesis: h\nmax_duration: 1m\nmetrics:\n  m: {{ prometheus: '{q}', server: '{}', every: 1s, reduce: max }}\nsteps:\n  - {{ name: s, duration: 1s }}\n",
            prom.url
        )
    };
    let queries = [
        r#"up{job="demo"}"#,
        "scalar(up)",
        "sum by (job) (up)",
        "sum(up) by (job)",
        "max without (instance) (up)",
        "timestamp(up) > 0",
        "time() - timestamp(up)",
        "up offset 1s",
        "up @ end()",
        "max_over_time(up[1m:1s])",
        "rate(prometheus_http_requests_total[1m]) or vector(1)",
        "up * on(job) group_left() max by (job) (up)",
        "up > bool 0",
        r#"count_values("v", up)"#,
        r#"label_replace(up, "x", "$1", "job", "(.*)")"#,
        "absent(no_such_metric)",
        r#"{job="demo", __name__="up"}"#,
        "up and up unless no_such_metric",
        "-up + 2 # a comment",
    ];
    let t = Duration::from_secs(2);
    for q in queries {
        let scenario = Scenario::parse(Path::new("q.yaml"), &yaml(q)).unwrap();
        let probes = gameday::metric::probes(&scenario, &HostMap::new()).unwrap();
        let r = poll_once(probes["m"].as_ref(), t).await;
        assert!(r.is_ok(), "{q}: {r:?}");
    }
}
