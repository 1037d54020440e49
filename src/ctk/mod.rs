//! `gameday run experiment.json|yaml`: a Chaos Toolkit experiment (validated by
//! [`crate::scenario::ctk`]) run with `chaos run`'s semantics, into gameday's journal.
//!
//! The order is chaostoolkit-lib's: the steady-state hypothesis before (a probe that fails or is
//! out of tolerance ends it: the method is not run), the method in order (background activities
//! alongside, waited for at its end), the hypothesis after (out of tolerance: `deviated`), then
//! the rollbacks. Where gameday is stricter, each difference is journaled as
//! [`Event::CtkStricter`]: rollbacks run on every exit path (chaostoolkit's default strategy skips
//! them when the status is `failed` or `interrupted`), a halt or a signal stops the run and rolls
//! back, the run has a max duration, an activity without a timeout gets
//! [`limits::CTK_DEFAULT_TIMEOUT`], and a rollback is confirmed only by exit 0 / an HTTP status
//! below 400.
//!
//! The run's shape is the engine's: [`Command`]s in (a `Halt` from signals headless, from the console's
//! `X`; its notes and milestones), journaled [`Envelope`]s out on a broadcast channel.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

use crate::engine::Command;
use crate::event::{Envelope, Event, Phase, RuleCheck, Verdict};
use crate::journal::JournalWriter;
use crate::metric::web;
use crate::scenario::ctk::{Activity, Arguments, ConfigValue, Experiment, Pause, Provider};
use crate::scenario::{Scenario, Step, limits};
use crate::target::local;
use crate::{exit, headless};

mod recover;
#[cfg(test)]
mod tests;
mod tolerance;

pub use recover::{RecoverError, Recovered, is_ctk_journal, recover};
use tolerance::{python_json, python_str, substitute_str};
pub use tolerance::{substitute, within_tolerance};

/// What the command line adds to an experiment.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// `--max-duration`; default [`Experiment::max_duration_with`].
    pub max_duration: Option<Duration>,
    /// `--ctk-journal FILE`: also write chaostoolkit's `journal.json` there.
    pub ctk_journal: Option<PathBuf>,
    /// Halt (and roll back) when every command sender is gone: the console's, whose task ended
    /// without ending the run (a panic). Off headless, where only signals send commands.
    pub halt_when_alone: bool,
}

/// The experiment with its configuration and secrets read from the environment, every pause known
/// and every process path found: ready to run.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub experiment: Arc<Experiment>,
    /// `${name}` values: configuration first, then every secrets scope (chaostoolkit's order).
    values: Arc<Map<String, Value>>,
    /// Secret values, for the journal's redaction.
    pub secrets: Vec<String>,
    pub max_duration: Duration,
    /// Activities that set no timeout and get the default.
    untimed: Vec<String>,
    halt_when_alone: bool,
}

/// Reads the configuration and secrets (`env` looks a variable up) and checks what can only be
/// checked now; an error says what to do, and nothing has run.
pub fn prepare(
    experiment: Experiment,
    env: &dyn Fn(&str) -> Option<String>,
    options: &RunOptions,
) -> Result<Prepared, String> {
    let mut values = Map::new();
    for (name, v) in &experiment.configuration {
        let value = match v {
            ConfigValue::Static(v) => v.clone(),
            ConfigValue::Env { key, default } => match (env(key), default) {
                (Some(s), _) => Value::String(s),
                (None, Some(d)) => d.clone(),
                (None, None) => {
                    return Err(format!(
                        "configuration `{name}` reads environment variable `{key}`, which is not set: export it (or give a `default`)"
                    ));
                }
            },
        };
        values.insert(name.clone(), value);
    }
    let mut secrets = Vec::new();
    for (scope, name, key) in &experiment.secrets {
        let Some(s) = env(key) else {
            return Err(format!(
                "secret `{scope}.{name}` reads environment variable `{key}`, which is not set: export it before the run"
            ));
        };
        secrets.push(s.clone());
        values.entry(name.clone()).or_insert(Value::String(s));
    }
    let mut untimed = Vec::new();
    let mut pauses_ok = Ok(());
    let mut pause_of = |p: &Pause| match pause_seconds(p, &values) {
        Ok(d) => d,
        Err(e) => {
            if pauses_ok.is_ok() {
                pauses_ok = Err(e);
            }
            Duration::ZERO
        }
    };
    let default_max = experiment.max_duration_with(&mut pause_of);
    pauses_ok?;
    for a in experiment.activities() {
        if a.provider.timeout().is_none() && !untimed.contains(&a.name) {
            untimed.push(a.name.clone());
        }
        if let Provider::Process { path, .. } = &a.provider
            && local::which(path).is_none()
        {
            return Err(format!(
                "{}:{}:{}: activity `{}`: program `{path}` is not found (on PATH) or not executable; nothing was run",
                experiment.file.display(),
                a.line,
                a.column,
                a.name
            ));
        }
    }
    let max_duration = options.max_duration.unwrap_or(default_max);
    if max_duration.is_zero() || max_duration > limits::MAX_RUN {
        return Err(format!(
            "--max-duration must be more than 0 and at most {}",
            crate::fmt::duration(limits::MAX_RUN)
        ));
    }
    Ok(Prepared {
        experiment: Arc::new(experiment),
        values: Arc::new(values),
        secrets,
        max_duration,
        untimed,
        halt_when_alone: options.halt_when_alone,
    })
}

