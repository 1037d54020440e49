//! `gameday history`: the runs under a directory, one row each (verdict, time to detect, mitigate,
//! recover), and the trend per scenario: is the team getting faster? Every number comes from the
//! journals alone, through the same fold and [`Summary`] as each run's debrief.
//!
//! Bounds: at most [`MAX_JOURNALS`] journals, found at most [`MAX_DEPTH`] directories down;
//! symbolic links are not followed. A journal that cannot be read is listed with why and skipped.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::summary::Summary;
use crate::event::Verdict;
use crate::fmt;
use crate::fold::RunState;

/// Most journals one history reads.
pub const MAX_JOURNALS: usize = 10_000;
/// How deep under the directory journals are looked for (`runs/<run>/journal.jsonl` is 1).
pub const MAX_DEPTH: usize = 4;
/// The file name a run's journal has.
pub const JOURNAL: &str = "journal.jsonl";

/// One past run.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub journal: PathBuf,
    pub run: Option<String>,
    pub scenario: Option<String>,
    pub started: Option<String>,
    /// null: the run did not finish (no verdict in its journal).
    pub verdict: Option<Verdict>,
    pub exit_code: Option<i32>,
    pub time_to_detect_ms: Option<u64>,
    pub time_to_detect_automated_ms: Option<u64>,
    pub time_to_mitigate_ms: Option<u64>,
    pub time_to_recover_ms: Option<u64>,
    pub not_recovered: usize,
    pub steps_passed: usize,
    pub steps_failed: usize,
    pub faults_injected: usize,
    pub faults_unresolved: usize,
}

/// One measure of one scenario, from its first run that has it to its last.
#[derive(Debug, Clone, Serialize)]
pub struct Trend {
    pub scenario: String,
    /// `time_to_detect`, `time_to_detect_automated`, `time_to_mitigate`, `time_to_recover`.
    pub measure: &'static str,
    /// Runs that have this measure.
    pub runs: usize,
    pub first_ms: u64,
    pub last_ms: u64,
    /// Last against first, in %; null when the first was 0 ms.
    pub change_pct: Option<f64>,
    /// `faster`, `slower`, `same`.
    pub direction: &'static str,
}

/// A journal that could not be read, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub journal: PathBuf,
    pub why: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct History {
    pub rows: Vec<Row>,
    pub trends: Vec<Trend>,
    pub skipped: Vec<Skipped>,
    /// More than [`MAX_JOURNALS`] were found: the rest were not read.
    pub truncated: bool,
}

/// The journals under `dir`, sorted by path; `dir` itself may be a journal.
pub fn journals(dir: &Path) -> std::io::Result<(Vec<PathBuf>, bool)> {
    let meta = std::fs::metadata(dir)?;
    if meta.is_file() {
        return Ok((vec![dir.to_path_buf()], false));
    }
    let mut found = Vec::new();
    let mut truncated = false;
    let mut todo = vec![(dir.to_path_buf(), 0usize)];
    while let Some((d, depth)) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            let path = e.path();
            if ft.is_dir() && depth < MAX_DEPTH {
                todo.push((path, depth + 1));
            } else if ft.is_file() && e.file_name() == JOURNAL {
                if found.len() >= MAX_JOURNALS {
                    truncated = true;
                    continue;
                }
                found.push(path);
            }
        }
    }
    found.sort();
    Ok((found, truncated))
}

/// Reads every journal under `dir` and the trend per scenario.
pub fn history(dir: &Path) -> std::io::Result<History> {
    let (paths, truncated) = journals(dir)?;
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    for journal in paths {
        match RunState::from_journal(&journal) {
            Ok((run, _)) if run.start.is_some() => rows.push(row(journal, &run)),
            Ok(_) => skipped.push(Skipped {
                journal,
                why: "no readable event: not a gameday journal?".into(),
            }),
            Err(e) => skipped.push(Skipped {
                journal,
                why: e.to_string(),
            }),
        }
    }
    rows.sort_by(|a, b| (&a.started, &a.journal).cmp(&(&b.started, &b.journal)));
    let trends = trends(&rows);
    Ok(History {
        rows,
        trends,
        skipped,
        truncated,
    })
}

fn row(journal: PathBuf, run: &RunState) -> Row {
    let k = Summary::of(run);
    Row {
        journal,
        run: k.run,
        scenario: k.scenario,
        started: k.started,
        verdict: k.verdict,
        exit_code: k.exit_code,
        time_to_detect_ms: k.time_to_detect_ms,
        time_to_detect_automated_ms: k.time_to_detect_automated_ms,
        time_to_mitigate_ms: k.time_to_mitigate_ms,
        time_to_recover_ms: k.time_to_recover_ms,
        not_recovered: k.not_recovered,
        steps_passed: k.steps_passed,
        steps_failed: k.steps_failed,
        faults_injected: k.faults_injected,
        faults_unresolved: k.faults_unresolved,
    }
}

