//! The debrief: GitHub Markdown built from the journal's events alone, so a crashed run still has one.
//! Every function here is pure: events in, text out.

pub mod chart;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::engine::fmt_value;
use crate::event::{Envelope, Event, MilestoneKind, Phase, RollbackStatus, RuleCheck, Verdict};
use crate::scenario::Scenario;

/// One human line for an event: who or what it came from, and what happened.
pub fn describe(event: &Event) -> (String, String) {
    let (src, text) = match event {
        Event::RunStarted {
            scenario,
            gameday_version,
            ..
        } => (
            "engine",
            format!(
                "run started: {} (gameday {gameday_version})",
                scenario.title
            ),
        ),
        Event::PhaseStarted { phase } => ("engine", format!("phase: {}", phase_name(*phase))),
        Event::PreflightCheck { check, ok, detail } => (
            "preflight",
            format!("{} {check}: {detail}", if *ok { "ok" } else { "FAILED" }),
        ),
        Event::PreflightHeld { failures } => (
            "preflight",
            format!(
                "live checks FAILED ({}): waiting for an override with a reason, or a halt",
                failures.join("; ")
            ),
        ),
        Event::PreflightOverridden {
            by,
            reason,
            failures,
        } => (
            "preflight",
            format!(
                "OVERRIDE by {by}: started despite {} failed check(s): {reason}",
                failures.len()
            ),
        ),
        Event::SteadyState {
            phase,
            held,
            checks,
        } => (
            "steady state",
            format!(
                "{} {}: {}",
                if *phase == Phase::SteadyStateBefore {
                    "before"
                } else {
                    "after"
                },
                if *held { "HELD" } else { "NOT HELD" },
                checks.iter().map(check_text).collect::<Vec<_>>().join("; ")
            ),
        ),
        Event::StepStarted {
            index,
            name,
            duration_ms,
            prompt,
        } => (
            "engine",
            match prompt {
                Some(p) => format!("step {} `{name}` ({}): {p}", index + 1, secs(*duration_ms)),
                None => format!("step {} `{name}` ({})", index + 1, secs(*duration_ms)),
            },
        ),
        Event::StepEnded {
            index,
            name,
            advanced,
        } => (
            "engine",
            format!(
                "step {} `{name}` ended{}",
                index + 1,
                if *advanced { " (advanced early)" } else { "" }
            ),
        ),
        Event::FaultIntent {
            fault,
            kind,
            host,
            inject,
            ..
        } => (
            "fault",
            format!("intent {fault} ({kind}) on {host}: {inject}"),
        ),
        Event::FaultInjected {
            fault,
            host,
            ok,
            outcome,
        } => (
            "fault",
            format!(
                "{} {fault} on {host}: {}",
                if *ok { "injected" } else { "INJECT FAILED" },
                outcome.summary()
            ),
        ),
        Event::FaultNotInjected {
            fault,
            host,
            reason,
            ..
        } => (
            "fault",
            format!("NOT INJECTED {fault} on {host}: {reason} (nothing to roll back)"),
        ),
        Event::Sample {
            metric,
            value,
            error,
        } => (
            "metric",
            match (value, error) {
                (Some(v), _) => format!("{metric} = {}", fmt_value(Some(*v))),
                (None, Some(e)) => format!("{metric}: no data ({e})"),
                (None, None) => format!("{metric}: no data"),
            },
        ),
        Event::RuleBreaching {
            label,
            value,
            left_ms,
            reason,
            ..
        } => (
            "abort rule",
            format!(
                "`{label}` breaching ({}): auto-abort in {}",
                reason
                    .clone()
                    .unwrap_or_else(|| format!("value {}", fmt_value(*value))),
                secs(*left_ms)
            ),
        ),
        Event::RuleCleared { label, value, .. } => (
            "abort rule",
            format!("`{label}` cleared (value {})", fmt_value(*value)),
        ),
        Event::RuleTripped {
            label,
            breaching_ms,
            ..
        } => (
            "abort rule",
            format!("`{label}` TRIPPED after {}", elapsed(*breaching_ms)),
        ),
        Event::Note {
            role, text, action, ..
        } => (
            role.as_str(),
            if *action {
                format!("ACTION: {text}")
            } else {
                text.clone()
            },
        ),
        Event::Milestone { kind, role } => (
            role.as_str(),
            format!("milestone: {}", milestone_name(*kind)),
        ),
        Event::HaltRequested { by, reason } => ("HALT", format!("halt by {by}: {reason}")),
        Event::LeaseArmed {
            fault,
            host,
            ok,
            lease_ms,
            outcome,
            ..
        } => (
            "lease",
            if *ok {
                format!(
                    "lease armed for {fault} on {host}: the host reverts it {}s after the last renewal",
                    lease_ms / 1000
                )
            } else {
                format!(
                    "lease for {fault} on {host} could not be armed ({}): not injected",
                    outcome.summary()
                )
            },
        ),
        Event::LeaseRenewed {
            fault,
            host,
            ok,
            error,
        } => (
            "lease",
            if *ok {
                format!("lease renewed for {fault} on {host}")
            } else {
                format!(
                    "lease renewal failed for {fault} on {host}: {}",
                    error.as_deref().unwrap_or("unknown")
                )
            },
        ),
        Event::LeaseCancelled { fault, host, ok } => (
            "lease",
            if *ok {
                format!("lease cancelled for {fault} on {host}")
            } else {
                format!(
                    "lease for {fault} on {host} could not be cancelled (its undo may run again; harmless)"
                )
            },
        ),
        Event::RollbackStarted { fault, host } => {
            ("rollback", format!("rolling back {fault} on {host}"))
        }
        Event::RollbackResult {
            fault,
            host,
            status,
            how,
            ..
        } => (
            "rollback",
            format!("{fault} on {host}: {} ({how})", status_name(*status)),
        ),
        Event::RollbackFinished {
            all_verified,
            faults,
            since_halt_ms,
        } => (
            "rollback",
            format!(
                "{} of {faults} fault(s){}",
                if *all_verified {
                    "all verified"
                } else {
                    "NOT all verified"
                },
                since_halt_ms
                    .map(|m| format!("; halt → last rollback confirmed {m} ms"))
                    .unwrap_or_default()
            ),
        ),
        Event::Verdict {
            verdict,
            exit_code,
            reason,
        } => (
            "verdict",
            format!("{} (exit {exit_code}): {reason}", verdict.label()),
        ),
        Event::RunEnded => ("engine", "run ended".to_string()),
    };
    (src.to_string(), text)
}

