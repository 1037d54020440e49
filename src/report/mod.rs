//! The debrief: GitHub Markdown built from the journal alone (folded into a [`RunState`]), so a
//! crashed run still has one. Every function here is pure: state in, text out.

pub mod chart;
pub mod write;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::event::{RollbackStatus, RuleCheck};
use crate::fmt::{self, t_plus};
use crate::fold::{FaultRow, Incident, MetricState, NoteRow, RunState};
use crate::scenario::Scenario;

fn utc(ts: DateTime<Utc>) -> String {
    ts.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Escapes text for a Markdown table cell.
fn cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('\r', "")
        .replace('\n', "<br>")
}

/// Inline code that survives backticks inside.
fn code(s: &str) -> String {
    let run = s
        .chars()
        .fold((0usize, 0usize), |(cur, max), c| {
            if c == '`' {
                (cur + 1, max.max(cur + 1))
            } else {
                (0, max)
            }
        })
        .1;
    let fence = "`".repeat(run + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    cell(&format!("{fence}{pad}{s}{pad}{fence}"))
}

/// The Markdown debrief of a run: its folded state, whole (see [`RunState::new`]).
pub fn debrief(run: &RunState) -> String {
    let mut out = String::new();
    let Some(start) = run.start else {
        return "# Debrief\n\nThe journal holds no events.\n".to_string();
    };
    let end = run.last_ts.unwrap_or(start);
    let scenario: Option<&Scenario> = run.scenario.as_deref();

    let title = scenario
        .map(|s| s.title.as_str())
        .unwrap_or("(unknown scenario)");
    let _ = writeln!(out, "# Debrief: {title}\n");

    // Summary
    let _ = writeln!(out, "## Summary\n");
    match &run.verdict {
        Some(v) => {
            let _ = writeln!(
                out,
                "**Verdict: {}** (exit {}) — {}\n",
                v.verdict.label(),
                v.exit_code,
                v.reason
            );
        }
        None => {
            let _ = writeln!(
                out,
                "**Verdict: NONE — the run did not finish.** The journal ends without a verdict (the console crashed or was killed). Check the faults table below and run `gameday recover` on this journal.\n"
            );
        }
    }
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| Run | `{}` |", run.run.as_deref().unwrap_or(""));
    let _ = writeln!(out, "| Started (UTC) | {} |", utc(start));
    let _ = writeln!(
        out,
        "| Ended (UTC) | {}{} |",
        utc(end),
        if run.ended {
            ""
        } else {
            " (last record; run did not end cleanly)"
        }
    );
    let dur = (end - start).num_seconds().max(0);
    let _ = writeln!(out, "| Duration | {} |", fmt::min_sec(dur));
    if let Some(s) = scenario {
        for (role, who) in &s.roles {
            let _ = writeln!(
                out,
                "| {} | {} |",
                cell(&role.replace('_', " ")),
                cell(&who.join(", "))
            );
        }
    }
    for (k, v) in run.key_times.rows(start).iter() {
        let _ = writeln!(out, "| {k} | {} |", cell(v));
    }
    out.push('\n');

    // Hypothesis & steady state
    let _ = writeln!(out, "## Hypothesis and steady state\n");
    if let Some(s) = scenario {
        let _ = writeln!(out, "> {}\n", s.hypothesis.replace('\n', "\n> "));
        if let Some(d) = &s.description {
            let _ = writeln!(out, "{d}\n");
        }
    }
    let rules: Vec<String> = scenario
        .map(|s| s.steady_state.iter().map(|r| r.label.clone()).collect())
        .unwrap_or_default();
    if rules.is_empty() {
        let _ = writeln!(out, "No steady-state rules were defined.\n");
    } else {
        let _ = writeln!(out, "| Rule | Before | After |\n|---|---|---|");
        let show = |set: &Option<(Vec<RuleCheck>, bool)>, rule: &str| match set {
            None => "not checked".to_string(),
            Some((checks, _)) => match checks.iter().find(|c| c.rule == rule) {
                None => "not checked".into(),
                Some(c) => format!(
                    "{} {}",
                    if c.held { "✅" } else { "❌" },
                    match &c.reason {
                        Some(r) => format!("no data ({})", cell(r)),
                        None => fmt::value(c.value),
                    }
                ),
            },
        };
        for r in &rules {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                cell(r),
                show(&run.steady_before, r),
                show(&run.steady_after, r)
            );
        }
        out.push('\n');
    }

    // Metrics
    let sampled: Vec<(&String, &MetricState)> =
        run.metrics.iter().filter(|(_, m)| m.samples > 0).collect();
    if !sampled.is_empty() {
        let _ = writeln!(out, "## Metrics\n");
        let _ = writeln!(
            out,
            "| Metric | Samples | No data | Min | Max | Last | Chart |\n|---|---|---|---|---|---|---|"
        );
        for (name, m) in &sampled {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | ![{}](chart-{}.svg) |",
                cell(name),
                m.samples,
                m.no_data,
                fmt::value(m.min),
                fmt::value(m.max),
                fmt::value(m.last),
                cell(name),
                chart_file_stem(name)
            );
        }
        out.push('\n');
    }

    // Timeline
    let _ = writeln!(out, "## Timeline\n");
    let _ = writeln!(out, "| T+ | UTC | Source | Event |\n|---|---|---|---|");
    for e in run.timeline.iter().filter(|e| !e.minor) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            t_plus(start, e.ts),
            fmt::wall_clock(e.ts),
            cell(&e.src),
            cell(&e.text)
        );
    }
    out.push('\n');

    // Faults
    let rows = &run.faults;
    let _ = writeln!(out, "## Faults\n");
    if rows.is_empty() {
        let _ = writeln!(out, "No fault was injected.\n");
    } else {
        let _ = writeln!(
            out,
            "| Fault | Kind | Target | Host | Injected | Rolled back | Verified | How |\n|---|---|---|---|---|---|---|---|"
        );
        for r in rows {
            let injected = match (r.injected, &r.not_injected) {
                (_, Some(why)) => format!("not injected: {}", cell(why)),
                (Some((ts, true)), _) => t_plus(start, ts),
                (Some((ts, false)), _) => format!("{} (inject failed)", t_plus(start, ts)),
                (None, None) => "sent, no result".into(),
            };
            let rolled = r
                .rolled_back
                .map(|t| t_plus(start, t))
                .unwrap_or_else(|| "—".into());
            let verified = match (r.irreversible, r.status()) {
                _ if r.not_injected.is_some() => "n/a (never on the host)".to_string(),
                (true, _) => "n/a (irreversible)".to_string(),
                (_, Some(RollbackStatus::Verified)) => "yes".into(),
                (_, Some(RollbackStatus::Failed)) => "**no (FAILED)**".into(),
                (_, Some(RollbackStatus::Unknown)) => "**UNKNOWN**".into(),
                (_, None) => "**UNKNOWN (no rollback recorded)**".into(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                cell(&r.fault),
                cell(&r.kind),
                cell(&r.target),
                cell(&r.host),
                injected,
                rolled,
                verified,
                cell(&r.how)
            );
        }
        out.push('\n');
        let manual: Vec<&FaultRow> = rows
            .iter()
            .filter(|r| {
                !r.irreversible
                    && r.not_injected.is_none()
                    && r.status() != Some(RollbackStatus::Verified)
            })
            .collect();
        if !manual.is_empty() {
            let _ = writeln!(out, "### Manual action needed\n");
            let _ = writeln!(
                out,
                "These faults were not verified rolled back. Run the undo by hand, then the check, or run `gameday recover <journal>`.\n"
            );
            for r in manual {
                let _ = writeln!(out, "- **{}** on `{}`:", r.fault, r.host);
                let undo = r
                    .manual
                    .clone()
                    .or_else(|| r.undo.clone())
                    .unwrap_or_else(|| "(no undo recorded)".into());
                let _ = writeln!(out, "  ```sh\n  {}\n  ```", undo.replace('\n', "\n  "));
                if let Some(v) = &r.verify {
                    let _ = writeln!(out, "  check: {}", code(v));
                }
            }
            out.push('\n');
        }
    }

    // Aborts & halts
    let _ = writeln!(out, "## Aborts and halts\n");
    let mut any = false;
    for (ts, incident) in &run.incidents {
        match incident {
            Incident::Tripped {
                label,
                breaching_ms,
                reason,
                value,
            } => {
                any = true;
                let _ = writeln!(
                    out,
                    "- {} abort rule `{}` tripped after {} ({})",
                    t_plus(start, *ts),
                    label,
                    fmt::elapsed_ms(*breaching_ms),
                    reason
                        .clone()
                        .map(|r| format!("no data: {r}"))
                        .unwrap_or_else(|| format!("value {}", fmt::value(*value)))
                );
            }
            Incident::Halt { by, reason } => {
                any = true;
                let _ = writeln!(
                    out,
                    "- {} halt by **{}**: {}",
                    t_plus(start, *ts),
                    by,
                    reason
                );
            }
            Incident::RollbackFinished {
                all_verified,
                faults,
                since_halt_ms,
            } => {
                let _ = writeln!(
                    out,
                    "- halt → last rollback confirmed: **{since_halt_ms} ms** ({faults} fault(s), {})",
                    if *all_verified {
                        "all verified"
                    } else {
                        "NOT all verified"
                    }
                );
            }
        }
    }
    if !any {
        let _ = writeln!(out, "None: the run went to plan.");
    }
    out.push('\n');

    // Notes by role & action items
    let mut by_role: BTreeMap<&str, Vec<&NoteRow>> = BTreeMap::new();
    for n in &run.notes {
        by_role.entry(n.role.as_str()).or_default().push(n);
    }
    let _ = writeln!(out, "## Notes\n");
    if by_role.is_empty() {
        let _ = writeln!(out, "No notes were taken.\n");
    }
    for (role, notes) in &by_role {
        let _ = writeln!(out, "### {role}\n");
        for n in notes {
            let _ = writeln!(
                out,
                "- {} {}",
                t_plus(start, n.ts),
                n.text.replace('\n', " ")
            );
        }
        out.push('\n');
    }
    let _ = writeln!(out, "## Action items\n");
    let actions: Vec<&NoteRow> = run.notes.iter().filter(|n| n.action).collect();
    if actions.is_empty() {
        let _ = writeln!(out, "None recorded.\n");
    }
    for n in &actions {
        let _ = writeln!(
            out,
            "- [ ] {} ({}, {})",
            n.text.replace('\n', " "),
            n.role,
            t_plus(start, n.ts)
        );
    }
    if !actions.is_empty() {
        out.push('\n');
    }

    // Appendix
    let _ = writeln!(out, "## Appendix\n");
    let _ = writeln!(out, "| | |\n|---|---|");
    if let Some(s) = scenario {
        let _ = writeln!(
            out,
            "| Scenario file | `{}` |",
            cell(&s.file.display().to_string())
        );
        let _ = writeln!(out, "| Scenario sha256 | `{}` |", s.sha256);
    }
    let _ = writeln!(
        out,
        "| gameday version | {} |",
        run.version.as_deref().unwrap_or("unknown")
    );
    let _ = writeln!(out, "| Journal records | {} |", run.records);
    out
}

/// File-name-safe stem for a metric's chart: `chart-<stem>.svg`.
pub fn chart_file_stem(metric: &str) -> String {
    metric
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}
