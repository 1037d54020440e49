//! The HTTP metric sources against scripted loopback servers: values, and every way a source can
//! fail, each becoming "no data" with its reason.

use std::time::Duration;

use crate::fake_server::{Behavior, FakeServer, json, prom_vector, text};
use gameday::metric::http::HttpProbe;
use gameday::metric::prometheus::PrometheusProbe;
use gameday::metric::scrape::ScrapeProbe;
use gameday::metric::web::{self, Auth};
use gameday::metric::{Probe, poll_once};
use gameday::scenario::Reduce;

const T: Duration = Duration::from_millis(800);

async fn prom(behavior: Behavior, reduce: Option<Reduce>) -> (FakeServer, Result<f64, String>) {
    let server = FakeServer::start(behavior).await;
    let probe = PrometheusProbe::new(
        web::client().unwrap(),
        &server.url(""),
        "sum(rate(errors_total[1m]))",
        reduce,
        None,
        T,
        Duration::from_secs(1),
    )
    .unwrap();
    let r = poll_once(&probe, T).await;
    (server, r)
}

#[tokio::test]
async fn prometheus_values_and_reduce() {
    let (server, r) = prom(json(200, prom_vector(&["0.25"])), None).await;
    assert_eq!(r, Ok(0.25));
    let head = &server.heads()[0];
    assert!(
        head.starts_with("GET /api/v1/query?query=sum%28rate"),
        "{head}"
    );
    // Samples older than 2 × every (1 s here) are no data, on servers that honour the parameter.
    assert!(head.contains("&lookback_delta=2 "), "{head}");

    let (_, r) = prom(json(200, prom_vector(&["1", "7", "4"])), Some(Reduce::Max)).await;
    assert_eq!(r, Ok(7.0));
    let (_, r) = prom(json(200, prom_vector(&["1", "7", "4"])), None).await;
    let e = r.unwrap_err();
    assert!(e.contains("3 series") && e.contains("reduce"), "{e}");
}