fn check_text(c: &RuleCheck) -> String {
    match &c.reason {
        Some(r) => format!("{} → no data ({r})", c.rule),
        None => format!("{} → {}", c.rule, fmt_value(c.value)),
    }
}

pub fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Preflight => "preflight",
        Phase::SteadyStateBefore => "steady-state check (before)",
        Phase::Steps => "steps",
        Phase::SteadyStateAfter => "steady-state check (after)",
        Phase::Rollback => "rollback",
        Phase::Verdict => "verdict",
    }
}

fn milestone_name(k: MilestoneKind) -> &'static str {
    match k {
        MilestoneKind::Detected => "detected",
        MilestoneKind::Mitigated => "mitigated",
    }
}

pub fn status_name(s: RollbackStatus) -> &'static str {
    match s {
        RollbackStatus::Verified => "VERIFIED",
        RollbackStatus::Failed => "FAILED",
        RollbackStatus::Unknown => "UNKNOWN",
    }
}

fn elapsed(ms: u64) -> String {
    crate::scenario::format_elapsed(std::time::Duration::from_millis(ms))
}

fn secs(ms: u64) -> String {
    crate::scenario::format_duration(std::time::Duration::from_millis(ms))
}

/// `T+mm:ss` (or `T+h:mm:ss`) since the run started.
pub fn t_plus(start: DateTime<Utc>, ts: DateTime<Utc>) -> String {
    let s = (ts - start).num_seconds().max(0);
    if s >= 3600 {
        format!("T+{}:{:02}:{:02}", s / 3600, (s % 3600) / 60, s % 60)
    } else {
        format!("T+{:02}:{:02}", s / 60, s % 60)
    }
}

