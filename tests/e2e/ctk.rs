//! Chaos Toolkit experiments: `gameday run` against `chaos run` itself, on the experiments under
//! `tests/ctk/experiments/` (a loopback HTTP server started here, process probes with `sh` and
//! `test`): the same `status`, `deviated`, steady-state verdicts and method runs, and the same
//! rollbacks, except where gameday is stricter (and journals it). Then every refused feature is
//! refused with its place, and `gameday import`'s output is a scenario `gameday validate` accepts.
//!
//! `chaos` must be installed (`.ci/run` does it): these tests fail, not skip, without it.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const PIP: &str = "pip install chaostoolkit==1.19.0 'chaostoolkit-lib[jsonpath]==1.44.0'";

fn experiments() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ctk/experiments")
}

fn chaos() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("chaos"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("`chaos` (the Chaos Toolkit CLI) is not on PATH: run .ci/run, or `{PIP}`")
    })
}

/// The bearer token the loopback server accepts (`CTK_TOKEN` of the experiments).
const TOKEN: &str = "tok-test-5521";

/// A loopback HTTP/1.1 server: `/health` JSON, `/text` plain text, `/echo` what it was sent (method,
/// query, body parsed as JSON when it is, the form and its content type, whether the bearer token
/// was right), anything else 503.
fn serve() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    return;
                }
                let (mut length, mut ctype, mut auth) = (0usize, String::new(), String::new());
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) <= 2 {
                        break;
                    }
                    let (name, value) = line.split_once(':').unwrap_or((&line, ""));
                    let value = value.trim().to_string();
                    match name.to_ascii_lowercase().as_str() {
                        "content-length" => length = value.parse().unwrap_or(0),
                        "content-type" => ctype = value,
                        "authorization" => auth = value,
                        _ => {}
                    }
                }
                let mut body = vec![0u8; length];
                if std::io::Read::read_exact(&mut reader, &mut body).is_err() {
                    return;
                }
                let body = String::from_utf8_lossy(&body).into_owned();
                let mut parts = request.split_whitespace();
                let method = parts.next().unwrap_or("").to_string();
                let target = parts.next().unwrap_or("/");
                let (path, query) = target.split_once('?').unwrap_or((target, ""));
                let echo;
                let (status, ctype_out, text) = match path {
                    "/health" => (
                        "200 OK",
                        "application/json",
                        r#"{"ok": true, "items": [{"name": "a"}, {"name": "b"}]}"#,
                    ),
                    "/text" => ("200 OK", "text/plain", "hello 42"),
                    "/echo" => {
                        echo = serde_json::json!({
                            "method": method,
                            "query": query,
                            "json": serde_json::from_str::<Value>(&body).ok(),
                            "form": [body, ctype],
                            "auth": if auth == format!("Bearer {TOKEN}") { "yes" } else { "no" },
                        })
                        .to_string();
                        ("200 OK", "application/json", echo.as_str())
                    }
                    _ => ("503 Service Unavailable", "text/plain", "down"),
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: {ctype_out}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                    text.len()
                );
            });
        }
    });
    format!("http://{addr}")
}

struct Outcome {
    journal: Value,
    /// The `rb-*` marker files the rollbacks left in the state directory.
    markers: BTreeSet<String>,
    code: i32,
    dir: tempfile::TempDir,
}

fn markers(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("rb-") || n == "method-ran")
        .collect()
}

