//! Announcing a run where the team already looks: Slack-compatible and generic JSON webhooks,
//! Grafana annotations (a point per event, a region for each fault's live window).
//!
//! Delivery never blocks or slows the engine: [`Notifier::offer`] only `try_send`s into a bounded
//! queue per target ([`QUEUE`]; when it is full the event is dropped and counted); one task per
//! target sends, each request bounded by [`TIMEOUT`], retried ([`ATTEMPTS`] in all, backoff from
//! [`BACKOFF`] doubling) on a transport error, 429 or 5xx. Every result comes back as a
//! [`Delivery`] the engine journals (`notified`). A dead endpoint is a warning, never an abort.
//! At the end the engine gives deliveries in flight at most [`DRAIN`] (after the verdict and
//! every rollback), then stops the rest.
//!
//! Secrets: a webhook URL from `url_env` and tokens from `token_env` are read from the environment
//! at start, sent only in the request (never in a label, a log line or an error: errors are
//! described without their URL) and on the journal's redaction list (`metric::secret_values`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::event::{Envelope, Event};
use crate::fold::describe::{HostNames, describe};
use crate::scenario::{Notify, NotifyOn, NotifyTo, Scenario, WebhookFormat};

/// Events waiting per target; more are dropped (and counted in the journal).
pub const QUEUE: usize = 256;
/// One request's limit (connect + response).
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// Tries per event, the first included.
pub const ATTEMPTS: u32 = 3;
/// Wait before the second try; doubles after each.
pub const BACKOFF: Duration = Duration::from_millis(500);
/// At the end of the run, how long deliveries in flight may still take.
pub const DRAIN: Duration = Duration::from_secs(10);
/// Response bodies are not read; errors say the status only.
const WHAT: &str = "notification";

/// The time limits of delivery ([`TIMEOUT`], [`BACKOFF`], [`DRAIN`] by default; tests shorten them).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub timeout: Duration,
    pub backoff: Duration,
    pub drain: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: TIMEOUT,
            backoff: BACKOFF,
            drain: DRAIN,
        }
    }
}

/// What one notification did (journaled as `notified`).
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The target's label (never a secret).
    pub to: String,
    /// The journal record it announced (0: none, e.g. a target that could not start).
    pub seq: u64,
    /// The record's type (`verdict`, `fault_injected`, …), or what went wrong before any.
    pub about: String,
    pub ok: bool,
    pub attempts: u32,
    pub status: Option<u16>,
    pub error: Option<String>,
}

/// The moment an event is, for `on:`; `None`: never announced.
pub fn moment(e: &Event) -> Option<NotifyOn> {
    Some(match e {
        Event::RunStarted { .. } | Event::RunEnded => NotifyOn::Run,
        Event::StepStarted { .. } => NotifyOn::Step,
        Event::FaultInjected { ok: true, .. } | Event::RollbackResult { .. } => NotifyOn::Fault,
        Event::RuleBreaching { .. } => NotifyOn::Breach,
        Event::RuleTripped { .. } => NotifyOn::Trip,
        Event::HaltRequested { .. } => NotifyOn::Halt,
        Event::StepResult { .. } => NotifyOn::StepResult,
        Event::Verdict { .. } => NotifyOn::Verdict,
        _ => return None,
    })
}

/// Text as Slack shows it: `&`, `<`, `>` escaped, so a note or a name can never become a link or
/// a mention (`<!channel>`, `<@U123>`) in the team's channel.
pub fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The record's `type` as journaled.
fn type_of(e: &Event) -> String {
    serde_json::to_value(e)
        .ok()
        .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_string))
        .unwrap_or_else(|| "event".into())
}

struct Queue {
    on: Vec<NotifyOn>,
    tx: mpsc::Sender<Arc<Envelope>>,
    label: String,
    dropped: u64,
    /// Events queued or being sent, not reported yet.
    pending: Arc<AtomicU64>,
}

/// The notification side of a run: owned by the engine.
pub struct Notifier {
    queues: Vec<Queue>,
    results: mpsc::UnboundedReceiver<Delivery>,
    tasks: JoinSet<()>,
    limits: Limits,
}

/// Where one target sends, with its secrets resolved.
struct Sender {
    label: String,
    to: NotifyTo,
    url: reqwest::Url,
    token: Option<String>,
    client: reqwest::Client,
    title: String,
    hosts: HostNames,
    /// Grafana: when each (fault, host) went in, for its region.
    injected: HashMap<(String, String), DateTime<Utc>>,
    limits: Limits,
    pending: Arc<AtomicU64>,
}

