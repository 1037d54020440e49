//! What the Review and Debrief screens share, from the same fold as `debrief.md`: the verdict, the
//! step results with each criterion's outcome and evidence, the notes grouped by kind.

use ratatui::text::{Line, Span};

use super::theme::Theme;
use crate::event::{CriterionOutcome, NoteKind, Verdict};
use crate::fmt::t_plus;
use crate::tui::app::App;

/// The verdict and its reason (or why there is none).
pub fn verdict_lines(app: &App, theme: &Theme) -> Vec<Line<'static>> {
    match &app.run.verdict {
        Some(v) => {
            let style = if v.verdict == Verdict::Held {
                theme.ok()
            } else {
                theme.bad()
            };
            vec![
                Line::styled(format!(" {} ", v.verdict.label()), style),
                Line::raw(v.reason.clone()),
            ]
        }
        None => vec![Line::styled(
            "no verdict (run still going or journal cut short)",
            theme.warn(),
        )],
    }
}

/// Per step with success criteria: its result, then each criterion's outcome and evidence.
pub fn step_lines(app: &App, theme: &Theme) -> Vec<Line<'static>> {
    let run = &app.run;
    let mut lines = vec![Line::styled("Step results", theme.title())];
    let Some(s) = run.scenario.as_deref() else {
        lines.push(Line::raw("  unknown: no scenario yet"));
        return lines;
    };
    if s.steps.iter().all(|st| st.success.is_empty()) {
        lines.push(Line::styled("  no step has success criteria", theme.dim()));
        return lines;
    }
    for (i, step) in s.steps.iter().enumerate() {
        if step.success.is_empty() {
            continue;
        }
        let result = crate::report::step_result(run, i);
        let style = match result.as_str() {
            "PASSED" => theme.ok(),
            "FAILED" => theme.bad(),
            _ => theme.warn(),
        };
        lines.push(Line::from(vec![
            Span::raw(format!("  Step {} {} — ", i + 1, step.name)),
            Span::styled(result, style),
        ]));
        for c in run.criteria.iter().filter(|c| c.step == i) {
            let (mark, style) = match c.outcome {
                Some(CriterionOutcome::Passed) => ("✓", theme.ok()),
                Some(CriterionOutcome::Failed) => ("✗", theme.bad()),
                _ => ("·", theme.warn()),
            };
            let evidence = c.evidence();
            let mut spans = vec![
                Span::styled(format!("    {mark} {:<11} ", c.result()), style),
                Span::raw(c.label.clone()),
            ];
            if c.human {
                spans.push(Span::styled(" (human check)", theme.dim()));
            }
            if !evidence.is_empty() {
                spans.push(Span::styled(format!("  {evidence}"), theme.dim()));
            }
            lines.push(Line::from(spans));
        }
    }
    lines
}

/// The notes grouped by kind (the run's, then those saved after it, marked while not journaled).
pub fn note_lines(app: &App, theme: &Theme) -> Vec<Line<'static>> {
    let run = &app.run;
    let start = run.start.unwrap_or_default();
    let mut lines = Vec::new();
    for (kind, notes) in run.notes_by_kind() {
        let after: Vec<_> = app.after_notes.iter().filter(|n| n.kind == kind).collect();
        let n = notes.len() + after.len();
        lines.push(Line::styled(
            format!("{} ({n})", title(kind)),
            if n == 0 { theme.dim() } else { theme.title() },
        ));
        for n in notes {
            let marker = if app.late_notes.iter().any(|l| l.edits == Some(n.seq)) {
                "  (edited: not journaled yet)"
            } else if n.edits.is_empty() {
                ""
            } else {
                "  (edited)"
            };
            lines.push(note(
                theme,
                t_plus(start, n.ts),
                &n.role,
                &n.text,
                action_tail(kind, &n.owner, &n.due),
                marker,
            ));
        }
        for n in after {
            let pending = if app.late_notes.contains(n) {
                "  (after the run: not journaled yet)"
            } else {
                "  (after the run)"
            };
            lines.push(note(
                theme,
                "after".into(),
                &n.role,
                &n.text,
                action_tail(kind, &n.owner, &n.due),
                pending,
            ));
        }
    }
    lines
}

fn title(kind: NoteKind) -> &'static str {
    match kind {
        NoteKind::Observation => "Observations",
        NoteKind::ActionItem => "Action items",
        NoteKind::WentWell => "What went well",
        NoteKind::WentWrong => "What went wrong",
        NoteKind::Question => "Questions",
        NoteKind::RunbookGap => "Runbook gaps",
    }
}

fn action_tail(kind: NoteKind, owner: &Option<String>, due: &Option<String>) -> String {
    if kind != NoteKind::ActionItem {
        return String::new();
    }
    format!(
        "  owner {} · due {}",
        owner.as_deref().unwrap_or("—"),
        due.as_deref().unwrap_or("—")
    )
}

fn note(
    theme: &Theme,
    when: String,
    role: &str,
    text: &str,
    tail: String,
    marker: &'static str,
) -> Line<'static> {
    Line::from(vec![
        Span::styled(format!("  {when} [{role}] "), theme.dim()),
        Span::raw(text.to_string()),
        Span::raw(tail),
        Span::styled(marker, theme.warn()),
    ])
}

/// Where the last export went (or why it failed), else `hint`: the last line of the Debrief and
/// Review screens.
pub fn export_line(app: &App, theme: &Theme, hint: &str) -> Line<'static> {
    match &app.export {
        Some(Ok(p)) => Line::styled(format!("Debrief written to {}", p.display()), theme.ok()),
        Some(Err(e)) => Line::styled(format!("Export failed: {e}"), theme.bad()),
        None => Line::styled(hint.to_string(), theme.dim()),
    }
}