fn run_chaos(file: &Path, base: &str) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let journal = dir.path().join("journal.json");
    let out = Command::new(chaos())
        .args([
            "--no-log-file",
            "--no-version-check",
            "run",
            "--journal-path",
        ])
        .arg(&journal)
        .arg(file)
        .env("CTK_STATE", dir.path())
        .env("CTK_BASE", base)
        .env("CTK_TOKEN", TOKEN)
        .output()
        .unwrap();
    let text = std::fs::read_to_string(&journal).unwrap_or_else(|e| {
        panic!(
            "chaos run {} wrote no journal ({e}); is `{PIP}` installed? stderr:\n{}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    Outcome {
        journal: serde_json::from_str(&text).unwrap(),
        markers: markers(dir.path()),
        code: out.status.code().unwrap_or(-1),
        dir,
    }
}

fn run_gameday(file: &Path, base: &str) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let ctk = dir.path().join("journal.json");
    let out = Command::new(env!("CARGO_BIN_EXE_gameday"))
        .arg("run")
        .arg(file)
        .args(["--headless", "--journal"])
        .arg(dir.path().join("run/journal.jsonl"))
        .arg("--ctk-journal")
        .arg(&ctk)
        .env("CTK_STATE", dir.path())
        .env("CTK_BASE", base)
        .env("CTK_TOKEN", TOKEN)
        .output()
        .unwrap();
    let text = std::fs::read_to_string(&ctk).unwrap_or_else(|e| {
        panic!(
            "gameday wrote no CTK journal ({e}); stdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    Outcome {
        journal: serde_json::from_str(&text).unwrap(),
        markers: markers(dir.path()),
        code: out.status.code().unwrap_or(-1),
        dir,
    }
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    format!(
                        "{} {}",
                        r["activity"]["name"].as_str().unwrap_or("?"),
                        r["status"].as_str().unwrap_or("?")
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Each record's output as far as both sides must agree: the status, and stdout / a body that is
/// text (HTTP headers differ by client).
fn outputs(list: &Value) -> Vec<Value> {
    list.as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    let o = &r["output"];
                    serde_json::json!([o["status"], o["stdout"], o["body"]])
                })
                .collect()
        })
        .unwrap_or_default()
}

