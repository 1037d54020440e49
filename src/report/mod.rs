//! The debrief: GitHub Markdown built from the journal alone (folded into a [`RunState`]), so a
//! crashed run still has one. Every function here is pure: state in, text out.

pub mod chart;
pub mod day;
pub mod history;
pub mod junit;
pub mod summary;
pub mod write;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::event::{Phase, RollbackStatus, RuleCheck};
use crate::fmt::{self, t_plus};
use crate::fold::{FaultRow, Incident, MetricState, NoteRow, RunState};
use crate::scenario::Scenario;

fn utc(ts: DateTime<Utc>) -> String {
    ts.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Escapes text for a Markdown table cell: shown as written, never as HTML.
fn cell(s: &str) -> String {
    table(&html(s))
}

/// Escapes what would break a table row (inside a code span too, where entities would show).
fn table(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('\r', "")
        .replace('\n', "<br>")
}

/// Text that Markdown renders as written, never as HTML.
fn html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Generated text (timeline lines, reasons) as Markdown that shows it as written: every character
/// HTML-escaped, then its `code` spans (paired backticks) as `<code>` elements, in which entities
/// read as the characters (a code span would show `&lt;` literally). Unpaired backticks stay.
fn prose(escaped: String) -> String {
    if !escaped.matches('`').count().is_multiple_of(2) {
        return escaped;
    }
    let mut out = String::with_capacity(escaped.len() + 16);
    let mut open = false;
    for c in escaped.chars() {
        if c == '`' {
            out.push_str(if open { "</code>" } else { "<code>" });
            open = !open;
        } else {
            out.push(c);
        }
    }
    out
}

/// A note's metric snapshot as a collapsed `<details>` that fits in one table cell; empty for a
/// note with none (written after the run, or before any metric).
fn note_snapshot(run: &RunState, n: &crate::fold::NoteRow) -> String {
    if n.metrics.is_empty() && n.faults.is_empty() {
        return String::new();
    }
    let unit = |name: &str| {
        run.scenario
            .as_deref()
            .and_then(|s| s.metrics.get(name))
            .and_then(|m| m.unit.clone())
            .map(|u| format!(" {u}"))
            .unwrap_or_default()
    };
    let mut parts: Vec<String> = n
        .metrics
        .iter()
        .map(|(name, v)| {
            let u = if v.is_some() {
                unit(name)
            } else {
                String::new()
            };
            format!("{}: {}{u}", name, fmt::value(*v))
        })
        .collect();
    if n.faults.is_empty() {
        parts.push("no fault live".into());
    }
    for f in &n.faults {
        let host = run.host_names.name(&f.host).unwrap_or(&f.host);
        parts.push(format!("fault {} on {host}: {}", f.fault, f.state));
    }
    let body: Vec<String> = parts.iter().map(|p| cell(p)).collect();
    format!(
        "<details><summary>snapshot</summary>{}</details>",
        body.join("<br>")
    )
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
    table(&format!("{fence}{pad}{s}{pad}{fence}"))
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

    executive_summary(&mut out, run);
    roles(&mut out, scenario);
    step_results(&mut out, run, start);
    ctk_activities(&mut out, run, start);
    impact(&mut out, run, start);

    // Summary and key times
    let _ = writeln!(out, "## Summary and key times\n");
    match &run.verdict {
        Some(v) => {
            let _ = writeln!(
                out,
                "**Verdict: {}** (exit {}) — {}\n",
                v.verdict.label(),
                v.exit_code,
                prose(html(&v.reason))
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
    let _ = writeln!(
        out,
        "Each note carries the metrics and live faults at the moment it was written (click to open).\n"
    );
    let _ = writeln!(out, "| T+ | UTC | Source | Event |\n|---|---|---|---|");
    for e in run.timeline.iter().filter(|e| !e.minor) {
        let snapshot = run
            .notes
            .iter()
            .find(|n| n.seq == e.seq)
            .map(|n| note_snapshot(run, n))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {}{snapshot} |",
            t_plus(start, e.ts),
            fmt::wall_clock(e.ts),
            cell(&e.src),
            prose(cell(&e.text))
        );
    }
    out.push('\n');

    // Faults
    let rows = &run.faults;
    let _ = writeln!(out, "## Faults\n");
    selection_lines(&mut out, run);
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
                cell(&r.host_detail()),
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
                match &r.host_name {
                    Some(n) => {
                        let _ = writeln!(out, "- **{}** on `{n}` (`{}`):", r.fault, r.host);
                    }
                    None => {
                        let _ = writeln!(out, "- **{}** on `{}`:", r.fault, r.host);
                    }
                }
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
                    "- {} abort rule {} tripped after {} ({})",
                    t_plus(start, *ts),
                    code(label),
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
                    html(by),
                    prose(html(reason))
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

    notes(&mut out, run, start);

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
        for (name, t) in &s.targets {
            let hosts = match &t.transport {
                crate::scenario::Transport::Local => "this machine (local)".to_string(),
                crate::scenario::Transport::Ssh { hosts, .. } => hosts
                    .iter()
                    .map(|h| cell(&run.host_names.detail(&h.to_string())))
                    .collect::<Vec<_>>()
                    .join(", "),
            };
            let _ = writeln!(out, "| Target `{}` | {hosts} |", cell(name));
        }
    }
    let _ = writeln!(
        out,
        "| gameday version | {} |",
        run.version.as_deref().unwrap_or("unknown")
    );
    let _ = writeln!(out, "| Journal records | {} |", run.records);
    let edits: Vec<_> = run
        .notes
        .iter()
        .flat_map(|n| n.edits.iter().map(move |e| (n, e)))
        .collect();
    if !run.accepted_keys.is_empty() {
        let _ = writeln!(out, "\n### Host keys accepted\n");
        let _ = writeln!(
            out,
            "Keys trusted on first sight, without a check against the host's own: compare each with `ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub` on the host.\n"
        );
        let _ = writeln!(
            out,
            "| Host | Key | Fingerprint | Written to | By |\n|---|---|---|---|---|"
        );
        for k in &run.accepted_keys {
            let _ = writeln!(
                out,
                "| {} | {} | `{}` | `{}` | `{}` |",
                cell(&run.host_names.detail(&k.host)),
                cell(&k.key_type),
                cell(&k.fingerprint),
                cell(&k.known_hosts),
                cell(&k.by)
            );
        }
    }
    if !run.notifications.is_empty() {
        let _ = writeln!(out, "\n### Notifications\n");
        let _ = writeln!(
            out,
            "| Target | Delivered | Not delivered | Last failure |\n|---|---|---|---|"
        );
        for (to, s) in &run.notifications {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                cell(to),
                s.delivered,
                s.failed,
                cell(s.last_error.as_deref().unwrap_or("—"))
            );
        }
    }
    if !edits.is_empty() {
        let _ = writeln!(out, "\n### Note edits\n");
        let _ = writeln!(
            out,
            "Each edit made in the review; the journal keeps every version.\n"
        );
        let _ = writeln!(
            out,
            "| Note of | Edited at | By | Before | After |\n|---|---|---|---|---|"
        );
        for (n, e) in edits {
            let _ = writeln!(
                out,
                "| {} ({}) | {} | {} | {} | {} |",
                t_plus(start, n.ts),
                cell(&n.role),
                t_plus(start, e.ts),
                cell(&e.role),
                cell(&e.before),
                cell(&e.after)
            );
        }
    }
    out
}

/// Marks a note changed in the review (the appendix lists what it said before).
fn edited(n: &NoteRow) -> &'static str {
    if n.edits.is_empty() {
        ""
    } else {
        " *(edited)*"
    }
}

