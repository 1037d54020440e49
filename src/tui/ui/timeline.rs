//! The timeline: the latest events, newest at the bottom, filtered by source (`/`); with the focus
//! a cursor picks a line for the detail view (`Enter`).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::theme::Theme;
use crate::fmt::t_plus;
use crate::tui::app::{App, Filter, Pane};

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let run = &app.run;
    let focused = app.focus == Pane::Timeline;
    let rows = area.height.saturating_sub(2) as usize;
    let shown = app.timeline_shown();
    let total = shown.len();
    // The cursor, in lines up from the newest; the view keeps it in sight.
    let cursor = app.timeline_scroll.min(total.saturating_sub(1));
    let at = total.saturating_sub(1 + cursor);
    let (start, end) = if cursor < rows {
        (total.saturating_sub(rows), total)
    } else {
        (at, (at + rows).min(total))
    };
    let origin = run.start.unwrap_or_default();
    let lines: Vec<Line> = shown[start..end]
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let (ts, src, text) = (&e.ts, &e.src, &e.text);
            let style = if text.contains("FAILED")
                || text.contains("UNKNOWN")
                || src.eq_ignore_ascii_case("halt")
            {
                theme.bad()
            } else {
                theme.text()
            };
            let line = Line::from(vec![
                Span::styled(format!("{} ", t_plus(origin, *ts)), theme.dim()),
                Span::styled(format!("{src:<10} "), theme.dim()),
                Span::styled(text.clone(), style),
            ]);
            if focused && start + i == at {
                line.style(theme.selected())
            } else {
                line
            }
        })
        .collect();
    let mut title = " Timeline ".to_string();
    if app.timeline_filter != Filter::All {
        title = format!(" Timeline: {} only ", app.timeline_filter.name());
    }
    if cursor > 0 {
        title.push_str(&format!("(↑{cursor}, End follows) "));
    }
    let hint = if focused && title.chars().count() + 30 <= area.width as usize {
        " Enter details · / filter "
    } else {
        ""
    };
    let mut block = super::pane_block(app, Pane::Timeline, theme).title(title);
    if !hint.is_empty() {
        block = block.title_top(Line::styled(hint, theme.dim()).right_aligned());
    }
    let body = if lines.is_empty() && total == 0 && app.timeline_filter != Filter::All {
        Paragraph::new(Line::styled(
            format!(
                "no {} lines yet (/ shows the next filter)",
                app.timeline_filter.name()
            ),
            theme.dim(),
        ))
    } else {
        Paragraph::new(lines)
    };
    frame.render_widget(body.block(block), area);
}
