//! Things drawn over a screen: the help, the quit confirmation, the runbook pane, the text field.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::theme::Theme;
use crate::tui::app::{App, Field, Overlay};
use crate::tui::keys::BINDINGS;

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let [v] = Layout::vertical([Constraint::Length(h.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [r] = Layout::horizontal([Constraint::Length(w.min(area.width))])
        .flex(Flex::Center)
        .areas(v);
    r
}

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    match app.overlay {
        Overlay::None => {}
        Overlay::Help => help(frame, area, app, theme),
        Overlay::ConfirmQuit => {
            let r = centered(area, 60, 6);
            frame.render_widget(Clear, r);
            let text = vec![
                Line::styled("A run is in progress.", theme.title()),
                Line::raw("y: halt, roll every fault back, then quit"),
                Line::raw("n / Esc: stay"),
            ];
            frame.render_widget(
                Paragraph::new(text)
                    .wrap(Wrap { trim: true })
                    .block(Block::bordered().title(" Quit? ").border_style(theme.bad())),
                r,
            );
        }
        Overlay::Runbook => {
            let r = centered(
                area,
                area.width.saturating_sub(8).max(20),
                area.height.saturating_sub(4).max(5),
            );
            frame.render_widget(Clear, r);
            let (text, style) = match &app.runbook {
                Some(Ok(t)) => (t.as_str(), theme.text()),
                Some(Err(e)) => (e.as_str(), theme.bad()),
                None => ("loading…", theme.dim()),
            };
            frame.render_widget(
                Paragraph::new(text)
                    .style(style)
                    .wrap(Wrap { trim: false })
                    .scroll((app.scroll.min(u16::MAX as usize) as u16, 0))
                    .block(Block::bordered().title(" Runbook (↑↓ scroll · Esc close) ")),
                r,
            );
        }
    }
    if let Some(f) = &app.field {
        let r = Rect {
            x: area.x,
            y: area.bottom().saturating_sub(3),
            width: area.width,
            height: 3.min(area.height),
        };
        frame.render_widget(Clear, r);
        let title = match f.field {
            Field::Note { action: false } => format!(
                " Note as {} (Tab role · Enter save · Esc cancel) ",
                app.role.name()
            ),
            Field::Note { action: true } => format!(
                " Action item as {} (Enter save · Esc cancel) ",
                app.role.name()
            ),
            Field::OverrideReason => {
                " Unchecked items: type why you start anyway (journaled) ".into()
            }
            Field::LiveOverride => {
                " Live checks FAILED: type why you start anyway (journaled) · Esc wait · Ctrl-X abort "
                    .into()
            }
        };
        let inner_w = r.width.saturating_sub(2) as usize;
        let scroll = f.input.visual_scroll(inner_w.saturating_sub(1));
        frame.render_widget(
            Paragraph::new(f.input.value())
                .scroll((0, scroll as u16))
                .block(Block::bordered().title(title).border_style(theme.warn())),
            r,
        );
        let x = (f.input.visual_cursor().saturating_sub(scroll)) as u16;
        frame.set_cursor_position((r.x + 1 + x.min(r.width.saturating_sub(3)), r.y + 1));
    }
}

fn help(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let r = centered(area, 76, area.height.saturating_sub(2).max(5));
    frame.render_widget(Clear, r);
    let lines: Vec<Line> = BINDINGS
        .iter()
        .filter(|b| !b.keys.is_empty())
        .map(|b| {
            Line::from(vec![
                Span::styled(format!("{:>14}  ", b.keys), theme.title()),
                Span::raw(b.help),
            ])
        })
        .collect();
    frame.render_widget(
        Paragraph::new(lines)
            .scroll((app.scroll.min(u16::MAX as usize) as u16, 0))
            .block(Block::bordered().title(" Keys (↑↓ scroll · ? or Esc close) ")),
        r,
    );
}