/// The notes, from the fold's grouping by kind: observations by role, then one section per kind
/// (what went well, what went wrong, lessons learned and questions, action items as a table with a
/// checkbox, runbook gaps).
fn notes(out: &mut String, run: &RunState, start: DateTime<Utc>) {
    use crate::event::NoteKind;
    let line = |n: &NoteRow| {
        format!(
            "- {} {} ({}){}",
            t_plus(start, n.ts),
            html(&n.text.replace('\n', " ")),
            html(&n.role),
            edited(n)
        )
    };
    let mut by_role: BTreeMap<&str, Vec<&NoteRow>> = BTreeMap::new();
    for n in run.notes_of(NoteKind::Observation) {
        by_role.entry(n.role.as_str()).or_default().push(n);
    }
    let _ = writeln!(out, "## Notes\n");
    if by_role.is_empty() {
        let _ = writeln!(out, "No observations were noted.\n");
    }
    for (role, notes) in &by_role {
        let _ = writeln!(out, "### {}\n", html(role));
        for n in notes {
            let _ = writeln!(
                out,
                "- {} {}{}",
                t_plus(start, n.ts),
                html(&n.text.replace('\n', " ")),
                edited(n)
            );
        }
        out.push('\n');
    }
    for (kind, title) in [
        (NoteKind::WentWell, "What went well"),
        (NoteKind::WentWrong, "What went wrong"),
        (NoteKind::Question, "Lessons learned and questions"),
    ] {
        let _ = writeln!(out, "## {title}\n");
        let notes: Vec<&NoteRow> = run.notes_of(kind).collect();
        if notes.is_empty() {
            let _ = writeln!(out, "None noted.\n");
            continue;
        }
        for n in notes {
            let _ = writeln!(out, "{}", line(n));
        }
        out.push('\n');
    }
    let _ = writeln!(out, "## Action items\n");
    let actions: Vec<&NoteRow> = run.notes_of(NoteKind::ActionItem).collect();
    if actions.is_empty() {
        let _ = writeln!(out, "None recorded.\n");
    } else {
        let _ = writeln!(
            out,
            "| Done | Action | Owner | Due | Source note |\n|---|---|---|---|---|"
        );
        for n in &actions {
            let _ = writeln!(
                out,
                "| [ ] | {}{} | {} | {} | {} at {} |",
                cell(&n.text),
                edited(n),
                cell(n.owner.as_deref().unwrap_or("—")),
                cell(n.due.as_deref().unwrap_or("—")),
                cell(&n.role),
                t_plus(start, n.ts)
            );
        }
        out.push('\n');
    }
    let _ = writeln!(out, "## Runbook gaps\n");
    let gaps: Vec<&NoteRow> = run.notes_of(NoteKind::RunbookGap).collect();
    if gaps.is_empty() {
        let _ = writeln!(out, "None noted.\n");
    } else {
        for n in gaps {
            let _ = writeln!(out, "{}", line(n));
        }
        out.push('\n');
    }
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

fn executive_summary(out: &mut String, run: &RunState) {
    let k = summary::Summary::of(run);
    let _ = writeln!(out, "## Executive summary\n");
    let _ = writeln!(out, "{}\n", prose(html(&k.sentence)));
    for l in summary_lines(run, true) {
        let _ = writeln!(out, "- {l}");
    }
    out.push('\n');
}

/// The executive summary's lines (steps, worst impact, times to detect, mitigate and recover,
/// faults) from [`summary::Summary`]: with `md`, Markdown (code and bold) for `debrief.md`; without,
/// plain text for the console's Debrief screen.
pub fn summary_lines(run: &RunState, md: bool) -> Vec<String> {
    let k = summary::Summary::of(run);
    let tick = |s: &str| if md { format!("`{s}`") } else { s.to_string() };
    let bold = |s: &str| {
        if md {
            format!("**{s}**")
        } else {
            s.to_string()
        }
    };
    let mut lines = Vec::new();
    if let Some(s) = run.scenario.as_deref() {
        let h = s.hypothesis.trim();
        lines.push(format!(
            "Tested: {}{}",
            if md { prose(html(h)) } else { h.to_string() },
            if h.ends_with('.') { "" } else { "." }
        ));
    }
    lines.push(format!(
        "Steps: {} passed, {} failed, {} undecided ({} with success criteria).",
        k.steps_passed, k.steps_failed, k.steps_undecided, k.steps_with_criteria
    ));
    if let Some(w) = k
        .worst_impact
        .as_ref()
        .filter(|w| w.worst.is_none() && w.no_data_during_faults > 0)
    {
        lines.push(format!(
            "Worst impact: {} {} while faults were in ({} polls).",
            tick(&w.metric),
            bold("had no data"),
            w.no_data_during_faults
        ));
    } else if let Some(w) = &k.worst_impact {
        lines.push(format!(
            "Worst impact: {} reached {} during faults (baseline mean {}{}).",
            tick(&w.metric),
            fmt::value(w.worst),
            fmt::value(w.baseline_mean),
            w.change_pct
                .map(|c| format!("; mean during faults {c:+.0} %"))
                .unwrap_or_default()
        ));
    }
    let span = fmt::elapsed_ms_or_dash;
    lines.push(format!(
        "Time to detect: {} (human) / {} (automated) · to mitigate: {} · to recover: {}.",
        span(k.time_to_detect_ms),
        span(k.time_to_detect_automated_ms),
        span(k.time_to_mitigate_ms),
        if k.not_recovered > 0 {
            format!("{} metric(s) {}", k.not_recovered, bold("did not recover"))
        } else {
            span(k.time_to_recover_ms)
        }
    ));
    lines.push(format!(
        "Faults: {} injected, {} verified rolled back{}.",
        k.faults_injected,
        k.faults_verified,
        if k.faults_unresolved > 0 {
            format!(
                ", {}",
                bold(&format!("{} not verified", k.faults_unresolved))
            )
        } else {
            String::new()
        }
    ));
    lines
}

/// Each metric's time to recover after each moment every fault was back, one line each (the
/// debrief's "Time to recover" and the console's Debrief screen); `md` as in [`summary_lines`].
pub fn recovery_lines(run: &RunState, start: DateTime<Utc>, md: bool) -> Vec<String> {
    use crate::fold::impact::{Recovery, Since};
    let bold = |s: &str| {
        if md {
            format!("**{s}**")
        } else {
            s.to_string()
        }
    };
    let mut out = Vec::new();
    for (name, m) in &run.impact.metrics {
        for r in &m.recoveries {
            let what = match r.result(run.ended) {
                Recovery::Recovered { ms } => fmt::elapsed_ms(ms),
                Recovery::Waiting => "still recovering (the run has not ended)".into(),
                Recovery::NotBeforeNextFault => {
                    format!("{} before the next fault", bold("did not recover"))
                }
                Recovery::NotBeforeEnd => {
                    format!("{} before the run ended", bold("did not recover"))
                }
                Recovery::NotAffected => "not affected (stayed inside its bound)".into(),
                Recovery::NotWhileFaultIn => {
                    format!("{} while the fault was in", bold("did not heal"))
                }
            };
            let name = if md {
                format!("`{name}`")
            } else {
                name.clone()
            };
            let from = t_plus(start, r.from);
            out.push(match (r.since, r.result(run.ended)) {
                (Since::Rollback, _) => format!("{name} after the rollback at {from}: {what}"),
                (Since::Inject, Recovery::Recovered { ms }) => format!(
                    "{name} under the fault from {from}: healed on its own after {}",
                    fmt::elapsed_ms(ms)
                ),
                (Since::Inject, Recovery::Waiting) => {
                    format!("{name} under the fault from {from}: not healed yet")
                }
                (Since::Inject, Recovery::NotBeforeEnd) => format!(
                    "{name} under the fault from {from}: {} before the run ended",
                    bold("did not heal")
                ),
                (Since::Inject, _) => format!("{name} under the fault from {from}: {what}"),
            });
        }
    }
    out
}

/// A step's result in words: its journaled outcome, or why there is none.
pub fn step_result(run: &RunState, index: usize) -> String {
    run.step_results
        .iter()
        .find(|r| r.index == index)
        .map(|r| r.outcome.label().to_string())
        .unwrap_or_else(|| {
            if run.impact.steps.iter().any(|d| d.index == index) {
                "no result journaled".into()
            } else {
                "not run".into()
            }
        })
}

fn roles(out: &mut String, scenario: Option<&Scenario>) {
    let _ = writeln!(out, "## Roles and participants\n");
    match scenario {
        Some(s) if !s.roles.is_empty() => {
            let _ = writeln!(out, "| Role | People |\n|---|---|");
            for (role, who) in &s.roles {
                let _ = writeln!(
                    out,
                    "| {} | {} |",
                    cell(&role.replace('_', " ")),
                    cell(&who.join(", "))
                );
            }
            out.push('\n');
        }
        _ => {
            let _ = writeln!(out, "No roles were named in the scenario.\n");
        }
    }
}

/// A Chaos Toolkit run's activities by phase (steady state before, method, steady state after,
/// rollbacks) and where gameday was stricter than `chaos run`; nothing for other runs.
fn ctk_activities(out: &mut String, run: &RunState, start: DateTime<Utc>) {
    if run.ctk.is_empty() && run.ctk_stricter.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "## Chaos Toolkit activities
"
    );
    let phases = [
        (Phase::SteadyStateBefore, "Steady state before"),
        (Phase::Steps, "Method"),
        (Phase::SteadyStateAfter, "Steady state after"),
        (Phase::Rollback, "Rollbacks"),
    ];
    for (phase, title) in phases {
        let rows: Vec<_> = run.ctk.iter().filter(|r| r.phase == phase).collect();
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(
            out,
            "### {title}
"
        );
        let _ = writeln!(
            out,
            "| Activity | Provider | Status | Returned | Tolerance met | Ended | Took |\n|---|---|---|---|---|---|---|"
        );
        for r in rows {
            let returned = match (&r.error, r.output_status) {
                (Some(e), _) => cell(e),
                (None, Some(s)) => format!("status {s}"),
                (None, None) => "—".into(),
            };
            let tolerance = match r.tolerance_met {
                Some(true) => "✅ yes",
                Some(false) => "❌ no",
                None => "—",
            };
            let _ = writeln!(
                out,
                "| {} `{}`{} | {} | {} | {returned} | {tolerance} | {} | {} |",
                cell(&r.activity),
                cell(&r.name),
                if r.background { " (background)" } else { "" },
                cell(&r.provider),
                if r.status == "succeeded" {
                    "succeeded".to_string()
                } else {
                    format!("**{}**", cell(&r.status))
                },
                t_plus(start, r.ts),
                fmt::elapsed_ms(r.ms)
            );
        }
        out.push('\n');
    }
    if !run.ctk_stricter.is_empty() {
        let _ = writeln!(out, "### Where gameday was stricter than `chaos run`\n");
        for what in &run.ctk_stricter {
            let _ = writeln!(out, "- {}", prose(html(what)));
        }
        out.push('\n');
    }
}

