//! Preflight: the IC's checklist and, once started, the engine's live checks.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::theme::Theme;
use crate::tui::app::App;
use crate::tui::preflight::ItemKind;

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let live_h = (app.run.checks.len() as u16 + 2).clamp(4, area.height / 2);
    let [head, list_area, live_area] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(live_h),
    ])
    .areas(area);
    let title = app
        .scenario
        .as_ref()
        .map(|s| s.title.as_str())
        .unwrap_or("");
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(" Preflight ", theme.selected()),
            Span::styled(format!(" {title}"), theme.title()),
        ])),
        head,
    );
    let mut lines = Vec::new();
    if let Some(c) = &app.checklist {
        for (i, item) in c.items.iter().enumerate() {
            let (mark, style) = match item.kind {
                ItemKind::Auto { ok: true } => ("[✓]", theme.ok()),
                ItemKind::Auto { ok: false } => ("[✗]", theme.bad()),
                ItemKind::Manual { ticked: true } => ("[x]", theme.ok()),
                ItemKind::Manual { ticked: false } => ("[ ]", theme.text()),
            };
            let label_style = if i == c.selected {
                theme.selected()
            } else {
                theme.text()
            };
            let mut spans = vec![
                Span::styled(format!("{mark} "), style),
                Span::styled(item.label.clone(), label_style),
            ];
            if !item.detail.is_empty() {
                spans.push(Span::styled(format!(" — {}", item.detail), theme.dim()));
            }
            lines.push(Line::from(spans));
        }
        let failing = c.failing();
        lines.push(Line::raw(""));
        if failing.is_empty() {
            lines.push(Line::styled("All clear. s: start the run.", theme.ok()));
        } else {
            lines.push(Line::styled(
                format!(
                    "{} item(s) not ok: s asks for an override reason (journaled).",
                    failing.len()
                ),
                theme.warn(),
            ));
        }
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(Block::bordered().title(" Checklist ")),
        list_area,
    );
    let live: Vec<Line> = if app.run.checks.is_empty() {
        let msg = if app.started {
            "running live checks…"
        } else {
            "live checks (hosts reachable, metrics return data) run when you start"
        };
        vec![Line::styled(msg, theme.dim())]
    } else {
        app.run
            .checks
            .iter()
            .map(|c| {
                let (mark, style) = if c.ok {
                    ("ok", theme.ok())
                } else {
                    ("FAILED", theme.bad())
                };
                Line::from(vec![
                    Span::styled(format!("{mark:>6} "), style),
                    Span::raw(format!("{}: {}", c.name, c.detail)),
                ])
            })
            .collect()
    };
    let mut live = live;
    if app.run.preflight_held.is_some() {
        live.push(Line::styled(
            "Live checks failed; nothing was touched. s: start anyway with a reason (journaled) · X: abort",
            theme.warn(),
        ));
    }
    frame.render_widget(
        Paragraph::new(live).block(Block::bordered().title(" Live checks ")),
        live_area,
    );
}
