//! The demo service ("shop"): a tiny HTTP/1.1 server with `/checkout`, `/health` and a Prometheus
//! `/metrics` endpoint. Its behaviour comes from knob files in its sandbox, so an ordinary shell command
//! sent over SSH (`echo 300 > faults/latency_ms`) really changes what the metrics show:
//!
//! | file | effect |
//! |---|---|
//! | `faults/latency_ms` | extra milliseconds on every `/checkout` |
//! | `faults/error_pct` | share of `/checkout` answered 500 (0–100) |
//! | `faults/stopped` | exists: the shop is down (connections are closed without an answer) |

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Upper bounds (seconds) of the latency histogram's buckets.
const BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
/// Baseline service time of a checkout, before any injected latency.
const BASE_LATENCY_MS: u64 = 12;

#[derive(Default)]
pub struct ShopStats {
    ok: AtomicU64,
    errors: AtomicU64,
    /// Cumulative per bucket, plus +Inf at the end.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    /// Sum of latencies in microseconds.
    sum_us: AtomicU64,
}

impl ShopStats {
    fn observe(&self, ok: bool, latency: Duration) {
        if ok {
            self.ok.fetch_add(1, Ordering::Relaxed);
        } else {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        let secs = latency.as_secs_f64();
        for (i, le) in BUCKETS.iter().enumerate() {
            if secs <= *le {
                self.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.buckets[BUCKETS.len()].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(
            u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// Prometheus text exposition format.
    pub fn render(&self, shop: &str) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "# HELP shop_requests_total Checkout requests by status code."
        );
        let _ = writeln!(s, "# TYPE shop_requests_total counter");
        let _ = writeln!(
            s,
            "shop_requests_total{{shop=\"{shop}\",code=\"200\"}} {}",
            self.ok.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            s,
            "shop_requests_total{{shop=\"{shop}\",code=\"500\"}} {}",
            self.errors.load(Ordering::Relaxed)
        );
        let _ = writeln!(s, "# HELP shop_request_duration_seconds Checkout latency.");
        let _ = writeln!(s, "# TYPE shop_request_duration_seconds histogram");
        for (i, le) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                s,
                "shop_request_duration_seconds_bucket{{shop=\"{shop}\",le=\"{le}\"}} {}",
                self.buckets[i].load(Ordering::Relaxed)
            );
        }
        let count = self.buckets[BUCKETS.len()].load(Ordering::Relaxed);
        let _ = writeln!(
            s,
            "shop_request_duration_seconds_bucket{{shop=\"{shop}\",le=\"+Inf\"}} {count}"
        );
        let sum = self.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(
            s,
            "shop_request_duration_seconds_sum{{shop=\"{shop}\"}} {sum}"
        );
        let _ = writeln!(
            s,
            "shop_request_duration_seconds_count{{shop=\"{shop}\"}} {count}"
        );
        s
    }
}

/// The knobs as read from the sandbox.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Knobs {
    pub latency_ms: u64,
    pub error_pct: u64,
    pub stopped: bool,
}

impl Knobs {
    pub fn read(sandbox: &Path) -> Knobs {
        let dir = sandbox.join("faults");
        let num = |name: &str| {
            std::fs::read_to_string(dir.join(name))
                .ok()
                .and_then(|t| t.trim().parse::<u64>().ok())
                .unwrap_or(0)
        };
        Knobs {
            latency_ms: num("latency_ms").min(60_000),
            error_pct: num("error_pct").min(100),
            stopped: dir.join("stopped").exists(),
        }
    }
}

pub struct Shop {
    pub name: String,
    pub port: u16,
    pub sandbox: PathBuf,
    pub stats: Arc<ShopStats>,
    task: JoinHandle<()>,
}