fn step_results(out: &mut String, run: &RunState, start: DateTime<Utc>) {
    use crate::event::CriterionOutcome;
    let _ = writeln!(out, "## Step results\n");
    let Some(s) = run.scenario.as_deref() else {
        let _ = writeln!(out, "Unknown: the journal has no scenario.\n");
        return;
    };
    if s.steps.iter().all(|st| st.success.is_empty()) {
        let _ = writeln!(out, "No step has success criteria.\n");
        return;
    }
    for (i, step) in s.steps.iter().enumerate() {
        if step.success.is_empty() {
            continue;
        }
        let result = match step_result(run, i) {
            r if run.step_results.iter().any(|s| s.index == i) => format!("**{r}**"),
            r => r,
        };
        let _ = writeln!(out, "### Step {}: {} — {result}\n", i + 1, step.name);
        if let Some(e) = &step.expect {
            let _ = writeln!(out, "Expected: {}\n", e.replace('\n', " "));
        }
        let _ = writeln!(
            out,
            "| Criterion | Result | Evidence | Decided |\n|---|---|---|---|"
        );
        for c in run.criteria.iter().filter(|c| c.step == i) {
            let result = match c.outcome {
                Some(o @ CriterionOutcome::Passed) => format!("✅ {}", o.label()),
                Some(o @ CriterionOutcome::Failed) => format!("❌ **{}**", o.label()),
                Some(o) => o.label().to_string(),
                None => "not decided".into(),
            };
            let evidence = c.evidence();
            let _ = writeln!(
                out,
                "| {}{} | {} | {} | {} |",
                cell(&c.label),
                if c.human { " (human check)" } else { "" },
                result,
                cell(&evidence),
                c.ts.map(|t| t_plus(start, t)).unwrap_or_else(|| "—".into())
            );
        }
        out.push('\n');
    }
}

