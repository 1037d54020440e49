//! How many samples per second the metric layer sustains, and what it costs in CPU.
//!
//! ```text
//! cargo run --release --example metric_load -- [http|scrape] [probes] [every_ms] [seconds]
//! cargo run --release --example metric_load -- http 200 1000 20     # 200 HTTP probes at 1 s
//! cargo run --release --example metric_load -- scrape 200 1000 20   # 200 /metrics scrapes at 1 s
//! cargo run --release --example metric_load -- http 200 10 10       # push until it saturates
//! ```
//!
//! The loopback server runs in a child process (this same binary, `serve` mode), so the CPU time
//! measured with getrusage(RUSAGE_SELF) is the metric layer's alone: samplers, HTTP client, parsing.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gameday::metric::http::HttpProbe;
use gameday::metric::scrape::ScrapeProbe;
use gameday::metric::{Probe, ProbeMap, spawn_samplers, web};
use gameday::scenario::{Metric, Source};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("serve") {
        return serve();
    }
    let kind = args.first().cloned().unwrap_or_else(|| "http".into());
    let n: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(200);
    let every = Duration::from_millis(args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(1000));
    let secs: u64 = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(20);

    let mut server = std::process::Command::new(std::env::current_exe()?)
        .arg("serve")
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let mut port = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.take().ok_or("no stdout")?),
        &mut port,
    )?;
    let port: u16 = port.trim().parse()?;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = rt.block_on(load(&kind, port, n, every, Duration::from_secs(secs)));
    let _ = server.kill();
    let _ = server.wait();
    result
}

async fn load(
    kind: &str,
    port: u16,
    n: usize,
    every: Duration,
    run_for: Duration,
) -> Result<(), Box<dyn std::error::Error>> {
    let client = web::client()?;
    let mut metrics = BTreeMap::new();
    let mut probes = ProbeMap::new();
    for i in 0..n {
        let name = format!("m{i:04}");
        let url = format!("http://127.0.0.1:{port}/metrics");
        let (probe, source): (Arc<dyn Probe>, Source) = match kind {
            "scrape" => (
                Arc::new(ScrapeProbe::new(
                    client.clone(),
                    &url,
                    r#"shop_requests_total{code="500"}"#,
                    false,
                    None,
                    Duration::from_secs(2),
                )?),
                Source::Scrape {
                    url,
                    series: String::new(),
                    rate: false,
                    quantile: None,
                },
            ),
            _ => (
                Arc::new(HttpProbe::new(client.clone(), &url, 200, None)?),
                Source::Http {
                    url,
                    expect_status: 200,
                    expect_body: None,
                },
            ),
        };
        probes.insert(name.clone(), probe);
        metrics.insert(
            name.clone(),
            Metric {
                name,
                source,
                every,
                timeout: Duration::from_secs(2),
                unit: None,
            },
        );
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel(4096);
    // Warm-up: let every sampler connect once before measuring.
    let samplers = spawn_samplers(&metrics, &probes, tx);
    let warm = Instant::now();
    let mut seen = 0;
    while seen < n && warm.elapsed() < Duration::from_secs(10) {
        if rx.recv().await.is_some() {
            seen += 1;
        }
    }
    let cpu0 = cpu_time();
    let t0 = Instant::now();
    let (mut ok, mut err) = (0u64, 0u64);
    let mut values = Vec::new();
    let mut first_err = None;
    while t0.elapsed() < run_for {
        match tokio::time::timeout(run_for.saturating_sub(t0.elapsed()), rx.recv()).await {
            Ok(Some(s)) => match s.reading {
                Ok(v) => {
                    ok += 1;
                    values.push(v);
                }
                Err(e) => {
                    err += 1;
                    first_err.get_or_insert(e);
                }
            },
            _ => break,
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_time() - cpu0;
    drop(samplers);
    let total = (ok + err) as f64;
    let target = n as f64 / every.as_secs_f64();
    println!("kind={kind} probes={n} every={every:?} measured={wall:.1}s");
    println!(
        "samples: {ok} ok, {err} failed → {:.0} samples/s (target {target:.0}/s)",
        total / wall
    );
    if let Some(e) = first_err {
        println!("first failure: {e}");
    }
    println!(
        "CPU (metric layer only): {cpu:.2}s user+sys over {wall:.1}s = {:.1}% of one core, {:.0} µs per sample",
        100.0 * cpu / wall,
        1e6 * cpu / total.max(1.0)
    );
    if kind == "http" && !values.is_empty() {
        values.sort_by(f64::total_cmp);
        let q = |p: f64| values[((values.len() - 1) as f64 * p) as usize];
        println!(
            "probe response time: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            q(0.5),
            q(0.99),
            q(1.0)
        );
    }
    Ok(())
}

/// User + system CPU seconds of this process.
fn cpu_time() -> f64 {
    // SAFETY: getrusage only writes the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// The loopback server: keep-alive HTTP/1.1, every request answered with a realistic /metrics page.
fn serve() -> Result<(), Box<dyn std::error::Error>> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        println!("{}", listener.local_addr()?.port());
        let body = page();
        let resp: Arc<[u8]> = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
        .into();
        loop {
            let (sock, _) = listener.accept().await?;
            let resp = resp.clone();
            tokio::spawn(async move {
                let (r, mut w) = sock.into_split();
                let mut r = BufReader::new(r);
                let mut buf = vec![0u8; 8192];
                let mut pending = Vec::new();
                loop {
                    let Ok(n) = r.read(&mut buf).await else { return };
                    if n == 0 {
                        return;
                    }
                    pending.extend_from_slice(&buf[..n]);
                    while let Some(i) = pending.windows(4).position(|x| x == b"\r\n\r\n") {
                        pending.drain(..i + 4);
                        if w.write_all(&resp).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    })
}

/// About 60 lines: counters, a gauge and a labelled histogram, like a small service exposes.
fn page() -> String {
    let mut s =
        String::from("# HELP shop_requests_total Requests.\n# TYPE shop_requests_total counter\n");
    for code in ["200", "404", "500", "503"] {
        s.push_str(&format!(
            "shop_requests_total{{shop=\"shop-1\",code=\"{code}\"}} 12345\n"
        ));
    }
    s.push_str("# TYPE shop_inflight gauge\nshop_inflight 3\n");
    s.push_str("# TYPE shop_request_duration_seconds histogram\n");
    for route in ["/checkout", "/health", "/cart"] {
        let mut c = 0;
        for le in [
            "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf",
        ] {
            c += 100;
            s.push_str(&format!(
                "shop_request_duration_seconds_bucket{{route=\"{route}\",le=\"{le}\"}} {c}\n"
            ));
        }
        s.push_str(&format!(
            "shop_request_duration_seconds_sum{{route=\"{route}\"}} 42.5\nshop_request_duration_seconds_count{{route=\"{route}\"}} {c}\n"
        ));
    }
    s
}
