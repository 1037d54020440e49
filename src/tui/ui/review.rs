//! Review (the hot wash, `R` after the run): the verdict, step results with each criterion's
//! evidence, the human checks never ticked, the notes by kind; `w` writes the debrief.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::results;
use super::theme::Theme;
use crate::event::CriterionOutcome;
use crate::tui::app::App;

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let run = &app.run;
    let mut lines = results::verdict_lines(app, theme);
    lines.push(Line::raw(""));
    lines.extend(results::step_lines(app, theme));
    lines.push(Line::raw(""));
    let unchecked: Vec<_> = run.unchecked().collect();
    lines.push(Line::styled(
        format!("Human checks not ticked ({})", unchecked.len()),
        theme.title(),
    ));
    if unchecked.is_empty() {
        lines.push(Line::styled("  none", theme.dim()));
    }
    for c in &unchecked {
        let state = match (c.outcome, app.checks_open()) {
            (_, true) => "open: c ticks it",
            (Some(CriterionOutcome::NotChecked), _) => {
                "not checked: the run has ended, it can no longer be ticked"
            }
            _ => "not checked: it can no longer be ticked",
        };
        lines.push(Line::raw(format!(
            "  Step {}: {}{} — {state}",
            c.step + 1,
            c.label,
            c.check_by
                .as_deref()
                .map(|b| format!(" (by {b})"))
                .unwrap_or_default()
        )));
    }
    lines.push(Line::raw(""));
    lines.extend(results::note_lines(app, theme));
    lines.push(Line::raw(""));
    let hint = if app.replay.is_some() {
        "w: write the debrief of the whole run"
    } else {
        "n note (Tab: kind) · a action item (@owner due:YYYY-MM-DD) · E edit a note · w write the debrief"
    };
    lines.push(results::export_line(app, theme, hint));
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((app.scroll.min(u16::MAX as usize) as u16, 0))
            .block(Block::bordered().title(" Review (hot wash) ")),
        area,
    );
}
