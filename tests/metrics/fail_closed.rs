//! Fail-closed, end to end through the engine: a metric server that starts healthy and then
//! returns 503, `status: error`, an empty vector, NaN, a body that never ends, or hangs. Each
//! becomes "no data" with its reason, and an abort rule with `no_data: breach` trips after its
//! window. A hung source does not delay a Halt.
//!
//! These runs use real sockets, so they use the real clock with short windows: under tokio's paused
//! clock the runtime auto-advances time whenever it waits on a socket, which turns a slow loopback
//! answer into a spurious timeout. The window arithmetic itself is tested under the paused clock
//! with a scripted source (`window_math_under_the_paused_clock`).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::fake_server::{Behavior, FakeServer, json, prom_vector, scenario_yaml, text};
use gameday::engine::{Command, Handle, Options, RunOutcome};
use gameday::event::{CommandOutcome, Envelope, Event, Verdict};
use gameday::metric::{Probe, ProbeMap, Reading};
use gameday::scenario::Scenario;
use gameday::target::{BoxFuture, Host, HostMap};
use tokio::sync::broadcast;

/// A host that runs nothing and answers at once, remembering when each command arrived.
#[derive(Default)]
struct ScriptedHost {
    log: Mutex<Vec<(String, std::time::Instant)>>,
}

impl Host for ScriptedHost {
    fn name(&self) -> &str {
        "scripted"
    }
    fn exec<'a>(&'a self, command: &'a str, _t: Duration) -> BoxFuture<'a, CommandOutcome> {
        self.log
            .lock()
            .unwrap()
            .push((command.to_string(), std::time::Instant::now()));
        Box::pin(async {
            CommandOutcome {
                exit: Some(0),
                ..Default::default()
            }
        })
    }
}

struct Run {
    handle: Handle,
    events: broadcast::Receiver<Arc<Envelope>>,
    host: Arc<ScriptedHost>,
    task: tokio::task::JoinHandle<RunOutcome>,
    _dir: tempfile::TempDir,
}

