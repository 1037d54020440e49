//! JUnit XML of a run, from its journal's fold (`gameday run --headless --junit FILE`,
//! `gameday report JOURNAL --junit FILE`): one test case per steady-state check (before and
//! after), per success criterion and per fault rollback, for CI systems. The format is
//! `docs/junit.xsd`; `docs/junit.md` says what each case means.
//!
//! Every name comes from a scenario or a host and is escaped: `<`, `&`, `"`, `'` and `>` as
//! entities (so `]]>` cannot end anything), tab / newline / carriage return as character
//! references in attributes, and characters XML 1.0 cannot carry (other control characters,
//! U+FFFE, U+FFFF) as U+FFFD.

use std::fmt::Write as _;
use std::path::Path;

use super::summary::Summary;
use crate::event::{CriterionOutcome, RollbackStatus, RuleCheck};
use crate::fold::{FaultState, RunState};

/// A character XML 1.0 allows in a document.
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Text or an attribute value, escaped (attributes also keep their tabs and line breaks).
pub fn escape(s: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' if attribute => out.push_str("&#9;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if xml_char(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
    out
}

fn secs(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

enum CaseResult {
    Passed,
    Failure(String),
    Error(String),
    Skipped(String),
}

struct Case {
    classname: String,
    name: String,
    time_ms: u64,
    result: CaseResult,
    out: Option<String>,
}

fn steady(cases: &mut Vec<Case>, class: &str, checks: &[RuleCheck]) {
    for c in checks {
        let value = crate::fmt::value(c.value);
        cases.push(Case {
            classname: class.to_string(),
            name: format!("{} ({})", c.rule, c.metric),
            time_ms: 0,
            result: if c.held {
                CaseResult::Passed
            } else {
                CaseResult::Failure(match &c.reason {
                    Some(r) => format!("{}: value {value}: {r}", c.rule),
                    None => format!("{}: value {value}", c.rule),
                })
            },
            out: Some(format!("value {value}")),
        });
    }
}

/// The JUnit XML of `run`; `exit_code` is the process's (or the verdict's) exit code.
pub fn junit(run: &RunState, journal: &Path, exit_code: u8) -> String {
    let title = run
        .scenario
        .as_ref()
        .map(|s| s.title.clone())
        .unwrap_or_else(|| journal.display().to_string());
    let slug = crate::scenario::slug(&title);
    let base = format!("gameday.{slug}");
    let mut cases = Vec::new();
    if let Some((checks, _)) = &run.steady_before {
        steady(&mut cases, &format!("{base}.steady_state_before"), checks);
    }
    for c in &run.criteria {
        let evidence = c.evidence();
        let result = match c.outcome {
            Some(CriterionOutcome::Passed) => CaseResult::Passed,
            Some(CriterionOutcome::Failed) => CaseResult::Failure(if evidence.is_empty() {
                "failed".to_string()
            } else {
                evidence.clone()
            }),
            Some(CriterionOutcome::Undecided) => CaseResult::Skipped(format!(
                "undecided: the run ended before its window could decide it{}",
                if evidence.is_empty() {
                    String::new()
                } else {
                    format!(" ({evidence})")
                }
            )),
            Some(CriterionOutcome::NotChecked) => {
                CaseResult::Skipped("not checked: no one ticked this human check".into())
            }
            None => CaseResult::Skipped("not decided: its step never ran".into()),
        };
        cases.push(Case {
            classname: format!("{base}.step{}", c.step + 1),
            name: c.label.clone(),
            time_ms: c.after_ms.unwrap_or(0),
            result,
            out: (!evidence.is_empty()).then_some(evidence),
        });
    }
    if let Some((checks, _)) = &run.steady_after {
        steady(&mut cases, &format!("{base}.steady_state_after"), checks);
    }
    for f in &run.faults {
        let host = f.host_name.as_deref().unwrap_or(&f.host);
        let manual = f
            .manual
            .as_deref()
            .map(|m| format!("; by hand: {m}"))
            .unwrap_or_default();
        let result = match f.state {
            FaultState::Done(RollbackStatus::Verified) => CaseResult::Passed,
            FaultState::Done(RollbackStatus::Failed) => {
                CaseResult::Failure(format!("rollback FAILED ({}){manual}", f.how))
            }
            FaultState::Done(RollbackStatus::Unknown) => {
                CaseResult::Error(format!("rollback UNKNOWN ({}){manual}", f.how))
            }
            FaultState::NotInjected => CaseResult::Skipped(format!(
                "not injected: {}",
                f.not_injected
                    .as_deref()
                    .unwrap_or("never reached the host")
            )),
            _ if f.unresolved() => CaseResult::Error(format!(
                "{}: no verified rollback in the journal; run `gameday recover {}`",
                f.state.label(),
                journal.display()
            )),
            _ => CaseResult::Skipped(format!("{}: nothing to roll back", f.state.label())),
        };
        let time_ms = match (f.injected, f.rolled_back) {
            (Some((a, _)), Some(b)) => u64::try_from((b - a).num_milliseconds()).unwrap_or(0),
            _ => 0,
        };
        cases.push(Case {
            classname: format!("{base}.rollback"),
            name: format!("{} on {host}", f.fault),
            time_ms,
            result,
            out: Some(format!("{} {}", f.kind, f.state.label())),
        });
    }

    let count = |p: fn(&CaseResult) -> bool| cases.iter().filter(|c| p(&c.result)).count();
    let failures = count(|r| matches!(r, CaseResult::Failure(_)));
    let errors = count(|r| matches!(r, CaseResult::Error(_)));
    let skipped = count(|r| matches!(r, CaseResult::Skipped(_)));
    let time_ms = match (run.start, run.last_ts) {
        (Some(a), Some(b)) => u64::try_from((b - a).num_milliseconds()).unwrap_or(0),
        _ => 0,
    };
    let summary = Summary::of(run);
    let a = |s: &str| escape(s, true);
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"gameday\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{}\">",
        cases.len(),
        secs(time_ms)
    );
    let timestamp = run
        .start
        .map(|t| format!(" timestamp=\"{}\"", t.format("%Y-%m-%dT%H:%M:%S")))
        .unwrap_or_default();
    let _ = writeln!(
        x,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{}\"{timestamp}>",
        a(&title),
        cases.len(),
        secs(time_ms)
    );
    for c in &cases {
        let _ = write!(
            x,
            "    <testcase name=\"{}\" classname=\"{}\" time=\"{}\"",
            a(&c.name),
            a(&c.classname),
            secs(c.time_ms)
        );
        if matches!(c.result, CaseResult::Passed) && c.out.is_none() {
            x.push_str("/>\n");
            continue;
        }
        x.push_str(">\n");
        match &c.result {
            CaseResult::Passed => {}
            CaseResult::Failure(m) => {
                let _ = writeln!(
                    x,
                    "      <failure message=\"{}\" type=\"failed\">{}</failure>",
                    a(m),
                    escape(m, false)
                );
            }
            CaseResult::Error(m) => {
                let _ = writeln!(
                    x,
                    "      <error message=\"{}\" type=\"manual_action_needed\">{}</error>",
                    a(m),
                    escape(m, false)
                );
            }
            CaseResult::Skipped(m) => {
                let _ = writeln!(x, "      <skipped message=\"{}\"/>", a(m));
            }
        }
        if let Some(o) = &c.out {
            let _ = writeln!(x, "      <system-out>{}</system-out>", escape(o, false));
        }
        x.push_str("    </testcase>\n");
    }
    let _ = writeln!(
        x,
        "    <system-out>{}</system-out>",
        escape(
            &format!(
                "{}\nexit code {exit_code}\njournal {}",
                summary.sentence,
                journal.display()
            ),
            false
        )
    );
    x.push_str("  </testsuite>\n</testsuites>\n");
    x
}