fn pause_seconds(p: &Pause, values: &Map<String, Value>) -> Result<Duration, String> {
    let s = match p {
        Pause::Seconds(s) => *s,
        Pause::Var(name) => match values.get(name) {
            Some(Value::Number(n)) => n.as_f64().unwrap_or(-1.0),
            Some(Value::String(s)) if s.trim().parse::<f64>().is_ok() => {
                s.trim().parse::<f64>().unwrap_or(-1.0)
            }
            _ => {
                return Err(format!(
                    "pause `${{{name}}}`: the configuration has no number `{name}`"
                ));
            }
        },
    };
    let max = limits::CTK_MAX_PAUSE.as_secs_f64();
    if !(0.0..=max).contains(&s) {
        return Err(format!("a pause of {s} s: pauses are 0 to {max} seconds"));
    }
    Ok(Duration::from_secs_f64(s))
}

/// The two HTTP clients a run may need (`verify_tls: false` gets the second), both with the
/// metric sources' settings (`metric::web::client`).
#[derive(Clone)]
struct Clients {
    strict: reqwest::Client,
    insecure: reqwest::Client,
    /// The run's id and the next activity token: every process an activity starts carries
    /// `GAMEDAY_RUN=<run>/<token>` (`local::RUN_ENV`), so that `recover` can end what the
    /// activities still running when a run died left. Tokens count up from the runner's start
    /// time in nanoseconds, so a `recover`'s own activities never reuse the dead run's.
    run_id: String,
    next_token: Arc<std::sync::atomic::AtomicU64>,
}

impl Clients {
    fn new(run_id: &str) -> Result<Clients, String> {
        let base = Utc::now()
            .timestamp_nanos_opt()
            .and_then(|n| u64::try_from(n).ok())
            .unwrap_or(0);
        Ok(Clients {
            run_id: run_id.to_string(),
            next_token: Arc::new(std::sync::atomic::AtomicU64::new(base)),
            strict: web::client().map_err(|e| e.to_string())?,
            insecure: web::client_accepting_any_certificate().map_err(|e| e.to_string())?,
        })
    }
}

/// What one activity did, in chaostoolkit's terms.
#[derive(Debug, Clone)]
struct Ran {
    ok: bool,
    output: Value,
    error: Option<String>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    /// A process activity's token (`GAMEDAY_RUN=<run>/<token>`).
    token: Option<u64>,
}

