//! The scenario picker: the list on the left, the chosen scenario's summary (or its errors) right.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::theme::Theme;
use crate::fmt;
use crate::scenario::Transport;
use crate::tui::app::App;

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let [list_area, detail_area] =
        Layout::horizontal([Constraint::Percentage(35), Constraint::Percentage(65)]).areas(area);
    let picker = &app.picker;
    let rows = list_area.height.saturating_sub(2) as usize;
    let first = picker.selected.saturating_sub(rows.saturating_sub(1));
    let lines: Vec<Line> = picker
        .entries
        .iter()
        .enumerate()
        .skip(first)
        .take(rows)
        .map(|(i, e)| {
            let mark = if e.template { " (template)" } else { "" };
            let name = match &e.scenario {
                Ok(s) => format!("  {}{mark}", s.title),
                Err(_) => format!("✗ {}{mark}", e.path.display()),
            };
            let style = if i == picker.selected {
                theme.selected()
            } else if e.scenario.is_err() {
                theme.bad()
            } else {
                theme.text()
            };
            Line::styled(name, style)
        })
        .collect();
    let title = format!(" Scenarios ({}) ", picker.entries.len());
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(title)),
        list_area,
    );

    let block = Block::bordered().title(" Scenario ");
    let Some(entry) = picker.current() else {
        frame.render_widget(
            Paragraph::new("No scenario found under scenarios/. Pass a file: gameday run FILE")
                .block(block),
            detail_area,
        );
        return;
    };
    let mut lines = vec![Line::styled(entry.path.display().to_string(), theme.dim())];
    match &entry.scenario {
        Err(diags) => {
            lines.push(Line::styled(
                format!("{} problem(s):", diags.len()),
                theme.bad(),
            ));
            lines.extend(diags.iter().map(|d| Line::styled(d.clone(), theme.bad())));
        }
        Ok(s) => {
            let field = |k: &str, v: String| {
                Line::from(vec![
                    Span::styled(format!("{k}: "), theme.title()),
                    Span::raw(v),
                ])
            };
            lines.push(Line::styled(s.title.clone(), theme.title()));
            lines.push(field("Hypothesis", s.hypothesis.clone()));
            lines.push(field(
                "Duration",
                format!(
                    "{} planned, max {}",
                    fmt::duration(s.planned_duration()),
                    fmt::duration(s.max_duration)
                ),
            ));
            let targets: Vec<String> = s
                .targets
                .values()
                .map(|t| match &t.transport {
                    Transport::Local => format!("{} (local)", t.name),
                    Transport::Ssh { hosts, .. } => format!("{} ({} host(s))", t.name, hosts.len()),
                })
                .collect();
            lines.push(field("Targets", targets.join(", ")));
            let faults: Vec<String> = s
                .faults()
                .map(|(i, f)| format!("{} on {} (step {})", f.id, f.target, i + 1))
                .collect();
            lines.push(field(
                "Faults",
                if faults.is_empty() {
                    "none".into()
                } else {
                    faults.join(", ")
                },
            ));
            lines.push(field(
                "Steps",
                s.steps
                    .iter()
                    .map(|st| st.name.clone())
                    .collect::<Vec<_>>()
                    .join(" → "),
            ));
            if let Some(rb) = &s.runbook {
                lines.push(Line::styled(
                    format!("r: preview runbook {}", rb.link),
                    theme.dim(),
                ));
            }
        }
    }
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: true }).block(block),
        detail_area,
    );
}
