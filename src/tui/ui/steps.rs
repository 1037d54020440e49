//! The steps list with the current step highlighted, its prompt, and its runbook link.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::theme::Theme;
use crate::fmt;
use crate::tui::app::App;

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let block = Block::bordered().title(" Steps ");
    let Some(s) = &app.scenario else {
        frame.render_widget(Paragraph::new("no scenario").block(block), area);
        return;
    };
    let current = app.run.step.as_ref();
    let mut lines: Vec<Line> = s
        .steps
        .iter()
        .enumerate()
        .map(|(i, st)| {
            let (mark, style) = match current {
                Some(c) if c.index == i && !c.ended && app.run.halt.is_some() => ("■", theme.bad()),
                Some(c) if c.index == i && !c.ended => ("▶", theme.selected()),
                Some(c) if i < c.index || (c.index == i && c.ended) => ("✓", theme.dim()),
                _ => (" ", theme.text()),
            };
            let faults = if st.faults.is_empty() { "" } else { " [f]" };
            Line::from(Span::styled(
                format!(
                    "{mark} {} {}{faults} ({})",
                    i + 1,
                    st.name,
                    fmt::duration(st.duration)
                ),
                style,
            ))
        })
        .collect();
    if let Some(c) = current {
        lines.push(Line::raw(""));
        if let Some(p) = &c.prompt {
            lines.push(Line::styled(format!("» {p}"), theme.title()));
        }
        let book = s
            .steps
            .get(c.index)
            .and_then(|st| st.runbook.as_ref())
            .or(s.runbook.as_ref());
        if let Some(rb) = book {
            lines.push(Line::styled(format!("r: runbook {}", rb.link), theme.dim()));
        }
    } else if let Some(rb) = &s.runbook {
        lines.push(Line::styled(format!("r: runbook {}", rb.link), theme.dim()));
    }
    frame.render_widget(
        Paragraph::new(lines).block(block).wrap(Wrap { trim: true }),
        area,
    );
}