fn probes(state: &Value) -> Vec<(String, bool)> {
    state["probes"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    (
                        p["activity"]["name"].as_str().unwrap_or("?").to_string(),
                        p["tolerance_met"].as_bool().unwrap_or(false),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Runs `name` both ways and asserts they agree; returns both for the caller's own checks.
fn compare(name: &str) -> (Outcome, Outcome) {
    let base = serve();
    let file = experiments().join(name);
    let c = run_chaos(&file, &base);
    let g = run_gameday(&file, &base);
    let (cj, gj) = (&c.journal, &g.journal);
    assert_eq!(gj["status"], cj["status"], "{name}: status");
    assert_eq!(gj["deviated"], cj["deviated"], "{name}: deviated");
    assert_eq!(names(&gj["run"]), names(&cj["run"]), "{name}: method runs");
    assert_eq!(
        outputs(&gj["run"]),
        outputs(&cj["run"]),
        "{name}: method outputs"
    );
    for phase in ["before", "after"] {
        let (gs, cs) = (&gj["steady_states"][phase], &cj["steady_states"][phase]);
        assert_eq!(probes(gs), probes(cs), "{name}: steady state {phase}");
        assert_eq!(
            outputs(&gs["probes"]),
            outputs(&cs["probes"]),
            "{name}: steady state {phase} outputs"
        );
        assert_eq!(
            gs["steady_state_met"], cs["steady_state_met"],
            "{name}: steady state {phase} met"
        );
    }
    (c, g)
}

fn assert_same_rollbacks(name: &str, c: &Outcome, g: &Outcome) {
    assert_eq!(
        names(&g.journal["rollbacks"]),
        names(&c.journal["rollbacks"]),
        "{name}: rollbacks"
    );
    assert_eq!(g.markers, c.markers, "{name}: what the rollbacks left");
}

/// gameday's run journal (`run/journal.jsonl`) holds a `ctk_stricter` line saying `what`.
fn journaled_stricter(g: &Outcome, what: &str) -> bool {
    let text = std::fs::read_to_string(g.dir.path().join("run/journal.jsonl")).unwrap();
    text.lines()
        .any(|l| l.contains("\"type\":\"ctk_stricter\"") && l.contains(what))
}

#[test]
fn ctk_all_good_matches_chaos_run() {
    let (c, g) = compare("all-good.yaml");
    assert_eq!(g.journal["status"], "completed");
    assert_same_rollbacks("all-good", &c, &g);
    assert_eq!(
        g.markers,
        BTreeSet::from(["rb-mark-rolled-back".to_string()])
    );
    assert_eq!((c.code, g.code), (0, 0));
    // The debrief is written beside gameday's journal.
    assert!(g.dir.path().join("run/debrief.md").is_file());
}

#[test]
fn ctk_deviation_before_runs_no_method_and_matches_chaos_run() {
    let (c, g) = compare("deviation-before.json");
    assert_eq!(g.journal["run"], Value::Array(vec![]));
    assert!(!g.markers.contains("method-ran"));
    assert_same_rollbacks("deviation-before", &c, &g);
    assert_eq!(
        g.code, 1,
        "a steady state that does not hold before: exit 1"
    );
}

#[test]
fn ctk_deviation_after_matches_chaos_run() {
    let (c, g) = compare("deviation-after.yaml");
    assert_eq!(g.journal["deviated"], true);
    assert_same_rollbacks("deviation-after", &c, &g);
    assert_eq!(g.code, 1);
}

#[test]
fn ctk_a_failing_action_matches_chaos_run() {
    let (c, g) = compare("failing-action.yaml");
    assert_eq!(
        names(&g.journal["run"]),
        vec![
            "too-slow failed".to_string(),
            "exits-3 succeeded".to_string()
        ]
    );
    assert_same_rollbacks("failing-action", &c, &g);
}

#[test]
fn ctk_a_failing_probe_is_failed_and_gameday_rolls_back_where_chaos_run_does_not() {
    let (c, g) = compare("probe-fails.yaml");
    assert_eq!(g.journal["status"], "failed");
    // chaos run's default strategy skips the rollbacks of a failed run; gameday runs them, and
    // says so in its journal.
    assert_eq!(c.journal["rollbacks"], Value::Array(vec![]));
    assert!(c.markers.is_empty());
    assert_eq!(
        names(&g.journal["rollbacks"]),
        vec!["rb-always succeeded".to_string()]
    );
    assert_eq!(g.markers, BTreeSet::from(["rb-rb-always".to_string()]));
    assert!(journaled_stricter(&g, "would skip them"));
    // The debrief's timeline says so too.
    let debrief = std::fs::read_to_string(g.dir.path().join("run/debrief.md")).unwrap();
    assert!(
        debrief.contains("stricter than chaos run: rollbacks run although"),
        "{debrief}"
    );
    assert!(
        debrief.contains("rollback: action <code>rb-always</code>"),
        "{debrief}"
    );
}

#[test]
fn ctk_tolerances_background_and_refs_match_chaos_run() {
    let (c, g) = compare("tolerances.yaml");
    assert_eq!(g.journal["deviated"], false);
    assert_eq!(g.journal["status"], "completed");
    assert_same_rollbacks("tolerances", &c, &g);
}

#[test]
fn ctk_http_requests_are_sent_as_chaos_run_sends_them() {
    let (c, g) = compare("http-requests.yaml");
    let met = |o: &Outcome| probes(&o.journal["steady_states"]["before"]);
    assert!(met(&g).iter().all(|(_, m)| *m), "{:?}", met(&g));
    assert_eq!(met(&g).len(), 5);
    assert_eq!(g.journal["status"], "completed");
    assert_same_rollbacks("http-requests", &c, &g);
    // The token went out in a header, and is in none of gameday's records.
    let journal = std::fs::read_to_string(g.dir.path().join("run/journal.jsonl")).unwrap();
    assert!(!journal.contains(TOKEN));
}

#[test]
fn ctk_a_range_that_deviates_after_matches_chaos_run() {
    let (c, g) = compare("range-deviates.yaml");
    assert_eq!(g.journal["deviated"], true);
    assert_same_rollbacks("range-deviates", &c, &g);
}

/// `gameday validate` and `gameday run --headless` both refuse `text` with `FILE:LINE:COL: …says…`
/// and run nothing.
fn refused(text: &str, at: (u64, u64), says: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("experiment.yaml");
    std::fs::write(&file, text).unwrap();
    let want = format!("{}:{}:{}: ", file.display(), at.0, at.1);
    let out = Command::new(env!("CARGO_BIN_EXE_gameday"))
        .arg("validate")
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with(&want) && l.contains(says)),
        "want `{want}…{says}…` in:\n{stdout}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_gameday"))
        .arg("run")
        .arg(&file)
        .arg("--headless")
        .current_dir(dir.path())
        .env("CTK_STATE", dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!dir.path().join("ran").exists(), "something ran");
    assert!(!dir.path().join("runs").exists(), "a journal was started");
}

const ACTION: &str =
    "{type: action, name: a, provider: {type: process, path: touch, arguments: ['${state}/ran']}}";

fn with_method(extra: &str, method: &str) -> String {
    format!(
        "title: t\ndescription: d\nconfiguration: {{state: {{type: env, key: CTK_STATE}}}}\n{extra}method:\n  - {method}\n"
    )
}

#[test]
fn ctk_refuses_a_python_provider() {
    refused(
        &with_method(
            "",
            "{type: action, name: p, provider: {type: python, module: os, func: getcwd}}",
        ),
        (5, 46),
        "python providers",
    );
}