/// `ts` plus `ms` milliseconds, clamped to the latest time chrono can hold: journal numbers are
/// input (a hostile or damaged journal must not crash `report` or `replay`).
pub fn plus_ms(ts: DateTime<Utc>, ms: u64) -> DateTime<Utc> {
    chrono::TimeDelta::try_milliseconds(i64::try_from(ms).unwrap_or(i64::MAX))
        .and_then(|d| ts.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

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

struct FaultRow {
    fault: String,
    kind: String,
    target: String,
    host: String,
    injected: Option<(DateTime<Utc>, bool)>,
    /// Why it never reached the host (refused by its check, or skipped by a halt).
    not_injected: Option<String>,
    rolled_back: Option<DateTime<Utc>>,
    status: Option<RollbackStatus>,
    how: String,
    undo: Option<String>,
    verify: Option<String>,
    manual: Option<String>,
    irreversible: bool,
}

/// The Markdown debrief of a run.
pub fn debrief(events: &[Envelope]) -> String {
    let mut out = String::new();
    let Some(first) = events.first() else {
        return "# Debrief\n\nThe journal holds no events.\n".to_string();
    };
    let start = first.ts;
    let end = events.last().map(|e| e.ts).unwrap_or(start);
    let scenario: Option<&Scenario> = events.iter().find_map(|e| match &e.event {
        Event::RunStarted { scenario, .. } => Some(scenario.as_ref()),
        _ => None,
    });
    let version = events.iter().find_map(|e| match &e.event {
        Event::RunStarted {
            gameday_version, ..
        } => Some(gameday_version.clone()),
        _ => None,
    });
    let verdict = events.iter().rev().find_map(|e| match &e.event {
        Event::Verdict {
            verdict,
            exit_code,
            reason,
        } => Some((*verdict, *exit_code, reason.clone())),
        _ => None,
    });
    let ended = events.iter().any(|e| matches!(e.event, Event::RunEnded));

    let title = scenario
        .map(|s| s.title.as_str())
        .unwrap_or("(unknown scenario)");
    let _ = writeln!(out, "# Debrief: {title}\n");

    // Summary
    let _ = writeln!(out, "## Summary\n");
    match &verdict {
        Some((v, code, reason)) => {
            let _ = writeln!(
                out,
                "**Verdict: {}** (exit {code}) — {}\n",
                v.label(),
                reason
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
    let _ = writeln!(out, "| Run | `{}` |", first.run);
    let _ = writeln!(out, "| Started (UTC) | {} |", utc(start));
    let _ = writeln!(
        out,
        "| Ended (UTC) | {}{} |",
        utc(end),
        if ended {
            ""
        } else {
            " (last record; run did not end cleanly)"
        }
    );
    let dur = (end - start).num_seconds().max(0);
    let _ = writeln!(out, "| Duration | {}m {:02}s |", dur / 60, dur % 60);
    if let Some(s) = scenario {
        for (role, who) in &s.roles {
            let _ = writeln!(out, "| {} | {} |", cell(&role.replace('_', " ")), cell(who));
        }
    }
    let times = key_times(events, start);
    for (k, v) in &times {
        let _ = writeln!(out, "| {k} | {v} |");
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
    let steady = |phase: Phase| {
        events.iter().find_map(|e| match &e.event {
            Event::SteadyState {
                phase: p,
                checks,
                held,
            } if *p == phase => Some((checks.clone(), *held)),
            _ => None,
        })
    };
    let before = steady(Phase::SteadyStateBefore);
    let after = steady(Phase::SteadyStateAfter);
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
                        None => fmt_value(c.value),
                    }
                ),
            },
        };
        for r in &rules {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                cell(r),
                show(&before, r),
                show(&after, r)
            );
        }
        out.push('\n');
    }

    // Metrics
    let metrics = metric_summary(events);
    if !metrics.is_empty() {
        let _ = writeln!(out, "## Metrics\n");
        let _ = writeln!(
            out,
            "| Metric | Samples | No data | Min | Max | Last | Chart |\n|---|---|---|---|---|---|---|"
        );
        for m in &metrics {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | ![{}](chart-{}.svg) |",
                cell(&m.name),
                m.samples,
                m.no_data,
                fmt_value(m.min),
                fmt_value(m.max),
                fmt_value(m.last),
                cell(&m.name),
                chart_file_stem(&m.name)
            );
        }
        out.push('\n');
    }

    // Timeline
    let _ = writeln!(out, "## Timeline\n");
    let _ = writeln!(out, "| T+ | UTC | Source | Event |\n|---|---|---|---|");
    for e in events {
        if matches!(
            e.event,
            Event::Sample { .. } | Event::PhaseStarted { .. } | Event::RunStarted { .. }
        ) {
            continue;
        }
        let (src, text) = describe(&e.event);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            t_plus(start, e.ts),
            e.ts.format("%H:%M:%S"),
            cell(&src),
            cell(&text)
        );
    }
    out.push('\n');

    // Faults
    let rows = fault_rows(events);
    let _ = writeln!(out, "## Faults\n");
    if rows.is_empty() {
        let _ = writeln!(out, "No fault was injected.\n");
    } else {
        let _ = writeln!(
            out,
            "| Fault | Kind | Target | Host | Injected | Rolled back | Verified | How |\n|---|---|---|---|---|---|---|---|"
        );
        for r in &rows {
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
            let verified = match (r.irreversible, r.status) {
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
                    && r.status != Some(RollbackStatus::Verified)
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
    for e in events {
        match &e.event {
            Event::RuleTripped {
                label,
                breaching_ms,
                reason,
                value,
                ..
            } => {
                any = true;
                let _ = writeln!(
                    out,
                    "- {} abort rule `{}` tripped after {} ({})",
                    t_plus(start, e.ts),
                    label,
                    elapsed(*breaching_ms),
                    reason
                        .clone()
                        .map(|r| format!("no data: {r}"))
                        .unwrap_or_else(|| format!("value {}", fmt_value(*value)))
                );
            }
            Event::HaltRequested { by, reason } => {
                any = true;
                let _ = writeln!(
                    out,
                    "- {} halt by **{}**: {}",
                    t_plus(start, e.ts),
                    by,
                    reason
                );
            }
            Event::RollbackFinished {
                since_halt_ms: Some(m),
                all_verified,
                faults,
            } => {
                let _ = writeln!(
                    out,
                    "- halt → last rollback confirmed: **{m} ms** ({faults} fault(s), {})",
                    if *all_verified {
                        "all verified"
                    } else {
                        "NOT all verified"
                    }
                );
            }
            _ => {}
        }
    }
    if !any {
        let _ = writeln!(out, "None: the run went to plan.");
    }
    out.push('\n');

    // Notes by role & action items
    let mut by_role: BTreeMap<&str, Vec<(DateTime<Utc>, &str)>> = BTreeMap::new();
    let mut actions = Vec::new();
    for e in events {
        if let Event::Note {
            role, text, action, ..
        } = &e.event
        {
            by_role
                .entry(role.as_str())
                .or_default()
                .push((e.ts, text.as_str()));
            if *action {
                actions.push((e.ts, role.as_str(), text.as_str()));
            }
        }
    }
    let _ = writeln!(out, "## Notes\n");
    if by_role.is_empty() {
        let _ = writeln!(out, "No notes were taken.\n");
    }
    for (role, notes) in &by_role {
        let _ = writeln!(out, "### {role}\n");
        for (ts, text) in notes {
            let _ = writeln!(out, "- {} {}", t_plus(start, *ts), text.replace('\n', " "));
        }
        out.push('\n');
    }
    let _ = writeln!(out, "## Action items\n");
    if actions.is_empty() {
        let _ = writeln!(out, "None recorded.\n");
    }
    for (ts, role, text) in &actions {
        let _ = writeln!(
            out,
            "- [ ] {} ({role}, {})",
            text.replace('\n', " "),
            t_plus(start, *ts)
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
        version.as_deref().unwrap_or("unknown")
    );
    let _ = writeln!(out, "| Journal records | {} |", events.len());
    out
}

/// Time to detect, time to mitigate and halt → verified, as table rows.
fn key_times(events: &[Envelope], start: DateTime<Utc>) -> Vec<(String, String)> {
    let first_fault = events.iter().find_map(|e| match &e.event {
        Event::FaultInjected { ok: true, .. } => Some(e.ts),
        _ => None,
    });
    let milestone = |k: MilestoneKind| {
        events.iter().find_map(|e| match &e.event {
            Event::Milestone { kind, .. } if *kind == k => Some(e.ts),
            _ => None,
        })
    };
    let mut rows = Vec::new();
    let fmt = |d: chrono::TimeDelta| {
        let s = d.num_seconds().max(0);
        format!("{}m {:02}s", s / 60, s % 60)
    };
    if let Some(f) = first_fault {
        rows.push(("First fault injected".into(), t_plus(start, f)));
        if let Some(d) = milestone(MilestoneKind::Detected) {
            rows.push(("Time to detect".into(), fmt(d - f)));
        }
        if let Some(m) = milestone(MilestoneKind::Mitigated) {
            rows.push(("Time to mitigate".into(), fmt(m - f)));
        }
    }
    if let Some(ms) = events.iter().find_map(|e| match &e.event {
        Event::RollbackFinished {
            since_halt_ms: Some(m),
            ..
        } => Some(*m),
        _ => None,
    }) {
        rows.push(("Halt → all rolled back".into(), format!("{ms} ms")));
    }
    rows
}

#[allow(clippy::collapsible_match)] // the guard form would need `&mut rows` in a match guard
fn fault_rows(events: &[Envelope]) -> Vec<FaultRow> {
    let mut rows: Vec<FaultRow> = Vec::new();
    let find = |rows: &mut Vec<FaultRow>, f: &str, h: &str| {
        rows.iter().position(|r| r.fault == f && r.host == h)
    };
    for e in events {
        match &e.event {
            Event::FaultIntent {
                fault,
                kind,
                target,
                host,
                undo,
                verify,
                irreversible,
                ..
            } if find(&mut rows, fault, host).is_none() => {
                rows.push(FaultRow {
                    fault: fault.clone(),
                    kind: kind.clone(),
                    target: target.clone(),
                    host: host.clone(),
                    injected: None,
                    not_injected: None,
                    rolled_back: None,
                    status: None,
                    how: String::new(),
                    undo: undo.clone(),
                    verify: verify.clone(),
                    manual: None,
                    irreversible: *irreversible,
                });
            }
            Event::FaultInjected {
                fault, host, ok, ..
            } => {
                if let Some(i) = find(&mut rows, fault, host) {
                    rows[i].injected = Some((e.ts, *ok));
                }
            }
            Event::FaultNotInjected {
                fault,
                host,
                reason,
                ..
            } => {
                if let Some(i) = find(&mut rows, fault, host) {
                    rows[i].not_injected = Some(reason.clone());
                }
            }
            Event::RollbackResult {
                fault,
                host,
                status,
                how,
                manual,
                ..
            } => {
                if let Some(i) = find(&mut rows, fault, host) {
                    rows[i].rolled_back = Some(e.ts);
                    rows[i].status = Some(*status);
                    rows[i].how = how.clone();
                    rows[i].manual = manual.clone();
                }
            }
            _ => {}
        }
    }
    rows
}

/// The verdict recorded in a journal, if the run got that far.
pub fn recorded_verdict(events: &[Envelope]) -> Option<Verdict> {
    events.iter().rev().find_map(|e| match &e.event {
        Event::Verdict { verdict, .. } => Some(*verdict),
        _ => None,
    })
}

struct MetricSummary {
    name: String,
    samples: usize,
    no_data: usize,
    min: Option<f64>,
    max: Option<f64>,
    last: Option<f64>,
}

fn metric_summary(events: &[Envelope]) -> Vec<MetricSummary> {
    let mut map: BTreeMap<&str, MetricSummary> = BTreeMap::new();
    for e in events {
        if let Event::Sample { metric, value, .. } = &e.event {
            let m = map.entry(metric.as_str()).or_insert_with(|| MetricSummary {
                name: metric.clone(),
                samples: 0,
                no_data: 0,
                min: None,
                max: None,
                last: None,
            });
            m.samples += 1;
            m.last = *value;
            match value {
                Some(v) => {
                    m.min = Some(m.min.map_or(*v, |x| x.min(*v)));
                    m.max = Some(m.max.map_or(*v, |x| x.max(*v)));
                }
                None => m.no_data += 1,
            }
        }
    }
    map.into_values().collect()
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
