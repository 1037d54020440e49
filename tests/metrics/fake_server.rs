//! Test helpers for the metric tests: a tiny HTTP/1.1 server on a loopback port, written on tokio
//! TCP (no server framework), whose every answer is scripted.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the server does with a request.
#[derive(Clone)]
pub enum Behavior {
    /// A complete answer.
    Respond {
        status: u16,
        content_type: &'static str,
        body: String,
    },
    /// Headers, then body chunks of `chunk` bytes every `every`, forever.
    EndlessBody { chunk: usize, every: Duration },
    /// Accepts the connection and reads the request, then says nothing, ever.
    Hang,
    /// `/metrics` with one gauge whose value the test sets through [`FakeServer::set`].
    Gauge { name: &'static str },
    /// As `Gauge`, with an explicit timestamp (now) on the sample, as federation and some
    /// exporters send: Prometheus writes no staleness marker for such a series when it goes away.
    StampedGauge { name: &'static str },
    /// `status` with the request's `Authorization` header echoed in the body, as some servers and
    /// proxies do in their errors: a Prometheus JSON error, or plain text.
    EchoAuth { status: u16, json: bool },
}

pub struct FakeServer {
    pub addr: SocketAddr,
    value: Arc<AtomicU64>,
    requests: Arc<AtomicUsize>,
    headers: Arc<Mutex<Vec<String>>>,
    bodies: Arc<Mutex<Vec<String>>>,
    behavior: Arc<Mutex<Behavior>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeServer {
    pub async fn start(behavior: Behavior) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let value = Arc::new(AtomicU64::new(0f64.to_bits()));
        let requests = Arc::new(AtomicUsize::new(0));
        let headers = Arc::new(Mutex::new(Vec::new()));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let behavior = Arc::new(Mutex::new(behavior));
        let (v, r, h, b, bo) = (
            value.clone(),
            requests.clone(),
            headers.clone(),
            behavior.clone(),
            bodies.clone(),
        );
        let task = tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let (b, v, r, h, bo) = (b.clone(), v.clone(), r.clone(), h.clone(), bo.clone());
                tokio::spawn(async move {
                    let _ = serve(sock, b, v, r, h, bo).await;
                });
            }
        });
        FakeServer {
            addr,
            value,
            requests,
            headers,
            bodies,
            behavior,
            task,
        }
    }

    /// Every request body received so far (POSTs).
    pub fn bodies(&self) -> Vec<String> {
        self.bodies.lock().unwrap().clone()
    }

    /// Changes what the server does from the next request on.
    pub fn behave(&self, b: Behavior) {
        *self.behavior.lock().unwrap() = b;
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn set(&self, v: f64) {
        self.value.store(v.to_bits(), Ordering::SeqCst);
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Every request head received so far, for checking what the client sent.
    pub fn heads(&self) -> Vec<String> {
        self.headers.lock().unwrap().clone()
    }
}

async fn serve(
    mut sock: TcpStream,
    behavior: Arc<Mutex<Behavior>>,
    value: Arc<AtomicU64>,
    requests: Arc<AtomicUsize>,
    heads: Arc<Mutex<Vec<String>>>,
    bodies: Arc<Mutex<Vec<String>>>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    loop {
        // One request head (GET only: no bodies to skip).
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            let n = sock.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        buf.drain(..head_end);
        // A body (POST): as long as content-length says.
        let len = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        while buf.len() < len {
            let mut chunk = [0u8; 4096];
            let n = sock.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        if len > 0 {
            bodies
                .lock()
                .unwrap()
                .push(String::from_utf8_lossy(&buf[..len]).into_owned());
            buf.drain(..len);
        }
        requests.fetch_add(1, Ordering::SeqCst);
        heads.lock().unwrap().push(head.clone());
        let behavior = behavior.lock().unwrap().clone();
        match &behavior {
            Behavior::Respond {
                status,
                content_type,
                body,
            } => {
                let resp = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                sock.write_all(resp.as_bytes()).await?;
            }
            Behavior::Gauge { name } => {
                let v = f64::from_bits(value.load(Ordering::SeqCst));
                let body =
                    format!("# HELP {name} A test gauge.\n# TYPE {name} gauge\n{name} {v}\n");
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                sock.write_all(resp.as_bytes()).await?;
            }
            Behavior::StampedGauge { name } => {
                let v = f64::from_bits(value.load(Ordering::SeqCst));
                let now_ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis();
                let body = format!("# TYPE {name} gauge\n{name} {v} {now_ms}\n");
                let resp = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                sock.write_all(resp.as_bytes()).await?;
            }
            Behavior::EchoAuth { status, json } => {
                let auth = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("authorization")
                            .then(|| v.trim().to_string())
                    })
                    .unwrap_or_default();
                let (content_type, body) = if *json {
                    let error = format!("invalid request: header Authorization: {auth} rejected");
                    (
                        "application/json",
                        serde_json::json!({"status": "error", "errorType": "bad_data", "error": error})
                            .to_string(),
                    )
                } else {
                    (
                        "text/plain",
                        format!("bad request (Authorization: {auth})\n"),
                    )
                };
                let resp = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                sock.write_all(resp.as_bytes()).await?;
            }
            Behavior::EndlessBody { chunk, every } => {
                sock.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n",
                )
                .await?;
                let data = format!("{:x}\r\n{}\r\n", chunk, " ".repeat(*chunk));
                loop {
                    sock.write_all(data.as_bytes()).await?;
                    if !every.is_zero() {
                        tokio::time::sleep(*every).await;
                    }
                }
            }
            Behavior::Hang => {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// A Prometheus API answer with one vector sample per value.
pub fn prom_vector(values: &[&str]) -> String {
    let result: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(r#"{{"metric":{{"__name__":"x","pod":"p{i}"}},"value":[1700000000.5,"{v}"]}}"#)
        })
        .collect();
    format!(
        r#"{{"status":"success","data":{{"resultType":"vector","result":[{}]}}}}"#,
        result.join(",")
    )
}

pub fn json(status: u16, body: impl Into<String>) -> Behavior {
    Behavior::Respond {
        status,
        content_type: "application/json",
        body: body.into(),
    }
}

pub fn text(status: u16, body: impl Into<String>) -> Behavior {
    Behavior::Respond {
        status,
        content_type: "text/plain; version=0.0.4",
        body: body.into(),
    }
}

/// A scenario around one metric and one abort rule, with one step that injects a harmless local
/// fault (so a Halt has something to roll back).
pub fn scenario_yaml(metric: &str, abort: &str, step_secs: u64) -> String {
    format!(
        r#"title: metrics test
hypothesis: the abort rule guards the run
max_duration: 10m
targets:
  here: {{ local: true }}
metrics:
  m: {metric}
abort:
  - {abort}
steps:
  - name: Fault
    duration: {step_secs}s
    faults:
      - kind: command
        id: f1
        target: here
        inject: "true"
        rollback: "true"
"#
    )
}
