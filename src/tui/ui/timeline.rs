//! The timeline: the latest events, newest at the bottom, scrollable back.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};

use super::theme::Theme;
use crate::fmt::t_plus;
use crate::tui::app::App;

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let run = &app.run;
    let rows = area.height.saturating_sub(2) as usize;
    let total = run.timeline.len();
    let scroll = app.timeline_scroll.min(total.saturating_sub(rows));
    let end = total - scroll;
    let start = end.saturating_sub(rows);
    let origin = run.start.unwrap_or_default();
    let lines: Vec<Line> = run
        .timeline
        .range(start..end)
        .map(|e| {
            let (ts, src, text) = (&e.ts, &e.src, &e.text);
            let style = if text.contains("FAILED") || text.contains("UNKNOWN") || src == "halt" {
                theme.bad()
            } else {
                theme.text()
            };
            Line::from(vec![
                Span::styled(format!("{} ", t_plus(origin, *ts)), theme.dim()),
                Span::styled(format!("{src:<10} "), theme.dim()),
                Span::styled(text.clone(), style),
            ])
        })
        .collect();
    let title = if scroll > 0 {
        format!(" Timeline (↑{scroll}, End follows) ")
    } else {
        " Timeline ".to_string()
    };
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(title)),
        area,
    );
}
