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
//! The run's shape is the engine's: [`Command`]s in (a `Halt` from signals today, from a console
//! later), journaled [`Envelope`]s out on a broadcast channel.

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
use crate::scenario::ctk::{
    Activity, Arguments, ConfigValue, Experiment, Pause, Provider, Tolerance,
};
use crate::scenario::{Scenario, Step, limits};
use crate::target::Host as _;
use crate::target::local::LocalHost;
use crate::{exit, headless};

/// What the command line adds to an experiment.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// `--max-duration`; default [`Experiment::max_duration_with`].
    pub max_duration: Option<Duration>,
    /// `--ctk-journal FILE`: also write chaostoolkit's `journal.json` there.
    pub ctk_journal: Option<PathBuf>,
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
            && which(path).is_none()
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

/// `shutil.which`: a path with a `/` as it is (`~/` expanded), else the first executable on PATH.
fn which(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    let program = match (program.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest).display().to_string(),
        _ => program.to_string(),
    };
    if program.contains('/') {
        let p = PathBuf::from(&program);
        return executable(&p).then_some(p);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(&program))
        .find(|p| executable(p))
}

/// chaostoolkit's `substitute`: `${name}` (or `$name`) from the values, recursively; a string that
/// is one reference becomes the value itself, typed; unknown names stay as written.
pub fn substitute(v: &Value, values: &Map<String, Value>) -> Value {
    match v {
        Value::String(s) => substitute_str(s, values),
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute(x, values)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), substitute(x, values)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn substitute_str(s: &str, values: &Map<String, Value>) -> Value {
    if let Some(name) = s.strip_prefix("${").and_then(|r| r.strip_suffix('}'))
        && is_identifier(name)
        && let Some(v) = values.get(name)
    {
        return v.clone();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
            continue;
        }
        let (name, len) = if let Some(r) = after.strip_prefix('{') {
            match r.find('}') {
                Some(end) if is_identifier(&r[..end]) => (&r[..end], end + 2),
                _ => ("", 0),
            }
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            let name = &after[..end];
            if is_identifier(name) {
                (name, end)
            } else {
                ("", 0)
            }
        };
        match values.get(name).filter(|_| len > 0) {
            Some(v) => {
                out.push_str(&python_str(v));
                rest = &after[len..];
            }
            None => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Value::String(out)
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// How Python's `str()` writes a value (what chaostoolkit puts into a string or an argument).
fn python_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Null => "None".into(),
        other => other.to_string(),
    }
}

/// JSON as Python's `json.dumps` writes it by default (what `requests` sends for `json=`): `", "` and
/// `": "` separators, non-ASCII escaped as `\uXXXX`.
fn python_json(v: &Value) -> String {
    let mut out = String::new();
    write_python_json(v, &mut out);
    out
}

fn write_python_json(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => {
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    '\u{8}' => out.push_str("\\b"),
                    '\u{c}' => out.push_str("\\f"),
                    c if c.is_ascii() && !c.is_ascii_control() => out.push(c),
                    c => {
                        let mut units = [0u16; 2];
                        for u in c.encode_utf16(&mut units) {
                            out.push_str(&format!("\\u{u:04x}"));
                        }
                    }
                }
            }
            out.push('"');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_python_json(x, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_python_json(&Value::String(k.clone()), out);
                out.push_str(": ");
                write_python_json(x, out);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// Python's `==` on JSON values: numbers by value (1 == 1.0, True == 1).
fn py_eq(a: &Value, b: &Value) -> bool {
    let num = |v: &Value| match v {
        Value::Number(n) => n.as_f64(),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    };
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| py_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, p)| y.get(k).is_some_and(|q| py_eq(p, q)))
        }
        _ => match (num(a), num(b)) {
            (Some(x), Some(y)) => x == y,
            _ => a == b,
        },
    }
}