impl Notifier {
    /// Starts one task per target of `scenario.notify`. Targets that cannot start (a variable not
    /// set, a bad URL) come back as failed deliveries, to journal at once. `None` when nothing is
    /// to be sent.
    pub fn start(
        scenario: &Scenario,
        lookup: impl Fn(&str) -> Option<String>,
        limits: Limits,
    ) -> (Option<Notifier>, Vec<Delivery>) {
        if scenario.notify.is_empty() {
            return (None, vec![]);
        }
        let mut failed = Vec::new();
        let client = match crate::metric::web::client() {
            Ok(c) => c,
            Err(e) => {
                failed.push(Delivery {
                    to: "notify".into(),
                    seq: 0,
                    about: "start".into(),
                    ok: false,
                    attempts: 0,
                    status: None,
                    error: Some(format!("no HTTP client: {e}")),
                });
                return (None, failed);
            }
        };
        let (results_tx, results) = mpsc::unbounded_channel();
        let mut n = Notifier {
            queues: Vec::new(),
            results,
            tasks: JoinSet::new(),
            limits,
        };
        for target in &scenario.notify {
            let pending = Arc::new(AtomicU64::new(0));
            match Sender::new(
                target,
                &lookup,
                client.clone(),
                scenario,
                limits,
                pending.clone(),
            ) {
                Ok(sender) => {
                    let (tx, rx) = mpsc::channel(QUEUE);
                    n.queues.push(Queue {
                        on: target.on.clone(),
                        tx,
                        label: sender.label.clone(),
                        dropped: 0,
                        pending,
                    });
                    n.tasks.spawn(sender.run(rx, results_tx.clone()));
                }
                Err(why) => failed.push(Delivery {
                    to: target.label(),
                    seq: 0,
                    about: "start".into(),
                    ok: false,
                    attempts: 0,
                    status: None,
                    error: Some(why),
                }),
            }
        }
        let n = (!n.queues.is_empty()).then_some(n);
        (n, failed)
    }

    /// Hands an event to every target that wants it; never waits (a full queue drops it).
    pub fn offer(&mut self, env: &Arc<Envelope>) {
        let Some(m) = moment(&env.event) else {
            return;
        };
        for q in &mut self.queues {
            if !q.on.contains(&m) {
                continue;
            }
            q.pending.fetch_add(1, Ordering::SeqCst);
            if q.tx.try_send(env.clone()).is_err() {
                q.pending.fetch_sub(1, Ordering::SeqCst);
                q.dropped = q.dropped.saturating_add(1);
            }
        }
    }

    /// The deliveries finished since the last call.
    pub fn results(&mut self) -> Vec<Delivery> {
        let mut out = Vec::new();
        while let Ok(d) = self.results.try_recv() {
            out.push(d);
        }
        out
    }

    /// No more events: waits at most [`Limits::drain`] for deliveries in flight, stops the rest,
    /// and returns every result not taken yet, with one failed entry per target that dropped
    /// events or still had some in flight.
    pub async fn finish(mut self) -> Vec<Delivery> {
        let within = self.limits.drain;
        let mut dropped = Vec::new();
        let mut pending = Vec::new();
        for q in self.queues.drain(..) {
            pending.push((q.label.clone(), q.pending.clone()));
            if q.dropped > 0 {
                dropped.push(Delivery {
                    to: q.label,
                    seq: 0,
                    about: "queue".into(),
                    ok: false,
                    attempts: 0,
                    status: None,
                    error: Some(format!(
                        "{} event(s) not sent: the queue of {QUEUE} was full",
                        q.dropped
                    )),
                });
            }
            // Dropping the sender ends the target's task once its queue is empty.
        }
        let mut tasks = std::mem::take(&mut self.tasks);
        let all_done = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(within, all_done).await.is_err() {
            tracing::warn!(
                within_ms = within.as_millis() as u64,
                "notifications still in flight at the end: stopped"
            );
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
        let mut out = self.results();
        out.extend(dropped);
        for (label, left) in pending {
            let n = left.load(Ordering::SeqCst);
            if n > 0 {
                out.push(Delivery {
                    to: label,
                    seq: 0,
                    about: "end".into(),
                    ok: false,
                    attempts: 0,
                    status: None,
                    error: Some(format!(
                        "{n} event(s) still in flight {} after the run: stopped",
                        crate::fmt::duration(within)
                    )),
                });
            }
        }
        out
    }
}

impl Sender {
    fn new(
        target: &Notify,
        lookup: &impl Fn(&str) -> Option<String>,
        client: reqwest::Client,
        scenario: &Scenario,
        limits: Limits,
        pending: Arc<AtomicU64>,
    ) -> Result<Sender, String> {
        let env = |var: &str| {
            lookup(var).filter(|v| !v.is_empty()).ok_or_else(|| {
                format!("environment variable {var} is not set: nothing is sent there")
            })
        };
        let (url, token) = match &target.to {
            NotifyTo::Webhook {
                url,
                url_env,
                token_env,
                ..
            } => {
                let url = match (url, url_env) {
                    (Some(u), _) => u.clone(),
                    (None, Some(var)) => env(var)?,
                    (None, None) => return Err("no URL".into()),
                };
                let token = token_env.as_deref().map(env).transpose()?;
                (url, token)
            }
            NotifyTo::Grafana { url, token_env, .. } => {
                let base = url.trim_end_matches('/');
                (format!("{base}/api/annotations"), Some(env(token_env)?))
            }
        };
        // The URL may be a secret (from url_env): the error names the variable's target, not it.
        let url = crate::metric::web::check_url(&url)
            .map_err(|_| "the URL is not a valid http(s) URL without credentials".to_string())?;
        Ok(Sender {
            label: target.label(),
            to: target.to.clone(),
            url,
            token,
            client,
            title: scenario.title.clone(),
            hosts: HostNames::of(scenario),
            injected: HashMap::new(),
            limits,
            pending,
        })
    }

    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Arc<Envelope>>,
        results: mpsc::UnboundedSender<Delivery>,
    ) {
        while let Some(env) = rx.recv().await {
            let body = self.body(&env);
            let (ok, attempts, status, error) = self.send(&body).await;
            let _ = results.send(Delivery {
                to: self.label.clone(),
                seq: env.seq,
                about: type_of(&env.event),
                ok,
                attempts,
                status,
                error,
            });
            self.pending.fetch_sub(1, Ordering::SeqCst);
        }
    }

