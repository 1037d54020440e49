//! Notifications against a local HTTP server that records what it received, one that fails, and
//! one that hangs: delivery never blocks the caller, every result comes back, secrets stay out.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use gameday::event::{Envelope, Event, RollbackStatus, Verdict};
use gameday::notify::{Delivery, Limits, Notifier, QUEUE};
use gameday::scenario::Scenario;

use crate::fake_server::{Behavior, FakeServer};

fn scenario(notify: &str) -> Scenario {
    let yaml = format!(
        r#"title: Notify test
hypothesis: nothing breaks
max_duration: 5m
targets:
  web: {{ local: true }}
steps:
  - name: One
    duration: 1m
    faults: [{{ kind: command, id: f1, target: web, inject: "true", rollback: "true" }}]
notify:
{notify}
"#
    );
    Scenario::parse(std::path::Path::new("n.yaml"), &yaml)
        .map_err(|e| format!("{:?}", e.0))
        .expect("the scenario parses")
}

fn env(seq: u64, secs: i64, event: Event) -> Arc<Envelope> {
    Arc::new(Envelope {
        seq,
        ts: Utc
            .with_ymd_and_hms(2026, 12, 1, 10, 0, 0)
            .single()
            .expect("t0")
            + chrono::TimeDelta::seconds(secs),
        run: "run-1".into(),
        event,
    })
}

fn verdict() -> Event {
    Event::Verdict {
        verdict: Verdict::Held,
        exit_code: 0,
        reason: "steady state held <!channel>".into(),
    }
}

fn fast() -> Limits {
    Limits {
        timeout: Duration::from_millis(300),
        backoff: Duration::from_millis(20),
        drain: Duration::from_secs(5),
    }
}

fn ok() -> Behavior {
    Behavior::Respond {
        status: 200,
        content_type: "text/plain",
        body: "ok".into(),
    }
}

fn no_env(_: &str) -> Option<String> {
    None
}

/// A JSON webhook and a Slack one get what their `on:` asks for, in order; a sample is never sent.
#[tokio::test]
async fn webhooks_get_the_moments_they_ask_for() {
    let json = FakeServer::start(ok()).await;
    let slack = FakeServer::start(ok()).await;
    let s = scenario(&format!(
        "  - {{ webhook: \"{}\" }}\n  - {{ webhook: \"{}\", format: slack, on: [verdict] }}",
        json.url("/hook"),
        slack.url("/slack")
    ));
    let (n, failed) = Notifier::start(&s, no_env, fast());
    assert!(failed.is_empty(), "{failed:?}");
    let mut n = n.expect("a notifier");
    n.offer(&env(1, 0, Event::RunEnded));
    n.offer(&env(
        2,
        1,
        Event::Sample {
            metric: "m".into(),
            value: Some(1.0),
            error: None,
        },
    ));
    n.offer(&env(3, 2, verdict()));
    let results: Vec<Delivery> = n.finish().await;
    assert_eq!(results.len(), 3, "{results:?}");
    assert!(
        results.iter().all(|d| d.ok && d.attempts == 1),
        "{results:?}"
    );
    let bodies = json.bodies();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    let first: serde_json::Value = serde_json::from_str(&bodies[0]).expect("JSON body");
    assert_eq!(first["type"], "run_ended");
    assert_eq!(first["run"], "run-1");
    assert_eq!(first["scenario"], "Notify test");
    let second: serde_json::Value = serde_json::from_str(&bodies[1]).expect("JSON body");
    assert_eq!(second["type"], "verdict");
    assert_eq!(second["seq"], 3);
    let slack_bodies = slack.bodies();
    assert_eq!(slack_bodies.len(), 1, "{slack_bodies:?}");
    let text: serde_json::Value = serde_json::from_str(&slack_bodies[0]).expect("JSON body");
    assert_eq!(
        gameday::notify::slack_escape("<!channel> a<b & c"),
        "&lt;!channel&gt; a&lt;b &amp; c",
        "hostile text never pings a channel"
    );
    assert!(
        text["text"]
            .as_str()
            .is_some_and(|t| t.contains("Notify test")
                && t.contains("HYPOTHESIS HELD")
                && t.contains("&lt;!channel&gt;")
                && !t.contains("<!channel>")),
        "{text}"
    );
}

/// 503 is retried (3 tries in all), 400 is not; each ends as one failed result with its status.
#[tokio::test]
async fn failures_are_retried_when_it_helps_and_reported() {
    let down = FakeServer::start(Behavior::Respond {
        status: 503,
        content_type: "text/plain",
        body: "down".into(),
    })
    .await;
    let bad = FakeServer::start(Behavior::Respond {
        status: 400,
        content_type: "text/plain",
        body: "bad".into(),
    })
    .await;
    let s = scenario(&format!(
        "  - {{ webhook: \"{}\" }}\n  - {{ webhook: \"{}\" }}",
        down.url("/"),
        bad.url("/")
    ));
    let (n, _) = Notifier::start(&s, no_env, fast());
    let mut n = n.expect("a notifier");
    n.offer(&env(7, 0, verdict()));
    let mut results = n.finish().await;
    results.sort_by_key(|d| d.attempts);
    assert_eq!(results.len(), 2, "{results:?}");
    assert_eq!(
        (results[0].ok, results[0].attempts, results[0].status),
        (false, 1, Some(400))
    );
    assert_eq!(
        (results[1].ok, results[1].attempts, results[1].status),
        (false, 3, Some(503))
    );
    assert_eq!(down.requests(), 3);
    assert_eq!(bad.requests(), 1);
    assert!(
        results[1]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("503"))
    );
}