impl Shop {
    /// Starts a shop on 127.0.0.1 (a free port) serving from `sandbox`.
    pub async fn start(name: &str, sandbox: &Path) -> std::io::Result<Shop> {
        std::fs::create_dir_all(sandbox.join("faults"))?;
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let stats = Arc::new(ShopStats::default());
        let ctx = Arc::new(Ctx {
            name: name.to_string(),
            sandbox: sandbox.to_path_buf(),
            stats: stats.clone(),
            seq: AtomicU64::new(0),
        });
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let ctx = ctx.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, &ctx).await;
                });
            }
        });
        Ok(Shop {
            name: name.to_string(),
            port,
            sandbox: sandbox.to_path_buf(),
            stats,
            task,
        })
    }

    /// Checkouts served so far, any status.
    pub fn stats_total(&self) -> u64 {
        self.stats.ok.load(Ordering::Relaxed) + self.stats.errors.load(Ordering::Relaxed)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Shop {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Ctx {
    name: String,
    sandbox: PathBuf,
    stats: Arc<ShopStats>,
    seq: AtomicU64,
}

/// Serves one connection, keep-alive, until the client closes it.
async fn serve(mut stream: TcpStream, ctx: &Ctx) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::with_capacity(1024);
    loop {
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            if buf.len() > 16 * 1024 {
                return Ok(());
            }
            let mut chunk = [0u8; 2048];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        buf.drain(..head_end);
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
        let close = head.to_ascii_lowercase().contains("connection: close");
        let knobs = Knobs::read(&ctx.sandbox);
        if knobs.stopped {
            // A stopped shop answers nothing: probes see a failed connection.
            return Ok(());
        }
        let (status, body, content_type) = match path.as_str() {
            "/metrics" => (
                200,
                ctx.stats.render(&ctx.name),
                "text/plain; version=0.0.4",
            ),
            "/health" => (200, "ok\n".to_string(), "text/plain"),
            "/checkout" | "/" => {
                let started = tokio::time::Instant::now();
                tokio::time::sleep(Duration::from_millis(BASE_LATENCY_MS + knobs.latency_ms)).await;
                // Deterministic error share: request n fails when its slot in 0..100 is below error_pct.
                let n = ctx.seq.fetch_add(1, Ordering::Relaxed);
                let ok = (n * 37 % 100) >= knobs.error_pct;
                ctx.stats.observe(ok, started.elapsed());
                if ok {
                    (200, "order placed\n".to_string(), "text/plain")
                } else {
                    (500, "payment backend error\n".to_string(), "text/plain")
                }
            }
            _ => (404, "not found\n".to_string(), "text/plain"),
        };
        let reason = match status {
            200 => "OK",
            404 => "Not Found",
            _ => "Internal Server Error",
        };
        let response = format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n{}\r\n{body}",
            body.len(),
            if close { "connection: close\r\n" } else { "" }
        );
        stream.write_all(response.as_bytes()).await?;
        if close {
            return Ok(());
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// One GET over a fresh connection, for tests and the load generator: (status, body).
pub async fn get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
    let _ = s.set_nodelay(true);
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nhost: shop\r\nconnection: close\r\n\r\n").as_bytes(),
    )
    .await?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).await?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("no HTTP status in the answer"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn knobs_change_what_the_shop_does() {
        let dir = tempfile::tempdir().unwrap();
        let shop = Shop::start("shop-1", dir.path()).await.unwrap();
        assert_eq!(get(shop.port, "/health").await.unwrap().0, 200);
        assert_eq!(get(shop.port, "/checkout").await.unwrap().0, 200);

        std::fs::write(dir.path().join("faults/error_pct"), "100\n").unwrap();
        assert_eq!(get(shop.port, "/checkout").await.unwrap().0, 500);

        std::fs::write(dir.path().join("faults/error_pct"), "0\n").unwrap();
        std::fs::write(dir.path().join("faults/stopped"), "").unwrap();
        assert!(
            get(shop.port, "/health").await.is_err(),
            "a stopped shop does not answer"
        );
        std::fs::remove_file(dir.path().join("faults/stopped")).unwrap();

        let (code, metrics) = get(shop.port, "/metrics").await.unwrap();
        assert_eq!(code, 200);
        assert!(
            metrics.contains("shop_requests_total{shop=\"shop-1\",code=\"200\"} 1"),
            "{metrics}"
        );
        assert!(
            metrics.contains("shop_requests_total{shop=\"shop-1\",code=\"500\"} 1"),
            "{metrics}"
        );
        assert!(
            metrics.contains("shop_request_duration_seconds_count{shop=\"shop-1\"} 2"),
            "{metrics}"
        );
        assert!(metrics.contains("le=\"+Inf\"} 2"), "{metrics}");
    }

    #[test]
    fn error_share_is_deterministic() {
        // Over any 100 consecutive requests exactly error_pct fail.
        for pct in [0u64, 5, 30, 100] {
            let fails = (0..100u64).filter(|n| (n * 37 % 100) < pct).count() as u64;
            assert_eq!(fails, pct);
        }
    }

    #[test]
    fn knobs_are_clamped_and_default_to_zero() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("faults")).unwrap();
        assert_eq!(Knobs::read(dir.path()), Knobs::default());
        std::fs::write(dir.path().join("faults/error_pct"), "250").unwrap();
        std::fs::write(dir.path().join("faults/latency_ms"), "garbage").unwrap();
        let k = Knobs::read(dir.path());
        assert_eq!((k.error_pct, k.latency_ms), (100, 0));
    }
}