fn impact(out: &mut String, run: &RunState, start: DateTime<Utc>) {
    let rows: Vec<_> = run
        .impact
        .metrics
        .iter()
        .filter(|(_, m)| m.baseline.samples + m.during.samples + m.after.samples > 0)
        .collect();
    let _ = writeln!(out, "## Impact\n");
    if rows.is_empty() {
        // Detection below still counts: the milestones need no metric.
        let _ = writeln!(out, "No metric was sampled.\n");
    } else {
        let _ = writeln!(
            out,
            "Baseline: before the first fault · during: while a fault was in · after: after the last rollback. p50 and p95 are estimated within 1 %.\n"
        );
        let _ = writeln!(
            out,
            "| Metric | Window | Samples | Mean | p50 | p95 | Worst | Change vs baseline |\n|---|---|---|---|---|---|---|---|"
        );
    }
    for (name, m) in &rows {
        let base = m.baseline.mean();
        for (label, w) in [
            ("baseline", &m.baseline),
            ("during faults", &m.during),
            ("after", &m.after),
        ] {
            let change = match (base, w.mean()) {
                (Some(b), Some(v)) if b != 0.0 && label != "baseline" => {
                    format!("{:+.1} %", (v - b) / b.abs() * 100.0)
                }
                _ => "—".into(),
            };
            let _ = writeln!(
                out,
                "| {} | {label} | {}{} | {} | {} | {} | {} | {change} |",
                cell(name),
                w.samples,
                if w.no_data > 0 {
                    format!(" (+{} no data)", w.no_data)
                } else {
                    String::new()
                },
                fmt::value(w.mean()),
                fmt::value(w.quantile(0.5)),
                fmt::value(w.quantile(0.95)),
                fmt::value(w.worst(m.higher_is_better)),
            );
        }
    }
    out.push('\n');
    // The same charts as the Metrics section, here beside the numbers they show.
    let charts: Vec<String> = rows
        .iter()
        .filter(|(name, _)| run.metrics.get(*name).is_some_and(|m| m.samples > 0))
        .map(|(name, _)| format!("![{}](chart-{}.svg)", cell(name), chart_file_stem(name)))
        .collect();
    if !charts.is_empty() {
        let _ = writeln!(out, "{}\n", charts.join(" "));
    }
    let _ = writeln!(out, "### Time to recover\n");
    let _ = writeln!(
        out,
        "From each moment every fault was back to the first of 3 samples in a row inside the metric's steady-state bound; and, for systems that heal on their own, from each inject to the same, once the fault had pushed the metric out, while the fault was still in.\n"
    );
    let recoveries = recovery_lines(run, start, true);
    let any = !recoveries.is_empty();
    for l in recoveries {
        let _ = writeln!(out, "- {l}");
    }
    if !any {
        let _ = writeln!(
            out,
            "Nothing to measure: no rollback, or no metric has a steady-state rule."
        );
    }
    out.push('\n');
    let _ = writeln!(out, "### Detection\n");
    let det: Vec<_> = run
        .detection()
        .into_iter()
        .filter(|d| d.first_inject.is_some())
        .collect();
    if det.is_empty() {
        let _ = writeln!(out, "No fault went in.\n");
        return;
    }
    let _ = writeln!(
        out,
        "| Step | Faults in | Automated (first breach) | Human (`detected`) | Mitigated (`mitigated`) |\n|---|---|---|---|---|"
    );
    for d in det {
        let Some(from) = d.first_inject else {
            continue;
        };
        let since = |t: DateTime<Utc>| fmt::elapsed_ms(d.since_inject(t).unwrap_or(0));
        let _ = writeln!(
            out,
            "| {} {} | {} | {} | {} | {} |",
            d.index + 1,
            cell(&d.name),
            t_plus(start, from),
            d.automated
                .as_ref()
                .map(|(t, what)| format!("{} ({})", since(*t), prose(cell(what))))
                .unwrap_or_else(|| "none".into()),
            d.human.map(since).unwrap_or_else(|| "not marked".into()),
            d.mitigated
                .map(since)
                .unwrap_or_else(|| "not marked".into()),
        );
    }
    out.push('\n');
}