    fn body(&mut self, env: &Envelope) -> serde_json::Value {
        let (src, text) = describe(&env.event, &self.hosts);
        match &self.to {
            NotifyTo::Webhook {
                format: WebhookFormat::Slack,
                ..
            } => {
                json!({ "text": slack_escape(&format!("gameday · {}: {src}: {text}", self.title)) })
            }
            NotifyTo::Webhook { .. } => json!({
                "run": env.run,
                "scenario": self.title,
                "seq": env.seq,
                "ts": env.ts.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "type": type_of(&env.event),
                "source": src,
                "text": text,
            }),
            NotifyTo::Grafana {
                dashboard_uid,
                tags,
                ..
            } => {
                let mut tags: Vec<String> = tags.clone();
                tags.push("gameday".into());
                tags.push(format!("run:{}", env.run));
                tags.push(type_of(&env.event));
                let mut time = env.ts;
                let mut time_end = None;
                match &env.event {
                    Event::FaultInjected { fault, host, .. } => {
                        tags.push(format!("fault:{fault}"));
                        self.injected.insert((fault.clone(), host.clone()), env.ts);
                    }
                    Event::RollbackResult { fault, host, .. } => {
                        tags.push(format!("fault:{fault}"));
                        // The fault's live window as a region, from its inject to this result.
                        if let Some(from) = self.injected.remove(&(fault.clone(), host.clone())) {
                            time = from;
                            time_end = Some(env.ts);
                        }
                    }
                    _ => {}
                }
                let mut body = json!({
                    "time": time.timestamp_millis(),
                    "tags": tags,
                    "text": format!("{}: {src}: {text}", self.title),
                });
                if let Some(end) = time_end {
                    body["timeEnd"] = json!(end.timestamp_millis());
                }
                if let Some(uid) = dashboard_uid {
                    body["dashboardUID"] = json!(uid);
                }
                body
            }
        }
    }

    /// Posts `body`, retrying a transport error, 429 or 5xx. (ok, attempts, last status, error)
    async fn send(&self, body: &serde_json::Value) -> (bool, u32, Option<u16>, Option<String>) {
        let mut wait = self.limits.backoff;
        let mut last_status = None;
        let mut last_error = None;
        for attempt in 1..=ATTEMPTS {
            let mut req = self
                .client
                .post(self.url.clone())
                .timeout(self.limits.timeout)
                .json(body);
            if let Some(t) = &self.token {
                req = req.bearer_auth(t);
            }
            let retry = match req.send().await {
                Ok(resp) => {
                    let s = resp.status();
                    last_status = Some(s.as_u16());
                    if s.is_success() {
                        return (true, attempt, last_status, None);
                    }
                    last_error = Some(format!("{WHAT} answered HTTP {}", s.as_u16()));
                    s.as_u16() == 429 || s.is_server_error()
                }
                Err(e) => {
                    last_error = Some(crate::metric::web::describe(&e.without_url()));
                    true
                }
            };
            if !retry || attempt == ATTEMPTS {
                return (false, attempt, last_status, last_error);
            }
            tokio::time::sleep(wait).await;
            wait = wait.saturating_mul(2);
        }
        (false, ATTEMPTS, last_status, last_error)
    }
}