/// A hanging endpoint: offering never waits, a full queue drops (and says how many), and the end
/// is bounded by the drain limit, reporting what was still in flight.
#[tokio::test]
async fn a_hanging_endpoint_never_blocks_and_the_end_is_bounded() {
    let hang = FakeServer::start(Behavior::Hang).await;
    let s = scenario(&format!("  - {{ webhook: \"{}\" }}", hang.url("/")));
    let limits = Limits {
        timeout: Duration::from_secs(30),
        backoff: Duration::from_millis(20),
        drain: Duration::from_millis(300),
    };
    let (n, _) = Notifier::start(&s, no_env, limits);
    let mut n = n.expect("a notifier");
    let extra = 10;
    // `offer` is not async: it cannot wait for the dead endpoint, whatever it is given.
    for i in 0..(QUEUE as u64 + 1 + extra) {
        n.offer(&env(i, 0, verdict()));
    }
    let results = tokio::time::timeout(Duration::from_secs(20), n.finish())
        .await
        .expect("finish is bounded by the drain limit");
    let errors: Vec<String> = results.iter().filter_map(|d| d.error.clone()).collect();
    assert!(results.iter().all(|d| !d.ok), "{results:?}");
    assert!(
        errors
            .iter()
            .any(|e| e.contains("not sent: the queue of 256 was full")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("still in flight")),
        "{errors:?}"
    );
}

/// Grafana: the token from its variable as a bearer header, a point per event and the fault's live
/// window as a region (time → timeEnd), tagged with the run and the fault.
#[tokio::test]
async fn grafana_gets_points_and_a_region_per_fault() {
    let g = FakeServer::start(ok()).await;
    let s = scenario(&format!(
        "  - {{ grafana: \"{}\", token_env: GD_TEST_GRAFANA, dashboard_uid: abc, tags: [gameday-test], on: [fault, verdict] }}",
        g.url("")
    ));
    let token = "glsa_secret_token_1234";
    let (n, failed) = Notifier::start(
        &s,
        |v| (v == "GD_TEST_GRAFANA").then(|| token.to_string()),
        fast(),
    );
    assert!(failed.is_empty(), "{failed:?}");
    let mut n = n.expect("a notifier");
    n.offer(&env(
        1,
        10,
        Event::FaultInjected {
            fault: "f1".into(),
            host: "local".into(),
            ok: true,
            outcome: Default::default(),
        },
    ));
    n.offer(&env(
        2,
        70,
        Event::RollbackResult {
            fault: "f1".into(),
            host: "local".into(),
            status: RollbackStatus::Verified,
            how: "verify".into(),
            attempts: 1,
            undo: Default::default(),
            verify: None,
            manual: None,
        },
    ));
    let results = n.finish().await;
    assert!(results.iter().all(|d| d.ok), "{results:?}");
    let heads = g.heads();
    assert!(
        heads
            .iter()
            .all(|h| h.starts_with("POST /api/annotations ")),
        "{heads:?}"
    );
    assert!(
        heads.iter().all(|h| h
            .to_ascii_lowercase()
            .contains(&format!("authorization: bearer {token}"))),
        "{heads:?}"
    );
    let bodies: Vec<serde_json::Value> = g
        .bodies()
        .iter()
        .map(|b| serde_json::from_str(b).expect("JSON"))
        .collect();
    assert_eq!(bodies.len(), 2);
    assert!(bodies[0].get("timeEnd").is_none());
    let t0 = bodies[0]["time"].as_i64().expect("time");
    assert_eq!(
        bodies[1]["time"].as_i64(),
        Some(t0),
        "the region starts at the inject"
    );
    assert_eq!(bodies[1]["timeEnd"].as_i64(), Some(t0 + 60_000));
    assert_eq!(bodies[1]["dashboardUID"], "abc");
    let tags: Vec<&str> = bodies[1]["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(|t| t.as_str())
        .collect();
    for want in ["gameday-test", "gameday", "run:run-1", "fault:f1"] {
        assert!(tags.contains(&want), "{tags:?}");
    }
}

/// A webhook URL from `url_env` is a secret: not in the label, not in an error; a variable that is
/// not set is one failed result at start, and nothing is sent.
#[tokio::test]
async fn a_secret_url_stays_out_of_labels_and_errors() {
    let s = scenario("  - { url_env: GD_TEST_HOOK, format: slack }");
    // Nothing listens on port 9 of loopback: the error must not carry the URL's secret path.
    let secret = "http://127.0.0.1:9/services/T000/B000/XXXXsecretXXXX";
    let (n, failed) = Notifier::start(
        &s,
        |v| (v == "GD_TEST_HOOK").then(|| secret.to_string()),
        fast(),
    );
    assert!(failed.is_empty(), "{failed:?}");
    let mut n = n.expect("a notifier");
    n.offer(&env(1, 0, verdict()));
    let results = n.finish().await;
    assert_eq!(results.len(), 1, "{results:?}");
    let shown = format!("{results:?}");
    assert!(!shown.contains("XXXXsecretXXXX"), "{shown}");
    assert!(results[0].to.contains("$GD_TEST_HOOK"), "{shown}");
    assert!(!results[0].ok);
    assert!(
        gameday::metric::secret_values_from(&s, |v| {
            (v == "GD_TEST_HOOK").then(|| secret.to_string())
        })
        .contains(&secret.to_string())
    );

    let (n, failed) = Notifier::start(&s, no_env, fast());
    assert!(n.is_none());
    assert_eq!(failed.len(), 1);
    assert!(
        failed[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("GD_TEST_HOOK is not set")),
        "{failed:?}"
    );
}