type Measure = (&'static str, &'static str, fn(&Row) -> Option<u64>);

const MEASURES: [Measure; 4] = [
    ("time_to_detect", "time to detect", |r| r.time_to_detect_ms),
    (
        "time_to_detect_automated",
        "time to detect (automated)",
        |r| r.time_to_detect_automated_ms,
    ),
    ("time_to_mitigate", "time to mitigate", |r| {
        r.time_to_mitigate_ms
    }),
    ("time_to_recover", "time to recover", |r| {
        r.time_to_recover_ms
    }),
];

/// Per scenario (rows in time order), each measure that at least two runs have: first → last.
fn trends(rows: &[Row]) -> Vec<Trend> {
    let mut scenarios: Vec<&str> = rows.iter().filter_map(|r| r.scenario.as_deref()).collect();
    scenarios.sort_unstable();
    scenarios.dedup();
    let mut out = Vec::new();
    for s in scenarios {
        for (measure, _, get) in MEASURES {
            let values: Vec<u64> = rows
                .iter()
                .filter(|r| r.scenario.as_deref() == Some(s))
                .filter_map(get)
                .collect();
            let (Some(&first), Some(&last)) = (values.first(), values.last()) else {
                continue;
            };
            if values.len() < 2 {
                continue;
            }
            out.push(Trend {
                scenario: s.to_string(),
                measure,
                runs: values.len(),
                first_ms: first,
                last_ms: last,
                change_pct: (first > 0)
                    .then(|| (last as f64 - first as f64) / first as f64 * 100.0),
                direction: match last.cmp(&first) {
                    std::cmp::Ordering::Less => "faster",
                    std::cmp::Ordering::Greater => "slower",
                    std::cmp::Ordering::Equal => "same",
                },
            });
        }
    }
    out
}

fn verdict(r: &Row) -> &'static str {
    r.verdict.map(|v| v.label()).unwrap_or("NO VERDICT")
}