async fn run_provider(
    p: &Provider,
    values: &Map<String, Value>,
    clients: &Clients,
    token: u64,
) -> Result<Value, String> {
    match p {
        Provider::Process {
            path,
            arguments,
            timeout,
        } => {
            let program =
                local::which(path).ok_or_else(|| format!("program `{path}` is not found"))?;
            let quote = |s: &str| {
                shlex::try_quote(s)
                    .map(|q| q.into_owned())
                    .map_err(|_| "an argument holds a NUL byte".to_string())
            };
            let mut line = quote(&program.display().to_string())?;
            match arguments {
                Arguments::List(args) => {
                    line.insert_str(0, "exec ");
                    for a in args {
                        let a = substitute(a, values);
                        if a.is_null() || a.as_str() == Some("") {
                            continue;
                        }
                        line.push(' ');
                        line.push_str(&quote(&python_str(&a))?);
                    }
                }
                Arguments::Line(text) => {
                    line.push(' ');
                    line.push_str(&python_str(&substitute_str(text, values)));
                }
            }
            let timeout = timeout.unwrap_or(limits::CTK_DEFAULT_TIMEOUT);
            // A halt drops this future: `local` then kills the activity's whole process group, as
            // at its timeout (the group is held in memory, never in a file a local user could
            // plant).
            let out = local::exec_marked(&line, timeout, &clients.run_id, token).await;
            let status = match (out.exit, out.error.as_deref()) {
                (Some(code), _) => i64::from(code),
                // Python reports a process killed by signal N as status -N.
                (None, Some(e)) if e.starts_with("killed by signal ") => e
                    ["killed by signal ".len()..]
                    .parse::<i64>()
                    .map(|n| -n)
                    .map_err(|_| e.to_string())?,
                (None, e) => return Err(e.unwrap_or("no exit status").to_string()),
            };
            Ok(json!({"status": status, "stdout": out.stdout, "stderr": out.stderr}))
        }
        Provider::Http {
            url,
            method,
            headers,
            arguments,
            timeout,
            verify_tls,
        } => {
            let url = python_str(&substitute_str(url, values));
            let mut url = web::check_url(&url).map_err(|e| e.to_string())?;
            let method = reqwest::Method::from_bytes(method.as_bytes())
                .map_err(|_| format!("`{method}` is not an HTTP method"))?;
            let client = if *verify_tls {
                &clients.strict
            } else {
                &clients.insecure
            };
            let headers: Vec<(String, String)> = headers
                .iter()
                .map(|(k, v)| (k.clone(), python_str(&substitute_str(v, values))))
                .collect();
            let args = arguments.as_ref().map(|a| substitute(a, values));
            let is_json = headers
                .iter()
                .any(|(k, v)| k.eq_ignore_ascii_case("content-type") && v == "application/json");
            let mut body = None;
            match (&args, method == reqwest::Method::GET) {
                (None | Some(Value::Null), _) => {}
                (Some(Value::Object(m)), true) => {
                    let mut q = url.query_pairs_mut();
                    for (k, v) in m {
                        q.append_pair(k, &python_str(v));
                    }
                }
                (Some(_), true) => {}
                (Some(a), false) if is_json => body = Some(python_json(a)),
                (Some(Value::Object(m)), false) => {
                    // A form, encoded by the URL crate's serializer (reqwest's `form` is off).
                    let mut u =
                        reqwest::Url::parse("http://form.invalid/").map_err(|e| e.to_string())?;
                    u.query_pairs_mut()
                        .extend_pairs(m.iter().map(|(k, v)| (k.clone(), python_str(v))));
                    body = Some(u.query().unwrap_or("").to_string());
                }
                (Some(a), false) => body = Some(python_str(a)),
            }
            let mut req = client.request(method, url);
            for (k, v) in &headers {
                req = req.header(k.as_str(), v.as_str());
            }
            if let Some(b) = body {
                if !is_json
                    && !headers
                        .iter()
                        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
                {
                    req = req.header("content-type", "application/x-www-form-urlencoded");
                }
                req = req.body(b);
            }
            let limit = timeout.unwrap_or(limits::CTK_DEFAULT_TIMEOUT);
            let call = async {
                let resp = req.send().await.map_err(|e| web::describe(&e))?;
                let status = resp.status().as_u16();
                let mut hdrs = Map::new();
                for (k, v) in resp.headers() {
                    hdrs.insert(
                        k.as_str().to_string(),
                        Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()),
                    );
                }
                let json_body = resp
                    .headers()
                    .get(reqwest::header::CONTENT_TYPE)
                    .is_some_and(|v| v.as_bytes() == b"application/json");
                let bytes = web::read_capped(resp, web::MAX_PROBE_BODY).await?;
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let body = if json_body {
                    serde_json::from_str(&text).unwrap_or(Value::String(text))
                } else {
                    Value::String(text)
                };
                Ok::<Value, String>(json!({"status": status, "headers": hdrs, "body": body}))
            };
            match tokio::time::timeout(limit, call).await {
                Ok(r) => r,
                Err(_) => Err(format!(
                    "activity took too long to complete (timed out after {})",
                    crate::fmt::duration(limit)
                )),
            }
        }
    }
}

async fn run_activity(a: &Activity, values: &Map<String, Value>, clients: &Clients) -> Ran {
    let token = matches!(a.provider, Provider::Process { .. }).then(|| {
        clients
            .next_token
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    });
    let start = Utc::now();
    let result = run_provider(&a.provider, values, clients, token.unwrap_or(0)).await;
    let end = Utc::now();
    match result {
        Ok(output) => Ran {
            ok: true,
            output,
            error: None,
            start,
            end,
            token,
        },
        Err(e) => Ran {
            ok: false,
            output: Value::Null,
            error: Some(e),
            start,
            end,
            token,
        },
    }
}

/// How a run ended, in chaostoolkit's words and gameday's.
#[derive(Debug, Clone, PartialEq)]
pub struct CtkOutcome {
    /// chaostoolkit's `status`: completed, failed, aborted or interrupted.
    pub status: String,
    pub deviated: bool,
    pub verdict: Verdict,
    pub exit_code: u8,
    /// The names of the rollbacks that ran, in order.
    pub rollbacks: Vec<String>,
    /// Whether `chaos run` (default rollback strategy) would have run the rollbacks.
    pub ctk_would_roll_back: bool,
    pub journal: PathBuf,
}