/// Writes the JUnit XML of the run journaled at `journal` to `out`, atomically. `exit_code` is
/// the process's; without it, the verdict's (3 when the journal has none: a person must look).
pub fn write_junit(journal: &Path, out: &Path, exit_code: Option<u8>) -> Result<(), String> {
    let (run, _) = RunState::from_journal(journal).map_err(|e| e.to_string())?;
    let code = exit_code.unwrap_or_else(|| {
        run.verdict
            .as_ref()
            .and_then(|v| u8::try_from(v.verdict.exit_code()).ok())
            .unwrap_or(crate::exit::MANUAL)
    });
    crate::write_atomic(out, junit(&run, journal, code).as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", out.display()))
}

/// `--junit FILE` is refused before anything runs when its directory does not exist.
pub fn check_target(out: &Path) -> Result<(), String> {
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(format!(
            "--junit {}: the directory {} does not exist (create it, or name a file in an existing one); nothing was run",
            out.display(),
            dir.display()
        ));
    }
    if out.is_dir() {
        return Err(format!(
            "--junit {}: is a directory; name a file; nothing was run",
            out.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fold::CriterionRow;

    const HOSTILE: &str = "a <b> & \"c\" 'd' ]]> \u{7}bell\u{0}nul\ttab\nline \u{FFFF}";

    /// `xmllint --schema docs/junit.xsd` on `xml`: the schema's verdict, or a panic when xmllint
    /// is missing (CI installs libxml2-utils; a missing validator must not pass).
    pub fn validate(xml: &str) -> Result<(), String> {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("junit.xml");
        std::fs::write(&file, xml).expect("write");
        let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/junit.xsd");
        let out = std::process::Command::new("xmllint")
            .arg("--noout")
            .arg("--schema")
            .arg(&schema)
            .arg(&file)
            .output()
            .expect("xmllint is needed to validate JUnit output: apt-get install libxml2-utils");
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    fn criterion(step: usize, label: &str, outcome: Option<CriterionOutcome>) -> CriterionRow {
        CriterionRow {
            step,
            index: 0,
            label: label.into(),
            human: false,
            check_by: None,
            outcome,
            ts: None,
            value: Some(0.0),
            after_ms: Some(1_500),
            reason: Some(HOSTILE.into()),
            by: None,
        }
    }

    #[test]
    fn escaping_keeps_hostile_text_valid_xml() {
        assert_eq!(
            escape(HOSTILE, true),
            "a &lt;b&gt; &amp; &quot;c&quot; &apos;d&apos; ]]&gt; \u{FFFD}bell\u{FFFD}nul&#9;tab&#10;line \u{FFFD}"
        );
        assert_eq!(escape("x\ty\nz", false), "x\ty\nz");
    }

    #[test]
    fn every_outcome_becomes_a_case_and_hostile_names_validate() {
        let mut run = RunState::new();
        run.steady_before = Some((
            vec![
                RuleCheck {
                    rule: "p95 < 300".into(),
                    metric: HOSTILE.into(),
                    value: Some(120.0),
                    held: true,
                    reason: None,
                },
                RuleCheck {
                    rule: HOSTILE.into(),
                    metric: "errors".into(),
                    value: None,
                    held: false,
                    reason: Some(HOSTILE.into()),
                },
            ],
            false,
        ));
        run.criteria = vec![
            criterion(0, HOSTILE, Some(CriterionOutcome::Passed)),
            criterion(0, "replica promoted", Some(CriterionOutcome::Failed)),
            criterion(1, "pager rang", Some(CriterionOutcome::NotChecked)),
            criterion(1, "window", Some(CriterionOutcome::Undecided)),
            criterion(2, "never ran", None),
        ];
        let xml = junit(&run, Path::new("runs/x/<journal>.jsonl"), 1);
        validate(&xml).unwrap_or_else(|e| panic!("{e}\n{xml}"));
        assert!(
            xml.contains(
                "<testsuites name=\"gameday\" tests=\"7\" failures=\"2\" errors=\"0\" skipped=\"3\""
            ),
            "{xml}"
        );
        assert!(
            xml.contains("classname=\"gameday.runs-x-journal-jsonl.steady_state_before\""),
            "{xml}"
        );
        assert!(
            xml.contains("classname=\"gameday.") && xml.contains(".step2\" time=\"1.500\""),
            "{xml}"
        );
        assert!(
            xml.contains("<skipped message=\"not checked: no one ticked this human check\"/>"),
            "{xml}"
        );
        assert!(!xml.contains("]]>"), "{xml}");
        assert!(!xml.contains('\u{7}') && !xml.contains('\u{0}'), "{xml}");
    }
}