fn start(yaml: &str, probes: Option<ProbeMap>) -> Run {
    let scenario = Scenario::parse(Path::new("metrics-test.yaml"), yaml).unwrap();
    let host = Arc::new(ScriptedHost::default());
    let mut hosts = HostMap::new();
    hosts.insert("here".into(), vec![host.clone() as Arc<dyn Host>]);
    let probes = probes.unwrap_or_else(|| gameday::metric::probes(&scenario, &hosts).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let running = gameday::session::start_with_probes(
        Arc::new(scenario),
        hosts,
        probes,
        Some(dir.path().join("journal.jsonl")),
        Options::default(),
    )
    .unwrap();
    let (handle, events) = (running.handle, running.events);
    let engine = running.engine;
    let task = tokio::spawn(async move { engine.await.unwrap().unwrap() });
    Run {
        handle,
        events,
        host,
        task,
        _dir: dir,
    }
}

/// The next event that `pick` accepts, within `limit` (real or paused time).
async fn wait_for<T>(
    events: &mut broadcast::Receiver<Arc<Envelope>>,
    limit: Duration,
    mut pick: impl FnMut(&Event) -> Option<T>,
) -> T {
    let found = tokio::time::timeout(limit, async {
        loop {
            let env = events.recv().await.expect("event stream closed");
            if let Some(t) = pick(&env.event) {
                return t;
            }
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("no matching event within {limit:?}"))
}

/// Healthy first, then `failure`: the rule breaches with `want` in its reason and trips after 1 s.
/// `timeout` is generous (2 s) where the failure answers at once, so a loaded CI machine does not
/// turn a slow healthy answer into a spurious timeout; it is 300 ms where timing out is the point.
async fn trips_with(failure: Behavior, want: &str, timeout: &str) {
    let server = FakeServer::start(json(200, prom_vector(&["0"]))).await;
    let metric = format!(
        "{{ server: '{}', prometheus: 'sum(errors_ratio)', every: 100ms, timeout: {timeout} }}",
        server.url("")
    );
    let yaml = scenario_yaml(&metric, "{ metric: m, above: 0.5, for: 1s }", 60);
    let mut run = start(&yaml, None);
    wait_for(&mut run.events, Duration::from_secs(10), |e| {
        matches!(e, Event::FaultInjected { ok: true, .. }).then_some(())
    })
    .await;
    server.behave(failure);
    let (left_ms, reason) = wait_for(&mut run.events, Duration::from_secs(10), |e| match e {
        Event::RuleBreaching {
            left_ms, reason, ..
        } => Some((*left_ms, reason.clone())),
        _ => None,
    })
    .await;
    assert_eq!(left_ms, 1000);
    let reason = reason.expect("a no-data breach carries its reason");
    assert!(
        reason.contains(want),
        "breaching: got {reason:?}, want {want:?}"
    );
    let (breaching_ms, reason) = wait_for(&mut run.events, Duration::from_secs(10), |e| match e {
        Event::RuleTripped {
            breaching_ms,
            reason,
            ..
        } => Some((*breaching_ms, reason.clone())),
        Event::RuleCleared { .. } => panic!("cleared while the source was failing"),
        _ => None,
    })
    .await;
    assert!(breaching_ms >= 1000, "{breaching_ms}");
    assert!(reason.unwrap().contains(want));
    let outcome = tokio::time::timeout(Duration::from_secs(10), run.task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome.verdict, Verdict::Aborted, "{}", outcome.reason);
    assert!(outcome.reason.contains("tripped"), "{}", outcome.reason);
    let undone = run
        .host
        .log
        .lock()
        .unwrap()
        .iter()
        .filter(|(c, _)| c == "true")
        .count();
    assert!(undone >= 2, "inject and rollback both ran");
}

#[tokio::test]
async fn http_503_trips() {
    trips_with(
        text(503, "service unavailable"),
        "HTTP 503: service unavailable",
        "2s",
    )
    .await;
}

#[tokio::test]
async fn status_error_trips() {
    let body = r#"{"status":"error","errorType":"internal","error":"storage is read-only"}"#;
    trips_with(json(500, body), "internal: storage is read-only", "2s").await;
}

#[tokio::test]
async fn empty_vector_trips() {
    trips_with(json(200, prom_vector(&[])), "empty vector", "2s").await;
}

#[tokio::test]
async fn nan_trips() {
    trips_with(json(200, prom_vector(&["NaN"])), "value is NaN", "2s").await;
}

#[tokio::test]
async fn endless_body_trips() {
    let slow = Behavior::EndlessBody {
        chunk: 32,
        every: Duration::from_millis(10),
    };
    trips_with(slow, "timed out after 300ms", "300ms").await;
}

#[tokio::test]
async fn hung_connection_trips() {
    trips_with(Behavior::Hang, "timed out after 300ms", "300ms").await;
}

/// Halt while the only metric source hangs: the rollback starts at once, not after the poll's
/// timeout (30 s here).
#[tokio::test]
async fn a_hung_source_does_not_delay_a_halt() {
    let server = FakeServer::start(json(200, prom_vector(&["0"]))).await;
    let metric = format!(
        "{{ server: '{}', prometheus: 'up', every: 100ms, timeout: 30s }}",
        server.url("")
    );
    let yaml = scenario_yaml(&metric, "{ metric: m, above: 0.5, for: 1m }", 120);
    let mut run = start(&yaml, None);
    wait_for(&mut run.events, Duration::from_secs(10), |e| {
        matches!(e, Event::FaultInjected { ok: true, .. }).then_some(())
    })
    .await;
    server.behave(Behavior::Hang);
    // Wait until a poll is stuck on the hung server (the sampler polls one at a time).
    let hung_at = server.requests();
    while server.requests() <= hung_at {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sent = std::time::Instant::now();
    run.handle
        .commands
        .send(Command::Halt {
            by: "test".into(),
            reason: "big red button".into(),
        })
        .await
        .unwrap();
    wait_for(&mut run.events, Duration::from_secs(5), |e| {
        matches!(e, Event::RollbackStarted { .. }).then_some(())
    })
    .await;
    let to_event = sent.elapsed();
    let outcome = tokio::time::timeout(Duration::from_secs(5), run.task)
        .await
        .expect("the run ends without waiting for the hung source")
        .unwrap();
    let undo_at = run
        .host
        .log
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, at)| *at >= sent)
        .map(|(_, at)| *at)
        .next()
        .expect("the undo ran after the halt");
    let to_undo = undo_at - sent;
    assert!(
        to_event < Duration::from_millis(100),
        "RollbackStarted after {to_event:?}"
    );
    assert!(
        to_undo < Duration::from_millis(100),
        "undo sent after {to_undo:?}"
    );
    assert_eq!(outcome.verdict, Verdict::Aborted);
    eprintln!("halt → RollbackStarted {to_event:?}, halt → undo exec {to_undo:?}");
}

/// A source that plays back a script of readings, then repeats the last one.
struct Script(Mutex<Vec<Reading>>);

impl Probe for Script {
    fn poll(&self) -> BoxFuture<'_, Reading> {
        let mut s = self.0.lock().unwrap();
        let r = if s.len() > 1 {
            s.remove(0)
        } else {
            s[0].clone()
        };
        Box::pin(async move { r })
    }
}

/// Under the paused clock: no data breaches, counts down, and trips after exactly its window. A
/// lone good sample inside the window does not restart it (a breach clears only after
/// `clear_after` consecutive good samples, default 2); a real recovery does clear it.
#[tokio::test(start_paused = true)]
async fn window_math_under_the_paused_clock() {
    let yaml = scenario_yaml(
        "{ http: 'http://127.0.0.1:9/', every: 1s, timeout: 500ms }",
        "{ metric: m, above: 100, for: 10s }",
        600,
    );
    // preflight, then 1 s samples: 3 good, 3 failing, 2 good (a recovery), 4 failing, 1 good,
    // then failing for good.
    let mut script: Vec<Reading> = vec![Ok(5.0); 4];
    script.extend(vec![Err("HTTP 503".to_string()); 3]);
    script.extend(vec![Ok(5.0); 2]);
    script.extend(vec![Err("HTTP 503".to_string()); 4]);
    script.push(Ok(5.0));
    script.push(Err("timed out after 500ms".to_string()));
    let mut probes = ProbeMap::new();
    probes.insert(
        "m".into(),
        Arc::new(Script(Mutex::new(script))) as Arc<dyn Probe>,
    );
    let mut run = start(&yaml, Some(probes));
    let t0 = tokio::time::Instant::now();
    let mut seen = Vec::new();
    let mut second_breach_at = None;
    let tripped_at = wait_for(&mut run.events, Duration::from_secs(120), |e| {
        match e {
            Event::RuleBreaching {
                left_ms, reason, ..
            } => {
                seen.push(format!(
                    "breaching {left_ms} {}",
                    reason.clone().unwrap_or_default()
                ));
                second_breach_at = Some(t0.elapsed());
            }
            Event::RuleCleared { .. } => seen.push("cleared".into()),
            Event::RuleTripped { breaching_ms, .. } => {
                seen.push(format!("tripped {breaching_ms}"));
                return Some(t0.elapsed());
            }
            _ => {}
        }
        None
    })
    .await;
    assert_eq!(
        seen,
        [
            "breaching 10000 HTTP 503",
            "cleared",
            "breaching 10000 HTTP 503",
            "tripped 10000"
        ]
    );
    // The second breach trips exactly 10 s after it began, through the lone good sample.
    let began = second_breach_at.unwrap();
    assert_eq!(
        tripped_at - began,
        Duration::from_secs(10),
        "{began:?} → {tripped_at:?}"
    );
    let outcome = run.task.await.unwrap();
    assert_eq!(outcome.verdict, Verdict::Aborted);
}

/// `no_data: ignore` never trips on silence or errors.
#[tokio::test(start_paused = true)]
async fn no_data_ignore_keeps_running() {
    let yaml = scenario_yaml(
        "{ http: 'http://127.0.0.1:9/', every: 1s, timeout: 500ms }",
        "{ metric: m, above: 100, for: 2s, no_data: ignore }",
        30,
    );
    let script = vec![Ok(5.0), Ok(5.0), Err("HTTP 503".to_string())];
    let mut probes = ProbeMap::new();
    probes.insert(
        "m".into(),
        Arc::new(Script(Mutex::new(script))) as Arc<dyn Probe>,
    );
    let run = start(&yaml, Some(probes));
    let outcome = run.task.await.unwrap();
    assert_eq!(outcome.verdict, Verdict::Held, "{}", outcome.reason);
}

struct Hangs;

impl Probe for Hangs {
    fn poll(&self) -> BoxFuture<'_, Reading> {
        Box::pin(std::future::pending())
    }
}