/// One record of chaostoolkit's journal (`run`, `rollbacks`, a hypothesis's `probes`).
fn ctk_run(a: &Activity, ran: &Ran, tolerance_met: Option<bool>) -> Value {
    let mut v = json!({
        "activity": a.raw,
        "output": ran.output,
        "status": if ran.ok { "succeeded" } else { "failed" },
        "start": ran.start.to_rfc3339(),
        "end": ran.end.to_rfc3339(),
        "duration": (ran.end - ran.start).num_milliseconds() as f64 / 1000.0,
    });
    if let Some(o) = v.as_object_mut() {
        if let Some(t) = tolerance_met {
            o.insert("tolerance_met".into(), Value::Bool(t));
        }
        if let Some(e) = &ran.error {
            o.insert("exception".into(), json!([e]));
        }
    }
    v
}

struct Runner {
    p: Prepared,
    clients: Clients,
    journal: JournalWriter,
    events: broadcast::Sender<Arc<Envelope>>,
    commands: mpsc::Receiver<Command>,
    commands_open: bool,
    deadline: Instant,
    /// Why the run was stopped (halt, signal, max duration).
    halted: Option<String>,
    journal_failed: bool,
    ctk: Map<String, Value>,
}

enum Interrupted {
    Halt,
}

impl Runner {
    fn emit(&mut self, event: Event) {
        match self.journal.append(Utc::now(), event) {
            Ok(env) => {
                let _ = self.events.send(Arc::new(env));
            }
            Err(e) => {
                self.journal_failed = true;
                tracing::error!(error = %e, "a Chaos Toolkit record could not be journaled");
            }
        }
    }

    /// Runs `fut` unless a halt or the max duration comes first.
    async fn interruptible<F: std::future::Future>(
        &mut self,
        fut: F,
    ) -> Result<F::Output, Interrupted> {
        if self.halted.is_some() {
            return Err(Interrupted::Halt);
        }
        let mut fut = std::pin::pin!(fut);
        loop {
            tokio::select! {
                out = &mut fut => return Ok(out),
                cmd = self.commands.recv(), if self.commands_open => match cmd {
                    Some(Command::Halt { by, reason }) => {
                        self.emit(Event::HaltRequested { by: by.clone(), reason: reason.clone() });
                        self.halted = Some(format!("halted by {by}: {reason}"));
                        return Err(Interrupted::Halt);
                    }
                    Some(other) => self.on_command(other),
                    None => {
                        self.commands_open = false;
                        if self.p.halt_when_alone {
                            let reason = "the console is gone".to_string();
                            self.emit(Event::HaltRequested {
                                by: "gameday".into(),
                                reason: reason.clone(),
                            });
                            self.halted = Some(reason);
                            return Err(Interrupted::Halt);
                        }
                    }
                },
                () = tokio::time::sleep_until(self.deadline) => {
                    let reason = format!(
                        "max duration {} reached",
                        crate::fmt::duration(self.p.max_duration)
                    );
                    self.emit(Event::HaltRequested { by: "gameday".into(), reason: reason.clone() });
                    self.halted = Some(reason);
                    return Err(Interrupted::Halt);
                }
            }
        }
    }

    /// Runs `fut` to its end (a rollback, a pause between them), journaling the notes and
    /// milestones that come meanwhile; a halt now only says that the rollbacks are under way.
    async fn unstoppable<F: std::future::Future>(&mut self, fut: F) -> F::Output {
        let mut fut = std::pin::pin!(fut);
        loop {
            // Commands first: what was sent before the activity ended is journaled before it.
            tokio::select! {
                biased;
                cmd = self.commands.recv(), if self.commands_open => match cmd {
                    Some(Command::Halt { by, .. }) => {
                        tracing::info!(%by, "halt during the rollbacks: they run to their end");
                    }
                    Some(other) => self.on_command(other),
                    None => self.commands_open = false,
                },
                out = &mut fut => return out,
            }
        }
    }

    /// What is not a halt: notes, milestones, note edits and retractions are journaled as the
    /// engine journals them (a note holds no metrics or faults: an experiment has neither);
    /// advance, proceed, checks and seats mean nothing to an experiment and are ignored.
    fn on_command(&mut self, cmd: Command) {
        match cmd.into_record(Default::default) {
            Ok(record) => self.emit(record),
            Err(other) => {
                tracing::info!(command = ?other, "ignored: a Chaos Toolkit run does not take it");
            }
        }
    }

    /// Journals what the console sent that is still queued (a note saved just before the end).
    fn drain_commands(&mut self) {
        while self.commands_open {
            match self.commands.try_recv() {
                Ok(Command::Halt { .. }) => {}
                Ok(other) => self.on_command(other),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => self.commands_open = false,
            }
        }
    }

