//! Debrief: verdict, summary, key times, step results, time to recover, notes by kind, and where
//! the Markdown went: the same fold, and the same words, as `debrief.md`.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::results;
use super::theme::Theme;
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
    lines.extend(results::verdict_lines(app, theme));
    lines.push(Line::raw(""));
    // The executive summary's lines, from the same fold and words as debrief.md.
    lines.push(Line::styled("Summary", theme.title()));
    for l in crate::report::summary_lines(run, false) {
        lines.push(Line::raw(format!("  {l}")));
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
    lines.extend(results::step_lines(app, theme));
    lines.push(Line::raw(""));
    lines.push(Line::styled("Time to recover", theme.title()));
    let recoveries = crate::report::recovery_lines(run, start, false);
    if recoveries.is_empty() {
        lines.push(Line::styled(
            "  nothing to measure: no rollback, or no metric has a steady-state rule",
            theme.dim(),
        ));
    }
    for l in recoveries {
        lines.push(Line::raw(format!("  {l}")));
    }
    lines.push(Line::raw(""));
    lines.extend(results::note_lines(app, theme));
    lines.push(Line::raw(""));
    lines.push(results::export_line(
        app,
        theme,
        "e: export the Markdown debrief",
    ));
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((app.scroll.min(u16::MAX as usize) as u16, 0))
            .block(Block::bordered().title(" Debrief ")),
        area,
    );
}