/// chaostoolkit's `within_tolerance` for the tolerances gameday accepts.
pub fn within_tolerance(t: &Tolerance, output: &Value, values: &Map<String, Value>) -> bool {
    let status = output.as_object().and_then(|o| o.get("status"));
    let target = |name: &str| output.get(name).unwrap_or(output);
    match t {
        Tolerance::Bool(b) => py_eq(output, &Value::Bool(*b)) && !output.is_number(),
        Tolerance::Int(i) => match status {
            Some(s) => py_eq(s, &Value::from(*i)),
            None => py_eq(output, &Value::from(*i)),
        },
        Tolerance::Str(s) => py_eq(output, &substitute_str(s, values)),
        Tolerance::List(items) => match status {
            Some(s) => items.iter().any(|i| py_eq(s, i)),
            None if items.len() == 2 => {
                match (output.as_f64(), items[0].as_f64(), items[1].as_f64()) {
                    (Some(v), Some(lo), Some(hi)) => lo <= v && v <= hi,
                    _ => false,
                }
            }
            None => items.iter().any(|i| py_eq(output, i)),
        },
        Tolerance::Regex { pattern, target: t } => {
            let pattern = python_str(&substitute_str(pattern, values));
            match (regex::Regex::new(&pattern), target(t)) {
                // Python's `$` also matches before a final newline (`echo` output): try both.
                (Ok(rx), Value::String(s)) => {
                    rx.is_match(s) || s.strip_suffix('\n').is_some_and(|t| rx.is_match(t))
                }
                _ => false,
            }
        }
        Tolerance::JsonPath {
            path,
            target: t,
            count,
            expect,
        } => {
            let path = python_str(&substitute_str(path, values));
            let Ok(px) = crate::scenario::ctk::JsonPath::parse(&path) else {
                return false;
            };
            let mut value = t.as_deref().map_or(output, target).clone();
            if let Value::String(s) = &value
                && let Ok(parsed) = serde_json::from_str::<Value>(s)
            {
                value = parsed;
            }
            let found: Vec<Value> = px.matches(&value).into_iter().cloned().collect();
            let mut result = !found.is_empty();
            if let Some(n) = count {
                result = found.len() as u64 == *n;
            }
            if let Some(expect) = expect {
                let expect = substitute(expect, values);
                let want = match expect {
                    Value::Array(a) => a,
                    other => vec![other],
                };
                result = py_eq(&Value::Array(found), &Value::Array(want));
            }
            result
        }
        Tolerance::Range { lo, hi, target: t } => {
            let v = match target(t) {
                Value::Number(n) => n.as_f64(),
                Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            };
            v.is_some_and(|v| *lo <= v && v <= *hi)
        }
    }
}

/// The two HTTP clients a run may need (`verify_tls: false` gets the second), both with the
/// metric sources' settings (`metric::web::client`).
#[derive(Clone)]
struct Clients {
    strict: reqwest::Client,
    insecure: reqwest::Client,
}