    fn record(&mut self, phase: Phase, a: &Activity, ran: &Ran, tolerance_met: Option<bool>) {
        let ms = u64::try_from((ran.end - ran.start).num_milliseconds()).unwrap_or(0);
        // The log is not redacted by the journal: scrub the secrets here.
        let error = ran
            .error
            .as_deref()
            .map(|e| web::Redactor::new(self.p.secrets.clone()).scrub(e));
        tracing::info!(?phase, activity = %a.name, ok = ran.ok, ms, error = ?error, "ctk activity");
        self.emit(Event::CtkActivity {
            phase,
            name: a.name.clone(),
            activity: a.kind.name().into(),
            provider: a.provider.type_name().into(),
            status: if ran.ok { "succeeded" } else { "failed" }.into(),
            background: a.background,
            ms,
            output: ran.output.clone(),
            error: ran.error.clone(),
            tolerance_met,
            process: ran.token,
        });
    }

    async fn pause(&mut self, p: Option<&Pause>, stoppable: bool) -> Result<(), Interrupted> {
        let Some(p) = p else { return Ok(()) };
        let d = pause_seconds(p, &self.p.values).unwrap_or(Duration::ZERO);
        if stoppable {
            self.interruptible(tokio::time::sleep(d)).await
        } else {
            self.unstoppable(tokio::time::sleep(d)).await;
            Ok(())
        }
    }

    /// One foreground activity with its pauses. A halt during it ends it (as failed).
    async fn activity(
        &mut self,
        a: &Activity,
        stoppable: bool,
    ) -> (Result<(), Interrupted>, Option<Ran>) {
        if let Err(i) = self.pause(a.pause_before.as_ref(), stoppable).await {
            return (Err(i), None);
        }
        let values = self.p.values.clone();
        let clients = self.clients.clone();
        let fut = run_activity(a, &values, &clients);
        let ran = if stoppable {
            let start = Utc::now();
            match self.interruptible(fut).await {
                Ok(r) => r,
                Err(i) => {
                    let ran = Ran {
                        ok: false,
                        output: Value::Null,
                        error: Some(self.halted.clone().unwrap_or_default()),
                        start,
                        end: Utc::now(),
                        // Not ended: what it left is still the run's to end.
                        token: None,
                    };
                    return (Err(i), Some(ran));
                }
            }
        } else {
            self.unstoppable(fut).await
        };
        let after = self.pause(a.pause_after.as_ref(), stoppable).await;
        (after, Some(ran))
    }

    /// The steady-state hypothesis: `Some(met)`, or `None` when halted. Records the probes.
    async fn hypothesis(&mut self, phase: Phase) -> (Option<bool>, Value) {
        let exp = self.p.experiment.clone();
        let Some(h) = &exp.hypothesis else {
            return (Some(true), Value::Null);
        };
        self.emit(Event::PhaseStarted { phase });
        let mut probes = Vec::new();
        let mut checks = Vec::new();
        let mut met = Some(true);
        for probe in &h.probes {
            let (r, ran) = self.activity(probe, true).await;
            let Some(ran) = ran else {
                met = None;
                break;
            };
            let tm = ran.ok
                && r.is_ok()
                && probe
                    .tolerance
                    .as_ref()
                    .is_none_or(|t| within_tolerance(t, &ran.output, &self.p.values));
            self.record(phase, probe, &ran, Some(tm));
            probes.push(ctk_run(probe, &ran, Some(tm)));
            checks.push(RuleCheck {
                rule: probe.name.clone(),
                metric: format!("ctk {} probe", probe.provider.type_name()),
                value: ran.output.get("status").and_then(Value::as_f64),
                held: tm,
                reason: ran.error.clone(),
            });
            if r.is_err() {
                met = None;
                break;
            }
            if !tm {
                met = Some(false);
                break;
            }
        }
        if let Some(m) = met {
            self.emit(Event::SteadyState {
                phase,
                held: m,
                checks,
            });
        }
        let state = json!({"steady_state_met": met, "probes": probes});
        (met, state)
    }