/// Samplers are independent: while one source hangs for its whole timeout, another keeps its
/// pace, and the hung one reports "timed out" once per timeout.
#[tokio::test(start_paused = true)]
async fn a_hung_source_does_not_slow_another() {
    use gameday::scenario::{Metric, Source};
    let metric = |name: &str, timeout: u64| Metric {
        name: name.into(),
        source: Source::Http {
            url: "http://127.0.0.1:9/".into(),
            expect_status: 200,
            expect_body: None,
        },
        every: Duration::from_secs(1),
        timeout: Duration::from_secs(timeout),
        unit: None,
    };
    let metrics = [("fast", metric("fast", 1)), ("hung", metric("hung", 10))]
        .into_iter()
        .map(|(n, m)| (n.to_string(), m))
        .collect();
    let mut probes = ProbeMap::new();
    probes.insert(
        "fast".into(),
        Arc::new(Script(Mutex::new(vec![Ok(1.0)]))) as Arc<dyn Probe>,
    );
    probes.insert("hung".into(), Arc::new(Hangs) as Arc<dyn Probe>);
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let _samplers = gameday::metric::spawn_samplers(&metrics, &probes, tx);
    let t0 = tokio::time::Instant::now();
    let (mut fast, mut hung) = (0, Vec::new());
    while t0.elapsed() < Duration::from_secs(30) {
        let s = rx.recv().await.unwrap();
        match s.metric.as_str() {
            "fast" => fast += 1,
            _ => hung.push(s.reading.unwrap_err()),
        }
    }
    assert!(
        (30..=32).contains(&fast),
        "fast source sampled {fast} times in 30 s"
    );
    assert!((2..=3).contains(&hung.len()), "{hung:?}");
    assert!(hung.iter().all(|e| e == "timed out after 10s"), "{hung:?}");
}