#[test]
fn ctk_refuses_controls() {
    refused(&with_method("controls: []\n", ACTION), (4, 1), "controls");
}

#[test]
fn ctk_refuses_extensions() {
    refused(
        &with_method("extensions: [{name: x}]\n", ACTION),
        (4, 1),
        "extensions",
    );
}

#[test]
fn ctk_refuses_a_probe_tolerance() {
    let hypo = "steady-state-hypothesis:\n  title: h\n  probes:\n    - {type: probe, name: p, provider: {type: process, path: 'true'}, tolerance: {type: probe, name: q, provider: {type: python, module: m, func: f}}}\n";
    refused(&with_method(hypo, ACTION), (7, 89), "Python function");
}

#[test]
fn ctk_refuses_an_unknown_key() {
    refused(
        &with_method(
            "",
            "{type: action, name: a, provider: {type: process, path: 'true', env: {A: b}}}",
        ),
        (5, 69),
        "unknown key `env`",
    );
}

#[test]
fn ctk_refuses_runtime_settings() {
    refused(
        &with_method("runtime: {rollbacks: {strategy: never}}\n", ACTION),
        (4, 1),
        "runtime",
    );
}

#[test]
fn ctk_refuses_a_secret_written_in_the_file() {
    refused(
        &with_method("secrets: {s: {token: abc}}\n", ACTION),
        (4, 22),
        "never written in the file",
    );
}