    /// Activities in order, background ones alongside and waited for at the end. Returns the CTK
    /// records in start order, and whether a halt stopped them.
    async fn activities(
        &mut self,
        phase: Phase,
        list: &[Activity],
        stoppable: bool,
    ) -> (Vec<Value>, bool, Vec<(String, bool)>) {
        // In the order they were started, as chaostoolkit lists them.
        let mut records: Vec<(usize, Value)> = Vec::new();
        let mut done: Vec<(String, bool)> = Vec::new();
        let mut background: Vec<(usize, Activity, tokio::task::JoinHandle<Ran>)> = Vec::new();
        let mut halted = false;
        for (i, a) in list.iter().enumerate() {
            if phase == Phase::Steps {
                let planned = a.provider.timeout().unwrap_or(limits::CTK_DEFAULT_TIMEOUT);
                self.emit(Event::StepStarted {
                    index: i,
                    name: a.name.clone(),
                    duration_ms: u64::try_from(planned.as_millis()).unwrap_or(u64::MAX),
                    prompt: None,
                });
            }
            if a.background {
                let (a2, values, clients) =
                    (a.clone(), self.p.values.clone(), self.clients.clone());
                let pauses = (a.pause_before.clone(), a.pause_after.clone());
                let task = tokio::spawn(async move {
                    if let Some(p) = &pauses.0 {
                        tokio::time::sleep(pause_seconds(p, &values).unwrap_or_default()).await;
                    }
                    let ran = run_activity(&a2, &values, &clients).await;
                    if let Some(p) = &pauses.1 {
                        tokio::time::sleep(pause_seconds(p, &values).unwrap_or_default()).await;
                    }
                    ran
                });
                background.push((i, a.clone(), task));
            } else {
                let (r, ran) = self.activity(a, stoppable).await;
                if let Some(ran) = ran {
                    self.record(phase, a, &ran, None);
                    done.push((a.name.clone(), judged_ok(&ran)));
                    records.push((i, ctk_run(a, &ran, None)));
                }
                if r.is_err() {
                    halted = true;
                }
            }
            if phase == Phase::Steps {
                self.emit(Event::StepEnded {
                    index: i,
                    name: a.name.clone(),
                    advanced: false,
                });
            }
            if halted {
                break;
            }
        }
        for (i, a, mut task) in background {
            let joined = if stoppable && !halted {
                match self.interruptible(&mut task).await {
                    Ok(j) => Some(j),
                    Err(_) => {
                        halted = true;
                        None
                    }
                }
            } else if halted && stoppable {
                None
            } else {
                Some(self.unstoppable(&mut task).await)
            };
            let ran = match joined {
                Some(Ok(r)) => r,
                Some(Err(e)) => Ran {
                    ok: false,
                    output: Value::Null,
                    error: Some(format!("background task ended: {e}")),
                    start: Utc::now(),
                    end: Utc::now(),
                    token: None,
                },
                None => {
                    task.abort();
                    Ran {
                        ok: false,
                        output: Value::Null,
                        error: Some(self.halted.clone().unwrap_or_else(|| "halted".into())),
                        start: Utc::now(),
                        end: Utc::now(),
                        token: None,
                    }
                }
            };
            self.record(phase, &a, &ran, None);
            done.push((a.name.clone(), judged_ok(&ran)));
            records.push((i, ctk_run(&a, &ran, None)));
        }
        records.sort_by_key(|(t, _)| *t);
        (records.into_iter().map(|(_, v)| v).collect(), halted, done)
    }
}

/// A rollback is confirmed only when it ran and said so: exit 0, or an HTTP status below 400.
fn judged_ok(ran: &Ran) -> bool {
    ran.ok
        && ran
            .output
            .get("status")
            .and_then(Value::as_i64)
            .is_some_and(|s| {
                if ran.output.get("body").is_some() {
                    s < 400
                } else {
                    s == 0
                }
            })
}

/// The gameday scenario a CTK run is journaled as: the title, the hypothesis, one step per method
/// activity (no faults, no metrics), so `gameday report` reads it like any run.
pub fn scenario_of(exp: &Experiment, text: &[u8], max_duration: Duration) -> Scenario {
    use sha2::Digest as _;
    Scenario {
        file: exp.file.clone(),
        sha256: data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(text)),
        title: exp.title.clone(),
        description: exp.description.clone(),
        hypothesis: exp.hypothesis.as_ref().map_or_else(
            || "(no steady-state hypothesis)".into(),
            |h| h.title.clone(),
        ),
        runbook: None,
        roles: Default::default(),
        max_duration,
        recovery_watch: Duration::ZERO,
        checklist: Vec::new(),
        targets: Default::default(),
        metrics: Default::default(),
        steady_state: Vec::new(),
        abort: Vec::new(),
        steps: exp
            .method
            .iter()
            .map(|a| Step {
                name: a.name.clone(),
                duration: a.provider.timeout().unwrap_or(limits::CTK_DEFAULT_TIMEOUT),
                prompt: None,
                runbook: None,
                faults: Vec::new(),
                expect: None,
                halt_on_failure: false,
                success: Vec::new(),
                expand: Vec::new(),
            })
            .collect(),
        notify: Vec::new(),
        blast_radius: None,
    }
}