#[tokio::test]
async fn prometheus_failures_are_no_data_with_their_reason() {
    let cases: Vec<(&str, Behavior, &str)> = vec![
        (
            "503",
            text(503, "upstream unavailable\n"),
            "HTTP 503: upstream unavailable",
        ),
        (
            "status: error",
            json(
                422,
                r#"{"status":"error","errorType":"execution","error":"query timed out in expression evaluation"}"#,
            ),
            "Prometheus error (HTTP 422): execution: query timed out",
        ),
        ("empty vector", json(200, prom_vector(&[])), "empty vector"),
        ("NaN", json(200, prom_vector(&["NaN"])), "value is NaN"),
        (
            "endless fast body",
            Behavior::EndlessBody {
                chunk: 64 * 1024,
                every: Duration::ZERO,
            },
            "response body larger than 8 MiB",
        ),
        (
            "endless slow body",
            Behavior::EndlessBody {
                chunk: 16,
                every: Duration::from_millis(20),
            },
            "timed out after",
        ),
        ("hung connection", Behavior::Hang, "timed out after"),
    ];
    for (what, behavior, want) in cases {
        let started = std::time::Instant::now();
        let (_server, r) = prom(behavior, None).await;
        let e = r.expect_err(what);
        assert!(e.contains(want), "{what}: got {e:?}, want {want:?}");
        assert!(
            started.elapsed() < T + Duration::from_millis(500),
            "{what} took {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn connection_refused_is_no_data() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let probe = HttpProbe::new(
        web::client().unwrap(),
        &format!("http://{addr}/"),
        200,
        None,
    )
    .unwrap();
    let e = poll_once(&probe, T).await.unwrap_err();
    assert!(e.contains("cannot connect"), "{e}");
}

#[tokio::test]
async fn bearer_token_is_sent_and_never_shown() {
    let server = FakeServer::start(json(
        401,
        r#"{"status":"error","errorType":"bad_data","error":"unauthorized"}"#,
    ))
    .await;
    let auth = Auth::from_lookup(Some("GAMEDAY_TEST_TOKEN"), None, |_| {
        Some("tok-9f8e7d".to_string())
    })
    .unwrap();
    let probe = PrometheusProbe::new(
        web::client().unwrap(),
        &server.url(""),
        "up",
        None,
        auth,
        T,
        T,
    )
    .unwrap();
    let e = probe.poll().await.unwrap_err();
    assert!(!e.contains("tok-9f8e7d"), "{e}");
    let head = server.heads()[0].to_lowercase();
    assert!(head.contains("authorization: bearer tok-9f8e7d"), "{head}");
}

const EXPOSITION: &str = r#"# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="500"} 3 1395066363000
http_requests_total{method="get",code="500"} 4
# HELP queue_depth Jobs waiting.
# TYPE queue_depth gauge
queue_depth{queue="mail \"priority\""} 17
queue_depth{queue="bulk"} 250
# TYPE api_latency_seconds histogram
api_latency_seconds_bucket{route="/pay",le="0.1"} 90
api_latency_seconds_bucket{route="/pay",le="0.5"} 98
api_latency_seconds_bucket{route="/pay",le="+Inf"} 100
api_latency_seconds_sum{route="/pay"} 12.5
api_latency_seconds_count{route="/pay"} 100
api_latency_seconds_bucket{route="/home",le="0.1"} 10
api_latency_seconds_bucket{route="/home",le="0.5"} 10
api_latency_seconds_bucket{route="/home",le="+Inf"} 10
"#;

async fn scrape(series: &str, quantile: Option<f64>) -> Result<f64, String> {
    let server = FakeServer::start(text(200, EXPOSITION)).await;
    let probe = ScrapeProbe::new(
        web::client().unwrap(),
        &server.url("/metrics"),
        series,
        false,
        quantile,
        T,
    )
    .unwrap();
    poll_once(&probe, T).await
}

#[tokio::test]
async fn scrape_reads_real_exposition_text() {
    assert_eq!(
        scrape(r#"http_requests_total{code="500"}"#, None).await,
        Ok(7.0),
        "counters matching several series are summed"
    );
    assert_eq!(
        scrape(r#"queue_depth{queue="mail \"priority\""}"#, None).await,
        Ok(17.0)
    );
    let e = scrape("queue_depth", None).await.unwrap_err();
    assert!(e.contains("matches 2 series"), "{e}");
    let e = scrape(r#"queue_depth{queue="none"}"#, None)
        .await
        .unwrap_err();
    assert!(e.contains("no series matches"), "{e}");
    // /pay: rank 90 of 100 → the top of the 0.1 bucket; rank 95 → 0.1 + 0.4 * 5/8.
    assert_eq!(
        scrape(r#"api_latency_seconds{route="/pay"}"#, Some(0.9)).await,
        Ok(0.1)
    );
    let p95 = scrape(r#"api_latency_seconds{route="/pay"}"#, Some(0.95))
        .await
        .unwrap();
    assert!((p95 - 0.35).abs() < 1e-9, "{p95}");
    // Both routes: 110 observations, rank 99 → 0.1 + 0.4 * (99-100)/... stays in the first bucket.
    let all = scrape("api_latency_seconds", Some(0.9)).await.unwrap();
    assert!((all - 0.099).abs() < 1e-9, "{all}");
}

#[tokio::test]
async fn scrape_rate_comes_from_two_scrapes() {
    let server = FakeServer::start(Behavior::Gauge { name: "jobs_total" }).await;
    server.set(100.0);
    let probe = ScrapeProbe::new(
        web::client().unwrap(),
        &server.url("/metrics"),
        "jobs_total",
        true,
        None,
        Duration::from_millis(600),
    )
    .unwrap();
    // First poll: scrapes, waits its 200 ms window, scrapes again; nothing moved.
    assert_eq!(probe.poll().await, Ok(0.0));
    server.set(160.0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = probe.poll().await.unwrap();
    // 60 more over ≥ 300 ms (plus scrape time): below 200/s, well above 0.
    assert!(r > 60.0 && r <= 200.0, "{r}");
    server.set(5.0); // a restart: the counter starts again from 0
    tokio::time::sleep(Duration::from_millis(250)).await;
    let r = probe.poll().await.unwrap();
    assert!(r > 0.0 && r <= 5.0 / 0.25, "{r}");
}

#[tokio::test]
async fn http_probe_times_and_checks() {
    let server = FakeServer::start(text(200, "status: ok\n")).await;
    let ok = HttpProbe::new(
        web::client().unwrap(),
        &server.url("/healthz"),
        200,
        Some("ok".into()),
    )
    .unwrap();
    let ms = poll_once(&ok, T).await.unwrap();
    assert!((0.0..800.0).contains(&ms), "{ms}");

    let body = HttpProbe::new(
        web::client().unwrap(),
        &server.url("/healthz"),
        200,
        Some("healthy".into()),
    )
    .unwrap();
    let e = poll_once(&body, T).await.unwrap_err();
    assert!(e.contains(r#"does not contain "healthy""#), "{e}");

    let down = FakeServer::start(text(503, "draining")).await;
    let probe = HttpProbe::new(web::client().unwrap(), &down.url("/"), 200, None).unwrap();
    let e = poll_once(&probe, T).await.unwrap_err();
    assert!(
        e.starts_with("status 503, expected 200") && e.contains("draining"),
        "{e}"
    );

    let expected_503 = HttpProbe::new(web::client().unwrap(), &down.url("/"), 503, None).unwrap();
    assert!(poll_once(&expected_503, T).await.is_ok());

    let hang = FakeServer::start(Behavior::Hang).await;
    let probe = HttpProbe::new(web::client().unwrap(), &hang.url("/"), 200, None).unwrap();
    let e = poll_once(&probe, Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(e.contains("timed out after"), "{e}");

    // A body that never ends still gives a time: only its first MiB is read.
    let endless = FakeServer::start(Behavior::EndlessBody {
        chunk: 64 * 1024,
        every: Duration::ZERO,
    })
    .await;
    let probe = HttpProbe::new(web::client().unwrap(), &endless.url("/"), 200, None).unwrap();
    assert!(poll_once(&probe, T).await.is_ok());
}

#[test]
fn validation_asks_for_reduce_and_checks_selectors() {
    let yaml =
        |metric: &str| crate::fake_server::scenario_yaml(metric, "{ metric: m, above: 1 }", 10);
    let parse = |metric: &str| {
        gameday::scenario::Scenario::parse(std::path::Path::new("v.yaml"), &yaml(metric))
    };
    let e = parse("{ prometheus: 'sum by (code) (rate(x[1m]))', server: 'http://127.0.0.1:9090' }")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("v.yaml:") && e.contains("reduce: max|min|sum|avg"),
        "{e}"
    );
    assert!(
        parse("{ prometheus: 'sum by (code) (rate(x[1m]))', server: 'http://127.0.0.1:9090', reduce: max }")
            .is_ok()
    );
    assert!(parse("{ prometheus: 'sum(rate(x[1m]))', server: 'http://127.0.0.1:9090' }").is_ok());
    let e = parse(r#"{ scrape: 'http://127.0.0.1:1/metrics', series: 'x{a=~"b"}' }"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("regex"), "{e}");
}

fn histogram(fast: u64, slow: u64) -> String {
    // Cumulative buckets: `fast` observations ≤ 0.1 s, `slow` more in (0.1, 1].
    format!(
        "# TYPE lat_seconds histogram\nlat_seconds_bucket{{le=\"0.1\"}} {fast}\nlat_seconds_bucket{{le=\"1\"}} {}\nlat_seconds_bucket{{le=\"+Inf\"}} {}\nlat_seconds_count {}\n",
        fast + slow,
        fast + slow,
        fast + slow
    )
}

#[tokio::test]
async fn scrape_quantile_with_rate_uses_only_new_observations() {
    // All-time: 1000 fast observations. Then 100 slow ones arrive.
    let server = FakeServer::start(text(200, histogram(1000, 0))).await;
    let probe = ScrapeProbe::new(
        web::client().unwrap(),
        &server.url("/metrics"),
        "lat_seconds",
        true,
        Some(0.5),
        Duration::from_millis(300),
    )
    .unwrap();
    let e = probe.poll().await.unwrap_err();
    assert!(e.contains("no observations"), "nothing new yet: {e}");
    server.behave(text(200, histogram(1000, 100)));
    tokio::time::sleep(Duration::from_millis(120)).await;
    // Over the window only slow requests: the median is in (0.1, 1], at 0.1 + 0.9 * 50/100.
    let p50 = probe.poll().await.unwrap();
    assert!((p50 - 0.55).abs() < 1e-9, "{p50}");
    // Without rate, the all-time median is still fast.
    let all_time = ScrapeProbe::new(
        web::client().unwrap(),
        &server.url("/metrics"),
        "lat_seconds",
        false,
        Some(0.5),
        Duration::from_millis(300),
    )
    .unwrap();
    assert!(all_time.poll().await.unwrap() <= 0.1);
}

/// A non-finite value on a /metrics page is no data, never a reading: `+Inf` would pass
/// `below:` rules and NaN hides inside sums.
#[tokio::test]
async fn scrape_non_finite_values_are_no_data() {
    let page = "# TYPE a gauge\na +Inf\n# TYPE b gauge\nb -Inf\n# TYPE c_total counter\nc_total{x=\"1\"} 3\nc_total{x=\"2\"} NaN\n";
    let server = FakeServer::start(text(200, page)).await;
    for series in ["a", "b", "c_total"] {
        for rate in [false, true] {
            let probe = ScrapeProbe::new(
                web::client().unwrap(),
                &server.url("/metrics"),
                series,
                rate,
                None,
                Duration::from_millis(90),
            )
            .unwrap();
            let r = probe.poll().await;
            assert!(r.is_err(), "{series} rate={rate}: {r:?}");
        }
    }
}

/// Instant selectors are sent bounded to 2 × every, so the bound holds on servers that ignore
/// `lookback_delta` (before Prometheus 2.43); the reason for an empty answer says so.
#[tokio::test]
async fn instant_selectors_are_sent_bounded() {
    let server = FakeServer::start(json(200, prom_vector(&[]))).await;
    let probe = PrometheusProbe::new(
        web::client().unwrap(),
        &server.url(""),
        r#"max(up{job="api"})"#,
        None,
        None,
        T,
        Duration::from_millis(1500),
    )
    .unwrap();
    assert_eq!(
        probe.sent_query(),
        r#"max((up{job="api"} and last_over_time(up{job="api"}[3000ms])))"#
    );
    let e = poll_once(&probe, T).await.unwrap_err();
    assert!(e.contains("newer than 3s (2 × every)"), "{e}");
    let head = &server.heads()[0];
    assert!(
        head.contains("last_over_time") && head.contains("lookback_delta=3 "),
        "{head}"
    );
}
