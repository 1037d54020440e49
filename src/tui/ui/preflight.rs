//! Preflight: the IC's checklist and, once started, the engine's live checks.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};

use super::theme::Theme;
use crate::tui::app::App;
use crate::tui::preflight::ItemKind;

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: &Theme) {
    let start_error = start_error_lines(app, theme);
    let live_h = match &start_error {
        Some(lines) => {
            // Rows once wrapped, so the box grows to hold them.
            let w = area.width.saturating_sub(2).max(1) as usize;
            let rows: usize = lines.iter().map(|l| l.width().max(1).div_ceil(w)).sum();
            (rows as u16 + 2).clamp(4, area.height * 3 / 5)
        }
        None => (app.run.checks.len() as u16 + 2).clamp(4, area.height / 2),
    };
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
    if let Some(lines) = start_error {
        frame.render_widget(
            Paragraph::new(lines).wrap(Wrap { trim: false }).block(
                Block::bordered()
                    .title(" Live checks: NOT RUN (the run could not start) ")
                    .border_style(theme.bad()),
            ),
            live_area,
        );
        return;
    }
    let live: Vec<Line> = if app.run.checks.is_empty() {
        let msg = match &app.connecting {
            Some(c) if app.started => c.to_string(),
            _ if app.started => "running live checks…".to_string(),
            _ => {
                "live checks (hosts reachable, metrics return data) run when you start".to_string()
            }
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
    let title = match (app.started, live_check_total(app)) {
        (true, Some(total)) if total > 0 => {
            let done = app.run.checks.len();
            let failed = app.run.checks.iter().filter(|c| !c.ok).count();
            if failed > 0 {
                format!(" Live checks {done}/{total} ({failed} failed) ")
            } else {
                format!(" Live checks {done}/{total} ")
            }
        }
        _ => " Live checks ".to_string(),
    };
    frame.render_widget(
        Paragraph::new(live).block(Block::bordered().title(title)),
        live_area,
    );
}

/// How many live checks a start runs: one per host of every target (a local target is one host)
/// and one per metric, as the engine's preflight does.
fn live_check_total(app: &App) -> Option<usize> {
    use crate::scenario::Transport;
    let s = app.scenario.as_ref()?;
    let hosts: usize = s
        .targets
        .values()
        .map(|t| match &t.transport {
            Transport::Ssh { hosts, .. } => hosts.len(),
            _ => 1,
        })
        .sum();
    Some(hosts + s.metrics.len())
}

/// A start that failed before any live check ran: why, in full, and the exact commands to run.
/// `None` when the last start did not fail (or a run is under way).
fn start_error_lines(app: &App, theme: &Theme) -> Option<Vec<Line<'static>>> {
    let why = app.start_error.as_ref().filter(|_| !app.started)?;
    let (targets, metrics) = app
        .scenario
        .as_ref()
        .map(|s| (s.targets.len(), s.metrics.len()))
        .unwrap_or_default();
    let mut lines = vec![Line::styled(
        format!(
            "FAILED: the run did not start, so the live checks ({targets} target(s), {metrics} metric(s)) were not run"
        ),
        theme.bad(),
    )];
    for l in why.lines().map(str::trim).filter(|l| !l.is_empty()) {
        lines.push(Line::raw(l.to_string()));
    }
    let commands = crate::tui::app::fix_commands(why);
    if !commands.is_empty() {
        lines.push(Line::styled("To fix it, run in a shell:", theme.warn()));
        for c in commands {
            lines.push(Line::styled(format!("  {c}"), theme.title()));
        }
    }
    lines.push(Line::styled("then s: try again", theme.dim()));
    Some(lines)
}