/// Runs a prepared experiment into `journal` (started, with the experiment's secrets redacted).
/// Commands in, envelopes out; returns how it ended. Never returns before the rollbacks ran.
pub async fn run(
    p: Prepared,
    journal: JournalWriter,
    events: broadcast::Sender<Arc<Envelope>>,
    commands: mpsc::Receiver<Command>,
    scenario: Scenario,
    ctk_journal: Option<&Path>,
) -> CtkOutcome {
    let clients = match Clients::new(journal.run_id()) {
        Ok(c) => c,
        Err(e) => {
            crate::errln!("gameday: {e}");
            return CtkOutcome {
                status: "failed".into(),
                deviated: false,
                verdict: Verdict::Aborted,
                exit_code: exit::INVALID,
                rollbacks: Vec::new(),
                ctk_would_roll_back: false,
                journal: journal.path().to_path_buf(),
            };
        }
    };
    // At most limits::MAX_RUN away; the fallback only guards the arithmetic.
    let now = Instant::now();
    let deadline = now.checked_add(p.max_duration).unwrap_or(now);
    let exp = p.experiment.clone();
    let mut r = Runner {
        p,
        clients,
        journal,
        events,
        commands,
        commands_open: true,
        deadline,
        halted: None,
        journal_failed: false,
        ctk: Map::new(),
    };
    let started = Utc::now();
    tracing::info!(experiment = %exp.file.display(), journal = %r.journal.path().display(),
        max_duration_ms = u64::try_from(r.p.max_duration.as_millis()).unwrap_or(u64::MAX), "ctk run started");
    r.emit(Event::RunStarted {
        scenario: Box::new(scenario),
        gameday_version: env!("CARGO_PKG_VERSION").into(),
        dry_run: None,
    });
    r.emit(Event::CtkStricter {
        what: format!(
            "the run is bounded by a max duration of {} (then halted and rolled back)",
            crate::fmt::duration(r.p.max_duration)
        ),
    });
    if !r.p.untimed.is_empty() {
        let names = r.p.untimed.join("`, `");
        r.emit(Event::CtkStricter {
            what: format!(
                "`{names}` set no timeout: each gets {} (chaos run would wait without end)",
                crate::fmt::duration(limits::CTK_DEFAULT_TIMEOUT)
            ),
        });
    }
    let mut status: Option<&str> = None;
    let mut deviated = false;
    let mut before_deviated = false;
    let with_ssh = exp
        .hypothesis
        .as_ref()
        .is_some_and(|h| !h.probes.is_empty());
    let mut ss_before = Value::Null;
    let mut ss_after = Value::Null;
    let mut run_records = Vec::new();
    // chaostoolkit's status once the hypothesis was checked (`met`: None when interrupted), and
    // whether it deviated.
    let judged = |met: Option<bool>, state: &Value| match met {
        None => (Some("interrupted"), false),
        Some(false) => {
            let failed = state["probes"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["status"] != "succeeded"));
            (Some(if failed { "failed" } else { "completed" }), true)
        }
        Some(true) => (None, false),
    };
    if with_ssh {
        let (met, state) = r.hypothesis(Phase::SteadyStateBefore).await;
        (status, before_deviated) = judged(met, &state);
        ss_before = state;
    }
    if status.is_none() {
        r.emit(Event::PhaseStarted {
            phase: Phase::Steps,
        });
        let (records, halted, _) = r.activities(Phase::Steps, &exp.method, true).await;
        run_records = records;
        if halted {
            status = Some("interrupted");
        }
    }
    if status.is_none() && with_ssh {
        let (met, state) = r.hypothesis(Phase::SteadyStateAfter).await;
        (status, deviated) = judged(met, &state);
        ss_after = state;
    }
    // chaostoolkit's default rollback strategy plays them unless the status is failed or
    // interrupted; gameday always does.
    let ctk_would_roll_back = !matches!(status, Some("failed" | "interrupted"));
    if !ctk_would_roll_back && !exp.rollbacks.is_empty() {
        r.emit(Event::CtkStricter {
            what: format!(
                "rollbacks run although chaos run (default strategy) would skip them: the status is {}",
                status.unwrap_or("completed")
            ),
        });
    }
    let mut rollback_records = Vec::new();
    let mut rolled: Vec<(String, bool)> = Vec::new();
    if !exp.rollbacks.is_empty() {
        r.emit(Event::PhaseStarted {
            phase: Phase::Rollback,
        });
        // Rollbacks are not stoppable: a second signal only says they are under way.
        let (records, _, done) = r.activities(Phase::Rollback, &exp.rollbacks, false).await;
        rollback_records = records;
        rolled = done;
    }
    let unconfirmed: Vec<&str> = rolled
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(n, _)| n.as_str())
        .collect();
    if !unconfirmed.is_empty() {
        r.emit(Event::CtkStricter {
            what: format!(
                "rollback `{}` did not confirm (failed, a non-zero exit or an HTTP status of 400 or more): a person must look",
                unconfirmed.join("`, `")
            ),
        });
    }
    let status = status.unwrap_or("completed").to_string();
    let (verdict, reason) = if !unconfirmed.is_empty() {
        (
            Verdict::ManualActionNeeded,
            "a rollback did not confirm; check the system by hand".to_string(),
        )
    } else if status == "interrupted" {
        (
            Verdict::Aborted,
            r.halted.clone().unwrap_or_else(|| "interrupted".into()),
        )
    } else if before_deviated {
        (
            Verdict::Violated,
            "the steady state did not hold before the method: the method was not run".into(),
        )
    } else if deviated {
        (
            Verdict::Violated,
            "the steady state deviated after the method".into(),
        )
    } else {
        (Verdict::Held, format!("chaos run status: {status}"))
    };
    r.drain_commands();
    tracing::info!(status = %status, deviated, ?verdict, reason = %reason, "ctk run ended");
    r.emit(Event::Verdict {
        verdict,
        exit_code: verdict.exit_code(),
        reason,
    });
    r.emit(Event::RunEnded);
    let ended = Utc::now();
    let mut exit_code = u8::try_from(verdict.exit_code()).unwrap_or(exit::MANUAL);
    if r.journal_failed || r.journal.unjournaled() > 0 {
        exit_code = exit::MANUAL;
    }
    r.ctk = json!({
        "chaoslib-version": Value::Null,
        "gameday-version": env!("CARGO_PKG_VERSION"),
        "platform": std::env::consts::OS,
        "node": Value::Null,
        "experiment": exp.raw,
        "start": started.to_rfc3339(),
        "end": ended.to_rfc3339(),
        "duration": (ended - started).num_milliseconds() as f64 / 1000.0,
        "status": status,
        "deviated": deviated,
        "steady_states": {"before": ss_before, "after": ss_after, "during": []},
        "run": run_records,
        "rollbacks": rollback_records,
    })
    .as_object()
    .cloned()
    .unwrap_or_default();
    if let Some(path) = ctk_journal {
        let redactor = web::Redactor::new(r.p.secrets.clone());
        let doc = scrub(Value::Object(r.ctk.clone()), &redactor);
        let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
        if let Err(e) = crate::write_atomic(path, text.as_bytes()) {
            crate::errln!(
                "gameday: cannot write the CTK journal {}: {e}",
                path.display()
            );
            exit_code = exit_code.max(exit::ABORTED);
        }
    }
    CtkOutcome {
        status,
        deviated,
        verdict,
        exit_code,
        rollbacks: rolled.into_iter().map(|(n, _)| n).collect(),
        ctk_would_roll_back,
        journal: r.journal.path().to_path_buf(),
    }
}

