//! The last line: role, status or replay slider, key hints.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::secs_since;
use super::theme::Theme;
use crate::fmt::clock;
use crate::tui::app::{App, Screen};

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let mut spans = vec![Span::styled(
        format!(" [{}] ", app.role.name()),
        theme.selected(),
    )];
    if let Some(r) = &app.replay {
        let (first, last) = r.bounds();
        let total = secs_since(first, last).max(1);
        let at = secs_since(first, r.at);
        let w = (area.width as i64 / 3).max(10);
        let pos = (at * w / total).clamp(0, w - 1);
        let bar: String = (0..w)
            .map(|i| {
                if i == pos {
                    '●'
                } else if i < pos {
                    '━'
                } else {
                    '─'
                }
            })
            .collect();
        spans.push(Span::raw(format!(
            " T+{} {bar} T+{} ",
            clock(at),
            clock(total)
        )));
        spans.push(Span::styled("←/→ seek  [ ] ends  ", theme.dim()));
    }
    if let Some(s) = &app.status {
        spans.push(Span::styled(format!("{s}  "), theme.warn()));
    } else if app.quit_after_end && !app.run.ended {
        // Not a flash: it holds until the run has ended.
        spans.push(Span::styled(
            "leaving once every fault is rolled back  ",
            theme.warn(),
        ));
    } else if app.run.lagged > 0 {
        spans.push(Span::styled(
            format!("{} event(s) missed (in the journal)  ", app.run.lagged),
            theme.warn(),
        ));
    }
    let hint = match app.screen {
        Screen::Picker => "↑↓ choose · Enter preflight · r runbook · ? keys · q quit",
        Screen::Preflight => "↑↓ · Space tick · s start · Esc back · ? keys · q quit",
        Screen::Run if app.replay.is_some() => {
            "D debrief · R review (as of the slider) · Enter details · ? keys"
        }
        Screen::Run if app.run.ended => {
            "R review · D debrief · n note · Enter details · ? keys · q quit"
        }
        Screen::Run => "X HALT · n note · c checks · d/m milestones · u undo · > next · ? keys",
        Screen::Debrief if app.replay.is_some() => "as of the slider · e export · D back · q quit",
        Screen::Debrief => "e export · R review · D back · ? keys · q quit",
        Screen::Review if app.replay.is_some() => "as of the slider · w write · R back · q quit",
        Screen::Review => "n note · a action · w write debrief · D debrief · R back · ? keys",
    };
    spans.push(Span::styled(hint, theme.dim()));
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