/// A server (or proxy) that echoes the `Authorization` header in its error: the reason the probe
/// returns, and so the journal, the debrief and stdout, shows `[REDACTED]` instead of the token,
/// the `user:pass` pair, its base64 form or the password alone.
#[tokio::test]
async fn echoed_credentials_are_redacted_from_reasons() {
    use gameday::metric::poll_once;
    use gameday::metric::prometheus::PrometheusProbe;
    use gameday::metric::web::{self, Auth};

    let bearer = Auth::from_lookup(Some("T"), None, |_| Some("tok-9f8e7d6c".into())).unwrap();
    // "opensesame-42" alone, and base64("aladdin:opensesame-42").
    let basic =
        Auth::from_lookup(None, Some("B"), |_| Some("aladdin:opensesame-42".into())).unwrap();
    let b64 = "YWxhZGRpbjpvcGVuc2VzYW1lLTQy";
    for json in [true, false] {
        for (auth, secrets) in [
            (bearer.clone(), vec!["tok-9f8e7d6c"]),
            (
                basic.clone(),
                vec![b64, "opensesame-42", "aladdin:opensesame-42"],
            ),
        ] {
            let server = FakeServer::start(Behavior::EchoAuth { status: 400, json }).await;
            let probe = PrometheusProbe::new(
                web::client().unwrap(),
                &server.url(""),
                "up",
                None,
                auth,
                Duration::from_secs(2),
                Duration::from_secs(1),
            )
            .unwrap();
            let e = poll_once(&probe, Duration::from_secs(2)).await.unwrap_err();
            // The server did get the credential, and did echo it.
            let head = server.heads()[0].clone();
            assert!(head.contains(secrets[0]), "{head}");
            for s in &secrets {
                assert!(!e.contains(s), "json={json}: {s:?} in {e:?}");
            }
            assert!(e.contains("[REDACTED]") && e.contains("HTTP 400"), "{e}");
        }
    }
}