fn scrub(v: Value, redactor: &web::Redactor) -> Value {
    match v {
        Value::String(s) => Value::String(redactor.scrub(&s)),
        Value::Array(a) => Value::Array(a.into_iter().map(|x| scrub(x, redactor)).collect()),
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, x)| (k, scrub(x, redactor)))
                .collect(),
        ),
        other => other,
    }
}

/// `gameday run experiment.json --headless`: prepare (exit 2 when anything is missing, nothing
/// run), journal, the log (`start_logging` with the run's directory), one line per event on stdout,
/// signals halt and roll back. The caller writes the debrief.
pub async fn run_headless<G>(
    experiment: Experiment,
    journal: Option<PathBuf>,
    options: RunOptions,
    start_logging: impl FnOnce(&Path) -> G,
) -> (u8, Option<PathBuf>) {
    let text = std::fs::read(&experiment.file).unwrap_or_default();
    let p = match prepare(experiment, &|k| std::env::var(k).ok(), &options) {
        Ok(p) => p,
        Err(e) => {
            crate::errln!("gameday: {e}");
            crate::errln!("gameday: nothing was run");
            return (exit::INVALID, None);
        }
    };
    let scenario = scenario_of(&p.experiment, &text, p.max_duration);
    let mut writer = match JournalWriter::start_for(&scenario, journal) {
        Ok(w) => w,
        Err(e) => {
            crate::errln!("gameday: {e}; nothing was run");
            return (exit::INVALID, None);
        }
    };
    writer.redact(p.secrets.clone());
    let path = writer.path().to_path_buf();
    // The run's log beside its journal (`session::init_logging`), kept until the run ends.
    let _log = start_logging(path.parent().unwrap_or(Path::new(".")));
    let (tx, rx) = broadcast::channel(1024);
    let out: Box<dyn std::io::Write + Send> = if crate::stdout_reserved() {
        Box::new(std::io::stderr())
    } else {
        Box::new(std::io::stdout())
    };
    let printer = tokio::spawn(headless::print_events(rx, out));
    let (cmd_tx, cmd_rx) = mpsc::channel(16);
    let signals = tokio::spawn(async move {
        let mut signals = crate::signals();
        let mut first = true;
        while let Some(name) = signals.recv().await {
            if first {
                let _ = cmd_tx
                    .send(Command::Halt {
                        by: "signal".into(),
                        reason: format!("{name} received"),
                    })
                    .await;
                crate::errln!("gameday: {name}: halting and running the rollbacks…");
            } else {
                crate::errln!("gameday: {name}: rollbacks under way; gameday exits when they end");
            }
            first = false;
        }
    });
    let outcome = run(
        p,
        writer,
        tx,
        cmd_rx,
        scenario,
        options.ctk_journal.as_deref(),
    )
    .await;
    signals.abort();
    let _ = tokio::time::timeout(Duration::from_secs(5), printer).await;
    (outcome.exit_code, Some(path))
}