impl Clients {
    fn new() -> Result<Clients, String> {
        Ok(Clients {
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
}

async fn run_provider(
    p: &Provider,
    values: &Map<String, Value>,
    clients: &Clients,
) -> Result<Value, String> {
    match p {
        Provider::Process {
            path,
            arguments,
            timeout,
        } => {
            let program = which(path).ok_or_else(|| format!("program `{path}` is not found"))?;
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
            // The shell writes its pid (its process group's id) first, so that a halt, which
            // drops this future, can kill the whole group as a timeout does.
            let mut group = GroupGuard::new();
            let line = format!(
                "echo $$ > {}; {line}",
                quote(&group.path.display().to_string())?
            );
            let out = LocalHost::new().exec(&line, timeout).await;
            group.done = true;
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

/// Kills a process activity's whole process group when its future is dropped before it ended (a
/// halt, the max duration, an aborted background activity): `target::local` kills the group at a
/// timeout, and only the shell when dropped. The group's id is the pid its shell wrote to `path`.
struct GroupGuard {
    path: PathBuf,
    done: bool,
}

impl GroupGuard {
    fn new() -> GroupGuard {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("gameday-ctk-{}-{n}.pid", std::process::id()));
        GroupGuard { path, done: false }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        let pid = std::fs::read_to_string(&self.path)
            .ok()
            .and_then(|t| t.trim().parse::<libc::pid_t>().ok())
            .filter(|p| *p > 1);
        if !self.done
            && let Some(pid) = pid
        {
            // SAFETY: killpg only sends a signal, to the group local.rs made for this shell.
            unsafe {
                libc::killpg(pid, libc::SIGKILL);
            }
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn run_activity(a: &Activity, values: &Map<String, Value>, clients: &Clients) -> Ran {
    let start = Utc::now();
    let result = run_provider(&a.provider, values, clients).await;
    let end = Utc::now();
    match result {
        Ok(output) => Ran {
            ok: true,
            output,
            error: None,
            start,
            end,
        },
        Err(e) => Ran {
            ok: false,
            output: Value::Null,
            error: Some(e),
            start,
            end,
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
                    Some(_) => {}
                    None => self.commands_open = false,
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
        });
    }

    async fn pause(&mut self, p: Option<&Pause>, stoppable: bool) -> Result<(), Interrupted> {
        let Some(p) = p else { return Ok(()) };
        let d = pause_seconds(p, &self.p.values).unwrap_or(Duration::ZERO);
        if stoppable {
            self.interruptible(tokio::time::sleep(d)).await
        } else {
            tokio::time::sleep(d).await;
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
                    };
                    return (Err(i), Some(ran));
                }
            }
        } else {
            fut.await
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
                Some((&mut task).await)
            };
            let ran = match joined {
                Some(Ok(r)) => r,
                Some(Err(e)) => Ran {
                    ok: false,
                    output: Value::Null,
                    error: Some(format!("background task ended: {e}")),
                    start: Utc::now(),
                    end: Utc::now(),
                },
                None => {
                    task.abort();
                    Ran {
                        ok: false,
                        output: Value::Null,
                        error: Some(self.halted.clone().unwrap_or_else(|| "halted".into())),
                        start: Utc::now(),
                        end: Utc::now(),
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
    let clients = match Clients::new() {
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
    let failed_probe = |state: &Value| {
        state["probes"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["status"] != "succeeded"))
    };
    if with_ssh {
        let (met, state) = r.hypothesis(Phase::SteadyStateBefore).await;
        match met {
            None => status = Some("interrupted"),
            Some(false) => {
                before_deviated = true;
                status = Some(if failed_probe(&state) {
                    "failed"
                } else {
                    "completed"
                });
            }
            Some(true) => {}
        }
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
        match met {
            None => status = Some("interrupted"),
            Some(false) => {
                deviated = true;
                status = Some(if failed_probe(&state) {
                    "failed"
                } else {
                    "completed"
                });
            }
            Some(true) => {}
        }
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

/// What `gameday recover` did for a Chaos Toolkit run that died (killed, power lost) before its
/// rollbacks were all run.
#[derive(Debug)]
pub struct Recovered {
    /// The rollbacks run now, each with whether it confirmed.
    pub ran: Vec<(String, bool)>,
    /// Rollbacks the journal shows already ran, left alone.
    pub skipped: Vec<String>,
    pub exit_code: u8,
}

/// Whether `journal` is a Chaos Toolkit run's: its `run_started` names an experiment file.
pub fn is_ctk_journal(journal: &Path) -> bool {
    let Ok(mut reader) = crate::journal::Reader::open(journal) else {
        return false;
    };
    match reader.next() {
        Some(Ok(env)) => match env.event {
            Event::RunStarted { scenario, .. } => {
                crate::scenario::ctk::is_file_an_experiment(&scenario.file)
            }
            _ => false,
        },
        _ => false,
    }
}

/// `gameday recover JOURNAL` of a Chaos Toolkit run that died: runs the experiment's rollbacks the
/// journal has no result for (in order; never one that already ran), journals them, and ends the
/// run with exit 3 (a run that died: a person must look). The experiment must be the file the run
/// started from, unchanged (its sha256 is in the journal), and its variables set again.
pub async fn recover(journal: &Path) -> Result<Recovered, RecoverError> {
    // The lock first: a live run's journal is refused and left untouched.
    let writer = JournalWriter::append_to(journal).map_err(|e| match e {
        crate::journal::JournalError::Locked { .. } => RecoverError::Live(e.to_string()),
        e => RecoverError::Failed(e.to_string()),
    })?;
    recover_with(writer, journal)
        .await
        .map_err(RecoverError::Failed)
}

/// Why `gameday recover` of a Chaos Toolkit run did nothing.
#[derive(Debug)]
pub enum RecoverError {
    /// The run is alive (it holds the journal's lock): it rolls back itself.
    Live(String),
    Failed(String),
}

async fn recover_with(writer: JournalWriter, journal: &Path) -> Result<Recovered, String> {
    let records = crate::journal::read(journal).map_err(|e| e.to_string())?;
    let mut scenario = None;
    let mut done: Vec<String> = Vec::new();
    let mut ended = false;
    for env in &records.events {
        match &env.event {
            Event::RunStarted { scenario: s, .. } => scenario = Some((**s).clone()),
            Event::CtkActivity {
                phase: Phase::Rollback,
                name,
                ..
            } => done.push(name.clone()),
            Event::RunEnded => ended = true,
            _ => {}
        }
    }
    let scenario = scenario.ok_or("the journal has no run_started")?;
    if ended {
        return Ok(Recovered {
            ran: Vec::new(),
            skipped: done,
            exit_code: exit::HELD,
        });
    }
    let text = std::fs::read(&scenario.file).map_err(|e| {
        format!(
            "cannot read the experiment {}: {e}",
            scenario.file.display()
        )
    })?;
    let experiment = Experiment::parse(&scenario.file, &String::from_utf8_lossy(&text))
        .map_err(|e| e.to_string())?;
    let now = scenario_of(&experiment, &text, scenario.max_duration);
    if now.sha256 != scenario.sha256 {
        return Err(format!(
            "{} changed since the run: run its rollbacks by hand (the journal lists the ones that ran)",
            scenario.file.display()
        ));
    }
    let p = prepare(
        experiment,
        &|k| std::env::var(k).ok(),
        &RunOptions::default(),
    )?;
    let mut writer = writer;
    writer.redact(p.secrets.clone());
    // Each rollback name once per time it is listed: a name that ran n times skips its first n.
    let mut skipped = Vec::new();
    let mut seen = done.clone();
    let todo: Vec<Activity> = p
        .experiment
        .rollbacks
        .iter()
        .filter(|a| match seen.iter().position(|n| n == &a.name) {
            Some(i) => {
                seen.remove(i);
                skipped.push(a.name.clone());
                false
            }
            None => true,
        })
        .cloned()
        .collect();
    let (events, _) = broadcast::channel(16);
    let (_commands_tx, commands) = mpsc::channel(1);
    let clients = Clients::new()?;
    let mut r = Runner {
        p,
        clients,
        journal: writer,
        events,
        commands,
        commands_open: false,
        deadline: Instant::now(),
        halted: None,
        journal_failed: false,
        ctk: Map::new(),
    };
    r.emit(Event::HaltRequested {
        by: "recover".into(),
        reason: format!(
            "gameday recover: the run died; {} rollback(s) without a result",
            todo.len()
        ),
    });
    r.emit(Event::CtkStricter {
        what:
            "gameday recover runs the rollbacks a run that died did not (chaos run has no recover)"
                .into(),
    });
    if !todo.is_empty() {
        r.emit(Event::PhaseStarted {
            phase: Phase::Rollback,
        });
    }
    let (_, _, ran) = r.activities(Phase::Rollback, &todo, false).await;
    r.emit(Event::Verdict {
        verdict: Verdict::ManualActionNeeded,
        exit_code: Verdict::ManualActionNeeded.exit_code(),
        reason: "the run died; gameday recover ran its remaining rollbacks: check the system"
            .into(),
    });
    r.emit(Event::RunEnded);
    Ok(Recovered {
        ran,
        skipped,
        exit_code: exit::MANUAL,
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Map<String, Value> {
        json!({"n": 5, "s": "x", "b": true})
            .as_object()
            .cloned()
            .unwrap()
    }

    #[test]
    fn substitution_is_typed_for_a_whole_reference_and_text_otherwise() {
        let v = values();
        assert_eq!(substitute_str("${n}", &v), json!(5));
        assert_eq!(
            substitute_str("a ${n} $s $b $$ ${nope}", &v),
            json!("a 5 x True $ ${nope}")
        );
    }

    #[test]
    fn json_bodies_are_written_as_python_writes_them() {
        let v = json!({"a": 1, "b": [true, null, 1.5], "s": "é\"\n\u{1F600}"});
        assert_eq!(
            python_json(&v),
            r#"{"a": 1, "b": [true, null, 1.5], "s": "\u00e9\"\n\ud83d\ude00"}"#
        );
    }

    #[test]
    fn tolerances_judge_as_chaostoolkit_does() {
        let v = values();
        let out = json!({"status": 0, "stdout": "ok 42\n", "stderr": ""});
        assert!(within_tolerance(&Tolerance::Int(0), &out, &v));
        assert!(!within_tolerance(&Tolerance::Int(1), &out, &v));
        assert!(within_tolerance(
            &Tolerance::List(vec![json!(0), json!(1)]),
            &out,
            &v
        ));
        // A bool or string tolerance compares the whole output, a mapping: never met.
        assert!(!within_tolerance(&Tolerance::Bool(true), &out, &v));
        assert!(!within_tolerance(&Tolerance::Str("ok".into()), &out, &v));
        let rx = |p: &str| Tolerance::Regex {
            pattern: p.into(),
            target: "stdout".into(),
        };
        assert!(within_tolerance(&rx("ok \\d+"), &out, &v));
        assert!(!within_tolerance(&rx("^\\d"), &out, &v));
        assert!(within_tolerance(&rx("^ok \\d+$"), &out, &v));
        let range = |lo, hi, t: &str| Tolerance::Range {
            lo,
            hi,
            target: t.into(),
        };
        assert!(within_tolerance(&range(-1.0, 1.0, "status"), &out, &v));
        assert!(!within_tolerance(&range(1.0, 2.0, "status"), &out, &v));
        let http = json!({"status": 200, "headers": {}, "body": "{\"a\": [1, 2], \"ok\": true}"});
        let jp = |p: &str, count, expect| Tolerance::JsonPath {
            path: p.into(),
            target: Some("body".into()),
            count,
            expect,
        };
        assert!(within_tolerance(&jp("$.a[*]", Some(2), None), &http, &v));
        assert!(within_tolerance(
            &jp("$.ok", None, Some(json!(true))),
            &http,
            &v
        ));
        assert!(!within_tolerance(
            &jp("$.ok", None, Some(json!(false))),
            &http,
            &v
        ));
        assert!(!within_tolerance(&jp("$.nope", None, None), &http, &v));
        assert!(within_tolerance(
            &jp("$.a", None, Some(json!([[1, 2]]))),
            &http,
            &v
        ));
    }

    /// Runs `text` with a journal in a temp dir; `halt_after_step` sends a Halt once the method's
    /// first step has started.
    async fn run_text(
        text: &str,
        options: RunOptions,
        halt_after_step: bool,
    ) -> (CtkOutcome, Vec<Event>) {
        run_text_halting(text, options, halt_after_step.then_some(None)).await
    }

    /// `halt`: `Some(file)` sends a Halt once the first step started (and `file`, when given,
    /// holds a whole line: bounded wait).
    async fn run_text_halting(
        text: &str,
        options: RunOptions,
        halt: Option<Option<PathBuf>>,
    ) -> (CtkOutcome, Vec<Event>) {
        let dir = tempfile::tempdir().unwrap();
        let exp = Experiment::parse(&dir.path().join("x.yaml"), text).unwrap();
        let state = dir.path().display().to_string();
        let env = move |k: &str| (k == "CTK_STATE").then(|| state.clone());
        let p = prepare(exp, &env, &options).unwrap();
        let scenario = scenario_of(&p.experiment, text.as_bytes(), p.max_duration);
        let journal = JournalWriter::create(&dir.path().join("j.jsonl"), "r").unwrap();
        let (tx, mut rx) = broadcast::channel::<Arc<Envelope>>(256);
        let (cmd_tx, cmd_rx) = mpsc::channel(4);
        let halter = tokio::spawn(async move {
            while let Ok(env) = rx.recv().await {
                if let Some(when) = &halt
                    && matches!(env.event, Event::StepStarted { .. })
                {
                    let deadline = std::time::Instant::now() + Duration::from_secs(10);
                    while when.as_ref().is_some_and(|f| {
                        std::fs::read_to_string(f).map_or(true, |t| !t.ends_with('\n'))
                    }) && std::time::Instant::now() < deadline
                    {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    let _ = cmd_tx
                        .send(Command::Halt {
                            by: "test".into(),
                            reason: "button".into(),
                        })
                        .await;
                }
            }
            drop(cmd_tx);
        });
        let out = run(p, journal, tx, cmd_rx, scenario, None).await;
        let _ = halter.await;
        let events = crate::journal::read(&dir.path().join("j.jsonl"))
            .unwrap()
            .events
            .into_iter()
            .map(|e| e.event)
            .collect();
        (out, events)
    }

    const SLOW: &str = "title: t
description: d
configuration: {state: {type: env, key: CTK_STATE}}
steady-state-hypothesis:
  title: h
  probes:
    - {type: probe, name: ok, tolerance: 0, provider: {type: process, path: 'true', timeout: 5}}
method:
  - {type: action, name: slow, provider: {type: process, path: sleep, arguments: ['30'], timeout: 60}}
  - {type: action, name: never, provider: {type: process, path: touch, arguments: ['${state}/never'], timeout: 5}}
rollbacks:
  - {type: action, name: undo, provider: {type: process, path: 'true', timeout: 5}}
";

    #[tokio::test]
    async fn a_halt_stops_the_method_and_still_rolls_back() {
        let (out, events) = run_text(SLOW, RunOptions::default(), true).await;
        assert_eq!(out.status, "interrupted");
        assert_eq!(out.verdict, Verdict::Aborted);
        assert_eq!(out.exit_code, exit::ABORTED);
        assert_eq!(out.rollbacks, vec!["undo".to_string()]);
        assert!(!out.ctk_would_roll_back);
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::HaltRequested { by, .. } if by == "test"))
        );
        assert!(
            events.iter().any(
                |e| matches!(e, Event::CtkStricter { what } if what.contains("would skip them"))
            )
        );
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, Event::CtkActivity { name, .. } if name == "never"))
        );
        assert!(matches!(events.last(), Some(Event::RunEnded)));
    }

    #[tokio::test]
    async fn a_halt_kills_what_the_activity_started() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("child.pid");
        let text = format!(
            "title: t\ndescription: d\nmethod:\n  - {{type: action, name: slow, provider: {{type: process, path: sh, arguments: ['-c', 'sleep 60 & echo $! > {}; wait'], timeout: 120}}}}\n",
            pidfile.display()
        );
        let (out, _) =
            run_text_halting(&text, RunOptions::default(), Some(Some(pidfile.clone()))).await;
        assert_eq!(out.status, "interrupted");
        let pid: libc::pid_t = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // Killed: gone, or a zombie until whoever adopted it reaps it, within a bounded wait.
        let alive = |pid: libc::pid_t| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
                s.rsplit_once(") ")
                    .is_some_and(|(_, rest)| !rest.starts_with('Z'))
            })
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while alive(pid) {
            assert!(
                std::time::Instant::now() < deadline,
                "the child outlived the halt"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_max_duration_halts_and_rolls_back() {
        let options = RunOptions {
            max_duration: Some(Duration::from_secs(2)),
            ctk_journal: None,
        };
        let (out, events) = run_text(SLOW, options, false).await;
        assert_eq!(out.status, "interrupted");
        assert_eq!(out.rollbacks, vec!["undo".to_string()]);
        assert!(events.iter().any(
            |e| matches!(e, Event::HaltRequested { reason, .. } if reason.contains("max duration 2s"))
        ));
    }

    #[tokio::test]
    async fn a_rollback_that_does_not_confirm_needs_a_person() {
        let text = "title: t\ndescription: d\nmethod: []\nrollbacks:\n  - {type: action, name: bad, provider: {type: process, path: 'false', timeout: 5}}\n";
        let (out, events) = run_text(text, RunOptions::default(), false).await;
        assert_eq!(out.status, "completed");
        assert_eq!(out.verdict, Verdict::ManualActionNeeded);
        assert_eq!(out.exit_code, exit::MANUAL);
        assert!(events.iter().any(
            |e| matches!(e, Event::CtkStricter { what } if what.contains("`bad` did not confirm"))
        ));
    }

    #[test]
    fn prepare_refuses_what_is_missing_before_anything_runs() {
        let exp = |text: &str| Experiment::parse(Path::new("x.yaml"), text).unwrap();
        let none = |_: &str| None;
        let e = prepare(
            exp("title: t\ndescription: d\nconfiguration: {p: {type: env, key: GD_NOPE}}\nmethod: []\n"),
            &none,
            &RunOptions::default(),
        )
        .unwrap_err();
        assert!(e.contains("GD_NOPE"), "{e}");
        let e = prepare(
            exp("title: t\ndescription: d\nmethod:\n  - {type: action, name: a, provider: {type: process, path: no-such-program-gd}}\n"),
            &none,
            &RunOptions::default(),
        )
        .unwrap_err();
        assert!(e.contains("x.yaml:4:5") && e.contains("not found"), "{e}");
        let e = prepare(
            exp("title: t\ndescription: d\nconfiguration: {w: many}\nmethod:\n  - {type: action, name: a, pauses: {after: '${w}'}, provider: {type: process, path: sh}}\n"),
            &none,
            &RunOptions::default(),
        )
        .unwrap_err();
        assert!(e.contains("no number `w`"), "{e}");
    }
}