/// The same, end to end: neither the events nor the journal file hold the token.
#[tokio::test]
async fn echoed_credentials_never_reach_the_journal() {
    use gameday::metric::prometheus::PrometheusProbe;
    use gameday::metric::web::{self, Auth};

    let server = FakeServer::start(Behavior::EchoAuth {
        status: 400,
        json: true,
    })
    .await;
    let metric = format!(
        "{{ server: '{}', prometheus: 'up', every: 100ms, timeout: 2s }}",
        server.url("")
    );
    let yaml = scenario_yaml(&metric, "{ metric: m, above: 0.5, for: 300ms }", 60);
    let auth = Auth::from_lookup(Some("T"), None, |_| Some("tok-5a4b3c2d".into())).unwrap();
    let probe = PrometheusProbe::new(
        web::client().unwrap(),
        &server.url(""),
        "up",
        None,
        auth,
        Duration::from_secs(2),
        Duration::from_secs(1),
    )
    .unwrap();
    let mut probes = ProbeMap::new();
    probes.insert("m".into(), Arc::new(probe) as Arc<dyn Probe>);
    let mut run = start(&yaml, Some(probes));
    let mut texts = Vec::new();
    wait_for(&mut run.events, Duration::from_secs(20), |e| {
        texts.push(serde_json::to_string(e).unwrap());
        matches!(e, Event::Verdict { .. }).then_some(())
    })
    .await;
    let outcome = tokio::time::timeout(Duration::from_secs(10), run.task)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(outcome.verdict, Verdict::Aborted, "{}", outcome.reason);
    assert!(
        !outcome.reason.contains("tok-5a4b3c2d"),
        "{}",
        outcome.reason
    );
    let events = texts.join("\n");
    assert!(events.contains("[REDACTED]"), "{events}");
    assert!(!events.contains("tok-5a4b3c2d"), "{events}");
    let journal = std::fs::read_to_string(run._dir.path().join("journal.jsonl")).unwrap();
    assert!(journal.contains("[REDACTED]"), "{journal}");
    assert!(!journal.contains("tok-5a4b3c2d"), "{journal}");
}

/// `secret_values` lists what the journal's redactor must hide: every credential the scenario
/// names, in every form (raw, base64 `user:pass`, the password alone, JSON-escaped).
#[test]
fn secret_values_cover_every_form() {
    let yaml = |auth: &str| {
        format!(
            "title: t\nhypothesis: h\nmax_duration: 1m\nprometheus: {{ url: 'http://127.0.0.1:9/', {auth} }}\nmetrics:\n  m: {{ prometheus: up }}\nsteps:\n  - {{ name: s, duration: 1s }}\n"
        )
    };
    let parse = |auth: &str| Scenario::parse(Path::new("s.yaml"), &yaml(auth)).unwrap();
    let env = |v: &str| match v {
        "TOK" => Some("tok-<1>&\"2\"".to_string()),
        "BASIC" => Some("aladdin:opensesame-42\n".to_string()),
        _ => None,
    };
    let values = gameday::metric::secret_values_from(&parse("bearer_token_env: TOK"), env);
    for want in [
        r#"tok-<1>&"2""#,
        r#"tok-<1>&\"2\""#,
        r#"tok-\u003c1\u003e\u0026\"2\""#,
    ] {
        assert!(values.iter().any(|v| v == want), "{want} not in {values:?}");
    }
    let values = gameday::metric::secret_values_from(&parse("basic_auth_env: BASIC"), env);
    for want in [
        "aladdin:opensesame-42",
        "YWxhZGRpbjpvcGVuc2VzYW1lLTQy",
        "opensesame-42",
    ] {
        assert!(values.iter().any(|v| v == want), "{want} not in {values:?}");
    }
    assert!(values.iter().all(|v| !v.is_empty()));
    let unset = gameday::metric::secret_values_from(&parse("bearer_token_env: NOPE"), env);
    assert!(unset.is_empty(), "{unset:?}");
    // The process environment is what the real function reads.
    assert!(
        gameday::metric::secret_values(&parse("bearer_token_env: GAMEDAY_SURELY_UNSET_VAR"))
            .is_empty()
    );
}
