//! Debrief: verdict, key times, notes and action items, and where the Markdown went.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::theme::Theme;
use crate::event::Verdict;
use crate::fmt::t_plus;
use crate::tui::app::App;

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let run = &app.run;
    let start = run.start.unwrap_or_default();
    let mut lines = Vec::new();
    if let Some(r) = &app.replay
        && r.at < r.bounds().1
    {
        lines.push(Line::styled(
            format!(
                "Replay: the run as of {} (the slider); e writes the whole run's debrief",
                t_plus(start, r.at)
            ),
            theme.warn(),
        ));
        lines.push(Line::raw(""));
    }
    match &run.verdict {
        Some(v) => {
            let (v, reason) = (&v.verdict, &v.reason);
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
    // The same rows, in the same words, as debrief.md: both come from the fold's key times.
    for (name, value) in run.key_times.rows(start) {
        lines.push(Line::raw(format!("  {name:<24}{value}")));
    }
    let failed: Vec<_> = run.faults.iter().filter(|f| f.manual.is_some()).collect();
    for f in failed {
        lines.push(Line::styled(
            format!(
                "  MANUAL: {}@{}: {}",
                f.fault,
                f.host_detail(),
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
