//! Debrief: verdict, key times, notes and action items, and where the Markdown went.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::theme::Theme;
use crate::event::{MilestoneKind, Verdict};
use crate::report::t_plus;
use crate::tui::app::App;

fn dur(
    a: Option<chrono::DateTime<chrono::Utc>>,
    b: Option<chrono::DateTime<chrono::Utc>>,
) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b >= a => {
            format!("{:.1} s", (b - a).num_milliseconds() as f64 / 1000.0)
        }
        _ => "—".into(),
    }
}

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let run = &app.run;
    let start = run.start.unwrap_or_default();
    let mut lines = Vec::new();
    match &run.verdict {
        Some((v, reason)) => {
            let style = if *v == Verdict::Held {
                theme.ok()
            } else {
                theme.bad()
            };
            lines.push(Line::styled(format!(" {} ", v.label()), style));
            lines.push(Line::raw(reason.clone()));
        }
        None => lines.push(Line::styled(
            "no verdict (run still going or journal cut short)",
            theme.warn(),
        )),
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled("Key times", theme.title()));
    let first_fault = run
        .faults
        .iter()
        .filter_map(|f| f.injected_at)
        .fold(None, |m: Option<f64>, t| Some(m.map_or(t, |m| m.min(t))))
        .map(|t| crate::report::plus_ms(start, (t.max(0.0) * 1000.0) as u64));
    let detected = run.first_milestone(MilestoneKind::Detected);
    let mitigated = run.first_milestone(MilestoneKind::Mitigated);
    lines.push(Line::raw(format!(
        "  time to detect    {}",
        dur(first_fault, detected)
    )));
    lines.push(Line::raw(format!(
        "  time to mitigate  {}",
        dur(first_fault, mitigated)
    )));
    let halt = match run.halt.as_ref().and_then(|h| h.finished) {
        Some((ok, Some(ms))) => format!(
            "{}{}",
            super::millis(ms),
            if ok { "" } else { " (NOT all verified)" }
        ),
        _ if run.halt.is_some() => "rollback not finished".into(),
        _ => "no halt".into(),
    };
    lines.push(Line::raw(format!("  halt → verified   {halt}")));
    let failed: Vec<_> = run.faults.iter().filter(|f| f.manual.is_some()).collect();
    for f in failed {
        lines.push(Line::styled(
            format!(
                "  MANUAL: {}@{}: {}",
                f.fault,
                f.host,
                f.manual.as_deref().unwrap_or("")
            ),
            theme.bad(),
        ));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        format!("Notes ({})", run.notes.iter().filter(|n| !n.action).count()),
        theme.title(),
    ));
    for n in run.notes.iter().filter(|n| !n.action) {
        lines.push(Line::from(vec![
            Span::styled(
                format!("  {} [{}] ", t_plus(start, n.ts), n.role),
                theme.dim(),
            ),
            Span::raw(n.text.clone()),
        ]));
    }
    lines.push(Line::raw(""));
    let actions: Vec<_> = run.notes.iter().filter(|n| n.action).collect();
    lines.push(Line::styled(
        format!("Action items ({})", actions.len()),
        theme.title(),
    ));
    for n in actions {
        lines.push(Line::raw(format!(
            "  ☐ {} ({}, {})",
            n.text,
            n.role,
            t_plus(start, n.ts)
        )));
    }
    lines.push(Line::raw(""));
    match &app.export {
        Some(Ok(p)) => lines.push(Line::styled(
            format!("Debrief written to {}", p.display()),
            theme.ok(),
        )),
        Some(Err(e)) => lines.push(Line::styled(format!("Export failed: {e}"), theme.bad())),
        None => lines.push(Line::styled("e: export the Markdown debrief", theme.dim())),
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((app.scroll.min(u16::MAX as usize) as u16, 0))
            .block(Block::bordered().title(" Debrief ")),
        area,
    );
}