#[test]
fn ctk_import_prints_a_scenario_that_validates() {
    for entry in std::fs::read_dir(experiments()).unwrap() {
        let file = entry.unwrap().path();
        let out = Command::new(env!("CARGO_BIN_EXE_gameday"))
            .arg("import")
            .arg(&file)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", file.display());
        let dir = tempfile::tempdir().unwrap();
        let scenario = dir.path().join("imported.yaml");
        std::fs::write(&scenario, &out.stdout).unwrap();
        let v = Command::new(env!("CARGO_BIN_EXE_gameday"))
            .arg("validate")
            .arg("--ssh-config")
            .arg("/dev/null")
            .arg(&scenario)
            .output()
            .unwrap();
        assert_eq!(
            v.status.code(),
            Some(0),
            "{}: {}\n{}",
            file.display(),
            String::from_utf8_lossy(&v.stdout),
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

/// `gameday run FILE --headless --journal JOURNAL` with `CTK_STATE=state`, output discarded.
fn spawn_quiet(file: &Path, journal: &Path, state: &Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_gameday"))
        .arg("run")
        .arg(file)
        .args(["--headless", "--journal"])
        .arg(journal)
        .env("CTK_STATE", state)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// `gameday recover JOURNAL` with `CTK_STATE=state`.
fn recover(journal: &Path, state: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gameday"))
        .arg("recover")
        .arg(journal)
        .env("CTK_STATE", state)
        .output()
        .unwrap()
}

/// Waits (bounded) until `path` holds `needle`.
fn wait_for(path: &Path, needle: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        if std::fs::read_to_string(path).is_ok_and(|t| t.contains(needle)) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    panic!("{} never showed {needle}", path.display());
}

#[test]
fn ctk_sigint_stops_the_method_and_the_rollbacks_still_run() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("slow.yaml");
    std::fs::write(
        &file,
        "title: slow\ndescription: a method that waits\nconfiguration: {state: {type: env, key: CTK_STATE}}\nmethod:\n  - {type: action, name: wait, provider: {type: process, path: sleep, arguments: ['60'], timeout: 120}}\n  - {type: action, name: never, provider: {type: process, path: touch, arguments: ['${state}/method-ran']}}\nrollbacks:\n  - {type: action, name: undo, provider: {type: process, path: touch, arguments: ['${state}/rb-undo'], timeout: 5}}\n",
    )
    .unwrap();
    let journal = dir.path().join("run/journal.jsonl");
    let ctk = dir.path().join("journal.json");
    let child = Command::new(env!("CARGO_BIN_EXE_gameday"))
        .arg("run")
        .arg(&file)
        .args(["--headless", "--journal"])
        .arg(&journal)
        .arg("--ctk-journal")
        .arg(&ctk)
        .env("CTK_STATE", dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&journal, "\"type\":\"step_started\"");
    // SAFETY: a plain kill(2) of our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let j: Value = serde_json::from_str(&std::fs::read_to_string(&ctk).unwrap()).unwrap();
    assert_eq!(j["status"], "interrupted");
    assert_eq!(names(&j["rollbacks"]), vec!["undo succeeded".to_string()]);
    assert_eq!(
        markers(dir.path()),
        BTreeSet::from(["rb-undo".to_string()]),
        "the rollback ran, the rest of the method did not"
    );
    let text = std::fs::read_to_string(&journal).unwrap();
    assert!(text.contains("SIGINT received"), "the halt is journaled");
    assert!(text.contains("\"type\":\"ctk_stricter\""));
}

#[test]
fn ctk_secrets_reach_no_journal_stdout_or_debrief() {
    let secret = "s3cr3t-ctk-value-7781";
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("secret.yaml");
    std::fs::write(
        &file,
        "title: secret\ndescription: a secret echoed back\nsecrets:\n  api: {token: {type: env, key: CTK_TOKEN}}\nmethod:\n  - {type: action, name: echo, provider: {type: process, path: sh, arguments: ['-c', 'echo token=${token}; echo ${token} >&2'], timeout: 5}}\n",
    )
    .unwrap();
    let journal = dir.path().join("run/journal.jsonl");
    let ctk = dir.path().join("journal.json");
    let out = Command::new(env!("CARGO_BIN_EXE_gameday"))
        .arg("run")
        .arg(&file)
        .args(["--headless", "--journal"])
        .arg(&journal)
        .arg("--ctk-journal")
        .arg(&ctk)
        .env("CTK_TOKEN", secret)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let journal_text = std::fs::read_to_string(&journal).unwrap();
    assert!(journal_text.contains("token=[REDACTED]"), "{journal_text}");
    for (what, text) in [
        ("journal", journal_text),
        ("ctk journal", std::fs::read_to_string(&ctk).unwrap()),
        (
            "debrief",
            std::fs::read_to_string(dir.path().join("run/debrief.md")).unwrap(),
        ),
        (
            "log",
            std::fs::read_to_string(dir.path().join("run/gameday.log")).unwrap(),
        ),
        ("stdout", String::from_utf8_lossy(&out.stdout).into_owned()),
        ("stderr", String::from_utf8_lossy(&out.stderr).into_owned()),
    ] {
        assert!(!text.contains(secret), "the secret is in the {what}");
    }
}

#[test]
fn ctk_output_json_is_one_summary_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gameday"))
        .arg("run")
        .arg(experiments().join("deviation-after.yaml"))
        .args(["--headless", "--output", "json", "--journal"])
        .arg(dir.path().join("run/journal.jsonl"))
        .env("CTK_STATE", dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["exit_code"], 1);
    assert_eq!(v["verdict"], "violated");
    assert!(String::from_utf8_lossy(&out.stderr).contains("steady state after NOT HELD"));
}

#[test]
fn ctk_experiments_need_headless_and_scenarios_refuse_ctk_flags() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_gameday"))
            .arg("run")
            .args(args)
            .current_dir(dir.path())
            .env("CTK_STATE", dir.path())
            .output()
            .unwrap()
    };
    let exp = experiments().join("all-good.yaml");
    let out = run(&[exp.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--headless"));
    for bad in ["5", "0s", "200h"] {
        let out = run(&[exp.to_str().unwrap(), "--headless", "--max-duration", bad]);
        assert_eq!(out.status.code(), Some(2), "--max-duration {bad}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("nothing was run"));
    }
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/demo-latency.yaml");
    let out = run(&[
        scenario.to_str().unwrap(),
        "--headless",
        "--max-duration",
        "1m",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("for Chaos Toolkit experiments"));
    assert!(!dir.path().join("runs").exists(), "nothing ran");
}

#[test]
fn ctk_recover_runs_the_rollbacks_a_killed_run_left() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("killed.yaml");
    // `two` hangs the first time (the run is killed -9 meanwhile) and completes when recover runs it.
    std::fs::write(
        &file,
        "title: killed\ndescription: a run killed during its rollbacks\nmethod: []\nrollbacks:\n  - {type: action, name: one, provider: {type: process, path: sh, arguments: ['-c', 'echo x >> \"$CTK_STATE/rb-one\"'], timeout: 5}}\n  - {type: action, name: two, provider: {type: process, path: sh, arguments: ['-c', 'test -e \"$CTK_STATE/two-once\" || { touch \"$CTK_STATE/two-once\"; sleep 20; }; echo x >> \"$CTK_STATE/rb-two\"'], timeout: 30}}\n",
    )
    .unwrap();
    let journal = dir.path().join("run/journal.jsonl");
    let mut child = spawn_quiet(&file, &journal, dir.path());
    wait_for(&journal, "\"name\":\"one\"");
    wait_for(&dir.path().join("two-once"), "");
    child.kill().unwrap();
    child.wait().unwrap();
    let out = recover(&journal, dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(stdout.contains("rollback `one`: already ran"), "{stdout}");
    assert!(
        stdout.contains("rollback `two`: ran and confirmed"),
        "{stdout}"
    );
    let count = |f: &str| {
        std::fs::read_to_string(dir.path().join(f))
            .unwrap_or_default()
            .lines()
            .count()
    };
    assert_eq!(
        (count("rb-one"), count("rb-two")),
        (1, 1),
        "each rollback ran once"
    );
    let text = std::fs::read_to_string(&journal).unwrap();
    assert!(
        text.trim_end().ends_with("\"type\":\"run_ended\"}"),
        "{text}"
    );
    assert!(text.contains("\"by\":\"recover\""));
    // A second recover finds the run ended and does nothing.
    let again = recover(&journal, dir.path());
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(count("rb-two"), 1);
}

/// A run killed -9 while an action runs leaves that action's processes running (nothing of
/// gameday is left to end them). `gameday recover` ends them (they carry the run's id and the
/// activity's token in their environment, even a grandchild that left the group) before it runs
/// the rollbacks, so a rollback never runs beside what it undoes, and says so on stdout and in the
/// journal. A daemon that an action which ENDED left in the background is meant to run on: it is
/// left alone.
#[test]
fn ctk_recover_ends_what_a_killed_run_left_running() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("left.yaml");
    std::fs::write(
        &file,
        "title: left running\ndescription: an action still running when the run is killed\nmethod:\n  - {type: action, name: start-daemon, provider: {type: process, path: sh, arguments: ['-c', 'setsid sleep 300 </dev/null >/dev/null 2>&1 & echo $! > \"$CTK_STATE/daemon\"'], timeout: 10}}\n  - {type: action, name: hog, provider: {type: process, path: sh, arguments: ['-c', 'setsid sleep 300 & echo $! > \"$CTK_STATE/grandchild\"; echo $$$$ > \"$CTK_STATE/action\"; exec sleep 300'], timeout: 600}}\nrollbacks:\n  - {type: action, name: undo, provider: {type: process, path: touch, arguments: ['${state}/rb-undo'], timeout: 5}}\nconfiguration: {state: {type: env, key: CTK_STATE}}\n",
    )
    .unwrap();
    let journal = dir.path().join("run/journal.jsonl");
    let mut child = spawn_quiet(&file, &journal, dir.path());
    wait_for(&dir.path().join("action"), "\n");
    wait_for(&dir.path().join("grandchild"), "\n");
    child.kill().unwrap();
    child.wait().unwrap();
    let pid = |f: &str| -> i32 {
        std::fs::read_to_string(dir.path().join(f))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let (action, grandchild, daemon) = (pid("action"), pid("grandchild"), pid("daemon"));
    let alive = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit_once(") ")
                .is_some_and(|(_, rest)| !rest.starts_with('Z'))
        })
    };
    assert!(
        alive(action) && alive(grandchild),
        "the kill -9 left them running (the case under test)"
    );
    let out = recover(&journal, dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while (alive(action) || alive(grandchild)) && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
    let left = (alive(action), alive(grandchild));
    let daemon_runs = alive(daemon);
    for p in [action, grandchild, daemon] {
        // SAFETY: a plain kill(2) of a test process, in case recover left it.
        unsafe { libc::kill(p, libc::SIGKILL) };
    }
    assert_eq!(
        left,
        (false, false),
        "recover left the dead run's action running: {stdout}"
    );
    assert!(
        daemon_runs,
        "recover ended the daemon of an action that had ended: {stdout}"
    );
    assert_eq!(out.status.code(), Some(3), "{stdout}");
    assert!(
        stdout.contains(&format!("ended process {action}")),
        "{stdout}"
    );
    assert!(
        stdout.contains("rollback `undo`: ran and confirmed"),
        "{stdout}"
    );
    let text = std::fs::read_to_string(&journal).unwrap();
    assert!(text.contains("left running"), "journaled: {text}");
}

/// `gameday run EXPERIMENT` on a terminal (tmux): the console's Run screen on the experiment's
/// run; a note typed during the method reaches the journal; the run ends on its own (steady state
/// after, the rollback), `q` leaves, the shell shows the verdict and the rollbacks, exit 0, and
/// the debrief has the activities section.
#[test]
fn ctk_experiment_runs_in_the_console_to_its_end() {
    use super::pty::{Session, tmux, wait_for};
    use std::time::Duration;
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!("tmux not installed: skipping the PTY experiment test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let file = dir.path().join("console.yaml");
    // The action waits for the test's `go` file (bounded by its timeout), so the note is typed
    // while the method runs.
    std::fs::write(
        &file,
        format!(
            "title: In the console\ndescription: an experiment on the Run screen\nsteady-state-hypothesis:\n  title: all is well\n  probes:\n    - {{type: probe, name: is-well, tolerance: 0, provider: {{type: process, path: 'true', timeout: 5}}}}\nmethod:\n  - {{type: action, name: wait-for-go, provider: {{type: process, path: sh, arguments: ['-c', 'touch {d}/started; while [ ! -e {d}/go ]; do sleep 0.05; done'], timeout: 60}}}}\nrollbacks:\n  - {{type: action, name: undo, provider: {{type: process, path: touch, arguments: ['{d}/rolled-back'], timeout: 5}}}}\n"
        ),
    )
    .unwrap();
    let journal = dir.path().join("run/journal.jsonl");
    let name = format!("gameday-ctk-{}", std::process::id());
    let cmd = format!(
        "{} run {} --journal {}; echo GAMEDAY_EXIT=$?; exec sh",
        env!("CARGO_BIN_EXE_gameday"),
        file.display(),
        journal.display()
    );
    tmux(&[
        "new-session",
        "-d",
        "-s",
        &name,
        "-x",
        "120",
        "-y",
        "40",
        "-c",
        &d,
        &cmd,
    ]);
    let _session = Session(name.clone());
    let screen = || tmux(&["capture-pane", "-p", "-t", &name]);
    let journal_text = || std::fs::read_to_string(&journal).unwrap_or_default();
    let limit = Duration::from_secs(30);
    wait_for(
        "the method's action",
        limit,
        || dir.path().join("started").exists(),
        screen,
    );
    wait_for(
        "the Run screen on the experiment",
        limit,
        || {
            let s = screen();
            s.contains("In the console") && s.contains("probe `is-well`")
        },
        screen,
    );
    tmux(&["send-keys", "-t", &name, "n"]);
    wait_for("the note box", limit, || screen().contains("Enter"), screen);
    tmux(&["send-keys", "-t", &name, "-l", "waiting for go"]);
    tmux(&["send-keys", "-t", &name, "Enter"]);
    wait_for(
        "the note in the journal",
        limit,
        || journal_text().contains("waiting for go"),
        screen,
    );
    std::fs::write(dir.path().join("go"), "").unwrap();
    wait_for(
        "the run to end",
        limit,
        || journal_text().contains("\"run_ended\""),
        screen,
    );
    wait_for(
        "the console to show the run ended",
        limit,
        || screen().contains("D debrief ·"),
        screen,
    );
    assert!(screen().contains("rollback: action `undo`"), "{}", screen());
    tmux(&["send-keys", "-t", &name, "q"]);
    wait_for(
        "gameday to exit",
        limit,
        || screen().contains("GAMEDAY_EXIT="),
        screen,
    );
    let shown = screen();
    assert!(shown.contains("GAMEDAY_EXIT=0"), "{shown}");
    assert!(
        shown.contains("gameday: HYPOTHESIS HELD: 1 rollback(s) ran, all confirmed"),
        "{shown}"
    );
    assert!(dir.path().join("rolled-back").exists());
    let text = journal_text();
    assert!(text.contains("\"type\":\"note\"") && text.contains("waiting for go"));
    let debrief = std::fs::read_to_string(journal.with_file_name("debrief.md")).unwrap();
    assert!(debrief.contains("## Chaos Toolkit activities"), "{debrief}");
    // The log beside the journal has the run from its first line.
    let log = std::fs::read_to_string(journal.with_file_name("gameday.log")).unwrap_or_default();
    assert!(log.contains("ctk run started"), "{log}");
    assert!(
        debrief.contains("| action `undo` | process | succeeded |"),
        "{debrief}"
    );
}