/// The table and the trend, as text for a terminal.
pub fn render(h: &History) -> String {
    let mut out = String::new();
    if h.rows.is_empty() {
        let _ = writeln!(out, "No runs found.");
    } else {
        let _ = writeln!(
            out,
            "{:<17} {:<32} {:<20} {:>9} {:>9} {:>9} {:>9}  faults",
            "started (UTC)", "scenario", "verdict", "detect", "auto", "mitigate", "recover"
        );
        for r in &h.rows {
            let started = r
                .started
                .as_deref()
                .map(|s| s.get(..16).unwrap_or(s).replace('T', " "))
                .unwrap_or_default();
            let faults = if r.faults_unresolved > 0 {
                format!(
                    "{} in, {} NOT verified",
                    r.faults_injected, r.faults_unresolved
                )
            } else {
                format!("{} in", r.faults_injected)
            };
            let _ = writeln!(
                out,
                "{:<17} {:<32} {:<20} {:>9} {:>9} {:>9} {:>9}  {faults}",
                started,
                fmt::middle(r.scenario.as_deref().unwrap_or("(unknown)"), 32),
                verdict(r),
                fmt::elapsed_ms_or_dash(r.time_to_detect_ms),
                fmt::elapsed_ms_or_dash(r.time_to_detect_automated_ms),
                fmt::elapsed_ms_or_dash(r.time_to_mitigate_ms),
                fmt::elapsed_ms_or_dash(r.time_to_recover_ms),
            );
        }
    }
    if !h.trends.is_empty() {
        let _ = writeln!(out, "\nTrend (first run → last, per scenario):");
        for t in &h.trends {
            let label = MEASURES
                .iter()
                .find(|(m, _, _)| *m == t.measure)
                .map(|(_, l, _)| *l)
                .unwrap_or(t.measure);
            let _ = writeln!(
                out,
                "  {}: {label} {} → {} over {} runs ({}{})",
                t.scenario,
                fmt::elapsed_ms(t.first_ms),
                fmt::elapsed_ms(t.last_ms),
                t.runs,
                t.change_pct
                    .map(|c| format!("{c:+.0} %, "))
                    .unwrap_or_default(),
                t.direction
            );
        }
    }
    for s in &h.skipped {
        let _ = writeln!(out, "skipped {}: {}", s.journal.display(), s.why);
    }
    if h.truncated {
        let _ = writeln!(
            out,
            "more than {MAX_JOURNALS} journals: the rest were not read (point at a smaller directory)"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, MilestoneKind};
    use chrono::{DateTime, TimeDelta, Utc};

    const YAML: &str = r#"title: Checkout failover
hypothesis: errors stay low
max_duration: 10m
targets:
  web: { local: true }
steps:
  - name: Kill it
    duration: 1m
    faults: [{ kind: command, id: f1, target: web, inject: "true", rollback: "true" }]
"#;

    /// A run of [`YAML`] started `day` days after a fixed date, detected `detect_s` after its
    /// inject (none: never), ended with `verdict` (none: it died).
    fn journal(dir: &Path, name: &str, day: i64, detect_s: Option<i64>, verdict: Option<Verdict>) {
        let scenario = crate::scenario::Scenario::parse(Path::new("s.yaml"), YAML)
            .map_err(|e| format!("{:?}", e.0))
            .expect("scenario");
        let d = dir.join(name);
        std::fs::create_dir_all(&d).expect("dir");
        let mut w = crate::journal::JournalWriter::create(&d.join(JOURNAL), name).expect("journal");
        let t0 =
            DateTime::<Utc>::from_timestamp(1_800_000_000, 0).expect("t0") + TimeDelta::days(day);
        let at = |s: i64| t0 + TimeDelta::seconds(s);
        let mut push = |s: i64, e: Event| {
            w.append(at(s), e).expect("append");
        };
        push(
            0,
            Event::RunStarted {
                scenario: Box::new(scenario),
                gameday_version: "test".into(),
                dry_run: None,
            },
        );
        push(
            1,
            Event::StepStarted {
                index: 0,
                name: "Kill it".into(),
                duration_ms: 60_000,
                prompt: None,
            },
        );
        push(
            2,
            Event::FaultInjected {
                fault: "f1".into(),
                host: "local".into(),
                ok: true,
                outcome: Default::default(),
            },
        );
        if let Some(d) = detect_s {
            push(
                2 + d,
                Event::Milestone {
                    kind: MilestoneKind::Detected,
                    role: "IC".into(),
                },
            );
        }
        if let Some(v) = verdict {
            push(
                90,
                Event::Verdict {
                    verdict: v,
                    exit_code: v.exit_code(),
                    reason: "test".into(),
                },
            );
            push(91, Event::RunEnded);
        }
    }

    /// Runs in time order whatever their directory names; the trend compares the first and last
    /// run that have a measure; a run that died shows NO VERDICT; an unreadable journal is listed
    /// as skipped; JSON has the same rows.
    #[test]
    fn runs_in_time_order_with_the_trend_per_scenario() {
        let dir = tempfile::tempdir().expect("tmp");
        journal(dir.path(), "b-second", 7, Some(60), Some(Verdict::Violated));
        journal(dir.path(), "a-third", 14, Some(30), Some(Verdict::Held));
        journal(dir.path(), "c-first", 0, Some(120), Some(Verdict::Held));
        journal(dir.path(), "d-died", 21, None, None);
        std::fs::create_dir_all(dir.path().join("e-bad")).expect("dir");
        std::fs::write(dir.path().join("e-bad").join(JOURNAL), "not json\n").expect("write");
        let h = history(dir.path()).expect("history");
        let names: Vec<String> = h
            .rows
            .iter()
            .map(|r| r.run.clone().unwrap_or_default())
            .collect();
        assert_eq!(names, ["c-first", "b-second", "a-third", "d-died"]);
        let detect: Vec<Option<u64>> = h.rows.iter().map(|r| r.time_to_detect_ms).collect();
        assert_eq!(detect, [Some(120_000), Some(60_000), Some(30_000), None]);
        assert_eq!(h.rows[3].verdict, None);
        let t = h
            .trends
            .iter()
            .find(|t| t.measure == "time_to_detect")
            .expect("a detect trend");
        assert_eq!((t.runs, t.first_ms, t.last_ms), (3, 120_000, 30_000));
        assert_eq!(t.direction, "faster");
        assert_eq!(t.change_pct, Some(-75.0));
        assert_eq!(h.skipped.len(), 1);
        assert!(h.skipped[0].journal.ends_with("e-bad/journal.jsonl"));
        let text = render(&h);
        assert!(
            text.contains("Checkout failover: time to detect 2m → 30s over 3 runs (-75 %, faster)"),
            "{text}"
        );
        assert!(text.contains("NO VERDICT"), "{text}");
        assert!(text.contains("skipped "), "{text}");
        let json: serde_json::Value =
            serde_json::from_str(&serde_json::to_string(&h).expect("json")).expect("parse");
        assert_eq!(json["rows"][0]["verdict"], "held");
        assert_eq!(json["trends"][0]["scenario"], "Checkout failover");
    }

    /// A directory that does not exist is an error, not an empty history.
    #[test]
    fn a_missing_directory_is_an_error() {
        assert!(history(Path::new("/nonexistent/gameday-runs")).is_err());
    }
}