/// Which hosts each `select:` chose, out of how many, with which seed; a refused selection.
fn selection_lines(out: &mut String, run: &RunState) {
    if run.selections.is_empty() && run.selection_refused.is_none() && run.expansions.is_empty() {
        return;
    }
    let _ = writeln!(out, "Host selection:\n");
    for s in &run.selections {
        let budget = s
            .budget
            .map(|b| format!("; blast radius {b} at once"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "- **{}** (step {}): {} of {} candidate host(s) of `{}` chosen ({}) with seed {}{budget}: {}",
            cell(&s.fault),
            s.step.saturating_add(1),
            s.chosen.len(),
            s.candidates,
            cell(&s.target),
            cell(&s.size),
            s.seed,
            cell(&crate::fold::describe::host_list(
                &s.chosen,
                &run.host_names
            ))
        );
    }
    if let Some(why) = &run.selection_refused {
        let _ = writeln!(
            out,
            "- **Selection refused, nothing injected**: {}",
            cell(why)
        );
    }
    for e in &run.expansions {
        let name = run
            .scenario
            .as_ref()
            .and_then(|s| s.steps.get(e.step))
            .map(|s| format!(" ({})", cell(&s.name)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "- Expansion of step {}{name}: {}",
            e.step.saturating_add(1),
            cell(&e.line())
        );
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Generated text shows as written: a bound's `<` inside a code span reads `<` (not `&lt;`),
    /// hostile HTML stays text inside and outside code, a table cell keeps its pipes escaped.
    #[test]
    fn prose_shows_code_spans_and_hostile_text_as_written() {
        assert_eq!(
            prose(cell("steady state `errors < 0.5` breached")),
            "steady state <code>errors &lt; 0.5</code> breached"
        );
        assert_eq!(
            prose(html("`<script>x</script>` and <img src=x onerror=y>")),
            "<code>&lt;script&gt;x&lt;/script&gt;</code> and &lt;img src=x onerror=y&gt;"
        );
        assert_eq!(prose(cell("a | `b|c`")), "a \\| <code>b\\|c</code>");
        // Unpaired: left as it is, still escaped.
        assert_eq!(prose(html("one ` <b>")), "one ` &lt;b&gt;");
    }
}
